#!/bin/sh
# fuzz/run.sh BUILD SECONDS RUNS NAME... — runs each harness BUILD/fuzz_NAME on its corpus
# BUILD/corpus/NAME, for RUNS executions when RUNS is given, else for SECONDS seconds, one
# after the other (one process at a time), and prints one line per harness:
#   fuzz_npy: 1000000 executions in 27 s (38461/s), 497 edges covered, corpus 116 inputs, peak RSS 283 MB, 0 crashes
# A crash (or sanitizer report, unexpected exception, allocation over FUZZ_LIMIT_MB MB,
# input slower than 10 s) stops that harness; its input is kept as BUILD/crashes/NAME-*, the
# log's end is shown, and the script exits 1 after running the rest. `make fuzz` calls this.
build=$1 secs=$2 runs=$3
shift 3
limit=${FUZZ_LIMIT_MB:-512}
mkdir -p "$build/crashes" "$build/logs"
failed=0
for name in "$@"; do
  bin=$build/fuzz_$name corpus=$build/corpus/$name log=$build/logs/fuzz_$name.log
  if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
    echo "fuzz_$name: missing $bin or $corpus (run make fuzz-build fuzz-corpus)"; failed=1; continue
  fi
  if [ -n "$runs" ]; then budget="-runs=$runs"; else budget="-max_total_time=$secs"; fi
  start=$(date +%s)
  "$bin" "$budget" -rss_limit_mb="$limit" -malloc_limit_mb="$limit" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$name-" "$corpus" >"$log" 2>&1
  rc=$?
  secs_used=$(( $(date +%s) - start ))
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  execs=$(stat number_of_executed_units) rate=$(stat average_exec_per_sec) rss=$(stat peak_rss_mb)
  # libFuzzer's last status line: "#N DONE cov: EDGES ft: FEATURES corp: INPUTS/SIZE ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p') corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  crashes=0
  [ "$rc" = 0 ] || crashes=1
  echo "fuzz_$name: ${execs:-?} executions in $secs_used s (${rate:-?}/s), ${cov:-?} edges covered," \
       "corpus ${corp:-?} inputs, peak RSS ${rss:-?} MB, $crashes crashes"
  if [ "$rc" != 0 ]; then
    failed=1
    echo "--- fuzz_$name exited $rc; end of $log:"
    tail -40 "$log"
    grep -h 'Test unit written to\|artifact_prefix' "$log" | tail -2
  fi
done
exit $failed

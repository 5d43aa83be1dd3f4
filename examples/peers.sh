#!/bin/sh
# examples/peers.sh — our sgemm beside OpenBLAS's AVX2 kernel, measured in the same run.
#
#   sh examples/peers.sh [rounds]      (default 3 rounds; needs: apt-get install -y libopenblas-dev)
#   CLOCK=wall sh examples/peers.sh    (default CLOCK=cpu: both sides timed in process CPU time)
#
# Builds the peers' GEMM harness (../shared/peers/src/gemm_bench.cpp, read-only there) into
# build/peers/, then alternates, `rounds` times: our bench (sgemm rows only, 1 thread) and
# OpenBLAS on the same shapes, both pinned to core 0 with taskset, OpenBLAS forced to its AVX2
# (Haswell) kernel and 1 thread. Alternating rounds spread the noise of a shared machine over
# both sides; the summary prints, per shape, the median over rounds of each and their ratio.
# OpenBLAS is a yardstick only: nothing of it is linked into the engine.
# CLOCK=cpu (the default) times both sides in process CPU time (std::clock) instead of wall
# time: on a machine shared with other jobs that leaves out the time either side sat
# descheduled. The peers' harness is copied into build/peers and its clock switched the same
# way (one sed on its now_s()); both are single-threaded, so CPU time equals busy time.
# Book: book/02-kernels.md.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
CLOCK=${CLOCK:-cpu}
PEERS_SRC=${PEERS_SRC:-../shared/peers/src}
OUT=build/peers
mkdir -p "$OUT"
[ -f "$PEERS_SRC/gemm_bench.cpp" ] || { echo "peers.sh: $PEERS_SRC/gemm_bench.cpp not found (set PEERS_SRC)"; exit 1; }
[ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || {
  echo "peers.sh: OpenBLAS headers missing: apt-get install -y libopenblas-dev"; exit 1; }
cp "$PEERS_SRC/gemm_bench.cpp" "$PEERS_SRC/common.h" "$OUT/"
if [ "$CLOCK" = cpu ]; then  # now_s() → process CPU seconds
  sed -i 's|return duration<double>(steady_clock::now().time_since_epoch()).count();|return (double)std::clock() / CLOCKS_PER_SEC;|' "$OUT/common.h"
  grep -q 'std::clock()' "$OUT/common.h" || { echo "peers.sh: could not switch the peers' clock"; exit 1; }
  sed -i 's|#include <chrono>|#include <chrono>\n#include <ctime>|' "$OUT/common.h"
fi
g++ -O2 -march=native -std=c++17 -w -DUSE_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread \
    -o "$OUT/gemm_openblas_$CLOCK" "$OUT/gemm_bench.cpp" -lopenblas
make -s build/examples/bench
: > "$OUT/ours.txt"
: > "$OUT/openblas.txt"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "== round $r of $ROUNDS: ours, then OpenBLAS (taskset -c 0, 1 thread) =="
  taskset -c 0 build/examples/bench --threads 1 --clock "$CLOCK" --filter sgemm --skip-scalar --json "$OUT/ours_$r.json" > /dev/null
  # one line per row: shape (MxKxN + transposes) and the AVX2 GFLOP/s, from the JSON
  tr '{' '\n' < "$OUT/ours_$r.json" | grep '"threads": 1' |
    sed -n 's/.*"shape": "\([0-9x]*\) NN".*"avx2": \([0-9.]*\).*/\1 \2/p' >> "$OUT/ours.txt"
  OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 taskset -c 0 "$OUT/gemm_openblas_$CLOCK" openblas all |
    awk '$1 == "openblas" { print $3 "x" $4 "x" $5, $6 }' >> "$OUT/openblas.txt"
  r=$((r + 1))
done
# Our shape string is MxKxN (K in the middle), as the peers' harness prints it.
echo
echo "sgemm, 1 thread, AVX2: ours vs OpenBLAS (Haswell kernel), median of $ROUNDS alternating rounds, clock $CLOCK"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-16s %10s %10s %8s\n" "MxKxN" "ours" "OpenBLAS" "ratio"
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ");
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2;
  }
  FNR == NR { ours[$1] = ours[$1] " " $2; next }
  { peer[$1] = peer[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  END {
    for (i = 1; i <= k; i++) {
      s = order[i];
      if (!(s in ours)) continue;
      o = median(ours[s]); p = median(peer[s]);
      printf "%-16s %10.1f %10.1f %8.3f\n", s, o, p, o / p;
    }
  }' "$OUT/ours.txt" "$OUT/openblas.txt"

#!/bin/sh
# examples/peers.sh — our engine beside the peers, measured in the same run.
#
#   sh examples/peers.sh [rounds]        sgemm vs OpenBLAS (default 3 rounds; apt-get install -y libopenblas-dev)
#   CLOCK=wall sh examples/peers.sh      (default CLOCK=cpu: both sides timed in process CPU time)
#   sh examples/peers.sh epoch [rounds]  one MNIST training epoch and batch-1 latency, ours vs PyTorch
#                                        (apt-get install -y python3-torch); see the end of this file
#   BUILD=build-x sh examples/peers.sh   our side from (and the peers' harness into) another build directory
#   THREADS=1 sh examples/peers.sh epoch PyTorch at 1 thread only (its 2-thread epoch spins its OpenMP
#                                        workers and takes minutes on a loaded machine; default "1 2")
#
# Builds the peers' GEMM harness (../shared/peers/src/gemm_bench.cpp, read-only there) into
# $BUILD/peers/ (BUILD defaults to build, as in the Makefile), then alternates, `rounds` times: our bench (sgemm rows only, 1 thread) and
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
MODE=gemm
if [ "${1:-}" = epoch ] || [ "${1:-}" = gemm ]; then MODE=$1; shift; fi
ROUNDS=${1:-3}
CLOCK=${CLOCK:-cpu}
PEERS_SRC=${PEERS_SRC:-../shared/peers/src}
BUILD=${BUILD:-build}
OUT=$BUILD/peers
mkdir -p "$OUT"

# ---- epoch mode: the engine end to end beside PyTorch 1.13 ----------------------------------
# Alternates, `rounds` times: our `bench --epoch` (AVX2, 1 and 2 threads, one epoch each, then
# batch-1 latency) and PyTorch on the same work. PyTorch runs the peers' own torch_bench.py
# functions (its models and its train_epoch(): randperm, batch 64, SGD lr 0.01 momentum 0.9,
# 30 warm-up steps), imported by a small driver that times each epoch with two clocks, as our
# bench does: wall (time.perf_counter) and process CPU (time.process_time, summed over
# threads). The environment is the peers README's: OMP/OPENBLAS threads = T and
# OPENBLAS_CORETYPE=Haswell (torch's Linear goes through OpenBLAS's AVX2 kernel).
# No taskset here: the 2-thread rows need both cores.
if [ "$MODE" = epoch ]; then
  [ -f "$PEERS_SRC/torch_bench.py" ] || { echo "peers.sh: $PEERS_SRC/torch_bench.py not found (set PEERS_SRC)"; exit 1; }
  /usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "peers.sh: PyTorch missing: apt-get install -y python3-torch"; exit 1; }
  cat > "$OUT/torch_epoch.py" <<'PYEOF'
# Driver for the peers' torch_bench.py: one epoch + batch-1 latency, wall and CPU time.
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import torch, torch_bench as tb
model_name, threads = sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads); torch.set_num_interop_threads(1)
torch.manual_seed(0)
x = torch.rand(60000, 1, 28, 28); y = torch.randint(0, 10, (60000,))
model = tb.MODELS[model_name]()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
tb.train_epoch(model, opt, x[:30 * 64], y[:30 * 64], 64)   # the same warm-up as cmd_train
w0, c0 = time.perf_counter(), time.process_time()
tb.train_epoch(model, opt, x, y, 64)
print(f"torch {model_name} epoch {threads} {time.perf_counter() - w0:.4f} {time.process_time() - c0:.4f}")
if threads == 1:  # batch-1 latency, as cmd_infer: eval, inference_mode, calls of >= 0.2 s, median of 5
    model.eval(); xb = torch.rand(1, 1, 28, 28)
    with torch.inference_mode():
        for _ in range(20): model(xb)
        n = 10
        while True:
            t0 = time.perf_counter()
            for _ in range(n): model(xb)
            if time.perf_counter() - t0 > 0.2: break
            n *= 2
        walls, cpus = [], []
        for _ in range(5):
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n): model(xb)
            walls.append((time.perf_counter() - w0) / n); cpus.append((time.process_time() - c0) / n)
    print(f"torch {model_name} batch1 1 {statistics.median(walls) * 1e6:.2f} {statistics.median(cpus) * 1e6:.2f}")
PYEOF
  # BENCH=path times a saved bench binary (so a rebuild during the run cannot change our side)
  BENCH=${BENCH:-$BUILD/examples/bench}
  [ "$BENCH" = "$BUILD/examples/bench" ] && make -s BUILD="$BUILD" "$BUILD/examples/bench"
  : > "$OUT/epoch.txt"
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    echo "== round $r of $ROUNDS: ours (bench --epoch, AVX2), then PyTorch; load average $(cut -d' ' -f1-3 /proc/loadavg) =="
    "$BENCH" --epoch --runs 1 --scalar-runs 0 --json "$OUT/epoch_ours_$r.json" > /dev/null
    # "model what kernels threads wall cpu" from the JSON; latency rows are in µs, epochs in s
    tr '{' '\n' < "$OUT/epoch_ours_$r.json" | grep '"kernels": "avx2"' |
      sed -n 's/.*"model": "\([a-z0-9]*\)", "what": "\([a-z1 -]*\)".*"threads": \([0-9]\), "wall": "\([0-9.]*\) .*"cpu": "\([0-9.]*\) .*/ours \1 \2 \3 \4 \5/p' |
      sed 's/batch-1 infer/batch1/' >> "$OUT/epoch.txt"
    for m in lenet5 mlp; do
      for t in ${THREADS:-1 2}; do
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t OPENBLAS_CORETYPE=Haswell \
          /usr/bin/python3 "$OUT/torch_epoch.py" "$PEERS_SRC" "$m" "$t" | sed 's/ mlp / lenet300 /' >> "$OUT/epoch.txt"
      done
    done
    r=$((r + 1))
  done
  echo
  echo "end to end, AVX2: ours vs PyTorch 1.13, median of $ROUNDS alternating rounds"
  echo "(epoch: s for 60 000 images, batch 64; batch1: us per call; cpu = process CPU time, summed over threads)"
  echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf "%-9s %-7s %3s %10s %10s %10s %10s %9s %9s\n" model what thr "ours wall" "torch wall" "ours cpu" "torch cpu" \
    "wall ratio" "cpu ratio"
  awk '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ");
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2;
    }
    { k = $2 " " $3 " " $4; w[$1, k] = w[$1, k] " " $5; c[$1, k] = c[$1, k] " " $6;
      if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i];
        if (!(("ours", k) in w) || !(("torch", k) in w)) continue;
        ow = median(w["ours", k]); tw = median(w["torch", k]); oc = median(c["ours", k]); tc = median(c["torch", k]);
        split(k, f, " ");
        printf "%-9s %-7s %3s %10.3f %10.3f %10.3f %10.3f %9.3f %9.3f\n", f[1], f[2], f[3], ow, tw, oc, tc, ow / tw, oc / tc;
      }
    }' "$OUT/epoch.txt"
  exit 0
fi
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
make -s BUILD="$BUILD" "$BUILD/examples/bench"
: > "$OUT/ours.txt"
: > "$OUT/openblas.txt"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "== round $r of $ROUNDS: ours, then OpenBLAS (taskset -c 0, 1 thread) =="
  taskset -c 0 "$BUILD/examples/bench" --threads 1 --clock "$CLOCK" --filter sgemm --skip-scalar --json "$OUT/ours_$r.json" > /dev/null
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

#!/usr/bin/env bash
# tests/bad_input.sh — every example program meets bad input the way a new user would give it
# (issue 11): a corrupt data directory, a bad flag, an unwritable output path. Each check
# asserts exit status 1 or 2, a message naming the problem (a key word: the file, the flag),
# no "terminate called", and no output file left behind, half-written or whole. The programs
# must fail before any training, so every run is short; `timeout` bounds it anyway.
#
#   sh tests/bad_input.sh [build/examples]      (needs MNIST for the truncated/corrupt .gz cases;
#                                                 without it those two are skipped)
# Prints one line per check and "bad_input: N passed, M failed"; exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."
BIN_DIR=${1:-build/examples}
LIMIT=${BAD_INPUT_TIMEOUT:-60}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mgf-bad-input.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0

# --- the corrupt data directories ---------------------------------------------------------------
files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
mkdir -p "$tmp/garbage"
for f in $files; do head -c 4096 /dev/urandom > "$tmp/garbage/$f"; done
mkdir -p "$tmp/monks-bad"
printf ' 1 1 1 1 1 3 1 data_5\n 1 1 1 1 1 3 9 data_6\n' > "$tmp/monks-bad/monks-1.train"  # a6 = 9: out of 1..2
cp "$tmp/monks-bad/monks-1.train" "$tmp/monks-bad/monks-1.test"
mnist=""
for d in "${MGF_DATA:-}" ./data ./data/mnist ../shared/data ../shared/data/mnist; do
  [ -n "$d" ] && [ -f "$d/train-images-idx3-ubyte.gz" ] && [ -f "$d/t10k-labels-idx1-ubyte.gz" ] && { mnist=$d; break; }
done
if [ -n "$mnist" ]; then
  mkdir -p "$tmp/truncated" "$tmp/corrupt"
  for f in $files; do cp "$mnist/$f.gz" "$tmp/truncated/"; cp "$mnist/$f.gz" "$tmp/corrupt/"; done
  head -c 20000 "$mnist/train-images-idx3-ubyte.gz" > "$tmp/truncated/train-images-idx3-ubyte.gz"
  # Overwrite 64 bytes in the middle of the deflate stream: a bad block or a CRC-32 mismatch.
  size=$(wc -c < "$mnist/train-labels-idx1-ubyte.gz")
  head -c 64 /dev/zero | tr '\0' '\377' |
    dd of="$tmp/corrupt/train-labels-idx1-ubyte.gz" bs=1 seek=$((size / 2)) conv=notrunc status=none
fi

# check NAME EXPECT_WORD OUTPUT_FILE -- COMMAND...: runs COMMAND, asserts the outcome (and, when
# want_rc is set, that exact exit status).
want_rc=""
check() {
  local name=$1 word=$2 out=$3; shift 4
  local log="$tmp/log" rc why=""
  timeout "$LIMIT" "$@" > "$log" 2>&1
  rc=$?
  if [ "$rc" = 124 ]; then why="timed out after ${LIMIT}s (it should fail before any work)"
  elif [ "$rc" != 1 ] && [ "$rc" != 2 ]; then why="exit status $rc, expected 1 or 2"
  elif [ -n "$want_rc" ] && [ "$rc" != "$want_rc" ]; then why="exit status $rc, expected $want_rc (a bad flag)"
  elif grep -q 'terminate called' "$log"; then why="'terminate called' in the output"
  elif ! grep -qiF -- "$word" "$log"; then why="no message naming '$word'"
  elif [ -n "$out" ] && { [ -e "$out" ] || [ -e "$out.tmp" ]; }; then why="left $out behind"
  fi
  if [ -z "$why" ]; then
    passed=$((passed + 1)); echo "ok   $name (exit $rc)"
  else
    failed=$((failed + 1)); echo "FAIL $name: $why"; sed 's/^/     | /' "$log" | tail -5
  fi
}

for ex in "$BIN_DIR"/*; do
  [ -x "$ex" ] && [ -f "$ex" ] || continue
  name=$(basename "$ex")
  help=$("$ex" --help 2>&1)
  takes() { printf '%s\n' "$help" | grep -qE "^  $1( |$)"; }
  mode=""; [ "$name" = bench ] && mode="--epoch"   # bench reads data only in its --epoch mode
  json=""; takes --json && json="--json $tmp/out.json"

  # (a) a corrupt data directory, or the refusal of --data by a program that reads none
  if [ "$name" = obs ]; then  # reads the MONK's text files (engine/monks.h), not IDX
    check "$name: malformed MONK's file" "monks-1.train:2" "$tmp/out.json" -- "$ex" --quick $json --data "$tmp/monks-bad"
    check "$name: no MONK's files" "monks-1.train" "$tmp/out.json" -- "$ex" --quick $json --data "$tmp/garbage"
  elif takes --data; then
    check "$name: garbage IDX files" "ubyte" "$tmp/out.json" -- "$ex" --quick $mode $json --data "$tmp/garbage"
    if [ -n "$mnist" ]; then
      check "$name: truncated .gz" "train-images-idx3-ubyte" "$tmp/out.json" -- "$ex" --quick $mode $json --data "$tmp/truncated"
      check "$name: corrupt .gz" "train-labels-idx1-ubyte" "$tmp/out.json" -- "$ex" --quick $mode $json --data "$tmp/corrupt"
    else
      echo "skip $name: truncated/corrupt .gz (no MNIST found)"
    fi
  else
    check "$name: refuses --data" "does not take --data" "" -- "$ex" --quick --data "$tmp/garbage"
  fi

  # (b) bad flags: unknown, out of range (no silent truncation), malformed
  check "$name: unknown flag" "--no-such-flag" "$tmp/out.json" -- "$ex" --quick $json --no-such-flag
  check "$name: --seed -1" "--seed" "$tmp/out.json" -- "$ex" --quick $json --seed -1
  check "$name: --threads 0" "--threads" "$tmp/out.json" -- "$ex" --quick $json --threads 0
  takes --data && check "$name: --data ''" "--data" "$tmp/out.json" -- "$ex" --quick $json --data ""
  if takes --epochs; then
    check "$name: --epochs 99999999999" "--epochs" "$tmp/out.json" -- "$ex" --quick $json --epochs 99999999999
    check "$name: --epochs 0" "--epochs" "$tmp/out.json" -- "$ex" --quick $json --epochs 0
  else
    check "$name: refuses --epochs" "does not take --epochs" "" -- "$ex" --quick --epochs 2
  fi

  # --val N: a count >= 0 (checked in parse), below the training images loaded (checked after
  # loading, before training: --quick slices are a few thousand images, so 99999999 is out).
  if takes --val; then
    want_rc=2
    check "$name: --val -1" "--val" "$tmp/out.json" -- "$ex" --quick $json --val -1
    check "$name: --val ten" "--val" "$tmp/out.json" -- "$ex" --quick $json --val ten
    if [ -n "$mnist" ]; then
      check "$name: --val 99999999" "--val expects 0.." "$tmp/out.json" -- "$ex" --quick $json --val 99999999
    fi
    want_rc=""
  else
    check "$name: refuses --val" "does not take --val" "" -- "$ex" --quick --val 5
  fi

  # (c) unwritable output paths: refused before any work, naming the flag and the path
  for flag in --json --svg --out --checkpoint; do
    if takes $flag; then
      check "$name: $flag /nonexistent/dir/x" "$flag /nonexistent/dir/x" "" -- "$ex" --quick $mode $flag /nonexistent/dir/x
    elif [ "$flag" = --json ] || [ "$flag" = --svg ]; then
      check "$name: refuses $flag" "does not take $flag" "" -- "$ex" --quick $flag "$tmp/x"
    fi
  done
done

# book 05 / 07: the MobileNet examples' own flags, refused before any data is loaded
want_rc=2
check "mobilenet: --only 7" "--only" "" -- "$BIN_DIR/mobilenet" --quick --only 7
check "mobilenet_v2: --sweep-seeds above --seeds" "--sweep-seeds" "" -- "$BIN_DIR/mobilenet_v2" --quick --seeds 2 --sweep-seeds 3
want_rc=""

echo "bad_input: $passed passed, $failed failed"
[ "$failed" = 0 ]

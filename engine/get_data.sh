#!/bin/sh
# engine/get_data.sh — `make data`: put MNIST and Fashion-MNIST (IDX files) under ./data.
#
# 1. If ../shared/data (or $MGF_SHARED_DATA) holds the gzipped files, verify their MD5s
#    (the published ones, listed in ../shared/data/README.md and below) and unpack them into
#    data/mnist and data/fashion-mnist.
# 2. Else download the four MNIST files (where the internet is reachable), verify, unpack.
# 3. Else say what to do. The engine also reads the .gz files directly, so unpacking only
#    saves the ~0.5 s of decompression per run.
# Book: book/03-training.md.
set -u
cd "$(dirname "$0")/.." || exit 2
shared=${MGF_SHARED_DATA:-../shared/data}

md5_of() {  # expected MD5 of <set>/<file>.gz
  case "$1" in
    mnist/train-images-idx3-ubyte) echo f68b3c2dcbeaaa9fbdd348bbdeb94873 ;;
    mnist/train-labels-idx1-ubyte) echo d53e105ee54ea40749a09fcbcd1e9432 ;;
    mnist/t10k-images-idx3-ubyte) echo 9fb629c4189551a2d022fa330f9573f3 ;;
    mnist/t10k-labels-idx1-ubyte) echo ec29112dd5afa0611ce80d1b7f02629c ;;
    fashion-mnist/train-images-idx3-ubyte) echo 8d4fb7e6c68d591d4c3dfef9ec88bf0d ;;
    fashion-mnist/train-labels-idx1-ubyte) echo 25c81989df183df01b3e8a0aad5dffbe ;;
    fashion-mnist/t10k-images-idx3-ubyte) echo bef4ecab320f06d8554ea6380940ec79 ;;
    fashion-mnist/t10k-labels-idx1-ubyte) echo bb300cfdad3c16e7a12a480ee83cd310 ;;
  esac
}
files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

verify_and_unpack() {  # verify_and_unpack <set> <dir with the .gz files>
  set_name=$1; src=$2
  mkdir -p "data/$set_name" || return 1
  for f in $files; do
    want=$(md5_of "$set_name/$f")
    got=$(md5sum "$src/$f.gz" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      echo "make data: $src/$f.gz has MD5 $got, expected $want (corrupted or a different file)" >&2
      return 1
    fi
    if [ -f "data/$set_name/$f" ]; then
      echo "  data/$set_name/$f (already there)"
    else
      gunzip -c "$src/$f.gz" > "data/$set_name/$f.tmp" && mv "data/$set_name/$f.tmp" "data/$set_name/$f" || return 1
      echo "  data/$set_name/$f"
    fi
  done
}

if [ -f "$shared/mnist/train-images-idx3-ubyte.gz" ]; then
  status=0
  for s in mnist fashion-mnist; do
    if [ -f "$shared/$s/train-images-idx3-ubyte.gz" ]; then
      echo "make data: $s from $shared/$s (MD5 verified)"
      verify_and_unpack "$s" "$shared/$s" || status=1
    fi
  done
  exit $status
fi

# No shared copy: download MNIST. The original site often refuses scripts; this mirror serves
# the byte-identical files (same MD5s).
mirror=${MGF_MNIST_URL:-https://ossci-datasets.s3.amazonaws.com/mnist}
mkdir -p data/download
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL --max-time 120 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q -T 120 -O "$2" "$1"
  else return 1; fi
}
ok=1
for f in $files; do
  [ -f "data/download/$f.gz" ] && continue
  echo "make data: downloading $mirror/$f.gz"
  fetch "$mirror/$f.gz" "data/download/$f.gz" || { ok=0; rm -f "data/download/$f.gz"; break; }
done
if [ $ok = 1 ] && verify_and_unpack mnist data/download; then
  echo "make data: MNIST is in data/mnist"
  exit 0
fi
cat >&2 <<MSG
make data: could not get MNIST.
  - No shared copy at $shared (set MGF_SHARED_DATA=DIR to point at one), and
  - the download from $mirror failed (no internet?).
What to do: copy the four MNIST files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) into data/mnist/, or pass
--data DIR to the examples, or set MGF_DATA=DIR.
MSG
exit 1

#!/bin/sh
# Finds doctest (doctest/doctest.h) on the system; installs Debian's doctest-dev when it can.
# Called by `make tests`. doctest is never copied into this repository.
CXX=${1:-g++}
have() { echo '#include <doctest/doctest.h>' | $CXX -x c++ -std=c++20 -E - >/dev/null 2>&1; }
have && exit 0
echo "doctest (doctest/doctest.h) was not found; the tests need it (Debian/Ubuntu package: doctest-dev)."
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing it: apt-get install -y doctest-dev"
    { apt-get install -y doctest-dev || { apt-get update && apt-get install -y doctest-dev; }; } >/dev/null 2>&1
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "installing it: sudo apt-get install -y doctest-dev"
    { sudo apt-get install -y doctest-dev || { sudo apt-get update && sudo apt-get install -y doctest-dev; }; } >/dev/null 2>&1
  fi
fi
have && { echo "doctest installed."; exit 0; }
echo "Please install it and run make again:  sudo apt-get install doctest-dev" >&2
exit 1

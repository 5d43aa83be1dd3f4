#!/bin/sh
# book/check.sh — `make book-check`: every file, symbol and test suite the book names exists.
#
# Conventions the book follows (so this check can read it):
#   a file   is written in backticks with its path:      `engine/ops_arith.cpp`
#   a symbol is written in backticks with parentheses:   `sgemm_avx2()`  or  `Var::backward()`
#   a suite  is named by the command that runs it:       `make test SUITE=autograd`
# Checked: the chapters and appendices (book/*.md, e.g. book/A1-*.md) and the results pages
# (book/results/*.md), which keep the run logs and measurement history the chapters link to.
# Exit status 1, with one line per missing thing, when anything is missing.
cd "$(dirname "$0")/.." || exit 2
fail=0
src_dirs="engine layers compression distill examples tests fuzz"
for md in book/*.md book/results/*.md; do
  [ -f "$md" ] || continue
  # files
  for f in $(grep -o '`[A-Za-z0-9_./-]*`' "$md" | tr -d '`' | grep -E '^(engine|layers|compression|distill|examples|tests|fuzz|book)/' | sort -u); do
    [ -e "$f" ] || { echo "$md: names file $f, which does not exist"; fail=1; }
  done
  # symbols: `name()` or `A::name()`; the last component must be defined somewhere in the sources
  for s in $(grep -o '`[A-Za-z_][A-Za-z0-9_:~]*()`' "$md" | tr -d '`()' | sort -u); do
    last=${s##*::}
    grep -rqw -- "$last" $src_dirs 2>/dev/null || { echo "$md: names symbol $s, not found in the sources"; fail=1; }
  done
  # suites
  for id in $(grep -o 'SUITE=[A-Za-z0-9_]*' "$md" | sed 's/SUITE=//' | sort -u); do
    grep -rqs "TEST_SUITE(\"$id\")" tests || { echo "$md: names test suite $id, which does not exist"; fail=1; }
  done
done
[ $fail = 0 ] && echo "book-check: every file, symbol and suite the book names exists ($(ls book/*.md 2>/dev/null | wc -l) chapters, $(ls book/results/*.md 2>/dev/null | wc -l) results pages)"
exit $fail

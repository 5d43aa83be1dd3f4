# mustgofast — one Makefile, no generator.  `make help` lists the targets.
#
#   make            static library, test runner and every example
#   make test       all doctest suites, then all of them again with MGF_KERNELS=scalar
#   make test SUITE=xnor   one chapter's suite (both kernel modes; an unknown id fails and lists them)
#   make demo       the tour: train, compress, compare (needs MNIST; says how to get it)
#   make bench      kernel benchmark table (scalar vs AVX2), also build/bench.json
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer (both kernel modes)
#   make book-check every file, symbol and suite the book names exists
#   make data       unpack MNIST / Fashion-MNIST into ./data
#   make clean

CXX      ?= g++
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
CXXFLAGS ?=
WARN      = -Wall -Wextra -Werror
ALLFLAGS  = -std=c++20 $(OPT) -g $(WARN) -pthread -I. $(SAN) $(CXXFLAGS) -MMD -MP
LDFLAGS  += -pthread $(SAN)

# Sources at any folder depth (engine/io/, layers/blocks/, compression/lowrank/, tests/support/
# are picked up without editing this line); every example is one program.
LIB_SRC  := $(shell find engine layers compression distill -name '*.cpp' 2>/dev/null | LC_ALL=C sort)
TEST_SRC := $(shell find tests -name '*.cpp' 2>/dev/null | LC_ALL=C sort)
EX_SRC   := $(sort $(wildcard examples/*.cpp))

LIB_OBJ  := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)
EX_BIN   := $(EX_SRC:examples/%.cpp=$(BUILD)/examples/%)
LIB      := $(BUILD)/libmgf.a
TEST_BIN := $(BUILD)/tests/run_tests

.PHONY: all lib tests examples test demo bench asan book-check data clean help doctest-check
.DEFAULT_GOAL := all

all: doctest-check lib tests examples
lib: $(LIB)
tests: doctest-check $(TEST_BIN)
examples: $(EX_BIN)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ALLFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_OBJ) $(LIB) $(LDFLAGS) -o $@

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $< $(LIB) $(LDFLAGS) -o $@

# doctest comes from the system (Debian: doctest-dev); it is never copied into this repository.
doctest-check:
	@sh tests/ensure_doctest.sh "$(CXX)"

# Both kernel modes: the dispatcher's choice (AVX2 where the CPU has it), then scalar only.
TEST_ARGS = $(if $(SUITE),--test-suite=$(SUITE)) $(TESTFLAGS)
# SUITE=<id> that matches no suite (a typo) fails and lists the suites, instead of "passing"
# with every case skipped. $(1) is the test binary.
check_suite = @if [ -n "$(SUITE)" ] && $(1) --test-suite="$(SUITE)" --list-test-suites | \
	  grep -q 'test suites with unskipped test cases passing the current filters: 0$$'; then \
	  echo "make: SUITE=$(SUITE) matches no test suite; the suites are:" >&2; \
	  $(1) --list-test-suites | sed -n '/^====/,/^====/p' | grep -v '^====' | sed 's/^/  /' >&2; exit 1; fi
test: tests
	$(call check_suite,$(TEST_BIN))
	@echo "== make test: kernels = default (AVX2 when the CPU has it) =="
	$(TEST_BIN) $(TEST_ARGS)
	@echo "== make test: kernels = scalar (MGF_KERNELS=scalar) =="
	MGF_KERNELS=scalar $(TEST_BIN) $(TEST_ARGS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests
	$(call check_suite,build-asan/tests/run_tests)
	@echo "== make asan: kernels = default (AVX2 when the CPU has it) =="
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/run_tests $(TEST_ARGS)
	@echo "== make asan: kernels = scalar (MGF_KERNELS=scalar) =="
	MGF_KERNELS=scalar ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/run_tests $(TEST_ARGS)

demo: $(BUILD)/examples/demo
	$(BUILD)/examples/demo $(ARGS)

bench: $(BUILD)/examples/bench
	$(BUILD)/examples/bench --json $(BUILD)/bench.json $(ARGS)

book-check:
	@sh book/check.sh

data:
	@sh engine/get_data.sh

clean:
	rm -rf build build-asan build-fuzz

help:
	@sed -n '2,13p' Makefile

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(EX_SRC:examples/%.cpp=$(BUILD)/obj/examples/%.d)

# ---- make fuzz: libFuzzer harnesses for every file reader (fuzz/README.md) -----------------
#   make fuzz                    build, write the seed corpora, run each harness FUZZ_SECONDS
#   make fuzz FUZZ_RUNS=1000000  run each harness for that many executions instead
#   make fuzz FUZZ_NAMES=npy     only some harnesses
# The library is rebuilt with clang's coverage hooks (fuzzer-no-link) plus ASan and UBSan in
# build-fuzz/; a harness stops at its first crash, sanitizer report, unexpected exception or
# allocation over FUZZ_LIMIT_MB, leaves the input in build-fuzz/crashes/, and make fails.
FUZZ_CXX     ?= clang++
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_RUNS    ?=
FUZZ_LIMIT_MB ?= 512
FUZZ_NAMES   ?= idx inflate npy checkpoint mgfdc xnor int8 vq
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_FLAGS    = -std=c++20 -O2 -g $(WARN) -pthread -I.

.PHONY: fuzz fuzz-build fuzz-corpus
fuzz: fuzz-build fuzz-corpus
	@FUZZ_LIMIT_MB=$(FUZZ_LIMIT_MB) sh fuzz/run.sh $(FUZZ_BUILD) "$(FUZZ_SECONDS)" "$(FUZZ_RUNS)" $(FUZZ_NAMES)

# Two steps: the instrumented library (the main rules, another BUILD and flags), then the
# harnesses against it, so a second `make fuzz` relinks nothing that is up to date.
fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CXX="$(FUZZ_CXX)" OPT=-O2 \
	  SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" lib
	$(MAKE) --no-print-directory $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%) $(FUZZ_BUILD)/make_corpus

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.cpp fuzz/fuzz_common.h $(FUZZ_BUILD)/libmgf.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $< $(FUZZ_BUILD)/libmgf.a -o $@

$(FUZZ_BUILD)/make_corpus: fuzz/make_corpus.cpp fuzz/fuzz_common.h $(FUZZ_BUILD)/libmgf.a
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) $< $(FUZZ_BUILD)/libmgf.a -o $@

# Seeds are rewritten every time (same names, same bytes); what the fuzzer added beside them
# in earlier runs stays, so coverage builds up across runs.
fuzz-corpus: fuzz-build
	@$(FUZZ_BUILD)/make_corpus $(FUZZ_BUILD)/corpus
	@if command -v gzip >/dev/null; then for f in $(FUZZ_BUILD)/corpus/idx-raw/*; do \
	  gzip -9 -n -c "$$f" > $(FUZZ_BUILD)/corpus/inflate/gzip-$$(basename "$$f").gz; done; fi

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
	rm -rf build build-asan

help:
	@sed -n '2,13p' Makefile

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(EX_SRC:examples/%.cpp=$(BUILD)/obj/examples/%.d)

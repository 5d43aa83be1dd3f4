// tests/main.cpp — the one doctest runner over every suite.
// `make test SUITE=<chapter id>` runs one chapter's suite (doctest's --test-suite).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/kernels/cpu.h"
#include "engine/threads.h"

int main(int argc, char** argv) {
  std::printf("mustgofast tests: kernels=%s, threads=%d\n", mgf::kernel_mode_name(mgf::kernel_mode()),
              mgf::num_threads());
  doctest::Context ctx(argc, argv);
  return ctx.run();
}

// tests/test_engine.cpp — TEST_SUITE("engine"): the pieces under everything else —
// Tensor, the thread pool, the random generator, the kernel switch, example flags, SVG.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cli.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/tensor.h"
#include "engine/threads.h"

using namespace mgf;

TEST_SUITE("engine") {
  TEST_CASE("Tensor: shape, shared storage, clone, reshape") {
    Tensor a({2, 3}, 1.5f);
    CHECK(a.numel() == 6);
    CHECK(a.dim(-1) == 3);
    Tensor b = a;  // shares
    b[0] = 7.0f;
    CHECK(a[0] == 7.0f);
    Tensor c = a.clone();  // copies
    c[0] = 0.0f;
    CHECK(a[0] == 7.0f);
    Tensor r = a.reshape({3, -1});
    CHECK(r.shape() == Shape{3, 2});
    CHECK(r.shares_storage(a));
  }

  TEST_CASE("Tensor: bad shapes are rejected with both shapes in the message") {
    CHECK_THROWS_AS(Tensor({1, 2, 3, 4, 5}), std::invalid_argument);
    CHECK_THROWS_AS(Tensor({2, -1}), std::invalid_argument);
    CHECK_THROWS_AS(Tensor({2, 2}, std::vector<float>{1, 2, 3}), std::invalid_argument);
    Tensor a({2, 3});
    try {
      a.reshape({4, 2});
      FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
      std::string m = e.what();
      CHECK(m.find("[2, 3]") != std::string::npos);
      CHECK(m.find("[4, 2]") != std::string::npos);
    }
    CHECK_THROWS_AS(a.item(), std::invalid_argument);
    CHECK_THROWS_AS(a.dim(2), std::invalid_argument);
  }

  TEST_CASE("parallel_for covers every index exactly once, for any thread count") {
    int saved = num_threads();
    for (int t : {1, 2, 3, 5}) {
      set_num_threads(t);
      for (int64_t n : {0, 1, 7, 100, 1027}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) REQUIRE(hits[static_cast<size_t>(i)].load() == 1);
      }
    }
    set_num_threads(saved);
  }

  TEST_CASE("parallel_for: nested calls run serially, exceptions reach the caller") {
    int saved = num_threads();
    set_num_threads(2);
    std::atomic<int64_t> total{0};
    parallel_for(0, 4, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        parallel_for(0, 10, 1, [&](int64_t a, int64_t b) { total += b - a; });
    });
    CHECK(total.load() == 40);
    CHECK_THROWS_AS(parallel_for(0, 100, 1,
                                 [](int64_t lo, int64_t) {
                                   if (lo > 0) throw std::runtime_error("worker failed");
                                 }),
                    std::runtime_error);
    // the pool still works after an exception
    std::atomic<int64_t> n{0};
    parallel_for(0, 100, 1, [&](int64_t lo, int64_t hi) { n += hi - lo; });
    CHECK(n.load() == 100);
    CHECK_THROWS_AS(set_num_threads(0), std::invalid_argument);
    set_num_threads(saved);
  }

  TEST_CASE("Rng: same seed gives the same numbers; ranges and moments are right") {
    Rng a(42), b(42), c(43);
    for (int i = 0; i < 100; ++i) REQUIRE(a.next_u64() == b.next_u64());
    CHECK(a.next_u64() != c.next_u64());
    Rng r(7);
    double s = 0, s2 = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      float u = r.uniform();
      REQUIRE(u >= 0.0f);
      REQUIRE(u < 1.0f);
      float z = r.normal();
      s += z;
      s2 += static_cast<double>(z) * z;
    }
    CHECK(std::abs(s / n) < 0.03);
    CHECK(std::abs(s2 / n - 1.0) < 0.05);
    std::set<int64_t> seen;
    for (int i = 0; i < 1000; ++i) seen.insert(r.randint(5));
    CHECK(seen == std::set<int64_t>{0, 1, 2, 3, 4});
    CHECK_THROWS_AS(r.randint(0), std::invalid_argument);
  }

  TEST_CASE("Rng: shuffle is a permutation, reproducible by seed") {
    std::vector<int> v(50), w;
    for (int i = 0; i < 50; ++i) v[static_cast<size_t>(i)] = i;
    w = v;
    Rng a(3), b(3);
    a.shuffle(v);
    b.shuffle(w);
    CHECK(v == w);
    std::set<int> s(v.begin(), v.end());
    CHECK(s.size() == 50);
  }

  TEST_CASE("kernel mode: parse, force, and refuse what the CPU cannot run") {
    CHECK(parse_kernel_mode("scalar") == KernelMode::scalar);
    CHECK(parse_kernel_mode("avx2") == KernelMode::avx2);
    CHECK_THROWS_AS(parse_kernel_mode("sse9"), std::invalid_argument);
    {
      KernelModeGuard g(KernelMode::scalar);
      CHECK_FALSE(use_avx2());
    }
    if (!cpu_has_avx2()) CHECK_THROWS_AS(set_kernel_mode(KernelMode::avx2), std::invalid_argument);
    if (!cpu_has_avx512()) CHECK_THROWS_AS(set_kernel_mode(KernelMode::avx512), std::invalid_argument);
  }

  TEST_CASE("ResultTable: JSON has one object per row, numbers bare, written atomically") {
    ResultTable t({"method", "error %", "note"});
    t.add_row({"baseline", "1.64", "say \"hi\""});
    CHECK_THROWS_AS(t.add_row({"too few"}), std::invalid_argument);
    std::string path = "build/test-engine-table.json";
    t.write_json(path);
    std::ifstream f(path);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(s.find("\"error %\": 1.64") != std::string::npos);
    CHECK(s.find("\"method\": \"baseline\"") != std::string::npos);
    CHECK(s.find("\\\"hi\\\"") != std::string::npos);
    std::remove(path.c_str());
    CHECK_THROWS_AS(t.write_json("no-such-dir/x/y.json"), std::runtime_error);
  }

  TEST_CASE("ExampleArgs: comma-separated lists and numbers; mean_sd is the sample sd") {
    ExampleArgs args("t", "test", "instant");
    args.option("--keep", "0.66,0.12", "numbers");
    args.option("--models", "", "names");
    std::vector<std::string> argv_s = {"t", "--keep", "0.5,2,-3e-1", "--models", "xnor,,case4"};
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    args.parse(static_cast<int>(argv.size()), argv.data());
    const std::vector<double> k = args.get_numbers("--keep");
    REQUIRE(k.size() == 3);
    CHECK(k[0] == 0.5);
    CHECK(k[1] == 2.0);
    CHECK(k[2] == doctest::Approx(-0.3));
    CHECK(args.get_list("--models") == std::vector<std::string>{"xnor", "", "case4"});
    const MeanSd m = mean_sd({1.0, 2.0, 3.0});
    CHECK(m.mean == doctest::Approx(2.0));
    CHECK(m.sd == doctest::Approx(1.0));   // n - 1 in the denominator: population sd would be 0.816
    CHECK(mean_sd({4.0}).sd == 0.0);
  }

  TEST_CASE("SvgPlot: renders series, log axes, and rejects mismatched data") {
    SvgPlot p("t", "x", "y");
    p.log_x = true;
    p.line("a", {1, 10, 100}, {3, 2, 1});
    p.points("b", {2, 20}, {1.5, 2.5});
    std::string s = p.render();
    CHECK(s.rfind("<svg", 0) == 0);
    CHECK(s.find("polyline") != std::string::npos);
    CHECK(s.find(">a</text>") != std::string::npos);
    CHECK(s.find("</svg>") != std::string::npos);
    CHECK_THROWS_AS(p.line("bad", {1, 2}, {1}), std::invalid_argument);
  }
}

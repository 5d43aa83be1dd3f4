// tests/test_engine.cpp — TEST_SUITE("engine"): the pieces under everything else —
// Tensor, the thread pool, the random generator, the kernel switch, example flags, SVG.
#include <doctest/doctest.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/cli.h"
#include "engine/data.h"
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

  // Parses `flags` (argv[0] = "t") into `args`; FlagError propagates.
  static void parse_flags(ExampleArgs& args, std::vector<std::string> flags) {
    flags.insert(flags.begin(), "t");
    std::vector<char*> argv;
    for (std::string& a : flags) argv.push_back(a.data());
    args.parse(static_cast<int>(argv.size()), argv.data());
  }

  // The message of the FlagError that parsing `flags` throws, or "" when it throws none.
  static std::string flag_error(const std::vector<std::string>& common, const std::vector<std::string>& flags) {
    ExampleArgs args("t", "test", "instant", common);
    args.option("--lr", "0.1", "rate");
    args.option("--n", "3", "count");
    try {
      parse_flags(args, flags);
      (void)args.get_float_above("--lr", 0.0, 10.0);
      (void)args.get_int("--n", 1, INT_MAX);
      (void)args.epochs(5, 1);
    } catch (const FlagError& e) {
      return e.what();
    }
    return "";
  }

  TEST_CASE("ExampleArgs: range-checked flags, no silent truncation") {
    const std::vector<std::string> all = {"--data", "--epochs", "--json", "--svg"};
    CHECK(flag_error(all, {"--epochs", "3", "--lr", "0.5", "--n", "7", "--seed", "0"}) == "");
    CHECK(flag_error(all, {"--epochs", "0"}).find("--epochs expects an integer in 1..") != std::string::npos);
    // 99999999999 fits int64 but not int: refused, never truncated to 1215752191.
    CHECK(flag_error(all, {"--epochs", "99999999999"}).find("99999999999") != std::string::npos);
    CHECK(flag_error(all, {"--n", "99999999999"}).find("--n expects an integer in 1..2147483647") != std::string::npos);
    CHECK(flag_error(all, {"--n", "1e3"}).find("--n expects an integer") != std::string::npos);
    CHECK(flag_error(all, {"--seed", "-1"}).find("--seed") != std::string::npos);
    CHECK(flag_error(all, {"--data", ""}).find("--data expects a directory") != std::string::npos);
    CHECK(flag_error(all, {"--lr", "0"}).find("--lr expects a number in (0, 10]") != std::string::npos);
    CHECK(flag_error(all, {"--lr", "nan"}).find("--lr expects a number") != std::string::npos);
    CHECK(flag_error(all, {"--threads", "0"}).find("--threads") != std::string::npos);
    CHECK(flag_error(all, {"--bogus"}).find("unknown flag '--bogus'") != std::string::npos);
    ExampleArgs args("t", "test", "instant");
    args.option("--keep", "0.5,1.5", "fractions");
    parse_flags(args, {});
    CHECK_THROWS_AS(args.get_numbers("--keep", 0.0, 1.0), FlagError);
    CHECK(args.get_numbers("--keep", 0.0, 2.0).size() == 2);
    CHECK_THROWS_AS(args.get_float("--keep"), FlagError);
  }

  TEST_CASE("ExampleArgs: --val parses, takes the program's default and is checked against the training size") {
    ExampleArgs dflt("t", "test", "instant");
    parse_flags(dflt, {});
    CHECK(dflt.val(60000) == 0);  // the library declares 0; a program opts in with val_default
    ExampleArgs args("t", "test", "instant");
    args.val_default(kDefaultValidationImages, "chooses the epoch");
    parse_flags(args, {});
    CHECK(args.val(60000) == 10000);
    CHECK_THROWS_AS(args.val(10000), FlagError);  // the default does not fit a 10 000-image slice
    ExampleArgs given("t", "test", "instant");
    parse_flags(given, {"--val", "500"});
    CHECK(given.val(2000) == 500);
    CHECK(given.val(501) == 500);
    try {
      (void)given.val(500);
      FAIL("--val 500 accepted with 500 training images");
    } catch (const FlagError& e) {
      CHECK(std::string(e.what()) == "flag --val expects 0..499 (the run has 500 training images and keeps at least one), found '500'");
    }
    CHECK(flag_error({"--val"}, {"--val", "-1"}).find("--val expects a count of training images >= 0, found '-1'") !=
          std::string::npos);
    CHECK(flag_error({"--val"}, {"--val", "ten"}).find("--val expects an integer, found 'ten'") != std::string::npos);
    CHECK(flag_error({"--json"}, {"--val", "5"}) ==
          "this program does not take --val (it holds out no validation images)");
    ExampleArgs no_val("t", "test", "instant", {"--json"});
    CHECK_THROWS_AS(no_val.val_default(10, ""), std::logic_error);
    // A quick default: --quick holds out its own count of its slice, unless --val is given.
    ExampleArgs q("t", "test", "instant");
    q.val_default(kDefaultValidationImages, "", 500);
    parse_flags(q, {"--quick"});
    CHECK(q.val(2000) == 500);
    ExampleArgs qg("t", "test", "instant");
    qg.val_default(kDefaultValidationImages, "", 500);
    parse_flags(qg, {"--quick", "--val", "0"});
    CHECK(qg.val(2000) == 0);
    ExampleArgs full("t", "test", "instant");
    full.val_default(kDefaultValidationImages, "", 500);
    parse_flags(full, {});
    CHECK(full.val(60000) == 10000);  // the quick count applies only to --quick
  }

  TEST_CASE("ExampleArgs: a common flag the program does not take is refused, and absent from --help") {
    const std::string e = flag_error({"--json"}, {"--svg", "x.svg"});
    CHECK(e == "this program does not take --svg (it writes no figure)");
    CHECK(flag_error({"--json"}, {"--data", "d"}) == "this program does not take --data (it reads no data set)");
    CHECK(flag_error({"--json"}, {"--epochs", "2"}) == "this program does not take --epochs (it trains nothing)");
    CHECK(flag_error({"--svg"}, {"--json", "x.json"}) == "this program does not take --json (it writes no result table)");
    CHECK_THROWS_AS(ExampleArgs("t", "test", "instant", {"--threads"}), std::logic_error);
    ExampleArgs args("t", "test", "instant", {"--json"});
    CHECK_THROWS_AS(args.get("--svg"), std::logic_error);  // never declared, so --help cannot list it
  }

  TEST_CASE("ExampleArgs: output paths are checked writable before any work, leaving no file") {
    const std::string bad = "build/no-such-dir-cli-test/x.json";
    const std::string e = flag_error({"--json"}, {"--json", bad});
    CHECK(e.find("--json") != std::string::npos);
    CHECK(e.find(bad) != std::string::npos);
    CHECK(e.find("does not exist") != std::string::npos);
    CHECK(flag_error({"--json"}, {"--json", "build"}).find("is a directory") != std::string::npos);
    CHECK(flag_error({"--json"}, {"--json", "build/cli-test-ok.json"}) == "");
    std::ifstream probe("build/cli-test-ok.json");
    CHECK_FALSE(probe.good());  // checking wrote nothing
    ExampleArgs args("t", "test", "instant", {});
    args.output("--out", "", "file");
    CHECK_THROWS_AS(parse_flags(args, {"--out", bad}), FlagError);
  }

  TEST_CASE("ResultTable: every number is a JSON number, the unit moves into the key") {
    ResultTable t({"model", "test error", "ratio", "size", "error %"});
    t.add_row({"lenet5", "1.64 %", "36.4x", "1.6 \xC2\xB1 0.1 kB", "0.8"});
    t.add_row({"lenet300", "-", "12.0x", "2 \xC2\xB1 0.25 kB", "n/a"});
    t.add_row({"3-bit", ".5 %", "1e2x", "3 kB", "-0.5"});
    ResultTable u({"errors", "pair", "count", "mean +- sd", "paper"});
    u.add_row({"7.65 % (153/2000)", "1.30x / 4.61x", "76 (same)", "10.80 +- 0.25", "108x at 0.91 %"});
    const std::string j = u.json();
    CHECK(j.find("\"errors (%)\": 7.65, \"errors detail\": [153, 2000]") != std::string::npos);
    CHECK(j.find("\"pair (x)\": [1.30, 4.61]") != std::string::npos);
    CHECK(j.find("\"count\": 76, \"count note\": \"same\"") != std::string::npos);
    CHECK(j.find("\"mean +- sd\": 10.80, \"mean +- sd sd\": 0.25") != std::string::npos);
    CHECK(j.find("\"paper\": \"108x at 0.91 %\"") != std::string::npos);  // prose stays a string
    ResultTable labels({"step", "% of peak"});
    labels.add_row({"2 prune (CSR)", "3.9 %"});  // a label that starts with a digit: "prune" is no unit
    CHECK(labels.json().find("\"step\": \"2 prune (CSR)\", \"% of peak\": 3.9") != std::string::npos);
    const std::string s = t.json();
    CHECK(s.find("\"test error (%)\": 1.64") != std::string::npos);
    CHECK(s.find("\"test error (%)\": null") != std::string::npos);  // same key in every row
    CHECK(s.find("\"test error (%)\": 0.5") != std::string::npos);
    CHECK(s.find("\"ratio (x)\": 36.4") != std::string::npos);
    CHECK(s.find("\"ratio (x)\": 1e2") != std::string::npos);
    CHECK(s.find("\"size (kB)\": 1.6, \"size sd (kB)\": 0.1") != std::string::npos);
    CHECK(s.find("\"error %\": -0.5") != std::string::npos);  // the column already names its unit
    CHECK(s.find("\"model\": \"3-bit\"") != std::string::npos);
    CHECK(s.find("\"1.64 %\"") == std::string::npos);  // no number left as a string
    CHECK(s.find("36.4x") == std::string::npos);
  }

  TEST_CASE("run_main: exit 2 for a bad flag, 1 for any other error, never an escaped exception") {
    char name[] = "t";
    char* argv[] = {name, nullptr};
    CHECK(run_main("t", 1, argv, [](int, char**) { return 0; }) == 0);
    CHECK(run_main("t", 1, argv, [](int, char**) { return 3; }) == 3);
    CHECK(run_main("t", 1, argv, [](int, char**) -> int { throw FlagError("--x expects 1..2, found 3"); }) == 2);
    CHECK(run_main("t", 1, argv, [](int, char**) -> int { throw DataNotFound("no MNIST; run make data"); }) == 1);
    CHECK(run_main("t", 1, argv, [](int, char**) -> int { throw std::runtime_error("x.idx: bad magic"); }) == 1);
    CHECK(run_main("t", 1, argv, [](int, char**) -> int { throw 42; }) == 1);
    CHECK(run_main("t", 1, argv, [](int argc, char** av) {  // a real parse inside the wrapper
            ExampleArgs args("t", "test", "instant", {});
            args.parse(argc + 2, std::vector<char*>{av[0], const_cast<char*>("--svg"), const_cast<char*>("f.svg")}.data());
            return 0;
          }) == 2);
  }

  TEST_CASE("check_sim_equals_deploy: any differing prediction or a logit past the budget is an error") {
    CHECK_NOTHROW(check_sim_equals_deploy("f", 0, 100, 1e-6));
    CHECK_NOTHROW(check_sim_equals_deploy("f", 0, 100, -1.0));  // predictions only
    CHECK_THROWS_WITH_AS(check_sim_equals_deploy("f.mgfdc", 2, 100, 1e-6),
                         doctest::Contains("2 of 100 predictions differ"), std::runtime_error);
    CHECK_THROWS_WITH_AS(check_sim_equals_deploy("f.mgfdc", 0, 100, 10 * kSimDeployLogitBudget),
                         doctest::Contains("kSimDeployLogitBudget"), std::runtime_error);
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

// engine/cli.cpp — see cli.h.
#include "engine/cli.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <sys/stat.h>
#include <unistd.h>

#include "engine/data.h"
#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace mgf {

static std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

int run_main(const std::string& program, int argc, char** argv, const std::function<int(int, char**)>& body) {
  try {
    return body(argc, argv);
  } catch (const FlagError& e) {
    std::fprintf(stderr, "%s: %s\n(run '%s --help' for the flags)\n", program.c_str(), e.what(), program.c_str());
    return 2;
  } catch (const DataNotFound& e) {  // its message already says where it looked and what to do
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "%s: error: an exception that is not a std::exception\n", program.c_str());
    return 1;
  }
}

void check_writable(const std::string& flag, const std::string& path) {
  if (path.empty()) throw FlagError(flag + " expects a file path, found ''");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw FlagError(flag + " " + path + ": is a directory, expected a file path");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw FlagError(flag + " " + path + ": directory " + dir + " does not exist (create it first)");
  // access() asks the kernel with the real ids, without writing anything: a probe file could
  // be left behind by a killed run.
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw FlagError(flag + " " + path + ": directory " + dir + " is not writable");
}

ExampleArgs::ExampleArgs(std::string program, std::string what, std::string duration,
                         const std::vector<std::string>& common)
    : program_(std::move(program)), what_(std::move(what)), duration_(std::move(duration)) {
  // Why each common flag may be refused, in the program's words.
  const std::map<std::string, std::string> why = {{"--data", "it reads no data set"},
                                                  {"--epochs", "it trains nothing"},
                                                  {"--val", "it holds out no validation images"},
                                                  {"--json", "it writes no result table"},
                                                  {"--svg", "it writes no figure"}};
  for (const std::string& c : common)
    if (!why.count(c)) throw std::logic_error("ExampleArgs: " + c + " is not a refusable common flag");
  auto takes = [&](const char* f) { return std::find(common.begin(), common.end(), f) != common.end(); };
  for (const auto& [flag, reason] : why)
    if (!takes(flag.c_str())) refused_[flag] = reason;
  option("--quick", "false", "a run of seconds on a small slice, for CI and a first look");
  if (takes("--data"))
    option("--data", "", "directory of the IDX files (MNIST format); default: $MGF_DATA, ./data, ../shared/data");
  if (takes("--epochs"))
    option("--epochs", "", "training epochs, 1.." + std::to_string(kMaxEpochs) +
                               " (default: the chapter's full schedule, or its --quick one)");
  option("--seed", "1", "random seed (>= 0); the same seed and thread count give the same run");
  option("--threads", "", "worker threads, 1..256 (default: $MGF_THREADS or all cores)");
  option("--kernels", "", "force one side of every kernel: scalar | avx2 (default: the best the CPU has)");
  if (takes("--val")) option("--val", "0", "training images held out as validation, the last N (0 = none)");
  if (takes("--json")) output("--json", "", "also write the result table as JSON to this file");
  if (takes("--svg")) output("--svg", "", "where to write the figure");
}

void ExampleArgs::val_default(int64_t n, const std::string& use, int64_t quick_n) {
  if (!opts_.count("--val")) throw std::logic_error("ExampleArgs: " + program_ + " does not take --val");
  val_quick_ = quick_n;
  option("--val", std::to_string(n),
         opts_.at("--val").help + (use.empty() ? "" : "; " + use) +
             (quick_n >= 0 ? "; --quick holds out " + std::to_string(quick_n) + " of its slice unless --val is given" : ""));
}

int64_t ExampleArgs::val(int64_t train_size) const {
  const int64_t n = !given("--val") && quick() && val_quick_ >= 0 ? val_quick_ : get_int("--val");
  if (n < 0 || n > train_size - 1)
    fail("flag --val expects 0.." + std::to_string(std::max<int64_t>(train_size - 1, 0)) + " (the run has " +
         std::to_string(train_size) + " training images and keeps at least one), found '" + get("--val") + "'");
  return n;
}

void ExampleArgs::output(const std::string& flag, const std::string& default_value, const std::string& help) {
  option(flag, default_value, help);
  if (std::find(outputs_.begin(), outputs_.end(), flag) == outputs_.end()) outputs_.push_back(flag);
}

void ExampleArgs::option(const std::string& flag, const std::string& default_value, const std::string& help) {
  if (!opts_.count(flag)) order_.push_back(flag);
  opts_[flag] = {default_value, help};
  values_[flag] = default_value;
}

void ExampleArgs::print_usage() const {
  std::printf("%s — %s\n\nusage: %s [flags]\n\n", program_.c_str(), what_.c_str(), program_.c_str());
  for (const auto& f : order_) {
    const Opt& o = opts_.at(f);
    bool sw = o.def == "false" || o.def == "true";
    std::string left = f + (sw ? "" : " VALUE");
    std::printf("  %-20s %s%s\n", left.c_str(), o.help.c_str(),
                (!sw && !o.def.empty()) ? (" (default " + o.def + ")").c_str() : "");
  }
  std::printf("  %-20s %s\n\nDuration: %s\n", "--help", "this text", duration_.c_str());
}

void ExampleArgs::fail(const std::string& message) const { throw FlagError(message); }

void ExampleArgs::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_usage();
      std::exit(0);
    }
    std::string value;
    bool has_eq = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_eq = true;
    }
    auto it = opts_.find(a);
    if (auto r = refused_.find(a); it == opts_.end() && r != refused_.end())
      fail("this program does not take " + a + " (" + r->second + ")");
    if (it == opts_.end()) fail("unknown flag '" + a + "'");
    bool sw = it->second.def == "false" || it->second.def == "true";
    if (sw) {
      if (has_eq && value != "true" && value != "false")
        fail("flag " + a + " expects true or false, found '" + value + "'");
      values_[a] = has_eq ? value : "true";
    } else {
      if (!has_eq) {
        if (i + 1 >= argc) fail("flag " + a + " expects a value");
        value = argv[++i];
      }
      values_[a] = value;
    }
    given_[a] = true;
  }
  if (given("--threads")) set_num_threads(static_cast<int>(get_int("--threads", 1, 256)));
  if (given("--kernels")) {
    try {
      set_kernel_mode(parse_kernel_mode(get("--kernels").c_str()));
    } catch (const std::invalid_argument& e) {
      fail(std::string("--kernels: ") + e.what());
    }
  }
  // --epochs 0 is refused: every schedule here (cosine_schedule, the recipes) needs one epoch.
  if (given("--epochs")) get_int("--epochs", 1, kMaxEpochs);
  // --val: an integer >= 0 here, before any work; its upper bound is the training set, which
  // only the loaded data knows (val(train_size)).
  if (given("--val") && get_int("--val") < 0)
    fail("flag --val expects a count of training images >= 0, found '" + get("--val") + "'");
  if (given("--data") && get("--data").empty())
    fail("--data expects a directory, found '' (leave the flag out to search the usual places)");
  manual_seed(seed());
  for (const std::string& f : outputs_)
    if (given(f)) check_writable(f, get(f));
}

int ExampleArgs::epochs(int full, int quick_value) const {
  if (given("--epochs")) return static_cast<int>(get_int("--epochs", 1, kMaxEpochs));
  return quick() ? quick_value : full;
}

std::string ExampleArgs::svg_path(const std::string& fallback) const {
  return given("--svg") ? get("--svg") : fallback;
}

std::string ExampleArgs::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) throw std::logic_error("ExampleArgs: flag " + flag + " was never declared");
  return it->second;
}

int64_t ExampleArgs::get_int(const std::string& flag) const {
  std::string v = get(flag);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno) fail("flag " + flag + " expects an integer, found '" + v + "'");
  return x;
}

int64_t ExampleArgs::get_int(const std::string& flag, int64_t lo, int64_t hi) const {
  const int64_t x = get_int(flag);
  if (x < lo || x > hi)
    fail("flag " + flag + " expects an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", found '" +
         get(flag) + "'");
  return x;
}

double ExampleArgs::get_float(const std::string& flag, double lo, double hi) const {
  const double x = get_float(flag);
  if (x < lo || x > hi) fail("flag " + flag + " expects a number in [" + fmt_g(lo) + ", " + fmt_g(hi) + "], found '" + get(flag) + "'");
  return x;
}

double ExampleArgs::get_float_above(const std::string& flag, double lo, double hi) const {
  const double x = get_float(flag);
  if (!(x > lo) || x > hi) fail("flag " + flag + " expects a number in (" + fmt_g(lo) + ", " + fmt_g(hi) + "], found '" + get(flag) + "'");
  return x;
}

double ExampleArgs::get_float(const std::string& flag) const {
  std::string v = get(flag);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x)) fail("flag " + flag + " expects a number, found '" + v + "'");
  return x;
}

bool ExampleArgs::get_bool(const std::string& flag) const { return get(flag) == "true"; }

std::vector<std::string> ExampleArgs::get_list(const std::string& flag) const {
  std::vector<std::string> out;
  const std::string v = get(flag);
  size_t start = 0;
  while (start <= v.size() && !v.empty()) {
    const size_t comma = v.find(',', start);
    const size_t end = comma == std::string::npos ? v.size() : comma;
    out.push_back(v.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<double> ExampleArgs::get_numbers(const std::string& flag) const {
  std::vector<double> out;
  for (const std::string& item : get_list(flag)) {
    char* end = nullptr;
    const double x = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !std::isfinite(x))
      fail("flag " + flag + " expects comma-separated numbers, found '" + item + "' in '" + get(flag) + "'");
    out.push_back(x);
  }
  return out;
}

std::vector<double> ExampleArgs::get_numbers(const std::string& flag, double lo, double hi) const {
  std::vector<double> out = get_numbers(flag);
  for (double x : out)
    if (x < lo || x > hi)
      fail("flag " + flag + " expects numbers in [" + fmt_g(lo) + ", " + fmt_g(hi) + "], found " + fmt_g(x) + " in '" +
           get(flag) + "'");
  return out;
}


void check_sim_equals_deploy(const std::string& what, int64_t differing, int64_t total, double max_logit_diff,
                             double budget) {
  const bool logits_off = max_logit_diff > budget || std::isnan(max_logit_diff);
  if (differing == 0 && !logits_off) return;
  std::string m = "simulation != deployment for " + what + ": " + std::to_string(differing) + " of " +
                  std::to_string(total) + " predictions differ";
  if (max_logit_diff >= 0 || std::isnan(max_logit_diff))
    m += ", largest logit difference " + fmt_g(max_logit_diff) + " (budget kSimDeployLogitBudget = " + fmt_g(budget) + ")";
  throw std::runtime_error(m + "; the compressed format does not compute what its float simulation computes");
}


}  // namespace mgf

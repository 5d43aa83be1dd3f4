// engine/cli.h — the flags every example takes, parsed one way, and the result table.
//
// Every example program accepts the same flags so a reader learns them once (DESIGN.md):
//   --help  --quick  --data DIR  --epochs N  --val N  --seed N  --threads N  --kernels scalar|avx2
//   --json FILE  --svg FILE
// plus flags of its own, declared with `option(...)`. A program takes only the common flags it
// honours (`--data --epochs --val --json --svg`, listed in its constructor; --help --quick --seed
// --threads --kernels are always there): the others are absent from --help and refused.
// A bad flag throws FlagError; `run_main` turns it into a message and exit status 2, and any
// other error into "<program>: error: <message>" and exit status 1 (book/00-introduction.md).
// Output paths (--json, --svg, and flags declared with `output(...)`) are checked writable
// in parse(), before any work starts.
//
//   int main(int argc, char** argv) {
//     return run_main("magnitude_pruning", argc, argv, [](int argc, char** argv) {
//       ExampleArgs args("magnitude_pruning", "Reproduces Han et al. 2015 Table 1 ...",
//                        "full run: about 20 min on 2 cores", {"--data", "--epochs", "--json", "--svg"});
//       args.option("--quality", "1.0", "threshold = quality x std of the layer's weights");
//       args.parse(argc, argv);              // handles --help, --threads, --kernels, --seed
//       float q = static_cast<float>(args.get_float("--quality", 0.0, 10.0));
//       ...
//       return 0;
//     });
//   }
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/io/file.h"  // write_file_atomic, for the examples
#include "engine/table.h"     // ResultTable, fmt(), mean_sd(): the examples' tables

namespace mgf {

// A bad flag: unknown, not taken, malformed or out of range. run_main exits 2 on it.
class FlagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs an example's body with one error path: returns what the body returns; on FlagError
// prints "<program>: <message>" and a --help hint and returns 2; on any other exception
// prints "<program>: error: <message>" and returns 1. Nothing escapes, so no program ends
// with "terminate called" or a status >= 128.
int run_main(const std::string& program, int argc, char** argv, const std::function<int(int, char**)>& body);

// Throws std::runtime_error naming `flag` and `path` unless `path` can be written: its
// directory exists, is a directory and is writable, and the path is not a directory. Writes
// nothing (no probe file), so a run that fails later leaves nothing behind.
void check_writable(const std::string& flag, const std::string& path);

class ExampleArgs {
 public:
  // `common`: the common flags among --data --epochs --val --json --svg this program honours;
  // the rest are refused ("X does not take --svg (it writes no figure)"). The default takes
  // all five (tests construct it that way).
  ExampleArgs(std::string program, std::string what, std::string duration,
              const std::vector<std::string>& common = {"--data", "--epochs", "--val", "--json", "--svg"});

  // --val N: the last N training images held out as validation (split_validation() in
  // engine/data.h). A program taking it sets its default (kDefaultValidationImages for new
  // chapters) and says in `use` what it does with the held-out images; call before parse().
  // `quick_n` >= 0: the count a --quick run holds out of its slice when --val is not given
  // (10 000 would not fit in a quick slice).
  void val_default(int64_t n, const std::string& use, int64_t quick_n = -1);

  // Declares an extra flag with its default ("" for a flag without default) and help line.
  // A flag whose default is "false" or "true" is a switch: `--flag` alone sets it true.
  void option(const std::string& flag, const std::string& default_value, const std::string& help);

  // Declares a flag that names a file the program writes; parse() checks it writable when given.
  void output(const std::string& flag, const std::string& default_value, const std::string& help);

  // Parses argv; on --help prints usage and exits 0; on a bad flag throws FlagError.
  // Applies --threads (set_num_threads), --kernels (set_kernel_mode) and --seed (manual_seed);
  // refuses --data "", --seed < 0, --epochs outside 1..kMaxEpochs, and output paths
  // (--json, --svg, output(...) flags) that cannot be written.
  void parse(int argc, char** argv);

  static constexpr int64_t kMaxEpochs = 100000;
  bool quick() const { return get_bool("--quick"); }
  // --epochs if given (1..kMaxEpochs, checked in parse), else quick ? quick_value : full.
  int epochs(int full, int quick_value) const;
  uint64_t seed() const { return static_cast<uint64_t>(get_int("--seed", 0, INT64_MAX)); }
  std::string data_dir() const { return get("--data"); }  // "" = search the usual places
  // --val (or its default), checked against the training images loaded: throws FlagError
  // naming the value and `train_size` unless 0 <= N <= train_size - 1. parse() already
  // refused a value that is not an integer >= 0.
  int64_t val(int64_t train_size) const;
  std::string json_path() const { return get("--json"); }
  std::string svg_path(const std::string& fallback) const;  // --svg if given, else fallback

  std::string get(const std::string& flag) const;
  int64_t get_int(const std::string& flag) const;   // throws FlagError if not an integer
  double get_float(const std::string& flag) const;  // throws FlagError if not a finite number
  // The same, range-checked: throws FlagError naming the flag, the range and the value when
  // the value is outside [lo, hi]. Use the int form for an `int` target with hi <= INT_MAX,
  // so nothing is truncated by a cast.
  int64_t get_int(const std::string& flag, int64_t lo, int64_t hi) const;
  double get_float(const std::string& flag, double lo, double hi) const;
  // Floats in (lo, hi]: a learning rate > 0, a kept fraction > 0.
  double get_float_above(const std::string& flag, double lo, double hi) const;
  bool get_bool(const std::string& flag) const;
  // A comma-separated flag ("0.66,0.12,0.08"): its items, or its items as numbers (exits 2
  // naming the flag and the item when one is not a number). An empty value gives no items.
  std::vector<std::string> get_list(const std::string& flag) const;
  std::vector<double> get_numbers(const std::string& flag) const;
  std::vector<double> get_numbers(const std::string& flag, double lo, double hi) const;  // each in [lo, hi]
  bool given(const std::string& flag) const { return given_.count(flag) > 0; }
  void print_usage() const;
  [[noreturn]] void fail(const std::string& message) const;  // throws FlagError(message)

 private:
  struct Opt {
    std::string def, help;
  };
  std::string program_, what_, duration_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> values_;
  int64_t val_quick_ = -1;   // val_default(..., quick_n): what --quick holds out when --val is not given
  std::map<std::string, bool> given_;
  std::map<std::string, std::string> refused_;  // common flag not taken -> why
  std::vector<std::string> outputs_;             // flags checked writable in parse()
};


// Simulation = deployment (issue 12): a compressed model run from its real format (CSR, a
// .mgfdc file, packed bits) must give the predictions of the float model that simulates it,
// and logits within kSimDeployLogitBudget of its logits. The formats store the same numbers
// (masked weights, centroids), so the only difference left is float summation order (CSR
// skips zeros, im2col vs direct): about 1e-5 on logits of magnitude 10, a hundred times under
// the budget, while a wrong index or centroid moves a logit by 1e-2 or more.
constexpr double kSimDeployLogitBudget = 1e-3;

// Throws std::runtime_error (run_main: exit 1) naming `what`, the count of differing
// predictions and the largest logit difference when `differing` > 0 or `max_logit_diff` >
// `budget`. Pass max_logit_diff < 0 where only predictions are compared.
void check_sim_equals_deploy(const std::string& what, int64_t differing, int64_t total, double max_logit_diff,
                             double budget = kSimDeployLogitBudget);

}  // namespace mgf

// engine/cli.h — the flags every example takes, parsed one way, and the result table.
//
// Every example program accepts the same flags so a reader learns them once (DESIGN.md):
//   --help  --quick  --data DIR  --epochs N  --seed N  --threads N  --kernels scalar|avx2
//   --json FILE  --svg FILE
// plus flags of its own, declared with `option(...)`. A bad flag ends the program with a
// message that says what was expected and what was found, and exit status 2.
//
//   ExampleArgs args("magnitude_pruning", "Reproduces Han et al. 2015 Table 1 ...",
//                    "full run: about 20 min on 2 cores");
//   args.option("--quality", "1.0", "threshold = quality x std of the layer's weights");
//   args.parse(argc, argv);              // handles --help, --threads, --kernels, --seed
//   float q = args.get_float("--quality");
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/io/file.h"  // write_file_atomic, for the examples

namespace mgf {

class ExampleArgs {
 public:
  ExampleArgs(std::string program, std::string what, std::string duration);

  // Declares an extra flag with its default ("" for a flag without default) and help line.
  // A flag whose default is "false" or "true" is a switch: `--flag` alone sets it true.
  void option(const std::string& flag, const std::string& default_value, const std::string& help);

  // Parses argv; on --help prints usage and exits 0; on a bad flag prints why and exits 2.
  // Applies --threads (set_num_threads), --kernels (set_kernel_mode) and --seed (manual_seed).
  void parse(int argc, char** argv);

  bool quick() const { return get_bool("--quick"); }
  int epochs(int full, int quick_value) const;  // --epochs if given, else quick ? quick_value : full
  uint64_t seed() const { return static_cast<uint64_t>(get_int("--seed")); }
  std::string data_dir() const { return get("--data"); }  // "" = search the usual places
  std::string json_path() const { return get("--json"); }
  std::string svg_path(const std::string& fallback) const;  // --svg if given, else fallback

  std::string get(const std::string& flag) const;
  int64_t get_int(const std::string& flag) const;   // exits 2 with a message if not an integer
  double get_float(const std::string& flag) const;  // exits 2 with a message if not a number
  bool get_bool(const std::string& flag) const;
  // A comma-separated flag ("0.66,0.12,0.08"): its items, or its items as numbers (exits 2
  // naming the flag and the item when one is not a number). An empty value gives no items.
  std::vector<std::string> get_list(const std::string& flag) const;
  std::vector<double> get_numbers(const std::string& flag) const;
  bool given(const std::string& flag) const { return given_.count(flag) > 0; }
  void print_usage() const;
  [[noreturn]] void fail(const std::string& message) const;  // "<program>: message" + hint; exit 2

 private:
  struct Opt {
    std::string def, help;
  };
  std::string program_, what_, duration_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> given_;
};

// A result table: printed aligned on stdout and, with --json, written as an array of
// objects (one per row). Cells are strings; numbers are formatted by the caller (fmt()).
class ResultTable {
 public:
  explicit ResultTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<std::string> cells);  // throws if the count differs from the columns
  void print(const std::string& title = "") const;
  // Atomic write (temporary file + rename); numbers that parse as numbers are written bare.
  void write_json(const std::string& path) const;
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Mean and sample standard deviation (n - 1) of per-seed results; sd is 0 for one value.
struct MeanSd {
  double mean = 0, sd = 0;
};
MeanSd mean_sd(const std::vector<double>& v);

std::string fmt(double v, int decimals = 2);  // fixed notation
std::string fmt_pct(double fraction, int decimals = 2);  // 0.0164 -> "1.64 %"

}  // namespace mgf

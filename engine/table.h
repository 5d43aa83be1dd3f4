// engine/table.h — the result table every example prints (and writes as JSON with --json),
// with the number formatting and per-seed statistics that fill it. Separate from engine/cli.h
// (the examples' flags) so that library code such as engine/summary.h can build a table
// without depending on the command-line layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mgf {

// A result table: printed aligned on stdout and, with --json, written as an array of
// objects (one per row). Cells are strings; numbers are formatted by the caller (fmt()).
// In the JSON every number is a JSON number: a cell "1.64 %" in column "error" becomes
// "error (%)": 1.64, "36.4x" becomes "<column> (x)": 36.4, "1.6 ± 0.1 %" becomes
// "<column> (%)": 1.6 and "<column> sd (%)": 0.1, and "-" or "" becomes null.
class ResultTable {
 public:
  explicit ResultTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<std::string> cells);  // throws if the count differs from the columns
  void print(const std::string& title = "") const;
  // Atomic write (temporary file + rename); numbers as JSON numbers, units in the key (above).
  void write_json(const std::string& path) const;
  std::string json() const;
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

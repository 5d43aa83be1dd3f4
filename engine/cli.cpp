// engine/cli.cpp — see cli.h.
#include "engine/cli.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "engine/kernels/cpu.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace mgf {

ExampleArgs::ExampleArgs(std::string program, std::string what, std::string duration)
    : program_(std::move(program)), what_(std::move(what)), duration_(std::move(duration)) {
  option("--quick", "false", "a run of seconds on a small slice, for CI and a first look");
  option("--data", "", "directory of the IDX files (MNIST format); default: $MGF_DATA, ./data, ../shared/data");
  option("--epochs", "", "training epochs (default: the chapter's full schedule, or its --quick one)");
  option("--seed", "1", "random seed; the same seed and thread count give the same run");
  option("--threads", "", "worker threads (default: $MGF_THREADS or all cores)");
  option("--kernels", "", "force one side of every kernel: scalar | avx2 (default: the best the CPU has)");
  option("--json", "", "also write the result table as JSON to this file");
  option("--svg", "", "where to write the figure");
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

void ExampleArgs::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\n(run '%s --help' for the flags)\n", program_.c_str(), message.c_str(),
               program_.c_str());
  std::exit(2);
}

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
  if (given("--threads")) {
    int64_t t = get_int("--threads");
    if (t < 1 || t > 256) fail("--threads expects 1..256, found " + get("--threads"));
    set_num_threads(static_cast<int>(t));
  }
  if (given("--kernels")) {
    try {
      set_kernel_mode(parse_kernel_mode(get("--kernels").c_str()));
    } catch (const std::invalid_argument& e) {
      fail(std::string("--kernels: ") + e.what());
    }
  }
  if (given("--epochs") && get_int("--epochs") < 0) fail("--epochs expects a number >= 0, found " + get("--epochs"));
  manual_seed(seed());
}

int ExampleArgs::epochs(int full, int quick_value) const {
  if (given("--epochs")) return static_cast<int>(get_int("--epochs"));
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

MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd r;
  if (v.empty()) return r;
  for (double x : v) r.mean += x;
  r.mean /= static_cast<double>(v.size());
  if (v.size() < 2) return r;
  for (double x : v) r.sd += (x - r.mean) * (x - r.mean);
  r.sd = std::sqrt(r.sd / static_cast<double>(v.size() - 1));
  return r;
}

// ---- ResultTable -----------------------------------------------------------------------
void ResultTable::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns_.size())
    throw std::invalid_argument("ResultTable::add_row: expected " + std::to_string(columns_.size()) +
                                " cells, found " + std::to_string(cells.size()));
  rows_.push_back(std::move(cells));
}

void ResultTable::print(const std::string& title) const {
  std::vector<size_t> w(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    w[c] = columns_[c].size();
    for (const auto& r : rows_) w[c] = std::max(w[c], r[c].size());
  }
  if (!title.empty()) std::printf("\n%s\n", title.c_str());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (size_t c = 0; c < cells.size(); ++c) s += " " + cells[c] + std::string(w[c] - cells[c].size(), ' ') + " |";
    std::printf("%s\n", s.c_str());
  };
  line(columns_);
  std::string sep = "|";
  for (size_t c = 0; c < columns_.size(); ++c) sep += std::string(w[c] + 2, '-') + "|";
  std::printf("%s\n", sep.c_str());
  for (const auto& r : rows_) line(r);
  std::fflush(stdout);
}

static std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\', o += ch;
    else if (ch == '\n') o += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20) o += ' ';
    else o += ch;
  }
  return o;
}

static bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return *end == '\0' && std::isfinite(v);
}

void ResultTable::write_json(const std::string& path) const {
  std::ostringstream o;
  o << "[\n";
  for (size_t r = 0; r < rows_.size(); ++r) {
    o << "  {";
    for (size_t c = 0; c < columns_.size(); ++c) {
      o << (c ? ", " : "") << '"' << json_escape(columns_[c]) << "\": ";
      if (is_number(rows_[r][c])) o << rows_[r][c];
      else o << '"' << json_escape(rows_[r][c]) << '"';
    }
    o << "}" << (r + 1 < rows_.size() ? "," : "") << "\n";
  }
  o << "]\n";
  write_file_atomic(path, o.str());
}

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_pct(double fraction, int decimals) { return fmt(100.0 * fraction, decimals) + " %"; }

}  // namespace mgf

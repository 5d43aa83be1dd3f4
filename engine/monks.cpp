// engine/monks.cpp — see monks.h (the MONK's problems, UCI text format).
#include "engine/monks.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/data.h"

namespace mgf {

namespace fs = std::filesystem;

std::vector<MonksExample> parse_monks(const std::string& text, const std::string& name) {
  std::vector<MonksExample> out;
  std::istringstream lines(text);
  std::string line;
  int64_t lineno = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string s; fields >> s;) f.push_back(s);
    if (f.empty()) continue;  // blank lines (the UCI files end with one)
    const std::string where = name + ":" + std::to_string(lineno) + ": ";
    if (f.size() < 7)
      throw std::runtime_error(where + "expected 8 fields (class a1..a6 id), found " + std::to_string(f.size()));
    auto integer = [&](size_t k, int lo, int hi, const char* what) {
      char* end = nullptr;
      const long v = std::strtol(f[k].c_str(), &end, 10);
      if (end == f[k].c_str() || *end != '\0' || v < lo || v > hi)
        throw std::runtime_error(where + what + " expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                                 ", found '" + f[k] + "'");
      return static_cast<int>(v);
    };
    MonksExample e;
    e.label = integer(0, 0, 1, "class:");
    static const char* names[6] = {"a1:", "a2:", "a3:", "a4:", "a5:", "a6:"};
    for (int i = 0; i < 6; ++i) e.a[i] = integer(static_cast<size_t>(i + 1), 1, kMonksValues[i], names[i]);
    out.push_back(e);
  }
  if (out.empty()) throw std::runtime_error(name + ": expected MONK's examples, found none");
  return out;
}

std::vector<MonksExample> load_monks(const std::string& flag_dir, int problem, const std::string& split) {
  if (problem < 1 || problem > 3 || (split != "train" && split != "test"))
    throw std::invalid_argument("load_monks: expected problem 1..3 and split train|test, found " + std::to_string(problem) +
                                " and '" + split + "'");
  const std::string file = "monks-" + std::to_string(problem) + "." + split;
  std::string tried;
  for (const std::string& dir : data_search_path(flag_dir, "monks")) {
    const fs::path p = fs::path(dir) / file;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      tried += "\n  " + p.string();
      continue;
    }
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in) throw std::runtime_error(p.string() + ": cannot be read");
    return parse_monks(ss.str(), p.string());
  }
  throw std::runtime_error("MONK's file " + file + " not found; looked in:" + tried +
                           "\nthe UCI files belong in ../shared/data/monks (or give --data DIR)");
}

std::array<double, kMonksInputs> monks_one_hot(const MonksExample& e) {
  std::array<double, kMonksInputs> x{};
  int base = 0;
  for (int i = 0; i < 6; ++i) {
    x[static_cast<size_t>(base + e.a[i] - 1)] = 1.0;
    base += kMonksValues[i];
  }
  return x;
}

}  // namespace mgf

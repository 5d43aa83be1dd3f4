// engine/table.cpp — see table.h.
#include "engine/table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/io/file.h"

namespace mgf {

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

// One table cell read back as JSON values. "1.64 %" -> 1.64 with unit "%"; "36.4x" -> 36.4,
// unit "x"; "1.6 ± 0.1 %" -> 1.6 and sd 0.1; "120 / 430500" or "1.30x / 4.61x" -> an array
// [120, 430500]; a trailing "(370/2000)" -> a detail value, "(same)" -> a note; "-" -> null;
// anything else ("lenet5", "2 prune (CSR)", "108x at 0.91 %") stays a string. The units
// are a closed list (is_unit).
struct JsonCell {
  enum Kind { null, numeric, text } kind = text;
  std::string text_value, sd, unit, note;
  std::vector<std::string> values, detail;  // detail: the numbers of a trailing "(...)"
};

static std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The number at the start of `s` in JSON spelling (the table's digits kept), or "".
static std::string leading_number(const std::string& s, size_t* used) {
  const char* begin = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  *used = static_cast<size_t>(end - begin);
  if (*used == 0 || !std::isfinite(v)) return "";
  for (size_t i = 0; i < *used; ++i)  // refuse strtod's hex, inf and nan spellings
    if (std::isalpha(static_cast<unsigned char>(s[i])) && s[i] != 'e' && s[i] != 'E') return "";
  std::string n = s.substr(0, *used);
  if (n[0] == '+') n.erase(0, 1);
  if (n[0] == '.') n.insert(0, "0");
  if (n.size() > 1 && n[0] == '-' && n[1] == '.') n.insert(1, "0");
  if (n.back() == '.') n.pop_back();
  return n;
}

// The units the tables print. A closed list: "2 prune" or "1 naive" is a label, not a number.
static bool is_unit(const std::string& u) {
  static const std::set<std::string> units = {"",   "%",  "x",  "pp", "B",  "KB", "kB", "MB", "GB",
                                              "bytes", "bits", "s", "ms", "us", "\xC2\xB5s", "ns"};
  return units.count(u) > 0;
}

// "a [± b] [unit] [/ c [unit] ...]" -> values, sd (single value only), unit; false if not that.
static bool parse_numbers(const std::string& text, std::vector<std::string>& values, std::string& sd, std::string& unit) {
  std::string rest = trim(text);
  while (true) {
    size_t used = 0;
    const std::string v = leading_number(rest, &used);
    if (v.empty()) return false;
    values.push_back(v);
    rest = trim(rest.substr(used));
    for (const std::string pm : {"\xC2\xB1", "+/-", "+-"}) {  // "±" in UTF-8, or an ASCII spelling
      if (rest.rfind(pm, 0) != 0) continue;
      const std::string r2 = trim(rest.substr(pm.size()));
      size_t used2 = 0;
      sd = leading_number(r2, &used2);
      if (sd.empty()) return false;
      rest = trim(r2.substr(used2));
      break;
    }
    const size_t slash = rest.find('/');
    const std::string u = trim(rest.substr(0, slash));
    if (!is_unit(u) || (values.size() > 1 && !u.empty() && u != unit)) return false;
    if (!u.empty()) unit = u;
    if (slash == std::string::npos) break;
    rest = trim(rest.substr(slash + 1));
  }
  return sd.empty() || values.size() == 1;
}

static bool has_digit(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

static JsonCell parse_cell(const std::string& raw) {
  JsonCell c;
  const std::string s = trim(raw);
  if (s.empty() || s == "-" || s == "n/a") {
    c.kind = JsonCell::null;
    return c;
  }
  c.text_value = s;
  std::string main = s, paren;
  if (const size_t open = s.rfind(" ("); s.back() == ')' && open != std::string::npos) {
    main = s.substr(0, open);
    paren = s.substr(open + 2, s.size() - open - 3);
  }
  if (!parse_numbers(main, c.values, c.sd, c.unit)) return JsonCell{JsonCell::text, s, "", "", "", {}, {}};
  if (!paren.empty()) {
    std::string psd, punit;
    if (has_digit(paren) && !(parse_numbers(paren, c.detail, psd, punit) && psd.empty() && punit.empty()))
      return JsonCell{JsonCell::text, s, "", "", "", {}, {}};
    if (!has_digit(paren)) c.note = paren;
  }
  c.kind = JsonCell::numeric;
  return c;
}

static std::string with_unit(const std::string& column, const std::string& unit) {
  if (unit.empty() || column.find("(" + unit + ")") != std::string::npos) return column;
  if (column.rfind(unit + " ", 0) == 0) return column;  // "% of peak" already names its unit
  if (column.size() > unit.size() && column.compare(column.size() - unit.size(), unit.size(), unit) == 0 &&
      column[column.size() - unit.size() - 1] == ' ')
    return column;  // "error %" already names its unit
  return column + " (" + unit + ")";
}

static std::string json_numbers(const std::vector<std::string>& v) {
  if (v.size() == 1) return v[0];
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + v[i];
  return o + "]";
}

std::string ResultTable::json() const {
  std::vector<std::vector<JsonCell>> cells(rows_.size());
  for (size_t r = 0; r < rows_.size(); ++r)
    for (const std::string& c : rows_[r]) cells[r].push_back(parse_cell(c));
  // A column whose numbers share one unit gets it in its key in every row, nulls included, so
  // every row has the same keys; a column of mixed units or with text names the unit per cell.
  std::vector<std::string> unit(columns_.size());
  std::vector<bool> one_unit(columns_.size(), true);
  for (size_t c = 0; c < columns_.size(); ++c) {
    bool seen = false;
    for (const auto& row : cells) {
      const JsonCell& x = row[c];
      if (x.kind == JsonCell::text) one_unit[c] = false;
      if (x.kind != JsonCell::numeric) continue;
      if (seen && x.unit != unit[c]) one_unit[c] = false;
      unit[c] = x.unit;
      seen = true;
    }
  }
  std::ostringstream o;
  o << "[\n";
  for (size_t r = 0; r < rows_.size(); ++r) {
    o << "  {";
    for (size_t c = 0; c < columns_.size(); ++c) {
      const JsonCell& x = cells[r][c];
      const std::string& u = one_unit[c] ? unit[c] : x.unit;
      auto key = [&](const std::string& k) { return '"' + json_escape(k) + "\": "; };
      o << (c ? ", " : "") << key(with_unit(columns_[c], u));
      if (x.kind == JsonCell::null) o << "null";
      else if (x.kind == JsonCell::text) o << '"' << json_escape(x.text_value) << '"';
      else o << json_numbers(x.values);
      if (!x.sd.empty()) o << ", " << key(with_unit(columns_[c] + " sd", u)) << x.sd;
      if (!x.detail.empty()) o << ", " << key(columns_[c] + " detail") << json_numbers(x.detail);
      if (!x.note.empty()) o << ", " << key(columns_[c] + " note") << '"' << json_escape(x.note) << '"';
    }
    o << "}" << (r + 1 < rows_.size() ? "," : "") << "\n";
  }
  o << "]\n";
  return o.str();
}

void ResultTable::write_json(const std::string& path) const { write_file_atomic(path, json()); }

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_pct(double fraction, int decimals) { return fmt(100.0 * fraction, decimals) + " %"; }

}  // namespace mgf

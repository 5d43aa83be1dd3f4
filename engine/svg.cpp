// engine/svg.cpp — see svg.h.
#include "engine/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "engine/io/file.h"

namespace mgf {

const char* SvgPlot::palette(size_t i) {
  static const char* p[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  return p[i % 8];
}

void SvgPlot::line(const std::string& name, const std::vector<double>& x, const std::vector<double>& y,
                   const std::string& colour, bool dashed) {
  if (x.size() != y.size())
    throw std::invalid_argument("SvgPlot::line(" + name + "): x has " + std::to_string(x.size()) + " values, y has " +
                                std::to_string(y.size()));
  series_.push_back({name, colour.empty() ? palette(series_.size()) : colour, x, y, true, dashed, 0});
}

void SvgPlot::points(const std::string& name, const std::vector<double>& x, const std::vector<double>& y,
                     const std::string& colour, double radius) {
  if (x.size() != y.size())
    throw std::invalid_argument("SvgPlot::points(" + name + "): x has " + std::to_string(x.size()) +
                                " values, y has " + std::to_string(y.size()));
  series_.push_back({name, colour.empty() ? palette(series_.size()) : colour, x, y, false, false, radius});
}

void SvgPlot::cell(double x0, double y0, double x1, double y1, const std::string& colour, double opacity) {
  cells_.push_back({x0, y0, x1, y1, opacity, colour});
}

void SvgPlot::hline(double y, const std::string& label, const std::string& colour) {
  hlines_.push_back({y, label, colour});
}

static std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

static std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string SvgPlot::render() const {
  const double L = 70, R = 20 + (series_.empty() ? 0 : 150), T = 36, B = 50;
  const double pw = width - L - R, ph = height - T - B;
  auto tx = [&](double v, bool lg) { return lg ? std::log10(std::max(v, 1e-300)) : v; };
  // data ranges (after the log transform)
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  auto take = [&](double x, double y) {
    if (!std::isfinite(x) || !std::isfinite(y) || (log_x && x <= 0) || (log_y && y <= 0)) return;
    x0 = std::min(x0, tx(x, log_x)), x1 = std::max(x1, tx(x, log_x));
    y0 = std::min(y0, tx(y, log_y)), y1 = std::max(y1, tx(y, log_y));
  };
  for (const auto& s : series_)
    for (size_t i = 0; i < s.x.size(); ++i) take(s.x[i], s.y[i]);
  for (const auto& c : cells_) take(c.x0, c.y0), take(c.x1, c.y1);
  for (const auto& h : hlines_)
    if (!log_y || h.y > 0) y0 = std::min(y0, tx(h.y, log_y)), y1 = std::max(y1, tx(h.y, log_y));
  if (x0 > x1) x0 = 0, x1 = 1;
  if (y0 > y1) y0 = 0, y1 = 1;
  if (xr_.fixed) x0 = tx(xr_.lo, log_x), x1 = tx(xr_.hi, log_x);
  if (yr_.fixed) y0 = tx(yr_.lo, log_y), y1 = tx(yr_.hi, log_y);
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  if (!yr_.fixed && !log_y) {
    double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
  }
  auto X = [&](double v) { return L + (tx(v, log_x) - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return T + ph - (tx(v, log_y) - y0) / (y1 - y0) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << L + pw / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" << esc(title_)
    << "</text>\n";
  o << "<clipPath id=\"plot\"><rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph
    << "\"/></clipPath>\n";
  for (const auto& c : cells_) {
    double a = X(c.x0), b = X(c.x1), p = Y(c.y1), q = Y(c.y0);
    o << "<rect x=\"" << std::min(a, b) << "\" y=\"" << std::min(p, q) << "\" width=\"" << std::fabs(b - a) + 0.5
      << "\" height=\"" << std::fabs(q - p) + 0.5 << "\" fill=\"" << c.colour << "\" fill-opacity=\"" << c.opacity
      << "\" stroke=\"none\" clip-path=\"url(#plot)\"/>\n";
  }
  // ticks: 5 per axis; on a log axis, at the powers of ten
  auto ticks = [&](double lo, double hi, bool lg, bool is_x) {
    std::vector<double> t;
    if (lg) {
      for (double e = std::ceil(lo - 1e-9); e <= hi + 1e-9; e += 1) t.push_back(std::pow(10.0, e));
    } else {
      double step = std::pow(10.0, std::floor(std::log10((hi - lo) / 5)));
      for (double m : {1.0, 2.0, 5.0, 10.0})
        if ((hi - lo) / (step * m) <= 6) {
          step *= m;
          break;
        }
      for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
    }
    for (double v : t) {
      if (is_x) {
        double px = X(v);
        o << "<line x1=\"" << px << "\" y1=\"" << T << "\" x2=\"" << px << "\" y2=\"" << T + ph
          << "\" stroke=\"#eee\"/>\n<text x=\"" << px << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\">"
          << num(v) << "</text>\n";
      } else {
        double py = Y(v);
        o << "<line x1=\"" << L << "\" y1=\"" << py << "\" x2=\"" << L + pw << "\" y2=\"" << py
          << "\" stroke=\"#eee\"/>\n<text x=\"" << L - 6 << "\" y=\"" << py + 4 << "\" text-anchor=\"end\">" << num(v)
          << "</text>\n";
      }
    }
  };
  ticks(x0, x1, log_x, true);
  ticks(y0, y1, log_y, false);
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << L + pw / 2 << "\" y=\"" << height - 12 << "\" text-anchor=\"middle\">" << esc(xlabel_)
    << "</text>\n";
  o << "<text transform=\"translate(16," << T + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(ylabel_)
    << "</text>\n";
  for (const auto& h : hlines_) {
    double py = Y(h.y);
    o << "<line x1=\"" << L << "\" y1=\"" << py << "\" x2=\"" << L + pw << "\" y2=\"" << py << "\" stroke=\""
      << h.colour << "\" stroke-dasharray=\"6,4\"/>\n<text x=\"" << L + 4 << "\" y=\"" << py - 4 << "\" fill=\""
      << h.colour << "\">" << esc(h.label) << "</text>\n";
  }
  for (const auto& s : series_) {
    if (s.is_line) {
      o << "<polyline fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " clip-path=\"url(#plot)\" points=\"";
      for (size_t i = 0; i < s.x.size(); ++i) {
        if ((log_x && s.x[i] <= 0) || (log_y && s.y[i] <= 0) || !std::isfinite(s.y[i])) continue;
        o << X(s.x[i]) << ',' << Y(s.y[i]) << ' ';
      }
      o << "\"/>\n";
    }
    if (!s.is_line || s.x.size() <= 30)
      for (size_t i = 0; i < s.x.size(); ++i) {
        if ((log_x && s.x[i] <= 0) || (log_y && s.y[i] <= 0) || !std::isfinite(s.y[i])) continue;
        o << "<circle cx=\"" << X(s.x[i]) << "\" cy=\"" << Y(s.y[i]) << "\" r=\"" << (s.is_line ? 3.0 : s.radius)
          << "\" fill=\"" << s.colour << "\" clip-path=\"url(#plot)\"/>\n";
      }
  }
  double ly = T + 8;
  for (const auto& s : series_) {
    if (s.name.empty()) continue;
    o << "<rect x=\"" << L + pw + 12 << "\" y=\"" << ly - 8 << "\" width=\"12\" height=\"12\" fill=\"" << s.colour
      << "\"/>\n<text x=\"" << L + pw + 30 << "\" y=\"" << ly + 2 << "\">" << esc(s.name) << "</text>\n";
    ly += 18;
  }
  o << "</svg>\n";
  return o.str();
}

void SvgPlot::write(const std::string& path) const { write_file_atomic(path, render()); }

}  // namespace mgf

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
  if (v == 0) v = 0;   // -0.0 compares equal to 0: print it as "0", never "-0"
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

double SvgPlot::text_width(const std::string& s, double font_size) {
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80;   // count UTF-8 code points, not bytes
  // 0.65 em per character: wider than the average DejaVu/Arial glyph (about 0.55 em), so an
  // estimate from it errs on the side of more room, never less.
  return 0.65 * font_size * static_cast<double>(chars);
}

namespace {

struct Tick {
  double v;     // data value (not log-transformed)
  bool label;   // major (grid line + label) or minor (short mark only)
};

// Linear ticks: about 5 at 1-2-5 steps. `integers`: every data value on this axis is an
// integer (epochs, bit widths), so a step below 1 would label values no run can have.
std::vector<Tick> linear_ticks(double lo, double hi, bool integers) {
  double step = std::pow(10.0, std::floor(std::log10((hi - lo) / 5)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if ((hi - lo) / (step * m) <= 6) {
      step *= m;
      break;
    }
  if (integers && step < 1) step = 1;
  std::vector<Tick> t;
  // integer k, not an accumulated v += step: k = 0 gives exactly +0 (std::ceil(-0.3) is -0.0)
  for (long long k = static_cast<long long>(std::ceil(lo / step - 1e-9)); k * step <= hi + 1e-9 * step; ++k)
    t.push_back({static_cast<double>(k) * step, true});
  return t;
}

// Log ticks over [10^lo, 10^hi]: labelled decades with unlabelled 2..9 minors when the range
// holds three decades or more; else labelled 1-2-5 values when that gives three labels; else
// every 1..9 x 10^e; else (a range narrower than one such step) linear ticks placed on the log
// scale. Always >= 2 labels, so a reader can tell the scale from the axis alone.
std::vector<Tick> log_ticks(double lo, double hi) {
  const double eps = 1e-9;
  auto inside = [&](double v) { return std::log10(v) >= lo - eps && std::log10(v) <= hi + eps; };
  std::vector<Tick> t;
  const long long e0 = static_cast<long long>(std::floor(lo)), e1 = static_cast<long long>(std::ceil(hi));
  int decades = 0;
  for (long long e = e0; e <= e1; ++e) decades += inside(std::pow(10.0, static_cast<double>(e)));
  auto walk = [&](auto&& is_major) {
    t.clear();
    int labelled = 0;
    for (long long e = e0; e <= e1; ++e)
      for (int m = 1; m <= 9; ++m) {
        const double v = m * std::pow(10.0, static_cast<double>(e));
        if (!inside(v)) continue;
        const bool major = is_major(m);
        if (!major && hi - lo > 8) continue;   // minors would merge into a grey band
        t.push_back({v, major});
        labelled += major;
      }
    return labelled;
  };
  if (decades >= 3) {
    walk([](int m) { return m == 1; });
    return t;
  }
  if (walk([](int m) { return m == 1 || m == 2 || m == 5; }) >= 3) return t;
  if (walk([](int) { return true; }) >= 2) return t;
  t.clear();
  for (const Tick& k : linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), false))
    if (k.v > 0) t.push_back(k);
  return t;
}

}  // namespace

std::string SvgPlot::render() const {
  auto tx = [&](double v, bool lg) { return lg ? std::log10(std::max(v, 1e-300)) : v; };
  // data ranges (after the log transform)
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  bool x_int = true, y_int = true;   // every plotted value an integer (see linear_ticks)
  auto take = [&](double x, double y) {
    if (!std::isfinite(x) || !std::isfinite(y) || (log_x && x <= 0) || (log_y && y <= 0)) return;
    x0 = std::min(x0, tx(x, log_x)), x1 = std::max(x1, tx(x, log_x));
    y0 = std::min(y0, tx(y, log_y)), y1 = std::max(y1, tx(y, log_y));
    x_int = x_int && x == std::round(x), y_int = y_int && y == std::round(y);
  };
  for (const auto& s : series_)
    for (size_t i = 0; i < s.x.size(); ++i) take(s.x[i], s.y[i]);
  for (const auto& c : cells_) take(c.x0, c.y0), take(c.x1, c.y1);
  for (const auto& h : hlines_)
    if (!log_y || h.y > 0)
      y0 = std::min(y0, tx(h.y, log_y)), y1 = std::max(y1, tx(h.y, log_y)), y_int = y_int && h.y == std::round(h.y);
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
  const std::vector<Tick> xt = log_x ? log_ticks(x0, x1) : linear_ticks(x0, x1, x_int);
  const std::vector<Tick> yt = log_y ? log_ticks(y0, y1) : linear_ticks(y0, y1, y_int);

  // Layout. The plot area keeps the size the caller's width/height gave it before legends
  // were measured (640 x 420 -> 400 x 334); everything measured around it widens the canvas
  // instead of being cut off at its edge: the y tick labels, the legend beside the plot (series
  // and reference lines), the title, the axis label.
  const double fs = 12, gap = 6;
  std::vector<const Series*> legend;
  for (const auto& s : series_)
    if (!s.name.empty()) legend.push_back(&s);
  double ytick_w = 0, legend_w = 0;
  for (const Tick& k : yt)
    if (k.label) ytick_w = std::max(ytick_w, text_width(num(k.v), fs));
  for (const Series* s : legend) legend_w = std::max(legend_w, 30 + text_width(s->name, fs));
  for (const auto& h : hlines_) legend_w = std::max(legend_w, 30 + text_width(h.label, fs));
  const size_t legend_rows = legend.size() + hlines_.size();
  const double L = std::max(70.0, 24 + gap + ytick_w + gap), T = 36, B = 50;
  const double pw = std::max(100.0, width - 70.0 - 20 - (series_.empty() ? 0 : 150)), ph = height - T - B;
  double W = L + pw + (legend_rows == 0 ? 20 : 12 + legend_w + 12);
  const double title_w = text_width(title_, 14), xlabel_w = text_width(xlabel_, fs);
  double title_x = std::max(L + pw / 2, title_w / 2 + 4);
  W = std::max({W, title_x + title_w / 2 + 4, L + pw / 2 + xlabel_w / 2 + 4, static_cast<double>(width)});
  for (const Tick& k : xt)   // the last x label is centred on the plot's right edge
    if (k.label) W = std::max(W, L + pw + text_width(num(k.v), fs) / 2 + 4);
  W = std::ceil(W);
  const double H = std::ceil(std::max(static_cast<double>(height), T + 8 + 18.0 * static_cast<double>(legend_rows) + 4));

  auto X = [&](double v) { return L + (tx(v, log_x) - x0) / (x1 - x0) * pw; };
  auto Y = [&](double v) { return T + ph - (tx(v, log_y) - y0) / (y1 - y0) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << ' ' << H << "\" font-family=\"sans-serif\" font-size=\"" << fs << "\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << title_x << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" << esc(title_) << "</text>\n";
  o << "<clipPath id=\"plot\"><rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph
    << "\"/></clipPath>\n";
  for (const auto& c : cells_) {
    double a = X(c.x0), b = X(c.x1), p = Y(c.y1), q = Y(c.y0);
    o << "<rect x=\"" << std::min(a, b) << "\" y=\"" << std::min(p, q) << "\" width=\"" << std::fabs(b - a) + 0.5
      << "\" height=\"" << std::fabs(q - p) + 0.5 << "\" fill=\"" << c.colour << "\" fill-opacity=\"" << c.opacity
      << "\" stroke=\"none\" clip-path=\"url(#plot)\"/>\n";
  }
  for (const Tick& k : xt) {
    const double px = X(k.v);
    if (k.label)
      o << "<line x1=\"" << px << "\" y1=\"" << T << "\" x2=\"" << px << "\" y2=\"" << T + ph
        << "\" stroke=\"#eee\"/>\n<text class=\"xtick\" x=\"" << px << "\" y=\"" << T + ph + 16
        << "\" text-anchor=\"middle\">" << num(k.v) << "</text>\n";
    else
      o << "<line x1=\"" << px << "\" y1=\"" << T + ph - 4 << "\" x2=\"" << px << "\" y2=\"" << T + ph
        << "\" stroke=\"#333\"/>\n";
  }
  for (const Tick& k : yt) {
    const double py = Y(k.v);
    if (k.label)
      o << "<line x1=\"" << L << "\" y1=\"" << py << "\" x2=\"" << L + pw << "\" y2=\"" << py
        << "\" stroke=\"#eee\"/>\n<text class=\"ytick\" x=\"" << L - gap << "\" y=\"" << py + 4
        << "\" text-anchor=\"end\">" << num(k.v) << "</text>\n";
    else
      o << "<line x1=\"" << L << "\" y1=\"" << py << "\" x2=\"" << L + 4 << "\" y2=\"" << py << "\" stroke=\"#333\"/>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << L + pw / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">" << esc(xlabel_) << "</text>\n";
  o << "<text transform=\"translate(16," << T + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << esc(ylabel_)
    << "</text>\n";
  for (const auto& h : hlines_) {   // labelled in the legend: a label on the line would sit on the data
    double py = Y(h.y);
    o << "<line x1=\"" << L << "\" y1=\"" << py << "\" x2=\"" << L + pw << "\" y2=\"" << py << "\" stroke=\""
      << h.colour << "\" stroke-dasharray=\"6,4\"/>\n";
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
  // the legend, beside the plot: a line swatch (dashed like its series) or a dot for points,
  // then the reference lines
  double ly = T + 8;
  const double lx = L + pw + 12;
  for (const Series* s : legend) {
    if (s->is_line)
      o << "<line x1=\"" << lx << "\" y1=\"" << ly - 2 << "\" x2=\"" << lx + 22 << "\" y2=\"" << ly - 2 << "\" stroke=\""
        << s->colour << "\" stroke-width=\"2\"" << (s->dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    else
      o << "<circle cx=\"" << lx + 11 << "\" cy=\"" << ly - 2 << "\" r=\"4\" fill=\"" << s->colour << "\"/>\n";
    o << "<text class=\"legend\" x=\"" << lx + 30 << "\" y=\"" << ly + 2 << "\">" << esc(s->name) << "</text>\n";
    ly += 18;
  }
  for (const auto& h : hlines_) {   // reference lines after the series, drawn as they are in the plot
    o << "<line x1=\"" << lx << "\" y1=\"" << ly - 2 << "\" x2=\"" << lx + 22 << "\" y2=\"" << ly - 2 << "\" stroke=\""
      << h.colour << "\" stroke-dasharray=\"6,4\"/>\n<text class=\"legend\" x=\"" << lx + 30 << "\" y=\"" << ly + 2
      << "\">" << esc(h.label) << "</text>\n";
    ly += 18;
  }
  o << "</svg>\n";
  return o.str();
}

void SvgPlot::write(const std::string& path) const { write_file_atomic(path, render()); }

}  // namespace mgf

// engine/svg.h — figures for the book, written by the examples themselves as SVG.
//
// A deliberately small plotter: line and scatter series on linear or log axes with ticks,
// labels and a legend beside the plot, plus filled cells (a decision-boundary heat map) and
// dashed reference lines. Log axes get labelled decades (or 1-2-5 values on a short range);
// an axis whose data are all integers (epochs, bits) gets integer ticks.
//   SvgPlot p("Sparse vs dense", "density (%)", "time (µs)");
//   p.log_x = true;
//   p.line("CSR AVX2", xs, ys);
//   p.write("build/breakeven.svg");   // atomic: temporary file + rename
#pragma once
#include <string>
#include <vector>

namespace mgf {

class SvgPlot {
 public:
  SvgPlot(std::string title, std::string xlabel, std::string ylabel)
      : title_(std::move(title)), xlabel_(std::move(xlabel)), ylabel_(std::move(ylabel)) {}

  bool log_x = false, log_y = false;
  // The canvas size the plot area is laid out for; render() widens (or heightens) the canvas
  // beyond it when the legend, title or labels need more room, rather than cutting them off.
  int width = 640, height = 420;

  // colour "" = next from the palette
  void line(const std::string& name, const std::vector<double>& x, const std::vector<double>& y,
            const std::string& colour = "", bool dashed = false);
  void points(const std::string& name, const std::vector<double>& x, const std::vector<double>& y,
              const std::string& colour = "", double radius = 2.5);
  // An axis-aligned filled rectangle in data coordinates (for heat maps), no legend entry.
  void cell(double x0, double y0, double x1, double y1, const std::string& colour, double opacity = 1.0);
  // A dashed horizontal reference line across the plot; its label goes in the legend.
  void hline(double y, const std::string& label, const std::string& colour = "#888");
  void set_x_range(double lo, double hi) { xr_ = {lo, hi, true}; }
  void set_y_range(double lo, double hi) { yr_ = {lo, hi, true}; }

  std::string render() const;
  void write(const std::string& path) const;   // throws std::runtime_error naming the path

  static const char* palette(size_t i);        // 8 distinguishable colours
  // A generous estimate of a text's rendered width in px (no font metrics here): layout
  // reserves this much, so a label may end short of its room but never past the canvas.
  static double text_width(const std::string& s, double font_size);

 private:
  struct Series {
    std::string name, colour;
    std::vector<double> x, y;
    bool is_line, dashed;
    double radius;
  };
  struct Cell {
    double x0, y0, x1, y1, opacity;
    std::string colour;
  };
  struct HLine {
    double y;
    std::string label, colour;
  };
  struct Range {
    double lo = 0, hi = 1;
    bool fixed = false;
  };
  std::string title_, xlabel_, ylabel_;
  std::vector<Series> series_;
  std::vector<Cell> cells_;
  std::vector<HLine> hlines_;
  Range xr_, yr_;
};

}  // namespace mgf

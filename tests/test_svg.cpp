// tests/test_svg.cpp — TEST_SUITE("engine"): the book's figures must be readable. Renders
// SvgPlot with long series names, long titles and log axes, parses the SVG text back and checks
// that no text runs past the canvas and that every axis carries enough labelled ticks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <string>
#include <vector>

#include "engine/svg.h"

using namespace mgf;

namespace {

struct Text {
  double x = 0, y = 0, size = 12;
  std::string anchor = "start", cls, content;
  bool rotated = false;
};

struct Parsed {
  double width = 0, height = 0;
  std::vector<Text> texts;
};

// Plain string scanning rather than <regex>: g++ 12's <regex> trips -Werror=maybe-uninitialized
// in the sanitizer build (-O1), and the SVG we parse is our own, one element per tag.
std::string attr(const std::string& tag, const std::string& name) {
  const std::string key = name + "=\"";
  for (size_t at = tag.find(key); at != std::string::npos; at = tag.find(key, at + 1)) {
    if (at == 0 || !std::isspace(static_cast<unsigned char>(tag[at - 1]))) continue;  // "x=" inside "font-x="
    const size_t from = at + key.size(), to = tag.find('"', from);
    if (to != std::string::npos) return tag.substr(from, to - from);
  }
  return "";
}

Parsed parse(const std::string& svg) {
  Parsed p;
  const size_t svg_at = svg.find("<svg ");
  REQUIRE(svg_at != std::string::npos);
  const std::string svg_tag = svg.substr(svg_at, svg.find('>', svg_at) - svg_at);
  p.width = std::stod(attr(svg_tag, "width"));
  p.height = std::stod(attr(svg_tag, "height"));
  for (size_t at = svg.find("<text"); at != std::string::npos; at = svg.find("<text", at + 1)) {
    const size_t close = svg.find('>', at), end = svg.find("</text>", at);
    REQUIRE(close != std::string::npos);
    REQUIRE(end != std::string::npos);
    const std::string tag = svg.substr(at + 5, close - at - 5);
    Text t;
    t.content = svg.substr(close + 1, end - close - 1);
    if (!attr(tag, "font-size").empty()) t.size = std::stod(attr(tag, "font-size"));
    if (!attr(tag, "text-anchor").empty()) t.anchor = attr(tag, "text-anchor");
    t.cls = attr(tag, "class");
    const std::string tr = attr(tag, "transform");
    if (const size_t tp = tr.find("translate("); tp != std::string::npos) {
      const size_t comma = tr.find(',', tp);
      t.x = std::stod(tr.substr(tp + 10, comma - tp - 10)), t.y = std::stod(tr.substr(comma + 1));
      t.rotated = tr.find("rotate") != std::string::npos;
    } else {
      t.x = std::stod(attr(tag, "x")), t.y = std::stod(attr(tag, "y"));
    }
    p.texts.push_back(t);
  }
  return p;
}

// A conservative width estimate, written here independently of the renderer: 0.65 em per
// character is wider than the mean glyph of the usual sans-serif fonts (about 0.55 em).
double est_width(const Text& t) {
  size_t chars = 0;
  for (unsigned char c : t.content) chars += (c & 0xC0) != 0x80;
  for (const char* e : {"&lt;", "&gt;", "&amp;"})   // an entity is one character on screen
    for (size_t at = t.content.find(e); at != std::string::npos; at = t.content.find(e, at + 1))
      chars -= std::string(e).size() - 1;
  return 0.65 * t.size * static_cast<double>(chars);
}

// Every text's estimated box lies inside the canvas; returns the number checked.
int check_inside(const Parsed& p) {
  for (const Text& t : p.texts) {
    const double w = est_width(t);
    const double lo = t.anchor == "middle" ? -w / 2 : t.anchor == "end" ? -w : 0, hi = lo + w;
    INFO("text \"" << t.content << "\" at (" << t.x << ", " << t.y << "), canvas " << p.width << " x " << p.height);
    if (t.rotated) {   // rotate(-90): the text runs upwards from the anchor
      CHECK(t.y - hi >= 0);
      CHECK(t.y - lo <= p.height);
      CHECK(t.x - t.size >= 0);
    } else {
      CHECK(t.x + lo >= 0);
      CHECK(t.x + hi <= p.width);
      CHECK(t.y - t.size >= 0);
      CHECK(t.y <= p.height);
    }
  }
  return static_cast<int>(p.texts.size());
}

std::vector<std::string> labels(const Parsed& p, const std::string& cls) {
  std::vector<std::string> v;
  for (const Text& t : p.texts)
    if (t.cls == cls) v.push_back(t.content);
  return v;
}

}  // namespace

TEST_SUITE("engine") {
  TEST_CASE("SvgPlot: long legends, titles and reference labels stay inside the canvas") {
    SvgPlot p("Deep Compression, lenet300 on fashion-mnist: a deliberately long title for the test",
              "compression ratio (float checkpoint bytes / file bytes)", "test error (%)");
    p.log_x = true;
    p.line("ours: baseline -> P+Q file -> P+Q+H file, measured from the written files", {1, 30, 40}, {1.4, 1.5, 1.6});
    p.line("paper (Table 1): baseline -> P+Q -> P+Q+H", {1, 32, 40}, {1.6, 1.6, 1.6}, "", true);
    p.points("Guo et al. 2016 (abstract): 108x at 0.91 %", {20}, {1.7});
    p.hline(1.45, "a reference line whose label is longer than the plot area is wide, on purpose, to test it");
    const std::string svg = p.render();
    const Parsed parsed = parse(svg);
    CHECK(parsed.width > 640);   // widened for the legend, not cut
    CHECK(check_inside(parsed) >= 10);
    CHECK(labels(parsed, "legend").size() == 4);   // three series and the reference line

    // many series: the canvas grows downwards so that the legend's last row is inside
    SvgPlot q("many", "x", "y");
    for (int i = 0; i < 30; ++i) q.line("series number " + std::to_string(i), {0, 1}, {0, double(i)});
    const Parsed pq = parse(q.render());
    CHECK(pq.height > 420);
    check_inside(pq);
  }

  TEST_CASE("SvgPlot: log axes get >= 2 labelled ticks, decades when the range holds three") {
    struct Case {
      double lo, hi;
      std::vector<std::string> expect;   // empty: only count
    };
    for (const Case& c : {Case{1, 1000, {"1", "10", "100", "1000"}}, Case{0.004, 0.9, {"0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"}},
                          Case{30, 300, {"50", "100", "200"}}, Case{42, 151, {"50", "60", "70", "80", "90", "100"}}, Case{3.1, 3.9, {}}, Case{0.0101, 0.0103, {}}}) {
      SvgPlot p("log", "x", "y");
      p.log_x = p.log_y = true;
      p.line("a rather long series name that must not be cut off at the right edge", {c.lo, c.hi}, {c.lo, c.hi});
      const Parsed parsed = parse(p.render());
      INFO("range " << c.lo << " .. " << c.hi);
      const auto xs = labels(parsed, "xtick"), ys = labels(parsed, "ytick");
      CHECK(xs.size() >= 2);
      CHECK(ys.size() >= 2);
      CHECK(xs == ys);
      if (!c.expect.empty()) CHECK(xs == c.expect);   // minors (2..9 x 10^k) are drawn unlabelled
      check_inside(parsed);
    }
  }

  TEST_CASE("SvgPlot: integer ticks on integer axes, and no \"-0\"") {
    SvgPlot p("bits", "fc1 weight bits", "test error (%)");
    p.line("linear", {2, 3, 4}, {-0.3, 12.5, 40});   // the y range pads below 0: old ticks said "-0"
    const Parsed parsed = parse(p.render());
    CHECK(labels(parsed, "xtick") == std::vector<std::string>{"2", "3", "4"});
    const auto ys = labels(parsed, "ytick");
    CHECK(std::find(ys.begin(), ys.end(), "0") != ys.end());
    CHECK(std::find(ys.begin(), ys.end(), "-0") == ys.end());

    SvgPlot e("epochs", "epoch", "error");
    e.line("e", {1, 2}, {0.5, 0.25});
    CHECK(labels(parse(e.render()), "xtick") == std::vector<std::string>{"1", "2"});
    SvgPlot f("fractions", "x", "y");   // non-integer data keep their fine steps
    f.line("f", {1, 2.5}, {0, 1});
    CHECK(labels(parse(f.render()), "xtick").size() >= 4);
  }
}

// compression/pruning/sensitivity.cpp — see sensitivity.h (Han et al. 2015, Fig. 6).
// Book: book/14-magnitude_pruning.md.
#include "compression/pruning/sensitivity.h"

#include "compression/pruning/magnitude.h"
#include "engine/svg.h"

namespace mgf {

namespace {
// Puts a weight tensor back as it was when the scope ends, whatever happens inside.
struct RestoreValues {
  Tensor& target;
  Tensor saved;
  explicit RestoreValues(Tensor& t) : target(t), saved(t.clone()) {}
  ~RestoreValues() {
    for (int64_t i = 0; i < saved.numel(); ++i) target[i] = saved[i];
  }
};
}  // namespace

std::vector<SensitivityPoint> sensitivity_scan(const std::vector<NamedParameter>& layers,
                                               const std::vector<double>& keeps,
                                               const std::function<double()>& error) {
  std::vector<SensitivityPoint> out;
  for (const auto& np : layers) {
    Tensor& w = np.param->var.value();
    for (double keep : keeps) {
      RestoreValues restore(w);
      // Only the values are zeroed (no mask is set): this is inference, nothing retrains.
      const Tensor m = sparsity_mask(w, keep);
      for (int64_t i = 0; i < w.numel(); ++i) w[i] *= m[i];
      out.push_back({np.name, keep, error()});
    }
  }
  return out;
}

void write_sensitivity_svg(const std::vector<SensitivityPoint>& pts, double baseline_error, const std::string& title,
                           const std::string& path) {
  SvgPlot plot(title, "weights kept in the one pruned layer (%)", "test error (%)");
  plot.log_x = true;
  std::vector<std::string> names;
  for (const auto& p : pts)
    if (names.empty() || names.back() != p.layer) names.push_back(p.layer);
  for (const auto& name : names) {
    std::vector<double> xs, ys;
    for (const auto& p : pts)
      if (p.layer == name) {
        xs.push_back(100.0 * p.keep);
        ys.push_back(100.0 * p.error);
      }
    plot.line(name, xs, ys);
  }
  plot.hline(100.0 * baseline_error, "dense baseline");
  plot.write(path);
}

}  // namespace mgf

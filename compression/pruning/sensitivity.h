// compression/pruning/sensitivity.h — the sensitivity analysis of Han et al. 2015, §4.4 and
// Fig. 6: prune ONE layer at a time to a given density, without retraining, and measure the
// error; the curves show which layers tolerate pruning (FC) and which do not (first conv).
// Han used them to choose each layer's quality parameter. Book: book/14-magnitude_pruning.md.
// Deliberately not here: retraining, and choosing the per-layer thresholds automatically.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "layers/module.h"

namespace mgf {

struct SensitivityPoint {
  std::string layer;   // parameter name, e.g. "fc1.weight"
  double keep;         // fraction of the layer's weights kept
  double error;        // error rate of the whole model with only this layer pruned
};

// For each layer in `layers` and each keep fraction in `keeps`: prune that layer alone by
// magnitude (sparsity_mask), call `error()` (the caller's evaluation, e.g. test-set error),
// and restore the weights exactly. The model is unchanged on return (also on an exception).
std::vector<SensitivityPoint> sensitivity_scan(const std::vector<NamedParameter>& layers,
                                               const std::vector<double>& keeps,
                                               const std::function<double()>& error);

// One line per layer: x = % of weights kept (log axis), y = error %; written atomically.
void write_sensitivity_svg(const std::vector<SensitivityPoint>& pts, double baseline_error, const std::string& title,
                           const std::string& path);

}  // namespace mgf

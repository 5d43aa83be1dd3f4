// engine/summary.cpp — see summary.h.
#include "engine/kernels/timing.h"
#include "engine/summary.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "engine/ops.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/sequential.h"

namespace mgf {

namespace {
int64_t own_params(Module& m) {  // parameters registered on m itself, not on its children
  int64_t n = m.num_parameters();
  for (auto& c : m.children()) n -= c.second->num_parameters();
  return n;
}
int64_t nonzero_params(Module& m) {
  int64_t n = 0;
  for (Parameter* p : m.parameters()) {
    if (!p->has_mask()) {
      n += p->var.value().numel();
      continue;
    }
    for (int64_t i = 0; i < p->mask.numel(); ++i) n += p->mask[i] != 0.0f;
  }
  return n;
}
}  // namespace

int64_t parameter_bytes(Module& m) {
  if (auto* r = dynamic_cast<ReportsBytes*>(&m)) return r->parameter_bytes();
  int64_t b = 4 * own_params(m);
  for (auto& c : m.children()) b += parameter_bytes(*c.second);
  return b;
}

int64_t layer_macs(Module& m, const Shape& input, const Shape& output) {
  if (auto* r = dynamic_cast<ReportsMacs*>(&m)) return r->macs_per_image(input, output);
  const int64_t n = output.empty() ? 1 : std::max<int64_t>(output[0], 1);
  if (auto* l = dynamic_cast<Linear*>(&m)) return l->in_features * l->out_features;
  if (auto* c = dynamic_cast<Conv2d*>(&m)) {
    // every output value is a dot product of length (C/groups)·k·k
    const Shape& w = c->weight.var.value().shape();  // [OC, C/g, k, k]
    return shape_numel(output) / n * w[1] * w[2] * w[3];
  }
  if (dynamic_cast<Sequential*>(&m) && !m.children().empty()) {
    // a nested chain: walk its children with a zero image to learn each one's input shape
    NoGradGuard ng;
    Var cur(Tensor(input, 0.0f));
    int64_t macs = 0;
    for (auto& c : m.children()) {
      Var in = cur;
      if (dynamic_cast<Linear*>(c.second.get()) && in.value().ndim() > 2) in = flatten(in);
      cur = c.second->forward(in);
      macs += layer_macs(*c.second, in.shape(), cur.shape());   // already per image
    }
    return macs;
  }
  return 0;
}

int64_t conv_macs(const Shape& w, int64_t out_h, int64_t out_w) { return w[0] * out_h * out_w * w[1] * w[2] * w[3]; }

int64_t peak_activation_bytes(Module& model, const Shape& input) {
  const bool was_training = model.training();
  model.eval();
  NoGradGuard ng;
  Var x(Tensor(input, 0.5f));
  const int64_t before = tensor_bytes_live();
  reset_tensor_bytes_peak();
  { Var y = model.forward(x); }   // y (the logits) is alive at the end, so it counts too
  const int64_t peak = tensor_bytes_peak() - before;
  model.train(was_training);
  return peak;
}

ModelSummary summarize(Module& model, const Shape& input, int repeats) {
  const bool was_training = model.training();
  model.eval();
  NoGradGuard ng;
  ModelSummary s;
  Tensor x(input, 0.5f);
  std::vector<std::pair<std::string, Module*>> layers;
  for (auto& c : model.children()) layers.push_back({c.first, c.second.get()});
  if (layers.empty()) layers.push_back({model.type_name(), &model});
  Var cur(x);
  for (auto& [name, m] : layers) {
    Var in = cur;
    if (dynamic_cast<Linear*>(m) && in.value().ndim() > 2) in = flatten(in);
    LayerSummary L;
    L.name = name;
    L.type = m->type_name();
    cur = m->forward(in);
    L.output = cur.shape();
    L.params = m->num_parameters();
    L.nonzero = nonzero_params(*m);
    L.macs = layer_macs(*m, in.shape(), cur.shape());
    L.bytes = parameter_bytes(*m);
    L.latency_us = median_call_us([&, m = m] { m->forward(in); }, repeats);
    s.params += L.params;
    s.nonzero += L.nonzero;
    s.macs += L.macs;
    s.layers.push_back(L);
  }
  s.bytes = parameter_bytes(model);
  s.latency_us = median_call_us([&] { model.forward(Var(x)); }, repeats);
  model.train(was_training);
  return s;
}

ResultTable ModelSummary::table() const {
  ResultTable t({"layer", "type", "output", "params", "non-zero", "MACs/image", "bytes", "latency (us)"});
  for (const auto& L : layers)
    t.add_row({L.name, L.type, shape_str(L.output), std::to_string(L.params), std::to_string(L.nonzero),
               std::to_string(L.macs), std::to_string(L.bytes), fmt(L.latency_us, 1)});
  t.add_row({"total", "", "", std::to_string(params), std::to_string(nonzero), std::to_string(macs),
             std::to_string(bytes), fmt(latency_us, 1)});
  return t;
}

}  // namespace mgf

// compression/pruning/sparse_model.cpp — see sparse_model.h.
#include "compression/pruning/sparse_model.h"

#include <functional>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "layers/conv.h"
#include "layers/linear.h"

namespace mgf {

namespace {
// The weight as the layer computes with it: value ⊙ mask (a pruned weight is an exact 0, so
// csr_from_tensor drops it).
Tensor effective_value(const Parameter& p) {
  NoGradGuard ng;
  return p.effective().value();
}
}  // namespace

SparseModel::SparseModel(Sequential& net, SparseConvAlgo conv_algo) {
  for (auto& [name, m] : net) {
    SparseModelLayer L;
    L.name = name;
    if (auto* lin = dynamic_cast<Linear*>(m.get())) {
      const Tensor w = effective_value(lin->weight);
      L.linear = std::make_shared<SparseLinear>(w, lin->bias ? effective_value(*lin->bias) : Tensor());
      L.kept = L.linear->weight().nnz();
      L.total = w.numel();
      L.csr_bytes = L.linear->storage_bytes();
    } else if (auto* conv = dynamic_cast<Conv2d*>(m.get())) {
      const Tensor w = effective_value(conv->weight);
      L.conv = std::make_shared<SparseConv2d>(w, conv->bias ? effective_value(*conv->bias) : Tensor(), conv->options,
                                              conv_algo);
      L.kept = L.conv->nnz();
      L.total = w.numel();
      L.csr_bytes = L.conv->storage_bytes();
    } else {
      m->eval();  // pooling, activations: no mode; anything with one (dropout) runs as at test time
      L.other = m;
    }
    layers_.push_back(std::move(L));
  }
  if (layers_.empty()) throw std::invalid_argument("SparseModel: expected a Sequential with children, found none");
}

Tensor SparseModel::forward_layer(size_t i, const Tensor& h) const {
  if (i >= layers_.size())
    throw std::out_of_range("SparseModel::forward_layer: expected a layer index < " + std::to_string(layers_.size()) +
                            ", found " + std::to_string(i));
  const SparseModelLayer& L = layers_[i];
  if (L.linear) return L.linear->forward(h.ndim() > 2 ? h.reshape({h.dim(0), -1}) : h);
  if (L.conv) return L.conv->forward(h);
  NoGradGuard ng;
  return L.other->forward(Var(h)).value();
}

Tensor SparseModel::logits(const Tensor& x) const {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) h = forward_layer(i, h);
  return h;
}

int64_t SparseModel::kept() const {
  int64_t n = 0;
  for (auto& L : layers_) n += L.kept;
  return n;
}
int64_t SparseModel::total() const {
  int64_t n = 0;
  for (auto& L : layers_) n += L.total;
  return n;
}
int64_t SparseModel::csr_bytes() const {
  int64_t n = 0;
  for (auto& L : layers_) n += L.csr_bytes;
  return n;
}
void SparseModel::set_conv_algo(SparseConvAlgo a) {
  for (auto& L : layers_)
    if (L.conv) L.conv->set_algo(a);
}

std::vector<SparseLayerTime> time_sparse_model(const SparseModel& sm, Sequential& net, const Tensor& x, int samples) {
  if (sm.layers().size() != net.size())
    throw std::invalid_argument("time_sparse_model: expected the net the model was built from (" +
                                std::to_string(sm.layers().size()) + " layers), found " + std::to_string(net.size()));
  NoGradGuard ng;
  net.eval();
  // The dense side: each layer's op on its weight ⊙ mask as a plain dense tensor — what the
  // unpruned model costs. (The masked model as trained also multiplies by the mask in every
  // forward, a cost no deployment would pay, so it is not the baseline.)
  std::vector<std::function<Tensor(const Tensor&)>> dense;
  for (size_t i = 0; i < sm.layers().size(); ++i) {
    Module* m = net.children()[i].second.get();
    if (auto* lin = dynamic_cast<Linear*>(m)) {
      const Var w(effective_value(lin->weight)), b = lin->bias ? Var(effective_value(*lin->bias)) : Var();
      dense.push_back([w, b](const Tensor& h) {
        return linear(Var(h.ndim() > 2 ? h.reshape({h.dim(0), -1}) : h), w, b).value();
      });
    } else if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      const Var w(effective_value(conv->weight)), b = conv->bias ? Var(effective_value(*conv->bias)) : Var();
      const Conv2dOptions o = conv->options;
      dense.push_back([w, b, o](const Tensor& h) { return conv2d(Var(h), w, b, o).value(); });
    } else {
      dense.push_back([m](const Tensor& h) { return m->forward(Var(h)).value(); });
    }
  }
  // Each variant: a few calls per sample (about 0.3 ms), so short layers are not timer noise.
  auto measure = [&](const std::vector<std::function<void()>>& fns) {
    std::vector<int> inner;
    for (auto& f : fns) inner.push_back(calls_for(f, 300.0, 1000));
    return median_call_us_interleaved(fns, samples, inner);
  };
  auto set_algo = [&](SparseConvAlgo a) {
    for (auto& L : sm.layers())
      if (L.conv) L.conv->set_algo(a);
  };
  const SparseConvAlgo saved = [&] {
    for (auto& L : sm.layers())
      if (L.conv) return L.conv->algo();
    return kDefaultSparseConvAlgo;
  }();
  std::vector<SparseLayerTime> rows;
  Tensor h = x;
  for (size_t i = 0; i < sm.layers().size(); ++i) {
    const SparseModelLayer& L = sm.layers()[i];
    auto run_dense = [&] { dense[i](h); };
    SparseLayerTime t{L.name, L.kept, L.total, 0, 0, 0};
    if (L.conv) {
      const auto us = measure({run_dense,
                               [&] {
                                 L.conv->set_algo(SparseConvAlgo::im2col);
                                 L.conv->forward(h);
                               },
                               [&] {
                                 L.conv->set_algo(SparseConvAlgo::direct);
                                 L.conv->forward(h);
                               }});
      t.dense_us = us[0];
      t.im2col_us = us[1];
      t.direct_us = us[2];
    } else {
      const auto us = measure({run_dense, [&] { sm.forward_layer(i, h); }});
      t.dense_us = us[0];
      t.im2col_us = t.direct_us = us[1];
    }
    rows.push_back(t);
    h = sm.forward_layer(i, h);
  }
  const auto us = measure({[&] {
                             Tensor d = x;
                             for (auto& f : dense) d = f(d);
                           },
                           [&] {
                             set_algo(SparseConvAlgo::im2col);
                             sm.logits(x);
                           },
                           [&] {
                             set_algo(SparseConvAlgo::direct);
                             sm.logits(x);
                           }});
  set_algo(saved);
  rows.push_back({"model", sm.kept(), sm.total(), us[0], us[1], us[2]});
  return rows;
}

}  // namespace mgf

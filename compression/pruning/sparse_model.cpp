// compression/pruning/sparse_model.cpp — see sparse_model.h.
#include "compression/pruning/sparse_model.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/kernels/timing.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/threads.h"
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
  // Each variant: enough calls per sample for about 0.3 ms, timed in process CPU time
  // (std::clock), so the time this process sat descheduled on a shared machine is left out —
  // wall time made a whole LeNet-5 at batch 64 (several ms, longer than a time slice) swing by
  // 3x between runs. Variants interleaved, medians over samples.
  auto measure = [&](const std::vector<std::function<void()>>& fns) {
    std::vector<int> inner;
    for (auto& f : fns) inner.push_back(calls_for(f, 300.0, 1000));
    std::vector<std::vector<double>> us(fns.size());
    for (int s = 0; s < std::max(samples, 1); ++s)
      for (size_t i = 0; i < fns.size(); ++i) {
        const std::clock_t c0 = std::clock();
        for (int r = 0; r < inner[i]; ++r) fns[i]();
        us[i].push_back(1e6 * static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / inner[i]);
      }
    std::vector<double> med;
    for (auto& u : us) med.push_back(median_of(u));
    return med;
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
    SparseLayerTime t{L.name, L.kept, L.total, 0, 0, 0, 0};
    if (L.conv) {
      auto run_with = [&](SparseConvAlgo a) {
        return [&, a] {
          L.conv->set_algo(a);
          L.conv->forward(h);
        };
      };
      const auto us = measure({run_dense, run_with(SparseConvAlgo::im2col), run_with(SparseConvAlgo::direct),
                               run_with(SparseConvAlgo::scatter)});
      t.dense_us = us[0];
      t.im2col_us = us[1];
      t.direct_us = us[2];
      t.scatter_us = us[3];
    } else {
      const auto us = measure({run_dense, [&] { sm.forward_layer(i, h); }});
      t.dense_us = us[0];
      t.im2col_us = t.direct_us = t.scatter_us = us[1];
    }
    rows.push_back(t);
    h = sm.forward_layer(i, h);
  }
  auto model_with = [&](SparseConvAlgo a) {
    return [&, a] {
      set_algo(a);
      sm.logits(x);
    };
  };
  const auto us = measure({[&] {
                             Tensor d = x;
                             for (auto& f : dense) d = f(d);
                           },
                           model_with(SparseConvAlgo::im2col), model_with(SparseConvAlgo::direct),
                           model_with(SparseConvAlgo::scatter)});
  set_algo(saved);
  rows.push_back({"model", sm.kept(), sm.total(), us[0], us[1], us[2], us[3]});
  return rows;
}

ResultTable sparse_timing_table(const SparseModel& sm, Sequential& net, const Shape& image, int samples,
                                std::vector<SparseLayerTime>* model_rows) {
  const SparseConvAlgo algo = [&] {
    for (auto& L : sm.layers())
      if (L.conv) return L.conv->algo();
    return kDefaultSparseConvAlgo;
  }();
  ResultTable t({"layer", "kept", "batch", "dense (us)", "CSR im2col (us)", "CSR direct (us)", "CSR scatter (us)",
                 "direct / im2col", "dense / CSR (" + std::string(sparse_conv_algo_name(algo)) + ")"});
  const int saved_threads = num_threads();
  set_num_threads(1);  // one core for every variant: a per-core comparison
  for (int64_t N : {int64_t{1}, int64_t{64}}) {
    Shape s{N};
    s.insert(s.end(), image.begin(), image.end());
    Rng rng(3);
    Tensor x(s);
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
    for (const SparseLayerTime& l : time_sparse_model(sm, net, x, samples)) {
      t.add_row({l.name, l.total ? fmt_pct(static_cast<double>(l.kept) / l.total, 2) : "-", std::to_string(N),
                 fmt(l.dense_us, 2), fmt(l.im2col_us, 2), fmt(l.direct_us, 2), fmt(l.scatter_us, 2),
                 fmt(l.direct_us / l.im2col_us, 2), fmt(l.dense_us / l.us(algo), 2) + "x"});
      if (model_rows && l.name == "model") model_rows->push_back(l);
    }
  }
  set_num_threads(saved_threads);
  return t;
}

}  // namespace mgf

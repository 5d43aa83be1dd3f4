// compression/pruning/sparse_model.cpp — see sparse_model.h.
#include "compression/pruning/sparse_model.h"

#include <stdexcept>
#include <string>

#include "engine/autograd.h"
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

Tensor SparseModel::forward(const Tensor& x) const {
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

}  // namespace mgf

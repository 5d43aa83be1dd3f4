// engine/ops_shape.cpp — reshape, flatten, concat/split along channels, channel shuffle.
// Book: book/01-autograd.md. These ops move numbers without changing them, so each
// backward is the same movement run in reverse: the gradient of a copy is a copy back.
// channel_shuffle is ShuffleNet's (Zhang et al. 2017, §3.1) "reshape (g, n) → transpose →
// flatten", done as one index permutation. Not here: general strided views or
// arbitrary-axis concat (the engine has no strided tensors; channels are all CNNs need).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/kernels/elementwise.h"
#include "engine/ops.h"

namespace mgf {

// ---- reshape: same storage, new shape;  da += dy (same order of elements) -------------
Var reshape(const Var& a, Shape s) {
  Tensor y = a.value().reshape(std::move(s));  // throws naming both shapes
  return make_result("reshape", std::move(y), {a}, [an = a.node()](Node& self) {
    add_inplace(grad_buffer(*an).data(), self.grad.data(), self.grad.numel());
  });
}

// ---- flatten: [N, ...] → [N, rest] --------------------------------------------------------
Var flatten(const Var& a) {
  if (a.value().ndim() < 1) shape_error("flatten", "a tensor with a batch dim [N, ...]", a.shape());
  const int64_t N = a.value().dim(0);
  return reshape(a, {N, N == 0 ? 0 : a.value().numel() / N});
}

namespace {

// A tensor of 2 or 4 dims seen as [N, C, S] with S = H·W (or 1): channel blocks are
// contiguous runs of C_i·S floats inside each image, which makes concat and split memcpy-like.
struct ChannelView {
  int64_t N, C, S;
};

ChannelView channel_view(const char* op, const Tensor& t) {
  if (t.ndim() != 2 && t.ndim() != 4) shape_error(op, "[N, C] or [N, C, H, W]", t.shape());
  return {t.dim(0), t.dim(1), t.ndim() == 4 ? t.dim(2) * t.dim(3) : 1};
}

}  // namespace

// ---- concat along dim 1: y[n] = (x0[n]; x1[n]; ...);  dx_i += the matching slice of dy --
Var concat_channels(const std::vector<Var>& xs) {
  if (xs.empty()) throw std::invalid_argument("concat_channels: expected at least one input, found none");
  const Tensor& first = xs[0].value();
  ChannelView v0 = channel_view("concat_channels", first);
  int64_t total_c = 0;
  for (const Var& x : xs) {
    const Tensor& t = x.value();
    ChannelView v = channel_view("concat_channels", t);
    bool same_rest = t.ndim() == first.ndim() && v.N == v0.N &&
                     (t.ndim() == 2 || (t.dim(2) == first.dim(2) && t.dim(3) == first.dim(3)));
    if (!same_rest)
      throw std::invalid_argument("concat_channels: every input must match the first except in dim 1, found " +
                                  first.str() + " and " + t.str());
    total_c += v.C;
  }
  Shape out = first.shape();
  out[1] = total_c;
  Tensor y(out);
  const int64_t N = v0.N, S = v0.S;
  int64_t c0 = 0;
  std::vector<int64_t> offsets;
  for (const Var& x : xs) {
    const int64_t C = x.value().dim(1);
    const float* px = x.value().data();
    for (int64_t n = 0; n < N; ++n)  // one contiguous run of C·S floats per image
      std::copy(px + n * C * S, px + (n + 1) * C * S, y.data() + (n * total_c + c0) * S);
    offsets.push_back(c0);
    c0 += C;
  }
  std::vector<std::shared_ptr<Node>> nodes;
  for (const Var& x : xs) nodes.push_back(x.node());
  return make_result("concat_channels", std::move(y), xs, [nodes, offsets, N, S, total_c](Node& self) {
    const float* dy = self.grad.data();
    for (size_t k = 0; k < nodes.size(); ++k) {
      if (!nodes[k]->requires_grad) continue;
      const int64_t C = nodes[k]->value.dim(1);
      float* dx = grad_buffer(*nodes[k]).data();
      for (int64_t n = 0; n < N; ++n)
        add_inplace(dx + n * C * S, dy + (n * total_c + offsets[k]) * S, C * S);
    }
  });
}

// ---- split along dim 1: piece k = x[:, c_k : c_k + sizes[k]];  dx[slice] += dpiece ------
std::vector<Var> split_channels(const Var& x, const std::vector<int64_t>& sizes) {
  ChannelView v = channel_view("split_channels", x.value());
  int64_t total = 0;
  std::string sz;
  for (int64_t s : sizes) {
    if (s < 0) throw std::invalid_argument("split_channels: negative size " + std::to_string(s));
    total += s;
    sz += (sz.empty() ? "" : ", ") + std::to_string(s);
  }
  if (total != v.C)
    throw std::invalid_argument("split_channels: sizes [" + sz + "] sum to " + std::to_string(total) +
                                ", but input " + x.value().str() + " has " + std::to_string(v.C) + " channels");
  std::vector<Var> out;
  int64_t c0 = 0;
  for (int64_t C : sizes) {
    Shape s = x.shape();
    s[1] = C;
    Tensor y(s);
    const float* px = x.value().data();
    for (int64_t n = 0; n < v.N; ++n)
      std::copy(px + (n * v.C + c0) * v.S, px + (n * v.C + c0 + C) * v.S, y.data() + n * C * v.S);
    out.push_back(make_result("split_channels", std::move(y), {x}, [xn = x.node(), v, c0, C](Node& self) {
      const float* dy = self.grad.data();
      float* dx = grad_buffer(*xn).data();
      for (int64_t n = 0; n < v.N; ++n) add_inplace(dx + (n * v.C + c0) * v.S, dy + n * C * v.S, C * v.S);
    }));
    c0 += C;
  }
  return out;
}

// ---- channel shuffle (ShuffleNet §3.1): channel (i_g, i_n) of the (g, n) grid moves to
// position i_n·g + i_g, so every group of the next grouped conv sees every group of this one.
// Backward moves each gradient back along the same permutation.
Var channel_shuffle(const Var& x, int64_t groups) {
  const Tensor& X = x.value();
  check_ndim("channel_shuffle", X, 4);
  const int64_t N = X.dim(0), C = X.dim(1), S = X.dim(2) * X.dim(3);
  if (groups < 1 || C % groups != 0)
    throw std::invalid_argument("channel_shuffle: channels must be a multiple of groups, found " +
                                std::to_string(C) + " channels in " + X.str() + " and groups = " +
                                std::to_string(groups));
  const int64_t g = groups, n_per = C / groups;
  Tensor y(X.shape());
  const float* px = X.data();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ig = 0; ig < g; ++ig)
      for (int64_t in = 0; in < n_per; ++in) {
        const float* src = px + (n * C + ig * n_per + in) * S;
        std::copy(src, src + S, y.data() + (n * C + in * g + ig) * S);
      }
  return make_result("channel_shuffle", std::move(y), {x}, [xn = x.node(), N, C, S, g, n_per](Node& self) {
    const float* dy = self.grad.data();
    float* dx = grad_buffer(*xn).data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ig = 0; ig < g; ++ig)
        for (int64_t in = 0; in < n_per; ++in) {
          add_inplace(dx + (n * C + ig * n_per + in) * S, dy + (n * C + in * g + ig) * S, S);
        }
  });
}

}  // namespace mgf

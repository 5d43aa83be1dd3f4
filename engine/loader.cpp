// engine/loader.cpp — see loader.h.
#include "engine/loader.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace mgf {

DataLoader::DataLoader(const Dataset& data, int64_t batch, bool shuffle, Rng& rng, int jitter)
    : data_(data), batch_(batch), shuffle_(shuffle), rng_(rng), jitter_(jitter) {
  if (batch < 1) throw std::invalid_argument("DataLoader: batch must be >= 1, found " + std::to_string(batch));
  if (jitter < 0) throw std::invalid_argument("DataLoader: jitter must be >= 0, found " + std::to_string(jitter));
  if (data.images.ndim() != 4 || data.images.dim(0) != data.size())
    throw std::invalid_argument("DataLoader: expected images [N, C, H, W] with N = " + std::to_string(data.size()) +
                                " labels, found " + data.images.str());
  reset();
}

// A new epoch: the identity order, shuffled by Fisher-Yates from our Rng, so the same seed
// gives the same sequence of batches on every platform.
void DataLoader::reset() {
  order_.resize(static_cast<size_t>(size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_) rng_.shuffle(order_);
  pos_ = 0;
}

void translate_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w, int dx, int dy, float fill) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y - dy;  // the source row that lands on row y
      float* out = dst + (ch * h + y) * w;
      if (sy < 0 || sy >= h) {
        std::fill(out, out + w, fill);
        continue;
      }
      const float* in = src + (ch * h + sy) * w;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = x - dx;
        out[x] = (sx < 0 || sx >= w) ? fill : in[sx];
      }
    }
}

bool DataLoader::next(Tensor& x, std::vector<int32_t>& y) {
  if (pos_ >= size()) {
    reset();
    return false;
  }
  const int64_t b = std::min(batch_, size() - pos_);  // the ragged last batch is smaller
  Shape s = data_.images.shape();
  const int64_t c = s[1], h = s[2], w = s[3], per = c * h * w;
  s[0] = b;
  x = Tensor(s);
  y.resize(static_cast<size_t>(b));
  const float* src = data_.images.data();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = order_[static_cast<size_t>(pos_ + i)];
    y[static_cast<size_t>(i)] = data_.labels[static_cast<size_t>(k)];
    if (jitter_ > 0) {
      const int dx = static_cast<int>(rng_.randint(2 * jitter_ + 1)) - jitter_;
      const int dy = static_cast<int>(rng_.randint(2 * jitter_ + 1)) - jitter_;
      translate_image(src + k * per, x.data() + i * per, c, h, w, dx, dy, data_.background);
    } else {
      std::copy(src + k * per, src + (k + 1) * per, x.data() + i * per);
    }
  }
  pos_ += b;
  return true;
}

}  // namespace mgf

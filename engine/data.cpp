// engine/data.cpp — see data.h.
#include "engine/data.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine/idx.h"
#include "engine/rng.h"

namespace mgf {

namespace fs = std::filesystem;

Dataset Dataset::slice(int64_t begin, int64_t count) const {
  if (begin < 0 || count < 0 || begin + count > size())
    throw std::out_of_range("Dataset::slice: [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                            ") is outside the " + std::to_string(size()) + " examples");
  Dataset out;
  out.num_classes = num_classes;
  out.background = background;
  Shape s = images.shape();
  const int64_t per = images.numel() / std::max<int64_t>(size(), 1);
  s[0] = count;
  out.images = Tensor(s);
  std::copy(images.data() + begin * per, images.data() + (begin + count) * per, out.images.data());
  out.labels.assign(labels.begin() + begin, labels.begin() + begin + count);
  return out;
}

SelectionSet selection_set(const DataSplits& s) {
  if (s.val.size() > 0) return {s.val, "val"};
  return {s.test, "test"};
}

void split_validation(DataSplits& s, int64_t n) {
  const int64_t total = s.train.size();
  if (n < 0 || n > total - 1)
    throw std::out_of_range("split_validation: " + std::to_string(n) + " validation images requested, expected 0.." +
                            std::to_string(std::max<int64_t>(total - 1, 0)) + " (the training set has " +
                            std::to_string(total) + " images and at least one must remain to train on)");
  if (n == 0) {  // nothing held out: keep train as it is (no copy)
    s.val = Dataset{};
    return;
  }
  Dataset val = s.train.slice(total - n, n);
  s.train = s.train.slice(0, total - n);
  s.val = std::move(val);
}

Dataset make_idx_dataset(const std::vector<uint8_t>& image_bytes, const std::string& image_name,
                         const std::vector<uint8_t>& label_bytes, const std::string& label_name, int64_t max_count) {
  IdxArray img = parse_idx(image_bytes, 3, image_name);
  IdxArray lab = parse_idx(label_bytes, 1, label_name);
  if (img.dims[0] != lab.dims[0])
    throw std::runtime_error("IDX files disagree: " + image_name + " has " + std::to_string(img.dims[0]) + " images but " +
                             label_name + " has " + std::to_string(lab.dims[0]) + " labels (count at byte offset 4)");
  const int64_t n_all = img.dims[0], h = img.dims[1], w = img.dims[2];
  for (int64_t i = 0; i < n_all; ++i)
    if (lab.data[static_cast<size_t>(i)] > 9)
      throw std::runtime_error("IDX file " + label_name + ": label " + std::to_string(lab.data[static_cast<size_t>(i)]) +
                               " of example " + std::to_string(i) + " is out of range 0..9 (at byte offset " +
                               std::to_string(8 + i) + ")");
  const int64_t n = max_count >= 0 ? std::min(max_count, n_all) : n_all;
  Dataset d;
  d.images = Tensor({n, 1, h, w});
  float* x = d.images.data();
  // x = (p/255 − μ)/σ, written as one multiply-add per pixel.
  const float a = 1.0f / (255.0f * kMnistStd), b = -kMnistMean / kMnistStd;
  for (int64_t i = 0; i < n * h * w; ++i) x[i] = static_cast<float>(img.data[static_cast<size_t>(i)]) * a + b;
  d.labels.assign(lab.data.begin(), lab.data.begin() + n);
  return d;
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t max_count) {
  return make_idx_dataset(read_file_bytes(images_path), images_path, read_file_bytes(labels_path), labels_path,
                          max_count);
}

std::vector<std::string> data_search_path(const std::string& flag_dir, const std::string& set) {
  std::vector<std::string> bases;
  if (!flag_dir.empty()) {
    bases.push_back(flag_dir);
  } else {
    if (const char* env = std::getenv("MGF_DATA"); env && *env) bases.push_back(env);
    bases.push_back("./data");
    bases.push_back("../shared/data");
  }
  std::vector<std::string> dirs;
  for (const auto& b : bases) {
    dirs.push_back(b);
    dirs.push_back((fs::path(b) / set).string());
  }
  return dirs;
}

namespace {
// "dir/name" if it exists, else "dir/name.gz" if that exists, else "".
std::string find_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const std::string& candidate : {name, name + ".gz"}) {
    fs::path p = fs::path(dir) / candidate;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}
}  // namespace

DataSplits load_mnist_like(const std::string& flag_dir, const std::string& set, int64_t max_train, int64_t max_test) {
  if (set != "mnist" && set != "fashion-mnist")
    throw std::invalid_argument("load_mnist_like: set must be \"mnist\" or \"fashion-mnist\", found \"" + set + "\"");
  const auto dirs = data_search_path(flag_dir, set);
  for (const auto& dir : dirs) {
    std::string ti = find_file(dir, "train-images-idx3-ubyte"), tl = find_file(dir, "train-labels-idx1-ubyte"),
                vi = find_file(dir, "t10k-images-idx3-ubyte"), vl = find_file(dir, "t10k-labels-idx1-ubyte");
    if (ti.empty() || tl.empty() || vi.empty() || vl.empty()) continue;
    DataSplits s;
    s.train = load_idx_pair(ti, tl, max_train);
    s.test = load_idx_pair(vi, vl, max_test);
    // Every model of the book takes [N, 1, 28, 28]: say so here, naming the file, rather than
    // let a Linear deep inside the model refuse [N, 100] without saying where it came from.
    for (const auto& [d, path] : {std::pair{&s.train, ti}, std::pair{&s.test, vi}})
      if (d->images.dim(2) != 28 || d->images.dim(3) != 28)
        throw std::runtime_error("IDX file " + path + ": images are " + std::to_string(d->images.dim(2)) + "x" +
                                 std::to_string(d->images.dim(3)) + " (dims at byte offsets 8 and 12), expected " +
                                 "28x28 (MNIST-like sets; the models take [N, 1, 28, 28])");
    s.dir = dir;
    s.name = set;
    return s;
  }
  std::ostringstream m;
  m << "could not find " << set << " (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    << "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]). Looked in:";
  for (const auto& d : dirs) m << "\n  " << d;
  m << "\nFix: run `make data` (unpacks ../shared/data or downloads MNIST into ./data), or pass --data DIR, "
       "or set MGF_DATA=DIR.";
  throw DataNotFound(m.str());
}

Dataset synthetic_dataset(int64_t n, int classes, int64_t side, uint64_t seed) {
  if (n < 1 || classes < 2 || side < 2 || classes > 2 * side)
    throw std::invalid_argument("synthetic_dataset: need n >= 1, 2 <= classes <= 2*side, side >= 2; found n=" +
                                std::to_string(n) + " classes=" + std::to_string(classes) + " side=" + std::to_string(side));
  Rng rng(seed);
  Dataset d;
  d.num_classes = classes;
  d.background = 0.0f;
  d.images = Tensor({n, 1, side, side});
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int c = static_cast<int>(rng.randint(classes));
    d.labels[static_cast<size_t>(i)] = c;
    float* img = d.images.data() + i * side * side;
    for (int64_t p = 0; p < side * side; ++p) img[p] = rng.normal(0.0f, 0.3f);
    // Class c < side lights row c; class c >= side lights column c − side.
    for (int64_t k = 0; k < side; ++k) {
      int64_t r = c < side ? c : k, col = c < side ? k : c - side;
      img[r * side + col] += 1.5f;
    }
  }
  return d;
}

}  // namespace mgf

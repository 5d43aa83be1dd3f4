// layers/models/lenet.h — the two MNIST networks every compression chapter starts from.
//
// LeNet-300-100: the fully connected 784-300-100-10 net with ReLU (LeCun et al. 1998 §III.C
// list it with tanh; Han et al. 2015 §4.1 and Deep Compression use Caffe's ReLU version,
// 1.64 % / 1.6 % error). 266 200 weights + 410 biases = 266 610 parameters.
// LeNet-5, Caffe variant (the one Han et al. 2015 Table 3 prunes, "431K" parameters, 0.80 %):
//   conv1 20@5×5 → max-pool 2 → conv2 50@5×5 → max-pool 2 → fc1 500 → ReLU → fc2 10
//   [1,28,28] → [20,24,24] → [20,12,12] → [50,8,8] → [50,4,4] → 800 → 500 → 10
//   parameters: 520 + 25 050 + 400 500 + 5 010 = 431 080.
// Note that Caffe's LeNet has no non-linearity after the convolutions, only after fc1 —
// kept as is, since the papers' numbers are for this net.
// Both are Sequentials so chapters can reach layers by name: at<Linear>("fc1").
// Book: book/03-training.md. Deliberately not here: LeCun 1998's original LeNet-5 (C1..F6,
// RBF output, 60K parameters) — no chapter in this book uses it.
#pragma once
#include <memory>

#include "layers/sequential.h"

namespace mgf {

// The MLP takes images [N, 1, 28, 28] (or [N, 784]) and flattens them before "fc1", so
// the children are exactly "fc1", "relu1", "fc2", "relu2", "fc3".
class LeNet300 : public Sequential {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return "LeNet300"; }
};

std::shared_ptr<Sequential> make_lenet_300_100();  // children fc1 relu1 fc2 relu2 fc3
std::shared_ptr<Sequential> make_lenet5();         // conv1 pool1 conv2 pool2 flatten fc1 relu fc2

}  // namespace mgf

// layers/models/lenet.cpp — see lenet.h.
#include "layers/models/lenet.h"

#include "engine/ops.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/pool.h"
#include "layers/shape.h"

namespace mgf {

Var LeNet300::forward(const Var& x) {
  // [N, 1, 28, 28] → [N, 784]; a 2-D input passes through unchanged.
  return Sequential::forward(x.value().ndim() > 2 ? flatten(x) : x);
}

std::shared_ptr<Sequential> make_lenet_300_100() {
  auto m = std::make_shared<LeNet300>();
  m->add("fc1", std::make_shared<Linear>(784, 300));
  m->add("relu1", std::make_shared<ReLU>());
  m->add("fc2", std::make_shared<Linear>(300, 100));
  m->add("relu2", std::make_shared<ReLU>());
  m->add("fc3", std::make_shared<Linear>(100, 10));
  return m;
}

std::shared_ptr<Sequential> make_lenet5() {
  auto m = std::make_shared<Sequential>();
  m->add("conv1", std::make_shared<Conv2d>(1, 20, 5));
  m->add("pool1", std::make_shared<MaxPool2d>(2, 2));
  m->add("conv2", std::make_shared<Conv2d>(20, 50, 5));
  m->add("pool2", std::make_shared<MaxPool2d>(2, 2));
  m->add("flatten", std::make_shared<Flatten>());
  m->add("fc1", std::make_shared<Linear>(800, 500));
  m->add("relu", std::make_shared<ReLU>());
  m->add("fc2", std::make_shared<Linear>(500, 10));
  return m;
}

}  // namespace mgf

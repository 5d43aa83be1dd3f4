// engine/train.cpp — see train.h.
#include "engine/train.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "engine/ops.h"

namespace mgf {

namespace {
std::atomic<bool> g_output{true};
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

void set_training_output(bool on) { g_output = on; }
bool training_output() { return g_output; }

int64_t count_errors(const Tensor& logits, const std::vector<int32_t>& labels) {
  check_ndim("count_errors", logits, 2, "logits");
  const int64_t n = logits.dim(0), c = logits.dim(1);
  if (static_cast<int64_t>(labels.size()) != n)
    throw std::invalid_argument("count_errors: expected " + std::to_string(n) + " labels, found " +
                                std::to_string(labels.size()));
  int64_t errors = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data() + i * c;
    int64_t best = 0;
    for (int64_t k = 1; k < c; ++k)
      if (row[k] > row[best]) best = k;
    errors += best != labels[static_cast<size_t>(i)];
  }
  return errors;
}

EpochStats train_epoch(Module& model, Optimizer& opt, DataLoader& loader, const TrainHooks& hooks,
                       const std::string& label) {
  const std::string name = label.empty() ? "train" : label;
  const bool tty = g_output && isatty(2);
  if (loader.position() != 0) loader.reset();  // always a whole epoch
  model.train();
  EpochStats st;
  double loss_sum = 0.0;
  const auto t0 = Clock::now();
  auto last_print = t0;
  Tensor x;
  std::vector<int32_t> y;
  // One iteration is the whole of supervised learning: forward, loss, backward, update.
  while (loader.next(x, y)) {
    opt.zero_grad();  // gradients accumulate (+=) in backward, so each batch starts from zero
    Var logits = model(Var(x));
    Var loss = hooks.loss ? hooks.loss(logits, y, loader.position() - static_cast<int64_t>(y.size()))
                          : cross_entropy(logits, y);
    const float l = loss.value().item();
    if (!std::isfinite(l))
      throw std::runtime_error(name + ": the loss became " + std::string(std::isnan(l) ? "NaN" : "infinite") +
                               " at batch " + std::to_string(st.batches + 1) + " of " +
                               std::to_string(loader.num_batches()) + " (lr = " + std::to_string(opt.lr) +
                               "); training stopped. Try a lower learning rate.");
    loss.backward();  // ∂L/∂w for every parameter, through the graph model(x) recorded
    if (hooks.after_backward) hooks.after_backward();
    opt.step();
    if (hooks.after_step) hooks.after_step();
    if (hooks.schedule) hooks.schedule->step(opt);

    const int64_t b = static_cast<int64_t>(y.size());
    loss_sum += static_cast<double>(l) * static_cast<double>(b);  // cross_entropy is a batch mean
    // The running training error is measured with the weights *before* this batch's update
    // (the logits were computed before step()) — cheap, and the usual convention.
    st.errors += count_errors(logits.value(), y);
    st.count += b;
    ++st.batches;
    if (tty && (since(last_print) > 0.25 || st.batches == loader.num_batches())) {
      last_print = Clock::now();
      const double el = since(t0), ips = static_cast<double>(st.count) / std::max(el, 1e-9);
      const double left = static_cast<double>(loader.size() - st.count) / std::max(ips, 1e-9);
      std::fprintf(stderr, "\r%s  batch %lld/%lld  loss %.4f  acc %.2f %%  %.0f img/s  %.0f s left   ", name.c_str(),
                   static_cast<long long>(st.batches), static_cast<long long>(loader.num_batches()),
                   loss_sum / static_cast<double>(st.count), 100.0 * (1.0 - st.error_rate()), ips, left);
      std::fflush(stderr);
    }
  }
  st.seconds = since(t0);
  st.loss = st.count ? loss_sum / static_cast<double>(st.count) : 0.0;
  if (g_output) {
    if (tty) std::fprintf(stderr, "\r\033[K");  // clear the progress line
    std::fprintf(stderr, "%s: loss %.4f, train error %.2f %%, %.1f s, %.0f img/s\n", name.c_str(), st.loss,
                 100.0 * st.error_rate(), st.seconds, st.images_per_s());
  }
  return st;
}

EvalResult evaluate(Module& model, const Dataset& data, int64_t batch) {
  if (batch < 1) throw std::invalid_argument("evaluate: batch must be >= 1, found " + std::to_string(batch));
  // eval(): dropout off, batch-norm uses its running statistics. NoGradGuard: no graph is
  // recorded, so evaluation costs a forward pass and no memory for backward.
  const bool was_training = model.training();
  model.eval();
  NoGradGuard ng;
  EvalResult r;
  const auto t0 = Clock::now();
  double loss_sum = 0.0;
  for (int64_t begin = 0; begin < data.size(); begin += batch) {
    const int64_t b = std::min(batch, data.size() - begin);
    Dataset part = data.slice(begin, b);
    Var logits = model(Var(part.images));
    loss_sum += static_cast<double>(cross_entropy(logits, part.labels).value().item()) * static_cast<double>(b);
    r.errors += count_errors(logits.value(), part.labels);
    r.count += b;
  }
  r.loss = r.count ? loss_sum / static_cast<double>(r.count) : 0.0;
  r.seconds = since(t0);
  model.train(was_training);
  return r;
}

}  // namespace mgf

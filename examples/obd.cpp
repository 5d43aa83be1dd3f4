// examples/obd.cpp — reproduces the MNIST side of LeCun, Denker, Solla 1989, "Optimal Brain
// Damage", with Optimal Brain Surgeon (Hassibi & Stork 1993) beside it: (a) how well the
// saliencies predict the error increase of single deletions (OBD's ½h_kk u_k², OBS's L_q) on a
// small MNIST net, and (b) LeNet-300-100 pruned WITHOUT retraining by magnitude, OBD and
// layer-wise OBS at the same per-layer keep ratios. XOR and MONK's are in examples/obs.cpp.
// Book: book/10-obd.md (and book/11-obs.md for the OBS columns).
//
//   build/examples/obd --val 10000  (about 7 min on 2 busy cores; the LeNet baseline is trained
//                                    once, 20 s, if checkpoints/ lacks it)
//   build/examples/obd --hessian exact --no-retrain   (OBD with the true diagonal h_kk)
//   build/examples/obd --quick      (seconds, for CI: small slices, fc1 left dense)
//
// Steps: (1) data with the last --val images held out, the trained LeNet-300-100
// (layers/models/baseline.h); (2) a 49-16-10 sigmoid net on 4×4-pooled images, squared error,
// trained by full-batch descent; every weight deleted once, measured ΔE against OBD's and OBS's
// prediction, Spearman ρ, scatter figure; (3) LeNet-300-100: per-layer keep ratios at 50 / 80 /
// 90 / 95 % pruned (fc3 half as hard), the test error of magnitude (|w|), OBD (LM h_kk on
// calibration images, cross-entropy) and layer-wise OBS (each row pruned by OBS on the block
// 2XXᵀ/N of its layer, compensating the rest of the row), no retraining; (4) the 90 % OBS net
// run from CSR, asserted equal to the float model (simulation = deployment); (5) iterative prune →
// retrain to Han's 12× (8 / 9 / 26 % kept) with magnitude and with OBD saliencies, chapter 14's
// recipe (compression/pruning/retrain.h), both 12× nets also checked from CSR.
// Not here: convolutions (OBD's sum over shared weights), a global ranking across layers.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "compression/coding/csr.h"
#include "compression/pruning/magnitude.h"
#include "compression/pruning/obd.h"
#include "compression/pruning/obs.h"
#include "compression/pruning/retrain.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/loader.h"
#include "engine/rng.h"
#include "engine/svg.h"
#include "engine/train.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"

using namespace mgf;

namespace {

// Spearman's ρ: Pearson's correlation of the ranks (ties get their mean rank).
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> o(v.size());
  std::iota(o.begin(), o.end(), 0);
  std::sort(o.begin(), o.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < o.size();) {
    size_t j = i;
    while (j + 1 < o.size() && v[o[j + 1]] == v[o[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[o[k]] = 0.5 * static_cast<double>(i + j);
    i = j + 1;
  }
  return r;
}
double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), m = (n - 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - m) * (rb[i] - m);
    saa += (ra[i] - m) * (ra[i] - m);
    sbb += (rb[i] - m) * (rb[i] - m);
  }
  return sab / std::sqrt(saa * sbb);
}

// Images [N,1,28,28] → DenseData of 4×4-averaged pixels (49 inputs), one-hot targets.
DenseData pooled(const Dataset& d, int64_t n) {
  DenseData out;
  out.P = n;
  for (int64_t p = 0; p < n; ++p) {
    const float* img = d.images.data() + p * 784;
    for (int by = 0; by < 7; ++by)
      for (int bx = 0; bx < 7; ++bx) {
        double s = 0;
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < 4; ++x) s += img[(4 * by + y) * 28 + 4 * bx + x];
        out.x.push_back(s / 16.0);
      }
    for (int c = 0; c < 10; ++c) out.d.push_back(c == d.labels[static_cast<size_t>(p)] ? 1.0 : 0.0);
  }
  return out;
}

// ---- 2. predicted against measured ΔE -------------------------------------------------------
void saliency_vs_measured(const DataSplits& data, bool quick, double alpha, const std::string& svg) {
  const int64_t P = quick ? 200 : 1000;
  const DenseData d = pooled(data.train, P);
  DenseNet net = make_dense_net({49, 16, 10}, DenseActivation::sigmoid, DenseLoss::squared_error, 7);
  DenseTrainOptions o;
  o.steps = quick ? 200 : 2000;
  o.lr = 0.5;
  dense_train(net, d, {}, o);
  const double e0 = dense_loss(net, d);
  std::printf("small net 49-16-10 on %lld pooled images: E = %.4f, training accuracy %s\n", static_cast<long long>(P), e0,
              fmt_pct(dense_accuracy(net, d), 1).c_str());
  const std::vector<double> u = net.flat();
  const int64_t n = net.num_params();
  const std::vector<double> s_lm = obd_saliency(obd_diag_hessian(net, d, HessianForm::levenberg_marquardt), u);
  const std::vector<double> s_ex = obd_saliency(obd_diag_hessian(net, d, HessianForm::exact), u);
  const std::vector<double> Hi = obs_inverse_hessian(net, d, {}, alpha);
  const std::vector<double> L = obs_saliency(u, Hi, {});
  std::vector<double> m_obd(n), m_obs(n);
  for (int64_t k = 0; k < n; ++k) {
    DenseNet m = net;
    std::vector<double> v = u;
    v[k] = 0.0;  // OBD: the weight zeroed, the rest as trained
    m.set_flat(v);
    m_obd[k] = dense_loss(m, d) - e0;
    std::vector<double> w = u, H = Hi;
    obs_delete(w, H, k);  // OBS: the weight deleted, the others corrected
    m.set_flat(w);
    m_obs[k] = dense_loss(m, d) - e0;
  }
  ResultTable t({"prediction", "measured", "Spearman rho", "paper"});
  t.add_row({"OBD 1/2 h_kk u^2 (LM)", "dE, weight zeroed", fmt(spearman(s_lm, m_obd), 3), "rho >= 0.9 (our target)"});
  t.add_row({"OBD 1/2 h_kk u^2 (exact diagonal)", "dE, weight zeroed", fmt(spearman(s_ex, m_obd), 3), "-"});
  t.add_row({"OBS L_q", "dE after the OBS correction", fmt(spearman(L, m_obs), 3), "-"});
  t.add_row({"magnitude u^2", "dE, weight zeroed", fmt(spearman([&] {
                                                            std::vector<double> q(u.size());
                                                            for (size_t k = 0; k < u.size(); ++k) q[k] = u[k] * u[k];
                                                            return q;
                                                          }(),
                                                          m_obd),
                                                  3),
             "-"});
  t.print("Single deletions on the small MNIST net (" + std::to_string(n) + " parameters): predicted vs measured dE");
  SvgPlot p("Predicted vs measured error increase of single deletions (49-16-10 MNIST net)", "predicted dE",
            "measured dE");
  p.log_x = p.log_y = true;
  auto positive = [](const std::vector<double>& a, const std::vector<double>& b, std::vector<double>& x, std::vector<double>& y) {
    for (size_t k = 0; k < a.size(); ++k)
      if (a[k] > 1e-12 && b[k] > 1e-12) x.push_back(a[k]), y.push_back(b[k]);
  };
  std::vector<double> x1, y1, x2, y2;
  positive(s_lm, m_obd, x1, y1);
  positive(L, m_obs, x2, y2);
  p.points("OBD (LM), weight zeroed", x1, y1);
  p.points("OBS L_q, after the correction", x2, y2);
  const double lo = std::min(*std::min_element(x1.begin(), x1.end()), *std::min_element(x2.begin(), x2.end()));
  const double hi = std::max(*std::max_element(x1.begin(), x1.end()), *std::max_element(x2.begin(), x2.end()));
  p.line("predicted = measured", {lo, hi}, {lo, hi}, "#888", true);
  p.write(svg);
  std::printf("wrote %s (points with both values > 1e-12: %zu OBD, %zu OBS of %lld)\n", svg.c_str(), x1.size(), x2.size(),
              static_cast<long long>(n));
}

// ---- 3. LeNet-300-100 without retraining ---------------------------------------------------------
// OBD's per-layer masks: the LM saliency ½h_kk u_k² on the calibration images, as a tensor of the
// weight's shape, kept where largest (sparsity_mask ranks any tensor; deleted weights have u = 0,
// so saliency 0, and go first).
std::vector<Tensor> obd_masks(const DenseNet& net, const DenseData& cal, const std::vector<double>& keep, HessianForm form) {
  const std::vector<double> s = obd_saliency(obd_diag_hessian(net, cal, form), net.flat());
  std::vector<Tensor> masks;
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const DenseLayer& L = net.layers[l];
    Tensor sal({L.out, L.in});
    for (int64_t k = 0; k < L.out * L.in; ++k) sal[k] = static_cast<float>(s[static_cast<size_t>(net.weight_index(l, 0, 0) + k)]);
    masks.push_back(sparsity_mask(sal, keep[l]));
  }
  return masks;
}

void apply_masks(DenseNet& net, const std::vector<Tensor>& masks) {
  for (size_t l = 0; l < net.layers.size(); ++l)
    for (size_t k = 0; k < net.layers[l].W.size(); ++k) net.layers[l].W[k] *= masks[l][static_cast<int64_t>(k)];
}

double test_error(Sequential& model, const DenseNet& net, const Dataset& test) {
  dense_net_to(net, model);
  return evaluate(model, test).error_rate();
}

// Simulation = deployment: the pruned LeNet-300-100 run from CSR (compression/coding/csr.h) must
// give the float model's predictions, logits within kSimDeployLogitBudget; exits 1 otherwise.
void check_from_csr(Sequential& model, const Dataset& test, const std::string& what) {
  std::vector<SparseLinear> sparse;
  for (const char* name : {"fc1", "fc2", "fc3"}) {
    Linear& l = model.at<Linear>(name);
    sparse.emplace_back(l.weight.var.value(), l.bias->var.value());
  }
  NoGradGuard ng;  // (only in this scope: the caller may train again)
  model.eval();
  Tensor h = test.images.reshape({test.size(), 784});
  for (size_t i = 0; i < sparse.size(); ++i) {
    h = sparse[i].forward(h);
    if (i + 1 < sparse.size())
      for (int64_t j = 0; j < h.numel(); ++j) h[j] = std::max(h[j], 0.0f);  // ReLU
  }
  const Tensor ref = model(Var(test.images)).value();
  double max_diff = 0.0;
  int64_t differ = 0;
  for (int64_t r = 0; r < test.size(); ++r) {
    const float* a = h.data() + r * 10;
    const float* b = ref.data() + r * 10;
    for (int c = 0; c < 10; ++c) max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[c] - b[c])));
    differ += std::max_element(a, a + 10) - a != std::max_element(b, b + 10) - b;
  }
  std::printf("%s from CSR: %lld of %lld predictions differ from the float model, largest |logit diff| %.2e\n",
              what.c_str(), static_cast<long long>(differ), static_cast<long long>(test.size()), max_diff);
  check_sim_equals_deploy(what + " from CSR", differ, test.size(), max_diff);
}

// Layer-wise OBS (compression/pruning/obs.h): each layer's inputs on the calibration images,
// from the dense net; one inverse of 2XXᵀ/N + λI per layer; every row pruned to keep_row[l][t]
// for each target t. Returns [layer][target] the pruned W.
std::vector<std::vector<std::vector<float>>> layerwise_obs(const DenseNet& dense, const DenseData& cal,
                                                           const std::vector<std::vector<int64_t>>& keep_row, double damp) {
  const int64_t ncal = cal.P;
  std::vector<std::vector<std::vector<float>>> obs_w(3);
  for (size_t l = 0; l < 3; ++l) {
    const DenseLayer& L = dense.layers[l];
    std::vector<float> x(static_cast<size_t>(ncal * L.in));
    for (int64_t p = 0; p < ncal; ++p) {
      const DenseTrace t = dense_forward(dense, &cal.x[p * 784]);
      std::copy(t.x[l].begin(), t.x[l].end(), x.begin() + p * L.in);
    }
    const std::vector<double> Hi = layer_inverse_hessian(x, ncal, L.in, damp);
    const std::vector<float> W(L.W.begin(), L.W.end());
    obs_w[l] = obs_prune_rows(W, L.out, L.in, Hi, keep_row[l]);
    std::printf("  layer-wise OBS: fc%zu done\n", l + 1);
  }
  return obs_w;
}

// OBD in rounds: each round deletes a quarter of what is left (h_kk recomputed on the pruned
// net, no retraining) until the layer's target; a snapshot at each target of `sparsities`.
std::vector<DenseNet> obd_in_rounds(const DenseNet& dense, const DenseData& cal, const std::vector<double>& sparsities,
                                    HessianForm form, bool quick) {
  std::vector<DenseNet> obd_rounds;
  DenseNet net = dense;
  double k = 1.0;  // fc1's keep fraction; the others follow their factor of the cut
  const double factor[3] = {quick ? 0.0 : 1.0, 1.0, 0.5};
  for (double s : sparsities) {
    while (k > 1.0 - s + 1e-12) {
      k = std::max(0.75 * k, 1.0 - s);
      std::vector<double> keep;
      for (size_t l = 0; l < 3; ++l)
        keep.push_back(static_cast<double>(std::llround((1.0 - (1.0 - k) * factor[l]) * static_cast<double>(dense.layers[l].in))) /
                       static_cast<double>(dense.layers[l].in));
      apply_masks(net, obd_masks(net, cal, keep, form));
    }
    obd_rounds.push_back(net);
  }
  return obd_rounds;
}

// Step 3: magnitude, OBD (one shot and in rounds) and layer-wise OBS at the same per-layer keep
// ratios, no retraining: the test-error table and figure, the calibration-loss table. Returns the
// 90 % layer-wise OBS net (step 4 runs it from CSR).
DenseNet prune_without_retraining(const ExampleArgs& args, Sequential& model, const DenseNet& dense, const DenseData& cal,
                                  const Dataset& test, HessianForm form, double base_err) {
  const bool quick = args.quick();
  const double damp = args.get_float_above("--damp", 0.0, 100.0);
  const int64_t ncal = cal.P;
  const std::vector<double> sparsities{0.5, 0.8, 0.9, 0.95};
  // fc3 (1 000 of 266 200 weights) is pruned half as hard; --quick leaves fc1 dense (its OBS
  // rows are the minutes of the full run).
  std::vector<std::vector<int64_t>> keep_row(3);
  for (size_t l = 0; l < 3; ++l)
    for (double s : sparsities) {
      const double sl = quick && l == 0 ? 0.0 : l == 2 ? s / 2 : s;
      keep_row[l].push_back(std::llround((1.0 - sl) * static_cast<double>(dense.layers[l].in)));
    }
  // OBD: h_kk (LM) on the calibration images; magnitude: |w|. Layer-global ranking per layer.
  const std::vector<double> u = dense.flat();
  const std::vector<double> s_obd = obd_saliency(obd_diag_hessian(dense, cal, form), u);
  const std::vector<std::vector<std::vector<float>>> obs_w = layerwise_obs(dense, cal, keep_row, damp);
  const std::vector<DenseNet> obd_rounds = obd_in_rounds(dense, cal, sparsities, form, quick);
  std::vector<double> fig_x, fig_mag, fig_obd, fig_rounds, fig_obs;
  // What OBD predicts is the increase of the training loss: measured on the calibration images.
  const double cal_loss0 = dense_loss(dense, cal);
  ResultTable lt({"pruned (fc1/fc2, fc3 half)", "magnitude", "OBD", "OBD, rounds of 25 %", "layer-wise OBS"});
  ResultTable t({"pruned (fc1/fc2, fc3 half)", "weights kept", "magnitude", "OBD", "OBD, rounds of 25 %", "layer-wise OBS",
                 "dense"});
  DenseNet obs90;
  for (size_t si = 0; si < sparsities.size(); ++si) {
    DenseNet mag = dense, obd = dense, obs = dense;
    int64_t kept = 0;
    for (size_t l = 0; l < 3; ++l) {
      const int64_t count = keep_row[l][si] * dense.layers[l].out, total = dense.layers[l].in * dense.layers[l].out;
      kept += count;
      const int64_t w0 = dense.weight_index(l, 0, 0);
      std::vector<double> sm(u.size()), so(s_obd);
      for (size_t k = 0; k < u.size(); ++k) sm[k] = std::fabs(u[k]);
      std::vector<uint8_t> mask_m(u.size(), 1), mask_o(u.size(), 1), cand(u.size(), 0);
      for (int64_t k = 0; k < total; ++k) cand[static_cast<size_t>(w0 + k)] = 1;
      for (int64_t k : delete_lowest(sm, mask_m, cand, total - count)) mag.layers[l].W[static_cast<size_t>(k - w0)] = 0.0;
      for (int64_t k : delete_lowest(so, mask_o, cand, total - count)) obd.layers[l].W[static_cast<size_t>(k - w0)] = 0.0;
      obs.layers[l].W.assign(obs_w[l][si].begin(), obs_w[l][si].end());
    }
    if (sparsities[si] == 0.9) obs90 = obs;
    fig_x.push_back(100.0 * sparsities[si]);
    fig_mag.push_back(100.0 * test_error(model, mag, test));
    fig_obd.push_back(100.0 * test_error(model, obd, test));
    fig_rounds.push_back(100.0 * test_error(model, obd_rounds[si], test));
    fig_obs.push_back(100.0 * test_error(model, obs, test));
    lt.add_row({fmt_pct(sparsities[si], 0), fmt(dense_loss(mag, cal) - cal_loss0, 4), fmt(dense_loss(obd, cal) - cal_loss0, 4),
                fmt(dense_loss(obd_rounds[si], cal) - cal_loss0, 4), fmt(dense_loss(obs, cal) - cal_loss0, 4)});
    t.add_row({fmt_pct(sparsities[si], 0), std::to_string(kept), fmt(fig_mag.back()) + " %", fmt(fig_obd.back()) + " %",
               fmt(fig_rounds.back()) + " %", fmt(fig_obs.back()) + " %", fmt_pct(base_err)});
  }
  SvgPlot fig("LeNet-300-100 pruned without retraining", "weights pruned in fc1 and fc2 (%)", "test error (%)");
  fig.log_y = true;
  fig.line("magnitude", fig_x, fig_mag);
  fig.line("OBD (one shot)", fig_x, fig_obd);
  fig.line("OBD, rounds of 25 %", fig_x, fig_rounds);
  fig.line("layer-wise OBS", fig_x, fig_obs);
  fig.hline(100.0 * base_err, "dense");
  double top = 100.0 * base_err;
  for (const auto* v : {&fig_mag, &fig_obd, &fig_rounds, &fig_obs}) top = std::max(top, *std::max_element(v->begin(), v->end()));
  fig.set_y_range(0.9 * 100.0 * base_err, 1.1 * top);  // the dense line inside the frame
  const std::string fig_path = args.svg_path("build/figures/obd-lenet300-no-retraining.svg");
  fig.write(fig_path);
  std::printf("wrote %s\n", fig_path.c_str());
  t.print("LeNet-300-100, test error right after pruning (no retraining), same per-layer keep ratios");
  lt.print("The same nets: increase of the cross-entropy on the " + std::to_string(ncal) + " calibration images (dense " +
           fmt(cal_loss0, 4) + ")");
  if (!args.json_path().empty()) t.write_json(args.json_path());

  return obs90;
}

// Step 5: iterative prune → retrain to Han's 12x with magnitude, then with OBD saliencies.
// The magnitude chapter's recipe (compression/pruning/retrain.h): per-layer keep 8 / 9 / 26 %
// reached geometrically over the steps, each step retrained with SGD (momentum 0.9, L2) on a
// cosine from --lr to 0, then --final-epochs more. Only the saliency differs.
void retrain_to_12x(const ExampleArgs& args, Sequential& model, const DenseNet& dense, const DenseData& cal,
                    const DataSplits& data, HessianForm form, double base_err) {
  const bool quick = args.quick();
  dense_net_to(dense, model);
  const Snapshot start = snapshot(model);
  const auto layers = prunable_parameters(model);
  IterativePruning ip;
  ip.final_keep = {0.08, 0.09, 0.26};
  ip.steps = static_cast<int>(args.given("--steps") ? args.get_int("--steps", 1, 100) : (quick ? 1 : 5));
  ip.epochs_per_step = args.epochs(2, 1);
  ip.final_epochs = static_cast<int>(args.given("--final-epochs") ? args.get_int("--final-epochs", 0, 1000) : (quick ? 0 : 4));
  ip.lr = static_cast<float>(args.get_float_above("--lr", 0.0, 10.0));
  ip.reg = Regulariser{Regularization::l2, static_cast<float>(args.get_float("--weight-decay", 0.0, 1.0))};
  ResultTable rt({"saliency", "weights kept", "compression", "test error", "change", "Han 2015 (magnitude)"});
  for (const bool use_obd : {false, true}) {
    restore(model, start);
    ip.masks = {};
    if (use_obd)
      ip.masks = [&](const std::vector<double>& keep) {
        return obd_masks(dense_net_from(model, DenseLoss::softmax_cross_entropy), cal, keep, form);
      };
    Rng loader_rng(args.seed());
    DataLoader loader(data.train, 64, true, loader_rng, 0);
    std::vector<double> quality_used;
    const auto rows = iterative_prune_retrain(model, layers, loader, ip, [&] { return evaluate(model, data.test).error_rate(); },
                                              quality_used);
    const PruneStepRow& last = rows.back();
    for (const PruneStepRow& r : rows)
      std::printf("  %s: kept %lld / %lld, error after pruning %s, after retraining %s\n", use_obd ? "OBD" : "magnitude",
                  static_cast<long long>(r.kept), static_cast<long long>(r.total), fmt_pct(r.error_pruned).c_str(),
                  fmt_pct(r.error_retrained).c_str());
    report_val_error(use_obd ? "OBD pruned + retrained" : "magnitude pruned + retrained", model, data);
    check_from_csr(model, data.test, use_obd ? "the 12x OBD LeNet-300-100" : "the 12x magnitude LeNet-300-100");
    rt.add_row({use_obd ? "OBD (" + hessian_form_name(form) + " h_kk)" : "magnitude", std::to_string(last.kept) + " / " + std::to_string(last.total),
                fmt(static_cast<double>(last.total) / static_cast<double>(last.kept), 1) + "x", fmt_pct(last.error_retrained),
                fmt(100.0 * (last.error_retrained - base_err), 2) + " pp", use_obd ? "-" : "12x, 1.64 % -> 1.59 %"});
  }
  rt.print("LeNet-300-100, iterative prune -> retrain to 12x (dense " + fmt_pct(base_err) + ")");
}


}  // namespace

static int run(int argc, char** argv) {
  ExampleArgs args("obd",
                   "LeCun et al. 1989, Optimal Brain Damage, with Optimal Brain Surgeon beside it: saliency vs "
                   "measured dE on a small MNIST net; LeNet-300-100 pruned without retraining by magnitude, OBD "
                   "and layer-wise OBS; then pruned to 12x with retraining, magnitude against OBD.",
                   "about 7 min on 2 busy cores (--no-retrain: 3 min); --quick seconds", {"--data", "--epochs", "--val", "--json", "--svg"});
  args.val_default(kDefaultValidationImages, "held out from the baseline and the calibration images (no choice is made on them here)");
  args.option("--alpha", "0.0001", "H0 = alpha I of the OBS recursion on the small net");
  args.option("--damp", "0.01", "layer-wise OBS: lambda = damp x mean diag(2XX^T/N)");
  args.option("--calibration", "", "training images for OBD's h_kk and OBS's layer Hessians (default 1000, quick 100)");
  args.option("--hessian", "lm",
              "OBD's h_kk on LeNet-300-100: lm (Levenberg-Marquardt diagonal recursion, the paper's) | exact (the true "
              "diagonal: the full d2E/da2 carried down, about 10x slower)");
  args.option("--no-retrain", "false", "skip step 5 (iterative prune -> retrain, magnitude and OBD)");
  args.option("--steps", "", "step 5: prune -> retrain steps (default 5, quick 1)");
  args.option("--final-epochs", "", "step 5: retraining epochs after the last step (default 4, quick 0)");
  args.option("--lr", "0.05", "step 5: retraining rate, cosine to 0 in each phase (the baseline's peak rate)");
  args.option("--weight-decay", "0.0005", "step 5: L2 while retraining");
  args.output("--scatter-svg", "", "the saliency scatter figure (default build/figures/obd-saliency.svg)");
  args.parse(argc, argv);
  const bool quick = args.quick();
  const double alpha = args.get_float_above("--alpha", 0.0, 1.0);
  args.get_float_above("--damp", 0.0, 100.0);  // checked before any work; step 3 reads it
  if (args.get("--hessian") != "lm" && args.get("--hessian") != "exact")
    args.fail("--hessian expects lm or exact, found '" + args.get("--hessian") + "'");
  const HessianForm form = args.get("--hessian") == "exact" ? HessianForm::exact : HessianForm::levenberg_marquardt;
  const int64_t ncal = args.given("--calibration") ? args.get_int("--calibration", 1, 50000) : (quick ? 100 : 1000);
  std::filesystem::create_directories("build/figures");

  // ---- 1. data and the trained LeNet-300-100 ----
  DataSplits data = load_mnist_like(args.data_dir(), "mnist", quick ? 2000 : -1, quick ? 1000 : -1);
  // --quick holds nothing out unless --val is given (its 2 000-image slice is all it trains on).
  split_validation(data, quick && !args.given("--val") ? 0 : args.val(data.train.size()));
  if (ncal > data.train.size()) args.fail("--calibration expects at most the " + std::to_string(data.train.size()) + " training images");
  auto model = trained_baseline("lenet300", data, quick);
  const double base_err = evaluate(*model, data.test).error_rate();
  std::printf("dense LeNet-300-100: %s test error\n", fmt_pct(base_err).c_str());

  // ---- 2. predicted vs measured dE on a small net ----
  saliency_vs_measured(data, quick, alpha,
                       args.get("--scatter-svg").empty() ? "build/figures/obd-saliency.svg" : args.get("--scatter-svg"));

  // ---- 3. LeNet-300-100: magnitude, OBD, layer-wise OBS at the same per-layer keep ratios ----
  const DenseNet dense = dense_net_from(*model, DenseLoss::softmax_cross_entropy);
  DenseData cal;
  cal.P = ncal;
  cal.x.assign(data.train.images.data(), data.train.images.data() + ncal * 784);
  for (int64_t p = 0; p < ncal; ++p)
    for (int c = 0; c < 10; ++c) cal.d.push_back(c == data.train.labels[static_cast<size_t>(p)] ? 1.0 : 0.0);
  const DenseNet obs90 = prune_without_retraining(args, *model, dense, cal, data.test, form, base_err);

  // ---- 4. simulation = deployment: the 90 % OBS net from CSR ----
  dense_net_to(obs90, *model);
  check_from_csr(*model, data.test, "the 90 % layer-wise OBS LeNet-300-100");
  if (args.get_bool("--no-retrain")) return 0;

  // ---- 5. with retraining: iterative prune → retrain to Han's 12x, magnitude and OBD ----
  retrain_to_12x(args, *model, dense, cal, data, form, base_err);
  return 0;
}

// One error path (engine/cli.h): "obd: error: ..." and exit 1, or exit 2 for a bad flag.
int main(int argc, char** argv) { return run_main("obd", argc, argv, run); }

// examples/distillation.cpp — reproduces Hinton, Vinyals, Dean 2015, "Distilling the Knowledge
// in a Neural Network", §3 (MNIST): a big regularised teacher, a small plain student, the same
// student trained on the teacher's soft targets at T = 20, "the mythical 3", the temperature
// sweep on a tiny student, and distillation as a compressor (size, latency, Deep Compression).
// Book: book/25-distillation.md.
//
//   build/examples/distillation --part teacher      (the long pole, about 27 min; see --help)
//   build/examples/distillation                     (every part; the teacher from its checkpoint)
//   build/examples/distillation --quick             (seconds, for CI)
//
// Steps: (1) teacher 784-1200-1200-10, ReLU, dropout 0.2 on the input and 0.5 on the hidden
// layers, max-norm on every unit's incoming weights, images jittered by up to 2 px; checkpoint
// under checkpoints/. (2) its logits for the transfer set (the training split) computed once
// and cached in a .mgftl file (distill/kd.h). (3) the student 784-800-800-10 with nothing:
// hard labels only. (4) the same student on kd_loss at T = 20, soft weight and rate chosen on
// the validation split from --soft-weight x --lr-kd (§2 gives the hard term "considerably lower
// weight"; the T² factor makes the two gradients comparable, so w_soft is their relative weight). (5) the mythical 3: the transfer set without
// any 3, then the bias of class 3 raised by the amount that is best on the validation split.
// (6) a 784-30-30-10 student at several T, choice of T on validation. (7) teacher vs distilled
// student: parameters, bytes, latency at batch 1 (one thread), and the student through the
// Deep Compression pipeline into a .mgfdc file that is loaded and run.
// Every choice (the KD soft weight and rate, T and rate of the sweep, the 3-bias) is made on the validation split (--val, the last
// 10 000 training images); test errors are printed once, in the tables.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "compression/deep_compression.h"
#include "distill/kd.h"
#include "engine/checkpoint.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/summary.h"
#include "engine/svg.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"
#include "layers/sequential.h"
#include "layers/shape.h"

using namespace mgf;

namespace {

// Standardised pixels back to [0, 1] (x·σ + μ, engine/data.h), ahead of the teacher's input
// dropout. Srivastava et al. 2014 drop [0, 1] pixels, where a dropped background pixel stays 0;
// on standardised input the background is −μ/σ = −0.42, and dropping it (to 0) would sprinkle
// bright noise over a fifth of every image instead of removing ink.
class PixelRange : public Module {
 public:
  Var forward(const Var& x) override { return add_scalar(scale(x, kMnistStd), kMnistMean); }
  std::string type_name() const override { return "PixelRange"; }
};

// A flat MLP 784-h1-h2-10 (a flat Sequential, so CompressedRunner can run it from a .mgfdc).
// With p_in, p_hid > 0 it carries Dropout modules (the teacher); the student has none.
std::shared_ptr<Sequential> make_mlp(int64_t h1, int64_t h2, float p_in = 0.0f, float p_hid = 0.0f, bool unit_pixels = true) {
  auto net = std::make_shared<Sequential>();
  net->add("flatten", std::make_shared<Flatten>());
  if (p_in > 0) {
    if (unit_pixels) net->add("pixels", std::make_shared<PixelRange>());
    net->add("drop0", std::make_shared<Dropout>(p_in));
  }
  net->add("fc1", std::make_shared<Linear>(784, h1));
  net->add("relu1", std::make_shared<ReLU>());
  if (p_hid > 0) net->add("drop1", std::make_shared<Dropout>(p_hid));
  net->add("fc2", std::make_shared<Linear>(h1, h2));
  net->add("relu2", std::make_shared<ReLU>());
  if (p_hid > 0) net->add("drop2", std::make_shared<Dropout>(p_hid));
  net->add("fc3", std::make_shared<Linear>(h2, 10));
  return net;
}

struct Recipe {
  int epochs = 10;
  int64_t batch = 100;
  float lr = 0.05f, momentum = 0.9f;
  float max_norm = 0.0f;   // c of the max-norm constraint (0 = none)
  int jitter = 0;
  double warmup = 0;       // epochs of linear warm-up of the rate (engine/schedule.h)
};

// Trains `net` with SGD + momentum, a cosine decay of the rate per batch, on hard labels, or on
// kd_loss against `teacher_logits` when it is given (the loader then serves `train` unjittered).
void train(Module& net, const Dataset& train, const Recipe& r, uint64_t seed, const std::string& label,
           const Tensor* teacher_logits = nullptr, float T = 1.0f, float w_soft = 0.0f,
           const Dataset* val = nullptr) {
  Rng rng(seed);
  DataLoader loader(train, r.batch, true, rng, teacher_logits ? 0 : r.jitter);
  SGD opt(net.parameters(), {.lr = r.lr, .momentum = r.momentum});
  LrSchedule shape = cosine_schedule(r.lr, r.epochs);
  shape.warmup = r.warmup;
  BatchSchedule sched(shape, loader.num_batches());
  sched.reset(opt);
  TrainHooks hooks;
  hooks.schedule = &sched;
  if (r.max_norm > 0) {
    // Srivastava et al. 2014 §5.1: after every update, each hidden unit's incoming weights are
    // projected back onto ‖w‖ ≤ c; it lets dropout nets train at high rates without blowing up.
    std::vector<Tensor*> weights;
    for (auto& np : net.named_parameters())
      if (np.name.size() > 7 && np.name.substr(np.name.size() - 7) == ".weight") weights.push_back(&np.param->var.value());
    hooks.after_step = [weights, c = r.max_norm] {
      for (Tensor* w : weights) max_norm_constrain(*w, c);
    };
  }
  for (int e = 1; e <= r.epochs; ++e) {
    const std::string lab = label + " epoch " + std::to_string(e) + "/" + std::to_string(r.epochs);
    if (teacher_logits) train_epoch_kd(net, opt, loader, *teacher_logits, T, w_soft, hooks, lab);
    else train_epoch(net, opt, loader, hooks, lab);
    if (val && val->size() > 0 && (e == r.epochs || e % 5 == 0)) {
      EvalResult v = evaluate(net, *val);
      std::fprintf(stderr, "%s: validation errors %lld / %lld\n", lab.c_str(), static_cast<long long>(v.errors),
                   static_cast<long long>(v.count));
    }
  }
}

// The examples of `d` whose label is not `drop`, with their rows of `logits`.
void without_class(const Dataset& d, const Tensor& logits, int32_t drop, Dataset* out, Tensor* out_logits) {
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < d.size(); ++i)
    if (d.labels[static_cast<size_t>(i)] != drop) keep.push_back(i);
  const int64_t n = static_cast<int64_t>(keep.size()), px = d.images.numel() / d.size(), C = logits.dim(1);
  *out = d;
  out->images = Tensor::uninit({n, d.images.dim(1), d.images.dim(2), d.images.dim(3)});
  out->labels.assign(static_cast<size_t>(n), 0);
  *out_logits = Tensor::uninit({n, C});
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = keep[static_cast<size_t>(k)];
    std::copy_n(d.images.data() + i * px, px, out->images.data() + k * px);
    std::copy_n(logits.data() + i * C, C, out_logits->data() + k * C);
    out->labels[static_cast<size_t>(k)] = d.labels[static_cast<size_t>(i)];
  }
}

// Errors on all of `d` and on its examples of class `cls`, with `shift` added to that class's logit.
struct ClassErrors {
  int64_t errors = 0, cls_errors = 0, cls_count = 0;
};
ClassErrors errors_with_bias(Module& net, const Dataset& d, int32_t cls, float shift) {
  net.eval();
  NoGradGuard ng;
  ClassErrors r;
  Tensor z = compute_logits(net, d);
  const int64_t C = z.dim(1);
  for (int64_t i = 0; i < d.size(); ++i) {
    float* row = z.data() + i * C;
    row[cls] += shift;
    const int64_t pred = std::max_element(row, row + C) - row;
    const int32_t y = d.labels[static_cast<size_t>(i)];
    r.errors += pred != y;
    if (y == cls) {
      ++r.cls_count;
      r.cls_errors += pred != y;
    }
  }
  return r;
}

std::string errs(int64_t e, int64_t n) { return std::to_string(e) + " (" + fmt_pct(static_cast<double>(e) / static_cast<double>(std::max<int64_t>(n, 1))) + ")"; }

}  // namespace

int main(int argc, char** argv) {
  return run_main("distillation", argc, argv, [](int argc, char** argv) {
    ExampleArgs args("distillation",
                     "Reproduces Hinton, Vinyals, Dean 2015 §3 on MNIST: teacher 784-1200-1200-10 (dropout, max-norm,\n"
                     "jitter), student 784-800-800-10 plain and distilled at T = 20, the mythical 3, a T sweep on a\n"
                     "30-30 student, and the distilled student as a compressed model (size, latency, Deep Compression).",
                     "full run, one thread: --part teacher 60 epochs at 9 s (idle core) to 28 s (shared core) each, about 27 min\n"
                     "measured on the shared 2-core VM (once; checkpointed); the other parts of the book's run (a 2 x 2 KD grid) about 14 min there",
                     {"--data", "--epochs", "--val", "--json", "--svg"});
    args.val_default(kDefaultValidationImages, "choices (T of the sweep, the bias of class 3) and progress", 500);
    args.option("--part", "all", "teacher | kd | mythical3 | sweep | compress | all (the teacher is trained once, then loaded)");
    args.option("--teacher-epochs", "60", "epochs of the teacher (the paper trains far longer; book 25)");
    args.option("--student-epochs", "10", "epochs of every 800-800 student");
    args.option("--sweep-epochs", "10", "epochs of each 30-30 student of the T sweep");
    args.option("--T", "20", "temperature of the distilled 800-800 student (the paper's 20)");
    args.option("--soft-weight", "0.2", "weight(s) of the T^2-scaled soft term; the hard term gets 1 - it (a list: chosen on val)");
    args.option("--sweep-T", "1,2,3,4,6,8,12,20", "temperatures of the 30-30 sweep");
    args.option("--lr-kd", "0.1", "peak rate(s) of the distilled 800-800 students (a list: chosen on val; book 25)");
    args.option("--max-norm", "3.5", "max-norm c of the teacher's units (Srivastava et al. 2014 use 3-4)");
    args.option("--lr-teacher", "0.02", "peak rate of the teacher (cosine decay to 0, one epoch of warm-up)");
    args.option("--teacher-pixels", "standard", "what the teacher's input dropout drops: unit ([0, 1] pixels, the paper's) or\n"
                "        standard (the engine's standardised pixels, background -0.42)");
    args.option("--teacher-seed", "1", "seed of the teacher (trained once, then loaded); --seed varies the students");
    args.option("--lr-student", "0.05", "peak rate of the plain 800-800 student");
    args.option("--lr-sweep", "0.01,0.05", "peak rates of the 30-30 students of the T sweep; each setting (hard labels, each T)\n"
                "        gets the one with the fewest mean validation errors");
    args.option("--sweep-seeds", "3", "seeds per temperature of the T sweep (the choice of T is on their mean)");
    args.option("--momentum-teacher", "0.9", "momentum of the teacher's SGD");
    args.parse(argc, argv);
    const bool quick = args.quick();
    const std::string part = args.get("--part");
    if (part != "all" && part != "teacher" && part != "kd" && part != "mythical3" && part != "sweep" && part != "compress")
      args.fail("--part: expected teacher, kd, mythical3, sweep, compress or all, found '" + part + "'");
    const bool all = part == "all";
    const std::string pixels = args.get("--teacher-pixels");
    if (pixels != "unit" && pixels != "standard") args.fail("--teacher-pixels: expected unit or standard, found '" + pixels + "'");
    const float T = static_cast<float>(args.get_float_above("--T", 0.0, 1000.0));
    // --lr-kd and --soft-weight take lists: --part kd trains a distilled student for every pair and
    // keeps the one with the fewest validation errors; the later parts use that pair (alone, the first).
    const std::vector<double> w_softs = args.get_numbers("--soft-weight", 0.0, 1.0), lr_kds = args.get_numbers("--lr-kd", 1e-6, 1.0);
    float w_soft = static_cast<float>(w_softs.front());
    const std::vector<double> sweep_T = args.get_numbers("--sweep-T", 0.01, 1000.0);
    const int64_t h_teacher = quick ? 256 : 1200, h_student = quick ? 128 : 800;

    DataSplits data = load_mnist_like(args.data_dir(), "mnist", quick ? 3000 : -1, quick ? 1000 : -1);
    split_validation(data, args.val(data.train.size()));
    const SelectionSet sel = selection_set(data);
    std::printf("data: %s, %lld training (transfer set), %lld %s, %lld test images\n", data.dir.c_str(),
                static_cast<long long>(data.train.size()), static_cast<long long>(sel.images.size()), sel.name,
                static_cast<long long>(data.test.size()));

    // ---- (1) the teacher, trained once ----------------------------------------------------------
    Recipe tr{.epochs = quick ? 2 : static_cast<int>(args.get_int("--teacher-epochs", 1, ExampleArgs::kMaxEpochs)),
              .batch = 100, .lr = static_cast<float>(args.get_float_above("--lr-teacher", 0.0, 100.0)),
              .momentum = static_cast<float>(args.get_float("--momentum-teacher", 0.0, 0.999)),
              .max_norm = static_cast<float>(args.get_float_above("--max-norm", 0.0, 100.0)), .jitter = 2,
              // one epoch of warm-up: at rates of 0.2 and more the teacher's ReLUs died in the first
              // hundred steps without it (8-epoch probe, book 25)
              .warmup = 1};
    if (args.given("--epochs")) tr.epochs = args.epochs(tr.epochs, tr.epochs);
    std::filesystem::create_directories(checkpoint_dir());
    // The teacher's recipe is in the name, so a search over it never loads another setting's net.
    const std::string tag = std::string(quick ? "-quick" : "") + "-val" + std::to_string(data.val.size()) + "-e" +
                            std::to_string(tr.epochs) + "-lr" + fmt(tr.lr, 3) + "-m" + fmt(tr.momentum, 3) + "-c" +
                            fmt(tr.max_norm, 1) + (args.get("--teacher-pixels") == "unit" ? "-u" : "") + "-s" + args.get("--teacher-seed");
    const uint64_t teacher_seed = static_cast<uint64_t>(args.get_int("--teacher-seed", 0, INT64_MAX));
    const std::string teacher_path = checkpoint_dir() + "/kd-teacher-" + data.name + tag + ".mgf";
    auto teacher = make_mlp(h_teacher, h_teacher, 0.2f, 0.5f, pixels == "unit");
    if (std::filesystem::exists(teacher_path)) {
      load_checkpoint(teacher_path, *teacher);
      std::printf("teacher: loaded %s\n", teacher_path.c_str());
    } else {
      std::printf("teacher: training %d epochs (dropout 0.2/0.5, max-norm %.1f, jitter 2 px, lr %g, momentum %g) -> %s\n",
                  tr.epochs, tr.max_norm, tr.lr, tr.momentum, teacher_path.c_str());
      manual_seed(teacher_seed);
      train(*teacher, data.train, tr, teacher_seed + 1, "teacher", nullptr, 1, 0, &data.val);
      save_checkpoint(teacher_path, *teacher);
    }
    const EvalResult t_sel = evaluate(*teacher, sel.images), t_test = evaluate(*teacher, data.test);
    std::printf("teacher: %s errors %lld / %lld\n", sel.name, static_cast<long long>(t_sel.errors),
                static_cast<long long>(t_sel.count));
    if (part == "teacher") {
      std::printf("teacher: test errors %lld / %lld\n", static_cast<long long>(t_test.errors),
                  static_cast<long long>(t_test.count));
      return 0;
    }

    // ---- (2) its logits for the transfer set, cached ------------------------------------------
    const std::string cache_path = checkpoint_dir() + "/kd-teacher-" + data.name + tag + ".mgftl";
    bool computed = false;
    TeacherCache cache = cached_teacher_logits(cache_path, *teacher, data.train, &computed);
    std::printf("teacher logits: %s %s (%lld x %lld)\n", computed ? "computed and written to" : "read from",
                cache_path.c_str(), static_cast<long long>(cache.logits.dim(0)), static_cast<long long>(cache.logits.dim(1)));

    ResultTable table({"net", "training", sel.name + std::string(" errors"), "test errors", "paper test errors"});
    table.add_row({"teacher " + std::to_string(h_teacher) + "-" + std::to_string(h_teacher), "dropout, max-norm, jitter 2 px",
                   std::to_string(t_sel.errors), std::to_string(t_test.errors), "67"});
    const int student_epochs = quick ? 2 : static_cast<int>(args.get_int("--student-epochs", 1, ExampleArgs::kMaxEpochs));
    const Recipe sr{.epochs = student_epochs, .batch = 100, .lr = static_cast<float>(args.get_float_above("--lr-student", 0.0, 1.0)),
                    .momentum = 0.9f, .max_norm = 0, .jitter = 0};
    Recipe kr = sr;   // the distilled students: the same, at --lr-kd
    kr.lr = static_cast<float>(lr_kds.front());
    const std::string s_name = "student " + std::to_string(h_student) + "-" + std::to_string(h_student);
    std::shared_ptr<Sequential> distilled;
    int64_t plain_test = -1, kd_test = -1;

    // ---- (3)-(4) the student, plain and distilled ----------------------------------------------
    if (all || part == "kd" || part == "compress") {
      manual_seed(args.seed() + 3);   // the same initial weights as the distilled student
      auto plain = make_mlp(h_student, h_student);
      if (all || part == "kd") {
        train(*plain, data.train, sr, args.seed() + 2, "student plain", nullptr, 1, 0, &data.val);
        const EvalResult ps = evaluate(*plain, sel.images), pt = evaluate(*plain, data.test);
        plain_test = pt.errors;
        table.add_row({s_name, "hard labels, no regularisation", std::to_string(ps.errors), std::to_string(pt.errors), "146"});
      }
      ResultTable grid({"distilled " + s_name + ", T = " + fmt(T, 0), "soft weight", "lr", sel.name + std::string(" errors")});
      int64_t best_val = INT64_MAX;
      for (double w : w_softs)
        for (double lr : lr_kds) {
          Recipe k = kr;
          k.lr = static_cast<float>(lr);
          manual_seed(args.seed() + 3);
          auto s = make_mlp(h_student, h_student);
          train(*s, data.train, k, args.seed() + 2, "student KD w=" + fmt(w, 2) + " lr=" + fmt(lr, 3), &cache.logits, T,
                static_cast<float>(w), &data.val);
          const int64_t v = evaluate(*s, sel.images).errors;
          grid.add_row({"", fmt(w, 2), fmt(lr, 3), std::to_string(v)});
          if (v < best_val) best_val = v, distilled = s, w_soft = static_cast<float>(w), kr.lr = static_cast<float>(lr);
        }
      if (w_softs.size() * lr_kds.size() > 1) grid.print("Distilled student: soft weight and rate, chosen on " + std::string(sel.name));
      const EvalResult ds = evaluate(*distilled, sel.images), dt = evaluate(*distilled, data.test);
      kd_test = dt.errors;
      table.add_row({s_name, "KD T = " + fmt(T, 0) + ", soft weight " + fmt(w_soft, 2) + " (x T^2), lr " + fmt(kr.lr, 3),
                     std::to_string(ds.errors), std::to_string(dt.errors), "74"});
      if (plain_test >= 0) {
        const double gap = static_cast<double>(plain_test - t_test.errors);
        std::printf("KD closes %s of the teacher-student gap on test (%lld of %lld errors; paper 72 of 79, 91 %%)\n",
                    gap > 0 ? fmt_pct((plain_test - kd_test) / gap, 0).c_str() : "n/a (no gap)",
                    static_cast<long long>(plain_test - kd_test), static_cast<long long>(plain_test - t_test.errors));
      }
    }

    // ---- (5) the mythical 3 ----------------------------------------------------------------
    if (all || part == "mythical3") {
      Dataset no3;
      Tensor no3_logits;
      without_class(data.train, cache.logits, 3, &no3, &no3_logits);
      manual_seed(args.seed() + 4);
      auto s3 = make_mlp(h_student, h_student);
      train(*s3, no3, kr, args.seed() + 5, "student without 3s", &no3_logits, T, w_soft, nullptr);
      // The bias of class 3 is chosen on the validation split (the paper: 3.5, by hand).
      float best_shift = 0;
      int64_t best_err = INT64_MAX;
      for (float s = 0.0f; s <= 8.0f + 1e-6f; s += 0.5f) {
        const ClassErrors v = errors_with_bias(*s3, sel.images, 3, s);
        if (v.errors < best_err) best_err = v.errors, best_shift = s;
      }
      const ClassErrors before = errors_with_bias(*s3, data.test, 3, 0), after = errors_with_bias(*s3, data.test, 3, best_shift);
      ResultTable t3({"mythical 3", "test errors", "errors on test 3s", "3s correct", "paper"});
      t3.add_row({"no 3 in the transfer set", std::to_string(before.errors), errs(before.cls_errors, before.cls_count),
                  fmt_pct(1.0 - static_cast<double>(before.cls_errors) / static_cast<double>(std::max<int64_t>(before.cls_count, 1))),
                  "206 errors, 133 on 3s"});
      t3.add_row({"bias of 3 raised by " + fmt(best_shift, 1) + " (chosen on " + sel.name + ")", std::to_string(after.errors),
                  errs(after.cls_errors, after.cls_count),
                  fmt_pct(1.0 - static_cast<double>(after.cls_errors) / static_cast<double>(std::max<int64_t>(after.cls_count, 1))),
                  "+3.5: 109 errors, 14 on 3s (98.6 %)"});
      t3.print("The mythical 3 (Hinton et al. 2015 §3), student " + std::to_string(h_student) + "-" + std::to_string(h_student));
    }

    // ---- (6) the temperature sweep on a 30-30 student ------------------------------------------
    if (all || part == "sweep") {
      const int sweep_epochs = quick ? 2 : static_cast<int>(args.get_int("--sweep-epochs", 1, ExampleArgs::kMaxEpochs));
      const std::vector<double> lrs = args.get_numbers("--lr-sweep", 1e-6, 1.0);
      // Differences between temperatures are a few errors in 10 000, so every setting (hard labels,
      // each T) is trained from --sweep-seeds seeds at every rate of --lr-sweep; each setting gets
      // the rate with the fewest mean validation errors, and T is chosen on those means.
      const int n_seeds = quick ? 1 : static_cast<int>(args.get_int("--sweep-seeds", 1, 20));
      const size_t n_set = sweep_T.size() + 1;   // setting 0: hard labels; setting i: KD at sweep_T[i - 1]
      // val[setting][rate] and test[setting][rate]: one entry per seed
      std::vector<std::vector<std::vector<double>>> val(n_set, std::vector<std::vector<double>>(lrs.size())), test = val;
      for (size_t r = 0; r < lrs.size(); ++r)
        for (int k = 0; k < n_seeds; ++k) {
          const uint64_t sd = args.seed() + 6 + 100 * static_cast<uint64_t>(k);
          const Recipe wr{.epochs = sweep_epochs, .batch = 100, .lr = static_cast<float>(lrs[r]), .momentum = 0.9f,
                          .max_norm = 0, .jitter = 0};
          for (size_t i = 0; i < n_set; ++i) {
            manual_seed(sd);   // the same initial weights for every setting and rate
            auto st = make_mlp(30, 30);
            const std::string lab = "30-30 " + (i == 0 ? std::string("hard") : "T=" + fmt(sweep_T[i - 1], 1)) + " lr " +
                                    fmt(lrs[r], 3) + " seed " + std::to_string(k + 1);
            if (i == 0) train(*st, data.train, wr, sd + 1, lab);
            else train(*st, data.train, wr, sd + 1, lab, &cache.logits, static_cast<float>(sweep_T[i - 1]), w_soft);
            val[i][r].push_back(static_cast<double>(evaluate(*st, sel.images).errors));
            test[i][r].push_back(static_cast<double>(evaluate(*st, data.test).errors));
          }
        }
      auto per_seed = [](const std::vector<double>& v) {
        std::string out;
        for (double x : v) out += (out.empty() ? "" : " ") + fmt(x, 0);
        return out;
      };
      ResultTable ts({"30-30 student", "T", "lr", sel.name + std::string(" errors, mean of ") + std::to_string(n_seeds) + " seeds",
                      "per seed", "lr chosen"});
      std::vector<size_t> rate(n_set, 0);   // the chosen rate of each setting
      for (size_t i = 0; i < n_set; ++i) {
        for (size_t r = 0; r < lrs.size(); ++r)
          if (mean_sd(val[i][r]).mean < mean_sd(val[i][rate[i]]).mean) rate[i] = r;
        for (size_t r = 0; r < lrs.size(); ++r)
          ts.add_row({i == 0 ? "hard labels" : "KD", i == 0 ? "-" : fmt(sweep_T[i - 1], 1), fmt(lrs[r], 3),
                      fmt(mean_sd(val[i][r]).mean, 1), per_seed(val[i][r]), r == rate[i] ? "*" : ""});
      }
      std::vector<double> xs, ys, seed_xs, seed_ys;
      size_t bi = 1;
      for (size_t i = 1; i < n_set; ++i) {
        xs.push_back(sweep_T[i - 1]);
        ys.push_back(mean_sd(val[i][rate[i]]).mean);
        for (double v : val[i][rate[i]]) seed_xs.push_back(sweep_T[i - 1]), seed_ys.push_back(v);
        if (ys.back() < ys[bi - 1]) bi = i;
      }
      const double best_T = sweep_T[bi - 1];
      ts.print("Temperature sweep (choices on " + std::string(sel.name) + "; paper: best T in 2.5-4 for 30 units)");
      const std::vector<double>& hv = val[0][rate[0]];
      const std::vector<double>& htest = test[0][rate[0]];
      const std::vector<double>& bv = val[bi][rate[bi]];
      const std::vector<double>& btest = test[bi][rate[bi]];
      std::printf("30-30: best T on %s = %s (lr %s, mean %s; hard labels lr %s, mean %s); test errors at that T %s (%s), "
                  "hard labels %s (%s)\n",
                  sel.name, fmt(best_T, 1).c_str(), fmt(lrs[rate[bi]], 3).c_str(), fmt(mean_sd(bv).mean, 1).c_str(),
                  fmt(lrs[rate[0]], 3).c_str(), fmt(mean_sd(hv).mean, 1).c_str(), fmt(mean_sd(btest).mean, 1).c_str(),
                  per_seed(btest).c_str(), fmt(mean_sd(htest).mean, 1).c_str(), per_seed(htest).c_str());
      table.add_row({"student 30-30", "hard labels, lr " + fmt(lrs[rate[0]], 3) + " (mean of " + std::to_string(n_seeds) + ")",
                     fmt(mean_sd(hv).mean, 1), fmt(mean_sd(htest).mean, 1), "-"});
      table.add_row({"student 30-30", "KD, T = " + fmt(best_T, 1) + ", lr " + fmt(lrs[rate[bi]], 3) + " (best on " + sel.name + ")",
                     fmt(mean_sd(bv).mean, 1), fmt(mean_sd(btest).mean, 1), "best T 2.5-4"});
      SvgPlot p("Distillation temperature, 784-30-30-10 student (MNIST)", "temperature T", std::string(sel.name) + " errors");
      p.log_x = true;
      p.line("KD, soft weight " + fmt(w_soft, 1) + ", mean of " + std::to_string(n_seeds) + " seeds", xs, ys);
      p.points("each seed", seed_xs, seed_ys);
      p.hline(mean_sd(hv).mean, "hard labels only (mean)");
      const std::string svg = args.svg_path("book/figures/distillation-temperature.svg");
      if (!quick || args.given("--svg")) {
        p.write(svg);
        std::printf("figure: %s\n", svg.c_str());
      }
    }

    table.print("Hinton et al. 2015 §3, MNIST (" + std::string(sel.name) + " = choices; test reported once)");
    if (!args.json_path().empty()) table.write_json(args.json_path());

    // ---- (7) distillation as a compressor --------------------------------------------------
    if ((all || part == "compress") && distilled) {
      set_num_threads(1);
      ModelSummary ts = summarize(*teacher, {1, 1, 28, 28}), ss = summarize(*distilled, {1, 1, 28, 28});
      ResultTable tc({"model", "parameters", "float bytes", "MACs / image", "latency batch 1 (us, 1 thread)"});
      tc.add_row({"teacher", std::to_string(ts.params), std::to_string(ts.bytes), std::to_string(ts.macs), fmt(ts.latency_us, 1)});
      tc.add_row({"distilled student", std::to_string(ss.params), std::to_string(ss.bytes), std::to_string(ss.macs),
                  fmt(ss.latency_us, 1)});
      // The student through Deep Compression (book 15): the paper's LeNet-300-100 setting with a
      // short retraining budget (one pruning step, one epoch each), written to and run from a file.
      DeepCompressionConfig cfg = deep_compression_paper_config("lenet300");
      cfg.prune_steps = 1;
      cfg.prune_epochs = 1;
      cfg.quant_epochs = 1;
      cfg.file = checkpoint_dir() + "/kd-student" + tag + "-student-s" + std::to_string(args.seed()) + ".mgfdc";
      cfg.arch = "kd-student";
      cfg.seed = args.seed();
      DataSplits dc = data;
      DeepCompressionResult r = compress_and_measure(*distilled, [h_student] { return make_mlp(h_student, h_student); }, dc, cfg);
      check_sim_equals_deploy("distilled student from " + cfg.file, r.prediction_mismatches, data.test.size(), r.max_logit_diff);
      tc.add_row({"distilled student, Deep Compression (" + cfg.file + ")", std::to_string(r.float_params),
                  std::to_string(r.file_bytes), "-", "-"});
      tc.print("Distillation as a compressor (test errors: teacher " + std::to_string(t_test.errors) + ", student " +
               std::to_string(kd_test) + ", student from the .mgfdc file " +
               std::to_string(static_cast<int64_t>(std::lround(r.error_deployed * static_cast<double>(data.test.size())))) + ")");
      std::printf("compression: teacher float %lld bytes / student .mgfdc %lld bytes = %.1fx; latency teacher / student = %.2fx\n",
                  static_cast<long long>(ts.bytes), static_cast<long long>(r.file_bytes),
                  static_cast<double>(ts.bytes) / static_cast<double>(std::max<int64_t>(r.file_bytes, 1)),
                  ts.latency_us / std::max(ss.latency_us, 1e-9));
    }
    return 0;
  });
}

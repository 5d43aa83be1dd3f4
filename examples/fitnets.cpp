// examples/fitnets.cpp — reproduces the MNIST experiment of Romero et al. 2015, "FitNets: Hints
// for Thin Deep Nets" (Table 4): a thin, deep student (6 conv 3×3 layers, 8-16 channels, ~28 K
// parameters) trained three ways — plain backprop, KD, and hints (stage 1) + KD (stage 2) — from
// a wide LeNet-style teacher, over several seeds; then MACs and measured latency of teacher vs
// student (the paper's speed-up claim), one thread.
// Book: book/26-fitnets.md.
//
//   build/examples/fitnets                       (see --help for the time)
//   build/examples/fitnets --set fashion-mnist   (Fashion-MNIST; book 26 picks --lr per way there)
//   build/examples/fitnets --quick               (seconds, for CI)
//
// Teacher: conv1 32@5×5 → ReLU → max-pool 2 → conv2 64@5×5 → ReLU [hint, 64×8×8] → max-pool 2 →
// fc 1024→500 → ReLU → fc 500→10, SGD + momentum, cosine, 2-px jitter; checkpoint under
// checkpoints/, logits for the transfer set cached in a .mgftl file (distill/kd.h).
// Student: c1 8 (pad 1) → c2 8 (pad 1) → pool → c3 16 → c4 16 [guided, 16×10×10] → c5 16 (pad 1)
// → pool → c6 16 (pad 1) → fc 400→48 → fc 48→10, ReLU after each; RMSProp (the paper's
// optimiser), cosine decay. The regressor maps 16×10×10 to 64×8×8 with a 3×3 kernel (k = 10−8+1):
// 3·3·64·16 weights. KD: τ = 3, λ from 4 to 1 over the stage-2 epochs (§4.1).
// The one choice, the RMSProp rate (0.003), was made on MNIST's validation split (--val, the last
// 10 000 training images) by runs with --seeds 1 --lr R (book 26); the test set is evaluated once
// per trained student for the table.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "distill/fitnets.h"
#include "distill/kd.h"
#include "engine/checkpoint.h"
#include "engine/cli.h"
#include "engine/data.h"
#include "engine/kernels/timing.h"
#include "engine/loader.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/schedule.h"
#include "engine/summary.h"
#include "engine/threads.h"
#include "engine/train.h"
#include "layers/activation.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/models/baseline.h"
#include "layers/pool.h"
#include "layers/sequential.h"
#include "layers/shape.h"

using namespace mgf;

namespace {

std::shared_ptr<GuidedNet> make_teacher() {
  auto lo = std::make_shared<Sequential>(), up = std::make_shared<Sequential>();
  lo->add("conv1", std::make_shared<Conv2d>(1, 32, 5));       // 28 → 24
  lo->add("relu1", std::make_shared<ReLU>());
  lo->add("pool1", std::make_shared<MaxPool2d>(2));           // → 12
  lo->add("conv2", std::make_shared<Conv2d>(32, 64, 5));      // → 8: the hint layer
  lo->add("relu2", std::make_shared<ReLU>());
  up->add("pool2", std::make_shared<MaxPool2d>(2));           // → 4
  up->add("flatten", std::make_shared<Flatten>());
  up->add("fc1", std::make_shared<Linear>(64 * 4 * 4, 500));
  up->add("relu3", std::make_shared<ReLU>());
  up->add("fc2", std::make_shared<Linear>(500, 10));
  return std::make_shared<GuidedNet>(lo, up);
}

std::shared_ptr<GuidedNet> make_student() {
  const Conv2dOptions same{.pad_h = 1, .pad_w = 1};
  auto lo = std::make_shared<Sequential>(), up = std::make_shared<Sequential>();
  lo->add("c1", std::make_shared<Conv2d>(1, 8, 3, same));     // 28
  lo->add("r1", std::make_shared<ReLU>());
  lo->add("c2", std::make_shared<Conv2d>(8, 8, 3, same));     // 28
  lo->add("r2", std::make_shared<ReLU>());
  lo->add("p1", std::make_shared<MaxPool2d>(2));              // 14
  lo->add("c3", std::make_shared<Conv2d>(8, 16, 3));          // 12
  lo->add("r3", std::make_shared<ReLU>());
  lo->add("c4", std::make_shared<Conv2d>(16, 16, 3));         // 10: the guided layer
  lo->add("r4", std::make_shared<ReLU>());
  up->add("c5", std::make_shared<Conv2d>(16, 16, 3, same));   // 10
  up->add("r5", std::make_shared<ReLU>());
  up->add("p2", std::make_shared<MaxPool2d>(2));              // 5
  up->add("c6", std::make_shared<Conv2d>(16, 16, 3, same));   // 5
  up->add("r6", std::make_shared<ReLU>());
  up->add("flatten", std::make_shared<Flatten>());
  up->add("fc1", std::make_shared<Linear>(16 * 5 * 5, 48));
  up->add("r7", std::make_shared<ReLU>());
  up->add("fc2", std::make_shared<Linear>(48, 10));
  return std::make_shared<GuidedNet>(lo, up);
}

struct Budget {
  int teacher_epochs, student_epochs, hint_epochs;
};

enum class Way { plain, kd, hints_kd };
const char* way_name(Way w) { return w == Way::plain ? "backprop" : w == Way::kd ? "KD" : "hints + KD"; }

// Median latency, one thread, of teacher and student at batch 1 and 64, measured interleaved
// (median_call_us_interleaved): each sample runs both nets in turn, so a burst of load from other
// processes on the machine hits both alike and the ratio stays meaningful.
struct Latency {
  double teacher_b1, student_b1, teacher_b64, student_b64;   // µs per forward pass
};
Latency measure_latency(Module& teacher, Module& student, int samples) {
  NoGradGuard ng;
  teacher.eval();
  student.eval();
  const Var x1(Tensor({1, 1, 28, 28}, 0.5f)), x64(Tensor({64, 1, 28, 28}, 0.5f));
  const auto b1 = median_call_us_interleaved({[&] { teacher.forward(x1); }, [&] { student.forward(x1); }}, samples, {10, 10});
  const auto b64 = median_call_us_interleaved({[&] { teacher.forward(x64); }, [&] { student.forward(x64); }}, samples, {1, 1});
  return {b1[0], b1[1], b64[0], b64[1]};
}

// One student, one way, one seed; returns it trained.
std::shared_ptr<GuidedNet> train_student(Way way, const Budget& b, float lr, const DataSplits& data,
                                         const TeacherCache& cache, GuidedNet& teacher, uint64_t seed) {
  manual_seed(seed);   // the same initial student for the three ways of one seed
  auto s = make_student();
  Rng rng(seed + 100);
  DataLoader loader(data.train, 128, true, rng);   // batch 128 (§4); no jitter: the cache is for the images as they are
  const std::string tag = std::string(way_name(way)) + " seed " + std::to_string(seed);
  if (way == Way::hints_kd) {
    // Stage 1: the student up to its guided layer, plus the regressor, on L_HT.
    HintRegressor r(16, 64, 10, 8);
    std::vector<Parameter*> ps = s->lower->parameters();
    for (Parameter* p : r.parameters()) ps.push_back(p);
    RMSProp opt(ps, {.lr = lr});   // a constant rate: stage 1 only has to get the lower layers started
    for (int e = 0; e < b.hint_epochs; ++e)
      train_epoch_hint(*s->lower, r, *teacher.lower, opt, loader, tag + " stage 1 epoch " + std::to_string(e + 1));
  }
  RMSProp opt(s->parameters(), {.lr = lr});
  BatchSchedule sched(cosine_schedule(lr, b.student_epochs), loader.num_batches());
  sched.reset(opt);
  TrainHooks hooks;
  hooks.schedule = &sched;
  for (int e = 0; e < b.student_epochs; ++e) {
    const std::string lab = tag + " epoch " + std::to_string(e + 1) + "/" + std::to_string(b.student_epochs);
    if (way == Way::plain) {
      train_epoch(*s, opt, loader, hooks, lab);
    } else {
      const float lambda = annealed_lambda(e, b.student_epochs, 4.0f, 1.0f);   // §4.1: 4 → 1
      train_epoch_fitnets_kd(*s, opt, loader, cache.logits, 3.0f, lambda, hooks, lab);
    }
  }
  if (data.val.size() > 0) {
    const EvalResult v = evaluate(*s, data.val);
    std::fprintf(stderr, "%s: validation errors %lld / %lld\n", tag.c_str(), static_cast<long long>(v.errors),
                 static_cast<long long>(v.count));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main("fitnets", argc, argv, [](int argc, char** argv) {
    ExampleArgs args("fitnets",
                     "Reproduces Romero et al. 2015 Table 4 on MNIST (or Fashion-MNIST with --set fashion-mnist): a thin\n"
                     "deep student trained by backprop, KD, and hints + KD from a wide LeNet-style teacher, over seeds;\n"
                     "MACs and latency of teacher vs student.",
                     "full run, one thread: about 20 min on a shared 2-core machine (measured, --set fashion-mnist: 19 min\n"
                     "wall, 7.5 min of CPU, for the teacher and 9 students on 20 000 images); --quick: seconds",
                     {"--data", "--val", "--json"});
    args.val_default(kDefaultValidationImages, "each student's validation errors (the rate 0.003 was chosen on MNIST's)", 500);
    args.option("--set", "mnist", "mnist | fashion-mnist");
    args.option("--seeds", "3", "seeds per way");
    args.option("--train-images", "20000", "transfer-set size: the first N training images (0 = all 50 000)");
    args.option("--teacher-epochs", "8", "teacher epochs");
    args.option("--student-epochs", "8", "student epochs (stage 2 for hints + KD)");
    args.option("--hint-epochs", "2", "stage-1 epochs of hints + KD");
    args.option("--lr", "0.003", "RMSProp rate of the students (cosine decay): one value, or three for plain,kd,hints");
    args.option("--ways", "plain,kd,hints", "which students to train: any of plain, kd, hints (none: only the cost table)");
    args.parse(argc, argv);
    const bool quick = args.quick();
    const std::string set = args.get("--set");
    if (set != "mnist" && set != "fashion-mnist") args.fail("--set: expected mnist or fashion-mnist, found '" + set + "'");
    const int seeds = quick ? 1 : static_cast<int>(args.get_int("--seeds", 1, 20));
    const int64_t n_train = args.get_int("--train-images", 0, 60000);
    const Budget b{quick ? 1 : static_cast<int>(args.get_int("--teacher-epochs", 1, 1000)),
                   quick ? 1 : static_cast<int>(args.get_int("--student-epochs", 1, 1000)),
                   quick ? 1 : static_cast<int>(args.get_int("--hint-epochs", 1, 1000))};
    const std::vector<double> lr_list = args.get_numbers("--lr", 1e-7, 1.0);
    if (lr_list.size() != 1 && lr_list.size() != 3)
      args.fail("--lr: expected one rate or three (plain,kd,hints), found " + std::to_string(lr_list.size()));
    auto lr_of = [&](Way w) { return static_cast<float>(lr_list.size() == 1 ? lr_list[0] : lr_list[static_cast<size_t>(w)]); };
    std::vector<Way> ways;
    for (const std::string& w : args.get_list("--ways")) {
      if (w == "none") continue;
      if (w == "plain") ways.push_back(Way::plain);
      else if (w == "kd") ways.push_back(Way::kd);
      else if (w == "hints") ways.push_back(Way::hints_kd);
      else args.fail("--ways: expected plain, kd, hints or none, found '" + w + "'");
    }

    DataSplits data = load_mnist_like(args.data_dir(), set, quick ? 1500 : -1, quick ? 500 : -1);
    split_validation(data, args.val(data.train.size()));
    if (!quick && n_train > 0 && n_train < data.train.size()) data.train = data.train.slice(0, n_train);
    std::printf("data: %s, %lld training (transfer set), %lld validation, %lld test images\n", data.dir.c_str(),
                static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
                static_cast<long long>(data.test.size()));

    // ---- the teacher, trained once --------------------------------------------------------
    std::filesystem::create_directories(checkpoint_dir());
    const std::string tag = data.name + (quick ? "-quick" : "") + "-n" + std::to_string(data.train.size()) + "-val" +
                            std::to_string(data.val.size()) + "-e" + std::to_string(b.teacher_epochs);
    const std::string tpath = checkpoint_dir() + "/fitnets-teacher-" + tag + ".mgf";
    auto teacher = make_teacher();
    if (std::filesystem::exists(tpath)) {
      load_checkpoint(tpath, *teacher);
      std::printf("teacher: loaded %s\n", tpath.c_str());
    } else {
      manual_seed(args.seed());
      Rng rng(args.seed() + 1);
      DataLoader loader(data.train, 64, true, rng, 2);
      SGD opt(teacher->parameters(), {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f});
      BatchSchedule sched(cosine_schedule(0.01f, b.teacher_epochs), loader.num_batches());
      sched.reset(opt);
      TrainHooks hooks;
      hooks.schedule = &sched;
      for (int e = 1; e <= b.teacher_epochs; ++e)
        train_epoch(*teacher, opt, loader, hooks, "teacher epoch " + std::to_string(e) + "/" + std::to_string(b.teacher_epochs));
      save_checkpoint(tpath, *teacher);
    }
    const TeacherCache cache = cached_teacher_logits(checkpoint_dir() + "/fitnets-teacher-" + tag + ".mgftl", *teacher, data.train);

    // ---- the students ----------------------------------------------------------------------
    ResultTable table({"net", "training", "seed", "val errors", "test error"});
    const EvalResult tv = evaluate(*teacher, data.val), tt = evaluate(*teacher, data.test);
    table.add_row({"teacher", "SGD, jitter 2 px", std::to_string(args.seed()), std::to_string(tv.errors), fmt_pct(tt.error_rate())});
    ResultTable means({"student", "training", "RMSProp rate", "seeds", "val error mean", "test error mean", "sd",
                       "paper (MNIST)"});
    const char* paper[] = {"1.90 %", "0.65 %", "0.51 %"};
    std::vector<double> mean_of(3, -1.0);
    auto student = make_student();   // for the cost table when no student is trained
    for (Way w : ways) {
      std::vector<double> errs, val_errs;
      for (int k = 0; k < seeds; ++k) {
        const uint64_t seed = args.seed() + 10 + static_cast<uint64_t>(k);
        student = train_student(w, b, lr_of(w), data, cache, *teacher, seed);
        const EvalResult v = evaluate(*student, data.val), t = evaluate(*student, data.test);
        errs.push_back(100.0 * t.error_rate());
        val_errs.push_back(100.0 * v.error_rate());
        table.add_row({"student", way_name(w), std::to_string(seed), std::to_string(v.errors), fmt_pct(t.error_rate())});
      }
      const MeanSd m = mean_sd(errs);
      mean_of[static_cast<size_t>(w)] = m.mean;
      means.add_row({"FitNet " + std::to_string(student->num_parameters()) + " params", way_name(w), fmt(lr_of(w), 4),
                     std::to_string(seeds), fmt(mean_sd(val_errs).mean, 2) + " %", fmt(m.mean, 2) + " %", fmt(m.sd, 2),
                     paper[static_cast<size_t>(w)]});
    }
    table.print("Runs (" + data.name + ")");
    if (!ways.empty()) means.print("Romero et al. 2015 Table 4 (" + data.name + "), error over seeds");
    if (mean_of[0] >= 0 && mean_of[1] >= 0 && mean_of[2] >= 0)
      std::printf("order hints+KD < KD < backprop: %s; hints+KD better than backprop by %.2f pp (floor 0.30)\n",
                  mean_of[2] < mean_of[1] && mean_of[1] < mean_of[0] ? "yes" : "no", mean_of[0] - mean_of[2]);
    if (!args.json_path().empty()) means.write_json(args.json_path());

    // ---- cost: MACs and latency, one thread -------------------------------------------------
    set_num_threads(1);
    // summarize() counts the MACs of a flat model's children: each GuidedNet is two flat parts.
    const int64_t t_macs = summarize(*teacher->lower, {1, 1, 28, 28}, 1).macs + summarize(*teacher->upper, {1, 64, 8, 8}, 1).macs;
    const int64_t s_macs = summarize(*student->lower, {1, 1, 28, 28}, 1).macs + summarize(*student->upper, {1, 16, 10, 10}, 1).macs;
    const int64_t t_params = teacher->num_parameters(), s_params = student->num_parameters();
    const Latency lat = measure_latency(*teacher, *student, quick ? 5 : 101);
    ResultTable cost({"model", "parameters", "MACs / image", "batch 1 (us)", "batch 64 (us)", "batch 64 (us / image)"});
    cost.add_row({"teacher", std::to_string(t_params), std::to_string(t_macs), fmt(lat.teacher_b1, 1), fmt(lat.teacher_b64, 0),
                  fmt(lat.teacher_b64 / 64.0, 1)});
    cost.add_row({"student (FitNet)", std::to_string(s_params), std::to_string(s_macs), fmt(lat.student_b1, 1),
                  fmt(lat.student_b64, 0), fmt(lat.student_b64 / 64.0, 1)});
    cost.print("Teacher vs student, one thread, median latency measured interleaved (paper: FitNets are faster)");
    std::printf("teacher / student: %.1fx parameters, %.1fx MACs, %.2fx latency at batch 1, %.2fx at batch 64\n",
                static_cast<double>(t_params) / static_cast<double>(s_params),
                static_cast<double>(t_macs) / static_cast<double>(s_macs), lat.teacher_b1 / std::max(lat.student_b1, 1e-9),
                lat.teacher_b64 / std::max(lat.student_b64, 1e-9));
    return 0;
  });
}

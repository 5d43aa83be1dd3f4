// fuzz/fuzz_checkpoint.cpp — libFuzzer harness for our checkpoint format (engine/checkpoint.h):
// decode_checkpoint() on the bytes, then — the way a run resumes — load_checkpoint() of the
// same bytes into a small model (fuzz_common.h: checkpoint_net(), which has a masked
// parameter, batch-norm buffers and a plain parameter), then one forward pass.
//
// The trailing CRC-32 is recomputed over the mutated bytes first (the writer's layout: the
// last 4 bytes are the CRC-32 of everything before them), so the fuzzer reaches the entry
// parser. load_checkpoint() promises to check everything before it changes the model, so a
// refused file must leave every parameter, mask and buffer bit-for-bit as it was; the harness
// compares and aborts if not. Seeds: fuzz/make_corpus.cpp. Book: book/A1-reliability.md.
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mgf::set_num_threads(1);
  return 0;
}

namespace {
// Everything load_checkpoint may write, flattened: parameter values, masks, buffers.
std::vector<float> model_state(mgf::Module& m) {
  std::vector<float> s;
  for (const auto& e : mgf::checkpoint_entries(m)) s.insert(s.end(), e.value.data(), e.value.data() + e.value.numel());
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (bytes.size() >= 4) mgf_fuzz::put_le32(bytes.data() + bytes.size() - 4, mgf::crc32(bytes.data(), bytes.size() - 4));
  if (!mgf_fuzz::expect_clean_error([&] { mgf::decode_checkpoint(bytes, "fuzz.ckpt"); })) return 0;

  // Decoded: now load it into a model through the file path, as a resumed run does.
  mgf::manual_seed(1);  // the same starting weights every run, so a finding reproduces
  auto net = mgf_fuzz::checkpoint_net();
  const std::vector<float> before = model_state(*net);
  const std::string path = mgf_fuzz::scratch_file(bytes, "fuzz.ckpt");
  if (!mgf_fuzz::expect_clean_error([&] { mgf::load_checkpoint(path, *net); })) {
    const std::vector<float> after = model_state(*net);
    mgf_fuzz::require(before.size() == after.size() &&
                          std::memcmp(before.data(), after.data(), sizeof(float) * before.size()) == 0,
                      "checkpoint: a refused file leaves the model as it was");
    return 0;
  }
  net->eval();
  mgf::NoGradGuard ng;
  mgf_fuzz::expect_clean_error([&] { net->forward(mgf::Var(mgf::Tensor({1, 4}, 0.5f))); });
  return 0;
}

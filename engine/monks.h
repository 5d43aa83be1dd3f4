// engine/monks.h — the MONK's problems (Thrun et al. 1991, CMU-CS-91-197), the benchmark on which
// Optimal Brain Surgeon reports its pruning (Hassibi & Stork 1993; book/11-obs.md).
//
// The UCI text format, one example per line, whitespace-separated:
//   class a1 a2 a3 a4 a5 a6 id        class 0/1; a1, a2, a4 in 1..3; a3, a6 in 1..2; a5 in 1..4
// (../shared/data/monks/README.md). A network sees the attributes one-hot: 3+3+2+3+4+2 = 17
// inputs. Files are looked up like the IDX files (engine/data.h): --data DIR only, else
// $MGF_DATA, ./data, ../shared/data, each also with /monks appended.
// Every error names the file and the line: a missing field, a value that is not an integer, an
// attribute out of its range, a class other than 0/1, an empty file.
// Deliberately not here: the "id" field (read and discarded).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mgf {

constexpr std::array<int, 6> kMonksValues{3, 3, 2, 3, 4, 2};  // values of a1..a6
constexpr int kMonksInputs = 17;                              // their sum: the one-hot width

struct MonksExample {
  int label = 0;                 // 0 or 1
  std::array<int, 6> a{};        // a1..a6, each in 1..kMonksValues[i]
};

// Parses the text of a MONK's file; `name` is used in error messages ("monks-1.train:12: ...").
// Throws std::runtime_error.
std::vector<MonksExample> parse_monks(const std::string& text, const std::string& name);

// Reads monks-<problem>.<split> (problem 1..3, split "train" or "test") from the first place
// that has it; throws std::runtime_error listing the places when none does.
std::vector<MonksExample> load_monks(const std::string& flag_dir, int problem, const std::string& split);

// The 17 one-hot inputs of an example (0 or 1 each), attribute by attribute.
std::array<double, kMonksInputs> monks_one_hot(const MonksExample& e);

}  // namespace mgf

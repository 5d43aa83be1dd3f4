// engine/io/checked.h — size arithmetic that cannot overflow silently.
//
// Every size a reader computes from file fields (elements = product of a shape, bytes =
// count × element size, offsets = a + b) goes through these, so a declared shape such as
// (4294967296, 4294967296) is an error naming the field, not a signed overflow that wraps
// to a small or zero element count. `Tensor` uses checked_numel() for its own shapes too.
// The checks use the compilers' __builtin_*_overflow (GCC and Clang), which compile to one
// multiply and a flag test. Book: book/03-training.md ("Files").
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace mgf {

// a × b and a + b, or std::overflow_error naming `what` and both operands.
uint64_t checked_mul(uint64_t a, uint64_t b, std::string_view what);
uint64_t checked_add(uint64_t a, uint64_t b, std::string_view what);

// The product of the dims of `shape` (1 for []), or std::overflow_error naming `what`
// when it does not fit in int64_t; a negative dim is std::invalid_argument.
int64_t checked_numel(const std::vector<int64_t>& shape, std::string_view what);

}  // namespace mgf

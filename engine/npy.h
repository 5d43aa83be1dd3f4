// engine/npy.h — NumPy .npy files for one float32 tensor, to move weights to and from other
// tools (np.load / np.save on the other side).
//
// The format (numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   "\x93NUMPY", major, minor (1.0; 2.0 and 3.0 read too: they only widen the length field),
//   header length (u16 LE for 1.0, u32 LE for 2.0/3.0), then an ASCII Python dict such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (300, 784), }
//   padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes,
//   then the data, C order.
// Book: book/03-training.md. Deliberately not here: other dtypes, Fortran order, .npz
// archives, big-endian data — each is rejected with a message saying what was found.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace mgf {

std::vector<uint8_t> npy_encode(const Tensor& t);
Tensor npy_decode(const std::vector<uint8_t>& bytes, const std::string& name);

void write_npy(const std::string& path, const Tensor& t);   // atomic: temporary file + rename
Tensor read_npy(const std::string& path);

}  // namespace mgf

// compression/lowrank/svd.h — the dense linear algebra the low-rank chapters need, written here
// in double precision: a thin SVD by one-sided Jacobi (Hestenes 1958), a symmetric eigensolver
// (cyclic Jacobi rotations), the truncated reconstruction and the best rank-K error.
//
// Why one-sided Jacobi for teaching: the whole algorithm is one idea — rotate pairs of columns of
// A until every pair is orthogonal; then the column norms are the singular values, the normalised
// columns are U and the accumulated rotations are V. No bidiagonalisation, no implicit shifts, no
// deflation bookkeeping; each rotation is the closed-form 2×2 symmetric eigenproblem of the pair's
// Gram matrix. It is also accurate for small singular values (Demmel & Veselić 1992), which the
// truncation error of a low-rank approximation is made of. It is O(sweeps · m n²) — fine for the
// 800×500 fc1 and 500×25 conv matricisations of LeNet-5, not for a 4096² AlexNet layer.
//
// Book: book/12-lowrank_svd.md (Denton et al. 2014, §3 "Weight approximation techniques").
// Deliberately not here: randomised / Lanczos partial SVDs, complex numbers, LAPACK.
#pragma once
#include <cstdint>
#include <vector>

namespace mgf {

struct Svd {                 // thin SVD A = U · diag(s) · Vᵀ, A is rows × cols
  int64_t rows = 0, cols = 0, rank = 0;   // rank = min(rows, cols)
  std::vector<double> u;     // rows × rank, row-major
  std::vector<double> s;     // rank, descending, ≥ 0
  std::vector<double> v;     // cols × rank, row-major
};

// Thin SVD of the row-major rows × cols matrix a by one-sided Jacobi. Singular values sorted
// descending; columns of U belonging to zero singular values are completed to an orthonormal set,
// so UᵀU = VᵀV = I always holds. Throws std::invalid_argument for rows < 1 or cols < 1.
Svd svd(const double* a, int64_t rows, int64_t cols);
// Float convenience: converts to double, then svd().
Svd svd(const float* a, int64_t rows, int64_t cols);

// The rank-k truncation U_k · diag(s_k) · V_kᵀ as a dense rows × cols matrix (row-major). For
// tests and error curves only — the chapters run the factors, never this product.
// Throws std::invalid_argument when k < 0 or k > rank.
std::vector<double> svd_reconstruct(const Svd& d, int64_t k);

// ‖A − A_k‖_F for the rank-k truncation, from the singular values alone (Eckart–Young:
// sqrt(Σ_{i>k} s_i²)). Throws when k is out of [0, rank].
double svd_truncation_error(const Svd& d, int64_t k);

struct SymEig {              // A = Q · diag(w) · Qᵀ, A symmetric n × n
  int64_t n = 0;
  std::vector<double> w;     // n eigenvalues, descending
  std::vector<double> q;     // n × n, row-major, column j is the eigenvector of w[j]
};

// Eigen-decomposition of the symmetric n × n row-major matrix a by cyclic Jacobi rotations
// (Golub & Van Loan §8.5). Only the symmetric part (a + aᵀ)/2 is used. Throws for n < 1.
SymEig sym_eig(const double* a, int64_t n);

}  // namespace mgf

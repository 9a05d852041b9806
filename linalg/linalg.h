// linalg.h - dense linear algebra for facet: single-precision GEMM (the
// engine under every convolution and fully connected layer) and the small
// dense routines the face pipeline needs (point-set fits, small symmetric
// eigen-decomposition and SVD).
//
// Matrices are row-major with a leading dimension (the distance in elements
// between the starts of consecutive rows), as in CBLAS with CblasRowMajor.
#ifndef FACET_LINALG_H
#define FACET_LINALG_H

#include "base.h"
#include "cpu.h"

// ---------------------------------------------------------------------------
// GEMM: C = alpha * op(A) * op(B) + beta * C, then an optional epilogue.
//
//   op(A): m x k    (A is m x k, lda >= k; or k x m with LA_TRANS, lda >= m)
//   op(B): k x n    (B is k x n, ldb >= n; or n x k with LA_TRANS, ldb >= k)
//   C:     m x n    (ldc >= n)
//
// beta == 0 means C is write-only (NaN in C is not propagated).
// Results are bitwise identical for any thread count: blocking depends on
// the shape only, and each element of C is summed by one thread in a fixed
// order.

typedef enum la_trans { LA_NOTRANS = 0, LA_TRANS = 1 } la_trans;

// Activation applied element-wise after bias.
typedef enum la_act {
    LA_ACT_NONE = 0,
    LA_ACT_RELU,   // max(x, 0)
    LA_ACT_RELU6,  // min(max(x, 0), 6)
    LA_ACT_PRELU   // x >= 0 ? x : slope * x, slope per channel
} la_act;

// The epilogue runs once per element of C after the full sum:
// c = act(c + bias). "Channel" is the row of C (LA_BIAS_ROW: bias[i] for
// row i) or its column (LA_BIAS_COL: bias[j]); the PReLU slope is indexed
// the same way.
typedef enum la_bias_axis { LA_BIAS_ROW = 0, LA_BIAS_COL = 1 } la_bias_axis;
typedef struct la_epilogue {
    const float *bias;   // NULL: no bias
    const float *slope;  // PReLU slopes, required for LA_ACT_PRELU
    la_act act;
    la_bias_axis axis;
} la_epilogue;

// Bytes of scratch la_sgemm needs for this shape with up to `threads`
// threads (packed panels of A and B per thread).
size_t la_sgemm_scratch_size(int m, int n, int k, int threads);

// `scratch` holds la_sgemm_scratch_size(m, n, k, facet_threads()) bytes,
// 64-byte aligned; NULL makes la_sgemm allocate and free it itself (for
// tools and tests; the forward pass always passes scratch). `ep` may be
// NULL. Runs with OpenMP over the current thread count.
void la_sgemm(la_trans ta, la_trans tb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc, const la_epilogue *ep, void *scratch);

// Reference: the same contract, summing in double, one thread, no
// blocking. The yardstick for tests.
void la_sgemm__ref(la_trans ta, la_trans tb, int m, int n, int k,
                   float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc,
                   const la_epilogue *ep);

// Apply an epilogue to an m x n block in place (shared by GEMM drivers
// and convolution paths that do not go through la_sgemm).
void la_epilogue_apply(float *c, int ldc, int m, int n, int row0, int col0,
                       const la_epilogue *ep);

// ---------------------------------------------------------------------------
// Small dense routines (double precision; sizes up to a few hundred).

// Least-squares similarity transform (rotation, uniform scale, translation)
// mapping src points to dst points: minimises sum |s R p_i + t - q_i|^2,
// optionally weighted (w may be NULL). Points are interleaved x,y. Result
// as a 2x3 row-major matrix [a -b tx; b a ty]. w, when given, must be
// finite and >= 0 with a positive sum. FACET_E_ARG if n < 2, a weight or
// point is invalid, or the source points coincide (weighted RMS spread <=
// 1e-12 of the largest source coordinate).
facet_status la_fit_similarity(double out[6], const double *src,
                               const double *dst, const double *w, int n);

// Least-squares affine transform (2x3, row-major) mapping src to dst.
// FACET_E_ARG if n < 3 or the source points are collinear (spread across
// the best-fit line <= 1e-8 of the spread along it); weights as above.
facet_status la_fit_affine(double out[6], const double *src,
                           const double *dst, const double *w, int n);

// Eigen-decomposition of a symmetric n x n matrix `a` (row-major, read
// only): eigenvalues in descending order into `evals` (n), eigenvectors as
// the columns of `evecs` (n x n, row-major). Cyclic Jacobi; `scratch` holds
// la_eig_sym_scratch_size(n) bytes or is NULL to allocate. `a` must be
// symmetric to 1e-10 * max|a| (the triangles are averaged); in each
// eigenvector the largest-magnitude entry is positive. FACET_E_ARG for
// n < 1 or non-finite input; FACET_E_UNSUPPORTED (results still written)
// if Jacobi fails to converge in 60 sweeps.
size_t la_eig_sym_scratch_size(int n);
facet_status la_eig_sym(double *evals, double *evecs, const double *a, int n,
                        void *scratch);

// Thin SVD of an m x n matrix (row-major, m >= n, read only):
// a = U diag(s) V^T with U m x n, s n values descending, V n x n. One-sided
// Jacobi. `scratch` holds la_svd_scratch_size(m, n) bytes or is NULL. In
// each column of V the largest-magnitude entry is positive and U flips with
// it; U columns for zero singular values are an orthonormal completion.
// FACET_E_ARG for n < 1, m < n or non-finite input.
size_t la_svd_scratch_size(int m, int n);
facet_status la_svd(double *u, double *s, double *v, const double *a, int m,
                    int n, void *scratch);

#endif

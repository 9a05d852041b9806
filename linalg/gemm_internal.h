// gemm_internal.h - the contract between the SGEMM driver (gemm.c) and its
// per-ISA micro-kernels (kernels/gemm_<isa>.c), plus the FMA peak loops the
// benchmark measures the machine with. Not part of the public API.
//
// The driver blocks and packs in portable C (BLIS style); a kernel only
// multiplies one m x kc panel of A by one packed kc x NR panel of B into an
// m x n tile of C (m <= MR, n <= NR):
//
//   a:  row-major, element (i, p) at a[i * rsa + p]; rows past m are not
//       read. A row-major A is read in place; a transposed A is first
//       copied into this layout.
//   bp: kc x NR, element (p, j) at bp[p * NR + j], 64-byte aligned,
//       columns past n zero
//   c:  m x n, row stride ldc
//
//   c = alpha * (a * bp) + beta * c         (beta == 0: c is not read)
//   then, when ep != NULL: c = act(c + bias) with bias / slope indexed by
//   the tile's position (row0, col0) in the whole C.
//
// Reading A in place means the broadcasts come straight from the MR rows
// (each a contiguous run that stays in L1 over the jr loop), and the
// transpose that packing A would be is skipped. B is always packed: its
// panel is reused by every row panel, and read in place its rows are
// strided runs that miss the hardware prefetcher (tried: 10-25% slower at
// M = 64..128, the shapes where packing B costs most).
//
// Per element every kernel of one ISA performs the same operations in the
// same order whatever m, n and the tile's position: one multiply-add chain
// over p = 0..kc-1 starting from zero (fused where the ISA has FMA), then
// r = alpha * acc, then r = beta * c + r when beta != 0, then the
// epilogue. This is what makes la_sgemm's results independent of how tiles
// are spread over threads.
//
// ref: F. G. Van Zee, R. A. van de Geijn, "BLIS: A Framework for Rapidly
//      Instantiating BLAS Functionality", ACM TOMS 41(3), 2015 (the
//      five-loop blocking and the micro-kernel contract).
//
// Limitations:
// - One kernel per ISA; its tile is fixed at build time.
#ifndef FACET_GEMM_INTERNAL_H
#define FACET_GEMM_INTERNAL_H

#include <stddef.h>

#include "linalg.h"

typedef void (*la_sgemm_ukernel)(int kc, const float *a, ptrdiff_t rsa,
                                 const float *bp, float *c, ptrdiff_t ldc,
                                 int m, int n, float alpha, float beta,
                                 const la_epilogue *ep, int row0, int col0);

typedef struct la_sgemm_kernel {
    const char *name;          // e.g. "12x32 avx512"
    int mr, nr;                // tile: rows of A, columns of B
    int kc;                    // largest K block (A panel stays in L1)
    int nc;                    // columns of B per L2 block (multiple of nr)
    la_sgemm_ukernel ukernel;
} la_sgemm_kernel;

extern const la_sgemm_kernel la_sgemm_kernel__scalar;
extern const la_sgemm_kernel la_sgemm_kernel__avx2;
extern const la_sgemm_kernel la_sgemm_kernel__avx512;

// The kernel la_sgemm uses now (indexed by facet_isa_active()).
const la_sgemm_kernel *la_sgemm_kernel_active(void);

// FMA peak loops: `iters` rounds of independent register-only fused
// multiply-adds; return the number of floating-point operations done (2
// per lane per FMA). `seed` feeds the registers so that nothing folds away;
// the result is written to *sink.
double la_fma_peak__avx2(long iters, float seed, float *sink);
double la_fma_peak__avx512(long iters, float seed, float *sink);

#endif

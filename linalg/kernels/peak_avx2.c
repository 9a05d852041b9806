// peak_avx2.c - the machine's single-precision FMA peak with AVX2 + FMA:
// a register-only loop of independent 8-lane FMAs, which `facet bench
// gemm` times to put SGEMM figures in proportion. Not used by inference.
//
// Limitations:
// - Measures FMA throughput only (no loads), so it is an upper bound that
//   no real kernel reaches.
#include <immintrin.h>

#include "../gemm_internal.h"

// 12 accumulators: enough for 2 ports x 4 cycles of FMA latency, and they
// fit in the 16 ymm registers with the two operands.
enum { CHAINS = 12 };

double la_fma_peak__avx2(long iters, float seed, float *sink)
{
    __m256 acc[CHAINS];
    const __m256 x = _mm256_set1_ps(1.0f + 1e-7f * seed);
    const __m256 y = _mm256_set1_ps(1e-7f);
    float lane[8];

    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm256_set1_ps(seed + (float)i);

    // acc = acc * x + y, each chain independent of the others.
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }

    // Fold the chains so that none of them is dead code.
    for (int i = 1; i < CHAINS; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(lane, acc[0]);
    *sink = lane[0] + lane[1] + lane[2] + lane[3] + lane[4] + lane[5] +
            lane[6] + lane[7];
    return (double)iters * CHAINS * 8 * 2;
}

// peak_avx512.c - the machine's single-precision FMA peak with AVX-512:
// a register-only loop of independent 16-lane FMAs, which `facet bench
// gemm` times to put SGEMM figures in proportion. Not used by inference.
//
// Limitations:
// - Measures FMA throughput only (no loads), so it is an upper bound that
//   no real kernel reaches.
#include <immintrin.h>

#include "../gemm_internal.h"

// 24 accumulators: more than the 2 ports x 4 cycles of FMA latency needs.
enum { CHAINS = 24 };

double la_fma_peak__avx512(long iters, float seed, float *sink)
{
    __m512 acc[CHAINS];
    const __m512 x = _mm512_set1_ps(1.0f + 1e-7f * seed);
    const __m512 y = _mm512_set1_ps(1e-7f);

    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps(seed + (float)i);

    // acc = acc * x + y, each chain independent of the others.
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }

    // Fold the chains so that none of them is dead code.
    for (int i = 1; i < CHAINS; i++)
        acc[0] = _mm512_add_ps(acc[0], acc[i]);
    *sink = _mm512_reduce_add_ps(acc[0]);
    return (double)iters * CHAINS * 16 * 2;
}

// gemm_avx2.c - the AVX2 + FMA SGEMM micro-kernel: a 6 x 16 tile of C in
// 12 ymm accumulators. Per step of k it loads one 16-float row of the
// packed B panel (two ymm), broadcasts 6 values from the rows of A and
// issues 12 FMAs. The contract is in gemm_internal.h.
//
// Edge tiles run the same code specialised for fewer rows (4, 2, 1,
// combined) and vectors (1), with masked loads and stores of the last
// vector, so each element sees exactly the operations a full tile gives
// it. Bias and activation are applied in registers before the one store of
// the last K block.
//
// Limitations:
// - One tile shape, sized for the 16 ymm registers of AVX2.
#include <immintrin.h>

#include "../gemm_internal.h"

enum { MR = 6, NV = 2, NR = 16 };

#define INLINE static inline __attribute__((always_inline))

// Lane mask with the first `count` (1..8) lanes set.
INLINE __m256i lanes(int count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Bias and activation on one vector of row i, vector v (mask: its valid
// lanes), matching la_epilogue_apply bit for bit.
INLINE __m256 epilogue(__m256 r, int i, int v, __m256i mask,
                       const la_epilogue *ep, int row0, int col0)
{
    const __m256 zero = _mm256_setzero_ps();
    int col = col0 + 8 * v;

    if (ep->bias) {
        __m256 bias = ep->axis == LA_BIAS_ROW
                          ? _mm256_set1_ps(ep->bias[row0 + i])
                          : _mm256_maskload_ps(ep->bias + col, mask);
        r = _mm256_add_ps(r, bias);
    }
    switch (ep->act) {
    case LA_ACT_NONE:
        break;
    case LA_ACT_RELU:
        r = _mm256_max_ps(zero, r);
        break;
    case LA_ACT_RELU6:
        r = _mm256_min_ps(_mm256_set1_ps(6.0f), _mm256_max_ps(zero, r));
        break;
    case LA_ACT_PRELU: {
        __m256 s = ep->axis == LA_BIAS_ROW
                       ? _mm256_set1_ps(ep->slope[row0 + i])
                       : _mm256_maskload_ps(ep->slope + col, mask);
        __m256 neg = _mm256_cmp_ps(r, zero, _CMP_LT_OQ);

        r = _mm256_blendv_ps(r, _mm256_mul_ps(r, s), neg);
        break;
    }
    }
    return r;
}

// The tile body for `rows` rows and `nv` vectors (compile-time constants
// after inlining); n is the valid column count,
// 8 (nv - 1) < n <= 8 nv.
INLINE void tile(const int rows, const int nv, int kc,
                 const float *a, ptrdiff_t rsa, const float *bp, float *c,
                 ptrdiff_t ldc, int n, float alpha, float beta,
                 const la_epilogue *ep, int row0, int col0)
{
    __m256 acc[MR][NV];
    const __m256i last = lanes(n - 8 * (nv - 1));
    const __m256i full = _mm256_set1_epi32(-1);
    const float *base[2];

    // Zero the accumulators; start fetching the C tile for the store.
#pragma GCC unroll 8
    for (int i = 0; i < rows; i++) {
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }

    // Row i of A is base[i / 3] + (i % 3) * rsa, which x86 reaches with one
    // base register and a scaled index (4 pointers for 12 rows).
#pragma GCC unroll 2
    for (int j = 0; j < (rows + 2) / 3; j++)
        base[j] = a + 3 * j * rsa;

    // acc (rows x 8 nv) += A column p (broadcast) * B row p (vectors). Not
    // unrolled: with 16 ymm registers GCC then spills an accumulator.
    for (int p = 0; p < kc; p++) {
        __m256 b[NV];

#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            b[v] = _mm256_load_ps(bp + 8 * v);
#pragma GCC unroll 8
        for (int i = 0; i < rows; i++) {
            __m256 av = _mm256_broadcast_ss(base[i / 3] + (i % 3) * rsa);

#pragma GCC unroll 2
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm256_fmadd_ps(av, b[v], acc[i][v]);
        }
#pragma GCC unroll 2
        for (int j = 0; j < (rows + 2) / 3; j++)
            base[j]++;
        bp += NR;
    }

    // c = alpha * acc + beta * c and the epilogue, all loads of C before
    // any store (a load behind a store 4 KiB apart waits for it).
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < rows; i++) {
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) {
            __m256i mask = v == nv - 1 ? last : full;
            __m256 r = _mm256_mul_ps(va, acc[i][v]);

            if (beta != 0.0f)
                r = _mm256_fmadd_ps(
                    vb, _mm256_maskload_ps(c + i * ldc + 8 * v, mask), r);
            if (ep)
                r = epilogue(r, i, v, mask, ep, row0, col0);
            acc[i][v] = r;
        }
    }

    // Store (last vector masked).
#pragma GCC unroll 8
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++)
            _mm256_maskstore_ps(c + i * ldc + 8 * v, v == nv - 1 ? last : full,
                                acc[i][v]);
}

// Specialised tile functions: the full 6 rows, and 4, 2 and 1 rows for
// edges (an edge of m < 6 rows is the sum of these: 5 = 4 + 1), each for 1
// or 2 vectors. tiles[r][nv - 1] for rows[r].
#define KARGS                                                             \
    int kc, const float *a, ptrdiff_t rsa, const float *bp, float *c,     \
        ptrdiff_t ldc, int n, float alpha, float beta,                    \
        const la_epilogue *ep, int row0, int col0
#define KPASS kc, a, rsa, bp, c, ldc, n, alpha, beta, ep, row0, col0
typedef void (*tile_fn)(KARGS);

#define DEF(R, V)                                                         \
    static void tile_##R##x##V(KARGS) { tile(R, V, KPASS); }
#define ENTRY(R, V) tile_##R##x##V,
#define ROWS(X, R) {X(R, 1) X(R, 2)},
#define ALL(X) X(6, 1) X(6, 2) X(4, 1) X(4, 2) X(2, 1) X(2, 2) X(1, 1) X(1, 2)

ALL(DEF)
static const int rows[] = {6, 4, 2, 1};
static const tile_fn tiles[][NV] = {
    ROWS(ENTRY, 6) ROWS(ENTRY, 4) ROWS(ENTRY, 2) ROWS(ENTRY, 1)
};

static void ukernel_6x16__avx2(int kc, const float *a, ptrdiff_t rsa,
                               const float *bp, float *c, ptrdiff_t ldc,
                               int m, int n, float alpha, float beta,
                               const la_epilogue *ep, int row0, int col0)
{
    int v = (n + 7) / 8 - 1;

    // Rows in pieces of 6, or 4, 2, 1; each piece rereads the B panel.
    for (int r = 0; m > 0; r++) {
        if (m < rows[r])
            continue;
        tiles[r][v](KPASS);
        a += rows[r] * rsa;
        c += rows[r] * ldc;
        row0 += rows[r];
        m -= rows[r];
    }
}

const la_sgemm_kernel la_sgemm_kernel__avx2 = {
    .name = "6x16 avx2",
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .nc = 1024,
    .ukernel = ukernel_6x16__avx2,
};

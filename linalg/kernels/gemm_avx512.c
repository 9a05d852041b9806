// gemm_avx512.c - the AVX-512 SGEMM micro-kernel: an 8 x 48 tile of C in
// 24 zmm accumulators. Per step of k it loads one 48-float row of the
// packed B panel (three zmm), broadcasts 8 values from the rows of A and
// issues 24 FMAs: 11 loads for 24 FMAs keeps both FMA ports busy with load
// slots to spare. The contract is in gemm_internal.h.
//
// The tile was chosen by measurement against a 12 x 32 tile (two zmm per B
// row, 12 broadcasts): 8 x 48 was about 4% faster over the VGG-16 shapes
// (up to 10% at 1024^3), and 8 divides every VGG-16 channel count, so
// those products have no edge rows; their widths (HW) are multiples of 16,
// so an edge tile there is a whole vector narrower, not a masked one.
//
// Edge tiles run the same code specialised for fewer rows (4, 2, 1,
// combined) and vectors (1, 2), with masked loads and stores of the last
// vector, so an edge costs in proportion to its size and each element sees
// exactly the operations a full tile gives it. Bias and activation are
// applied in registers before the one store of the last K block.
//
// ref: Intel 64 and IA-32 Architectures Optimization Reference Manual,
//      chapter on Intel AVX-512 (FMA port throughput and latency).
//
// Limitations:
// - One tile shape; very short k (under ~16) is dominated by the C
//   read-modify-write rather than by FMAs.
#include <immintrin.h>

#include "../gemm_internal.h"

// Tile: MR rows x NV vectors of 16 columns. PF_B: how many k steps ahead
// the B panel is prefetched into L1 (it streams from L2; 8 steps = 1 KiB
// measured best, by a small margin, among 0, 4, 8 and 16).
enum { MR = 8, NV = 3, NR = 16 * NV, PF_B = 8 };

#define INLINE static inline __attribute__((always_inline))

// Bias and activation on one vector of row i, vector v (mask: its valid
// lanes), matching la_epilogue_apply bit for bit.
INLINE __m512 epilogue(__m512 r, int i, int v, __mmask16 mask,
                       const la_epilogue *ep, int row0, int col0)
{
    const __m512 zero = _mm512_setzero_ps();
    int col = col0 + 16 * v;

    if (ep->bias) {
        __m512 bias = ep->axis == LA_BIAS_ROW
                          ? _mm512_set1_ps(ep->bias[row0 + i])
                          : _mm512_maskz_loadu_ps(mask, ep->bias + col);
        r = _mm512_add_ps(r, bias);
    }
    switch (ep->act) {
    case LA_ACT_NONE:
        break;
    case LA_ACT_RELU:
        r = _mm512_max_ps(zero, r);
        break;
    case LA_ACT_RELU6:
        r = _mm512_min_ps(_mm512_set1_ps(6.0f), _mm512_max_ps(zero, r));
        break;
    case LA_ACT_PRELU: {
        __m512 s = ep->axis == LA_BIAS_ROW
                       ? _mm512_set1_ps(ep->slope[row0 + i])
                       : _mm512_maskz_loadu_ps(mask, ep->slope + col);
        __mmask16 neg = _mm512_cmp_ps_mask(r, zero, _CMP_LT_OQ);

        r = _mm512_mask_mul_ps(r, neg, r, s);
        break;
    }
    }
    return r;
}

// The tile body for `rows` rows and `nv` vectors (compile-time constants
// after inlining); n is the valid column count,
// 16 (nv - 1) < n <= 16 nv.
INLINE void tile(const int rows, const int nv, int kc,
                 const float *a, ptrdiff_t rsa, const float *bp, float *c,
                 ptrdiff_t ldc, int n, float alpha, float beta,
                 const la_epilogue *ep, int row0, int col0)
{
    __m512 acc[MR][NV];
    const __mmask16 last = (__mmask16)(0xffffu >> (16 * nv - n));
    const float *base[(MR + 2) / 3];

    // Zero the accumulators; start fetching the C tile for the store.
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[i][v] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + n - 1), _MM_HINT_T0);
    }

    // Row i of A is base[i / 3] + (i % 3) * rsa, which x86 reaches with one
    // base register and a scaled index (3 pointers for 8 rows).
#pragma GCC unroll 8
    for (int j = 0; j < (rows + 2) / 3; j++)
        base[j] = a + 3 * j * rsa;

    // acc (rows x 16 nv) += A column p (broadcast) * B row p (vectors).
#pragma GCC unroll 4
    for (int p = 0; p < kc; p++) {
        __m512 b[NV];

#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm_prefetch((const char *)(bp + PF_B * NR + 16 * v), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            b[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(base[i / 3][(i % 3) * rsa]);

#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
        }
#pragma GCC unroll 8
        for (int j = 0; j < (rows + 2) / 3; j++)
            base[j]++;
        bp += NR;
    }

    // c = alpha * acc + beta * c and the epilogue, all loads of C before
    // any store: rows ldc apart may share their low 12 address bits (ldc a
    // multiple of 1024), and a load behind a store to such an address waits
    // for it (4K aliasing).
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __mmask16 mask = v == nv - 1 ? last : (__mmask16)0xffff;
            __m512 r = _mm512_mul_ps(va, acc[i][v]);

            if (beta != 0.0f)
                r = _mm512_fmadd_ps(
                    vb, _mm512_maskz_loadu_ps(mask, c + i * ldc + 16 * v), r);
            if (ep)
                r = epilogue(r, i, v, mask, ep, row0, col0);
            acc[i][v] = r;
        }
    }

    // Store (last vector masked).
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v,
                                  v == nv - 1 ? last : (__mmask16)0xffff,
                                  acc[i][v]);
}

// Specialised tile functions: the full 8 rows, and 4, 2 and 1 rows for
// edges (an edge of m < 8 rows is the sum of these: 7 = 4 + 2 + 1), each
// for 1, 2 or 3 vectors. tiles[r][nv - 1] for rows[r].
#define KARGS                                                             \
    int kc, const float *a, ptrdiff_t rsa, const float *bp, float *c,     \
        ptrdiff_t ldc, int n, float alpha, float beta,                    \
        const la_epilogue *ep, int row0, int col0
#define KPASS kc, a, rsa, bp, c, ldc, n, alpha, beta, ep, row0, col0
typedef void (*tile_fn)(KARGS);

#define DEF(R, V)                                                         \
    static void tile_##R##x##V(KARGS) { tile(R, V, KPASS); }
#define ENTRY(R, V) tile_##R##x##V,
#define ROWS(X, R) {X(R, 1) X(R, 2) X(R, 3)},
#define ALL(X)                                                            \
    X(8, 1) X(8, 2) X(8, 3) X(4, 1) X(4, 2) X(4, 3) X(2, 1) X(2, 2)       \
    X(2, 3) X(1, 1) X(1, 2) X(1, 3)

ALL(DEF)
static const int rows[] = {8, 4, 2, 1};
static const tile_fn tiles[][NV] = {
    ROWS(ENTRY, 8) ROWS(ENTRY, 4) ROWS(ENTRY, 2) ROWS(ENTRY, 1)
};

static void ukernel_8x48__avx512(int kc, const float *a, ptrdiff_t rsa,
                                 const float *bp, float *c, ptrdiff_t ldc,
                                 int m, int n, float alpha, float beta,
                                 const la_epilogue *ep, int row0, int col0)
{
    int v = (n + 15) / 16 - 1;

    // Rows in pieces of 8, or 4, 2, 1; each piece rereads the B panel.
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

const la_sgemm_kernel la_sgemm_kernel__avx512 = {
    .name = "8x48 avx512",
    .mr = MR,
    .nr = NR,
    .kc = 384,
    .nc = 768,
    .ukernel = ukernel_8x48__avx512,
};

// gemm_scalar.c - the portable SGEMM micro-kernel (4 x 8 tile), always
// built: the fallback on CPUs without AVX2 and the path FACET_ISA=scalar
// selects. The contract is in gemm_internal.h.
//
// Limitations:
// - Plain C; the compiler may vectorise it with the baseline ISA only.
#include "../gemm_internal.h"

enum { MR = 4, NR = 8 };

static void ukernel_4x8__scalar(int kc, const float *a, ptrdiff_t rsa,
                                const float *bp, float *c, ptrdiff_t ldc,
                                int m, int n, float alpha, float beta,
                                const la_epilogue *ep, int row0, int col0)
{
    float acc[MR][NR] = {{0}};

    // acc (4 x 8) += A column p * bp row p. Multiply and add stay separate
    // roundings (no fmaf: without hardware FMA it is a slow libm call), the
    // same on every tile.
    for (int p = 0; p < kc; p++) {
        const float *b = bp + (ptrdiff_t)p * NR;

        for (int i = 0; i < m; i++) {
            float ai = a[i * rsa + p];

            for (int j = 0; j < NR; j++)
                acc[i][j] += ai * b[j];
        }
    }

    // Scale and merge the valid m x n part into C.
    for (int i = 0; i < m; i++) {
        float *row = c + (ptrdiff_t)i * ldc;

        for (int j = 0; j < n; j++) {
            float r = alpha * acc[i][j];

            if (beta != 0.0f)
                r = beta * row[j] + r;
            row[j] = r;
        }
    }
    if (ep)
        la_epilogue_apply(c, (int)ldc, m, n, row0, col0, ep);
}

const la_sgemm_kernel la_sgemm_kernel__scalar = {
    .name = "4x8 scalar",
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .nc = 512,
    .ukernel = ukernel_4x8__scalar,
};

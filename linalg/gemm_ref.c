// gemm_ref.c - the reference SGEMM (double accumulation, no blocking, one
// thread) that tests hold la_sgemm to, and la_epilogue_apply, the one
// definition of the bias + activation epilogue that every GEMM and
// convolution path must reproduce bit for bit.
//
// Limitations:
// - Slow by design: O(m n k) with strided reads of B.
#include "linalg.h"

// Operand element (i, p) of op(A) and (p, j) of op(B).
static inline float at(const float *a, int lda, la_trans t, int i, int p)
{
    return t == LA_NOTRANS ? a[(ptrdiff_t)i * lda + p]
                           : a[(ptrdiff_t)p * lda + i];
}

void la_sgemm__ref(la_trans ta, la_trans tb, int m, int n, int k,
                   float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc,
                   const la_epilogue *ep)
{
    FACET_ASSERT(m >= 0 && n >= 0 && k >= 0);
    FACET_ASSERT(ldc >= (n > 1 ? n : 1));

    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0, r;
            float *cij = &c[(ptrdiff_t)i * ldc + j];

            // Sum in double, then scale; beta == 0 never reads C.
            if (alpha != 0.0f)
                for (int p = 0; p < k; p++)
                    s += (double)at(a, lda, ta, i, p) *
                         (double)at(b, ldb, tb, p, j);
            r = (double)alpha * s;
            if (beta != 0.0f)
                r += (double)beta * (double)*cij;
            *cij = (float)r;
        }
    }
    la_epilogue_apply(c, ldc, m, n, 0, 0, ep);
}

// c: m x n block at (row0, col0) of a larger C. Each element becomes
// act(c + bias). The comparisons are written so that a SIMD max/min with
// the constant as first operand gives the same bits (NaN passes through
// ReLU and ReLU6, -0 stays -0).
void la_epilogue_apply(float *c, int ldc, int m, int n, int row0, int col0,
                       const la_epilogue *ep)
{
    if (!ep || (!ep->bias && ep->act == LA_ACT_NONE))
        return;
    FACET_ASSERT(ep->act != LA_ACT_PRELU || ep->slope != NULL);

    for (int i = 0; i < m; i++) {
        float *row = &c[(ptrdiff_t)i * ldc];

        for (int j = 0; j < n; j++) {
            int ch = ep->axis == LA_BIAS_ROW ? row0 + i : col0 + j;
            float x = row[j];

            if (ep->bias)
                x = x + ep->bias[ch];
            switch (ep->act) {
            case LA_ACT_NONE:
                break;
            case LA_ACT_RELU:
                x = 0.0f > x ? 0.0f : x;
                break;
            case LA_ACT_RELU6:
                x = 0.0f > x ? 0.0f : x;
                x = 6.0f < x ? 6.0f : x;
                break;
            case LA_ACT_PRELU:
                x = x < 0.0f ? ep->slope[ch] * x : x;
                break;
            }
            row[j] = x;
        }
    }
}

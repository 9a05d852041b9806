// eig.c - small dense symmetric eigen-decomposition (cyclic Jacobi) and
// thin SVD (one-sided Jacobi, Hestenes), in double precision. The face
// pipeline uses them on matrices of a few hundred rows at most: PCA of
// feature sets, metric learning (M, M_H) and Procrustes-style alignment.
//
// Both routines copy the input into scratch, scale it by a power of two so
// that its largest entry lies in [0.5, 1) (exact, and keeps sums of squares
// clear of overflow and underflow), rotate until a full sweep finds nothing
// left to rotate, then sort and fix signs so that results are reproducible:
//
//   ordering: eigenvalues / singular values descending; ties keep the
//             order in which they sit on the diagonal / in the columns.
//   signs:    in each eigenvector (la_eig_sym) and each right singular
//             vector (la_svd, column of V), the entry of largest magnitude
//             is positive (the first such entry on an exact tie); the
//             matching column of U flips with it.
//
// Stopping rules. la_eig_sym rotates a pair (p, q) when
// |a_pq| > eps * ||A||_F / n, so that when a sweep rotates nothing the
// off-diagonal Frobenius norm is at most eps * ||A||_F. la_svd rotates
// columns p, q when their cosine |w_p . w_q| / (|w_p| |w_q|) exceeds
// max(m, 8) * eps (above the rounding floor of an m-term dot product, so
// it cannot stall on noise). Jacobi converges quadratically: random
// 200 x 200 inputs take about 11 sweeps (including the final one that
// rotates nothing), a 100 x 100 SVD of rank 60 about 19, so the cap of 60
// sweeps is not reached for finite input. If it ever is, the best result
// so far is still written (sorted, signed) and FACET_E_UNSUPPORTED is
// returned with a detail; callers may use or discard it.
//
// Both run on one thread: one cyclic sweep is a sequential chain of
// rotations, and at these sizes a call takes milliseconds.
//
// ref: G. H. Golub, C. F. Van Loan, "Matrix Computations", 4th ed., 2013,
//      sec. 8.5 (cyclic Jacobi) and 8.6.3 (one-sided Jacobi SVD).
// ref: H. Rutishauser, "The Jacobi method for real symmetric matrices",
//      Numer. Math. 9, 1966 (the stable rotation update with tan(theta)).
// ref: J. Demmel, K. Veselic, "Jacobi's method is more accurate than QR",
//      SIAM J. Matrix Anal. Appl. 13(4), 1992 (one-sided Jacobi accuracy).
//
// Limitations:
// - O(n^3) per sweep with no blocking: meant for n up to a few hundred.
// - la_eig_sym reads both triangles and uses their average; it rejects a
//   matrix whose mirrored entries differ by more than 1e-10 * max|a_ij|.
// - la_eig_sym gives eigenvalues to an absolute accuracy of about
//   eps * ||A||_F (not the relative accuracy some Jacobi variants reach for
//   definite matrices).
// - la_svd treats a column whose norm falls below about 1e-146 * max|a_ij|
//   as exactly zero: its singular value is returned as 0 and the matching
//   column of U is an orthonormal completion (deterministic, otherwise
//   arbitrary), as for exactly rank-deficient input.
#include "linalg.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

#define MAX_SWEEPS 60
#define SYM_TOL 1e-10

// Scratch is carved into 64-byte aligned pieces.
static int carve(size_t *total, size_t *off, size_t count, size_t elem)
{
    size_t bytes;

    if (!facet_size_mul(&bytes, count, elem))
        return 0;
    *off = *total;
    return facet_size_add(total, *total, facet_align_up(bytes, FACET_ALIGN));
}

// Power of two p with max|x| * 2^p in [0.5, 1); 0 when all are zero.
static int scale_exp(const double *x, size_t count)
{
    double amax = 0;
    int e;

    for (size_t i = 0; i < count; i++)
        amax = fmax(amax, fabs(x[i]));
    if (amax == 0.0)
        return 0;
    frexp(amax, &e);
    return -e;
}

// Stable insertion sort of idx[0..n) by key descending (ties keep index
// order). n is at most a few hundred.
static void sort_desc(int *idx, const double *key, int n)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i;
        while (j > 0 && key[idx[j - 1]] < key[v]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

// -1 when the entry of largest magnitude in x[0], x[stride], ... is
// negative (first such entry on ties), +1 otherwise.
static double sign_of_largest(const double *x, int count, size_t stride)
{
    double best = -1, val = 0;

    for (int i = 0; i < count; i++) {
        double a = fabs(x[i * stride]);
        if (a > best) {
            best = a;
            val = x[i * stride];
        }
    }
    return val < 0 ? -1.0 : 1.0;
}

// Rotation tangent t = tan(phi): the smaller root of t^2 + 2 z t - 1 = 0.
// For huge |z|, t = 1 / (2 z) avoids overflowing z^2.
static double rot_tan(double z)
{
    double t;

    if (fabs(z) > 1e150)
        return 0.5 / z;
    t = 1.0 / (fabs(z) + sqrt(1.0 + z * z));
    return z < 0 ? -t : t;
}

// ---------------------------------------------------------------------------
// Symmetric eigen-decomposition.

typedef struct eig_layout {
    size_t a, vt, key, idx, total;
} eig_layout;

static int eig_plan(eig_layout *l, int n)
{
    size_t nn;

    l->total = 0;
    return n >= 1 && facet_size_mul(&nn, (size_t)n, (size_t)n) &&
           carve(&l->total, &l->a, nn, sizeof(double)) &&
           carve(&l->total, &l->vt, nn, sizeof(double)) &&
           carve(&l->total, &l->key, (size_t)n, sizeof(double)) &&
           carve(&l->total, &l->idx, (size_t)n, sizeof(int));
}

size_t la_eig_sym_scratch_size(int n)
{
    eig_layout l;

    return eig_plan(&l, n) ? l.total : 0;
}

// Rotate pair (p, q) of the symmetric g (n x n, both triangles kept) and
// rows p, q of vt (the transposed eigenvector matrix) so that g_pq = 0.
static void eig_rotate(double *g, double *vt, int n, int p, int q)
{
    double *gp = g + (size_t)p * n, *gq = g + (size_t)q * n;
    double *vp = vt + (size_t)p * n, *vq = vt + (size_t)q * n;
    double apq = gp[q];
    double t = rot_tan((gq[q] - gp[p]) / (2.0 * apq));
    double c = 1.0 / sqrt(1.0 + t * t), s = t * c;

    // Rows p and q (r != p, q), mirrored into columns p and q.
    for (int r = 0; r < n; r++) {
        double x, y;
        if (r == p || r == q)
            continue;
        x = gp[r];
        y = gq[r];
        gp[r] = c * x - s * y;
        gq[r] = s * x + c * y;
        g[(size_t)r * n + p] = gp[r];
        g[(size_t)r * n + q] = gq[r];
    }

    // The 2 x 2 block becomes diag(a_pp - t a_pq, a_qq + t a_pq).
    gp[p] -= t * apq;
    gq[q] += t * apq;
    gp[q] = 0.0;
    gq[p] = 0.0;

    // Accumulate V <- V J: columns p, q of V are rows p, q of vt.
    for (int r = 0; r < n; r++) {
        double x = vp[r], y = vq[r];
        vp[r] = c * x - s * y;
        vq[r] = s * x + c * y;
    }
}

facet_status la_eig_sym(double *evals, double *evecs, const double *a, int n,
                        void *scratch)
{
    eig_layout l;
    unsigned char *base;
    double *g, *vt, *key, fro = 0, amax = 0, thr;
    int *idx, e, sweep, converged = 0;
    size_t nn;
    facet_status rc = FACET_OK;

    FACET_ASSERT(evals && evecs && a);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "la_eig_sym: n = %d", n);
    if (!eig_plan(&l, n))
        return facet_fail(FACET_E_TOO_LARGE, "la_eig_sym: n = %d", n);
    nn = (size_t)n * n;

    // Input must be finite and symmetric.
    for (size_t i = 0; i < nn; i++) {
        if (!isfinite(a[i]))
            return facet_fail(FACET_E_ARG,
                              "la_eig_sym: entry (%zu, %zu) is not finite",
                              i / n, i % n);
        amax = fmax(amax, fabs(a[i]));
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fabs(a[(size_t)i * n + j] - a[(size_t)j * n + i]) >
                SYM_TOL * amax)
                return facet_fail(FACET_E_ARG,
                                  "la_eig_sym: not symmetric at (%d, %d)",
                                  i, j);

    base = scratch ? scratch : facet_alloc(l.total);
    if (!base)
        return facet_fail(FACET_E_NOMEM, "la_eig_sym: %zu bytes of scratch",
                          l.total);
    FACET_ASSERT((uintptr_t)base % sizeof(double) == 0);
    g = (double *)(base + l.a);
    vt = (double *)(base + l.vt);
    key = (double *)(base + l.key);
    idx = (int *)(base + l.idx);

    // g = 2^e (A + A^T) / 2 with max|g| in [0.5, 1); vt = I.
    e = scale_exp(a, nn);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = 0.5 * (a[(size_t)i * n + j] + a[(size_t)j * n + i]);
            g[(size_t)i * n + j] = ldexp(v, e);
            vt[(size_t)i * n + j] = i == j ? 1.0 : 0.0;
        }
    for (size_t i = 0; i < nn; i++)
        fro += g[i] * g[i];
    fro = sqrt(fro);
    thr = DBL_EPSILON * fro / n;

    // Cyclic sweeps in row order until a sweep rotates nothing.
    for (sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++)
                if (fabs(g[(size_t)p * n + q]) > thr) {
                    eig_rotate(g, vt, n, p, q);
                    rotated++;
                }
        converged = rotated == 0;
    }
    if (!converged) {
        double off = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i != j)
                    off += g[(size_t)i * n + j] * g[(size_t)i * n + j];
        rc = facet_fail(FACET_E_UNSUPPORTED,
                        "la_eig_sym: no convergence in %d sweeps (n = %d, "
                        "off-diagonal norm %.3g of %.3g)", MAX_SWEEPS, n,
                        sqrt(off), fro);
    }

    // Sort descending, undo the scaling, fix signs, write columns.
    for (int i = 0; i < n; i++)
        key[i] = g[(size_t)i * n + i];
    sort_desc(idx, key, n);
    for (int j = 0; j < n; j++) {
        const double *v = vt + (size_t)idx[j] * n;
        double sg = sign_of_largest(v, n, 1);
        evals[j] = ldexp(key[idx[j]], -e);
        for (int r = 0; r < n; r++)
            evecs[(size_t)r * n + j] = sg * v[r];
    }

    if (!scratch)
        facet_free(base);
    return rc;
}

// ---------------------------------------------------------------------------
// Thin SVD.

typedef struct svd_layout {
    size_t wt, vt, key, col, idx, total;
} svd_layout;

static int svd_plan(svd_layout *l, int m, int n)
{
    size_t mn, nn;

    l->total = 0;
    return n >= 1 && m >= n &&
           facet_size_mul(&mn, (size_t)m, (size_t)n) &&
           facet_size_mul(&nn, (size_t)n, (size_t)n) &&
           carve(&l->total, &l->wt, mn, sizeof(double)) &&
           carve(&l->total, &l->vt, nn, sizeof(double)) &&
           carve(&l->total, &l->key, (size_t)n, sizeof(double)) &&
           carve(&l->total, &l->col, (size_t)m, sizeof(double)) &&
           carve(&l->total, &l->idx, (size_t)n, sizeof(int));
}

size_t la_svd_scratch_size(int m, int n)
{
    svd_layout l;

    return svd_plan(&l, m, n) ? l.total : 0;
}

// One Hestenes step on columns p, q (rows of wt, length m) and the matching
// rows of vt (length n). Returns 1 if it rotated.
static int svd_rotate(double *wt, double *vt, int m, int n, int p, int q,
                      double tol)
{
    double *wp = wt + (size_t)p * m, *wq = wt + (size_t)q * m;
    double *vp = vt + (size_t)p * n, *vq = vt + (size_t)q * n;
    double alpha = 0, beta = 0, gamma = 0, t, c, s;

    // Gram entries of the pair: |w_p|^2, |w_q|^2, w_p . w_q.
    for (int i = 0; i < m; i++) {
        alpha += wp[i] * wp[i];
        beta += wq[i] * wq[i];
        gamma += wp[i] * wq[i];
    }
    if (gamma == 0.0 || fabs(gamma) <= tol * sqrt(alpha) * sqrt(beta))
        return 0;

    // Rotate so that the new pair is orthogonal.
    t = rot_tan((beta - alpha) / (2.0 * gamma));
    c = 1.0 / sqrt(1.0 + t * t);
    s = t * c;
    for (int i = 0; i < m; i++) {
        double x = wp[i], y = wq[i];
        wp[i] = c * x - s * y;
        wq[i] = s * x + c * y;
    }
    for (int i = 0; i < n; i++) {
        double x = vp[i], y = vq[i];
        vp[i] = c * x - s * y;
        vq[i] = s * x + c * y;
    }
    return 1;
}

// Column j of u (m x n, row-major) for a zero singular value: the unit
// vector e_k least covered by columns 0..j-1, orthogonalised against them
// twice (classical Gram-Schmidt, repeated for accuracy) and normalised.
static void complete_u(double *u, double *col, int m, int n, int j)
{
    double best = INFINITY, norm = 0;
    int k = 0;

    // Pick k with the smallest squared row norm of U(:, 0..j-1).
    for (int i = 0; i < m; i++) {
        double r = 0;
        for (int c = 0; c < j; c++)
            r += u[(size_t)i * n + c] * u[(size_t)i * n + c];
        if (r < best) {
            best = r;
            k = i;
        }
    }
    for (int i = 0; i < m; i++)
        col[i] = i == k ? 1.0 : 0.0;

    // col -= U (U^T col), twice.
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < j; c++) {
            double d = 0;
            for (int i = 0; i < m; i++)
                d += u[(size_t)i * n + c] * col[i];
            for (int i = 0; i < m; i++)
                col[i] -= d * u[(size_t)i * n + c];
        }
    for (int i = 0; i < m; i++)
        norm += col[i] * col[i];
    norm = sqrt(norm);
    for (int i = 0; i < m; i++)
        u[(size_t)i * n + j] = col[i] / norm;
}

facet_status la_svd(double *u, double *s, double *v, const double *a, int m,
                    int n, void *scratch)
{
    svd_layout l;
    unsigned char *base;
    double *wt, *vt, *key, *col, tol;
    int *idx, e, sweep, converged = 0;
    size_t mn;
    facet_status rc = FACET_OK;

    // Squared column norms below this (scaled units) count as zero; the
    // square root is about 1e-146.
    const double tiny = DBL_MIN / DBL_EPSILON;

    FACET_ASSERT(u && s && v && a);
    if (n < 1 || m < n)
        return facet_fail(FACET_E_ARG,
                          "la_svd: shape %d x %d (need m >= n >= 1)", m, n);
    if (!svd_plan(&l, m, n))
        return facet_fail(FACET_E_TOO_LARGE, "la_svd: shape %d x %d", m, n);
    mn = (size_t)m * n;
    for (size_t i = 0; i < mn; i++)
        if (!isfinite(a[i]))
            return facet_fail(FACET_E_ARG,
                              "la_svd: entry (%zu, %zu) is not finite",
                              i / n, i % n);

    base = scratch ? scratch : facet_alloc(l.total);
    if (!base)
        return facet_fail(FACET_E_NOMEM, "la_svd: %zu bytes of scratch",
                          l.total);
    FACET_ASSERT((uintptr_t)base % sizeof(double) == 0);
    wt = (double *)(base + l.wt);
    vt = (double *)(base + l.vt);
    key = (double *)(base + l.key);
    col = (double *)(base + l.col);
    idx = (int *)(base + l.idx);

    // wt: n x m = 2^e A^T (columns of A as contiguous rows); vt = I.
    e = scale_exp(a, mn);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            wt[(size_t)j * m + i] = ldexp(a[(size_t)i * n + j], e);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            vt[(size_t)i * n + j] = i == j ? 1.0 : 0.0;
    tol = DBL_EPSILON * (m > 8 ? m : 8);

    // Cyclic sweeps over column pairs until one rotates nothing.
    for (sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++)
                rotated += svd_rotate(wt, vt, m, n, p, q, tol);
        converged = rotated == 0;
    }
    if (!converged)
        rc = facet_fail(FACET_E_UNSUPPORTED,
                        "la_svd: no convergence in %d sweeps (%d x %d)",
                        MAX_SWEEPS, m, n);

    // Singular values are the column norms (tiny ones flushed to 0).
    for (int j = 0; j < n; j++) {
        const double *w = wt + (size_t)j * m;
        double ss = 0;
        for (int i = 0; i < m; i++)
            ss += w[i] * w[i];
        key[j] = ss < tiny ? 0.0 : sqrt(ss);
    }
    sort_desc(idx, key, n);

    // Column j: V from vt, U = w / sigma or a completion for sigma = 0,
    // then the sign rule on V applied to both.
    for (int j = 0; j < n; j++) {
        const double *w = wt + (size_t)idx[j] * m;
        const double *vr = vt + (size_t)idx[j] * n;
        double sig = key[idx[j]];
        double sg = sign_of_largest(vr, n, 1);

        s[j] = ldexp(sig, -e);
        for (int i = 0; i < n; i++)
            v[(size_t)i * n + j] = sg * vr[i];
        if (sig > 0.0) {
            for (int i = 0; i < m; i++)
                u[(size_t)i * n + j] = sg * (w[i] / sig);
        } else {
            complete_u(u, col, m, n, j);
        }
    }

    if (!scratch)
        facet_free(base);
    return rc;
}

// test_dense.c - the small dense routines of linalg/: point-set fits
// (la_fit_similarity, la_fit_affine), symmetric eigen-decomposition
// (la_eig_sym) and thin SVD (la_svd), all in double precision.
//
// Fits are checked against known transforms (noise-free) and against an
// independent brute-force solve of the uncentred normal equations (noisy),
// eigen and SVD results against their defining identities (A V = V L,
// U S V^T = A, orthonormality, order, sign rule) and against each other
// (s^2 = eig(A^T A)). These routines have no per-ISA paths and run on one
// thread, so there is no ISA or thread-count loop here.
#include "check.h"

#include "../linalg/linalg.h"

#include <float.h>

static facet_rng rng;

static const double pi = 3.14159265358979323846;

static double *dalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    FACET_ASSERT(p);
    return p;
}

static void fill_nan_d(double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * facet_rng_float(&rng);
}

// Solve the k x k system m x = r in place by Gaussian elimination with
// partial pivoting (k <= 4). The brute-force reference for the fits.
static void gauss_solve(double *m, double *r, int k)
{
    for (int c = 0; c < k; c++) {
        int piv = c;
        for (int i = c + 1; i < k; i++)
            if (fabs(m[i * k + c]) > fabs(m[piv * k + c]))
                piv = i;
        for (int j = 0; j < k; j++) {
            double t = m[c * k + j];
            m[c * k + j] = m[piv * k + j];
            m[piv * k + j] = t;
        }
        double t = r[c];
        r[c] = r[piv];
        r[piv] = t;
        for (int i = c + 1; i < k; i++) {
            double f = m[i * k + c] / m[c * k + c];
            for (int j = c; j < k; j++)
                m[i * k + j] -= f * m[c * k + j];
            r[i] -= f * r[c];
        }
    }
    for (int c = k - 1; c >= 0; c--) {
        for (int j = c + 1; j < k; j++)
            r[c] -= m[c * k + j] * r[j];
        r[c] /= m[c * k + c];
    }
}

// Apply a 2x3 transform to n points.
static void apply_2x3(double *dst, const double *t, const double *src, int n)
{
    for (int i = 0; i < n; i++) {
        double x = src[2 * i], y = src[2 * i + 1];
        dst[2 * i] = t[0] * x + t[1] * y + t[2];
        dst[2 * i + 1] = t[3] * x + t[4] * y + t[5];
    }
}

// Weighted residual sum of squares of a 2x3 transform.
static double residual(const double *t, const double *src, const double *dst,
                       const double *w, int n)
{
    double f = 0;
    for (int i = 0; i < n; i++) {
        double x = src[2 * i], y = src[2 * i + 1];
        double ex = t[0] * x + t[1] * y + t[2] - dst[2 * i];
        double ey = t[3] * x + t[4] * y + t[5] - dst[2 * i + 1];
        f += (w ? w[i] : 1.0) * (ex * ex + ey * ey);
    }
    return f;
}

static void random_points(double *p, int n, double cx, double cy, double r)
{
    for (int i = 0; i < n; i++) {
        p[2 * i] = cx + uniform(-r, r);
        p[2 * i + 1] = cy + uniform(-r, r);
    }
}

// ---------------------------------------------------------------------------
// Similarity fit.

static void test_similarity_exact(void)
{
    static const double angles[] = {0, 90, 180, -135, 37.5, 1e-3};
    static const double scales[] = {0.1, 1, 3.7, 10};
    static const double shifts[][2] = {{0, 0}, {1e4, -2e4}, {-3e5, 7e5}};
    enum { N = 68 };
    double src[2 * N], dst[2 * N], out[6];
    int bad = 0, cases = 0;

    random_points(src, N, 250, 180, 120);
    for (size_t ia = 0; ia < sizeof angles / sizeof *angles; ia++)
        for (size_t is = 0; is < sizeof scales / sizeof *scales; is++)
            for (size_t it = 0; it < sizeof shifts / sizeof *shifts; it++) {
                double th = angles[ia] * pi / 180, sc = scales[is];
                double a = sc * cos(th), b = sc * sin(th);
                double t[6] = {a, -b, shifts[it][0], b, a, shifts[it][1]};
                double tmax = fmax(fabs(t[2]), fabs(t[5]));
                facet_status rc;

                apply_2x3(dst, t, src, N);
                fill_nan_d(out, 6);
                rc = la_fit_similarity(out, src, dst, NULL, N);
                cases++;

                // dst carries rounding of about eps * (|t| + sc * 370);
                // relative to the target spread sc * 120 that is at most
                // ~1e-11 for sc = 0.1, |t| = 7.6e5. Linear part to
                // 1e-10 * sc, translation to 1e-10 * (|t| + sc * 370).
                if (rc != FACET_OK) {
                    bad++;
                    continue;
                }
                for (int k = 0; k < 6; k++) {
                    double tol = (k == 2 || k == 5)
                                     ? 1e-10 * (tmax + sc * 370)
                                     : 1e-10 * sc;
                    if (!(fabs(out[k] - t[k]) <= tol)) {
                        fprintf(stderr, "similarity angle %g scale %g "
                                "shift %zu: out[%d] = %.17g want %.17g\n",
                                angles[ia], sc, it, k, out[k], t[k]);
                        bad++;
                    }
                }
                // The structure [a -b; b a] holds exactly.
                if (out[0] != out[4] || out[1] != -out[3])
                    bad++;
            }
    CHECKF(bad == 0, "%d of %d similarity cases off", bad, cases);
}

// Brute-force reference: the 4 x 4 normal equations of the uncentred
// problem in the parameters (a, b, tx, ty).
static void similarity_brute(double out[6], const double *src,
                             const double *dst, const double *w, int n)
{
    double m[16] = {0}, r[4] = {0};

    for (int i = 0; i < n; i++) {
        double x = src[2 * i], y = src[2 * i + 1], wi = w ? w[i] : 1.0;
        // Residual rows: (a x - b y + tx - u), (b x + a y + ty - v).
        double j0[4] = {x, -y, 1, 0}, j1[4] = {y, x, 0, 1};
        for (int p = 0; p < 4; p++) {
            for (int q = 0; q < 4; q++)
                m[p * 4 + q] += wi * (j0[p] * j0[q] + j1[p] * j1[q]);
            r[p] += wi * (j0[p] * dst[2 * i] + j1[p] * dst[2 * i + 1]);
        }
    }
    gauss_solve(m, r, 4);
    out[0] = r[0];
    out[1] = -r[1];
    out[2] = r[2];
    out[3] = r[1];
    out[4] = r[0];
    out[5] = r[3];
}

static void test_similarity_noisy(void)
{
    enum { N = 30 };
    double src[2 * N], dst[2 * N], w[N], out[6], ref[6];
    double t[6] = {0.8 * cos(2.0), -0.8 * sin(2.0), 40,
                   0.8 * sin(2.0), 0.8 * cos(2.0), -70};

    for (int pass = 0; pass < 2; pass++) {
        const double *wp = pass ? w : NULL;
        double f0, grad[4] = {0}, gabs[4] = {0};
        int worse = 1;

        random_points(src, N, 200, 150, 100);
        apply_2x3(dst, t, src, N);
        for (int i = 0; i < 2 * N; i++)
            dst[i] += facet_rng_normal(&rng) * 0.5;
        for (int i = 0; i < N; i++)
            w[i] = uniform(0.1, 2.0);
        CHECK(la_fit_similarity(out, src, dst, wp, N) == FACET_OK);
        similarity_brute(ref, src, dst, wp, N);

        // The 4 x 4 normal equations have condition ~ (1 + |mean|^2 /
        // spread^2)^2 ~ 1e2 here, so the brute solve is good to ~1e-13;
        // compare to 1e-9 relative to the parameter's scale.
        for (int k = 0; k < 6; k++)
            CHECK_NEAR(out[k], ref[k], 1e-9 * (k % 3 == 2 ? 100 : 1));

        // Perturbing any parameter must not lower the residual. The rise
        // is h^2 * (sum of w |d r / d param|^2) >= ~1e-7, far above the
        // rounding of f (~1e-13).
        f0 = residual(out, src, dst, wp, N);
        for (int k = 0; k < 4; k++)
            for (int sg = -1; sg <= 1; sg += 2) {
                double p[6];
                memcpy(p, out, sizeof p);
                if (k == 0) {
                    p[0] += sg * 1e-6;
                    p[4] += sg * 1e-6;
                } else if (k == 1) {
                    p[3] += sg * 1e-6;
                    p[1] -= sg * 1e-6;
                } else {
                    p[k == 2 ? 2 : 5] += sg * 1e-4;
                }
                if (!(residual(p, src, dst, wp, N) > f0))
                    worse = 0;
            }
        CHECKF(worse, "a perturbed similarity fits better (pass %d)", pass);

        // The gradient of f at the fit vanishes: each component against
        // the sum of the magnitudes of its terms (rounding ~1e-15 of it).
        for (int i = 0; i < N; i++) {
            double x = src[2 * i], y = src[2 * i + 1];
            double wi = wp ? wp[i] : 1.0;
            double ex = out[0] * x + out[1] * y + out[2] - dst[2 * i];
            double ey = out[3] * x + out[4] * y + out[5] - dst[2 * i + 1];
            double g[4] = {ex * x + ey * y, -ex * y + ey * x, ex, ey};
            double ga[4] = {fabs(ex * x) + fabs(ey * y),
                            fabs(ex * y) + fabs(ey * x), fabs(ex), fabs(ey)};
            for (int k = 0; k < 4; k++) {
                grad[k] += wi * g[k];
                gabs[k] += wi * ga[k];
            }
        }
        for (int k = 0; k < 4; k++)
            CHECKF(fabs(grad[k]) <= 1e-10 * gabs[k],
                   "gradient %d = %g of %g", k, grad[k], gabs[k]);
    }
}

static void test_similarity_weights(void)
{
    enum { N = 23 };
    double src[2 * N], dst[2 * N], w[N], out[6], out2[6];
    double t[6] = {1.5, -0.5, 10, 0.5, 1.5, -20};
    double src2[2 * (N + 1)], dst2[2 * (N + 1)];

    // Three wild outliers with weight zero do not move the fit.
    random_points(src, N, 0, 0, 50);
    apply_2x3(dst, t, src, N);
    for (int i = 0; i < N; i++)
        w[i] = 1.0;
    for (int i = 0; i < 3; i++) {
        dst[2 * i] = 1e6 * (i + 1);
        dst[2 * i + 1] = -1e6;
        w[i] = 0.0;
    }
    CHECK(la_fit_similarity(out, src, dst, w, N) == FACET_OK);
    // Exact data, spread 50: 1e-12 relative.
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(out[k], t[k], 1e-12 * (k % 3 == 2 ? 100 : 1));

    // Weight 2 on a point equals listing it twice; scaling all weights
    // changes nothing. Noisy data, so the weights matter. Both are the
    // same least-squares problem summed in a different order: 1e-12.
    random_points(src, N, 5, 5, 10);
    for (int i = 0; i < 2 * N; i++)
        dst[i] = src[i] * 0.5 + facet_rng_normal(&rng);
    for (int i = 0; i < N; i++)
        w[i] = 1.0;
    w[4] = 2.0;
    memcpy(src2, src, sizeof src);
    memcpy(dst2, dst, sizeof dst);
    src2[2 * N] = src[8];
    src2[2 * N + 1] = src[9];
    dst2[2 * N] = dst[8];
    dst2[2 * N + 1] = dst[9];
    CHECK(la_fit_similarity(out, src, dst, w, N) == FACET_OK);
    CHECK(la_fit_similarity(out2, src2, dst2, NULL, N + 1) == FACET_OK);
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(out[k], out2[k], 1e-12 * (k % 3 == 2 ? 10 : 1));
    for (int i = 0; i < N; i++)
        w[i] *= 1024.0; // a power of two: bitwise the same result
    CHECK(la_fit_similarity(out2, src, dst, w, N) == FACET_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0);

    // The weighted fit differs from the unweighted one.
    CHECK(la_fit_similarity(out2, src, dst, NULL, N) == FACET_OK);
    CHECK(out[0] != out2[0]);
}

static void test_similarity_errors(void)
{
    double src[8] = {0, 0, 1, 0, 0, 1, 1, 1};
    double dst[8] = {1, 1, 2, 1, 1, 2, 2, 2};
    double same[8] = {3, 4, 3, 4, 3, 4, 3, 4};
    double near[8] = {1e6, 1e6, 1e6 + 1e-7, 1e6, 1e6, 1e6, 1e6, 1e6};
    double w[4] = {1, 1, 1, 1}, out[6];

    CHECK(la_fit_similarity(out, src, dst, NULL, 1) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "la_fit_similarity") != NULL);
    CHECK(la_fit_similarity(out, src, dst, NULL, 0) == FACET_E_ARG);
    CHECK(la_fit_similarity(out, src, dst, NULL, -3) == FACET_E_ARG);
    CHECK(la_fit_similarity(out, same, dst, NULL, 4) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "coincide") != NULL);
    // RMS spread 4e-8 at coordinates 1e6: below 1e-12 relative.
    CHECK(la_fit_similarity(out, near, dst, NULL, 4) == FACET_E_ARG);
    w[2] = -1;
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_E_ARG);
    w[2] = NAN;
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_E_ARG);
    w[2] = INFINITY;
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_E_ARG);
    memset(w, 0, sizeof w);
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_E_ARG);
    // One point with positive weight: no spread.
    w[1] = 1;
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_E_ARG);
    w[3] = 1;
    CHECK(la_fit_similarity(out, src, dst, w, 4) == FACET_OK);
    dst[5] = NAN;
    CHECK(la_fit_similarity(out, src, dst, NULL, 4) == FACET_E_ARG);
    dst[5] = 2;
    src[0] = INFINITY;
    CHECK(la_fit_similarity(out, src, dst, NULL, 4) == FACET_E_ARG);
    src[0] = 0;

    // Two distinct points are enough and fit exactly.
    CHECK(la_fit_similarity(out, src, dst, NULL, 2) == FACET_OK);
    CHECK_NEAR(out[0], 1.0, 1e-15);
    CHECK_NEAR(out[3], 0.0, 1e-15);
    CHECK_NEAR(out[2], 1.0, 1e-15);
    CHECK_NEAR(out[5], 1.0, 1e-15);
}

// ---------------------------------------------------------------------------
// Affine fit.

// Brute-force reference: per output row, the 3 x 3 normal equations in the
// uncentred unknowns (l0, l1, t).
static void affine_brute(double out[6], const double *src, const double *dst,
                         const double *w, int n)
{
    for (int r = 0; r < 2; r++) {
        double m[9] = {0}, rhs[3] = {0};
        for (int i = 0; i < n; i++) {
            double j[3] = {src[2 * i], src[2 * i + 1], 1};
            double wi = w ? w[i] : 1.0;
            for (int p = 0; p < 3; p++) {
                for (int q = 0; q < 3; q++)
                    m[p * 3 + q] += wi * j[p] * j[q];
                rhs[p] += wi * j[p] * dst[2 * i + r];
            }
        }
        gauss_solve(m, rhs, 3);
        memcpy(out + 3 * r, rhs, sizeof rhs);
    }
}

static void test_affine(void)
{
    enum { N = 40 };
    const double ts[][6] = {
        {1.3, 0.4, -5, -0.2, 0.8, 12},         // shear and anisotropy
        {0, -1, 3e4, 1, 0, -2e4},              // 90 degrees, far shift
        {-2, 0, 0, 0, 3, 0},                   // reflection + stretch
        {0.5 * cos(1), -0.5 * sin(1), 7, 0.5 * sin(1), 0.5 * cos(1), 9},
    };
    double src[2 * N], dst[2 * N], w[N], out[6], ref[6], sim[6];

    // Noise-free recovery. Points spread 60 around (100, -40); dst rounding
    // ~eps * 3e4 over a spread >= 60 gives ~1e-13 relative: 1e-10.
    random_points(src, N, 100, -40, 60);
    for (size_t c = 0; c < sizeof ts / sizeof *ts; c++) {
        apply_2x3(dst, ts[c], src, N);
        fill_nan_d(out, 6);
        CHECK(la_fit_affine(out, src, dst, NULL, N) == FACET_OK);
        for (int k = 0; k < 6; k++)
            CHECK_NEAR(out[k], ts[c][k],
                       1e-10 * (k % 3 == 2 ? 1e4 + fabs(ts[c][k]) : 1));
    }

    // Similarity data: the affine fit finds the same transform.
    apply_2x3(dst, ts[3], src, N);
    for (int i = 0; i < 2 * N; i++)
        dst[i] += facet_rng_normal(&rng) * 1e-9;
    CHECK(la_fit_similarity(sim, src, dst, NULL, N) == FACET_OK);
    CHECK(la_fit_affine(out, src, dst, NULL, N) == FACET_OK);
    // Both within ~1e-10 of the truth (noise 1e-9 over spread 60).
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(out[k], sim[k], 1e-9 * (k % 3 == 2 ? 100 : 1));

    // Noisy, weighted: compare with the 3 x 3 normal equations (condition
    // ~ (1 + 110^2 / 35^2)^2 ~ 1e2 here, so good to ~1e-13): 1e-9.
    for (int pass = 0; pass < 2; pass++) {
        const double *wp = pass ? w : NULL;
        apply_2x3(dst, ts[0], src, N);
        for (int i = 0; i < 2 * N; i++)
            dst[i] += facet_rng_normal(&rng) * 2.0;
        for (int i = 0; i < N; i++)
            w[i] = uniform(0.0, 3.0);
        CHECK(la_fit_affine(out, src, dst, wp, N) == FACET_OK);
        affine_brute(ref, src, dst, wp, N);
        for (int k = 0; k < 6; k++)
            CHECK_NEAR(out[k], ref[k], 1e-9 * (k % 3 == 2 ? 100 : 1));
    }

    // Zero-weight outliers are ignored (exact data otherwise: 1e-10).
    apply_2x3(dst, ts[0], src, N);
    for (int i = 0; i < N; i++)
        w[i] = 1.0;
    for (int i = 0; i < 4; i++) {
        dst[2 * i + 1] = -5e5;
        w[i] = 0.0;
    }
    CHECK(la_fit_affine(out, src, dst, w, N) == FACET_OK);
    for (int k = 0; k < 6; k++)
        CHECK_NEAR(out[k], ts[0][k], 1e-10 * (k % 3 == 2 ? 100 : 1));

    // Three points determine it exactly.
    {
        double s3[6] = {0, 0, 1, 0, 0, 1}, d3[6];
        apply_2x3(d3, ts[0], s3, 3);
        CHECK(la_fit_affine(out, s3, d3, NULL, 3) == FACET_OK);
        for (int k = 0; k < 6; k++)
            CHECK_NEAR(out[k], ts[0][k], 1e-14 * (k % 3 == 2 ? 10 : 1));
    }
}

static void test_affine_collinear(void)
{
    enum { N = 12 };
    double src[2 * N], dst[2 * N], out[6];
    double t[6] = {1.1, 0.3, 4, -0.6, 0.9, -2};

    // Exactly on y = 2 x + 1 (exact in binary for these x).
    for (int i = 0; i < N; i++) {
        src[2 * i] = i - 3;
        src[2 * i + 1] = 2 * (i - 3) + 1;
    }
    apply_2x3(dst, t, src, N);
    CHECK(la_fit_affine(out, src, dst, NULL, N) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "collinear") != NULL);

    // Spread across the line 1e-10 of the spread along it: rejected
    // (threshold 1e-8). At 1e-5 it is accepted and still recovers the
    // transform: the error grows like eps / ratio, so 1e-9 suffices.
    for (int pass = 0; pass < 2; pass++) {
        double off = pass ? 1e-5 : 1e-10;
        for (int i = 0; i < N; i++) {
            double s = (i - 5.5) * 10; // along (1, 2) / sqrt(5)
            double d = (i % 2 ? 1 : -1) * off * 35;
            src[2 * i] = 50 + (s - 2 * d) / sqrt(5.0);
            src[2 * i + 1] = 80 + (2 * s + d) / sqrt(5.0);
        }
        apply_2x3(dst, t, src, N);
        facet_status rc = la_fit_affine(out, src, dst, NULL, N);
        CHECK(rc == (pass ? FACET_OK : FACET_E_ARG));
        if (pass)
            for (int k = 0; k < 6; k++)
                CHECK_NEAR(out[k], t[k], 1e-9 * (k % 3 == 2 ? 100 : 1));
    }

    // Other errors.
    CHECK(la_fit_affine(out, src, dst, NULL, 2) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "la_fit_affine") != NULL);
    for (int i = 0; i < N; i++) {
        src[2 * i] = 7;
        src[2 * i + 1] = -1;
    }
    CHECK(la_fit_affine(out, src, dst, NULL, N) == FACET_E_ARG);
    src[0] = NAN;
    CHECK(la_fit_affine(out, src, dst, NULL, N) == FACET_E_ARG);
}

// ---------------------------------------------------------------------------
// Matrix helpers for eigen and SVD checks (row-major).

static void random_matrix(double *a, int m, int n)
{
    for (int i = 0; i < m * n; i++)
        a[i] = facet_rng_normal(&rng);
}

static void random_symmetric(double *a, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++)
            a[i * n + j] = a[j * n + i] = facet_rng_normal(&rng);
}

// Random n x n orthogonal matrix: Gram-Schmidt (twice) on normal columns.
static void random_orthogonal(double *q, int n)
{
    random_matrix(q, n, n);
    for (int j = 0; j < n; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int c = 0; c < j; c++) {
                double d = 0;
                for (int i = 0; i < n; i++)
                    d += q[i * n + c] * q[i * n + j];
                for (int i = 0; i < n; i++)
                    q[i * n + j] -= d * q[i * n + c];
            }
        double nr = 0;
        for (int i = 0; i < n; i++)
            nr += q[i * n + j] * q[i * n + j];
        nr = sqrt(nr);
        for (int i = 0; i < n; i++)
            q[i * n + j] /= nr;
    }
}

static double frob(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

// max |Q^T Q - I| over the n columns of the m x n matrix q.
static double orth_err(const double *q, int m, int n)
{
    double e = 0;
    for (int a = 0; a < n; a++)
        for (int b = a; b < n; b++) {
            double d = 0;
            for (int i = 0; i < m; i++)
                d += q[i * n + a] * q[i * n + b];
            e = fmax(e, fabs(d - (a == b ? 1.0 : 0.0)));
        }
    return e;
}

// 1 if in every column of the m x n matrix the entry of largest magnitude
// (first on ties) is positive.
static int signs_ok(const double *q, int m, int n)
{
    for (int j = 0; j < n; j++) {
        double best = -1, val = 0;
        for (int i = 0; i < m; i++)
            if (fabs(q[i * n + j]) > best) {
                best = fabs(q[i * n + j]);
                val = q[i * n + j];
            }
        if (val < 0)
            return 0;
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Symmetric eigen-decomposition.

// Run la_eig_sym with NaN-filled outputs and junk scratch; also check the
// NULL-scratch path gives the same bits.
static facet_status eig_run(double *l, double *v, const double *a, int n)
{
    size_t bytes = la_eig_sym_scratch_size(n);
    void *scr = facet_alloc(bytes);
    double *l2 = dalloc(n), *v2 = dalloc((size_t)n * n);
    facet_status rc, rc2;

    CHECK(bytes > 0 && scr != NULL);
    check_fill_junk(scr, bytes);
    fill_nan_d(l, n);
    fill_nan_d(v, (size_t)n * n);
    rc = la_eig_sym(l, v, a, n, scr);
    rc2 = la_eig_sym(l2, v2, a, n, NULL);
    CHECKF(rc == rc2 && memcmp(l, l2, n * sizeof *l) == 0 &&
           memcmp(v, v2, (size_t)n * n * sizeof *v) == 0,
           "n = %d: NULL scratch gives different bits", n);
    facet_free(scr);
    free(l2);
    free(v2);
    return rc;
}

// Defining identities of an eigen-decomposition. Backward error of Jacobi
// is ~ c * n * eps * |A|, a few 1e-13 at n = 200: residual and
// orthogonality to 1e-11.
static void eig_verify(const double *a, const double *l, const double *v,
                       int n, const char *what)
{
    double fa = frob(a, (size_t)n * n), res = 0, tr = 0, ltr = 0;
    int desc = 1;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double av = 0;
            for (int k = 0; k < n; k++)
                av += a[i * n + k] * v[k * n + j];
            av -= v[i * n + j] * l[j];
            res += av * av;
        }
    res = sqrt(res);
    for (int i = 0; i < n; i++) {
        tr += a[i * n + i];
        ltr += l[i];
        if (i > 0 && !(l[i - 1] >= l[i]))
            desc = 0;
    }
    CHECKF(res <= 1e-11 * fmax(fa, DBL_MIN), "%s n=%d: |AV - VL| = %g, |A| %g",
           what, n, res, fa);
    CHECKF(orth_err(v, n, n) <= 1e-11, "%s n=%d: |V^T V - I| = %g", what, n,
           orth_err(v, n, n));
    CHECKF(desc, "%s n=%d: eigenvalues not descending", what, n);
    CHECKF(signs_ok(v, n, n), "%s n=%d: sign rule broken", what, n);
    // Trace is the sum of eigenvalues (rounding ~ n eps |A|).
    CHECKF(fabs(tr - ltr) <= 1e-12 * n * fmax(fa, DBL_MIN),
           "%s n=%d: trace %g vs sum %g", what, n, tr, ltr);
}

static void test_eig_random(void)
{
    static const int sizes[] = {1, 2, 3, 10, 64, 200};

    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        int n = sizes[c];
        double *a = dalloc((size_t)n * n), *l = dalloc(n);
        double *v = dalloc((size_t)n * n);
        random_symmetric(a, n);
        CHECK(eig_run(l, v, a, n) == FACET_OK);
        eig_verify(a, l, v, n, "random");
        free(a);
        free(l);
        free(v);
    }
}

// A = Q diag(d) Q^T with clusters of equal eigenvalues.
static void test_eig_repeated(void)
{
    static const double d8[] = {5, -1, 5, 2, 0, 5, -1, 0};
    enum { N = 30 };
    double q[N * N], a[N * N], l[N], v[N * N], d[N], dsort[N];
    int ns[2] = {8, N};

    for (int c = 0; c < 2; c++) {
        int n = ns[c];
        for (int i = 0; i < n; i++)
            d[i] = c == 0 ? d8[i] : (double)(i % 4) - 1.5 * (i % 3 == 0);
        random_orthogonal(q, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += q[i * n + k] * d[k] * q[j * n + k];
                a[i * n + j] = s;
            }
        // Make it exactly symmetric (the sums above are in different
        // orders for (i, j) and (j, i)).
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                a[i * n + j] = a[j * n + i];
        CHECK(eig_run(l, v, a, n) == FACET_OK);
        eig_verify(a, l, v, n, "repeated");

        // Eigenvalues match the construction: |A| ~ 5 sqrt(n), error
        // ~ n eps |A|: 1e-12.
        memcpy(dsort, d, n * sizeof *d);
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && dsort[j - 1] < dsort[j]; j--) {
                double t = dsort[j];
                dsort[j] = dsort[j - 1];
                dsort[j - 1] = t;
            }
        for (int i = 0; i < n; i++)
            CHECK_NEAR(l[i], dsort[i], 1e-12);
    }
}

static void test_eig_special(void)
{
    double l[6], v[36];

    // Diagonal: no rotation at all; exact values, V an exact permutation
    // with ties in diagonal order.
    {
        double a[36] = {0};
        double d[6] = {3, -1, 7, 0, 7, 2}, want[6] = {7, 7, 3, 2, 0, -1};
        int perm[6] = {2, 4, 0, 5, 3, 1}, exact = 1;
        for (int i = 0; i < 6; i++)
            a[i * 6 + i] = d[i];
        CHECK(eig_run(l, v, a, 6) == FACET_OK);
        for (int j = 0; j < 6; j++) {
            if (l[j] != want[j])
                exact = 0;
            for (int i = 0; i < 6; i++)
                if (v[i * 6 + j] != (i == perm[j] ? 1.0 : 0.0))
                    exact = 0;
        }
        CHECK(exact);
    }

    // 2 x 2 analytic: [4 1; 1 2] has 3 +- sqrt 2 with eigenvectors
    // (1, sqrt2 - 1) and, by the sign rule, (-1, 1 + sqrt2), normalised.
    // A couple of roundings: 4 eps.
    {
        double a[4] = {4, 1, 1, 2}, r2 = sqrt(2.0), tol = 4 * DBL_EPSILON;
        double n1 = sqrt(1 + (r2 - 1) * (r2 - 1));
        double n2 = sqrt(1 + (r2 + 1) * (r2 + 1));
        CHECK(eig_run(l, v, a, 2) == FACET_OK);
        CHECK_NEAR(l[0], 3 + r2, tol * 5);
        CHECK_NEAR(l[1], 3 - r2, tol * 5);
        CHECK_NEAR(v[0], 1 / n1, tol);
        CHECK_NEAR(v[2], (r2 - 1) / n1, tol);
        CHECK_NEAR(v[1], -1 / n2, tol);
        CHECK_NEAR(v[3], (r2 + 1) / n2, tol);
    }

    // Zero matrix: zero eigenvalues, identity vectors.
    {
        double a[9] = {0};
        CHECK(eig_run(l, v, a, 3) == FACET_OK);
        for (int i = 0; i < 9; i++)
            CHECK(v[i] == (i % 4 == 0 ? 1.0 : 0.0));
        CHECK(l[0] == 0 && l[1] == 0 && l[2] == 0);
    }

    // Scaling by 2^600 and 2^-600 (whose squares overflow / underflow)
    // changes the eigenvalues by exactly that factor, vectors not at all.
    {
        enum { N = 12 };
        double a[N * N], b[N * N], l0[N], v0[N * N], l1[N], v1[N * N];
        int same = 1;
        random_symmetric(a, N);
        CHECK(eig_run(l0, v0, a, N) == FACET_OK);
        for (int s = -600; s <= 600; s += 1200) {
            for (int i = 0; i < N * N; i++)
                b[i] = ldexp(a[i], s);
            CHECK(eig_run(l1, v1, b, N) == FACET_OK);
            for (int i = 0; i < N; i++)
                if (l1[i] != ldexp(l0[i], s))
                    same = 0;
            if (memcmp(v0, v1, sizeof v0) != 0)
                same = 0;
        }
        CHECK(same);
    }
}

static void test_eig_errors(void)
{
    double a[9] = {1, 2, 3, 2, 4, 5, 3, 5, 6}, l[3], v[9];
    char scr[1];

    CHECK(la_eig_sym(l, v, a, 0, scr) == FACET_E_ARG);
    CHECK(la_eig_sym_scratch_size(0) == 0);
    CHECK(la_eig_sym_scratch_size(-1) == 0);
    a[4] = NAN;
    CHECK(la_eig_sym(l, v, a, 3, NULL) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "not finite") != NULL);
    a[4] = INFINITY;
    CHECK(la_eig_sym(l, v, a, 3, NULL) == FACET_E_ARG);
    a[4] = 4;
    a[5] = 5.001;
    CHECK(la_eig_sym(l, v, a, 3, NULL) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "symmetric") != NULL);
    // Mirrored entries a rounding apart are accepted and averaged.
    a[5] = nextafter(5.0, 6.0);
    CHECK(la_eig_sym(l, v, a, 3, NULL) == FACET_OK);
}

// ---------------------------------------------------------------------------
// SVD.

static facet_status svd_run(double *u, double *s, double *v, const double *a,
                            int m, int n)
{
    size_t bytes = la_svd_scratch_size(m, n);
    void *scr = facet_alloc(bytes);
    double *u2 = dalloc((size_t)m * n), *s2 = dalloc(n);
    double *v2 = dalloc((size_t)n * n);
    facet_status rc, rc2;

    CHECK(bytes > 0 && scr != NULL);
    check_fill_junk(scr, bytes);
    fill_nan_d(u, (size_t)m * n);
    fill_nan_d(s, n);
    fill_nan_d(v, (size_t)n * n);
    rc = la_svd(u, s, v, a, m, n, scr);
    rc2 = la_svd(u2, s2, v2, a, m, n, NULL);
    CHECKF(rc == rc2 && memcmp(u, u2, (size_t)m * n * sizeof *u) == 0 &&
           memcmp(s, s2, n * sizeof *s) == 0 &&
           memcmp(v, v2, (size_t)n * n * sizeof *v) == 0,
           "%d x %d: NULL scratch gives different bits", m, n);
    facet_free(scr);
    free(u2);
    free(s2);
    free(v2);
    return rc;
}

// U S V^T = A, orthonormal U and V, s descending and >= 0, the sign rule
// on V, and s^2 against the eigenvalues of A^T A.
static void svd_verify(const double *a, const double *u, const double *s,
                       const double *v, int m, int n, const char *what)
{
    double fa = frob(a, (size_t)m * n), res = 0, eerr = 0;
    double *ata = dalloc((size_t)n * n), *l = dalloc(n);
    double *ev = dalloc((size_t)n * n);
    int order = 1;

    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double x = 0;
            for (int k = 0; k < n; k++)
                x += u[i * n + k] * s[k] * v[j * n + k];
            x -= a[i * n + j];
            res += x * x;
        }
    res = sqrt(res);
    for (int j = 0; j < n; j++)
        if (!(s[j] >= 0) || (j > 0 && !(s[j - 1] >= s[j])))
            order = 0;

    // One-sided Jacobi has backward error ~ c * max(m, n) * eps * |A|:
    // 1e-11 relative covers 200 x 50 with margin. Orthogonality is set
    // by the stopping cosine max(m, 8) * eps (<= 4.4e-14): 1e-11.
    CHECKF(res <= 1e-11 * fmax(fa, DBL_MIN), "%s %dx%d: |USV^T - A| = %g",
           what, m, n, res);
    CHECKF(orth_err(u, m, n) <= 1e-11, "%s %dx%d: |U^T U - I| = %g", what,
           m, n, orth_err(u, m, n));
    CHECKF(orth_err(v, n, n) <= 1e-11, "%s %dx%d: |V^T V - I| = %g", what,
           m, n, orth_err(v, n, n));
    CHECKF(order, "%s %dx%d: singular values not descending", what, m, n);
    CHECKF(signs_ok(v, n, n), "%s %dx%d: sign rule broken", what, m, n);

    // s_i^2 vs eig(A^T A): the eigenvalues carry an absolute error of
    // ~ n eps |A^T A|, so compare squares to 1e-12 * s_0^2 (taking square
    // roots would amplify it near zero singular values).
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double x = 0;
            for (int k = 0; k < m; k++)
                x += a[k * n + i] * a[k * n + j];
            ata[i * n + j] = x;
        }
    CHECK(la_eig_sym(l, ev, ata, n, NULL) == FACET_OK);
    for (int i = 0; i < n; i++)
        eerr = fmax(eerr, fabs(s[i] * s[i] - l[i]));
    CHECKF(eerr <= 1e-12 * fmax(s[0] * s[0], DBL_MIN),
           "%s %dx%d: |s^2 - eig(A^T A)| = %g", what, m, n, eerr);
    free(ata);
    free(l);
    free(ev);
}

static void test_svd_random(void)
{
    static const int shapes[][2] = {{1, 1}, {5, 3}, {68, 4}, {100, 100},
                                    {200, 50}, {7, 7}, {9, 1}};

    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        int m = shapes[c][0], n = shapes[c][1];
        double *a = dalloc((size_t)m * n), *u = dalloc((size_t)m * n);
        double *s = dalloc(n), *v = dalloc((size_t)n * n);
        random_matrix(a, m, n);
        CHECK(svd_run(u, s, v, a, m, n) == FACET_OK);
        svd_verify(a, u, s, v, m, n, "random");
        free(a);
        free(u);
        free(s);
        free(v);
    }

    // 68 x 4 (a landmark-sized problem): V equals the eigenvectors of
    // A^T A under the shared sign rule. Singular values of a random
    // 68 x 4 are well apart (gaps ~1 on s^2 ~ 70), so the eigenvectors
    // are determined to ~ eps * |A^T A| / gap: 1e-12.
    {
        enum { M = 68, N = 4 };
        double a[M * N], u[M * N], s[N], v[N * N], ata[N * N], l[N];
        double ev[N * N];
        random_matrix(a, M, N);
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double x = 0;
                for (int k = 0; k < M; k++)
                    x += a[k * N + i] * a[k * N + j];
                ata[i * N + j] = x;
            }
        CHECK(la_eig_sym(l, ev, ata, N, NULL) == FACET_OK);
        for (int i = 0; i < N * N; i++)
            CHECK_NEAR(v[i], ev[i], 1e-12);
    }
}

static void test_svd_deficient(void)
{
    // 68 x 4 with column 3 = column 0 + 2 column 1 (rank 3).
    {
        enum { M = 68, N = 4 };
        double a[M * N], u[M * N], s[N], v[N * N];
        random_matrix(a, M, N);
        for (int i = 0; i < M; i++)
            a[i * N + 3] = a[i * N] + 2 * a[i * N + 1];
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        svd_verify(a, u, s, v, M, N, "rank 3");
        // The zero singular value comes out at rounding level:
        // ~ m eps |A| ~ 1e-13.
        CHECKF(s[3] <= 1e-13 * s[0], "s[3] = %g", s[3]);
    }

    // 10 x 6 of rank 2 (a product of 10 x 2 and 2 x 6).
    {
        enum { M = 10, N = 6 };
        double b[M * 2], c[2 * N], a[M * N], u[M * N], s[N], v[N * N];
        random_matrix(b, M, 2);
        random_matrix(c, 2, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                a[i * N + j] = b[i * 2] * c[j] + b[i * 2 + 1] * c[N + j];
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        svd_verify(a, u, s, v, M, N, "rank 2");
        for (int j = 2; j < N; j++)
            CHECKF(s[j] <= 1e-14 * s[0], "s[%d] = %g", j, s[j]);
    }

    // Exact zero columns and the zero matrix: exact zero singular values,
    // U completed to orthonormal columns.
    {
        enum { M = 5, N = 3 };
        double a[M * N], u[M * N], s[N], v[N * N];
        random_matrix(a, M, N);
        for (int i = 0; i < M; i++)
            a[i * N + 1] = 0;
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        svd_verify(a, u, s, v, M, N, "zero column");
        CHECK(s[2] == 0.0 && s[1] > 0.0);
        memset(a, 0, sizeof a);
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        CHECK(s[0] == 0.0 && s[1] == 0.0 && s[2] == 0.0);
        CHECKF(orth_err(u, M, N) <= 1e-15, "zero matrix: |U^T U - I| = %g",
               orth_err(u, M, N));
        CHECK(orth_err(v, N, N) == 0.0);
    }

    // Square rank-deficient: 100 x 100 of rank 60.
    {
        enum { M = 100, N = 100, R = 60 };
        double *b = dalloc(M * R), *c = dalloc(R * N), *a = dalloc(M * N);
        double *u = dalloc(M * N), *s = dalloc(N), *v = dalloc(N * N);
        random_matrix(b, M, R);
        random_matrix(c, R, N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double x = 0;
                for (int k = 0; k < R; k++)
                    x += b[i * R + k] * c[k * N + j];
                a[i * N + j] = x;
            }
        CHECK(svd_run(u, s, v, a, M, N) == FACET_OK);
        svd_verify(a, u, s, v, M, N, "rank 60");
        // s[60..] at rounding level ~ n eps |A|: 1e-12 of s_0.
        CHECKF(s[R] <= 1e-12 * s[0], "s[%d] = %g of %g", R, s[R], s[0]);
        free(b);
        free(c);
        free(a);
        free(u);
        free(s);
        free(v);
    }
}

static void test_svd_special(void)
{
    // Scaling by 2^-600 scales s exactly and leaves U, V bit-identical.
    {
        enum { M = 9, N = 5 };
        double a[M * N], b[M * N], u0[M * N], s0[N], v0[N * N];
        double u1[M * N], s1[N], v1[N * N];
        int same = 1;
        random_matrix(a, M, N);
        for (int i = 0; i < M * N; i++)
            b[i] = ldexp(a[i], -600);
        CHECK(svd_run(u0, s0, v0, a, M, N) == FACET_OK);
        CHECK(svd_run(u1, s1, v1, b, M, N) == FACET_OK);
        for (int i = 0; i < N; i++)
            if (s1[i] != ldexp(s0[i], -600))
                same = 0;
        CHECK(same && memcmp(u0, u1, sizeof u0) == 0 &&
              memcmp(v0, v1, sizeof v0) == 0);
    }

    // Known values: diag(3, -5, 1) padded with a zero row has singular
    // values 5, 3, 1; V picks the sign of each unit vector.
    {
        double a[12] = {3, 0, 0, 0, -5, 0, 0, 0, 1, 0, 0, 0};
        double u[12], s[3], v[9];
        CHECK(svd_run(u, s, v, a, 4, 3) == FACET_OK);
        CHECK(s[0] == 5 && s[1] == 3 && s[2] == 1);
        CHECK(v[1] == 1 && v[3] == 1 && v[8] == 1);
        CHECK(u[1 * 3 + 0] == -1 && u[0 * 3 + 1] == 1 && u[2 * 3 + 2] == 1);
    }
}

static void test_svd_errors(void)
{
    double a[6] = {1, 2, 3, 4, 5, 6}, u[6], s[3], v[9];

    CHECK(la_svd(u, s, v, a, 2, 3, NULL) == FACET_E_ARG);
    CHECK(strstr(facet_error(), "la_svd") != NULL);
    CHECK(la_svd(u, s, v, a, 3, 0, NULL) == FACET_E_ARG);
    CHECK(la_svd(u, s, v, a, 0, 0, NULL) == FACET_E_ARG);
    CHECK(la_svd_scratch_size(2, 3) == 0);
    CHECK(la_svd_scratch_size(3, 0) == 0);
    a[3] = NAN;
    CHECK(la_svd(u, s, v, a, 3, 2, NULL) == FACET_E_ARG);
    a[3] = -INFINITY;
    CHECK(la_svd(u, s, v, a, 3, 2, NULL) == FACET_E_ARG);
    a[3] = 4;
    CHECK(la_svd(u, s, v, a, 3, 2, NULL) == FACET_OK);
}

int main(void)
{
    facet_rng_seed(&rng, 20240611);
    test_similarity_exact();
    test_similarity_noisy();
    test_similarity_weights();
    test_similarity_errors();
    test_affine();
    test_affine_collinear();
    test_eig_random();
    test_eig_repeated();
    test_eig_special();
    test_eig_errors();
    test_svd_random();
    test_svd_deficient();
    test_svd_special();
    test_svd_errors();
    return check_report();
}

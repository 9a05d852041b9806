// test_pcam.c - the CAM baseline (face/cam.c) and PCAM with what is
// derived from it (face/pcam.c): hand-computed PCAM, a double reference
// at the real 512 x 14 x 14 shape, the CAM layer's objective against a
// two-row softmax reference and finite differences, its training on
// separable and overlapping sets, the CAM invariants, upsampling against
// a tent-weight reference, normalisation, binarisation, Jaccard index,
// Eq. 9 ranking with a planted outlier and the default nu, the identity
// ranking on a toy set worked out by hand, Eqs. 11-12,
// part scores in two frames, the majority rule with ties, the 4-part
// selection index, determinism across thread counts and bad arguments.
//
// Everything is synthetic (seeded), so the test needs neither weights nor
// data and runs in well under a second.
#include "check.h"

#include "../face/cam.h"
#include "../face/pcam.h"

// ---------------------------------------------------------------------------
// Helpers

static double dabs(double x)
{
    return x < 0 ? -x : x;
}

// Median by insertion sort (a separate implementation from the library's).
static double ref_median(const double *v, int n)
{
    double t[64];

    FACET_ASSERT(n <= 64);
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && t[j - 1] > v[i]) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = v[i];
    }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// ---------------------------------------------------------------------------
// PCAM

// Z = 2, H = 1, W = 3, s = 2; worked out by hand:
//   g = f / 2:  z0 = (1, 2, 3), z1 = (4, 0, -1)
//   m . g:      z0 = (1, 1, 6), z1 = (2, 0, -1)
//   F = (8/3, 1/3)
//   PCAM = 8/3 (1, 1, 6) + 1/3 (2, 0, -1) = (10/3, 8/3, 47/3)
static void test_pcam_hand(void)
{
    const float f[6] = {2, 4, 6, 8, 0, -2};
    const float m[6] = {1, 0.5f, 2, 0.5f, 3, 1};
    const double want[3] = {10.0 / 3.0, 8.0 / 3.0, 47.0 / 3.0};
    float map[3];

    check_fill_nan(map, 3);
    CHECK(face_pcam_map(map, m, 2.0f, f, 2, 1, 3) == FACET_OK);
    // Tolerance: one float rounding of values up to 16 (2^-23 * 16 ~ 2e-6).
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(map[i], want[i], 4e-6);

    // The same map laid out 3 x 1 gives the same numbers.
    check_fill_nan(map, 3);
    CHECK(face_pcam_map(map, m, 2.0f, f, 2, 3, 1) == FACET_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(map[i], want[i], 4e-6);
}

// Double reference at the backbone's shape and at odd small shapes.
static void test_pcam_ref(void)
{
    static const int shapes[][3] = {{512, 14, 14}, {1, 1, 1}, {3, 5, 7},
                                    {64, 16, 16}};
    facet_rng r;

    facet_rng_seed(&r, 11);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int Z = shapes[si][0], H = shapes[si][1], W = shapes[si][2];
        size_t hw = (size_t)H * W, d = (size_t)Z * hw;
        float *f = malloc(d * sizeof *f), *m = malloc(d * sizeof *m);
        float *map = malloc(hw * sizeof *map);
        double *F = malloc((size_t)Z * sizeof *F);
        FACET_ASSERT(f && m && map && F);
        check_fill_random(f, d, &r, 0.0f, 3.0f);     // post-ReLU features
        check_fill_random(m, d, &r, 0.5f, 1.5f);
        float s = 37.5f;

        check_fill_nan(map, hw);
        CHECK(face_pcam_map(map, m, s, f, Z, H, W) == FACET_OK);

        // Reference: the two equations as written, in double.
        for (int z = 0; z < Z; z++) {
            double acc = 0;
            for (size_t i = 0; i < hw; i++)
                acc += (double)m[z * hw + i] * f[z * hw + i] / s;
            F[z] = acc / (double)hw;
        }
        double worst = 0;
        for (size_t i = 0; i < hw; i++) {
            double acc = 0, mag = 0;
            for (int z = 0; z < Z; z++) {
                double t = F[z] * m[z * hw + i] * f[z * hw + i] / s;
                acc += t;
                mag += dabs(t);
            }
            // Tolerance: float output rounding (6e-8 relative) of a sum of
            // non-negative terms, plus a little for operation order.
            double err = dabs(map[i] - acc) / (mag > 0 ? mag : 1);
            worst = err > worst ? err : worst;
        }
        CHECKF(worst <= 2e-7, "pcam %dx%dx%d: relative error %.3g", Z, H, W,
               worst);
        free(f);
        free(m);
        free(map);
        free(F);
    }
}

// ---------------------------------------------------------------------------
// CAM

// A set of n pooled vectors (Z each) with rows pointing into one block.
typedef struct vecset {
    float *data;
    const float **rows;
    int n;
} vecset;

static vecset vecset_make(int n, int Z)
{
    vecset v;

    v.data = malloc((size_t)n * Z * sizeof *v.data);
    v.rows = malloc((size_t)n * sizeof *v.rows);
    FACET_ASSERT(v.data && v.rows);
    for (int i = 0; i < n; i++)
        v.rows[i] = v.data + (size_t)i * Z;
    v.n = n;
    return v;
}

static void vecset_free(vecset *v)
{
    free(v->data);
    free(v->rows);
}

// Two clusters along a random direction u: ind = base + sep u + noise,
// arb = base - sep u + noise, all entries >= 0 (like pooled ReLU maps).
static void make_clusters(vecset *ind, vecset *arb, int Z, double sep,
                          double noise, facet_rng *r)
{
    double *u = malloc((size_t)Z * sizeof *u);
    FACET_ASSERT(u);
    double un = 0;
    for (int z = 0; z < Z; z++) {
        u[z] = facet_rng_normal(r);
        un += u[z] * u[z];
    }
    un = sqrt(un);
    for (int k = 0; k < 2; k++) {
        vecset *v = k == 0 ? ind : arb;
        for (int i = 0; i < v->n; i++) {
            float *row = v->data + (size_t)i * Z;
            for (int z = 0; z < Z; z++) {
                double x = 4.0 + (k == 0 ? sep : -sep) * u[z] / un +
                           noise * facet_rng_normal(r);
                row[z] = (float)(x > 0 ? x : 0);
            }
        }
    }
    free(u);
}

// The two-row softmax objective of method-spec 3, written out: A (2 x Z),
// b (2), mean weighted cross-entropy + (mu / 2) ||A||^2, and dL/dA,
// dL/db from the spec's formulas. Class weights N / (2 N_c).
static double ref_softmax(double *gA, double *gb, const double *A,
                          const double *b, const vecset *ind,
                          const vecset *arb, int Z, double s, double mu)
{
    double N = ind->n + arb->n, loss = 0;

    memset(gA, 0, 2 * (size_t)Z * sizeof *gA);
    gb[0] = gb[1] = 0;
    for (int k = 0; k < 2; k++) {
        const vecset *v = k == 0 ? ind : arb;
        double cw = N / (2.0 * v->n);
        for (int i = 0; i < v->n; i++) {
            double sc[2];
            for (int c = 0; c < 2; c++) {
                sc[c] = b[c];
                for (int z = 0; z < Z; z++)
                    sc[c] += A[c * Z + z] * (v->rows[i][z] / s);
            }
            double mx = sc[0] > sc[1] ? sc[0] : sc[1];
            double lse = mx + log(exp(sc[0] - mx) + exp(sc[1] - mx));
            loss += cw * (lse - sc[k]);
            for (int c = 0; c < 2; c++) {
                double pc = exp(sc[c] - lse) - (c == k ? 1.0 : 0.0);
                for (int z = 0; z < Z; z++)
                    gA[c * Z + z] += cw * pc * (v->rows[i][z] / s) / N;
                gb[c] += cw * pc / N;
            }
        }
    }
    loss /= N;
    for (int j = 0; j < 2 * Z; j++) {
        loss += 0.5 * mu * A[j] * A[j];
        gA[j] += mu * A[j];
    }
    return loss;
}

// The logistic objective equals the softmax one at A = (w/2, -w/2), its
// gradient is the softmax gradient mapped to w, b, and both agree with
// central differences.
static void test_cam_objective(void)
{
    const int Z = 6;
    const double s = 3.0, mu = 0.02;
    facet_rng r;
    vecset ind = vecset_make(5, Z), arb = vecset_make(9, Z);
    face_cam_opts o;
    double wb[7], g[7], loss, A[12], gA[12], b[2], gb[2];

    facet_rng_seed(&r, 21);
    make_clusters(&ind, &arb, Z, 1.0, 1.0, &r);
    face_cam_opts_init(&o);
    o.mu = mu;
    for (int j = 0; j <= Z; j++)
        wb[j] = 0.7 * facet_rng_normal(&r);

    CHECK(face_cam_loss(&loss, g, wb, ind.rows, ind.n, arb.rows, arb.n, Z,
                        s, &o) == FACET_OK);

    // Softmax reference at A_ind = w / 2, A_arb = -w / 2, b = (b/2, -b/2).
    for (int z = 0; z < Z; z++) {
        A[z] = 0.5 * wb[z];
        A[Z + z] = -0.5 * wb[z];
    }
    b[0] = 0.5 * wb[Z];
    b[1] = -0.5 * wb[Z];
    double ref = ref_softmax(gA, gb, A, b, &ind, &arb, Z, s, mu);
    // Tolerance: double rounding over ~14 terms of size ~1.
    CHECK_NEAR(loss, ref, 1e-12);
    // dL/dw = (dL/dA_ind - dL/dA_arb) / 2 by the chain rule.
    for (int z = 0; z < Z; z++)
        CHECK_NEAR(g[z], 0.5 * (gA[z] - gA[Z + z]), 1e-12);
    CHECK_NEAR(g[Z], 0.5 * (gb[0] - gb[1]), 1e-12);

    // Central differences, h = 1e-5: truncation ~h^2 = 1e-10, rounding
    // ~1e-16 / 1e-5 = 1e-11; tolerance 1e-8.
    for (int j = 0; j <= Z; j++) {
        double wp[7], lp, lm;
        memcpy(wp, wb, sizeof wp);
        wp[j] += 1e-5;
        face_cam_loss(&lp, NULL, wp, ind.rows, ind.n, arb.rows, arb.n, Z, s,
                      &o);
        wp[j] -= 2e-5;
        face_cam_loss(&lm, NULL, wp, ind.rows, ind.n, arb.rows, arb.n, Z, s,
                      &o);
        CHECK_NEAR(g[j], (lp - lm) / 2e-5, 1e-8);
    }
    vecset_free(&ind);
    vecset_free(&arb);
}

// Train on a separable set (100 % accuracy, converged, the optimum's
// gradient is ~0 by the reference), then the invariants.
static void test_cam_train_separable(void)
{
    const int Z = 8, H = 5, W = 7;
    facet_rng r;
    vecset ind = vecset_make(20, Z), arb = vecset_make(35, Z);
    face_cam_opts o;
    face_cam cam;

    facet_rng_seed(&r, 31);
    make_clusters(&ind, &arb, Z, 3.0, 0.5, &r);
    face_cam_opts_init(&o);
    o.mu = 1e-4;
    CHECK(face_cam_train(&cam, ind.rows, ind.n, arb.rows, arb.n, Z, &o) ==
          FACET_OK);
    CHECK(cam.converged == 1);
    CHECKF(cam.grad_rel <= 1e-6, "grad_rel %.3g", cam.grad_rel);
    CHECK(cam.train_acc == 1.0);
    double acc = -1;
    CHECK(face_cam_accuracy(&acc, &cam, ind.rows, ind.n, arb.rows, arb.n) ==
          FACET_OK);
    CHECK(acc == 1.0);

    // The stored layer has the penalty's symmetric form exactly.
    int sym = cam.b[0] == -cam.b[1];
    for (int z = 0; z < Z; z++)
        sym &= cam.a[z] == -cam.a[Z + z];
    CHECK(sym);

    // The default scale is the mean norm of the pooled vectors.
    double mn = 0;
    for (int k = 0; k < 2; k++) {
        const vecset *v = k == 0 ? &ind : &arb;
        for (int i = 0; i < v->n; i++) {
            double ss = 0;
            for (int z = 0; z < Z; z++)
                ss += (double)v->rows[i][z] * v->rows[i][z];
            mn += sqrt(ss);
        }
    }
    mn /= ind.n + arb.n;
    CHECK_NEAR(cam.scale, mn, 1e-6 * mn);   // float rounding of the scale

    // Optimality by the reference: the softmax gradient at the stored
    // (float) layer is small. Tolerance: rounding A to float moves w by
    // ~6e-8 |w|; the curvature is <= max ||x||^2 / 4 + mu ~ 1, so the
    // gradient may move by ~1e-7 |w|.
    double A[16], b[2] = {cam.b[0], cam.b[1]}, gA[16], gb[2], wn = 0;
    for (int j = 0; j < 2 * Z; j++) {
        A[j] = cam.a[j];
        wn += A[j] * A[j];
    }
    ref_softmax(gA, gb, A, b, &ind, &arb, Z, cam.scale, o.mu);
    double gn = gb[0] * gb[0] + gb[1] * gb[1];
    for (int j = 0; j < 2 * Z; j++)
        gn += gA[j] * gA[j];
    CHECKF(sqrt(gn) <= 1e-6 * (1 + 2 * sqrt(wn)), "softmax gradient %.3g",
           sqrt(gn));

    // Invariant: mean CAM_c = s_c - b_c, for a random map and both rows.
    float f[8 * 5 * 7], F[8], map[35];
    check_fill_random(f, sizeof f / sizeof f[0], &r, 0.0f, 4.0f);
    CHECK(face_cam_pool(F, f, Z, H, W) == FACET_OK);
    double sc[2], p;
    CHECK(face_cam_scores(sc, &p, &cam, F) == FACET_OK);
    for (int c = 0; c < 2; c++) {
        check_fill_nan(map, 35);
        CHECK(face_cam_map(map, &cam, f, Z, H, W, (face_cam_class)c) ==
              FACET_OK);
        double mean = 0, mag = 0;
        for (int i = 0; i < H * W; i++) {
            mean += map[i];
            mag += dabs(map[i]);
        }
        mean /= H * W;
        mag /= H * W;
        // Tolerance: float rounding of each pixel (6e-8 relative) and of
        // the pooled vector.
        CHECK_NEAR(mean, sc[c] - cam.b[c], 1e-6 * (1 + mag));
    }
    // CAM_ind = -CAM_arb, so the two probabilities are 1 - each other.
    CHECK_NEAR(p, 1.0 / (1.0 + exp(sc[1] - sc[0])), 1e-15);

    // Adding a common vector to both rows: no prediction changes, the
    // probabilities only by the float rounding of the rows (~1e-6), and
    // the CAM moves by v . f / s, which is what makes CAM ambiguous.
    face_cam moved = cam;
    float *a2 = malloc(2 * (size_t)Z * sizeof *a2);
    float v[8];
    FACET_ASSERT(a2);
    check_fill_random(v, Z, &r, -2.0f, 2.0f);
    for (int z = 0; z < Z; z++) {
        a2[z] = cam.a[z] + v[z];
        a2[Z + z] = cam.a[Z + z] + v[z];
    }
    moved.a = a2;
    int same = 1;
    double worst_p = 0;
    for (int k = 0; k < 2; k++) {
        const vecset *vs = k == 0 ? &ind : &arb;
        for (int i = 0; i < vs->n; i++) {
            face_cam_class c1, c2;
            double s1[2], s2[2], p1, p2;
            face_cam_predict(&c1, &cam, vs->rows[i]);
            face_cam_predict(&c2, &moved, vs->rows[i]);
            face_cam_scores(s1, &p1, &cam, vs->rows[i]);
            face_cam_scores(s2, &p2, &moved, vs->rows[i]);
            same &= c1 == c2;
            worst_p = dabs(p1 - p2) > worst_p ? dabs(p1 - p2) : worst_p;
        }
    }
    CHECK(same);
    CHECKF(worst_p <= 1e-5, "probability moved by %.3g", worst_p);
    float map2[35];
    face_cam_map(map, &cam, f, Z, H, W, FACE_CAM_IND);
    face_cam_map(map2, &moved, f, Z, H, W, FACE_CAM_IND);
    double worst_m = 0;
    for (int i = 0; i < H * W; i++) {
        double shift = 0;
        for (int z = 0; z < Z; z++)
            shift += (double)v[z] * f[z * H * W + i] / cam.scale;
        double e = dabs(map2[i] - map[i] - shift);
        worst_m = e > worst_m ? e : worst_m;
    }
    CHECKF(worst_m <= 1e-5, "CAM shift error %.3g", worst_m);
    free(a2);

    // Same inputs, same layer, bit for bit, with 1 and 2 threads.
    int saved = facet_threads();
    face_cam again;
    facet_set_threads(saved > 1 ? 1 : 2);
    CHECK(face_cam_train(&again, ind.rows, ind.n, arb.rows, arb.n, Z, &o) ==
          FACET_OK);
    facet_set_threads(saved);
    CHECK(memcmp(again.a, cam.a, 2 * (size_t)Z * sizeof *cam.a) == 0 &&
          again.b[0] == cam.b[0] && again.iters == cam.iters);
    face_cam_free(&again);
    face_cam_free(&cam);
    face_cam_free(&cam);   // freeing twice (an emptied layer) is harmless
    face_cam_free(NULL);
    vecset_free(&ind);
    vecset_free(&arb);
}

// The real shape: Z = 512, 100 + 100 overlapping portraits, the default
// options. Converges, beats chance, and the time is printed.
static void test_cam_train_real_shape(void)
{
    const int Z = 512;
    facet_rng r;
    vecset ind = vecset_make(100, Z), arb = vecset_make(100, Z);
    face_cam cam;

    facet_rng_seed(&r, 41);
    make_clusters(&ind, &arb, Z, 2.0, 1.0, &r);
    double t0 = facet_now();
    CHECK(face_cam_train(&cam, ind.rows, ind.n, arb.rows, arb.n, Z, NULL) ==
          FACET_OK);
    double t1 = facet_now();
    CHECK(cam.converged == 1);
    CHECK(cam.train_acc > 0.9);
    printf("cam_train Z=512, 100+100: %d Newton iterations, %.0f ms, "
           "training accuracy %.3f\n", cam.iters, 1e3 * (t1 - t0),
           cam.train_acc);
    face_cam_free(&cam);
    vecset_free(&ind);
    vecset_free(&arb);
}

// Unequal sets: balancing makes the loss the mean of the two class means.
static void test_cam_balance(void)
{
    const int Z = 3;
    facet_rng r;
    vecset ind = vecset_make(2, Z), arb = vecset_make(6, Z);
    double wb[4] = {0.3, -0.2, 0.5, 0.1}, lb, lu, li, la;
    face_cam_opts o;

    facet_rng_seed(&r, 51);
    make_clusters(&ind, &arb, Z, 1.0, 1.0, &r);
    face_cam_opts_init(&o);
    o.mu = 0;
    face_cam_loss(&lb, NULL, wb, ind.rows, ind.n, arb.rows, arb.n, Z, 2.0,
                  &o);
    face_cam_loss(&li, NULL, wb, ind.rows, ind.n, NULL, 0, Z, 2.0, &o);
    face_cam_loss(&la, NULL, wb, NULL, 0, arb.rows, arb.n, Z, 2.0, &o);
    o.balance = 0;
    face_cam_loss(&lu, NULL, wb, ind.rows, ind.n, arb.rows, arb.n, Z, 2.0,
                  &o);
    // Tolerance: double rounding of 8 terms.
    CHECK_NEAR(lb, 0.5 * (li + la), 1e-14);
    CHECK_NEAR(lu, (2 * li + 6 * la) / 8, 1e-14);
    vecset_free(&ind);
    vecset_free(&arb);
}

// ---------------------------------------------------------------------------
// Map statistics

// Reference bilinear resampling by tent weights: every source pixel
// contributes max(0, 1 - |sx - i|) max(0, 1 - |sy - j|), with the sample
// point clamped into the source.
static double ref_sample(const float *src, int sh, int sw, int y, int x,
                         int dh, int dw)
{
    double sx = (x + 0.5) * sw / dw - 0.5, sy = (y + 0.5) * sh / dh - 0.5;
    double acc = 0;

    sx = sx < 0 ? 0 : sx > sw - 1 ? sw - 1 : sx;
    sy = sy < 0 ? 0 : sy > sh - 1 ? sh - 1 : sy;
    for (int j = 0; j < sh; j++) {
        double wy = 1 - dabs(sy - j);
        if (wy <= 0)
            continue;
        for (int i = 0; i < sw; i++) {
            double wx = 1 - dabs(sx - i);
            if (wx > 0)
                acc += wx * wy * src[j * sw + i];
        }
    }
    return acc;
}

static void test_upsample(void)
{
    static const int sizes[][4] = {{14, 14, 224, 224}, {14, 14, 512, 512},
                                   {5, 3, 7, 11}, {1, 1, 4, 4},
                                   {16, 16, 8, 8}, {3, 4, 3, 4}};
    facet_rng r;

    facet_rng_seed(&r, 61);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int sh = sizes[k][0], sw = sizes[k][1];
        int dh = sizes[k][2], dw = sizes[k][3];
        float *src = malloc((size_t)sh * sw * sizeof *src);
        float *dst = malloc((size_t)dh * dw * sizeof *dst);
        FACET_ASSERT(src && dst);
        check_fill_random(src, (size_t)sh * sw, &r, -3.0f, 5.0f);
        check_fill_nan(dst, (size_t)dh * dw);
        CHECK(face_map_upsample(dst, dh, dw, src, sh, sw) == FACET_OK);
        double worst = 0;
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) {
                double e = dabs(dst[y * dw + x] -
                                ref_sample(src, sh, sw, y, x, dh, dw));
                worst = e > worst ? e : worst;
            }
        // Tolerance: one float rounding of values up to 5 (3e-7).
        CHECKF(worst <= 1e-6, "upsample %dx%d -> %dx%d: error %.3g", sh, sw,
               dh, dw, worst);
        // Same size is the identity.
        if (sh == dh && sw == dw)
            CHECK(memcmp(src, dst, (size_t)dh * dw * sizeof *dst) == 0);
        free(src);
        free(dst);
    }

    // A ramp in x is reproduced away from the border: 14 -> 224, pixel
    // centres map to (x + 0.5) / 16 - 0.5, inside [0, 13] for 8 <= x < 216.
    float src[14 * 14], dst[224 * 224];
    for (int j = 0; j < 14; j++)
        for (int i = 0; i < 14; i++)
            src[j * 14 + i] = (float)(2 * i + 1);
    face_map_upsample(dst, 224, 224, src, 14, 14);
    double worst = 0;
    for (int y = 0; y < 224; y++)
        for (int x = 8; x < 216; x++) {
            double want = 2 * ((x + 0.5) / 16 - 0.5) + 1;
            double e = dabs(dst[y * 224 + x] - want);
            worst = e > worst ? e : worst;
        }
    CHECKF(worst <= 4e-6, "ramp error %.3g", worst);   // float of <= 27
    CHECK(dst[0] == 1.0f && dst[223] == 27.0f);       // clamped borders
}

static void test_normalize_binarize_jaccard(void)
{
    float m[4] = {2, 4, 6, 4};
    CHECK(face_map_normalize(m, 4) == FACET_OK);
    CHECK(m[0] == 0.0f && m[1] == 0.5f && m[2] == 1.0f && m[3] == 0.5f);

    float c[3] = {7, 7, 7};
    CHECK(face_map_normalize(c, 3) == FACET_OK);
    CHECK(c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f);

    float bad[2] = {1, NAN};
    CHECK(face_map_normalize(bad, 2) == FACET_E_ARG);

    // Binarise: >= threshold is in.
    float v[5] = {0.0f, 0.05f, 0.1f, 0.5f, 1.0f};
    uint8_t mk[5];
    memset(mk, 0xA5, sizeof mk);
    CHECK(face_map_binarize(mk, v, 5, 0.1f) == FACET_OK);
    CHECK(mk[0] == 0 && mk[1] == 0 && mk[2] == 1 && mk[3] == 1 &&
          mk[4] == 1);

    // J({0,1,2,3}, {2,3,4}) = 100 * 2 / 5 = 40.
    const uint8_t a[6] = {1, 1, 1, 1, 0, 0}, b[6] = {0, 0, 7, 1, 1, 0};
    const uint8_t z[6] = {0};
    double j = -1;
    CHECK(face_map_jaccard(&j, a, b, 6) == FACET_OK);
    CHECK(j == 40.0);
    CHECK(face_map_jaccard(&j, a, a, 6) == FACET_OK && j == 100.0);
    CHECK(face_map_jaccard(&j, a, z, 6) == FACET_OK && j == 0.0);
    CHECK(face_map_jaccard(&j, z, z, 6) == FACET_OK && j == 100.0);
    CHECK(face_map_jaccard(&j, a, b, 0) == FACET_OK && j == 100.0);
}

// ---------------------------------------------------------------------------
// Eq. 9 ranking, Eqs. 11-12

// n portraits: face features D = 40, hair D = 24. M_ind departs from 1 on
// the first 10 (face) and 6 (hair) entries; portrait 4 is an outlier with
// large values there; portraits 2 and 6 are identical.
#define RK_N 9
#define RK_DF 40
#define RK_DH 24
#define RK_OUT 4

typedef struct rank_toy {
    float mf[RK_DF], mh[RK_DH];
    float ff[RK_N][RK_DF], fh[RK_N][RK_DH];
    const float *pf[RK_N], *ph[RK_N];
    face_feat_set face, hair;
} rank_toy;

static void rank_toy_make(rank_toy *t, facet_rng *r)
{
    for (int i = 0; i < RK_DF; i++)
        t->mf[i] = i < 10 ? 1.5f : 1.0f;
    for (int i = 0; i < RK_DH; i++)
        t->mh[i] = i < 6 ? 0.5f : 1.0f;
    for (int k = 0; k < RK_N; k++) {
        for (int i = 0; i < RK_DF; i++)
            t->ff[k][i] = 1.0f + 0.3f * facet_rng_float(r) +
                          (k == RK_OUT && i < 10 ? 4.0f : 0.0f);
        for (int i = 0; i < RK_DH; i++)
            t->fh[k][i] = 2.0f + 0.5f * facet_rng_float(r) +
                          (k == RK_OUT && i < 6 ? 3.0f : 0.0f);
        t->pf[k] = t->ff[k];
        t->ph[k] = t->fh[k];
    }
    memcpy(t->ff[6], t->ff[2], sizeof t->ff[2]);
    memcpy(t->fh[6], t->fh[2], sizeof t->fh[2]);
    t->face = (face_feat_set){t->mf, 2.0f, t->pf, RK_DF};
    t->hair = (face_feat_set){t->mh, 4.0f, t->ph, RK_DH};
}

static void test_rank(void)
{
    facet_rng r;
    rank_toy t;
    double score[RK_N], tf[RK_N], th[RK_N], nu = -1;
    int order[RK_N];

    facet_rng_seed(&r, 71);
    rank_toy_make(&t, &r);

    // Reference terms in double.
    double rf[RK_N], rh[RK_N];
    for (int k = 0; k < RK_N; k++) {
        double a = 0, b = 0;
        for (int i = 0; i < RK_DF; i++) {
            double v = (t.mf[i] - 1.0) * (t.ff[k][i] / 2.0);
            a += v * v;
        }
        for (int i = 0; i < RK_DH; i++) {
            double v = (t.mh[i] - 1.0) * (t.fh[k][i] / 4.0);
            b += v * v;
        }
        rf[k] = sqrt(a);
        rh[k] = sqrt(b);
    }
    double nu_ref = ref_median(rf, RK_N) / ref_median(rh, RK_N);

    CHECK(face_rank_portraits(score, order, &nu, tf, th, &t.face, &t.hair,
                              RK_N, FACE_NU_AUTO) == FACET_OK);
    // Tolerance: double rounding of sums of <= 40 squares.
    CHECK_NEAR(nu, nu_ref, 1e-12 * nu_ref);
    for (int k = 0; k < RK_N; k++) {
        CHECK_NEAR(tf[k], rf[k], 1e-12);
        CHECK_NEAR(th[k], rh[k], 1e-12);
        CHECK_NEAR(score[k], rf[k] + nu_ref * rh[k], 1e-11);
    }
    CHECK(order[RK_N - 1] == RK_OUT);   // the planted outlier ranks last

    // An even count: the median is the mean of the two middle terms.
    double nu8 = -1;
    CHECK(face_rank_portraits(score, order, &nu8, NULL, NULL, &t.face,
                              &t.hair, RK_N - 1, FACE_NU_AUTO) == FACET_OK);
    double nu8_ref = ref_median(rf, RK_N - 1) / ref_median(rh, RK_N - 1);
    CHECK_NEAR(nu8, nu8_ref, 1e-12 * nu8_ref);
    CHECK(face_rank_portraits(score, order, &nu, tf, th, &t.face, &t.hair,
                              RK_N, FACE_NU_AUTO) == FACET_OK);

    // Ordered by score; equal scores (2 and 6) adjacent, 2 first.
    int sorted = 1, pos2 = -1, pos6 = -1;
    for (int i = 0; i < RK_N; i++) {
        if (i > 0)
            sorted &= score[order[i - 1]] <= score[order[i]];
        pos2 = order[i] == 2 ? i : pos2;
        pos6 = order[i] == 6 ? i : pos6;
    }
    CHECK(sorted);
    CHECK(score[2] == score[6] && pos6 == pos2 + 1);

    // An explicit nu, and face only (hair NULL: nu 0, hair term 0).
    CHECK(face_rank_portraits(score, order, &nu, NULL, NULL, &t.face,
                              &t.hair, RK_N, 2.5) == FACET_OK);
    CHECK(nu == 2.5);
    CHECK_NEAR(score[3], rf[3] + 2.5 * rh[3], 1e-11);
    CHECK(face_rank_portraits(score, order, &nu, NULL, th, &t.face, NULL,
                              RK_N, FACE_NU_AUTO) == FACET_OK);
    CHECK(nu == 0.0 && th[0] == 0.0);
    CHECK_NEAR(score[5], rf[5], 1e-12);
    CHECK(order[RK_N - 1] == RK_OUT);

    // A hair metric of all ones: the hair median is 0, nu cannot be
    // derived, an explicit one is fine.
    float ones[RK_DH];
    for (int i = 0; i < RK_DH; i++)
        ones[i] = 1.0f;
    face_feat_set flat = t.hair;
    flat.m_ind = ones;
    CHECK(face_rank_portraits(score, order, &nu, NULL, NULL, &t.face, &flat,
                              RK_N, FACE_NU_AUTO) == FACET_E_ARG);
    CHECK(face_rank_portraits(score, order, &nu, NULL, NULL, &t.face, &flat,
                              RK_N, 1.0) == FACET_OK);
}

// The identity ranking on a toy set worked out by hand. Descriptors
// (2-D): d0 = (1, 0), d1 = (2, 0), d2 = (4, 0), d3 = (0, 4); normalised
// three point along x and one along y, so dbar = (3/4, 1/4), ||dbar|| =
// sqrt(10) / 4 and
//   face_term = 1 - 3 / sqrt(10) (= a) for 0, 1, 2; 1 - 1 / sqrt(10) (= b)
//   for 3.
// Hair (D = 2, s = 2, M^H_ind = (2, 0): the second value never counts):
// f^H = (2, 100), (4, -7), (6, 0), (4, 0); g = f / 2, gbar_0 = 2, so
//   hair_term = |2 (f_0 / 2 - 2)| = |f_0 - 4| = 2, 0, 2, 0.
// nu = median face / median hair = a / 1 (medians of {a, a, a, b} and
// {0, 0, 2, 2}), score = 3a, a, 3a, b: order 1, 0, 2, 3 (0 and 2 tie
// exactly, the index breaks it) with the y-portrait 3 last although its
// hair is the most typical.
static void test_rank_identity(void)
{
    static const float d[4][2] = {{1, 0}, {2, 0}, {4, 0}, {0, 4}};
    static const float fh[4][2] = {{2, 100}, {4, -7}, {6, 0}, {4, 0}};
    static const float mh[2] = {2, 0};
    const float *pd[4] = {d[0], d[1], d[2], d[3]};
    const float *ph[4] = {fh[0], fh[1], fh[2], fh[3]};
    face_feat_set hair = {mh, 2.0f, ph, 2};
    const double a = 1.0 - 3.0 / sqrt(10.0), b = 1.0 - 1.0 / sqrt(10.0);
    const double th_ref[4] = {2, 0, 2, 0};
    double score[4], tf[4], th[4], nu = -1;
    int order[4];

    CHECKF(face_rank_identity(score, order, &nu, tf, th, pd, 2, &hair, 4,
                              FACE_NU_AUTO) == FACET_OK, "%s",
           facet_error());
    // Tolerance: a few double roundings of numbers near 1.
    CHECK_NEAR(nu, a, 1e-14);
    for (int k = 0; k < 4; k++) {
        CHECK_NEAR(tf[k], k < 3 ? a : b, 1e-14);
        CHECK_NEAR(th[k], th_ref[k], 1e-14);
    }
    CHECK_NEAR(score[0], 3 * a, 1e-14);
    CHECK_NEAR(score[1], a, 1e-14);
    CHECK_NEAR(score[3], b, 1e-14);
    // Scale does not matter to the face term: exact here (powers of 2).
    CHECK(tf[0] == tf[1] && tf[1] == tf[2] && score[0] == score[2]);
    CHECK(order[0] == 1 && order[1] == 0 && order[2] == 2 && order[3] == 3);

    // Face only: nu 0, hair term 0, 3 last, 0 1 2 tied in index order.
    CHECK(face_rank_identity(score, order, &nu, NULL, th, pd, 2, NULL, 4,
                             FACE_NU_AUTO) == FACET_OK);
    CHECK(nu == 0.0 && th[0] == 0.0 && th[2] == 0.0);
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 3);

    // An explicit nu large enough for hair to decide: 1 and 3 (hair 0)
    // first, 3's face term 0.68 against 1's 0.05.
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, pd, 2, &hair, 4,
                             10.0) == FACET_OK);
    CHECK(nu == 10.0 && order[0] == 1 && order[1] == 3);
    CHECK_NEAR(score[0], a + 20.0, 1e-13);

    // Refused: a zero descriptor (named), NULL descriptors, a bad nu.
    static const float zero[2] = {0, 0};
    const float *pz[4] = {d[0], d[1], zero, d[3]};
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, pz, 2, &hair, 4,
                             FACE_NU_AUTO) == FACET_E_ARG &&
          strstr(facet_error(), "portrait 2"));
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, NULL, 2, &hair,
                             4, FACE_NU_AUTO) == FACET_E_ARG);
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, pd, 0, &hair, 4,
                             FACE_NU_AUTO) == FACET_E_ARG);
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, pd, 2, &hair, 4,
                             -3.0) == FACET_E_ARG);
    CHECK(face_rank_identity(score, order, &nu, NULL, NULL, pd, 2, &hair, 0,
                             FACE_NU_AUTO) == FACET_E_ARG);
}

static void test_lookalike(void)
{
    facet_rng r;
    rank_toy t;
    double score[RK_N], l2[RK_N], nu = -1;
    int order[RK_N];

    facet_rng_seed(&r, 81);
    rank_toy_make(&t, &r);
    const float *rep = t.ff[2], *reph = t.fh[2];

    // Reference Eq. 11 terms and Eq. 12.
    double rf[RK_N], rh[RK_N], rl[RK_N];
    for (int k = 0; k < RK_N; k++) {
        double a = 0, b = 0, c = 0;
        for (int i = 0; i < RK_DF; i++) {
            double d = (rep[i] - (double)t.ff[k][i]) / 2.0;
            a += t.mf[i] * d * t.mf[i] * d;
            c += d * d;
        }
        for (int i = 0; i < RK_DH; i++) {
            double d = (reph[i] - (double)t.fh[k][i]) / 4.0;
            b += t.mh[i] * d * t.mh[i] * d;
        }
        rf[k] = sqrt(a);
        rh[k] = sqrt(b);
        rl[k] = sqrt(c);
    }
    double nu_ref = ref_median(rf, RK_N) / ref_median(rh, RK_N);

    CHECK(face_lookalike_scores(score, &nu, &t.face, rep, &t.hair, reph,
                                RK_N, FACE_NU_AUTO) == FACET_OK);
    CHECK_NEAR(nu, nu_ref, 1e-12 * nu_ref);
    for (int k = 0; k < RK_N; k++)
        CHECK_NEAR(score[k], rf[k] + nu_ref * rh[k], 1e-11);
    CHECK(score[2] == 0.0 && score[6] == 0.0);   // the portrait itself
    CHECK(face_rank_order(order, score, RK_N) == FACET_OK);
    CHECK(order[0] == 2 && order[1] == 6);

    CHECK(face_lookalike_scores(score, NULL, &t.face, rep, NULL, NULL, RK_N,
                                0.0) == FACET_OK);
    CHECK_NEAR(score[0], rf[0], 1e-12);

    face_feat_set nom = t.face;
    nom.m_ind = NULL;   // Eq. 12 needs no metric
    CHECK(face_lookalike_l2(l2, &nom, rep, RK_N) == FACET_OK);
    for (int k = 0; k < RK_N; k++)
        CHECK_NEAR(l2[k], rl[k], 1e-12);
}

// Results are bit-identical for 1 and 2 threads on a larger problem.
static void test_rank_threads(void)
{
    enum { N = 12 };
    const size_t D = 512 * 14 * 14;
    facet_rng r;
    float *m = malloc(D * sizeof *m), *f = malloc(N * D * sizeof *f);
    const float *pf[N];
    double s1[N], s2[N], l1[N], l2[N], i1[N], i2[N], nu1, nu2, nu3, nu4;
    int o1[N], o2[N], p1[N], p2[N];

    FACET_ASSERT(m && f);
    facet_rng_seed(&r, 91);
    check_fill_random(m, D, &r, 0.5f, 1.5f);
    check_fill_random(f, N * D, &r, 0.0f, 2.0f);
    for (int k = 0; k < N; k++)
        pf[k] = f + k * D;
    face_feat_set face = {m, 100.0f, pf, D};
    face_feat_set hair = {m, 50.0f, pf, D};

    int saved = facet_threads();
    facet_set_threads(1);
    face_rank_portraits(s1, o1, &nu1, NULL, NULL, &face, &hair, N,
                        FACE_NU_AUTO);
    face_lookalike_scores(l1, NULL, &face, pf[0], &hair, pf[0], N, 1.0);
    CHECK(face_rank_identity(i1, p1, &nu3, NULL, NULL, pf, D, &hair, N,
                             FACE_NU_AUTO) == FACET_OK);
    facet_set_threads(2);
    face_rank_portraits(s2, o2, &nu2, NULL, NULL, &face, &hair, N,
                        FACE_NU_AUTO);
    face_lookalike_scores(l2, NULL, &face, pf[0], &hair, pf[0], N, 1.0);
    CHECK(face_rank_identity(i2, p2, &nu4, NULL, NULL, pf, D, &hair, N,
                             FACE_NU_AUTO) == FACET_OK);
    facet_set_threads(saved);
    CHECK(memcmp(i1, i2, sizeof i1) == 0 && memcmp(p1, p2, sizeof p1) == 0);
    CHECK(nu3 == nu4);
    CHECK(memcmp(s1, s2, sizeof s1) == 0 && memcmp(o1, o2, sizeof o1) == 0);
    CHECK(nu1 == nu2);
    CHECK(memcmp(l1, l2, sizeof l1) == 0);
    free(m);
    free(f);
}

// ---------------------------------------------------------------------------
// Part scores and decisions

static void test_part_scores(void)
{
    // 4 x 4 labels and map 1..16 (row-major):
    //   labels  bg  bg  hair hair      map  1  2  3  4
    //           eye eye brow brow           5  6  7  8
    //           nos nos mou  mou            9 10 11 12
    //           base base base mou         13 14 15 16
    const uint8_t lab[16] = {0, 0, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 1, 1, 1, 6};
    float map[16];
    for (int i = 0; i < 16; i++)
        map[i] = (float)(i + 1);
    face_part_score s;

    CHECK(face_part_scores(&s, map, lab, 4, 4) == FACET_OK);
    CHECK(s.sum[FACE_PART_BACKGROUND] == 3 && s.area[FACE_PART_BACKGROUND]
          == 2);
    CHECK(s.sum[FACE_PART_HAIR] == 7 && s.mean[FACE_PART_HAIR] == 3.5);
    CHECK(s.sum[FACE_PART_EYES] == 11 && s.sum[FACE_PART_BROWS] == 15);
    CHECK(s.sum[FACE_PART_NOSE] == 19);
    CHECK(s.sum[FACE_PART_MOUTH] == 39 && s.area[FACE_PART_MOUTH] == 3 &&
          s.mean[FACE_PART_MOUTH] == 13);
    CHECK(s.sum[FACE_PART_BASE] == 42 && s.area[FACE_PART_BASE] == 3);

    // Hair from a second frame (2 x 3): hair at (0,1), (1,0), (1,2).
    const uint8_t hl[6] = {0, 2, 0, 2, 1, 2};
    const float hm[6] = {9, 0.5f, 9, 0.25f, 9, 2};
    CHECK(face_part_scores_portrait(&s, map, lab, 4, 4, hm, hl, 2, 3) ==
          FACET_OK);
    CHECK(s.sum[FACE_PART_HAIR] == 2.75 && s.area[FACE_PART_HAIR] == 3);
    CHECK(s.sum[FACE_PART_EYES] == 11);       // the rest from the face
    CHECK(s.sum[FACE_PART_BASE] == 42);
    CHECK(face_part_scores_portrait(&s, map, lab, 4, 4, NULL, NULL, 0, 0) ==
          FACET_OK);
    CHECK(s.sum[FACE_PART_HAIR] == 7);

    // An empty part has sum and mean 0.
    const uint8_t all_bg[16] = {0};
    CHECK(face_part_scores(&s, map, all_bg, 4, 4) == FACET_OK);
    CHECK(s.area[FACE_PART_NOSE] == 0 && s.mean[FACE_PART_NOSE] == 0.0);
    CHECK(s.sum[FACE_PART_BACKGROUND] == 136);

    // A label out of range.
    uint8_t badl[16];
    memcpy(badl, lab, 16);
    badl[5] = FACE_PART_COUNT;
    CHECK(face_part_scores(&s, map, badl, 4, 4) == FACET_E_ARG);
}

// Scores for the rule: rep has 5 in every part; n = 4 others.
//   hair:  1 1 1 1  beaten 4           characteristic
//   eyes:  1 2 3 9  beaten 3           characteristic (3 > 4/2)
//   nose:  1 2 9 9  beaten 2           not (2 is not more than half)
//   brows: 1 2 5 9  beaten 2, 1 tie    not (a tie is not beaten)
//   mouth: 1 5 5 9  beaten 1, 2 ties   not (with ties it would be 3)
static void test_part_decide(void)
{
    const double vals[5][4] = {{1, 1, 1, 1}, {1, 2, 3, 9}, {1, 2, 9, 9},
                               {1, 2, 5, 9}, {1, 5, 5, 9}};
    const face_part parts[5] = {FACE_PART_HAIR, FACE_PART_EYES,
                                FACE_PART_NOSE, FACE_PART_BROWS,
                                FACE_PART_MOUTH};
    face_part_score rep, oth[4];
    face_part_decision d[FACE_PART_COUNT];

    memset(&rep, 0, sizeof rep);
    memset(oth, 0, sizeof oth);
    for (int i = 0; i < 5; i++) {
        rep.sum[parts[i]] = 5;
        rep.mean[parts[i]] = 0;   // by the mean, rep loses or ties
        for (int q = 0; q < 4; q++)
            oth[q].sum[parts[i]] = vals[i][q];
    }
    CHECK(face_part_decide(d, &rep, oth, 4, FACE_PART_SUM) == FACET_OK);
    CHECK(d[FACE_PART_HAIR].beaten == 4 && d[FACE_PART_HAIR].characteristic);
    CHECK(d[FACE_PART_EYES].beaten == 3 && d[FACE_PART_EYES].characteristic);
    CHECK(d[FACE_PART_EYES].frac_beaten == 0.75);
    CHECK(d[FACE_PART_NOSE].beaten == 2 && !d[FACE_PART_NOSE].characteristic);
    CHECK(d[FACE_PART_BROWS].beaten == 2 && d[FACE_PART_BROWS].ties == 1 &&
          !d[FACE_PART_BROWS].characteristic);
    CHECK(d[FACE_PART_MOUTH].beaten == 1 && d[FACE_PART_MOUTH].ties == 2 &&
          !d[FACE_PART_MOUTH].characteristic);
    CHECK(d[FACE_PART_EYES].score == 5.0);
    // Background and base: all zero, all ties, none beaten.
    CHECK(d[FACE_PART_BASE].ties == 4 && !d[FACE_PART_BASE].characteristic);
    unsigned mask = face_part_decision_mask(d);
    CHECK(mask == ((1u << FACE_PART_HAIR) | (1u << FACE_PART_EYES)));

    // With n = 3 (drop the last), 2 beaten of 3 is a majority for nose.
    CHECK(face_part_decide(d, &rep, oth, 3, FACE_PART_SUM) == FACET_OK);
    CHECK(d[FACE_PART_NOSE].beaten == 2 && d[FACE_PART_NOSE].characteristic);

    // By the mean statistic (all zero here): nothing is characteristic.
    CHECK(face_part_decide(d, &rep, oth, 4, FACE_PART_MEAN) == FACET_OK);
    CHECK(face_part_decision_mask(d) == 0);

    // The pair selection: parts where A's score is above B's.
    face_part_score a = rep, b = oth[3];   // b: 1, 9, 9, 9, 9
    CHECK(face_part_pair_mask(&a, &b, FACE_PART_SUM) ==
          (1u << FACE_PART_HAIR));
    CHECK(face_part_pair_mask(&b, &a, FACE_PART_SUM) ==
          ((1u << FACE_PART_EYES) | (1u << FACE_PART_NOSE) |
           (1u << FACE_PART_BROWS) | (1u << FACE_PART_MOUTH)));

    // A NaN score is an error, as is an empty P_arb.
    oth[1].sum[FACE_PART_NOSE] = NAN;
    CHECK(face_part_decide(d, &rep, oth, 4, FACE_PART_SUM) == FACET_E_ARG);
    CHECK(face_part_decide(d, &rep, oth, 0, FACE_PART_SUM) == FACET_E_ARG);
}

static void test_sel4(void)
{
    // The bit order: nose 1, mouth 2, eyes 4, eyebrows 8; hair ignored.
    CHECK(face_sel4_index(1u << FACE_PART_NOSE) == 1);
    CHECK(face_sel4_index(1u << FACE_PART_MOUTH) == 2);
    CHECK(face_sel4_index(1u << FACE_PART_EYES) == 4);
    CHECK(face_sel4_index(1u << FACE_PART_BROWS) == 8);
    CHECK(face_sel4_index(1u << FACE_PART_HAIR) == 0);
    CHECK(face_sel4_index(FACE_PART_CHARACTERIZING) == 15);

    // Round trip over all 16 selections; masks are distinct and only use
    // the 4 parts.
    int ok = 1;
    unsigned seen = 0;
    for (int i = 0; i < 16; i++) {
        unsigned m = 0xFFFFFFFFu;
        ok &= face_sel4_mask(&m, i) == FACET_OK;
        ok &= face_sel4_index(m) == i;
        ok &= (m & ~(FACE_PART_CHARACTERIZING & ~(1u << FACE_PART_HAIR)))
              == 0;
        ok &= face_sel4_index(m | (1u << FACE_PART_HAIR)) == i;
        seen |= 1u << face_sel4_index(m);
    }
    CHECK(ok && seen == 0xFFFFu);
    unsigned m;
    CHECK(face_sel4_mask(&m, 16) == FACET_E_ARG);
    CHECK(face_sel4_mask(&m, -1) == FACET_E_ARG);
    CHECK(face_sel4_mask(NULL, 3) == FACET_E_ARG);
}

// ---------------------------------------------------------------------------
// Bad arguments

static void test_bad_args(void)
{
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8}, map[8], big[16];
    const float *rows[1] = {f};
    const float *nullrow[1] = {NULL};
    float nanv[4] = {1, NAN, 1, 1};
    const float *nanrows[1] = {nanv};
    face_cam cam;
    face_cam_opts o;
    double wb[5] = {0}, loss;

    // CAM.
    CHECK(face_cam_pool(NULL, f, 2, 2, 2) == FACET_E_ARG);
    CHECK(face_cam_pool(map, f, 0, 2, 2) == FACET_E_ARG);
    CHECK(face_cam_train(NULL, rows, 1, rows, 1, 4, NULL) == FACET_E_ARG);
    CHECK(face_cam_train(&cam, rows, 0, rows, 1, 4, NULL) == FACET_E_ARG);
    CHECK(cam.a == NULL && cam.z == 0);   // left empty on failure
    CHECK(face_cam_train(&cam, rows, 1, rows, 0, 4, NULL) == FACET_E_ARG);
    CHECK(face_cam_train(&cam, rows, 1, rows, 1, 0, NULL) == FACET_E_ARG);
    CHECK(face_cam_train(&cam, rows, 1, rows, 1, FACE_CAM_MAX_Z + 1, NULL)
          == FACET_E_ARG);
    CHECK(face_cam_train(&cam, nullrow, 1, rows, 1, 4, NULL) == FACET_E_ARG);
    CHECK(face_cam_train(&cam, NULL, 1, rows, 1, 4, NULL) == FACET_E_ARG);
    CHECK(face_cam_train(&cam, nanrows, 1, rows, 1, 4, NULL) ==
          FACET_E_ARG);
    face_cam_opts_init(&o);
    o.mu = -1;
    CHECK(face_cam_train(&cam, rows, 1, rows, 1, 4, &o) == FACET_E_ARG);
    face_cam_opts_init(&o);
    o.tol = 0;
    CHECK(face_cam_train(&cam, rows, 1, rows, 1, 4, &o) == FACET_E_ARG);
    face_cam_opts_init(&o);
    o.max_iter = -1;
    CHECK(face_cam_train(&cam, rows, 1, rows, 1, 4, &o) == FACET_E_ARG);
    const float zero[4] = {0};
    const float *zrows[1] = {zero};
    CHECK(face_cam_train(&cam, zrows, 1, zrows, 1, 4, NULL) == FACET_E_ARG);
    CHECK(face_cam_loss(&loss, NULL, wb, rows, 1, rows, 1, 4, 0.0, NULL) ==
          FACET_E_ARG);
    CHECK(face_cam_loss(NULL, NULL, wb, rows, 1, rows, 1, 4, 1.0, NULL) ==
          FACET_E_ARG);
    CHECK(face_cam_loss(&loss, NULL, wb, NULL, 0, NULL, 0, 4, 1.0, NULL) ==
          FACET_E_ARG);

    // A trained layer, then bad uses of it.
    const float f2[4] = {8, 7, 6, 5};
    const float *rows2[1] = {f2};
    CHECK(face_cam_train(&cam, rows, 1, rows2, 1, 4, NULL) == FACET_OK);
    face_cam_class cls;
    double s[2], acc;
    CHECK(face_cam_map(map, &cam, f, 4, 1, 2, (face_cam_class)2) ==
          FACET_E_ARG);
    CHECK(face_cam_map(map, &cam, f, 3, 1, 2, FACE_CAM_IND) == FACET_E_ARG);
    CHECK(face_cam_map(map, &cam, f, 4, 0, 2, FACE_CAM_IND) == FACET_E_ARG);
    CHECK(face_cam_map(NULL, &cam, f, 4, 1, 2, FACE_CAM_IND) == FACET_E_ARG);
    CHECK(face_cam_predict(NULL, &cam, f) == FACET_E_ARG);
    CHECK(face_cam_scores(s, NULL, &cam, NULL) == FACET_E_ARG);
    CHECK(face_cam_accuracy(&acc, &cam, NULL, 0, NULL, 0) == FACET_E_ARG);
    face_cam_free(&cam);
    CHECK(face_cam_map(map, &cam, f, 4, 1, 2, FACE_CAM_IND) == FACET_E_ARG);
    CHECK(face_cam_predict(&cls, &cam, f) == FACET_E_ARG);
    CHECK(face_cam_scores(s, NULL, NULL, f) == FACET_E_ARG);

    // PCAM and map statistics.
    CHECK(face_pcam_map(map, f, 0.0f, f, 2, 2, 2) == FACET_E_ARG);
    CHECK(face_pcam_map(map, f, NAN, f, 2, 2, 2) == FACET_E_ARG);
    CHECK(face_pcam_map(map, NULL, 1.0f, f, 2, 2, 2) == FACET_E_ARG);
    CHECK(face_pcam_map(map, f, 1.0f, f, 2, 0, 2) == FACET_E_ARG);
    CHECK(face_map_upsample(big, 4, 4, f, 0, 2) == FACET_E_ARG);
    CHECK(face_map_upsample(big, 4, 4, NULL, 2, 2) == FACET_E_ARG);
    CHECK(face_map_upsample(big, -4, 4, f, 2, 2) == FACET_E_ARG);
    CHECK(face_map_normalize(NULL, 3) == FACET_E_ARG);
    CHECK(face_map_normalize(map, 0) == FACET_E_ARG);
    uint8_t mk[4];
    double j;
    CHECK(face_map_binarize(mk, f, 4, NAN) == FACET_E_ARG);
    CHECK(face_map_binarize(NULL, f, 4, 0.1f) == FACET_E_ARG);
    CHECK(face_map_jaccard(&j, mk, NULL, 4) == FACET_E_ARG);
    CHECK(face_map_jaccard(NULL, mk, mk, 4) == FACET_E_ARG);

    // Ranking.
    float m1[4] = {1, 2, 1, 2};
    const float *fs[2] = {f, f + 4}, *fnull[2] = {f, NULL};
    face_feat_set ok = {m1, 1.0f, fs, 4};
    face_feat_set bad = ok;
    double sc[2];
    int ord[2];
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &ok, NULL, 2, 1.0)
          == FACET_OK);
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &ok, NULL, 0, 1.0)
          == FACET_E_ARG);
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &ok, &ok, 2, -2.0)
          == FACET_E_ARG);
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &ok, &ok, 2, NAN)
          == FACET_E_ARG);
    CHECK(face_rank_portraits(NULL, ord, NULL, NULL, NULL, &ok, NULL, 2,
                              1.0) == FACET_E_ARG);
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, NULL, NULL, 2, 1.0)
          == FACET_E_ARG);
    bad.scale = 0;
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &bad, NULL, 2, 1.0)
          == FACET_E_ARG);
    bad = ok;
    bad.f = fnull;
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &ok, &bad, 2, 1.0)
          == FACET_E_ARG);
    bad = ok;
    bad.m_ind = NULL;
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &bad, NULL, 2, 1.0)
          == FACET_E_ARG);
    bad = ok;
    bad.d = 0;
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &bad, NULL, 2, 1.0)
          == FACET_E_ARG);
    const float *fnan[2] = {f, nanv};
    bad = ok;
    bad.f = fnan;
    CHECK(face_rank_portraits(sc, ord, NULL, NULL, NULL, &bad, NULL, 2, 1.0)
          == FACET_E_ARG);
    CHECK(face_lookalike_scores(sc, NULL, &ok, f, &ok, NULL, 2, 1.0) ==
          FACET_E_ARG);
    CHECK(face_lookalike_scores(sc, NULL, &ok, NULL, NULL, NULL, 2, 1.0) ==
          FACET_E_ARG);
    CHECK(face_lookalike_l2(sc, &ok, f, 0) == FACET_E_ARG);
    const double nan_sc[2] = {1, NAN};
    CHECK(face_rank_order(ord, nan_sc, 2) == FACET_E_ARG);
    CHECK(face_rank_order(ord, sc, 0) == FACET_E_ARG);

    // Part scores.
    face_part_score ps;
    face_part_decision d[FACE_PART_COUNT];
    const uint8_t lab[4] = {0, 1, 2, 3};
    CHECK(face_part_scores(&ps, f, lab, 0, 4) == FACET_E_ARG);
    CHECK(face_part_scores(&ps, NULL, lab, 2, 2) == FACET_E_ARG);
    CHECK(face_part_scores_portrait(&ps, f, lab, 2, 2, f, NULL, 2, 2) ==
          FACET_E_ARG);
    CHECK(face_part_scores_portrait(NULL, f, lab, 2, 2, NULL, NULL, 0, 0) ==
          FACET_E_ARG);
    CHECK(face_part_scores(&ps, f, lab, 2, 2) == FACET_OK);
    CHECK(face_part_decide(d, &ps, &ps, 1, (face_part_stat)7) ==
          FACET_E_ARG);
    CHECK(face_part_decide(d, NULL, &ps, 1, FACE_PART_SUM) == FACET_E_ARG);

    // Every failure left a detail message.
    CHECK(facet_error() != NULL && facet_error()[0] != '\0');
}

int main(void)
{
    test_pcam_hand();
    test_pcam_ref();
    test_cam_objective();
    test_cam_train_separable();
    test_cam_train_real_shape();
    test_cam_balance();
    test_upsample();
    test_normalize_binarize_jaccard();
    test_rank();
    test_rank_identity();
    test_lookalike();
    test_rank_threads();
    test_part_scores();
    test_part_decide();
    test_sel4();
    test_bad_args();
    return check_report();
}

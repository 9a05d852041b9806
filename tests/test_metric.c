// test_metric.c - hinge-loss metric learning (face/metric.h): the O(D)
// update against the explicit M - gamma rho M psi psi^T, finite
// differences of the loss, the skip rule, a toy problem with a known
// discriminative block, PCA and mean-difference initialisation, the
// collinearity guard, determinism (seed, 1 vs 2 threads, both engines),
// the convergence log and bad arguments.
//
// The metric code has no per-ISA kernels (plain C for the baseline ISA),
// so there is no ISA loop here; thread counts 1 and 2 are both run.
//
//   test_metric [-v]      the unit tests (~0.1 s on a quiet machine, ~1 s
//                         under SANITIZE=1); -v prints figures, timings
//   test_metric --bench   iterations per second at D = 100352 (1 and 2
//                         threads, both engines); not part of make test
#include "check.h"

#include "../face/metric.h"

static facet_rng rng;

static float *falloc(size_t n)
{
    float *p = facet_alloc((n ? n : 1) * sizeof *p);
    FACET_ASSERT(p);
    return p;
}

static double *dalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    FACET_ASSERT(p);
    return p;
}

// A set of n feature vectors of length D in one block, with a pointer
// table.
typedef struct fset {
    int n, D;
    float *data;
    const float **ptr;
} fset;

static fset fset_make(int n, int D)
{
    fset s = {n, D, falloc((size_t)n * D), malloc((n ? n : 1) *
                                                  sizeof(float *))};
    FACET_ASSERT(s.ptr);
    for (int k = 0; k < n; k++)
        s.ptr[k] = s.data + (size_t)k * D;
    return s;
}

static void fset_free(fset *s)
{
    facet_free(s->data);
    free(s->ptr);
}

static double normal(void)
{
    return facet_rng_normal(&rng);
}

// Reference d^2 in double on scaled features.
static double dist2_ref(const face_metric *m, const float *fi,
                        const float *fj)
{
    double a = 0.0, c = 0.0;

    for (int d = 0; d < m->D; d++) {
        double p = ((double)fi[d] - fj[d]) * m->inv_scale;
        a += (double)m->m_ind[d] * p;
        c += (double)m->m_arb[d] * p;
    }
    return a * a + c * c;
}

static double hinge_ref(const face_metric *m, const float *fi,
                        const float *fj, int rho)
{
    double h = m->r - rho * (m->b - dist2_ref(m, fi, fj));
    return h > 0.0 ? h : 0.0;
}

static int rows_equal(const face_metric *x, const face_metric *y)
{
    size_t bytes = (size_t)x->D * sizeof(float);

    return x->D == y->D && memcmp(x->m_ind, y->m_ind, bytes) == 0 &&
           memcmp(x->m_arb, y->m_arb, bytes) == 0;
}

// ---------------------------------------------------------------------------
// 1. The O(D) update equals the explicit form M - gamma rho M psi psi^T.

static void test_update_explicit(void)
{
    const int D = 50;
    face_metric m;
    face_metric_opts o;
    float *fi = falloc(D), *fj = falloc(D);
    double *m0 = dalloc(2 * D), *pp = dalloc((size_t)D * D);
    double *psi = dalloc(D);

    face_metric_defaults(&o);
    o.gamma_m = 0.03;
    o.gamma_b = 0.01;
    FACET_ASSERT(face_metric_alloc(&m, D) == FACET_OK);
    m.inv_scale = 0.75f;

    for (int trial = 0; trial < 8; trial++) {
        int rho = trial % 2 ? -1 : 1, taken;
        double d2, b_before, err = 0.0;

        check_fill_random(m.m_ind, D, &rng, -1.0f, 1.0f);
        check_fill_random(m.m_arb, D, &rng, -1.0f, 1.0f);
        check_fill_random(fi, D, &rng, -1.0f, 1.0f);
        check_fill_random(fj, D, &rng, -1.0f, 1.0f);
        d2 = dist2_ref(&m, fi, fj);

        // An active pair: the hinge is positive by 1 either way.
        m.r = 0.5;
        m.b = rho > 0 ? d2 - 0.5 : d2 + 0.5;
        m.b0 = 2.0;
        o.b_rule = trial < 4 ? FACE_METRIC_B_MULT : FACE_METRIC_B_ADD;
        for (int d = 0; d < D; d++) {
            m0[d] = m.m_ind[d];
            m0[D + d] = m.m_arb[d];
            psi[d] = ((double)fi[d] - fj[d]) * m.inv_scale;
        }
        b_before = m.b;

        // The explicit D x D product psi psi^T and M (psi psi^T).
        for (int k = 0; k < D; k++)
            for (int l = 0; l < D; l++)
                pp[(size_t)k * D + l] = psi[k] * psi[l];
        taken = face_metric_step(&m, fi, fj, rho, &o);
        CHECK(taken == 1);
        for (int row = 0; row < 2; row++) {
            const float *got = row ? m.m_arb : m.m_ind;
            for (int l = 0; l < D; l++) {
                double mp = 0.0;
                for (int k = 0; k < D; k++)
                    mp += m0[row * D + k] * pp[(size_t)k * D + l];
                double want = m0[row * D + l] - o.gamma_m * rho * mp;
                double e = fabs(got[l] - want);
                err = e > err ? e : err;
            }
        }
        // 1e-6: float M entries of magnitude ~1 carry 6e-8 rounding, and
        // the float-lane dot products a few ulps more.
        CHECKF(err <= 1e-6, "trial %d: |M_step - M_explicit| = %.3g", trial,
               err);

        // Eq. 8 (multiplicative) or the additive subgradient step.
        if (o.b_rule == FACE_METRIC_B_MULT)
            CHECK_NEAR(m.b, b_before + o.gamma_b * rho * b_before,
                       1e-12 * fabs(b_before));
        else
            CHECK_NEAR(m.b, b_before + o.gamma_b * rho * m.b0,
                       1e-12 * fabs(b_before));
    }

    face_metric_free(&m);
    facet_free(fi);
    facet_free(fj);
    free(m0);
    free(pp);
    free(psi);
}

// ---------------------------------------------------------------------------
// 2. Finite differences of Eq. 6's term against the step's gradient.

static void test_gradient_fd(void)
{
    const int D = 12;
    const float h = 1.0f / 64;  // exact on entries in [0.5, 1)
    face_metric m, m1;
    face_metric_opts o;
    float *fi = falloc(D), *fj = falloc(D);

    face_metric_defaults(&o);
    o.gamma_m = 1.0 / 16;
    o.gamma_b = 1.0 / 32;
    FACET_ASSERT(face_metric_alloc(&m, D) == FACET_OK);
    FACET_ASSERT(face_metric_alloc(&m1, D) == FACET_OK);

    for (int trial = 0; trial < 6; trial++) {
        int rho = trial % 2 ? -1 : 1;
        double d2, gerr = 0.0, gmax = 0.0, gb_fd, gb_lib, b_keep;

        check_fill_random(m.m_ind, D, &rng, 0.5f, 1.0f);
        check_fill_random(m.m_arb, D, &rng, 0.5f, 1.0f);
        check_fill_random(fi, D, &rng, 0.0f, 1.0f);
        check_fill_random(fj, D, &rng, 0.0f, 1.0f);
        d2 = dist2_ref(&m, fi, fj);

        // Active with hinge 2 + d2 / 2: no perturbation below reaches the
        // kink (each moves d^2 by far less than 2).
        m.r = 2.0;
        m.b = rho > 0 ? d2 / 2 : 1.5 * d2;
        m.b0 = m.b;
        o.b_rule = trial < 3 ? FACE_METRIC_B_MULT : FACE_METRIC_B_ADD;

        // The step's gradient: M - M' = gamma rho M psi psi^T, which is
        // gamma / 2 times d loss / d M.
        memcpy(m1.m_ind, m.m_ind, D * sizeof(float));
        memcpy(m1.m_arb, m.m_arb, D * sizeof(float));
        m1.b = m.b;
        m1.b0 = m.b0;
        m1.r = m.r;
        CHECK(face_metric_step(&m1, fi, fj, rho, &o) == 1);

        for (int row = 0; row < 2; row++) {
            float *mr = row ? m.m_arb : m.m_ind;
            const float *after = row ? m1.m_arb : m1.m_ind;
            for (int d = 0; d < D; d++) {
                float keep = mr[d];
                double lp, lm, fd, lib;
                mr[d] = keep + h;
                lp = face_metric_hinge(&m, fi, fj, rho);
                mr[d] = keep - h;
                lm = face_metric_hinge(&m, fi, fj, rho);
                mr[d] = keep;
                fd = (lp - lm) / (2.0 * h);
                lib = 2.0 * ((double)keep - after[d]) / o.gamma_m;
                gerr = fmax(gerr, fabs(fd - lib));
                gmax = fmax(gmax, fabs(fd));
            }
        }
        // The loss is quadratic in each entry, so central differences are
        // exact up to rounding: 1e-4 relative covers the float lanes of
        // the loss (1e-7 relative, / 2h) and the float M' (1e-7 / gamma).
        CHECKF(gerr <= 1e-4 * gmax, "trial %d: gradient error %.3g of %.3g",
               trial, gerr, gmax);

        // d loss / d b = -rho; the b step moves along +rho.
        b_keep = m.b;
        m.b = b_keep + 0.25;
        gb_fd = face_metric_hinge(&m, fi, fj, rho);
        m.b = b_keep - 0.25;
        gb_fd = (gb_fd - face_metric_hinge(&m, fi, fj, rho)) / 0.5;
        m.b = b_keep;
        gb_lib = (m1.b - m.b) / (o.gamma_b * (o.b_rule == FACE_METRIC_B_MULT
                                              ? m.b : m.b0));
        // 1e-6: the loss is linear in b; rounding of d^2 only.
        CHECK_NEAR(gb_fd, -rho, 1e-6);
        CHECK_NEAR(gb_lib, -gb_fd, 1e-6);
    }

    face_metric_free(&m);
    face_metric_free(&m1);
    facet_free(fi);
    facet_free(fj);
}

// ---------------------------------------------------------------------------
// 3. The skip rule: rho (b - d^2) > r leaves M and b bit-identical.

static void test_skip_rule(void)
{
    const int D = 300;
    face_metric m, keep;
    face_metric_opts o;
    float *fi = falloc(D), *fj = falloc(D);

    face_metric_defaults(&o);
    FACET_ASSERT(face_metric_alloc(&m, D) == FACET_OK);
    FACET_ASSERT(face_metric_alloc(&keep, D) == FACET_OK);
    check_fill_random(m.m_ind, D, &rng, -1.0f, 1.0f);
    check_fill_random(m.m_arb, D, &rng, -1.0f, 1.0f);
    check_fill_random(fi, D, &rng, 0.0f, 2.0f);
    check_fill_random(fj, D, &rng, 0.0f, 2.0f);
    memcpy(keep.m_ind, m.m_ind, D * sizeof(float));
    memcpy(keep.m_arb, m.m_arb, D * sizeof(float));

    for (int rule = 0; rule < 2; rule++) {
        double d2 = dist2_ref(&m, fi, fj), b;
        o.b_rule = (face_metric_b_rule)rule;
        m.r = 0.1 * d2;
        m.b0 = d2;

        // Satisfied positive: d^2 well below b - r.
        m.b = b = 2.0 * d2;
        CHECK(face_metric_step(&m, fi, fj, 1, &o) == 0);
        CHECK(rows_equal(&m, &keep));
        CHECK(memcmp(&m.b, &b, sizeof b) == 0);

        // Satisfied negative: d^2 well above b + r.
        m.b = b = 0.5 * d2;
        CHECK(face_metric_step(&m, fi, fj, -1, &o) == 0);
        CHECK(rows_equal(&m, &keep));
        CHECK(memcmp(&m.b, &b, sizeof b) == 0);

        // The same pairs with the labels swapped are active.
        CHECK(face_metric_step(&m, fi, fj, 1, &o) == 1);
        CHECK(!rows_equal(&m, &keep));
        memcpy(m.m_ind, keep.m_ind, D * sizeof(float));
        memcpy(m.m_arb, keep.m_arb, D * sizeof(float));
    }

    face_metric_free(&m);
    face_metric_free(&keep);
    facet_free(fi);
    facet_free(fj);
}

// ---------------------------------------------------------------------------
// Eq. 3 and the scaling helpers against the double reference.

static void test_dist2(void)
{
    const int sizes[] = {1, 7, 8, 2047, 2048, 2049, 5000};
    face_metric m;

    for (size_t q = 0; q < sizeof sizes / sizeof sizes[0]; q++) {
        int D = sizes[q];
        float *fi = falloc(D), *fj = falloc(D), *sc = falloc(D);
        double got, want;

        FACET_ASSERT(face_metric_alloc(&m, D) == FACET_OK);
        m.inv_scale = 0.3f;
        check_fill_random(m.m_ind, D, &rng, -1.0f, 1.0f);
        check_fill_random(m.m_arb, D, &rng, -1.0f, 1.0f);
        check_fill_random(fi, D, &rng, 0.0f, 3.0f);
        check_fill_random(fj, D, &rng, 0.0f, 3.0f);
        got = face_metric_dist2(&m, fi, fj);
        want = dist2_ref(&m, fi, fj);
        // Float lanes over chunks of 2048 products: a and c carry
        // ~sqrt(D) ulps of sum |M psi|; 1e-5 of that bound is ample.
        double bound = 0.0;
        for (int d = 0; d < D; d++)
            bound += fabs(m.m_ind[d]) * fabs((double)fi[d] - fj[d]) * 0.3;
        CHECKF(fabs(got - want) <= 1e-5 * (bound * bound + 1e-30),
               "D %d: dist2 %.9g, want %.9g", D, got, want);

        // face_metric_scale multiplies by inv_scale exactly (in place too).
        check_fill_nan(sc, D);
        face_metric_scale(&m, sc, fi);
        int exact = 1;
        for (int d = 0; d < D; d++)
            exact &= sc[d] == fi[d] * 0.3f;
        CHECK(exact);
        memcpy(sc, fi, D * sizeof(float));
        face_metric_scale(&m, sc, sc);
        exact = 1;
        for (int d = 0; d < D; d++)
            exact &= sc[d] == fi[d] * 0.3f;
        CHECK(exact);

        // The hinge of Eq. 6.
        m.b = want;
        m.r = 0.2 * want;
        CHECK_NEAR(face_metric_hinge(&m, fi, fj, 1), hinge_ref(&m, fi, fj, 1),
                   1e-5 * (bound * bound + 1e-30));
        CHECK_NEAR(face_metric_hinge(&m, fi, fj, -1),
                   hinge_ref(&m, fi, fj, -1), 1e-5 * (bound * bound + 1e-30));

        face_metric_free(&m);
        facet_free(fi);
        facet_free(fj);
        facet_free(sc);
    }
}

// ---------------------------------------------------------------------------
// 4. Toy recovery: the classes differ only in coordinates 0..9.

#define TOY_D 200
#define TOY_BLOCK 10

// ind: noise + an alternating +-mu pattern on the block (invisible to the
// all-ones direction of the ONES init); arb: noise only.
static void toy_fill(fset *s, int ind, double mu, double sigma)
{
    for (int k = 0; k < s->n; k++) {
        float *f = s->data + (size_t)k * s->D;
        for (int d = 0; d < s->D; d++) {
            double v = 1.0 + sigma * normal();
            if (ind && d < TOY_BLOCK)
                v += d % 2 ? -mu : mu;
            f[d] = (float)v;
        }
    }
}

// Balanced violation rate on held-out pairs: mean of the positive-pair and
// negative-pair rates, as the rho = +-1 draw weighs them.
static double heldout_violations(const face_metric *m, const fset *hi,
                                 const fset *ha)
{
    long pos = 0, npos = 0, neg = 0, nneg = 0;

    for (int i = 0; i < hi->n; i++)
        for (int j = i + 1; j < hi->n; j++, npos += 2) {
            pos += hinge_ref(m, hi->ptr[i], hi->ptr[j], 1) > 0.0;
            pos += hinge_ref(m, ha->ptr[i], ha->ptr[j], 1) > 0.0;
        }
    for (int i = 0; i < hi->n; i++)
        for (int j = 0; j < ha->n; j++, nneg++)
            neg += hinge_ref(m, hi->ptr[i], ha->ptr[j], -1) > 0.0;
    return 0.5 * ((double)pos / npos + (double)neg / nneg);
}

static int verbose;

static void test_toy_recovery(face_metric_engine engine)
{
    const int ntr = 150, nho = 50;
    fset ti = fset_make(ntr, TOY_D), ta = fset_make(ntr, TOY_D);
    fset hi = fset_make(nho, TOY_D), ha = fset_make(nho, TOY_D);
    face_metric m, m0;
    face_metric_opts o;
    double change[TOY_D], viol;
    int in_block = 0;

    facet_rng_seed(&rng, 77);
    toy_fill(&ti, 1, 1.0, 0.1);
    toy_fill(&ta, 0, 1.0, 0.1);
    toy_fill(&hi, 1, 1.0, 0.1);
    toy_fill(&ha, 0, 1.0, 0.1);

    // The initial M (max_iter 0) and the trained one, same seed.
    face_metric_defaults(&o);
    o.engine = engine;
    o.max_iter = 0;
    CHECK(face_metric_learn(&m0, ti.ptr, ntr, ta.ptr, ntr, TOY_D, &o) ==
          FACET_OK);
    o.max_iter = 50000;
    o.check_every = 5000;
    CHECK(face_metric_learn(&m, ti.ptr, ntr, ta.ptr, ntr, TOY_D, &o) ==
          FACET_OK);

    // The ten largest changes of |M_ind| + |M_arb| lie in the block.
    for (int d = 0; d < TOY_D; d++)
        change[d] = fabs(fabs(m.m_ind[d]) - fabs(m0.m_ind[d])) +
                    fabs(fabs(m.m_arb[d]) - fabs(m0.m_arb[d]));
    for (int q = 0; q < TOY_BLOCK; q++) {
        int best = 0;
        for (int d = 1; d < TOY_D; d++)
            if (change[d] > change[best])
                best = d;
        in_block += best < TOY_BLOCK;
        change[best] = -1.0;
    }
    CHECKF(in_block == TOY_BLOCK, "engine %d: %d of the 10 largest changes "
           "in the block", (int)engine, in_block);

    // Training and held-out violations.
    viol = heldout_violations(&m, &hi, &ha);
    CHECKF(viol < 0.10, "engine %d: held-out violation rate %.3f", (int)engine,
           viol);
    CHECKF(m.violation_final < 0.10 && m.violation_init > 0.3,
           "engine %d: subset violations %.3f -> %.3f", (int)engine,
           m.violation_init, m.violation_final);
    if (verbose)
        printf("toy engine %d: %ld iterations (%ld updates, %s), violations "
               "%.3f -> %.3f, held-out %.3f, corr %.3f, b0 %.4g b %.4g\n",
               (int)engine, m.iterations, m.updates,
               face_metric_stop_name(m.stop), m.violation_init,
               m.violation_final, viol, m.log[m.log_len - 1].corr, m.b0, m.b);

    face_metric_free(&m);
    face_metric_free(&m0);
    fset_free(&ti);
    fset_free(&ta);
    fset_free(&hi);
    fset_free(&ha);
}

// ---------------------------------------------------------------------------
// 5. Determinism: seed, thread count, engines.

// ReLU-like features; P_ind has `shift` added on every seventh entry.
static void random_sets(fset *si, fset *sa, double shift)
{
    for (int k = 0; k < si->n; k++)
        for (int d = 0; d < si->D; d++) {
            double v = normal() + (d % 7 == 0 ? shift : 0.0);
            si->data[(size_t)k * si->D + d] = (float)(v > 0 ? v : 0);
        }
    for (int k = 0; k < sa->n; k++)
        for (int d = 0; d < sa->D; d++) {
            double v = normal();
            sa->data[(size_t)k * sa->D + d] = (float)(v > 0 ? v : 0);
        }
}

static void test_determinism(void)
{
    // Five chunks of 2048 and a tail, N D above the one-thread cut-off.
    const int D = 5 * 2048 + 811, n = 12;
    fset si = fset_make(n, D), sa = fset_make(n, D);
    face_metric_opts o;
    face_metric a, b, c;
    int threads = facet_threads();

    facet_rng_seed(&rng, 5);
    random_sets(&si, &sa, 0.0);
    face_metric_defaults(&o);
    o.max_iter = 400;  // the primal engine syncs threads every iteration
    o.check_every = 100;
    o.subset_pairs = 500;
    o.margin_kappa = 0.9;  // a wide margin keeps many pairs active

    for (int e = 0; e < FACE_METRIC_ENGINE_COUNT; e++) {
        o.engine = (face_metric_engine)e;
        o.seed = 11;

        // Same seed twice on 1 thread; then 2 threads.
        facet_set_threads(1);
        CHECK(face_metric_learn(&a, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        CHECK(face_metric_learn(&b, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        facet_set_threads(2);
        CHECK(face_metric_learn(&c, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        CHECKF(rows_equal(&a, &b) && a.b == b.b, "engine %d: same seed", e);
        CHECKF(rows_equal(&a, &c) && a.b == c.b && a.updates == c.updates &&
               a.log_len == c.log_len, "engine %d: 1 vs 2 threads", e);
        CHECK(a.updates > 100);
        if (verbose)
            printf("determinism engine %d: %ld updates, b %.4g -> %.4g\n", e,
                   a.updates, a.b0, a.b);
        for (int q = 0; q < a.log_len && q < c.log_len; q++)
            CHECK(memcmp(&a.log[q], &c.log[q], sizeof a.log[q]) == 0);
        face_metric_free(&b);
        face_metric_free(&c);

        // Another seed gives another M.
        o.seed = 12;
        CHECK(face_metric_learn(&b, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        CHECK(!rows_equal(&a, &b));
        face_metric_free(&a);
        face_metric_free(&b);
    }
    facet_set_threads(threads);
    fset_free(&si);
    fset_free(&sa);
}

// The two engines draw the same pairs and apply the same updates; over a
// short run they take the same decisions and agree to rounding.
static void test_engines_agree(void)
{
    const int D = 2500, n = 15;
    fset si = fset_make(n, D), sa = fset_make(n, D);
    face_metric_opts o;
    face_metric g, p;
    double err = 0.0, mx = 0.0;

    facet_rng_seed(&rng, 9);
    random_sets(&si, &sa, 0.0);
    face_metric_defaults(&o);
    o.max_iter = 400;
    o.check_every = 100;
    o.subset_pairs = 300;
    o.margin_kappa = 0.9;
    o.engine = FACE_METRIC_ENGINE_GRAM;
    CHECK(face_metric_learn(&g, si.ptr, n, sa.ptr, n, D, &o) == FACET_OK);
    o.engine = FACE_METRIC_ENGINE_PRIMAL;
    CHECK(face_metric_learn(&p, si.ptr, n, sa.ptr, n, D, &o) == FACET_OK);

    CHECK(g.updates == p.updates && g.updates > 50);
    CHECK(g.iterations == p.iterations);
    for (int d = 0; d < D; d++) {
        err = fmax(err, fabs(g.m_ind[d] - p.m_ind[d]));
        err = fmax(err, fabs(g.m_arb[d] - p.m_arb[d]));
        mx = fmax(mx, fabs(g.m_ind[d]));
    }
    if (verbose)
        printf("engines: %ld / %ld updates, |M_gram - M_primal| %.3g of "
               "%.3g\n", g.updates, p.updates, err, mx);
    // 2e-5 of max |M| (2e-6 measured): the primal engine rounds M to
    // float at each of a few hundred updates, the Gram engine once.
    CHECKF(err <= 2e-5 * mx, "engines differ by %.3g (max |M| %.3g)", err,
           mx);
    CHECK_NEAR(g.b, p.b, 1e-6 * fabs(g.b));
    CHECK_NEAR(g.b0, p.b0, 1e-12 * g.b0);
    for (int q = 0; q < g.log_len && q < p.log_len; q++)
        CHECK_NEAR(g.log[q].corr, p.log[q].corr, 1e-5);

    face_metric_free(&g);
    face_metric_free(&p);
    fset_free(&si);
    fset_free(&sa);
}

// ---------------------------------------------------------------------------
// 6. Collinearity guard: rows that start as M_arb = -M_ind stay so.

static void test_collinear(void)
{
    const int D = 700, n = 20;
    fset si = fset_make(n, D), sa = fset_make(n, D);
    float *rows = falloc(2 * (size_t)D);
    face_metric_opts o;

    facet_rng_seed(&rng, 13);
    random_sets(&si, &sa, 0.0);
    for (int d = 0; d < D; d++) {
        rows[d] = (float)(1.0 + 0.3 * normal());
        rows[D + d] = -rows[d];
    }
    face_metric_defaults(&o);
    o.init = FACE_METRIC_INIT_GIVEN;
    o.init_rows = rows;
    o.max_iter = 5000;
    o.check_every = 1000;
    o.subset_pairs = 500;
    o.margin_kappa = 0.9;

    for (int e = 0; e < FACE_METRIC_ENGINE_COUNT; e++) {
        face_metric m;
        int same = 1;

        o.engine = (face_metric_engine)e;
        CHECK(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        CHECK(m.updates > 100);
        // Both rows move along psi by a and c = -a: exactly opposite.
        for (int d = 0; d < D; d++)
            same &= m.m_arb[d] == -m.m_ind[d];
        CHECKF(same, "engine %d: rows no longer opposite", e);
        CHECK(memcmp(m.m_ind, rows, D * sizeof(float)) != 0);
        for (int q = 0; q < m.log_len; q++)
            CHECK_NEAR(m.log[q].corr, -1.0, 1e-9);
        face_metric_free(&m);
    }
    facet_free(rows);
    fset_free(&si);
    fset_free(&sa);
}

// ---------------------------------------------------------------------------
// PCA and mean-difference initialisation: whitened projections.

// Sample variances of the two rows' projections of the scaled training
// features, and their covariance.
static void projection_moments(const face_metric *m, const fset *si,
                               const fset *sa, double *vi, double *va,
                               double *cov)
{
    int N = si->n + sa->n;
    double *pi = dalloc(N), *pa = dalloc(N), mi = 0, ma = 0;

    for (int k = 0; k < N; k++) {
        const float *f = k < si->n ? si->ptr[k] : sa->ptr[k - si->n];
        double x = 0.0, y = 0.0;
        for (int d = 0; d < m->D; d++) {
            x += (double)m->m_ind[d] * f[d] * m->inv_scale;
            y += (double)m->m_arb[d] * f[d] * m->inv_scale;
        }
        pi[k] = x;
        pa[k] = y;
        mi += x / N;
        ma += y / N;
    }
    *vi = *va = *cov = 0.0;
    for (int k = 0; k < N; k++) {
        *vi += (pi[k] - mi) * (pi[k] - mi) / (N - 1);
        *va += (pa[k] - ma) * (pa[k] - ma) / (N - 1);
        *cov += (pi[k] - mi) * (pa[k] - ma) / (N - 1);
    }
    free(pi);
    free(pa);
}

static void test_whitened_inits(void)
{
    const int D = 3000, n = 25;
    fset si = fset_make(n, D), sa = fset_make(n, D);
    face_metric_opts o;
    face_metric m;
    double vi, va, cov, dot = 0.0, ni = 0.0, na = 0.0;

    facet_rng_seed(&rng, 17);
    random_sets(&si, &sa, 0.8);
    face_metric_defaults(&o);
    o.max_iter = 0;

    // PCA: unit variance along each row, uncorrelated projections.
    o.init = FACE_METRIC_INIT_PCA;
    for (int e = 0; e < FACE_METRIC_ENGINE_COUNT; e++) {
        o.engine = (face_metric_engine)e;
        CHECK(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o) ==
              FACET_OK);
        projection_moments(&m, &si, &sa, &vi, &va, &cov);
        // 1e-5: rows rounded to float (6e-8 relative per entry) and
        // projections summed over 3000 entries.
        CHECK_NEAR(vi, 1.0, 1e-5);
        CHECK_NEAR(va, 1.0, 1e-5);
        CHECK_NEAR(cov, 0.0, 1e-5);
        CHECK(m.iterations == 0 && m.log_len == 1);
        face_metric_free(&m);
    }

    // Mean difference: unit variance, rows orthogonal, M_ind along the
    // class-mean difference.
    o.init = FACE_METRIC_INIT_MEANDIFF;
    o.engine = FACE_METRIC_ENGINE_GRAM;
    CHECK(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o) == FACET_OK);
    projection_moments(&m, &si, &sa, &vi, &va, &cov);
    CHECK_NEAR(vi, 1.0, 1e-5);
    CHECK_NEAR(va, 1.0, 1e-5);
    for (int d = 0; d < D; d++) {
        dot += (double)m.m_ind[d] * m.m_arb[d];
        ni += (double)m.m_ind[d] * m.m_ind[d];
        na += (double)m.m_arb[d] * m.m_arb[d];
    }
    // 1e-6: Gram-Schmidt in double, rounded to float.
    CHECK(fabs(dot) <= 1e-6 * sqrt(ni * na));
    double cm = 0.0, nm = 0.0;
    for (int d = 0; d < D; d++) {
        double diff = 0.0;
        for (int k = 0; k < n; k++)
            diff += si.ptr[k][d] / (double)n - sa.ptr[k][d] / (double)n;
        cm += diff * m.m_ind[d];
        nm += diff * diff;
    }
    // Cosine 1 to 1e-6 (float rounding of the row).
    CHECK_NEAR(cm / sqrt(nm * ni), 1.0, 1e-6);
    face_metric_free(&m);

    fset_free(&si);
    fset_free(&sa);
}

// ---------------------------------------------------------------------------
// b0, the log, the progress callback, stopping.

typedef struct progress_rec {
    int calls;
    long last_iter;
    int monotone;
} progress_rec;

static void on_progress(void *user, long iter, double viol, double hinge)
{
    progress_rec *p = user;

    p->monotone &= iter > p->last_iter && viol >= 0.0 && viol <= 1.0 &&
                   hinge >= 0.0;
    p->last_iter = iter;
    p->calls++;
}

static void test_log_and_b0(void)
{
    const int D = 400, ni = 10, na = 14;
    fset si = fset_make(ni, D), sa = fset_make(na, D);
    face_metric_opts o;
    face_metric m;
    progress_rec pr = {0, -1, 1};
    double sum = 0.0, norms = 0.0;
    int N = ni + na, pairs = 0;

    facet_rng_seed(&rng, 21);
    random_sets(&si, &sa, 0.8);
    face_metric_defaults(&o);

    // Iteration 0 only: b0 is the mean d^2 over all pairs, r = kappa b0,
    // s_f the mean feature norm.
    o.max_iter = 0;
    CHECK(face_metric_learn(&m, si.ptr, ni, sa.ptr, na, D, &o) == FACET_OK);
    for (int i = 0; i < N; i++) {
        const float *fi = i < ni ? si.ptr[i] : sa.ptr[i - ni];
        double q = 0.0;
        for (int d = 0; d < D; d++)
            q += (double)fi[d] * fi[d];
        norms += sqrt(q);
        for (int j = i + 1; j < N; j++, pairs++)
            sum += dist2_ref(&m, fi, j < ni ? si.ptr[j] : sa.ptr[j - ni]);
    }
    // 1e-9: both sum in double over the same pairs.
    CHECK_NEAR(m.scale, norms / N, 1e-9 * m.scale);
    CHECK(m.inv_scale == (float)(1.0 / m.scale));
    CHECK_NEAR(m.b0, sum / pairs, 1e-9 * m.b0);
    CHECK(m.b == m.b0);
    CHECK_NEAR(m.r, o.margin_kappa * m.b0, 1e-15 * m.b0);
    CHECK(m.stop == FACE_METRIC_STOP_MAX_ITER);
    face_metric_free(&m);

    // A run that converges: the log, the callback, the stop reason.
    o.max_iter = 400000;
    o.check_every = 2000;
    o.patience = 3;
    o.subset_pairs = 800;
    o.progress = on_progress;
    o.progress_user = &pr;
    CHECK(face_metric_learn(&m, si.ptr, ni, sa.ptr, na, D, &o) == FACET_OK);
    CHECK(m.stop == FACE_METRIC_STOP_CONVERGED);
    CHECK(m.iterations < o.max_iter && m.iterations % o.check_every == 0);
    CHECK(m.log_len == m.iterations / o.check_every + 1);
    CHECK(pr.calls == m.log_len && pr.monotone);
    CHECK(m.log[0].iter == 0 && m.log[m.log_len - 1].iter == m.iterations);
    CHECK(m.violation_init == m.log[0].violation_rate);
    CHECK(m.violation_final == m.log[m.log_len - 1].violation_rate);
    CHECK(m.violation_final < m.violation_init);
    CHECK(m.updates > 0 && m.updates <= m.iterations);

    // The last `patience` checkpoints did not beat the best before them.
    double best = 1.0;
    for (int q = 0; q < m.log_len - o.patience; q++)
        best = fmin(best, m.log[q].violation_rate);
    for (int q = m.log_len - o.patience; q < m.log_len; q++)
        CHECK(m.log[q].violation_rate >= best);

    // The Gram engine's correlation (expanded through G) equals that of
    // the rows it returns: 1e-5 for the float rounding of M.
    double mi = 0, ma = 0, sii = 0, saa = 0, sia = 0;
    for (int d = 0; d < D; d++) {
        mi += m.m_ind[d] / D;
        ma += m.m_arb[d] / D;
    }
    for (int d = 0; d < D; d++) {
        sii += (m.m_ind[d] - mi) * (m.m_ind[d] - mi);
        saa += (m.m_arb[d] - ma) * (m.m_arb[d] - ma);
        sia += (m.m_ind[d] - mi) * (m.m_arb[d] - ma);
    }
    CHECK_NEAR(m.log[m.log_len - 1].corr, sia / sqrt(sii * saa), 1e-5);
    CHECK_NEAR(m.log[m.log_len - 1].b, m.b, 0.0);
    if (verbose)
        printf("log run: %ld iterations, %ld updates, violations %.3f -> "
               "%.3f, corr %.3f\n", m.iterations, m.updates,
               m.violation_init, m.violation_final,
               m.log[m.log_len - 1].corr);
    face_metric_free(&m);

    CHECK(strcmp(face_metric_init_name(FACE_METRIC_INIT_PCA), "pca") == 0);
    CHECK(face_metric_init_name(FACE_METRIC_INIT_COUNT) == NULL);
    CHECK(strcmp(face_metric_stop_name(FACE_METRIC_STOP_CONVERGED),
                 "converged") == 0);
    fset_free(&si);
    fset_free(&sa);
}

// ---------------------------------------------------------------------------
// Bad arguments: FACET_E_ARG (or TOO_LARGE) and a zeroed result.

static int zeroed(const face_metric *m)
{
    return m->D == 0 && !m->m_ind && !m->m_arb && !m->log && m->log_len == 0;
}

static void expect_fail(facet_status want, const float *const *fi, int ni,
                        const float *const *fa, int na, int D,
                        const face_metric_opts *o, const char *what)
{
    face_metric m;
    facet_status st;

    memset(&m, 0xA5, sizeof m);
    st = face_metric_learn(&m, fi, ni, fa, na, D, o);
    CHECKF(st == want && zeroed(&m) && facet_error()[0],
           "%s: status %s (%s)", what, facet_status_str(st), facet_error());
}

static void test_bad_args(void)
{
    const int D = 50, n = 4;
    fset si = fset_make(n, D), sa = fset_make(n, D), zi = fset_make(n, D);
    const float *holes[4];
    face_metric_opts o, bad;
    face_metric m;

    facet_rng_seed(&rng, 3);
    random_sets(&si, &sa, 0.8);
    memset(zi.data, 0, (size_t)n * D * sizeof(float));
    face_metric_defaults(&o);
    o.max_iter = 100;

    CHECK(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o) == FACET_OK);
    face_metric_free(&m);
    face_metric_free(&m);  // freeing a zeroed metric is harmless
    face_metric_free(NULL);
    CHECK(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, NULL) == FACET_OK);
    face_metric_free(&m);

    expect_fail(FACET_E_ARG, si.ptr, 1, sa.ptr, n, D, &o, "n_ind 1");
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, 1, D, &o, "n_arb 1");
    expect_fail(FACET_E_ARG, si.ptr, 0, sa.ptr, n, D, &o, "n_ind 0");
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, 0, &o, "D 0");
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, -3, &o, "D < 0");
    expect_fail(FACET_E_ARG, NULL, n, sa.ptr, n, D, &o, "NULL list");
    expect_fail(FACET_E_TOO_LARGE, si.ptr, FACE_METRIC_MAX_N, sa.ptr, n, D,
                &o, "too many");
    CHECK(face_metric_learn(NULL, si.ptr, n, sa.ptr, n, D, &o) ==
          FACET_E_ARG);

    // Non-finite values anywhere, a NULL feature, all-zero features.
    si.data[2 * D + 17] = NAN;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &o, "NaN");
    si.data[2 * D + 17] = INFINITY;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &o, "Inf");
    si.data[2 * D + 17] = 0.5f;
    sa.data[3 * D + 49] = -INFINITY;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &o, "-Inf in arb");
    sa.data[3 * D + 49] = 0.5f;
    memcpy(holes, si.ptr, sizeof holes);
    holes[2] = NULL;
    expect_fail(FACET_E_ARG, holes, n, sa.ptr, n, D, &o, "NULL feature");
    expect_fail(FACET_E_ARG, zi.ptr, n, zi.ptr, n, D, &o, "all zero");
    // Identical features: every pair at distance 0, b0 = 0.
    {
        const float *same[2] = {si.ptr[0], si.ptr[0]};
        expect_fail(FACET_E_ARG, same, 2, same, 2, D, &o, "one feature");
    }

    // Options out of range.
    bad = o;
    bad.gamma_m = 0.0;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "gamma_m 0");
    bad = o;
    bad.gamma_m = NAN;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "gamma_m NaN");
    bad = o;
    bad.gamma_b = 1.0;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "gamma_b 1");
    bad = o;
    bad.check_every = 0;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "check_every");
    bad = o;
    bad.patience = 0;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "patience");
    bad = o;
    bad.subset_pairs = 0;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "subset");
    bad = o;
    bad.max_iter = -1;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "max_iter");
    bad = o;
    bad.margin_kappa = -0.1;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "kappa");
    bad = o;
    bad.init_eps = INFINITY;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "init_eps");
    bad = o;
    bad.init = FACE_METRIC_INIT_COUNT;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "init");
    bad = o;
    bad.engine = FACE_METRIC_ENGINE_COUNT;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "engine");
    bad = o;
    bad.b_rule = FACE_METRIC_B_COUNT;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "b_rule");
    bad = o;
    bad.init = FACE_METRIC_INIT_GIVEN;
    expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad, "no init_rows");
    {
        float *rows = falloc(2 * D);
        for (int d = 0; d < 2 * D; d++)
            rows[d] = 1.0f;
        rows[D + 3] = NAN;
        bad.init_rows = rows;
        expect_fail(FACET_E_ARG, si.ptr, n, sa.ptr, n, D, &bad,
                    "NaN init_rows");
        facet_free(rows);
    }
    bad = o;
    bad.init = FACE_METRIC_INIT_PCA;
    expect_fail(FACET_E_ARG, si.ptr, 2, si.ptr, 2, D, &bad, "PCA rank 1");

    CHECK(face_metric_alloc(&m, 0) == FACET_E_ARG && zeroed(&m));
    CHECK(face_metric_alloc(NULL, 5) == FACET_E_ARG);

    fset_free(&si);
    fset_free(&sa);
    fset_free(&zi);
}

// ---------------------------------------------------------------------------
// --bench: iterations per second at the face feature size.

// Times of the progress calls: the first follows the setup, the last the
// final segment.
typedef struct bench_clock {
    double first, last;
} bench_clock;

static void bench_tick(void *user, long iter, double viol, double hinge)
{
    bench_clock *c = user;

    if (iter == 0)
        c->first = facet_now();
    c->last = facet_now();
}

static void bench(void)
{
    const int D = 512 * 14 * 14, n = 100;
    fset si = fset_make(n, D), sa = fset_make(n, D);
    face_metric_opts o;
    bench_clock clk;
    int threads = facet_threads();

    // Weakly separated sets, so that many pairs stay active.
    facet_rng_seed(&rng, 1);
    random_sets(&si, &sa, 0.1);
    printf("bench: D = %d, %d + %d portraits, %d threads available\n", D, n,
           n, threads);

    // Each engine at its defaults, then the primal engine with a margin so
    // wide (kappa 0.9) that most pairs are active: dot products and axpys
    // in nearly every iteration.
    for (int run = 0; run < 3; run++) {
        for (int t = 1; t <= 2; t++) {
            face_metric m;
            double t0, t1;

            face_metric_defaults(&o);
            o.engine = run == 0 ? FACE_METRIC_ENGINE_GRAM
                                : FACE_METRIC_ENGINE_PRIMAL;
            o.max_iter = run == 0 ? 1000000 : 3000;
            if (run == 2)
                o.margin_kappa = 0.9;
            o.check_every = o.max_iter;
            o.progress = bench_tick;
            o.progress_user = &clk;
            facet_set_threads(t);
            t0 = facet_now();
            FACET_ASSERT(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o)
                         == FACET_OK);
            t1 = facet_now();
            printf("%-6s engine, kappa %.1f, %d thread(s): setup %.3f s, "
                   "%ld iterations (%ld updates) %.3f s = %.0f it/s, final "
                   "%.3f s\n", run == 0 ? "gram" : "primal", o.margin_kappa,
                   t, clk.first - t0, m.iterations, m.updates,
                   clk.last - clk.first,
                   m.iterations / (clk.last - clk.first), t1 - clk.last);
            face_metric_free(&m);
        }
    }

    // The defaults, to convergence.
    for (int t = 1; t <= 2; t++) {
        face_metric m;
        double t0;

        face_metric_defaults(&o);
        facet_set_threads(t);
        t0 = facet_now();
        FACET_ASSERT(face_metric_learn(&m, si.ptr, n, sa.ptr, n, D, &o) ==
                     FACET_OK);
        printf("defaults, %d thread(s): %.3f s, %ld iterations, %ld "
               "updates, %s, violations %.3f -> %.3f, corr %.3f\n", t,
               facet_now() - t0, m.iterations, m.updates,
               face_metric_stop_name(m.stop), m.violation_init,
               m.violation_final, m.log[m.log_len - 1].corr);
        face_metric_free(&m);
    }
    facet_set_threads(threads);
    fset_free(&si);
    fset_free(&sa);
}

// Run one test; with -v, say how long it took.
#define RUN(call)                                                         \
    do {                                                                  \
        double t0_ = facet_now();                                         \
        call;                                                             \
        if (verbose)                                                      \
            printf("%-48s %.3f s\n", #call, facet_now() - t0_);           \
    } while (0)

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0) {
            bench();
            return 0;
        }
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
    }

    facet_rng_seed(&rng, 2024);
    RUN(test_update_explicit());
    RUN(test_gradient_fd());
    RUN(test_skip_rule());
    RUN(test_dist2());
    RUN(test_toy_recovery(FACE_METRIC_ENGINE_GRAM));
    RUN(test_toy_recovery(FACE_METRIC_ENGINE_PRIMAL));
    RUN(test_determinism());
    RUN(test_engines_agree());
    RUN(test_collinear());
    RUN(test_whitened_inits());
    RUN(test_log_and_b0());
    RUN(test_bad_args());
    return check_report();
}

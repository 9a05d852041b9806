// metric.c - hinge-loss metric learning of the polarizing metric M (2 x D)
// and threshold b from two sets of feature maps (face/metric.h).
//
// Pipeline position: after features.c, before pcam.c; run once for the face
// metric M and once for the hair metric M_H.
//
// The learner, per method-spec 4.2-4.4:
//   1. s_f = mean_k |f^k|; every feature is used as f * inv_scale.
//   2. M0 from the chosen initialisation; projections P_c[k] = M0_c . f^k.
//   3. b0 = mean d^2 over all unordered training pairs, b = b0, r = kappa b0.
//   4. SGD (Eqs. 7-8): draw rho = +-1, then a pair of that kind; a, c, d^2;
//      skip if rho (b - d^2) > r, else M_c -= gamma rho (M_c . psi) psi and
//      b moves by the chosen rule. Step sizes decay as 1 / (1 + t / t0).
//   5. Every check_every iterations: violation rate and mean hinge on a
//      fixed pair subset, from the projections P (d^2 of a pair is
//      (P_ind[i] - P_ind[j])^2 + (P_arb[i] - P_arb[j])^2 since M is linear);
//      stop after `patience` checkpoints without a lower violation rate.
// Two engines run step 4 (metric.h): the Gram engine keeps M implicitly as
// M0 - s sum_k alpha_k f^k, updating the N projections through the Gram
// matrix; the primal engine updates M itself in fixed chunks of D that the
// threads share, one barrier per iteration.
//
// ref: Sendik, Lischinski, Cohen-Or, Eurographics 2019, Eqs. 3, 6-8
// ref: Simonyan et al., BMVC 2013 (hinge loss SGD, PCA-whitening)
// ref: method-spec sections 4.2-4.4
//
// Limitations:
// - The primal engine's dot products sum float lanes within a chunk of
//   2048 entries (doubles across chunks); its M is float throughout.
// - No per-ISA kernels: the chunk kernels are plain C that the compiler
//   vectorises for the baseline ISA.
// - The subset evaluation and the SGD loop itself run on one thread; only
//   the O(N D) and O(N^2 D) passes and the primal chunks are threaded.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
// An OpenMP pragma that vanishes from OPENMP=0 builds without a warning.
#define OMP(...) _Pragma(OMP_STR(omp __VA_ARGS__))
#define OMP_STR(...) #__VA_ARGS__
#else
#define OMP(...)
#endif

#include "../linalg/linalg.h"
#include "metric.h"

// Entries of D per chunk: the fixed partition of the primal engine's dot
// products and axpys (and of face_metric_dist2), whatever the thread count.
#define CHUNK 2048
// Float lanes per chunk sum; a multiple of 4 so the compiler can use SIMD.
#define LANES 8
// Entries of D per pass of the Gram and combination loops (fits L1/L2).
#define GCHUNK 1024
// Work (multiply-adds) below which a pass runs on one thread: a parallel
// region costs more than it saves there, a lot more on a loaded machine.
#define PAR_MIN_WORK (1L << 18)
// The primal engine gives each thread at least this many chunks of D.
#define PRIMAL_MIN_CHUNKS 2

// Seed tags of the three random streams, so that the pair sequence does
// not depend on D or on the initialisation.
#define TAG_INIT 0x6d65747269632d69ull
#define TAG_PAIRS 0x6d65747269632d70ull
#define TAG_SUBSET 0x6d65747269632d73ull

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

// ---------------------------------------------------------------------------
// Chunk kernels (float M, float features; psi = (fi - fj) * s in float).

// Partial sums a = M_ind . psi and c = M_arb . psi over n <= CHUNK entries,
// in LANES float lanes (the tail goes to lanes 0..), lanes added in double
// in lane order.
static void dot2_chunk(double out[2], const float *mi, const float *ma,
                       const float *fi, const float *fj, float s, int n)
{
    float sa[LANES], sc[LANES];
    double a = 0.0, c = 0.0;
    int k = 0;

    for (int l = 0; l < LANES; l++)
        sa[l] = sc[l] = 0.0f;

    // Main body: psi formed on the fly, never stored.
    for (; k + LANES <= n; k += LANES) {
        float p[LANES];
        for (int l = 0; l < LANES; l++)
            p[l] = (fi[k + l] - fj[k + l]) * s;
        for (int l = 0; l < LANES; l++)
            sa[l] += mi[k + l] * p[l];
        for (int l = 0; l < LANES; l++)
            sc[l] += ma[k + l] * p[l];
    }
    for (int l = 0; k < n; k++, l++) {
        float p = (fi[k] - fj[k]) * s;
        sa[l] += mi[k] * p;
        sc[l] += ma[k] * p;
    }

    for (int l = 0; l < LANES; l++) {
        a += sa[l];
        c += sc[l];
    }
    out[0] = a;
    out[1] = c;
}

// M_ind -= ua psi, M_arb -= uc psi over n entries; psi recomputed exactly as
// dot2_chunk formed it. Blocks of LANES, so the compiler vectorises them.
static void update_chunk(float *restrict mi, float *restrict ma,
                         const float *fi, const float *fj, float s,
                         float ua, float uc, int n)
{
    int k = 0;

    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) {
            float p = (fi[k + l] - fj[k + l]) * s;
            mi[k + l] -= ua * p;
            ma[k + l] -= uc * p;
        }
    for (; k < n; k++) {
        float p = (fi[k] - fj[k]) * s;
        mi[k] -= ua * p;
        ma[k] -= uc * p;
    }
}

// a and c over all of D, chunk by chunk in chunk order (the same sums the
// threaded engine forms).
static void dot2_all(double *a, double *c, const float *mi, const float *ma,
                     const float *fi, const float *fj, float s, int D)
{
    double sa = 0.0, sc = 0.0;

    for (int d0 = 0; d0 < D; d0 += CHUNK) {
        double part[2];
        int n = D - d0 < CHUNK ? D - d0 : CHUNK;
        dot2_chunk(part, mi + d0, ma + d0, fi + d0, fj + d0, s, n);
        sa += part[0];
        sc += part[1];
    }
    *a = sa;
    *c = sc;
}

// sum_d x[d] y[d] in double, four lanes added in lane order.
static double dot_d(const float *x, const float *y, int n)
{
    double l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0;
    int k = 0;

    for (; k + 4 <= n; k += 4) {
        l0 += (double)x[k] * y[k];
        l1 += (double)x[k + 1] * y[k + 1];
        l2 += (double)x[k + 2] * y[k + 2];
        l3 += (double)x[k + 3] * y[k + 3];
    }
    for (; k < n; k++)
        l0 += (double)x[k] * y[k];
    return (l0 + l1) + (l2 + l3);
}

// ---------------------------------------------------------------------------
// Options, names, small helpers.

void face_metric_defaults(face_metric_opts *o)
{
    FACET_ASSERT(o);
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->init = FACE_METRIC_INIT_ONES;
    o->init_eps = 0.1;
    o->init_rows = NULL;
    o->engine = FACE_METRIC_ENGINE_GRAM;
    o->gamma_m = 0.05;
    o->gamma_b = 1e-3;
    o->b_rule = FACE_METRIC_B_MULT;
    o->decay_t0 = 1e5;
    o->margin_kappa = 0.2;
    o->max_iter = 1000000;
    o->check_every = 10000;
    o->patience = 5;
    o->subset_pairs = 5000;
    o->progress = NULL;
    o->progress_user = NULL;
}

const char *face_metric_init_name(face_metric_init init)
{
    switch (init) {
    case FACE_METRIC_INIT_ONES: return "ones";
    case FACE_METRIC_INIT_PCA: return "pca";
    case FACE_METRIC_INIT_MEANDIFF: return "meandiff";
    case FACE_METRIC_INIT_GIVEN: return "given";
    default: return NULL;
    }
}

const char *face_metric_stop_name(face_metric_stop stop)
{
    switch (stop) {
    case FACE_METRIC_STOP_CONVERGED: return "converged";
    case FACE_METRIC_STOP_MAX_ITER: return "max_iter";
    default: return NULL;
    }
}

static facet_status check_opts(const face_metric_opts *o)
{
    const char *fn = "face_metric_learn";

    if ((unsigned)o->init >= FACE_METRIC_INIT_COUNT)
        return facet_fail(FACET_E_ARG, "%s: init %d unknown", fn,
                          (int)o->init);
    if (o->init == FACE_METRIC_INIT_GIVEN && !o->init_rows)
        return facet_fail(FACET_E_ARG, "%s: init 'given' without init_rows",
                          fn);
    if (!(o->init_eps >= 0.0 && isfinite(o->init_eps)))
        return facet_fail(FACET_E_ARG, "%s: init_eps %g not finite >= 0",
                          fn, o->init_eps);
    if ((unsigned)o->engine >= FACE_METRIC_ENGINE_COUNT)
        return facet_fail(FACET_E_ARG, "%s: engine %d unknown", fn,
                          (int)o->engine);
    if (!(o->gamma_m > 0.0 && isfinite(o->gamma_m)))
        return facet_fail(FACET_E_ARG, "%s: gamma_m %g not finite > 0", fn,
                          o->gamma_m);
    if (!(o->gamma_b >= 0.0 && o->gamma_b < 1.0))
        return facet_fail(FACET_E_ARG, "%s: gamma_b %g not in [0, 1)", fn,
                          o->gamma_b);
    if ((unsigned)o->b_rule >= FACE_METRIC_B_COUNT)
        return facet_fail(FACET_E_ARG, "%s: b_rule %d unknown", fn,
                          (int)o->b_rule);
    if (isnan(o->decay_t0))
        return facet_fail(FACET_E_ARG, "%s: decay_t0 is NaN", fn);
    if (!(o->margin_kappa >= 0.0 && isfinite(o->margin_kappa)))
        return facet_fail(FACET_E_ARG, "%s: margin_kappa %g not finite >= 0",
                          fn, o->margin_kappa);
    if (o->max_iter < 0 || o->check_every < 1 || o->patience < 1 ||
        o->subset_pairs < 1)
        return facet_fail(FACET_E_ARG,
                          "%s: max_iter %ld, check_every %ld, patience %d, "
                          "subset_pairs %d out of range", fn, o->max_iter,
                          o->check_every, o->patience, o->subset_pairs);
    return FACET_OK;
}

// Step size at iteration t.
static double step_at(double gamma, double t0, long t)
{
    return t0 > 0.0 ? gamma / (1.0 + (double)t / t0) : gamma;
}

// Eq. 8 (FACE_METRIC_B_MULT) or the subgradient step (FACE_METRIC_B_ADD).
static double b_next(double b, double b0, int rho, double gamma_b,
                     face_metric_b_rule rule)
{
    if (rule == FACE_METRIC_B_MULT)
        return b + gamma_b * rho * b;
    return b + gamma_b * rho * b0;
}

// Pearson correlation from the sums over D entries; 0 when a row is
// constant.
static double corr_from_sums(double si, double sa, double qii, double qaa,
                             double qia, int D)
{
    double vi = qii - si * si / D, va = qaa - sa * sa / D;
    double cov = qia - si * sa / D;

    if (!(vi > 0.0 && va > 0.0))
        return 0.0;
    return cov / sqrt(vi * va);
}

// Correlation of two float rows, two-pass in double.
static double row_corr(const float *x, const float *y, int D)
{
    double mx = 0.0, my = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0;

    for (int d = 0; d < D; d++) {
        mx += x[d];
        my += y[d];
    }
    mx /= D;
    my /= D;
    for (int d = 0; d < D; d++) {
        double u = x[d] - mx, v = y[d] - my;
        sxx += u * u;
        syy += v * v;
        sxy += u * v;
    }
    if (!(sxx > 0.0 && syy > 0.0))
        return 0.0;
    return sxy / sqrt(sxx * syy);
}

// ---------------------------------------------------------------------------
// Single-pair API.

facet_status face_metric_alloc(face_metric *m, int D)
{
    if (!m)
        return facet_fail(FACET_E_ARG, "face_metric_alloc: m is NULL");
    memset(m, 0, sizeof *m);
    if (D < 1)
        return facet_fail(FACET_E_ARG, "face_metric_alloc: D = %d < 1", D);
    m->m_ind = facet_calloc((size_t)D * sizeof(float));
    m->m_arb = facet_calloc((size_t)D * sizeof(float));
    if (!m->m_ind || !m->m_arb) {
        face_metric_free(m);
        return facet_fail(FACET_E_NOMEM, "face_metric_alloc: D = %d", D);
    }
    m->D = D;
    m->scale = 1.0;
    m->inv_scale = 1.0f;
    return FACET_OK;
}

void face_metric_free(face_metric *m)
{
    if (!m)
        return;
    facet_free(m->m_ind);
    facet_free(m->m_arb);
    free(m->log);
    memset(m, 0, sizeof *m);
}

double face_metric_dist2(const face_metric *m, const float *fi,
                         const float *fj)
{
    double a, c;

    FACET_ASSERT(m && m->m_ind && m->m_arb && fi && fj);
    dot2_all(&a, &c, m->m_ind, m->m_arb, fi, fj, m->inv_scale, m->D);
    return a * a + c * c;
}

double face_metric_hinge(const face_metric *m, const float *fi,
                         const float *fj, int rho)
{
    double h;

    FACET_ASSERT(rho == 1 || rho == -1);
    h = m->r - rho * (m->b - face_metric_dist2(m, fi, fj));
    return h > 0.0 ? h : 0.0;
}

int face_metric_step(face_metric *m, const float *fi, const float *fj,
                     int rho, const face_metric_opts *o)
{
    double a, c, d2;
    float ua, uc;

    FACET_ASSERT(m && m->m_ind && m->m_arb && fi && fj && o);
    FACET_ASSERT(rho == 1 || rho == -1);

    // Eq. 7's condition: hinge inactive, nothing changes.
    dot2_all(&a, &c, m->m_ind, m->m_arb, fi, fj, m->inv_scale, m->D);
    d2 = a * a + c * c;
    if (rho * (m->b - d2) > m->r)
        return 0;

    // M - gamma rho M psi psi^T as two axpys, then Eq. 8.
    ua = (float)(o->gamma_m * rho * a);
    uc = (float)(o->gamma_m * rho * c);
    for (int d0 = 0; d0 < m->D; d0 += CHUNK) {
        int n = m->D - d0 < CHUNK ? m->D - d0 : CHUNK;
        update_chunk(m->m_ind + d0, m->m_arb + d0, fi + d0, fj + d0,
                     m->inv_scale, ua, uc, n);
    }
    m->b = b_next(m->b, m->b0, rho, o->gamma_b, o->b_rule);
    return 1;
}

void face_metric_scale(const face_metric *m, float *dst, const float *src)
{
    FACET_ASSERT(m && dst && src);
    for (int d = 0; d < m->D; d++)
        dst[d] = src[d] * m->inv_scale;
}

// ---------------------------------------------------------------------------
// The learner's state.

// Pair sampler: indices 0..n_ind-1 are P_ind, n_ind..N-1 are P_arb.
typedef struct sampler {
    uint32_t n_ind, n_arb;
    uint32_t pos_ind;    // C(n_ind, 2)
    uint32_t pos_total;  // C(n_ind, 2) + C(n_arb, 2)
} sampler;

// rho = +-1 with probability 1/2; a positive pair uniform over all
// same-set pairs, a negative one uniform over ind x arb.
static void draw_pair(facet_rng *rng, const sampler *sp, int *i, int *j,
                      int *rho)
{
    if (facet_rng_u64(rng) >> 63) {
        uint32_t u = facet_rng_below(rng, sp->pos_total);
        uint32_t base = u < sp->pos_ind ? 0 : sp->n_ind;
        uint32_t n = u < sp->pos_ind ? sp->n_ind : sp->n_arb;
        uint32_t x = facet_rng_below(rng, n);
        uint32_t y = facet_rng_below(rng, n - 1);
        if (y >= x)
            y++;
        *i = (int)(base + x);
        *j = (int)(base + y);
        *rho = 1;
    } else {
        *i = (int)facet_rng_below(rng, sp->n_ind);
        *j = (int)(sp->n_ind + facet_rng_below(rng, sp->n_arb));
        *rho = -1;
    }
}

typedef struct learner {
    const face_metric_opts *o;
    int n_ind, n_arb, N, D;
    const float **f;       // N feature pointers, P_ind first
    float s;               // inv_scale
    double *fsum;          // N: sum_d f^k[d] (unscaled)
    double *gram;          // N x N: s^2 f^i . f^j, or NULL
    double *p_ind, *p_arb; // N: current projections M_c . (s f^k)
    double *p0_ind, *p0_arb; // N: projections under M0
    double *alpha, *beta;  // N: M_c = M0_c - s sum_k coef_k f^k (Gram)
    double m0_sum[2];      // sum_d M0_ind[d], sum_d M0_arb[d]
    double m0_dot[3];      // M0_ind.M0_ind, M0_arb.M0_arb, M0_ind.M0_arb
    int *sub_i, *sub_j, *sub_rho, nsub;
    sampler sp;
    facet_rng rng_pairs;
    double b, r, b0;
    long t, updates;
    double *partial;       // primal engine: 2 x nchunks x 2 chunk sums
    face_metric *out;      // holds M (m_ind, m_arb)
    int log_cap;
} learner;

static void learner_free(learner *L)
{
    free(L->f);
    free(L->fsum);
    facet_free(L->gram);
    free(L->p_ind);
    free(L->p_arb);
    free(L->p0_ind);
    free(L->p0_arb);
    free(L->alpha);
    free(L->beta);
    free(L->sub_i);
    free(L->sub_j);
    free(L->sub_rho);
    facet_free(L->partial);
}

// ---------------------------------------------------------------------------
// O(N D) and O(N^2 D) passes over the features (threaded over outputs).

// Sum of squares and sum of each feature, in double. Non-finite values
// make the sum of squares non-finite.
static void feature_sums(double *nrm2, double *fsum, const float *const *f,
                         int N, int D)
{
    OMP(parallel for schedule(static) if ((long)N * D >= PAR_MIN_WORK))
    for (int k = 0; k < N; k++) {
        double q = dot_d(f[k], f[k], D), s = 0.0;
        for (int d = 0; d < D; d++)
            s += f[k][d];
        nrm2[k] = q;
        fsum[k] = s;
    }
}

// p_c[k] = s * (M_c . f^k) for both rows, in double.
static void project_all(double *p_ind, double *p_arb, const float *mi,
                        const float *ma, const float *const *f, float s,
                        int N, int D)
{
    OMP(parallel for schedule(static) if ((long)N * D >= PAR_MIN_WORK))
    for (int k = 0; k < N; k++) {
        p_ind[k] = (double)s * dot_d(mi, f[k], D);
        p_arb[k] = (double)s * dot_d(ma, f[k], D);
    }
}

// Four dots at once: out[r] = sum_k x_r[k] y[k] over n <= GCHUNK entries,
// float products summed in LANES float lanes per row (the tail into lanes
// 0..), the lanes added in double in lane order.
static void dot4_chunk(double out[4], const float *const x[4],
                       const float *y, int n)
{
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    float acc[4][LANES];
    int k = 0;

    for (int r = 0; r < 4; r++)
        for (int l = 0; l < LANES; l++)
            acc[r][l] = 0.0f;
    for (; k + LANES <= n; k += LANES) {
        for (int l = 0; l < LANES; l++)
            acc[0][l] += x0[k + l] * y[k + l];
        for (int l = 0; l < LANES; l++)
            acc[1][l] += x1[k + l] * y[k + l];
        for (int l = 0; l < LANES; l++)
            acc[2][l] += x2[k + l] * y[k + l];
        for (int l = 0; l < LANES; l++)
            acc[3][l] += x3[k + l] * y[k + l];
    }
    for (int l = 0; k < n; k++, l++) {
        acc[0][l] += x0[k] * y[k];
        acc[1][l] += x1[k] * y[k];
        acc[2][l] += x2[k] * y[k];
        acc[3][l] += x3[k] * y[k];
    }
    for (int r = 0; r < 4; r++) {
        double sum = 0.0;
        for (int l = 0; l < LANES; l++)
            sum += acc[r][l];
        out[r] = sum;
    }
}

// G[i][j] = s^2 sum_d f^i[d] f^j[d] (N x N, symmetric). Blocks of four
// rows against all earlier columns, D in GCHUNK passes whose sums are
// added in double in chunk order; each entry is summed by one thread, so
// the bits do not depend on the thread count or the dynamic schedule.
static void gram_build(double *g, const float *const *f, int N, int D,
                       double s2)
{
    int nblk = (N + 3) / 4;

    OMP(parallel for schedule(dynamic, 1)
        if ((long)N * N / 2 * D >= PAR_MIN_WORK))
    for (int bi = nblk - 1; bi >= 0; bi--) {
        int i0 = 4 * bi, rows = N - i0 < 4 ? N - i0 : 4, jn = i0 + rows;
        const float *x[4];

        for (int r = 0; r < rows; r++)
            for (int j = 0; j < jn; j++)
                g[(size_t)(i0 + r) * N + j] = 0.0;

        // Short blocks repeat their first row; those sums are dropped.
        for (int d0 = 0; d0 < D; d0 += GCHUNK) {
            int n = D - d0 < GCHUNK ? D - d0 : GCHUNK;
            for (int r = 0; r < 4; r++)
                x[r] = f[i0 + (r < rows ? r : 0)] + d0;
            for (int j = 0; j < jn; j++) {
                double part[4];
                dot4_chunk(part, x, f[j] + d0, n);
                for (int r = 0; r < rows; r++)
                    g[(size_t)(i0 + r) * N + j] += part[r];
            }
        }
    }

    // Scale the lower triangle and mirror it.
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) {
            g[(size_t)i * N + j] *= s2;
            g[(size_t)j * N + i] = g[(size_t)i * N + j];
        }
}

// M_c[d] -= s sum_k coef_c[k] f^k[d] for both rows, summed in double in k
// order per entry, rounded to float once. Threads take fixed chunks of D.
static void combine_rows(float *mi, float *ma, const double *ci,
                         const double *ca, const float *const *f, float s,
                         int N, int D)
{
    int nch = (D + GCHUNK - 1) / GCHUNK;

    OMP(parallel for schedule(static) if ((long)N * D >= PAR_MIN_WORK))
    for (int ch = 0; ch < nch; ch++) {
        double acc_i[GCHUNK], acc_a[GCHUNK];
        int d0 = ch * GCHUNK, n = D - d0 < GCHUNK ? D - d0 : GCHUNK;

        for (int d = 0; d < n; d++) {
            acc_i[d] = mi[d0 + d];
            acc_a[d] = ma[d0 + d];
        }
        for (int k = 0; k < N; k++) {
            double wi = (double)s * ci[k], wa = (double)s * ca[k];
            const float *fk = f[k] + d0;
            if (wi == 0.0 && wa == 0.0)
                continue;
            for (int d = 0; d < n; d++) {
                acc_i[d] -= wi * fk[d];
                acc_a[d] -= wa * fk[d];
            }
        }
        for (int d = 0; d < n; d++) {
            mi[d0 + d] = (float)acc_i[d];
            ma[d0 + d] = (float)acc_a[d];
        }
    }
}

// ---------------------------------------------------------------------------
// Initialisation.

// Two leading principal directions of the scaled training features,
// whitened: row_k = Xc^T v_k sqrt(N - 1) / lambda_k with (lambda_k, v_k)
// the eigenpairs of the centred Gram matrix (v_k sums to 0, so the centring
// of X drops out of the row).
static facet_status init_pca(learner *L)
{
    int N = L->N;
    double *gc = NULL, *evals = NULL, *evecs = NULL, *ci = NULL, *ca = NULL;
    double *rmean = NULL, gmean = 0.0;
    facet_status st = FACET_OK;
    size_t nn = (size_t)N * N;

    gc = malloc(nn * sizeof *gc);
    evecs = malloc(nn * sizeof *evecs);
    evals = malloc((size_t)N * sizeof *evals);
    rmean = malloc((size_t)N * sizeof *rmean);
    ci = malloc((size_t)N * sizeof *ci);
    ca = malloc((size_t)N * sizeof *ca);
    if (!gc || !evecs || !evals || !rmean || !ci || !ca) {
        st = facet_fail(FACET_E_NOMEM, "face_metric_learn: PCA, N = %d", N);
        goto done;
    }

    // Centre the Gram matrix: Gc = (I - 11^T/N) G (I - 11^T/N).
    for (int i = 0; i < N; i++) {
        double s = 0.0;
        for (int j = 0; j < N; j++)
            s += L->gram[(size_t)i * N + j];
        rmean[i] = s / N;
        gmean += rmean[i];
    }
    gmean /= N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            gc[(size_t)i * N + j] = L->gram[(size_t)i * N + j] - rmean[i] -
                                    rmean[j] + gmean;

    st = la_eig_sym(evals, evecs, gc, N, NULL);
    if (st != FACET_OK && st != FACET_E_UNSUPPORTED)
        goto done;
    st = FACET_OK;
    if (!(evals[0] > 0.0 && evals[1] > 1e-12 * evals[0])) {
        st = facet_fail(FACET_E_ARG,
                        "face_metric_learn: PCA init needs features spanning "
                        "2 dimensions (eigenvalues %g, %g)", evals[0],
                        evals[1]);
        goto done;
    }

    // Rows as combinations of the features: M_c = 0 - s sum_k coef f^k.
    for (int k = 0; k < N; k++) {
        ci[k] = -evecs[(size_t)k * N + 0] * sqrt(N - 1.0) / evals[0];
        ca[k] = -evecs[(size_t)k * N + 1] * sqrt(N - 1.0) / evals[1];
    }
    memset(L->out->m_ind, 0, (size_t)L->D * sizeof(float));
    memset(L->out->m_arb, 0, (size_t)L->D * sizeof(float));
    combine_rows(L->out->m_ind, L->out->m_arb, ci, ca, L->f, L->s, N, L->D);

done:
    free(gc);
    free(evecs);
    free(evals);
    free(rmean);
    free(ci);
    free(ca);
    return st;
}

// Sample standard deviation (N - 1) of n values.
static double sample_std(const double *p, int n)
{
    double m = 0.0, q = 0.0;

    for (int k = 0; k < n; k++)
        m += p[k];
    m /= n;
    for (int k = 0; k < n; k++)
        q += (p[k] - m) * (p[k] - m);
    return sqrt(q / (n - 1));
}

// M_ind along the class-mean difference, M_arb a random direction made
// orthogonal to it; both scaled to unit training variance afterwards (in
// init_metric, once the projections exist).
static facet_status init_meandiff(learner *L, facet_rng *rng)
{
    int N = L->N, D = L->D;
    float *mi = L->out->m_ind, *ma = L->out->m_arb;
    double *ci = calloc((size_t)N, sizeof *ci);
    double *ca = calloc((size_t)N, sizeof *ca);
    double dot = 0.0, nn = 0.0;

    if (!ci || !ca) {
        free(ci);
        free(ca);
        return facet_fail(FACET_E_NOMEM, "face_metric_learn: N = %d", N);
    }

    // M_ind = s (mean_ind - mean_arb); M_arb starts as noise.
    for (int k = 0; k < N; k++)
        ci[k] = k < L->n_ind ? -1.0 / L->n_ind : 1.0 / L->n_arb;
    memset(mi, 0, (size_t)D * sizeof(float));
    for (int d = 0; d < D; d++)
        ma[d] = (float)facet_rng_normal(rng);
    combine_rows(mi, ma, ci, ca, L->f, L->s, N, D);
    free(ci);
    free(ca);

    // Gram-Schmidt: M_arb -= (M_arb . M_ind / |M_ind|^2) M_ind.
    for (int d = 0; d < D; d++) {
        dot += (double)ma[d] * mi[d];
        nn += (double)mi[d] * mi[d];
    }
    if (!(nn > 0.0))
        return facet_fail(FACET_E_ARG, "face_metric_learn: meandiff init: "
                          "the two sets have the same mean feature");
    for (int d = 0; d < D; d++)
        ma[d] = (float)(ma[d] - dot / nn * mi[d]);
    return FACET_OK;
}

// M0, its projections, b0, r, and the Gram-engine bookkeeping.
static facet_status init_metric(learner *L)
{
    const face_metric_opts *o = L->o;
    float *mi = L->out->m_ind, *ma = L->out->m_arb;
    int N = L->N, D = L->D;
    facet_rng rng;
    facet_status st = FACET_OK;
    double sum = 0.0;

    facet_rng_seed(&rng, o->seed ^ TAG_INIT);
    switch (o->init) {
    case FACE_METRIC_INIT_ONES:
        for (int d = 0; d < D; d++)
            mi[d] = (float)(1.0 + o->init_eps * facet_rng_normal(&rng));
        for (int d = 0; d < D; d++)
            ma[d] = (float)(1.0 + o->init_eps * facet_rng_normal(&rng));
        break;
    case FACE_METRIC_INIT_PCA:
        st = init_pca(L);
        break;
    case FACE_METRIC_INIT_MEANDIFF:
        st = init_meandiff(L, &rng);
        break;
    case FACE_METRIC_INIT_GIVEN:
        for (int d = 0; d < D; d++) {
            mi[d] = o->init_rows[d];
            ma[d] = o->init_rows[(size_t)D + d];
            if (!isfinite(mi[d]) || !isfinite(ma[d]))
                return facet_fail(FACET_E_ARG, "face_metric_learn: "
                                  "init_rows[%ld] not finite",
                                  isfinite(mi[d]) ? (long)D + d : (long)d);
        }
        break;
    default:
        FACET_ASSERT(0);
    }
    if (st != FACET_OK)
        return st;

    // Projections under M0; MEANDIFF rows scaled to unit variance.
    project_all(L->p_ind, L->p_arb, mi, ma, L->f, L->s, N, D);
    if (o->init == FACE_METRIC_INIT_MEANDIFF) {
        double si = sample_std(L->p_ind, N), sa = sample_std(L->p_arb, N);
        if (!(si > 0.0 && sa > 0.0))
            return facet_fail(FACET_E_ARG, "face_metric_learn: meandiff "
                              "init: a row projects all features alike");
        for (int d = 0; d < D; d++) {
            mi[d] = (float)(mi[d] / si);
            ma[d] = (float)(ma[d] / sa);
        }
        project_all(L->p_ind, L->p_arb, mi, ma, L->f, L->s, N, D);
    }
    memcpy(L->p0_ind, L->p_ind, (size_t)N * sizeof(double));
    memcpy(L->p0_arb, L->p_arb, (size_t)N * sizeof(double));

    // b0: mean d^2 over all unordered pairs of the pooled set.
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            double a = L->p_ind[i] - L->p_ind[j];
            double c = L->p_arb[i] - L->p_arb[j];
            sum += a * a + c * c;
        }
    L->b0 = sum / (0.5 * N * (N - 1.0));
    if (!(L->b0 > 0.0 && isfinite(L->b0)))
        return facet_fail(FACET_E_ARG, "face_metric_learn: all pairs at "
                          "distance %g under the initial M", L->b0);
    L->b = L->b0;
    L->r = o->margin_kappa * L->b0;

    // Sums and inner products of M0 for the Gram engine's correlation.
    L->m0_sum[0] = L->m0_sum[1] = 0.0;
    for (int d = 0; d < D; d++) {
        L->m0_sum[0] += mi[d];
        L->m0_sum[1] += ma[d];
    }
    L->m0_dot[0] = dot_d(mi, mi, D);
    L->m0_dot[1] = dot_d(ma, ma, D);
    L->m0_dot[2] = dot_d(mi, ma, D);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Checkpoints.

// Violation rate and mean hinge over the fixed subset, from projections.
static void subset_stats(const learner *L, double *viol, double *hinge)
{
    long nv = 0;
    double hs = 0.0;

    for (int q = 0; q < L->nsub; q++) {
        int i = L->sub_i[q], j = L->sub_j[q], rho = L->sub_rho[q];
        double a = L->p_ind[i] - L->p_ind[j];
        double c = L->p_arb[i] - L->p_arb[j];
        double h = L->r - rho * (L->b - (a * a + c * c));
        if (h > 0.0) {
            nv++;
            hs += h;
        }
    }
    *viol = (double)nv / L->nsub;
    *hinge = hs / L->nsub;
}

// corr(M_ind, M_arb) of the Gram engine's implicit M = M0 - s F^T coef:
// sums and inner products expanded through fsum, P0 and G (O(N^2)).
static double gram_corr(const learner *L)
{
    int N = L->N, D = L->D;
    double si = L->m0_sum[0], sa = L->m0_sum[1];
    double qii = L->m0_dot[0], qaa = L->m0_dot[1], qia = L->m0_dot[2];
    double s = L->s;

    for (int k = 0; k < N; k++) {
        double ak = L->alpha[k], bk = L->beta[k];
        double gai = 0.0, gbb = 0.0;
        si -= s * ak * L->fsum[k];
        sa -= s * bk * L->fsum[k];
        qii -= 2.0 * ak * L->p0_ind[k];
        qaa -= 2.0 * bk * L->p0_arb[k];
        qia -= ak * L->p0_arb[k] + bk * L->p0_ind[k];
        for (int l = 0; l < N; l++) {
            double g = L->gram[(size_t)k * N + l];
            gai += g * L->alpha[l];
            gbb += g * L->beta[l];
        }
        qii += ak * gai;
        qaa += bk * gbb;
        qia += ak * gbb;
    }
    return corr_from_sums(si, sa, qii, qaa, qia, D);
}

// Record a checkpoint under the current state; returns its violation rate
// or -1 when the log cannot grow.
static double checkpoint(learner *L)
{
    face_metric *m = L->out;
    face_metric_checkpoint *e;
    double viol, hinge, corr;

    // Projections are current in the Gram engine; the primal engine
    // recomputes them from M.
    if (L->o->engine == FACE_METRIC_ENGINE_PRIMAL) {
        project_all(L->p_ind, L->p_arb, m->m_ind, m->m_arb, L->f, L->s,
                    L->N, L->D);
        corr = row_corr(m->m_ind, m->m_arb, L->D);
    } else {
        corr = gram_corr(L);
    }
    subset_stats(L, &viol, &hinge);

    if (m->log_len == L->log_cap) {
        int cap = L->log_cap ? 2 * L->log_cap : 64;
        face_metric_checkpoint *grown;
        if (L->log_cap > INT_MAX / 2)
            return -1.0;
        grown = realloc(m->log, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1.0;
        m->log = grown;
        L->log_cap = cap;
    }
    e = &m->log[m->log_len++];
    e->iter = L->t;
    e->violation_rate = viol;
    e->mean_hinge = hinge;
    e->corr = corr;
    e->b = L->b;
    if (L->o->progress)
        L->o->progress(L->o->progress_user, L->t, viol, hinge);
    return viol;
}

// ---------------------------------------------------------------------------
// SGD engines: run iterations L->t .. t_end - 1.

static void gram_segment(learner *L, long t_end)
{
    const face_metric_opts *o = L->o;
    int N = L->N;
    double *pi = L->p_ind, *pa = L->p_arb;
    double b = L->b;
    long t = L->t, upd = L->updates;
    facet_rng rng = L->rng_pairs;

    while (t < t_end) {
        int i, j, rho;
        double a, c, d2, gm, ua, uc;
        const double *gi, *gj;

        draw_pair(&rng, &L->sp, &i, &j, &rho);
        a = pi[i] - pi[j];
        c = pa[i] - pa[j];
        d2 = a * a + c * c;
        gm = step_at(o->gamma_m, o->decay_t0, t);
        t++;
        if (rho * (b - d2) > L->r)
            continue;

        // M_c -= ua psi with psi = s (f^i - f^j): coefficients of f^i and
        // f^j move by +-ua, each projection by ua psi . s f^k.
        ua = gm * rho * a;
        uc = gm * rho * c;
        L->alpha[i] += ua;
        L->alpha[j] -= ua;
        L->beta[i] += uc;
        L->beta[j] -= uc;
        gi = L->gram + (size_t)i * N;
        gj = L->gram + (size_t)j * N;
        for (int k = 0; k < N; k++) {
            double g = gi[k] - gj[k];
            pi[k] -= ua * g;
            pa[k] -= uc * g;
        }
        b = b_next(b, L->b0, rho,
                   step_at(o->gamma_b, o->decay_t0, t - 1), o->b_rule);
        upd++;
    }
    L->b = b;
    L->t = t;
    L->updates = upd;
    L->rng_pairs = rng;
}

// Every thread runs the same scalar decisions on the same data (its own
// copy of the generator and b), owns a fixed contiguous range of chunks of
// M, and writes its chunk sums to a double-buffered array; one barrier per
// iteration separates writing the sums from reading them.
static void primal_segment(learner *L, long t_end)
{
    const face_metric_opts *o = L->o;
    int D = L->D, nch = (D + CHUNK - 1) / CHUNK;
    int most = nch / PRIMAL_MIN_CHUNKS > 1 ? nch / PRIMAL_MIN_CHUNKS : 1;
    int want = facet_threads() < most ? facet_threads() : most;
    float *mi = L->out->m_ind, *ma = L->out->m_arb;
    const float *const *f = L->f;
    double *part = L->partial;
    float s = L->s;

    (void)want;
    OMP(parallel num_threads(want))
    {
        int tid = thread_id(), nt = thread_count();
        int c0 = (int)((long)nch * tid / nt);
        int c1 = (int)((long)nch * (tid + 1) / nt);
        facet_rng rng = L->rng_pairs;
        double b = L->b;
        long t = L->t, upd = L->updates;
        int buf = 0;

        while (t < t_end) {
            int i, j, rho;
            double a = 0.0, c = 0.0, d2, gm;
            double *pb = part + (size_t)buf * nch * 2;
            float ua, uc;

            // Chunk sums of this thread's share of D.
            draw_pair(&rng, &L->sp, &i, &j, &rho);
            for (int ch = c0; ch < c1; ch++) {
                int d0 = ch * CHUNK, n = D - d0 < CHUNK ? D - d0 : CHUNK;
                dot2_chunk(pb + 2 * ch, mi + d0, ma + d0, f[i] + d0,
                           f[j] + d0, s, n);
            }
            OMP(barrier)

            // All threads add all chunk sums in chunk order.
            for (int ch = 0; ch < nch; ch++) {
                a += pb[2 * ch];
                c += pb[2 * ch + 1];
            }
            d2 = a * a + c * c;
            gm = step_at(o->gamma_m, o->decay_t0, t);
            t++;
            buf ^= 1;
            if (rho * (b - d2) > L->r)
                continue;

            // The two axpys on this thread's chunks, then Eq. 8.
            ua = (float)(gm * rho * a);
            uc = (float)(gm * rho * c);
            for (int ch = c0; ch < c1; ch++) {
                int d0 = ch * CHUNK, n = D - d0 < CHUNK ? D - d0 : CHUNK;
                update_chunk(mi + d0, ma + d0, f[i] + d0, f[j] + d0, s, ua,
                             uc, n);
            }
            b = b_next(b, L->b0, rho,
                       step_at(o->gamma_b, o->decay_t0, t - 1), o->b_rule);
            upd++;
        }

        // The threads agree; thread 0 writes the scalars back once all
        // have read the starting state.
        OMP(barrier)
        if (tid == 0) {
            L->b = b;
            L->t = t;
            L->updates = upd;
            L->rng_pairs = rng;
        }
    }
}

// ---------------------------------------------------------------------------
// Learning.

static facet_status learner_setup(learner *L, const float *const *f_ind,
                                  int n_ind, const float *const *f_arb,
                                  int n_arb, int D)
{
    const char *fn = "face_metric_learn";
    int N = n_ind + n_arb;
    double *nrm2, snorm = 0.0;
    facet_rng rng;
    int nz = 0;

    L->n_ind = n_ind;
    L->n_arb = n_arb;
    L->N = N;
    L->D = D;
    L->f = malloc((size_t)N * sizeof *L->f);
    L->fsum = malloc((size_t)N * sizeof *L->fsum);
    nrm2 = malloc((size_t)N * sizeof *nrm2);
    L->p_ind = malloc((size_t)N * sizeof(double));
    L->p_arb = malloc((size_t)N * sizeof(double));
    L->p0_ind = malloc((size_t)N * sizeof(double));
    L->p0_arb = malloc((size_t)N * sizeof(double));
    L->alpha = calloc((size_t)N, sizeof(double));
    L->beta = calloc((size_t)N, sizeof(double));
    L->nsub = L->o->subset_pairs;
    L->sub_i = malloc((size_t)L->nsub * sizeof(int));
    L->sub_j = malloc((size_t)L->nsub * sizeof(int));
    L->sub_rho = malloc((size_t)L->nsub * sizeof(int));
    if (!L->f || !L->fsum || !nrm2 || !L->p_ind || !L->p_arb ||
        !L->p0_ind || !L->p0_arb || !L->alpha || !L->beta || !L->sub_i ||
        !L->sub_j || !L->sub_rho) {
        free(nrm2);
        return facet_fail(FACET_E_NOMEM, "%s: N = %d", fn, N);
    }

    // Pointers, pooled: P_ind first.
    for (int k = 0; k < N; k++) {
        L->f[k] = k < n_ind ? f_ind[k] : f_arb[k - n_ind];
        if (!L->f[k]) {
            free(nrm2);
            return facet_fail(FACET_E_ARG, "%s: %s feature %d is NULL", fn,
                              k < n_ind ? "ind" : "arb",
                              k < n_ind ? k : k - n_ind);
        }
    }

    // Finite values and the scale s_f = mean_k |f^k|.
    feature_sums(nrm2, L->fsum, L->f, N, D);
    for (int k = 0; k < N; k++) {
        if (!isfinite(nrm2[k])) {
            free(nrm2);
            return facet_fail(FACET_E_ARG, "%s: %s feature %d has a "
                              "non-finite value", fn,
                              k < n_ind ? "ind" : "arb",
                              k < n_ind ? k : k - n_ind);
        }
        nz += nrm2[k] > 0.0;
        snorm += sqrt(nrm2[k]);
    }
    free(nrm2);
    if (nz == 0)
        return facet_fail(FACET_E_ARG, "%s: all features are zero", fn);
    L->out->scale = snorm / N;
    L->s = (float)(1.0 / L->out->scale);
    if (!(L->s > 0.0f && isfinite(L->s)))
        return facet_fail(FACET_E_ARG, "%s: feature scale %g out of float "
                          "range", fn, L->out->scale);
    L->out->inv_scale = L->s;

    // Pair sampler and the fixed evaluation subset.
    L->sp.n_ind = (uint32_t)n_ind;
    L->sp.n_arb = (uint32_t)n_arb;
    L->sp.pos_ind = (uint32_t)n_ind * (uint32_t)(n_ind - 1) / 2;
    L->sp.pos_total = L->sp.pos_ind +
                      (uint32_t)n_arb * (uint32_t)(n_arb - 1) / 2;
    facet_rng_seed(&rng, L->o->seed ^ TAG_SUBSET);
    for (int q = 0; q < L->nsub; q++)
        draw_pair(&rng, &L->sp, &L->sub_i[q], &L->sub_j[q], &L->sub_rho[q]);
    facet_rng_seed(&L->rng_pairs, L->o->seed ^ TAG_PAIRS);

    // The Gram matrix (Gram engine, PCA init) and the primal chunk sums.
    if (L->o->engine == FACE_METRIC_ENGINE_GRAM ||
        L->o->init == FACE_METRIC_INIT_PCA) {
        L->gram = facet_alloc((size_t)N * N * sizeof(double));
        if (!L->gram)
            return facet_fail(FACET_E_NOMEM, "%s: Gram matrix, N = %d", fn,
                              N);
        gram_build(L->gram, L->f, N, D, (double)L->s * L->s);
    }
    if (L->o->engine == FACE_METRIC_ENGINE_PRIMAL) {
        size_t nch = (size_t)(D + CHUNK - 1) / CHUNK;
        L->partial = facet_alloc(2 * nch * 2 * sizeof(double));
        if (!L->partial)
            return facet_fail(FACET_E_NOMEM, "%s: D = %d", fn, D);
    }
    return FACET_OK;
}

static facet_status learner_run(learner *L)
{
    const face_metric_opts *o = L->o;
    face_metric *m = L->out;
    double best, viol;
    int since = 0;

    // Iteration 0, then segments of check_every iterations.
    best = checkpoint(L);
    if (best < 0.0)
        return facet_fail(FACET_E_NOMEM, "face_metric_learn: log");
    m->violation_init = best;
    m->stop = FACE_METRIC_STOP_MAX_ITER;
    while (L->t < o->max_iter) {
        long t_end = o->max_iter - L->t > o->check_every
                         ? L->t + o->check_every : o->max_iter;
        if (o->engine == FACE_METRIC_ENGINE_GRAM)
            gram_segment(L, t_end);
        else
            primal_segment(L, t_end);

        viol = checkpoint(L);
        if (viol < 0.0)
            return facet_fail(FACET_E_NOMEM, "face_metric_learn: log");
        if (viol < best) {
            best = viol;
            since = 0;
        } else if (++since >= o->patience) {
            m->stop = FACE_METRIC_STOP_CONVERGED;
            break;
        }
    }

    // The Gram engine forms M = M0 - s F^T coef once.
    if (o->engine == FACE_METRIC_ENGINE_GRAM)
        combine_rows(m->m_ind, m->m_arb, L->alpha, L->beta, L->f, L->s,
                     L->N, L->D);
    m->violation_final = m->log[m->log_len - 1].violation_rate;
    m->iterations = L->t;
    m->updates = L->updates;
    m->b = L->b;
    m->r = L->r;
    m->b0 = L->b0;
    return FACET_OK;
}

facet_status face_metric_learn(face_metric *out, const float *const *f_ind,
                               int n_ind, const float *const *f_arb,
                               int n_arb, int D, const face_metric_opts *o)
{
    const char *fn = "face_metric_learn";
    face_metric_opts def;
    learner L;
    facet_status st;

    // Arguments.
    if (!out)
        return facet_fail(FACET_E_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!o) {
        face_metric_defaults(&def);
        o = &def;
    }
    if (!f_ind || !f_arb)
        return facet_fail(FACET_E_ARG, "%s: feature list is NULL", fn);
    if (n_ind < 2 || n_arb < 2)
        return facet_fail(FACET_E_ARG, "%s: need >= 2 portraits per set "
                          "(n_ind %d, n_arb %d)", fn, n_ind, n_arb);
    if (n_ind > FACE_METRIC_MAX_N || n_arb > FACE_METRIC_MAX_N ||
        n_ind + n_arb > FACE_METRIC_MAX_N)
        return facet_fail(FACET_E_TOO_LARGE, "%s: n_ind %d + n_arb %d > %d",
                          fn, n_ind, n_arb, FACE_METRIC_MAX_N);
    if (D < 1)
        return facet_fail(FACET_E_ARG, "%s: D = %d < 1", fn, D);
    st = check_opts(o);
    if (st != FACET_OK)
        return st;

    // Learn into *out.
    memset(&L, 0, sizeof L);
    L.o = o;
    L.out = out;
    st = face_metric_alloc(out, D);
    if (st == FACET_OK)
        st = learner_setup(&L, f_ind, n_ind, f_arb, n_arb, D);
    if (st == FACET_OK)
        st = init_metric(&L);
    if (st == FACET_OK)
        st = learner_run(&L);
    learner_free(&L);
    if (st != FACET_OK) {
        face_metric_free(out);
        return st;
    }
    return FACET_OK;
}

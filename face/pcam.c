// pcam.c - PCAM maps, map statistics, Eq. 9 ranking, look-alike scores
// and the per-part majority rule (face/pcam.h has the conventions).
//
// Every sum is taken in double in a fixed order: PCAM over channels in
// increasing z, the norms of Eqs. 9, 11 and 12 over the D entries in
// storage order, part sums over pixels in raster order. The OpenMP loops
// give each portrait to one thread, which computes all of its sums, so
// the results are the same for any thread count.
//
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face?", CGF 2019,
//      Eqs. 4-5, 9, 11-12, sections 4.5 and 5.1
// ref: method-spec sections 4.3-4.5
//
// Limitations:
// - face_rank_portraits and the look-alike scores hold the n per-portrait
//   terms only; the feature maps stay the caller's (n pointers to D
//   floats each).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pcam.h"

#ifdef _OPENMP
#include <omp.h>
#endif

// Which term of a norm: ||(m - 1) . g||, ||m . (g_rep - g)|| or
// ||g_rep - g||.
typedef enum term_kind { TERM_REP, TERM_LOOK, TERM_L2 } term_kind;

// Size of a Z x H x W map, or 0 when a dimension is < 1 or it overflows.
static size_t map_size(int Z, int H, int W)
{
    size_t d;

    if (Z < 1 || H < 1 || W < 1)
        return 0;
    if (!facet_size_mul(&d, (size_t)Z, (size_t)H) ||
        !facet_size_mul(&d, d, (size_t)W))
        return 0;
    return d;
}

facet_status face_pcam_map(float *map, const float *m_row, float scale,
                           const float *f, int Z, int H, int W)
{
    static const char fn[] = "pcam_map";
    size_t hw;

    if (!map || !m_row || !f)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (!map_size(Z, H, W))
        return facet_fail(FACET_E_ARG, "%s: bad map size %d x %d x %d", fn,
                          Z, H, W);
    if (!(scale > 0.0f) || !isfinite(scale))
        return facet_fail(FACET_E_ARG, "%s: scale %g is not > 0", fn,
                          (double)scale);
    hw = (size_t)H * (size_t)W;

    double *F = facet_alloc((size_t)Z * sizeof *F);
    if (!F)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);

    // Eq. 4: F_z = mean over the plane of m g, g = f / s.
    double inv_s = 1.0 / scale;
    for (int z = 0; z < Z; z++) {
        const float *m = m_row + (size_t)z * hw;
        const float *p = f + (size_t)z * hw;
        double acc = 0.0;
        for (size_t i = 0; i < hw; i++)
            acc += (double)m[i] * (p[i] * inv_s);
        F[z] = acc / (double)hw;
    }

    // Eq. 5: PCAM(h, w) = sum_z F_z m g, channels in increasing z.
    for (size_t i = 0; i < hw; i++) {
        double acc = 0.0;
        for (int z = 0; z < Z; z++) {
            size_t at = (size_t)z * hw + i;
            acc += F[z] * ((double)m_row[at] * (f[at] * inv_s));
        }
        map[i] = (float)acc;
    }
    facet_free(F);
    return FACET_OK;
}

// Source coordinate of destination pixel `x` (pixel centres aligned),
// clamped to the border: lower index, upper index, weight of the upper.
static void sample_at(int *i0, int *i1, double *t, int x, int dn, int sn)
{
    double s = ((double)x + 0.5) * (double)sn / (double)dn - 0.5;

    if (s < 0.0)
        s = 0.0;
    if (s > (double)(sn - 1))
        s = (double)(sn - 1);
    *i0 = (int)floor(s);
    *i1 = *i0 + 1 < sn ? *i0 + 1 : sn - 1;
    *t = s - (double)*i0;
}

facet_status face_map_upsample(float *dst, int dh, int dw, const float *src,
                               int sh, int sw)
{
    static const char fn[] = "map_upsample";

    if (!dst || !src)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (!map_size(1, dh, dw) || !map_size(1, sh, sw))
        return facet_fail(FACET_E_ARG, "%s: bad sizes %d x %d -> %d x %d",
                          fn, sh, sw, dh, dw);

    // Each destination pixel from its four source neighbours.
    for (int y = 0; y < dh; y++) {
        int y0, y1;
        double ty;
        sample_at(&y0, &y1, &ty, y, dh, sh);
        const float *r0 = src + (size_t)y0 * sw;
        const float *r1 = src + (size_t)y1 * sw;
        for (int x = 0; x < dw; x++) {
            int x0, x1;
            double tx;
            sample_at(&x0, &x1, &tx, x, dw, sw);
            double top = (1.0 - tx) * r0[x0] + tx * r0[x1];
            double bot = (1.0 - tx) * r1[x0] + tx * r1[x1];
            dst[(size_t)y * dw + x] = (float)((1.0 - ty) * top + ty * bot);
        }
    }
    return FACET_OK;
}

facet_status face_map_normalize(float *map, size_t n)
{
    static const char fn[] = "map_normalize";

    if (!map || n == 0)
        return facet_fail(FACET_E_ARG, "%s: NULL or empty map", fn);

    // Range, rejecting non-finite values.
    float lo = map[0], hi = map[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i]))
            return facet_fail(FACET_E_ARG, "%s: value %zu is not finite", fn,
                              i);
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }

    // (v - min) / (max - min); a constant map has no range: all 0.
    double range = (double)hi - (double)lo;
    for (size_t i = 0; i < n; i++)
        map[i] = range > 0.0 ? (float)(((double)map[i] - lo) / range) : 0.0f;
    return FACET_OK;
}

facet_status face_map_binarize(uint8_t *mask, const float *map, size_t n,
                               float thr)
{
    if (!mask || !map)
        return facet_fail(FACET_E_ARG, "map_binarize: NULL argument");
    if (!isfinite(thr))
        return facet_fail(FACET_E_ARG, "map_binarize: threshold %g is not "
                          "finite", (double)thr);
    for (size_t i = 0; i < n; i++)
        mask[i] = map[i] >= thr;
    return FACET_OK;
}

facet_status face_map_jaccard(double *j, const uint8_t *a, const uint8_t *b,
                              size_t n)
{
    size_t inter = 0, uni = 0;

    if (!j || !a || !b)
        return facet_fail(FACET_E_ARG, "map_jaccard: NULL argument");
    for (size_t i = 0; i < n; i++) {
        inter += a[i] && b[i];
        uni += a[i] || b[i];
    }
    *j = uni ? 100.0 * (double)inter / (double)uni : 100.0;
    return FACET_OK;
}

// Check a feature set of n portraits; `need_m`: the metric row is used.
static facet_status check_feats(const char *fn, const char *what,
                                const face_feat_set *s, int n, int need_m)
{
    if (!s)
        return facet_fail(FACET_E_ARG, "%s: %s set is NULL", fn, what);
    if (s->d < 1)
        return facet_fail(FACET_E_ARG, "%s: %s features have D = 0", fn,
                          what);
    if (need_m && !s->m_ind)
        return facet_fail(FACET_E_ARG, "%s: %s metric row is NULL", fn,
                          what);
    if (!(s->scale > 0.0f) || !isfinite(s->scale))
        return facet_fail(FACET_E_ARG, "%s: %s scale %g is not > 0", fn,
                          what, (double)s->scale);
    if (!s->f)
        return facet_fail(FACET_E_ARG, "%s: %s features are NULL", fn,
                          what);
    for (int k = 0; k < n; k++)
        if (!s->f[k])
            return facet_fail(FACET_E_ARG, "%s: %s features of portrait %d "
                              "are NULL", fn, what, k);
    return FACET_OK;
}

// One norm (see term_kind) for portrait k, divided by the scale at the
// end: ||v / s|| = ||v|| / s.
static double term(const face_feat_set *s, const float *rep, int k,
                   term_kind kind)
{
    const float *g = s->f[k];
    const float *m = s->m_ind;
    double acc = 0.0;

    switch (kind) {
    case TERM_REP:
        for (size_t i = 0; i < s->d; i++) {
            double v = ((double)m[i] - 1.0) * g[i];
            acc += v * v;
        }
        break;
    case TERM_LOOK:
        for (size_t i = 0; i < s->d; i++) {
            double v = (double)m[i] * ((double)rep[i] - g[i]);
            acc += v * v;
        }
        break;
    case TERM_L2:
        for (size_t i = 0; i < s->d; i++) {
            double v = (double)rep[i] - g[i];
            acc += v * v;
        }
        break;
    }
    return sqrt(acc) / (double)s->scale;
}

// out[k] = term(k) for k < n, one portrait per thread at a time. The
// caller checks the result for non-finite values.
static void terms(double *out, const face_feat_set *s, const float *rep,
                  int n, term_kind kind)
{
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < n; k++)
        out[k] = term(s, rep, k, kind);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

// Median of n finite values (mean of the two middle ones for even n);
// `tmp`: n doubles of scratch.
static double median(const double *v, double *tmp, int n)
{
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

// Check nu: >= 0 and finite, or FACE_NU_AUTO.
static facet_status check_nu(const char *fn, double nu)
{
    if (nu == FACE_NU_AUTO || (nu >= 0.0 && isfinite(nu)))
        return FACET_OK;
    return facet_fail(FACET_E_ARG, "%s: nu = %g is not >= 0 (or "
                      "FACE_NU_AUTO)", fn, nu);
}

// First non-finite entry of v, or -1.
static int non_finite(const double *v, int n)
{
    for (int k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return k;
    return -1;
}

// The shared part of Eqs. 9 and 11: the two terms, nu, the sum.
// tf, th: n doubles of scratch (th unused without hair).
static facet_status combine(double *score, double *nu_used, double *tf,
                            double *th, const char *fn,
                            const face_feat_set *face, const float *f_rep,
                            const face_feat_set *hair, const float *fh_rep,
                            int n, double nu, term_kind kind)
{
    int bad;

    // The face term and, with hair, the hair term of every portrait.
    terms(tf, face, f_rep, n, kind);
    if ((bad = non_finite(tf, n)) >= 0)
        return facet_fail(FACET_E_ARG, "%s: the face term of portrait %d is "
                          "not finite", fn, bad);
    if (!hair) {
        for (int k = 0; k < n; k++)
            score[k] = tf[k];
        if (nu_used)
            *nu_used = 0.0;
        return FACET_OK;
    }
    terms(th, hair, fh_rep, n, kind);
    if ((bad = non_finite(th, n)) >= 0)
        return facet_fail(FACET_E_ARG, "%s: the hair term of portrait %d is "
                          "not finite", fn, bad);

    // nu: given, or the ratio of the medians (method-spec 4.4).
    if (nu == FACE_NU_AUTO) {
        double mf = median(tf, score, n);
        double mh = median(th, score, n);
        if (!(mh > 0.0))
            return facet_fail(FACET_E_ARG, "%s: the median hair term is 0, "
                              "so nu cannot be derived; pass nu", fn);
        nu = mf / mh;
    }
    for (int k = 0; k < n; k++)
        score[k] = tf[k] + nu * th[k];
    if (nu_used)
        *nu_used = nu;
    return FACET_OK;
}

facet_status face_rank_portraits(double *score, int *order, double *nu_used,
                                 double *face_term, double *hair_term,
                                 const face_feat_set *face,
                                 const face_feat_set *hair, int n,
                                 double nu)
{
    static const char fn[] = "rank_portraits";
    facet_status st;

    if (!score || !order)
        return facet_fail(FACET_E_ARG, "%s: NULL output", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: no portraits (n = %d)", fn, n);
    if ((st = check_nu(fn, nu)) != FACET_OK ||
        (st = check_feats(fn, "face", face, n, 1)) != FACET_OK ||
        (hair && (st = check_feats(fn, "hair", hair, n, 1)) != FACET_OK))
        return st;

    // Terms into the caller's arrays when given, else into scratch.
    double *tmp = facet_alloc(2 * (size_t)n * sizeof *tmp);
    if (!tmp)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    double *tf = face_term ? face_term : tmp;
    double *th = hair_term ? hair_term : tmp + n;
    st = combine(score, nu_used, tf, th, fn, face, NULL, hair, NULL, n, nu,
                 TERM_REP);
    facet_free(tmp);
    if (st != FACET_OK)
        return st;
    if (!hair && hair_term)
        memset(hair_term, 0, (size_t)n * sizeof *hair_term);
    return face_rank_order(order, score, n);
}

// Identity ranking, face term: 1 - cos(d_k, dbar) with dbar the mean of
// the L2-normalised descriptors. inv: n doubles of scratch.
static facet_status identity_face_terms(double *tf, const char *fn,
                                        const float *const *desc, size_t dd,
                                        int n, double *inv)
{
    double *mean = facet_alloc(dd * sizeof *mean), mm = 0.0;
    int bad = -1;

    if (!mean)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);

    // 1 / ||d_k||, each in its own loop (any thread count, same bits).
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < n; k++) {
        double acc = 0.0;
        for (size_t i = 0; i < dd; i++)
            acc += (double)desc[k][i] * desc[k][i];
        inv[k] = acc > 0.0 && isfinite(acc) ? 1.0 / sqrt(acc) : 0.0;
    }
    for (int k = 0; k < n && bad < 0; k++)
        if (!(inv[k] > 0.0))
            bad = k;
    if (bad >= 0) {
        facet_free(mean);
        return facet_fail(FACET_E_ARG, "%s: the descriptor of portrait %d "
                          "is zero or not finite", fn, bad);
    }

    // dbar: per component, the portraits in increasing k.
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (size_t i = 0; i < dd; i++) {
        double acc = 0.0;
        for (int k = 0; k < n; k++)
            acc += desc[k][i] * inv[k];
        mean[i] = acc / (double)n;
    }
    for (size_t i = 0; i < dd; i++)
        mm += mean[i] * mean[i];
    if (!(mm > 0.0)) {
        facet_free(mean);
        return facet_fail(FACET_E_ARG, "%s: the mean descriptor is zero", fn);
    }
    mm = 1.0 / sqrt(mm);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < n; k++) {
        double dot = 0.0;
        for (size_t i = 0; i < dd; i++)
            dot += (double)desc[k][i] * mean[i];
        tf[k] = 1.0 - dot * inv[k] * mm;
    }
    facet_free(mean);
    return FACET_OK;
}

// Identity ranking, hair term: ||m . (g_k - gbar)||_2, g = f / s.
static facet_status identity_hair_terms(double *th, const char *fn,
                                        const face_feat_set *h, int n)
{
    double *mean = facet_alloc(h->d * sizeof *mean);

    if (!mean)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (size_t i = 0; i < h->d; i++) {
        double acc = 0.0;
        for (int k = 0; k < n; k++)
            acc += h->f[k][i];
        mean[i] = acc / (double)n;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < n; k++) {
        double acc = 0.0;
        for (size_t i = 0; i < h->d; i++) {
            double v = (double)h->m_ind[i] * ((double)h->f[k][i] - mean[i]);
            acc += v * v;
        }
        th[k] = sqrt(acc) / (double)h->scale;
    }
    facet_free(mean);
    return FACET_OK;
}

facet_status face_rank_identity(double *score, int *order, double *nu_used,
                                double *face_term, double *hair_term,
                                const float *const *desc, size_t desc_dim,
                                const face_feat_set *hair, int n, double nu)
{
    static const char fn[] = "rank_identity";
    facet_status st;
    int bad;

    if (!score || !order)
        return facet_fail(FACET_E_ARG, "%s: NULL output", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: no portraits (n = %d)", fn, n);
    if (!desc || desc_dim < 1)
        return facet_fail(FACET_E_ARG, "%s: no descriptors", fn);
    for (int k = 0; k < n; k++)
        if (!desc[k])
            return facet_fail(FACET_E_ARG, "%s: descriptor of portrait %d "
                              "is NULL", fn, k);
    if ((st = check_nu(fn, nu)) != FACET_OK ||
        (hair && (st = check_feats(fn, "hair", hair, n, 1)) != FACET_OK))
        return st;

    double *tmp = facet_alloc(3 * (size_t)n * sizeof *tmp);
    if (!tmp)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    double *tf = face_term ? face_term : tmp;
    double *th = hair_term ? hair_term : tmp + n;

    st = identity_face_terms(tf, fn, desc, desc_dim, n, tmp + 2 * (size_t)n);
    if (!st && hair)
        st = identity_hair_terms(th, fn, hair, n);
    if (!st && (bad = non_finite(tf, n)) >= 0)
        st = facet_fail(FACET_E_ARG, "%s: the face term of portrait %d is "
                        "not finite", fn, bad);
    if (!st && hair && (bad = non_finite(th, n)) >= 0)
        st = facet_fail(FACET_E_ARG, "%s: the hair term of portrait %d is "
                        "not finite", fn, bad);
    if (!st && !hair) {
        nu = 0.0;
        if (hair_term)
            memset(hair_term, 0, (size_t)n * sizeof *hair_term);
    } else if (!st && nu == FACE_NU_AUTO) {
        // nu: the ratio of the medians, as for Eq. 9.
        double mf = median(tf, score, n), mh = median(th, score, n);
        if (!(mh > 0.0))
            st = facet_fail(FACET_E_ARG, "%s: the median hair term is 0, "
                            "so nu cannot be derived; pass nu", fn);
        else
            nu = mf / mh;
    }
    if (!st) {
        for (int k = 0; k < n; k++)
            score[k] = tf[k] + (hair ? nu * th[k] : 0.0);
        if (nu_used)
            *nu_used = nu;
    }
    facet_free(tmp);
    return st ? st : face_rank_order(order, score, n);
}

facet_status face_lookalike_scores(double *score, double *nu_used,
                                   const face_feat_set *face,
                                   const float *f_rep,
                                   const face_feat_set *hair,
                                   const float *fh_rep, int n, double nu)
{
    static const char fn[] = "lookalike_scores";
    facet_status st;

    if (!score || !f_rep)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: no candidates (n = %d)", fn, n);
    if (!hair != !fh_rep)
        return facet_fail(FACET_E_ARG, "%s: hair set and hair features of "
                          "the representative portrait go together", fn);
    if ((st = check_nu(fn, nu)) != FACET_OK ||
        (st = check_feats(fn, "face", face, n, 1)) != FACET_OK ||
        (hair && (st = check_feats(fn, "hair", hair, n, 1)) != FACET_OK))
        return st;

    double *tmp = facet_alloc(2 * (size_t)n * sizeof *tmp);
    if (!tmp)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    st = combine(score, nu_used, tmp, tmp + n, fn, face, f_rep, hair, fh_rep,
                 n, nu, TERM_LOOK);
    facet_free(tmp);
    return st;
}

facet_status face_lookalike_l2(double *score, const face_feat_set *face,
                               const float *f_rep, int n)
{
    static const char fn[] = "lookalike_l2";
    facet_status st;
    int bad;

    if (!score || !f_rep)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: no candidates (n = %d)", fn, n);
    if ((st = check_feats(fn, "face", face, n, 0)) != FACET_OK)
        return st;
    terms(score, face, f_rep, n, TERM_L2);
    if ((bad = non_finite(score, n)) >= 0)
        return facet_fail(FACET_E_ARG, "%s: the distance of candidate %d is "
                          "not finite", fn, bad);
    return FACET_OK;
}

// qsort context for face_rank_order: (score, index) pairs.
typedef struct ranked {
    double score;
    int index;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

facet_status face_rank_order(int *order, const double *score, int n)
{
    static const char fn[] = "rank_order";

    if (!order || !score)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: n = %d < 1", fn, n);
    for (int k = 0; k < n; k++)
        if (isnan(score[k]))
            return facet_fail(FACET_E_ARG, "%s: score %d is NaN", fn, k);

    // Sort (score, index): the index breaks ties, so the order is total.
    ranked *r = facet_alloc((size_t)n * sizeof *r);
    if (!r)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    for (int k = 0; k < n; k++) {
        r[k].score = score[k];
        r[k].index = k;
    }
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int k = 0; k < n; k++)
        order[k] = r[k].index;
    facet_free(r);
    return FACET_OK;
}

facet_status face_part_scores(face_part_score *out, const float *map,
                              const uint8_t *labels, int h, int w)
{
    static const char fn[] = "part_scores";

    if (!out || !map || !labels)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (!map_size(1, h, w))
        return facet_fail(FACET_E_ARG, "%s: bad size %d x %d", fn, h, w);
    size_t n = (size_t)h * (size_t)w;

    // Sum and count per label, pixels in raster order.
    face_part_score s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= FACE_PART_COUNT)
            return facet_fail(FACET_E_ARG, "%s: label %d at pixel (%zu, "
                              "%zu) is not a face_part", fn, labels[i],
                              i % (size_t)w, i / (size_t)w);
        s.sum[labels[i]] += map[i];
        s.area[labels[i]]++;
    }
    for (int p = 0; p < FACE_PART_COUNT; p++)
        s.mean[p] = s.area[p] ? s.sum[p] / (double)s.area[p] : 0.0;
    *out = s;
    return FACET_OK;
}

facet_status face_part_scores_portrait(face_part_score *out,
                                       const float *face_map,
                                       const uint8_t *face_labels, int fh,
                                       int fw, const float *hair_map,
                                       const uint8_t *hair_labels, int hh,
                                       int hw)
{
    face_part_score s, sh;
    facet_status st;

    if (!out)
        return facet_fail(FACET_E_ARG, "part_scores_portrait: NULL output");
    if (!hair_map != !hair_labels)
        return facet_fail(FACET_E_ARG, "part_scores_portrait: the hair map "
                          "and its labels go together");

    // Every part from the face frame; hair from its own frame if given.
    if ((st = face_part_scores(&s, face_map, face_labels, fh, fw)) !=
        FACET_OK)
        return st;
    if (hair_map) {
        if ((st = face_part_scores(&sh, hair_map, hair_labels, hh, hw)) !=
            FACET_OK)
            return st;
        s.sum[FACE_PART_HAIR] = sh.sum[FACE_PART_HAIR];
        s.mean[FACE_PART_HAIR] = sh.mean[FACE_PART_HAIR];
        s.area[FACE_PART_HAIR] = sh.area[FACE_PART_HAIR];
    }
    *out = s;
    return FACET_OK;
}

// The statistic the decisions compare.
static double stat_of(const face_part_score *s, int p, face_part_stat stat)
{
    return stat == FACE_PART_MEAN ? s->mean[p] : s->sum[p];
}

facet_status face_part_decide(face_part_decision out[FACE_PART_COUNT],
                              const face_part_score *rep,
                              const face_part_score *others, int n,
                              face_part_stat stat)
{
    static const char fn[] = "part_decide";

    if (!out || !rep || !others)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (n < 1)
        return facet_fail(FACET_E_ARG, "%s: no portraits of P_arb (n = %d)",
                          fn, n);
    if (stat != FACE_PART_SUM && stat != FACE_PART_MEAN)
        return facet_fail(FACET_E_ARG, "%s: unknown statistic %d", fn,
                          (int)stat);

    // Count, per part, the Q that P_rep beats strictly and the ties.
    face_part_decision d[FACE_PART_COUNT];
    for (int p = 0; p < FACE_PART_COUNT; p++) {
        double r = stat_of(rep, p, stat);
        if (isnan(r))
            return facet_fail(FACET_E_ARG, "%s: the representative "
                              "portrait's score of part %d is NaN", fn, p);
        d[p].score = r;
        d[p].beaten = d[p].ties = 0;
        for (int q = 0; q < n; q++) {
            double v = stat_of(&others[q], p, stat);
            if (isnan(v))
                return facet_fail(FACET_E_ARG, "%s: the score of part %d "
                                  "of P_arb portrait %d is NaN", fn, p, q);
            d[p].beaten += r > v;
            d[p].ties += r == v;
        }
        d[p].frac_beaten = (double)d[p].beaten / (double)n;
        d[p].characteristic = 2 * (int64_t)d[p].beaten > (int64_t)n;
    }
    memcpy(out, d, sizeof d);
    return FACET_OK;
}

unsigned face_part_decision_mask(const face_part_decision d[FACE_PART_COUNT])
{
    unsigned mask = 0;

    FACET_ASSERT(d != NULL);
    for (int p = 0; p < FACE_PART_COUNT; p++)
        if (d[p].characteristic)
            mask |= 1u << p;
    return mask & FACE_PART_CHARACTERIZING;
}

unsigned face_part_pair_mask(const face_part_score *a,
                             const face_part_score *b, face_part_stat stat)
{
    unsigned mask = 0;

    FACET_ASSERT(a != NULL && b != NULL);
    for (int p = 0; p < FACE_PART_COUNT; p++)
        if (stat_of(a, p, stat) > stat_of(b, p, stat))
            mask |= 1u << p;
    return mask & FACE_PART_CHARACTERIZING;
}

// The 4 parts of the selection index, bit 0 first.
static const face_part sel4_parts[4] = {
    FACE_PART_NOSE, FACE_PART_MOUTH, FACE_PART_EYES, FACE_PART_BROWS
};

int face_sel4_index(unsigned mask)
{
    int index = 0;

    for (int i = 0; i < 4; i++)
        if (mask & (1u << sel4_parts[i]))
            index |= 1 << i;
    return index;
}

facet_status face_sel4_mask(unsigned *mask, int index)
{
    if (!mask)
        return facet_fail(FACET_E_ARG, "sel4_mask: NULL output");
    if (index < 0 || index > 15)
        return facet_fail(FACET_E_ARG, "sel4_mask: index %d is not in "
                          "0..15", index);
    *mask = 0;
    for (int i = 0; i < 4; i++)
        if (index & (1 << i))
            *mask |= 1u << sel4_parts[i];
    return FACET_OK;
}

// segment.c - Nieuwenhuis-Cremers multilabel segmentation (face/segment.h):
// the Parzen data term over colour x position, the edge weight, an exact
// Euclidean distance transform and the primal-dual solver of the relaxed
// Potts problem.
//
// Data term. For a free pixel x and label i with samples s_1..s_m (the
// scribble pixels, or a seeded subset of them): d = distance from x to the
// nearest sample (exact EDT, d >= 1 since x is not a scribble), rho =
// alpha d, a = 1 / (2 rho^2), and
//   P = a / pi / m * sum_j exp(-(a |x - s_j|^2 + c |I(x) - I(s_j)|^2)),
//   c = 1 / (2 sigma^2).
// Both Gaussians fold into one exp. The sum is the hot loop (pixels x
// labels x samples): samples are sorted by 8 x 8 cells and cut in blocks
// of 8 with a bounding box; a block whose nearest point to x already makes
// the spatial exponent exceed 88 is skipped, since each of its terms would
// come out of expneg() as exactly 0 - the skip changes no bit of the
// result. The 8 terms of a block go to 8 float accumulators (a fixed lane
// order the compiler may turn into vector code without changing a bit),
// summed pairwise at the end, and P, f = -log(P + 1e-30) in double.
//
// Solver (per label i, per pixel; masks cut the edges to excluded pixels,
// and to the outside, so the discrete gradient and -div are adjoint):
//   xi_i  <- clip(xi_i + sigma grad tbar_i, |xi_i| <= lambda g / 2)
//   theta <- proj_simplex(theta + tau (div xi - f))   (fixed: one-hot)
//   tbar  <- 2 theta_new - theta_old
// Both passes update each pixel from the previous arrays only, so the row
// split among threads changes nothing. The energies are summed per row in
// double and the rows in order.
//
// ref: method-spec section 2 (the model, the parameters, the tests)
// ref: C. Nieuwenhuis, D. Cremers, IEEE TPAMI 35(5), 2013
// ref: C. Zach et al., VMV 2008 (the relaxation); A. Chambolle, T. Pock,
//      JMIV 40, 2011 (the iteration); P. Felzenszwalb, D. Huttenlocher,
//      Theory of Computing 8, 2012 (the distance transform)
// ref: W. Wang, M. Carreira-Perpinan, "Projection onto the probability
//      simplex", arXiv 1309.1541, 2013 (the sort-based projection)
//
// Limitations:
// - Scalar C; the compiler vectorises what it can for the baseline ISA.
// - The EDT runs on one thread (it is a small part of the time).
// - The sample subset of a label above max_scribbles is random (seeded,
//   the same on every run), not spread evenly over the scribbles.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"

// Step sizes (tau sigma 8 = 1, the bound for the forward-difference
// gradient) and how often face_seg_solve checks the gap.
#define TAU 0.25f
#define SIGMA 0.5f
enum { CHECK_EVERY = 50 };

// The kernel-sum block, the exponent beyond which expneg() returns 0, and
// the bound on the spatial exponent above which a whole block is skipped
// (a margin over EXP_CUT for the float rounding of both).
enum { BLOCK = 8 };
#define EXP_CUT 87.0f
#define SKIP_CUT 88.0f
// Padding lanes of the last block get this penalty in the exponent.
#define PAD_PENALTY 1e30f

#define PI_D 3.14159265358979323846
#define P_EPS 1e-30
#define ALPHA_MIN 0.4
// Marks a pixel without a site in the distance transform's input; any
// finite value far above a squared distance works (see edt_line).
#define EDT_FAR 1e20
// The seed of the sample subsets: the same for every label, so that
// renumbering the labels permutes the result and changes nothing else.
#define SAMPLE_SEED 0x5e9e7a11ULL

// Below this many pixels the loops run on one thread.
#define PAR_MIN_PIXELS 4096

void face_seg_defaults(face_seg_params *p)
{
    p->color_sigma = 15.0;
    p->alpha = 1.5;
    p->lambda = 8.0;
    p->gamma = 5.0;
    p->max_iter = 1500;
    p->gap_tol = 1e-3;
    p->max_scribbles = 2000;
}

// ---------------------------------------------------------------------------
// Argument checks

static facet_status check_size(const char *who, int w, int h)
{
    if (w < 1 || h < 1 || w > FACE_SEG_MAX_SIDE || h > FACE_SEG_MAX_SIDE)
        return facet_fail(FACET_E_ARG, "%s: image size %d x %d out of range "
                          "(1..%d)", who, w, h, FACE_SEG_MAX_SIDE);
    if ((int64_t)w * h > FACE_SEG_MAX_PIXELS)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %d x %d pixels exceed the "
                          "cap of %d", who, w, h, FACE_SEG_MAX_PIXELS);
    return FACET_OK;
}

// Seed values in {0, 1..n, 255}; with need_all, every label has at least
// one scribble. counts (n entries, may be NULL) receives the counts.
static facet_status check_seeds(const char *who, const uint8_t *seeds,
                                int w, int h, int n, int need_all,
                                size_t *counts)
{
    size_t cnt[FACE_SEG_MAX_LABELS + 1] = {0};
    size_t np = (size_t)w * h;

    for (size_t p = 0; p < np; p++) {
        int v = seeds[p];

        if (v == FACE_SEG_EXCLUDED)
            continue;
        if (v > n)
            return facet_fail(FACET_E_ARG, "%s: seed %d at pixel (%d, %d) "
                              "is neither 0, a label 1..%d nor %d", who, v,
                              (int)(p % (size_t)w), (int)(p / (size_t)w),
                              n, FACE_SEG_EXCLUDED);
        cnt[v]++;
    }
    for (int i = 0; i < n; i++) {
        if (need_all && cnt[i + 1] == 0)
            return facet_fail(FACET_E_ARG, "%s: label %d (seed value %d) "
                              "has no scribble pixel", who, i, i + 1);
        if (counts)
            counts[i] = cnt[i + 1];
    }
    return FACET_OK;
}

static int in_range(double v, double lo, double hi)
{
    return v >= lo && v <= hi;  // false for NaN
}

static facet_status check_params(const char *who, const face_seg_params *p)
{
    if (!in_range(p->color_sigma, 0.01, 1e4))
        return facet_fail(FACET_E_ARG, "%s: color_sigma %g out of range "
                          "(0.01..1e4)", who, p->color_sigma);
    if (!in_range(p->alpha, 0.0, 1e6) || p->alpha == 0.0)
        return facet_fail(FACET_E_ARG, "%s: alpha %g out of range "
                          "(0..1e6]", who, p->alpha);
    if (!in_range(p->lambda, 0.0, 1e8))
        return facet_fail(FACET_E_ARG, "%s: lambda %g out of range "
                          "(0..1e8)", who, p->lambda);
    if (!in_range(p->gamma, 0.0, 1e3))
        return facet_fail(FACET_E_ARG, "%s: gamma %g out of range "
                          "(0..1e3)", who, p->gamma);
    if (p->max_iter < 0)
        return facet_fail(FACET_E_ARG, "%s: max_iter %d < 0", who,
                          p->max_iter);
    if (!in_range(p->gap_tol, 0.0, 1e300))
        return facet_fail(FACET_E_ARG, "%s: gap_tol %g out of range", who,
                          p->gap_tol);
    if (p->max_scribbles < 1)
        return facet_fail(FACET_E_ARG, "%s: max_scribbles %d < 1", who,
                          p->max_scribbles);
    return FACET_OK;
}

// The checks face_segment and face_seg_dataterm share.
static facet_status check_segment_args(const char *who, const void *out,
                                       const uint8_t *rgb, int w, int h,
                                       size_t stride, const uint8_t *seeds,
                                       int nlabels, const face_seg_params *p,
                                       size_t *counts)
{
    facet_status st;

    if (!out || !rgb || !seeds || !p)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", who);
    if (nlabels < 2 || nlabels > FACE_SEG_MAX_LABELS)
        return facet_fail(FACET_E_ARG, "%s: nlabels %d out of range "
                          "(2..%d)", who, nlabels, FACE_SEG_MAX_LABELS);
    if ((st = check_size(who, w, h)) != FACET_OK)
        return st;
    if (stride < (size_t)3 * w)
        return facet_fail(FACET_E_ARG, "%s: stride %zu < 3 x width %d", who,
                          stride, w);
    if ((st = check_params(who, p)) != FACET_OK)
        return st;
    return check_seeds(who, seeds, w, h, nlabels, 1, counts);
}

// ---------------------------------------------------------------------------
// Float helpers

// Float bit patterns as integers: for v >= 0 their order is the order of
// the values, and integer compares do not trap (float ones may, which
// keeps the compiler from vectorising a loop).
static inline int32_t fbits(float v)
{
    int32_t b;

    memcpy(&b, &v, sizeof b);
    return b;
}

static inline float bitsf(int32_t b)
{
    float v;

    memcpy(&v, &b, sizeof v);
    return v;
}

// 1 / sqrt(v), v >= 0: the bit-trick first guess (3.5% off) and three
// Newton steps (to float rounding). Finite for v = 0. sqrtf() would keep
// the loop scalar (errno).
static inline float rsqrt_nr(float v)
{
    float y = bitsf(0x5f3759df - (fbits(v) >> 1)), h = 0.5f * v;

    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    return y;
}

// Clamp to [0, 1] on the bit pattern (negative values have negative
// patterns).
static inline float clamp01(float v)
{
    int32_t b = fbits(v), one = fbits(1.0f);

    b = b < 0 ? 0 : b;
    return bitsf(b > one ? one : b);
}

// Two labels: the projection of (u0, u1) is ((1 + d) / 2, (1 - d) / 2),
// d = u0 - u1, clamped to [0, 1]; written symmetrically so that swapping
// the labels swaps the result bit for bit.
static inline void project2(float *t0, float *t1, float u0, float u1)
{
    float d = u0 - u1;

    *t0 = clamp01((1.0f + d) * 0.5f);
    *t1 = clamp01((1.0f - d) * 0.5f);
}

// ---------------------------------------------------------------------------
// Exact squared Euclidean distance transform

// One line: line[q] <- min_r (line[r] + (q - r)^2), the lower envelope of
// the parabolas rooted at each r. v: the envelope's parabolas, z: the
// boundaries between them (n + 1), tmp: n values. Entries of EDT_FAR
// (no site) only ever meet each other in a cancelling difference; the
// parabolas of finite entries never lose to them, and a finite result is
// exact: it is an integer computed from integers, and a rounded boundary
// only moves a tie between two parabolas of equal integer value.
static void edt_line(double *line, int n, int *v, double *z, double *tmp)
{
    int k = 0;

    // Build the lower envelope left to right.
    v[0] = 0;
    z[0] = -HUGE_VAL;
    z[1] = HUGE_VAL;
    for (int q = 1; q < n; q++) {
        double fq = line[q] + (double)q * q, s;

        for (;;) {
            int r = v[k];

            s = (fq - (line[r] + (double)r * r)) / (2.0 * (q - r));
            if (s > z[k])
                break;
            k--;  // stops at k = 0 at the latest: z[0] = -inf
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = HUGE_VAL;
    }

    // Read it off at each integer position.
    k = 0;
    for (int q = 0; q < n; q++) {
        double d;

        while (z[k + 1] < q)
            k++;
        d = q - v[k];
        tmp[q] = d * d + line[v[k]];
    }
    memcpy(line, tmp, (size_t)n * sizeof *line);
}

// d2 (w x h) holds 0 at sites and EDT_FAR elsewhere; transforms it in
// place. scratch: 3 max(w, h) + 1 doubles and max(w, h) ints.
static void edt_2d(double *d2, int w, int h, double *dscr, int *iscr)
{
    int m = w > h ? w : h;
    double *line = dscr, *z = dscr + m, *tmp = dscr + 2 * m + 1;

    // Columns, then rows.
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++)
            line[y] = d2[(size_t)y * w + x];
        edt_line(line, h, iscr, z, tmp);
        for (int y = 0; y < h; y++)
            d2[(size_t)y * w + x] = line[y];
    }
    for (int y = 0; y < h; y++)
        edt_line(d2 + (size_t)y * w, w, iscr, z, tmp);
}

facet_status face_seg_sqdist(double *d2, const uint8_t *sites, int w, int h)
{
    const char *who = "face_seg_sqdist";
    facet_status st;
    size_t np, any = 0;
    double *dscr;
    int *iscr, m;

    if (!d2 || !sites)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", who);
    if ((st = check_size(who, w, h)) != FACET_OK)
        return st;
    np = (size_t)w * h;
    m = w > h ? w : h;

    for (size_t p = 0; p < np; p++) {
        d2[p] = sites[p] ? 0.0 : EDT_FAR;
        any += sites[p] != 0;
    }
    if (!any) {
        for (size_t p = 0; p < np; p++)
            d2[p] = HUGE_VAL;
        return FACET_OK;
    }

    dscr = facet_alloc((3 * (size_t)m + 1) * sizeof *dscr);
    iscr = facet_alloc((size_t)m * sizeof *iscr);
    if (!dscr || !iscr) {
        facet_free(dscr);
        facet_free(iscr);
        return facet_fail(FACET_E_NOMEM, "%s: %d x %d", who, w, h);
    }
    edt_2d(d2, w, h, dscr, iscr);
    facet_free(dscr);
    facet_free(iscr);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Data term

// exp(-t) for t >= 0 in float: 0 beyond EXP_CUT; else 2^n e^r with n the
// nearest integer to -t log2(e), r = -t - n ln 2 in two parts (the first
// has 9 significant bits, so n times it is exact and the subtraction
// nearly so) and e^r by its Taylor polynomial of degree 7 (|r| <= 0.35:
// truncation below 5e-9). Within 2 float ulps of exp(-t) for the float t.
// The clamp and the cut compare bit patterns (t >= 0), so that a loop over
// this function vectorises.
static inline float expneg(float t)
{
    const float log2e = 1.44269504f, magic = 12582912.0f;  // 1.5 * 2^23
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    int32_t tb = fbits(t), cb = fbits(EXP_CUT);
    int32_t keep = -(int32_t)(tb <= cb);
    float tc = bitsf(tb < cb ? tb : cb), n, r, q, v;

    // n in -126..0, then e^r.
    n = (tc * -log2e + magic) - magic;
    r = (-tc - n * ln2_hi) - n * ln2_lo;
    q = 1.0f / 5040;
    q = q * r + 1.0f / 720;
    q = q * r + 1.0f / 120;
    q = q * r + 1.0f / 24;
    q = q * r + 1.0f / 6;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;

    // Times 2^n (a normal float), zeroed beyond the cut.
    v = q * bitsf((int32_t)((uint32_t)((int32_t)n + 127) << 23));
    return bitsf(fbits(v) & keep);
}

// The samples of one label, structure of arrays padded to whole blocks.
typedef struct samples {
    int m;        // samples (the 1/m of the Parzen estimate)
    int nb;       // blocks of BLOCK
    float *x, *y, *r, *g, *b, *pen;  // nb * BLOCK each; pen: 0 or padding
    float *box;   // nb x 4: x0, x1, y0, y1 over the block's real samples
    float *mem;
} samples;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

// Choose label `label`'s samples (all its m_all scribble pixels, or a
// seeded subset of max_s), sort them by 8 x 8 cell, fill s and mark them
// in `site` (w x h, cleared by the caller). keys: m_all scratch.
static facet_status pick_samples(samples *s, uint8_t *site, uint64_t *keys,
                                 const uint8_t *rgb, size_t stride,
                                 const uint8_t *seeds, int w, int h,
                                 int label, size_t m_all, int max_s)
{
    size_t np = (size_t)w * h, k = 0, cells_w = ((size_t)w + 7) / 8;
    size_t m = m_all < (size_t)max_s ? m_all : (size_t)max_s;
    size_t nfl;

    // The label's scribble pixels in raster order, then a partial
    // Fisher-Yates shuffle to pick m of them when there are more.
    for (size_t p = 0; p < np; p++)
        if (seeds[p] == label + 1)
            keys[k++] = p;
    FACET_ASSERT(k == m_all);
    if (m < m_all) {
        facet_rng rng;

        facet_rng_seed(&rng, SAMPLE_SEED);
        for (size_t j = 0; j < m; j++) {
            size_t o = j + facet_rng_below(&rng, (uint32_t)(m_all - j));
            uint64_t t = keys[j];

            keys[j] = keys[o];
            keys[o] = t;
        }
    }

    // Sort by (cell row, cell column, row, column): key << 32 | pixel.
    for (size_t j = 0; j < m; j++) {
        size_t p = (size_t)keys[j], x = p % (size_t)w, y = p / (size_t)w;
        uint64_t cell = (uint64_t)(y / 8) * cells_w + x / 8;

        keys[j] = ((cell << 6 | (y % 8) << 3 | (x % 8)) << 32) | p;
    }
    qsort(keys, m, sizeof *keys, cmp_u64);

    // Fill the arrays; padding lanes sit on the last sample, penalised.
    s->m = (int)m;
    s->nb = (int)((m + BLOCK - 1) / BLOCK);
    nfl = (size_t)s->nb * BLOCK;
    s->mem = facet_alloc((6 * nfl + 4 * (size_t)s->nb) * sizeof(float));
    if (!s->mem)
        return facet_fail(FACET_E_NOMEM, "face_seg_dataterm: %zu samples",
                          m);
    s->x = s->mem;
    s->y = s->x + nfl;
    s->r = s->y + nfl;
    s->g = s->r + nfl;
    s->b = s->g + nfl;
    s->pen = s->b + nfl;
    s->box = s->pen + nfl;
    for (size_t j = 0; j < nfl; j++) {
        size_t p = (size_t)(keys[j < m ? j : m - 1] & 0xffffffffu);
        size_t x = p % (size_t)w, y = p / (size_t)w;
        const uint8_t *px = rgb + y * stride + 3 * x;

        s->x[j] = (float)x;
        s->y[j] = (float)y;
        s->r[j] = px[0];
        s->g[j] = px[1];
        s->b[j] = px[2];
        s->pen[j] = j < m ? 0.0f : PAD_PENALTY;
        site[p] = 1;
    }
    for (int bk = 0; bk < s->nb; bk++) {
        float *bx = s->box + 4 * bk;
        size_t j0 = (size_t)bk * BLOCK;

        bx[0] = bx[1] = s->x[j0];
        bx[2] = bx[3] = s->y[j0];
        for (size_t j = j0 + 1; j < j0 + BLOCK && j < m; j++) {
            bx[0] = fminf(bx[0], s->x[j]);
            bx[1] = fmaxf(bx[1], s->x[j]);
            bx[2] = fminf(bx[2], s->y[j]);
            bx[3] = fmaxf(bx[3], s->y[j]);
        }
    }
    return FACET_OK;
}

// sum_j exp(-(a |(px, py) - s_j|^2 + c |(cr, cg, cb) - I_j|^2)) over one
// label's samples; blocks that are all out of reach are skipped (exactly:
// see the file header).
static float kernel_sum(const samples *s, float px, float py, float cr,
                        float cg, float cb, float a, float c)
{
    float acc[BLOCK] = {0};

    for (int bk = 0; bk < s->nb; bk++) {
        const float *bx = s->box + 4 * bk;
        size_t j0 = (size_t)bk * BLOCK;
        const float *sx = s->x + j0, *sy = s->y + j0, *sr = s->r + j0;
        const float *sg = s->g + j0, *sb = s->b + j0, *pen = s->pen + j0;
        float dx = bx[0] > px ? bx[0] - px : px > bx[1] ? px - bx[1] : 0.0f;
        float dy = bx[2] > py ? bx[2] - py : py > bx[3] ? py - bx[3] : 0.0f;

        if (a * (dx * dx + dy * dy) > SKIP_CUT)
            continue;
        for (int l = 0; l < BLOCK; l++) {
            float ex = px - sx[l], ey = py - sy[l];
            float er = cr - sr[l], eg = cg - sg[l], eb = cb - sb[l];
            float t = a * (ex * ex + ey * ey) +
                      c * (er * er + eg * eg + eb * eb) + pen[l];

            acc[l] += expneg(t);
        }
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
           ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// The data term of one row (see face_seg_dataterm). d2: n x np squared
// distances to each label's samples.
static void dataterm_row(float *cost, const uint8_t *rgb, size_t stride,
                         const uint8_t *seeds, int w, size_t np, int n,
                         const samples *smp, const double *d2, double alpha,
                         double sigma, int y)
{
    const float c = (float)(0.5 / (sigma * sigma));
    const double alpha2 = alpha * alpha;

    for (int x = 0; x < w; x++) {
        size_t p = (size_t)y * w + x;
        const uint8_t *px = rgb + (size_t)y * stride + 3 * (size_t)x;
        int sv = seeds[p];

        // Excluded: no cost. Scribble: 0 for its label, the most for the
        // others.
        if (sv == FACE_SEG_EXCLUDED) {
            for (int i = 0; i < n; i++)
                cost[i * np + p] = 0.0f;
            continue;
        }
        if (sv != 0) {
            for (int i = 0; i < n; i++)
                cost[i * np + p] = i == sv - 1 ? 0.0f
                                               : (float)FACE_SEG_COST_MAX;
            continue;
        }

        // Free: rho_i^2 = alpha^2 d_i^2 (>= alpha^2: x is no sample).
        for (int i = 0; i < n; i++) {
            double a = 0.5 / (alpha2 * d2[i * np + p]);
            float sum = kernel_sum(&smp[i], (float)x, (float)y, px[0],
                                   px[1], px[2], (float)a, c);
            double prob = a / PI_D * (double)sum / smp[i].m;

            cost[i * np + p] = (float)-log(prob + P_EPS);
        }
    }
}

// The data term, arguments checked; counts: scribble pixels per label.
static facet_status dataterm(float *cost, const uint8_t *rgb, int w, int h,
                             size_t stride, const uint8_t *seeds, int n,
                             const face_seg_params *prm,
                             const size_t *counts)
{
    size_t np = (size_t)w * h, m_max = 0;
    samples smp[FACE_SEG_MAX_LABELS];
    double alpha = prm->alpha < ALPHA_MIN ? ALPHA_MIN : prm->alpha;
    double *d2 = NULL, *dscr = NULL;
    uint8_t *site = NULL;
    uint64_t *keys = NULL;
    int *iscr = NULL, m = w > h ? w : h;
    facet_status st = FACET_OK;

    memset(smp, 0, sizeof smp);
    for (int i = 0; i < n; i++)
        m_max = counts[i] > m_max ? counts[i] : m_max;
    d2 = facet_alloc((size_t)n * np * sizeof *d2);
    site = facet_alloc(np);
    keys = facet_alloc(m_max * sizeof *keys);
    dscr = facet_alloc((3 * (size_t)m + 1) * sizeof *dscr);
    iscr = facet_alloc((size_t)m * sizeof *iscr);
    if (!d2 || !site || !keys || !dscr || !iscr) {
        st = facet_fail(FACET_E_NOMEM, "face_seg_dataterm: %d x %d, %d "
                        "labels", w, h, n);
        goto done;
    }

    // Each label's samples and the squared distance to the nearest one.
    for (int i = 0; i < n; i++) {
        double *di = d2 + (size_t)i * np;

        memset(site, 0, np);
        st = pick_samples(&smp[i], site, keys, rgb, stride, seeds, w, h, i,
                          counts[i], prm->max_scribbles);
        if (st != FACET_OK)
            goto done;
        for (size_t p = 0; p < np; p++)
            di[p] = site[p] ? 0.0 : EDT_FAR;
        edt_2d(di, w, h, dscr, iscr);
    }

    // The costs, row by row (each pixel on its own: any split will do).
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (np >= PAR_MIN_PIXELS)
#endif
    for (int y = 0; y < h; y++)
        dataterm_row(cost, rgb, stride, seeds, w, np, n, smp, d2, alpha,
                     prm->color_sigma, y);

done:
    for (int i = 0; i < n; i++)
        facet_free(smp[i].mem);
    facet_free(d2);
    facet_free(site);
    facet_free(keys);
    facet_free(dscr);
    facet_free(iscr);
    return st;
}

facet_status face_seg_dataterm(float *cost, const uint8_t *rgb, int w,
                               int h, size_t stride, const uint8_t *seeds,
                               int nlabels, const face_seg_params *p)
{
    size_t counts[FACE_SEG_MAX_LABELS];
    facet_status st;

    st = check_segment_args("face_seg_dataterm", cost, rgb, w, h, stride,
                            seeds, nlabels, p, counts);
    if (st != FACET_OK)
        return st;
    return dataterm(cost, rgb, w, h, stride, seeds, nlabels, p, counts);
}

// ---------------------------------------------------------------------------
// Edge weight

static int excluded_at(const uint8_t *seeds, size_t p)
{
    return seeds && seeds[p] == FACE_SEG_EXCLUDED;
}

// Channel differences to the right / below neighbour (0 at the border and
// across an edge to an excluded pixel).
static void pixel_diffs(int dx[3], int dy[3], const uint8_t *rgb,
                        size_t stride, const uint8_t *seeds, int w, int h,
                        int x, int y)
{
    size_t p = (size_t)y * w + x;
    const uint8_t *c = rgb + (size_t)y * stride + 3 * (size_t)x;
    int right = x + 1 < w && !excluded_at(seeds, p + 1);
    int down = y + 1 < h && !excluded_at(seeds, p + (size_t)w);

    for (int k = 0; k < 3; k++) {
        dx[k] = right ? c[3 + k] - c[k] : 0;
        dy[k] = down ? c[stride + k] - c[k] : 0;
    }
}

facet_status face_seg_edge_weight(float *g, const uint8_t *rgb, int w,
                                  int h, size_t stride, const uint8_t *seeds,
                                  double gamma)
{
    const char *who = "face_seg_edge_weight";
    int max_x = 0, max_y = 0;
    double sx, sy;
    facet_status st;

    if (!g || !rgb)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", who);
    if ((st = check_size(who, w, h)) != FACET_OK)
        return st;
    if (stride < (size_t)3 * w)
        return facet_fail(FACET_E_ARG, "%s: stride %zu < 3 x width %d", who,
                          stride, w);
    if (!in_range(gamma, 0.0, 1e3))
        return facet_fail(FACET_E_ARG, "%s: gamma %g out of range (0..1e3)",
                          who, gamma);

    // The largest difference along x and along y, over the channels.
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int dx[3], dy[3];

            if (excluded_at(seeds, (size_t)y * w + x))
                continue;
            pixel_diffs(dx, dy, rgb, stride, seeds, w, h, x, y);
            for (int k = 0; k < 3; k++) {
                max_x = abs(dx[k]) > max_x ? abs(dx[k]) : max_x;
                max_y = abs(dy[k]) > max_y ? abs(dy[k]) : max_y;
            }
        }
    }
    sx = max_x ? 1.0 / max_x : 1.0;
    sy = max_y ? 1.0 / max_y : 1.0;

    // g = exp(-gamma |normalised gradient|).
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            int dx[3], dy[3];
            double ss = 0.0;

            if (excluded_at(seeds, p)) {
                g[p] = 1.0f;
                continue;
            }
            pixel_diffs(dx, dy, rgb, stride, seeds, w, h, x, y);
            for (int k = 0; k < 3; k++)
                ss += (dx[k] * sx) * (dx[k] * sx) + (dy[k] * sy) * (dy[k] * sy);
            g[p] = (float)exp(-gamma * sqrt(ss));
        }
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Simplex projection

void face_seg_project_simplex(float *v, int n)
{
    float s[FACE_SEG_MAX_LABELS], top, cum = 0.0f, t = 0.0f;

    FACET_ASSERT(v && n >= 1 && n <= FACE_SEG_MAX_LABELS);
    if (n == 1) {
        v[0] = 1.0f;
        return;
    }
    if (n == 2) {
        project2(&v[0], &v[1], v[0], v[1]);
        return;
    }

    // Shift by the largest value (the support lies within 1 of it, where
    // the differences are exact or nearly so), sort descending.
    top = v[0];
    for (int i = 1; i < n; i++)
        top = v[i] > top ? v[i] : top;
    for (int i = 0; i < n; i++) {
        float e = v[i] - top;
        int j = i;

        while (j > 0 && s[j - 1] < e) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = e;
    }

    // The threshold of the largest k with s_k > (sum_{j<=k} s_j - 1) / k.
    for (int k = 0; k < n; k++) {
        float tk;

        cum += s[k];
        tk = (cum - 1.0f) / (float)(k + 1);
        if (s[k] > tk)
            t = tk;
    }
    for (int i = 0; i < n; i++) {
        float e = (v[i] - top) - t;

        v[i] = e > 0.0f ? e : 0.0f;
    }
}

// ---------------------------------------------------------------------------
// Primal-dual solver

struct face_seg_solver {
    int w, h, n;
    size_t np;
    float *theta;   // n x np, the primal variable
    float *tbar;    // n x np, its over-relaxation
    float *xx, *xy; // n x np each, the dual field
    float *cost;    // n x np
    float *pin;     // n x np: 1 at a fixed pixel's label, else 0
    float *fr;      // np: 1 at free pixels, else 0
    float *bound;   // np: lambda g / 2 (0 at excluded pixels)
    float *mx, *my; // np: 1 where the edge to the right / below exists
    float *zero;    // w zeros: the row above the first
    uint8_t *state; // np: 0 free, k + 1 fixed to label k, 255 excluded
    double *rows;   // h x 2 energy partial sums
    void *mem;
};

// The row loops below run in chunks of CHUNK pixels (restrict pointers, a
// fixed count: the compiler turns them into vector code at -O2) and a
// scalar tail, both through the same inline function, so a pixel gets the
// same bits whichever way it is reached (no FMA contraction in ISO C).
enum { CHUNK = 8 };

// One pixel of the dual step: (vx, vy) = xi + sigma (gx, gy), clipped to
// the disc of radius b.
static inline void dual_px(float *vx, float *vy, float gx, float gy,
                           float b)
{
    float ux = *vx + SIGMA * gx, uy = *vy + SIGMA * gy;
    float nn = ux * ux + uy * uy;
    int32_t over = -(int32_t)(fbits(nn) > fbits(b * b));
    float k = b * rsqrt_nr(nn);
    float kk = bitsf((over & fbits(k)) | (~over & fbits(1.0f)));

    *vx = ux * kk;
    *vy = uy * kk;
}

static inline void dual_chunk(float *restrict ax, float *restrict ay,
                              const float *restrict tb,
                              const float *restrict tbd,
                              const float *restrict mx,
                              const float *restrict my,
                              const float *restrict bnd, int cnt)
{
    for (int l = 0; l < cnt; l++) {
        float vx = ax[l], vy = ay[l];

        dual_px(&vx, &vy, mx[l] * (tb[l + 1] - tb[l]),
                my[l] * (tbd[l] - tb[l]), bnd[l]);
        ax[l] = vx;
        ay[l] = vy;
    }
}

// Dual step on one row: xi_i <- clip(xi_i + sigma grad tbar_i). The row
// below is the row itself on the last row (my = 0 there).
static void dual_row(face_seg_solver *s, int y)
{
    int w = s->w, x;
    size_t row = (size_t)y * w;
    const float *bnd = s->bound + row, *mx = s->mx + row, *my = s->my + row;
    int last = y + 1 == s->h;

    for (int i = 0; i < s->n; i++) {
        size_t o = (size_t)i * s->np + row;
        const float *tb = s->tbar + o, *tbd = last ? tb : tb + w;
        float *ax = s->xx + o, *ay = s->xy + o;

        // Columns 0..w-2 (they have a right neighbour), then the last.
        for (x = 0; x + CHUNK <= w - 1; x += CHUNK)
            dual_chunk(ax + x, ay + x, tb + x, tbd + x, mx + x, my + x,
                       bnd + x, CHUNK);
        dual_chunk(ax + x, ay + x, tb + x, tbd + x, mx + x, my + x, bnd + x,
                   w - 1 - x);
        dual_px(ax + w - 1, ay + w - 1, 0.0f,
                my[w - 1] * (tbd[w - 1] - tb[w - 1]), bnd[w - 1]);
    }
}

// u = theta + tau (div xi - f) for one label over pixels with a left
// neighbour; axl = ax - 1, ayu: the row above (zeros on the first row).
static inline void uval_chunk(float *restrict u, const float *restrict th,
                              const float *restrict f,
                              const float *restrict ax,
                              const float *restrict axl,
                              const float *restrict ay,
                              const float *restrict ayu, int cnt)
{
    for (int l = 0; l < cnt; l++) {
        float div = ax[l] - axl[l];

        div = div + ay[l];
        div = div - ayu[l];
        u[l] = th[l] + TAU * (div - f[l]);
    }
}

// theta' = free t + pin (t from the projection; exact for pins and 0 at
// excluded pixels); returns theta', sets *tb = 2 theta' - theta.
static inline float settle(float *tb, float th, float t, float fr, float pin)
{
    float nt = fr * t + pin;

    *tb = 2.0f * nt - th;
    return nt;
}

// Two labels, u parked in tb0 / tb1.
static inline void project2_chunk(float *restrict th0, float *restrict th1,
                                  float *restrict tb0, float *restrict tb1,
                                  const float *restrict fr,
                                  const float *restrict p0,
                                  const float *restrict p1, int cnt)
{
    for (int l = 0; l < cnt; l++) {
        float t0, t1, b0, b1;

        project2(&t0, &t1, tb0[l], tb1[l]);
        th0[l] = settle(&b0, th0[l], t0, fr[l], p0[l]);
        th1[l] = settle(&b1, th1[l], t1, fr[l], p1[l]);
        tb0[l] = b0;
        tb1[l] = b1;
    }
}

// Primal step on one row: theta <- proj(theta + tau (div xi - f)),
// tbar <- 2 theta_new - theta_old.
static void primal_row(face_seg_solver *s, int y)
{
    int w = s->w, n = s->n, x;
    size_t np = s->np, row = (size_t)y * w;
    const float *fr = s->fr + row;

    // u_i = theta_i + tau (div xi_i - f_i), parked in tbar. A missing
    // neighbour (first column, first row) counts as 0, like a cut edge,
    // whose xi stays 0.
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * np + row;
        const float *ax = s->xx + o, *ay = s->xy + o;
        const float *ayu = y > 0 ? ay - w : s->zero;
        const float *th = s->theta + o, *f = s->cost + o;
        float *u = s->tbar + o, zero = 0.0f;

        uval_chunk(u, th, f, ax, &zero, ay, ayu, 1);
        for (x = 1; x + CHUNK <= w; x += CHUNK)
            uval_chunk(u + x, th + x, f + x, ax + x, ax + x - 1, ay + x,
                       ayu + x, CHUNK);
        uval_chunk(u + x, th + x, f + x, ax + x, ax + x - 1, ay + x,
                   ayu + x, w - x);
    }

    // Project the free pixels, pin the others; over-relax.
    if (n == 2) {
        float *th0 = s->theta + row, *th1 = th0 + np;
        float *tb0 = s->tbar + row, *tb1 = tb0 + np;
        const float *p0 = s->pin + row, *p1 = p0 + np;

        for (x = 0; x + CHUNK <= w; x += CHUNK)
            project2_chunk(th0 + x, th1 + x, tb0 + x, tb1 + x, fr + x,
                           p0 + x, p1 + x, CHUNK);
        project2_chunk(th0 + x, th1 + x, tb0 + x, tb1 + x, fr + x, p0 + x,
                       p1 + x, w - x);
        return;
    }
    for (x = 0; x < w; x++) {
        size_t p = row + x;
        float t[FACE_SEG_MAX_LABELS];

        for (int i = 0; i < n; i++)
            t[i] = s->tbar[i * np + p];
        face_seg_project_simplex(t, n);
        for (int i = 0; i < n; i++) {
            float *th = s->theta + i * np + p;

            *th = settle(s->tbar + i * np + p, *th, t[i], fr[x],
                         s->pin[i * np + p]);
        }
    }
}

static void solver_clear(face_seg_solver *s)
{
    if (s) {
        facet_free(s->mem);
        facet_free(s);
    }
}

void face_seg_solver_free(face_seg_solver *s)
{
    solver_clear(s);
}

facet_status face_seg_solver_create(face_seg_solver **out, const float *cost,
                                    const float *g, const uint8_t *seeds,
                                    int w, int h, int nlabels, double lambda)
{
    const char *who = "face_seg_solver_create";
    face_seg_solver *s;
    size_t np, nf, bytes;
    facet_status st;
    float *f;
    int n = nlabels;

    if (!out)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", who);
    *out = NULL;
    if (!cost)
        return facet_fail(FACET_E_ARG, "%s: NULL cost", who);
    if (nlabels < 2 || nlabels > FACE_SEG_MAX_LABELS)
        return facet_fail(FACET_E_ARG, "%s: nlabels %d out of range "
                          "(2..%d)", who, nlabels, FACE_SEG_MAX_LABELS);
    if ((st = check_size(who, w, h)) != FACET_OK)
        return st;
    if (!in_range(lambda, 0.0, 1e8))
        return facet_fail(FACET_E_ARG, "%s: lambda %g out of range "
                          "(0..1e8)", who, lambda);
    if (seeds && (st = check_seeds(who, seeds, w, h, n, 0, NULL)) != FACET_OK)
        return st;
    np = (size_t)w * h;
    for (size_t p = 0; p < (size_t)n * np; p++)
        if (!isfinite(cost[p]))
            return facet_fail(FACET_E_ARG, "%s: cost %zu of label %zu is "
                              "not finite", who, p % np, p / np);
    if (g)
        for (size_t p = 0; p < np; p++)
            if (!(g[p] >= 0.0f && g[p] <= 1.0f))
                return facet_fail(FACET_E_ARG, "%s: edge weight %g at "
                                  "pixel %zu is outside [0, 1]", who,
                                  (double)g[p], p);

    // One block: the row sums, 6 n + 4 planes of floats, a row of zeros,
    // the states.
    nf = (6 * (size_t)n + 4) * np + (size_t)w;
    bytes = 2 * (size_t)h * sizeof(double) + nf * sizeof(float) + np;
    s = facet_calloc(sizeof *s);
    if (s)
        s->mem = facet_calloc(bytes);
    if (!s || !s->mem) {
        solver_clear(s);
        return facet_fail(FACET_E_NOMEM, "%s: %d x %d, %d labels", who, w,
                          h, n);
    }
    s->w = w;
    s->h = h;
    s->n = n;
    s->np = np;
    s->rows = s->mem;
    f = (float *)(s->rows + 2 * (size_t)h);
    s->theta = f;
    s->tbar = s->theta + n * np;
    s->xx = s->tbar + n * np;
    s->xy = s->xx + n * np;
    s->cost = s->xy + n * np;
    s->pin = s->cost + n * np;
    s->fr = s->pin + n * np;
    s->bound = s->fr + np;
    s->mx = s->bound + np;
    s->my = s->mx + np;
    s->zero = s->my + np;
    s->state = (uint8_t *)(s->zero + w);

    // States, pins, edge masks, the dual bound (the block is zeroed).
    for (size_t p = 0; p < np; p++) {
        int sv = seeds ? seeds[p] : 0;

        s->state[p] = (uint8_t)sv;
        s->fr[p] = sv == 0;
        if (sv != 0 && sv != FACE_SEG_EXCLUDED)
            s->pin[(size_t)(sv - 1) * np + p] = 1.0f;
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            int in = s->state[p] != FACE_SEG_EXCLUDED;

            s->mx[p] = in && x + 1 < w &&
                       s->state[p + 1] != FACE_SEG_EXCLUDED;
            s->my[p] = in && y + 1 < h &&
                       s->state[p + (size_t)w] != FACE_SEG_EXCLUDED;
            s->bound[p] = in ? (float)(0.5 * lambda * (g ? g[p] : 1.0f))
                             : 0.0f;
        }
    }

    // theta = tbar = the one-hot argmin (free), the pin (fixed), 0
    // (excluded); xi = 0.
    memcpy(s->cost, cost, (size_t)n * np * sizeof *cost);
    for (size_t p = 0; p < np; p++) {
        int sv = s->state[p], k = 0;

        for (int i = 1; i < n; i++)
            if (cost[i * np + p] < cost[k * np + p])
                k = i;
        if (sv != 0)
            k = sv == FACE_SEG_EXCLUDED ? -1 : sv - 1;
        for (int i = 0; i < n; i++)
            s->theta[i * np + p] = i == k ? 1.0f : 0.0f;
    }
    memcpy(s->tbar, s->theta, (size_t)n * np * sizeof(float));
    *out = s;
    return FACET_OK;
}

void face_seg_solver_step(face_seg_solver *s, int iterations)
{
    int h = s->h;

    FACET_ASSERT(iterations >= 0);
#ifdef _OPENMP
#pragma omp parallel if (s->np >= PAR_MIN_PIXELS)
#endif
    for (int it = 0; it < iterations; it++) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int y = 0; y < h; y++)
            dual_row(s, y);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int y = 0; y < h; y++)
            primal_row(s, y);
    }
}

// One row of the energies: primal = sum theta.f + bound sum_i |grad
// theta_i|; dual = sum min_i (f_i - div xi_i), or the pinned label's term.
static void energy_row(const face_seg_solver *s, int y, double *pe,
                       double *de)
{
    int w = s->w, h = s->h, n = s->n;
    size_t np = s->np;
    double prim = 0.0, dual = 0.0;

    for (int x = 0; x < w; x++) {
        size_t p = (size_t)y * w + x;
        int sv = s->state[p];
        double data = 0.0, tv = 0.0, dmin = HUGE_VAL, dfix = 0.0;

        if (sv == FACE_SEG_EXCLUDED)
            continue;
        for (int i = 0; i < n; i++) {
            size_t q = (size_t)i * np + p;
            const float *th = s->theta, *ax = s->xx, *ay = s->xy;
            double gx = x + 1 < w ? s->mx[p] * ((double)th[q + 1] - th[q])
                                  : 0.0;
            double gy = y + 1 < h ? s->my[p] * ((double)th[q + w] - th[q])
                                  : 0.0;
            double div = (double)ax[q] - (x > 0 ? ax[q - 1] : 0.0f) +
                         ay[q] - (y > 0 ? ay[q - w] : 0.0f);
            double e = s->cost[q] - div;

            data += (double)th[q] * s->cost[q];
            tv += sqrt(gx * gx + gy * gy);
            dmin = e < dmin ? e : dmin;
            if (i == sv - 1)
                dfix = e;
        }
        prim += data + (double)s->bound[p] * tv;
        dual += sv == 0 ? dmin : dfix;
    }
    *pe = prim;
    *de = dual;
}

void face_seg_solver_energy(const face_seg_solver *s, double *primal,
                            double *dual)
{
    double pe = 0.0, de = 0.0;

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (s->np >= PAR_MIN_PIXELS)
#endif
    for (int y = 0; y < s->h; y++)
        energy_row(s, y, &s->rows[2 * y], &s->rows[2 * y + 1]);
    for (int y = 0; y < s->h; y++) {
        pe += s->rows[2 * y];
        de += s->rows[2 * y + 1];
    }
    *primal = pe;
    *dual = de;
}

const float *face_seg_solver_theta(const face_seg_solver *s)
{
    return s->theta;
}

void face_seg_solver_labels(const face_seg_solver *s, uint8_t *labels)
{
    for (size_t p = 0; p < s->np; p++) {
        int sv = s->state[p], k = 0;

        if (sv == FACE_SEG_EXCLUDED) {
            labels[p] = FACE_SEG_EXCLUDED;
            continue;
        }
        for (int i = 1; i < s->n; i++)
            if (s->theta[i * s->np + p] > s->theta[k * s->np + p])
                k = i;
        labels[p] = (uint8_t)k;
    }
}

static double rel_gap(double primal, double dual)
{
    double den = fabs(primal);

    if (primal - dual <= 0.0)
        return 0.0;
    return den > 0.0 ? (primal - dual) / den : HUGE_VAL;
}

facet_status face_seg_solve(uint8_t *labels, const float *cost,
                            const float *g, const uint8_t *seeds, int w,
                            int h, int nlabels, double lambda, int max_iter,
                            double gap_tol, face_seg_stats *stats)
{
    const char *who = "face_seg_solve";
    face_seg_solver *s;
    facet_status st;
    double pe, de, gap;
    int it = 0;

    if (!labels)
        return facet_fail(FACET_E_ARG, "%s: NULL labels", who);
    if (max_iter < 0 || !in_range(gap_tol, 0.0, 1e300))
        return facet_fail(FACET_E_ARG, "%s: max_iter %d / gap_tol %g out of "
                          "range", who, max_iter, gap_tol);
    st = face_seg_solver_create(&s, cost, g, seeds, w, h, nlabels, lambda);
    if (st != FACET_OK)
        return st;

    // Iterate in rounds of CHECK_EVERY until the relative gap is small.
    face_seg_solver_energy(s, &pe, &de);
    gap = rel_gap(pe, de);
    while (it < max_iter && !(gap < gap_tol)) {
        int k = max_iter - it < CHECK_EVERY ? max_iter - it : CHECK_EVERY;

        face_seg_solver_step(s, k);
        it += k;
        face_seg_solver_energy(s, &pe, &de);
        gap = rel_gap(pe, de);
    }

    face_seg_solver_labels(s, labels);
    if (stats) {
        stats->iterations = it;
        stats->primal = pe;
        stats->dual = de;
        stats->gap = gap;
    }
    face_seg_solver_free(s);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// The whole segmentation

facet_status face_segment(uint8_t *labels, const uint8_t *rgb, int w, int h,
                          size_t stride, const uint8_t *seeds, int nlabels,
                          const face_seg_params *p, face_seg_stats *stats)
{
    size_t counts[FACE_SEG_MAX_LABELS], np;
    face_seg_params def;
    float *cost = NULL, *g = NULL;
    facet_status st;

    if (!p) {
        face_seg_defaults(&def);
        p = &def;
    }
    st = check_segment_args("face_segment", labels, rgb, w, h, stride, seeds,
                            nlabels, p, counts);
    if (st != FACET_OK)
        return st;
    np = (size_t)w * h;
    cost = facet_alloc((size_t)nlabels * np * sizeof *cost);
    g = facet_alloc(np * sizeof *g);
    if (!cost || !g) {
        st = facet_fail(FACET_E_NOMEM, "face_segment: %d x %d, %d labels",
                        w, h, nlabels);
        goto done;
    }

    // Data term, shifted so that each pixel's smallest cost is 0 (the
    // minimiser is the same; the relative gap becomes meaningful).
    st = dataterm(cost, rgb, w, h, stride, seeds, nlabels, p, counts);
    if (st != FACET_OK)
        goto done;
    for (size_t q = 0; q < np; q++) {
        float lo = cost[q];

        for (int i = 1; i < nlabels; i++)
            lo = cost[i * np + q] < lo ? cost[i * np + q] : lo;
        for (int i = 0; i < nlabels; i++)
            cost[i * np + q] -= lo;
    }

    // Edge weight, then the solver.
    st = face_seg_edge_weight(g, rgb, w, h, stride, seeds, p->gamma);
    if (st != FACET_OK)
        goto done;
    st = face_seg_solve(labels, cost, g, seeds, w, h, nlabels, p->lambda,
                        p->max_iter, p->gap_tol, stats);

done:
    facet_free(cost);
    facet_free(g);
    return st;
}

// test_winograd.c - Winograd F(4x4, 3x3) convolution (nn/winograd.c and
// nn/kernels/winograd_*.c) against convolution summed in double.
//
// Every ISA path runs:
// - each kernel of the table (the filter transform, input and output
//   transforms for row segments and for scattered lanes, the product)
//   against the transforms written out in double, and the filter
//   transform bitwise against the scalar one;
// - edge shapes (sides 1..13 that are not multiples of 4, zero and
//   asymmetric padding, 1..64 channels, batch 2, each activation) against
//   nn_conv2d__ref;
// - every VGG-16 layer shape against a double direct convolution at
//   sampled output positions (ReLU'd inputs, He-initialised weights), with
//   the measured error printed;
// - both ways to the transformed filters (U made once, or per channel
//   chunk during the forward call): the same bits on the edge shapes and
//   on a large and a small layer, whatever nn__wino_precompute says;
// - 1 and 2 threads bitwise equal; the NN_CONV_AUTO path of nn_conv the
//   same bits.
// Outputs start as NaN and scratch as junk bytes.
#include "check.h"
#include "../nn/winograd_internal.h"

// Error bound: max |err| <= WINO_TOL * max |pre-activation reference|.
// F(4x4, 3x3) transforms have entries up to 8 in magnitude and sums of up
// to 36 terms, so float rounding is amplified some tens of times over a
// direct convolution; on the VGG-16 shapes the measured figures are 5e-7
// to 5e-6 (printed below), and 1e-4 leaves room for other compilers'
// instruction choices and for the uniform (not ReLU'd) edge-shape data.
#define WINO_TOL 1e-4

typedef struct shape {
    int n, cin, cout, h, w;
    int pt, pb, pl, pr;
    la_act act;
    int has_bias;
} shape;

static facet_rng rng;

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static nn_conv_desc desc_of(const shape *s, la_act act)
{
    nn_conv_desc d = {0};

    d.cin = s->cin;
    d.cout = s->cout;
    d.kh = d.kw = 3;
    d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
    d.pad_top = s->pt;
    d.pad_bottom = s->pb;
    d.pad_left = s->pl;
    d.pad_right = s->pr;
    d.groups = 1;
    d.act = act;
    return d;
}

// The problem data of one shape.
typedef struct problem {
    shape s;
    int oh, ow;
    float *in, *weight, *bias, *slope, *wt, *out;
    int fly;   // 1: forward transforms the filters (wt unused)
    void *scratch;
    size_t scratch_bytes, out_count;
} problem;

// relu_in: inputs max(0, N(0, 1)) and He-initialised N(0, 2 / (9 cin))
// weights (a VGG layer); otherwise both uniform in [-1, 1).
static void problem_init(problem *p, const shape *s, int relu_in)
{
    size_t in_count = (size_t)s->n * s->cin * s->h * s->w;
    size_t w_count = (size_t)s->cout * s->cin * 9;
    double he = sqrt(2.0 / (9.0 * s->cin));

    p->s = *s;
    p->oh = s->h + s->pt + s->pb - 2;
    p->ow = s->w + s->pl + s->pr - 2;
    FACET_ASSERT(p->oh >= 1 && p->ow >= 1);
    p->out_count = (size_t)s->n * s->cout * p->oh * p->ow;
    p->in = facet_alloc(in_count * sizeof(float));
    p->weight = facet_alloc(w_count * sizeof(float));
    p->bias = facet_alloc((size_t)s->cout * sizeof(float));
    p->slope = facet_alloc((size_t)s->cout * sizeof(float));
    p->wt = facet_alloc(nn__wino_weight_size(s->cin, s->cout) *
                        sizeof(float));
    p->out = facet_alloc(p->out_count * sizeof(float));
    FACET_ASSERT(p->in && p->weight && p->bias && p->slope && p->wt &&
                 p->out);
    if (relu_in) {
        for (size_t i = 0; i < in_count; i++) {
            double x = facet_rng_normal(&rng);
            p->in[i] = x > 0.0 ? (float)x : 0.0f;
        }
        for (size_t i = 0; i < w_count; i++)
            p->weight[i] = (float)(he * facet_rng_normal(&rng));
        check_fill_random(p->bias, (size_t)s->cout, &rng, -0.1f, 0.1f);
    } else {
        check_fill_random(p->in, in_count, &rng, -1.0f, 1.0f);
        check_fill_random(p->weight, w_count, &rng, -1.0f, 1.0f);
        check_fill_random(p->bias, (size_t)s->cout, &rng, -1.0f, 1.0f);
    }
    check_fill_random(p->slope, (size_t)s->cout, &rng, 0.0f, 0.5f);

    // The transform must fill every float it owns.
    check_fill_junk(p->wt, nn__wino_weight_size(s->cin, s->cout) *
                               sizeof(float));
    nn__wino_transform_weights(p->wt, p->weight, s->cin, s->cout);
    p->fly = !nn__wino_precompute(s->cin, s->cout);
    p->scratch = NULL;
    p->scratch_bytes = 0;
}

static void problem_free(problem *p)
{
    facet_free(p->in);
    facet_free(p->weight);
    facet_free(p->bias);
    facet_free(p->slope);
    facet_free(p->wt);
    facet_free(p->out);
    facet_free(p->scratch);
}

// Scratch for the current thread count and p->fly, junk-filled; output
// NaN-filled; then the forward call.
static void problem_run(problem *p)
{
    const shape *s = &p->s;
    size_t bytes = nn__wino_scratch_size(s->n, s->cin, s->cout, s->h, s->w,
                                         s->pt, s->pl, p->oh, p->ow,
                                         !p->fly);

    if (bytes != p->scratch_bytes) {
        facet_free(p->scratch);
        p->scratch = facet_alloc(bytes);
        p->scratch_bytes = bytes;
        FACET_ASSERT(p->scratch);
    }
    check_fill_junk(p->scratch, bytes);
    check_fill_nan(p->out, p->out_count);
    nn__wino_forward(p->out, p->in, p->fly ? NULL : p->wt,
                     p->fly ? p->weight : NULL, s->has_bias ? p->bias : NULL,
                     s->act, p->slope, s->n, s->cin, s->cout, s->h, s->w,
                     s->pt, s->pl, p->oh, p->ow, p->scratch);
}

// ---------------------------------------------------------------------------
// Kernels against the transforms in double

// B^T and A^T of winograd_internal.h, written out again.
static const double wino_bt[6][6] = {
    {1, -1.5, -2, 1.5, 1, 0},  {0, -1, 0.5, 2.5, 1, 0},
    {0, 1, -2.5, 0.5, 1, 0},   {0, -2, -1, 2, 1, 0},
    {0, 0.5, -1, -0.5, 1, 0},  {0, 1, -1.5, -2, 1.5, 1},
};
static const double wino_at[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 0.5, -2, 0},
    {0, 1, 1, 0.25, 4, 0},
    {0, 1, -1, 0.125, -8, 1},
};

// Kernel rounding: each value is a short sum of terms with coefficients
// up to 8 in size; 1e-6 of the sum of the terms' magnitudes is tens of
// float epsilons.
#define KERNEL_TOL 1e-6

// t = B^T d B and the magnitude sum of its terms, in double.
static void ref_input(double t[6][6], double mag[6][6], const double d[6][6])
{
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            double s = 0.0, m = 0.0;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    double x = wino_bt[a][i] * d[i][j] * wino_bt[b][j];
                    s += x;
                    m += fabs(x);
                }
            t[a][b] = s;
            mag[a][b] = m;
        }
}

// y = A^T m A and the magnitude sum, in double.
static void ref_output(double y[4][4], double mag[4][4], const double m[6][6])
{
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double s = 0.0, g = 0.0;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    double x = wino_at[a][i] * m[i][j] * wino_at[b][j];
                    s += x;
                    g += fabs(x);
                }
            y[a][b] = s;
            mag[a][b] = g;
        }
}

static double act_ref(double x, la_act act, double slope)
{
    switch (act) {
    case LA_ACT_RELU:
        return x > 0.0 ? x : 0.0;
    case LA_ACT_RELU6:
        return x > 0.0 ? (x < 6.0 ? x : 6.0) : 0.0;
    case LA_ACT_PRELU:
        return x >= 0.0 ? x : slope * x;
    default:
        return x;
    }
}

static int irand(int lo, int hi)   // uniform in [lo, hi)
{
    return lo + (int)facet_rng_below(&rng, (uint32_t)(hi - lo));
}

// One tile's expected V against v[xi * xs] (lane already applied).
static int input_matches(const float *v, size_t xs, const double d[6][6])
{
    double t[6][6], mag[6][6];

    ref_input(t, mag, d);
    for (int xi = 0; xi < 36; xi++) {
        double got = v[(size_t)xi * xs];
        if (!(fabs(got - t[xi / 6][xi % 6]) <=
              KERNEL_TOL * mag[xi / 6][xi % 6] + 1e-30))
            return 0;
    }
    return 1;
}

// G of winograd_internal.h, written out again.
static const double wino_g[6][3] = {
    {1, 0, 0},
    {1.0 / 3, 1.0 / 3, 1.0 / 3},
    {-1.0 / 3, 1.0 / 3, -1.0 / 3},
    {-16.0 / 15, -8.0 / 15, -4.0 / 15},
    {1.0 / 15, -2.0 / 15, 4.0 / 15},
    {0, 0, 1},
};

// Every cin tail (runs of 8 channels and the rest) and every row count;
// the filter planes xs apart with a gap that must stay untouched. Each
// value is computed in double and rounded once: within half a float ulp
// (2^-24 of the value) of G g G^T, plus double rounding (1e-14 of the
// terms' magnitudes). Every ISA must give the scalar kernel's bits, which
// is what makes U made at create time and U made during forward agree.
static void test_kernel_filter(const nn_wino_kernels *k, const char *isa)
{
    static const int cins[] = {1, 7, 8, 9, 17, 64};
    int bad = 0, diff = 0, touched = 0;

    for (int a = 0; a < COUNT(cins); a++)
        for (int rows = 1; rows <= NN_WINO_ROWS; rows++) {
            int cin = cins[a];
            size_t xs = (size_t)cin * NN_WINO_ROWS + 5;
            size_t count = (size_t)rows * cin * 9;
            float *g = facet_alloc(count * sizeof(float));
            float *u = facet_alloc(36 * xs * sizeof(float));
            float *us = facet_alloc(36 * xs * sizeof(float));

            FACET_ASSERT(g && u && us);
            check_fill_random(g, count, &rng, -1.0f, 1.0f);
            check_fill_nan(u, 36 * xs);
            check_fill_nan(us, 36 * xs);
            k->filter(u, xs, g, cin, rows);
            nn__wino_filter_8__scalar(us, xs, g, cin, rows);
            for (size_t i = 0; i < 36 * xs; i++) {
                diff += memcmp(&u[i], &us[i], sizeof(float)) != 0;
                touched += i % xs >= (size_t)cin * NN_WINO_ROWS &&
                           !isnan(u[i]);
            }
            for (int xi = 0; xi < 36; xi++)
                for (int ci = 0; ci < cin; ci++)
                    for (int r = 0; r < NN_WINO_ROWS; r++) {
                        const float *f = g + ((size_t)r * cin + ci) * 9;
                        double want = 0.0, mag = 0.0;
                        float got = u[xi * xs + (size_t)ci * 8 + r];

                        if (r >= rows) {
                            bad += got != 0.0f;
                            continue;
                        }
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                double x = wino_g[xi / 6][ky] *
                                           f[3 * ky + kx] *
                                           wino_g[xi % 6][kx];
                                want += x;
                                mag += fabs(x);
                            }
                        bad += !(fabs(got - want) <=
                                 0x1p-24 * fabs(want) + 1e-14 * mag);
                    }
            facet_free(g);
            facet_free(u);
            facet_free(us);
        }
    CHECKF(bad == 0, "%s: filter kernel, %d wrong values", isa, bad);
    CHECKF(diff == 0, "%s: filter kernel, %d values differ from scalar",
           isa, diff);
    CHECKF(touched == 0, "%s: filter kernel wrote %d floats past cin",
           isa, touched);
}

// Window origins in a 2 x planes x h x w tensor for the lanes kernels: a
// lane past `valid` has no tile. Fills the offsets and masks the way the
// driver does. Input windows (rows 6) start anywhere, partly or wholly
// outside the plane, and may overlap; output tiles (rows 4) are distinct
// tiles of the 4x4 grid, as the driver's are.
typedef struct lanes_case {
    int n[16], y0[16], x0[16], valid;
    int32_t off[16];
    uint16_t row[6], col[6];
} lanes_case;

static void make_lanes(lanes_case *c, int planes, int h, int w, int rows)
{
    int ty = (h + 3) / 4, tx = (w + 3) / 4, used[2 * 16 * 16] = {0};

    FACET_ASSERT(ty * tx <= 16 * 16);
    memset(c, 0, sizeof *c);
    c->valid = irand(1, 17);
    for (int l = 0; l < c->valid; l++) {
        c->n[l] = irand(0, 2);
        if (rows == 6) {
            c->y0[l] = irand(-3, h);
            c->x0[l] = irand(-3, w);
        } else {
            int t;
            do
                t = irand(0, ty * tx);
            while (used[c->n[l] * 256 + t]);
            used[c->n[l] * 256 + t] = 1;
            c->y0[l] = 4 * (t / tx);
            c->x0[l] = 4 * (t % tx);
        }
        c->off[l] = (int32_t)((c->n[l] * planes * h + c->y0[l]) * w +
                              c->x0[l]);
        for (int i = 0; i < rows; i++) {
            if (c->y0[l] + i >= 0 && c->y0[l] + i < h)
                c->row[i] |= (uint16_t)(1u << l);
            if (c->x0[l] + i >= 0 && c->x0[l] + i < w)
                c->col[i] |= (uint16_t)(1u << l);
        }
    }
}

static void test_kernel_input(const nn_wino_kernels *k, const char *isa)
{
    enum { H = 9, W = 50, XS = 24 };
    float plane[2 * 3 * H * W], v[36 * XS];
    int bad_seg = 0, bad_lanes = 0;

    check_fill_random(plane, 2 * 3 * H * W, &rng, -1.0f, 1.0f);

    // Row segments: lanes lo..hi-1 written, the others left alone.
    for (int trial = 0; trial < 300; trial++) {
        int y0 = irand(-5, H), x0 = irand(-70, W + 2);
        int lo = irand(0, 16), hi = irand(lo + 1, 17);

        check_fill_nan(v, 36 * XS);
        k->input(v, XS, plane, H, W, y0, x0, lo, hi);
        for (int l = 0; l < XS; l++) {
            double d[6][6];
            if (l < lo || l >= hi) {
                for (int xi = 0; xi < 36; xi++)
                    bad_seg += !isnan(v[xi * XS + l]);
                continue;
            }
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    int y = y0 + i, x = x0 + 4 * l + j;
                    d[i][j] = y >= 0 && y < H && x >= 0 && x < W
                                  ? plane[y * W + x]
                                  : 0.0;
                }
            bad_seg += !input_matches(v + l, XS, d);
        }
    }
    CHECKF(bad_seg == 0, "%s: input kernel, %d wrong values", isa, bad_seg);

    // Scattered lanes from a 2-image, 3-channel tensor (channel 1 read):
    // all 16 lanes written, zero where a lane has no tile.
    for (int trial = 0; trial < 300; trial++) {
        lanes_case c;
        const float *base = plane + H * W;

        make_lanes(&c, 3, H, W, 6);
        check_fill_nan(v, 36 * XS);
        k->input_lanes(v, XS, base, W, c.off, c.row, c.col);
        for (int l = 0; l < 16; l++) {
            double d[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    int y = c.y0[l] + i, x = c.x0[l] + j;
                    d[i][j] = l < c.valid && y >= 0 && y < H && x >= 0 &&
                                      x < W
                                  ? base[c.off[l] + i * W + j]
                                  : 0.0;
                }
            bad_lanes += !input_matches(v + l, XS, d);
        }
        for (int l = 16; l < XS; l++)
            bad_lanes += !isnan(v[l]);
    }
    CHECKF(bad_lanes == 0, "%s: lanes input kernel, %d wrong tiles", isa,
           bad_lanes);
}

// The expected 4x4 tile of lane l of m (xi planes xs apart).
static void tile_of(double y[4][4], double mag[4][4], const float *m,
                    size_t xs, int l)
{
    double mm[6][6];

    for (int xi = 0; xi < 36; xi++)
        mm[xi / 6][xi % 6] = m[(size_t)xi * xs + l];
    ref_output(y, mag, mm);
}

static void test_kernel_output(const nn_wino_kernels *k, const char *isa)
{
    enum { H = 9, W = 50, XS = 24 };
    float m[36 * XS], out[2 * 3 * H * W];
    double want[2 * 3 * H * W], tol[2 * 3 * H * W];
    int bad_seg = 0, bad_lanes = 0;

    check_fill_random(m, 36 * XS, &rng, -1.0f, 1.0f);
    for (int trial = 0; trial < 400; trial++) {
        la_act act = (la_act)(trial % 4);
        float bias = 0.5f * facet_rng_float(&rng) - 0.25f;
        float slope = facet_rng_float(&rng);
        int segment = trial % 2 == 0;
        lanes_case c;
        float *base = out + H * W;   // image 0, channel 1 (of 3)
        int oy0 = irand(-3, H), ox0 = irand(-70, W);
        int lo = irand(0, 16), hi = irand(lo + 1, 17);

        // want: NaN (untouched) except the pixels the kernel must write.
        for (int i = 0; i < 2 * 3 * H * W; i++)
            want[i] = NAN;
        check_fill_nan(out, 2 * 3 * H * W);
        if (segment) {
            for (int l = lo; l < hi; l++) {
                double y[4][4], mag[4][4];
                tile_of(y, mag, m, XS, l);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int oy = oy0 + i, ox = ox0 + 4 * l + j;
                        if (oy < 0 || oy >= H || ox < 0 || ox >= W)
                            continue;
                        want[H * W + oy * W + ox] =
                            act_ref(y[i][j] + bias, act, slope);
                        tol[H * W + oy * W + ox] =
                            KERNEL_TOL * (mag[i][j] + fabs(bias));
                    }
            }
            k->output(base, H, W, oy0, ox0, lo, hi, m, XS, bias, act,
                      slope);
        } else {
            make_lanes(&c, 3, H, W, 4);
            for (int l = 0; l < c.valid; l++) {
                double y[4][4], mag[4][4];
                tile_of(y, mag, m, XS, l);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        size_t at = (size_t)(H * W + c.off[l] + i * W + j);
                        if (!((c.row[i] & c.col[j]) >> l & 1))
                            continue;
                        want[at] = act_ref(y[i][j] + bias, act, slope);
                        tol[at] = KERNEL_TOL * (mag[i][j] + fabs(bias));
                    }
            }
            k->output_lanes(base, W, c.off, c.row, c.col, m, XS, bias, act,
                            slope);
        }
        for (int i = 0; i < 2 * 3 * H * W; i++) {
            int ok = isnan(want[i]) ? isnan(out[i])
                                    : fabs(out[i] - want[i]) <= tol[i];
            if (!ok)
                (*(segment ? &bad_seg : &bad_lanes))++;
        }
    }
    CHECKF(bad_seg == 0, "%s: output kernel, %d wrong pixels", isa, bad_seg);
    CHECKF(bad_lanes == 0, "%s: lanes output kernel, %d wrong pixels", isa,
           bad_lanes);
}

// Lanes l < lanes must be right, lanes from the next multiple of 16 on
// untouched; the ones between may hold anything. A lane's bits must not
// depend on how many lanes the call has (the lane tail takes other code).
static void test_kernel_gemm(const nn_wino_kernels *k, const char *isa)
{
    int diff = 0;

    static const int cins[] = {1, 3, 17, 64};
    static const int lane_counts[] = {1,  3,  4,  5,  16, 17, 20,  21, 32,
                                      48, 49, 52, 64, 80, 97, 112, 128};
    int bad = 0;

    for (int a = 0; a < 4; a++)
        for (int c = 0; c < COUNT(lane_counts); c++) {
            int cin = cins[a], lanes = lane_counts[c];
            int full = (lanes + 15) / 16 * 16;
            size_t ldv = (size_t)full + 8, ldm = (size_t)full + 16;
            float *u = facet_alloc((size_t)cin * 8 * sizeof(float));
            float *v = facet_alloc((size_t)cin * ldv * sizeof(float));
            float *m = facet_alloc(8 * ldm * sizeof(float));

            float *whole = facet_alloc(8 * ldm * sizeof(float));

            FACET_ASSERT(u && v && m && whole);
            check_fill_random(u, (size_t)cin * 8, &rng, -1.0f, 1.0f);
            check_fill_random(v, (size_t)cin * ldv, &rng, -1.0f, 1.0f);
            check_fill_nan(m, 8 * ldm);
            k->gemm(whole, ldm, u, v, ldv, cin, full);
            k->gemm(m, ldm, u, v, ldv, cin, lanes);
            for (int r = 0; r < 8; r++)
                for (int l = 0; l < lanes; l++)
                    diff += memcmp(&m[r * ldm + l], &whole[r * ldm + l],
                                   sizeof(float)) != 0;
            for (int r = 0; r < 8; r++)
                for (size_t l = 0; l < ldm; l++) {
                    double s = 0.0, g = 0.0;
                    if (l >= (size_t)full)
                        bad += !isnan(m[r * ldm + l]);
                    if (l >= (size_t)lanes)
                        continue;
                    for (int ci = 0; ci < cin; ci++) {
                        double x = (double)u[ci * 8 + r] * v[ci * ldv + l];
                        s += x;
                        g += fabs(x);
                    }
                    // Float sums of cin terms: cin roundings at most.
                    bad += !(fabs(m[r * ldm + l] - s) <= 1.2e-7 * cin * g);
                }
            facet_free(u);
            facet_free(v);
            facet_free(m);
            facet_free(whole);
        }
    CHECKF(bad == 0, "%s: product kernel, %d wrong values", isa, bad);
    CHECKF(diff == 0, "%s: product kernel, %d lanes differ with the lane "
           "count", isa, diff);
}

// ---------------------------------------------------------------------------
// Edge shapes against nn_conv2d__ref

static void check_edge(problem *p, const char *isa)
{
    const shape *s = &p->s;
    nn_conv_desc d = desc_of(s, s->act), dl = desc_of(s, LA_ACT_NONE);
    nn_tensor in = nn_tensor_4d(p->in, s->n, s->cin, s->h, s->w);
    float *ref = facet_alloc(p->out_count * sizeof(float));
    float *lin = facet_alloc(p->out_count * sizeof(float));
    nn_tensor tr = nn_tensor_4d(ref, s->n, s->cout, p->oh, p->ow);
    nn_tensor tl = nn_tensor_4d(lin, s->n, s->cout, p->oh, p->ow);
    const float *bias = s->has_bias ? p->bias : NULL;
    double scale = 0.0, err = 0.0;
    size_t bad = 0;

    // Error scale: the largest pre-activation value.
    nn_conv2d__ref(&tr, &in, &d, p->weight, bias, p->slope);
    nn_conv2d__ref(&tl, &in, &dl, p->weight, bias, NULL);
    for (size_t i = 0; i < p->out_count; i++)
        scale = fmax(scale, fabs(lin[i]));
    for (size_t i = 0; i < p->out_count; i++) {
        double e = fabs((double)p->out[i] - ref[i]);
        if (!(e <= WINO_TOL * scale))
            bad++;
        err = fmax(err, e);
    }
    CHECKF(bad == 0, "%s n%d %d->%d %dx%d pad t%d b%d l%d r%d act %d bias "
           "%d: %zu of %zu outputs off, max err %.3g (scale %.3g)", isa,
           s->n, s->cin, s->cout, s->h, s->w, s->pt, s->pb, s->pl, s->pr,
           (int)s->act, s->has_bias, bad, p->out_count, err, scale);
    facet_free(ref);
    facet_free(lin);
}

// U made once and U made per chunk in forward: the same bits. Leaves the
// output of the on-the-fly run in p->out.
static void run_both(problem *p, const char *isa)
{
    const shape *s = &p->s;
    float *pre = facet_alloc(p->out_count * sizeof(float));

    FACET_ASSERT(pre);
    p->fly = 0;
    problem_run(p);
    memcpy(pre, p->out, p->out_count * sizeof(float));
    p->fly = 1;
    problem_run(p);
    CHECKF(memcmp(pre, p->out, p->out_count * sizeof(float)) == 0,
           "%s n%d %d->%d %dx%d: U made once and made in forward differ",
           isa, s->n, s->cin, s->cout, s->h, s->w);
    facet_free(pre);
}

static const int sides[] = {1, 2, 3, 4, 5, 7, 8, 13};
static const int chans[] = {1, 3, 8, 17, 64};
static const int pads[][4] = {   // top, bottom, left, right
    {0, 0, 0, 0}, {1, 1, 1, 1}, {1, 0, 2, 1}, {0, 2, 1, 0}, {2, 1, 0, 2},
};

static void test_edges(const char *isa)
{
    int k = 0;

    // Every pair of sides, padding and activation cycling.
    for (int a = 0; a < COUNT(sides); a++)
        for (int b = 0; b < COUNT(sides); b++, k++) {
            const int *pd = pads[k % COUNT(pads)];
            shape s = {2, 3, 8, sides[a], sides[b], pd[0], pd[1], pd[2],
                       pd[3], (la_act)(k % 4), k % 3 != 0};
            problem p;

            if (s.h + s.pt + s.pb < 3 || s.w + s.pl + s.pr < 3)
                continue;
            problem_init(&p, &s, 0);
            run_both(&p, isa);
            check_edge(&p, isa);
            problem_free(&p);
        }

    // Every pair of channel counts.
    for (int a = 0; a < COUNT(chans); a++)
        for (int b = 0; b < COUNT(chans); b++, k++) {
            const int *pd = pads[k % COUNT(pads)];
            int side = sides[3 + k % 5];
            shape s = {2, chans[a], chans[b], side, side + 2, pd[0], pd[1],
                       pd[2], pd[3], (la_act)(k % 4), 1};
            problem p;

            problem_init(&p, &s, 0);
            run_both(&p, isa);
            check_edge(&p, isa);
            problem_free(&p);
        }
}

// ---------------------------------------------------------------------------
// VGG-16 layer shapes against sampled double direct convolution

typedef struct vgg_layer {
    const char *name;
    int cin, cout, side;
} vgg_layer;

static const vgg_layer vgg[] = {
    {"conv1_1", 3, 64, 224},    {"conv1_2", 64, 64, 224},
    {"conv2_1", 64, 128, 112},  {"conv2_2", 128, 128, 112},
    {"conv3_1", 128, 256, 56},  {"conv3_2", 256, 256, 56},
    {"conv4_1", 256, 512, 28},  {"conv4_2", 512, 512, 28},
    {"conv5_1", 512, 512, 14},
};

#define VGG_SAMPLES 3000

// Pre-activation output (b, co, oy, ox) in double.
static double direct_point(const problem *p, int b, int co, int oy, int ox)
{
    const shape *s = &p->s;
    double acc = p->bias[co];

    for (int ci = 0; ci < s->cin; ci++) {
        const float *wc = p->weight + ((size_t)co * s->cin + ci) * 9;
        const float *pl = p->in + ((size_t)b * s->cin + ci) * s->h * s->w;
        for (int ky = 0; ky < 3; ky++) {
            int iy = oy - s->pt + ky;
            if (iy < 0 || iy >= s->h)
                continue;
            for (int kx = 0; kx < 3; kx++) {
                int ix = ox - s->pl + kx;
                if (ix >= 0 && ix < s->w)
                    acc += (double)wc[3 * ky + kx] * pl[(size_t)iy * s->w + ix];
            }
        }
    }
    return acc;
}

// max |err| / max |pre-activation| over sampled outputs (the four corners
// of each sampled plane among them).
static double vgg_error(const problem *p)
{
    const shape *s = &p->s;
    double scale = 0.0, err = 0.0;

    for (int i = 0; i < VGG_SAMPLES; i++) {
        int b = (int)facet_rng_below(&rng, (uint32_t)s->n);
        int co = (int)facet_rng_below(&rng, (uint32_t)s->cout);
        int oy = (int)facet_rng_below(&rng, (uint32_t)p->oh);
        int ox = (int)facet_rng_below(&rng, (uint32_t)p->ow);
        double lin, want;
        float got;

        if (i % 4 == 0) {
            oy = (i / 4) % 2 ? p->oh - 1 : 0;
            ox = (i / 8) % 2 ? p->ow - 1 : 0;
        }
        lin = direct_point(p, b, co, oy, ox);
        want = lin > 0.0 ? lin : 0.0;   // ReLU
        got = p->out[(((size_t)b * s->cout + co) * p->oh + oy) * p->ow + ox];
        scale = fmax(scale, fabs(lin));
        err = fmax(err, isnan(got) ? INFINITY : fabs(got - want));
    }
    return err / scale;
}

static void test_vgg_shapes(const char *isa)
{
    for (int i = 0; i < COUNT(vgg); i++) {
        const vgg_layer *l = &vgg[i];
        shape s = {1, l->cin, l->cout, l->side, l->side, 1, 1, 1, 1,
                   LA_ACT_RELU, 1};
        problem p;
        double rel;

        problem_init(&p, &s, 1);
        problem_run(&p);
        rel = vgg_error(&p);
        printf("  %-7s %-6s %3d -> %3d %3dx%-3d  max|err|/max|ref| = %.2e\n",
               l->name, isa, l->cin, l->cout, l->side, l->side, rel);
        CHECKF(rel <= WINO_TOL, "%s %s: relative error %.3g", l->name, isa,
               rel);
        problem_free(&p);
    }
}

// A large layer (the rule makes its U in forward) and a small one (the
// rule keeps U), each run both ways: the same bits, within WINO_TOL of the
// double direct convolution.
static void test_paths(const char *isa)
{
    shape shapes[2] = {
        {1, 512, 512, 14, 14, 1, 1, 1, 1, LA_ACT_RELU, 1},
        {2, 64, 72, 20, 18, 1, 1, 1, 1, LA_ACT_RELU, 1},
    };

    CHECK(!nn__wino_precompute(512, 512) && nn__wino_precompute(64, 72));
    for (int i = 0; i < 2; i++) {
        problem p;
        double rel;

        problem_init(&p, &shapes[i], 1);
        run_both(&p, isa);
        rel = vgg_error(&p);
        CHECKF(rel <= WINO_TOL, "%s shape %d: relative error %.3g", isa, i,
               rel);
        problem_free(&p);
    }
}

// ---------------------------------------------------------------------------
// Thread-count independence and the nn_conv path

static void test_threads(const char *isa)
{
    // Many blocks; one block whose channel chunks are split; each with
    // filters transformed in forward too (the last two).
    shape shapes[4] = {
        {2, 17, 40, 30, 29, 1, 1, 1, 1, LA_ACT_PRELU, 1},
        {1, 64, 128, 14, 14, 1, 1, 1, 1, LA_ACT_RELU, 1},
        {2, 17, 40, 30, 29, 1, 1, 1, 1, LA_ACT_PRELU, 1},
        {1, 64, 200, 14, 14, 1, 1, 1, 1, LA_ACT_RELU, 1},
    };

    for (int i = 0; i < 4; i++) {
        problem p;
        float *one;
        int saved = facet_threads();

        problem_init(&p, &shapes[i], 0);
        p.fly = i >= 2;
        one = facet_alloc(p.out_count * sizeof(float));
        FACET_ASSERT(one);
        facet_set_threads(1);
        problem_run(&p);
        memcpy(one, p.out, p.out_count * sizeof(float));
        facet_set_threads(2);
        problem_run(&p);
        CHECKF(memcmp(one, p.out, p.out_count * sizeof(float)) == 0,
               "%s shape %d: 1 and 2 threads differ", isa, i);
        facet_set_threads(saved);
        facet_free(one);
        problem_free(&p);
    }
}

// Scratch sized for a batch must serve every smaller batch (networks size
// their arena once, for the largest batch).
static void test_scratch_monotone(void)
{
    static const int plane[] = {4, 14, 28, 56};
    int saved = facet_threads(), bad = 0;

    for (int t = 1; t <= 2; t++) {
        facet_set_threads(t);
        for (int i = 0; i < 8; i++)
            for (int n = 1; n < 16; n++) {
                int s = plane[i % 4], pre = i < 4;
                size_t a = nn__wino_scratch_size(n, 64, 512, s, s, 1, 1, s,
                                                 s, pre);
                size_t b = nn__wino_scratch_size(n + 1, 64, 512, s, s, 1, 1,
                                                 s, s, pre);
                bad += a > b;
            }
    }
    facet_set_threads(saved);
    CHECKF(bad == 0, "scratch size shrinks with the batch %d times", bad);
}

// A layer that keeps U and one that makes it in forward (nn_conv must pass
// the float weights through).
static const shape conv_api_shapes[2] = {
    {1, 128, 256, 28, 28, 1, 1, 1, 1, LA_ACT_RELU, 1},
    {1, 512, 512, 7, 9, 1, 1, 1, 1, LA_ACT_RELU, 1},
};

static void test_conv_api(const char *isa, shape s)
{
    nn_conv_desc d = desc_of(&s, LA_ACT_RELU);
    nn_conv *c = NULL;
    problem p;
    float *out;
    void *scratch;
    size_t bytes;
    nn_tensor in, to;

    problem_init(&p, &s, 1);
    problem_run(&p);
    CHECK(nn_conv_create(&c, &d, p.weight, p.bias, NULL, NN_CONV_AUTO) ==
          FACET_OK);
    if (!c) {
        problem_free(&p);
        return;
    }
    CHECKF(nn_conv_algorithm(c) == NN_CONV_WINOGRAD,
           "%s: AUTO did not pick Winograd for a VGG layer", isa);
    out = facet_alloc(p.out_count * sizeof(float));
    bytes = nn_conv_scratch_size(c, 1, s.h, s.w);
    scratch = facet_alloc(bytes ? bytes : 1);
    FACET_ASSERT(out && scratch);
    check_fill_nan(out, p.out_count);
    check_fill_junk(scratch, bytes);
    in = nn_tensor_4d(p.in, 1, s.cin, s.h, s.w);
    to = nn_tensor_4d(out, 1, s.cout, p.oh, p.ow);
    nn_conv_forward(c, &to, &in, scratch);
    CHECKF(memcmp(out, p.out, p.out_count * sizeof(float)) == 0,
           "%s %d->%d: nn_conv_forward and nn__wino_forward differ", isa,
           s.cin, s.cout);
    facet_free(out);
    facet_free(scratch);
    nn_conv_free(c);
    problem_free(&p);
}

int main(void)
{
    facet_isa isas[FACET_ISA_COUNT];
    int count = check_isas(isas);

    facet_rng_seed(&rng, 20240611);
    test_scratch_monotone();
    for (int i = 0; i < count; i++) {
        const char *name = facet_isa_name(isas[i]);

        CHECK(facet_isa_force(isas[i]) == FACET_OK);
        test_kernel_input(&nn__wino_kernels[isas[i]], name);
        test_kernel_output(&nn__wino_kernels[isas[i]], name);
        test_kernel_gemm(&nn__wino_kernels[isas[i]], name);
        test_edges(name);
        test_vgg_shapes(name);
        test_threads(name);
        test_kernel_filter(&nn__wino_kernels[isas[i]], name);
        test_paths(name);
        for (int j = 0; j < 2; j++)
            test_conv_api(name, conv_api_shapes[j]);
    }
    return check_report();
}

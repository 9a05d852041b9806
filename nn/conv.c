// conv.c - 2-D convolution: shape arithmetic, the choice of algorithm, and
// the GEMM and depthwise drivers. Winograd F(4x4, 3x3) lives in
// winograd.c behind the nn__wino_* calls of internal.h; the depthwise
// plane kernels in nn/kernels/dwconv_*.c.
//
// Algorithms (NN_CONV_AUTO picks the first that applies):
//   DEPTHWISE  groups == cin == cout: a direct kernel per (n, c) plane,
//              vectorised along the output row, OpenMP over planes.
//   WINOGRAD   3x3, stride 1, dilation 1, groups 1, cin and cout >= 8.
//              Small layers keep transformed weights (4x the float ones);
//              large ones transform them chunk by chunk in each forward
//              call (nn__wino_precompute), with the same bits.
//   GEMM       anything: per image and group, im2col of a block of output
//              columns into scratch, then la_sgemm with bias and activation
//              in its epilogue:
//                out_g (cout_g x P) = W_g (cout_g x K) * col (K x P)
//              K = cin_g * kh * kw, P = oh * ow. A 1x1 stride-1 unpadded
//              layer skips im2col: the input plane stack is the B matrix.
//              A 1x1 output (P = 1) is a matrix-vector product instead.
//
// ref: K. Chellapilla, S. Puri, P. Simard, "High Performance Convolutional
//      Neural Networks for Document Processing" (2006) - convolution as
//      unrolled (im2col) matrix product.
// ref: TensorFlow "SAME" padding (tf.nn.convolution documentation).
//
// Limitations:
// - im2col copies each input value up to kh * kw times; the copy is cut
//   into blocks of output columns so scratch stays bounded.
// - The algorithm choice is a fixed rule, not measured per shape.
// - GEMM scratch is sized for facet_threads() at the time of the query;
//   raising the thread count between query and forward is not allowed.
#include "internal.h"
#include "layers_internal.h"

#include <math.h>
#include <string.h>

// im2col block: at most this many floats (K x columns, 2 MB) at a time,
// and never fewer than MIN_BLOCK_COLS columns. Measured on VGG-16 and
// MobileNet shapes: la_sgemm runs faster on a block that stays in L2 than
// on the whole K x P matrix. Blocks of at least 768 columns (16 of the
// AVX-512 kernel's 48-column panels) keep the packing of each block cheap
// against its products.
#define COL_BLOCK_FLOATS ((size_t)1 << 19)
#define MIN_BLOCK_COLS 768

// Winograd pays off once there are enough channels to amortise the tile
// transforms.
#define WINO_MIN_CHANNELS 8

struct nn_conv {
    nn_conv_desc d;
    const float *weight;   // cout x cin/groups x kh x kw (not owned)
    const float *bias;     // cout or NULL (not owned)
    const float *slope;    // cout or NULL (not owned)
    nn_conv_algo algo;
    float *wino;           // transformed weights for WINOGRAD, or NULL
                           // (transformed during forward) (owned)
};

const nn_dwconv_fn nn__dwconv_kernels[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = nn__dwconv__scalar,
#if defined(__x86_64__) || defined(__i386__)
    [FACET_ISA_AVX2] = nn__dwconv__avx2,
    [FACET_ISA_AVX512] = nn__dwconv__avx512,
#else
    [FACET_ISA_AVX2] = nn__dwconv__scalar,
    [FACET_ISA_AVX512] = nn__dwconv__scalar,
#endif
};

// ---------------------------------------------------------------------------
// Shape arithmetic

void nn_same_padding(int *pad_before, int *pad_after, int in, int k,
                     int stride, int dil)
{
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + (k - 1) * dil + 1 - in;

    if (total < 0)
        total = 0;
    *pad_before = total / 2;
    *pad_after = total - total / 2;
}

static int out_extent(int in, int pad, int k, int stride, int dil)
{
    int span = in + pad - (k - 1) * dil - 1;
    return span < 0 ? 0 : span / stride + 1;
}

void nn_conv_out_size(int *oh, int *ow, const nn_conv_desc *d, int h, int w)
{
    *oh = out_extent(h, d->pad_top + d->pad_bottom, d->kh, d->stride_h,
                     d->dil_h);
    *ow = out_extent(w, d->pad_left + d->pad_right, d->kw, d->stride_w,
                     d->dil_w);
}

void nn_fold_batchnorm(float *weight, float *bias, int cout, size_t per_out,
                       const float *gamma, const float *beta,
                       const float *mean, const float *var, float eps)
{
    FACET_ASSERT(weight && bias && gamma && beta && mean && var);

    // y = s * (conv(x) + b - mean) + beta with s = gamma / sqrt(var + eps):
    // scale the filter by s, and b becomes s * (b - mean) + beta.
    for (int c = 0; c < cout; c++) {
        double s = (double)gamma[c] / sqrt((double)var[c] + (double)eps);
        float *wc = weight + (size_t)c * per_out;

        for (size_t i = 0; i < per_out; i++)
            wc[i] = (float)((double)wc[i] * s);
        bias[c] = (float)(((double)bias[c] - mean[c]) * s + beta[c]);
    }
}

// ---------------------------------------------------------------------------
// Creation and the algorithm choice

static int is_depthwise(const nn_conv_desc *d)
{
    return d->groups == d->cin && d->groups == d->cout;
}

static int winograd_applies(const nn_conv_desc *d)
{
    return d->kh == 3 && d->kw == 3 && d->stride_h == 1 &&
           d->stride_w == 1 && d->dil_h == 1 && d->dil_w == 1 &&
           d->groups == 1;
}

// 1x1, stride 1, no padding: the input planes are the GEMM's B matrix.
static int is_pointwise(const nn_conv_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 &&
           d->stride_w == 1 && d->pad_top == 0 && d->pad_bottom == 0 &&
           d->pad_left == 0 && d->pad_right == 0;
}

static facet_status check_desc(const nn_conv_desc *d, const float *weight,
                               const float *slope)
{
    if (d->cin < 1 || d->cout < 1 || d->kh < 1 || d->kw < 1)
        return facet_fail(FACET_E_ARG, "conv: cin %d cout %d kernel %dx%d "
                          "must be >= 1", d->cin, d->cout, d->kh, d->kw);
    if (d->stride_h < 1 || d->stride_w < 1 || d->dil_h < 1 || d->dil_w < 1)
        return facet_fail(FACET_E_ARG, "conv: stride %dx%d dilation %dx%d "
                          "must be >= 1", d->stride_h, d->stride_w, d->dil_h,
                          d->dil_w);
    if (d->pad_top < 0 || d->pad_bottom < 0 || d->pad_left < 0 ||
        d->pad_right < 0)
        return facet_fail(FACET_E_ARG, "conv: negative padding");
    if (d->groups < 1 || d->cin % d->groups || d->cout % d->groups)
        return facet_fail(FACET_E_ARG, "conv: groups %d does not divide cin "
                          "%d and cout %d", d->groups, d->cin, d->cout);
    if ((unsigned)d->act > LA_ACT_PRELU)
        return facet_fail(FACET_E_ARG, "conv: unknown activation %d",
                          (int)d->act);
    if (d->act == LA_ACT_PRELU && !slope)
        return facet_fail(FACET_E_ARG, "conv: PReLU without slopes");
    if (!weight)
        return facet_fail(FACET_E_ARG, "conv: no weights");
    return FACET_OK;
}

facet_status nn_conv_create(nn_conv **out, const nn_conv_desc *d,
                            const float *weight, const float *bias,
                            const float *slope, nn_conv_algo algo)
{
    facet_status st;
    nn_conv *c;

    *out = NULL;
    st = check_desc(d, weight, slope);
    if (st != FACET_OK)
        return st;

    // Resolve AUTO; a forced algorithm must fit the shape.
    if (algo == NN_CONV_AUTO) {
        if (is_depthwise(d))
            algo = NN_CONV_DEPTHWISE;
        else if (winograd_applies(d) && d->cin >= WINO_MIN_CHANNELS &&
                 d->cout >= WINO_MIN_CHANNELS)
            algo = NN_CONV_WINOGRAD;
        else
            algo = NN_CONV_GEMM;
    } else if (algo == NN_CONV_DEPTHWISE && !is_depthwise(d)) {
        return facet_fail(FACET_E_UNSUPPORTED, "conv: depthwise needs "
                          "groups == cin == cout (have %d, %d, %d)",
                          d->groups, d->cin, d->cout);
    } else if (algo == NN_CONV_WINOGRAD && !winograd_applies(d)) {
        return facet_fail(FACET_E_UNSUPPORTED, "conv: Winograd needs 3x3, "
                          "stride 1, dilation 1, groups 1");
    } else if (algo != NN_CONV_GEMM && algo != NN_CONV_DEPTHWISE &&
               algo != NN_CONV_WINOGRAD) {
        return facet_fail(FACET_E_ARG, "conv: unknown algorithm %d",
                          (int)algo);
    }

    c = facet_calloc(sizeof *c);
    if (!c)
        return facet_fail(FACET_E_NOMEM, "conv: descriptor");
    c->d = *d;
    c->weight = weight;
    c->bias = bias;
    c->slope = slope;
    c->algo = algo;

    // Winograd transforms the weights of small layers once, here.
    if (algo == NN_CONV_WINOGRAD && nn__wino_precompute(d->cin, d->cout)) {
        size_t bytes;
        if (!facet_size_mul(&bytes, nn__wino_weight_size(d->cin, d->cout),
                            sizeof(float))) {
            facet_free(c);
            return facet_fail(FACET_E_TOO_LARGE, "conv: Winograd weights");
        }
        c->wino = facet_alloc(bytes);
        if (!c->wino) {
            facet_free(c);
            return facet_fail(FACET_E_NOMEM, "conv: Winograd weights, %zu "
                              "bytes", bytes);
        }
        nn__wino_transform_weights(c->wino, weight, d->cin, d->cout);
    }
    *out = c;
    return FACET_OK;
}

void nn_conv_free(nn_conv *c)
{
    if (!c)
        return;
    facet_free(c->wino);
    facet_free(c);
}

nn_conv_algo nn_conv_algorithm(const nn_conv *c)
{
    return c->algo;
}

const nn_conv_desc *nn_conv_descriptor(const nn_conv *c)
{
    return &c->d;
}

// ---------------------------------------------------------------------------
// GEMM path

// Columns per im2col block for K rows and P output positions: all of them
// when they fit COL_BLOCK_FLOATS, else P split into equal blocks that fit
// (a multiple of 16 columns, at least MIN_BLOCK_COLS). Depends on the
// shape only.
static int col_block(size_t k, int p)
{
    size_t cols = COL_BLOCK_FLOATS / k, blocks;

    if (cols >= (size_t)p)
        return p;
    if (cols < MIN_BLOCK_COLS)
        cols = MIN_BLOCK_COLS;
    blocks = ((size_t)p + cols - 1) / cols;
    cols = ((size_t)p + blocks - 1) / blocks;
    cols = (cols + 15) & ~(size_t)15;
    return cols < (size_t)p ? (int)cols : p;
}

static size_t gemm_scratch(const nn_conv *c, int h, int w, size_t *col_bytes)
{
    const nn_conv_desc *d = &c->d;
    int oh, ow, p, pb, m = d->cout / d->groups;
    size_t k = (size_t)(d->cin / d->groups) * d->kh * d->kw;
    size_t g1, g2;

    nn_conv_out_size(&oh, &ow, d, h, w);
    p = oh * ow;
    if (p == 0) {
        *col_bytes = 0;
        return 0;
    }
    if (is_pointwise(d)) {
        *col_bytes = 0;
        return la_sgemm_scratch_size(m, p, (int)k, facet_threads());
    }

    // The block width and the last, narrower block.
    pb = col_block(k, p);
    *col_bytes = facet_align_up(k * pb * sizeof(float), FACET_ALIGN);
    g1 = la_sgemm_scratch_size(m, pb, (int)k, facet_threads());
    g2 = p % pb ? la_sgemm_scratch_size(m, p % pb, (int)k, facet_threads())
                : 0;
    return *col_bytes + (g1 > g2 ? g1 : g2);
}

// col (K x cols, row stride cols) = the receptive fields of output
// positions [p0, p0 + cols) of one group's input planes (cin_g x h x w);
// row r = (ci * kh + ky) * kw + kx.
static void im2col(float *col, const float *in, const nn_conv_desc *d,
                   int h, int w, int ow, int p0, int cols)
{
    int k = d->cin / d->groups * d->kh * d->kw;

    NN_OMP(parallel for schedule(static) if ((size_t)k * cols > 32768))
    for (int r = 0; r < k; r++) {
        int kx = r % d->kw, ky = r / d->kw % d->kh, ci = r / (d->kw * d->kh);
        const float *plane = in + (size_t)ci * h * w;
        float *dst = col + (size_t)r * cols;
        int off = kx * d->dil_w - d->pad_left;
        int p = p0, end = p0 + cols, ca, cb;

        // Output columns [ca, cb) read inside the input row (input column
        // ox * sw + off); the others are zero padding.
        nn__tap_range(&ca, &cb, 0, 0, -off, d->stride_w, ow, w);

        // One output row (or the part of it inside the block) at a time.
        while (p < end) {
            int oy = p / ow, ox0 = p % ow;
            int ox1 = ow < ox0 + (end - p) ? ow : ox0 + (end - p);
            int iy = oy * d->stride_h - d->pad_top + ky * d->dil_h;
            int a, b;

            if (iy < 0 || iy >= h) {
                memset(dst, 0, sizeof(float) * (ox1 - ox0));
                dst += ox1 - ox0;
                p += ox1 - ox0;
                continue;
            }

            // This row's part of [ca, cb).
            a = ca < ox0 ? ox0 : (ca > ox1 ? ox1 : ca);
            b = cb > ox1 ? ox1 : (cb < a ? a : cb);
            for (int ox = ox0; ox < a; ox++)
                *dst++ = 0.0f;
            if (b > a && d->stride_w == 1) {
                memcpy(dst, plane + (size_t)iy * w + a + off,
                       sizeof(float) * (b - a));
                dst += b - a;
            } else if (b > a) {
                const float *src = plane + (size_t)iy * w + a * d->stride_w +
                                   off;
                for (int ox = a; ox < b; ox++, src += d->stride_w)
                    *dst++ = *src;
            }
            for (int ox = b; ox < ox1; ox++)
                *dst++ = 0.0f;
            p += ox1 - ox0;
        }
    }
}

// One output position (a 1x1 output plane): out[i] = act(w_i . x +
// bias[i]) for the m rows of w (m x k), a matrix-vector product. la_sgemm
// would pack all of w for a single column and run its 16-lane tiles on one
// valid lane (the descriptor's last two 256-channel layers took 0.28 ms
// each for 1.2 MFLOP).
static void gemv(float *out, const float *w, const float *x, int m, int k,
                 const la_epilogue *ep)
{
    NN_OMP(parallel for schedule(static) if ((size_t)m * k > 65536))
    for (int i = 0; i < m; i++) {
        const float *wi = w + (size_t)i * k;
        float acc = 0.0f;

        NN_OMP(simd reduction(+ : acc))
        for (int j = 0; j < k; j++)
            acc += wi[j] * x[j];
        if (ep->bias)
            acc += ep->bias[i];
        out[i] = nn__act1(acc, ep->act, ep->slope ? ep->slope[i] : 0.0f);
    }
}

static void forward_gemm(const nn_conv *c, float *out, const float *in,
                         int n, int h, int w, unsigned char *scratch)
{
    const nn_conv_desc *d = &c->d;
    int oh, ow, p, pb, g_count = d->groups;
    int m = d->cout / d->groups, cin_g = d->cin / d->groups;
    int k = cin_g * d->kh * d->kw;
    size_t col_bytes;
    float *col = (float *)scratch;
    void *gemm_ws;

    nn_conv_out_size(&oh, &ow, d, h, w);
    p = oh * ow;
    gemm_scratch(c, h, w, &col_bytes);
    gemm_ws = scratch ? scratch + col_bytes : NULL;
    pb = is_pointwise(d) ? p : col_block((size_t)k, p);

    // One GEMM per image, group and column block; bias and activation
    // ride in the epilogue (bias and slope of the group's rows).
    for (int b = 0; b < n; b++)
        for (int g = 0; g < g_count; g++) {
            const float *in_g = in + ((size_t)b * d->cin +
                                      (size_t)g * cin_g) * h * w;
            const float *w_g = c->weight + (size_t)g * m * k;
            float *out_g = out + ((size_t)b * d->cout + (size_t)g * m) * p;
            la_epilogue ep = {
                .bias = c->bias ? c->bias + (size_t)g * m : NULL,
                .slope = c->slope ? c->slope + (size_t)g * m : NULL,
                .act = d->act,
                .axis = LA_BIAS_ROW,
            };

            if (p == 1) {
                // A 1x1 output: the receptive field is one column.
                if (!is_pointwise(d))
                    im2col(col, in_g, d, h, w, ow, 0, 1);
                gemv(out_g, w_g, is_pointwise(d) ? in_g : col, m, k, &ep);
                continue;
            }
            if (is_pointwise(d)) {
                // in_g: cin_g x (h * w) is already K x P.
                la_sgemm(LA_NOTRANS, LA_NOTRANS, m, p, k, 1.0f, w_g, k, in_g,
                         p, 0.0f, out_g, p, &ep, gemm_ws);
                continue;
            }
            for (int p0 = 0; p0 < p; p0 += pb) {
                int cols = p - p0 < pb ? p - p0 : pb;

                im2col(col, in_g, d, h, w, ow, p0, cols);
                la_sgemm(LA_NOTRANS, LA_NOTRANS, m, cols, k, 1.0f, w_g, k,
                         col, cols, 0.0f, out_g + p0, p, &ep, gemm_ws);
            }
        }
}

// ---------------------------------------------------------------------------
// Depthwise path

static void forward_depthwise(const nn_conv *c, float *out, const float *in,
                              int n, int h, int w)
{
    const nn_conv_desc *d = &c->d;
    nn_dwconv_fn kernel = nn__dwconv_kernels[facet_isa_active()];
    nn_window g = {
        .h = h, .w = w, .kh = d->kh, .kw = d->kw,
        .sh = d->stride_h, .sw = d->stride_w, .dh = d->dil_h, .dw = d->dil_w,
        .pt = d->pad_top, .pb = d->pad_bottom, .pl = d->pad_left,
        .pr = d->pad_right,
    };
    int planes = n * d->cin;

    FACET_ASSERT((size_t)h * w <= INT32_MAX);
    nn_conv_out_size(&g.oh, &g.ow, d, h, w);

    // One (image, channel) plane per iteration; each plane's sum order is
    // fixed inside the kernel.
    NN_OMP(parallel for schedule(static))
    for (int p = 0; p < planes; p++) {
        int ch = p % d->cin;

        kernel(out + (size_t)p * g.oh * g.ow, in + (size_t)p * h * w,
               c->weight + (size_t)ch * d->kh * d->kw,
               c->bias ? c->bias[ch] : 0.0f, d->act,
               c->slope ? c->slope[ch] : 0.0f, &g);
    }
}

// ---------------------------------------------------------------------------
// Forward

size_t nn_conv_scratch_size(const nn_conv *c, int n, int h, int w)
{
    const nn_conv_desc *d = &c->d;
    int oh, ow;
    size_t col_bytes;

    nn_conv_out_size(&oh, &ow, d, h, w);
    switch (c->algo) {
    case NN_CONV_GEMM:
        return gemm_scratch(c, h, w, &col_bytes);
    case NN_CONV_WINOGRAD:
        if (n == 0 || oh == 0 || ow == 0)
            return 0;
        return nn__wino_scratch_size(n, d->cin, d->cout, h, w, d->pad_top,
                                     d->pad_left, oh, ow, c->wino != NULL);
    default:
        return 0;
    }
}

void nn_conv_forward(const nn_conv *c, nn_tensor *out, const nn_tensor *in,
                     void *scratch)
{
    const nn_conv_desc *d = &c->d;
    int n = in->dim[0], h = in->dim[2], w = in->dim[3];
    int oh, ow;

    nn_conv_out_size(&oh, &ow, d, h, w);
    FACET_ASSERT(in->ndim == 4 && out->ndim == 4 && in->dim[1] == d->cin);
    FACET_ASSERT(out->dim[0] == n && out->dim[1] == d->cout &&
                 out->dim[2] == oh && out->dim[3] == ow);
    FACET_ASSERT(scratch || nn_conv_scratch_size(c, n, h, w) == 0);
    if (n == 0 || oh == 0 || ow == 0)
        return;

    switch (c->algo) {
    case NN_CONV_DEPTHWISE:
        forward_depthwise(c, out->data, in->data, n, h, w);
        break;
    case NN_CONV_WINOGRAD:
        nn__wino_forward(out->data, in->data, c->wino, c->weight, c->bias,
                         d->act, c->slope, n, d->cin, d->cout, h, w,
                         d->pad_top, d->pad_left, oh, ow, scratch);
        break;
    default:
        forward_gemm(c, out->data, in->data, n, h, w, scratch);
        break;
    }
}

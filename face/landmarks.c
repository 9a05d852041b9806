// landmarks.c - dlib's ERT shape predictor: loading the converted model
// and predicting the landmarks of one face box (face/landmarks.h).
//
// The cascade, as dlib's shape_predictor::operator() runs it:
//   s = mean shape (unit box)
//   for each cascade t:
//     A = the 2x2 rotation-and-scale part of the least-squares similarity
//         transform from the mean shape to s, rounded to float
//     for each feature pixel p: q = A * delta[p] + s[anchor[p]] in float,
//         mapped to the image through the box and rounded to the nearest
//         pixel; its grey value, or 0 outside the image
//     for each tree: walk the splits (v[idx1] - v[idx2] > thresh: left),
//         add the leaf's increment to s
//   landmarks = s mapped through the box
// Every float and double operation is done in dlib's order and precision,
// so that each feature pixel rounds to the same integer pixel as in dlib.
//
// ref: dlib/image_processing/shape_predictor.h (dlib 19.24)
// ref: dlib/geometry/point_transforms.h: find_similarity_transform
//      (Umeyama), find_affine_transform (pseudo-inverse)
// ref: dlib/geometry/vector.h: float -> integer point is floor(v + 0.5)
// ref: dlib/pixel.h: rgb_pixel -> grey is (r + g + b) / 3 in unsigned int
// ref: method-spec section 7.3
//
// Limitations:
// - The box-to-image map reproduces the pseudo-inverse dlib computes with
//   the LAPACK of Debian 12 (OpenBLAS); another dlib build may differ in
//   the last bits, which only matters for a feature point exactly half-way
//   between two pixels (UNIT_PINV below).
// - The similarity fit uses the closed form instead of dlib's 2x2 SVD;
//   both agree to a few units in the last place of a double, which the
//   rounding to float absorbs (no difference in 200000 random shapes).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "landmarks.h"

// dlib's arithmetic (as Debian builds it for x86-64) has no fused
// multiply-adds. A fused one changes the last bit of a feature position,
// which moves the feature pixel when it lies within ~1e-5 px of a
// half-pixel boundary (rare; no fixture face is affected). GCC does not
// contract in ISO C mode (-std=c11); clang must be told.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

struct face_landmarks {
    int parts;                  // L
    int cascades;               // T
    int trees;                  // K per cascade
    int splits;                 // S per tree
    int features;               // P per cascade
    wt_file *owned;             // the file when opened by path, else NULL
    const float *mean_shape;    // L x 2 (view)
    const float *split_thresh;  // T x K x S (view)
    const float *leaves;        // T x K x (S + 1) x L x 2 (view)
    const float *deltas;        // T x P x 2 (view)
    uint16_t *split_idx;        // T x K x S x 2 feature indices (owned)
    uint16_t *anchor2;          // T x P: 2 x anchor part, an offset into s
    double *mean_c;             // L x 2: mean shape minus its centroid
    double mean_var;            // sum of squared norms of mean_c
};

// The pseudo-inverse of the unit-box corners P = [0 1 1; 0 0 1; 1 1 1]
// (columns (0,0), (1,0), (1,1) with a row of ones), as dlib's pinv()
// returns it (dlib 19.24 on Debian 12). dlib maps a box to the image by
// Q * pinv(P), with Q the box's corners, so its map is off the exact one
// (x = left + u * (right - left)) by ~1e-14 px. That decides which pixel a
// feature point lying exactly half-way between two pixels reads: with the
// exact map, 11 of 25000 random boxes of power-of-two sides on a fixture
// photo gave other landmarks (by 0.02 to 5 px), and the fixture boxes
// marked "tie" show dlib on the side of these constants.
static const double UNIT_PINV[3][3] = {
    {-0x1.0000000000001p+0, -0x1.8p-51, 0x1.0000000000002p+0},
    {0x1.ffffffffffffep-1, -0x1.ffffffffffffcp-1, 0x1p-53},
    {0x1p-54, 0x1.ffffffffffffep-1, 0x1p-54},
};

// The box-to-image affine map: image = m * unit + b, as 2 x 3 [m | b].
static void box_to_image(double out[2][3], const face_landmarks_box *box)
{
    // Q: the images of the unit corners (0,0), (1,0), (1,1).
    const double q[2][3] = {
        {box->left, box->right, box->right},
        {box->top, box->top, box->bottom},
    };

    // Q * pinv(P), summed in dlib's order.
    for (int i = 0; i < 2; i++) {
        for (int c = 0; c < 3; c++) {
            double s = q[i][0] * UNIT_PINV[0][c];
            s += q[i][1] * UNIT_PINV[1][c];
            s += q[i][2] * UNIT_PINV[2][c];
            out[i][c] = s;
        }
    }
}

// ---------------------------------------------------------------------------
// Loading

void face_landmarks_free(face_landmarks *m)
{
    if (!m)
        return;
    free(m->split_idx);
    free(m->anchor2);
    free(m->mean_c);
    wt_close(m->owned);
    free(m);
}

int face_landmarks_parts(const face_landmarks *m)
{
    FACET_ASSERT(m != NULL);
    return m->parts;
}

// A size from the metadata, within [1, cap].
static facet_status meta_size(int *out, const wt_file *w, const char *key,
                              int64_t cap)
{
    int64_t v;
    facet_status s = wt_meta_i64(&v, w, key);

    if (s != FACET_OK)
        return s;
    if (v < 1 || v > cap)
        return facet_fail(FACET_E_FORMAT, "%s: metadata %s = %lld is out of"
                          " range [1, %lld]", wt_path(w), key, (long long)v,
                          (long long)cap);
    *out = (int)v;
    return FACET_OK;
}

// Integer-valued floats in [0, limit) to uint16, each scaled by `scale`.
static facet_status to_indices(uint16_t *dst, const float *src, size_t n,
                               int limit, int scale, const wt_file *w,
                               const char *tensor)
{
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        if (!(v >= 0 && v < (float)limit) || v != floorf(v))
            return facet_fail(FACET_E_FORMAT, "%s: %s[%zu] = %g is not an "
                              "index below %d", wt_path(w), tensor, i,
                              (double)v, limit);
        dst[i] = (uint16_t)((int)v * scale);
    }
    return FACET_OK;
}

static facet_status check_finite(const float *p, size_t n, const wt_file *w,
                                 const char *tensor)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return facet_fail(FACET_E_FORMAT, "%s: %s[%zu] is not finite",
                              wt_path(w), tensor, i);
    return FACET_OK;
}

facet_status face_landmarks_create(face_landmarks **out, const wt_file *w)
{
    face_landmarks *m;
    int depth;
    size_t n_split, n_pix;
    const float *idx, *anchor;
    facet_status s;

    FACET_ASSERT(out != NULL && w != NULL);
    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", wt_path(w));

    // Sizes from the metadata, within the caps; splits = 2^depth - 1.
    if ((s = meta_size(&m->parts, w, "num_parts", FACE_LM_MAX_PARTS)) ||
        (s = meta_size(&m->cascades, w, "cascades", 10000)) ||
        (s = meta_size(&m->trees, w, "trees_per_cascade", 1000000)) ||
        (s = meta_size(&depth, w, "tree_depth", FACE_LM_MAX_DEPTH)) ||
        (s = meta_size(&m->features, w, "feature_pixels",
                       FACE_LM_MAX_FEATURES)))
        goto fail;
    m->splits = (1 << depth) - 1;

    // Tensors, each with its shape checked.
    {
        int64_t T = m->cascades, K = m->trees, S = m->splits,
                P = m->features, L = m->parts;
        int64_t d_shape[2] = {L, 2};
        int64_t d_idx[4] = {T, K, S, 2};
        int64_t d_thr[3] = {T, K, S};
        int64_t d_leaf[5] = {T, K, S + 1, L, 2};
        int64_t d_anchor[2] = {T, P};
        int64_t d_delta[3] = {T, P, 2};

        if (!(m->mean_shape = wt_tensor(w, "mean_shape", 2, d_shape)) ||
            !(idx = wt_tensor(w, "split_idx", 4, d_idx)) ||
            !(m->split_thresh = wt_tensor(w, "split_thresh", 3, d_thr)) ||
            !(m->leaves = wt_tensor(w, "leaf_values", 5, d_leaf)) ||
            !(anchor = wt_tensor(w, "anchor_idx", 2, d_anchor)) ||
            !(m->deltas = wt_tensor(w, "deltas", 3, d_delta))) {
            s = FACET_E_FORMAT;  // wt_tensor set the detail
            goto fail;
        }
    }

    // Indices to compact integers, validated; the small float tensors
    // must be finite (leaf values are used as they are: a bad one only
    // makes the result NaN, and the file's CRC guards them).
    n_split = (size_t)m->cascades * m->trees * m->splits * 2;
    n_pix = (size_t)m->cascades * m->features;
    m->split_idx = malloc(n_split * sizeof(uint16_t));
    m->anchor2 = malloc(n_pix * sizeof(uint16_t));
    m->mean_c = malloc((size_t)m->parts * 2 * sizeof(double));
    if (!m->split_idx || !m->anchor2 || !m->mean_c) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", wt_path(w));
        goto fail;
    }
    if ((s = to_indices(m->split_idx, idx, n_split, m->features, 1, w,
                        "split_idx")) ||
        (s = to_indices(m->anchor2, anchor, n_pix, m->parts, 2, w,
                        "anchor_idx")) ||
        (s = check_finite(m->mean_shape, (size_t)m->parts * 2, w,
                          "mean_shape")) ||
        (s = check_finite(m->split_thresh, n_split / 2, w,
                          "split_thresh")) ||
        (s = check_finite(m->deltas, n_pix * 2, w, "deltas")))
        goto fail;

    // The mean shape, centred, in double: the fixed side of every
    // similarity fit (dlib: the from-points of find_similarity_transform).
    {
        double cx = 0, cy = 0, var = 0;
        for (int i = 0; i < m->parts; i++) {
            cx += m->mean_shape[2 * i];
            cy += m->mean_shape[2 * i + 1];
        }
        cx /= m->parts;
        cy /= m->parts;
        for (int i = 0; i < m->parts; i++) {
            double dx = m->mean_shape[2 * i] - cx;
            double dy = m->mean_shape[2 * i + 1] - cy;
            m->mean_c[2 * i] = dx;
            m->mean_c[2 * i + 1] = dy;
            var += dx * dx + dy * dy;
        }
        m->mean_var = var;
        if (m->parts > 1 && !(var > 0)) {
            s = facet_fail(FACET_E_FORMAT, "%s: mean_shape is degenerate",
                           wt_path(w));
            goto fail;
        }
    }
    *out = m;
    return FACET_OK;

fail:
    face_landmarks_free(m);
    return s;
}

facet_status face_landmarks_open(face_landmarks **out, const char *path)
{
    wt_file *w;
    facet_status s;

    FACET_ASSERT(out != NULL && path != NULL);
    *out = NULL;
    if ((s = wt_open(&w, path, 0)) != FACET_OK)
        return s;
    if ((s = face_landmarks_create(out, w)) != FACET_OK) {
        wt_close(w);
        return s;
    }
    (*out)->owned = w;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Prediction

// The 2x2 matrix a of the least-squares similarity transform from the mean
// shape to `shape` (L x 2), rounded to float as dlib rounds it:
// a = [alpha -beta; beta alpha], alpha = sum(m.c) / sum|m|^2,
// beta = sum(m x c) / sum|m|^2, with m and c the centred point sets.
static void similarity(float a[4], const face_landmarks *m,
                       const float *shape)
{
    double cx = 0, cy = 0, sxx = 0, sxy = 0, syx = 0, syy = 0;
    const int n = m->parts;

    // dlib uses the identity for a single point.
    if (n == 1) {
        a[0] = a[3] = 1;
        a[1] = a[2] = 0;
        return;
    }

    // Centroid of the current shape, in double.
    for (int i = 0; i < n; i++) {
        cx += shape[2 * i];
        cy += shape[2 * i + 1];
    }
    cx /= n;
    cy /= n;

    // Cross-covariance sum of (current - centroid) x (mean - centroid)^T.
    for (int i = 0; i < n; i++) {
        double tx = shape[2 * i] - cx, ty = shape[2 * i + 1] - cy;
        double fx = m->mean_c[2 * i], fy = m->mean_c[2 * i + 1];
        sxx += tx * fx;
        sxy += tx * fy;
        syx += ty * fx;
        syy += ty * fy;
    }
    double alpha = (sxx + syy) / m->mean_var;
    double beta = (syx - sxy) / m->mean_var;
    a[0] = (float)alpha;
    a[1] = (float)-beta;
    a[2] = (float)beta;
    a[3] = (float)alpha;
}

// Grey value of pixel (x, y), as dlib's get_pixel_intensity.
static float pixel(const uint8_t *img, int stride, int channels, long x,
                   long y)
{
    const uint8_t *p = img + (size_t)y * (size_t)stride +
                       (size_t)x * (size_t)channels;

    if (channels == 1)
        return p[0];
    return (float)(((unsigned)p[0] + p[1] + p[2]) / 3u);
}

// Sample the P feature pixels of cascade t for the current shape.
// vals: P floats.
static void feature_values(float *vals, const face_landmarks *m, int t,
                           const float *shape, const double to_img[2][3],
                           const uint8_t *img, int width, int height,
                           int stride, int channels)
{
    const float *delta = m->deltas + (size_t)t * m->features * 2;
    const uint16_t *anchor2 = m->anchor2 + (size_t)t * m->features;
    float a[4];

    similarity(a, m, shape);
    for (int p = 0; p < m->features; p++) {
        // In the unit box, in float: a * delta + anchor point.
        float dx = delta[2 * p], dy = delta[2 * p + 1];
        float qx = a[0] * dx + a[1] * dy;
        float qy = a[2] * dx + a[3] * dy;
        qx = qx + shape[anchor2[p]];
        qy = qy + shape[anchor2[p] + 1];

        // To the image in double, rounded to the nearest pixel; outside
        // (or NaN) reads as 0.
        double x = to_img[0][0] * qx + to_img[0][1] * qy + to_img[0][2];
        double y = to_img[1][0] * qx + to_img[1][1] * qy + to_img[1][2];
        double px = floor(x + 0.5), py = floor(y + 0.5);
        if (px >= 0 && px <= width - 1 && py >= 0 && py <= height - 1)
            vals[p] = pixel(img, stride, channels, (long)px, (long)py);
        else
            vals[p] = 0;
    }
}

// shape += leaf, n floats; blocks of 8 so that the compiler vectorises
// (each element is still one float addition, in tree order, as in dlib).
static void add_leaf(float *restrict shape, const float *restrict leaf,
                     int n)
{
    int j = 0;

    for (; j + 8 <= n; j += 8)
        for (int e = 0; e < 8; e++)
            shape[j + e] += leaf[j + e];
    for (; j < n; j++)
        shape[j] += leaf[j];
}

// Ask for the cache lines of `bytes` bytes at p ahead of their use.
static void prefetch(const void *p, size_t bytes)
{
#if defined(__GNUC__)
    const char *c = p;
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(c + o);
    __builtin_prefetch(c + bytes - 1);
#else
    (void)p, (void)bytes;
#endif
}

// Run the K trees of cascade t on the feature values and add their leaves
// in tree order. The leaves (8.5 cache lines each, scattered over 65 MB)
// are the cost; a tree's leaf is prefetched when its walk ends and added
// LEAF_AHEAD trees later. The walks do not depend on the shape (the
// feature values are fixed for the cascade), so this changes nothing in
// the arithmetic.
#define LEAF_AHEAD 8
static void run_forest(float *shape, const face_landmarks *m, int t,
                       const float *vals)
{
    const int S = m->splits, K = m->trees, two_l = 2 * m->parts;
    const size_t tree0 = (size_t)t * m->trees;
    const float *ring[LEAF_AHEAD];

    for (int k = 0; k < K + LEAF_AHEAD; k++) {
        // The leaf found LEAF_AHEAD trees ago, its lines now in cache.
        if (k >= LEAF_AHEAD)
            add_leaf(shape, ring[k % LEAF_AHEAD], two_l);
        if (k >= K)
            continue;

        // Heap-ordered walk: children of node i are 2i+1 and 2i+2.
        const uint16_t *idx = m->split_idx + (tree0 + k) * S * 2;
        const float *thr = m->split_thresh + (tree0 + k) * S;
        int i = 0;
        while (i < S)
            i = vals[idx[2 * i]] - vals[idx[2 * i + 1]] > thr[i]
                    ? 2 * i + 1 : 2 * i + 2;
        ring[k % LEAF_AHEAD] = m->leaves + ((tree0 + k) * (S + 1) +
                                            (i - S)) * two_l;
        prefetch(ring[k % LEAF_AHEAD], sizeof(float) * two_l);
    }
}

static int32_t round_point(double v)
{
    double r = floor(v + 0.5);

    if (isnan(r))
        return INT32_MIN;
    if (r <= INT32_MIN)
        return INT32_MIN;
    if (r >= INT32_MAX)
        return INT32_MAX;
    return (int32_t)r;
}

facet_status face_landmarks_predict(float *xy, int32_t *ixy,
                                    const face_landmarks *m,
                                    const uint8_t *img, int width,
                                    int height, int stride, int channels,
                                    const face_landmarks_box *box)
{
    float shape[2 * FACE_LM_MAX_PARTS];   // L x 2, unit box
    float vals[FACE_LM_MAX_FEATURES];     // P
    double to_img[2][3];
    const double cap = FACE_LM_MAX_COORD;

    FACET_ASSERT(m != NULL && xy != NULL);

    // The image and the box.
    if (!img || !box)
        return facet_fail(FACET_E_ARG, "landmarks: NULL image or box");
    if (width < 1 || height < 1 ||
        !(channels == 1 || channels == 3 || channels == 4) ||
        (int64_t)width * channels > stride)
        return facet_fail(FACET_E_ARG, "landmarks: bad image %dx%d, %d "
                          "channels, stride %d", width, height, channels,
                          stride);
    if (!(fabs(box->left) <= cap && fabs(box->top) <= cap &&
          fabs(box->right) <= cap && fabs(box->bottom) <= cap))
        return facet_fail(FACET_E_ARG, "landmarks: box (%g, %g, %g, %g) is "
                          "not finite or beyond +-%g", box->left, box->top,
                          box->right, box->bottom, cap);
    if (!(box->right > box->left && box->bottom > box->top))
        return facet_fail(FACET_E_ARG, "landmarks: empty box (%g, %g, %g, "
                          "%g)", box->left, box->top, box->right,
                          box->bottom);
    if (box->right < 0 || box->bottom < 0 || box->left > width - 1 ||
        box->top > height - 1)
        return facet_fail(FACET_E_ARG, "landmarks: box (%g, %g, %g, %g) is "
                          "outside the %dx%d image", box->left, box->top,
                          box->right, box->bottom, width, height);
    box_to_image(to_img, box);

    // The cascade, from the mean shape.
    memcpy(shape, m->mean_shape, sizeof(float) * 2 * m->parts);
    for (int t = 0; t < m->cascades; t++) {
        feature_values(vals, m, t, shape, to_img, img, width, height,
                       stride, channels);
        run_forest(shape, m, t, vals);
    }

    // The shape in image coordinates (double), then float and integer.
    for (int i = 0; i < m->parts; i++) {
        double sx = shape[2 * i], sy = shape[2 * i + 1];
        double x = to_img[0][0] * sx + to_img[0][1] * sy + to_img[0][2];
        double y = to_img[1][0] * sx + to_img[1][1] * sy + to_img[1][2];
        xy[2 * i] = (float)x;
        xy[2 * i + 1] = (float)y;
        if (ixy) {
            ixy[2 * i] = round_point(x);
            ixy[2 * i + 1] = round_point(y);
        }
    }
    return FACET_OK;
}

// detect.c - face detection with face-api's SSD at two scales, the
// subject rule, the SSD -> dlib landmark-box calibration and the aligned
// crop box (see detect.h for the contract and the reasoning).
//
// Calibration (tools/eval/detect_eval.c; fixture tests/data/detect/
// dlib_lfw.txt: dlib 19.24's HOG boxes and landmarks on every third LFW
// photo, 304 photos). dlib's landmark model was trained on its own
// detector's boxes, which sit lower and tighter than the SSD's. For each
// pass, the SSD box matched to dlib's central box on the even-numbered
// photos gives, by least squares, the centre shift (in box sides) and the
// side of a square box as a w + b h (`detect_eval fit`): pass 0 dx
// +0.0243 dy +0.0472, side 0.6965 w + 0.2911 h (143 photos); pass 1 dx
// +0.0473 dy +0.0386, side 1.0005 w + 0.1087 h (152). On the 152
// held-out photos, facet's landmarks from the subject's calibrated box
// are within a median 0.0101 (mean 0.0295, 90th percentile 0.0253) of
// the inter-ocular distance of dlib's landmarks from dlib's own box;
// dlib's own round trip (its landmarks -> a box -> landmarks again) gives
// a median 0.0092, so the calibrated box costs about 0.001 of the
// inter-ocular distance at the median. The uncalibrated SSD box gives a
// median 0.0179. Seven photos stay above 0.1 (profile views and one
// photo where the SSD box covers another face).
//
// Aligned crops (`detect_eval aligned`, the 922 crops of aligned112):
// face_detect finds a face in 867; on those, the landmark box that a
// second landmark pass derives from the first landmarks lies, as median
// fractions of the frame, at left 0.1317, top 0.2336, right 0.9003,
// bottom 1.0038. face_aligned_box uses these for crops where no face is
// found (55 of 922).
//
// ref: nn/net_ssd.h (the network, its input and its NMS)
// ref: dlib/image_processing/frontal_face_detector.h (dlib 19.24): the
//      boxes the landmark model was trained on
//
// Limitations:
// - Downscaling in the padded pass averages at most 4 x 4 bilinear samples
//   per input pixel, so a photo over about 4 x 512 px on its longer side
//   aliases somewhat there (face-api's own pass 0 averages none).
#include "detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/net_ssd.h"
#include "../weights/weights.h"

// Most bilinear samples per input pixel and axis in the padded pass.
#define MAX_SUPERSAMPLE 4
// Grey of the padded pass's border: the network's input zero is 127.5.
#define PAD_GREY 128.0f
// Pooling the passes: a box overlapping a kept one by more is dropped.
#define POOL_IOU 0.5

// One axis of bilinear sampling: for a sample at pixel-centre coordinate
// p of an axis of n pixels, the two pixels, the second's weight, and
// whether the sample lies on the photo (inside its edges).
typedef struct tap {
    int i0, i1;
    float t;
    int inside;
} tap;

struct face_detector {
    wt_file *w;
    nn_ssd *ssd;
    float *input;              // 2 x 3 x 512 x 512: pass 0, pass 1
    nn_ssd_det *raw;           // FACE_DET_PASSES x FACE_DETECT_MAX_PASS
    face_det *pool;            // the same count, pooled
    tap *taps;                 // 2 x 512 x MAX_SUPERSAMPLE (fill_padded)
};

// ---------------------------------------------------------------------------
// Constants (fitted; see the note at the top)

static const face_box_calib calib[FACE_DET_PASSES] = {
    {0.0243, 0.0472, 0.6965, 0.2911, 0.6965, 0.2911},
    {0.0473, 0.0386, 1.0005, 0.1087, 1.0005, 0.1087},
};

// face_box_from_landmarks: centre offset and side over the RMS spread.
static const face_shape_calib shape_calib = {0.0487, -0.1810, 2.8505};

// face_aligned_box: edges as fractions of the frame.
static const double aligned_frac[4] = {0.1317, 0.2336, 0.9003, 1.0038};

// ---------------------------------------------------------------------------
// Open / free

facet_status face_detector_open(face_detector **out, const char *path)
{
    face_detector *d;
    facet_status st;
    size_t plane = (size_t)3 * NN_SSD_SIZE * NN_SSD_SIZE;
    size_t nraw = (size_t)FACE_DET_PASSES * FACE_DETECT_MAX_PASS;

    if (!out)
        return facet_fail(FACET_E_ARG, "face_detector_open: NULL out");
    *out = NULL;
    if (!path)
        return facet_fail(FACET_E_ARG, "face_detector_open: NULL path");
    d = facet_calloc(sizeof *d);
    if (!d)
        return facet_fail(FACET_E_NOMEM, "%s: detector object", path);

    // Weights, the network for batches of both passes, its buffers.
    st = wt_open(&d->w, path, 0);
    if (st == FACET_OK)
        st = nn_ssd_create(&d->ssd, d->w, FACE_DET_PASSES, NULL, 0);
    if (st == FACET_OK) {
        d->input = facet_alloc(FACE_DET_PASSES * plane * sizeof(float));
        d->raw = facet_alloc(nraw * sizeof *d->raw);
        d->pool = facet_alloc(nraw * sizeof *d->pool);
        d->taps = facet_alloc((size_t)2 * NN_SSD_SIZE * MAX_SUPERSAMPLE *
                              sizeof *d->taps);
        if (!d->input || !d->raw || !d->pool || !d->taps)
            st = facet_fail(FACET_E_NOMEM, "%s: detector buffers", path);
    }
    if (st != FACET_OK) {
        face_detector_free(d);
        return st;
    }
    *out = d;
    return FACET_OK;
}

void face_detector_free(face_detector *d)
{
    if (!d)
        return;
    nn_ssd_free(d->ssd);
    wt_close(d->w);
    facet_free(d->input);
    facet_free(d->raw);
    facet_free(d->pool);
    facet_free(d->taps);
    facet_free(d);
}

// ---------------------------------------------------------------------------
// The padded pass's input

// Where the network's input square lies in the photo frame: its top-left
// edge (left, top) and f photo pixels per input pixel.
typedef struct square {
    double left, top, f;
} square;

static square padded_square(int w, int h, double pad)
{
    double side = (w > h ? w : h) * (1.0 + 2.0 * pad);
    square q;

    q.f = side / NN_SSD_SIZE;
    q.left = 0.5 * (w - 1) - 0.5 * side;
    q.top = 0.5 * (h - 1) - 0.5 * side;
    return q;
}

static tap make_tap(double p, int n, face_pad_mode mode)
{
    tap a;
    double q;

    a.inside = p >= -0.5 && p <= n - 0.5;

    // Mirror: fold p into [-0.5, n - 0.5] about the edges (period 2n).
    if (mode == FACE_PAD_MIRROR && !a.inside) {
        q = fmod(p + 0.5, 2.0 * n);
        if (q < 0)
            q += 2.0 * n;
        if (q > n)
            q = 2.0 * n - q;
        p = q - 0.5;
    }

    // Clamp to the pixel centres, then the two neighbours.
    if (p < 0)
        p = 0;
    if (p > n - 1)
        p = n - 1;
    a.i0 = (int)floor(p);
    a.i1 = a.i0 + 1 < n ? a.i0 + 1 : n - 1;
    a.t = (float)(p - a.i0);
    return a;
}

// dst: 3 x 512 x 512 (R, G, B planes, 0..255), the photo seen through
// square q, border filled by `mode`. taps: 2 x 512 x MAX_SUPERSAMPLE.
static void fill_padded(float *dst, const face_image *im, square q,
                        face_pad_mode mode, tap *taps)
{
    const int n = NN_SSD_SIZE;
    int k = (int)ceil(q.f - 1e-9);
    tap *tx = taps, *ty = taps + (size_t)n * MAX_SUPERSAMPLE;
    size_t plane = (size_t)n * n;

    if (k < 1)
        k = 1;
    if (k > MAX_SUPERSAMPLE)
        k = MAX_SUPERSAMPLE;

    // Sample positions: k per input pixel and axis, evenly inside it.
    for (int u = 0; u < n; u++)
        for (int a = 0; a < k; a++) {
            double off = (u + (a + 0.5) / k) * q.f;
            tx[u * k + a] = make_tap(q.left + off, im->w, mode);
            ty[u * k + a] = make_tap(q.top + off, im->h, mode);
        }

    // Each input pixel: the mean of its k x k samples; in grey mode a
    // sample off the photo reads PAD_GREY.
    #pragma omp parallel for schedule(static)
    for (int v = 0; v < n; v++) {
        for (int u = 0; u < n; u++) {
            float acc[3] = {0, 0, 0};
            for (int b = 0; b < k; b++) {
                const tap *y = &ty[v * k + b];
                const uint8_t *r0 = im->px + (size_t)y->i0 * im->stride;
                const uint8_t *r1 = im->px + (size_t)y->i1 * im->stride;
                for (int a = 0; a < k; a++) {
                    const tap *x = &tx[u * k + a];
                    if (mode == FACE_PAD_GREY && !(x->inside && y->inside)) {
                        for (int c = 0; c < 3; c++)
                            acc[c] += PAD_GREY;
                        continue;
                    }
                    for (int c = 0; c < 3; c++) {
                        float top = r0[3 * x->i0 + c] +
                                    x->t * (r0[3 * x->i1 + c] -
                                            r0[3 * x->i0 + c]);
                        float bot = r1[3 * x->i0 + c] +
                                    x->t * (r1[3 * x->i1 + c] -
                                            r1[3 * x->i0 + c]);
                        acc[c] += top + y->t * (bot - top);
                    }
                }
            }
            for (int c = 0; c < 3; c++)
                dst[c * plane + (size_t)v * n + u] = acc[c] / (k * k);
        }
    }
}

// ---------------------------------------------------------------------------
// Detection

static facet_status check_args(const face_detector *d, const face_image *im,
                               const face_det *dets, int max, const int *n,
                               double min_score, const char *fn)
{
    if (!d || !im || !dets || !n)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (max < 1)
        return facet_fail(FACET_E_ARG, "%s: max %d < 1", fn, max);
    if (!(min_score >= 0 && min_score < 1))
        return facet_fail(FACET_E_ARG, "%s: min_score %g outside [0, 1)",
                          fn, min_score);
    if (!im->px || im->w < 1 || im->h < 1 ||
        im->stride < (size_t)3 * (size_t)im->w)
        return facet_fail(FACET_E_ARG, "%s: empty image or bad stride "
                          "(%d x %d, stride %zu)", fn, im->w, im->h,
                          im->stride);
    return FACET_OK;
}

// Pass 0's detections in the photo frame: face-api's boxes have the
// photo's left edge at 0, facet's at -0.5.
static int take_plain(face_det *out, const nn_ssd_det *raw, int nraw)
{
    for (int i = 0; i < nraw; i++) {
        out[i].x = raw[i].x - 0.5;
        out[i].y = raw[i].y - 0.5;
        out[i].w = raw[i].w;
        out[i].h = raw[i].h;
        out[i].score = raw[i].score;
        out[i].pass = FACE_DET_PLAIN;
    }
    return nraw;
}

// The padded pass's detections (boxes in input pixels, edges from 0) in
// the photo frame.
static int take_padded(face_det *out, const nn_ssd_det *raw, int nraw,
                       square q)
{
    for (int i = 0; i < nraw; i++) {
        out[i].x = q.left + raw[i].x * q.f;
        out[i].y = q.top + raw[i].y * q.f;
        out[i].w = raw[i].w * q.f;
        out[i].h = raw[i].h * q.f;
        out[i].score = raw[i].score;
        out[i].pass = FACE_DET_PADDED;
    }
    return nraw;
}

static double box_iou(const face_det *a, const face_det *b)
{
    double x0 = fmax(a->x, b->x), y0 = fmax(a->y, b->y);
    double x1 = fmin(a->x + a->w, b->x + b->w);
    double y1 = fmin(a->y + a->h, b->y + b->h);
    double inter, uni;

    if (x1 <= x0 || y1 <= y0)
        return 0;
    inter = (x1 - x0) * (y1 - y0);
    uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

// Pool: sort by score (stable: insertion sort keeps pass and network
// order on ties), drop boxes overlapping a kept one, keep at most max.
static int pool_dets(face_det *dets, int max, face_det *all, int nall)
{
    int kept = 0;

    for (int i = 1; i < nall; i++) {
        face_det t = all[i];
        int j = i;
        while (j > 0 && all[j - 1].score < t.score) {
            all[j] = all[j - 1];
            j--;
        }
        all[j] = t;
    }
    for (int i = 0; i < nall && kept < max; i++) {
        int keep = 1;
        for (int j = 0; j < kept && keep; j++)
            if (box_iou(&all[i], &dets[j]) > POOL_IOU)
                keep = 0;
        if (keep)
            dets[kept++] = all[i];
    }
    return kept;
}

facet_status face_detect_passes(face_detector *d, const face_image *im,
                                unsigned passes, face_det *dets, int max,
                                int *n, double min_score)
{
    size_t plane = (size_t)3 * NN_SSD_SIZE * NN_SSD_SIZE;
    int run0 = passes & 1, run1 = (passes >> 1) & 1, n0 = 0, n1 = 0;
    square q;
    nn_tensor in;
    facet_status st;

    if (n)
        *n = 0;
    st = check_args(d, im, dets, max, n, min_score, "face_detect");
    if (st != FACET_OK)
        return st;
    if (passes < 1 || passes > 3)
        return facet_fail(FACET_E_ARG, "face_detect: pass mask %u not in "
                          "1..3", passes);

    // The passes asked for in one batch: face-api's input, the padded one.
    if (run0) {
        st = nn_ssd_input(d->input, im->px, im->w, im->h, im->stride);
        if (st != FACET_OK)
            return st;
    }
    q = padded_square(im->w, im->h, 0.5);
    if (run1)
        fill_padded(d->input + run0 * plane, im, q, FACE_PAD_GREY, d->taps);
    in = nn_tensor_4d(d->input, run0 + run1, 3, NN_SSD_SIZE, NN_SSD_SIZE);
    st = nn_ssd_forward(d->ssd, &in);
    if (st != FACET_OK)
        return st;

    // Each pass's own selection, into the photo frame, then pooled.
    if (run0) {
        n0 = nn_ssd_select(d->ssd, d->raw, FACE_DETECT_MAX_PASS, 0, im->w,
                           im->h, min_score);
        take_plain(d->pool, d->raw, n0);
    }
    if (run1) {
        n1 = nn_ssd_select(d->ssd, d->raw, FACE_DETECT_MAX_PASS, run0,
                           NN_SSD_SIZE, NN_SSD_SIZE, min_score);
        take_padded(d->pool + n0, d->raw, n1, q);
    }
    *n = pool_dets(dets, max, d->pool, n0 + n1);
    return FACET_OK;
}

facet_status face_detect(face_detector *d, const face_image *im,
                         face_det *dets, int max, int *n, double min_score)
{
    return face_detect_passes(d, im, 3, dets, max, n, min_score);
}

facet_status face_detect_padded(face_detector *d, const face_image *im,
                                double pad, face_pad_mode mode,
                                face_det *dets, int max, int *n,
                                double min_score)
{
    square q;
    nn_tensor in;
    facet_status st;
    int n1;

    if (n)
        *n = 0;
    st = check_args(d, im, dets, max, n, min_score, "face_detect_padded");
    if (st != FACET_OK)
        return st;
    if (!(pad >= 0 && pad <= 4))
        return facet_fail(FACET_E_ARG, "face_detect_padded: pad %g outside "
                          "[0, 4]", pad);
    if (mode != FACE_PAD_GREY && mode != FACE_PAD_REPLICATE &&
        mode != FACE_PAD_MIRROR)
        return facet_fail(FACET_E_ARG, "face_detect_padded: unknown pad "
                          "mode %d", (int)mode);

    // One image through the network, its boxes into the photo frame.
    q = padded_square(im->w, im->h, pad);
    fill_padded(d->input, im, q, mode, d->taps);
    in = nn_tensor_4d(d->input, 1, 3, NN_SSD_SIZE, NN_SSD_SIZE);
    st = nn_ssd_forward(d->ssd, &in);
    if (st != FACET_OK)
        return st;
    n1 = nn_ssd_select(d->ssd, d->raw, FACE_DETECT_MAX_PASS, 0, NN_SSD_SIZE,
                       NN_SSD_SIZE, min_score);
    if (n1 > max)
        n1 = max;
    *n = take_padded(dets, d->raw, n1, q);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Subject

double face_subject_weight(const face_det *det, int img_w, int img_h)
{
    double side = img_w < img_h ? img_w : img_h;
    double dx, dy, d2, area;

    if (!det || img_w < 1 || img_h < 1 || !(det->w > 0 && det->h > 0))
        return 0;
    dx = det->x + 0.5 * det->w - 0.5 * (img_w - 1);
    dy = det->y + 0.5 * det->h - 0.5 * (img_h - 1);
    d2 = (dx * dx + dy * dy) / (side * side);
    area = det->w * det->h / ((double)img_w * img_h);
    return det->score * sqrt(area) *
           exp(-d2 / (2 * FACE_SUBJECT_SIGMA * FACE_SUBJECT_SIGMA));
}

int face_pick_subject(const face_det *dets, int n, int img_w, int img_h)
{
    int best = -1;
    double best_w = -1;

    if (!dets || n < 1 || img_w < 1 || img_h < 1)
        return -1;
    for (int i = 0; i < n; i++) {
        double wt = face_subject_weight(&dets[i], img_w, img_h);
        if (wt > best_w) {
            best_w = wt;
            best = i;
        }
    }
    return best;
}

// ---------------------------------------------------------------------------
// Landmark boxes

face_box_calib face_box_calib_of(int pass)
{
    return calib[pass == FACE_DET_PLAIN ? FACE_DET_PLAIN : FACE_DET_PADDED];
}

void face_det_box(const face_det *det, const face_box_calib *c,
                  face_landmarks_box *out)
{
    face_box_calib k;
    double cx, cy, bw, bh;

    FACET_ASSERT(det && out);
    k = c ? *c : face_box_calib_of(det->pass);
    cx = det->x + 0.5 * det->w + k.dx * det->w;
    cy = det->y + 0.5 * det->h + k.dy * det->h;
    bw = k.sxw * det->w + k.sxh * det->h;
    bh = k.syw * det->w + k.syh * det->h;
    out->left = cx - 0.5 * bw + 0.5;
    out->right = cx + 0.5 * bw - 0.5;
    out->top = cy - 0.5 * bh + 0.5;
    out->bottom = cy + 0.5 * bh - 0.5;
}

void face_det_to_landmark_box(const face_det *det, face_landmarks_box *out)
{
    face_det_box(det, NULL, out);
}

void face_landmarks_spread(const float *xy, int n, double *mx, double *my,
                           double *r)
{
    double sx = 0, sy = 0, ss = 0;

    FACET_ASSERT(xy && n >= 1 && mx && my && r);
    for (int i = 0; i < n; i++) {
        sx += xy[2 * i];
        sy += xy[2 * i + 1];
    }
    sx /= n;
    sy /= n;
    for (int i = 0; i < n; i++) {
        double dx = xy[2 * i] - sx, dy = xy[2 * i + 1] - sy;
        ss += dx * dx + dy * dy;
    }
    *mx = sx;
    *my = sy;
    *r = sqrt(ss / n);
}

void face_box_from_landmarks(const float *xy, int n,
                             const face_shape_calib *c,
                             face_landmarks_box *out)
{
    const face_shape_calib *k = c ? c : &shape_calib;
    double mx, my, r, cx, cy, side;

    FACET_ASSERT(out);
    face_landmarks_spread(xy, n, &mx, &my, &r);
    cx = mx + k->dx * r;
    cy = my + k->dy * r;
    side = k->side * r;
    out->left = cx - 0.5 * side + 0.5;
    out->right = cx + 0.5 * side - 0.5;
    out->top = cy - 0.5 * side + 0.5;
    out->bottom = cy + 0.5 * side - 0.5;
}

void face_aligned_box(int w, int h, face_landmarks_box *out)
{
    FACET_ASSERT(out && w >= 1 && h >= 1);

    // Edges at fractions of the frame [-0.5, w - 0.5], then dlib's
    // inclusive corners half a pixel inside.
    out->left = -0.5 + aligned_frac[0] * w + 0.5;
    out->top = -0.5 + aligned_frac[1] * h + 0.5;
    out->right = -0.5 + aligned_frac[2] * w - 0.5;
    out->bottom = -0.5 + aligned_frac[3] * h - 0.5;
}

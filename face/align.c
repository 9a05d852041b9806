// align.c - the canonical template, the photo-to-crop fits and the warps
// (face/align.h says what each crop is and why).
//
// The template: landmarks 17..67 are dlib's mean face shape, copied from
// get_face_chip_details in dlib/image_transforms/interpolation.h (dlib
// 19.24, Debian libdlib-dev), six significant digits as printed there. The
// jaw, 0..16, was made once from the mean shape of dlib's 68-point model
// (tensor mean_shape of weights/dlib_landmarks68.fct, the initial shape in
// the unit detection box): the least-squares similarity from its points
// 17..67 to dlib's numbers (scale 1.29174, rotation 8.7e-6 rad, mean
// residual 7.8e-4 template units: dlib's template is that same mean shape)
// carried the jaw points into the template frame; each jaw point i was then
// averaged with the mirror image of point 16 - i about FACE_TEMPLATE_AXIS
// (they differed by <= 1.3e-5) and rounded to six decimals.
// tests/test_align.c repeats that derivation from the weight file.
//
// Fits: la_fit_similarity / la_fit_affine (linalg/fit.c) on the fit set.
// DLIB150 follows dlib's chip_details(chip_points, img_points, dims):
//   T = similarity fit from chip points to landmarks (Umeyama, as dlib's
//       find_similarity_transform), chip points S * (0.25 + m) / 1.5;
//   angle = atan2 of T's first column, scale = its length;
//   rect = centered_drect(T(S/2, S/2), S * scale, S * scale): a square of
//       side S * scale - 1 about c = T(S/2, S/2);
//   get_mapping_to_chip sends the rect's corners, rotated by angle about c,
//       to the chip's corner pixels (0, 0), (S-1, 0), (S-1, S-1).
// So crop -> photo is q = c + k R(angle) (u - (S-1)/2) with
// k = (S * scale - 1) / (S - 1), and photo -> crop is its inverse.
//
// Warps: each destination row is one task; a pixel's value is a fixed
// sequence of double operations on its own coordinates, so any thread
// split gives the same bits.
//
// ref: see align.h
//
// Limitations:
// - See align.h. Source coordinates are computed in double per pixel
//   (no incremental stepping), which costs a few multiplies per pixel.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "align.h"
#include "../linalg/linalg.h"

// ---------------------------------------------------------------------------
// The template

// The 68 template points (x, y), iBUG order (see the file header for
// the sources).
static const double TEMPLATE[FACE_LANDMARKS][2] = {
    // jaw, from dlib's model mean shape (see above)
    {-0.117724, 0.225038},
    {-0.113615, 0.385837},
    {-0.096411, 0.546010},
    {-0.063022, 0.703079},
    {-0.000391, 0.848952},
    {0.095792, 0.975459},
    {0.213454, 1.081007},
    {0.343264, 1.165764},
    {0.490127, 1.190950},
    {0.636989, 1.165764},
    {0.766799, 1.081007},
    {0.884461, 0.975459},
    {0.980644, 0.848952},
    {1.043275, 0.703079},
    {1.076665, 0.546010},
    {1.093868, 0.385837},
    {1.097978, 0.225038},
    // right brow (subject's right, image left): dlib's numbers from here on
    {0.000213256, 0.106454},
    {0.0752622, 0.038915},
    {0.18113, 0.0187482},
    {0.29077, 0.0344891},
    {0.393397, 0.0773906},
    // left brow
    {0.586856, 0.0773906},
    {0.689483, 0.0344891},
    {0.799124, 0.0187482},
    {0.904991, 0.038915},
    {0.98004, 0.106454},
    // nose bridge
    {0.490127, 0.203352},
    {0.490127, 0.307009},
    {0.490127, 0.409805},
    {0.490127, 0.515625},
    // nostrils
    {0.36688, 0.587326},
    {0.426036, 0.609345},
    {0.490127, 0.628106},
    {0.554217, 0.609345},
    {0.613373, 0.587326},
    // right eye
    {0.121737, 0.216423},
    {0.187122, 0.178758},
    {0.265825, 0.179852},
    {0.334606, 0.231733},
    {0.260918, 0.245099},
    {0.182743, 0.244077},
    // left eye
    {0.645647, 0.231733},
    {0.714428, 0.179852},
    {0.793132, 0.178758},
    {0.858516, 0.216423},
    {0.79751, 0.244077},
    {0.719335, 0.245099},
    // outer lip
    {0.254149, 0.780233},
    {0.340985, 0.745405},
    {0.428858, 0.727388},
    {0.490127, 0.742578},
    {0.551395, 0.727388},
    {0.639268, 0.745405},
    {0.726104, 0.780233},
    {0.642159, 0.864805},
    {0.556721, 0.902192},
    {0.490127, 0.909281},
    {0.423532, 0.902192},
    {0.338094, 0.864805},
    // inner lip
    {0.290379, 0.784792},
    {0.428096, 0.778746},
    {0.490127, 0.785343},
    {0.552157, 0.778746},
    {0.689874, 0.784792},
    {0.553364, 0.824182},
    {0.490127, 0.831803},
    {0.42689, 0.824182},
};

// iBUG-68 mirror pairs: jaw i <-> 16 - i, brows 17..21 <-> 26..22, nose
// bridge 27..30 on the axis, nostrils 31, 32 <-> 35, 34 (33 on the axis),
// eyes 36..41 <-> 45, 44, 43, 42, 47, 46 (corner, upper lid, corner, lower
// lid), outer lip 48..50 <-> 54..52 (51 on the axis), 55, 56 <-> 59, 58
// (57), inner lip 60, 61 <-> 64, 63 (62), 65 <-> 67 (66).
static const unsigned char MIRROR[FACE_LANDMARKS] = {
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
    27, 28, 29, 30,
    35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
};

// The fit set: nose 27..35, eyes 36..47, outer upper lip 48..54, inner
// upper lip 60..64 (dlib's choice in get_face_chip_details).
static const int FIT_SET[FACE_ALIGN_FIT_COUNT] = {
    27, 28, 29, 30, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54,
    60, 61, 62, 63, 64,
};

// Framing of each crop kind (align.h): default side, padding, and the
// template point that lands on the crop's centre.
typedef struct framing {
    int size;
    double pad, cx, cy;
} framing;

static const framing FRAMING[FACE_CROP_COUNT] = {
    [FACE_CROP_BACKBONE] = {224, 0.25, FACE_TEMPLATE_AXIS, 0.60},
    [FACE_CROP_DLIB150] = {150, 0.25, 0.5, 0.5},
    [FACE_CROP_HEAD] = {512, 0.85, FACE_TEMPLATE_AXIS, 0.20},
};

static const char *const KIND_NAME[FACE_CROP_COUNT] = {
    "backbone", "dlib150", "head"};

// Largest magnification of a photo pixel a fit may produce (a face of a
// fraction of a pixel).
#define MAX_MAGNIFY 1e3

const double *face_template(void)
{
    return &TEMPLATE[0][0];
}

int face_template_mirror(int i)
{
    return i >= 0 && i < FACE_LANDMARKS ? MIRROR[i] : -1;
}

const int *face_align_fit_set(void)
{
    return FIT_SET;
}

int face_crop_default_size(face_crop_kind kind)
{
    return (int)kind >= 0 && kind < FACE_CROP_COUNT ? FRAMING[kind].size
                                                     : 0;
}

// Check kind and size; *s gets the side to use.
static facet_status check_kind_size(int *s, face_crop_kind kind, int size,
                                    const char *fn)
{
    if ((int)kind < 0 || kind >= FACE_CROP_COUNT)
        return facet_fail(FACET_E_ARG, "%s: crop kind %d is not one of "
                          "0 .. %d", fn, (int)kind, FACE_CROP_COUNT - 1);
    if (size == 0)
        size = FRAMING[kind].size;
    if (size < 2 || size > FACE_ALIGN_MAX_SIZE)
        return facet_fail(FACET_E_ARG, "%s: crop size %d is out of range "
                          "2 .. %d (0 for the default)", fn, size,
                          FACE_ALIGN_MAX_SIZE);
    *s = size;
    return FACET_OK;
}

// Template point i in a crop of side s: s * ((m - c) / (1 + 2 pad) + 1/2)
// - 1/2.
static void template_in_crop(double *u, int i, const framing *f, int s)
{
    double k = s / (1.0 + 2.0 * f->pad);

    u[0] = k * (TEMPLATE[i][0] - f->cx) + 0.5 * s - 0.5;
    u[1] = k * (TEMPLATE[i][1] - f->cy) + 0.5 * s - 0.5;
}

facet_status face_align_template_points(double *xy, face_crop_kind kind,
                                        int size)
{
    facet_status st;
    int s;

    if (!xy)
        return facet_fail(FACET_E_ARG, "face_align_template_points: xy is "
                          "NULL");
    if ((st = check_kind_size(&s, kind, size, "face_align_template_points")))
        return st;
    for (int i = 0; i < FACE_LANDMARKS; i++)
        template_in_crop(xy + 2 * i, i, &FRAMING[kind], s);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Transforms

face_xform face_xform_identity(void)
{
    face_xform t = {{1, 0, 0, 0, 1, 0}};

    return t;
}

static int xform_finite(const face_xform *t)
{
    for (int i = 0; i < 6; i++)
        if (!isfinite(t->m[i]))
            return 0;
    return 1;
}

facet_status face_xform_invert(face_xform *out, const face_xform *t)
{
    const double *m;
    double det, big, r[6];

    if (!out || !t)
        return facet_fail(FACET_E_ARG, "face_xform_invert: NULL argument");
    m = t->m;
    if (!xform_finite(t))
        return facet_fail(FACET_E_ARG, "face_xform_invert: the transform "
                          "has a non-finite entry");

    // Singular when |det| is tiny against the 2x2 part's largest entry.
    det = m[0] * m[4] - m[1] * m[3];
    big = fmax(fmax(fabs(m[0]), fabs(m[1])), fmax(fabs(m[3]), fabs(m[4])));
    if (!(fabs(det) > 1e-12 * big * big))
        return facet_fail(FACET_E_ARG, "face_xform_invert: the transform "
                          "is singular (det %g)", det);

    // [A | t]^-1 = [A^-1 | -A^-1 t].
    r[0] = m[4] / det;
    r[1] = -m[1] / det;
    r[3] = -m[3] / det;
    r[4] = m[0] / det;
    r[2] = -(r[0] * m[2] + r[1] * m[5]);
    r[5] = -(r[3] * m[2] + r[4] * m[5]);
    for (int i = 0; i < 6; i++)
        if (!isfinite(r[i]))
            return facet_fail(FACET_E_ARG, "face_xform_invert: the inverse "
                              "overflows");
    memcpy(out->m, r, sizeof r);
    return FACET_OK;
}

void face_xform_compose(face_xform *out, const face_xform *second,
                        const face_xform *first)
{
    const double *a = second->m, *b = first->m;
    double r[6];

    r[0] = a[0] * b[0] + a[1] * b[3];
    r[1] = a[0] * b[1] + a[1] * b[4];
    r[2] = a[0] * b[2] + a[1] * b[5] + a[2];
    r[3] = a[3] * b[0] + a[4] * b[3];
    r[4] = a[3] * b[1] + a[4] * b[4];
    r[5] = a[3] * b[2] + a[4] * b[5] + a[5];
    memcpy(out->m, r, sizeof r);
}

void face_xform_apply(double *dst, const double *src, int n,
                      const face_xform *t)
{
    const double *m = t->m;

    for (int i = 0; i < n; i++) {
        double x = src[2 * i], y = src[2 * i + 1];
        dst[2 * i] = m[0] * x + m[1] * y + m[2];
        dst[2 * i + 1] = m[3] * x + m[4] * y + m[5];
    }
}

void face_xform_params(const face_xform *t, double *scale, double *angle,
                       double *aniso)
{
    const double *m = t->m;

    // The 2x2 part is a similarity [e -h; h e] plus an anti-similarity
    // [f g; g -f]; its singular values are |q + r| and |q - r|.
    double e = 0.5 * (m[0] + m[4]), f = 0.5 * (m[0] - m[4]);
    double g = 0.5 * (m[3] + m[1]), h = 0.5 * (m[3] - m[1]);
    double q = hypot(e, h), r = hypot(f, g);

    if (scale)
        *scale = sqrt(fabs(m[0] * m[4] - m[1] * m[3]));
    if (angle)
        *angle = atan2(h, e);
    if (aniso)
        *aniso = fabs(q - r) > 0 ? (q + r) / fabs(q - r) : INFINITY;
}

void face_align_landmarks(float *out, const float *lm68,
                          const face_xform *photo_to_crop)
{
    const double *m = photo_to_crop->m;

    for (int i = 0; i < FACE_LANDMARKS; i++) {
        double x = lm68[2 * i], y = lm68[2 * i + 1];
        out[2 * i] = (float)(m[0] * x + m[1] * y + m[2]);
        out[2 * i + 1] = (float)(m[3] * x + m[4] * y + m[5]);
    }
}

// ---------------------------------------------------------------------------
// Fits

// dlib's chip map for side s from the similarity t (chip points ->
// photo), as photo -> crop (see the file header).
static facet_status dlib_chip_map(face_xform *out, const double t[6], int s)
{
    double scale = hypot(t[0], t[3]), angle = atan2(t[3], t[0]);
    double half = 0.5 * s, cx, cy, k, cs, sn, h = 0.5 * (s - 1);

    // c = T(S/2, S/2); pixel step k = (S * scale - 1) / (S - 1).
    cx = t[0] * half + t[1] * half + t[2];
    cy = t[3] * half + t[4] * half + t[5];
    k = (s * scale - 1.0) / (s - 1.0);
    if (!(k * MAX_MAGNIFY >= 1.0))
        return facet_fail(FACET_E_ARG, "face_align_fit: the landmarks are "
                          "degenerate (dlib's chip would magnify a photo "
                          "pixel %g times)", k > 0 ? 1.0 / k : INFINITY);

    // u = h + R^T (q - c) / k.
    cs = cos(angle) / k;
    sn = sin(angle) / k;
    out->m[0] = cs;
    out->m[1] = sn;
    out->m[3] = -sn;
    out->m[4] = cs;
    out->m[2] = h - (cs * cx + sn * cy);
    out->m[5] = h - (-sn * cx + cs * cy);
    return FACET_OK;
}

facet_status face_align_fit(face_xform *photo_to_crop, const float *lm68,
                            face_crop_kind kind, int size, int affine)
{
    const char *fn = "face_align_fit";
    double photo[2 * FACE_ALIGN_FIT_COUNT], tmpl[2 * FACE_ALIGN_FIT_COUNT];
    double t[6], det, mag;
    char why[160];
    facet_status st;
    face_xform r = face_xform_identity();
    int s;

    // Arguments, then every landmark (the unused ones too: a NaN anywhere
    // means the caller's landmarks are broken).
    if (!photo_to_crop || !lm68)
        return facet_fail(FACET_E_ARG, "%s: NULL %s", fn,
                          photo_to_crop ? "landmarks" : "output");
    if ((st = check_kind_size(&s, kind, size, fn)))
        return st;
    if (affine != 0 && affine != 1)
        return facet_fail(FACET_E_ARG, "%s: affine is %d (0: similarity, "
                          "1: affine)", fn, affine);
    if (affine && kind == FACE_CROP_DLIB150)
        return facet_fail(FACET_E_ARG, "%s: the dlib150 crop is dlib's "
                          "similarity framing; affine is not available "
                          "for it", fn);
    for (int i = 0; i < 2 * FACE_LANDMARKS; i++)
        if (!isfinite(lm68[i]) || fabs(lm68[i]) > FACE_ALIGN_MAX_COORD)
            return facet_fail(FACET_E_ARG, "%s: landmark %d %c is %g (must "
                              "be finite, |v| <= %g)", fn, i / 2,
                              i % 2 ? 'y' : 'x', (double)lm68[i],
                              FACE_ALIGN_MAX_COORD);

    // The fit set in the photo and in the crop (dlib: its chip points).
    for (int j = 0; j < FACE_ALIGN_FIT_COUNT; j++) {
        int i = FIT_SET[j];
        photo[2 * j] = lm68[2 * i];
        photo[2 * j + 1] = lm68[2 * i + 1];
        if (kind == FACE_CROP_DLIB150) {
            tmpl[2 * j] = s * (0.25 + TEMPLATE[i][0]) / 1.5;
            tmpl[2 * j + 1] = s * (0.25 + TEMPLATE[i][1]) / 1.5;
        } else {
            template_in_crop(tmpl + 2 * j, i, &FRAMING[kind], s);
        }
    }

    // Least squares: dlib's direction for DLIB150, photo -> crop else.
    if (kind == FACE_CROP_DLIB150)
        st = la_fit_similarity(t, tmpl, photo, NULL, FACE_ALIGN_FIT_COUNT);
    else if (affine)
        st = la_fit_affine(t, photo, tmpl, NULL, FACE_ALIGN_FIT_COUNT);
    else
        st = la_fit_similarity(t, photo, tmpl, NULL, FACE_ALIGN_FIT_COUNT);
    if (st) {
        snprintf(why, sizeof why, "%s", facet_error());
        return facet_fail(FACET_E_ARG, "%s: the fit landmarks (nose, eyes, "
                          "upper lip) are degenerate: %s", fn, why);
    }
    if (kind == FACE_CROP_DLIB150) {
        if ((st = dlib_chip_map(&r, t, s)))
            return st;
    } else {
        memcpy(r.m, t, sizeof t);
    }

    // A usable map: invertible, not mirrored, bounded magnification.
    det = r.m[0] * r.m[4] - r.m[1] * r.m[3];
    if (det < 0)
        return facet_fail(FACET_E_ARG, "%s: the affine fit mirrors the "
                          "face (are the landmarks in mirrored order?)", fn);
    mag = sqrt(fabs(det));
    if (!(mag <= MAX_MAGNIFY) || face_xform_invert(&(face_xform){{0}}, &r))
        return facet_fail(FACET_E_ARG, "%s: the landmarks are degenerate "
                          "(the %s crop would magnify a photo pixel %g "
                          "times)", fn, KIND_NAME[kind], mag);
    *photo_to_crop = r;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Warps

// The destination -> source map and the supersampling pattern.
typedef struct warp_plan {
    double m[6];           // dst -> src: x = m0 u + m1 v + m2, y = ...
    int nu, nv;            // samples per destination pixel along u, v
    double off[64][2];     // their source offsets from the centre's image
} warp_plan;

// Samples along one destination axis whose source step is `span` pixels.
static int samples_for(double span)
{
    double n = ceil(span - 0.25);

    return span <= 1.25 ? 1 : n > 8 ? 8 : (int)n;
}

static facet_status plan_warp(warp_plan *p, const face_xform *src_to_dst,
                              const char *fn)
{
    face_xform inv;
    int k = 0;

    if (face_xform_invert(&inv, src_to_dst))
        return facet_fail(FACET_E_ARG, "%s: the transform is not finite "
                          "and invertible", fn);
    memcpy(p->m, inv.m, sizeof p->m);
    p->nu = samples_for(hypot(p->m[0], p->m[3]));
    p->nv = samples_for(hypot(p->m[1], p->m[4]));

    // Sub-pixel positions (i + 1/2) / n - 1/2 along each axis, mapped.
    for (int j = 0; j < p->nv; j++)
        for (int i = 0; i < p->nu; i++) {
            double su = (i + 0.5) / p->nu - 0.5, sv = (j + 0.5) / p->nv - 0.5;
            p->off[k][0] = p->m[0] * su + p->m[1] * sv;
            p->off[k][1] = p->m[3] * su + p->m[4] * sv;
            k++;
        }
    return FACET_OK;
}

// Check one image description.
static facet_status check_plane(const char *fn, const char *what,
                                const void *p, int w, int h, size_t stride,
                                size_t px)
{
    if (!p)
        return facet_fail(FACET_E_ARG, "%s: %s is NULL", fn, what);
    if (w < 1 || h < 1 || w > FACE_WARP_MAX_SIDE || h > FACE_WARP_MAX_SIDE)
        return facet_fail(FACET_E_ARG, "%s: %s size %dx%d is out of range "
                          "1 .. %d", fn, what, w, h, FACE_WARP_MAX_SIDE);
    if (stride < (size_t)w * px)
        return facet_fail(FACET_E_ARG, "%s: %s stride %zu is shorter than "
                          "a row (%zu)", fn, what, stride, (size_t)w * px);
    return FACET_OK;
}

// The four bilinear taps of source position (x, y): element offsets and
// weights; under a constant border, taps outside get weight 0 (offset 0)
// and their weight goes to *wfill.
typedef struct taps {
    size_t at[4];
    double w[4];
    double wfill;
} taps;

static void bilinear_taps(taps *t, double x, double y, int w, int h,
                          size_t stride, size_t px, int constant)
{
    double ax, ay, wx[2], wy[2];
    int x0, y0;

    // Far outside, every tap is outside: clamp so the ints fit.
    x = x < -2.0 ? -2.0 : x > w + 1.0 ? w + 1.0 : x;
    y = y < -2.0 ? -2.0 : y > h + 1.0 ? h + 1.0 : y;
    x0 = (int)(x + 2.0) - 2;
    y0 = (int)(y + 2.0) - 2;
    ax = x - x0;
    ay = y - y0;
    wx[0] = 1.0 - ax;
    wx[1] = ax;
    wy[0] = 1.0 - ay;
    wy[1] = ay;
    t->wfill = 0;

    // Interior: all four inside.
    if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        size_t a = (size_t)y0 * stride + (size_t)x0 * px;
        t->at[0] = a;
        t->at[1] = a + px;
        t->at[2] = a + stride;
        t->at[3] = a + stride + px;
        for (int k = 0; k < 4; k++)
            t->w[k] = wy[k >> 1] * wx[k & 1];
        return;
    }

    // Border: replicate clamps, constant hands the weight to the fill.
    for (int k = 0; k < 4; k++) {
        int xi = x0 + (k & 1), yi = y0 + (k >> 1);
        double wk = wy[k >> 1] * wx[k & 1];
        if (xi < 0 || yi < 0 || xi >= w || yi >= h) {
            if (constant) {
                t->at[k] = 0;
                t->w[k] = 0;
                t->wfill += wk;
                continue;
            }
            xi = xi < 0 ? 0 : xi >= w ? w - 1 : xi;
            yi = yi < 0 ? 0 : yi >= h ? h - 1 : yi;
        }
        t->at[k] = (size_t)yi * stride + (size_t)xi * px;
        t->w[k] = wk;
    }
}

// Rows in parallel when the image is big enough to pay for the threads.
#define PAR_MIN_PIXELS 16384

// Add the bilinear sample of 8-bit RGB at (x, y) to acc.
static inline void sample_rgb(double acc[3], const face_image *src,
                              double x, double y, int constant,
                              const uint8_t fill[3])
{
    taps t;

    // All four taps inside: the common case, inline.
    if (x >= 0 && y >= 0 && x < src->w - 1 && y < src->h - 1) {
        int x0 = (int)x, y0 = (int)y;
        double ax = x - x0, ay = y - y0;
        double w00 = (1 - ay) * (1 - ax), w01 = (1 - ay) * ax;
        double w10 = ay * (1 - ax), w11 = ay * ax;
        const uint8_t *s = src->px + (size_t)y0 * src->stride +
                           (size_t)x0 * 3;
        const uint8_t *s2 = s + src->stride;
        for (int c = 0; c < 3; c++)
            acc[c] += w00 * s[c] + w01 * s[c + 3] + w10 * s2[c] +
                      w11 * s2[c + 3];
        return;
    }

    // Near or beyond an edge.
    bilinear_taps(&t, x, y, src->w, src->h, src->stride, 3, constant);
    for (int c = 0; c < 3; c++) {
        const uint8_t *s = src->px + c;
        double a = t.w[0] * s[t.at[0]] + t.w[1] * s[t.at[1]] +
                   t.w[2] * s[t.at[2]] + t.w[3] * s[t.at[3]];
        if (t.wfill != 0)
            a += t.wfill * fill[c];
        acc[c] += a;
    }
}

static void warp_rgb_row(uint8_t *out, int v, int dw, const face_image *src,
                         const warp_plan *p, int constant,
                         const uint8_t fill[3])
{
    int ns = p->nu * p->nv;
    double inv_ns = 1.0 / ns;

    for (int u = 0; u < dw; u++) {
        double x = p->m[0] * u + p->m[1] * v + p->m[2];
        double y = p->m[3] * u + p->m[4] * v + p->m[5];
        double acc[3] = {0, 0, 0};

        if (ns == 1)
            sample_rgb(acc, src, x, y, constant, fill);
        else
            for (int k = 0; k < ns; k++)
                sample_rgb(acc, src, x + p->off[k][0], y + p->off[k][1],
                           constant, fill);

        // Average, round half up (values are within [0, 255]).
        for (int c = 0; c < 3; c++) {
            double a = (ns == 1 ? acc[c] : acc[c] * inv_ns) + 0.5;
            out[3 * u + c] = (uint8_t)(a >= 255.0 ? 255 : a <= 0 ? 0 : a);
        }
    }
}

facet_status face_warp_rgb(uint8_t *dst, int dw, int dh, size_t dstride,
                           const face_image *src,
                           const face_xform *src_to_dst, face_border border,
                           const uint8_t *fill)
{
    const char *fn = "face_warp_rgb";
    static const uint8_t black[3] = {0, 0, 0};
    facet_status st;
    warp_plan p;
    int constant;

    if (!src || !src_to_dst)
        return facet_fail(FACET_E_ARG, "%s: NULL %s", fn,
                          src ? "transform" : "source image");
    if ((st = check_plane(fn, "destination", dst, dw, dh, dstride, 3)) ||
        (st = check_plane(fn, "source", src->px, src->w, src->h,
                          src->stride, 3)))
        return st;
    if ((int)border < 0 || border >= FACE_BORDER_COUNT)
        return facet_fail(FACET_E_ARG, "%s: border mode %d is not one of "
                          "0 .. %d", fn, (int)border, FACE_BORDER_COUNT - 1);
    if ((st = plan_warp(&p, src_to_dst, fn)))
        return st;
    constant = border == FACE_BORDER_CONSTANT;
    if (!fill)
        fill = black;

#ifdef _OPENMP
    int big = (size_t)dw * dh >= PAR_MIN_PIXELS;
#pragma omp parallel for schedule(static) if (big)
#endif
    for (int v = 0; v < dh; v++)
        warp_rgb_row(dst + (size_t)v * dstride, v, dw, src, &p, constant,
                     fill);
    return FACET_OK;
}

typedef struct f32_job {
    float *dst;
    size_t dstride, dplane;
    const float *src;
    int sw, sh;
    size_t sstride, splane;
    int channels;
} f32_job;

static void warp_f32_row(const f32_job *j, int v, int dw, const warp_plan *p,
                         int constant, float fill)
{
    int ns = p->nu * p->nv;
    double inv_ns = 1.0 / ns;
    taps t[64];

    for (int u = 0; u < dw; u++) {
        double x = p->m[0] * u + p->m[1] * v + p->m[2];
        double y = p->m[3] * u + p->m[4] * v + p->m[5];
        float *out = j->dst + (size_t)v * j->dstride + u;

        // Taps once per pixel, then every plane.
        for (int k = 0; k < ns; k++)
            bilinear_taps(&t[k], x + p->off[k][0], y + p->off[k][1], j->sw,
                          j->sh, j->sstride, 1, constant);
        for (int c = 0; c < j->channels; c++) {
            const float *s = j->src + (size_t)c * j->splane;
            double acc = 0;
            for (int k = 0; k < ns; k++) {
                double a = t[k].w[0] * s[t[k].at[0]] +
                           t[k].w[1] * s[t[k].at[1]] +
                           t[k].w[2] * s[t[k].at[2]] +
                           t[k].w[3] * s[t[k].at[3]];
                if (t[k].wfill != 0)
                    a += t[k].wfill * fill;
                acc += a;
            }
            out[(size_t)c * j->dplane] = (float)(ns == 1 ? acc
                                                         : acc * inv_ns);
        }
    }
}

facet_status face_warp_f32(float *dst, int dw, int dh, size_t dstride,
                           const float *src, int sw, int sh, size_t sstride,
                           int channels, const face_xform *src_to_dst,
                           face_border border, float fill)
{
    const char *fn = "face_warp_f32";
    facet_status st;
    warp_plan p;
    f32_job j;

    if (!src_to_dst)
        return facet_fail(FACET_E_ARG, "%s: NULL transform", fn);
    if ((st = check_plane(fn, "destination", dst, dw, dh, dstride, 1)) ||
        (st = check_plane(fn, "source", src, sw, sh, sstride, 1)))
        return st;
    if (channels < 1 || channels > 4096)
        return facet_fail(FACET_E_ARG, "%s: %d channels (1 .. 4096)", fn,
                          channels);
    if ((int)border < 0 || border >= FACE_BORDER_COUNT)
        return facet_fail(FACET_E_ARG, "%s: border mode %d is not one of "
                          "0 .. %d", fn, (int)border, FACE_BORDER_COUNT - 1);
    if ((st = plan_warp(&p, src_to_dst, fn)))
        return st;
    j = (f32_job){dst, dstride, dstride * (size_t)dh, src, sw, sh, sstride,
                  sstride * (size_t)sh, channels};

#ifdef _OPENMP
    int big = (size_t)dw * dh * channels >= PAR_MIN_PIXELS;
#pragma omp parallel for schedule(static) if (big)
#endif
    for (int v = 0; v < dh; v++)
        warp_f32_row(&j, v, dw, &p, border == FACE_BORDER_CONSTANT, fill);
    return FACET_OK;
}

static void warp_labels_row(uint8_t *out, int v, int dw, const uint8_t *src,
                            int sw, int sh, size_t sstride,
                            const warp_plan *p, int constant, uint8_t fill)
{
    for (int u = 0; u < dw; u++) {
        double x = p->m[0] * u + p->m[1] * v + p->m[2];
        double y = p->m[3] * u + p->m[4] * v + p->m[5];
        int xi, yi;

        // The pixel whose square [i - 1/2, i + 1/2) holds (x, y).
        x = x < -2.0 ? -2.0 : x > sw + 1.0 ? sw + 1.0 : x;
        y = y < -2.0 ? -2.0 : y > sh + 1.0 ? sh + 1.0 : y;
        xi = (int)(x + 2.5) - 2;
        yi = (int)(y + 2.5) - 2;
        if (xi < 0 || yi < 0 || xi >= sw || yi >= sh) {
            if (constant) {
                out[u] = fill;
                continue;
            }
            xi = xi < 0 ? 0 : xi >= sw ? sw - 1 : xi;
            yi = yi < 0 ? 0 : yi >= sh ? sh - 1 : yi;
        }
        out[u] = src[(size_t)yi * sstride + (size_t)xi];
    }
}

facet_status face_warp_labels(uint8_t *dst, int dw, int dh, size_t dstride,
                              const uint8_t *src, int sw, int sh,
                              size_t sstride, const face_xform *src_to_dst,
                              face_border border, uint8_t fill)
{
    const char *fn = "face_warp_labels";
    facet_status st;
    warp_plan p;

    if (!src_to_dst)
        return facet_fail(FACET_E_ARG, "%s: NULL transform", fn);
    if ((st = check_plane(fn, "destination", dst, dw, dh, dstride, 1)) ||
        (st = check_plane(fn, "source", src, sw, sh, sstride, 1)))
        return st;
    if ((int)border < 0 || border >= FACE_BORDER_COUNT)
        return facet_fail(FACET_E_ARG, "%s: border mode %d is not one of "
                          "0 .. %d", fn, (int)border, FACE_BORDER_COUNT - 1);
    if ((st = plan_warp(&p, src_to_dst, fn)))
        return st;

#ifdef _OPENMP
    int big = (size_t)dw * dh >= PAR_MIN_PIXELS;
#pragma omp parallel for schedule(static) if (big)
#endif
    for (int v = 0; v < dh; v++)
        warp_labels_row(dst + (size_t)v * dstride, v, dw, src, sw, sh,
                        sstride, &p, border == FACE_BORDER_CONSTANT, fill);
    return FACET_OK;
}

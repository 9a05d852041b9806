// test_align.c - face/align.c: the template and its mirror symmetry, the
// photo-to-crop fits (known transforms recovered, identity framing, dlib's
// own chip mapping), transform algebra, the three warps against a
// double-precision reference written here, thread-count independence, the
// error cases, real landmarks, and warp speed.
//
// Real data: dlib's landmarks of six LFW faces come from the fixture
// tests/data/dlib/landmarks.txt (numbers only, always present). With the
// photos under $FACET_DATA (default ../shared/data) the test also warps them
// and runs dlib's predictor (weights/dlib_landmarks68.fct) inside the
// crops, which must find the landmarks where the transform put them;
// without the photos that part prints "skipped: ...". The weight file is
// needed for the template's jaw check too ("run make weights" if absent).
//
// The dlib chip maps below were printed by dlib 19.24 itself (Debian 12
// libdlib-dev): get_mapping_to_chip(get_face_chip_details(det, size,
// 0.25)) for the integer landmarks FIXTURE_LM (dlib's points on
// lfw/Colin_Powell/Colin_Powell_0001.jpg from landmarks.txt) and for those
// points rotated by 0.35 rad and scaled by 1.7 about (125, 125), moved to
// (300, 200) and rounded with floor(v + 0.5) (rotated_fixture below), at
// sizes 150, 224 and 37; the program: a full_object_detection of the 68
// points, then the two dlib calls, printing get_m() and get_b().
//
// `test_align --bench` times more repetitions.
#include "check.h"

#include "stb_impl.h"

#include <time.h>
#include <unistd.h>

#include "../face/align.h"
#include "../face/landmarks.h"
#include "../linalg/linalg.h"
#include "../weights/weights.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define L FACE_LANDMARKS

// dlib's integer landmarks of Colin_Powell_0001 (fixture, det box).
static const int FIXTURE_LM[2 * L] = {
    68, 110, 69, 124, 70, 138, 72, 151, 78, 163, 87, 173, 98, 180, 110,
    185, 122, 186, 132, 185, 141, 179, 149, 172, 154, 163, 158, 152, 160,
    141, 161, 129, 161, 117, 89, 98, 96, 94, 104, 93, 112, 97, 120, 101,
    136, 102, 142, 99, 149, 97, 155, 98, 157, 103, 128, 111, 129, 117, 130,
    124, 131, 130, 119, 139, 123, 140, 127, 141, 131, 140, 135, 139, 98,
    111, 104, 109, 110, 109, 114, 113, 109, 114, 103, 114, 136, 115, 141,
    112, 147, 112, 150, 115, 146, 117, 141, 116, 107, 159, 116, 155, 123,
    152, 127, 154, 132, 153, 136, 156, 140, 161, 135, 164, 131, 165, 126,
    165, 121, 165, 115, 163, 111, 158, 122, 156, 127, 157, 131, 157, 137,
    161, 131, 160, 127, 160, 122, 159,
};

// dlib's photo -> chip maps (m00, m01, b0, m10, m11, b1): [face][size]
// for sizes 150, 224, 37.
static const int DLIB_SIZES[3] = {150, 224, 37};
static const double DLIB_MAP[2][3][6] = {
    {{1.3282559780304006, 0.024617853568512427, -97.265564701208802,
      -0.024617853568479165, 1.3282559780307939, -101.06115259156252},
     {1.9879267322199943, 0.036844170105894802, -145.57195253939307,
      -0.036844170105844752, 1.9879267322205829, -151.25259750280827},
     {0.32092090744358642, 0.0059479377749424578, -23.500404894251744,
      -0.0059479377749345943, 0.32092090744368151, -24.417459686551997}},
    {{0.72577685951135318, 0.27939162204833462, -201.71316924805282,
      -0.27939162204833395, 0.72577685951135296, 0.60927161238016836},
     {1.0862297964498759, 0.41814987729381592, -301.89286404238703,
      -0.41814987729381459, 1.0862297964498768, 0.91186288295803464},
     {0.17535548283495755, 0.067504016065369293, -48.736067737784445,
      -0.06750401606536921, 0.1753554828349575, 0.14720656406501764}},
};

static int bench_mode;

// ---------------------------------------------------------------------------
// Helpers

static void rotated_fixture(float *lm)
{
    double c = cos(0.35) * 1.7, s = sin(0.35) * 1.7;

    for (int i = 0; i < L; i++) {
        double dx = FIXTURE_LM[2 * i] - 125.0, dy = FIXTURE_LM[2 * i + 1] -
                                                    125.0;
        lm[2 * i] = (float)floor(300 + c * dx - s * dy + 0.5);
        lm[2 * i + 1] = (float)floor(200 + s * dx + c * dy + 0.5);
    }
}

// A similarity with scale s, angle a (radians), translation (tx, ty).
static face_xform similarity(double s, double a, double tx, double ty)
{
    face_xform t = {{s * cos(a), -s * sin(a), tx, s * sin(a), s * cos(a),
                     ty}};
    return t;
}

static double xform_diff(const face_xform *a, const face_xform *b, int lin)
{
    double d = 0;

    for (int i = 0; i < 6; i++)
        if ((i % 3 == 2) != lin)
            d = fmax(d, fabs(a->m[i] - b->m[i]));
    return d;
}

// An inverse computed independently of face_xform_invert (Cramer's rule on
// the 3x3 homogeneous matrix, in long double).
static face_xform ref_inverse(const face_xform *t)
{
    const double *m = t->m;
    long double det = (long double)m[0] * m[4] - (long double)m[1] * m[3];
    face_xform r;

    r.m[0] = (double)(m[4] / det);
    r.m[1] = (double)(-m[1] / det);
    r.m[3] = (double)(-m[3] / det);
    r.m[4] = (double)(m[0] / det);
    r.m[2] = (double)(((long double)m[1] * m[5] - (long double)m[4] * m[2]) /
                      det);
    r.m[5] = (double)(((long double)m[3] * m[2] - (long double)m[0] * m[5]) /
                      det);
    return r;
}

// A smooth, asymmetric test image: value at (x, y), channel c; within
// [29, 226] for |x - y| <= 400, so never clipped.
static double smooth(double x, double y, int c)
{
    return 127.5 + 50 * sin(0.11 * x + 0.05 * y + c) +
           40 * cos(0.07 * y - 0.03 * x + 2 * c) + 0.02 * (x - y);
}

static face_image make_image(int w, int h, size_t pad, int noisy,
                             facet_rng *r)
{
    face_image im;

    im.w = w;
    im.h = h;
    im.stride = (size_t)w * 3 + pad;
    im.px = malloc(im.stride * h);
    FACET_ASSERT(im.px != NULL);
    check_fill_junk(im.px, im.stride * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = noisy ? 256 * facet_rng_float(r) - 0.5
                                 : smooth(x, y, c);
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                im.px[(size_t)y * im.stride + 3 * x + c] =
                    (uint8_t)(v + 0.5);
            }
    return im;
}

// ---------------------------------------------------------------------------
// The double-precision reference warp (align.h's contract, written
// independently: nested linear interpolation, explicit pixel fetch).

typedef double (*fetch_fn)(const void *src, int x, int y, int c);

typedef struct ref_src {
    const void *px;
    int w, h;
    size_t stride;    // elements
    int px_elems;     // elements per pixel (3 for RGB, 1 for planes)
    int is_f32;
    size_t plane;     // elements between planes (f32)
} ref_src;

static double ref_pixel(const ref_src *s, int x, int y, int c, int constant,
                        double fill)
{
    size_t at;

    if (x < 0 || y < 0 || x >= s->w || y >= s->h) {
        if (constant)
            return fill;
        x = x < 0 ? 0 : x >= s->w ? s->w - 1 : x;
        y = y < 0 ? 0 : y >= s->h ? s->h - 1 : y;
    }
    if (s->is_f32) {
        at = (size_t)c * s->plane + (size_t)y * s->stride + x;
        return ((const float *)s->px)[at];
    }
    at = (size_t)y * s->stride + (size_t)x * s->px_elems + c;
    return ((const uint8_t *)s->px)[at];
}

static double ref_bilinear(const ref_src *s, double x, double y, int c,
                           int constant, double fill)
{
    double fx = floor(x), fy = floor(y), ax = x - fx, ay = y - fy;
    int x0, y0;

    if (fx < -3 || fy < -3 || fx > s->w + 3 || fy > s->h + 3) {
        // Far outside: the nearest edge pixel or the fill.
        if (constant)
            return fill;
        fx = fx < -3 ? -3 : fx > s->w + 3 ? s->w + 3 : fx;
        fy = fy < -3 ? -3 : fy > s->h + 3 ? s->h + 3 : fy;
    }
    x0 = (int)fx;
    y0 = (int)fy;
    {
        double p00 = ref_pixel(s, x0, y0, c, constant, fill);
        double p01 = ref_pixel(s, x0 + 1, y0, c, constant, fill);
        double p10 = ref_pixel(s, x0, y0 + 1, c, constant, fill);
        double p11 = ref_pixel(s, x0 + 1, y0 + 1, c, constant, fill);
        double top = p00 + ax * (p01 - p00), bot = p10 + ax * (p11 - p10);
        return top + ay * (bot - top);
    }
}

// The value of destination pixel (u, v), channel c.
static double ref_warp_pixel(const ref_src *s, const face_xform *src_to_dst,
                             int u, int v, int c, int constant, double fill)
{
    face_xform inv = ref_inverse(src_to_dst);
    const double *m = inv.m;
    double su = hypot(m[0], m[3]), sv = hypot(m[1], m[4]), acc = 0;
    int nu = su <= 1.25 ? 1 : (int)fmin(8, ceil(su - 0.25));
    int nv = sv <= 1.25 ? 1 : (int)fmin(8, ceil(sv - 0.25));

    for (int j = 0; j < nv; j++)
        for (int i = 0; i < nu; i++) {
            double uu = u + (i + 0.5) / nu - 0.5, vv = v + (j + 0.5) / nv -
                                                     0.5;
            acc += ref_bilinear(s, m[0] * uu + m[1] * vv + m[2],
                                m[3] * uu + m[4] * vv + m[5], c, constant,
                                fill);
        }
    return acc / (nu * nv);
}

// ---------------------------------------------------------------------------
// The template

static void test_template(void)
{
    const double *t = face_template();
    const int *fit = face_align_fit_set();
    double worst_x = 0, worst_y = 0;

    // Mirroring is an involution; points on the axis are their own mirror.
    for (int i = 0; i < L; i++) {
        int j = face_template_mirror(i);
        CHECKF(j >= 0 && j < L && face_template_mirror(j) == i,
               "mirror of %d is %d", i, j);
        // dlib prints six significant digits: each number is within 5e-7
        // of its true value, and its published pairs agree to 1e-6 (x sums
        // 0.980253 or 0.980254); the jaw was symmetrised before rounding.
        worst_x = fmax(worst_x, fabs(t[2 * i] + t[2 * j] -
                                     2 * FACE_TEMPLATE_AXIS));
        worst_y = fmax(worst_y, fabs(t[2 * i + 1] - t[2 * j + 1]));
    }
    CHECKF(worst_x <= 1.5e-6, "template x asymmetry %g", worst_x);
    CHECKF(worst_y <= 1e-6, "template y asymmetry %g", worst_y);
    CHECK(face_template_mirror(-1) == -1 && face_template_mirror(L) == -1);
    CHECK(face_template_mirror(30) == 30 && face_template_mirror(36) == 45 &&
          face_template_mirror(48) == 54 && face_template_mirror(0) == 16);

    // dlib's numbers are in place (spot checks against interpolation.h).
    CHECK(t[2 * 17] == 0.000213256 && t[2 * 17 + 1] == 0.106454);
    CHECK(t[2 * 67] == 0.42689 && t[2 * 67 + 1] == 0.824182);
    CHECK(t[2 * 36] == 0.121737 && t[2 * 45 + 1] == 0.216423);

    // The fit set: ascending, no jaw, no brows, no lower lip.
    for (int k = 0; k < FACE_ALIGN_FIT_COUNT; k++) {
        int i = fit[k];
        CHECKF(i >= 27 && i < L && !(i >= 55 && i <= 59) && i < 65 &&
                   (k == 0 || i > fit[k - 1]),
               "fit set entry %d is %d", k, i);
    }

    CHECK(face_crop_default_size(FACE_CROP_BACKBONE) == 224);
    CHECK(face_crop_default_size(FACE_CROP_DLIB150) == 150);
    CHECK(face_crop_default_size(FACE_CROP_HEAD) == 512);
    CHECK(face_crop_default_size(FACE_CROP_COUNT) == 0);
}

// The jaw: recomputed from the model's mean shape as align.c describes.
static void test_template_jaw(void)
{
    char path[1024];
    const double *t = face_template();
    double src[2 * 51], dst[2 * 51], s[6], jaw[2 * 17], worst = 0;
    int64_t dims[2] = {L, 2};
    const float *ms;
    wt_file *w;

    snprintf(path, sizeof path, "%s/dlib_landmarks68.fct",
             check_weights_dir());
    if (wt_open(&w, path, 0) != FACET_OK) {
        CHECKF(0, "%s: %s (run make weights)", path, facet_error());
        return;
    }
    ms = wt_tensor(w, "mean_shape", 2, dims);
    CHECK(ms != NULL);
    if (!ms) {
        wt_close(w);
        return;
    }
    for (int i = 17; i < L; i++) {
        src[2 * (i - 17)] = ms[2 * i];
        src[2 * (i - 17) + 1] = ms[2 * i + 1];
        dst[2 * (i - 17)] = t[2 * i];
        dst[2 * (i - 17) + 1] = t[2 * i + 1];
    }
    CHECK(la_fit_similarity(s, src, dst, NULL, 51) == FACET_OK);
    for (int i = 0; i < 17; i++) {
        jaw[2 * i] = s[0] * ms[2 * i] + s[1] * ms[2 * i + 1] + s[2];
        jaw[2 * i + 1] = s[3] * ms[2 * i] + s[4] * ms[2 * i + 1] + s[5];
    }
    for (int i = 0; i < 17; i++) {
        int j = 16 - i;
        double x = 0.5 * (jaw[2 * i] + 2 * FACE_TEMPLATE_AXIS - jaw[2 * j]);
        double y = 0.5 * (jaw[2 * i + 1] + jaw[2 * j + 1]);
        worst = fmax(worst, fmax(fabs(x - t[2 * i]), fabs(y - t[2 * i + 1])));
    }
    // Stored to six decimals: within 5e-7, plus float rounding of the
    // mean shape (~6e-8 relative) carried through the fit.
    CHECKF(worst <= 1e-6, "jaw differs from its derivation by %g", worst);
    wt_close(w);
}

// ---------------------------------------------------------------------------
// Transforms

static void test_xform(void)
{
    facet_rng r;
    face_xform a, b, ab, inv, back, id = face_xform_identity();
    double p[8] = {0, 0, 17.5, -3.25, 1e3, 250, -40, 9}, q[8], q2[8];
    double scale, angle, aniso;

    facet_rng_seed(&r, 11);
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < 6; i++) {
            a.m[i] = (i % 3 == 2 ? 400 : 2) * (facet_rng_float(&r) - 0.5);
            b.m[i] = (i % 3 == 2 ? 400 : 2) * (facet_rng_float(&r) - 0.5);
        }
        a.m[0] += 1.5;
        a.m[4] += 1.5;

        // Inverse against the long-double reference; round trips. The
        // 2x2 parts have condition numbers below ~20 here, so 1e-12
        // relative holds with room.
        CHECK(face_xform_invert(&inv, &a) == FACET_OK);
        {
            face_xform ref = ref_inverse(&a);
            double big = 0;
            for (int i = 0; i < 6; i++)
                big = fmax(big, fabs(ref.m[i]));
            CHECKF(xform_diff(&inv, &ref, 1) <= 1e-12 * big &&
                       xform_diff(&inv, &ref, 0) <= 1e-12 * big * 400,
                   "inverse off by %g", xform_diff(&inv, &ref, 1));
        }
        face_xform_compose(&back, &inv, &a);
        CHECKF(xform_diff(&back, &id, 1) <= 1e-12 &&
                   xform_diff(&back, &id, 0) <= 1e-10,
               "inverse after a: %g %g", xform_diff(&back, &id, 1),
               xform_diff(&back, &id, 0));

        // Composition equals applying one after the other (double
        // rounding only, coordinates up to 1e3: 1e-9 absolute).
        face_xform_compose(&ab, &b, &a);
        face_xform_apply(q, p, 4, &a);
        face_xform_apply(q, q, 4, &b);
        face_xform_apply(q2, p, 4, &ab);
        for (int i = 0; i < 8; i++)
            CHECK_NEAR(q2[i], q[i], 1e-9);

        // Aliasing: out may be an argument.
        back = a;
        CHECK(face_xform_invert(&back, &back) == FACET_OK);
        CHECK(xform_diff(&back, &inv, 1) == 0 && xform_diff(&back, &inv, 0)
              == 0);
        back = b;
        face_xform_compose(&back, &back, &a);
        CHECK(xform_diff(&back, &ab, 1) == 0 && xform_diff(&back, &ab, 0)
              == 0);
    }

    // Parameters of a known similarity, and of a stretch.
    a = similarity(2.5, 0.3, 10, -4);
    face_xform_params(&a, &scale, &angle, &aniso);
    CHECK_NEAR(scale, 2.5, 1e-14);
    CHECK_NEAR(angle, 0.3, 1e-14);
    CHECK_NEAR(aniso, 1.0, 1e-14);
    a = (face_xform){{3, 0, 0, 0, 1.5, 0}};
    face_xform_params(&a, &scale, &angle, &aniso);
    CHECK_NEAR(aniso, 2.0, 1e-14);
    CHECK_NEAR(scale, sqrt(4.5), 1e-14);
    face_xform_params(&a, NULL, NULL, NULL);

    // Singular and non-finite transforms.
    a = (face_xform){{1, 2, 0, 2, 4, 0}};
    CHECK(face_xform_invert(&inv, &a) == FACET_E_ARG &&
          strstr(facet_error(), "singular"));
    a = (face_xform){{1, 0, NAN, 0, 1, 0}};
    CHECK(face_xform_invert(&inv, &a) == FACET_E_ARG &&
          strstr(facet_error(), "finite"));
    CHECK(face_xform_invert(NULL, &a) == FACET_E_ARG);
}

// ---------------------------------------------------------------------------
// Fits

// Template points of a kind as float landmarks, through `photo_from_crop`.
static void template_landmarks(float *lm, face_crop_kind kind, int size,
                               const face_xform *photo_from_crop)
{
    double xy[2 * L];

    CHECK(face_align_template_points(xy, kind, size) == FACET_OK);
    face_xform_apply(xy, xy, L, photo_from_crop);
    for (int i = 0; i < 2 * L; i++)
        lm[i] = (float)xy[i];
}

static void test_fit_identity(void)
{
    static const int sizes[] = {0, 37, 100, 301};
    face_xform id = face_xform_identity(), t;
    float lm[2 * L];

    // Landmarks exactly on the template in the crop: the fit is the
    // identity. Float landmarks of up to ~300 px carry 2e-5 px of
    // rounding, so 1e-6 on the 2x2 part and 1e-4 px on the translation.
    for (int k = 0; k < FACE_CROP_COUNT; k++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (int aff = 0; aff <= (k != FACE_CROP_DLIB150); aff++) {
                template_landmarks(lm, (face_crop_kind)k, sizes[si], &id);
                CHECK(face_align_fit(&t, lm, (face_crop_kind)k, sizes[si],
                                     aff) == FACET_OK);
                CHECKF(xform_diff(&t, &id, 1) <= 1e-6 &&
                           xform_diff(&t, &id, 0) <= 1e-4,
                       "kind %d size %d affine %d: identity off by %g, "
                       "%g px", k, sizes[si], aff, xform_diff(&t, &id, 1),
                       xform_diff(&t, &id, 0));
            }

    // The framing formula: the template's axis on the crop's centre line
    // for the backbone and head crops; dlib's chip points minus half a
    // pixel for dlib150.
    {
        double xy[2 * L];
        CHECK(face_align_template_points(xy, FACE_CROP_BACKBONE, 0) ==
              FACET_OK);
        CHECK_NEAR(xy[2 * 30], 111.5, 2e-4);   // axis point, 224 crop
        CHECK(face_align_template_points(xy, FACE_CROP_HEAD, 512) ==
              FACET_OK);
        CHECK_NEAR(xy[2 * 8], 255.5, 2e-4);
        CHECK(face_align_template_points(xy, FACE_CROP_DLIB150, 0) ==
              FACET_OK);
        CHECK_NEAR(xy[2 * 36], 150 * (0.25 + 0.121737) / 1.5 - 0.5, 1e-12);
        CHECK_NEAR(xy[2 * 36 + 1], 150 * (0.25 + 0.216423) / 1.5 - 0.5,
                   1e-12);
    }
}

static void test_fit_known(void)
{
    facet_rng r;

    // Not DLIB150: dlib's map scales its pixel step by (S * scale - 1) /
    // ((S - 1) * scale), so it recovers g only at scale 1 (the identity
    // test above); test_fit_dlib checks it against dlib itself.
    facet_rng_seed(&r, 5);
    for (int trial = 0; trial < 40; trial++) {
        face_crop_kind kind = trial % 2 ? FACE_CROP_HEAD : FACE_CROP_BACKBONE;
        int aff = trial % 4 >= 2;
        face_xform g, ginv, t;
        float lm[2 * L];
        double scale;

        // A known photo -> crop map g (a similarity, or an affine with up
        // to 20% shear and stretch), the face placed in the photo by g^-1.
        g = similarity(0.2 + 3 * facet_rng_float(&r),
                       1.4 * (facet_rng_float(&r) - 0.5),
                       2000 * (facet_rng_float(&r) - 0.5),
                       2000 * (facet_rng_float(&r) - 0.5));
        if (aff)
            for (int i = 0; i < 6; i++)
                if (i % 3 != 2)
                    g.m[i] += 0.2 * (facet_rng_float(&r) - 0.5) * g.m[0];
        CHECK(face_xform_invert(&ginv, &g) == FACET_OK);
        template_landmarks(lm, kind, 0, &ginv);
        CHECK(face_align_fit(&t, lm, kind, 0, aff) == FACET_OK);

        // Landmarks are float: up to ~1e4 px here, 5e-4 px of rounding
        // each, a random error the least squares averages over 33 points;
        // through g (scale <= 3.2) that is within 1e-4 relative on the
        // 2x2 part and a few 1e-3 px, so require 1e-4 / 1e-4 relative to
        // the photo extent.
        face_xform_params(&g, &scale, NULL, NULL);
        CHECKF(xform_diff(&t, &g, 1) <= 1e-4 * scale &&
                   xform_diff(&t, &g, 0) <= 1e-4 * fmax(1, scale * 2000),
               "trial %d kind %d affine %d: %g %g", trial, kind, aff,
               xform_diff(&t, &g, 1), xform_diff(&t, &g, 0));
    }
}

// The least-squares optimum on noisy landmarks against independent normal
// equations (method-spec 7.4) solved in long double.
static void test_fit_optimal(void)
{
    facet_rng r;
    const int *fit = face_align_fit_set();

    facet_rng_seed(&r, 9);
    for (int trial = 0; trial < 10; trial++) {
        face_xform g = similarity(1.3, 0.2, 30, -20), ginv, t;
        double tp[2 * L];
        float lm[2 * L];
        long double a[3][3] = {{0}}, bx[3] = {0}, by[3] = {0};

        CHECK(face_xform_invert(&ginv, &g) == FACET_OK);
        template_landmarks(lm, FACE_CROP_BACKBONE, 0, &ginv);
        for (int i = 0; i < 2 * L; i++)
            lm[i] += (float)(3 * facet_rng_normal(&r));
        CHECK(face_align_template_points(tp, FACE_CROP_BACKBONE, 0) ==
              FACET_OK);
        CHECK(face_align_fit(&t, lm, FACE_CROP_BACKBONE, 0, 1) == FACET_OK);

        // [sum x x^T] [a; t] = [sum x y_c] with x = (px, py, 1).
        for (int k = 0; k < FACE_ALIGN_FIT_COUNT; k++) {
            int i = fit[k];
            long double x[3] = {lm[2 * i], lm[2 * i + 1], 1};
            for (int p = 0; p < 3; p++) {
                for (int q = 0; q < 3; q++)
                    a[p][q] += x[p] * x[q];
                bx[p] += x[p] * tp[2 * i];
                by[p] += x[p] * tp[2 * i + 1];
            }
        }
        // Gaussian elimination without pivoting (a is positive definite).
        for (int p = 0; p < 3; p++)
            for (int q = p + 1; q < 3; q++) {
                long double f = a[q][p] / a[p][p];
                for (int c = p; c < 3; c++)
                    a[q][c] -= f * a[p][c];
                bx[q] -= f * bx[p];
                by[q] -= f * by[p];
            }
        for (int p = 2; p >= 0; p--) {
            for (int c = p + 1; c < 3; c++) {
                bx[p] -= a[p][c] * bx[c];
                by[p] -= a[p][c] * by[c];
            }
            bx[p] /= a[p][p];
            by[p] /= a[p][p];
        }
        // The normal equations lose up to cond^2 ~ 1e8 of double
        // precision on uncentred pixel coordinates: 1e-7 is their noise.
        CHECK_NEAR(t.m[0], (double)bx[0], 1e-7);
        CHECK_NEAR(t.m[1], (double)bx[1], 1e-7);
        CHECK_NEAR(t.m[2], (double)bx[2], 1e-5);
        CHECK_NEAR(t.m[3], (double)by[0], 1e-7);
        CHECK_NEAR(t.m[4], (double)by[1], 1e-7);
        CHECK_NEAR(t.m[5], (double)by[2], 1e-5);
    }
}

// dlib's own get_face_chip_details + get_mapping_to_chip.
static void test_fit_dlib(void)
{
    for (int face = 0; face < 2; face++)
        for (int si = 0; si < 3; si++) {
            float lm[2 * L];
            face_xform t;
            const double *want = DLIB_MAP[face][si];

            if (face == 0)
                for (int i = 0; i < 2 * L; i++)
                    lm[i] = (float)FIXTURE_LM[i];
            else
                rotated_fixture(lm);
            CHECK(face_align_fit(&t, lm, FACE_CROP_DLIB150, DLIB_SIZES[si],
                                 0) == FACET_OK);
            // dlib fits by SVD and builds its map by a 3-point pseudo-
            // inverse; both agree with the closed form to ~1e-13 relative
            // (its own map is asymmetric at 1e-14).
            for (int i = 0; i < 6; i++)
                CHECKF(fabs(t.m[i] - want[i]) <=
                           (i % 3 == 2 ? 1e-9 : 1e-11),
                       "face %d size %d m[%d] = %.17g, dlib %.17g", face,
                       DLIB_SIZES[si], i, t.m[i], want[i]);
        }
}

// ---------------------------------------------------------------------------
// Warps against the reference

static void test_warp_rgb(void)
{
    facet_rng r;
    static const struct {
        int sw, sh, dw, dh;
        double s, a, tx, ty;
        int border, noisy;
    } cases[] = {
        {250, 250, 224, 224, 1.7, 0.2, -90, -60, 0, 0},    // upscale
        {250, 250, 224, 224, 1.7, 0.2, -90, -60, 1, 1},
        {601, 403, 150, 150, 0.3, -0.4, 20, 90, 0, 1},     // shrink 3.3x
        {601, 403, 64, 48, 0.55, 0.1, -30, -10, 1, 1},     // shrink 1.8x
        {37, 29, 91, 77, 2.0, 1.1, 40, -10, 1, 1},         // mostly outside
        {1, 1, 5, 4, 1.0, 0.0, 1.2, 0.7, 0, 0},            // 1x1 source
        {1, 1, 5, 4, 1.0, 0.0, 1.2, 0.7, 1, 0},
        {13, 7, 31, 17, 0.9, 3.0, 20, 12, 0, 1},           // upside down
        {40, 30, 40, 30, 1e-3, 0.0, 0, 0, 0, 1},           // shrink 1000x
    };
    const uint8_t fill[3] = {10, 200, 77};

    facet_rng_seed(&r, 3);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        face_image src = make_image(cases[k].sw, cases[k].sh, 5,
                                    cases[k].noisy, &r);
        face_xform t = similarity(cases[k].s, cases[k].a, cases[k].tx,
                                  cases[k].ty);
        size_t dstride = (size_t)cases[k].dw * 3 + 7;
        uint8_t *dst = malloc(dstride * cases[k].dh);
        ref_src rs = {src.px, src.w, src.h, src.stride, 3, 0, 0};
        int constant = cases[k].border, worst = 0, ndiff = 0, pad_ok = 1;

        check_fill_junk(dst, dstride * cases[k].dh);
        CHECK(face_warp_rgb(dst, cases[k].dw, cases[k].dh, dstride, &src, &t,
                            constant ? FACE_BORDER_CONSTANT
                                     : FACE_BORDER_REPLICATE,
                            fill) == FACET_OK);
        for (int v = 0; v < cases[k].dh; v++) {
            for (int u = 0; u < cases[k].dw; u++)
                for (int c = 0; c < 3; c++) {
                    double want = ref_warp_pixel(&rs, &t, u, v, c, constant,
                                                 fill[c]);
                    int w8 = (int)floor(want + 0.5);
                    int got = dst[(size_t)v * dstride + 3 * u + c];
                    int d = abs(got - w8);
                    worst = d > worst ? d : worst;
                    ndiff += d != 0;
                }
            for (int b = 0; b < 7; b++)
                pad_ok &= dst[(size_t)v * dstride + 3 * cases[k].dw + b] ==
                          0xA5;
        }
        // Both in double, in different operation orders (1e-13 apart):
        // they can round a value within 1e-13 of .5 differently, nothing
        // more.
        CHECKF(worst <= 1 && ndiff <= cases[k].dw * cases[k].dh * 3 / 1000,
               "case %zu: %d values differ, worst by %d", k, ndiff, worst);
        CHECKF(pad_ok, "case %zu: bytes past the row were written", k);
        free(dst);
        free(src.px);
    }

    // Identity and an integer shift copy pixels exactly.
    {
        face_image src = make_image(33, 21, 0, 1, &r);
        uint8_t dst[33 * 21 * 3];
        face_xform id = face_xform_identity();
        face_xform sh = {{1, 0, -3, 0, 1, -2}};
        int same = 1;

        CHECK(face_warp_rgb(dst, 33, 21, 99, &src, &id,
                            FACE_BORDER_REPLICATE, NULL) == FACET_OK);
        CHECK(memcmp(dst, src.px, sizeof dst) == 0);
        CHECK(face_warp_rgb(dst, 30, 19, 90, &src, &sh, FACE_BORDER_CONSTANT,
                            NULL) == FACET_OK);
        for (int y = 0; y < 19; y++)
            same &= !memcmp(dst + (size_t)y * 90,
                            src.px + (size_t)(y + 2) * 99 + 9, 90);
        CHECK(same);
        free(src.px);
    }
}

static void test_warp_f32(void)
{
    facet_rng r;
    const int sw = 57, sh = 43, dw = 70, dh = 65, ch = 3;
    float *src = malloc(sizeof(float) * (size_t)sw * sh * ch);
    float *dst = malloc(sizeof(float) * (size_t)(dw + 2) * dh * ch);
    face_xform ts[3] = {similarity(1.3, 0.7, -10, 5),
                        similarity(0.4, -0.2, 20, 10),
                        {{1.1, 0.3, -5, -0.2, 0.8, 4}}};

    facet_rng_seed(&r, 4);
    check_fill_random(src, (size_t)sw * sh * ch, &r, 0, 1);
    for (int k = 0; k < 3; k++)
        for (int border = 0; border < 2; border++) {
            ref_src rs = {src, sw, sh, (size_t)sw, 1, 1, (size_t)sw * sh};
            double worst = 0;
            int nan_ok = 1;

            // Rows dw + 2 floats apart; planes (dw + 2) * dh apart.
            check_fill_nan(dst, (size_t)(dw + 2) * dh * ch);
            CHECK(face_warp_f32(dst, dw, dh, (size_t)dw + 2, src, sw, sh,
                                (size_t)sw, ch, &ts[k],
                                (face_border)border, -0.5f) == FACET_OK);
            for (int c = 0; c < ch; c++)
                for (int v = 0; v < dh; v++) {
                    const float *row = dst + ((size_t)c * dh + v) *
                                                 (dw + 2);
                    for (int u = 0; u < dw; u++)
                        worst = fmax(worst,
                                     fabs(row[u] -
                                          ref_warp_pixel(&rs, &ts[k], u, v,
                                                         c, border, -0.5)));
                    nan_ok &= isnan(row[dw]) && isnan(row[dw + 1]);
                }
            // Double in both, one float rounding at the end: values in
            // [-0.5, 1] carry <= 6e-8 of it.
            CHECKF(worst <= 1e-7, "f32 case %d border %d: off by %g", k,
                   border, worst);
            CHECK(nan_ok);
        }

    // A NaN fill marks exactly the pixels that read outside.
    {
        face_xform t = {{1, 0, 3, 0, 1, 2}};   // source moved by (3, 2)
        int ok = 1;
        CHECK(face_warp_f32(dst, dw, dh, (size_t)dw, src, sw, sh,
                            (size_t)sw, 1, &t, FACE_BORDER_CONSTANT,
                            NAN) == FACET_OK);
        for (int v = 0; v < dh; v++)
            for (int u = 0; u < dw; u++) {
                int inside = u >= 3 && v >= 2 && u - 3 < sw && v - 2 < sh;
                ok &= inside == !isnan(dst[(size_t)v * dw + u]);
            }
        CHECK(ok);
    }
    free(src);
    free(dst);
}

static void test_warp_labels(void)
{
    facet_rng r;
    const int sw = 41, sh = 37, dw = 60, dh = 50;
    uint8_t src[41 * 37], dst[60 * 50];
    face_xform ts[3] = {similarity(1.37, 0.31, -7.3, 2.1),
                        similarity(0.43, -0.77, 20.2, 10.6),
                        {{1.13, 0.29, -5.1, -0.23, 0.81, 4.3}}};

    facet_rng_seed(&r, 8);
    for (int i = 0; i < sw * sh; i++)
        src[i] = (uint8_t)(1 + facet_rng_below(&r, FACE_PART_COUNT - 1));
    for (int k = 0; k < 3; k++)
        for (int border = 0; border < 2; border++) {
            face_xform inv = ref_inverse(&ts[k]);
            int match = 0, valid = 1;

            memset(dst, 0xA5, sizeof dst);
            CHECK(face_warp_labels(dst, dw, dh, (size_t)dw, src, sw, sh,
                                   (size_t)sw, &ts[k], (face_border)border,
                                   0) == FACET_OK);
            for (int v = 0; v < dh; v++)
                for (int u = 0; u < dw; u++) {
                    double x = inv.m[0] * u + inv.m[1] * v + inv.m[2];
                    double y = inv.m[3] * u + inv.m[4] * v + inv.m[5];
                    int xi = (int)floor(x + 0.5), yi = (int)floor(y + 0.5);
                    int want, got = dst[v * dw + u];
                    if (xi < 0 || yi < 0 || xi >= sw || yi >= sh) {
                        if (border) {
                            want = 0;
                        } else {
                            xi = xi < 0 ? 0 : xi >= sw ? sw - 1 : xi;
                            yi = yi < 0 ? 0 : yi >= sh ? sh - 1 : yi;
                            want = src[yi * sw + xi];
                        }
                    } else {
                        want = src[yi * sw + xi];
                    }
                    match += got == want;
                    valid &= got < FACE_PART_COUNT && (got > 0 || border);
                }
            // Nearest neighbour: exact, unless a mapped centre lies within
            // rounding of a pixel edge (none does for these maps).
            CHECKF(match == dw * dh, "labels case %d border %d: %d of %d "
                   "match", k, border, match, dw * dh);
            CHECK(valid);
        }
}

// Results do not depend on the thread count.
static void test_threads(void)
{
#ifdef _OPENMP
    facet_rng r;
    face_image src;
    face_xform t = similarity(0.45, 0.3, -50, 20);
    uint8_t *a = malloc(300 * 300 * 3), *b = malloc(300 * 300 * 3);
    float *fs = malloc(sizeof(float) * 700 * 500), *fa, *fb;
    int n0 = facet_threads();

    facet_rng_seed(&r, 2);
    src = make_image(700, 500, 0, 1, &r);
    check_fill_random(fs, 700 * 500, &r, 0, 1);
    fa = malloc(sizeof(float) * 300 * 300);
    fb = malloc(sizeof(float) * 300 * 300);
    facet_set_threads(1);
    CHECK(face_warp_rgb(a, 300, 300, 900, &src, &t, FACE_BORDER_REPLICATE,
                        NULL) == FACET_OK);
    CHECK(face_warp_f32(fa, 300, 300, 300, fs, 700, 500, 700, 1, &t,
                        FACE_BORDER_CONSTANT, 0) == FACET_OK);
    facet_set_threads(3);
    CHECK(face_warp_rgb(b, 300, 300, 900, &src, &t, FACE_BORDER_REPLICATE,
                        NULL) == FACET_OK);
    CHECK(face_warp_f32(fb, 300, 300, 300, fs, 700, 500, 700, 1, &t,
                        FACE_BORDER_CONSTANT, 0) == FACET_OK);
    facet_set_threads(n0);
    CHECK(memcmp(a, b, 300 * 300 * 3) == 0);
    CHECK(memcmp(fa, fb, sizeof(float) * 300 * 300) == 0);
    free(a);
    free(b);
    free(fa);
    free(fb);
    free(fs);
    free(src.px);
#endif
}

// ---------------------------------------------------------------------------
// Synthetic image: a face placed by a known similarity, fitted and warped

static void test_synthetic_recovery(void)
{
    const int W = 400, H = 360, S = 224;
    face_xform g = similarity(0.85, -0.25, -40, 30), ginv, t;
    face_image img;
    float lm[2 * L];
    uint8_t *crop = malloc((size_t)S * S * 3);
    facet_rng r;
    double worst = 0;

    facet_rng_seed(&r, 1);
    img = make_image(W, H, 0, 0, &r);
    CHECK(face_xform_invert(&ginv, &g) == FACET_OK);
    template_landmarks(lm, FACE_CROP_BACKBONE, S, &ginv);
    CHECK(face_align_fit(&t, lm, FACE_CROP_BACKBONE, S, 0) == FACET_OK);
    CHECKF(xform_diff(&t, &g, 1) <= 1e-4 && xform_diff(&t, &g, 0) <= 1e-4,
           "recovered map off by %g, %g px", xform_diff(&t, &g, 1),
           xform_diff(&t, &g, 0));
    CHECK(face_warp_rgb(crop, S, S, (size_t)S * 3, &img, &t,
                        FACE_BORDER_REPLICATE, NULL) == FACET_OK);

    // Each crop pixel is the smooth image at g^-1(u, v). The bilinear
    // error is at most (|f_xx| + |f_yy|) / 8 = (0.64 + 0.33) / 8 = 0.12
    // (f_xx <= 50 * 0.11^2 + 40 * 0.03^2, f_yy <= 50 * 0.05^2 + 40 *
    // 0.07^2), plus the rounding of the source (0.5) and of the crop
    // (0.5): 1.12, so 1.25.
    for (int v = 0; v < S; v++)
        for (int u = 0; u < S; u++) {
            double x = ginv.m[0] * u + ginv.m[1] * v + ginv.m[2];
            double y = ginv.m[3] * u + ginv.m[4] * v + ginv.m[5];
            if (x < 1 || y < 1 || x > W - 2 || y > H - 2)
                continue;
            for (int c = 0; c < 3; c++) {
                double want = smooth(x, y, c);
                want = want < 0 ? 0 : want > 255 ? 255 : want;
                worst = fmax(worst, fabs(crop[((size_t)v * S + u) * 3 + c] -
                                         want));
            }
        }
    CHECKF(worst <= 1.25, "synthetic crop off by %g levels", worst);
    free(crop);
    free(img.px);
}

// ---------------------------------------------------------------------------
// Mirror symmetry: a mirrored photo gives the mirrored crop

static void test_mirror(void)
{
    const int W = 300, H = 280;
    facet_rng r;
    face_image img, mir;
    face_xform ginv = similarity(0.9, 0.15, 20, 15);

    facet_rng_seed(&r, 6);
    img = make_image(W, H, 0, 1, &r);
    mir = make_image(W, H, 0, 1, &r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(mir.px + (size_t)y * mir.stride + 3 * x,
                   img.px + (size_t)y * img.stride + 3 * (W - 1 - x), 3);

    for (int k = 0; k < FACE_CROP_COUNT; k++) {
        face_crop_kind kind = (face_crop_kind)k;
        int S = kind == FACE_CROP_HEAD ? 256 : face_crop_default_size(kind);
        float lm[2 * L], lmm[2 * L];
        face_xform t, tm, want;
        uint8_t *a = malloc((size_t)S * S * 3), *b = malloc((size_t)S * S * 3);
        int worst = 0;
        long ndiff = 0;

        if (kind == FACE_CROP_DLIB150) {
            // dlib's frame puts the template's axis 0.49 px left of the
            // chip's centre line (x = 0.4901 in its unit box): no exact
            // mirror to test.
            free(a);
            free(b);
            continue;
        }

        // Landmarks with noise; their mirror image, re-indexed.
        template_landmarks(lm, kind, S, &ginv);
        for (int i = 0; i < 2 * L; i++)
            lm[i] += (float)(1.5 * facet_rng_normal(&r));
        for (int i = 0; i < L; i++) {
            int j = face_template_mirror(i);
            lmm[2 * i] = (float)(W - 1) - lm[2 * j];
            lmm[2 * i + 1] = lm[2 * j + 1];
        }
        CHECK(face_align_fit(&t, lm, kind, S, 0) == FACET_OK);
        CHECK(face_align_fit(&tm, lmm, kind, S, 0) == FACET_OK);

        // want = flip_S . t . flip_W.
        {
            face_xform fw = {{-1, 0, W - 1, 0, 1, 0}};
            face_xform fs = {{-1, 0, S - 1, 0, 1, 0}};
            face_xform_compose(&want, &t, &fw);
            face_xform_compose(&want, &fs, &want);
        }
        // The template is symmetric to 1.5e-6 units: at ~S / 2 px per
        // unit that moves the crop by < 1e-3 px; landmark floats add 1e-5.
        CHECKF(xform_diff(&tm, &want, 1) <= 1e-5 &&
                   xform_diff(&tm, &want, 0) <= 1e-3,
               "kind %d: mirrored fit off by %g, %g px", k,
               xform_diff(&tm, &want, 1), xform_diff(&tm, &want, 0));

        // The crops are mirror images: a 1e-3 px shift moves a noise
        // pixel's value by < 0.3 levels, so rounding may differ by one.
        CHECK(face_warp_rgb(a, S, S, (size_t)S * 3, &img, &t,
                            FACE_BORDER_REPLICATE, NULL) == FACET_OK);
        CHECK(face_warp_rgb(b, S, S, (size_t)S * 3, &mir, &tm,
                            FACE_BORDER_REPLICATE, NULL) == FACET_OK);
        for (int v = 0; v < S; v++)
            for (int u = 0; u < S; u++)
                for (int c = 0; c < 3; c++) {
                    int d = abs(a[((size_t)v * S + u) * 3 + c] -
                                b[((size_t)v * S + S - 1 - u) * 3 + c]);
                    worst = d > worst ? d : worst;
                    ndiff += d != 0;
                }
        CHECKF(worst <= 1 && ndiff <= (long)S * S * 3 / 20,
               "kind %d: mirrored crops differ at %ld values, by up to %d",
               k, ndiff, worst);
        free(a);
        free(b);
    }
    free(img.px);
    free(mir.px);
}

// ---------------------------------------------------------------------------
// Bad input

static int err_has(facet_status st, const char *what)
{
    return st == FACET_E_ARG && strstr(facet_error(), what) != NULL;
}

static void test_errors(void)
{
    face_xform t, id = face_xform_identity();
    face_xform sing = {{1, 2, 0, 2, 4, 0}};
    float lm[2 * L], bad[2 * L];
    double xy[2 * L];
    uint8_t px[12 * 3], dst[16 * 3];
    float f[16];
    face_image im = {4, 3, 12, px};

    template_landmarks(lm, FACE_CROP_BACKBONE, 0, &id);
    memset(px, 0, sizeof px);

    // face_align_fit arguments.
    CHECK(err_has(face_align_fit(NULL, lm, FACE_CROP_BACKBONE, 0, 0),
                  "output"));
    CHECK(err_has(face_align_fit(&t, NULL, FACE_CROP_BACKBONE, 0, 0),
                  "landmarks"));
    CHECK(err_has(face_align_fit(&t, lm, (face_crop_kind)-1, 0, 0), "kind"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_COUNT, 0, 0), "kind"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_BACKBONE, -1, 0),
                  "size -1"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_BACKBONE, 1, 0),
                  "size 1"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_HEAD,
                                 FACE_ALIGN_MAX_SIZE + 1, 0), "size"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_BACKBONE, 0, 2),
                  "affine"));
    CHECK(err_has(face_align_fit(&t, lm, FACE_CROP_DLIB150, 0, 1),
                  "affine"));
    CHECK(face_align_fit(&t, lm, FACE_CROP_HEAD, FACE_ALIGN_MAX_SIZE, 0) ==
          FACET_OK);

    // Non-finite and huge landmarks, in the fit set and out of it.
    memcpy(bad, lm, sizeof bad);
    bad[2 * 40 + 1] = NAN;
    CHECK(err_has(face_align_fit(&t, bad, FACE_CROP_BACKBONE, 0, 0),
                  "landmark 40 y"));
    memcpy(bad, lm, sizeof bad);
    bad[2 * 3] = INFINITY;
    CHECK(err_has(face_align_fit(&t, bad, FACE_CROP_DLIB150, 0, 0),
                  "landmark 3 x"));
    memcpy(bad, lm, sizeof bad);
    bad[2 * 50] = 2e7f;
    CHECK(err_has(face_align_fit(&t, bad, FACE_CROP_HEAD, 0, 0),
                  "landmark 50 x"));

    // Degenerate: all points equal; a face 0.01 px wide (a 1 px face is
    // still accepted); on one line (affine only); mirrored order (affine).
    for (int k = 0; k < FACE_CROP_COUNT; k++) {
        const double *m = face_template();
        facet_status st;
        for (int i = 0; i < L; i++) {
            bad[2 * i] = 100;
            bad[2 * i + 1] = 80;
        }
        st = face_align_fit(&t, bad, (face_crop_kind)k, 0, 0);
        CHECKF(err_has(st, "degenerate"), "kind %d: %s", k, facet_error());
        for (int i = 0; i < L; i++) {
            bad[2 * i] = (float)(100 + 0.01 * m[2 * i]);
            bad[2 * i + 1] = (float)(80 + 0.01 * m[2 * i + 1]);
        }
        st = face_align_fit(&t, bad, (face_crop_kind)k, 0, 0);
        CHECKF(err_has(st, "degenerate"), "kind %d: %s", k, facet_error());
        for (int i = 0; i < L; i++) {
            bad[2 * i] = (float)(100 + m[2 * i]);
            bad[2 * i + 1] = (float)(80 + m[2 * i + 1]);
        }
        CHECK(face_align_fit(&t, bad, (face_crop_kind)k, 0, 0) == FACET_OK);
    }
    for (int i = 0; i < L; i++) {
        bad[2 * i] = (float)i;
        bad[2 * i + 1] = 2.0f * (float)i;
    }
    CHECK(err_has(face_align_fit(&t, bad, FACE_CROP_BACKBONE, 0, 1),
                  "degenerate"));
    for (int i = 0; i < L; i++) {
        int j = face_template_mirror(i);
        bad[2 * i] = lm[2 * j];
        bad[2 * i + 1] = lm[2 * j + 1];
    }
    for (int i = 0; i < L; i++)
        bad[2 * i] = 300 - bad[2 * i];    // mirrored twice: a plain face
    CHECK(face_align_fit(&t, bad, FACE_CROP_BACKBONE, 0, 1) == FACET_OK);
    for (int i = 0; i < L; i++) {
        bad[2 * i] = 300 - lm[2 * i];     // mirror image, same indices
        bad[2 * i + 1] = lm[2 * i + 1];
    }
    CHECK(err_has(face_align_fit(&t, bad, FACE_CROP_BACKBONE, 0, 1),
                  "mirror"));

    CHECK(err_has(face_align_template_points(NULL, FACE_CROP_HEAD, 0),
                  "NULL"));
    CHECK(err_has(face_align_template_points(xy, FACE_CROP_HEAD, 0x7fffffff),
                  "size"));
    CHECK(err_has(face_align_template_points(xy, (face_crop_kind)7, 0),
                  "kind"));

    // Warps.
    CHECK(err_has(face_warp_rgb(NULL, 4, 4, 12, &im, &id,
                                FACE_BORDER_REPLICATE, NULL), "destination"));
    CHECK(err_has(face_warp_rgb(dst, 0, 4, 12, &im, &id,
                                FACE_BORDER_REPLICATE, NULL), "size 0x4"));
    CHECK(err_has(face_warp_rgb(dst, 4, -1, 12, &im, &id,
                                FACE_BORDER_REPLICATE, NULL), "size"));
    CHECK(err_has(face_warp_rgb(dst, FACE_WARP_MAX_SIDE + 1, 1, 1 << 20,
                                &im, &id, FACE_BORDER_REPLICATE, NULL),
                  "size"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 11, &im, &id,
                                FACE_BORDER_REPLICATE, NULL), "stride"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, NULL, &id,
                                FACE_BORDER_REPLICATE, NULL), "source"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, &(face_image){4, 3, 12, NULL},
                                &id, FACE_BORDER_REPLICATE, NULL), "source"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, &(face_image){4, 3, 11, px},
                                &id, FACE_BORDER_REPLICATE, NULL), "stride"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, &im, NULL,
                                FACE_BORDER_REPLICATE, NULL), "transform"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, &im, &sing,
                                FACE_BORDER_REPLICATE, NULL), "invertible"));
    CHECK(err_has(face_warp_rgb(dst, 4, 4, 12, &im, &id, (face_border)5,
                                NULL), "border"));
    CHECK(err_has(face_warp_f32(f, 4, 4, 4, f, 4, 4, 4, 0, &id,
                                FACE_BORDER_REPLICATE, 0), "channels"));
    CHECK(err_has(face_warp_f32(f, 4, 4, 4, f, 4, 4, 4, 5000, &id,
                                FACE_BORDER_REPLICATE, 0), "channels"));
    CHECK(err_has(face_warp_f32(f, 4, 4, 4, NULL, 4, 4, 4, 1, &id,
                                FACE_BORDER_REPLICATE, 0), "source"));
    CHECK(err_has(face_warp_f32(f, 4, 4, 4, f, 4, 4, 3, 1, &id,
                                FACE_BORDER_REPLICATE, 0), "stride"));
    CHECK(err_has(face_warp_f32(f, 4, 4, 4, f, 4, 4, 4, 1, &sing,
                                FACE_BORDER_CONSTANT, 0), "invertible"));
    CHECK(err_has(face_warp_labels(dst, 4, 4, 4, px, 4, 3, 4, &id,
                                   FACE_BORDER_COUNT, 0), "border"));
    CHECK(err_has(face_warp_labels(dst, 4, 4, 4, px, 0, 3, 4, &id,
                                   FACE_BORDER_REPLICATE, 0), "size"));
    CHECK(err_has(face_warp_labels(dst, 4, 4, 4, px, 4, 3, 4, NULL,
                                   FACE_BORDER_REPLICATE, 0), "transform"));
}

// ---------------------------------------------------------------------------
// Real landmarks

// The box that best carries the model's mean shape onto lm (scale and
// shift), dlib's box convention.
static face_landmarks_box mean_shape_box(const float *ms, const float *lm)
{
    double mm[2] = {0, 0}, pm[2] = {0, 0}, num = 0, den = 0, s;
    face_landmarks_box b;

    for (int i = 0; i < L; i++)
        for (int k = 0; k < 2; k++) {
            mm[k] += ms[2 * i + k] / (double)L;
            pm[k] += lm[2 * i + k] / (double)L;
        }
    for (int i = 0; i < L; i++)
        for (int k = 0; k < 2; k++) {
            num += (ms[2 * i + k] - mm[k]) * (lm[2 * i + k] - pm[k]);
            den += (ms[2 * i + k] - mm[k]) * (ms[2 * i + k] - mm[k]);
        }
    s = num / den;
    b.left = pm[0] - s * mm[0];
    b.top = pm[1] - s * mm[1];
    b.right = b.left + s;
    b.bottom = b.top + s;
    return b;
}

static void test_real(void)
{
    FILE *f = fopen("tests/data/dlib/landmarks.txt", "r");
    char line[512], rel[1024] = "", path[2048];
    const char *data = check_data_dir();
    const int *fit = face_align_fit_set();
    face_landmarks *model = NULL;
    wt_file *w = NULL;
    const float *ms = NULL;
    int64_t dims[2] = {L, 2};
    int faces = 0, photos = 0, have_data;
    double tp[2 * L];

    CHECKF(f != NULL, "tests/data/dlib/landmarks.txt: not found (run from "
           "the repository root)");
    if (!f)
        return;
    snprintf(path, sizeof path, "%s/lfw", data);
    have_data = access(path, R_OK) == 0;
    if (!have_data)
        printf("skipped: FACET_DATA (%s) not found: real crops not checked "
               "(landmark residuals still are)\n", data);
    snprintf(path, sizeof path, "%s/dlib_landmarks68.fct",
             check_weights_dir());
    if (have_data && (wt_open(&w, path, 0) ||
                      face_landmarks_create(&model, w) ||
                      !(ms = wt_tensor(w, "mean_shape", 2, dims)))) {
        CHECKF(0, "%s: %s (run make weights)", path, facet_error());
        have_data = 0;
    }
    CHECK(face_align_template_points(tp, FACE_CROP_BACKBONE, 0) == FACET_OK);

    while (fgets(line, sizeof line, f)) {
        float lm[2 * L], cl[2 * L];
        double l, t, r, b, res_fit = 0, res_all = 0;
        char src[16];
        face_xform x;

        if (!strncmp(line, "image ", 6))
            sscanf(line + 6, "%1023s", rel);
        if (strncmp(line, "face ", 5) ||
            sscanf(line + 5, "%lf %lf %lf %lf %15s", &l, &t, &r, &b,
                   src) != 5 || strcmp(src, "det") ||
            strncmp(rel, "lfw/", 4))
            continue;
        for (int i = 0; i < L; i++) {
            double px, py;
            if (!fgets(line, sizeof line, f) ||
                sscanf(line, "%lf %lf", &px, &py) != 2)
                break;
            lm[2 * i] = (float)px;
            lm[2 * i + 1] = (float)py;
        }

        // Residuals in the 224 crop (method-spec 7.4: < 3 px on frontal
        // faces), over the fit points and, for the record, all 68.
        CHECK(face_align_fit(&x, lm, FACE_CROP_BACKBONE, 0, 0) == FACET_OK);
        face_align_landmarks(cl, lm, &x);
        for (int i = 0; i < L; i++)
            res_all += hypot(cl[2 * i] - tp[2 * i],
                             cl[2 * i + 1] - tp[2 * i + 1]) / L;
        for (int k = 0; k < FACE_ALIGN_FIT_COUNT; k++) {
            int i = fit[k];
            res_fit += hypot(cl[2 * i] - tp[2 * i],
                             cl[2 * i + 1] - tp[2 * i + 1]) /
                       FACE_ALIGN_FIT_COUNT;
        }
        // A similarity cannot undo a turned or tilted-back head, so the
        // tight bound holds only for frontal faces, told by symmetry: the
        // nose tip (30) about as far from one outer eye corner (36) as
        // from the other (45). Turned faces only get a sanity bound of
        // 10 px (about a sixth of the inter-ocular distance, 62 px).
        // Method-spec 7.4 asks < 3 px; on these in-the-wild faces pitch
        // and expression leave 3.9 and 4.6 px on the two frontal ones
        // (the template's unit box is 149 px wide here), so the bound is
        // 5 px: the spec's figure is not met and is not claimed.
        {
            double dl = hypot(lm[60] - lm[72], lm[61] - lm[73]);
            double dr = hypot(lm[60] - lm[90], lm[61] - lm[91]);
            double yaw = fabs(dl - dr) / (dl + dr);
            double bound = yaw < 0.1 ? 5.0 : 10.0;

            CHECKF(res_fit < bound, "%s: mean residual %.2f px in the 224 "
                   "crop (asymmetry %.2f, bound %.0f px)", rel, res_fit,
                   yaw, bound);
            printf("  %-42s residual %.2f px (fit points), %.2f px (all "
                   "68), asymmetry %.2f\n", rel, res_fit, res_all, yaw);
        }
        faces++;

        // The photo warped into each crop: dlib's predictor, run inside
        // the crop from the mean-shape box of the carried landmarks, finds
        // them where the transform put them. Its own error on resampled
        // faces is ~1 px at these scales; 2.5 px mean flags a wrong map.
        if (have_data) {
            int wd, ht, n;
            uint8_t *px;
            snprintf(path, sizeof path, "%s/%s", data, rel);
            px = stbi_load(path, &wd, &ht, &n, 3);
            CHECKF(px != NULL, "%s: %s", path, stbi_failure_reason());
            if (!px)
                continue;
            for (int k = 0; k < FACE_CROP_COUNT; k++) {
                face_image im = {wd, ht, (size_t)wd * 3, px};
                int S = face_crop_default_size((face_crop_kind)k);
                uint8_t *crop = malloc((size_t)S * S * 3);
                float found[2 * L];
                face_landmarks_box box;
                double d = 0;

                CHECK(face_align_fit(&x, lm, (face_crop_kind)k, 0, 0) ==
                      FACET_OK);
                face_align_landmarks(cl, lm, &x);
                CHECK(face_warp_rgb(crop, S, S, (size_t)S * 3, &im, &x,
                                    FACE_BORDER_REPLICATE, NULL) ==
                      FACET_OK);
                box = mean_shape_box(ms, cl);
                CHECK(face_landmarks_predict(found, NULL, model, crop, S, S,
                                             S * 3, 3, &box) == FACET_OK);
                for (int i = 0; i < L; i++)
                    d += hypot(found[2 * i] - cl[2 * i],
                               found[2 * i + 1] - cl[2 * i + 1]) / L;
                // In photo pixels, so that crops of any scale compare.
                {
                    double sc;
                    face_xform_params(&x, &sc, NULL, NULL);
                    d /= sc;
                }
                CHECKF(d < 2.5, "%s crop %d: landmarks %.2f photo px from "
                       "where the transform put them", rel, k, d);
                printf("    crop %d (%dx%d): landmarks found %.2f photo px "
                       "from the carried ones\n", k, S, S, d);
                free(crop);
            }
            stbi_image_free(px);
            photos++;
        }
    }
    fclose(f);
    CHECKF(faces >= 6, "only %d LFW faces in the fixture", faces);
    face_landmarks_free(model);
    wt_close(w);
    (void)photos;
}

// ---------------------------------------------------------------------------
// Speed

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void test_speed(void)
{
    facet_rng r;
    face_image small, big;
    float lm[2 * L];
    int reps = bench_mode ? 101 : 15;
    double *ms = malloc(sizeof(double) * reps);
    double *cpu = malloc(sizeof(double) * reps);

    facet_rng_seed(&r, 12);
    small = make_image(250, 250, 0, 1, &r);
    big = make_image(1024, 1024, 0, 1, &r);
    for (int i = 0; i < 2 * L; i++)
        lm[i] = (float)FIXTURE_LM[i];

    for (int k = 0; k < 4; k++) {
        const face_image *im = k < 2 ? &small : &big;
        face_crop_kind kind = k % 2 ? FACE_CROP_HEAD : FACE_CROP_BACKBONE;
        int S = face_crop_default_size(kind);
        uint8_t *crop = malloc((size_t)S * S * 3);
        face_xform t, up = {{4.096, 0, 0, 0, 4.096, 0}};
        float l2[2 * L];

        // On the 1024 photo, the same face 4.1x larger (so the crops
        // shrink it and take the supersampling path).
        face_align_landmarks(l2, lm, k < 2 ? &(face_xform){{1, 0, 0, 0, 1,
                                                            0}}
                                           : &up);
        CHECK(face_align_fit(&t, l2, kind, 0, 0) == FACET_OK);
        for (int i = 0; i < reps; i++) {
            double t0 = facet_now();
            clock_t c0 = clock();
            face_warp_rgb(crop, S, S, (size_t)S * 3, im, &t,
                          FACE_BORDER_REPLICATE, NULL);
            ms[i] = 1e3 * (facet_now() - t0);
            cpu[i] = 1e3 * (double)(clock() - c0) / CLOCKS_PER_SEC;
        }
        qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
        qsort(cpu, (size_t)reps, sizeof *cpu, cmp_double);
        printf("  warp %dx%d photo -> %s %dx%d: median %.3f ms wall, %.3f ms "
               "CPU (%d threads)\n", im->w, im->h,
               kind == FACE_CROP_HEAD ? "head" : "backbone", S, S,
               ms[reps / 2], cpu[reps / 2], facet_threads());
        free(crop);
    }
    free(ms);
    free(cpu);
    free(small.px);
    free(big.px);
}

int main(int argc, char **argv)
{
    bench_mode = argc > 1 && !strcmp(argv[1], "--bench");
    test_template();
    test_template_jaw();
    test_xform();
    test_fit_identity();
    test_fit_known();
    test_fit_optimal();
    test_fit_dlib();
    test_warp_rgb();
    test_warp_f32();
    test_warp_labels();
    test_threads();
    test_synthetic_recovery();
    test_mirror();
    test_errors();
    test_real();
    test_speed();
    return check_report();
}

// parts.c - face-part label maps from landmarks, hair probability and
// colour (face/parts.h): polygon and stroke rasterisation, disc dilation,
// the head region, the hair restriction, the face base (NC13-seeded or
// geometric) and the overlay picture.
//
// Rasterisation works on pixel centres. Polygon vertices are rounded to
// 1/256 pixel and every inside test is then integer arithmetic, so the
// scanline filler and a per-pixel winding-number test agree exactly,
// whatever the polygon (concave, self-touching, degenerate).
//
// The face base by NC13 (method-spec 2.4), at the working resolution:
//   excluded   blocks whose crop pixels are all part pixels (eyes, brows,
//              nose, mouth, hair)
//   base       cheek polygons (jaw 1-3, nostril 31, lower lid 41; and the
//              mirror 13-15, 35, 46), a forehead band one brow-height
//              high above the brows, the chin (7-9, 57); eroded by
//              0.04 iod, kept 0.04 iod away from any part pixel (so the
//              band is clipped by the hair)
//   background a border band (2% of the working size, at least 2 px)
//              outside the geometric face polygon, and everything outside
//              the head region dilated by bg_grow face widths
// then two labels (base / not base), and the base kept where it is
// 4-connected to a base scribble.
//
// ref: method-spec 2.4 (seeds), 2.1-2.2 (the segmentation, segment.c)
// ref: D. Sunday, "Inclusion of a point in a polygon" (2001): the winding
//      number with half-open crossings
// ref: P. Felzenszwalb, D. Huttenlocher, "Distance Transforms of Sampled
//      Functions", Theory of Computing 8, 2012 (face_dilate)
// ref: A. M. Andrew, "Another efficient algorithm for convex hulls in two
//      dimensions", IPL 9(5), 1979 (monotone chain)
//
// Limitations:
// - Polygon coordinates beyond +-1e6 pixels are refused (the integer
//   arithmetic needs the range); landmarks in a crop never get near it.
// - With no background scribble (the face fills the whole working frame)
//   NC13 has nothing to oppose the base, and the geometric base is used.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parts.h"

#define NLM FACE_LANDMARKS
#define FIX 256                 // polygon vertices: 1/256 pixel
#define MAX_COORD 1e6           // |coordinate| cap for the integer tests
#define MAX_SIDE 65536          // image side cap

// ---------------------------------------------------------------------------
// Names and colours

const char *face_part_name(face_part p)
{
    static const char *const names[FACE_PART_COUNT] = {
        "background", "base", "hair", "eyes", "eyebrows", "nose", "mouth"};

    if ((int)p < 0 || (int)p >= FACE_PART_COUNT)
        return NULL;
    return names[p];
}

// Colours chosen to be told apart at a glance, with base violet as in
// the paper's inset; background is not tinted.
static const uint8_t part_rgb[FACE_PART_COUNT][3] = {
    {0, 0, 0},         // background
    {150, 70, 210},    // base: violet
    {255, 140, 0},     // hair: orange
    {0, 220, 255},     // eyes: cyan
    {255, 235, 0},     // eyebrows: yellow
    {40, 210, 70},     // nose: green
    {235, 30, 60},     // mouth: red
};

int face_part_color(face_part p, uint8_t rgb[3])
{
    if ((int)p < 0 || (int)p >= FACE_PART_COUNT)
        return 0;
    memcpy(rgb, part_rgb[p], 3);
    return 1;
}

void face_parts_defaults(face_parts_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->base_method = FACE_BASE_NC13;
    o->hair_threshold = 0.5;
    o->eye_radius = 0.10;
    o->brow_radius = 0.09;
    o->brow_shift = 0.03;
    o->nose_radius = 0.05;
    o->mouth_radius = 0.06;
    o->skull_height = 1.0;
    o->head_grow = 0.25;
    o->forehead_height = 0.9;
    o->bg_grow = 0.15;
    o->work_size = 256;
    face_seg_defaults(&o->seg);
}

// ---------------------------------------------------------------------------
// Argument checks

static facet_status check_mask(const char *fn, const void *mask, int w,
                               int h)
{
    if (!mask)
        return facet_fail(FACET_E_ARG, "%s: mask is NULL", fn);
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
        return facet_fail(FACET_E_ARG, "%s: size %d x %d is outside 1..%d",
                          fn, w, h, MAX_SIDE);
    return FACET_OK;
}

static facet_status check_points(const char *fn, const char *what,
                                 const float *xy, int n)
{
    if (n < 0)
        return facet_fail(FACET_E_ARG, "%s: %s count %d < 0", fn, what, n);
    if (n > 0 && !xy)
        return facet_fail(FACET_E_ARG, "%s: %s is NULL", fn, what);
    for (int i = 0; i < 2 * n; i++)
        if (!isfinite(xy[i]) || fabsf(xy[i]) > MAX_COORD)
            return facet_fail(FACET_E_ARG, "%s: %s[%d] = %g is not finite "
                              "or beyond +-%g", fn, what, i, xy[i],
                              MAX_COORD);
    return FACET_OK;
}

static facet_status check_image(const char *fn, const face_image *im)
{
    if (!im || !im->px)
        return facet_fail(FACET_E_ARG, "%s: crop image is NULL", fn);
    if (im->w < 1 || im->h < 1 || im->w > MAX_SIDE || im->h > MAX_SIDE)
        return facet_fail(FACET_E_ARG, "%s: crop size %d x %d is outside "
                          "1..%d", fn, im->w, im->h, MAX_SIDE);
    if (im->stride < 3 * (size_t)im->w)
        return facet_fail(FACET_E_ARG, "%s: crop stride %zu < 3 x width %d",
                          fn, im->stride, im->w);
    return FACET_OK;
}

static facet_status check_opts(const char *fn, const face_parts_opts *o)
{
    const double r[] = {o->eye_radius, o->brow_radius, o->nose_radius,
                        o->mouth_radius, o->head_grow, o->bg_grow,
                        o->skull_height, o->forehead_height};

    if (o->base_method != FACE_BASE_NC13 &&
        o->base_method != FACE_BASE_GEOMETRIC)
        return facet_fail(FACET_E_ARG, "%s: base_method %d is unknown", fn,
                          (int)o->base_method);
    if (!(o->hair_threshold >= 0 && o->hair_threshold <= 1))
        return facet_fail(FACET_E_ARG, "%s: hair_threshold %g is outside "
                          "[0, 1]", fn, o->hair_threshold);
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (!(r[i] >= 0 && r[i] <= 10))
            return facet_fail(FACET_E_ARG, "%s: a radius or factor (%g) is "
                              "outside [0, 10]", fn, r[i]);
    if (!(o->brow_shift >= -1 && o->brow_shift <= 1))
        return facet_fail(FACET_E_ARG, "%s: brow_shift %g is outside "
                          "[-1, 1]", fn, o->brow_shift);
    if (o->work_size < 16 || o->work_size > MAX_SIDE)
        return facet_fail(FACET_E_ARG, "%s: work_size %d is outside 16..%d",
                          fn, o->work_size, MAX_SIDE);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Rasterisation

// A polygon edge crossing one scanline: the first pixel column at or right
// of the crossing, and the edge's direction (+1 downwards, -1 upwards).
typedef struct crossing {
    int64_t start;
    int dir;
} crossing;

static int cmp_crossing(const void *a, const void *b)
{
    int64_t x = ((const crossing *)a)->start, y = ((const crossing *)b)->start;

    return x < y ? -1 : x > y;
}

// ceil(num / den) for den > 0.
static int64_t ceil_div(int64_t num, int64_t den)
{
    int64_t q = num / den;

    return q + (num % den != 0 && num > 0);
}

static int64_t to_fix(float v)
{
    return (int64_t)nearbyint((double)v * FIX);
}

facet_status face_poly_fill(uint8_t *mask, int w, int h, const float *xy,
                            int n, uint8_t value)
{
    static const char fn[] = "face_poly_fill";
    int64_t *fx, *fy, ylo, yhi;
    crossing *cr;
    facet_status s;

    if ((s = check_mask(fn, mask, w, h)) != FACET_OK ||
        (s = check_points(fn, "polygon", xy, n)) != FACET_OK)
        return s;
    if (n < 3)
        return FACET_OK;
    fx = malloc((size_t)n * sizeof(*fx));
    fy = malloc((size_t)n * sizeof(*fy));
    cr = malloc((size_t)n * sizeof(*cr));
    if (!fx || !fy || !cr) {
        free(fx);
        free(fy);
        free(cr);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory (%d vertices)",
                          fn, n);
    }

    // Vertices in 1/256 pixel; the rows the polygon spans.
    ylo = INT64_MAX;
    yhi = INT64_MIN;
    for (int i = 0; i < n; i++) {
        fx[i] = to_fix(xy[2 * i]);
        fy[i] = to_fix(xy[2 * i + 1]);
        ylo = fy[i] < ylo ? fy[i] : ylo;
        yhi = fy[i] > yhi ? fy[i] : yhi;
    }
    ylo = ceil_div(ylo, FIX);
    yhi = ceil_div(yhi, FIX);
    ylo = ylo < 0 ? 0 : ylo;
    yhi = yhi > h ? h : yhi;

    // Scanline y: an edge crosses it when exactly one end is at or above
    // (y_end <= y), which counts each vertex once. A pixel is inside when
    // the directions of the crossings at or left of its centre sum to
    // non-zero (the plane's winding number; the crossings right of it
    // sum to the opposite).
    for (int64_t y = ylo; y < yhi; y++) {
        int64_t yy = y * FIX;
        int nc = 0, wind = 0;

        for (int i = 0; i < n; i++) {
            int j = i + 1 == n ? 0 : i + 1;
            int64_t dy = fy[j] - fy[i], num, den;

            if ((fy[i] <= yy) == (fy[j] <= yy))
                continue;
            // Crossing x = x_i + (yy - y_i) dx / dy, in pixels: the first
            // column at or right of it is ceil(x / FIX).
            num = fx[i] * dy + (yy - fy[i]) * (fx[j] - fx[i]);
            den = dy * FIX;
            if (den < 0) {
                num = -num;
                den = -den;
            }
            cr[nc].start = ceil_div(num, den);
            cr[nc].dir = dy > 0 ? 1 : -1;
            nc++;
        }
        qsort(cr, (size_t)nc, sizeof(*cr), cmp_crossing);
        for (int k = 0; k + 1 < nc; k++) {
            int64_t a = cr[k].start, b = cr[k + 1].start;

            wind += cr[k].dir;
            if (wind == 0 || a >= b)
                continue;
            a = a < 0 ? 0 : a > w ? w : a;
            b = b < 0 ? 0 : b > w ? w : b;
            if (b > a)
                memset(mask + (size_t)y * w + a, value, (size_t)(b - a));
        }
    }
    free(fx);
    free(fy);
    free(cr);
    return FACET_OK;
}

// Mark pixels within r of segment (ax, ay)-(bx, by).
static void fill_capsule(uint8_t *mask, int w, int h, double ax, double ay,
                         double bx, double by, double r, uint8_t value)
{
    double ex = bx - ax, ey = by - ay, len2 = ex * ex + ey * ey, r2 = r * r;
    double x0 = fmin(ax, bx) - r, x1 = fmax(ax, bx) + r;
    double y0 = fmin(ay, by) - r, y1 = fmax(ay, by) + r;
    int xa, xb, ya, yb;

    // Bounding box of the capsule, clipped to the image.
    if (x1 < 0 || y1 < 0 || x0 > w - 1 || y0 > h - 1)
        return;
    xa = x0 < 0 ? 0 : (int)ceil(x0);
    xb = x1 > w - 1 ? w - 1 : (int)floor(x1);
    ya = y0 < 0 ? 0 : (int)ceil(y0);
    yb = y1 > h - 1 ? h - 1 : (int)floor(y1);

    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double px = x - ax, py = y - ay, t = 0, dx, dy;

            // Nearest point of the segment: a + t e, t clamped to [0, 1].
            if (len2 > 0) {
                t = (px * ex + py * ey) / len2;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
            }
            dx = px - t * ex;
            dy = py - t * ey;
            if (dx * dx + dy * dy <= r2)
                mask[(size_t)y * w + x] = value;
        }
}

facet_status face_polyline_fill(uint8_t *mask, int w, int h,
                                const float *xy, int n, double radius,
                                uint8_t value)
{
    static const char fn[] = "face_polyline_fill";
    facet_status s;

    if ((s = check_mask(fn, mask, w, h)) != FACET_OK ||
        (s = check_points(fn, "polyline", xy, n)) != FACET_OK)
        return s;
    if (!(radius >= 0) || !isfinite(radius))
        return facet_fail(FACET_E_ARG, "%s: radius %g is not finite or < 0",
                          fn, radius);
    if (n == 1)
        fill_capsule(mask, w, h, xy[0], xy[1], xy[0], xy[1], radius, value);
    for (int i = 0; i + 1 < n; i++)
        fill_capsule(mask, w, h, xy[2 * i], xy[2 * i + 1], xy[2 * i + 2],
                     xy[2 * i + 3], radius, value);
    return FACET_OK;
}

// The lower envelope of the parabolas (x - q)^2 + f[q] over the q with a
// finite f (f[q] < EDT_INF), evaluated at x = 0..n-1 into d (EDT_INF when
// no q is finite). Breakpoints are kept as exact fractions zn / zd
// (zd > 0), so every comparison is integer arithmetic. v, zn, zd: n.
#define EDT_INF INT64_MAX
static void envelope(int64_t *d, const int64_t *f, int n, int *v,
                     int64_t *zn, int64_t *zd)
{
    int k = -1;

    for (int q = 0; q < n; q++) {
        int64_t sn = 0, sd = 1;

        if (f[q] == EDT_INF)
            continue;
        // Drop parabolas that q's hides: the crossing of q and v[k],
        // s = ((f[q] + q^2) - (f[p] + p^2)) / (2 (q - p)), at or left of
        // where v[k] took over from v[k - 1].
        while (k >= 0) {
            int64_t p = v[k];

            sn = (f[q] + (int64_t)q * q) - (f[p] + p * p);
            sd = 2 * ((int64_t)q - p);
            if (k > 0 && sn * zd[k] <= zn[k] * sd) {
                k--;
                continue;
            }
            break;
        }
        k++;
        v[k] = q;
        zn[k] = sn;
        zd[k] = sd;
    }
    if (k < 0) {
        for (int x = 0; x < n; x++)
            d[x] = EDT_INF;
        return;
    }
    for (int x = 0, j = 0; x < n; x++) {
        int64_t dx;

        while (j < k && zn[j + 1] <= (int64_t)x * zd[j + 1])
            j++;
        dx = x - v[j];
        d[x] = dx * dx + f[v[j]];
    }
}

facet_status face_dilate(uint8_t *dst, const uint8_t *src, int w, int h,
                         double radius)
{
    static const char fn[] = "face_dilate";
    size_t npx = (size_t)w * h;
    int big = w > h ? w : h;
    int32_t *col = NULL;
    int64_t *f = NULL, *d = NULL, *zn = NULL, *zd = NULL;
    int *v = NULL;
    double r2 = radius * radius;
    facet_status s;

    if ((s = check_mask(fn, dst, w, h)) != FACET_OK ||
        (s = check_mask(fn, src, w, h)) != FACET_OK)
        return s;
    if (!(radius >= 0) || !isfinite(radius))
        return facet_fail(FACET_E_ARG, "%s: radius %g is not finite or < 0",
                          fn, radius);
    FACET_ASSERT(dst + npx <= src || src + npx <= dst);
    if (radius < 1) {
        for (size_t i = 0; i < npx; i++)
            dst[i] = src[i] != 0;
        return FACET_OK;
    }
    col = malloc(npx * sizeof(*col));
    f = malloc((size_t)w * sizeof(*f));
    d = malloc((size_t)w * sizeof(*d));
    v = malloc((size_t)w * sizeof(*v));
    zn = malloc((size_t)w * sizeof(*zn));
    zd = malloc((size_t)w * sizeof(*zd));
    if (!col || !f || !d || !v || !zn || !zd) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory (%d x %d)", fn, w,
                       h);
        goto done;
    }

    // Exact Euclidean distance transform (Felzenszwalb-Huttenlocher):
    // first the distance to the nearest set pixel in the same column, by
    // a sweep down and a sweep up (big + 1 stands for none) ...
    for (int x = 0; x < w; x++)
        col[x] = src[x] ? 0 : big + 1;
    for (int y = 1; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int32_t up = col[i - w] + 1;

            col[i] = src[i] ? 0 : up < big + 1 ? up : big + 1;
        }
    for (int y = h - 2; y >= 0; y--)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;

            if (col[i + w] + 1 < col[i])
                col[i] = col[i + w] + 1;
        }

    // ... then along each row the lower envelope of (x - q)^2 + col^2:
    // the squared distance to the nearest set pixel, in integers.
    for (int y = 0; y < h; y++) {
        const int32_t *c = col + (size_t)y * w;
        uint8_t *out = dst + (size_t)y * w;

        for (int x = 0; x < w; x++)
            f[x] = c[x] > big ? EDT_INF : (int64_t)c[x] * c[x];
        envelope(d, f, w, v, zn, zd);
        for (int x = 0; x < w; x++)
            out[x] = d[x] != EDT_INF && (double)d[x] <= r2;
    }
done:
    free(col);
    free(f);
    free(d);
    free(v);
    free(zn);
    free(zd);
    return s;
}

// Erosion by the same disc (pixels outside the image count as set, so
// the image border does not erode): dst = !dilate(!src). tmp: w x h.
static facet_status erode(uint8_t *dst, const uint8_t *src, uint8_t *tmp,
                          int w, int h, double radius)
{
    size_t npx = (size_t)w * h;
    facet_status s;

    for (size_t i = 0; i < npx; i++)
        tmp[i] = !src[i];
    if ((s = face_dilate(dst, tmp, w, h, radius)) != FACET_OK)
        return s;
    for (size_t i = 0; i < npx; i++)
        dst[i] = !dst[i];
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Face geometry from the landmarks

typedef struct geom {
    const float *lm;     // 68 x 2, crop pixels
    double eye[2][2];    // centres of 36-41 (image left), 42-47
    double iod;          // |eye[1] - eye[0]|
    double fw;           // face width |16 - 0|, at least iod
    double rt[2];        // unit vector from eye[0] to eye[1]
    double dn[2];        // unit vector perpendicular to rt, towards chin
    double brow_c[2];    // mean of the brows 17-26
} geom;

static facet_status make_geom(geom *g, const float *lm, const char *fn)
{
    facet_status s;
    double ex, ey, cx, cy;

    if (!lm)
        return facet_fail(FACET_E_ARG, "%s: landmarks are NULL", fn);
    if ((s = check_points(fn, "landmarks", lm, NLM)) != FACET_OK)
        return s;
    g->lm = lm;
    for (int e = 0; e < 2; e++) {
        g->eye[e][0] = g->eye[e][1] = 0;
        for (int i = 36 + 6 * e; i < 42 + 6 * e; i++) {
            g->eye[e][0] += lm[2 * i] / 6.0;
            g->eye[e][1] += lm[2 * i + 1] / 6.0;
        }
    }
    ex = g->eye[1][0] - g->eye[0][0];
    ey = g->eye[1][1] - g->eye[0][1];
    g->iod = hypot(ex, ey);
    if (!(g->iod >= 1e-3))
        return facet_fail(FACET_E_ARG, "%s: landmarks give no face (eye "
                          "centres %.3g px apart)", fn, g->iod);
    g->rt[0] = ex / g->iod;
    g->rt[1] = ey / g->iod;

    // Down is perpendicular to the eye line, on the chin's side.
    g->dn[0] = -g->rt[1];
    g->dn[1] = g->rt[0];
    cx = lm[16] - 0.5 * (g->eye[0][0] + g->eye[1][0]);
    cy = lm[17] - 0.5 * (g->eye[0][1] + g->eye[1][1]);
    if (cx * g->dn[0] + cy * g->dn[1] < 0) {
        g->dn[0] = -g->dn[0];
        g->dn[1] = -g->dn[1];
    }
    g->fw = fmax(hypot(lm[32] - lm[0], lm[33] - lm[1]), g->iod);
    g->brow_c[0] = g->brow_c[1] = 0;
    for (int i = 17; i <= 26; i++) {
        g->brow_c[0] += lm[2 * i] / 10.0;
        g->brow_c[1] += lm[2 * i + 1] / 10.0;
    }
    return FACET_OK;
}

static double lmx(const geom *g, int i) { return g->lm[2 * i]; }
static double lmy(const geom *g, int i) { return g->lm[2 * i + 1]; }

// Signed distance of landmark i below the brow line (along dn).
static double below_brows(const geom *g, double x, double y)
{
    return (x - g->brow_c[0]) * g->dn[0] + (y - g->brow_c[1]) * g->dn[1];
}

// A polygon under construction, in crop pixels (double).
typedef struct poly {
    double p[2 * 96];
    int n;
} poly;

static void add(poly *q, double x, double y)
{
    FACET_ASSERT(q->n < 96);
    q->p[2 * q->n] = x;
    q->p[2 * q->n + 1] = y;
    q->n++;
}

static void add_lm(poly *q, const geom *g, int i, double along, double down)
{
    add(q, lmx(g, i) + along * g->rt[0] + down * g->dn[0],
        lmy(g, i) + along * g->rt[1] + down * g->dn[1]);
}

// A polygon's vertices as floats in a frame scaled by s about pixel
// centres: x' = (x + 0.5) s - 0.5 (s = 1 for the crop itself).
static void to_frame(float *dst, const poly *q, double s)
{
    for (int i = 0; i < 2 * q->n; i++)
        dst[i] = (float)((q->p[i] + 0.5) * s - 0.5);
}

// Fill a polygon dilated by r (pixels of the frame): the polygon, plus
// every centre within r of its closed outline.
static facet_status fill_dilated(uint8_t *mask, int w, int h, const poly *q,
                                 double s, double r, uint8_t value)
{
    float f[2 * 97];
    facet_status st;

    to_frame(f, q, s);
    if ((st = face_poly_fill(mask, w, h, f, q->n, value)) != FACET_OK)
        return st;
    if (r <= 0 || q->n == 0)
        return FACET_OK;
    f[2 * q->n] = f[0];
    f[2 * q->n + 1] = f[1];
    return face_polyline_fill(mask, w, h, f, q->n + 1, r * s, value);
}

static poly lm_range(const geom *g, int a, int b)
{
    poly q = {.n = 0};

    for (int i = a; i <= b; i++)
        add_lm(&q, g, i, 0, 0);
    return q;
}

// The nose: a band from the bridge top (27) widened by 0.12 iod to each
// side, down to the alae 0.12 iod outside 31 and 35 and 0.08 iod above
// them, closed along the base 35-34-33-32-31.
static poly nose_poly(const geom *g)
{
    poly q = {.n = 0};
    double t = 0.12 * g->iod, u = 0.08 * g->iod;

    add_lm(&q, g, 27, -t, 0);
    add_lm(&q, g, 27, t, 0);
    add_lm(&q, g, 35, t, -u);
    for (int i = 35; i >= 31; i--)
        add_lm(&q, g, i, 0, 0);
    add_lm(&q, g, 31, -t, -u);
    return q;
}

// Height of the forehead above the brow centre: forehead_height times the
// brow-to-nose-base distance (at least 0.5 iod, for odd landmarks).
static double forehead(const geom *g, double factor)
{
    double d = below_brows(g, lmx(g, 33), lmy(g, 33));

    return factor * fmax(d, 0.5 * g->iod);
}

// The geometric face: jaw 0..16 closed by the brows 26..17 raised by the
// forehead height.
static poly face_poly(const geom *g, double factor)
{
    poly q = {.n = 0};
    double f = forehead(g, factor);

    for (int i = 0; i <= 16; i++)
        add_lm(&q, g, i, 0, 0);
    for (int i = 26; i >= 17; i--) {
        // Raise each brow point to the line f above the brow centre.
        double d = below_brows(g, lmx(g, i), lmy(g, i));

        add_lm(&q, g, i, 0, -f - d);
    }
    return q;
}

// Convex hull (monotone chain) of n points; returns the hull size, points
// in order in out.
static int cmp_pt(const void *a, const void *b)
{
    const double *p = a, *q = b;

    if (p[0] != q[0])
        return p[0] < q[0] ? -1 : 1;
    return p[1] < q[1] ? -1 : p[1] > q[1];
}

static double cross3(const double *o, const double *a, const double *b)
{
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static void convex_hull(poly *out, poly *in)
{
    int n = in->n, k = 0;
    double *p = in->p, *h = out->p;

    qsort(p, (size_t)n, 2 * sizeof(double), cmp_pt);
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross3(h + 2 * (k - 2), h + 2 * (k - 1),
                                p + 2 * i) <= 0)
            k--;
        h[2 * k] = p[2 * i];
        h[2 * k + 1] = p[2 * i + 1];
        k++;
    }
    for (int i = n - 2, lo = k + 1; i >= 0; i--) {
        while (k >= lo && cross3(h + 2 * (k - 2), h + 2 * (k - 1),
                                 p + 2 * i) <= 0)
            k--;
        h[2 * k] = p[2 * i];
        h[2 * k + 1] = p[2 * i + 1];
        k++;
    }
    out->n = k > 1 ? k - 1 : k;
}

// The head polygon: hull of the landmarks and of the jaw mirrored about
// the brow line, the mirror image scaled by skull_height.
static void head_poly(poly *out, const geom *g, double skull)
{
    poly pts = {.n = 0};

    for (int i = 0; i < NLM; i++)
        add_lm(&pts, g, i, 0, 0);
    for (int i = 0; i <= 16; i++) {
        double d = below_brows(g, lmx(g, i), lmy(g, i));

        if (d > 0)
            add_lm(&pts, g, i, 0, -(1 + skull) * d);
    }
    convex_hull(out, &pts);
}

// ---------------------------------------------------------------------------
// Head region and hair

// The head region in a frame scaled by s (see to_frame) of size w x h,
// dilated by `grow` face widths. tmp: w x h.
static facet_status head_mask(uint8_t *head, uint8_t *tmp, int w, int h,
                              const geom *g, double s, double skull,
                              double grow)
{
    poly hull;
    float f[2 * 96];
    facet_status st;

    head_poly(&hull, g, skull);
    to_frame(f, &hull, s);
    memset(tmp, 0, (size_t)w * h);
    if ((st = face_poly_fill(tmp, w, h, f, hull.n, 1)) != FACET_OK)
        return st;
    return face_dilate(head, tmp, w, h, grow * g->fw * s);
}

facet_status face_parts_head(uint8_t *head, int w, int h,
                             const float *lm68, const face_parts_opts *o)
{
    static const char fn[] = "face_parts_head";
    face_parts_opts def;
    geom g;
    uint8_t *tmp;
    facet_status s;

    if (!o) {
        face_parts_defaults(&def);
        o = &def;
    }
    if ((s = check_mask(fn, head, w, h)) != FACET_OK ||
        (s = check_opts(fn, o)) != FACET_OK ||
        (s = make_geom(&g, lm68, fn)) != FACET_OK)
        return s;
    if (!(tmp = malloc((size_t)w * h)))
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    s = head_mask(head, tmp, w, h, &g, 1.0, o->skull_height, o->head_grow);
    free(tmp);
    return s;
}

// Keep the 8-connected regions of `mask` (0/1, w x h) that contain a pixel
// of `seed`; the rest is cleared. Returns the pixels cleared, or -1 when
// out of memory. conn8: 8- or 4-connectivity.
static int64_t keep_touching(uint8_t *mask, const uint8_t *seed, int w,
                             int h, int conn8)
{
    static const int nb[8][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1},
                                 {-1, -1}, {1, -1}, {-1, 1}, {1, 1}};
    size_t npx = (size_t)w * h, head = 0, tail = 0;
    int32_t *queue = malloc(npx * sizeof(*queue));
    int64_t removed = 0;

    if (!queue)
        return -1;

    // Seeded region pixels become 2, then the flood spreads the 2s.
    for (size_t i = 0; i < npx; i++)
        if (mask[i] && seed[i]) {
            mask[i] = 2;
            queue[tail++] = (int32_t)i;
        }
    while (head < tail) {
        int32_t i = queue[head++];
        int x = i % w, y = i / w;

        for (int k = 0; k < (conn8 ? 8 : 4); k++) {
            int xx = x + nb[k][0], yy = y + nb[k][1];
            size_t j = (size_t)yy * w + xx;

            if (xx < 0 || yy < 0 || xx >= w || yy >= h || mask[j] != 1)
                continue;
            mask[j] = 2;
            queue[tail++] = (int32_t)j;
        }
    }
    for (size_t i = 0; i < npx; i++) {
        removed += mask[i] == 1;
        mask[i] = mask[i] == 2;
    }
    free(queue);
    return removed;
}

// Hair mask in the crop frame from p(hair) and the head region.
static facet_status hair_mask(uint8_t *hair, uint8_t *t1, uint8_t *t2,
                              const float *prob, int w, int h, const geom *g,
                              const face_parts_opts *o, int64_t *removed,
                              const char *fn)
{
    size_t npx = (size_t)w * h;
    float thr = (float)o->hair_threshold;
    int64_t r;
    facet_status s;

    for (size_t i = 0; i < npx; i++)
        hair[i] = prob[i] > thr;
    if ((s = head_mask(t1, t2, w, h, g, 1.0, o->skull_height,
                       o->head_grow)) != FACET_OK)
        return s;
    if ((r = keep_touching(hair, t1, w, h, 1)) < 0)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    if (removed)
        *removed = r;
    return FACET_OK;
}

facet_status face_parts_hair(uint8_t *hair, const float *hair_prob, int w,
                             int h, const float *lm68,
                             const face_parts_opts *o, int64_t *removed)
{
    static const char fn[] = "face_parts_hair";
    face_parts_opts def;
    uint8_t *t1, *t2;
    geom g;
    facet_status s;

    if (!o) {
        face_parts_defaults(&def);
        o = &def;
    }
    if ((s = check_mask(fn, hair, w, h)) != FACET_OK ||
        (s = check_opts(fn, o)) != FACET_OK ||
        (s = make_geom(&g, lm68, fn)) != FACET_OK)
        return s;
    if (!hair_prob)
        return facet_fail(FACET_E_ARG, "%s: hair_prob is NULL", fn);
    t1 = malloc((size_t)w * h);
    t2 = malloc((size_t)w * h);
    if (!t1 || !t2)
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    else
        s = hair_mask(hair, t1, t2, hair_prob, w, h, &g, o, removed, fn);
    free(t1);
    free(t2);
    return s;
}

// ---------------------------------------------------------------------------
// Landmark parts

// Paint the landmark parts into `lab` (crop frame, initially background)
// in increasing precedence, so that later parts overwrite earlier ones.
static facet_status paint_parts(uint8_t *lab, int w, int h, const geom *g,
                                const face_parts_opts *o)
{
    double iod = g->iod;
    poly q;
    float f[2 * 8];
    facet_status s;

    // Mouth: outer lip 48-59.
    q = lm_range(g, 48, 59);
    if ((s = fill_dilated(lab, w, h, &q, 1.0, o->mouth_radius * iod,
                          FACE_PART_MOUTH)) != FACET_OK)
        return s;

    // Nose.
    q = nose_poly(g);
    if ((s = fill_dilated(lab, w, h, &q, 1.0, o->nose_radius * iod,
                          FACE_PART_NOSE)) != FACET_OK)
        return s;

    // Brows: 17-21 and 22-26, moved towards the chin, as thick strokes
    // (the iBUG brow points trace the brow's upper edge, so the stroke's
    // centre sits slightly below them).
    for (int b = 0; b < 2; b++) {
        q.n = 0;
        for (int i = 17 + 5 * b; i < 22 + 5 * b; i++)
            add_lm(&q, g, i, 0, o->brow_shift * iod);
        to_frame(f, &q, 1.0);
        if ((s = face_polyline_fill(lab, w, h, f, q.n, o->brow_radius * iod,
                                    FACE_PART_BROWS)) != FACET_OK)
            return s;
    }

    // Eyes: 36-41 and 42-47.
    for (int e = 0; e < 2; e++) {
        q = lm_range(g, 36 + 6 * e, 41 + 6 * e);
        if ((s = fill_dilated(lab, w, h, &q, 1.0, o->eye_radius * iod,
                              FACE_PART_EYES)) != FACET_OK)
            return s;
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Face base

// Geometric base: the face polygon (crop frame) into `base` (0/1).
static facet_status base_geometric(uint8_t *base, int w, int h,
                                   const geom *g, const face_parts_opts *o)
{
    poly q = face_poly(g, o->forehead_height);

    memset(base, 0, (size_t)w * h);
    return fill_dilated(base, w, h, &q, 1.0, 0, 1);
}

// The NC13 base scribble polygons (crop frame), filled into `m` in a frame
// scaled by s: two cheeks, the forehead band, the chin.
static facet_status base_scribbles(uint8_t *m, int w, int h, const geom *g,
                                   double s)
{
    static const int cheeks[2][5] = {{1, 2, 3, 31, 41}, {15, 14, 13, 35, 46}};
    static const int chin[4] = {7, 8, 9, 57};
    double gap = 0.12 * g->iod, band = 0;
    poly q;
    facet_status st;

    for (int c = 0; c < 2; c++) {
        q.n = 0;
        for (int i = 0; i < 5; i++)
            add_lm(&q, g, cheeks[c][i], 0, 0);
        if ((st = fill_dilated(m, w, h, &q, s, 0, 1)) != FACET_OK)
            return st;
    }
    q.n = 0;
    for (int i = 0; i < 4; i++)
        add_lm(&q, g, chin[i], 0, 0);
    if ((st = fill_dilated(m, w, h, &q, s, 0, 1)) != FACET_OK)
        return st;

    // Forehead band: from `gap` above the brow points (clear of the brow
    // stroke) up by one brow height, the mean brow-to-eye distance (at
    // least 0.2 iod).
    for (int e = 0; e < 2; e++)
        band += 0.5 * below_brows(g, g->eye[e][0], g->eye[e][1]);
    band = fmax(band, 0.2 * g->iod);
    q.n = 0;
    for (int i = 17; i <= 26; i++)
        add_lm(&q, g, i, 0, -gap);
    for (int i = 26; i >= 17; i--)
        add_lm(&q, g, i, 0, -gap - band);
    return fill_dilated(m, w, h, &q, s, 0, 1);
}

// Scratch for the NC13 base: working-frame buffers.
typedef struct work {
    int k, w, h;            // block size, working size
    uint8_t *rgb;           // w x h x 3
    uint8_t *any, *all;     // some / every crop pixel of the block is part
    uint8_t *seeds, *lab, *m1, *m2, *m3;
} work;

static void work_free(work *wk)
{
    free(wk->rgb);
    free(wk->any);
    free(wk->all);
    free(wk->seeds);
    free(wk->lab);
    free(wk->m1);
    free(wk->m2);
    free(wk->m3);
}

// Working frame: box-averaged colours, and which blocks hold parts.
static facet_status work_init(work *wk, const face_image *crop,
                              const uint8_t *part, int work_size,
                              const char *fn)
{
    int w = crop->w, h = crop->h, big = w > h ? w : h;
    size_t n;

    memset(wk, 0, sizeof(*wk));
    wk->k = (big + work_size - 1) / work_size;
    wk->w = (w + wk->k - 1) / wk->k;
    wk->h = (h + wk->k - 1) / wk->k;
    n = (size_t)wk->w * wk->h;
    wk->rgb = malloc(3 * n);
    wk->any = malloc(n);
    wk->all = malloc(n);
    wk->seeds = malloc(n);
    wk->lab = malloc(n);
    wk->m1 = malloc(n);
    wk->m2 = malloc(n);
    wk->m3 = malloc(n);
    if (!wk->rgb || !wk->any || !wk->all || !wk->seeds || !wk->lab ||
        !wk->m1 || !wk->m2 || !wk->m3)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);

    for (int v = 0; v < wk->h; v++)
        for (int u = 0; u < wk->w; u++) {
            int sum[3] = {0, 0, 0}, cnt = 0, parts = 0;
            size_t o = (size_t)v * wk->w + u;

            for (int y = v * wk->k; y < (v + 1) * wk->k && y < h; y++)
                for (int x = u * wk->k; x < (u + 1) * wk->k && x < w; x++) {
                    const uint8_t *p = crop->px + (size_t)y * crop->stride +
                                       3 * (size_t)x;

                    for (int c = 0; c < 3; c++)
                        sum[c] += p[c];
                    parts += part[(size_t)y * w + x] != 0;
                    cnt++;
                }
            for (int c = 0; c < 3; c++)
                wk->rgb[3 * o + c] = (uint8_t)((sum[c] + cnt / 2) / cnt);
            wk->any[o] = parts > 0;
            wk->all[o] = parts == cnt;
        }
    return FACET_OK;
}

// NC13 base into `base` (crop frame, 0/1). part: crop-frame part pixels
// (landmark parts and hair). Fills the NC13 fields of info.
static facet_status base_nc13(uint8_t *base, const face_image *crop,
                              const uint8_t *part, const geom *g,
                              const face_parts_opts *o,
                              face_parts_info *info, const char *fn)
{
    int w = crop->w, h = crop->h, ww, wh;
    work wk;
    double s, er, band;
    size_t n;
    int64_t nbase = 0, nbg = 0;
    face_seg_stats st;
    facet_status r;

    if ((r = work_init(&wk, crop, part, o->work_size, fn)) != FACET_OK)
        goto done;
    ww = wk.w;
    wh = wk.h;
    n = (size_t)ww * wh;
    s = 1.0 / wk.k;
    er = 0.04 * g->iod * s;
    info->work_w = ww;
    info->work_h = wh;

    // Base scribbles: the polygons, eroded, away from any part (m1).
    memset(wk.m2, 0, n);
    if ((r = base_scribbles(wk.m2, ww, wh, g, s)) != FACET_OK ||
        (r = erode(wk.m1, wk.m2, wk.m3, ww, wh, er)) != FACET_OK ||
        (r = face_dilate(wk.m2, wk.any, ww, wh, er)) != FACET_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        wk.m1[i] = wk.m1[i] && !wk.m2[i];

    // Background scribbles (m2): outside the head region dilated by
    // bg_grow, and a border band outside the geometric face.
    if ((r = head_mask(wk.m2, wk.m3, ww, wh, g, s, o->skull_height,
                       o->bg_grow)) != FACET_OK)
        goto done;
    {
        poly q = face_poly(g, o->forehead_height);

        memset(wk.m3, 0, n);
        if ((r = fill_dilated(wk.m3, ww, wh, &q, s, 0.04 * g->iod,
                              1)) != FACET_OK)
            goto done;
    }
    band = fmax(2, floor(0.02 * (ww > wh ? ww : wh) + 0.5));
    for (int v = 0; v < wh; v++)
        for (int u = 0; u < ww; u++) {
            size_t i = (size_t)v * ww + u;
            int edge = u < band || v < band || u >= ww - band ||
                       v >= wh - band;

            wk.m2[i] = !wk.m2[i] || (edge && !wk.m3[i]);
        }

    // Seeds: excluded > base > background.
    for (size_t i = 0; i < n; i++) {
        uint8_t v = 0;

        if (wk.all[i])
            v = 255;
        else if (wk.m1[i])
            v = 1;
        else if (wk.m2[i] && !wk.any[i])
            v = 2;
        nbase += v == 1;
        nbg += v == 2;
        wk.seeds[i] = v;
    }
    info->base_seeds = nbase;
    info->bg_seeds = nbg;
    if (nbase == 0) {
        memset(base, 0, (size_t)w * h);
        goto done;
    }
    if (nbg == 0) {
        r = base_geometric(base, w, h, g, o);
        goto done;
    }

    // Two labels: 0 base, 1 not base; 255 where excluded.
    if ((r = face_segment(wk.lab, wk.rgb, ww, wh, 3 * (size_t)ww, wk.seeds,
                          2, &o->seg, &st)) != FACET_OK)
        goto done;
    info->seg = st;

    // The base where 4-connected to a base scribble, back to the crop by
    // nearest block.
    for (size_t i = 0; i < n; i++) {
        wk.m1[i] = wk.lab[i] == 0;
        wk.m2[i] = wk.seeds[i] == 1;
    }
    if (keep_touching(wk.m1, wk.m2, ww, wh, 0) < 0) {
        r = facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            base[(size_t)y * w + x] =
                wk.m1[(size_t)(y / wk.k) * ww + x / wk.k];
done:
    work_free(&wk);
    return r;
}

// ---------------------------------------------------------------------------
// The label map

facet_status face_parts_label(uint8_t *labels, const face_image *crop,
                              const float *lm68, const float *hair_prob,
                              const face_parts_opts *o,
                              face_parts_info *info)
{
    static const char fn[] = "face_parts_label";
    face_parts_opts def;
    face_parts_info inf;
    uint8_t *hair = NULL, *base = NULL, *part = NULL, *t1 = NULL, *t2 = NULL;
    size_t npx;
    geom g;
    facet_status s;

    if (!o) {
        face_parts_defaults(&def);
        o = &def;
    }
    if (!labels)
        return facet_fail(FACET_E_ARG, "%s: labels is NULL", fn);
    if ((s = check_image(fn, crop)) != FACET_OK ||
        (s = check_opts(fn, o)) != FACET_OK ||
        (s = make_geom(&g, lm68, fn)) != FACET_OK)
        return s;
    memset(&inf, 0, sizeof(inf));
    inf.iod = g.iod;
    inf.face_width = g.fw;
    npx = (size_t)crop->w * crop->h;
    hair = calloc(npx, 1);
    base = malloc(npx);
    part = malloc(npx);
    t1 = malloc(npx);
    t2 = malloc(npx);
    if (!hair || !base || !part || !t1 || !t2) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory (%d x %d)", fn,
                       crop->w, crop->h);
        goto done;
    }

    // Landmark parts, hair, and their union (the pixels the base never
    // takes).
    memset(labels, FACE_PART_BACKGROUND, npx);
    if ((s = paint_parts(labels, crop->w, crop->h, &g, o)) != FACET_OK)
        goto done;
    if (hair_prob &&
        (s = hair_mask(hair, t1, t2, hair_prob, crop->w, crop->h, &g, o,
                       &inf.hair_removed, fn)) != FACET_OK)
        goto done;
    for (size_t i = 0; i < npx; i++)
        part[i] = labels[i] != FACE_PART_BACKGROUND || hair[i];

    // Face base.
    if (o->base_method == FACE_BASE_GEOMETRIC)
        s = base_geometric(base, crop->w, crop->h, &g, o);
    else
        s = base_nc13(base, crop, part, &g, o, &inf, fn);
    if (s != FACET_OK)
        goto done;

    // Compose: landmark parts > hair > base > background.
    for (size_t i = 0; i < npx; i++) {
        if (labels[i] == FACE_PART_BACKGROUND)
            labels[i] = hair[i] ? FACE_PART_HAIR
                      : base[i] ? FACE_PART_BASE : FACE_PART_BACKGROUND;
        inf.count[labels[i]]++;
    }
    if (info)
        *info = inf;
done:
    free(hair);
    free(base);
    free(part);
    free(t1);
    free(t2);
    return s;
}

// ---------------------------------------------------------------------------
// Overlay

facet_status face_parts_overlay(uint8_t *rgb_out, const face_image *crop,
                                const uint8_t *labels, const float *lm68,
                                double alpha)
{
    static const char fn[] = "face_parts_overlay";
    int w, h, r;
    facet_status s;

    if (!rgb_out || !labels)
        return facet_fail(FACET_E_ARG, "%s: %s is NULL", fn,
                          rgb_out ? "labels" : "rgb_out");
    if ((s = check_image(fn, crop)) != FACET_OK)
        return s;
    if (!(alpha >= 0 && alpha <= 1))
        return facet_fail(FACET_E_ARG, "%s: alpha %g is outside [0, 1]", fn,
                          alpha);
    if (lm68 && (s = check_points(fn, "landmarks", lm68, NLM)) != FACET_OK)
        return s;
    w = crop->w;
    h = crop->h;
    for (size_t i = 0; i < (size_t)w * h; i++)
        if (labels[i] >= FACE_PART_COUNT)
            return facet_fail(FACET_E_ARG, "%s: label %d at pixel %zu is out "
                              "of range", fn, labels[i], i);

    // Tint, and borders: a part pixel with a 4-neighbour of another label
    // is drawn in its part's colour.
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            const uint8_t *src = crop->px + (size_t)y * crop->stride +
                                 3 * (size_t)x;
            uint8_t *dst = rgb_out + 3 * i;
            int l = labels[i], edge;
            double a = alpha;

            if (l == FACE_PART_BACKGROUND) {
                memcpy(dst, src, 3);
                continue;
            }
            edge = (x > 0 && labels[i - 1] != l) ||
                   (x + 1 < w && labels[i + 1] != l) ||
                   (y > 0 && labels[i - w] != l) ||
                   (y + 1 < h && labels[i + w] != l);
            if (edge)
                a = 1;
            for (int c = 0; c < 3; c++)
                dst[c] = (uint8_t)floor((1 - a) * src[c] +
                                        a * part_rgb[l][c] + 0.5);
        }
    if (!lm68)
        return FACET_OK;

    // Landmark dots: a dark rim one pixel wider than a white centre.
    r = w / 224 > 1 ? w / 224 : 1;
    for (int k = 0; k < NLM; k++) {
        double cx = lm68[2 * k], cy = lm68[2 * k + 1], R = r + 1;

        for (int y = (int)floor(cy - R); y <= (int)ceil(cy + R); y++)
            for (int x = (int)floor(cx - R); x <= (int)ceil(cx + R); x++) {
                double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                uint8_t *dst;

                if (x < 0 || y < 0 || x >= w || y >= h || d2 > R * R)
                    continue;
                dst = rgb_out + 3 * ((size_t)y * w + x);
                memset(dst, d2 <= (double)r * r ? 255 : 30, 3);
            }
    }
    return FACET_OK;
}

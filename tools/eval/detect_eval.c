// detect_eval.c - measures face/detect.c on real photos: how often the
// subject of an LFW portrait is found, how well facet's landmarks from a
// calibrated SSD box match dlib's from dlib's own detector box (and the
// least-squares fit of that calibration), and whether every aligned crop
// yields a face box.
//
//   detect_eval [--data DIR] [--weights DIR] [--fixture FILE] MODE...
//     lfw      (default) every photo of lfw/<person>/ (910 for the three
//              people of the data set): the subject is "found" when the
//              picked box (face_pick_subject over face_detect, score >
//              0.5) contains the photo's centre point and its side
//              sqrt(w h) lies within [0.2, 0.8] of the photo's shorter
//              side (LFW photos are centred on the named person's face,
//              about 0.4 of the frame wide). Lists the misses and the
//              photos with the most faces, and times face_detect (median
//              per photo, this process's thread count).
//     fit      the calibration from FILE (tests/data/detect/dlib_lfw.txt,
//              tools/fixtures/dlib_hog_boxes.cpp): per pass, the SSD box
//              matched to dlib's central box (largest IoU, >= 0.3) on
//              the even-numbered photos of the fixture gives least-
//              squares constants of three box models; on the odd-
//              numbered (held-out) photos, the landmark error of facet's
//              predictor from the uncalibrated, the calibrated and the
//              built-in boxes, and after a second pass (the box re-
//              derived from the first landmarks). Then the pipeline as
//              used: the subject of face_detect, built-in constants.
//     aligned  every image of aligned112/<person>/ (all people): whether
//              face_detect yields a box (and how padded passes do on the
//              ones it misses); the mean landmark box of the crops, which
//              face_aligned_box uses; and the landmark error of the fixed
//              box against the detected box.
//     synth    tight 112 x 112 crops made from the held-out fixture
//              photos with aligned112's framing (a similarity from dlib's
//              landmarks to aligned112's mean landmarks): landmark error
//              of the fixed aligned box and of detection, against dlib's
//              landmarks carried into the crop.
//   --data DIR     default $FACET_DATA, else ../shared/data
//   --weights DIR  default $FACET_WEIGHTS, else weights (ssd_mobilenetv1
//                  and dlib_landmarks68 .fct, `make weights`)
//   --fixture FILE default tests/data/detect/dlib_lfw.txt
//
// Landmark error: per photo, the mean over the 68 points of the distance
// to the reference point, over the reference's inter-ocular distance
// (outer eye corners, points 36 and 45); then mean, median and 90th
// percentile over photos. The reference is dlib's predictor on dlib's
// box: facet's predictor gives the same (tests/test_landmarks.c), and is
// used here for the unrounded positions, checked against the fixture's
// integer points.
//
// Built by `make eval` into build/<variant>/tools/detect_eval; run from
// the repository root. tests/test_detect.c includes this file with
// DETECT_EVAL_NO_MAIN for the fixture reader and the measurements.
//
// Limitations:
// - The "found" criterion is LFW's geometry (a centred subject); it says
//   nothing of photos framed otherwise.
// - The synthetic aligned crops copy aligned112's framing only as well as
//   its mean landmarks describe it.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../face/detect.h"
#include "../../face/image.h"
#include "../../face/landmarks.h"
#include "../../linalg/linalg.h"
#include "eval_util.h"

#define EV_MAX_BOXES 8
#define EV_LM 68
#define EV_MAX_DETS 64

// The helpers above main are shared with tests/test_detect.c, which uses
// some of them.
#define EV_SHARED static __attribute__((unused))

// ---------------------------------------------------------------------------
// The fixture

typedef struct ev_photo {
    char path[160];
    int w, h;
    uint64_t hash;
    int nbox, central;
    double box[EV_MAX_BOXES][4];   // dlib's left, top, right, bottom
    int lm[2 * EV_LM];             // dlib's integer landmarks (central)
    int has_lm;
    int nread;                     // boxes read so far (reader only)
} ev_photo;

// One fixture line into the last photo (or a new one); 0 if malformed.
EV_SHARED int ev_parse_line(ev_photo *c, const char *line)
{
    unsigned long long hash;

    if (!strncmp(line, "image ", 6)) {
        memset(c, 0, sizeof *c);
        if (sscanf(line, "image %159s %d %d %llx %d %d", c->path, &c->w,
                   &c->h, &hash, &c->nbox, &c->central) != 6)
            return 0;
        c->hash = hash;
        return c->nbox >= 0 && c->nbox <= EV_MAX_BOXES &&
               c->central >= -1 && c->central < c->nbox;
    }
    if (!strncmp(line, "box ", 4)) {
        double *b = c->box[c->nread];
        if (c->nread >= c->nbox ||
            sscanf(line, "box %lf %lf %lf %lf", &b[0], &b[1], &b[2],
                   &b[3]) != 4)
            return 0;
        c->nread++;
        return 1;
    }
    if (!strncmp(line, "lm ", 3)) {
        const char *s = line + 2;
        for (int i = 0; i < 2 * EV_LM; i++) {
            char *e;
            c->lm[i] = (int)strtol(s, &e, 10);
            if (e == s)
                return 0;
            s = e;
        }
        c->has_lm = 1;
        return 1;
    }
    return 0;
}

// Read the fixture written by dlib_hog_boxes.cpp. Returns the number of
// photos (into a malloc'd *out), or -1 with a message on stderr.
EV_SHARED int ev_read_fixture(ev_photo **out, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    ev_photo *p = NULL;
    int n = 0, cap = 0, ok = 1;

    *out = NULL;
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    while (ok && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!strncmp(line, "image ", 6)) {
            if (n == cap) {
                ev_photo *q;
                cap = cap ? 2 * cap : 256;
                q = realloc(p, (size_t)cap * sizeof *p);
                if (!q)
                    break;
                p = q;
            }
            n++;
        }
        ok = n > 0 && ev_parse_line(&p[n - 1], line);
    }
    fclose(f);
    for (int i = 0; ok && i < n; i++)
        ok = p[i].nread == p[i].nbox && p[i].has_lm == (p[i].nbox > 0);
    if (!ok || n == 0) {
        fprintf(stderr, "%s: malformed near photo %d\n", path, n);
        free(p);
        return -1;
    }
    *out = p;
    return n;
}

// ---------------------------------------------------------------------------
// Shared helpers

typedef struct ev_ctx {
    const char *data;
    face_detector *det;
    face_landmarks *lm;
} ev_ctx;

// FNV-1a 64 of an image's RGB bytes, row by row (the fixture's hash).
EV_SHARED uint64_t ev_hash(const face_image *im)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (int y = 0; y < im->h; y++) {
        const uint8_t *r = im->px + (size_t)y * im->stride;
        for (int x = 0; x < 3 * im->w; x++)
            h = (h ^ r[x]) * UINT64_C(1099511628211);
    }
    return h;
}

// Load data/rel; 0 on failure (message on stderr).
EV_SHARED int ev_load(face_image *im, const char *data, const char *rel)
{
    char path[1024];

    snprintf(path, sizeof path, "%s/%s", data, rel);
    if (face_image_load(im, path, NULL) != FACET_OK) {
        fprintf(stderr, "%s\n", facet_error());
        return 0;
    }
    return 1;
}

// Landmarks of `box` in `im` (xy: 68 x 2); 0 on failure.
EV_SHARED int ev_predict(float *xy, const ev_ctx *c, const face_image *im,
                      const face_landmarks_box *box)
{
    return face_landmarks_predict(xy, NULL, c->lm, im->px, im->w, im->h,
                                  (int)im->stride, 3, box) == FACET_OK;
}

// Mean point distance over the reference's outer-eye-corner distance.
EV_SHARED double ev_lm_error(const float *xy, const float *ref)
{
    double iod = hypot(ref[2 * 45] - ref[2 * 36],
                       ref[2 * 45 + 1] - ref[2 * 36 + 1]);
    double s = 0;

    for (int i = 0; i < EV_LM; i++)
        s += hypot(xy[2 * i] - ref[2 * i], xy[2 * i + 1] - ref[2 * i + 1]);
    return s / EV_LM / iod;
}

// dlib's inclusive box as edges (x, y, w, h) in a face_det.
EV_SHARED face_det ev_dlib_edges(const double b[4])
{
    face_det d = {b[0] - 0.5, b[1] - 0.5, b[2] - b[0] + 1, b[3] - b[1] + 1,
                  1.0, 0};
    return d;
}

EV_SHARED double ev_iou(const face_det *a, const face_det *b)
{
    double x0 = fmax(a->x, b->x), y0 = fmax(a->y, b->y);
    double x1 = fmin(a->x + a->w, b->x + b->w);
    double y1 = fmin(a->y + a->h, b->y + b->h);
    double inter;

    if (x1 <= x0 || y1 <= y0)
        return 0;
    inter = (x1 - x0) * (y1 - y0);
    return inter / (a->w * a->h + b->w * b->h - inter);
}

// A landmark box as edges, for IoU.
EV_SHARED face_det ev_box_edges(const face_landmarks_box *b)
{
    double e[4] = {b->left, b->top, b->right, b->bottom};
    return ev_dlib_edges(e);
}

// The index of the detection best matching `want` (IoU >= 0.3), or -1.
EV_SHARED int ev_match(const face_det *dets, int n, const face_det *want)
{
    int best = -1;
    double best_iou = 0.3;

    for (int i = 0; i < n; i++) {
        double v = ev_iou(&dets[i], want);
        if (v >= best_iou) {
            best_iou = v;
            best = i;
        }
    }
    return best;
}

EV_SHARED int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Mean, median and 90th percentile of v[0..n) (sorts v).
typedef struct ev_stats {
    double mean, median, p90, max;
    int n;
} ev_stats;

EV_SHARED ev_stats ev_summary(double *v, int n)
{
    ev_stats s = {NAN, NAN, NAN, NAN, n};
    double sum = 0;

    if (n < 1)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int i = 0; i < n; i++)
        sum += v[i];
    s.mean = sum / n;
    s.median = v[n / 2];
    s.p90 = v[(int)(0.9 * (n - 1) + 0.5)];
    s.max = v[n - 1];
    return s;
}

EV_SHARED void ev_print_stats(const char *what, double *v, int n)
{
    ev_stats s = ev_summary(v, n);
    int fails = 0;

    for (int i = 0; i < n; i++)
        fails += v[i] > 0.1;
    printf("  %-36s n %3d  mean %.4f  median %.4f  p90 %.4f  max %.3f"
           "  >0.1: %d\n", what, s.n, s.mean, s.median, s.p90, s.max, fails);
}

// ---------------------------------------------------------------------------
// One fixture photo: the reference landmarks and the detections

typedef struct ev_meas {
    int ok;                      // photo loaded, reference valid
    int round_mismatch;          // reference points off dlib's integers
    float ref[2 * EV_LM];        // facet on dlib's central box
    face_det dlib;               // dlib's central box, as edges
    face_det pass[FACE_DET_PASSES][EV_MAX_DETS];
    int npass[FACE_DET_PASSES];
    face_det pooled[EV_MAX_DETS];
    int npooled;
} ev_meas;

// Measure photo p: reference landmarks, then the detections of each pass
// alone (when `passes`) and pooled.
EV_SHARED int ev_measure(ev_meas *m, const ev_ctx *c, const ev_photo *p,
                      const face_image *im, int passes)
{
    face_landmarks_box box;
    int32_t ixy[2 * EV_LM];

    memset(m, 0, sizeof *m);
    if (!p->has_lm || p->central < 0)
        return 0;
    box.left = p->box[p->central][0];
    box.top = p->box[p->central][1];
    box.right = p->box[p->central][2];
    box.bottom = p->box[p->central][3];
    if (face_landmarks_predict(m->ref, ixy, c->lm, im->px, im->w, im->h,
                               (int)im->stride, 3, &box) != FACET_OK)
        return 0;
    for (int i = 0; i < 2 * EV_LM; i++)
        m->round_mismatch += ixy[i] != p->lm[i];
    m->dlib = ev_dlib_edges(p->box[p->central]);

    for (int k = 0; passes && k < FACE_DET_PASSES; k++)
        if (face_detect_passes(c->det, im, 1u << k, m->pass[k], EV_MAX_DETS,
                               &m->npass[k], FACE_DETECT_MIN_SCORE) !=
            FACET_OK)
            return 0;
    if (face_detect(c->det, im, m->pooled, EV_MAX_DETS, &m->npooled,
                    FACE_DETECT_MIN_SCORE) != FACET_OK)
        return 0;
    m->ok = 1;
    return 1;
}

// Landmark error from `box`, or NAN when the predictor refuses it.
EV_SHARED double ev_box_error(const ev_ctx *c, const face_image *im,
                           const float *ref, const face_landmarks_box *box,
                           float *xy_out)
{
    float xy[2 * EV_LM];

    if (!ev_predict(xy, c, im, box))
        return NAN;
    if (xy_out)
        memcpy(xy_out, xy, sizeof xy);
    return ev_lm_error(xy, ref);
}

// Two passes: landmarks from `box`, the box re-derived from them, and
// landmarks again.
EV_SHARED double ev_two_pass_error(const ev_ctx *c, const face_image *im,
                                const float *ref,
                                const face_landmarks_box *box)
{
    float xy[2 * EV_LM];
    face_landmarks_box b2;

    if (!ev_predict(xy, c, im, box))
        return NAN;
    face_box_from_landmarks(xy, EV_LM, NULL, &b2);
    return ev_box_error(c, im, ref, &b2, NULL);
}

// ---------------------------------------------------------------------------
// Fitting

// Weighted least squares for y ~ a u + b v (two unknowns); b forced to 0
// when `one`. Sums over the pairs added.
typedef struct ev_ls2 {
    double uu, uv, vv, uy, vy;
} ev_ls2;

EV_SHARED void ev_ls2_add(ev_ls2 *s, double u, double v, double y, double wt)
{
    s->uu += wt * u * u;
    s->uv += wt * u * v;
    s->vv += wt * v * v;
    s->uy += wt * u * y;
    s->vy += wt * v * y;
}

EV_SHARED void ev_ls2_solve(const ev_ls2 *s, int one, double *a, double *b)
{
    double det = s->uu * s->vv - s->uv * s->uv;

    if (one || fabs(det) < 1e-12 * s->uu * s->vv) {
        *a = s->uy / s->uu;
        *b = 0;
        return;
    }
    *a = (s->uy * s->vv - s->vy * s->uv) / det;
    *b = (s->uu * s->vy - s->uv * s->uy) / det;
}

// The three box models: A separate width and height scales; B a square
// box of side a w + b h; C width and height each a w + b h.
enum { EV_MODEL_A, EV_MODEL_B, EV_MODEL_C, EV_MODELS };
static const char *const ev_model_name[EV_MODELS] = {
    "A: w, h scaled apart", "B: square, a w + b h", "C: w, h = a w + b h"};

// Fit model `model` to the pairs (SSD box, dlib box as edges). Residuals
// are in units of the SSD box's size sqrt(w h), so faces of every size
// count alike.
EV_SHARED face_box_calib ev_fit(const face_det *ssd, const face_det *dlib,
                             int n, int model)
{
    ev_ls2 cx = {0}, cy = {0}, sw = {0}, sh = {0}, sq = {0};
    ev_ls2 wa = {0}, ha = {0};
    face_box_calib k;
    double unused;

    for (int i = 0; i < n; i++) {
        const face_det *s = &ssd[i], *d = &dlib[i];
        double wt = 1.0 / (s->w * s->h);
        double dcx = (d->x + 0.5 * d->w) - (s->x + 0.5 * s->w);
        double dcy = (d->y + 0.5 * d->h) - (s->y + 0.5 * s->h);
        ev_ls2_add(&cx, s->w, 0, dcx, wt);
        ev_ls2_add(&cy, s->h, 0, dcy, wt);
        ev_ls2_add(&wa, s->w, 0, d->w, wt);
        ev_ls2_add(&ha, s->h, 0, d->h, wt);
        ev_ls2_add(&sw, s->w, s->h, d->w, wt);
        ev_ls2_add(&sh, s->w, s->h, d->h, wt);
        ev_ls2_add(&sq, s->w, s->h, d->w, wt);
        ev_ls2_add(&sq, s->w, s->h, d->h, wt);
    }
    ev_ls2_solve(&cx, 1, &k.dx, &unused);
    ev_ls2_solve(&cy, 1, &k.dy, &unused);
    if (model == EV_MODEL_A) {
        ev_ls2_solve(&wa, 1, &k.sxw, &unused);
        ev_ls2_solve(&ha, 1, &k.syh, &unused);
        k.sxh = k.syw = 0;
    } else if (model == EV_MODEL_B) {
        ev_ls2_solve(&sq, 0, &k.sxw, &k.sxh);
        k.syw = k.sxw;
        k.syh = k.sxh;
    } else {
        ev_ls2_solve(&sw, 0, &k.sxw, &k.sxh);
        ev_ls2_solve(&sh, 0, &k.syw, &k.syh);
    }
    return k;
}

// The landmark -> box model of face_box_from_landmarks, fitted to dlib's
// boxes and the reference landmarks: centre offset from the centroid and
// side, in units of the landmarks' RMS spread.
EV_SHARED face_shape_calib ev_fit_shape(const float *const *ref,
                                     const face_det *dlib, int n)
{
    double sx = 0, sy = 0, ss = 0, rr = 0;
    face_shape_calib k;

    for (int i = 0; i < n; i++) {
        double mx, my, r;
        face_landmarks_spread(ref[i], EV_LM, &mx, &my, &r);
        sx += ((dlib[i].x + 0.5 * dlib[i].w) - mx) * r;
        sy += ((dlib[i].y + 0.5 * dlib[i].h) - my) * r;
        ss += 0.5 * (dlib[i].w + dlib[i].h) * r;
        rr += r * r;
    }
    k.dx = sx / rr;
    k.dy = sy / rr;
    k.side = ss / rr;
    return k;
}

EV_SHARED void ev_print_calib(const char *what, const face_box_calib *k)
{
    printf("  %-22s dx %+.4f dy %+.4f  w = %.4f w %+.4f h  "
           "h = %.4f w %+.4f h\n", what, k->dx, k->dy, k->sxw, k->sxh,
           k->syw, k->syh);
}

// ---------------------------------------------------------------------------
// Synthetic aligned crops

// A 68-point template in a crop frame (aligned112's mean landmarks).
typedef struct ev_template {
    int w, h;
    double xy[2 * EV_LM];
} ev_template;

// Read "template W H" then 68 lines "X Y"; 0 on failure.
EV_SHARED int ev_read_template(ev_template *t, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int k = 0, ok = 0;

    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        if (!ok)
            ok = sscanf(line, "template %d %d", &t->w, &t->h) == 2;
        else if (k < EV_LM && sscanf(line, "%lf %lf", &t->xy[2 * k],
                                     &t->xy[2 * k + 1]) == 2)
            k++;
    }
    fclose(f);
    if (!ok || k != EV_LM || t->w < 1 || t->h < 1) {
        fprintf(stderr, "%s: malformed template\n", path);
        return 0;
    }
    return 1;
}

// A tight crop of `im` with the template's framing: the similarity taking
// the reference landmarks `ref` onto the template, the crop sampled
// bilinearly at each pixel centre (edge pixels replicated), and `ref`
// carried into the crop (gt). 0 on failure.
EV_SHARED int ev_synth_crop(face_image *crop, float *gt, const face_image *im,
                         const float *ref, const ev_template *t)
{
    double src[2 * EV_LM], m[6], inv[6], det;

    for (int i = 0; i < 2 * EV_LM; i++)
        src[i] = ref[i];
    if (la_fit_similarity(m, src, t->xy, NULL, EV_LM) != FACET_OK ||
        face_image_alloc(crop, t->w, t->h) != FACET_OK)
        return 0;
    for (int i = 0; i < EV_LM; i++) {
        gt[2 * i] = (float)(m[0] * src[2 * i] + m[1] * src[2 * i + 1] +
                            m[2]);
        gt[2 * i + 1] = (float)(m[3] * src[2 * i] + m[4] * src[2 * i + 1] +
                                m[5]);
    }

    // Crop pixel -> photo: the inverse of m.
    det = m[0] * m[4] - m[1] * m[3];
    inv[0] = m[4] / det;
    inv[1] = -m[1] / det;
    inv[3] = -m[3] / det;
    inv[4] = m[0] / det;
    inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
    inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
    for (int y = 0; y < t->h; y++) {
        uint8_t *row = crop->px + (size_t)y * crop->stride;
        for (int x = 0; x < t->w; x++) {
            double px = inv[0] * x + inv[1] * y + inv[2];
            double py = inv[3] * x + inv[4] * y + inv[5];
            int x0, y0, x1, y1;
            double fx, fy;
            px = fmin(fmax(px, 0), im->w - 1);
            py = fmin(fmax(py, 0), im->h - 1);
            x0 = (int)px;
            y0 = (int)py;
            x1 = x0 + 1 < im->w ? x0 + 1 : x0;
            y1 = y0 + 1 < im->h ? y0 + 1 : y0;
            fx = px - x0;
            fy = py - y0;
            for (int c = 0; c < 3; c++) {
                const uint8_t *r0 = im->px + (size_t)y0 * im->stride;
                const uint8_t *r1 = im->px + (size_t)y1 * im->stride;
                double top = r0[3 * x0 + c] + fx * (r0[3 * x1 + c] -
                                                    r0[3 * x0 + c]);
                double bot = r1[3 * x0 + c] + fx * (r1[3 * x1 + c] -
                                                    r1[3 * x0 + c]);
                row[3 * x + c] = (uint8_t)(top + fy * (bot - top) + 0.5);
            }
        }
    }
    return 1;
}

#ifndef DETECT_EVAL_NO_MAIN

// eval_list_dir filter: regular files ending in the string arg, or
// folders when arg is NULL; never dot files.
static int keep_entry(const char *dir, const char *name, const void *arg)
{
    const char *ext = arg;
    char path[2048];
    struct stat st;
    size_t len = strlen(name);

    if (name[0] == '.')
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) != 0)
        return 0;
    return ext ? S_ISREG(st.st_mode) && len >= strlen(ext) &&
                     !strcmp(name + len - strlen(ext), ext)
               : S_ISDIR(st.st_mode);
}

// Every file of data/top/<person>/*ext, as paths relative to data.
static int list_photos(char ***out, const char *data, const char *top,
                       const char *ext)
{
    char dir[1024], **people, **files, **all = NULL;
    int np, n = 0;

    snprintf(dir, sizeof dir, "%s/%s", data, top);
    np = eval_list_dir(&people, dir, keep_entry, NULL);
    for (int i = 0; i < np; i++) {
        char sub[2048];
        int nf;
        snprintf(sub, sizeof sub, "%s/%s", dir, people[i]);
        nf = eval_list_dir(&files, sub, keep_entry, ext);
        for (int j = 0; j < nf; j++) {
            char rel[1024];
            snprintf(rel, sizeof rel, "%s/%s/%s", top, people[i], files[j]);
            all = realloc(all, (size_t)(n + 1) * sizeof *all);
            all[n++] = strdup(rel);
            free(files[j]);
        }
        free(files);
        free(people[i]);
    }
    free(people);
    *out = all;
    return n;
}

// lfw: the subject found in every LFW photo?
static int run_lfw(const ev_ctx *c)
{
    char **files;
    int n = list_photos(&files, c->data, "lfw", ".jpg");
    int found = 0, counts[8] = {0}, by_pass[FACE_DET_PASSES] = {0};
    double *times = malloc((size_t)(n > 0 ? n : 1) * sizeof *times);

    if (n <= 0) {
        fprintf(stderr, "%s/lfw: no photos\n", c->data);
        return 1;
    }
    printf("lfw: %d photos\n", n);
    for (int i = 0; i < n; i++) {
        face_image im = {0};
        face_det dets[EV_MAX_DETS];
        int nd = 0, k;
        double t0, side, lo;

        if (!ev_load(&im, c->data, files[i]))
            return 1;
        t0 = facet_now();
        if (face_detect(c->det, &im, dets, EV_MAX_DETS, &nd,
                        FACE_DETECT_MIN_SCORE) != FACET_OK) {
            fprintf(stderr, "%s: %s\n", files[i], facet_error());
            return 1;
        }
        times[i] = facet_now() - t0;
        counts[nd < 7 ? nd : 7]++;
        if (nd >= 3)
            printf("  %d faces: %s\n", nd, files[i]);

        // The criterion: centre point inside, plausible size.
        k = face_pick_subject(dets, nd, im.w, im.h);
        lo = im.w < im.h ? im.w : im.h;
        if (k >= 0) {
            const face_det *d = &dets[k];
            double cx = 0.5 * (im.w - 1), cy = 0.5 * (im.h - 1);
            side = sqrt(d->w * d->h);
            if (d->x <= cx && cx <= d->x + d->w && d->y <= cy &&
                cy <= d->y + d->h && side >= 0.2 * lo && side <= 0.8 * lo) {
                found++;
                by_pass[d->pass]++;
            } else {
                printf("  miss: %s: picked %d of %d: %.1f %.1f %.1f %.1f "
                       "score %.3f pass %d\n", files[i], k, nd, d->x, d->y,
                       d->w, d->h, d->score, d->pass);
            }
        } else {
            printf("  miss: %s: no face\n", files[i]);
        }
        face_image_free(&im);
        free(files[i]);
    }
    {
        ev_stats t = ev_summary(times, n);
        printf("faces per photo: 0:%d 1:%d 2:%d 3:%d 4:%d 5:%d 6:%d 7+:%d\n",
               counts[0], counts[1], counts[2], counts[3], counts[4],
               counts[5], counts[6], counts[7]);
        printf("subject found: %d of %d (%.2f%%); picked box from pass 0: "
               "%d, pass 1: %d\n", found, n, 100.0 * found / n, by_pass[0],
               by_pass[1]);
        printf("face_detect per photo (%d threads): median %.1f ms, p90 "
               "%.1f ms, max %.1f ms\n", facet_threads(), 1e3 * t.median,
               1e3 * t.p90, 1e3 * t.max);
    }
    free(times);
    free(files);
    return 0;
}

// fit: the calibration and the landmark errors.
static int run_fit(const ev_ctx *c, const char *fixture)
{
    ev_photo *ph;
    ev_meas *m;
    int n = ev_read_fixture(&ph, fixture), mism = 0, hash_bad = 0;
    face_box_calib fitted[FACE_DET_PASSES][EV_MODELS];
    face_shape_calib shape;
    face_det *ssd, *dl;
    const float **refs;
    double *e[8];
    int ne[8];

    if (n < 0)
        return 1;
    m = calloc((size_t)n, sizeof *m);
    ssd = malloc((size_t)n * sizeof *ssd);
    dl = malloc((size_t)n * sizeof *dl);
    refs = malloc((size_t)n * sizeof *refs);
    for (int j = 0; j < 8; j++)
        e[j] = malloc((size_t)n * sizeof *e[j]);

    // Measure every photo: reference landmarks, detections.
    printf("fit: %d photos in %s\n", n, fixture);
    for (int i = 0; i < n; i++) {
        face_image im = {0};
        if (!ev_load(&im, c->data, ph[i].path))
            return 1;
        if (im.w != ph[i].w || im.h != ph[i].h || ev_hash(&im) !=
            ph[i].hash) {
            hash_bad++;
            printf("  %s: pixels differ from the fixture's; skipped\n",
                   ph[i].path);
        } else if (ev_measure(&m[i], c, &ph[i], &im, 1)) {
            mism += m[i].round_mismatch;
        } else if (ph[i].has_lm) {
            printf("  %s: %s\n", ph[i].path, facet_error());
        }
        face_image_free(&im);
    }
    printf("  reference points off dlib's integers: %d; photos with other "
           "pixels: %d\n", mism, hash_bad);

    // Fit each pass's models on the even photos.
    for (int p = 0; p < FACE_DET_PASSES; p++) {
        int k = 0, unmatched = 0;
        for (int i = 0; i < n; i += 2) {
            int j;
            if (!m[i].ok)
                continue;
            j = ev_match(m[i].pass[p], m[i].npass[p], &m[i].dlib);
            if (j < 0) {
                unmatched++;
                continue;
            }
            ssd[k] = m[i].pass[p][j];
            dl[k++] = m[i].dlib;
        }
        printf("pass %d: fitted on %d photos (%d without a matching SSD "
               "box)\n", p, k, unmatched);
        for (int md = 0; md < EV_MODELS; md++) {
            fitted[p][md] = ev_fit(ssd, dl, k, md);
            ev_print_calib(ev_model_name[md], &fitted[p][md]);
        }
        {
            face_box_calib b = face_box_calib_of(p);
            ev_print_calib("built-in", &b);
        }
    }
    {
        int k = 0;
        for (int i = 0; i < n; i += 2)
            if (m[i].ok) {
                refs[k] = m[i].ref;
                dl[k++] = m[i].dlib;
            }
        shape = ev_fit_shape(refs, dl, k);
        printf("landmarks -> box, fitted on %d photos: dx %+.4f dy %+.4f "
               "side %.4f (built-in: face_box_from_landmarks)\n", k,
               shape.dx, shape.dy, shape.side);
    }

    // Held-out (odd) photos: errors per pass, then the pipeline.
    for (int p = -1; p < FACE_DET_PASSES; p++) {
        int unmatched = 0, wrong = 0;
        for (int j = 0; j < 8; j++)
            ne[j] = 0;
        for (int i = 1; i < n; i += 2) {
            face_image im = {0};
            const face_det *d;
            face_landmarks_box b;
            face_box_calib id = {0, 0, 1, 0, 0, 1};
            int j;
            if (!m[i].ok)
                continue;
            if (p >= 0) {
                j = ev_match(m[i].pass[p], m[i].npass[p], &m[i].dlib);
                d = j >= 0 ? &m[i].pass[p][j] : NULL;
            } else {
                j = face_pick_subject(m[i].pooled, m[i].npooled, ph[i].w,
                                      ph[i].h);
                d = j >= 0 ? &m[i].pooled[j] : NULL;
            }
            if (!d) {
                unmatched++;
                continue;
            }
            if (!ev_load(&im, c->data, ph[i].path))
                return 1;
            face_det_box(d, &id, &b);
            e[0][ne[0]++] = ev_box_error(c, &im, m[i].ref, &b, NULL);
            e[1][ne[1]++] = ev_two_pass_error(c, &im, m[i].ref, &b);
            face_det_box(d, NULL, &b);
            e[2][ne[2]++] = ev_box_error(c, &im, m[i].ref, &b, NULL);
            if (p < 0 && e[2][ne[2] - 1] > 0.1)
                printf("  > 0.1: %s: %.3f (uncalibrated %.3f)\n",
                       ph[i].path, e[2][ne[2] - 1], e[0][ne[0] - 1]);
            e[3][ne[3]++] = ev_two_pass_error(c, &im, m[i].ref, &b);
            if (p >= 0) {
                for (int md = 0; md < EV_MODELS; md++) {
                    face_det_box(d, &fitted[p][md], &b);
                    e[4 + md][ne[4 + md]++] =
                        ev_box_error(c, &im, m[i].ref, &b, NULL);
                }
            } else {
                face_det_box(d, NULL, &b);
                {
                    face_det be = ev_box_edges(&b);
                    wrong += ev_iou(&be, &m[i].dlib) < 0.5;
                }
            }
            // The floor: dlib's box re-derived from the reference itself.
            face_box_from_landmarks(m[i].ref, EV_LM, &shape, &b);
            e[7][ne[7]++] = ev_box_error(c, &im, m[i].ref, &b, NULL);
            face_image_free(&im);
        }
        if (p >= 0)
            printf("held out, pass %d alone (%d without a matching box):\n",
                   p, unmatched);
        else
            printf("held out, the pipeline (face_detect, subject, built-in "
                   "constants; %d without a face, %d whose box misses dlib's"
                   " central box, IoU < 0.5):\n", unmatched, wrong);
        ev_print_stats("uncalibrated SSD box", e[0], ne[0]);
        ev_print_stats("uncalibrated, second pass", e[1], ne[1]);
        ev_print_stats("built-in calibration", e[2], ne[2]);
        ev_print_stats("built-in, second pass", e[3], ne[3]);
        for (int md = 0; p >= 0 && md < EV_MODELS; md++)
            ev_print_stats(ev_model_name[md], e[4 + md], ne[4 + md]);
        if (p < 0)
            ev_print_stats("dlib landmarks -> box -> landmarks", e[7],
                           ne[7]);
    }
    for (int j = 0; j < 8; j++)
        free(e[j]);
    free(refs);
    free(ssd);
    free(dl);
    free(m);
    free(ph);
    return 0;
}

// The pipeline's landmarks for detection d: calibrated box, then (when
// `second`) a second pass from the box the first landmarks give.
static int ev_pipeline_landmarks(float *xy, const ev_ctx *c,
                                 const face_image *im, const face_det *d,
                                 int second)
{
    face_landmarks_box b;

    face_det_to_landmark_box(d, &b);
    if (!ev_predict(xy, c, im, &b))
        return 0;
    if (!second)
        return 1;
    face_box_from_landmarks(xy, EV_LM, NULL, &b);
    return ev_predict(xy, c, im, &b);
}

// aligned: a face box from every aligned112 crop?
static int run_aligned(const ev_ctx *c)
{
    char **files;
    int n = list_photos(&files, c->data, "aligned112", ".png");
    int found = 0, rescued[3] = {0}, nfr = 0, ne = 0;
    double frac[4] = {0, 0, 0, 0}, *fr[4], *err, tmpl[2 * EV_LM] = {0};
    static const struct {
        double pad;
        face_pad_mode mode;
        const char *name;
    } retry[3] = {{1.0, FACE_PAD_GREY, "grey 1.0"},
                  {0.5, FACE_PAD_REPLICATE, "replicate 0.5"},
                  {0.5, FACE_PAD_MIRROR, "mirror 0.5"}};

    if (n <= 0) {
        fprintf(stderr, "%s/aligned112: no images\n", c->data);
        return 1;
    }
    for (int j = 0; j < 4; j++)
        fr[j] = malloc((size_t)n * sizeof *fr[j]);
    err = malloc((size_t)n * sizeof *err);
    printf("aligned: %d images\n", n);
    for (int i = 0; i < n; i++) {
        face_image im = {0};
        face_det dets[EV_MAX_DETS];
        face_landmarks_box b;
        float xy[2 * EV_LM], xf[2 * EV_LM];
        int nd = 0, k;

        if (!ev_load(&im, c->data, files[i]))
            return 1;
        if (face_detect(c->det, &im, dets, EV_MAX_DETS, &nd,
                        FACE_DETECT_MIN_SCORE) != FACET_OK) {
            fprintf(stderr, "%s: %s\n", files[i], facet_error());
            return 1;
        }
        k = face_pick_subject(dets, nd, im.w, im.h);
        if (k < 0) {
            printf("  no face: %s; padded:", files[i]);
            for (int r = 0; r < 3; r++) {
                int np = 0;
                face_detect_padded(c->det, &im, retry[r].pad, retry[r].mode,
                                   dets, EV_MAX_DETS, &np,
                                   FACE_DETECT_MIN_SCORE);
                rescued[r] += np > 0;
                printf(" %s %s", retry[r].name, np > 0 ? "found" : "none");
            }
            printf("\n");
        } else if (ev_pipeline_landmarks(xy, c, &im, &dets[k], 1)) {
            found++;

            // The box the landmarks give, as fractions of the frame.
            face_box_from_landmarks(xy, EV_LM, NULL, &b);
            fr[0][nfr] = b.left / im.w;
            fr[1][nfr] = b.top / im.h;
            fr[2][nfr] = (b.right + 1) / im.w;
            fr[3][nfr] = (b.bottom + 1) / im.h;
            for (int j = 0; j < 4; j++)
                frac[j] += fr[j][nfr];
            nfr++;
            for (int j = 0; j < EV_LM; j++) {
                tmpl[2 * j] += xy[2 * j] / im.w;
                tmpl[2 * j + 1] += xy[2 * j + 1] / im.h;
            }

            // The fixed box against the detected one.
            face_aligned_box(im.w, im.h, &b);
            if (ev_predict(xf, c, &im, &b))
                err[ne++] = ev_lm_error(xf, xy);
        }
        face_image_free(&im);
        free(files[i]);
    }
    printf("face box from face_detect: %d of %d; of the others, padded "
           "passes found: %s %d, %s %d, %s %d\n", found, n, retry[0].name,
           rescued[0], retry[1].name, rescued[1], retry[2].name,
           rescued[2]);
    if (nfr > 0) {
        ev_stats s[4];
        for (int j = 0; j < 4; j++)
            s[j] = ev_summary(fr[j], nfr);
        printf("landmark box (second pass) as fractions of the frame, "
               "mean (median): left %.4f (%.4f) top %.4f (%.4f) right %.4f"
               " (%.4f) bottom %.4f (%.4f)\n", frac[0] / nfr, s[0].median,
               frac[1] / nfr, s[1].median, frac[2] / nfr, s[2].median,
               frac[3] / nfr, s[3].median);
        ev_print_stats("face_aligned_box vs detection", err, ne);
        printf("# mean landmarks of aligned112 (face_detect, second pass),"
               " for --template:\ntemplate 112 112\n");
        for (int j = 0; j < EV_LM; j++)
            printf("%.3f %.3f\n", 112 * tmpl[2 * j] / nfr,
                   112 * tmpl[2 * j + 1] / nfr);
    }
    for (int j = 0; j < 4; j++)
        free(fr[j]);
    free(err);
    free(files);
    return 0;
}

// synth: the aligned path on crops with known landmarks.
static int run_synth(const ev_ctx *c, const char *fixture,
                     const char *template_path)
{
    ev_photo *ph;
    ev_template t;
    int n = ev_read_fixture(&ph, fixture), ne[3] = {0, 0, 0}, missed = 0;
    double *e[3];

    if (n < 0 || !ev_read_template(&t, template_path))
        return 1;
    for (int j = 0; j < 3; j++)
        e[j] = malloc((size_t)n * sizeof *e[j]);
    for (int i = 1; i < n; i += 2) {
        face_image im = {0}, crop = {0};
        ev_meas m;
        float gt[2 * EV_LM], xy[2 * EV_LM];
        face_det dets[EV_MAX_DETS];
        face_landmarks_box b;
        int nd = 0, k;

        if (!ev_load(&im, c->data, ph[i].path))
            return 1;
        if (!ev_measure(&m, c, &ph[i], &im, 0) ||
            !ev_synth_crop(&crop, gt, &im, m.ref, &t)) {
            face_image_free(&im);
            continue;
        }
        face_aligned_box(crop.w, crop.h, &b);
        if (ev_predict(xy, c, &crop, &b))
            e[0][ne[0]++] = ev_lm_error(xy, gt);
        face_detect(c->det, &crop, dets, EV_MAX_DETS, &nd,
                    FACE_DETECT_MIN_SCORE);
        k = face_pick_subject(dets, nd, crop.w, crop.h);
        if (k < 0)
            missed++;
        if (k >= 0 && ev_pipeline_landmarks(xy, c, &crop, &dets[k], 0))
            e[1][ne[1]++] = ev_lm_error(xy, gt);
        if (k >= 0 && ev_pipeline_landmarks(xy, c, &crop, &dets[k], 1))
            e[2][ne[2]++] = ev_lm_error(xy, gt);
        face_image_free(&crop);
        face_image_free(&im);
    }
    printf("synth: held-out fixture photos cropped to %d x %d with "
           "aligned112's framing (%d without a detection):\n", t.w, t.h,
           missed);
    ev_print_stats("face_aligned_box", e[0], ne[0]);
    ev_print_stats("face_detect, calibrated box", e[1], ne[1]);
    ev_print_stats("face_detect, second pass", e[2], ne[2]);
    for (int j = 0; j < 3; j++)
        free(e[j]);
    free(ph);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = getenv("FACET_DATA"), *wdir = getenv("FACET_WEIGHTS");
    const char *fixture = "tests/data/detect/dlib_lfw.txt";
    const char *tmpl = "tests/data/detect/aligned112_shape.txt";
    const char *modes[8];
    int nmodes = 0, rc = 0;
    char path[1024];
    ev_ctx c;

    if (!data || !data[0])
        data = "../shared/data";
    if (!wdir || !wdir[0])
        wdir = "weights";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc)
            wdir = argv[++i];
        else if (!strcmp(argv[i], "--fixture") && i + 1 < argc)
            fixture = argv[++i];
        else if (!strcmp(argv[i], "--template") && i + 1 < argc)
            tmpl = argv[++i];
        else if (argv[i][0] != '-' && nmodes < 8)
            modes[nmodes++] = argv[i];
        else {
            fprintf(stderr, "usage: %s [--data DIR] [--weights DIR] "
                    "[--fixture FILE] [--template FILE] "
                    "[lfw|fit|aligned|synth]...\n", argv[0]);
            return 2;
        }
    }
    if (nmodes == 0)
        modes[nmodes++] = "lfw";

    c.data = data;
    snprintf(path, sizeof path, "%s/ssd_mobilenetv1.fct", wdir);
    if (face_detector_open(&c.det, path) != FACET_OK) {
        fprintf(stderr, "%s\n", facet_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/dlib_landmarks68.fct", wdir);
    if (face_landmarks_open(&c.lm, path) != FACET_OK) {
        fprintf(stderr, "%s\n", facet_error());
        face_detector_free(c.det);
        return 1;
    }
    for (int i = 0; i < nmodes && rc == 0; i++) {
        if (!strcmp(modes[i], "lfw"))
            rc = run_lfw(&c);
        else if (!strcmp(modes[i], "fit"))
            rc = run_fit(&c, fixture);
        else if (!strcmp(modes[i], "aligned"))
            rc = run_aligned(&c);
        else if (!strcmp(modes[i], "synth"))
            rc = run_synth(&c, fixture, tmpl);
        else {
            fprintf(stderr, "unknown mode '%s'\n", modes[i]);
            rc = 2;
        }
    }
    face_landmarks_free(c.lm);
    face_detector_free(c.det);
    return rc;
}

#endif

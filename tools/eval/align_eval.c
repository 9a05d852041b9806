// align_eval.c - measures the framing of facet's canonical crops
// (face/align.h) on real photos: which backbone crop makes faceres best at
// telling people apart, and how much of the hair the head crop keeps.
//
//   align_eval backbone [--frames P:C,...] [--affine] [--max N]
//   align_eval aligned  [--frames P:C,...]
//   align_eval head     [--frames P:C,...] [--max N] [--no-net]
//   align_eval calib
// Options common to all: --data DIR (default $FACET_DATA, else
// ../shared/data), --weights DIR (default $FACET_WEIGHTS, else weights),
// --cache DIR (landmarks are kept there as text, one photo a line, and
// reused on the next run; default: none).
//
// backbone: every photo of lfw/<three people>; the subject's landmarks
//   (below); for each framing P:C (pad P, crop centre at template y C, x on
//   the template's axis; align.h's formula) the 224x224 crop through
//   faceres; ROC AUC of the cosine similarity of the descriptor
//   (global_pooling) over all same-person / different-person pairs (rank
//   sum; ties count one half). --affine adds the affine fit of each
//   framing. The library's own face_align_fit(BACKBONE) crop is scored too.
// aligned: the same on aligned112/<16 people> (tight 112x112 crops): the
//   plain upscale to 224 (as tools/eval/faceres_auc.c), then our
//   alignment of each crop through its own landmarks.
// head: the first N (default 200) photos of celebahq/images with their
//   ground-truth hair_masks: for each framing the fraction of ground-truth
//   hair pixels that fall inside the 512x512 head crop (pooled over
//   photos, and the worst photo), the fraction of the crop lying outside
//   the photo, and (unless --no-net) the hair network run on the crop,
//   its p(hair) carried back to the photo (face_warp_f32), thresholded at
//   0.5 and scored by IoU against the mask (mean over photos), beside the
//   network on the whole photo.
// calib: the landmark heuristic below against dlib's own landmarks on the
//   detector boxes of tests/data/dlib/landmarks.txt.
//
// Landmarks: SSD-MobileNet detection (nn/net_ssd.h, score > 0.5, else >
// 0.2); the subject is the box nearest the photo's centre; a square box of
// side (w + h) / 2 about its centre seeds dlib's predictor
// (face/landmarks.h); the box is then refitted twice from the landmarks
// (the scale and shift that best map the model's mean shape, in its unit
// box, onto them), predicting again each time. aligned112 crops, where the
// detector often fails, start from the box (0.1, 0.14)-(0.9, 0.96) of the
// crop. A photo whose landmarks cannot be fitted is reported and left out.
//
// Measured (Debian 12, 2 cores, `make eval`, then
// `build/o1d0s0n0/tools/align_eval backbone --cache /tmp/al`):
// see the report of the alignment work and align.h; the figures are
// printed by the runs above.
//
// ref: T. Fawcett, "An introduction to ROC analysis", Pattern Recognition
//      Letters 27 (2006) (AUC as the Mann-Whitney statistic)
//
// Limitations:
// - Photos are read with stb_image (tests/stb_impl.h) directly; no EXIF
//   orientation (LFW, aligned112 and CelebA-HQ have none).
// - The subject rule and the box refit are simple stand-ins for
//   face/detect.c; on the six LFW fixture photos they put the landmarks
//   within the distance `align_eval calib` prints of dlib's.
// - AUC over three LFW people measures framing, not face recognition in
//   general.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tests/stb_impl.h"

#include "../../face/align.h"
#include "../../face/landmarks.h"
#include "../../nn/net_faceres.h"
#include "../../nn/net_hair.h"
#include "../../nn/net_ssd.h"
#include "../../weights/weights.h"
#include "eval_util.h"

#define MAX_FRAMES 32
#define MAX_DETS 32
#define BATCH 8
#define SZ NN_FACERES_SIZE

typedef struct frame {
    double pad, cy;
} frame;

typedef struct photo {
    char *rel;       // path under the data folder
    int person;
    int ok;          // landmarks found
    float lm[2 * FACE_LANDMARKS];
} photo;

typedef struct ctx {
    char data[1024], weights[1024], cache[1024];
    wt_file *wssd, *wlm;
    nn_ssd *ssd;
    face_landmarks *lm;
    const float *mean_shape;   // 68 x 2, unit box
} ctx;

static void die(const char *what)
{
    fprintf(stderr, "align_eval: %s: %s\n", what, facet_error());
    exit(1);
}

// ---------------------------------------------------------------------------
// Files

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);

    return a > b && !strcmp(s + a - b, suf);
}

// The photos of set/<person>/<file> (person folders sorted), or of set/
// itself when flat (person -1).
static photo *list_photos(int *count, const char *data, const char *set,
                          int flat, int max)
{
    char path[2048], **people = NULL, **files;
    photo *ph = NULL;
    int n = 0, np;

    snprintf(path, sizeof path, "%s/%s", data, set);
    np = flat ? 1 : eval_list_dir(&people, path, NULL, NULL);
    if (np < 1) {
        fprintf(stderr, "align_eval: %s: not found\n", path);
        exit(1);
    }
    for (int p = 0; p < np; p++) {
        int nf;
        if (flat)
            snprintf(path, sizeof path, "%s/%s", data, set);
        else
            snprintf(path, sizeof path, "%s/%s/%s", data, set, people[p]);
        nf = eval_list_dir(&files, path, NULL, NULL);
        for (int i = 0; i < nf; i++) {
            if ((has_suffix(files[i], ".jpg") ||
                 has_suffix(files[i], ".png")) && (max <= 0 || n < max)) {
                ph = realloc(ph, (size_t)(n + 1) * sizeof(*ph));
                FACET_ASSERT(ph != NULL);
                memset(&ph[n], 0, sizeof(*ph));
                if (flat)
                    snprintf(path, sizeof path, "%s/%s", set, files[i]);
                else
                    snprintf(path, sizeof path, "%s/%s/%s", set, people[p],
                             files[i]);
                ph[n].rel = strdup(path);
                ph[n].person = flat ? -1 : p;
                n++;
            }
            free(files[i]);
        }
        if (nf > 0)
            free(files);
        if (!flat)
            free(people[p]);
    }
    if (!flat)
        free(people);
    *count = n;
    return ph;
}

static face_image load_rgb(const ctx *c, const char *rel)
{
    char path[2048];
    face_image im = {0, 0, 0, NULL};
    int n;

    snprintf(path, sizeof path, "%s/%s", c->data, rel);
    im.px = stbi_load(path, &im.w, &im.h, &n, 3);
    if (!im.px) {
        fprintf(stderr, "align_eval: %s: %s\n", path, stbi_failure_reason());
        exit(1);
    }
    im.stride = (size_t)im.w * 3;
    return im;
}

// ---------------------------------------------------------------------------
// Landmarks

// The box whose unit square best carries the mean shape onto lm: scale s
// and shift t minimising sum |s m_i + t - p_i|^2.
static face_landmarks_box box_from_landmarks(const ctx *c, const float *lm)
{
    double mm[2] = {0, 0}, pm[2] = {0, 0}, num = 0, den = 0, s;
    face_landmarks_box b;

    for (int i = 0; i < FACE_LANDMARKS; i++)
        for (int k = 0; k < 2; k++) {
            mm[k] += c->mean_shape[2 * i + k] / FACE_LANDMARKS;
            pm[k] += lm[2 * i + k] / (double)FACE_LANDMARKS;
        }
    for (int i = 0; i < FACE_LANDMARKS; i++)
        for (int k = 0; k < 2; k++) {
            double a = c->mean_shape[2 * i + k] - mm[k];
            num += a * (lm[2 * i + k] - pm[k]);
            den += a * a;
        }
    s = num / den;
    b.left = pm[0] - s * mm[0];
    b.top = pm[1] - s * mm[1];
    b.right = b.left + s;
    b.bottom = b.top + s;
    return b;
}

// Predict, then refit the box from the landmarks and predict again, twice.
static int landmarks_from_box(const ctx *c, float *lm, const face_image *im,
                              face_landmarks_box b)
{
    for (int it = 0; it < 3; it++) {
        if (face_landmarks_predict(lm, NULL, c->lm, im->px, im->w, im->h,
                                   (int)im->stride, 3, &b) != FACET_OK)
            return 0;
        b = box_from_landmarks(c, lm);
    }
    return 1;
}

// The subject's landmarks: SSD detection, the box nearest the centre.
static int landmarks_detect(const ctx *c, float *lm, const face_image *im)
{
    nn_ssd_det d[MAX_DETS];
    double best = INFINITY;
    int n = 0, pick = -1;

    for (int pass = 0; pass < 2 && n == 0; pass++)
        if (nn_ssd_detect(c->ssd, d, MAX_DETS, &n, im->px, im->w, im->h,
                          im->stride, pass ? 0.2 : 0.5) != FACET_OK)
            die("detection");
    for (int i = 0; i < n; i++) {
        double dx = d[i].x + 0.5 * d[i].w - 0.5 * im->w;
        double dy = d[i].y + 0.5 * d[i].h - 0.5 * im->h;
        if (dx * dx + dy * dy < best) {
            best = dx * dx + dy * dy;
            pick = i;
        }
    }
    if (pick < 0)
        return 0;
    {
        double s = 0.5 * (d[pick].w + d[pick].h);
        double cx = d[pick].x + 0.5 * d[pick].w;
        double cy = d[pick].y + 0.5 * d[pick].h;
        face_landmarks_box b = {cx - 0.5 * s, cy - 0.5 * s, cx + 0.5 * s,
                                cy + 0.5 * s};
        return landmarks_from_box(c, lm, im, b);
    }
}

// Landmarks of every photo, from the cache file when it lists the photo.
static void all_landmarks(const ctx *c, photo *ph, int n, const char *tag,
                          int aligned)
{
    char path[2048], rel[1024];
    FILE *f;
    int cached = 0, missing = 0;

    if (c->cache[0]) {
        snprintf(path, sizeof path, "%s/%s.lm", c->cache, tag);
        if ((f = fopen(path, "r"))) {
            float lm[2 * FACE_LANDMARKS];
            int ok;
            while (fscanf(f, "%1023s %d", rel, &ok) == 2) {
                for (int k = 0; k < 2 * FACE_LANDMARKS; k++)
                    if (fscanf(f, "%f", &lm[k]) != 1)
                        goto bad;
                for (int i = 0; i < n; i++)
                    if (!ph[i].ok && !strcmp(ph[i].rel, rel)) {
                        ph[i].ok = ok ? 1 : -1;
                        memcpy(ph[i].lm, lm, sizeof lm);
                        cached++;
                        break;
                    }
            }
        bad:
            fclose(f);
        }
    }
    for (int i = 0; i < n; i++) {
        face_image im;
        if (ph[i].ok)
            continue;
        im = load_rgb(c, ph[i].rel);
        if (aligned) {
            face_landmarks_box b = {0.1 * im.w, 0.14 * im.h, 0.9 * im.w,
                                    0.96 * im.h};
            ph[i].ok = landmarks_from_box(c, ph[i].lm, &im, b) ? 1 : -1;
        } else {
            ph[i].ok = landmarks_detect(c, ph[i].lm, &im) ? 1 : -1;
        }
        stbi_image_free(im.px);
        if ((i + 1) % 100 == 0)
            fprintf(stderr, "  landmarks %d / %d\n", i + 1, n);
    }
    for (int i = 0; i < n; i++)
        if (ph[i].ok < 0) {
            missing++;
            fprintf(stderr, "align_eval: %s: no face, left out\n",
                    ph[i].rel);
        }
    if (c->cache[0] && cached < n) {
        snprintf(path, sizeof path, "%s/%s.lm", c->cache, tag);
        if ((f = fopen(path, "w"))) {
            for (int i = 0; i < n; i++) {
                fprintf(f, "%s %d", ph[i].rel, ph[i].ok > 0);
                for (int k = 0; k < 2 * FACE_LANDMARKS; k++)
                    fprintf(f, " %.9g", ph[i].lm[k]);
                fputc('\n', f);
            }
            fclose(f);
        }
    }
    printf("%s: %d photos, %d without landmarks (%d from the cache)\n",
           tag, n, missing, cached);
}

// ---------------------------------------------------------------------------
// Framing

// The crop frame of (pad, cy) at side s from the library's frame of
// `kind` at side s: u' = (k'/k)(u - h) + k'(c - c') + h with
// k = s / (1 + 2 pad) and h = (s - 1) / 2 (align.h's formula, solved).
static face_xform reframe(face_crop_kind kind, int s, frame to)
{
    double t0[2 * FACE_LANDMARKS], k0, k1, c0y, h = 0.5 * (s - 1);
    const double *m = face_template();
    face_xform f;

    // The library's pad and centre, read back from its template points:
    // point 8 (chin) and 27 (nose bridge top) fix scale and centre.
    if (face_align_template_points(t0, kind, s))
        die("template");
    k0 = (t0[2 * 8 + 1] - t0[2 * 27 + 1]) / (m[2 * 8 + 1] - m[2 * 27 + 1]);
    c0y = m[2 * 27 + 1] - (t0[2 * 27 + 1] - h) / k0;
    k1 = s / (1 + 2 * to.pad);
    f.m[0] = f.m[4] = k1 / k0;
    f.m[1] = f.m[3] = 0;
    f.m[2] = h - (k1 / k0) * h;
    f.m[5] = h - (k1 / k0) * h + k1 * (c0y - to.cy);
    return f;
}

// photo -> crop for a framing; 0 when the fit fails.
static int crop_xform(face_xform *t, const float *lm, face_crop_kind kind,
                      int s, frame fr, int affine)
{
    face_xform base, f;

    if (face_align_fit(&base, lm, kind, s, affine) != FACET_OK)
        return 0;
    f = reframe(kind, s, fr);
    face_xform_compose(t, &f, &base);
    return 1;
}

static int parse_frames(frame *fr, const char *s)
{
    int n = 0;

    while (*s && n < MAX_FRAMES) {
        char *end;
        fr[n].pad = strtod(s, &end);
        if (*end != ':')
            return -1;
        fr[n].cy = strtod(end + 1, &end);
        n++;
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        s = end;
    }
    return n;
}

// ---------------------------------------------------------------------------
// Identity verification

// How a crop is made for one scoring run.
typedef enum crop_mode { CROP_FRAME, CROP_LIBRARY, CROP_UPSCALE } crop_mode;

// Descriptors of the photos with landmarks (rows of desc, people into
// person), for one crop recipe; returns how many.
static int descriptors(float *desc, int *person, const ctx *c,
                       nn_faceres *net, float *in, const photo *ph, int n,
                       crop_mode mode, frame fr, int affine)
{
    uint8_t *crop = malloc((size_t)BATCH * SZ * SZ * 3);
    int m = 0, nb = 0;

    FACET_ASSERT(crop != NULL);
    for (int i = 0; i <= n; i++) {
        // Flush a full batch (or the last one).
        if (nb == BATCH || (i == n && nb > 0)) {
            nn_tensor x = nn_tensor_4d(in, nb, 3, SZ, SZ);
            const nn_tensor *g;
            for (int b = 0; b < nb; b++)
                nn_faceres_input_rgb8(in + (size_t)b * 3 * SZ * SZ,
                                      crop + (size_t)b * SZ * SZ * 3, SZ * 3);
            if (nn_faceres_forward(net, &x) != FACET_OK ||
                !(g = nn_faceres_feature(net, "global_pooling")))
                die("faceres");
            memcpy(desc + (size_t)(m - nb) * NN_FACERES_DESCRIPTOR, g->data,
                   (size_t)nb * NN_FACERES_DESCRIPTOR * sizeof(float));
            nb = 0;
        }
        if (i == n)
            break;
        if (ph[i].ok <= 0)
            continue;

        // The crop.
        {
            face_image im = load_rgb(c, ph[i].rel);
            face_xform t;
            int ok = 1;
            if (mode == CROP_UPSCALE) {
                t = (face_xform){{(double)SZ / im.w, 0,
                                  0.5 * SZ / im.w - 0.5, 0,
                                  (double)SZ / im.h, 0.5 * SZ / im.h - 0.5}};
            } else if (mode == CROP_LIBRARY) {
                ok = face_align_fit(&t, ph[i].lm, FACE_CROP_BACKBONE, 0,
                                    affine) == FACET_OK;
            } else {
                ok = crop_xform(&t, ph[i].lm, FACE_CROP_BACKBONE, SZ, fr,
                                affine);
            }
            if (!ok || face_warp_rgb(crop + (size_t)nb * SZ * SZ * 3, SZ, SZ,
                                     SZ * 3, &im, &t, FACE_BORDER_REPLICATE,
                                     NULL) != FACET_OK)
                die(ph[i].rel);
            stbi_image_free(im.px);
            person[m] = ph[i].person;
            nb++;
            m++;
        }
    }
    free(crop);
    return m;
}

static void verify_run(const ctx *c, nn_faceres *net, float *in, photo *ph,
                       int n, crop_mode mode, frame fr, int affine,
                       const char *label)
{
    float *desc = malloc((size_t)n * NN_FACERES_DESCRIPTOR * sizeof(float));
    int *person = malloc((size_t)n * sizeof(int)), m;
    double t0 = facet_now(), auc;

    FACET_ASSERT(desc && person);
    m = descriptors(desc, person, c, net, in, ph, n, mode, fr, affine);
    auc = eval_pair_auc(desc, NN_FACERES_DESCRIPTOR, person, m, NULL, NULL);
    if (auc < 0) {
        fprintf(stderr, "align_eval: out of memory\n");
        exit(1);
    }
    printf("  %-34s AUC %.4f  (%d photos, %.0f s)\n", label, auc, m,
           facet_now() - t0);
    fflush(stdout);
    free(desc);
    free(person);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

// Mean distance of the fit landmarks to the template in the library's
// backbone crop (method-spec 7.4 asks < 3 px on frontal faces): mean,
// median, 90th percentile and the share under 3 px, for both fits.
static void residuals(const photo *ph, int n)
{
    double tp[2 * FACE_LANDMARKS], *r = malloc(sizeof(double) * n);
    const int *fit = face_align_fit_set();

    FACET_ASSERT(r != NULL);
    if (face_align_template_points(tp, FACE_CROP_BACKBONE, 0))
        die("template");
    for (int aff = 0; aff < 2; aff++) {
        double sum = 0;
        int m = 0, under = 0;
        for (int i = 0; i < n; i++) {
            float cl[2 * FACE_LANDMARKS];
            face_xform t;
            double d = 0;
            if (ph[i].ok <= 0 || face_align_fit(&t, ph[i].lm,
                                                FACE_CROP_BACKBONE, 0, aff))
                continue;
            face_align_landmarks(cl, ph[i].lm, &t);
            for (int k = 0; k < FACE_ALIGN_FIT_COUNT; k++) {
                int j = fit[k];
                d += hypot(cl[2 * j] - tp[2 * j],
                           cl[2 * j + 1] - tp[2 * j + 1]);
            }
            r[m] = d / FACE_ALIGN_FIT_COUNT;
            sum += r[m];
            under += r[m] < 3.0;
            m++;
        }
        if (!m)
            continue;
        qsort(r, (size_t)m, sizeof *r, cmp_double);
        printf("  residual of the %d fit landmarks in the 224 crop, %s: mean "
               "%.2f px, median %.2f, 90th percentile %.2f, under 3 px: "
               "%.1f%% of %d photos\n", FACE_ALIGN_FIT_COUNT,
               aff ? "affine" : "similarity", sum / m, r[m / 2],
               r[(int)(0.9 * (m - 1))], 100.0 * under / m, m);
    }
    free(r);
}

static void run_verify(const ctx *c, const char *set, int aligned,
                       const frame *fr, int nfr, int affine, int max)
{
    wt_file *w;
    nn_faceres *net;
    char path[2048], label[128];
    photo *ph;
    float *in;
    int n;

    ph = list_photos(&n, c->data, set, 0, max);
    all_landmarks(c, ph, n, aligned ? "aligned112" : "lfw", aligned);
    snprintf(path, sizeof path, "%s/faceres.fct", c->weights);
    if (wt_open(&w, path, 0) || nn_faceres_create(&net, w, BATCH, NULL, 0))
        die("faceres (run make weights)");
    in = facet_alloc((size_t)BATCH * 3 * SZ * SZ * sizeof(float));

    residuals(ph, n);
    printf("faceres descriptor, cosine AUC over all pairs, %s:\n", set);
    if (aligned)
        verify_run(c, net, in, ph, n, CROP_UPSCALE, fr[0], 0,
                   "plain upscale of the crop");
    verify_run(c, net, in, ph, n, CROP_LIBRARY, fr[0], 0,
               "library backbone crop, similarity");
    if (affine)
        verify_run(c, net, in, ph, n, CROP_LIBRARY, fr[0], 1,
                   "library backbone crop, affine");
    for (int k = 0; k < nfr; k++)
        for (int a = 0; a <= affine; a++) {
            snprintf(label, sizeof label, "pad %.2f, centre y %.2f%s",
                     fr[k].pad, fr[k].cy, a ? ", affine" : "");
            verify_run(c, net, in, ph, n, CROP_FRAME, fr[k], a, label);
        }

    facet_free(in);
    nn_faceres_free(net);
    wt_close(w);
    for (int i = 0; i < n; i++)
        free(ph[i].rel);
    free(ph);
}

// ---------------------------------------------------------------------------
// Head crop and hair

typedef struct head_stats {
    double hair_in, hair_all, outside, iou_sum, worst;
    int photos;
} head_stats;

static void run_head(const ctx *c, const frame *fr, int nfr, int max,
                     int use_net)
{
    const int S = NN_HAIR_SIZE;
    head_stats st[MAX_FRAMES + 1];
    wt_file *w = NULL;
    nn_hair *net = NULL;
    float *in = NULL, *prob = NULL, *back = NULL;
    uint8_t *crop = malloc((size_t)S * S * 3);
    char path[2048];
    photo *ph;
    int n;

    ph = list_photos(&n, c->data, "celebahq/images", 1, max);
    all_landmarks(c, ph, n, "celebahq", 0);
    if (use_net) {
        snprintf(path, sizeof path, "%s/hair_segmentation.fct", c->weights);
        if (wt_open(&w, path, 0) || nn_hair_create(&net, w, 1, NULL, 0))
            die("hair network (run make weights)");
        in = facet_alloc((size_t)4 * S * S * sizeof(float));
        prob = facet_alloc((size_t)S * S * sizeof(float));
    }
    memset(st, 0, sizeof st);
    for (int k = 0; k <= nfr; k++)
        st[k].worst = 1;

    for (int i = 0; i < n; i++) {
        face_image im;
        uint8_t *mask;
        char base[256];
        int mw, mh, mn;
        size_t npx;

        if (ph[i].ok <= 0)
            continue;
        im = load_rgb(c, ph[i].rel);
        npx = (size_t)im.w * im.h;

        // The ground-truth mask: hair_masks/<name>.png.
        snprintf(base, sizeof base, "%s", strrchr(ph[i].rel, '/') + 1);
        *strrchr(base, '.') = 0;
        snprintf(path, sizeof path, "%s/celebahq/hair_masks/%s.png",
                 c->data, base);
        mask = stbi_load(path, &mw, &mh, &mn, 1);
        if (!mask || mw != im.w || mh != im.h) {
            fprintf(stderr, "align_eval: %s: no mask of the photo's size\n",
                    path);
            exit(1);
        }
        back = realloc(back, npx * sizeof(float));
        FACET_ASSERT(back != NULL);

        // k < nfr: the head crops; k == nfr: the whole photo.
        for (int k = 0; k <= nfr; k++) {
            face_xform t, inv;
            double in_hair = 0, all_hair = 0, inter = 0, uni = 0, outside;
            int out_n = 0;

            if (k < nfr) {
                if (!crop_xform(&t, ph[i].lm, FACE_CROP_HEAD, S, fr[k], 0))
                    die(ph[i].rel);
            } else {
                t = (face_xform){{(double)S / im.w, 0, 0.5 * S / im.w - 0.5,
                                  0, (double)S / im.h,
                                  0.5 * S / im.h - 0.5}};
            }
            if (face_xform_invert(&inv, &t))
                die("invert");

            // Hair pixels inside the crop; crop pixels outside the photo.
            for (int y = 0; y < im.h; y++)
                for (int x = 0; x < im.w; x++) {
                    double u = t.m[0] * x + t.m[1] * y + t.m[2];
                    double v = t.m[3] * x + t.m[4] * y + t.m[5];
                    if (mask[(size_t)y * im.w + x] > 127) {
                        all_hair++;
                        in_hair += u >= -0.5 && v >= -0.5 && u < S - 0.5 &&
                                   v < S - 0.5;
                    }
                }
            for (int v = 0; v < S; v += 4)
                for (int u = 0; u < S; u += 4) {
                    double x = inv.m[0] * u + inv.m[1] * v + inv.m[2];
                    double y = inv.m[3] * u + inv.m[4] * v + inv.m[5];
                    out_n += !(x >= -0.5 && y >= -0.5 && x < im.w - 0.5 &&
                               y < im.h - 0.5);
                }
            outside = out_n / (double)((S / 4) * (S / 4));
            st[k].hair_in += in_hair;
            st[k].hair_all += all_hair;
            st[k].outside += outside;
            if (all_hair > 0 && in_hair / all_hair < st[k].worst)
                st[k].worst = in_hair / all_hair;

            // The network on the crop, p(hair) back in the photo.
            if (use_net) {
                nn_tensor x4 = nn_tensor_4d(in, 1, 4, S, S);
                if (face_warp_rgb(crop, S, S, (size_t)S * 3, &im, &t,
                                  FACE_BORDER_REPLICATE, NULL) ||
                    (nn_hair_input_rgb8(in, crop, (size_t)S * 3, NULL), 0) ||
                    nn_hair_forward(net, prob, &x4) ||
                    face_warp_f32(back, im.w, im.h, (size_t)im.w, prob, S, S,
                                  (size_t)S, 1, &inv, FACE_BORDER_CONSTANT,
                                  0.0f))
                    die("hair");
                for (size_t p = 0; p < npx; p++) {
                    int a = back[p] > 0.5f, b = mask[p] > 127;
                    inter += a && b;
                    uni += a || b;
                }
                st[k].iou_sum += uni > 0 ? inter / uni : 1.0;
            }
            st[k].photos++;
        }
        stbi_image_free(mask);
        stbi_image_free(im.px);
        if ((i + 1) % 50 == 0)
            fprintf(stderr, "  head %d / %d\n", i + 1, n);
    }

    printf("head crop on celebahq (%d photos with landmarks):\n",
           st[0].photos);
    for (int k = 0; k <= nfr; k++) {
        char label[64];
        if (k < nfr)
            snprintf(label, sizeof label, "pad %.2f, centre y %.2f",
                     fr[k].pad, fr[k].cy);
        else
            snprintf(label, sizeof label, "whole photo");
        printf("  %-26s hair inside %.4f (worst photo %.3f), crop outside "
               "the photo %.3f", label, st[k].hair_in / st[k].hair_all,
               st[k].worst, st[k].outside / st[k].photos);
        if (use_net)
            printf(", hair IoU %.4f", st[k].iou_sum / st[k].photos);
        putchar('\n');
    }

    free(back);
    free(crop);
    facet_free(in);
    facet_free(prob);
    nn_hair_free(net);
    wt_close(w);
    for (int i = 0; i < n; i++)
        free(ph[i].rel);
    free(ph);
}

// ---------------------------------------------------------------------------
// Landmark heuristic against dlib

static void run_calib(const ctx *c)
{
    FILE *f = fopen("tests/data/dlib/landmarks.txt", "r");
    char line[512], rel[1024] = "";
    double sum = 0;
    int faces = 0;

    if (!f) {
        fprintf(stderr, "align_eval: tests/data/dlib/landmarks.txt: not "
                "found (run from the repository root)\n");
        exit(1);
    }
    while (fgets(line, sizeof line, f)) {
        double l, t, r, b, want[2 * FACE_LANDMARKS];
        char src[16];
        float lm[2 * FACE_LANDMARKS];
        face_image im;

        if (!strncmp(line, "image ", 6))
            sscanf(line + 6, "%1023s", rel);
        if (strncmp(line, "face ", 5) ||
            sscanf(line + 5, "%lf %lf %lf %lf %15s", &l, &t, &r, &b,
                   src) != 5 || strcmp(src, "det"))
            continue;
        for (int i = 0; i < FACE_LANDMARKS; i++) {
            if (!fgets(line, sizeof line, f) ||
                sscanf(line, "%lf %lf", &want[2 * i], &want[2 * i + 1]) != 2)
                die("fixture");
        }
        im = load_rgb(c, rel);
        if (landmarks_detect(c, lm, &im)) {
            double d = 0;
            for (int i = 0; i < FACE_LANDMARKS; i++)
                d += hypot(lm[2 * i] - want[2 * i],
                           lm[2 * i + 1] - want[2 * i + 1]);
            d /= FACE_LANDMARKS;
            printf("  %-44s mean distance to dlib's %.2f px (box side "
                   "%.0f)\n", rel, d, r - l);
            sum += d;
            faces++;
        } else {
            printf("  %-44s no face\n", rel);
        }
        stbi_image_free(im.px);
    }
    fclose(f);
    printf("calib: %d faces, mean landmark distance %.2f px\n", faces,
           faces ? sum / faces : 0.0);
}

// ---------------------------------------------------------------------------

int main(int argc, char **argv)
{
    const char *env_d = getenv("FACET_DATA"), *env_w = getenv("FACET_WEIGHTS");
    const char *mode = argc > 1 ? argv[1] : "";
    frame fr[MAX_FRAMES];
    int nfr = -1, affine = 0, max = 0, use_net = 1;
    char path[2048];
    int64_t dims[2] = {FACE_LANDMARKS, 2};
    ctx c;

    memset(&c, 0, sizeof c);
    snprintf(c.data, sizeof c.data, "%s", env_d && *env_d ? env_d
                                                           : "../shared/data");
    snprintf(c.weights, sizeof c.weights, "%s", env_w && *env_w ? env_w
                                                                : "weights");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--frames") && v) {
            nfr = parse_frames(fr, v);
            i++;
        } else if (!strcmp(a, "--data") && v) {
            snprintf(c.data, sizeof c.data, "%s", v);
            i++;
        } else if (!strcmp(a, "--weights") && v) {
            snprintf(c.weights, sizeof c.weights, "%s", v);
            i++;
        } else if (!strcmp(a, "--cache") && v) {
            snprintf(c.cache, sizeof c.cache, "%s", v);
            i++;
        } else if (!strcmp(a, "--max") && v) {
            max = atoi(v);
            i++;
        } else if (!strcmp(a, "--affine")) {
            affine = 1;
        } else if (!strcmp(a, "--no-net")) {
            use_net = 0;
        } else {
            nfr = -2;
            break;
        }
    }
    if (nfr == -2 || (strcmp(mode, "backbone") && strcmp(mode, "aligned") &&
                      strcmp(mode, "head") && strcmp(mode, "calib"))) {
        fprintf(stderr, "usage: align_eval backbone|aligned|head|calib "
                "[--frames PAD:CY,...] [--affine] [--max N] [--no-net] "
                "[--data DIR] [--weights DIR] [--cache DIR]\n");
        return 2;
    }
    if (nfr < 0) {
        // Defaults: the library's framing of the kind first.
        static const frame backbone[] = {{0.25, 0.60}};
        static const frame head[] = {{0.85, 0.20}};
        const frame *d = strcmp(mode, "head") ? backbone : head;
        fr[0] = d[0];
        nfr = 1;
    }

    // The detector, the landmark model and its mean shape.
    snprintf(path, sizeof path, "%s/ssd_mobilenetv1.fct", c.weights);
    if (wt_open(&c.wssd, path, 0) || nn_ssd_create(&c.ssd, c.wssd, 1, NULL,
                                                   0))
        die("detector (run make weights)");
    snprintf(path, sizeof path, "%s/dlib_landmarks68.fct", c.weights);
    if (wt_open(&c.wlm, path, 0) || face_landmarks_create(&c.lm, c.wlm) ||
        !(c.mean_shape = wt_tensor(c.wlm, "mean_shape", 2, dims)))
        die("landmark model (run make weights)");

    if (!strcmp(mode, "backbone"))
        run_verify(&c, "lfw", 0, fr, nfr, affine, max);
    else if (!strcmp(mode, "aligned"))
        run_verify(&c, "aligned112", 1, fr, nfr, affine, max);
    else if (!strcmp(mode, "head"))
        run_head(&c, fr, nfr, max, use_net);
    else
        run_calib(&c);

    face_landmarks_free(c.lm);
    nn_ssd_free(c.ssd);
    wt_close(c.wlm);
    wt_close(c.wssd);
    return 0;
}

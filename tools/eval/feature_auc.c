// feature_auc.c - measures which network layers facet should take as the
// face feature map f and the hair-sensitive map f^H (docs/FEATURES.md
// holds the figures and the reasoning).
//
//   feature_auc [--data DIR] [--weights DIR] [--cache DIR] [--max N]
//               [--max-aligned N] [--arb N] [--train N] [--seed S]
//               [--hair-layers A,B,...] [--no-aligned] [--no-metric]
//               [--no-hair]
//     --data     $FACET_DATA, else ../shared/data
//     --weights  $FACET_WEIGHTS, else weights
//     --cache    folder for the front end's crops per photo (face/cache.h
//                entries of kind "fauc"; default: none, every run redoes
//                detection, landmarks, alignment and p(hair))
//     --max      photos per LFW person, in name order (default 100)
//     --max-aligned  photos per aligned112 person (default 30)
//     --arb      celebahq photos, in name order (default 120)
//     --train    training portraits per set for part 2 (default 60)
//
// 1. Verification. aligned112 (every person): each 112x112 crop resized
//    to 224x224 (face_image_resize); LFW (lfw/<person>): each photo
//    through the front end (face_portrait_run: detection, landmarks,
//    alignment), the backbone crop. Scores: cosine similarity of faceres
//    global_pooling (1024), conv_pw_11_relu, conv_pw_10_relu and
//    conv_pw_9_relu averaged over their 14 x 14 positions, the full
//    flattened conv_pw_11_relu map (100352), and dlib's ResNet descriptor
//    (nn/net_frec.h, 128) on the DLIB150 crop (LFW) or the aligned112
//    crop resized to 150 (not dlib's framing). ROC AUC over all same /
//    different pairs.
// 2. Full map against pooling. For each LFW person (P_ind) against
//    celebahq (P_arb): the first --train portraits of each set train,
//    the rest (up to --max and --arb) are held out. Learners: the metric
//    of face/metric.h (defaults, --seed) on the full conv_pw_11 map and on
//    its pooled 512-vector, and the CAM layer of face/cam.h (defaults) on
//    the pooled vector. Score of a held-out portrait x: for a metric,
//    mean d2_M(x, P_arb train) - mean d2_M(x, P_ind train) (closer to
//    P_ind: higher; d2_M = |M (x - y)|^2, Eq. 3, through the two
//    projections M_ind . x and M_arb . x); for CAM, s_ind - s_arb. The AUC
//    of telling held-out P_ind from held-out P_arb.
// 3. Hair layer. Each LFW head crop (512x512) through the hair network,
//    keeping the candidate layers. (a) identity: each layer's map averaged
//    over the hair region (weights: p(hair) averaged over each map cell),
//    cosine pair AUC over the three people; (b) hair sensitivity: a ridge
//    regression from a cell's C features (plus a constant) to that cell's
//    mean p(hair), fitted on the even-numbered photos, R^2 on the odd ones.
//
// Build and run: `make eval` builds build/o1d0s0n0/tools/feature_auc;
//   nice build/o1d0s0n0/tools/feature_auc --cache /tmp/fauc
//
// ref: T. Fawcett, "An introduction to ROC analysis", Pattern Recognition
//      Letters 27 (2006) - AUC as the Mann-Whitney statistic
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face?", CGF 2019, Eq. 3
//
// Limitations:
// - LFW here is three people; their pair AUCs measure these three, not
//   face recognition in general. aligned112's 16 people are tight crops
//   with other framing than facet's backbone crop.
// - Photos where the front end finds no face are left out (counted).
// - The cache key holds the photo's bytes, this tool's crop version and
//   the hair network's model id (with the default hair layer, so changing
//   that default misses every entry), not the detector's or landmark
//   model's: delete the folder after changing those weights.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../face/align.h"
#include "../../face/cache.h"
#include "../../face/cam.h"
#include "../../face/features.h"
#include "../../face/image.h"
#include "../../face/metric.h"
#include "../../face/portrait.h"
#include "../../nn/net_faceres.h"
#include "../../nn/net_frec.h"
#include "../../nn/net_hair.h"
#include "../../weights/weights.h"
#include "eval_util.h"

#define BB FACE_BACKBONE_SIZE
#define DL NN_FREC_SIZE
#define HD FACE_HEAD_SIZE
#define MK 64                    // side of the stored p(hair) grid
#define BATCH 8
#define MAX_HAIR 16
#define GP_DIM NN_FACERES_DESCRIPTOR
#define MAP_Z 512
#define MAP_HW 196
#define FULL_DIM (MAP_Z * MAP_HW)
#define DESC_DIM NN_FREC_DIM

// Pooled faceres maps kept, in this order.
static const char *const pooled_names[] = {
    "conv_pw_11_relu", "conv_pw_10_relu", "conv_pw_9_relu"};
enum { NPOOL = 3 };

static const char *const hair_default[] = {
    "p_re_lu_17", "p_re_lu_33", "p_re_lu_37", "p_re_lu_57", "p_re_lu_80",
    "p_re_lu_86", "p_re_lu_92"};

// What the front end gives one photo, as stored in the cache.
typedef struct crops {
    uint8_t bb[BB * BB * 3];
    uint8_t dl[DL * DL * 3];
    uint8_t head[HD * HD * 3];
    float mask[MK * MK];       // p(hair) averaged over 8x8 pixel cells
} crops;

// One hair candidate's accumulators.
typedef struct hair_layer {
    const char *name;
    int c, h, w;
    float *pooled;             // n x c, hair-region average
    double *xtx[2], *xty[2];   // (c+1)^2 and c+1, [0] train, [1] test
    double yty[2], sy[2], cnt[2];
} hair_layer;

// A set of photos and their features.
typedef struct pset {
    const char *name;
    int n, npeople;
    char **path;
    int *person;
    char **people;
    float *gp, *pool[NPOOL], *full, *desc;
    int *ok;                   // the front end found a face
} pset;

typedef struct ctx {
    const char *data, *weights, *cache;
    face_frontend *fe;
    char salt[256];
    wt_file *wf_res, *wf_rec, *wf_hair;
    nn_faceres *res;
    nn_frec *rec;
    nn_hair *hair;
    float *in_res, *in_rec, *in_hair;
    hair_layer hl[MAX_HAIR];
    int nhl;
    int skipped;
    double t_front, t_nets;
} ctx;

static void die(const char *what)
{
    fprintf(stderr, "feature_auc: %s: %s\n", what, facet_error());
    exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);

    if (!p) {
        fprintf(stderr, "feature_auc: out of memory\n");
        exit(1);
    }
    return p;
}

static int is_image(const char *s)
{
    size_t l = strlen(s);

    return l > 4 && (!strcmp(s + l - 4, ".png") || !strcmp(s + l - 4, ".jpg"));
}

static void add_photo(pset *s, const char *path, int person)
{
    s->path = realloc(s->path, (size_t)(s->n + 1) * sizeof(*s->path));
    s->person = realloc(s->person, (size_t)(s->n + 1) * sizeof(int));
    if (!s->path || !s->person)
        exit(1);
    s->path[s->n] = strdup(path);
    s->person[s->n++] = person;
}

// Photos of every subfolder of dir (sub = NULL) or of dir/sub alone (one
// person), at most `max` per person.
static void list_set(pset *s, const char *name, const char *dir,
                     const char *sub, int max)
{
    char path[4096];
    char **people;
    int np;

    memset(s, 0, sizeof *s);
    s->name = name;
    if (sub) {
        people = xcalloc(1, sizeof(char *));
        people[0] = strdup(sub);
        np = 1;
    } else if ((np = eval_list_dir(&people, dir, NULL, NULL)) < 2) {
        fprintf(stderr, "feature_auc: %s: need a folder of >= 2 people\n",
                dir);
        exit(1);
    }
    s->people = people;
    s->npeople = np;
    for (int p = 0; p < np; p++) {
        char **files;
        int nf, taken = 0;

        snprintf(path, sizeof path, "%s/%s", dir, people[p]);
        if ((nf = eval_list_dir(&files, path, NULL, NULL)) < 0) {
            fprintf(stderr, "feature_auc: %s: cannot list\n", path);
            exit(1);
        }
        for (int i = 0; i < nf; i++) {
            if (is_image(files[i]) && taken < max) {
                snprintf(path, sizeof path, "%s/%s/%s", dir, people[p],
                         files[i]);
                add_photo(s, path, p);
                taken++;
            }
            free(files[i]);
        }
        free(files);
    }
    s->gp = xcalloc((size_t)s->n * GP_DIM, sizeof(float));
    for (int k = 0; k < NPOOL; k++)
        s->pool[k] = xcalloc((size_t)s->n * MAP_Z, sizeof(float));
    s->full = xcalloc((size_t)s->n * FULL_DIM, sizeof(float));
    s->desc = xcalloc((size_t)s->n * DESC_DIM, sizeof(float));
    s->ok = xcalloc((size_t)s->n, sizeof(int));
}

// ---------------------------------------------------------------------------
// AUC

// Cosine pair AUC of the rows (d floats, `stride` apart) of the photos
// with ok[i]; same person positive.
static double pair_auc(const float *f, size_t d, size_t stride,
                       const int *person, const int *ok, int n, size_t *npos)
{
    int *idx = xcalloc((size_t)n, sizeof(int)), m = 0;
    double *norm;
    eval_scored *v;
    size_t k = 0, pos = 0;
    double auc;

    for (int i = 0; i < n; i++)
        if (ok[i])
            idx[m++] = i;
    norm = xcalloc((size_t)m, sizeof(double));
    v = xcalloc((size_t)m * (m - 1) / 2 + 1, sizeof(*v));
    for (int i = 0; i < m; i++) {
        const float *a = f + (size_t)idx[i] * stride;
        double s = 0;
        for (size_t t = 0; t < d; t++)
            s += (double)a[t] * a[t];
        norm[i] = sqrt(s) + 1e-30;
    }
#pragma omp parallel for schedule(dynamic, 4)
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) {
            const float *a = f + (size_t)idx[i] * stride;
            const float *b = f + (size_t)idx[j] * stride;
            size_t at = (size_t)i * (2 * (size_t)m - i - 1) / 2 + (j - i - 1);
            float acc[8] = {0};
            double dot = 0;
            size_t t = 0;
            for (; t + 8 <= d; t += 8)
                for (int u = 0; u < 8; u++)
                    acc[u] += a[t + u] * b[t + u];
            for (; t < d; t++)
                dot += (double)a[t] * b[t];
            for (int u = 0; u < 8; u++)
                dot += acc[u];
            v[at].s = dot / (norm[i] * norm[j]);
            v[at].pos = person[idx[i]] == person[idx[j]];
        }
    k = (size_t)m * (m - 1) / 2;
    for (size_t i = 0; i < k; i++)
        pos += (size_t)v[i].pos;
    auc = eval_auc(v, k);
    *npos = pos;
    free(v);
    free(norm);
    free(idx);
    return auc;
}

// ---------------------------------------------------------------------------
// Front end and networks

static void downsample_mask(float *dst, const float *prob)
{
    const int f = HD / MK;

    for (int y = 0; y < MK; y++)
        for (int x = 0; x < MK; x++) {
            double s = 0;
            for (int v = 0; v < f; v++)
                for (int u = 0; u < f; u++)
                    s += prob[(size_t)(y * f + v) * HD + x * f + u];
            dst[y * MK + x] = (float)(s / (f * f));
        }
}

static void copy_rgb(uint8_t *dst, const face_image *im)
{
    for (int y = 0; y < im->h; y++)
        memcpy(dst + (size_t)y * im->w * 3, im->px + (size_t)y * im->stride,
               (size_t)im->w * 3);
}

// The crops of one photo: from the cache, else through the front end
// (then stored). aligned: a 112x112 crop resized instead. 0: no face.
static int get_crops(ctx *c, crops *cr, const char *path, int aligned)
{
    face_cache_hash key;
    face_image im = {0};
    face_portrait p;
    facet_status s;
    double t0 = facet_now();

    if (face_image_load(&im, path, NULL) != FACET_OK)
        die(path);
    if (aligned) {
        face_image r = {0};
        if (face_image_resize(&r, &im, BB, BB) != FACET_OK)
            die(path);
        copy_rgb(cr->bb, &r);
        face_image_free(&r);
        if (face_image_resize(&r, &im, DL, DL) != FACET_OK)
            die(path);
        copy_rgb(cr->dl, &r);
        face_image_free(&r);
        face_image_free(&im);
        return 1;
    }
    if (c->cache) {
        if (face_cache_key_file(&key, path, c->salt) != FACET_OK)
            die(path);
        if (face_cache_get(c->cache, &key, "fauc", sizeof *cr, cr) ==
            FACET_OK) {
            face_image_free(&im);
            return 1;
        }
    }
    if (!c->fe) {
        face_frontend_opts o;
        face_frontend_defaults(&o);
        o.parts = 0;
        if (face_frontend_open(&c->fe, c->weights, &o) != FACET_OK)
            die("front end");
    }
    s = face_portrait_run(c->fe, &im, &p);
    if (s == FACET_E_NOT_FOUND) {
        fprintf(stderr, "feature_auc: %s: skipped (%s)\n", path,
                facet_error());
        face_image_free(&im);
        c->skipped++;
        return 0;
    }
    if (s != FACET_OK)
        die(path);
    copy_rgb(cr->bb, &p.crop[FACE_CROP_BACKBONE]);
    copy_rgb(cr->head, &p.crop[FACE_CROP_HEAD]);
    if (face_warp_rgb(cr->dl, DL, DL, DL * 3, &im,
                      &p.to_crop[FACE_CROP_DLIB150], FACE_BORDER_REPLICATE,
                      NULL) != FACET_OK)
        die(path);
    downsample_mask(cr->mask, p.hair_prob);
    face_portrait_free(&p);
    face_image_free(&im);
    if (c->cache && face_cache_put(c->cache, &key, "fauc", cr, sizeof *cr) !=
                        FACET_OK)
        die(c->cache);
    c->t_front += facet_now() - t0;
    return 1;
}

static void open_nets(ctx *c, const char *const *hair_names, int nhair)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/%s", c->weights, FACE_FACERES_FILE);
    if (wt_open(&c->wf_res, path, 0) != FACET_OK ||
        nn_faceres_create(&c->res, c->wf_res, BATCH, pooled_names, NPOOL) !=
            FACET_OK)
        die(path);
    snprintf(path, sizeof path, "%s/face_recognition.fct", c->weights);
    if (wt_open(&c->wf_rec, path, 0) != FACET_OK ||
        nn_frec_create(&c->rec, c->wf_rec, BATCH) != FACET_OK)
        die(path);
    snprintf(path, sizeof path, "%s/%s", c->weights, FACE_HAIR_FILE);
    if (wt_open(&c->wf_hair, path, 0) != FACET_OK ||
        nn_hair_create(&c->hair, c->wf_hair, 1, hair_names, nhair) !=
            FACET_OK)
        die(path);
    c->nhl = nhair;
    for (int k = 0; k < nhair; k++) {
        hair_layer *l = &c->hl[k];
        l->name = hair_names[k];
        for (int i = 0; i < nn_hair_value_count(c->hair); i++)
            if (!strcmp(nn_hair_value_name(c->hair, i), l->name))
                nn_hair_value_shape(c->hair, i, &l->c, &l->h, &l->w);
        if (l->h < 16 || l->h > MK || MK % l->h || l->w != l->h) {
            fprintf(stderr, "feature_auc: hair layer %s is %dx%d; candidates "
                    "need 16..%d cells a side dividing %d\n", l->name, l->h,
                    l->w, MK, MK);
            exit(1);
        }
        for (int t = 0; t < 2; t++) {
            l->xtx[t] = xcalloc((size_t)(l->c + 1) * (l->c + 1),
                                sizeof(double));
            l->xty[t] = xcalloc((size_t)l->c + 1, sizeof(double));
        }
    }
    c->in_res = facet_alloc((size_t)BATCH * 3 * BB * BB * sizeof(float));
    c->in_rec = facet_alloc((size_t)BATCH * 3 * DL * DL * sizeof(float));
    c->in_hair = facet_alloc((size_t)4 * HD * HD * sizeof(float));
    if (!c->in_res || !c->in_rec || !c->in_hair)
        die("buffers");
}

// faceres and the descriptor on nb crops, rows idx[] of s.
static void run_face_batch(ctx *c, pset *s, const int *idx, crops *const *cr,
                           int nb)
{
    nn_tensor x = nn_tensor_4d(c->in_res, nb, 3, BB, BB);
    nn_tensor xr = nn_tensor_4d(c->in_rec, nb, 3, DL, DL);
    float desc[BATCH * DESC_DIM];
    double t0 = facet_now();

    for (int i = 0; i < nb; i++) {
        nn_faceres_input_rgb8(c->in_res + (size_t)i * 3 * BB * BB, cr[i]->bb,
                              BB * 3);
        if (nn_frec_input(c->in_rec + (size_t)i * 3 * DL * DL, cr[i]->dl, DL,
                          DL, DL * 3, 0, 0, DL, DL) != FACET_OK)
            die("descriptor input");
    }
    if (nn_faceres_forward(c->res, &x) != FACET_OK ||
        nn_frec_forward(c->rec, desc, &xr) != FACET_OK)
        die("forward");
    for (int i = 0; i < nb; i++) {
        const nn_tensor *g = nn_faceres_feature(c->res, "global_pooling");
        memcpy(s->gp + (size_t)idx[i] * GP_DIM, g->data + (size_t)i * GP_DIM,
               GP_DIM * sizeof(float));
        memcpy(s->desc + (size_t)idx[i] * DESC_DIM, desc + i * DESC_DIM,
               DESC_DIM * sizeof(float));
        for (int k = 0; k < NPOOL; k++) {
            const nn_tensor *t = nn_faceres_feature(c->res, pooled_names[k]);
            const float *m = t->data + (size_t)i * FULL_DIM;
            FACET_ASSERT(nn_tensor_count(t) == (size_t)nb * FULL_DIM);
            if (k == 0)
                memcpy(s->full + (size_t)idx[i] * FULL_DIM, m,
                       FULL_DIM * sizeof(float));
            for (int z = 0; z < MAP_Z; z++) {
                double a = 0;
                for (int j = 0; j < MAP_HW; j++)
                    a += m[z * MAP_HW + j];
                s->pool[k][(size_t)idx[i] * MAP_Z + z] = (float)(a / MAP_HW);
            }
        }
    }
    c->t_nets += facet_now() - t0;
}

// The hair network on one head crop; per candidate layer the hair-region
// average (row `row` of l->pooled) and the regression sums (train when
// `row` is even).
static void run_hair(ctx *c, const crops *cr, int row)
{
    nn_tensor x = nn_tensor_4d(c->in_hair, 1, 4, HD, HD);
    double t0 = facet_now();

    nn_hair_input_rgb8(c->in_hair, cr->head, HD * 3, NULL);
    if (nn_hair_forward(c->hair, NULL, &x) != FACET_OK)
        die("hair forward");
    for (int k = 0; k < c->nhl; k++) {
        hair_layer *l = &c->hl[k];
        const nn_tensor *t = nn_hair_feature(c->hair, l->name);
        int f = MK / l->h, C = l->c, hw = l->h * l->w, t2 = row & 1;
        double wsum = 0, *acc = xcalloc((size_t)C, sizeof(double));
        double *xv = xcalloc((size_t)C + 1, sizeof(double));

        for (int y = 0; y < l->h; y++)
            for (int xx = 0; xx < l->w; xx++) {
                double m = 0;
                for (int v = 0; v < f; v++)
                    for (int u = 0; u < f; u++)
                        m += cr->mask[(y * f + v) * MK + xx * f + u];
                m /= f * f;
                for (int z = 0; z < C; z++) {
                    xv[z] = t->data[(size_t)z * hw + y * l->w + xx];
                    acc[z] += m * xv[z];
                }
                xv[C] = 1;
                wsum += m;
                for (int a = 0; a <= C; a++) {
                    double *r = l->xtx[t2] + (size_t)a * (C + 1);
                    for (int b = 0; b <= a; b++)
                        r[b] += xv[a] * xv[b];
                    l->xty[t2][a] += xv[a] * m;
                }
                l->yty[t2] += m * m;
                l->sy[t2] += m;
                l->cnt[t2] += 1;
            }
        for (int z = 0; z < C; z++)
            l->pooled[(size_t)row * C + z] = (float)(acc[z] / (wsum + 1e-9));
        free(acc);
        free(xv);
    }
    c->t_nets += facet_now() - t0;
}

// Every photo of s through the front end (unless aligned) and the nets.
static void extract(ctx *c, pset *s, int aligned, int hair)
{
    crops *buf = xcalloc(BATCH, sizeof(crops)), *cr[BATCH];
    int idx[BATCH], nb = 0, good = 0;

    if (hair)
        for (int k = 0; k < c->nhl; k++)
            c->hl[k].pooled = xcalloc((size_t)s->n * c->hl[k].c,
                                      sizeof(float));
    for (int i = 0; i < s->n; i++) {
        if (!get_crops(c, &buf[nb], s->path[i], aligned))
            continue;
        s->ok[i] = 1;
        if (hair)
            run_hair(c, &buf[nb], i);
        idx[nb] = i;
        cr[nb] = &buf[nb];
        good++;
        if (++nb == BATCH || i == s->n - 1) {
            run_face_batch(c, s, idx, cr, nb);
            nb = 0;
        }
        if (isatty(2))
            fprintf(stderr, "\r%s: %d/%d", s->name, i + 1, s->n);
    }
    if (nb)
        run_face_batch(c, s, idx, cr, nb);
    if (isatty(2))
        fprintf(stderr, "\n");
    printf("%s: %d people, %d photos, %d with a face\n", s->name, s->npeople,
           s->n, good);
    free(buf);
}

static void verify(const pset *s)
{
    size_t np;
    double a;

    printf("| %s | feature | dim | AUC |\n", s->name);
    a = pair_auc(s->gp, GP_DIM, GP_DIM, s->person, s->ok, s->n, &np);
    printf("| %s | faceres global_pooling | %d | %.4f |\n", s->name, GP_DIM,
           a);
    for (int k = 0; k < NPOOL; k++) {
        a = pair_auc(s->pool[k], MAP_Z, MAP_Z, s->person, s->ok, s->n, &np);
        printf("| %s | %s, pooled | %d | %.4f |\n", s->name, pooled_names[k],
               MAP_Z, a);
    }
    a = pair_auc(s->full, FULL_DIM, FULL_DIM, s->person, s->ok, s->n, &np);
    printf("| %s | conv_pw_11_relu, full map | %d | %.4f |\n", s->name,
           FULL_DIM, a);
    a = pair_auc(s->desc, DESC_DIM, DESC_DIM, s->person, s->ok, s->n, &np);
    printf("| %s | dlib ResNet descriptor | %d | %.4f |\n", s->name, DESC_DIM,
           a);
    printf("(%s: %zu same-person pairs)\n", s->name, np);
}

// ---------------------------------------------------------------------------
// Part 2: learned metric on the full map against pooling

// Rows of the ok photos of person p (p < 0: all), in order.
static int rows_of(int *out, const pset *s, int p)
{
    int n = 0;

    for (int i = 0; i < s->n; i++)
        if (s->ok[i] && (p < 0 || s->person[i] == p))
            out[n++] = i;
    return n;
}

// Projections (M_ind . x~, M_arb . x~) of a feature vector.
static void project(double out[2], const face_metric *m, const float *f,
                    float *tmp)
{
    double a = 0, b = 0;

    face_metric_scale(m, tmp, f);
    for (int t = 0; t < m->D; t++) {
        a += (double)m->m_ind[t] * tmp[t];
        b += (double)m->m_arb[t] * tmp[t];
    }
    out[0] = a;
    out[1] = b;
}

static double metric_auc(const float *fi, const float *fa, int D,
                         const int *ri, int ni, const int *ra, int na,
                         int ntr, uint64_t seed, char *info, size_t ninfo)
{
    const float **ti = xcalloc((size_t)ntr, sizeof(*ti));
    const float **ta = xcalloc((size_t)ntr, sizeof(*ta));
    face_metric_opts o;
    face_metric m;
    double (*pi)[2] = xcalloc((size_t)ni, sizeof(*pi));
    double (*pa)[2] = xcalloc((size_t)na, sizeof(*pa));
    float *tmp = facet_alloc((size_t)D * sizeof(float));
    eval_scored *v = xcalloc((size_t)(ni + na), sizeof(*v));
    size_t nv = 0;
    double auc;

    for (int k = 0; k < ntr; k++) {
        ti[k] = fi + (size_t)ri[k] * D;
        ta[k] = fa + (size_t)ra[k] * D;
    }
    face_metric_defaults(&o);
    o.seed = seed;
    if (!tmp || face_metric_learn(&m, ti, ntr, ta, ntr, D, &o) != FACET_OK)
        die("metric");
    snprintf(info, ninfo, "viol. %.3f -> %.3f, %ld it., %ld upd., %s",
             m.violation_init, m.violation_final, m.iterations, m.updates,
             face_metric_stop_name(m.stop));
    for (int k = 0; k < ni; k++)
        project(pi[k], &m, fi + (size_t)ri[k] * D, tmp);
    for (int k = 0; k < na; k++)
        project(pa[k], &m, fa + (size_t)ra[k] * D, tmp);
    // Held-out portraits of both sets: mean d2 to P_arb train minus mean
    // d2 to P_ind train.
    for (int set = 0; set < 2; set++) {
        int n = set ? na : ni;
        double (*p)[2] = set ? pa : pi;
        for (int k = ntr; k < n; k++) {
            double di = 0, da = 0;
            for (int j = 0; j < ntr; j++) {
                double u0 = p[k][0] - pi[j][0], u1 = p[k][1] - pi[j][1];
                double w0 = p[k][0] - pa[j][0], w1 = p[k][1] - pa[j][1];
                di += u0 * u0 + u1 * u1;
                da += w0 * w0 + w1 * w1;
            }
            v[nv].s = (da - di) / ntr;
            v[nv++].pos = !set;
        }
    }
    auc = eval_auc(v, nv);
    face_metric_free(&m);
    free(ti);
    free(ta);
    free(pi);
    free(pa);
    facet_free(tmp);
    free(v);
    return auc;
}

static double cam_auc(const float *fi, const float *fa, const int *ri,
                      int ni, const int *ra, int na, int ntr)
{
    const float **ti = xcalloc((size_t)ntr, sizeof(*ti));
    const float **ta = xcalloc((size_t)ntr, sizeof(*ta));
    eval_scored *v = xcalloc((size_t)(ni + na), sizeof(*v));
    size_t nv = 0;
    face_cam cam;
    double auc;

    for (int k = 0; k < ntr; k++) {
        ti[k] = fi + (size_t)ri[k] * MAP_Z;
        ta[k] = fa + (size_t)ra[k] * MAP_Z;
    }
    if (face_cam_train(&cam, ti, ntr, ta, ntr, MAP_Z, NULL) != FACET_OK)
        die("cam");
    for (int set = 0; set < 2; set++) {
        int n = set ? na : ni;
        for (int k = ntr; k < n; k++) {
            double sc[2];
            const float *F = set ? fa + (size_t)ra[k] * MAP_Z
                                 : fi + (size_t)ri[k] * MAP_Z;
            if (face_cam_scores(sc, NULL, &cam, F) != FACET_OK)
                die("cam scores");
            v[nv].s = sc[0] - sc[1];
            v[nv++].pos = !set;
        }
    }
    auc = eval_auc(v, nv);
    face_cam_free(&cam);
    free(ti);
    free(ta);
    free(v);
    return auc;
}

// One row of the part 2 table: P_ind rows ri of si against P_arb rows ra
// of sa, the first ntr of each training.
static void compare(const char *label, const pset *si, const int *ri, int ni,
                    const pset *sa, const int *ra, int na, int ntr,
                    uint64_t seed)
{
    double af, ap, ac, t0 = facet_now();
    char vf[128], vp[128];

    if (ni <= ntr || na <= ntr) {
        printf("| %s | (%d and %d usable photos, need > %d each) |\n", label,
               ni, na, ntr);
        return;
    }
    af = metric_auc(si->full, sa->full, FULL_DIM, ri, ni, ra, na, ntr, seed,
                    vf, sizeof vf);
    ap = metric_auc(si->pool[0], sa->pool[0], MAP_Z, ri, ni, ra, na, ntr,
                    seed, vp, sizeof vp);
    ac = cam_auc(si->pool[0], sa->pool[0], ri, ni, ra, na, ntr);
    printf("| %s | %d/%d | %d/%d | %.4f (%s) | %.4f (%s) | %.4f | "
           "%.1f s |\n", label, ntr, ntr, ni - ntr, na - ntr, af, vf, ap, vp,
           ac, facet_now() - t0);
    fflush(stdout);
}

// Each LFW person against celebahq, then against the other LFW people
// (taken in turn, one photo of each, so both are in the training part).
static void full_vs_pooled(const pset *lfw, const pset *arb, int ntr,
                           uint64_t seed)
{
    int *ra = xcalloc((size_t)arb->n, sizeof(int));
    int *ri = xcalloc((size_t)lfw->n, sizeof(int));
    int *ro = xcalloc((size_t)lfw->n, sizeof(int));
    int *pos = xcalloc((size_t)lfw->npeople, sizeof(int));
    int na = rows_of(ra, arb, -1);
    char label[512];

    printf("\n| P_ind vs P_arb | train ind/arb | held-out ind/arb | metric, "
           "full map | metric, pooled | CAM, "
           "pooled | time |\n");
    for (int p = 0; p < lfw->npeople; p++) {
        int ni = rows_of(ri, lfw, p);
        snprintf(label, sizeof label, "%s vs celebahq", lfw->people[p]);
        compare(label, lfw, ri, ni, arb, ra, na, ntr, seed);
    }
    for (int p = 0; p < lfw->npeople; p++) {
        int ni = rows_of(ri, lfw, p), no = 0, more = 1;
        memset(pos, 0, (size_t)lfw->npeople * sizeof(int));
        while (more) {
            more = 0;
            for (int q = 0; q < lfw->npeople; q++) {
                if (q == p)
                    continue;
                while (pos[q] < lfw->n &&
                       (!lfw->ok[pos[q]] || lfw->person[pos[q]] != q))
                    pos[q]++;
                if (pos[q] < lfw->n) {
                    ro[no++] = pos[q]++;
                    more = 1;
                }
            }
        }
        snprintf(label, sizeof label, "%s vs other LFW", lfw->people[p]);
        compare(label, lfw, ri, ni, lfw, ro, no, ntr, seed);
    }
    free(ra);
    free(ri);
    free(ro);
    free(pos);
}

// ---------------------------------------------------------------------------
// Part 3: hair layers

// Solve the SPD system A x = b (n x n, lower triangle filled) in place by
// Cholesky; 0 if A is not positive definite.
static int cholesky_solve(double *A, double *b, int n)
{
    for (int j = 0; j < n; j++) {
        double d = A[(size_t)j * n + j];
        for (int k = 0; k < j; k++)
            d -= A[(size_t)j * n + k] * A[(size_t)j * n + k];
        if (d <= 0)
            return 0;
        d = sqrt(d);
        A[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++)
                s -= A[(size_t)i * n + k] * A[(size_t)j * n + k];
            A[(size_t)i * n + j] = s / d;
        }
    }
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= A[(size_t)i * n + k] * b[k];
        b[i] = s / A[(size_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int k = i + 1; k < n; k++)
            s -= A[(size_t)k * n + i] * b[k];
        b[i] = s / A[(size_t)i * n + i];
    }
    return 1;
}

// Held-out R^2 of the ridge regression of p(hair) on a cell's features.
static double hair_r2(const hair_layer *l)
{
    int n = l->c + 1;
    double *A = xcalloc((size_t)n * n, sizeof(double));
    double *w = xcalloc((size_t)n, sizeof(double));
    double tr = 0, sse, sst, q = 0, lin = 0;

    memcpy(A, l->xtx[0], (size_t)n * n * sizeof(double));
    memcpy(w, l->xty[0], (size_t)n * sizeof(double));
    for (int i = 0; i < n; i++)
        tr += A[(size_t)i * n + i];
    for (int i = 0; i < n - 1; i++)   // no penalty on the constant
        A[(size_t)i * n + i] += 1e-6 * tr / n;
    if (!cholesky_solve(A, w, n)) {
        free(A);
        free(w);
        return NAN;
    }
    // Test SSE = w' X'X w - 2 w' X'y + y'y on the test sums (lower
    // triangle of X'X).
    for (int i = 0; i < n; i++) {
        const double *r = l->xtx[1] + (size_t)i * n;
        for (int j = 0; j < n; j++)
            q += w[i] * w[j] * (j <= i ? r[j] : l->xtx[1][(size_t)j * n + i]);
        lin += w[i] * l->xty[1][i];
    }
    sse = q - 2 * lin + l->yty[1];
    sst = l->yty[1] - l->sy[1] * l->sy[1] / l->cnt[1];
    free(A);
    free(w);
    return 1 - sse / sst;
}

static void hair_report(const ctx *c, const pset *s)
{
    printf("\n| hair layer | C x H x W | identity AUC, hair-region average | "
           "p(hair) R^2, held out |\n");
    for (int k = 0; k < c->nhl; k++) {
        const hair_layer *l = &c->hl[k];
        size_t np;
        double a = pair_auc(l->pooled, (size_t)l->c, (size_t)l->c, s->person,
                            s->ok, s->n, &np);
        printf("| %s%s | %d x %d x %d | %.4f | %.4f |\n", l->name,
               strcmp(l->name, FACE_HAIR_LAYER_DEFAULT) ? "" : " (default)",
               l->c, l->h, l->w, a, hair_r2(l));
    }
}

// The library's backbone on one crop against the conv_pw_11 map kept
// here: the layer measured is the layer facet uses.
static void check_backbone(const ctx *c, const pset *s)
{
    face_backbone *b;
    face_image im = {0};
    crops *cr = xcalloc(1, sizeof(crops));
    float *f = facet_alloc(FULL_DIM * sizeof(float));
    double md = 0;
    int i = 0;

    while (i < s->n && !s->ok[i])
        i++;
    if (i == s->n || !f)
        return;
    if (face_backbone_open_layer(&b, c->weights, FACE_BACKBONE_FACERES,
                                 FACE_FACERES_LAYER, 1) != FACET_OK ||
        face_backbone_dim(b) != FULL_DIM)
        die("backbone");
    get_crops((ctx *)c, cr, s->path[i], 0);
    im.w = im.h = BB;
    im.stride = BB * 3;
    im.px = cr->bb;
    if (face_backbone_run(b, &im, 1, f) != FACET_OK)
        die("backbone run");
    for (size_t t = 0; t < FULL_DIM; t++)
        md = fmax(md, fabs(f[t] - s->full[(size_t)i * FULL_DIM + t]));
    printf("check: face_backbone %s vs the map measured here, max |diff| "
           "%.3g on %s\n", face_backbone_model_id(b), md, s->path[i]);
    face_backbone_close(b);
    facet_free(f);
    free(cr);
}

int main(int argc, char **argv)
{
    ctx c = {0};
    const char *hair_names[MAX_HAIR];
    int nhair = 0, max = 100, max_al = 30, narb = 120, ntr = 60;
    int do_al = 1, do_metric = 1, do_hair = 1;
    uint64_t seed = 1;
    char dir[4096], *hl_arg = NULL;
    pset al, lfw, arb;
    double t0 = facet_now();

    c.data = getenv("FACET_DATA") ? getenv("FACET_DATA") : "../shared/data";
    c.weights = getenv("FACET_WEIGHTS") ? getenv("FACET_WEIGHTS") : "weights";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-aligned"))
            do_al = 0;
        else if (!strcmp(a, "--no-metric"))
            do_metric = 0;
        else if (!strcmp(a, "--no-hair"))
            do_hair = 0;
        else if (!v)
            goto usage;
        else if (!strcmp(a, "--data"))
            c.data = v, i++;
        else if (!strcmp(a, "--weights"))
            c.weights = v, i++;
        else if (!strcmp(a, "--cache"))
            c.cache = v, i++;
        else if (!strcmp(a, "--max"))
            max = atoi(v), i++;
        else if (!strcmp(a, "--max-aligned"))
            max_al = atoi(v), i++;
        else if (!strcmp(a, "--arb"))
            narb = atoi(v), i++;
        else if (!strcmp(a, "--train"))
            ntr = atoi(v), i++;
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--hair-layers"))
            hl_arg = strdup(v), i++;
        else
            goto usage;
    }
    if (max < 2 || max_al < 2 || ntr < 2 || narb < 2)
        goto usage;
    if (hl_arg) {
        for (char *t = strtok(hl_arg, ","); t && nhair < MAX_HAIR;
             t = strtok(NULL, ","))
            hair_names[nhair++] = t;
    } else {
        nhair = (int)(sizeof hair_default / sizeof *hair_default);
        memcpy(hair_names, hair_default, sizeof hair_default);
    }
    open_nets(&c, hair_names, nhair);
    {
        // The hair network's id goes into the key (face_hairnet_model_id
        // needs an open net).
        face_hairnet *h;
        if (face_hairnet_open(&h, c.weights, NULL, 1) != FACET_OK)
            die("hair network");
        snprintf(c.salt, sizeof c.salt, "feature_auc crops v1 %s",
                 face_hairnet_model_id(h));
        face_hairnet_close(h);
    }
    printf("feature_auc: data %s, weights %s, %d threads\n", c.data,
           c.weights, facet_threads());

    if (do_al) {
        snprintf(dir, sizeof dir, "%s/aligned112", c.data);
        list_set(&al, "aligned112", dir, NULL, max_al);
        extract(&c, &al, 1, 0);
        verify(&al);
    }
    snprintf(dir, sizeof dir, "%s/lfw", c.data);
    list_set(&lfw, "lfw", dir, NULL, max);
    extract(&c, &lfw, 0, do_hair);
    check_backbone(&c, &lfw);
    verify(&lfw);
    if (do_hair)
        hair_report(&c, &lfw);
    if (do_metric) {
        snprintf(dir, sizeof dir, "%s/celebahq", c.data);
        list_set(&arb, "celebahq", dir, "images", narb);
        extract(&c, &arb, 0, 0);
        full_vs_pooled(&lfw, &arb, ntr, seed);
    }
    printf("\nfront end %.1f s, networks %.1f s, total %.1f s; %d photos "
           "without a face left out\n", c.t_front, c.t_nets,
           facet_now() - t0, c.skipped);
    return 0;

usage:
    fprintf(stderr, "usage: feature_auc [--data DIR] [--weights DIR] "
            "[--cache DIR] [--max N] [--max-aligned N] [--arb N] [--train N] "
            "[--seed S] [--hair-layers A,B,...] [--no-aligned] [--no-metric] "
            "[--no-hair]\n");
    return 2;
}

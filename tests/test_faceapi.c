// test_faceapi.c - the face-api networks (nn/net_ssd, net_lm68, net_frec)
// and their converted weights against TF.js: face-api 1.7.15 on TF.js 4.22
// (WASM backend) run on the same photo by tools/fixtures/
// faceapi_fixtures.js, whose outputs are in tests/data/faceapi/.
//
// The photo is research data and is not committed: the test reads
// $FACET_DATA/lfw/Tony_Blair/Tony_Blair_0001.jpg (the file and crop named
// in meta.txt; FACET_DATA defaults to ../shared/data, relative to the
// repository root), decodes it with stb_image as the generator did (through
// tools/fixtures/stb_decode) and crops rows 20..229, so its pixels are
// bit-identical to those TF.js saw. Without the photo, the checks that need
// it (networks, input builders, batches) are skipped with a "skipped:"
// line; the weight, NMS, post-processing and bad-input checks still run.
//
// Checked, for every ISA path:
// - the converter: weight tensors in weights/*.fct equal TF.js's decoded
//   values bit for bit;
// - the input builders (pad to square, bilinear resize, normalisation):
//   bit-identical to TF.js (FNV-1a 64 digests of TF.js's input tensors);
// - each network's final outputs and several intermediate feature maps;
// - the detector's non-maximum suppression and box mapping, on TF.js's own
//   boxes (exact) and on ours (same count, IoU, scores);
// - landmark post-processing to image points;
// - batches and 1 vs 2 threads give bit-identical results;
// - wrong or broken weight files and bad arguments fail cleanly.
//
// Tolerance: a tensor passes when its relative error in the max norm,
// max|got - want| / max|want|, is <= 1e-4 (TF.js's pure-JS and WASM
// backends differ by ~4e-7 on the descriptor; facet folds batch norms and
// scale layers into the weights and sums in a different order, so a few
// 1e-6 is expected). The relative L2 error is printed beside it.
//
// Needs {ssd_mobilenetv1,face_landmark_68,face_recognition}.fct from
// `make weights` in $FACET_WEIGHTS (default weights/, relative to the
// current folder); fails, saying so, without them.
//
// Limitations:
// - One photo and one face: parity, not accuracy.
// - A digest mismatch says that an input differs, not where or by how much.
//
// This file holds the stb_image implementation (this test is its own
// executable).
#include "check.h"

#include <unistd.h>

#include "../nn/net_ssd.h"
#include "../nn/net_lm68.h"
#include "../nn/net_frec.h"

#include "stb_impl.h"

#define FIXTURES "tests/data/faceapi/"
#define MAX_META 128
#define MAX_VALUES 160
#define TOL_REL 1e-4

// ---------------------------------------------------------------------------
// Fixtures: meta.txt lines "tensor KEY STRIDE DIMS...", "digest KEY HEX
// DIMS...", "weight MODEL KEY NAME", "file KEY PATH" and "KEY NUMBERS...".

typedef struct entry {
    char kind[8];        // "tensor", "digest", "weight", "file" or "num"
    char key[64];
    char name[128];      // weight: tensor name; file: path; digest: hex
    char model[32];      // weight: model
    int stride, ndim, dims[4];
    int count;           // num: how many numbers
    double v[MAX_VALUES];
} entry;

static entry meta[MAX_META];
static int meta_count;

// The next space-separated token of a line, "" at its end.
static char *token(char **save)
{
    static char empty[1];
    char *t = strtok_r(NULL, " \n", save);

    return t ? t : empty;
}

static int load_meta(void)
{
    FILE *f = fopen(FIXTURES "meta.txt", "r");
    char line[8192];

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f) && meta_count < MAX_META) {
        entry *e = &meta[meta_count];
        char *save = NULL, *tok = strtok_r(line, " \n", &save);

        memset(e, 0, sizeof *e);
        if (!tok || tok[0] == '#')
            continue;
        if (!strcmp(tok, "tensor")) {
            snprintf(e->kind, sizeof e->kind, "tensor");
            snprintf(e->key, sizeof e->key, "%s", token(&save));
            e->stride = atoi(token(&save));
            while (*(tok = token(&save)) && e->ndim < 4)
                e->dims[e->ndim++] = atoi(tok);
            if (e->stride < 1)
                e->stride = 1;
        } else if (!strcmp(tok, "digest")) {
            snprintf(e->kind, sizeof e->kind, "digest");
            snprintf(e->key, sizeof e->key, "%s", token(&save));
            snprintf(e->name, sizeof e->name, "%s", token(&save));
            while (*(tok = token(&save)) && e->ndim < 4)
                e->dims[e->ndim++] = atoi(tok);
        } else if (!strcmp(tok, "file")) {
            snprintf(e->kind, sizeof e->kind, "file");
            snprintf(e->key, sizeof e->key, "%s", token(&save));
            snprintf(e->name, sizeof e->name, "%s", token(&save));
        } else if (!strcmp(tok, "weight")) {
            snprintf(e->kind, sizeof e->kind, "weight");
            snprintf(e->model, sizeof e->model, "%s", token(&save));
            snprintf(e->key, sizeof e->key, "%s", token(&save));
            snprintf(e->name, sizeof e->name, "%s", token(&save));
        } else {
            snprintf(e->kind, sizeof e->kind, "num");
            snprintf(e->key, sizeof e->key, "%s", tok);
            while (*(tok = token(&save)) && e->count < MAX_VALUES)
                e->v[e->count++] = strtod(tok, NULL);
        }
        meta_count++;
    }
    fclose(f);
    return meta_count > 0;
}

static const entry *find(const char *kind, const char *key)
{
    for (int i = 0; i < meta_count; i++)
        if (!strcmp(meta[i].kind, kind) && !strcmp(meta[i].key, key))
            return &meta[i];
    return NULL;
}

// The numbers of entry `key` (NULL and a failed check when absent or
// shorter than `want`).
static const double *nums(const char *key, int want)
{
    const entry *e = find("num", key);

    CHECKF(e && e->count >= want, "fixture %s missing or short", key);
    return e && e->count >= want ? e->v : NULL;
}

// A .f32 fixture: malloc'ed floats, count in *n.
static float *load_f32(const char *key, size_t *n)
{
    char path[256];
    FILE *f;
    long len;
    float *p;

    snprintf(path, sizeof path, FIXTURES "%s.f32", key);
    f = fopen(path, "rb");
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = p ? (size_t)len / 4 : 0;
    return p;
}

// ---------------------------------------------------------------------------
// Comparison

typedef struct err {
    double max_rel, l2_rel, max_abs;
    size_t count;
} err;

// Layout of our tensor relative to the fixture's: NCHW against TF's NHWC,
// or the same flat order.
enum { FLAT = 0, NCHW = 1 };

// Compare `got` with fixture `key` (sub-sampled by its stride).
static err compare(const float *got, size_t got_count, const char *key,
                   int layout)
{
    const entry *e = find("tensor", key);
    err r = {INFINITY, INFINITY, INFINITY, 0};
    size_t n, total = 1;
    float *want;
    double dmax = 0, wmax = 0, d2 = 0, w2 = 0;

    if (!e || !(want = load_f32(key, &n))) {
        CHECKF(0, "fixture %s missing", key);
        return r;
    }
    for (int i = 0; i < e->ndim; i++)
        total *= (size_t)e->dims[i];
    CHECKF(total == got_count, "%s: %zu elements, fixture has %zu", key,
           got_count, total);
    if (total != got_count) {
        free(want);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = i * (size_t)e->stride, j = at;
        double d;
        if (layout == NCHW && e->ndim == 4) {
            int c = e->dims[3], w = e->dims[2], h = e->dims[1];
            size_t ch = at % c, x = at / c % w, y = at / c / w % h;
            size_t b = at / c / w / h;
            j = ((b * c + ch) * h + y) * w + x;
        }
        d = fabs((double)got[j] - want[i]);
        if (!(d <= dmax))
            dmax = isnan(d) ? INFINITY : d;
        if (fabs(want[i]) > wmax)
            wmax = fabs(want[i]);
        d2 += d * d;
        w2 += (double)want[i] * want[i];
    }
    free(want);
    r.max_abs = dmax;
    r.max_rel = wmax > 0 ? dmax / wmax : dmax;
    r.l2_rel = w2 > 0 ? sqrt(d2 / w2) : sqrt(d2);
    r.count = n;
    return r;
}

// Tensor parity within TOL_REL (max-norm relative), printed once.
static void check_tensor(const nn_tensor *t, const char *key, int layout,
                         const char *isa)
{
    err r;

    CHECKF(t != NULL, "%s: feature map not available", key);
    if (!t)
        return;
    r = compare(t->data, nn_tensor_count(t), key, layout);
    printf("  %-6s %-22s max rel %.2e  L2 rel %.2e  (%zu values)\n", isa,
               key, r.max_rel, r.l2_rel, r.count);
    CHECKF(r.max_rel <= TOL_REL, "%s (%s): max-norm relative error %.3g > "
           "%g", key, isa, r.max_rel, TOL_REL);
}

// FNV-1a 64 over bytes, continuing from h.
static uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

// Bit-identical to TF.js's tensor `key`, of which the fixtures hold only
// the digest of its float32 bytes in NHWC order (the photo's pixels are not
// committed, nor anything that holds them).
static void check_digest(const float *got, size_t count, const char *key,
                         int layout)
{
    const entry *e = find("digest", key);
    uint64_t h = 0xcbf29ce484222325u;
    size_t total = 1;
    char hex[20];

    CHECKF(e && e->ndim == 4, "fixture digest %s missing", key);
    if (!e || e->ndim != 4)
        return;
    for (int i = 0; i < e->ndim; i++)
        total *= (size_t)e->dims[i];
    CHECKF(total == count, "%s: %zu elements, fixture has %zu", key, count,
           total);
    if (total != count)
        return;

    // Hash in TF.js's element order.
    for (size_t at = 0; at < total; at++) {
        size_t j = at;
        if (layout == NCHW) {
            size_t c = (size_t)e->dims[3], w = (size_t)e->dims[2];
            size_t hh = (size_t)e->dims[1];
            size_t ch = at % c, x = at / c % w, y = at / c / w % hh;
            size_t b = at / c / w / hh;
            j = ((b * c + ch) * hh + y) * w + x;
        }
        h = fnv1a64(h, &got[j], sizeof(float));
    }
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    CHECKF(!strcmp(hex, e->name), "%s: digest %s, TF.js %s (must be "
           "bit-identical)", key, hex, e->name);
}

// ---------------------------------------------------------------------------
// Inputs

static uint8_t *photo;
static int photo_w, photo_h;

// The photo's size, from meta.txt (the NMS checks need no pixels).
static int load_photo_size(void)
{
    const double *d = nums("photo", 2);

    if (!d)
        return 0;
    photo_w = (int)d[0];
    photo_h = (int)d[1];
    return photo_w > 0 && photo_h > 0;
}

// The photo's pixels: the file named in meta.txt, under FACET_DATA,
// decoded by stb_image and cropped as the generator did. 0 without the
// file (a visible skip, no failure); a file that is there but does not
// decode to the expected size fails.
static int load_photo(void)
{
    const entry *file = find("file", "photo");
    const double *crop = nums("photo_crop", 4);
    const char *data = check_data_dir();
    char path[1024];
    uint8_t *full;
    int w, h, comp, x0, y0;
    FILE *f;

    CHECKF(file != NULL, "fixture file photo missing");
    if (!file || !crop)
        return 0;
    snprintf(path, sizeof path, "%s/%s", data, file->name);
    if (!(f = fopen(path, "rb"))) {
        printf("skipped: FACET_DATA (%s) not found: no %s; the networks, "
               "input builders and batch checks need the photo\n", data,
               file->name);
        return 0;
    }
    fclose(f);

    // Decode to RGB8, then the integer crop (x0, y0, photo_w x photo_h).
    full = stbi_load(path, &w, &h, &comp, 3);
    CHECKF(full != NULL, "%s: %s", path, full ? "" : stbi_failure_reason());
    if (!full)
        return 0;
    x0 = (int)crop[0];
    y0 = (int)crop[1];
    CHECKF(crop[2] == photo_w && crop[3] == photo_h && x0 >= 0 && y0 >= 0 &&
           x0 + photo_w <= w && y0 + photo_h <= h, "%s: %dx%d does not "
           "hold the crop %g,%g %gx%g", path, w, h, crop[0], crop[1],
           crop[2], crop[3]);
    if (!(x0 >= 0 && y0 >= 0 && x0 + photo_w <= w && y0 + photo_h <= h) ||
        !(photo = malloc((size_t)photo_w * photo_h * 3))) {
        stbi_image_free(full);
        return 0;
    }
    for (int y = 0; y < photo_h; y++)
        memcpy(photo + (size_t)y * photo_w * 3,
               full + ((size_t)(y0 + y) * w + x0) * 3, (size_t)photo_w * 3);
    stbi_image_free(full);
    return 1;
}

// Model `name` from $FACET_WEIGHTS (default weights/, relative to the
// current folder). wt_open's detail names the file and, when it is missing,
// says to run `make weights`.
static wt_file *open_model(const char *name)
{
    const char *dir = check_weights_dir();
    char path[1024];
    wt_file *w = NULL;

    snprintf(path, sizeof path, "%s/%s.fct", dir, name);
    if (wt_open(&w, path, 0) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return NULL;
    }
    return w;
}

// ---------------------------------------------------------------------------
// Converter: weights bit-identical to TF.js's decoding.

static void test_weights(wt_file *const models[3], const char *const names[3])
{
    int checked = 0;

    for (int i = 0; i < meta_count; i++) {
        const entry *e = &meta[i];
        const entry *t;
        const wt_tensor_info *ti = NULL;
        size_t n;
        float *want;
        int same = 1;

        if (strcmp(e->kind, "weight"))
            continue;
        for (int m = 0; m < 3; m++)
            if (models[m] && !strcmp(names[m], e->model))
                ti = wt_tensor_find(models[m], e->name);
        t = find("tensor", e->key);
        want = load_f32(e->key, &n);
        CHECKF(ti && t && want, "weight %s/%s: tensor or fixture missing",
               e->model, e->name);
        if (ti && t && want) {
            for (size_t j = 0; j < n && same; j++) {
                size_t at = j * (size_t)t->stride;
                same = at < ti->count &&
                       !memcmp(&ti->data[at], &want[j], sizeof(float));
            }
            CHECKF(same, "weight %s/%s differs from TF.js's decoding",
                   e->model, e->name);
            checked++;
        }
        free(want);
    }
    CHECKF(checked >= 5, "only %d weight fixtures checked", checked);
}

// ---------------------------------------------------------------------------
// Detector

static double box_iou(const double *a, const double *b)
{
    double x0 = fmax(a[0], b[0]), y0 = fmax(a[1], b[1]);
    double x1 = fmin(a[0] + a[2], b[0] + b[2]);
    double y1 = fmin(a[1] + a[3], b[1] + b[3]);
    double inter = fmax(x1 - x0, 0) * fmax(y1 - y0, 0);

    return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

// dets against fixture KEY (score, x, y, w, h per detection) with count
// KEY_count: exact, or same count with IoU > 0.99 and scores within 1e-4.
static void check_dets(const nn_ssd_det *d, int n, const char *key,
                       int exact, const char *isa)
{
    char ckey[64];
    const double *cnt, *v;

    snprintf(ckey, sizeof ckey, "%s_count", key);
    cnt = nums(ckey, 1);
    if (!cnt)
        return;
    CHECKF(n == (int)cnt[0], "%s (%s): %d detections, TF.js %d", key, isa,
           n, (int)cnt[0]);
    if (n != (int)cnt[0] || n == 0 || !(v = nums(key, 5 * n)))
        return;
    for (int i = 0; i < n; i++) {
        const double *want = v + 5 * i;
        double got[4] = {d[i].x, d[i].y, d[i].w, d[i].h};
        if (exact) {
            CHECKF((double)d[i].score == want[0] && got[0] == want[1] &&
                   got[1] == want[2] && got[2] == want[3] &&
                   got[3] == want[4], "%s: detection %d differs from "
                   "face-api's", key, i);
        } else {
            double iou = box_iou(got, want + 1);
            printf("  %-6s %s[%d] IoU %.6f score %.6f (TF.js %.6f)\n",
                       isa, key, i, iou, d[i].score, want[0]);
            // Same detection: boxes overlap almost exactly; scores differ
            // by the network's rounding (sigmoid slope <= 1/4).
            CHECKF(iou > 0.99, "%s (%s) detection %d: IoU %.4f", key, isa,
                   i, iou);
            CHECK_NEAR(d[i].score, want[0], 1e-4);
        }
    }
}

// A per-layer profile: `steps` records with non-negative times, the step
// `name` a convolution of `flops` FLOPs (2 x multiply-adds).
static void check_profile(const nn_faceapi_profile *p, int steps,
                          const char *name, double flops)
{
    int found = 0;

    CHECKF(p->count == steps, "profile: %d steps, want %d", p->count, steps);
    for (int i = 0; i < p->count && i < NN_FACEAPI_MAX_STEPS; i++) {
        CHECK(p->step[i].seconds >= 0 && p->step[i].cpu_seconds >= 0);
        if (!strcmp(p->step[i].name, name)) {
            found = 1;
            CHECK(p->step[i].conv != NULL);
            CHECKF(p->step[i].flops == flops, "profile: %s has %.0f FLOPs, "
                   "want %.0f", name, p->step[i].flops, flops);
        }
    }
    CHECKF(found, "profile: no step %s", name);
}

static void test_ssd(const wt_file *w, const char *isa)
{
    static const char *const keep[] = {"input", "conv0", "conv11", "conv13",
                                       "pred1", "pred7"};
    nn_ssd *s = NULL;
    nn_ssd_det dets[100];
    const nn_tensor *x;
    int n = -1;
    facet_status st = nn_ssd_create(&s, w, 1, keep, 6);

    CHECKF(st == FACET_OK, "ssd create: %s", facet_error());
    if (!s)
        return;

    // The whole detector at face-api's threshold (0.5).
    CHECK(nn_ssd_detect(s, dets, 100, &n, photo, photo_w, photo_h,
                        (size_t)photo_w * 3, 0.5) == FACET_OK);
    check_dets(dets, n, "ssd_nms_50", 0, isa);

    // Its input (pad at the bottom, resize, x / 127.5 - 1): bit-identical.
    x = nn_ssd_feature(s, "input");
    CHECK(x != NULL);
    if (x)
        check_digest(x->data, nn_tensor_count(x), "ssd_input", NCHW);

    // Feature maps and raw outputs.
    check_tensor(nn_ssd_feature(s, "conv0"), "ssd_conv0", NCHW, isa);
    check_tensor(nn_ssd_feature(s, "conv11"), "ssd_conv11", NCHW, isa);
    check_tensor(nn_ssd_feature(s, "conv13"), "ssd_conv13", NCHW, isa);
    check_tensor(nn_ssd_feature(s, "pred1"), "ssd_pred1", NCHW, isa);
    check_tensor(nn_ssd_feature(s, "pred7"), "ssd_pred7", NCHW, isa);
    check_tensor(nn_ssd_feature(s, "box_enc"), "ssd_box_enc", FLAT, isa);
    check_tensor(nn_ssd_feature(s, "class_pred"), "ssd_class_pred", FLAT,
                 isa);
    check_tensor(nn_ssd_feature(s, "boxes"), "ssd_boxes", FLAT, isa);
    check_tensor(nn_ssd_feature(s, "scores"), "ssd_scores", FLAT, isa);
    CHECK(nn_ssd_feature(s, "conv5") == NULL);   // not kept
    CHECK(nn_ssd_feature(s, "nonsense") == NULL);

    // Selection again at a low threshold (many overlapping candidates).
    n = nn_ssd_select(s, dets, 100, 0, photo_w, photo_h, 0.05);
    check_dets(dets, n, "ssd_nms_5", 0, isa);

    // The per-layer profile: the normalisation, 35 convolutions, 6 box
    // predictors and the decoding; the scores do not change with it on,
    // and it records nothing once off. conv1: 32 -> 64 channels at 256x256.
    {
        float *scores = malloc(NN_SSD_ANCHORS * sizeof(float));
        x = nn_ssd_feature(s, "scores");
        if (scores && x) {
            memcpy(scores, x->data, NN_SSD_ANCHORS * sizeof(float));
            nn_ssd_set_profile(s, 1);
            CHECK(nn_ssd_detect(s, dets, 100, &n, photo, photo_w, photo_h,
                                (size_t)photo_w * 3, 0.5) == FACET_OK);
            check_profile(nn_ssd_profile(s), 43, "conv1",
                          2.0 * 64 * 256 * 256 * 32);
            x = nn_ssd_feature(s, "scores");
            CHECK(x && !memcmp(scores, x->data,
                               NN_SSD_ANCHORS * sizeof(float)));
            nn_ssd_set_profile(s, 0);
            CHECK(nn_ssd_detect(s, dets, 100, &n, photo, photo_w, photo_h,
                                (size_t)photo_w * 3, 0.5) == FACET_OK);
            CHECK(nn_ssd_profile(s)->count == 0);
        }
        free(scores);
    }
    nn_ssd_free(s);
}

// NMS and box mapping on TF.js's own boxes and scores: face-api's exact
// detections.
static void test_ssd_nms(void)
{
    size_t nb, ns;
    float *boxes = load_f32("ssd_boxes", &nb);
    float *scores = load_f32("ssd_scores", &ns);
    void *scratch = malloc(nn_ssd_nms_scratch_size(NN_SSD_ANCHORS));
    nn_ssd_det dets[100];
    int n;

    CHECK(boxes && scores && scratch && nb == 4 * NN_SSD_ANCHORS &&
          ns == NN_SSD_ANCHORS);
    if (boxes && scores && scratch && ns == NN_SSD_ANCHORS) {
        n = nn_ssd_nms(dets, 100, boxes, scores, NN_SSD_ANCHORS, photo_w,
                       photo_h, 0.5, scratch);
        check_dets(dets, n, "ssd_nms_50", 1, "exact");
        n = nn_ssd_nms(dets, 100, boxes, scores, NN_SSD_ANCHORS, photo_w,
                       photo_h, 0.05, scratch);
        check_dets(dets, n, "ssd_nms_5", 1, "exact");

        // max_dets caps the count; a threshold above every score keeps
        // nothing.
        CHECK(nn_ssd_nms(dets, 1, boxes, scores, NN_SSD_ANCHORS, photo_w,
                         photo_h, 0.05, scratch) == 1);
        CHECK(nn_ssd_nms(dets, 100, boxes, scores, NN_SSD_ANCHORS, photo_w,
                         photo_h, 0.9999999, scratch) == 0);
    }
    free(boxes);
    free(scores);
    free(scratch);
}

// ---------------------------------------------------------------------------
// Landmarks

// Points against fixture lm_points: exact, or within the tensor tolerance
// (max-norm relative).
static void check_points(const double *xy, int exact, const char *isa)
{
    const double *want = nums("lm_points", 136);
    double dmax = 0, wmax = 0;

    if (!want)
        return;
    for (int i = 0; i < 136; i++) {
        double d = fabs(xy[i] - want[i]);
        if (!(d <= dmax))
            dmax = isnan(d) ? INFINITY : d;
        if (fabs(want[i]) > wmax)
            wmax = fabs(want[i]);
    }
    if (exact) {
        CHECKF(dmax == 0, "landmark points differ from face-api's by %.3g",
               dmax);
        return;
    }
    printf("  %-6s %-22s max rel %.2e  (max %.2e px)\n", isa,
               "lm_points", dmax / wmax, dmax);
    CHECKF(dmax / wmax <= TOL_REL, "landmark points (%s): max-norm "
           "relative error %.3g", isa, dmax / wmax);
}

// The crop of a box, as face-api's clipAtImageBorders + floor.
static int fixture_crop(int crop[4], const char *box_key,
                        const char *crop_key)
{
    const double *box = nums(box_key, 4), *want = nums(crop_key, 4);

    if (!box || !want)
        return 0;
    nn_faceapi_clip_box(crop, box[0], box[1], box[2], box[3], photo_w,
                        photo_h);
    CHECKF(crop[0] == want[0] && crop[1] == want[1] && crop[2] == want[2] &&
           crop[3] == want[3], "%s: crop %d,%d %dx%d, face-api %g,%g %gx%g",
           crop_key, crop[0], crop[1], crop[2], crop[3], want[0], want[1],
           want[2], want[3]);
    return 1;
}

static void test_lm68(const wt_file *w, const char *isa)
{
    size_t count = (size_t)3 * NN_LM68_SIZE * NN_LM68_SIZE;
    float *in = malloc(count * sizeof(float)), out[136];
    nn_tensor t = nn_tensor_4d(in, 1, 3, NN_LM68_SIZE, NN_LM68_SIZE);
    const double *box = nums("lm_box", 4);
    double xy[136];
    int crop[4];
    nn_lm68 *m = NULL;
    facet_status st = nn_lm68_create(&m, w, 1);

    CHECKF(st == FACET_OK, "lm68 create: %s", facet_error());
    if (!m || !in || !box || !fixture_crop(crop, "lm_box", "lm_crop")) {
        nn_lm68_free(m);
        free(in);
        return;
    }

    // Crop, centred pad, resize: bit-identical.
    check_fill_nan(in, count);
    CHECK(nn_lm68_input(in, photo, photo_w, photo_h, (size_t)photo_w * 3,
                        crop[0], crop[1], crop[2], crop[3]) == FACET_OK);
    check_digest(in, count, "lm_batch", NCHW);

    // Network.
    check_fill_nan(out, 136);
    CHECK(nn_lm68_forward(m, out, &t) == FACET_OK);
    check_tensor(nn_lm68_feature(m, "dense0"), "lm_dense0", NCHW, isa);
    check_tensor(nn_lm68_feature(m, "dense1"), "lm_dense1", NCHW, isa);
    check_tensor(nn_lm68_feature(m, "dense3"), "lm_dense3", NCHW, isa);
    check_tensor(nn_lm68_feature(m, "pool"), "lm_pool", NCHW, isa);
    check_tensor(nn_lm68_feature(m, "output"), "lm_out", FLAT, isa);
    CHECK(nn_lm68_feature(m, "dense2/out3") != NULL);
    CHECK(nn_lm68_feature(m, "dense4") == NULL);

    // Points in the image.
    nn_lm68_points(xy, out, crop[2], crop[3], box[0], box[1]);
    check_points(xy, 0, isa);
    nn_lm68_free(m);
    free(in);
}

// Post-processing of TF.js's raw output: face-api's points exactly.
static void test_lm68_points(void)
{
    const double *box = nums("lm_box", 4), *crop = nums("lm_crop", 4);
    size_t n;
    float *raw = load_f32("lm_out", &n);
    double xy[136];

    CHECK(raw && n == 136);
    if (raw && n == 136 && box && crop) {
        nn_lm68_points(xy, raw, (int)crop[2], (int)crop[3], box[0], box[1]);
        check_points(xy, 1, "exact");
    }
    free(raw);
}

// ---------------------------------------------------------------------------
// Descriptor

static void test_frec(const wt_file *w, const char *isa)
{
    static const char *const stages[] = {"conv64_down", "conv128_2",
                                         "conv256_down", "conv256_down_out"};
    size_t count = (size_t)3 * NN_FREC_SIZE * NN_FREC_SIZE;
    float *in = malloc(count * sizeof(float)), desc[NN_FREC_DIM];
    nn_tensor t = nn_tensor_4d(in, 1, 3, NN_FREC_SIZE, NN_FREC_SIZE);
    int crop[4];
    nn_frec *f = NULL;
    facet_status st = nn_frec_create(&f, w, 1);

    CHECKF(st == FACET_OK, "frec create: %s", facet_error());
    if (!f || !in || !fixture_crop(crop, "frec_box", "frec_crop")) {
        nn_frec_free(f);
        free(in);
        return;
    }

    // Crop, centred pad, resize: bit-identical.
    check_fill_nan(in, count);
    CHECK(nn_frec_input(in, photo, photo_w, photo_h, (size_t)photo_w * 3,
                        crop[0], crop[1], crop[2], crop[3]) == FACET_OK);
    check_digest(in, count, "frec_batch", NCHW);

    // Network.
    check_fill_nan(desc, NN_FREC_DIM);
    CHECK(nn_frec_forward(f, desc, &t) == FACET_OK);
    check_tensor(nn_frec_feature(f, "conv32_down"), "frec_conv32_down", NCHW,
                 isa);
    check_tensor(nn_frec_feature(f, "maxpool"), "frec_maxpool", NCHW, isa);
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "frec_%s", stages[i]);
        check_tensor(nn_frec_feature(f, stages[i]), key, NCHW, isa);
    }
    check_tensor(nn_frec_feature(f, "global_avg"), "frec_global_avg", FLAT,
                 isa);
    check_tensor(nn_frec_feature(f, "descriptor"), "frec_descriptor", FLAT,
                 isa);
    {
        size_t n;
        float *want = load_f32("frec_descriptor", &n);
        double d2 = 0;
        for (size_t i = 0; want && i < n && i < NN_FREC_DIM; i++)
            d2 += ((double)desc[i] - want[i]) * ((double)desc[i] - want[i]);
        printf("  %-6s descriptor distance to TF.js %.3g\n", isa,
                   sqrt(d2));
        free(want);
    }
    CHECK(nn_frec_feature(f, "conv256_down_out/pool") != NULL);
    CHECK(nn_frec_feature(f, "conv64_1/pool") == NULL);

    // The per-layer profile: normalisation, conv32_down, max pool, three
    // steps per stage, average and projection; the same descriptor with it
    // on. conv32_down: 7x7 x 3 -> 32 channels at 72x72.
    {
        float again[NN_FREC_DIM];
        nn_frec_set_profile(f, 1);
        CHECK(nn_frec_forward(f, again, &t) == FACET_OK);
        check_profile(nn_frec_profile(f), 46, "conv32_down",
                      2.0 * 32 * 72 * 72 * 3 * 49);
        CHECK(!memcmp(again, desc, sizeof desc));
        nn_frec_set_profile(f, 0);
        CHECK(nn_frec_forward(f, again, &t) == FACET_OK);
        CHECK(nn_frec_profile(f)->count == 0);
    }
    nn_frec_free(f);
    free(in);
}

// Batches and thread counts do not change any result: the same crop and a
// mirrored one as a batch of two, with 1 and 2 threads, against single
// runs.
static void test_batch_threads(wt_file *const models[3])
{
    size_t one = (size_t)3 * NN_FREC_SIZE * NN_FREC_SIZE;
    float *in = malloc(2 * one * sizeof(float));
    float single[2][NN_FREC_DIM], both[2][NN_FREC_DIM], ref[2][NN_FREC_DIM];
    nn_frec *f = NULL;
    int crop[4];
    int threads = facet_threads();

    // A missing model has failed already, in open_model.
    if (!models[2]) {
        free(in);
        return;
    }
    if (!in || !fixture_crop(crop, "frec_box", "frec_crop") ||
        nn_frec_create(&f, models[2], 2) != FACET_OK) {
        CHECKF(0, "batch of 2: no input, fixture or network: %s",
               facet_error());
        free(in);
        return;
    }
    nn_frec_input(in, photo, photo_w, photo_h, (size_t)photo_w * 3, crop[0],
                  crop[1], crop[2], crop[3]);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < NN_FREC_SIZE; y++)
            for (int x = 0; x < NN_FREC_SIZE; x++)
                in[one + ((size_t)c * NN_FREC_SIZE + y) * NN_FREC_SIZE + x] =
                    in[((size_t)c * NN_FREC_SIZE + y) * NN_FREC_SIZE +
                       NN_FREC_SIZE - 1 - x];
    for (int nt = 1; nt <= 2; nt++) {
        nn_tensor t2 = nn_tensor_4d(in, 2, 3, NN_FREC_SIZE, NN_FREC_SIZE);
        facet_set_threads(nt);
        for (int b = 0; b < 2; b++) {
            nn_tensor t1 = nn_tensor_4d(in + b * one, 1, 3, NN_FREC_SIZE,
                                        NN_FREC_SIZE);
            CHECK(nn_frec_forward(f, single[b], &t1) == FACET_OK);
        }
        CHECK(nn_frec_forward(f, both[0], &t2) == FACET_OK);
        CHECKF(!memcmp(single, both, sizeof single), "frec: batch of 2 "
               "differs from single runs with %d threads", nt);
        if (nt == 1)
            memcpy(ref, single, sizeof single);
        else
            CHECKF(!memcmp(single, ref, sizeof single), "frec: 2 threads "
                   "differ from 1");
    }
    facet_set_threads(threads);
    nn_frec_free(f);
    free(in);

    // The detector: the photo and its mirror image as a batch of two with
    // 1 thread, each alone with 2 threads; raw outputs agree bit for bit.
    if (models[0]) {
        size_t one_s = (size_t)3 * NN_SSD_SIZE * NN_SSD_SIZE;
        size_t enc = 4 * NN_SSD_ANCHORS;
        float *x = malloc(2 * one_s * sizeof(float));
        float *got = malloc(2 * enc * sizeof(float));
        uint8_t *mirror = malloc((size_t)photo_w * photo_h * 3);
        nn_ssd *s = NULL;
        int ok = x && got && mirror &&
                 nn_ssd_create(&s, models[0], 2, NULL, 0) == FACET_OK;

        for (int y = 0; ok && y < photo_h; y++)
            for (int xx = 0; xx < photo_w; xx++)
                memcpy(mirror + ((size_t)y * photo_w + xx) * 3,
                       photo + ((size_t)y * photo_w + photo_w - 1 - xx) * 3,
                       3);
        ok = ok && nn_ssd_input(x, photo, photo_w, photo_h,
                                (size_t)photo_w * 3) == FACET_OK &&
             nn_ssd_input(x + one_s, mirror, photo_w, photo_h,
                          (size_t)photo_w * 3) == FACET_OK;
        CHECKF(ok, "ssd batch check could not run");
        if (ok) {
            nn_tensor t2 = nn_tensor_4d(x, 2, 3, NN_SSD_SIZE, NN_SSD_SIZE);
            facet_set_threads(2);
            for (int b = 0; b < 2; b++) {
                nn_tensor t1 = nn_tensor_4d(x + b * one_s, 1, 3, NN_SSD_SIZE,
                                            NN_SSD_SIZE);
                CHECK(nn_ssd_forward(s, &t1) == FACET_OK);
                memcpy(got + b * enc, nn_ssd_feature(s, "box_enc")->data,
                       enc * sizeof(float));
            }
            facet_set_threads(1);
            CHECK(nn_ssd_forward(s, &t2) == FACET_OK);
            CHECKF(!memcmp(got, nn_ssd_feature(s, "box_enc")->data,
                           2 * enc * sizeof(float)),
                   "ssd: a batch of 2 on 1 thread differs from single "
                   "images on 2 threads");
        }
        facet_set_threads(threads);
        nn_ssd_free(s);
        free(x);
        free(got);
        free(mirror);
    }
}

// ---------------------------------------------------------------------------
// Input builder on a wide crop (the fixtures cover tall, square and the
// detector's bottom/right padding): the transposed photo's tall crop gives
// the transposed result, up to the blend order (horizontal then vertical,
// so a value may differ in its last bit).

static void test_input_transpose(void)
{
    enum { SIDE = 61 };
    int cw = 97, ch = 40, x0 = 30, y0 = 50;
    uint8_t *tr = malloc((size_t)photo_w * photo_h * 3);
    float *a = malloc(3 * SIDE * SIDE * sizeof(float));
    float *b = malloc(3 * SIDE * SIDE * sizeof(float));
    double dmax = 0;

    if (!tr || !a || !b) {
        CHECK(0);
        free(tr);
        free(a);
        free(b);
        return;
    }
    for (int y = 0; y < photo_h; y++)
        for (int x = 0; x < photo_w; x++)
            for (int c = 0; c < 3; c++)
                tr[((size_t)x * photo_h + y) * 3 + c] =
                    photo[((size_t)y * photo_w + x) * 3 + c];
    for (int pad = 0; pad < 2; pad++) {
        check_fill_nan(a, 3 * SIDE * SIDE);
        check_fill_nan(b, 3 * SIDE * SIDE);
        CHECK(nn_faceapi_input(a, SIDE, (nn_faceapi_pad)pad, photo, photo_w,
                               photo_h, (size_t)photo_w * 3, x0, y0, cw,
                               ch) == FACET_OK);
        CHECK(nn_faceapi_input(b, SIDE, (nn_faceapi_pad)pad, tr, photo_h,
                               photo_w, (size_t)photo_h * 3, y0, x0, ch,
                               cw) == FACET_OK);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < SIDE; y++)
                for (int x = 0; x < SIDE; x++) {
                    double d = fabs(a[(c * SIDE + y) * SIDE + x] -
                                    b[(c * SIDE + x) * SIDE + y]);
                    dmax = d <= dmax ? dmax : (isnan(d) ? INFINITY : d);
                }
    }
    // Values are 0..255: a few float32 ulps at most.
    CHECKF(dmax <= 1e-4, "transposed input differs by %.3g", dmax);
    free(tr);
    free(a);
    free(b);
}

// ---------------------------------------------------------------------------
// Bad weights and arguments: clear failures, no crash.

// A weight file holding one tensor `name` of the given shape (zeros), plus
// the required metadata; returns its path in `path` (a temp file).
static int write_fct(char *path, const char *name, int ndim,
                     const int64_t *dims)
{
    wt_writer *wr = NULL;
    float *zeros = calloc(4096, sizeof(float));
    int fd = mkstemp(path);
    facet_status st;

    if (fd < 0 || !zeros) {
        free(zeros);
        return 0;
    }
    close(fd);
    st = wt_writer_create(&wr, path);
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "name", "broken");
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "source", "test_faceapi");
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "license", "MIT");
    if (st == FACET_OK)
        st = wt_writer_tensor(wr, name, WT_F32, ndim, dims, zeros);
    if (st == FACET_OK)
        st = wt_writer_finish(wr);
    else
        wt_writer_free(wr);
    free(zeros);
    return st == FACET_OK;
}

static void test_bad_inputs(wt_file *const models[3])
{
    char path[] = "/tmp/test_faceapi_XXXXXX";
    int64_t dims[4] = {7, 7, 3, 16};   // conv32_down/conv/filters is 32 wide
    wt_file *w = NULL;
    nn_ssd *s = NULL;
    nn_lm68 *m = NULL;
    nn_frec *f = NULL;
    float buf[16];
    static const uint8_t blank[8 * 8 * 3];

    // A model's file given to another network.
    if (models[0] && models[2]) {
        CHECK(nn_ssd_create(&s, models[2], 1, NULL, 0) != FACET_OK && !s);
        CHECK(strstr(facet_error(), "MobilenetV1") != NULL);
        CHECK(nn_frec_create(&f, models[0], 1) != FACET_OK && !f);
        CHECK(nn_lm68_create(&m, models[0], 1) != FACET_OK && !m);
    }

    // A tensor of the wrong shape: the detail names the file and tensor.
    if (write_fct(path, "conv32_down/conv/filters", 4, dims)) {
        CHECK(wt_open(&w, path, 0) == FACET_OK);
        if (w) {
            CHECK(nn_frec_create(&f, w, 1) != FACET_OK && !f);
            CHECKF(strstr(facet_error(), "conv32_down/conv/filters") &&
                   strstr(facet_error(), path), "detail: %s",
                   facet_error());
        }
        wt_close(w);
        remove(path);
    } else {
        CHECKF(0, "cannot write a temporary weight file");
    }

    // Unknown feature names; bad arguments.
    if (models[0]) {
        static const char *const bad[] = {"conv99"};
        CHECK(nn_ssd_create(&s, models[0], 1, bad, 1) ==
              FACET_E_NOT_FOUND && !s);
        CHECK(nn_ssd_create(&s, models[0], 0, NULL, 0) == FACET_E_ARG);
    }
    if (models[1] && nn_lm68_create(&m, models[1], 1) == FACET_OK) {
        nn_tensor t = nn_tensor_4d(buf, 2, 3, NN_LM68_SIZE, NN_LM68_SIZE);
        CHECK(nn_lm68_feature(m, "dense0") == NULL);   // no forward yet
        CHECK(nn_lm68_forward(m, NULL, &t) == FACET_E_ARG);   // n > batch
        nn_lm68_free(m);
    }
    CHECK(nn_faceapi_input(buf, 2, NN_FACEAPI_PAD_END, blank, 8, 8, 8 * 3,
                           5, 0, 4, 4) == FACET_E_ARG);   // leaves the image
    CHECK(nn_faceapi_input(buf, 2, NN_FACEAPI_PAD_END, blank, 8, 8, 8 * 3,
                           0, 0, 0, 4) == FACET_E_ARG);
    CHECK(nn_faceapi_input(buf, 2, NN_FACEAPI_PAD_END, blank, 8, 8, 8 * 3,
                           4, 4, 4, 4) == FACET_OK);   // the corner fits
    {
        int crop[4];
        nn_faceapi_clip_box(crop, -20.5, 300.0, 10.0, 10.0, photo_w,
                            photo_h);
        CHECK(crop[2] == 0 || crop[3] == 0);   // outside: empty
        nn_faceapi_clip_box(crop, -20.5, -3.25, 100.7, 50.2, photo_w,
                            photo_h);
        CHECK(crop[0] == 0 && crop[1] == 0 && crop[2] == 80 &&
              crop[3] == 46);
    }
}

// ---------------------------------------------------------------------------

int main(void)
{
    static const char *const names[3] = {"ssd_mobilenetv1",
                                         "face_landmark_68",
                                         "face_recognition"};
    static const char *const isa_names[] = {"scalar", "avx2", "avx512"};
    wt_file *models[3] = {NULL, NULL, NULL};
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);

    if (!load_meta()) {
        CHECKF(0, "fixtures %smeta.txt missing", FIXTURES);
        return check_report();
    }
    if (!load_photo_size()) {
        CHECKF(0, "fixture photo size missing");
        return check_report();
    }
    for (int m = 0; m < 3; m++)
        models[m] = open_model(names[m]);

    // Checks on committed fixtures alone.
    if (models[0] && models[1] && models[2])
        test_weights(models, names);
    test_ssd_nms();
    test_lm68_points();
    test_bad_inputs(models);

    // Checks on the photo from FACET_DATA.
    if (load_photo()) {
        test_input_transpose();
        for (int i = 0; i < nisa; i++) {
            const char *isa = isa_names[isas[i]];
            facet_isa_force(isas[i]);
            printf("ISA %s\n", isa);
            if (models[0])
                test_ssd(models[0], isa);
            if (models[1])
                test_lm68(models[1], isa);
            if (models[2])
                test_frec(models[2], isa);
        }
        facet_isa_force(isas[nisa - 1]);
        test_batch_threads(models);
    }
    for (int m = 0; m < 3; m++)
        wt_close(models[m]);
    free(photo);
    return check_report();
}

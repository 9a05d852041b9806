// hair_eval.c - measures the hair masks the front end produces
// (face_portrait_run: the hair label of the part map, i.e. p(hair) > 0.5
// of the hair network on the 512x512 head crop, kept only in the
// 8-connected regions that touch the head region, less the landmark
// parts) against the ground-truth hair masks of figaro/ and celebahq/.
//
//   hair_eval [--data DIR] [--weights DIR] [--base nc13|geometric]
//             [--max N] [--list] [--grey] [--min-kept F] [SET...]
//   SET      figaro (default: all 105 images) and/or celebahq (default:
//            the first 100 in name order); both when none is named
//   --max N  at most N images per set (overrides the defaults above)
//   --base   the face-base method of the part map (default geometric:
//            the hair label does not depend on it, parts.c composes
//            parts > hair > base, and geometric is much faster)
//   --list   one line per image
//   --grey   also: the head crop resampled here with a grey (128)
//            border, through the network and the head-region restriction
//            (no landmark parts). This is how face/portrait.c's choice of
//            a grey border for the head crop was measured while it still
//            replicated the photo's edge (celebahq: produced 0.801,
//            grey 0.829); now both use grey
//   --data DIR     default $FACET_DATA, else ../shared/data
//   --weights DIR  default $FACET_WEIGHTS, else weights
//
// Per image, from DIR/SET/images/STEM.{jpg,png} and the mask
// DIR/SET/hair_masks/STEM.png (hair where the grey value > 127):
//   produced  the hair label of the head crop carried back to the photo
//             frame (nearest neighbour through the inverse of the
//             photo -> head transform, face_warp_labels; pixels outside
//             the head crop are not hair);
//   unrestr.  p(hair) > 0.5 on the head crop, the same way, without the
//             head-region restriction and the landmark parts (what the
//             restriction costs);
//   whole     the network alone on the whole photo resized to 512x512
//             (stretched, by face_warp_rgb; the issue-3 reference,
//             tests/test_hair.c), p(hair) > 0.5;
//   photo     the front end's photo-frame hair mask (opts.photo_hair,
//             portrait.h): the same network on the whole photo, p carried
//             to the photo bilinearly, > 0.5, kept in the 8-connected
//             regions that touch the head region (unrestricted when
//             those hold under 5% of it, portrait.h; counted as
//             "fallback", listed as "photo*"); for a photo without a
//             face the unrestricted mask of face_portrait_hair_only.
//             --min-kept F sets that fraction (0: never unrestricted).
// Each is scored by IoU = |P & M| / |P | M| (1 when both are empty)
// at 256x256 (both masks resized by nearest neighbour; for "whole" the
// mean of p over 2x2 blocks, as test_hair.c) and at the photo's full
// resolution (the mask resized by nearest neighbour to the photo when
// their sizes differ; "whole" p warped bilinearly to the photo), then
// averaged over the images ("photo" at 256 by nearest neighbour of the
// photo-frame mask). A photo where the front end fails (no face) scores
// its produced and unrestricted masks as empty and is listed.
// Also the fraction of ground-truth hair pixels outside the head crop.
//
// Built by `make eval` into build/<variant>/tools/hair_eval; run from
// the repository root. Figures: docs/FRONTEND.md, "Measured".
//
// Limitations:
// - test_hair.c resizes masks with an area filter and the photo with
//   stb's default filter; here nearest neighbour and face_image_resize,
//   so "whole" differs from its figures by a few thousandths.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../face/align.h"
#include "../../face/features.h"
#include "../../face/image.h"
#include "../../face/portrait.h"
#include "../../linalg/linalg.h"
#include "eval_util.h"

#define HE_SMALL 256
#define HE_NET 512
#define HE_NSETS 2

typedef struct he_sum {
    double iou[5][2];   // [produced, unrestricted, whole, grey, photo]
                        // [256, full]
    double outside;     // sum of per-photo GT fraction outside the crop
    int n, failed, fallback;
} he_sum;

// eval_list_dir filter: .jpg/.png names of at least 5 characters.
static int is_image(const char *dir, const char *name, const void *arg)
{
    size_t len = strlen(name);

    return len >= 5 && (!strcmp(name + len - 4, ".jpg") ||
                        !strcmp(name + len - 4, ".png"));
}

// dst (dw x dh) = src (sw x sh) by nearest neighbour on pixel centres.
static void resize_nearest(uint8_t *dst, int dw, int dh, const uint8_t *src,
                           int sw, int sh)
{
    for (int y = 0; y < dh; y++) {
        int sy = (int)(((double)y + 0.5) * sh / dh);

        if (sy >= sh)
            sy = sh - 1;
        for (int x = 0; x < dw; x++) {
            int sx = (int)(((double)x + 0.5) * sw / dw);

            if (sx >= sw)
                sx = sw - 1;
            dst[(size_t)y * dw + x] = src[(size_t)sy * sw + sx];
        }
    }
}

static double iou(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t inter = 0, uni = 0;

    for (size_t i = 0; i < n; i++) {
        inter += a[i] && b[i];
        uni += a[i] || b[i];
    }
    return uni ? (double)inter / uni : 1.0;
}

// The 256x256 and full-resolution IoU of a photo-frame mask against the
// ground truth (gt: w x h, gt_small: 256 x 256).
static void score(double out[2], const uint8_t *pred, const uint8_t *gt,
                  const uint8_t *gt_small, int w, int h, uint8_t *small)
{
    resize_nearest(small, HE_SMALL, HE_SMALL, pred, w, h);
    out[0] = iou(small, gt_small, (size_t)HE_SMALL * HE_SMALL);
    out[1] = iou(pred, gt, (size_t)w * h);
}

// A head-frame 0/1 mask (512 x 512) carried to the photo frame.
static facet_status head_to_photo(uint8_t *dst, int w, int h,
                                  const uint8_t *head, int side,
                                  const face_xform *photo_to_head)
{
    face_xform inv;
    facet_status s = face_xform_invert(&inv, photo_to_head);

    if (s)
        return s;
    return face_warp_labels(dst, w, h, (size_t)w, head, side, side,
                            (size_t)side, &inv, FACE_BORDER_CONSTANT, 0);
}

typedef struct he_ctx {
    face_frontend *fe;
    face_hairnet *net;
    const char *data;
    int list, grey;
} he_ctx;

// The head crop resampled with a constant grey border instead of the
// replicated edge (what the border costs), through the network and the
// head-region restriction (face_parts_hair), into head (0/1).
static facet_status grey_border(he_ctx *c, const face_image *im,
                                const face_portrait *p, float *prob,
                                uint8_t *head)
{
    static const uint8_t grey[3] = {128, 128, 128};
    face_image r = {0};
    float lm[2 * FACE_LANDMARKS];
    face_parts_opts po;
    facet_status s;

    face_parts_defaults(&po);
    if ((s = face_image_alloc(&r, HE_NET, HE_NET)))
        return s;
    s = face_warp_rgb(r.px, HE_NET, HE_NET, r.stride, im,
                      &p->to_crop[FACE_CROP_HEAD], FACE_BORDER_CONSTANT,
                      grey);
    if (!s)
        s = face_hairnet_run(c->net, &r, 1, prob, NULL);
    face_image_free(&r);
    if (s)
        return s;
    face_align_landmarks(lm, p->lm, &p->to_crop[FACE_CROP_HEAD]);
    return face_parts_hair(head, prob, HE_NET, HE_NET, lm, &po, NULL);
}

// The network on the whole photo (stretched to 512x512): p > 0.5 at 256
// (2x2 means) into small, and at the photo's size into full.
static facet_status whole_photo(he_ctx *c, const face_image *im,
                                float *p, uint8_t *small, uint8_t *full,
                                float *pfull)
{
    face_image r = {0};
    face_xform t = {{(double)im->w / HE_NET, 0, 0, 0,
                     (double)im->h / HE_NET, 0}};
    face_xform inv;
    facet_status s;

    // Pixel centres: x_photo + 1/2 = (x_net + 1/2) w / 512. The photo is
    // shrunk by the warp's box prefilter (face_image_resize trips an
    // assertion of stb_image_resize at ratios just above 1, e.g. 571 to
    // 512).
    t.m[2] = 0.5 * t.m[0] - 0.5;
    t.m[5] = 0.5 * t.m[4] - 0.5;
    if ((s = face_xform_invert(&inv, &t)) ||
        (s = face_image_alloc(&r, HE_NET, HE_NET)))
        return s;
    s = face_warp_rgb(r.px, HE_NET, HE_NET, r.stride, im, &inv,
                      FACE_BORDER_REPLICATE, NULL);
    if (!s)
        s = face_hairnet_run(c->net, &r, 1, p, NULL);
    face_image_free(&r);
    if (s)
        return s;
    for (int y = 0; y < HE_SMALL; y++)
        for (int x = 0; x < HE_SMALL; x++) {
            const float *q = p + (size_t)2 * y * HE_NET + 2 * x;

            small[(size_t)y * HE_SMALL + x] =
                (q[0] + q[1] + q[HE_NET] + q[HE_NET + 1]) * 0.25f > 0.5f;
        }
    if ((s = face_warp_f32(pfull, im->w, im->h, (size_t)im->w, p, HE_NET,
                           HE_NET, HE_NET, 1, &t, FACE_BORDER_REPLICATE,
                           0)))
        return s;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        full[i] = pfull[i] > 0.5f;
    return FACET_OK;
}

// One photo into the sums; nonzero when a file cannot be read or memory
// runs out (the photo is then left out and reported).
static int one_photo(he_ctx *c, const char *img_path, const char *mask_path,
                     const char *name, he_sum *sum)
{
    face_image im = {0}, mk = {0};
    face_portrait p;
    int w, h, ok = 0, found;
    size_t npx;
    uint8_t *gt = NULL, *gt_small = NULL, *pred = NULL, *small = NULL;
    uint8_t *head = NULL, *inside = NULL;
    float *pnet = NULL, *pfull = NULL;
    double r[5][2] = {{0}}, outside = 0;
    facet_status s;

    memset(&p, 0, sizeof p);
    if (face_image_load(&im, img_path, NULL) ||
        face_image_load(&mk, mask_path, NULL)) {
        fprintf(stderr, "hair_eval: %s\n", facet_error());
        face_image_free(&im);
        return 1;
    }
    w = im.w;
    h = im.h;
    npx = (size_t)w * h;
    gt = malloc(npx);
    pred = malloc(npx);
    inside = malloc(npx);
    gt_small = malloc((size_t)HE_SMALL * HE_SMALL);
    small = malloc((size_t)HE_SMALL * HE_SMALL);
    head = malloc((size_t)HE_NET * HE_NET);
    pnet = malloc((size_t)HE_NET * HE_NET * sizeof(float));
    pfull = malloc(npx * sizeof(float));
    if (!gt || !pred || !inside || !gt_small || !small || !head || !pnet ||
        !pfull) {
        fprintf(stderr, "hair_eval: %s: out of memory\n", name);
        goto done;
    }

    // Ground truth at the photo's size, and at 256.
    {
        uint8_t *g = malloc((size_t)mk.w * mk.h);

        if (!g) {
            fprintf(stderr, "hair_eval: %s: out of memory\n", name);
            goto done;
        }
        for (int y = 0; y < mk.h; y++)
            for (int x = 0; x < mk.w; x++)
                g[(size_t)y * mk.w + x] = mk.px[y * mk.stride + 3 * x] > 127;
        resize_nearest(gt, w, h, g, mk.w, mk.h);
        resize_nearest(gt_small, HE_SMALL, HE_SMALL, g, mk.w, mk.h);
        free(g);
    }

    s = face_portrait_run(c->fe, &im, &p);
    found = s == FACET_OK;
    if (!found) {
        if (s != FACET_E_NOT_FOUND) {
            fprintf(stderr, "hair_eval: %s: %s\n", name, facet_error());
            goto done;
        }
        memset(pred, 0, npx);
        score(r[0], pred, gt, gt_small, w, h, small);
        r[1][0] = r[3][0] = r[0][0];
        r[1][1] = r[3][1] = r[0][1];
        outside = 1;
        sum->failed++;
        if ((s = face_portrait_hair_only(c->fe, &im, pred)))
            goto fail;
        score(r[4], pred, gt, gt_small, w, h, small);
        printf("  no face: %s (%s)\n", name, facet_error());
    } else {
        const face_xform *t = &p.to_crop[FACE_CROP_HEAD];
        int side = p.crop[FACE_CROP_HEAD].w;
        size_t nh = (size_t)side * side, ngt = 0, nout = 0;

        if (side != HE_NET || !p.head_labels || !p.hair_prob) {
            fprintf(stderr, "hair_eval: %s: no head labels\n", name);
            goto done;
        }
        for (size_t i = 0; i < nh; i++)
            head[i] = p.head_labels[i] == FACE_PART_HAIR;
        if ((s = head_to_photo(pred, w, h, head, side, t)))
            goto fail;
        score(r[0], pred, gt, gt_small, w, h, small);
        if (!p.photo_hair) {
            fprintf(stderr, "hair_eval: %s: no photo hair mask\n", name);
            goto done;
        }
        score(r[4], p.photo_hair, gt, gt_small, w, h, small);
        sum->fallback += p.photo_hair_unrestricted;
        for (size_t i = 0; i < nh; i++)
            head[i] = p.hair_prob[i] > 0.5f;
        if ((s = head_to_photo(pred, w, h, head, side, t)))
            goto fail;
        score(r[1], pred, gt, gt_small, w, h, small);
        if (c->grey) {
            if ((s = grey_border(c, &im, &p, pnet, head)) ||
                (s = head_to_photo(pred, w, h, head, side, t)))
                goto fail;
            score(r[3], pred, gt, gt_small, w, h, small);
        }
        memset(head, 1, nh);
        if ((s = head_to_photo(inside, w, h, head, side, t)))
            goto fail;
        for (size_t i = 0; i < npx; i++) {
            ngt += gt[i];
            nout += gt[i] && !inside[i];
        }
        outside = ngt ? (double)nout / ngt : 0;
    }
    if ((s = whole_photo(c, &im, pnet, small, pred, pfull)))
        goto fail;
    r[2][0] = iou(small, gt_small, (size_t)HE_SMALL * HE_SMALL);
    r[2][1] = iou(pred, gt, npx);

    for (int k = 0; k < 5; k++)
        for (int j = 0; j < 2; j++)
            sum->iou[k][j] += r[k][j];
    sum->outside += outside;
    sum->n++;
    if (c->list)
        printf("  %-28s %4dx%-4d %s produced %.3f %.3f  unrestr. %.3f "
               "%.3f  whole %.3f %.3f  photo%s %.3f %.3f  gt outside crop "
               "%.3f grey %.3f\n",
               name, w, h, found ? "face" : "NONE", r[0][0], r[0][1],
               r[1][0], r[1][1], r[2][0], r[2][1],
               found && p.photo_hair_unrestricted ? "*" : "", r[4][0], r[4][1],
               outside, r[3][0]);
    fflush(stdout);
    ok = 1;
    goto done;
fail:
    fprintf(stderr, "hair_eval: %s: %s\n", name, facet_error());
done:
    face_portrait_free(&p);
    face_image_free(&im);
    face_image_free(&mk);
    free(gt);
    free(gt_small);
    free(pred);
    free(small);
    free(head);
    free(inside);
    free(pnet);
    free(pfull);
    return !ok;
}

static int run_set(he_ctx *c, const char *set, int limit)
{
    char dir[1024], img[2048], msk[2048], stem[1024];
    int n, bad = 0;
    char **names;
    he_sum sum;

    memset(&sum, 0, sizeof sum);
    snprintf(dir, sizeof dir, "%s/%s/images", c->data, set);
    n = eval_list_dir(&names, dir, is_image, NULL);
    if (n <= 0) {
        fprintf(stderr, "hair_eval: %s: no images (set FACET_DATA or "
                "--data)\n", dir);
        return 1;
    }
    printf("%s: %d images, using %d\n", set, n, n < limit ? n : limit);
    for (int i = 0; i < n && i < limit; i++) {
        size_t len = strlen(names[i]);

        snprintf(stem, sizeof stem, "%.*s", (int)(len - 4), names[i]);
        snprintf(img, sizeof img, "%s/%s", dir, names[i]);
        snprintf(msk, sizeof msk, "%s/%s/hair_masks/%s.png", c->data, set,
                 stem);
        bad += one_photo(c, img, msk, names[i], &sum);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!sum.n)
        return 1;
    printf("%s: %d scored, %d unreadable, %d without a face\n", set, sum.n,
           bad, sum.failed);
    printf("%s: mean IoU at 256x256 / full resolution\n", set);
    printf("  produced hair label   %.4f / %.4f\n", sum.iou[0][0] / sum.n,
           sum.iou[0][1] / sum.n);
    printf("  unrestricted p > 0.5  %.4f / %.4f\n", sum.iou[1][0] / sum.n,
           sum.iou[1][1] / sum.n);
    printf("  network, whole photo  %.4f / %.4f\n", sum.iou[2][0] / sum.n,
           sum.iou[2][1] / sum.n);
    printf("  photo-frame hair mask %.4f / %.4f  (with a face: restricted "
           "to the head region; without: whole-photo mask)\n",
           sum.iou[4][0] / sum.n, sum.iou[4][1] / sum.n);
    printf("  (photo-frame mask unrestricted by the fallback in %d photos "
           "with a face)\n", sum.fallback);
    if (c->grey)
        printf("  grey-border head crop %.4f / %.4f\n",
               sum.iou[3][0] / sum.n, sum.iou[3][1] / sum.n);
    printf("  mean fraction of ground-truth hair outside the head crop "
           "%.4f\n", sum.outside / sum.n);
    return bad != 0;
}

int main(int argc, char **argv)
{
    const char *sets[HE_NSETS];
    int nsets = 0, max = -1, rc = 0;
    const char *weights = getenv("FACET_WEIGHTS");
    face_frontend_opts o;
    he_ctx c;

    memset(&c, 0, sizeof c);
    c.data = getenv("FACET_DATA");
    if (!c.data)
        c.data = "../shared/data";
    if (!weights)
        weights = "weights";
    face_frontend_defaults(&o);
    o.parts_opts.base_method = FACE_BASE_GEOMETRIC;
    o.photo_hair = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--data") && i + 1 < argc)
            c.data = argv[++i];
        else if (!strcmp(a, "--weights") && i + 1 < argc)
            weights = argv[++i];
        else if (!strcmp(a, "--max") && i + 1 < argc)
            max = atoi(argv[++i]);
        else if (!strcmp(a, "--list"))
            c.list = 1;
        else if (!strcmp(a, "--min-kept") && i + 1 < argc)
            o.photo_hair_min_kept = atof(argv[++i]);
        else if (!strcmp(a, "--grey"))
            c.grey = 1;
        else if (!strcmp(a, "--base") && i + 1 < argc) {
            a = argv[++i];
            if (!strcmp(a, "nc13"))
                o.parts_opts.base_method = FACE_BASE_NC13;
            else if (!strcmp(a, "geometric"))
                o.parts_opts.base_method = FACE_BASE_GEOMETRIC;
            else {
                fprintf(stderr, "hair_eval: --base %s: nc13 or geometric\n",
                        a);
                return 2;
            }
        } else if ((!strcmp(a, "figaro") || !strcmp(a, "celebahq")) &&
                   nsets < HE_NSETS)
            sets[nsets++] = a;
        else {
            fprintf(stderr, "usage: hair_eval [--data DIR] [--weights DIR] "
                    "[--base nc13|geometric] [--max N] [--list] [--grey] "
                    "[--min-kept F] "
                    "[figaro] [celebahq]\n");
            return 2;
        }
    }
    if (!nsets) {
        sets[nsets++] = "figaro";
        sets[nsets++] = "celebahq";
    }
    if (face_frontend_open(&c.fe, weights, &o) ||
        face_hairnet_open(&c.net, weights, NULL, 1)) {
        fprintf(stderr, "hair_eval: %s\n", facet_error());
        face_frontend_close(c.fe);
        return 1;
    }
    for (int i = 0; i < nsets; i++) {
        int lim = max >= 0 ? max : !strcmp(sets[i], "figaro") ? 105 : 100;

        rc |= run_set(&c, sets[i], lim);
    }
    face_hairnet_close(c.net);
    face_frontend_close(c.fe);
    return rc;
}

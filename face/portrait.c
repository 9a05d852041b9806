// portrait.c - the front end on one photo: detection, subject, landmarks,
// crops, hair and parts (see portrait.h for the steps and their order).
//
// ref: method-spec section 9, steps 1, 2 and 8 (order of operations)
//
// Limitations: see portrait.h.
#include "portrait.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "features.h"
#include "image.h"

#define PATH_MAX_LEN 4096
// A photo counts as square (a possible aligned crop) when its sides differ
// by at most this fraction of the longer one.
#define SQUARE_SLACK 0.10
// The smallest side an aligned crop may have: below it dlib's landmark
// cascade has too few pixels to place 68 points (aligned112's crops are
// 112).
#define MIN_ALIGNED_SIDE 32
// The hair network's input side (face_hairnet_run takes 512x512 crops).
#define HAIR_NET_SIDE 512

struct face_frontend {
    face_frontend_opts o;
    face_detector *det;
    face_landmarks *lm;
    face_hairnet *hair;
};

void face_frontend_defaults(face_frontend_opts *o)
{
    memset(o, 0, sizeof *o);
    o->aligned = FACE_ALIGNED_AUTO;
    o->face_index = -1;
    o->min_score = FACE_DETECT_MIN_SCORE;
    o->landmark_passes = 2;
    o->hair = 1;
    o->parts = 1;
    o->photo_hair_min_kept = 0.05;
    face_parts_defaults(&o->parts_opts);
}

const char *face_stage_name(int stage)
{
    static const char *const names[FACE_STAGE_COUNT] = {
        "detect", "landmarks", "align", "hair", "parts"};

    return stage >= 0 && stage < FACE_STAGE_COUNT ? names[stage] : NULL;
}

static facet_status join(char *out, const char *dir, const char *file)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, file);

    if (n < 0 || n >= PATH_MAX_LEN)
        return facet_fail(FACET_E_ARG, "%s: weights folder name too long",
                          dir);
    return FACET_OK;
}

facet_status face_frontend_open(face_frontend **out, const char *weights_dir,
                                const face_frontend_opts *o)
{
    char path[PATH_MAX_LEN];
    face_frontend *fe;
    facet_status s;

    if (!out || !weights_dir || !o)
        return facet_fail(FACET_E_ARG, "face_frontend_open: NULL argument");
    *out = NULL;
    if ((o->parts || o->photo_hair) && !o->hair)
        return facet_fail(FACET_E_ARG, "face_frontend_open: parts and the "
                          "photo hair mask need the hair network");
    if (o->min_score < 0 || o->min_score >= 1 || o->face_index < -1 ||
        o->landmark_passes < 1 || o->landmark_passes > 4 ||
        !(o->photo_hair_min_kept >= 0 && o->photo_hair_min_kept <= 1))
        return facet_fail(FACET_E_ARG, "face_frontend_open: bad options");
    fe = calloc(1, sizeof *fe);
    if (!fe)
        return facet_fail(FACET_E_NOMEM, "face_frontend_open: out of memory");
    fe->o = *o;

    // The detector, unless every photo is an aligned crop.
    if (o->aligned != FACE_ALIGNED_YES) {
        if ((s = join(path, weights_dir, "ssd_mobilenetv1.fct")) ||
            (s = face_detector_open(&fe->det, path)))
            goto fail;
    }
    if ((s = join(path, weights_dir, "dlib_landmarks68.fct")) ||
        (s = face_landmarks_open(&fe->lm, path)))
        goto fail;
    if (o->hair &&
        (s = face_hairnet_open(&fe->hair, weights_dir, o->hair_layer, 1)))
        goto fail;
    *out = fe;
    return FACET_OK;

fail:
    face_frontend_close(fe);
    return s;
}

void face_frontend_close(face_frontend *fe)
{
    if (!fe)
        return;
    face_detector_free(fe->det);
    face_landmarks_free(fe->lm);
    face_hairnet_close(fe->hair);
    free(fe);
}

const struct face_hairnet *face_frontend_hairnet(const face_frontend *fe)
{
    return fe ? fe->hair : NULL;
}

void face_portrait_free(face_portrait *p)
{
    if (!p)
        return;
    for (int k = 0; k < FACE_CROP_COUNT; k++)
        face_image_free(&p->crop[k]);
    facet_free(p->hair_prob);
    facet_free(p->hair_feat);
    facet_free(p->head_labels);
    facet_free(p->labels);
    facet_free(p->photo_hair);
    memset(p, 0, sizeof *p);
}

static int is_square(const face_image *im)
{
    int lo = im->w < im->h ? im->w : im->h;
    int hi = im->w < im->h ? im->h : im->w;

    return hi - lo <= SQUARE_SLACK * hi;
}

// Faces and the subject's landmark box.
static facet_status find_face(face_frontend *fe, const face_image *photo,
                              face_portrait *p)
{
    const face_frontend_opts *o = &fe->o;
    facet_status s;

    p->subject = -1;
    if (o->aligned != FACE_ALIGNED_YES) {
        s = face_detect(fe->det, photo, p->faces, FACE_PORTRAIT_MAX_FACES,
                        &p->nfaces, o->min_score);
        if (s)
            return s;
    }
    if (p->nfaces == 0) {
        int small = photo->w < MIN_ALIGNED_SIDE || photo->h < MIN_ALIGNED_SIDE;

        if (o->aligned == FACE_ALIGNED_YES && small)
            return facet_fail(FACET_E_NOT_FOUND, "%dx%d is too small for an "
                              "aligned face crop (at least %dx%d)", photo->w,
                              photo->h, MIN_ALIGNED_SIDE, MIN_ALIGNED_SIDE);
        if (o->aligned == FACE_ALIGNED_YES ||
            (o->aligned == FACE_ALIGNED_AUTO && is_square(photo) && !small)) {
            p->how = FACE_FOUND_ASSUMED;
            face_aligned_box(photo->w, photo->h, &p->box);
            return FACET_OK;
        }
        return facet_fail(FACET_E_NOT_FOUND, "no face with a score above %g",
                          o->min_score);
    }
    if (o->face_index >= 0) {
        if (o->face_index >= p->nfaces)
            return facet_fail(FACET_E_NOT_FOUND,
                              "face %d asked for, %d found", o->face_index,
                              p->nfaces);
        p->subject = o->face_index;
    } else {
        p->subject = face_pick_subject(p->faces, p->nfaces, photo->w,
                                       photo->h);
    }
    p->how = FACE_FOUND_DETECTED;
    face_det_to_landmark_box(&p->faces[p->subject], &p->box);
    return FACET_OK;
}

// The transforms of every crop kind and the pixels of the two used ones.
// Beyond the photo's edges the backbone crop replicates the edge pixels;
// the head crop, which often reaches past the photo, is filled grey: the
// hair network reads replicated streaks as texture, and on the first 100
// celebahq photos grey raised the hair label's IoU from 0.801 to 0.825
// (tools/eval/hair_eval.c, docs/FRONTEND.md).
static facet_status make_crops(face_portrait *p, const face_image *photo)
{
    static const face_crop_kind sampled[] = {FACE_CROP_BACKBONE,
                                             FACE_CROP_HEAD};
    static const uint8_t grey[3] = {128, 128, 128};
    facet_status s;

    for (int k = 0; k < FACE_CROP_COUNT; k++)
        if ((s = face_align_fit(&p->to_crop[k], p->lm, (face_crop_kind)k, 0,
                                0)))
            return s;
    for (size_t i = 0; i < sizeof sampled / sizeof sampled[0]; i++) {
        face_crop_kind k = sampled[i];
        int side = face_crop_default_size(k);
        face_image *c = &p->crop[k];

        if ((s = face_image_alloc(c, side, side)) ||
            (s = face_warp_rgb(c->px, c->w, c->h, c->stride, photo,
                               &p->to_crop[k],
                               k == FACE_CROP_HEAD ? FACE_BORDER_CONSTANT
                                                   : FACE_BORDER_REPLICATE,
                               grey)))
            return s;
    }
    return FACET_OK;
}

// Part labels in the head crop, then carried into the backbone crop.
static facet_status make_parts(face_frontend *fe, face_portrait *p)
{
    const face_image *head = &p->crop[FACE_CROP_HEAD];
    const face_image *bb = &p->crop[FACE_CROP_BACKBONE];
    float lm_head[2 * FACE_LANDMARKS];
    face_xform head_to_photo, head_to_bb;
    facet_status s;

    p->head_labels = facet_alloc((size_t)head->w * head->h);
    p->labels = facet_alloc((size_t)bb->w * bb->h);
    if (!p->head_labels || !p->labels)
        return facet_fail(FACET_E_NOMEM, "part labels: out of memory");
    face_align_landmarks(lm_head, p->lm, &p->to_crop[FACE_CROP_HEAD]);
    s = face_parts_label(p->head_labels, head, lm_head, p->hair_prob,
                         &fe->o.parts_opts, &p->parts_info);
    if (s)
        return s;

    // head -> photo -> backbone
    if ((s = face_xform_invert(&head_to_photo, &p->to_crop[FACE_CROP_HEAD])))
        return s;
    face_xform_compose(&head_to_bb, &p->to_crop[FACE_CROP_BACKBONE],
                       &head_to_photo);
    return face_warp_labels(p->labels, bb->w, bb->h, (size_t)bb->w,
                            p->head_labels, head->w, head->h,
                            (size_t)head->w, &head_to_bb,
                            FACE_BORDER_CONSTANT, FACE_PART_BACKGROUND);
}

// p(hair) of the whole photo at the photo's size (prob: w x h floats):
// the photo stretched to the network's input by face_warp_rgb (its box
// prefilter shrinks; replicated edges), the network, and p carried back
// bilinearly. Pixel centres: x_photo + 1/2 = (x_net + 1/2) w / 512.
static facet_status photo_hair_prob(face_frontend *fe,
                                    const face_image *photo, float *prob)
{
    face_image net_in = {0};
    face_xform net_to_photo = {{(double)photo->w / HAIR_NET_SIDE, 0, 0, 0,
                                (double)photo->h / HAIR_NET_SIDE, 0}};
    face_xform photo_to_net;
    float *p512;
    facet_status s;

    net_to_photo.m[2] = 0.5 * net_to_photo.m[0] - 0.5;
    net_to_photo.m[5] = 0.5 * net_to_photo.m[4] - 0.5;
    if ((s = face_xform_invert(&photo_to_net, &net_to_photo)))
        return s;
    p512 = facet_alloc((size_t)HAIR_NET_SIDE * HAIR_NET_SIDE *
                       sizeof(float));
    if (!p512)
        return facet_fail(FACET_E_NOMEM, "photo hair: out of memory");
    s = face_image_alloc(&net_in, HAIR_NET_SIDE, HAIR_NET_SIDE);
    if (!s)
        s = face_warp_rgb(net_in.px, net_in.w, net_in.h, net_in.stride,
                          photo, &photo_to_net, FACE_BORDER_REPLICATE,
                          NULL);
    if (!s)
        s = face_hairnet_run(fe->hair, &net_in, 1, p512, NULL);
    if (!s)
        s = face_warp_f32(prob, photo->w, photo->h, (size_t)photo->w, p512,
                          HAIR_NET_SIDE, HAIR_NET_SIDE, HAIR_NET_SIDE, 1,
                          &net_to_photo, FACE_BORDER_REPLICATE, 0.0f);
    face_image_free(&net_in);
    facet_free(p512);
    return s;
}

// The photo-frame hair mask of a portrait: p(hair) of the whole photo,
// kept in the regions that touch the head region (face_parts_hair on the
// photo's landmarks), or unrestricted when those regions hold less than
// photo_hair_min_kept of it (portrait.h).
static facet_status make_photo_hair(face_frontend *fe,
                                    const face_image *photo,
                                    face_portrait *p)
{
    size_t n = (size_t)photo->w * photo->h;
    float *prob;
    facet_status s;

    p->photo_hair = facet_alloc(n);
    prob = facet_alloc(n * sizeof(float));
    if (!p->photo_hair || !prob) {
        facet_free(prob);
        return facet_fail(FACET_E_NOMEM, "photo hair mask (%dx%d): out of "
                          "memory", photo->w, photo->h);
    }
    s = photo_hair_prob(fe, photo, prob);
    if (!s)
        s = face_parts_hair(p->photo_hair, prob, photo->w, photo->h, p->lm,
                            &fe->o.parts_opts, NULL);
    if (!s) {
        float thr = (float)fe->o.parts_opts.hair_threshold;
        size_t all = 0, kept = 0;

        for (size_t i = 0; i < n; i++) {
            all += prob[i] > thr;
            kept += p->photo_hair[i];
        }
        if (all && kept < fe->o.photo_hair_min_kept * (double)all) {
            for (size_t i = 0; i < n; i++)
                p->photo_hair[i] = prob[i] > thr;
            p->photo_hair_unrestricted = 1;
        }
    }
    facet_free(prob);
    return s;
}

facet_status face_portrait_hair_only(face_frontend *fe,
                                     const face_image *photo, uint8_t *mask)
{
    size_t n;
    float *prob, thr;
    facet_status s;

    if (!fe || !photo || !photo->px || photo->w < 1 || photo->h < 1 ||
        !mask)
        return facet_fail(FACET_E_ARG, "face_portrait_hair_only: bad "
                          "argument");
    if (!fe->hair)
        return facet_fail(FACET_E_ARG, "face_portrait_hair_only: the front "
                          "end was opened without the hair network");
    n = (size_t)photo->w * photo->h;
    prob = facet_alloc(n * sizeof(float));
    if (!prob)
        return facet_fail(FACET_E_NOMEM, "photo hair mask (%dx%d): out of "
                          "memory", photo->w, photo->h);
    s = photo_hair_prob(fe, photo, prob);
    thr = (float)fe->o.parts_opts.hair_threshold;
    if (!s)
        for (size_t i = 0; i < n; i++)
            mask[i] = prob[i] > thr;
    facet_free(prob);
    return s;
}

facet_status face_portrait_run(face_frontend *fe, const face_image *photo,
                               face_portrait *p)
{
    const face_frontend_opts *o;
    double t0, t1;
    facet_status s;

    if (!p)
        return facet_fail(FACET_E_ARG, "face_portrait_run: NULL portrait");
    memset(p, 0, sizeof *p);
    if (!fe || !photo || !photo->px || photo->w < 1 || photo->h < 1)
        return facet_fail(FACET_E_ARG, "face_portrait_run: bad argument");
    o = &fe->o;
    p->photo_w = photo->w;
    p->photo_h = photo->h;

    // Faces, subject, landmark box.
    t0 = facet_now();
    s = find_face(fe, photo, p);
    t1 = facet_now();
    p->seconds[FACE_STAGE_DETECT] = t1 - t0;
    if (s)
        goto fail;

    // Landmarks; each further pass from the box the last ones imply.
    s = face_landmarks_predict(p->lm, NULL, fe->lm, photo->px, photo->w,
                               photo->h, (int)photo->stride, 3, &p->box);
    for (int pass = 1; !s && pass < o->landmark_passes; pass++) {
        face_box_from_landmarks(p->lm, FACE_LANDMARKS, NULL, &p->box);
        s = face_landmarks_predict(p->lm, NULL, fe->lm, photo->px, photo->w,
                                   photo->h, (int)photo->stride, 3, &p->box);
    }
    t0 = facet_now();
    p->seconds[FACE_STAGE_LANDMARKS] = t0 - t1;
    if (s)
        goto fail;

    // Crops.
    s = make_crops(p, photo);
    t1 = facet_now();
    p->seconds[FACE_STAGE_ALIGN] = t1 - t0;
    if (s)
        goto fail;

    // Hair probability and features on the head crop.
    if (o->hair) {
        size_t side = (size_t)face_crop_default_size(FACE_CROP_HEAD);

        p->hair_prob = facet_alloc(side * side * sizeof(float));
        if (o->hair_features) {
            p->hair_feat_dim = face_hairnet_dim(fe->hair);
            p->hair_feat = facet_alloc(p->hair_feat_dim * sizeof(float));
        }
        if (!p->hair_prob || (o->hair_features && !p->hair_feat)) {
            s = facet_fail(FACET_E_NOMEM, "hair maps: out of memory");
            goto fail;
        }
        s = face_hairnet_run(fe->hair, &p->crop[FACE_CROP_HEAD], 1,
                             p->hair_prob, p->hair_feat);
        t0 = facet_now();
        p->seconds[FACE_STAGE_HAIR] = t0 - t1;
        if (s)
            goto fail;
        t1 = t0;
    }

    // Hair mask in the photo frame, from the whole photo.
    if (o->photo_hair) {
        s = make_photo_hair(fe, photo, p);
        t0 = facet_now();
        p->seconds[FACE_STAGE_HAIR] += t0 - t1;
        if (s)
            goto fail;
        t1 = t0;
    }

    // Part labels.
    if (o->parts) {
        s = make_parts(fe, p);
        p->seconds[FACE_STAGE_PARTS] = facet_now() - t1;
        if (s)
            goto fail;
    }
    return FACET_OK;

fail:
    face_portrait_free(p);
    return s;
}

// characterize.c - the characterization job (characterize.h): photos ->
// features (cached) -> M, M_H and CAM -> PCAMs -> ranking (identity or
// Eq. 9) ->
// characteristic parts, and the optional PCAM-vs-CAM evaluation.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "characterize.h"
#include "cache.h"
#include "image.h"

#define BB FACE_BACKBONE_SIZE
#define HEAD FACE_HEAD_SIZE
#define VIEW FACE_CHAR_HEAD_VIEW

// Byte sizes of the cached fixed-size blocks.
#define LABELS_BYTES ((size_t)BB * BB)
#define HEAD_LABELS_BYTES ((size_t)HEAD * HEAD)
#define CROP_BYTES ((size_t)BB * BB * 3)
#define VIEW_BYTES ((size_t)VIEW * VIEW * 3)

// The cache entries' kind (and the salt's first field): names the payload
// layout, so entries of an older layout are never read as this one.
#define CACHE_KIND "char3"

const char *face_char_stage_name(int stage)
{
    static const char *const names[FACE_CHAR_T_COUNT] = {
        "cache", "load", "frontend", "backbone", "metric_m", "metric_mh",
        "cam", "pcam", "rank", "parts", "eval"};

    return stage >= 0 && stage < FACE_CHAR_T_COUNT ? names[stage] : NULL;
}

const char *face_char_rank_name(face_char_rank rule)
{
    return rule == FACE_CHAR_RANK_IDENTITY ? "identity"
           : rule == FACE_CHAR_RANK_EQ9    ? "eq9"
                                           : NULL;
}

facet_status face_char_rank_parse(face_char_rank *rule, const char *name)
{
    if (name && !strcmp(name, "identity"))
        *rule = FACE_CHAR_RANK_IDENTITY;
    else if (name && !strcmp(name, "eq9"))
        *rule = FACE_CHAR_RANK_EQ9;
    else
        return facet_fail(FACET_E_ARG, "ranking rule \"%s\": expected "
                          "identity or eq9", name ? name : "(null)");
    return FACET_OK;
}

void face_char_defaults(face_char_opts *o)
{
    memset(o, 0, sizeof *o);
    o->weights_dir = "weights";
    o->backbone = FACE_BACKBONE_AUTO;
    face_frontend_defaults(&o->fe);
    face_metric_defaults(&o->metric);
    face_cam_opts_init(&o->cam);
    o->seed = 1;
    o->nu = FACE_NU_AUTO;
    o->rank = FACE_CHAR_RANK_IDENTITY;
}

void face_char_cache_salt(char *out, size_t size, const char *backbone_id,
                          const char *hair_id, const face_frontend_opts *fe)
{
    const face_parts_opts *p = &fe->parts_opts;

    // %.17g keeps every double exact, so any change of an option changes
    // the key.
    snprintf(out, size,
             CACHE_KIND "|%s|%s|aligned=%d face=%d min_score=%.17g "
             "lm_passes=%d "
             "hair_layer=%s base=%d thr=%.17g eye=%.17g brow=%.17g/%.17g "
             "nose=%.17g mouth=%.17g skull=%.17g grow=%.17g fh=%.17g "
             "bg=%.17g work=%d seg_iter=%d",
             backbone_id, hair_id, (int)fe->aligned, fe->face_index,
             fe->min_score, fe->landmark_passes,
             fe->hair_layer ? fe->hair_layer : "-",
             (int)p->base_method, p->hair_threshold, p->eye_radius,
             p->brow_radius, p->brow_shift, p->nose_radius, p->mouth_radius,
             p->skull_height, p->head_grow, p->forehead_height, p->bg_grow,
             p->work_size, p->seg.max_iter);
}

facet_status face_char_jaccard(double *j, float *a, float *b, size_t n)
{
    uint8_t *ma = malloc(n), *mb = malloc(n);
    facet_status s;

    if (!ma || !mb) {
        free(ma);
        free(mb);
        return facet_fail(FACET_E_NOMEM, "jaccard: out of memory");
    }
    if (!(s = face_map_normalize(a, n)) && !(s = face_map_normalize(b, n)) &&
        !(s = face_map_binarize(ma, a, n, FACE_CHAR_JACCARD_THR)) &&
        !(s = face_map_binarize(mb, b, n, FACE_CHAR_JACCARD_THR)))
        s = face_map_jaccard(j, ma, mb, n);
    free(ma);
    free(mb);
    return s;
}

static void portrait_free(face_char_portrait *p)
{
    facet_free(p->f);
    facet_free(p->fh);
    facet_free(p->desc);
    free(p->labels);
    free(p->head_labels);
    free(p->crop);
    free(p->head);
    free(p->pcam);
    free(p->pcam_arb);
    free(p->pcam_hair);
    free(p->cam);
    memset(p, 0, sizeof *p);
}

void face_char_free(face_char_result *r)
{
    if (!r)
        return;
    for (int i = 0; r->pt && i < r->n_ind + r->n_arb; i++)
        portrait_free(&r->pt[i]);
    free(r->pt);
    free(r->photos);
    face_metric_free(&r->m);
    face_metric_free(&r->mh);
    face_cam_free(&r->cam);
    free(r->score);
    free(r->face_term);
    free(r->hair_term);
    free(r->order);
    free(r->pair_ind);
    free(r->pair_arb);
    free(r->jac_pcam);
    free(r->jac_cam);
    memset(r, 0, sizeof *r);
}

// ---------------------------------------------------------------------------
// Features of one photo

typedef struct job {
    const face_char_opts *o;
    face_char_result *r;
    face_frontend *fe;
    face_backbone *bb;
    char salt[1024];
    uint8_t *buf;          // one cache payload
    size_t payload;
} job;

static void progress(const job *J, int stage, long done, long total,
                     const char *what)
{
    if (J->o->progress)
        J->o->progress(J->o->progress_user, stage, done, total, what);
}

static facet_status portrait_alloc(face_char_portrait *p, size_t d,
                                   size_t dh, size_t dd)
{
    p->f = facet_alloc(d * sizeof(float));
    p->fh = facet_alloc(dh * sizeof(float));
    p->desc = facet_alloc(dd * sizeof(float));
    p->labels = malloc(LABELS_BYTES);
    p->head_labels = malloc(HEAD_LABELS_BYTES);
    p->crop = malloc(CROP_BYTES);
    p->head = malloc(VIEW_BYTES);
    if (!p->f || !p->fh || !p->desc || !p->labels || !p->head_labels ||
        !p->crop || !p->head)
        return facet_fail(FACET_E_NOMEM, "portrait: out of memory");
    return FACET_OK;
}

// Payload <-> portrait.
static void pack(uint8_t *buf, const face_char_portrait *p, size_t d,
                 size_t dh, size_t dd)
{
    memcpy(buf, p->f, d * sizeof(float));
    buf += d * sizeof(float);
    memcpy(buf, p->fh, dh * sizeof(float));
    buf += dh * sizeof(float);
    memcpy(buf, p->desc, dd * sizeof(float));
    buf += dd * sizeof(float);
    memcpy(buf, p->labels, LABELS_BYTES);
    buf += LABELS_BYTES;
    memcpy(buf, p->head_labels, HEAD_LABELS_BYTES);
    buf += HEAD_LABELS_BYTES;
    memcpy(buf, p->crop, CROP_BYTES);
    buf += CROP_BYTES;
    memcpy(buf, p->head, VIEW_BYTES);
}

static facet_status unpack(face_char_portrait *p, const uint8_t *buf,
                           size_t d, size_t dh, size_t dd)
{
    memcpy(p->f, buf, d * sizeof(float));
    buf += d * sizeof(float);
    memcpy(p->fh, buf, dh * sizeof(float));
    buf += dh * sizeof(float);
    memcpy(p->desc, buf, dd * sizeof(float));
    buf += dd * sizeof(float);
    memcpy(p->labels, buf, LABELS_BYTES);
    buf += LABELS_BYTES;
    memcpy(p->head_labels, buf, HEAD_LABELS_BYTES);
    buf += HEAD_LABELS_BYTES;
    memcpy(p->crop, buf, CROP_BYTES);
    buf += CROP_BYTES;
    memcpy(p->head, buf, VIEW_BYTES);
    // A damaged-but-checksummed entry cannot hold bad labels unless the
    // writer wrote them; check anyway, the part scores would refuse them.
    for (size_t i = 0; i < LABELS_BYTES; i++)
        if (p->labels[i] >= FACE_PART_COUNT)
            return facet_fail(FACET_E_CORRUPT, "cache entry: bad label");
    for (size_t i = 0; i < HEAD_LABELS_BYTES; i++)
        if (p->head_labels[i] >= FACE_PART_COUNT)
            return facet_fail(FACET_E_CORRUPT, "cache entry: bad label");
    return FACET_OK;
}

static void copy_packed(uint8_t *dst, const face_image *im)
{
    for (int y = 0; y < im->h; y++)
        memcpy(dst + (size_t)y * im->w * 3, im->px + (size_t)y * im->stride,
               (size_t)im->w * 3);
}

// Run the networks on one photo into p (allocated).
static facet_status compute(job *J, const char *path, face_char_portrait *p)
{
    face_char_result *r = J->r;
    face_image im = {0}, view = {0};
    face_portrait fp;
    facet_status s;
    double t0 = facet_now(), t1;

    s = face_image_load(&im, path, NULL);
    t1 = facet_now();
    r->seconds[FACE_CHAR_T_LOAD] += t1 - t0;
    if (s)
        return s;
    s = face_portrait_run(J->fe, &im, &fp);
    face_image_free(&im);
    t0 = facet_now();
    r->seconds[FACE_CHAR_T_FRONTEND] += t0 - t1;
    if (s) {
        char why[600];
        snprintf(why, sizeof why, "%s", facet_error());
        return facet_fail(s, "%s: %s", path, why);
    }
    if (!fp.labels || !fp.head_labels || !fp.hair_feat ||
        fp.hair_feat_dim != r->dh) {
        face_portrait_free(&fp);
        return facet_fail(FACET_E_ARG, "%s: front end gave no part labels "
                          "or hair features", path);
    }
    memcpy(p->fh, fp.hair_feat, r->dh * sizeof(float));
    memcpy(p->labels, fp.labels, LABELS_BYTES);
    memcpy(p->head_labels, fp.head_labels, HEAD_LABELS_BYTES);
    copy_packed(p->crop, &fp.crop[FACE_CROP_BACKBONE]);
    s = face_image_resize(&view, &fp.crop[FACE_CROP_HEAD], VIEW, VIEW);
    if (!s) {
        copy_packed(p->head, &view);
        face_image_free(&view);
        s = face_backbone_run_desc(J->bb, &fp.crop[FACE_CROP_BACKBONE], 1,
                                   p->f, p->desc);
    }
    face_portrait_free(&fp);
    r->seconds[FACE_CHAR_T_BACKBONE] += facet_now() - t0;
    return s;
}

// One photo: cache look-up, else compute (and store). Fills photo's
// status; returns FACET_OK for a skipped photo too (only fatal errors,
// out of memory, stop the job).
static facet_status one_photo(job *J, face_char_photo *ph,
                              face_char_portrait *p)
{
    face_char_result *r = J->r;
    const char *cache = J->o->cache_dir;
    face_cache_hash key;
    facet_status s;
    double t0;

    if ((s = portrait_alloc(p, r->d, r->dh, r->dd)))
        return s;
    if (cache) {
        t0 = facet_now();
        s = face_cache_key_file(&key, ph->path, J->salt);
        if (!s) {
            s = face_cache_get(cache, &key, CACHE_KIND, J->payload, J->buf);
            if (!s && !(s = unpack(p, J->buf, r->d, r->dh, r->dd))) {
                ph->cached = 1;
                r->cache_hits++;
                r->seconds[FACE_CHAR_T_CACHE] += facet_now() - t0;
                return FACET_OK;
            }
            if (s != FACET_E_NOT_FOUND)
                r->cache_damaged++;
            r->cache_misses++;
            s = FACET_OK;
        }
        r->seconds[FACE_CHAR_T_CACHE] += facet_now() - t0;
        if (s) {   // unreadable file: skip it like a failed decode
            ph->status = s;
            snprintf(ph->why, sizeof ph->why, "%s", facet_error());
            return FACET_OK;
        }
    }
    s = compute(J, ph->path, p);
    if (s == FACET_E_NOMEM)
        return s;
    if (s) {
        ph->status = s;
        snprintf(ph->why, sizeof ph->why, "%s", facet_error());
        return FACET_OK;
    }
    if (cache) {
        t0 = facet_now();
        pack(J->buf, p, r->d, r->dh, r->dd);
        // A failed put costs a rerun its speed, not its result.
        if (face_cache_put(cache, &key, CACHE_KIND, J->buf, J->payload))
            r->cache_unwritten++;
        r->seconds[FACE_CHAR_T_CACHE] += facet_now() - t0;
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// The job

static facet_status open_models(job *J)
{
    const face_char_opts *o = J->o;
    face_char_result *r = J->r;
    face_frontend_opts fo = o->fe;
    const face_hairnet *hn;
    facet_status s;
    size_t d;

    fo.hair = fo.parts = fo.hair_features = 1;
    if ((s = face_backbone_open(&J->bb, o->weights_dir, o->backbone, 1)) ||
        (s = face_frontend_open(&J->fe, o->weights_dir, &fo)))
        return s;
    hn = face_frontend_hairnet(J->fe);
    if (!hn)
        return facet_fail(FACET_E_ARG, "front end without a hair network");
    r->backbone = face_backbone_which(J->bb);
    snprintf(r->backbone_id, sizeof r->backbone_id, "%s",
             face_backbone_model_id(J->bb));
    snprintf(r->hair_id, sizeof r->hair_id, "%s",
             face_hairnet_model_id(hn));
    face_backbone_shape(J->bb, &r->fz, &r->fh_, &r->fw);
    face_hairnet_shape(hn, &r->hz, &r->hh, &r->hw);
    r->d = face_backbone_dim(J->bb);
    r->dh = face_hairnet_dim(hn);
    r->dd = face_backbone_desc_dim(J->bb);
    if (r->d > INT_MAX || r->dh > INT_MAX || r->dd > INT_MAX)
        return facet_fail(FACET_E_TOO_LARGE, "feature maps too large");
    face_char_cache_salt(J->salt, sizeof J->salt, r->backbone_id,
                         r->hair_id, &fo);
    d = (r->d + r->dh + r->dd) * sizeof(float) + LABELS_BYTES +
        HEAD_LABELS_BYTES +
        CROP_BYTES + VIEW_BYTES;
    J->payload = d;
    if (o->cache_dir && !(J->buf = malloc(d)))
        return facet_fail(FACET_E_NOMEM, "cache buffer: out of memory");
    return FACET_OK;
}

static void metric_progress(void *user, long iter, double viol, double hinge)
{
    job *J = user;

    (void)viol;
    (void)hinge;
    progress(J, J->r->m.D ? FACE_CHAR_T_METRIC_MH : FACE_CHAR_T_METRIC_M,
             iter, J->o->metric.max_iter, NULL);
}

static facet_status learn(job *J)
{
    face_char_result *r = J->r;
    int n = r->n_ind + r->n_arb;
    const float **f = malloc((size_t)n * sizeof *f);
    const float **fh = malloc((size_t)n * sizeof *fh);
    face_metric_opts mo = J->o->metric;
    facet_status s;
    double t0 = facet_now();

    if (!f || !fh) {
        free(f);
        free(fh);
        return facet_fail(FACET_E_NOMEM, "metric: out of memory");
    }
    for (int i = 0; i < n; i++) {
        f[i] = r->pt[i].f;
        fh[i] = r->pt[i].fh;
    }
    mo.seed = J->o->seed;
    mo.init_rows = NULL;
    if (mo.init == FACE_METRIC_INIT_GIVEN)
        mo.init = FACE_METRIC_INIT_ONES;
    mo.progress = metric_progress;
    mo.progress_user = J;
    s = face_metric_learn(&r->m, f, r->n_ind, f + r->n_ind, r->n_arb,
                          (int)r->d, &mo);
    if (s) {
        char why[600];
        snprintf(why, sizeof why, "%s", facet_error());
        s = facet_fail(s, "learning M: %s", why);
    }
    r->seconds[FACE_CHAR_T_METRIC_M] = facet_now() - t0;
    t0 = facet_now();
    if (!s) {
        s = face_metric_learn(&r->mh, fh, r->n_ind, fh + r->n_ind, r->n_arb,
                              (int)r->dh, &mo);
        if (s) {
            char why[600];
            snprintf(why, sizeof why, "%s", facet_error());
            s = facet_fail(s, "learning M_H: %s", why);
        }
    }
    r->seconds[FACE_CHAR_T_METRIC_MH] = facet_now() - t0;
    free(f);
    free(fh);
    return s;
}

static facet_status train_cam(job *J)
{
    face_char_result *r = J->r;
    int n = r->n_ind + r->n_arb;
    float *pool = malloc((size_t)n * r->fz * sizeof(float));
    const float **F = malloc((size_t)n * sizeof *F);
    facet_status s = FACET_OK;
    double t0 = facet_now();

    if (!pool || !F) {
        free(pool);
        free(F);
        return facet_fail(FACET_E_NOMEM, "cam: out of memory");
    }
    for (int i = 0; i < n && !s; i++) {
        s = face_cam_pool(pool + (size_t)i * r->fz, r->pt[i].f, r->fz,
                          r->fh_, r->fw);
        F[i] = pool + (size_t)i * r->fz;
    }
    if (!s)
        s = face_cam_train(&r->cam, F, r->n_ind, F + r->n_ind, r->n_arb,
                           r->fz, &J->o->cam);
    free(pool);
    free(F);
    r->seconds[FACE_CHAR_T_CAM] = facet_now() - t0;
    return s;
}

// PCAM and CAM maps and part scores of every portrait; each portrait is
// one thread's, so the result does not depend on the thread count.
static facet_status maps_and_scores(job *J)
{
    face_char_result *r = J->r;
    int n = r->n_ind + r->n_arb;
    size_t fm = (size_t)r->fh_ * r->fw, hm = (size_t)r->hh * r->hw;
    facet_status worst = FACET_OK;
    double t0 = facet_now();

    for (int i = 0; i < n; i++) {
        face_char_portrait *p = &r->pt[i];
        p->pcam = malloc(fm * sizeof(float));
        p->pcam_arb = malloc(fm * sizeof(float));
        p->cam = malloc(fm * sizeof(float));
        p->pcam_hair = malloc(hm * sizeof(float));
        if (!p->pcam || !p->pcam_arb || !p->cam || !p->pcam_hair)
            return facet_fail(FACET_E_NOMEM, "maps: out of memory");
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int i = 0; i < n; i++) {
        face_char_portrait *p = &r->pt[i];
        facet_status s;
        float *up = malloc(LABELS_BYTES * sizeof(float));
        float *uph = malloc(HEAD_LABELS_BYTES * sizeof(float));

        if (!up || !uph)
            s = FACET_E_NOMEM;
        else if (!(s = face_pcam_map(p->pcam, r->m.m_ind, (float)r->m.scale,
                                     p->f, r->fz, r->fh_, r->fw)) &&
                 !(s = face_pcam_map(p->pcam_arb, r->m.m_arb,
                                     (float)r->m.scale, p->f, r->fz, r->fh_,
                                     r->fw)) &&
                 !(s = face_pcam_map(p->pcam_hair, r->mh.m_ind,
                                     (float)r->mh.scale, p->fh, r->hz,
                                     r->hh, r->hw)) &&
                 !(s = face_cam_map(p->cam, &r->cam, p->f, r->fz, r->fh_,
                                    r->fw, FACE_CAM_IND)) &&
                 !(s = face_map_upsample(up, BB, BB, p->pcam, r->fh_,
                                         r->fw)) &&
                 !(s = face_map_upsample(uph, HEAD, HEAD, p->pcam_hair,
                                         r->hh, r->hw)) &&
                 !(s = face_part_scores_portrait(&p->part_pcam, up,
                                                 p->labels, BB, BB, uph,
                                                 p->head_labels, HEAD,
                                                 HEAD)) &&
                 !(s = face_map_normalize(up, LABELS_BYTES)) &&
                 !(s = face_part_scores(&p->part_pcam_n, up, p->labels, BB,
                                        BB)) &&
                 !(s = face_map_upsample(up, BB, BB, p->cam, r->fh_,
                                         r->fw)) &&
                 !(s = face_part_scores(&p->part_cam, up, p->labels, BB,
                                        BB)) &&
                 !(s = face_map_normalize(up, LABELS_BYTES)))
            s = face_part_scores(&p->part_cam_n, up, p->labels, BB, BB);
        free(up);
        free(uph);
        if (s) {
#ifdef _OPENMP
#pragma omp critical(face_char_maps)
#endif
            if (!worst)
                worst = s;
        }
    }
    r->seconds[FACE_CHAR_T_PCAM] = facet_now() - t0;
    if (worst)
        return facet_fail(worst, "PCAM / CAM maps: %s",
                          facet_status_str(worst));
    return FACET_OK;
}

static facet_status rank(job *J)
{
    face_char_result *r = J->r;
    int n = r->n_ind;
    const float **f = malloc((size_t)n * sizeof *f);
    const float **fh = malloc((size_t)n * sizeof *fh);
    const float **dv = malloc((size_t)n * sizeof *dv);
    face_feat_set face, hair;
    facet_status s;
    double t0 = facet_now();

    r->rank_rule = J->o->rank;
    r->score = malloc((size_t)n * sizeof(double));
    r->face_term = malloc((size_t)n * sizeof(double));
    r->hair_term = malloc((size_t)n * sizeof(double));
    r->order = malloc((size_t)n * sizeof(int));
    if (!f || !fh || !dv || !r->score || !r->face_term || !r->hair_term ||
        !r->order) {
        free(f);
        free(fh);
        free(dv);
        return facet_fail(FACET_E_NOMEM, "ranking: out of memory");
    }
    for (int i = 0; i < n; i++) {
        f[i] = r->pt[i].f;
        fh[i] = r->pt[i].fh;
        dv[i] = r->pt[i].desc;
    }
    face = (face_feat_set){r->m.m_ind, (float)r->m.scale, f, r->d};
    hair = (face_feat_set){r->mh.m_ind, (float)r->mh.scale, fh, r->dh};
    if (r->rank_rule == FACE_CHAR_RANK_EQ9)
        s = face_rank_portraits(r->score, r->order, &r->nu, r->face_term,
                                r->hair_term, &face, &hair, n, J->o->nu);
    else
        s = face_rank_identity(r->score, r->order, &r->nu, r->face_term,
                               r->hair_term, dv, r->dd, &hair, n,
                               J->o->nu);
    if (!s) {
        r->rep = r->order[0];
        r->least = r->order[n - 1];
    }
    free(f);
    free(fh);
    free(dv);
    r->seconds[FACE_CHAR_T_RANK] = facet_now() - t0;
    return s;
}

// Which part scores a decision reads: sel[.][sums][map] of the result.
static const face_part_score *variant(const face_char_portrait *p, int sums,
                                      int map)
{
    if (sums == FACE_CHAR_SEL_RAW)
        return map == FACE_CHAR_SEL_PCAM ? &p->part_pcam : &p->part_cam;
    return map == FACE_CHAR_SEL_PCAM ? &p->part_pcam_n : &p->part_cam_n;
}

// The majority rule for portrait k of P_ind against P_arb on the part
// scores of one variant.
static facet_status decide(face_part_decision d[FACE_PART_COUNT],
                           const face_char_result *r, int k, int sums,
                           int map, face_part_score *others)
{
    for (int i = 0; i < r->n_arb; i++)
        others[i] = *variant(&r->pt[r->n_ind + i], sums, map);
    return face_part_decide(d, variant(&r->pt[k], sums, map), others,
                            r->n_arb, FACE_PART_SUM);
}

static void sel_count(face_char_sel *h, unsigned mask)
{
    h->hist[face_sel4_index(mask)]++;
    h->n++;
}

static void sel_top(face_char_sel *h)
{
    h->top = 0;
    for (int i = 1; i < 16; i++)
        if (h->hist[i] > h->hist[h->top])
            h->top = i;
    h->freq = h->n ? (double)h->hist[h->top] / h->n : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c), m;

    if (!c || n < 1) {
        free(c);
        return 0;
    }
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

static facet_status evaluate(job *J, face_part_score *others)
{
    face_char_result *r = J->r;
    int np = J->o->eval_pairs, n_ok = 0, all;
    int *ok = malloc((size_t)r->n_ind * sizeof *ok);
    facet_rng rng;
    facet_status worst = FACET_OK;
    double t0 = facet_now();

    // The person's side: P_ind without the planted photos (outliers put
    // there on purpose are not the person).
    if (!ok)
        return facet_fail(FACET_E_NOMEM, "evaluation: out of memory");
    for (int k = 0; k < r->n_ind; k++)
        if (!r->photos[r->pt[k].photo].planted)
            ok[n_ok++] = k;
    // At least as many pairs as there are: every pair once, in order;
    // fewer: drawn with replacement.
    if ((long long)np >= (long long)n_ok * r->n_arb)
        np = n_ok * r->n_arb;
    all = np == n_ok * r->n_arb;
    r->eval_pairs = np;
    // (+ 1: no pairs when every photo of the person is planted.)
    r->pair_ind = malloc((size_t)np * sizeof(int) + 1);
    r->pair_arb = malloc((size_t)np * sizeof(int) + 1);
    r->jac_pcam = malloc((size_t)np * sizeof(double) + 1);
    r->jac_cam = malloc((size_t)np * sizeof(double) + 1);
    if (!r->pair_ind || !r->pair_arb || !r->jac_pcam || !r->jac_cam) {
        free(ok);
        return facet_fail(FACET_E_NOMEM, "evaluation: out of memory");
    }
    // Its own stream, so the pairs do not move when the metric's use of
    // the seed changes.
    facet_rng_seed(&rng, J->o->seed ^ 0x9e3779b97f4a7c15ull);
    for (int k = 0; k < np; k++) {
        r->pair_ind[k] = ok[all ? k / r->n_arb
                                : (int)facet_rng_below(&rng,
                                                       (uint32_t)n_ok)];
        r->pair_arb[k] = r->n_ind + (all ? k % r->n_arb
                                         : (int)facet_rng_below(
                                               &rng, (uint32_t)r->n_arb));
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < np; k++) {
        const face_char_portrait *a = &r->pt[r->pair_ind[k]];
        const face_char_portrait *b = &r->pt[r->pair_arb[k]];
        float *ua = malloc(LABELS_BYTES * sizeof(float));
        float *ub = malloc(LABELS_BYTES * sizeof(float));
        facet_status s;

        if (!ua || !ub)
            s = FACET_E_NOMEM;
        else if (!(s = face_map_upsample(ua, BB, BB, a->pcam, r->fh_,
                                         r->fw)) &&
                 !(s = face_map_upsample(ub, BB, BB, b->pcam, r->fh_,
                                         r->fw)) &&
                 !(s = face_char_jaccard(&r->jac_pcam[k], ua, ub,
                                         LABELS_BYTES)) &&
                 !(s = face_map_upsample(ua, BB, BB, a->cam, r->fh_,
                                         r->fw)) &&
                 !(s = face_map_upsample(ub, BB, BB, b->cam, r->fh_,
                                         r->fw)))
            s = face_char_jaccard(&r->jac_cam[k], ua, ub, LABELS_BYTES);
        free(ua);
        free(ub);
        if (s) {
#ifdef _OPENMP
#pragma omp critical(face_char_eval)
#endif
            if (!worst)
                worst = s;
        }
    }
    if (worst) {
        free(ok);
        return facet_fail(worst, "evaluation maps: %s",
                          facet_status_str(worst));
    }
    if (np > 0) {
        r->jac_pcam_median = median(r->jac_pcam, np);
        r->jac_cam_median = median(r->jac_cam, np);
    }

    // Part-selection consistency (hair left out): per pair, and per P_ind
    // portrait by the majority rule.
    for (int sums = 0; sums < 2; sums++)
        for (int map = 0; map < 2; map++) {
            face_char_sel *pairs = &r->sel[FACE_CHAR_SEL_PAIRS][sums][map];
            face_char_sel *maj = &r->sel[FACE_CHAR_SEL_MAJORITY][sums][map];

            for (int k = 0; k < np; k++)
                sel_count(pairs, face_part_pair_mask(
                              variant(&r->pt[r->pair_ind[k]], sums, map),
                              variant(&r->pt[r->pair_arb[k]], sums, map),
                              FACE_PART_SUM));
            for (int i = 0; i < n_ok; i++) {
                face_part_decision d[FACE_PART_COUNT];
                facet_status s = decide(d, r, ok[i], sums, map, others);

                if (s) {
                    free(ok);
                    return s;
                }
                sel_count(maj, face_part_decision_mask(d));
            }
            sel_top(pairs);
            sel_top(maj);
        }
    free(ok);
    r->seconds[FACE_CHAR_T_EVAL] = facet_now() - t0;
    return FACET_OK;
}

static facet_status run_job(job *J, const char *const *ind, int n_ind,
                            const uint8_t *planted, const char *const *arb,
                            int n_arb)
{
    face_char_result *r = J->r;
    int n = n_ind + n_arb, nu = 0;
    face_char_portrait *tmp;
    face_part_score *others;
    facet_status s;

    r->n_photos = n;
    r->photos = calloc((size_t)n, sizeof *r->photos);
    tmp = calloc((size_t)n, sizeof *tmp);
    if (!r->photos || !tmp) {
        free(tmp);
        return facet_fail(FACET_E_NOMEM, "photos: out of memory");
    }
    for (int i = 0; i < n; i++) {
        face_char_photo *ph = &r->photos[i];
        ph->path = i < n_ind ? ind[i] : arb[i - n_ind];
        ph->set = i < n_ind ? FACE_CHAR_IND : FACE_CHAR_ARB;
        ph->planted = i < n_ind && planted && planted[i];
        ph->portrait = -1;
    }
    if ((s = open_models(J)))
        goto out;

    // Usable portraits keep the list order: P_ind first, then P_arb.
    for (int i = 0; i < n; i++) {
        face_char_photo *ph = &r->photos[i];

        progress(J, FACE_CHAR_T_FRONTEND, i, n, ph->path);
        if ((s = one_photo(J, ph, &tmp[nu])))
            goto out;
        if (ph->status) {
            portrait_free(&tmp[nu]);
            continue;
        }
        tmp[nu].photo = i;
        ph->portrait = nu++;
        if (ph->set == FACE_CHAR_IND)
            r->n_ind++;
        else
            r->n_arb++;
    }
    progress(J, FACE_CHAR_T_FRONTEND, n, n, NULL);
    r->pt = tmp;
    tmp = NULL;
    for (int k = 0; k < nu && !J->o->keep_padding; k++)
        if ((s = face_backbone_fill_padding(r->backbone, r->pt[k].f, r->fz,
                                            r->fh_, r->fw)))
            goto out;
    face_frontend_close(J->fe);
    face_backbone_close(J->bb);
    J->fe = NULL;
    J->bb = NULL;

    if (r->n_ind < FACE_CHAR_MIN_SET || r->n_arb < FACE_CHAR_MIN_SET) {
        int ind_bad = r->n_ind < FACE_CHAR_MIN_SET;
        char skipped[640] = "";
        size_t used = 0;

        // The first skipped photos of that set and why, in the message:
        // the result (which lists them all) is freed on failure.
        for (int i = 0; i < r->n_photos && used + 1 < sizeof skipped; i++) {
            const face_char_photo *ph = &r->photos[i];
            int len;

            if (ph->portrait >= 0 || (ph->set == FACE_CHAR_IND) != ind_bad)
                continue;
            // Loading errors already start with the path.
            if (!strncmp(ph->why, ph->path, strlen(ph->path)))
                len = snprintf(skipped + used, sizeof skipped - used,
                               "\n  %s", ph->why);
            else
                len = snprintf(skipped + used, sizeof skipped - used,
                               "\n  %s: %s", ph->path, ph->why);
            if (len < 0)
                break;
            used += (size_t)len;
        }
        if (used >= sizeof skipped)
            memcpy(skipped + sizeof skipped - 5, " ...", 5);
        s = facet_fail(FACET_E_ARG,
                       "too few usable portraits: %s has %d of %d photos "
                       "usable, at least %d are needed; skipped:%s",
                       ind_bad ? "the person's set (P_ind)"
                               : "the others' set (P_arb)",
                       ind_bad ? r->n_ind : r->n_arb,
                       ind_bad ? n_ind : n_arb, FACE_CHAR_MIN_SET, skipped);
        goto out;
    }
    if ((s = learn(J)) || (s = train_cam(J)) || (s = maps_and_scores(J)) ||
        (s = rank(J)))
        goto out;

    others = malloc((size_t)r->n_arb * sizeof *others);
    if (!others) {
        s = facet_fail(FACET_E_NOMEM, "parts: out of memory");
        goto out;
    }
    {
        double t0 = facet_now();
        s = decide(r->parts, r, r->rep, FACE_CHAR_SEL_RAW,
                   FACE_CHAR_SEL_PCAM, others);
        r->seconds[FACE_CHAR_T_PARTS] = facet_now() - t0;
    }
    if (!s && J->o->eval_pairs > 0)
        s = evaluate(J, others);
    free(others);

out:
    if (tmp) {
        for (int i = 0; i < nu; i++)
            portrait_free(&tmp[i]);
        free(tmp);
    }
    return s;
}

// One photo's file identity, for the duplicate check.
typedef struct file_id {
    dev_t dev;
    ino_t ino;
    int at;                // index in P_ind, then P_arb
} file_id;

static int cmp_file_id(const void *a, const void *b)
{
    const file_id *x = a, *y = b;

    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

// Path and set name of photo i of check_distinct's combined list.
static const char *listed_path(int i, const char *const *ind, int n_ind,
                               const char *const *arb)
{
    return i < n_ind ? ind[i] : arb[i - n_ind];
}

static const char *listed_set(int i, int n_ind, const uint8_t *planted)
{
    if (i >= n_ind)
        return "others";
    return planted && planted[i] ? "planted" : "person";
}

// FACET_E_ARG when one file (by device and inode, so links and other
// spellings count) is listed twice, in one set or in both: the
// comparison would be meaningless. Paths that cannot be stat'ed are left
// to the loader, which reports them.
static facet_status check_distinct(const char *const *ind, int n_ind,
                                   const uint8_t *planted,
                                   const char *const *arb, int n_arb)
{
    file_id *id = malloc(((size_t)n_ind + n_arb) * sizeof *id);
    facet_status s = FACET_OK;
    int n = 0;

    if (!id)
        return facet_fail(FACET_E_NOMEM, "characterize: out of memory");
    for (int i = 0; i < n_ind + n_arb; i++) {
        struct stat st;

        if (stat(listed_path(i, ind, n_ind, arb), &st) == 0)
            id[n++] = (file_id){st.st_dev, st.st_ino, i};
    }
    qsort(id, (size_t)n, sizeof *id, cmp_file_id);
    for (int k = 1; k < n && !s; k++)
        if (id[k].dev == id[k - 1].dev && id[k].ino == id[k - 1].ino) {
            int a = id[k - 1].at, b = id[k].at;

            s = facet_fail(FACET_E_ARG, "%s (%s) and %s (%s) are the same "
                           "photo: the sets must not share photos or list "
                           "one twice", listed_path(a, ind, n_ind, arb),
                           listed_set(a, n_ind, planted),
                           listed_path(b, ind, n_ind, arb),
                           listed_set(b, n_ind, planted));
        }
    free(id);
    return s;
}

facet_status face_characterize(face_char_result *r,
                               const char *const *ind, int n_ind,
                               const uint8_t *planted,
                               const char *const *arb, int n_arb,
                               const face_char_opts *o)
{
    face_char_opts def;
    job J;
    facet_status s;

    if (!r)
        return facet_fail(FACET_E_ARG, "characterize: NULL result");
    memset(r, 0, sizeof *r);
    if (!o) {
        face_char_defaults(&def);
        o = &def;
    }
    if ((n_ind > 0 && !ind) || (n_arb > 0 && !arb) || n_ind < 0 ||
        n_arb < 0 || n_ind > FACE_METRIC_MAX_N ||
        n_arb > FACE_METRIC_MAX_N)
        return facet_fail(FACET_E_ARG, "characterize: bad photo lists");
    if (n_ind < FACE_CHAR_MIN_SET || n_arb < FACE_CHAR_MIN_SET)
        return facet_fail(FACET_E_ARG,
                          "too few photos: %d of the person and %d of "
                          "others, at least %d of each are needed",
                          n_ind, n_arb, FACE_CHAR_MIN_SET);
    if (!o->weights_dir || o->eval_pairs < 0 ||
        o->eval_pairs > 10000000 || !(o->nu >= 0 || o->nu == FACE_NU_AUTO) ||
        !face_char_rank_name(o->rank))
        return facet_fail(FACET_E_ARG, "characterize: bad options");
    for (int i = 0; i < n_ind; i++)
        if (!ind[i])
            return facet_fail(FACET_E_ARG, "characterize: NULL path");
    for (int i = 0; i < n_arb; i++)
        if (!arb[i])
            return facet_fail(FACET_E_ARG, "characterize: NULL path");
    if ((s = check_distinct(ind, n_ind, planted, arb, n_arb)))
        return s;

    memset(&J, 0, sizeof J);
    J.o = o;
    J.r = r;
    s = run_job(&J, ind, n_ind, planted, arb, n_arb);
    face_frontend_close(J.fe);
    face_backbone_close(J.bb);
    free(J.buf);
    if (s) {
        // Keep the message across the frees.
        char why[1024];
        snprintf(why, sizeof why, "%s", facet_error());
        face_char_free(r);
        return facet_fail(s, "%s", why);
    }
    return FACET_OK;
}

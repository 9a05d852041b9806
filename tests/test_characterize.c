// test_characterize.c - the characterization job (face/characterize.c):
// argument checks and the too-few-portraits error; the Jaccard helper on
// hand-made maps; a whole run on synthetic square pictures (taken as
// aligned crops) that checks the result's invariants (the face term of
// either ranking rule recomputed, the stored identity descriptor against
// the global_pooling layer), the skip of an unreadable file, the cache
// (a rerun reads every portrait and gives a bitwise identical result), a
// rerun with the Eq. 9 rule, and independence of the thread count; and,
// when FACET_DATA is present, a run on 5 + 5 real photos without the
// cache at 1 and at 2 threads whose results must be bitwise identical.
//
// The runs need the converted weights (make weights) and are skipped with
// a message when they are absent.
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

#include "../face/characterize.h"
#include "../face/image.h"

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int have_weights(void)
{
    char p[1024];
    static const char *const files[] = {
        "ssd_mobilenetv1.fct", "dlib_landmarks68.fct",
        "hair_segmentation.fct", "faceres.fct"};

    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", check_weights_dir(), files[i]);
        if (!file_exists(p))
            return 0;
    }
    return 1;
}

// ---------------------------------------------------------------------------

static void test_args(void)
{
    face_char_result r;
    const char *five[5] = {"a", "b", "c", "d", "e"};
    const char *four[4] = {"a", "b", "c", "d"};
    face_char_opts o;

    CHECK(face_characterize(NULL, five, 5, NULL, five, 5, NULL) ==
          FACET_E_ARG);
    CHECK(face_characterize(&r, four, 4, NULL, five, 5, NULL) ==
          FACET_E_ARG);
    CHECKF(strstr(facet_error(), "too few photos") != NULL, "%s",
           facet_error());
    CHECK(r.photos == NULL && r.pt == NULL);
    CHECK(face_characterize(&r, five, 5, NULL, NULL, 5, NULL) ==
          FACET_E_ARG);
    face_char_defaults(&o);
    o.nu = -0.5;
    CHECK(face_characterize(&r, five, 5, NULL, five, 5, &o) == FACET_E_ARG);
    face_char_defaults(&o);
    o.eval_pairs = -1;
    CHECK(face_characterize(&r, five, 5, NULL, five, 5, &o) == FACET_E_ARG);
    face_char_defaults(&o);
    CHECK(o.rank == FACE_CHAR_RANK_IDENTITY);
    o.rank = (face_char_rank)7;
    CHECK(face_characterize(&r, five, 5, NULL, five, 5, &o) == FACET_E_ARG);
    {
        face_char_rank k = FACE_CHAR_RANK_IDENTITY;
        CHECK(!strcmp(face_char_rank_name(FACE_CHAR_RANK_IDENTITY),
                      "identity"));
        CHECK(!strcmp(face_char_rank_name(FACE_CHAR_RANK_EQ9), "eq9"));
        CHECK(face_char_rank_name((face_char_rank)2) == NULL);
        CHECK(face_char_rank_parse(&k, "eq9") == FACET_OK &&
              k == FACE_CHAR_RANK_EQ9);
        CHECK(face_char_rank_parse(&k, "identity") == FACET_OK &&
              k == FACE_CHAR_RANK_IDENTITY);
        CHECK(face_char_rank_parse(&k, "Eq9") == FACET_E_ARG &&
              strstr(facet_error(), "Eq9"));
        CHECK(face_char_rank_parse(&k, NULL) == FACET_E_ARG);
    }
    CHECK(!strcmp(face_char_stage_name(FACE_CHAR_T_METRIC_M), "metric_m"));
    CHECK(face_char_stage_name(FACE_CHAR_T_COUNT) == NULL);
    face_char_free(NULL);
    face_char_free(&r);
}

// One file listed twice, by the same path or through a link, in one set
// or in both, is refused before any photo is read.
static void test_duplicates(void)
{
    char dir[256], p[11][300];
    const char *ind[6], *arb[5];
    uint8_t planted[6] = {0, 0, 0, 0, 0, 1};
    face_char_result r;

    if (check_mkdtemp(dir, sizeof dir, "char_dup") != 0) {
        CHECKF(0, "cannot make %s", dir);
        return;
    }
    for (int i = 0; i < 10; i++) {
        FILE *f;

        snprintf(p[i], sizeof p[i], "%s/%d.jpg", dir, i);
        f = fopen(p[i], "w");
        CHECK(f && fprintf(f, "%d\n", i) > 0 && !fclose(f));
    }
    snprintf(p[10], sizeof p[10], "%s/link.jpg", dir);
    CHECK(symlink(p[2], p[10]) == 0);
    for (int i = 0; i < 5; i++) {
        ind[i] = p[i];
        arb[i] = p[5 + i];
    }
    ind[5] = p[9];   // planted, and also in P_arb
    CHECK(face_characterize(&r, ind, 6, planted, arb, 5, NULL) ==
          FACET_E_ARG);
    CHECKF(strstr(facet_error(), "same photo") &&
               strstr(facet_error(), "(planted)") &&
               strstr(facet_error(), "(others)"),
           "%s", facet_error());
    arb[4] = p[10];   // a link to a photo of the person
    CHECK(face_characterize(&r, ind, 5, NULL, arb, 5, NULL) == FACET_E_ARG);
    CHECKF(strstr(facet_error(), "link.jpg") &&
               strstr(facet_error(), "(person)"),
           "%s", facet_error());
    arb[4] = p[9];
    ind[1] = p[0];   // twice in P_ind
    CHECK(face_characterize(&r, ind, 5, NULL, arb, 5, NULL) == FACET_E_ARG);
    CHECK(r.photos == NULL);
    for (int i = 0; i < 11; i++)
        unlink(p[i]);
    rmdir(dir);
}

static void test_jaccard(void)
{
    // Normalised: a = 0, .05, .5, 1 -> {2, 3}; b = 1, .2, .6, 0 -> {0,1,2}.
    float a[4] = {10, 10.5f, 15, 20}, b[4] = {5, 1.8f, 3.4f, 1};
    float c[4] = {3, 3, 3, 3}, d[4] = {3, 3, 3, 3};
    double j = -1;

    CHECK(face_char_jaccard(&j, a, b, 4) == FACET_OK);
    CHECK_NEAR(j, 100.0 / 4.0, 1e-12);   // |{2}| / |{0,1,2,3}|
    CHECK_NEAR(a[3], 1.0, 0);
    // Constant maps normalise to 0: both masks empty, the same set.
    CHECK(face_char_jaccard(&j, c, d, 4) == FACET_OK);
    CHECK_NEAR(j, 100.0, 0);
    a[1] = NAN;
    CHECK(face_char_jaccard(&j, a, b, 4) != FACET_OK);
}

// ---------------------------------------------------------------------------
// Synthetic run

// A 160x160 picture: set 0 smooth colour gradients with a bright disc,
// set 1 blocky noise; each photo differs by its seed.
static int write_picture(const char *path, int set, int k)
{
    enum { S = 160 };
    static uint8_t px[S * S * 3];
    facet_rng g;

    facet_rng_seed(&g, 1000u * (unsigned)set + (unsigned)k + 7);
    int cx = 50 + (int)facet_rng_below(&g, 60);
    int cy = 50 + (int)facet_rng_below(&g, 60);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = px + 3 * (y * S + x);
            if (set == 0) {
                int in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < 400;
                p[0] = (uint8_t)(in ? 250 : x + 40);
                p[1] = (uint8_t)(in ? 230 : y + 30);
                p[2] = (uint8_t)(in ? 200 : (x + y) / 3 + k);
            } else {
                facet_rng b;
                facet_rng_seed(&b, (uint64_t)(y / 8 * 64 + x / 8) * 131 +
                                       (uint64_t)k * 7919 + 3);
                p[0] = (uint8_t)facet_rng_below(&b, 256);
                p[1] = (uint8_t)facet_rng_below(&b, 256);
                p[2] = (uint8_t)facet_rng_below(&b, 256);
            }
        }
    return face_image_write_png(path, px, S, S, 3, S * 3) == FACET_OK;
}

static int same_result(const face_char_result *a, const face_char_result *b)
{
    if (a->n_ind != b->n_ind || a->n_arb != b->n_arb || a->d != b->d ||
        a->dh != b->dh || a->dd != b->dd || a->rep != b->rep ||
        a->least != b->least || a->rank_rule != b->rank_rule)
        return 0;
    if (memcmp(a->m.m_ind, b->m.m_ind, a->d * sizeof(float)) ||
        memcmp(a->m.m_arb, b->m.m_arb, a->d * sizeof(float)) ||
        memcmp(a->mh.m_ind, b->mh.m_ind, a->dh * sizeof(float)) ||
        a->m.b != b->m.b || a->mh.b != b->mh.b || a->nu != b->nu)
        return 0;
    for (int k = 0; k < a->n_ind; k++)
        if (a->score[k] != b->score[k] || a->order[k] != b->order[k] ||
            a->face_term[k] != b->face_term[k] ||
            a->hair_term[k] != b->hair_term[k])
            return 0;
    for (int p = 0; p < FACE_PART_COUNT; p++)
        if (a->parts[p].score != b->parts[p].score ||
            a->parts[p].beaten != b->parts[p].beaten)
            return 0;
    for (int k = 0; k < a->n_ind + a->n_arb; k++)
        if (memcmp(a->pt[k].f, b->pt[k].f, a->d * sizeof(float)) ||
            memcmp(a->pt[k].desc, b->pt[k].desc, a->dd * sizeof(float)) ||
            memcmp(a->pt[k].labels, b->pt[k].labels, 224 * 224))
            return 0;
    if (a->eval_pairs != b->eval_pairs)
        return 0;
    for (int k = 0; k < a->eval_pairs; k++)
        if (a->jac_pcam[k] != b->jac_pcam[k] ||
            a->jac_cam[k] != b->jac_cam[k])
            return 0;
    if (memcmp(a->sel, b->sel, sizeof a->sel))
        return 0;
    return 1;
}

// Invariants every result must satisfy.
static void check_result(const face_char_result *r, int n_ind, int n_arb)
{
    int seen[64] = {0};

    CHECK(r->n_ind == n_ind && r->n_arb == n_arb);
    CHECK(r->d == (size_t)r->fz * r->fh_ * r->fw && r->d > 0);
    CHECK(r->dh == (size_t)r->hz * r->hh * r->hw && r->dh > 0);
    CHECK(r->rep == r->order[0] && r->least == r->order[r->n_ind - 1]);
    for (int i = 0; i < r->n_ind && r->n_ind <= 64; i++) {
        int k = r->order[i];
        CHECK(k >= 0 && k < r->n_ind && !seen[k]);
        if (k >= 0 && k < 64)
            seen[k] = 1;
        if (i > 0)
            CHECK(r->score[r->order[i - 1]] <= r->score[k]);
        // Either rule: score = face + nu hair.
        CHECK_NEAR(r->score[k], r->face_term[k] + r->nu * r->hair_term[k],
                   1e-9 * (1 + r->score[k]));
    }
    CHECK(r->nu > 0);
    CHECK(r->dd == (r->backbone == FACE_BACKBONE_FACERES ? 1024u : 512u));
    // The face term of the rule, recomputed here in double: identity
    // 1 - cos(d_k, mean of the normalised d_j); Eq. 9 ||(M_ind - 1) g||.
    // Tolerance: sums of 1e3-1e5 double products.
    double norm[64] = {0};
    for (int j = 0; j < r->n_ind && j < 64; j++) {
        for (size_t t = 0; t < r->dd; t++)
            norm[j] += (double)r->pt[j].desc[t] * r->pt[j].desc[t];
        norm[j] = sqrt(norm[j]);
    }
    for (int k = 0; k < r->n_ind && r->n_ind <= 64; k++) {
        double want = 0.0;

        if (r->rank_rule == FACE_CHAR_RANK_IDENTITY) {
            double dot = 0.0, nm = 0.0;
            for (size_t i = 0; i < r->dd; i++) {
                double m = 0.0;
                for (int j = 0; j < r->n_ind; j++)
                    m += r->pt[j].desc[i] / norm[j] / r->n_ind;
                dot += r->pt[k].desc[i] * m;
                nm += m * m;
            }
            want = 1.0 - dot / (norm[k] * sqrt(nm));
            CHECK(r->face_term[k] >= -1e-12 && r->face_term[k] <= 2.0);
        } else {
            for (size_t i = 0; i < r->d; i++) {
                double v = ((double)r->m.m_ind[i] - 1.0) * r->pt[k].f[i];
                want += v * v;
            }
            want = sqrt(want) / (float)r->m.scale;   // as the job passes it
        }
        CHECKF(fabs(r->face_term[k] - want) <= 1e-9 * (1 + want),
               "portrait %d (%s): face term %.17g, recomputed %.17g", k,
               face_char_rank_name(r->rank_rule), r->face_term[k], want);
    }
    // The majority rule, recomputed from the stored part scores.
    for (int p = FACE_PART_HAIR; p < FACE_PART_COUNT; p++) {
        int beaten = 0;
        double s = r->pt[r->rep].part_pcam.sum[p];
        for (int i = 0; i < r->n_arb; i++)
            beaten += s > r->pt[r->n_ind + i].part_pcam.sum[p];
        CHECK(r->parts[p].beaten == beaten);
        CHECK(r->parts[p].characteristic == (2 * beaten > r->n_arb));
        CHECK(r->parts[p].score == s);
    }
    for (int k = 0; k < r->n_ind + r->n_arb; k++) {
        const face_char_photo *ph = &r->photos[r->pt[k].photo];
        CHECK(ph->portrait == k && ph->status == FACET_OK);
        CHECK((ph->set == FACE_CHAR_IND) == (k < r->n_ind));
    }
    CHECK(r->m.log_len >= 1 && r->mh.log_len >= 1);
    if (r->eval_pairs > 0) {
        int unplanted = 0;

        for (int k = 0; k < r->n_ind; k++)
            unplanted += !r->photos[r->pt[k].photo].planted;
        // Planted photos are never the person's side of a pair.
        for (int k = 0; k < r->eval_pairs; k++)
            CHECK(!r->photos[r->pt[r->pair_ind[k]].photo].planted);
        // Every histogram counts each pair (or P_ind portrait) once, and
        // its top entry is the first of the largest; the pairs' selections
        // are the pair masks of the portraits' part scores.
        for (int how = 0; how < 2; how++)
            for (int sums = 0; sums < 2; sums++)
                for (int map = 0; map < 2; map++) {
                    const face_char_sel *h = &r->sel[how][sums][map];
                    int total = 0, first = -1;

                    for (int i = 0; i < 16; i++) {
                        total += h->hist[i];
                        if (first < 0 || h->hist[i] > h->hist[first])
                            first = i;
                    }
                    CHECK(h->n == (how == FACE_CHAR_SEL_PAIRS
                                       ? r->eval_pairs : unplanted));
                    CHECK(total == h->n && h->top == first &&
                          h->freq == (double)h->hist[first] / h->n);
                }
        {
            int hist[16] = {0};

            for (int k = 0; k < r->eval_pairs; k++)
                hist[face_sel4_index(face_part_pair_mask(
                    &r->pt[r->pair_ind[k]].part_pcam_n,
                    &r->pt[r->pair_arb[k]].part_pcam_n, FACE_PART_SUM))]++;
            CHECK(!memcmp(hist,
                          r->sel[FACE_CHAR_SEL_PAIRS][FACE_CHAR_SEL_NORM]
                                [FACE_CHAR_SEL_PCAM].hist,
                          sizeof hist));
        }
        for (int k = 0; k < r->eval_pairs; k++) {
            CHECK(r->pair_ind[k] >= 0 && r->pair_ind[k] < r->n_ind);
            CHECK(r->pair_arb[k] >= r->n_ind &&
                  r->pair_arb[k] < r->n_ind + r->n_arb);
            CHECK(r->jac_pcam[k] >= 0 && r->jac_pcam[k] <= 100);
            CHECK(r->jac_cam[k] >= 0 && r->jac_cam[k] <= 100);
        }
    }
}

static void test_synthetic(void)
{
    char dir[256], cache[300];
    char paths[14][300];
    const char *ind[7], *arb[7];
    face_char_result r1, r2, r3;
    face_char_opts o;
    facet_status s;
    double t0 = facet_now();

    if (!have_weights()) {
        printf("skipped: synthetic run: weights missing in %s (make "
               "weights)\n", check_weights_dir());
        return;
    }
    if (check_mkdtemp(dir, sizeof dir, "char") != 0) {
        CHECKF(0, "cannot make %s", dir);
        return;
    }
    snprintf(cache, sizeof cache, "%s/cache", dir);
    for (int i = 0; i < 14; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s%02d.png", dir,
                 i < 7 ? "ind" : "arb", i % 7);
        if (i == 3) {   // unreadable: text named .png
            FILE *f = fopen(paths[i], "w");
            CHECK(f && fputs("not a picture\n", f) >= 0 && !fclose(f));
        } else {
            CHECK(write_picture(paths[i], i / 7, i % 7));
        }
        (i < 7 ? ind : arb)[i % 7] = paths[i];
    }
    face_char_defaults(&o);
    o.weights_dir = check_weights_dir();
    o.cache_dir = cache;
    o.fe.aligned = FACE_ALIGNED_YES;
    // The geometric face base: NC13 on noise is slow and not under test.
    o.fe.parts_opts.base_method = FACE_BASE_GEOMETRIC;
    o.eval_pairs = 20;
    o.metric.max_iter = 100000;

    s = face_characterize(&r1, ind, 7, NULL, arb, 7, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (s)
        return;
    check_result(&r1, 6, 7);
    CHECK(r1.photos[3].status != FACET_OK && r1.photos[3].portrait == -1);
    CHECKF(strstr(r1.photos[3].why, "ind03.png") != NULL, "%s",
           r1.photos[3].why);
    // The unreadable file is read for its key, so it counts as a miss.
    CHECK(r1.cache_hits == 0 && r1.cache_misses == 14);

    // The rerun reads every portrait from the cache, at another thread
    // count, and must give the same result bit for bit.
    facet_set_threads(1);
    s = face_characterize(&r2, ind, 7, NULL, arb, 7, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (!s) {
        CHECK(r2.cache_hits == 13 && r2.cache_misses == 1);
        CHECK(same_result(&r1, &r2));
        face_char_free(&r2);
    }
    facet_set_threads(2);
    s = face_characterize(&r3, ind, 7, NULL, arb, 7, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (!s) {
        CHECK(same_result(&r1, &r3));
        face_char_free(&r3);
    }

    // The stored descriptor is the global_pooling layer's of the stored
    // crop (bits: same network, same input).
    {
        face_backbone *gb = NULL;
        float *g = malloc(r1.dd * sizeof(float));
        face_image im = {224, 224, 224 * 3, r1.pt[4].crop};

        CHECKF(face_backbone_open_layer(&gb, o.weights_dir,
                                        FACE_BACKBONE_FACERES,
                                        "global_pooling", 1) == FACET_OK,
               "%s", facet_error());
        if (gb && g && r1.backbone == FACE_BACKBONE_FACERES) {
            CHECK(face_backbone_dim(gb) == r1.dd);
            CHECK(face_backbone_run(gb, &im, 1, g) == FACET_OK);
            CHECK(!memcmp(g, r1.pt[4].desc, r1.dd * sizeof(float)));
        }
        face_backbone_close(gb);
        free(g);
    }

    // The Eq. 9 rule: the same features and metrics (from the cache),
    // its own terms (check_result recomputes them).
    o.rank = FACE_CHAR_RANK_EQ9;
    s = face_characterize(&r2, ind, 7, NULL, arb, 7, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (!s) {
        check_result(&r2, 6, 7);
        CHECK(r2.rank_rule == FACE_CHAR_RANK_EQ9 && r2.cache_hits == 13);
        CHECK(!memcmp(r1.m.m_ind, r2.m.m_ind, r1.d * sizeof(float)));
        CHECK(memcmp(r1.face_term, r2.face_term,
                     r1.n_ind * sizeof(double)) != 0);
        face_char_free(&r2);
    }
    o.rank = FACE_CHAR_RANK_IDENTITY;
    CHECK(r1.rank_rule == FACE_CHAR_RANK_IDENTITY);

    // A different seed changes the metric (the cache still serves).
    o.seed = 2;
    s = face_characterize(&r2, ind, 7, NULL, arb, 7, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (!s) {
        CHECK(memcmp(r1.m.m_ind, r2.m.m_ind, r1.d * sizeof(float)) != 0);
        face_char_free(&r2);
    }

    // Too few usable portraits: 5 of P_ind with one unreadable.
    o.seed = 1;
    s = face_characterize(&r2, ind, 5, NULL, arb, 7, &o);
    CHECK(s == FACET_E_ARG);
    CHECKF(strstr(facet_error(), "too few usable") &&
               strstr(facet_error(), "4 of 5"),
           "%s", facet_error());
    CHECK(r2.pt == NULL && r2.photos == NULL);
    face_char_free(&r1);
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    printf("synthetic runs: %.1f s\n", facet_now() - t0);
}

// ---------------------------------------------------------------------------
// Real photos

static int list_dir(char out[][512], int max, const char *dir)
{
    // The first `max` names in order, found by trying the LFW numbering
    // (Name_0001.jpg ...) is not general; read the folder instead.
    char cmd[1200];
    FILE *p;
    int n = 0;

    snprintf(cmd, sizeof cmd, "ls '%s' | grep -i -E '\\.(jpg|png)$' | "
             "sort | head -n %d", dir, max);
    if (!(p = popen(cmd, "r")))
        return 0;
    while (n < max && fgets(out[n], 512, p)) {
        char name[512];
        out[n][strcspn(out[n], "\n")] = '\0';
        snprintf(name, sizeof name, "%s", out[n]);
        snprintf(out[n], 512, "%.250s/%.250s", dir, name);
        n++;
    }
    pclose(p);
    return n;
}

static void test_real(void)
{
    char person[1024], others[1024];
    static char a[5][512], b[5][512];
    const char *ind[5], *arb[5];
    face_char_result r1, r2;
    face_char_opts o;
    facet_status s;
    double t0 = facet_now();

    snprintf(person, sizeof person, "%s/lfw/Tony_Blair", check_data_dir());
    snprintf(others, sizeof others, "%s/celebahq/images", check_data_dir());
    if (!file_exists(person) || !file_exists(others)) {
        printf("skipped: real photos: %s or %s missing (set FACET_DATA)\n",
               person, others);
        return;
    }
    if (!have_weights()) {
        printf("skipped: real photos: weights missing (make weights)\n");
        return;
    }
    if (list_dir(a, 5, person) != 5 || list_dir(b, 5, others) != 5) {
        CHECKF(0, "fewer than 5 photos in %s or %s", person, others);
        return;
    }
    for (int i = 0; i < 5; i++) {
        ind[i] = a[i];
        arb[i] = b[i];
    }
    face_char_defaults(&o);
    o.weights_dir = check_weights_dir();
    o.eval_pairs = 30;
    facet_set_threads(1);
    s = face_characterize(&r1, ind, 5, NULL, arb, 5, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (s)
        return;
    check_result(&r1, 5, 5);
    // Faces were found, not assumed: part labels hold every landmark part.
    for (int k = 0; k < 10; k++)
        for (int p = FACE_PART_EYES; p <= FACE_PART_MOUTH; p++)
            CHECK(r1.pt[k].part_pcam.area[p] > 0);
    facet_set_threads(2);
    s = face_characterize(&r2, ind, 5, NULL, arb, 5, &o);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (!s) {
        CHECKF(same_result(&r1, &r2), "1 and 2 threads differ");
        face_char_free(&r2);
    }
    face_char_free(&r1);
    printf("real photos, 5 + 5 twice without cache: %.1f s\n",
           facet_now() - t0);
}

int main(void)
{
    facet_log_set(NULL, NULL, FACET_LOG_WARN);
    test_args();
    test_duplicates();
    test_jaccard();
    test_synthetic();
    test_real();
    return check_report();
}

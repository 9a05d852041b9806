// test_portrait.c - the whole front end (face/portrait.h) on bad and odd
// inputs: every file of the hostile corpus tests/data/images (written by
// tests/make_image_corpus.py, see its MANIFEST.txt), an image without a
// face, and a collage of many faces. Each must give either a portrait
// that holds together or a clear error, and never crash; run it under
// SANITIZE=1 too:
//   make SANITIZE=1 build/o1d0s1n0/tests/test_portrait
//   build/o1d0s1n0/tests/test_portrait
//
// Needs the converted weights ($FACET_WEIGHTS, default weights/: the SSD
// detector, dlib's landmarks and the hair network, `make weights`); says
// "skipped" and passes when they are absent. The real-photo part needs
// $FACET_DATA/lfw (default ../shared/data) and is skipped without it.
//
// What is checked:
// - corpus: a file that does not load fails with a message naming the
//   file; one that loads runs through face_portrait_run, which either
//   succeeds (then the portrait is checked: subject index, finite
//   landmarks, crops, labels in range) or fails with FACET_E_NOT_FOUND
//   and a non-empty message (the corpus images are tiny or faceless);
// - no face: a smooth 320 x 200 gradient is FACET_E_NOT_FOUND (it is not
//   square, so it is not taken as an aligned crop); the same gradient at
//   256 x 256 is taken as an aligned crop in auto mode (how =
//   FACE_FOUND_ASSUMED) and refused with FACET_E_NOT_FOUND in mode "no";
//   a 200 x 120 patch of an LFW photo's background (its top band,
//   stretched) gives a portrait or FACET_E_NOT_FOUND;
// - many faces: nine LFW photos (three per person) tiled 3 x 3 into a
//   750 x 750 collage: at least 8 faces listed (one miss allowed: a tile
//   shrinks to 512 / 750 in the detector's input), every listed face
//   inside the collage, and the subject rule picks the centre tile's
//   face (its box holds the collage's centre);
// - one LFW photo through the default chain (NC13 face base): a
//   detected subject, labels that hold every part but the background;
// - the photo-frame hair mask (opts.photo_hair): face_frontend_open
//   refuses it without the hair network and a fallback fraction outside
//   0..1; on the first celebahq photo
//   ($FACET_DATA/celebahq, skipped without it) the portrait's photo_hair
//   exists, covers the photo (photo_w x photo_h), is 0/1, is the
//   head-region mask (not the unrestricted fallback) and has IoU
//   > 0.6 against the ground-truth mask (hair_eval measures 0.8 on
//   average, docs/FRONTEND.md); the default options give no mask;
//   face_portrait_hair_only on the 320 x 200 gradient (no face) succeeds,
//   writes 0/1 into exactly w x h bytes (a guard band after them stays
//   untouched), and refuses a NULL mask and a front end without the hair
//   network with FACET_E_ARG.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "../face/image.h"
#include "../face/portrait.h"

#define CORPUS "tests/data/images"
#define TILE 250
#define GRID 3

// A portrait that claims success holds together.
static void check_portrait(const face_portrait *p, const face_image *im,
                           const char *name)
{
    CHECKF(p->photo_w == im->w && p->photo_h == im->h, "%s: photo size",
           name);
    CHECKF(p->nfaces >= 0 && p->nfaces <= FACE_PORTRAIT_MAX_FACES,
           "%s: nfaces %d", name, p->nfaces);
    if (p->how == FACE_FOUND_DETECTED)
        CHECKF(p->subject >= 0 && p->subject < p->nfaces,
               "%s: subject %d of %d", name, p->subject, p->nfaces);
    else
        CHECKF(p->how == FACE_FOUND_ASSUMED && p->subject == -1,
               "%s: how %d subject %d", name, (int)p->how, p->subject);
    for (int i = 0; i < 2 * FACE_LANDMARKS; i++)
        if (!isfinite(p->lm[i])) {
            CHECKF(0, "%s: landmark %d not finite", name, i / 2);
            break;
        }
    CHECKF(p->crop[FACE_CROP_BACKBONE].px &&
           p->crop[FACE_CROP_BACKBONE].w == 224 &&
           p->crop[FACE_CROP_HEAD].px && p->crop[FACE_CROP_HEAD].w == 512,
           "%s: crops", name);
    CHECKF(p->labels && p->head_labels && p->hair_prob, "%s: maps", name);
    if (p->photo_hair) {
        size_t bad = 0, n = (size_t)p->photo_w * p->photo_h;

        for (size_t i = 0; i < n; i++)
            bad += p->photo_hair[i] > 1;
        CHECKF(!bad, "%s: %zu photo hair values not 0/1", name, bad);
    }
    if (p->head_labels) {
        int bad = 0;

        for (size_t i = 0; i < 512 * 512; i++)
            bad += p->head_labels[i] >= FACE_PART_COUNT;
        CHECKF(!bad, "%s: %d head labels out of range", name, bad);
    }
}

// One corpus file: returns 1 when a portrait came out.
static int corpus_file(face_frontend *fe, const char *path, const char *name)
{
    face_image im = {0};
    face_portrait p;
    facet_status s;
    int got = 0;

    memset(&p, 0, sizeof p);
    s = face_image_load(&im, path, NULL);
    if (s != FACET_OK) {
        CHECKF(strstr(facet_error(), name) != NULL,
               "%s: load error does not name the file: %s", name,
               facet_error());
        return 0;
    }
    s = face_portrait_run(fe, &im, &p);
    if (s == FACET_OK) {
        check_portrait(&p, &im, name);
        got = 1;
    } else {
        const char *e = facet_error();

        CHECKF(s == FACET_E_NOT_FOUND && e && e[0],
               "%s (%dx%d): %s: %s", name, im.w, im.h, facet_status_str(s),
               e ? e : "(no message)");
    }
    face_portrait_free(&p);
    face_image_free(&im);
    return got;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus(face_frontend *fe)
{
    DIR *d = opendir(CORPUS);
    struct dirent *e;
    char *names[256], path[1024];
    int n = 0, ok = 0;

    CHECKF(d != NULL, "%s: cannot open (run from the repository root)",
           CORPUS);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL && n < 256) {
        struct stat st;

        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "MANIFEST.txt") ||
            stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        names[n] = strdup(e->d_name);
        FACET_ASSERT(names[n]);
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    CHECKF(n >= 20, "corpus: %d files, want >= 20", n);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", CORPUS, names[i]);
        ok += corpus_file(fe, path, names[i]);
        free(names[i]);
    }
    printf("corpus: %d files, %d gave a portrait, the rest a clear error\n",
           n, ok);
}

// A smooth diagonal gradient.
static void gradient(face_image *im)
{
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            uint8_t *q = im->px + y * im->stride + 3 * x;

            q[0] = (uint8_t)(40 + 160 * x / im->w);
            q[1] = (uint8_t)(60 + 120 * y / im->h);
            q[2] = (uint8_t)(200 - 100 * (x + y) / (im->w + im->h));
        }
}

static void test_no_face(face_frontend *fe, face_frontend *fe_no)
{
    face_image im = {0};
    face_portrait p;
    facet_status s;

    memset(&p, 0, sizeof p);
    FACET_ASSERT(face_image_alloc(&im, 320, 200) == FACET_OK);
    gradient(&im);
    s = face_portrait_run(fe, &im, &p);
    CHECKF(s == FACET_E_NOT_FOUND && strstr(facet_error(), "no face"),
           "gradient 320x200: %s: %s", facet_status_str(s), facet_error());
    face_portrait_free(&p);
    face_image_free(&im);

    FACET_ASSERT(face_image_alloc(&im, 256, 256) == FACET_OK);
    gradient(&im);
    s = face_portrait_run(fe, &im, &p);
    CHECKF(s == FACET_OK, "gradient 256x256, auto: %s", facet_error());
    if (s == FACET_OK) {
        CHECK(p.how == FACE_FOUND_ASSUMED);
        check_portrait(&p, &im, "gradient 256x256");
    }
    face_portrait_free(&p);
    s = face_portrait_run(fe_no, &im, &p);
    CHECKF(s == FACET_E_NOT_FOUND, "gradient 256x256, aligned no: %s",
           facet_status_str(s));
    face_portrait_free(&p);
    face_image_free(&im);
}

// The photo-frame hair mask (portrait.h): on a no-face gradient through
// face_portrait_hair_only, and on the first celebahq photo against its
// ground truth.
static void test_photo_hair(const char *wdir, const char *data,
                            face_frontend *fe_plain)
{
    enum { GUARD = 64 };
    face_frontend_opts o;
    face_frontend *fe = NULL, *bad = NULL;
    face_image im = {0}, mk = {0};
    face_portrait p;
    char path[1024];
    struct stat st;
    uint8_t *mask;
    size_t n, off = 0, guard = 0;
    facet_status s;

    face_frontend_defaults(&o);
    o.photo_hair = 1;
    o.hair = o.parts = 0;
    s = face_frontend_open(&bad, wdir, &o);
    CHECKF(s == FACET_E_ARG && !bad, "photo_hair without hair: %s",
           facet_status_str(s));
    face_frontend_close(bad);
    o.hair = o.parts = 1;
    o.photo_hair_min_kept = 1.5;
    bad = NULL;
    s = face_frontend_open(&bad, wdir, &o);
    CHECKF(s == FACET_E_ARG && !bad, "photo_hair_min_kept 1.5: %s",
           facet_status_str(s));
    face_frontend_close(bad);
    o.photo_hair_min_kept = 0.05;
    o.parts_opts.base_method = FACE_BASE_GEOMETRIC;
    if (face_frontend_open(&fe, wdir, &o) != FACET_OK) {
        CHECKF(0, "photo_hair front end: %s", facet_error());
        return;
    }

    // No face: the unrestricted mask, exactly w x h bytes of 0/1.
    FACET_ASSERT(face_image_alloc(&im, 320, 200) == FACET_OK);
    gradient(&im);
    n = (size_t)im.w * im.h;
    mask = malloc(n + GUARD);
    FACET_ASSERT(mask != NULL);
    memset(mask, 0xAB, n + GUARD);
    s = face_portrait_hair_only(fe, &im, mask);
    CHECKF(s == FACET_OK, "hair only, gradient: %s", facet_error());
    for (size_t i = 0; i < n; i++)
        off += mask[i] > 1;
    for (size_t i = n; i < n + GUARD; i++)
        guard += mask[i] != 0xAB;
    CHECKF(s != FACET_OK || off == 0, "hair only: %zu values not 0/1", off);
    CHECKF(guard == 0, "hair only wrote %zu bytes past the mask", guard);
    CHECK(face_portrait_hair_only(fe, &im, NULL) == FACET_E_ARG);
    {
        face_frontend_opts on;
        face_frontend *noh = NULL;

        face_frontend_defaults(&on);
        on.hair = on.parts = 0;
        if (face_frontend_open(&noh, wdir, &on) == FACET_OK)
            CHECK(face_portrait_hair_only(noh, &im, mask) == FACET_E_ARG);
        else
            CHECKF(0, "front end without hair: %s", facet_error());
        face_frontend_close(noh);
    }
    free(mask);
    face_image_free(&im);

    snprintf(path, sizeof path, "%s/celebahq/images/27636.jpg", data);
    if (stat(path, &st)) {
        printf("skipped: photo hair on celebahq (%s absent)\n", path);
        face_frontend_close(fe);
        return;
    }
    memset(&p, 0, sizeof p);
    FACET_ASSERT(face_image_load(&im, path, NULL) == FACET_OK);
    snprintf(path, sizeof path, "%s/celebahq/hair_masks/27636.png", data);
    FACET_ASSERT(face_image_load(&mk, path, NULL) == FACET_OK);
    s = face_portrait_run(fe, &im, &p);
    CHECKF(s == FACET_OK, "celebahq 27636: %s", facet_error());
    if (s == FACET_OK) {
        CHECKF(p.photo_hair && p.photo_w == im.w && p.photo_h == im.h,
               "celebahq 27636: photo hair %p, %dx%d for a %dx%d photo",
               (void *)p.photo_hair, p.photo_w, p.photo_h, im.w, im.h);
        check_portrait(&p, &im, "celebahq 27636");
        CHECK(p.photo_hair_unrestricted == 0);
    }
    if (s == FACET_OK && p.photo_hair) {
        // The mask resized to the photo by nearest neighbour.
        size_t inter = 0, uni = 0;

        for (int y = 0; y < im.h; y++) {
            int my = (int)(((double)y + 0.5) * mk.h / im.h);

            for (int x = 0; x < im.w; x++) {
                int mx = (int)(((double)x + 0.5) * mk.w / im.w);
                int g = mk.px[(size_t)my * mk.stride + 3 * (size_t)mx] > 127;
                int h = p.photo_hair[(size_t)y * im.w + x] != 0;

                inter += g && h;
                uni += g || h;
            }
        }
        CHECKF(uni > 0 && (double)inter / uni > 0.6,
               "celebahq 27636: photo hair IoU %.3f (> 0.6)",
               uni ? (double)inter / uni : 0.0);
        printf("celebahq 27636: photo-frame hair IoU %.3f\n",
               uni ? (double)inter / uni : 0.0);
    }
    face_portrait_free(&p);

    // The default options give no photo-frame mask.
    s = face_portrait_run(fe_plain, &im, &p);
    CHECKF(s == FACET_OK && !p.photo_hair, "default options: %s, mask %p",
           facet_status_str(s), (void *)p.photo_hair);
    face_portrait_free(&p);
    face_image_free(&mk);
    face_image_free(&im);
    face_frontend_close(fe);
}

// Sorted names of the .jpg files of one LFW person (at most max).
static int lfw_files(const char *data, const char *person, char out[][1024],
                     int max)
{
    char dir[900];
    char *names[1024];
    int n = 0, k = 0;
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof dir, "%s/lfw/%s", data, person);
    if (!(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)) != NULL && n < 1024)
        if (strstr(e->d_name, ".jpg"))
            FACET_ASSERT((names[n++] = strdup(e->d_name)) != NULL);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        if (k < max)
            snprintf(out[k++], 1024, "%s/%.120s", dir, names[i]);
        free(names[i]);
    }
    return k;
}

static void test_real(face_frontend *fe, const char *data)
{
    static const char *people[3] = {"Colin_Powell", "George_W_Bush",
                                    "Tony_Blair"};
    char files[GRID * GRID][1024];
    int nf = 0, inside = 1, side = GRID * TILE;
    face_image col = {0}, im = {0};
    face_portrait p;
    facet_status s;
    double c = side / 2.0 - 0.5;

    memset(&p, 0, sizeof p);
    for (int i = 0; i < 3; i++)
        nf += lfw_files(data, people[i], files + nf, GRID);
    if (nf < GRID * GRID) {
        printf("skipped: real photos (%s/lfw has %d of the %d photos "
               "needed)\n", data, nf, GRID * GRID);
        return;
    }

    // Many faces: the nine photos tiled (each is 250 x 250 in LFW; any
    // other size is cut or padded grey).
    FACET_ASSERT(face_image_alloc(&col, side, side) == FACET_OK);
    memset(col.px, 128, col.stride * (size_t)col.h);
    for (int t = 0; t < GRID * GRID; t++) {
        int ox = (t % GRID) * TILE, oy = (t / GRID) * TILE;

        s = face_image_load(&im, files[t], NULL);
        CHECKF(s == FACET_OK, "%s", facet_error());
        if (s)
            continue;
        for (int y = 0; y < TILE && y < im.h; y++)
            memcpy(col.px + (size_t)(oy + y) * col.stride + 3 * ox,
                   im.px + (size_t)y * im.stride,
                   3 * (size_t)(im.w < TILE ? im.w : TILE));
        face_image_free(&im);
    }
    s = face_portrait_run(fe, &col, &p);
    CHECKF(s == FACET_OK, "collage: %s", facet_error());
    if (s == FACET_OK) {
        const face_det *b = &p.faces[p.subject];

        check_portrait(&p, &col, "collage");
        CHECKF(p.nfaces >= GRID * GRID - 1, "collage: %d faces, want >= %d",
               p.nfaces, GRID * GRID - 1);
        for (int i = 0; i < p.nfaces; i++) {
            const face_det *f = &p.faces[i];

            inside &= f->x + f->w > -0.5 && f->x < side - 0.5 &&
                      f->y + f->h > -0.5 && f->y < side - 0.5 &&
                      f->score > 0.5 && f->score <= 1;
        }
        CHECKF(inside, "collage: a face box outside the collage");
        CHECKF(p.how == FACE_FOUND_DETECTED && b->x <= c &&
               c <= b->x + b->w && b->y <= c && c <= b->y + b->h,
               "collage: subject %d (%.0f %.0f %.0f %.0f) is not the "
               "centre tile's face", p.subject, b->x, b->y, b->w, b->h);
        printf("collage %dx%d: %d faces, subject %d\n", side, side,
               p.nfaces, p.subject);
    }
    face_portrait_free(&p);
    face_image_free(&col);

    // One photo through the default chain.
    s = face_image_load(&im, files[0], NULL);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (s == FACET_OK) {
        s = face_portrait_run(fe, &im, &p);
        CHECKF(s == FACET_OK, "%s: %s", files[0], facet_error());
        if (s == FACET_OK) {
            check_portrait(&p, &im, files[0]);
            CHECK(p.how == FACE_FOUND_DETECTED);
            for (int k = 1; k < FACE_PART_COUNT; k++)
                CHECKF(p.parts_info.count[k] > 0, "%s: no pixel of part "
                       "%d", files[0], k);
        }
        face_portrait_free(&p);

        // No face: the photo's top band (background above the head),
        // stretched to 200 x 120: a portrait or "not found", no crash.
        FACET_ASSERT(face_image_alloc(&col, 200, 120) == FACET_OK);
        for (int y = 0; y < col.h; y++)
            for (int x = 0; x < col.w; x++)
                memcpy(col.px + (size_t)y * col.stride + 3 * x,
                       im.px + (size_t)(y * 30 / col.h) * im.stride +
                           3 * (size_t)(x * im.w / col.w), 3);
        s = face_portrait_run(fe, &col, &p);
        CHECKF(s == FACET_OK || s == FACET_E_NOT_FOUND,
               "background patch: %s: %s", facet_status_str(s),
               facet_error());
        if (s == FACET_OK)
            check_portrait(&p, &col, "background patch");
        face_portrait_free(&p);
        face_image_free(&col);
        face_image_free(&im);
    }
}

int main(void)
{
    const char *wdir = check_weights_dir(), *data = check_data_dir();
    face_frontend_opts o;
    face_frontend *fe = NULL, *fe_no = NULL;
    char probe[1024];
    struct stat st;

    snprintf(probe, sizeof probe, "%s/hair_segmentation.fct", wdir);
    if (stat(probe, &st)) {
        printf("skipped: %s absent (make weights)\n", probe);
        return check_report();
    }
    face_frontend_defaults(&o);
    if (face_frontend_open(&fe, wdir, &o) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return check_report();
    }
    o.aligned = FACE_ALIGNED_NO;
    if (face_frontend_open(&fe_no, wdir, &o) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        face_frontend_close(fe);
        return check_report();
    }

    test_corpus(fe);
    test_no_face(fe, fe_no);
    test_photo_hair(wdir, data, fe);
    snprintf(probe, sizeof probe, "%s/lfw", data);
    if (stat(probe, &st))
        printf("skipped: real photos (%s absent; set FACET_DATA)\n", probe);
    else
        test_real(fe, data);

    face_frontend_close(fe_no);
    face_frontend_close(fe);
    return check_report();
}

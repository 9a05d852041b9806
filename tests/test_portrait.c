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
//   detected subject, labels that hold every part but the background.
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
    snprintf(probe, sizeof probe, "%s/lfw", data);
    if (stat(probe, &st))
        printf("skipped: real photos (%s absent; set FACET_DATA)\n", probe);
    else
        test_real(fe, data);

    face_frontend_close(fe_no);
    face_frontend_close(fe);
    return check_report();
}

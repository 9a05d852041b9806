// bench_frontend.c - `facet bench frontend`: per-photo time of each stage
// of the face front end (face/portrait.h) on a real photo at 250x250 (an
// LFW portrait as it comes) and 1024x1024 (the same photo enlarged and
// re-encoded as JPEG, quality 90, so the decoder and the detector's
// resize see a large file): load (decode from memory, EXIF, RGB),
// detect, landmarks, align, hair, parts, and the total.
//
// The photo is $FACET_DATA/lfw/Tony_Blair/Tony_Blair_0001.jpg (default
// data folder ../shared/data). Output lines for scripts start with
// "frontend " and hold the size, the thread count and the median ms of
// each stage. The peers (face-api in Node, dlib's HOG detector) run
// beside it from tools/bench/peer_frontend.sh; docs/PERFORMANCE.md
// records both.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../face/image.h"
#include "../../face/portrait.h"
#include "../../linalg/base.h"
#include "cli.h"

// Only the JPEG encoder, private to this file (face/image.c keeps its own
// stb static): the 1024x1024 test file is made in memory.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
// stb declares static functions it leaves undefined under STBI_WRITE_NO_STDIO;
// GCC reports those at the end of the file, past the pop.
#pragma GCC diagnostic ignored "-Wunused-function"

#define STAGES (1 + FACE_STAGE_COUNT + 1)   // load, the stages, total

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
    int failed;
} membuf;

static void put_bytes(void *ctx, void *data, int size)
{
    membuf *b = ctx;

    if (b->failed || size <= 0)
        return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = 2 * (b->n + (size_t)size);
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)len)) &&
        fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    if (p)
        *n = (size_t)len;
    fclose(f);
    return p;
}

// The 1024x1024 JPEG: the small photo enlarged (tent filter) and encoded.
static facet_status make_large(membuf *out, const uint8_t *small, size_t n)
{
    face_image a = {0}, b = {0};
    facet_status st = face_image_decode(&a, small, n, "bench photo", NULL);

    if (st == FACET_OK)
        st = face_image_resize(&b, &a, 1024, 1024);
    if (st == FACET_OK) {
        // stb wants packed rows: compact them in place.
        for (int y = 1; y < b.h; y++)
            memmove(b.px + (size_t)y * 3 * b.w, b.px + (size_t)y * b.stride,
                    (size_t)3 * b.w);
        if (!stbi_write_jpg_to_func(put_bytes, out, b.w, b.h, 3, b.px, 90) ||
            out->failed)
            st = facet_fail(FACET_E_NOMEM, "bench frontend: JPEG encoding");
    }
    face_image_free(&a);
    face_image_free(&b);
    return st;
}

// One photo, `reps` timed runs after a warm-up: the median of each stage
// into ms[STAGES] (t holds STAGES x reps samples).
static facet_status time_photo(face_frontend *fe, const uint8_t *file,
                               size_t n, int reps, double *t, double *ms)
{
    for (int r = -1; r < reps; r++) {
        face_image im = {0};
        face_portrait p;
        double t0 = facet_now(), t1, sum;
        facet_status st = face_image_decode(&im, file, n, "bench photo",
                                            NULL);

        t1 = facet_now();
        if (st == FACET_OK)
            st = face_portrait_run(fe, &im, &p);
        face_image_free(&im);
        if (st != FACET_OK)
            return st;
        if (r >= 0) {
            sum = t[r] = t1 - t0;
            for (int k = 0; k < FACE_STAGE_COUNT; k++)
                sum += t[(size_t)(k + 1) * reps + r] = p.seconds[k];
            t[(size_t)(STAGES - 1) * reps + r] = sum;
        }
        face_portrait_free(&p);
    }
    for (int s = 0; s < STAGES; s++)
        ms[s] = 1e3 * bench_median(t + (size_t)s * reps, reps);
    return FACET_OK;
}

int bench_frontend(const bench_opts *o)
{
    const char *data = getenv("FACET_DATA");
    int threads[2] = {1, 2}, nthreads = 2, saved = facet_threads();
    int reps = o->reps > 0 ? o->reps : 5;
    char path[4096];
    uint8_t *small = NULL;
    size_t nsmall = 0;
    membuf large = {0};
    double *t = malloc((size_t)STAGES * reps * sizeof *t);
    face_frontend *fe = NULL;
    face_frontend_opts fo;
    facet_status st = FACET_OK;

    if (o->threads > 0) {
        threads[0] = o->threads;
        nthreads = 1;
    }
    snprintf(path, sizeof path, "%s/lfw/Tony_Blair/Tony_Blair_0001.jpg",
             data && *data ? data : "../shared/data");
    small = read_file(path, &nsmall);
    if (!small) {
        fprintf(stderr, "facet bench frontend: %s: cannot read it (set "
                "FACET_DATA to the research data folder)\n", path);
        free(t);
        return 1;
    }
    face_frontend_defaults(&fo);
    if (!t)
        st = facet_fail(FACET_E_NOMEM, "bench frontend");
    if (st == FACET_OK)
        st = make_large(&large, small, nsmall);
    if (st == FACET_OK)
        st = face_frontend_open(&fe, cli_weights_dir(), &fo);

    if (st == FACET_OK) {
        printf("\nface front end, ms per photo (%s; medians of %d)\n", path,
               reps);
        printf("         %-9s %7s %7s %7s %9s %7s %7s %7s %7s\n", "size",
               "threads", "load", "detect", "landmarks", "align", "hair",
               "parts", "total");
    }
    for (int i = 0; i < nthreads && st == FACET_OK; i++) {
        facet_set_threads(threads[i]);
        for (int k = 0; k < 2 && st == FACET_OK; k++) {
            double ms[STAGES];

            st = k == 0 ? time_photo(fe, small, nsmall, reps, t, ms)
                        : time_photo(fe, large.p, large.n, reps, t, ms);
            if (st != FACET_OK)
                break;
            printf("frontend %-9s %7d %7.2f %7.2f %9.2f %7.2f %7.2f %7.2f "
                   "%7.2f\n", k == 0 ? "250x250" : "1024x1024", threads[i],
                   ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6]);
            fflush(stdout);
        }
    }
    facet_set_threads(saved);
    if (st != FACET_OK)
        fprintf(stderr, "facet bench frontend: %s: %s\n",
                facet_status_str(st), facet_error());
    face_frontend_close(fe);
    free(large.p);
    free(small);
    free(t);
    return st == FACET_OK ? 0 : 1;
}

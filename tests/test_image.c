// test_image.c - tests of face/image.h: the hostile-image corpus, EXIF
// parsing, orientation transforms, alpha on white, atomic writes, PNG
// round trips, resizing, and (when the research data is present) real
// photos against a direct stb decode.
//
//   build/<variant>/tests/test_image           the checks below (~1 s)
//   build/<variant>/tests/test_image --full    also every photo of the
//                                              data folder, with timings
//
// The corpus (tests/data/images, MANIFEST.txt) is written by
// tests/make_image_corpus.py; each file must give exactly its listed
// outcome. References for the EXIF parser and the orientations are
// built here from the Exif definitions, not from image.c's code.
//
// ref: Exif 2.32 4.6.4 (Orientation: where row 0 and column 0 of the
//      stored image appear when shown)
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "stb_impl.h"
#include "../face/image.h"

#define CORPUS "tests/data/images"

// ---------------------------------------------------------------------
// Helpers

// The whole of a file in a malloc'ed buffer of exactly its size (so that
// the sanitizer catches any read past it); NULL when unreadable.
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        b = malloc(len ? (size_t)len : 1);
        if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
            free(b);
            b = NULL;
        }
        *n = (size_t)len;
    }
    fclose(f);
    return b;
}

// A binary P6 reference (maxval 255), read independently of image.c.
static uint8_t *read_ppm(const char *path, int *w, int *h)
{
    size_t n, pos;
    uint8_t *b = slurp(path, &n), *px;
    int maxv, used = 0;

    if (!b)
        return NULL;
    if (sscanf((char *)b, "P6 %d %d %d%n", w, h, &maxv, &used) != 3 ||
        maxv != 255 || *w <= 0 || *h <= 0 || used <= 0) {
        free(b);
        return NULL;
    }
    pos = (size_t)used + 1;
    if (n < pos || n - pos != (size_t)*w * (size_t)*h * 3) {
        free(b);
        return NULL;
    }
    px = malloc(n - pos);
    memcpy(px, b + pos, n - pos);
    free(b);
    return px;
}

static const struct {
    const char *name;
    facet_status st;
} status_names[] = {
    {"E_ARG", FACET_E_ARG},         {"E_NOMEM", FACET_E_NOMEM},
    {"E_IO", FACET_E_IO},           {"E_FORMAT", FACET_E_FORMAT},
    {"E_CORRUPT", FACET_E_CORRUPT}, {"E_TOO_LARGE", FACET_E_TOO_LARGE},
    {"E_UNSUPPORTED", FACET_E_UNSUPPORTED},
};

static int status_by_name(const char *s, facet_status *st)
{
    for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++) {
        if (!strcmp(s, status_names[i].name)) {
            *st = status_names[i].st;
            return 1;
        }
    }
    return 0;
}

// Largest |a - b| over the w x h RGB pixels of im and a packed reference.
static int max_diff(const face_image *im, const uint8_t *ref)
{
    int d = 0;

    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < 3 * im->w; x++) {
            int e = abs(im->px[(size_t)y * im->stride + x] -
                        ref[(size_t)y * 3 * im->w + x]);
            d = e > d ? e : d;
        }
    return d;
}

static int same_image(const face_image *a, const face_image *b)
{
    if (a->w != b->w || a->h != b->h)
        return 0;
    for (int y = 0; y < a->h; y++)
        if (memcmp(a->px + (size_t)y * a->stride,
                   b->px + (size_t)y * b->stride, 3 * (size_t)a->w))
            return 0;
    return 1;
}

static int is_empty(const face_image *im)
{
    return !im->px && im->w == 0 && im->h == 0 && im->stride == 0;
}

// A scratch folder under $TMPDIR or /tmp, removed (with its plain files)
// at the end.
static char scratch[96];

static void scratch_make(void)
{
    if (check_mkdtemp(scratch, sizeof scratch, "image") != 0) {
        fprintf(stderr, "cannot make a scratch folder: %s\n",
                strerror(errno));
        exit(EXIT_FAILURE);
    }
}

// Names in a folder other than . and ..; returns the count and copies
// the first name to first (when not NULL).
static int list_dir(const char *dir, char *first, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n++ == 0 && first)
            snprintf(first, cap, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    if (!d)
        return;
    while ((e = readdir(d))) {
        struct stat sb;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

// ---------------------------------------------------------------------
// The corpus: every file gives its manifest outcome

static void test_corpus(void)
{
    char path[512], line[512], first[256];
    FILE *f;
    int files = 0, ok_files = 0, listed_all = 1;
    char listed[128][64];

    snprintf(path, sizeof path, "%s/MANIFEST.txt", CORPUS);
    f = fopen(path, "r");
    CHECKF(f != NULL, "%s: cannot open (run from the repository root)",
           path);
    if (!f)
        return;

    while (fgets(line, sizeof line, f)) {
        char name[64], outcome[32], a[128], b[128];
        char *hash = strchr(line, '#');
        int k, w, h, tol;
        uint8_t *buf;
        size_t n;
        face_image im, im2;
        facet_status st, want = FACET_OK;

        if (hash)
            *hash = '\0';
        a[0] = b[0] = '\0';
        k = sscanf(line, "%63s %31s %127s %127s", name, outcome, a, b);
        if (k < 2)
            continue;
        if (files < 128)
            snprintf(listed[files], sizeof listed[0], "%s", name);
        files++;
        snprintf(path, sizeof path, "%s/%s", CORPUS, name);

        // The file through both entry points: by path and from memory.
        st = face_image_load(&im, path, NULL);
        buf = slurp(path, &n);
        CHECKF(buf != NULL, "%s: cannot read the corpus file", path);
        if (!buf) {
            face_image_free(&im);
            continue;
        }

        if (!strcmp(outcome, "ok")) {
            char refpath[512];
            int rw, rh, d;
            uint8_t *ref;

            ok_files++;
            w = h = tol = -1;
            CHECKF(sscanf(line, "%*s %*s %dx%d %127s %d", &w, &h, a,
                          &tol) == 4, "%s: bad manifest line", name);
            CHECKF(st == FACET_OK, "%s: %s", path, facet_error());
            CHECKF(im.w == w && im.h == h, "%s: %dx%d, want %dx%d", path,
                   im.w, im.h, w, h);
            CHECKF(im.stride >= 3 * (size_t)im.w &&
                   im.stride % FACE_IMAGE_ROW_ALIGN == 0,
                   "%s: stride %zu", path, im.stride);
            snprintf(refpath, sizeof refpath, "%s/%s", CORPUS, a);
            ref = read_ppm(refpath, &rw, &rh);
            CHECKF(ref && rw == w && rh == h, "%s: bad reference", refpath);
            if (st == FACET_OK && ref && im.w == rw && im.h == rh) {
                // tol: 0 for lossless files (exact by definition); for
                // JPEG the stb / libjpeg-turbo difference, measured by the
                // corpus script on this file.
                d = max_diff(&im, ref);
                CHECKF(d <= tol, "%s: max difference %d from %s, tol %d",
                       path, d, a, tol);
            }
            free(ref);

            // From memory: the same pixels.
            st = face_image_decode(&im2, buf, n, name, NULL);
            CHECKF(st == FACET_OK && same_image(&im, &im2),
                   "%s: decode from memory differs (%s)", path,
                   st == FACET_OK ? "pixels" : facet_error());
            face_image_free(&im2);
        } else {
            CHECKF(status_by_name(outcome, &want), "%s: unknown outcome %s",
                   name, outcome);
            CHECKF(st == want, "%s: status %s, want %s (%s)", path,
                   facet_status_str(st), facet_status_str(want),
                   facet_error());
            CHECKF(strstr(facet_error(), path) != NULL,
                   "%s: message does not name the file: %s", path,
                   facet_error());
            CHECKF(!a[0] || strstr(facet_error(), a) != NULL,
                   "%s: message lacks \"%s\": %s", path, a, facet_error());
            CHECKF(is_empty(&im), "%s: output not left empty", path);

            st = face_image_decode(&im2, buf, n, name, NULL);
            CHECKF(st == want && strstr(facet_error(), name) != NULL,
                   "%s: from memory: %s", name, facet_error());
            CHECKF(is_empty(&im2), "%s: output not left empty", name);
        }
        free(buf);
        face_image_free(&im);
    }
    fclose(f);
    CHECKF(files >= 20 && ok_files >= 10, "corpus: %d files, %d ok",
           files, ok_files);

    // Every file in the folder is listed (references live in ref/).
    {
        DIR *d = opendir(CORPUS);
        struct dirent *e;

        while (d && (e = readdir(d))) {
            int found = 0;

            if (e->d_name[0] == '.' || !strcmp(e->d_name, "ref") ||
                !strcmp(e->d_name, "MANIFEST.txt"))
                continue;
            for (int i = 0; i < files && i < 128; i++)
                found |= !strcmp(listed[i], e->d_name);
            if (!found) {
                listed_all = 0;
                snprintf(first, sizeof first, "%s", e->d_name);
            }
        }
        if (d)
            closedir(d);
        CHECKF(listed_all, "%s/%s is not in MANIFEST.txt", CORPUS, first);
    }
}

// ---------------------------------------------------------------------
// EXIF parsing on hand-built bytes

typedef struct bytes {
    uint8_t b[1024];
    size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
    FACET_ASSERT(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put8(bytes *o, unsigned v)
{
    uint8_t c = (uint8_t)v;

    put(o, &c, 1);
}
static void put16(bytes *o, unsigned v, int big)
{
    if (big) {
        put8(o, v >> 8);
        put8(o, v);
    } else {
        put8(o, v);
        put8(o, v >> 8);
    }
}
static void put32(bytes *o, uint32_t v, int big)
{
    if (big) {
        put16(o, v >> 16, 1);
        put16(o, v & 0xffff, 1);
    } else {
        put16(o, v & 0xffff, 0);
        put16(o, v >> 16, 0);
    }
}

// A TIFF block: header, IFD0 at `ifd` (padding before it) with `count`
// claimed entries, of which these are written: a Make tag (ASCII, value
// offset pointing anywhere), then Orientation of type `type` and value
// `v`, then the next-IFD offset `next`.
static void tiff(bytes *o, int big, uint32_t ifd, unsigned count,
                 unsigned type, uint32_t v, uint32_t next)
{
    size_t start = o->n;

    put(o, big ? "MM" : "II", 2);
    put16(o, 42, big);
    put32(o, ifd, big);
    while (o->n - start < ifd && o->n - start < 64)
        put8(o, 0);
    put16(o, count, big);
    put16(o, 0x010f, big);          // Make, ASCII, 6 bytes at offset 200
    put16(o, 2, big);
    put32(o, 6, big);
    put32(o, 200, big);
    put16(o, 0x0112, big);          // Orientation
    put16(o, type, big);
    put32(o, 1, big);
    if (type == 4) {
        put32(o, v, big);
    } else {
        put16(o, v, big);
        put16(o, 0, big);
    }
    put32(o, next, big);
}

// A JPEG head: SOI, an APP0, the APP1 holding `t` after "Exif\0\0",
// a minimal SOS and EOI (the parser stops at the scan).
static void jpeg_with(bytes *o, const bytes *t)
{
    static const uint8_t app0[] = {0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0,
                                   1, 1, 0, 0, 1, 0, 1, 0, 0};
    static const uint8_t tail[] = {0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0,
                                   0x12, 0x34, 0xff, 0xd9};

    o->n = 0;
    put8(o, 0xff);
    put8(o, 0xd8);
    put(o, app0, sizeof app0);
    put8(o, 0xff);
    put8(o, 0xe1);
    put16(o, (unsigned)(t->n + 8), 1);
    put(o, "Exif\0\0", 6);
    put(o, t->b, t->n);
    put(o, tail, sizeof tail);
}

// face_exif_orientation on an exact-size heap copy (ASan sees overreads).
static int orient_of(const uint8_t *b, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    int k;

    memcpy(c, b, n);
    k = face_exif_orientation(c, n);
    free(c);
    return k;
}

static void test_exif(void)
{
    bytes t, j;
    facet_rng rng;

    // Every orientation, both byte orders, SHORT and LONG values.
    for (int big = 0; big <= 1; big++)
        for (unsigned type = 3; type <= 4; type++)
            for (uint32_t v = 1; v <= 8; v++) {
                t.n = 0;
                tiff(&t, big, 8, 2, type, v, 0);
                jpeg_with(&j, &t);
                CHECKF(orient_of(j.b, j.n) == (int)v,
                       "orientation %u, big %d, type %u", v, big, type);
            }

    // Values out of range and wrong types read as 1.
    {
        static const uint32_t bad[] = {0, 9, 255, 0xffff};

        for (int i = 0; i < 4; i++) {
            t.n = 0;
            tiff(&t, 0, 8, 2, 3, bad[i], 0);
            jpeg_with(&j, &t);
            CHECKF(orient_of(j.b, j.n) == 1, "value %u", bad[i]);
        }
        t.n = 0;
        tiff(&t, 1, 8, 2, 2, 6, 0);     // ASCII
        jpeg_with(&j, &t);
        CHECK(orient_of(j.b, j.n) == 1);
    }

    // IFD0 offsets out of the block, or leaving no room for the count.
    {
        static const uint32_t offs[] = {0xffffffffu, 0x80000000u, 4000, 37,
                                        36};

        for (int i = 0; i < 5; i++) {
            t.n = 0;
            tiff(&t, i & 1, 8, 2, 3, 6, 0);
            // Patch the header's offset (bytes 4..7).
            for (int k = 0; k < 4; k++)
                t.b[4 + k] = (i & 1) ? (uint8_t)(offs[i] >> (24 - 8 * k))
                                     : (uint8_t)(offs[i] >> (8 * k));
            jpeg_with(&j, &t);
            CHECKF(orient_of(j.b, j.n) == 1, "IFD0 offset %u (block %zu)",
                   offs[i], t.n);
        }
    }

    // An IFD0 placed later in the block, and one that links to itself:
    // only IFD0 is read, so the loop is harmless.
    t.n = 0;
    tiff(&t, 1, 20, 2, 3, 7, 0);
    jpeg_with(&j, &t);
    CHECK(orient_of(j.b, j.n) == 7);
    t.n = 0;
    tiff(&t, 0, 8, 2, 3, 5, 8);
    jpeg_with(&j, &t);
    CHECK(orient_of(j.b, j.n) == 5);

    // A count that claims more entries than the block holds: the entries
    // present are still read, those past the end are not.
    t.n = 0;
    tiff(&t, 0, 8, 0xffff, 3, 3, 0);
    jpeg_with(&j, &t);
    CHECK(orient_of(j.b, j.n) == 3);
    t.n = 0;
    tiff(&t, 1, 8, 1, 3, 3, 0);         // count 1: Orientation not in it
    jpeg_with(&j, &t);
    CHECK(orient_of(j.b, j.n) == 1);

    // Every truncation of the TIFF block (the APP1 length shrunk to match)
    // and of the whole file: 1 or the value, never a read out of bounds.
    t.n = 0;
    tiff(&t, 0, 8, 2, 3, 6, 0);
    for (size_t cut = 0; cut <= t.n; cut++) {
        bytes u = t;
        int k;

        u.n = cut;
        jpeg_with(&j, &u);
        k = orient_of(j.b, j.n);
        CHECKF(k == (cut >= 34 ? 6 : 1), "TIFF cut at %zu: %d", cut, k);
    }
    jpeg_with(&j, &t);
    for (size_t cut = 0; cut <= j.n; cut++) {
        int k = orient_of(j.b, cut);

        CHECKF(k == 1 || k == 6, "file cut at %zu: %d", cut, k);
    }

    // The segment walk: fill bytes before a marker, an XMP APP1 before the
    // Exif one, an Exif block after the scan (not read).
    {
        bytes x;
        static const char xmp[] = "http://ns.adobe.com/xap/1.0/";

        t.n = 0;
        tiff(&t, 1, 8, 2, 3, 8, 0);
        jpeg_with(&j, &t);
        x.n = 0;
        put(&x, j.b, 20);               // SOI + APP0
        put8(&x, 0xff);                 // fill byte
        put8(&x, 0xff);
        put8(&x, 0xe1);                 // XMP APP1
        put16(&x, (unsigned)sizeof xmp + 2, 1);
        put(&x, xmp, sizeof xmp);
        put(&x, j.b + 20, j.n - 20);
        CHECK(orient_of(x.b, x.n) == 8);

        x.n = 0;
        put(&x, j.b, 20);
        put(&x, j.b + j.n - 14, 12);    // SOS + 2 data bytes
        put(&x, j.b + 20, j.n - 20 - 14);
        put8(&x, 0xff);
        put8(&x, 0xd9);
        CHECK(orient_of(x.b, x.n) == 1);
    }

    // PNG eXIf, bare and with the JPEG-style prefix; a chunk length that
    // runs past the end.
    for (int prefix = 0; prefix <= 2; prefix++) {
        bytes p;
        static const uint8_t sig[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
        static const uint8_t ihdr[] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0,
                                       0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0, 0,
                                       0, 0};

        t.n = 0;
        tiff(&t, 0, 8, 2, 3, 6, 0);
        p.n = 0;
        put(&p, sig, sizeof sig);
        put(&p, ihdr, sizeof ihdr);
        put32(&p, (uint32_t)(t.n + (prefix == 1 ? 6 : 0)) +
                      (prefix == 2 ? 1000 : 0), 1);
        put(&p, "eXIf", 4);
        if (prefix == 1)
            put(&p, "Exif\0\0", 6);
        put(&p, t.b, t.n);
        put32(&p, 0, 1);                // CRC, not checked
        CHECKF(orient_of(p.b, p.n) == (prefix == 2 ? 1 : 6), "PNG %d",
               prefix);
    }

    // Not an image, empty, NULL.
    CHECK(orient_of((const uint8_t *)"hello", 5) == 1);
    CHECK(orient_of((const uint8_t *)"", 0) == 1);
    CHECK(face_exif_orientation(NULL, 10) == 1);

    // Random byte damage to a valid file: always 1..8, no bad reads.
    facet_rng_seed(&rng, 4242);
    t.n = 0;
    tiff(&t, 1, 8, 2, 3, 4, 0);
    jpeg_with(&j, &t);
    {
        int bad = 0;

        for (int it = 0; it < 20000; it++) {
            bytes m = j;
            int flips = 1 + (int)facet_rng_below(&rng, 4), k;

            for (int i = 0; i < flips; i++)
                m.b[facet_rng_below(&rng, (uint32_t)m.n)] =
                    (uint8_t)facet_rng_below(&rng, 256);
            k = orient_of(m.b, m.n);
            bad += k < 1 || k > 8;
        }
        CHECKF(bad == 0, "%d damaged files gave values outside 1..8", bad);
    }
}

// ---------------------------------------------------------------------
// Orientation transforms against the Exif definition

// Where row 0 and column 0 of the stored image appear for orientation k
// (Exif 4.6.4): rows become columns for 5-8; "far" is the bottom (row 0
// for 1-4), the right (row 0 for 5-8), the right (column 0 for 1-4) or
// the bottom (column 0 for 5-8).
static const struct {
    int swap, row0_far, col0_far;
} exif_def[9] = {
    {0, 0, 0}, {0, 0, 0}, {0, 0, 1}, {0, 1, 1}, {0, 1, 0},
    {1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {1, 0, 1},
};

static void test_orient(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 6}, {6, 1}, {7, 5}, {13, 11},
                                   {32, 16}, {17, 40}};
    facet_rng rng;

    facet_rng_seed(&rng, 99);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1];

        for (int k = 1; k <= 8; k++) {
            face_image src, im;
            int bad = 0, dw, dh;

            CHECK(face_image_alloc(&src, w, h) == FACET_OK);
            CHECK(face_image_alloc(&im, w, h) == FACET_OK);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < 3 * w; x++)
                    src.px[(size_t)y * src.stride + x] =
                        im.px[(size_t)y * im.stride + x] =
                            (uint8_t)facet_rng_below(&rng, 256);

            CHECK(face_image_orient(&im, k) == FACET_OK);
            dw = exif_def[k].swap ? h : w;
            dh = exif_def[k].swap ? w : h;
            CHECKF(im.w == dw && im.h == dh, "%dx%d k %d: %dx%d", w, h, k,
                   im.w, im.h);
            CHECK(im.stride >= 3 * (size_t)im.w);

            // Send each stored pixel (r, c) to where the definition shows
            // it and compare.
            for (int r = 0; r < h && im.w == dw; r++) {
                for (int c = 0; c < w; c++) {
                    int dr, dc;
                    const uint8_t *a, *b;

                    if (!exif_def[k].swap) {
                        dr = exif_def[k].row0_far ? h - 1 - r : r;
                        dc = exif_def[k].col0_far ? w - 1 - c : c;
                    } else {
                        dc = exif_def[k].row0_far ? h - 1 - r : r;
                        dr = exif_def[k].col0_far ? w - 1 - c : c;
                    }
                    a = src.px + (size_t)r * src.stride + 3 * c;
                    b = im.px + (size_t)dr * im.stride + 3 * dc;
                    bad += memcmp(a, b, 3) != 0;
                }
            }
            CHECKF(bad == 0, "%dx%d orientation %d: %d pixels misplaced", w,
                   h, k, bad);

            // The inverse transform restores the stored image
            // (6 and 8 undo each other; the rest are their own inverse).
            CHECK(face_image_orient(&im, k == 6 ? 8 : k == 8 ? 6 : k) ==
                  FACET_OK);
            CHECKF(same_image(&im, &src), "%dx%d orientation %d: inverse",
                   w, h, k);
            face_image_free(&im);
            face_image_free(&src);
        }
    }

    // Out of range: FACET_E_ARG, image untouched.
    {
        face_image im;

        CHECK(face_image_alloc(&im, 3, 2) == FACET_OK);
        im.px[0] = 7;
        CHECK(face_image_orient(&im, 0) == FACET_E_ARG);
        CHECK(face_image_orient(&im, 9) == FACET_E_ARG);
        CHECK(strstr(facet_error(), "9") != NULL);
        CHECK(im.w == 3 && im.h == 2 && im.px[0] == 7);
        face_image_free(&im);
    }
}

// ---------------------------------------------------------------------
// Owned images, options

static void test_alloc(void)
{
    face_image im;
    face_load_opts o;
    int zero = 1;

    CHECK(face_image_alloc(&im, 0, 5) == FACET_E_ARG && is_empty(&im));
    CHECK(face_image_alloc(&im, 5, -1) == FACET_E_ARG && is_empty(&im));
    CHECK(face_image_alloc(&im, 250, 3) == FACET_OK);
    CHECK(im.w == 250 && im.h == 3 && im.stride == 752);
    CHECK((uintptr_t)im.px % FACE_IMAGE_ROW_ALIGN == 0);
    for (size_t i = 0; i < im.stride * 3; i++)
        zero &= im.px[i] == 0;
    CHECK(zero);
    face_image_free(&im);
    CHECK(is_empty(&im));
    face_image_free(&im);               // again: harmless
    face_image_free(NULL);

    face_load_defaults(&o);
    CHECK(o.max_pixels == 64000000u);
    CHECK(o.max_file_bytes == (size_t)256 << 20);
    CHECK(o.ignore_exif == 0);
}

// ---------------------------------------------------------------------
// Alpha on white: every 8-bit (value, alpha) pair, and 16-bit samples

// A PNG in memory built with zlib: w x h, 16-bit RGBA (colour type 6).
static uint8_t *png16_rgba(const uint16_t *px, int w, int h, size_t *n)
{
    size_t raw_n = (size_t)h * (1 + 8 * (size_t)w), pos = 0;
    uLongf z_n = compressBound((uLong)raw_n);
    uint8_t *raw = malloc(raw_n), *out = malloc(z_n + 64), *p;
    uint32_t crc;

    for (int y = 0; y < h; y++) {
        raw[pos++] = 0;
        for (int x = 0; x < 4 * w; x++) {
            uint16_t v = px[(size_t)y * 4 * w + x];

            raw[pos++] = (uint8_t)(v >> 8);
            raw[pos++] = (uint8_t)v;
        }
    }
    memcpy(out, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    p = out + 16;
    p[0] = (uint8_t)(w >> 24); p[1] = (uint8_t)(w >> 16);
    p[2] = (uint8_t)(w >> 8); p[3] = (uint8_t)w;
    p[4] = (uint8_t)(h >> 24); p[5] = (uint8_t)(h >> 16);
    p[6] = (uint8_t)(h >> 8); p[7] = (uint8_t)h;
    p[8] = 16; p[9] = 6; p[10] = p[11] = p[12] = 0;
    crc = (uint32_t)crc32(0, out + 12, 17);
    p = out + 29;
    p[0] = (uint8_t)(crc >> 24); p[1] = (uint8_t)(crc >> 16);
    p[2] = (uint8_t)(crc >> 8); p[3] = (uint8_t)crc;
    p += 4;
    compress2(p + 8, &z_n, raw, (uLong)raw_n, 6);
    p[0] = (uint8_t)(z_n >> 24); p[1] = (uint8_t)(z_n >> 16);
    p[2] = (uint8_t)(z_n >> 8); p[3] = (uint8_t)z_n;
    memcpy(p + 4, "IDAT", 4);
    crc = (uint32_t)crc32(0, p + 4, (uInt)z_n + 4);
    p += 8 + z_n;
    p[0] = (uint8_t)(crc >> 24); p[1] = (uint8_t)(crc >> 16);
    p[2] = (uint8_t)(crc >> 8); p[3] = (uint8_t)crc;
    p += 4;
    memcpy(p, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    p += 12;
    *n = (size_t)(p - out);
    free(raw);
    return out;
}

static void test_alpha(void)
{
    char path[128];
    uint8_t *rgba = malloc(256 * 256 * 4), *ga = malloc(256 * 256 * 2);
    face_image im;
    int bad = 0;

    // 256 x 256: x is the colour value, y the alpha.
    for (int a = 0; a < 256; a++)
        for (int v = 0; v < 256; v++) {
            uint8_t *p = rgba + 4 * (256 * a + v);

            p[0] = (uint8_t)v;
            p[1] = (uint8_t)(255 - v);
            p[2] = (uint8_t)(v * 7);
            p[3] = (uint8_t)a;
            ga[2 * (256 * a + v)] = (uint8_t)v;
            ga[2 * (256 * a + v) + 1] = (uint8_t)a;
        }

    for (int ch = 2; ch <= 4; ch += 2) {
        snprintf(path, sizeof path, "%s/alpha%d.png", scratch, ch);
        CHECK(face_image_write_png(path, ch == 4 ? rgba : ga, 256, 256, ch,
                                   256 * (size_t)ch) == FACET_OK);
        CHECKF(face_image_load(&im, path, NULL) == FACET_OK, "%s",
               facet_error());
        bad = 0;
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *s = ch == 4 ? rgba + 4 * (256 * y + x)
                                               : ga + 2 * (256 * y + x);
                    double v = ch == 4 ? s[c] : s[0], a = s[ch - 1];
                    // Exact: the reference rounds the same real number.
                    double want = floor((v * a + 255.0 * (255.0 - a)) /
                                        255.0 + 0.5);

                    bad += im.px[(size_t)y * im.stride + 3 * x + c] != want;
                }
        CHECKF(bad == 0, "%d channels: %d samples off the on-white value",
               ch, bad);
        face_image_free(&im);
    }

    // 16-bit RGBA: seeded random samples plus the alpha extremes, decoded
    // from memory. Exact against round(on-white value / 257) in double.
    {
        enum { W = 128, H = 64 };
        uint16_t *px = malloc(sizeof *px * W * H * 4);
        facet_rng rng;
        uint8_t *png;
        size_t n;

        facet_rng_seed(&rng, 16);
        for (int i = 0; i < W * H * 4; i++)
            px[i] = (uint16_t)facet_rng_below(&rng, 65536);
        px[3] = 0;
        px[7] = 1;
        px[11] = 65534;
        px[15] = 65535;
        png = png16_rgba(px, W, H, &n);
        CHECKF(face_image_decode(&im, png, n, "rgba16", NULL) == FACET_OK,
               "%s", facet_error());
        bad = 0;
        for (int i = 0; i < W * H && im.px; i++)
            for (int c = 0; c < 3; c++) {
                double v = px[4 * i + c], a = px[4 * i + 3];
                double want = floor((v * a + 65535.0 * (65535.0 - a)) /
                                    65535.0 / 257.0 + 0.5);

                bad += im.px[(size_t)(i / W) * im.stride + 3 * (i % W) + c]
                       != want;
            }
        CHECKF(bad == 0, "16-bit: %d samples off", bad);
        face_image_free(&im);
        free(png);
        free(px);
    }
    free(rgba);
    free(ga);
}

// ---------------------------------------------------------------------
// Atomic writes

static int file_is(const char *path, const void *data, size_t n)
{
    size_t got;
    uint8_t *b = slurp(path, &got);
    int ok = b && got == n && (n == 0 || !memcmp(b, data, n));

    free(b);
    return ok;
}

static void test_atomic(void)
{
    char root[128], path[256], dir[256], first[256];
    static uint8_t big[100000];
    struct rlimit old, lim;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31);
    snprintf(root, sizeof root, "%s/atomic", scratch);
    CHECK(mkdir(root, 0777) == 0);

    // Create, overwrite, empty; nothing left beside the target.
    snprintf(path, sizeof path, "%s/out.bin", root);
    CHECK(face_write_file_atomic(path, "first", 5) == FACET_OK);
    CHECK(file_is(path, "first", 5));
    CHECK(face_write_file_atomic(path, big, sizeof big) == FACET_OK);
    CHECK(file_is(path, big, sizeof big));
    CHECK(face_write_file_atomic(path, "", 0) == FACET_OK);
    CHECK(file_is(path, "", 0));
    CHECK(face_write_file_atomic(path, "old", 3) == FACET_OK);
    CHECK(list_dir(root, first, sizeof first) == 1);

    // A folder that does not exist: an error naming the path, no file.
    snprintf(dir, sizeof dir, "%s/missing/out.bin", root);
    CHECK(face_write_file_atomic(dir, "x", 1) == FACET_E_IO);
    CHECKF(strstr(facet_error(), dir) != NULL, "%s", facet_error());
    CHECK(list_dir(root, NULL, 0) == 1);

    // The target is a non-empty folder: the rename fails; the folder and
    // its file stay, the temporary file is removed.
    snprintf(dir, sizeof dir, "%s/adir", root);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/adir/keep", root);
    CHECK(face_write_file_atomic(path, "keep", 4) == FACET_OK);
    CHECK(face_write_file_atomic(dir, big, sizeof big) == FACET_E_IO);
    CHECKF(strstr(facet_error(), dir) != NULL, "%s", facet_error());
    CHECK(file_is(path, "keep", 4));
    CHECK(list_dir(root, NULL, 0) == 2);

    // A write that fails part-way (the file-size limit; SIGXFSZ ignored
    // so that write() returns EFBIG): the old content stays, no
    // temporary file is left.
    snprintf(path, sizeof path, "%s/out.bin", root);
    fflush(stdout);
    fflush(stderr);
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        facet_status st = face_write_file_atomic(path, big, sizeof big);

        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(st == FACET_E_IO);
        CHECKF(strstr(facet_error(), path) != NULL, "%s", facet_error());
        CHECK(file_is(path, "old", 3));
        CHECK(list_dir(root, NULL, 0) == 2);
    } else {
        printf("note: setrlimit(RLIMIT_FSIZE) refused; part-way write "
               "failure not tested\n");
    }
    signal(SIGXFSZ, SIG_DFL);

    // Bad arguments.
    CHECK(face_write_file_atomic("", "x", 1) == FACET_E_ARG);
    CHECK(face_write_file_atomic(NULL, "x", 1) == FACET_E_ARG);
    snprintf(path, sizeof path, "%s/", root);
    CHECK(face_write_file_atomic(path, "x", 1) == FACET_E_ARG);
    snprintf(path, sizeof path, "%s/x", root);
    CHECK(face_write_file_atomic(path, NULL, 1) == FACET_E_ARG);
    CHECK(list_dir(root, NULL, 0) == 2);
}

// ---------------------------------------------------------------------
// PNG round trips, load options and errors

static void test_png_and_load(void)
{
    char path[256];
    face_image im, back;
    face_load_opts o;
    facet_rng rng;

    // An image with padded rows (junk in the padding must not matter).
    facet_rng_seed(&rng, 5);
    CHECK(face_image_alloc(&im, 37, 23) == FACET_OK);
    for (size_t i = 0; i < im.stride * (size_t)im.h; i++)
        im.px[i] = (uint8_t)facet_rng_below(&rng, 256);
    snprintf(path, sizeof path, "%s/rt.png", scratch);
    CHECK(face_image_write_png(path, im.px, im.w, im.h, 3, im.stride) ==
          FACET_OK);
    CHECKF(face_image_load(&back, path, NULL) == FACET_OK, "%s",
           facet_error());
    CHECK(same_image(&im, &back));
    face_image_free(&back);

    // One channel: grey copied to all three.
    {
        uint8_t g[5 * 4];
        int ok = 1;

        for (int i = 0; i < 20; i++)
            g[i] = (uint8_t)(i * 13);
        char grey[256];

        snprintf(grey, sizeof grey, "%s/grey.png", scratch);
        CHECK(face_image_write_png(grey, g, 5, 4, 1, 5) == FACET_OK);
        CHECK(face_image_load(&back, grey, NULL) == FACET_OK);
        for (int i = 0; i < 20 && back.px; i++)
            for (int c = 0; c < 3; c++)
                ok &= back.px[(size_t)(i / 5) * back.stride + 3 * (i % 5) +
                              c] == g[i];
        CHECK(ok && back.w == 5 && back.h == 4);
        face_image_free(&back);
    }

    // Bad PNG arguments.
    CHECK(face_image_write_png(path, im.px, 0, 1, 3, 3) == FACET_E_ARG);
    CHECK(face_image_write_png(path, im.px, 4, 1, 5, 20) == FACET_E_ARG);
    CHECK(face_image_write_png(path, im.px, 4, 1, 3, 11) == FACET_E_ARG);
    CHECK(face_image_write_png(path, NULL, 4, 1, 3, 12) == FACET_E_ARG);

    // Caps: pixels and file bytes, with the numbers in the message.
    face_load_defaults(&o);
    o.max_pixels = 37 * 23 - 1;
    CHECK(face_image_load(&back, path, NULL) == FACET_OK);
    face_image_free(&back);
    snprintf(path, sizeof path, "%s/rt.png", scratch);
    CHECK(face_image_load(&back, path, &o) == FACET_E_TOO_LARGE);
    CHECKF(strstr(facet_error(), "37x23") && strstr(facet_error(), "Mpx"),
           "%s", facet_error());
    CHECK(is_empty(&back));
    o.max_pixels = 37 * 23;
    CHECK(face_image_load(&back, path, &o) == FACET_OK);
    face_image_free(&back);
    face_load_defaults(&o);
    o.max_file_bytes = 100;
    CHECK(face_image_load(&back, path, &o) == FACET_E_TOO_LARGE);
    CHECKF(strstr(facet_error(), path) && strstr(facet_error(), "cap"),
           "%s", facet_error());
    face_image_free(&im);

    // ignore_exif keeps the stored order.
    face_load_defaults(&o);
    o.ignore_exif = 1;
    CHECK(face_image_load(&back, CORPUS "/orient6.jpg", &o) == FACET_OK);
    CHECK(back.w == 16 && back.h == 32);
    face_image_free(&back);
    CHECK(face_image_load(&back, CORPUS "/orient6.jpg", NULL) == FACET_OK);
    CHECK(back.w == 32 && back.h == 16);
    face_image_free(&back);

    // Missing file, a folder, an empty path.
    snprintf(path, sizeof path, "%s/none.jpg", scratch);
    CHECK(face_image_load(&back, path, NULL) == FACET_E_IO);
    CHECKF(strstr(facet_error(), path) != NULL, "%s", facet_error());
    CHECK(face_image_load(&back, scratch, NULL) == FACET_E_IO);
    CHECKF(strstr(facet_error(), "not a regular file") != NULL, "%s",
           facet_error());
    CHECK(face_image_load(&back, "", NULL) == FACET_E_ARG);
    CHECK(is_empty(&back));

    // Decode: NULL buffer, unnamed.
    CHECK(face_image_decode(&back, NULL, 4, "x", NULL) == FACET_E_ARG);
    CHECK(face_image_decode(&back, (const uint8_t *)"abc", 3, NULL, NULL) ==
          FACET_E_FORMAT);
    CHECK(strstr(facet_error(), "<memory>") != NULL);
}

// ---------------------------------------------------------------------
// Resize

static void test_resize(void)
{
    face_image a, b;
    facet_rng rng;
    int ok = 1, worst = 0;

    // A constant image stays constant at any size.
    CHECK(face_image_alloc(&a, 9, 7) == FACET_OK);
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 27; x++)
            a.px[(size_t)y * a.stride + x] = (uint8_t)(40 + x % 3 * 50);
    CHECK(face_image_resize(&b, &a, 31, 3) == FACET_OK);
    CHECK(b.w == 31 && b.h == 3);
    for (int y = 0; y < b.h; y++)
        for (int x = 0; x < 3 * b.w; x++)
            ok &= b.px[(size_t)y * b.stride + x] == 40 + x % 3 * 50;
    CHECK(ok);
    face_image_free(&b);
    face_image_free(&a);

    // Shrink ratios near 1.17 once tripped an assertion inside stb (the
    // tent weights summing to just over 1.1): every height from 560 to 640
    // to 512 must work and keep a constant image constant.
    for (int h = 560, bad = 0; h <= 640; h++) {
        CHECK(face_image_alloc(&a, 5, h) == FACET_OK);
        memset(a.px, 90, (size_t)h * a.stride);
        CHECK(face_image_resize(&b, &a, 5, 512) == FACET_OK);
        for (int y = 0; y < b.h && b.px; y++)
            bad += b.px[(size_t)y * b.stride] != 90;
        CHECKF(bad == 0, "%d rows to 512: %d pixels changed", h, bad);
        face_image_free(&b);
        face_image_free(&a);
    }

    // The same size is the identity (tent weights 1 at the centre, 0 at
    // the neighbours).
    facet_rng_seed(&rng, 8);
    CHECK(face_image_alloc(&a, 13, 11) == FACET_OK);
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 39; x++)
            a.px[(size_t)y * a.stride + x] =
                (uint8_t)facet_rng_below(&rng, 256);
    CHECK(face_image_resize(&b, &a, 13, 11) == FACET_OK);
    CHECK(same_image(&a, &b));
    face_image_free(&b);
    face_image_free(&a);

    // A horizontal ramp doubled: away from the clamped edges, the linear
    // interpolation of the ramp (pixel centres: x' = (x + 0.5) / 2 - 0.5).
    CHECK(face_image_alloc(&a, 32, 4) == FACET_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 32; x++)
            for (int c = 0; c < 3; c++)
                a.px[(size_t)y * a.stride + 3 * x + c] = (uint8_t)(8 * x);
    CHECK(face_image_resize(&b, &a, 64, 8) == FACET_OK);
    for (int y = 0; y < 8; y++)
        for (int x = 2; x < 62; x++) {
            double want = 8.0 * ((x + 0.5) / 2.0 - 0.5);
            int d = (int)fabs(b.px[(size_t)y * b.stride + 3 * x] - want);

            worst = d > worst ? d : worst;
        }
    // 1: the result is rounded to 8 bits (stb rounds a float sum).
    CHECKF(worst <= 1, "ramp x2: off by %d", worst);
    face_image_free(&b);

    // Halving a 2 x 2 checker gives the mean.
    face_image_free(&a);
    CHECK(face_image_alloc(&a, 2, 2) == FACET_OK);
    a.px[0] = a.px[1] = a.px[2] = 200;
    a.px[a.stride + 3] = a.px[a.stride + 4] = a.px[a.stride + 5] = 200;
    CHECK(face_image_resize(&b, &a, 1, 1) == FACET_OK);
    CHECKF(abs(b.px[0] - 100) <= 1, "2x2 -> 1x1: %d", b.px[0]);
    face_image_free(&b);

    CHECK(face_image_resize(&b, &a, 0, 4) == FACET_E_ARG && is_empty(&b));
    face_image_free(&a);
    CHECK(face_image_resize(&b, &a, 4, 4) == FACET_E_ARG);
}

// ---------------------------------------------------------------------
// Real photos (research data, when present): identical to stb's own
// decode for opaque 8-bit files, which all of them are.

typedef struct paths {
    char **p;
    int n, cap;
} paths;

static void collect(paths *ps, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[1024];
        const char *dot = strrchr(e->d_name, '.');
        struct stat sb;

        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth > 0) {
            collect(ps, p, depth - 1);
        } else if (S_ISREG(sb.st_mode) && dot &&
                   (!strcmp(dot, ".jpg") || !strcmp(dot, ".png"))) {
            if (ps->n == ps->cap) {
                ps->cap = ps->cap ? 2 * ps->cap : 256;
                ps->p = realloc(ps->p, sizeof *ps->p * (size_t)ps->cap);
            }
            ps->p[ps->n++] = strdup(p);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void test_real(int full)
{
    static const char *sets[] = {"lfw", "aligned112", "celebahq/images",
                                 "figaro/images"};
    const char *data = check_data_dir();
    char dir[512];

    for (int s = 0; s < 4; s++) {
        paths ps = {0};
        int step, tried = 0, failed = 0, differ = 0;
        double *ms;

        snprintf(dir, sizeof dir, "%s/%s", data, sets[s]);
        collect(&ps, dir, 1);
        if (ps.n == 0) {
            printf("skipped: real photos in %s (set FACET_DATA)\n", dir);
            continue;
        }
        qsort(ps.p, (size_t)ps.n, sizeof *ps.p, cmp_str);
        step = full ? 1 : ps.n / 6 + 1;   // a quick run samples 6 files
        ms = malloc(sizeof *ms * (size_t)ps.n);

        for (int i = 0; i < ps.n; i += step) {
            face_image im;
            unsigned char *ref;
            int w, h, c;
            double t0 = facet_now();
            facet_status st = face_image_load(&im, ps.p[i], NULL);

            ms[tried++] = 1e3 * (facet_now() - t0);
            if (st != FACET_OK) {
                failed++;
                CHECKF(0, "%s", facet_error());
                continue;
            }

            // stb directly, 3 channels: the same pixels unless the file
            // has an EXIF turn (then only the size is compared).
            ref = stbi_load(ps.p[i], &w, &h, &c, 3);
            if (ref) {
                size_t n;
                uint8_t *b = slurp(ps.p[i], &n);
                int k = b ? face_exif_orientation(b, n) : 1;

                if (k == 1)
                    differ += w != im.w || h != im.h ||
                              max_diff(&im, ref) != 0;
                else
                    differ += (k >= 5 ? h : w) != im.w;
                free(b);
                stbi_image_free(ref);
            }
            face_image_free(&im);
        }
        CHECKF(differ == 0, "%s: %d of %d photos differ from stb", sets[s],
               differ, tried);
        qsort(ms, (size_t)tried, sizeof *ms, cmp_dbl);
        printf("%-16s %4d photos loaded, %d failed, median %.2f ms, "
               "max %.2f ms\n", sets[s], tried, failed, ms[tried / 2],
               ms[tried - 1]);
        free(ms);
        for (int i = 0; i < ps.n; i++)
            free(ps.p[i]);
        free(ps.p);
    }
}

int main(int argc, char **argv)
{
    int full = argc > 1 && !strcmp(argv[1], "--full");

    scratch_make();
    test_alloc();
    test_corpus();
    test_exif();
    test_orient();
    test_alpha();
    test_atomic();
    test_png_and_load();
    test_resize();
    test_real(full);
    remove_tree(scratch);
    return check_report();
}

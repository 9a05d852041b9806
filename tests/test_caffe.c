// test_caffe.c - the VGG-Face weight readers: the protobuf wire-format
// reader (tools/convert/protobuf.c), the Caffe converter
// (tools/convert/convert_caffe.c) end to end against PyTorch, and the
// MatConvNet converter (tools/convert/convert_matconvnet.c).
//
// - Reader: varints (edges, overflow, truncation), every wire type, nested
//   messages bounded by their container, packed and unpacked repeated
//   floats, doubles and varints in any mix, and hostile bytes (truncated,
//   bit-flipped, over-long, wrong wire types), each error naming the file
//   and the byte offset.
// - Converter: the synthetic narrow VGG-Face models of tests/data/vggface
//   (written by tools/fixtures/make_caffemodel.py with the protobuf
//   library: the official structure, V1 `layers` with legacy blob shapes
//   and the new `layer` list with BlobShape) convert to the same tensors;
//   more variants are encoded here (double_data, unpacked floats, and
//   broken models: a missing, repeated or misplaced layer, a wrong shape,
//   pad 0, both layer lists, a short blob) and each must fail naming the
//   fault. Metadata: BGR, the average face in B, G, R order.
// - Parity: the converted weights run through facet's layers (13
//   convolutions, pools, fc6 .. fc8, softmax) on a 224x224 face,
//   preprocessed from the file's metadata, equal PyTorch's outputs
//   (tools/fixtures/vgg_torch_ref.py) on every ISA path; the weights
//   zero-padded to full width run through nn_vgg16 (nets.h) on the
//   synthetic 32x32 colour image (color32.ppm, committed) and give
//   PyTorch's conv5_3 in the first channels and zeros elsewhere. Channel
//   order end to end: the preprocessed inputs' per-channel sums equal
//   PyTorch's, and reading the image as RGB instead makes both checks fail
//   by far.
//
// The face is research data and is not committed: the test reads the PNG
// named on meta.txt's photo line (aligned112/Keira_Knightley/5717.png,
// 112x112) from $FACET_DATA (default ../shared/data, relative to the
// repository root), decodes it with stb_image, checks the FNV-1a hash of
// the decoded pixels against meta.txt (the generator decoded the same
// lossless file with PIL), and doubles every pixel to 224x224 as the
// generator did, so both networks see the same bytes. Without the file the
// 224x224 parity checks are skipped with a "skipped:" line and count no
// failure; everything else still runs. To regenerate the outputs:
//   /usr/bin/python3 tools/fixtures/vgg_torch_ref.py
// (FACET_DATA set the same way; see that script's header).
// - MatConvNet: the MAT-file reader (tools/convert/convert_matconvnet.c)
//   on tests/data/vggface/vgg_narrow.mat (tools/fixtures/
//   make_matconvnet.py: the same weights in vgg-face.mat's layout, written
//   by scipy with compressed variables) and on an uncompressed copy made
//   here: both convert to exactly the tensors of the Caffe file (conv1_1's
//   R, G, B inputs put in B, G, R order); broken headers, a missing layer,
//   truncated and damaged copies fail cleanly.
// - An installed weights/vggface.fct (optional, from a real
//   VGG_FACE.caffemodel) is checked for the official shapes.
//
// This file holds the stb_image implementation (STB_IMAGE_IMPLEMENTATION).
//
// Limitations:
// - Without $FACET_DATA the face parity is not checked at all; the 32x32
//   colour image still runs the converted weights through nn_vgg16, but
//   only up to conv5_3 (fc6 .. fc8 need a 224x224 input).
#define CONVERT_CAFFE_NO_MAIN
#define CONVERT_MATCONVNET_NO_MAIN
#include "../tools/convert/protobuf.c"
#include "../tools/convert/convert_caffe.c"
#include "../tools/convert/convert_matconvnet.c"

#include <unistd.h>

#include "check.h"
#include "../nn/nets.h"
#include "../weights/weights.h"

#include "stb_impl.h"

#define FIXTURES "tests/data/vggface/"

// Parity bound: max |facet - torch| <= PARITY_TOL * max |torch| for each
// compared output. PyTorch's own float32 result is within 2e-6 of
// float64 (meta.txt); facet's Winograd F(4x4, 3x3) adds a few 1e-6 per
// layer (tests/test_winograd.c) over 13 layers, and the fc layers sum up
// to 980 products. Measured (printed): at most 3e-6 for relu5_3, fc7 and
// fc8 on every ISA path, 8e-6 for prob (softmax turns fc8's absolute error
// into a relative one); 5e-5 leaves a 6x margin and still catches any
// layout slip (a single transposed kernel or swapped channel gives 1e-2
// and more).
#define PARITY_TOL 5e-5
// A channel swap must miss by at least this much (relative to max |ref|):
// far beyond any rounding, so "swapping would fail" is not a near thing.
#define SWAP_MIN 0.05

static char tmpdir[256];

// ---------------------------------------------------------------------------
// Small helpers

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    *size = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *size = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

// A float32 fixture of exactly `count` values, or NULL.
static float *read_f32(const char *name, size_t count)
{
    char path[256];
    size_t size;
    uint8_t *buf;

    snprintf(path, sizeof path, FIXTURES "%s", name);
    buf = read_all(path, &size);
    if (!buf || size != count * sizeof(float)) {
        CHECKF(0, "%s: missing or not %zu floats", path, count);
        free(buf);
        return NULL;
    }
    return (float *)buf;
}

// A binary PPM (P6, maxval 255): its RGB bytes, or NULL.
static uint8_t *read_ppm(const char *name, int *w, int *h)
{
    char path[256];
    size_t size, off;
    uint8_t *buf, *rgb;
    int maxval, n = 0;

    snprintf(path, sizeof path, FIXTURES "%s", name);
    buf = read_all(path, &size);
    if (!buf || size < 11 || sscanf((char *)buf, "P6 %d %d %d%n", w, h,
                                    &maxval, &n) != 3 || maxval != 255 ||
        *w < 1 || *h < 1 || *w > 4096 || *h > 4096) {
        CHECKF(0, "%s: missing or not a binary PPM", path);
        free(buf);
        return NULL;
    }
    off = (size_t)n + 1;
    if (size - off != (size_t)*w * *h * 3) {
        CHECKF(0, "%s: pixel data is %zu bytes", path, size - off);
        free(buf);
        return NULL;
    }
    rgb = malloc(size - off);
    memcpy(rgb, buf + off, size - off);
    free(buf);
    return rgb;
}

// "input_sum <stem> s0 s1 s2" from meta.txt.
static int meta_sums(const char *stem, double sums[3])
{
    char line[512], key[64];
    FILE *f = fopen(FIXTURES "meta.txt", "r");
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "input_sum %63s %lf %lf %lf", key, &sums[0],
                       &sums[1], &sums[2]) == 4 && !strcmp(key, stem);
    fclose(f);
    return found;
}

// FNV-1a, 64 bits (the generator hashes the decoded pixels the same way).
static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

// The photo named on meta.txt's line "photo <stem> <file> size <w> <h>
// double <k> fnv1a64 <hex>", decoded by stb_image to RGB8 and each pixel
// repeated k x k times: (w k) x (h k) x 3 bytes, or NULL. Without the file
// under FACET_DATA: a visible skip, no failure. A fixture line that is
// missing, or a file that is there but decodes to other pixels, fails.
static uint8_t *load_photo(const char *stem, int *w, int *h)
{
    char line[1024], key[64], file[512], path[1024];
    unsigned long long want = 0;
    const char *data = check_data_dir();
    int found = 0, sw = 0, sh = 0, k = 0, pw, ph, comp;
    uint8_t *px, *out;
    FILE *f = fopen(FIXTURES "meta.txt", "r");

    // The photo line of meta.txt.
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "photo %63s %511s size %d %d double %d "
                       "fnv1a64 %llx", key, file, &sw, &sh, &k,
                       &want) == 6 && !strcmp(key, stem);
    if (f)
        fclose(f);
    found = found && sw > 0 && sh > 0 && k > 0 && sw <= 4096 &&
            sh <= 4096 && k <= 16;
    CHECKF(found, FIXTURES "meta.txt: no valid photo line for %s", stem);
    if (!found)
        return NULL;

    // The file, if FACET_DATA has it.
    snprintf(path, sizeof path, "%s/%s", data, file);
    if (access(path, R_OK) != 0) {
        printf("skipped: FACET_DATA (%s) not found: no %s; the %dx%d "
               "parity checks need it\n", data, file, sw * k, sh * k);
        return NULL;
    }

    // Decode to RGB8: the generator's size and pixels, to the byte.
    px = stbi_load(path, &pw, &ph, &comp, 3);
    CHECKF(px && pw == sw && ph == sh, "%s: %s %dx%d, want %dx%d", path,
           px ? "decoded" : stbi_failure_reason(), px ? pw : 0,
           px ? ph : 0, sw, sh);
    if (!px || pw != sw || ph != sh) {
        stbi_image_free(px);
        return NULL;
    }
    if (fnv1a64(px, (size_t)sw * sh * 3) != want) {
        CHECKF(0, "%s: decoded pixels differ from the generator's (hash "
               "%016llx, want %016llx)", path,
               (unsigned long long)fnv1a64(px, (size_t)sw * sh * 3), want);
        stbi_image_free(px);
        return NULL;
    }

    // Pixel doubling: out (y, x) takes px (y / k, x / k).
    *w = sw * k;
    *h = sh * k;
    out = malloc((size_t)*w * *h * 3);
    FACET_ASSERT(out);
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++)
            memcpy(out + ((size_t)y * *w + x) * 3,
                   px + ((size_t)(y / k) * sw + x / k) * 3, 3);
    stbi_image_free(px);
    return out;
}

// max |got - want| / max |want|; infinity if `got` holds a NaN.
static double rel_err(const float *got, const float *want, size_t n)
{
    double err = 0, scale = 0;

    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);

        if (isnan(got[i]))
            return INFINITY;
        err = d > err ? d : err;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    return scale > 0 ? err / scale : err;
}

static int streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

// ---------------------------------------------------------------------------
// A protobuf encoder for hand-made messages

typedef struct enc {
    uint8_t *p;
    size_t n, cap;
} enc;

static void e_raw(enc *e, const void *d, size_t n)
{
    if (e->n + n > e->cap) {
        e->cap = (e->n + n) * 2 + 64;
        e->p = realloc(e->p, e->cap);
        FACET_ASSERT(e->p);
    }
    memcpy(e->p + e->n, d, n);
    e->n += n;
}

static void e_varint(enc *e, uint64_t v)
{
    uint8_t b[10];
    int n = 0;

    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    e_raw(e, b, (size_t)n);
}

static void e_key(enc *e, uint32_t field, int wire)
{
    e_varint(e, (uint64_t)field << 3 | (uint64_t)wire);
}

static void e_uint(enc *e, uint32_t field, uint64_t v)
{
    e_key(e, field, PB_VARINT);
    e_varint(e, v);
}

static void e_bytes(enc *e, uint32_t field, const void *d, size_t n)
{
    e_key(e, field, PB_BYTES);
    e_varint(e, n);
    e_raw(e, d, n);
}

static void e_str(enc *e, uint32_t field, const char *s)
{
    e_bytes(e, field, s, strlen(s));
}

// Appends `m` as field `field` and empties it.
static void e_msg(enc *e, uint32_t field, enc *m)
{
    e_bytes(e, field, m->p, m->n);
    m->n = 0;
}

static void e_fixed32(enc *e, uint32_t field, float v)
{
    e_key(e, field, PB_FIXED32);
    e_raw(e, &v, 4);
}

static void e_free(enc *e)
{
    free(e->p);
    memset(e, 0, sizeof *e);
}

// ---------------------------------------------------------------------------
// The reader

static void test_varints(void)
{
    static const struct {
        uint8_t b[12];
        int n, rc;
        uint64_t v;
    } cases[] = {
        {{0x00}, 1, 0, 0},
        {{0x01}, 1, 0, 1},
        {{0x7f}, 1, 0, 127},
        {{0x80, 0x01}, 2, 0, 128},
        {{0xac, 0x02}, 2, 0, 300},
        {{0xff, 0xff, 0xff, 0xff, 0x0f}, 5, 0, 0xffffffffu},
        // -1 as int64: ten bytes, the last holding bit 63.
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10, 0,
         UINT64_MAX},
        // Bits beyond 64, or an 11th byte: overflow.
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 10, -2,
         0},
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
         11, -2, 0},
        // Truncated: the continuation bit set on the last byte there is.
        {{0x80}, 1, -1, 0},
        {{0xff, 0xff}, 2, -1, 0},
        {{0}, 0, -1, 0},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *p = cases[i].b;
        uint64_t v = 12345;
        int rc = pb_varint(&v, &p, cases[i].b + cases[i].n);

        CHECKF(rc == cases[i].rc, "varint case %zu: rc %d, want %d", i, rc,
               cases[i].rc);
        if (rc == 0)
            CHECKF(v == cases[i].v && p == cases[i].b + cases[i].n,
                   "varint case %zu: %llu", i, (unsigned long long)v);
        else
            CHECKF(p == cases[i].b, "varint case %zu moved on error", i);
    }
}

// A message with every wire type and an unknown field, walked field by
// field.
static void test_fields(void)
{
    const double dv = -2.25;
    enc e = {0}, sub = {0};
    pb_reader r, s;
    pb_field f;
    float fv;
    double d;
    int32_t i32;

    e_uint(&e, 1, 150);                   // 08 96 01
    e_str(&e, 2, "testing");
    e_fixed32(&e, 5, 1.5f);
    e_key(&e, 8, PB_FIXED64);
    e_raw(&e, &dv, 8);
    e_uint(&e, 3, UINT64_MAX);            // int32 -1, ten bytes
    e_uint(&e, 536870911, 7);             // the largest field number
    e_uint(&sub, 1, 42);
    e_msg(&e, 9, &sub);
    CHECK(e.p[0] == 0x08 && e.p[1] == 0x96 && e.p[2] == 0x01);

    pb_init(&r, e.p, e.n, "fields.pb");
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 1 &&
          f.wire == PB_VARINT && f.value == 150 && f.offset == 0);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 2 &&
          f.wire == PB_BYTES && f.size == 7 && !memcmp(f.data, "testing", 7)
          && f.offset == 3);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 5 &&
          f.wire == PB_FIXED32);
    memcpy(&fv, &(uint32_t){(uint32_t)f.value}, 4);
    CHECK(fv == 1.5f);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 8 &&
          f.wire == PB_FIXED64);
    memcpy(&d, &f.value, 8);
    CHECK(d == -2.25);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 3 &&
          pb_int32(&i32, &r, &f, "x") == FACET_OK && i32 == -1 &&
          pb_int64(&f) == -1);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 536870911 &&
          f.value == 7);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 9 &&
          pb_sub(&s, &r, &f) == FACET_OK);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 0);
    CHECK(pb_next(&r, &f) == FACET_OK && f.number == 0);   // stays at end

    // The nested message, and a wire-type mismatch named.
    CHECK(pb_next(&s, &f) == FACET_OK && f.number == 1 && f.value == 42);
    CHECK(pb_expect(&s, &f, PB_BYTES, "a name") == FACET_E_FORMAT &&
          strstr(facet_error(), "fields.pb") &&
          strstr(facet_error(), "a name"));
    CHECK(pb_sub(&s, &s, &f) == FACET_E_FORMAT);

    // int32 range.
    e.n = 0;
    e_uint(&e, 1, UINT64_C(1) << 31);
    pb_init(&r, e.p, e.n, "i32.pb");
    CHECK(pb_next(&r, &f) == FACET_OK &&
          pb_int32(&i32, &r, &f, "v") == FACET_E_FORMAT);
    e_free(&e);
    e_free(&sub);
}

// Malformed bytes: each fails with the expected status, naming the file
// and the byte offset, and leaves the reader at the end.
static void test_hostile_fields(void)
{
    static const struct {
        uint8_t b[16];
        int n;
        facet_status want;
        const char *where;     // in the detail
    } cases[] = {
        {{0x08}, 1, FACET_E_CORRUPT, "byte 1"},              // no value
        {{0x08, 0x96}, 2, FACET_E_CORRUPT, "byte 1"},        // value cut
        {{0x80}, 1, FACET_E_CORRUPT, "byte 0"},              // key cut
        {{0x12, 0x05, 'a', 'b'}, 4, FACET_E_CORRUPT, "byte 0"},  // length
        {{0x12}, 1, FACET_E_CORRUPT, "byte 1"},              // no length
        {{0x2d, 1, 2, 3}, 4, FACET_E_CORRUPT, "byte 1"},     // fixed32 cut
        {{0x41, 1, 2, 3, 4, 5, 6, 7}, 8, FACET_E_CORRUPT, "byte 1"},
        {{0x00, 0x01}, 2, FACET_E_FORMAT, "field number 0"},
        {{0x0e, 0x01}, 2, FACET_E_FORMAT, "wire type 6"},
        {{0x0f, 0x01}, 2, FACET_E_FORMAT, "wire type 7"},
        {{0x0b, 0x0c}, 2, FACET_E_UNSUPPORTED, "group"},
        {{0x0c}, 1, FACET_E_UNSUPPORTED, "group"},
        // Field number 2^29: key 2^32, a 5-byte varint.
        {{0x80, 0x80, 0x80, 0x80, 0x10, 0x00}, 6, FACET_E_FORMAT,
         "out of range"},
        // A length of 2^63: runs past the end, no overflow in the check.
        {{0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
         11, FACET_E_CORRUPT, "runs past"},
        {{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
         11, FACET_E_FORMAT, "longer than 64 bits"},
        // A valid field, then garbage at byte 3.
        {{0x08, 0x01, 0x10, 0x80}, 4, FACET_E_CORRUPT, "byte 3"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pb_reader r;
        pb_field f;
        facet_status s;

        pb_init(&r, cases[i].b, (size_t)cases[i].n, "hostile.pb");
        while ((s = pb_next(&r, &f)) == FACET_OK && f.number)
            ;
        CHECKF(s == cases[i].want && strstr(facet_error(), "hostile.pb") &&
               strstr(facet_error(), cases[i].where),
               "hostile case %zu: %s \"%s\", want %s and \"%s\"", i,
               facet_status_str(s), facet_error(),
               facet_status_str(cases[i].want), cases[i].where);
        CHECK(r.pos == r.end);
    }

    // A nested message is bounded by its container, even when the buffer
    // goes on: field 1 holds 3 bytes, inside which a field claims 5.
    {
        const uint8_t b[] = {0x0a, 0x03, 0x12, 0x05, 'a', 'b', 'c', 'd', 'e',
                             'f'};
        pb_reader r, s;
        pb_field f;

        pb_init(&r, b, sizeof b, "nested.pb");
        CHECK(pb_next(&r, &f) == FACET_OK && pb_sub(&s, &r, &f) == FACET_OK);
        CHECK(pb_next(&s, &f) == FACET_E_CORRUPT &&
              strstr(facet_error(), "byte 2") &&
              strstr(facet_error(), "ends at byte 5"));
    }
}

// Repeated scalars, packed and unpacked, mixed, in order.
static void test_repeated(void)
{
    const float a[3] = {1.0f, -2.5f, 3.25f}, b = 7.0f, c[2] = {8, 9};
    const double d[2] = {0.1, -1e300};
    enc e = {0}, run = {0};
    pb_reader r;
    float *v;
    int64_t *iv;
    size_t n;

    e_bytes(&e, 5, a, sizeof a);         // packed run
    e_uint(&e, 1, 4);                    // another field between
    e_fixed32(&e, 5, b);                 // unpacked
    e_bytes(&e, 5, c, sizeof c);         // another packed run
    e_bytes(&e, 5, a, 0);                // an empty run
    e_bytes(&e, 8, d, sizeof d);         // doubles
    e_key(&e, 8, PB_FIXED64);            // an unpacked double
    e_raw(&e, &d[0], 8);
    e_varint(&run, 3);
    e_varint(&run, UINT64_MAX);          // -1
    e_varint(&run, 300);
    e_msg(&e, 9, &run);                  // packed varints
    e_uint(&e, 9, 224);                  // and one unpacked

    pb_init(&r, e.p, e.n, "rep.pb");
    CHECK(pb_floats(&v, &n, &r, 5, 100) == FACET_OK && n == 6);
    if (n == 6)
        CHECK(v[0] == 1.0f && v[1] == -2.5f && v[2] == 3.25f &&
              v[3] == 7.0f && v[4] == 8.0f && v[5] == 9.0f);
    facet_free(v);
    CHECK(pb_doubles(&v, &n, &r, 8, 100) == FACET_OK && n == 3);
    if (n == 3)
        CHECK(v[0] == 0.1f && isinf(v[1]) && v[1] < 0 && v[2] == 0.1f);
    facet_free(v);
    CHECK(pb_varints(&iv, &n, &r, 9, 100) == FACET_OK && n == 4);
    if (n == 4)
        CHECK(iv[0] == 3 && iv[1] == -1 && iv[2] == 300 && iv[3] == 224);
    facet_free(iv);
    CHECK(pb_floats(&v, &n, &r, 77, 100) == FACET_OK && n == 0 && !v);

    // Caps and malformed runs.
    CHECK(pb_floats(&v, &n, &r, 5, 5) == FACET_E_TOO_LARGE && !v);
    CHECK(pb_floats(&v, &n, &r, 1, 100) == FACET_E_FORMAT &&
          strstr(facet_error(), "wire type varint"));
    e.n = 0;
    e_bytes(&e, 5, a, 7);
    pb_init(&r, e.p, e.n, "odd.pb");
    CHECK(pb_floats(&v, &n, &r, 5, 100) == FACET_E_FORMAT &&
          strstr(facet_error(), "7 bytes") && strstr(facet_error(), "odd.pb"));
    CHECK(pb_doubles(&v, &n, &r, 5, 100) == FACET_E_FORMAT);
    e.n = 0;
    e_bytes(&e, 1, "\x01\x80", 2);       // a packed varint cut short
    pb_init(&r, e.p, e.n, "cut.pb");
    CHECK(pb_varints(&iv, &n, &r, 1, 100) == FACET_E_CORRUPT &&
          strstr(facet_error(), "byte 3"));
    e_free(&e);
    e_free(&run);
}

static void test_files(void)
{
    pb_file f;
    char path[300];
    FILE *fp;

    CHECK(pb_file_open(&f, FIXTURES "no-such-file", 1 << 20) == FACET_E_IO
          && strstr(facet_error(), "no-such-file") && !f.data);
    CHECK(pb_file_open(&f, FIXTURES, 1 << 20) == FACET_E_IO);
    CHECK(pb_file_open(&f, FIXTURES "vgg_narrow_v1.caffemodel", 1000) ==
          FACET_E_TOO_LARGE);
    CHECK(pb_file_open(&f, FIXTURES "vgg_narrow_v1.caffemodel", 1 << 24) ==
          FACET_OK && f.size > 100000 && f.data[0] == 0x0a);
    pb_file_close(&f);
    pb_file_close(&f);

    // An empty file opens as no bytes, and is no NetParameter.
    tmp_path(path, sizeof path, "empty.caffemodel");
    fp = fopen(path, "wb");
    if (fp)
        fclose(fp);
    CHECK(pb_file_open(&f, path, 100) == FACET_OK && f.size == 0);
    pb_file_close(&f);
    CHECK(caffe_convert_file(path, "/nonexistent/x.fct",
                             &(caffe_opts){0}) == FACET_E_FORMAT &&
          strstr(facet_error(), "no layers"));
    remove(path);
}

// ---------------------------------------------------------------------------
// The converter

static const char *const conv_names[VGG_CONVS] = {
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
    "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
    "conv5_3"};
static const char *const fc_names[3] = {"fc6", "fc7", "fc8"};
// The narrow widths of make_caffemodel.py.
static const int narrow_w[VGG_CONVS] = {4, 4, 8, 8, 12, 12, 12, 16, 16, 16,
                                        20, 20, 20};
static const int narrow_fc[3] = {8, 8, 2622};
static const int full_w[VGG_CONVS] = {64, 64, 128, 128, 256, 256, 256, 512,
                                      512, 512, 512, 512, 512};
// After which convolutions a 2x2 max-pool follows (pool5 after conv5_3).
static const int pool_after[VGG_CONVS] = {0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0,
                                          0, 1};

// Convert a model in memory; the status, with facet_error() as detail.
static facet_status convert_mem(const uint8_t *data, size_t size,
                                const char *out, int fc, int any)
{
    caffe_opts o = {fc, any};
    caffe_net net;
    facet_status s = caffe_parse(&net, data, size, "mem.caffemodel");

    if (s == FACET_OK)
        s = caffe_convert_vgg(&net, out, &o);
    caffe_net_free(&net);
    return s;
}

// Tensors of two files: same names, shapes and bits.
static int same_tensors(const wt_file *a, const wt_file *b)
{
    if (wt_tensor_count(a) != wt_tensor_count(b))
        return 0;
    for (size_t i = 0; i < wt_tensor_count(a); i++) {
        const wt_tensor_info *x = wt_tensor_at(a, i);
        const wt_tensor_info *y = wt_tensor_find(b, x->name);

        if (!y || x->ndim != y->ndim || x->count != y->count ||
            memcmp(x->dims, y->dims, sizeof x->dims) ||
            memcmp(x->data, y->data, x->count * sizeof(float)))
            return 0;
    }
    return 1;
}

// Metadata and tensor table of a converted narrow model.
static void check_converted(const wt_file *w, int fc)
{
    static const float mean[3] = {93.59396362304688f, 104.76238250732422f,
                                  129.186279296875f};
    const wt_info *in = wt_file_info(w);
    const int64_t *classes;
    int64_t cin = 3;

    CHECK(streq(in->name, "vggface-narrow"));
    CHECK(in->source && strstr(in->source, "Parkhi"));
    CHECK(in->license && strstr(in->license, "non-commercial"));
    CHECK(streq(in->channel_order, "BGR"));
    CHECK(in->channels == 3 && in->height == 224 && in->width == 224);
    CHECK(in->mean && !memcmp(in->mean, mean, sizeof mean) && !in->std);
    CHECK(wt_tensor_count(w) == (size_t)(fc ? 32 : 26));
    classes = wt_meta_get(w, "vggface.classes", WT_INT64, 1);
    CHECK(fc ? classes && *classes == 2622 : !classes);

    // Every tensor, in layer order, with its shape.
    for (int i = 0; i < VGG_CONVS; i++) {
        char name[32];
        int64_t wd[4] = {narrow_w[i], cin, 3, 3}, bd = narrow_w[i];

        snprintf(name, sizeof name, "%s.weight", conv_names[i]);
        CHECKF(wt_tensor(w, name, 4, wd), "%s", facet_error());
        CHECK(wt_tensor_at(w, 2 * (size_t)i) &&
              !strcmp(wt_tensor_at(w, 2 * (size_t)i)->name, name));
        snprintf(name, sizeof name, "%s.bias", conv_names[i]);
        CHECKF(wt_tensor(w, name, 1, &bd), "%s", facet_error());
        cin = narrow_w[i];
    }
    cin *= 49;
    for (int i = 0; fc && i < 3; i++) {
        char name[32];
        int64_t wd[2] = {narrow_fc[i], cin}, bd = narrow_fc[i];

        snprintf(name, sizeof name, "%s.weight", fc_names[i]);
        CHECKF(wt_tensor(w, name, 2, wd), "%s", facet_error());
        snprintf(name, sizeof name, "%s.bias", fc_names[i]);
        CHECKF(wt_tensor(w, name, 1, &bd), "%s", facet_error());
        cin = narrow_fc[i];
    }
}

// Variants of the model encoded here from the converted tensors.
enum {
    V_V1 = 1 << 0,        // `layers` (V1, enum types, legacy shapes)
    V_DOUBLE = 1 << 1,    // blob values as double_data
    V_UNPACKED = 1 << 2,  // floats as one fixed32 field each
    V_NO_CONV3_2 = 1 << 3,
    V_DUP_CONV1_1 = 1 << 4,
    V_SWAP_ORDER = 1 << 5,   // conv1_2 before conv1_1
    V_PAD0 = 1 << 6,         // conv3_1 convolution_param without pad
    V_BAD_CIN = 1 << 7,      // conv2_1 weight declared 4 x 8 x 3 x 3
    V_BOTH_LISTS = 1 << 8,
    V_SHORT_BLOB = 1 << 9,   // conv4_2 weight one value short
    V_FC8_1000 = 1 << 10,    // fc8 with 1000 classes
    V_POOL_AVE = 1 << 11,    // pool3 averages
    V_TYPE = 1 << 12,        // fc7 of type Convolution
    V_SPLIT_PARAM = 1 << 13, // conv param in two occurrences (merged)
    V_INF = 1 << 14,         // conv5_3 bias with an infinite value
};

static void enc_blob(enc *layer, int v1, const float *vals,
                     const int64_t *dims, int ndim, int flags)
{
    enc blob = {0}, shape = {0}, dimrun = {0};
    float *copy = NULL;
    size_t count = 1;

    for (int i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    if (flags & V_SHORT_BLOB)
        count--;
    if (v1) {
        // Legacy num, channels, height, width with leading 1s.
        for (int i = 0; i < 4; i++)
            e_uint(&blob, BLOB_NUM + (uint32_t)i,
                   i < 4 - ndim ? 1 : (uint64_t)dims[i - (4 - ndim)]);
    } else {
        // BlobShape { dim: packed int64 }.
        for (int i = 0; i < ndim; i++)
            e_varint(&dimrun, (uint64_t)dims[i]);
        e_msg(&shape, SHAPE_DIM, &dimrun);
        e_msg(&blob, BLOB_SHAPE, &shape);
    }
    if (flags & V_INF) {
        copy = malloc(count * sizeof(float));
        memcpy(copy, vals, count * sizeof(float));
        copy[count / 2] = (float)INFINITY;
        vals = copy;
    }
    if (flags & V_DOUBLE) {
        enc run = {0};

        for (size_t i = 0; i < count; i++) {
            double d = vals[i];

            e_raw(&run, &d, 8);
        }
        e_msg(&blob, BLOB_DOUBLE_DATA, &run);
        e_free(&run);
    } else if (flags & V_UNPACKED) {
        for (size_t i = 0; i < count; i++)
            e_fixed32(&blob, BLOB_DATA, vals[i]);
    } else {
        e_bytes(&blob, BLOB_DATA, vals, count * sizeof(float));
    }
    e_msg(layer, v1 ? V1_BLOBS : L_BLOBS, &blob);
    e_free(&blob);
    e_free(&shape);
    e_free(&dimrun);
    free(copy);
}

// One layer: name, type, parameters, blobs from `w` (NULL: none).
static void enc_layer(enc *net, int v1, const char *name, int kind,
                      const wt_file *w, int flags)
{
    static const char *const types[] = {"Convolution", "ReLU", "Pooling",
                                        "InnerProduct"};
    static const int v1_types_of[] = {4, 18, 17, 14};
    enc layer = {0}, p = {0};
    int t = kind;

    if ((flags & V_TYPE) && !strcmp(name, "fc7"))
        t = 0;
    e_str(&layer, v1 ? V1_NAME : L_NAME, name);
    if (v1)
        e_uint(&layer, V1_TYPE, (uint64_t)v1_types_of[t]);
    else
        e_str(&layer, L_TYPE, types[t]);
    if (kind == 0) {
        if (w) {
            char tn[32];

            snprintf(tn, sizeof tn, "%s.bias", name);
            e_uint(&p, CONV_NUM_OUTPUT,
                   (uint64_t)wt_tensor_find(w, tn)->dims[0]);
        }
        if (!((flags & V_PAD0) && !strcmp(name, "conv3_1")))
            e_uint(&p, CONV_PAD, 1);
        e_uint(&p, CONV_KERNEL, 3);
        if (flags & V_SPLIT_PARAM) {
            // A second occurrence merges: stride added, kernel_size
            // repeated (then read as kernel h 3, kernel w 3).
            e_msg(&layer, v1 ? V1_CONV : L_CONV, &p);
            e_uint(&p, CONV_STRIDE, 1);
            e_uint(&p, CONV_KERNEL, 3);
        }
        e_msg(&layer, v1 ? V1_CONV : L_CONV, &p);
    } else if (kind == 2) {
        e_uint(&p, POOL_POOL, (flags & V_POOL_AVE) && !strcmp(name, "pool3"));
        e_uint(&p, POOL_KERNEL, 2);
        e_uint(&p, POOL_STRIDE, 2);
        e_msg(&layer, v1 ? V1_POOL : L_POOL, &p);
    }
    if (w && (kind == 0 || kind == 3)) {
        char tn[32];
        const wt_tensor_info *wi, *bi;
        int64_t dims[4];
        float *fake = NULL;

        snprintf(tn, sizeof tn, "%s.weight", name);
        wi = wt_tensor_find(w, tn);
        snprintf(tn, sizeof tn, "%s.bias", name);
        bi = wt_tensor_find(w, tn);
        FACET_ASSERT(wi && bi);
        memcpy(dims, wi->dims, sizeof dims);
        if ((flags & V_BAD_CIN) && !strcmp(name, "conv2_1")) {
            dims[0] = wi->dims[1];
            dims[1] = wi->dims[0];
        }
        if ((flags & V_FC8_1000) && !strcmp(name, "fc8")) {
            dims[0] = 1000;
            fake = calloc(1000 * (size_t)dims[1], sizeof(float));
        }
        enc_blob(&layer, v1, fake ? fake : wi->data, dims, wi->ndim,
                 flags & (V_DOUBLE | V_UNPACKED |
                          (!strcmp(name, "conv4_2") ? V_SHORT_BLOB : 0)));
        dims[0] = fake ? 1000 : bi->dims[0];
        enc_blob(&layer, v1, fake ? fake : bi->data, dims, 1,
                 flags & (V_DOUBLE | V_UNPACKED |
                          (!strcmp(name, "conv5_3") ? V_INF : 0)));
        free(fake);
    }
    e_msg(net, v1 ? NET_LAYERS_V1 : NET_LAYER, &layer);
    e_free(&layer);
    e_free(&p);
}

// The whole net (VGG_FACE's layer list without dropout and softmax).
static void enc_net(enc *net, const wt_file *w, int flags)
{
    const int v1 = !!(flags & V_V1);
    int pool = 1;

    net->n = 0;
    e_str(net, NET_NAME, "VGG_FACE_16_layers");
    if (flags & V_BOTH_LISTS)
        enc_layer(net, !v1, "conv1_1", 0, NULL, 0);
    for (int i = 0; i < VGG_CONVS; i++) {
        char relu[16], pn[16];
        int k = i;

        if (flags & V_SWAP_ORDER)
            k = i == 0 ? 1 : i == 1 ? 0 : i;
        if ((flags & V_NO_CONV3_2) && !strcmp(conv_names[k], "conv3_2"))
            continue;
        enc_layer(net, v1, conv_names[k], 0, w, flags);
        if ((flags & V_DUP_CONV1_1) && k == 0)
            enc_layer(net, v1, conv_names[k], 0, w, flags);
        snprintf(relu, sizeof relu, "relu%s", conv_names[k] + 4);
        enc_layer(net, v1, relu, 1, NULL, 0);
        if (pool_after[i]) {
            snprintf(pn, sizeof pn, "pool%d", pool++);
            enc_layer(net, v1, pn, 2, NULL, flags);
        }
    }
    for (int i = 0; i < 3; i++)
        enc_layer(net, v1, fc_names[i], 3, w, flags);
}

static void test_converter(void)
{
    static const struct {
        int flags, fc;
        facet_status want;
        const char *detail;   // NULL: must convert to the same tensors
    } variants[] = {
        {V_V1, 1, FACET_OK, NULL},
        {0, 1, FACET_OK, NULL},
        {V_V1 | V_DOUBLE, 1, FACET_OK, NULL},
        {V_UNPACKED, 1, FACET_OK, NULL},
        {V_SPLIT_PARAM, 1, FACET_OK, NULL},
        {V_V1 | V_NO_CONV3_2, 0, FACET_E_NOT_FOUND, "no layer named conv3_2"},
        {V_DUP_CONV1_1, 0, FACET_E_FORMAT, "conv1_1 occurs more"},
        {V_V1 | V_SWAP_ORDER, 0, FACET_E_FORMAT, "comes before"},
        {V_PAD0, 0, FACET_E_FORMAT, "conv3_1: pad is 0 x 0"},
        {V_V1 | V_BAD_CIN, 0, FACET_E_FORMAT, "8 input channels"},
        {V_BOTH_LISTS, 0, FACET_E_FORMAT, "both"},
        {V_V1 | V_SHORT_BLOB, 0, FACET_E_FORMAT, "layer conv4_2 blob 0"},
        {V_FC8_1000, 1, FACET_E_FORMAT, "fc8: weight blob is 1000 x 8"},
        {V_FC8_1000, 0, FACET_OK, NULL},   // fc8 not read without --fc
        {V_V1 | V_POOL_AVE, 0, FACET_E_FORMAT, "pool3: pool method 1"},
        {V_TYPE, 1, FACET_E_FORMAT, "fc7 is of type Convolution"},
        {V_V1 | V_DOUBLE | V_INF, 0, FACET_E_FORMAT,
         "conv5_3 blob 1 (byte"},
    };
    char p1[300], p2[300], p3[300];
    wt_file *w1 = NULL, *w2 = NULL, *w3 = NULL, *w2c = NULL;
    facet_status s;
    enc net = {0};

    // The two fixture files, as `make weights` would run them.
    tmp_path(p1, sizeof p1, "v1.fct");
    tmp_path(p2, sizeof p2, "v2.fct");
    tmp_path(p3, sizeof p3, "v3.fct");
    s = caffe_convert_file(FIXTURES "vgg_narrow_v1.caffemodel", p1,
                           &(caffe_opts){1, 1});
    CHECKF(s == FACET_OK, "%s", facet_error());
    s = caffe_convert_file(FIXTURES "vgg_narrow_v2.caffemodel", p2,
                           &(caffe_opts){1, 1});
    CHECKF(s == FACET_OK, "%s", facet_error());
    CHECK(wt_open(&w1, p1, 0) == FACET_OK);
    CHECK(wt_open(&w2, p2, 0) == FACET_OK);
    if (!w1 || !w2) {
        wt_close(w1);
        wt_close(w2);
        return;
    }
    check_converted(w1, 1);
    check_converted(w2, 1);
    CHECK(strstr(wt_file_info(w1)->source, "VGG_FACE.caffemodel") != NULL);
    CHECK(same_tensors(w1, w2));
    CHECK(streq(wt_meta_str(w1, "caffe.layer_format"), "V1LayerParameter"));
    CHECK(streq(wt_meta_str(w2, "caffe.layer_format"), "LayerParameter"));
    CHECK(streq(wt_meta_str(w2, "caffe.net_name"), "VGG_FACE_16_layers"));

    // The listing of the layers.
    {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        size_t n;
        uint8_t *d = read_all(FIXTURES "vgg_narrow_v1.caffemodel", &n);
        caffe_net cn;

        if (fp && d && caffe_parse(&cn, d, n, "dump") == FACET_OK) {
            caffe_dump(fp, &cn);
            caffe_net_free(&cn);
        }
        if (fp)
            fclose(fp);
        CHECK(text && strstr(text, "39 layers (V1") &&
              strstr(text, "fc8              InnerProduct    1x1x2622x8 "
                           "(legacy), 1x1x1x2622 (legacy)"));
        free(text);
        free(d);
    }

    // Official widths are required unless asked otherwise.
    s = caffe_convert_file(FIXTURES "vgg_narrow_v1.caffemodel", p3,
                           &(caffe_opts){0, 0});
    CHECKF(s == FACET_E_FORMAT && strstr(facet_error(), "conv1_1") &&
           strstr(facet_error(), "VGG-Face has 64") &&
           strstr(facet_error(), "vgg_narrow_v1.caffemodel"),
           "%s", facet_error());
    CHECK(access(p3, F_OK) != 0);   // nothing left behind

    // Without --fc: the 26 convolution tensors.
    s = caffe_convert_file(FIXTURES "vgg_narrow_v2.caffemodel", p3,
                           &(caffe_opts){0, 1});
    CHECK(s == FACET_OK && wt_open(&w2c, p3, 0) == FACET_OK);
    if (w2c)
        check_converted(w2c, 0);
    wt_close(w2c);

    // Variants encoded here.
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        enc_net(&net, w2, variants[i].flags);
        remove(p3);
        s = convert_mem(net.p, net.n, p3, variants[i].fc, 1);
        CHECKF(s == variants[i].want &&
               (!variants[i].detail ||
                strstr(facet_error(), variants[i].detail)),
               "variant %zu: %s \"%s\", want %s \"%s\"", i,
               facet_status_str(s), s ? facet_error() : "",
               facet_status_str(variants[i].want),
               variants[i].detail ? variants[i].detail : "");
        if (variants[i].want != FACET_OK) {
            CHECK(access(p3, F_OK) != 0);
            continue;
        }
        if (wt_open(&w3, p3, 0) != FACET_OK) {
            CHECKF(0, "variant %zu: %s", i, facet_error());
            continue;
        }
        if (variants[i].fc) {
            CHECKF(same_tensors(w3, w2), "variant %zu: tensors differ", i);
        } else {
            for (size_t t = 0; t < wt_tensor_count(w3); t++) {
                const wt_tensor_info *a = wt_tensor_at(w3, t);
                const wt_tensor_info *b = wt_tensor_find(w2, a->name);

                CHECK(b && a->count == b->count &&
                      !memcmp(a->data, b->data, a->count * 4));
            }
        }
        wt_close(w3);
        w3 = NULL;
    }
    e_free(&net);
    remove(p1);
    remove(p2);
    remove(p3);
    wt_close(w1);
    wt_close(w2);
}

// Positions of the structural bytes of a model (keys, lengths, names,
// shapes, parameters: everything but the blobs' packed values), where
// damage exercises the parser rather than the numbers.
static size_t structural_bytes(size_t **out, const uint8_t *data,
                               size_t size)
{
    uint8_t *values = calloc(size, 1);
    size_t n = 0;
    caffe_net net;

    *out = malloc(size * sizeof **out);
    FACET_ASSERT(values && *out);
    FACET_ASSERT(caffe_parse(&net, data, size, "orig") == FACET_OK);
    for (int i = 0; i < net.nlayers; i++) {
        for (int j = 0; j < net.layers[i].nblobs; j++) {
            pb_reader r = net.layers[i].blobs[j].msg;
            pb_field f;

            while (pb_next(&r, &f) == FACET_OK && f.number)
                if (f.number == BLOB_DATA && f.wire == PB_BYTES)
                    memset(values + (f.data - data), 1, f.size);
        }
    }
    caffe_net_free(&net);
    for (size_t i = 0; i < size; i++)
        if (!values[i])
            (*out)[n++] = i;
    free(values);
    return n;
}

// Truncated and bit-flipped copies of the V1 fixture: every one parses to
// an error or converts, never crashes (run under SANITIZE=1 too).
static void test_hostile_models(void)
{
    uint8_t *orig, *buf;
    size_t size, *structural, nstruct;
    char out[300];
    facet_rng rng;
    int errors = 0, ok = 0, converted = 0;

    orig = read_all(FIXTURES "vgg_narrow_v1.caffemodel", &size);
    if (!orig) {
        CHECKF(0, "vgg_narrow_v1.caffemodel missing");
        return;
    }
    nstruct = structural_bytes(&structural, orig, size);
    buf = malloc(size);
    tmp_path(out, sizeof out, "hostile.fct");
    facet_rng_seed(&rng, 3);

    // Truncations: 300 lengths spread over the file, in an exact-size
    // copy so that reading past the end would be caught by the sanitizer.
    for (int k = 0; k < 300; k++) {
        size_t len = (size_t)k * (size - 1) / 299;
        uint8_t *cut = malloc(len ? len : 1);
        caffe_net net;
        facet_status s;

        memcpy(cut, orig, len);
        s = caffe_parse(&net, cut, len, "cut.caffemodel");
        if (s == FACET_OK) {
            s = caffe_convert_vgg(&net, out, &(caffe_opts){1, 1});
            converted += s == FACET_OK;
        }
        caffe_net_free(&net);
        errors += s != FACET_OK;
        free(cut);
    }
    // Only a cut at a layer boundary after fc8 could convert.
    CHECKF(errors >= 299, "truncations: %d of 300 failed", errors);

    // Byte changes: 1 to 8 per copy, anywhere in the first 200 copies,
    // in the structural bytes in the next 400.
    errors = 0;
    for (int k = 0; k < 600; k++) {
        int flips = 1 + (int)facet_rng_below(&rng, 8);
        caffe_net net;
        facet_status s;

        memcpy(buf, orig, size);
        for (int j = 0; j < flips; j++) {
            size_t at = k < 200 ? facet_rng_below(&rng, (uint32_t)size)
                                : structural[facet_rng_below(
                                      &rng, (uint32_t)nstruct)];

            buf[at] ^= (uint8_t)(1 + facet_rng_below(&rng, 255));
        }
        s = caffe_parse(&net, buf, size, "flip.caffemodel");
        if (s == FACET_OK && k % 8 == 0) {
            s = caffe_convert_vgg(&net, out, &(caffe_opts){1, 1});
            converted += s == FACET_OK;
        }
        caffe_net_free(&net);
        errors += s != FACET_OK;
        ok += s == FACET_OK;
        CHECK(s == FACET_OK || facet_error()[0]);
    }
    printf("hostile models: 300 truncations, 600 damaged copies (%d "
           "rejected, %d parsed; %zu structural bytes), %d converted\n",
           errors, ok, nstruct, converted);
    remove(out);
    free(structural);
    free(buf);
    free(orig);
}

// ---------------------------------------------------------------------------
// Running the converted weights

// An image as the weight file's metadata asks (weights/FORMAT.md 4.1):
// plane c holds the source channel named by channel_order[c], minus
// mean[c], over std[c] if given. `misread` takes the planes in the
// reverse order, the mistake the channel-order checks must catch.
static void input_from_meta(float *dst, const uint8_t *rgb, int h, int w,
                            const wt_info *in, int misread)
{
    const size_t plane = (size_t)h * w;

    for (int c = 0; c < 3; c++) {
        char ch = in->channel_order[misread ? 2 - c : c];
        int src = ch == 'R' ? 0 : ch == 'G' ? 1 : 2;
        float mean = in->mean ? in->mean[c] : 0.0f;

        for (size_t i = 0; i < plane; i++) {
            float v = (float)rgb[3 * i + (size_t)src] - mean;

            dst[c * plane + i] = in->std ? v / in->std[c] : v;
        }
    }
}

typedef struct outputs {
    float *relu5_3;          // c5 x h/16 x w/16
    float fc7[8];
    float *fc8, *prob;       // 2622 each (224 x 224 only)
} outputs;

// The narrow VGG-Face from the file's tensors through facet's layers.
static facet_status run_narrow(outputs *o, const wt_file *wf,
                               const float *input, int h, int w)
{
    nn_tensor x = nn_tensor_4d((float *)input, 1, 3, h, w), y;
    float *bufs[2] = {NULL, NULL}, *scratch = NULL;
    const nn_pool_desc pool = {.kh = 2, .kw = 2, .stride_h = 2,
                               .stride_w = 2};
    size_t cap = (size_t)h * w * 32;
    facet_status s = FACET_OK;
    int cur = 0, cin = 3;

    bufs[0] = facet_alloc(cap * sizeof(float));
    bufs[1] = facet_alloc(cap * sizeof(float));
    FACET_ASSERT(bufs[0] && bufs[1]);
    for (int i = 0; i < VGG_CONVS && s == FACET_OK; i++) {
        char name[32];
        const wt_tensor_info *wi, *bi;
        nn_conv_desc d = {0};
        nn_conv *conv = NULL;
        size_t need;

        snprintf(name, sizeof name, "%s.weight", conv_names[i]);
        wi = wt_tensor_find(wf, name);
        snprintf(name, sizeof name, "%s.bias", conv_names[i]);
        bi = wt_tensor_find(wf, name);
        FACET_ASSERT(wi && bi && wi->dims[1] == cin);
        d.cin = cin;
        d.cout = (int)wi->dims[0];
        d.kh = d.kw = 3;
        d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        d.groups = 1;
        d.act = LA_ACT_RELU;
        if ((s = nn_conv_create(&conv, &d, wi->data, bi->data, NULL,
                                NN_CONV_AUTO)) != FACET_OK)
            break;
        need = nn_conv_scratch_size(conv, 1, x.dim[2], x.dim[3]);
        facet_free(scratch);
        scratch = facet_alloc(need ? need : 64);
        check_fill_junk(scratch, need);

        // Convolution (with ReLU) into the other buffer, then the pool.
        y = nn_tensor_4d(bufs[cur ^ 1], 1, d.cout, x.dim[2], x.dim[3]);
        FACET_ASSERT(nn_tensor_count(&y) <= cap);
        check_fill_nan(y.data, nn_tensor_count(&y));
        nn_conv_forward(conv, &y, &x, scratch);
        nn_conv_free(conv);
        cur ^= 1;
        x = y;
        cin = d.cout;
        if (i == VGG_CONVS - 1) {
            o->relu5_3 = malloc(nn_tensor_count(&x) * sizeof(float));
            memcpy(o->relu5_3, x.data, nn_tensor_count(&x) * sizeof(float));
        }
        if (pool_after[i]) {
            y = nn_tensor_4d(bufs[cur ^ 1], 1, cin, x.dim[2] / 2,
                             x.dim[3] / 2);
            check_fill_nan(y.data, nn_tensor_count(&y));
            nn_maxpool_forward(&y, NULL, &x, &pool);
            cur ^= 1;
            x = y;
        }
    }

    // fc6, fc7 (ReLU), fc8, softmax, on the 7 x 7 pool5 map.
    if (s == FACET_OK && x.dim[2] == 7 && x.dim[3] == 7) {
        for (int i = 0; i < 3; i++) {
            char name[32];
            const wt_tensor_info *wi, *bi;
            nn_tensor out = {0};
            int nout;
            size_t need;

            snprintf(name, sizeof name, "%s.weight", fc_names[i]);
            wi = wt_tensor_find(wf, name);
            snprintf(name, sizeof name, "%s.bias", fc_names[i]);
            bi = wt_tensor_find(wf, name);
            FACET_ASSERT(wi && bi);
            nout = (int)wi->dims[0];
            need = nn_fc_scratch_size(1, (int)wi->dims[1], nout);
            facet_free(scratch);
            scratch = facet_alloc(need ? need : 64);
            check_fill_junk(scratch, need);
            out.data = bufs[cur ^ 1];
            out.ndim = 2;
            out.dim[0] = 1;
            out.dim[1] = nout;
            out.dim[2] = out.dim[3] = 1;
            check_fill_nan(out.data, (size_t)nout);
            nn_fc_forward(&out, &x, wi->data, bi->data, nout,
                          i < 2 ? LA_ACT_RELU : LA_ACT_NONE, NULL, scratch);
            cur ^= 1;
            x = out;
            if (i == 1)
                memcpy(o->fc7, out.data, sizeof o->fc7);
        }
        o->fc8 = malloc(2622 * sizeof(float));
        o->prob = malloc(2622 * sizeof(float));
        memcpy(o->fc8, x.data, 2622 * sizeof(float));
        x = nn_tensor_4d(o->fc8, 1, 2622, 1, 1);
        y = nn_tensor_4d(o->prob, 1, 2622, 1, 1);
        nn_softmax_channels(&y, &x);
    }
    facet_free(scratch);
    facet_free(bufs[0]);
    facet_free(bufs[1]);
    return s;
}

static void free_outputs(outputs *o)
{
    free(o->relu5_3);
    free(o->fc8);
    free(o->prob);
    memset(o, 0, sizeof *o);
}

// Per-channel sums of a preprocessed 3 x h x w input, in double.
static void plane_sums(double s[3], const float *x, int h, int w)
{
    for (int c = 0; c < 3; c++) {
        s[c] = 0;
        for (size_t i = 0; i < (size_t)h * w; i++)
            s[c] += x[(size_t)c * h * w + i];
    }
}

static void test_parity(void)
{
    char path[300];
    wt_file *wf = NULL;
    uint8_t *rgb;
    float *x, *ref5, *ref7, *ref8, *refp;
    double sums[3], want[3];
    facet_isa isas[FACET_ISA_COUNT];
    int n = check_isas(isas), w = 0, h = 0;
    facet_status s;

    // The converted V1 fixture, and PyTorch's results.
    tmp_path(path, sizeof path, "parity.fct");
    s = caffe_convert_file(FIXTURES "vgg_narrow_v1.caffemodel", path,
                           &(caffe_opts){1, 1});
    CHECKF(s == FACET_OK && wt_open(&wf, path, 0) == FACET_OK, "%s",
           facet_error());
    ref5 = read_f32("face224.relu5_3.f32", 20 * 14 * 14);
    ref7 = read_f32("face224.fc7.f32", 8);
    ref8 = read_f32("face224.fc8.f32", 2622);
    refp = read_f32("face224.prob.f32", 2622);

    // The face from FACET_DATA (NULL, with a "skipped:" line, without it).
    rgb = load_photo("face224", &w, &h);
    CHECKF(!rgb || (w == 224 && h == 224), "face224: %dx%d", w, h);
    if (!wf || !rgb || w != 224 || h != 224 || !ref5 || !ref7 || !ref8 ||
        !refp)
        goto done;

    // Preprocessing from the metadata: the same planes as PyTorch's.
    x = facet_alloc(3 * 224 * 224 * sizeof(float));
    input_from_meta(x, rgb, 224, 224, wt_file_info(wf), 0);
    plane_sums(sums, x, 224, 224);
    CHECK(meta_sums("face224", want));
    for (int c = 0; c < 3; c++)
        // Sums of the same 50176 float32 values in double: equal up to
        // the order of summation.
        CHECK_NEAR(sums[c], want[c], 1e-9 * fabs(want[c]) + 1e-6);

    for (int k = 0; k < n; k++) {
        outputs o = {0};
        double e5, e7, e8, ep;

        facet_isa_force(isas[k]);
        s = run_narrow(&o, wf, x, 224, 224);
        CHECKF(s == FACET_OK, "%s", facet_error());
        if (s != FACET_OK || !o.fc8) {
            free_outputs(&o);
            continue;
        }
        e5 = rel_err(o.relu5_3, ref5, 20 * 14 * 14);
        e7 = rel_err(o.fc7, ref7, 8);
        e8 = rel_err(o.fc8, ref8, 2622);
        ep = rel_err(o.prob, refp, 2622);
        printf("parity (%s): relu5_3 %.2g, fc7 %.2g, fc8 %.2g, prob %.2g "
               "(max |err| / max |torch|)\n", facet_isa_name(isas[k]), e5,
               e7, e8, ep);
        CHECKF(e5 <= PARITY_TOL, "relu5_3 error %.3g", e5);
        CHECKF(e7 <= PARITY_TOL, "fc7 error %.3g", e7);
        CHECKF(e8 <= PARITY_TOL, "fc8 error %.3g", e8);
        CHECKF(ep <= PARITY_TOL, "prob error %.3g", ep);
        free_outputs(&o);
    }

    // The same image read as RGB: the sums and the outputs must miss.
    {
        outputs o = {0};
        double e5, e8;

        input_from_meta(x, rgb, 224, 224, wt_file_info(wf), 1);
        plane_sums(sums, x, 224, 224);
        CHECK(fabs(sums[0] - want[0]) > 0.01 * fabs(want[0]));
        CHECK(run_narrow(&o, wf, x, 224, 224) == FACET_OK && o.fc8);
        if (o.fc8) {
            e5 = rel_err(o.relu5_3, ref5, 20 * 14 * 14);
            e8 = rel_err(o.fc8, ref8, 2622);
            printf("channels swapped: relu5_3 %.2g, fc8 %.2g\n", e5, e8);
            CHECKF(e5 > SWAP_MIN && e8 > SWAP_MIN,
                   "a channel swap went unnoticed: %.3g %.3g", e5, e8);
        }
        free_outputs(&o);
    }
    facet_free(x);
done:
    free(rgb);
    free(ref5);
    free(ref7);
    free(ref8);
    free(refp);
    wt_close(wf);
    remove(path);
}

// The narrow weights zero-padded to VGG-16's widths run through nn_vgg16:
// the first channels of conv5_3 are the narrow network's, the rest zero.
static void test_vgg16_net(void)
{
    char path[300];
    wt_file *wf = NULL;
    float *full[2 * VGG_CONVS] = {0}, *x = NULL, *ref = NULL;
    uint8_t *rgb;
    double sums[3], want[3];
    int w, h, cin_n = 3, cin_f = 3;
    nn_vgg16 *net = NULL;
    facet_status s;

    tmp_path(path, sizeof path, "vgg16.fct");
    s = caffe_convert_file(FIXTURES "vgg_narrow_v2.caffemodel", path,
                           &(caffe_opts){0, 1});
    CHECKF(s == FACET_OK && wt_open(&wf, path, 0) == FACET_OK, "%s",
           facet_error());
    rgb = read_ppm("color32.ppm", &w, &h);
    ref = read_f32("color32.relu5_3.f32", 20 * 2 * 2);
    if (!wf || !rgb || w != 32 || h != 32 || !ref)
        goto done;

    // Full-width weights: the narrow block in the corner, zeros around.
    for (int i = 0; i < VGG_CONVS; i++) {
        char name[32];
        int64_t wd[4] = {narrow_w[i], cin_n, 3, 3}, bd = narrow_w[i];
        const float *nw, *nb;
        size_t count = (size_t)full_w[i] * cin_f * 9;

        snprintf(name, sizeof name, "%s.weight", conv_names[i]);
        nw = wt_tensor(wf, name, 4, wd);
        snprintf(name, sizeof name, "%s.bias", conv_names[i]);
        nb = wt_tensor(wf, name, 1, &bd);
        FACET_ASSERT(nw && nb);
        full[2 * i] = facet_calloc(count * sizeof(float));
        full[2 * i + 1] = facet_calloc((size_t)full_w[i] * sizeof(float));
        FACET_ASSERT(full[2 * i] && full[2 * i + 1]);
        for (int o = 0; o < narrow_w[i]; o++) {
            for (int c = 0; c < cin_n; c++)
                memcpy(full[2 * i] + ((size_t)o * cin_f + c) * 9,
                       nw + ((size_t)o * cin_n + c) * 9, 9 * sizeof(float));
            full[2 * i + 1][o] = nb[o];
        }
        cin_n = narrow_w[i];
        cin_f = full_w[i];
    }
    s = nn_vgg16_create(&net, (const float *const *)full, 1, 32, 32);
    CHECKF(s == FACET_OK, "%s", facet_error());
    if (s != FACET_OK)
        goto done;

    x = facet_alloc(3 * 32 * 32 * sizeof(float));
    for (int misread = 0; misread < 2; misread++) {
        nn_tensor in = nn_tensor_4d(x, 1, 3, 32, 32);
        const nn_tensor *f;
        double e;
        int zeros = 1;

        input_from_meta(x, rgb, 32, 32, wt_file_info(wf), misread);
        plane_sums(sums, x, 32, 32);
        CHECK(meta_sums("color32", want));
        CHECK(misread ? fabs(sums[0] - want[0]) > 1000
                      : fabs(sums[0] - want[0]) < 1e-6);
        CHECK(nn_vgg16_forward(net, &in) == FACET_OK);
        f = nn_vgg16_feature(net, "conv5_3");
        CHECK(f && f->dim[1] == 512 && f->dim[2] == 2 && f->dim[3] == 2);
        if (!f)
            continue;
        e = rel_err(f->data, ref, 20 * 4);
        for (size_t i = 20 * 4; i < 512 * 4; i++)
            zeros &= f->data[i] == 0.0f;
        if (!misread) {
            printf("nn_vgg16 (padded, 32x32): conv5_3 error %.2g\n", e);
            CHECKF(e <= PARITY_TOL, "nn_vgg16 conv5_3 error %.3g", e);
            CHECK(zeros);
        } else {
            printf("nn_vgg16, channels swapped: conv5_3 error %.2g\n", e);
            CHECKF(e > SWAP_MIN, "a channel swap went unnoticed: %.3g", e);
        }
    }
done:
    nn_vgg16_free(net);
    for (int i = 0; i < 2 * VGG_CONVS; i++)
        facet_free(full[i]);
    facet_free(x);
    free(rgb);
    free(ref);
    wt_close(wf);
    remove(path);
}

// ---------------------------------------------------------------------------
// MatConvNet

// The file with every compressed variable stored inflated instead.
static uint8_t *mat_uncompressed(size_t *outn, const uint8_t *data,
                                 size_t size)
{
    mat_buf fb = {"orig.mat", data, 0, 0};
    enc e = {0};
    const uint8_t *p = data + 128, *end = data + size;
    static const uint8_t zeros[8];

    e_raw(&e, data, 128);
    while (p < end) {
        mat_elem el;
        uint8_t *block;
        size_t n;

        FACET_ASSERT(read_elem(&el, &fb, p, end) == FACET_OK);
        if (el.type == MI_COMPRESSED) {
            FACET_ASSERT(inflate_elem(&block, &n, &fb, &el) == FACET_OK);
            e_raw(&e, block, n);
            e_raw(&e, zeros, facet_align_up(n, 8) - n);
            facet_free(block);
        } else {
            e_raw(&e, p, (size_t)(el.next - p));
        }
        p = el.next;
    }
    *outn = e.n;
    return e.p;
}

static void e_u32(enc *e, uint32_t v)
{
    e_raw(e, &v, 4);
}

// The older release's layout from an uncompressed file whose first
// variable is `layers`: one struct variable `net` with that cell as its
// only field (and no normalization).
static uint8_t *mat_net_variant(size_t *outn, const uint8_t *flat,
                                size_t n)
{
    mat_buf fb = {"flat.mat", flat, 0, 0};
    mat_elem el;
    enc body = {0}, out = {0};
    char names[32] = "layers";

    FACET_ASSERT(read_elem(&el, &fb, flat + 128, flat + n) == FACET_OK &&
                 el.type == MI_MATRIX);
    e_u32(&body, MI_UINT32);             // array flags: struct
    e_u32(&body, 8);
    e_u32(&body, MX_STRUCT);
    e_u32(&body, 0);
    e_u32(&body, MI_INT32);              // dimensions 1 x 1
    e_u32(&body, 8);
    e_u32(&body, 1);
    e_u32(&body, 1);
    e_u32(&body, MI_INT8);               // name "net", padded
    e_u32(&body, 3);
    e_raw(&body, "net\0\0\0\0\0", 8);
    e_u32(&body, 4u << 16 | MI_INT32);   // field name length, small form
    e_u32(&body, 32);
    e_u32(&body, MI_INT8);               // the field names
    e_u32(&body, 32);
    e_raw(&body, names, 32);
    e_raw(&body, flat + 128, (size_t)(el.next - (flat + 128)));
    e_raw(&out, flat, 128);
    e_u32(&out, MI_MATRIX);
    e_u32(&out, (uint32_t)body.n);
    e_raw(&out, body.p, body.n);
    e_free(&body);
    *outn = out.n;
    return out.p;
}

static facet_status mat_convert_mem(const uint8_t *data, size_t size,
                                    const char *out, int fc, int any)
{
    mcn_opts o = {fc, any};
    mat_file m;
    facet_status s = mat_parse(&m, data, size, "mem.mat");

    if (s == FACET_OK) {
        s = mcn_convert(&m, out, &o);
        mat_close(&m);
    }
    return s;
}

// Truncated and damaged copies: errors or conversions, never a crash.
static void mat_hostile(const uint8_t *orig, size_t size, const char *what,
                        const char *out)
{
    uint8_t *buf = malloc(size);
    facet_rng rng;
    int errors = 0, converted = 0;

    facet_rng_seed(&rng, 5);
    for (int k = 0; k < 200; k++) {
        size_t len = (size_t)k * (size - 1) / 199;
        uint8_t *cut = malloc(len ? len : 1);
        facet_status s;

        memcpy(cut, orig, len);
        s = mat_convert_mem(cut, len, out, 1, 1);
        errors += s != FACET_OK;
        free(cut);
    }
    CHECKF(errors == 200, "%s truncations: %d of 200 failed", what, errors);
    errors = 0;
    for (int k = 0; k < 300; k++) {
        int flips = 1 + (int)facet_rng_below(&rng, 8);
        facet_status s;
        mat_file m;

        memcpy(buf, orig, size);
        for (int j = 0; j < flips; j++)
            buf[128 + facet_rng_below(&rng, (uint32_t)(size - 128))] ^=
                (uint8_t)(1 + facet_rng_below(&rng, 255));
        s = mat_parse(&m, buf, size, "damaged.mat");
        if (s == FACET_OK) {
            if (k % 8 == 0) {
                s = mcn_convert(&m, out, &(mcn_opts){1, 1});
                converted += s == FACET_OK;
            }
            mat_close(&m);
        }
        errors += s != FACET_OK;
    }
    printf("%s: 200 truncations, 300 damaged copies (%d rejected), %d "
           "converted\n", what, errors, converted);
    remove(out);
    free(buf);
}

static void test_matconvnet(void)
{
    char pc[300], pm[300], pu[300];
    uint8_t *data, *flat = NULL, *bad;
    size_t size, nflat;
    wt_file *wc = NULL, *wm = NULL, *wu = NULL;
    facet_status s;
    static const float mean[3] = {93.59396362304688f, 104.76238250732422f,
                                  129.186279296875f};

    tmp_path(pc, sizeof pc, "mcn_caffe.fct");
    tmp_path(pm, sizeof pm, "mcn.fct");
    tmp_path(pu, sizeof pu, "mcn_flat.fct");
    data = read_all(FIXTURES "vgg_narrow.mat", &size);
    CHECKF(data, "vgg_narrow.mat missing");
    if (!data)
        return;

    // The compressed fixture, as convert_matconvnet reads it, and the
    // Caffe file: the same tensors, the same input description.
    s = caffe_convert_file(FIXTURES "vgg_narrow_v1.caffemodel", pc,
                           &(caffe_opts){1, 1});
    CHECK(s == FACET_OK && wt_open(&wc, pc, 0) == FACET_OK);
    s = mcn_convert_file(FIXTURES "vgg_narrow.mat", pm, &(mcn_opts){1, 1});
    CHECKF(s == FACET_OK && wt_open(&wm, pm, 0) == FACET_OK, "%s",
           facet_error());
    if (wc && wm) {
        const wt_info *in = wt_file_info(wm);

        CHECK(same_tensors(wm, wc));
        check_converted(wm, 1);
        CHECK(in->mean && !memcmp(in->mean, mean, sizeof mean));
        CHECK(streq(wt_meta_str(wm, "matconvnet.mean_source"),
                    "averageImage"));
        CHECK(strstr(in->source, "MatConvNet") != NULL);
    }

    // Uncompressed: the same again.
    flat = mat_uncompressed(&nflat, data, size);
    CHECK(nflat > size);
    s = mat_convert_mem(flat, nflat, pu, 1, 1);
    CHECKF(s == FACET_OK && wt_open(&wu, pu, 0) == FACET_OK, "%s",
           facet_error());
    if (wc && wu)
        CHECK(same_tensors(wu, wc));

    // The older layout, net.layers, without a mean: the published one.
    {
        size_t nn;
        uint8_t *net = mat_net_variant(&nn, flat, nflat);
        wt_file *wn = NULL;

        s = mat_convert_mem(net, nn, pu, 1, 1);
        CHECKF(s == FACET_OK && wt_open(&wn, pu, 0) == FACET_OK, "%s",
               facet_error());
        if (wn && wc) {
            CHECK(same_tensors(wn, wc));
            CHECK(!memcmp(wt_file_info(wn)->mean, mean, sizeof mean));
            CHECK(streq(wt_meta_str(wn, "matconvnet.mean_source"),
                        "published values"));
        }
        wt_close(wn);
        free(net);
    }

    // Headers and layers that must be refused, naming the fault.
    bad = malloc(nflat);
    memcpy(bad, flat, nflat);
    bad[126] = 'M';
    bad[127] = 'I';
    CHECK(mat_convert_mem(bad, nflat, pu, 0, 1) == FACET_E_UNSUPPORTED &&
          strstr(facet_error(), "big-endian"));
    memcpy(bad, flat, nflat);
    bad[125] = 0x02;
    CHECK(mat_convert_mem(bad, nflat, pu, 0, 1) == FACET_E_UNSUPPORTED &&
          strstr(facet_error(), "v7.3"));
    bad[0] = 'X';
    CHECK(mat_convert_mem(bad, nflat, pu, 0, 1) == FACET_E_FORMAT);
    memcpy(bad, flat, nflat);
    for (size_t i = 0; i + 7 <= nflat; i++)
        if (!memcmp(bad + i, "conv3_2", 7))
            bad[i + 6] = 'x';
    CHECK(mat_convert_mem(bad, nflat, pu, 0, 1) == FACET_E_NOT_FOUND &&
          strstr(facet_error(), "no layer named conv3_2"));
    CHECK(mat_convert_mem(flat, nflat, pu, 0, 0) == FACET_E_FORMAT &&
          strstr(facet_error(), "layer conv1_1: filters are 3 x 3 x 3 x 4"));
    CHECK(mat_convert_mem(data, 100, pu, 0, 1) == FACET_E_FORMAT);

    // The inflated size must match the element's tag: the first variable
    // of the compressed file claims 8 bytes more than it holds.
    memcpy(bad, data, size);
    {
        mat_buf fb = {"x", data, 0, 0};
        mat_elem el;
        uint8_t *block;
        size_t n;
        uLongf zn;
        uint8_t *z;

        FACET_ASSERT(read_elem(&el, &fb, data + 128, data + size) ==
                     FACET_OK && el.type == MI_COMPRESSED);
        FACET_ASSERT(inflate_elem(&block, &n, &fb, &el) == FACET_OK);
        block[4] += 8;   // the inner miMATRIX tag's byte count
        zn = compressBound(n);
        z = malloc(zn + 136);
        memcpy(z, data, 128);
        FACET_ASSERT(compress(z + 136, &zn, block, n) == Z_OK);
        memcpy(z + 128, &(uint32_t){MI_COMPRESSED}, 4);
        memcpy(z + 132, &(uint32_t){(uint32_t)zn}, 4);
        s = mat_convert_mem(z, 136 + zn, pu, 0, 1);
        CHECKF(s == FACET_E_CORRUPT &&
               strstr(facet_error(), "fewer bytes than its element tag") &&
               strstr(facet_error(), "byte 136"), "%s: %s",
               facet_status_str(s), facet_error());
        block[4] -= 16;  // now it holds more than it claims
        zn = compressBound(n);
        FACET_ASSERT(compress(z + 136, &zn, block, n) == Z_OK);
        memcpy(z + 132, &(uint32_t){(uint32_t)zn}, 4);
        CHECK(mat_convert_mem(z, 136 + zn, pu, 0, 1) == FACET_E_CORRUPT &&
              strstr(facet_error(), "more data than its element tag"));
        free(z);
        facet_free(block);
    }
    free(bad);

    // The listing names every layer and its filter shapes.
    {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        mat_file m;

        if (fp && mat_parse(&m, data, size, "dump.mat") == FACET_OK) {
            mcn_dump(fp, &m);
            mat_close(&m);
        }
        if (fp)
            fclose(fp);
        CHECK(text && strstr(text, "variable layers: class 1, 2 dims: 1 39")
              && strstr(text, "conv5_3      conv      3x3x20x20, 20x1") &&
              strstr(text, "fc6          conv      7x7x20x8, 8x1"));
        free(text);
    }

    mat_hostile(data, size, "vgg_narrow.mat", pu);
    mat_hostile(flat, nflat, "vgg_narrow.mat uncompressed", pu);
    wt_close(wc);
    wt_close(wm);
    wt_close(wu);
    remove(pc);
    remove(pm);
    remove(pu);
    free(flat);
    free(data);
}

// weights/vggface.fct, if a real VGG_FACE.caffemodel was converted: the
// official shapes, loaded into nn_vgg16 as a loader would (each tensor
// through wt_tensor, which checks its shape) and run on the colour image:
// a finite, not all-zero conv5_3.
static void test_installed(void)
{
    const char *dir = check_weights_dir();
    const float *params[2 * VGG_CONVS];
    char path[512];
    wt_file *wf = NULL;
    nn_vgg16 *net = NULL;
    int64_t cin = 3;
    int ok = 1, w, h;

    snprintf(path, sizeof path, "%s/vggface.fct", dir);
    if (access(path, F_OK) != 0) {
        printf("%s not installed (optional: make weights VGGFACE=/path/to/"
               "VGG_FACE.caffemodel); skipped\n", path);
        return;
    }
    CHECKF(wt_open(&wf, path, 0) == FACET_OK, "%s", facet_error());
    if (!wf)
        return;
    CHECK(streq(wt_file_info(wf)->channel_order, "BGR"));
    for (int i = 0; i < VGG_CONVS; i++) {
        char name[32];
        int64_t wd[4] = {full_w[i], cin, 3, 3}, bd = full_w[i];

        snprintf(name, sizeof name, "%s.weight", conv_names[i]);
        params[2 * i] = wt_tensor(wf, name, 4, wd);
        snprintf(name, sizeof name, "%s.bias", conv_names[i]);
        params[2 * i + 1] = wt_tensor(wf, name, 1, &bd);
        CHECKF(params[2 * i] && params[2 * i + 1], "%s", facet_error());
        ok &= params[2 * i] && params[2 * i + 1];
        cin = full_w[i];
    }
    if (ok && nn_vgg16_create(&net, params, 1, 32, 32) == FACET_OK) {
        uint8_t *rgb = read_ppm("color32.ppm", &w, &h);
        float *x = facet_alloc(3 * 32 * 32 * sizeof(float));
        nn_tensor in = nn_tensor_4d(x, 1, 3, 32, 32);
        const nn_tensor *f;
        int finite = 1, nonzero = 0;

        if (rgb && w == 32 && h == 32) {
            input_from_meta(x, rgb, 32, 32, wt_file_info(wf), 0);
            CHECK(nn_vgg16_forward(net, &in) == FACET_OK);
            f = nn_vgg16_feature(net, "conv5_3");
            for (size_t i = 0; f && i < nn_tensor_count(f); i++) {
                finite &= isfinite(f->data[i]);
                nonzero |= f->data[i] != 0.0f;
            }
            CHECK(f && finite && nonzero);
        }
        free(rgb);
        facet_free(x);
    } else {
        CHECKF(0, "%s: nn_vgg16: %s", path, facet_error());
    }
    nn_vgg16_free(net);
    printf("%s: official shapes, runs through nn_vgg16\n", path);
    wt_close(wf);
}

int main(void)
{
    if (check_mkdtemp(tmpdir, sizeof tmpdir, "caffe") != 0) {
        fprintf(stderr, "test_caffe: cannot create %s\n", tmpdir);
        return 1;
    }
    test_varints();
    test_fields();
    test_hostile_fields();
    test_repeated();
    test_files();
    test_converter();
    test_hostile_models();
    test_parity();
    test_vgg16_net();
    test_matconvnet();
    test_installed();
    rmdir(tmpdir);
    return check_report();
}

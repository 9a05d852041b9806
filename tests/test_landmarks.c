// test_landmarks.c - dlib's 68-point shape predictor: the .dat reader of
// tools/convert/convert_dlib.c on synthetic and damaged files, the
// converter -> .fct -> face/landmarks.c round trip, parity with dlib's own
// predictor on real photos, and the error cases.
//
// The synthetic files are written by an encoder of dlib's serialisation
// written here from dlib/serialize.h and dlib/float_details.h (variable-
// length integers, floats as mantissa and exponent), independent of the
// reader under test.
//
// Parity: tests/data/dlib/landmarks.txt, written by
// tools/fixtures/dlib_landmarks.cpp (its header says how to regenerate
// it), holds face boxes and dlib's landmark positions before and after
// its rounding to integers, for a few LFW and aligned112 photos. The
// photos are research data and are not committed: they are read at run
// time from $FACET_DATA (default ../shared/data, relative to the
// repository root, where the tests run), named in landmarks.txt by their
// path under it. Without that folder the parity part prints "skipped:
// FACET_DATA (...) not found" and counts no failure; the other parts
// still run. A photo missing from an existing folder is a failure.
//
// Generator and test decode the photos alike, with stb_image to 8-bit RGB
// (this file holds its implementation, STB_IMAGE_IMPLEMENTATION), and the
// test checks the recorded size and FNV-1a hash of the RGB bytes before
// comparing landmarks, so that another copy of the data or another
// decoder shows up as such. Each face is predicted twice: from the RGB
// image (channels 3, the pipeline's input, which the predictor reduces to
// grey as dlib does, (r + g + b) / 3) and from that grey image made here
// (channels 1, the image dlib's predictor was given); the generator
// checked that dlib gives the same on both.
//
// The real model is weights/dlib_landmarks68.fct (`make weights`);
// without it the test fails saying so. FACET_WEIGHTS overrides the
// weights folder. FACET_LM_BENCH=1 times each face with the generator's
// protocol (15 batches of 20 calls) instead of a short one.
//
// Limitations:
// - Parity needs the photos under $FACET_DATA and the stb_image of Debian
//   libstb-dev (v2.27) the fixtures were made with.
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

#include "stb_impl.h"

#define CONVERT_DLIB_NO_MAIN
#include "../tools/convert/convert_dlib.c"

#include "../face/landmarks.h"

static char tmpdir[256];

// ---------------------------------------------------------------------------
// An encoder of dlib's serialisation, for synthetic models

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put_byte(bytes *b, uint8_t v)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 1024;
        b->p = realloc(b->p, b->cap);
        FACET_ASSERT(b->p != NULL);
    }
    b->p[b->n++] = v;
}

// Control byte (size | sign), then the magnitude's bytes, low first; zero
// is one byte 0.
static void put_mag(bytes *b, uint64_t mag, int neg)
{
    uint8_t tmp[8];
    int n = 0;

    do {
        tmp[n++] = (uint8_t)(mag & 0xFF);
        mag >>= 8;
    } while (mag != 0);
    put_byte(b, (uint8_t)(n | (neg ? 0x80 : 0)));
    for (int i = 0; i < n; i++)
        put_byte(b, tmp[i]);
}

static void put_uint(bytes *b, uint64_t v)
{
    put_mag(b, v, 0);
}

static void put_int(bytes *b, int64_t v)
{
    put_mag(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

// dlib's float_details for a float: mantissa = frexp(v) * 2^24 as int64,
// exponent = e - 24, low zero bytes of the mantissa shifted off; special
// exponents for infinities and NaN.
static void put_float(bytes *b, float v)
{
    int64_t mant = 0, ex;
    int e;

    if (isnan(v)) {
        ex = 32002;
    } else if (isinf(v)) {
        ex = v > 0 ? 32000 : 32001;
    } else {
        uint64_t mag;
        mant = (int64_t)(frexp(v, &e) * 16777216.0);
        ex = e - 24;
        mag = mant < 0 ? (uint64_t)-mant : (uint64_t)mant;
        for (int i = 0; i < 8 && (mag & 0xFF) == 0; i++) {
            mag >>= 8;
            ex += 8;
        }
        mant = mant < 0 ? -(int64_t)mag : (int64_t)mag;
    }
    put_int(b, mant);
    put_int(b, ex);
}

static void put_colvec(bytes *b, const float *v, int n)
{
    put_int(b, -n);
    put_int(b, -1);
    for (int i = 0; i < n; i++)
        put_float(b, v[i]);
}

// The synthetic model: L parts, T cascades of K trees of depth 2, P
// feature pixels. Values are drawn from a fixed seed; FAULT_* variants
// break one rule each.
enum { SL = 3, ST = 2, SK = 3, SS = 3, SP = 4 };
enum fault {
    FAULT_NONE, FAULT_VERSION, FAULT_ANCHOR, FAULT_SPLIT_IDX,
    FAULT_LEAF_COUNT, FAULT_LEAF_LEN, FAULT_NAN, FAULT_ASCII,
    FAULT_TRAILING, FAULT_HUGE_COUNT, FAULT_RAGGED, FAULT_NOT_POW2,
    FAULT_SIGNED_COUNT, FAULT_COUNT
};

typedef struct synth {
    float mean[SL * 2];
    uint64_t idx[ST][SK][SS][2];
    float thresh[ST][SK][SS];
    float leaves[ST][SK][SS + 1][SL * 2];
    uint64_t anchor[ST][SP];
    float deltas[ST][SP][2];
} synth;

static void synth_values(synth *m, facet_rng *r, float thresh_sign)
{
    static const float mean[SL * 2] = {0.2f, 0.3f, 0.8f, 0.3f, 0.5f, 0.8f};

    memcpy(m->mean, mean, sizeof(mean));
    for (int t = 0; t < ST; t++) {
        for (int k = 0; k < SK; k++) {
            for (int i = 0; i < SS; i++) {
                m->idx[t][k][i][0] = facet_rng_below(r, SP);
                m->idx[t][k][i][1] = facet_rng_below(r, SP);
                // thresh_sign 0: random; else all of that sign.
                m->thresh[t][k][i] = thresh_sign != 0
                    ? thresh_sign * (1 + 10 * facet_rng_float(r))
                    : 60 * facet_rng_float(r) - 30;
            }
            for (int j = 0; j <= SS; j++)
                check_fill_random(m->leaves[t][k][j], SL * 2, r, -0.02f,
                                  0.02f);
        }
        for (int p = 0; p < SP; p++) {
            m->anchor[t][p] = facet_rng_below(r, SL);
            check_fill_random(m->deltas[t][p], 2, r, -0.1f, 0.1f);
        }
    }
}

static void synth_encode(bytes *b, const synth *m, enum fault f)
{
    // version, initial_shape
    put_int(b, f == FAULT_VERSION ? 2 : 1);
    put_colvec(b, m->mean, SL * 2);

    // forests
    put_uint(b, ST);
    for (int t = 0; t < ST; t++) {
        put_uint(b, SK);
        for (int k = 0; k < SK; k++) {
            int splits = SS;
            if (f == FAULT_RAGGED && t == 1 && k == 2)
                splits = 1;
            if (f == FAULT_NOT_POW2 && t == 0 && k == 0)
                splits = 2;
            if (f == FAULT_SIGNED_COUNT && t == 0 && k == 1) {
                put_byte(b, 0x81);   // an unsigned count with a sign bit
                put_byte(b, SS);
            } else {
                put_uint(b, (uint64_t)splits);
            }
            for (int i = 0; i < splits; i++) {
                uint64_t i1 = m->idx[t][k][i % SS][0];
                if (f == FAULT_SPLIT_IDX && t == 1 && k == 1 && i == 2)
                    i1 = SP;
                put_uint(b, i1);
                put_uint(b, m->idx[t][k][i % SS][1]);
                if (f == FAULT_NAN && t == 1 && k == 0 && i == 1)
                    put_float(b, NAN);
                else if (f == FAULT_ASCII && t == 0 && k == 2 && i == 0)
                    put_byte(b, '1');
                else
                    put_float(b, m->thresh[t][k][i % SS]);
            }
            int leaves = splits + 1;
            if (f == FAULT_LEAF_COUNT && t == 1 && k == 1)
                leaves = SS;
            put_uint(b, (uint64_t)leaves);
            for (int j = 0; j < leaves; j++) {
                int len = SL * 2;
                if (f == FAULT_LEAF_LEN && t == 0 && k == 1 && j == 3)
                    len = SL * 2 - 2;
                put_colvec(b, m->leaves[t][k][j % (SS + 1)], len);
            }
        }
    }

    // anchor_idx, deltas
    put_uint(b, ST);
    for (int t = 0; t < ST; t++) {
        if (f == FAULT_HUGE_COUNT && t == 1) {
            put_uint(b, UINT64_C(1) << 40);
            continue;
        }
        put_uint(b, SP);
        for (int p = 0; p < SP; p++)
            put_uint(b, f == FAULT_ANCHOR && t == 1 && p == 3
                            ? SL : m->anchor[t][p]);
    }
    put_uint(b, ST);
    for (int t = 0; t < ST; t++) {
        put_uint(b, SP);
        for (int p = 0; p < SP; p++) {
            put_float(b, m->deltas[t][p][0]);
            put_float(b, m->deltas[t][p][1]);
        }
    }
    if (f == FAULT_TRAILING)
        put_byte(b, 0);
}

// ---------------------------------------------------------------------------
// Reader tests

static void test_primitives(void)
{
    static const float vals[] = {0.0f, 1.0f, -1.0f, 0.5f, 3.14159265f,
                                 -1e-30f, 1e30f, 1.17549435e-38f,
                                 1.4e-45f, -123456.789f};
    bytes b = {0};
    reader r;
    int ok = 1;

    // Integers: zero, small, multi-byte, negative, extremes.
    put_uint(&b, 0);
    put_uint(&b, 255);
    put_uint(&b, 256);
    put_uint(&b, UINT64_MAX);
    put_int(&b, -1);
    put_int(&b, INT64_MIN + 1);
    put_int(&b, 32767);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        put_float(&b, vals[i]);
    put_float(&b, INFINITY);
    put_float(&b, -INFINITY);
    put_float(&b, NAN);

    r = (reader){b.p, b.p, b.p + b.n, "primitives"};
    uint64_t u;
    int64_t v;
    float f;
    ok &= read_uint(&u, &r, 8, "u") == FACET_OK && u == 0;
    ok &= read_uint(&u, &r, 8, "u") == FACET_OK && u == 255;
    ok &= read_uint(&u, &r, 8, "u") == FACET_OK && u == 256;
    ok &= read_uint(&u, &r, 8, "u") == FACET_OK && u == UINT64_MAX;
    ok &= read_int(&v, &r, 8, "i") == FACET_OK && v == -1;
    ok &= read_int(&v, &r, 8, "i") == FACET_OK && v == INT64_MIN + 1;
    ok &= read_int(&v, &r, 2, "i") == FACET_OK && v == 32767;
    CHECK(ok);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        CHECK(read_float(&f, &r, "f") == FACET_OK);
        CHECKF(f == vals[i], "float %zu: %.9g, want %.9g", i, (double)f,
               (double)vals[i]);
    }
    CHECK(read_float(&f, &r, "f") == FACET_OK && isinf(f) && f > 0);
    CHECK(read_float(&f, &r, "f") == FACET_OK && isinf(f) && f < 0);
    CHECK(read_float(&f, &r, "f") == FACET_OK && isnan(f));
    CHECK(r.p == r.end);

    // Out of range for the type, zero-size and oversized control bytes.
    {
        static const uint8_t big16[] = {0x03, 1, 0, 0};   // 3 bytes > int16
        static const uint8_t over16[] = {0x02, 0x00, 0x80}; // 32768
        static const uint8_t zero[] = {0x00};
        static const uint8_t nine[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        static const uint8_t cut[] = {0x04, 1, 2};
        r = (reader){big16, big16, big16 + 4, "x"};
        CHECK(read_int(&v, &r, 2, "i") == FACET_E_CORRUPT);
        r = (reader){over16, over16, over16 + 3, "x"};
        CHECK(read_int(&v, &r, 2, "i") == FACET_E_CORRUPT);
        r = (reader){zero, zero, zero + 1, "x"};
        CHECK(read_uint(&u, &r, 8, "u") == FACET_E_CORRUPT);
        r = (reader){nine, nine, nine + 10, "x"};
        CHECK(read_uint(&u, &r, 8, "u") == FACET_E_CORRUPT);
        r = (reader){cut, cut, cut + 3, "x"};
        CHECK(read_uint(&u, &r, 8, "u") == FACET_E_CORRUPT);
        CHECK(strstr(facet_error(), "truncated") != NULL);
    }
    free(b.p);
}

static void test_parse_synthetic(void)
{
    synth m;
    facet_rng r;
    bytes b = {0};
    dlib_sp sp;
    int ok = 1;

    facet_rng_seed(&r, 11);
    synth_values(&m, &r, 0);
    synth_encode(&b, &m, FAULT_NONE);
    CHECK(dlib_sp_parse(&sp, b.p, b.n, "synth.dat") == FACET_OK);
    CHECK(sp.parts == SL && sp.cascades == ST && sp.trees == SK &&
          sp.splits == SS && sp.features == SP);

    // Every value lands where the layout comment of dlib_sp says.
    for (int i = 0; i < SL * 2; i++)
        ok &= sp.mean_shape[i] == m.mean[i];
    for (int t = 0; t < ST; t++) {
        for (int k = 0; k < SK; k++) {
            size_t tree = (size_t)t * SK + k;
            for (int i = 0; i < SS; i++) {
                ok &= sp.split_idx[(tree * SS + i) * 2] ==
                      (float)m.idx[t][k][i][0];
                ok &= sp.split_idx[(tree * SS + i) * 2 + 1] ==
                      (float)m.idx[t][k][i][1];
                ok &= sp.split_thresh[tree * SS + i] == m.thresh[t][k][i];
            }
            for (int j = 0; j <= SS; j++)
                for (int e = 0; e < SL * 2; e++)
                    ok &= sp.leaves[(tree * (SS + 1) + j) * SL * 2 + e] ==
                          m.leaves[t][k][j][e];
        }
        for (int p = 0; p < SP; p++) {
            ok &= sp.anchor_idx[t * SP + p] == (float)m.anchor[t][p];
            ok &= sp.deltas[(t * SP + p) * 2] == m.deltas[t][p][0];
            ok &= sp.deltas[(t * SP + p) * 2 + 1] == m.deltas[t][p][1];
        }
    }
    CHECKF(ok, "parsed synthetic model differs from what was encoded");
    dlib_sp_free(&sp);

    // Every truncation fails cleanly, as corrupt (not a crash, not OK).
    int bad_status = 0;
    for (size_t n = 0; n < b.n; n++) {
        facet_status s = dlib_sp_parse(&sp, b.p, n, "cut.dat");
        if (s != FACET_E_CORRUPT)
            bad_status++;
        if (s == FACET_OK)
            dlib_sp_free(&sp);
    }
    CHECKF(bad_status == 0, "%d truncations not reported as corrupt",
           bad_status);
    free(b.p);
}

static void test_parse_faults(void)
{
    static const struct {
        enum fault f;
        facet_status want;
        const char *detail;   // a fragment of the message
    } cases[] = {
        {FAULT_VERSION, FACET_E_VERSION, "version 2"},
        {FAULT_ANCHOR, FACET_E_CORRUPT, "not a part index"},
        {FAULT_SPLIT_IDX, FACET_E_CORRUPT, "feature pixel 4"},
        {FAULT_LEAF_COUNT, FACET_E_CORRUPT, "leaf count"},
        {FAULT_LEAF_LEN, FACET_E_CORRUPT, "2 x parts"},
        {FAULT_NAN, FACET_E_CORRUPT, "not finite"},
        {FAULT_ASCII, FACET_E_CORRUPT, "ASCII"},
        {FAULT_TRAILING, FACET_E_CORRUPT, "trailing"},
        {FAULT_HUGE_COUNT, FACET_E_CORRUPT, "anchor_idx"},
        {FAULT_RAGGED, FACET_E_CORRUPT, "differ in depth"},
        {FAULT_NOT_POW2, FACET_E_CORRUPT, "power of 2"},
        {FAULT_SIGNED_COUNT, FACET_E_CORRUPT, "control byte"},
    };
    synth m;
    facet_rng r;

    facet_rng_seed(&r, 12);
    synth_values(&m, &r, 0);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        bytes b = {0};
        dlib_sp sp;
        facet_status s;

        synth_encode(&b, &m, cases[c].f);
        s = dlib_sp_parse(&sp, b.p, b.n, "fault.dat");
        CHECKF(s == cases[c].want, "fault %d: status %s, want %s",
               (int)cases[c].f, facet_status_str(s),
               facet_status_str(cases[c].want));
        CHECKF(strstr(facet_error(), "fault.dat") != NULL &&
               strstr(facet_error(), cases[c].detail) != NULL,
               "fault %d: detail \"%s\" lacks \"%s\"", (int)cases[c].f,
               facet_error(), cases[c].detail);
        if (s == FACET_OK)
            dlib_sp_free(&sp);
        free(b.p);
    }

    // Every single-bit flip of a valid file: parses or fails, never
    // crashes (run under SANITIZE=1 for the memory side).
    {
        bytes b = {0};
        dlib_sp sp;
        int flips = 0, rejected = 0;
        synth_encode(&b, &m, FAULT_NONE);
        for (size_t at = 0; at < b.n; at++) {
            for (int bit = 0; bit < 8; bit++) {
                b.p[at] ^= (uint8_t)(1u << bit);
                if (dlib_sp_parse(&sp, b.p, b.n, "flip.dat") == FACET_OK)
                    dlib_sp_free(&sp);
                else
                    rejected++;
                flips++;
                b.p[at] ^= (uint8_t)(1u << bit);
            }
        }
        // Flips inside float mantissas give other valid files, so only a
        // share is rejected; the count is here to show the loop ran.
        CHECKF(rejected > 0 && rejected < flips, "%d of %d flips rejected",
               rejected, flips);
        free(b.p);
    }
}

// ---------------------------------------------------------------------------
// Converter -> .fct -> predictor, on the synthetic model

// Write the synthetic model as a .fct through the converter's writer.
static int synth_fct(const char *path, const synth *m)
{
    bytes b = {0};
    dlib_sp sp;
    int ok;

    synth_encode(&b, m, FAULT_NONE);
    ok = dlib_sp_parse(&sp, b.p, b.n, "synth.dat") == FACET_OK;
    free(b.p);
    if (!ok)
        return 0;
    ok = dlib_sp_write(&sp, path, "synthetic") == FACET_OK;
    dlib_sp_free(&sp);
    return ok;
}

// On a constant image every feature difference is 0, so each tree takes
// its leftmost leaf when all thresholds are negative (0 > thresh) and its
// rightmost when all are positive: the result is the mean shape plus
// those leaves, in tree order, mapped through the box.
static void test_synthetic_predict(void)
{
    enum { W = 64, H = 48 };
    static uint8_t img[H * W * 3];
    const face_landmarks_box box = {10, 8, 50, 40};
    char path[300];

    snprintf(path, sizeof(path), "%s/synth.fct", tmpdir);
    for (int sign = -1; sign <= 1; sign += 2) {
        synth m;
        facet_rng r;
        face_landmarks *lm = NULL;
        float xy[SL * 2], s[SL * 2];
        int32_t ixy[SL * 2];
        int ok = 1;

        facet_rng_seed(&r, 13);
        synth_values(&m, &r, (float)sign);
        CHECK(synth_fct(path, &m));
        CHECK(face_landmarks_open(&lm, path) == FACET_OK);
        if (!lm)
            continue;
        CHECK(face_landmarks_parts(lm) == SL);

        // Expected: leaf 0 (left path) or leaf SS (right path) per tree.
        memcpy(s, m.mean, sizeof(s));
        for (int t = 0; t < ST; t++)
            for (int k = 0; k < SK; k++)
                for (int e = 0; e < SL * 2; e++)
                    s[e] += m.leaves[t][k][sign < 0 ? 0 : SS][e];

        // Grey and RGB images of the same constant value.
        for (int ch = 1; ch <= 3; ch += 2) {
            memset(img, 77, sizeof(img));
            check_fill_nan(xy, SL * 2);
            CHECK(face_landmarks_predict(xy, ixy, lm, img, W, H, W * ch, ch,
                                         &box) == FACET_OK);
            for (int i = 0; i < SL; i++) {
                double x = box.left + (double)s[2 * i] * (box.right -
                                                          box.left);
                double y = box.top + (double)s[2 * i + 1] * (box.bottom -
                                                            box.top);
                // 1e-5 px: float storage of a value < 64 (half an ulp
                // is 2e-6) plus dlib's box map, exact to ~1e-14.
                ok &= fabs(xy[2 * i] - x) < 1e-5 &&
                      fabs(xy[2 * i + 1] - y) < 1e-5;
                ok &= ixy[2 * i] == (int32_t)floor(x + 0.5) &&
                      ixy[2 * i + 1] == (int32_t)floor(y + 0.5);
            }
        }
        CHECKF(ok, "synthetic prediction (thresholds of sign %d)", sign);
        face_landmarks_free(lm);
    }
    unlink(path);
}

// ---------------------------------------------------------------------------
// The real model

static const char *weights_path(char *buf, size_t cap)
{
    const char *dir = check_weights_dir();

    snprintf(buf, cap, "%s/dlib_landmarks68.fct", dir);
    return buf;
}

static void test_model_shapes(const wt_file *w)
{
    static const struct {
        const char *name;
        int ndim;
        int64_t dims[5];
    } want[] = {
        {"mean_shape", 2, {68, 2}},
        {"split_idx", 4, {15, 500, 15, 2}},
        {"split_thresh", 3, {15, 500, 15}},
        {"leaf_values", 5, {15, 500, 16, 68, 2}},
        {"anchor_idx", 2, {15, 500}},
        {"deltas", 3, {15, 500, 2}},
    };
    static const struct {
        const char *key;
        int64_t value;
    } meta[] = {
        {"num_parts", 68}, {"cascades", 15}, {"trees_per_cascade", 500},
        {"tree_depth", 4}, {"feature_pixels", 500}, {"dlib_version", 1},
    };

    // The released model, as read from dlib's file: 15 cascades of 500
    // trees of depth 4 (15 splits, 16 leaves), 500 feature pixels.
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECKF(wt_tensor(w, want[i].name, want[i].ndim, want[i].dims),
               "%s", facet_error());
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        int64_t v = -1;
        CHECKF(wt_meta_i64(&v, w, meta[i].key) == FACET_OK &&
               v == meta[i].value, "metadata %s = %lld", meta[i].key,
               (long long)v);
    }
    CHECK(wt_meta_str(w, "license") && wt_meta_str(w, "source"));
    CHECK(wt_verify(w) == FACET_OK);
}

// A photo as the fixture generator decoded it: stb_image to 8-bit RGB
// (H x W x 3), the grey image dlib's rule makes of it (H x W,
// (r + g + b) / 3 truncated), and the 64-bit FNV-1a hash of the RGB bytes.
typedef struct photo {
    uint8_t *rgb, *grey;
    int w, h;
    uint64_t hash;
} photo;

static void photo_free(photo *p)
{
    stbi_image_free(p->rgb);
    free(p->grey);
    *p = (photo){0};
}

static int photo_load(photo *p, const char *path)
{
    int n;

    *p = (photo){0};
    p->rgb = stbi_load(path, &p->w, &p->h, &n, 3);
    if (!p->rgb)
        return 0;
    p->grey = malloc((size_t)p->w * p->h);
    if (!p->grey) {
        photo_free(p);
        return 0;
    }
    p->hash = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < (size_t)p->w * p->h; i++) {
        const uint8_t *c = p->rgb + 3 * i;
        p->grey[i] = (uint8_t)(((unsigned)c[0] + c[1] + c[2]) / 3u);
        for (int k = 0; k < 3; k++)
            p->hash = (p->hash ^ c[k]) * UINT64_C(1099511628211);
    }
    return 1;
}

static void sort_doubles(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
}

// Seconds per call on one face: the median over `batches` of the mean of
// `reps` calls.
static double time_face(const face_landmarks *lm, const uint8_t *img, int w,
                        int h, int ch, const face_landmarks_box *box,
                        int batches, int reps)
{
    double t[32];
    float xy[136];

    FACET_ASSERT(batches <= 32);
    for (int b = 0; b < batches; b++) {
        double t0 = facet_now();
        for (int r = 0; r < reps; r++)
            face_landmarks_predict(xy, NULL, lm, img, w, h, w * ch, ch, box);
        t[b] = (facet_now() - t0) / reps;
    }
    sort_doubles(t, batches);
    return t[batches / 2];
}

// Every face of tests/data/dlib/landmarks.txt against our predictor, on
// the photos under the data folder.
static void test_parity(const face_landmarks *lm)
{
    const char *fixtures = "tests/data/dlib/landmarks.txt";
    const char *data = check_data_dir();
    char path[1400], line[512], file[256] = "", src[16];
    FILE *f;
    struct stat st;
    photo img = {0};
    int faces = 0, images = 0, outside = 0, ties = 0, int_mismatch = 0;
    int rgb_grey_differ = 0, have_image = 0;
    double sum_err = 0, max_err = 0;
    long points = 0;
    double times[64];
    // dlib's figure (tools/fixtures/dlib_landmarks.cpp) is the median over
    // faces of each face's median over 15 batches of 20 calls; that
    // protocol runs with FACET_LM_BENCH set, a short one otherwise.
    int bench = getenv("FACET_LM_BENCH") != NULL;
    int batches = bench ? 15 : 3, reps = bench ? 20 : 2;

    if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("parity with dlib skipped: FACET_DATA (%s) not found\n",
               data);
        return;
    }
    f = fopen(fixtures, "r");
    CHECKF(f != NULL, "%s: cannot open (fixtures missing?)", fixtures);
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        face_landmarks_box box;
        long l, t, r, b;
        int w, h;
        unsigned long long hash;
        float xy[136], gxy[136];
        int32_t ixy[136], gixy[136];

        if (line[0] == '#')
            continue;

        // A photo: decode it and check that it is the generator's. Faces
        // of a photo that is missing or differs are skipped (one failure
        // for the photo, and the coverage check below fails too).
        if (sscanf(line, "image %255s %d %d %llx", file, &w, &h, &hash) ==
            4) {
            photo_free(&img);
            snprintf(path, sizeof(path), "%s/%s", data, file);
            if (!photo_load(&img, path)) {
                CHECKF(0, "%s: cannot read (%s)", path,
                       stbi_failure_reason());
            } else if (img.w != w || img.h != h || img.hash != hash) {
                CHECKF(0, "%s: decoded %dx%d, hash %016llx; the fixtures "
                       "saw %dx%d, hash %016llx (another copy of the data "
                       "or another stb_image?)", path, img.w, img.h,
                       (unsigned long long)img.hash, w, h, hash);
                photo_free(&img);
            } else {
                images++;
            }
            have_image = 1;
            continue;
        }
        if (sscanf(line, "face %ld %ld %ld %ld %15s", &l, &t, &r, &b,
                   src) != 5 || !have_image) {
            CHECKF(0, "%s: bad line: %s", fixtures, line);
            break;
        }
        if (!img.rgb) {
            for (int i = 0; i < 68; i++)
                if (!fgets(line, sizeof(line), f))
                    break;
            continue;
        }
        box = (face_landmarks_box){(double)l, (double)t, (double)r,
                                   (double)b};
        outside += l < 0 || t < 0 || r >= img.w || b >= img.h;
        ties += strcmp(src, "tie") == 0;

        // Predict from the RGB image (the pipeline's input) and from its
        // grey reduction (what dlib was given); time the RGB path.
        check_fill_nan(xy, 136);
        check_fill_nan(gxy, 136);
        facet_status s = face_landmarks_predict(xy, ixy, lm, img.rgb, img.w,
                                                img.h, 3 * img.w, 3, &box);
        CHECKF(s == FACET_OK, "%s: %s", file, facet_error());
        s = face_landmarks_predict(gxy, gixy, lm, img.grey, img.w, img.h,
                                   img.w, 1, &box);
        CHECKF(s == FACET_OK, "%s: %s", file, facet_error());
        rgb_grey_differ += memcmp(xy, gxy, sizeof(xy)) != 0 ||
                           memcmp(ixy, gixy, sizeof(ixy)) != 0;
        if (faces < 64)
            times[faces] = time_face(lm, img.rgb, img.w, img.h, 3, &box,
                                     batches, reps);

        // Compare both with dlib's 68 points.
        for (int i = 0; i < 68; i++) {
            double dx, dy;
            long ix, iy;
            if (!fgets(line, sizeof(line), f) ||
                sscanf(line, "%lf %lf %ld %ld", &dx, &dy, &ix, &iy) != 4) {
                CHECKF(0, "%s: short face record", file);
                goto out;
            }
            for (int k = 0; k < 2; k++) {
                const float *p = k ? gxy : xy;
                const int32_t *ip = k ? gixy : ixy;
                double e = hypot(p[2 * i] - dx, p[2 * i + 1] - dy);
                e = isnan(e) ? INFINITY : e;
                sum_err += e;
                max_err = e > max_err ? e : max_err;
                int_mismatch += ip[2 * i] != ix || ip[2 * i + 1] != iy;
                points++;
            }
        }
        faces++;
    }
out:
    fclose(f);
    photo_free(&img);

    // The fixtures hold 8 photos with detector boxes, hand-made boxes
    // (some partly outside the image) and two boxes with a rounding tie;
    // all must have been seen.
    CHECKF(images == 8 && faces >= 40 && outside >= 6 && ties >= 2,
           "%d photos, %d faces, %d partly outside, %d ties", images, faces,
           outside, ties);

    // The predictor reduces RGB to grey by dlib's rule, so both inputs
    // give the same result, bit for bit.
    CHECKF(rgb_grey_differ == 0, "%d faces differ between RGB and grey "
           "input", rgb_grey_differ);

    // Same arithmetic as dlib, so the positions agree to float storage: a
    // coordinate below 256 px stored as float is within half an ulp
    // (7.6e-6 px) of dlib's double, 1.1e-5 px as a distance. 1e-4 px
    // leaves room yet catches one feature pixel read differently: the tie
    // boxes read with an exact box map (not dlib's) move a point by
    // 0.023 px (same integer points) and by 3.7 px.
    double mean_err = points ? sum_err / points : INFINITY;
    CHECKF(mean_err < 0.01, "mean landmark error %.3g px (tol 0.01)",
           mean_err);
    CHECKF(max_err < 1e-4, "max landmark error %.3g px (tol 1e-4)",
           max_err);
    // dlib's integer points: exact.
    CHECKF(int_mismatch == 0, "%d integer points differ from dlib's",
           int_mismatch);
    printf("parity with dlib: %d photos from %s, %d faces, RGB and grey "
           "input, %ld points, mean error %.2e px, max %.2e px, integer "
           "points equal: %s\n", images, data, faces, points, mean_err,
           max_err, int_mismatch ? "no" : "yes");

    // Per-face time on RGB input: median over faces of each face's median
    // per call.
    if (faces > 0) {
        int n = faces < 64 ? faces : 64;
        sort_doubles(times, n);
        printf("landmarks: %.3f ms per face (RGB input; median over %d "
               "faces; min %.3f, max %.3f; %d batches of %d calls each)\n",
               1e3 * times[n / 2], n, 1e3 * times[0], 1e3 * times[n - 1],
               batches, reps);
    }
}

static void test_errors(const face_landmarks *lm)
{
    enum { W = 40, H = 30 };
    static uint8_t img[W * H * 3];
    float xy[136];
    const face_landmarks_box ok_box = {5, 5, 30, 25};
    const face_landmarks_box bad[] = {
        {50, 5, 80, 25},        // right of the image
        {5, -40, 30, -2},       // above it
        {10, 10, 10, 20},       // empty: right == left
        {10, 20, 30, 10},       // empty: bottom < top
        {NAN, 5, 30, 25},       // not finite
        {5, 5, INFINITY, 25},
        {-2e7, 5, 30, 25},      // beyond FACE_LM_MAX_COORD
    };

    memset(img, 128, sizeof(img));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        facet_status s = face_landmarks_predict(xy, NULL, lm, img, W, H, W,
                                                1, &bad[i]);
        CHECKF(s == FACET_E_ARG && strstr(facet_error(), "box") != NULL,
               "bad box %zu: %s (%s)", i, facet_status_str(s),
               facet_error());
    }
    CHECK(face_landmarks_predict(xy, NULL, lm, img, W, H, W, 1, &ok_box) ==
          FACET_OK);
    CHECK(face_landmarks_predict(xy, NULL, lm, img, W, H, W - 1, 1,
                                 &ok_box) == FACET_E_ARG);
    CHECK(face_landmarks_predict(xy, NULL, lm, img, W, H, 3 * W, 2,
                                 &ok_box) == FACET_E_ARG);
    CHECK(face_landmarks_predict(xy, NULL, lm, img, 0, H, W, 1, &ok_box) ==
          FACET_E_ARG);
    CHECK(face_landmarks_predict(xy, NULL, lm, NULL, W, H, W, 1, &ok_box) ==
          FACET_E_ARG);

    // Same input, same output, bit for bit.
    {
        float a[136], b[136];
        CHECK(face_landmarks_predict(a, NULL, lm, img, W, H, W, 1,
                                     &ok_box) == FACET_OK);
        CHECK(face_landmarks_predict(b, NULL, lm, img, W, H, W, 1,
                                     &ok_box) == FACET_OK);
        CHECK(memcmp(a, b, sizeof(a)) == 0);
    }
}

static void test_missing_and_wrong_model(void)
{
    face_landmarks *lm = (face_landmarks *)1;
    char path[300];
    wt_writer *wr;
    int64_t d[2] = {68, 2};
    float z[136] = {0};

    // Missing file: wt_open's not-found status, naming it.
    snprintf(path, sizeof(path), "%s/absent.fct", tmpdir);
    CHECK(face_landmarks_open(&lm, path) == FACET_E_NOT_FOUND && !lm);
    CHECK(strstr(facet_error(), "absent.fct") != NULL);

    // A valid .fct that is not a landmark model: metadata missing.
    snprintf(path, sizeof(path), "%s/other.fct", tmpdir);
    CHECK(wt_writer_create(&wr, path) == FACET_OK);
    wt_writer_meta_str(wr, "name", "other");
    wt_writer_meta_str(wr, "source", "test");
    wt_writer_meta_str(wr, "license", "none");
    wt_writer_tensor(wr, "mean_shape", WT_F32, 2, d, z);
    CHECK(wt_writer_finish(wr) == FACET_OK);
    CHECK(face_landmarks_open(&lm, path) == FACET_E_NOT_FOUND && !lm);
    CHECK(strstr(facet_error(), "num_parts") != NULL);
    unlink(path);
    face_landmarks_free(NULL);
}

int main(void)
{
    char wpath[512];
    wt_file *w = NULL;

    if (check_mkdtemp(tmpdir, sizeof tmpdir, "landmarks") != 0) {
        perror(tmpdir);
        return 1;
    }
    test_primitives();
    test_parse_synthetic();
    test_parse_faults();
    test_synthetic_predict();
    test_missing_and_wrong_model();

    // The real model: needs `make weights`.
    weights_path(wpath, sizeof(wpath));
    if (access(wpath, R_OK) != 0) {
        CHECKF(0, "%s missing: run make weights", wpath);
    } else if (wt_open(&w, wpath, 0) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
    } else {
        face_landmarks *lm = NULL;
        test_model_shapes(w);
        CHECKF(face_landmarks_create(&lm, w) == FACET_OK, "%s",
               facet_error());
        if (lm) {
            test_parity(lm);
            test_errors(lm);
        }
        face_landmarks_free(lm);
        wt_close(w);
    }
    rmdir(tmpdir);
    return check_report();
}

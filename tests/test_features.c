// test_features.c - face/features.c (backbone and hair feature maps) and
// face/cache.c (the on-disk result cache).
//
// - Cache: FNV-1a 128 against the published test vectors; the key changes
//   with every bit of the file bytes and with the salt, the framing keeps
//   (bytes, salt) splits apart, and the streamed file key equals the
//   in-memory one across read chunks. Entries: round trips (0 bytes to
//   3 MB), misses, and every kind of damage rejected with its own status
//   (truncated header and payload, trailing bytes, flipped payload and
//   header bytes, another key's entry under this name, another version,
//   another size); a put replaces a damaged entry, creates its folder, and
//   leaves no temporary file behind.
// - faceres backbone: the input planes are B, G, R minus the means (and
//   equal nn_faceres_input_rgb8's), the maps equal nn_faceres run
//   directly on the same inputs bit for bit, with crops split into
//   batches and row strides wider than the image, and do not change with
//   the thread count; bad crops and layer names are refused.
// - VGG-Face backbone: tests/data/vggface/vgg_narrow_v1.caffemodel
//   converted here with convert_caffe's code (included below, its main
//   left out) into a temporary vggface.fct, which AUTO then prefers. The
//   narrow file is accepted (zero-padded to the official widths inside)
//   and reports its own conv5_3 shape, 20 x 14 x 14. Its maps equal a
//   double-precision reference (nn_conv2d__ref, nn_maxpool2d__ref) on the
//   file's own narrow tensors fed B, G, R minus the average face; feeding
//   the reference R, G, B instead misses by far. With $FACET_DATA, the
//   face of meta.txt's photo line also matches PyTorch's relu5_3
//   (tests/data/vggface/face224.relu5_3.f32). Thread counts, including a
//   run with more threads than at open (the network is rebuilt), give
//   identical bits. An installed weights/vggface.fct (optional) must have
//   the official 512 x 14 x 14 map.
// - Hair network: p(hair) and f^H equal nn_hair run directly, bit for bit,
//   for 1 and 2 threads; the default layer's shape.
// - Missing weight files: FACET_E_NOT_FOUND saying "run make weights".
//
// The ISA paths of the networks are covered by test_faceres, test_vgg16
// and test_hair; the code under test here has no ISA-specific part and
// runs on the active one.
//
// Needs faceres.fct and hair_segmentation.fct (`make weights`) in
// $FACET_WEIGHTS (default weights/); without them their checks fail,
// saying to run make weights.
//
// This file holds the stb_image implementation (STB_IMAGE_IMPLEMENTATION).
//
// Limitations:
// - The real VGG-Face file is not available here: only its shapes are
//   checked, and only when it is installed.
#define CONVERT_CAFFE_NO_MAIN
#include "../tools/convert/protobuf.c"
#include "../tools/convert/convert_caffe.c"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "../face/cache.h"
#include "../face/features.h"
#include "../nn/net_faceres.h"
#include "../nn/net_hair.h"
#include "../weights/weights.h"

#include "stb_impl.h"

#define FIXTURES "tests/data/vggface/"
#define SZ FACE_BACKBONE_SIZE
#define HS FACE_HEAD_SIZE

// Parity of the VGG-Face backbone with the double reference and with
// PyTorch: max |got - ref| <= VGG_TOL * max |ref|. facet's Winograd
// F(4x4, 3x3) rounds a few 1e-6 relative per layer over 13 layers;
// test_caffe measures up to 3e-6 for relu5_3 against PyTorch; 5e-5 keeps
// a wide margin while a channel swap misses by more than SWAP_MIN.
#define VGG_TOL 5e-5
#define SWAP_MIN 0.05

// The average face of the narrow model, B, G, R (convert_caffe writes
// VGG-Face's; meta.txt, "preprocess").
static const float vgg_mean[3] = {93.593963623046875f, 104.76238250732422f,
                                  129.186279296875f};

static char tmpdir[256];

// ---------------------------------------------------------------------------
// Helpers

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

// Remove a folder and the plain files in it.
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];

    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        path_in(p, sizeof p, dir, e->d_name);
        remove(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

// Files in `dir` whose names contain `part`.
static int count_files(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' && strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

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

static int write_all(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;

    if (f)
        ok &= fclose(f) == 0;
    return ok;
}

// A synthetic RGB image: smooth waves, a different phase per channel, and
// a little seeded noise; rows `stride` bytes apart (the padding is junk).
static face_image make_image(int size, size_t stride, uint64_t seed)
{
    face_image im = {size, size, stride, malloc(stride * size)};
    facet_rng r;

    FACET_ASSERT(im.px);
    facet_rng_seed(&r, seed);
    check_fill_junk(im.px, stride * size);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++) {
                double v = 128 + 90 * sin(0.05 * x * (c + 1) + 0.07 * y +
                                          1.3 * c + (double)(seed % 7)) +
                           20 * (facet_rng_float(&r) - 0.5);
                im.px[(size_t)y * stride + 3 * (size_t)x + c] =
                    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return im;
}

static float *nan_floats(size_t n)
{
    float *p = malloc(n * sizeof(float));

    FACET_ASSERT(p);
    check_fill_nan(p, n);
    return p;
}

// max |got - want| / max |want|; infinity if `got` holds a NaN.
static double rel_err(const float *got, const float *want, size_t n)
{
    double err = 0, scale = 0;

    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]))
            return INFINITY;
        err = fmax(err, fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs((double)want[i]));
    }
    return scale > 0 ? err / scale : err;
}

// ---------------------------------------------------------------------------
// The cache: keys

static int hash_is(const face_cache_hash *h, const char *hex)
{
    char got[33];

    face_cache_hex(got, h);
    return !strcmp(got, hex);
}

static void test_fnv(void)
{
    // Published FNV-1a 128 vectors (draft-eastlake-fnv's test suite).
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "6c62272e07bb014262b821756295c58d"},
        {"a", "d228cb696f1a8caf78912b704e4a8964"},
        {"foobar", "343e1662793c64bf6f0d3597ba446f18"},
        {"chongo was here!\n", "d09f538fec03781a034e1e32bab19a75"},
    };

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        face_cache_hash h;

        face_fnv1a128(&h, v[i].in, strlen(v[i].in));
        CHECKF(hash_is(&h, v[i].hex), "FNV-1a 128 of \"%s\"", v[i].in);
    }
}

static void test_keys(void)
{
    uint8_t bytes[64];
    face_cache_hash base, h, h2, *seen;
    uint8_t *big;
    char path[1024];
    size_t nbig = (1u << 20) + 12345, ns = 0, dup = 0;
    facet_rng r;

    facet_rng_seed(&r, 11);
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)facet_rng_u64(&r);
    face_cache_key(&base, bytes, sizeof bytes, "pipeline v1|model a");

    // Every bit of the bytes, the salt, and the lengths change the key.
    seen = malloc((8 * sizeof bytes + 8) * sizeof *seen);
    FACET_ASSERT(seen);
    seen[ns++] = base;
    for (size_t i = 0; i < 8 * sizeof bytes; i++) {
        bytes[i / 8] ^= (uint8_t)(1u << (i % 8));
        face_cache_key(&seen[ns++], bytes, sizeof bytes,
                       "pipeline v1|model a");
        bytes[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    face_cache_key(&seen[ns++], bytes, sizeof bytes, "pipeline v1|model b");
    face_cache_key(&seen[ns++], bytes, sizeof bytes, "pipeline v1|model a ");
    face_cache_key(&seen[ns++], bytes, sizeof bytes, "");
    face_cache_key(&seen[ns++], bytes, sizeof bytes - 1,
                   "pipeline v1|model a");
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i + 1; j < ns; j++)
            dup += !memcmp(&seen[i], &seen[j], sizeof base);
    CHECKF(dup == 0, "%zu of %zu keys collide", dup, ns);
    free(seen);

    // The same inputs give the same key; NULL salt is "".
    face_cache_key(&h, bytes, sizeof bytes, "pipeline v1|model a");
    CHECK(!memcmp(&h, &base, sizeof h));
    face_cache_key(&h, bytes, sizeof bytes, NULL);
    face_cache_key(&h2, bytes, sizeof bytes, "");
    CHECK(!memcmp(&h, &h2, sizeof h));

    // Where the bytes end and the salt begins matters.
    face_cache_key(&h, "ab", 2, "c");
    face_cache_key(&h2, "a", 1, "bc");
    CHECK(memcmp(&h, &h2, sizeof h) != 0);
    face_cache_key(&h, "", 0, "x");
    face_cache_key(&h2, "x", 1, "");
    CHECK(memcmp(&h, &h2, sizeof h) != 0);

    // The streamed file key equals the in-memory key, across chunks.
    big = malloc(nbig);
    FACET_ASSERT(big);
    for (size_t i = 0; i < nbig; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 9));
    path_in(path, sizeof path, tmpdir, "photo.bin");
    CHECK(write_all(path, big, nbig));
    face_cache_key(&h, big, nbig, "salt");
    CHECK(face_cache_key_file(&h2, path, "salt") == FACET_OK &&
          !memcmp(&h, &h2, sizeof h));
    remove(path);
    free(big);
    path_in(path, sizeof path, tmpdir, "no-such-photo.jpg");
    CHECK(face_cache_key_file(&h2, path, "salt") == FACET_E_IO &&
          strstr(facet_error(), "no-such-photo.jpg"));
}

// ---------------------------------------------------------------------------
// The cache: entries

// Rewrite an entry file with `edit` applied, then cut to `keep` bytes
// (KEEP_ALL: all of them; KEEP_MORE: one zero byte appended).
typedef void (*edit_fn)(uint8_t *bytes, size_t n);
#define KEEP_ALL (-1L)
#define KEEP_MORE (-2L)

static void edit_entry(const char *path, edit_fn edit, long keep)
{
    size_t n;
    uint8_t *b = read_all(path, &n);

    FACET_ASSERT(b);
    if (edit)
        edit(b, n);
    if (keep == KEEP_MORE) {
        b = realloc(b, n + 1);
        FACET_ASSERT(b);
        b[n++] = 0;
    } else if (keep >= 0 && (size_t)keep < n) {
        n = (size_t)keep;
    }
    CHECK(write_all(path, b, n));
    free(b);
}

static void flip_payload(uint8_t *b, size_t n)
{
    b[n - 1] ^= 0x10;
}

static void flip_header(uint8_t *b, size_t n)
{
    b[50] ^= 0x01;   // payload size
}

static void bad_magic(uint8_t *b, size_t n)
{
    b[0] = 'X';
}

// Version 2 with a valid header CRC: a well-formed entry of another
// version.
static void bump_version(uint8_t *b, size_t n)
{
    uint32_t crc;

    b[8] = 2;
    crc = (uint32_t)crc32(0, b, 60);
    for (int i = 0; i < 4; i++)
        b[60 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_entries(void)
{
    char dir[512], path[1024], other[1024], file[1024];
    const size_t sizes[] = {0, 1, 4000, (3u << 20) + 5};
    face_cache_hash key, key2;
    uint8_t *data, *back;
    size_t big = sizes[3];
    facet_status s;

    path_in(dir, sizeof dir, tmpdir, "cache");
    data = malloc(big);
    back = malloc(big + 1);
    FACET_ASSERT(data && back);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 13 + 5);
    face_cache_key(&key, "photo", 5, "salt");
    face_cache_key(&key2, "photo", 5, "salt2");

    // A miss before anything is stored (the folder does not exist yet).
    CHECK(face_cache_get(dir, &key, "f", 10, back) == FACET_E_NOT_FOUND);

    // Round trips of every size; put creates the folder.
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(back, 0xA5, big + 1);
        CHECKF(face_cache_put(dir, &key, "f", data, sizes[i]) == FACET_OK,
               "put %zu bytes: %s", sizes[i], facet_error());
        s = face_cache_get(dir, &key, "f", sizes[i], back);
        CHECKF(s == FACET_OK && !memcmp(back, data, sizes[i]) &&
               back[sizes[i]] == 0xA5, "round trip of %zu bytes: %s",
               sizes[i], facet_error());
    }
    CHECK(count_files(dir, ".tmp-") == 0 && count_files(dir, ".f") == 1);

    // Another kind or key is a miss; another size is FACET_E_FORMAT.
    CHECK(face_cache_put(dir, &key, "lm68", data, 4000) == FACET_OK);
    CHECK(face_cache_get(dir, &key, "fh", 4000, back) == FACET_E_NOT_FOUND);
    CHECK(face_cache_get(dir, &key2, "lm68", 4000, back) ==
          FACET_E_NOT_FOUND);
    CHECK(face_cache_get(dir, &key, "lm68", 3999, back) == FACET_E_FORMAT &&
          strstr(facet_error(), "4000"));
    CHECK(face_cache_get(dir, &key, "lm68", 4000, back) == FACET_OK &&
          !memcmp(back, data, 4000));

    // Kind tags: [a-z0-9_], 1..15 characters.
    CHECK(face_cache_put(dir, &key, "", data, 1) == FACET_E_ARG);
    CHECK(face_cache_put(dir, &key, "../x", data, 1) == FACET_E_ARG);
    CHECK(face_cache_put(dir, &key, "F", data, 1) == FACET_E_ARG);
    CHECK(face_cache_put(dir, &key, "abcdefghijklmnop", data, 1) ==
          FACET_E_ARG);
    CHECK(face_cache_get(dir, &key, "a.b", 1, back) == FACET_E_ARG);

    // Damage, each kind with its status and the file named.
    CHECK(face_cache_path(path, sizeof path, dir, &key, "lm68") ==
          FACET_OK);
    {
        static const struct {
            edit_fn edit;
            long keep;
            facet_status want;
            const char *says;
        } cases[] = {
            {flip_payload, KEEP_ALL, FACET_E_CORRUPT, "payload checksum"},
            {flip_header, KEEP_ALL, FACET_E_CORRUPT, "header checksum"},
            {bad_magic, KEEP_ALL, FACET_E_CORRUPT, "magic"},
            {bump_version, KEEP_ALL, FACET_E_VERSION, "version 2"},
            {NULL, 30, FACET_E_CORRUPT, "truncated header"},
            {NULL, 0, FACET_E_CORRUPT, "truncated header"},
            {NULL, 64 + 3999, FACET_E_CORRUPT, "truncated payload"},
            {NULL, KEEP_MORE, FACET_E_CORRUPT, "after the payload"},
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            CHECK(face_cache_put(dir, &key, "lm68", data, 4000) ==
                  FACET_OK);
            edit_entry(path, cases[i].edit, cases[i].keep);
            s = face_cache_get(dir, &key, "lm68", 4000, back);
            CHECKF(s == cases[i].want && strstr(facet_error(),
                                                cases[i].says) &&
                   strstr(facet_error(), path),
                   "damage case %zu: %s: %s", i, facet_status_str(s),
                   facet_error());
        }
    }

    // Another key's entry under this key's name.
    CHECK(face_cache_put(dir, &key2, "lm68", data, 4000) == FACET_OK);
    CHECK(face_cache_path(other, sizeof other, dir, &key2, "lm68") ==
          FACET_OK);
    CHECK(rename(other, path) == 0);
    CHECK(face_cache_get(dir, &key, "lm68", 4000, back) == FACET_E_CORRUPT &&
          strstr(facet_error(), "another entry"));

    // A put replaces a damaged entry; no temporary file is left.
    CHECK(face_cache_put(dir, &key, "lm68", data + 1, 4000) == FACET_OK);
    CHECK(face_cache_get(dir, &key, "lm68", 4000, back) == FACET_OK &&
          !memcmp(back, data + 1, 4000));
    CHECK(count_files(dir, ".tmp-") == 0);

    // Puts that cannot work fail cleanly: a missing parent folder, a
    // "folder" that is a file.
    path_in(other, sizeof other, tmpdir, "no/such/cache");
    CHECK(face_cache_put(other, &key, "f", data, 10) == FACET_E_IO &&
          strstr(facet_error(), other));
    path_in(file, sizeof file, tmpdir, "plainfile");
    CHECK(write_all(file, "x", 1));
    CHECK(face_cache_put(file, &key, "f", data, 10) == FACET_E_IO);
    CHECK(face_cache_get(file, &key, "f", 10, back) != FACET_OK);
    remove(file);

    remove_tree(dir);
    free(data);
    free(back);
}

// ---------------------------------------------------------------------------
// Missing weights

static void test_missing_weights(void)
{
    const char *none = "/nonexistent-facet-weights";
    face_backbone *b = (face_backbone *)&b;
    face_hairnet *h = (face_hairnet *)&h;

    CHECK(face_backbone_open(&b, none, FACE_BACKBONE_AUTO, 1) ==
              FACET_E_NOT_FOUND && !b &&
          strstr(facet_error(), "faceres.fct") &&
          strstr(facet_error(), "run make weights"));
    CHECK(face_backbone_open(&b, none, FACE_BACKBONE_FACERES, 1) ==
              FACET_E_NOT_FOUND && strstr(facet_error(), "make weights"));
    CHECK(face_backbone_open(&b, none, FACE_BACKBONE_VGGFACE, 1) ==
              FACET_E_NOT_FOUND && strstr(facet_error(), "vggface.fct") &&
          strstr(facet_error(), "make weights VGGFACE="));
    CHECK(face_hairnet_open(&h, none, NULL, 1) == FACET_E_NOT_FOUND && !h &&
          strstr(facet_error(), "hair_segmentation.fct") &&
          strstr(facet_error(), "run make weights"));
    CHECK(face_backbone_open(&b, none, FACE_BACKBONE_AUTO, 0) ==
          FACET_E_ARG);
    CHECK(face_backbone_open(&b, none, (face_backbone_kind)7, 1) ==
          FACET_E_ARG);
    face_backbone_close(NULL);
    face_hairnet_close(NULL);
}

// The padding cells: faceres's last column takes the column before it,
// then the last row the row above (the corner the diagonal cell), and
// nothing else moves; VGG-Face's map is left alone.
static void test_fill_padding(void)
{
    enum { Z = 2, H = 3, W = 4 };
    float f[Z * H * W], g[Z * H * W];
    int bad = 0;

    for (int i = 0; i < Z * H * W; i++)
        f[i] = g[i] = (float)(i + 1);
    CHECK(face_backbone_fill_padding(FACE_BACKBONE_FACERES, f, Z, H, W) ==
          FACET_OK);
    for (int z = 0; z < Z; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sy = y < H - 1 ? y : H - 2, sx = x < W - 1 ? x : W - 2;

                bad += f[(z * H + y) * W + x] != g[(z * H + sy) * W + sx];
            }
    CHECKF(bad == 0, "%d cells wrong after filling", bad);
    CHECK(face_backbone_fill_padding(FACE_BACKBONE_VGGFACE, g, Z, H, W) ==
              FACET_OK &&
          g[Z * H * W - 1] == (float)(Z * H * W));
    CHECK(face_backbone_fill_padding(FACE_BACKBONE_AUTO, g, Z, H, W) ==
          FACET_E_ARG);
    CHECK(face_backbone_fill_padding(FACE_BACKBONE_FACERES, NULL, Z, H,
                                     W) == FACET_E_ARG);
    CHECK(face_backbone_fill_padding(FACE_BACKBONE_FACERES, g, Z, 1, W) ==
          FACET_E_ARG);
}

// ---------------------------------------------------------------------------
// faceres

#define NCROP 3

static void test_faceres(const char *wdir)
{
    const size_t plane = (size_t)SZ * SZ;
    face_image crops[NCROP];
    face_backbone *b = NULL;
    nn_faceres *ref = NULL;
    wt_file *wf = NULL;
    const char *keep = FACE_FACERES_LAYER;
    char path[1024], want_id[256];
    float *in, *in2, *out, *out2, *desc, *desc2;
    size_t dim;
    int z, h, w, bad = 0;

    path_in(path, sizeof path, wdir, FACE_FACERES_FILE);
    if (access(path, F_OK) != 0) {
        CHECKF(0, "%s missing: run make weights", path);
        return;
    }
    CHECKF(face_backbone_open(&b, wdir, FACE_BACKBONE_FACERES, 2) ==
           FACET_OK, "%s", facet_error());
    if (!b)
        return;

    // Shape and identity.
    face_backbone_shape(b, &z, &h, &w);
    dim = face_backbone_dim(b);
    CHECK(z == 512 && h == 14 && w == 14 && dim == 512 * 196);
    CHECK(face_backbone_which(b) == FACE_BACKBONE_FACERES);
    CHECK(!strcmp(face_backbone_layer(b), "conv_pw_11_relu"));
    CHECK(wt_open(&wf, path, 0) == FACET_OK);
    snprintf(want_id, sizeof want_id, "faceres.fct@%08x:conv_pw_11_relu",
             (unsigned)wt_file_info(wf)->index_crc);
    CHECKF(!strcmp(face_backbone_model_id(b), want_id), "model id %s",
           face_backbone_model_id(b));

    // Input: B, G, R planes minus the means, as nn_faceres_input_rgb8.
    for (int i = 0; i < NCROP; i++)
        crops[i] = make_image(SZ, 3 * SZ + 5 * i, 100 + (uint64_t)i);
    in = nan_floats(3 * plane);
    in2 = nan_floats(3 * plane);
    CHECK(face_backbone_input(b, in, &crops[1]) == FACET_OK);
    for (int y = 0; y < SZ; y++)
        for (int x = 0; x < SZ; x++) {
            const uint8_t *p = crops[1].px + (size_t)y * crops[1].stride +
                               3 * (size_t)x;
            size_t k = (size_t)y * SZ + x;

            bad += in[k] != (float)p[2] - 103.939f ||
                   in[plane + k] != (float)p[1] - 116.779f ||
                   in[2 * plane + k] != (float)p[0] - 123.68f;
        }
    CHECKF(bad == 0, "%d input pixels are not B, G, R minus the means", bad);
    nn_faceres_input_rgb8(in2, crops[1].px, crops[1].stride);
    CHECK(!memcmp(in, in2, 3 * plane * sizeof(float)));

    // Maps: 3 crops in batches of 2 equal nn_faceres, image by image.
    out = nan_floats(NCROP * dim);
    CHECKF(face_backbone_run(b, crops, NCROP, out) == FACET_OK, "%s",
           facet_error());
    CHECK(nn_faceres_create(&ref, wf, 1, &keep, 1) == FACET_OK);
    for (int i = 0; ref && i < NCROP; i++) {
        nn_tensor x = nn_tensor_4d(in2, 1, 3, SZ, SZ);
        const nn_tensor *t;

        nn_faceres_input_rgb8(in2, crops[i].px, crops[i].stride);
        CHECK(nn_faceres_forward(ref, &x) == FACET_OK);
        t = nn_faceres_feature(ref, keep);
        CHECKF(t && nn_tensor_count(t) == dim &&
               !memcmp(t->data, out + i * dim, dim * sizeof(float)),
               "crop %d: backbone map differs from nn_faceres", i);
    }

    // Thread counts (the last crop alone, 1 then 2 threads): the bits of
    // the batched run.
    out2 = nan_floats(NCROP * dim);
    facet_set_threads(1);
    CHECK(face_backbone_run(b, crops + 2, 1, out2) == FACET_OK);
    CHECK(!memcmp(out + 2 * dim, out2, dim * sizeof(float)));
    facet_set_threads(2);
    check_fill_nan(out2, dim);
    CHECK(face_backbone_run(b, crops + 2, 1, out2) == FACET_OK);
    CHECK(!memcmp(out + 2 * dim, out2, dim * sizeof(float)));

    // Refused: wrong sizes, NULL; n = 0 does nothing.
    crops[2].w = SZ - 1;
    CHECK(face_backbone_run(b, crops, NCROP, out2) == FACET_E_ARG &&
          strstr(facet_error(), "crop 2"));
    crops[2].w = SZ;
    crops[0].stride = 3 * SZ - 1;
    CHECK(face_backbone_run(b, crops, 1, out2) == FACET_E_ARG);
    crops[0].stride = 3 * SZ;
    CHECK(face_backbone_run(b, NULL, 1, out2) == FACET_E_ARG);
    CHECK(face_backbone_run(b, crops, -1, out2) == FACET_E_ARG);
    CHECK(face_backbone_run(b, NULL, 0, NULL) == FACET_OK);

    // The identity descriptor from the same pass: the maps unchanged
    // (bits), the descriptor global_pooling's (below); alone, the same
    // bits; nothing to write is refused.
    CHECK(face_backbone_desc_dim(b) == NN_FACERES_DESCRIPTOR);
    check_fill_nan(out2, NCROP * dim);
    desc = nan_floats(NCROP * NN_FACERES_DESCRIPTOR);
    desc2 = nan_floats(NCROP * NN_FACERES_DESCRIPTOR);
    CHECKF(face_backbone_run_desc(b, crops, NCROP, out2, desc) == FACET_OK,
           "%s", facet_error());
    CHECK(!memcmp(out, out2, NCROP * dim * sizeof(float)));
    CHECK(face_backbone_run_desc(b, crops, NCROP, NULL, desc2) == FACET_OK);
    CHECK(!memcmp(desc, desc2,
                  NCROP * NN_FACERES_DESCRIPTOR * sizeof(float)));
    CHECK(face_backbone_run_desc(b, crops, 1, NULL, NULL) == FACET_E_ARG);
    CHECK(face_backbone_run_desc(b, crops, 0, NULL, NULL) == FACET_OK);
    face_backbone_close(b);

    // Other layers by name; unknown names are refused. global_pooling as
    // the layer gives the descriptor's bits.
    CHECK(face_backbone_open_layer(&b, wdir, FACE_BACKBONE_FACERES,
                                   "global_pooling", 1) == FACET_OK);
    if (b) {
        face_backbone_shape(b, &z, &h, &w);
        CHECK(z == 1024 && h == 1 && w == 1);
        check_fill_nan(desc2, NCROP * NN_FACERES_DESCRIPTOR);
        CHECK(face_backbone_run(b, crops, NCROP, desc2) == FACET_OK);
        CHECKF(!memcmp(desc, desc2,
                       NCROP * NN_FACERES_DESCRIPTOR * sizeof(float)),
               "descriptor differs from the global_pooling layer");
        face_backbone_close(b);
    }
    CHECK(face_backbone_open_layer(&b, wdir, FACE_BACKBONE_FACERES,
                                   "conv_pw_99", 1) == FACET_E_NOT_FOUND &&
          strstr(facet_error(), "conv_pw_99"));

    // AUTO picks faceres unless VGG-Face is installed.
    path_in(path, sizeof path, wdir, FACE_VGGFACE_FILE);
    if (access(path, F_OK) != 0 &&
        face_backbone_open(&b, wdir, FACE_BACKBONE_AUTO, 1) == FACET_OK) {
        CHECK(face_backbone_which(b) == FACE_BACKBONE_FACERES);
        face_backbone_close(b);
    }

    for (int i = 0; i < NCROP; i++)
        free(crops[i].px);
    nn_faceres_free(ref);
    wt_close(wf);
    free(in);
    free(in2);
    free(out);
    free(out2);
    free(desc);
    free(desc2);
}

// ---------------------------------------------------------------------------
// VGG-Face (narrow synthetic model)

// The narrow network from the file's own tensors, in double (conv) and
// exact (pool) references: relu5_3 of `input` (3 x 224 x 224), c5 x 14 x 14
// into out. Returns c5, or 0 if a tensor is missing.
static int vgg_reference(float *out, const wt_file *wf, const float *input)
{
    static const char *const names[13] = {
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
        "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
        "conv5_3"};
    static const int pool_after[13] = {0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
                                       0};
    const size_t cap = (size_t)64 * SZ * SZ;
    float *a = malloc(cap * sizeof(float)), *t = malloc(cap * sizeof(float));
    nn_tensor x = nn_tensor_4d(a, 1, 3, SZ, SZ);
    int c = 3, hw = SZ;

    FACET_ASSERT(a && t);
    memcpy(a, input, 3 * (size_t)SZ * SZ * sizeof(float));
    for (int i = 0; i < 13; i++) {
        char wn[32], bn[32];
        const wt_tensor_info *wi, *bi;
        nn_conv_desc d = {0};
        nn_tensor y;

        snprintf(wn, sizeof wn, "%s.weight", names[i]);
        snprintf(bn, sizeof bn, "%s.bias", names[i]);
        wi = wt_tensor_find(wf, wn);
        bi = wt_tensor_find(wf, bn);
        if (!wi || !bi || wi->dims[1] != c) {
            free(a);
            free(t);
            return 0;
        }
        d.cin = c;
        d.cout = (int)wi->dims[0];
        d.kh = d.kw = 3;
        d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1;
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        d.groups = 1;
        d.act = LA_ACT_RELU;
        FACET_ASSERT((size_t)d.cout * hw * hw <= cap);
        y = nn_tensor_4d(t, 1, d.cout, hw, hw);
        nn_conv2d__ref(&y, &x, &d, wi->data, bi->data, NULL);
        c = d.cout;
        if (pool_after[i]) {
            const nn_pool_desc p = {.kh = 2, .kw = 2, .stride_h = 2,
                                    .stride_w = 2};
            hw /= 2;
            x = nn_tensor_4d(a, 1, c, hw, hw);
            nn_maxpool2d__ref(&x, NULL, &y, &p);
        } else {
            memcpy(a, t, (size_t)c * hw * hw * sizeof(float));
            x = nn_tensor_4d(a, 1, c, hw, hw);
        }
    }
    memcpy(out, a, (size_t)c * hw * hw * sizeof(float));
    free(a);
    free(t);
    return c;
}

// planes B, G, R (or R, G, B when `misread`) minus the average face.
static void vgg_planes(float *dst, const face_image *im, int misread)
{
    const size_t plane = (size_t)SZ * SZ;

    for (int c = 0; c < 3; c++)
        for (int y = 0; y < SZ; y++)
            for (int x = 0; x < SZ; x++) {
                int src = misread ? c : 2 - c;
                dst[c * plane + (size_t)y * SZ + x] =
                    (float)im->px[(size_t)y * im->stride + 3 * (size_t)x +
                                  src] - vgg_mean[c];
            }
}

// FNV-1a 64 of decoded pixels (meta.txt's photo line hashes them so).
static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

// The 224x224 face of meta.txt's photo line (each pixel of the 112x112
// PNG doubled), or px NULL with a "skipped:" line when FACET_DATA lacks
// it.
static face_image load_face224(void)
{
    face_image im = {SZ, SZ, 3 * SZ, NULL};
    char line[1024], key[64], file[512], path[1024];
    unsigned long long want = 0;
    int found = 0, sw = 0, sh = 0, k = 0, pw, ph, comp;
    FILE *f = fopen(FIXTURES "meta.txt", "r");
    uint8_t *px;

    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "photo %63s %511s size %d %d double %d "
                       "fnv1a64 %llx", key, file, &sw, &sh, &k, &want) == 6 &&
                !strcmp(key, "face224");
    if (f)
        fclose(f);
    CHECKF(found && sw * k == SZ && sh * k == SZ, FIXTURES "meta.txt: no "
           "photo line for face224");
    if (!found || sw * k != SZ || sh * k != SZ)
        return im;
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), file);
    if (access(path, R_OK) != 0) {
        printf("skipped: FACET_DATA (%s) has no %s: VGG-Face parity with "
               "PyTorch not checked\n", check_data_dir(), file);
        return im;
    }
    px = stbi_load(path, &pw, &ph, &comp, 3);
    CHECKF(px && pw == sw && ph == sh &&
           fnv1a64(px, (size_t)sw * sh * 3) == want,
           "%s: not the generator's pixels", path);
    if (px && pw == sw && ph == sh) {
        im.px = malloc((size_t)SZ * SZ * 3);
        FACET_ASSERT(im.px);
        for (int y = 0; y < SZ; y++)
            for (int x = 0; x < SZ; x++)
                memcpy(im.px + ((size_t)y * SZ + x) * 3,
                       px + ((size_t)(y / k) * sw + x / k) * 3, 3);
    }
    stbi_image_free(px);
    return im;
}

// A weight file with conv1_1 only: not a whole VGG-Face.
static void write_partial_vgg(const char *path)
{
    static float w[4 * 3 * 9], b[4];
    const int64_t wd[4] = {4, 3, 3, 3}, bd = 4;
    const int64_t shape[3] = {3, 224, 224};
    wt_writer *wr;

    CHECK(wt_writer_create(&wr, path) == FACET_OK);
    wt_writer_meta_str(wr, "name", "partial");
    wt_writer_meta_str(wr, "source", "test_features");
    wt_writer_meta_str(wr, "license", "none");
    wt_writer_meta_str(wr, "channel_order", "BGR");
    wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
    wt_writer_meta(wr, "mean", WT_FLOAT32, 3, vgg_mean);
    wt_writer_tensor(wr, "conv1_1.weight", WT_F32, 4, wd, w);
    wt_writer_tensor(wr, "conv1_1.bias", WT_F32, 1, &bd, b);
    CHECKF(wt_writer_finish(wr) == FACET_OK, "%s", facet_error());
}

static void test_vggface(void)
{
    const size_t plane = (size_t)SZ * SZ, dim = 20 * 196;
    char dir[512], fct[1024], want_id[256];
    caffe_opts o = {0, 1};
    face_image crops[2], face;
    face_backbone *b = NULL;
    wt_file *wf = NULL;
    float *in, *out, *out2, *ref, *mis, vdesc[2 * 20];
    int z, h, w, bad = 0;
    facet_status s;

    // The narrow model as vggface.fct in a folder of its own.
    path_in(dir, sizeof dir, tmpdir, "vgg");
    CHECK(mkdir(dir, 0755) == 0);
    path_in(fct, sizeof fct, dir, FACE_VGGFACE_FILE);
    s = caffe_convert_file(FIXTURES "vgg_narrow_v1.caffemodel", fct, &o);
    CHECKF(s == FACET_OK, "convert: %s", facet_error());
    if (s != FACET_OK || wt_open(&wf, fct, 0) != FACET_OK)
        return;

    // AUTO prefers it; its own conv5_3 width; the id names it.
    facet_set_threads(2);
    CHECKF(face_backbone_open(&b, dir, FACE_BACKBONE_AUTO, 2) == FACET_OK,
           "%s", facet_error());
    if (!b) {
        wt_close(wf);
        return;
    }
    CHECK(face_backbone_which(b) == FACE_BACKBONE_VGGFACE);
    face_backbone_shape(b, &z, &h, &w);
    CHECK(z == 20 && h == 14 && w == 14 && face_backbone_dim(b) == dim);
    snprintf(want_id, sizeof want_id, "vggface.fct@%08x:conv5_3",
             (unsigned)wt_file_info(wf)->index_crc);
    CHECKF(!strcmp(face_backbone_model_id(b), want_id), "model id %s",
           face_backbone_model_id(b));

    // Input: B, G, R minus the file's average face.
    crops[0] = make_image(SZ, 3 * SZ, 7);
    crops[1] = make_image(SZ, 3 * SZ + 9, 8);
    in = nan_floats(3 * plane);
    ref = nan_floats(3 * plane);
    CHECK(face_backbone_input(b, in, &crops[0]) == FACET_OK);
    vgg_planes(ref, &crops[0], 0);
    CHECK(!memcmp(in, ref, 3 * plane * sizeof(float)));
    for (size_t k = 0; k < plane; k++)
        bad += in[k] != (float)crops[0].px[3 * k + 2] - 93.593963623046875f;
    CHECKF(bad == 0, "plane 0 is not blue minus its mean (%d pixels)", bad);

    // Maps against the narrow double reference; R, G, B misses.
    out = nan_floats(2 * dim);
    CHECKF(face_backbone_run(b, crops, 2, out) == FACET_OK, "%s",
           facet_error());
    free(ref);
    ref = nan_floats(dim);
    mis = nan_floats(dim);
    for (int i = 0; i < 2; i++) {
        double e;

        vgg_planes(in, &crops[i], 0);
        CHECK(vgg_reference(ref, wf, in) == 20);
        e = rel_err(out + i * dim, ref, dim);
        CHECKF(e <= VGG_TOL, "crop %d: relu5_3 error %.3g of max (tol "
               "%.1e)", i, e, VGG_TOL);
        if (i == 0) {
            vgg_planes(in, &crops[i], 1);
            CHECK(vgg_reference(mis, wf, in) == 20);
            e = rel_err(mis, ref, dim);
            CHECKF(e >= SWAP_MIN, "R, G, B input misses by only %.3g", e);
        }
    }

    // Thread counts, and a network built for fewer threads than a run
    // uses (rebuilt): identical bits.
    out2 = nan_floats(2 * dim);
    facet_set_threads(1);
    CHECK(face_backbone_run(b, crops, 2, out2) == FACET_OK);
    CHECK(!memcmp(out, out2, 2 * dim * sizeof(float)));
    face_backbone_close(b);
    CHECK(face_backbone_open(&b, dir, FACE_BACKBONE_VGGFACE, 1) == FACET_OK);
    facet_set_threads(2);
    check_fill_nan(out2, dim);
    CHECKF(b && face_backbone_run(b, crops + 1, 1, out2) == FACET_OK, "%s",
           facet_error());
    CHECK(!memcmp(out + dim, out2, dim * sizeof(float)));

    // The identity descriptor: conv5_3 of the same pass averaged over its
    // plane (double sum in pixel order, / 196, to float): the same bits.
    CHECK(b && face_backbone_desc_dim(b) == 20);
    check_fill_nan(out2, 2 * dim);
    CHECKF(b && face_backbone_run_desc(b, crops, 2, out2, vdesc) ==
                    FACET_OK, "%s", facet_error());
    CHECK(!memcmp(out, out2, 2 * dim * sizeof(float)));
    bad = 0;
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 20; c++) {
            double acc = 0.0;

            for (size_t k = 0; k < 196; k++)
                acc += out[(size_t)i * dim + (size_t)c * 196 + k];
            bad += vdesc[i * 20 + c] != (float)(acc / 196.0);
        }
    CHECKF(bad == 0, "%d descriptor values are not pooled conv5_3", bad);

    // PyTorch's relu5_3 of the face, when the data is here.
    face = load_face224();
    if (face.px && b) {
        size_t n;
        uint8_t *torch = read_all(FIXTURES "face224.relu5_3.f32", &n);

        CHECK(torch && n == dim * sizeof(float));
        CHECK(face_backbone_run(b, &face, 1, out2) == FACET_OK);
        if (torch && n == dim * sizeof(float)) {
            double e = rel_err(out2, (const float *)torch, dim);
            CHECKF(e <= VGG_TOL, "face: relu5_3 vs PyTorch %.3g of max "
                   "(tol %.1e)", e, VGG_TOL);
        }
        free(torch);
        free(face.px);
    }
    face_backbone_close(b);

    // Other layers take the file's widths too.
    CHECK(face_backbone_open_layer(&b, dir, FACE_BACKBONE_VGGFACE, "pool4",
                                   1) == FACET_OK);
    if (b) {
        face_backbone_shape(b, &z, &h, &w);
        CHECK(z == 16 && h == 14 && w == 14);
        face_backbone_close(b);
    }
    CHECK(face_backbone_open_layer(&b, dir, FACE_BACKBONE_VGGFACE, "fc7",
                                   1) == FACET_E_NOT_FOUND);

    // A file that is not a whole VGG-Face: the missing tensor is named.
    write_partial_vgg(fct);
    CHECK(face_backbone_open(&b, dir, FACE_BACKBONE_AUTO, 1) ==
              FACET_E_NOT_FOUND && strstr(facet_error(), "conv1_2.weight"));

    remove_tree(dir);
    for (int i = 0; i < 2; i++)
        free(crops[i].px);
    wt_close(wf);
    free(in);
    free(out);
    free(out2);
    free(ref);
    free(mis);
}

// The real VGG-Face, if installed: the official map.
static void test_vggface_installed(const char *wdir)
{
    face_backbone *b = NULL;
    char path[1024];
    int z, h, w;

    path_in(path, sizeof path, wdir, FACE_VGGFACE_FILE);
    if (access(path, F_OK) != 0) {
        printf("%s not installed (optional: make weights VGGFACE=...); "
               "official shape not checked\n", path);
        return;
    }
    CHECKF(face_backbone_open(&b, wdir, FACE_BACKBONE_AUTO, 1) == FACET_OK,
           "%s", facet_error());
    if (b) {
        face_backbone_shape(b, &z, &h, &w);
        CHECK(face_backbone_which(b) == FACE_BACKBONE_VGGFACE);
        CHECKF(z == 512 && h == 14 && w == 14, "%s: conv5_3 is %d x %d x "
               "%d, not the official 512 x 14 x 14", path, z, h, w);
        face_backbone_close(b);
    }
}

// ---------------------------------------------------------------------------
// Hair

static void test_hair(const char *wdir)
{
    const size_t plane = (size_t)HS * HS;
    const char *layer = FACE_HAIR_LAYER_DEFAULT;
    face_image heads[NCROP];
    face_hairnet *h = NULL;
    nn_hair *ref = NULL;
    wt_file *wf = NULL;
    char path[1024];
    float *prob, *feat, *prob2, *feat2, *in, *p1;
    size_t dim;
    int c, hh, ww;

    path_in(path, sizeof path, wdir, FACE_HAIR_FILE);
    if (access(path, F_OK) != 0) {
        CHECKF(0, "%s missing: run make weights", path);
        return;
    }
    CHECKF(face_hairnet_open(&h, wdir, NULL, 2) == FACET_OK, "%s",
           facet_error());
    if (!h)
        return;
    face_hairnet_shape(h, &c, &hh, &ww);
    dim = face_hairnet_dim(h);
    CHECK(!strcmp(face_hairnet_layer(h), layer));
    CHECK(c == 128 && hh >= 16 && ww == hh && dim == (size_t)c * hh * ww);
    CHECK(strstr(face_hairnet_model_id(h), "hair_segmentation.fct@") ==
          face_hairnet_model_id(h));

    // Three heads in batches of 2 against nn_hair, one by one.
    for (int i = 0; i < NCROP; i++)
        heads[i] = make_image(HS, 3 * HS + 3 * i, 200 + (uint64_t)i);
    prob = nan_floats(NCROP * plane);
    feat = nan_floats(NCROP * dim);
    CHECKF(face_hairnet_run(h, heads, NCROP, prob, feat) == FACET_OK, "%s",
           facet_error());
    CHECK(wt_open(&wf, path, 0) == FACET_OK);
    CHECK(nn_hair_create(&ref, wf, 1, &layer, 1) == FACET_OK);
    in = nan_floats(NN_HAIR_CHANNELS * plane);
    p1 = nan_floats(plane);
    for (int i = 0; ref && i < NCROP; i++) {
        nn_tensor x = nn_tensor_4d(in, 1, NN_HAIR_CHANNELS, HS, HS);
        const nn_tensor *t;

        nn_hair_input_rgb8(in, heads[i].px, heads[i].stride, NULL);
        CHECK(nn_hair_forward(ref, p1, &x) == FACET_OK);
        t = nn_hair_feature(ref, layer);
        CHECKF(!memcmp(p1, prob + i * plane, plane * sizeof(float)),
               "head %d: p(hair) differs from nn_hair", i);
        CHECKF(t && nn_tensor_count(t) == dim &&
               !memcmp(t->data, feat + i * dim, dim * sizeof(float)),
               "head %d: f^H differs from nn_hair", i);
    }

    // The last head alone with one thread, and either output alone: the
    // bits of the batched 2-thread run.
    prob2 = nan_floats(NCROP * plane);
    feat2 = nan_floats(NCROP * dim);
    facet_set_threads(1);
    CHECK(face_hairnet_run(h, heads + 2, 1, prob2, NULL) == FACET_OK);
    CHECK(face_hairnet_run(h, heads + 2, 1, NULL, feat2) == FACET_OK);
    facet_set_threads(2);
    CHECK(!memcmp(prob + 2 * plane, prob2, plane * sizeof(float)));
    CHECK(!memcmp(feat + 2 * dim, feat2, dim * sizeof(float)));

    // Refused: a backbone-sized crop, NULL heads; an unknown layer.
    heads[1].w = heads[1].h = SZ;
    CHECK(face_hairnet_run(h, heads, NCROP, prob2, feat2) == FACET_E_ARG &&
          strstr(facet_error(), "head crop 1"));
    CHECK(face_hairnet_run(h, NULL, 1, prob2, NULL) == FACET_E_ARG);
    face_hairnet_close(h);
    CHECK(face_hairnet_open(&h, wdir, "p_re_lu_999", 1) ==
              FACET_E_NOT_FOUND && !h && strstr(facet_error(),
                                                "p_re_lu_999"));

    for (int i = 0; i < NCROP; i++)
        free(heads[i].px);
    nn_hair_free(ref);
    wt_close(wf);
    free(prob);
    free(feat);
    free(prob2);
    free(feat2);
    free(in);
    free(p1);
}

int main(void)
{
    const char *wdir = check_weights_dir();

    if (check_mkdtemp(tmpdir, sizeof tmpdir, "features") != 0) {
        fprintf(stderr, "test_features: cannot create %s\n", tmpdir);
        return 1;
    }
    test_fnv();
    test_keys();
    test_entries();
    test_missing_weights();
    test_fill_padding();
    test_faceres(wdir);
    test_vggface();
    test_vggface_installed(wdir);
    test_hair(wdir);
    remove_tree(tmpdir);
    return check_report();
}

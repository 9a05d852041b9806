// test_weights.c - the .fct weight format: float16 conversion against an
// independent reference, writer/reader round trips, the writer's refusals,
// and a hostile corpus (truncations at every offset, every single-bit flip,
// and one crafted file per validation rule) where each case must fail with
// its specific status and a detail naming the file.
//
// Crafted files are made by editing a valid file at offsets found by
// walking it as weights/FORMAT.md describes, then fixing the index CRC so
// that the rule under test, not the CRC, rejects it.
//
// Limitations:
// - The read-only-folder case of the writer is skipped when run as root,
//   who may write there anyway; /proc stands in as a folder that even
//   root cannot write to.
#include "check.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../weights/weights.h"

static char tmpdir[256];

// ---------------------------------------------------------------------------
// Helpers: files, the temporary folder, the format walked from the spec

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return 0;
    ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long len;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return p;
}

// Entries of a folder other than . and .., and the first one's name.
static int dir_entries(const char *dir, char *first, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
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
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, int n, uint64_t v)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

// Where things are in a valid file, found by walking it per FORMAT.md.
#define MAXE 16
typedef struct layout {
    size_t meta_size, table_size, data_offset, index_end, file_size;
    size_t meta_count, tensor_count;
    size_t meta_at[MAXE];      // entry offsets
    size_t meta_value[MAXE];   // value offsets
    size_t tensor_at[MAXE];    // entry offsets
    size_t tensor_name[MAXE];  // name offsets
} layout;

static void layout_of(layout *l, const unsigned char *b)
{
    size_t pos = 64;

    memset(l, 0, sizeof *l);
    l->file_size = get_le(b + 16, 8);
    l->meta_count = get_le(b + 24, 4);
    l->tensor_count = get_le(b + 28, 4);
    l->meta_size = get_le(b + 32, 8);
    l->table_size = get_le(b + 40, 8);
    l->data_offset = get_le(b + 48, 8);
    l->index_end = 64 + l->meta_size + l->table_size;
    for (size_t i = 0; i < l->meta_count && i < MAXE; i++) {
        size_t klen = get_le(b + pos, 2), type = b[pos + 2];
        size_t count = get_le(b + pos + 4, 4);
        size_t vbytes = type == 1 ? count + 1 : count * (type == 4 ? 4 : 8);
        l->meta_at[i] = pos;
        l->meta_value[i] = pos + 8 + ((klen + 1 + 7) & ~(size_t)7);
        pos = l->meta_value[i] + ((vbytes + 7) & ~(size_t)7);
    }
    for (size_t i = 0; i < l->tensor_count && i < MAXE; i++) {
        size_t nlen = get_le(b + pos, 2), ndim = b[pos + 3];
        l->tensor_at[i] = pos;
        l->tensor_name[i] = pos + 24 + 8 * ndim;
        pos = l->tensor_name[i] + ((nlen + 1 + 7) & ~(size_t)7);
    }
}

// Recompute the index CRC: [0, 60) then [64, data_offset). Left alone
// when data_offset lies outside the n bytes of the file.
static void fix_index_crc(unsigned char *b, size_t n)
{
    size_t data_offset = get_le(b + 48, 8);
    uLong c = crc32(0L, Z_NULL, 0);

    if (data_offset < 64 || data_offset > n)
        return;
    c = crc32(c, b, 60);
    c = crc32(c, b + 64, (uInt)(data_offset - 64));
    put_le(b + 60, 4, c);
}

static int meta_index(const layout *l, const unsigned char *b,
                      const char *key)
{
    for (size_t i = 0; i < l->meta_count; i++)
        if (!strcmp((const char *)b + l->meta_at[i] + 8, key))
            return (int)i;
    return -1;
}

static int tensor_index(const layout *l, const unsigned char *b,
                        const char *name)
{
    for (size_t i = 0; i < l->tensor_count; i++)
        if (!strcmp((const char *)b + l->tensor_name[i], name))
            return (int)i;
    return -1;
}

// ---------------------------------------------------------------------------
// float16: an independent reference (decoding by formula, rounding by
// nearest-neighbour search with ties to even)

// Values of the non-negative half codes 0..0x7bff; index 0x7c00 stands for
// 2^16, the value a round-up past 65504 would reach (it encodes infinity).
static double half_value[0x7c01];

static void half_table(void)
{
    for (int c = 0; c < 0x7c00; c++) {
        int e = c >> 10, m = c & 0x3ff;
        half_value[c] = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    }
    half_value[0x7c00] = 65536.0;
}

static uint16_t ref_half(float f)
{
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f), dlo, dhi;
    int lo = 0, hi = 0x7c00;

    if (isinf(f) || a >= 65536.0)
        return sign | 0x7c00;

    // Largest code whose value is <= a, then the nearer neighbour.
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (half_value[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    hi = lo + 1;
    dlo = a - half_value[lo];
    dhi = half_value[hi] - a;
    if (dlo < dhi)
        return sign | (uint16_t)lo;
    if (dhi < dlo)
        return sign | (uint16_t)hi;
    return sign | (uint16_t)((lo & 1) ? hi : lo);
}

static void test_f16(void)
{
    int bad_dec = 0, bad_trip = 0, bad_round = 0, bad_nan = 0, n = 0;
    facet_rng r;

    half_table();

    // Every half decodes to its formula value and encodes back to itself
    // (NaN payloads included).
    for (uint32_t c = 0; c < 0x10000; c++) {
        uint16_t h = (uint16_t)c, back;
        float f;
        wt_f16_to_f32(&f, &h, 1);
        wt_f32_to_f16(&back, &f, 1);
        if (back != h)
            bad_trip++;
        if ((c & 0x7c00) == 0x7c00) {
            if ((c & 0x3ff) ? !isnan(f) : !isinf(f))
                bad_dec++;
        } else {
            double want = half_value[c & 0x7fff] * ((c & 0x8000) ? -1 : 1);
            if ((double)f != want || !!signbit(f) != !!(c & 0x8000))
                bad_dec++;
        }
    }
    CHECKF(bad_dec == 0, "%d halves decode wrongly", bad_dec);
    CHECKF(bad_trip == 0, "%d halves do not survive half->float->half",
           bad_trip);

    // Rounding: every midpoint between neighbouring halves (exact in
    // float: 12 significant bits) and its float neighbours on both sides,
    // for both signs; then random float bit patterns.
    for (int c = 0; c < 0x7c00; c++) {
        float mid = (float)((half_value[c] + half_value[c + 1]) / 2);
        float probe[3] = {nextafterf(mid, 0.0f), mid,
                          nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++)
            for (int s = 0; s < 2; s++) {
                float f = s ? -probe[k] : probe[k];
                uint16_t h;
                wt_f32_to_f16(&h, &f, 1);
                bad_round += h != ref_half(f);
                n++;
            }
    }
    facet_rng_seed(&r, 16);
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = (uint32_t)facet_rng_u64(&r);
        float f;
        uint16_t h;
        memcpy(&f, &bits, 4);
        wt_f32_to_f16(&h, &f, 1);
        if (isnan(f))
            bad_nan += (h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0 ||
                       ((h >> 15) != (bits >> 31));
        else
            bad_round += h != ref_half(f);
        n++;
    }
    CHECKF(bad_round == 0, "%d of %d floats round to the wrong half",
           bad_round, n);
    CHECKF(bad_nan == 0, "%d NaNs did not stay NaN", bad_nan);

    // Named edge cases.
    {
        float in[] = {65504.0f, 65519.99f, 65520.0f, 1e5f, -1e5f,
                      0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1p-26f,
                      0x1.8p-24f, 0x1p-14f, -0.0f};
        uint16_t want[] = {0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00,
                           0x0001, 0x0000, 0x0001, 0x0000,
                           0x0002, 0x0400, 0x8000};
        uint16_t got[12];
        wt_f32_to_f16(got, in, 12);
        for (int i = 0; i < 12; i++)
            CHECKF(got[i] == want[i], "half(%a) = %04x, want %04x",
                   (double)in[i], got[i], want[i]);
    }
}

// ---------------------------------------------------------------------------
// Round trip

static const float mean3[3] = {122.782f, 117.001f, 104.298f};
static const float std3[3] = {255.0f, 255.0f, 255.0f};

// Required and reserved metadata shared by the files below.
static void add_model_meta(wt_writer *wr)
{
    const int64_t shape[3] = {3, 112, 112};
    wt_writer_meta_str(wr, "name", "test-model");
    wt_writer_meta_str(wr, "source", "tests/test_weights.c");
    wt_writer_meta_str(wr, "license", "CC0-1.0");
    wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
    wt_writer_meta_str(wr, "channel_order", "RGB");
    wt_writer_meta(wr, "mean", WT_FLOAT32, 3, mean3);
    wt_writer_meta(wr, "std", WT_FLOAT32, 3, std3);
}

#define RT_TENSORS 8
static const char *const rt_names[RT_TENSORS] = {
    "conv1/w", "conv1/b", "half/w", "scalar", "scalar16", "deep", "odd",
    "utf8/Gesicht \xc3\xa4\xe2\x9c\x93"};
static const wt_dtype rt_dtype[RT_TENSORS] = {WT_F32, WT_F32, WT_F16, WT_F32,
                                              WT_F16, WT_F32, WT_F32,
                                              WT_F16};
static const int rt_ndim[RT_TENSORS] = {4, 1, 2, 0, 0, 8, 1, 3};
static const int64_t rt_dims[RT_TENSORS][8] = {
    {8, 3, 3, 3}, {8}, {5, 7}, {0}, {0}, {1, 2, 1, 2, 1, 2, 1, 3}, {13},
    {2, 3, 4}};

static void rt_data(float *d[RT_TENSORS], size_t n[RT_TENSORS])
{
    static const float special[] = {
        0x1p-24f, 0x1p-25f, 3e-8f, 1e-6f, 0x1.ff8p-15f, INFINITY, -INFINITY,
        NAN, 65504.0f, 65520.0f, 1e5f, -0.0f, 0.1f, -2.5f};
    facet_rng r;

    facet_rng_seed(&r, 7);
    for (int i = 0; i < RT_TENSORS; i++) {
        size_t c = 1;
        for (int k = 0; k < rt_ndim[i]; k++)
            c *= (size_t)rt_dims[i][k];
        n[i] = c;
        d[i] = malloc(c * sizeof(float));
        check_fill_random(d[i], c, &r, -2.0f, 2.0f);
    }
    memcpy(d[2], special, sizeof special);  // 14 of the 35 values
    d[4][0] = 1.0f / 3.0f;
}

static void write_rt(const char *path, float *d[RT_TENSORS], facet_status *st)
{
    static const int64_t i64[3] = {INT64_MIN, INT64_MAX, 0};
    static const double f64[3] = {-0.0, 1e300, 0.5};
    static const float anchors[10] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f,
                                      0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
    static const int64_t one = 42;
    static const double half = 0.5;
    wt_writer *wr;

    *st = wt_writer_create(&wr, path);
    if (*st != FACET_OK)
        return;
    add_model_meta(wr);
    wt_writer_meta(wr, "steps", WT_INT64, 3, i64);
    wt_writer_meta(wr, "scales", WT_FLOAT64, 3, f64);
    wt_writer_meta(wr, "anchors", WT_FLOAT32, 10, anchors);
    wt_writer_meta(wr, "count", WT_INT64, 1, &one);
    wt_writer_meta(wr, "ratio", WT_FLOAT64, 1, &half);
    wt_writer_meta_str(wr, "empty", "");
    wt_writer_meta_str(wr, "note", "M\xc3\xbcller\tline 1\nline 2");
    for (int i = 0; i < RT_TENSORS; i++)
        wt_writer_tensor(wr, rt_names[i], rt_dtype[i], rt_ndim[i],
                         rt_dims[i], d[i]);
    *st = wt_writer_finish(wr);
}

// Everything written comes back: metadata bit for bit, float32 tensors
// bit for bit, float16 tensors as the rounding of what was written.
static void check_rt(const wt_file *w, float *d[RT_TENSORS],
                     const size_t n[RT_TENSORS])
{
    const wt_info *info = wt_file_info(w);
    const int64_t *steps;
    const double *scales;
    const float *anchors;
    uint64_t params = 0;
    int64_t i64 = 0;
    double f64 = 0;

    // Description.
    CHECK(!strcmp(info->name, "test-model"));
    CHECK(!strcmp(info->source, "tests/test_weights.c"));
    CHECK(!strcmp(info->license, "CC0-1.0"));
    CHECK(info->channel_order && !strcmp(info->channel_order, "RGB"));
    CHECK(info->channels == 3 && info->height == 112 && info->width == 112);
    CHECK(info->mean && !memcmp(info->mean, mean3, sizeof mean3));
    CHECK(info->std && !memcmp(info->std, std3, sizeof std3));
    CHECK(info->version == WT_VERSION);
    CHECK(info->tensor_count == RT_TENSORS && wt_tensor_count(w) == RT_TENSORS);
    CHECK(info->meta_count == 14 && wt_meta_count(w) == 14);
    CHECK(info->file_size % 64 == 0);
    for (int i = 0; i < RT_TENSORS; i++)
        params += n[i];
    CHECK(info->param_count == params);

    // Metadata values and getters.
    steps = wt_meta_get(w, "steps", WT_INT64, 3);
    CHECK(steps && steps[0] == INT64_MIN && steps[1] == INT64_MAX &&
          steps[2] == 0);
    scales = wt_meta_get(w, "scales", WT_FLOAT64, 0);
    CHECK(scales && signbit(scales[0]) && scales[0] == 0 &&
          scales[1] == 1e300 && scales[2] == 0.5);
    anchors = wt_meta_get(w, "anchors", WT_FLOAT32, 10);
    CHECK(anchors && anchors[0] == 0.1f && anchors[9] == 1.0f);
    CHECK(((uintptr_t)steps % 8) == 0 && ((uintptr_t)scales % 8) == 0);
    CHECK(wt_meta_i64(&i64, w, "count") == FACET_OK && i64 == 42);
    CHECK(wt_meta_f64(&f64, w, "ratio") == FACET_OK && f64 == 0.5);
    CHECK(wt_meta_str(w, "empty") && !strcmp(wt_meta_str(w, "empty"), ""));
    CHECK(wt_meta_str(w, "note") &&
          !strcmp(wt_meta_str(w, "note"), "M\xc3\xbcller\tline 1\nline 2"));
    CHECK(!strcmp(wt_meta_at(w, 0)->key, "name"));
    CHECK(!strcmp(wt_meta_at(w, 13)->key, "note"));
    CHECK(wt_meta_find(w, "anchors")->count == 10);

    // Getter failures: wrong type or count, absent key.
    CHECK(wt_meta_i64(&i64, w, "ratio") == FACET_E_FORMAT &&
          strstr(facet_error(), wt_path(w)) &&
          strstr(facet_error(), "ratio"));
    CHECK(wt_meta_get(w, "anchors", WT_FLOAT32, 11) == NULL &&
          strstr(facet_error(), "float32[10]"));
    CHECK(wt_meta_str(w, "count") == NULL);
    CHECK(wt_meta_f64(&f64, w, "nope") == FACET_E_NOT_FOUND &&
          strstr(facet_error(), "nope") && strstr(facet_error(), wt_path(w)));

    // Tensors in file order, aligned, with their values.
    for (int i = 0; i < RT_TENSORS; i++) {
        const wt_tensor_info *t = wt_tensor_at(w, (size_t)i);
        int same = 1;
        CHECK(!strcmp(t->name, rt_names[i]) && t->dtype == rt_dtype[i] &&
              t->ndim == rt_ndim[i] && t->count == n[i]);
        for (int k = 0; k < rt_ndim[i]; k++)
            CHECK(t->dims[k] == rt_dims[i][k]);
        CHECKF(((uintptr_t)t->data % 64) == 0, "%s data not aligned",
               t->name);
        CHECK(t->offset % 64 == 0);
        CHECK(wt_tensor_find(w, rt_names[i]) == t);
        for (size_t e = 0; e < n[i]; e++) {
            float want = d[i][e];
            if (rt_dtype[i] == WT_F16) {
                uint16_t h;
                wt_f32_to_f16(&h, &want, 1);
                wt_f16_to_f32(&want, &h, 1);
            }
            if (isnan(want) ? !isnan(t->data[e])
                            : memcmp(&want, &t->data[e], 4) != 0)
                same = 0;
        }
        CHECKF(same, "tensor %s values differ", t->name);
    }

    // float16 specials came back as themselves or their rounding.
    {
        const float *h = wt_tensor_find(w, "half/w")->data;
        CHECK(h[0] == 0x1p-24f && h[1] == 0 && h[2] == 0x1p-25f * 2 &&
              isinf(h[5]) && h[5] > 0 && isinf(h[6]) && h[6] < 0 &&
              isnan(h[7]) && h[8] == 65504.0f && isinf(h[9]) &&
              isinf(h[10]) && h[11] == 0 && signbit(h[11]));
        CHECK(h[4] == 0x1.ff8p-15f);  // largest subnormal, exact
    }

    // wt_tensor: exact shape, wildcard, wrong shape, wrong rank, absent.
    {
        const int64_t ok[4] = {8, 3, 3, 3}, wild[4] = {8, -1, 3, -1};
        const int64_t bad[4] = {8, 3, 3, 4};
        const float *conv = wt_tensor_find(w, "conv1/w")->data;
        CHECK(wt_tensor(w, "conv1/w", 4, ok) == conv);
        CHECK(wt_tensor(w, "conv1/w", 4, wild) == conv);
        CHECK(wt_tensor(w, "scalar", 0, NULL) != NULL);
        CHECK(wt_tensor(w, "conv1/w", 4, bad) == NULL &&
              strstr(facet_error(), wt_path(w)) &&
              strstr(facet_error(), "'conv1/w' has shape [8,3,3,3], "
                                    "expected [8,3,3,4]"));
        CHECK(wt_tensor(w, "conv1/w", 2, ok) == NULL &&
              strstr(facet_error(), "expected [8,3]"));
        CHECK(wt_tensor(w, "conv9/w", 4, ok) == NULL &&
              strstr(facet_error(), wt_path(w)) &&
              strstr(facet_error(), "no tensor 'conv9/w'"));
    }
}

static void test_roundtrip(void)
{
    float *d[RT_TENSORS];
    size_t n[RT_TENSORS], size = 0, size2 = 0;
    char path[512], path2[512], first[256];
    unsigned char *bytes, *bytes2, *shifted;
    facet_status st;
    wt_file *w = NULL;
    struct stat sb;

    rt_data(d, n);
    path_in(path, sizeof path, "rt.fct");
    path_in(path2, sizeof path2, "rt2.fct");

    // Write: the folder then holds the file alone (no temporary left).
    write_rt(path, d, &st);
    CHECKF(st == FACET_OK, "write: %s", facet_error());
    CHECK(dir_entries(tmpdir, first, sizeof first) == 1 &&
          !strcmp(first, "rt.fct"));
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);

    // Read by path, default flags (all CRCs checked).
    st = wt_open(&w, path, 0);
    CHECKF(st == FACET_OK, "open: %s", facet_error());
    if (w) {
        CHECK(!strcmp(wt_path(w), path));
        CHECK(wt_file_info(w)->file_size == (uint64_t)sb.st_size);
        check_rt(w, d, n);
        CHECK(wt_verify(w) == FACET_OK);
    }
    wt_close(w);

    // Same bytes from memory, also from a misaligned buffer; and without
    // the CRC checks.
    bytes = read_bytes(path, &size);
    CHECK(bytes != NULL);
    shifted = malloc(size + 1);
    memcpy(shifted + 1, bytes, size);
    CHECK(wt_open_memory(&w, shifted + 1, size, "mem:rt", 0) == FACET_OK);
    free(shifted);
    if (w) {
        CHECK(!strcmp(wt_path(w), "mem:rt"));
        check_rt(w, d, n);
    }
    wt_close(w);
    CHECK(wt_open_memory(&w, bytes, size, "mem:rt", WT_OPEN_NO_CRC) ==
          FACET_OK);
    if (w) {
        check_rt(w, d, n);
        CHECK(wt_verify(w) == FACET_OK);
    }
    wt_close(w);

    // Deterministic: the same content gives the same bytes; and writing
    // over an existing file replaces it.
    write_rt(path2, d, &st);
    CHECK(st == FACET_OK);
    bytes2 = read_bytes(path2, &size2);
    CHECK(bytes2 && size2 == size && !memcmp(bytes, bytes2, size));
    free(bytes2);
    write_rt(path2, d, &st);
    CHECK(st == FACET_OK && dir_entries(tmpdir, NULL, 0) == 2);
    bytes2 = read_bytes(path2, &size2);
    CHECK(bytes2 && size2 == size && !memcmp(bytes, bytes2, size));
    free(bytes2);
    unlink(path2);

    // wt_verify notices data changed after open (memory copy altered
    // through the view is impossible; a file reopened without CRC checks
    // after corruption is caught).
    {
        layout l;
        layout_of(&l, bytes);
        bytes[get_le(bytes + l.tensor_at[0] + 8, 8)] ^= 0x10;
        CHECK(wt_open_memory(&w, bytes, size, "mem:rt", WT_OPEN_NO_CRC) ==
              FACET_OK);
        if (w)
            CHECK(wt_verify(w) == FACET_E_CORRUPT &&
                  strstr(facet_error(), "'conv1/w' CRC mismatch"));
        wt_close(w);
    }

    // A missing file is "not found", naming it.
    path_in(path2, sizeof path2, "absent.fct");
    CHECK(wt_open(&w, path2, 0) == FACET_E_NOT_FOUND && w == NULL &&
          strstr(facet_error(), path2));
    CHECK(wt_open(&w, tmpdir, 0) == FACET_E_IO &&
          strstr(facet_error(), tmpdir));

    free(bytes);
    unlink(path);
    for (int i = 0; i < RT_TENSORS; i++)
        free(d[i]);
}

// The tensor cap: 65536 tiny tensors write and read back (lookups by
// name); the 65537th is refused.
static void test_many_tensors(void)
{
    const float one = 1.0f;
    char path[512], name[32];
    wt_writer *wr;
    wt_file *w = NULL;
    int found = 1;

    path_in(path, sizeof path, "many.fct");
    CHECK(wt_writer_create(&wr, path) == FACET_OK);
    add_model_meta(wr);
    for (int i = 0; i < WT_MAX_TENSORS; i++) {
        snprintf(name, sizeof name, "t%05d", (i * 7919) % WT_MAX_TENSORS);
        wt_writer_tensor(wr, name, WT_F32, 1, (const int64_t[]){1}, &one);
    }
    CHECK(wt_writer_tensor(wr, "extra", WT_F32, 0, NULL, &one) ==
          FACET_E_TOO_LARGE && strstr(facet_error(), path));
    wt_writer_free(wr);

    CHECK(wt_writer_create(&wr, path) == FACET_OK);
    add_model_meta(wr);
    for (int i = 0; i < WT_MAX_TENSORS; i++) {
        snprintf(name, sizeof name, "t%05d", (i * 7919) % WT_MAX_TENSORS);
        wt_writer_tensor(wr, name, WT_F32, 1, (const int64_t[]){1}, &one);
    }
    CHECK(wt_writer_finish(wr) == FACET_OK);
    CHECK(wt_open(&w, path, 0) == FACET_OK);
    if (w) {
        CHECK(wt_tensor_count(w) == WT_MAX_TENSORS);
        for (int i = 0; i < WT_MAX_TENSORS; i += 97) {
            snprintf(name, sizeof name, "t%05d", i);
            const wt_tensor_info *t = wt_tensor_find(w, name);
            found &= t && t->data[0] == 1.0f;
        }
        CHECK(found);
    }
    wt_close(w);
    unlink(path);
}

// ---------------------------------------------------------------------------
// Writer refusals: bad names, shapes and metadata, and folders it cannot
// write to. Nothing may be left behind.

static void test_writer_errors(void)
{
    const float data[4] = {1, 2, 3, 4};
    const int64_t d4[1] = {4};
    char path[512], name[300];
    wt_writer *wr;
    facet_status st;

    path_in(path, sizeof path, "w.fct");

    // Names and shapes refused at the add, and the first failure replayed
    // by finish.
    {
        static const char *const bad_names[] = {"", "a\tb", "\xff\xfe",
                                                "a\x01", "x\xc0\x80"};
        const int64_t dims0[2] = {4, 0}, dimsneg[1] = {-3};
        const int64_t dimsbig[1] = {INT64_C(1) << 31};
        const int64_t huge[4] = {WT_MAX_DIM, WT_MAX_DIM, WT_MAX_DIM,
                                 WT_MAX_DIM};
        const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};

        memset(name, 'n', 256);
        name[256] = 0;
        for (int i = 0; i < 5; i++) {
            CHECK(wt_writer_create(&wr, path) == FACET_OK);
            CHECK(wt_writer_tensor(wr, bad_names[i], WT_F32, 1, d4, data) ==
                  FACET_E_ARG && strstr(facet_error(), path));
            wt_writer_free(wr);
        }
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, name, WT_F32, 1, d4, data) == FACET_E_ARG
              && strstr(facet_error(), "255"));
        wt_writer_free(wr);

        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, "z", WT_F32, 2, dims0, data) ==
              FACET_E_ARG && strstr(facet_error(), "dim 1 is 0"));
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, "z", WT_F32, 1, dimsneg, data) ==
              FACET_E_ARG);
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, "z", WT_F32, 1, dimsbig, data) ==
              FACET_E_ARG);
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, "z", WT_F32, 9, nine, data) ==
              FACET_E_ARG && strstr(facet_error(), "9 dims"));
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_tensor(wr, "z", (wt_dtype)3, 1, d4, data) ==
              FACET_E_ARG && strstr(facet_error(), "dtype"));
        wt_writer_free(wr);

        // Overflow, then everything after it fails the same way, and so
        // does finish, without creating a file.
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        add_model_meta(wr);
        CHECK(wt_writer_tensor(wr, "z", WT_F32, 4, huge, data) ==
              FACET_E_TOO_LARGE && strstr(facet_error(), "'z'"));
        CHECK(wt_writer_tensor(wr, "ok", WT_F32, 1, d4, data) ==
              FACET_E_TOO_LARGE);
        facet_fail(FACET_E_IO, "something else");
        CHECK(wt_writer_finish(wr) == FACET_E_TOO_LARGE &&
              strstr(facet_error(), path) && strstr(facet_error(), "'z'"));
        CHECK(access(path, F_OK) != 0);
    }

    // Metadata refused at the add.
    {
        const int64_t v = 1;
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_meta(wr, "k", WT_INT64, 0, &v) == FACET_E_ARG);
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_meta_str(wr, "k", "bell\a") == FACET_E_ARG &&
              strstr(facet_error(), "control"));
        wt_writer_free(wr);
        CHECK(wt_writer_create(&wr, path) == FACET_OK);
        CHECK(wt_writer_meta(wr, "k", (wt_type)9, 1, &v) == FACET_E_ARG);
        wt_writer_free(wr);
    }

    // Refused at finish: duplicates, missing or ill-typed reserved keys.
    {
        static const struct {
            const char *what;
            int dup_tensor, dup_key, drop_license, name_int, bad_order,
                short_mean;
        } cases[] = {
            {"duplicate tensor name 'a'", 1, 0, 0, 0, 0, 0},
            {"duplicate metadata key 'extra'", 0, 1, 0, 0, 0, 0},
            {"'license' is missing", 0, 0, 1, 0, 0, 0},
            {"'name' is int64", 0, 0, 0, 1, 0, 0},
            {"channel_order", 0, 0, 0, 0, 1, 0},
            {"'mean' must be float32[C]", 0, 0, 0, 0, 0, 1},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const int64_t v = 7, shape[3] = {3, 8, 8};
            CHECK(wt_writer_create(&wr, path) == FACET_OK);
            wt_writer_meta(wr, "name", cases[c].name_int ? WT_INT64 :
                           WT_STRING, 1, cases[c].name_int ? (void *)&v :
                           (void *)"m");
            wt_writer_meta_str(wr, "source", "s");
            if (!cases[c].drop_license)
                wt_writer_meta_str(wr, "license", "l");
            wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
            wt_writer_meta_str(wr, "channel_order",
                               cases[c].bad_order ? "RGBA" : "BGR");
            wt_writer_meta(wr, "mean", WT_FLOAT32,
                           cases[c].short_mean ? 2 : 3, mean3);
            wt_writer_meta(wr, "extra", WT_INT64, 1, &v);
            if (cases[c].dup_key)
                wt_writer_meta(wr, "extra", WT_INT64, 1, &v);
            wt_writer_tensor(wr, "a", WT_F32, 1, d4, data);
            wt_writer_tensor(wr, cases[c].dup_tensor ? "a" : "b", WT_F16, 1,
                             d4, data);
            st = wt_writer_finish(wr);
            CHECKF(st == FACET_E_ARG && strstr(facet_error(), path) &&
                   strstr(facet_error(), cases[c].what),
                   "case '%s': %s: %s", cases[c].what,
                   facet_status_str(st), facet_error());
            CHECK(access(path, F_OK) != 0);
        }
        CHECK(dir_entries(tmpdir, NULL, 0) == 0);
    }

    // Folders that cannot be written: absent, a regular file, /proc (not
    // writable even for root), and a read-only folder (unless root, who
    // may write anyway). finish fails with FACET_E_IO naming the path, and
    // leaves no temporary file.
    {
        char notdir[512], rodir[512], target[600];
        const char *targets[3] = {"/nonexistent-facet-dir/m.fct", target,
                                  "/proc/facet-test.fct"};

        path_in(notdir, sizeof notdir, "plainfile");
        CHECK(write_bytes(notdir, "x", 1));
        snprintf(target, sizeof target, "%s/m.fct", notdir);
        for (int i = 0; i < 3; i++) {
            CHECK(wt_writer_create(&wr, targets[i]) == FACET_OK);
            add_model_meta(wr);
            wt_writer_tensor(wr, "a", WT_F32, 1, d4, data);
            st = wt_writer_finish(wr);
            CHECKF(st == FACET_E_IO && strstr(facet_error(), targets[i]),
                   "%s: %s", targets[i], facet_error());
            CHECK(access(targets[i], F_OK) != 0);
        }
        unlink(notdir);

        path_in(rodir, sizeof rodir, "ro");
        mkdir(rodir, 0700);
        snprintf(target, sizeof target, "%s/m.fct", rodir);
        chmod(rodir, 0500);
        if (geteuid() != 0) {
            CHECK(wt_writer_create(&wr, target) == FACET_OK);
            add_model_meta(wr);
            wt_writer_tensor(wr, "a", WT_F32, 1, d4, data);
            CHECK(wt_writer_finish(wr) == FACET_E_IO &&
                  strstr(facet_error(), target));
            CHECK(dir_entries(rodir, NULL, 0) == 0);
        }
        chmod(rodir, 0700);
        rmdir(rodir);
    }

    // A writer abandoned before finish writes nothing.
    CHECK(wt_writer_create(&wr, path) == FACET_OK);
    add_model_meta(wr);
    wt_writer_tensor(wr, "a", WT_F32, 1, d4, data);
    wt_writer_free(wr);
    wt_writer_free(NULL);
    CHECK(dir_entries(tmpdir, NULL, 0) == 0);
}

// ---------------------------------------------------------------------------
// Hostile files

// The base file of the corpus: metadata with one-letter keys "j" and "k"
// (so one can be renamed to the other) and input_shape; tensors "conv/w"
// (4-D), "b" and "h" (one-letter names), "abcdefg" (a 7-byte name whose
// NUL ends its 8-byte block).
static unsigned char *base_file(size_t *size)
{
    const int64_t shape[3] = {3, 8, 8}, j = 1, k = 2;
    const int64_t d4[4] = {2, 2, 2, 2}, d1[1] = {3}, d5[1] = {5};
    const int64_t dseven[1] = {1};
    float data[16];
    char path[512];
    wt_writer *wr;
    unsigned char *b;

    for (int i = 0; i < 16; i++)
        data[i] = 0.25f * (float)(i + 1);
    path_in(path, sizeof path, "base.fct");
    wt_writer_create(&wr, path);
    wt_writer_meta_str(wr, "name", "hostile");
    wt_writer_meta_str(wr, "source", "s");
    wt_writer_meta_str(wr, "license", "l");
    wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
    wt_writer_meta(wr, "j", WT_INT64, 1, &j);
    wt_writer_meta(wr, "k", WT_INT64, 1, &k);
    wt_writer_tensor(wr, "conv/w", WT_F32, 4, d4, data);
    wt_writer_tensor(wr, "b", WT_F32, 1, d1, data);
    wt_writer_tensor(wr, "h", WT_F16, 1, d5, data);
    wt_writer_tensor(wr, "abcdefg", WT_F32, 1, dseven, data);
    if (wt_writer_finish(wr) != FACET_OK)
        return NULL;
    b = read_bytes(path, size);
    unlink(path);
    return b;
}

// Open `b` from a file and from memory: both must fail with `want`, leave
// the handle NULL, and give a detail naming the file and containing `key`.
static int expect_fail(const unsigned char *b, size_t n, facet_status want,
                       const char *key, int line)
{
    char path[512];
    wt_file *w = (wt_file *)1;
    facet_status st;
    int ok = 1;

    path_in(path, sizeof path, "hostile.fct");
    if (!write_bytes(path, b, n))
        return 0;
    st = wt_open(&w, path, 0);
    if (st != want || w != NULL || !strstr(facet_error(), path) ||
        (key && !strstr(facet_error(), key))) {
        fprintf(stderr, "line %d: got %s (%s), want %s with '%s'\n", line,
                facet_status_str(st), facet_error(), facet_status_str(want),
                key ? key : "");
        ok = 0;
    }
    wt_close(w == (wt_file *)1 ? NULL : w);
    unlink(path);

    w = (wt_file *)1;
    st = wt_open_memory(&w, b, n, "mem:hostile", 0);
    if (st != want || w != NULL || !strstr(facet_error(), "mem:hostile")) {
        fprintf(stderr, "line %d (memory): got %s (%s)\n", line,
                facet_status_str(st), facet_error());
        ok = 0;
    }
    wt_close(w == (wt_file *)1 ? NULL : w);
    return ok;
}

// Apply `edit` to a copy of the base file, fix the index CRC unless
// `keep_crc`, and expect the failure.
#define HOSTILE(want, key, keep_crc, edit)                                  \
    do {                                                                    \
        unsigned char *c_ = malloc(size + 128);                             \
        size_t n_ = size;                                                   \
        memcpy(c_, base, size);                                             \
        {                                                                   \
            unsigned char *b = c_;                                          \
            size_t *n = &n_;                                                \
            (void)n;                                                        \
            edit;                                                           \
        }                                                                   \
        if (!(keep_crc))                                                    \
            fix_index_crc(c_, n_);                                           \
        CHECKF(expect_fail(c_, n_, want, key, __LINE__), "hostile case");   \
        free(c_);                                                           \
    } while (0)

static void test_hostile(void)
{
    size_t size = 0;
    unsigned char *base = base_file(&size);
    wt_file *w = NULL;
    layout L;
    int conv, tb, th, t7, mj, mk, mname, mlic, mshape;
    size_t conv_off;

    CHECK(base != NULL);
    if (!base)
        return;
    layout_of(&L, base);
    conv = tensor_index(&L, base, "conv/w");
    tb = tensor_index(&L, base, "b");
    th = tensor_index(&L, base, "h");
    t7 = tensor_index(&L, base, "abcdefg");
    mj = meta_index(&L, base, "j");
    mk = meta_index(&L, base, "k");
    mname = meta_index(&L, base, "name");
    mlic = meta_index(&L, base, "license");
    mshape = meta_index(&L, base, "input_shape");
    CHECK(conv == 0 && tb == 1 && th == 2 && t7 == 3 && mj >= 0 && mk >= 0 &&
          mname >= 0 && mlic >= 0 && mshape >= 0);
    CHECK(L.file_size == size && L.index_end < L.data_offset);
    conv_off = L.tensor_at[conv];

    // The base file itself is valid.
    CHECK(wt_open_memory(&w, base, size, "base", 0) == FACET_OK);
    wt_close(w);

    // Not a facet file, or not this version.
    CHECK(expect_fail(base, 0, FACET_E_CORRUPT, "empty", __LINE__));
    CHECK(expect_fail((const unsigned char *)"hello, world\n", 13,
                      FACET_E_FORMAT, "magic", __LINE__));
    // A foreign magic or a newer version, with an index CRC consistent
    // with it, is reported as such...
    HOSTILE(FACET_E_FORMAT, "bad magic", 0, b[3] = 'X');
    HOSTILE(FACET_E_VERSION, "version 2", 0, put_le(b + 8, 4, 2));
    HOSTILE(FACET_E_VERSION, "version 0", 0, put_le(b + 8, 4, 0));
    HOSTILE(FACET_E_VERSION, "version 4294967295", 0,
            put_le(b + 8, 4, 0xffffffffu));
    HOSTILE(FACET_E_FORMAT, "header size 128", 0, put_le(b + 12, 4, 128));
    HOSTILE(FACET_E_FORMAT, "reserved", 0, put_le(b + 56, 4, 1));

    // ...but the same edits under the original index CRC are damage to a
    // version 1 file, and read as such (FORMAT.md, "Validation").
    HOSTILE(FACET_E_CORRUPT, "damaged (its magic is altered)", 1,
            b[3] = 'X');
    HOSTILE(FACET_E_CORRUPT, "damaged (its version field is altered)", 1,
            put_le(b + 8, 4, 2));
    HOSTILE(FACET_E_CORRUPT, "damaged (its version field is altered)", 1,
            put_le(b + 8, 4, 0xffffffffu));
    HOSTILE(FACET_E_CORRUPT, "the file is damaged; run `make weights`", 1,
            put_le(b + 12, 4, 128));
    HOSTILE(FACET_E_CORRUPT, "the file is damaged", 1,
            put_le(b + 56, 4, 1));
    HOSTILE(FACET_E_CORRUPT, "the file is damaged", 1,
            put_le(b + 24, 4, 4104));

    // Without the CRC checks nothing tells damage from a newer version.
    {
        unsigned char *c = malloc(size);
        memcpy(c, base, size);
        put_le(c + 8, 4, 2);
        w = (wt_file *)1;
        CHECK(wt_open_memory(&w, c, size, "v2", WT_OPEN_NO_CRC) ==
              FACET_E_VERSION && w == NULL &&
              strstr(facet_error(), "format version 2"));
        free(c);
    }

    // Sizes: recorded vs real, caps, section layout.
    HOSTILE(FACET_E_CORRUPT, "truncated: header says", 0,
            put_le(b + 16, 8, size + 64));
    HOSTILE(FACET_E_CORRUPT, "trailing", 0, put_le(b + 16, 8, size - 64));
    HOSTILE(FACET_E_CORRUPT, "trailing", 1, memset(b + size, 0, 64);
            *n += 64);
    HOSTILE(FACET_E_TOO_LARGE, "metadata count", 0,
            put_le(b + 24, 4, 0xffffffffu));
    HOSTILE(FACET_E_TOO_LARGE, "tensor count 4294967295", 0,
            put_le(b + 28, 4, 0xffffffffu));
    HOSTILE(FACET_E_TOO_LARGE, "tensor count 65537", 0,
            put_le(b + 28, 4, 65537));
    HOSTILE(FACET_E_FORMAT, "runs past the end of the tensor table", 0,
            put_le(b + 28, 4, L.tensor_count + 1));
    HOSTILE(FACET_E_FORMAT, "cannot hold 5000 entries", 0,
            put_le(b + 28, 4, 5000));
    HOSTILE(FACET_E_FORMAT, "bytes after its 3 entries", 0,
            put_le(b + 28, 4, L.tensor_count - 1));
    HOSTILE(FACET_E_FORMAT, "metadata section has", 0,
            put_le(b + 24, 4, L.meta_count - 1));
    HOSTILE(FACET_E_TOO_LARGE, "metadata section", 0,
            put_le(b + 32, 8, UINT64_C(1) << 40));
    HOSTILE(FACET_E_TOO_LARGE, "tensor table", 0,
            put_le(b + 40, 8, UINT64_MAX));
    HOSTILE(FACET_E_FORMAT, "multiples of 8", 0,
            put_le(b + 32, 8, L.meta_size - 1));
    HOSTILE(FACET_E_FORMAT, "data offset", 0,
            put_le(b + 48, 8, L.data_offset + 64));
    HOSTILE(FACET_E_CORRUPT, "data offset 4544 lies outside the 704-byte", 1,
            put_le(b + 40, 8, L.table_size + 4096);
            put_le(b + 48, 8, (L.index_end + 4096 + 63) & ~(size_t)63));
    HOSTILE(FACET_E_CORRUPT, "index CRC mismatch", 1,
            b[L.tensor_name[tb]] = 'c');
    HOSTILE(FACET_E_CORRUPT, "index CRC mismatch", 1, b[61] ^= 1);
    HOSTILE(FACET_E_FORMAT, "nonzero padding", 0, b[L.data_offset - 1] = 1);

    // Metadata entries.
    HOSTILE(FACET_E_FORMAT, "empty key", 0, put_le(b + L.meta_at[mj], 2, 0));
    HOSTILE(FACET_E_TOO_LARGE, "key of 65535 bytes", 0,
            put_le(b + L.meta_at[mj], 2, 0xffff));
    HOSTILE(FACET_E_FORMAT, "unknown type 9", 0, b[L.meta_at[mj] + 2] = 9);
    HOSTILE(FACET_E_FORMAT, "unknown type 0", 0, b[L.meta_at[mj] + 2] = 0);
    HOSTILE(FACET_E_FORMAT, "reserved byte", 0, b[L.meta_at[mj] + 3] = 1);
    HOSTILE(FACET_E_FORMAT, "empty array", 0,
            put_le(b + L.meta_at[mj] + 4, 4, 0));
    HOSTILE(FACET_E_FORMAT, "runs past the end of the metadata section", 0,
            put_le(b + L.meta_at[mj] + 4, 4, 0xffffffffu));
    HOSTILE(FACET_E_FORMAT, "key is not NUL-terminated", 0,
            b[L.meta_at[mj] + 9] = 'x');
    HOSTILE(FACET_E_FORMAT, "key is not valid UTF-8", 0,
            b[L.meta_at[mj] + 8] = 0xc3);
    HOSTILE(FACET_E_FORMAT, "key contains a control character", 0,
            b[L.meta_at[mj] + 8] = 0x1b);
    HOSTILE(FACET_E_FORMAT, "nonzero padding after the key", 0,
            b[L.meta_at[mj] + 15] = 1);
    HOSTILE(FACET_E_FORMAT, "duplicate metadata key 'k'", 0,
            b[L.meta_at[mj] + 8] = 'k');
    HOSTILE(FACET_E_FORMAT, "'license' is missing", 0,
            b[L.meta_at[mlic] + 8 + 6] = 'X');
    HOSTILE(FACET_E_FORMAT, "string value is not NUL-terminated", 0,
            b[L.meta_value[mname] + 7] = 'X');
    HOSTILE(FACET_E_FORMAT, "string value contains a NUL", 0,
            b[L.meta_value[mname] + 2] = 0);
    HOSTILE(FACET_E_FORMAT, "nonzero padding after the value", 0,
            b[L.meta_value[mlic] + 3] = 1);      // "l\0" + 6 pad bytes
    HOSTILE(FACET_E_FORMAT, "'input_shape' must be int64[3]", 0,
            b[L.meta_at[mshape] + 2] = 3);
    HOSTILE(FACET_E_FORMAT, "'input_shape' (0, 8, 8) out of range", 0,
            put_le(b + L.meta_value[mshape], 8, 0));

    // Table entries: names.
    HOSTILE(FACET_E_FORMAT, "empty name", 0,
            put_le(b + L.tensor_at[tb], 2, 0));
    HOSTILE(FACET_E_TOO_LARGE, "name of 300 bytes", 0,
            put_le(b + L.tensor_at[tb], 2, 300));
    HOSTILE(FACET_E_FORMAT, "name is not NUL-terminated", 0,
            b[L.tensor_name[t7] + 7] = 'h');
    HOSTILE(FACET_E_FORMAT, "name is not valid UTF-8", 0,
            b[L.tensor_name[tb]] = 0xff);
    HOSTILE(FACET_E_FORMAT, "name contains a control character", 0,
            b[L.tensor_name[conv] + 4] = '\n');
    HOSTILE(FACET_E_FORMAT, "name contains a NUL", 0,
            b[L.tensor_name[conv] + 4] = 0);
    HOSTILE(FACET_E_FORMAT, "duplicate tensor name 'b'", 0,
            b[L.tensor_name[th]] = 'b');

    // Table entries: dtype, dims, sizes.
    HOSTILE(FACET_E_FORMAT, "unknown dtype 3", 0, b[conv_off + 2] = 3);
    HOSTILE(FACET_E_FORMAT, "unknown dtype 0", 0, b[conv_off + 2] = 0);
    HOSTILE(FACET_E_TOO_LARGE, "9 dims", 0, b[conv_off + 3] = 9);
    HOSTILE(FACET_E_TOO_LARGE, "255 dims", 0, b[conv_off + 3] = 255);
    HOSTILE(FACET_E_FORMAT, "dim 2 is 0", 0,
            put_le(b + conv_off + 24 + 16, 8, 0));
    HOSTILE(FACET_E_TOO_LARGE, "dim 1 is 2147483648", 0,
            put_le(b + conv_off + 24 + 8, 8, UINT64_C(1) << 31));
    HOSTILE(FACET_E_TOO_LARGE, "more than", 0,
            put_le(b + conv_off + 24, 8, UINT64_MAX));
    HOSTILE(FACET_E_TOO_LARGE, "'conv/w' size overflows", 0,
            for (int k = 0; k < 4; k++)
                put_le(b + conv_off + 24 + 8 * k, 8, 0x7fffffff));
    HOSTILE(FACET_E_FORMAT, "records 32 bytes, its shape needs 64", 0,
            put_le(b + conv_off + 16, 8, 32));
    // 3 dims instead of 4: the name is read from the last dim's bytes.
    HOSTILE(FACET_E_FORMAT, "tensor entry 0 name contains a control", 0,
            b[conv_off + 3] = 3);

    // Data placement.
    {
        size_t off_b = get_le(base + L.tensor_at[tb] + 8, 8);
        size_t off_c = get_le(base + conv_off + 8, 8);
        HOSTILE(FACET_E_FORMAT, "is not a multiple of 64", 0,
                put_le(b + L.tensor_at[tb] + 8, 8, off_b + 4));
        HOSTILE(FACET_E_FORMAT, "overlaps tensor 'conv/w'", 0,
                put_le(b + L.tensor_at[tb] + 8, 8, off_c));
        HOSTILE(FACET_E_FORMAT, "before the data section", 0,
                put_le(b + conv_off + 8, 8, L.data_offset - 64));
        HOSTILE(FACET_E_CORRUPT,
                "tensor 'abcdefg' data runs past end of file", 0,
                put_le(b + L.tensor_at[t7] + 8, 8, size));
        HOSTILE(FACET_E_CORRUPT, "runs past end of file (offset", 0,
                put_le(b + L.tensor_at[t7] + 8, 8,
                       UINT64_C(0xffffffffffffffc0)));
        HOSTILE(FACET_E_FORMAT, "its data ends at", 0,
                memset(b + size, 0, 64); *n += 64;
                put_le(b + 16, 8, size + 64));
        HOSTILE(FACET_E_FORMAT, "nonzero padding byte at offset", 0,
                b[off_b + 12] = 0x80);
        HOSTILE(FACET_E_FORMAT, "nonzero padding byte at offset", 0,
                b[size - 1] = 1);
        // A CRC mismatch in the data (index intact), and in the table.
        HOSTILE(FACET_E_CORRUPT, "tensor 'conv/w' CRC mismatch", 1,
                b[off_c + 5] ^= 0x20);
        HOSTILE(FACET_E_CORRUPT, "tensor 'abcdefg' CRC mismatch", 0,
                b[L.tensor_at[t7] + 4] ^= 1);
        HOSTILE(FACET_E_CORRUPT, "tensor 'h' CRC mismatch", 1,
                b[get_le(base + L.tensor_at[th] + 8, 8) + 9] ^= 0x01);
    }

    free(base);
}

// Every truncation of a valid file is CORRUPT; every single-bit flip is
// rejected (every byte is covered by a CRC or a must-be-zero rule); with
// the CRC checks off, no flip crashes the reader.
static void test_truncate_and_flip(void)
{
    size_t size = 0;
    unsigned char *base = base_file(&size), *c;
    char path[512];
    int bad_trunc = 0, bad_flip = 0, flips = 0, accepted_nocrc = 0;
    size_t data_offset;
    wt_file *w;

    CHECK(base != NULL);
    if (!base)
        return;
    path_in(path, sizeof path, "cut.fct");

    // Truncation at every byte offset, through a real file.
    for (size_t k = 0; k < size; k++) {
        facet_status st;
        write_bytes(path, base, k);
        w = NULL;
        st = wt_open(&w, path, 0);
        if (st != FACET_E_CORRUPT || w || !strstr(facet_error(), path)) {
            if (bad_trunc++ < 5)
                fprintf(stderr, "truncated at %zu: %s (%s)\n", k,
                        facet_status_str(st), facet_error());
        }
        wt_close(w);
    }
    unlink(path);
    CHECKF(bad_trunc == 0, "%d of %zu truncations not reported as corrupt",
           bad_trunc, size);

    // Every bit of the file flipped, from memory. A flip anywhere in the
    // index [0, data_offset), header included, reads as damage: CORRUPT
    // with "damaged" in the detail, whichever field it hit.
    c = malloc(size);
    data_offset = (size_t)get_le(base + 48, 8);
    for (size_t i = 0; i < size; i++)
        for (int bit = 0; bit < 8; bit++) {
            facet_status st, want_st = FACET_OK;
            memcpy(c, base, size);
            c[i] ^= (unsigned char)(1u << bit);
            w = NULL;
            st = wt_open_memory(&w, c, size, "flip.fct", 0);
            if (i < data_offset)
                want_st = FACET_E_CORRUPT;
            if (st == FACET_OK || w || !strstr(facet_error(), "flip.fct") ||
                (want_st != FACET_OK &&
                 (st != want_st || !strstr(facet_error(), "damaged")))) {
                if (bad_flip++ < 5)
                    fprintf(stderr, "flip byte %zu bit %d: %s (%s)\n", i, bit,
                            facet_status_str(st), facet_error());
            }
            wt_close(w);
            flips++;

            // Without CRCs: must not crash; may be accepted.
            w = NULL;
            if (wt_open_memory(&w, c, size, "flip.fct", WT_OPEN_NO_CRC) ==
                FACET_OK) {
                accepted_nocrc++;
                for (size_t t = 0; t < wt_tensor_count(w); t++)
                    (void)wt_tensor_find(w, wt_tensor_at(w, t)->name);
            }
            wt_close(w);
        }
    free(c);
    CHECKF(bad_flip == 0, "%d of %d bit flips accepted or misreported",
           bad_flip, flips);
    printf("bit flips: %d, all rejected; %d accepted with WT_OPEN_NO_CRC "
           "(data, CRC fields, values)\n", flips, accepted_nocrc);

    // Random bits of a larger tensor's data: each caught by its CRC.
    {
        float *big = malloc(64 * 64 * sizeof(float));
        const int64_t dims[2] = {64, 64};
        unsigned char *bytes;
        size_t n = 0;
        int missed = 0;
        wt_writer *wr;
        facet_rng r;

        facet_rng_seed(&r, 99);
        check_fill_random(big, 64 * 64, &r, -1, 1);
        path_in(path, sizeof path, "big.fct");
        wt_writer_create(&wr, path);
        add_model_meta(wr);
        wt_writer_tensor(wr, "big", WT_F32, 2, dims, big);
        CHECK(wt_writer_finish(wr) == FACET_OK);
        bytes = read_bytes(path, &n);
        for (int i = 0; i < 300; i++) {
            size_t at = n - 64 * 64 * 4 + facet_rng_below(&r, 64 * 64 * 4);
            int bit = (int)facet_rng_below(&r, 8);
            bytes[at] ^= (unsigned char)(1u << bit);
            w = NULL;
            if (wt_open_memory(&w, bytes, n, path, 0) != FACET_E_CORRUPT ||
                !strstr(facet_error(), "'big' CRC mismatch"))
                missed++;
            wt_close(w);
            bytes[at] ^= (unsigned char)(1u << bit);
        }
        CHECKF(missed == 0, "%d data bit flips missed", missed);
        free(bytes);
        free(big);
        unlink(path);
    }
    free(base);
}

int main(void)
{
    if (check_mkdtemp(tmpdir, sizeof tmpdir, "weights") != 0) {
        perror(tmpdir);
        return 1;
    }
    test_f16();
    test_roundtrip();
    test_writer_errors();
    test_many_tensors();
    test_hostile();
    test_truncate_and_flip();
    remove_tree(tmpdir);
    return check_report();
}

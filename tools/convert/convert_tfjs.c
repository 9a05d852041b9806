// convert_tfjs.c - reads a TensorFlow.js weights manifest and its binary
// shards and writes the tensors, decoded to float32 (or kept as float16),
// into one facet weight file.
//
//   convert_tfjs [options] MANIFEST.json OUT.fct
//   convert_tfjs --list MANIFEST.json
//
// MANIFEST.json is either a bare weights manifest (a JSON array of groups,
// as face-api ships `*-weights_manifest.json`) or a TF.js layers/graph
// model (an object whose "weightsManifest" member is that array). Each
// group names its shard files ("paths", relative to the manifest's folder)
// and its tensors ("weights"); a group's tensors lie back to back, in list
// order, in the concatenation of its shards.
//
// Tensors keep their manifest names and shapes (TF layouts: convolution
// filters HWIO, depthwise HWC1, dense [in, out]); the networks in nn/
// rearrange them at load. Decoding follows tfjs-core's decodeWeight:
//   float32                      stored as is
//   float32 + uint8/uint16 quant q * scale + min, evaluated in double (the
//                                JSON numbers are doubles) and rounded once
//                                to float32; an all-float32 evaluation
//                                differs in the last bit for most values
//   float32 + float16 quant      widened exactly; written as float16
//                                unless --f32 is given
//   int32                        stored as float32 (must be exact, |v| <=
//                                2^24)
//   int32 + uint8/uint16 quant   Math.round(q * scale + min), then as int32
//   bool                         0 or 1
//   string                       skipped (length-prefixed bytes, walked over)
//   any dtype with a zero dim    skipped (no data)
//
// Options (metadata, FORMAT.md "Reserved keys"):
//   --name NAME            model name (default: the manifest file name
//                          without "-weights_manifest.json" or ".json")
//   --source TEXT          where the weights come from (required)
//   --license TEXT         their licence (required)
//   --input-shape C,H,W    network input
//   --channel-order RGB|BGR|GRAY
//   --mean V,...           per-channel mean subtracted from 0..255 input
//   --std V,...            per-channel divisor applied after the mean
//   --meta-str KEY=TEXT    any further metadata (repeatable)
//   --meta-i64 KEY=V,...
//   --meta-f64 KEY=V,...
//   --f32                  widen float16 tensors to float32
//
// ref: tfjs-core src/io/io_utils.ts (decodeWeights, decodeWeight) and
//      src/io/types.ts (WeightsManifestConfig, WeightsManifestEntry)
// ref: weights/FORMAT.md (the output format)
//
// Limitations:
// - complex64 tensors are rejected; string tensors and tensors with a
//   zero dim (no data) are skipped, with a note on stderr.
// - Shards are read whole into memory (capped at CONV_MAX_GROUP bytes per
//   group); the models facet uses are a few MB.
// - Host must be little-endian, as the shard data and the .fct are.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../linalg/base.h"
#include "../../weights/weights.h"
#include "convert_io.h"

// Sanity caps on what a manifest may ask for.
#define CONV_MAX_JSON (64u << 20)        // manifest file bytes
#define CONV_MAX_GROUP (UINT64_C(2) << 30)  // bytes of one group's shards
#define CONV_MAX_META 64                 // --meta-* options
#define CONV_MAX_VALUES 64               // numbers in one list option

typedef enum tfjs_dtype {
    TFJS_FLOAT32, TFJS_INT32, TFJS_BOOL, TFJS_STRING, TFJS_COMPLEX64
} tfjs_dtype;

typedef enum tfjs_quant {
    QUANT_NONE, QUANT_UINT8, QUANT_UINT16, QUANT_FLOAT16
} tfjs_quant;

// One tensor entry of a manifest group.
typedef struct tfjs_spec {
    const char *name;
    int ndim;
    int64_t dims[WT_MAX_DIMS];
    size_t count;
    tfjs_dtype dtype;
    tfjs_quant quant;
    double scale, min;
} tfjs_spec;

// Bytes per stored element.
static size_t stored_size(const tfjs_spec *s)
{
    static const size_t quant_bytes[] = {0, 1, 2, 2};
    static const size_t dtype_bytes[] = {4, 4, 1, 0, 8};

    return s->quant != QUANT_NONE ? quant_bytes[s->quant]
                                  : dtype_bytes[s->dtype];
}

// ---------------------------------------------------------------------------
// Files

// The folder part of `path` ("" or ending in '/'), into dst.
static void folder_of(char *dst, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path + 1) : 0;

    if (n >= cap)
        n = 0;
    memcpy(dst, path, n);
    dst[n] = 0;
}

// ---------------------------------------------------------------------------
// Manifest parsing

static const char *dtype_names[] = {"float32", "int32", "bool", "string",
                                    "complex64"};
static const char *quant_names[] = {"none", "uint8", "uint16", "float16"};

// Parse and validate one entry of a group's "weights" array.
static facet_status parse_spec(tfjs_spec *s, const cJSON *w,
                               const char *path, int index)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    const cJSON *d;
    size_t count = 1;
    int i = 0;

    memset(s, 0, sizeof *s);

    // Name and dtype.
    if (!cJSON_IsObject(w) || !cJSON_IsString(name) ||
        !cJSON_IsString(dtype))
        return facet_fail(FACET_E_FORMAT, "%s: weight %d lacks a string "
                          "'name' or 'dtype'", path, index);
    s->name = name->valuestring;
    if (!s->name[0] || strlen(s->name) > WT_MAX_NAME)
        return facet_fail(FACET_E_FORMAT, "%s: weight %d: name empty or "
                          "longer than %d bytes", path, index, WT_MAX_NAME);
    for (i = 0; i < 5; i++)
        if (!strcmp(dtype->valuestring, dtype_names[i]))
            break;
    if (i == 5)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s': unknown "
                          "dtype '%s'", path, s->name, dtype->valuestring);
    s->dtype = (tfjs_dtype)i;

    // Shape: integers >= 0, at most WT_MAX_DIMS of them.
    if (!cJSON_IsArray(shape))
        return facet_fail(FACET_E_FORMAT, "%s: weight '%s' lacks a 'shape' "
                          "array", path, s->name);
    i = 0;
    cJSON_ArrayForEach(d, shape) {
        double v = d->valuedouble;
        if (i == WT_MAX_DIMS)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s' has "
                              "more than %d dims", path, s->name,
                              WT_MAX_DIMS);
        if (!cJSON_IsNumber(d) || v < 0 || v > (double)WT_MAX_DIM ||
            v != floor(v))
            return facet_fail(FACET_E_FORMAT, "%s: weight '%s': dim %d is "
                              "not an integer in 0..%lld", path, s->name, i,
                              (long long)WT_MAX_DIM);
        s->dims[i] = (int64_t)v;
        if (!facet_size_mul(&count, count, (size_t)s->dims[i]))
            return facet_fail(FACET_E_TOO_LARGE, "%s: weight '%s': element "
                              "count overflows", path, s->name);
        i++;
    }
    s->ndim = i;
    s->count = count;

    // Quantization: uint8/uint16 with scale and min, or float16.
    s->quant = QUANT_NONE;
    if (q) {
        const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
        const cJSON *scale = cJSON_GetObjectItemCaseSensitive(q, "scale");
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(q, "min");
        if (!cJSON_IsObject(q) || !cJSON_IsString(qd))
            return facet_fail(FACET_E_FORMAT, "%s: weight '%s': "
                              "'quantization' lacks a string 'dtype'", path,
                              s->name);
        for (i = 1; i < 4; i++)
            if (!strcmp(qd->valuestring, quant_names[i]))
                break;
        if (i == 4)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s': "
                              "unknown quantization '%s'", path, s->name,
                              qd->valuestring);
        s->quant = (tfjs_quant)i;
        if (s->quant != QUANT_FLOAT16) {
            if (!cJSON_IsNumber(scale) || !cJSON_IsNumber(min) ||
                !isfinite(scale->valuedouble) || !isfinite(min->valuedouble))
                return facet_fail(FACET_E_FORMAT, "%s: weight '%s': %s "
                                  "quantization needs finite 'scale' and "
                                  "'min'", path, s->name, qd->valuestring);
            s->scale = scale->valuedouble;
            s->min = min->valuedouble;
        }
        if ((s->quant == QUANT_FLOAT16 && s->dtype != TFJS_FLOAT32) ||
            (s->dtype != TFJS_FLOAT32 && s->dtype != TFJS_INT32))
            return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s': %s "
                              "quantization of a %s tensor", path, s->name,
                              qd->valuestring, dtype_names[s->dtype]);
    }
    if (s->dtype == TFJS_COMPLEX64)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s': complex64 "
                          "tensors are not supported", path, s->name);
    return FACET_OK;
}

// The group array of a manifest: the document itself, or its
// "weightsManifest" member.
static const cJSON *manifest_groups(const cJSON *doc)
{
    if (cJSON_IsArray(doc))
        return doc;
    if (cJSON_IsObject(doc)) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(doc,
                                                          "weightsManifest");
        if (cJSON_IsArray(g))
            return g;
    }
    return NULL;
}

// Concatenate the shards of a group into one malloc'ed buffer.
static facet_status load_group(unsigned char **out, size_t *size,
                               const cJSON *paths, const char *folder,
                               const char *manifest)
{
    const cJSON *p;
    unsigned char *all = NULL;
    size_t total = 0;
    facet_status st;

    *out = NULL;
    *size = 0;
    if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) < 1)
        return facet_fail(FACET_E_FORMAT, "%s: a group lacks its 'paths' "
                          "array", manifest);
    cJSON_ArrayForEach(p, paths) {
        char file[4096];
        uint8_t *shard;
        unsigned char *grown;
        size_t n;
        if (!cJSON_IsString(p) || !p->valuestring[0] ||
            p->valuestring[0] == '/') {
            st = facet_fail(FACET_E_FORMAT, "%s: shard path must be a "
                            "relative file name", manifest);
            goto fail;
        }
        if ((size_t)snprintf(file, sizeof file, "%s%s", folder,
                             p->valuestring) >= sizeof file) {
            st = facet_fail(FACET_E_ARG, "%s: shard path too long",
                            manifest);
            goto fail;
        }
        st = cv_read_file(&shard, &n, file, CONV_MAX_GROUP - total);
        if (st != FACET_OK)
            goto fail;
        grown = realloc(all, total + n + 1);
        if (!grown) {
            facet_free(shard);
            st = facet_fail(FACET_E_NOMEM, "%s: out of memory", file);
            goto fail;
        }
        all = grown;
        memcpy(all + total, shard, n);
        total += n;
        facet_free(shard);
    }
    *out = all;
    *size = total;
    return FACET_OK;
fail:
    free(all);
    return st;
}

// Little-endian loads.
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

// Decode `s` from `src` (its stored bytes) into dst (s->count floats).
static facet_status decode(float *dst, const tfjs_spec *s,
                           const unsigned char *src, const char *manifest)
{
    size_t n = s->count;

    if (s->quant == QUANT_UINT8 || s->quant == QUANT_UINT16) {
        // q * scale + min in double, as JS evaluates it; int32 tensors
        // round like Math.round (half up).
        for (size_t i = 0; i < n; i++) {
            double q = s->quant == QUANT_UINT8 ? src[i] : le16(src + 2 * i);
            double v = q * s->scale + s->min;
            if (s->dtype == TFJS_INT32) {
                v = floor(v + 0.5);
                if (fabs(v) > 16777216.0)
                    return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s' "
                                      "holds int32 %.0f, not exact in "
                                      "float32", manifest, s->name, v);
            }
            dst[i] = (float)v;
        }
        return FACET_OK;
    }
    if (s->quant == QUANT_FLOAT16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = le16(src + 2 * i);
            wt_f16_to_f32(dst + i, &h, 1);
        }
        return FACET_OK;
    }
    switch (s->dtype) {
    case TFJS_FLOAT32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = le32(src + 4 * i);
            memcpy(dst + i, &u, 4);
        }
        break;
    case TFJS_INT32:
        for (size_t i = 0; i < n; i++) {
            int32_t v = (int32_t)le32(src + 4 * i);
            if (v > 16777216 || v < -16777216)
                return facet_fail(FACET_E_UNSUPPORTED, "%s: weight '%s' "
                                  "holds int32 %ld, not exact in float32",
                                  manifest, s->name, (long)v);
            dst[i] = (float)v;
        }
        break;
    case TFJS_BOOL:
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] ? 1.0f : 0.0f;
        break;
    default:
        FACET_ASSERT(0);
    }
    return FACET_OK;
}

// Stored bytes of a string tensor starting at `at` within `size`: each
// element is a uint32 length and that many bytes.
static facet_status string_bytes(size_t *bytes, const tfjs_spec *s,
                                 const unsigned char *data, size_t at,
                                 size_t size, const char *manifest)
{
    size_t pos = at;

    for (size_t i = 0; i < s->count; i++) {
        uint32_t len;
        if (size - pos < 4)
            goto truncated;
        len = le32(data + pos);
        pos += 4;
        if (size - pos < len)
            goto truncated;
        pos += len;
    }
    *bytes = pos - at;
    return FACET_OK;
truncated:
    return facet_fail(FACET_E_CORRUPT, "%s: string weight '%s' runs past "
                      "the end of its shards", manifest, s->name);
}

// ---------------------------------------------------------------------------
// Conversion

typedef struct meta_opt {
    const char *key;    // points into argv (NUL at '=' is written there)
    const char *value;
    wt_type type;
} meta_opt;

typedef struct options {
    const char *manifest, *out;
    const char *name, *source, *license, *channel_order;
    const char *input_shape, *mean, *std;
    meta_opt meta[CONV_MAX_META];
    int meta_count;
    int keep_f16;
    int list;
} options;

// Parse "a,b,c" into up to `cap` doubles.
static int parse_list(double *v, int cap, const char *text)
{
    int n = 0;
    const char *p = text;

    while (*p) {
        char *end;
        if (n == cap)
            return -1;
        errno = 0;
        v[n] = strtod(p, &end);
        if (end == p || errno || !isfinite(v[n]))
            return -1;
        n++;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static facet_status write_list_meta(wt_writer *wr, const char *key,
                                    const char *text, wt_type type)
{
    double v[CONV_MAX_VALUES];
    int n = parse_list(v, CONV_MAX_VALUES, text);

    if (n <= 0)
        return facet_fail(FACET_E_ARG, "metadata '%s': '%s' is not a list "
                          "of numbers", key, text);
    if (type == WT_INT64) {
        int64_t iv[CONV_MAX_VALUES];
        for (int i = 0; i < n; i++) {
            if (v[i] != floor(v[i]) || fabs(v[i]) > 9.0e15)
                return facet_fail(FACET_E_ARG, "metadata '%s': %g is not "
                                  "an integer", key, v[i]);
            iv[i] = (int64_t)v[i];
        }
        return wt_writer_meta(wr, key, WT_INT64, (size_t)n, iv);
    }
    if (type == WT_FLOAT32) {
        float fv[CONV_MAX_VALUES];
        for (int i = 0; i < n; i++)
            fv[i] = (float)v[i];
        return wt_writer_meta(wr, key, WT_FLOAT32, (size_t)n, fv);
    }
    return wt_writer_meta(wr, key, WT_FLOAT64, (size_t)n, v);
}

// Check the metadata options before reading the model, by the rules the
// weight format puts on the reserved keys (FORMAT.md "Reserved keys"), so
// that a mistake is reported as the option's, not the output file's.
static facet_status check_options(const options *o)
{
    static const char *const reserved[] = {
        "name", "source", "license", "source_format", "input_shape",
        "channel_order", "mean", "std"};
    double v[CONV_MAX_VALUES];
    int c = 0, n;

    if (!o->source[0] || !o->license[0])
        return facet_fail(FACET_E_ARG, "--source and --license must not be "
                          "empty");
    if (o->name && (!o->name[0] || strlen(o->name) > WT_MAX_NAME))
        return facet_fail(FACET_E_ARG, "--name must be 1..%d bytes",
                          WT_MAX_NAME);

    // --input-shape C,H,W: 1 <= C <= 64, 0 <= H, W <= 65536, integers.
    if (o->input_shape) {
        n = parse_list(v, CONV_MAX_VALUES, o->input_shape);
        if (n != 3 || v[0] < 1 || v[0] > 64 || v[1] < 0 || v[1] > 65536 ||
            v[2] < 0 || v[2] > 65536 || v[0] != floor(v[0]) ||
            v[1] != floor(v[1]) || v[2] != floor(v[2]))
            return facet_fail(FACET_E_ARG, "--input-shape '%s': want C,H,W "
                              "integers, 1 <= C <= 64, 0 <= H, W <= 65536",
                              o->input_shape);
        c = (int)v[0];
    }

    // --channel-order: RGB or BGR for 3 channels, GRAY for 1.
    if (o->channel_order) {
        const char *s = o->channel_order;
        int want = !strcmp(s, "GRAY") ? 1 :
                   (!strcmp(s, "RGB") || !strcmp(s, "BGR")) ? 3 : 0;
        if (!want)
            return facet_fail(FACET_E_ARG, "--channel-order '%s': want RGB, "
                              "BGR or GRAY", s);
        if (c && c != want)
            return facet_fail(FACET_E_ARG, "--channel-order %s does not "
                              "match the %d channels of --input-shape", s, c);
    }

    // --mean, --std: C finite values each (std > 0); C from --input-shape.
    for (int k = 0; k < 2; k++) {
        const char *text = k ? o->std : o->mean;
        const char *opt = k ? "--std" : "--mean";
        if (!text)
            continue;
        if (!c)
            return facet_fail(FACET_E_ARG, "%s needs --input-shape (one "
                              "value per channel)", opt);
        n = parse_list(v, CONV_MAX_VALUES, text);
        if (n != c)
            return facet_fail(FACET_E_ARG, "%s '%s': want %d numbers, one "
                              "per channel of --input-shape", opt, text, c);
        for (int i = 0; i < n; i++)
            if (k && !(v[i] > 0))
                return facet_fail(FACET_E_ARG, "%s '%s': value %d (%g) is "
                                  "not > 0", opt, text, i, v[i]);
    }

    // --meta-*: keys not reserved nor repeated; numbers that parse.
    for (int i = 0; i < o->meta_count; i++) {
        const meta_opt *m = &o->meta[i];
        const char *opt = m->type == WT_STRING  ? "--meta-str"
                          : m->type == WT_INT64 ? "--meta-i64"
                                                : "--meta-f64";
        for (size_t r = 0; r < sizeof reserved / sizeof *reserved; r++)
            if (!strcmp(m->key, reserved[r]))
                return facet_fail(FACET_E_ARG, "%s %s=...: '%s' is a "
                                  "reserved key (use its own option)", opt,
                                  m->key, m->key);
        for (int j = 0; j < i; j++)
            if (!strcmp(m->key, o->meta[j].key))
                return facet_fail(FACET_E_ARG, "%s %s=...: key given "
                                  "twice", opt, m->key);
        if (m->type == WT_STRING)
            continue;
        n = parse_list(v, CONV_MAX_VALUES, m->value);
        if (n <= 0)
            return facet_fail(FACET_E_ARG, "%s %s=%s: not a list of at most "
                              "%d numbers", opt, m->key, m->value,
                              CONV_MAX_VALUES);
        for (int j = 0; m->type == WT_INT64 && j < n; j++)
            if (v[j] != floor(v[j]) || fabs(v[j]) > 9.0e15)
                return facet_fail(FACET_E_ARG, "%s %s=%s: %g is not an "
                                  "integer", opt, m->key, m->value, v[j]);
    }
    return FACET_OK;
}

// The default model name: the manifest's file name without its suffix.
static void default_name(char *dst, size_t cap, const char *manifest)
{
    const char *base = strrchr(manifest, '/');
    static const char *const suffix[] = {"-weights_manifest.json",
                                         "_weights_manifest.json", ".json"};
    size_t n;

    base = base ? base + 1 : manifest;
    n = strlen(base);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suffix[i]);
        if (n > k && !strcmp(base + n - k, suffix[i])) {
            n -= k;
            break;
        }
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, base, n);
    dst[n] = 0;
}

static facet_status write_metadata(wt_writer *wr, const options *o)
{
    char name[WT_MAX_NAME + 1];
    facet_status st;

    if (o->name)
        snprintf(name, sizeof name, "%s", o->name);
    else
        default_name(name, sizeof name, o->manifest);
    st = wt_writer_meta_str(wr, "name", name);
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "source", o->source);
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "license", o->license);
    if (st == FACET_OK)
        st = wt_writer_meta_str(wr, "source_format", "tfjs");
    if (st == FACET_OK && o->input_shape)
        st = write_list_meta(wr, "input_shape", o->input_shape, WT_INT64);
    if (st == FACET_OK && o->channel_order)
        st = wt_writer_meta_str(wr, "channel_order", o->channel_order);
    if (st == FACET_OK && o->mean)
        st = write_list_meta(wr, "mean", o->mean, WT_FLOAT32);
    if (st == FACET_OK && o->std)
        st = write_list_meta(wr, "std", o->std, WT_FLOAT32);
    for (int i = 0; st == FACET_OK && i < o->meta_count; i++) {
        const meta_opt *m = &o->meta[i];
        st = m->type == WT_STRING
                 ? wt_writer_meta_str(wr, m->key, m->value)
                 : write_list_meta(wr, m->key, m->value, m->type);
    }
    return st;
}

typedef struct tally {
    size_t tensors, skipped, quantized, half;
    uint64_t params;
} tally;

// Walk every group and tensor: decode each and hand it to the writer (or,
// with wr NULL, print it).
static facet_status convert_groups(wt_writer *wr, tally *t,
                                   const cJSON *groups, const options *o)
{
    char folder[4096];
    const cJSON *g;
    int gi = 0;

    folder_of(folder, sizeof folder, o->manifest);
    memset(t, 0, sizeof *t);
    cJSON_ArrayForEach(g, groups) {
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(g, "weights");
        const cJSON *w;
        unsigned char *data;
        size_t size, at = 0;
        int wi = 0;
        facet_status st;

        // The group's bytes.
        if (!cJSON_IsObject(g) || !cJSON_IsArray(weights))
            return facet_fail(FACET_E_FORMAT, "%s: group %d lacks a "
                              "'weights' array", o->manifest, gi);
        st = load_group(&data, &size,
                        cJSON_GetObjectItemCaseSensitive(g, "paths"), folder,
                        o->manifest);
        if (st != FACET_OK)
            return st;

        // Its tensors, back to back.
        cJSON_ArrayForEach(w, weights) {
            tfjs_spec s;
            size_t bytes = 0;
            float *values;
            st = parse_spec(&s, w, o->manifest, wi);
            if (st != FACET_OK)
                break;
            if (s.dtype == TFJS_STRING || s.count == 0) {
                // Strings have no float form; an empty tensor has no data
                // (the .fct format wants dims >= 1). Both are skipped.
                bytes = 0;
                if (s.dtype == TFJS_STRING)
                    st = string_bytes(&bytes, &s, data, at, size,
                                      o->manifest);
                if (st != FACET_OK)
                    break;
                at += bytes;
                t->skipped++;
                if (!wr)
                    printf("%-60s %s (skipped)\n", cv_safe(s.name),
                           s.count ? "string" : "empty");
                wi++;
                continue;
            }
            if (!facet_size_mul(&bytes, s.count, stored_size(&s)) ||
                bytes > size - at) {
                st = facet_fail(FACET_E_CORRUPT, "%s: weight '%s' (%zu "
                                "bytes at offset %zu) runs past the end of "
                                "group %d's %zu shard bytes", o->manifest,
                                s.name, bytes, at, gi, size);
                break;
            }
            if (!wr) {
                printf("%-60s %s[", cv_safe(s.name),
                       dtype_names[s.dtype]);
                for (int i = 0; i < s.ndim; i++)
                    printf(i ? ",%lld" : "%lld", (long long)s.dims[i]);
                printf("] %s @%zu\n", quant_names[s.quant], at);
            } else {
                values = malloc(s.count ? s.count * sizeof *values : 1);
                if (!values) {
                    st = facet_fail(FACET_E_NOMEM, "out of memory");
                    break;
                }
                st = decode(values, &s, data + at, o->manifest);
                if (st == FACET_OK)
                    st = wt_writer_tensor(wr, s.name,
                                          s.quant == QUANT_FLOAT16 &&
                                                  o->keep_f16
                                              ? WT_F16 : WT_F32,
                                          s.ndim, s.dims, values);
                free(values);
                if (st != FACET_OK)
                    break;
            }
            t->tensors++;
            t->params += s.count;
            t->quantized += s.quant == QUANT_UINT8 ||
                            s.quant == QUANT_UINT16;
            t->half += s.quant == QUANT_FLOAT16;
            at += bytes;
            wi++;
        }
        if (st == FACET_OK && at != size)
            st = facet_fail(FACET_E_CORRUPT, "%s: group %d's shards hold "
                            "%zu bytes, its tensors use %zu", o->manifest,
                            gi, size, at);
        free(data);
        if (st != FACET_OK)
            return st;
        gi++;
    }
    if (t->tensors == 0)
        return facet_fail(FACET_E_FORMAT, "%s: no tensors", o->manifest);
    return FACET_OK;
}

static facet_status run(const options *o)
{
    uint8_t *text;
    size_t size;
    cJSON *doc;
    const cJSON *groups;
    wt_writer *wr = NULL;
    tally t;
    facet_status st;

    // The manifest.
    st = cv_read_file(&text, &size, o->manifest, CONV_MAX_JSON);
    if (st != FACET_OK)
        return st;
    doc = cJSON_ParseWithLength((const char *)text, size);
    facet_free(text);
    if (!doc)
        return facet_fail(FACET_E_FORMAT, "%s: not valid JSON",
                          o->manifest);
    groups = manifest_groups(doc);
    if (!groups) {
        cJSON_Delete(doc);
        return facet_fail(FACET_E_FORMAT, "%s: neither a weights manifest "
                          "array nor an object with 'weightsManifest'",
                          o->manifest);
    }

    // List, or convert.
    if (o->list) {
        st = convert_groups(NULL, &t, groups, o);
    } else {
        st = wt_writer_create(&wr, o->out);
        if (st == FACET_OK)
            st = write_metadata(wr, o);
        if (st == FACET_OK)
            st = convert_groups(wr, &t, groups, o);
        if (st == FACET_OK)
            st = wt_writer_finish(wr);
        else
            wt_writer_free(wr);
    }
    cJSON_Delete(doc);
    if (st == FACET_OK)
        fprintf(stderr, "convert_tfjs: %s%s%s: %zu tensors (%zu "
                "uint8/uint16-quantized, %zu float16), %llu parameters%s\n",
                o->manifest, o->list ? "" : " -> ", o->list ? "" : o->out,
                t.tensors, t.quantized, t.half,
                (unsigned long long)t.params,
                t.skipped ? ", string or empty tensors skipped" : "");
    return st;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: convert_tfjs [options] MANIFEST.json OUT.fct\n"
            "       convert_tfjs --list MANIFEST.json\n"
            "required: --source TEXT --license TEXT\n"
            "options:  --name NAME\n"
            "          --input-shape C,H,W --channel-order RGB|BGR|GRAY\n"
            "          --mean V,... --std V,...\n"
            "          --meta-str KEY=TEXT --meta-i64 KEY=V,... "
            "--meta-f64 KEY=V,...\n"
            "          --f32 (widen float16 tensors)\n");
}

int main(int argc, char **argv)
{
    options o;
    const char *pos[2];
    int npos = 0;
    facet_status st;

    memset(&o, 0, sizeof o);
    o.keep_f16 = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        wt_type mt = WT_STRING;
        int is_meta = 0;

        if (!strcmp(a, "--list")) {
            o.list = 1;
            continue;
        }
        if (!strcmp(a, "--f32")) {
            o.keep_f16 = 0;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--name"))
            val = &o.name;
        else if (!strcmp(a, "--source"))
            val = &o.source;
        else if (!strcmp(a, "--license"))
            val = &o.license;
        else if (!strcmp(a, "--input-shape"))
            val = &o.input_shape;
        else if (!strcmp(a, "--channel-order"))
            val = &o.channel_order;
        else if (!strcmp(a, "--mean"))
            val = &o.mean;
        else if (!strcmp(a, "--std"))
            val = &o.std;
        else if (!strcmp(a, "--meta-str"))
            is_meta = 1, mt = WT_STRING;
        else if (!strcmp(a, "--meta-i64"))
            is_meta = 1, mt = WT_INT64;
        else if (!strcmp(a, "--meta-f64"))
            is_meta = 1, mt = WT_FLOAT64;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "convert_tfjs: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            if (npos == 2) {
                usage(stderr);
                return 2;
            }
            pos[npos++] = a;
            continue;
        }

        // Options that take a value.
        if (i + 1 >= argc) {
            fprintf(stderr, "convert_tfjs: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (val) {
            *val = argv[i];
        } else if (is_meta) {
            char *eq = strchr(argv[i], '=');
            if (!eq || eq == argv[i] || o.meta_count == CONV_MAX_META) {
                fprintf(stderr, "convert_tfjs: %s wants KEY=VALUE (at most "
                        "%d)\n", a, CONV_MAX_META);
                return 2;
            }
            *eq = 0;
            o.meta[o.meta_count].key = argv[i];
            o.meta[o.meta_count].value = eq + 1;
            o.meta[o.meta_count].type = mt;
            o.meta_count++;
        }
    }
    if (npos != (o.list ? 1 : 2) ||
        (!o.list && (!o.source || !o.license))) {
        if (!o.list && npos == 2)
            fprintf(stderr, "convert_tfjs: --source and --license are "
                    "required\n");
        usage(stderr);
        return 2;
    }
    o.manifest = pos[0];
    o.out = o.list ? NULL : pos[1];
    if (!o.list && check_options(&o) != FACET_OK) {
        cv_report_error("convert_tfjs");
        return 2;
    }

    st = run(&o);
    if (st != FACET_OK) {
        cv_report_error("convert_tfjs");
        return 1;
    }
    return 0;
}

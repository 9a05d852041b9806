// convert_dlib.c - reads a dlib shape_predictor file (dlib's serialisation
// of an ensemble-of-regression-trees landmark model, e.g.
// shape_predictor_68_face_landmarks.dat) and writes it as a facet weight
// file for face/landmarks.c.
//
//   convert_dlib MODEL.dat OUT.fct
//
// Two halves:
// - A reader for dlib's serialisation of shape_predictor: the variable-
//   length integers, floats as (mantissa, exponent) pairs, std::vector,
//   dlib::matrix<float,0,1> and dlib::vector<float,2>, in the field order of
//   dlib's deserialize(shape_predictor&). Every count is checked against a
//   cap and against the bytes left before anything is allocated, and every
//   index and value is validated, so a truncated or corrupt file gives an
//   error naming the file, the field and the byte offset.
// - The writer: the model as tensors (face/landmarks.h lists them, with
//   their shapes) and metadata in one .fct file.
//
// The reader is also compiled into tests/test_landmarks.c, which includes
// this file with CONVERT_DLIB_NO_MAIN defined and feeds it synthetic and
// damaged files.
//
// ref: dlib/serialize.h (integer and float encodings, std::vector)
// ref: dlib/float_details.h (mantissa * 2^exponent; 32000/32001/32002 for
//      +inf/-inf/NaN)
// ref: dlib/matrix/matrix.h (matrix: rows, columns, negated in the current
//      format, then the elements row by row)
// ref: dlib/image_processing/shape_predictor.h (field order; split_feature
//      and regression_tree layouts)
// ref: method-spec section 7.3
//
// Limitations:
// - Every tree must have the same depth and every cascade the same number
//   of trees and feature pixels (true of dlib's released models; dlib
//   itself allows ragged ones). Ragged files are rejected with a message.
// - The old ASCII float encoding of very early dlib versions is rejected.
// - The whole source file is read into memory (100 MB for the 68-point
//   model).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../linalg/base.h"
#include "../../weights/weights.h"
#include "convert_io.h"

// Sanity caps for sizes read from a file (the 68-point model has 15
// cascades of 500 trees of depth 5, 400 feature pixels, 68 parts).
#define DLIB_MAX_CASCADES 1000
#define DLIB_MAX_TREES 100000
#define DLIB_MAX_SPLITS 65535       // per tree (depth <= 15)
#define DLIB_MAX_PARTS 100000
#define DLIB_MAX_FEATURES 100000    // feature pixels per cascade
#define DLIB_MAX_FILE (UINT64_C(4) << 30)

// The model in flat arrays. With T cascades of K trees of S splits
// (S + 1 leaves), P feature pixels per cascade and L parts:
typedef struct dlib_sp {
    int parts;           // L
    int cascades;        // T
    int trees;           // K, per cascade
    int splits;          // S, per tree (2^depth - 1)
    int features;        // P, per cascade
    float *mean_shape;   // L x 2: x, y in the unit box
    float *split_idx;    // T x K x S x 2: feature indices idx1, idx2
    float *split_thresh; // T x K x S
    float *leaves;       // T x K x (S + 1) x L x 2
    float *anchor_idx;   // T x P: part index of each feature pixel
    float *deltas;       // T x P x 2: offset from its anchor part
} dlib_sp;

static void dlib_sp_free(dlib_sp *sp)
{
    free(sp->mean_shape);
    free(sp->split_idx);
    free(sp->split_thresh);
    free(sp->leaves);
    free(sp->anchor_idx);
    free(sp->deltas);
    memset(sp, 0, sizeof(*sp));
}

// ---------------------------------------------------------------------------
// Primitive decoding (dlib/serialize.h).

typedef struct reader {
    const uint8_t *base, *p, *end;
    const char *name;  // the file, for error details
} reader;

static facet_status bad(const reader *r, const char *what, const char *why)
{
    return facet_fail(FACET_E_CORRUPT, "%s: offset %zu: %s: %s", r->name,
                      (size_t)(r->p - r->base), what, why);
}

// The magnitude bytes after a control byte: n bytes, little-endian.
static facet_status magnitude(uint64_t *out, reader *r, int n,
                              const char *what)
{
    uint64_t v = 0;

    if ((size_t)(r->end - r->p) < (size_t)n)
        return bad(r, what, "file truncated");
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | r->p[i];
    r->p += n;
    *out = v;
    return FACET_OK;
}

// An unsigned integer of at most `max_bytes` bytes (8 for unsigned long).
// dlib masks the control byte with 0x8F, so a sign bit makes the size
// invalid.
static facet_status read_uint(uint64_t *out, reader *r, int max_bytes,
                              const char *what)
{
    int c;

    if (r->p >= r->end)
        return bad(r, what, "file truncated");
    c = *r->p & 0x8F;
    if (c == 0 || c > max_bytes)
        return bad(r, what, "invalid unsigned integer control byte");
    r->p++;
    return magnitude(out, r, c, what);
}

// A signed integer of `bytes` bytes (2 for int16, 4 for int, 8 for long).
// Magnitudes that do not fit the type are rejected (dlib would wrap).
static facet_status read_int(int64_t *out, reader *r, int bytes,
                             const char *what)
{
    uint64_t m = 0;
    int c, neg;
    facet_status s;

    if (r->p >= r->end)
        return bad(r, what, "file truncated");
    c = *r->p;
    neg = (c & 0x80) != 0;
    c &= 0x0F;
    if (c == 0 || c > bytes)
        return bad(r, what, "invalid signed integer control byte");
    r->p++;
    if ((s = magnitude(&m, r, c, what)) != FACET_OK)
        return s;
    if (m > (UINT64_C(1) << (8 * bytes - 1)) - (neg ? 0 : 1))
        return bad(r, what, "integer out of range for its type");
    if (m == 0)
        *out = 0;
    else
        *out = neg ? -(int64_t)(m - 1) - 1 : (int64_t)m;
    return FACET_OK;
}

// A float: int64 mantissa then int16 exponent (dlib/float_details.h),
// rebuilt as dlib does for float, ldexp((float)mantissa, exponent).
static facet_status read_float(float *out, reader *r, const char *what)
{
    int64_t mant, ex;
    facet_status s;

    if (r->p < r->end && (*r->p & 0x70) != 0)
        return bad(r, what, "old ASCII float encoding is not supported");
    if ((s = read_int(&mant, r, 8, what)) != FACET_OK ||
        (s = read_int(&ex, r, 2, what)) != FACET_OK)
        return s;
    if (ex < 32000)
        *out = ldexpf((float)mant, (int)ex);
    else if (ex == 32000)
        *out = INFINITY;
    else if (ex == 32001)
        *out = -INFINITY;
    else
        *out = NAN;
    return FACET_OK;
}

// A finite float.
static facet_status read_finite(float *out, reader *r, const char *what)
{
    facet_status s = read_float(out, r, what);

    if (s == FACET_OK && !isfinite(*out))
        return bad(r, what, "value is not finite");
    return s;
}

// A std::vector count, capped, and checked against the bytes left given
// the least number of bytes one element can take.
static facet_status read_count(uint64_t *out, reader *r, uint64_t cap,
                               uint64_t min_elem_bytes, const char *what)
{
    facet_status s = read_uint(out, r, 8, what);

    if (s != FACET_OK)
        return s;
    if (*out > cap)
        return bad(r, what, "count exceeds its sanity cap");
    if (*out > (uint64_t)(r->end - r->p) / min_elem_bytes)
        return bad(r, what, "count exceeds what the file can hold");
    return FACET_OK;
}

// The header of a dlib::matrix<float,0,1>: returns its length. dlib
// negates both dimensions in the current format and accepts either form.
static facet_status read_colvec_len(uint64_t *len, reader *r, uint64_t cap,
                                    const char *what)
{
    int64_t nr, nc;
    facet_status s;

    if ((s = read_int(&nr, r, 8, what)) != FACET_OK ||
        (s = read_int(&nc, r, 8, what)) != FACET_OK)
        return s;
    if (nr < 0 || nc < 0) {
        nr = -nr;
        nc = -nc;
    }
    if (nc != 1 || nr < 0)
        return bad(r, what, "not a column vector");
    if ((uint64_t)nr > cap)
        return bad(r, what, "length exceeds its sanity cap");
    // A float takes at least 4 bytes (two 2-byte integers).
    if ((uint64_t)nr > (uint64_t)(r->end - r->p) / 4)
        return bad(r, what, "length exceeds what the file can hold");
    *len = (uint64_t)nr;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// The shape_predictor fields.

// Allocate n floats (n > 0) or fail.
static facet_status alloc_floats(float **out, const reader *r, size_t a,
                                 size_t b, size_t c)
{
    size_t n, bytes;

    if (!facet_size_mul(&n, a, b) || !facet_size_mul(&n, n, c) ||
        !facet_size_mul(&bytes, n, sizeof(float)))
        return facet_fail(FACET_E_TOO_LARGE, "%s: model too large", r->name);
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory (%zu bytes)",
                          r->name, bytes);
    return FACET_OK;
}

// forests: vector (T) of vector (K) of regression_tree { vector of
// split_feature { idx1, idx2, thresh }, vector of leaf matrices }.
static facet_status read_forests(dlib_sp *sp, reader *r)
{
    uint64_t t_count, k_count, n;
    size_t two_l = (size_t)sp->parts * 2;
    facet_status s;

    // Smallest encodings: a split is 2 + 2 + 4 bytes, a tree 2 + 2 bytes.
    if ((s = read_count(&t_count, r, DLIB_MAX_CASCADES, 4, "forests")))
        return s;
    if (t_count == 0)
        return bad(r, "forests", "no cascades");
    sp->cascades = (int)t_count;

    for (int t = 0; t < sp->cascades; t++) {
        if ((s = read_count(&k_count, r, DLIB_MAX_TREES, 4, "forest")))
            return s;
        if (t == 0 && k_count == 0)
            return bad(r, "forest", "no trees");
        if (t > 0 && k_count != (uint64_t)sp->trees)
            return bad(r, "forest", "cascades differ in tree count");
        sp->trees = (int)k_count;

        for (int k = 0; k < sp->trees; k++) {
            size_t tree = (size_t)t * sp->trees + k;

            // splits: all trees alike; the first one fixes the size, and
            // the arrays are allocated once the whole model's minimum
            // encoded size is known to fit in the file.
            if ((s = read_count(&n, r, DLIB_MAX_SPLITS, 8, "tree splits")))
                return s;
            if (tree == 0) {
                uint64_t leaves = n + 1;
                double min_bytes;
                if ((leaves & (leaves - 1)) != 0)
                    return bad(r, "tree splits",
                               "split count + 1 is not a power of 2");
                sp->splits = (int)n;
                // In double: an estimate that cannot overflow.
                min_bytes = (double)t_count * (double)k_count *
                            ((double)n * 8 + (double)leaves * (4 + 4.0 *
                                                               two_l));
                if (min_bytes > (double)(r->end - r->p))
                    return bad(r, "forests",
                               "counts exceed what the file can hold");
                size_t trees_all = (size_t)t_count * (size_t)k_count;
                if ((s = alloc_floats(&sp->split_idx, r, trees_all,
                                      n ? n : 1, 2)) ||
                    (s = alloc_floats(&sp->split_thresh, r, trees_all,
                                      n ? n : 1, 1)) ||
                    (s = alloc_floats(&sp->leaves, r, trees_all, leaves,
                                      two_l)))
                    return s;
            } else if (n != (uint64_t)sp->splits) {
                return bad(r, "tree splits", "trees differ in depth");
            }
            for (int i = 0; i < sp->splits; i++) {
                size_t at = tree * sp->splits + i;
                uint64_t idx1, idx2;
                if ((s = read_uint(&idx1, r, 8, "split idx1")) ||
                    (s = read_uint(&idx2, r, 8, "split idx2")) ||
                    (s = read_finite(&sp->split_thresh[at], r,
                                     "split threshold")))
                    return s;
                // Checked against P once the anchors are read.
                if (idx1 >= DLIB_MAX_FEATURES || idx2 >= DLIB_MAX_FEATURES)
                    return bad(r, "split", "feature index too large");
                sp->split_idx[2 * at] = (float)idx1;
                sp->split_idx[2 * at + 1] = (float)idx2;
            }

            // leaf_values: S + 1 column vectors of length 2L.
            if ((s = read_count(&n, r, DLIB_MAX_SPLITS + 1, 4, "leaves")))
                return s;
            if (n != (uint64_t)sp->splits + 1)
                return bad(r, "leaves", "leaf count is not splits + 1");
            for (uint64_t j = 0; j < n; j++) {
                float *leaf = sp->leaves + (tree * n + j) * two_l;
                uint64_t len;
                if ((s = read_colvec_len(&len, r, 2 * DLIB_MAX_PARTS,
                                         "leaf value")))
                    return s;
                if (len != two_l)
                    return bad(r, "leaf value", "length is not 2 x parts");
                for (size_t e = 0; e < two_l; e++)
                    if ((s = read_finite(&leaf[e], r, "leaf value")))
                        return s;
            }
        }
    }
    return FACET_OK;
}

// anchor_idx: vector (T) of vector (P) of unsigned long; deltas: vector
// (T) of vector (P) of vector<float,2>.
static facet_status read_pixels(dlib_sp *sp, reader *r)
{
    uint64_t n, p_count;
    facet_status s;

    if ((s = read_count(&n, r, DLIB_MAX_CASCADES, 2, "anchor_idx")))
        return s;
    if (n != (uint64_t)sp->cascades)
        return bad(r, "anchor_idx", "count differs from the cascades");
    for (int t = 0; t < sp->cascades; t++) {
        if ((s = read_count(&p_count, r, DLIB_MAX_FEATURES, 2,
                            "anchor_idx")))
            return s;
        if (t == 0) {
            if (p_count == 0)
                return bad(r, "anchor_idx", "no feature pixels");
            sp->features = (int)p_count;
            if ((s = alloc_floats(&sp->anchor_idx, r, (size_t)sp->cascades,
                                  p_count, 1)))
                return s;
        } else if (p_count != (uint64_t)sp->features) {
            return bad(r, "anchor_idx", "cascades differ in pixel count");
        }
        for (int i = 0; i < sp->features; i++) {
            uint64_t a;
            if ((s = read_uint(&a, r, 8, "anchor index")))
                return s;
            if (a >= (uint64_t)sp->parts)
                return bad(r, "anchor index", "not a part index");
            sp->anchor_idx[(size_t)t * sp->features + i] = (float)a;
        }
    }

    if ((s = read_count(&n, r, DLIB_MAX_CASCADES, 2, "deltas")))
        return s;
    if (n != (uint64_t)sp->cascades)
        return bad(r, "deltas", "count differs from the cascades");
    if ((s = alloc_floats(&sp->deltas, r, (size_t)sp->cascades,
                          (size_t)sp->features, 2)))
        return s;
    for (int t = 0; t < sp->cascades; t++) {
        if ((s = read_count(&p_count, r, DLIB_MAX_FEATURES, 8, "deltas")))
            return s;
        if (p_count != (uint64_t)sp->features)
            return bad(r, "deltas", "count differs from the anchors");
        for (int i = 0; i < 2 * sp->features; i++)
            if ((s = read_finite(&sp->deltas[(size_t)t * 2 * sp->features
                                             + i], r, "delta")))
                return s;
    }
    return FACET_OK;
}

// Parse a whole shape_predictor from `size` bytes; `name` names the file
// in error details. On failure *sp is empty.
static facet_status dlib_sp_parse(dlib_sp *sp, const void *data, size_t size,
                                  const char *name)
{
    reader r = {data, data, (const uint8_t *)data + size, name};
    int64_t version;
    uint64_t len;
    facet_status s;

    memset(sp, 0, sizeof(*sp));

    // version, then initial_shape (2L floats: x0, y0, x1, y1, ...).
    if ((s = read_int(&version, &r, 4, "version")))
        goto fail;
    if (version != 1) {
        s = facet_fail(FACET_E_VERSION, "%s: shape_predictor version %lld,"
                       " only version 1 is known", name, (long long)version);
        goto fail;
    }
    if ((s = read_colvec_len(&len, &r, 2 * DLIB_MAX_PARTS, "initial_shape")))
        goto fail;
    if (len == 0 || len % 2 != 0) {
        s = bad(&r, "initial_shape", "length is not 2 x parts");
        goto fail;
    }
    sp->parts = (int)(len / 2);
    if ((s = alloc_floats(&sp->mean_shape, &r, len, 1, 1)))
        goto fail;
    for (uint64_t i = 0; i < len; i++)
        if ((s = read_finite(&sp->mean_shape[i], &r, "initial_shape")))
            goto fail;

    // forests, anchor_idx, deltas, and nothing after them.
    if ((s = read_forests(sp, &r)) || (s = read_pixels(sp, &r)))
        goto fail;
    if (r.p != r.end) {
        s = bad(&r, "end of model", "trailing bytes after the model");
        goto fail;
    }

    // Every split must name one of the cascade's feature pixels.
    for (size_t i = 0; i < (size_t)sp->cascades * sp->trees * sp->splits;
         i++) {
        if (sp->split_idx[2 * i] >= (float)sp->features ||
            sp->split_idx[2 * i + 1] >= (float)sp->features) {
            s = facet_fail(FACET_E_CORRUPT, "%s: split %zu uses feature "
                           "pixel %g or %g of only %d", name, i,
                           sp->split_idx[2 * i], sp->split_idx[2 * i + 1],
                           sp->features);
            goto fail;
        }
    }
    return FACET_OK;

fail:
    dlib_sp_free(sp);
    return s;
}

// ---------------------------------------------------------------------------
// Writing the .fct file.

static int tree_depth(int splits)
{
    int d = 0;

    while ((1 << d) - 1 < splits)
        d++;
    return d;
}

static facet_status dlib_sp_write(const dlib_sp *sp, const char *path,
                                  const char *source)
{
    int64_t T = sp->cascades, K = sp->trees, S = sp->splits,
            P = sp->features, L = sp->parts;
    int64_t d_shape[2] = {L, 2};
    int64_t d_idx[4] = {T, K, S, 2};
    int64_t d_thr[3] = {T, K, S};
    int64_t d_leaf[5] = {T, K, S + 1, L, 2};
    int64_t d_anchor[2] = {T, P};
    int64_t d_delta[3] = {T, P, 2};
    int64_t v;
    char name[64];
    wt_writer *wr;
    facet_status s;

    if (S == 0)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: trees without splits "
                          "are not supported", source);
    if ((s = wt_writer_create(&wr, path)) != FACET_OK)
        return s;
    snprintf(name, sizeof(name), "dlib_landmarks%d", sp->parts);

    // Metadata: the reserved keys, then the model's sizes (the loader
    // checks them against the tensor shapes).
    wt_writer_meta_str(wr, "name", name);
    wt_writer_meta_str(wr, "source", source);
    wt_writer_meta_str(wr, "license",
        "CC0-1.0 per Debian's copyright file for libdlib-data; dlib's "
        "model README notes that its training data (iBUG 300-W) excludes "
        "commercial use");
    wt_writer_meta_str(wr, "channel_order", "GRAY");
    wt_writer_meta_str(wr, "model", "dlib shape_predictor (ensemble of "
                       "regression trees, Kazemi and Sullivan 2014)");
    wt_writer_meta_str(wr, "box_convention",
        "mean_shape and deltas live in the unit box: (0,0) is the face "
        "box's (left, top) and (1,1) its (right, bottom), as dlib maps an "
        "inclusive rectangle");
    v = 1;
    wt_writer_meta(wr, "dlib_version", WT_INT64, 1, &v);
    wt_writer_meta(wr, "num_parts", WT_INT64, 1, &L);
    wt_writer_meta(wr, "cascades", WT_INT64, 1, &T);
    wt_writer_meta(wr, "trees_per_cascade", WT_INT64, 1, &K);
    v = tree_depth(sp->splits);
    wt_writer_meta(wr, "tree_depth", WT_INT64, 1, &v);
    wt_writer_meta(wr, "feature_pixels", WT_INT64, 1, &P);

    // Tensors, float32 throughout (indices are small integers, exact).
    wt_writer_tensor(wr, "mean_shape", WT_F32, 2, d_shape, sp->mean_shape);
    wt_writer_tensor(wr, "split_idx", WT_F32, 4, d_idx, sp->split_idx);
    wt_writer_tensor(wr, "split_thresh", WT_F32, 3, d_thr, sp->split_thresh);
    wt_writer_tensor(wr, "leaf_values", WT_F32, 5, d_leaf, sp->leaves);
    wt_writer_tensor(wr, "anchor_idx", WT_F32, 2, d_anchor, sp->anchor_idx);
    wt_writer_tensor(wr, "deltas", WT_F32, 3, d_delta, sp->deltas);
    return wt_writer_finish(wr);
}

#ifndef CONVERT_DLIB_NO_MAIN
int main(int argc, char **argv)
{
    uint8_t *buf;
    size_t size = 0;
    dlib_sp sp;
    char source[1024];
    const char *base;
    facet_status s;
    int help = cv_wants_help(argc, argv);

    if (help || argc != 3) {
        fprintf(help ? stdout : stderr, "usage: convert_dlib "
                "MODEL.dat OUT.fct\n"
                "Converts a dlib shape_predictor (e.g. "
                "shape_predictor_68_face_landmarks.dat) to a facet weight "
                "file.\n");
        return help ? 0 : 2;
    }

    // Parse, then write; the source names the file without its folder.
    s = cv_read_file(&buf, &size, argv[1], DLIB_MAX_FILE);
    if (s == FACET_OK) {
        s = dlib_sp_parse(&sp, buf, size, argv[1]);
        facet_free(buf);
    }
    if (s != FACET_OK) {
        cv_report_error("convert_dlib");
        return 1;
    }
    base = strrchr(argv[1], '/');
    base = base ? base + 1 : argv[1];
    snprintf(source, sizeof(source), "dlib shape_predictor file %s (make "
             "weights takes it from Debian libdlib-data 19.24+dfsg-1, "
             "/usr/share/dlib/)", base);
    s = dlib_sp_write(&sp, argv[2], source);
    if (s != FACET_OK) {
        cv_report_error("convert_dlib");
        dlib_sp_free(&sp);
        return 1;
    }
    fprintf(stderr, "convert_dlib: %s -> %s: %d parts, %d cascades x %d trees of "
           "depth %d, %d feature pixels per cascade\n", argv[1], argv[2],
           sp.parts, sp.cascades, sp.trees, tree_depth(sp.splits),
           sp.features);
    dlib_sp_free(&sp);
    return 0;
}
#endif

// convert_tflite.c - reads a TensorFlow Lite model (a FlatBuffer) and
// writes the MediaPipe hair segmentation network as a facet weight file.
//
//   convert_tflite MODEL.tflite OUT.fct     convert
//   convert_tflite --dump MODEL.tflite      print tensors and operators
//
// Two halves:
// - A minimal FlatBuffer reader for the parts of the TFLite schema facet
//   needs: Model -> subgraphs[0] -> tensors (shape, type, buffer, name) and
//   operators (opcode index, inputs, outputs, the builtin options of
//   convolutions, concatenation and add, raw custom_options bytes),
//   operator_codes (builtin code, old and new field, custom name) and
//   buffers. Every offset, vtable and vector is checked against the file
//   size before it is read, so a truncated or corrupt file gives an error
//   naming the file, the schema field and the byte position; nothing is
//   trusted.
// - The converter: checks that the graph is the hair network facet knows
//   (nn/net_hair.h: the op kinds, their parameters and the tensor shapes),
//   turns each weight from TFLite's layout into facet's (convolution OHWI
//   -> OIHW, depthwise 1HWC -> C1HW, transposed convolution OHWI -> IOHW)
//   and writes the graph as the metadata entry "hair.graph", one line per
//   op, which nn/net_hair.c replays.
//
// The reader part is also compiled into tests/test_hair.c, which includes
// this file with CONVERT_TFLITE_NO_MAIN defined.
//
// ref: tensorflow/lite/schema/schema.fbs (the TFLite schema: table field
//      order, enums BuiltinOperator, TensorType, Padding,
//      ActivationFunctionType)
// ref: FlatBuffers internals (flatbuffers.dev/internals): uoffset/soffset,
//      vtables of uint16 field offsets, length-prefixed vectors and strings
// ref: mediapipe/util/tflite/operations/{max_pool_argmax,max_unpooling,
//      transpose_conv_bias}.cc: the custom ops' semantics; their options are
//      TfLitePoolParams and TfLiteTransposeConvParams from
//      tensorflow/lite/c/builtin_op_data.h, stored as raw bytes
//
// Limitations:
// - Only the first subgraph is read; only float32 tensors are converted
//   (the hair model has nothing else). Quantization, sparsity and
//   signature tables are skipped.
// - Builtin options are decoded only for CONV_2D, DEPTHWISE_CONV_2D, ADD,
//   CONCATENATION, the pooling ops and RESIZE_BILINEAR; other builtins are
//   reported by name and rejected by the converter.
// - The custom options layout is that of a little-endian host with 4-byte
//   int and enum (how MediaPipe's ops read them); it is checked for
//   consistency with the tensor shapes, not trusted.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../linalg/base.h"
#include "../../nn/net_hair.h"
#include "../../weights/weights.h"
#include "convert_io.h"

// ---------------------------------------------------------------------------
// TFLite schema constants used here (schema.fbs).

enum {
    TFL_OP_ADD = 0,
    TFL_OP_AVERAGE_POOL_2D = 1,
    TFL_OP_CONCATENATION = 2,
    TFL_OP_CONV_2D = 3,
    TFL_OP_DEPTHWISE_CONV_2D = 4,
    TFL_OP_MAX_POOL_2D = 17,
    TFL_OP_RESHAPE = 22,
    TFL_OP_RESIZE_BILINEAR = 23,
    TFL_OP_SOFTMAX = 25,
    TFL_OP_CUSTOM = 32,
    TFL_OP_PRELU = 54,
    TFL_OP_TRANSPOSE_CONV = 67,
    // deprecated_builtin_code (a byte) saturates here; builtin_code holds
    // the real code then.
    TFL_OP_PLACEHOLDER_FOR_GREATER_OP_CODES = 127
};

enum { TFL_TYPE_FLOAT32 = 0, TFL_TYPE_FLOAT16 = 1, TFL_TYPE_INT32 = 2 };
enum { TFL_PAD_SAME = 0, TFL_PAD_VALID = 1 };
enum { TFL_ACT_NONE = 0, TFL_ACT_RELU = 1, TFL_ACT_RELU_N1_TO_1 = 2,
       TFL_ACT_RELU6 = 3 };

// BuiltinOptions union members read here.
enum {
    TFL_OPT_CONV2D = 1,
    TFL_OPT_DEPTHWISE = 2,
    TFL_OPT_POOL2D = 5,
    TFL_OPT_CONCAT = 10,
    TFL_OPT_ADD = 11,
    TFL_OPT_RESIZE_BILINEAR = 15
};

// Sanity caps on counts read from a file (the hair model has ~250
// tensors and ~120 operators).
#define TFL_MAX_TENSORS 100000
#define TFL_MAX_OPS 100000
#define TFL_MAX_IO 16       // inputs or outputs of one operator
#define TFL_MAX_RANK 8

// ---------------------------------------------------------------------------
// The parsed model. Names and raw bytes point into the file image, which
// must outlive the model.

typedef struct tfl_tensor {
    int rank;
    int shape[TFL_MAX_RANK];
    int type;              // TFL_TYPE_*
    uint32_t buffer;       // index into buffers; 0 = no data
    char *name;            // owned copy, NUL-terminated
} tfl_tensor;

typedef struct tfl_op {
    int code;              // builtin operator code
    const char *custom;    // custom_code of a CUSTOM op (points into codes)
    int nin, nout;
    int in[TFL_MAX_IO], out[TFL_MAX_IO];   // tensor ids; -1 = absent
    // Builtin options (those decoded; defaults from the schema otherwise).
    int padding;           // TFL_PAD_*
    int stride_w, stride_h;
    int dil_w, dil_h;
    int filter_w, filter_h;    // pooling
    int depth_multiplier;
    int act;               // TFL_ACT_*
    int axis;              // concatenation
    int align_corners, half_pixel;   // resize
    const uint8_t *custom_opts;   // raw custom_options bytes
    size_t custom_len;
} tfl_op;

typedef struct tfl_code {
    int builtin;
    char *custom;          // owned, or NULL
} tfl_code;

typedef struct tfl_blob {
    const uint8_t *data;   // NULL when empty
    size_t size;
} tfl_blob;

typedef struct tfl_model {
    const char *path;      // for messages
    uint32_t version;
    int ntensors, nops, ncodes, nbuffers;
    tfl_tensor *tensors;
    tfl_op *ops;
    tfl_code *codes;
    tfl_blob *buffers;
    int nin, nout;         // subgraph inputs and outputs
    int in[TFL_MAX_IO], out[TFL_MAX_IO];
} tfl_model;

// ---------------------------------------------------------------------------
// FlatBuffer access. A `fb` is the file image; every read goes through
// fb_need, which fails (once, with the field being read) when a position
// or size lies outside the image. Positions are size_t byte offsets.

typedef struct fb {
    const uint8_t *p;
    size_t n;
    const char *path;
} fb;

// A table: its position and its vtable (position and byte size).
typedef struct fb_table {
    size_t pos;
    size_t vt;
    unsigned vt_size;
} fb_table;

// A vector: position of its first element and its length.
typedef struct fb_vec {
    size_t pos;
    uint32_t len;
} fb_vec;

static facet_status fb_need(const fb *f, size_t pos, size_t bytes,
                            const char *what)
{
    if (pos > f->n || bytes > f->n - pos)
        return facet_fail(FACET_E_CORRUPT,
                          "%s: %s: %zu bytes at offset %zu lie outside the "
                          "file (%zu bytes); truncated or corrupt",
                          f->path, what, bytes, pos, f->n);
    return FACET_OK;
}

static uint32_t rd_u32(const fb *f, size_t pos)
{
    const uint8_t *b = f->p + pos;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static uint16_t rd_u16(const fb *f, size_t pos)
{
    return (uint16_t)(f->p[pos] | f->p[pos + 1] << 8);
}

static uint64_t rd_u64(const fb *f, size_t pos)
{
    return (uint64_t)rd_u32(f, pos) | (uint64_t)rd_u32(f, pos + 4) << 32;
}

// Follow the uoffset stored at `pos` (relative to `pos`).
static facet_status fb_deref(size_t *out, const fb *f, size_t pos,
                             const char *what)
{
    facet_status s = fb_need(f, pos, 4, what);
    uint32_t off;

    if (s != FACET_OK)
        return s;
    off = rd_u32(f, pos);
    if (off == 0 || off > f->n - pos)
        return facet_fail(FACET_E_CORRUPT,
                          "%s: %s: offset %u at byte %zu points outside the "
                          "file (%zu bytes)", f->path, what, off, pos, f->n);
    *out = pos + off;
    return FACET_OK;
}

// The table at `pos`: read and check its vtable.
static facet_status fb_table_at(fb_table *t, const fb *f, size_t pos,
                                const char *what)
{
    facet_status s = fb_need(f, pos, 4, what);
    int64_t vt;

    if (s != FACET_OK)
        return s;

    // The table starts with a signed offset back (usually) to its vtable.
    vt = (int64_t)pos - (int32_t)rd_u32(f, pos);
    if (vt < 0 || (uint64_t)vt > f->n)
        return facet_fail(FACET_E_CORRUPT,
                          "%s: %s: vtable of the table at byte %zu lies "
                          "outside the file", f->path, what, pos);
    if ((s = fb_need(f, (size_t)vt, 4, what)) != FACET_OK)
        return s;
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = rd_u16(f, t->vt);
    if (t->vt_size < 4 || (t->vt_size & 1))
        return facet_fail(FACET_E_CORRUPT,
                          "%s: %s: vtable at byte %zu has a bad size %u",
                          f->path, what, t->vt, t->vt_size);
    if ((s = fb_need(f, t->vt, t->vt_size, what)) != FACET_OK)
        return s;

    // The table's inline size must fit too: fields are checked against it.
    return fb_need(f, pos, rd_u16(f, t->vt + 2), what);
}

// Position of field `id` in table `t`, or 0 when absent. Fails when the
// field's `bytes` do not lie inside the table's declared inline size.
static facet_status fb_field(size_t *out, const fb *f, const fb_table *t,
                             int id, size_t bytes, const char *what)
{
    size_t slot = 4 + 2 * (size_t)id;
    unsigned off, tsize;

    *out = 0;
    if (slot + 2 > t->vt_size)
        return FACET_OK;
    off = rd_u16(f, t->vt + slot);
    if (off == 0)
        return FACET_OK;
    tsize = rd_u16(f, t->vt + 2);
    if (off < 4 || off + bytes > tsize)
        return facet_fail(FACET_E_CORRUPT,
                          "%s: %s: field at +%u (%zu bytes) lies outside "
                          "its table at byte %zu (%u bytes)", f->path, what,
                          off, bytes, t->pos, tsize);
    *out = t->pos + off;
    return FACET_OK;
}

// Scalar fields with their schema defaults.
static facet_status fb_u32(uint32_t *v, const fb *f, const fb_table *t,
                           int id, uint32_t def, const char *what)
{
    size_t pos;
    facet_status s = fb_field(&pos, f, t, id, 4, what);

    if (s == FACET_OK)
        *v = pos ? rd_u32(f, pos) : def;
    return s;
}

static facet_status fb_i32(int *v, const fb *f, const fb_table *t, int id,
                           int def, const char *what)
{
    uint32_t u;
    facet_status s = fb_u32(&u, f, t, id, (uint32_t)def, what);

    if (s == FACET_OK)
        *v = (int32_t)u;
    return s;
}

static facet_status fb_u8(int *v, const fb *f, const fb_table *t, int id,
                          int def, const char *what)
{
    size_t pos;
    facet_status s = fb_field(&pos, f, t, id, 1, what);

    if (s == FACET_OK)
        *v = pos ? f->p[pos] : def;
    return s;
}

static facet_status fb_u64(uint64_t *v, const fb *f, const fb_table *t,
                           int id, const char *what)
{
    size_t pos;
    facet_status s = fb_field(&pos, f, t, id, 8, what);

    if (s == FACET_OK)
        *v = pos ? rd_u64(f, pos) : 0;
    return s;
}

// A sub-table field; *present = 0 when the field is absent.
static facet_status fb_subtable(fb_table *sub, int *present, const fb *f,
                                const fb_table *t, int id, const char *what)
{
    size_t pos, target;
    facet_status s = fb_field(&pos, f, t, id, 4, what);

    *present = 0;
    if (s != FACET_OK || pos == 0)
        return s;
    if ((s = fb_deref(&target, f, pos, what)) != FACET_OK)
        return s;
    *present = 1;
    return fb_table_at(sub, f, target, what);
}

// A vector field of `elem`-byte elements; an absent field is empty.
static facet_status fb_vector(fb_vec *v, const fb *f, const fb_table *t,
                              int id, size_t elem, const char *what)
{
    size_t pos, target, bytes;
    facet_status s = fb_field(&pos, f, t, id, 4, what);

    v->pos = 0;
    v->len = 0;
    if (s != FACET_OK || pos == 0)
        return s;
    if ((s = fb_deref(&target, f, pos, what)) != FACET_OK)
        return s;
    if ((s = fb_need(f, target, 4, what)) != FACET_OK)
        return s;
    v->len = rd_u32(f, target);
    v->pos = target + 4;
    if (!facet_size_mul(&bytes, v->len, elem))
        return facet_fail(FACET_E_CORRUPT, "%s: %s: vector length %u "
                          "overflows", f->path, what, v->len);
    return fb_need(f, v->pos, bytes, what);
}

// Element i of a vector of tables.
static facet_status fb_vec_table(fb_table *t, const fb *f, const fb_vec *v,
                                 uint32_t i, const char *what)
{
    size_t target;
    facet_status s;

    FACET_ASSERT(i < v->len);
    if ((s = fb_deref(&target, f, v->pos + 4 * (size_t)i, what)) != FACET_OK)
        return s;
    return fb_table_at(t, f, target, what);
}

// A string field copied into a new NUL-terminated buffer (*out = NULL
// when absent). Caps the length at 4096: names longer than that are not
// names.
static facet_status fb_string(char **out, const fb *f, const fb_table *t,
                              int id, const char *what)
{
    fb_vec v;
    facet_status s = fb_vector(&v, f, t, id, 1, what);

    *out = NULL;
    if (s != FACET_OK || v.pos == 0)
        return s;
    if (v.len > 4096)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %s: string of %u bytes",
                          f->path, what, v.len);
    *out = malloc((size_t)v.len + 1);
    if (!*out)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", f->path);
    memcpy(*out, f->p + v.pos, v.len);
    (*out)[v.len] = '\0';
    return FACET_OK;
}

// An int vector field into `out` (at most `max` entries).
static facet_status fb_ints(int *out, int *count, int max, const fb *f,
                            const fb_table *t, int id, const char *what)
{
    fb_vec v;
    facet_status s = fb_vector(&v, f, t, id, 4, what);

    if (s != FACET_OK)
        return s;
    if (v.len > (uint32_t)max)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %s: %u entries (at most "
                          "%d)", f->path, what, v.len, max);
    for (uint32_t i = 0; i < v.len; i++)
        out[i] = (int32_t)rd_u32(f, v.pos + 4 * (size_t)i);
    *count = (int)v.len;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// TFLite tables.

static void tfl_free(tfl_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->ntensors && m->tensors; i++)
        free(m->tensors[i].name);
    for (int i = 0; i < m->ncodes && m->codes; i++)
        free(m->codes[i].custom);
    free(m->tensors);
    free(m->ops);
    free(m->codes);
    free(m->buffers);
    memset(m, 0, sizeof(*m));
}

// The table vector `id` of `t` into *v, and a zeroed array of v->len items
// (at least one, so that an empty vector still gets a pointer): the
// prologue of every reader below. NULL, with *s set, on failure or a
// vector longer than `cap` items.
static void *read_vec(fb_vec *v, facet_status *s, size_t item_size,
                      uint32_t cap, const fb *f, const fb_table *t, int id,
                      const char *what)
{
    void *items;

    if ((*s = fb_vector(v, f, t, id, 4, what)) != FACET_OK)
        return NULL;
    if (v->len > cap) {
        *s = facet_fail(FACET_E_TOO_LARGE, "%s: %s: %u items, more than %u",
                        f->path, what, v->len, cap);
        return NULL;
    }
    if (!(items = calloc(v->len ? v->len : 1, item_size)))
        *s = facet_fail(FACET_E_NOMEM, "%s: out of memory", f->path);
    return items;
}

// Model.operator_codes (Model field 1); OperatorCode: 0
// deprecated_builtin_code (byte), 1 custom_code, 2 version,
// 3 builtin_code (int).
static facet_status read_codes(tfl_model *m, const fb *f, const fb_table *root)
{
    fb_vec v;
    facet_status s;

    if (!(m->codes = read_vec(&v, &s, sizeof(*m->codes), 10000, f, root,
                              1, "Model.operator_codes")))
        return s;
    m->ncodes = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        fb_table t;
        int old, code;

        if ((s = fb_vec_table(&t, f, &v, i, "OperatorCode")) != FACET_OK ||
            (s = fb_u8(&old, f, &t, 0, 0, "OperatorCode.deprecated_"
                       "builtin_code")) != FACET_OK ||
            (s = fb_string(&m->codes[i].custom, f, &t, 1,
                           "OperatorCode.custom_code")) != FACET_OK ||
            (s = fb_i32(&code, f, &t, 3, 0, "OperatorCode.builtin_code")) !=
                FACET_OK)
            return s;

        // Older writers fill only the byte field; newer ones both, with the
        // byte saturated at 127 for codes that do not fit.
        m->codes[i].builtin = code > old ? code : old;
    }
    return FACET_OK;
}

// Model.buffers (field 4); Buffer: 0 data [ubyte], 1 offset (ulong),
// 2 size (ulong) for data stored after the FlatBuffer.
static facet_status read_buffers(tfl_model *m, const fb *f,
                                 const fb_table *root)
{
    fb_vec v;
    facet_status s;

    if (!(m->buffers = read_vec(&v, &s, sizeof(*m->buffers), INT32_MAX,
                                f, root, 4, "Model.buffers")))
        return s;
    m->nbuffers = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        fb_table t;
        fb_vec d;
        uint64_t off, size;

        if ((s = fb_vec_table(&t, f, &v, i, "Buffer")) != FACET_OK ||
            (s = fb_vector(&d, f, &t, 0, 1, "Buffer.data")) != FACET_OK ||
            (s = fb_u64(&off, f, &t, 1, "Buffer.offset")) != FACET_OK ||
            (s = fb_u64(&size, f, &t, 2, "Buffer.size")) != FACET_OK)
            return s;
        if (d.len > 0) {
            m->buffers[i].data = f->p + d.pos;
            m->buffers[i].size = d.len;
        } else if (off > 1) {
            // offset 1 is the writer's placeholder for "not yet placed".
            if (off > f->n || size > f->n - off)
                return facet_fail(FACET_E_CORRUPT, "%s: buffer %u: %llu "
                                  "bytes at offset %llu lie outside the file",
                                  f->path, i, (unsigned long long)size,
                                  (unsigned long long)off);
            m->buffers[i].data = f->p + off;
            m->buffers[i].size = (size_t)size;
        }
    }
    return FACET_OK;
}

// SubGraph.tensors; Tensor: 0 shape, 1 type, 2 buffer, 3 name.
static facet_status read_tensors(tfl_model *m, const fb *f,
                                 const fb_table *sg)
{
    fb_vec v;
    facet_status s;

    if (!(m->tensors = read_vec(&v, &s, sizeof(*m->tensors),
                                TFL_MAX_TENSORS, f, sg, 0,
                                "SubGraph.tensors")))
        return s;
    m->ntensors = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        tfl_tensor *x = &m->tensors[i];
        fb_table t;

        if ((s = fb_vec_table(&t, f, &v, i, "Tensor")) != FACET_OK ||
            (s = fb_ints(x->shape, &x->rank, TFL_MAX_RANK, f, &t, 0,
                         "Tensor.shape")) != FACET_OK ||
            (s = fb_u8(&x->type, f, &t, 1, 0, "Tensor.type")) != FACET_OK ||
            (s = fb_u32(&x->buffer, f, &t, 2, 0, "Tensor.buffer")) !=
                FACET_OK ||
            (s = fb_string(&x->name, f, &t, 3, "Tensor.name")) != FACET_OK)
            return s;
        for (int d = 0; d < x->rank; d++)
            if (x->shape[d] < 0 || x->shape[d] > (1 << 24))
                return facet_fail(FACET_E_CORRUPT, "%s: tensor %u: dim %d "
                                  "is %d", f->path, i, d, x->shape[d]);
        if (x->buffer >= (uint32_t)m->nbuffers)
            return facet_fail(FACET_E_CORRUPT, "%s: tensor %u: buffer %u "
                              "of %d", f->path, i, x->buffer, m->nbuffers);
        if (!x->name) {
            // Unnamed tensors get their index as a name.
            char tmp[32];

            snprintf(tmp, sizeof(tmp), "tensor_%u", i);
            x->name = malloc(strlen(tmp) + 1);
            if (!x->name)
                return facet_fail(FACET_E_NOMEM, "%s: out of memory",
                                  f->path);
            strcpy(x->name, tmp);
        }
    }
    return FACET_OK;
}

// The builtin options table of one operator, by union type. Field ids:
// Conv2DOptions 0 padding, 1 stride_w, 2 stride_h, 3 activation,
// 4 dilation_w, 5 dilation_h; DepthwiseConv2DOptions 0 padding,
// 1 stride_w, 2 stride_h, 3 depth_multiplier, 4 activation, 5 dilation_w,
// 6 dilation_h; Pool2DOptions 0 padding, 1 stride_w, 2 stride_h,
// 3 filter_w, 4 filter_h, 5 activation; ConcatenationOptions 0 axis,
// 1 activation; AddOptions 0 activation; ResizeBilinearOptions
// 2 align_corners, 3 half_pixel_centers.
static facet_status read_options(tfl_op *op, const fb *f, int type,
                                 const fb_table *t)
{
    facet_status s = FACET_OK;

    switch (type) {
    case TFL_OPT_CONV2D:
        if ((s = fb_u8(&op->padding, f, t, 0, 0, "Conv2DOptions")) ||
            (s = fb_i32(&op->stride_w, f, t, 1, 0, "Conv2DOptions")) ||
            (s = fb_i32(&op->stride_h, f, t, 2, 0, "Conv2DOptions")) ||
            (s = fb_u8(&op->act, f, t, 3, 0, "Conv2DOptions")) ||
            (s = fb_i32(&op->dil_w, f, t, 4, 1, "Conv2DOptions")) ||
            (s = fb_i32(&op->dil_h, f, t, 5, 1, "Conv2DOptions")))
            return s;
        break;
    case TFL_OPT_DEPTHWISE:
        if ((s = fb_u8(&op->padding, f, t, 0, 0, "DepthwiseOptions")) ||
            (s = fb_i32(&op->stride_w, f, t, 1, 0, "DepthwiseOptions")) ||
            (s = fb_i32(&op->stride_h, f, t, 2, 0, "DepthwiseOptions")) ||
            (s = fb_i32(&op->depth_multiplier, f, t, 3, 0,
                        "DepthwiseOptions")) ||
            (s = fb_u8(&op->act, f, t, 4, 0, "DepthwiseOptions")) ||
            (s = fb_i32(&op->dil_w, f, t, 5, 1, "DepthwiseOptions")) ||
            (s = fb_i32(&op->dil_h, f, t, 6, 1, "DepthwiseOptions")))
            return s;
        break;
    case TFL_OPT_POOL2D:
        if ((s = fb_u8(&op->padding, f, t, 0, 0, "Pool2DOptions")) ||
            (s = fb_i32(&op->stride_w, f, t, 1, 0, "Pool2DOptions")) ||
            (s = fb_i32(&op->stride_h, f, t, 2, 0, "Pool2DOptions")) ||
            (s = fb_i32(&op->filter_w, f, t, 3, 0, "Pool2DOptions")) ||
            (s = fb_i32(&op->filter_h, f, t, 4, 0, "Pool2DOptions")) ||
            (s = fb_u8(&op->act, f, t, 5, 0, "Pool2DOptions")))
            return s;
        break;
    case TFL_OPT_CONCAT:
        if ((s = fb_i32(&op->axis, f, t, 0, 0, "ConcatenationOptions")) ||
            (s = fb_u8(&op->act, f, t, 1, 0, "ConcatenationOptions")))
            return s;
        break;
    case TFL_OPT_ADD:
        s = fb_u8(&op->act, f, t, 0, 0, "AddOptions");
        break;
    case TFL_OPT_RESIZE_BILINEAR:
        if ((s = fb_u8(&op->align_corners, f, t, 2, 0,
                       "ResizeBilinearOptions")) ||
            (s = fb_u8(&op->half_pixel, f, t, 3, 0,
                       "ResizeBilinearOptions")))
            return s;
        break;
    default:
        break;   // options of other ops are not needed
    }
    return s;
}

// SubGraph.operators; Operator: 0 opcode_index, 1 inputs, 2 outputs,
// 3 builtin_options_type, 4 builtin_options, 5 custom_options.
static facet_status read_ops(tfl_model *m, const fb *f, const fb_table *sg)
{
    fb_vec v;
    facet_status s;

    if (!(m->ops = read_vec(&v, &s, sizeof(*m->ops), TFL_MAX_OPS, f, sg,
                            3, "SubGraph.operators")))
        return s;
    m->nops = (int)v.len;
    for (uint32_t i = 0; i < v.len; i++) {
        tfl_op *op = &m->ops[i];
        fb_table t, opt;
        fb_vec co;
        uint32_t code;
        int otype, present;

        if ((s = fb_vec_table(&t, f, &v, i, "Operator")) != FACET_OK ||
            (s = fb_u32(&code, f, &t, 0, 0, "Operator.opcode_index")) !=
                FACET_OK ||
            (s = fb_ints(op->in, &op->nin, TFL_MAX_IO, f, &t, 1,
                         "Operator.inputs")) != FACET_OK ||
            (s = fb_ints(op->out, &op->nout, TFL_MAX_IO, f, &t, 2,
                         "Operator.outputs")) != FACET_OK ||
            (s = fb_u8(&otype, f, &t, 3, 0, "Operator.builtin_options_"
                       "type")) != FACET_OK ||
            (s = fb_subtable(&opt, &present, f, &t, 4,
                             "Operator.builtin_options")) != FACET_OK ||
            (s = fb_vector(&co, f, &t, 5, 1, "Operator.custom_options")) !=
                FACET_OK)
            return s;
        if (code >= (uint32_t)m->ncodes)
            return facet_fail(FACET_E_CORRUPT, "%s: operator %u: opcode "
                              "index %u of %d", f->path, i, code, m->ncodes);
        op->code = m->codes[code].builtin;
        op->custom = m->codes[code].custom;
        for (int k = 0; k < op->nin + op->nout; k++) {
            int id = k < op->nin ? op->in[k] : op->out[k - op->nin];

            if (id < -1 || id >= m->ntensors)
                return facet_fail(FACET_E_CORRUPT, "%s: operator %u: tensor "
                                  "id %d of %d", f->path, i, id,
                                  m->ntensors);
        }

        // Schema defaults, then the options table when there is one.
        op->stride_w = op->stride_h = 1;
        op->dil_w = op->dil_h = 1;
        op->depth_multiplier = 1;
        if (present && (s = read_options(op, f, otype, &opt)) != FACET_OK)
            return s;
        op->custom_opts = co.len ? f->p + co.pos : NULL;
        op->custom_len = co.len;
    }
    return FACET_OK;
}

// Parse a TFLite model held in memory (`p`, `n` bytes; kept by the
// caller for as long as the model is used).
static facet_status tfl_parse(tfl_model *m, const uint8_t *p, size_t n,
                       const char *path)
{
    fb f = { p, n, path };
    fb_table root, sg;
    fb_vec subgraphs;
    size_t pos;
    facet_status s;

    memset(m, 0, sizeof(*m));
    m->path = path;

    // Root table offset, then the file identifier "TFL3".
    if (n < 8)
        return facet_fail(FACET_E_FORMAT, "%s: %zu bytes is too short for "
                          "a TFLite model", path, n);
    if (memcmp(p + 4, "TFL3", 4) != 0)
        return facet_fail(FACET_E_FORMAT, "%s: no TFLite identifier "
                          "\"TFL3\" at byte 4; not a TFLite model", path);
    if ((s = fb_deref(&pos, &f, 0, "Model")) != FACET_OK ||
        (s = fb_table_at(&root, &f, pos, "Model")) != FACET_OK ||
        (s = fb_u32(&m->version, &f, &root, 0, 0, "Model.version")))
        goto fail;
    if (m->version != 3) {
        s = facet_fail(FACET_E_VERSION, "%s: TFLite schema version %u (only "
                       "3 is known)", path, m->version);
        goto fail;
    }

    // Operator codes and buffers first: tensors and operators refer to them.
    if ((s = read_codes(m, &f, &root)) != FACET_OK ||
        (s = read_buffers(m, &f, &root)) != FACET_OK ||
        (s = fb_vector(&subgraphs, &f, &root, 2, 4, "Model.subgraphs")))
        goto fail;
    if (subgraphs.len < 1) {
        s = facet_fail(FACET_E_FORMAT, "%s: the model has no subgraph", path);
        goto fail;
    }
    if ((s = fb_vec_table(&sg, &f, &subgraphs, 0, "SubGraph")) != FACET_OK ||
        (s = read_tensors(m, &f, &sg)) != FACET_OK ||
        (s = read_ops(m, &f, &sg)) != FACET_OK ||
        (s = fb_ints(m->in, &m->nin, TFL_MAX_IO, &f, &sg, 1,
                     "SubGraph.inputs")) != FACET_OK ||
        (s = fb_ints(m->out, &m->nout, TFL_MAX_IO, &f, &sg, 2,
                     "SubGraph.outputs")) != FACET_OK)
        goto fail;
    for (int k = 0; k < m->nin + m->nout; k++) {
        int id = k < m->nin ? m->in[k] : m->out[k - m->nin];

        if (id < 0 || id >= m->ntensors) {
            s = facet_fail(FACET_E_CORRUPT, "%s: subgraph input/output "
                           "tensor id %d of %d", path, id, m->ntensors);
            goto fail;
        }
    }
    return FACET_OK;

fail:
    tfl_free(m);
    return s;
}

// Largest .tflite file read (the hair model is about 400 KiB).
#define TFL_MAX_FILE (UINT64_C(1) << 30)

// Name of an operator for messages and the dump.
static const char *tfl_op_name(const tfl_op *op)
{
    switch (op->code) {
    case TFL_OP_ADD: return "ADD";
    case TFL_OP_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case TFL_OP_CONCATENATION: return "CONCATENATION";
    case TFL_OP_CONV_2D: return "CONV_2D";
    case TFL_OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case TFL_OP_MAX_POOL_2D: return "MAX_POOL_2D";
    case TFL_OP_RESHAPE: return "RESHAPE";
    case TFL_OP_RESIZE_BILINEAR: return "RESIZE_BILINEAR";
    case TFL_OP_SOFTMAX: return "SOFTMAX";
    case TFL_OP_CUSTOM: return op->custom ? op->custom : "CUSTOM";
    case TFL_OP_PRELU: return "PRELU";
    case TFL_OP_TRANSPOSE_CONV: return "TRANSPOSE_CONV";
    default: return "(other builtin)";
    }
}

// Print the tensors and operators (for `--dump`).
static void tfl_dump(FILE *out, const tfl_model *m)
{
    fprintf(out, "%s: schema %u, %d tensors, %d operators, %d buffers\n",
            m->path, m->version, m->ntensors, m->nops, m->nbuffers);
    for (int i = 0; i < m->ntensors; i++) {
        const tfl_tensor *t = &m->tensors[i];

        fprintf(out, "t%-4d type %d buf %-4u [", i, t->type, t->buffer);
        for (int d = 0; d < t->rank; d++)
            fprintf(out, d ? " %d" : "%d", t->shape[d]);
        fprintf(out, "] %zu bytes  %s\n", m->buffers[t->buffer].size,
                cv_safe(t->name));
    }
    for (int i = 0; i < m->nops; i++) {
        const tfl_op *op = &m->ops[i];

        fprintf(out, "op%-4d %-26s in", i, tfl_op_name(op));
        for (int k = 0; k < op->nin; k++)
            fprintf(out, " %d", op->in[k]);
        fprintf(out, " out");
        for (int k = 0; k < op->nout; k++)
            fprintf(out, " %d", op->out[k]);
        fprintf(out, "  pad %d s %d,%d d %d,%d f %d,%d dm %d act %d ax %d",
                op->padding, op->stride_h, op->stride_w, op->dil_h,
                op->dil_w, op->filter_h, op->filter_w, op->depth_multiplier,
                op->act, op->axis);
        if (op->custom_len) {
            fprintf(out, " custom[%zu]", op->custom_len);
            for (size_t k = 0; k < op->custom_len; k++)
                fprintf(out, " %02x", op->custom_opts[k]);
        }
        fputc('\n', out);
    }
}

// ---------------------------------------------------------------------------
// Conversion of the hair network into facet's layout and graph text.

// A growing text buffer for the graph description.
typedef struct text {
    char *p;
    size_t len, cap;
} text;

typedef struct conv_ctx {
    const tfl_model *m;
    wt_writer *wr;
    text graph;
    int *pool_op;     // per tensor: the maxpool op producing it as indices
    int *defined;     // per tensor: 1 once an op (or the input) made it
} conv_ctx;

static facet_status text_add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static facet_status text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = t->cap - t->len;

        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return facet_fail(FACET_E_ARG, "graph text: format error");
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return FACET_OK;
        }

        // Grow to fit and print again.
        size_t cap = t->cap ? 2 * t->cap : 4096;
        char *p;

        while (cap - t->len <= (size_t)n)
            cap *= 2;
        p = realloc(t->p, cap);
        if (!p)
            return facet_fail(FACET_E_NOMEM, "graph text: out of memory");
        t->p = p;
        t->cap = cap;
    }
}

// Value names go into the graph text between spaces and commas.
static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == ',' || s[i] == '=' || s[i] > '~')
            return 0;
    return 1;
}

// An activation tensor (no data): float32, rank 4, batch 1; its C, H, W.
static facet_status act_shape(const conv_ctx *x, int op, int id, int *c,
                              int *h, int *w)
{
    const tfl_model *m = x->m;
    const tfl_tensor *t;

    if (id < 0)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): a tensor it "
                          "needs is missing", m->path, op,
                          tfl_op_name(&m->ops[op]));
    t = &m->tensors[id];
    if (m->buffers[t->buffer].size != 0 || t->type != TFL_TYPE_FLOAT32 ||
        t->rank != 4 || t->shape[0] != 1 || !name_ok(t->name))
        return facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (%s): tensor %d "
                          "(%s) is not a float32 1xHxWxC activation with a "
                          "plain name", m->path, op, tfl_op_name(&m->ops[op]),
                          id, t->name);
    *h = t->shape[1];
    *w = t->shape[2];
    *c = t->shape[3];
    return FACET_OK;
}

// A constant float32 tensor of `rank` dims whose buffer holds exactly its
// elements, copied into a new array (the buffer may be unaligned; floats
// are little-endian in the file, as on the hosts facet supports).
static facet_status const_data(float **out, const conv_ctx *x, int op, int id,
                               int rank)
{
    const tfl_model *m = x->m;
    const tfl_tensor *t;
    size_t count = 1, bytes;
    float *d;

    if (id < 0 || id >= m->ntensors)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): missing weight",
                          m->path, op, tfl_op_name(&m->ops[op]));
    t = &m->tensors[id];
    if (t->type != TFL_TYPE_FLOAT32 || t->rank != rank)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (%s): weight %s "
                          "is not a float32 rank-%d tensor", m->path, op,
                          tfl_op_name(&m->ops[op]), t->name, rank);
    for (int i = 0; i < t->rank; i++)
        if (!facet_size_mul(&count, count, (size_t)t->shape[i]))
            return facet_fail(FACET_E_CORRUPT, "%s: op %d (%s): weight %s "
                              "has an overflowing shape", m->path, op,
                              tfl_op_name(&m->ops[op]), t->name);
    if (!facet_size_mul(&bytes, count, 4) ||
        m->buffers[t->buffer].size != bytes)
        return facet_fail(FACET_E_CORRUPT, "%s: op %d (%s): weight %s holds "
                          "%zu bytes for %zu floats", m->path, op,
                          tfl_op_name(&m->ops[op]), t->name,
                          m->buffers[t->buffer].size, count);
    d = malloc(bytes ? bytes : 4);
    if (!d)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    memcpy(d, m->buffers[t->buffer].data, bytes);
    *out = d;
    return FACET_OK;
}

static facet_status put_tensor(conv_ctx *x, const char *out, const char *sfx,
                               int ndim, const int64_t *dims,
                               const float *data)
{
    char name[256];

    snprintf(name, sizeof(name), "%s.%s", out, sfx);
    return wt_writer_tensor(x->wr, name, WT_F32, ndim, dims, data);
}

static const char *pad_word(int p)
{
    return p == TFL_PAD_SAME ? "same" : "valid";
}

static const char *act_word(int a)
{
    return a == TFL_ACT_RELU ? "relu" : a == TFL_ACT_RELU6 ? "relu6" : "none";
}

// Output size of a TF convolution or pooling along one axis.
static int tf_out_size(int in, int k, int stride, int dil, int padding)
{
    int span = (k - 1) * dil + 1;

    if (padding == TFL_PAD_SAME)
        return (in + stride - 1) / stride;
    return in >= span ? (in - span) / stride + 1 : 0;
}

// Check an op's output against the shape the converter infers.
static facet_status check_out(const conv_ctx *x, int op, int id, int c,
                              int h, int w)
{
    int tc, th, tw;
    facet_status s = act_shape(x, op, id, &tc, &th, &tw);

    if (s != FACET_OK)
        return s;
    if (tc != c || th != h || tw != w)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): output %s is "
                          "%dx%dx%d (HxWxC) but the op makes %dx%dx%d",
                          x->m->path, op, tfl_op_name(&x->m->ops[op]),
                          x->m->tensors[id].name, th, tw, tc, h, w, c);
    return FACET_OK;
}

// Inputs of an op must have been made by an earlier op.
static facet_status check_defined(const conv_ctx *x, int op, int id)
{
    if (id < 0 || !x->defined[id])
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): input tensor %d "
                          "is used before any op makes it", x->m->path, op,
                          tfl_op_name(&x->m->ops[op]), id);
    return FACET_OK;
}

// CONV_2D (OHWI -> OIHW) and DEPTHWISE_CONV_2D (1HWC -> C1HW).
static facet_status conv_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    int dw = op->code == TFL_OP_DEPTHWISE_CONV_2D;
    const tfl_tensor *wt;
    float *wsrc = NULL, *bias = NULL, *wdst = NULL;
    int c, h, w, o, kh, kw, oh, ow;
    int64_t dims[4], bdim[1];
    facet_status s;

    if (op->nin != 3 || op->nout != 1)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): %d inputs, %d "
                          "outputs", m->path, i, tfl_op_name(op), op->nin,
                          op->nout);
    if ((s = check_defined(x, i, op->in[0])) != FACET_OK ||
        (s = act_shape(x, i, op->in[0], &c, &h, &w)) != FACET_OK ||
        (s = const_data(&wsrc, x, i, op->in[1], 4)) != FACET_OK)
        return s;
    wt = &m->tensors[op->in[1]];
    kh = wt->shape[1];
    kw = wt->shape[2];
    o = dw ? wt->shape[3] : wt->shape[0];

    // The weight shape must agree with the input channels.
    if (dw ? (wt->shape[0] != 1 || op->depth_multiplier < 1 ||
              o != c * op->depth_multiplier)
           : (wt->shape[3] != c)) {
        s = facet_fail(FACET_E_FORMAT, "%s: op %d (%s): weight %s "
                       "[%d %d %d %d] does not fit %d input channels",
                       m->path, i, tfl_op_name(op), wt->name, wt->shape[0],
                       kh, kw, wt->shape[3], c);
        goto done;
    }
    if (op->stride_h < 1 || op->stride_w < 1 || op->dil_h < 1 ||
        op->dil_w < 1 || op->stride_h > 64 || op->stride_w > 64 ||
        op->dil_h > 64 || op->dil_w > 64 || kh < 1 || kw < 1 ||
        (op->padding != TFL_PAD_SAME && op->padding != TFL_PAD_VALID) ||
        (op->act != TFL_ACT_NONE && op->act != TFL_ACT_RELU &&
         op->act != TFL_ACT_RELU6)) {
        s = facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (%s): unsupported "
                       "stride, dilation, padding or activation", m->path, i,
                       tfl_op_name(op));
        goto done;
    }

    // Bias: [O], or zeros when the op has none.
    if (op->in[2] >= 0) {
        if ((s = const_data(&bias, x, i, op->in[2], 1)) != FACET_OK)
            goto done;
        if (m->tensors[op->in[2]].shape[0] != o) {
            s = facet_fail(FACET_E_FORMAT, "%s: op %d: bias of %d for %d "
                           "outputs", m->path, i,
                           m->tensors[op->in[2]].shape[0], o);
            goto done;
        }
    } else if (!(bias = calloc((size_t)o, sizeof(float)))) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }

    oh = tf_out_size(h, kh, op->stride_h, op->dil_h, op->padding);
    ow = tf_out_size(w, kw, op->stride_w, op->dil_w, op->padding);
    if ((s = check_out(x, i, op->out[0], o, oh, ow)) != FACET_OK)
        goto done;

    // Reorder: OHWI -> OIHW, or 1HWO -> O1HW.
    wdst = malloc((size_t)o * (dw ? 1 : c) * kh * kw * sizeof(float));
    if (!wdst) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    for (int oc = 0; oc < o; oc++)
        for (int ic = 0; ic < (dw ? 1 : c); ic++)
            for (int y = 0; y < kh; y++)
                for (int xx = 0; xx < kw; xx++) {
                    size_t src = dw ? ((size_t)y * kw + xx) * o + oc
                                    : (((size_t)oc * kh + y) * kw + xx) * c +
                                          ic;
                    size_t dst = (((size_t)oc * (dw ? 1 : c) + ic) * kh + y) *
                                     kw + xx;

                    wdst[dst] = wsrc[src];
                }
    dims[0] = o;
    dims[1] = dw ? 1 : c;
    dims[2] = kh;
    dims[3] = kw;
    bdim[0] = o;
    if ((s = put_tensor(x, m->tensors[op->out[0]].name, "weight", 4, dims,
                        wdst)) != FACET_OK ||
        (s = put_tensor(x, m->tensors[op->out[0]].name, "bias", 1, bdim,
                        bias)) != FACET_OK)
        goto done;
    s = text_add(&x->graph, "%s %s %s stride=%d,%d dil=%d,%d pad=%s act=%s "
                 "shape=%d,%d,%d\n", dw ? "dwconv" : "conv",
                 m->tensors[op->out[0]].name, m->tensors[op->in[0]].name,
                 op->stride_h, op->stride_w, op->dil_h, op->dil_w,
                 pad_word(op->padding), act_word(op->act), o, oh, ow);

done:
    free(wsrc);
    free(bias);
    free(wdst);
    return s;
}

// PRELU: alpha [1 1 C] (or [C], [1 1 1 C]) shared over H and W.
static facet_status prelu_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    const tfl_tensor *at;
    float *alpha = NULL;
    int c, h, w;
    int64_t dim[1];
    facet_status s;

    if (op->nin != 2 || op->nout != 1)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (PRELU): %d inputs, %d "
                          "outputs", m->path, i, op->nin, op->nout);
    if ((s = check_defined(x, i, op->in[0])) != FACET_OK ||
        (s = act_shape(x, i, op->in[0], &c, &h, &w)) != FACET_OK)
        return s;
    if (op->in[1] < 0)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (PRELU): no alpha",
                          m->path, i);
    at = &m->tensors[op->in[1]];
    if (at->rank < 1 || at->rank > 4 || at->shape[at->rank - 1] != c)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (PRELU): alpha %s "
                          "does not have %d channels last", m->path, i,
                          at->name, c);
    for (int d = 0; d < at->rank - 1; d++)
        if (at->shape[d] != 1)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (PRELU): "
                              "alpha %s varies over space", m->path, i,
                              at->name);
    if ((s = const_data(&alpha, x, i, op->in[1], at->rank)) != FACET_OK)
        return s;
    dim[0] = c;
    if ((s = check_out(x, i, op->out[0], c, h, w)) == FACET_OK &&
        (s = put_tensor(x, m->tensors[op->out[0]].name, "alpha", 1, dim,
                        alpha)) == FACET_OK)
        s = text_add(&x->graph, "prelu %s %s shape=%d,%d,%d\n",
                     m->tensors[op->out[0]].name, m->tensors[op->in[0]].name,
                     c, h, w);
    free(alpha);
    return s;
}

// ADD of two same-shaped activations; CONCATENATION along channels.
static facet_status join_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    int add = op->code == TFL_OP_ADD;
    int c0 = 0, h0 = 0, w0 = 0, ctot = 0;
    facet_status s;

    if (op->nin < 2 || op->nout != 1 || (add && op->nin != 2) ||
        op->act != TFL_ACT_NONE ||
        (!add && op->axis != -1 && op->axis != 3))
        return facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (%s): only two "
                          "inputs (add) or a channel concatenation without "
                          "activation is supported", m->path, i,
                          tfl_op_name(op));
    for (int k = 0; k < op->nin; k++) {
        int c, h, w;

        if ((s = check_defined(x, i, op->in[k])) != FACET_OK ||
            (s = act_shape(x, i, op->in[k], &c, &h, &w)) != FACET_OK)
            return s;
        if (k == 0) {
            c0 = c;
            h0 = h;
            w0 = w;
        } else if (h != h0 || w != w0 || (add && c != c0)) {
            return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): input shapes "
                              "differ", m->path, i, tfl_op_name(op));
        }
        ctot += c;
    }
    if ((s = check_out(x, i, op->out[0], add ? c0 : ctot, h0, w0)) !=
            FACET_OK ||
        (s = text_add(&x->graph, "%s %s ", add ? "add" : "concat",
                      m->tensors[op->out[0]].name)) != FACET_OK)
        return s;
    for (int k = 0; k < op->nin; k++)
        if ((s = text_add(&x->graph, k ? ",%s" : "%s",
                          m->tensors[op->in[k]].name)) != FACET_OK)
            return s;
    return text_add(&x->graph, " shape=%d,%d,%d\n", add ? c0 : ctot, h0, w0);
}

// The raw options of MediaPipe's custom ops: TfLitePoolParams (padding,
// stride_width, stride_height, filter_width, filter_height, activation,
// then computed padding the runtime fills in) and TfLiteTransposeConvParams
// (padding, stride_width, stride_height). TfLitePadding: 1 same, 2 valid.
typedef struct raw_params {
    int padding;   // TFL_PAD_*
    int stride_w, stride_h, filter_w, filter_h, act;
} raw_params;

static facet_status raw_options(raw_params *p, const conv_ctx *x, int i,
                                int pool)
{
    const tfl_op *op = &x->m->ops[i];
    size_t need = pool ? 24 : 12;
    int v[6] = { 0 };

    if (op->custom_len < need)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): %zu bytes of "
                          "custom options, need %zu", x->m->path, i,
                          tfl_op_name(op), op->custom_len, need);
    for (size_t k = 0; k < need / 4; k++) {
        const uint8_t *b = op->custom_opts + 4 * k;

        v[k] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                         (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    }
    if (v[0] != 1 && v[0] != 2)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): padding code %d "
                          "(1 same, 2 valid expected)", x->m->path, i,
                          tfl_op_name(op), v[0]);
    p->padding = v[0] == 1 ? TFL_PAD_SAME : TFL_PAD_VALID;
    p->stride_w = v[1];
    p->stride_h = v[2];
    p->filter_w = pool ? v[3] : 0;
    p->filter_h = pool ? v[4] : 0;
    p->act = pool ? v[5] : 0;
    if (p->stride_w < 1 || p->stride_h < 1 || p->stride_w > 64 ||
        p->stride_h > 64 || (pool && (p->filter_w < 1 || p->filter_h < 1 ||
                                      p->filter_w > 64 || p->filter_h > 64 ||
                                      p->act != 0)))
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): implausible "
                          "options stride %dx%d filter %dx%d act %d",
                          x->m->path, i, tfl_op_name(op), p->stride_h,
                          p->stride_w, p->filter_h, p->filter_w, p->act);
    return FACET_OK;
}

// MaxPoolingWithArgmax2D: one input, outputs (pooled, indices).
static facet_status pool_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    raw_params p;
    int c, h, w, oh, ow;
    facet_status s;

    if (op->nin != 1 || op->nout != 2)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): %d inputs, %d "
                          "outputs", m->path, i, tfl_op_name(op), op->nin,
                          op->nout);
    if ((s = raw_options(&p, x, i, 1)) != FACET_OK ||
        (s = check_defined(x, i, op->in[0])) != FACET_OK ||
        (s = act_shape(x, i, op->in[0], &c, &h, &w)) != FACET_OK)
        return s;
    oh = tf_out_size(h, p.filter_h, p.stride_h, 1, p.padding);
    ow = tf_out_size(w, p.filter_w, p.stride_w, 1, p.padding);
    if ((s = check_out(x, i, op->out[0], c, oh, ow)) != FACET_OK ||
        (s = check_out(x, i, op->out[1], c, oh, ow)) != FACET_OK)
        return s;
    x->pool_op[op->out[1]] = i;
    return text_add(&x->graph, "maxpool %s,%s %s k=%d,%d stride=%d,%d "
                    "pad=%s shape=%d,%d,%d\n", m->tensors[op->out[0]].name,
                    m->tensors[op->out[1]].name, m->tensors[op->in[0]].name,
                    p.filter_h, p.filter_w, p.stride_h, p.stride_w,
                    pad_word(p.padding), c, oh, ow);
}

// MaxUnpooling2D: inputs (values, indices of a MaxPoolingWithArgmax2D).
// MediaPipe decodes each index relative to the unpool's own window; facet
// keeps plane positions of the pool's input instead. The two agree when
// both ops have the same non-overlapping windows (k == stride), no padding
// and the unpooled map is the pool's input size, which is checked here.
static facet_status unpool_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    raw_params p, q;
    int c, h, w, ic, ih, iw, pc, ph, pw;
    const tfl_op *pool;
    facet_status s;

    if (op->nin != 2 || op->nout != 1)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): %d inputs, %d "
                          "outputs", m->path, i, tfl_op_name(op), op->nin,
                          op->nout);
    if ((s = raw_options(&p, x, i, 1)) != FACET_OK ||
        (s = check_defined(x, i, op->in[0])) != FACET_OK ||
        (s = check_defined(x, i, op->in[1])) != FACET_OK ||
        (s = act_shape(x, i, op->in[0], &c, &h, &w)) != FACET_OK ||
        (s = act_shape(x, i, op->in[1], &ic, &ih, &iw)) != FACET_OK)
        return s;
    if (x->pool_op[op->in[1]] < 0)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): indices %s do "
                          "not come from a max-pool", m->path, i,
                          tfl_op_name(op), m->tensors[op->in[1]].name);
    pool = &m->ops[x->pool_op[op->in[1]]];
    if ((s = raw_options(&q, x, x->pool_op[op->in[1]], 1)) != FACET_OK ||
        (s = act_shape(x, i, pool->in[0], &pc, &ph, &pw)) != FACET_OK)
        return s;

    // The unpooled map is in * filter (MediaPipe's Prepare) and must equal
    // the pool's input; windows must tile it exactly.
    if (ic != c || ih != h || iw != w || p.filter_h != p.stride_h ||
        p.filter_w != p.stride_w || q.filter_h != p.filter_h ||
        q.filter_w != p.filter_w || q.stride_h != p.stride_h ||
        q.stride_w != p.stride_w || pc != c || ph != h * p.filter_h ||
        pw != w * p.filter_w)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: op %d (%s): unpooling "
                          "does not invert its max-pool exactly (window %dx%d "
                          "stride %dx%d, pool input %dx%dx%d, values "
                          "%dx%dx%d)", m->path, i, tfl_op_name(op),
                          p.filter_h, p.filter_w, p.stride_h, p.stride_w, ph,
                          pw, pc, h, w, c);
    if ((s = check_out(x, i, op->out[0], c, h * p.filter_h,
                       w * p.filter_w)) != FACET_OK)
        return s;
    return text_add(&x->graph, "unpool %s %s,%s k=%d,%d stride=%d,%d "
                    "shape=%d,%d,%d\n", m->tensors[op->out[0]].name,
                    m->tensors[op->in[0]].name, m->tensors[op->in[1]].name,
                    p.filter_h, p.filter_w, p.stride_h, p.stride_w, c,
                    h * p.filter_h, w * p.filter_w);
}

// Convolution2DTransposeBias: inputs (x, weight OHWI, bias [O]); weight
// goes to facet's IOHW. Output size s * (in - 1) + k - total with
// total = max(0, k - (in - 1) % s - 1) for SAME, 0 for VALID.
static facet_status deconv_op(conv_ctx *x, int i)
{
    const tfl_model *m = x->m;
    const tfl_op *op = &m->ops[i];
    const tfl_tensor *wt;
    raw_params p;
    float *wsrc = NULL, *bias = NULL, *wdst = NULL;
    int c, h, w, o, kh, kw, oh, ow, th, tw;
    int64_t dims[4], bdim[1];
    facet_status s;

    if (op->nin != 3 || op->nout != 1)
        return facet_fail(FACET_E_FORMAT, "%s: op %d (%s): %d inputs, %d "
                          "outputs", m->path, i, tfl_op_name(op), op->nin,
                          op->nout);
    if ((s = raw_options(&p, x, i, 0)) != FACET_OK ||
        (s = check_defined(x, i, op->in[0])) != FACET_OK ||
        (s = act_shape(x, i, op->in[0], &c, &h, &w)) != FACET_OK ||
        (s = const_data(&wsrc, x, i, op->in[1], 4)) != FACET_OK)
        return s;
    wt = &m->tensors[op->in[1]];
    o = wt->shape[0];
    kh = wt->shape[1];
    kw = wt->shape[2];
    if (wt->shape[3] != c || kh < 1 || kw < 1) {
        s = facet_fail(FACET_E_FORMAT, "%s: op %d (%s): weight %s [%d %d %d "
                       "%d] is not OHWI for %d input channels", m->path, i,
                       tfl_op_name(op), wt->name, o, kh, kw, wt->shape[3], c);
        goto done;
    }
    if ((s = const_data(&bias, x, i, op->in[2], 1)) != FACET_OK)
        goto done;
    if (m->tensors[op->in[2]].shape[0] != o) {
        s = facet_fail(FACET_E_FORMAT, "%s: op %d (%s): bias of %d for %d "
                       "outputs", m->path, i, tfl_op_name(op),
                       m->tensors[op->in[2]].shape[0], o);
        goto done;
    }
    th = tw = 0;
    if (p.padding == TFL_PAD_SAME) {
        th = kh - (h - 1) % p.stride_h - 1;
        tw = kw - (w - 1) % p.stride_w - 1;
        th = th > 0 ? th : 0;
        tw = tw > 0 ? tw : 0;
    }
    oh = p.stride_h * (h - 1) + kh - th;
    ow = p.stride_w * (w - 1) + kw - tw;
    if ((s = check_out(x, i, op->out[0], o, oh, ow)) != FACET_OK)
        goto done;

    // OHWI -> IOHW.
    wdst = malloc((size_t)o * c * kh * kw * sizeof(float));
    if (!wdst) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    for (int ic = 0; ic < c; ic++)
        for (int oc = 0; oc < o; oc++)
            for (int y = 0; y < kh; y++)
                for (int xx = 0; xx < kw; xx++)
                    wdst[(((size_t)ic * o + oc) * kh + y) * kw + xx] =
                        wsrc[(((size_t)oc * kh + y) * kw + xx) * c + ic];
    dims[0] = c;
    dims[1] = o;
    dims[2] = kh;
    dims[3] = kw;
    bdim[0] = o;
    if ((s = put_tensor(x, m->tensors[op->out[0]].name, "weight", 4, dims,
                        wdst)) != FACET_OK ||
        (s = put_tensor(x, m->tensors[op->out[0]].name, "bias", 1, bdim,
                        bias)) != FACET_OK)
        goto done;
    s = text_add(&x->graph, "deconv %s %s stride=%d,%d pad=%s "
                 "shape=%d,%d,%d\n", m->tensors[op->out[0]].name,
                 m->tensors[op->in[0]].name, p.stride_h, p.stride_w,
                 pad_word(p.padding), o, oh, ow);

done:
    free(wsrc);
    free(bias);
    free(wdst);
    return s;
}

// Convert every op in order; the graph text and the tensors go to x.
static facet_status convert_ops(conv_ctx *x)
{
    const tfl_model *m = x->m;
    facet_status s = FACET_OK;

    for (int i = 0; i < m->nops && s == FACET_OK; i++) {
        const tfl_op *op = &m->ops[i];
        const char *cname = op->custom ? op->custom : "";

        switch (op->code) {
        case TFL_OP_CONV_2D:
        case TFL_OP_DEPTHWISE_CONV_2D:
            s = conv_op(x, i);
            break;
        case TFL_OP_PRELU:
            s = prelu_op(x, i);
            break;
        case TFL_OP_ADD:
        case TFL_OP_CONCATENATION:
            s = join_op(x, i);
            break;
        case TFL_OP_CUSTOM:
            if (strcmp(cname, "MaxPoolingWithArgmax2D") == 0)
                s = pool_op(x, i);
            else if (strcmp(cname, "MaxUnpooling2D") == 0)
                s = unpool_op(x, i);
            else if (strcmp(cname, "Convolution2DTransposeBias") == 0)
                s = deconv_op(x, i);
            else
                s = facet_fail(FACET_E_UNSUPPORTED, "%s: op %d: custom op "
                               "\"%s\" is not supported", m->path, i,
                               cv_safe(cname));
            break;
        default:
            s = facet_fail(FACET_E_UNSUPPORTED, "%s: op %d: builtin op %s "
                           "(code %d) is not supported", m->path, i,
                           tfl_op_name(op), op->code);
            break;
        }
        if (s != FACET_OK)
            break;

        // Outputs become defined; each must be made only once.
        for (int k = 0; k < op->nout; k++) {
            if (x->defined[op->out[k]])
                return facet_fail(FACET_E_FORMAT, "%s: op %d: tensor %s is "
                                  "made twice", m->path, i,
                                  m->tensors[op->out[k]].name);
            x->defined[op->out[k]] = 1;
        }
    }
    return s;
}

// Convert the parsed hair model into the weight file `out_path`.
static facet_status tfl_convert_hair(const tfl_model *m, const char *out_path)
{
    conv_ctx x;
    int c, h, w, oc, oh, ow;
    const int64_t in_shape[3] = { NN_HAIR_CHANNELS, NN_HAIR_SIZE,
                                  NN_HAIR_SIZE };
    const float mean[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    const float std[4] = { 255.0f, 255.0f, 255.0f, 1.0f };
    facet_status s;

    memset(&x, 0, sizeof(x));
    x.m = m;

    // One input 1x512x512x4 and one output 1x512x512x2, both float32.
    if (m->nin != 1 || m->nout != 1)
        return facet_fail(FACET_E_FORMAT, "%s: %d inputs and %d outputs "
                          "(the hair model has 1 and 1)", m->path, m->nin,
                          m->nout);
    if ((s = act_shape(&x, 0, m->in[0], &c, &h, &w)) != FACET_OK ||
        (s = act_shape(&x, 0, m->out[0], &oc, &oh, &ow)) != FACET_OK)
        return s;
    if (c != NN_HAIR_CHANNELS || h != NN_HAIR_SIZE || w != NN_HAIR_SIZE ||
        oc != 2 || oh != NN_HAIR_SIZE || ow != NN_HAIR_SIZE)
        return facet_fail(FACET_E_FORMAT, "%s: input %dx%dx%d, output "
                          "%dx%dx%d (HxWxC); the hair model has 512x512x4 "
                          "and 512x512x2", m->path, h, w, c, oh, ow, oc);

    x.pool_op = malloc((size_t)m->ntensors * sizeof(int));
    x.defined = calloc((size_t)m->ntensors, sizeof(int));
    if (!x.pool_op || !x.defined) {
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    for (int i = 0; i < m->ntensors; i++)
        x.pool_op[i] = -1;
    x.defined[m->in[0]] = 1;

    // The ops, then the output must have been made by one of them.
    if ((s = wt_writer_create(&x.wr, out_path)) != FACET_OK ||
        (s = convert_ops(&x)) != FACET_OK)
        goto done;
    if (!x.defined[m->out[0]] || m->nops == 0) {
        s = facet_fail(FACET_E_FORMAT, "%s: no op makes the output %s",
                       m->path, m->tensors[m->out[0]].name);
        goto done;
    }

    // Model description and the graph.
    if ((s = wt_writer_meta_str(x.wr, "name", "hair_segmentation")) ||
        (s = wt_writer_meta_str(x.wr, "source", "MediaPipe "
             "hair_segmentation.tflite (sha256 d2c940c4fd80edeaf38f5d7387d1b"
             "4235ee320ed120080df67c663e749e77633), converted by "
             "convert_tflite")) ||
        (s = wt_writer_meta_str(x.wr, "license", "Apache-2.0")) ||
        (s = wt_writer_meta_str(x.wr, "hair.channels", "R,G,B,previous "
             "hair mask (zero for still photos)")) ||
        (s = wt_writer_meta(x.wr, "input_shape", WT_INT64, 3, in_shape)) ||
        (s = wt_writer_meta(x.wr, "mean", WT_FLOAT32, 4, mean)) ||
        (s = wt_writer_meta(x.wr, "std", WT_FLOAT32, 4, std)) ||
        (s = wt_writer_meta_str(x.wr, "hair.input",
                                m->tensors[m->in[0]].name)) ||
        (s = wt_writer_meta_str(x.wr, "hair.output",
                                m->tensors[m->out[0]].name)) ||
        (s = wt_writer_meta_str(x.wr, "hair.graph", x.graph.p)))
        goto done;
    s = wt_writer_finish(x.wr);
    x.wr = NULL;

done:
    wt_writer_free(x.wr);
    free(x.graph.p);
    free(x.pool_op);
    free(x.defined);
    return s;
}

#ifndef CONVERT_TFLITE_NO_MAIN
int main(int argc, char **argv)
{
    int help = cv_wants_help(argc, argv);
    int dump = argc == 3 && strcmp(argv[1], "--dump") == 0;
    const char *src = dump ? argv[2] : argv[1];
    uint8_t *buf = NULL;
    size_t n;
    tfl_model m;
    facet_status s;

    if (help || argc != 3) {
        fprintf(help ? stdout : stderr,
                "usage: convert_tflite MODEL.tflite OUT.fct\n"
                "       convert_tflite --dump MODEL.tflite\n"
                "Converts MediaPipe's hair segmentation model to a facet "
                "weight file,\nor lists its tensors and operators.\n");
        return help ? 0 : 2;
    }
    if ((s = cv_read_file(&buf, &n, src, TFL_MAX_FILE)) != FACET_OK ||
        (s = tfl_parse(&m, buf, n, src)) != FACET_OK) {
        cv_report_error("convert_tflite");
        facet_free(buf);
        return 1;
    }
    if (dump) {
        tfl_dump(stdout, &m);
    } else if ((s = tfl_convert_hair(&m, argv[2])) != FACET_OK) {
        cv_report_error("convert_tflite");
    } else {
        fprintf(stderr, "convert_tflite: %s: %d ops -> %s\n", src, m.nops,
                argv[2]);
    }
    tfl_free(&m);
    facet_free(buf);
    return s == FACET_OK ? 0 : 1;
}
#endif

// convert_matconvnet.c - reads the MatConvNet release of VGG-Face (the
// MATLAB file vgg-face.mat, "simplenn" layout) and writes its weights as a
// facet weight file, the same as convert_caffe makes from the Caffe
// release.
//
//   convert_matconvnet [--fc] [--any-width] IN.mat OUT.fct
//   convert_matconvnet --dump IN.mat     list variables and layers
//
// Two halves:
// - A reader of MAT-file level 5 (MATLAB's "-v6"/"-v7" files; what scipy
//   loads, which users of vgg-face.mat do): a 128-byte header, then data
//   elements, each an 8-byte tag (type, byte count; or the 4-byte "small
//   element" form) and its data padded to 8 bytes. A top-level variable is
//   a miMATRIX or a zlib-compressed miCOMPRESSED holding one. A matrix has
//   array flags (class), dimensions, a name, then by class: numeric data
//   (in any storage type), characters, cells (nested matrices) or structs
//   (field names, then a matrix per element and field). Everything is
//   checked against the bytes that hold it, inflated sizes against their
//   tags, nesting depth and counts against caps; errors name the file and
//   the byte offset (inside a compressed variable: the offset in its
//   inflated bytes and where the variable starts in the file).
// - The converter: the network is `layers` (a cell of structs, with `meta`
//   beside it) or `net.layers` (the older release). For conv1_1 .. conv5_3
//   and, with --fc, fc6 .. fc8 (convolutions in MatConvNet: 7x7 on pool5,
//   then 1x1) it checks type, pad, stride and the shapes, and writes the
//   same tensors as convert_caffe: OIHW convolutions, fc as out x in with
//   fc6's inputs in (c, y, x) order. MatConvNet filters are H x W x Cin x
//   Cout in MATLAB's column-major order, so element (y, x, ci, co) is at
//   y + kh (x + kw (ci + Cin co)).
//
// Channel order: the MatConvNet model takes R, G, B minus averageImage
// (129.1863, 104.7624, 93.5940); the Caffe release takes B, G, R. Here
// conv1_1's input channels are permuted to B, G, R (exact, no
// arithmetic) and the mean re-ordered, so every vggface.fct, whichever
// release it came from, takes the same input and gives the same results.
//
// The reader is also compiled into tests/test_caffe.c, which includes this
// file with CONVERT_MATCONVNET_NO_MAIN defined.
//
// ref: MathWorks, "MAT-File Format" (level 5: header, data element tags,
//      small data elements, miMATRIX subelements, miCOMPRESSED, mxCLASS
//      and miTYPE values)
// ref: MatConvNet simplenn: layer fields name, type, weights {filters,
//      biases}, pad, stride; filters H x W x D x K (vl_nnconv)
// ref: method-spec section 5.3 (b)
//
// Limitations:
// - Little-endian files only ("IM"); big-endian ones are rejected.
// - MAT v7.3 files (HDF5) are rejected with advice to re-save them as -v7.
// - Sparse, complex, object and function-handle arrays are rejected when
//   they are read (none occur in the model); other variables are skipped.
// - Every compressed variable is inflated whole (about 1.1 GB for the
//   official file with its fc layers).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../linalg/base.h"
#include "../../weights/weights.h"
#include "convert_io.h"
#include "protobuf.h"   // pb_file: the file mapping

// Sanity caps for sizes read from a file.
#define MAT_MAX_FILE (UINT64_C(16) << 30)
#define MAT_MAX_INFLATED (UINT64_C(8) << 30)
#define MAT_MAX_DEPTH 32
#define MAT_MAX_DIMS 8
#define MAT_MAX_FIELDS 4096
#define MAT_MAX_FIELD_LEN 256
#define MAT_MAX_VARS 65536

// Data types (miTYPE) and array classes (mxCLASS) of the MAT-file format.
enum {
    MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5,
    MI_UINT32 = 6, MI_SINGLE = 7, MI_DOUBLE = 9, MI_INT64 = 12,
    MI_UINT64 = 13, MI_MATRIX = 14, MI_COMPRESSED = 15, MI_UTF8 = 16,
    MI_UTF16 = 17, MI_UTF32 = 18
};
enum {
    MX_CELL = 1, MX_STRUCT = 2, MX_OBJECT = 3, MX_CHAR = 4, MX_SPARSE = 5,
    MX_DOUBLE = 6, MX_SINGLE = 7, MX_INT8 = 8, MX_UINT8 = 9, MX_INT16 = 10,
    MX_UINT16 = 11, MX_INT32 = 12, MX_UINT32 = 13, MX_INT64 = 14,
    MX_UINT64 = 15
};

// ---------------------------------------------------------------------------
// The reader

typedef struct mat_node {
    int cls;                          // MX_*; MX_DOUBLE for an empty []
    int ndims;
    int64_t dims[MAT_MAX_DIMS];
    uint64_t count;                   // product of dims
    char name[64];
    uint32_t type;                    // numeric / char data: MI_*
    const uint8_t *data;              // count values of `type`
    int nfields, field_len;           // struct: names, field_len apart
    char *fields;
    struct mat_node *kids;            // cell: count; struct: count*nfields
} mat_node;

typedef struct mat_file {
    const char *path;
    int nvars;
    mat_node vars[64];                // the first 64 matrices
    uint8_t *blocks[64];              // their inflated bytes
} mat_file;

// Where bytes come from, for messages: the file itself, or the inflated
// bytes of a variable compressed at file offset `zoff`.
typedef struct mat_buf {
    const char *path;
    const uint8_t *base;
    int compressed;
    uint64_t zoff;
} mat_buf;

static facet_status mat_fail(const mat_buf *b, facet_status s,
                             const uint8_t *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static facet_status mat_fail(const mat_buf *b, facet_status s,
                             const uint8_t *p, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (b->compressed)
        return facet_fail(s, "%s: MAT: byte %llu of the variable compressed"
                          " at byte %llu: %s", b->path,
                          (unsigned long long)(p - b->base),
                          (unsigned long long)b->zoff, what);
    return facet_fail(s, "%s: MAT: byte %llu: %s", b->path,
                      (unsigned long long)(p - b->base), what);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static size_t mi_size(uint32_t type)
{
    switch (type) {
    case MI_INT8: case MI_UINT8: case MI_UTF8: return 1;
    case MI_INT16: case MI_UINT16: case MI_UTF16: return 2;
    case MI_INT32: case MI_UINT32: case MI_SINGLE: case MI_UTF32: return 4;
    case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
    default: return 0;
    }
}

// One element tag at p in [p, end): its type, data and where the next
// element starts (after the padding to 8 bytes, which the last element of
// a block may lack; none after compressed data).
typedef struct mat_elem {
    uint32_t type, nbytes;
    const uint8_t *data, *next;
} mat_elem;

static facet_status read_elem(mat_elem *e, const mat_buf *b,
                              const uint8_t *p, const uint8_t *end)
{
    uint32_t w0;
    size_t left, padded;

    if (end - p < 8)
        return mat_fail(b, FACET_E_CORRUPT, p, "element tag cut off (%zu "
                        "bytes left)", (size_t)(end - p));
    w0 = rd32(p);
    if (w0 >> 16) {
        // Small element: type and count in one word, data in the next.
        e->type = w0 & 0xffff;
        e->nbytes = w0 >> 16;
        if (e->nbytes > 4)
            return mat_fail(b, FACET_E_FORMAT, p, "small element of %u "
                            "bytes", e->nbytes);
        e->data = p + 4;
        e->next = p + 8;
        return FACET_OK;
    }
    e->type = w0;
    e->nbytes = rd32(p + 4);
    e->data = p + 8;
    left = (size_t)(end - e->data);
    if (e->nbytes > left)
        return mat_fail(b, FACET_E_CORRUPT, p, "element of type %u claims "
                        "%u bytes, %zu left", e->type, e->nbytes, left);
    padded = e->type == MI_COMPRESSED ? e->nbytes
                                      : facet_align_up(e->nbytes, 8);
    e->next = e->data + (padded <= left ? padded : left);
    return FACET_OK;
}

static void node_free(mat_node *n)
{
    if (!n)
        return;
    if (n->kids) {
        uint64_t k = n->cls == MX_STRUCT ? n->count * (uint64_t)n->nfields
                                         : n->count;

        for (uint64_t i = 0; i < k; i++)
            node_free(&n->kids[i]);
        facet_free(n->kids);
    }
    facet_free(n->fields);
    memset(n, 0, sizeof *n);
}

static facet_status parse_matrix(mat_node *n, const mat_buf *b,
                                 const mat_elem *m, int depth);

// `k` nested matrices from `p` on, each a miMATRIX element.
static facet_status parse_children(mat_node *n, const mat_buf *b,
                                   const uint8_t *p, const uint8_t *end,
                                   uint64_t k, int depth)
{
    if (k > (uint64_t)(end - p) / 8)
        return mat_fail(b, FACET_E_CORRUPT, p, "%llu nested arrays cannot "
                        "fit in %zu bytes", (unsigned long long)k,
                        (size_t)(end - p));
    if (k == 0)
        return FACET_OK;
    if (!(n->kids = facet_calloc((size_t)k * sizeof *n->kids)))
        return facet_fail(FACET_E_NOMEM, "%s: %llu arrays", b->path,
                          (unsigned long long)k);
    for (uint64_t i = 0; i < k; i++) {
        mat_elem e;
        facet_status s = read_elem(&e, b, p, end);

        if (s != FACET_OK)
            return s;
        if (e.type != MI_MATRIX)
            return mat_fail(b, FACET_E_FORMAT, p, "nested element of type "
                            "%u, expected a matrix (14)", e.type);
        if ((s = parse_matrix(&n->kids[i], b, &e, depth + 1)) != FACET_OK)
            return s;
        p = e.next;
    }
    return FACET_OK;
}

// A miMATRIX element's subelements into `n`.
static facet_status parse_matrix(mat_node *n, const mat_buf *b,
                                 const mat_elem *m, int depth)
{
    const uint8_t *p = m->data, *end = m->data + m->nbytes;
    mat_elem e;
    facet_status s;
    uint32_t flags;

    memset(n, 0, sizeof *n);
    if (depth > MAT_MAX_DEPTH)
        return mat_fail(b, FACET_E_TOO_LARGE, p, "arrays nested more than "
                        "%d deep", MAT_MAX_DEPTH);

    // An element of no bytes is an empty array ([]).
    if (m->nbytes == 0) {
        n->cls = MX_DOUBLE;
        n->ndims = 2;
        return FACET_OK;
    }

    // Array flags: the class in the low byte, complex at bit 11.
    if ((s = read_elem(&e, b, p, end)) != FACET_OK)
        return s;
    if (e.type != MI_UINT32 || e.nbytes != 8)
        return mat_fail(b, FACET_E_FORMAT, p, "array flags are not 2 "
                        "uint32 values");
    flags = rd32(e.data);
    n->cls = (int)(flags & 0xff);
    if (flags & 0x800)
        return mat_fail(b, FACET_E_UNSUPPORTED, p, "complex array");
    p = e.next;

    // Dimensions, at least two; their product, capped by the bytes.
    if ((s = read_elem(&e, b, p, end)) != FACET_OK)
        return s;
    if (e.type != MI_INT32 || e.nbytes % 4 || e.nbytes < 8 ||
        e.nbytes > 4 * MAT_MAX_DIMS)
        return mat_fail(b, FACET_E_FORMAT, p, "dimensions: %u bytes of "
                        "type %u, expected 2..%d int32", e.nbytes, e.type,
                        MAT_MAX_DIMS);
    n->ndims = (int)(e.nbytes / 4);
    n->count = 1;
    for (int i = 0; i < n->ndims; i++) {
        int32_t d = (int32_t)rd32(e.data + 4 * i);

        if (d < 0)
            return mat_fail(b, FACET_E_FORMAT, p, "dimension %d is %d", i,
                            (int)d);
        n->dims[i] = d;
        if (d && n->count > (MAT_MAX_INFLATED / 8) / (uint64_t)d)
            return mat_fail(b, FACET_E_TOO_LARGE, p, "too many elements");
        n->count *= (uint64_t)d;
    }
    p = e.next;

    // Name (empty inside cells and structs).
    if ((s = read_elem(&e, b, p, end)) != FACET_OK)
        return s;
    if (e.type != MI_INT8 || e.nbytes >= sizeof n->name)
        return mat_fail(b, FACET_E_FORMAT, p, "array name: %u bytes of "
                        "type %u", e.nbytes, e.type);
    memcpy(n->name, e.data, e.nbytes);
    for (uint32_t i = 0; i < e.nbytes; i++)
        if ((unsigned char)n->name[i] < 32 || (unsigned char)n->name[i] > 126)
            n->name[i] = '?';
    p = e.next;

    switch (n->cls) {
    case MX_CELL:
        return parse_children(n, b, p, end, n->count, depth);
    case MX_STRUCT: {
        uint32_t len;

        // Field name length, then the names, NUL-padded to it.
        if ((s = read_elem(&e, b, p, end)) != FACET_OK)
            return s;
        if (e.type != MI_INT32 || e.nbytes != 4 || (len = rd32(e.data)) < 1
            || len > MAT_MAX_FIELD_LEN)
            return mat_fail(b, FACET_E_FORMAT, p, "struct field name "
                            "length");
        p = e.next;
        if ((s = read_elem(&e, b, p, end)) != FACET_OK)
            return s;
        if (e.type != MI_INT8 || e.nbytes % len ||
            e.nbytes / len > MAT_MAX_FIELDS)
            return mat_fail(b, FACET_E_FORMAT, p, "struct field names: %u "
                            "bytes for names of %u", e.nbytes, len);
        n->nfields = (int)(e.nbytes / len);
        n->field_len = (int)len;
        if (e.nbytes) {
            if (!(n->fields = facet_alloc(e.nbytes + 1)))
                return facet_fail(FACET_E_NOMEM, "%s: field names",
                                  b->path);
            memcpy(n->fields, e.data, e.nbytes);
            for (int i = 0; i < n->nfields; i++)
                n->fields[(i + 1) * (int)len - 1] = 0;
        }
        if (n->nfields && n->count > UINT64_MAX / (uint64_t)n->nfields)
            return mat_fail(b, FACET_E_TOO_LARGE, p, "struct too large");
        return parse_children(n, b, e.next, end,
                              n->count * (uint64_t)n->nfields, depth);
    }
    case MX_CHAR:
    case MX_DOUBLE: case MX_SINGLE: case MX_INT8: case MX_UINT8:
    case MX_INT16: case MX_UINT16: case MX_INT32: case MX_UINT32:
    case MX_INT64: case MX_UINT64: {
        size_t es;

        // The values (real part): characters as UTF-8, UTF-16/32 or
        // 8/16-bit codes; numbers in any integer or float storage type
        // (MATLAB stores whole numbers compactly).
        if ((s = read_elem(&e, b, p, end)) != FACET_OK)
            return s;
        es = mi_size(e.type);
        if (n->cls == MX_CHAR ? !es || e.type == MI_SINGLE ||
                                    e.type == MI_DOUBLE
                              : !es || e.type == MI_UTF8 ||
                                    e.type == MI_UTF16 || e.type == MI_UTF32)
            return mat_fail(b, FACET_E_FORMAT, p, "class %d data of type "
                            "%u", n->cls, e.type);
        if (e.nbytes != n->count * es && e.type != MI_UTF8)
            return mat_fail(b, FACET_E_FORMAT, p, "%llu values in %u bytes "
                            "of type %u", (unsigned long long)n->count,
                            e.nbytes, e.type);
        n->type = e.type;
        n->data = e.data;
        if (n->cls == MX_CHAR && e.type == MI_UTF8)
            n->count = e.nbytes;    // bytes, for strings
        return FACET_OK;
    }
    default:
        return mat_fail(b, FACET_E_UNSUPPORTED, m->data, "array class %d "
                        "(sparse, object or function handle)", n->cls);
    }
}

// Inflate the miCOMPRESSED element `e` into a new block holding one
// element; its tag says how many bytes to expect.
static facet_status inflate_elem(uint8_t **out, size_t *outn,
                                 const mat_buf *b, const mat_elem *e)
{
    z_stream z;
    uint8_t tag[8];
    uint64_t total;
    uint8_t *buf = NULL;
    const char *why = NULL;
    int rc;

    *out = NULL;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return facet_fail(FACET_E_NOMEM, "%s: zlib", b->path);
    z.next_in = (Bytef *)e->data;
    z.avail_in = e->nbytes;

    // The inner tag first, for the size.
    z.next_out = tag;
    z.avail_out = 8;
    rc = inflate(&z, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_STREAM_END) || z.avail_out) {
        inflateEnd(&z);
        return mat_fail(b, FACET_E_CORRUPT, e->data, "compressed data: %s",
                        z.msg ? z.msg : "too short for an element tag");
    }
    total = rd32(tag) >> 16 ? 8 : 8 + facet_align_up(rd32(tag + 4), 8);
    if (total > MAT_MAX_INFLATED || total > SIZE_MAX) {
        inflateEnd(&z);
        return mat_fail(b, FACET_E_TOO_LARGE, e->data, "compressed element"
                        " claims %llu bytes", (unsigned long long)total);
    }
    if (!(buf = facet_alloc((size_t)total))) {
        inflateEnd(&z);
        return facet_fail(FACET_E_NOMEM, "%s: %llu bytes", b->path,
                          (unsigned long long)total);
    }
    memcpy(buf, tag, 8);

    // The rest, in pieces zlib's 32-bit counts can hold. The stream may
    // or may not include the padding after the element.
    z.next_out = buf + 8;
    while (rc != Z_STREAM_END) {
        size_t room = (size_t)total - (size_t)(z.next_out - buf);
        uint8_t extra;

        if (room == 0) {
            // Full: only the end of the stream may follow.
            z.next_out = &extra;
            z.avail_out = 1;
            rc = inflate(&z, Z_NO_FLUSH);
            if (z.avail_out == 0) {
                rc = Z_DATA_ERROR;
                why = "more data than its element tag says";
            }
            z.next_out = buf + total;
            break;
        }
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
    }
    *outn = (size_t)(z.next_out - buf);
    if (rc != Z_STREAM_END || *outn < 8 + (size_t)(rd32(tag) >> 16 ? 0 :
                                                   rd32(tag + 4))) {
        if (!why)
            why = rc == Z_STREAM_END ? "fewer bytes than its element tag "
                                       "says"
                : z.msg ? z.msg : "truncated stream";
        inflateEnd(&z);
        facet_free(buf);
        return mat_fail(b, FACET_E_CORRUPT, e->data, "compressed data: %s",
                        why);
    }
    inflateEnd(&z);
    *out = buf;
    return FACET_OK;
}

void mat_close(mat_file *m)
{
    for (int i = 0; i < m->nvars; i++) {
        node_free(&m->vars[i]);
        facet_free(m->blocks[i]);
    }
    m->nvars = 0;
}

// Parse a MAT-file level 5 at `data`: every matrix variable (the first 64).
facet_status mat_parse(mat_file *m, const uint8_t *data, size_t size,
                       const char *path)
{
    mat_buf fb = {path, data, 0, 0};
    const uint8_t *p, *end = data + size;
    facet_status s = FACET_OK;

    memset(m, 0, sizeof *m);
    m->path = path;
    if (size < 128 || memcmp(data, "MATLAB ", 7))
        return facet_fail(FACET_E_FORMAT, "%s: not a MATLAB MAT-file",
                          path);
    if (data[126] == 'M' && data[127] == 'I')
        return facet_fail(FACET_E_UNSUPPORTED, "%s: big-endian MAT-file",
                          path);
    if (data[126] != 'I' || data[127] != 'M')
        return facet_fail(FACET_E_FORMAT, "%s: MAT header has no endian "
                          "mark", path);
    if (data[124] != 0x00 || data[125] != 0x01)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: MAT version %#x (v7.3 "
                          "files are HDF5: re-save with save -v7)", path,
                          (unsigned)(data[124] | data[125] << 8));

    for (p = data + 128; p < end && s == FACET_OK;) {
        mat_elem e, inner;
        mat_buf ib = {path, NULL, 1, 0};
        uint8_t *block = NULL;
        size_t n = 0;

        if ((s = read_elem(&e, &fb, p, end)) != FACET_OK)
            break;
        if (m->nvars == (int)(sizeof m->vars / sizeof m->vars[0]))
            break;
        if (e.type == MI_MATRIX) {
            s = parse_matrix(&m->vars[m->nvars++], &fb, &e, 0);
        } else if (e.type == MI_COMPRESSED) {
            ib.zoff = (uint64_t)(p - data);
            if ((s = inflate_elem(&block, &n, &fb, &e)) != FACET_OK)
                break;
            ib.base = block;
            m->blocks[m->nvars] = block;
            s = read_elem(&inner, &ib, block, block + n);
            if (s == FACET_OK && inner.type != MI_MATRIX)
                s = mat_fail(&ib, FACET_E_FORMAT, block, "compressed "
                             "element of type %u", inner.type);
            if (s == FACET_OK)
                s = parse_matrix(&m->vars[m->nvars], &ib, &inner, 0);
            m->nvars++;
        }
        p = e.next;
    }
    if (s != FACET_OK)
        mat_close(m);
    return s;
}

// Lookups.
static const mat_node *mat_var(const mat_file *m, const char *name)
{
    for (int i = 0; i < m->nvars; i++)
        if (!strcmp(m->vars[i].name, name))
            return &m->vars[i];
    return NULL;
}

// Field `name` of element `i` of a struct, or NULL.
static const mat_node *mat_field(const mat_node *s, uint64_t i,
                                 const char *name)
{
    if (!s || s->cls != MX_STRUCT || i >= s->count)
        return NULL;
    for (int f = 0; f < s->nfields; f++)
        if (!strcmp(s->fields + f * s->field_len, name))
            return &s->kids[i * (uint64_t)s->nfields + (uint64_t)f];
    return NULL;
}

// A char array as a C string (ASCII; anything else becomes '?').
static const char *mat_str(char *buf, size_t n, const mat_node *c)
{
    size_t k = 0, es;

    buf[0] = 0;
    if (!c || c->cls != MX_CHAR)
        return NULL;
    es = mi_size(c->type);
    for (uint64_t i = 0; i < c->count && k + 1 < n; i++) {
        uint32_t v = es == 1 ? c->data[i]
                   : es == 2 ? (uint32_t)(c->data[2 * i] |
                                          c->data[2 * i + 1] << 8)
                             : rd32(c->data + 4 * i);

        buf[k++] = v >= 32 && v < 127 ? (char)v : '?';
    }
    buf[k] = 0;
    return buf;
}

// Element i of a numeric array as double.
static double mat_num(const mat_node *a, uint64_t i)
{
    const uint8_t *p = a->data + i * mi_size(a->type);
    float f;
    double d;
    int64_t q;

    switch (a->type) {
    case MI_INT8: return (int8_t)p[0];
    case MI_UINT8: return p[0];
    case MI_INT16: return (int16_t)(p[0] | p[1] << 8);
    case MI_UINT16: return (uint16_t)(p[0] | p[1] << 8);
    case MI_INT32: return (int32_t)rd32(p);
    case MI_UINT32: return rd32(p);
    case MI_SINGLE: memcpy(&f, p, 4); return f;
    case MI_DOUBLE: memcpy(&d, p, 8); return d;
    case MI_INT64: memcpy(&q, p, 8); return (double)q;
    case MI_UINT64: memcpy(&q, p, 8); return (double)(uint64_t)q;
    default: return NAN;
    }
}

static int mat_is_num(const mat_node *a)
{
    return a && a->cls >= MX_DOUBLE && a->cls <= MX_UINT64 &&
           (a->data || a->count == 0);
}

// ---------------------------------------------------------------------------
// VGG-Face

#define MCN_CONVS 13
#define MCN_LAYERS 16
#define MCN_CLASSES 2622

static const struct mcn_layer {
    const char *name;
    int64_t width;
} mcn_vgg[MCN_LAYERS] = {
    {"conv1_1", 64},  {"conv1_2", 64},  {"conv2_1", 128}, {"conv2_2", 128},
    {"conv3_1", 256}, {"conv3_2", 256}, {"conv3_3", 256}, {"conv4_1", 512},
    {"conv4_2", 512}, {"conv4_3", 512}, {"conv5_1", 512}, {"conv5_2", 512},
    {"conv5_3", 512}, {"fc6", 4096},    {"fc7", 4096},    {"fc8", 2622},
};

// The authors' average face, R, G, B (MatConvNet meta), used when the file
// has none.
static const double mcn_mean_rgb[3] = {129.186279296875, 104.76238250732422,
                                       93.59396362304688};
#define MCN_SOURCE "vgg-face.mat, MatConvNet (Parkhi et al. 2015)"
#define MCN_LICENSE "CC-BY-NC-4.0: the VGG Face descriptor models of the " \
    "Visual Geometry Group, University of Oxford " \
    "(www.robots.ox.ac.uk/~vgg/software/vgg_face/), for research and " \
    "non-commercial use only"

typedef struct mcn_opts {
    int fc;
    int any_width;
} mcn_opts;

typedef struct mcn_net {
    const char *path;
    const mat_node *layers;    // cell of structs
    const mat_node *norm;      // meta.normalization (or net.normalization)
} mcn_net;

// The layer list and the normalization struct, in either layout.
static facet_status mcn_find(mcn_net *net, const mat_file *m)
{
    const mat_node *l = mat_var(m, "layers"), *meta = mat_var(m, "meta");

    net->path = m->path;
    if (!l) {
        const mat_node *n = mat_var(m, "net");

        l = mat_field(n, 0, "layers");
        meta = mat_field(n, 0, "meta");
        net->norm = mat_field(n, 0, "normalization");
    }
    if (!l || l->cls != MX_CELL)
        return facet_fail(FACET_E_FORMAT, "%s: no `layers` cell array (nor"
                          " net.layers): not a MatConvNet simplenn model",
                          m->path);
    net->layers = l;
    if (meta)
        net->norm = mat_field(meta, 0, "normalization");
    return FACET_OK;
}

// Layer i's struct (a cell element, itself a 1x1 struct), or NULL.
static const mat_node *mcn_layer(const mcn_net *net, uint64_t i)
{
    const mat_node *c = &net->layers->kids[i];

    return c->cls == MX_STRUCT && c->count == 1 ? c : NULL;
}

static int mcn_find_layer(const mcn_net *net, const char *name, int *dup)
{
    int at = -1;
    char buf[64];

    *dup = 0;
    for (uint64_t i = 0; i < net->layers->count; i++) {
        const char *s = mat_str(buf, sizeof buf,
                                mat_field(mcn_layer(net, i), 0, "name"));

        if (s && !strcmp(s, name)) {
            *dup |= at >= 0;
            at = (int)i;
        }
    }
    return at;
}

// Every value of a numeric field equals `want` (absent: `dflt` applies).
static int all_equal(const mat_node *a, double want, double dflt)
{
    if (!a || a->count == 0)
        return dflt == want;
    if (!mat_is_num(a))
        return 0;
    for (uint64_t i = 0; i < a->count; i++)
        if (mat_num(a, i) != want)
            return 0;
    return 1;
}

// One layer of mcn_vgg[]: find it, check it, write its tensors in facet's
// layout (the first convolution's inputs re-ordered to B, G, R).
static facet_status mcn_take(wt_writer *wr, const mcn_net *net, int k,
                             int64_t cin, int64_t *width, int *last,
                             const mcn_opts *o)
{
    const char *name = mcn_vgg[k].name;
    const int fc = k >= MCN_CONVS;
    const int64_t ks = k == MCN_CONVS ? 7 : fc ? 1 : 3;   // kernel side
    const int64_t in_c = k == MCN_CONVS ? cin / 49 : cin; // input channels
    const mat_node *l, *wcell, *f, *bias;
    int64_t cout, dims[4], nb;
    char type[32], tn[32];
    float *w = NULL, *b = NULL;
    facet_status s;
    int dup, i = mcn_find_layer(net, name, &dup);

    if (i < 0)
        return facet_fail(FACET_E_NOT_FOUND, "%s: no layer named %s (list "
                          "them with convert_matconvnet --dump)", net->path,
                          name);
    if (dup || i <= *last)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s %s", net->path,
                          name, dup ? "occurs more than once"
                                    : "is out of order");
    *last = i;
    l = mcn_layer(net, (uint64_t)i);
    if (!mat_str(type, sizeof type, mat_field(l, 0, "type")) ||
        strcmp(type, "conv"))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s is of type %s, "
                          "expected conv", net->path, name, type);

    // Filters and biases: weights = {filters, biases}, or the older
    // separate fields.
    wcell = mat_field(l, 0, "weights");
    if (wcell && wcell->cls == MX_CELL && wcell->count == 2) {
        f = &wcell->kids[0];
        bias = &wcell->kids[1];
    } else {
        f = mat_field(l, 0, "filters");
        bias = mat_field(l, 0, "biases");
    }
    if (!mat_is_num(f) || !mat_is_num(bias))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s has no numeric "
                          "filters and biases", net->path, name);
    cout = f->ndims == 4 ? f->dims[3] : 1;
    if (f->ndims > 4 || f->dims[0] != ks || f->dims[1] != ks ||
        (f->ndims > 2 ? f->dims[2] : 1) != in_c || cout < 1 ||
        ((!o->any_width || k == MCN_LAYERS - 1) && cout != mcn_vgg[k].width))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: filters are %lld x"
                          " %lld x %lld x %lld, expected %lld x %lld x %lld "
                          "x %lld", net->path, name, (long long)f->dims[0],
                          (long long)f->dims[1],
                          (long long)(f->ndims > 2 ? f->dims[2] : 1),
                          (long long)cout, (long long)ks, (long long)ks,
                          (long long)in_c, (long long)mcn_vgg[k].width);
    if (bias->count != (uint64_t)cout)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: %llu biases for "
                          "%lld outputs", net->path, name,
                          (unsigned long long)bias->count, (long long)cout);
    if (!all_equal(mat_field(l, 0, "pad"), fc ? 0 : 1, 0) ||
        !all_equal(mat_field(l, 0, "stride"), 1, 1) ||
        !all_equal(mat_field(l, 0, "dilate"), 1, 1))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: pad, stride or "
                          "dilate differ from VGG-Face's (%d, 1, 1)",
                          net->path, name, fc ? 0 : 1);

    // H x W x Cin x Cout column-major -> Cout x Cin x H x W; conv1_1's
    // input channels R, G, B -> B, G, R.
    nb = cout;
    w = facet_alloc((size_t)(cout * in_c * ks * ks) * sizeof(float));
    b = facet_alloc((size_t)cout * sizeof(float));
    if (!w || !b) {
        facet_free(w);
        facet_free(b);
        return facet_fail(FACET_E_NOMEM, "%s: layer %s", net->path, name);
    }
    for (int64_t co = 0; co < cout; co++) {
        for (int64_t ci = 0; ci < in_c; ci++) {
            int64_t src_c = k == 0 ? 2 - ci : ci;

            for (int64_t y = 0; y < ks; y++)
                for (int64_t x = 0; x < ks; x++)
                    w[((co * in_c + ci) * ks + y) * ks + x] = (float)mat_num(
                        f, (uint64_t)(y + ks * (x + ks * (src_c + in_c *
                                                          co))));
        }
        b[co] = (float)mat_num(bias, (uint64_t)co);
    }
    for (int64_t j = 0; j < cout * in_c * ks * ks; j++)
        if (!isfinite(w[j]) || (j < cout && !isfinite(b[j]))) {
            facet_free(w);
            facet_free(b);
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: a value is not"
                              " finite", net->path, name);
        }
    dims[0] = cout;
    dims[1] = fc ? in_c * ks * ks : in_c;
    dims[2] = dims[3] = 3;
    snprintf(tn, sizeof tn, "%s.weight", name);
    s = wt_writer_tensor(wr, tn, WT_F32, fc ? 2 : 4, dims, w);
    snprintf(tn, sizeof tn, "%s.bias", name);
    if (s == FACET_OK)
        s = wt_writer_tensor(wr, tn, WT_F32, 1, &nb, b);
    facet_free(w);
    facet_free(b);
    *width = cout;
    return s;
}

// Pools, where the file has them: max 2x2, stride 2, no padding.
static facet_status mcn_check_pools(const mcn_net *net)
{
    static const char *const pools[5] = {"pool1", "pool2", "pool3", "pool4",
                                         "pool5"};

    for (int p = 0; p < 5; p++) {
        char type[32], method[32];
        const mat_node *l;
        int dup, i = mcn_find_layer(net, pools[p], &dup);

        if (i < 0)
            continue;
        l = mcn_layer(net, (uint64_t)i);
        mat_str(type, sizeof type, mat_field(l, 0, "type"));
        if (!mat_str(method, sizeof method, mat_field(l, 0, "method")))
            strcpy(method, "max");
        if (dup || strcmp(type, "pool") || strcmp(method, "max") ||
            !all_equal(mat_field(l, 0, "pool"), 2, 0) ||
            !all_equal(mat_field(l, 0, "stride"), 2, 1) ||
            !all_equal(mat_field(l, 0, "pad"), 0, 0))
            return facet_fail(FACET_E_FORMAT, "%s: layer %s is not one 2x2 "
                              "max-pool of stride 2 without padding",
                              net->path, pools[p]);
    }
    return FACET_OK;
}

// The mean, B, G, R: from averageImage (3 values, or an H x W x 3 image
// averaged per channel), else the published one.
static facet_status mcn_mean(float mean_bgr[3], int *from_file,
                             const mcn_net *net)
{
    const mat_node *a = mat_field(net->norm, 0, "averageImage");
    double sum[3] = {0, 0, 0};
    uint64_t plane;

    *from_file = a && a->count > 0;
    if (!*from_file) {
        for (int c = 0; c < 3; c++)
            mean_bgr[c] = (float)mcn_mean_rgb[2 - c];
        return FACET_OK;
    }
    if (!mat_is_num(a) || a->count % 3)
        return facet_fail(FACET_E_FORMAT, "%s: averageImage has %llu "
                          "values, not 3 per channel", net->path,
                          (unsigned long long)a->count);

    // Column-major: the channel is the slowest index.
    plane = a->count / 3;
    for (int c = 0; c < 3; c++)
        for (uint64_t i = 0; i < plane; i++)
            sum[c] += mat_num(a, c * plane + i);
    for (int c = 0; c < 3; c++) {
        mean_bgr[2 - c] = (float)(sum[c] / (double)plane);
        if (!isfinite(mean_bgr[2 - c]))
            return facet_fail(FACET_E_FORMAT, "%s: averageImage is not "
                              "finite", net->path);
    }
    return FACET_OK;
}

facet_status mcn_convert(const mat_file *m, const char *out,
                         const mcn_opts *o)
{
    const int64_t input_shape[3] = {3, 224, 224};
    const int nlayers = o->fc ? MCN_LAYERS : MCN_CONVS;
    int64_t cin = 3, width = 0;
    int official = 1, last = -1, from_file;
    float mean[3];
    mcn_net net = {0};
    wt_writer *wr;
    facet_status s;

    if ((s = mcn_find(&net, m)) || (s = mcn_check_pools(&net)) ||
        (s = mcn_mean(mean, &from_file, &net)))
        return s;
    for (uint64_t i = 0; i < net.layers->count; i++)
        if (!mcn_layer(&net, i))
            return facet_fail(FACET_E_FORMAT, "%s: layers{%llu} is not a "
                              "struct", m->path, (unsigned long long)i + 1);
    if ((s = wt_writer_create(&wr, out)) != FACET_OK)
        return s;
    for (int k = 0; k < nlayers; k++) {
        if (k == MCN_CONVS)
            cin *= 7 * 7;
        if ((s = mcn_take(wr, &net, k, cin, &width, &last, o))) {
            wt_writer_free(wr);
            return s;
        }
        official &= width == mcn_vgg[k].width;
        cin = width;
    }
    s = wt_writer_meta_str(wr, "name", official ? "vggface"
                                                : "vggface-narrow");
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "source", MCN_SOURCE);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "license", MCN_LICENSE);
    if (s == FACET_OK)
        s = wt_writer_meta(wr, "input_shape", WT_INT64, 3, input_shape);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "channel_order", "BGR");
    if (s == FACET_OK)
        s = wt_writer_meta(wr, "mean", WT_FLOAT32, 3, mean);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "matconvnet.mean_source", from_file
                               ? "averageImage" : "published values");
    if (s == FACET_OK && o->fc) {
        const int64_t classes = MCN_CLASSES;

        s = wt_writer_meta(wr, "vggface.classes", WT_INT64, 1, &classes);
    }
    if (s != FACET_OK) {
        wt_writer_free(wr);
        return s;
    }
    return wt_writer_finish(wr);
}

facet_status mcn_convert_file(const char *in, const char *out,
                              const mcn_opts *o)
{
    pb_file f;
    mat_file m;
    facet_status s;

    if ((s = pb_file_open(&f, in, MAT_MAX_FILE)) != FACET_OK)
        return s;
    if ((s = mat_parse(&m, f.data, f.size, in)) == FACET_OK) {
        s = mcn_convert(&m, out, o);
        mat_close(&m);
    }
    pb_file_close(&f);
    return s;
}

void mcn_dump(FILE *fp, const mat_file *m)
{
    mcn_net net = {0};
    char buf[64], type[32];

    for (int i = 0; i < m->nvars; i++) {
        const mat_node *v = &m->vars[i];

        fprintf(fp, "variable %s: class %d, %d dims:", cv_safe(v->name),
                v->cls, v->ndims);
        for (int d = 0; d < v->ndims; d++)
            fprintf(fp, " %lld", (long long)v->dims[d]);
        fputc('\n', fp);
    }
    if (mcn_find(&net, m) != FACET_OK)
        return;
    for (uint64_t i = 0; i < net.layers->count; i++) {
        const mat_node *l = mcn_layer(&net, i), *wc;

        mat_str(buf, sizeof buf, mat_field(l, 0, "name"));
        mat_str(type, sizeof type, mat_field(l, 0, "type"));
        fprintf(fp, "%4llu  %-12s %-8s", (unsigned long long)i + 1,
                cv_safe(buf), cv_safe(type));
        wc = mat_field(l, 0, "weights");
        for (uint64_t j = 0; wc && wc->cls == MX_CELL && j < wc->count;
             j++) {
            fputs(j ? ", " : "  ", fp);
            for (int d = 0; d < wc->kids[j].ndims; d++)
                fprintf(fp, "%s%lld", d ? "x" : "",
                        (long long)wc->kids[j].dims[d]);
        }
        fputc('\n', fp);
    }
}

#ifndef CONVERT_MATCONVNET_NO_MAIN
static int usage(FILE *f, int status)
{
    fprintf(f,
            "usage: convert_matconvnet [--fc] [--any-width] IN.mat OUT.fct\n"
            "       convert_matconvnet --dump IN.mat\n"
            "  --fc         also convert fc6, fc7, fc8 (adds about 520 MB)\n"
            "  --any-width  accept narrower layers (test models)\n");
    return status;
}

int main(int argc, char **argv)
{
    mcn_opts o = {0};
    const char *files[2];
    int nfiles = 0, dump = 0;
    facet_status s;

    if (cv_wants_help(argc, argv))
        return usage(stdout, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fc"))
            o.fc = 1;
        else if (!strcmp(argv[i], "--any-width"))
            o.any_width = 1;
        else if (!strcmp(argv[i], "--dump"))
            dump = 1;
        else if (argv[i][0] == '-' || nfiles == 2)
            return usage(stderr, 2);
        else
            files[nfiles++] = argv[i];
    }
    if (nfiles != (dump ? 1 : 2))
        return usage(stderr, 2);
    if (dump) {
        pb_file f;
        mat_file m;

        if ((s = pb_file_open(&f, files[0], MAT_MAX_FILE)) == FACET_OK) {
            if ((s = mat_parse(&m, f.data, f.size, files[0])) == FACET_OK) {
                mcn_dump(stdout, &m);
                mat_close(&m);
            }
            pb_file_close(&f);
        }
    } else if ((s = mcn_convert_file(files[0], files[1], &o)) ==
               FACET_OK) {
        fprintf(stderr, "convert_matconvnet: %s -> %s (conv1_1 .. "
                "conv5_3%s)\n", files[0], files[1],
                o.fc ? ", fc6 .. fc8" : "");
    }
    if (s != FACET_OK) {
        cv_report_error("convert_matconvnet");
        return 1;
    }
    return 0;
}
#endif

// format.c - the .fct weight file: reader (map, validate every field, look
// up tensors and metadata) and writer (collect, lay out, write to a
// temporary file, rename into place).
//
// The reader trusts nothing it has not checked: the magic and version
// first, then the index CRC (so that damage to the header reads as damage
// rather than as a wrong field), then the other header fields, then each
// metadata and table entry field by field, then the data layout
// (alignment, order, overlap, zero padding), then every tensor's CRC. Only
// after all of that are float16 tensors widened into one aligned block.
// The order and the status of each check follow
// weights/FORMAT.md, "Validation".
//
// ref: weights/FORMAT.md (the specification this file implements).
// ref: RFC 3629 (UTF-8) for the text rules; zlib's crc32() for CRC-32.
//
// Limitations:
// - Little-endian hosts only: float32 tensors are used in place.
// - All CRCs are checked at open (1-1.5 GB/s on one core), so opening
//   touches every page of the file; WT_OPEN_NO_CRC skips them.
// - The writer holds every tensor in memory until wt_writer_finish, and
//   checks duplicate names only there.
// - A writer killed mid-write (SIGKILL, or SIGTERM/SIGINT with no handler)
//   leaves "<path>.tmp-XXXXXX" beside the target; the target itself is
//   untouched (rename is atomic) and no reader ever opens the leftover.
//   The library installs no signal handlers.
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "facet weight files are used in place: little-endian hosts only"
#endif

// ---------------------------------------------------------------------------
// Layout constants (FORMAT.md, "File layout")

#define HEADER_SIZE 64
#define DATA_ALIGN 64
#define META_FIXED 8      // key_len, type, reserved, count
#define META_MIN 24       // fixed part + one key block + one value block
#define TENSOR_FIXED 24   // name_len, dtype, ndim, crc, offset, bytes
#define TENSOR_MIN 32     // fixed part + one name block
#define TENSOR_MAX (TENSOR_FIXED + 8 * WT_MAX_DIMS + 256)
#define MAX_TABLE_BYTES ((uint64_t)WT_MAX_TENSORS * TENSOR_MAX)

// Header field offsets.
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_SIZE = 12,
    H_FILE_SIZE = 16,
    H_META_COUNT = 24,
    H_TENSOR_COUNT = 28,
    H_META_SIZE = 32,
    H_TABLE_SIZE = 40,
    H_DATA_OFFSET = 48,
    H_RESERVED = 56,
    H_INDEX_CRC = 60
};

static const unsigned char file_magic[8] = {0x89, 'F', 'C', 'T',
                                            '\r', '\n', 0x1a, '\n'};

// ---------------------------------------------------------------------------
// Little-endian fields, CRC-32 and text rules (shared by reader and writer)

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t align8(size_t x)
{
    return facet_align_up(x, 8);
}

// zlib's crc32 takes a 32-bit length: feed large buffers in pieces.
static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        uInt piece = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, piece);
        p += piece;
        n -= piece;
    }
    return crc;
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    return crc_update((uint32_t)crc32(0L, Z_NULL, 0), p, n);
}

// The index CRC: bytes [0, 60) then [64, data_offset), skipping the field
// that holds it.
static uint32_t index_crc(const unsigned char *base, size_t data_offset)
{
    uint32_t c = crc_of(base, H_INDEX_CRC);
    return crc_update(c, base + HEADER_SIZE, data_offset - HEADER_SIZE);
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
// above U+10FFFF.
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint32_t c = s[i], cp, min;
        size_t len;

        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

// NULL when the n bytes at s are acceptable text, else what is wrong.
// Names (keys and tensor names) refuse every control character; string
// values allow tab, newline and carriage return.
static const char *text_problem(const unsigned char *s, size_t n,
                                int is_name)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c == 0)
            return "contains a NUL byte";
        if ((c < 0x20 || c == 0x7f) &&
            (is_name || (c != '\t' && c != '\n' && c != '\r')))
            return "contains a control character";
    }
    if (!utf8_valid(s, n))
        return "is not valid UTF-8";
    return NULL;
}

// Index of the first nonzero byte in p[0, n), or n.
static size_t first_nonzero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return i;
    return n;
}

static size_t type_size(wt_type t)
{
    switch (t) {
    case WT_STRING: return 1;
    case WT_INT64: return 8;
    case WT_FLOAT64: return 8;
    case WT_FLOAT32: return 4;
    }
    return 0;
}

static const char *type_name(wt_type t)
{
    switch (t) {
    case WT_STRING: return "string";
    case WT_INT64: return "int64";
    case WT_FLOAT64: return "float64";
    case WT_FLOAT32: return "float32";
    }
    return "unknown";
}

static size_t dtype_size(wt_dtype t)
{
    return t == WT_F32 ? 4 : t == WT_F16 ? 2 : 0;
}

static const wt_meta *meta_lookup(const wt_meta *m, size_t n,
                                  const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].key, key))
            return &m[i];
    return NULL;
}

static int cmp_meta_ptr(const void *a, const void *b)
{
    return strcmp((*(const wt_meta *const *)a)->key,
                  (*(const wt_meta *const *)b)->key);
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const wt_tensor_info *const *)a)->name,
                  (*(const wt_tensor_info *const *)b)->name);
}

// Record a failure as "<path>: <message>".
static facet_status failf(const char *path, facet_status s, const char *fmt,
                          ...) __attribute__((format(printf, 3, 4)));
static facet_status failf(const char *path, facet_status s, const char *fmt,
                          ...)
{
    char msg[448];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return facet_fail(s, "%s: %s", path, msg);
}

// The reserved keys (FORMAT.md, "Reserved keys"): check their types and
// values and fill the matching wt_info fields. `m` holds n entries whose
// keys are already valid and unique.
static facet_status check_reserved(wt_info *info, const char *path,
                                   const wt_meta *m, size_t n)
{
    static const char *const required[] = {"name", "source", "license"};
    static const char *const strings[] = {"name", "source", "license",
                                          "channel_order"};
    const wt_meta *e;
    int c = 0;

    // Strings: required ones present, each of string type; name and
    // channel_order follow the stricter name rules.
    for (size_t i = 0; i < 3; i++)
        if (!meta_lookup(m, n, required[i]))
            return failf(path, FACET_E_FORMAT,
                         "required metadata '%s' is missing", required[i]);
    for (size_t i = 0; i < 4; i++) {
        e = meta_lookup(m, n, strings[i]);
        if (e && e->type != WT_STRING)
            return failf(path, FACET_E_FORMAT,
                         "metadata '%s' is %s, must be string", e->key,
                         type_name(e->type));
    }
    e = meta_lookup(m, n, "name");
    if (e->count == 0 || e->count > WT_MAX_NAME ||
        text_problem(e->value, e->count, 1))
        return failf(path, FACET_E_FORMAT,
                     "metadata 'name' must be 1..%d bytes of UTF-8 without "
                     "control characters", WT_MAX_NAME);
    info->name = e->value;
    info->source = meta_lookup(m, n, "source")->value;
    info->license = meta_lookup(m, n, "license")->value;
    if (!info->source[0] || !info->license[0])
        return failf(path, FACET_E_FORMAT,
                     "metadata 'source' and 'license' must not be empty");

    // input_shape: int64[3] = C, H, W with 1 <= C <= 64, 0 <= H, W <= 65536.
    e = meta_lookup(m, n, "input_shape");
    if (e) {
        const int64_t *v = e->value;
        if (e->type != WT_INT64 || e->count != 3)
            return failf(path, FACET_E_FORMAT,
                         "metadata 'input_shape' must be int64[3] (C, H, W)");
        if (v[0] < 1 || v[0] > 64 || v[1] < 0 || v[1] > 65536 || v[2] < 0 ||
            v[2] > 65536)
            return failf(path, FACET_E_FORMAT,
                         "metadata 'input_shape' (%lld, %lld, %lld) out of "
                         "range", (long long)v[0], (long long)v[1],
                         (long long)v[2]);
        info->channels = c = (int)v[0];
        info->height = (int)v[1];
        info->width = (int)v[2];
    }

    // channel_order: RGB, BGR (3 channels) or GRAY (1 channel).
    e = meta_lookup(m, n, "channel_order");
    if (e) {
        const char *s = e->value;
        int want = !strcmp(s, "GRAY") ? 1 :
                   (!strcmp(s, "RGB") || !strcmp(s, "BGR")) ? 3 : 0;
        if (want == 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata 'channel_order' must be RGB, BGR or GRAY");
        if (c && c != want)
            return failf(path, FACET_E_FORMAT,
                         "metadata 'channel_order' %s does not match %d "
                         "input channels", s, c);
        info->channel_order = s;
    }

    // mean and std: float32[C], finite; std > 0.
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "std" : "mean";
        const float *v;
        e = meta_lookup(m, n, key);
        if (!e)
            continue;
        if (!c || e->type != WT_FLOAT32 || e->count != (size_t)c)
            return failf(path, FACET_E_FORMAT,
                         "metadata '%s' must be float32[C] with C from "
                         "'input_shape'", key);
        v = e->value;
        for (int i = 0; i < c; i++)
            if (!isfinite(v[i]) || (k && !(v[i] > 0)))
                return failf(path, FACET_E_FORMAT,
                             "metadata '%s' value %d (%g) is not %s", key,
                             i, (double)v[i], k ? "finite and > 0" : "finite");
        if (k)
            info->std = v;
        else
            info->mean = v;
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Reader

struct wt_file {
    char *path;                 // for error details
    const unsigned char *base;  // the file's bytes
    size_t size;
    void *map;                  // the mapping (wt_open), or NULL
    void *copy;                 // the owned copy (wt_open_memory), or NULL
    wt_info info;
    size_t meta_size, table_size, data_offset;
    wt_meta *meta;              // meta_count, file order
    const wt_meta **meta_sorted;
    wt_tensor_info *tensors;    // tensor_count, file order
    const wt_tensor_info **sorted;
    float *widened;             // float32 copies of the float16 tensors
};

// CRC of the index [0, 60) + [64, data_offset) as it would be if the
// identity fields held version 1's values (the magic and version 1); the
// rest of the bytes as they are. Matching the stored CRC means the file is
// a version 1 file whose magic or version field was damaged.
static uint32_t index_crc_as_v1(const unsigned char *base, size_t data_offset)
{
    unsigned char id[H_HEADER_SIZE];
    uint32_t c;

    memcpy(id + H_MAGIC, file_magic, 8);
    wr32(id + H_VERSION, WT_VERSION);
    c = crc_of(id, H_HEADER_SIZE);
    c = crc_update(c, base + H_HEADER_SIZE, H_INDEX_CRC - H_HEADER_SIZE);
    return crc_update(c, base + HEADER_SIZE, data_offset - HEADER_SIZE);
}

// Where the index ends according to the data_offset field, if that lies
// inside the bytes present (so the index CRC can be computed), else 0.
static size_t index_extent(const wt_file *w)
{
    uint64_t d = rd64(w->base + H_DATA_OFFSET);
    return d >= HEADER_SIZE && d <= w->size ? (size_t)d : 0;
}

// The message for any header or index damage caught by the index CRC.
static facet_status fail_damaged(const char *path, const char *what,
                                 uint32_t stored, uint32_t computed)
{
    return failf(path, FACET_E_CORRUPT,
                 "header/index CRC mismatch: the file is damaged%s; run "
                 "`make weights` to rebuild it (stored %08x, computed %08x)",
                 what, stored, computed);
}

// Header fields, section sizes, the index CRC and the index padding, in
// the order of FORMAT.md, "Validation": identity (magic, version), then
// the index CRC, and only then the other header fields, so that damage
// anywhere in the index reads as damage rather than as a wrong field.
static facet_status check_header(wt_file *w, unsigned flags)
{
    const unsigned char *b = w->base;
    const char *path = w->path;
    uint64_t file_size, meta_size, table_size, data_offset, index_end;
    uint32_t v, meta_count, tensor_count, stored, computed;
    int check_crc = !(flags & WT_OPEN_NO_CRC);
    size_t z, extent;

    // Too short for a header: truncated if its first min(size, 8) bytes
    // are the magic's first bytes, not a facet file otherwise.
    if (w->size == 0)
        return failf(path, FACET_E_CORRUPT, "empty file (0 bytes)");
    if (w->size < HEADER_SIZE) {
        size_t k = w->size < 8 ? w->size : 8;
        if (memcmp(b, file_magic, k) != 0)
            return failf(path, FACET_E_FORMAT,
                         "not a facet weight file (bad magic)");
        return failf(path, FACET_E_CORRUPT,
                     "truncated: %zu bytes, shorter than the %d-byte header",
                     w->size, HEADER_SIZE);
    }
    stored = rd32(b + H_INDEX_CRC);
    extent = index_extent(w);

    // Identity: magic, then version. A wrong value is first tried as
    // damage to a version 1 file: if the index CRC matches once the field
    // holds its version 1 value, the file is damaged, not foreign or newer.
    v = rd32(b + H_VERSION);
    if (memcmp(b + H_MAGIC, file_magic, 8) != 0 || v != WT_VERSION) {
        int is_magic = memcmp(b + H_MAGIC, file_magic, 8) != 0;

        if (check_crc && extent &&
            index_crc_as_v1(b, extent) == stored)
            return fail_damaged(path, is_magic ? " (its magic is altered)" :
                                " (its version field is altered)", stored,
                                index_crc(b, extent));
        if (is_magic)
            return failf(path, FACET_E_FORMAT,
                         "not a facet weight file (bad magic)");
        return failf(path, FACET_E_VERSION,
                     "format version %u, this reader supports version %d "
                     "(rebuild it with `make weights`)", v, WT_VERSION);
    }

    // Locate the index [0, data_offset) inside the bytes present. When it
    // is not there, the file was cut inside its index (the recorded size
    // says more than is present) or data_offset itself is damaged.
    if (!extent) {
        file_size = rd64(b + H_FILE_SIZE);
        data_offset = rd64(b + H_DATA_OFFSET);
        if (file_size > w->size)
            return failf(path, FACET_E_CORRUPT,
                         "truncated: header says %llu bytes, file has %zu",
                         (unsigned long long)file_size, w->size);
        return failf(path, FACET_E_CORRUPT,
                     "header is damaged: data offset %llu lies outside the "
                     "%zu-byte file; run `make weights` to rebuild it",
                     (unsigned long long)data_offset, w->size);
    }

    // The index CRC, before any other field is believed: it covers the
    // whole header (this field aside), the metadata, the table and the
    // padding after it.
    if (check_crc && (computed = index_crc(b, extent)) != stored)
        return fail_damaged(path, "", stored, computed);

    // The other fixed fields: header size and reserved field.
    v = rd32(b + H_HEADER_SIZE);
    if (v != HEADER_SIZE)
        return failf(path, FACET_E_FORMAT, "header size %u, must be %d", v,
                     HEADER_SIZE);
    v = rd32(b + H_RESERVED);
    if (v != 0)
        return failf(path, FACET_E_FORMAT,
                     "reserved header field is 0x%08x, must be 0", v);

    // The recorded size against the real one.
    file_size = rd64(b + H_FILE_SIZE);
    if (file_size > w->size)
        return failf(path, FACET_E_CORRUPT,
                     "truncated: header says %llu bytes, file has %zu",
                     (unsigned long long)file_size, w->size);
    if (file_size < w->size)
        return failf(path, FACET_E_CORRUPT,
                     "%zu bytes, but the header says %llu (trailing data)",
                     w->size, (unsigned long long)file_size);

    // Counts and section sizes against their caps, then the layout
    // header | metadata | table | zero padding | data.
    meta_count = rd32(b + H_META_COUNT);
    tensor_count = rd32(b + H_TENSOR_COUNT);
    meta_size = rd64(b + H_META_SIZE);
    table_size = rd64(b + H_TABLE_SIZE);
    data_offset = rd64(b + H_DATA_OFFSET);
    if (meta_count > WT_MAX_META)
        return failf(path, FACET_E_TOO_LARGE,
                     "metadata count %u exceeds the cap of %d", meta_count,
                     WT_MAX_META);
    if (tensor_count > WT_MAX_TENSORS)
        return failf(path, FACET_E_TOO_LARGE,
                     "tensor count %u exceeds the cap of %d", tensor_count,
                     WT_MAX_TENSORS);
    if (meta_size > WT_MAX_META_BYTES)
        return failf(path, FACET_E_TOO_LARGE,
                     "metadata section of %llu bytes exceeds the cap of %u",
                     (unsigned long long)meta_size, WT_MAX_META_BYTES);
    if (table_size > MAX_TABLE_BYTES)
        return failf(path, FACET_E_TOO_LARGE,
                     "tensor table of %llu bytes exceeds the cap of %llu",
                     (unsigned long long)table_size,
                     (unsigned long long)MAX_TABLE_BYTES);
    if (meta_size % 8 || table_size % 8)
        return failf(path, FACET_E_FORMAT,
                     "section sizes %llu and %llu must be multiples of 8",
                     (unsigned long long)meta_size,
                     (unsigned long long)table_size);
    index_end = HEADER_SIZE + meta_size + table_size;   // capped: no overflow
    if (data_offset != facet_align_up(index_end, DATA_ALIGN))
        return failf(path, FACET_E_FORMAT,
                     "data offset %llu, must be %llu (the index end %llu "
                     "rounded up to %d)", (unsigned long long)data_offset,
                     (unsigned long long)facet_align_up(index_end, DATA_ALIGN),
                     (unsigned long long)index_end, DATA_ALIGN);
    // data_offset is the extent located above, so it lies in the file.
    FACET_ASSERT(data_offset == extent && extent <= file_size);
    w->meta_size = (size_t)meta_size;
    w->table_size = (size_t)table_size;
    w->data_offset = (size_t)data_offset;
    w->info.version = WT_VERSION;
    w->info.file_size = file_size;
    w->info.meta_count = meta_count;
    w->info.tensor_count = tensor_count;
    w->info.index_crc = stored;

    // Padding between the index and the data is zero.
    z = first_nonzero(b + index_end, w->data_offset - index_end);
    if (z < w->data_offset - index_end)
        return failf(path, FACET_E_FORMAT,
                     "nonzero padding byte at offset %llu",
                     (unsigned long long)(index_end + z));
    return FACET_OK;
}

// The metadata section: meta_count entries filling meta_size bytes.
static facet_status parse_meta(wt_file *w)
{
    const char *path = w->path;
    const unsigned char *sec = w->base + HEADER_SIZE;
    size_t n = w->info.meta_count, pos = 0, size = w->meta_size;

    // Bound the count by what the section can hold before allocating.
    if (n > size / META_MIN)
        return failf(path, FACET_E_FORMAT,
                     "metadata section of %zu bytes cannot hold %zu entries",
                     size, n);
    w->meta = calloc(n ? n : 1, sizeof *w->meta);
    w->meta_sorted = calloc(n ? n : 1, sizeof *w->meta_sorted);
    if (!w->meta || !w->meta_sorted)
        return failf(path, FACET_E_NOMEM, "out of memory for metadata");

    for (size_t i = 0; i < n; i++) {
        const unsigned char *e = sec + pos, *key, *val;
        size_t left = size - pos, key_len, count, esize, vbytes, kblock;
        unsigned long long at = HEADER_SIZE + (unsigned long long)pos;
        unsigned type;
        const char *why;
        size_t z;

        // Fixed part: key_len u16, type u8, reserved u8, count u32.
        if (left < META_FIXED)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu at offset %llu runs past the "
                         "end of the metadata section", i, at);
        key_len = rd16(e);
        type = e[2];
        count = rd32(e + 4);
        if (key_len == 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu has an empty key", i);
        if (key_len > WT_MAX_NAME)
            return failf(path, FACET_E_TOO_LARGE,
                         "metadata entry %zu key of %zu bytes exceeds %d", i,
                         key_len, WT_MAX_NAME);
        esize = type_size((wt_type)type);
        if (esize == 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu has unknown type %u", i, type);
        if (e[3] != 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu reserved byte is %u, must be 0",
                         i, e[3]);
        if (type != WT_STRING && count == 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu is an empty array", i);

        // Key block and value block must fit in the section.
        kblock = align8(key_len + 1);
        if (type == WT_STRING) {
            // count + 1 in 64 bits: a u32 count of 0xFFFFFFFF must not
            // wrap (it would on a 32-bit size_t).
            uint64_t v64 = (uint64_t)count + 1;
            if (v64 > SIZE_MAX)
                return failf(path, FACET_E_TOO_LARGE,
                             "metadata entry %zu value size overflows", i);
            vbytes = (size_t)v64;
        } else if (!facet_size_mul(&vbytes, count, esize))
            return failf(path, FACET_E_TOO_LARGE,
                         "metadata entry %zu value size overflows", i);
        if (kblock > left - META_FIXED ||
            vbytes > left - META_FIXED - kblock ||
            align8(vbytes) > left - META_FIXED - kblock)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu at offset %llu (%zu-byte key, "
                         "%zu-byte value) runs past the end of the metadata "
                         "section", i, at, key_len, vbytes);

        // The key: NUL-terminated text, zero padding after it.
        key = e + META_FIXED;
        if (key[key_len] != 0)
            return failf(path, FACET_E_FORMAT,
                         "metadata entry %zu key is not NUL-terminated", i);
        why = text_problem(key, key_len, 1);
        if (why)
            return failf(path, FACET_E_FORMAT, "metadata entry %zu key %s",
                         i, why);
        z = first_nonzero(key + key_len + 1, kblock - key_len - 1);
        if (z < kblock - key_len - 1)
            return failf(path, FACET_E_FORMAT,
                         "metadata '%s': nonzero padding after the key",
                         (const char *)key);

        // The value: strings NUL-terminated text; zero padding after it.
        val = key + kblock;
        if (type == WT_STRING) {
            if (val[count] != 0)
                return failf(path, FACET_E_FORMAT,
                             "metadata '%s': string value is not "
                             "NUL-terminated", (const char *)key);
            why = text_problem(val, count, 0);
            if (why)
                return failf(path, FACET_E_FORMAT,
                             "metadata '%s': string value %s",
                             (const char *)key, why);
        }
        z = first_nonzero(val + vbytes, align8(vbytes) - vbytes);
        if (z < align8(vbytes) - vbytes)
            return failf(path, FACET_E_FORMAT,
                         "metadata '%s': nonzero padding after the value",
                         (const char *)key);

        w->meta[i] = (wt_meta){.key = (const char *)key,
                               .type = (wt_type)type,
                               .count = count,
                               .value = val};
        w->meta_sorted[i] = &w->meta[i];
        pos += META_FIXED + kblock + align8(vbytes);
    }
    if (pos != size)
        return failf(path, FACET_E_FORMAT,
                     "metadata section has %zu bytes after its %zu entries",
                     size - pos, n);

    // Keys are unique; the sorted order also serves lookups.
    qsort(w->meta_sorted, n, sizeof *w->meta_sorted, cmp_meta_ptr);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(w->meta_sorted[i - 1]->key, w->meta_sorted[i]->key))
            return failf(path, FACET_E_FORMAT, "duplicate metadata key '%s'",
                         w->meta_sorted[i]->key);
    return check_reserved(&w->info, path, w->meta, n);
}

// One table entry at `e` with `left` bytes left in the table; fills *t and
// the entry's size.
static facet_status parse_tensor(wt_file *w, wt_tensor_info *t,
                                 size_t *entry_size, const unsigned char *e,
                                 size_t left, size_t i)
{
    const char *path = w->path;
    unsigned long long at = (unsigned long long)(e - w->base);
    size_t name_len, ndim, nblock, esize, count, bytes, z;
    const unsigned char *name;
    const char *why;
    unsigned dtype;

    // Fixed part: name_len u16, dtype u8, ndim u8, crc u32, offset u64,
    // bytes u64.
    if (left < TENSOR_FIXED)
        return failf(path, FACET_E_FORMAT,
                     "tensor entry %zu at offset %llu runs past the end of "
                     "the tensor table", i, at);
    name_len = rd16(e);
    dtype = e[2];
    ndim = e[3];
    if (name_len == 0)
        return failf(path, FACET_E_FORMAT, "tensor entry %zu has an empty "
                     "name", i);
    if (name_len > WT_MAX_NAME)
        return failf(path, FACET_E_TOO_LARGE,
                     "tensor entry %zu name of %zu bytes exceeds %d", i,
                     name_len, WT_MAX_NAME);
    esize = dtype_size((wt_dtype)dtype);
    if (esize == 0)
        return failf(path, FACET_E_FORMAT,
                     "tensor entry %zu has unknown dtype %u", i, dtype);
    if (ndim > WT_MAX_DIMS)
        return failf(path, FACET_E_TOO_LARGE,
                     "tensor entry %zu has %zu dims, more than %d", i, ndim,
                     WT_MAX_DIMS);
    nblock = align8(name_len + 1);
    if (8 * ndim + nblock > left - TENSOR_FIXED)
        return failf(path, FACET_E_FORMAT,
                     "tensor entry %zu at offset %llu (%zu dims, %zu-byte "
                     "name) runs past the end of the tensor table", i, at,
                     ndim, name_len);

    // The name: NUL-terminated text, zero padding after it.
    name = e + TENSOR_FIXED + 8 * ndim;
    if (name[name_len] != 0)
        return failf(path, FACET_E_FORMAT,
                     "tensor entry %zu name is not NUL-terminated", i);
    why = text_problem(name, name_len, 1);
    if (why)
        return failf(path, FACET_E_FORMAT, "tensor entry %zu name %s", i,
                     why);
    z = first_nonzero(name + name_len + 1, nblock - name_len - 1);
    if (z < nblock - name_len - 1)
        return failf(path, FACET_E_FORMAT,
                     "tensor '%s': nonzero padding after the name",
                     (const char *)name);

    // Dims: each 1..WT_MAX_DIM; the element count and byte size must not
    // overflow and must match the recorded size.
    memset(t, 0, sizeof *t);
    t->name = (const char *)name;
    t->dtype = (wt_dtype)dtype;
    t->ndim = (int)ndim;
    for (size_t k = 0; k < WT_MAX_DIMS; k++)
        t->dims[k] = 1;
    for (size_t k = 0; k < ndim; k++) {
        uint64_t d = rd64(e + TENSOR_FIXED + 8 * k);
        if (d == 0)
            return failf(path, FACET_E_FORMAT, "tensor '%s' dim %zu is 0",
                         t->name, k);
        if (d > (uint64_t)WT_MAX_DIM)
            return failf(path, FACET_E_TOO_LARGE,
                         "tensor '%s' dim %zu is %llu, more than %lld",
                         t->name, k, (unsigned long long)d,
                         (long long)WT_MAX_DIM);
        t->dims[k] = (int64_t)d;
    }
    if (!facet_size_prod(&count, t->dims, t->ndim) ||
        !facet_size_mul(&bytes, count, esize))
        return failf(path, FACET_E_TOO_LARGE,
                     "tensor '%s' size overflows", t->name);
    t->count = count;
    t->crc = rd32(e + 4);
    t->offset = rd64(e + 8);
    t->bytes = rd64(e + 16);
    if (t->bytes != bytes)
        return failf(path, FACET_E_FORMAT,
                     "tensor '%s' records %llu bytes, its shape needs %zu",
                     t->name, (unsigned long long)t->bytes, bytes);
    *entry_size = TENSOR_FIXED + 8 * ndim + nblock;
    return FACET_OK;
}

// The table, then the data layout: each tensor 64-aligned, in table order,
// inside the file, not overlapping; the file ends at the last tensor's end
// rounded up to 64; names unique.
static facet_status parse_table(wt_file *w)
{
    const char *path = w->path;
    const unsigned char *sec = w->base + HEADER_SIZE + w->meta_size;
    size_t n = w->info.tensor_count, pos = 0, size = w->table_size;
    uint64_t prev_end = w->data_offset, file_size = w->size, params = 0;
    facet_status st;

    // Bound the count by what the table can hold before allocating.
    if (n > size / TENSOR_MIN)
        return failf(path, FACET_E_FORMAT,
                     "tensor table of %zu bytes cannot hold %zu entries",
                     size, n);
    w->tensors = calloc(n ? n : 1, sizeof *w->tensors);
    w->sorted = calloc(n ? n : 1, sizeof *w->sorted);
    if (!w->tensors || !w->sorted)
        return failf(path, FACET_E_NOMEM, "out of memory for the table");

    for (size_t i = 0; i < n; i++) {
        wt_tensor_info *t = &w->tensors[i];
        size_t entry_size = 0;

        st = parse_tensor(w, t, &entry_size, sec + pos, size - pos, i);
        if (st != FACET_OK)
            return st;
        pos += entry_size;

        // Placement of the data.
        if (t->offset % DATA_ALIGN)
            return failf(path, FACET_E_FORMAT,
                         "tensor '%s' data offset %llu is not a multiple "
                         "of %d", t->name, (unsigned long long)t->offset,
                         DATA_ALIGN);
        if (t->offset < w->data_offset)
            return failf(path, FACET_E_FORMAT,
                         "tensor '%s' data offset %llu lies before the data "
                         "section (%zu)", t->name,
                         (unsigned long long)t->offset, w->data_offset);
        if (t->offset < prev_end)
            return failf(path, FACET_E_FORMAT,
                         "tensor '%s' (offset %llu) overlaps tensor '%s' "
                         "(offset %llu, %llu bytes): data must follow "
                         "table order without overlap", t->name,
                         (unsigned long long)t->offset, w->tensors[i - 1].name,
                         (unsigned long long)w->tensors[i - 1].offset,
                         (unsigned long long)w->tensors[i - 1].bytes);
        if (t->offset > file_size || t->bytes > file_size - t->offset)
            return failf(path, FACET_E_CORRUPT,
                         "tensor '%s' data runs past end of file (offset "
                         "%llu, size %llu, file %llu)", t->name,
                         (unsigned long long)t->offset,
                         (unsigned long long)t->bytes,
                         (unsigned long long)file_size);
        prev_end = t->offset + t->bytes;
        params += t->count;
        w->sorted[i] = t;
    }
    if (pos != size)
        return failf(path, FACET_E_FORMAT,
                     "tensor table has %zu bytes after its %zu entries",
                     size - pos, n);
    if (file_size != facet_align_up(prev_end, DATA_ALIGN))
        return failf(path, FACET_E_FORMAT,
                     "file has %llu bytes, but its data ends at %llu (%llu "
                     "with padding)", (unsigned long long)file_size,
                     (unsigned long long)prev_end,
                     (unsigned long long)facet_align_up(prev_end, DATA_ALIGN));
    w->info.param_count = params;

    // Names are unique; the sorted order also serves lookups.
    qsort(w->sorted, n, sizeof *w->sorted, cmp_tensor_ptr);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(w->sorted[i - 1]->name, w->sorted[i]->name))
            return failf(path, FACET_E_FORMAT, "duplicate tensor name '%s'",
                         w->sorted[i]->name);
    return FACET_OK;
}

// Every byte of the data section outside a tensor is zero.
static facet_status check_data_padding(const wt_file *w)
{
    size_t at = w->data_offset;

    for (size_t i = 0; i <= w->info.tensor_count; i++) {
        size_t end = i < w->info.tensor_count ? (size_t)w->tensors[i].offset
                                              : w->size;
        size_t z = first_nonzero(w->base + at, end - at);
        if (z < end - at)
            return failf(w->path, FACET_E_FORMAT,
                         "nonzero padding byte at offset %zu", at + z);
        if (i < w->info.tensor_count)
            at = end + (size_t)w->tensors[i].bytes;
    }
    return FACET_OK;
}

static facet_status check_tensor_crcs(const wt_file *w)
{
    for (size_t i = 0; i < w->info.tensor_count; i++) {
        const wt_tensor_info *t = &w->tensors[i];
        uint32_t c = crc_of(w->base + t->offset, (size_t)t->bytes);
        if (c != t->crc)
            return failf(w->path, FACET_E_CORRUPT,
                         "tensor '%s' CRC mismatch (stored %08x, computed "
                         "%08x)", t->name, t->crc, c);
    }
    return FACET_OK;
}

// Float32 views: in place for float32 tensors, one aligned block of
// widened copies for the float16 ones.
static facet_status make_views(wt_file *w)
{
    size_t total = 0, at = 0;

    for (size_t i = 0; i < w->info.tensor_count; i++) {
        const wt_tensor_info *t = &w->tensors[i];
        size_t bytes;
        if (t->dtype != WT_F16)
            continue;
        if (!facet_size_mul(&bytes, t->count, sizeof(float)) ||
            !facet_size_add(&total, total, facet_align_up(bytes, FACET_ALIGN)))
            return failf(w->path, FACET_E_TOO_LARGE,
                         "float16 tensors too large to widen");
    }
    if (total) {
        w->widened = facet_alloc(total);
        if (!w->widened)
            return failf(w->path, FACET_E_NOMEM,
                         "out of memory widening float16 tensors (%zu "
                         "bytes)", total);
    }
    for (size_t i = 0; i < w->info.tensor_count; i++) {
        wt_tensor_info *t = &w->tensors[i];
        const unsigned char *src = w->base + t->offset;
        if (t->dtype == WT_F32) {
            t->data = (const float *)(const void *)src;
            continue;
        }
        float *dst = (float *)(void *)((unsigned char *)w->widened + at);
        wt_f16_to_f32(dst, (const uint16_t *)(const void *)src, t->count);
        t->data = dst;
        at += facet_align_up(t->count * sizeof(float), FACET_ALIGN);
    }
    return FACET_OK;
}

static facet_status open_bytes(wt_file *w, unsigned flags)
{
    facet_status st;

    if ((st = check_header(w, flags)) != FACET_OK ||
        (st = parse_meta(w)) != FACET_OK ||
        (st = parse_table(w)) != FACET_OK ||
        (st = check_data_padding(w)) != FACET_OK)
        return st;
    if (!(flags & WT_OPEN_NO_CRC) && (st = check_tensor_crcs(w)) != FACET_OK)
        return st;
    return make_views(w);
}

static wt_file *file_new(const char *path)
{
    wt_file *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return NULL;
    }
    return w;
}

facet_status wt_open(wt_file **out, const char *path, unsigned flags)
{
    struct stat sb;
    facet_status st;
    wt_file *w;
    int fd;

    FACET_ASSERT(out && path);
    *out = NULL;

    // Open and size the file: a regular file that fits in memory
    // (O_NONBLOCK so that a FIFO is refused rather than waited on).
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return failf(path, FACET_E_NOT_FOUND,
                         "no such file (is it installed? `make weights`)");
        return failf(path, FACET_E_IO, "cannot open: %s", strerror(errno));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return failf(path, FACET_E_IO, "not a readable regular file");
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return failf(path, FACET_E_TOO_LARGE, "file too large to map");
    }
    w = file_new(path);
    if (!w) {
        close(fd);
        return failf(path, FACET_E_NOMEM, "out of memory");
    }

    // Map it read-only; the mapping outlives the descriptor.
    w->size = (size_t)sb.st_size;
    if (w->size > 0) {
        void *m = mmap(NULL, w->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int err = errno;
            close(fd);
            wt_close(w);
            return failf(path, FACET_E_IO, "cannot map: %s", strerror(err));
        }
        w->map = m;
        w->base = m;
    }
    close(fd);

    st = open_bytes(w, flags);
    if (st != FACET_OK) {
        wt_close(w);
        return st;
    }
    *out = w;
    return FACET_OK;
}

facet_status wt_open_memory(wt_file **out, const void *data, size_t size,
                            const char *name, unsigned flags)
{
    facet_status st;
    wt_file *w;

    FACET_ASSERT(out && (data || size == 0) && name);
    *out = NULL;
    w = file_new(name);
    if (!w)
        return failf(name, FACET_E_NOMEM, "out of memory");

    // An aligned private copy, so views are aligned whatever `data` is.
    if (size > 0) {
        w->copy = facet_alloc(size);
        if (!w->copy) {
            wt_close(w);
            return failf(name, FACET_E_NOMEM, "out of memory (%zu bytes)",
                         size);
        }
        memcpy(w->copy, data, size);
        w->base = w->copy;
    }
    w->size = size;

    st = open_bytes(w, flags);
    if (st != FACET_OK) {
        wt_close(w);
        return st;
    }
    *out = w;
    return FACET_OK;
}

facet_status wt_verify(const wt_file *w)
{
    uint32_t c;

    FACET_ASSERT(w);
    c = index_crc(w->base, w->data_offset);
    if (c != w->info.index_crc)
        return fail_damaged(w->path, "", w->info.index_crc, c);
    return check_tensor_crcs(w);
}

void wt_close(wt_file *w)
{
    if (!w)
        return;
    if (w->map)
        munmap(w->map, w->size);
    facet_free(w->copy);
    facet_free(w->widened);
    free(w->meta);
    free(w->meta_sorted);
    free(w->tensors);
    free(w->sorted);
    free(w->path);
    free(w);
}

const char *wt_path(const wt_file *w)
{
    return w->path;
}

const wt_info *wt_file_info(const wt_file *w)
{
    return &w->info;
}

size_t wt_tensor_count(const wt_file *w)
{
    return w->info.tensor_count;
}

const wt_tensor_info *wt_tensor_at(const wt_file *w, size_t i)
{
    FACET_ASSERT(i < w->info.tensor_count);
    return &w->tensors[i];
}

static int cmp_name_tensor(const void *key, const void *elem)
{
    return strcmp(key, (*(const wt_tensor_info *const *)elem)->name);
}

static int cmp_key_meta(const void *key, const void *elem)
{
    return strcmp(key, (*(const wt_meta *const *)elem)->key);
}

const wt_tensor_info *wt_tensor_find(const wt_file *w, const char *name)
{
    const wt_tensor_info *const *p;

    FACET_ASSERT(w && name);
    p = bsearch(name, w->sorted, w->info.tensor_count, sizeof *w->sorted,
                cmp_name_tensor);
    if (!p) {
        failf(w->path, FACET_E_NOT_FOUND, "no tensor '%s'", name);
        return NULL;
    }
    return *p;
}

// "[3,3,32,64]" into buf; -1 dims (wildcards) print as "?".
static void shape_str(char *buf, size_t cap, int ndim, const int64_t *dims)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++) {
        if (dims[i] == -1)
            len += (size_t)snprintf(buf + len, cap - len, "%s?",
                                    i ? "," : "");
        else
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld",
                                    i ? "," : "", (long long)dims[i]);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

const float *wt_tensor(const wt_file *w, const char *name, int ndim,
                       const int64_t *expect_dims)
{
    const wt_tensor_info *t = wt_tensor_find(w, name);
    int ok;

    if (!t)
        return NULL;
    FACET_ASSERT(ndim >= 0 && (ndim == 0 || expect_dims));
    ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = expect_dims[i] == -1 || expect_dims[i] == t->dims[i];
    if (!ok) {
        char have[160], want[160];
        shape_str(have, sizeof have, t->ndim, t->dims);
        shape_str(want, sizeof want, ndim, expect_dims);
        failf(w->path, FACET_E_FORMAT,
              "tensor '%s' has shape %s, expected %s", name, have, want);
        return NULL;
    }
    return t->data;
}

size_t wt_meta_count(const wt_file *w)
{
    return w->info.meta_count;
}

const wt_meta *wt_meta_at(const wt_file *w, size_t i)
{
    FACET_ASSERT(i < w->info.meta_count);
    return &w->meta[i];
}

const wt_meta *wt_meta_find(const wt_file *w, const char *key)
{
    const wt_meta *const *p;

    FACET_ASSERT(w && key);
    p = bsearch(key, w->meta_sorted, w->info.meta_count,
                sizeof *w->meta_sorted, cmp_key_meta);
    if (!p) {
        failf(w->path, FACET_E_NOT_FOUND, "no metadata '%s'", key);
        return NULL;
    }
    return *p;
}

const void *wt_meta_get(const wt_file *w, const char *key, wt_type type,
                        size_t count)
{
    const wt_meta *m = wt_meta_find(w, key);

    if (!m)
        return NULL;
    if (m->type != type || (count && m->count != count)) {
        if (count)
            failf(w->path, FACET_E_FORMAT,
                  "metadata '%s' is %s[%zu], expected %s[%zu]", key,
                  type_name(m->type), m->count, type_name(type), count);
        else
            failf(w->path, FACET_E_FORMAT,
                  "metadata '%s' is %s, expected %s", key,
                  type_name(m->type), type_name(type));
        return NULL;
    }
    return m->value;
}

const char *wt_meta_str(const wt_file *w, const char *key)
{
    return wt_meta_get(w, key, WT_STRING, 0);
}

facet_status wt_meta_i64(int64_t *out, const wt_file *w, const char *key)
{
    const int64_t *v = wt_meta_get(w, key, WT_INT64, 1);
    if (!v)
        return wt_meta_find(w, key) ? FACET_E_FORMAT : FACET_E_NOT_FOUND;
    *out = *v;
    return FACET_OK;
}

facet_status wt_meta_f64(double *out, const wt_file *w, const char *key)
{
    const double *v = wt_meta_get(w, key, WT_FLOAT64, 1);
    if (!v)
        return wt_meta_find(w, key) ? FACET_E_FORMAT : FACET_E_NOT_FOUND;
    *out = *v;
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Writer

typedef struct wtw_tensor {
    char *name;
    wt_dtype dtype;
    int ndim;
    int64_t dims[WT_MAX_DIMS];
    void *data;       // stored bytes (float32 or float16)
    size_t bytes;
    uint32_t crc;
} wtw_tensor;

struct wt_writer {
    char *path;
    wt_meta *meta;            // keys and values owned
    size_t meta_count, meta_cap, meta_bytes;
    wtw_tensor *tensors;
    size_t tensor_count, tensor_cap;
    facet_status error;       // first failure, replayed by finish
    char detail[512];
};

// Remember the first failure (status and detail) and return it.
static facet_status writer_fail(wt_writer *wr, facet_status s,
                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static facet_status writer_fail(wt_writer *wr, facet_status s,
                                const char *fmt, ...)
{
    char msg[448];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    facet_fail(s, "%s: %s", wr->path, msg);
    if (wr->error == FACET_OK) {
        wr->error = s;
        snprintf(wr->detail, sizeof wr->detail, "%s", facet_error());
    }
    return s;
}

// A key or tensor name: 1..WT_MAX_NAME bytes of name text.
static const char *name_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "is empty";
    if (n > WT_MAX_NAME)
        return "is longer than 255 bytes";
    return text_problem((const unsigned char *)s, n, 1);
}

facet_status wt_writer_create(wt_writer **out, const char *path)
{
    wt_writer *wr;

    FACET_ASSERT(out && path);
    *out = NULL;
    if (!path[0])
        return facet_fail(FACET_E_ARG, "wt_writer_create: empty path");
    wr = calloc(1, sizeof *wr);
    if (!wr || !(wr->path = strdup(path))) {
        free(wr);
        return failf(path, FACET_E_NOMEM, "out of memory");
    }
    *out = wr;
    return FACET_OK;
}

facet_status wt_writer_meta(wt_writer *wr, const char *key, wt_type type,
                            size_t count, const void *value)
{
    size_t esize = type_size(type), vbytes, entry;
    const char *why;
    wt_meta *m;
    void *copy;
    char *kcopy;

    FACET_ASSERT(wr && key && (value || count == 0));
    if (wr->error)
        return wr->error;

    // Key, type and size.
    why = name_problem(key);
    if (why)
        return writer_fail(wr, FACET_E_ARG, "metadata key %s", why);
    if (esize == 0)
        return writer_fail(wr, FACET_E_ARG, "metadata '%s': unknown type %d",
                           key, (int)type);
    if (type != WT_STRING && count == 0)
        return writer_fail(wr, FACET_E_ARG,
                           "metadata '%s': empty array", key);
    if (type == WT_STRING) {
        why = text_problem(value, count, 0);
        if (why)
            return writer_fail(wr, FACET_E_ARG,
                               "metadata '%s': string value %s", key, why);
    }
    if (count > UINT32_MAX || !facet_size_mul(&vbytes, count, esize) ||
        vbytes > WT_MAX_META_BYTES)
        return writer_fail(wr, FACET_E_TOO_LARGE,
                           "metadata '%s': value too large", key);
    entry = META_FIXED + align8(strlen(key) + 1) +
            align8(vbytes + (type == WT_STRING));
    if (wr->meta_count >= WT_MAX_META ||
        entry > WT_MAX_META_BYTES - wr->meta_bytes)
        return writer_fail(wr, FACET_E_TOO_LARGE,
                           "metadata '%s': more than %d entries or %u "
                           "bytes", key, WT_MAX_META, WT_MAX_META_BYTES);

    // Copy key and value (strings get their NUL).
    if (wr->meta_count == wr->meta_cap) {
        size_t cap = wr->meta_cap ? 2 * wr->meta_cap : 16;
        wt_meta *grown = realloc(wr->meta, cap * sizeof *grown);
        if (!grown)
            return writer_fail(wr, FACET_E_NOMEM, "out of memory");
        wr->meta = grown;
        wr->meta_cap = cap;
    }
    kcopy = strdup(key);
    copy = malloc(vbytes + 1);
    if (!kcopy || !copy) {
        free(kcopy);
        free(copy);
        return writer_fail(wr, FACET_E_NOMEM, "out of memory");
    }
    if (vbytes)
        memcpy(copy, value, vbytes);
    ((char *)copy)[vbytes] = 0;
    m = &wr->meta[wr->meta_count++];
    *m = (wt_meta){.key = kcopy, .type = type, .count = count, .value = copy};
    wr->meta_bytes += entry;
    return FACET_OK;
}

facet_status wt_writer_meta_str(wt_writer *wr, const char *key,
                                const char *value)
{
    FACET_ASSERT(value);
    return wt_writer_meta(wr, key, WT_STRING, strlen(value), value);
}

facet_status wt_writer_tensor(wt_writer *wr, const char *name,
                              wt_dtype dtype, int ndim,
                              const int64_t *dims, const float *data)
{
    size_t count, esize = dtype_size(dtype), bytes;
    wtw_tensor *t;
    const char *why;

    FACET_ASSERT(wr && name && data && (ndim <= 0 || dims));
    if (wr->error)
        return wr->error;

    // Name, dtype and shape.
    why = name_problem(name);
    if (why)
        return writer_fail(wr, FACET_E_ARG, "tensor name %s", why);
    if (esize == 0)
        return writer_fail(wr, FACET_E_ARG, "tensor '%s': unknown dtype %d",
                           name, (int)dtype);
    if (ndim < 0 || ndim > WT_MAX_DIMS)
        return writer_fail(wr, FACET_E_ARG,
                           "tensor '%s': %d dims, must be 0..%d", name, ndim,
                           WT_MAX_DIMS);
    for (int k = 0; k < ndim; k++)
        if (dims[k] < 1 || dims[k] > WT_MAX_DIM)
            return writer_fail(wr, FACET_E_ARG,
                               "tensor '%s': dim %d is %lld, must be "
                               "1..%lld", name, k, (long long)dims[k],
                               (long long)WT_MAX_DIM);
    if (!facet_size_prod(&count, dims, ndim) ||
        !facet_size_mul(&bytes, count, esize))
        return writer_fail(wr, FACET_E_TOO_LARGE,
                           "tensor '%s': size overflows", name);
    if (wr->tensor_count >= WT_MAX_TENSORS)
        return writer_fail(wr, FACET_E_TOO_LARGE,
                           "tensor '%s': more than %d tensors", name,
                           WT_MAX_TENSORS);

    // Store the data in its file dtype, with its CRC.
    if (wr->tensor_count == wr->tensor_cap) {
        size_t cap = wr->tensor_cap ? 2 * wr->tensor_cap : 16;
        wtw_tensor *grown = realloc(wr->tensors, cap * sizeof *grown);
        if (!grown)
            return writer_fail(wr, FACET_E_NOMEM, "out of memory");
        wr->tensors = grown;
        wr->tensor_cap = cap;
    }
    t = &wr->tensors[wr->tensor_count];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = malloc(bytes);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return writer_fail(wr, FACET_E_NOMEM,
                           "tensor '%s': out of memory (%zu bytes)", name,
                           bytes);
    }
    if (dtype == WT_F32)
        memcpy(t->data, data, bytes);
    else
        wt_f32_to_f16(t->data, data, count);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int k = 0; k < WT_MAX_DIMS; k++)
        t->dims[k] = k < ndim ? dims[k] : 1;
    t->bytes = bytes;
    t->crc = crc_of(t->data, bytes);
    wr->tensor_count++;
    return FACET_OK;
}

void wt_writer_free(wt_writer *wr)
{
    if (!wr)
        return;
    for (size_t i = 0; i < wr->meta_count; i++) {
        free((void *)wr->meta[i].key);
        free((void *)wr->meta[i].value);
    }
    for (size_t i = 0; i < wr->tensor_count; i++) {
        free(wr->tensors[i].name);
        free(wr->tensors[i].data);
    }
    free(wr->meta);
    free(wr->tensors);
    free(wr->path);
    free(wr);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Keep the current facet_error() detail as the writer's failure.
static facet_status writer_keep(wt_writer *wr, facet_status s)
{
    if (wr->error == FACET_OK) {
        wr->error = s;
        snprintf(wr->detail, sizeof wr->detail, "%s", facet_error());
    }
    return s;
}

// Keys and names unique, reserved keys valid: what the reader demands.
static facet_status writer_check(wt_writer *wr)
{
    size_t nm = wr->meta_count, nt = wr->tensor_count;
    const char **names = malloc((nm > nt ? nm : nt ? nt : 1) * sizeof *names);
    wt_info info;

    if (!names)
        return writer_fail(wr, FACET_E_NOMEM, "out of memory");

    // Duplicates: sort the keys, then the names, and compare neighbours.
    for (size_t i = 0; i < nm; i++)
        names[i] = wr->meta[i].key;
    qsort(names, nm, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < nm; i++)
        if (!strcmp(names[i - 1], names[i])) {
            writer_fail(wr, FACET_E_ARG, "duplicate metadata key '%s'",
                        names[i]);
            free(names);
            return wr->error;
        }
    for (size_t i = 0; i < nt; i++)
        names[i] = wr->tensors[i].name;
    qsort(names, nt, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < nt; i++)
        if (!strcmp(names[i - 1], names[i])) {
            writer_fail(wr, FACET_E_ARG, "duplicate tensor name '%s'",
                        names[i]);
            free(names);
            return wr->error;
        }
    free(names);

    // Reserved keys, with the reader's own rules.
    memset(&info, 0, sizeof info);
    if (check_reserved(&info, wr->path, wr->meta, nm) != FACET_OK)
        return writer_keep(wr, FACET_E_ARG);
    return FACET_OK;
}

static size_t meta_value_bytes(const wt_meta *m)
{
    return m->type == WT_STRING ? m->count + 1 : m->count * type_size(m->type);
}

// The index (header, metadata, table, padding) in one zeroed buffer of
// *index_size bytes; tensor i's data goes at offsets[i]; the file is
// *file_size bytes.
static facet_status build_index(wt_writer *wr, unsigned char **index,
                                size_t *index_size, size_t *offsets,
                                size_t *file_size)
{
    size_t meta_size = 0, table_size = 0, data_offset, end, pos;
    unsigned char *b;

    // Section sizes; the caps applied by the add calls bound them.
    for (size_t i = 0; i < wr->meta_count; i++)
        meta_size += META_FIXED + align8(strlen(wr->meta[i].key) + 1) +
                     align8(meta_value_bytes(&wr->meta[i]));
    for (size_t i = 0; i < wr->tensor_count; i++)
        table_size += TENSOR_FIXED + 8 * (size_t)wr->tensors[i].ndim +
                      align8(strlen(wr->tensors[i].name) + 1);
    data_offset = facet_align_up(HEADER_SIZE + meta_size + table_size,
                                 DATA_ALIGN);

    // Data placement: in table order, each tensor 64-aligned.
    end = data_offset;
    for (size_t i = 0; i < wr->tensor_count; i++) {
        offsets[i] = end;
        if (!facet_size_add(&end, end, wr->tensors[i].bytes) ||
            end > SIZE_MAX - DATA_ALIGN)
            return writer_fail(wr, FACET_E_TOO_LARGE, "file too large");
        end = facet_align_up(end, DATA_ALIGN);
    }
    *file_size = end;

    b = calloc(data_offset, 1);
    if (!b)
        return writer_fail(wr, FACET_E_NOMEM, "out of memory");

    // Header.
    memcpy(b + H_MAGIC, file_magic, 8);
    wr32(b + H_VERSION, WT_VERSION);
    wr32(b + H_HEADER_SIZE, HEADER_SIZE);
    wr64(b + H_FILE_SIZE, end);
    wr32(b + H_META_COUNT, (uint32_t)wr->meta_count);
    wr32(b + H_TENSOR_COUNT, (uint32_t)wr->tensor_count);
    wr64(b + H_META_SIZE, meta_size);
    wr64(b + H_TABLE_SIZE, table_size);
    wr64(b + H_DATA_OFFSET, data_offset);

    // Metadata entries: fixed part, key block, value block.
    pos = HEADER_SIZE;
    for (size_t i = 0; i < wr->meta_count; i++) {
        const wt_meta *m = &wr->meta[i];
        size_t klen = strlen(m->key), vbytes = meta_value_bytes(m);
        wr16(b + pos, (uint32_t)klen);
        b[pos + 2] = (unsigned char)m->type;
        wr32(b + pos + 4, (uint32_t)m->count);
        memcpy(b + pos + META_FIXED, m->key, klen);
        pos += META_FIXED + align8(klen + 1);
        memcpy(b + pos, m->value, vbytes);
        pos += align8(vbytes);
    }

    // Table entries: fixed part, dims, name block.
    for (size_t i = 0; i < wr->tensor_count; i++) {
        const wtw_tensor *t = &wr->tensors[i];
        size_t nlen = strlen(t->name);
        wr16(b + pos, (uint32_t)nlen);
        b[pos + 2] = (unsigned char)t->dtype;
        b[pos + 3] = (unsigned char)t->ndim;
        wr32(b + pos + 4, t->crc);
        wr64(b + pos + 8, offsets[i]);
        wr64(b + pos + 16, t->bytes);
        for (int k = 0; k < t->ndim; k++)
            wr64(b + pos + TENSOR_FIXED + 8 * (size_t)k,
                 (uint64_t)t->dims[k]);
        pos += TENSOR_FIXED + 8 * (size_t)t->ndim;
        memcpy(b + pos, t->name, nlen);
        pos += align8(nlen + 1);
    }
    FACET_ASSERT(pos == HEADER_SIZE + meta_size + table_size);

    // The index CRC last, over everything before the data.
    wr32(b + H_INDEX_CRC, index_crc(b, data_offset));
    *index = b;
    *index_size = data_offset;
    return FACET_OK;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;

    while (n > 0) {
        ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0)
            errno = EIO;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

// Index, then each tensor and its padding, into "<path>.tmp-XXXXXX"; sync,
// then rename over `path`. The temporary file is removed on any failure.
static facet_status write_file(wt_writer *wr)
{
    static const unsigned char zeros[DATA_ALIGN];
    size_t index_size = 0, file_size = 0, at;
    size_t *offsets = malloc((wr->tensor_count + 1) * sizeof *offsets);
    unsigned char *index = NULL;
    const char *step = "write";
    char *tmp = NULL;
    int fd = -1, err = 0;
    facet_status st;

    if (!offsets)
        return writer_fail(wr, FACET_E_NOMEM, "out of memory");
    st = build_index(wr, &index, &index_size, offsets, &file_size);
    if (st != FACET_OK) {
        free(offsets);
        return st;
    }

    // A temporary file beside the target, so the rename stays within one
    // file system and is atomic.
    tmp = malloc(strlen(wr->path) + sizeof ".tmp-XXXXXX");
    if (!tmp) {
        free(offsets);
        free(index);
        return writer_fail(wr, FACET_E_NOMEM, "out of memory");
    }
    sprintf(tmp, "%s.tmp-XXXXXX", wr->path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = errno;
        free(offsets);
        free(index);
        free(tmp);
        return writer_fail(wr, FACET_E_IO,
                           "cannot create a temporary file beside it: %s",
                           strerror(err));
    }

    // Contents: index, then tensors at their offsets with zero padding.
    at = index_size;
    if (write_all(fd, index, index_size) != 0)
        err = errno;
    for (size_t i = 0; !err && i < wr->tensor_count; i++) {
        size_t next = i + 1 < wr->tensor_count ? offsets[i + 1] : file_size;
        FACET_ASSERT(at == offsets[i]);
        at += wr->tensors[i].bytes;
        if (write_all(fd, wr->tensors[i].data, wr->tensors[i].bytes) != 0 ||
            write_all(fd, zeros, next - at) != 0)
            err = errno;
        at = next;
    }

    // Permissions like an ordinary file, data on disk, then into place.
    if (!err && fchmod(fd, 0644) != 0)
        err = errno, step = "chmod";
    if (!err && fsync(fd) != 0)
        err = errno, step = "sync";
    if (close(fd) != 0 && !err)
        err = errno, step = "close";
    if (!err && rename(tmp, wr->path) != 0)
        err = errno, step = "rename";
    if (err) {
        unlink(tmp);
        st = writer_fail(wr, FACET_E_IO, "cannot %s %s: %s", step, tmp,
                         strerror(err));
    }
    free(offsets);
    free(index);
    free(tmp);
    return st;
}

facet_status wt_writer_finish(wt_writer *wr)
{
    facet_status st;

    FACET_ASSERT(wr);
    if (wr->error != FACET_OK)
        st = facet_fail(wr->error, "%s", wr->detail);
    else if ((st = writer_check(wr)) == FACET_OK)
        st = write_file(wr);
    wt_writer_free(wr);
    return st;
}

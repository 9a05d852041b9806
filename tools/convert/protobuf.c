// protobuf.c - the protocol buffers wire-format reader of protobuf.h: keys,
// varints, fixed-width values, length-delimited fields and repeated
// scalars packed or not, all bounds-checked, plus a read-only file map.
//
// ref: protobuf.dev/programming-guides/encoding
//
// Limitations:
// - See protobuf.h (no groups; little-endian hosts).
#include "protobuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *wire_name(int wire)
{
    switch (wire) {
    case PB_VARINT: return "varint";
    case PB_FIXED64: return "fixed64";
    case PB_BYTES: return "length-delimited";
    case PB_FIXED32: return "fixed32";
    case 3: return "start-group";
    case 4: return "end-group";
    default: return "invalid";
    }
}

void pb_init(pb_reader *r, const void *data, size_t size, const char *name)
{
    static const uint8_t none[1];

    // No arithmetic on a null pointer, even for zero bytes.
    if (!data) {
        data = none;
        size = 0;
    }
    r->base = data;
    r->pos = data;
    r->end = r->base + size;
    r->name = name ? name : "(memory)";
}

uint64_t pb_offset(const pb_reader *r, const uint8_t *p)
{
    return (uint64_t)(p - r->base);
}

int pb_varint(uint64_t *out, const uint8_t **p, const uint8_t *end)
{
    const uint8_t *q = *p;
    uint64_t v = 0;

    // Seven bits a byte, least significant first; the 10th byte may only
    // carry the 64th bit.
    for (int i = 0; i < 10; i++) {
        uint8_t b;

        if (q >= end)
            return -1;
        b = *q++;
        if (i == 9 && b > 1)
            return -2;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            *p = q;
            return 0;
        }
    }
    return -2;
}

// Fail at byte `at`, leaving the reader at the end of its message.
static facet_status fail_at(pb_reader *r, facet_status s, uint64_t at,
                            const char *what)
{
    r->pos = r->end;
    return facet_fail(s, "%s: protobuf: byte %llu: %s (message ends at "
                      "byte %llu)", r->name, (unsigned long long)at, what,
                      (unsigned long long)pb_offset(r, r->end));
}

static facet_status fail_varint(pb_reader *r, int rc, uint64_t at,
                                const char *what)
{
    char msg[192];

    snprintf(msg, sizeof msg, rc == -1 ? "truncated varint (%s)"
                                       : "varint longer than 64 bits (%s)",
             what);
    return fail_at(r, rc == -1 ? FACET_E_CORRUPT : FACET_E_FORMAT, at, msg);
}

facet_status pb_next(pb_reader *r, pb_field *f)
{
    const uint8_t *p = r->pos;
    uint64_t key, len;
    size_t left;
    char msg[128];
    int rc;

    memset(f, 0, sizeof *f);
    if (p >= r->end)
        return FACET_OK;

    // The key: field number and wire type.
    f->offset = pb_offset(r, p);
    if ((rc = pb_varint(&key, &p, r->end)) != 0)
        return fail_varint(r, rc, f->offset, "field key");
    if ((key >> 3) == 0 || (key >> 3) > PB_MAX_FIELD) {
        snprintf(msg, sizeof msg, "field number %llu out of range 1..%u",
                 (unsigned long long)(key >> 3), PB_MAX_FIELD);
        return fail_at(r, FACET_E_FORMAT, f->offset, msg);
    }
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);

    // The payload, by wire type.
    left = (size_t)(r->end - p);
    switch (f->wire) {
    case PB_VARINT:
        snprintf(msg, sizeof msg, "value of field %u", f->number);
        if ((rc = pb_varint(&f->value, &p, r->end)) != 0)
            return fail_varint(r, rc, pb_offset(r, p), msg);
        break;
    case PB_FIXED64:
    case PB_FIXED32: {
        size_t n = f->wire == PB_FIXED64 ? 8 : 4;

        if (left < n) {
            snprintf(msg, sizeof msg, "field %u: %zu-byte %s value cut "
                     "off after %zu bytes", f->number, n,
                     wire_name(f->wire), left);
            return fail_at(r, FACET_E_CORRUPT, pb_offset(r, p), msg);
        }
        for (size_t i = 0; i < n; i++)
            f->value |= (uint64_t)p[i] << (8 * i);
        p += n;
        break;
    }
    case PB_BYTES:
        snprintf(msg, sizeof msg, "length of field %u", f->number);
        if ((rc = pb_varint(&len, &p, r->end)) != 0)
            return fail_varint(r, rc, pb_offset(r, p), msg);
        left = (size_t)(r->end - p);
        if (len > left) {
            snprintf(msg, sizeof msg, "field %u: length %llu runs past "
                     "the end (%zu bytes left)", f->number,
                     (unsigned long long)len, left);
            return fail_at(r, FACET_E_CORRUPT, f->offset, msg);
        }
        f->data = p;
        f->size = (size_t)len;
        p += len;
        break;
    case 3:
    case 4:
        snprintf(msg, sizeof msg, "field %u is a group (wire type %d), "
                 "which this reader does not support", f->number, f->wire);
        return fail_at(r, FACET_E_UNSUPPORTED, f->offset, msg);
    default:
        snprintf(msg, sizeof msg, "field %u has invalid wire type %d",
                 f->number, f->wire);
        return fail_at(r, FACET_E_FORMAT, f->offset, msg);
    }
    r->pos = p;
    return FACET_OK;
}

facet_status pb_expect(const pb_reader *r, const pb_field *f, int wire,
                       const char *what)
{
    if (f->wire == wire)
        return FACET_OK;
    return facet_fail(FACET_E_FORMAT, "%s: protobuf: byte %llu: %s (field "
                      "%u) is %s, expected %s", r->name,
                      (unsigned long long)f->offset, what, f->number,
                      wire_name(f->wire), wire_name(wire));
}

facet_status pb_sub(pb_reader *out, const pb_reader *r, const pb_field *f)
{
    facet_status s = pb_expect(r, f, PB_BYTES, "nested message");

    if (s != FACET_OK)
        return s;
    out->base = r->base;
    out->pos = f->data;
    out->end = f->data + f->size;
    out->name = r->name;
    return FACET_OK;
}

facet_status pb_int32(int32_t *out, const pb_reader *r, const pb_field *f,
                      const char *what)
{
    int64_t v;
    facet_status s = pb_expect(r, f, PB_VARINT, what);

    if (s != FACET_OK)
        return s;
    v = pb_int64(f);
    if (v < INT32_MIN || v > INT32_MAX)
        return facet_fail(FACET_E_FORMAT, "%s: protobuf: byte %llu: %s "
                          "(field %u) = %lld is not an int32", r->name,
                          (unsigned long long)f->offset, what, f->number,
                          (long long)v);
    *out = (int32_t)v;
    return FACET_OK;
}

int64_t pb_int64(const pb_field *f)
{
    int64_t v;

    // Two's complement reinterpretation, without implementation-defined
    // conversion of out-of-range values.
    memcpy(&v, &f->value, sizeof v);
    return v;
}

// ---------------------------------------------------------------------------
// Repeated scalars

enum { K_F32, K_F64, K_VARINT };

static const struct kind {
    int wire;       // wire type of one unpacked element
    size_t bytes;   // fixed size of a packed element; 0 for varints
    const char *name;
} kinds[] = {
    [K_F32] = {PB_FIXED32, 4, "float"},
    [K_F64] = {PB_FIXED64, 8, "double"},
    [K_VARINT] = {PB_VARINT, 0, "varint"},
};

// Elements in one occurrence of the field: 1 unpacked, or the length of a
// packed run (checked to hold whole elements).
static facet_status elements(size_t *n, const pb_reader *msg,
                             const pb_field *f, int kind)
{
    const struct kind *k = &kinds[kind];

    if (f->wire == k->wire) {
        *n = 1;
        return FACET_OK;
    }
    if (f->wire != PB_BYTES)
        return facet_fail(FACET_E_FORMAT, "%s: protobuf: byte %llu: "
                          "repeated %s field %u has wire type %s",
                          msg->name, (unsigned long long)f->offset, k->name,
                          f->number, wire_name(f->wire));
    if (k->bytes) {
        if (f->size % k->bytes)
            return facet_fail(FACET_E_FORMAT, "%s: protobuf: byte %llu: "
                              "packed %s field %u is %zu bytes, not a "
                              "multiple of %zu", msg->name,
                              (unsigned long long)f->offset, k->name,
                              f->number, f->size, k->bytes);
        *n = f->size / k->bytes;
        return FACET_OK;
    }

    // Packed varints: decode each to check it, counting.
    *n = 0;
    for (const uint8_t *p = f->data, *end = p + f->size; p < end;) {
        uint64_t v;
        int rc = pb_varint(&v, &p, end);

        if (rc)
            return facet_fail(rc == -1 ? FACET_E_CORRUPT : FACET_E_FORMAT,
                              "%s: protobuf: byte %llu: packed varint "
                              "field %u: %s", msg->name,
                              (unsigned long long)pb_offset(msg, p),
                              f->number, rc == -1 ? "truncated varint"
                                                  : "varint too long");
        (*n)++;
    }
    return FACET_OK;
}

static void put(void *out, size_t i, int kind, const uint8_t *p)
{
    if (kind == K_F32) {
        float v;

        memcpy(&v, p, 4);
        ((float *)out)[i] = v;
    } else if (kind == K_F64) {
        double v;

        memcpy(&v, p, 8);
        ((float *)out)[i] = (float)v;
    }
}

// Two passes over the message: count, then allocate and copy.
static facet_status gather(void **out, size_t *count, const pb_reader *msg,
                           uint32_t number, size_t max, int kind)
{
    const struct kind *k = &kinds[kind];
    size_t total = 0, i = 0, esize = kind == K_VARINT ? 8 : 4;
    pb_reader r = *msg;
    pb_field f;
    facet_status s;
    uint8_t *buf;

    *out = NULL;
    *count = 0;
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        size_t n = 0;

        if (f.number != number)
            continue;
        if ((s = elements(&n, msg, &f, kind)) != FACET_OK)
            return s;
        if (n > max || total > max - n)
            return facet_fail(FACET_E_TOO_LARGE, "%s: protobuf: byte %llu:"
                              " repeated %s field %u has more than %zu "
                              "elements", msg->name,
                              (unsigned long long)f.offset, k->name, number,
                              max);
        total += n;
    }
    if (s != FACET_OK)
        return s;
    if (total == 0)
        return FACET_OK;
    if (!(buf = facet_alloc(total * esize)))
        return facet_fail(FACET_E_NOMEM, "%s: %zu %s values", msg->name,
                          total, k->name);

    // Second pass; the structure was validated by the first.
    r = *msg;
    while (pb_next(&r, &f) == FACET_OK && f.number) {
        if (f.number != number)
            continue;
        if (f.wire == PB_BYTES && kind == K_VARINT) {
            for (const uint8_t *p = f.data, *end = p + f.size; p < end;) {
                uint64_t v;

                pb_varint(&v, &p, end);
                memcpy(buf + 8 * i++, &v, 8);
            }
        } else if (f.wire == PB_BYTES) {
            for (size_t j = 0; j < f.size; j += k->bytes)
                put(buf, i++, kind, f.data + j);
        } else if (kind == K_VARINT) {
            memcpy(buf + 8 * i++, &f.value, 8);
        } else {
            uint8_t raw[8];

            for (size_t j = 0; j < k->bytes; j++)
                raw[j] = (uint8_t)(f.value >> (8 * j));
            put(buf, i++, kind, raw);
        }
    }
    FACET_ASSERT(i == total);
    *out = buf;
    *count = total;
    return FACET_OK;
}

facet_status pb_floats(float **out, size_t *count, const pb_reader *msg,
                       uint32_t number, size_t max)
{
    return gather((void **)out, count, msg, number, max, K_F32);
}

facet_status pb_doubles(float **out, size_t *count, const pb_reader *msg,
                        uint32_t number, size_t max)
{
    return gather((void **)out, count, msg, number, max, K_F64);
}

facet_status pb_varints(int64_t **out, size_t *count, const pb_reader *msg,
                        uint32_t number, size_t max)
{
    return gather((void **)out, count, msg, number, max, K_VARINT);
}

// ---------------------------------------------------------------------------
// Files

facet_status pb_file_open(pb_file *f, const char *path, uint64_t max)
{
    struct stat st;
    uint8_t *buf;
    size_t got = 0;
    void *map;
    int fd;

    memset(f, 0, sizeof *f);
    if ((fd = open(path, O_RDONLY)) < 0)
        return facet_fail(FACET_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return facet_fail(FACET_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return facet_fail(FACET_E_TOO_LARGE, "%s: %llu bytes, more than "
                          "%llu", path, (unsigned long long)st.st_size,
                          (unsigned long long)max);
    }
    if (st.st_size == 0) {
        close(fd);
        return FACET_OK;
    }

    // Map it; where that fails, read it.
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
        close(fd);
        f->data = map;
        f->size = (size_t)st.st_size;
        f->mapped = 1;
        return FACET_OK;
    }
    if (!(buf = facet_alloc((size_t)st.st_size))) {
        close(fd);
        return facet_fail(FACET_E_NOMEM, "%s: %llu bytes", path,
                          (unsigned long long)st.st_size);
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            facet_free(buf);
            close(fd);
            return facet_fail(FACET_E_IO, "%s: read failed after %zu "
                              "bytes", path, got);
        }
        got += (size_t)n;
    }
    close(fd);
    f->data = buf;
    f->size = got;
    return FACET_OK;
}

void pb_file_close(pb_file *f)
{
    if (f->data) {
        if (f->mapped)
            munmap((void *)f->data, f->size);
        else
            facet_free((void *)f->data);
    }
    memset(f, 0, sizeof *f);
}

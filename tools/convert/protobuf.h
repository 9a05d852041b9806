// protobuf.h - a small, bounds-checked reader of the protocol buffers wire
// format, for converters whose source is a serialized message (Caffe's
// .caffemodel). No schema, no code generation: the caller walks a message
// field by field and knows what each field number means.
//
// A message is a sequence of fields, each a key varint (field number << 3 |
// wire type) and a payload:
//   wire 0  varint (int32, int64, uint*, bool, enum)
//   wire 1  8 bytes little-endian (fixed64, double)
//   wire 2  varint length + that many bytes (string, bytes, a nested
//           message, or a packed run of repeated scalars)
//   wire 5  4 bytes little-endian (fixed32, float)
// Wire types 3 and 4 (groups, deprecated) and 6, 7 are rejected.
//
// Every read is checked against the end of the enclosing message, and every
// error names the file and the byte offset of the fault in it. The reader
// never copies the input; field payloads point into it, so the bytes must
// outlive the readers and fields.
//
// ref: protobuf.dev/programming-guides/encoding (varints, wire types,
//      length-delimited fields, packed repeated fields, "last one wins" for
//      non-repeated scalars, concatenation for repeated fields)
//
// Limitations:
// - Groups (wire types 3, 4) are reported as unsupported, not skipped.
// - Repeated scalars are gathered by field number over the whole message;
//   a parser for a message where the same number is both packed and a
//   nested message would have to walk it itself (no real schema does this).
// - Little-endian hosts only (floats are copied as stored).
#ifndef FACET_TOOLS_PROTOBUF_H
#define FACET_TOOLS_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "../../linalg/base.h"

// Wire types.
enum {
    PB_VARINT = 0,
    PB_FIXED64 = 1,
    PB_BYTES = 2,
    PB_FIXED32 = 5
};

// Largest field number the format allows (2^29 - 1).
#define PB_MAX_FIELD 536870911u

// A message being read: the bytes [pos, end) of a buffer that starts at
// `base`; `name` stands for the file in error details.
typedef struct pb_reader {
    const uint8_t *base;
    const uint8_t *pos, *end;
    const char *name;
} pb_reader;

// One field as read by pb_next.
typedef struct pb_field {
    uint32_t number;        // 0 at the end of the message
    int wire;               // PB_VARINT, PB_FIXED64, PB_BYTES or PB_FIXED32
    uint64_t value;         // varint value, or the raw fixed64/fixed32 bits
    const uint8_t *data;    // PB_BYTES: the payload
    size_t size;            //           and its length in bytes
    uint64_t offset;        // byte offset of the key in the buffer
} pb_field;

// A reader over all of `size` bytes at `data`.
void pb_init(pb_reader *r, const void *data, size_t size, const char *name);

// The next field of the message. At the end, FACET_OK with f->number 0.
// FACET_E_CORRUPT when a varint, length or fixed value runs past the end
// of the message (truncation); FACET_E_FORMAT for an over-long varint, a
// field number 0 or above PB_MAX_FIELD, or an unknown wire type;
// FACET_E_UNSUPPORTED for groups. On failure the reader is left at the
// end of its message, so a loop calling pb_next stops.
facet_status pb_next(pb_reader *r, pb_field *f);

// A reader over the payload of a PB_BYTES field read from `r` (a nested
// message). FACET_E_FORMAT naming the field if it is not length-delimited.
facet_status pb_sub(pb_reader *out, const pb_reader *r, const pb_field *f);

// Byte offset of a field's payload (or of the reader's position) in the
// buffer, for messages.
uint64_t pb_offset(const pb_reader *r, const uint8_t *p);

// Check a field's wire type; FACET_E_FORMAT naming `what`, the field, its
// wire type and its offset otherwise.
facet_status pb_expect(const pb_reader *r, const pb_field *f, int wire,
                       const char *what);

// Scalar conversions of a varint field. pb_int32 checks that the value is
// an int32 as protobuf encodes it (negative values sign-extended to 64
// bits); pb_int64 reinterprets the 64 bits.
facet_status pb_int32(int32_t *out, const pb_reader *r, const pb_field *f,
                      const char *what);
int64_t pb_int64(const pb_field *f);

// Decode a varint at [*p, end) and advance *p; 0 on success, -1 when the
// bytes end first, -2 when it is longer than 10 bytes or overflows 64 bits.
int pb_varint(uint64_t *out, const uint8_t **p, const uint8_t *end);

// The elements of repeated scalar field `number` in message `msg`, packed
// (PB_BYTES runs) or not (one element per field), in any mix, in order:
//   pb_floats   float (wire 5), max elements `max`
//   pb_doubles  double (wire 1), converted to float by rounding to nearest
//   pb_varints  int64 (wire 0)
// *out is allocated with facet_alloc (NULL when there are no elements) and
// must be freed with facet_free. FACET_E_TOO_LARGE above `max` elements;
// FACET_E_FORMAT for a packed run whose length is not a whole number of
// elements or a field of another wire type.
facet_status pb_floats(float **out, size_t *count, const pb_reader *msg,
                       uint32_t number, size_t max);
facet_status pb_doubles(float **out, size_t *count, const pb_reader *msg,
                        uint32_t number, size_t max);
facet_status pb_varints(int64_t **out, size_t *count, const pb_reader *msg,
                        uint32_t number, size_t max);

// A whole file, memory-mapped read-only (or read, where mapping fails).
typedef struct pb_file {
    const uint8_t *data;
    size_t size;
    int mapped;       // 1: munmap at close; 0: facet_free
} pb_file;

// Open `path`; FACET_E_IO naming the file when it cannot be read,
// FACET_E_TOO_LARGE beyond `max` bytes.
facet_status pb_file_open(pb_file *f, const char *path, uint64_t max);
void pb_file_close(pb_file *f);   // a zeroed or closed pb_file is harmless

#endif

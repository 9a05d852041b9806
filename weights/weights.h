// weights.h - the facet weight format (.fct): open, validate and map a
// weight file, look tensors and metadata up by name, and write new files.
//
// Converters (tools/) turn each original weight format into one .fct file;
// networks (nn/, face/) load from it with wt_open and take float32 views of
// their tensors with wt_tensor, which checks the shape in the same call.
// weights/FORMAT.md is the byte-level specification.
//
// A wt_file is immutable once open, so any number of threads may read it.
// Every tensor view is float32 and 64-byte aligned: float32 tensors point
// into the read-only mapping of the file, float16 tensors are converted at
// open into one aligned block owned by the handle. Views, names and
// metadata values live until wt_close.
//
// Limitations:
// - Little-endian hosts only (float32 tensors are used in place).
// - A file changed or truncated by another process while it is mapped can
//   raise SIGBUS; facet itself only ever replaces weight files by rename.
// - The writer keeps every tensor in memory until wt_writer_finish.
// - CRC-32 detects accidental corruption, not deliberate tampering.
#ifndef FACET_WEIGHTS_H
#define FACET_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "../linalg/base.h"

// Format version this code reads and writes (FORMAT.md, "Versioning").
#define WT_VERSION 1

// Caps enforced by the reader and the writer (FORMAT.md, "Limits").
#define WT_MAX_TENSORS 65536
#define WT_MAX_META 4096
#define WT_MAX_NAME 255             // bytes, excluding the NUL
#define WT_MAX_DIMS 8
#define WT_MAX_DIM INT64_C(2147483647)
#define WT_MAX_META_BYTES (64u << 20)

// Stored element type of a tensor.
typedef enum wt_dtype {
    WT_F32 = 1,
    WT_F16 = 2
} wt_dtype;

// Type of a metadata value.
typedef enum wt_type {
    WT_STRING = 1,   // UTF-8 text, NUL-terminated in the file
    WT_INT64 = 2,    // array of int64
    WT_FLOAT64 = 3,  // array of IEEE double
    WT_FLOAT32 = 4   // array of IEEE float
} wt_type;

typedef struct wt_file wt_file;

// One tensor as described by the table, with its float32 view.
typedef struct wt_tensor_info {
    const char *name;
    wt_dtype dtype;              // as stored in the file
    int ndim;                    // 0..WT_MAX_DIMS (0: a scalar)
    int64_t dims[WT_MAX_DIMS];   // outermost first; unused entries are 1
    size_t count;                // elements: product of dims (1 for ndim 0)
    const float *data;           // count floats, 64-byte aligned
    uint64_t offset;             // byte offset of the stored data
    uint64_t bytes;              // stored bytes: count * 4 or count * 2
    uint32_t crc;                // CRC-32 of the stored bytes
} wt_tensor_info;

// One metadata entry. `value` points to count int64_t, double or float
// (8-byte aligned), or to a NUL-terminated string of count bytes.
typedef struct wt_meta {
    const char *key;
    wt_type type;
    size_t count;
    const void *value;
} wt_meta;

// The model description, from the reserved metadata keys and the header.
typedef struct wt_info {
    const char *name;            // "name"
    const char *source;          // "source"
    const char *license;         // "license"
    const char *channel_order;   // "channel_order": RGB, BGR, GRAY or NULL
    int channels, height, width; // "input_shape" C, H, W; 0 when absent or any
    const float *mean, *std;     // "mean", "std": `channels` floats, or NULL
    uint32_t version;            // format version of the file
    uint64_t file_size;          // bytes
    size_t tensor_count, meta_count;
    uint64_t param_count;        // sum of the tensors' element counts
    uint32_t index_crc;          // CRC-32 of the index; identifies the content
} wt_info;

// ---------------------------------------------------------------------------
// Reading

// wt_open flags. WT_OPEN_NO_CRC skips the CRC checks (the index CRC and
// every tensor's) but keeps all the other validation; for fuzzing and for
// tools that verify later with wt_verify.
#define WT_OPEN_NO_CRC 1u

// Map `path` read-only and validate every field (FORMAT.md, "Validation").
// On failure *out is NULL and the detail names the file and the problem.
// The index CRC is checked right after the magic and version, so damage
// anywhere in the header or index is FACET_E_CORRUPT with "the file is
// damaged" in the detail, never a misleading size or version complaint;
// FACET_E_VERSION means a well-formed file of another version.
facet_status wt_open(wt_file **out, const char *path, unsigned flags);

// Same from bytes in memory, which are copied (so `data` may be freed at
// once). `name` stands for the file in error details.
facet_status wt_open_memory(wt_file **out, const void *data, size_t size,
                            const char *name, unsigned flags);

// Recheck the index CRC and every tensor's CRC.
facet_status wt_verify(const wt_file *w);

void wt_close(wt_file *w);   // NULL is harmless

// The path (or the name given to wt_open_memory) and the model description.
const char *wt_path(const wt_file *w);
const wt_info *wt_file_info(const wt_file *w);

// The float32 view of tensor `name` after checking its shape: ndim must
// match and so must each dim, except where expect_dims[i] is -1. NULL with
// FACET_E_NOT_FOUND or FACET_E_FORMAT detail (naming the file, the tensor
// and both shapes) otherwise.
const float *wt_tensor(const wt_file *w, const char *name, int ndim,
                       const int64_t *expect_dims);

// Tensors in file order, and lookup by name (NULL with FACET_E_NOT_FOUND
// detail when absent).
size_t wt_tensor_count(const wt_file *w);
const wt_tensor_info *wt_tensor_at(const wt_file *w, size_t i);
const wt_tensor_info *wt_tensor_find(const wt_file *w, const char *name);

// Metadata in file order, and lookup by key (NULL, FACET_E_NOT_FOUND).
size_t wt_meta_count(const wt_file *w);
const wt_meta *wt_meta_at(const wt_file *w, size_t i);
const wt_meta *wt_meta_find(const wt_file *w, const char *key);

// The value of `key` after checking its type and, unless `count` is 0, its
// element count. NULL with FACET_E_NOT_FOUND or FACET_E_FORMAT detail.
const void *wt_meta_get(const wt_file *w, const char *key, wt_type type,
                        size_t count);
// Shorthands: a string; a single int64; a single float64.
const char *wt_meta_str(const wt_file *w, const char *key);
facet_status wt_meta_i64(int64_t *out, const wt_file *w, const char *key);
facet_status wt_meta_f64(double *out, const wt_file *w, const char *key);

// ---------------------------------------------------------------------------
// Writing. wt_writer_create records the path; metadata and tensors are
// validated and copied as they are added; wt_writer_finish writes a
// temporary file beside `path`, syncs it and renames it into place. Nothing
// is left behind on failure. A process killed during finish can leave
// "<path>.tmp-XXXXXX" beside the target (the library installs no signal
// handlers); the target itself is intact and nothing ever reads the
// leftover. The first failed call is remembered, and finish then fails
// with the same status and detail. The reserved keys
// "name", "source" and "license" are required (FORMAT.md, "Reserved keys").

typedef struct wt_writer wt_writer;

facet_status wt_writer_create(wt_writer **out, const char *path);

// count: elements of int64_t, double or float at `value`.
facet_status wt_writer_meta(wt_writer *wr, const char *key, wt_type type,
                            size_t count, const void *value);
facet_status wt_writer_meta_str(wt_writer *wr, const char *key,
                                const char *value);

// data: product(dims) floats. WT_F16 stores them rounded to nearest even
// (overflow to infinity, NaN kept as NaN).
facet_status wt_writer_tensor(wt_writer *wr, const char *name,
                              wt_dtype dtype, int ndim,
                              const int64_t *dims, const float *data);

// Write and rename into place; frees the writer whatever the outcome.
facet_status wt_writer_finish(wt_writer *wr);

// Abandon a writer without writing anything; NULL is harmless.
void wt_writer_free(wt_writer *wr);

// ---------------------------------------------------------------------------
// IEEE binary16 conversion (weights/f16.c).

// Round to nearest, ties to even; overflow gives infinity; NaN stays NaN
// with the top 10 bits of its payload (0x200 if those are all zero).
void wt_f32_to_f16(uint16_t *dst, const float *src, size_t n);
// Exact.
void wt_f16_to_f32(float *dst, const uint16_t *src, size_t n);

#endif

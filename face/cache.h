// cache.h - an on-disk cache of per-photo results (feature maps,
// landmarks, masks): a folder of entries, each named by a 128-bit key and
// a short kind tag, each holding one block of bytes behind a checked
// header.
//
// In the pipeline: facet characterize runs the networks once per photo
// and stores what they produced here; a rerun with other learning
// parameters finds every entry and skips the networks. The caller decides
// what to store and under which kind ("f" for the backbone map, "fh" for
// the hair map, ...), and folds everything its result depends on into the
// key: the photo file's bytes, a pipeline/options string and the model ids
// (face_backbone_model_id, face_hairnet_model_id).
//
// Key: FNV-1a 128 (Fowler, Noll, Vo; prime 2^88 + 0x13b, offset basis
// 0x6c62272e07bb014262b821756295c58d) over
//     file bytes | le64(byte count) | salt | le64(salt length)
// The two lengths make the split between bytes and salt unambiguous (read
// from the end), so no two (bytes, salt) pairs share a hashed string.
//
// Entry file: DIR/<32 lower-case hex digits of the key>.<kind>, laid out
// as a 64-byte header, then the payload; all integers little-endian:
//     0  8  magic "FCTCACHE"
//     8  4  version (1)
//    12  4  header bytes (64)
//    16 16  the key
//    32 16  the kind, NUL-padded
//    48  8  payload bytes
//    56  4  CRC-32 (zlib) of the payload
//    60  4  CRC-32 of header bytes 0..59
// A put writes DIR/<name>.tmp-XXXXXX and renames it onto the entry, so a
// reader sees the old entry or the new one, never a mix.
//
// ref: G. Fowler, L. C. Noll, K.-P. Vo, D. Eastlake, "The FNV
//      Non-Cryptographic Hash Algorithm", draft-eastlake-fnv (IETF)
// ref: ISO 3309 / ITU-T V.42 CRC-32, as zlib's crc32()
//
// Limitations:
// - FNV-1a is not collision-resistant against someone who crafts photos
//   to collide; against accidental collisions 128 bits are ample. CRC-32
//   likewise detects damage, not tampering.
// - No eviction and no size limit: delete the folder to clear it.
// - Entries are not synced to disk before the rename: after a crash an
//   entry may be empty or damaged; get then reports it as corrupt (a
//   miss) and the next put replaces it.
// - A put creates DIR itself if missing, but not its parents.
#ifndef FACET_FACE_CACHE_H
#define FACET_FACE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../linalg/base.h"

#define FACE_CACHE_VERSION 1
#define FACE_CACHE_HEADER 64
// Longest kind tag (bytes, without the NUL); tags use [a-z0-9_] only.
#define FACE_CACHE_MAX_KIND 15

// A 128-bit key, most significant byte first (as its hex form reads).
typedef struct face_cache_hash {
    uint8_t b[16];
} face_cache_hash;

// FNV-1a 128 of `n` bytes, plain (no framing): the building block of the
// key, exposed for its test vectors.
void face_fnv1a128(face_cache_hash *out, const void *bytes, size_t n);

// The cache key of a photo file's content (`n` bytes) and a salt string
// (the pipeline/options string and model ids; NULL counts as "").
void face_cache_key(face_cache_hash *out, const void *file_bytes, size_t n,
                    const char *salt);

// The same key read from the file at `path` in chunks (no whole-file
// buffer). FACET_E_IO naming the file when it cannot be read.
facet_status face_cache_key_file(face_cache_hash *out, const char *path,
                                 const char *salt);

// 32 lower-case hex digits and a NUL.
void face_cache_hex(char out[33], const face_cache_hash *key);

// The entry's path, DIR/<hex>.<kind>, into out[size]. FACET_E_ARG for a
// kind that is empty, too long or not [a-z0-9_], or a path too long.
facet_status face_cache_path(char *out, size_t size, const char *dir,
                             const face_cache_hash *key, const char *kind);

// Read the entry's payload, which must be exactly `expected_bytes`, into
// `buf`. FACET_OK; FACET_E_NOT_FOUND when there is no entry (a plain
// miss, no detail worth showing); FACET_E_CORRUPT for a damaged entry
// (truncated, trailing bytes, bad magic or CRC, another key or kind in the
// header); FACET_E_VERSION for another format version; FACET_E_FORMAT
// when the payload has another size than expected; FACET_E_IO when the
// file exists but cannot be read. Callers treat every failure as a miss
// and report those other than FACET_E_NOT_FOUND (facet_error() names the
// file and the fault). On failure the contents of `buf` are unspecified.
facet_status face_cache_get(const char *dir, const face_cache_hash *key,
                            const char *kind, size_t expected_bytes,
                            void *buf);

// Store `bytes` bytes as the entry (replacing any), atomically: a
// temporary file in DIR renamed into place, removed on any failure.
// Creates DIR if it does not exist. FACET_E_IO naming the file on failure.
facet_status face_cache_put(const char *dir, const face_cache_hash *key,
                            const char *kind, const void *buf,
                            size_t bytes);

#endif

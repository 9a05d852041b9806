// cache.c - the on-disk result cache (face/cache.h): FNV-1a 128 keys,
// entries behind a checked 64-byte header, atomic puts.
//
// FNV-1a 128 needs h * (2^88 + 0x13b) mod 2^128 per byte. With h split in
// two 64-bit words (hi, lo), h << 88 adds lo << 24 to hi, and h * 0x13b is
// done in 32-bit halves of lo so that no intermediate overflows; no
// compiler extension (__int128) is needed.
//
// ref: draft-eastlake-fnv (FNV-1a, the 128-bit prime and offset basis)
// ref: zlib crc32() (the CRC-32 of ISO 3309)
//
// Limitations:
// - Hashing runs one byte at a time (about 0.3-0.5 GB/s): a 10 MB photo
//   costs a few tens of ms, small beside the networks it saves.
// - Paths are limited to 4095 bytes.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cache.h"

#define MAGIC "FCTCACHE"
#define PATH_MAX_BYTES 4096
// Read and CRC chunk, small enough for zlib's uInt lengths.
#define CHUNK ((size_t)1 << 20)

// ---------------------------------------------------------------------------
// FNV-1a 128

typedef struct fnv128 {
    uint64_t hi, lo;
} fnv128;

static void fnv_init(fnv128 *h)
{
    h->hi = UINT64_C(0x6c62272e07bb0142);
    h->lo = UINT64_C(0x62b821756295c58d);
}

static void fnv_update(fnv128 *h, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    uint64_t hi = h->hi, lo = h->lo;

    for (size_t i = 0; i < n; i++) {
        uint64_t l = lo ^ p[i];
        uint64_t a = (l & 0xffffffffu) * 0x13b;
        uint64_t mid = (a >> 32) + (l >> 32) * 0x13b;

        // lo * 0x13b = (a & 0xffffffff) + mid * 2^32; the prime's 2^88
        // term shifts lo into hi by 24 bits.
        lo = mid << 32 | (a & 0xffffffffu);
        hi = hi * 0x13b + (mid >> 32) + (l << 24);
    }
    h->hi = hi;
    h->lo = lo;
}

static void fnv_update_u64(fnv128 *h, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fnv_update(h, b, 8);
}

static void fnv_final(face_cache_hash *out, const fnv128 *h)
{
    for (int i = 0; i < 8; i++) {
        out->b[i] = (uint8_t)(h->hi >> (56 - 8 * i));
        out->b[8 + i] = (uint8_t)(h->lo >> (56 - 8 * i));
    }
}

void face_fnv1a128(face_cache_hash *out, const void *bytes, size_t n)
{
    fnv128 h;

    fnv_init(&h);
    fnv_update(&h, bytes, n);
    fnv_final(out, &h);
}

// The framing after the file's bytes: byte count, salt, salt length.
static void key_tail(fnv128 *h, uint64_t n, const char *salt)
{
    size_t len = salt ? strlen(salt) : 0;

    fnv_update_u64(h, n);
    fnv_update(h, salt ? salt : "", len);
    fnv_update_u64(h, len);
}

void face_cache_key(face_cache_hash *out, const void *file_bytes, size_t n,
                    const char *salt)
{
    fnv128 h;

    FACET_ASSERT(out && (file_bytes || n == 0));
    fnv_init(&h);
    fnv_update(&h, file_bytes, n);
    key_tail(&h, n, salt);
    fnv_final(out, &h);
}

facet_status face_cache_key_file(face_cache_hash *out, const char *path,
                                 const char *salt)
{
    FILE *f;
    uint8_t *buf;
    uint64_t total = 0;
    size_t got;
    fnv128 h;
    int err;

    FACET_ASSERT(out);
    if (!path)
        return facet_fail(FACET_E_ARG, "cache key: no file name");
    f = fopen(path, "rb");
    if (!f)
        return facet_fail(FACET_E_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return facet_fail(FACET_E_NOMEM, "%s: read buffer", path);
    }

    // The bytes in chunks, then the same framing as face_cache_key.
    fnv_init(&h);
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        fnv_update(&h, buf, got);
        total += got;
    }
    err = ferror(f);
    fclose(f);
    free(buf);
    if (err)
        return facet_fail(FACET_E_IO, "%s: read error after %llu bytes",
                          path, (unsigned long long)total);
    key_tail(&h, total, salt);
    fnv_final(out, &h);
    return FACET_OK;
}

void face_cache_hex(char out[33], const face_cache_hash *key)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[key->b[i] >> 4];
        out[2 * i + 1] = digits[key->b[i] & 15];
    }
    out[32] = '\0';
}

// ---------------------------------------------------------------------------
// Entries

static int kind_ok(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;

    if (n < 1 || n > FACE_CACHE_MAX_KIND)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

facet_status face_cache_path(char *out, size_t size, const char *dir,
                             const face_cache_hash *key, const char *kind)
{
    char hex[33];
    int n;

    FACET_ASSERT(out && size > 0 && key);
    out[0] = '\0';
    if (!dir || !dir[0])
        return facet_fail(FACET_E_ARG, "cache: no folder given");
    if (!kind_ok(kind))
        return facet_fail(FACET_E_ARG, "cache: kind \"%s\" must be 1..%d "
                          "characters of a-z, 0-9 and _", kind ? kind : "",
                          FACE_CACHE_MAX_KIND);
    face_cache_hex(hex, key);
    n = snprintf(out, size, "%s/%s.%s", dir, hex, kind);
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return facet_fail(FACET_E_ARG, "cache: %s: path too long", dir);
    }
    return FACET_OK;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

// CRC-32 of n bytes, in chunks that fit zlib's uInt.
static uint32_t crc_of(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;

    while (n > 0) {
        size_t k = n < CHUNK ? n : CHUNK;
        crc = (uint32_t)crc32(crc, p, (uInt)k);
        p += k;
        n -= k;
    }
    return crc;
}

static void header_make(uint8_t h[FACE_CACHE_HEADER],
                        const face_cache_hash *key, const char *kind,
                        const void *buf, size_t bytes)
{
    memset(h, 0, FACE_CACHE_HEADER);
    memcpy(h, MAGIC, 8);
    put_le32(h + 8, FACE_CACHE_VERSION);
    put_le32(h + 12, FACE_CACHE_HEADER);
    memcpy(h + 16, key->b, 16);
    memcpy(h + 32, kind, strlen(kind));
    put_le64(h + 48, bytes);
    put_le32(h + 56, crc_of((uint32_t)crc32(0, Z_NULL, 0), buf, bytes));
    put_le32(h + 60, crc_of((uint32_t)crc32(0, Z_NULL, 0), h, 60));
}

// Check a header read from `path` against the key, kind and size asked
// for; the payload CRC it records goes to *crc.
static facet_status header_check(const uint8_t h[FACE_CACHE_HEADER],
                                 const char *path,
                                 const face_cache_hash *key,
                                 const char *kind, size_t expected_bytes,
                                 uint32_t *crc)
{
    uint8_t want_kind[16] = {0};
    uint64_t bytes;

    if (memcmp(h, MAGIC, 8))
        return facet_fail(FACET_E_CORRUPT, "%s: not a cache entry (bad "
                          "magic)", path);
    if (get_le32(h + 60) != crc_of((uint32_t)crc32(0, Z_NULL, 0), h, 60))
        return facet_fail(FACET_E_CORRUPT, "%s: header checksum mismatch "
                          "(the entry is damaged)", path);
    if (get_le32(h + 8) != FACE_CACHE_VERSION)
        return facet_fail(FACET_E_VERSION, "%s: cache format version %u, "
                          "this facet reads %d", path, get_le32(h + 8),
                          FACE_CACHE_VERSION);
    if (get_le32(h + 12) != FACE_CACHE_HEADER)
        return facet_fail(FACET_E_CORRUPT, "%s: header size %u, expected "
                          "%d", path, get_le32(h + 12), FACE_CACHE_HEADER);
    memcpy(want_kind, kind, strlen(kind));
    if (memcmp(h + 16, key->b, 16) || memcmp(h + 32, want_kind, 16))
        return facet_fail(FACET_E_CORRUPT, "%s: holds another entry (key "
                          "or kind differ from its name)", path);
    bytes = get_le64(h + 48);
    if (bytes != (uint64_t)expected_bytes)
        return facet_fail(FACET_E_FORMAT, "%s: holds %llu bytes, the "
                          "caller expects %zu (stale entry of another "
                          "layout?)", path, (unsigned long long)bytes,
                          expected_bytes);
    *crc = get_le32(h + 56);
    return FACET_OK;
}

facet_status face_cache_get(const char *dir, const face_cache_hash *key,
                            const char *kind, size_t expected_bytes,
                            void *buf)
{
    char path[PATH_MAX_BYTES];
    uint8_t h[FACE_CACHE_HEADER], extra;
    uint32_t want_crc = 0, crc;
    uint8_t *p = buf;
    facet_status st;
    size_t got, done = 0;
    FILE *f;

    FACET_ASSERT(key && (buf || expected_bytes == 0));
    st = face_cache_path(path, sizeof path, dir, key, kind);
    if (st != FACET_OK)
        return st;

    // Open; a missing file is the ordinary miss.
    f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return facet_fail(FACET_E_NOT_FOUND, "%s: no entry", path);
        return facet_fail(FACET_E_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    }

    // Header, then the payload in chunks with its CRC.
    got = fread(h, 1, sizeof h, f);
    if (got != sizeof h) {
        st = ferror(f) ? facet_fail(FACET_E_IO, "%s: read error", path)
                       : facet_fail(FACET_E_CORRUPT, "%s: truncated header "
                                    "(%zu of %d bytes)", path, got,
                                    FACE_CACHE_HEADER);
        fclose(f);
        return st;
    }
    st = header_check(h, path, key, kind, expected_bytes, &want_crc);
    if (st != FACET_OK) {
        fclose(f);
        return st;
    }
    crc = (uint32_t)crc32(0, Z_NULL, 0);
    while (done < expected_bytes) {
        size_t k = expected_bytes - done < CHUNK ? expected_bytes - done
                                                 : CHUNK;
        got = fread(p + done, 1, k, f);
        crc = crc_of(crc, p + done, got);
        done += got;
        if (got != k)
            break;
    }
    if (done != expected_bytes) {
        st = ferror(f) ? facet_fail(FACET_E_IO, "%s: read error", path)
                       : facet_fail(FACET_E_CORRUPT, "%s: truncated "
                                    "payload (%zu of %zu bytes)", path,
                                    done, expected_bytes);
        fclose(f);
        return st;
    }

    // Nothing may follow the payload, and its CRC must match.
    if (fread(&extra, 1, 1, f) == 1)
        st = facet_fail(FACET_E_CORRUPT, "%s: bytes after the payload",
                        path);
    else if (ferror(f))
        st = facet_fail(FACET_E_IO, "%s: read error", path);
    else if (crc != want_crc)
        st = facet_fail(FACET_E_CORRUPT, "%s: payload checksum mismatch "
                        "(the entry is damaged)", path);
    fclose(f);
    return st;
}

facet_status face_cache_put(const char *dir, const face_cache_hash *key,
                            const char *kind, const void *buf,
                            size_t bytes)
{
    char path[PATH_MAX_BYTES], tmp[PATH_MAX_BYTES + 16];
    uint8_t h[FACE_CACHE_HEADER];
    facet_status st;
    FILE *f;
    int fd, ok;

    FACET_ASSERT(key && (buf || bytes == 0));
    st = face_cache_path(path, sizeof path, dir, key, kind);
    if (st != FACET_OK)
        return st;

    // The folder (one level), then a temporary file beside the entry.
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return facet_fail(FACET_E_IO, "%s: cannot create the cache "
                          "folder: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return facet_fail(FACET_E_IO, "%s: cannot create a temporary file: "
                          "%s", tmp, strerror(errno));
    (void)fchmod(fd, 0644);
    f = fdopen(fd, "wb");
    if (!f) {
        st = facet_fail(FACET_E_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        remove(tmp);
        return st;
    }

    // Header and payload; every error removes the temporary file.
    header_make(h, key, kind, buf, bytes);
    ok = fwrite(h, 1, sizeof h, f) == sizeof h &&
         (bytes == 0 || fwrite(buf, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        st = facet_fail(FACET_E_IO, "%s: write failed: %s", tmp,
                        strerror(errno));
        remove(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        st = facet_fail(FACET_E_IO, "%s: cannot rename into place: %s",
                        path, strerror(errno));
        remove(tmp);
        return st;
    }
    return FACET_OK;
}

// base.h - services every facet module uses: status codes with a detail
// message, always-on asserts, the log hook, aligned allocation,
// overflow-checked size arithmetic and the one seeded random generator.
//
// This is the bottom of the stack: linalg/, nn/, weights/ and face/ all
// include it, and it includes nothing of facet's own.
//
// Limitations:
// - The error detail is thread-local and holds the last failure only.
#ifndef FACET_BASE_H
#define FACET_BASE_H

#include <stddef.h>
#include <stdint.h>

// Status of any call that consumes input from outside (files, images, CLI,
// public API arguments). Values are unique; facet_status_str names each.
typedef enum facet_status {
    FACET_OK = 0,
    FACET_E_ARG,        // an argument is out of range or inconsistent
    FACET_E_NOMEM,      // an allocation failed
    FACET_E_IO,         // a file could not be opened, read or written
    FACET_E_FORMAT,     // a file is not of the expected format
    FACET_E_VERSION,    // a file's format version is not supported
    FACET_E_CORRUPT,    // a file is truncated or fails a checksum
    FACET_E_TOO_LARGE,  // a size exceeds a sanity cap or overflows
    FACET_E_UNSUPPORTED,// valid input that facet does not handle
    FACET_E_NOT_FOUND,  // a named item (tensor, model, face) is absent
    FACET_STATUS_COUNT
} facet_status;

const char *facet_status_str(facet_status s);

// Record a failure: sets the thread's detail message (printf-style) and
// returns `s`, so that `return facet_fail(FACET_E_IO, "%s: ...", path);`
// reads as one statement. facet_error() returns the last detail message.
facet_status facet_fail(facet_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *facet_error(void);

// Broken invariants (programmer errors) abort with file, line and the
// expression, in every build.
#define FACET_ASSERT(x)                                                   \
    do {                                                                  \
        if (!(x))                                                         \
            facet_abort(__FILE__, __LINE__, #x);                          \
    } while (0)
_Noreturn void facet_abort(const char *file, int line, const char *expr);

// Logging. The library prints nothing unless the host installs a sink
// (facet_log_set) or raises the level from FACET_LOG_NONE.
typedef enum facet_log_level {
    FACET_LOG_NONE = 0,
    FACET_LOG_ERROR,
    FACET_LOG_WARN,
    FACET_LOG_INFO,
    FACET_LOG_DEBUG
} facet_log_level;
typedef void (*facet_log_fn)(facet_log_level level, const char *msg,
                             void *user);
// Install a sink (NULL restores the default stderr sink) and the most
// verbose level it receives.
void facet_log_set(facet_log_fn fn, void *user, facet_log_level max_level);
void facet_log(facet_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// 64-byte aligned allocation; facet_free(NULL) is harmless. Returns NULL
// for size 0 or on failure.
#define FACET_ALIGN 64
void *facet_alloc(size_t bytes);
void *facet_calloc(size_t bytes);
void facet_free(void *p);

// Overflow-checked size arithmetic: each returns 0 and leaves *out alone
// when the result does not fit in size_t, 1 otherwise.
static inline int facet_size_mul(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}
static inline int facet_size_add(size_t *out, size_t a, size_t b)
{
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
}
// Product of n dimensions, each of which must be >= 0; 0 on overflow.
int facet_size_prod(size_t *out, const int64_t *dims, int n);

// Round `x` up to a multiple of `align` (a power of two).
static inline size_t facet_align_up(size_t x, size_t align)
{
    return (x + align - 1) & ~(align - 1);
}

// The seeded random generator (xoshiro128+ style, 64-bit state split in
// two words; splitmix64 seeding). One generator, passed explicitly.
typedef struct facet_rng {
    uint64_t s[2];
} facet_rng;
void facet_rng_seed(facet_rng *r, uint64_t seed);
uint64_t facet_rng_u64(facet_rng *r);
// Uniform in [0, 1) with 24 random bits; uniform integer in [0, n).
float facet_rng_float(facet_rng *r);
uint32_t facet_rng_below(facet_rng *r, uint32_t n);
// Standard normal (Box-Muller, in double).
double facet_rng_normal(facet_rng *r);

// Wall-clock seconds from a monotonic clock, for timing and progress.
double facet_now(void);

// Number of threads OpenMP would use for a parallel region (1 without
// OpenMP), and a way to set it (no-op without OpenMP).
int facet_threads(void);
void facet_set_threads(int n);

#endif

// base.c - status strings, the thread-local error detail, the log hook,
// aligned allocation and the seeded generator declared in base.h.
//
// ref: xoroshiro128+ (Blackman & Vigna, 2018) for the generator;
//      splitmix64 for seeding.
//
// Limitations:
// - facet_log_set is not synchronised with concurrent facet_log calls; set
//   it once at start-up.
#include "base.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const status_names[FACET_STATUS_COUNT] = {
    [FACET_OK] = "ok",
    [FACET_E_ARG] = "invalid argument",
    [FACET_E_NOMEM] = "out of memory",
    [FACET_E_IO] = "input/output error",
    [FACET_E_FORMAT] = "unrecognised format",
    [FACET_E_VERSION] = "unsupported format version",
    [FACET_E_CORRUPT] = "corrupt or truncated data",
    [FACET_E_TOO_LARGE] = "size too large",
    [FACET_E_UNSUPPORTED] = "unsupported input",
    [FACET_E_NOT_FOUND] = "not found",
};

const char *facet_status_str(facet_status s)
{
    if ((unsigned)s >= FACET_STATUS_COUNT)
        return "unknown status";
    return status_names[s];
}

static _Thread_local char error_detail[512];

facet_status facet_fail(facet_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_detail, sizeof error_detail, fmt, ap);
    va_end(ap);
    return s;
}

const char *facet_error(void)
{
    return error_detail[0] ? error_detail : "no error recorded";
}

_Noreturn void facet_abort(const char *file, int line, const char *expr)
{
    fflush(stdout);
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

// Logging: a default sink that writes to stderr, silent at level NONE.
static void stderr_sink(facet_log_level level, const char *msg, void *user)
{
    static const char *const tag[] = {"", "error", "warning", "info",
                                      "debug"};
    (void)user;
    fprintf(stderr, "facet: %s: %s\n", tag[level], msg);
}

static facet_log_fn log_fn = stderr_sink;
static void *log_user;
static facet_log_level log_max = FACET_LOG_NONE;

void facet_log_set(facet_log_fn fn, void *user, facet_log_level max_level)
{
    log_fn = fn ? fn : stderr_sink;
    log_user = user;
    log_max = max_level;
}

void facet_log(facet_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level == FACET_LOG_NONE || level > log_max)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}

void *facet_alloc(size_t bytes)
{
    void *p = NULL;

    if (bytes == 0)
        return NULL;
    bytes = facet_align_up(bytes, FACET_ALIGN);
    if (bytes == 0)  // wrapped around
        return NULL;
    if (posix_memalign(&p, FACET_ALIGN, bytes) != 0)
        return NULL;
    return p;
}

void *facet_calloc(size_t bytes)
{
    unsigned char *p = facet_alloc(bytes);

    if (p)
        for (size_t i = 0; i < bytes; i++)
            p[i] = 0;
    return p;
}

void facet_free(void *p)
{
    free(p);
}

int facet_size_prod(size_t *out, const int64_t *dims, int n)
{
    size_t prod = 1;

    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > SIZE_MAX)
            return 0;
        if (!facet_size_mul(&prod, prod, (size_t)dims[i]))
            return 0;
    }
    *out = prod;
    return 1;
}

// Generator: splitmix64 spreads the seed over the state, xoroshiro128+
// produces the stream.
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void facet_rng_seed(facet_rng *r, uint64_t seed)
{
    r->s[0] = splitmix64(&seed);
    r->s[1] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t facet_rng_u64(facet_rng *r)
{
    uint64_t s0 = r->s[0], s1 = r->s[1];
    uint64_t result = s0 + s1;

    s1 ^= s0;
    r->s[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    r->s[1] = rotl(s1, 37);
    return result;
}

float facet_rng_float(facet_rng *r)
{
    return (float)(facet_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

uint32_t facet_rng_below(facet_rng *r, uint32_t n)
{
    // Multiply-shift on the high 32 bits; bias below 2^-32 is acceptable
    // for sampling pairs and shuffles.
    return (uint32_t)(((facet_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double facet_rng_normal(facet_rng *r)
{
    // Box-Muller on two uniforms in (0, 1].
    double u1 = ((double)(facet_rng_u64(r) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(facet_rng_u64(r) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double facet_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int facet_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void facet_set_threads(int n)
{
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads(n);
#else
    (void)n;
#endif
}

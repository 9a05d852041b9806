// check.h - the test harness: counts checks, prints file:line on failure,
// and ends with the line "N passed, N failed" (check_report), exiting
// non-zero on any failure. Header-only; each tests/test_<module>.c is one
// executable.
#ifndef FACET_CHECK_H
#define FACET_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../linalg/base.h"
#include "../linalg/cpu.h"

static int check_passed, check_failed;

static void check_record(int ok, const char *file, int line,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static void check_record(int ok, const char *file, int line,
                         const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

// CHECK(cond): one check. CHECKF(cond, fmt, ...): with a message.
#define CHECK(cond) check_record(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) check_record(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

// CHECK_NEAR: |got - want| <= tol.
#define CHECK_NEAR(got, want, tol)                                        \
    do {                                                                  \
        double g_ = (got), w_ = (want), t_ = (tol);                       \
        check_record(fabs(g_ - w_) <= t_, __FILE__, __LINE__,             \
                     "%s = %.9g, want %.9g (tol %.3g)", #got, g_, w_, t_); \
    } while (0)

static int check_report(void) __attribute__((unused));
static int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

// The ISA paths to test: every path this CPU supports, up to FACET_ISA when
// that is set. Fills `isas`, returns the count.
static int check_isas(facet_isa isas[FACET_ISA_COUNT]) __attribute__((unused));
static int check_isas(facet_isa isas[FACET_ISA_COUNT])
{
    facet_isa top;
    int n = 0;

    // Show the library's warnings (an unusable FACET_ISA, for one).
    facet_log_set(NULL, NULL, FACET_LOG_WARN);
    top = facet_isa_active();

    for (int i = 0; i <= (int)top; i++)
        isas[n++] = (facet_isa)i;
    return n;
}

// The research data folder (real photos, never committed): $FACET_DATA,
// else ../shared/data relative to the repository root, where make test
// runs. Tests that need it print a "skipped:" line when it is absent.
static const char *check_data_dir(void) __attribute__((unused));
static const char *check_data_dir(void)
{
    const char *d = getenv("FACET_DATA");

    return d && d[0] ? d : "../shared/data";
}

// The folder of converted weights (make weights): $FACET_WEIGHTS, else
// weights/ in the current folder.
static const char *check_weights_dir(void) __attribute__((unused));
static const char *check_weights_dir(void)
{
    const char *d = getenv("FACET_WEIGHTS");

    return d && d[0] ? d : "weights";
}

// A new private folder for a test's files: $TMPDIR (else /tmp) plus
// "/facet_test_<tag>_" and six random characters (mkdtemp's template), into
// buf. 0 on success; -1 (buf holds the attempted name) on failure. The test
// removes what it made.
static int check_mkdtemp(char *buf, size_t n, const char *tag)
    __attribute__((unused));
static int check_mkdtemp(char *buf, size_t n, const char *tag)
{
    const char *t = getenv("TMPDIR");
    int len = snprintf(buf, n, "%s/facet_test_%s_XXXXXX",
                       t && t[0] ? t : "/tmp", tag);

    if (len < 0 || (size_t)len >= n)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

// Fill with a value (NaN for outputs) or a junk byte (scratch), so that a
// kernel that reads what it should write, or trusts scratch contents,
// fails loudly.
static void check_fill_nan(float *p, size_t n) __attribute__((unused));
static void check_fill_nan(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}
static void check_fill_junk(void *p, size_t bytes) __attribute__((unused));
static void check_fill_junk(void *p, size_t bytes)
{
    memset(p, 0xA5, bytes);
}

// Uniform random floats in [lo, hi) from a seeded generator.
static void check_fill_random(float *p, size_t n, facet_rng *r, float lo,
                              float hi) __attribute__((unused));
static void check_fill_random(float *p, size_t n, facet_rng *r, float lo,
                              float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * facet_rng_float(r);
}

#endif

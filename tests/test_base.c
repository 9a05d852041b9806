// test_base.c - base services: status strings, checked sizes, the seeded
// generator, CPU detection and the ISA switch.
#include "check.h"

static void test_status(void)
{
    // Every code has its own string.
    for (int i = 0; i < FACET_STATUS_COUNT; i++) {
        const char *si = facet_status_str((facet_status)i);
        CHECK(si != NULL && strcmp(si, "unknown status") != 0);
        for (int j = 0; j < i; j++)
            CHECKF(strcmp(si, facet_status_str((facet_status)j)) != 0,
                   "status %d and %d share a string", i, j);
    }
    CHECK(strcmp(facet_status_str(FACET_STATUS_COUNT), "unknown status") == 0);
    CHECK(facet_fail(FACET_E_IO, "x.bin: %s", "short read") == FACET_E_IO);
    CHECK(strcmp(facet_error(), "x.bin: short read") == 0);
}

static void test_sizes(void)
{
    size_t r = 7;
    int64_t dims_ok[3] = {1024, 1024, 64};
    int64_t dims_big[3] = {INT64_C(1) << 40, INT64_C(1) << 30, 2};
    int64_t dims_neg[2] = {3, -1};

    CHECK(facet_size_mul(&r, SIZE_MAX / 2, 3) == 0 && r == 7);
    CHECK(facet_size_mul(&r, 1u << 20, 1u << 10) == 1 && r == (1u << 30));
    CHECK(facet_size_add(&r, SIZE_MAX, 1) == 0);
    CHECK(facet_size_prod(&r, dims_ok, 3) == 1 && r == 1024u * 1024u * 64u);
    CHECK(facet_size_prod(&r, dims_big, 3) == 0);
    CHECK(facet_size_prod(&r, dims_neg, 2) == 0);
    CHECK(facet_align_up(65, 64) == 128 && facet_align_up(64, 64) == 64);
}

static void test_alloc(void)
{
    void *p = facet_alloc(100);
    CHECK(p != NULL && ((uintptr_t)p % FACET_ALIGN) == 0);
    facet_free(p);
    facet_free(NULL);
    CHECK(facet_alloc(0) == NULL);
    CHECK(facet_alloc(SIZE_MAX - 3) == NULL);
}

static void test_rng(void)
{
    facet_rng a, b;
    double sum = 0, sum2 = 0;
    int in_range = 1, n = 100000;

    // Same seed, same stream; different seed, different stream.
    facet_rng_seed(&a, 42);
    facet_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        if (facet_rng_u64(&a) != facet_rng_u64(&b))
            in_range = 0;
    CHECK(in_range);
    facet_rng_seed(&b, 43);
    CHECK(facet_rng_u64(&a) != facet_rng_u64(&b));

    // Uniform floats in [0, 1), mean 1/2; normals with mean 0, variance 1
    // (tolerances are about 5 standard errors for n = 1e5).
    for (int i = 0; i < n; i++) {
        float u = facet_rng_float(&a);
        if (!(u >= 0.0f && u < 1.0f))
            in_range = 0;
        sum += u;
    }
    CHECK(in_range);
    CHECK_NEAR(sum / n, 0.5, 0.005);
    sum = 0;
    for (int i = 0; i < n; i++) {
        double z = facet_rng_normal(&a);
        sum += z;
        sum2 += z * z;
    }
    CHECK_NEAR(sum / n, 0.0, 0.016);
    CHECK_NEAR(sum2 / n, 1.0, 0.03);
    for (int i = 0; i < 1000; i++)
        if (facet_rng_below(&a, 7) >= 7)
            in_range = 0;
    CHECK(in_range);
}

static void test_isa(void)
{
    facet_isa best = facet_isa_detect();

    CHECK(facet_isa_parse("avx512") == FACET_ISA_AVX512);
    CHECK(facet_isa_parse("sse") == FACET_ISA_COUNT);
    CHECK(facet_isa_force(FACET_ISA_SCALAR) == FACET_OK);
    CHECK(facet_isa_active() == FACET_ISA_SCALAR);
    CHECK(facet_isa_force(best) == FACET_OK && facet_isa_active() == best);
    CHECK(facet_isa_force(FACET_ISA_COUNT) == FACET_E_ARG);
    printf("cpu: best ISA %s\n", facet_isa_name(best));
}

int main(void)
{
    test_status();
    test_sizes();
    test_alloc();
    test_rng();
    test_isa();
    return check_report();
}

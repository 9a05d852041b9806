// cpu.c - CPU feature detection and the active-ISA switch (see cpu.h).
//
// ref: Intel SDM vol. 2A, CPUID leaves 1 and 7; XGETBV for the OS-enabled
//      register state (XMM|YMM = 0x6, plus opmask|ZMM_Hi256|Hi16_ZMM = 0xe0).
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HAVE_X86 1
#endif

static const char *const isa_names[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = "scalar",
    [FACET_ISA_AVX2] = "avx2",
    [FACET_ISA_AVX512] = "avx512",
};

const char *facet_isa_name(facet_isa isa)
{
    return (unsigned)isa < FACET_ISA_COUNT ? isa_names[isa] : "unknown";
}

facet_isa facet_isa_parse(const char *name)
{
    for (int i = 0; i < FACET_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0)
            return (facet_isa)i;
    return FACET_ISA_COUNT;
}

#ifdef HAVE_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

facet_isa facet_isa_detect(void)
{
#ifdef HAVE_X86
    unsigned a, b, c, d;
    int fma, osxsave, avx2, avx512f;
    uint64_t xcr0;

    if (!__get_cpuid(1, &a, &b, &c, &d))
        return FACET_ISA_SCALAR;
    fma = (c >> 12) & 1;
    osxsave = (c >> 27) & 1;
    if (!osxsave || __get_cpuid_max(0, NULL) < 7)
        return FACET_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    avx2 = (b >> 5) & 1;
    avx512f = (b >> 16) & 1;
    xcr0 = xgetbv0();

    // The OS must save the wider registers, or using them faults.
    if (avx512f && avx2 && fma && (xcr0 & 0xe6) == 0xe6)
        return FACET_ISA_AVX512;
    if (avx2 && fma && (xcr0 & 0x6) == 0x6)
        return FACET_ISA_AVX2;
#endif
    return FACET_ISA_SCALAR;
}

// -1 until decided. Written once by the first caller; a race between two
// first callers writes the same value.
static int active = -1;

facet_isa facet_isa_active(void)
{
    if (active < 0) {
        facet_isa best = facet_isa_detect();
        const char *env = getenv("FACET_ISA");
        facet_isa want = best;

        if (env && *env) {
            want = facet_isa_parse(env);
            if (want == FACET_ISA_COUNT) {
                facet_log(FACET_LOG_WARN,
                          "FACET_ISA=%s is not scalar, avx2 or avx512; "
                          "using %s", env, facet_isa_name(best));
                want = best;
            } else if (want > best) {
                facet_log(FACET_LOG_WARN,
                          "FACET_ISA=%s: this CPU lacks it; using %s", env,
                          facet_isa_name(best));
                want = best;
            }
        }
        active = (int)want;
    }
    return (facet_isa)active;
}

facet_status facet_isa_force(facet_isa isa)
{
    if ((unsigned)isa >= FACET_ISA_COUNT)
        return facet_fail(FACET_E_ARG, "unknown ISA %d", (int)isa);
    if (isa > facet_isa_detect())
        return facet_fail(FACET_E_UNSUPPORTED, "this CPU lacks %s",
                          facet_isa_name(isa));
    active = (int)isa;
    return FACET_OK;
}

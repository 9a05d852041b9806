// cpu.h - which instruction set the kernels run with.
//
// Kernels exist per instruction set (ISA): a scalar path that is always
// built, AVX2+FMA and AVX-512F. Each module keeps a table of kernel
// pointers per ISA and indexes it with facet_isa_active(), which is decided
// once, on first use, from CPU detection, or from the FACET_ISA environment
// variable (scalar, avx2, avx512) when it is set. Tests call
// facet_isa_force to run every path in one process.
//
// Limitations:
// - x86-64 only for the SIMD paths; elsewhere everything runs scalar.
#ifndef FACET_CPU_H
#define FACET_CPU_H

#include "base.h"

typedef enum facet_isa {
    FACET_ISA_SCALAR = 0,
    FACET_ISA_AVX2,    // AVX2 + FMA3
    FACET_ISA_AVX512,  // AVX-512F (+ AVX2/FMA3 underneath)
    FACET_ISA_COUNT
} facet_isa;

// The best ISA this CPU and OS support (ignores FACET_ISA).
facet_isa facet_isa_detect(void);

// The ISA the kernels use now. The first call reads FACET_ISA; an unknown
// value or one the CPU lacks is reported once through facet_log and the
// detected ISA is used instead.
facet_isa facet_isa_active(void);

// Force a path (for tests and benchmarks). FACET_E_UNSUPPORTED if the CPU
// lacks it. Not safe while kernels run on other threads.
facet_status facet_isa_force(facet_isa isa);

const char *facet_isa_name(facet_isa isa);
// Parse "scalar", "avx2" or "avx512"; FACET_ISA_COUNT if unknown.
facet_isa facet_isa_parse(const char *name);

#endif

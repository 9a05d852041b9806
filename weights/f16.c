// f16.c - IEEE 754 binary16 <-> binary32 conversion by bit manipulation,
// for float16 tensors in .fct files: the writer rounds float32 weights to
// float16, the reader widens them back to float32 at open.
//
// ref: IEEE 754-2008, section 3.6 (binary16 and binary32 interchange
//      formats) and section 4.3.1 (roundTiesToEven).
//
// Limitations:
// - Scalar loops; conversion runs once per file, not per inference.
#include "weights.h"

#include <string.h>

// binary32 bit layouts used below (sign cleared):
//   0x7f800000  infinity
//   0x477ff000  65520, halfway between 65504 (largest half) and 2^16
//   0x38800000  2^-14, smallest normal half
//   0x33000000  2^-25, half of the smallest subnormal half (2^-24)
static uint16_t half_from_float(float f)
{
    uint32_t x, ax, sign;

    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    ax = x & 0x7fffffffu;

    // Infinity stays infinity; NaN keeps its top payload bits and stays
    // NaN even when only low payload bits were set.
    if (ax >= 0x7f800000u) {
        uint32_t payload = (ax >> 13) & 0x3ffu;
        if (ax == 0x7f800000u)
            return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7c00u | (payload ? payload : 0x200u));
    }

    // 65520 and above round to infinity (a tie goes to the even 2^16).
    if (ax >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u);

    // Normal halves: rebias the exponent (127 -> 15, i.e. subtract 112 << 23)
    // and round the 23-bit mantissa to 10 bits; a carry moves into the
    // exponent, which is the correctly rounded result.
    if (ax >= 0x38800000u) {
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }

    // At most 2^-25: rounds to zero (the tie at 2^-25 goes to even 0).
    if (ax <= 0x33000000u)
        return (uint16_t)sign;

    // Subnormal halves: value = m * 2^(e - 150) with the implicit bit in m,
    // in units of 2^-24 that is m >> (126 - e); round the shifted-out bits.
    {
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;             // 14..24
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);

        if (rem > half || (rem == half && (q & 1u)))
            q++;                              // may carry into 2^-14: fine
        return (uint16_t)(sign | q);
    }
}

static float float_from_half(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t e = ((uint32_t)h >> 10) & 0x1fu;
    uint32_t m = (uint32_t)h & 0x3ffu;
    uint32_t bits;
    float f;

    if (e == 0x1f) {
        // Infinity or NaN, payload moved to the top of the mantissa.
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else if (m == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise so the leading 1 becomes implicit.
        e = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

void wt_f32_to_f16(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = half_from_float(src[i]);
}

void wt_f16_to_f32(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = float_from_half(src[i]);
}

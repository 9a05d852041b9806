// image.c - decoding photo files into RGB8 face_images, EXIF orientation,
// owned image buffers, atomic file and PNG writes, resizing (image.h).
//
// A decode runs in this order, so that a hostile file is refused before
// anything large is allocated:
//   1. sniff the format from its first bytes; refuse the known formats
//      facet does not read with a message that names them
//   2. read the declared size from the header (facet's own parsers for
//      JPEG, PNG and PNM; stbi_info for BMP and TGA) and refuse 0 or more
//      than max_pixels
//   3. JPEG only: refuse variants stb would misread (CMYK without an
//      Adobe marker) or cannot read (lossless, arithmetic, 12-bit), and
//      files that end before their end-of-image marker
//   4. decode (stb, or facet's PNM reader), convert to RGB8 on white
//   5. apply the EXIF orientation
//
// stb_image, stb_image_write and stb_image_resize are compiled here as
// static functions (Debian libstb-dev), so they never clash with a test's
// own copy of stb.
//
// ref: JPEG: ITU-T T.81 (markers B.1.1), Adobe Technical Note 5116 (APP14)
// ref: Exif 2.32 (CIPA DC-008) 4.5-4.6: APP1 "Exif", TIFF header, IFD0,
//      tag 0x0112 Orientation
// ref: TIFF 6.0 section 2 (image file header and IFD layout)
// ref: PNG (ISO/IEC 15948, W3C third edition): IHDR, eXIf
// ref: Netpbm: the PGM and PPM formats (binary P5 / P6)
//
// Limitations:
// - stb's failure reason is per thread in the stb that Debian ships
//   (2.27, C11 _Thread_local); a stb built with STBI_NO_THREAD_LOCALS
//   would share it between threads and mix up the "(stb: ...)" part of
//   concurrent error messages (never the status).
// - stb ignores ICC profiles and PNG gamma/sRGB chunks: samples are
//   taken as they are stored, as in most face-analysis tools.
// - stb's JPEG decoder rounds differently from libjpeg (IDCT and chroma
//   upsampling); pixels differ by a few levels from other decoders.
// - A JPEG without an end-of-image marker after its image data is refused
//   as truncated, though stb would return a partly grey image. A rare
//   camera that omits the marker is refused too.
// - TGA has no signature: a file that is nothing else and happens to
//   parse as a TGA header is decoded as one (stb's rule).
// - Only the first image of a file is read; EXIF is read only from JPEG
//   APP1 and PNG eXIf, and only its orientation.
// - Each decode briefly holds the file, stb's decoded buffer and the RGB
//   result; max_pixels bounds the last two.
// - face_write_file_atomic replaces a target that is a symbolic link with
//   a plain file (rename), and gives it default permissions.
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// stb, with the library's own warnings (-Wall -Wextra -Wshadow) silenced
// for its code only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
// stb_image_resize 0.97 asserts that each output pixel's tent weights sum
// to within 10% of 1 before it divides them by their sum; at shrink ratios
// near 1.17 (597..607 rows to 512, say) the sum is just over 1.1 and the
// assertion ends the process. The division that follows makes the weights
// exact either way, and facet checks every size before calling stb, so
// its assertions are turned off here (tests/test_image.c: test_resize).
#define STBIR_ASSERT(x) ((void)0)
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop
// stb declares static functions it leaves undefined under STBI_ONLY_* and
// STBI_NO_STDIO; GCC reports those at the end of the file, past the pop.
#pragma GCC diagnostic ignored "-Wunused-function"

#define DEFAULT_MAX_PIXELS 64000000u
#define DEFAULT_MAX_FILE_BYTES ((size_t)256 << 20)

// Put `prefix: ` before the current error detail. (The detail is copied
// first: facet_fail must not read the buffer it writes.)
static facet_status refail(facet_status st, const char *prefix)
{
    char why[512];

    snprintf(why, sizeof why, "%s", facet_error());
    return facet_fail(st, "%s: %s", prefix, why);
}

void face_load_defaults(face_load_opts *o)
{
    FACET_ASSERT(o);
    o->max_pixels = DEFAULT_MAX_PIXELS;
    o->max_file_bytes = DEFAULT_MAX_FILE_BYTES;
    o->ignore_exif = 0;
}

// ---------------------------------------------------------------------
// Owned images

facet_status face_image_alloc(face_image *im, int w, int h)
{
    size_t row, bytes;

    FACET_ASSERT(im);
    memset(im, 0, sizeof *im);
    if (w <= 0 || h <= 0)
        return facet_fail(FACET_E_ARG, "image size %dx%d is not positive",
                          w, h);

    // stride = 3 w rounded up to FACE_IMAGE_ROW_ALIGN; bytes = stride h
    if (!facet_size_mul(&row, 3, (size_t)w) ||
        !facet_size_add(&row, row, FACE_IMAGE_ROW_ALIGN - 1) ||
        !facet_size_mul(&bytes, row & ~(size_t)(FACE_IMAGE_ROW_ALIGN - 1),
                        (size_t)h))
        return facet_fail(FACET_E_TOO_LARGE,
                          "image size %dx%d overflows memory sizes", w, h);
    row &= ~(size_t)(FACE_IMAGE_ROW_ALIGN - 1);

    im->px = facet_calloc(bytes);
    if (!im->px)
        return facet_fail(FACET_E_NOMEM,
                          "%dx%d image: cannot allocate %zu bytes", w, h,
                          bytes);
    im->w = w;
    im->h = h;
    im->stride = row;
    return FACET_OK;
}

void face_image_free(face_image *im)
{
    if (!im)
        return;
    facet_free(im->px);
    memset(im, 0, sizeof *im);
}

// ---------------------------------------------------------------------
// Byte readers (callers check bounds)

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
           (uint32_t)p[1] << 8 | p[0];
}

// ---------------------------------------------------------------------
// Format sniffing

typedef enum fmt {
    FMT_UNKNOWN = 0,   // not recognised: stb may still take it as TGA
    FMT_JPEG,
    FMT_PNG,
    FMT_BMP,
    FMT_PNM,
    FMT_REFUSED        // a known format facet does not read
} fmt;

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                   '\n'};

// Is buf[0 .. n) a prefix of (or starts with) the m bytes at `magic`?
// A prefix counts, so that a file truncated inside its signature is still
// recognised (and reported as truncated).
static int starts(const uint8_t *buf, size_t n, const void *magic, size_t m)
{
    size_t k = n < m ? n : m;

    return n > 0 && memcmp(buf, magic, k) == 0;
}

static int pnm_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

// The format of buf[0 .. n); for FMT_REFUSED, *what names it.
static fmt sniff(const uint8_t *b, size_t n, const char **what)
{
    *what = NULL;
    if (n >= 2 && b[0] == 0xff && b[1] == 0xd8)
        return FMT_JPEG;
    if (n >= 2 && starts(b, n, png_sig, sizeof png_sig))
        return FMT_PNG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return FMT_BMP;
    if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' &&
        pnm_space(b[2]))
        return FMT_PNM;

    // Known formats that stb (as built here) does not decode.
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
        *what = "GIF";
    else if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        *what = "WebP";
    else if (n >= 12 && !memcmp(b + 4, "ftyp", 4) &&
             (!memcmp(b + 8, "heic", 4) || !memcmp(b + 8, "heix", 4) ||
              !memcmp(b + 8, "hevc", 4) || !memcmp(b + 8, "mif1", 4) ||
              !memcmp(b + 8, "msf1", 4) || !memcmp(b + 8, "avif", 4)))
        *what = "HEIF/AVIF";
    else if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4)))
        *what = "TIFF";
    else if (n >= 4 && !memcmp(b, "8BPS", 4))
        *what = "Photoshop (PSD)";
    else if (n >= 6 && (!memcmp(b, "#?RADI", 6) || !memcmp(b, "#?RGBE", 6)))
        *what = "Radiance HDR";
    else if ((n >= 12 && !memcmp(b, "\0\0\0\x0cjP  \r\n\x87\n", 12)) ||
             (n >= 4 && !memcmp(b, "\xff\x4f\xff\x51", 4)))
        *what = "JPEG 2000";
    else if ((n >= 2 && b[0] == 0xff && b[1] == 0x0a) ||
             (n >= 12 && !memcmp(b, "\0\0\0\x0cJXL \r\n\x87\n", 12)))
        *what = "JPEG XL";
    return *what ? FMT_REFUSED : FMT_UNKNOWN;
}

// ---------------------------------------------------------------------
// EXIF: the orientation tag of IFD0

// Orientation from a TIFF structure t[0 .. n) (the body of an Exif APP1
// segment after "Exif\0\0", or a PNG eXIf chunk); 1 when absent or bad.
// Only IFD0 is read, so a looping chain of IFDs is never followed.
static int tiff_orientation(const uint8_t *t, size_t n)
{
    uint32_t (*u16)(const uint8_t *);
    uint32_t (*u32)(const uint8_t *);
    size_t ifd, count;

    // Header: byte order "II" (little) or "MM" (big), 42, IFD0 offset.
    if (n < 8)
        return 1;
    if (t[0] == 'I' && t[1] == 'I') {
        u16 = le16;
        u32 = le32;
    } else if (t[0] == 'M' && t[1] == 'M') {
        u16 = be16;
        u32 = be32;
    } else {
        return 1;
    }
    if (u16(t + 2) != 42)
        return 1;
    ifd = u32(t + 4);
    if (ifd > n - 2)
        return 1;

    // IFD0: a 2-byte entry count, then 12-byte entries (tag, type, count,
    // value or offset). Orientation is a SHORT whose value sits in the
    // first two bytes of the value field; some writers use a LONG.
    count = u16(t + ifd);
    for (size_t i = 0; i < count; i++) {
        size_t e = ifd + 2 + 12 * i;
        uint32_t type, v;

        if (e > n - 12)
            break;
        if (u16(t + e) != 0x0112)
            continue;
        type = u16(t + e + 2);
        if (u32(t + e + 4) < 1)
            return 1;
        if (type == 3)
            v = u16(t + e + 8);
        else if (type == 4)
            v = u32(t + e + 8);
        else
            return 1;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

// What the header segments of a JPEG say, up to its first scan.
typedef struct jpeg_head {
    int sof;           // frame marker (0xc0 .. 0xcf), 0 if none seen
    int bits;          // sample precision
    int comps;         // number of components
    int w, h;          // declared size (h 0: given later by a DNL)
    int adobe;         // Adobe APP14 colour transform; -1 when absent
    int orientation;   // EXIF orientation, 1 when absent
    int scan;          // the first SOS segment was reached
    int eoi;           // an end-of-image marker follows the first scan
    int truncated;     // the file ends inside the header segments
} jpeg_head;

static void jpeg_scan(jpeg_head *j, const uint8_t *b, size_t n)
{
    size_t pos = 2;
    int exif_seen = 0;

    memset(j, 0, sizeof *j);
    j->adobe = -1;
    j->orientation = 1;

    // Walk the marker segments: 0xff (fill bytes allowed), a marker byte,
    // and for all but the stand-alone markers a 2-byte length that counts
    // itself.
    for (;;) {
        size_t len;
        const uint8_t *p;
        int m;

        if (pos >= n) {
            j->truncated = 1;
            return;
        }
        if (b[pos] != 0xff)
            return;                 // garbage between segments: stb's call
        while (pos < n && b[pos] == 0xff)
            pos++;
        if (pos >= n) {
            j->truncated = 1;
            return;
        }
        m = b[pos++];
        if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7))
            continue;
        if (m == 0xd9)
            return;                 // end of image before any scan
        if (n - pos < 2 || be16(b + pos) < 2 || be16(b + pos) > n - pos) {
            j->truncated = 1;
            return;
        }
        len = be16(b + pos) - 2;    // payload bytes
        p = b + pos + 2;

        // APP1 Exif (the first one only), APP14 Adobe, the frame header.
        if (m == 0xe1 && !exif_seen && len >= 6 && !memcmp(p, "Exif\0", 5)) {
            exif_seen = 1;
            j->orientation = tiff_orientation(p + 6, len - 6);
        } else if (m == 0xee && len >= 12 && !memcmp(p, "Adobe", 5)) {
            j->adobe = p[11];
        } else if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
                   m != 0xcc && !j->sof && len >= 6) {
            j->sof = m;
            j->bits = p[0];
            j->h = (int)be16(p + 1);
            j->w = (int)be16(p + 3);
            j->comps = p[5];
        } else if (m == 0xda) {
            // The entropy-coded data stuffs every 0xff data byte with a
            // 0x00, so an 0xff 0xd9 pair after the first scan header is a
            // real end-of-image marker (progressive files have more scans
            // and tables in between, ending with the same marker).
            const uint8_t *q = b + pos + 2 + len, *end = b + n;

            j->scan = 1;
            while (q < end && (q = memchr(q, 0xff, (size_t)(end - q)))) {
                if (end - q >= 2 && q[1] == 0xd9) {
                    j->eoi = 1;
                    break;
                }
                q++;
            }
            return;
        }
        pos += 2 + len;
    }
}

// Orientation from a PNG's eXIf chunk (some writers keep the "Exif\0\0"
// prefix of the JPEG segment; it is skipped).
static int png_orientation(const uint8_t *b, size_t n)
{
    size_t pos = 8;

    while (pos <= n && n - pos >= 12) {
        size_t len = be32(b + pos);
        const uint8_t *type = b + pos + 4, *p = b + pos + 8;

        if (len > n - pos - 12)
            return 1;
        if (!memcmp(type, "eXIf", 4)) {
            if (len >= 6 && !memcmp(p, "Exif\0", 5))
                return tiff_orientation(p + 6, len - 6);
            return tiff_orientation(p, len);
        }
        if (!memcmp(type, "IEND", 4))
            return 1;
        pos += 12 + len;
    }
    return 1;
}

int face_exif_orientation(const uint8_t *buf, size_t n)
{
    const char *what;

    if (!buf)
        return 1;
    switch (sniff(buf, n, &what)) {
    case FMT_JPEG: {
        jpeg_head j;

        jpeg_scan(&j, buf, n);
        return j.orientation;
    }
    case FMT_PNG:
        return n >= 8 ? png_orientation(buf, n) : 1;
    default:
        return 1;
    }
}

// ---------------------------------------------------------------------
// Orientation transforms

// Reverse the 3-byte pixels of a row in place.
static void reverse_row(uint8_t *r, int w)
{
    for (int a = 0, b = w - 1; a < b; a++, b--) {
        for (int c = 0; c < 3; c++) {
            uint8_t t = r[3 * a + c];

            r[3 * a + c] = r[3 * b + c];
            r[3 * b + c] = t;
        }
    }
}

static void swap_rows(uint8_t *a, uint8_t *b, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++) {
        uint8_t t = a[i];

        a[i] = b[i];
        b[i] = t;
    }
}

facet_status face_image_orient(face_image *im, int orientation)
{
    face_image t;
    facet_status st;
    int w, h;

    FACET_ASSERT(im);
    if (orientation < 1 || orientation > 8)
        return facet_fail(FACET_E_ARG, "EXIF orientation %d is not in 1..8",
                          orientation);
    if (orientation == 1)
        return FACET_OK;
    FACET_ASSERT(im->px && im->w > 0 && im->h > 0 &&
                 im->stride >= 3 * (size_t)im->w);
    w = im->w;
    h = im->h;

    // 2-4 keep the size: mirror rows, columns or both, in place.
    if (orientation <= 4) {
        if (orientation != 4)
            for (int y = 0; y < h; y++)
                reverse_row(im->px + (size_t)y * im->stride, w);
        if (orientation != 2)
            for (int y = 0; y < h / 2; y++)
                swap_rows(im->px + (size_t)y * im->stride,
                          im->px + (size_t)(h - 1 - y) * im->stride,
                          3 * (size_t)w);
        return FACET_OK;
    }

    // 5-8 swap the axes: dst is h x w, and dst(x, y) = src(sx, sy) with
    //   5 transpose   sx = y          sy = x
    //   6 rotate cw   sx = y          sy = h - 1 - x
    //   7 transverse  sx = w - 1 - y  sy = h - 1 - x
    //   8 rotate ccw  sx = w - 1 - y  sy = x
    st = face_image_alloc(&t, h, w);
    if (st != FACET_OK)
        return st;
    for (int y = 0; y < t.h; y++) {
        uint8_t *d = t.px + (size_t)y * t.stride;
        int sx = orientation <= 6 ? y : w - 1 - y;

        for (int x = 0; x < t.w; x++) {
            int sy = orientation == 5 || orientation == 8 ? x : h - 1 - x;
            const uint8_t *s = im->px + (size_t)sy * im->stride + 3 * sx;

            d[3 * x] = s[0];
            d[3 * x + 1] = s[1];
            d[3 * x + 2] = s[2];
        }
    }
    face_image_free(im);
    *im = t;
    return FACET_OK;
}

// ---------------------------------------------------------------------
// Conversion to RGB8 on white

// One 8-bit sample of grey or colour `v` under alpha `a`, composited on
// white: round((v a + 255 (255 - a)) / 255). 255 is odd, so no exact
// halves occur and adding 127 before the division rounds to nearest.
static uint8_t over_white8(uint32_t v, uint32_t a)
{
    return (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
}

// The same for 16-bit samples, straight to 8 bits:
// round((v a + 65535 (65535 - a)) / (65535 * 257)), one rounding.
static uint8_t over_white16(uint32_t v, uint32_t a)
{
    const uint64_t d = 65535u * 257u;   // odd, as above
    uint64_t x = (uint64_t)v * a + (uint64_t)65535u * (65535u - a);

    return (uint8_t)((x + d / 2) / d);
}

// 16 -> 8 bits, round(v / 257).
static uint8_t to8(uint32_t v)
{
    return (uint8_t)((v + 128u) / 257u);
}

// raw: h x w x c interleaved samples (c = 1 grey, 2 grey + alpha, 3 RGB,
// 4 RGBA), 8-bit, or 16-bit when wide. out: an allocated w x h image.
static void to_rgb8(face_image *out, const void *raw, int c, int wide)
{
    const uint8_t *r8 = raw;
    const uint16_t *r16 = raw;

    for (int y = 0; y < out->h; y++) {
        uint8_t *d = out->px + (size_t)y * out->stride;
        size_t s = (size_t)y * out->w * c;

        for (int x = 0; x < out->w; x++, s += c, d += 3) {
            if (!wide) {
                const uint8_t *p = r8 + s;

                switch (c) {
                case 1: d[0] = d[1] = d[2] = p[0]; break;
                case 2: d[0] = d[1] = d[2] = over_white8(p[0], p[1]); break;
                case 3: d[0] = p[0]; d[1] = p[1]; d[2] = p[2]; break;
                default:
                    d[0] = over_white8(p[0], p[3]);
                    d[1] = over_white8(p[1], p[3]);
                    d[2] = over_white8(p[2], p[3]);
                }
            } else {
                const uint16_t *p = r16 + s;

                switch (c) {
                case 1: d[0] = d[1] = d[2] = to8(p[0]); break;
                case 2:
                    d[0] = d[1] = d[2] = over_white16(p[0], p[1]);
                    break;
                case 3:
                    d[0] = to8(p[0]); d[1] = to8(p[1]); d[2] = to8(p[2]);
                    break;
                default:
                    d[0] = over_white16(p[0], p[3]);
                    d[1] = over_white16(p[1], p[3]);
                    d[2] = over_white16(p[2], p[3]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------
// PNM (binary P5 / P6), read here: stb's reader does not scale by maxval,
// accepts short pixel data and lets header numbers overflow an int.

// Skip whitespace and '#' comments; then read a decimal number. Returns
// 0 when there is no number or it exceeds `cap`.
static int pnm_number(const uint8_t *b, size_t n, size_t *pos, uint32_t cap,
                      uint32_t *v)
{
    size_t i = *pos;
    uint64_t x = 0;
    int digits = 0;

    while (i < n && (pnm_space(b[i]) || b[i] == '#')) {
        if (b[i] == '#')
            while (i < n && b[i] != '\n' && b[i] != '\r')
                i++;
        else
            i++;
    }
    while (i < n && b[i] >= '0' && b[i] <= '9') {
        x = 10 * x + (uint64_t)(b[i] - '0');
        if (x > cap)
            return 0;
        digits++;
        i++;
    }
    *pos = i;
    *v = (uint32_t)x;
    return digits > 0;
}

// Refuse a declared size of 0 or over the cap (shared by every format).
static facet_status check_size(const char *name, const char *kind,
                               uint64_t w, uint64_t h,
                               const face_load_opts *o)
{
    if (w == 0 || h == 0)
        return facet_fail(FACET_E_CORRUPT, "%s: %s declares a %llux%llu "
                          "image (zero size)", name, kind,
                          (unsigned long long)w, (unsigned long long)h);
    if (w > INT_MAX || h > INT_MAX || w * h > o->max_pixels)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %llux%llu pixels exceeds "
                          "the %.4g Mpx cap", name, (unsigned long long)w,
                          (unsigned long long)h, (double)o->max_pixels / 1e6);
    return FACET_OK;
}

static facet_status decode_pnm(face_image *out, const uint8_t *b, size_t n,
                               const char *name, const face_load_opts *o)
{
    uint32_t w, h, maxv;
    size_t pos = 2, need, per_row;
    int c, bps;
    facet_status st;

    // Header: "P5" or "P6", width, height, maxval, one whitespace byte.
    if (b[1] != '5' && b[1] != '6')
        return facet_fail(FACET_E_UNSUPPORTED, "%s: PNM type P%c (ASCII or "
                          "bitmap) is not supported; facet reads P5 and P6",
                          name, b[1]);
    if (!pnm_number(b, n, &pos, UINT32_MAX >> 1, &w) ||
        !pnm_number(b, n, &pos, UINT32_MAX >> 1, &h))
        return facet_fail(FACET_E_CORRUPT, "%s: PNM header has no valid "
                          "width and height", name);
    st = check_size(name, "PNM header", w, h, o);
    if (st != FACET_OK)
        return st;
    if (!pnm_number(b, n, &pos, 65535, &maxv) || maxv == 0)
        return facet_fail(FACET_E_CORRUPT, "%s: PNM maxval missing or not "
                          "in 1..65535", name);
    if (pos >= n || !pnm_space(b[pos]))
        return facet_fail(FACET_E_CORRUPT, "%s: truncated PNM header", name);
    pos++;

    // Pixel data: h rows of w samples per channel, big-endian when 16-bit.
    c = b[1] == '6' ? 3 : 1;
    bps = maxv > 255 ? 2 : 1;
    per_row = (size_t)w * (size_t)c * (size_t)bps;  // w < 2^31, no overflow
    if (!facet_size_mul(&need, per_row, h))
        return facet_fail(FACET_E_TOO_LARGE, "%s: PNM data size overflows",
                          name);
    if (n - pos < need)
        return facet_fail(FACET_E_CORRUPT, "%s: truncated PNM (%zu of %zu "
                          "pixel bytes)", name, n - pos, need);
    st = face_image_alloc(out, (int)w, (int)h);
    if (st != FACET_OK)
        return refail(st, name);

    // Scale each sample to 0..255: round(v 255 / maxv), halves up;
    // samples above maxv (invalid) count as maxv.
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *s = b + pos + (size_t)y * per_row;
        uint8_t *d = out->px + (size_t)y * out->stride;

        for (uint32_t x = 0; x < w; x++, d += 3) {
            for (int k = 0; k < c; k++, s += bps) {
                uint32_t v = bps == 2 ? be16(s) : s[0];

                if (v > maxv)
                    v = maxv;
                d[k] = (uint8_t)((2u * 255u * v + maxv) / (2u * maxv));
            }
            if (c == 1)
                d[1] = d[2] = d[0];
        }
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------
// Decoding

// The status for a stb failure reason (stb's short strings, built
// without STBI_FAILURE_USERMSG): unsupported variants, memory and size
// limits by name; any other failure of a recognised format is corruption.
static facet_status stb_status(const char *why, int recognised)
{
    static const char *const unsupported[] = {
        "only 8-bit", "1/2/4/8/16-bit only", "bad bits_per_channel",
        "BMP RLE", "BMP JPEG/PNG", "unknown BMP", "no header height",
        "unsupported",
    };

    if (!why)
        return recognised ? FACET_E_CORRUPT : FACET_E_FORMAT;
    if (!strcmp(why, "outofmem"))
        return FACET_E_NOMEM;
    if (!strcmp(why, "too large"))
        return FACET_E_TOO_LARGE;
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (!strcmp(why, unsupported[i]))
            return FACET_E_UNSUPPORTED;
    return recognised ? FACET_E_CORRUPT : FACET_E_FORMAT;
}

static facet_status stb_fail(const char *name, const char *kind,
                             int recognised)
{
    const char *why = stbi_failure_reason();
    facet_status st = stb_status(why, recognised);

    if (!why)
        why = "no reason given";
    switch (st) {
    case FACET_E_FORMAT:
        return facet_fail(st, "%s: not a supported image; facet reads "
                          "JPEG, PNG, BMP, TGA and PNM (stb: %s)", name, why);
    case FACET_E_UNSUPPORTED:
        return facet_fail(st, "%s: unsupported kind of %s (stb: %s)", name,
                          kind, why);
    case FACET_E_NOMEM:
        return facet_fail(st, "%s: out of memory decoding the %s", name,
                          kind);
    case FACET_E_TOO_LARGE:
        return facet_fail(st, "%s: %s too large to decode (stb: %s)", name,
                          kind, why);
    default:
        return facet_fail(st, "%s: corrupt or truncated %s (stb: %s)", name,
                          kind, why);
    }
}

// JPEG checks before stb sees the file: the header's size, the variants
// stb cannot read or would read with wrong colours, truncation.
static facet_status check_jpeg(const jpeg_head *j, const char *name,
                               const face_load_opts *o)
{
    facet_status st;

    if (!j->sof)
        return facet_fail(FACET_E_CORRUPT, "%s: %s JPEG (no frame header "
                          "before %s)", name,
                          j->truncated ? "truncated" : "corrupt",
                          j->truncated ? "the end of the file"
                                       : "the image data");
    if (j->h == 0)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: JPEG whose height is "
                          "given by a DNL marker is not supported", name);
    st = check_size(name, "JPEG header", (uint64_t)j->w, (uint64_t)j->h, o);
    if (st != FACET_OK)
        return st;
    if (j->sof == 0xc3 || j->sof == 0xc7 || j->sof == 0xcb ||
        j->sof == 0xcf)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: lossless JPEG is not "
                          "supported", name);
    if (j->sof >= 0xc9)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: arithmetic-coded JPEG "
                          "is not supported", name);
    if (j->sof >= 0xc5)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: hierarchical JPEG is "
                          "not supported", name);
    if (j->bits != 8)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: %d-bit JPEG is not "
                          "supported (8-bit only)", name, j->bits);
    if (j->comps == 4 && j->adobe != 0 && j->adobe != 2)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: 4-channel (CMYK) JPEG "
                          "without an Adobe colour-transform marker: its "
                          "colours are ambiguous", name);
    if (!j->scan)
        return facet_fail(FACET_E_CORRUPT, "%s: %s JPEG (no image data)",
                          name, j->truncated ? "truncated" : "corrupt");
    if (!j->eoi)
        return facet_fail(FACET_E_CORRUPT, "%s: truncated JPEG (the image "
                          "data has no end marker)", name);
    return FACET_OK;
}

facet_status face_image_decode(face_image *out, const uint8_t *buf,
                               size_t n, const char *name,
                               const face_load_opts *opts)
{
    face_load_opts o;
    jpeg_head j;
    const char *what, *kind;
    void *raw;
    int w, h, c, wide, orientation = 1;
    fmt f;
    facet_status st;

    FACET_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!name)
        name = "<memory>";
    if (opts)
        o = *opts;
    else
        face_load_defaults(&o);
    if (!buf && n)
        return facet_fail(FACET_E_ARG, "%s: no buffer for %zu bytes", name,
                          n);

    // 1. The format, by content (never by the file name).
    if (n == 0)
        return facet_fail(FACET_E_FORMAT, "%s: empty file (0 bytes)", name);
    if (n > INT_MAX)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %zu bytes is more than "
                          "the decoder takes (2 GiB)", name, n);
    f = sniff(buf, n, &what);
    if (f == FMT_REFUSED)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: %s images are not "
                          "supported; facet reads JPEG, PNG, BMP, TGA and "
                          "PNM", name, what);
    if (f == FMT_PNM)
        return decode_pnm(out, buf, n, name, &o);

    // 2-3. The declared size (and for JPEG, the variant and truncation),
    // before stb allocates anything.
    kind = f == FMT_JPEG ? "JPEG" : f == FMT_PNG ? "PNG"
         : f == FMT_BMP ? "BMP" : "TGA";
    if (f == FMT_JPEG) {
        jpeg_scan(&j, buf, n);
        st = check_jpeg(&j, name, &o);
        if (st != FACET_OK)
            return st;
        orientation = j.orientation;
    } else if (f == FMT_PNG) {
        if (n < 24 || memcmp(buf, png_sig, 8) || memcmp(buf + 12, "IHDR", 4))
            return facet_fail(FACET_E_CORRUPT, "%s: %s PNG (no image "
                              "header)", name,
                              n < 24 ? "truncated" : "corrupt");
        st = check_size(name, "PNG header", be32(buf + 16), be32(buf + 20),
                        &o);
        if (st != FACET_OK)
            return st;
        orientation = png_orientation(buf, n);
    }
    if (!stbi_info_from_memory(buf, (int)n, &w, &h, &c))
        return stb_fail(name, kind, f != FMT_UNKNOWN);
    st = check_size(name, kind, (uint64_t)(w > 0 ? w : 0),
                    (uint64_t)(h > 0 ? h : 0), &o);
    if (st != FACET_OK)
        return st;

    // 4. Decode at the file's own channel count and depth; convert.
    wide = stbi_is_16_bit_from_memory(buf, (int)n);
    if (wide)
        raw = stbi_load_16_from_memory(buf, (int)n, &w, &h, &c, 0);
    else
        raw = stbi_load_from_memory(buf, (int)n, &w, &h, &c, 0);
    if (!raw)
        return stb_fail(name, kind, 1);
    FACET_ASSERT(c >= 1 && c <= 4);
    st = face_image_alloc(out, w, h);
    if (st != FACET_OK) {
        stbi_image_free(raw);
        return refail(st, name);
    }
    to_rgb8(out, raw, c, wide);
    stbi_image_free(raw);

    // 5. Upright.
    if (!o.ignore_exif && orientation != 1) {
        st = face_image_orient(out, orientation);
        if (st != FACET_OK) {
            face_image_free(out);
            return refail(st, name);
        }
    }
    return FACET_OK;
}

facet_status face_image_load(face_image *out, const char *path,
                             const face_load_opts *opts)
{
    face_load_opts o;
    struct stat sb;
    uint8_t *buf;
    size_t n, got;
    FILE *f;
    facet_status st;
    char err[128];

    FACET_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!path || !path[0])
        return facet_fail(FACET_E_ARG, "image path is empty");
    if (opts)
        o = *opts;
    else
        face_load_defaults(&o);

    // Open; only a regular file of at most max_file_bytes is read.
    f = fopen(path, "rb");
    if (!f) {
        strerror_r(errno, err, sizeof err);
        return facet_fail(FACET_E_IO, "%s: cannot open: %s", path, err);
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return facet_fail(FACET_E_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size > o.max_file_bytes) {
        fclose(f);
        return facet_fail(FACET_E_TOO_LARGE, "%s: %jd bytes exceeds the "
                          "%zu-byte file cap", path, (intmax_t)sb.st_size,
                          o.max_file_bytes);
    }
    n = (size_t)sb.st_size;

    // Read it whole (an empty file reads as 0 bytes and fails in decode).
    buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return facet_fail(FACET_E_NOMEM, "%s: cannot allocate %zu bytes",
                          path, n);
    }
    got = fread(buf, 1, n, f);
    if (got != n || ferror(f)) {
        int e = ferror(f) ? errno : 0;

        free(buf);
        fclose(f);
        if (e) {
            strerror_r(e, err, sizeof err);
            return facet_fail(FACET_E_IO, "%s: read failed: %s", path, err);
        }
        return facet_fail(FACET_E_IO, "%s: read %zu of %zu bytes (the file "
                          "shrank while being read)", path, got, n);
    }
    fclose(f);

    st = face_image_decode(out, buf, n, path, &o);
    free(buf);
    return st;
}

// ---------------------------------------------------------------------
// Writing

// Counter that makes temporary names unique between the threads of this
// process; the pid separates processes.
static atomic_uint tmp_counter;

facet_status face_write_file_atomic(const char *path, const void *data,
                                    size_t n)
{
    const char *base;
    const uint8_t *p = data;
    char *tmp, err[128];
    size_t dir_len, cap, done = 0;
    int fd = -1, e;

    if (!path || !path[0])
        return facet_fail(FACET_E_ARG, "output path is empty");
    if (!data && n)
        return facet_fail(FACET_E_ARG, "%s: no data for %zu bytes", path, n);
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
        return facet_fail(FACET_E_ARG, "%s: not a file name", path);
    dir_len = (size_t)(base - path);

    // Temporary name beside the target: "<dir>/.<base>.tmp-<pid>-<k>".
    cap = strlen(path) + 48;
    tmp = malloc(cap);
    if (!tmp)
        return facet_fail(FACET_E_NOMEM, "%s: cannot allocate a name",
                          path);
    for (int tries = 0; tries < 64 && fd < 0; tries++) {
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%u", (int)dir_len, path, base,
                 (long)getpid(), atomic_fetch_add(&tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        e = errno;
        free(tmp);
        strerror_r(e, err, sizeof err);
        return facet_fail(FACET_E_IO, "%s: cannot create a temporary file "
                          "beside it: %s", path, err);
    }

    // Write all of it (write may take less than asked, or be
    // interrupted), close, rename over the target.
    while (done < n) {
        ssize_t k = write(fd, p + done, n - done);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            e = k < 0 ? errno : EIO;
            goto fail;
        }
        done += (size_t)k;
    }
    if (close(fd) != 0) {
        e = errno;
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        e = errno;
        goto fail;
    }
    free(tmp);
    return FACET_OK;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    strerror_r(e, err, sizeof err);
    return facet_fail(FACET_E_IO, "%s: cannot write: %s", path, err);
}

facet_status face_image_write_png(const char *path, const uint8_t *px,
                                  int w, int h, int channels, size_t stride)
{
    unsigned char *png;
    int len;
    facet_status st;

    if (!path || !path[0])
        return facet_fail(FACET_E_ARG, "output path is empty");
    if (!px || w <= 0 || h <= 0 || channels < 1 || channels > 4)
        return facet_fail(FACET_E_ARG, "%s: bad image: %dx%d, %d channels",
                          path, w, h, channels);
    if (stride < (size_t)w * (size_t)channels || stride > INT_MAX ||
        (uint64_t)w * (uint64_t)h * (uint64_t)channels > INT_MAX / 2)
        return facet_fail(FACET_E_ARG, "%s: bad image: %dx%d, %d channels, "
                          "stride %zu (at most 1 GiB of pixels)", path, w, h,
                          channels, stride);

    png = stbi_write_png_to_mem(px, (int)stride, w, h, channels, &len);
    if (!png)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory encoding a "
                          "%dx%d PNG", path, w, h);
    st = face_write_file_atomic(path, png, (size_t)len);
    STBIW_FREE(png);
    return st;
}

// ---------------------------------------------------------------------
// Resizing

facet_status face_image_resize(face_image *dst, const face_image *src,
                               int w, int h)
{
    facet_status st;

    FACET_ASSERT(dst && src && dst != src);
    memset(dst, 0, sizeof *dst);
    if (!src->px || src->w <= 0 || src->h <= 0 ||
        src->stride < 3 * (size_t)src->w || src->stride > INT_MAX)
        return facet_fail(FACET_E_ARG, "resize: bad source image %dx%d, "
                          "stride %zu", src->w, src->h, src->stride);
    st = face_image_alloc(dst, w, h);
    if (st != FACET_OK)
        return refail(st, "resize");
    if (dst->stride > INT_MAX) {
        face_image_free(dst);
        return facet_fail(FACET_E_TOO_LARGE, "resize to %dx%d: rows too "
                          "long", w, h);
    }

    // stb's tent filter: bilinear weights when enlarging, a tent as wide
    // as the scale when shrinking.
    if (!stbir_resize_uint8_generic(src->px, src->w, src->h,
                                    (int)src->stride, dst->px, w, h,
                                    (int)dst->stride, 3,
                                    STBIR_ALPHA_CHANNEL_NONE, 0,
                                    STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE,
                                    STBIR_COLORSPACE_LINEAR, NULL)) {
        face_image_free(dst);
        return facet_fail(FACET_E_NOMEM, "resize %dx%d to %dx%d: out of "
                          "memory", src->w, src->h, w, h);
    }
    return FACET_OK;
}

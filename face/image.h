// image.h - photo files in and out: decoding any common image into an
// 8-bit RGB face_image with its EXIF orientation applied, owned image
// buffers, PNG and other file writes that never leave a half-written file,
// and a resize for thumbnails.
//
// This is the first stage of the face pipeline (see face.h). Every other
// part of facet reads and writes images through these calls; face/image.c
// holds the library's only copy of stb.
//
// Decoding accepts JPEG (baseline and progressive, 8-bit, grey, YCbCr and
// Adobe CMYK/YCCK), PNG (every colour type, 1 to 16 bits), BMP, TGA and
// binary PNM (P5 grey, P6 colour, any maxval up to 65535). The result is
// always RGB8: grey is copied to the three channels, alpha is composited
// on white, 16-bit samples are rounded to 8 bits (v / 257, rounded to
// nearest), PNM samples are scaled from their maxval to 0..255. GIF, WebP,
// HEIF/AVIF, TIFF, PSD, Radiance HDR, JPEG 2000, JPEG XL, ASCII PNM and
// arithmetic-coded, lossless or 12-bit JPEG are refused with
// FACET_E_UNSUPPORTED.
//
// Failures return a status and set facet_error() to "<name>: <problem>":
//   FACET_E_IO          the file cannot be opened or read, or is not a
//                       regular file
//   FACET_E_FORMAT      the content is not an image of a supported kind
//                       (an empty file, text named .jpg)
//   FACET_E_UNSUPPORTED a recognised format facet does not read (above)
//   FACET_E_CORRUPT     a recognised format that is truncated or broken
//                       (including a declared width or height of 0)
//   FACET_E_TOO_LARGE   more pixels than max_pixels, a file bigger than
//                       max_file_bytes; both are checked before decoding
//   FACET_E_NOMEM       an allocation failed
#ifndef FACET_FACE_IMAGE_H
#define FACET_FACE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "face.h"

// Owned images. face_image_alloc sets *im to a w x h image (w, h >= 1) of
// zero bytes; rows are 3 * w bytes rounded up to a multiple of 16
// (FACE_IMAGE_ROW_ALIGN), so code that ignores `stride` shows up at once.
// face_image_free releases an image made by any call of this header and
// zeroes the struct; NULL and an empty struct are harmless.
#define FACE_IMAGE_ROW_ALIGN 16
facet_status face_image_alloc(face_image *im, int w, int h);
void face_image_free(face_image *im);

// Decoding limits. face_load_defaults sets max_pixels to 64 megapixels
// (64 000 000: 8000 x 8000), max_file_bytes to 256 MiB and ignore_exif to
// 0 (apply the EXIF orientation).
typedef struct face_load_opts {
    uint64_t max_pixels;     // refuse width * height above this
    size_t max_file_bytes;   // refuse larger files (face_image_load only)
    int ignore_exif;         // nonzero: keep the stored pixel order
} face_load_opts;
void face_load_defaults(face_load_opts *o);

// Read and decode the file at `path` (opts NULL = defaults). *out is
// overwritten (it must not hold pixels); on failure it is left empty
// (zeroed) and facet_error() names the path.
facet_status face_image_load(face_image *out, const char *path,
                             const face_load_opts *opts);

// Decode n bytes already in memory; `name` (NULL = "<memory>") heads the
// error messages. Same result and contract as face_image_load, except
// that max_file_bytes is not applied (n must fit in an int: stb's limit).
facet_status face_image_decode(face_image *out, const uint8_t *buf,
                               size_t n, const char *name,
                               const face_load_opts *opts);

// The EXIF orientation (1..8) of a JPEG (the first APP1 "Exif" segment
// before the image data) or a PNG (its eXIf chunk): tag 0x0112 of IFD0,
// TIFF either byte order. Returns 1 when the file has none, or when the
// block is malformed or the value is outside 1..8. Reads only inside
// buf[0 .. n).
int face_exif_orientation(const uint8_t *buf, size_t n);

// Apply an EXIF orientation to an image that face_image_alloc (or a
// decode) made, so that it shows upright:
//   1 as is             2 mirror left-right     3 rotate 180
//   4 mirror top-bottom 5 transpose             6 rotate 90 clockwise
//   7 transverse        8 rotate 90 counter-clockwise
// 2-4 work in place; 5-8 swap width and height and replace the pixels.
// An orientation outside 1..8 is FACET_E_ARG (the image is unchanged).
facet_status face_image_orient(face_image *im, int orientation);

// Write n bytes to `path` through a temporary file in the same folder
// (".<name>.tmp-<pid>-<k>", mode 0666 less the umask) renamed into place,
// so that `path` holds either its old content or all of the new. On any
// failure the temporary file is removed and facet_error() names `path`.
// No fsync: a crash of the machine (not of the program) may lose the
// file.
facet_status face_write_file_atomic(const char *path, const void *data,
                                    size_t n);

// Encode w x h pixels of 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)
// interleaved channels, rows `stride` bytes apart, as a PNG and write it
// with face_write_file_atomic.
facet_status face_image_write_png(const char *path, const uint8_t *px,
                                  int w, int h, int channels, size_t stride);

// Resample `src` to a new w x h image in *dst (overwritten; free it with
// face_image_free) with a tent filter: bilinear when enlarging, and
// widened to the scale when shrinking so that every source pixel counts
// (an area-like average). Edges are clamped; samples are treated as
// linear values (no sRGB decoding).
facet_status face_image_resize(face_image *dst, const face_image *src,
                               int w, int h);

#endif

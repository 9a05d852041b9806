// align.h - canonical alignment: the 68-point template, the transforms
// from a photo to the canonical crops, and the warps that sample images,
// float maps and label maps through any such transform.
//
// In the pipeline: landmarks (landmarks.h) -> here -> the aligned crops
// that features.c, parts.c and the hair network read. Every transform is
// a face_xform (face.h), so any map can be carried between crops and back
// to the photo: compose and invert them, then warp.
//
// The template is dlib's mean face, the frame of get_face_chip_details:
// landmarks 17..67 are dlib's numbers; the jaw (0..16) was added from the
// mean shape of dlib's 68-point model (align.c says how). Its left/right
// axis is x = FACE_TEMPLATE_AXIS; mirroring the face maps landmark i to
// face_template_mirror(i).
//
// Framing. A crop of side S places template point m at
//   u = S * ((m - c) / (1 + 2 pad) + 1/2) - 1/2      (per coordinate)
// in pixel-centre coordinates (face.h): the template's unit box, padded by
// `pad` of its side on each edge, fills the crop, and the template point
// c lands on the crop's centre. Per kind:
//   FACE_CROP_DLIB150   pad 0.25, c = (0.5, 0.5): dlib's
//       get_face_chip_details(shape, S, 0.25), reproduced exactly
//       (see face_align_fit), default S = 150, for dlib's ResNet
//       descriptor.
//   FACE_CROP_BACKBONE  pad 0.25, c = (axis, 0.60), default S = 224:
//       the face from just above the brows to below the chin, the
//       template's axis on the crop's centre line. Chosen by measuring
//       faceres identity verification (cosine ROC AUC of the pooled
//       descriptor over all pairs of 910 LFW photos of three people,
//       tools/eval/align_eval.c) over pad 0.1 .. 0.8 and c_y 0.4 .. 0.7:
//       AUC rises from pad 0.1 to a plateau at 0.2 .. 0.3 and falls
//       beyond 0.4 (face too small), and a centre below the template box
//       centre (c_y 0.6, so the chin is in) beats 0.5; the table is in
//       align_eval.c's header. The faceres network was trained on
//       VGGFace2-style crops, which this matches: whole face, a thin
//       margin, little forehead.
//   FACE_CROP_HEAD      pad 0.85, c = (axis, 0.20), default S = 512: a
//       loose crop that keeps the whole head and long hair, the face in
//       the lower-middle of the crop (about 1/3 of the crop's width); on
//       CelebA-HQ it holds 98.6% of the ground-truth hair pixels inside
//       the photo (tools/eval/align_eval.c --head).
//
// Fit. Least squares on the stable landmarks (face_align_fit_set): the
// nose (27..35), the eyes (36..47) and the outer and inner upper lip
// (48..54, 60..64), the set dlib's get_face_chip_details uses. The jaw
// outline moves with pose and the lower lip with the mouth opening; the
// brows move with expression. BACKBONE and HEAD fit photo -> crop
// directly (residuals measured in crop pixels), as method-spec 7.4
// writes the normal equations. DLIB150 does what dlib does: a similarity
// from its template chip points to the landmarks, then dlib's chip
// rectangle (whose pixel step is (S * scale - 1) / (S - 1) photo pixels,
// a quirk of its centered_drect), so the crop equals dlib's to rounding.
//
// Warps sample by inverse mapping: each destination pixel centre (u, v)
// is mapped to the source by the inverse transform and the source is
// interpolated there (bilinear for images and float maps, nearest for
// labels). Beyond its edges the source is extended by the nearest edge
// pixel (FACE_BORDER_REPLICATE) or by a fill value (FACE_BORDER_CONSTANT),
// then sampled. When a destination pixel spans more than 1.25 source
// pixels along a destination axis, it averages n bilinear samples along
// that axis, n = ceil(span - 0.25) (at most 8), evenly spread over the
// pixel: a box prefilter, so shrinking does not alias. Rows run in
// parallel; each pixel's arithmetic is fixed, so results do not depend on
// the thread count.
//
// ref: method-spec section 7.4 (template, fit, warp)
// ref: dlib/image_transforms/interpolation.h (dlib 19.24):
//      get_face_chip_details, chip_details, get_mapping_to_chip
// ref: dlib/geometry/drectangle.h: centered_drect
// ref: S. Umeyama, "Least-squares estimation of transformation parameters
//      between two point patterns", IEEE PAMI 13(4), 1991
//
// Limitations:
// - dlib samples shrinking chips from an image pyramid; here a box
//   prefilter does that job, so DLIB150 crops of faces larger than about
//   twice the crop differ from dlib's pixels (not its geometry). dlib
//   paints pixels whose 2x2 neighbourhood leaves the image black; here the
//   border mode decides.
// - dlib's framing is exact when the landmarks are dlib's integer points
//   (landmarks.h ixy); float landmarks give the same map for their values.
// - The template's jaw is the model's mean shape, not a mean over faces;
//   the fit does not use it.
// - The backbone framing was measured on three LFW people only (910
//   photos, ~414k pairs); the AUC plateau is flat to ~0.002 around the
//   chosen value.
#ifndef FACET_FACE_ALIGN_H
#define FACET_FACE_ALIGN_H

#include <stddef.h>
#include <stdint.h>

#include "face.h"

// Largest crop side face_align_fit accepts, and the largest side of an
// image any warp reads or writes.
#define FACE_ALIGN_MAX_SIZE 8192
#define FACE_WARP_MAX_SIDE 65536
// Largest |coordinate| of a landmark accepted (pixels).
#define FACE_ALIGN_MAX_COORD 1e7

// The template's left/right symmetry axis (x, template units): the mean
// midpoint of its mirrored pairs.
#define FACE_TEMPLATE_AXIS 0.4901265

// Number of landmarks in the fit set.
#define FACE_ALIGN_FIT_COUNT 33

// The template: 68 x 2 doubles, x0, y0, x1, y1, ... in dlib's unit frame
// (the brows' outer ends near x = 0 and 1, the brow tops near y = 0).
const double *face_template(void);

// The iBUG-68 index of landmark i's mirror image (i itself on the axis),
// or -1 for i out of range.
int face_template_mirror(int i);

// The landmark indices the fit uses (FACE_ALIGN_FIT_COUNT of them,
// ascending).
const int *face_align_fit_set(void);

// Default crop side of a kind (224, 150, 512), or 0 for a bad kind.
int face_crop_default_size(face_crop_kind kind);

// Where the template's 68 points lie in the crop of a kind and side
// `size` (0: the default), pixel-centre coordinates, into xy (68 x 2).
// For DLIB150 this is the nominal frame; dlib's own map adds its
// pixel-step quirk (above), within 0.5 px of it for faces of 0.5 .. 2
// photo pixels per crop pixel. FACET_E_ARG for a bad kind or size.
facet_status face_align_template_points(double *xy, face_crop_kind kind,
                                        int size);

// Fit the transform from the photo to a crop.
//   photo_to_crop: written on success.
//   lm68:  68 x 2 floats, x, y pairs in photo pixels (iBUG order).
//   kind:  the crop; size: its side (0: the kind's default, else
//          1 .. FACE_ALIGN_MAX_SIZE).
//   affine: 0: similarity (default), 1: 6-parameter affine on the same
//          landmarks (the paper's choice; not for DLIB150, whose framing
//          is dlib's similarity).
// FACET_E_ARG, with a detail naming the fault, for a NULL pointer, a bad
// kind, size or affine flag, a non-finite landmark or one beyond
// FACE_ALIGN_MAX_COORD, landmarks that are degenerate (the fit points
// coincide or are collinear, or the crop would magnify a photo pixel more
// than 1000 times: a face well under a pixel wide), or an affine fit
// that mirrors the face (the landmarks are in mirrored order).
facet_status face_align_fit(face_xform *photo_to_crop, const float *lm68,
                            face_crop_kind kind, int size, int affine);

// The 68 landmarks in crop coordinates: out = photo_to_crop(lm68), both
// 68 x 2 floats (out may equal lm68).
void face_align_landmarks(float *out, const float *lm68,
                          const face_xform *photo_to_crop);

// ---------------------------------------------------------------------------
// Transforms

// The identity.
face_xform face_xform_identity(void);

// out = the inverse of t. FACET_E_ARG when t has a non-finite entry or is
// singular (|det| <= 1e-12 * (largest |entry of the 2x2 part|)^2, or an
// inverse entry that is not finite). out may equal t.
facet_status face_xform_invert(face_xform *out, const face_xform *t);

// out = second after first: out(p) = second(first(p)). out may equal
// either argument.
void face_xform_compose(face_xform *out, const face_xform *second,
                        const face_xform *first);

// dst = t(src) for n points, x, y pairs in double (dst may equal src).
void face_xform_apply(double *dst, const double *src, int n,
                      const face_xform *t);

// The similarity closest to t (for sanity checks): scale (sqrt |det|),
// angle (radians, counter-clockwise in x-right/y-down pixel axes means
// clockwise on screen: atan2(m[3] - m[1], m[0] + m[4])) and aniso, the
// ratio of the larger to the smaller singular value of the 2x2 part (1 for
// a similarity, +inf when singular). Any output pointer may be NULL.
void face_xform_params(const face_xform *t, double *scale, double *angle,
                       double *aniso);

// ---------------------------------------------------------------------------
// Warps

typedef enum face_border {
    FACE_BORDER_REPLICATE = 0,   // the nearest edge pixel
    FACE_BORDER_CONSTANT,        // a fill value
    FACE_BORDER_COUNT
} face_border;

// An RGB image through a transform: dst (dw x dh RGB, rows dstride bytes
// apart) receives src sampled bilinearly at src_to_dst^-1 of each pixel
// centre, rounded half up. `fill` (3 bytes) is read only for
// FACE_BORDER_CONSTANT (NULL there means black).
// FACET_E_ARG for NULL pointers, sizes outside 1 .. FACE_WARP_MAX_SIDE,
// a stride shorter than a row, a bad border mode, or a transform that is
// not finite and invertible.
facet_status face_warp_rgb(uint8_t *dst, int dw, int dh, size_t dstride,
                           const face_image *src,
                           const face_xform *src_to_dst, face_border border,
                           const uint8_t *fill);

// Float maps: `channels` planes, each sh rows of sw floats sstride floats
// apart, plane c at src + c * sstride * sh (dst likewise with dstride, dh);
// bilinear as face_warp_rgb, no rounding. Source values should be finite
// (a non-finite one spreads to the pixels that read it). `fill` may be
// anything, NaN to mark pixels from outside the source included. Errors as
// face_warp_rgb, plus channels outside 1 .. 4096.
facet_status face_warp_f32(float *dst, int dw, int dh, size_t dstride,
                           const float *src, int sw, int sh, size_t sstride,
                           int channels, const face_xform *src_to_dst,
                           face_border border, float fill);

// Label maps (one byte per pixel): nearest neighbour, the source pixel
// whose square holds the mapped centre (x, y) (floor(x + 1/2),
// floor(y + 1/2)), so every output value is a source value or `fill`.
// Errors as face_warp_rgb.
facet_status face_warp_labels(uint8_t *dst, int dw, int dh, size_t dstride,
                              const uint8_t *src, int sw, int sh,
                              size_t sstride, const face_xform *src_to_dst,
                              face_border border, uint8_t fill);

#endif

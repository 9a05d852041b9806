// parts.h - face-part label maps: one face_part label per pixel of a crop
// (background, face base, hair, eyes, eyebrows, nose, mouth), built from
// the 68 landmarks, the hair network's probability and the crop's colours;
// and the overlay picture that shows them.
//
// In the pipeline: landmarks -> align (crops, landmarks and p(hair) warped
// into one crop frame) -> parts (here) -> part scores of PCAM maps
// (pcam.c) and the segments of facial hybrids.
//
// Everything here works in one crop frame: pixel (x, y) has its centre at
// integer (x, y) (face.h), landmarks are crop pixel coordinates in
// iBUG-68 order, label maps and masks are w x h bytes, row-major, no
// padding.
//
// How the labels are made (face_parts_label; the radii and factors are
// face_parts_opts fields, their defaults in face_parts_defaults):
//   eyes      polygons 36-41 and 42-47, dilated by eye_radius
//   eyebrows  polylines 17-21 and 22-26 moved brow_shift towards the
//             chin, drawn brow_radius thick
//   nose      the bridge (27) widened to a band, down to the alae beside
//             31 and 35 and the base 31-35, dilated by nose_radius
//   mouth     the outer lip polygon 48-59, dilated by mouth_radius
//   hair      p(hair) > hair_threshold, only the 8-connected hair regions
//             that touch the head region (face_parts_head)
//   base      the skin of the face: FACE_BASE_NC13, the Nieuwenhuis-
//             Cremers segmentation seeded from the landmarks (face/
//             segment.h), or FACE_BASE_GEOMETRIC, the jaw polygon closed
//             by a forehead line
//   background  everything else.
// Radii are in inter-ocular distances (iod: the distance between the two
// eye centres, the means of 36-41 and 42-47), so the masks scale with the
// face in any crop. Where parts overlap, the label is the first of
//   eyes > eyebrows > nose > mouth > hair > base > background
// (the landmark parts are the segments the paper scores, so they keep
// their pixels even under a fringe; hair beats base so a fringe over the
// forehead is hair).
//
// Geometry (face_poly_fill, face_polyline_fill, face_dilate) is exact on
// pixel centres, which the tests check against brute force.
//
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face? Metric Learning
//      for Face Characterization", Eurographics 2019, sections 4.5, 6.2
// ref: method-spec sections 2.4 (seeds from landmarks) and 4.5 (part
//      scores)
// ref: C. Nieuwenhuis, D. Cremers, "Spatially Varying Color Distributions
//      for Interactive Multilabel Segmentation", TPAMI 35(5), 2013
//
// Limitations:
// - The landmark parts are fixed shapes around the points: eyeglasses,
//   eyelashes past the dilation and open-mouth teeth are whatever the
//   polygons cover.
// - Hair comes only from the network's probability; beards and
//   moustaches are base (or whatever NC13 makes of them), never hair.
// - The head region assumes an upright-ish face (the skull is placed by
//   mirroring the jaw about the brow line); profile views get a poor one.
// - NC13 runs at a reduced working resolution (work_size) and its result
//   is carried back by nearest neighbour, so the base border is blocky
//   at the crop's resolution when the crop is larger than work_size.
#ifndef FACET_FACE_PARTS_H
#define FACET_FACE_PARTS_H

#include <stdint.h>

#include "face.h"
#include "segment.h"

// How the face base is found.
typedef enum face_base_method {
    FACE_BASE_NC13 = 0,     // colour segmentation seeded from landmarks
    FACE_BASE_GEOMETRIC     // jaw polygon up to a forehead line
} face_base_method;

// Options (face_parts_defaults fills the documented defaults). Lengths
// are in inter-ocular distances (iod) unless said otherwise.
typedef struct face_parts_opts {
    face_base_method base_method;
    double hair_threshold;   // hair where p(hair) > this (0.5)
    double eye_radius;       // eye polygon dilation (0.10)
    double brow_radius;      // half thickness of the brow stroke (0.09)
    double brow_shift;       // brow line moved towards the chin (0.03)
    double nose_radius;      // nose polygon dilation (0.05)
    double mouth_radius;     // outer lip polygon dilation (0.06)
    // Head region (face_parts_head): the convex hull of the landmarks and
    // of the jaw mirrored about the brow line (the skull), dilated by
    // head_grow face widths (|16 - 0|).
    double skull_height;     // mirrored jaw scaled by this (1.0)
    double head_grow;        // (0.25 face widths)
    // Face base, geometric method: the forehead line lies
    // forehead_height x (brow-to-nose-base distance) above the brows.
    double forehead_height;  // (0.9)
    // Face base, NC13: background scribbles lie outside the head region
    // dilated by bg_grow face widths instead of head_grow, and along a
    // border band; the result is computed at a working resolution whose
    // longer side is at most work_size pixels (integer box downsampling).
    double bg_grow;          // (0.15 face widths)
    int work_size;           // (256)
    face_seg_params seg;     // face_seg_defaults, then max_iter 400
} face_parts_opts;

// What face_parts_label measured and did (may be NULL).
typedef struct face_parts_info {
    double iod;               // inter-ocular distance, crop pixels
    double face_width;        // |landmark 16 - landmark 0|, crop pixels
    int64_t count[FACE_PART_COUNT];   // pixels per label
    int64_t hair_removed;     // p(hair) > threshold but outside the head
    int work_w, work_h;       // NC13 working size (0 for geometric)
    int64_t base_seeds, bg_seeds;     // NC13 scribble pixels (work frame)
    face_seg_stats seg;       // NC13 solver statistics (zero otherwise)
} face_parts_info;

void face_parts_defaults(face_parts_opts *o);

// Set mask[y * w + x] = value for every pixel whose centre lies inside
// the polygon xy (n vertices x, y; closed implicitly). Inside is the
// nonzero winding rule with half-open crossings: a centre on a left or
// bottom edge is inside, on a right or top edge outside, so polygons that
// tile the plane share no pixel. Parts of the polygon outside the image
// are clipped. Degenerate polygons (n < 3, zero area) set nothing.
// FACET_E_ARG for NULL pointers, w or h < 1, n < 0 or a coordinate that
// is not finite or beyond +-1e7.
facet_status face_poly_fill(uint8_t *mask, int w, int h, const float *xy,
                            int n, uint8_t value);

// Set mask = value for every pixel whose centre lies within `radius` of
// the open polyline xy (n >= 1 vertices; a single vertex draws a disc),
// i.e. a union of capsules (distance <= radius, computed in double).
// FACET_E_ARG as face_poly_fill, or for a radius not finite or < 0.
facet_status face_polyline_fill(uint8_t *mask, int w, int h,
                                const float *xy, int n, double radius,
                                uint8_t value);

// dst = 1 where some nonzero pixel of src lies within Euclidean distance
// `radius` (pixel centres, <= radius), else 0: dilation by the disc
// {dx^2 + dy^2 <= radius^2}, exact. Pixels outside the image count as
// zero. dst and src must not overlap. radius < 1 copies src as 0/1.
// Cost O(w h) whatever the radius (an exact integer distance transform).
// FACET_E_ARG for NULL pointers, w or h < 1, radius not finite or < 0.
// FACET_E_NOMEM when scratch cannot be allocated.
facet_status face_dilate(uint8_t *dst, const uint8_t *src, int w, int h,
                         double radius);

// The head region for hair (1 inside, 0 outside): see face_parts_opts.
// lm68: 68 x 2 floats. FACET_E_ARG for bad arguments or landmarks that
// are not finite or give no face (eye centres closer than 1e-3 pixel).
facet_status face_parts_head(uint8_t *head, int w, int h,
                             const float *lm68, const face_parts_opts *o);

// The hair mask (1/0): p(hair) > o->hair_threshold (hair_prob: w x h,
// any values; NaN is not hair) in the 8-connected regions that touch the
// head region. *removed (may be NULL) gets the number of pixels above
// the threshold that were dropped.
facet_status face_parts_hair(uint8_t *hair, const float *hair_prob, int w,
                             int h, const float *lm68,
                             const face_parts_opts *o, int64_t *removed);

// The part label map of a crop: labels (crop->w x crop->h) gets one
// face_part per pixel. hair_prob: crop->w x crop->h p(hair) in the crop
// frame, or NULL (no hair label). o: NULL for the defaults. info: NULL
// or filled. FACET_E_ARG for NULL labels / crop / lm68, a bad image
// description, non-finite landmarks or bad options; errors of the
// segmentation are passed on.
facet_status face_parts_label(uint8_t *labels, const face_image *crop,
                              const float *lm68, const float *hair_prob,
                              const face_parts_opts *o,
                              face_parts_info *info);

// The overlay colour of a part (RGB): background none (0, 0, 0, shown
// untinted), base violet, hair orange, eyes cyan, eyebrows yellow, nose
// green, mouth red. Returns 0 for a value out of range, else 1.
int face_part_color(face_part p, uint8_t rgb[3]);

// The overlay picture: rgb_out (crop->w x crop->h x 3, packed rows) gets
// the crop with each part tinted by its colour at opacity `alpha` (0..1;
// background untinted), part borders drawn solid in the colour of the
// part inside them, and, when lm68 is not NULL, a white dot with a dark
// rim at each landmark (radius max(1, w / 224) pixels). FACET_E_ARG for
// NULL pointers, a bad image description, a label out of range or alpha
// outside [0, 1].
facet_status face_parts_overlay(uint8_t *rgb_out, const face_image *crop,
                                const uint8_t *labels, const float *lm68,
                                double alpha);

#endif

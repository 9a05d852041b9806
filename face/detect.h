// detect.h - face detection: every face of a photo with a score, the
// choice of the portrait's subject among them, the box that dlib's
// 68-point landmark model expects for a detected face, and photos that are
// already tight, aligned face crops.
//
// In the pipeline: photo (image.h) -> faces and the subject (here) ->
// landmarks (landmarks.h) -> alignment (align.h) -> crops and part masks.
//
// Detector. face-api's SSD-MobileNet-v1 (nn/net_ssd.h) sees the photo
// padded to a square and resized to 512 x 512. It misses faces that fill
// much of that input: on the 910 LFW photos of the data set (250 x 250,
// the face about 100 px wide) it finds the central face with a score
// above 0.5 in 853. So face_detect runs it at two scales in one batch:
//   pass 0  the photo as face-api gives it to the network;
//   pass 1  the photo at half that scale, centred in the input with a
//           border of half its size on every side filled with grey
//           (face_detect_padded with pad 0.5, FACE_PAD_GREY).
// Pass 1 finds the subject in all 910 LFW photos; pass 0 keeps small
// faces in large photos, which halving would lose. The detections of both
// passes are pooled, best score first, and one whose box overlaps a kept
// box with IoU > 0.5 is dropped (the non-maximum suppression that each
// pass already applies inside itself).
//
// Boxes: face_det is in the photo frame of face.h (pixel centres at
// integers): (x, y) is the top-left corner of the box's edges and (w, h)
// its size, so the box covers [x, x + w] x [y, y + h], e.g. a box over
// the whole of a W x H photo is (-0.5, -0.5, W, H). Boxes are clipped to
// the network's input square, which may reach beyond the photo (pass 1,
// non-square photos): a face cut by the photo's edge can have a box that
// sticks out of it.
//
// Subject (face_pick_subject). A portrait's subject is large, central and
// clearly a face; a bystander is smaller, off to a side, or half hidden.
// Each detection gets the weight
//   score * sqrt(area / photo area) * exp(-d^2 / (2 sigma^2))
// where d is the distance from the box centre to the photo centre over
// the photo's shorter side and sigma = FACE_SUBJECT_SIGMA; the largest
// weight wins (ties: the earlier detection). The square root keeps area
// from overruling the other two terms: a face twice as wide counts
// double, not four times. The constants, their tuning on LFW and the
// measured figures are in detect.c.
//
// Landmark box (face_det_to_landmark_box). dlib's landmark model was
// trained on the boxes of dlib's own HOG face detector, which frame a face
// differently from the SSD: about as wide, a fifth less tall, lower and
// always square. The ERT cascade starts from a mean shape placed in the
// box, so a box framed differently starts it off and costs accuracy. The
// map from an SSD box to a dlib-style box was fitted by least squares on
// LFW photos where both detectors ran (tests/data/detect/dlib_lfw.txt),
// one set of constants per pass; detect.c gives the fit, the held-out
// landmark error and how to refit it (tools/eval/detect_eval.c --fit).
//
// Aligned crops. A tight aligned crop (../shared/data/aligned112: 112 x
// 112, the face filling the frame) is a large face, which pass 1 is for.
// face_detect_padded runs one pass with any border and fill, for crops
// where even more context is needed, and maps the boxes back to the
// photo. A caller that knows its input is aligned can skip detection:
// face_aligned_box gives the landmark box of a tight crop, calibrated on
// aligned112 (see detect.c).
//
// ref: W. Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016
// ref: N. Dalal, B. Triggs, "Histograms of Oriented Gradients for Human
//      Detection", CVPR 2005 (dlib's frontal face detector)
// ref: V. Kazemi, J. Sullivan, "One Millisecond Face Alignment with an
//      Ensemble of Regression Trees", CVPR 2014
// ref: method-spec section 7.3
//
// Limitations:
// - A detector is not thread-safe (it holds the network's activations):
//   one call at a time per face_detector; open one per thread.
// - Two scales only: faces smaller than about 30 px in the 512 x 512
//   input (so below about 6% of a large photo's longer side) are missed.
// - The landmark-box calibration was fitted on LFW (frontal to
//   half-profile press photos); faces in other poses may want other
//   constants. The padded pass's constants are used for any pad and fill
//   of face_detect_padded, though they were fitted for pad 0.5 and grey.
// - The subject rule knows nothing of identity: when a bystander is
//   larger and more central than the named person, it picks the
//   bystander.
#ifndef FACET_FACE_DETECT_H
#define FACET_FACE_DETECT_H

#include "face.h"
#include "landmarks.h"

// face-api's default score threshold.
#define FACE_DETECT_MIN_SCORE 0.5
// Most detections one pass keeps before pooling.
#define FACE_DETECT_MAX_PASS 100
// The subject rule's sigma (distance over the shorter side).
#define FACE_SUBJECT_SIGMA 0.25

// Passes of the detector (face_det.pass).
#define FACE_DET_PLAIN 0    // the photo as is
#define FACE_DET_PADDED 1   // the photo shrunk within a border
#define FACE_DET_PASSES 2

typedef struct face_det {
    double x, y, w, h;   // the box: top-left corner and size, photo frame
    double score;        // p(face), (min_score, 1]
    int pass;            // FACE_DET_PLAIN or FACE_DET_PADDED
} face_det;

// How face_detect_padded fills the border around the photo.
typedef enum face_pad_mode {
    FACE_PAD_GREY = 0,   // constant 128 (the network's input zero)
    FACE_PAD_REPLICATE,  // the nearest edge pixel
    FACE_PAD_MIRROR      // the photo reflected about its edges
} face_pad_mode;

typedef struct face_detector face_detector;

// Open the detector's weights (weights/ssd_mobilenetv1.fct, written by
// `make weights`) and build it. FACET_E_IO and friends from wt_open, whose
// detail names the file; the detector owns the open file.
facet_status face_detector_open(face_detector **out, const char *path);
void face_detector_free(face_detector *d);   // NULL is harmless

// Every face in `im` with score > min_score (0 <= min_score < 1;
// FACE_DETECT_MIN_SCORE is face-api's choice), both passes pooled as
// described above, best score first (ties: pass 0 first, then the
// network's order), at most `max` into dets; *n is how many. An image
// without a face gives *n = 0 and FACET_OK. FACET_E_ARG for a NULL
// argument, max < 1, a min_score outside [0, 1) or an empty image.
facet_status face_detect(face_detector *d, const face_image *im,
                         face_det *dets, int max, int *n, double min_score);

// face_detect restricted to some passes: bit p of `passes` runs pass p
// (1: pass 0 alone, 2: pass 1 alone, 3: both, which is face_detect).
// FACET_E_ARG also for a mask outside 1..3.
facet_status face_detect_passes(face_detector *d, const face_image *im,
                                unsigned passes, face_det *dets, int max,
                                int *n, double min_score);

// One pass of the detector on `im` shrunk to 1 / (1 + 2 pad) of the
// network's input square and centred in it, the rest filled by `mode`
// (pad 0.5: the photo's longer side is half the input's, and a border of
// half the photo's size surrounds it). The photo is sampled at the input
// pixels' centres, bilinearly, averaging ceil(f) x ceil(f) samples per
// input pixel where a pixel spans f > 1 photo pixels. Boxes come back in
// the photo frame, exactly (a box is the network's box scaled and shifted
// by the inverse of the map above, then clipped to the input square), and
// are marked FACE_DET_PADDED. Same contract as face_detect otherwise;
// FACET_E_ARG also for pad outside [0, 4] or an unknown mode.
facet_status face_detect_padded(face_detector *d, const face_image *im,
                                double pad, face_pad_mode mode,
                                face_det *dets, int max, int *n,
                                double min_score);

// The subject among n detections of a img_w x img_h photo by the rule
// above: its index, or -1 when n < 1 (or a size is < 1).
int face_pick_subject(const face_det *dets, int n, int img_w, int img_h);

// The rule's weight of one detection (larger is more likely the
// subject); 0 for an empty box.
double face_subject_weight(const face_det *det, int img_w, int img_h);

// A map from a detector box to a landmark box. With the box's centre
// (cx, cy) = (x + w / 2, y + h / 2), the landmark box's edges have
//   centre  (cx + dx w, cy + dy h)
//   size    (sxw w + sxh h) wide, (syw w + syh h) tall
// and its dlib corners are the edges moved half a pixel in (dlib's
// rectangle is inclusive: a box of edges [a, b] has left = a + 0.5,
// right = b - 0.5). The identity (0, 0, 1, 0, 0, 1) gives the SSD box as
// it is.
typedef struct face_box_calib {
    double dx, dy;
    double sxw, sxh, syw, syh;
} face_box_calib;

// The built-in calibration of pass `pass` (see detect.c), or of the
// padded pass for an unknown value.
face_box_calib face_box_calib_of(int pass);

// The landmark box for `det` under `c` (NULL: the built-in calibration of
// det->pass).
void face_det_box(const face_det *det, const face_box_calib *c,
                  face_landmarks_box *out);

// The calibrated landmark box for `det`: face_det_box(det, NULL, out).
void face_det_to_landmark_box(const face_det *det, face_landmarks_box *out);

// The box dlib's detector would have framed around a face whose landmarks
// are xy (n points, x, y interleaved; the 68 of landmarks.h): with the
// points' centroid (mx, my) and RMS distance r from it, a square box
// centred at (mx + dx r, my + dy r), side r, edges moved half a pixel in
// as in face_det_box. Used for a second landmark pass: landmarks from the
// detector's box, this box from them, landmarks again.
typedef struct face_shape_calib {
    double dx, dy, side;
} face_shape_calib;

// The points' centroid and RMS distance from it (n >= 1).
void face_landmarks_spread(const float *xy, int n, double *mx, double *my,
                           double *r);

// The box for xy under `c` (NULL: the built-in constants, see detect.c).
void face_box_from_landmarks(const float *xy, int n,
                             const face_shape_calib *c,
                             face_landmarks_box *out);

// The landmark box of a tight aligned crop of w x h pixels (w, h >= 1),
// as fractions of the frame calibrated on aligned112 (see detect.c).
void face_aligned_box(int w, int h, face_landmarks_box *out);

#endif

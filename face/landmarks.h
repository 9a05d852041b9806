// landmarks.h - 68-point facial landmarks: dlib's ensemble-of-regression-
// trees shape predictor (Kazemi and Sullivan 2014), run exactly as dlib's
// shape_predictor::operator() runs it, from a converted model.
//
// In the pipeline: photo -> face detection (a box) -> landmarks (here) ->
// alignment to the canonical template -> crops and part masks.
//
// The model comes from weights/dlib_landmarks68.fct, which
// tools/convert/convert_dlib.c writes from dlib's
// shape_predictor_68_face_landmarks.dat. With T cascades of K trees of S
// splits (S + 1 leaves, a complete tree in heap order), P feature pixels
// per cascade and L parts, its tensors are (all float32):
//   mean_shape    L x 2                 initial shape in the unit box
//   split_idx     T x K x S x 2         feature pixel indices (idx1, idx2)
//   split_thresh  T x K x S             go left when v[idx1] - v[idx2] >
//                                       thresh
//   leaf_values   T x K x (S + 1) x L x 2   shape increments
//   anchor_idx    T x P                 the part each feature pixel follows
//   deltas        T x P x 2             its offset from that part, in the
//                                       unit box of mean_shape
// and the metadata num_parts, cascades, trees_per_cascade, tree_depth and
// feature_pixels repeat these sizes. The released model has T = 15,
// K = 500, depth 4 (S = 15), P = 500, L = 68 (iBUG-68 order).
//
// Box convention: dlib's rectangle. The unit box of the model maps (0, 0)
// to (left, top) and (1, 1) to (right, bottom), where right and bottom are
// the last column and row inside the box (dlib's rectangles are
// inclusive). Integer boxes from dlib's detector give dlib's results;
// other detectors' boxes need calibrating to this convention, which is the
// caller's business.
//
// ref: dlib/image_processing/shape_predictor.h (dlib 19.24): operator(),
//      extract_feature_pixel_values, find_tform_between_shapes,
//      unnormalizing_tform
// ref: V. Kazemi, J. Sullivan, "One Millisecond Face Alignment with an
//      Ensemble of Regression Trees", CVPR 2014
// ref: method-spec section 7.3
//
// Limitations:
// - One face per call; a caller with many faces runs calls in parallel
//   (the model is read-only, calls are thread-safe).
// - Trees must all have the same depth (the converter guarantees it).
// - Parity with dlib is exact for integer boxes on 8-bit images; boxes
//   with fractional corners are accepted, and follow the same arithmetic,
//   but dlib itself cannot take them.
#ifndef FACET_FACE_LANDMARKS_H
#define FACET_FACE_LANDMARKS_H

#include <stdint.h>

#include "../linalg/base.h"
#include "../weights/weights.h"

// Caps the loader enforces.
#define FACE_LM_MAX_PARTS 256
#define FACE_LM_MAX_FEATURES 4096
#define FACE_LM_MAX_DEPTH 15
// Largest |coordinate| of a box corner accepted.
#define FACE_LM_MAX_COORD 1e7

typedef struct face_landmarks face_landmarks;

// A face box, dlib's convention (see above): inclusive corners in pixels.
typedef struct face_landmarks_box {
    double left, top, right, bottom;
} face_landmarks_box;

// Build the predictor from an open weight file, validating every tensor's
// shape, the metadata and every index. The predictor keeps views into
// `w`, which must stay open until face_landmarks_free.
facet_status face_landmarks_create(face_landmarks **out, const wt_file *w);

// Open `path` (a .fct written by convert_dlib) and build the predictor,
// which then owns the file.
facet_status face_landmarks_open(face_landmarks **out, const char *path);

void face_landmarks_free(face_landmarks *m);   // NULL is harmless

// Number of parts L (68 for the released model).
int face_landmarks_parts(const face_landmarks *m);

// Predict the landmarks of the face in `box`.
//   xy:   L x 2 floats, written: x0, y0, x1, y1, ... in image pixels (the
//         position before dlib rounds it, computed in double, then stored
//         as float).
//   ixy:  L x 2 ints, or NULL: dlib's public integer points, each the
//         double position rounded as dlib rounds it (floor(v + 0.5));
//         saturated to the int32 range, NaN gives INT32_MIN.
//   img:  height rows of width pixels, `stride` bytes from row to row;
//         channels 1 (grey), 3 (RGB) or 4 (RGBA, alpha ignored). Colour
//         pixels are read as dlib reads them: (r + g + b) / 3, truncated.
// FACET_E_ARG for a bad image description, a non-finite box, an empty box
// (right <= left or bottom <= top), a corner beyond FACE_LM_MAX_COORD, or
// a box that does not overlap the image. Partly outside is fine: feature
// pixels outside the image read as 0, as in dlib.
facet_status face_landmarks_predict(float *xy, int32_t *ixy,
                                    const face_landmarks *m,
                                    const uint8_t *img, int width,
                                    int height, int stride, int channels,
                                    const face_landmarks_box *box);

#endif

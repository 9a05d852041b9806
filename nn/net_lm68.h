// net_lm68.h - face-api's 68-point landmark CNN (face_landmark_68_model): a
// 112x112 face crop in, 68 (x, y) points out. face/ runs it on each box of
// the detector (net_ssd.h); the points place the crop of the descriptor
// network (net_frec.h) and feed alignment.
//
// Weights: weights/face_landmark_68.fct, converted by tools/convert/
// convert_tfjs.c from face-api's face_landmark_68_model.
//
// Network (face-api 1.7.15 src/faceFeatureExtractor/, src/faceLandmarkNet/):
//   input: the detection box (clipped, floored) cut out of the image,
//   zero-padded to a square (centred), resized bilinearly to 112x112
//   (nn_lm68_input); then (x - [122.782, 117.001, 104.298]) / 255;
//   four dense blocks (32, 64, 128, 256 channels; 56, 28, 14, 7 pixels),
//   each: out1 = ReLU(conv0(x)), a 3x3 stride-2 convolution (full in
//   dense0, depthwise-separable after); out2 = sep(out1), out3 =
//   sep(ReLU(out1 + out2)), out4 = sep(ReLU(out1 + out2 + out3)), block =
//   ReLU(out1 + out2 + out3 + out4), sep a 3x3 depthwise + 1x1 pointwise
//   convolution with bias, TF "SAME" padding;
//   7x7 average pool, fully connected 256 -> 136 (x0, y0, x1, y1, ...
//   relative to the padded 112 square).
//
// Feature maps (C x H x W for batch 1), all readable by name after a
// forward call:
//   input                3 x 112 x 112   normalised input
//   denseD/out1 .. out4  per block D = 0..3 (see above)
//   denseD               block outputs: 32x56x56, 64x28x28, 128x14x14,
//                        256x7x7
//   pool               256 x 1 x 1
//   output             n x 136
//
// ref: @vladmandic/face-api 1.7.15 src/faceFeatureExtractor/denseBlock.ts,
//      FaceFeatureExtractor.ts, src/faceLandmarkNet/FaceLandmark68NetBase.ts
// ref: G. Huang et al., "Densely Connected Convolutional Networks", CVPR
//      2017 (the dense connectivity of the blocks)
//
// Limitations:
// - Fixed 112x112 input.
#ifndef FACET_NET_LM68_H
#define FACET_NET_LM68_H

#include "net_faceapi.h"

#define NN_LM68_SIZE 112
#define NN_LM68_POINTS 68

typedef struct nn_lm68 nn_lm68;

// Build from an open weight file (which must stay open while the network
// is used) for batches of up to `batch` crops.
facet_status nn_lm68_create(nn_lm68 **out, const wt_file *w, int batch);
void nn_lm68_free(nn_lm68 *m);   // NULL is harmless

// One network input (3 x 112 x 112 floats, 0..255) from the integer crop
// (cx, cy, cw, ch) of an interleaved 8-bit RGB image, as face-api builds
// it (nn_faceapi_clip_box gives the crop of a detection box).
facet_status nn_lm68_input(float *dst, const uint8_t *rgb, int w, int h,
                           size_t stride, int cx, int cy, int cw, int ch);

// in: n x 3 x 112 x 112 RGB in 0..255 (n <= batch); out: n x 136 raw
// outputs (may be NULL; "output" holds them too).
facet_status nn_lm68_forward(nn_lm68 *m, float *out, const nn_tensor *in);

// A feature map after the last forward call, or NULL with
// FACET_E_NOT_FOUND detail.
const nn_tensor *nn_lm68_feature(const nn_lm68 *m, const char *name);

// face-api's post-processing of one raw output (136 floats): undo the
// centred padding of a cw x ch crop (float32, as TF.js), scale to the crop
// and shift by (bx, by), face-api's unfloored detection box origin, in
// double. xy: 68 points, x0, y0, x1, y1, ... in image pixels.
void nn_lm68_points(double *xy, const float *raw, int cw, int ch, double bx,
                    double by);

// Bytes of activation memory and scratch the network holds.
size_t nn_lm68_arena_bytes(const nn_lm68 *m);

#endif

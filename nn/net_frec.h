// net_frec.h - face-api's face descriptor network (face_recognition_model):
// dlib's 29-layer ResNet "dlib_face_recognition_resnet_model_v1" as
// face-api converted it to TF.js. A 150x150 face crop in, a 128-D
// descriptor out; faces of one person lie close in Euclidean distance
// (face-api and dlib use 0.6 as the same-person threshold).
//
// Weights: weights/face_recognition.fct, converted by tools/convert/
// convert_tfjs.c from face-api's face_recognition_model.
//
// Network (face-api 1.7.15 src/faceRecognitionNet/):
//   input: a face crop (face-api takes the square that
//   FaceLandmarks.align(useDlibAlignment) places from the eye and mouth
//   landmarks), clipped and floored, zero-padded to a square (centred),
//   resized bilinearly to 150x150 (nn_frec_input); then
//   (x - [122.782, 117.001, 104.298]) / 255 (face-api's constant; dlib
//   itself divides by 256);
//   each conv unit: conv + bias, then dlib's affine layer (* scale +
//   shift, a folded batch norm), ReLU unless noted;
//   conv32_down   7x7 stride 2 VALID, 3 -> 32          72x72
//   maxpool       3x3 stride 2 VALID                    35x35
//   conv32_1..3   residual: unit 3x3 + ReLU, unit 3x3, add input, ReLU
//   conv64_down   residual-down: unit 3x3 stride 2 VALID + ReLU, unit 3x3;
//                 shortcut 2x2 average pool with the channels zero-padded
//                 to the output's; add, ReLU             17x17x64
//   conv64_1..3, conv128_down (8x8x128), conv128_1..2, conv256_down
//   (4x4x256: the 3x3 conv branch gets a zero bottom row and right
//   column), conv256_1..2, conv256_down_out (2x2x256, same padding)
//   global average (256), then the 256 x 128 matrix, no bias and no L2
//   normalisation (norms come out near 1.3 - 1.4).
//
// Feature maps (C x H x W for batch 1), all readable by name after a
// forward call: input, conv32_down, maxpool, the residual stage names
// above (block outputs), NAME/conv1 and NAME/conv2 inside each stage,
// NAME/pool for the shortcut of the "down" stages, global_avg (256),
// descriptor (n x 128).
//
// ref: K. He et al., "Deep Residual Learning for Image Recognition", CVPR
//      2016
// ref: D. King, dlib dnn_face_recognition_ex.cpp and
//      dlib_face_recognition_resnet_model_v1 (the architecture)
// ref: @vladmandic/face-api 1.7.15 src/faceRecognitionNet/*.ts
//
// Limitations:
// - Fixed 150x150 input; no test-time jitter (dlib's optional averaging
//   over jittered crops).
#ifndef FACET_NET_FREC_H
#define FACET_NET_FREC_H

#include "net_faceapi.h"

#define NN_FREC_SIZE 150
#define NN_FREC_DIM 128

typedef struct nn_frec nn_frec;

// Build from an open weight file (which must stay open while the network
// is used) for batches of up to `batch` crops.
facet_status nn_frec_create(nn_frec **out, const wt_file *w, int batch);
void nn_frec_free(nn_frec *f);   // NULL is harmless

// One network input (3 x 150 x 150 floats, 0..255) from the integer crop
// (cx, cy, cw, ch) of an interleaved 8-bit RGB image, as face-api builds
// it.
facet_status nn_frec_input(float *dst, const uint8_t *rgb, int w, int h,
                           size_t stride, int cx, int cy, int cw, int ch);

// in: n x 3 x 150 x 150 RGB in 0..255 (n <= batch); desc: n x 128 (may be
// NULL; "descriptor" holds them too).
facet_status nn_frec_forward(nn_frec *f, float *desc, const nn_tensor *in);

// A feature map after the last forward call, or NULL with
// FACET_E_NOT_FOUND detail.
const nn_tensor *nn_frec_feature(const nn_frec *f, const char *name);

// Bytes of activation memory and scratch the network holds.
size_t nn_frec_arena_bytes(const nn_frec *f);

// Per-layer profile (net_faceapi.h): on 1 makes each forward call record
// the wall time of every convolution, pooling, residual add and the
// projection; nn_frec_profile gives the last call's record.
void nn_frec_set_profile(nn_frec *f, int on);
const nn_faceapi_profile *nn_frec_profile(const nn_frec *f);

#endif

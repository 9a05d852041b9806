// net_ssd.h - the SSD-MobileNet-v1 face detector of face-api: an image in,
// scored face boxes out. face/ runs it first; its boxes feed the landmark
// network (net_lm68.h), whose points place the crop of the descriptor
// network (net_frec.h).
//
// Weights: weights/ssd_mobilenetv1.fct, converted by tools/convert/
// convert_tfjs.c from face-api's ssd_mobilenetv1_model (TF.js manifest
// names and layouts; uint8-quantized weights decoded as TF.js does).
//
// Pipeline, as face-api 1.7.15 runs it (src/ssdMobilenetv1/):
//   1. the image is zero-padded to a square at the bottom/right and
//      resized bilinearly to 512x512 (nn_ssd_input);
//   2. x / 127.5 - 1, then MobileNet-v1: a 3x3 stride-2 convolution and 13
//      depthwise (batch-norm folded) + pointwise pairs, ReLU6 after each;
//      then eight more convolutions (1x1, 3x3 stride 2 alternating);
//   3. six box predictors (1x1 convolutions) on conv11 (32x32, 3 anchors
//      per cell), conv13 (16x16), pred1 (8x8), pred3 (4x4), pred5 (2x2)
//      and pred7 (1x1), 6 anchors per cell after the first: 5118 anchors
//      with 4 box offsets and 3 class logits each;
//   4. boxes decoded against the anchor table (centre offsets / 10, sizes
//      exp(/ 5)), score = sigmoid(logit of class 1);
//   5. non-maximum suppression (score > threshold, IoU > 0.5 suppresses,
//      best first, at most max results) and the boxes mapped back to the
//      image (nn_ssd_select).
//
// Feature maps (C x H x W for batch 1), readable by name with
// nn_ssd_feature after a forward call when passed in `keep` at create
// (the four outputs are always readable):
//   input                3 x 512 x 512   normalised input
//   conv0               32 x 256 x 256
//   conv1_dw, conv1     32 / 64 x 256 x 256   (depthwise, pointwise)
//   conv2_dw, conv2     64 / 128 x 128 x 128  (stride 2 at the depthwise)
//   conv3_dw, conv3    128 x 128 x 128
//   conv4_dw, conv4    128 / 256 x 64 x 64
//   conv5_dw, conv5    256 x 64 x 64
//   conv6_dw, conv6    256 / 512 x 32 x 32
//   conv7_dw .. conv11 512 x 32 x 32
//   conv12_dw, conv12  512 / 1024 x 16 x 16
//   conv13_dw, conv13 1024 x 16 x 16
//   pred0 .. pred7     256x16x16, 512x8x8, 128x8x8, 256x4x4, 128x4x4,
//                      256x2x2, 64x2x2, 128x1x1
//   box_enc            n x 5118 x 4   raw box offsets (ty, tx, th, tw)
//   class_pred         n x 5118 x 3   raw class logits
//   boxes              n x 5118 x 4   decoded (ymin, xmin, ymax, xmax),
//                                     relative to the padded square
//   scores             n x 5118       p(face)
//
// ref: W. Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016
// ref: A. Howard et al., "MobileNets", arXiv 1704.04861
// ref: @vladmandic/face-api 1.7.15 src/ssdMobilenetv1/*.ts
//
// Limitations:
// - Fixed 512x512 network input, as face-api uses it.
// - The batch-norm of the depthwise layers is folded into their weights
//   (in double), so results match TF.js to rounding, not bit for bit.
#ifndef FACET_NET_SSD_H
#define FACET_NET_SSD_H

#include "net_faceapi.h"

#define NN_SSD_SIZE 512
#define NN_SSD_ANCHORS 5118

typedef struct nn_ssd nn_ssd;

// One detection: face-api's FaceDetection (box in the pixels of the image
// the input was built from, unrounded, and the score).
typedef struct nn_ssd_det {
    double x, y, w, h;
    float score;
    int anchor;     // the anchor (0 .. NN_SSD_ANCHORS - 1) it came from
} nn_ssd_det;

// Build the detector from an open weight file (which must stay open while
// the network is used) for batches of up to `batch` images; `keep` lists
// `nkeep` feature names to keep readable (NULL, 0: the outputs only).
facet_status nn_ssd_create(nn_ssd **out, const wt_file *w, int batch,
                           const char *const *keep, int nkeep);
void nn_ssd_free(nn_ssd *s);   // NULL is harmless

// One network input (3 x 512 x 512 floats, 0..255) from an interleaved
// 8-bit RGB image (w x h, `stride` bytes per row), padded and resized as
// face-api does.
facet_status nn_ssd_input(float *dst, const uint8_t *rgb, int w, int h,
                          size_t stride);

// in: n x 3 x 512 x 512 (n <= batch), RGB in 0..255, e.g. from
// nn_ssd_input. Fills box_enc, class_pred, boxes and scores.
facet_status nn_ssd_forward(nn_ssd *s, const nn_tensor *in);

// A feature or output after the last forward call (dim[0] is that call's
// n), or NULL with FACET_E_NOT_FOUND detail when unknown or not kept.
const nn_tensor *nn_ssd_feature(const nn_ssd *s, const char *name);

// face-api's post-processing for image b of the last forward call, whose
// input was built from a w x h image: at most max_dets detections with
// score > min_score after non-maximum suppression, best first, into dets.
// Returns how many (0 when b, w or h is out of range).
int nn_ssd_select(nn_ssd *s, nn_ssd_det *dets, int max_dets, int b, int w,
                  int h, double min_score);

// The same post-processing on any decoded boxes (count x 4, ymin, xmin,
// ymax, xmax relative to the padded square) and scores (count), e.g.
// TF.js's: candidates with score > min_score, best first (ties in index
// order); a candidate is dropped when a kept box overlaps it with IoU >
// 0.5; at most max_dets kept. Boxes are clipped to [0, 1] and mapped to the
// w x h image. `scratch` holds nn_ssd_nms_scratch_size(count) bytes.
size_t nn_ssd_nms_scratch_size(int count);
int nn_ssd_nms(nn_ssd_det *dets, int max_dets, const float *boxes,
               const float *scores, int count, int w, int h,
               double min_score, void *scratch);

// The whole detector on one image: input, forward, select. face-api's
// defaults are min_score 0.5 and max_dets 100.
facet_status nn_ssd_detect(nn_ssd *s, nn_ssd_det *dets, int max_dets,
                           int *count, const uint8_t *rgb, int w, int h,
                           size_t stride, double min_score);

// Bytes of activation memory and scratch the network holds.
size_t nn_ssd_arena_bytes(const nn_ssd *s);

// Per-layer profile (net_faceapi.h): on 1 makes each forward call record
// the wall time of every convolution, box predictor and the decoding;
// nn_ssd_profile gives the last call's record.
void nn_ssd_set_profile(nn_ssd *s, int on);
const nn_faceapi_profile *nn_ssd_profile(const nn_ssd *s);

#endif

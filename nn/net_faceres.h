// net_faceres.h - faceres, a MobileNet-v1 face identity network (trained on
// VGGFace2 by A. Savchenko; the TF.js graph model of @vladmandic/
// human-models 3.0.4): a 224x224 face crop in, a 1024-D identity
// descriptor out, and the 14x14x512 backbone map that facet's method
// works on (the closest available analog of VGG-Face's conv5_3).
//
// The network: a 3x3 stride-2 convolution, then 13 depthwise-separable
// blocks (3x3 depthwise convolution, 1x1 convolution, each with its
// batch-norm folded in and ReLU6), global average pooling (the descriptor),
// and the heads the model ships with: a 256-unit dense layer with ReLU,
// then gender (1 unit, sigmoid) and age (100 classes, softmax). Weights come
// from weights/faceres.fct, written by tools/convert/convert_tfgraph.c;
// create checks the file's layer list (metadata "tfgraph.graph") against
// the architecture below and every tensor's shape.
//
// Input: n x 3 x 224 x 224, NCHW, channels B, G, R, each the 0..255 pixel
// minus the per-channel mean (103.939, 116.779, 123.68); no other scaling
// (Keras's "caffe"-mode ImageNet preprocessing; the graph has no
// preprocessing of its own).
// nn_faceres_input_rgb8 makes it from an 8-bit RGB image.
//
// Values (batch-1 shapes C x H x W; heads are 2-D, n x C). Each has a short
// name and its TF node name; either finds it:
//   conv1_relu          32 x 112 x 112   conv1_relu/clip_by_value
//   conv_dw_1_relu      32 x 112 x 112   conv_dw_1_relu/clip_by_value
//   conv_pw_1_relu      64 x 112 x 112   conv_pw_1_relu/clip_by_value
//   conv_dw_2_relu ..   64 x 56 x 56     (stride 2) .. conv_pw_3_relu
//   conv_dw_4_relu ..  128 x 28 x 28     .. conv_pw_5_relu 256 x 28 x 28
//   conv_dw_6_relu     256 x 14 x 14     (stride 2)
//   conv_pw_6_relu .. conv_pw_11_relu   512 x 14 x 14
//   conv_dw_12_relu    512 x 7 x 7       (stride 2)
//   conv_pw_12_relu, conv_dw_13_relu, conv_pw_13_relu   1024 x 7 x 7
//   global_pooling     1024              global_pooling/Mean (descriptor)
//   feats              256               feats/Relu
//   gender_pred        1                 gender_pred/Sigmoid
//   age_pred           100               age_pred/Softmax
// The four heads are always readable after a forward call; a map is
// readable only if it was named in nn_faceres_create's `keep` list.
//
// ref: A. V. Savchenko, "Efficient facial representations for age, gender
//      and identity recognition in organizing photo albums using
//      multi-output ConvNet", PeerJ Computer Science 5:e197 (2019)
// ref: A. G. Howard et al., "MobileNets", arXiv 1704.04861
// ref: method-spec section 5.1 (the 512x14x14 VGG-Face map this stands in
//      for) and 7.4 (the 224x224 canonical crop)
//
// Limitations:
// - Fixed architecture: the file must hold exactly this MobileNet-v1
//   (alpha 1, 224x224) with these layer names.
// - Input is exactly 224x224; cropping and resizing are the caller's.
// - The gender and age heads are run but not validated beyond TF.js parity;
//   facet's method does not use them.
#ifndef FACET_NET_FACERES_H
#define FACET_NET_FACERES_H

#include "nn.h"
#include "../weights/weights.h"

#define NN_FACERES_SIZE 224          // input height and width
#define NN_FACERES_DESCRIPTOR 1024   // global_pooling length

typedef struct nn_faceres nn_faceres;

// Build the network from an open weight file (which must stay open while
// the network is used: weights are views into it) for batches of up to
// `batch` images (1..64). `keep` lists `nkeep` names of maps to keep
// readable after forward (NULL, 0: only the heads). Fails with a detail
// naming the file and the fault when the file does not hold faceres.
facet_status nn_faceres_create(nn_faceres **out, const wt_file *w, int batch,
                               const char *const *keep, int nkeep);
void nn_faceres_free(nn_faceres *f);   // NULL is harmless

// in: n x 3 x 224 x 224 (1 <= n <= batch). Results are then readable by
// name with nn_faceres_feature.
facet_status nn_faceres_forward(nn_faceres *f, const nn_tensor *in);

// A value after the last forward call (its dim[0] is that call's n), or
// NULL with FACET_E_NOT_FOUND detail when the name is unknown, was not
// kept, or no forward call ran yet.
const nn_tensor *nn_faceres_feature(const nn_faceres *f, const char *name);

// Every value in layer order: short name, TF node name, batch-1 shape
// (heads have h = w = 1).
int nn_faceres_value_count(void);
const char *nn_faceres_value_name(int i);
const char *nn_faceres_value_node(int i);
void nn_faceres_value_shape(int i, int *c, int *h, int *w);

// Bytes of activation memory and scratch the network holds.
size_t nn_faceres_arena_bytes(const nn_faceres *f);

// Fill one image of the input (3 x 224 x 224 floats: B, G, R planes) from
// an interleaved 8-bit RGB image of exactly 224x224 pixels whose rows are
// `stride` bytes apart: value = (float)pixel - (float)mean of its channel.
void nn_faceres_input_rgb8(float *dst, const uint8_t *rgb, size_t stride);

#endif

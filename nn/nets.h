// nets.h - fixed-architecture networks assembled from the nn layers: today
// the convolutional part of VGG-16, the test and benchmark network for the
// convolution paths (and a feature extractor in its own right).
//
// VGG-16 up to conv5_3: 13 convolutions 3x3 / pad 1 / stride 1, each with
// bias and ReLU, and 2x2 / stride 2 max-pools after conv1_2, conv2_2,
// conv3_3 and conv4_3 (floor mode, as torchvision's vgg16().features):
//
//   conv1_1   3 ->  64   H   x W        conv4_1 256 -> 512  H/8  x W/8
//   conv1_2  64 ->  64   H   x W        conv4_2 512 -> 512  H/8  x W/8
//   pool1                H/2 x W/2      conv4_3 512 -> 512  H/8  x W/8
//   conv2_1  64 -> 128   H/2 x W/2      pool4               H/16 x W/16
//   conv2_2 128 -> 128   H/2 x W/2      conv5_1 512 -> 512  H/16 x W/16
//   pool2                H/4 x W/4      conv5_2 512 -> 512  H/16 x W/16
//   conv3_1 128 -> 256   H/4 x W/4      conv5_3 512 -> 512  H/16 x W/16
//   conv3_2 256 -> 256   H/4 x W/4
//   conv3_3 256 -> 256   H/4 x W/4      (each pool halves with floor)
//   pool3                H/8 x W/8
//
// For a 224 x 224 input conv5_3 is 512 x 14 x 14. Every feature map above
// is kept and can be read by name after a forward call.
//
// Limitations:
// - No classifier (pool5 and the fully connected layers) and no input
//   normalisation: the caller scales and centres the image.
// - The arena keeps all 17 feature maps: about 60 MB per 224 x 224 image.
#ifndef FACET_NN_NETS_H
#define FACET_NN_NETS_H

#include "nn.h"

#define NN_VGG16_CONVS 13

typedef struct nn_vgg16 nn_vgg16;

// Prepare the network for inputs of up to `batch` images of h x w (both
// >= 16). `params` holds 2 * NN_VGG16_CONVS pointers in layer order
// conv1_1 .. conv5_3: params[2 i] the weight (cout x cin x 3 x 3, OIHW),
// params[2 i + 1] the bias (cout). The weights must outlive the network.
// The activation arena and the layers' scratch are sized here, once, for
// `batch` and for facet_threads() threads.
facet_status nn_vgg16_create(nn_vgg16 **out, const float *const *params,
                             int batch, int h, int w);
void nn_vgg16_free(nn_vgg16 *v);

// Run conv1_1 .. conv5_3 on `in` (n x 3 x h x w, n <= batch). FACET_E_ARG
// if the input shape does not fit the network, or if more threads are set
// than at create time (the scratch would be too small).
facet_status nn_vgg16_forward(nn_vgg16 *v, const nn_tensor *in);

// The feature map of a layer ("conv1_1" .. "conv5_3", "pool1" .. "pool4")
// from the last forward call (n x c x h x w), or NULL for an unknown name.
// Valid until the next forward call or nn_vgg16_free.
const nn_tensor *nn_vgg16_feature(const nn_vgg16 *v, const char *name);

// Wall-clock seconds the stage `name` took in the last forward call (for
// per-layer profiles), or -1 for an unknown name.
double nn_vgg16_stage_seconds(const nn_vgg16 *v, const char *name);

// Name of stage i in forward order (0..16: conv1_1, conv1_2, pool1, ...,
// conv5_3), or NULL past the last.
const char *nn_vgg16_stage_name(int i);

// Bytes of the arena (feature maps plus scratch), for memory reports.
size_t nn_vgg16_arena_bytes(const nn_vgg16 *v);

#endif

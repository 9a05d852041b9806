// internal.h - interfaces shared between nn/ files (not part of nn.h).
#ifndef FACET_NN_INTERNAL_H
#define FACET_NN_INTERNAL_H

#include "nn.h"

// Winograd F(4x4, 3x3) convolution (nn/winograd.c), for 3x3 stride-1
// dilation-1 groups-1 layers. Small layers transform their weights once
// into U (nn__wino_weight_size floats, a layout private to winograd.c);
// large ones (nn__wino_precompute 0) keep only the float weights and
// transform each chunk of filters during the forward call, in scratch.
// Both give the same bits.
int nn__wino_precompute(int cin, int cout);
size_t nn__wino_weight_size(int cin, int cout);      // floats
void nn__wino_transform_weights(float *dst, const float *weight, int cin,
                                int cout);
// precomputed: whether the forward call gets U (it sizes W otherwise).
size_t nn__wino_scratch_size(int n, int cin, int cout, int h, int w,
                             int pad_top, int pad_left, int oh, int ow,
                             int precomputed);
// out: n x cout x oh x ow; in: n x cin x h x w; padding as in nn_conv_desc
// (pad_bottom/pad_right implied by oh, ow). wt: U, or NULL to transform
// from weight (cout x cin x 3 x 3) on the fly; weight may be NULL when wt
// is given.
void nn__wino_forward(float *out, const float *in, const float *wt,
                      const float *weight, const float *bias, la_act act,
                      const float *slope, int n, int cin, int cout, int h,
                      int w, int pad_top, int pad_left, int oh, int ow,
                      void *scratch);

#endif

// net_hair.h - the MediaPipe hair segmentation network: a 512x512 RGB
// photo plus a previous-mask channel in, per-pixel hair probability out.
// face/ uses the probability as the hair part mask and one of the
// intermediate feature maps as the "hair-sensitive" feature.
//
// The network is an ENet-style encoder-decoder (~260 ops: 2x2 stride-2
// convolutions down, bottleneck blocks of 1x1 / 3x3 depthwise or dilated /
// 1x1 convolutions with residual adds and PReLU, max-pooling with argmax on
// the shortcut paths, max-unpooling and 3x3 / 2x2 stride-2 transposed
// convolutions up, two skip concatenations). Its weights and its graph come
// from weights/hair_segmentation.fct, written by tools/convert/
// convert_tflite.c from MediaPipe's hair_segmentation.tflite.
//
// Input: n x 4 x 512 x 512, NCHW: R, G, B in [0, 1] (the photo stretched to
// 512x512 whatever its aspect) and the previous frame's hair mask in
// [0, 1] (zero for still photos). Output: the logits n x 2 x 512 x 512
// (background, hair) and p(hair) = softmax channel 1.
//
// Feature maps (names are the TFLite tensor names; shapes C x H x W for
// batch 1). Pass the names you want to nn_hair_create's `keep` list, then
// read them with nn_hair_feature after a forward call. Block outputs:
//   input_1                  4 x 512 x 512  the input
//   p_re_lu                  8 x 256 x 256  stride-2 stem
//   p_re_lu_1               32 x 128 x 128  stride-2 stem
//   p_re_lu_5, _9, _13      64 x 64 x 64    encoder stage 1 (3 blocks)
//   p_re_lu_17, _21, _25,  128 x 32 x 32    encoder stage 2 (5 blocks)
//     _29, _33
//   p_re_lu_37, _41, _44,  128 x 16 x 16    encoder stage 3, the
//     _47, _50, _54, _57,                   bottleneck (14 blocks; 3x3,
//     _61, _64, _67, _70,                   5x5 depthwise and dilation
//     _74, _77, _80                         2, 4, 8 convolutions)
//   p_re_lu_83             128 x 32 x 32    decoder: unpool + upsampling
//   concatenate            256 x 32 x 32    ... with the p_re_lu_17 skip
//   p_re_lu_86             128 x 32 x 32
//   p_re_lu_89              64 x 64 x 64    decoder: unpool + upsampling
//   concatenate_1          128 x 64 x 64    ... with the p_re_lu_5 skip
//   p_re_lu_92              64 x 64 x 64
//   p_re_lu_95, _98         32 x 128 x 128  decoder: unpool + upsampling
//   p_re_lu_99               8 x 256 x 256  last map before the 2-class
//                                           transposed convolution
//   conv2d_transpose_4       2 x 512 x 512  logits (background, hair)
//   softmax                  2 x 512 x 512  class probabilities
// The maps inside blocks (4, 8 or 16 channels) have names too.
// Every op output in the graph has a name (nn_hair_value_name lists them);
// a convolution directly followed by its PReLU is fused unless the
// convolution's own output is asked for in `keep`.
//
// The graph description (metadata "hair.graph", written by the converter
// and replayed here) is text, one op per line, tokens separated by one
// space:
//   KIND OUTS INS ATTR...
// OUTS and INS are comma-separated value names; ATTR are key=value with
// comma-separated integers or a word. Kinds, their weights (tensors named
// after the op's first output) and attributes:
//   conv    out in      OUT.weight (O x I x kh x kw), OUT.bias (O);
//                       stride=h,w dil=h,w pad=same|valid act=none|relu|relu6
//   dwconv  out in      OUT.weight (O x 1 x kh x kw, O = I x multiplier),
//                       OUT.bias (O); stride= dil= pad= act= as conv
//   deconv  out in      OUT.weight (I x O x kh x kw), OUT.bias (O);
//                       stride=h,w pad=same|valid (TFLite transposed
//                       convolution padding)
//   prelu   out in      OUT.alpha (C)
//   add     out a,b
//   concat  out a,b...  along channels, in order
//   maxpool out,idx in  k=h,w stride=h,w pad=same|valid; idx holds the
//                       argmax of each output as a plane index y * W + x
//   unpool  out in,idx  k=h,w stride=h,w (scatter to the pooled positions)
// and every line ends with shape=C,H,W, the batch-1 shape of its outputs,
// which the network checks against its own shape inference. Metadata
// "hair.input" and "hair.output" name the graph input and the logits.
//
// ref: Tkachenka, Kartynnik, Ablavatski, Grishchenko, Grundmann, "Real-time
//      Hair Segmentation and Recoloring on Mobile GPUs", CVPR-W 2019
//      (arXiv 1907.06740)
// ref: Paszke, Chaurasia, Kim, Culurciello, "ENet", arXiv 1606.02147 (the
//      block structure)
// ref: method-spec section 6.4
//
// Limitations:
// - The graph interpreter knows only the op kinds above, with groups 1 or
//   depthwise convolutions, 2 inputs at most per add.
// - Max-unpooling scatters to the argmax positions of the matching pool;
//   this equals MediaPipe's window-relative indices only when windows do
//   not overlap (k == stride) and the unpooled map has the pooled map's
//   input size, which nn_hair_create checks.
// - One forward call at a time per network (it writes the network's
//   buffers); the kept "input_1" is a view of the caller's input.
// - No temporal blending of masks across video frames (the caller may feed
//   the previous mask as channel 4).
#ifndef FACET_NET_HAIR_H
#define FACET_NET_HAIR_H

#include "nn.h"
#include "../weights/weights.h"

#define NN_HAIR_SIZE 512      // input and output height and width
#define NN_HAIR_CHANNELS 4    // R, G, B, previous mask

typedef struct nn_hair nn_hair;

// Build the network from an open weight file (which must stay open while
// the network is used: weights are views into it) for batches of up to
// `batch` images. `keep` lists `nkeep` value names whose tensors must stay
// readable after nn_hair_forward (NULL, 0: only the logits and softmax).
// Fails with a detail naming the file and the fault when the graph or a
// tensor does not match.
facet_status nn_hair_create(nn_hair **out, const wt_file *w, int batch,
                            const char *const *keep, int nkeep);
void nn_hair_free(nn_hair *h);   // NULL is harmless

// in: n x 4 x 512 x 512 (n <= batch); prob: n x 512 x 512 p(hair), may be
// NULL. Logits and kept feature maps are then readable by name.
facet_status nn_hair_forward(nn_hair *h, float *prob, const nn_tensor *in);

// A value after the last forward call (its dim[0] is that call's n), or
// NULL with FACET_E_NOT_FOUND detail when the name is unknown or was not
// kept.
const nn_tensor *nn_hair_feature(const nn_hair *h, const char *name);

// All value names of the graph, in op order (index 0 is the input), and
// their batch-1 shapes.
int nn_hair_value_count(const nn_hair *h);
const char *nn_hair_value_name(const nn_hair *h, int i);
void nn_hair_value_shape(const nn_hair *h, int i, int *c, int *hgt, int *wid);

// Bytes of activation memory (arena) the network holds.
size_t nn_hair_arena_bytes(const nn_hair *h);

// Fill one image of a network input (4 x 512 x 512 floats, NCHW planes)
// from an interleaved 8-bit RGB image of exactly 512x512 pixels with row
// stride `stride` bytes: channel c = rgb / 255. `prev` is the previous
// hair mask (512 x 512 in [0, 1]) or NULL for zeros.
void nn_hair_input_rgb8(float *dst, const uint8_t *rgb, size_t stride,
                        const float *prev);

#endif

// nn.h - tensors, the activation arena and the forward-only layer set that
// every network in facet runs on.
//
// Layout: a tensor is dense float32, row-major over its dims (the last dim
// varies fastest). 4-D activations are NCHW: element (n, c, y, x) sits at
// ((n * C + c) * H + y) * W + x. Weights follow the same convention as
// Caffe/PyTorch: convolution OIHW (cout x cin/groups x kh x kw), transposed
// convolution IOHW (cin x cout x kh x kw), fully connected (out x in).
//
// Layers never allocate: outputs are caller-owned tensors and scratch comes
// from the caller, sized by the matching *_scratch_size query. Networks put
// both in an nn_arena reused across forward calls.
#ifndef FACET_NN_H
#define FACET_NN_H

#include "../linalg/linalg.h"

// ---------------------------------------------------------------------------
// Tensors

#define NN_MAX_DIMS 4

typedef struct nn_tensor {
    float *data;
    int ndim;                // 1..4
    int dim[NN_MAX_DIMS];    // dim[0] outermost; unused dims are 1
} nn_tensor;

// A 4-D NCHW view of `data` (not owned).
nn_tensor nn_tensor_4d(float *data, int n, int c, int h, int w);
// Number of elements.
size_t nn_tensor_count(const nn_tensor *t);

// ---------------------------------------------------------------------------
// Arena: one 64-byte-aligned block handed out by bumping a pointer. A
// network sizes it once, then marks and releases around each forward call.

typedef struct nn_arena {
    unsigned char *base;
    size_t size;   // bytes in the block
    size_t used;   // bytes handed out
    size_t peak;   // high-water mark of `used`
} nn_arena;

facet_status nn_arena_init(nn_arena *a, size_t bytes);
void nn_arena_release_all(nn_arena *a);   // frees the block
// 64-byte-aligned bytes, or NULL when the arena is exhausted.
void *nn_arena_alloc(nn_arena *a, size_t bytes);
static inline size_t nn_arena_mark(const nn_arena *a) { return a->used; }
static inline void nn_arena_reset(nn_arena *a, size_t mark) { a->used = mark; }

// ---------------------------------------------------------------------------
// Convolution, any kernel size, stride, padding, dilation and groups
// (groups == cin == cout is depthwise), with bias and a fused activation.

typedef struct nn_conv_desc {
    int cin, cout;           // channels in and out
    int kh, kw;              // kernel size
    int stride_h, stride_w;  // >= 1
    int dil_h, dil_w;        // >= 1
    int pad_top, pad_bottom, pad_left, pad_right;  // zero padding, >= 0
    int groups;              // divides cin and cout
    la_act act;
} nn_conv_desc;

// Algorithm of a prepared convolution. NN_CONV_AUTO picks the fastest that
// applies; the others force a path (for tests and benchmarks) and fail at
// nn_conv_create if it does not apply to the shape.
typedef enum nn_conv_algo {
    NN_CONV_AUTO = 0,
    NN_CONV_GEMM,       // im2col (skipped for 1x1 stride 1) + la_sgemm
    NN_CONV_DEPTHWISE,  // direct, one filter per channel
    NN_CONV_WINOGRAD,   // F(4x4, 3x3): 3x3, stride 1, dilation 1, groups 1
    NN_CONV_ALGO_COUNT
} nn_conv_algo;

// TF "SAME" padding for one axis: total = max((ceil(in/stride) - 1) *
// stride + (k - 1) * dil + 1 - in, 0), split with the extra pixel at the
// end (bottom/right).
void nn_same_padding(int *pad_before, int *pad_after, int in, int k,
                     int stride, int dil);

// Output size of a convolution along each axis.
void nn_conv_out_size(int *oh, int *ow, const nn_conv_desc *d, int h, int w);

// A prepared convolution: the descriptor, views of the weights (which must
// outlive it) and any transformed weights the algorithm needs (owned).
typedef struct nn_conv nn_conv;

// weight: cout x cin/groups x kh x kw; bias: cout or NULL; slope: cout
// PReLU slopes, required for LA_ACT_PRELU.
facet_status nn_conv_create(nn_conv **out, const nn_conv_desc *d,
                            const float *weight, const float *bias,
                            const float *slope, nn_conv_algo algo);
void nn_conv_free(nn_conv *c);
nn_conv_algo nn_conv_algorithm(const nn_conv *c);
const nn_conv_desc *nn_conv_descriptor(const nn_conv *c);

// Scratch bytes for a forward call on an n x cin x h x w input.
size_t nn_conv_scratch_size(const nn_conv *c, int n, int h, int w);
// out: n x cout x oh x ow, in: n x cin x h x w.
void nn_conv_forward(const nn_conv *c, nn_tensor *out, const nn_tensor *in,
                     void *scratch);

// Reference convolution summing in double (the yardstick for tests).
void nn_conv2d__ref(nn_tensor *out, const nn_tensor *in,
                    const nn_conv_desc *d, const float *weight,
                    const float *bias, const float *slope);

// Fold an inference batch-norm y = gamma (x - mean) / sqrt(var + eps) +
// beta into the preceding convolution's weight (cout x per_out) and bias
// (cout), in place. Summation in double. bias must not be NULL (pass zeros
// for a convolution without bias).
void nn_fold_batchnorm(float *weight, float *bias, int cout, size_t per_out,
                       const float *gamma, const float *beta,
                       const float *mean, const float *var, float eps);

// ---------------------------------------------------------------------------
// Transposed convolution (a.k.a. deconvolution), groups 1.
//   oh = (h - 1) * stride_h - pad_top - pad_bottom + kh   (same for w)

typedef struct nn_deconv_desc {
    int cin, cout, kh, kw, stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;  // cropped from the output
    la_act act;
} nn_deconv_desc;

void nn_deconv_out_size(int *oh, int *ow, const nn_deconv_desc *d, int h,
                        int w);
size_t nn_deconv_scratch_size(const nn_deconv_desc *d, int n, int h, int w);
// weight: cin x cout x kh x kw; bias: cout or NULL.
void nn_deconv_forward(nn_tensor *out, const nn_tensor *in,
                       const nn_deconv_desc *d, const float *weight,
                       const float *bias, const float *slope, void *scratch);
void nn_deconv2d__ref(nn_tensor *out, const nn_tensor *in,
                      const nn_deconv_desc *d, const float *weight,
                      const float *bias, const float *slope);

// ---------------------------------------------------------------------------
// Pooling. Padded positions never win a max and, for average pooling, are
// counted only with count_pad. Ceil mode lets the last window start inside
// the input (plus left padding) and run past its end, as in Caffe/PyTorch.

typedef struct nn_pool_desc {
    int kh, kw, stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    int ceil_mode;   // 0: floor, 1: ceil
    int count_pad;   // average pooling: divide by the window clipped to the
                     // padded input (Caffe/PyTorch), else by its valid part
} nn_pool_desc;

void nn_pool_out_size(int *oh, int *ow, const nn_pool_desc *d, int h, int w);
// argmax (optional, may be NULL): for each output element the index of the
// winning input within its (n, c) plane, y * w + x (PyTorch's convention).
// A window covering only padding gives 0 and argmax -1.
void nn_maxpool_forward(nn_tensor *out, int32_t *argmax, const nn_tensor *in,
                        const nn_pool_desc *d);
// Scatter `in` into a zeroed `out` at the plane indices `argmax` (-1 is
// skipped).
void nn_maxunpool_forward(nn_tensor *out, const nn_tensor *in,
                          const int32_t *argmax);
void nn_avgpool_forward(nn_tensor *out, const nn_tensor *in,
                        const nn_pool_desc *d);
// out: n x c x 1 x 1.
void nn_global_avgpool_forward(nn_tensor *out, const nn_tensor *in);

void nn_maxpool2d__ref(nn_tensor *out, int32_t *argmax, const nn_tensor *in,
                       const nn_pool_desc *d);
void nn_avgpool2d__ref(nn_tensor *out, const nn_tensor *in,
                       const nn_pool_desc *d);

// ---------------------------------------------------------------------------
// Fully connected: out (n x out_features) = in (n x in_features, any
// trailing dims flattened) * weight^T + bias, then the activation.

size_t nn_fc_scratch_size(int n, int in_features, int out_features);
void nn_fc_forward(nn_tensor *out, const nn_tensor *in, const float *weight,
                   const float *bias, int out_features, la_act act,
                   const float *slope, void *scratch);

// ---------------------------------------------------------------------------
// Element-wise and channel operations. `out` may alias an input where the
// shapes match; no broadcasting. nn_add takes no PReLU (it has no slopes).

void nn_add(nn_tensor *out, const nn_tensor *a, const nn_tensor *b,
            la_act act);
void nn_mul(nn_tensor *out, const nn_tensor *a, const nn_tensor *b);
// out[n,c,...] = in[n,c,...] * scale[c] + bias[c] (either may be NULL).
void nn_scale_bias(nn_tensor *out, const nn_tensor *in, const float *scale,
                   const float *bias);
// Activation in place; slope per channel (dim 1) for PReLU.
void nn_activate(nn_tensor *t, la_act act, const float *slope);
// Channel concatenation of `count` NCHW tensors with equal n, h, w.
void nn_concat_channels(nn_tensor *out, const nn_tensor *const *in,
                        int count);
// Zero channels before and after: out has c + before + after channels.
void nn_pad_channels(nn_tensor *out, const nn_tensor *in, int before,
                     int after);

typedef enum nn_resize_mode {
    NN_RESIZE_ALIGN_CORNERS = 0,  // src = dst * (in - 1) / (out - 1)
    NN_RESIZE_HALF_PIXEL          // src = (dst + 0.5) * in / out - 0.5
} nn_resize_mode;
void nn_resize_bilinear(nn_tensor *out, const nn_tensor *in,
                        nn_resize_mode mode);

// Softmax over dim 1 (channels) of an NCHW tensor, per (n, y, x); in
// double for the sum.
void nn_softmax_channels(nn_tensor *out, const nn_tensor *in);
void nn_sigmoid(nn_tensor *out, const nn_tensor *in);

#endif

// net_faceapi.h - what the three face-api networks (net_ssd, net_lm68,
// net_frec) share: face-api's way of turning an image region into a
// network input, and the loading helpers that turn TF.js weight layouts
// into facet's.
//
// The input builder is public (face/ uses it to feed crops to the
// networks); the nn__fa_* helpers are internal to nn/net_*.c.
//
// ref: @vladmandic/face-api 1.7.15 src/dom/NetInput.ts (toBatchTensor),
//      src/ops/padToSquare.ts, src/dom/extractFaceTensors.ts
// ref: XNNPACK resize-bilinear in TensorFlow legacy mode (the kernel the
//      TF.js WASM backend runs for tf.image.resizeBilinear with
//      alignCorners = halfPixelCenters = false)
//
// Limitations:
// - Inputs are interleaved 8-bit RGB; other pixel formats are converted
//   by the caller.
#ifndef FACET_NET_FACEAPI_H
#define FACET_NET_FACEAPI_H

#include "nn.h"
#include "../weights/weights.h"

// How the crop is padded to a square before resizing: at the bottom/right
// (the detector) or centred, the odd pixel after (landmarks, descriptor).
typedef enum nn_faceapi_pad {
    NN_FACEAPI_PAD_END = 0,
    NN_FACEAPI_PAD_CENTRE = 1
} nn_faceapi_pad;

// One network input image the way face-api builds it from a tensor: the
// crop (cx, cy, cw, ch) of an interleaved 8-bit RGB image (w x h pixels,
// `stride` bytes per row) is zero-padded to a square of side max(cw, ch),
// then resized bilinearly (no half-pixel offset, corners not aligned) to
// side x side, all in float32. dst: 3 x side x side planes (R, G, B),
// values in 0..255, bit-identical to TF.js WASM. The crop must lie inside
// the image (face-api clips and floors its boxes first: see
// nn_faceapi_clip_box).
facet_status nn_faceapi_input(float *dst, int side, nn_faceapi_pad pad,
                              const uint8_t *rgb, int w, int h,
                              size_t stride, int cx, int cy, int cw,
                              int ch);

// face-api's Box.clipAtImageBorders followed by floor: the integer crop
// of a box (x, y, bw, bh) in a w x h image. The crop may come out empty
// (cw or ch 0) for a box outside the image.
void nn_faceapi_clip_box(int crop[4], double x, double y, double bw,
                         double bh, int w, int h);

// ---------------------------------------------------------------------------
// Per-layer profile of one forward call (nn_ssd_set_profile,
// nn_frec_set_profile; `facet bench faceapi` prints it with
// FACET_BENCH_LAYERS=1). Off by default: a forward call then pays one
// predictable branch per layer and reads no clock.

#define NN_FACEAPI_MAX_STEPS 64

typedef struct nn_faceapi_step {
    char name[32];           // "conv3_dw", "conv64_1/conv1", "maxpool", ...
    const nn_conv *conv;     // the convolution, or NULL for other steps
    int in_h, in_w;          // the step's input plane
    double flops;            // 2 x multiply-adds per image (0: not a conv)
    double seconds;          // wall time in the last profiled forward call
    double cpu_seconds;      // process CPU time (all threads) in it
} nn_faceapi_step;

typedef struct nn_faceapi_profile {
    int on;
    int count;               // steps recorded by the last forward call
    double t0, c0;           // wall and CPU clock at the current step's start
    nn_faceapi_step step[NN_FACEAPI_MAX_STEPS];
} nn_faceapi_profile;

// 2 x multiply-adds of a convolution for one h x w input image (bias and
// activation not counted).
double nn_faceapi_conv_flops(const nn_conv *c, int h, int w);

// ---------------------------------------------------------------------------
// Internal to nn/net_{ssd,lm68,frec}.c.

// A convolution built from TF.js tensors, owning its rearranged weights.
typedef struct nn__fa_conv {
    nn_conv *conv;
    float *weight;   // cout x cin/groups x kh x kw
    float *bias;     // cout
    int in_c, in_h, in_w, out_c, out_h, out_w;   // batch-1 shapes
} nn__fa_conv;

// What to build: names of tensors in the weight file (NULL where absent)
// and the geometry. filters: HWIO [k, k, cin, cout], or HWC1 [k, k, c, 1]
// with `depthwise`. The result computes
//   act(((conv(x) + bias) * scale + shift))                  scale layer
//   act((conv(x) - mean) * gamma / sqrt(var + eps) + beta)   batch norm
// with the affine parts folded into the weights in double.
typedef struct nn__fa_conv_spec {
    const char *filters, *bias;
    const char *scale, *shift;                  // per output channel
    const char *gamma, *beta, *mean, *var;      // batch norm
    float eps;
    int depthwise;
    int cin, cout, k, stride;
    int same;        // TF "SAME" padding (else "VALID")
    int in_h, in_w;  // input size (for the padding and the output size)
    la_act act;
} nn__fa_conv_spec;

facet_status nn__fa_conv_create(nn__fa_conv *c, const wt_file *w,
                                const nn__fa_conv_spec *s);
void nn__fa_conv_free(nn__fa_conv *c);

// The float32 view of tensor `name` after checking its shape (ndim dims
// from `dims`); NULL with detail naming the file and tensor otherwise.
const float *nn__fa_tensor(const wt_file *w, const char *name, int ndim,
                           const int *dims);

// TF layouts to facet's: HWIO -> OIHW; [in, out] -> [out, in].
void nn__fa_hwio_to_oihw(float *dst, const float *src, int kh, int kw,
                         int cin, int cout);
void nn__fa_io_to_oi(float *dst, const float *src, int in, int out);

// Convolution scratch that grows to the largest request (re-queried per
// forward call, since it depends on the thread count).
typedef struct nn__fa_scratch {
    void *p;
    size_t bytes;
} nn__fa_scratch;
facet_status nn__fa_scratch_reserve(nn__fa_scratch *s, size_t bytes);
void nn__fa_scratch_free(nn__fa_scratch *s);

// Profile helpers: mark the start of a step, then record it (both do
// nothing when the profile is off). An overflowing profile drops later
// steps.
void nn__fa_prof_mark(nn_faceapi_profile *p);
void nn__fa_prof_record(nn_faceapi_profile *p, const char *name,
                        const nn_conv *conv, int h, int w);
static inline void nn__fa_prof_start(nn_faceapi_profile *p)
{
    if (p->on)
        nn__fa_prof_mark(p);
}
static inline void nn__fa_prof_add(nn_faceapi_profile *p, const char *name,
                                   const nn_conv *conv, int h, int w)
{
    if (p->on)
        nn__fa_prof_record(p, name, conv, h, w);
}

// face-api's input normalisations, per channel c of an NCHW tensor, in
// float32 and in face-api's operation order (the orders are not
// bit-identical to each other):
//   div_first 0: out = (in - sub[c]) / div[c]   (landmarks, descriptor)
//   div_first 1: out = in / div[c] - sub[c]     (detector: x / 127.5 - 1)
void nn__fa_normalize(nn_tensor *out, const nn_tensor *in, const float *sub,
                      const float *div, int div_first);

#endif

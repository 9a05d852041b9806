// eltwise.c - element-wise and channel operations: add, multiply,
// per-channel scale and bias, activations, channel concatenation and
// padding, softmax over channels and the logistic sigmoid.
//
// Every loop writes each output element once from its own inputs, so
// results do not depend on the thread count; OpenMP switches on only for
// tensors large enough to pay for it.
//
// Limitations:
// - No broadcasting: the two operands of add and multiply have the same
//   element count (their shapes are not compared beyond that).
// - Plain loops left to the compiler's vectoriser, no per-ISA kernels:
//   these layers are memory-bound and small next to the convolutions.
#include "layers_internal.h"

#include <math.h>
#include <string.h>

// Below this many elements a parallel region costs more than it saves.
#define PAR_MIN 65536

void nn__channel_split(const nn_tensor *t, int *outer, int *channels,
                       size_t *inner)
{
    size_t in = 1;

    FACET_ASSERT(t->ndim >= 1 && t->ndim <= NN_MAX_DIMS);
    if (t->ndim == 1) {
        *outer = 1;
        *channels = t->dim[0];
        *inner = 1;
        return;
    }
    for (int i = 2; i < t->ndim; i++)
        in *= (size_t)t->dim[i];
    *outer = t->dim[0];
    *channels = t->dim[1];
    *inner = in;
}

void nn__bias_act(float *x, int outer, int channels, size_t inner,
                  const float *bias, la_act act, const float *slope)
{
    int planes = outer * channels;

    FACET_ASSERT(act != LA_ACT_PRELU || slope);
    if (!bias && act == LA_ACT_NONE)
        return;

    // One channel plane per iteration: x = act(x + bias[c]).
    NN_OMP(parallel for schedule(static)
           if ((size_t)planes * inner > PAR_MIN))
    for (int p = 0; p < planes; p++) {
        int c = p % channels;
        float b = bias ? bias[c] : 0.0f, s = slope ? slope[c] : 0.0f;
        float *v = x + (size_t)p * inner;

        if (bias)
            for (size_t i = 0; i < inner; i++)
                v[i] += b;
        if (act != LA_ACT_NONE)
            for (size_t i = 0; i < inner; i++)
                v[i] = nn__act1(v[i], act, s);
    }
}

void nn_add(nn_tensor *out, const nn_tensor *a, const nn_tensor *b,
            la_act act)
{
    size_t n = nn_tensor_count(out);
    float *o = out->data;
    const float *x = a->data, *y = b->data;

    FACET_ASSERT(nn_tensor_count(a) == n && nn_tensor_count(b) == n);
    FACET_ASSERT(act != LA_ACT_PRELU);   // no slopes to go with it

    // The activation chosen outside the loops, and `simd` so that the
    // compiler vectorises them: as a scalar loop the ReLU compiled to a
    // branch on the sign, mispredicted half the time (2.5 ns per element
    // in the descriptor's residual adds).
    switch (act) {
    case LA_ACT_NONE:
        NN_OMP(parallel for simd schedule(static) if (parallel: n > PAR_MIN))
        for (size_t i = 0; i < n; i++)
            o[i] = x[i] + y[i];
        break;
    case LA_ACT_RELU:
        NN_OMP(parallel for simd schedule(static) if (parallel: n > PAR_MIN))
        for (size_t i = 0; i < n; i++) {
            float v = x[i] + y[i];
            o[i] = v > 0.0f ? v : 0.0f;
        }
        break;
    default:
        NN_OMP(parallel for simd schedule(static) if (parallel: n > PAR_MIN))
        for (size_t i = 0; i < n; i++)
            o[i] = nn__act1(x[i] + y[i], act, 0.0f);
        break;
    }
}

void nn_mul(nn_tensor *out, const nn_tensor *a, const nn_tensor *b)
{
    size_t n = nn_tensor_count(out);
    float *o = out->data;
    const float *x = a->data, *y = b->data;

    FACET_ASSERT(nn_tensor_count(a) == n && nn_tensor_count(b) == n);

    NN_OMP(parallel for schedule(static) if (n > PAR_MIN))
    for (size_t i = 0; i < n; i++)
        o[i] = x[i] * y[i];
}

void nn_scale_bias(nn_tensor *out, const nn_tensor *in, const float *scale,
                   const float *bias)
{
    int outer, channels;
    size_t inner;

    nn__channel_split(in, &outer, &channels, &inner);
    FACET_ASSERT(nn_tensor_count(out) == nn_tensor_count(in));

    // out[n, c, ...] = in[n, c, ...] * scale[c] + bias[c].
    NN_OMP(parallel for schedule(static)
           if ((size_t)outer * channels * inner > PAR_MIN))
    for (int p = 0; p < outer * channels; p++) {
        int c = p % channels;
        float s = scale ? scale[c] : 1.0f, b = bias ? bias[c] : 0.0f;
        const float *x = in->data + (size_t)p * inner;
        float *o = out->data + (size_t)p * inner;

        for (size_t i = 0; i < inner; i++)
            o[i] = x[i] * s + b;
    }
}

void nn_activate(nn_tensor *t, la_act act, const float *slope)
{
    int outer, channels;
    size_t inner;

    nn__channel_split(t, &outer, &channels, &inner);
    nn__bias_act(t->data, outer, channels, inner, NULL, act, slope);
}

void nn_concat_channels(nn_tensor *out, const nn_tensor *const *in,
                        int count)
{
    int n = out->dim[0], c = 0;
    size_t hw = (size_t)out->dim[2] * out->dim[3];

    FACET_ASSERT(out->ndim == 4 && count >= 0);
    for (int i = 0; i < count; i++) {
        FACET_ASSERT(in[i]->ndim == 4 && in[i]->dim[0] == n &&
                     in[i]->dim[2] == out->dim[2] &&
                     in[i]->dim[3] == out->dim[3]);
        c += in[i]->dim[1];
    }
    FACET_ASSERT(c == out->dim[1]);

    // Image b's channels from input i go after those of inputs 0..i-1.
    NN_OMP(parallel for schedule(static)
           if ((size_t)n * c * hw > PAR_MIN))
    for (int j = 0; j < n * count; j++) {
        int b = j / count, i = j % count, c0 = 0;
        size_t len = (size_t)in[i]->dim[1] * hw;

        for (int k = 0; k < i; k++)
            c0 += in[k]->dim[1];
        if (len)
            memcpy(out->data + ((size_t)b * c + c0) * hw,
                   in[i]->data + (size_t)b * len, sizeof(float) * len);
    }
}

void nn_pad_channels(nn_tensor *out, const nn_tensor *in, int before,
                     int after)
{
    int n = in->dim[0], c = in->dim[1], oc = c + before + after;
    size_t hw = (size_t)in->dim[2] * in->dim[3];

    FACET_ASSERT(in->ndim == 4 && out->ndim == 4 && before >= 0 &&
                 after >= 0);
    FACET_ASSERT(out->dim[0] == n && out->dim[1] == oc &&
                 out->dim[2] == in->dim[2] && out->dim[3] == in->dim[3]);

    // Per image: zeros, the input's channels, zeros.
    for (int b = 0; b < n; b++) {
        float *o = out->data + (size_t)b * oc * hw;

        memset(o, 0, sizeof(float) * before * hw);
        if (c)
            memcpy(o + before * hw, in->data + (size_t)b * c * hw,
                   sizeof(float) * c * hw);
        memset(o + (size_t)(before + c) * hw, 0, sizeof(float) * after * hw);
    }
}

// Positions per softmax block: the block's running max and sum sit in
// fixed arrays while the channels stream past.
#define SOFTMAX_BLOCK 64

void nn_softmax_channels(nn_tensor *out, const nn_tensor *in)
{
    int outer, channels;
    size_t inner, blocks;

    nn__channel_split(in, &outer, &channels, &inner);
    FACET_ASSERT(nn_tensor_count(out) == nn_tensor_count(in));
    FACET_ASSERT(channels >= 1);
    blocks = (inner + SOFTMAX_BLOCK - 1) / SOFTMAX_BLOCK;

    // For each position: e_c = exp(x_c - max), out_c = e_c / sum e (sum in
    // double). e_c is parked in out, which may alias in: every x_c is read
    // before out_c is written.
    NN_OMP(parallel for schedule(static)
           if ((size_t)outer * channels * inner > PAR_MIN))
    for (size_t j = 0; j < (size_t)outer * blocks; j++) {
        size_t b = j / blocks, p0 = j % blocks * SOFTMAX_BLOCK;
        size_t len = inner - p0 < SOFTMAX_BLOCK ? inner - p0 : SOFTMAX_BLOCK;
        const float *x = in->data + b * channels * inner + p0;
        float *o = out->data + b * channels * inner + p0;
        float mx[SOFTMAX_BLOCK];
        double sum[SOFTMAX_BLOCK];

        for (size_t i = 0; i < len; i++) {
            mx[i] = x[i];
            sum[i] = 0.0;
        }
        for (int c = 1; c < channels; c++)
            for (size_t i = 0; i < len; i++)
                if (x[c * inner + i] > mx[i])
                    mx[i] = x[c * inner + i];
        for (int c = 0; c < channels; c++)
            for (size_t i = 0; i < len; i++) {
                double e = exp((double)x[c * inner + i] - mx[i]);
                o[c * inner + i] = (float)e;
                sum[i] += e;
            }
        for (int c = 0; c < channels; c++)
            for (size_t i = 0; i < len; i++)
                o[c * inner + i] = (float)(o[c * inner + i] / sum[i]);
    }
}

void nn_sigmoid(nn_tensor *out, const nn_tensor *in)
{
    size_t n = nn_tensor_count(out);
    float *o = out->data;
    const float *x = in->data;

    FACET_ASSERT(nn_tensor_count(in) == n);

    // 1 / (1 + e^-x): e^-x overflows to inf for x < -88, giving exactly 0.
    NN_OMP(parallel for schedule(static) if (n > PAR_MIN))
    for (size_t i = 0; i < n; i++)
        o[i] = 1.0f / (1.0f + expf(-x[i]));
}

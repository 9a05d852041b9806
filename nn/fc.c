// fc.c - fully connected layer: one la_sgemm with the weight transposed
// and bias + activation per output feature in the epilogue.
//
//   out (n x out_f) = in (n x in_f) * weight^T (in_f x out_f) + bias
//
// `in` is any tensor whose dim 0 is the batch; its trailing dims flatten
// to in_f in memory order (NCHW for a feature map, as Caffe/PyTorch
// flatten before their first classifier layer).
//
// Limitations:
// - Weights in the (out x in) layout only.
#include "layers_internal.h"

size_t nn_fc_scratch_size(int n, int in_features, int out_features)
{
    if (n == 0 || out_features == 0)
        return 0;
    return la_sgemm_scratch_size(n, out_features, in_features,
                                 facet_threads());
}

void nn_fc_forward(nn_tensor *out, const nn_tensor *in, const float *weight,
                   const float *bias, int out_features, la_act act,
                   const float *slope, void *scratch)
{
    int n = in->dim[0];
    size_t in_count = nn_tensor_count(in), in_f;
    la_epilogue ep = {.bias = bias, .slope = slope, .act = act,
                      .axis = LA_BIAS_COL};

    FACET_ASSERT(n >= 1 && out_features >= 1);
    FACET_ASSERT(in_count % n == 0 && in_count / n <= INT32_MAX);
    FACET_ASSERT(out->dim[0] == n &&
                 nn_tensor_count(out) == (size_t)n * out_features);
    FACET_ASSERT(act != LA_ACT_PRELU || slope);
    FACET_ASSERT(scratch ||
                 nn_fc_scratch_size(n, (int)(in_count / n), out_features) ==
                     0);
    in_f = in_count / n;

    la_sgemm(LA_NOTRANS, LA_TRANS, n, out_features, (int)in_f, 1.0f,
             in->data, (int)in_f, weight, (int)in_f, 0.0f, out->data,
             out_features, &ep, scratch);
}

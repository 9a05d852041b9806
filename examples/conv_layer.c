// conv_layer.c - the smallest use of facet's layer API: prepare a 3x3
// convolution with bias and ReLU, run it on a random NCHW input with
// caller-owned scratch, and compare it with the double-precision reference.
//
//   make examples && build/o1d0s0n0/examples/conv_layer [CIN COUT SIZE]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../nn/nn.h"

static const char *const algo_names[NN_CONV_ALGO_COUNT] = {
    "auto", "im2col + GEMM", "depthwise", "Winograd F(4x4,3x3)"};

int main(int argc, char **argv)
{
    int cin = argc > 1 ? atoi(argv[1]) : 64;
    int cout = argc > 2 ? atoi(argv[2]) : 64;
    int size = argc > 3 ? atoi(argv[3]) : 56;
    nn_conv_desc d = {.cin = cin, .cout = cout, .kh = 3, .kw = 3,
                      .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
                      .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                      .pad_right = 1, .groups = 1, .act = LA_ACT_RELU};
    size_t nw = (size_t)cout * cin * 9, nx = (size_t)cin * size * size;
    size_t ny = (size_t)cout * size * size;
    float *w, *b, *x, *y, *ref;
    void *scratch;
    nn_conv *conv = NULL;
    facet_rng rng;
    facet_status st;
    double t, err = 0, big = 0;

    if (cin < 1 || cout < 1 || size < 1 || cin > 4096 || cout > 4096 ||
        size > 1024) {
        fprintf(stderr, "usage: conv_layer [CIN COUT SIZE] (1..4096, "
                "1..4096, 1..1024)\n");
        return 2;
    }

    // Weights (OIHW), bias and input from one seeded generator.
    w = facet_alloc(nw * sizeof *w);
    b = facet_alloc((size_t)cout * sizeof *b);
    x = facet_alloc(nx * sizeof *x);
    y = facet_alloc(ny * sizeof *y);
    ref = facet_alloc(ny * sizeof *ref);
    if (!w || !b || !x || !y || !ref) {
        fprintf(stderr, "conv_layer: out of memory\n");
        return 1;
    }
    facet_rng_seed(&rng, 1);
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)(facet_rng_normal(&rng) * sqrt(2.0 / (cin * 9)));
    for (int i = 0; i < cout; i++)
        b[i] = 0.1f * facet_rng_float(&rng);
    for (size_t i = 0; i < nx; i++)
        x[i] = facet_rng_float(&rng);

    // Prepare: the layer picks its algorithm and transforms its weights.
    st = nn_conv_create(&conv, &d, w, b, NULL, NN_CONV_AUTO);
    if (st != FACET_OK) {
        fprintf(stderr, "conv_layer: %s: %s\n", facet_status_str(st),
                facet_error());
        return 1;
    }
    scratch = facet_alloc(nn_conv_scratch_size(conv, 1, size, size));

    // Run: 1 x cin x size x size in, 1 x cout x size x size out.
    nn_tensor in = nn_tensor_4d(x, 1, cin, size, size);
    nn_tensor out = nn_tensor_4d(y, 1, cout, size, size);
    nn_tensor want = nn_tensor_4d(ref, 1, cout, size, size);
    t = facet_now();
    nn_conv_forward(conv, &out, &in, scratch);
    t = facet_now() - t;

    // Check against the reference, which sums in double.
    nn_conv2d__ref(&want, &in, &d, w, b, NULL);
    for (size_t i = 0; i < ny; i++) {
        err = fmax(err, fabs((double)y[i] - ref[i]));
        big = fmax(big, fabs((double)ref[i]));
    }
    printf("%d -> %d channels, %dx%d, ISA %s, %s: %.2f ms, "
           "max |err| / max |ref| = %.2g\n", cin, cout, size, size,
           facet_isa_name(facet_isa_active()),
           algo_names[nn_conv_algorithm(conv)], 1e3 * t,
           big > 0 ? err / big : err);

    nn_conv_free(conv);
    facet_free(scratch);
    facet_free(w);
    facet_free(b);
    facet_free(x);
    facet_free(y);
    facet_free(ref);
    return 0;
}

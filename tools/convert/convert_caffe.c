// convert_caffe.c - reads a Caffe model (a binary NetParameter, e.g. the
// VGG-Face release's VGG_FACE.caffemodel) and writes VGG-Face's weights as
// a facet weight file for the VGG-16 network of nn/nets.h.
//
//   convert_caffe [--fc] [--any-width] IN.caffemodel OUT.fct
//   convert_caffe --dump IN.caffemodel      list layers, types, blob shapes
//
// Two halves:
// - A reader of the parts of caffe.proto a weight file needs, on top of the
//   wire-format reader protobuf.c. Both layer lists are read: the old
//   `layers` (field 2, V1LayerParameter, type an enum), which the VGG-Face
//   release uses, and the newer `layer` (field 100, LayerParameter, type a
//   string). Blobs give their shape as the legacy num/channels/height/
//   width or as `shape` (BlobShape; Caffe takes the legacy four when any is
//   given), and their values as packed or unpacked float `data` or as
//   `double_data` (which Caffe prefers when present). Nothing from the
//   file is trusted: every size is checked against the bytes that hold
//   it, and errors name the file, the layer and the byte offset.
// - The converter: finds conv1_1 .. conv5_3 (and fc6 .. fc8 with --fc),
//   checks each layer's type, its convolution / inner-product / pooling
//   parameters where the file records them, its two blobs and their shapes
//   (channels chained from layer to layer), and writes the tensors under
//   the names conv1_1.weight, conv1_1.bias, ... in Caffe's own layouts
//   (convolution OIHW, inner product out x in), with the model's input
//   description as metadata (below). The official widths (64 .. 512, fc
//   4096) are required; --any-width accepts narrower ones, consistently
//   chained (the synthetic test models), and names the model
//   "vggface-narrow". fc8 must have VGG-Face's 2622 classes either way.
//
// Input of the converted model (method-spec 5.2): 224 x 224, channels in
// the order B, G, R (conv1_1's input channel 0 is blue), values 0..255
// minus the authors' per-channel average face, which in B, G, R order is
// (93.5940, 104.7624, 129.1863); no scaling. In the file: input_shape
// (3, 224, 224), channel_order "BGR", mean in that same channel order.
//
// The reader half is also compiled into tests/test_caffe.c, which includes
// this file with CONVERT_CAFFE_NO_MAIN defined.
//
// ref: BVLC Caffe, src/caffe/proto/caffe.proto: NetParameter (name 1,
//      layers 2, layer 100), V1LayerParameter (name 4, type 5 with enum
//      LayerType, blobs 6, convolution_param 10, inner_product_param 17,
//      pooling_param 19, V0 layer 1), LayerParameter (name 1, type 2,
//      blobs 7, convolution_param 106, inner_product_param 117,
//      pooling_param 121), BlobProto (num 1, channels 2, height 3, width 4,
//      data 5, diff 6, shape 7, double_data 8), BlobShape (dim 1),
//      ConvolutionParameter, InnerProductParameter, PoolingParameter
// ref: O. M. Parkhi, A. Vedaldi, A. Zisserman, "Deep Face Recognition",
//      BMVC 2015 (the network and its release)
// ref: method-spec sections 5.1 - 5.3
//
// Limitations:
// - Tested on synthetic files of the release's structure only (the real
//   file cannot be downloaded here). Which list the real file uses could
//   not be checked: the V1 list per method-spec 5.3, but a copy re-saved by
//   a newer Caffe has `layer`; both are read.
// - Only the VGG-Face layer set is converted; --dump lists any model.
// - The very old V0 layer format (a V1 layer wrapping field 1) is rejected.
// - Caffe pools in ceil mode, facet's VGG-16 in floor mode; they agree for
//   the 224 x 224 input (every pooled side is even), not for all sizes.
// - The whole model is mapped, and each converted blob is held twice
//   (decoded, then in the writer): about 1.6 GB peak with --fc for the
//   official file, 0.13 GB without (measured on a synthetic file of the
//   official convolution widths).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../linalg/base.h"
#include "../../weights/weights.h"
#include "convert_io.h"
#include "protobuf.h"

// Sanity caps for sizes read from a file (VGG-Face: 580 MB, 39 layers, its
// largest blob fc6 with 102,760,448 values).
#define CAFFE_MAX_FILE (UINT64_C(16) << 30)
#define CAFFE_MAX_LAYERS 10000
#define CAFFE_MAX_BLOBS 8           // per layer
#define CAFFE_MAX_BLOB_DIMS 8
#define CAFFE_MAX_COUNT (INT64_C(1) << 30)   // values in one blob

// caffe.proto field numbers used here.
enum {
    NET_NAME = 1, NET_LAYERS_V1 = 2, NET_LAYER = 100,
    V1_V0LAYER = 1, V1_NAME = 4, V1_TYPE = 5, V1_BLOBS = 6,
    V1_CONV = 10, V1_IP = 17, V1_POOL = 19,
    L_NAME = 1, L_TYPE = 2, L_BLOBS = 7,
    L_CONV = 106, L_IP = 117, L_POOL = 121,
    BLOB_NUM = 1, BLOB_CHANNELS = 2, BLOB_HEIGHT = 3, BLOB_WIDTH = 4,
    BLOB_DATA = 5, BLOB_SHAPE = 7, BLOB_DOUBLE_DATA = 8,
    SHAPE_DIM = 1,
    CONV_NUM_OUTPUT = 1, CONV_BIAS_TERM = 2, CONV_PAD = 3, CONV_KERNEL = 4,
    CONV_GROUP = 5, CONV_STRIDE = 6, CONV_PAD_H = 9, CONV_PAD_W = 10,
    CONV_KERNEL_H = 11, CONV_KERNEL_W = 12, CONV_STRIDE_H = 13,
    CONV_STRIDE_W = 14, CONV_AXIS = 16, CONV_DILATION = 18,
    IP_NUM_OUTPUT = 1, IP_BIAS_TERM = 2, IP_AXIS = 5, IP_TRANSPOSE = 6,
    POOL_POOL = 1, POOL_KERNEL = 2, POOL_STRIDE = 3, POOL_PAD = 4,
    POOL_KERNEL_H = 5, POOL_KERNEL_W = 6, POOL_STRIDE_H = 7,
    POOL_STRIDE_W = 8, POOL_PAD_H = 9, POOL_PAD_W = 10, POOL_GLOBAL = 12
};

// V1LayerParameter.LayerType, by value, as the type names of the new format.
static const char *const v1_types[] = {
    [0] = "None", [1] = "Accuracy", [2] = "BNLL", [3] = "Concat",
    [4] = "Convolution", [5] = "Data", [6] = "Dropout",
    [7] = "EuclideanLoss", [8] = "Flatten", [9] = "HDF5Data",
    [10] = "HDF5Output", [11] = "Im2col", [12] = "ImageData",
    [13] = "InfogainLoss", [14] = "InnerProduct", [15] = "LRN",
    [16] = "MultinomialLogisticLoss", [17] = "Pooling", [18] = "ReLU",
    [19] = "Sigmoid", [20] = "Softmax", [21] = "SoftmaxWithLoss",
    [22] = "Split", [23] = "TanH", [24] = "WindowData", [25] = "Eltwise",
    [26] = "Power", [27] = "SigmoidCrossEntropyLoss", [28] = "HingeLoss",
    [29] = "MemoryData", [30] = "ArgMax", [31] = "Threshold",
    [32] = "DummyData", [33] = "Slice", [34] = "MVN", [35] = "AbsVal",
    [36] = "Silence", [37] = "ContrastiveLoss", [38] = "Exp",
    [39] = "Deconvolution",
};
#define V1_TYPE_COUNT ((int)(sizeof v1_types / sizeof v1_types[0]))

// ---------------------------------------------------------------------------
// The reader

typedef struct caffe_blob {
    pb_reader msg;                        // the BlobProto
    int ndim;                             // 0 when no shape is recorded
    int64_t dims[CAFFE_MAX_BLOB_DIMS];
    int legacy;                           // shape from num/channels/h/w
    int64_t count;                        // product of dims
} caffe_blob;

typedef struct caffe_layer {
    pb_reader msg;              // the (V1)LayerParameter
    const uint8_t *name;        // not NUL-terminated
    size_t name_len;
    char type[48];              // new-format type name ("Convolution")
    int v1;                     // from `layers` (field 2)
    int nblobs;
    caffe_blob blobs[CAFFE_MAX_BLOBS];
} caffe_layer;

typedef struct caffe_net {
    const char *file;           // for messages
    const uint8_t *name;        // NetParameter.name, or NULL
    size_t name_len;
    int v1;                     // layers came from field 2
    int nlayers;
    caffe_layer *layers;
} caffe_net;

static int name_is(const caffe_layer *l, const char *s)
{
    return l->name_len == strlen(s) && !memcmp(l->name, s, l->name_len);
}

// A name for messages: printable ASCII, at most 64 bytes, else escaped.
static const char *show(char buf[80], const uint8_t *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o < 64; i++)
        buf[o++] = s[i] >= 32 && s[i] < 127 ? (char)s[i] : '?';
    if (n > 64)
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = 0;
    return buf;
}

// The shape of a blob (the legacy four if given, else the shape field, as
// Caffe's Blob::FromProto decides) and its count.
static facet_status read_blob(caffe_blob *b, const pb_reader *msg)
{
    int64_t legacy[4] = {0, 0, 0, 0};
    int has_legacy = 0;
    pb_reader r = *msg;
    pb_field f;
    facet_status s;

    memset(b, 0, sizeof *b);
    b->msg = *msg;
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        if (f.number >= BLOB_NUM && f.number <= BLOB_WIDTH) {
            if ((s = pb_expect(msg, &f, PB_VARINT, "blob dimension")))
                return s;
            legacy[f.number - BLOB_NUM] = pb_int64(&f);
            has_legacy = 1;
        } else if (f.number == BLOB_SHAPE) {
            // BlobShape; a repeated occurrence merges, appending dims.
            pb_reader sh;
            int64_t *dims;
            size_t n;

            if ((s = pb_sub(&sh, msg, &f)) ||
                (s = pb_varints(&dims, &n, &sh, SHAPE_DIM,
                                CAFFE_MAX_BLOB_DIMS)))
                return s;
            if (n > (size_t)(CAFFE_MAX_BLOB_DIMS - b->ndim)) {
                facet_free(dims);
                return facet_fail(FACET_E_TOO_LARGE, "%s: byte %llu: blob "
                                  "shape has more than %d dims", msg->name,
                                  (unsigned long long)f.offset,
                                  CAFFE_MAX_BLOB_DIMS);
            }
            memcpy(b->dims + b->ndim, dims, n * sizeof *dims);
            b->ndim += (int)n;
            facet_free(dims);
        }
    }
    if (s != FACET_OK)
        return s;
    // Caffe takes the legacy four whenever any of them is given.
    if (has_legacy) {
        b->ndim = 4;
        memcpy(b->dims, legacy, sizeof legacy);
        b->legacy = 1;
    }

    // Count, with each dim in range.
    b->count = b->ndim ? 1 : 0;
    for (int i = 0; i < b->ndim; i++) {
        if (b->dims[i] < 0 || b->dims[i] > CAFFE_MAX_COUNT ||
            (b->dims[i] && b->count > CAFFE_MAX_COUNT / b->dims[i]))
            return facet_fail(FACET_E_TOO_LARGE, "%s: byte %llu: blob "
                              "dimension %d is %lld (or the count exceeds "
                              "%lld)", msg->name,
                              (unsigned long long)pb_offset(msg, msg->pos),
                              i, (long long)b->dims[i],
                              (long long)CAFFE_MAX_COUNT);
        b->count *= b->dims[i];
    }
    return FACET_OK;
}

// One layer of either format.
static facet_status read_layer(caffe_layer *l, const pb_reader *msg, int v1)
{
    const uint32_t f_name = v1 ? V1_NAME : L_NAME;
    const uint32_t f_blobs = v1 ? V1_BLOBS : L_BLOBS;
    pb_reader r = *msg;
    pb_field f;
    facet_status s;

    memset(l, 0, sizeof *l);
    l->msg = *msg;
    l->v1 = v1;
    snprintf(l->type, sizeof l->type, "(none)");
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        if (f.number == f_name) {
            if ((s = pb_expect(msg, &f, PB_BYTES, "layer name")))
                return s;
            l->name = f.data;
            l->name_len = f.size;
        } else if (v1 && f.number == V1_TYPE) {
            int32_t t;

            if ((s = pb_int32(&t, msg, &f, "V1 layer type")))
                return s;
            if (t >= 0 && t < V1_TYPE_COUNT && v1_types[t])
                snprintf(l->type, sizeof l->type, "%s", v1_types[t]);
            else
                snprintf(l->type, sizeof l->type, "(V1 type %d)", (int)t);
        } else if (!v1 && f.number == L_TYPE) {
            char buf[80];

            if ((s = pb_expect(msg, &f, PB_BYTES, "layer type")))
                return s;
            snprintf(l->type, sizeof l->type, "%s",
                     show(buf, f.data, f.size));
        } else if (f.number == f_blobs) {
            pb_reader b;

            if (l->nblobs == CAFFE_MAX_BLOBS)
                return facet_fail(FACET_E_TOO_LARGE, "%s: byte %llu: layer"
                                  " has more than %d blobs", msg->name,
                                  (unsigned long long)f.offset,
                                  CAFFE_MAX_BLOBS);
            if ((s = pb_sub(&b, msg, &f)) ||
                (s = read_blob(&l->blobs[l->nblobs], &b)))
                return s;
            l->nblobs++;
        } else if (v1 && f.number == V1_V0LAYER) {
            return facet_fail(FACET_E_UNSUPPORTED, "%s: byte %llu: a V0 "
                              "layer (the pre-2014 format); upgrade the "
                              "model with Caffe's upgrade_net_proto_binary",
                              msg->name, (unsigned long long)f.offset);
        }
    }
    return s;
}

void caffe_net_free(caffe_net *net)
{
    if (net)
        facet_free(net->layers);
}

// Parse a NetParameter at `data`: its name and every layer's name, type and
// blob shapes (blob values are decoded later, on demand).
facet_status caffe_parse(caffe_net *net, const uint8_t *data, size_t size,
                         const char *file)
{
    pb_reader r, top;
    pb_field f;
    facet_status s;
    int n_v1 = 0, n_new = 0, i = 0;

    memset(net, 0, sizeof *net);
    net->file = file;
    pb_init(&top, data, size, file);

    // First pass: check the top-level structure and count the layers.
    r = top;
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        if (f.number == NET_LAYERS_V1 || f.number == NET_LAYER) {
            if ((s = pb_expect(&top, &f, PB_BYTES, "layer")))
                return s;
            if (n_v1 + n_new == CAFFE_MAX_LAYERS)
                return facet_fail(FACET_E_TOO_LARGE, "%s: more than %d "
                                  "layers", file, CAFFE_MAX_LAYERS);
            *(f.number == NET_LAYER ? &n_new : &n_v1) += 1;
        } else if (f.number == NET_NAME) {
            if ((s = pb_expect(&top, &f, PB_BYTES, "net name")))
                return s;
            net->name = f.data;
            net->name_len = f.size;
        }
    }
    if (s != FACET_OK)
        return s;
    if (n_v1 && n_new)
        return facet_fail(FACET_E_FORMAT, "%s: has both the V1 `layers` "
                          "(%d) and the new `layer` (%d) lists", file, n_v1,
                          n_new);
    if (!n_v1 && !n_new)
        return facet_fail(FACET_E_FORMAT, "%s: no layers (not a Caffe "
                          "NetParameter?)", file);
    net->v1 = n_v1 > 0;
    net->layers = facet_calloc((size_t)(n_v1 + n_new) * sizeof *net->layers);
    if (!net->layers)
        return facet_fail(FACET_E_NOMEM, "%s: %d layers", file, n_v1 + n_new);

    // Second pass: each layer.
    r = top;
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        pb_reader lm;

        if (f.number != NET_LAYERS_V1 && f.number != NET_LAYER)
            continue;
        if ((s = pb_sub(&lm, &top, &f)) ||
            (s = read_layer(&net->layers[i], &lm, net->v1))) {
            caffe_net_free(net);
            net->layers = NULL;
            return s;
        }
        i++;
    }
    net->nlayers = i;
    return s;
}

// A layer by name: its index, or -1 (with FACET_E_FORMAT detail if the
// name occurs twice).
static int find_layer(const caffe_net *net, const char *name, int *dup)
{
    int at = -1;

    *dup = 0;
    for (int i = 0; i < net->nlayers; i++) {
        if (!name_is(&net->layers[i], name))
            continue;
        if (at >= 0)
            *dup = 1;
        at = i;
    }
    return at;
}

// The values of a blob as float32: `double_data` if present (as Caffe
// does), else `data`; their number must equal the shape's count.
static facet_status blob_values(float **out, const caffe_blob *b,
                                const char *layer, int index)
{
    size_t n;
    facet_status s;

    *out = NULL;
    s = pb_doubles(out, &n, &b->msg, BLOB_DOUBLE_DATA,
                   (size_t)CAFFE_MAX_COUNT);
    if (s == FACET_OK && n == 0)
        s = pb_floats(out, &n, &b->msg, BLOB_DATA, (size_t)CAFFE_MAX_COUNT);
    if (s != FACET_OK)
        return s;
    if ((int64_t)n != b->count) {
        facet_free(*out);
        *out = NULL;
        return facet_fail(FACET_E_FORMAT, "%s: layer %s blob %d (byte "
                          "%llu): %zu values for a shape of %lld",
                          b->msg.name, layer, index,
                          (unsigned long long)pb_offset(&b->msg, b->msg.pos),
                          n, (long long)b->count);
    }

    // A trained network has finite weights; anything else is damage (or
    // a double beyond float range).
    for (size_t i = 0; i < n; i++) {
        if (!isfinite((*out)[i])) {
            facet_fail(FACET_E_FORMAT, "%s: layer %s blob %d (byte %llu): "
                       "value %zu is not finite", b->msg.name, layer,
                       index,
                       (unsigned long long)pb_offset(&b->msg, b->msg.pos),
                       i);
            facet_free(*out);
            *out = NULL;
            return FACET_E_FORMAT;
        }
    }
    return FACET_OK;
}

void caffe_dump(FILE *fp, const caffe_net *net)
{
    char buf[80];

    fprintf(fp, "%s: net \"%s\", %d layers (%s)\n", net->file,
            net->name ? show(buf, net->name, net->name_len) : "",
            net->nlayers, net->v1 ? "V1 `layers`, field 2"
                                  : "`layer`, field 100");
    for (int i = 0; i < net->nlayers; i++) {
        const caffe_layer *l = &net->layers[i];

        fprintf(fp, "%4d  byte %-10llu %-16s %-14s", i,
                (unsigned long long)pb_offset(&l->msg, l->msg.pos),
                show(buf, l->name ? l->name : (const uint8_t *)"",
                     l->name_len), l->type);
        for (int j = 0; j < l->nblobs; j++) {
            const caffe_blob *b = &l->blobs[j];

            fputs(j ? ", " : "  ", fp);
            for (int k = 0; k < b->ndim; k++)
                fprintf(fp, "%s%lld", k ? "x" : "", (long long)b->dims[k]);
            if (!b->ndim)
                fputs("(no shape)", fp);
            if (b->legacy)
                fputs(" (legacy)", fp);
        }
        fputc('\n', fp);
    }
}

// ---------------------------------------------------------------------------
// VGG-Face

#define VGG_CONVS 13
#define VGG_LAYERS 16      // 13 convolutions, fc6, fc7, fc8
#define VGG_CLASSES 2622   // identities of fc8

static const struct vgg_layer {
    const char *name;
    int64_t width;         // official output channels / features
} vgg[VGG_LAYERS] = {
    {"conv1_1", 64},  {"conv1_2", 64},  {"conv2_1", 128}, {"conv2_2", 128},
    {"conv3_1", 256}, {"conv3_2", 256}, {"conv3_3", 256}, {"conv4_1", 512},
    {"conv4_2", 512}, {"conv4_3", 512}, {"conv5_1", 512}, {"conv5_2", 512},
    {"conv5_3", 512}, {"fc6", 4096},    {"fc7", 4096},    {"fc8", 2622},
};

static const char *const vgg_pools[5] = {"pool1", "pool2", "pool3", "pool4",
                                         "pool5"};

// Metadata of the converted model (method-spec 5.2): the authors' average
// face (their MatConvNet meta.normalization.averageImage, in R, G, B order
// 129.186279296875, 104.76238250732422, 93.59396362304688) re-ordered for
// the Caffe model's B, G, R input.
static const float vgg_mean_bgr[3] = {93.59396362304688f, 104.76238250732422f,
                                      129.186279296875f};
#define VGG_SOURCE "VGG_FACE.caffemodel (Parkhi et al. 2015)"
#define VGG_LICENSE "CC-BY-NC-4.0: the VGG Face descriptor models of the " \
    "Visual Geometry Group, University of Oxford " \
    "(www.robots.ox.ac.uk/~vgg/software/vgg_face/), for research and " \
    "non-commercial use only"

typedef struct caffe_opts {
    int fc;          // also convert fc6, fc7, fc8
    int any_width;   // accept other channel widths (narrow test models)
} caffe_opts;

// A layer's parameter messages (convolution_param, pooling_param,
// inner_product_param) merged over repeated occurrences as protobuf does:
// the last value of each scalar field wins, repeated fields accumulate.
#define PARAM_FIELDS 32
typedef struct layer_params {
    int present;
    int64_t last[PARAM_FIELDS];     // last varint value, -1 when not given
    int nrep[PARAM_FIELDS];         // repeated field: values seen
    int64_t rep[PARAM_FIELDS][2];   // its first two values
    int mixed[PARAM_FIELDS];        // more than two, or values differ
} layer_params;

static facet_status merge_params(layer_params *p, const caffe_layer *l,
                                 uint32_t field, const uint32_t *repeated,
                                 int nrepeated)
{
    pb_reader r = l->msg;
    pb_field f;
    facet_status s;

    memset(p, 0, sizeof *p);
    for (int i = 0; i < PARAM_FIELDS; i++)
        p->last[i] = -1;
    while ((s = pb_next(&r, &f)) == FACET_OK && f.number) {
        pb_reader m, q;
        pb_field g;

        if (f.number != field)
            continue;
        if ((s = pb_sub(&m, &l->msg, &f)) != FACET_OK)
            return s;
        p->present = 1;

        // Repeated fields, packed or not.
        for (int i = 0; i < nrepeated; i++) {
            uint32_t k = repeated[i];
            int64_t *v;
            size_t n;

            if ((s = pb_varints(&v, &n, &m, k, 64)) != FACET_OK)
                return s;
            for (size_t j = 0; j < n; j++) {
                if (p->nrep[k] < 2)
                    p->rep[k][p->nrep[k]] = v[j];
                else
                    p->mixed[k] = 1;
                p->nrep[k]++;
            }
            facet_free(v);
        }

        // Scalars: the last varint of each field number.
        q = m;
        while ((s = pb_next(&q, &g)) == FACET_OK && g.number)
            if (g.wire == PB_VARINT && g.number < PARAM_FIELDS)
                p->last[g.number] = pb_int64(&g);
        if (s != FACET_OK)
            return s;
    }
    return s;
}

// An (h, w) pair from the _h/_w scalars if either is given, else from the
// repeated (or single) field: none -> dflt, one value -> both, two -> h, w.
static int pair_of(int64_t out[2], const layer_params *p, uint32_t f_hw,
                   uint32_t f_h, uint32_t f_w, int64_t dflt)
{
    if (p->last[f_h] >= 0 || p->last[f_w] >= 0) {
        out[0] = p->last[f_h] >= 0 ? p->last[f_h] : dflt;
        out[1] = p->last[f_w] >= 0 ? p->last[f_w] : dflt;
        return 1;
    }
    if (p->mixed[f_hw] || p->nrep[f_hw] > 2)
        return 0;
    if (p->nrep[f_hw] == 0) {
        // Not repeated in this message (pooling's kernel_size, stride and
        // pad are plain scalars).
        out[0] = out[1] = p->last[f_hw] >= 0 ? p->last[f_hw] : dflt;
        return 1;
    }
    out[0] = p->rep[f_hw][0];
    out[1] = p->rep[f_hw][p->nrep[f_hw] - 1];
    return 1;
}

static facet_status bad_param(const caffe_net *net, const char *layer,
                              const char *what, const int64_t got[2],
                              int64_t want)
{
    return facet_fail(FACET_E_FORMAT, "%s: layer %s: %s is %lld x %lld, "
                      "VGG-Face has %lld", net->file, layer, what,
                      (long long)got[0], (long long)got[1], (long long)want);
}

// Convolution: 3x3, pad 1, stride 1, dilation 1, one group, with bias.
static facet_status check_conv(const caffe_net *net, const caffe_layer *l,
                               const char *name, int64_t cout)
{
    static const uint32_t rep[] = {CONV_PAD, CONV_KERNEL, CONV_STRIDE,
                                   CONV_DILATION};
    int64_t v[2];
    layer_params p;
    facet_status s;

    s = merge_params(&p, l, l->v1 ? V1_CONV : L_CONV, rep, 4);
    if (s != FACET_OK || !p.present)
        return s;
    if (p.last[CONV_NUM_OUTPUT] >= 0 && p.last[CONV_NUM_OUTPUT] != cout)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: num_output %lld "
                          "but the weight blob has %lld outputs", net->file,
                          name, (long long)p.last[CONV_NUM_OUTPUT],
                          (long long)cout);
    if (p.last[CONV_BIAS_TERM] == 0 || p.last[CONV_GROUP] > 1 ||
        (p.last[CONV_AXIS] >= 0 && p.last[CONV_AXIS] != 1))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: bias_term %lld, "
                          "group %lld, axis %lld; VGG-Face has 1, 1, 1",
                          net->file, name, (long long)p.last[CONV_BIAS_TERM],
                          (long long)p.last[CONV_GROUP],
                          (long long)p.last[CONV_AXIS]);
    if (!pair_of(v, &p, CONV_KERNEL, CONV_KERNEL_H, CONV_KERNEL_W, 0) ||
        v[0] != 3 || v[1] != 3)
        return bad_param(net, name, "kernel", v, 3);
    if (!pair_of(v, &p, CONV_PAD, CONV_PAD_H, CONV_PAD_W, 0) || v[0] != 1 ||
        v[1] != 1)
        return bad_param(net, name, "pad", v, 1);
    if (!pair_of(v, &p, CONV_STRIDE, CONV_STRIDE_H, CONV_STRIDE_W, 1) ||
        v[0] != 1 || v[1] != 1)
        return bad_param(net, name, "stride", v, 1);
    v[0] = v[1] = p.nrep[CONV_DILATION] ? p.rep[CONV_DILATION][0] : 1;
    if (p.mixed[CONV_DILATION] || v[0] != 1 ||
        (p.nrep[CONV_DILATION] == 2 && p.rep[CONV_DILATION][1] != 1))
        return bad_param(net, name, "dilation", v, 1);
    return FACET_OK;
}

// Inner product: with bias, weights out x in (not transposed).
static facet_status check_ip(const caffe_net *net, const caffe_layer *l,
                             const char *name, int64_t out)
{
    layer_params p;
    facet_status s = merge_params(&p, l, l->v1 ? V1_IP : L_IP, NULL, 0);

    if (s != FACET_OK || !p.present)
        return s;
    if ((p.last[IP_NUM_OUTPUT] >= 0 && p.last[IP_NUM_OUTPUT] != out) ||
        p.last[IP_BIAS_TERM] == 0 || p.last[IP_TRANSPOSE] > 0 ||
        (p.last[IP_AXIS] >= 0 && p.last[IP_AXIS] != 1))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: inner product "
                          "num_output %lld, bias_term %lld, transpose %lld, "
                          "axis %lld; VGG-Face has %lld, 1, 0, 1", net->file,
                          name, (long long)p.last[IP_NUM_OUTPUT],
                          (long long)p.last[IP_BIAS_TERM],
                          (long long)p.last[IP_TRANSPOSE],
                          (long long)p.last[IP_AXIS], (long long)out);
    return FACET_OK;
}

// Pooling, where the file has the layer: max, 2x2, stride 2, no padding.
static facet_status check_pool(const caffe_net *net, const char *name)
{
    const caffe_layer *l;
    int64_t v[2];
    layer_params p;
    facet_status s;
    int dup, i = find_layer(net, name, &dup);

    if (i < 0)
        return FACET_OK;
    l = &net->layers[i];
    if (dup || strcmp(l->type, "Pooling"))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s is %s%s, VGG-Face's"
                          " is one max-pooling layer", net->file, name,
                          l->type, dup ? " (and occurs twice)" : "");
    s = merge_params(&p, l, l->v1 ? V1_POOL : L_POOL, NULL, 0);
    if (s != FACET_OK || !p.present)
        return s;
    if (p.last[POOL_POOL] > 0 || p.last[POOL_GLOBAL] > 0)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: pool method %lld "
                          "(global %lld); VGG-Face uses MAX (0)", net->file,
                          name, (long long)p.last[POOL_POOL],
                          (long long)p.last[POOL_GLOBAL]);
    pair_of(v, &p, POOL_KERNEL, POOL_KERNEL_H, POOL_KERNEL_W, 0);
    if (v[0] != 2 || v[1] != 2)
        return bad_param(net, name, "pooling kernel", v, 2);
    pair_of(v, &p, POOL_STRIDE, POOL_STRIDE_H, POOL_STRIDE_W, 1);
    if (v[0] != 2 || v[1] != 2)
        return bad_param(net, name, "pooling stride", v, 2);
    pair_of(v, &p, POOL_PAD, POOL_PAD_H, POOL_PAD_W, 0);
    if (v[0] != 0 || v[1] != 0)
        return bad_param(net, name, "pooling pad", v, 0);
    return FACET_OK;
}

static void shape_str(char *buf, size_t n, const caffe_blob *b)
{
    size_t o = 0;

    buf[0] = 0;
    for (int k = 0; k < b->ndim && o < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", k ? " x " : "",
                              (long long)b->dims[k]);
    if (!b->ndim)
        snprintf(buf, n, "(none)");
}

// One layer of vgg[]: find it, check it and its blobs, write its tensors.
// `cin` is its input channels (features for fc6); *width gets its output
// width; *last is the index of the previous layer found (order check).
static facet_status take_layer(wt_writer *wr, const caffe_net *net, int k,
                               int64_t cin, int64_t *width, int *last,
                               const caffe_opts *o)
{
    const char *name = vgg[k].name;
    const int fc = k >= VGG_CONVS;
    const caffe_layer *l;
    const caffe_blob *wb, *bb;
    int64_t wd[4], bd, out;
    char got[96], tname[32];
    float *vals = NULL;
    facet_status s;
    int bias_ok, dup, i = find_layer(net, name, &dup);

    // The layer: present once, in order, of the right type, two blobs.
    if (i < 0)
        return facet_fail(FACET_E_NOT_FOUND, "%s: no layer named %s (list "
                          "the file's layers with convert_caffe --dump)",
                          net->file, name);
    l = &net->layers[i];
    if (dup)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s occurs more than "
                          "once", net->file, name);
    if (i <= *last)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s (layer %d) comes "
                          "before %s (layer %d)", net->file, name, i,
                          vgg[k - 1].name, *last);
    *last = i;
    if (strcmp(l->type, fc ? "InnerProduct" : "Convolution"))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s is of type %s, "
                          "expected %s", net->file, name, l->type,
                          fc ? "InnerProduct" : "Convolution");
    if (l->nblobs != 2)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s has %d blobs, "
                          "expected 2 (weight, bias)", net->file, name,
                          l->nblobs);
    wb = &l->blobs[0];
    bb = &l->blobs[1];

    // Weight shape. Convolution: cout x cin x 3 x 3. Inner product:
    // out x in, or (1, 1, out, in) in the legacy 4-D form.
    shape_str(got, sizeof got, wb);
    if (fc) {
        int at = wb->ndim - 2;

        for (int j = 0; j < at; j++)
            if (!wb->legacy || wb->dims[j] != 1)
                at = -1;
        if (at < 0 || (wb->ndim != 2 && !wb->legacy))
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: weight blob "
                              "is %s, expected out x in", net->file, name,
                              got);
        wd[0] = wb->dims[at];
        wd[1] = wb->dims[at + 1];
        out = wd[0];
        if (wd[1] != cin)
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: weight blob "
                              "is %s: %lld inputs, the layer before gives "
                              "%lld", net->file, name, got, (long long)wd[1],
                              (long long)cin);
    } else {
        if (wb->ndim != 4 || wb->dims[2] != 3 || wb->dims[3] != 3)
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: weight blob "
                              "is %s, expected cout x cin x 3 x 3",
                              net->file, name, got);
        memcpy(wd, wb->dims, sizeof wd);
        out = wd[0];
        if (wd[1] != cin)
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: weight blob "
                              "is %s: %lld input channels, the layer before"
                              " gives %lld", net->file, name, got,
                              (long long)wd[1], (long long)cin);
    }
    if (out < 1 || ((!o->any_width || k == VGG_LAYERS - 1) &&
                    out != vgg[k].width))
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: weight blob is %s:"
                          " %lld outputs, VGG-Face has %lld", net->file,
                          name, got, (long long)out,
                          (long long)vgg[k].width);

    // Bias: `out` values; any leading dims must be 1 (legacy 1x1x1xN).
    shape_str(got, sizeof got, bb);
    bias_ok = bb->ndim >= 1 && bb->dims[bb->ndim - 1] == out;
    for (int j = 0; j + 1 < bb->ndim; j++)
        bias_ok &= bb->dims[j] == 1;
    if (!bias_ok)
        return facet_fail(FACET_E_FORMAT, "%s: layer %s: bias blob is %s, "
                          "expected %lld", net->file, name, got,
                          (long long)out);
    bd = out;

    // Layer parameters, where the file records them.
    s = fc ? check_ip(net, l, name, out) : check_conv(net, l, name, out);
    if (s != FACET_OK)
        return s;

    // The values, each blob straight into the writer.
    snprintf(tname, sizeof tname, "%s.weight", name);
    if ((s = blob_values(&vals, wb, name, 0)) != FACET_OK)
        return s;
    s = wt_writer_tensor(wr, tname, WT_F32, fc ? 2 : 4, wd, vals);
    facet_free(vals);
    if (s != FACET_OK)
        return s;
    snprintf(tname, sizeof tname, "%s.bias", name);
    if ((s = blob_values(&vals, bb, name, 1)) != FACET_OK)
        return s;
    s = wt_writer_tensor(wr, tname, WT_F32, 1, &bd, vals);
    facet_free(vals);
    *width = out;
    return s;
}

// Check the parsed net as VGG-Face and write `out`.
facet_status caffe_convert_vgg(const caffe_net *net, const char *out,
                               const caffe_opts *o)
{
    const int64_t input_shape[3] = {3, 224, 224};
    const int nlayers = o->fc ? VGG_LAYERS : VGG_CONVS;
    int64_t cin = 3, width = 0;
    int official = 1, last = -1;
    wt_writer *wr;
    facet_status s;
    char buf[80];

    for (int p = 0; p < 5; p++)
        if ((s = check_pool(net, vgg_pools[p])) != FACET_OK)
            return s;
    if ((s = wt_writer_create(&wr, out)) != FACET_OK)
        return s;

    // The layers in order, each one's input the previous one's output;
    // pool5 turns conv5_3's 14 x 14 into 7 x 7 for fc6.
    for (int k = 0; k < nlayers; k++) {
        if (k == VGG_CONVS)
            cin *= 7 * 7;
        s = take_layer(wr, net, k, cin, &width, &last, o);
        if (s != FACET_OK) {
            wt_writer_free(wr);
            return s;
        }
        official &= width == vgg[k].width;
        cin = width;
    }

    // Metadata: the model and its input (method-spec 5.2).
    s = wt_writer_meta_str(wr, "name", official ? "vggface"
                                                : "vggface-narrow");
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "source", VGG_SOURCE);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "license", VGG_LICENSE);
    if (s == FACET_OK)
        s = wt_writer_meta(wr, "input_shape", WT_INT64, 3, input_shape);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "channel_order", "BGR");
    if (s == FACET_OK)
        s = wt_writer_meta(wr, "mean", WT_FLOAT32, 3, vgg_mean_bgr);
    if (s == FACET_OK)
        s = wt_writer_meta_str(wr, "caffe.layer_format",
                               net->v1 ? "V1LayerParameter"
                                       : "LayerParameter");
    if (s == FACET_OK && net->name && net->name_len)
        s = wt_writer_meta_str(wr, "caffe.net_name",
                               show(buf, net->name, net->name_len));
    if (s == FACET_OK && o->fc) {
        const int64_t classes = VGG_CLASSES;

        s = wt_writer_meta(wr, "vggface.classes", WT_INT64, 1, &classes);
    }
    if (s != FACET_OK) {
        wt_writer_free(wr);
        return s;
    }
    return wt_writer_finish(wr);
}

// Read `in`, convert it, write `out`.
facet_status caffe_convert_file(const char *in, const char *out,
                                const caffe_opts *o)
{
    pb_file f;
    caffe_net net;
    facet_status s;

    if ((s = pb_file_open(&f, in, CAFFE_MAX_FILE)) != FACET_OK)
        return s;
    s = caffe_parse(&net, f.data, f.size, in);
    if (s == FACET_OK)
        s = caffe_convert_vgg(&net, out, o);
    caffe_net_free(&net);
    pb_file_close(&f);
    return s;
}

#ifndef CONVERT_CAFFE_NO_MAIN
static int usage(FILE *f, int status)
{
    fprintf(f,
            "usage: convert_caffe [--fc] [--any-width] IN.caffemodel "
            "OUT.fct\n"
            "       convert_caffe --dump IN.caffemodel\n"
            "  --fc         also convert fc6, fc7, fc8 (adds about 520 MB)\n"
            "  --any-width  accept narrower layers (test models)\n");
    return status;
}

int main(int argc, char **argv)
{
    caffe_opts o = {0};
    const char *files[2];
    int nfiles = 0, dump = 0;
    facet_status s;

    if (cv_wants_help(argc, argv))
        return usage(stdout, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fc"))
            o.fc = 1;
        else if (!strcmp(argv[i], "--any-width"))
            o.any_width = 1;
        else if (!strcmp(argv[i], "--dump"))
            dump = 1;
        else if (argv[i][0] == '-' || nfiles == 2)
            return usage(stderr, 2);
        else
            files[nfiles++] = argv[i];
    }
    if (nfiles != (dump ? 1 : 2))
        return usage(stderr, 2);
    if (dump) {
        pb_file f;
        caffe_net net;

        if ((s = pb_file_open(&f, files[0], CAFFE_MAX_FILE)) == FACET_OK) {
            if ((s = caffe_parse(&net, f.data, f.size, files[0])) ==
                FACET_OK)
                caffe_dump(stdout, &net);
            caffe_net_free(&net);
            pb_file_close(&f);
        }
    } else if ((s = caffe_convert_file(files[0], files[1], &o)) ==
               FACET_OK) {
        fprintf(stderr, "convert_caffe: %s -> %s (conv1_1 .. conv5_3%s)\n",
                files[0], files[1], o.fc ? ", fc6 .. fc8" : "");
    }
    if (s != FACET_OK) {
        cv_report_error("convert_caffe");
        return 1;
    }
    return 0;
}
#endif

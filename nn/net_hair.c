// net_hair.c - the MediaPipe hair segmentation network (see net_hair.h):
// reads the op list "hair.graph" of a converted weight file, checks every
// op's weights and shapes, builds prepared convolutions, plans the
// activation memory once and runs the ops in order.
//
// Create:
//   1. parse the graph text into ops over named values, inferring each
//      value's C x H x W and checking it against the line's shape=;
//   2. fuse a convolution (or transposed convolution) with the PReLU that
//      is the sole consumer of its output (the raw output is then never
//      stored), unless that output is asked for in `keep`;
//   3. plan buffers: walking the ops in order, each output takes a free
//      slot of the same element type (best fit, growing the largest free
//      one if none fits), PReLU and add write over an input that dies at
//      them, and a value's slot is freed after its last use unless it is
//      kept;
//   4. one arena holds every slot; convolution scratch is a separate block
//      sized for the thread count at create and regrown in forward if the
//      thread count went up.
// Forward: take the NCHW input as it is (nn_hair_input_rgb8 builds one
// from 8-bit RGB), run the ops, softmax over the two logit channels, copy
// p(hair) out.
//
// ref: mediapipe/util/tflite/operations/{max_pool_argmax,max_unpooling,
//      transpose_conv_bias}.cc for the custom ops' semantics
// ref: method-spec section 6.4
//
// Limitations:
// - Planning is a greedy best fit, not optimal: about 11 MB for batch 1,
//   of which the kept logits and softmax are 4 MB.
// - The graph text is trusted only after validation here; unknown kinds,
//   attributes or names fail create with a detail naming the line.
#include "net_hair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPS 4096
#define MAX_VALUES 8192
#define MAX_LINE 1024
#define MAX_IN 8      // inputs of one op (concatenation)
#define MAX_ELEMS ((size_t)1 << 26)   // floats in one value of one image

typedef enum op_kind {
    OP_CONV,
    OP_DWCONV,
    OP_DECONV,
    OP_PRELU,
    OP_ADD,
    OP_CONCAT,
    OP_MAXPOOL,
    OP_UNPOOL
} op_kind;

typedef struct value {
    char *name;
    int c, h, w;        // batch-1 shape
    int is_index;       // argmax indices (int32), not a feature map
    int uses;           // consumers among the ops
    int last_use;       // op index of the last consumer, -1 none
    int keep;           // readable after forward
    int stored;         // 0: a fused convolution's raw output
    int slot;           // buffer slot; -1 for the graph input
    int producer;       // op index; -1 for the graph input
    nn_tensor t;        // view, valid after forward
    int32_t *idx;       // is_index: the argmax view
} value;

typedef struct hop {
    op_kind kind;
    int nin, nout;
    int in[MAX_IN], out[2];
    int sh, sw, dh, dw;       // stride, dilation
    int kh, kw;               // window of pooling
    int same;                 // TF padding: 1 SAME, 0 VALID
    la_act act;
    const float *weight, *bias, *alpha;
    nn_conv *conv;            // conv, dwconv
    nn_deconv_desc dd;        // deconv
    nn_pool_desc pd;          // maxpool
    nn_conv_desc cd;          // conv, dwconv (before nn_conv_create)
    int skip;                 // a PReLU fused into its producer
    int dst;                  // value written (the PReLU's output if fused)
} hop;

typedef struct slot {
    int is_index;
    size_t elems;       // capacity for `batch` images
    int busy;
    void *ptr;
} slot;

struct nn_hair {
    const wt_file *wf;
    int batch;
    int nvalues, nops, nslots;
    value *values;
    hop *ops;
    slot *slots;
    int input, logits, softmax;   // value ids
    nn_arena arena;
    void *scratch;
    size_t scratch_bytes;
};

// ---------------------------------------------------------------------------
// Graph parsing

static int find_value(const nn_hair *h, const char *name)
{
    for (int i = 0; i < h->nvalues; i++)
        if (strcmp(h->values[i].name, name) == 0)
            return i;
    return -1;
}

static facet_status add_value(int *id, nn_hair *h, const char *name, int c,
                              int hh, int ww, int line)
{
    value *v;

    if (find_value(h, name) >= 0)
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: value "
                          "\"%s\" is defined twice", wt_path(h->wf), line,
                          name);
    if (h->nvalues >= MAX_VALUES)
        return facet_fail(FACET_E_TOO_LARGE, "%s: hair.graph: more than %d "
                          "values", wt_path(h->wf), MAX_VALUES);
    v = &h->values[h->nvalues];
    memset(v, 0, sizeof(*v));
    v->name = malloc(strlen(name) + 1);
    if (!v->name)
        return facet_fail(FACET_E_NOMEM, "out of memory");
    strcpy(v->name, name);
    v->c = c;
    v->h = hh;
    v->w = ww;
    v->last_use = -1;
    v->stored = 1;
    v->slot = -1;
    v->producer = -1;
    *id = h->nvalues++;
    return FACET_OK;
}

// Split `s` at `sep` in place into at most `max` parts; returns the count,
// or -1 when there are more or a part is empty.
static int split(char **parts, int max, char *s, char sep)
{
    int n = 0;

    for (;;) {
        char *e = strchr(s, sep);

        if (n == max)
            return -1;
        parts[n++] = s;
        if (!e)
            break;
        *e = '\0';
        s = e + 1;
    }
    for (int i = 0; i < n; i++)
        if (parts[i][0] == '\0')
            return -1;
    return n;
}

// Comma-separated integers in [lo, hi]; exactly `count` of them.
static int parse_ints(int *out, int count, const char *s, int lo, int hi)
{
    for (int i = 0; i < count; i++) {
        char *end;
        long v = strtol(s, &end, 10);

        if (end == s || v < lo || v > hi)
            return 0;
        out[i] = (int)v;
        if (i + 1 < count) {
            if (*end != ',')
                return 0;
            s = end + 1;
        } else if (*end != '\0') {
            return 0;
        }
    }
    return 1;
}

// The attributes of one line. `have` records which were given.
typedef struct attrs {
    int stride[2], dil[2], k[2], shape[3];
    int same;
    la_act act;
    unsigned have;
} attrs;

enum { A_STRIDE = 1, A_DIL = 2, A_K = 4, A_PAD = 8, A_ACT = 16,
       A_SHAPE = 32 };

static facet_status parse_attrs(attrs *a, char **tok, int ntok,
                                const char *path, int line)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < ntok; i++) {
        char *eq = strchr(tok[i], '=');
        const char *val;
        int ok = 1;

        if (!eq)
            goto bad;
        *eq = '\0';
        val = eq + 1;
        if (strcmp(tok[i], "stride") == 0) {
            ok = parse_ints(a->stride, 2, val, 1, 64);
            a->have |= A_STRIDE;
        } else if (strcmp(tok[i], "dil") == 0) {
            ok = parse_ints(a->dil, 2, val, 1, 64);
            a->have |= A_DIL;
        } else if (strcmp(tok[i], "k") == 0) {
            ok = parse_ints(a->k, 2, val, 1, 64);
            a->have |= A_K;
        } else if (strcmp(tok[i], "shape") == 0) {
            ok = parse_ints(a->shape, 3, val, 1, 1 << 16);
            a->have |= A_SHAPE;
        } else if (strcmp(tok[i], "pad") == 0) {
            ok = strcmp(val, "same") == 0 || strcmp(val, "valid") == 0;
            a->same = strcmp(val, "same") == 0;
            a->have |= A_PAD;
        } else if (strcmp(tok[i], "act") == 0) {
            if (strcmp(val, "none") == 0)
                a->act = LA_ACT_NONE;
            else if (strcmp(val, "relu") == 0)
                a->act = LA_ACT_RELU;
            else if (strcmp(val, "relu6") == 0)
                a->act = LA_ACT_RELU6;
            else
                ok = 0;
            a->have |= A_ACT;
        } else {
            ok = 0;
        }
        if (!ok)
            goto bad;
        continue;
bad:
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: bad "
                          "attribute \"%s\"", path, line, tok[i]);
    }
    return FACET_OK;
}

// The weight tensor `<out>.<sfx>` with `ndim` dims equal to `expect`
// where that is >= 0; its dims go to `got` (may be NULL).
static facet_status get_weight(const float **data, const nn_hair *h,
                               const char *out, const char *sfx, int ndim,
                               const int64_t *expect, int64_t *got)
{
    char name[WT_MAX_NAME + 1];
    const wt_tensor_info *ti;

    *data = NULL;
    if ((size_t)snprintf(name, sizeof(name), "%s.%s", out, sfx) >=
        sizeof(name))
        return facet_fail(FACET_E_FORMAT, "%s: weight name for %s is too "
                          "long", wt_path(h->wf), out);
    ti = wt_tensor_find(h->wf, name);
    if (!ti)
        return facet_fail(FACET_E_NOT_FOUND, "%s: tensor %s is missing",
                          wt_path(h->wf), name);
    if (ti->ndim != ndim)
        return facet_fail(FACET_E_FORMAT, "%s: tensor %s has %d dims, want "
                          "%d", wt_path(h->wf), name, ti->ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        if (ti->dims[i] < 1 || ti->dims[i] > 65536 ||
            (expect[i] >= 0 && ti->dims[i] != expect[i]))
            return facet_fail(FACET_E_FORMAT, "%s: tensor %s: dim %d is "
                              "%lld, want %lld", wt_path(h->wf), name, i,
                              (long long)ti->dims[i], (long long)expect[i]);
        if (got)
            got[i] = ti->dims[i];
    }
    *data = ti->data;
    return FACET_OK;
}

// Set up a convolution-like op (conv, dwconv, deconv) from its input shape
// and weights; its output shape goes to *c, *oh, *ow.
static facet_status setup_conv(nn_hair *h, hop *op, const attrs *a,
                               const char *out, int *c, int *oh, int *ow)
{
    const value *x = &h->values[op->in[0]];
    const char *path = wt_path(h->wf);
    int64_t want[4] = { -1, -1, -1, -1 }, got[4], bdim[1];
    int deconv = op->kind == OP_DECONV;
    facet_status s;

    if ((a->have & (A_STRIDE | A_PAD)) != (A_STRIDE | A_PAD) ||
        (!deconv && (a->have & (A_DIL | A_ACT)) != (A_DIL | A_ACT)))
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph: op %s lacks "
                          "stride, dil, pad or act", path, out);
    op->sh = a->stride[0];
    op->sw = a->stride[1];
    op->dh = deconv ? 1 : a->dil[0];
    op->dw = deconv ? 1 : a->dil[1];
    op->same = a->same;
    op->act = deconv ? LA_ACT_NONE : a->act;

    // Weights: conv O x I x kh x kw, dwconv O x 1 x kh x kw, deconv
    // I x O x kh x kw; bias O.
    if (deconv)
        want[0] = x->c;
    else
        want[1] = op->kind == OP_DWCONV ? 1 : x->c;
    if ((s = get_weight(&op->weight, h, out, "weight", 4, want, got)))
        return s;
    *c = (int)(deconv ? got[1] : got[0]);
    if (op->kind == OP_DWCONV && *c % x->c != 0)
        return facet_fail(FACET_E_FORMAT, "%s: %s: %d depthwise outputs for "
                          "%d inputs", path, out, *c, x->c);
    bdim[0] = *c;
    if ((s = get_weight(&op->bias, h, out, "bias", 1, bdim, NULL)))
        return s;

    if (deconv) {
        // TFLite transposed convolution: SAME crops total = max(0, k -
        // (in - 1) % s - 1) output pixels, the smaller half at the start.
        nn_deconv_desc *d = &op->dd;
        int th = 0, tw = 0;

        if (op->same) {
            th = (int)got[2] - (x->h - 1) % op->sh - 1;
            tw = (int)got[3] - (x->w - 1) % op->sw - 1;
            th = th > 0 ? th : 0;
            tw = tw > 0 ? tw : 0;
        }
        memset(d, 0, sizeof(*d));
        d->cin = x->c;
        d->cout = *c;
        d->kh = (int)got[2];
        d->kw = (int)got[3];
        d->stride_h = op->sh;
        d->stride_w = op->sw;
        d->pad_top = th / 2;
        d->pad_bottom = th - th / 2;
        d->pad_left = tw / 2;
        d->pad_right = tw - tw / 2;
        d->act = LA_ACT_NONE;
        nn_deconv_out_size(oh, ow, d, x->h, x->w);
        return FACET_OK;
    }

    // Convolution: TF SAME padding puts the extra pixel at the end.
    nn_conv_desc *d = &op->cd;

    memset(d, 0, sizeof(*d));
    d->cin = x->c;
    d->cout = *c;
    d->kh = (int)got[2];
    d->kw = (int)got[3];
    d->stride_h = op->sh;
    d->stride_w = op->sw;
    d->dil_h = op->dh;
    d->dil_w = op->dw;
    if (op->same) {
        nn_same_padding(&d->pad_top, &d->pad_bottom, x->h, d->kh,
                        d->stride_h, d->dil_h);
        nn_same_padding(&d->pad_left, &d->pad_right, x->w, d->kw,
                        d->stride_w, d->dil_w);
    }
    d->groups = op->kind == OP_DWCONV ? x->c : 1;
    d->act = op->act;
    nn_conv_out_size(oh, ow, d, x->h, x->w);
    return FACET_OK;
}

// Pooling window and its output; unpooling's match with its pool.
static facet_status setup_pool(nn_hair *h, hop *op, const attrs *a,
                               const char *out, int *c, int *oh, int *ow)
{
    const value *x = &h->values[op->in[0]];
    const char *path = wt_path(h->wf);

    if ((a->have & (A_K | A_STRIDE)) != (A_K | A_STRIDE) ||
        (op->kind == OP_MAXPOOL && !(a->have & A_PAD)))
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph: op %s lacks k, "
                          "stride or pad", path, out);
    op->kh = a->k[0];
    op->kw = a->k[1];
    op->sh = a->stride[0];
    op->sw = a->stride[1];
    op->same = a->same;
    *c = x->c;

    if (op->kind == OP_MAXPOOL) {
        nn_pool_desc *d = &op->pd;

        memset(d, 0, sizeof(*d));
        d->kh = op->kh;
        d->kw = op->kw;
        d->stride_h = op->sh;
        d->stride_w = op->sw;
        if (op->same) {
            nn_same_padding(&d->pad_top, &d->pad_bottom, x->h, d->kh,
                            d->stride_h, 1);
            nn_same_padding(&d->pad_left, &d->pad_right, x->w, d->kw,
                            d->stride_w, 1);
        }
        nn_pool_out_size(oh, ow, d, x->h, x->w);
        return FACET_OK;
    }

    // Unpooling: the indices come from a max-pool with the same window,
    // windows that tile (k == stride) and no padding, and the values have
    // the pooled shape; the output is the pool's input shape.
    const value *ix = &h->values[op->in[1]];
    const hop *pool = ix->producer >= 0 ? &h->ops[ix->producer] : NULL;
    const value *src;

    if (!ix->is_index || !pool || pool->kind != OP_MAXPOOL)
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph: %s: %s are not "
                          "max-pool indices", path, out, ix->name);
    src = &h->values[pool->in[0]];
    if (op->kh != op->sh || op->kw != op->sw || pool->kh != op->kh ||
        pool->kw != op->kw || pool->sh != op->sh || pool->sw != op->sw ||
        pool->pd.pad_top || pool->pd.pad_left || pool->pd.pad_bottom ||
        pool->pd.pad_right || ix->c != x->c || ix->h != x->h ||
        ix->w != x->w || src->c != x->c || src->h != x->h * op->kh ||
        src->w != x->w * op->kw)
        return facet_fail(FACET_E_UNSUPPORTED, "%s: hair.graph: %s does not "
                          "invert its max-pool exactly", path, out);
    *oh = src->h;
    *ow = src->w;
    return FACET_OK;
}

// One line of the graph: "KIND OUTS INS ATTR...".
static facet_status parse_line(nn_hair *h, char *line, int lineno)
{
    static const char *const kinds[] = { "conv", "dwconv", "deconv", "prelu",
                                         "add", "concat", "maxpool",
                                         "unpool" };
    // Inputs and outputs per kind (concat: 2..MAX_IN inputs).
    static const int nins[] = { 1, 1, 1, 1, 2, -1, 1, 2 };
    static const int nouts[] = { 1, 1, 1, 1, 1, 1, 2, 1 };
    const char *path = wt_path(h->wf);
    char *tok[16], *outs[2], *ins[MAX_IN];
    int ntok, nout, nin, kind = -1, c = 0, oh = 0, ow = 0;
    hop *op;
    attrs a;
    facet_status s;

    ntok = split(tok, 16, line, ' ');
    if (ntok < 3)
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: needs "
                          "KIND OUTS INS", path, lineno);
    for (int k = 0; k < (int)(sizeof(kinds) / sizeof(kinds[0])); k++)
        if (strcmp(tok[0], kinds[k]) == 0)
            kind = k;
    nout = split(outs, 2, tok[1], ',');
    nin = split(ins, MAX_IN, tok[2], ',');
    if (kind < 0 || nout != nouts[kind] ||
        (nins[kind] > 0 ? nin != nins[kind] : nin < 2))
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: unknown "
                          "op \"%s\" or wrong number of inputs or outputs",
                          path, lineno, tok[0]);
    if ((s = parse_attrs(&a, tok + 3, ntok - 3, path, lineno)) != FACET_OK)
        return s;
    if (!(a.have & A_SHAPE))
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: no "
                          "shape=", path, lineno);
    if (h->nops >= MAX_OPS)
        return facet_fail(FACET_E_TOO_LARGE, "%s: hair.graph: more than %d "
                          "ops", path, MAX_OPS);

    // Inputs: known values; only unpool's second input is indices.
    op = &h->ops[h->nops];
    memset(op, 0, sizeof(*op));
    op->kind = (op_kind)kind;
    op->nin = nin;
    op->nout = nout;
    for (int k = 0; k < nin; k++) {
        int id = find_value(h, ins[k]);
        int want_index = kind == OP_UNPOOL && k == 1;

        if (id < 0 || h->values[id].is_index != want_index)
            return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: input "
                              "\"%s\" is unknown or of the wrong kind", path,
                              lineno, ins[k]);
        op->in[k] = id;
    }

    // Shape inference per kind.
    const value *x = &h->values[op->in[0]];

    switch (op->kind) {
    case OP_CONV:
    case OP_DWCONV:
    case OP_DECONV:
        s = setup_conv(h, op, &a, outs[0], &c, &oh, &ow);
        break;
    case OP_MAXPOOL:
    case OP_UNPOOL:
        s = setup_pool(h, op, &a, outs[0], &c, &oh, &ow);
        break;
    case OP_PRELU: {
        int64_t dim[1] = { x->c };

        s = get_weight(&op->alpha, h, outs[0], "alpha", 1, dim, NULL);
        c = x->c;
        oh = x->h;
        ow = x->w;
        break;
    }
    case OP_ADD:
    case OP_CONCAT:
        c = 0;
        oh = x->h;
        ow = x->w;
        for (int k = 0; k < nin; k++) {
            const value *y = &h->values[op->in[k]];

            if (y->h != x->h || y->w != x->w ||
                (kind == OP_ADD && y->c != x->c))
                s = facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: "
                               "input shapes differ", path, lineno);
            c += y->c;
        }
        if (kind == OP_ADD)
            c = x->c;
        break;
    }
    if (s != FACET_OK)
        return s;
    if ((size_t)c * oh * ow > MAX_ELEMS)
        return facet_fail(FACET_E_TOO_LARGE, "%s: hair.graph line %d: %s is "
                          "%dx%dx%d", path, lineno, outs[0], c, oh, ow);
    if (c != a.shape[0] || oh != a.shape[1] || ow != a.shape[2])
        return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d: %s is "
                          "%dx%dx%d by inference but %dx%dx%d in the file",
                          path, lineno, outs[0], c, oh, ow, a.shape[0],
                          a.shape[1], a.shape[2]);

    // Outputs become values; inputs record their use.
    for (int k = 0; k < nout; k++) {
        int id;

        if ((s = add_value(&id, h, outs[k], c, oh, ow, lineno)))
            return s;
        h->values[id].is_index = kind == OP_MAXPOOL && k == 1;
        h->values[id].producer = h->nops;
        op->out[k] = id;
    }
    for (int k = 0; k < nin; k++) {
        h->values[op->in[k]].uses++;
        h->values[op->in[k]].last_use = h->nops;
    }
    op->dst = op->out[0];
    h->nops++;
    return FACET_OK;
}

static facet_status parse_graph(nn_hair *h)
{
    const char *path = wt_path(h->wf);
    const char *text = wt_meta_str(h->wf, "hair.graph");
    const char *in_name = wt_meta_str(h->wf, "hair.input");
    const char *out_name = wt_meta_str(h->wf, "hair.output");
    char line[MAX_LINE];
    int lineno = 0;
    facet_status s;

    if (!text || !in_name || !out_name)
        return facet_fail(FACET_E_FORMAT, "%s: no hair network graph "
                          "(metadata hair.graph, hair.input, hair.output); "
                          "convert it with convert_tflite", path);
    if ((s = add_value(&h->input, h, in_name, NN_HAIR_CHANNELS,
                       NN_HAIR_SIZE, NN_HAIR_SIZE, 0)))
        return s;

    // Lines end with '\n'; the last may not.
    while (*text) {
        const char *e = strchr(text, '\n');
        size_t len = e ? (size_t)(e - text) : strlen(text);

        lineno++;
        if (len >= sizeof(line))
            return facet_fail(FACET_E_FORMAT, "%s: hair.graph line %d is "
                              "too long", path, lineno);
        memcpy(line, text, len);
        line[len] = '\0';
        if (len > 0 && (s = parse_line(h, line, lineno)) != FACET_OK)
            return s;
        text += len + (e ? 1 : 0);
    }

    // The logits: 2 x 512 x 512, made by the graph.
    h->logits = find_value(h, out_name);
    if (h->logits < 1 || h->values[h->logits].is_index ||
        h->values[h->logits].c != 2 ||
        h->values[h->logits].h != NN_HAIR_SIZE ||
        h->values[h->logits].w != NN_HAIR_SIZE)
        return facet_fail(FACET_E_FORMAT, "%s: hair.output \"%s\" is not a "
                          "2x512x512 value of the graph", path, out_name);
    return add_value(&h->softmax, h, "softmax", 2, NN_HAIR_SIZE,
                     NN_HAIR_SIZE, lineno);
}

// ---------------------------------------------------------------------------
// Fusion and memory planning

// A convolution whose only consumer is a PReLU writes the PReLU's output.
static void fuse_prelu(nn_hair *h)
{
    for (int i = 0; i < h->nops; i++) {
        hop *op = &h->ops[i];
        value *v = &h->values[op->out[0]];
        hop *next;

        if ((op->kind != OP_CONV && op->kind != OP_DWCONV &&
             op->kind != OP_DECONV) || op->act != LA_ACT_NONE ||
            v->uses != 1 || v->keep)
            continue;
        next = &h->ops[v->last_use];
        if (next->kind != OP_PRELU)
            continue;
        op->act = LA_ACT_PRELU;
        op->alpha = next->alpha;
        op->dst = next->out[0];
        next->skip = 1;
        v->stored = 0;
    }
}

// A free slot of this element type for `elems` elements: the smallest
// that fits, else the largest free one grown, else a new one.
static int take_slot(nn_hair *h, int is_index, size_t elems)
{
    int best = -1, big = -1;

    for (int i = 0; i < h->nslots; i++) {
        slot *s = &h->slots[i];

        if (s->busy || s->is_index != is_index)
            continue;
        if (s->elems >= elems && (best < 0 || s->elems < h->slots[best].elems))
            best = i;
        if (big < 0 || s->elems > h->slots[big].elems)
            big = i;
    }
    if (best < 0 && big >= 0) {
        best = big;
        h->slots[big].elems = elems;
    }
    if (best < 0) {
        best = h->nslots++;
        h->slots[best].is_index = is_index;
        h->slots[best].elems = elems;
    }
    h->slots[best].busy = 1;
    return best;
}

static size_t value_elems(const nn_hair *h, const value *v)
{
    return (size_t)h->batch * v->c * v->h * v->w;
}

// Assign slots in op order; kept values hold theirs to the end.
static void plan(nn_hair *h)
{
    for (int i = 0; i < h->nops; i++) {
        hop *op = &h->ops[i];
        int outs[2] = { op->dst, op->nout > 1 ? op->out[1] : -1 };
        int inplace = -1;

        if (op->skip)
            continue;

        // PReLU and add may overwrite an input that dies here.
        if (op->kind == OP_PRELU || op->kind == OP_ADD)
            for (int k = 0; k < op->nin && inplace < 0; k++) {
                value *u = &h->values[op->in[k]];

                if (u->slot >= 0 && !u->keep && u->last_use == i &&
                    (op->nin < 2 || op->in[0] != op->in[1]))
                    inplace = op->in[k];
            }
        for (int k = 0; k < 2 && outs[k] >= 0; k++) {
            value *v = &h->values[outs[k]];

            v->slot = k == 0 && inplace >= 0
                          ? h->values[inplace].slot
                          : take_slot(h, v->is_index, value_elems(h, v));
        }

        // Inputs dying here and outputs nobody reads give their slots back.
        for (int k = 0; k < op->nin; k++) {
            value *u = &h->values[op->in[k]];

            if (op->in[k] != inplace && u->slot >= 0 && !u->keep &&
                u->last_use == i)
                h->slots[u->slot].busy = 0;
        }
        for (int k = 0; k < 2 && outs[k] >= 0; k++) {
            value *v = &h->values[outs[k]];

            if (v->uses == 0 && !v->keep)
                h->slots[v->slot].busy = 0;
        }
    }
    h->values[h->softmax].slot =
        take_slot(h, 0, value_elems(h, &h->values[h->softmax]));
}

// Scratch bytes for a forward call on n images with the current thread
// count.
static size_t scratch_need(const nn_hair *h, int n)
{
    size_t need = 0;

    for (int i = 0; i < h->nops; i++) {
        const hop *op = &h->ops[i];
        const value *x = &h->values[op->in[0]];
        size_t b = 0;

        if (op->skip)
            continue;
        if (op->kind == OP_CONV || op->kind == OP_DWCONV)
            b = nn_conv_scratch_size(op->conv, n, x->h, x->w);
        else if (op->kind == OP_DECONV)
            b = nn_deconv_scratch_size(&op->dd, n, x->h, x->w);
        if (b > need)
            need = b;
    }
    return need;
}

static facet_status grow_scratch(nn_hair *h, int n)
{
    size_t need = scratch_need(h, n);

    if (need <= h->scratch_bytes)
        return FACET_OK;
    facet_free(h->scratch);
    h->scratch = facet_alloc(need);
    h->scratch_bytes = h->scratch ? need : 0;
    if (!h->scratch)
        return facet_fail(FACET_E_NOMEM, "hair network: %zu bytes of "
                          "scratch", need);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Create / free

void nn_hair_free(nn_hair *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nops; i++)
        nn_conv_free(h->ops[i].conv);
    for (int i = 0; i < h->nvalues; i++)
        free(h->values[i].name);
    free(h->values);
    free(h->ops);
    free(h->slots);
    nn_arena_release_all(&h->arena);
    facet_free(h->scratch);
    free(h);
}

facet_status nn_hair_create(nn_hair **out, const wt_file *w, int batch,
                            const char *const *keep, int nkeep)
{
    nn_hair *h;
    size_t bytes = 0;
    facet_status s;

    *out = NULL;
    if (!w || batch < 1 || batch > 64 || nkeep < 0 || (nkeep && !keep))
        return facet_fail(FACET_E_ARG, "nn_hair_create: bad arguments "
                          "(batch %d, %d kept names)", batch, nkeep);
    h = calloc(1, sizeof(*h));
    if (!h)
        return facet_fail(FACET_E_NOMEM, "out of memory");
    h->wf = w;
    h->batch = batch;
    h->values = calloc(MAX_VALUES, sizeof(*h->values));
    h->ops = calloc(MAX_OPS, sizeof(*h->ops));
    h->slots = calloc(MAX_VALUES, sizeof(*h->slots));
    if (!h->values || !h->ops || !h->slots) {
        s = facet_fail(FACET_E_NOMEM, "out of memory");
        goto fail;
    }

    // Graph, kept values, fusion.
    if ((s = parse_graph(h)) != FACET_OK)
        goto fail;
    h->values[h->logits].keep = 1;
    h->values[h->softmax].keep = 1;
    for (int i = 0; i < nkeep; i++) {
        int id = keep[i] ? find_value(h, keep[i]) : -1;

        if (id < 0 || h->values[id].is_index) {
            s = facet_fail(FACET_E_NOT_FOUND, "%s: the hair network has no "
                           "feature map \"%s\"", wt_path(w),
                           keep[i] ? keep[i] : "(null)");
            goto fail;
        }
        h->values[id].keep = 1;
    }
    fuse_prelu(h);

    // Prepared convolutions (with their fused activation).
    for (int i = 0; i < h->nops; i++) {
        hop *op = &h->ops[i];

        if (op->kind == OP_CONV || op->kind == OP_DWCONV) {
            op->cd.act = op->act;
            s = nn_conv_create(&op->conv, &op->cd, op->weight, op->bias,
                               op->alpha, NN_CONV_AUTO);
            if (s != FACET_OK)
                goto fail;
        } else if (op->kind == OP_DECONV) {
            op->dd.act = op->act;
        }
    }

    // Buffers: one arena for every slot, then the scratch.
    plan(h);
    for (int i = 0; i < h->nslots; i++)
        bytes += facet_align_up(h->slots[i].elems * 4, FACET_ALIGN);
    if ((s = nn_arena_init(&h->arena, bytes)) != FACET_OK)
        goto fail;
    for (int i = 0; i < h->nslots; i++) {
        h->slots[i].ptr = nn_arena_alloc(&h->arena, h->slots[i].elems * 4);
        FACET_ASSERT(h->slots[i].ptr);
    }
    if ((s = grow_scratch(h, batch)) != FACET_OK)
        goto fail;
    *out = h;
    return FACET_OK;

fail:
    nn_hair_free(h);
    return s;
}

// ---------------------------------------------------------------------------
// Forward

static void run_op(nn_hair *h, const hop *op)
{
    value *x = &h->values[op->in[0]];
    value *y = &h->values[op->dst];

    switch (op->kind) {
    case OP_CONV:
    case OP_DWCONV:
        nn_conv_forward(op->conv, &y->t, &x->t, h->scratch);
        break;
    case OP_DECONV:
        nn_deconv_forward(&y->t, &x->t, &op->dd, op->weight, op->bias,
                          op->alpha, h->scratch);
        break;
    case OP_PRELU:
        if (y->t.data != x->t.data)
            memcpy(y->t.data, x->t.data, nn_tensor_count(&x->t) * 4);
        nn_activate(&y->t, LA_ACT_PRELU, op->alpha);
        break;
    case OP_ADD:
        nn_add(&y->t, &x->t, &h->values[op->in[1]].t, LA_ACT_NONE);
        break;
    case OP_CONCAT: {
        const nn_tensor *list[MAX_IN];

        for (int k = 0; k < op->nin; k++)
            list[k] = &h->values[op->in[k]].t;
        nn_concat_channels(&y->t, list, op->nin);
        break;
    }
    case OP_MAXPOOL:
        nn_maxpool_forward(&y->t, h->values[op->out[1]].idx, &x->t, &op->pd);
        break;
    case OP_UNPOOL:
        nn_maxunpool_forward(&y->t, &x->t, h->values[op->in[1]].idx);
        break;
    }
}

facet_status nn_hair_forward(nn_hair *h, float *prob, const nn_tensor *in)
{
    int n;
    facet_status s;

    if (!h || !in || !in->data || in->ndim != 4 || in->dim[0] < 1 ||
        in->dim[0] > h->batch || in->dim[1] != NN_HAIR_CHANNELS ||
        in->dim[2] != NN_HAIR_SIZE || in->dim[3] != NN_HAIR_SIZE)
        return facet_fail(FACET_E_ARG, "nn_hair_forward: input must be n x "
                          "4 x 512 x 512 with 1 <= n <= %d",
                          h ? h->batch : 0);
    n = in->dim[0];
    if ((s = grow_scratch(h, n)) != FACET_OK)
        return s;

    // Views of every stored value for this batch size.
    for (int i = 0; i < h->nvalues; i++) {
        value *v = &h->values[i];

        if (i == h->input) {
            v->t = *in;
        } else if (v->slot >= 0) {
            void *p = h->slots[v->slot].ptr;

            v->t = nn_tensor_4d(v->is_index ? NULL : p, n, v->c, v->h, v->w);
            v->idx = v->is_index ? p : NULL;
        }
    }

    for (int i = 0; i < h->nops; i++)
        if (!h->ops[i].skip)
            run_op(h, &h->ops[i]);

    // p(hair) = softmax over (background, hair), channel 1.
    nn_softmax_channels(&h->values[h->softmax].t, &h->values[h->logits].t);
    if (prob) {
        size_t plane = (size_t)NN_HAIR_SIZE * NN_HAIR_SIZE;
        const float *sm = h->values[h->softmax].t.data;

        for (int b = 0; b < n; b++)
            memcpy(prob + b * plane, sm + (2 * (size_t)b + 1) * plane,
                   plane * sizeof(float));
    }
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// Access

const nn_tensor *nn_hair_feature(const nn_hair *h, const char *name)
{
    int id = name ? find_value(h, name) : -1;

    if (id < 0 || !h->values[id].keep || !h->values[id].t.data) {
        facet_fail(FACET_E_NOT_FOUND, "hair network: feature map \"%s\" is "
                   "unknown, was not kept, or no forward call ran yet",
                   name ? name : "(null)");
        return NULL;
    }
    return &h->values[id].t;
}

int nn_hair_value_count(const nn_hair *h)
{
    return h->nvalues;
}

const char *nn_hair_value_name(const nn_hair *h, int i)
{
    FACET_ASSERT(i >= 0 && i < h->nvalues);
    return h->values[i].name;
}

void nn_hair_value_shape(const nn_hair *h, int i, int *c, int *hgt, int *wid)
{
    FACET_ASSERT(i >= 0 && i < h->nvalues);
    *c = h->values[i].c;
    *hgt = h->values[i].h;
    *wid = h->values[i].w;
}

size_t nn_hair_arena_bytes(const nn_hair *h)
{
    return h->arena.size + h->scratch_bytes;
}

void nn_hair_input_rgb8(float *dst, const uint8_t *rgb, size_t stride,
                        const float *prev)
{
    size_t plane = (size_t)NN_HAIR_SIZE * NN_HAIR_SIZE;

    // dst: 4 x 512 x 512; rgb: 512 rows of 512 interleaved R, G, B bytes.
    for (int y = 0; y < NN_HAIR_SIZE; y++) {
        const uint8_t *row = rgb + (size_t)y * stride;
        size_t o = (size_t)y * NN_HAIR_SIZE;

        for (int x = 0; x < NN_HAIR_SIZE; x++) {
            dst[o + x] = row[3 * x] / 255.0f;
            dst[plane + o + x] = row[3 * x + 1] / 255.0f;
            dst[2 * plane + o + x] = row[3 * x + 2] / 255.0f;
            dst[3 * plane + o + x] = prev ? prev[o + x] : 0.0f;
        }
    }
}

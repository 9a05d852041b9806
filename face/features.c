// features.c - backbone and hair feature maps from aligned crops (see
// face/features.h): loading the weight files, building the networks,
// preprocessing 8-bit crops into their inputs and copying the chosen
// layer out, batch by batch.
//
// VGG-Face: the 13 convolutions' tensors are read from the file with
// their shapes (conv1_1.weight cout x cin x 3 x 3, conv1_1.bias cout, ...,
// as tools/convert/convert_caffe.c writes them), their input widths
// checked as a chain from 3, each width at most the official one. Files
// of the official widths are used in place; narrower ones are copied into
// zero-padded official-width tensors, so padded output channels stay 0
// (zero weights and bias, then ReLU) and add only exact zeros to the real
// ones: the first channels of each map are the narrow network's.
//
// ref: method-spec 5.1-5.2 (VGG-Face to relu5_3, BGR minus the average
//      face), 6.4 (hair network input and features)
//
// Limitations:
// - The VGG-16 network is rebuilt when a run finds more threads set than
//   at its build (nn_vgg16 sizes its scratch per thread): a one-off cost
//   of transforming the weights again (a fraction of a second).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "features.h"
#include "../nn/net_faceres.h"
#include "../nn/net_hair.h"
#include "../nn/nets.h"
#include "../weights/weights.h"

#define SZ FACE_BACKBONE_SIZE
#define HS FACE_HEAD_SIZE
#define PATH_BYTES 4096
#define ID_BYTES 512
#define LAYER_BYTES 64
#define VGG_STAGES 17

// The official VGG-16 convolutions and their widths.
static const char *const vgg_conv[NN_VGG16_CONVS] = {
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
    "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
    "conv5_3"};
static const int vgg_width[NN_VGG16_CONVS] = {
    64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};

struct face_backbone {
    face_backbone_kind kind;      // VGGFACE or FACERES, never AUTO
    int batch;
    int z, h, w;                  // the map returned
    int net_z;                    // channels of the network's map (>= z)
    int desc_dim;                 // identity descriptor length
    char layer[LAYER_BYTES];
    char id[ID_BYTES];
    wt_file *wf;
    float *in;                    // batch x 3 x 224 x 224

    // faceres
    nn_faceres *fr;

    // VGG-Face
    nn_vgg16 *vgg;
    int vgg_threads;              // facet_threads() when vgg was built
    const float *params[2 * NN_VGG16_CONVS];
    float *padded;                // zero-padded weights (narrow files)
    int src[3];                   // RGB byte feeding input plane c
    float mean[3], std[3];
    int has_std;
};

struct face_hairnet {
    int batch;
    int c, h, w;
    char layer[LAYER_BYTES];
    char id[ID_BYTES];
    wt_file *wf;
    nn_hair *net;
    float *in;                    // batch x 4 x 512 x 512
};

// ---------------------------------------------------------------------------
// Shared helpers

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

// weights_dir/file into out; FACET_E_NOT_FOUND ("run <how>") when the
// file does not exist.
static facet_status weight_path(char *out, const char *weights_dir,
                                const char *file, const char *how)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s",
                     weights_dir && weights_dir[0] ? weights_dir : ".",
                     file);

    if (n < 0 || n >= PATH_BYTES)
        return facet_fail(FACET_E_ARG, "%s: weights folder path too long",
                          weights_dir);
    if (access(out, F_OK) != 0)
        return facet_fail(FACET_E_NOT_FOUND, "%s: not found; run %s", out,
                          how);
    return FACET_OK;
}

static void make_id(char *out, const wt_file *wf, const char *layer)
{
    snprintf(out, ID_BYTES, "%s@%08x:%s", base_name(wt_path(wf)),
             (unsigned)wt_file_info(wf)->index_crc, layer);
}

static facet_status check_image(const face_image *im, int size,
                                const char *what, int i)
{
    if (!im || !im->px || im->w != size || im->h != size ||
        im->stride < (size_t)3 * size)
        return facet_fail(FACET_E_ARG, "%s %d: %dx%d, must be %dx%d RGB "
                          "(rows >= %d bytes apart)", what, i,
                          im ? im->w : 0, im ? im->h : 0, size, size,
                          3 * size);
    return FACET_OK;
}

static facet_status check_layer_name(const char *layer)
{
    if (strlen(layer) >= LAYER_BYTES)
        return facet_fail(FACET_E_NOT_FOUND, "layer \"%.40s...\": name too "
                          "long", layer);
    return FACET_OK;
}

// ---------------------------------------------------------------------------
// The backbone: VGG-Face

// The input description from the file's metadata: plane c takes the RGB
// byte channel_order[c] names, minus mean[c], over std[c] if given.
static facet_status vgg_input_meta(face_backbone *b)
{
    const wt_info *in = wt_file_info(b->wf);
    const char *order = in->channel_order;

    if (!order || strlen(order) != 3 || !strchr(order, 'R') ||
        !strchr(order, 'G') || !strchr(order, 'B'))
        return facet_fail(FACET_E_FORMAT, "%s: channel_order \"%s\", "
                          "expected a permutation of RGB", wt_path(b->wf),
                          order ? order : "(none)");
    if (in->channels != 3 || !in->mean ||
        (in->height && in->height != SZ) || (in->width && in->width != SZ))
        return facet_fail(FACET_E_FORMAT, "%s: input %d x %d x %d%s; the "
                          "backbone takes 3 x %d x %d with a mean",
                          wt_path(b->wf), in->channels, in->height,
                          in->width, in->mean ? "" : " without a mean", SZ,
                          SZ);
    b->has_std = in->std != NULL;
    for (int c = 0; c < 3; c++) {
        b->src[c] = order[c] == 'R' ? 0 : order[c] == 'G' ? 1 : 2;
        b->mean[c] = in->mean[c];
        b->std[c] = b->has_std ? in->std[c] : 1.0f;
        if (!(b->std[c] > 0.0f))
            return facet_fail(FACET_E_FORMAT, "%s: std[%d] is %g",
                              wt_path(b->wf), c, (double)b->std[c]);
    }
    return FACET_OK;
}

// The 13 convolutions' weights into b->params, padded with zeros to the
// official widths when the file is narrower; widths[i] gets the file's
// output width of convolution i.
static facet_status vgg_weights(face_backbone *b, int widths[NN_VGG16_CONVS])
{
    const float *wv[NN_VGG16_CONVS], *bv[NN_VGG16_CONVS];
    size_t off[2 * NN_VGG16_CONVS + 1];
    int64_t cin = 3;
    int narrow = 0, pin, fin;

    // Shapes: a chain of widths from 3 input channels, none too wide.
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        char wname[32], bname[32];
        const wt_tensor_info *t;
        int64_t dims[4], bd;

        snprintf(wname, sizeof wname, "%s.weight", vgg_conv[i]);
        snprintf(bname, sizeof bname, "%s.bias", vgg_conv[i]);
        t = wt_tensor_find(b->wf, wname);
        if (!t || !wt_tensor_find(b->wf, bname))
            return facet_fail(FACET_E_NOT_FOUND, "%s: no tensor %s (not a "
                              "VGG-Face file written by convert_caffe?)",
                              wt_path(b->wf), t ? bname : wname);
        if (t->ndim != 4 || t->dims[0] < 1 || t->dims[0] > vgg_width[i])
            return facet_fail(FACET_E_FORMAT, "%s: %s must be cout x %lld x "
                              "3 x 3 with 1 <= cout <= %d", wt_path(b->wf),
                              wname, (long long)cin, vgg_width[i]);
        dims[0] = bd = t->dims[0];
        dims[1] = cin;
        dims[2] = dims[3] = 3;
        wv[i] = wt_tensor(b->wf, wname, 4, dims);
        bv[i] = wv[i] ? wt_tensor(b->wf, bname, 1, &bd) : NULL;
        if (!wv[i] || !bv[i])
            return FACET_E_FORMAT;   // wt_tensor's detail names both shapes
        widths[i] = (int)bd;
        narrow |= widths[i] != vgg_width[i];
        cin = bd;
    }

    // The official widths: views into the file.
    if (!narrow) {
        for (int i = 0; i < NN_VGG16_CONVS; i++) {
            b->params[2 * i] = wv[i];
            b->params[2 * i + 1] = bv[i];
        }
        return FACET_OK;
    }

    // Narrower: one zeroed block of official-width tensors (each 64-byte
    // aligned), the file's values copied into their leading rows.
    off[0] = 0;
    pin = 3;
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        size_t wn = (size_t)vgg_width[i] * pin * 9;

        off[2 * i + 1] = off[2 * i] + facet_align_up(wn, 16);
        off[2 * i + 2] = off[2 * i + 1] +
                         facet_align_up((size_t)vgg_width[i], 16);
        pin = vgg_width[i];
    }
    b->padded = facet_calloc(off[2 * NN_VGG16_CONVS] * sizeof(float));
    if (!b->padded)
        return facet_fail(FACET_E_NOMEM, "%s: padded weights",
                          wt_path(b->wf));
    pin = fin = 3;
    for (int i = 0; i < NN_VGG16_CONVS; i++) {
        float *pw = b->padded + off[2 * i];
        float *pb = b->padded + off[2 * i + 1];

        // weight: o x fin x 3 x 3 into rows of pin input channels.
        for (int o = 0; o < widths[i]; o++)
            memcpy(pw + (size_t)o * pin * 9, wv[i] + (size_t)o * fin * 9,
                   (size_t)fin * 9 * sizeof(float));
        memcpy(pb, bv[i], (size_t)widths[i] * sizeof(float));
        b->params[2 * i] = pw;
        b->params[2 * i + 1] = pb;
        pin = vgg_width[i];
        fin = widths[i];
    }
    return FACET_OK;
}

static facet_status vgg_open(face_backbone *b, const char *layer)
{
    int widths[NN_VGG16_CONVS], c = 3, h = SZ, w = SZ, found = 0, conv = 0;
    facet_status s;

    if ((s = vgg_input_meta(b)) != FACET_OK ||
        (s = vgg_weights(b, widths)) != FACET_OK)
        return s;

    // The layer's shape: the file's width, halved sides after each pool.
    for (int i = 0; i < VGG_STAGES && !found; i++) {
        const char *name = nn_vgg16_stage_name(i);

        if (!strncmp(name, "pool", 4)) {
            h /= 2;
            w /= 2;
        } else {
            b->net_z = vgg_width[conv];
            c = widths[conv++];
        }
        found = !strcmp(name, layer);
    }
    if (!found)
        return facet_fail(FACET_E_NOT_FOUND, "%s: VGG-16 has no layer "
                          "\"%s\" (conv1_1 .. conv5_3, pool1 .. pool4)",
                          wt_path(b->wf), layer);
    b->z = c;
    b->h = h;
    b->w = w;
    b->desc_dim = widths[NN_VGG16_CONVS - 1];   // pooled conv5_3

    // The network, built for the current thread count.
    b->vgg_threads = facet_threads();
    return nn_vgg16_create(&b->vgg, b->params, b->batch, SZ, SZ);
}

static void vgg_input(const face_backbone *b, float *dst,
                      const face_image *im)
{
    const size_t plane = (size_t)SZ * SZ;

    for (int c = 0; c < 3; c++)
        for (int y = 0; y < SZ; y++) {
            const uint8_t *row = im->px + (size_t)y * im->stride + b->src[c];
            float *d = dst + c * plane + (size_t)y * SZ;

            for (int x = 0; x < SZ; x++) {
                float v = (float)row[3 * x] - b->mean[c];
                d[x] = b->has_std ? v / b->std[c] : v;
            }
        }
}

// ---------------------------------------------------------------------------
// The backbone: faceres

static facet_status faceres_open(face_backbone *b, const char *layer)
{
    int id = -1;

    for (int i = 0; i < nn_faceres_value_count() && id < 0; i++)
        if (!strcmp(nn_faceres_value_name(i), layer))
            id = i;
    if (id < 0)
        return facet_fail(FACET_E_NOT_FOUND, "%s: faceres has no value "
                          "\"%s\" (see nn/net_faceres.h)", wt_path(b->wf),
                          layer);
    nn_faceres_value_shape(id, &b->z, &b->h, &b->w);
    b->net_z = b->z;
    b->desc_dim = NN_FACERES_DESCRIPTOR;   // global_pooling, always kept
    return nn_faceres_create(&b->fr, b->wf, b->batch, &layer, 1);
}

// ---------------------------------------------------------------------------
// The backbone: public API

facet_status face_backbone_open_layer(face_backbone **out,
                                      const char *weights_dir,
                                      face_backbone_kind kind,
                                      const char *layer, int batch)
{
    char path[PATH_BYTES];
    face_backbone *b;
    facet_status s;

    FACET_ASSERT(out);
    *out = NULL;
    if (batch < 1 || batch > FACE_MAX_BATCH)
        return facet_fail(FACET_E_ARG, "backbone: batch %d, must be 1..%d",
                          batch, FACE_MAX_BATCH);
    if (kind != FACE_BACKBONE_AUTO && kind != FACE_BACKBONE_VGGFACE &&
        kind != FACE_BACKBONE_FACERES)
        return facet_fail(FACET_E_ARG, "backbone: unknown kind %d",
                          (int)kind);

    // Which network: AUTO takes VGG-Face whenever its file exists.
    if (kind == FACE_BACKBONE_AUTO)
        kind = weight_path(path, weights_dir, FACE_VGGFACE_FILE, "") ==
                       FACET_OK
                   ? FACE_BACKBONE_VGGFACE
                   : FACE_BACKBONE_FACERES;
    if (kind == FACE_BACKBONE_VGGFACE)
        s = weight_path(path, weights_dir, FACE_VGGFACE_FILE,
                        "make weights VGGFACE=/path/to/VGG_FACE.caffemodel "
                        "(optional; see README)");
    else
        s = weight_path(path, weights_dir, FACE_FACERES_FILE,
                        "make weights");
    if (s != FACET_OK)
        return s;
    if (!layer)
        layer = kind == FACE_BACKBONE_VGGFACE ? FACE_VGGFACE_LAYER
                                              : FACE_FACERES_LAYER;
    if ((s = check_layer_name(layer)) != FACET_OK)
        return s;

    b = facet_calloc(sizeof *b);
    if (!b)
        return facet_fail(FACET_E_NOMEM, "backbone");
    b->kind = kind;
    b->batch = batch;
    snprintf(b->layer, sizeof b->layer, "%s", layer);

    // The file, the network, the input buffer.
    s = wt_open(&b->wf, path, 0);
    if (s == FACET_OK)
        s = kind == FACE_BACKBONE_VGGFACE ? vgg_open(b, layer)
                                          : faceres_open(b, layer);
    if (s == FACET_OK) {
        b->in = facet_alloc((size_t)batch * 3 * SZ * SZ * sizeof(float));
        if (!b->in)
            s = facet_fail(FACET_E_NOMEM, "backbone: input of %d crops",
                           batch);
    }
    if (s != FACET_OK) {
        face_backbone_close(b);
        return s;
    }
    make_id(b->id, b->wf, b->layer);
    *out = b;
    return FACET_OK;
}

facet_status face_backbone_open(face_backbone **out, const char *weights_dir,
                                face_backbone_kind kind, int batch)
{
    return face_backbone_open_layer(out, weights_dir, kind, NULL, batch);
}

void face_backbone_close(face_backbone *b)
{
    if (!b)
        return;
    nn_faceres_free(b->fr);
    nn_vgg16_free(b->vgg);
    facet_free(b->padded);
    facet_free(b->in);
    wt_close(b->wf);
    facet_free(b);
}

facet_status face_backbone_input(const face_backbone *b, float *dst,
                                 const face_image *crop)
{
    facet_status s;

    FACET_ASSERT(b && dst);
    if ((s = check_image(crop, SZ, "backbone crop", 0)) != FACET_OK)
        return s;
    if (b->kind == FACE_BACKBONE_VGGFACE)
        vgg_input(b, dst, crop);
    else
        nn_faceres_input_rgb8(dst, crop->px, crop->stride);
    return FACET_OK;
}

// The identity descriptors of the last forward call (nb images) into
// desc: faceres's global_pooling as it is; VGG-Face's conv5_3 averaged
// over its plane (the file's first desc_dim channels), summed in double
// in increasing pixel order, divided by H W, rounded to float.
static void backbone_desc(const face_backbone *b, int nb, float *desc)
{
    const size_t dd = (size_t)b->desc_dim;
    const nn_tensor *t;

    if (b->kind == FACE_BACKBONE_FACERES) {
        t = nn_faceres_feature(b->fr, "global_pooling");
        FACET_ASSERT(t && nn_tensor_count(t) == (size_t)nb * dd);
        memcpy(desc, t->data, (size_t)nb * dd * sizeof(float));
        return;
    }
    t = nn_vgg16_feature(b->vgg, "conv5_3");
    FACET_ASSERT(t && t->dim[1] >= b->desc_dim);
    {
        const size_t plane = (size_t)t->dim[2] * t->dim[3];
        const size_t one = (size_t)t->dim[1] * plane;

        for (int i = 0; i < nb; i++)
            for (size_t c = 0; c < dd; c++) {
                const float *p = t->data + (size_t)i * one + c * plane;
                double acc = 0.0;

                for (size_t k = 0; k < plane; k++)
                    acc += p[k];
                desc[(size_t)i * dd + c] = (float)(acc / (double)plane);
            }
    }
}

// One batch of nb crops through the network; maps to out and identity
// descriptors to desc (either may be NULL).
static facet_status backbone_batch(face_backbone *b, const face_image *crops,
                                   int nb, float *out, float *desc)
{
    const size_t in_one = (size_t)3 * SZ * SZ;
    const size_t plane = (size_t)b->h * b->w;
    const size_t one = (size_t)b->z * plane;
    nn_tensor x = nn_tensor_4d(b->in, nb, 3, SZ, SZ);
    const nn_tensor *t;
    facet_status s;

    // Inputs.
    for (int i = 0; i < nb; i++)
        face_backbone_input(b, b->in + (size_t)i * in_one, &crops[i]);

    // Forward, then the layer's first z channels of each image.
    if (b->kind == FACE_BACKBONE_FACERES) {
        if ((s = nn_faceres_forward(b->fr, &x)) != FACET_OK)
            return s;
        t = nn_faceres_feature(b->fr, b->layer);
    } else {
        if (facet_threads() > b->vgg_threads) {
            nn_vgg16_free(b->vgg);
            b->vgg = NULL;
            b->vgg_threads = facet_threads();
            s = nn_vgg16_create(&b->vgg, b->params, b->batch, SZ, SZ);
            if (s != FACET_OK)
                return s;
        }
        if ((s = nn_vgg16_forward(b->vgg, &x)) != FACET_OK)
            return s;
        t = nn_vgg16_feature(b->vgg, b->layer);
    }
    FACET_ASSERT(t && nn_tensor_count(t) ==
                          (size_t)nb * b->net_z * plane);
    for (int i = 0; out && i < nb; i++)
        memcpy(out + (size_t)i * one, t->data + (size_t)i * b->net_z * plane,
               one * sizeof(float));
    if (desc)
        backbone_desc(b, nb, desc);
    return FACET_OK;
}

facet_status face_backbone_run(face_backbone *b, const face_image *crops,
                               int n, float *out)
{
    FACET_ASSERT(b);
    if (n > 0 && !out)
        return facet_fail(FACET_E_ARG, "backbone: %d crops, out NULL", n);
    return face_backbone_run_desc(b, crops, n, out, NULL);
}

facet_status face_backbone_run_desc(face_backbone *b,
                                    const face_image *crops, int n,
                                    float *maps, float *desc)
{
    const size_t one = face_backbone_dim(b);
    const size_t dd = face_backbone_desc_dim(b);
    facet_status s;

    FACET_ASSERT(b);
    if (n < 0 || (n > 0 && (!crops || (!maps && !desc))))
        return facet_fail(FACET_E_ARG, "backbone: %d crops, crops %p, maps "
                          "%p, descriptors %p", n, (const void *)crops,
                          (void *)maps, (void *)desc);
    for (int i = 0; i < n; i++)
        if ((s = check_image(&crops[i], SZ, "backbone crop", i)) != FACET_OK)
            return s;
    for (int i0 = 0; i0 < n; i0 += b->batch) {
        int nb = n - i0 < b->batch ? n - i0 : b->batch;

        s = backbone_batch(b, crops + i0, nb,
                           maps ? maps + (size_t)i0 * one : NULL,
                           desc ? desc + (size_t)i0 * dd : NULL);
        if (s != FACET_OK)
            return s;
    }
    return FACET_OK;
}

void face_backbone_shape(const face_backbone *b, int *z, int *h, int *w)
{
    FACET_ASSERT(b);
    if (z)
        *z = b->z;
    if (h)
        *h = b->h;
    if (w)
        *w = b->w;
}

size_t face_backbone_dim(const face_backbone *b)
{
    FACET_ASSERT(b);
    return (size_t)b->z * b->h * b->w;
}

size_t face_backbone_desc_dim(const face_backbone *b)
{
    FACET_ASSERT(b);
    return (size_t)b->desc_dim;
}

face_backbone_kind face_backbone_which(const face_backbone *b)
{
    FACET_ASSERT(b);
    return b->kind;
}

facet_status face_backbone_fill_padding(face_backbone_kind kind, float *f,
                                        int z, int h, int w)
{
    if (!f || z < 1 || h < 2 || w < 2 || kind == FACE_BACKBONE_AUTO)
        return facet_fail(FACET_E_ARG, "backbone padding: bad arguments");
    if (kind != FACE_BACKBONE_FACERES)
        return FACET_OK;
    for (int c = 0; c < z; c++) {
        float *plane = f + (size_t)c * h * w;

        for (int y = 0; y < h - 1; y++)
            plane[(size_t)y * w + w - 1] = plane[(size_t)y * w + w - 2];
        // The last row copies the row above it, whose last cell was
        // just set: the corner gets the diagonal neighbour.
        memcpy(plane + (size_t)(h - 1) * w, plane + (size_t)(h - 2) * w,
               (size_t)w * sizeof *plane);
    }
    return FACET_OK;
}

const char *face_backbone_layer(const face_backbone *b)
{
    FACET_ASSERT(b);
    return b->layer;
}

const char *face_backbone_model_id(const face_backbone *b)
{
    FACET_ASSERT(b);
    return b->id;
}

// ---------------------------------------------------------------------------
// The hair network

facet_status face_hairnet_open(face_hairnet **out, const char *weights_dir,
                               const char *layer, int batch)
{
    char path[PATH_BYTES];
    face_hairnet *h;
    facet_status s;
    int id = -1;

    FACET_ASSERT(out);
    *out = NULL;
    if (batch < 1 || batch > FACE_MAX_BATCH)
        return facet_fail(FACET_E_ARG, "hair network: batch %d, must be "
                          "1..%d", batch, FACE_MAX_BATCH);
    if (!layer)
        layer = FACE_HAIR_LAYER_DEFAULT;
    if ((s = check_layer_name(layer)) != FACET_OK ||
        (s = weight_path(path, weights_dir, FACE_HAIR_FILE,
                         "make weights")) != FACET_OK)
        return s;

    h = facet_calloc(sizeof *h);
    if (!h)
        return facet_fail(FACET_E_NOMEM, "hair network");
    h->batch = batch;
    snprintf(h->layer, sizeof h->layer, "%s", layer);

    // The file and the network (which checks the layer name), the shape.
    s = wt_open(&h->wf, path, 0);
    if (s == FACET_OK)
        s = nn_hair_create(&h->net, h->wf, batch, &layer, 1);
    if (s == FACET_OK) {
        for (int i = 0; i < nn_hair_value_count(h->net) && id < 0; i++)
            if (!strcmp(nn_hair_value_name(h->net, i), layer))
                id = i;
        FACET_ASSERT(id >= 0);   // nn_hair_create accepted the name
        nn_hair_value_shape(h->net, id, &h->c, &h->h, &h->w);
        h->in = facet_alloc((size_t)batch * NN_HAIR_CHANNELS * HS * HS *
                            sizeof(float));
        if (!h->in)
            s = facet_fail(FACET_E_NOMEM, "hair network: input of %d "
                           "crops", batch);
    }
    if (s != FACET_OK) {
        face_hairnet_close(h);
        return s;
    }
    make_id(h->id, h->wf, h->layer);
    *out = h;
    return FACET_OK;
}

void face_hairnet_close(face_hairnet *h)
{
    if (!h)
        return;
    nn_hair_free(h->net);
    facet_free(h->in);
    wt_close(h->wf);
    facet_free(h);
}

facet_status face_hairnet_run(face_hairnet *h, const face_image *heads,
                              int n, float *prob, float *feat)
{
    const size_t in_one = (size_t)NN_HAIR_CHANNELS * HS * HS;
    const size_t one = face_hairnet_dim(h), plane = (size_t)HS * HS;
    facet_status s;

    FACET_ASSERT(h);
    if (n < 0 || (n > 0 && !heads))
        return facet_fail(FACET_E_ARG, "hair network: %d head crops, "
                          "crops %p", n, (const void *)heads);
    for (int i = 0; i < n; i++)
        if ((s = check_image(&heads[i], HS, "head crop", i)) != FACET_OK)
            return s;

    for (int i0 = 0; i0 < n; i0 += h->batch) {
        int nb = n - i0 < h->batch ? n - i0 : h->batch;
        nn_tensor x = nn_tensor_4d(h->in, nb, NN_HAIR_CHANNELS, HS, HS);
        const nn_tensor *t;

        // Inputs (zero previous mask), forward, p(hair) and f^H out.
        for (int i = 0; i < nb; i++)
            nn_hair_input_rgb8(h->in + (size_t)i * in_one,
                               heads[i0 + i].px, heads[i0 + i].stride,
                               NULL);
        s = nn_hair_forward(h->net, prob ? prob + (size_t)i0 * plane : NULL,
                            &x);
        if (s != FACET_OK)
            return s;
        if (feat) {
            t = nn_hair_feature(h->net, h->layer);
            FACET_ASSERT(t && nn_tensor_count(t) == (size_t)nb * one);
            memcpy(feat + (size_t)i0 * one, t->data,
                   (size_t)nb * one * sizeof(float));
        }
    }
    return FACET_OK;
}

void face_hairnet_shape(const face_hairnet *h, int *c, int *hgt, int *wid)
{
    FACET_ASSERT(h);
    if (c)
        *c = h->c;
    if (hgt)
        *hgt = h->h;
    if (wid)
        *wid = h->w;
}

size_t face_hairnet_dim(const face_hairnet *h)
{
    FACET_ASSERT(h);
    return (size_t)h->c * h->h * h->w;
}

const char *face_hairnet_layer(const face_hairnet *h)
{
    FACET_ASSERT(h);
    return h->layer;
}

const char *face_hairnet_model_id(const face_hairnet *h)
{
    FACET_ASSERT(h);
    return h->id;
}

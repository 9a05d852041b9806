// features.h - the feature maps facet's method works on: the face map f
// (Z x H x W) of a face-identity backbone on the 224x224 backbone crop,
// and the hair-sensitive map f^H of the hair network on the 512x512 head
// crop, with the hair probability p(hair) from the same forward pass.
//
// In the pipeline: align.c makes the crops; here they go through the
// networks; metric.c learns M on f and M_H on f^H; pcam.c turns the
// metrics back into maps over the crops. face/cache.h stores the results
// per photo, keyed with the model ids below.
//
// Backbone (docs/FEATURES.md gives the measurements behind the choice):
// - VGG-Face relu5_3, 512 x 14 x 14 (method-spec 5.1), when
//   weights/vggface.fct is installed (make weights VGGFACE=...): nn_vgg16
//   with the converted Caffe weights; input B, G, R planes (as the file's
//   "channel_order" says) of 0..255 minus the file's "mean" (the authors'
//   average face), divided by its "std" if it has one.
// - otherwise faceres conv_pw_11_relu, 512 x 14 x 14 (net_faceres.h):
//   B, G, R planes of 0..255 minus (103.939, 116.779, 123.68).
// Hair: the MediaPipe network (net_hair.h) on the 512x512 head crop: R, G,
// B / 255 and a zero previous-mask channel.
// The default hair layer is FACE_HAIR_LAYER_DEFAULT, p_re_lu_80: the last
// block of the encoder's bottleneck, 128 x 16 x 16 on the head crop.
// Among the candidate layers of at least 16 x 16 (tools/eval/feature_auc.c,
// table in docs/FEATURES.md) it is the 16 x 16 one from which p(hair) is
// best linearly decodable (held-out R^2 0.91 against 0.58 for the first
// bottleneck block, p_re_lu_37, the earlier default), at the same D; the
// 32 x 32 decoder maps decode hair only slightly better at four times D.
//
// Model ids: "<weight file name>@<index CRC, 8 hex digits>:<layer>", e.g.
// "faceres.fct@985a4022:conv_pw_11_relu". They change whenever the weights
// or the layer change, so cache keys built with them do too.
//
// Threads: each object runs one call at a time (it owns the network's
// buffers); results are bitwise identical for any facet_set_threads count.
//
// ref: method-spec sections 5.1-5.2 (VGG-Face conv5_3 and its input), 6.4
//      (the hair network and its "hair-sensitive feature")
// ref: O. M. Parkhi, A. Vedaldi, A. Zisserman, "Deep Face Recognition",
//      BMVC 2015
//
// Limitations:
// - Inputs are exactly 224x224 (backbone) and 512x512 (hair); framing is
//   align.c's business.
// - A VGG-Face file narrower than the official widths (the synthetic test
//   models) is accepted: its weights are zero-padded to the official
//   widths, it runs at the full network's cost, and the map reported has
//   the file's conv5_3 width. Wider layers are rejected.
// - The VGG-Face path keeps every VGG-16 map in its arena (about 60 MB
//   per image of batch).
#ifndef FACET_FACE_FEATURES_H
#define FACET_FACE_FEATURES_H

#include <stddef.h>

#include "face.h"

#define FACE_BACKBONE_SIZE 224     // backbone crop side
#define FACE_HEAD_SIZE 512         // head crop side
#define FACE_MAX_BATCH 64

// The backbone layers taken by default, and the hair layer.
#define FACE_VGGFACE_LAYER "conv5_3"
#define FACE_FACERES_LAYER "conv_pw_11_relu"
#define FACE_HAIR_LAYER_DEFAULT "p_re_lu_80"

// Weight file names inside the weights folder.
#define FACE_VGGFACE_FILE "vggface.fct"
#define FACE_FACERES_FILE "faceres.fct"
#define FACE_HAIR_FILE "hair_segmentation.fct"

typedef enum face_backbone_kind {
    FACE_BACKBONE_AUTO = 0,   // vggface.fct if present, else faceres.fct
    FACE_BACKBONE_VGGFACE,
    FACE_BACKBONE_FACERES
} face_backbone_kind;

// ---------------------------------------------------------------------------
// The face backbone

typedef struct face_backbone face_backbone;

// Open the backbone of `kind` from `weights_dir` for batches of up to
// `batch` crops (1..FACE_MAX_BATCH; face_backbone_run takes any count and
// splits it). AUTO takes vggface.fct when the file exists (a damaged one
// is an error, not a silent fallback), else faceres.fct. A missing file
// is FACET_E_NOT_FOUND with a detail naming it and saying "run make
// weights"; a file that is not the network is the weight loader's error.
facet_status face_backbone_open(face_backbone **out, const char *weights_dir,
                                face_backbone_kind kind, int batch);

// The same with another layer than the default: for VGG-Face one of
// "conv1_1" .. "conv5_3", "pool1" .. "pool4"; for faceres any value name
// of net_faceres.h (its heads included, as C x 1 x 1). NULL: the default.
facet_status face_backbone_open_layer(face_backbone **out,
                                      const char *weights_dir,
                                      face_backbone_kind kind,
                                      const char *layer, int batch);

void face_backbone_close(face_backbone *b);   // NULL is harmless

// Feature maps of `n` crops (each exactly 224x224 RGB) into `out`: n x Z x
// H x W floats, crop-major, each map z-major (f[z][y][x]). FACET_E_ARG
// for a crop of another size or a NULL pointer with n > 0.
facet_status face_backbone_run(face_backbone *b, const face_image *crops,
                               int n, float *out);

// The same forward pass giving also each crop's identity descriptor:
// maps as face_backbone_run (or NULL), desc: n x face_backbone_desc_dim
// floats (or NULL; not both NULL when n > 0). Whatever the layer of the
// maps, the descriptor is
// - faceres: global_pooling, 1024 floats (verification ROC AUC about
//   0.99 on LFW pairs; its 14 x 14 conv_pw_11 map pooled: about 0.83);
// - VGG-Face: conv5_3 averaged over its 14 x 14 plane (the file's conv5_3
//   width, 512 for the official file), summed in double in increasing
//   pixel order, divided by 196, rounded to float. facet has no fc layers
//   of VGG-Face, so this is weaker than the network's own descriptor
//   (fc7), the way faceres's pooled 14 x 14 map is weaker than its
//   global_pooling.
// Not normalised.
facet_status face_backbone_run_desc(face_backbone *b,
                                    const face_image *crops, int n,
                                    float *maps, float *desc);

// The network's input for one crop as the backbone builds it: 3 x 224 x
// 224 floats, planes in the network's channel order (B, G, R for both
// networks), means subtracted. For tests and for tools that feed the
// network themselves.
facet_status face_backbone_input(const face_backbone *b, float *dst,
                                 const face_image *crop);

// The map shape Z x H x W, its size Z * H * W, the identity descriptor's
// length (face_backbone_run_desc), the network used (never
// AUTO), the layer, and the model id for cache keys and reports.
void face_backbone_shape(const face_backbone *b, int *z, int *h, int *w);
size_t face_backbone_dim(const face_backbone *b);
size_t face_backbone_desc_dim(const face_backbone *b);   // 1024 / 512
face_backbone_kind face_backbone_which(const face_backbone *b);
const char *face_backbone_layer(const face_backbone *b);
const char *face_backbone_model_id(const face_backbone *b);

// Overwrite the cells of a backbone map (Z x H x W, z-major) that the
// network computes largely from its own zero padding, for a map of `kind`
// (not AUTO). faceres: its stride-2 layers use TF's SAME padding, which on
// an even input puts the one extra padding row and column at the bottom
// and right, four times on the way to the 14 x 14 map; the last row and
// column come out with larger activations than any face cell (mean |f|
// per cell 27.5 against 21.2 inside, on the LFW and CelebA-HQ portraits of
// docs/RESULTS.md) and the PCAM of every one of those portraits peaked in
// the bottom-right cell. Each of those cells takes the value of its inner
// neighbour (row H-2, column W-2; the corner the diagonal one), so the
// maps built on f (M, PCAM, CAM) carry no padding response and stay
// continuous. (Zeroing them instead gives every min-max normalised map
// the same minimum on that border, which then decides the binarised maps;
// docs/RESULTS.md has both.) VGG-Face pads symmetrically and pools even
// sizes: nothing to replace. FACET_E_ARG for AUTO, a NULL map or a size
// below 2.
facet_status face_backbone_fill_padding(face_backbone_kind kind, float *f,
                                        int z, int h, int w);

// ---------------------------------------------------------------------------
// The hair network

typedef struct face_hairnet face_hairnet;

// Open weights_dir/hair_segmentation.fct for batches of up to `batch`
// head crops (1..FACE_MAX_BATCH), keeping the value `layer` (NULL:
// FACE_HAIR_LAYER_DEFAULT; any value name of the graph, net_hair.h) as
// f^H. Missing file: FACET_E_NOT_FOUND saying "run make weights"; an
// unknown layer: FACET_E_NOT_FOUND naming it.
facet_status face_hairnet_open(face_hairnet **out, const char *weights_dir,
                               const char *layer, int batch);
void face_hairnet_close(face_hairnet *h);   // NULL is harmless

// Run `n` head crops (each exactly 512x512 RGB). prob: n x 512 x 512
// p(hair), or NULL; feat: n x C x H x W f^H, or NULL.
facet_status face_hairnet_run(face_hairnet *h, const face_image *heads,
                              int n, float *prob, float *feat);

void face_hairnet_shape(const face_hairnet *h, int *c, int *hgt, int *wid);
size_t face_hairnet_dim(const face_hairnet *h);
const char *face_hairnet_layer(const face_hairnet *h);
const char *face_hairnet_model_id(const face_hairnet *h);

#endif

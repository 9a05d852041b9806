// characterize.h - facet's main job as one library call: photos of one
// person (P_ind) and photos of other people (P_arb) in; the polarizing
// metrics M and M_H, PCAM and CAM maps, the ranking of P_ind from most to
// least representative and the characteristic parts of the most
// representative portrait (section 4.5) out.
//
// Steps (each timed in face_char_result.seconds, FACE_CHAR_T_*):
//   cache     per photo, the cache key (file bytes + the options and model
//             ids below) and a look-up: a hit gives everything the later
//             steps need without running a network
//   load      decode the photo (image.h)
//   frontend  detect, landmarks, crops, p(hair), f^H, part labels
//             (portrait.h)
//   backbone  f on the 224x224 crop and, from the same forward pass, the
//             backbone's identity descriptor d (features.h)
//   (then the cells of f that the backbone computes from its padding take
//   their inner neighbours' values, face_backbone_fill_padding, unless
//   keep_padding: the cache holds the network's map as it is)
//   metric_m  M on f, metric_mh  M_H on f^H (metric.h, the same options
//             and seed for both)
//   cam       the CAM baseline on pooled f (cam.h)
//   pcam      PCAM maps of every usable portrait: face with M_ind, face
//             with M_arb (for display), hair with M^H_ind; CAM (ind row)
//   rank      P_ind from most to least representative by one of two
//             rules (face_char_rank; nu FACE_NU_AUTO by default):
//             identity (default): 1 - cos(d_k, mean d) + nu ||M^H_ind .
//               (g^H_k - mean g^H)|| (face_rank_identity, pcam.h)
//             eq9: the paper's Eq. 9, ||(M_ind - 1) . g|| + nu ||(M^H_ind
//               - 1) . g^H|| (face_rank_portraits)
//             docs/REPORT.md gives the planted-outlier measurements that
//             made identity the default: Eq. 9 on the 14 x 14 map ranks
//             photos of another person as typical.
//   parts     part scores of every portrait (face parts from the M_ind
//             PCAM in the backbone frame, hair from the M^H_ind PCAM in
//             the head frame, method-spec 4.5) and the majority rule for
//             the most representative portrait against P_arb
//   eval      optional (eval_pairs > 0): PCAM-vs-CAM Jaccard indices over
//             random (P_ind, P_arb) pairs (planted photos are left out of
//             P_ind here) and the 4-part selection
//             consistency (paper section 5.1) over those pairs and over
//             the majority decisions of P_ind, from raw part sums and
//             from sums of per-map min-max normalised maps
//
// A photo that cannot be read or has no face is skipped and listed with
// the reason; fewer than FACE_CHAR_MIN_SET usable portraits in either set
// is FACET_E_ARG.
//
// Cache entries (cache.h, kind "char3"): f, f^H, the identity descriptor,
// the two label maps, the 224x224 backbone crop and the head crop shrunk
// to 256x256 (for the pictures the caller draws), so a rerun with other
// metric or ranking options reads them instead of running the networks.
// The key's salt names this layout, the model ids and every front-end
// option that changes the result.
//
// Determinism: the photos go through the networks one at a time in list
// order, and every later step is bitwise independent of the thread count
// (metric.h, cam.h, pcam.h; the per-portrait loops here give each portrait
// to one thread), so the result depends on the inputs, options and seed
// only.
//
// The call is silent: progress goes to the optional callback only.
//
// Limitations:
// - Everything stays in memory: about 1.3 MB per usable portrait with the
//   faceres backbone (f, f^H, labels, crops).
// - The front end runs one photo at a time (it is not thread-safe); only
//   the networks inside it use the threads.
#ifndef FACET_FACE_CHARACTERIZE_H
#define FACET_FACE_CHARACTERIZE_H

#include <stddef.h>
#include <stdint.h>

#include "face.h"
#include "cam.h"
#include "features.h"
#include "metric.h"
#include "pcam.h"
#include "portrait.h"

// Fewest usable portraits a set may have.
#define FACE_CHAR_MIN_SET 5
// Side of the head-crop copy kept for pictures.
#define FACE_CHAR_HEAD_VIEW 256
// Binarisation threshold of the Jaccard evaluation (paper section 5.1).
#define FACE_CHAR_JACCARD_THR 0.1f

// How P_ind is ranked (see the steps above).
typedef enum face_char_rank {
    FACE_CHAR_RANK_IDENTITY = 0,   // identity descriptor + hair (default)
    FACE_CHAR_RANK_EQ9             // the paper's Eq. 9
} face_char_rank;
// "identity", "eq9"; NULL out of range.
const char *face_char_rank_name(face_char_rank rule);
// The rule named `name`; FACET_E_ARG for another name.
facet_status face_char_rank_parse(face_char_rank *rule, const char *name);

enum {
    FACE_CHAR_T_CACHE = 0,
    FACE_CHAR_T_LOAD,
    FACE_CHAR_T_FRONTEND,
    FACE_CHAR_T_BACKBONE,
    FACE_CHAR_T_METRIC_M,
    FACE_CHAR_T_METRIC_MH,
    FACE_CHAR_T_CAM,
    FACE_CHAR_T_PCAM,
    FACE_CHAR_T_RANK,
    FACE_CHAR_T_PARTS,
    FACE_CHAR_T_EVAL,
    FACE_CHAR_T_COUNT
};
// "cache", "load", "frontend", "backbone", "metric_m", "metric_mh", "cam",
// "pcam", "rank", "parts", "eval"; NULL out of range.
const char *face_char_stage_name(int stage);

// Progress: stage is a FACE_CHAR_T_* value; for the per-photo stages done
// and total count photos, for metric learning done is the iteration and
// total the cap; `what` names the photo or the metric (may be NULL).
typedef void (*face_char_progress_fn)(void *user, int stage, long done,
                                      long total, const char *what);

typedef struct face_char_opts {
    const char *weights_dir;     // "weights"
    const char *cache_dir;       // NULL: no cache
    face_backbone_kind backbone; // FACE_BACKBONE_AUTO
    face_frontend_opts fe;       // face_frontend_defaults (hair, parts
                                 // and hair_features are forced on)
    face_metric_opts metric;     // face_metric_defaults; seed, progress
                                 // and init_rows are set by the call
    face_cam_opts cam;           // face_cam_opts_init
    uint64_t seed;               // 1: metrics and evaluation pairs
    double nu;                   // FACE_NU_AUTO
    face_char_rank rank;         // FACE_CHAR_RANK_IDENTITY
    int keep_padding;            // 0: replace the backbone map's padding
                                 // cells before anything uses f
                                 // (face_backbone_fill_padding); 1: keep
                                 // the network's map as it is
    int eval_pairs;              // 0: no evaluation; pairs are drawn with
                                 // replacement, or, when there are no
                                 // more pairs than this, each pair once
                                 // (planted photos are not the person's
                                 // side)
    face_char_progress_fn progress;   // NULL
    void *progress_user;
} face_char_opts;

void face_char_defaults(face_char_opts *o);

// Which set a photo belongs to.
typedef enum face_char_set {
    FACE_CHAR_IND = 0,
    FACE_CHAR_ARB = 1
} face_char_set;

// One input photo.
typedef struct face_char_photo {
    const char *path;      // the caller's string (borrowed)
    face_char_set set;
    int planted;           // the caller flagged it (an outlier test)
    int portrait;          // index into face_char_result.pt, -1: skipped
    int cached;            // its data came from the cache
    facet_status status;   // FACET_OK, or why it was skipped
    char why[320];         // facet_error() of the failure, "" if none
} face_char_photo;

// One usable portrait. Maps are row-major (face.h).
typedef struct face_char_portrait {
    int photo;             // index into face_char_result.photos
    float *f;              // D floats (z-major)
    float *fh;             // DH floats
    float *desc;           // dd floats: the backbone's identity descriptor
    uint8_t *labels;       // 224 x 224 face_part labels (backbone frame)
    uint8_t *head_labels;  // 512 x 512 labels (head frame)
    uint8_t *crop;         // 224 x 224 x 3 RGB, packed rows
    uint8_t *head;         // 256 x 256 x 3 RGB, the head crop shrunk
    float *pcam;           // fh_ x fw: PCAM with M_ind
    float *pcam_arb;       // fh_ x fw: PCAM with M_arb
    float *pcam_hair;      // hh x hw: PCAM with M^H_ind
    float *cam;            // fh_ x fw: CAM of the ind row
    face_part_score part_pcam;   // M_ind / M^H_ind PCAM part scores
    face_part_score part_cam;    // CAM part scores (backbone frame)
    // The same from the maps min-max normalised in the 224x224 frame
    // (where a map points, not how strongly), face parts only.
    face_part_score part_pcam_n, part_cam_n;
} face_char_portrait;

// One histogram of the 16 part selections (face_sel4_index).
typedef struct face_char_sel {
    int hist[16];        // pairs or portraits per selection index
    int n;               // their total
    int top;             // the most frequent index (the lowest of a tie)
    double freq;         // hist[top] / n
} face_char_sel;

enum { FACE_CHAR_SEL_PAIRS = 0, FACE_CHAR_SEL_MAJORITY };
enum { FACE_CHAR_SEL_RAW = 0, FACE_CHAR_SEL_NORM };
enum { FACE_CHAR_SEL_PCAM = 0, FACE_CHAR_SEL_CAM };

typedef struct face_char_result {
    int n_photos;
    face_char_photo *photos;     // P_ind photos in order, then P_arb
    int n_ind, n_arb;            // usable portraits
    face_char_portrait *pt;      // n_ind of P_ind, then n_arb of P_arb
    // Cache look-ups: hits, misses (damaged entries included: they are
    // recomputed and written again), damaged entries, failed writes.
    int cache_hits, cache_misses, cache_damaged, cache_unwritten;

    // Models and shapes.
    face_backbone_kind backbone;
    char backbone_id[160], hair_id[160];
    int fz, fh_, fw;             // face map Z x H x W
    int hz, hh, hw;              // hair map C x H x W
    size_t d, dh;                // their sizes
    size_t dd;                   // identity descriptor length

    face_metric m, mh;           // M and M_H
    face_cam cam;

    // The ranking of P_ind (indices 0..n_ind-1 into pt) by rank_rule;
    // score = face_term + nu hair_term, the terms of that rule
    // (identity: 1 - cos and the hair distance to the mean; eq9: Eq. 9's
    // two norms).
    face_char_rank rank_rule;
    double nu;                   // the nu applied
    double *score, *face_term, *hair_term;   // n_ind each
    int *order;                  // most representative first
    int rep, least;              // order[0], order[n_ind - 1]

    // Characteristic parts of pt[rep] against P_arb (sums).
    face_part_decision parts[FACE_PART_COUNT];

    // Evaluation (eval_pairs > 0).
    int eval_pairs;
    int *pair_ind, *pair_arb;    // indices into pt (pair_arb >= n_ind)
    double *jac_pcam, *jac_cam;  // per pair, 0..100
    double jac_pcam_median, jac_cam_median;
    // Part-selection consistency (hair left out), eight histograms:
    // sel[how][sums][map] with how FACE_CHAR_SEL_PAIRS (the paper's
    // section 5.1: per evaluation pair, the parts where A's sum beats B's)
    // or FACE_CHAR_SEL_MAJORITY (per P_ind portrait not planted, the
    // majority rule against all of P_arb, as the characteristic parts are
    // decided), sums FACE_CHAR_SEL_RAW (part_pcam, part_cam) or
    // FACE_CHAR_SEL_NORM (of the min-max normalised maps, part_*_n), map
    // FACE_CHAR_SEL_PCAM or FACE_CHAR_SEL_CAM.
    face_char_sel sel[2][2][2];

    double seconds[FACE_CHAR_T_COUNT];
} face_char_result;

// Run the job on n_ind paths of P_ind and n_arb paths of P_arb. planted:
// NULL, or n_ind flags (nonzero: the photo is a planted outlier; it is in
// P_ind like the others and only flagged). `o` NULL: the defaults. On
// success *r owns everything (face_char_free); on failure *r is freed and
// zeroed, and facet_error() says why (too few usable portraits names the
// set and the counts). FACET_E_ARG: too few photos or portraits, one file
// listed twice (in one set or both, compared by device and inode), bad
// options; errors of the weights, networks and learning are passed on.
facet_status face_characterize(face_char_result *r,
                               const char *const *ind, int n_ind,
                               const uint8_t *planted,
                               const char *const *arb, int n_arb,
                               const face_char_opts *o);

void face_char_free(face_char_result *r);   // NULL / zeroed harmless

// The cache salt for the options' front end and the two model ids (for
// tests and tools that share the cache): "char3|<backbone id>|<hair
// id>|<front-end options>".
void face_char_cache_salt(char *out, size_t size, const char *backbone_id,
                          const char *hair_id, const face_frontend_opts *fe);

// The two statistics of the evaluation for one pair of maps already
// upsampled to the same n pixels: J of the min-max normalised maps
// binarised at FACE_CHAR_JACCARD_THR. The maps are normalised in place.
facet_status face_char_jaccard(double *j, float *a, float *b, size_t n);

#endif

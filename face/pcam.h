// pcam.h - polarized class activation maps (PCAM) and what facet derives
// from them: representative portraits (Eq. 9 and the identity ranking),
// look-alike scores (Eqs. 11-12), map statistics for the PCAM-vs-CAM
// evaluation (upsampling, normalisation, binarisation, Jaccard index) and
// the characteristic parts (per-part scores and the majority rule).
//
// In the pipeline: features.c gives each portrait a face feature map f
// (Z x H x W, channel-major, f[z][h][w], e.g. 512 x 14 x 14) and a hair
// feature map f^H; metric.c learns M and M_H (rows M_ind, M_arb of D =
// Z H W floats each, for features divided by a global scale s_f); here
// those rows, the scale and the maps become PCAMs, a ranking of P_ind and
// a decision per face part. The metric is taken as plain arguments (a
// row pointer and its scale), so this file does not depend on metric.h.
//
// Conventions (the Hadamard reading of the paper, method-spec 4.3):
//   g = f / s_f (elementwise), m = one row of M (M_ind or M_arb)
//   F_z = (1 / (H W)) sum_{h,w} m_z,h,w g_z,h,w                      Eq. 4
//   PCAM(h, w) = sum_z F_z m_z,h,w g_z,h,w                           Eq. 5
//   rep(k) = ||(M_ind - 1) . g^k||_2 + nu ||(M^H_ind - 1) . g^{H,k}||_2
//            (most representative: argmin, least: argmax)            Eq. 9
//   ident(k) = 1 - cos(d_k, mean_j d_j / ||d_j||)
//              + nu ||M^H_ind . (g^H_k - mean_j g^H_j)||_2
//            (d: the backbone's identity descriptor; facet's default
//            ranking, face_rank_identity)
//   look(k) = ||M_ind . (g_rep - g^k)||_2
//             + nu ||M^H_ind . (g^H_rep - g^{H,k})||_2               Eq. 11
//   l2(k) = ||g_rep - g^k||_2 (face features only)                  Eq. 12
// where "." is the elementwise product. Maps are row-major, H rows of W
// (map[h * W + w]); pixel centres are at integer coordinates (face.h).
//
// Part scores: for a portrait P, a map upsampled into a crop frame and the
// part label map of that frame, s_p(P) = sum of the map over the pixels
// labelled p (the mean is kept too). A part p of the representative
// portrait is characteristic when s_p(P_rep) > s_p(Q) for more than half
// of the portraits Q of P_arb, each Q with its own segments. A tie
// (s_p(P_rep) == s_p(Q)) does not count as beaten.
//
// Threads: face_rank_portraits, face_rank_identity and the look-alike
// scores run OpenMP over portraits or feature components (each sum in a
// fixed order, so results do not depend on the thread count); the
// per-map functions are serial, so that a caller can run them in parallel
// over portraits without nesting.
//
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face?", CGF 2019,
//      sections 4.2 (Eqs. 4-5), 4.5 (Eq. 9, part selection), 5.1
//      (Jaccard index, 16 selections), 6.3 (Eqs. 11-12)
// ref: method-spec sections 4.3 (Hadamard reading), 4.4 (nu), 4.5
//
// Limitations:
// - face_map_upsample is plain bilinear interpolation: used to shrink a
//   map it samples without low-pass filtering.
// - Which PCAM channel to compare for the parts is the caller's choice
//   (the spec proposes M_ind for every portrait); these functions take
//   whatever map they are given.
#ifndef FACET_FACE_PCAM_H
#define FACET_FACE_PCAM_H

#include <stddef.h>
#include <stdint.h>

#include "face.h"

// ---------------------------------------------------------------------------
// PCAM

// PCAM of one feature map for one row of a metric, Eqs. 4-5 above, summed
// in double. map: H x W; m_row, f: Z x H x W; scale: s_f > 0.
facet_status face_pcam_map(float *map, const float *m_row, float scale,
                           const float *f, int Z, int H, int W);

// ---------------------------------------------------------------------------
// Map statistics (paper section 5.1)

// Bilinear resampling of src (sh x sw) to dst (dh x dw) with pixel centres
// aligned: dst pixel (x, y) samples src at ((x + 0.5) sw / dw - 0.5,
// (y + 0.5) sh / dh - 0.5), clamped to the source's border pixels.
// E.g. 14 x 14 -> 224 x 224. Computed in double.
facet_status face_map_upsample(float *dst, int dh, int dw, const float *src,
                               int sh, int sw);

// Per-map min-max normalisation to [0, 1] in place: (v - min) / (max -
// min). A constant map becomes all 0. Non-finite values are an error.
facet_status face_map_normalize(float *map, size_t n);

// mask[i] = 1 when map[i] >= thr, else 0 (the paper binarises normalised
// maps at 0.1).
facet_status face_map_binarize(uint8_t *mask, const float *map, size_t n,
                               float thr);

// Jaccard index J = 100 |A n B| / |A u B| of two masks (nonzero = in the
// set). Two empty masks are the same set: J = 100.
facet_status face_map_jaccard(double *j, const uint8_t *a, const uint8_t *b,
                              size_t n);

// ---------------------------------------------------------------------------
// Representative portraits (Eq. 9) and look-alikes (Eqs. 11-12)

// Pass as nu to derive it from the data.
#define FACE_NU_AUTO (-1.0)

// One kind of feature (face or hair) of n portraits with its metric.
typedef struct face_feat_set {
    const float *m_ind;       // M_ind (or M^H_ind): D floats
    float scale;              // s_f: features are divided by it (> 0)
    const float *const *f;    // n feature maps of D floats each
    size_t d;                 // D = Z H W
} face_feat_set;

// Eq. 9 over n portraits. score[k] = face_term[k] + nu hair_term[k];
// order[0..n-1] lists the portraits by increasing score (order[0] is the
// most representative, order[n-1] the least), ties by increasing index.
// `hair` may be NULL (face only: the hair term is 0 and nu is 0).
// nu >= 0, or FACE_NU_AUTO for median_k face_term / median_k hair_term
// (method-spec 4.4; an error when the hair median is 0). *nu_used gets the
// nu applied. face_term, hair_term, nu_used may be NULL; score and order
// are n long.
facet_status face_rank_portraits(double *score, int *order, double *nu_used,
                                 double *face_term, double *hair_term,
                                 const face_feat_set *face,
                                 const face_feat_set *hair, int n,
                                 double nu);

// The identity ranking (facet characterize's default; docs/REPORT.md
// gives the measurements that made it so): over n portraits of P_ind,
//   face_term[k] = 1 - cos(d_k, dbar), dbar = (1/n) sum_j d_j / ||d_j||
//   hair_term[k] = ||M^H_ind . (g^H_k - gbar^H)||_2, gbar^H = (1/n) sum_j
//                  g^H_j, g^H = f^H / s_f^H
//   score[k] = face_term[k] + nu hair_term[k]
// with d_k the backbone's identity descriptor (desc[k], desc_dim floats,
// not necessarily normalised; face_backbone_run_desc). Unlike Eq. 9 the
// face term does not use M: a portrait is representative when its
// identity descriptor is close to the person's mean one, and its hair
// close to the mean hair in the learned hair metric. order, ties, nu
// (FACE_NU_AUTO: median face_term / median hair_term), `hair` NULL and the
// NULL-able outputs as face_rank_portraits. A zero or non-finite
// descriptor is FACET_E_ARG naming the portrait. Sums run in double in a
// fixed order, so the result does not depend on the thread count.
facet_status face_rank_identity(double *score, int *order, double *nu_used,
                                double *face_term, double *hair_term,
                                const float *const *desc, size_t desc_dim,
                                const face_feat_set *hair, int n, double nu);

// Eq. 11 scores of n candidates against the representative portrait
// (f_rep in face->d floats, fh_rep in hair->d; smaller is more alike).
// `hair` and fh_rep may both be NULL (face term only). nu as above, with
// FACE_NU_AUTO the ratio of the medians of the two Eq. 11 terms over the
// candidates. nu_used may be NULL.
facet_status face_lookalike_scores(double *score, double *nu_used,
                                   const face_feat_set *face,
                                   const float *f_rep,
                                   const face_feat_set *hair,
                                   const float *fh_rep, int n, double nu);

// Eq. 12, the plain baseline: score[k] = ||(f_rep - f^k) / s_f||_2 over
// face->f (face->m_ind is not used and may be NULL).
facet_status face_lookalike_l2(double *score, const face_feat_set *face,
                               const float *f_rep, int n);

// order[0..n-1]: indices by increasing score, ties by increasing index.
// NaN scores are an error.
facet_status face_rank_order(int *order, const double *score, int n);

// ---------------------------------------------------------------------------
// Characteristic parts (paper section 4.5)

// A map's mass per part label of one portrait.
typedef struct face_part_score {
    double sum[FACE_PART_COUNT];    // sum of the map over the part
    double mean[FACE_PART_COUNT];   // sum / area; 0 for an empty part
    int64_t area[FACE_PART_COUNT];  // pixels labelled with the part
} face_part_score;

// Which statistic the decisions compare (the paper's: the sum).
typedef enum face_part_stat {
    FACE_PART_SUM = 0,
    FACE_PART_MEAN
} face_part_stat;

// Scores of one map (h x w) against its label map (h x w face_part
// values; a value >= FACE_PART_COUNT is an error).
facet_status face_part_scores(face_part_score *out, const float *map,
                              const uint8_t *labels, int h, int w);

// Scores of one portrait from two frames: every part from the face map in
// its frame (fh x fw), then the hair entry replaced by the hair map's in
// its own frame (hh x hw; e.g. the head crop). With hair_map and
// hair_labels NULL, hair comes from the face frame too.
facet_status face_part_scores_portrait(face_part_score *out,
                                       const float *face_map,
                                       const uint8_t *face_labels, int fh,
                                       int fw, const float *hair_map,
                                       const uint8_t *hair_labels, int hh,
                                       int hw);

// The decision for one part.
typedef struct face_part_decision {
    double score;        // s_p(P_rep), the chosen statistic
    int beaten;          // portraits Q with s_p(P_rep) > s_p(Q)
    int ties;            // portraits Q with s_p(P_rep) == s_p(Q)
    double frac_beaten;  // beaten / n
    int characteristic;  // 1 when 2 beaten > n (ties are not beaten)
} face_part_decision;

// The majority rule for every label 0..FACE_PART_COUNT-1 (the
// characterizing ones are hair, eyes, eyebrows, nose and mouth; the rest
// are computed the same way and are the caller's to ignore). others: n
// >= 1 portraits of P_arb. A NaN score is an error.
facet_status face_part_decide(face_part_decision out[FACE_PART_COUNT],
                              const face_part_score *rep,
                              const face_part_score *others, int n,
                              face_part_stat stat);

// The parts that characterize (the paper's H/E/B/N/M), as a bit mask over
// face_part labels: bit (1u << p) for part p.
#define FACE_PART_CHARACTERIZING                                          \
    ((1u << FACE_PART_HAIR) | (1u << FACE_PART_EYES) |                    \
     (1u << FACE_PART_BROWS) | (1u << FACE_PART_NOSE) |                   \
     (1u << FACE_PART_MOUTH))

// Mask of the characteristic parts among the FACE_PART_CHARACTERIZING ones.
unsigned face_part_decision_mask(const face_part_decision d[FACE_PART_COUNT]);

// The selection one pair (A from P_ind, B from P_arb) produces, as the
// paper's consistency test uses it: parts p of FACE_PART_CHARACTERIZING
// with s_p(A) > s_p(B), as a mask.
unsigned face_part_pair_mask(const face_part_score *a,
                             const face_part_score *b, face_part_stat stat);

// The 4-part selection index (paper section 5.1: nose, mouth, eyes,
// eyebrows; hair left out) of a mask: bit 0 nose, bit 1 mouth, bit 2 eyes,
// bit 3 eyebrows, so 0..15 (the paper numbers them 1..16: index + 1).
// Other bits of the mask are ignored.
int face_sel4_index(unsigned mask);

// The inverse: the mask (over face_part labels) of selection `index`
// (0..15).
facet_status face_sel4_mask(unsigned *mask, int index);

#endif

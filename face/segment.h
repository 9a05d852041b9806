// segment.h - interactive multilabel segmentation with spatially varying
// colour distributions (Nieuwenhuis and Cremers): each label's likelihood
// is a Parzen estimate over colour and position built from its scribbles,
// and the labelling minimises a continuous Potts energy, relaxed to a
// convex problem (Zach et al.) and solved by a primal-dual method.
//
// In the pipeline: parts.c seeds this module from the landmarks (face base
// against the rest) and takes the label map as the face base. The module
// knows nothing about faces; any RGB image with scribbles will do.
//
// The model, for labels i = 0..n-1 with scribble pixels x_ij (colours
// I_ij), j = 1..m_i, and the free pixels x:
//   rho_i(x) = alpha * min_j |x - x_ij|
//   P_i(x)   = 1/m_i sum_j N_2(x - x_ij; rho_i(x)) exp(-|I(x) - I_ij|^2
//                                                    / (2 sigma^2))
//              (N_2: the normalised 2-D Gaussian of standard deviation rho)
//   f_i(x)   = -log(P_i(x) + 1e-30)                       (the data term)
//   g(x)     = exp(-gamma |grad I(x)|)                    (the edge weight)
//   E(theta) = sum_x sum_i theta_i f_i + lambda/2 sum_x g sum_i
//              |grad theta_i|,  theta(x) in the unit simplex
// Scribble pixels are hard constraints. The label of a pixel is the
// argmax of the relaxed theta.
//
// Seeds, one byte per pixel: 0 = free, k = 1..n = a scribble of label
// k - 1, FACE_SEG_EXCLUDED (255) = outside the problem: such a pixel has no
// data term, is cut from the smoothness term (no edge to it), and keeps
// the label 255. Image, seeds, costs and labels are row-major, w x h.
//
// ref: C. Nieuwenhuis, D. Cremers, "Spatially Varying Color Distributions
//      for Interactive Multilabel Segmentation", IEEE TPAMI 35(5), 2013
// ref: C. Zach, D. Gallup, J.-M. Frahm, M. Niethammer, "Fast Global
//      Labeling for Real-Time Stereo Using Multiple Plane Sweeps", VMV 2008
// ref: A. Chambolle, T. Pock, "A First-Order Primal-Dual Algorithm for
//      Convex Problems with Applications to Imaging", JMIV 40, 2011
// ref: P. Felzenszwalb, D. Huttenlocher, "Distance Transforms of Sampled
//      Functions", Theory of Computing 8, 2012
// ref: method-spec section 2.1-2.3, 2.6
//
// Limitations:
// - Above max_scribbles scribble pixels per label, the colour model uses a
//   seeded random subset of them (all scribble pixels stay hard
//   constraints); rho_i is then the distance to the nearest pixel of the
//   subset.
// - The data term's kernel sums run in float with a polynomial exp; f
//   agrees with a double evaluation to about 1e-5 nats.
// - The per-label relaxation (Zach) is not the tightest one for 3 or more
//   labels (Chambolle-Cremers-Pock is); argmax rounding of a fractional
//   theta can then be suboptimal. With 2 labels it is exact.
// - At most FACE_SEG_MAX_LABELS labels and FACE_SEG_MAX_PIXELS pixels.
#ifndef FACET_FACE_SEGMENT_H
#define FACET_FACE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "face.h"

#define FACE_SEG_MAX_LABELS 8
#define FACE_SEG_MAX_SIDE 32768
#define FACE_SEG_MAX_PIXELS (1 << 24)
// The seed and label value of a pixel outside the problem.
#define FACE_SEG_EXCLUDED 255
// The largest data cost, -log(1e-30): a zero likelihood. A scribble pixel
// costs 0 for its own label and this for the others.
#define FACE_SEG_COST_MAX 69.07755278982137

typedef struct face_seg_params {
    double color_sigma;  // sigma of the colour kernel, RGB 0..255 (15)
    double alpha;        // rho = alpha * distance to the nearest scribble;
                         // values below 0.4 count as 0.4 (1.5)
    double lambda;       // smoothness weight, in nats per pixel of
                         // boundary where g = 1 (see face_seg_defaults)
    double gamma;        // edge weight g = exp(-gamma |grad I|) (5)
    int max_iter;        // primal-dual iterations at most (1500)
    double gap_tol;      // stop when (primal - dual) / |primal| < gap_tol,
                         // checked every 50 iterations (1e-3)
    int max_scribbles;   // per label; a seeded subset above it (2000)
} face_seg_params;

// The defaults above; lambda is 8.
void face_seg_defaults(face_seg_params *p);

// How the solver ended: iterations run, the primal and dual energies of
// the relaxed problem at the end (data costs shifted so that each pixel's
// smallest is 0), and the relative gap (primal - dual) / |primal|.
typedef struct face_seg_stats {
    int iterations;
    double primal, dual, gap;
} face_seg_stats;

// Segment a w x h RGB8 image (rows `stride` bytes apart) into `nlabels`
// labels from the scribbles in `seeds` (w * h bytes, see above). Writes
// w * h labels: 0..nlabels-1, or FACE_SEG_EXCLUDED where the seed is.
// 2 <= nlabels <= FACE_SEG_MAX_LABELS; every label needs at least one
// scribble pixel. `p` NULL means the defaults; `stats` may be NULL.
// Errors: FACET_E_ARG (a NULL pointer, sizes, stride, nlabels, a seed
// value out of range, a label without scribbles, a parameter out of
// range), FACET_E_TOO_LARGE (more than FACE_SEG_MAX_PIXELS pixels),
// FACET_E_NOMEM.
facet_status face_segment(uint8_t *labels, const uint8_t *rgb, int w, int h,
                          size_t stride, const uint8_t *seeds, int nlabels,
                          const face_seg_params *p, face_seg_stats *stats);

// ---------------------------------------------------------------------------
// The steps of face_segment, for tests and for callers with their own costs

// The data term: cost (nlabels x h x w floats, label-major) receives f_i
// at free pixels, 0 / FACE_SEG_COST_MAX at scribble pixels (own label /
// others) and 0 at excluded pixels. Uses p->color_sigma, p->alpha and
// p->max_scribbles. Same errors as face_segment.
facet_status face_seg_dataterm(float *cost, const uint8_t *rgb, int w,
                               int h, size_t stride, const uint8_t *seeds,
                               int nlabels, const face_seg_params *p);

// The edge weight g (w x h floats): forward differences of each channel
// (0 at the last column / row and across an edge to an excluded pixel),
// the x and y differences each divided by their largest magnitude over
// the image (left as they are when that is 0), g = exp(-gamma * sqrt(sum
// over channels of dx^2 + dy^2)); 1 at excluded pixels. `seeds` may be
// NULL (no pixel excluded). Errors: FACET_E_ARG, FACET_E_TOO_LARGE.
facet_status face_seg_edge_weight(float *g, const uint8_t *rgb, int w,
                                  int h, size_t stride, const uint8_t *seeds,
                                  double gamma);

// Exact squared Euclidean distance from each pixel to the nearest pixel
// whose `sites` byte is non-zero (Felzenszwalb-Huttenlocher, O(w h)).
// d2: w x h doubles; all +INFINITY when there is no site. Errors:
// FACET_E_ARG, FACET_E_TOO_LARGE, FACET_E_NOMEM.
facet_status face_seg_sqdist(double *d2, const uint8_t *sites, int w, int h);

// Euclidean projection of v (n values, 1 <= n <= FACE_SEG_MAX_LABELS) onto
// the unit simplex {v >= 0, sum v = 1}, in place (sort-based, exact up to
// float rounding; the result sums to 1 within a few float ulps).
void face_seg_project_simplex(float *v, int n);

// The primal-dual solver of the relaxed Potts problem, on given costs.
// cost: nlabels x h x w floats (copied); g: w x h edge weights in [0, 1]
// (copied; NULL = all 1); seeds: as for face_segment (NULL = all free; a
// label may have no scribble here). theta starts at the one-hot argmin of
// the costs (lowest label on ties), the dual at 0; step sizes tau = 0.25,
// sigma = 0.5, over-relaxation 2.
typedef struct face_seg_solver face_seg_solver;
facet_status face_seg_solver_create(face_seg_solver **out, const float *cost,
                                    const float *g, const uint8_t *seeds,
                                    int w, int h, int nlabels,
                                    double lambda);
void face_seg_solver_free(face_seg_solver *s);
// Run `iterations` primal-dual iterations.
void face_seg_solver_step(face_seg_solver *s, int iterations);
// The primal energy of the current theta and the dual energy of the
// current dual field (sums in double, in a fixed order).
void face_seg_solver_energy(const face_seg_solver *s, double *primal,
                            double *dual);
// The current relaxed theta: nlabels x h x w floats, label-major (0 at
// excluded pixels). Valid until the next step or free.
const float *face_seg_solver_theta(const face_seg_solver *s);
// The argmax of theta (lowest label on ties); FACE_SEG_EXCLUDED at
// excluded pixels. labels: w x h.
void face_seg_solver_labels(const face_seg_solver *s, uint8_t *labels);

// create + step until the relative gap is below gap_tol (checked every 50
// iterations) or max_iter + labels + free. stats may be NULL.
facet_status face_seg_solve(uint8_t *labels, const float *cost,
                            const float *g, const uint8_t *seeds, int w,
                            int h, int nlabels, double lambda, int max_iter,
                            double gap_tol, face_seg_stats *stats);

#endif

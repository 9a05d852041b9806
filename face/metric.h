// metric.h - the polarizing metric of one individual: hinge-loss metric
// learning (Sendik et al. Eqs. 3, 6-8) of a 2 x D matrix M, rows M_ind and
// M_arb, and a threshold b, from the feature maps of two portrait sets,
// P_ind (the individual) and P_arb (arbitrary others).
//
// Sits between features.h (which makes the feature maps f, flattened
// z-major, D = Z * H * W) and pcam.h (PCAM maps, representative portraits
// and characteristic parts, which read M and the feature scale). The same
// code learns the face metric M on backbone features and the hair metric
// M_H on hair-network features.
//
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face? Metric Learning for
//      Face Characterization", Eurographics 2019, section 4.3, Eqs. 3, 6-8
// ref: Simonyan, Parkhi, Vedaldi, Zisserman, "Fisher Vector Faces in the
//      Wild", BMVC 2013 (the hinge loss, its SGD and PCA-whitening)
// ref: method-spec sections 4.2-4.4 (reading of Eq. 8, scaling,
//      initialisation, step sizes, stopping)
//
// Limitations:
// - The Gram engine keeps an N x N matrix of doubles (N = n_ind + n_arb,
//   capped at FACE_METRIC_MAX_N) and costs O(N^2 D) once to build it.
// - PCA initialisation diagonalises the N x N centred Gram matrix with
//   Jacobi sweeps, which is slow beyond a few thousand portraits.
// - The stopping rule watches the violation rate on a fixed random pair
//   subset only; the returned M is the last one, not the best checkpoint.
#ifndef FACET_FACE_METRIC_H
#define FACET_FACE_METRIC_H

#include <stdint.h>

#include "../linalg/base.h"

// Largest n_ind + n_arb face_metric_learn accepts (pair counts stay within
// 32 bits, the Gram matrix within 512 MiB).
#define FACE_METRIC_MAX_N 8192

// How M starts. The two rows must be linearly independent: both rows are
// updated along the same difference vector, so rows that start collinear
// stay collinear for ever (method-spec 4.4).
typedef enum face_metric_init {
    // M_ind, M_arb = 1 + init_eps * N(0, 1), i.i.d. per entry. Entries of
    // order 1, as the Hadamard reading of Eq. 9 assumes.
    FACE_METRIC_INIT_ONES = 0,
    // SPVZ13 PCA-whitening: the two leading principal directions of the
    // pooled (scaled) training features, each divided by the standard
    // deviation along it, so the training projections have unit variance.
    // Entries are of order 1/sqrt(lambda): use it only with the
    // inner-product reading of Eqs. 9 and 11.
    FACE_METRIC_INIT_PCA,
    // M_ind along mean(ind) - mean(arb), M_arb a seeded random direction
    // made orthogonal to it; each scaled to unit training variance.
    FACE_METRIC_INIT_MEANDIFF,
    // The caller's rows (opts.init_rows): warm starts and tests.
    FACE_METRIC_INIT_GIVEN,
    FACE_METRIC_INIT_COUNT
} face_metric_init;

// The update of b after an active pair (Eq. 8 and its alternative).
typedef enum face_metric_b_rule {
    FACE_METRIC_B_MULT = 0,  // b += gamma_b * rho * b, the paper's Eq. 8
    FACE_METRIC_B_ADD,       // b += gamma_b * rho * b0, the SPVZ13
                             // subgradient step (scaled by b0 so that
                             // gamma_b has the same units in both rules)
    FACE_METRIC_B_COUNT
} face_metric_b_rule;

// How the SGD is run. Both engines draw the same pairs and apply the same
// update (Eqs. 7-8); they differ only in rounding.
typedef enum face_metric_engine {
    // M = M0 - s * sum_k alpha_k f^k stays in M0 plus the span of the
    // training features, so the learner keeps the coefficients alpha (two
    // per portrait) and the projections M f^k, updated through the Gram
    // matrix G = F F^T: O(N) per active pair instead of O(D), in double.
    // M is formed once at the end.
    FACE_METRIC_ENGINE_GRAM = 0,
    // The O(D) form of Eq. 7 on M itself (float), two fused dot products
    // and two axpys per active pair, split over threads in fixed chunks.
    FACE_METRIC_ENGINE_PRIMAL,
    FACE_METRIC_ENGINE_COUNT
} face_metric_engine;

typedef enum face_metric_stop {
    FACE_METRIC_STOP_CONVERGED = 0,  // no better violation rate for
                                     // `patience` checkpoints
    FACE_METRIC_STOP_MAX_ITER        // max_iter iterations run
} face_metric_stop;

// Called at every checkpoint (iteration 0 included), on the calling thread.
typedef void (*face_metric_progress_fn)(void *user, long iter,
                                        double violation_rate,
                                        double mean_hinge);

// Learning options; face_metric_defaults fills the documented defaults.
// Step sizes and the margin refer to scaled features (see face_metric), on
// which |psi|^2 is at most ~4: one update scales M_c . psi by
// (1 - gamma_m rho |psi|^2), kept well inside (0, 2) (method-spec 4.4).
typedef struct face_metric_opts {
    uint64_t seed;               // 1: one seed for init, pairs and subset
    face_metric_init init;       // FACE_METRIC_INIT_ONES
    double init_eps;             // 0.1: noise of the ONES init (>= 0); the
                                 // rows must start clearly independent
    const float *init_rows;      // NULL; for INIT_GIVEN: 2 x D, M_ind then
                                 // M_arb, for scaled features
    face_metric_engine engine;   // FACE_METRIC_ENGINE_GRAM
    double gamma_m;              // 0.05: step of M (gamma_M), > 0
    double gamma_b;              // 1e-3: step of b (gamma_b), in [0, 1)
    face_metric_b_rule b_rule;   // FACE_METRIC_B_MULT
    double decay_t0;             // 1e5: gamma_t = gamma / (1 + t / t0) for
                                 // both steps; <= 0 keeps them constant
    double margin_kappa;         // 0.2: margin r = kappa * b0 (>= 0)
    long max_iter;               // 1000000 SGD iterations at most (>= 0)
    long check_every;            // 10000 iterations between checkpoints
    int patience;                // 5 checkpoints without improvement
    int subset_pairs;            // 5000 fixed pairs (drawn like training
                                 // pairs) for the violation rate
    face_metric_progress_fn progress;  // NULL
    void *progress_user;
} face_metric_opts;

void face_metric_defaults(face_metric_opts *o);

// One checkpoint of the convergence log.
typedef struct face_metric_checkpoint {
    long iter;              // SGD iterations done
    double violation_rate;  // fraction of subset pairs with positive hinge
    double mean_hinge;      // mean of Eq. 6's term over the subset
    double corr;            // Pearson correlation of the entries of M_ind
                            // and M_arb (centred, so the common 1 of the
                            // ONES init does not count); 0 for a constant
                            // row. Near 1 means the rows failed to polarise
    double b;               // the threshold then
} face_metric_checkpoint;

// A learned metric. Features are scaled before use: the scaled feature is
// f * inv_scale (in float), inv_scale = (float)(1 / s_f), where s_f is the
// mean L2 norm of all training features. M, b and r refer to scaled
// features; face_metric_dist2 and face_metric_scale apply the scaling.
typedef struct face_metric {
    int D;
    float *m_ind;              // D, 64-byte aligned (M_ind, first row)
    float *m_arb;              // D, 64-byte aligned (M_arb, second row)
    double b;                  // threshold (Eq. 6)
    double r;                  // margin, kappa * b0
    double b0;                 // initial b: mean d^2 over all unordered
                               // pairs of the pooled training set
    double scale;              // s_f
    float inv_scale;           // (float)(1 / s_f)
    long iterations;           // SGD iterations run
    long updates;              // of which the hinge was active
    face_metric_stop stop;
    face_metric_checkpoint *log;  // log_len entries, iteration 0 first
    int log_len;
    double violation_init;     // violation rate under the initial M
    double violation_final;    // ... under the returned M
} face_metric;

// Learn M and b from the feature vectors of P_ind (n_ind pointers to D
// floats each) and P_arb (n_arb). Positive pairs are (ind, ind) and
// (arb, arb), negative pairs (ind, arb), as the paper defines them; each
// iteration draws rho = +-1 with probability 1/2, then a pair of that kind
// uniformly. `o` may be NULL for the defaults. On success *out owns its
// arrays (face_metric_free); on failure *out is zeroed.
// FACET_E_ARG: NULL pointers, n_ind or n_arb < 2, D < 1, a non-finite
// feature value, all-zero features, an option out of range, or features
// indistinguishable under the initial M (b0 = 0). FACET_E_TOO_LARGE:
// n_ind + n_arb > FACE_METRIC_MAX_N. FACET_E_NOMEM.
// Bitwise identical results for any thread count.
facet_status face_metric_learn(face_metric *out, const float *const *f_ind,
                               int n_ind, const float *const *f_arb,
                               int n_arb, int D, const face_metric_opts *o);

// Give *m zeroed rows of length D, b = r = b0 = 0, scale 1 and no log, for
// metrics built by hand (then face_metric_step refines them).
// FACET_E_ARG for D < 1, FACET_E_NOMEM.
facet_status face_metric_alloc(face_metric *m, int D);

// Free what *m owns and zero it; a zeroed *m (or NULL) is harmless.
void face_metric_free(face_metric *m);

// Eq. 3: d^2_M(fi, fj) = |M (fi - fj)|^2 for unscaled features fi, fj
// (D floats each), scaled by m's inv_scale on the fly.
double face_metric_dist2(const face_metric *m, const float *fi,
                         const float *fj);

// Eq. 6's term for one pair: max(r - rho (b - d^2), 0), rho = +-1.
double face_metric_hinge(const face_metric *m, const float *fi,
                         const float *fj, int rho);

// One SGD step of Eqs. 7-8 on the pair (fi, fj) (unscaled) with label rho
// (+1 same set, -1 cross-set), using o's gamma_m, gamma_b and b_rule
// without decay: if rho (b - d^2) > r nothing changes, otherwise
//   M_ind -= gamma_m rho a psi,  M_arb -= gamma_m rho c psi,
// psi the scaled difference, a = M_ind . psi, c = M_arb . psi, which is
// M - gamma_m rho M psi psi^T in O(D); then b moves by the rule
// (FACE_METRIC_B_ADD reads m->b0). Returns 1 if the step was taken, 0 if
// skipped. One thread; the same kernels as the primal engine.
int face_metric_step(face_metric *m, const float *fi, const float *fj,
                     int rho, const face_metric_opts *o);

// dst = src * m->inv_scale (D floats; dst may be src): the scaled feature
// that M acts on, for consumers such as PCAM.
void face_metric_scale(const face_metric *m, float *dst, const float *src);

const char *face_metric_init_name(face_metric_init init);
const char *face_metric_stop_name(face_metric_stop stop);

#endif

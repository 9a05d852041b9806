// cam.h - the CAM baseline (Zhou et al. 2016) that PCAM is compared with:
// global average pooling of a frozen feature map, a two-class linear
// softmax layer trained on the pooled features of the portrait sets P_ind
// and P_arb, and the class activation maps of that layer.
//
// In the pipeline: features.c gives each portrait a feature map f
// (Z x H x W, channel-major, f[z][h][w]); face_cam_pool makes the pooled
// vector F (Z); face_cam_train fits the layer on the pooled vectors of the
// two sets; face_cam_map draws the CAM of one portrait, which pcam.h
// upsamples and compares with PCAM (paper section 5.1).
//
// The model. With x = F / s (s one global constant, see face_cam_opts),
//   s_c = A_c . x + b_c,   p_c = exp(s_c) / (exp(s_ind) + exp(s_arb)),
//   CAM_c(h, w) = sum_z A_c,z f_z,h,w / s           (no bias)
// so that mean_{h,w} CAM_c = s_c - b_c. The layer minimises the weighted
// mean cross-entropy plus (mu / 2) ||A||_F^2 (the biases are not
// penalised). Adding one vector to both rows of A changes no probability,
// and the penalty picks A_ind = -A_arb among those equivalent layers, so
// the layer is trained in its equivalent logistic form: one weight w (Z)
// and bias b with
//   logit = s_ind - s_arb = w . x + b,   p_ind = sigma(logit),
//   L(w, b) = (1 / N) sum_n c_n log(1 + exp(-y_n logit_n))
//             + (mu / 4) ||w||^2,
// y = +1 for P_ind and -1 for P_arb, c_n the class weight (N / (2 N_y)
// when balancing, else 1), and it stores
//   A_ind = w / 2,  A_arb = -w / 2,  b_ind = b / 2,  b_arb = -b / 2,
// so that CAM_ind = -CAM_arb. The optimiser is Newton's method on the
// Z + 1 unknowns (the Hessian is small: Z <= FACE_CAM_MAX_Z) with a
// backtracking line search; it stops when the gradient norm falls below
// tol times its value at the start (w = 0, b = 0). Training is serial
// and deterministic.
//
// ref: B. Zhou, A. Khosla, A. Lapedriza, A. Oliva, A. Torralba, "Learning
//      Deep Features for Discriminative Localization", CVPR 2016
// ref: Sendik, Lischinski, Cohen-Or, "What's in a Face?", CGF 2019,
//      sections 4.1 (Eqs. 1-2) and 5
// ref: method-spec section 3
//
// Limitations:
// - The backbone stays frozen: only the last layer is trained (as in the
//   paper), not Zhou et al.'s extra convolution and fine-tuning.
// - Without the penalty (mu = 0) and with separable sets there is no
//   optimum: w grows until the gradient passes the stopping test (or the
//   iteration cap is hit), and the CAM reflects where it stopped. Keep
//   mu > 0 for maps that mean something.
// - Training returns FACET_OK with converged = 0 when the cap is reached
//   or no step decreases the loss; the caller decides what to do.
#ifndef FACET_FACE_CAM_H
#define FACET_FACE_CAM_H

#include "../linalg/base.h"

// The two classes, as rows of A.
typedef enum face_cam_class {
    FACE_CAM_IND = 0,   // the individual's portraits, P_ind
    FACE_CAM_ARB = 1    // portraits of other people, P_arb
} face_cam_class;

// Largest number of channels face_cam_train accepts (its Hessian holds
// (Z + 1)^2 doubles).
#define FACE_CAM_MAX_Z 4096

typedef struct face_cam_opts {
    double mu;      // penalty (mu / 2) ||A||_F^2; >= 0. Default 1e-3
    double scale;   // s: pooled features are divided by it; <= 0 takes
                    // the mean ||F_n||_2 over both sets. Default 0
    double tol;     // stop at ||grad|| <= tol ||grad at 0||. Default 1e-6
    int max_iter;   // cap on Newton iterations. Default 100
    int balance;    // 1: weight the classes by N / (2 N_class). Default 1
} face_cam_opts;

// A trained layer. face_cam_train allocates `a`; face_cam_free frees it.
typedef struct face_cam {
    int z;              // Z
    float *a;           // A: 2 x Z, row FACE_CAM_IND then FACE_CAM_ARB
    float b[2];         // biases b_ind, b_arb
    float scale;        // s, the divisor of F and f
    // How training went.
    int iters;          // Newton iterations taken
    int converged;      // 1 when the gradient test was met
    double loss;        // final L(w, b)
    double grad_rel;    // final ||grad|| / ||grad at 0|| (0 if that is 0)
    double train_acc;   // fraction of training portraits classified right
} face_cam;

// Fill `o` with the defaults above.
void face_cam_opts_init(face_cam_opts *o);

// Global average pooling, Eq. 1: F_z = (1 / (H W)) sum_{h,w} f_z,h,w,
// summed in double. F: Z floats; f: Z x H x W.
facet_status face_cam_pool(float *F, const float *f, int Z, int H, int W);

// Train the layer on the pooled features (Z floats each, not yet divided
// by s) of n_ind portraits of P_ind and n_arb of P_arb; each set needs at
// least one. `o` may be NULL for the defaults. On success *out owns its
// rows (free with face_cam_free); on failure *out is left empty (a NULL,
// z 0) and needs no freeing.
facet_status face_cam_train(face_cam *out, const float *const *F_ind,
                            int n_ind, const float *const *F_arb, int n_arb,
                            int Z, const face_cam_opts *o);

// Free the rows; `cam` may be NULL or empty. Leaves *cam empty.
void face_cam_free(face_cam *cam);

// Class scores s[c] = A_c . (F / s) + b_c of pooled features F (Z), in
// double; p_ind (may be NULL) gets the softmax probability of P_ind.
facet_status face_cam_scores(double s[2], double *p_ind,
                             const face_cam *cam, const float *F);

// The predicted class of pooled features F: FACE_CAM_IND when
// s_ind > s_arb, otherwise FACE_CAM_ARB (a tie goes to P_arb).
facet_status face_cam_predict(face_cam_class *cls, const face_cam *cam,
                              const float *F);

// Fraction (0..1) of the given portraits whose predicted class is their
// set's; either set may be empty but not both.
facet_status face_cam_accuracy(double *acc, const face_cam *cam,
                               const float *const *F_ind, int n_ind,
                               const float *const *F_arb, int n_arb);

// CAM of class `cls` for one feature map: map[h * W + w] =
// sum_z A_cls,z f[z][h][w] / s, summed in double. map: H x W; f: Z x H x
// W with Z = cam->z.
facet_status face_cam_map(float *map, const face_cam *cam, const float *f,
                          int Z, int H, int W, face_cam_class cls);

// The training objective L(w, b) of the logistic form above and its
// gradient, at wb = (w_0 .. w_{Z-1}, b), for gradient checks and reports.
// grad (Z + 1 doubles) may be NULL. `scale` is s (> 0); o may be NULL.
facet_status face_cam_loss(double *loss, double *grad, const double *wb,
                           const float *const *F_ind, int n_ind,
                           const float *const *F_arb, int n_arb, int Z,
                           double scale, const face_cam_opts *o);

#endif

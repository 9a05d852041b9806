// cam.c - the CAM baseline: pooling, training the two-class layer by
// Newton's method on its logistic form, class scores and CAMs
// (face/cam.h has the model and the conventions).
//
// Training, with theta = (w, b) and x~_n = (F_n / s, 1) (Z + 1 values):
//   gradient  g = (1 / N) sum_n c_n (sigma(t_n) - [y_n = +1]) x~_n
//                 + (mu / 2) (w, 0)
//   Hessian   H = (1 / N) sum_n c_n sigma(t_n) (1 - sigma(t_n)) x~_n x~_n^T
//                 + (mu / 2) diag(1, .., 1, 0)
// with t_n = w . x_n + b. Each iteration solves (H + lambda I) d = -g by
// Cholesky (lambda = 0 unless H is not numerically positive definite,
// which only happens without the penalty) and backtracks along d until
// the Armijo condition holds. Everything is in double, one thread, in a
// fixed order.
//
// ref: method-spec section 3 (loss, gradients, stopping rule)
// ref: J. Nocedal, S. Wright, "Numerical Optimization", 2nd ed., 2006,
//      section 3.1 (backtracking line search, Armijo condition)
//
// Limitations:
// - The Hessian costs N (Z + 1)^2 / 2 multiply-adds per iteration and
//   (Z + 1)^2 doubles of memory, fine for Z = 512 and a few hundred
//   portraits, not meant for Z in the tens of thousands.
#include <math.h>
#include <string.h>

#include "cam.h"

// Armijo constant and the most step halvings per line search.
#define ARMIJO_C 1e-4
#define MAX_HALVINGS 60

// The training problem as the objective sees it.
typedef struct problem {
    const float *const *F[2];   // pooled features per set (ind, arb)
    int n[2];                   // portraits per set
    int z;                      // Z
    double inv_s;               // 1 / s
    double mu;                  // penalty on A (mu / 4 on w)
    double c[2];                // class weights
} problem;

void face_cam_opts_init(face_cam_opts *o)
{
    o->mu = 1e-3;
    o->scale = 0.0;
    o->tol = 1e-6;
    o->max_iter = 100;
    o->balance = 1;
}

facet_status face_cam_pool(float *F, const float *f, int Z, int H, int W)
{
    size_t hw;

    if (!F || !f)
        return facet_fail(FACET_E_ARG, "cam_pool: NULL argument");
    if (Z < 1 || H < 1 || W < 1)
        return facet_fail(FACET_E_ARG, "cam_pool: bad map size %d x %d x %d",
                          Z, H, W);
    if (!facet_size_mul(&hw, (size_t)H, (size_t)W) ||
        !facet_size_mul(&hw, hw, (size_t)Z))
        return facet_fail(FACET_E_TOO_LARGE, "cam_pool: map %d x %d x %d "
                          "overflows", Z, H, W);
    hw = (size_t)H * (size_t)W;

    // F_z = mean over the H x W plane of channel z.
    for (int z = 0; z < Z; z++) {
        const float *p = f + (size_t)z * hw;
        double acc = 0.0;

        for (size_t i = 0; i < hw; i++)
            acc += p[i];
        F[z] = (float)(acc / (double)hw);
    }
    return FACET_OK;
}

// Check one set of pooled vectors: non-NULL and finite. `what` names the
// set in the message.
static facet_status check_set(const char *fn, const char *what,
                              const float *const *F, int n, int Z)
{
    if (n < 0)
        return facet_fail(FACET_E_ARG, "%s: %s count %d < 0", fn, what, n);
    if (n > 0 && !F)
        return facet_fail(FACET_E_ARG, "%s: %s is NULL", fn, what);
    for (int i = 0; i < n; i++) {
        if (!F[i])
            return facet_fail(FACET_E_ARG, "%s: %s[%d] is NULL", fn, what,
                              i);
        for (int z = 0; z < Z; z++)
            if (!isfinite(F[i][z]))
                return facet_fail(FACET_E_ARG, "%s: %s[%d][%d] is not "
                                  "finite", fn, what, i, z);
    }
    return FACET_OK;
}

// Options: NULL gives the defaults; the values are checked.
static facet_status read_opts(face_cam_opts *out, const char *fn,
                              const face_cam_opts *o)
{
    if (!o) {
        face_cam_opts_init(out);
        return FACET_OK;
    }
    *out = *o;
    if (!(o->mu >= 0.0) || !isfinite(o->mu))
        return facet_fail(FACET_E_ARG, "%s: mu = %g is not a finite value "
                          ">= 0", fn, o->mu);
    if (!isfinite(o->scale))
        return facet_fail(FACET_E_ARG, "%s: scale = %g is not finite", fn,
                          o->scale);
    if (!(o->tol > 0.0) || !isfinite(o->tol))
        return facet_fail(FACET_E_ARG, "%s: tol = %g is not a finite value "
                          "> 0", fn, o->tol);
    if (o->max_iter < 0)
        return facet_fail(FACET_E_ARG, "%s: max_iter = %d < 0", fn,
                          o->max_iter);
    return FACET_OK;
}

// Fill the problem; the sets are already checked.
static void make_problem(problem *p, const float *const *F_ind, int n_ind,
                         const float *const *F_arb, int n_arb, int Z,
                         double scale, const face_cam_opts *o)
{
    double n = (double)n_ind + (double)n_arb;

    p->F[0] = F_ind;
    p->F[1] = F_arb;
    p->n[0] = n_ind;
    p->n[1] = n_arb;
    p->z = Z;
    p->inv_s = 1.0 / scale;
    p->mu = o->mu;
    p->c[0] = p->c[1] = 1.0;
    if (o->balance && n_ind > 0 && n_arb > 0) {
        p->c[0] = n / (2.0 * n_ind);
        p->c[1] = n / (2.0 * n_arb);
    }
}

// log(1 + exp(u)) without overflow.
static double softplus(double u)
{
    return u > 0.0 ? u + log1p(exp(-u)) : log1p(exp(u));
}

// sigma(u) = 1 / (1 + exp(-u)) without overflow.
static double sigmoid(double u)
{
    if (u >= 0.0)
        return 1.0 / (1.0 + exp(-u));
    double e = exp(u);
    return e / (1.0 + e);
}

// x~ of portrait i of set k: (F / s, 1), Z + 1 doubles.
static void load_x(double *x, const problem *p, int k, int i)
{
    const float *F = p->F[k][i];

    for (int z = 0; z < p->z; z++)
        x[z] = F[z] * p->inv_s;
    x[p->z] = 1.0;
}

static double dot(const double *a, const double *b, int n)
{
    double acc = 0.0;

    for (int i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

// L(theta) and, when g is not NULL, its gradient (Z + 1). x: scratch of
// Z + 1 doubles.
static double objective(double *g, const problem *p, const double *theta,
                        double *x)
{
    int m = p->z + 1;
    double n = (double)p->n[0] + (double)p->n[1];
    double loss = 0.0;

    if (g)
        memset(g, 0, (size_t)m * sizeof *g);

    // Data term: c_n log(1 + exp(-y t)), d/dt = c_n (sigma(t) - [y = +1]).
    for (int k = 0; k < 2; k++) {
        double y = k == 0 ? 1.0 : -1.0;

        for (int i = 0; i < p->n[k]; i++) {
            load_x(x, p, k, i);
            double t = dot(theta, x, m);
            loss += p->c[k] * softplus(-y * t);
            if (g) {
                double r = p->c[k] * (sigmoid(t) - (k == 0 ? 1.0 : 0.0));
                for (int j = 0; j < m; j++)
                    g[j] += r * x[j];
            }
        }
    }
    loss /= n;

    // Penalty (mu / 4) ||w||^2: A = (w / 2, -w / 2) has ||A||^2 = ||w||^2/2.
    double ww = dot(theta, theta, p->z);
    loss += 0.25 * p->mu * ww;
    if (g) {
        for (int j = 0; j < m; j++)
            g[j] /= n;
        for (int j = 0; j < p->z; j++)
            g[j] += 0.5 * p->mu * theta[j];
    }
    return loss;
}

// Lower triangle of the Hessian at theta into h (m x m, row-major).
static void hessian(double *h, const problem *p, const double *theta,
                    double *x)
{
    int m = p->z + 1;
    double n = (double)p->n[0] + (double)p->n[1];

    memset(h, 0, (size_t)m * (size_t)m * sizeof *h);

    // Sum of c_n sigma (1 - sigma) x~ x~^T, lower triangle.
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < p->n[k]; i++) {
            load_x(x, p, k, i);
            double sg = sigmoid(dot(theta, x, m));
            double r = p->c[k] * sg * (1.0 - sg) / n;
            for (int a = 0; a < m; a++) {
                double ra = r * x[a];
                double *row = h + (size_t)a * m;
                for (int b = 0; b <= a; b++)
                    row[b] += ra * x[b];
            }
        }
    }

    // Penalty on w only.
    for (int a = 0; a < p->z; a++)
        h[(size_t)a * m + a] += 0.5 * p->mu;
}

// Cholesky of the lower triangle of (h + lambda I) into l; 0 when the
// matrix is not numerically positive definite.
static int cholesky(double *l, const double *h, int m, double lambda)
{
    for (int i = 0; i < m; i++) {
        for (int j = 0; j <= i; j++) {
            double acc = h[(size_t)i * m + j] + (i == j ? lambda : 0.0);
            for (int k = 0; k < j; k++)
                acc -= l[(size_t)i * m + k] * l[(size_t)j * m + k];
            if (i == j) {
                // A pivot lost to rounding counts as not positive.
                double floor_ = 1e-14 * (fabs(h[(size_t)i * m + i]) + lambda);
                if (!(acc > floor_) || !(acc > 0.0))
                    return 0;
                l[(size_t)i * m + i] = sqrt(acc);
            } else {
                l[(size_t)i * m + j] = acc / l[(size_t)j * m + j];
            }
        }
    }
    return 1;
}

// Solve L L^T d = -g.
static void chol_solve(double *d, const double *l, const double *g, int m)
{
    for (int i = 0; i < m; i++) {
        double acc = -g[i];
        for (int k = 0; k < i; k++)
            acc -= l[(size_t)i * m + k] * d[k];
        d[i] = acc / l[(size_t)i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        double acc = d[i];
        for (int k = i + 1; k < m; k++)
            acc -= l[(size_t)k * m + i] * d[k];
        d[i] = acc / l[(size_t)i * m + i];
    }
}

// Newton direction d: (H + lambda I) d = -g with the smallest lambda in
// 0, 1e-12 tr(H) / m, then x10 each try, that factors; 0 if none does.
static int newton_dir(double *d, double *l, const double *h,
                      const double *g, int m)
{
    double tr = 0.0;
    double lambda = 0.0;

    for (int i = 0; i < m; i++)
        tr += h[(size_t)i * m + i];
    for (int tries = 0; tries < 30; tries++) {
        if (cholesky(l, h, m, lambda)) {
            chol_solve(d, l, g, m);
            return 1;
        }
        if (lambda == 0.0)
            lambda = tr > 0.0 ? 1e-12 * tr / m : 1e-12;
        else
            lambda *= 10.0;
    }
    return 0;
}

facet_status face_cam_loss(double *loss, double *grad, const double *wb,
                           const float *const *F_ind, int n_ind,
                           const float *const *F_arb, int n_arb, int Z,
                           double scale, const face_cam_opts *o)
{
    static const char fn[] = "cam_loss";
    face_cam_opts opts;
    problem p;
    facet_status st;

    if (!loss || !wb)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (Z < 1 || Z > FACE_CAM_MAX_Z)
        return facet_fail(FACET_E_ARG, "%s: Z = %d is not in 1..%d", fn, Z,
                          FACE_CAM_MAX_Z);
    if (!(scale > 0.0) || !isfinite(scale))
        return facet_fail(FACET_E_ARG, "%s: scale = %g is not > 0", fn,
                          scale);
    if ((st = read_opts(&opts, fn, o)) != FACET_OK ||
        (st = check_set(fn, "F_ind", F_ind, n_ind, Z)) != FACET_OK ||
        (st = check_set(fn, "F_arb", F_arb, n_arb, Z)) != FACET_OK)
        return st;
    if (n_ind + n_arb < 1)
        return facet_fail(FACET_E_ARG, "%s: no portraits", fn);

    double *x = facet_alloc((size_t)(Z + 1) * sizeof *x);
    if (!x)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    make_problem(&p, F_ind, n_ind, F_arb, n_arb, Z, scale, &opts);
    *loss = objective(grad, &p, wb, x);
    facet_free(x);
    return FACET_OK;
}

facet_status face_cam_train(face_cam *out, const float *const *F_ind,
                            int n_ind, const float *const *F_arb, int n_arb,
                            int Z, const face_cam_opts *o)
{
    static const char fn[] = "cam_train";
    face_cam_opts opts;
    problem p;
    facet_status st;
    size_t hbytes;

    if (!out)
        return facet_fail(FACET_E_ARG, "%s: NULL output", fn);
    memset(out, 0, sizeof *out);
    if (Z < 1 || Z > FACE_CAM_MAX_Z)
        return facet_fail(FACET_E_ARG, "%s: Z = %d is not in 1..%d", fn, Z,
                          FACE_CAM_MAX_Z);
    if (n_ind < 1 || n_arb < 1)
        return facet_fail(FACET_E_ARG, "%s: need portraits in both sets "
                          "(P_ind %d, P_arb %d)", fn, n_ind, n_arb);
    if ((st = read_opts(&opts, fn, o)) != FACET_OK ||
        (st = check_set(fn, "F_ind", F_ind, n_ind, Z)) != FACET_OK ||
        (st = check_set(fn, "F_arb", F_arb, n_arb, Z)) != FACET_OK)
        return st;

    // The global scale: given, or the mean norm of the pooled vectors.
    double scale = opts.scale;
    if (scale <= 0.0) {
        double acc = 0.0;
        for (int k = 0; k < 2; k++) {
            const float *const *F = k == 0 ? F_ind : F_arb;
            int n = k == 0 ? n_ind : n_arb;
            for (int i = 0; i < n; i++) {
                double ss = 0.0;
                for (int z = 0; z < Z; z++)
                    ss += (double)F[i][z] * F[i][z];
                acc += sqrt(ss);
            }
        }
        scale = acc / ((double)n_ind + (double)n_arb);
        if (!(scale > 0.0) || !isfinite(scale))
            return facet_fail(FACET_E_ARG, "%s: the pooled features are all "
                              "zero (no scale)", fn);
    }
    if (!((float)scale > 0.0f) || !isfinite((float)scale))
        return facet_fail(FACET_E_ARG, "%s: scale = %g does not fit a "
                          "float", fn, scale);
    scale = (float)scale;   // the stored scale is the one trained with
    make_problem(&p, F_ind, n_ind, F_arb, n_arb, Z, scale, &opts);

    // Scratch: theta, trial, g, d, x (m each), Hessian and factor (m x m).
    int m = Z + 1;
    if (!facet_size_mul(&hbytes, (size_t)m * (size_t)m, sizeof(double)))
        return facet_fail(FACET_E_TOO_LARGE, "%s: Z = %d too large", fn, Z);
    double *vec = facet_alloc(5 * (size_t)m * sizeof *vec);
    double *h = facet_alloc(hbytes);
    double *l = facet_alloc(hbytes);
    float *a = facet_alloc(2 * (size_t)Z * sizeof *a);
    if (!vec || !h || !l || !a) {
        facet_free(vec);
        facet_free(h);
        facet_free(l);
        facet_free(a);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", fn);
    }
    double *theta = vec, *trial = vec + m, *g = vec + 2 * m;
    double *d = vec + 3 * m, *x = vec + 4 * m;

    // Newton from theta = 0 until ||g|| <= tol ||g_0||.
    memset(theta, 0, (size_t)m * sizeof *theta);
    double loss = objective(g, &p, theta, x);
    double g0 = sqrt(dot(g, g, m));
    double gn = g0;
    int it = 0, converged = g0 == 0.0;
    while (!converged && it < opts.max_iter) {
        hessian(h, &p, theta, x);
        if (!newton_dir(d, l, h, g, m))
            break;

        // Backtracking: halve the step until the Armijo condition holds.
        double slope = dot(g, d, m);
        double t = 1.0, trial_loss = loss;
        int ok = 0;
        if (slope < 0.0) {
            for (int k = 0; k < MAX_HALVINGS && !ok; k++, t *= 0.5) {
                for (int j = 0; j < m; j++)
                    trial[j] = theta[j] + t * d[j];
                trial_loss = objective(NULL, &p, trial, x);
                ok = trial_loss <= loss + ARMIJO_C * t * slope;
            }
        }
        if (!ok)
            break;
        memcpy(theta, trial, (size_t)m * sizeof *theta);
        loss = objective(g, &p, theta, x);
        gn = sqrt(dot(g, g, m));
        it++;
        converged = gn <= opts.tol * g0;
    }

    // Store the softmax layer: A_ind = w / 2 = -A_arb, b_ind = b / 2.
    for (int z = 0; z < Z; z++) {
        a[z] = (float)(0.5 * theta[z]);
        a[Z + z] = -a[z];
    }
    out->z = Z;
    out->a = a;
    out->b[0] = (float)(0.5 * theta[Z]);
    out->b[1] = -out->b[0];
    out->scale = (float)scale;
    out->iters = it;
    out->converged = converged;
    out->loss = loss;
    out->grad_rel = g0 > 0.0 ? gn / g0 : 0.0;
    facet_free(vec);
    facet_free(h);
    facet_free(l);

    st = face_cam_accuracy(&out->train_acc, out, F_ind, n_ind, F_arb, n_arb);
    if (st != FACET_OK)
        face_cam_free(out);
    return st;
}

void face_cam_free(face_cam *cam)
{
    if (!cam)
        return;
    facet_free(cam->a);
    memset(cam, 0, sizeof *cam);
}

// A usable layer: rows present, a positive scale.
static facet_status check_cam(const char *fn, const face_cam *cam)
{
    if (!cam || !cam->a || cam->z < 1)
        return facet_fail(FACET_E_ARG, "%s: the CAM layer is empty", fn);
    if (!(cam->scale > 0.0f) || !isfinite(cam->scale))
        return facet_fail(FACET_E_ARG, "%s: the CAM layer's scale %g is not "
                          "> 0", fn, (double)cam->scale);
    return FACET_OK;
}

facet_status face_cam_scores(double s[2], double *p_ind,
                             const face_cam *cam, const float *F)
{
    static const char fn[] = "cam_scores";
    facet_status st;

    if ((st = check_cam(fn, cam)) != FACET_OK)
        return st;
    if (!s || !F)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);

    // s_c = A_c . (F / s) + b_c; the softmax of two is a sigmoid of the
    // difference.
    double inv_s = 1.0 / cam->scale;
    for (int c = 0; c < 2; c++) {
        const float *row = cam->a + (size_t)c * cam->z;
        double acc = 0.0;
        for (int z = 0; z < cam->z; z++)
            acc += (double)row[z] * (F[z] * inv_s);
        s[c] = acc + cam->b[c];
    }
    if (p_ind)
        *p_ind = sigmoid(s[0] - s[1]);
    return FACET_OK;
}

facet_status face_cam_predict(face_cam_class *cls, const face_cam *cam,
                              const float *F)
{
    double s[2];
    facet_status st;

    if (!cls)
        return facet_fail(FACET_E_ARG, "cam_predict: NULL output");
    if ((st = face_cam_scores(s, NULL, cam, F)) != FACET_OK)
        return st;
    *cls = s[0] > s[1] ? FACE_CAM_IND : FACE_CAM_ARB;
    return FACET_OK;
}

facet_status face_cam_accuracy(double *acc, const face_cam *cam,
                               const float *const *F_ind, int n_ind,
                               const float *const *F_arb, int n_arb)
{
    static const char fn[] = "cam_accuracy";
    facet_status st;
    int right = 0;

    if (!acc)
        return facet_fail(FACET_E_ARG, "%s: NULL output", fn);
    if ((st = check_cam(fn, cam)) != FACET_OK ||
        (st = check_set(fn, "F_ind", F_ind, n_ind, cam->z)) != FACET_OK ||
        (st = check_set(fn, "F_arb", F_arb, n_arb, cam->z)) != FACET_OK)
        return st;
    if (n_ind + n_arb < 1)
        return facet_fail(FACET_E_ARG, "%s: no portraits", fn);

    // Count the portraits predicted as their own set.
    for (int k = 0; k < 2; k++) {
        const float *const *F = k == 0 ? F_ind : F_arb;
        int n = k == 0 ? n_ind : n_arb;
        for (int i = 0; i < n; i++) {
            face_cam_class c;
            if ((st = face_cam_predict(&c, cam, F[i])) != FACET_OK)
                return st;
            right += (int)c == k;
        }
    }
    *acc = (double)right / ((double)n_ind + (double)n_arb);
    return FACET_OK;
}

facet_status face_cam_map(float *map, const face_cam *cam, const float *f,
                          int Z, int H, int W, face_cam_class cls)
{
    static const char fn[] = "cam_map";
    facet_status st;
    size_t hw;

    if ((st = check_cam(fn, cam)) != FACET_OK)
        return st;
    if (!map || !f)
        return facet_fail(FACET_E_ARG, "%s: NULL argument", fn);
    if (Z != cam->z)
        return facet_fail(FACET_E_ARG, "%s: map has %d channels, the layer "
                          "%d", fn, Z, cam->z);
    if (H < 1 || W < 1 || !facet_size_mul(&hw, (size_t)H, (size_t)W) ||
        !facet_size_mul(&hw, hw, (size_t)Z))
        return facet_fail(FACET_E_ARG, "%s: bad map size %d x %d x %d", fn,
                          Z, H, W);
    if (cls != FACE_CAM_IND && cls != FACE_CAM_ARB)
        return facet_fail(FACET_E_ARG, "%s: class %d is not ind (0) or arb "
                          "(1)", fn, (int)cls);
    hw = (size_t)H * (size_t)W;

    // Each pixel: sum over channels in order, in double.
    const float *row = cam->a + (size_t)cls * cam->z;
    double inv_s = 1.0 / cam->scale;
    for (size_t i = 0; i < hw; i++) {
        double acc = 0.0;
        for (int z = 0; z < Z; z++)
            acc += (double)row[z] * f[(size_t)z * hw + i];
        map[i] = (float)(acc * inv_s);
    }
    return FACET_OK;
}

// fit.c - weighted least-squares fits of 2-D point sets: a similarity
// (rotation, uniform scale, translation) and a general affine map. The face
// pipeline uses them to align detected landmarks to a canonical template
// before cropping, and to map a template back onto an image.
//
// Both fits centre the two point sets on their weighted means first, so the
// translation drops out and the remaining 2x2 part is solved on centred
// coordinates (no large-offset cancellation). The similarity has a closed
// form; the affine fit runs a pivoted two-column QR (modified Gram-Schmidt
// on the weighted, centred source coordinates) in a few passes over the
// points, so its accuracy follows the conditioning of the point cloud, not
// its square as with the normal equations.
//
// ref: S. Umeyama, "Least-squares estimation of transformation parameters
//      between two point patterns", IEEE TPAMI 13(4), 1991 (the 2-D
//      similarity without reflection is its special case).
// ref: A. Bjorck, "Numerical Methods for Least Squares Problems", SIAM
//      1996, sec. 2.4 (MGS on the augmented matrix [X d] for least squares).
//
// Limitations:
// - Plain least squares: one gross outlier with a positive weight pulls the
//   fit; callers who expect outliers set its weight to 0.
// - The source set is rejected as degenerate when its weighted RMS spread
//   about the mean is at most 1e-12 of its largest coordinate magnitude
//   (below that the centred coordinates are mostly rounding). The affine fit
//   also rejects a set whose spread across its best-fit line is below 1e-8
//   of its spread along it (see AFFINE_MIN_RATIO).
// - Sums are plain sequential double sums in point order: fine for the few
//   hundred points of a landmark set, not tuned for millions.
#include "linalg.h"

#include <math.h>

// Degenerate-set thresholds (see Limitations above).
#define SPREAD_MIN_REL 1e-12
#define AFFINE_MIN_RATIO 1e-8

// Weighted means of both point sets, with input validation.
typedef struct fit_stats {
    double wsum;        // sum of weights
    double ms[2], md[2]; // weighted means of src and dst (x, y)
    double rmax;        // largest |coordinate| of src with positive weight
} fit_stats;

static double weight(const double *w, int i)
{
    return w ? w[i] : 1.0;
}

// Check inputs and compute the weighted means. `who` names the caller in
// the failure detail.
static facet_status fit_prepare(fit_stats *st, const double *src,
                                const double *dst, const double *w, int n,
                                int nmin, const char *who)
{
    double sx = 0, sy = 0, dx = 0, dy = 0, wsum = 0, rmax = 0;

    if (n < nmin)
        return facet_fail(FACET_E_ARG, "%s: %d points, need at least %d",
                          who, n, nmin);

    // Validate every point and weight before using any.
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        if (!(wi >= 0.0) || !isfinite(wi))
            return facet_fail(FACET_E_ARG,
                              "%s: weight %d is %g (must be finite, >= 0)",
                              who, i, wi);
        if (!isfinite(src[2 * i]) || !isfinite(src[2 * i + 1]) ||
            !isfinite(dst[2 * i]) || !isfinite(dst[2 * i + 1]))
            return facet_fail(FACET_E_ARG, "%s: point %d is not finite",
                              who, i);
    }

    // Weighted sums in point order.
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        if (wi == 0.0)
            continue;
        wsum += wi;
        sx += wi * src[2 * i];
        sy += wi * src[2 * i + 1];
        dx += wi * dst[2 * i];
        dy += wi * dst[2 * i + 1];
        rmax = fmax(rmax, fmax(fabs(src[2 * i]), fabs(src[2 * i + 1])));
    }
    if (!(wsum > 0.0) || !isfinite(wsum))
        return facet_fail(FACET_E_ARG, "%s: total weight is %g", who, wsum);

    st->wsum = wsum;
    st->ms[0] = sx / wsum;
    st->ms[1] = sy / wsum;
    st->md[0] = dx / wsum;
    st->md[1] = dy / wsum;
    st->rmax = rmax;
    return FACET_OK;
}

// FACET_E_ARG when the centred source spread (sum of w |s - ms|^2) is too
// small to define a transform.
static facet_status check_spread(const fit_stats *st, double ss,
                                 const char *who)
{
    double rms = sqrt(ss / st->wsum);

    if (!(rms > SPREAD_MIN_REL * st->rmax) || !(ss > 0.0))
        return facet_fail(FACET_E_ARG,
                          "%s: source points coincide (RMS spread %g for "
                          "coordinates up to %g)", who, rms, st->rmax);
    return FACET_OK;
}

facet_status la_fit_similarity(double out[6], const double *src,
                               const double *dst, const double *w, int n)
{
    static const char who[] = "la_fit_similarity";
    fit_stats st;
    double ss = 0, dot = 0, crs = 0, a, b;
    facet_status rc;

    FACET_ASSERT(out && src && dst);
    rc = fit_prepare(&st, src, dst, w, n, 2, who);
    if (rc != FACET_OK)
        return rc;

    // On centred points p, q: ss = sum w |p|^2, dot = sum w p.q,
    // crs = sum w (p x q). The minimiser of sum w |[a -b; b a] p - q|^2 is
    // a = dot / ss, b = crs / ss.
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        double px, py, qx, qy;
        if (wi == 0.0)
            continue;
        px = src[2 * i] - st.ms[0];
        py = src[2 * i + 1] - st.ms[1];
        qx = dst[2 * i] - st.md[0];
        qy = dst[2 * i + 1] - st.md[1];
        ss += wi * (px * px + py * py);
        dot += wi * (px * qx + py * qy);
        crs += wi * (px * qy - py * qx);
    }
    rc = check_spread(&st, ss, who);
    if (rc != FACET_OK)
        return rc;
    a = dot / ss;
    b = crs / ss;

    // out = [a -b tx; b a ty], with t = md - [a -b; b a] ms.
    out[0] = a;
    out[1] = -b;
    out[2] = st.md[0] - (a * st.ms[0] - b * st.ms[1]);
    out[3] = b;
    out[4] = a;
    out[5] = st.md[1] - (b * st.ms[0] + a * st.ms[1]);
    return FACET_OK;
}

facet_status la_fit_affine(double out[6], const double *src,
                           const double *dst, const double *w, int n)
{
    static const char who[] = "la_fit_affine";
    fit_stats st;
    double sxx = 0, syy = 0, r00, r01 = 0, r11, k, lin[2][2];
    double qd0[2] = {0, 0}, qd1[2] = {0, 0}, r11sq = 0;
    int cx, cy; // pivot: source coordinate taken first (cx) and second (cy)
    facet_status rc;

    FACET_ASSERT(out && src && dst);
    rc = fit_prepare(&st, src, dst, w, n, 3, who);
    if (rc != FACET_OK)
        return rc;

    // Pass 1: weighted spread of each centred source coordinate; pivot the
    // wider one first so that r11 / r00 measures how flat the cloud is.
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        double px = src[2 * i] - st.ms[0], py = src[2 * i + 1] - st.ms[1];
        sxx += wi * px * px;
        syy += wi * py * py;
    }
    rc = check_spread(&st, sxx + syy, who);
    if (rc != FACET_OK)
        return rc;
    cx = sxx >= syy ? 0 : 1;
    cy = 1 - cx;
    r00 = sqrt(cx == 0 ? sxx : syy);

    // Pass 2: with X, Y the pivoted centred source columns (scaled by
    // sqrt(w)) and q0 = X / r00: r01 = q0.Y and q0.d for both outputs.
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        double x = src[2 * i + cx] - st.ms[cx];
        double y = src[2 * i + cy] - st.ms[cy];
        r01 += wi * x * y;
        qd0[0] += wi * x * (dst[2 * i] - st.md[0]);
        qd0[1] += wi * x * (dst[2 * i + 1] - st.md[1]);
    }
    r01 /= r00;
    qd0[0] /= r00;
    qd0[1] /= r00;

    // Pass 3: Y' = Y - k X (k = r01 / r00) is the part of Y orthogonal to
    // X; r11 = |Y'| and q1.d' with d' = d - q0 (q0.d), the MGS update of
    // the augmented column.
    k = r01 / r00;
    for (int i = 0; i < n; i++) {
        double wi = weight(w, i);
        double x = src[2 * i + cx] - st.ms[cx];
        double yp = (src[2 * i + cy] - st.ms[cy]) - k * x;
        double d0 = (dst[2 * i] - st.md[0]) - qd0[0] * x / r00;
        double d1 = (dst[2 * i + 1] - st.md[1]) - qd0[1] * x / r00;
        r11sq += wi * yp * yp;
        qd1[0] += wi * yp * d0;
        qd1[1] += wi * yp * d1;
    }
    r11 = sqrt(r11sq);
    if (!(r11 > AFFINE_MIN_RATIO * r00))
        return facet_fail(FACET_E_ARG,
                          "%s: source points are collinear (spread across "
                          "the line %.3g of the spread along it, limit %g)",
                          who, r11 / r00, AFFINE_MIN_RATIO);

    // Back-substitute R [lx ly]^T = [q0.d q1.d]^T for each output row.
    for (int r = 0; r < 2; r++) {
        double ly = qd1[r] / r11 / r11;
        double lx = (qd0[r] - r01 * ly) / r00;
        lin[r][cx] = lx;
        lin[r][cy] = ly;
    }

    // out = [L | md - L ms].
    for (int r = 0; r < 2; r++) {
        out[3 * r] = lin[r][0];
        out[3 * r + 1] = lin[r][1];
        out[3 * r + 2] = st.md[r] - (lin[r][0] * st.ms[0] +
                                     lin[r][1] * st.ms[1]);
    }
    return FACET_OK;
}

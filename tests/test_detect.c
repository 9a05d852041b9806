// test_detect.c - face/detect.c: the subject rule on made-up detection
// lists, the box arithmetic (SSD box -> landmark box, landmarks -> box,
// the aligned crop's box), the padded pass's map back to the photo, bad
// arguments, a face-free image; then, on real photos, the landmark error
// of facet's predictor from calibrated SSD boxes against dlib's from its
// own detector, the subject choice, a photo with several faces and
// aligned crops.
//
// Real data: tests/data/detect/dlib_lfw.txt (tools/fixtures/
// dlib_hog_boxes.cpp: dlib's HOG boxes and landmarks on every third LFW
// photo) names photos under $FACET_DATA (default ../shared/data), read at
// run time and checked against the recorded size and hash. Without the
// folder those parts print "skipped: ..." and count no failure. The
// weights (ssd_mobilenetv1.fct, dlib_landmarks68.fct in $FACET_WEIGHTS,
// default weights/) are required: without them the test fails saying to
// run `make weights`.
//
// The fixture's odd-numbered photos are the calibration's held-out half
// (detect.c was fitted on the even ones by tools/eval/detect_eval.c, whose
// measurement code this file includes). `make test` checks a sample of
// them: every 8th held-out photo and every held-out photo where dlib found
// several faces; `test_detect --full` checks all of them and every
// aligned112 image. The 910-photo subject count is detect_eval's (lfw).
//
// Limitations:
// - The real-data bounds hold for the stb_image of Debian libstb-dev that
//   made the fixture (checked through the recorded hashes).
#define DETECT_EVAL_NO_MAIN
#include "../tools/eval/detect_eval.c"

#include "check.h"

static int full;
static face_detector *det;
static face_landmarks *lmk;

// ---------------------------------------------------------------------------
// Without the network

static face_det mkdet(double x, double y, double w, double h, double score)
{
    face_det d = {x, y, w, h, score, FACE_DET_PLAIN};
    return d;
}

static void test_subject_rule(void)
{
    face_det d[4];

    // Nothing to pick.
    CHECK(face_pick_subject(d, 0, 250, 250) == -1);
    CHECK(face_pick_subject(NULL, 3, 250, 250) == -1);
    d[0] = mkdet(75, 75, 100, 100, 0.9);
    CHECK(face_pick_subject(d, 1, 0, 250) == -1);
    CHECK(face_pick_subject(d, 1, 250, 250) == 0);

    // A central face beats a smaller, surer bystander in a corner.
    d[0] = mkdet(5, 5, 50, 60, 0.99);
    d[1] = mkdet(80, 70, 90, 110, 0.80);
    CHECK(face_pick_subject(d, 2, 250, 250) == 1);

    // ... and a larger one at the edge, half of it outside.
    d[2] = mkdet(190, 60, 120, 140, 0.95);
    CHECK(face_pick_subject(d, 3, 250, 250) == 1);

    // Two alike faces: the surer wins; equal weights: the first.
    d[0] = mkdet(70, 70, 100, 100, 0.7);
    d[1] = mkdet(80, 80, 100, 100, 0.9);
    CHECK(face_pick_subject(d, 2, 250, 250) == 1);
    d[1] = d[0];
    CHECK(face_pick_subject(d, 2, 250, 250) == 0);

    // The weight itself, against the formula in double.
    {
        face_det t = mkdet(100, 40, 80, 100, 0.8);
        double dx = (100 + 40) - 0.5 * 299, dy = (40 + 50) - 0.5 * 199;
        double want = 0.8 * sqrt(80.0 * 100 / (300.0 * 200)) *
                      exp(-(dx * dx + dy * dy) / (200.0 * 200) /
                          (2 * FACE_SUBJECT_SIGMA * FACE_SUBJECT_SIGMA));
        // Tolerance: the same double formula in another order.
        CHECK_NEAR(face_subject_weight(&t, 300, 200), want, 1e-12);
        t.w = 0;
        CHECK(face_subject_weight(&t, 300, 200) == 0);
        CHECK(face_subject_weight(&t, 0, 200) == 0);
    }
}

static void test_box_maps(void)
{
    face_det d = mkdet(10.25, 20.5, 80, 100, 0.9);
    face_box_calib id = {0, 0, 1, 0, 0, 1};
    face_box_calib k = {0.05, -0.1, 0.9, 0.1, 0.2, 0.7};
    face_landmarks_box b, b2;

    // Identity: the SSD box's edges, half a pixel in.
    face_det_box(&d, &id, &b);
    CHECK_NEAR(b.left, 10.75, 1e-12);
    CHECK_NEAR(b.right, 89.75, 1e-12);
    CHECK_NEAR(b.top, 21.0, 1e-12);
    CHECK_NEAR(b.bottom, 120.0, 1e-12);

    // A general map, by hand: centre (50.25, 70.5) + (4, -10); size
    // 0.9 * 80 + 0.1 * 100 = 82 by 0.2 * 80 + 0.7 * 100 = 86.
    face_det_box(&d, &k, &b);
    CHECK_NEAR(b.left, 54.25 - 41 + 0.5, 1e-12);
    CHECK_NEAR(b.right, 54.25 + 41 - 0.5, 1e-12);
    CHECK_NEAR(b.top, 60.5 - 43 + 0.5, 1e-12);
    CHECK_NEAR(b.bottom, 60.5 + 43 - 0.5, 1e-12);

    // The built-in map is the pass's constants.
    for (int p = 0; p < FACE_DET_PASSES; p++) {
        face_box_calib c = face_box_calib_of(p);
        d.pass = p;
        face_det_to_landmark_box(&d, &b);
        face_det_box(&d, &c, &b2);
        CHECK(!memcmp(&b, &b2, sizeof b));
        CHECK(c.sxw + c.sxh > 0.5 && c.syw + c.syh > 0.5);
    }

    // Landmarks -> box: a square of side `side` r about the centroid
    // moved by (dx, dy) r; r, the RMS spread, from a reference in double.
    {
        float xy[2 * EV_LM];
        facet_rng rng;
        double mx = 0, my = 0, ss = 0, gx, gy, r;
        face_shape_calib sc = {0.1, -0.2, 2.5};

        facet_rng_seed(&rng, 7);
        check_fill_random(xy, 2 * EV_LM, &rng, 50, 150);
        for (int i = 0; i < EV_LM; i++) {
            mx += xy[2 * i] / (double)EV_LM;
            my += xy[2 * i + 1] / (double)EV_LM;
        }
        for (int i = 0; i < EV_LM; i++)
            ss += (xy[2 * i] - mx) * (xy[2 * i] - mx) +
                  (xy[2 * i + 1] - my) * (xy[2 * i + 1] - my);
        face_landmarks_spread(xy, EV_LM, &gx, &gy, &r);
        // Tolerance: sums of 68 values near 100 in another order.
        CHECK_NEAR(gx, mx, 1e-10);
        CHECK_NEAR(gy, my, 1e-10);
        CHECK_NEAR(r, sqrt(ss / EV_LM), 1e-10);
        face_box_from_landmarks(xy, EV_LM, &sc, &b);
        CHECK_NEAR(0.5 * (b.left + b.right), mx + 0.1 * r, 1e-9);
        CHECK_NEAR(0.5 * (b.top + b.bottom), my - 0.2 * r, 1e-9);
        CHECK_NEAR(b.right - b.left + 1, 2.5 * r, 1e-9);
        CHECK_NEAR(b.bottom - b.top + 1, 2.5 * r, 1e-9);
    }

    // The aligned box scales with the frame, inside it.
    face_aligned_box(112, 112, &b);
    face_aligned_box(224, 224, &b2);
    CHECK(b.left >= -56 && b.right <= 112 + 56 && b.left < b.right);
    CHECK(b.top >= -56 && b.bottom <= 112 + 56 && b.top < b.bottom);
    // Tolerance: edges scale exactly (fractions of the frame's edges).
    CHECK_NEAR(b2.left + 0.5 - 0.5, 2 * (b.left + 0.5 - 0.5) , 1e-9);
    CHECK_NEAR(b2.right + 1, 2 * (b.right + 1), 1e-9);
}

// ---------------------------------------------------------------------------
// With the network, without data

// A w x h image of a smooth gradient.
static void gradient(face_image *im, int w, int h)
{
    FACET_ASSERT(face_image_alloc(im, w, h) == FACET_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->px + (size_t)y * im->stride + 3 * x;
            p[0] = (uint8_t)(255 * x / w);
            p[1] = (uint8_t)(255 * y / h);
            p[2] = (uint8_t)(128 + 60 * sin(0.05 * (x + y)));
        }
}

static void test_bad_args(void)
{
    face_image im, empty = {0, 0, 0, NULL};
    face_det d[4];
    face_detector *nd = NULL;
    int n = 5;

    gradient(&im, 40, 30);
    CHECK(face_detect(NULL, &im, d, 4, &n, 0.5) == FACET_E_ARG && n == 0);
    CHECK(face_detect(det, NULL, d, 4, &n, 0.5) == FACET_E_ARG && n == 0);
    CHECK(face_detect(det, &im, NULL, 4, &n, 0.5) == FACET_E_ARG);
    CHECK(face_detect(det, &im, d, 4, NULL, 0.5) == FACET_E_ARG);
    CHECK(face_detect(det, &im, d, 0, &n, 0.5) == FACET_E_ARG);
    CHECK(face_detect(det, &im, d, 4, &n, -0.1) == FACET_E_ARG);
    CHECK(face_detect(det, &im, d, 4, &n, 1.0) == FACET_E_ARG);
    CHECK(face_detect(det, &im, d, 4, &n, NAN) == FACET_E_ARG);
    CHECK(face_detect(det, &empty, d, 4, &n, 0.5) == FACET_E_ARG);
    CHECKF(strstr(facet_error(), "face_detect") != NULL, "detail: %s",
           facet_error());
    {
        face_image thin = im;
        thin.stride = 3 * (size_t)im.w - 1;
        CHECK(face_detect(det, &thin, d, 4, &n, 0.5) == FACET_E_ARG);
    }
    CHECK(face_detect_passes(det, &im, 0, d, 4, &n, 0.5) == FACET_E_ARG);
    CHECK(face_detect_passes(det, &im, 4, d, 4, &n, 0.5) == FACET_E_ARG);
    CHECK(face_detect_padded(det, &im, -0.5, FACE_PAD_GREY, d, 4, &n,
                             0.5) == FACET_E_ARG);
    CHECK(face_detect_padded(det, &im, 4.5, FACE_PAD_GREY, d, 4, &n,
                             0.5) == FACET_E_ARG);
    CHECK(face_detect_padded(det, &im, NAN, FACE_PAD_GREY, d, 4, &n,
                             0.5) == FACET_E_ARG);
    CHECK(face_detect_padded(det, &im, 0.5, (face_pad_mode)7, d, 4, &n,
                             0.5) == FACET_E_ARG);
    CHECK(face_detect_padded(det, &im, 0.5, FACE_PAD_MIRROR, d, 0, &n,
                             0.5) == FACET_E_ARG);

    // Opening: no path, a missing file (the detail names it).
    CHECK(face_detector_open(NULL, "x") == FACET_E_ARG);
    CHECK(face_detector_open(&nd, NULL) == FACET_E_ARG && nd == NULL);
    CHECK(face_detector_open(&nd, "/nonexistent/ssd.fct") != FACET_OK &&
          nd == NULL);
    CHECKF(strstr(facet_error(), "/nonexistent/ssd.fct") != NULL,
           "detail: %s", facet_error());
    face_detector_free(NULL);
    face_image_free(&im);
}

// A gradient has no face, at any pass; tiny and very flat images work.
static void test_no_face(void)
{
    static const int sizes[][2] = {{250, 250}, {1, 1}, {640, 7}, {3, 900}};
    face_det d[8];
    int n = -1;

    for (int s = 0; s < 4; s++) {
        face_image im;
        gradient(&im, sizes[s][0], sizes[s][1]);
        CHECK(face_detect(det, &im, d, 8, &n, FACE_DETECT_MIN_SCORE) ==
              FACET_OK);
        CHECKF(n == 0, "%d x %d gradient: %d faces", sizes[s][0],
               sizes[s][1], n);
        for (int m = 0; m < 3; m++) {
            // Mirroring a strip a few pixels thick into a square tiles it
            // into stripes the network may call faces (640x7 gave 0.93);
            // the pipeline pads with grey, so mirror is checked only on
            // images with some extent in both directions.
            if (m == FACE_PAD_MIRROR && (sizes[s][0] < 16 || sizes[s][1] < 16))
                continue;
            n = -1;
            CHECK(face_detect_padded(det, &im, 0.5, (face_pad_mode)m, d, 8,
                                     &n, FACE_DETECT_MIN_SCORE) == FACET_OK);
            CHECKF(n == 0, "%d x %d gradient, pad mode %d: %d faces "
                   "(best %.3f)", sizes[s][0], sizes[s][1], m, n,
                   n > 0 ? d[0].score : 0.0);
        }
        face_image_free(&im);
    }
}

// The padded pass maps its boxes back exactly: `im` with a border of
// replicated edge pixels, b pixels wide, run with pad 0, gives the boxes
// of `im` run with pad b / side and FACE_PAD_REPLICATE, shifted by b. The
// two inputs are the same floats (sample positions differ by the integer
// b, a power-of-two fraction apart), so the network sees the same input.
// min_score 0 keeps 100 boxes of any image.
static void test_padding_exact(void)
{
    face_image im, big;
    face_det a[FACE_DETECT_MAX_PASS], b[FACE_DETECT_MAX_PASS];
    const int side = 128, border = 64;
    int na = 0, nb = 0, same = 1;
    double worst = 0;
    facet_rng rng;

    // A gradient with noise (any image gives 100 boxes at min_score 0).
    gradient(&im, side, side);
    facet_rng_seed(&rng, 11);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < 3 * side; x++)
            im.px[(size_t)y * im.stride + x] ^=
                (uint8_t)facet_rng_below(&rng, 64);
    FACET_ASSERT(face_image_alloc(&big, side + 2 * border,
                                  side + 2 * border) == FACET_OK);
    for (int y = 0; y < big.h; y++)
        for (int x = 0; x < big.w; x++) {
            int sx = x - border, sy = y - border;
            sx = sx < 0 ? 0 : sx >= side ? side - 1 : sx;
            sy = sy < 0 ? 0 : sy >= side ? side - 1 : sy;
            memcpy(big.px + (size_t)y * big.stride + 3 * x,
                   im.px + (size_t)sy * im.stride + 3 * sx, 3);
        }
    CHECK(face_detect_padded(det, &im, (double)border / side,
                             FACE_PAD_REPLICATE, a, FACE_DETECT_MAX_PASS,
                             &na, 0.0) == FACET_OK);
    CHECK(face_detect_padded(det, &big, 0.0, FACE_PAD_REPLICATE, b,
                             FACE_DETECT_MAX_PASS, &nb, 0.0) == FACET_OK);
    CHECKF(na == nb && na > 10, "padded %d boxes, bordered %d", na, nb);
    for (int i = 0; i < na && i < nb; i++) {
        worst = fmax(worst, fabs(a[i].x - (b[i].x - border)));
        worst = fmax(worst, fabs(a[i].y - (b[i].y - border)));
        worst = fmax(worst, fabs(a[i].w - b[i].w));
        worst = fmax(worst, fabs(a[i].h - b[i].h));
        same &= a[i].score == b[i].score && a[i].pass == FACE_DET_PADDED;
    }
    // Tolerance: the same network boxes, scaled alike, shifted by 64
    // through a sum in double (a few ulps of 300).
    CHECKF(worst < 1e-9, "boxes differ by up to %g px", worst);
    CHECK(same);
    face_image_free(&im);
    face_image_free(&big);
}

// ---------------------------------------------------------------------------
// Real photos

// The subset checked: every 8th held-out photo and the held-out ones where
// dlib found several faces (all held-out photos with --full).
static int in_sample(const ev_photo *p, int i)
{
    return i % 2 == 1 && (full || i % 16 == 1 || p->nbox > 1);
}

static void test_calibration(const ev_photo *ph, int n)
{
    double *e_raw = malloc((size_t)n * sizeof(double));
    double *e_cal = malloc((size_t)n * sizeof(double));
    int k = 0, photos = 0, mism = 0, wrong = 0;

    for (int i = 0; i < n; i++) {
        face_image im = {0};
        ev_meas m;
        ev_ctx c = {check_data_dir(), det, lmk};
        face_box_calib id = {0, 0, 1, 0, 0, 1};
        face_landmarks_box b;
        face_det be;
        int s;

        if (!in_sample(&ph[i], i) || !ph[i].has_lm)
            continue;
        photos++;
        if (!ev_load(&im, c.data, ph[i].path)) {
            CHECKF(0, "%s: cannot load", ph[i].path);
            continue;
        }
        CHECKF(im.w == ph[i].w && im.h == ph[i].h &&
               ev_hash(&im) == ph[i].hash, "%s: not the fixture's pixels",
               ph[i].path);
        if (!ev_measure(&m, &c, &ph[i], &im, 0)) {
            CHECKF(0, "%s: %s", ph[i].path, facet_error());
            face_image_free(&im);
            continue;
        }
        mism += m.round_mismatch;

        // The subject is dlib's central face.
        s = face_pick_subject(m.pooled, m.npooled, im.w, im.h);
        CHECKF(s >= 0, "%s: no face", ph[i].path);
        if (s < 0) {
            face_image_free(&im);
            continue;
        }
        face_det_to_landmark_box(&m.pooled[s], &b);
        be = ev_box_edges(&b);
        wrong += ev_iou(&be, &m.dlib) < 0.5;
        CHECKF(ev_iou(&be, &m.dlib) >= 0.5, "%s: the subject's box (IoU "
               "%.2f) is not dlib's central face", ph[i].path,
               ev_iou(&be, &m.dlib));

        // Landmark error from the calibrated and the raw box.
        e_cal[k] = ev_box_error(&c, &im, m.ref, &b, NULL);
        face_det_box(&m.pooled[s], &id, &b);
        e_raw[k] = ev_box_error(&c, &im, m.ref, &b, NULL);
        k++;
        face_image_free(&im);
    }
    CHECKF(mism == 0, "%d reference points differ from dlib's", mism);
    CHECKF(k >= (full ? 140 : 25), "only %d of %d photos measured", k,
           photos);
    if (k > 0) {
        ev_stats raw = ev_summary(e_raw, k), cal = ev_summary(e_cal, k);
        printf("held-out landmark error / inter-ocular over %d photos: "
               "uncalibrated mean %.4f (median %.4f), calibrated mean %.4f "
               "(median %.4f, max %.4f); subject != dlib's face: %d\n", k,
               raw.mean, raw.median, cal.mean, cal.median, cal.max, wrong);
        // Bounds: BOUNDS_NOTE
        CHECKF(cal.mean < 0.03, "calibrated mean error %.4f", cal.mean);
        CHECKF(cal.mean < 0.8 * raw.mean, "calibrated %.4f vs uncalibrated"
               " %.4f", cal.mean, raw.mean);
    }
    free(e_raw);
    free(e_cal);
}

int main(int argc, char **argv)
{
    char path[1024];
    const char *data = check_data_dir();
    ev_photo *ph = NULL;
    int n;
    FILE *f;

    full = argc > 1 && !strcmp(argv[1], "--full");
    test_subject_rule();
    test_box_maps();

    // The network and the landmark model.
    snprintf(path, sizeof path, "%s/ssd_mobilenetv1.fct",
             check_weights_dir());
    if (face_detector_open(&det, path) != FACET_OK) {
        CHECKF(0, "%s (run make weights)", facet_error());
        return check_report();
    }
    snprintf(path, sizeof path, "%s/dlib_landmarks68.fct",
             check_weights_dir());
    if (face_landmarks_open(&lmk, path) != FACET_OK) {
        CHECKF(0, "%s (run make weights)", facet_error());
        face_detector_free(det);
        return check_report();
    }
    test_bad_args();
    test_no_face();
    test_padding_exact();

    // Real photos.
    n = ev_read_fixture(&ph, "tests/data/detect/dlib_lfw.txt");
    CHECKF(n > 250, "fixture: %d photos", n);
    snprintf(path, sizeof path, "%s/%s", data, n > 0 ? ph[0].path : "");
    if (n > 0 && !(f = fopen(path, "rb"))) {
        printf("skipped: FACET_DATA (%s) not found: no %s; the real-photo "
               "checks need it\n", data, ph[0].path);
    } else if (n > 0) {
        fclose(f);
        test_calibration(ph, n);
    }
    free(ph);
    face_landmarks_free(lmk);
    face_detector_free(det);
    return check_report();
}

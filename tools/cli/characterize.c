// characterize.c - `facet characterize`: photos of a person and photos of
// others in; report.json, ranking.csv, PCAM / CAM pictures, the metric
// rows as pictures and index.html out (docs/REPORT.md gives the schema).
//
// The work is face_characterize (face/characterize.h); this file parses
// the options, draws the pictures and writes the files. Every file is
// written to a temporary name and renamed, so a file that exists is whole.
//
// Exit status: 0 done, 3 done with some photos skipped, 1 error (too few
// usable portraits, weights, output folder), 2 bad usage.
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../face/characterize.h"
#include "../../face/image.h"
#include "../../face/parts.h"
#include "cli.h"

#define PROG "facet characterize"
#define BB FACE_BACKBONE_SIZE
#define VIEW FACE_CHAR_HEAD_VIEW
#define THUMB 80
// Portraits drawn besides the most and least representative.
#define SAMPLES 4
// The pictures of one portrait, img/<tag>_<kind>.png (portrait_pngs), in
// the order the page shows them.
static const char *const portrait_kinds[] = {"crop", "parts", "pcam",
                                             "pcam_arb", "pcam_hair", "cam"};
#define N_KINDS ((int)(sizeof portrait_kinds / sizeof *portrait_kinds))

static void usage(FILE *f)
{
    face_metric_opts m;

    face_metric_defaults(&m);
    fprintf(f,
"usage: facet characterize --person DIR --others DIR --out DIR [options]\n"
"\n"
"Learn what characterizes a person: the polarizing metrics M (face) and\n"
"M_H (hair) from the person's photos (P_ind) against photos of others\n"
"(P_arb), PCAM maps, the person's portraits ranked from most to least\n"
"representative, and which of hair, eyes, eyebrows, nose and mouth\n"
"characterize the person. Folders are read one level deep, in name order.\n"
"\n"
"options:\n"
"  --person DIR         photos of the person (required)\n"
"  --others DIR         photos of other people (required)\n"
"  -o, --out DIR        output folder (created; required)\n"
"  --planted DIR        photos of someone else added to the person's set\n"
"                       and flagged in the report with their ranks (an\n"
"                       outlier test); not limited by --max-photos\n"
"  --max-photos N       use the first N photos of each set (name order)\n"
"  --seed N             seed of the metric learning and the evaluation\n"
"                       pairs (default 1)\n"
"  --threads N          threads (default: OpenMP's); the report does not\n"
"                       depend on it\n"
"  --cache DIR          feature cache (default $FACET_CACHE, else\n"
"                       WEIGHTS/cache/features); a rerun with other\n"
"                       learning options skips the networks\n"
"  --no-cache           neither read nor write the cache\n"
"  --weights DIR        model folder (default $FACET_WEIGHTS, else\n"
"                       ./weights, else weights/ beside the program)\n"
"  --backbone B         auto (default: vggface if weights/vggface.fct is\n"
"                       installed, else faceres), vggface or faceres\n"
"  --aligned MODE       auto (default), yes or no, as in facet align\n"
"  --rank R             how the person's portraits are ranked: identity\n"
"                       (default: 1 - cosine of the backbone's identity\n"
"                       descriptor to the person's mean, plus nu times\n"
"                       the hair distance to the mean hair in M_H) or eq9\n"
"                       (the paper's Eq. 9 on the face map; fails the\n"
"                       planted-outlier check, see docs/REPORT.md)\n"
"  --nu X               weight of the hair term of the ranking (default\n"
"                       auto: median face term / median hair term)\n"
"  --init I             start of M: ones (default), pca or meandiff\n"
"  --init-eps X         noise of the ones start (default %g)\n"
"  --gamma-m X          step of M (default %g)\n"
"  --gamma-b X          step of b (default %g)\n"
"  --max-iter N         SGD iterations at most (default %ld)\n"
"  --margin K           margin r = K * b0 (default %g)\n"
"  --landmark-passes N  as in facet align (default 2)\n"
"  --keep-padding       keep the backbone map's cells that the network\n"
"                       computes from its own padding (faceres: the last\n"
"                       row and column, hot in every portrait); by\n"
"                       default they take their inner neighbours' values\n"
"  --eval-pairs N       PCAM-vs-CAM evaluation on N random (person,\n"
"                       other) pairs, planted photos left out (every pair\n"
"                       once when N is at least their number), and the\n"
"                       part-selection consistency (default 0: none)\n"
"  --no-timings         leave the run section (timings, threads, cache\n"
"                       counts) out of report.json, so that two runs\n"
"                       compare byte for byte\n"
"  -q, --quiet          no progress and no summary on stderr\n"
"  -h, --help           this text\n"
"\n"
"In DIR: report.json, ranking.csv, index.html (open it in a browser),\n"
"img/*.png (PCAM, CAM and part overlays, metric rows) and thumbs/*.png;\n"
"a rerun into DIR first removes the pictures an earlier run wrote there.\n"
"Photos that cannot be read or have no face are skipped and listed;\n"
"fewer than %d usable portraits in either set is an error.\n"
"Exit status: 0 done, 3 done with photos skipped, 1 error, 2 bad usage.\n",
            m.init_eps, m.gamma_m, m.gamma_b, m.max_iter, m.margin_kappa,
            FACE_CHAR_MIN_SET);
}

typedef struct opts {
    const char *person, *others, *planted, *out, *weights, *cache;
    int no_cache, max_photos, threads, quiet, no_timings, nu_auto;
    face_char_opts c;
} opts;

static int parse_u64(uint64_t *out, const char *s)
{
    char *end;
    unsigned long long v;

    if (!*s || *s == '-')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int parse_args(opts *o, int argc, char **argv)
{
    enum {
        O_PERSON = 256, O_OTHERS, O_PLANTED, O_MAX, O_SEED, O_THREADS,
        O_CACHE, O_NOCACHE, O_WEIGHTS, O_BACKBONE, O_ALIGNED, O_NU, O_INIT,
        O_EPS, O_GM, O_GB, O_ITER, O_MARGIN, O_EVAL, O_NOTIME, O_RANK,
        O_KEEPPAD, O_LMPASS
    };
    static const struct option longs[] = {
        {"person", required_argument, NULL, O_PERSON},
        {"others", required_argument, NULL, O_OTHERS},
        {"out", required_argument, NULL, 'o'},
        {"planted", required_argument, NULL, O_PLANTED},
        {"max-photos", required_argument, NULL, O_MAX},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"cache", required_argument, NULL, O_CACHE},
        {"no-cache", no_argument, NULL, O_NOCACHE},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"backbone", required_argument, NULL, O_BACKBONE},
        {"aligned", required_argument, NULL, O_ALIGNED},
        {"nu", required_argument, NULL, O_NU},
        {"rank", required_argument, NULL, O_RANK},
        {"init", required_argument, NULL, O_INIT},
        {"init-eps", required_argument, NULL, O_EPS},
        {"gamma-m", required_argument, NULL, O_GM},
        {"gamma-b", required_argument, NULL, O_GB},
        {"max-iter", required_argument, NULL, O_ITER},
        {"margin", required_argument, NULL, O_MARGIN},
        {"keep-padding", no_argument, NULL, O_KEEPPAD},
        {"landmark-passes", required_argument, NULL, O_LMPASS},
        {"eval-pairs", required_argument, NULL, O_EVAL},
        {"no-timings", no_argument, NULL, O_NOTIME},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    // Words in the order of their enums (features.h, metric.h).
    static const char *const backbone_words[] = {"auto", "vggface",
                                                 "faceres", NULL};
    static const char *const init_words[] = {"ones", "pca", "meandiff",
                                             NULL};
    int c, idx = -1, v, k;
    double x;

    memset(o, 0, sizeof *o);
    face_char_defaults(&o->c);
    o->weights = cli_weights_dir();
    o->nu_auto = 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longs, &idx)) != -1) {
        switch (c) {
        case O_PERSON: o->person = optarg; break;
        case O_OTHERS: o->others = optarg; break;
        case 'o': o->out = optarg; break;
        case O_PLANTED: o->planted = optarg; break;
        case O_MAX:
            if (!cli_parse_int(&o->max_photos, optarg, 1, 1000000))
                goto bad;
            break;
        case O_SEED:
            cli_expect("an integer from 0 to 18446744073709551615");
            if (!parse_u64(&o->c.seed, optarg))
                goto bad;
            break;
        case O_THREADS:
            if (!cli_parse_int(&o->threads, optarg, 1, 256))
                goto bad;
            break;
        case O_CACHE: o->cache = optarg; break;
        case O_NOCACHE: o->no_cache = 1; break;
        case O_WEIGHTS: o->weights = optarg; break;
        case O_BACKBONE:
            if ((k = cli_choice(optarg, backbone_words)) < 0)
                goto bad;
            o->c.backbone = (face_backbone_kind)k;
            break;
        case O_ALIGNED:
            if ((k = cli_choice(optarg, cli_aligned_words)) < 0)
                goto bad;
            o->c.fe.aligned = (face_aligned_mode)k;
            break;
        case O_NU:
            if (!strcmp(optarg, "auto")) {
                o->c.nu = FACE_NU_AUTO;
                o->nu_auto = 1;
            } else if (cli_parse_double(&o->c.nu, optarg, 0, 1e12)) {
                o->nu_auto = 0;
            } else {
                cli_expect("auto or a number from 0 to 1e+12");
                goto bad;
            }
            break;
        case O_RANK:
            cli_expect("one of identity, eq9");
            if (face_char_rank_parse(&o->c.rank, optarg))
                goto bad;
            break;
        case O_INIT:
            if ((k = cli_choice(optarg, init_words)) < 0)
                goto bad;
            o->c.metric.init = (face_metric_init)k;
            break;
        case O_EPS:
            if (!cli_parse_double(&o->c.metric.init_eps, optarg, 0, 10))
                goto bad;
            break;
        case O_GM:
            if (!cli_parse_double(&o->c.metric.gamma_m, optarg, 1e-12, 10))
                goto bad;
            break;
        case O_GB:
            if (!cli_parse_double(&x, optarg, 0, 1) || x >= 1) {
                cli_expect("a number from 0 to below 1");
                goto bad;
            }
            o->c.metric.gamma_b = x;
            break;
        case O_ITER:
            if (!cli_parse_int(&v, optarg, 0, 1000000000))
                goto bad;
            o->c.metric.max_iter = v;
            break;
        case O_MARGIN:
            if (!cli_parse_double(&o->c.metric.margin_kappa, optarg, 0, 100))
                goto bad;
            break;
        case O_EVAL:
            if (!cli_parse_int(&o->c.eval_pairs, optarg, 0, 1000000))
                goto bad;
            break;
        case O_NOTIME: o->no_timings = 1; break;
        case O_KEEPPAD: o->c.keep_padding = 1; break;
        case O_LMPASS:
            if (!cli_parse_int(&o->c.fe.landmark_passes, optarg, 1, 4))
                goto bad;
            break;
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, PROG ": unknown option or missing value: %s\n",
                    argv[optind - 1]);
            return 2;
        }
        idx = -1;
    }
    if (optind < argc || !o->person || !o->others || !o->out) {
        fprintf(stderr, PROG ": %s\n",
                optind < argc ? "unexpected argument"
                              : "--person, --others and --out are required");
        fprintf(stderr, "'facet characterize --help' describes the "
                "options.\n");
        return 2;
    }
    return -1;

bad:
    fprintf(stderr, PROG ": bad value for --%s: '%s' (expected %s)\n",
            idx >= 0 ? longs[idx].name : "?", optarg, cli_expected());
    return 2;
}

// ---------------------------------------------------------------------------
// Pictures

// A blue-cyan-green-yellow-red ramp ("jet") of v in [0, 1].
static void ramp(uint8_t rgb[3], float v)
{
    float r, g, b;

    v = v < 0 ? 0 : v > 1 ? 1 : v;
    r = 1.5f - fabsf(4 * v - 3);
    g = 1.5f - fabsf(4 * v - 2);
    b = 1.5f - fabsf(4 * v - 1);
    rgb[0] = (uint8_t)(255 * (r < 0 ? 0 : r > 1 ? 1 : r) + 0.5f);
    rgb[1] = (uint8_t)(255 * (g < 0 ? 0 : g > 1 ? 1 : g) + 0.5f);
    rgb[2] = (uint8_t)(255 * (b < 0 ? 0 : b > 1 ? 1 : b) + 0.5f);
}

// A map (mh x mw) upsampled to side x side, min-max normalised, drawn in
// the ramp over `rgb` (side x side x 3, packed; NULL: the ramp alone) at
// half opacity, written as a PNG.
static facet_status heat_png(const char *path, const float *map, int mh,
                             int mw, const uint8_t *rgb, int side)
{
    size_t n = (size_t)side * side;
    float *up = malloc(n * sizeof(float));
    uint8_t *px = malloc(n * 3);
    facet_status s;

    if (!up || !px) {
        free(up);
        free(px);
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    }
    if (!(s = face_map_upsample(up, side, side, map, mh, mw)) &&
        !(s = face_map_normalize(up, n))) {
        for (size_t i = 0; i < n; i++) {
            uint8_t c[3];
            ramp(c, up[i]);
            for (int k = 0; k < 3; k++)
                px[3 * i + k] =
                    rgb ? (uint8_t)((rgb[3 * i + k] + c[k] + 1) / 2) : c[k];
        }
        s = face_image_write_png(path, px, side, side, 3, (size_t)side * 3);
    }
    free(up);
    free(px);
    return s;
}

// The norm over channels of a metric row (Z x H x W) at each location.
static facet_status row_png(const char *path, const float *row, int z,
                            int h, int w)
{
    float *map = malloc((size_t)h * w * sizeof(float));
    facet_status s;

    if (!map)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < h * w; i++) {
        double acc = 0;
        for (int c = 0; c < z; c++) {
            double v = row[(size_t)c * h * w + i];
            acc += v * v;
        }
        map[i] = (float)sqrt(acc);
    }
    s = heat_png(path, map, h, w, NULL, BB);
    free(map);
    return s;
}

static facet_status parts_png(const char *path, const face_char_portrait *p)
{
    face_image im = {BB, BB, (size_t)BB * 3, p->crop};
    uint8_t *px = malloc((size_t)BB * BB * 3);
    facet_status s;

    if (!px)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    s = face_parts_overlay(px, &im, p->labels, NULL, 0.45);
    if (!s)
        s = face_image_write_png(path, px, BB, BB, 3, (size_t)BB * 3);
    free(px);
    return s;
}

// The pictures of one portrait, named img/<tag>_<kind>.png.
static facet_status portrait_pngs(const char *out, const char *tag,
                                  const face_char_result *r, int k)
{
    const face_char_portrait *p = &r->pt[k];
    char path[4400];
    facet_status s;

#define P(kind) (snprintf(path, sizeof path, "%s/img/%s_%s.png", out, tag, \
                          kind), path)
    if ((s = face_image_write_png(P("crop"), p->crop, BB, BB, 3,
                                  (size_t)BB * 3)) ||
        (s = heat_png(P("pcam"), p->pcam, r->fh_, r->fw, p->crop, BB)) ||
        (s = heat_png(P("pcam_arb"), p->pcam_arb, r->fh_, r->fw, p->crop,
                      BB)) ||
        (s = heat_png(P("pcam_hair"), p->pcam_hair, r->hh, r->hw, p->head,
                      VIEW)) ||
        (s = heat_png(P("cam"), p->cam, r->fh_, r->fw, p->crop, BB)) ||
        (s = parts_png(P("parts"), p)))
        return s;
#undef P
    return FACET_OK;
}

static facet_status thumb_png(const char *path, const face_char_portrait *p)
{
    face_image src = {BB, BB, (size_t)BB * 3, p->crop}, dst = {0};
    facet_status s = face_image_resize(&dst, &src, THUMB, THUMB);

    if (!s)
        s = face_image_write_png(path, dst.px, dst.w, dst.h, 3, dst.stride);
    face_image_free(&dst);
    return s;
}

// ---------------------------------------------------------------------------
// Report

static const face_part char_parts[] = {FACE_PART_HAIR, FACE_PART_EYES,
                                       FACE_PART_BROWS, FACE_PART_NOSE,
                                       FACE_PART_MOUTH};
static const char char_letters[] = "HEBNM";

static const char *backbone_name(face_backbone_kind k)
{
    return k == FACE_BACKBONE_VGGFACE ? "vggface"
           : k == FACE_BACKBONE_FACERES ? "faceres" : "auto";
}

static cJSON *metric_json(const face_metric *m)
{
    cJSON *j = cJSON_CreateObject(), *log;

    cJSON_AddNumberToObject(j, "D", m->D);
    cJSON_AddNumberToObject(j, "b", m->b);
    cJSON_AddNumberToObject(j, "margin_r", m->r);
    cJSON_AddNumberToObject(j, "b0", m->b0);
    cJSON_AddNumberToObject(j, "feature_scale", m->scale);
    cJSON_AddNumberToObject(j, "iterations", (double)m->iterations);
    cJSON_AddNumberToObject(j, "updates", (double)m->updates);
    cJSON_AddStringToObject(j, "stop", face_metric_stop_name(m->stop));
    cJSON_AddNumberToObject(j, "violation_init", m->violation_init);
    cJSON_AddNumberToObject(j, "violation_final", m->violation_final);
    log = cJSON_AddArrayToObject(j, "log");
    for (int i = 0; i < m->log_len; i++) {
        const face_metric_checkpoint *c = &m->log[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "iter", (double)c->iter);
        cJSON_AddNumberToObject(e, "violation_rate", c->violation_rate);
        cJSON_AddNumberToObject(e, "mean_hinge", c->mean_hinge);
        cJSON_AddNumberToObject(e, "corr_rows", c->corr);
        cJSON_AddNumberToObject(e, "b", c->b);
        cJSON_AddItemToArray(log, e);
    }
    return j;
}

static int rank_of(const face_char_result *r, int k)
{
    for (int i = 0; i < r->n_ind; i++)
        if (r->order[i] == k)
            return i + 1;
    return 0;
}

static const char *photo_path(const face_char_result *r, int k)
{
    return r->photos[r->pt[k].photo].path;
}

static cJSON *portrait_ref(const face_char_result *r, int k, const char *tag)
{
    cJSON *j = cJSON_CreateObject(), *im;
    char name[64];

    cJSON_AddStringToObject(j, "file", photo_path(r, k));
    cJSON_AddNumberToObject(j, "rank", rank_of(r, k));
    cJSON_AddNumberToObject(j, "score", r->score[k]);
    im = cJSON_AddObjectToObject(j, "images");
    for (int i = 0; i < N_KINDS; i++) {
        snprintf(name, sizeof name, "img/%s_%s.png", tag, portrait_kinds[i]);
        cJSON_AddStringToObject(im, portrait_kinds[i], name);
    }
    return j;
}

// One way of counting part selections (face_char_result.sel[how]): the
// histograms and the most frequent selection, from raw part sums and
// from those of the normalised maps.
static void add_selection(cJSON *o, const face_char_sel sel[2][2])
{
    static const char *const sums[2] = {"raw", "normalised"};

    cJSON_AddNumberToObject(o, "count", sel[0][0].n);
    for (int s = 0; s < 2; s++) {
        cJSON *e = cJSON_AddObjectToObject(o, sums[s]);
        const face_char_sel *p = &sel[s][FACE_CHAR_SEL_PCAM];
        const face_char_sel *c = &sel[s][FACE_CHAR_SEL_CAM];

        cJSON_AddItemToObject(e, "pcam_histogram",
                              cJSON_CreateIntArray(p->hist, 16));
        cJSON_AddItemToObject(e, "cam_histogram",
                              cJSON_CreateIntArray(c->hist, 16));
        cJSON_AddNumberToObject(e, "pcam_top_index", p->top);
        cJSON_AddNumberToObject(e, "pcam_top_frequency", p->freq);
        cJSON_AddNumberToObject(e, "cam_top_index", c->top);
        cJSON_AddNumberToObject(e, "cam_top_frequency", c->freq);
    }
}

static void selection_string(char *out, unsigned mask)
{
    int n = 0;

    for (int i = 0; i < 5; i++)
        if (mask & (1u << char_parts[i]))
            out[n++] = char_letters[i];
    out[n] = '\0';
}

// The selected parts by name, "none" when there are none.
static void selection_names(char *out, size_t size, unsigned mask)
{
    size_t n = 0;

    out[0] = '\0';
    for (int i = 0; i < 5 && n < size; i++)
        if (mask & (1u << char_parts[i]))
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "",
                                  face_part_name(char_parts[i]));
    if (!out[0])
        snprintf(out, size, "none");
}

static cJSON *report_json(const opts *o, const face_char_result *r,
                          const int *sample, int nsample, int n_person,
                          int n_planted, int n_others, double write_s)
{
    cJSON *j = cJSON_CreateObject(), *in, *a, *pa, *par, *mo;
    const face_metric_opts *m = &o->c.metric;
    char sel[8];

    cJSON_AddStringToObject(j, "facet", "characterize");
    cJSON_AddNumberToObject(j, "report_version", 2);
    in = cJSON_AddObjectToObject(j, "inputs");
    cJSON_AddStringToObject(in, "person", o->person);
    cJSON_AddStringToObject(in, "others", o->others);
    if (o->planted)
        cJSON_AddStringToObject(in, "planted", o->planted);
    else
        cJSON_AddNullToObject(in, "planted");
    cJSON_AddNumberToObject(in, "photos_person", n_person);
    cJSON_AddNumberToObject(in, "photos_planted", n_planted);
    cJSON_AddNumberToObject(in, "photos_others", n_others);
    cJSON_AddNumberToObject(in, "usable_person", r->n_ind);
    cJSON_AddNumberToObject(in, "usable_others", r->n_arb);
    a = cJSON_AddArrayToObject(j, "skipped");
    for (int i = 0; i < r->n_photos; i++) {
        const face_char_photo *ph = &r->photos[i];
        cJSON *e;
        if (!ph->status)
            continue;
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", ph->path);
        cJSON_AddStringToObject(e, "set", ph->set == FACE_CHAR_IND
                                              ? (ph->planted ? "planted"
                                                             : "person")
                                              : "others");
        cJSON_AddStringToObject(e, "reason", ph->why);
        cJSON_AddItemToArray(a, e);
    }

    par = cJSON_AddObjectToObject(j, "parameters");
    cJSON_AddNumberToObject(par, "seed", (double)o->c.seed);
    if (o->max_photos)
        cJSON_AddNumberToObject(par, "max_photos", o->max_photos);
    else
        cJSON_AddNullToObject(par, "max_photos");
    cJSON_AddStringToObject(par, "backbone", backbone_name(o->c.backbone));
    cJSON_AddStringToObject(par, "aligned",
                            o->c.fe.aligned == FACE_ALIGNED_YES ? "yes"
                            : o->c.fe.aligned == FACE_ALIGNED_NO ? "no"
                                                                 : "auto");
    cJSON_AddStringToObject(par, "rank", face_char_rank_name(r->rank_rule));
    if (o->nu_auto)
        cJSON_AddStringToObject(par, "nu", "auto");
    else
        cJSON_AddNumberToObject(par, "nu", o->c.nu);
    cJSON_AddNumberToObject(par, "nu_used", r->nu);
    cJSON_AddBoolToObject(par, "cache", !o->no_cache);
    cJSON_AddNumberToObject(par, "landmark_passes",
                            o->c.fe.landmark_passes);
    cJSON_AddBoolToObject(par, "keep_padding", o->c.keep_padding);
    cJSON_AddNumberToObject(par, "eval_pairs", o->c.eval_pairs);
    mo = cJSON_AddObjectToObject(par, "metric");
    cJSON_AddStringToObject(mo, "init", face_metric_init_name(m->init));
    cJSON_AddNumberToObject(mo, "init_eps", m->init_eps);
    cJSON_AddStringToObject(mo, "engine", m->engine == FACE_METRIC_ENGINE_GRAM
                                              ? "gram" : "primal");
    cJSON_AddNumberToObject(mo, "gamma_m", m->gamma_m);
    cJSON_AddNumberToObject(mo, "gamma_b", m->gamma_b);
    cJSON_AddStringToObject(mo, "b_rule", m->b_rule == FACE_METRIC_B_MULT
                                              ? "mult" : "add");
    cJSON_AddNumberToObject(mo, "decay_t0", m->decay_t0);
    cJSON_AddNumberToObject(mo, "margin_kappa", m->margin_kappa);
    cJSON_AddNumberToObject(mo, "max_iter", (double)m->max_iter);
    cJSON_AddNumberToObject(mo, "check_every", (double)m->check_every);
    cJSON_AddNumberToObject(mo, "patience", m->patience);
    cJSON_AddNumberToObject(mo, "subset_pairs", m->subset_pairs);
    mo = cJSON_AddObjectToObject(par, "cam");
    cJSON_AddNumberToObject(mo, "mu", o->c.cam.mu);
    cJSON_AddNumberToObject(mo, "tol", o->c.cam.tol);
    cJSON_AddNumberToObject(mo, "max_iter", o->c.cam.max_iter);
    cJSON_AddBoolToObject(mo, "balance", o->c.cam.balance);

    mo = cJSON_AddObjectToObject(j, "models");
    cJSON_AddStringToObject(mo, "backbone", backbone_name(r->backbone));
    cJSON_AddStringToObject(mo, "backbone_id", r->backbone_id);
    {
        double s[3] = {r->fz, r->fh_, r->fw}, h[3] = {r->hz, r->hh, r->hw};
        cJSON_AddItemToObject(mo, "face_map_zhw",
                              cJSON_CreateDoubleArray(s, 3));
        cJSON_AddStringToObject(mo, "hair_id", r->hair_id);
        cJSON_AddItemToObject(mo, "hair_map_chw",
                              cJSON_CreateDoubleArray(h, 3));
    }
    mo = cJSON_AddObjectToObject(j, "metrics");
    cJSON_AddItemToObject(mo, "M", metric_json(&r->m));
    cJSON_AddItemToObject(mo, "M_H", metric_json(&r->mh));
    mo = cJSON_AddObjectToObject(j, "cam");
    cJSON_AddNumberToObject(mo, "newton_iterations", r->cam.iters);
    cJSON_AddBoolToObject(mo, "converged", r->cam.converged);
    cJSON_AddNumberToObject(mo, "loss", r->cam.loss);
    cJSON_AddNumberToObject(mo, "train_accuracy", r->cam.train_acc);

    a = cJSON_AddArrayToObject(j, "ranking");
    for (int i = 0; i < r->n_ind; i++) {
        int k = r->order[i];
        cJSON *e = cJSON_CreateObject();
        char t[64];
        cJSON_AddNumberToObject(e, "rank", i + 1);
        cJSON_AddStringToObject(e, "file", photo_path(r, k));
        cJSON_AddNumberToObject(e, "score", r->score[k]);
        cJSON_AddNumberToObject(e, "face_term", r->face_term[k]);
        cJSON_AddNumberToObject(e, "hair_term", r->hair_term[k]);
        cJSON_AddBoolToObject(e, "planted", r->photos[r->pt[k].photo].planted);
        snprintf(t, sizeof t, "thumbs/%04d.png", i + 1);
        cJSON_AddStringToObject(e, "thumb", t);
        cJSON_AddItemToArray(a, e);
    }
    cJSON_AddItemToObject(j, "most_representative",
                          portrait_ref(r, r->rep, "rep"));
    cJSON_AddItemToObject(j, "least_representative",
                          portrait_ref(r, r->least, "least"));
    a = cJSON_AddArrayToObject(j, "samples");
    for (int i = 0; i < nsample; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "s%d", i + 1);
        cJSON_AddItemToArray(a, portrait_ref(r, sample[i], tag));
    }
    a = cJSON_AddArrayToObject(j, "planted");
    for (int k = 0; k < r->n_ind; k++)
        if (r->photos[r->pt[k].photo].planted) {
            cJSON *e = cJSON_CreateObject();
            int rk = rank_of(r, k);
            cJSON_AddStringToObject(e, "file", photo_path(r, k));
            cJSON_AddNumberToObject(e, "rank", rk);
            cJSON_AddNumberToObject(e, "rank_from_least", r->n_ind - rk + 1);
            cJSON_AddItemToArray(a, e);
        }

    pa = cJSON_AddObjectToObject(j, "parts");
    cJSON_AddStringToObject(pa, "portrait", photo_path(r, r->rep));
    cJSON_AddStringToObject(pa, "statistic", "sum");
    cJSON_AddNumberToObject(pa, "others", r->n_arb);
    mo = cJSON_AddObjectToObject(pa, "decisions");
    for (int i = 0; i < 5; i++) {
        const face_part_decision *d = &r->parts[char_parts[i]];
        cJSON *e = cJSON_AddObjectToObject(mo, face_part_name(char_parts[i]));
        cJSON_AddStringToObject(e, "map", char_parts[i] == FACE_PART_HAIR
                                              ? "pcam M_H ind, head crop"
                                              : "pcam M ind, backbone crop");
        cJSON_AddNumberToObject(e, "score", d->score);
        cJSON_AddNumberToObject(e, "beaten", d->beaten);
        cJSON_AddNumberToObject(e, "ties", d->ties);
        cJSON_AddNumberToObject(e, "fraction_beaten", d->frac_beaten);
        cJSON_AddBoolToObject(e, "characteristic", d->characteristic);
    }
    selection_string(sel, face_part_decision_mask(r->parts));
    cJSON_AddStringToObject(pa, "selection", sel);

    if (r->eval_pairs > 0) {
        cJSON *ev = cJSON_AddObjectToObject(j, "eval"), *sp;
        cJSON_AddNumberToObject(ev, "pairs", r->eval_pairs);
        // 0.1, not the float's 0.10000000149011612.
        cJSON_AddNumberToObject(ev, "threshold",
                                round(FACE_CHAR_JACCARD_THR * 1e6) / 1e6);
        cJSON_AddStringToObject(ev, "maps", "ind row for both portraits "
                                "(PCAM with M_ind, CAM with A_ind), "
                                "bilinear to 224x224, min-max normalised");
        cJSON_AddNumberToObject(ev, "jaccard_pcam_median",
                                r->jac_pcam_median);
        cJSON_AddNumberToObject(ev, "jaccard_cam_median", r->jac_cam_median);
        cJSON_AddItemToObject(ev, "jaccard_pcam",
                              cJSON_CreateDoubleArray(r->jac_pcam,
                                                      r->eval_pairs));
        cJSON_AddItemToObject(ev, "jaccard_cam",
                              cJSON_CreateDoubleArray(r->jac_cam,
                                                      r->eval_pairs));
        sp = cJSON_AddObjectToObject(ev, "selection_consistency");
        cJSON_AddStringToObject(sp, "parts", "nose, mouth, eyes, eyebrows "
                                "(index bits 0..3; paper numbers index+1)");
        add_selection(cJSON_AddObjectToObject(sp, "pairs"),
                      r->sel[FACE_CHAR_SEL_PAIRS]);
        add_selection(cJSON_AddObjectToObject(sp, "majority"),
                      r->sel[FACE_CHAR_SEL_MAJORITY]);
    }
    mo = cJSON_AddObjectToObject(j, "images");
    cJSON_AddStringToObject(mo, "m_ind", "img/m_ind.png");
    cJSON_AddStringToObject(mo, "m_arb", "img/m_arb.png");
    cJSON_AddStringToObject(mo, "mh_ind", "img/mh_ind.png");
    cJSON_AddStringToObject(mo, "mh_arb", "img/mh_arb.png");

    if (!o->no_timings) {
        cJSON *run = cJSON_AddObjectToObject(j, "run"), *sec;
        cJSON_AddNumberToObject(run, "threads", facet_threads());
        if (o->no_cache)
            cJSON_AddNullToObject(run, "cache_dir");
        else
            cJSON_AddStringToObject(run, "cache_dir", o->c.cache_dir);
        cJSON_AddNumberToObject(run, "cache_hits", r->cache_hits);
        cJSON_AddNumberToObject(run, "cache_misses", r->cache_misses);
        cJSON_AddNumberToObject(run, "cache_damaged", r->cache_damaged);
        cJSON_AddNumberToObject(run, "cache_unwritten", r->cache_unwritten);
        sec = cJSON_AddObjectToObject(run, "seconds");
        for (int s = 0; s < FACE_CHAR_T_COUNT; s++)
            cJSON_AddNumberToObject(sec, face_char_stage_name(s),
                                    r->seconds[s]);
        cJSON_AddNumberToObject(sec, "write", write_s);
    }
    return j;
}

static facet_status write_text(const char *path, const char *text)
{
    return face_write_file_atomic(path, text, strlen(text));
}

// A growing string.
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int bad;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->bad)
        return;
    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0,
                      fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->bad = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)k;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->bad = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

// Text with &, <, >, " escaped.
static void sb_html(sbuf *b, const char *t)
{
    for (; *t; t++) {
        switch (*t) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *t);
        }
    }
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void html_portrait(sbuf *b, const face_char_result *r, int k,
                          const char *tag, const char *title)
{
    static const char *const caps[N_KINDS] = {"aligned crop", "parts",
                                       "PCAM (M ind)", "PCAM (M arb)",
                                       "PCAM (M_H ind), head", "CAM"};

    sb_printf(b, "<h3>%s: rank %d, score %.4g &mdash; ", title,
              rank_of(r, k), r->score[k]);
    sb_html(b, base_name(photo_path(r, k)));
    sb_printf(b, "</h3>\n<div class=row>\n");
    for (int i = 0; i < N_KINDS; i++)
        sb_printf(b, "<figure><img src=\"img/%s_%s.png\" width=200 "
                  "height=200 alt=\"%s\"><figcaption>%s</figcaption>"
                  "</figure>\n", tag, portrait_kinds[i], caps[i], caps[i]);
    sb_printf(b, "</div>\n");
}

// "PCAM: eyes, nose; CAM: none" for the most frequent selections of one
// histogram pair (sel[how][sums]).
static void html_selection(sbuf *b, const face_char_sel sel[2])
{
    for (int m = 0; m < 2; m++) {
        unsigned mask;
        char names[64];

        face_sel4_mask(&mask, sel[m].top);
        selection_names(names, sizeof names, mask);
        sb_printf(b, "%s%s: %s", m ? "; " : "", m ? "CAM" : "PCAM", names);
    }
}

static char *index_html(const opts *o, const face_char_result *r,
                        const int *sample, int nsample)
{
    sbuf b = {0};
    int n_planted = 0;
    char sel[64];

    for (int k = 0; k < r->n_ind; k++)
        n_planted += r->photos[r->pt[k].photo].planted != 0;
    selection_names(sel, sizeof sel, face_part_decision_mask(r->parts));
    sb_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
              "<title>facet characterize: ");
    sb_html(&b, base_name(o->person));
    sb_printf(&b, "</title>\n<style>\n"
              "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
              ".row{display:flex;flex-wrap:wrap;gap:8px}\n"
              "figure{margin:0;text-align:center;font-size:12px}\n"
              "table{border-collapse:collapse}\n"
              "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\n"
              ".yes{background:#cfc;font-weight:bold}\n"
              ".planted{outline:3px solid #d00}\n"
              ".thumbs figure{width:84px;overflow:hidden}\n"
              "</style></head><body>\n<h1>What characterizes ");
    sb_html(&b, base_name(o->person));
    sb_printf(&b, "</h1>\n<p>%d portraits of the person (P_ind", r->n_ind);
    if (n_planted > 0)
        sb_printf(&b, ", %d of them planted photos of someone else",
                  n_planted);
    sb_printf(&b, ") against %d of others (P_arb); backbone ", r->n_arb);
    sb_html(&b, r->backbone_id);
    sb_printf(&b, ", hair ");
    sb_html(&b, r->hair_id);
    sb_printf(&b, "; seed %llu; &nu; = %.4g. Full data: "
              "<a href=\"report.json\">report.json</a>, "
              "<a href=\"ranking.csv\">ranking.csv</a>.</p>\n",
              (unsigned long long)o->c.seed, r->nu);

    sb_printf(&b, "<h2>Characteristic parts: %s</h2>\n"
              "<p>Sum of the PCAM (M_ind; hair: M_H ind on the head crop) "
              "over each part of the most representative portrait, "
              "compared with every portrait of P_arb; a part characterizes "
              "when it beats more than half of them.</p>\n<table><tr>"
              "<th>part</th><th>score</th><th>others beaten</th>"
              "<th>characteristic</th></tr>\n", sel);
    for (int i = 0; i < 5; i++) {
        const face_part_decision *d = &r->parts[char_parts[i]];
        sb_printf(&b, "<tr%s><th>%s</th><td>%.4g</td><td>%.0f%% (%d of "
                  "%d)</td><td>%s</td></tr>\n",
                  d->characteristic ? " class=yes" : "",
                  face_part_name(char_parts[i]), d->score,
                  100 * d->frac_beaten, d->beaten, r->n_arb,
                  d->characteristic ? "yes" : "no");
    }
    sb_printf(&b, "</table>\n<h2>Representative portraits (%s)</h2>\n",
              r->rank_rule == FACE_CHAR_RANK_EQ9
                  ? "Eq. 9"
                  : "identity descriptor and hair");
    html_portrait(&b, r, r->rep, "rep", "Most representative");
    html_portrait(&b, r, r->least, "least", "Least representative");
    for (int i = 0; i < nsample; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "s%d", i + 1);
        html_portrait(&b, r, sample[i], tag, "Sample");
    }

    sb_printf(&b, "<h2>The learned metric rows</h2>\n<p>Norm over the "
              "channels at each location (blue low, red high).</p>\n"
              "<div class=row>\n");
    {
        static const char *const n[] = {"m_ind", "m_arb", "mh_ind",
                                        "mh_arb"};
        static const char *const c[] = {"M_ind", "M_arb", "M_H ind",
                                        "M_H arb"};
        for (int i = 0; i < 4; i++)
            sb_printf(&b, "<figure><img src=\"img/%s.png\" width=160 "
                      "height=160 alt=\"%s\"><figcaption>%s</figcaption>"
                      "</figure>\n", n[i], c[i], c[i]);
    }
    sb_printf(&b, "</div>\n");

    if (r->eval_pairs > 0) {
        const face_char_sel(*pr)[2] = r->sel[FACE_CHAR_SEL_PAIRS];
        const face_char_sel(*mj)[2] = r->sel[FACE_CHAR_SEL_MAJORITY];

        // Every pair once when there were no more than asked for.
        int all = r->eval_pairs == mj[0][0].n * r->n_arb;

        sb_printf(&b, "<h2>PCAM against CAM</h2>\n<p>Over %s%d%s "
                  "(P_ind, P_arb) pair%s%s, median "
                  "Jaccard index of the maps min-max normalised and "
                  "binarised at 0.1: PCAM %.1f, CAM %.1f (lower: the maps "
                  "overlap less).</p>\n<p>Part selection, the parts among "
                  "eyes, eyebrows, nose and mouth where the person's "
                  "normalised map sums beat the other's, over the same "
                  "pairs: the most frequent selection (",
                  all ? "all " : "", r->eval_pairs, all ? "" : " random",
                  r->eval_pairs == 1 ? "" : "s",
                  n_planted > 0 ? " (the planted photos left out)" : "",
                  r->jac_pcam_median, r->jac_cam_median);
        html_selection(&b, pr[FACE_CHAR_SEL_NORM]);
        sb_printf(&b, ") takes %.0f%% of them with PCAM, %.0f%% with CAM; "
                  "from raw sums the most frequent selections take %.0f%% "
                  "and %.0f%%. By the majority rule against all others, "
                  "for each of the %d portraits of the person, the most "
                  "frequent selection takes %.0f%% with PCAM, %.0f%% with "
                  "CAM (raw sums: %.0f%% and %.0f%%).</p>\n",
                  100 * pr[FACE_CHAR_SEL_NORM][FACE_CHAR_SEL_PCAM].freq,
                  100 * pr[FACE_CHAR_SEL_NORM][FACE_CHAR_SEL_CAM].freq,
                  100 * pr[FACE_CHAR_SEL_RAW][FACE_CHAR_SEL_PCAM].freq,
                  100 * pr[FACE_CHAR_SEL_RAW][FACE_CHAR_SEL_CAM].freq,
                  mj[FACE_CHAR_SEL_NORM][FACE_CHAR_SEL_PCAM].n,
                  100 * mj[FACE_CHAR_SEL_NORM][FACE_CHAR_SEL_PCAM].freq,
                  100 * mj[FACE_CHAR_SEL_NORM][FACE_CHAR_SEL_CAM].freq,
                  100 * mj[FACE_CHAR_SEL_RAW][FACE_CHAR_SEL_PCAM].freq,
                  100 * mj[FACE_CHAR_SEL_RAW][FACE_CHAR_SEL_CAM].freq);
    }

    sb_printf(&b, "<h2>Ranking, most to least representative</h2>\n"
              "<div class=\"row thumbs\">\n");
    for (int i = 0; i < r->n_ind; i++) {
        int k = r->order[i];
        int pl = r->photos[r->pt[k].photo].planted;
        sb_printf(&b, "<figure><img src=\"thumbs/%04d.png\" width=%d "
                  "height=%d alt=\"%d\"%s title=\"", i + 1, THUMB, THUMB,
                  i + 1, pl ? " class=planted" : "");
        sb_html(&b, base_name(photo_path(r, k)));
        sb_printf(&b, "\"><figcaption>%d%s</figcaption></figure>\n", i + 1,
                  pl ? " planted" : "");
    }
    sb_printf(&b, "</div>\n");
    {
        int ns = 0;
        for (int i = 0; i < r->n_photos; i++)
            ns += r->photos[i].status != FACET_OK;
        if (ns) {
            sb_printf(&b, "<h2>Skipped photos (%d)</h2>\n<ul>\n", ns);
            for (int i = 0; i < r->n_photos; i++)
                if (r->photos[i].status) {
                    sb_printf(&b, "<li>");
                    sb_html(&b, r->photos[i].why);
                    sb_printf(&b, "</li>\n");
                }
            sb_printf(&b, "</ul>\n");
        }
    }
    sb_printf(&b, "</body></html>\n");
    if (b.bad) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

static char *ranking_csv(const face_char_result *r)
{
    sbuf b = {0};

    sb_printf(&b, "rank,file,score,face_term,hair_term,planted\n");
    for (int i = 0; i < r->n_ind; i++) {
        int k = r->order[i];
        const char *p = photo_path(r, k);
        sb_printf(&b, "%d,\"", i + 1);
        for (; *p; p++)
            sb_printf(&b, *p == '"' ? "\"\"" : "%c", *p);
        sb_printf(&b, "\",%.17g,%.17g,%.17g,%d\n", r->score[k],
                  r->face_term[k], r->hair_term[k],
                  r->photos[r->pt[k].photo].planted);
    }
    if (b.bad) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

// Whether `name` is one that write_outputs gives a picture: in img/
// <tag>_<kind>.png (tag rep, least or s1..sSAMPLES) or a metric row's
// name; in thumbs/ digits and ".png".
static int picture_name(const char *name, int thumbs)
{
    static const char *const rows[] = {"m_ind", "m_arb", "mh_ind", "mh_arb"};
    char want[64];

    if (thumbs) {
        size_t n = strspn(name, "0123456789");
        return n >= 4 && !strcmp(name + n, ".png");
    }
    for (int i = 0; i < 4; i++) {
        snprintf(want, sizeof want, "%s.png", rows[i]);
        if (!strcmp(name, want))
            return 1;
    }
    for (int t = -2; t < SAMPLES; t++)
        for (int k = 0; k < N_KINDS; k++) {
            if (t < 0)
                snprintf(want, sizeof want, "%s_%s.png",
                         t == -2 ? "rep" : "least", portrait_kinds[k]);
            else
                snprintf(want, sizeof want, "s%d_%s.png", t + 1,
                         portrait_kinds[k]);
            if (!strcmp(name, want))
                return 1;
        }
    return 0;
}

// Remove what an earlier run wrote into --out: its report files, then the
// regular files of img/ and thumbs/ named as write_outputs names its
// pictures (picture_name); nothing else. A failed rerun so leaves no old
// report beside new pictures, and a smaller one no stale pictures.
static facet_status remove_old_outputs(const char *out)
{
    static const char *const reports[] = {"report.json", "index.html",
                                          "ranking.csv"};
    char path[4600];

    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, reports[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            return facet_fail(FACET_E_IO, "%s: cannot remove the earlier "
                              "run's file: %s", path, strerror(errno));
    }
    for (int thumbs = 0; thumbs < 2; thumbs++) {
        char dir[4300];
        struct dirent *e;
        DIR *d;

        snprintf(dir, sizeof dir, "%s/%s", out, thumbs ? "thumbs" : "img");
        if (!(d = opendir(dir)))
            return facet_fail(FACET_E_IO, "%s: cannot read the folder: %s",
                              dir, strerror(errno));
        while ((e = readdir(d))) {
            struct stat st;

            if (!picture_name(e->d_name, thumbs))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (unlink(path) != 0 && errno != ENOENT) {
                int err = errno;
                closedir(d);
                return facet_fail(FACET_E_IO, "%s: cannot remove the "
                                  "earlier run's picture: %s", path,
                                  strerror(err));
            }
        }
        closedir(d);
    }
    return FACET_OK;
}

// Make --out, img/ and thumbs/ and check that files can be written there,
// before any work: made[i] says which of the three this call created.
static int prepare_out(const char *out, int made[3])
{
    static const char *const sub[3] = {"", "/img", "/thumbs"};
    char dir[4300], probe[4400];

    for (int i = 0; i < 3; i++) {
        struct stat st;
        int fd;

        snprintf(dir, sizeof dir, "%s%s", out, sub[i]);
        made[i] = stat(dir, &st) != 0;
        if (!cli_mkdirs(dir)) {
            fprintf(stderr, PROG ": %s: cannot create the folder: %s\n",
                    dir, strerror(errno));
            return 0;
        }
        snprintf(probe, sizeof probe, "%s/.facet-probe-XXXXXX", dir);
        if ((fd = mkstemp(probe)) < 0) {
            fprintf(stderr, PROG ": %s: cannot write in the folder: %s\n",
                    dir, strerror(errno));
            return 0;
        }
        close(fd);
        unlink(probe);
    }
    return 1;
}

// Undo prepare_out after a failure: remove the folders it made, if they
// are still empty.
static void unprepare_out(const char *out, const int made[3])
{
    static const char *const sub[3] = {"", "/img", "/thumbs"};
    char dir[4300];

    for (int i = 2; i >= 0; i--)
        if (made[i]) {
            snprintf(dir, sizeof dir, "%s%s", out, sub[i]);
            rmdir(dir);
        }
}

static facet_status write_outputs(const opts *o, const face_char_result *r,
                                  int n_person, int n_planted, int n_others,
                                  double t_start)
{
    char path[4400];
    int sample[SAMPLES], nsample = 0;
    facet_status s;
    char *text;
    cJSON *j;

    if ((s = remove_old_outputs(o->out)))
        return s;

    // Samples evenly spaced between the two ends of the ranking.
    for (int i = 1; i <= SAMPLES && r->n_ind > 2; i++) {
        int at = (int)((long)i * (r->n_ind - 1) / (SAMPLES + 1));
        if (at <= 0 || at >= r->n_ind - 1)
            continue;
        if (nsample && sample[nsample - 1] == r->order[at])
            continue;
        sample[nsample++] = r->order[at];
    }
    if ((s = portrait_pngs(o->out, "rep", r, r->rep)) ||
        (s = portrait_pngs(o->out, "least", r, r->least)))
        return s;
    for (int i = 0; i < nsample; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "s%d", i + 1);
        if ((s = portrait_pngs(o->out, tag, r, sample[i])))
            return s;
    }
#define P(name) (snprintf(path, sizeof path, "%s/img/%s.png", o->out, name), \
                 path)
    if ((s = row_png(P("m_ind"), r->m.m_ind, r->fz, r->fh_, r->fw)) ||
        (s = row_png(P("m_arb"), r->m.m_arb, r->fz, r->fh_, r->fw)) ||
        (s = row_png(P("mh_ind"), r->mh.m_ind, r->hz, r->hh, r->hw)) ||
        (s = row_png(P("mh_arb"), r->mh.m_arb, r->hz, r->hh, r->hw)))
        return s;
#undef P
    for (int i = 0; i < r->n_ind; i++) {
        snprintf(path, sizeof path, "%s/thumbs/%04d.png", o->out, i + 1);
        if ((s = thumb_png(path, &r->pt[r->order[i]])))
            return s;
    }

    if (!(text = ranking_csv(r)))
        return facet_fail(FACET_E_NOMEM, "ranking.csv: out of memory");
    snprintf(path, sizeof path, "%s/ranking.csv", o->out);
    s = write_text(path, text);
    free(text);
    if (s)
        return s;
    if (!(text = index_html(o, r, sample, nsample)))
        return facet_fail(FACET_E_NOMEM, "index.html: out of memory");
    snprintf(path, sizeof path, "%s/index.html", o->out);
    s = write_text(path, text);
    free(text);
    if (s)
        return s;

    // report.json last, with the time the pictures took.
    j = report_json(o, r, sample, nsample, n_person, n_planted, n_others,
                    facet_now() - t_start);
    text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return facet_fail(FACET_E_NOMEM, "report.json: out of memory");
    snprintf(path, sizeof path, "%s/report.json", o->out);
    s = write_text(path, text);
    cJSON_free(text);
    return s;
}

// ---------------------------------------------------------------------------

typedef struct prog_state {
    cli_progress_state bar;
    int quiet, last_stage;
} prog_state;

static void on_progress(void *user, int stage, long done, long total,
                        const char *what)
{
    prog_state *p = user;

    if (p->quiet || total <= 0)
        return;
    if (stage == FACE_CHAR_T_FRONTEND) {
        cli_progress(&p->bar, (size_t)done, (size_t)total, what);
    } else if (p->bar.tty && (stage == FACE_CHAR_T_METRIC_M ||
                              stage == FACE_CHAR_T_METRIC_MH)) {
        fprintf(stderr, "\r%s: iteration %ld\033[K",
                stage == FACE_CHAR_T_METRIC_M ? "learning M"
                                              : "learning M_H",
                done);
        fflush(stderr);
    }
    p->last_stage = stage;
}

int cli_characterize(int argc, char **argv)
{
    opts o;
    int rc, n_person, n_planted = 0, n_others, skipped = 0;
    cli_paths ind = {0}, arb = {0}, pl = {0};
    uint8_t *planted = NULL;
    face_char_result r;
    prog_state ps = {{0}, 0, -1};
    char cache_dir[4200];
    int made[3] = {0, 0, 0};
    double t0, t_write;
    facet_status s;

    if ((rc = parse_args(&o, argc, argv)) >= 0)
        return rc;
    if (o.threads)
        facet_set_threads(o.threads);
    if (!cli_collect_photos(&ind, o.person, PROG) ||
        !cli_collect_photos(&arb, o.others, PROG) ||
        (o.planted && !cli_collect_photos(&pl, o.planted, PROG))) {
        rc = 1;
        goto done;
    }
    if (o.max_photos) {
        while (ind.count > (size_t)o.max_photos)
            free(ind.path[--ind.count]);
        while (arb.count > (size_t)o.max_photos)
            free(arb.path[--arb.count]);
    }
    n_person = (int)ind.count;
    n_others = (int)arb.count;
    n_planted = (int)pl.count;
    if (n_person + n_planted > FACE_METRIC_MAX_N ||
        n_others > FACE_METRIC_MAX_N) {
        fprintf(stderr, PROG ": too many photos (at most %d per set)\n",
                FACE_METRIC_MAX_N);
        rc = 1;
        goto done;
    }
    // The planted photos join the person's list, flagged.
    planted = calloc((size_t)(n_person + n_planted) + 1, 1);
    if (!planted) {
        fprintf(stderr, PROG ": out of memory\n");
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < pl.count; i++) {
        if (ind.count == ind.cap) {
            size_t cap = ind.cap ? 2 * ind.cap : 16;
            char **v = realloc(ind.path, cap * sizeof *v);
            if (!v) {
                fprintf(stderr, PROG ": out of memory\n");
                rc = 1;
                goto done;
            }
            ind.path = v;
            ind.cap = cap;
        }
        ind.path[ind.count++] = pl.path[i];
        pl.path[i] = NULL;
        planted[ind.count - 1] = 1;
    }

    if (!o.no_cache) {
        const char *env = getenv("FACET_CACHE");
        if (o.cache)
            snprintf(cache_dir, sizeof cache_dir, "%s", o.cache);
        else if (env && *env)
            snprintf(cache_dir, sizeof cache_dir, "%s", env);
        else
            snprintf(cache_dir, sizeof cache_dir, "%s/cache/features",
                     o.weights);
        if (!cli_mkdirs(cache_dir)) {
            fprintf(stderr, PROG ": %s: cannot create the cache folder "
                    "(--no-cache runs without it)\n", cache_dir);
            rc = 1;
            goto done;
        }
        o.c.cache_dir = cache_dir;
    }
    if (!prepare_out(o.out, made)) {
        unprepare_out(o.out, made);
        rc = 1;
        goto done;
    }
    o.c.weights_dir = o.weights;
    ps.quiet = o.quiet;
    o.c.progress = on_progress;
    o.c.progress_user = &ps;

    s = face_characterize(&r, (const char *const *)ind.path,
                          (int)ind.count, planted,
                          (const char *const *)arb.path, (int)arb.count,
                          &o.c);
    if (!o.quiet && ps.bar.tty && ps.last_stage != FACE_CHAR_T_FRONTEND)
        fprintf(stderr, "\r\033[K");
    if (s) {
        fprintf(stderr, PROG ": %s\n", facet_error());
        unprepare_out(o.out, made);
        rc = 1;
        goto done;
    }
    // Warned even with -q: a cache that cannot be written makes every
    // rerun as slow as the first.
    if (r.cache_unwritten > 0)
        fprintf(stderr, PROG ": warning: %s: %d cache entries could not be "
                "written (is the folder writable?); a rerun will compute "
                "those photos again\n", o.c.cache_dir, r.cache_unwritten);
    if (r.cache_damaged > 0)
        fprintf(stderr, PROG ": warning: %s: %d cache entries were damaged "
                "and computed again\n", o.c.cache_dir, r.cache_damaged);
    t0 = facet_now();
    s = write_outputs(&o, &r, n_person, n_planted, n_others, t0);
    t_write = facet_now() - t0;
    if (s) {
        fprintf(stderr, PROG ": %s\n", facet_error());
        face_char_free(&r);
        rc = 1;
        goto done;
    }
    for (int i = 0; i < r.n_photos; i++)
        if (r.photos[i].status) {
            skipped++;
            if (!o.quiet)
                fprintf(stderr, "skipped: %s\n", r.photos[i].why);
        }
    if (!o.quiet) {
        double total = t_write;
        char sel[64];

        selection_names(sel, sizeof sel, face_part_decision_mask(r.parts));
        fprintf(stderr, "%d + %d portraits (%d skipped); cache %d hits, "
                "%d misses; characteristic parts: %s\n", r.n_ind, r.n_arb,
                skipped, r.cache_hits, r.cache_misses, sel);
        fprintf(stderr, "most representative: %s\nleast representative: "
                "%s\n", photo_path(&r, r.rep), photo_path(&r, r.least));
        if (r.eval_pairs > 0)
            fprintf(stderr, "eval: median Jaccard PCAM %.1f, CAM %.1f; top "
                    "selection over the pairs, normalised maps: PCAM "
                    "%.0f%%, CAM %.0f%%\n",
                    r.jac_pcam_median, r.jac_cam_median,
                    100 * r.sel[FACE_CHAR_SEL_PAIRS][FACE_CHAR_SEL_NORM]
                                [FACE_CHAR_SEL_PCAM].freq,
                    100 * r.sel[FACE_CHAR_SEL_PAIRS][FACE_CHAR_SEL_NORM]
                                [FACE_CHAR_SEL_CAM].freq);
        fprintf(stderr, "seconds:");
        for (int k = 0; k < FACE_CHAR_T_COUNT; k++) {
            fprintf(stderr, " %s %.2f", face_char_stage_name(k),
                    r.seconds[k]);
            total += r.seconds[k];
        }
        fprintf(stderr, " write %.2f; total %.2f\n", t_write, total);
        fprintf(stderr, "report: %s/index.html\n", o.out);
    }
    rc = skipped ? 3 : 0;
    face_char_free(&r);

done:
    free(planted);
    cli_paths_free(&ind);
    cli_paths_free(&arb);
    for (size_t i = 0; i < pl.count; i++)
        free(pl.path[i]);
    free(pl.path);
    return rc;
}

// align.c - `facet align`: photos in; per photo the aligned crops, the
// landmarks and faces as JSON, the part label map and an overlay; and a
// summary of what was skipped and why.
//
// Per photo STEM (the file name without extension; a second photo with
// the same stem gets STEM-2, and so on) in the output folder:
//   STEM.json          faces, subject, landmark box, landmarks in the
//                      photo and in each crop, photo -> crop transforms,
//                      part pixel counts, stage timings (schema below)
//   STEM_crop.png      the 224x224 backbone crop
//   STEM_head.png      the 512x512 head crop
//   STEM_parts.png     the part label map of the backbone crop, 8-bit
//                      grey, value = face_part index (face.h): 0
//                      background, 1 face base, 2 hair, 3 eyes,
//                      4 eyebrows, 5 nose, 6 mouth
//   STEM_head_parts.png  the same for the head crop
//   STEM_overlay.png   the head crop with the parts tinted, outlined and
//                      the landmarks dotted (parts.h colours)
//   STEM_hair.png      the hair mask in the photo frame, 8-bit grey,
//                      255 hair, 0 not (face_portrait.photo_hair: the
//                      network on the whole photo, restricted to the
//                      head region; portrait.h); off with --no-photo-hair
// A photo in which no face is found (FACET_E_NOT_FOUND) still gets
// STEM_hair.png, unrestricted (face_portrait_hair_only), and a STEM.json
// with "found": "none" and the reason; the summary counts it as hair-only,
// not as skipped.
// and summary.json: the options, every photo with its outcome (the files
// written, or the reason it was skipped) and the total time per stage.
// Every file is written to a temporary name and renamed, so a file that
// exists is whole.
//
// Exit status: 0 no photo skipped, 3 some skipped (the rest written),
// 1 none aligned or hair-only, or a fatal error (weights, output folder),
// 2 bad usage.
#include <getopt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../face/align.h"
#include "../../face/image.h"
#include "../../face/portrait.h"
#include "cli.h"

#define PROG "facet align"

static void usage(FILE *f)
{
    fprintf(f,
"usage: facet align [options] IMAGE_OR_DIR... --out DIR\n"
"\n"
"Find the subject's face in each photo, its 68 landmarks, the canonical\n"
"crops (224x224 backbone, 512x512 head) and the part masks; write them\n"
"to DIR (see below). Folders are read one level deep (jpg, jpeg, png,\n"
"bmp, tga, ppm, pgm, pnm). EXIF orientation is applied.\n"
"\n"
"options:\n"
"  -o, --out DIR        output folder (created; required)\n"
"  --weights DIR        model folder (default $FACET_WEIGHTS, else\n"
"                       ./weights, else weights/ beside the program)\n"
"  --aligned MODE       auto (default): detect; a square photo with no\n"
"                       face is taken as an aligned face crop;\n"
"                       yes: every photo is an aligned crop (no\n"
"                       detection); no: a photo with no face is skipped\n"
"  --face K             use the K-th detected face (0 = best score)\n"
"                       instead of the subject rule (large, central,\n"
"                       confident; see face/detect.h)\n"
"  --list-faces         only detect: print every face of every photo\n"
"                       (file, index, score, x, y, w, h, subject flag)\n"
"                       as tab-separated lines on stdout; write nothing\n"
"  --min-score S        detector threshold, 0 to 0.999 (default 0.5)\n"
"  --landmark-passes N  1: landmarks from the detector's box only; 2\n"
"                       (default): again from the box they imply, closer\n"
"                       to dlib's own (up to 4)\n"
"  --base METHOD        face base segmentation: nc13 (default; colour\n"
"                       segmentation of Nieuwenhuis and Cremers) or\n"
"                       geometric (jaw polygon up to a forehead line)\n"
"  --no-parts           skip the hair network, the part masks and the\n"
"                       photo-frame hair mask\n"
"  --no-photo-hair      do not write STEM_hair.png (nor hair-only\n"
"                       results for photos without a face)\n"
"  --threads N          threads (default: OpenMP's)\n"
"  -q, --quiet          no progress bar and no summary on stderr\n"
"  -h, --help           this text\n"
"\n"
"Per photo STEM, in DIR: STEM.json, STEM_crop.png, STEM_head.png,\n"
"STEM_parts.png and STEM_head_parts.png (grey label maps: 0 background,\n"
"1 face base, 2 hair, 3 eyes, 4 eyebrows, 5 nose, 6 mouth),\n"
"STEM_overlay.png, STEM_hair.png (the hair mask in the photo frame, 255\n"
"hair: the hair network on the whole photo, keeping the hair regions\n"
"that touch the head region, so long hair is kept; all of it when those\n"
"hold under 5%% of it: the face is then not the hair's owner; JSON\n"
"\"hair_mask_rule\"); and DIR/summary.json.\n"
"A photo with no face gets only STEM_hair.png (the network's mask on\n"
"the whole photo, unrestricted) and STEM.json with \"found\": \"none\";\n"
"it is counted as hair-only, and says \"no face: hair mask only\"\n"
"(with --no-photo-hair or --no-parts it is skipped). A photo that cannot\n"
"be read is skipped and listed with the reason; the rest goes on.\n"
"Exit status: 0 none skipped, 3 some skipped, 1 none aligned or\n"
"hair-only, or fatal error, 2 bad usage.\n");
}

typedef struct opts {
    const char *out, *weights;
    int list_faces, quiet, threads;
    face_frontend_opts fe;
} opts;

// ---------------------------------------------------------------------------
// JSON

static cJSON *json_points(const float *xy, int n)
{
    cJSON *a = cJSON_CreateArray();

    for (int i = 0; a && i < n; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateNumber(xy[2 * i]));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(xy[2 * i + 1]));
        cJSON_AddItemToArray(a, p);
    }
    return a;
}

static cJSON *json_doubles(const double *v, int n)
{
    return cJSON_CreateDoubleArray(v, n);
}

static const char *const crop_names[FACE_CROP_COUNT] = {"backbone",
                                                        "dlib150", "head"};

static cJSON *portrait_json(const char *path, const face_portrait *p,
                            const char *stem, int wrote_parts)
{
    cJSON *j = cJSON_CreateObject(), *faces, *crops, *sec;
    char name[4200];

    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddNumberToObject(j, "width", p->photo_w);
    cJSON_AddNumberToObject(j, "height", p->photo_h);
    cJSON_AddStringToObject(j, "found", p->how == FACE_FOUND_DETECTED
                                            ? "detected"
                                            : "assumed_aligned");
    faces = cJSON_AddArrayToObject(j, "faces");
    for (int i = 0; i < p->nfaces; i++) {
        const face_det *d = &p->faces[i];
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "x", d->x);
        cJSON_AddNumberToObject(f, "y", d->y);
        cJSON_AddNumberToObject(f, "w", d->w);
        cJSON_AddNumberToObject(f, "h", d->h);
        cJSON_AddNumberToObject(f, "score", d->score);
        cJSON_AddItemToArray(faces, f);
    }
    cJSON_AddNumberToObject(j, "subject", p->subject);
    {
        double b[4] = {p->box.left, p->box.top, p->box.right,
                       p->box.bottom};
        cJSON_AddItemToObject(j, "landmark_box", json_doubles(b, 4));
    }
    cJSON_AddItemToObject(j, "landmarks", json_points(p->lm, FACE_LANDMARKS));

    crops = cJSON_AddObjectToObject(j, "crops");
    for (int k = 0; k < FACE_CROP_COUNT; k++) {
        cJSON *c = cJSON_AddObjectToObject(crops, crop_names[k]);
        float lm[2 * FACE_LANDMARKS];

        cJSON_AddNumberToObject(c, "size",
                                face_crop_default_size((face_crop_kind)k));
        cJSON_AddItemToObject(c, "photo_to_crop",
                              json_doubles(p->to_crop[k].m, 6));
        face_align_landmarks(lm, p->lm, &p->to_crop[k]);
        cJSON_AddItemToObject(c, "landmarks", json_points(lm, FACE_LANDMARKS));
        if (k == FACE_CROP_BACKBONE || k == FACE_CROP_HEAD) {
            snprintf(name, sizeof name, "%s_%s.png", stem,
                     k == FACE_CROP_HEAD ? "head" : "crop");
            cJSON_AddStringToObject(c, "image", name);
        }
        if (wrote_parts && (k == FACE_CROP_BACKBONE || k == FACE_CROP_HEAD)) {
            snprintf(name, sizeof name, "%s_%s.png", stem,
                     k == FACE_CROP_HEAD ? "head_parts" : "parts");
            cJSON_AddStringToObject(c, "parts", name);
        }
    }

    if (wrote_parts) {
        cJSON *parts = cJSON_AddObjectToObject(j, "parts");
        cJSON *px = cJSON_AddObjectToObject(parts, "head_pixels");

        for (int k = 0; k < FACE_PART_COUNT; k++)
            cJSON_AddNumberToObject(px, face_part_name((face_part)k),
                                    (double)p->parts_info.count[k]);
        cJSON_AddNumberToObject(parts, "hair_removed_outside_head",
                                (double)p->parts_info.hair_removed);
        cJSON_AddNumberToObject(parts, "interocular_px",
                                p->parts_info.iod);
        cJSON_AddNumberToObject(parts, "segmentation_iterations",
                                p->parts_info.seg.iterations);
        snprintf(name, sizeof name, "%s_overlay.png", stem);
        cJSON_AddStringToObject(parts, "overlay", name);
    }
    if (p->photo_hair) {
        snprintf(name, sizeof name, "%s_hair.png", stem);
        cJSON_AddStringToObject(j, "hair_mask", name);
        cJSON_AddStringToObject(j, "hair_mask_rule",
                                p->photo_hair_unrestricted
                                    ? "unrestricted (head region kept too "
                                      "little)"
                                    : "head region");
    }
    sec = cJSON_AddObjectToObject(j, "seconds");
    for (int s = 0; s < FACE_STAGE_COUNT; s++)
        cJSON_AddNumberToObject(sec, face_stage_name(s), p->seconds[s]);
    return j;
}

static facet_status write_json(const char *path, const cJSON *j)
{
    char *text = cJSON_Print(j);
    facet_status s;

    if (!text)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    s = face_write_file_atomic(path, text, strlen(text));
    cJSON_free(text);
    return s;
}

// ---------------------------------------------------------------------------
// One photo

static facet_status write_png(const char *dir, const char *stem,
                              const char *suffix, const uint8_t *px, int w,
                              int h, int ch)
{
    char path[4300];

    snprintf(path, sizeof path, "%s/%s_%s.png", dir, stem, suffix);
    return face_image_write_png(path, px, w, h, ch, (size_t)w * ch);
}

// A 0/1 photo-frame mask as STEM_hair.png, 0/255.
static facet_status write_hair(const char *dir, const char *stem,
                               const uint8_t *mask, int w, int h)
{
    size_t n = (size_t)w * h;
    uint8_t *g = malloc(n);
    facet_status s;

    if (!g)
        return facet_fail(FACET_E_NOMEM, "hair mask: out of memory");
    for (size_t i = 0; i < n; i++)
        g[i] = mask[i] ? 255 : 0;
    s = write_png(dir, stem, "hair", g, w, h, 1);
    free(g);
    return s;
}

// A photo without a face: the unrestricted hair mask and a JSON saying so.
static facet_status write_hair_only(const opts *o, face_frontend *fe,
                                    const char *path, const char *stem,
                                    const face_image *im, const char *why)
{
    char jpath[4300];
    uint8_t *mask = malloc((size_t)im->w * im->h);
    cJSON *j;
    facet_status s;

    if (!mask)
        return facet_fail(FACET_E_NOMEM, "%s: hair mask: out of memory",
                          path);
    s = face_portrait_hair_only(fe, im, mask);
    if (!s)
        s = write_hair(o->out, stem, mask, im->w, im->h);
    free(mask);
    if (s)
        return s;
    j = cJSON_CreateObject();
    if (!j)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddNumberToObject(j, "width", im->w);
    cJSON_AddNumberToObject(j, "height", im->h);
    cJSON_AddStringToObject(j, "found", "none");
    cJSON_AddStringToObject(j, "reason", why);
    snprintf(jpath, sizeof jpath, "%s_hair.png", stem);
    cJSON_AddStringToObject(j, "hair_mask", jpath);
    snprintf(jpath, sizeof jpath, "%s/%s.json", o->out, stem);
    s = write_json(jpath, j);
    cJSON_Delete(j);
    return s;
}

static facet_status write_outputs(const opts *o, const char *path,
                                  const char *stem, const face_portrait *p)
{
    const face_image *bb = &p->crop[FACE_CROP_BACKBONE];
    const face_image *head = &p->crop[FACE_CROP_HEAD];
    char jpath[4300];
    facet_status s;
    cJSON *j;

    snprintf(jpath, sizeof jpath, "%s/%s_crop.png", o->out, stem);
    if ((s = face_image_write_png(jpath, bb->px, bb->w, bb->h, 3,
                                  bb->stride)))
        return s;
    snprintf(jpath, sizeof jpath, "%s/%s_head.png", o->out, stem);
    if ((s = face_image_write_png(jpath, head->px, head->w, head->h, 3,
                                  head->stride)))
        return s;
    if (p->labels) {
        float lm[2 * FACE_LANDMARKS];
        uint8_t *ov = malloc((size_t)head->w * head->h * 3);

        if (!ov)
            return facet_fail(FACET_E_NOMEM, "overlay: out of memory");
        face_align_landmarks(lm, p->lm, &p->to_crop[FACE_CROP_HEAD]);
        s = face_parts_overlay(ov, head, p->head_labels, lm, 0.45);
        if (!s)
            s = write_png(o->out, stem, "overlay", ov, head->w, head->h, 3);
        free(ov);
        if (s || (s = write_png(o->out, stem, "parts", p->labels, bb->w,
                                bb->h, 1)) ||
            (s = write_png(o->out, stem, "head_parts", p->head_labels,
                           head->w, head->h, 1)))
            return s;
    }
    if (p->photo_hair &&
        (s = write_hair(o->out, stem, p->photo_hair, p->photo_w,
                        p->photo_h)))
        return s;
    j = portrait_json(path, p, stem, p->labels != NULL);
    if (!j)
        return facet_fail(FACET_E_NOMEM, "%s: out of memory", path);
    snprintf(jpath, sizeof jpath, "%s/%s.json", o->out, stem);
    s = write_json(jpath, j);
    cJSON_Delete(j);
    return s;
}

// A stem not used before in this run: STEM, else STEM-2, STEM-3, ...
static void unique_stem(char *out, size_t size, const char *path,
                        cJSON *used)
{
    char base[256];

    cli_stem(base, sizeof base, path);
    snprintf(out, size, "%s", base);
    for (int k = 2; cJSON_HasObjectItem(used, out); k++)
        snprintf(out, size, "%s-%d", base, k);
    cJSON_AddTrueToObject(used, out);
}

static void list_faces(const char *path, const face_portrait *p)
{
    for (int i = 0; i < p->nfaces; i++) {
        const face_det *d = &p->faces[i];
        printf("%s\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\n", path, i,
               d->score, d->x, d->y, d->w, d->h, i == p->subject);
    }
    if (p->how == FACE_FOUND_ASSUMED)
        printf("%s\t-\t-\t%.1f\t%.1f\t%.1f\t%.1f\t1\n", path, -0.5, -0.5,
               (double)p->photo_w, (double)p->photo_h);
}

static int parse_args(opts *o, int argc, char **argv, int *first)
{
    static const struct option longs[] = {
        {"out", required_argument, NULL, 'o'},
        {"weights", required_argument, NULL, 'w'},
        {"aligned", required_argument, NULL, 'a'},
        {"face", required_argument, NULL, 'f'},
        {"list-faces", no_argument, NULL, 'l'},
        {"min-score", required_argument, NULL, 's'},
        {"landmark-passes", required_argument, NULL, 'P'},
        {"base", required_argument, NULL, 'b'},
        {"no-parts", no_argument, NULL, 'n'},
        {"no-photo-hair", no_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    // --base's words, in face_base_method order.
    static const char *const base_words[] = {"nc13", "geometric", NULL};
    int c, idx = -1, k;

    memset(o, 0, sizeof *o);
    face_frontend_defaults(&o->fe);
    o->fe.photo_hair = 1;
    o->weights = cli_weights_dir();
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longs, &idx)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case 'w': o->weights = optarg; break;
        case 'a':
            if ((k = cli_choice(optarg, cli_aligned_words)) < 0)
                goto bad;
            o->fe.aligned = (face_aligned_mode)k;
            break;
        case 'f':
            if (!cli_parse_int(&o->fe.face_index, optarg, 0,
                               FACE_PORTRAIT_MAX_FACES - 1))
                goto bad;
            break;
        case 'l': o->list_faces = 1; break;
        case 's':
            if (!cli_parse_double(&o->fe.min_score, optarg, 0, 0.999))
                goto bad;
            break;
        case 'P':
            if (!cli_parse_int(&o->fe.landmark_passes, optarg, 1, 4))
                goto bad;
            break;
        case 'b':
            if ((k = cli_choice(optarg, base_words)) < 0)
                goto bad;
            o->fe.parts_opts.base_method = (face_base_method)k;
            break;
        case 'n': o->fe.parts = o->fe.hair = o->fe.photo_hair = 0; break;
        case 'H': o->fe.photo_hair = 0; break;
        case 't':
            if (!cli_parse_int(&o->threads, optarg, 1, 256))
                goto bad;
            break;
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, PROG ": unknown option or missing value: %s\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (o->list_faces) {
        o->fe.parts = o->fe.hair = o->fe.photo_hair = 0;
        if (o->fe.aligned == FACE_ALIGNED_YES) {
            fprintf(stderr, PROG ": --list-faces needs detection "
                    "(not --aligned yes)\n");
            return 2;
        }
    }
    if (optind >= argc || (!o->out && !o->list_faces)) {
        fprintf(stderr, PROG ": %s\n", optind >= argc
                                           ? "no photos or folders given"
                                           : "--out DIR is required");
        fprintf(stderr, "'facet align --help' describes the options.\n");
        return 2;
    }
    *first = optind;
    return -1;

bad:
    fprintf(stderr, PROG ": bad value for --%s: '%s' (expected %s)\n",
            idx >= 0 ? longs[idx].name : "?", optarg, cli_expected());
    return 2;
}

int cli_align(int argc, char **argv)
{
    opts o;
    int first, rc;
    cli_paths photos = {0};
    cli_progress_state bar = {0};
    face_frontend *fe = NULL;
    cJSON *summary = NULL, *items, *used = NULL;
    double stage_sum[FACE_STAGE_COUNT] = {0};
    size_t done = 0, skipped = 0, hair_only = 0;
    char stem[300], path[4300];
    facet_status s;

    if ((rc = parse_args(&o, argc, argv, &first)) >= 0)
        return rc;
    if (o.threads)
        facet_set_threads(o.threads);
    for (int i = first; i < argc; i++)
        if (!cli_collect_photos(&photos, argv[i], PROG)) {
            cli_paths_free(&photos);
            return 1;
        }
    if (photos.count == 0) {
        fprintf(stderr, PROG ": no photos found in the arguments\n");
        return 1;
    }
    if (o.out && !cli_mkdirs(o.out)) {
        fprintf(stderr, PROG ": %s: cannot create the folder: %s\n", o.out,
                strerror(errno));
        cli_paths_free(&photos);
        return 1;
    }
    if ((s = face_frontend_open(&fe, o.weights, &o.fe))) {
        fprintf(stderr, PROG ": %s\n", facet_error());
        cli_paths_free(&photos);
        return 1;
    }

    summary = cJSON_CreateObject();
    used = cJSON_CreateObject();
    cJSON_AddStringToObject(summary, "weights", o.weights);
    cJSON_AddStringToObject(summary, "aligned",
                            o.fe.aligned == FACE_ALIGNED_YES ? "yes"
                            : o.fe.aligned == FACE_ALIGNED_NO ? "no"
                                                              : "auto");
    cJSON_AddNumberToObject(summary, "face", o.fe.face_index);
    cJSON_AddNumberToObject(summary, "min_score", o.fe.min_score);
    cJSON_AddNumberToObject(summary, "landmark_passes",
                            o.fe.landmark_passes);
    cJSON_AddStringToObject(summary, "base",
                            o.fe.parts_opts.base_method == FACE_BASE_NC13
                                ? "nc13" : "geometric");
    cJSON_AddBoolToObject(summary, "parts", o.fe.parts);
    cJSON_AddBoolToObject(summary, "photo_hair", o.fe.photo_hair);
    cJSON_AddNumberToObject(summary, "threads", facet_threads());
    items = cJSON_AddArrayToObject(summary, "photos");

    for (size_t i = 0; i < photos.count; i++) {
        const char *file = photos.path[i];
        face_image im = {0};
        face_portrait p;
        cJSON *item = cJSON_CreateObject();
        int no_face = 0;

        if (!o.quiet)
            cli_progress(&bar, i, photos.count, file);
        cJSON_AddStringToObject(item, "file", file);
        s = face_image_load(&im, file, NULL);
        if (!s) {
            s = face_portrait_run(fe, &im, &p);
            if (s) {
                // Name the photo: the library's detail may not.
                char why[600];
                snprintf(why, sizeof why, "%s", facet_error());
                no_face = s == FACET_E_NOT_FOUND && o.fe.photo_hair &&
                          !o.list_faces;
                if (no_face) {
                    unique_stem(stem, sizeof stem, file, used);
                    s = write_hair_only(&o, fe, file, stem, &im, why);
                    if (s) {
                        snprintf(why, sizeof why, "%s", facet_error());
                        facet_fail(s, "%s: no face; hair mask: %s", file,
                                   why);
                    } else {
                        cJSON_AddStringToObject(item, "stem", stem);
                        cJSON_AddStringToObject(item, "hair_only", why);
                        if (!o.quiet)
                            fprintf(stderr, "%s%s: no face: hair mask "
                                    "only\n", bar.tty ? "\r\033[K" : "",
                                    file);
                        hair_only++;
                    }
                } else {
                    facet_fail(s, "%s: %s", file, why);
                }
            }
        }
        if (no_face && !s) {
            // Written above; nothing of a portrait to free.
        } else if (!s && o.list_faces) {
            list_faces(file, &p);
        } else if (!s) {
            unique_stem(stem, sizeof stem, file, used);
            if ((s = write_outputs(&o, file, stem, &p)) == FACET_OK)
                cJSON_AddStringToObject(item, "stem", stem);
        }
        if (s) {
            cJSON_AddStringToObject(item, "skipped", facet_error());
            if (!o.quiet)
                fprintf(stderr, "%sskipped: %s\n", bar.tty ? "\r\033[K" : "",
                        facet_error());
            skipped++;
        } else if (!no_face) {
            for (int k = 0; k < FACE_STAGE_COUNT; k++)
                stage_sum[k] += p.seconds[k];
            done++;
            face_portrait_free(&p);
        }
        face_image_free(&im);
        cJSON_AddItemToArray(items, item);
    }
    if (!o.quiet)
        cli_progress(&bar, photos.count, photos.count, "");

    {
        cJSON *sec = cJSON_AddObjectToObject(summary, "seconds");
        for (int k = 0; k < FACE_STAGE_COUNT; k++)
            cJSON_AddNumberToObject(sec, face_stage_name(k), stage_sum[k]);
        cJSON_AddNumberToObject(summary, "aligned_count", (double)done);
        cJSON_AddNumberToObject(summary, "skipped_count", (double)skipped);
        cJSON_AddNumberToObject(summary, "hair_only_count",
                                (double)hair_only);
    }
    rc = done + hair_only == 0 ? 1 : skipped ? 3 : 0;
    if (o.out) {
        snprintf(path, sizeof path, "%s/summary.json", o.out);
        if ((s = write_json(path, summary))) {
            fprintf(stderr, PROG ": %s\n", facet_error());
            rc = 1;
        }
    }
    if (!o.quiet) {
        fprintf(stderr, "%s %zu of %zu photos; ",
                o.list_faces ? "detected in" : "aligned", done,
                photos.count);
        if (o.fe.photo_hair)
            fprintf(stderr, "hair-only (no face) %zu; ", hair_only);
        fprintf(stderr, "skipped %zu", skipped);
        if (done) {
            fprintf(stderr, "; ms per photo:");
            for (int k = 0; k < FACE_STAGE_COUNT; k++)
                fprintf(stderr, " %s %.1f", face_stage_name(k),
                        1e3 * stage_sum[k] / (double)done);
        }
        fprintf(stderr, "\n");
    }
    cJSON_Delete(summary);
    cJSON_Delete(used);
    face_frontend_close(fe);
    cli_paths_free(&photos);
    return rc;
}

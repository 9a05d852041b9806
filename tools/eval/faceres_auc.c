// faceres_auc.c - identity verification with faceres, end to end: runs the
// network on every face crop of a folder of people and reports the ROC
// AUC of cosine similarity over all same-person / different-person pairs,
// for the 1024-D descriptor and for globally average-pooled backbone maps.
// It confirms the port on real faces, beside the TF.js parity test.
//
//   faceres_auc [DATA] [WEIGHTS]
//     DATA     folder of <person>/<image>.png (default
//              $FACET_DATA/aligned112, FACET_DATA defaulting to
//              ../shared/data)
//     WEIGHTS  default weights/faceres.fct
//
// Each 112x112 crop is upscaled to 224x224 bilinearly with half-pixel
// centres and rounded to 8 bits (as tools/fixtures/faceres_fixtures.js
// does), then fed through nn_faceres_input_rgb8. Scores: cosine similarity
// of the descriptor (global_pooling) and of the 14x14 maps conv_pw_9,
// conv_pw_10, conv_pw_11 and the 7x7 conv_pw_13, each averaged over its
// H x W. AUC = P(score of a same pair > score of a different pair), ties
// counting one half, from the rank sum over all pairs.
//
// Build (not part of `make`; links only what libfacet needs, plus zlib):
//   make build/o1d0s0n0/libfacet.a
//   cc -std=c11 -O2 -fopenmp -D_POSIX_C_SOURCE=200809L
//       tools/eval/faceres_auc.c build/o1d0s0n0/libfacet.a -lz -lm
//       -o build/o1d0s0n0/tools/faceres_auc          (one command line)
//   build/o1d0s0n0/tools/faceres_auc
//
// ref: T. Fawcett, "An introduction to ROC analysis", Pattern Recognition
//      Letters 27 (2006) - AUC as the Mann-Whitney statistic
// ref: PNG specification (W3C, 2003), sections 5 (chunks), 9 (filters)
//
// Limitations:
// - The PNG reader takes 8-bit grey, RGB and RGBA, non-interlaced, and
//   keeps the first three channels (grey repeated); no palettes, 16-bit or
//   Adam7 (aligned112 holds 8-bit RGB only). CRCs are not checked.
// - Every image is 112x112 or any size, resized to 224x224 whatever its
//   aspect ratio.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../nn/net_faceres.h"
#include "../../weights/weights.h"
#include "eval_util.h"

#define SZ NN_FACERES_SIZE
#define MAX_IMAGES 20000
#define MAX_SIDE 4096
#define BATCH 8

// The feature vectors scored: a value name and whether to pool it.
static const char *const feat_names[] = {
    "global_pooling", "conv_pw_9_relu", "conv_pw_10_relu", "conv_pw_11_relu",
    "conv_pw_13_relu"};
enum { NFEAT = 5 };

typedef struct image_ref {
    char *path;
    int person;
} image_ref;

// ---------------------------------------------------------------------------
// A minimal PNG reader

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);

    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// RGB bytes (w x h x 3, malloc'ed) of an 8-bit non-interlaced PNG, or NULL
// with a message on stderr.
static uint8_t *read_png(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    uint8_t *file = NULL, *idat = NULL, *raw = NULL, *rgb = NULL;
    size_t n = 0, nidat = 0, pos = 8;
    int ch = 0, ok = 0;
    long len;

    if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 8 ||
        len > (1L << 28) || fseek(f, 0, SEEK_SET) ||
        !(file = malloc((size_t)len)) ||
        fread(file, 1, (size_t)len, f) != (size_t)len)
        goto done;
    n = (size_t)len;
    if (memcmp(file, "\x89PNG\r\n\x1a\n", 8))
        goto done;

    // Chunks: IHDR first, IDATs concatenated, IEND last.
    *w = *h = 0;
    idat = malloc(n);
    while (idat && pos + 12 <= n) {
        uint32_t clen = be32(file + pos);
        const uint8_t *type = file + pos + 4, *d = file + pos + 8;

        if (clen > n - pos - 12)
            goto done;
        if (!memcmp(type, "IHDR", 4) && clen >= 13) {
            int color = d[9];
            *w = (int)be32(d);
            *h = (int)be32(d + 4);
            ch = color == 0 ? 1 : color == 2 ? 3 : color == 6 ? 4 : 0;
            if (d[8] != 8 || !ch || d[12] != 0 || *w < 1 || *h < 1 ||
                *w > MAX_SIDE || *h > MAX_SIDE)
                goto done;
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(idat + nidat, d, clen);
            nidat += clen;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        pos += 12 + clen;
    }
    if (!ch || !nidat)
        goto done;

    // Inflate, then undo the per-row filters.
    {
        size_t stride = (size_t)*w * ch, rows = (size_t)*h;
        uLongf out = (uLongf)((stride + 1) * rows);

        raw = malloc(out);
        rgb = malloc((size_t)*w * *h * 3);
        if (!raw || !rgb || uncompress(raw, &out, idat, nidat) != Z_OK ||
            out != (stride + 1) * rows)
            goto done;
        for (size_t y = 0; y < rows; y++) {
            uint8_t *row = raw + y * (stride + 1), *cur = row + 1;
            const uint8_t *up = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;

            for (size_t i = 0; i < stride; i++) {
                int a = i >= (size_t)ch ? cur[i - ch] : 0;
                int b = up ? up[i] : 0;
                int c = up && i >= (size_t)ch ? up[i - ch] : 0;
                int p;
                switch (row[0]) {
                case 0: p = 0; break;
                case 1: p = a; break;
                case 2: p = b; break;
                case 3: p = (a + b) / 2; break;
                case 4: p = paeth(a, b, c); break;
                default: goto done;
                }
                cur[i] = (uint8_t)(cur[i] + p);
            }
            for (int x = 0; x < *w; x++)
                for (int k = 0; k < 3; k++)
                    rgb[(y * *w + x) * 3 + k] = cur[x * ch + (ch == 1 ? 0 : k)];
        }
    }
    ok = 1;

done:
    if (f)
        fclose(f);
    free(file);
    free(idat);
    free(raw);
    if (!ok) {
        fprintf(stderr, "faceres_auc: %s: not an 8-bit non-interlaced grey, "
                "RGB or RGBA PNG\n", path);
        free(rgb);
        return NULL;
    }
    return rgb;
}

// w x h RGB -> 224x224 RGB: bilinear, half-pixel centres, clamped edges,
// rounded half up (the fixture script's upscale()).
static void resize_rgb(uint8_t *dst, const uint8_t *src, int w, int h)
{
    double sx = (double)w / SZ, sy = (double)h / SZ;

    for (int y = 0; y < SZ; y++) {
        double fy = fmin(fmax((y + 0.5) * sy - 0.5, 0), h - 1);
        int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        double ay = fy - y0;

        for (int x = 0; x < SZ; x++) {
            double fx = fmin(fmax((x + 0.5) * sx - 0.5, 0), w - 1);
            int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            double ax = fx - x0;

            for (int c = 0; c < 3; c++) {
                double p00 = src[((size_t)y0 * w + x0) * 3 + c];
                double p01 = src[((size_t)y0 * w + x1) * 3 + c];
                double p10 = src[((size_t)y1 * w + x0) * 3 + c];
                double p11 = src[((size_t)y1 * w + x1) * 3 + c];
                double v = (1 - ay) * ((1 - ax) * p00 + ax * p01) +
                           ay * ((1 - ax) * p10 + ax * p11);
                dst[(y * SZ + x) * 3 + c] = (uint8_t)floor(v + 0.5);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Main

int main(int argc, char **argv)
{
    const char *env = getenv("FACET_DATA");
    char data[1024], path[2048];
    const char *wpath = argc > 2 ? argv[2] : "weights/faceres.fct";
    char **people = NULL;
    image_ref *im = calloc(MAX_IMAGES, sizeof(*im));
    int npeople, n = 0, dims[NFEAT], *person;
    float *feat[NFEAT], *in;
    uint8_t crop[SZ * SZ * 3];
    wt_file *wf;
    nn_faceres *net;
    double t0, t_net = 0;

    snprintf(data, sizeof data, "%s/aligned112", env ? env :
             "../shared/data");
    if (argc > 1)
        snprintf(data, sizeof data, "%s", argv[1]);

    // People and their images.
    if ((npeople = eval_list_dir(&people, data, NULL, NULL)) < 2) {
        fprintf(stderr, "faceres_auc: %s: need a folder of >= 2 people\n",
                data);
        return 1;
    }
    for (int p = 0; p < npeople; p++) {
        char **files;
        int nf;
        snprintf(path, sizeof path, "%s/%s", data, people[p]);
        nf = eval_list_dir(&files, path, NULL, NULL);
        for (int i = 0; i < nf; i++) {
            size_t l = strlen(files[i]);
            if (l > 4 && !strcmp(files[i] + l - 4, ".png") &&
                n < MAX_IMAGES) {
                snprintf(path, sizeof path, "%s/%s/%s", data, people[p],
                         files[i]);
                im[n].path = strdup(path);
                im[n++].person = p;
            }
            free(files[i]);
        }
        if (nf > 0)
            free(files);
    }

    // The network, keeping the maps scored.
    if (wt_open(&wf, wpath, 0) != FACET_OK ||
        nn_faceres_create(&net, wf, BATCH, feat_names + 1, NFEAT - 1) !=
            FACET_OK) {
        fprintf(stderr, "faceres_auc: %s (run make weights)\n",
                facet_error());
        return 1;
    }
    for (int k = 0; k < NFEAT; k++) {
        int c, h, w;
        for (int i = 0; i < nn_faceres_value_count(); i++)
            if (!strcmp(nn_faceres_value_name(i), feat_names[k]))
                nn_faceres_value_shape(i, &c, &h, &w);
        dims[k] = c;
        feat[k] = malloc((size_t)n * c * sizeof(float));
    }
    in = facet_alloc((size_t)BATCH * 3 * SZ * SZ * sizeof(float));

    // Features, BATCH images at a time; maps averaged over H x W.
    for (int b0 = 0; b0 < n; b0 += BATCH) {
        int nb = n - b0 < BATCH ? n - b0 : BATCH;
        nn_tensor x = nn_tensor_4d(in, nb, 3, SZ, SZ);

        for (int i = 0; i < nb; i++) {
            int w, h;
            uint8_t *rgb = read_png(im[b0 + i].path, &w, &h);
            if (!rgb)
                return 1;
            resize_rgb(crop, rgb, w, h);
            free(rgb);
            nn_faceres_input_rgb8(in + (size_t)i * 3 * SZ * SZ, crop, SZ * 3);
        }
        t0 = facet_now();
        if (nn_faceres_forward(net, &x) != FACET_OK) {
            fprintf(stderr, "faceres_auc: %s\n", facet_error());
            return 1;
        }
        t_net += facet_now() - t0;
        for (int k = 0; k < NFEAT; k++) {
            const nn_tensor *t = nn_faceres_feature(net, feat_names[k]);
            size_t plane = nn_tensor_count(t) / ((size_t)nb * dims[k]);
            for (int i = 0; i < nb; i++)
                for (int c = 0; c < dims[k]; c++) {
                    const float *v = t->data +
                                     ((size_t)i * dims[k] + c) * plane;
                    double s = 0;
                    for (size_t j = 0; j < plane; j++)
                        s += v[j];
                    feat[k][(size_t)(b0 + i) * dims[k] + c] =
                        (float)(s / (double)plane);
                }
        }
    }

    printf("faceres_auc: %s: %d people, %d images; network %.1f ms per "
           "image (%d threads, batches of %d)\n", data, npeople, n,
           1e3 * t_net / n, facet_threads(), BATCH);
    person = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!person) {
        fprintf(stderr, "faceres_auc: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++)
        person[i] = im[i].person;
    for (int k = 0; k < NFEAT; k++) {
        size_t np, nn_;
        double auc = eval_pair_auc(feat[k], dims[k], person, n, &np, &nn_);
        if (auc < 0) {
            fprintf(stderr, "faceres_auc: out of memory\n");
            return 1;
        }
        printf("  %-16s %4d-D%s  AUC %.4f  (%zu same, %zu different "
               "pairs)\n", feat_names[k], dims[k], k ? " pooled" : "       ",
               auc, np, nn_);
    }

    for (int k = 0; k < NFEAT; k++)
        free(feat[k]);
    for (int i = 0; i < n; i++)
        free(im[i].path);
    for (int p = 0; p < npeople; p++)
        free(people[p]);
    free(people);
    free(person);
    free(im);
    facet_free(in);
    nn_faceres_free(net);
    wt_close(wf);
    return 0;
}

// characterize_api.c - facet's main job as one library call: the photos of
// one person and of other people in, the person's most and least
// representative portraits and the characteristic parts out (what `facet
// characterize` does before it writes its report and pictures).
//
//   make examples
//   build/o1d0s0n0/examples/characterize_api PERSON_DIR OTHERS_DIR [MAX]
//
// e.g. ../shared/data/lfw/Tony_Blair ../shared/data/celebahq/images 20.
// Needs the weights (make weights; FACET_WEIGHTS names another folder).
// Features are cached in WEIGHTS/cache/features, so a second run skips
// the networks. Photos are taken by a plain extension test (the CLI's
// folder listing is in tools/cli/util.c); a photo in both sets is
// refused by the library.
#define _DEFAULT_SOURCE   // DT_DIR
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../face/characterize.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_photo(const char *name)
{
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp",
                                      ".tga", ".pnm", ".ppm", ".pgm"};
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i]))
            return 1;
    return 0;
}

// The first `max` photo paths of `dir` in name order; *n gets the count.
// NULL (and a message) when the folder cannot be read.
static char **list_photos(const char *dir, int max, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    int cap = 0;

    *n = 0;
    if (!d) {
        fprintf(stderr, "characterize_api: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type == DT_DIR ||
            !is_photo(e->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            if (!(v = realloc(v, (size_t)cap * sizeof *v)))
                abort();
        }
        if (!(v[*n] = malloc(strlen(dir) + strlen(e->d_name) + 2)))
            abort();
        sprintf(v[*n], "%s/%s", dir, e->d_name);
        (*n)++;
    }
    closedir(d);
    qsort(v, (size_t)*n, sizeof *v, by_name);
    while (*n > max)
        free(v[--*n]);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int main(int argc, char **argv)
{
    char *end = NULL, cache[4096];
    long max = argc > 3 ? strtol(argv[3], &end, 10) : 20;
    int n_ind = 0, n_arb = 0, rc = 1;
    char **ind = NULL, **arb = NULL;
    face_char_opts o;
    face_char_result r;

    if (argc < 3 || argc > 4 || (end && *end) || max < FACE_CHAR_MIN_SET ||
        max > 100000) {
        fprintf(stderr, "usage: %s PERSON_DIR OTHERS_DIR [MAX_PHOTOS, %d "
                "to 100000]\n", argv[0], FACE_CHAR_MIN_SET);
        return 2;
    }
    if (!(ind = list_photos(argv[1], (int)max, &n_ind)) ||
        !(arb = list_photos(argv[2], (int)max, &n_arb)))
        goto out;

    // The defaults are the CLI's: faceres (or VGG-Face when installed),
    // two landmark passes, M and M_H by the hinge-loss SGD, seed 1, the
    // identity ranking.
    face_char_defaults(&o);
    if (getenv("FACET_WEIGHTS"))
        o.weights_dir = getenv("FACET_WEIGHTS");
    snprintf(cache, sizeof cache, "%s/cache/features", o.weights_dir);
    o.cache_dir = cache;   // made if missing
    if (face_characterize(&r, (const char *const *)ind, n_ind, NULL,
                          (const char *const *)arb, n_arb, &o)) {
        fprintf(stderr, "characterize_api: %s\n", facet_error());
        goto out;
    }

    // A skipped photo's reason names it.
    for (int i = 0; i < r.n_photos; i++)
        if (r.photos[i].portrait < 0)
            printf("skipped: %s\n", r.photos[i].why);
    printf("%d + %d portraits; M: %s after %ld iterations\n", r.n_ind,
           r.n_arb, face_metric_stop_name(r.m.stop), r.m.iterations);
    // pt[] holds P_ind first; rep and least index it.
    printf("most representative:  %s\n", r.photos[r.pt[r.rep].photo].path);
    printf("least representative: %s\n",
           r.photos[r.pt[r.least].photo].path);
    // A part is characteristic when the representative portrait's PCAM
    // sum over it beats more than half of the other people's.
    for (int k = 0; k < FACE_PART_COUNT; k++)
        if (FACE_PART_CHARACTERIZING >> k & 1)
            printf("%-9s beats %5.1f%% of the others: %s\n",
                   face_part_name((face_part)k),
                   100 * r.parts[k].frac_beaten,
                   r.parts[k].characteristic ? "characteristic" : "no");

    face_char_free(&r);
    rc = 0;
out:
    free_list(ind, n_ind);
    free_list(arb, n_arb);
    return rc;
}

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
// Features are cached in weights/cache/features, so a second run skips
// the networks.
#define _DEFAULT_SOURCE   // DT_DIR
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../face/characterize.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The first `max` file paths of `dir` in name order; *n gets the count.
static char **list_photos(const char *dir, int max, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    int cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type == DT_DIR)
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

int main(int argc, char **argv)
{
    int max = argc > 3 ? atoi(argv[3]) : 20, n_ind, n_arb;
    face_char_opts o;
    face_char_result r;

    if (argc < 3 || argc > 4 || max < FACE_CHAR_MIN_SET) {
        fprintf(stderr, "usage: %s PERSON_DIR OTHERS_DIR [MAX_PHOTOS >= "
                "%d]\n", argv[0], FACE_CHAR_MIN_SET);
        return 2;
    }
    char **ind = list_photos(argv[1], max, &n_ind);
    char **arb = list_photos(argv[2], max, &n_arb);

    // The defaults are the CLI's: faceres (or VGG-Face when installed),
    // M and M_H by the hinge-loss SGD, seed 1, the identity ranking.
    face_char_defaults(&o);
    if (getenv("FACET_WEIGHTS"))
        o.weights_dir = getenv("FACET_WEIGHTS");
    o.cache_dir = "weights/cache/features";   // must exist to be used
    if (face_characterize(&r, (const char *const *)ind, n_ind, NULL,
                          (const char *const *)arb, n_arb, &o)) {
        fprintf(stderr, "characterize: %s\n", facet_error());
        return 1;
    }

    for (int i = 0; i < r.n_photos; i++)
        if (r.photos[i].portrait < 0)
            printf("skipped %s: %s\n", r.photos[i].path, r.photos[i].why);
    printf("%d + %d portraits; M converged after %ld iterations\n",
           r.n_ind, r.n_arb, r.m.iterations);
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
    for (int i = 0; i < n_ind; i++)
        free(ind[i]);
    for (int i = 0; i < n_arb; i++)
        free(arb[i]);
    free(ind);
    free(arb);
    return 0;
}

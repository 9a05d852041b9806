// eval_util.h - small pieces shared by the evaluation programs of
// tools/eval/ (each is its own program, so these are static functions in a
// header each includes; inline, so that unused ones draw no warning):
// sorted folder listings and ROC AUC by ranks.
//
// ref: T. Fawcett, "An introduction to ROC analysis", Pattern Recognition
//      Letters 27 (2006) (AUC as the Mann-Whitney statistic)
#ifndef FACET_EVAL_UTIL_H
#define FACET_EVAL_UTIL_H

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// qsort comparison of two C strings held in an array of char *.
static inline int eval_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Decides whether the name `name` found in folder `dir` is listed.
typedef int (*eval_keep_fn)(const char *dir, const char *name,
                            const void *arg);

// Names in `dir` for which keep(dir, name, arg) is nonzero (keep NULL: all
// but dot files), sorted by strcmp, into a malloc'd array of malloc'd
// strings. Returns the count, or -1 with *out = NULL when the folder is
// unreadable or memory runs out.
static inline int eval_list_dir(char ***out, const char *dir,
                                eval_keep_fn keep, const void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    int n = 0, cap = 0;

    *out = NULL;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (keep ? !keep(dir, e->d_name, arg) : e->d_name[0] == '.')
            continue;
        if (n == cap) {
            int nc = cap ? 2 * cap : 64;
            char **t = cap < (1 << 28) ? realloc(v, (size_t)nc * sizeof(*v))
                                       : NULL;
            if (!t)
                goto fail;
            v = t;
            cap = nc;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto fail;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, (size_t)n, sizeof(*v), eval_cmp_str);
    *out = v;
    return n;
fail:
    closedir(d);
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

// One scored pair: its score s and whether it is a positive.
typedef struct eval_scored {
    double s;
    int pos;
} eval_scored;

// qsort comparison of eval_scored by score, ascending.
static inline int eval_cmp_scored(const void *a, const void *b)
{
    double x = ((const eval_scored *)a)->s, y = ((const eval_scored *)b)->s;

    return (x > y) - (x < y);
}

// ROC AUC of the n entries of v: P(score of a positive > score of a
// negative), ties one half, from the rank sum of the positives (ties at
// their mean rank; Mann-Whitney). Sorts v. NaN if a class is empty.
static inline double eval_auc(eval_scored *v, size_t n)
{
    double rank_sum = 0, pos = 0;

    qsort(v, n, sizeof(*v), eval_cmp_scored);
    for (size_t i = 0; i < n;) {
        size_t j = i, np = 0;
        while (j < n && v[j].s == v[i].s)
            np += (size_t)v[j++].pos;
        rank_sum += (double)np * 0.5 * (double)(i + 1 + j);
        pos += (double)np;
        i = j;
    }
    if (pos == 0 || pos == (double)n)
        return NAN;
    return (rank_sum - 0.5 * pos * (pos + 1)) / (pos * ((double)n - pos));
}

// ROC AUC of the cosine similarity (in double) over all pairs of the n
// rows of f (d floats each), same person[] positive; the numbers of
// positive and negative pairs into *npos and *nneg (either may be NULL).
// -1 when memory runs out; NaN if a class is empty.
static inline double eval_pair_auc(const float *f, int d, const int *person,
                                   int n, size_t *npos, size_t *nneg)
{
    size_t np = n > 1 ? (size_t)n * (size_t)(n - 1) / 2 : 0, k = 0, pos = 0;
    eval_scored *p = malloc((np ? np : 1) * sizeof(*p));
    double *norm = malloc((n > 0 ? (size_t)n : 1) * sizeof(double)), auc;

    if (!p || !norm) {
        free(p);
        free(norm);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += (double)f[(size_t)i * d + j] * f[(size_t)i * d + j];
        norm[i] = sqrt(s) + 1e-30;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const float *a = f + (size_t)i * d, *b = f + (size_t)j * d;
            double dot = 0;
            for (int t = 0; t < d; t++)
                dot += (double)a[t] * b[t];
            p[k].s = dot / (norm[i] * norm[j]);
            p[k].pos = person[i] == person[j];
            pos += (size_t)p[k].pos;
            k++;
        }
    auc = eval_auc(p, np);
    if (npos)
        *npos = pos;
    if (nneg)
        *nneg = np - pos;
    free(p);
    free(norm);
    return auc;
}

#endif

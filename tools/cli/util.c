// util.c - what the facet subcommands that walk photos share: the list of
// photo files from arguments (files, or folders read one level deep), a
// progress line on stderr, folder creation, output names and numbers.
//
// Limitations:
// - Folders are read one level deep, not recursively; hidden files are
//   skipped; a file is taken as a photo by its extension only.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const photo_ext[] = {
    "jpg", "jpeg", "png", "bmp", "tga", "ppm", "pgm", "pnm", NULL};

static int is_photo_name(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (name[0] == '.' || !dot)
        return 0;
    for (int i = 0; photo_ext[i]; i++)
        if (!strcasecmp(dot + 1, photo_ext[i]))
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(cli_paths *l, const char *dir, const char *name)
{
    size_t n = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *s;

    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->path, cap * sizeof *v);
        if (!v)
            return 0;
        l->path = v;
        l->cap = cap;
    }
    if (!(s = malloc(n)))
        return 0;
    if (dir)
        snprintf(s, n, "%s/%s", dir, name);
    else
        snprintf(s, n, "%s", name);
    l->path[l->count++] = s;
    return 1;
}

int cli_collect_photos(cli_paths *l, const char *arg, const char *prog)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    size_t first = l->count;

    if (stat(arg, &st) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, arg, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (!push(l, NULL, arg))
            goto nomem;
        return 1;
    }
    if (!(d = opendir(arg))) {
        fprintf(stderr, "%s: %s: %s\n", prog, arg, strerror(errno));
        return 0;
    }
    while ((e = readdir(d)))
        if (is_photo_name(e->d_name) && !push(l, arg, e->d_name)) {
            closedir(d);
            goto nomem;
        }
    closedir(d);

    // A folder's photos in name order, so runs are reproducible.
    qsort(l->path + first, l->count - first, sizeof *l->path, cmp_str);
    return 1;

nomem:
    fprintf(stderr, "%s: out of memory\n", prog);
    return 0;
}

void cli_paths_free(cli_paths *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->path[i]);
    free(l->path);
    memset(l, 0, sizeof *l);
}

int cli_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return 0;
        buf[i] = i == n ? '\0' : '/';
    }
    // An existing file of that name is not a folder.
    {
        struct stat st;

        if (stat(path, &st) != 0)
            return 0;
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return 0;
        }
    }
    return 1;
}

void cli_stem(char *out, size_t size, const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot;
    size_t n;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n >= size)
        n = size - 1;
    memcpy(out, base, n);
    out[n] = '\0';
}

void cli_progress(cli_progress_state *p, size_t done, size_t total,
                  const char *what)
{
    enum { BAR = 30 };
    char bar[BAR + 1];
    size_t fill = total ? done * BAR / total : BAR;

    if (p->init == 0) {
        p->tty = isatty(2);
        p->init = 1;
    }
    if (!p->tty)
        return;
    for (size_t i = 0; i < BAR; i++)
        bar[i] = i < fill ? '=' : ' ';
    bar[BAR] = '\0';
    // \033[K clears what a longer previous line left.
    fprintf(stderr, "\r[%s] %zu/%zu %.40s\033[K", bar, done, total,
            what ? what : "");
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static char expected[160];

void cli_expect(const char *what)
{
    snprintf(expected, sizeof expected, "%s", what);
}

const char *cli_expected(void)
{
    return expected;
}

int cli_parse_int(int *out, const char *s, long lo, long hi)
{
    char *end;
    long v;

    snprintf(expected, sizeof expected, "an integer from %ld to %ld", lo,
             hi);

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_double(double *out, const char *s, double lo, double hi)
{
    char *end;
    double v;

    snprintf(expected, sizeof expected, "a number from %g to %g", lo, hi);

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

const char *cli_weights_dir(void)
{
    static char beside[4096];
    const char *w = getenv("FACET_WEIGHTS");
    struct stat st;
    ssize_t n;
    char *slash;

    if (w && *w)
        return w;
    if (stat("weights", &st) == 0 && S_ISDIR(st.st_mode))
        return "weights";

    // The weights folder beside the program (./facet at the top of the
    // checkout), when run from elsewhere.
    n = readlink("/proc/self/exe", beside, sizeof beside - 16);
    if (n > 0) {
        beside[n] = '\0';
        if ((slash = strrchr(beside, '/'))) {
            strcpy(slash + 1, "weights");
            return beside;
        }
    }
    return "weights";
}

const char *const cli_aligned_words[] = {"auto", "yes", "no", NULL};

int cli_choice(const char *s, const char *const *names)
{
    size_t used = 0;

    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    used = (size_t)snprintf(expected, sizeof expected, "one of");
    for (int i = 0; names[i] && used < sizeof expected; i++)
        used += (size_t)snprintf(expected + used, sizeof expected - used,
                                 "%s %s", i ? "," : "", names[i]);
    return -1;
}

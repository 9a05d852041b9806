// models.c - `facet models`: list the installed models, the .fct files in
// weights/ (or $FACET_WEIGHTS, or --dir DIR), one line each with the
// model's name, tensor and parameter counts, file size, the result of a
// full validation with every CRC checked, and its license and source.
//
// ref: weights/FORMAT.md (what "verified" covers: every byte of the file
//      is under a CRC-32 or must be zero).
//
// Limitations:
// - Opening verifies every tensor's CRC, so listing reads every byte of
//   every model (zlib crc32 runs at 1-1.5 GB/s on one core here).
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../weights/weights.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facet models [--dir DIR]\n"
            "\n"
            "Lists the installed models (*.fct files) with name, tensor and\n"
            "parameter counts, file size, checksum (\"ok\" when every field\n"
            "and CRC checks out, else the problem), the content CRC that\n"
            "identifies the file, license and source.\n"
            "\n"
            "  --dir DIR   where to look (default: $FACET_WEIGHTS, else\n"
            "              weights)\n"
            "\nExit status 1 when any model fails its checks.\n");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Print text from a file on one line: control characters become spaces.
static void put_text(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

static void put_size(uint64_t bytes)
{
    if (bytes < (1u << 20))
        printf("%7.1f KiB", (double)bytes / 1024.0);
    else
        printf("%7.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

// The *.fct names in `dir`, sorted; *count 0 when there are none. -1 when
// the folder exists but cannot be read.
static int list_models(char ***names, size_t *count, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0, cap = 0;
    char **v = NULL;

    *names = NULL;
    *count = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".fct") != 0)
            continue;
        if (n == cap) {
            char **grown;
            cap = cap ? 2 * cap : 16;
            grown = realloc(v, cap * sizeof *v);
            if (!grown)
                break;
            v = grown;
        }
        if (!(v[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    *count = n;
    return 0;
}

int cli_models(int argc, char **argv)
{
    const char *dir = getenv("FACET_WEIGHTS");
    const char *sep;
    char **names;
    size_t count, width = 4;
    int failed = 0;

    if (!dir || !dir[0])
        dir = "weights";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "facet models: unknown argument '%s'\n",
                    argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir[0]) {
        fprintf(stderr, "facet models: --dir needs a folder name\n");
        return 2;
    }
    sep = dir[strlen(dir) - 1] == '/' ? "" : "/";

    // Find the files.
    if (list_models(&names, &count, dir) != 0) {
        fprintf(stderr, "facet models: cannot read %s%s: %s\n", dir, sep,
                strerror(errno));
        return 1;
    }
    if (count == 0) {
        printf("no models in %s%s: run `make weights`\n", dir, sep);
        free(names);
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) > width)
            width = strlen(names[i]);

    // One line per model: open with every check and CRC, then describe.
    printf("%-*s  %-24s %7s %10s %11s  %-8s %-8s  %s\n", (int)width, "FILE",
           "MODEL", "TENSORS", "PARAMS", "SIZE", "CHECKSUM", "CRC",
           "LICENSE  SOURCE");
    for (size_t i = 0; i < count; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        wt_file *w = NULL;
        facet_status st;
        struct stat sb;

        if (!path) {
            fprintf(stderr, "facet models: out of memory\n");
            failed = 1;
            break;
        }
        snprintf(path, plen, "%s%s%s", dir, sep, names[i]);
        st = wt_open(&w, path, 0);
        printf("%-*s  ", (int)width, names[i]);
        if (st == FACET_OK) {
            const wt_info *info = wt_file_info(w);
            printf("%-24s %7zu %10llu ", info->name, info->tensor_count,
                   (unsigned long long)info->param_count);
            put_size(info->file_size);
            printf("  %-8s %08x  ", "ok", info->index_crc);
            put_text(info->license);
            printf("  ");
            put_text(info->source);
            printf("\n");
        } else {
            printf("%-24s %7s %10s ", "-", "-", "-");
            if (stat(path, &sb) == 0)
                put_size((uint64_t)sb.st_size);
            else
                printf("%11s", "-");
            printf("  error: %s: ", facet_status_str(st));
            put_text(facet_error());
            printf("\n");
            failed = 1;
        }
        wt_close(w);
        free(path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return failed;
}

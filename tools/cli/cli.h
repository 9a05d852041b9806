// cli.h - subcommands of the facet program. Each takes argc/argv starting
// at its own name and returns the process exit status.
#ifndef FACET_CLI_H
#define FACET_CLI_H

int cli_bench(int argc, char **argv);
int cli_models(int argc, char **argv);  // models.c
int cli_align(int argc, char **argv);   // align.c
int cli_characterize(int argc, char **argv);   // characterize.c

// ---------------------------------------------------------------------------
// Shared by the commands that walk photos (util.c)

#include <stddef.h>

// A growing list of file paths (owned strings).
typedef struct cli_paths {
    char **path;
    size_t count, cap;
} cli_paths;

// Append `arg` if it is a file, or the photos in folder `arg` (one level,
// by extension: jpg jpeg png bmp tga ppm pgm pnm, in name order). Prints
// "<prog>: <arg>: <reason>" and returns 0 when `arg` cannot be read.
int cli_collect_photos(cli_paths *l, const char *arg, const char *prog);
void cli_paths_free(cli_paths *l);

// mkdir -p; 0 on failure (errno set).
int cli_mkdirs(const char *path);

// The file name of `path` without folder and extension.
void cli_stem(char *out, size_t size, const char *path);

// A progress bar on stderr, drawn only when stderr is a terminal.
typedef struct cli_progress_state {
    int init, tty;
} cli_progress_state;
void cli_progress(cli_progress_state *p, size_t done, size_t total,
                  const char *what);

// The index of `s` in the NULL-terminated list `names`, -1 if absent (an
// option's word to its enum, whose values follow the list's order).
int cli_choice(const char *s, const char *const *names);
// --aligned's words, in face_aligned_mode order: auto, yes, no.
extern const char *const cli_aligned_words[];

// Whole string as an integer in [lo, hi] / a double in [lo, hi]; 0 if not.
int cli_parse_int(int *out, const char *s, long lo, long hi);
int cli_parse_double(double *out, const char *s, double lo, double hi);

// What the last option value parsed should have been ("an integer from 1
// to 256", "one of auto, yes, no"): cli_choice, cli_parse_int and
// cli_parse_double set it, cli_expect sets it for other parsers. For the
// "bad value" messages.
void cli_expect(const char *what);
const char *cli_expected(void);

// The weights folder: $FACET_WEIGHTS, else ./weights, else weights/ beside
// the program.
const char *cli_weights_dir(void);

// Parts of `facet bench` (tools/cli/bench_*.c). threads 0: run 1 and 2
// threads in turn; reps 0: the part's default.
typedef struct bench_opts {
    int threads;
    int reps;
} bench_opts;
// Median of v[0..n-1], n >= 1 (sorts v in place).
double bench_median(double *v, int n);

int bench_gemm(const bench_opts *o);  // bench_gemm.c
int bench_vgg(const bench_opts *o);   // bench_vgg.c
int bench_faceapi(const bench_opts *o);  // bench_faceapi.c
int bench_frontend(const bench_opts *o);  // bench_frontend.c

#endif

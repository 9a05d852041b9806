// facet.c - the facet command-line program: dispatches to subcommands.
#include <stdio.h>
#include <string.h>

#include "../../linalg/base.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"align", cli_align,
     "photos -> aligned crops, landmarks, part masks and overlays"},
    {"characterize", cli_characterize,
     "person's photos + others' photos -> characteristic parts, ranking"},
    {"bench", cli_bench,
     "measure kernels and networks (GEMM, VGG-16 conv, face-api nets)"},
    {"models", cli_models,
     "list installed models (weights/*.fct) and verify their checksums"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: facet COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'facet COMMAND --help' describes each command.\n");
}

// Run the command, then make sure what it printed reached stdout: a full
// disk or closed pipe is an error, not a success.
static int run(int (*fn)(int, char **), int argc, char **argv)
{
    int rc = fn ? fn(argc, argv) : 0;

    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("facet: writing standard output");
        return 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    // The library is silent unless asked: the program asks for warnings
    // (an unusable FACET_ISA, for one) on stderr.
    facet_log_set(NULL, NULL, FACET_LOG_WARN);

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return run(NULL, 0, NULL);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return run(commands[i].run, argc - 1, argv + 1);
    fprintf(stderr, "facet: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

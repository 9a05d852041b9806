// convert_io.h - what every converter does the same way: read an input file
// whole (a regular file, under a size cap), make names taken from a file safe
// to print, and report the outcome on the command line.
//
// Header-only (static functions) so that the tests which #include a
// converter's .c with its *_NO_MAIN define get these too, without a link
// dependency on another object.
//
// Limitations:
// - Inputs are read into memory, not mapped; the caps keep that bounded.
// - cv_safe hands out a few rotating static buffers: at most CV_SAFE_SLOTS
//   results may be in use at once, and it is not thread-safe (the
//   converters are single-threaded programs).
// - Bytes >= 0x80 are escaped too, so UTF-8 names print as \xNN runs.
#ifndef FACET_TOOLS_CONVERT_IO_H
#define FACET_TOOLS_CONVERT_IO_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../linalg/base.h"

#define CV_SAFE_SLOTS 4
#define CV_SAFE_MAX 256

// Read all of the regular file `path` into a buffer allocated with
// facet_alloc, with one NUL byte after its `*size` bytes (so text inputs
// can be scanned as strings); the caller frees it with facet_free.
// FACET_E_IO naming the file when it cannot be opened or read or is not a
// regular file (a folder, a pipe), FACET_E_FORMAT when it is empty,
// FACET_E_TOO_LARGE beyond `max` bytes.
static inline facet_status cv_read_file(uint8_t **out, size_t *size,
                                        const char *path, uint64_t max)
{
    struct stat st;
    uint8_t *buf;
    size_t len, got = 0;
    int fd;

    *out = NULL;
    *size = 0;
    if ((fd = open(path, O_RDONLY)) < 0)
        return facet_fail(FACET_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return facet_fail(FACET_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return facet_fail(FACET_E_FORMAT, "%s: empty file", path);
    }
    if ((uint64_t)st.st_size > max || (uint64_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return facet_fail(FACET_E_TOO_LARGE, "%s: %llu bytes, more than the "
                          "cap of %llu", path,
                          (unsigned long long)st.st_size,
                          (unsigned long long)max);
    }
    len = (size_t)st.st_size;
    if (!(buf = facet_alloc(len + 1))) {
        close(fd);
        return facet_fail(FACET_E_NOMEM, "%s: %zu bytes", path, len);
    }

    // Read until the size fstat gave (the file may shrink meanwhile).
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            facet_free(buf);
            close(fd);
            return facet_fail(FACET_E_IO, "%s: read failed after %zu of "
                              "%zu bytes", path, got, len);
        }
        got += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    *size = len;
    return FACET_OK;
}

// `s` (at most `n` bytes, stopping at a NUL) with every control character,
// DEL, backslash and byte >= 0x80 written as \xNN, cut to CV_SAFE_MAX
// characters with "..." appended; for names read from an input file, before
// they go into a message. Returns one of CV_SAFE_SLOTS rotating buffers.
static inline const char *cv_safe_n(const char *s, size_t n)
{
    static char slot[CV_SAFE_SLOTS][CV_SAFE_MAX + 8];
    static int next;
    char *o = slot[next];
    size_t i, k = 0;

    next = (next + 1) % CV_SAFE_SLOTS;
    if (!s)
        return "(null)";
    for (i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];

        if (k + 4 > CV_SAFE_MAX) {
            memcpy(o + k, "...", 3);
            k += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\\')
            k += (size_t)snprintf(o + k, 5, "\\x%02x", c);
        else
            o[k++] = (char)c;
    }
    o[k] = 0;
    return o;
}

static inline const char *cv_safe(const char *s)
{
    return cv_safe_n(s, SIZE_MAX);
}

// Print `prog: <the last error>` to stderr, the detail made safe to print
// (it may quote bytes of the input).
static inline void cv_report_error(const char *prog)
{
    const char *e = facet_error();
    size_t i;

    fprintf(stderr, "%s: ", prog);
    for (i = 0; e[i]; i++) {
        unsigned char c = (unsigned char)e[i];

        if (c < 0x20 || c == 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputc('\n', stderr);
}

// True when argv[1] asks for help (-h, --help).
static inline int cv_wants_help(int argc, char **argv)
{
    return argc >= 2 && (!strcmp(argv[1], "-h") ||
                         !strcmp(argv[1], "--help"));
}

#endif

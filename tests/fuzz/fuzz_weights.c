// fuzz_weights.c - libFuzzer target for the .fct reader: arbitrary bytes
// go through wt_open_memory, with and without the CRC checks (libFuzzer
// rarely forges a CRC-32, so the unchecked pass is what reaches the deep
// parsing paths). Whatever opens is then walked through the whole read
// API, touching every byte of every view, so that AddressSanitizer sees
// any view that points outside what the reader owns.
//
// Built with -DFUZZ_SEED_MAIN instead, the same file is a small program
// that writes the seed corpus with the writer: `gen_seeds DIR`.
// tests/fuzz/run_fuzz.sh builds both and runs the fuzzer.
//
// Limitations:
// - Covers the reader only; the writer is exercised by tests/test_weights.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../weights/weights.h"

#define REQUIRE(x)                                                        \
    do {                                                                  \
        if (!(x)) {                                                       \
            fprintf(stderr, "fuzz_weights: broken invariant: %s\n", #x);  \
            abort();                                                      \
        }                                                                 \
    } while (0)

static size_t value_bytes(const wt_meta *m)
{
    switch (m->type) {
    case WT_STRING: return m->count + 1;
    case WT_FLOAT32: return 4 * m->count;
    default: return 8 * m->count;
    }
}

// Read everything an opened file exposes and check the API's promises.
static void walk(const wt_file *w)
{
    const wt_info *info = wt_file_info(w);
    volatile unsigned char sink = 0;
    uint64_t params = 0;

    REQUIRE(strlen(info->name) > 0 && strlen(info->source) > 0 &&
            strlen(info->license) > 0);
    for (int c = 0; info->mean && c < info->channels; c++)
        sink ^= *(const unsigned char *)&info->mean[c];
    for (int c = 0; info->std && c < info->channels; c++)
        sink ^= *(const unsigned char *)&info->std[c];

    // Tensors: found by name, shape accepted by wt_tensor, aligned, and
    // every float readable.
    for (size_t i = 0; i < wt_tensor_count(w); i++) {
        const wt_tensor_info *t = wt_tensor_at(w, i);
        const unsigned char *p = (const unsigned char *)t->data;
        REQUIRE(wt_tensor_find(w, t->name) == t);
        REQUIRE(wt_tensor(w, t->name, t->ndim, t->dims) == t->data);
        REQUIRE(((uintptr_t)t->data % 64) == 0);
        for (size_t b = 0; b < t->count * sizeof(float); b++)
            sink ^= p[b];
        params += t->count;
    }
    REQUIRE(params == info->param_count);

    // Metadata: found by key, every value byte readable, strings as long
    // as recorded.
    for (size_t i = 0; i < wt_meta_count(w); i++) {
        const wt_meta *m = wt_meta_at(w, i);
        const unsigned char *p = m->value;
        REQUIRE(wt_meta_find(w, m->key) == m);
        REQUIRE(wt_meta_get(w, m->key, m->type, m->count) == m->value);
        if (m->type == WT_STRING)
            REQUIRE(strlen(m->value) == m->count);
        for (size_t b = 0; b < value_bytes(m); b++)
            sink ^= p[b];
    }
    REQUIRE(wt_tensor_find(w, "\x01 absent") == NULL);
    (void)wt_verify(w);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flags[2] = {0, WT_OPEN_NO_CRC};

    for (int k = 0; k < 2; k++) {
        wt_file *w = NULL;
        facet_status st = wt_open_memory(&w, data, size, "fuzz", flags[k]);
        REQUIRE((st == FACET_OK) == (w != NULL));
        REQUIRE(st == FACET_OK || strstr(facet_error(), "fuzz") != NULL);
        if (w)
            walk(w);
        wt_close(w);
    }
    return 0;
}

#ifdef FUZZ_SEED_MAIN
// Seeds: files that reach every part of the format (each dtype and
// metadata type, 0-d and 8-d tensors, no tensors, padding of every size).
static int seed(const char *dir, int k)
{
    char path[4096];
    float data[64];
    wt_writer *wr;
    const int64_t shape[3] = {3, 4, 4}, ints[2] = {-5, 1LL << 40};
    const double reals[2] = {0.5, -1e300};
    const float mean[3] = {1, 2, 3}, std[3] = {2, 2, 2};

    for (int i = 0; i < 64; i++)
        data[i] = (float)(i - 20) / 7.0f;
    data[3] = 1e-7f;
    data[5] = 70000.0f;
    snprintf(path, sizeof path, "%s/seed%d.fct", dir, k);
    wt_writer_create(&wr, path);
    wt_writer_meta_str(wr, "name", k ? "seed" : "s");
    wt_writer_meta_str(wr, "source", "tests/fuzz/fuzz_weights.c");
    wt_writer_meta_str(wr, "license", "CC0-1.0");
    if (k >= 1) {
        wt_writer_meta(wr, "input_shape", WT_INT64, 3, shape);
        wt_writer_meta_str(wr, "channel_order", k == 2 ? "BGR" : "RGB");
        wt_writer_meta(wr, "mean", WT_FLOAT32, 3, mean);
        wt_writer_meta(wr, "std", WT_FLOAT32, 3, std);
        wt_writer_meta(wr, "ints", WT_INT64, 2, ints);
        wt_writer_meta(wr, "reals", WT_FLOAT64, 2, reals);
        wt_writer_meta(wr, "anchors", WT_FLOAT32, 5, data);
        wt_writer_meta_str(wr, "note", "");
    }
    if (k == 1) {
        const int64_t d4[4] = {2, 2, 2, 3}, d1[1] = {7};
        wt_writer_tensor(wr, "conv/w", WT_F32, 4, d4, data);
        wt_writer_tensor(wr, "conv/b", WT_F16, 1, d1, data);
        wt_writer_tensor(wr, "s", WT_F32, 0, NULL, data);
    }
    if (k == 2) {
        const int64_t d8[8] = {1, 2, 1, 2, 1, 2, 1, 2}, d2[2] = {3, 5};
        wt_writer_tensor(wr, "deep", WT_F16, 8, d8, data);
        wt_writer_tensor(wr, "fc/weights", WT_F32, 2, d2, data);
        wt_writer_tensor(wr, "h", WT_F16, 0, NULL, data);
    }
    if (k == 3)
        for (int i = 0; i < 20; i++) {
            char name[32];
            const int64_t d1[1] = {1 + i % 5};
            snprintf(name, sizeof name, "layer%d/%s", i, i % 2 ? "w" : "b");
            wt_writer_tensor(wr, name, i % 3 ? WT_F32 : WT_F16, 1, d1, data);
        }
    if (wt_writer_finish(wr) != FACET_OK) {
        fprintf(stderr, "gen_seeds: %s\n", facet_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    for (int k = 0; k < 4; k++)
        bad |= seed(argv[1], k);
    return bad;
}
#endif

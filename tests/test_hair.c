// test_hair.c - the hair segmentation network end to end: the TFLite
// reader and converter (tools/convert/convert_tflite.c, included here with
// its main left out) and the network (nn/net_hair.c).
//
//   test_hair            reader, corrupt copies, converter, tampered
//                        graphs, parity with a TFLite-semantics reference,
//                        determinism, and hair IoU on the first 20 images
//                        of figaro and of celebahq
//   test_hair --full     the same with IoU over all 105 figaro images and
//                        the first 100 celebahq images (the figure)
//   test_hair --bench    per-image forward time with 1 and 2 threads
//
// Needs cache/hair_segmentation.tflite and hair_segmentation.fct under
// $FACET_WEIGHTS (default weights/; both from `make weights`); data from
// $FACET_DATA
// (default ../shared/data), skipped when absent.
//
// No TFLite runtime exists here, so the network is checked two ways:
// - against ref_run below, a direct and deliberately plain transcription
//   of the TFLite and MediaPipe op semantics (NHWC, OHWI weights read from
//   the .tflite buffers, window-relative argmax indices stored as floats,
//   MediaPipe's scatter loop for the transposed convolution), summing in
//   double; it shares only the FlatBuffer parser with the code under test;
// - by its purpose: mean hair IoU on Figaro-1K and CelebAMask-HQ images.
//
// IoU protocol: the photo is decoded with stb_image and resized to 512x512
// with stb_image_resize's default filter (stretched, aspect ignored); the
// fourth channel is zero; p(hair) (softmax channel 1) is averaged over 2x2
// blocks to 256x256 and thresholded at > 0.5; the mask is read as grey,
// scaled to [0, 1], resized to 256x256 with stb's box filter (area
// average) and thresholded at > 0.5. IoU = |P & M| / |P | M| per image
// (1 when both are empty), averaged over the images.
//
// This file holds the stb_image and stb_image_resize implementations
// (STB_IMAGE_IMPLEMENTATION, STB_IMAGE_RESIZE_IMPLEMENTATION).
#define CONVERT_TFLITE_NO_MAIN
#include "../tools/convert/convert_tflite.c"

#include <dirent.h>
#include <unistd.h>

#include "check.h"
#include "../nn/net_hair.h"

#include "stb_impl.h"

// Set in main from $FACET_WEIGHTS (default "weights", relative to the
// current folder).
static char tflite_path[1024];
static char fct_path[1024];
#define S NN_HAIR_SIZE

// ---------------------------------------------------------------------------
// Helpers

// A temporary file name (the file is created empty, then reused by path).
static void tmp_path(char *buf, size_t n, const char *tag)
{
    int fd;

    snprintf(buf, n, "/tmp/facet_test_hair_%s_XXXXXX", tag);
    fd = mkstemp(buf);
    FACET_ASSERT(fd >= 0);
    close(fd);
}

static int tensor_by_name(const tfl_model *m, const char *name)
{
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return i;
    return -1;
}

// Element i of a constant tensor (buffers may be unaligned).
static float tfl_at(const tfl_model *m, int id, size_t i)
{
    float v;

    memcpy(&v, m->buffers[m->tensors[id].buffer].data + 4 * i, 4);
    return v;
}

// A smooth deterministic test input (n x 4 x 512 x 512): colour waves
// plus noise, and a previous-mask channel that is zero on the left half.
static void synthetic_input(float *x, int n, uint64_t seed)
{
    facet_rng r;
    size_t plane = (size_t)S * S;

    facet_rng_seed(&r, seed);
    for (int b = 0; b < n; b++)
        for (int c = 0; c < 4; c++)
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++) {
                    float v = 0.5f + 0.35f * sinf(0.021f * (c + 1) * xx +
                                                  0.013f * y * (b + 1) + c) +
                              0.1f * facet_rng_float(&r);

                    if (c == 3)
                        v = xx < S / 2 ? 0.0f : v - 0.2f;
                    x[((size_t)b * 4 + c) * plane + (size_t)y * S + xx] = v;
                }
}

// ---------------------------------------------------------------------------
// Reader on the real file

static void test_reader(const uint8_t *buf, size_t n)
{
    tfl_model m;
    int counts[8] = { 0 }, id;
    FILE *devnull;

    CHECK(tfl_parse(&m, buf, n, tflite_path) == FACET_OK);
    if (m.ntensors == 0)
        return;

    // Sizes of the tables (from the file's own tables, as a TFLite dump
    // lists them).
    CHECK(m.version == 3);
    CHECK(m.ntensors == 609);
    CHECK(m.nops == 259);
    CHECK(m.nbuffers == 349);
    CHECK(m.nin == 1 && m.nout == 1);

    // Op census: the network's op kinds and nothing else.
    for (int i = 0; i < m.nops; i++) {
        const tfl_op *op = &m.ops[i];
        const char *cn = op->custom ? op->custom : "";

        if (op->code == TFL_OP_CONV_2D)
            counts[0]++;
        else if (op->code == TFL_OP_DEPTHWISE_CONV_2D)
            counts[1]++;
        else if (op->code == TFL_OP_PRELU)
            counts[2]++;
        else if (op->code == TFL_OP_ADD)
            counts[3]++;
        else if (op->code == TFL_OP_CONCATENATION)
            counts[4]++;
        else if (!strcmp(cn, "MaxPoolingWithArgmax2D"))
            counts[5]++;
        else if (!strcmp(cn, "MaxUnpooling2D"))
            counts[6]++;
        else if (!strcmp(cn, "Convolution2DTransposeBias"))
            counts[7]++;
    }
    CHECK(counts[0] == 90 && counts[1] == 28 && counts[2] == 100);
    CHECK(counts[3] == 28 && counts[4] == 2);
    CHECK(counts[5] == 3 && counts[6] == 3 && counts[7] == 5);

    // Input, output and a few weights by name.
    id = m.in[0];
    CHECK(strcmp(m.tensors[id].name, "input_1") == 0);
    CHECK(m.tensors[id].rank == 4 && m.tensors[id].shape[1] == 512 &&
          m.tensors[id].shape[2] == 512 && m.tensors[id].shape[3] == 4);
    id = m.out[0];
    CHECK(strcmp(m.tensors[id].name, "conv2d_transpose_4") == 0);
    CHECK(m.tensors[id].shape[1] == 512 && m.tensors[id].shape[3] == 2);
    id = tensor_by_name(&m, "conv2d_transpose_4/Kernel");
    CHECK(id >= 0 && m.tensors[id].rank == 4 && m.tensors[id].shape[0] == 2 &&
          m.tensors[id].shape[1] == 2 && m.tensors[id].shape[2] == 2 &&
          m.tensors[id].shape[3] == 8);
    CHECK(id >= 0 && m.buffers[m.tensors[id].buffer].size == 2 * 2 * 2 * 8 * 4);
    id = tensor_by_name(&m, "depthwise_conv2d_20/Kernel");
    CHECK(id >= 0 && m.tensors[id].shape[1] == 5 &&
          m.tensors[id].shape[3] == 8);

    // Builtin options: op 0 is a 2x2 stride-2 VALID convolution; op 111 a
    // 3x3 convolution with dilation 2, SAME.
    CHECK(m.ops[0].code == TFL_OP_CONV_2D && m.ops[0].stride_h == 2 &&
          m.ops[0].stride_w == 2 && m.ops[0].padding == TFL_PAD_VALID);
    CHECK(m.ops[111].code == TFL_OP_CONV_2D && m.ops[111].dil_h == 2 &&
          m.ops[111].padding == TFL_PAD_SAME);
    CHECK(m.ops[213].code == TFL_OP_CONCATENATION && m.ops[213].axis == -1);

    // Custom options are raw structs: pool (same, stride 2, filter 2) and
    // transposed convolution (same, stride 2).
    CHECK(m.ops[12].custom_len == 32 && m.ops[12].custom_opts[0] == 1 &&
          m.ops[12].custom_opts[4] == 2 && m.ops[12].custom_opts[12] == 2);
    CHECK(m.ops[206].custom_len == 12 && m.ops[206].custom_opts[0] == 1 &&
          m.ops[206].custom_opts[8] == 2);

    devnull = fopen("/dev/null", "w");
    if (devnull) {
        tfl_dump(devnull, &m);
        fclose(devnull);
    }
    tfl_free(&m);
    tfl_free(NULL);
}

// ---------------------------------------------------------------------------
// Corrupt copies: every one must give an error or a valid parse, never a
// crash (the sanitizer build catches stray reads), and named faults must
// give their status and a message naming the file.

static facet_status parse_copy(const uint8_t *p, size_t n, tfl_model *m)
{
    uint8_t *copy = malloc(n ? n : 1);
    facet_status s;

    // An exact-size heap copy, so that reading past the end is caught.
    FACET_ASSERT(copy);
    memcpy(copy, p, n);
    s = tfl_parse(m, copy, n, "corrupt.tflite");
    if (s == FACET_OK)
        tfl_free(m);
    free(copy);
    return s;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void test_corrupt(const uint8_t *buf, size_t n)
{
    const size_t cuts[] = { 0, 4, 7, 8, 40, 4096, 100000 };
    uint8_t *c = malloc(n);
    tfl_model m;
    facet_status s;
    facet_rng r;
    uint32_t root;
    int ok = 0, failed = 0, bad_msg = 0;

    FACET_ASSERT(c);

    // Truncated: a prefix of any of these sizes misses tables or data.
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        s = parse_copy(buf, cuts[i], &m);
        CHECKF(s == FACET_E_FORMAT || s == FACET_E_CORRUPT,
               "cut at %zu: status %d", cuts[i], (int)s);
        CHECKF(strstr(facet_error(), "corrupt.tflite") != NULL,
               "message names the file: %s", facet_error());
    }
    s = parse_copy(buf, n / 2, &m);
    CHECK(s == FACET_E_CORRUPT);
    CHECK(strstr(facet_error(), "outside the file") != NULL);

    // Not a TFLite file.
    memcpy(c, buf, n);
    memcpy(c + 4, "TFL2", 4);
    CHECK(parse_copy(c, n, &m) == FACET_E_FORMAT);
    CHECK(strstr(facet_error(), "TFL3") != NULL);

    // Root offset past the end, and one into the middle of nowhere.
    memcpy(c, buf, n);
    put_u32(c, (uint32_t)n + 100);
    CHECK(parse_copy(c, n, &m) == FACET_E_CORRUPT);
    put_u32(c, (uint32_t)n - 2);
    CHECK(parse_copy(c, n, &m) == FACET_E_CORRUPT);

    // The root table's vtable offset pointing outside the file.
    memcpy(c, buf, n);
    root = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
           (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
    put_u32(c + root, 0x80000000u);
    s = parse_copy(c, n, &m);
    CHECK(s == FACET_E_CORRUPT && strstr(facet_error(), "vtable"));

    // The schema version.
    memcpy(c, buf, n);
    {
        fb f = { c, n, "x" };
        fb_table t;
        size_t pos;

        if (fb_table_at(&t, &f, root, "Model") == FACET_OK &&
            fb_field(&pos, &f, &t, 0, 4, "Model.version") == FACET_OK &&
            pos) {
            put_u32(c + pos, 4);
            CHECK(parse_copy(c, n, &m) == FACET_E_VERSION);
        } else {
            CHECKF(0, "no Model.version field found");
        }
    }

    // Random damage in the first 64 KiB (where the tables and vectors
    // of this file sit; the weights follow): 1 to 4 bytes set to random
    // values, 400 times, plus parsed mutants converted (the converter's
    // own checks must hold too).
    facet_rng_seed(&r, 2024);
    for (int it = 0; it < 400; it++) {
        size_t span = n < 65536 ? n : 65536;
        int k = 1 + (int)facet_rng_below(&r, 4);

        memcpy(c, buf, n);
        for (int j = 0; j < k; j++)
            c[facet_rng_below(&r, (uint32_t)span)] =
                (uint8_t)facet_rng_below(&r, 256);
        s = tfl_parse(&m, c, n, "mutant.tflite");
        if (s != FACET_OK) {
            failed++;
            if (!strstr(facet_error(), "mutant.tflite"))
                bad_msg++;
            continue;
        }
        ok++;
        if (ok <= 12) {
            char out[64];

            tmp_path(out, sizeof(out), "mutant");
            s = tfl_convert_hair(&m, out);
            if (s != FACET_OK && !strstr(facet_error(), "mutant.tflite") &&
                !strstr(facet_error(), out))
                bad_msg++;
            remove(out);
        }
        tfl_free(&m);
    }
    CHECKF(bad_msg == 0, "%d errors did not name the file", bad_msg);
    CHECKF(failed > 0 && ok + failed == 400, "mutants: %d parsed, %d failed",
           ok, failed);
    free(c);
}

// ---------------------------------------------------------------------------
// Converter: layouts of each weight kind, metadata, and the network's
// checks on tampered graphs.

// Copy `src` to `dst` with the graph text replaced (NULL: unchanged) and
// tensor `drop` left out (NULL: none).
static facet_status rewrite_fct(const wt_file *src, const char *dst,
                                const char *graph, const char *drop)
{
    wt_writer *wr;
    facet_status s;

    if ((s = wt_writer_create(&wr, dst)) != FACET_OK)
        return s;
    for (size_t i = 0; i < wt_meta_count(src) && s == FACET_OK; i++) {
        const wt_meta *e = wt_meta_at(src, i);

        if (e->type == WT_STRING)
            s = wt_writer_meta_str(wr, e->key,
                                   graph && !strcmp(e->key, "hair.graph")
                                       ? graph : (const char *)e->value);
        else
            s = wt_writer_meta(wr, e->key, e->type, e->count, e->value);
    }
    for (size_t i = 0; i < wt_tensor_count(src) && s == FACET_OK; i++) {
        const wt_tensor_info *t = wt_tensor_at(src, i);

        if (drop && !strcmp(t->name, drop))
            continue;
        s = wt_writer_tensor(wr, t->name, WT_F32, t->ndim, t->dims, t->data);
    }
    if (s != FACET_OK) {
        wt_writer_free(wr);
        return s;
    }
    return wt_writer_finish(wr);
}

// Replace the first occurrence of `from` in `text` by `to` (new string).
static char *replace_once(const char *src, const char *from, const char *to)
{
    const char *at = strstr(src, from);
    size_t n = strlen(src) + strlen(to) + 1;
    char *r = malloc(n);

    FACET_ASSERT(at && r);
    memcpy(r, src, (size_t)(at - src));
    strcpy(r + (at - src), to);
    strcat(r, at + strlen(from));
    return r;
}

// Create the network from a tampered copy; returns the status.
static facet_status tampered(const wt_file *w, const char *from,
                             const char *to, const char *drop)
{
    char path[64];
    char *graph = from ? replace_once(wt_meta_str(w, "hair.graph"), from, to)
                       : NULL;
    wt_file *t = NULL;
    nn_hair *h = NULL;
    facet_status s;

    tmp_path(path, sizeof(path), "tamper");
    s = rewrite_fct(w, path, graph, drop);
    CHECKF(s == FACET_OK, "rewrite: %s", facet_error());
    if (s == FACET_OK && (s = wt_open(&t, path, 0)) == FACET_OK)
        s = nn_hair_create(&h, t, 1, NULL, 0);
    nn_hair_free(h);
    wt_close(t);
    remove(path);
    free(graph);
    return s;
}

static void test_convert(const uint8_t *buf, size_t n)
{
    char path[64];
    tfl_model m;
    wt_file *w = NULL;
    const wt_tensor_info *t;
    int id, bad = 0;

    if (tfl_parse(&m, buf, n, tflite_path) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return;
    }
    tmp_path(path, sizeof(path), "conv");
    CHECKF(tfl_convert_hair(&m, path) == FACET_OK, "%s", facet_error());
    CHECKF(wt_open(&w, path, 0) == FACET_OK, "%s", facet_error());
    if (!w)
        goto done;

    // Metadata.
    CHECK(strcmp(wt_meta_str(w, "name"), "hair_segmentation") == 0);
    CHECK(strcmp(wt_meta_str(w, "license"), "Apache-2.0") == 0);
    CHECK(strcmp(wt_meta_str(w, "hair.input"), "input_1") == 0);
    CHECK(strcmp(wt_meta_str(w, "hair.output"), "conv2d_transpose_4") == 0);
    CHECK(wt_file_info(w)->channels == 4 && wt_file_info(w)->height == 512);

    // Convolution OHWI [32 2 2 8] -> OIHW [32 8 2 2].
    id = tensor_by_name(&m, "conv2d_1/Kernel");
    t = wt_tensor_find(w, "conv2d_1.weight");
    CHECK(t && t->ndim == 4 && t->dims[0] == 32 && t->dims[1] == 8 &&
          t->dims[2] == 2 && t->dims[3] == 2);
    for (int o = 0; t && o < 32; o++)
        for (int i = 0; i < 8; i++)
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 2; x++)
                    bad += t->data[((o * 8 + i) * 2 + y) * 2 + x] !=
                           tfl_at(&m, id, ((o * 2 + y) * 2 + x) * 8 + i);

    // Depthwise 1HWC [1 5 5 8] -> C1HW [8 1 5 5].
    id = tensor_by_name(&m, "depthwise_conv2d_20/Kernel");
    t = wt_tensor_find(w, "depthwise_conv2d_20.weight");
    CHECK(t && t->ndim == 4 && t->dims[0] == 8 && t->dims[1] == 1 &&
          t->dims[2] == 5 && t->dims[3] == 5);
    for (int c = 0; t && c < 8; c++)
        for (int k = 0; k < 25; k++)
            bad += t->data[c * 25 + k] != tfl_at(&m, id, (size_t)k * 8 + c);

    // Transposed convolution OHWI [8 3 3 8] -> IOHW [8 8 3 3]; the two
    // channel counts are equal here, so check an asymmetric one too:
    // conv2d_transpose_3 OHWI [8 2 2 32] -> IOHW [32 8 2 2].
    id = tensor_by_name(&m, "conv2d_transpose_3/Kernel");
    t = wt_tensor_find(w, "conv2d_transpose_3.weight");
    CHECK(t && t->ndim == 4 && t->dims[0] == 32 && t->dims[1] == 8 &&
          t->dims[2] == 2 && t->dims[3] == 2);
    for (int i = 0; t && i < 32; i++)
        for (int o = 0; o < 8; o++)
            for (int k = 0; k < 4; k++)
                bad += t->data[(i * 8 + o) * 4 + k] !=
                       tfl_at(&m, id, ((size_t)o * 4 + k) * 32 + i);
    id = tensor_by_name(&m, "conv2d_transpose/Kernel");
    t = wt_tensor_find(w, "conv2d_transpose.weight");
    for (int i = 0; t && i < 8; i++)
        for (int o = 0; o < 8; o++)
            for (int k = 0; k < 9; k++)
                bad += t->data[(i * 8 + o) * 9 + k] !=
                       tfl_at(&m, id, ((size_t)o * 9 + k) * 8 + i);

    // PReLU alpha [1 1 C] -> [C].
    id = tensor_by_name(&m, "p_re_lu_83/Alpha");
    t = wt_tensor_find(w, "p_re_lu_83.alpha");
    CHECK(t && t->ndim == 1 && t->dims[0] == 128);
    for (int c = 0; t && c < 128; c++)
        bad += t->data[c] != tfl_at(&m, id, (size_t)c);
    CHECKF(bad == 0, "%d weights moved wrongly", bad);

    // The network rejects tampered graphs with a clear status.
    CHECK(tampered(w, NULL, NULL, NULL) == FACET_OK);
    CHECK(tampered(w, "conv conv2d ", "convx conv2d ", NULL) ==
          FACET_E_FORMAT);
    CHECK(tampered(w, "shape=8,256,256", "shape=8,256,255", NULL) ==
          FACET_E_FORMAT);
    CHECK(tampered(w, "conv2d_1 p_re_lu ", "conv2d_1 p_re_lu_x ", NULL) ==
          FACET_E_FORMAT);
    CHECK(tampered(w, "stride=2,2 dil", "stride=2,2 dil=1,1 bogus=1 dil",
                   NULL) == FACET_E_FORMAT);
    CHECK(tampered(w, "k=2,2 stride=2,2 shape=128", "k=2,2 stride=1,1 "
                   "shape=128", NULL) == FACET_E_UNSUPPORTED);
    CHECK(tampered(w, NULL, NULL, "conv2d_7.bias") == FACET_E_NOT_FOUND);
    CHECK(strstr(facet_error(), "conv2d_7.bias") != NULL);

done:
    wt_close(w);
    remove(path);
    tfl_free(&m);
}

// ---------------------------------------------------------------------------
// The reference: TFLite / MediaPipe semantics, NHWC, batch 1, summing in
// double; every tensor stored as float32 as TFLite stores it.

typedef struct ref {
    const tfl_model *m;
    float **v;        // per tensor id: activation (H x W x C) or NULL
} ref;

static float *ref_const(const tfl_model *m, int id)
{
    size_t bytes = m->buffers[m->tensors[id].buffer].size;
    float *p = malloc(bytes ? bytes : 4);

    FACET_ASSERT(p);
    memcpy(p, m->buffers[m->tensors[id].buffer].data, bytes);
    return p;
}

static float *ref_new(const tfl_model *m, int id)
{
    const tfl_tensor *t = &m->tensors[id];
    float *p = malloc((size_t)t->shape[1] * t->shape[2] * t->shape[3] * 4);

    FACET_ASSERT(p);
    return p;
}

// TFLite's padding for windowed ops: max(((out-1)*s + (k-1)*d + 1 - in)
// / 2, 0), the smaller half first.
static int tfl_pad(int in, int out, int k, int s, int d)
{
    int total = (out - 1) * s + (k - 1) * d + 1 - in;

    return total > 0 ? total / 2 : 0;
}

static float ref_act(double v, int act)
{
    if (act == TFL_ACT_RELU)
        return v > 0 ? (float)v : 0.0f;
    if (act == TFL_ACT_RELU6)
        return v > 0 ? (v < 6 ? (float)v : 6.0f) : 0.0f;
    return (float)v;
}

static void ref_conv(ref *r, const tfl_op *op, int depthwise)
{
    const tfl_model *m = r->m;
    const tfl_tensor *ti = &m->tensors[op->in[0]];
    const tfl_tensor *to = &m->tensors[op->out[0]];
    const tfl_tensor *tw = &m->tensors[op->in[1]];
    int H = ti->shape[1], W = ti->shape[2], C = ti->shape[3];
    int OH = to->shape[1], OW = to->shape[2], O = to->shape[3];
    int KH = tw->shape[1], KW = tw->shape[2];
    int pt = tfl_pad(H, OH, KH, op->stride_h, op->dil_h);
    int pl = tfl_pad(W, OW, KW, op->stride_w, op->dil_w);
    float *wt = ref_const(m, op->in[1]), *b = ref_const(m, op->in[2]);
    const float *in = r->v[op->in[0]];
    float *out = ref_new(m, op->out[0]);
    int dm = depthwise ? O / C : 1;

    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++)
            for (int o = 0; o < O; o++) {
                double acc = b[o];

                for (int ky = 0; ky < KH; ky++) {
                    int iy = y * op->stride_h - pt + ky * op->dil_h;

                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < KW; kx++) {
                        int ix = x * op->stride_w - pl + kx * op->dil_w;
                        const float *px = in + ((size_t)iy * W + ix) * C;

                        if (ix < 0 || ix >= W)
                            continue;
                        if (depthwise) {
                            acc += (double)px[o / dm] *
                                   wt[((size_t)ky * KW + kx) * O + o];
                            continue;
                        }
                        for (int i = 0; i < C; i++)
                            acc += (double)px[i] *
                                   wt[(((size_t)o * KH + ky) * KW + kx) * C +
                                      i];
                    }
                }
                out[((size_t)y * OW + x) * O + o] = ref_act(acc, op->act);
            }
    r->v[op->out[0]] = out;
    free(wt);
    free(b);
}

// MediaPipe MaxPoolingWithArgmax2D: indices are window-relative,
// max_y * filter_w + max_x, stored as float with + 0.1.
static void ref_pool(ref *r, const tfl_op *op, const int *o)
{
    const tfl_model *m = r->m;
    const tfl_tensor *ti = &m->tensors[op->in[0]];
    const tfl_tensor *to = &m->tensors[op->out[0]];
    int H = ti->shape[1], W = ti->shape[2], C = ti->shape[3];
    int OH = to->shape[1], OW = to->shape[2];
    int sw = o[1], sh = o[2], fw = o[3], fh = o[4];
    int pt = tfl_pad(H, OH, fh, sh, 1), pl = tfl_pad(W, OW, fw, sw, 1);
    const float *in = r->v[op->in[0]];
    float *out = ref_new(m, op->out[0]), *idx = ref_new(m, op->out[1]);

    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++)
            for (int c = 0; c < C; c++) {
                float best = -INFINITY;
                int by = 0, bx = 0;

                for (int ky = 0; ky < fh; ky++)
                    for (int kx = 0; kx < fw; kx++) {
                        int iy = y * sh - pt + ky, ix = x * sw - pl + kx;
                        float v;

                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            continue;
                        v = in[((size_t)iy * W + ix) * C + c];
                        if (v > best) {
                            best = v;
                            by = ky;
                            bx = kx;
                        }
                    }
                out[((size_t)y * OW + x) * C + c] = best;
                idx[((size_t)y * OW + x) * C + c] = by * fw + bx + 0.1f;
            }
    r->v[op->out[0]] = out;
    r->v[op->out[1]] = idx;
}

// MediaPipe MaxUnpooling2D: decode the window-relative index with the
// unpool's own window and padding.
static void ref_unpool(ref *r, const tfl_op *op, const int *o)
{
    const tfl_model *m = r->m;
    const tfl_tensor *ti = &m->tensors[op->in[0]];
    const tfl_tensor *to = &m->tensors[op->out[0]];
    int H = ti->shape[1], W = ti->shape[2], C = ti->shape[3];
    int OH = to->shape[1], OW = to->shape[2];
    int sw = o[1], sh = o[2], fw = o[3], fh = o[4];
    int pt = tfl_pad(OH, H, fh, sh, 1), pl = tfl_pad(OW, W, fw, sw, 1);
    const float *in = r->v[op->in[0]], *idx = r->v[op->in[1]];
    float *out = ref_new(m, op->out[0]);

    memset(out, 0, (size_t)OH * OW * C * 4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                size_t at = ((size_t)y * W + x) * C + c;
                int k = (int)idx[at];
                int oy = y * sh - pt + k / fw, ox = x * sw - pl + k % fw;

                if (oy >= 0 && oy < OH && ox >= 0 && ox < OW)
                    out[((size_t)oy * OW + ox) * C + c] = in[at];
            }
    r->v[op->out[0]] = out;
}

// MediaPipe Convolution2DTransposeBias: bias, then scatter each input
// pixel through the OHWI kernel; SAME crops total/2 at the start.
static void ref_deconv(ref *r, const tfl_op *op, const int *o)
{
    const tfl_model *m = r->m;
    const tfl_tensor *ti = &m->tensors[op->in[0]];
    const tfl_tensor *to = &m->tensors[op->out[0]];
    const tfl_tensor *tw = &m->tensors[op->in[1]];
    int H = ti->shape[1], W = ti->shape[2], C = ti->shape[3];
    int OH = to->shape[1], OW = to->shape[2], O = to->shape[3];
    int KH = tw->shape[1], KW = tw->shape[2], sw = o[1], sh = o[2];
    int th = o[0] == 1 ? KH - (H - 1) % sh - 1 : 0;
    int tw_ = o[0] == 1 ? KW - (W - 1) % sw - 1 : 0;
    int pt = (th > 0 ? th : 0) / 2, pl = (tw_ > 0 ? tw_ : 0) / 2;
    float *wt = ref_const(m, op->in[1]), *b = ref_const(m, op->in[2]);
    const float *in = r->v[op->in[0]];
    double *acc = malloc((size_t)OH * OW * O * sizeof(double));
    float *out = ref_new(m, op->out[0]);

    FACET_ASSERT(acc);
    for (size_t p = 0; p < (size_t)OH * OW; p++)
        for (int k = 0; k < O; k++)
            acc[p * O + k] = b[k];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int i = 0; i < C; i++)
                for (int ky = 0; ky < KH; ky++)
                    for (int kx = 0; kx < KW; kx++) {
                        int oy = y * sh - pt + ky, ox = x * sw - pl + kx;

                        if (oy < 0 || oy >= OH || ox < 0 || ox >= OW)
                            continue;
                        for (int k = 0; k < O; k++)
                            acc[((size_t)oy * OW + ox) * O + k] +=
                                (double)in[((size_t)y * W + x) * C + i] *
                                wt[(((size_t)k * KH + ky) * KW + kx) * C + i];
                    }
    for (size_t p = 0; p < (size_t)OH * OW * O; p++)
        out[p] = (float)acc[p];
    free(acc);
    r->v[op->out[0]] = out;
    free(wt);
    free(b);
}

static void ref_elementwise(ref *r, const tfl_op *op)
{
    const tfl_model *m = r->m;
    const tfl_tensor *to = &m->tensors[op->out[0]];
    size_t px = (size_t)to->shape[1] * to->shape[2];
    int O = to->shape[3];
    float *out = ref_new(m, op->out[0]);

    if (op->code == TFL_OP_ADD) {
        for (size_t i = 0; i < px * O; i++)
            out[i] = (float)((double)r->v[op->in[0]][i] +
                             r->v[op->in[1]][i]);
    } else if (op->code == TFL_OP_PRELU) {
        float *alpha = ref_const(m, op->in[1]);

        for (size_t i = 0; i < px * O; i++) {
            float v = r->v[op->in[0]][i];

            out[i] = v >= 0 ? v : v * alpha[i % O];
        }
        free(alpha);
    } else {
        // Concatenation along channels, inputs in order.
        int c0 = 0;

        for (int k = 0; k < op->nin; k++) {
            int ck = m->tensors[op->in[k]].shape[3];

            for (size_t p = 0; p < px; p++)
                memcpy(out + p * O + c0, r->v[op->in[k]] + p * ck, ck * 4);
            c0 += ck;
        }
    }
    r->v[op->out[0]] = out;
}

// Run the model on one NHWC input; the tensors named in `keep` (and the
// output) stay in r->v, the rest are freed after their last use.
static void ref_run(ref *r, const tfl_model *m, const float *input_nhwc,
                    const char *const *keep, int nkeep)
{
    int *last = malloc((size_t)m->ntensors * sizeof(int));
    size_t in_count = (size_t)S * S * 4;

    FACET_ASSERT(last);
    r->m = m;
    r->v = calloc((size_t)m->ntensors, sizeof(float *));
    FACET_ASSERT(r->v);
    for (int i = 0; i < m->ntensors; i++)
        last[i] = -1;
    for (int i = 0; i < m->nops; i++)
        for (int k = 0; k < m->ops[i].nin; k++)
            if (m->ops[i].in[k] >= 0)
                last[m->ops[i].in[k]] = i;
    last[m->out[0]] = m->nops;
    for (int k = 0; k < nkeep; k++)
        last[tensor_by_name(m, keep[k])] = m->nops;

    r->v[m->in[0]] = malloc(in_count * 4);
    FACET_ASSERT(r->v[m->in[0]]);
    memcpy(r->v[m->in[0]], input_nhwc, in_count * 4);
    for (int i = 0; i < m->nops; i++) {
        const tfl_op *op = &m->ops[i];
        int o[6] = { 0 };

        for (size_t k = 0; k < 6 && 4 * k + 4 <= op->custom_len; k++)
            memcpy(&o[k], op->custom_opts + 4 * k, 4);
        if (op->code == TFL_OP_CONV_2D)
            ref_conv(r, op, 0);
        else if (op->code == TFL_OP_DEPTHWISE_CONV_2D)
            ref_conv(r, op, 1);
        else if (op->code != TFL_OP_CUSTOM)
            ref_elementwise(r, op);
        else if (!strcmp(op->custom, "MaxPoolingWithArgmax2D"))
            ref_pool(r, op, o);
        else if (!strcmp(op->custom, "MaxUnpooling2D"))
            ref_unpool(r, op, o);
        else
            ref_deconv(r, op, o);

        // Free what no later op reads.
        for (int k = 0; k < op->nin; k++) {
            int id = op->in[k];

            if (id >= 0 && last[id] == i && r->v[id]) {
                free(r->v[id]);
                r->v[id] = NULL;
            }
        }
    }
    free(last);
}

static void ref_free(ref *r)
{
    for (int i = 0; r->v && i < r->m->ntensors; i++)
        free(r->v[i]);
    free(r->v);
}

// Largest |a - b| of an NCHW facet map against an NHWC reference map,
// and the largest |b|.
static void compare_map(double *maxdiff, double *maxref, const nn_tensor *a,
                        const float *b)
{
    int C = a->dim[1], H = a->dim[2], W = a->dim[3];

    *maxdiff = 0;
    *maxref = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double va = a->data[((size_t)c * H + y) * W + x];
                double vb = b[((size_t)y * W + x) * C + c];

                if (!(fabs(va - vb) <= *maxdiff))
                    *maxdiff = fabs(va - vb);
                if (fabs(vb) > *maxref)
                    *maxref = fabs(vb);
            }
}

// ---------------------------------------------------------------------------
// The network against the reference, across ISAs, thread counts, batch.

static void test_network(const uint8_t *buf, size_t n, wt_file *w)
{
    static const char *const keep[] = { "p_re_lu_1", "p_re_lu_80",
                                        "concatenate", "p_re_lu_99" };
    const int nkeep = 4;
    size_t plane = (size_t)S * S;
    float *x = malloc(2 * 4 * plane * 4), *nhwc = malloc(4 * plane * 4);
    float *p1 = malloc(2 * plane * 4), *p2 = malloc(2 * plane * 4);
    float *logits1 = malloc(2 * plane * 4);
    nn_hair *h = NULL, *h2 = NULL;
    nn_tensor in1, in2;
    facet_isa isas[FACET_ISA_COUNT];
    int nisa = check_isas(isas);
    tfl_model m;
    ref r;

    FACET_ASSERT(x && nhwc && p1 && p2 && logits1);
    if (tfl_parse(&m, buf, n, tflite_path) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return;
    }

    // Bad arguments and unknown names.
    CHECK(nn_hair_create(&h, w, 0, NULL, 0) == FACET_E_ARG);
    {
        const char *bad[] = { "no_such_map" };

        CHECK(nn_hair_create(&h, w, 1, bad, 1) == FACET_E_NOT_FOUND);
        CHECK(strstr(facet_error(), "no_such_map") != NULL);
    }
    CHECKF(nn_hair_create(&h, w, 2, keep, nkeep) == FACET_OK, "%s",
           facet_error());
    if (!h)
        goto done;
    CHECK(nn_hair_value_count(h) > 250);
    CHECK(strcmp(nn_hair_value_name(h, 0), "input_1") == 0);
    CHECK(nn_hair_feature(h, "p_re_lu_80") == NULL);   // no forward yet

    // The reference on image 0 of a synthetic batch.
    synthetic_input(x, 2, 7);
    for (int c = 0; c < 4; c++)
        for (size_t p = 0; p < plane; p++)
            nhwc[p * 4 + c] = x[c * plane + p];
    ref_run(&r, &m, nhwc, keep, nkeep);

    // Each ISA path against the reference. Tolerance: the network sums
    // in float in a different order through ~40 layers in series; logits
    // reach |l| ~ 20 and measured differences are ~1e-4 of that; 1e-3
    // relative leaves room and still catches any layout or padding slip,
    // which moves logits by O(1).
    in1 = nn_tensor_4d(x, 1, 4, S, S);
    for (int k = 0; k < nisa; k++) {
        double d, mx;
        const nn_tensor *t;

        facet_isa_force(isas[k]);
        check_fill_nan(p1, plane);
        CHECK(nn_hair_forward(h, p1, &in1) == FACET_OK);
        t = nn_hair_feature(h, "conv2d_transpose_4");
        CHECK(t && t->dim[0] == 1 && t->dim[1] == 2 && t->dim[2] == S);
        if (!t)
            continue;
        compare_map(&d, &mx, t, r.v[m.out[0]]);
        printf("isa %s: logits max |diff| %.3g (max |logit| %.3g)\n",
               facet_isa_name(isas[k]), d, mx);
        CHECKF(d <= 1e-3 * mx, "isa %d: logits differ by %g of %g",
               (int)isas[k], d, mx);
        for (int j = 0; j < nkeep; j++) {
            const nn_tensor *f = nn_hair_feature(h, keep[j]);

            compare_map(&d, &mx, f, r.v[tensor_by_name(&m, keep[j])]);
            CHECKF(d <= 1e-3 * mx, "isa %d: %s differs by %g of %g",
                   (int)isas[k], keep[j], d, mx);
        }

        // p(hair) is the softmax of the logits, in [0, 1].
        {
            int okp = 1;

            for (size_t p = 0; p < plane; p += 97) {
                double l0 = t->data[p], l1 = t->data[plane + p];
                double want = 1.0 / (1.0 + exp(l0 - l1));

                okp &= fabs(p1[p] - want) <= 1e-6;
            }
            CHECK(okp);
        }
    }
    facet_isa_force(isas[nisa - 1]);
    memcpy(logits1, nn_hair_feature(h, "conv2d_transpose_4")->data,
           2 * plane * 4);

    // Thread count does not change a bit; neither does batching.
    facet_set_threads(1);
    CHECK(nn_hair_forward(h, p2, &in1) == FACET_OK);
    facet_set_threads(2);
    CHECK(nn_hair_forward(h, p1, &in1) == FACET_OK);
    CHECK(memcmp(p1, p2, plane * 4) == 0);
    CHECK(memcmp(logits1, nn_hair_feature(h, "conv2d_transpose_4")->data,
                 2 * plane * 4) == 0);
    in2 = nn_tensor_4d(x, 2, 4, S, S);
    CHECK(nn_hair_forward(h, p2, &in2) == FACET_OK);
    CHECK(memcmp(p1, p2, plane * 4) == 0);
    CHECK(nn_hair_feature(h, "p_re_lu_99")->dim[0] == 2);
    in1 = nn_tensor_4d(x + 4 * plane, 1, 4, S, S);
    CHECK(nn_hair_forward(h, p1, &in1) == FACET_OK);
    CHECK(memcmp(p1, p2 + plane, plane * 4) == 0);

    // A network without kept maps gives the same output in less memory.
    CHECK(nn_hair_create(&h2, w, 1, NULL, 0) == FACET_OK);
    if (h2) {
        CHECK(nn_hair_forward(h2, p2, &in1) == FACET_OK);
        CHECK(memcmp(p1, p2, plane * 4) == 0);
        CHECK(nn_hair_arena_bytes(h2) < nn_hair_arena_bytes(h));
        CHECK(nn_hair_feature(h2, "p_re_lu_99") == NULL);
        printf("arena: %.1f MB (batch 1), %.1f MB (batch 2, 4 maps kept)\n",
               nn_hair_arena_bytes(h2) / 1e6, nn_hair_arena_bytes(h) / 1e6);
    }

    // Bad input.
    in1 = nn_tensor_4d(x, 3, 4, S, S);
    CHECK(nn_hair_forward(h, p1, &in1) == FACET_E_ARG);
    in1 = nn_tensor_4d(x, 1, 3, S, S);
    CHECK(nn_hair_forward(h, p1, &in1) == FACET_E_ARG);
    ref_free(&r);

    // Input planes from 8-bit RGB with a row stride, and a previous mask.
    {
        size_t stride = 3 * S + 5;
        uint8_t *rgb = malloc(stride * S);
        int okin = 1;

        FACET_ASSERT(rgb);
        for (size_t i = 0; i < stride * S; i++)
            rgb[i] = (uint8_t)(i * 7 + i / stride);
        for (size_t i = 0; i < plane; i++)
            p2[i] = (float)(i % 3) * 0.5f;
        nn_hair_input_rgb8(x, rgb, stride, p2);
        for (size_t i = 0; i < plane; i += 13)
            for (int c = 0; c < 4; c++) {
                size_t y = i / S, xx = i % S;
                float want = c < 3 ? rgb[y * stride + 3 * xx + c] / 255.0f
                                   : p2[i];

                okin &= x[c * plane + i] == want;
            }
        CHECK(okin);
        nn_hair_input_rgb8(x, rgb, stride, NULL);
        CHECK(x[3 * plane] == 0.0f && x[4 * plane - 1] == 0.0f);
        free(rgb);
    }

done:
    nn_hair_free(h);
    nn_hair_free(h2);
    nn_hair_free(NULL);
    tfl_free(&m);
    free(x);
    free(nhwc);
    free(p1);
    free(p2);
    free(logits1);
}

// ---------------------------------------------------------------------------
// Hair IoU on real photos

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Sorted names of the .jpg/.png files in `dir` (caller frees each and the
// array); the count in *n.
static char **list_images(const char *dir, int *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    int cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len < 5 || (strcmp(e->d_name + len - 4, ".jpg") &&
                        strcmp(e->d_name + len - 4, ".png")))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            names = realloc(names, (size_t)cap * sizeof(*names));
            FACET_ASSERT(names);
        }
        names[*n] = malloc(len + 1);
        FACET_ASSERT(names[*n]);
        memcpy(names[*n], e->d_name, len + 1);
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(names, (size_t)*n, sizeof(*names), cmp_str);
    return names;
}

// IoU of one photo and its mask; -1 when a file cannot be read.
static double photo_iou(nn_hair *h, const char *img_path,
                        const char *mask_path, float *x, float *p)
{
    enum { M = S / 2 };
    static uint8_t rgb[S * S * 3];
    static float mask[M * M];
    int w, hh, c, mw, mh, inter = 0, uni = 0;
    unsigned char *im = stbi_load(img_path, &w, &hh, &c, 3);
    unsigned char *mk = stbi_load(mask_path, &mw, &mh, &c, 1);
    float *mf;
    nn_tensor in;

    if (!im || !mk) {
        stbi_image_free(im);
        stbi_image_free(mk);
        return -1;
    }

    // Photo stretched to 512x512, fourth channel zero.
    stbir_resize_uint8(im, w, hh, 0, rgb, S, S, 0, 3);
    nn_hair_input_rgb8(x, rgb, 3 * S, NULL);
    in = nn_tensor_4d(x, 1, 4, S, S);
    if (nn_hair_forward(h, p, &in) != FACET_OK) {
        stbi_image_free(im);
        stbi_image_free(mk);
        return -1;
    }

    // Mask to [0, 1], area-resized to 256x256.
    mf = malloc((size_t)mw * mh * sizeof(float));
    FACET_ASSERT(mf);
    for (size_t i = 0; i < (size_t)mw * mh; i++)
        mf[i] = mk[i] / 255.0f;
    stbir_resize_float_generic(mf, mw, mh, 0, mask, M, M, 0, 1, -1, 0,
                               STBIR_EDGE_CLAMP, STBIR_FILTER_BOX,
                               STBIR_COLORSPACE_LINEAR, NULL);

    // Prediction: 2x2 mean of p(hair), then both thresholded at 0.5.
    for (int y = 0; y < M; y++)
        for (int xx = 0; xx < M; xx++) {
            const float *q = p + (size_t)2 * y * S + 2 * xx;
            int pred = (q[0] + q[1] + q[S] + q[S + 1]) * 0.25f > 0.5f;
            int gt = mask[y * M + xx] > 0.5f;

            inter += pred && gt;
            uni += pred || gt;
        }
    free(mf);
    stbi_image_free(im);
    stbi_image_free(mk);
    return uni ? (double)inter / uni : 1.0;
}

// Mean IoU over the first `limit` images of data/<set>; -1 if absent.
static double set_iou(nn_hair *h, const char *data, const char *set,
                      int limit, int *count)
{
    char dir[1024], img[1200], msk[1200];
    int n;
    char **names;
    float *x = malloc(4 * (size_t)S * S * 4), *p = malloc((size_t)S * S * 4);
    double sum = 0;

    FACET_ASSERT(x && p);
    *count = 0;
    snprintf(dir, sizeof(dir), "%s/%s/images", data, set);
    names = list_images(dir, &n);
    for (int i = 0; i < n && i < limit; i++) {
        size_t len = strlen(names[i]);
        double iou;

        snprintf(img, sizeof(img), "%s/%s", dir, names[i]);
        snprintf(msk, sizeof(msk), "%s/%s/hair_masks/%.*s.png", data, set,
                 (int)(len - 4), names[i]);
        iou = photo_iou(h, img, msk, x, p);
        CHECKF(iou >= 0, "cannot read %s or %s", img, msk);
        if (iou < 0)
            continue;
        sum += iou;
        (*count)++;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(x);
    free(p);
    return *count ? sum / *count : -1;
}

// Thresholds. The full run (all 105 figaro, first 100 celebahq) must
// reach the figures, 0.83 and 0.82; it measured 0.8442 and 0.8343
// (a floating-point reference run of the same model: 0.841, 0.832). The
// default subset (first 20 of each) measured 0.9118 and 0.8476; its
// thresholds are those minus about 0.02, a margin for the small sample
// and for resize or summation-order differences elsewhere.
static void test_iou(wt_file *w, int full)
{
    const char *data = check_data_dir();
    int limit_f = full ? 105 : 20, limit_c = full ? 100 : 20, nf, nc;
    double want_f = full ? 0.83 : 0.89, want_c = full ? 0.82 : 0.825;
    double iou_f, iou_c, t0;
    int threads;
    nn_hair *h = NULL;
    char probe[1100];
    DIR *d;

    snprintf(probe, sizeof(probe), "%s/figaro/images", data);
    d = opendir(probe);
    if (!d) {
        printf("hair IoU skipped: FACET_DATA not found (%s)\n", data);
        return;
    }
    closedir(d);
    if (nn_hair_create(&h, w, 1, NULL, 0) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return;
    }
    // One thread: results do not depend on it, and on a shared machine
    // the per-layer barriers of many small parallel regions cost more
    // than the second thread gains.
    threads = facet_threads();
    facet_set_threads(1);
    t0 = facet_now();
    iou_f = set_iou(h, data, "figaro", limit_f, &nf);
    iou_c = set_iou(h, data, "celebahq", limit_c, &nc);
    facet_set_threads(threads);
    printf("hair IoU: figaro %.4f over %d images, celebahq %.4f over %d "
           "(%.1f s)\n", iou_f, nf, iou_c, nc, facet_now() - t0);
    CHECKF(nf == limit_f && iou_f >= want_f, "figaro IoU %.4f over %d, want "
           ">= %.2f over %d", iou_f, nf, want_f, limit_f);
    CHECKF(nc == limit_c && iou_c >= want_c, "celebahq IoU %.4f over %d, "
           "want >= %.2f over %d", iou_c, nc, want_c, limit_c);
    nn_hair_free(h);
}

// ---------------------------------------------------------------------------
// Speed: median of 7 forward calls per thread count, side by side.

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void bench(wt_file *w)
{
    float *x = malloc(4 * (size_t)S * S * 4), *p = malloc((size_t)S * S * 4);
    nn_hair *h = NULL;
    nn_tensor in = nn_tensor_4d(x, 1, 4, S, S);
    double t[2][7];

    FACET_ASSERT(x && p);
    if (nn_hair_create(&h, w, 1, NULL, 0) != FACET_OK) {
        CHECKF(0, "%s", facet_error());
        return;
    }
    synthetic_input(x, 1, 3);
    nn_hair_forward(h, p, &in);   // warm-up
    for (int r = 0; r < 7; r++)
        for (int k = 0; k < 2; k++) {
            double t0;

            facet_set_threads(k + 1);
            t0 = facet_now();
            CHECK(nn_hair_forward(h, p, &in) == FACET_OK);
            t[k][r] = facet_now() - t0;
        }
    for (int k = 0; k < 2; k++) {
        qsort(t[k], 7, sizeof(double), cmp_double);
        printf("hair forward 512x512, %d thread%s: median %.1f ms (min "
               "%.1f)\n", k + 1, k ? "s" : "", t[k][3] * 1e3, t[k][0] * 1e3);
    }
    nn_hair_free(h);
    free(x);
    free(p);
}

int main(int argc, char **argv)
{
    int full = argc > 1 && !strcmp(argv[1], "--full");
    int do_bench = argc > 1 && !strcmp(argv[1], "--bench");
    uint8_t *buf = NULL;
    size_t n = 0;
    wt_file *w = NULL;
    const char *dir = check_weights_dir();

    // The model files, under $FACET_WEIGHTS or weights/.
    snprintf(tflite_path, sizeof tflite_path,
             "%s/cache/hair_segmentation.tflite", dir);
    snprintf(fct_path, sizeof fct_path, "%s/hair_segmentation.fct", dir);
    if (cv_read_file(&buf, &n, tflite_path, TFL_MAX_FILE) != FACET_OK) {
        CHECKF(0, "%s: run make weights", facet_error());
        return check_report();
    }
    if (wt_open(&w, fct_path, 0) != FACET_OK)
        CHECKF(0, "%s: run make weights", facet_error());

    if (do_bench) {
        if (w)
            bench(w);
    } else {
        test_reader(buf, n);
        test_corrupt(buf, n);
        test_convert(buf, n);
        if (w) {
            test_network(buf, n, w);
            test_iou(w, full);
        }
    }
    wt_close(w);
    facet_free(buf);
    return check_report();
}

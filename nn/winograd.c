// winograd.c - 3x3 stride-1 convolution by Winograd's minimal filtering
// algorithm F(4x4, 3x3): each 4x4 output tile costs 36 products per input
// and output channel instead of 144. The driver behind the nn__wino_*
// calls of nn/internal.h, used by nn/conv.c for NN_CONV_WINOGRAD.
//
// Per output tile (4x4), input window d (6x6), filter g (3x3):
//   y = A^T [ (G g G^T) .* (B^T d B) ] A
// summed over input channels inside the brackets, so the sum is 36
// independent products of matrices:
//   M[xi] (cout x tiles) = U[xi] (cout x cin) * V[xi] (cin x tiles)
// U = G g G^T is computed in double and rounded once, by the filter
// kernel of the active ISA (every ISA gives the same bits). Layers of
// fewer than FLY_MIN_FILTERS filters compute it once, when the layer is
// created (nn__wino_transform_weights), and keep it: 4x the float weights.
// Larger layers keep only the caller's float weights: every (block,
// chunk) item transforms its chunk's filters into W, its thread's part of
// the scratch, right before the chunk's products; U of the whole layer
// never exists. At batch 1 the 512-channel layers of VGG-16 have one
// block, so each filter is transformed once per forward call, and the
// products read 9.4 MB of float weights per layer instead of 38 MB of U.
//
// Work is cut by the shape alone (never by the thread count):
//   group    16 tiles, one per vector lane, numbered over image, tile row
//            and tile column. A group inside one tile row goes through
//            the row kernels (contiguous loads and stores); one that spans
//            rows or images (narrow images) through the lanes kernels
//            (gathers and scatters).
//   block    up to BLOCK_LANES tiles (whole groups); its transformed input
//            V (36 x cin x lanes) is made once and reused by all output
//            channels, so U is streamed once per block.
//   chunk    CHUNK_CO output channels (FLY_CHUNK_CO or FLY_CHUNK_CO_1 when
//            the filters are transformed on the fly): the 36 products for
//            the chunk go to M (36 x chunk x lanes), which the output
//            transform reads back at once, with bias and activation, into
//            the output planes.
// Many blocks (large images or batches): each block is one work item.
// Fewer than MIN_ITEMS (small images at batch 1): the input transforms of
// every block run first, split over channels, and then each (block,
// chunk) pair is an item, so both cores have work. OpenMP hands out items
// dynamically; every output value is computed by one item in a fixed
// order, so results do not depend on the thread count. Each thread works
// in its own slot of the caller's scratch.
//
// The kernels (filter transform, input transform, product, output
// transform) come from a table indexed by facet_isa_active();
// nn/winograd_internal.h has their contracts, the layouts and the
// transform matrices.
//
// ref: A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural
//      Networks", CVPR 2016.
// ref: B. Barabasz et al., "Error Analysis and Improving the Accuracy of
//      Winograd Convolution for Deep Neural Networks", ACM TOMS 2020.
//
// Limitations:
// - Rounding: F(4x4, 3x3) amplifies float rounding by the transforms.
//   tests/test_winograd.c measures max |err| / max |ref| on the VGG-16
//   layer shapes against a double direct convolution and holds it to
//   1e-4; expect a few times float epsilon times sqrt(cin) more error than
//   a direct convolution.
// - Scratch holds one slot per thread for the thread count of
//   facet_threads() when nn__wino_scratch_size is asked; the forward call
//   must not run with more threads than that. (Any smaller batch fits.)
// - Tiles past the bottom and right edges are computed in full and
//   cropped, so an output side that is not a multiple of 4 wastes work
//   (14x14 outputs compute 16x16), and lanes past the last tile of a layer
//   are computed too (49 tiles take 64 lanes).
// - Kept U is 4x the size of the float weights and is read once per
//   block; layers below FLY_MIN_FILTERS keep it (47 MB for VGG-16's
//   conv1_2 .. conv4_1).
// - On the fly, the filter transform is redone for every block: about
//   7 ns per filter with AVX-512 on one core (1.9 ms per 512 x 512
//   layer), once per forward call at batch 1 on VGG-16's 14x14 and 28x28
//   layers, but 7 times on conv4_x at batch 8 (7 blocks). Measured on
//   VGG-16 at batch 1, one core: the whole forward pass a few percent
//   slower than keeping every U (conv5_x about even, as it reads less
//   memory; conv4_2 and conv4_3 about 1.5 ms slower each). W adds
//   36 x 64 x cin floats per thread to the scratch (4.7 MB at 512).
// - Planes must hold fewer than 2^31 elements (int indexing).
#include "winograd_internal.h"
#include "layers_internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// Blocking, tuned on VGG-16 with AVX-512 (2 MB L2 per core, and about
// 10 GB/s from memory per core on the shared test machine): a block of up
// to 64 tiles keeps V and M in L2 for the 64- and 128-channel layers and
// still amortises each pass over U (4x the float weights) on the deeper
// ones; 32 to 128 lanes measured within noise of each other.
#define BLOCK_LANES 64
#define CHUNK_CO 64
#define MIN_ITEMS 4

// Layers of at least FLY_MIN_FILTERS filters (cin x cout) keep no U: each
// work item transforms the filters of its chunk of output channels into
// its own W right before the chunk's products. Chunks of FLY_CHUNK_CO, or
// of FLY_CHUNK_CO_1 when blocks hold a single group of tiles (then V is
// small, and a W of 16 channels stays in L2 with it: 1.2 MB each at 512
// input channels; measured on conv5_x of VGG-16 at batch 1, 16 channels
// beat 64 by about 5%, while 64 beat 16 by about 15% on conv4_x).
// The threshold keeps VGG-16's conv4_1 (256 x 512, 19 MB of U, 1 ms of
// transforms per forward) and drops the 512 x 512 layers (38 MB each).
#define FLY_MIN_FILTERS (512 * 512)
#define FLY_CHUNK_CO 64
#define FLY_CHUNK_CO_1 16

#define GROUPS_MAX (BLOCK_LANES / NN_WINO_LANES)

const nn_wino_kernels nn__wino_kernels[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = {nn__wino_filter_8__scalar,
                          nn__wino_input_6x6__scalar,
                          nn__wino_input_lanes_6x6__scalar,
                          nn__wino_gemm_8x16__scalar,
                          nn__wino_output_4x4__scalar,
                          nn__wino_output_lanes_4x4__scalar},
#if defined(__x86_64__) || defined(__i386__)
    [FACET_ISA_AVX2] = {nn__wino_filter_8__avx2,
                        nn__wino_input_6x6__avx2,
                        nn__wino_input_lanes_6x6__avx2,
                        nn__wino_gemm_4x16__avx2,
                        nn__wino_output_4x4__avx2,
                        nn__wino_output_lanes_4x4__avx2},
    [FACET_ISA_AVX512] = {nn__wino_filter_8__avx512,
                          nn__wino_input_6x6__avx512,
                          nn__wino_input_lanes_6x6__avx512,
                          nn__wino_gemm_8x48__avx512,
                          nn__wino_output_4x4__avx512,
                          nn__wino_output_lanes_4x4__avx512},
#else
    [FACET_ISA_AVX2] = {nn__wino_filter_8__scalar,
                        nn__wino_input_6x6__scalar,
                        nn__wino_input_lanes_6x6__scalar,
                        nn__wino_gemm_8x16__scalar,
                        nn__wino_output_4x4__scalar,
                        nn__wino_output_lanes_4x4__scalar},
    [FACET_ISA_AVX512] = {nn__wino_filter_8__scalar,
                          nn__wino_input_6x6__scalar,
                          nn__wino_input_lanes_6x6__scalar,
                          nn__wino_gemm_8x16__scalar,
                          nn__wino_output_4x4__scalar,
                          nn__wino_output_lanes_4x4__scalar},
#endif
};

// ---------------------------------------------------------------------------
// Weights

static int cob_count(int cout)
{
    return (cout + NN_WINO_ROWS - 1) / NN_WINO_ROWS;
}

int nn__wino_precompute(int cin, int cout)
{
    return (int64_t)cin * cout < FLY_MIN_FILTERS;
}

size_t nn__wino_weight_size(int cin, int cout)
{
    return (size_t)36 * (size_t)cob_count(cout) * NN_WINO_ROWS * (size_t)cin;
}

void nn__wino_transform_weights(float *dst, const float *weight, int cin,
                                int cout)
{
    const nn_wino_kernels *k = &nn__wino_kernels[facet_isa_active()];
    int cob = cob_count(cout);
    size_t xs = (size_t)cob * cin * NN_WINO_ROWS;

    FACET_ASSERT(cin >= 1 && cout >= 1);

    // U [36][cob][cin][8], one cob at a time; rows past cout are zero.
    NN_OMP(parallel for schedule(static))
    for (int cb = 0; cb < cob; cb++) {
        int rows = cout - cb * NN_WINO_ROWS;

        k->filter(dst + (size_t)cb * cin * NN_WINO_ROWS, xs,
                  weight + (size_t)cb * NN_WINO_ROWS * cin * 9, cin,
                  rows < NN_WINO_ROWS ? rows : NN_WINO_ROWS);
    }
}

// ---------------------------------------------------------------------------
// The partition of a layer into work

typedef struct plan {
    int tiles_y, tiles_x;  // tiles per image
    int ntiles;            // n * tiles_y * tiles_x
    int groups;            // groups of 16 tiles, ceil(ntiles / 16)
    int nblk;              // blocks of groups
    int lanes_max;         // lanes of the largest block
    int cob;               // weight row blocks, ceil(cout / 8)
    int chunk_cob;         // row blocks per channel chunk
    int nchunk;            // channel chunks
    int shared;            // 1: V of every block made first, then shared
    int split;             // items per block (runs of chunks)
    int nitems;            // nblk * split
    int fly;               // 1: filters transformed per chunk, into W
} plan;

static void make_plan(plan *p, int n, int cout, int oh, int ow, int fly)
{
    p->tiles_y = (oh + 3) / 4;
    p->tiles_x = (ow + 3) / 4;
    p->ntiles = n * p->tiles_y * p->tiles_x;
    p->groups = (p->ntiles + NN_WINO_LANES - 1) / NN_WINO_LANES;

    // Blocks of nearly equal size: block b holds groups
    // [b * groups / nblk, (b + 1) * groups / nblk).
    p->nblk = (p->groups + GROUPS_MAX - 1) / GROUPS_MAX;
    p->lanes_max = NN_WINO_LANES * ((p->groups + p->nblk - 1) / p->nblk);

    p->fly = fly;
    p->cob = cob_count(cout);
    if (!fly)
        p->chunk_cob = CHUNK_CO / NN_WINO_ROWS;
    else if (p->lanes_max > NN_WINO_LANES)
        p->chunk_cob = FLY_CHUNK_CO / NN_WINO_ROWS;
    else
        p->chunk_cob = FLY_CHUNK_CO_1 / NN_WINO_ROWS;
    if (p->chunk_cob > p->cob)
        p->chunk_cob = p->cob;
    p->nchunk = (p->cob + p->chunk_cob - 1) / p->chunk_cob;

    // Enough blocks: one item per block. Few (small images): the input
    // transforms of all blocks run first, split over channels, and every
    // chunk of every block is an item of its own.
    p->shared = p->nblk < MIN_ITEMS && p->nchunk > 1;
    p->split = p->shared ? p->nchunk : 1;
    p->nitems = p->nblk * p->split;
}

// Distance between the xi planes of V and M: the plane size plus one
// cache line, so that the 36 planes of one tile group fall into different
// L1 sets (plane sizes are often multiples of 4 KiB).
static size_t xi_stride(size_t plane_floats)
{
    return plane_floats + NN_WINO_LANES;
}

// Floats of one block's V and of one chunk's M.
static size_t floats_v(const plan *p, int cin)
{
    return 36 * xi_stride((size_t)cin * p->lanes_max);
}

static size_t floats_m(const plan *p)
{
    return 36 * xi_stride((size_t)p->chunk_cob * NN_WINO_ROWS *
                          p->lanes_max);
}

// Floats of one chunk's transformed filters W (on the fly only).
static size_t floats_w(const plan *p, int cin)
{
    if (!p->fly)
        return 0;
    return 36 * xi_stride((size_t)p->chunk_cob * NN_WINO_ROWS * cin);
}

static int slot_count(void)
{
    int t = facet_threads();
    return t < 1 ? 1 : t;
}

// Floats of one thread slot besides V: M and W.
static size_t floats_slot(const plan *p, int cin)
{
    return floats_m(p) + floats_w(p, cin);
}

// Scratch of the forward call: per thread slot an M, a W (on the fly) and
// (unless shared) a V, the shared V of every block in front.
static size_t scratch_floats(const plan *p, int cin, int slots)
{
    if (p->shared)
        return (size_t)p->nblk * floats_v(p, cin) +
               (size_t)slots * floats_slot(p, cin);
    return (size_t)slots * (floats_v(p, cin) + floats_slot(p, cin));
}

// The size asked for is a bound on that which never shrinks as n grows,
// so that scratch sized for a batch serves every smaller batch too: the
// lanes of a full block (or of all groups, if fewer), and as many V as
// either mode can use.
size_t nn__wino_scratch_size(int n, int cin, int cout, int h, int w,
                             int pad_top, int pad_left, int oh, int ow,
                             int precomputed)
{
    plan p;
    int slots = slot_count();
    int nv = slots > MIN_ITEMS - 1 ? slots : MIN_ITEMS - 1;

    if (n <= 0 || oh <= 0 || ow <= 0)
        return 0;
    make_plan(&p, n, cout, oh, ow, !precomputed);
    FACET_ASSERT(scratch_floats(&p, cin, slots) <=
                 (size_t)nv * floats_v(&p, cin) +
                     (size_t)slots * floats_slot(&p, cin));
    p.lanes_max = p.groups < GROUPS_MAX ? NN_WINO_LANES * p.groups
                                        : BLOCK_LANES;
    return ((size_t)nv * floats_v(&p, cin) +
            (size_t)slots * floats_slot(&p, cin)) * sizeof(float);
}

// ---------------------------------------------------------------------------
// Forward

typedef struct layer {
    float *out;
    const float *in, *wt, *weight, *bias, *slope;
    la_act act;
    int n, cin, cout, h, w, pad_top, pad_left, oh, ow;
    int lanes_ok;   // tensor offsets fit the int32 lane offsets
} layer;

// The tiles of one group that lie in one tile row: lanes lo..hi-1 hold the
// tiles whose column is tx0 + lane (tx0 may be negative).
typedef struct segment {
    int n, ty, tx0, lo, hi;
} segment;

// How the transforms reach the 16 tiles of a group. One row segment: the
// row kernels. Several (the group spans tile rows or images): the *_lanes
// kernels with per-lane offsets (from channel 0 of image 0) and masks.
typedef struct group {
    int nseg;
    segment seg[NN_WINO_LANES];
    int lanes;
    int32_t in_off[NN_WINO_LANES], out_off[NN_WINO_LANES];
    uint16_t in_row[6], in_col[6], out_row[4], out_col[4];
} group;

static void group_setup(group *gr, const plan *p, const layer *L, int g)
{
    int per_img = p->tiles_y * p->tiles_x;
    int t = g * NN_WINO_LANES, lane = 0;

    // Row segments; the last one also covers the lanes past the last tile,
    // so that the input transform leaves no lane of V unwritten.
    gr->nseg = 0;
    while (lane < NN_WINO_LANES && t < p->ntiles) {
        int img = t / per_img, r = t % per_img;
        int ty = r / p->tiles_x, tx = r % p->tiles_x;
        int len = NN_WINO_LANES - lane;

        if (len > p->tiles_x - tx)
            len = p->tiles_x - tx;
        if (len > p->ntiles - t)
            len = p->ntiles - t;
        gr->seg[gr->nseg++] = (segment){img, ty, tx - lane, lane, lane + len};
        lane += len;
        t += len;
    }
    gr->lanes = gr->nseg > 1 && L->lanes_ok;
    if (!gr->lanes)
        return;

    // Per-lane window origins and the masks of their rows and columns
    // that lie inside the planes; no bits for lanes past the last tile.
    memset(gr->in_row, 0, sizeof gr->in_row);
    memset(gr->in_col, 0, sizeof gr->in_col);
    memset(gr->out_row, 0, sizeof gr->out_row);
    memset(gr->out_col, 0, sizeof gr->out_col);
    for (int l = 0; l < NN_WINO_LANES; l++) {
        int tt = g * NN_WINO_LANES + l, img, r, y0, x0, oy0, ox0;

        gr->in_off[l] = gr->out_off[l] = 0;
        if (tt >= p->ntiles)
            continue;
        img = tt / per_img;
        r = tt % per_img;
        oy0 = 4 * (r / p->tiles_x);
        ox0 = 4 * (r % p->tiles_x);
        y0 = oy0 - L->pad_top;
        x0 = ox0 - L->pad_left;
        gr->in_off[l] = (int32_t)(((int64_t)img * L->cin * L->h + y0) * L->w +
                                  x0);
        gr->out_off[l] = (int32_t)(((int64_t)img * L->cout * L->oh + oy0) *
                                       L->ow + ox0);
        for (int i = 0; i < 6; i++) {
            if (y0 + i >= 0 && y0 + i < L->h)
                gr->in_row[i] |= (uint16_t)(1u << l);
            if (x0 + i >= 0 && x0 + i < L->w)
                gr->in_col[i] |= (uint16_t)(1u << l);
        }
        for (int i = 0; i < 4; i++) {
            if (oy0 + i < L->oh)
                gr->out_row[i] |= (uint16_t)(1u << l);
            if (ox0 + i < L->ow)
                gr->out_col[i] |= (uint16_t)(1u << l);
        }
    }
}

// Groups [*g0, *g1) of block b.
static void block_groups(int *g0, int *g1, const plan *p, int b)
{
    *g0 = (int)((long long)b * p->groups / p->nblk);
    *g1 = (int)((long long)(b + 1) * p->groups / p->nblk);
}

// Ask for the window rows that segment `sg` reads in input plane `src`,
// ahead of their use (the planes of a layer rarely fit in L2).
static void prefetch_window(const float *src, const layer *L,
                            const segment *sg)
{
    int y0 = 4 * sg->ty - L->pad_top;
    int x0 = 4 * (sg->tx0 + sg->lo) - L->pad_left;
    int x1 = 4 * (sg->tx0 + sg->hi) - L->pad_left + 2;

    if (x0 < 0)
        x0 = 0;
    if (x1 > L->w)
        x1 = L->w;
    for (int y = y0 < 0 ? 0 : y0; y < y0 + 6 && y < L->h; y++)
        for (int x = x0; x < x1; x += 16)
            __builtin_prefetch(src + (size_t)y * L->w + x, 0, 3);
}

// V of block b (36 x cin x lanes, xi planes vxs apart) for input channels
// [ci0, ci1): V = B^T d B of every tile.
static void input_block(const nn_wino_kernels *k, const layer *L,
                        const plan *p, int b, float *V, int ci0, int ci1)
{
    group grp[GROUPS_MAX];
    int g0, g1, lanes;
    size_t plane = (size_t)L->h * L->w, vxs;

    block_groups(&g0, &g1, p, b);
    lanes = NN_WINO_LANES * (g1 - g0);
    vxs = xi_stride((size_t)L->cin * lanes);
    for (int g = g0; g < g1; g++)
        group_setup(&grp[g - g0], p, L, g);

    // Channel outer, so that the rows a tile row reads stay in L1 across
    // its groups; the next channel's rows are fetched meanwhile.
    for (int ci = ci0; ci < ci1; ci++)
        for (int g = 0; g < g1 - g0; g++) {
            const group *gr = &grp[g];
            float *v = V + (size_t)ci * lanes + NN_WINO_LANES * g;

            if (gr->lanes) {
                k->input_lanes(v, vxs, L->in + ci * plane, L->w, gr->in_off,
                               gr->in_row, gr->in_col);
                continue;
            }
            for (int s = 0; s < gr->nseg; s++) {
                const segment *sg = &gr->seg[s];
                const float *src = L->in +
                                   ((size_t)sg->n * L->cin + ci) * plane;
                int hi = s == gr->nseg - 1 ? NN_WINO_LANES : sg->hi;

                if (ci + 1 < ci1)
                    prefetch_window(src + plane, L, sg);
                k->input(v, vxs, src, L->h, L->w, 4 * sg->ty - L->pad_top,
                         4 * sg->tx0 - L->pad_left, sg->lo, hi);
            }
        }
}

// Output channels of chunks [c0, c1) for block b: (on the fly) the
// chunk's filters transformed into W, the products from V into M, then
// the output transform with bias and activation into the planes. M and W
// are the calling thread's.
static void output_block(const nn_wino_kernels *k, const layer *L,
                         const plan *p, int b, const float *V, float *M,
                         float *W, int c0, int c1)
{
    group grp[GROUPS_MAX];
    int g0, g1, lanes, used;
    int chunk_co = p->chunk_cob * NN_WINO_ROWS;
    size_t oplane = (size_t)L->oh * L->ow, vxs, mxs, uxs, wxs;
    size_t cbs = (size_t)L->cin * NN_WINO_ROWS;   // floats of a cob's U

    block_groups(&g0, &g1, p, b);
    lanes = NN_WINO_LANES * (g1 - g0);
    vxs = xi_stride((size_t)L->cin * lanes);
    mxs = xi_stride((size_t)chunk_co * lanes);
    uxs = (size_t)p->cob * cbs;
    wxs = xi_stride((size_t)p->chunk_cob * cbs);
    for (int g = g0; g < g1; g++)
        group_setup(&grp[g - g0], p, L, g);

    // Lanes that hold tiles: the products may stop there (the last block
    // of a layer); the output transform ignores the rest.
    used = p->ntiles - NN_WINO_LANES * g0;
    if (used > lanes)
        used = lanes;

    for (int c = c0; c < c1; c++) {
        int cb0 = c * p->chunk_cob, cb1 = cb0 + p->chunk_cob;
        int co_end;

        if (cb1 > p->cob)
            cb1 = p->cob;
        co_end = cb1 * NN_WINO_ROWS < L->cout ? cb1 * NN_WINO_ROWS : L->cout;

        // The chunk's U: a slice of the layer's, or made here into W
        // ([36][chunk_cob][cin][8], xi planes wxs apart).
        if (p->fly)
            for (int cb = cb0; cb < cb1; cb++) {
                int rows = L->cout - cb * NN_WINO_ROWS;

                k->filter(W + (cb - cb0) * cbs, wxs,
                          L->weight + (size_t)cb * cbs * 9, L->cin,
                          rows < NN_WINO_ROWS ? rows : NN_WINO_ROWS);
            }

        // M[xi] (chunk_co x lanes) = U[xi] (chunk_co x cin) V[xi].
        for (int xi = 0; xi < 36; xi++)
            for (int cb = cb0; cb < cb1; cb++) {
                const float *u = p->fly
                                     ? W + xi * wxs + (cb - cb0) * cbs
                                     : L->wt + xi * uxs + cb * cbs;

                k->gemm(M + xi * mxs + (size_t)(cb - cb0) * NN_WINO_ROWS *
                                           lanes,
                        lanes, u, V + xi * vxs, lanes, L->cin, used);
            }

        // out = A^T M A + bias, activated, tile by tile into the planes.
        for (int co = cb0 * NN_WINO_ROWS; co < co_end; co++) {
            float bias = L->bias ? L->bias[co] : 0.0f;
            float slope = L->slope ? L->slope[co] : 0.0f;
            const float *mc = M + (size_t)(co - cb0 * NN_WINO_ROWS) * lanes;

            for (int g = 0; g < g1 - g0; g++) {
                const group *gr = &grp[g];
                const float *m = mc + NN_WINO_LANES * g;

                if (gr->lanes) {
                    k->output_lanes(L->out + co * oplane, L->ow, gr->out_off,
                                    gr->out_row, gr->out_col, m, mxs, bias,
                                    L->act, slope);
                    continue;
                }
                for (int s = 0; s < gr->nseg; s++) {
                    const segment *sg = &gr->seg[s];
                    float *dst = L->out +
                                 ((size_t)sg->n * L->cout + co) * oplane;

                    k->output(dst, L->oh, L->ow, 4 * sg->ty, 4 * sg->tx0,
                              sg->lo, sg->hi, m, mxs, bias, L->act, slope);
                }
            }
        }
    }
}

// Channel ranges of the shared input phase: per block, cin split into
// this many parts.
#define INPUT_PARTS 8

void nn__wino_forward(float *out, const float *in, const float *wt,
                      const float *weight, const float *bias, la_act act,
                      const float *slope,
                      int n, int cin, int cout, int h, int w, int pad_top,
                      int pad_left, int oh, int ow, void *scratch)
{
    const nn_wino_kernels *k = &nn__wino_kernels[facet_isa_active()];
    layer L = {out, in, wt, weight, bias, slope, act, n, cin, cout, h, w,
               pad_top, pad_left, oh, ow, 0};
    plan p;
    size_t vf, mf, sf;
    int slots = slot_count(), parts;
    float *base = scratch;

    FACET_ASSERT(n >= 1 && cin >= 1 && cout >= 1 && oh >= 1 && ow >= 1);
    FACET_ASSERT(pad_top >= 0 && pad_left >= 0 && scratch);
    FACET_ASSERT(act != LA_ACT_PRELU || slope);
    FACET_ASSERT(wt || weight);
    make_plan(&p, n, cout, oh, ow, !wt);

    // Lane offsets span the whole input or output tensor (plus a window).
    L.lanes_ok = (int64_t)n * cin * h * w < INT32_MAX / 2 &&
                 (int64_t)n * cout * oh * ow < INT32_MAX / 2;
    vf = floats_v(&p, cin);
    mf = floats_m(&p);
    sf = floats_slot(&p, cin);
    parts = cin < INPUT_PARTS ? cin : INPUT_PARTS;
    if (slots > p.nitems)
        slots = p.nitems;

    // Scratch: [shared V of every block] then per slot [V] M [W].
    NN_OMP(parallel num_threads(slots))
    {
        int tid = 0;
        float *slot;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        if (p.shared) {
            slot = base + p.nblk * vf + (size_t)tid * sf;

            NN_OMP(for schedule(dynamic, 1))
            for (int u = 0; u < p.nblk * parts; u++) {
                int b = u / parts, q = u % parts;
                input_block(k, &L, &p, b, base + b * vf, q * cin / parts,
                            (q + 1) * cin / parts);
            }
            NN_OMP(for schedule(dynamic, 1))
            for (int item = 0; item < p.nitems; item++) {
                int b = item / p.split, c = item % p.split;
                output_block(k, &L, &p, b, base + b * vf, slot, slot + mf,
                             c, c + 1);
            }
        } else {
            slot = base + (size_t)tid * (vf + sf);

            NN_OMP(for schedule(dynamic, 1))
            for (int b = 0; b < p.nblk; b++) {
                input_block(k, &L, &p, b, slot, 0, cin);
                output_block(k, &L, &p, b, slot, slot + vf, slot + vf + mf,
                             0, p.nchunk);
            }
        }
    }
}

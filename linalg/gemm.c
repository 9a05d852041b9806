// gemm.c - la_sgemm, the single-precision GEMM under every convolution and
// fully connected layer: blocking, packing and threading in portable C,
// around one ISA-specific micro-kernel (kernels/gemm_<isa>.c, contract in
// gemm_internal.h).
//
// Loops, outermost first (BLIS order, with A as the broadcast operand and
// B as the vector operand, since C is row-major):
//
//   threads  a grid of row x column ranges of C (whole tiles), chosen
//            for the team size and shape (choose_grid), cells handed out
//            dynamically
//   jc       NC columns of B: packed kc x NC block stays in L2
//   pc       K blocks of kc: C tiles accumulate block after block
//   ic       MR rows of A: the MR x kc panel stays in L1 (read in place
//            when A is row-major, copied when it is transposed)
//   jr       NR columns: one micro-kernel call per MR x NR tile of C
//
// Determinism: kc depends on K and the kernel only, and every element of C
// is computed by one micro-kernel chain per K block, in K-block order, with
// the same operations whatever tile or thread it falls in (see
// gemm_internal.h). How the tiles are spread over threads changes who
// computes an element, never how, so any thread count gives the same bits.
//
// ref: K. Goto, R. A. van de Geijn, "Anatomy of High-Performance Matrix
//      Multiplication", ACM TOMS 34(3), 2008.
// ref: T. M. Smith et al., "Anatomy of High-Performance Many-Threaded
//      Matrix Multiplication", IPDPS 2014 (which loops to parallelise).
//
// Limitations:
// - Small-m products (fully connected layers at batch 1..8, B transposed)
//   still pack B, a transposing copy that costs more than the product
//   itself at batch 1 (about 2 GFLOP/s at m = 1, 13 at m = 8); there is no
//   separate matrix-vector path.
// - A transposed A is copied once per column block and K block (about 20%
//   slower than a row-major A at 256 x 1152 x 3136).
// - A row split of C between threads packs all of B in every thread
//   (threads never wait for one another; see struct grid).
// - Packing is plain C compiled for the baseline ISA; B packing runs at
//   the speed memory delivers B (about 0.2-0.4 ns per element here), which
//   for M <= 128 is 15-30% of the kernel time.
// - la_sgemm returns nothing, so when it must allocate its own scratch
//   (scratch == NULL) and cannot, it aborts; pass scratch to avoid that.
#include <string.h>

#include "gemm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

// Below this many flops one thread is faster than waking a team.
#define PARALLEL_MIN_FLOPS 2e6

// Packing one element of B costs about this many flops of micro-kernel
// time (for choosing the thread grid): measured 0.2-0.4 ns per element
// from L3, against about 6 ps per flop in the AVX-512 kernel.
#define PACK_COST 40.0

// Rows of B ahead of the one being packed that are prefetched.
#define PACK_B_AHEAD 4

static const la_sgemm_kernel *const kernels[FACET_ISA_COUNT] = {
    [FACET_ISA_SCALAR] = &la_sgemm_kernel__scalar,
    [FACET_ISA_AVX2] = &la_sgemm_kernel__avx2,
    [FACET_ISA_AVX512] = &la_sgemm_kernel__avx512,
};

const la_sgemm_kernel *la_sgemm_kernel_active(void)
{
    return kernels[facet_isa_active()];
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

// a / b rounded up, for a >= 0, b > 0, without overflow near INT_MAX.
static int ceil_div(int a, int b)
{
    return a / b + (a % b != 0);
}

// K block: the fewest blocks of at most kern->kc, made equal in size
// (rounded up to 8), so that no thin last block wastes a pass over C.
static int k_block(const la_sgemm_kernel *kern, int k)
{
    int nb = ceil_div(k, kern->kc);
    int kc = ceil_div(k, nb);

    kc = (kc + 7) & ~7;
    return imin(kc, kern->kc);
}

// Columns of one packed B block: NC, or n rounded up to NR if smaller.
static int n_block(const la_sgemm_kernel *kern, int n)
{
    return n >= kern->nc ? kern->nc : ceil_div(n, kern->nr) * kern->nr;
}

// Scratch of one thread: an MR x kc panel of A, then a kc x NC block of B.
static size_t thread_bytes(const la_sgemm_kernel *kern, int n, int k)
{
    size_t kc = (size_t)k_block(kern, k);
    size_t a = facet_align_up((size_t)kern->mr * kc * sizeof(float),
                              FACET_ALIGN);
    size_t b = facet_align_up(kc * (size_t)n_block(kern, n) * sizeof(float),
                              FACET_ALIGN);

    return a + b;
}

size_t la_sgemm_scratch_size(int m, int n, int k, int threads)
{
    size_t most = 0;

    // Enough for any kernel, since the ISA may be switched in between.
    if (m <= 0 || n <= 0 || k <= 0)
        return 0;
    if (threads < 1)
        threads = 1;
    for (int i = 0; i < FACET_ISA_COUNT; i++) {
        size_t b = thread_bytes(kernels[i], n, k);
        most = b > most ? b : most;
    }
    return most * (size_t)threads;
}

// Everything one thread needs to run its share.
typedef struct plan {
    const la_sgemm_kernel *kern;
    la_trans ta, tb;
    int m, n, k, kc, nc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    const la_epilogue *ep;  // NULL when there is nothing to apply
    char *scratch;
    size_t thread_bytes;
} plan;

// The packing loops read plan fields into locals first: the build uses
// -fno-strict-aliasing, so a float store could otherwise change pl->ldb as
// far as the compiler knows, and it would reload it on every element.

// Copy rows i0..i0+mb-1, columns p0..p0+kb-1 of op(A) = A^T (A is k x m)
// into a row-major mb x kb panel: ap[i * kb + p].
static void pack_at(float *ap, const plan *pl, int i0, int mb, int p0, int kb)
{
    const ptrdiff_t lda = pl->lda;
    const float *src = pl->a + (ptrdiff_t)p0 * lda + i0;

    for (int p = 0; p < kb; p++, src += lda)
        for (int i = 0; i < mb; i++)
            ap[(ptrdiff_t)i * kb + p] = src[i];
}

// Copy n floats and zero the rest of an NR-wide row; the common full row
// is a fixed-size copy the compiler turns into vector moves.
static inline void copy_row(float *dst, const float *src, int n, int nr)
{
    if (n == nr) {
        switch (nr) {
        case 8:
            memcpy(dst, src, 8 * sizeof(float));
            return;
        case 16:
            memcpy(dst, src, 16 * sizeof(float));
            return;
        case 32:
            memcpy(dst, src, 32 * sizeof(float));
            return;
        default:
            break;
        }
    }
    memcpy(dst, src, (size_t)n * sizeof(float));
    for (int j = n; j < nr; j++)
        dst[j] = 0.0f;
}

// d[p * stride] = s[p] (or 0 when s is NULL) for p < len.
static void scatter_run(float *restrict d, ptrdiff_t stride,
                        const float *restrict s, int len)
{
    for (int p = 0; p < len; p++)
        d[p * stride] = s ? s[p] : 0.0f;
}

// Pack rows p0..p0+kb-1, columns j0..j0+nb-1 of op(B) into NR-column
// panels: panel q holds bp[q * kb * NR + p * NR + j], columns past nb zero.
__attribute__((noinline)) static void pack_b(float *bp, const plan *pl,
                                             int p0, int kb, int j0, int nb)
{
    const int nr = pl->kern->nr;
    const int panels = ceil_div(nb, nr);
    const ptrdiff_t stride = (ptrdiff_t)kb * nr, ldb = pl->ldb;

    if (pl->tb == LA_NOTRANS) {
        // B is k x n: walk each row of B once, left to right, scattering
        // its NR-wide pieces to the panels. Each row is a short stream
        // that the hardware prefetcher meets late: fetch rows ahead.
        const float *src = pl->b + (ptrdiff_t)p0 * ldb + j0;

        for (int p = 0; p < kb; p++, src += ldb) {
            if (p + PACK_B_AHEAD < kb)
                for (int j = 0; j < nb; j += 16)
                    __builtin_prefetch(src + PACK_B_AHEAD * ldb + j);
            for (int q = 0; q < panels; q++)
                copy_row(bp + q * stride + (ptrdiff_t)p * nr, src + q * nr,
                         imin(nr, nb - q * nr), nr);
        }
    } else {
        // B is n x k: each column of a panel is a contiguous run of B. The
        // transpose goes 16 values of k at a time, so that the NR runs
        // being read and the 16 panel rows being written stay in L1.
        for (int q = 0; q < panels; q++) {
            float *dst = bp + q * stride;
            const float *src = pl->b + (ptrdiff_t)(j0 + q * nr) * ldb + p0;
            int nn = imin(nr, nb - q * nr);

            for (int p1 = 0; p1 < kb; p1 += 16) {
                int len = imin(16, kb - p1);
                float *d = dst + (ptrdiff_t)p1 * nr;

                for (int j = 0; j < nn; j++)
                    scatter_run(d + j, nr, src + (ptrdiff_t)j * ldb + p1,
                                len);
                for (int j = nn; j < nr; j++)
                    scatter_run(d + j, nr, NULL, len);
            }
        }
    }
}

// How the threads share C: a tm x tn grid of row x column ranges (cells),
// each a whole number of tiles, handed out to the threads one cell at a
// time. Each cell packs its own B blocks and never waits for another: on a
// loaded machine a thread that waits at a barrier for a descheduled
// partner loses whole time slices (measured: 5x slower at 2 threads under
// load), which costs far more than packing B twice when the rows are
// split. For the same reason wide products are cut into more column cells
// than threads (each at least NC wide, so B is still packed only once): a
// thread slowed by another process then simply takes fewer cells.
typedef struct grid {
    int tm, tn;
} grid;

// Rows i0..i1-1 and columns j0..j1-1 of C (i0 a multiple of MR, j0 of NR):
// the jc, pc, ic and jr loops.
static void run_block(const plan *pl, int i0, int i1, int j0, int j1,
                      float *ap, float *bp)
{
    const la_sgemm_kernel *kern = pl->kern;
    const int mr = kern->mr, nr = kern->nr;
    int panels = ceil_div(j1 - j0, nr);
    int blocks = ceil_div(j1 - j0, pl->nc);

    // Column blocks of equal width in panels (at most NC columns).
    for (int jb = 0; jb < blocks; jb++) {
        int jc = j0 + (int)((long)panels * jb / blocks) * nr;
        int nb = imin(j1, j0 + (int)((long)panels * (jb + 1) / blocks) * nr)
                 - jc;

        for (int pc = 0; pc < pl->k; pc += pl->kc) {
            int kb = imin(pl->kc, pl->k - pc);
            float beta = pc == 0 ? pl->beta : 1.0f;
            const la_epilogue *ep = pc + kb >= pl->k ? pl->ep : NULL;

            // B block: kb x nb, in L2 for the whole ic loop.
            pack_b(bp, pl, pc, kb, jc, nb);

            for (int ic = i0; ic < i1; ic += mr) {
                int mb = imin(mr, i1 - ic);

                // A panel: mb x kb, in L1 for the whole jr loop. A
                // row-major A is read where it lies; A^T is copied.
                const float *at = ap;
                ptrdiff_t rsa = kb;

                if (pl->ta == LA_NOTRANS) {
                    at = pl->a + (ptrdiff_t)ic * pl->lda + pc;
                    rsa = pl->lda;
                } else {
                    pack_at(ap, pl, ic, mb, pc, kb);
                }
                for (int jr = 0; jr < nb; jr += nr) {
                    float *ct = pl->c + (ptrdiff_t)ic * pl->ldc + jc + jr;

                    kern->ukernel(kb, at, rsa, bp + (ptrdiff_t)jr * kb, ct,
                                  pl->ldc, mb, imin(nr, nb - jr), pl->alpha,
                                  beta, ep, ic, jc + jr);
                }
            }
        }
    }
}

// Cell t of the grid, run by thread `tid` (whose scratch it uses).
static void run_cell(const plan *pl, const grid *g, int t, int tid)
{
    const int mr = pl->kern->mr, nr = pl->kern->nr;
    int pm = ceil_div(pl->m, mr), pn = ceil_div(pl->n, nr);
    int ti = t / g->tn, tj = t % g->tn;
    int i0 = (int)((long)pm * ti / g->tm) * mr;
    int i1 = imin(pl->m, (int)((long)pm * (ti + 1) / g->tm) * mr);
    int j0 = (int)((long)pn * tj / g->tn) * nr;
    int j1 = imin(pl->n, (int)((long)pn * (tj + 1) / g->tn) * nr);
    size_t a_bytes = facet_align_up((size_t)mr * pl->kc * sizeof(float),
                                    FACET_ALIGN);
    char *mine = pl->scratch + (size_t)tid * pl->thread_bytes;

    if (i0 < i1 && j0 < j1)
        run_block(pl, i0, i1, j0, j1, (float *)mine,
                  (float *)(mine + a_bytes));
}

// The grid for a team of `threads`: the tm x tn (tm tn <= threads) that
// minimises the largest cell's micro-kernel flops plus its packing, then
// the column ranges cut further for load balance.
static grid choose_grid(const plan *pl, int threads)
{
    const int mr = pl->kern->mr, nr = pl->kern->nr;
    int pm = ceil_div(pl->m, mr), pn = ceil_div(pl->n, nr);
    double best = -1.0;
    grid g = {1, 1};

    for (int tm = 1; tm <= threads && tm <= pm; tm++) {
        for (int tn = 1; tm * tn <= threads && tn <= pn; tn++) {
            double rows = (double)ceil_div(pm, tm) * mr;
            double cols = (double)ceil_div(pn, tn) * nr;
            double cost = 2.0 * rows * cols * pl->k +
                          PACK_COST * pl->k * cols;

            if (pl->ta == LA_TRANS)
                cost += PACK_COST * pl->k * rows *
                        ceil_div((int)cols, pl->nc);
            if (best < 0.0 || cost < best) {
                best = cost;
                g = (grid){tm, tn};
            }
        }
    }

    // Up to 8 cells per column range, each at least NC columns wide.
    if (threads > 1) {
        int per = pl->n / g.tn / pl->nc;

        g.tn *= per < 1 ? 1 : per > 8 ? 8 : per;
    }
    return g;
}

// C = beta * C, then the epilogue: the whole job when k == 0 or
// alpha == 0 (A and B are not read).
static void scale_only(int m, int n, float beta, float *c, int ldc,
                       const la_epilogue *ep)
{
    for (int i = 0; i < m; i++) {
        float *row = c + (ptrdiff_t)i * ldc;

        for (int j = 0; j < n; j++)
            row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    la_epilogue_apply(c, ldc, m, n, 0, 0, ep);
}

void la_sgemm(la_trans ta, la_trans tb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc, const la_epilogue *ep, void *scratch)
{
    plan pl;
    int threads = facet_threads();
    void *owned = NULL;

    FACET_ASSERT(m >= 0 && n >= 0 && k >= 0);
    FACET_ASSERT(ldc >= (n > 1 ? n : 1));
    FACET_ASSERT(lda >= 1 && lda >= (ta == LA_NOTRANS ? k : m));
    FACET_ASSERT(ldb >= 1 && ldb >= (tb == LA_NOTRANS ? n : k));
    if (m == 0 || n == 0)
        return;
    if (ep && !ep->bias && ep->act == LA_ACT_NONE)
        ep = NULL;
    FACET_ASSERT(!ep || ep->act != LA_ACT_PRELU || ep->slope != NULL);
    if (k == 0 || alpha == 0.0f) {
        scale_only(m, n, beta, c, ldc, ep);
        return;
    }

    // Blocking (from the shape and kernel only) and the thread grid.
    pl = (plan){
        .kern = la_sgemm_kernel_active(),
        .ta = ta, .tb = tb, .m = m, .n = n, .k = k,
        .alpha = alpha, .beta = beta,
        .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc,
        .ep = ep,
    };
    pl.kc = k_block(pl.kern, k);
    pl.nc = n_block(pl.kern, n);
    pl.thread_bytes = thread_bytes(pl.kern, n, k);
    if (2.0 * m * n * k < PARALLEL_MIN_FLOPS || threads < 1)
        threads = 1;

    if (!scratch) {
        owned = facet_alloc(la_sgemm_scratch_size(m, n, k, threads));
        FACET_ASSERT(owned != NULL);
        scratch = owned;
    }
    FACET_ASSERT((uintptr_t)scratch % FACET_ALIGN == 0);
    pl.scratch = scratch;

#ifdef _OPENMP
    if (threads > 1) {
        // The grid is chosen for the team actually granted (all threads
        // choose the same).
#pragma omp parallel num_threads(threads)
        {
            int tid = omp_get_thread_num();
            grid g = choose_grid(&pl, omp_get_num_threads());

#pragma omp for schedule(dynamic, 1)
            for (int cell = 0; cell < g.tm * g.tn; cell++)
                run_cell(&pl, &g, cell, tid);
        }
        facet_free(owned);
        return;
    }
#endif
    grid g = choose_grid(&pl, 1);
    run_cell(&pl, &g, 0, 0);
    facet_free(owned);
}

// tensor.c - tensor views and the activation arena (see nn.h).
//
// The arena is one 64-byte-aligned block; nn_arena_alloc bumps `used` by
// whole 64-byte units, so every pointer it returns is aligned and `peak`
// is the size a network needs to pass to nn_arena_init next time.
//
// Limitations:
// - The arena does not grow: a network sizes it up front (from a dry run or
//   the layers' scratch queries) and a NULL return means it was too small.
#include "nn.h"

nn_tensor nn_tensor_4d(float *data, int n, int c, int h, int w)
{
    nn_tensor t;

    FACET_ASSERT(n >= 0 && c >= 0 && h >= 0 && w >= 0);
    t.data = data;
    t.ndim = 4;
    t.dim[0] = n;
    t.dim[1] = c;
    t.dim[2] = h;
    t.dim[3] = w;
    return t;
}

size_t nn_tensor_count(const nn_tensor *t)
{
    size_t count = 1;

    FACET_ASSERT(t->ndim >= 1 && t->ndim <= NN_MAX_DIMS);
    for (int i = 0; i < t->ndim; i++) {
        FACET_ASSERT(t->dim[i] >= 0);
        FACET_ASSERT(facet_size_mul(&count, count, (size_t)t->dim[i]));
    }
    return count;
}

facet_status nn_arena_init(nn_arena *a, size_t bytes)
{
    size_t block = facet_align_up(bytes, FACET_ALIGN);

    a->base = NULL;
    a->size = a->used = a->peak = 0;
    if (block < bytes)
        return facet_fail(FACET_E_TOO_LARGE, "arena of %zu bytes", bytes);

    // An empty arena still gets a block, so that zero-byte requests (a
    // layer without scratch) return a usable non-NULL pointer.
    a->base = facet_alloc(block ? block : FACET_ALIGN);
    if (!a->base)
        return facet_fail(FACET_E_NOMEM, "arena of %zu bytes", bytes);
    a->size = block;
    return FACET_OK;
}

void nn_arena_release_all(nn_arena *a)
{
    facet_free(a->base);
    a->base = NULL;
    a->size = a->used = a->peak = 0;
}

void *nn_arena_alloc(nn_arena *a, size_t bytes)
{
    size_t need = facet_align_up(bytes, FACET_ALIGN);
    void *p;

    // `used` stays a multiple of 64, so base + used is aligned.
    if (!a->base || need < bytes || need > a->size - a->used)
        return NULL;
    p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

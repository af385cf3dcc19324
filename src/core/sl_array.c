/*
 * sl_array.c: growable arrays in a pool.  Growth allocates a new region
 * from the pool (twice the size) and copies; the old region is left to the
 * pool, which is fine for configuration-time use.
 */
#include "sl_core.h"

int
sl_array_init(struct sl_array *a, struct sl_pool *p, unsigned n, size_t size)
{
    if (n == 0)
        n = 1;
    a->nelts = 0;
    a->nalloc = n;
    a->size = size;
    a->pool = p;
    a->elts = sl_palloc(p, n * size);
    return a->elts == NULL ? SL_ERROR : SL_OK;
}

struct sl_array *
sl_array_create(struct sl_pool *p, unsigned n, size_t size)
{
    struct sl_array *a = sl_palloc(p, sizeof(*a));

    if (a == NULL || sl_array_init(a, p, n, size) != SL_OK)
        return NULL;
    return a;
}

void *
sl_array_push(struct sl_array *a)
{
    void *elt, *n;

    if (a->nelts == a->nalloc) {
        n = sl_palloc(a->pool, 2 * a->nalloc * a->size);
        if (n == NULL)
            return NULL;
        memcpy(n, a->elts, a->nelts * a->size);
        a->elts = n;
        a->nalloc *= 2;
    }
    elt = (char *) a->elts + a->nelts * a->size;
    a->nelts++;
    memset(elt, 0, a->size);
    return elt;
}

/*
 * sl_pool.c: region allocator with cleanups.
 *
 * Small allocations are carved from blocks; allocations larger than a
 * half block go to malloc and are listed so that destroy frees them.
 * Blocks of the default size are kept on a per-process free list instead
 * of going back to malloc, which is what keeps a warm worker malloc-free.
 */
#include "sl_core.h"

#define SL_POOL_ALIGN          16
#define SL_POOL_FREE_MAX       4096   /* default-size blocks kept cached */

static struct sl_pool_block *sl_pool_free_blocks;
static unsigned sl_pool_nfree;

static struct sl_pool_block *
sl_pool_block_get(size_t size)
{
    struct sl_pool_block *b;

    if (size == SL_POOL_DEFAULT_SIZE && sl_pool_free_blocks != NULL) {
        b = sl_pool_free_blocks;
        sl_pool_free_blocks = b->next;
        sl_pool_nfree--;
    } else {
        b = malloc(size);
        if (b == NULL)
            return NULL;
    }
    b->next = NULL;
    b->last = (char *) b + sl_align(sizeof(*b), SL_POOL_ALIGN);
    b->end = (char *) b + size;
    return b;
}

static void
sl_pool_block_put(struct sl_pool_block *b, size_t size)
{
    if (size == SL_POOL_DEFAULT_SIZE && sl_pool_nfree < SL_POOL_FREE_MAX) {
        b->next = sl_pool_free_blocks;
        sl_pool_free_blocks = b;
        sl_pool_nfree++;
        return;
    }
    free(b);
}

size_t
sl_pool_cached_bytes(void)
{
    return (size_t) sl_pool_nfree * SL_POOL_DEFAULT_SIZE;
}

struct sl_pool *
sl_pool_create(size_t size)
{
    struct sl_pool_block *b;
    struct sl_pool *pool;

    if (size < 512)
        size = 512;
    b = sl_pool_block_get(size);
    if (b == NULL)
        return NULL;
    pool = (struct sl_pool *) b->last;
    b->last += sl_align(sizeof(*pool), SL_POOL_ALIGN);
    pool->magic = SL_POOL_MAGIC;
    pool->current = b;
    pool->first = b;
    pool->large = NULL;
    pool->cleanup = NULL;
    pool->block_size = size;
    pool->max_small = size / 2;
    return pool;
}

static void
sl_pool_release(struct sl_pool *pool)
{
    struct sl_pool_cleanup *c;
    struct sl_pool_large *l;

    /* Cleanups run first: they may still read pool memory. */
    for (c = pool->cleanup; c != NULL; c = c->next) {
        if (c->handler != NULL)
            c->handler(c->data);
    }
    pool->cleanup = NULL;
    for (l = pool->large; l != NULL; l = l->next)
        free(l->alloc);
    pool->large = NULL;
}

void
sl_pool_destroy(struct sl_pool *pool)
{
    struct sl_pool_block *b, *next;
    size_t size;

    if (pool == NULL)
        return;
    SL_CHECK_OBJ(pool, SL_POOL_MAGIC);
    sl_pool_release(pool);
    size = pool->block_size;
    pool->magic = 0;
    for (b = pool->first; b != NULL; b = next) {
        next = b->next;
        sl_pool_block_put(b, size);
    }
}

void
sl_pool_reset(struct sl_pool *pool)
{
    struct sl_pool_block *b, *next;

    SL_CHECK_OBJ(pool, SL_POOL_MAGIC);
    sl_pool_release(pool);
    for (b = pool->first->next; b != NULL; b = next) {
        next = b->next;
        sl_pool_block_put(b, pool->block_size);
    }
    b = pool->first;
    b->next = NULL;
    b->last = (char *) b + sl_align(sizeof(*b), SL_POOL_ALIGN)
        + sl_align(sizeof(*pool), SL_POOL_ALIGN);
    pool->current = b;
}

static void *
sl_palloc_large(struct sl_pool *pool, size_t size)
{
    struct sl_pool_large *l;
    void *p;

    p = malloc(size);
    if (p == NULL)
        return NULL;
    l = sl_palloc(pool, sizeof(*l));
    if (l == NULL) {
        free(p);
        return NULL;
    }
    l->alloc = p;
    l->next = pool->large;
    pool->large = l;
    return p;
}

static void *
sl_palloc_small(struct sl_pool *pool, size_t size, int align)
{
    struct sl_pool_block *b, *nb;
    char *m;

    for (b = pool->current; ; b = b->next) {
        m = b->last;
        if (align)
            m = (char *) sl_align((uintptr_t) m, SL_POOL_ALIGN);
        if (m <= b->end && (size_t) (b->end - m) >= size) {
            b->last = m + size;
            return m;
        }
        if (b->next == NULL)
            break;
    }
    nb = sl_pool_block_get(pool->block_size);
    if (nb == NULL)
        return NULL;
    b->next = nb;
    m = nb->last;
    nb->last = m + size;
    /* Skip nearly full blocks so later allocations do not walk them. */
    while (pool->current->next != NULL
           && pool->current->end - pool->current->last < 64)
    {
        pool->current = pool->current->next;
    }
    return m;
}

void *
sl_palloc(struct sl_pool *pool, size_t size)
{
    if (size <= pool->max_small)
        return sl_palloc_small(pool, size, 1);
    return sl_palloc_large(pool, size);
}

void *
sl_pnalloc(struct sl_pool *pool, size_t size)
{
    if (size <= pool->max_small)
        return sl_palloc_small(pool, size, 0);
    return sl_palloc_large(pool, size);
}

void *
sl_pcalloc(struct sl_pool *pool, size_t size)
{
    void *p = sl_palloc(pool, size);

    if (p != NULL)
        memset(p, 0, size);
    return p;
}

int
sl_pfree(struct sl_pool *pool, void *p)
{
    struct sl_pool_large *l;

    for (l = pool->large; l != NULL; l = l->next) {
        if (l->alloc == p) {
            free(p);
            l->alloc = NULL;
            return SL_OK;
        }
    }
    return SL_DECLINED;
}

struct sl_pool_cleanup *
sl_pool_cleanup_add(struct sl_pool *pool, void (*handler)(void *), void *data)
{
    struct sl_pool_cleanup *c;

    c = sl_palloc(pool, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->handler = handler;
    c->data = data;
    c->next = pool->cleanup;
    pool->cleanup = c;
    return c;
}

void
sl_pool_cleanup_fd(void *data)
{
    int *fd = data;

    if (*fd != -1) {
        close(*fd);
        *fd = -1;
    }
}

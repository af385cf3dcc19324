/*
 * sl_pool.h: region allocator.  One pool per connection, a sub-pool per
 * request; everything allocated from a pool is released together when the
 * pool is destroyed or reset.  Resources that are not memory (fds, SSL
 * objects, PCRE2 match data) are released by cleanups registered on the
 * pool, run in reverse order of registration.
 *
 * Pool blocks come from a per-process free list, so that a warm worker
 * creates and destroys pools without calling malloc.
 */
#ifndef SL_POOL_H
#define SL_POOL_H

#define SL_POOL_DEFAULT_SIZE   4096

struct sl_pool_cleanup {
    void                    (*handler)(void *data);
    void                     *data;
    struct sl_pool_cleanup   *next;
};

struct sl_pool_large {
    struct sl_pool_large     *next;
    void                     *alloc;
};

struct sl_pool_block {
    struct sl_pool_block     *next;
    char                     *last;
    char                     *end;
};

struct sl_pool {
    unsigned                  magic;
#define SL_POOL_MAGIC         0x506f4f4cU
    struct sl_pool_block     *current;
    struct sl_pool_block     *first;
    struct sl_pool_large     *large;
    struct sl_pool_cleanup   *cleanup;
    size_t                    block_size;
    size_t                    max_small;
};

/* Returns NULL on allocation failure. size is the block size. */
struct sl_pool *sl_pool_create(size_t size);
void sl_pool_destroy(struct sl_pool *pool);
/* Runs cleanups, frees large allocations, keeps the first block. */
void sl_pool_reset(struct sl_pool *pool);
void *sl_palloc(struct sl_pool *pool, size_t size);     /* aligned */
void *sl_pnalloc(struct sl_pool *pool, size_t size);    /* unaligned */
void *sl_pcalloc(struct sl_pool *pool, size_t size);
/* Frees a large allocation early; returns SL_DECLINED if not large. */
int sl_pfree(struct sl_pool *pool, void *p);
struct sl_pool_cleanup *sl_pool_cleanup_add(struct sl_pool *pool,
    void (*handler)(void *), void *data);
/* Cleanup that closes an fd stored at *data (an int). */
void sl_pool_cleanup_fd(void *data);
/* Bytes held by the per-process block free list (for statistics). */
size_t sl_pool_cached_bytes(void);

#endif /* SL_POOL_H */

/*
 * sl_buf.h: the one buffer type and the one chain type for all I/O.
 *
 * A buffer describes bytes [pos, last) inside memory [start, end).  The
 * memory may belong to a pool, to a per-worker buffer free list, to a
 * shared-memory cache object (shm != NULL, then the reference is released
 * by the owner's cleanup), or describe a file range (in_file).
 */
#ifndef SL_BUF_H
#define SL_BUF_H

struct sl_buf {
    char             *pos;
    char             *last;
    char             *start;
    char             *end;
    off_t             file_pos;
    off_t             file_last;
    int               fd;
    unsigned          temporary:1;   /* writable memory */
    unsigned          in_file:1;
    unsigned          last_buf:1;    /* end of the response */
    unsigned          flush:1;
    unsigned          recycled:1;    /* returned to a free list after send */
    void             *shm;           /* shared-memory object, if any */
};

struct sl_chain {
    struct sl_buf    *buf;
    struct sl_chain  *next;
};

#define sl_buf_size(b)    ((size_t) ((b)->last - (b)->pos))
#define sl_buf_free(b)    ((size_t) ((b)->end - (b)->last))

/* A buffer of size bytes of pool memory; NULL on failure. */
struct sl_buf *sl_buf_create(struct sl_pool *pool, size_t size);
/* A buffer struct pointing at existing memory (not copied). */
struct sl_buf *sl_buf_wrap(struct sl_pool *pool, const char *p, size_t len);
struct sl_chain *sl_chain_alloc(struct sl_pool *pool, struct sl_buf *b);
/* Appends b to the chain at *ll; returns the new tail link or NULL. */
struct sl_chain **sl_chain_append(struct sl_pool *pool,
    struct sl_chain **ll, struct sl_buf *b);

/*
 * Fixed-size I/O buffers recycled through a per-process free list, so that
 * an idle connection holds none and a busy worker mallocs none once warm.
 */
char *sl_iobuf_get(size_t size);
void sl_iobuf_put(char *p, size_t size);

#endif /* SL_BUF_H */

/*
 * sl_buf.c: buffers, chains and the I/O buffer free list.
 */
#include "sl_core.h"

struct sl_buf *
sl_buf_create(struct sl_pool *pool, size_t size)
{
    struct sl_buf *b;

    b = sl_pcalloc(pool, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->start = sl_pnalloc(pool, size);
    if (b->start == NULL)
        return NULL;
    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    b->fd = -1;
    return b;
}

struct sl_buf *
sl_buf_wrap(struct sl_pool *pool, const char *p, size_t len)
{
    struct sl_buf *b;

    b = sl_pcalloc(pool, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->start = b->pos = (char *) p;
    b->end = b->last = (char *) p + len;
    b->fd = -1;
    return b;
}

struct sl_chain *
sl_chain_alloc(struct sl_pool *pool, struct sl_buf *b)
{
    struct sl_chain *cl = sl_palloc(pool, sizeof(*cl));

    if (cl == NULL)
        return NULL;
    cl->buf = b;
    cl->next = NULL;
    return cl;
}

struct sl_chain **
sl_chain_append(struct sl_pool *pool, struct sl_chain **ll, struct sl_buf *b)
{
    struct sl_chain *cl;

    while (*ll != NULL)
        ll = &(*ll)->next;
    cl = sl_chain_alloc(pool, b);
    if (cl == NULL)
        return NULL;
    *ll = cl;
    return &cl->next;
}

/*
 * A free list per size class; the two classes in use are small header
 * buffers and large ones, so a short array of lists is enough.
 */
#define SL_IOBUF_CLASSES   8
#define SL_IOBUF_KEEP      1024

struct sl_iobuf_free {
    size_t        size;
    unsigned      n;
    void         *head;
};

static struct sl_iobuf_free sl_iobuf_free[SL_IOBUF_CLASSES];

char *
sl_iobuf_get(size_t size)
{
    struct sl_iobuf_free *f;
    void *p;
    unsigned i;

    for (i = 0; i < SL_IOBUF_CLASSES; i++) {
        f = &sl_iobuf_free[i];
        if (f->size == size && f->head != NULL) {
            p = f->head;
            f->head = *(void **) p;
            f->n--;
            return p;
        }
    }
    return malloc(size < sizeof(void *) ? sizeof(void *) : size);
}

void
sl_iobuf_put(char *p, size_t size)
{
    struct sl_iobuf_free *f;
    unsigned i;

    if (p == NULL)
        return;
    for (i = 0; i < SL_IOBUF_CLASSES; i++) {
        f = &sl_iobuf_free[i];
        if (f->size == 0)
            f->size = size;
        if (f->size == size) {
            if (f->n >= SL_IOBUF_KEEP)
                break;
            *(void **) p = f->head;
            f->head = p;
            f->n++;
            return;
        }
    }
    free(p);
}

/*
 * sl_array.h: growable arrays allocated from a pool.
 */
#ifndef SL_ARRAY_H
#define SL_ARRAY_H

struct sl_array {
    void             *elts;
    unsigned          nelts;
    unsigned          nalloc;
    size_t            size;
    struct sl_pool   *pool;
};

/* Returns NULL on allocation failure. */
struct sl_array *sl_array_create(struct sl_pool *p, unsigned n, size_t size);
int sl_array_init(struct sl_array *a, struct sl_pool *p, unsigned n,
    size_t size);
/* Returns a pointer to a new zeroed element, NULL on failure. */
void *sl_array_push(struct sl_array *a);

#define sl_array_at(a, type, i)   (&((type *) (a)->elts)[i])

#endif /* SL_ARRAY_H */

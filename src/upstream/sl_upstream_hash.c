/*
 * sl_upstream_hash.c: `hash KEY [consistent];`, nginx's generic hash.
 *
 * KEY is a string with variables ("$request_uri", "$cookie_user$host"),
 * compiled when the configuration is loaded and evaluated per request.
 * An empty key, or a group of fewer than two servers, is balanced by
 * round robin, as nginx does.
 *
 * Without `consistent` the hash is Cache::Memcached's, as nginx computes
 * it: round n adds (crc32(N KEY) >> 16) & 0x7fff to a running sum, where
 * N is n written in decimal and left out of round 0; the sum modulo the
 * total weight, counted off the servers' weights in order, names the
 * server.  A tried, `down`, failed or full server makes another round;
 * after 20 misses in one request the pick falls back to round robin.
 * Adding or removing a server remaps most keys.
 *
 * With `consistent` it is a ketama ring, as nginx builds it (compatible
 * with Cache::Memcached::Fast): a server written "HOST:PORT" gets 160
 * points per unit of weight, the first at crc32(HOST \0 PORT 0000) and
 * each next one at crc32(HOST \0 PORT PREV), PREV the previous point's
 * value in four little-endian bytes; points are sorted and duplicates
 * dropped.  A key goes to the first point at or after crc32(KEY),
 * wrapping around.  The servers at a point are those written with that
 * name (a host name may give several addresses; the smooth weighted
 * round robin chooses among them); when none of them is usable the walk
 * moves on to the next point, and after 20 points to round robin.
 * Removing one of N servers moves only the keys it had, about 1/N.  The
 * ring is built from the configured weights once; runtime weight changes
 * do not move keys.
 *
 * A retry of the same request goes on along the same sequence (rounds or
 * ring points); struct sl_upstream_tried keeps where it stands.
 * `backup` servers cannot be used with hash (nginx refuses them too).
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_crc32.h"
#include "sl_http_variables.h"

#define SL_HASH_MAX_TRIES     20
#define SL_HASH_POINTS        160     /* ring points per unit of weight */

struct sl_hash_point {
    uint32_t                 hash;
    unsigned                 server;  /* index of the first of that name */
};

struct sl_hash_conf {
    unsigned                 magic;
#define SL_HASH_CONF_MAGIC   0x55484153U
    struct sl_http_complex_value *key;
    unsigned                 consistent:1;
    /* the ring (consistent) */
    struct sl_hash_point    *points;
    unsigned                 npoints;
    unsigned                *name_of; /* per server: its name's first */
};

/* `hash KEY [consistent]` */
static int
sl_hash_conf(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_conf_node *n = cf->node;
    struct sl_hash_conf *hcf;

    hcf = sl_pcalloc(cf->pool, sizeof(*hcf));
    if (hcf == NULL)
        return SL_ERROR;
    hcf->magic = SL_HASH_CONF_MAGIC;
    if (n->nargs == 2) {
        if (!sl_str_eq(&n->args[1], "consistent")) {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) n->args[1].len, n->args[1].data);
            return SL_ERROR;
        }
        hcf->consistent = 1;
    }
    hcf->key = sl_http_compile_complex_value(cf, &n->args[0]);
    if (hcf->key == NULL)
        return SL_ERROR;
    u->balancer_data = hcf;
    return SL_OK;
}

static int
sl_hash_point_cmp(const void *a, const void *b)
{
    const struct sl_hash_point *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/*
 * Splits a server's name as nginx does for the ring: the port is the
 * digits after the last ':', if they reach it; otherwise there is none.
 */
static void
sl_hash_split_name(const struct sl_str *name, struct sl_str *host,
    struct sl_str *port)
{
    size_t j;
    char c;

    *host = *name;
    port->data = NULL;
    port->len = 0;
    for (j = 0; j < name->len; j++) {
        c = name->data[name->len - j - 1];
        if (c == ':') {
            host->len = name->len - j - 1;
            port->data = name->data + name->len - j;
            port->len = j;
            return;
        }
        if (c < '0' || c > '9')
            return;
    }
}

/* Builds the ring of u; SL_ERROR when out of memory. */
static int
sl_hash_build_ring(struct sl_conf_ctx *cf, struct sl_upstream *u,
    struct sl_hash_conf *hcf)
{
    struct sl_upstream_server *s = u->servers.elts;
    struct sl_pool *pool = cf != NULL ? cf->pool : u->servers.pool;
    struct sl_str host, port;
    unsigned char prev[4];
    uint32_t base, hash;
    size_t total = 0, n, i, j, k;

    hcf->name_of = sl_palloc(pool, u->nprimary * sizeof(unsigned));
    if (hcf->name_of == NULL)
        return SL_ERROR;
    for (i = 0; i < u->nprimary; i++) {
        for (j = 0; !sl_str_eqstr(&s[j].name, &s[i].name); j++)
            ;
        hcf->name_of[i] = (unsigned) j;
        total += (size_t) s[i].weight * SL_HASH_POINTS;
    }
    hcf->points = sl_palloc(pool, total * sizeof(struct sl_hash_point));
    if (hcf->points == NULL)
        return SL_ERROR;

    n = 0;
    for (i = 0; i < u->nprimary; i++) {
        sl_hash_split_name(&s[i].name, &host, &port);
        sl_crc32_init(base);
        sl_crc32_update(&base, host.data, host.len);
        sl_crc32_update(&base, "", 1);
        sl_crc32_update(&base, port.data, port.len);
        memset(prev, 0, sizeof(prev));
        for (j = 0; j < (size_t) s[i].weight * SL_HASH_POINTS; j++) {
            hash = base;
            sl_crc32_update(&hash, prev, 4);
            sl_crc32_final(hash);
            hcf->points[n].hash = hash;
            hcf->points[n].server = hcf->name_of[i];
            n++;
            prev[0] = (unsigned char) (hash & 0xff);
            prev[1] = (unsigned char) ((hash >> 8) & 0xff);
            prev[2] = (unsigned char) ((hash >> 16) & 0xff);
            prev[3] = (unsigned char) ((hash >> 24) & 0xff);
        }
    }
    qsort(hcf->points, n, sizeof(struct sl_hash_point), sl_hash_point_cmp);
    for (i = 0, k = 1; k < n; k++) {
        if (hcf->points[i].hash != hcf->points[k].hash)
            hcf->points[++i] = hcf->points[k];
    }
    hcf->npoints = (unsigned) (i + 1);
    return SL_OK;
}

static int
sl_hash_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_hash_conf *hcf = u->balancer_data;

    SL_CHECK_OBJ_NOTNULL(hcf, SL_HASH_CONF_MAGIC);
    if (sl_upstream_servers_init(cf, u) != SL_OK)
        return SL_ERROR;
    if (hcf->consistent && sl_hash_build_ring(cf, u, hcf) != SL_OK) {
        if (cf != NULL)
            sl_conf_node_error(cf, NULL, "%s:%u: out of memory for the "
                               "hash ring of upstream \"%.*s\"", u->file,
                               u->line, (int) u->name.len, u->name.data);
        return SL_ERROR;
    }
    return SL_OK;
}

/* The index of the first ring point at or after hash (npoints: wrap). */
static unsigned
sl_hash_find_point(const struct sl_hash_conf *hcf, uint32_t hash)
{
    unsigned i = 0, j = hcf->npoints, k;

    while (i < j) {
        k = i + (j - i) / 2;
        if (hash > hcf->points[k].hash)
            i = k + 1;
        else if (hash < hcf->points[k].hash)
            j = k;
        else
            return k;
    }
    return i;
}

/* The key of r, or the empty string (no request, no memory). */
static void
sl_hash_key(const struct sl_hash_conf *hcf, struct sl_http_request *r,
    struct sl_str *key)
{
    key->data = NULL;
    key->len = 0;
    if (r != NULL && sl_http_complex_value(r, hcf->key, key) != SL_OK)
        key->len = 0;
}

/* Without `consistent`: rounds of the Cache::Memcached hash. */
static struct sl_upstream_server *
sl_hash_get_plain(struct sl_upstream *u, const struct sl_str *key,
    struct sl_upstream_tried *tried, int64_t total, unsigned *index)
{
    struct sl_upstream_server *s = u->servers.elts;
    char buf[16];
    uint32_t crc;
    int64_t w;
    unsigned p;
    int n, full;

    for (;;) {
        sl_crc32_init(crc);
        if (tried->rehash > 0) {
            n = snprintf(buf, sizeof(buf), "%u", tried->rehash);
            sl_crc32_update(&crc, buf, (size_t) n);
        }
        sl_crc32_update(&crc, key->data, key->len);
        sl_crc32_final(crc);
        tried->hash += (crc >> 16) & 0x7fff;
        tried->rehash++;

        w = tried->hash % total;
        for (p = 0; w >= sl_upstream_server_weight(&s[p]); p++)
            w -= sl_upstream_server_weight(&s[p]);
        if (!sl_upstream_tried_test(tried, p)
            && sl_upstream_server_usable(u, &s[p], &full))
        {
            *index = p;
            return &s[p];
        }
        if (++tried->tries > SL_HASH_MAX_TRIES)
            return NULL;
    }
}

/* With `consistent`: the ring, from where the request stands. */
static struct sl_upstream_server *
sl_hash_get_ring(struct sl_upstream *u, const struct sl_hash_conf *hcf,
    struct sl_upstream_tried *tried, unsigned *index)
{
    struct sl_upstream_server *s = u->servers.elts, *best;
    unsigned i, name;
    int total, full;

    for (;;) {
        name = hcf->points[tried->hash % hcf->npoints].server;
        best = NULL;
        total = 0;
        for (i = name; i < u->nprimary; i++) {
            if (hcf->name_of[i] != name
                || sl_upstream_tried_test(tried, i)
                || !sl_upstream_server_usable(u, &s[i], &full))
            {
                continue;
            }
            s[i].current_weight += s[i].effective_weight;
            total += s[i].effective_weight;
            if (s[i].effective_weight > sl_upstream_server_weight(&s[i]))
                s[i].effective_weight = sl_upstream_server_weight(&s[i]);
            else if (s[i].effective_weight < sl_upstream_server_weight(&s[i]))
                s[i].effective_weight++;
            if (best == NULL || s[i].current_weight > best->current_weight) {
                best = &s[i];
                *index = i;
            }
        }
        if (best != NULL) {
            best->current_weight -= total;
            return best;
        }
        tried->hash++;
        if (++tried->tries > SL_HASH_MAX_TRIES)
            return NULL;
    }
}

static struct sl_upstream_server *
sl_hash_get(struct sl_upstream *u, struct sl_http_request *r,
    struct sl_upstream_tried *tried, int *all_full)
{
    struct sl_hash_conf *hcf = u->balancer_data;
    struct sl_upstream_server *s = u->servers.elts, *pick;
    struct sl_upstream_tried scratch;
    struct sl_str key;
    int64_t total = 0;
    unsigned i, index = 0;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    SL_CHECK_OBJ_NOTNULL(hcf, SL_HASH_CONF_MAGIC);
    if (tried == NULL) {
        memset(&scratch, 0, sizeof(scratch));
        tried = &scratch;
    }
    for (i = 0; i < u->nprimary; i++)
        total += sl_upstream_server_weight(&s[i]);
    if (tried->tries > SL_HASH_MAX_TRIES || u->nprimary < 2 || total <= 0)
        goto round_robin;

    if (hcf->consistent) {
        if (!tried->started) {
            sl_hash_key(hcf, r, &key);
            if (key.len == 0)
                goto round_robin;
            tried->hash = sl_hash_find_point(hcf, sl_crc32(key.data,
                                                           key.len));
            tried->started = 1;
        }
        pick = sl_hash_get_ring(u, hcf, tried, &index);
    } else {
        sl_hash_key(hcf, r, &key);
        if (key.len == 0)
            goto round_robin;
        pick = sl_hash_get_plain(u, &key, tried, total, &index);
    }
    if (pick == NULL)
        goto round_robin;
    sl_upstream_tried_set(tried, index);
    sl_upstream_server_acquire(u, pick);
    if (all_full != NULL)
        *all_full = 0;
    return pick;

round_robin:
    return sl_balancer_round_robin.get(u, r, tried, all_full);
}

const struct sl_balancer sl_balancer_hash = {
    "hash", sl_hash_init, sl_hash_get, sl_upstream_server_release,
    sl_hash_conf, 0
};

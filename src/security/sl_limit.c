/*
 * sl_limit.c: request rate and concurrency limits, shared by all workers.
 *
 *   limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m;        http
 *   limit_req zone=NAME [burst=N] [nodelay | delay=N];      http, server,
 *   limit_req_status CODE;  limit_req_dry_run on | off;     location
 *   limit_conn_zone KEY zone=NAME:SIZE;                     http
 *   limit_conn ZONE N;                                      http, server,
 *   limit_conn_status CODE; limit_conn_dry_run on | off;    location
 *   limit_conn_accept ZONE N;                               http
 *
 * Each zone is a shared-memory zone of its own (so it survives a reload
 * with the same name and size): a header with a robust process-shared
 * mutex, a hash table of fixed-size nodes, a free list and an LRU list.
 * When the zone is full the least recently used key is evicted (and a
 * warning logged at most once a minute).  limit_req keeps nginx's leaky
 * bucket per key (excess in milli-requests); limit_conn counts requests in
 * flight per key and gives the count back from a cleanup on the request
 * pool, however the request ends.
 *
 * limit_conn_accept counts connections instead, from accept to close, so
 * that connections still in the TLS handshake or sending their head (which
 * limit_conn cannot see) are bounded per address too.  Only the peer
 * address is known at accept, so its zone's key must be $binary_remote_addr
 * or $remote_addr, and the server block is not chosen yet, so the cap is
 * set once for the whole http block.  A connection over the cap is closed
 * at once without a byte; the connection carries a bit saying it was
 * counted, and the HTTP layer gives the count back when it closes it
 * (sl_limit_conn_close), however the connection ends.
 *
 * A location with limit_req (or limit_conn) lines replaces its parent's
 * list; the status and dry-run settings are inherited one by one.
 */
#include "sl_core.h"
#include "sl_http_stats.h"
#include "sl_security.h"
#include "sl_http_variables.h"
#include "sl_shm.h"
#include "sl_event.h"

#include <pthread.h>
#include <openssl/evp.h>

enum { SL_LIMIT_REQ = 1, SL_LIMIT_CONN };

/* ---- the shared table -------------------------------------------------- */

#define SL_LIMIT_KEY_MAX     64     /* longer keys are stored as SHA-256 */
#define SL_LIMIT_KEY_HASHED  0x8000
#define SL_LIMIT_EXPIRE      60000  /* an idle limit_req state may go */
#define SL_LIMIT_MIN_SIZE    (32 * 1024)

struct sl_limit_node {
    uint32_t                hnext;      /* hash chain (index + 1; 0: end) */
    uint32_t                prev;       /* LRU, towards the newest */
    uint32_t                next;       /* LRU, towards the oldest */
    uint32_t                hash;
    uint16_t                klen;       /* | SL_LIMIT_KEY_HASHED */
    uint16_t                used;
    uint32_t                conns;      /* limit_conn */
    int64_t                 excess;     /* limit_req, milli-requests */
    int64_t                 last;       /* limit_req, monotonic ms */
    unsigned char           key[SL_LIMIT_KEY_MAX];
};

struct sl_limit_sh {
    unsigned                magic;
#define SL_LIMIT_SH_MAGIC   0x4c494d54U
    unsigned                kind;
    uint32_t                node_size;  /* layout check at reload */
    uint32_t                nnodes;
    uint32_t                nbuckets;
    uint32_t                free;       /* free list through hnext */
    uint32_t                newest;     /* LRU ends */
    uint32_t                oldest;
    uint32_t                nused;
    int64_t                 warned;     /* last "zone full" warning */
    uint64_t                evicted;
    pthread_mutex_t         mutex;      /* robust, process-shared */
    uint32_t               *buckets;    /* in the zone: same address in */
    struct sl_limit_node   *nodes;      /* every process */
};

/* A limit_req_zone or limit_conn_zone (shm_zone->ctx). */
struct sl_limit_zone {
    unsigned                magic;
#define SL_LIMIT_ZONE_MAGIC 0x4c5a4f4eU
    int                     kind;
    struct sl_str           name;
    struct sl_http_complex_value *key;
    int64_t                 rate;       /* milli-requests per second */
    struct sl_shm_zone     *shm;
    struct sl_str           key_text;   /* as written, for checks */
};

/* One limit_req or limit_conn line. */
struct sl_limit_ref {
    struct sl_shm_zone     *shm;
    int64_t                 burst;      /* limit_req, milli-requests */
    int64_t                 delay;      /* limit_req, milli-requests */
    uint32_t                conns;      /* limit_conn, limit_conn_accept */
    const char             *file;
    unsigned                line;
    unsigned                accept:1;   /* a limit_conn_accept line */
    unsigned                text_key:1; /* its key is $remote_addr */
};

struct sl_limit_loc_conf {
    struct sl_array        *reqs;       /* struct sl_limit_ref */
    struct sl_array        *conns;      /* struct sl_limit_ref */
    int64_t                 req_status;
    int64_t                 conn_status;
    int                     req_dry_run;
    int                     conn_dry_run;
};

struct sl_limit_main_conf {
    struct sl_array         refs;       /* struct sl_limit_ref (copies) */
    struct sl_array         accepts;    /* struct sl_limit_ref */
    int                     accept_dry_run; /* http-level limit_conn_dry_run */
};

#define SL_LIMIT_ACCEPT_MAX  4

static int sl_limit_tag_req, sl_limit_tag_conn;     /* zone tags */

static const int64_t sl_limit_status_max = 599;

static int sl_limit_set_zone(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_limit_set_req(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_limit_set_conn(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_limit_set_status(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_limit_set_accept(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_LIMIT_CTX  (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const struct sl_conf_cmd sl_limit_cmds[] = {
    { "limit_req_zone", SL_CONF_HTTP | SL_CONF_TAKE23 | SL_CONF_MULTI,
      sl_limit_set_zone, SL_CONF_LEVEL_HTTP_MAIN, SL_LIMIT_REQ, NULL },
    { "limit_req", SL_LIMIT_CTX | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_limit_set_req, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "limit_req_status", SL_LIMIT_CTX | SL_CONF_TAKE1, sl_limit_set_status,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_limit_loc_conf, req_status), NULL },
    { "limit_req_dry_run", SL_LIMIT_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_limit_loc_conf, req_dry_run), NULL },
    { "limit_conn_zone", SL_CONF_HTTP | SL_CONF_TAKE2 | SL_CONF_MULTI,
      sl_limit_set_zone, SL_CONF_LEVEL_HTTP_MAIN, SL_LIMIT_CONN, NULL },
    { "limit_conn", SL_LIMIT_CTX | SL_CONF_TAKE2 | SL_CONF_MULTI,
      sl_limit_set_conn, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "limit_conn_status", SL_LIMIT_CTX | SL_CONF_TAKE1, sl_limit_set_status,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_limit_loc_conf, conn_status), NULL },
    { "limit_conn_dry_run", SL_LIMIT_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_limit_loc_conf, conn_dry_run), NULL },
    { "limit_conn_accept", SL_CONF_HTTP | SL_CONF_TAKE2 | SL_CONF_MULTI,
      sl_limit_set_accept, SL_CONF_LEVEL_HTTP_MAIN, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- the leaky bucket ---------------------------------------------------- */

int
sl_limit_req_leak(int64_t *excess, sl_msec_t *last, sl_msec_t now,
    int64_t rate, int64_t burst, int64_t delay, int account,
    sl_msec_t *delay_ms)
{
    sl_msec_t ms;
    int64_t e;

    ms = now - *last;
    if (ms < -60000)
        ms = 1;         /* the clock went back a lot: start over */
    else if (ms < 0)
        ms = 0;
    e = *excess - rate * ms / 1000 + 1000;
    if (e < 0)
        e = 0;
    if (e > burst)
        return SL_BUSY;
    if (account) {
        *excess = e;
        /* Unchanged within the same millisecond, as nginx does. */
        if (ms)
            *last = now;
    }
    *delay_ms = e <= delay ? 0 : (sl_msec_t) ((e - delay) * 1000 / rate);
    return SL_OK;
}

/* ---- the table ----------------------------------------------------------- */

#define SL_NODE(sh, i)  (&(sh)->nodes[(i) - 1])

static void
sl_limit_sh_reset(struct sl_limit_sh *sh)
{
    uint32_t i;

    memset(sh->buckets, 0, sh->nbuckets * sizeof(uint32_t));
    for (i = 1; i <= sh->nnodes; i++) {
        SL_NODE(sh, i)->used = 0;
        SL_NODE(sh, i)->hnext = i < sh->nnodes ? i + 1 : 0;
    }
    sh->free = sh->nnodes ? 1 : 0;
    sh->newest = sh->oldest = 0;
    sh->nused = 0;
}

/*
 * Takes the zone's lock.  A process that died holding it leaves the lists
 * possibly half-changed: the table is then emptied (limits start over,
 * which errs on the side of letting requests through).
 */
static int
sl_limit_lock(struct sl_limit_sh *sh, const struct sl_str *name)
{
    int rc;

    rc = pthread_mutex_lock(&sh->mutex);
    if (rc == 0)
        return SL_OK;
    if (rc == EOWNERDEAD) {
        sl_log_error(SL_LOG_WARN, 0, "a process died holding the lock of "
                     "limit zone \"%.*s\": its state is reset",
                     (int) name->len, name->data);
        sl_limit_sh_reset(sh);
        pthread_mutex_consistent(&sh->mutex);
        return SL_OK;
    }
    sl_log_error(SL_LOG_ALERT, rc, "pthread_mutex_lock() failed for limit "
                 "zone \"%.*s\"", (int) name->len, name->data);
    return SL_ERROR;
}

static void
sl_limit_unlock(struct sl_limit_sh *sh)
{
    pthread_mutex_unlock(&sh->mutex);
}

static void
sl_limit_lru_unlink(struct sl_limit_sh *sh, uint32_t i)
{
    struct sl_limit_node *n = SL_NODE(sh, i);

    if (n->prev)
        SL_NODE(sh, n->prev)->next = n->next;
    else
        sh->newest = n->next;
    if (n->next)
        SL_NODE(sh, n->next)->prev = n->prev;
    else
        sh->oldest = n->prev;
    n->prev = n->next = 0;
}

static void
sl_limit_lru_push(struct sl_limit_sh *sh, uint32_t i)
{
    struct sl_limit_node *n = SL_NODE(sh, i);

    n->prev = 0;
    n->next = sh->newest;
    if (sh->newest)
        SL_NODE(sh, sh->newest)->prev = i;
    sh->newest = i;
    if (sh->oldest == 0)
        sh->oldest = i;
}

static uint32_t
sl_limit_find(struct sl_limit_sh *sh, uint32_t hash, const unsigned char *key,
    uint16_t klen)
{
    struct sl_limit_node *n;
    uint32_t i;

    for (i = sh->buckets[hash % sh->nbuckets]; i != 0; i = n->hnext) {
        n = SL_NODE(sh, i);
        if (n->hash == hash && n->klen == klen
            && memcmp(n->key, key, klen & ~SL_LIMIT_KEY_HASHED) == 0)
        {
            return i;
        }
    }
    return 0;
}

static void
sl_limit_free_node(struct sl_limit_sh *sh, uint32_t i)
{
    struct sl_limit_node *n = SL_NODE(sh, i);
    uint32_t *pp;

    for (pp = &sh->buckets[n->hash % sh->nbuckets]; *pp != 0;
         pp = &SL_NODE(sh, *pp)->hnext)
    {
        if (*pp == i) {
            *pp = n->hnext;
            break;
        }
    }
    sl_limit_lru_unlink(sh, i);
    n->used = 0;
    n->hnext = sh->free;
    sh->free = i;
    sh->nused--;
}

/* A new node for key, evicting the least recently used one if need be. */
static uint32_t
sl_limit_alloc(struct sl_limit_sh *sh, const struct sl_str *name,
    uint32_t hash, const unsigned char *key, uint16_t klen)
{
    struct sl_limit_node *n;
    uint32_t i;

    if (sh->free == 0) {
        if (sh->oldest == 0)
            return 0;
        sh->evicted++;
        if (sl_time_msec - sh->warned >= 60000) {
            sh->warned = sl_time_msec;
            sl_log_error(SL_LOG_WARN, 0, "limit zone \"%.*s\" is full (%u "
                         "keys): evicting the least recently used keys "
                         "(%llu so far)", (int) name->len, name->data,
                         sh->nnodes, (unsigned long long) sh->evicted);
        }
        sl_limit_free_node(sh, sh->oldest);
    }
    i = sh->free;
    n = SL_NODE(sh, i);
    sh->free = n->hnext;
    memset(n, 0, sizeof(*n));
    n->used = 1;
    n->hash = hash;
    n->klen = klen;
    memcpy(n->key, key, klen & ~SL_LIMIT_KEY_HASHED);
    n->hnext = sh->buckets[hash % sh->nbuckets];
    sh->buckets[hash % sh->nbuckets] = i;
    sl_limit_lru_push(sh, i);
    sh->nused++;
    return i;
}

/* The stored form of a key: itself, or its SHA-256 when too long. */
struct sl_limit_key {
    unsigned char           data[SL_LIMIT_KEY_MAX];
    uint16_t                len;
    uint32_t                hash;
};

static int
sl_limit_make_key(const struct sl_str *v, struct sl_limit_key *k)
{
    unsigned int mdlen;
    uint32_t h = 2166136261u;
    size_t i, n;

    if (v->len <= SL_LIMIT_KEY_MAX) {
        memcpy(k->data, v->data, v->len);
        k->len = (uint16_t) v->len;
        n = v->len;
    } else {
        if (EVP_Digest(v->data, v->len, k->data, &mdlen, EVP_sha256(), NULL)
            != 1)
        {
            return SL_ERROR;
        }
        k->len = (uint16_t) (mdlen | SL_LIMIT_KEY_HASHED);
        n = mdlen;
    }
    for (i = 0; i < n; i++) {
        h ^= k->data[i];
        h *= 16777619u;
    }
    k->hash = h;
    return SL_OK;
}

/* ---- zones ------------------------------------------------------------- */

static int
sl_limit_zone_init(struct sl_shm_zone *zone, void *old_data)
{
    struct sl_limit_zone *lz = zone->ctx;
    struct sl_limit_sh *sh;
    pthread_mutexattr_t attr;
    size_t off, avail;
    int rc;

    SL_CHECK_OBJ_NOTNULL(lz, SL_LIMIT_ZONE_MAGIC);
    sh = old_data;
    if (sh != NULL && sh->magic == SL_LIMIT_SH_MAGIC
        && sh->kind == (unsigned) lz->kind
        && sh->node_size == sizeof(struct sl_limit_node))
    {
        zone->data = sh;        /* the limits carry on */
        return SL_OK;
    }
    off = sl_align(sizeof(struct sl_shm_header), 64);
    sh = (struct sl_limit_sh *) ((char *) zone->addr + off);
    memset(sh, 0, sizeof(*sh));
    off = sl_align(off + sizeof(*sh), 64);
    avail = zone->size - off;
    sh->magic = SL_LIMIT_SH_MAGIC;
    sh->kind = (unsigned) lz->kind;
    sh->node_size = sizeof(struct sl_limit_node);
    sh->nnodes = (uint32_t) ((avail - 64)
                             / (sizeof(struct sl_limit_node)
                                + sizeof(uint32_t)));
    sh->nbuckets = sh->nnodes;
    sh->buckets = (uint32_t *) ((char *) zone->addr + off);
    off = sl_align(off + sh->nbuckets * sizeof(uint32_t), 64);
    sh->nodes = (struct sl_limit_node *) ((char *) zone->addr + off);
    SL_ASSERT(off + sh->nnodes * sizeof(struct sl_limit_node) <= zone->size);
    sl_limit_sh_reset(sh);

    if ((rc = pthread_mutexattr_init(&attr)) != 0
        || (rc = pthread_mutexattr_setpshared(&attr,
                                              PTHREAD_PROCESS_SHARED)) != 0
        || (rc = pthread_mutexattr_setrobust(&attr,
                                             PTHREAD_MUTEX_ROBUST)) != 0
        || (rc = pthread_mutex_init(&sh->mutex, &attr)) != 0)
    {
        sl_log_error(SL_LOG_EMERG, rc, "pthread_mutex_init() failed for "
                     "limit zone \"%.*s\"", (int) lz->name.len,
                     lz->name.data);
        return SL_ERROR;
    }
    pthread_mutexattr_destroy(&attr);
    zone->data = sh;
    return SL_OK;
}

/* "zone=NAME:SIZE" -> name and size. */
static int
sl_limit_parse_zone(struct sl_conf_ctx *cf, const struct sl_str *a,
    struct sl_str *name, off_t *size)
{
    const char *colon;
    struct sl_str s;

    if (a->len <= 5 || memcmp(a->data, "zone=", 5) != 0)
        return SL_DECLINED;
    name->data = a->data + 5;
    name->len = a->len - 5;
    colon = memchr(name->data, ':', name->len);
    if (colon == NULL || colon == name->data) {
        sl_conf_error(cf, "invalid zone size \"%.*s\"", (int) a->len,
                      a->data);
        return SL_ERROR;
    }
    s.data = (char *) colon + 1;
    s.len = (size_t) (name->data + name->len - s.data);
    name->len = (size_t) (colon - name->data);
    if (sl_conf_parse_size(&s, size) != SL_OK || *size <= 0) {
        sl_conf_error(cf, "invalid zone size \"%.*s\"", (int) a->len,
                      a->data);
        return SL_ERROR;
    }
    if (*size < SL_LIMIT_MIN_SIZE) {
        sl_conf_error(cf, "zone \"%.*s\" is too small (at least 32k)",
                      (int) name->len, name->data);
        return SL_ERROR;
    }
    *size = (off_t) sl_align((size_t) *size, 4096);
    return SL_OK;
}

/*
 * limit_req_zone KEY zone=NAME:SIZE rate=RATE;
 * limit_conn_zone KEY zone=NAME:SIZE;
 * cmd->offset says which.
 */
static int
sl_limit_set_zone(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_str *args = cf->node->args, name = { 0 }, v;
    struct sl_limit_zone *lz;
    struct sl_shm_zone *shm;
    int kind = (int) cmd->offset;
    int64_t rate = 0, n;
    off_t size = 0;
    unsigned i;
    int rc;

    for (i = 1; i < cf->node->nargs; i++) {
        rc = sl_limit_parse_zone(cf, &args[i], &name, &size);
        if (rc == SL_OK)
            continue;
        if (rc == SL_ERROR)
            return SL_ERROR;
        if (kind == SL_LIMIT_REQ && args[i].len > 5
            && memcmp(args[i].data, "rate=", 5) == 0)
        {
            v.data = args[i].data + 5;
            v.len = args[i].len - 5;
            if (v.len > 3
                && (memcmp(v.data + v.len - 3, "r/s", 3) == 0
                    || memcmp(v.data + v.len - 3, "r/m", 3) == 0))
            {
                int per_min = v.data[v.len - 1] == 'm';

                v.len -= 3;
                if (sl_conf_parse_int(&v, &n) == SL_OK && n > 0
                    && n <= 1000000)
                {
                    rate = per_min ? n * 1000 / 60 : n * 1000;
                    if (rate == 0)
                        rate = 1;
                    continue;
                }
            }
            sl_conf_error(cf, "invalid rate \"%.*s\"", (int) args[i].len,
                          args[i].data);
            return SL_ERROR;
        }
        sl_conf_error(cf, "invalid parameter \"%.*s\"", (int) args[i].len,
                      args[i].data);
        return SL_ERROR;
    }
    if (name.data == NULL) {
        sl_conf_error(cf, "\"%s\" must have \"zone\" parameter", cmd->name);
        return SL_ERROR;
    }
    if (kind == SL_LIMIT_REQ && rate == 0) {
        sl_conf_error(cf, "\"%s\" must have \"rate\" parameter", cmd->name);
        return SL_ERROR;
    }
    shm = sl_shm_zone_add(cf, &name, (size_t) size,
                          kind == SL_LIMIT_REQ ? (void *) &sl_limit_tag_req
                                               : (void *) &sl_limit_tag_conn);
    if (shm == NULL)
        return SL_ERROR;
    if (shm->ctx != NULL) {
        sl_conf_error(cf, "zone \"%.*s\" is already declared",
                      (int) name.len, name.data);
        return SL_ERROR;
    }
    lz = sl_pcalloc(cf->pool, sizeof(*lz));
    if (lz == NULL)
        return SL_ERROR;
    lz->magic = SL_LIMIT_ZONE_MAGIC;
    lz->kind = kind;
    lz->name = shm->name;
    lz->rate = rate;
    lz->shm = shm;
    lz->key_text = args[0];
    lz->key = sl_http_compile_complex_value(cf, &args[0]);
    if (lz->key == NULL)
        return SL_ERROR;
    shm->ctx = lz;
    shm->init = sl_limit_zone_init;
    return SL_OK;
}

static struct sl_limit_ref *
sl_limit_add_ref(struct sl_conf_ctx *cf, struct sl_array **list,
    const struct sl_str *name, void *tag)
{
    struct sl_limit_main_conf *lmcf;
    struct sl_limit_ref *ref, *rp;
    struct sl_shm_zone *shm;

    shm = sl_shm_zone_add(cf, name, 0, tag);
    if (shm == NULL)
        return NULL;
    if (*list == SL_CONF_UNSET_PTR) {
        *list = sl_array_create(cf->pool, 2, sizeof(*ref));
        if (*list == NULL)
            return NULL;
    }
    ref = sl_array_push(*list);
    lmcf = cf->http_main_conf[sl_limit_module.index];
    rp = sl_array_push(&lmcf->refs);
    if (ref == NULL || rp == NULL)
        return NULL;
    memset(ref, 0, sizeof(*ref));
    ref->shm = shm;
    ref->file = cf->node->file;
    ref->line = cf->node->line;
    *rp = *ref;
    return ref;
}

/* limit_req zone=NAME [burst=N] [nodelay | delay=N]; */
static int
sl_limit_set_req(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_limit_loc_conf *llcf = conf;
    struct sl_str *args = cf->node->args, name = { 0 }, v;
    struct sl_limit_ref *ref;
    int64_t burst = 0, delay = 0, n;
    unsigned i;
    int nodelay = 0, has_delay = 0;

    for (i = 0; i < cf->node->nargs; i++) {
        v = args[i];
        if (v.len > 5 && memcmp(v.data, "zone=", 5) == 0) {
            name.data = v.data + 5;
            name.len = v.len - 5;
            continue;
        }
        if (sl_str_eq(&v, "nodelay")) {
            nodelay = 1;
            continue;
        }
        if (v.len > 6 && memcmp(v.data, "burst=", 6) == 0) {
            v.data += 6;
            v.len -= 6;
            if (sl_conf_parse_int(&v, &n) != SL_OK || n > 1000000) {
                sl_conf_error(cf, "invalid burst value \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
            burst = n;
            continue;
        }
        if (v.len > 6 && memcmp(v.data, "delay=", 6) == 0) {
            v.data += 6;
            v.len -= 6;
            if (sl_conf_parse_int(&v, &n) != SL_OK || n > 1000000) {
                sl_conf_error(cf, "invalid delay value \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
            delay = n;
            has_delay = 1;
            continue;
        }
        sl_conf_error(cf, "invalid parameter \"%.*s\"", (int) args[i].len,
                      args[i].data);
        return SL_ERROR;
    }
    if (name.data == NULL) {
        sl_conf_error(cf, "\"limit_req\" must have \"zone\" parameter");
        return SL_ERROR;
    }
    if (nodelay && has_delay) {
        sl_conf_error(cf, "\"nodelay\" and \"delay\" are mutually exclusive");
        return SL_ERROR;
    }
    if (llcf->reqs != SL_CONF_UNSET_PTR && llcf->reqs->nelts >= 8) {
        sl_conf_error(cf, "too many \"limit_req\" directives (at most 8)");
        return SL_ERROR;
    }
    ref = sl_limit_add_ref(cf, &llcf->reqs, &name, &sl_limit_tag_req);
    if (ref == NULL)
        return SL_ERROR;
    ref->burst = burst * 1000;
    ref->delay = nodelay ? SL_LIMIT_NODELAY : delay * 1000;
    return SL_OK;
}

/* limit_conn ZONE N; */
static int
sl_limit_set_conn(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_limit_loc_conf *llcf = conf;
    struct sl_str *args = cf->node->args;
    struct sl_limit_ref *ref;
    int64_t n;

    if (sl_conf_parse_int(&args[1], &n) != SL_OK || n <= 0 || n > 65535) {
        sl_conf_error(cf, "invalid number of connections \"%.*s\"",
                      (int) args[1].len, args[1].data);
        return SL_ERROR;
    }
    ref = sl_limit_add_ref(cf, &llcf->conns, &args[0], &sl_limit_tag_conn);
    if (ref == NULL)
        return SL_ERROR;
    ref->conns = (uint32_t) n;
    return SL_OK;
}

/*
 * limit_conn_accept ZONE N;  The zone's key is checked once all zones
 * are declared (sl_limit_init_http_main).
 */
static int
sl_limit_set_accept(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_limit_main_conf *lmcf = conf;
    struct sl_str *args = cf->node->args;
    struct sl_limit_ref *ref, *rp;
    struct sl_shm_zone *shm;
    int64_t n;

    if (sl_conf_parse_int(&args[1], &n) != SL_OK || n <= 0 || n > 65535) {
        sl_conf_error(cf, "invalid number of connections \"%.*s\"",
                      (int) args[1].len, args[1].data);
        return SL_ERROR;
    }
    if (lmcf->accepts.nelts >= SL_LIMIT_ACCEPT_MAX) {
        sl_conf_error(cf, "too many \"limit_conn_accept\" directives (at "
                      "most %d)", SL_LIMIT_ACCEPT_MAX);
        return SL_ERROR;
    }
    shm = sl_shm_zone_add(cf, &args[0], 0, &sl_limit_tag_conn);
    if (shm == NULL)
        return SL_ERROR;
    ref = sl_array_push(&lmcf->accepts);
    rp = sl_array_push(&lmcf->refs);
    if (ref == NULL || rp == NULL)
        return SL_ERROR;
    memset(ref, 0, sizeof(*ref));
    ref->shm = shm;
    ref->conns = (uint32_t) n;
    ref->file = cf->node->file;
    ref->line = cf->node->line;
    ref->accept = 1;
    *rp = *ref;
    return SL_OK;
}

static int
sl_limit_set_status(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    int64_t *v = (int64_t *) ((char *) conf + cmd->offset);

    if (sl_conf_parse_int(&cf->node->args[0], v) != SL_OK || *v < 400
        || *v > sl_limit_status_max)
    {
        sl_conf_error(cf, "value \"%.*s\" in \"%s\" directive must be "
                      "between 400 and 599", (int) cf->node->args[0].len,
                      cf->node->args[0].data, cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

static void *
sl_limit_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_limit_loc_conf *llcf = sl_pcalloc(cf->pool, sizeof(*llcf));

    if (llcf == NULL)
        return NULL;
    llcf->reqs = SL_CONF_UNSET_PTR;
    llcf->conns = SL_CONF_UNSET_PTR;
    llcf->req_status = SL_CONF_UNSET;
    llcf->conn_status = SL_CONF_UNSET;
    llcf->req_dry_run = SL_CONF_UNSET;
    llcf->conn_dry_run = SL_CONF_UNSET;
    return llcf;
}

static int
sl_limit_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_limit_loc_conf *prev = parent, *conf = child;

    sl_conf_merge_ptr(conf->reqs, prev->reqs, NULL);
    sl_conf_merge_ptr(conf->conns, prev->conns, NULL);
    sl_conf_merge(conf->req_status, prev->req_status, 503);
    sl_conf_merge(conf->conn_status, prev->conn_status, 503);
    sl_conf_merge(conf->req_dry_run, prev->req_dry_run, 0);
    sl_conf_merge(conf->conn_dry_run, prev->conn_dry_run, 0);
    return SL_OK;
}

static void *
sl_limit_create_http_main(struct sl_conf_ctx *cf)
{
    struct sl_limit_main_conf *lmcf = sl_pcalloc(cf->pool, sizeof(*lmcf));

    if (lmcf == NULL
        || sl_array_init(&lmcf->refs, cf->pool, 4,
                         sizeof(struct sl_limit_ref)) != SL_OK
        || sl_array_init(&lmcf->accepts, cf->pool, 1,
                         sizeof(struct sl_limit_ref)) != SL_OK)
    {
        return NULL;
    }
    return lmcf;
}

static int sl_limit_req_handler(struct sl_http_request *r);
static int sl_limit_conn_handler(struct sl_http_request *r);

/*
 * The key of a limit_conn_accept zone must be known at accept: the peer
 * address, raw or as text.  Sets ref->text_key; SL_ERROR (message set)
 * otherwise.
 */
static int
sl_limit_check_accept_key(struct sl_conf_ctx *cf, struct sl_limit_ref *ref)
{
    struct sl_limit_zone *lz = ref->shm->ctx;
    const struct sl_str *k = &lz->key_text;

    if (sl_str_eq(k, "$binary_remote_addr")
        || sl_str_eq(k, "${binary_remote_addr}"))
    {
        ref->text_key = 0;
        return SL_OK;
    }
    if (sl_str_eq(k, "$remote_addr") || sl_str_eq(k, "${remote_addr}")) {
        ref->text_key = 1;
        return SL_OK;
    }
    sl_conf_node_error(cf, NULL, "%s:%u: the key of zone \"%.*s\" is "
                       "\"%.*s\", but limit_conn_accept needs "
                       "$binary_remote_addr or $remote_addr (nothing else "
                       "is known when a connection is accepted)", ref->file,
                       ref->line, (int) lz->name.len, lz->name.data,
                       (int) k->len, k->data);
    return SL_ERROR;
}

/*
 * A limit_conn_accept zone counts connections; a limit_conn zone counts
 * requests.  Sharing one (or naming a zone twice) would add both counts
 * up in one node, so each cap has a zone of its own.
 */
static int
sl_limit_init_accept(struct sl_conf_ctx *cf, struct sl_limit_main_conf *lmcf)
{
    struct sl_limit_ref *refs = lmcf->refs.elts, *acc = lmcf->accepts.elts;
    struct sl_limit_loc_conf *llcf;
    unsigned i, j;

    for (i = 0; i < lmcf->accepts.nelts; i++) {
        if (sl_limit_check_accept_key(cf, &acc[i]) != SL_OK)
            return SL_ERROR;
        for (j = 0; j < lmcf->refs.nelts; j++) {
            if (refs[j].shm != acc[i].shm
                || (refs[j].accept && refs[j].file == acc[i].file
                    && refs[j].line == acc[i].line))
            {
                continue;
            }
            sl_conf_node_error(cf, NULL, "%s:%u: zone \"%.*s\" is also used "
                               "by the %s at %s:%u: limit_conn_accept needs "
                               "a limit_conn_zone of its own", acc[i].file,
                               acc[i].line, (int) acc[i].shm->name.len,
                               acc[i].shm->name.data,
                               refs[j].accept ? "limit_conn_accept"
                                              : "limit_conn",
                               refs[j].file, refs[j].line);
            return SL_ERROR;
        }
    }
    /* No location is chosen at accept: the http block's setting applies. */
    llcf = cf->loc_conf[sl_limit_module.index];
    lmcf->accept_dry_run = llcf->conn_dry_run == 1;
    return SL_OK;
}

/* Every limit_req / limit_conn must name a declared zone. */
static int
sl_limit_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_limit_main_conf *lmcf = conf;
    struct sl_limit_ref *refs = lmcf->refs.elts;
    struct sl_shm_zone *shm;
    unsigned i;

    for (i = 0; i < lmcf->refs.nelts; i++) {
        shm = refs[i].shm;
        if (shm->ctx == NULL) {
            sl_conf_node_error(cf, NULL, "%s:%u: unknown limit zone \"%.*s\" "
                               "(declare it with %s)", refs[i].file,
                               refs[i].line, (int) shm->name.len,
                               shm->name.data,
                               shm->tag == &sl_limit_tag_req
                               ? "limit_req_zone" : "limit_conn_zone");
            return SL_ERROR;
        }
    }
    if (sl_limit_init_accept(cf, lmcf) != SL_OK)
        return SL_ERROR;
    if (sl_http_add_access_handler(sl_limit_req_handler) != SL_OK
        || sl_http_add_access_handler(sl_limit_conn_handler) != SL_OK)
    {
        sl_conf_error(cf, "too many access handlers");
        return SL_ERROR;
    }
    return SL_OK;
}

struct sl_module sl_limit_module = {
    "limit", sl_limit_cmds, NULL, NULL,
    sl_limit_create_http_main, sl_limit_init_http_main,
    NULL, NULL, sl_limit_create_loc, sl_limit_merge_loc, NULL, 0
};

/* ---- run time ---------------------------------------------------------- */

static void
sl_limit_log(struct sl_http_request *r, enum sl_log_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sl_limit_log(struct sl_http_request *r, enum sl_log_level level,
    const char *fmt, ...)
{
    char client[SL_SOCKADDR_STRLEN], msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_sockaddr_ntop(&r->c->peer.sa, client, sizeof(client), 0);
    sl_log_error(level, 0, "%s, client: %s, request: \"%.*s\"", msg, client,
                 (int) r->request_line.len, r->request_line.data);
}

/* The key of zone for r; SL_DECLINED when empty (not limited). */
static int
sl_limit_key(struct sl_http_request *r, struct sl_limit_zone *lz,
    struct sl_limit_key *k)
{
    struct sl_str v;

    if (sl_http_complex_value(r, lz->key, &v) != SL_OK)
        return SL_ERROR;
    if (v.len == 0)
        return SL_DECLINED;
    return sl_limit_make_key(&v, k);
}

/* Frees up to two limit_req states idle for a minute (nginx). */
static void
sl_limit_req_expire(struct sl_limit_sh *sh, int64_t rate, sl_msec_t now)
{
    struct sl_limit_node *n;
    sl_msec_t ms;
    unsigned k;

    for (k = 0; k < 2 && sh->oldest != 0; k++) {
        n = SL_NODE(sh, sh->oldest);
        ms = now - n->last;
        if (ms < 0)
            ms = -ms;
        if (ms < SL_LIMIT_EXPIRE || n->excess - rate * ms / 1000 > 0)
            return;
        sl_limit_free_node(sh, sh->oldest);
    }
}

/* ---- limit_req: delays ---------------------------------------------------- */

struct sl_limit_delay {
    struct sl_event         ev;
    struct sl_http_request *r;
    sl_event_handler_pt     saved_read;
};

static void
sl_limit_delay_cleanup(void *data)
{
    struct sl_limit_delay *d = data;

    if (d->ev.timer_set)
        sl_event_del_timer(&d->ev);
    if (d->ev.posted)
        sl_event_unpost(&d->ev);
}

static void
sl_limit_delay_done(struct sl_event *ev)
{
    struct sl_limit_delay *d = ev->data;
    struct sl_http_request *r = d->r;

    r->c->read.handler = d->saved_read;
    sl_http_access_done(r, SL_OK);
}

/*
 * The client's read event while the request waits: a connection closed
 * for shutdown or reuse ends the request now (the pool cleanup removes the
 * timer); anything else waits for the timer.
 */
static void
sl_limit_delay_read(struct sl_event *rev)
{
    struct sl_conn *c = rev->data;
    struct sl_http_conn *hc = c->data;

    if ((c->close || rev->error) && hc != NULL && hc->r != NULL)
        sl_http_terminate(hc->r);
}

static int
sl_limit_req_delay(struct sl_http_request *r, sl_msec_t ms)
{
    struct sl_limit_delay *d;

    d = sl_pcalloc(r->pool, sizeof(*d));
    if (d == NULL || sl_pool_cleanup_add(r->pool, sl_limit_delay_cleanup, d)
                     == NULL)
    {
        return 500;
    }
    d->r = r;
    d->ev.data = d;
    d->ev.handler = sl_limit_delay_done;
    d->saved_read = r->c->read.handler;
    r->c->read.handler = sl_limit_delay_read;
    sl_event_add_timer(&d->ev, ms);
    return SL_AGAIN;
}

/*
 * limit_req: every zone is first checked without being charged, so that
 * a request refused by one zone costs nothing in the others; then all are
 * charged and the request waits for the longest delay.
 */
static int
sl_limit_req_handler(struct sl_http_request *r)
{
    struct sl_limit_loc_conf *llcf;
    struct sl_limit_ref *refs;
    struct sl_limit_zone *lz;
    struct sl_limit_sh *sh;
    struct sl_limit_node *n;
    struct sl_limit_key keys[8], *k;
    sl_msec_t now, delay, max_delay = 0;
    int64_t excess;
    sl_msec_t last;
    uint32_t i;
    unsigned j, nrefs, pass;
    int rc;

    llcf = sl_http_get_module_loc_conf(r, sl_limit_module);
    if (llcf == NULL || llcf->reqs == NULL)
        return SL_DECLINED;
    refs = llcf->reqs->elts;
    nrefs = sl_min(llcf->reqs->nelts, sl_nelems(keys));
    now = sl_current_msec;

    for (pass = 0; pass < 2; pass++) {
        for (j = 0; j < nrefs; j++) {
            lz = refs[j].shm->ctx;
            sh = refs[j].shm->data;
            k = &keys[j];
            if (pass == 0) {
                rc = sl_limit_key(r, lz, k);
                if (rc == SL_ERROR)
                    return 500;
                if (rc == SL_DECLINED)
                    k->len = 0;
            }
            if (k->len == 0)
                continue;
            if (sl_limit_lock(sh, &lz->name) != SL_OK)
                return 500;
            if (pass == 1)
                sl_limit_req_expire(sh, lz->rate, now);
            i = sl_limit_find(sh, k->hash, k->data, k->len);
            rc = SL_OK;
            delay = 0;
            if (i != 0) {
                n = SL_NODE(sh, i);
                excess = n->excess;
                last = n->last;
                rc = sl_limit_req_leak(&excess, &last, now, lz->rate,
                                       refs[j].burst, refs[j].delay, pass,
                                       &delay);
                if (pass == 1 && rc == SL_OK) {
                    n->excess = excess;
                    n->last = last;
                    sl_limit_lru_unlink(sh, i);
                    sl_limit_lru_push(sh, i);
                }
            } else if (pass == 1) {
                /* A new key: its first request is free (nginx). */
                i = sl_limit_alloc(sh, &lz->name, k->hash, k->data, k->len);
                if (i != 0) {
                    SL_NODE(sh, i)->excess = 0;
                    SL_NODE(sh, i)->last = now;
                }
            }
            sl_limit_unlock(sh);
            if (rc == SL_BUSY && pass == 1 && llcf->req_dry_run)
                continue;       /* logged in the first pass */
            if (rc == SL_BUSY) {
                /*
                 * Refused in the first pass; in the second only when
                 * another worker took the last room in between.
                 */
                if (llcf->req_dry_run) {
                    sl_limit_log(r, SL_LOG_ERR, "limiting requests, dry run, "
                                 "by zone \"%.*s\"", (int) lz->name.len,
                                 lz->name.data);
                    sl_stats_limit(0, 1);
                    continue;
                }
                sl_limit_log(r, SL_LOG_ERR, "limiting requests by zone "
                             "\"%.*s\"", (int) lz->name.len, lz->name.data);
                sl_stats_limit(0, 0);
                return (int) llcf->req_status;
            }
            if (delay > max_delay)
                max_delay = delay;
        }
    }
    if (max_delay == 0)
        return SL_OK;
    if (llcf->req_dry_run) {
        sl_limit_log(r, SL_LOG_WARN, "delaying request, dry run, %lld ms",
                     (long long) max_delay);
        return SL_OK;
    }
    sl_limit_log(r, SL_LOG_WARN, "delaying request, %lld ms",
                 (long long) max_delay);
    return sl_limit_req_delay(r, max_delay);
}

/* ---- limit_conn --------------------------------------------------------- */

struct sl_limit_conn_cleanup {
    struct sl_shm_zone     *shm;
    struct sl_limit_key     key;
};

/* Gives back one request of the key (the request is over). */
static void
sl_limit_conn_release(void *data)
{
    struct sl_limit_conn_cleanup *cl = data;
    struct sl_limit_zone *lz = cl->shm->ctx;
    struct sl_limit_sh *sh = cl->shm->data;
    struct sl_limit_node *n;
    uint32_t i;

    if (sl_limit_lock(sh, &lz->name) != SL_OK)
        return;
    /* Found by key: an evicted key's node may belong to another now. */
    i = sl_limit_find(sh, cl->key.hash, cl->key.data, cl->key.len);
    if (i != 0) {
        n = SL_NODE(sh, i);
        if (n->conns > 0)
            n->conns--;
        if (n->conns == 0)
            sl_limit_free_node(sh, i);
    }
    sl_limit_unlock(sh);
}

static int
sl_limit_conn_handler(struct sl_http_request *r)
{
    struct sl_limit_loc_conf *llcf;
    struct sl_limit_ref *refs;
    struct sl_limit_zone *lz;
    struct sl_limit_sh *sh;
    struct sl_limit_node *n;
    struct sl_limit_conn_cleanup *cl;
    struct sl_limit_key k;
    uint32_t i;
    unsigned j;
    int rc;

    llcf = sl_http_get_module_loc_conf(r, sl_limit_module);
    if (llcf == NULL || llcf->conns == NULL)
        return SL_DECLINED;
    refs = llcf->conns->elts;
    for (j = 0; j < llcf->conns->nelts; j++) {
        lz = refs[j].shm->ctx;
        sh = refs[j].shm->data;
        rc = sl_limit_key(r, lz, &k);
        if (rc == SL_ERROR)
            return 500;
        if (rc == SL_DECLINED)
            continue;
        cl = sl_palloc(r->pool, sizeof(*cl));
        if (cl == NULL)
            return 500;
        if (sl_limit_lock(sh, &lz->name) != SL_OK)
            return 500;
        i = sl_limit_find(sh, k.hash, k.data, k.len);
        if (i == 0)
            i = sl_limit_alloc(sh, &lz->name, k.hash, k.data, k.len);
        if (i == 0) {
            sl_limit_unlock(sh);
            return (int) llcf->conn_status;
        }
        n = SL_NODE(sh, i);
        if (n->conns >= refs[j].conns) {
            sl_limit_unlock(sh);
            if (llcf->conn_dry_run) {
                sl_limit_log(r, SL_LOG_ERR, "limiting connections, dry run, "
                             "by zone \"%.*s\"", (int) lz->name.len,
                             lz->name.data);
                sl_stats_limit(1, 1);
                continue;
            }
            sl_limit_log(r, SL_LOG_ERR, "limiting connections by zone "
                         "\"%.*s\"", (int) lz->name.len, lz->name.data);
            sl_stats_limit(1, 0);
            return (int) llcf->conn_status;
        }
        n->conns++;
        sl_limit_lru_unlink(sh, i);
        sl_limit_lru_push(sh, i);
        sl_limit_unlock(sh);
        cl->shm = refs[j].shm;
        cl->key = k;
        if (sl_pool_cleanup_add(r->pool, sl_limit_conn_release, cl) == NULL) {
            sl_limit_conn_release(cl);
            return 500;
        }
    }
    return SL_OK;
}

/* ---- limit_conn_accept -------------------------------------------------- */

static sl_msec_t sl_limit_accept_logged;    /* per worker */
static unsigned sl_limit_accept_quiet;      /* refusals not logged since */

/* The limit module's http{} conf of this process's cycle, or NULL. */
static struct sl_limit_main_conf *
sl_limit_accept_conf(void)
{
    void **http_main;

    if (sl_cycle == NULL)
        return NULL;
    http_main = sl_cycle->main_conf[sl_http_core_module.index];
    if (http_main == NULL)
        return NULL;
    return http_main[sl_limit_module.index];
}

/*
 * The key c's peer has in a zone keyed by $binary_remote_addr or
 * $remote_addr, built as the variables build it so that the same bytes
 * are found whoever computes them.  SL_DECLINED when the peer has no
 * address (not limited, as an empty key is not).
 */
static int
sl_limit_accept_key(struct sl_conn *c, const struct sl_limit_ref *ref,
    struct sl_limit_key *k)
{
    char text[SL_SOCKADDR_STRLEN];
    struct sl_str v;

    if (ref->text_key) {
        v.len = sl_sockaddr_ntop(&c->peer.sa, text, sizeof(text), 0);
        v.data = text;
    } else if (c->peer.sa.sa_family == AF_INET) {
        v.data = (char *) &c->peer.sin.sin_addr;
        v.len = 4;
    } else if (c->peer.sa.sa_family == AF_INET6) {
        v.data = (char *) &c->peer.sin6.sin6_addr;
        v.len = 16;
    } else {
        return SL_DECLINED;
    }
    if (v.len == 0)
        return SL_DECLINED;
    return sl_limit_make_key(&v, k);
}

/* Gives back one connection of c's peer in the zone of ref. */
static void
sl_limit_accept_release(struct sl_conn *c, const struct sl_limit_ref *ref)
{
    struct sl_limit_conn_cleanup cl;

    if (sl_limit_accept_key(c, ref, &cl.key) != SL_OK)
        return;
    cl.shm = ref->shm;
    sl_limit_conn_release(&cl);
}

/*
 * Refusals come in floods: one line a second per worker, saying how many
 * went unlogged in between.
 */
static void
sl_limit_accept_log(struct sl_conn *c, const struct sl_limit_ref *ref,
    int dry_run)
{
    char client[SL_SOCKADDR_STRLEN], quiet[64];

    if (sl_current_msec - sl_limit_accept_logged < 1000
        && sl_limit_accept_logged != 0)
    {
        sl_limit_accept_quiet++;
        return;
    }
    sl_sockaddr_ntop(&c->peer.sa, client, sizeof(client), 0);
    quiet[0] = '\0';
    if (sl_limit_accept_quiet)
        snprintf(quiet, sizeof(quiet), " (and %u not logged before)",
                 sl_limit_accept_quiet);
    sl_log_error(SL_LOG_WARN, 0, "limiting connections%s by zone \"%.*s\" "
                 "at accept (%u per client), client: %s, server: %s%s",
                 dry_run ? ", dry run," : "", (int) ref->shm->name.len,
                 ref->shm->name.data, ref->conns, client,
                 c->listening->addr_text, quiet);
    sl_limit_accept_logged = sl_current_msec;
    sl_limit_accept_quiet = 0;
}

int
sl_limit_conn_accept(struct sl_conn *c)
{
    struct sl_limit_main_conf *lmcf = sl_limit_accept_conf();
    struct sl_limit_ref *refs;
    struct sl_limit_zone *lz;
    struct sl_limit_sh *sh;
    struct sl_limit_node *n;
    struct sl_limit_key k;
    uint32_t i;
    unsigned j, prev;
    int busy;

    if (lmcf == NULL || lmcf->accepts.nelts == 0)
        return SL_OK;
    SL_ASSERT(!c->limit_counted);
    refs = lmcf->accepts.elts;
    for (j = 0; j < lmcf->accepts.nelts; j++) {
        lz = refs[j].shm->ctx;
        sh = refs[j].shm->data;
        SL_CHECK_OBJ_NOTNULL(lz, SL_LIMIT_ZONE_MAGIC);
        if (sl_limit_accept_key(c, &refs[j], &k) != SL_OK)
            continue;
        if (sl_limit_lock(sh, &lz->name) != SL_OK)
            goto uncounted;     /* logged; rather than refuse everyone */
        i = sl_limit_find(sh, k.hash, k.data, k.len);
        if (i == 0)
            i = sl_limit_alloc(sh, &lz->name, k.hash, k.data, k.len);
        if (i == 0) {
            /* Cannot happen with 32k or more; not worth a refusal. */
            sl_limit_unlock(sh);
            goto uncounted;
        }
        n = SL_NODE(sh, i);
        busy = n->conns >= refs[j].conns;
        /*
         * A dry run lets the connection in, so it is counted like any
         * other: the zone then holds what the address really has open,
         * and the close gives back to every zone alike.
         */
        if (!busy || lmcf->accept_dry_run) {
            n->conns++;
            sl_limit_lru_unlink(sh, i);
            sl_limit_lru_push(sh, i);
        }
        sl_limit_unlock(sh);
        if (!busy)
            continue;
        sl_limit_accept_log(c, &refs[j], lmcf->accept_dry_run);
        sl_stats_limit(1, lmcf->accept_dry_run);
        if (lmcf->accept_dry_run)
            continue;
        /* Give back what the zones before this one counted. */
        for (prev = 0; prev < j; prev++)
            sl_limit_accept_release(c, &refs[prev]);
        return SL_BUSY;
    }
    c->limit_counted = 1;
    return SL_OK;

uncounted:
    for (prev = 0; prev < j; prev++)
        sl_limit_accept_release(c, &refs[prev]);
    return SL_OK;
}

void
sl_limit_conn_close(struct sl_conn *c)
{
    struct sl_limit_main_conf *lmcf;
    struct sl_limit_ref *refs;
    unsigned j;

    if (!c->limit_counted)
        return;
    c->limit_counted = 0;
    lmcf = sl_limit_accept_conf();
    if (lmcf == NULL)
        return;
    refs = lmcf->accepts.elts;
    for (j = 0; j < lmcf->accepts.nelts; j++)
        sl_limit_accept_release(c, &refs[j]);
}

/*
 * sl_cache_zone.c: cache_zone and the stores behind it (sl_cache.h).
 *
 *   cache_zone NAME size=SIZE [max_object=SIZE] [inactive=TIME];     http
 *
 * Each cache_zone is a shared-memory zone of its own (sl_shm.h) holding
 * one object store (sl_cache_store.h).  The zone is keyed by name and
 * size, so a reload that keeps both hands the store over with its
 * entries; a changed size maps a new zone and the cache starts empty.
 * max_object and inactive may change across a reload without losing
 * anything.
 *
 * The zones are found through the cycle's list of shared-memory zones
 * (those tagged by this module), so the request path (proxy_cache NAME,
 * resolved after the whole http block is read), the control server in
 * the master and the metrics handler all see the same list without a
 * registry of their own.
 *
 * In every worker a timer removes objects nobody has asked for within
 * `inactive`, a bounded batch per zone and tick, so that a cold cache
 * gives its memory back to the LRU before it has to be evicted under
 * load, and a tick never stalls the worker.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_event.h"
#include "sl_cache.h"

#define SL_CACHE_ZONE_INACTIVE   (10 * 60 * 1000)   /* default inactive */
#define SL_CACHE_ZONE_TICK       1000               /* expiry timer, ms */
#define SL_CACHE_ZONE_EXPIRE_MAX 256                /* objects per tick */

static int sl_cache_zone_tag;           /* marks our shm zones */

static int sl_cache_zone_set(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf);
static int sl_cache_zone_init_worker(struct sl_cycle *cycle);

static const struct sl_conf_cmd sl_cache_zone_cmds[] = {
    { "cache_zone", SL_CONF_HTTP | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_cache_zone_set, SL_CONF_LEVEL_HTTP_MAIN, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

struct sl_module sl_cache_zone_module = {
    "cache_zone", sl_cache_zone_cmds, NULL, NULL,
    NULL, NULL,
    NULL, NULL, NULL, NULL,
    sl_cache_zone_init_worker, 0
};

/* ---- the shared-memory zone -------------------------------------------- */

/*
 * The store starts on the mapping's second page, after the shm header:
 * page alignment satisfies whatever alignment the store's root asks for
 * (its counters are aligned to avoid false sharing), and costs one page.
 */
static size_t
sl_cache_zone_offset(void)
{
    return sl_align(sizeof(struct sl_shm_header), 4096);
}

/*
 * The zone's init (master, before fork).  old_data is the previous
 * generation's store when the zone was handed over; it is taken over
 * when the store recognises its own layout, otherwise the zone is laid
 * out afresh (the entries are lost, which a cache may do).
 */
static int
sl_cache_zone_init(struct sl_shm_zone *zone, void *old_data)
{
    struct sl_cache_zone *cz = zone->ctx;
    struct sl_cache_store *s = NULL;
    size_t off = sl_cache_zone_offset();
    char *base;

    SL_CHECK_OBJ_NOTNULL(cz, SL_CACHE_ZONE_MAGIC);
    base = (char *) zone->addr + off;
    if (old_data != NULL) {
        if (old_data == base)
            s = sl_cache_store_reuse(base, zone->size - off, cz->max_object);
        if (s == NULL)
            sl_log_error(SL_LOG_NOTICE, 0, "cache zone \"%.*s\": the "
                         "previous store cannot be reused, starting empty",
                         (int) cz->name.len, cz->name.data);
    }
    if (s == NULL)
        s = sl_cache_store_create(base, zone->size - off, cz->max_object);
    if (s == NULL) {
        sl_log_error(SL_LOG_EMERG, 0, "cannot lay out cache zone \"%.*s\" "
                     "of %zu bytes", (int) cz->name.len, cz->name.data,
                     zone->size - off);
        return SL_ERROR;
    }
    cz->store = s;
    zone->data = s;
    return SL_OK;
}

/* ---- the directive ------------------------------------------------------- */

/* "key=" prefix of a parameter: its value in v. */
static int
sl_cache_zone_param(const struct sl_str *a, const char *key,
    struct sl_str *v)
{
    size_t n = strlen(key);

    if (a->len < n || memcmp(a->data, key, n) != 0)
        return 0;
    v->data = a->data + n;
    v->len = a->len - n;
    return 1;
}

/* Zone names appear in metrics labels and control commands: keep plain. */
static int
sl_cache_zone_valid_name(const struct sl_str *name)
{
    size_t i;
    char c;

    if (name->len == 0 || name->len > 64)
        return 0;
    for (i = 0; i < name->len; i++) {
        c = name->data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'
              || c == '.'))
        {
            return 0;
        }
    }
    return 1;
}

/* cache_zone NAME size=SIZE [max_object=SIZE] [inactive=TIME]; */
static int
sl_cache_zone_set(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_str *args = cf->node->args, *name = &args[0], v;
    struct sl_cache_zone *cz;
    struct sl_shm_zone *shm;
    off_t size = 0, max_object = 0;
    sl_msec_t inactive = SL_CACHE_ZONE_INACTIVE;
    size_t mapped;
    unsigned i;

    if (!sl_cache_zone_valid_name(name)) {
        sl_conf_error(cf, "invalid cache zone name \"%.*s\" (1 to 64 of "
                      "A-Z a-z 0-9 _ - .)", (int) name->len, name->data);
        return SL_ERROR;
    }
    for (i = 1; i < cf->node->nargs; i++) {
        if (sl_cache_zone_param(&args[i], "size=", &v)) {
            if (sl_conf_parse_size(&v, &size) != SL_OK || size <= 0) {
                sl_conf_error(cf, "invalid size \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
        } else if (sl_cache_zone_param(&args[i], "max_object=", &v)) {
            if (sl_conf_parse_size(&v, &max_object) != SL_OK
                || max_object <= 0)
            {
                sl_conf_error(cf, "invalid max_object \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
        } else if (sl_cache_zone_param(&args[i], "inactive=", &v)) {
            if (sl_conf_parse_msec(&v, &inactive) != SL_OK
                || inactive <= 0)
            {
                sl_conf_error(cf, "invalid inactive \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
        } else {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) args[i].len, args[i].data);
            return SL_ERROR;
        }
    }
    if (size == 0) {
        sl_conf_error(cf, "cache zone \"%.*s\" must have \"size\" "
                      "parameter", (int) name->len, name->data);
        return SL_ERROR;
    }
    if (size < SL_CACHE_STORE_MIN_SIZE) {
        sl_conf_error(cf, "cache zone \"%.*s\" is too small (size must be "
                      "at least %dk)", (int) name->len, name->data,
                      SL_CACHE_STORE_MIN_SIZE / 1024);
        return SL_ERROR;
    }
    if (size > (off_t) 1 << 40) {
        sl_conf_error(cf, "cache zone \"%.*s\" is too large (at most 1t)",
                      (int) name->len, name->data);
        return SL_ERROR;
    }
    if (max_object == 0)
        max_object = size / 8;
    if (max_object > size) {
        sl_conf_error(cf, "max_object of cache zone \"%.*s\" is larger than "
                      "its size", (int) name->len, name->data);
        return SL_ERROR;
    }
    if (sl_cache_zone_find(cf, name) != NULL) {
        sl_conf_error(cf, "cache zone \"%.*s\" is already declared",
                      (int) name->len, name->data);
        return SL_ERROR;
    }

    /* size= is what the store gets; the zone's header comes on top. */
    mapped = sl_align((size_t) size + sl_cache_zone_offset(), 4096);
    shm = sl_shm_zone_add(cf, name, mapped, &sl_cache_zone_tag);
    if (shm == NULL)
        return SL_ERROR;
    if (shm->ctx != NULL) {
        sl_conf_error(cf, "cache zone \"%.*s\" is already declared",
                      (int) name->len, name->data);
        return SL_ERROR;
    }
    cz = sl_pcalloc(cf->pool, sizeof(*cz));
    if (cz == NULL)
        return SL_ERROR;
    cz->magic = SL_CACHE_ZONE_MAGIC;
    cz->name = shm->name;
    cz->size = (size_t) size;
    cz->max_object = (size_t) max_object;
    cz->inactive_ms = inactive;
    cz->shm = shm;
    cz->file = cf->node->file;
    cz->line = cf->node->line;
    shm->ctx = cz;
    shm->init = sl_cache_zone_init;
    return SL_OK;
}

/* ---- finding zones ---------------------------------------------------- */

static struct sl_cache_zone *
sl_cache_zone_at(struct sl_cycle *cycle, size_t want, const char *name,
    size_t len)
{
    struct sl_shm_zone **zones;
    struct sl_cache_zone *cz;
    size_t i, n = 0;

    if (cycle == NULL)
        return NULL;
    zones = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (zones[i]->tag != &sl_cache_zone_tag || zones[i]->ctx == NULL)
            continue;
        cz = zones[i]->ctx;
        SL_CHECK_OBJ(cz, SL_CACHE_ZONE_MAGIC);
        if (name != NULL) {
            if (cz->name.len == len && memcmp(cz->name.data, name, len) == 0)
                return cz;
            continue;
        }
        if (n++ == want)
            return cz;
    }
    return NULL;
}

struct sl_cache_zone *
sl_cache_zone_find(struct sl_conf_ctx *cf, const struct sl_str *name)
{
    return sl_cache_zone_at(cf->cycle, 0, name->data, name->len);
}

struct sl_cache_zone *
sl_cache_zone_get(struct sl_cycle *cycle, size_t i)
{
    return sl_cache_zone_at(cycle, i, NULL, 0);
}

struct sl_cache_zone *
sl_cache_zone_by_name(struct sl_cycle *cycle, const char *name, size_t len)
{
    return sl_cache_zone_at(cycle, 0, name, len);
}

/* ---- inactive expiry (workers) ---------------------------------------- */

static struct sl_event sl_cache_zone_expire_ev;

/*
 * Every worker runs the tick; the store serialises them with its own
 * locks, and a tick with nothing old to remove costs a look at the
 * oldest end of the LRU.  The batch bound keeps one tick short even when
 * a whole cache goes cold at once; the rest goes on the next ticks.
 */
static void
sl_cache_zone_expire_tick(struct sl_event *ev)
{
    struct sl_cache_zone *cz;
    size_t i;

    for (i = 0; (cz = sl_cache_zone_get(sl_cycle, i)) != NULL; i++) {
        if (cz->store == NULL)
            continue;
        /* the store keeps access times on the wall clock */
        sl_cache_expire(cz->store, sl_time_msec, cz->inactive_ms,
                        SL_CACHE_ZONE_EXPIRE_MAX);
    }
    sl_event_add_timer(ev, SL_CACHE_ZONE_TICK);
}

static int
sl_cache_zone_init_worker(struct sl_cycle *cycle)
{
    if (sl_cache_zone_get(cycle, 0) == NULL)
        return SL_OK;
    memset(&sl_cache_zone_expire_ev, 0, sizeof(sl_cache_zone_expire_ev));
    sl_cache_zone_expire_ev.handler = sl_cache_zone_expire_tick;
    sl_event_add_timer(&sl_cache_zone_expire_ev, SL_CACHE_ZONE_TICK);
    return SL_OK;
}

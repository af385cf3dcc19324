/*
 * sl_http_stats.c: shared traffic counters, `metrics;` (Prometheus text
 * exposition 0.0.4) and `status_page;` (one self-contained HTML page and
 * the JSON it refreshes itself from).
 */
#include "sl_core.h"
#include "sl_http_stats.h"
#include "sl_health.h"
#include "sl_cache.h"

#include <strings.h>

static int sl_stats_set_metrics(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_stats_set_status(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const struct sl_conf_cmd sl_stats_cmds[] = {
    { "metrics", SL_CONF_LOCATION | SL_CONF_NOARGS, sl_stats_set_metrics,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "status_page", SL_CONF_LOCATION | SL_CONF_NOARGS, sl_stats_set_status,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* Per server block: where its counters are in the zone. */
struct sl_stats_srv_conf {
    int                     index;      /* -1 until the zone is mapped */
};

static const struct sl_str sl_stats_zone_name = sl_string("sl_stats");
static const char *sl_stats_methods[SL_STATS_NMETHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "other"
};
/* Bucket bounds of the duration histogram, in microseconds. */
static const uint64_t sl_stats_bounds[SL_STATS_NBUCKETS] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
    2500000, 5000000, 10000000
};

struct sl_stats *
sl_stats_current(void)
{
    static struct sl_cycle *cached_cycle;
    static struct sl_stats *cached;
    struct sl_shm_zone **zones;
    unsigned i;

    if (sl_cycle == NULL)
        return NULL;
    if (sl_cycle == cached_cycle && cached != NULL)
        return cached;
    zones = sl_cycle->shm_zones.elts;
    for (i = 0; i < sl_cycle->shm_zones.nelts; i++) {
        if (zones[i]->tag == &sl_http_stats_module) {
            cached_cycle = sl_cycle;
            cached = zones[i]->data;
            return cached;
        }
    }
    return NULL;
}

/* The counters' name of a server block: its first name, or its address. */
static void
sl_stats_server_key(struct sl_http_srv_conf *scf, char *buf, size_t len)
{
    struct sl_http_listen *l;

    if (scf->server_name.len) {
        snprintf(buf, len, "%.*s", (int) scf->server_name.len,
                 scf->server_name.data);
        return;
    }
    if (scf->listens.nelts > 0) {
        l = scf->listens.elts;
        if (l->ls != NULL) {
            snprintf(buf, len, "%s", l->ls->addr_text);
            return;
        }
    }
    snprintf(buf, len, "_");
}

/*
 * Maps every server block to its counters, found by name so that they
 * carry on across reloads.
 */
static int
sl_stats_zone_init(struct sl_shm_zone *zone, void *old_data)
{
    struct sl_http_main_conf *hmcf = zone->ctx;
    struct sl_http_srv_conf **servers;
    struct sl_stats_srv_conf *sscf;
    struct sl_stats *st;
    char key[SL_STATS_NAME_LEN];
    unsigned i, k;
    int found;

    if (old_data != NULL) {
        st = old_data;
        SL_CHECK_OBJ(st, SL_STATS_MAGIC);
    } else {
        st = (struct sl_stats *) ((char *) zone->addr
             + sl_align(sizeof(struct sl_shm_header), 64));
        memset(st, 0, sizeof(*st));
        st->magic = SL_STATS_MAGIC;
        atomic_store(&st->started, sl_time_msec);
    }
    zone->data = st;
    if (hmcf == NULL)
        return SL_OK;
    servers = hmcf->servers.elts;
    for (i = 0; i < hmcf->servers.nelts; i++) {
        sscf = servers[i]->srv_conf[sl_http_stats_module.index];
        sl_stats_server_key(servers[i], key, sizeof(key));
        found = -1;
        for (k = 0; k < SL_STATS_MAX_SERVERS; k++) {
            if (st->servers[k].used && strcmp(st->servers[k].name, key) == 0)
            {
                found = (int) k;
                break;
            }
            if (!st->servers[k].used && found < 0) {
                found = (int) k;
                snprintf(st->servers[k].name, SL_STATS_NAME_LEN, "%s", key);
                st->servers[k].used = 1;
                break;
            }
        }
        /* More blocks than slots: the last slot counts the rest. */
        sscf->index = found >= 0 ? found : SL_STATS_MAX_SERVERS - 1;
    }
    return SL_OK;
}

static void *
sl_stats_create_main(struct sl_conf_ctx *cf)
{
    struct sl_shm_zone *zone;
    size_t size;

    size = sl_align(sl_align(sizeof(struct sl_shm_header), 64)
                    + sizeof(struct sl_stats), 4096);
    zone = sl_shm_zone_add(cf, &sl_stats_zone_name, size,
                           &sl_http_stats_module);
    if (zone == NULL)
        return NULL;
    zone->init = sl_stats_zone_init;
    return zone;
}

static int
sl_stats_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_shm_zone *zone = cf->cycle->main_conf[sl_http_stats_module.index];

    zone->ctx = cf->http_main_conf[sl_http_core_module.index];
    return SL_OK;
}

static void *
sl_stats_create_http_main(struct sl_conf_ctx *cf)
{
    return sl_pcalloc(cf->pool, 1);
}

static void *
sl_stats_create_srv(struct sl_conf_ctx *cf)
{
    struct sl_stats_srv_conf *sscf = sl_pcalloc(cf->pool, sizeof(*sscf));

    if (sscf != NULL)
        sscf->index = -1;
    return sscf;
}

struct sl_module sl_http_stats_module = {
    "http_stats", sl_stats_cmds, sl_stats_create_main, NULL,
    sl_stats_create_http_main, sl_stats_init_http_main,
    sl_stats_create_srv, NULL, NULL, NULL, NULL, 0
};

/* ---- counting ------------------------------------------------------------- */

static unsigned
sl_stats_method(enum sl_http_method m)
{
    switch (m) {
    case SL_HTTP_GET: return 0;
    case SL_HTTP_HEAD: return 1;
    case SL_HTTP_POST: return 2;
    case SL_HTTP_PUT: return 3;
    case SL_HTTP_DELETE: return 4;
    default: return 5;
    }
}

void
sl_stats_request(struct sl_http_request *r)
{
    struct sl_stats *st = sl_stats_current();
    struct sl_stats_srv_conf *sscf;
    struct sl_stats_server *sv;
    uint64_t us;
    unsigned cls, b;

    if (st == NULL || r->srv == NULL)
        return;
    sscf = r->srv->srv_conf[sl_http_stats_module.index];
    if (sscf == NULL || sscf->index < 0)
        return;
    sv = &st->servers[sscf->index];
    cls = r->status >= 100 && r->status < 600 ? (unsigned) r->status / 100
                                              : 5;
    atomic_fetch_add_explicit(&sv->requests[sl_stats_method(r->head->method)]
                                           [cls - 1], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sv->bytes_in, r->request_length,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&sv->bytes_out, r->bytes_sent,
                              memory_order_relaxed);
    us = (uint64_t) (sl_current_msec - r->start_msec) * 1000;
    for (b = 0; b < SL_STATS_NBUCKETS && us > sl_stats_bounds[b]; b++)
        ;
    atomic_fetch_add_explicit(&st->duration[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->duration_sum_us, us,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&st->duration_count, 1, memory_order_relaxed);
}

void
sl_stats_reload(int ok)
{
    struct sl_stats *st = sl_stats_current();

    if (st == NULL)
        return;
    if (ok)
        atomic_fetch_add(&st->reloads, 1);
    else
        atomic_fetch_add(&st->reload_failures, 1);
}

void
sl_stats_limit(int which, int dry_run)
{
    struct sl_stats *st = sl_stats_current();

    if (st != NULL)
        atomic_fetch_add_explicit(&st->limited[which ? 1 : 0][dry_run ? 1 : 0],
                                  1, memory_order_relaxed);
}

void
sl_stats_restart(void)
{
    struct sl_stats *st = sl_stats_current();

    if (st != NULL)
        atomic_fetch_add(&st->restarts, 1);
}

void
sl_stats_worker_tick(int slot, int active)
{
    struct sl_stats *st = sl_stats_current();

    if (st == NULL || slot < 0 || slot >= SL_STATS_MAX_SLOTS)
        return;
    atomic_store_explicit(&st->slots[slot].active, active,
                          memory_order_relaxed);
    atomic_store_explicit(&st->slots[slot].pid, (int32_t) sl_pid,
                          memory_order_relaxed);
}

/* ---- output --------------------------------------------------------------- */

/* A growing text buffer in the request pool. */
struct sl_stats_out {
    struct sl_http_request *r;
    char                   *buf;
    size_t                  len;
    size_t                  cap;
    int                     failed;
};

static void
sl_stats_printf(struct sl_stats_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sl_stats_printf(struct sl_stats_out *o, const char *fmt, ...)
{
    va_list ap;
    size_t cap;
    char *nb;
    int n;

    if (o->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t) n < o->cap - o->len) {
            o->len += (size_t) n;
            return;
        }
        cap = o->cap * 2 + (size_t) n;
        nb = sl_pnalloc(o->r->pool, cap);
        if (nb == NULL) {
            o->failed = 1;
            return;
        }
        memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
}

/* s escaped for a Prometheus label value (\\ \" \n) or a JSON string. */
static const char *
sl_stats_esc(struct sl_stats_out *o, const char *s, size_t n, int json)
{
    char *d, *p;
    size_t i;

    d = p = sl_pnalloc(o->r->pool, n * 6 + 1);
    if (d == NULL) {
        o->failed = 1;
        return "";
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;
        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else if (json && c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = (char) c;
        }
    }
    *p = '\0';
    return d;
}
#define SL_E(s)   sl_stats_esc(o, (s), strlen(s), 0)

static struct sl_upstream_main_conf *
sl_stats_upstreams(void)
{
    return sl_cycle != NULL ? sl_cycle->main_conf[sl_upstream_module.index]
                            : NULL;
}

/*
 * The cache zones of the current cycle, read from their stores (the
 * counters live there, in shared memory, so every worker reports the
 * same numbers and they survive a reload with the zone).
 */
static void
sl_stats_cache_metrics(struct sl_stats_out *o)
{
    static const struct {
        const char         *metric;
        const char         *label;
        enum sl_cache_stat  first, last;
        const char         *help;
    } groups[] = {
        { "sluice_cache_lookups_total", "result", SL_CACHE_STAT_HIT,
          SL_CACHE_STAT_BYPASS, "Cache lookups by result." },
        { "sluice_cache_stores_total", "result", SL_CACHE_STAT_STORED,
          SL_CACHE_STAT_NOT_STORED, "Responses stored or not stored." },
        { "sluice_cache_removals_total", "reason", SL_CACHE_STAT_PURGED,
          SL_CACHE_STAT_INACTIVE, "Objects removed, by reason." },
        { "sluice_cache_collapsed_total", NULL, SL_CACHE_STAT_COLLAPSED,
          SL_CACHE_STAT_COLLAPSED, "Requests that waited for another "
          "request's fetch of the same key." },
    };
    struct sl_cache_stats st[16];
    struct sl_cache_zone *cz[16];
    size_t n, i, g;
    int k;

    /* Bounded: the metrics page is no place for hundreds of zones. */
    for (n = 0; n < sl_nelems(cz)
                && (cz[n] = sl_cache_zone_get(sl_cycle, n)) != NULL; n++)
    {
        memset(&st[n], 0, sizeof(st[n]));
        if (cz[n]->store != NULL)
            sl_cache_store_stats(cz[n]->store, &st[n]);
    }
    if (n == 0)
        return;
#define SL_STATS_CACHE_GAUGE(mname, help, field)                              \
    sl_stats_printf(o, "# HELP " mname " " help "\n# TYPE " mname " gauge\n");\
    for (i = 0; i < n; i++)                                                   \
        sl_stats_printf(o, mname "{zone=\"%s\"} %llu\n",                      \
                        SL_E(cz[i]->name.data),                               \
                        (unsigned long long) (field));
    SL_STATS_CACHE_GAUGE("sluice_cache_size_bytes", "Size of the cache zone.",
                         cz[i]->size)
    SL_STATS_CACHE_GAUGE("sluice_cache_max_object_bytes", "Largest object "
                         "the zone stores.", st[i].max_object)
    SL_STATS_CACHE_GAUGE("sluice_cache_entries", "Objects in the zone.",
                         st[i].entries)
    SL_STATS_CACHE_GAUGE("sluice_cache_used_bytes", "Bytes of the zone in "
                         "use.", st[i].used)
    SL_STATS_CACHE_GAUGE("sluice_cache_free_bytes", "Bytes of the zone "
                         "free.", st[i].free)
#undef SL_STATS_CACHE_GAUGE
    for (g = 0; g < sl_nelems(groups); g++) {
        sl_stats_printf(o, "# HELP %s %s\n# TYPE %s counter\n",
                        groups[g].metric, groups[g].help, groups[g].metric);
        for (i = 0; i < n; i++)
            for (k = groups[g].first; k <= (int) groups[g].last; k++) {
                if (groups[g].label == NULL)
                    sl_stats_printf(o, "%s{zone=\"%s\"} %llu\n",
                        groups[g].metric, SL_E(cz[i]->name.data),
                        (unsigned long long) st[i].counters[k]);
                else
                    sl_stats_printf(o, "%s{zone=\"%s\",%s=\"%s\"} %llu\n",
                        groups[g].metric, SL_E(cz[i]->name.data),
                        groups[g].label, sl_cache_stat_name(k),
                        (unsigned long long) st[i].counters[k]);
            }
    }
}

static void
sl_stats_metrics_text(struct sl_stats_out *o, struct sl_stats *st)
{
    struct sl_upstream_main_conf *umcf = sl_stats_upstreams();
    struct sl_upstream **ups;
    struct sl_upstream_server *s;
    struct sl_health_peer *p;
    uint64_t cum = 0;
    int64_t active = 0;
    unsigned i, j, m, c;

    sl_stats_printf(o, "# HELP sluice_http_requests_total HTTP requests by "
        "server block, method and status class.\n"
        "# TYPE sluice_http_requests_total counter\n");
    for (i = 0; i < SL_STATS_MAX_SERVERS; i++) {
        if (!st->servers[i].used)
            continue;
        for (m = 0; m < SL_STATS_NMETHODS; m++)
            for (c = 0; c < 5; c++)
                sl_stats_printf(o, "sluice_http_requests_total{server=\"%s\","
                    "method=\"%s\",status=\"%uxx\"} %llu\n",
                    SL_E(st->servers[i].name), sl_stats_methods[m], c + 1,
                    (unsigned long long) atomic_load(
                        &st->servers[i].requests[m][c]));
    }
    sl_stats_printf(o, "# HELP sluice_http_received_bytes_total Bytes of "
        "requests received.\n# TYPE sluice_http_received_bytes_total "
        "counter\n");
    for (i = 0; i < SL_STATS_MAX_SERVERS; i++)
        if (st->servers[i].used)
            sl_stats_printf(o, "sluice_http_received_bytes_total{server="
                "\"%s\"} %llu\n", SL_E(st->servers[i].name),
                (unsigned long long) atomic_load(&st->servers[i].bytes_in));
    sl_stats_printf(o, "# HELP sluice_http_sent_bytes_total Bytes of "
        "responses sent.\n# TYPE sluice_http_sent_bytes_total counter\n");
    for (i = 0; i < SL_STATS_MAX_SERVERS; i++)
        if (st->servers[i].used)
            sl_stats_printf(o, "sluice_http_sent_bytes_total{server=\"%s\"} "
                "%llu\n", SL_E(st->servers[i].name),
                (unsigned long long) atomic_load(&st->servers[i].bytes_out));

    sl_stats_printf(o, "# HELP sluice_http_request_duration_seconds Time "
        "from the first byte of a request to its end.\n"
        "# TYPE sluice_http_request_duration_seconds histogram\n");
    for (i = 0; i <= SL_STATS_NBUCKETS; i++) {
        cum += atomic_load(&st->duration[i]);
        if (i < SL_STATS_NBUCKETS)
            sl_stats_printf(o, "sluice_http_request_duration_seconds_bucket"
                "{le=\"%g\"} %llu\n", sl_stats_bounds[i] / 1e6,
                (unsigned long long) cum);
        else
            sl_stats_printf(o, "sluice_http_request_duration_seconds_bucket"
                "{le=\"+Inf\"} %llu\n", (unsigned long long) cum);
    }
    sl_stats_printf(o, "sluice_http_request_duration_seconds_sum %.6f\n"
        "sluice_http_request_duration_seconds_count %llu\n",
        atomic_load(&st->duration_sum_us) / 1e6,
        (unsigned long long) atomic_load(&st->duration_count));

    for (i = 0; i < SL_STATS_MAX_SLOTS && i < sl_cycle->nworkers; i++) {
        active += atomic_load(&st->slots[i].active);
    }
    sl_stats_printf(o, "# HELP sluice_connections_active Open connections, "
        "client and upstream, of the current workers.\n"
        "# TYPE sluice_connections_active gauge\n"
        "sluice_connections_active %lld\n", (long long) active);
    sl_stats_printf(o, "# HELP sluice_reloads_total Reloads by result.\n"
        "# TYPE sluice_reloads_total counter\n"
        "sluice_reloads_total{result=\"ok\"} %llu\n"
        "sluice_reloads_total{result=\"failed\"} %llu\n"
        "# HELP sluice_worker_restarts_total Children re-forked after they "
        "died.\n# TYPE sluice_worker_restarts_total counter\n"
        "sluice_worker_restarts_total %llu\n"
        "# HELP sluice_limit_rejections_total Requests refused by limit_req "
        "and limit_conn (dry_run: would have been).\n"
        "# TYPE sluice_limit_rejections_total counter\n"
        "sluice_limit_rejections_total{limit=\"req\",dry_run=\"false\"} %llu\n"
        "sluice_limit_rejections_total{limit=\"req\",dry_run=\"true\"} %llu\n"
        "sluice_limit_rejections_total{limit=\"conn\",dry_run=\"false\"} %llu\n"
        "sluice_limit_rejections_total{limit=\"conn\",dry_run=\"true\"} %llu\n"
        "# HELP sluice_start_time_seconds When sluice started.\n"
        "# TYPE sluice_start_time_seconds gauge\n"
        "sluice_start_time_seconds %.3f\n",
        (unsigned long long) atomic_load(&st->reloads),
        (unsigned long long) atomic_load(&st->reload_failures),
        (unsigned long long) atomic_load(&st->restarts),
        (unsigned long long) atomic_load(&st->limited[0][0]),
        (unsigned long long) atomic_load(&st->limited[0][1]),
        (unsigned long long) atomic_load(&st->limited[1][0]),
        (unsigned long long) atomic_load(&st->limited[1][1]),
        atomic_load(&st->started) / 1000.0);

    sl_stats_cache_metrics(o);

    if (umcf == NULL)
        return;
    ups = umcf->upstreams.elts;
    sl_stats_printf(o, "# HELP sluice_upstream_server_up 1 when the server "
        "takes requests (ready and not down).\n"
        "# TYPE sluice_upstream_server_up gauge\n");
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        for (j = 0; j < ups[i]->servers.nelts; j++) {
            s = sl_array_at(&ups[i]->servers, struct sl_upstream_server, j);
            if ((p = s->peer) == NULL)
                continue;
            sl_stats_printf(o, "sluice_upstream_server_up{upstream=\"%s\","
                "server=\"%s\"} %d\n", SL_E(p->upstream), SL_E(p->addr),
                !s->down && atomic_load(&p->admin) == SL_HEALTH_READY
                && atomic_load(&p->state) != SL_HEALTH_DOWN);
        }
    }
#define SL_STATS_PEER_METRIC(mname, type, help, expr, fmt)                    \
    sl_stats_printf(o, "# HELP " mname " " help "\n# TYPE " mname " " type    \
                    "\n");                                                    \
    for (i = 0; i < umcf->upstreams.nelts; i++)                               \
        for (j = 0; j < ups[i]->servers.nelts; j++) {                         \
            s = sl_array_at(&ups[i]->servers, struct sl_upstream_server, j);  \
            if ((p = s->peer) == NULL)                                        \
                continue;                                                     \
            sl_stats_printf(o, mname "{upstream=\"%s\",server=\"%s\"} " fmt   \
                            "\n", SL_E(p->upstream), SL_E(p->addr), expr);    \
        }
    SL_STATS_PEER_METRIC("sluice_upstream_server_active_connections", "gauge",
        "Requests in flight to the server, all workers.",
        (int) atomic_load(&p->conns), "%d")
    SL_STATS_PEER_METRIC("sluice_upstream_server_requests_total", "counter",
        "Requests sent to the server.",
        (unsigned long long) atomic_load(&p->requests), "%llu")
    SL_STATS_PEER_METRIC("sluice_upstream_server_failures_total", "counter",
        "Failed requests (connect, timeout, invalid response).",
        (unsigned long long) atomic_load(&p->failures), "%llu")
    SL_STATS_PEER_METRIC("sluice_upstream_server_checks_total", "counter",
        "Active health checks run.",
        (unsigned long long) atomic_load(&p->checks), "%llu")
    SL_STATS_PEER_METRIC("sluice_upstream_server_check_failures_total",
        "counter", "Active health checks failed.",
        (unsigned long long) atomic_load(&p->check_failures), "%llu")
    SL_STATS_PEER_METRIC("sluice_upstream_server_check_latency_seconds",
        "gauge", "Smoothed latency of the active health checks.",
        atomic_load(&p->ewma_us) / 1e6, "%.6f")
#undef SL_STATS_PEER_METRIC
}

static void
sl_stats_json(struct sl_stats_out *o, struct sl_stats *st)
{
    struct sl_upstream_main_conf *umcf = sl_stats_upstreams();
    struct sl_upstream **ups;
    struct sl_upstream_server *s;
    struct sl_health_peer *p;
    struct sl_cache_zone *cz;
    struct sl_cache_stats cst;
    uint64_t total = 0, cls[5] = { 0, 0, 0, 0, 0 };
    int64_t active = 0;
    unsigned i, j, m, c, first;

    for (i = 0; i < SL_STATS_MAX_SERVERS; i++) {
        if (!st->servers[i].used)
            continue;
        for (m = 0; m < SL_STATS_NMETHODS; m++)
            for (c = 0; c < 5; c++) {
                uint64_t v = atomic_load(&st->servers[i].requests[m][c]);
                cls[c] += v;
                total += v;
            }
    }
    for (i = 0; i < SL_STATS_MAX_SLOTS && i < sl_cycle->nworkers; i++)
        active += atomic_load(&st->slots[i].active);
    sl_stats_printf(o, "{\"version\":\"%s\",\"time\":%lld,\"started\":%lld,"
        "\"generation_reloads\":%llu,\"requests\":%llu,\"status\":{\"1xx\":"
        "%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
        "\"connections\":%lld,\"upstreams\":[", SL_VERSION,
        (long long) sl_time_msec, (long long) atomic_load(&st->started),
        (unsigned long long) atomic_load(&st->reloads),
        (unsigned long long) total, (unsigned long long) cls[0],
        (unsigned long long) cls[1], (unsigned long long) cls[2],
        (unsigned long long) cls[3], (unsigned long long) cls[4],
        (long long) active);
    ups = umcf != NULL ? umcf->upstreams.elts : NULL;
    for (i = 0; umcf != NULL && i < umcf->upstreams.nelts; i++) {
        sl_stats_printf(o, "%s{\"name\":\"%s\",\"servers\":[",
                        i ? "," : "", sl_stats_esc(o, (char *) ups[i]->name.data,
                        ups[i]->name.len, 1));
        first = 1;
        for (j = 0; j < ups[i]->servers.nelts; j++) {
            s = sl_array_at(&ups[i]->servers, struct sl_upstream_server, j);
            if ((p = s->peer) == NULL)
                continue;
            sl_stats_printf(o, "%s{\"addr\":\"%s\",\"weight\":%d,"
                "\"backup\":%s,\"admin\":\"%s\",\"health\":\"%s\","
                "\"active\":%d,\"requests\":%llu,\"failures\":%llu,"
                "\"check_failures\":%llu,\"latency_ms\":%.3f}",
                first ? "" : ",", p->addr, sl_upstream_server_weight(s),
                s->backup ? "true" : "false",
                s->down ? "down" : sl_health_admin_name(atomic_load(&p->admin)),
                sl_health_state_name(atomic_load(&p->state)),
                (int) atomic_load(&p->conns),
                (unsigned long long) atomic_load(&p->requests),
                (unsigned long long) atomic_load(&p->failures),
                (unsigned long long) atomic_load(&p->check_failures),
                atomic_load(&p->ewma_us) / 1000.0);
            first = 0;
        }
        sl_stats_printf(o, "]}");
    }
    sl_stats_printf(o, "],\"caches\":[");
    for (i = 0; (cz = sl_cache_zone_get(sl_cycle, i)) != NULL; i++) {
        memset(&cst, 0, sizeof(cst));
        if (cz->store != NULL)
            sl_cache_store_stats(cz->store, &cst);
        sl_stats_printf(o, "%s{\"name\":\"%s\",\"size\":%zu,"
            "\"entries\":%llu,\"used\":%llu,\"free\":%llu,\"hit\":%llu,"
            "\"miss\":%llu,\"stale\":%llu,\"evicted\":%llu}",
            i ? "," : "", sl_stats_esc(o, cz->name.data, cz->name.len, 1),
            cz->size, (unsigned long long) cst.entries,
            (unsigned long long) cst.used, (unsigned long long) cst.free,
            (unsigned long long) cst.counters[SL_CACHE_STAT_HIT],
            (unsigned long long) cst.counters[SL_CACHE_STAT_MISS],
            (unsigned long long) cst.counters[SL_CACHE_STAT_STALE],
            (unsigned long long) cst.counters[SL_CACHE_STAT_EVICTED]);
    }
    sl_stats_printf(o, "]}\n");
}

/* The page: no external assets; it polls ?format=json every 2 seconds. */
static const char sl_stats_page[] =
"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
"<title>sluice status</title>\n<style>\n"
"body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:1em;"
"background:#f6f7f9;color:#1d2430}\n"
"h1{font-size:1.3em;margin:0 0 .5em}h2{font-size:1.1em;margin:1.2em 0 .4em}"
"\n.cards{display:flex;flex-wrap:wrap;gap:.6em}\n"
".card{background:#fff;border-radius:8px;padding:.6em .9em;min-width:8em;"
"box-shadow:0 1px 2px #0002}\n.card b{display:block;font-size:1.4em}\n"
"table{border-collapse:collapse;width:100%;background:#fff;"
"box-shadow:0 1px 2px #0002}\nth,td{padding:.35em .5em;text-align:left;"
"border-bottom:1px solid #e4e7ec}\nth{font-weight:600;background:#eef1f5}\n"
".up{color:#16803c;font-weight:600}.down{color:#c0262d;font-weight:600}\n"
".drain,.maint{color:#a35b00;font-weight:600}\n"
".wrap{overflow-x:auto}\n#err{color:#c0262d}\n"
"@media (max-width:600px){body{padding:.6em}"
".cards{display:grid;grid-template-columns:repeat(3,1fr)}"
".card{min-width:0;padding:.5em .6em}"
"table,tbody,tr,td{display:block}tr:first-child{display:none}"
"tr{padding:.45em .6em;border-bottom:1px solid #e4e7ec}"
"td{display:inline-block;border:0;padding:.05em 0;margin-right:.9em}"
"td:first-child{display:block;margin:0 0 .15em}"
"td:nth-child(n+2)::before{color:#5b6472;font-weight:400;margin-right:.3em}"
"td:nth-child(2)::before{content:'health'}"
"td:nth-child(3)::before{content:'admin'}"
"td:nth-child(4)::before{content:'weight'}"
"td:nth-child(5)::before{content:'active'}"
"td:nth-child(6)::before{content:'requests'}"
"td:nth-child(7)::before{content:'failures'}"
"td:nth-child(8)::before{content:'check ms'}}\n"
"</style></head><body>\n"
"<h1>sluice <span id=\"ver\"></span></h1>\n<div class=\"cards\">\n"
"<div class=\"card\">requests/s<b id=\"rps\">-</b></div>\n"
"<div class=\"card\">requests<b id=\"req\">-</b></div>\n"
"<div class=\"card\">connections<b id=\"conn\">-</b></div>\n"
"<div class=\"card\">5xx<b id=\"e5\">-</b></div>\n"
"<div class=\"card\">uptime<b id=\"up\">-</b></div>\n</div>\n"
"<p id=\"err\"></p>\n<div id=\"ups\"></div>\n<div id=\"caches\"></div>\n"
"<script>\n"
"var last=null;\nfunction esc(s){return String(s).replace(/[&<>\"]/g,"
"function(c){return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]})}\n"
"function dur(ms){var s=Math.floor(ms/1000);if(s<120)return s+'s';"
"if(s<7200)return Math.floor(s/60)+'m';return Math.floor(s/3600)+'h'}\n"
"function render(d){document.getElementById('ver').textContent=d.version;"
"document.getElementById('req').textContent=d.requests;"
"document.getElementById('conn').textContent=d.connections;"
"document.getElementById('e5').textContent=d.status['5xx'];"
"document.getElementById('up').textContent=dur(d.time-d.started);"
"if(last){var dt=(d.time-last.time)/1000;if(dt>0)"
"document.getElementById('rps').textContent=((d.requests-last.requests)/dt)"
".toFixed(1)}last=d;var h='';d.upstreams.forEach(function(u){"
"h+='<h2>upstream '+esc(u.name)+'</h2><div class=\"wrap\"><table><tr><th>"
"server</th><th>health</th><th>admin</th><th>weight</th><th>active</th>"
"<th>requests</th><th>failures</th><th>check ms</th></tr>';"
"u.servers.forEach(function(s){h+='<tr data-server=\"'+esc(s.addr)+'\" "
"data-health=\"'+esc(s.health)+'\" data-admin=\"'+esc(s.admin)+'\"><td>'"
"+esc(s.addr)+(s.backup?' (backup)':'')+'</td><td class=\"'+esc(s.health)"
"+'\">'+esc(s.health)+'</td><td class=\"'+esc(s.admin)+'\">'+esc(s.admin)"
"+'</td><td>'+s.weight+'</td><td>'+s.active+'</td><td>'+s.requests+"
"'</td><td>'+s.failures+'</td><td>'+s.latency_ms.toFixed(1)+'</td></tr>'});"
"h+='</table></div>'});document.getElementById('ups').innerHTML=h;"
"h='';(d.caches||[]).forEach(function(c){h+='<h2>cache '+esc(c.name)+"
"'</h2><div class=\"wrap\"><table><tr><th>entries</th><th>used</th>"
"<th>free</th><th>hits</th><th>misses</th><th>stale</th><th>evicted</th>"
"</tr><tr data-zone=\"'+esc(c.name)+'\"><td>'+c.entries+'</td><td>'+c.used"
"+'</td><td>'+c.free+'</td><td>'+c.hit+'</td><td>'+c.miss+'</td><td>'"
"+c.stale+'</td><td>'+c.evicted+'</td></tr></table></div>'});"
"document.getElementById('caches').innerHTML=h;"
"document.body.setAttribute('data-loaded','1')}\n"
"function tick(){fetch('?format=json',{cache:'no-store'}).then(function(r)"
"{return r.json()}).then(function(d){document.getElementById('err')"
".textContent='';render(d)}).catch(function(e){document.getElementById("
"'err').textContent='cannot reach sluice: '+e})}\n"
"tick();setInterval(tick,2000);\n</script></body></html>\n";

static int
sl_stats_send(struct sl_http_request *r, int json_or_text)
{
    static const struct sl_str prom = sl_string(
        "text/plain; version=0.0.4; charset=utf-8");
    static const struct sl_str json = sl_string("application/json");
    static const struct sl_str html = sl_string("text/html; charset=utf-8");
    struct sl_stats *st = sl_stats_current();
    struct sl_stats_out o;
    struct sl_str body;

    if (r->head->method != SL_HTTP_GET && r->head->method != SL_HTTP_HEAD) {
        sl_http_send_error(r, 405);
        return SL_OK;
    }
    if (json_or_text == 2) {
        sl_str_set(&body, sl_stats_page);
        sl_http_add_header(r, "Cache-Control", 13, "no-store", 8);
        sl_http_send_simple(r, 200, &html, &body);
        return SL_OK;
    }
    if (st == NULL) {
        sl_http_send_error(r, 503);
        return SL_OK;
    }
    memset(&o, 0, sizeof(o));
    o.r = r;
    o.cap = 16384;
    o.buf = sl_pnalloc(r->pool, o.cap);
    if (o.buf == NULL)
        return SL_ERROR;
    if (json_or_text == 1)
        sl_stats_json(&o, st);
    else
        sl_stats_metrics_text(&o, st);
    if (o.failed)
        return SL_ERROR;
    body.data = o.buf;
    body.len = o.len;
    sl_http_add_header(r, "Cache-Control", 13, "no-store", 8);
    sl_http_send_simple(r, 200, json_or_text == 1 ? &json : &prom, &body);
    return SL_OK;
}

static int
sl_stats_metrics_handler(struct sl_http_request *r)
{
    return sl_stats_send(r, 0);
}

static int
sl_stats_status_handler(struct sl_http_request *r)
{
    struct sl_str *a = &r->args;

    const char *p = a->data, *end = a->data + a->len, *amp;

    /* The argument format=json exactly, anywhere in the query. */
    while (p != NULL && p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if ((size_t) ((amp ? amp : end) - p) == 11
            && memcmp(p, "format=json", 11) == 0)
        {
            return sl_stats_send(r, 1);
        }
        p = amp ? amp + 1 : NULL;
    }
    return sl_stats_send(r, 2);
}

static int
sl_stats_set_metrics(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_loc_conf *lcf = cf->loc_conf[sl_http_core_module.index];

    if (lcf->handler != NULL) {
        sl_conf_error(cf, "the location has a content handler already");
        return SL_ERROR;
    }
    lcf->handler = sl_stats_metrics_handler;
    return SL_OK;
}

static int
sl_stats_set_status(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_loc_conf *lcf = cf->loc_conf[sl_http_core_module.index];

    if (lcf->handler != NULL) {
        sl_conf_error(cf, "the location has a content handler already");
        return SL_ERROR;
    }
    lcf->handler = sl_stats_status_handler;
    return SL_OK;
}

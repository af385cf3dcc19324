/*
 * sl_health.c: the shared health table (a shared-memory zone) and the
 * health_check directive.  See sl_health.h for who writes what.
 */
#include "sl_core.h"
#include "sl_health.h"
#include "sl_cycle.h"
#include "sl_shm.h"

#include <strings.h>

static int sl_health_set_check(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const struct sl_conf_cmd sl_health_cmds[] = {
    { "health_check", SL_CONF_UPSTREAM | SL_CONF_NOARGS | SL_CONF_1MORE,
      sl_health_set_check, SL_CONF_LEVEL_UPSTREAM, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

static struct sl_shm_zone *sl_health_zone;   /* of the cycle being loaded */

static const struct sl_str sl_health_zone_name = sl_string("sl_health");

const char *
sl_health_admin_name(unsigned admin)
{
    switch (admin) {
    case SL_HEALTH_DRAIN: return "drain";
    case SL_HEALTH_MAINT: return "maint";
    default: return "ready";
    }
}

const char *
sl_health_state_name(unsigned state)
{
    switch (state) {
    case SL_HEALTH_UP: return "up";
    case SL_HEALTH_DOWN: return "down";
    default: return "unchecked";
    }
}

struct sl_health_table *
sl_health_current(void)
{
    struct sl_shm_zone **zones;
    unsigned i;

    if (sl_cycle == NULL)
        return NULL;
    zones = sl_cycle->shm_zones.elts;
    for (i = 0; i < sl_cycle->shm_zones.nelts; i++) {
        if (zones[i]->tag == &sl_health_module && zones[i]->data != NULL)
            return zones[i]->data;
    }
    return NULL;
}

struct sl_health_peer *
sl_health_find(struct sl_health_table *t, const char *upstream,
    const char *server)
{
    struct sl_health_peer *p;
    uint32_t i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->npeers; i++) {
        p = &t->peers[i];
        if (p->used != 1 || strcasecmp(p->upstream, upstream) != 0)
            continue;
        if (strcmp(p->addr, server) == 0 || strcmp(p->name, server) == 0)
            return p;
    }
    return NULL;
}

static void
sl_health_copy(char *dst, const char *src, size_t len)
{
    size_t n = strlen(src);

    if (n >= SL_HEALTH_NAME_LEN)
        n = SL_HEALTH_NAME_LEN - 1;
    (void) len;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * Gives every server of the new configuration its record: the one with
 * the same upstream and address if the zone has it (its state survives
 * the reload), else a fresh one.  Records the new configuration dropped
 * are retired, not reused while free ones remain: a draining worker of
 * the old generation may still count on them.
 */
static int
sl_health_zone_init(struct sl_shm_zone *zone, void *old_data)
{
    struct sl_upstream_main_conf *umcf = zone->ctx;
    struct sl_health_table *t;
    struct sl_upstream **ups, *u;
    struct sl_upstream_server *s;
    struct sl_health_peer *p, *free_p;
    const struct sl_upstream_saved *saved;
    char name[SL_HEALTH_NAME_LEN];
    uint32_t i, gen;
    unsigned k, j;

    if (old_data != NULL) {
        t = old_data;
        SL_CHECK_OBJ(t, SL_HEALTH_TABLE_MAGIC);
    } else {
        t = (struct sl_health_table *) ((char *) zone->addr
            + sl_align(sizeof(struct sl_shm_header), 64));
        memset(t, 0, sizeof(*t));
        t->magic = SL_HEALTH_TABLE_MAGIC;
        t->npeers = (uint32_t) ((zone->size
                                 - sl_align(sizeof(struct sl_shm_header), 64)
                                 - sizeof(*t))
                                / sizeof(struct sl_health_peer));
    }
    zone->data = t;
    gen = 0;
    for (i = 0; i < t->npeers; i++) {
        if (t->peers[i].generation > gen)
            gen = t->peers[i].generation;
    }
    gen++;

    ups = umcf != NULL ? umcf->upstreams.elts : NULL;
    for (k = 0; umcf != NULL && k < umcf->upstreams.nelts; k++) {
        u = ups[k];
        for (j = 0; j < u->servers.nelts; j++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, j);
            snprintf(name, sizeof(name), "%.*s", (int) u->name.len,
                     u->name.data);
            p = NULL;
            free_p = NULL;
            for (i = 0; i < t->npeers; i++) {
                struct sl_health_peer *q = &t->peers[i];
                if (q->used != 0 && strcasecmp(q->upstream, name) == 0
                    && strcmp(q->addr, s->addr_text) == 0)
                {
                    p = q;
                    break;
                }
                if (q->used == 0 && free_p == NULL)
                    free_p = q;
            }
            if (p == NULL) {
                /* No free record left: take the oldest retired one. */
                if (free_p == NULL) {
                    for (i = 0; i < t->npeers; i++) {
                        if (t->peers[i].used == 2
                            && t->peers[i].generation < gen - 1
                            && (free_p == NULL || t->peers[i].generation
                                                  < free_p->generation))
                        {
                            free_p = &t->peers[i];
                        }
                    }
                }
                if (free_p == NULL) {
                    sl_log_error(SL_LOG_EMERG, 0, "the shared health table "
                                 "is full (%u servers)", t->npeers);
                    return SL_ERROR;
                }
                p = free_p;
                memset(p, 0, sizeof(*p));
                p->magic = SL_HEALTH_PEER_MAGIC;
                sl_health_copy(p->upstream, name, sizeof(p->upstream));
                sl_health_copy(p->addr, s->addr_text, sizeof(p->addr));
                atomic_store(&p->since, sl_time_msec);
                /* What sluicectl set before a restart (upstreams.state). */
                saved = sl_upstream_state_find(umcf, SL_UPSTREAM_SAVED_ADMIN,
                                               name, s->addr_text);
                if (saved != NULL)
                    atomic_store(&p->admin, (uint32_t) saved->value);
                saved = sl_upstream_state_find(umcf, SL_UPSTREAM_SAVED_WEIGHT,
                                               name, s->addr_text);
                if (saved != NULL)
                    atomic_store(&p->weight, saved->value);
            }
            p->used = 1;
            p->generation = gen;
            snprintf(name, sizeof(name), "%.*s", (int) s->name.len,
                     s->name.data);
            sl_health_copy(p->name, name, sizeof(p->name));
            /* A server that lost its health_check is judged passively. */
            if (u->health == NULL)
                atomic_store(&p->state, SL_HEALTH_UNCHECKED);
            else if (atomic_load(&p->state) == SL_HEALTH_UNCHECKED)
                /* Assumed up until the checker says otherwise (nginx). */
                atomic_store(&p->state, SL_HEALTH_UP);
            s->peer = p;
        }
    }
    for (i = 0; i < t->npeers; i++) {
        if (t->peers[i].used == 1 && t->peers[i].generation != gen)
            t->peers[i].used = 2;
    }
    return SL_OK;
}

static int
sl_health_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_upstream_main_conf *umcf;
    size_t size;

    (void) conf;
    umcf = cf->http_main_conf[sl_upstream_module.index];
    /*
     * A fixed size, so that name and size match from one configuration to
     * the next and the mapping (and every record) survives reloads.
     */
    size = sl_align(sizeof(struct sl_shm_header), 64)
           + sizeof(struct sl_health_table)
           + SL_HEALTH_MAX_PEERS * sizeof(struct sl_health_peer);
    size = sl_align(size, 4096);
    sl_health_zone = sl_shm_zone_add(cf, &sl_health_zone_name, size,
                                     &sl_health_module);
    if (sl_health_zone == NULL)
        return SL_ERROR;
    sl_health_zone->init = sl_health_zone_init;
    sl_health_zone->ctx = umcf;
    return SL_OK;
}

static void *
sl_health_create_http_main(struct sl_conf_ctx *cf)
{
    /* No configuration of its own; the hook orders the zone's creation. */
    return sl_pcalloc(cf->pool, 1);
}

struct sl_module sl_health_module = {
    "health", sl_health_cmds, NULL, NULL, sl_health_create_http_main,
    sl_health_init_http_main, NULL, NULL, NULL, NULL, NULL, 0
};

/* ---- health_check ---------------------------------------------------------- */

static int
sl_health_param(const struct sl_str *a, const char *name, struct sl_str *v)
{
    size_t n = strlen(name);

    if (a->len <= n || strncmp(a->data, name, n) != 0 || a->data[n] != '=')
        return 0;
    v->data = a->data + n + 1;
    v->len = a->len - n - 1;
    return 1;
}

static int
sl_health_set_check(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_upstream *u = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_health_conf *hc;
    struct sl_tls_client_conf *tcf;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    struct sl_str v, tls_name = { 0, NULL };
    int64_t num;
    unsigned i;
    int errcode, tls_verify = 0, flag;
    char *dash;

    if (u->health != NULL) {
        sl_conf_error(cf, "\"health_check\" directive is duplicate");
        return SL_ERROR;
    }
    hc = sl_pcalloc(cf->pool, sizeof(*hc));
    if (hc == NULL)
        return SL_ERROR;
    hc->type_http = 1;
    sl_str_set(&hc->uri, "/");
    hc->interval = 5000;
    hc->timeout = 2000;
    hc->rise = 2;
    hc->fall = 3;
    hc->status_min = 200;
    hc->status_max = 399;
    hc->tls = -1;
    tcf = sl_pcalloc(cf->pool, sizeof(*tcf));
    if (tcf == NULL)
        return SL_ERROR;
    sl_tls_client_defaults(tcf);
    tcf->session_reuse = 0;         /* a check is one connection */

    for (i = 0; i < n->nargs; i++) {
        struct sl_str *a = &n->args[i];
        if (sl_str_eq(a, "tls")) {
            hc->tls = 1;
        } else if (sl_health_param(a, "tls", &v)) {
            if (sl_conf_parse_flag(&v, &flag) != SL_OK)
                goto invalid;
            hc->tls = flag;
        } else if (sl_health_param(a, "tls_verify", &v)) {
            if (sl_conf_parse_flag(&v, &tls_verify) != SL_OK)
                goto invalid;
        } else if (sl_health_param(a, "tls_trusted_certificate", &v)) {
            if (v.len == 0 || memchr(v.data, '\0', v.len) != NULL)
                goto invalid;
            tcf->trusted = sl_tls_client_file(cf, &v);
            if (tcf->trusted == NULL)
                return SL_ERROR;
        } else if (sl_health_param(a, "tls_name", &v)) {
            if (v.len == 0)
                goto invalid;
            tls_name = v;
        } else if (sl_health_param(a, "type", &v)) {
            if (sl_str_eq(&v, "http"))
                hc->type_http = 1;
            else if (sl_str_eq(&v, "tcp"))
                hc->type_http = 0;
            else
                goto invalid;
        } else if (sl_health_param(a, "uri", &v)) {
            if (v.len == 0 || v.data[0] != '/' || memchr(v.data, ' ', v.len)
                || memchr(v.data, '\r', v.len) || memchr(v.data, '\n', v.len))
            {
                goto invalid;
            }
            hc->uri = v;
        } else if (sl_health_param(a, "host", &v)) {
            if (v.len == 0 || memchr(v.data, ' ', v.len)
                || memchr(v.data, '\r', v.len) || memchr(v.data, '\n', v.len))
            {
                goto invalid;
            }
            hc->host = v;
        } else if (sl_health_param(a, "port", &v)) {
            if (sl_conf_parse_int(&v, &num) != SL_OK || num < 1
                || num > 65535)
            {
                goto invalid;
            }
            hc->port = (int) num;
        } else if (sl_health_param(a, "interval", &v)) {
            if (sl_conf_parse_msec(&v, &hc->interval) != SL_OK
                || hc->interval < 100)
            {
                goto invalid;
            }
        } else if (sl_health_param(a, "timeout", &v)) {
            if (sl_conf_parse_msec(&v, &hc->timeout) != SL_OK
                || hc->timeout < 10)
            {
                goto invalid;
            }
        } else if (sl_health_param(a, "rise", &v)) {
            if (sl_conf_parse_int(&v, &num) != SL_OK || num < 1 || num > 1000)
                goto invalid;
            hc->rise = (int) num;
        } else if (sl_health_param(a, "fall", &v)) {
            if (sl_conf_parse_int(&v, &num) != SL_OK || num < 1 || num > 1000)
                goto invalid;
            hc->fall = (int) num;
        } else if (sl_health_param(a, "status", &v)) {
            char buf[32];
            if (v.len == 0 || v.len >= sizeof(buf))
                goto invalid;
            memcpy(buf, v.data, v.len);
            buf[v.len] = '\0';
            dash = strchr(buf, '-');
            if (dash != NULL) {
                *dash = '\0';
                hc->status_min = atoi(buf);
                hc->status_max = atoi(dash + 1);
            } else {
                hc->status_min = hc->status_max = atoi(buf);
            }
            if (hc->status_min < 100 || hc->status_max > 599
                || hc->status_min > hc->status_max)
            {
                goto invalid;
            }
        } else if (sl_health_param(a, "body", &v)) {
            hc->body = pcre2_compile((PCRE2_SPTR) v.data, v.len, 0, &errcode,
                                     &off, NULL);
            if (hc->body == NULL) {
                pcre2_get_error_message(errcode, msg, sizeof(msg));
                sl_conf_error(cf, "pcre2_compile() failed: %s in \"%.*s\"",
                              (char *) msg, (int) v.len, v.data);
                return SL_ERROR;
            }
            (void) pcre2_jit_compile(hc->body, PCRE2_JIT_COMPLETE);
            sl_pool_cleanup_add(cf->pool,
                                (void (*)(void *)) pcre2_code_free, hc->body);
        } else {
            goto invalid;
        }
    }
    if (hc->timeout > hc->interval)
        hc->timeout = hc->interval;
    if (hc->tls != 0) {
        /*
         * The name verified: tls_name, else host=, else the group's name
         * (proxy_ssl_name's default); SNI only with tls_name.
         */
        if (tls_verify && tcf->trusted == NULL) {
            sl_conf_error(cf, "\"tls_verify=on\" needs "
                          "\"tls_trusted_certificate=FILE\" in "
                          "\"health_check\"");
            return SL_ERROR;
        }
        tcf->verify = tls_verify;
        tcf->server_name = tls_name.len > 0;
        tcf->name = tls_name;
        if (sl_tls_client_build(cf, tcf, hc->host.len ? &hc->host : &u->name,
                                n->file, n->line) != SL_OK)
        {
            return SL_ERROR;
        }
        hc->tls_conf = tcf;
    }
    u->health = hc;
    return SL_OK;

invalid:
    sl_conf_error(cf, "invalid parameter \"%.*s\" in \"health_check\"",
                  (int) n->args[i].len, n->args[i].data);
    return SL_ERROR;
}

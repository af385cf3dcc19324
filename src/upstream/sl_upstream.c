/*
 * sl_upstream.c: upstream groups and their configuration.
 *
 *   upstream NAME { ... }                                        http
 *   server ADDR[:PORT] [weight=N] [max_fails=N] [fail_timeout=T]
 *          [backup] [down] [max_conns=N] [slow_start=T];          upstream
 *   keepalive N;  keepalive_timeout T;  keepalive_requests N;    upstream
 *   least_conn;  ip_hash;  hash KEY [consistent];
 *   random [two [least_conn]];                                   upstream
 *
 * A group is made either by upstream{} or by a reference
 * (sl_upstream_add(), for proxy_pass http://NAME).  After the http block
 * a group that was only referenced must name an address itself
 * (ADDR:PORT, HOST:PORT or HOST, port 80): it becomes a group of the
 * addresses that name resolves to, with nginx's defaults.  Names are
 * resolved once, when the configuration is loaded; every address a host
 * name gives becomes a server with the parameters written for it.
 *
 * Backups are moved behind the primaries when a block ends, so that a
 * balancer sees servers[0 .. nprimary) then the backups.  Finally every
 * group's balancer checks and prepares it (round robin unless a
 * balancing directive chose another).  A group has one balancing
 * method: a second directive is an error ("load balancing method
 * redefined"; nginx only warns and takes the last).  ip_hash, hash and
 * random take no `backup` servers, as in nginx, whichever comes first.
 *
 * `server`, `keepalive_timeout` and `keepalive_requests` have namesakes
 * at the http level; the walker tells them apart by context.
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_cycle.h"

#include <arpa/inet.h>
#include <netdb.h>

#define SL_UPSTREAM_DEFAULT_PORT   80
#define SL_UPSTREAM_MAX_WEIGHT     1000
#define SL_UPSTREAM_MAX_KEEPALIVE  65536

static int sl_upstream_block(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_upstream_server(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_upstream_keepalive(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_upstream_method(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const int64_t sl_upstream_max_requests = INT32_MAX;

static const struct sl_conf_cmd sl_upstream_cmds[] = {
    { "upstream", SL_CONF_HTTP | SL_CONF_TAKE1 | SL_CONF_BLOCK
      | SL_CONF_MULTI, sl_upstream_block, SL_CONF_LEVEL_HTTP_MAIN, 0, NULL },
    { "keepalive", SL_CONF_UPSTREAM | SL_CONF_TAKE1, sl_upstream_keepalive,
      SL_CONF_LEVEL_UPSTREAM, 0, NULL },
    /*
     * Balancing methods; post is the balancer.  MULTI, so that a second
     * one is "redefined" whichever it is, the same name included.
     */
    { "least_conn", SL_CONF_UPSTREAM | SL_CONF_NOARGS | SL_CONF_MULTI,
      sl_upstream_method, SL_CONF_LEVEL_UPSTREAM, 0,
      &sl_balancer_least_conn },
    { "ip_hash", SL_CONF_UPSTREAM | SL_CONF_NOARGS | SL_CONF_MULTI,
      sl_upstream_method, SL_CONF_LEVEL_UPSTREAM, 0, &sl_balancer_ip_hash },
    { "hash", SL_CONF_UPSTREAM | SL_CONF_TAKE12 | SL_CONF_MULTI,
      sl_upstream_method, SL_CONF_LEVEL_UPSTREAM, 0, &sl_balancer_hash },
    { "random", SL_CONF_UPSTREAM | SL_CONF_NOARGS | SL_CONF_TAKE12
      | SL_CONF_MULTI, sl_upstream_method, SL_CONF_LEVEL_UPSTREAM, 0,
      &sl_balancer_random },
    { "resolve_interval", SL_CONF_UPSTREAM | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_UPSTREAM,
      offsetof(struct sl_upstream, resolve_interval), NULL },
    /* Namesakes of http-level directives: the walker looks up by context. */
    { "server", SL_CONF_UPSTREAM | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_upstream_server, SL_CONF_LEVEL_UPSTREAM, 0, NULL },
    { "keepalive_timeout", SL_CONF_UPSTREAM | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_UPSTREAM,
      offsetof(struct sl_upstream, keepalive_timeout), NULL },
    { "keepalive_requests", SL_CONF_UPSTREAM | SL_CONF_TAKE1,
      sl_conf_set_int, SL_CONF_LEVEL_UPSTREAM,
      offsetof(struct sl_upstream, keepalive_requests),
      &sl_upstream_max_requests },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
sl_upstream_create_http_main(struct sl_conf_ctx *cf)
{
    struct sl_upstream_main_conf *umcf;

    umcf = sl_pcalloc(cf->pool, sizeof(*umcf));
    if (umcf == NULL
        || sl_array_init(&umcf->upstreams, cf->pool, 4, sizeof(void *))
           != SL_OK
        || sl_array_init(&umcf->saved, cf->pool, 4,
                         sizeof(struct sl_upstream_saved)) != SL_OK)
    {
        return NULL;
    }
    umcf->magic = SL_UPSTREAM_MAIN_MAGIC;
    /* The run-time side (keepalive_close_all, the proxy) finds it here. */
    if (cf->cycle != NULL && cf->cycle->main_conf != NULL)
        cf->cycle->main_conf[sl_upstream_module.index] = umcf;
    return umcf;
}

static int sl_upstream_init_http_main(struct sl_conf_ctx *cf, void *conf);

/* Each worker draws its own random picks. */
static int
sl_upstream_init_worker(struct sl_cycle *cycle)
{
    sl_upstream_random_seed(0);
    return SL_OK;
}

struct sl_module sl_upstream_module = {
    "upstream", sl_upstream_cmds, NULL, NULL,
    sl_upstream_create_http_main, sl_upstream_init_http_main,
    NULL, NULL, NULL, NULL,
    sl_upstream_init_worker, 0
};

/* ---- addresses ----------------------------------------------------------- */

int
sl_upstream_parse_addr(const struct sl_str *s, struct sl_str *host,
    unsigned *port, const char **reason)
{
    const char *p, *end = s->data + s->len, *colon;
    const char *why;
    int64_t n;

    *port = SL_UPSTREAM_DEFAULT_PORT;
    host->data = s->data;
    host->len = 0;
    if (s->len == 0) {
        why = "no host";
        goto fail;
    }
    if (s->data[0] == '[') {
        p = memchr(s->data, ']', s->len);
        if (p == NULL || p == s->data + 1) {
            why = p == NULL ? "invalid host" : "no host";
            goto fail;
        }
        host->data = s->data + 1;
        host->len = (size_t) (p - s->data - 1);
        p++;
        if (p == end)
            return SL_OK;
        if (*p != ':') {
            why = "invalid host";
            goto fail;
        }
        colon = p;
    } else {
        colon = memchr(s->data, ':', s->len);
        if (colon != NULL
            && memchr(colon + 1, ':', (size_t) (end - colon - 1)) != NULL)
        {
            /* Two colons: an IPv6 address, which must be bracketed. */
            why = "invalid host";
            goto fail;
        }
        host->len = colon != NULL ? (size_t) (colon - s->data) : s->len;
        if (host->len == 0) {
            why = "no host";
            goto fail;
        }
        if (colon == NULL)
            return SL_OK;
    }
    n = sl_atoi(colon + 1, (size_t) (end - colon - 1));
    if (n < 1 || n > 65535) {
        why = "invalid port";
        goto fail;
    }
    *port = (unsigned) n;
    return SL_OK;

fail:
    if (reason != NULL)
        *reason = why;
    return SL_ERROR;
}

/*
 * Whether host could be a DNS name or a dotted quad; anything else cannot
 * resolve, and is not worth a query.
 */
static int
sl_upstream_hostname_ok(const struct sl_str *host)
{
    size_t i;
    char ch;

    for (i = 0; i < host->len; i++) {
        ch = host->data[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
              || ch == '_'))
        {
            return 0;
        }
    }
    return host->len > 0;
}

static int
sl_upstream_all_digits_dots(const struct sl_str *host)
{
    size_t i;

    for (i = 0; i < host->len; i++) {
        if (host->data[i] != '.' && (host->data[i] < '0'
                                     || host->data[i] > '9'))
        {
            return 0;
        }
    }
    return 1;
}

/* Appends one server made from tmpl for address sa; NULL: no memory. */
static struct sl_upstream_server *
sl_upstream_push_server(struct sl_upstream *u,
    const struct sl_upstream_server *tmpl, const struct sockaddr *sa,
    socklen_t len)
{
    struct sl_upstream_server *s;

    s = sl_array_push(&u->servers);
    if (s == NULL)
        return NULL;
    *s = *tmpl;
    memset(&s->sa, 0, sizeof(s->sa));
    memcpy(&s->sa, sa, len);
    s->socklen = len;
    sl_sockaddr_ntop(&s->sa.sa, s->addr_text, sizeof(s->addr_text), 1);
    return s;
}

/*
 * Resolves addr ("HOST:PORT", "[IPV6]:PORT", "HOST") and appends a server
 * made from tmpl (parameters and name) for every address it gives,
 * skipping repeats.  IP literals are taken as they are; only a plausible
 * host name is looked up (getaddrinfo, AF_UNSPEC, stream).  Returns SL_OK,
 * SL_ERROR with *reason set ("host not found", "invalid port", ...), or
 * SL_ABORT when out of memory.
 */
int
sl_upstream_resolve(struct sl_upstream *u, const struct sl_str *addr,
    const struct sl_upstream_server *tmpl, const char **reason)
{
    struct addrinfo hints, *res, *ai;
    struct sl_upstream_server *s;
    union sl_sockaddr sa;
    struct sl_str host;
    char name[NI_MAXHOST];
    unsigned port, first, i;
    int dup;

    if (sl_upstream_parse_addr(addr, &host, &port, reason) != SL_OK)
        return SL_ERROR;
    if (host.len >= sizeof(name)) {
        *reason = "host not found";
        return SL_ERROR;
    }
    memcpy(name, host.data, host.len);
    name[host.len] = '\0';
    memset(&sa, 0, sizeof(sa));

    if (addr->data[0] == '[') {
        if (inet_pton(AF_INET6, name, &sa.sin6.sin6_addr) != 1) {
            *reason = "invalid host";
            return SL_ERROR;
        }
        sa.sin6.sin6_family = AF_INET6;
        sa.sin6.sin6_port = htons((uint16_t) port);
        return sl_upstream_push_server(u, tmpl, &sa.sa, sizeof(sa.sin6))
               == NULL ? SL_ABORT : SL_OK;
    }
    if (inet_pton(AF_INET, name, &sa.sin.sin_addr) == 1) {
        sa.sin.sin_family = AF_INET;
        sa.sin.sin_port = htons((uint16_t) port);
        return sl_upstream_push_server(u, tmpl, &sa.sa, sizeof(sa.sin))
               == NULL ? SL_ABORT : SL_OK;
    }
    /* Not an address; "300.1.1.1" is not a name either. */
    if (!sl_upstream_hostname_ok(&host) || sl_upstream_all_digits_dots(&host))
    {
        *reason = "host not found";
        return SL_ERROR;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) {
        *reason = "host not found";
        return SL_ERROR;
    }
    first = u->servers.nelts;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            || ai->ai_addrlen > sizeof(sa))
        {
            continue;
        }
        memset(&sa, 0, sizeof(sa));
        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
        if (sa.sa.sa_family == AF_INET)
            sa.sin.sin_port = htons((uint16_t) port);
        else
            sa.sin6.sin6_port = htons((uint16_t) port);
        dup = 0;
        for (i = first; i < u->servers.nelts && !dup; i++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, i);
            dup = s->socklen == ai->ai_addrlen
                  && memcmp(&s->sa, &sa, ai->ai_addrlen) == 0;
        }
        if (dup)
            continue;
        if (sl_upstream_push_server(u, tmpl, &sa.sa, ai->ai_addrlen)
            == NULL)
        {
            freeaddrinfo(res);
            return SL_ABORT;
        }
    }
    freeaddrinfo(res);
    if (u->servers.nelts == first) {
        *reason = "host not found";
        return SL_ERROR;
    }
    return SL_OK;
}

/* nginx's defaults for a server: weight 1, max_fails 1, fail_timeout 10s. */
void
sl_upstream_server_defaults(struct sl_upstream_server *tmpl,
    const struct sl_str *name)
{
    memset(tmpl, 0, sizeof(*tmpl));
    tmpl->magic = SL_UPSTREAM_SERVER_MAGIC;
    tmpl->name = *name;
    tmpl->weight = 1;
    tmpl->max_fails = 1;
    tmpl->fail_timeout = 10000;
}

/* ---- groups ------------------------------------------------------------- */

static struct sl_upstream *
sl_upstream_find(struct sl_upstream_main_conf *umcf,
    const struct sl_str *name)
{
    struct sl_upstream **ups = umcf->upstreams.elts;
    unsigned i;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (sl_str_caseeqstr(&ups[i]->name, name))
            return ups[i];
    }
    return NULL;
}

static struct sl_upstream *
sl_upstream_create(struct sl_conf_ctx *cf,
    struct sl_upstream_main_conf *umcf, const struct sl_str *name)
{
    struct sl_upstream *u, **up;

    u = sl_pcalloc(cf->pool, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->magic = SL_UPSTREAM_MAGIC;
    u->name.len = name->len;
    u->name.data = sl_pstrdup(cf->pool, name);
    if (u->name.data == NULL
        || sl_array_init(&u->servers, cf->pool, 4,
                         sizeof(struct sl_upstream_server)) != SL_OK)
    {
        return NULL;
    }
    u->keepalive = 0;
    u->keepalive_timeout = 60000;
    u->keepalive_requests = 1000;
    u->balancer = &sl_balancer_round_robin;
    if (cf->node != NULL) {
        u->file = cf->node->file;
        u->line = cf->node->line;
    }
    up = sl_array_push(&umcf->upstreams);
    if (up == NULL)
        return NULL;
    *up = u;
    return u;
}

struct sl_upstream *
sl_upstream_add(struct sl_conf_ctx *cf, const struct sl_str *name)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream *u;

    SL_ASSERT(cf->http_main_conf != NULL);
    umcf = cf->http_main_conf[sl_upstream_module.index];
    SL_CHECK_OBJ_NOTNULL(umcf, SL_UPSTREAM_MAIN_MAGIC);
    u = sl_upstream_find(umcf, name);
    if (u != NULL)
        return u;
    u = sl_upstream_create(cf, umcf, name);
    if (u != NULL)
        u->implicit = 1;
    return u;
}

/*
 * Moves the backups behind the primaries, keeping the order written within
 * each kind, and counts the primaries.  SL_ERROR: out of memory.
 */
static int
sl_upstream_order(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_upstream_server *s = u->servers.elts, *tmp;
    unsigned i, n = u->servers.nelts, k = 0;

    tmp = sl_palloc(cf->pool, n * sizeof(*tmp));
    if (tmp == NULL)
        return SL_ERROR;
    for (i = 0; i < n; i++) {
        if (!s[i].backup)
            tmp[k++] = s[i];
    }
    u->nprimary = k;
    for (i = 0; i < n; i++) {
        if (s[i].backup)
            tmp[k++] = s[i];
    }
    memcpy(s, tmp, n * sizeof(*tmp));
    return SL_OK;
}

/* ---- the upstream block -------------------------------------------------- */

static int
sl_upstream_block(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_upstream_main_conf *umcf = conf;
    struct sl_conf_node *node = cf->node;
    struct sl_str *name = &node->args[0];
    struct sl_upstream *u;
    void *saved;
    int rc;

    SL_CHECK_OBJ_NOTNULL(umcf, SL_UPSTREAM_MAIN_MAGIC);
    u = sl_upstream_find(umcf, name);
    if (u != NULL && u->defined) {
        sl_conf_error(cf, "duplicate upstream \"%.*s\"", (int) name->len,
                      name->data);
        return SL_ERROR;
    }
    if (u == NULL) {
        u = sl_upstream_create(cf, umcf, name);
        if (u == NULL)
            return SL_ERROR;
    }
    u->defined = 1;
    u->implicit = 0;
    u->file = node->file;
    u->line = node->line;

    saved = cf->upstream;
    cf->upstream = u;
    rc = sl_conf_walk(cf, node->children, SL_CONF_UPSTREAM);
    cf->upstream = saved;
    cf->node = node;
    if (rc != SL_OK)
        return SL_ERROR;
    if (u->servers.nelts == 0) {
        sl_conf_error(cf, "no servers are inside upstream");
        return SL_ERROR;
    }
    return sl_upstream_order(cf, u);
}

/* Parses the N of "name=N" into [min, max]; SL_ERROR if not a number. */
static int
sl_upstream_param_int(const struct sl_str *a, size_t skip, int64_t min,
    int64_t max, int *out)
{
    int64_t n = sl_atoi(a->data + skip, a->len - skip);

    if (n < min || n > max)
        return SL_ERROR;
    *out = (int) n;
    return SL_OK;
}

static int
sl_upstream_param_msec(const struct sl_str *a, size_t skip, sl_msec_t *out)
{
    struct sl_str v;

    v.data = a->data + skip;
    v.len = a->len - skip;
    if (v.len == 0)
        return SL_ERROR;
    return sl_conf_parse_msec(&v, out);
}

#define sl_upstream_prefix(a, lit)                                            \
    ((a)->len >= sizeof(lit) - 1                                              \
     && memcmp((a)->data, lit, sizeof(lit) - 1) == 0)

static int
sl_upstream_server(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_upstream *u = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_upstream_server tmpl;
    struct sl_str name, *a;
    const char *reason = "invalid address";
    unsigned i;
    int rc;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    name.len = n->args[0].len;
    name.data = sl_pstrdup(cf->pool, &n->args[0]);
    if (name.data == NULL)
        return SL_ERROR;
    sl_upstream_server_defaults(&tmpl, &name);

    for (i = 1; i < n->nargs; i++) {
        a = &n->args[i];
        if (sl_upstream_prefix(a, "weight=")) {
            rc = sl_upstream_param_int(a, 7, 1, SL_UPSTREAM_MAX_WEIGHT,
                                       &tmpl.weight);
        } else if (sl_upstream_prefix(a, "max_fails=")) {
            rc = sl_upstream_param_int(a, 10, 0, INT32_MAX, &tmpl.max_fails);
        } else if (sl_upstream_prefix(a, "max_conns=")) {
            rc = sl_upstream_param_int(a, 10, 0, INT32_MAX, &tmpl.max_conns);
        } else if (sl_upstream_prefix(a, "fail_timeout=")) {
            rc = sl_upstream_param_msec(a, 13, &tmpl.fail_timeout);
        } else if (sl_upstream_prefix(a, "slow_start=")) {
            rc = sl_upstream_param_msec(a, 11, &tmpl.slow_start);
        } else if (sl_str_eq(a, "backup")) {
            if (!(u->balancer->flags & SL_BALANCER_BACKUP)) {
                sl_conf_error(cf, "balancing method does not support "
                              "parameter \"backup\"");
                return SL_ERROR;
            }
            tmpl.backup = 1;
            rc = SL_OK;
        } else if (sl_str_eq(a, "down")) {
            tmpl.down = 1;
            rc = SL_OK;
        } else if (sl_str_eq(a, "resolve")) {
            tmpl.resolve = 1;
            rc = SL_OK;
        } else {
            rc = SL_ERROR;
        }
        if (rc != SL_OK) {
            sl_conf_error(cf, "invalid parameter \"%.*s\"", (int) a->len,
                          a->data);
            return SL_ERROR;
        }
    }

    rc = sl_upstream_resolve(u, &n->args[0], &tmpl, &reason);
    if (rc == SL_ERROR) {
        sl_conf_error(cf, "%s in upstream \"%.*s\"", reason,
                      (int) n->args[0].len, n->args[0].data);
    }
    return rc == SL_OK ? SL_OK : SL_ERROR;
}

static int
sl_upstream_keepalive(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_upstream *u = conf;
    struct sl_str *a = &cf->node->args[0];
    int64_t n = sl_atoi(a->data, a->len);

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (n < 1 || n > SL_UPSTREAM_MAX_KEEPALIVE) {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"keepalive\" "
                      "directive, it must be 1..%d", (int) a->len, a->data,
                      SL_UPSTREAM_MAX_KEEPALIVE);
        return SL_ERROR;
    }
    u->keepalive = (int) n;
    return SL_OK;
}

/*
 * least_conn; ip_hash; hash KEY [consistent]; random [two [least_conn]];
 * cmd->post is the balancer; its conf callback takes the arguments.
 */
static int
sl_upstream_method(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    const struct sl_balancer *b = cmd->post;
    struct sl_upstream *u = conf;
    struct sl_upstream_server *s;
    unsigned i;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (u->balancer != &sl_balancer_round_robin) {
        sl_conf_error(cf, "load balancing method redefined");
        return SL_ERROR;
    }
    if (!(b->flags & SL_BALANCER_BACKUP)) {
        s = u->servers.elts;
        for (i = 0; i < u->servers.nelts; i++) {
            if (s[i].backup) {
                sl_conf_error(cf, "balancing method \"%s\" does not "
                              "support backup servers (\"%.*s\")",
                              cmd->name, (int) s[i].name.len,
                              s[i].name.data);
                return SL_ERROR;
            }
        }
    }
    if (b->conf != NULL && b->conf(cf, u) != SL_OK)
        return SL_ERROR;
    u->balancer = b;
    return SL_OK;
}

/* ---- after the http block ---------------------------------------------- */

/*
 * Gives every group only referenced the servers its name stands for,
 * then lets each group's balancer prepare it.  Errors name the group's
 * first reference (or its upstream{}), not the end of the http block.
 */
static int
sl_upstream_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_upstream_main_conf *umcf = conf;
    struct sl_upstream **ups = umcf->upstreams.elts, *u;
    struct sl_upstream_server tmpl;
    const char *reason = "host not found";
    struct sl_str addr;
    unsigned i;
    int rc;

    SL_CHECK_OBJ_NOTNULL(umcf, SL_UPSTREAM_MAIN_MAGIC);
    /* Servers added and removed at run time (sluicectl server). */
    if (sl_upstream_state_apply(cf, umcf) != SL_OK)
        return SL_ERROR;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        u = ups[i];
        if (!u->defined && u->servers.nelts == 0) {
            sl_upstream_server_defaults(&tmpl, &u->name);
            addr = u->name;
            if (u->tls_noport) {
                /* proxy_pass https://HOST: port 443, as in nginx. */
                if (u->plain) {
                    sl_conf_node_error(cf, NULL, "%s:%u: \"%.*s\" is used "
                                       "with http:// and https:// without "
                                       "a port", u->file, u->line,
                                       (int) u->name.len, u->name.data);
                    return SL_ERROR;
                }
                addr.data = sl_pnalloc(cf->pool, u->name.len + 4);
                if (addr.data == NULL)
                    return SL_ERROR;
                memcpy(addr.data, u->name.data, u->name.len);
                memcpy(addr.data + u->name.len, ":443", 4);
                addr.len = u->name.len + 4;
                tmpl.name = addr;
            }
            rc = sl_upstream_resolve(u, &addr, &tmpl, &reason);
            if (rc == SL_ABORT)
                return SL_ERROR;
            if (rc != SL_OK) {
                sl_conf_node_error(cf, NULL, "%s:%u: %s in upstream "
                                   "\"%.*s\"", u->file, u->line, reason,
                                   (int) u->name.len, u->name.data);
                return SL_ERROR;
            }
            u->nprimary = u->servers.nelts;
        }
        if (u->servers.nelts > SL_UPSTREAM_MAX_SERVERS) {
            sl_conf_node_error(cf, NULL, "%s:%u: too many servers in "
                               "upstream \"%.*s\" (%u, at most %u)",
                               u->file, u->line, (int) u->name.len,
                               u->name.data, u->servers.nelts,
                               SL_UPSTREAM_MAX_SERVERS);
            return SL_ERROR;
        }
        if (u->balancer->init(cf, u) != SL_OK)
            return SL_ERROR;
    }
    return SL_OK;
}

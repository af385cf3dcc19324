/*
 * sl_http_core.c: the http, server and location blocks, their core
 * directives, and choosing the server and location of a request.
 */
#include "sl_core.h"
#include "sl_http.h"
#include "sl_http_variables.h"

#include <arpa/inet.h>
#include <strings.h>

static int sl_http_block(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_server(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_location(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_listen(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_server_name(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_return(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_http_large_buffers(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_HTTP_MAIN_SRV_LOC  (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const int64_t sl_http_max_requests = INT32_MAX;

static const struct sl_conf_cmd sl_http_core_cmds[] = {
    { "http", SL_CONF_MAIN | SL_CONF_NOARGS | SL_CONF_BLOCK, sl_http_block,
      SL_CONF_LEVEL_MAIN, 0, NULL },
    { "server", SL_CONF_HTTP | SL_CONF_NOARGS | SL_CONF_BLOCK | SL_CONF_MULTI,
      sl_http_server, SL_CONF_LEVEL_HTTP_MAIN, 0, NULL },
    { "location", SL_CONF_SERVER | SL_CONF_TAKE12 | SL_CONF_BLOCK
      | SL_CONF_MULTI, sl_http_location, SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "listen", SL_CONF_SERVER | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_http_listen, SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "server_name", SL_CONF_SERVER | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_http_server_name, SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "return", SL_CONF_SERVER | SL_CONF_LOCATION | SL_CONF_TAKE12,
      sl_http_return, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "client_header_buffer_size", SL_CONF_HTTP | SL_CONF_SERVER
      | SL_CONF_TAKE1, sl_conf_set_size, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_http_srv_conf, header_buffer_size), NULL },
    { "large_client_header_buffers", SL_CONF_HTTP | SL_CONF_SERVER
      | SL_CONF_TAKE2, sl_http_large_buffers, SL_CONF_LEVEL_HTTP_SRV, 0,
      NULL },
    { "client_header_timeout", SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_http_srv_conf, client_header_timeout), NULL },
    { "client_max_body_size", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_size, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, client_max_body_size), NULL },
    { "client_body_timeout", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, client_body_timeout), NULL },
    { "keepalive_timeout", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, keepalive_timeout), NULL },
    { "keepalive_requests", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_int, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, keepalive_requests),
      &sl_http_max_requests },
    { "send_timeout", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, send_timeout), NULL },
    { "server_tokens", SL_HTTP_MAIN_SRV_LOC | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_loc_conf, server_tokens), NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
sl_http_core_create_http_main(struct sl_conf_ctx *cf)
{
    struct sl_http_main_conf *hmcf;

    hmcf = sl_pcalloc(cf->pool, sizeof(*hmcf));
    if (hmcf == NULL
        || sl_array_init(&hmcf->servers, cf->pool, 4, sizeof(void *))
           != SL_OK
        || sl_array_init(&hmcf->addrs, cf->pool, 4, sizeof(void *))
           != SL_OK)
    {
        return NULL;
    }
    hmcf->magic = SL_HTTP_MAIN_MAGIC;
    return hmcf;
}

static void *
sl_http_core_create_srv(struct sl_conf_ctx *cf)
{
    struct sl_http_srv_conf *scf;

    scf = sl_pcalloc(cf->pool, sizeof(*scf));
    if (scf == NULL
        || sl_array_init(&scf->names, cf->pool, 2,
                         sizeof(struct sl_http_server_name)) != SL_OK
        || sl_array_init(&scf->listens, cf->pool, 2,
                         sizeof(struct sl_http_listen)) != SL_OK
        || sl_array_init(&scf->exact, cf->pool, 4, sizeof(void *)) != SL_OK
        || sl_array_init(&scf->prefix, cf->pool, 4, sizeof(void *)) != SL_OK
        || sl_array_init(&scf->regex, cf->pool, 4, sizeof(void *)) != SL_OK)
    {
        return NULL;
    }
    scf->magic = SL_HTTP_SRV_MAGIC;
    scf->header_buffer_size = SL_CONF_UNSET_SIZE;
    scf->large_buffers_n = SL_CONF_UNSET;
    scf->large_buffers_size = SL_CONF_UNSET_SIZE;
    scf->client_header_timeout = SL_CONF_UNSET_MSEC;
    if (cf->node != NULL) {
        scf->file = cf->node->file;
        scf->line = cf->node->line;
    }
    return scf;
}

static int
sl_http_core_merge_srv(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_http_srv_conf *prev = parent, *conf = child;

    sl_conf_merge(conf->header_buffer_size, prev->header_buffer_size, 1024);
    sl_conf_merge(conf->large_buffers_n, prev->large_buffers_n, 4);
    sl_conf_merge(conf->large_buffers_size, prev->large_buffers_size, 8192);
    sl_conf_merge(conf->client_header_timeout, prev->client_header_timeout,
                  10000);
    if (conf->header_buffer_size < 128)
        conf->header_buffer_size = 128;
    if (conf->large_buffers_size < conf->header_buffer_size)
        conf->large_buffers_size = conf->header_buffer_size;
    return SL_OK;
}

static void *
sl_http_core_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_http_loc_conf *lcf;

    lcf = sl_pcalloc(cf->pool, sizeof(*lcf));
    if (lcf == NULL)
        return NULL;
    lcf->magic = SL_HTTP_LOC_MAGIC;
    lcf->client_max_body_size = SL_CONF_UNSET_SIZE;
    lcf->client_body_timeout = SL_CONF_UNSET_MSEC;
    lcf->keepalive_timeout = SL_CONF_UNSET_MSEC;
    lcf->keepalive_requests = SL_CONF_UNSET;
    lcf->send_timeout = SL_CONF_UNSET_MSEC;
    lcf->server_tokens = SL_CONF_UNSET;
    lcf->return_code = -1;
    return lcf;
}

static int
sl_http_core_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_http_loc_conf *prev = parent, *conf = child;

    sl_conf_merge(conf->client_max_body_size, prev->client_max_body_size,
                  1024 * 1024);
    sl_conf_merge(conf->client_body_timeout, prev->client_body_timeout,
                  60000);
    sl_conf_merge(conf->keepalive_timeout, prev->keepalive_timeout, 75000);
    sl_conf_merge(conf->keepalive_requests, prev->keepalive_requests, 1000);
    sl_conf_merge(conf->send_timeout, prev->send_timeout, 60000);
    sl_conf_merge(conf->server_tokens, prev->server_tokens, 1);
    /*
     * Neither return nor the content handler is inherited: a server-level
     * return runs before any location is chosen (as in nginx).
     */
    return SL_OK;
}

struct sl_module sl_http_core_module = {
    "http_core", sl_http_core_cmds, NULL, NULL,
    sl_http_core_create_http_main, NULL,
    sl_http_core_create_srv, sl_http_core_merge_srv,
    sl_http_core_create_loc, sl_http_core_merge_loc,
    NULL, 0
};

/* ---- blocks -------------------------------------------------------------- */

static void **
sl_http_create_confs(struct sl_conf_ctx *cf, int level)
{
    struct sl_module *m;
    void **confs;
    unsigned i;

    confs = sl_pcalloc(cf->pool, sl_nmodules * sizeof(void *));
    if (confs == NULL)
        return NULL;
    for (i = 0; i < sl_nmodules; i++) {
        m = sl_modules[i];
        if (level == 0 && m->create_http_main != NULL)
            confs[i] = m->create_http_main(cf);
        else if (level == 1 && m->create_srv != NULL)
            confs[i] = m->create_srv(cf);
        else if (level == 2 && m->create_loc != NULL)
            confs[i] = m->create_loc(cf);
        else
            continue;
        if (confs[i] == NULL)
            return NULL;
    }
    return confs;
}

static int
sl_http_merge_locs(struct sl_conf_ctx *cf, void **parent, void **child)
{
    struct sl_module *m;
    unsigned i;

    for (i = 0; i < sl_nmodules; i++) {
        m = sl_modules[i];
        if (m->merge_loc != NULL
            && m->merge_loc(cf, parent[i], child[i]) != SL_OK)
        {
            return SL_ERROR;
        }
    }
    return SL_OK;
}

static int
sl_http_loc_cmp(const void *a, const void *b)
{
    const struct sl_http_loc_conf *x = *(struct sl_http_loc_conf *const *) a;
    const struct sl_http_loc_conf *y = *(struct sl_http_loc_conf *const *) b;

    /* Longest prefix first, so the first match is the longest. */
    if (x->name.len != y->name.len)
        return x->name.len > y->name.len ? -1 : 1;
    return memcmp(x->name.data, y->name.data, x->name.len);
}

static struct sl_http_addr_conf *
sl_http_addr_conf(struct sl_conf_ctx *cf, struct sl_listening *ls)
{
    struct sl_http_addr_conf *ac;

    if (ls->servers != NULL)
        return ls->servers;
    ac = sl_pcalloc(cf->pool, sizeof(*ac));
    if (ac == NULL || sl_array_init(&ac->names, cf->pool, 4,
                                    sizeof(struct sl_http_server_name))
                      != SL_OK)
    {
        return NULL;
    }
    ac->magic = SL_HTTP_ADDR_MAGIC;
    ls->servers = ac;
    return ac;
}

/* Binds every server to its listen addresses, after the http block. */
static int
sl_http_optimize_servers(struct sl_conf_ctx *cf,
    struct sl_http_main_conf *hmcf)
{
    struct sl_http_srv_conf **servers, *scf;
    struct sl_http_listen *l;
    struct sl_http_addr_conf *ac;
    struct sl_http_server_name *sn, *nn;
    struct sl_listening *ls;
    unsigned i, j, k;

    servers = hmcf->servers.elts;
    for (i = 0; i < hmcf->servers.nelts; i++) {
        scf = servers[i];
        if (scf->listens.nelts == 0) {
            l = sl_array_push(&scf->listens);
            if (l == NULL)
                return SL_ERROR;
            l->sa.sin.sin_family = AF_INET;
            l->sa.sin.sin_port = htons(80);
            l->sa.sin.sin_addr.s_addr = htonl(INADDR_ANY);
            l->socklen = sizeof(struct sockaddr_in);
        }
        for (j = 0; j < scf->listens.nelts; j++) {
            l = sl_array_at(&scf->listens, struct sl_http_listen, j);
            ls = sl_conf_add_listening(cf, &l->sa, l->socklen, l->backlog);
            if (ls == NULL)
                return SL_ERROR;
            ac = sl_http_addr_conf(cf, ls);
            if (ac == NULL)
                return SL_ERROR;
            l->ls = ls;
            if (l->ssl)
                ac->ssl = 1;
            if (l->default_server) {
                if (ac->explicit_default && ac->default_server != scf) {
                    sl_conf_node_error(cf, NULL, "%s:%u: a duplicate default "
                                       "server for %s", scf->file,
                                       scf->line, ls->addr_text);
                    return SL_ERROR;
                }
                ac->default_server = scf;
                ac->explicit_default = 1;
            } else if (ac->default_server == NULL) {
                ac->default_server = scf;
            }
            for (k = 0; k < scf->names.nelts; k++) {
                sn = sl_array_at(&scf->names, struct sl_http_server_name, k);
                nn = sl_array_push(&ac->names);
                if (nn == NULL)
                    return SL_ERROR;
                *nn = *sn;
            }
        }
    }
    return SL_OK;
}

static int
sl_http_block(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    void **http_main, **http_srv, **http_loc;
    struct sl_http_main_conf *hmcf;
    struct sl_http_srv_conf **servers, *scf;
    struct sl_http_loc_conf **locs;
    struct sl_module *m;
    struct sl_array *lists[3];
    unsigned i, j, k, idx = sl_http_core_module.index;

    http_main = sl_http_create_confs(cf, 0);
    http_srv = sl_http_create_confs(cf, 1);
    http_loc = sl_http_create_confs(cf, 2);
    if (http_main == NULL || http_srv == NULL || http_loc == NULL)
        return SL_ERROR;
    cf->cycle->main_conf[idx] = http_main;
    hmcf = http_main[idx];
    cf->http_main_conf = http_main;
    cf->srv_conf = http_srv;
    cf->loc_conf = http_loc;

    if (sl_conf_walk(cf, cf->node->children, SL_CONF_HTTP) != SL_OK)
        return SL_ERROR;

    /* Merge http -> server -> location, then each module's http init. */
    servers = hmcf->servers.elts;
    for (i = 0; i < hmcf->servers.nelts; i++) {
        scf = servers[i];
        for (j = 0; j < sl_nmodules; j++) {
            m = sl_modules[j];
            if (m->merge_srv != NULL
                && m->merge_srv(cf, http_srv[j], scf->srv_conf[j]) != SL_OK)
            {
                return SL_ERROR;
            }
        }
        if (sl_http_merge_locs(cf, http_loc, scf->loc_conf) != SL_OK)
            return SL_ERROR;
        lists[0] = &scf->exact;
        lists[1] = &scf->prefix;
        lists[2] = &scf->regex;
        for (k = 0; k < 3; k++) {
            locs = lists[k]->elts;
            for (j = 0; j < lists[k]->nelts; j++) {
                if (sl_http_merge_locs(cf, scf->loc_conf, locs[j]->loc_conf)
                    != SL_OK)
                {
                    return SL_ERROR;
                }
            }
        }
        qsort(scf->prefix.elts, scf->prefix.nelts, sizeof(void *),
              sl_http_loc_cmp);
    }
    if (sl_http_optimize_servers(cf, hmcf) != SL_OK)
        return SL_ERROR;
    for (i = 0; i < sl_nmodules; i++) {
        m = sl_modules[i];
        if (m->init_http_main != NULL
            && m->init_http_main(cf, http_main[i]) != SL_OK)
        {
            return SL_ERROR;
        }
    }
    cf->http_main_conf = NULL;
    cf->srv_conf = NULL;
    cf->loc_conf = NULL;
    return SL_OK;
}

static int
sl_http_server(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_main_conf *hmcf = conf;
    struct sl_http_srv_conf *scf, **sp;
    struct sl_http_loc_conf *lcf;
    void **saved_srv, **saved_loc;
    unsigned idx = sl_http_core_module.index;
    int rc;

    saved_srv = cf->srv_conf;
    saved_loc = cf->loc_conf;
    cf->srv_conf = sl_http_create_confs(cf, 1);
    cf->loc_conf = sl_http_create_confs(cf, 2);
    if (cf->srv_conf == NULL || cf->loc_conf == NULL)
        return SL_ERROR;
    scf = cf->srv_conf[idx];
    scf->srv_conf = cf->srv_conf;
    scf->loc_conf = cf->loc_conf;
    lcf = cf->loc_conf[idx];
    lcf->loc_conf = cf->loc_conf;
    sp = sl_array_push(&hmcf->servers);
    if (sp == NULL)
        return SL_ERROR;
    *sp = scf;

    rc = sl_conf_walk(cf, cf->node->children, SL_CONF_SERVER);
    cf->srv_conf = saved_srv;
    cf->loc_conf = saved_loc;
    return rc;
}

static pcre2_code *
sl_http_regex_compile(struct sl_conf_ctx *cf, const struct sl_str *re,
    int caseless)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    pcre2_code *code;
    int errcode;

    code = pcre2_compile((PCRE2_SPTR) re->data, re->len,
                         caseless ? PCRE2_CASELESS : 0, &errcode, &off, NULL);
    if (code == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        sl_conf_error(cf, "pcre2_compile() failed: %s in \"%.*s\" at offset "
                      "%zu", (char *) msg, (int) re->len, re->data,
                      (size_t) off);
        return NULL;
    }
    /* JIT is an optimisation: without it matching still works. */
    (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    /* The code lives as long as the configuration. */
    sl_pool_cleanup_add(cf->pool, (void (*)(void *)) pcre2_code_free, code);
    return code;
}

static int
sl_http_location(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_srv_conf *scf = conf;
    struct sl_http_loc_conf *lcf, **lp, **others;
    struct sl_conf_node *n = cf->node;
    struct sl_array *list;
    struct sl_str *mod, *name;
    void **saved_loc;
    unsigned idx = sl_http_core_module.index, i;
    int rc;

    saved_loc = cf->loc_conf;
    cf->loc_conf = sl_http_create_confs(cf, 2);
    if (cf->loc_conf == NULL)
        return SL_ERROR;
    lcf = cf->loc_conf[idx];
    lcf->loc_conf = cf->loc_conf;

    mod = n->nargs == 2 ? &n->args[0] : NULL;
    name = &n->args[n->nargs - 1];
    if (mod == NULL && name->len > 1 && name->data[0] == '='
        && name->data[1] == '/')
    {
        /* "=/path" written without a space is common enough to accept. */
        lcf->exact = 1;
        lcf->name.data = name->data + 1;
        lcf->name.len = name->len - 1;
        list = &scf->exact;
    } else if (mod == NULL) {
        lcf->name = *name;
        list = &scf->prefix;
    } else if (sl_str_eq(mod, "=")) {
        lcf->exact = 1;
        lcf->name = *name;
        list = &scf->exact;
    } else if (sl_str_eq(mod, "^~")) {
        lcf->noregex = 1;
        lcf->name = *name;
        list = &scf->prefix;
    } else if (sl_str_eq(mod, "~") || sl_str_eq(mod, "~*")) {
        lcf->caseless = mod->len == 2;
        lcf->name = *name;
        lcf->re = sl_http_regex_compile(cf, name, lcf->caseless);
        if (lcf->re == NULL)
            return SL_ERROR;
        list = &scf->regex;
    } else {
        sl_conf_error(cf, "invalid location modifier \"%.*s\"",
                      (int) mod->len, mod->data);
        return SL_ERROR;
    }
    if (lcf->name.len == 0) {
        sl_conf_error(cf, "empty location name");
        return SL_ERROR;
    }
    if (list != &scf->regex) {
        others = list->elts;
        for (i = 0; i < list->nelts; i++) {
            if (sl_str_eqstr(&others[i]->name, &lcf->name)) {
                sl_conf_error(cf, "duplicate location \"%.*s\"",
                              (int) lcf->name.len, lcf->name.data);
                return SL_ERROR;
            }
        }
    }
    lcf->name.data = sl_pstrdup(cf->pool, &lcf->name);
    lp = sl_array_push(list);
    if (lcf->name.data == NULL || lp == NULL)
        return SL_ERROR;
    *lp = lcf;

    rc = sl_conf_walk(cf, n->children, SL_CONF_LOCATION);
    cf->loc_conf = saved_loc;
    return rc;
}

static int
sl_http_listen(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_srv_conf *scf = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_http_listen *l, *o;
    int64_t backlog;
    struct sl_str v;
    unsigned i;

    l = sl_array_push(&scf->listens);
    if (l == NULL)
        return SL_ERROR;
    if (sl_sockaddr_parse(&n->args[0], &l->sa, &l->socklen) != SL_OK) {
        sl_conf_error(cf, "invalid listen address \"%.*s\"",
                      (int) n->args[0].len, n->args[0].data);
        return SL_ERROR;
    }
    for (i = 0; i + 1 < scf->listens.nelts; i++) {
        o = sl_array_at(&scf->listens, struct sl_http_listen, i);
        if (o->socklen == l->socklen
            && memcmp(&o->sa, &l->sa, l->socklen) == 0)
        {
            sl_conf_error(cf, "duplicate listen \"%.*s\"",
                          (int) n->args[0].len, n->args[0].data);
            return SL_ERROR;
        }
    }
    for (i = 1; i < n->nargs; i++) {
        if (sl_str_eq(&n->args[i], "default_server")
            || sl_str_eq(&n->args[i], "default"))
        {
            l->default_server = 1;
        } else if (n->args[i].len > 8
                   && strncmp(n->args[i].data, "backlog=", 8) == 0)
        {
            v.data = n->args[i].data + 8;
            v.len = n->args[i].len - 8;
            if (sl_conf_parse_int(&v, &backlog) != SL_OK || backlog < 1
                || backlog > 65535)
            {
                sl_conf_error(cf, "invalid backlog \"%.*s\"", (int) v.len,
                              v.data);
                return SL_ERROR;
            }
            l->backlog = (int) backlog;
        } else if (sl_str_eq(&n->args[i], "ssl")) {
            l->ssl = 1;
        } else {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) n->args[i].len, n->args[i].data);
            return SL_ERROR;
        }
    }
    return SL_OK;
}

static int
sl_http_server_name(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_srv_conf *scf = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_http_server_name *sn;
    struct sl_str *a, re;
    unsigned i;
    size_t k;

    for (i = 0; i < n->nargs; i++) {
        a = &n->args[i];
        sn = sl_array_push(&scf->names);
        if (sn == NULL)
            return SL_ERROR;
        sn->srv = scf;
        if (a->len > 1 && a->data[0] == '~') {
            re.data = a->data + 1;
            re.len = a->len - 1;
            sn->re = sl_http_regex_compile(cf, &re, 1);
            if (sn->re == NULL)
                return SL_ERROR;
            sn->name = *a;
            continue;
        }
        for (k = 0; k < a->len; k++) {
            if (a->data[k] == '/' || a->data[k] == ' '
                || (unsigned char) a->data[k] < 0x21)
            {
                sl_conf_error(cf, "invalid server name \"%.*s\"",
                              (int) a->len, a->data);
                return SL_ERROR;
            }
        }
        if (memchr(a->data, '*', a->len) != NULL
            && !(a->len > 2 && a->data[0] == '*' && a->data[1] == '.'
                 && memchr(a->data + 1, '*', a->len - 1) == NULL)
            && !(a->len > 2 && a->data[a->len - 1] == '*'
                 && a->data[a->len - 2] == '.'
                 && memchr(a->data, '*', a->len - 1) == NULL))
        {
            sl_conf_error(cf, "invalid server name or wildcard \"%.*s\"",
                          (int) a->len, a->data);
            return SL_ERROR;
        }
        sn->name.len = a->len;
        sn->name.data = sl_pnalloc(cf->pool, a->len + 1);
        if (sn->name.data == NULL)
            return SL_ERROR;
        sl_strlow(sn->name.data, a->data, a->len);
        sn->name.data[a->len] = '\0';
        if (scf->server_name.len == 0 && sn->name.data[0] != '*'
            && sn->name.data[0] != '.')
        {
            scf->server_name = sn->name;
        }
    }
    return SL_OK;
}

static int
sl_http_return(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_loc_conf *lcf = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_str *text = NULL;
    int64_t code;

    if (n->nargs == 1 && sl_conf_parse_int(&n->args[0], &code) != SL_OK
        && (strncmp(n->args[0].data, "http://", 7) == 0
            || strncmp(n->args[0].data, "https://", 8) == 0
            || strncmp(n->args[0].data, "$scheme", 7) == 0))
    {
        /* "return URL": a temporary redirect, as in nginx. */
        code = 302;
        text = &n->args[0];
    } else {
        if (sl_conf_parse_int(&n->args[0], &code) != SL_OK || code < 100
            || code > 599)
        {
            sl_conf_error(cf, "invalid return code \"%.*s\"",
                          (int) n->args[0].len, n->args[0].data);
            return SL_ERROR;
        }
        if (n->nargs == 2)
            text = &n->args[1];
    }
    if ((code == 301 || code == 302 || code == 303 || code == 307
         || code == 308) && text == NULL)
    {
        sl_conf_error(cf, "return %d needs a URL", (int) code);
        return SL_ERROR;
    }
    lcf->return_code = (int) code;
    if (text != NULL) {
        lcf->return_text = sl_http_compile_complex_value(cf, text);
        if (lcf->return_text == NULL)
            return SL_ERROR;
    }
    return SL_OK;
}

static int
sl_http_large_buffers(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_srv_conf *scf = conf;
    struct sl_conf_node *n = cf->node;

    if (sl_conf_parse_int(&n->args[0], &scf->large_buffers_n) != SL_OK
        || scf->large_buffers_n < 1 || scf->large_buffers_n > 64)
    {
        sl_conf_error(cf, "invalid number \"%.*s\" in \"%s\" directive",
                      (int) n->args[0].len, n->args[0].data, cmd->name);
        return SL_ERROR;
    }
    if (sl_conf_parse_size(&n->args[1], &scf->large_buffers_size) != SL_OK
        || scf->large_buffers_size < 128
        || scf->large_buffers_size > 1024 * 1024)
    {
        sl_conf_error(cf, "invalid size \"%.*s\" in \"%s\" directive",
                      (int) n->args[1].len, n->args[1].data, cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* ---- run time: choosing the server and the location ---------------------- */

static pcre2_match_data *sl_http_match_data;

static int
sl_http_regex_match(pcre2_code *re, const char *s, size_t len)
{
    int rc;

    if (sl_http_match_data == NULL) {
        sl_http_match_data = pcre2_match_data_create(16, NULL);
        if (sl_http_match_data == NULL)
            return 0;
    }
    rc = pcre2_match(re, (PCRE2_SPTR) s, len, 0, 0, sl_http_match_data,
                     NULL);
    return rc >= 0;
}

/*
 * Picks the server for host (lowercased, no port) among those on the
 * connection's address, with nginx's order: exact name, longest leading
 * wildcard, longest trailing wildcard, first matching regex, default.
 */
struct sl_http_srv_conf *
sl_http_find_server(struct sl_http_addr_conf *ac, const struct sl_str *host)
{
    struct sl_http_server_name *names, *sn;
    struct sl_http_srv_conf *lead = NULL, *trail = NULL;
    size_t lead_len = 0, trail_len = 0, nl;
    unsigned i;

    if (host->len == 0)
        return ac->default_server;
    names = ac->names.elts;
    for (i = 0; i < ac->names.nelts; i++) {
        sn = &names[i];
        if (sn->re != NULL)
            continue;
        nl = sn->name.len;
        if (nl == host->len && memcmp(sn->name.data, host->data, nl) == 0)
            return sn->srv;
        if (sn->name.data[0] == '*' || sn->name.data[0] == '.') {
            /* "*.example.com" and ".example.com": suffix ".example.com" */
            const char *suf = sn->name.data[0] == '*' ? sn->name.data + 1
                                                      : sn->name.data;
            size_t sl = sn->name.data[0] == '*' ? nl - 1 : nl;
            if (host->len > sl
                && memcmp(host->data + host->len - sl, suf, sl) == 0
                && sl > lead_len)
            {
                lead = sn->srv;
                lead_len = sl;
            }
            if (sn->name.data[0] == '.' && host->len == nl - 1
                && memcmp(host->data, sn->name.data + 1, nl - 1) == 0)
            {
                return sn->srv;
            }
        } else if (sn->name.data[nl - 1] == '*') {
            if (host->len > nl - 1
                && memcmp(host->data, sn->name.data, nl - 1) == 0
                && nl - 1 > trail_len)
            {
                trail = sn->srv;
                trail_len = nl - 1;
            }
        }
    }
    if (lead != NULL)
        return lead;
    if (trail != NULL)
        return trail;
    for (i = 0; i < ac->names.nelts; i++) {
        sn = &names[i];
        if (sn->re != NULL && sl_http_regex_match(sn->re, host->data,
                                                  host->len))
        {
            return sn->srv;
        }
    }
    return ac->default_server;
}

/*
 * Picks the location for uri with nginx's precedence: exact, longest
 * prefix (final if ^~), regexes in order, else the longest prefix.  NULL
 * when nothing matches (the server-level configuration applies).
 */
struct sl_http_loc_conf *
sl_http_find_location(struct sl_http_srv_conf *scf, const struct sl_str *uri)
{
    struct sl_http_loc_conf **locs, *prefix = NULL;
    unsigned i;

    locs = scf->exact.elts;
    for (i = 0; i < scf->exact.nelts; i++) {
        if (sl_str_eqstr(&locs[i]->name, uri))
            return locs[i];
    }
    locs = scf->prefix.elts;
    for (i = 0; i < scf->prefix.nelts; i++) {
        if (uri->len >= locs[i]->name.len
            && memcmp(uri->data, locs[i]->name.data, locs[i]->name.len) == 0)
        {
            prefix = locs[i];
            break;
        }
    }
    if (prefix != NULL && prefix->noregex)
        return prefix;
    locs = scf->regex.elts;
    for (i = 0; i < scf->regex.nelts; i++) {
        if (sl_http_regex_match(locs[i]->re, uri->data, uri->len))
            return locs[i];
    }
    return prefix;
}

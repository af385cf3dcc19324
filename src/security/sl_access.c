/*
 * sl_access.c: address rules and regex filters.
 *
 *   allow CIDR | all;                                http, server, location
 *   deny CIDR | all;                                 http, server, location
 *   deny_match VALUE ~ | ~* REGEX [status=CODE];     http, server, location
 *   satisfy all | any;                               http, server, location
 *
 * allow and deny form one list, tried in order; the first rule that
 * matches the client address decides, and an address no rule matches is
 * allowed.  A level with any allow or deny rule replaces its parent's list
 * (nginx); deny_match lists are inherited the same way.  VALUE is a
 * complex value, usually one variable ($request_uri, $http_user_agent,
 * $cookie_NAME, $request_method); its regex is compiled (with JIT) when the
 * configuration is read.
 */
#include "sl_core.h"
#include "sl_security.h"
#include "sl_http_variables.h"

#include <arpa/inet.h>

struct sl_access_rule {
    struct sl_cidr                 cidr;
    unsigned                       deny:1;
};

struct sl_access_match {
    struct sl_http_complex_value  *value;
    pcre2_code                    *re;
    int                            status;
};

enum { SL_SATISFY_ALL = 0, SL_SATISFY_ANY };

struct sl_access_loc_conf {
    struct sl_array               *rules;     /* struct sl_access_rule */
    struct sl_array               *matches;   /* struct sl_access_match */
    int                            satisfy;
};

static int sl_access_set_rule(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_access_set_match(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const struct sl_conf_enum sl_access_satisfy[] = {
    { "all", SL_SATISFY_ALL },
    { "any", SL_SATISFY_ANY },
    { NULL, 0 }
};

#define SL_ACCESS_CTX  (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const struct sl_conf_cmd sl_access_cmds[] = {
    { "allow", SL_ACCESS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_access_set_rule, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "deny", SL_ACCESS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_access_set_rule, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "deny_match", SL_ACCESS_CTX | SL_CONF_TAKE3 | SL_CONF_TAKE4
                    | SL_CONF_MULTI,
      sl_access_set_match, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "satisfy", SL_ACCESS_CTX | SL_CONF_TAKE1, sl_conf_set_enum,
      SL_CONF_LEVEL_HTTP_LOC, offsetof(struct sl_access_loc_conf, satisfy),
      sl_access_satisfy },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- CIDR -------------------------------------------------------------- */

int
sl_cidr_parse(const struct sl_str *s, struct sl_cidr *c, int *host_bits)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    size_t alen;
    int64_t prefix;
    unsigned i, max, bits;
    int dirty = 0;

    memset(c, 0, sizeof(*c));
    if (host_bits != NULL)
        *host_bits = 0;
    if (sl_str_eq(s, "all"))
        return SL_OK;
    slash = memchr(s->data, '/', s->len);
    alen = slash != NULL ? (size_t) (slash - s->data) : s->len;
    if (alen == 0 || alen >= sizeof(buf))
        return SL_ERROR;
    memcpy(buf, s->data, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        max = 128;
    } else {
        return SL_ERROR;
    }
    prefix = max;
    if (slash != NULL) {
        alen++;
        if (alen == s->len || s->len - alen > 3)
            return SL_ERROR;
        for (i = (unsigned) alen; i < s->len; i++) {
            if (s->data[i] < '0' || s->data[i] > '9')
                return SL_ERROR;
        }
        prefix = sl_atoi(s->data + alen, s->len - alen);
        if (prefix < 0 || prefix > (int64_t) max)
            return SL_ERROR;
    }
    /* ::ffff:a.b.c.d/n is an IPv4 rule (n - 96 bits). */
    if (c->family == AF_INET6 && prefix >= 96
        && IN6_IS_ADDR_V4MAPPED((struct in6_addr *) c->addr))
    {
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        c->family = AF_INET;
        prefix -= 96;
        max = 32;
    }
    c->prefix = (unsigned) prefix;
    for (i = 0; i < max / 8; i++) {
        bits = prefix >= 8 ? 8 : (unsigned) prefix;
        prefix -= bits;
        c->mask[i] = (unsigned char) (0xff00u >> bits);
        if (c->addr[i] & ~c->mask[i])
            dirty = 1;
        c->addr[i] &= c->mask[i];
    }
    if (host_bits != NULL)
        *host_bits = dirty;
    return SL_OK;
}

static int
sl_cidr_match_bytes(const struct sl_cidr *c, const unsigned char *a,
    unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if ((a[i] & c->mask[i]) != c->addr[i])
            return 0;
    }
    return 1;
}

int
sl_cidr_match(const struct sl_cidr *c, const struct sockaddr *sa)
{
    const struct sockaddr_in *sin;
    const struct sockaddr_in6 *sin6;

    if (c->family == 0)
        return 1;
    switch (sa->sa_family) {
    case AF_INET:
        sin = (const struct sockaddr_in *) sa;
        return c->family == AF_INET
               && sl_cidr_match_bytes(c, (const unsigned char *)
                                         &sin->sin_addr, 4);
    case AF_INET6:
        sin6 = (const struct sockaddr_in6 *) sa;
        if (c->family == AF_INET6)
            return sl_cidr_match_bytes(c, sin6->sin6_addr.s6_addr, 16);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return sl_cidr_match_bytes(c, sin6->sin6_addr.s6_addr + 12, 4);
        return 0;
    default:
        /* A UNIX socket peer has no address: only `all` matches. */
        return 0;
    }
}

/* ---- configuration ----------------------------------------------------- */

/* allow CIDR | all;  deny CIDR | all; */
static int
sl_access_set_rule(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_access_loc_conf *alcf = conf;
    struct sl_access_rule *rule;
    struct sl_str *a = &cf->node->args[0];
    int dirty;

    if (alcf->rules == SL_CONF_UNSET_PTR) {
        alcf->rules = sl_array_create(cf->pool, 4, sizeof(*rule));
        if (alcf->rules == NULL)
            return SL_ERROR;
    }
    rule = sl_array_push(alcf->rules);
    if (rule == NULL)
        return SL_ERROR;
    memset(rule, 0, sizeof(*rule));
    rule->deny = cmd->name[0] == 'd';
    if (sl_cidr_parse(a, &rule->cidr, &dirty) != SL_OK) {
        sl_conf_error(cf, "invalid parameter \"%.*s\" in \"%s\" directive, "
                      "it must be an address, a CIDR or \"all\"",
                      (int) a->len, a->data, cmd->name);
        return SL_ERROR;
    }
    if (dirty) {
        sl_log_error(SL_LOG_WARN, 0, "%s:%u: low address bits of %.*s are "
                     "meaningless", cf->node->file, cf->node->line,
                     (int) a->len, a->data);
    }
    return SL_OK;
}

/* deny_match VALUE ~ | ~* REGEX [status=CODE]; */
static int
sl_access_set_match(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_access_loc_conf *alcf = conf;
    struct sl_access_match *m;
    struct sl_str *args = cf->node->args, *re;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    int64_t status = 403;
    int caseless, errcode;

    if (sl_str_eq(&args[1], "~")) {
        caseless = 0;
    } else if (sl_str_eq(&args[1], "~*")) {
        caseless = 1;
    } else {
        sl_conf_error(cf, "invalid operator \"%.*s\" in \"deny_match\" "
                      "directive, it must be \"~\" or \"~*\"",
                      (int) args[1].len, args[1].data);
        return SL_ERROR;
    }
    if (cf->node->nargs == 4) {
        struct sl_str v = args[3];

        if (v.len <= 7 || memcmp(v.data, "status=", 7) != 0) {
            sl_conf_error(cf, "invalid parameter \"%.*s\" in \"deny_match\" "
                          "directive", (int) v.len, v.data);
            return SL_ERROR;
        }
        v.data += 7;
        v.len -= 7;
        if (sl_conf_parse_int(&v, &status) != SL_OK || status < 400
            || status > 599)
        {
            sl_conf_error(cf, "invalid status \"%.*s\" in \"deny_match\" "
                          "directive, it must be 400 to 599",
                          (int) v.len, v.data);
            return SL_ERROR;
        }
    }
    if (alcf->matches == SL_CONF_UNSET_PTR) {
        alcf->matches = sl_array_create(cf->pool, 2, sizeof(*m));
        if (alcf->matches == NULL)
            return SL_ERROR;
    }
    m = sl_array_push(alcf->matches);
    if (m == NULL)
        return SL_ERROR;
    m->status = (int) status;
    m->value = sl_http_compile_complex_value(cf, &args[0]);
    if (m->value == NULL)
        return SL_ERROR;
    re = &args[2];
    m->re = pcre2_compile((PCRE2_SPTR) re->data, re->len,
                          caseless ? PCRE2_CASELESS : 0, &errcode, &off,
                          NULL);
    if (m->re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        sl_conf_error(cf, "pcre2_compile() failed: %s in \"%.*s\" at offset "
                      "%zu", (char *) msg, (int) re->len, re->data,
                      (size_t) off);
        return SL_ERROR;
    }
    /* JIT is an optimisation: without it matching still works. */
    (void) pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE);
    sl_pool_cleanup_add(cf->pool, (void (*)(void *)) pcre2_code_free, m->re);
    return SL_OK;
}

static void *
sl_access_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_access_loc_conf *alcf = sl_pcalloc(cf->pool, sizeof(*alcf));

    if (alcf == NULL)
        return NULL;
    alcf->rules = SL_CONF_UNSET_PTR;
    alcf->matches = SL_CONF_UNSET_PTR;
    alcf->satisfy = SL_CONF_UNSET;
    return alcf;
}

static int
sl_access_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_access_loc_conf *prev = parent, *conf = child;

    /* A level with rules of its own replaces the parent's (nginx). */
    sl_conf_merge_ptr(conf->rules, prev->rules, NULL);
    sl_conf_merge_ptr(conf->matches, prev->matches, NULL);
    sl_conf_merge(conf->satisfy, prev->satisfy, SL_SATISFY_ALL);
    return SL_OK;
}

/* ---- run time ---------------------------------------------------------- */

static pcre2_match_data *sl_access_md;     /* per process, reused */

static void
sl_access_log(struct sl_http_request *r, const char *what)
{
    char client[SL_SOCKADDR_STRLEN];

    sl_sockaddr_ntop(&r->c->peer.sa, client, sizeof(client), 0);
    sl_log_error(SL_LOG_ERR, 0, "%s, client: %s, request: \"%.*s\"", what,
                 client, (int) r->request_line.len, r->request_line.data);
}

/* deny_match: the first filter whose regex matches answers its status. */
static int
sl_access_match_handler(struct sl_http_request *r)
{
    struct sl_access_loc_conf *alcf;
    struct sl_access_match *m;
    struct sl_str v;
    unsigned i;
    int rc;

    alcf = sl_http_get_module_loc_conf(r, sl_access_module);
    if (alcf == NULL || alcf->matches == NULL)
        return SL_DECLINED;
    if (sl_access_md == NULL) {
        sl_access_md = pcre2_match_data_create(1, NULL);
        if (sl_access_md == NULL)
            return 500;
    }
    m = alcf->matches->elts;
    for (i = 0; i < alcf->matches->nelts; i++) {
        if (sl_http_complex_value(r, m[i].value, &v) != SL_OK)
            return 500;
        rc = pcre2_match(m[i].re, (PCRE2_SPTR) (v.data ? v.data : ""),
                         v.len, 0, 0, sl_access_md, NULL);
        if (rc >= 0) {
            sl_access_log(r, "access forbidden by deny_match");
            return m[i].status;
        }
        if (rc != PCRE2_ERROR_NOMATCH) {
            /* A match limit hit is an error; refusing is the safe side. */
            sl_access_log(r, "pcre2_match() failed in deny_match");
            return m[i].status;
        }
    }
    return SL_OK;
}

int
sl_access_satisfy_any(struct sl_http_request *r)
{
    struct sl_access_loc_conf *alcf;

    alcf = sl_http_get_module_loc_conf(r, sl_access_module);
    return alcf != NULL && alcf->satisfy == SL_SATISFY_ANY;
}

/*
 * allow / deny.  Under `satisfy any` a refusal is not final: it is noted
 * in r->access_denied and auth_basic decides (and an allowed address lets
 * the request skip auth_basic, through r->access_allowed).
 */
static int
sl_access_rules_handler(struct sl_http_request *r)
{
    struct sl_access_loc_conf *alcf;
    struct sl_access_rule *rule;
    unsigned i;

    alcf = sl_http_get_module_loc_conf(r, sl_access_module);
    if (alcf == NULL || alcf->rules == NULL)
        return SL_DECLINED;
    rule = alcf->rules->elts;
    for (i = 0; i < alcf->rules->nelts; i++) {
        if (!sl_cidr_match(&rule[i].cidr, &r->c->peer.sa))
            continue;
        if (!rule[i].deny) {
            if (alcf->satisfy == SL_SATISFY_ANY)
                r->access_allowed = 1;
            return SL_OK;
        }
        if (alcf->satisfy == SL_SATISFY_ANY) {
            r->access_denied = 1;
            return SL_DECLINED;
        }
        sl_access_log(r, "access forbidden by rule");
        return 403;
    }
    /* No rule matched: allowed, but not a grant under `satisfy any`. */
    return SL_DECLINED;
}

static void *
sl_access_create_http_main(struct sl_conf_ctx *cf)
{
    return sl_pcalloc(cf->pool, 1);
}

static int
sl_access_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    if (sl_http_add_access_handler(sl_access_match_handler) != SL_OK
        || sl_http_add_access_handler(sl_access_rules_handler) != SL_OK)
    {
        sl_conf_error(cf, "too many access handlers");
        return SL_ERROR;
    }
    return SL_OK;
}

struct sl_module sl_access_module = {
    "access", sl_access_cmds, NULL, NULL,
    sl_access_create_http_main, sl_access_init_http_main,
    NULL, NULL, sl_access_create_loc, sl_access_merge_loc, NULL, 0
};

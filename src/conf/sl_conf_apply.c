/*
 * sl_conf_apply.c: the walker that gives each node of the parse tree to
 * the directive table that declares it, and the reusable setters.
 *
 * The walker checks what the tables can say -- context, argument count,
 * block or not, duplicates -- so handlers only check values.
 */
#include "sl_core.h"
#include "sl_conf.h"

#include <strings.h>

void
sl_conf_node_error(struct sl_conf_ctx *cf, struct sl_conf_node *n,
    const char *fmt, ...)
{
    va_list ap;
    char *p, *last;

    if (cf->err == NULL || cf->errlen == 0)
        return;
    p = cf->err;
    last = cf->err + cf->errlen;
    if (n != NULL)
        p = sl_snprintf(p, last, "%s:%u: ", n->file, n->line);
    va_start(ap, fmt);
    sl_vsnprintf(p, last, fmt, ap);
    va_end(ap);
}

void
sl_conf_error(struct sl_conf_ctx *cf, const char *fmt, ...)
{
    va_list ap;
    char *p, *last;

    if (cf->err == NULL || cf->errlen == 0)
        return;
    p = cf->err;
    last = cf->err + cf->errlen;
    if (cf->node != NULL)
        p = sl_snprintf(p, last, "%s:%u: ", cf->node->file, cf->node->line);
    va_start(ap, fmt);
    sl_vsnprintf(p, last, fmt, ap);
    va_end(ap);
}

/*
 * Finds the directive name for context ctx.  Two modules may declare the
 * same name for different contexts (`server` in http and in upstream);
 * a name known only elsewhere is reported as not allowed here.
 */
static const struct sl_conf_cmd *
sl_conf_find_cmd(const struct sl_str *name, unsigned ctx,
    struct sl_module **mod)
{
    const struct sl_conf_cmd *cmd, *other = NULL;
    struct sl_module *other_mod = NULL;
    unsigned i;

    for (i = 0; i < sl_nmodules; i++) {
        if (sl_modules[i]->cmds == NULL)
            continue;
        for (cmd = sl_modules[i]->cmds; cmd->name != NULL; cmd++) {
            if (!sl_str_eq(name, cmd->name))
                continue;
            if (cmd->type & ctx) {
                *mod = sl_modules[i];
                return cmd;
            }
            if (other == NULL) {
                other = cmd;
                other_mod = sl_modules[i];
            }
        }
    }
    *mod = other_mod;
    return other;
}

static int
sl_conf_args_ok(unsigned type, unsigned nargs)
{
    if ((type & SL_CONF_1MORE) && nargs >= 1)
        return 1;
    if ((type & SL_CONF_2MORE) && nargs >= 2)
        return 1;
    if (nargs == 0)
        return (type & SL_CONF_NOARGS) != 0;
    if (nargs <= 4)
        return (type & (SL_CONF_TAKE1 << (nargs - 1))) != 0;
    return 0;
}

static void *
sl_conf_level_conf(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    struct sl_module *m)
{
    switch (cmd->level) {
    case SL_CONF_LEVEL_MAIN:
        return cf->main_conf ? cf->main_conf[m->index] : NULL;
    case SL_CONF_LEVEL_HTTP_MAIN:
        return cf->http_main_conf ? cf->http_main_conf[m->index] : NULL;
    case SL_CONF_LEVEL_HTTP_SRV:
        return cf->srv_conf ? cf->srv_conf[m->index] : NULL;
    case SL_CONF_LEVEL_HTTP_LOC:
        return cf->loc_conf ? cf->loc_conf[m->index] : NULL;
    case SL_CONF_LEVEL_UPSTREAM:
        return cf->upstream;
    }
    return NULL;
}

int
sl_conf_walk(struct sl_conf_ctx *cf, struct sl_conf_node *first,
    unsigned ctx)
{
    struct sl_conf_node *n, *prev, *saved_node;
    const struct sl_conf_cmd *cmd;
    struct sl_module *m;
    unsigned saved_ctx;
    void *conf;
    int rc;

    saved_node = cf->node;
    saved_ctx = cf->context;
    cf->context = ctx;
    for (n = first; n != NULL; n = n->next) {
        cf->node = n;
        cmd = sl_conf_find_cmd(&n->name, ctx, &m);
        if (cmd == NULL) {
            sl_conf_error(cf, "unknown directive \"%.*s\"",
                          (int) n->name.len, n->name.data);
            return SL_ERROR;
        }
        if (!(cmd->type & ctx)) {
            sl_conf_error(cf, "\"%s\" directive is not allowed here",
                          cmd->name);
            return SL_ERROR;
        }
        if ((cmd->type & SL_CONF_BLOCK) && !n->block) {
            sl_conf_error(cf, "directive \"%s\" has no opening \"{\"",
                          cmd->name);
            return SL_ERROR;
        }
        if (!(cmd->type & SL_CONF_BLOCK) && n->block) {
            sl_conf_error(cf, "directive \"%s\" is not terminated by \";\"",
                          cmd->name);
            return SL_ERROR;
        }
        if (!sl_conf_args_ok(cmd->type, n->nargs)) {
            sl_conf_error(cf, "invalid number of arguments in \"%s\" "
                          "directive", cmd->name);
            return SL_ERROR;
        }
        if (!(cmd->type & SL_CONF_MULTI)) {
            for (prev = first; prev != n; prev = prev->next) {
                if (sl_str_eqstr(&prev->name, &n->name)) {
                    sl_conf_error(cf, "\"%s\" directive is duplicate "
                                  "(first at %s:%u)", cmd->name,
                                  prev->file, prev->line);
                    return SL_ERROR;
                }
            }
        }
        conf = sl_conf_level_conf(cf, cmd, m);
        rc = cmd->set(cf, cmd, conf);
        cf->node = n;
        cf->context = ctx;
        if (rc != SL_OK)
            return SL_ERROR;
    }
    cf->node = saved_node;
    cf->context = saved_ctx;
    return SL_OK;
}

/* ---- reusable setters ------------------------------------------------ */

#define sl_conf_field(conf, cmd, type)  ((type *) ((char *) (conf) + (cmd)->offset))

int
sl_conf_set_flag(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    int *f = sl_conf_field(conf, cmd, int);

    if (sl_conf_parse_flag(&cf->node->args[0], f) != SL_OK) {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive, "
                      "it must be \"on\" or \"off\"",
                      (int) cf->node->args[0].len, cf->node->args[0].data,
                      cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_conf_set_int(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    int64_t *v = sl_conf_field(conf, cmd, int64_t);
    const int64_t *max = cmd->post;

    if (sl_conf_parse_int(&cf->node->args[0], v) != SL_OK
        || (max != NULL && *v > *max))
    {
        sl_conf_error(cf, "invalid number \"%.*s\" in \"%s\" directive",
                      (int) cf->node->args[0].len, cf->node->args[0].data,
                      cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_conf_set_size(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    off_t *v = sl_conf_field(conf, cmd, off_t);

    if (sl_conf_parse_size(&cf->node->args[0], v) != SL_OK) {
        sl_conf_error(cf, "invalid size \"%.*s\" in \"%s\" directive",
                      (int) cf->node->args[0].len, cf->node->args[0].data,
                      cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_conf_set_msec(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    sl_msec_t *v = sl_conf_field(conf, cmd, sl_msec_t);

    if (sl_conf_parse_msec(&cf->node->args[0], v) != SL_OK) {
        sl_conf_error(cf, "invalid time \"%.*s\" in \"%s\" directive",
                      (int) cf->node->args[0].len, cf->node->args[0].data,
                      cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_conf_set_str(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_str *v = sl_conf_field(conf, cmd, struct sl_str);

    v->len = cf->node->args[0].len;
    v->data = sl_pstrdup(cf->pool, &cf->node->args[0]);
    return v->data == NULL ? SL_ERROR : SL_OK;
}

int
sl_conf_set_enum(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    int *v = sl_conf_field(conf, cmd, int);
    const struct sl_conf_enum *e;

    for (e = cmd->post; e->name != NULL; e++) {
        if (sl_str_eq(&cf->node->args[0], e->name)) {
            *v = e->value;
            return SL_OK;
        }
    }
    sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive",
                  (int) cf->node->args[0].len, cf->node->args[0].data,
                  cmd->name);
    return SL_ERROR;
}

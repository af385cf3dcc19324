/*
 * sl_core_module.c: the main-context directives (processes, files, the
 * control socket) and the events block.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_syslog.h"

#include <grp.h>
#include <pwd.h>

static int sl_core_set_user(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_set_workers(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_set_path(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_set_error_log(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_set_ctl(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_events(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_core_set_connections(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const int64_t sl_core_max_nofile = 1048576;

static const struct sl_conf_cmd sl_core_cmds[] = {
    { "user", SL_CONF_MAIN | SL_CONF_TAKE12, sl_core_set_user,
      SL_CONF_LEVEL_MAIN, 0, NULL },
    { "worker_processes", SL_CONF_MAIN | SL_CONF_TAKE1, sl_core_set_workers,
      SL_CONF_LEVEL_MAIN, 0, NULL },
    { "worker_rlimit_nofile", SL_CONF_MAIN | SL_CONF_TAKE1, sl_conf_set_int,
      SL_CONF_LEVEL_MAIN, offsetof(struct sl_core_conf, rlimit_nofile),
      &sl_core_max_nofile },
    { "pid", SL_CONF_MAIN | SL_CONF_TAKE1, sl_core_set_path,
      SL_CONF_LEVEL_MAIN, offsetof(struct sl_core_conf, pid_path), NULL },
    { "error_log", SL_CONF_MAIN | SL_CONF_TAKE12, sl_core_set_error_log,
      SL_CONF_LEVEL_MAIN, 0, NULL },
    { "control_socket", SL_CONF_MAIN | SL_CONF_TAKE12, sl_core_set_ctl,
      SL_CONF_LEVEL_MAIN, 0, NULL },
    { "state_dir", SL_CONF_MAIN | SL_CONF_TAKE1, sl_core_set_path,
      SL_CONF_LEVEL_MAIN, offsetof(struct sl_core_conf, state_dir),
      "no-off" },
    { "worker_shutdown_timeout", SL_CONF_MAIN | SL_CONF_TAKE1,
      sl_conf_set_msec, SL_CONF_LEVEL_MAIN,
      offsetof(struct sl_core_conf, worker_shutdown_timeout), NULL },
    { "events", SL_CONF_MAIN | SL_CONF_NOARGS | SL_CONF_BLOCK,
      sl_core_events, SL_CONF_LEVEL_MAIN, 0, NULL },
    { "worker_connections", SL_CONF_EVENTS | SL_CONF_TAKE1,
      sl_core_set_connections, SL_CONF_LEVEL_MAIN, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
sl_core_create_main(struct sl_conf_ctx *cf)
{
    struct sl_core_conf *ccf;

    ccf = sl_pcalloc(cf->pool, sizeof(*ccf));
    if (ccf == NULL)
        return NULL;
    ccf->worker_processes = SL_CONF_UNSET;
    ccf->rlimit_nofile = SL_CONF_UNSET;
    ccf->pid_path = SL_CONF_UNSET_PTR;
    ccf->error_log = SL_CONF_UNSET_PTR;
    ccf->error_log_level = SL_CONF_UNSET;
    ccf->ctl_path = SL_CONF_UNSET_PTR;
    ccf->ctl_mode = 0600;
    ccf->state_dir = SL_CONF_UNSET_PTR;
    ccf->worker_shutdown_timeout = SL_CONF_UNSET_MSEC;
    ccf->worker_connections = SL_CONF_UNSET;
    return ccf;
}

static int
sl_core_init_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct passwd *pw;
    struct group *gr;
    long n;

    if (ccf->worker_processes == SL_CONF_UNSET)
        ccf->worker_processes = 1;
    if (ccf->worker_processes == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        ccf->worker_processes = n > 0 ? n : 1;
    }
    cf->cycle->nworkers = (unsigned) ccf->worker_processes;
    if (ccf->pid_path == SL_CONF_UNSET_PTR)
        ccf->pid_path = SL_RUNSTATEDIR "/sluice.pid";
    if (ccf->error_log == SL_CONF_UNSET_PTR)
        ccf->error_log = SL_LOCALSTATEDIR "/log/sluice/error.log";
    if (ccf->error_log_level == SL_CONF_UNSET)
        ccf->error_log_level = SL_LOG_NOTICE;
    if (ccf->ctl_path == SL_CONF_UNSET_PTR)
        ccf->ctl_path = SL_RUNSTATEDIR "/sluice/sluice.sock";
    if (ccf->state_dir == SL_CONF_UNSET_PTR)
        ccf->state_dir = SL_LOCALSTATEDIR "/lib/sluice";
    if (ccf->worker_shutdown_timeout == SL_CONF_UNSET_MSEC)
        ccf->worker_shutdown_timeout = 30000;
    if (ccf->worker_connections == SL_CONF_UNSET)
        ccf->worker_connections = 4096;

    if (ccf->user == NULL) {
        ccf->user = "nobody";
        ccf->group = "nogroup";
    }
    /* Only a root master switches user; look it up only then. */
    if (geteuid() == 0) {
        pw = getpwnam(ccf->user);
        if (pw == NULL) {
            sl_conf_error(cf, "getpwnam(\"%s\") failed: no such user",
                          ccf->user);
            return SL_ERROR;
        }
        ccf->uid = pw->pw_uid;
        ccf->gid = pw->pw_gid;
        if (ccf->group != NULL) {
            gr = getgrnam(ccf->group);
            if (gr == NULL) {
                sl_conf_error(cf, "getgrnam(\"%s\") failed: no such group",
                              ccf->group);
                return SL_ERROR;
            }
            ccf->gid = gr->gr_gid;
        }
    } else {
        ccf->uid = geteuid();
        ccf->gid = getegid();
    }
    cf->cycle->core = ccf;
    return SL_OK;
}

struct sl_module sl_core_module = {
    "core", sl_core_cmds, sl_core_create_main, sl_core_init_main,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0
};

static int
sl_core_set_user(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct sl_conf_node *n = cf->node;

    ccf->user = sl_pstrdup(cf->pool, &n->args[0]);
    ccf->group = n->nargs > 1 ? sl_pstrdup(cf->pool, &n->args[1]) : NULL;
    if (ccf->user == NULL || (n->nargs > 1 && ccf->group == NULL))
        return SL_ERROR;
    if (geteuid() == 0 && getpwnam(ccf->user) == NULL) {
        sl_conf_error(cf, "getpwnam(\"%s\") failed: no such user",
                      ccf->user);
        return SL_ERROR;
    }
    if (geteuid() == 0 && ccf->group != NULL
        && getgrnam(ccf->group) == NULL)
    {
        sl_conf_error(cf, "getgrnam(\"%s\") failed: no such group",
                      ccf->group);
        return SL_ERROR;
    }
    return SL_OK;
}

static int
sl_core_set_workers(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct sl_str *a = &cf->node->args[0];

    if (sl_str_eq(a, "auto")) {
        ccf->worker_processes = 0;
        return SL_OK;
    }
    if (sl_conf_parse_int(a, &ccf->worker_processes) != SL_OK
        || ccf->worker_processes < 1 || ccf->worker_processes > 1024)
    {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive, "
                      "it must be a number from 1 to 1024 or \"auto\"",
                      (int) a->len, a->data, cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* A path option; "off" stores NULL unless cmd->post forbids it. */
static int
sl_core_set_path(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    char **p = (char **) ((char *) conf + cmd->offset);
    struct sl_str *a = &cf->node->args[0];

    if (a->len == 0) {
        sl_conf_error(cf, "empty path in \"%s\" directive", cmd->name);
        return SL_ERROR;
    }
    if (sl_str_eq(a, "off") && cmd->post == NULL) {
        *p = NULL;
        return SL_OK;
    }
    *p = sl_conf_full_path(cf, a);
    return *p == NULL ? SL_ERROR : SL_OK;
}

static int
sl_core_set_error_log(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct sl_conf_node *n = cf->node;
    int level;

    ccf->error_log_syslog = NULL;
    if (sl_str_eq(&n->args[0], "stderr")) {
        ccf->error_log = NULL;
    } else if (sl_syslog_is_spec(&n->args[0])) {
        /* The text is kept for messages and to compare at reload. */
        ccf->error_log_syslog = sl_conf_syslog_peer(cf, &n->args[0]);
        ccf->error_log = sl_pstrdup(cf->pool, &n->args[0]);
        if (ccf->error_log_syslog == NULL || ccf->error_log == NULL)
            return SL_ERROR;
    } else {
        ccf->error_log = sl_conf_full_path(cf, &n->args[0]);
        if (ccf->error_log == NULL)
            return SL_ERROR;
    }
    ccf->error_log_level = SL_LOG_NOTICE;
    if (n->nargs > 1) {
        level = sl_log_level_parse(&n->args[1]);
        if (level < 0) {
            sl_conf_error(cf, "invalid log level \"%.*s\"",
                          (int) n->args[1].len, n->args[1].data);
            return SL_ERROR;
        }
        ccf->error_log_level = level;
    }
    return SL_OK;
}

static int
sl_core_set_ctl(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_str *m;
    char *end;
    long mode;

    if (sl_str_eq(&n->args[0], "off")) {
        if (n->nargs > 1) {
            sl_conf_error(cf, "\"control_socket off\" takes no parameters");
            return SL_ERROR;
        }
        ccf->ctl_path = NULL;
        return SL_OK;
    }
    ccf->ctl_path = sl_conf_full_path(cf, &n->args[0]);
    if (ccf->ctl_path == NULL)
        return SL_ERROR;
    if (strlen(ccf->ctl_path) >= 108) {
        sl_conf_error(cf, "control socket path \"%s\" is too long",
                      ccf->ctl_path);
        return SL_ERROR;
    }
    if (n->nargs > 1) {
        m = &n->args[1];
        if (m->len < 6 || m->len > 9 || strncmp(m->data, "mode=", 5) != 0)
            goto invalid;
        mode = strtol(m->data + 5, &end, 8);
        if (end != m->data + m->len || mode < 0 || mode > 0777)
            goto invalid;
        ccf->ctl_mode = (mode_t) mode;
    }
    return SL_OK;

invalid:
    sl_conf_error(cf, "invalid parameter \"%.*s\", expected mode=OCTAL",
                  (int) n->args[1].len, n->args[1].data);
    return SL_ERROR;
}

static int
sl_core_events(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    return sl_conf_walk(cf, cf->node->children, SL_CONF_EVENTS);
}

static int
sl_core_set_connections(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_core_conf *ccf = conf;
    struct sl_str *a = &cf->node->args[0];

    /* A few slots go to upstream connections and the accept margin. */
    if (sl_conf_parse_int(a, &ccf->worker_connections) != SL_OK
        || ccf->worker_connections < 16
        || ccf->worker_connections > 1000000)
    {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive, it "
                      "must be a number from 16 to 1000000", (int) a->len,
                      a->data, cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

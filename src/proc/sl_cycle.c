/*
 * sl_cycle.c: loading a configuration into a cycle, opening what it needs
 * and handing sockets, files and zones over from the previous cycle.
 *
 * Loading has no side effects outside memory, so a reload can read and
 * check a new configuration while the old one keeps running.  Opening takes
 * over every listening socket whose address is unchanged: closing an
 * SO_REUSEPORT socket resets the connections queued on it, so a socket
 * lives as long as its address and worker slot do.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_syslog.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <sys/stat.h>

struct sl_cycle *sl_cycle;

char *
sl_conf_full_path(struct sl_conf_ctx *cf, const struct sl_str *s)
{
    struct sl_str full;
    size_t plen;
    char *p;

    if (s->len > 0 && s->data[0] == '/')
        return sl_pstrdup(cf->pool, s);
    plen = strlen(cf->cycle->prefix);
    p = sl_pnalloc(cf->pool, plen + s->len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, cf->cycle->prefix, plen);
    memcpy(p + plen, s->data, s->len);
    p[plen + s->len] = '\0';
    full.data = p;
    full.len = plen + s->len;
    return full.data;
}

struct sl_open_file *
sl_conf_open_file(struct sl_conf_ctx *cf, const struct sl_str *path)
{
    struct sl_open_file **files, *f;
    char *full;
    unsigned i;

    full = sl_conf_full_path(cf, path);
    if (full == NULL)
        return NULL;
    files = cf->cycle->open_files.elts;
    for (i = 0; i < cf->cycle->open_files.nelts; i++) {
        if (strcmp(files[i]->path, full) == 0)
            return files[i];
    }
    f = sl_pcalloc(cf->pool, sizeof(*f));
    files = sl_array_push(&cf->cycle->open_files);
    if (f == NULL || files == NULL)
        return NULL;
    f->path = full;
    f->fd = -1;
    *files = f;
    return f;
}

struct sl_syslog_peer *
sl_conf_syslog_peer(struct sl_conf_ctx *cf, const struct sl_str *spec)
{
    struct sl_syslog_peer *peer, **slot;
    char err[SL_CONF_ERRLEN];

    peer = sl_pcalloc(cf->pool, sizeof(*peer));
    slot = sl_array_push(&cf->cycle->syslogs);
    if (peer == NULL || slot == NULL) {
        sl_conf_error(cf, "out of memory");
        return NULL;
    }
    if (sl_syslog_parse(spec, peer, err, sizeof(err)) != SL_OK) {
        cf->cycle->syslogs.nelts--;
        sl_conf_error(cf, "%s", err);
        return NULL;
    }
    *slot = peer;
    return peer;
}

struct sl_listening *
sl_conf_add_listening(struct sl_conf_ctx *cf, const union sl_sockaddr *sa,
    socklen_t len, int backlog)
{
    struct sl_listening **lss, *ls;
    unsigned i;

    lss = cf->cycle->listening.elts;
    for (i = 0; i < cf->cycle->listening.nelts; i++) {
        if (lss[i]->socklen == len && memcmp(&lss[i]->sa, sa, len) == 0) {
            if (backlog > 0)
                lss[i]->backlog = backlog;
            return lss[i];
        }
    }
    ls = sl_pcalloc(cf->pool, sizeof(*ls));
    lss = sl_array_push(&cf->cycle->listening);
    if (ls == NULL || lss == NULL)
        return NULL;
    ls->magic = SL_LISTENING_MAGIC;
    memcpy(&ls->sa, sa, len);
    ls->socklen = len;
    ls->backlog = backlog > 0 ? backlog : 511;
    ls->fd = -1;
    ls->file = cf->node->file;
    ls->line = cf->node->line;
    sl_sockaddr_ntop(&ls->sa.sa, ls->addr_text, sizeof(ls->addr_text), 1);
    *lss = ls;
    return ls;
}

static char *
sl_cycle_abs_path(struct sl_pool *pool, const char *path)
{
    char cwd[PATH_MAX], *p;
    size_t cl, pl;

    if (path[0] == '/')
        return sl_pstrdupz(pool, path);
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    cl = strlen(cwd);
    pl = strlen(path);
    p = sl_pnalloc(pool, cl + pl + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, cwd, cl);
    p[cl] = '/';
    memcpy(p + cl + 1, path, pl + 1);
    return p;
}

struct sl_cycle *
sl_cycle_load(const char *path, char *err, size_t errlen)
{
    struct sl_conf_node *root;
    struct sl_conf_ctx cf;
    struct sl_cycle *cycle;
    struct sl_pool *pool;
    struct sl_module *m;
    char *slash;
    unsigned i;

    for (i = 0; i < sl_nmodules; i++)
        sl_modules[i]->index = i;

    pool = sl_pool_create(16384);
    if (pool == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cycle = sl_pcalloc(pool, sizeof(*cycle));
    if (cycle == NULL)
        goto nomem;
    cycle->magic = SL_CYCLE_MAGIC;
    cycle->pool = pool;
    cycle->conf_file = sl_cycle_abs_path(pool, path);
    if (cycle->conf_file == NULL)
        goto nomem;
    cycle->prefix = sl_pstrdupz(pool, cycle->conf_file);
    if (cycle->prefix == NULL)
        goto nomem;
    slash = strrchr(cycle->prefix, '/');
    slash[1] = '\0';
    if (sl_array_init(&cycle->listening, pool, 4, sizeof(void *)) != SL_OK
        || sl_array_init(&cycle->shm_zones, pool, 4, sizeof(void *)) != SL_OK
        || sl_array_init(&cycle->open_files, pool, 4, sizeof(void *))
           != SL_OK
        || sl_array_init(&cycle->syslogs, pool, 2, sizeof(void *)) != SL_OK)
    {
        goto nomem;
    }

    if (sl_conf_parse(pool, cycle->conf_file, NULL, 0, &root, err, errlen)
        != SL_OK)
    {
        goto fail;
    }

    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.cycle = cycle;
    cf.err = err;
    cf.errlen = errlen;
    cf.context = SL_CONF_MAIN;
    cycle->main_conf = sl_pcalloc(pool, sl_nmodules * sizeof(void *));
    if (cycle->main_conf == NULL)
        goto nomem;
    cf.main_conf = cycle->main_conf;
    for (i = 0; i < sl_nmodules; i++) {
        m = sl_modules[i];
        if (m->create_main == NULL)
            continue;
        cycle->main_conf[i] = m->create_main(&cf);
        if (cycle->main_conf[i] == NULL)
            goto nomem;
    }
    /* The core module's defaults are needed while walking (nworkers). */
    if (sl_conf_walk(&cf, root, SL_CONF_MAIN) != SL_OK)
        goto fail;
    cf.node = NULL;
    for (i = 0; i < sl_nmodules; i++) {
        m = sl_modules[i];
        if (m->init_main != NULL
            && m->init_main(&cf, cycle->main_conf[i]) != SL_OK)
        {
            if (err[0] == '\0')
                snprintf(err, errlen, "%s: module \"%s\" failed to "
                         "initialise", cycle->conf_file, m->name);
            goto fail;
        }
    }
    return cycle;

nomem:
    snprintf(err, errlen, "out of memory while reading \"%s\"", path);
fail:
    sl_pool_destroy(pool);
    return NULL;
}

static int
sl_cycle_open_socket(struct sl_listening *ls, char *err, size_t errlen)
{
    int fd, on = 1;

    fd = socket(ls->sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK
                | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "%s:%u: socket() for %s failed (%d: %s)",
                 ls->file, ls->line, ls->addr_text, errno, strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1
        || (ls->sa.sa.sa_family == AF_INET6
            && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on))
               == -1))
    {
        snprintf(err, errlen, "%s:%u: setsockopt() on %s failed (%d: %s)",
                 ls->file, ls->line, ls->addr_text, errno, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, &ls->sa.sa, ls->socklen) == -1) {
        snprintf(err, errlen, "%s:%u: bind() to %s failed (%d: %s)",
                 ls->file, ls->line, ls->addr_text, errno, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, ls->backlog) == -1) {
        snprintf(err, errlen, "%s:%u: listen() on %s failed (%d: %s)",
                 ls->file, ls->line, ls->addr_text, errno, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static struct sl_listening *
sl_cycle_find_listening(struct sl_cycle *cycle, struct sl_listening *ls)
{
    struct sl_listening **lss;
    unsigned i;

    if (cycle == NULL)
        return NULL;
    lss = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (lss[i]->socklen == ls->socklen
            && memcmp(&lss[i]->sa, &ls->sa, ls->socklen) == 0)
        {
            return lss[i];
        }
    }
    return NULL;
}

static void
sl_cycle_close_new_sockets(struct sl_cycle *cycle, struct sl_cycle *old)
{
    struct sl_listening **lss, *ols;
    unsigned i, s;

    lss = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (lss[i]->fds == NULL)
            continue;
        ols = sl_cycle_find_listening(old, lss[i]);
        for (s = 0; s < lss[i]->nfds; s++) {
            if (lss[i]->fds[s] == -1)
                continue;
            if (ols != NULL && s < ols->nfds && ols->fds[s] == lss[i]->fds[s])
                continue;
            close(lss[i]->fds[s]);
            lss[i]->fds[s] = -1;
        }
    }
}

static void
sl_cycle_close_files(struct sl_cycle *cycle)
{
    struct sl_open_file **files = cycle->open_files.elts;
    struct sl_syslog_peer **peers = cycle->syslogs.elts;
    unsigned i;

    for (i = 0; i < cycle->open_files.nelts; i++) {
        if (files[i]->fd != -1) {
            close(files[i]->fd);
            files[i]->fd = -1;
        }
    }
    for (i = 0; i < cycle->syslogs.nelts; i++)
        sl_syslog_close(peers[i]);
}

int
sl_cycle_open(struct sl_cycle *cycle, struct sl_cycle *old, char *err,
    size_t errlen)
{
    struct sl_listening **lss, *ls, *ols;
    struct sl_syslog_peer **peers;
    struct sl_open_file **files;
    unsigned i, s;

    lss = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        ls = lss[i];
        ls->nfds = cycle->nworkers;
        ls->fds = sl_palloc(cycle->pool, ls->nfds * sizeof(int));
        if (ls->fds == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (s = 0; s < ls->nfds; s++)
            ls->fds[s] = -1;
        ols = sl_cycle_find_listening(old, ls);
        for (s = 0; s < ls->nfds; s++) {
            if (ols != NULL && s < ols->nfds && ols->fds[s] != -1) {
                ls->fds[s] = ols->fds[s];
                if (ls->backlog != ols->backlog)
                    (void) listen(ls->fds[s], ls->backlog);
                continue;
            }
            ls->fds[s] = sl_cycle_open_socket(ls, err, errlen);
            if (ls->fds[s] == -1)
                goto fail;
        }
    }

    files = cycle->open_files.elts;
    for (i = 0; i < cycle->open_files.nelts; i++) {
        files[i]->fd = open(files[i]->path,
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (files[i]->fd == -1) {
            snprintf(err, errlen, "open() \"%s\" failed (%d: %s)",
                     files[i]->path, errno, strerror(errno));
            goto fail;
        }
        if (geteuid() == 0 && cycle->core->uid != 0
            && fchown(files[i]->fd, cycle->core->uid, (gid_t) -1) == -1)
        {
            sl_log_error(SL_LOG_WARN, errno, "fchown() \"%s\" failed",
                         files[i]->path);
        }
    }

    /*
     * A new socket per target and generation: old workers keep sending
     * on their copies of the old ones while they drain.
     */
    peers = cycle->syslogs.elts;
    for (i = 0; i < cycle->syslogs.nelts; i++) {
        if (sl_syslog_open(peers[i]) != SL_OK) {
            snprintf(err, errlen, "socket() for syslog server \"%s\" "
                     "failed (%d: %s)", peers[i]->server, errno,
                     strerror(errno));
            goto fail;
        }
    }

    if (sl_shm_zones_init(cycle, old) != SL_OK) {
        snprintf(err, errlen, "cannot create shared memory zones");
        goto fail;
    }
    return SL_OK;

fail:
    sl_cycle_close_new_sockets(cycle, old);
    sl_cycle_close_files(cycle);
    return SL_ERROR;
}

void
sl_cycle_release(struct sl_cycle *old, struct sl_cycle *cycle)
{
    struct sl_listening **lss, *nls;
    unsigned i, s;

    if (old == NULL)
        return;
    lss = old->listening.elts;
    for (i = 0; i < old->listening.nelts; i++) {
        nls = sl_cycle_find_listening(cycle, lss[i]);
        for (s = 0; s < lss[i]->nfds; s++) {
            if (lss[i]->fds[s] == -1)
                continue;
            if (nls != NULL && s < nls->nfds && nls->fds[s] == lss[i]->fds[s])
                continue;
            close(lss[i]->fds[s]);
        }
    }
    sl_cycle_close_files(old);
    sl_shm_zones_release(old, cycle);
    sl_pool_destroy(old->pool);
}

void
sl_cycle_reopen_files(struct sl_cycle *cycle, int chown_to_user)
{
    struct sl_open_file **files = cycle->open_files.elts;
    unsigned i;
    int fd;

    for (i = 0; i < cycle->open_files.nelts; i++) {
        fd = open(files[i]->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                  0644);
        if (fd == -1) {
            sl_log_error(SL_LOG_ALERT, errno, "open() \"%s\" failed",
                         files[i]->path);
            continue;
        }
        if (chown_to_user && geteuid() == 0 && cycle->core->uid != 0
            && fchown(fd, cycle->core->uid, (gid_t) -1) == -1)
        {
            sl_log_error(SL_LOG_WARN, errno, "fchown() \"%s\" failed",
                         files[i]->path);
        }
        if (files[i]->fd == -1) {
            files[i]->fd = fd;
            continue;
        }
        /* dup2 keeps the number, so buffered loggers need no update. */
        if (dup2(fd, files[i]->fd) == -1)
            sl_log_error(SL_LOG_ALERT, errno, "dup2() for \"%s\" failed",
                         files[i]->path);
        close(fd);
    }
}

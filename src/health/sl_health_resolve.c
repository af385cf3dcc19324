/*
 * sl_health_resolve.c: `server NAME:PORT resolve` -- the checker notices
 * when a name's addresses change and the pool follows.
 *
 * getaddrinfo() blocks, so the lookups run in a thread of the checker
 * process and never in its epoll loop.  The thread only reads the
 * configuration (fixed for the process's life) and writes one atomic in
 * the shared health table: when the answer for a name differs from the
 * addresses the configuration resolved, it bumps resolve_seq.  The master
 * sees the bump within a second and reloads; loading the configuration
 * resolves every name again, so the new generation has the new addresses
 * (servers gone retire their health records, new ones get fresh ones) and
 * its checker compares against them.
 */
#include "sl_core.h"
#include "sl_health.h"
#include "sl_cycle.h"

#include <netdb.h>
#include <pthread.h>
#include <strings.h>

#define SL_RESOLVE_DEFAULT_INTERVAL   30000
#define SL_RESOLVE_MAX_ADDRS          64

struct sl_resolve_name {
    const char             *upstream;       /* for the log */
    char                    host[256];
    unsigned                port;
    sl_msec_t               interval;
    sl_msec_t               next;           /* monotonic ms */
    unsigned                naddrs;         /* configured, sorted */
    char                    addrs[SL_RESOLVE_MAX_ADDRS][SL_SOCKADDR_STRLEN];
};

struct sl_resolver {
    struct sl_health_table *table;
    struct sl_resolve_name *names;
    unsigned                nnames;
};

/*
 * Lives as long as the checker: the thread may have ended before it.
 * Not static, so that the store is kept (LeakSanitizer finds it here).
 */
struct sl_resolver *sl_health_resolver_state;

static int
sl_resolve_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static sl_msec_t
sl_resolve_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Looks name up; 1 when the sorted answer differs from the configured. */
static int
sl_resolve_changed(struct sl_resolve_name *nm)
{
    char got[SL_RESOLVE_MAX_ADDRS][SL_SOCKADDR_STRLEN];
    struct addrinfo hints, *res, *ai;
    union sl_sockaddr sa;
    unsigned n = 0, i;
    int dup;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(nm->host, NULL, &hints, &res) != 0) {
        /* No answer is no news: keep the servers we have. */
        return 0;
    }
    for (ai = res; ai != NULL && n < SL_RESOLVE_MAX_ADDRS; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            || ai->ai_addrlen > sizeof(sa))
        {
            continue;
        }
        memset(&sa, 0, sizeof(sa));
        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
        if (sa.sa.sa_family == AF_INET)
            sa.sin.sin_port = htons((uint16_t) nm->port);
        else
            sa.sin6.sin6_port = htons((uint16_t) nm->port);
        sl_sockaddr_ntop(&sa.sa, got[n], sizeof(got[n]), 1);
        for (dup = 0, i = 0; i < n && !dup; i++)
            dup = strcmp(got[i], got[n]) == 0;
        if (!dup)
            n++;
    }
    freeaddrinfo(res);
    if (n == 0)
        return 0;
    qsort(got, n, sizeof(got[0]), sl_resolve_cmp);
    if (n != nm->naddrs)
        return 1;
    for (i = 0; i < n; i++) {
        if (strcmp(got[i], nm->addrs[i]) != 0)
            return 1;
    }
    return 0;
}

static void *
sl_resolve_thread(void *arg)
{
    struct sl_resolver *rs = arg;
    struct sl_resolve_name *nm;
    sl_msec_t now;
    unsigned i;

    for (;;) {
        now = sl_resolve_now();
        for (i = 0; i < rs->nnames; i++) {
            nm = &rs->names[i];
            if (now < nm->next)
                continue;
            nm->next = now + nm->interval;
            if (sl_resolve_changed(nm)) {
                sl_log_error(SL_LOG_NOTICE, 0, "upstream \"%s\": the "
                             "addresses of %s changed, the pool follows",
                             nm->upstream, nm->host);
                atomic_fetch_add(&rs->table->resolve_seq, 1);
                /* The next generation's checker takes over from here. */
                return NULL;
            }
        }
        usleep(200 * 1000);
    }
}

int
sl_health_resolve_wanted(struct sl_cycle *cycle)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream **ups;
    struct sl_upstream_server *s;
    unsigned i, j;

    umcf = cycle->main_conf[sl_upstream_module.index];
    if (umcf == NULL)
        return 0;
    ups = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        for (j = 0; j < ups[i]->servers.nelts; j++) {
            s = sl_array_at(&ups[i]->servers, struct sl_upstream_server, j);
            if (s->resolve)
                return 1;
        }
    }
    return 0;
}

int
sl_health_resolver_start(struct sl_cycle *cycle)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream **ups, *u;
    struct sl_upstream_server *s, *t;
    struct sl_resolve_name *nm;
    struct sl_resolver *rs;
    struct sl_str host;
    const char *reason;
    pthread_attr_t attr;
    pthread_t tid;
    unsigned i, j, k, port, dup;

    if (!sl_health_resolve_wanted(cycle))
        return SL_OK;
    rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return SL_ERROR;
    sl_health_resolver_state = rs;
    rs->table = sl_health_current();
    if (rs->table == NULL)
        return SL_OK;
    umcf = cycle->main_conf[sl_upstream_module.index];
    ups = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        u = ups[i];
        for (j = 0; j < u->servers.nelts; j++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, j);
            if (!s->resolve)
                continue;
            if (sl_upstream_parse_addr(&s->name, &host, &port, &reason)
                != SL_OK || host.len >= sizeof(nm->host))
            {
                continue;
            }
            /* One entry per (upstream, name, port). */
            for (dup = 0, k = 0; k < rs->nnames && !dup; k++)
                dup = rs->names[k].upstream == (const char *) u->name.data
                      && rs->names[k].port == port
                      && strlen(rs->names[k].host) == host.len
                      && memcmp(rs->names[k].host, host.data, host.len) == 0;
            if (dup)
                continue;
            nm = realloc(rs->names, (rs->nnames + 1) * sizeof(*nm));
            if (nm == NULL)
                return SL_ERROR;
            rs->names = nm;
            nm = &rs->names[rs->nnames++];
            memset(nm, 0, sizeof(*nm));
            nm->upstream = u->name.data;
            memcpy(nm->host, host.data, host.len);
            nm->port = port;
            nm->interval = u->resolve_interval > 0
                           ? u->resolve_interval : SL_RESOLVE_DEFAULT_INTERVAL;
            nm->next = sl_resolve_now() + nm->interval;
            /* The addresses the configuration gave this name. */
            for (k = 0; k < u->servers.nelts
                        && nm->naddrs < SL_RESOLVE_MAX_ADDRS; k++)
            {
                t = sl_array_at(&u->servers, struct sl_upstream_server, k);
                if (t->name.len == s->name.len
                    && memcmp(t->name.data, s->name.data, s->name.len) == 0)
                {
                    snprintf(nm->addrs[nm->naddrs++], SL_SOCKADDR_STRLEN,
                             "%s", t->addr_text);
                }
            }
            qsort(nm->addrs, nm->naddrs, sizeof(nm->addrs[0]),
                  sl_resolve_cmp);
        }
    }
    if (rs->nnames == 0)
        return SL_OK;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, sl_resolve_thread, rs) != 0) {
        sl_log_error(SL_LOG_ALERT, 0, "pthread_create() for the resolver "
                     "failed");
        pthread_attr_destroy(&attr);
        return SL_ERROR;
    }
    pthread_attr_destroy(&attr);
    sl_log_error(SL_LOG_INFO, 0, "checker: %u names re-resolved at run time",
                 rs->nnames);
    return SL_OK;
}

/*
 * sl_upstream_keepalive.c: the per-worker pool of idle connections to the
 * servers of a group (`keepalive N`).
 *
 * The pool is a list of entries, most recently used first, one per idle
 * connection, with at most u->keepalive of them: giving back one more
 * closes the least recently used.  Entries come from a per-group free
 * list and are allocated only when it is empty, from the cycle's pool, so
 * a warm worker never allocates: a group never holds more than keepalive
 * entries in all.
 *
 * While idle a connection belongs to the pool: c->data points to its
 * entry, its read handler closes it on anything -- the server closing,
 * bytes the server should not send, keepalive_timeout, or the worker
 * reclaiming the slot (idle connections are reusable) -- and its write
 * handler ignores the writability edges that edge-triggered epoll keeps
 * reporting.
 *
 * A TLS connection keeps its SSL object while idle; an entry carries its
 * context as a tag, and only a request of the same context takes it.  Its
 * close sends close_notify best effort (sl_conn_close).
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_cycle.h"
#include "sl_process.h"
#include "sl_tls_client.h"

static void
sl_upstream_keepalive_unlink(struct sl_upstream *u, struct sl_upstream_idle *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        u->idle = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    e->prev = NULL;
    e->next = u->free_idle;
    u->free_idle = e;
    e->c = NULL;
    e->server = NULL;
    u->nidle--;
}

/* Removes e from the pool and closes its connection. */
static void
sl_upstream_keepalive_close(struct sl_upstream *u, struct sl_upstream_idle *e)
{
    struct sl_conn *c = e->c;

    sl_upstream_keepalive_unlink(u, e);
    c->data = NULL;
    sl_conn_close(c);
}

/*
 * Whether the idle connection c is still clean: no byte and no FIN from
 * the server.  A peek tells, as the server owes us nothing while idle.
 */
static int
sl_upstream_keepalive_clean(struct sl_conn *c)
{
    char ch;
    ssize_t n;

    if (c->read.eof || c->read.error)
        return 0;
    n = recv(c->fd, &ch, 1, MSG_PEEK);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK
                    || errno == EINTR))
    {
        c->read.ready = 0;
        return 1;
    }
    return 0;
}

static void
sl_upstream_keepalive_close_handler(struct sl_event *ev)
{
    struct sl_conn *c = ev->data;
    struct sl_upstream_idle *e = c->data;

    SL_ASSERT(e != NULL && e->c == c);
    /* A spurious wakeup (an edge already seen) is no reason to close. */
    if (!ev->timedout && !c->close && sl_upstream_keepalive_clean(c))
        return;
    sl_upstream_keepalive_close(e->upstream, e);
}

static void
sl_upstream_keepalive_empty_handler(struct sl_event *ev)
{
    (void) ev;
}

struct sl_conn *
sl_upstream_keepalive_get(struct sl_upstream *u,
    struct sl_upstream_server *s)
{
    return sl_upstream_keepalive_get_tls(u, s, NULL);
}

struct sl_conn *
sl_upstream_keepalive_get_tls(struct sl_upstream *u,
    struct sl_upstream_server *s, const void *tag)
{
    struct sl_upstream_idle *e, *next;
    struct sl_conn *c;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    for (e = u->idle; e != NULL; e = next) {
        next = e->next;
        c = e->c;
        if (c->read.eof || c->read.error) {
            sl_upstream_keepalive_close(u, e);
            continue;
        }
        if (e->server != s || e->tag != tag)
            continue;
        sl_upstream_keepalive_unlink(u, e);
        sl_event_del_timer(&c->read);
        sl_event_unpost(&c->read);
        sl_event_unpost(&c->write);
        sl_conn_reusable(c, 0);
        c->read.timedout = 0;
        c->read.handler = NULL;
        c->write.handler = NULL;
        c->data = NULL;
        c->idle = 0;
        return c;
    }
    return NULL;
}

void
sl_upstream_keepalive_put(struct sl_upstream *u,
    struct sl_upstream_server *s, struct sl_conn *c)
{
    struct sl_upstream_idle *e;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    SL_CHECK_OBJ_NOTNULL(s, SL_UPSTREAM_SERVER_MAGIC);
    c->requests++;              /* the one just finished */
    if (u->keepalive <= 0 || u->keepalive_timeout <= 0
        || (int64_t) c->requests >= u->keepalive_requests
        || c->shutdown || c->close || sl_quit || sl_terminate
        || (c->read.ready && !sl_upstream_keepalive_clean(c))
        || c->read.eof || c->read.error || c->write.error
        || !sl_tls_client_idle_clean(c))
    {
        sl_conn_close(c);
        return;
    }

    if (u->nidle >= (unsigned) u->keepalive) {
        /* Full: the least recently used goes, its entry is reused. */
        for (e = u->idle; e->next != NULL; e = e->next)
            ;
        sl_upstream_keepalive_close(u, e);
    }
    e = u->free_idle;
    if (e != NULL) {
        u->free_idle = e->next;
    } else {
        e = sl_palloc(u->servers.pool, sizeof(*e));
        if (e == NULL) {
            sl_conn_close(c);
            return;
        }
    }
    e->c = c;
    e->server = s;
    e->upstream = u;
    e->tag = sl_tls_client_tag(c);
    e->prev = NULL;
    e->next = u->idle;
    if (u->idle != NULL)
        u->idle->prev = e;
    u->idle = e;
    u->nidle++;

    c->data = e;
    c->idle = 1;
    c->read.handler = sl_upstream_keepalive_close_handler;
    c->write.handler = sl_upstream_keepalive_empty_handler;
    sl_event_del_timer(&c->write);
    sl_event_unpost(&c->write);
    sl_event_add_timer(&c->read, u->keepalive_timeout);
    sl_conn_reusable(c, 1);
}

void
sl_upstream_keepalive_close_all(void)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream **ups;
    unsigned i;

    if (sl_cycle == NULL || sl_cycle->main_conf == NULL)
        return;
    umcf = sl_cycle->main_conf[sl_upstream_module.index];
    if (umcf == NULL)
        return;
    SL_CHECK_OBJ(umcf, SL_UPSTREAM_MAIN_MAGIC);
    ups = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        while (ups[i]->idle != NULL)
            sl_upstream_keepalive_close(ups[i], ups[i]->idle);
    }
}

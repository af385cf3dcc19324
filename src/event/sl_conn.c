/*
 * sl_conn.c: the worker's connection slots, accepting, and address text.
 */
#include "sl_core.h"
#include "sl_conn.h"
#include "sl_cycle.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>

_Static_assert(offsetof(struct sl_conn, write)
               == offsetof(struct sl_conn, read) + sizeof(struct sl_event),
               "the loop finds the write event right after the read event");

static struct sl_conn  *sl_conns;
static struct sl_conn  *sl_conn_free_list;
static unsigned         sl_conn_n;
static unsigned         sl_conn_nfree;
static uint64_t         sl_conn_number;

/* Oldest first: the head is closed first when slots run out. */
static struct sl_conn  *sl_reuse_head;
static struct sl_conn  *sl_reuse_tail;

static void (*sl_conn_accept_handler)(struct sl_conn *c);
static struct sl_cycle *sl_conn_cycle;
static int sl_conn_accept_disabled;

int
sl_conn_init(unsigned n)
{
    unsigned i;

    sl_conns = calloc(n, sizeof(struct sl_conn));
    if (sl_conns == NULL)
        return SL_ERROR;
    sl_conn_n = n;
    sl_conn_free_list = NULL;
    for (i = n; i > 0; i--) {
        sl_conns[i - 1].fd = -1;
        sl_conns[i - 1].free_next = sl_conn_free_list;
        sl_conn_free_list = &sl_conns[i - 1];
    }
    sl_conn_nfree = n;
    return SL_OK;
}

unsigned
sl_conn_free_count(void)
{
    return sl_conn_nfree;
}

unsigned
sl_conn_active_count(void)
{
    return sl_conn_n - sl_conn_nfree;
}

struct sl_conn *
sl_conn_get(int fd)
{
    struct sl_conn *c = sl_conn_free_list;

    if (c == NULL)
        return NULL;
    sl_conn_free_list = c->free_next;
    sl_conn_nfree--;
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->read.data = c;
    c->write.data = c;
    c->write.write = 1;
    c->number = ++sl_conn_number;
    c->since = sl_current_msec;
    return c;
}

void
sl_conn_reusable(struct sl_conn *c, int reusable)
{
    if (c->reusable) {
        if (c->q_prev != NULL)
            c->q_prev->q_next = c->q_next;
        else
            sl_reuse_head = c->q_next;
        if (c->q_next != NULL)
            c->q_next->q_prev = c->q_prev;
        else
            sl_reuse_tail = c->q_prev;
        c->q_prev = c->q_next = NULL;
        c->reusable = 0;
    }
    if (!reusable)
        return;
    c->reusable = 1;
    c->since = sl_current_msec;
    c->q_prev = sl_reuse_tail;
    c->q_next = NULL;
    if (sl_reuse_tail != NULL)
        sl_reuse_tail->q_next = c;
    else
        sl_reuse_head = c;
    sl_reuse_tail = c;
}

void
sl_conn_drain(unsigned n)
{
    struct sl_conn *c;

    while (n-- > 0 && (c = sl_reuse_head) != NULL) {
        sl_conn_reusable(c, 0);
        c->close = 1;
        c->read.handler(&c->read);
    }
}

void
sl_conn_foreach(void (*fn)(struct sl_conn *c))
{
    unsigned i;

    for (i = 0; i < sl_conn_n; i++) {
        if (sl_conns[i].fd != -1)
            fn(&sl_conns[i]);
    }
}

void
sl_conn_close(struct sl_conn *c)
{
    struct sl_listening **lss;
    unsigned i;

    SL_ASSERT(c->fd != -1);
    sl_conn_reusable(c, 0);
    sl_event_del_timer(&c->read);
    sl_event_del_timer(&c->write);
    sl_event_unpost(&c->read);
    sl_event_unpost(&c->write);
    if (c->ssl != NULL)
        sl_conn_tls_free(c);
    /* close() removes it from epoll as the fd is not shared. */
    close(c->fd);
    c->fd = -1;
    if (c->pool != NULL) {
        sl_pool_destroy(c->pool);
        c->pool = NULL;
    }
    c->read.handler = NULL;
    c->write.handler = NULL;
    c->free_next = sl_conn_free_list;
    sl_conn_free_list = c;
    sl_conn_nfree++;

    if (sl_conn_accept_disabled && sl_conn_cycle != NULL) {
        /* A slot is free again: accept once more. */
        sl_conn_accept_disabled = 0;
        lss = sl_conn_cycle->listening.elts;
        for (i = 0; i < sl_conn_cycle->listening.nelts; i++) {
            if (lss[i]->fd != -1)
                sl_event_add_listen(lss[i]->fd, &lss[i]->accept_ev);
        }
    }
}

size_t
sl_sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t len,
    int with_port)
{
    const struct sockaddr_in *sin;
    const struct sockaddr_in6 *sin6;
    char a[INET6_ADDRSTRLEN];
    int n;

    if (sa->sa_family == AF_INET) {
        sin = (const struct sockaddr_in *) sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
        n = with_port ? snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port))
                      : snprintf(buf, len, "%s", a);
    } else if (sa->sa_family == AF_INET6) {
        sin6 = (const struct sockaddr_in6 *) sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
        n = with_port ? snprintf(buf, len, "[%s]:%u", a,
                                 ntohs(sin6->sin6_port))
                      : snprintf(buf, len, "%s", a);
    } else {
        n = snprintf(buf, len, "unix:");
    }
    if (n < 0)
        return 0;
    return (size_t) n >= len ? len - 1 : (size_t) n;
}

unsigned
sl_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *) sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
    return 0;
}

int
sl_sockaddr_parse(const struct sl_str *s, union sl_sockaddr *sa,
    socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *p, *colon, *end = s->data + s->len;
    int64_t port;
    size_t hl;

    memset(sa, 0, sizeof(*sa));
    if (s->len == 0)
        return SL_ERROR;
    if (s->data[0] == '[') {
        p = memchr(s->data, ']', s->len);
        if (p == NULL || p + 1 >= end || p[1] != ':')
            return SL_ERROR;
        hl = (size_t) (p - s->data - 1);
        if (hl == 0 || hl >= sizeof(host))
            return SL_ERROR;
        memcpy(host, s->data + 1, hl);
        host[hl] = '\0';
        port = sl_atoi(p + 2, (size_t) (end - p - 2));
        if (port < 1 || port > 65535)
            return SL_ERROR;
        if (inet_pton(AF_INET6, host, &sa->sin6.sin6_addr) != 1)
            return SL_ERROR;
        sa->sin6.sin6_family = AF_INET6;
        sa->sin6.sin6_port = htons((uint16_t) port);
        *len = sizeof(struct sockaddr_in6);
        return SL_OK;
    }
    colon = memrchr(s->data, ':', s->len);
    sa->sin.sin_family = AF_INET;
    *len = sizeof(struct sockaddr_in);
    if (colon == NULL) {
        port = sl_atoi(s->data, s->len);
        if (port < 1 || port > 65535)
            return SL_ERROR;
        sa->sin.sin_addr.s_addr = htonl(INADDR_ANY);
        sa->sin.sin_port = htons((uint16_t) port);
        return SL_OK;
    }
    port = sl_atoi(colon + 1, (size_t) (end - colon - 1));
    if (port < 1 || port > 65535)
        return SL_ERROR;
    sa->sin.sin_port = htons((uint16_t) port);
    hl = (size_t) (colon - s->data);
    if (hl == 1 && s->data[0] == '*') {
        sa->sin.sin_addr.s_addr = htonl(INADDR_ANY);
        return SL_OK;
    }
    if (hl == 0 || hl >= sizeof(host))
        return SL_ERROR;
    memcpy(host, s->data, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0) {
        sa->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return SL_OK;
    }
    if (inet_pton(AF_INET, host, &sa->sin.sin_addr) != 1)
        return SL_ERROR;
    return SL_OK;
}

/* ---- accepting ----------------------------------------------------------- */

static void
sl_conn_disable_accept(void)
{
    struct sl_listening **lss;
    unsigned i;

    if (sl_conn_accept_disabled)
        return;
    sl_conn_accept_disabled = 1;
    lss = sl_conn_cycle->listening.elts;
    for (i = 0; i < sl_conn_cycle->listening.nelts; i++) {
        if (lss[i]->fd != -1)
            sl_event_del(lss[i]->fd);
    }
}

static void
sl_conn_accept(struct sl_event *ev)
{
    struct sl_listening *ls = ev->data;
    union sl_sockaddr peer;
    struct sl_conn *c;
    socklen_t plen;
    unsigned n;
    int fd;

    /* Bounded per wakeup so one busy listener cannot starve the rest. */
    for (n = 0; n < 64; n++) {
        if (sl_conn_nfree == 0) {
            /*
             * Free slots from idle or slow-header connections, oldest
             * first; a sixteenth of them at a time, so one burst does not
             * close connections that are about to be used.
             */
            sl_conn_drain(sl_max(1, sl_min(32, sl_conn_n / 16)));
            if (sl_conn_nfree == 0) {
                sl_conn_disable_accept();
                return;
            }
        }
        plen = sizeof(peer);
        fd = accept4(ls->fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                sl_log_error(SL_LOG_CRIT, errno, "accept4() on %s failed",
                             ls->addr_text);
                sl_conn_drain(sl_max(1, sl_min(32, sl_conn_n / 16)));
                return;
            }
            sl_log_error(SL_LOG_ALERT, errno, "accept4() on %s failed",
                         ls->addr_text);
            return;
        }
        c = sl_conn_get(fd);
        SL_ASSERT(c != NULL);
        memcpy(&c->peer, &peer, plen);
        c->peer_len = plen;
        c->listening = ls;
        if (peer.sa.sa_family != AF_UNIX) {
            int on = 1;
            (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        }
        sl_conn_accept_handler(c);
    }
    /* More may be queued: come back after other events. */
    sl_event_post(ev);
}

int
sl_conn_listen_start(struct sl_cycle *cycle, int slot,
    void (*handler)(struct sl_conn *c))
{
    struct sl_listening **lss, *ls;
    unsigned i;

    sl_conn_cycle = cycle;
    sl_conn_accept_handler = handler;
    lss = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        ls = lss[i];
        ls->fd = ls->fds[slot];
        ls->accept_ev.data = ls;
        ls->accept_ev.handler = sl_conn_accept;
        ls->accept_ev.accept = 1;
        if (sl_event_add_listen(ls->fd, &ls->accept_ev) != SL_OK)
            return SL_ERROR;
    }
    return SL_OK;
}

void
sl_conn_listen_stop(struct sl_cycle *cycle)
{
    struct sl_listening **lss;
    unsigned i, s;

    lss = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (lss[i]->fd == -1)
            continue;
        /*
         * Take what is queued on this slot's socket before letting go of
         * it: if the new generation has no worker for this slot, closing
         * the last copy would reset those connections.
         */
        if (sl_conn_nfree > 0)
            sl_conn_accept(&lss[i]->accept_ev);
        if (!sl_conn_accept_disabled)
            sl_event_del(lss[i]->fd);
        sl_event_unpost(&lss[i]->accept_ev);
        lss[i]->fd = -1;
        /*
         * Close this process's copies of every slot's socket: a socket the
         * master has dropped must not stay in the SO_REUSEPORT group, taking
         * connections nobody accepts, for as long as this worker drains.
         */
        for (s = 0; s < lss[i]->nfds; s++) {
            close(lss[i]->fds[s]);
            lss[i]->fds[s] = -1;
        }
    }
    sl_conn_accept_disabled = 1;
    sl_conn_cycle = NULL;
}

/*
 * sl_health_check.c: active health checks, run by the checker process.
 *
 * Every server of an upstream with health_check is probed in one epoll
 * loop: a non-blocking connect, a TLS handshake when the check is over
 * TLS (type=tcp stops there), then an HTTP/1.1
 * GET whose answer must have a status in the configured range and, with
 * body=, a body matching the regex.  A server goes down after `fall`
 * consecutive failures and up after `rise` successes; the checker writes
 * the result into the shared health table, which workers read on every
 * pick.  First checks are spread over the interval (jitter), so hundreds
 * of servers are not probed at once.
 */
#include "sl_core.h"
#include "sl_health.h"
#include "sl_cycle.h"

#include <netinet/tcp.h>
#include <sys/random.h>

#define SL_HC_BUF          16384

struct sl_hc {
    struct sl_upstream         *u;
    struct sl_upstream_server  *s;
    struct sl_health_conf      *conf;
    struct sl_health_peer      *p;
    union sl_sockaddr           sa;
    socklen_t                   socklen;
    struct sl_event             timer;      /* next check */
    struct sl_conn             *c;
    uint64_t                    started_us;
    char                       *buf;
    size_t                      len;
    size_t                      sent;
    char                       *req;
    size_t                      req_len;
    unsigned                    connected:1;
    unsigned                    tls:1;          /* check over TLS */
    unsigned                    handshaken:1;
};

static uint64_t sl_hc_rng;

static unsigned
sl_hc_random(unsigned n)
{
    sl_hc_rng ^= sl_hc_rng << 13;
    sl_hc_rng ^= sl_hc_rng >> 7;
    sl_hc_rng ^= sl_hc_rng << 17;
    return n ? (unsigned) (sl_hc_rng % n) : 0;
}

static void sl_hc_start(struct sl_event *ev);

/* Check latency wants better than the loop's millisecond clock. */
static uint64_t
sl_hc_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
static void sl_hc_io(struct sl_event *ev);

/* Records one check's outcome and moves the server up or down. */
static void
sl_hc_done(struct sl_hc *hc, int ok, int result, const char *why)
{
    struct sl_health_peer *p = hc->p;
    uint32_t state, n;
    uint64_t lat;

    if (hc->c != NULL) {
        sl_conn_close(hc->c);
        hc->c = NULL;
    }
    lat = sl_hc_now_us() - hc->started_us;
    atomic_fetch_add(&p->checks, 1);
    atomic_store(&p->last_check, sl_time_msec);
    atomic_store(&p->last_result, result);
    atomic_store(&p->latency_us, (uint32_t) lat);
    n = atomic_load(&p->ewma_us);
    /* EWMA with alpha 1/4: steady, yet follows a slowing server. */
    atomic_store(&p->ewma_us, n == 0 ? (uint32_t) lat
                                      : (3 * n + (uint32_t) lat) / 4);
    state = atomic_load(&p->state);
    if (ok) {
        atomic_store(&p->fall_n, 0);
        n = atomic_fetch_add(&p->rise_n, 1) + 1;
        if (state != SL_HEALTH_UP && n >= (uint32_t) hc->conf->rise) {
            atomic_store(&p->state, SL_HEALTH_UP);
            atomic_store(&p->since, sl_time_msec);
            if (state == SL_HEALTH_DOWN)
                atomic_store(&p->recovered, sl_time_msec);  /* slow_start */
            sl_log_error(SL_LOG_NOTICE, 0, "upstream server %s in \"%s\" is "
                         "up after %u successful checks", p->addr,
                         p->upstream, n);
        }
    } else {
        atomic_fetch_add(&p->check_failures, 1);
        atomic_store(&p->rise_n, 0);
        n = atomic_fetch_add(&p->fall_n, 1) + 1;
        if (state != SL_HEALTH_DOWN && n >= (uint32_t) hc->conf->fall) {
            atomic_store(&p->state, SL_HEALTH_DOWN);
            atomic_store(&p->since, sl_time_msec);
            sl_log_error(SL_LOG_WARN, 0, "upstream server %s in \"%s\" is "
                         "down after %u failed checks, last: %s", p->addr,
                         p->upstream, n, why);
        }
    }
    sl_event_add_timer(&hc->timer, hc->conf->interval);
}

static int
sl_hc_judge(struct sl_hc *hc, int eof, const char **why, int *result)
{
    struct sl_http_head *h;
    size_t scan = 0, len;
    pcre2_match_data *md;
    int rc;

    len = sl_http_find_head_end(hc->buf, hc->len, &scan);
    if (len == 0) {
        if (eof || hc->len == SL_HC_BUF) {
            *why = "no valid response head";
            *result = -EPROTO;
            return 0;
        }
        return -1;              /* need more */
    }
    /* The body regex needs the body: read until close or a full buffer. */
    if (hc->conf->body != NULL && !eof && hc->len < SL_HC_BUF)
        return -1;
    h = (struct sl_http_head *) sl_iobuf_get(sizeof(*h));
    if (h == NULL) {
        *why = "out of memory";
        *result = -ENOMEM;
        return 0;
    }
    memset(h, 0, sizeof(*h));
    rc = sl_http_parse_response(hc->buf, len, h);
    *result = rc == 0 ? h->status : -EPROTO;
    sl_iobuf_put((char *) h, sizeof(*h));
    if (rc != 0) {
        *why = "invalid response";
        return 0;
    }
    if (*result < hc->conf->status_min || *result > hc->conf->status_max) {
        *why = "unexpected status";
        return 0;
    }
    if (hc->conf->body != NULL) {
        md = pcre2_match_data_create_from_pattern(hc->conf->body, NULL);
        if (md == NULL) {
            *why = "out of memory";
            return 0;
        }
        rc = pcre2_match(hc->conf->body, (PCRE2_SPTR) (hc->buf + len),
                         hc->len - len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc < 0) {
            *why = "body does not match";
            return 0;
        }
    }
    *why = "ok";
    return 1;
}

static void
sl_hc_io(struct sl_event *ev)
{
    struct sl_conn *c = ev->data;
    struct sl_hc *hc = c->data;
    const char *why;
    char reason[320];
    socklen_t len;
    ssize_t n;
    int err = 0, result, rc;

    if (ev->timedout) {
        sl_hc_done(hc, 0, -ETIMEDOUT, "timed out");
        return;
    }
    if (!hc->connected) {
        if (!ev->write)
            return;
        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            sl_hc_done(hc, 0, -err, strerror(err));
            return;
        }
        hc->connected = 1;
    }
    if (hc->tls && !hc->handshaken) {
        /* Either event drives the handshake; the check's timer bounds it. */
        if (c->ssl == NULL
            && sl_tls_client_start(c, hc->conf->tls_conf, hc->u, hc->s, 0)
               != SL_OK)
        {
            sl_hc_done(hc, 0, -ENOMEM, "cannot start SSL");
            return;
        }
        rc = sl_tls_client_handshake(c, reason, sizeof(reason));
        if (rc == SL_AGAIN)
            return;
        if (rc != SL_OK) {
            sl_hc_done(hc, 0, -EPROTO, reason);
            return;
        }
        hc->handshaken = 1;
    }
    if (!hc->conf->type_http) {
        sl_hc_done(hc, 1, 0, hc->tls ? "handshake done" : "connected");
        return;
    }
    while (hc->sent < hc->req_len) {
        n = sl_conn_send(c, hc->req + hc->sent, hc->req_len - hc->sent);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            sl_hc_done(hc, 0, -errno, strerror(errno));
            return;
        }
        hc->sent += (size_t) n;
    }
    for (;;) {
        n = sl_conn_recv(c, hc->buf + hc->len, SL_HC_BUF - hc->len);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            sl_hc_done(hc, 0, -errno, strerror(errno));
            return;
        }
        hc->len += (size_t) n;
        rc = sl_hc_judge(hc, n == 0, &why, &result);
        if (rc >= 0) {
            sl_hc_done(hc, rc, result, why);
            return;
        }
        if (n == 0)
            return;
    }
}

static void
sl_hc_start(struct sl_event *ev)
{
    struct sl_hc *hc = ev->data;
    struct sl_conn *c;
    int fd, on = 1;

    if (atomic_load(&hc->p->admin) == SL_HEALTH_MAINT) {
        /* Servers in maintenance are not probed; look again later. */
        sl_event_add_timer(&hc->timer, hc->conf->interval);
        return;
    }
    hc->started_us = sl_hc_now_us();
    hc->len = 0;
    hc->sent = 0;
    hc->connected = 0;
    hc->handshaken = 0;
    fd = socket(hc->sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK
                | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        sl_hc_done(hc, 0, -errno, strerror(errno));
        return;
    }
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    c = sl_conn_get(fd);
    if (c == NULL) {
        close(fd);
        sl_hc_done(hc, 0, -EMFILE, "no free connection");
        return;
    }
    hc->c = c;
    c->data = hc;
    c->read.handler = sl_hc_io;
    c->write.handler = sl_hc_io;
    if (sl_event_add_conn(fd, &c->read, &c->write) != SL_OK) {
        sl_hc_done(hc, 0, -EIO, "epoll failed");
        return;
    }
    sl_event_add_timer(&c->read, hc->conf->timeout);
    if (connect(fd, &hc->sa.sa, hc->socklen) == -1 && errno != EINPROGRESS) {
        sl_hc_done(hc, 0, -errno, strerror(errno));
        return;
    }
    /* Connected or in progress: the write event tells. */
}

int
sl_health_checker_init(struct sl_cycle *cycle)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream **ups, *u;
    struct sl_upstream_server *s;
    struct sl_health_conf *conf;
    struct sl_hc *hc;
    unsigned i, j, n = 0;
    char host[128];

    if (getrandom(&sl_hc_rng, sizeof(sl_hc_rng), 0) != sizeof(sl_hc_rng))
        sl_hc_rng = (uint64_t) getpid() * 2654435761u;
    sl_hc_rng |= 1;
    umcf = cycle->main_conf[sl_upstream_module.index];
    if (umcf == NULL)
        return SL_OK;
    ups = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (ups[i]->health != NULL)
            n += ups[i]->servers.nelts;
    }
    if (n == 0)
        return SL_OK;
    if (sl_conn_init(n + 16) != SL_OK)
        return SL_ERROR;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        u = ups[i];
        conf = u->health;
        if (conf == NULL)
            continue;
        for (j = 0; j < u->servers.nelts; j++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, j);
            if (s->peer == NULL)
                continue;
            hc = calloc(1, sizeof(*hc));
            if (hc == NULL)
                return SL_ERROR;
            hc->u = u;
            hc->s = s;
            hc->conf = conf;
            hc->p = s->peer;
            /* Not given: TLS when the group is used with https://. */
            hc->tls = conf->tls == 1 || (conf->tls == -1 && u->tls);
            if (hc->tls && conf->tls_conf == NULL)
                return SL_ERROR;    /* built at load unless tls=off */
            memcpy(&hc->sa, &s->sa, s->socklen);
            hc->socklen = s->socklen;
            if (conf->port != 0) {
                if (hc->sa.sa.sa_family == AF_INET)
                    hc->sa.sin.sin_port = htons((uint16_t) conf->port);
                else
                    hc->sa.sin6.sin6_port = htons((uint16_t) conf->port);
            }
            hc->buf = malloc(SL_HC_BUF);
            if (conf->host.len)
                snprintf(host, sizeof(host), "%.*s", (int) conf->host.len,
                         conf->host.data);
            else
                snprintf(host, sizeof(host), "%s", s->addr_text);
            hc->req_len = conf->uri.len + strlen(host) + 128;
            hc->req = malloc(hc->req_len);
            if (hc->buf == NULL || hc->req == NULL)
                return SL_ERROR;
            hc->req_len = (size_t) snprintf(hc->req, hc->req_len,
                "GET %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-health-"
                "check\r\nConnection: close\r\n\r\n", (int) conf->uri.len,
                conf->uri.data, host);
            hc->timer.data = hc;
            hc->timer.handler = sl_hc_start;
            /* Spread the first checks over the interval. */
            sl_event_add_timer(&hc->timer,
                               sl_hc_random((unsigned) conf->interval));
        }
    }
    sl_log_error(SL_LOG_INFO, 0, "checker: %u servers under active checks",
                 n);
    return SL_OK;
}

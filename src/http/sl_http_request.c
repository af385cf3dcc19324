/*
 * sl_http_request.c: the life of a client connection and its requests:
 * reading the head, choosing server and location, reading (discarding) the
 * body, running the content handler, writing, keepalive and closing.
 *
 * An idle keepalive connection holds no pool and no buffer: both are taken
 * when its next request starts and given back when it goes idle again.
 */
#include "sl_core.h"
#include "sl_http.h"
#include "sl_process.h"
#include "sl_http_stats.h"
#include "sl_tls.h"
#include "sl_security.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define SL_HTTP_LINGER_READ     5000     /* ms between reads */
#define SL_HTTP_LINGER_TOTAL    30000    /* ms at the most */
#define SL_HTTP_DISCARD_BUF     16384
#define SL_HTTP_MAX_IOV         64

static void sl_http_wait_request(struct sl_event *rev);
static void sl_http_process_head(struct sl_http_conn *hc);
static void sl_http_run(struct sl_http_request *r);
static void sl_http_write_handler(struct sl_event *wev);
static void sl_http_lingering_handler(struct sl_event *rev);

/* Every client connection ends here: limit_conn_accept gets its count back. */
#define sl_http_conn_close(c)  (sl_limit_conn_close(c), sl_conn_close(c))

/* Scratch memory for bytes that are read only to be thrown away. */
static char sl_http_scratch[SL_HTTP_DISCARD_BUF];

void
sl_http_empty_handler(struct sl_event *ev)
{
    (void) ev;
}

/*
 * Drives the TLS handshake from either direction's readiness.  It is
 * bounded by client_header_timeout (the read timer set at accept); when
 * it finishes, the connection waits for its first request as a plain one
 * does, and the read handler runs at once because the request may have
 * come with the handshake's last flight.
 */
static void
sl_http_ssl_handshake(struct sl_event *ev)
{
    struct sl_conn *c = ev->data;
    struct sl_http_addr_conf *ac = c->data;
    char addr[SL_SOCKADDR_STRLEN];
    int rc;

    if (c->read.timedout || c->close) {
        if (c->read.timedout) {
            sl_sockaddr_ntop(&c->peer.sa, addr, sizeof(addr), 0);
            sl_log_error(SL_LOG_INFO, 0, "client %s timed out in the TLS "
                         "handshake", addr);
        }
        sl_http_conn_close(c);
        return;
    }
    rc = sl_conn_tls_handshake(c);
    if (rc == SL_AGAIN)
        return;
    if (rc == SL_ERROR) {
        sl_http_conn_close(c);
        return;
    }
    c->read.handler = sl_http_wait_request;
    c->write.handler = sl_http_empty_handler;
    sl_event_add_timer(&c->read, ac->default_server->client_header_timeout);
    c->read.ready = 1;
    sl_event_post(&c->read);
}

void
sl_http_init_connection(struct sl_conn *c)
{
    struct sl_http_addr_conf *ac = c->listening->servers;

    SL_CHECK_OBJ_NOTNULL(ac, SL_HTTP_ADDR_MAGIC);
    if (sl_limit_conn_accept(c) != SL_OK) {
        sl_conn_close(c);       /* over a limit_conn_accept cap: no byte */
        return;
    }
    c->data = ac;
    c->read.handler = sl_http_wait_request;
    c->write.handler = sl_http_empty_handler;
    if (ac->ssl) {
        if (sl_tls_accept(c) != SL_OK) {
            sl_http_conn_close(c);
            return;
        }
        c->read.handler = sl_http_ssl_handshake;
        c->write.handler = sl_http_ssl_handshake;
    }
    if (sl_event_add_conn(c->fd, &c->read, &c->write) != SL_OK) {
        sl_http_conn_close(c);
        return;
    }
    sl_event_add_timer(&c->read, ac->default_server->client_header_timeout);
    sl_conn_reusable(c, 1);
}

/* Gives the head buffer back and frees the connection pool. */
static void
sl_http_conn_release(struct sl_conn *c)
{
    struct sl_http_conn *hc;

    if (c->pool == NULL)
        return;
    hc = c->data;
    if (hc->buf != NULL) {
        sl_iobuf_put(hc->buf, hc->buf_size);
        hc->buf = NULL;
    }
    c->data = hc->addr;
    sl_pool_destroy(c->pool);
    c->pool = NULL;
}

static void
sl_http_close_connection(struct sl_conn *c)
{
    struct sl_http_conn *hc;

    if (c->pool != NULL) {
        hc = c->data;
        if (hc->r != NULL) {
            sl_pool_destroy(hc->r->pool);
            hc->r = NULL;
        }
    }
    sl_http_conn_release(c);
    sl_http_conn_close(c);
}

static struct sl_http_conn *
sl_http_conn_setup(struct sl_conn *c)
{
    struct sl_http_addr_conf *ac = c->data;
    struct sl_http_conn *hc;
    size_t size;

    /* The cached block size: a warm worker then mallocs no pools. */
    c->pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    if (c->pool == NULL)
        return NULL;
    hc = sl_pcalloc(c->pool, sizeof(*hc));
    if (hc == NULL)
        goto fail;
    hc->addr = ac;
    hc->c = c;
    size = (size_t) ac->default_server->header_buffer_size;
    hc->buf = sl_iobuf_get(size);
    if (hc->buf == NULL)
        goto fail;
    hc->buf_size = size;
    c->data = hc;
    return hc;

fail:
    sl_pool_destroy(c->pool);
    c->pool = NULL;
    return NULL;
}

static void
sl_http_head_free(void *data)
{
    sl_iobuf_put(data, sizeof(struct sl_http_head));
}

/*
 * Creates the request for the head that starts at hc->buf_pos.  The parsed
 * head lives in a recycled buffer so a warm worker does not malloc it.
 */
static struct sl_http_request *
sl_http_create_request(struct sl_http_conn *hc)
{
    struct sl_http_request *r;
    struct sl_pool *pool;
    struct sl_http_head *h;

    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    if (pool == NULL)
        return NULL;
    r = sl_pcalloc(pool, sizeof(*r));
    h = (struct sl_http_head *) sl_iobuf_get(sizeof(*h));
    if (r == NULL || h == NULL
        || sl_pool_cleanup_add(pool, sl_http_head_free, h) == NULL)
    {
        if (h != NULL)
            sl_iobuf_put((char *) h, sizeof(*h));
        sl_pool_destroy(pool);
        return NULL;
    }
    /* Not the 4 KB field array: the parser fills what it uses. */
    memset(h, 0, offsetof(struct sl_http_head, headers));
    memset((char *) h + offsetof(struct sl_http_head, nheaders), 0,
           sizeof(*h) - offsetof(struct sl_http_head, nheaders));
    h->h_host = h->h_content_length = h->h_transfer_encoding = -1;
    h->h_connection = h->h_upgrade = h->h_expect = -1;
    h->content_length = -1;
    h->http_major = 1;
    h->http_minor = 1;
    r->magic = SL_HTTP_REQ_MAGIC;
    r->pool = pool;
    r->c = hc->c;
    r->hc = hc;
    r->head = h;
    r->srv = hc->addr->default_server;
    r->loc_conf = r->srv->loc_conf;
    r->loc = r->loc_conf[sl_http_core_module.index];
    r->content_length = -1;
    r->start_msec = hc->head_start ? hc->head_start : sl_current_msec;
    r->start_wall_msec = sl_time_msec;
    if (sl_array_init(&r->out_headers, pool, 4,
                      sizeof(struct sl_http_out_header)) != SL_OK)
    {
        sl_pool_destroy(pool);
        return NULL;
    }
    hc->r = r;
    return r;
}

/* Answers status on a connection that has no request yet (or a broken one). */
static void
sl_http_fail_head(struct sl_http_conn *hc, int status)
{
    struct sl_http_request *r;

    r = hc->r != NULL ? hc->r : sl_http_create_request(hc);
    if (r == NULL) {
        sl_http_close_connection(hc->c);
        return;
    }
    if (r->head_len == 0) {
        r->head_start = hc->buf + hc->buf_pos;
        r->head_len = hc->buf_len - hc->buf_pos;
        r->request_length = r->head_len;
    }
    r->keepalive = 0;
    sl_http_send_error(r, status);
}

static void
sl_http_wait_request(struct sl_event *rev)
{
    struct sl_conn *c = rev->data;
    struct sl_http_conn *hc;
    ssize_t n;

    if (rev->timedout || c->close) {
        /* A partial head that ran out of time gets a 408. */
        if (rev->timedout && c->pool != NULL && !c->close) {
            hc = c->data;
            if (hc->buf_len > hc->buf_pos) {
                sl_http_fail_head(hc, 408);
                return;
            }
        }
        sl_http_close_connection(c);
        return;
    }
    if (c->pool == NULL) {
        if (sl_http_conn_setup(c) == NULL) {
            sl_log_error(SL_LOG_CRIT, 0, "out of memory for a connection");
            sl_http_close_connection(c);
            return;
        }
    }
    hc = c->data;

    for (;;) {
        /* Pipelined bytes already buffered are looked at before reading. */
        if (hc->pending) {
            hc->pending = 0;
            sl_http_process_head(hc);
            return;
        }
        if (hc->buf_len == hc->buf_size) {
            sl_http_process_head(hc);
            return;
        }
        n = sl_conn_recv(c, hc->buf + hc->buf_len,
                         hc->buf_size - hc->buf_len);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                rev->ready = 0;
                /* Nothing read: stay light, hold no pool or buffer. */
                if (hc->buf_len == 0)
                    sl_http_conn_release(c);
                return;
            }
            if (errno == EINTR)
                continue;
            sl_http_close_connection(c);
            return;
        }
        if (n == 0) {
            sl_http_close_connection(c);
            return;
        }
        /*
         * A short read drained the socket: wait for the next edge instead
         * of finding out with one more recv() that fails with EAGAIN.
         */
        if ((size_t) n < hc->buf_size - hc->buf_len)
            rev->ready = 0;
        if (hc->head_start == 0) {
            /*
             * client_header_timeout runs from the first byte of the head
             * and is not extended by later bytes, so trickling a header
             * does not keep a connection.
             */
            hc->head_start = sl_current_msec;
            c->idle = 0;
            sl_event_add_timer(rev, hc->addr->default_server
                                        ->client_header_timeout);
        }
        hc->buf_len += (size_t) n;
        sl_http_process_head(hc);
        return;
    }
}

/* Makes room for more head bytes; SL_ERROR when the limits are hit. */
static int
sl_http_grow_head(struct sl_http_conn *hc)
{
    struct sl_http_srv_conf *scf = hc->addr->default_server;
    size_t large = (size_t) (scf->large_buffers_n * scf->large_buffers_size);
    size_t have = hc->buf_len - hc->buf_pos;
    char *nb;

    if (hc->buf_pos > 0) {
        memmove(hc->buf, hc->buf + hc->buf_pos, have);
        hc->buf_pos = 0;
        hc->buf_len = have;
        return SL_OK;
    }
    if (hc->buf_size >= large)
        return SL_ERROR;
    nb = sl_iobuf_get(large);
    if (nb == NULL)
        return SL_ERROR;
    memcpy(nb, hc->buf, have);
    sl_iobuf_put(hc->buf, hc->buf_size);
    hc->buf = nb;
    hc->buf_size = large;
    return SL_OK;
}

static void
sl_http_set_host(struct sl_http_request *r)
{
    struct sl_http_head *h = r->head;
    const char *p, *end;
    size_t len;
    char *d;

    p = NULL;
    len = 0;
    /* An absolute-form target names the host (RFC 9112 section 3.2.2). */
    if (h->request_target.len > 7
        && (strncasecmp(h->request_target.data, "http://", 7) == 0
            || (h->request_target.len > 8
                && strncasecmp(h->request_target.data, "https://", 8) == 0)))
    {
        p = h->request_target.data
            + (h->request_target.data[4] == ':' ? 7 : 8);
        end = h->request_target.data + h->request_target.len;
        len = 0;
        while (p + len < end && p[len] != '/' && p[len] != '?')
            len++;
    } else if (h->h_host >= 0) {
        p = h->headers[h->h_host].value.data;
        len = h->headers[h->h_host].value.len;
    }
    if (p == NULL || len == 0)
        return;
    if (p[0] == '[') {
        end = memchr(p, ']', len);
        if (end != NULL)
            len = (size_t) (end - p + 1);
    } else {
        end = memchr(p, ':', len);
        if (end != NULL)
            len = (size_t) (end - p);
    }
    if (len > 0 && p[len - 1] == '.')
        len--;
    d = sl_pnalloc(r->pool, len + 1);
    if (d == NULL)
        return;
    sl_strlow(d, p, len);
    d[len] = '\0';
    r->host.data = d;
    r->host.len = len;
}

static void
sl_http_process_head(struct sl_http_conn *hc)
{
    struct sl_conn *c = hc->c;
    struct sl_http_srv_conf *scf = hc->addr->default_server;
    struct sl_http_request *r;
    struct sl_http_head *h;
    const char *start, *eol;
    size_t avail, len;
    char *uri;
    int rc;

    for (;;) {
        start = hc->buf + hc->buf_pos;
        avail = hc->buf_len - hc->buf_pos;
        len = sl_http_find_head_end(start, avail, &hc->scan);
        if (len > 0)
            break;
        if (sl_http_line_len(start, avail) == 0
            && avail > (size_t) scf->large_buffers_size)
        {
            sl_http_fail_head(hc, 414);
            return;
        }
        if (hc->buf_len < hc->buf_size) {
            if (c->read.ready)
                sl_event_post(&c->read);
            return;
        }
        if (sl_http_grow_head(hc) != SL_OK) {
            sl_http_fail_head(hc, sl_http_line_len(hc->buf + hc->buf_pos,
                                                   avail) == 0 ? 414 : 431);
            return;
        }
        /* Read more into the room just made. */
        sl_event_post(&c->read);
        c->read.ready = 1;
        return;
    }

    sl_conn_reusable(c, 0);
    sl_event_del_timer(&c->read);
    c->read.handler = sl_http_empty_handler;
    if (hc->head_start == 0)
        hc->head_start = sl_current_msec;
    r = sl_http_create_request(hc);
    if (r == NULL) {
        sl_http_close_connection(c);
        return;
    }
    c->requests++;
    r->head_start = start;
    r->head_len = len;
    r->request_length = len;
    hc->buf_pos += len;
    hc->scan = 0;
    h = r->head;

    rc = sl_http_parse_request(start, len, h,
                               (size_t) scf->large_buffers_size,
                               (size_t) scf->large_buffers_size);
    if (h->method_name.data != NULL) {
        eol = memchr(h->method_name.data, '\r',
                     (size_t) (start + len - h->method_name.data));
        if (eol != NULL) {
            r->request_line.data = h->method_name.data;
            r->request_line.len = (size_t) (eol - h->method_name.data);
        }
    }
    r->http10 = h->http_minor == 0;
    r->head_method = h->method == SL_HTTP_HEAD;
    if (rc != 0) {
        r->keepalive = 0;
        sl_http_send_error(r, rc);
        return;
    }

    sl_http_set_host(r);
    r->srv = sl_http_find_server(hc->addr, &r->host);
    r->loc_conf = r->srv->loc_conf;
    r->loc = r->loc_conf[sl_http_core_module.index];
    /* ssl_verify_client on: before anything, as nginx does. */
    if (sl_tls_verify_request(r) != SL_OK)
        return;

    uri = sl_pnalloc(r->pool, h->path.len + 1);
    if (uri == NULL) {
        sl_http_close_connection(c);
        return;
    }
    if (sl_http_normalize_uri(h->path.data, h->path.len, uri, &r->uri.len)
        != SL_OK)
    {
        r->keepalive = 0;
        sl_http_send_error(r, 400);
        return;
    }
    r->uri.data = uri;
    r->args = h->args;

    r->keepalive = (h->http_minor == 1 && !h->conn_close)
                   || (h->http_minor == 0 && h->conn_keepalive);
    sl_http_run(r);
}

/* ---- phases ------------------------------------------------------------- */

static void sl_http_run_content(struct sl_http_request *r);

static void
sl_http_run(struct sl_http_request *r)
{
    struct sl_http_loc_conf *slcf;
    struct sl_http_head *h = r->head;

    if (h->method == SL_HTTP_UNKNOWN) {
        r->keepalive = 0;
        sl_http_send_error(r, 501);
        return;
    }
    slcf = r->srv->loc_conf[sl_http_core_module.index];
    if (slcf->return_code == -1) {
        r->loc = sl_http_find_location(r->srv, &r->uri);
        if (r->loc != NULL)
            r->loc_conf = r->loc->loc_conf;
        else
            r->loc = slcf;
    } else {
        r->loc = slcf;
    }
    /* A server-level return answers before access control (nginx). */
    if (slcf->return_code != -1) {
        sl_http_run_content(r);
        return;
    }
    r->phase = 0;
    sl_http_access_resume(r);
}

/* ---- the access phase ---------------------------------------------------- */

static sl_http_phase_pt sl_http_access_handlers[SL_HTTP_MAX_PHASE_HANDLERS];
static unsigned sl_http_naccess;

int
sl_http_add_access_handler(sl_http_phase_pt h)
{
    unsigned i;

    for (i = 0; i < sl_http_naccess; i++) {
        if (sl_http_access_handlers[i] == h)
            return SL_OK;
    }
    if (sl_http_naccess == SL_HTTP_MAX_PHASE_HANDLERS)
        return SL_ERROR;
    sl_http_access_handlers[sl_http_naccess++] = h;
    return SL_OK;
}

void
sl_http_access_resume(struct sl_http_request *r)
{
    int rc;

    for (; r->phase < sl_http_naccess; r->phase++) {
        rc = sl_http_access_handlers[r->phase](r);
        if (rc == SL_OK || rc == SL_DECLINED)
            continue;
        if (rc == SL_AGAIN)
            return;         /* the handler calls sl_http_access_done() */
        sl_http_send_error(r, rc >= 400 ? rc : 500);
        return;
    }
    sl_http_run_content(r);
}

void
sl_http_access_done(struct sl_http_request *r, int rc)
{
    if (rc == SL_OK || rc == SL_DECLINED) {
        r->phase++;
        sl_http_access_resume(r);
        return;
    }
    sl_http_send_error(r, rc >= 400 ? rc : 500);
}

/* The content phase: body limits, then the location's handler. */
static void
sl_http_run_content(struct sl_http_request *r)
{
    struct sl_http_loc_conf *lcf = r->loc;
    struct sl_http_head *h = r->head;

    if (h->content_length > 0 && lcf->client_max_body_size > 0
        && h->content_length > lcf->client_max_body_size)
    {
        r->keepalive = 0;
        sl_http_send_error(r, 413);
        return;
    }
    if (lcf->handler != NULL && lcf->return_code == -1) {
        /* A handler such as the proxy reads the body itself. */
        r->body_done = !(h->content_length > 0 || h->chunked);
        if (lcf->handler(r) == SL_ERROR)
            sl_http_send_error(r, 500);
        return;
    }
    if (h->content_length > 0 || h->chunked) {
        /*
         * The handlers here produce a response without the body: read and
         * drop it first, so that an oversized chunked body gets its 413
         * and the connection stays in step for the next request.
         */
        r->body_rest = h->content_length > 0 ? h->content_length : 0;
        r->discard_body = 1;
        sl_http_read_body_then(r, NULL, NULL, sl_http_content);
        return;
    }
    r->body_done = 1;
    sl_http_content(r);
}

void
sl_http_content(struct sl_http_request *r)
{
    struct sl_http_loc_conf *lcf = r->loc;

    if (lcf->return_code != -1) {
        sl_http_return_handler(r, lcf);
        return;
    }
    if (lcf->handler != NULL) {
        if (lcf->handler(r) == SL_ERROR)
            sl_http_send_error(r, 500);
        return;
    }
    sl_http_send_error(r, 404);
}

/*
 * Runs body bytes [p, end) through the request's framing -- counting the
 * Content-Length down, or decoding chunks -- and hands each span of
 * payload to store (NULL: the payload is dropped).  A chunked body is held
 * to client_max_body_size.  Returns SL_OK when the body ended (*stop just
 * after it), SL_AGAIN when all was consumed, or an HTTP status (400, 413;
 * 500 when store fails).
 */
static int
sl_http_body_consume(struct sl_http_request *r, const char *p,
    const char *end, const char **stop, sl_http_body_store_pt store,
    void *arg)
{
    const char *data;
    size_t dlen, n;
    int rc;

    while (p < end) {
        if (r->head->chunked) {
            rc = sl_http_chunked_parse(&r->chunked, &p, end, &data, &dlen);
            if (rc == SL_ERROR) {
                *stop = p;
                return 400;
            }
            if (rc == SL_OK) {
                r->body_received += dlen;
                if (r->loc->client_max_body_size > 0
                    && r->body_received
                       > (uint64_t) r->loc->client_max_body_size)
                {
                    *stop = p;
                    return 413;
                }
                if (store != NULL && store(arg, data, dlen) != SL_OK)
                    return 500;
                continue;
            }
            if (rc == SL_DONE) {
                *stop = p;
                return SL_OK;
            }
            break;      /* SL_AGAIN: all consumed */
        }
        n = (size_t) (end - p);
        if ((int64_t) n > r->body_rest)
            n = (size_t) r->body_rest;
        if (store != NULL && store(arg, p, n) != SL_OK)
            return 500;
        r->body_rest -= (int64_t) n;
        r->body_received += n;
        p += n;
        if (r->body_rest == 0) {
            *stop = p;
            return SL_OK;
        }
    }
    *stop = end;
    return SL_AGAIN;
}

int
sl_http_read_body(struct sl_http_request *r, sl_http_body_store_pt store,
    void *arg)
{
    struct sl_http_conn *hc = r->hc;
    struct sl_conn *c = r->c;
    const char *stop;
    size_t want;
    ssize_t n;
    int rc;

    if (hc->buf_pos < hc->buf_len) {
        rc = sl_http_body_consume(r, hc->buf + hc->buf_pos,
                                  hc->buf + hc->buf_len, &stop, store, arg);
        r->request_length += (size_t) (stop - (hc->buf + hc->buf_pos));
        hc->buf_pos = (size_t) (stop - hc->buf);
        if (rc != SL_AGAIN)
            return rc;
    }
    for (;;) {
        if (c->close)
            return SL_ERROR;
        /*
         * A Content-Length body is read no further than its end; a chunked
         * one at most a head buffer at a time, so that bytes read past its
         * end (the next pipelined request) fit the head buffer later.
         */
        want = sizeof(sl_http_scratch);
        if (!r->head->chunked && (int64_t) want > r->body_rest)
            want = (size_t) r->body_rest;
        if (r->head->chunked && want > hc->buf_size)
            want = hc->buf_size;
        n = sl_conn_recv(c, sl_http_scratch, want);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->read.ready = 0;
                return SL_AGAIN;
            }
            if (errno == EINTR)
                continue;
            return SL_ERROR;
        }
        if (n == 0)
            return SL_ERROR;
        rc = sl_http_body_consume(r, sl_http_scratch, sl_http_scratch + n,
                                  &stop, store, arg);
        r->request_length += (size_t) (stop - sl_http_scratch);
        if (rc == SL_OK && stop < sl_http_scratch + n) {
            r->leftover.len = (size_t) (sl_http_scratch + n - stop);
            r->leftover.data = sl_pnalloc(r->pool, r->leftover.len);
            if (r->leftover.data == NULL)
                return SL_ERROR;
            memcpy(r->leftover.data, stop, r->leftover.len);
        }
        if (rc != SL_AGAIN)
            return rc;
    }
}

/* What the body reader does once it has an answer from sl_http_read_body(). */
static void
sl_http_body_finish(struct sl_http_request *r, int rc)
{
    if (rc == SL_ERROR) {
        sl_http_terminate(r);       /* the client went away */
        return;
    }
    if (rc != SL_OK) {
        r->keepalive = 0;
        sl_http_send_error(r, rc);
        return;
    }
    r->body_done = 1;
    r->body_then(r);
}

static void
sl_http_body_handler(struct sl_event *rev)
{
    struct sl_conn *c = rev->data;
    struct sl_http_conn *hc = c->data;
    struct sl_http_request *r = hc->r;
    int rc;

    if (rev->timedout) {
        r->keepalive = 0;
        c->read.handler = sl_http_empty_handler;
        sl_http_send_error(r, 408);
        return;
    }
    rc = sl_http_read_body(r, r->body_store, r->body_arg);
    if (rc == SL_AGAIN) {
        sl_event_add_timer(rev, r->loc->client_body_timeout);
        return;
    }
    sl_event_del_timer(rev);
    c->read.handler = sl_http_empty_handler;
    sl_http_body_finish(r, rc);
}

void
sl_http_read_body_then(struct sl_http_request *r, sl_http_body_store_pt store,
    void *arg, void (*then)(struct sl_http_request *r))
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int rc;

    r->body_store = store;
    r->body_arg = arg;
    r->body_then = then;
    rc = sl_http_read_body(r, store, arg);
    if (rc != SL_AGAIN) {
        sl_http_body_finish(r, rc);
        return;
    }
    /* Best effort: a client that gets no 100 sends the body anyway. */
    if (r->head->expect_continue && r->hc->buf_len == r->hc->buf_pos)
        (void) sl_conn_send(r->c, cont, sizeof(cont) - 1);
    r->c->read.handler = sl_http_body_handler;
    sl_event_add_timer(&r->c->read, r->loc->client_body_timeout);
    if (r->c->read.ready)
        sl_event_post(&r->c->read);
}

/* ---- writing ------------------------------------------------------------ */

void
sl_http_log_once(struct sl_http_request *r)
{
    if (r->logged)
        return;
    r->logged = 1;
    sl_http_log_request(r);
    sl_stats_request(r);
}

void
sl_http_terminate(struct sl_http_request *r)
{
    r->keepalive = 0;
    sl_http_log_once(r);
    sl_http_close_connection(r->c);
}

/*
 * Sends r->out with writev until done or EAGAIN.  Returns SL_OK when all is
 * sent, SL_AGAIN when the write handler will continue, SL_ERROR when the
 * peer is gone.  A plain TCP socket that took less than it was offered is
 * full: waiting for EPOLLOUT (which its freed space will raise, the
 * descriptor being edge-triggered) saves the writev that would only say
 * EAGAIN.  Over TLS a short count can mean one record written, so there
 * the loop goes on until EAGAIN.
 */
int
sl_http_send_chain(struct sl_http_request *r)
{
    struct iovec iov[SL_HTTP_MAX_IOV];
    struct sl_chain *cl;
    struct sl_conn *c = r->c;
    ssize_t n;
    size_t left, offered;
    int niov;

    for (;;) {
        while (r->out != NULL && sl_buf_size(r->out->buf) == 0)
            r->out = r->out->next;
        if (r->out == NULL)
            return SL_OK;
        niov = 0;
        offered = 0;
        for (cl = r->out; cl != NULL && niov < SL_HTTP_MAX_IOV;
             cl = cl->next)
        {
            if (sl_buf_size(cl->buf) == 0)
                continue;
            iov[niov].iov_base = cl->buf->pos;
            iov[niov].iov_len = sl_buf_size(cl->buf);
            offered += iov[niov].iov_len;
            niov++;
        }
        n = sl_conn_writev(c, iov, niov);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->write.ready = 0;
                return SL_AGAIN;
            }
            if (errno == EINTR)
                continue;
            return SL_ERROR;
        }
        r->bytes_sent += (uint64_t) n;
        left = (size_t) n;
        for (cl = r->out; cl != NULL && left > 0; cl = cl->next) {
            size_t b = sl_buf_size(cl->buf);
            if (b > left)
                b = left;
            cl->buf->pos += b;
            left -= b;
        }
        if ((size_t) n < offered && c->ssl == NULL) {
            c->write.ready = 0;
            return SL_AGAIN;
        }
    }
}

int
sl_http_output(struct sl_http_request *r)
{
    struct sl_conn *c = r->c;
    int rc;

    rc = sl_http_send_chain(r);
    if (rc == SL_AGAIN) {
        c->write.handler = sl_http_write_handler;
        sl_event_add_timer(&c->write, r->loc->send_timeout);
        return SL_AGAIN;
    }
    sl_event_del_timer(&c->write);
    c->write.handler = sl_http_empty_handler;
    if (rc == SL_ERROR) {
        r->keepalive = 0;
        r->response_done = 1;
        sl_http_log_once(r);
        sl_http_close_connection(c);
        return SL_ERROR;
    }
    sl_http_finalize(r);
    return SL_OK;
}

static void
sl_http_write_handler(struct sl_event *wev)
{
    struct sl_conn *c = wev->data;
    struct sl_http_conn *hc = c->data;
    struct sl_http_request *r = hc->r;

    if (wev->timedout) {
        sl_log_error(SL_LOG_INFO, 0, "client timed out while sending the "
                     "response to %s", r->upstream_addr.len ? "-" : "client");
        r->keepalive = 0;
        sl_http_log_once(r);
        sl_http_close_connection(c);
        return;
    }
    if (!wev->ready)
        return;
    (void) sl_http_output(r);
}

/* ---- the end of a request ----------------------------------------------- */

static void
sl_http_lingering_close(struct sl_conn *c)
{
    struct sl_http_conn *hc = c->data;

    if (sl_conn_shutdown_wr(c) == -1) {
        sl_http_close_connection(c);
        return;
    }
    if (hc->r != NULL) {
        sl_pool_destroy(hc->r->pool);
        hc->r = NULL;
    }
    hc->lingering = 1;
    hc->linger_end = sl_current_msec + SL_HTTP_LINGER_TOTAL;
    c->read.handler = sl_http_lingering_handler;
    c->write.handler = sl_http_empty_handler;
    sl_event_add_timer(&c->read, SL_HTTP_LINGER_READ);
    sl_event_post(&c->read);
}

static void
sl_http_lingering_handler(struct sl_event *rev)
{
    struct sl_conn *c = rev->data;
    struct sl_http_conn *hc = c->data;
    ssize_t n;

    if (rev->timedout || c->close || sl_current_msec >= hc->linger_end) {
        sl_http_close_connection(c);
        return;
    }
    for (;;) {
        n = sl_conn_recv(c, sl_http_scratch, sizeof(sl_http_scratch));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rev->ready = 0;
            sl_event_add_timer(rev, SL_HTTP_LINGER_READ);
            return;
        }
        if (n <= 0) {
            sl_http_close_connection(c);
            return;
        }
    }
}

static void
sl_http_set_keepalive(struct sl_http_request *r)
{
    struct sl_conn *c = r->c;
    struct sl_http_conn *hc = r->hc;
    sl_msec_t timeout = r->loc->keepalive_timeout;
    size_t have;

    /* Bytes of the next request: after the body, or after this head. */
    if (r->leftover.len > 0) {
        memcpy(hc->buf, r->leftover.data, r->leftover.len);
        hc->buf_pos = 0;
        hc->buf_len = r->leftover.len;
    } else if (hc->buf_pos < hc->buf_len) {
        have = hc->buf_len - hc->buf_pos;
        memmove(hc->buf, hc->buf + hc->buf_pos, have);
        hc->buf_pos = 0;
        hc->buf_len = have;
    } else {
        hc->buf_pos = hc->buf_len = 0;
    }
    hc->scan = 0;
    hc->head_start = 0;
    sl_pool_destroy(r->pool);
    hc->r = NULL;
    c->read.handler = sl_http_wait_request;
    c->write.handler = sl_http_empty_handler;

    if (hc->buf_len > 0) {
        /* Pipelined: the next head is (partly) here already. */
        hc->pending = 1;
        hc->head_start = sl_current_msec;
        sl_event_add_timer(&c->read, hc->addr->default_server
                                         ->client_header_timeout);
        sl_event_post(&c->read);
        return;
    }
    sl_http_conn_release(c);
    c->idle = 1;
    sl_conn_reusable(c, 1);
    sl_event_add_timer(&c->read, timeout);
    if (c->read.ready || c->read.eof)
        sl_event_post(&c->read);
}

void
sl_http_finalize(struct sl_http_request *r)
{
    struct sl_conn *c = r->c;

    r->response_done = 1;
    sl_http_log_once(r);
    if (r->keepalive && r->body_done) {
        sl_http_set_keepalive(r);
        return;
    }
    /*
     * The client may still be sending (a body we did not read, pipelined
     * requests): close our side first and read a little, or its next
     * bytes would make the kernel reset the connection and lose the reply.
     */
    if (r->status >= 400 || !r->body_done
        || r->hc->buf_len > r->hc->buf_pos)
    {
        sl_http_lingering_close(c);
        return;
    }
    sl_http_close_connection(c);
}

/*
 * Decides whether this response keeps the connection: the client asked
 * for it, the request body is in step, the location allows it and this
 * worker is not on its way out.
 */
int
sl_http_keepalive_ok(struct sl_http_request *r)
{
    struct sl_conn *c = r->c;

    if (!r->keepalive || !r->body_done)
        return 0;
    if (r->loc->keepalive_timeout <= 0)
        return 0;
    if (c->requests >= (unsigned) r->loc->keepalive_requests)
        return 0;
    if (c->shutdown || sl_quit || sl_terminate)
        return 0;
    return 1;
}

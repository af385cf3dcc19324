/*
 * sl_http_proxy_relay.c: the reverse proxy, from the response on.
 *
 * Picks up where sl_http_proxy.c leaves a request, once it has been sent:
 *   read and strictly parse the response head (interim answers are
 *   dropped; a status listed in proxy_next_upstream goes to another
 *   server while nothing has reached the client; the cache may answer
 *   instead) -> build the client's head -> relay the body with one
 *   bounded buffer (backpressure: nothing more is read from the upstream
 *   until the client took what was read), re-framed as the client needs
 *   -> give the upstream connection back to the pool and finish.
 * A 101 answer to an Upgrade request turns both connections into a
 * two-way tunnel.  A client that goes away while the cache stores the
 * response is let go, and the relay goes on into the store alone
 * (sl_proxy_detach).
 */
#include "sl_core.h"
#include "sl_http_proxy_int.h"
#include "sl_cache.h"

#include <fcntl.h>

/* ---- the response head ----------------------------------------------------- */

static int
sl_proxy_hide_response_header(struct sl_proxy_ctx *ctx,
    const struct sl_http_header *h)
{
    struct sl_http_head *rh = ctx->rh;
    struct sl_str *hide;
    unsigned i;

    if (sl_http_cache_hide_header(ctx->r, &h->name))    /* cache hook */
        return 1;
    if (sl_proxy_hop_by_hop(&h->name) || sl_str_caseeq(&h->name, "server")
        || sl_str_caseeq(&h->name, "date"))
    {
        /* A 101 passes its Upgrade on to the client. */
        if (rh->status == 101 && sl_str_caseeq(&h->name, "upgrade"))
            return 0;
        return 1;
    }
    if (sl_proxy_connection_lists(rh, &h->name))
        return 1;
    if (ctx->pcf->hide_headers != NULL) {
        hide = ctx->pcf->hide_headers->elts;
        for (i = 0; i < ctx->pcf->hide_headers->nelts; i++) {
            if (sl_str_caseeqstr(&hide[i], &h->name))
                return 1;
        }
    }
    return 0;
}

static int
sl_proxy_status_ft(int status)
{
    switch (status) {
    case 500: return SL_PROXY_FT_HTTP_500;
    case 502: return SL_PROXY_FT_HTTP_502;
    case 503: return SL_PROXY_FT_HTTP_503;
    case 504: return SL_PROXY_FT_HTTP_504;
    case 403: return SL_PROXY_FT_HTTP_403;
    case 404: return SL_PROXY_FT_HTTP_404;
    case 429: return SL_PROXY_FT_HTTP_429;
    default: return 0;
    }
}

static void sl_proxy_start_relay(struct sl_proxy_ctx *ctx, size_t head_len);
static void sl_proxy_start_tunnel(struct sl_proxy_ctx *ctx, size_t head_len);

/*
 * The cache answers instead of the origin's response (a 304 that
 * freshened the stored object, or a stale object for an error): the
 * upstream connection goes back to the pool when nothing follows the
 * head, else it is closed.
 */
static void
sl_proxy_cache_answer(struct sl_proxy_ctx *ctx, size_t head_len)
{
    struct sl_http_head *rh = ctx->rh;
    struct sl_conn *uc = ctx->uc;
    int clean;

    clean = (rh->status == 304 || rh->status == 204) && ctx->rlen == head_len
            && rh->http_minor == 1 && !rh->conn_close && !uc->read.eof;
    ctx->head_status = rh->status;
    if (ctx->server_active) {
        sl_proxy_record_try(ctx, rh->status);
        ctx->server_active = 0;
        /* an answer, even a 5xx, is no failure (as when relayed) */
        ctx->u->balancer->done(ctx->u, ctx->server, 0);
    }
    ctx->uc = NULL;
    if (clean)
        sl_upstream_keepalive_put(ctx->u, ctx->server, uc);
    else
        sl_conn_close(uc);
    ctx->state = SL_PROXY_DONE;
    sl_http_cache_answer(ctx->r);
}

void
sl_proxy_read_head(struct sl_proxy_ctx *ctx)
{
    struct sl_http_head *rh = ctx->rh;
    struct sl_conn *uc = ctx->uc;
    size_t len;
    ssize_t n;
    int ft;

    for (;;) {
        if (ctx->rlen == ctx->rbuf_size) {
            sl_proxy_fail(ctx, SL_PROXY_FT_INVALID_HEADER, 0,
                          "upstream sent too big header while reading "
                          "response header from upstream");
            return;
        }
        n = sl_conn_recv(uc, ctx->rbuf + ctx->rlen,
                         ctx->rbuf_size - ctx->rlen);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                uc->read.ready = 0;
                return;
            }
            if (errno == EINTR)
                continue;
            if (sl_proxy_stale_retry_ok(ctx)) {
                sl_proxy_retry_fresh(ctx);
                return;
            }
            sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, errno, "recv() failed "
                          "while reading response header from upstream");
            return;
        }
        if (n == 0) {
            if (sl_proxy_stale_retry_ok(ctx)) {
                sl_proxy_retry_fresh(ctx);
                return;
            }
            sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, 0, "upstream prematurely "
                          "closed connection while reading response header "
                          "from upstream");
            return;
        }
        if ((size_t) n < ctx->rbuf_size - ctx->rlen)
            uc->read.ready = 0;     /* drained: the next edge will tell */
        ctx->rlen += (size_t) n;

    parse:
        len = sl_http_find_head_end(ctx->rbuf, ctx->rlen, &ctx->scan);
        if (len == 0)
            continue;
        if (sl_http_parse_response(ctx->rbuf, len, rh) != 0) {
            sl_proxy_fail(ctx, SL_PROXY_FT_INVALID_HEADER, 0,
                          "upstream sent invalid header while reading "
                          "response header from upstream");
            return;
        }
        if (rh->status == 101) {
            if (ctx->upgrade) {
                sl_proxy_start_tunnel(ctx, len);
                return;
            }
            sl_proxy_fail(ctx, SL_PROXY_FT_INVALID_HEADER, 0,
                          "upstream sent 101 to a request without Upgrade "
                          "while reading response header from upstream");
            return;
        }
        if (rh->status < 200) {
            /* 100 Continue and other interim answers are not relayed. */
            memmove(ctx->rbuf, ctx->rbuf + len, ctx->rlen - len);
            ctx->rlen -= len;
            ctx->scan = 0;
            if (ctx->rlen > 0)
                goto parse;
            continue;
        }
        ft = sl_proxy_status_ft(rh->status);
        if (ft != 0 && (ctx->pcf->next_upstream & ft)
            && ctx->tried.count < ctx->u->servers.nelts
            && sl_proxy_can_retry(ctx, ft))
        {
            sl_proxy_record_try(ctx, rh->status);
            sl_proxy_release_upstream(ctx, rh->status >= 500);
            ctx->last_fail = ft;
            sl_proxy_connect(ctx);
            return;
        }
        sl_event_del_timer(&uc->read);
        /* cache hook: freshen on 304, stale for an error, or store */
        if (sl_http_cache_response(ctx->r, rh) == SL_DONE) {
            sl_proxy_cache_answer(ctx, len);
            return;
        }
        sl_proxy_start_relay(ctx, len);
        return;
    }
}

/* Builds and queues the client's response head from the upstream's. */
static int
sl_proxy_client_head(struct sl_proxy_ctx *ctx, int64_t body_len)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_head *rh = ctx->rh;
    struct sl_buf *hb;
    unsigned i;

    r->status = rh->status;
    for (i = 0; i < rh->nheaders; i++) {
        if (sl_proxy_hide_response_header(ctx, &rh->headers[i]))
            continue;
        /* Strings point into rbuf, which lives as long as the request. */
        if (sl_http_add_header(r, rh->headers[i].name.data,
                               rh->headers[i].name.len,
                               rh->headers[i].value.data,
                               rh->headers[i].value.len) != SL_OK)
        {
            return SL_ERROR;
        }
    }
    hb = sl_http_build_head(r, body_len);
    if (hb == NULL)
        return SL_ERROR;
    r->out = NULL;
    if (sl_chain_append(r->pool, &r->out, hb) == NULL)
        return SL_ERROR;
    r->header_sent = 1;
    return SL_OK;
}

static void
sl_proxy_start_relay(struct sl_proxy_ctx *ctx, size_t head_len)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_head *rh = ctx->rh;
    int64_t announce = -1;

    /*
     * The server stays counted (max_conns, least_conn) until its body has
     * been relayed; the try is recorded when the connection is released.
     */
    ctx->head_status = rh->status;
    if ((r->head_method && !sl_http_cache_convert_head(r))
        || rh->status == 204 || rh->status == 304)
    {
        ctx->mode = SL_PROXY_BODY_NONE;
        /* HEAD keeps the length the body would have. */
        if (r->head_method && rh->content_length >= 0)
            announce = rh->content_length;
    } else if (rh->chunked) {
        ctx->mode = SL_PROXY_BODY_CHUNKED;
    } else if (rh->content_length >= 0) {
        ctx->mode = SL_PROXY_BODY_LENGTH;
        ctx->rest = rh->content_length;
        announce = rh->content_length;
    } else {
        ctx->mode = SL_PROXY_BODY_CLOSE;
    }
    ctx->upstream_keepalive = rh->http_minor == 1 && !rh->conn_close
                              && ctx->mode != SL_PROXY_BODY_CLOSE;

    r->keepalive = sl_http_keepalive_ok(r);
    if (ctx->mode == SL_PROXY_BODY_CHUNKED
        || ctx->mode == SL_PROXY_BODY_CLOSE)
    {
        /* Re-framed as one chunk per read for 1.1 clients. */
        if (r->http10) {
            ctx->client_close = 1;
            r->keepalive = 0;
        } else {
            r->chunked_out = 1;
        }
    }
    sl_http_cache_relay_head(r, rh, &announce);     /* cache hook: Range */
    if (sl_proxy_client_head(ctx, announce) != SL_OK) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(r);
        return;
    }
    ctx->relay = sl_iobuf_get(SL_PROXY_RELAY_SIZE);
    if (ctx->relay == NULL) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(r);
        return;
    }
    /* Body bytes that came with the head are relayed first. */
    ctx->relay_len = ctx->rlen - head_len;
    memcpy(ctx->relay, ctx->rbuf + head_len, ctx->relay_len);
    ctx->state = SL_PROXY_RELAYING;
    r->c->write.handler = sl_proxy_client_handler;
    r->c->read.handler = sl_http_empty_handler;
    if (ctx->mode == SL_PROXY_BODY_NONE
        || (ctx->mode == SL_PROXY_BODY_LENGTH && ctx->rest == 0))
    {
        ctx->upstream_done = 1;
        if (ctx->relay_len > 0)
            ctx->extra_bytes = 1;
        ctx->relay_len = 0;
    }
    sl_proxy_relay(ctx);
}

/* ---- relaying the body ------------------------------------------------------ */

/*
 * Takes the bytes just read (relay[0..n)) through the framing: counts
 * them down, or decodes chunks in place.  Returns the payload length now
 * at the start of relay, or -1 on malformed framing.
 */
static ssize_t
sl_proxy_frame_in(struct sl_proxy_ctx *ctx, size_t n)
{
    const char *p = ctx->relay, *end = ctx->relay + n, *data;
    size_t dlen, out = 0;
    int rc;

    switch (ctx->mode) {
    case SL_PROXY_BODY_LENGTH:
        if ((int64_t) n > ctx->rest) {
            ctx->extra_bytes = 1;
            n = (size_t) ctx->rest;
        }
        ctx->rest -= (int64_t) n;
        if (ctx->rest == 0)
            ctx->upstream_done = 1;
        return (ssize_t) n;
    case SL_PROXY_BODY_CHUNKED:
        while (p < end) {
            rc = sl_http_chunked_parse(&ctx->chunked, &p, end, &data, &dlen);
            if (rc == SL_ERROR)
                return -1;
            if (rc == SL_OK) {
                memmove(ctx->relay + out, data, dlen);
                out += dlen;
                continue;
            }
            if (rc == SL_DONE) {
                ctx->upstream_done = 1;
                if (p < end)
                    ctx->extra_bytes = 1;
            }
            break;
        }
        return (ssize_t) out;
    default:
        return (ssize_t) n;
    }
}

/* Queues relay[0..len) for the client, framed as the client needs. */
static void
sl_proxy_queue_out(struct sl_proxy_ctx *ctx, const char *data, size_t len)
{
    struct sl_http_request *r = ctx->r;
    struct sl_chain **ll = &r->out;
    unsigned i, k = 0;

    if (len == 0 || r->head_method)
        return;
    while (*ll != NULL)
        ll = &(*ll)->next;
    if (r->chunked_out) {
        ctx->out_bufs[k].pos = ctx->chunk_line;
        ctx->out_bufs[k].last = sl_append_lit(
            sl_append_uint(ctx->chunk_line,
                           ctx->chunk_line + sizeof(ctx->chunk_line), len, 16),
            ctx->chunk_line + sizeof(ctx->chunk_line), "\r\n");
        k++;
    }
    ctx->out_bufs[k].pos = (char *) data;
    ctx->out_bufs[k].last = (char *) data + len;
    k++;
    if (r->chunked_out) {
        ctx->out_bufs[k].pos = (char *) "\r\n";
        ctx->out_bufs[k].last = ctx->out_bufs[k].pos + 2;
        k++;
    }
    for (i = 0; i < k; i++) {
        ctx->out_links[i].buf = &ctx->out_bufs[i];
        ctx->out_links[i].next = NULL;
        *ll = &ctx->out_links[i];
        ll = &ctx->out_links[i].next;
    }
}

int
sl_proxy_detach(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_conn *c = r->c;
    int fd;

    if (ctx->detached)
        return 1;
    if (ctx->state != SL_PROXY_RELAYING || !r->body_done
        || !sl_http_cache_storing(r))
    {
        return 0;
    }
    /*
     * The request lives on, on its connection slot, until the fill ends
     * (the pool, the contexts and their cleanups stay as they are), but
     * the client's socket is closed now: the slot's descriptor becomes
     * /dev/null, as a background refresh's is.  dup2() drops the socket,
     * and with it its epoll registration, atomically; the number stays
     * ours until the slot's usual close.  Nothing is sent to it again.
     */
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd == -1)
        return 0;
    r->keepalive = 0;
    sl_http_log_once(r);        /* the client's line, as for any abort */
    sl_event_del_timer(&c->read);
    sl_event_del_timer(&c->write);
    sl_event_unpost(&c->read);
    sl_event_unpost(&c->write);
    if (dup2(fd, c->fd) == -1) {
        close(fd);
        return 0;
    }
    close(fd);
    if (c->ssl != NULL)
        sl_conn_tls_free(c);    /* any alert it writes goes nowhere */
    c->read.handler = sl_http_empty_handler;
    c->write.handler = sl_http_empty_handler;
    r->out = NULL;
    ctx->detached = 1;
    return 1;
}

static void
sl_proxy_finish(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_conn *uc = ctx->uc;

    ctx->state = SL_PROXY_DONE;
    if (ctx->server_active) {
        sl_proxy_record_try(ctx, ctx->head_status);
        ctx->server_active = 0;
        ctx->u->balancer->done(ctx->u, ctx->server, 0);
    }
    if (uc != NULL) {
        ctx->uc = NULL;
        if (ctx->upstream_keepalive && !ctx->extra_bytes && !uc->read.eof)
            sl_upstream_keepalive_put(ctx->u, ctx->server, uc);
        else
            sl_conn_close(uc);
    }
    r->c->write.handler = sl_http_empty_handler;
    if (ctx->client_close)
        r->keepalive = 0;
    sl_http_cache_body_end(r);      /* cache hook: the body is complete */
    if (ctx->detached) {
        sl_http_terminate(r);       /* logged already; frees the slot */
        return;
    }
    sl_http_finalize(r);
}

void
sl_proxy_relay(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_conn *c = r->c, *uc = ctx->uc;
    ssize_t n, payload;
    const char *data;
    size_t dlen;
    int rc;

    for (;;) {
        /* What was read goes to the client before anything more is read. */
        if (r->out != NULL || ctx->relay_len > 0) {
            if (ctx->relay_len > 0) {
                size_t len = ctx->relay_len;
                ctx->relay_len = 0;
                payload = sl_proxy_frame_in(ctx, len);
                if (payload < 0) {
                    sl_proxy_log(ctx, SL_LOG_ERR, 0, "upstream sent invalid "
                                 "chunked response");
                    sl_proxy_release_upstream(ctx, 1);
                    sl_http_terminate(r);
                    return;
                }
                /* cache hook: stored; narrowed to a client's range */
                data = ctx->relay;
                dlen = (size_t) payload;
                sl_http_cache_body(r, &data, &dlen);
                if (ctx->detached) {
                    /* Filling the cache alone: only while it stores. */
                    if (!sl_http_cache_storing(r)) {
                        sl_proxy_release_upstream(ctx, 0);
                        sl_http_terminate(r);
                        return;
                    }
                    continue;
                }
                sl_proxy_queue_out(ctx, data, dlen);
            }
            rc = sl_http_send_chain(r);
            if (rc == SL_AGAIN) {
                sl_event_add_timer(&c->write, r->loc->send_timeout);
                if (uc != NULL && uc->read.timer_set)
                    sl_event_del_timer(&uc->read);
                return;
            }
            sl_event_del_timer(&c->write);
            if (rc == SL_ERROR && !sl_proxy_detach(ctx)) {
                sl_proxy_release_upstream(ctx, 0);
                sl_http_terminate(r);
                return;
            }
            /* (detached: what was read is stored; the rest follows) */
            r->out = NULL;
        }
        if (ctx->upstream_done) {
            if (r->chunked_out && !r->head_method && !ctx->last_chunk
                && !ctx->detached)
            {
                /* The terminating chunk; no trailers are passed on. */
                ctx->last_chunk = 1;
                r->chunked_out = 0;
                sl_proxy_queue_out(ctx, "0\r\n\r\n", 5);
                r->chunked_out = 1;
                continue;
            }
            sl_proxy_finish(ctx);
            return;
        }
        n = sl_conn_recv(uc, ctx->relay, SL_PROXY_RELAY_SIZE);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                uc->read.ready = 0;
                sl_event_add_timer(&uc->read, ctx->pcf->read_timeout);
                return;
            }
            if (errno == EINTR)
                continue;
            sl_proxy_log(ctx, SL_LOG_ERR, errno, "recv() failed while reading "
                         "upstream");
            sl_proxy_release_upstream(ctx, 1);
            sl_http_terminate(r);
            return;
        }
        if (n == 0) {
            if (ctx->mode == SL_PROXY_BODY_CLOSE) {
                ctx->upstream_done = 1;
                ctx->upstream_keepalive = 0;
                continue;
            }
            sl_proxy_log(ctx, SL_LOG_ERR, 0, "upstream prematurely closed "
                         "connection while reading upstream");
            sl_proxy_release_upstream(ctx, 1);
            sl_http_terminate(r);
            return;
        }
        if ((size_t) n < SL_PROXY_RELAY_SIZE)
            uc->read.ready = 0;     /* drained: the next edge will tell */
        ctx->relay_len = (size_t) n;
    }
}

/* ---- Upgrade: a two-way tunnel ----------------------------------------------- */

static void
sl_proxy_start_tunnel(struct sl_proxy_ctx *ctx, size_t head_len)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_conn *hc = r->hc;

    ctx->head_status = 101;
    r->keepalive = 0;
    r->upgrade_out = 1;
    if (sl_proxy_client_head(ctx, -1) != SL_OK) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(r);
        return;
    }
    ctx->down.buf = sl_iobuf_get(SL_PROXY_RELAY_SIZE);
    ctx->up.buf = sl_iobuf_get(SL_PROXY_RELAY_SIZE);
    ctx->relay = ctx->down.buf;     /* freed by the cleanup */
    if (ctx->down.buf == NULL || ctx->up.buf == NULL) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(r);
        return;
    }
    /* Bytes each side sent after its head belong to the tunnel. */
    ctx->down.last = sl_min(ctx->rlen - head_len, (size_t) SL_PROXY_RELAY_SIZE);
    memcpy(ctx->down.buf, ctx->rbuf + head_len, ctx->down.last);
    if (hc->buf_len > hc->buf_pos) {
        ctx->up.last = sl_min(hc->buf_len - hc->buf_pos,
                              (size_t) SL_PROXY_RELAY_SIZE);
        memcpy(ctx->up.buf, hc->buf + hc->buf_pos, ctx->up.last);
        hc->buf_pos = hc->buf_len;
    }
    sl_event_del_timer(&ctx->uc->read);
    ctx->state = SL_PROXY_TUNNEL;
    r->c->read.handler = sl_proxy_client_handler;
    r->c->write.handler = sl_proxy_client_handler;
    sl_proxy_tunnel(ctx);
}

/*
 * Moves bytes one way: writes what the pipe holds to dst, then reads more
 * from src when the pipe is empty.  Returns 1 if anything moved, 0 if it
 * must wait, -1 on an error.
 */
static int
sl_proxy_pipe_step(struct sl_proxy_pipe *pp, struct sl_conn *src,
    struct sl_conn *dst)
{
    ssize_t n;
    int moved = 0;

    for (;;) {
        if (pp->pos < pp->last) {
            n = sl_conn_send(dst, pp->buf + pp->pos, pp->last - pp->pos);
            if (n == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    dst->write.ready = 0;
                    return moved;
                }
                if (errno == EINTR)
                    continue;
                return -1;
            }
            pp->pos += (size_t) n;
            moved = 1;
            continue;
        }
        pp->pos = pp->last = 0;
        if (pp->eof) {
            if (!pp->shut) {
                pp->shut = 1;
                (void) sl_conn_shutdown_wr(dst);
            }
            return moved;
        }
        n = sl_conn_recv(src, pp->buf, SL_PROXY_RELAY_SIZE);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                src->read.ready = 0;
                return moved;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            pp->eof = 1;
            continue;
        }
        pp->last = (size_t) n;
        moved = 1;
    }
}

void
sl_proxy_tunnel(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_conn *c = r->c, *uc = ctx->uc;
    int rc;

    /* The 101 head goes first. */
    if (r->out != NULL) {
        rc = sl_http_send_chain(r);
        if (rc == SL_AGAIN)
            return;
        if (rc == SL_ERROR)
            goto close;
        r->out = NULL;
    }
    if (sl_proxy_pipe_step(&ctx->up, c, uc) < 0
        || sl_proxy_pipe_step(&ctx->down, uc, c) < 0)
    {
        goto close;
    }
    if (ctx->up.shut && ctx->down.shut)
        goto close;
    /* An idle tunnel ends after proxy_read_timeout. */
    sl_event_add_timer(&uc->read, ctx->pcf->read_timeout);
    return;

close:
    sl_proxy_release_upstream(ctx, 0);
    ctx->state = SL_PROXY_DONE;
    sl_http_terminate(r);
}

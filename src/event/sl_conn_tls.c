/*
 * sl_conn_tls.c: connection I/O over a plain socket or over TLS.
 *
 * The HTTP code calls these instead of recv()/send()/writev() on client
 * connections, so that a TLS connection differs only here.  Sockets are
 * edge-triggered: a caller that gets EAGAIN waits for its own event.  TLS
 * may need the opposite direction (SSL_read sending a record, SSL_write
 * reading one); then the opposite event is marked post_other, and the
 * loop re-runs the waiting handler when that readiness arrives.
 */
#include "sl_core.h"
#include "sl_conn.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* One TLS record's worth: writev coalesces into this before SSL_write. */
#define SL_CONN_TLS_WBUF     16384

static unsigned char sl_conn_tls_wbuf[SL_CONN_TLS_WBUF];

/*
 * Maps an SSL_get_error() result to the errno convention of the callers.
 * A fatal error makes the final close quiet: no close_notify may follow.
 */
static ssize_t
sl_conn_tls_error(struct sl_conn *c, int n, int reading)
{
    int err = SSL_get_error(c->ssl, n);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        if (!reading)
            c->read.post_other = 1;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            c->write.post_other = 1;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        SSL_set_quiet_shutdown(c->ssl, 1);
        if (errno == 0 || errno == EAGAIN || errno == EINTR)
            errno = ECONNRESET;
        ERR_clear_error();
        return -1;
    default:
        SSL_set_quiet_shutdown(c->ssl, 1);
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/*
 * Over TLS, SSL_read returns one record at a time, so it is called until
 * the buffer is full or the socket is drained: a short read then means
 * EAGAIN was seen, which is what the edge-triggered callers assume.
 * Bytes read before an error or the end are returned first; the next call
 * reports the condition again.
 */
ssize_t
sl_conn_recv(struct sl_conn *c, void *buf, size_t len)
{
    size_t got = 0;
    ssize_t rc;
    int n;

    if (c->ssl == NULL)
        return recv(c->fd, buf, len, 0);
    while (got < len) {
        ERR_clear_error();
        errno = 0;
        n = SSL_read(c->ssl, (char *) buf + got,
                     (int) sl_min(len - got, (size_t) INT_MAX));
        if (n > 0) {
            got += (size_t) n;
            continue;
        }
        rc = sl_conn_tls_error(c, n, 1);
        if (got > 0)
            return (ssize_t) got;
        return rc;
    }
    return (ssize_t) got;
}

/*
 * SSL_write runs with partial writes and a movable buffer, so a retry
 * after EAGAIN may pass the same bytes from a new address, and each
 * return counts bytes really taken.
 */
ssize_t
sl_conn_send(struct sl_conn *c, const void *buf, size_t len)
{
    size_t sent = 0;
    ssize_t rc;
    int n;

    if (c->ssl == NULL)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    while (sent < len) {
        ERR_clear_error();
        errno = 0;
        n = SSL_write(c->ssl, (const char *) buf + sent,
                      (int) sl_min(len - sent, (size_t) INT_MAX));
        if (n > 0) {
            sent += (size_t) n;
            continue;
        }
        rc = sl_conn_tls_error(c, n, 0);
        if (sent > 0 && rc == -1 && errno == EAGAIN)
            return (ssize_t) sent;
        return rc == 0 ? -1 : rc;
    }
    return (ssize_t) sent;
}

/*
 * Over TLS the iovecs are copied into one record-sized buffer per
 * SSL_write.  A retry after EAGAIN rebuilds the buffer from the same
 * (unconsumed) iovecs, so OpenSSL sees the same leading bytes again.
 */
ssize_t
sl_conn_writev(struct sl_conn *c, const struct iovec *iov, int niov)
{
    size_t total = 0, fill, off, take;
    ssize_t rc;
    int i, n;

    if (c->ssl == NULL)
        return writev(c->fd, iov, niov);
    i = 0;
    off = 0;    /* bytes of iov[i] already taken */
    for (;;) {
        fill = 0;
        while (i < niov && fill < SL_CONN_TLS_WBUF) {
            take = sl_min(iov[i].iov_len - off, SL_CONN_TLS_WBUF - fill);
            memcpy(sl_conn_tls_wbuf + fill, (char *) iov[i].iov_base + off,
                   take);
            fill += take;
            off += take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (fill == 0)
            return (ssize_t) total;
        ERR_clear_error();
        errno = 0;
        n = SSL_write(c->ssl, sl_conn_tls_wbuf, (int) fill);
        if (n <= 0) {
            rc = sl_conn_tls_error(c, n, 0);
            if (total > 0 && rc == -1 && errno == EAGAIN)
                return (ssize_t) total;
            return rc == 0 ? -1 : rc;
        }
        total += (size_t) n;
        if ((size_t) n < fill)
            return (ssize_t) total;     /* partial: the caller loops */
    }
}

int
sl_conn_shutdown_wr(struct sl_conn *c)
{
    if (c->ssl != NULL && SSL_is_init_finished(c->ssl)
        && !SSL_get_quiet_shutdown(c->ssl))
    {
        ERR_clear_error();
        (void) SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    return shutdown(c->fd, SHUT_WR);
}

int
sl_conn_tls_handshake(struct sl_conn *c)
{
    char addr[SL_SOCKADDR_STRLEN], reason[160];
    int n, err;

    ERR_clear_error();
    errno = 0;
    n = SSL_do_handshake(c->ssl);
    if (n == 1)
        return SL_OK;
    err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
        c->read.ready = 0;
        return SL_AGAIN;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->write.ready = 0;
        return SL_AGAIN;
    }
    /* A client that gives up or speaks plain HTTP is no server error. */
    sl_sockaddr_ntop(&c->peer.sa, addr, sizeof(addr), 0);
    if (err == SSL_ERROR_SSL) {
        ERR_error_string_n(ERR_peek_error(), reason, sizeof(reason));
        sl_log_error(SL_LOG_INFO, 0, "SSL_do_handshake() failed (%s) while "
                     "accepting a TLS connection from %s", reason, addr);
    } else {
        sl_log_error(SL_LOG_INFO, errno, "SSL_do_handshake() failed while "
                     "accepting a TLS connection from %s", addr);
    }
    SSL_set_quiet_shutdown(c->ssl, 1);
    ERR_clear_error();
    return SL_ERROR;
}

void
sl_conn_tls_free(struct sl_conn *c)
{
    /* close_notify only after a finished handshake; never blocks. */
    if (SSL_is_init_finished(c->ssl) && !SSL_get_quiet_shutdown(c->ssl)) {
        ERR_clear_error();
        (void) SSL_shutdown(c->ssl);
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
}

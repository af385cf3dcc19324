/*
 * sl_conn.h: listening sockets and connections.
 *
 * A worker preallocates worker_connections connection structures and
 * hands them out from a free list; an idle keepalive connection owns only
 * its struct sl_conn (no pool, no buffer), which is what keeps the memory
 * per idle connection small.
 */
#ifndef SL_CONN_H
#define SL_CONN_H

#include <netinet/in.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "sl_event.h"

union sl_sockaddr {
    struct sockaddr          sa;
    struct sockaddr_in       sin;
    struct sockaddr_in6      sin6;
};

#define SL_SOCKADDR_STRLEN   (INET6_ADDRSTRLEN + sizeof("[]:65535"))

/* A listen address; the master owns one socket per worker slot. */
struct sl_listening {
    unsigned                 magic;
#define SL_LISTENING_MAGIC   0x4c53544eU
    union sl_sockaddr        sa;
    socklen_t                socklen;
    char                     addr_text[SL_SOCKADDR_STRLEN];
    int                      backlog;
    int                     *fds;       /* [nfds], one per worker slot */
    unsigned                 nfds;
    void                    *servers;   /* protocol data: http addr conf */
    const char              *file;      /* first listen directive */
    unsigned                 line;
    /* worker side */
    struct sl_event          accept_ev;
    int                      fd;        /* this worker's socket */
};

struct ssl_st;

struct sl_conn {
    int                      fd;
    struct ssl_st           *ssl;       /* TLS (either side) or NULL */
    struct sl_event          read;
    struct sl_event          write;
    void                    *data;      /* protocol state */
    struct sl_pool          *pool;      /* NULL while idle */
    struct sl_listening     *listening;
    union sl_sockaddr        peer;
    socklen_t                peer_len;
    uint64_t                 number;    /* $connection */
    unsigned                 requests;  /* $connection_requests */
    sl_msec_t                since;     /* entered current queue state */
    struct sl_conn          *q_prev;    /* reusable queue links */
    struct sl_conn          *q_next;
    struct sl_conn          *free_next;
    unsigned                 reusable:1; /* may be closed to free a slot */
    unsigned                 idle:1;     /* between keepalive requests */
    unsigned                 close:1;    /* closed for reuse; finish now */
    unsigned                 shutdown:1; /* worker is exiting */
    unsigned                 limit_counted:1; /* limit_conn_accept */
};

/* Prepares n connection slots; SL_ERROR on allocation failure. */
int sl_conn_init(unsigned n);
/* Takes a free slot for fd; NULL when none (the caller closes fd). */
struct sl_conn *sl_conn_get(int fd);
/* Removes from epoll and timers, closes fd, frees pool, returns the slot. */
void sl_conn_close(struct sl_conn *c);

/*
 * Connection I/O (sl_conn_tls.c): plain syscalls, or SSL_read/SSL_write
 * when c->ssl is set.  They return what recv()/send()/writev() return:
 * -1 with errno EAGAIN when the caller must wait for its own event (the
 * functions arrange for the other direction's readiness to re-run it when
 * TLS needs that), 0 from sl_conn_recv at the end of the stream.  Over TLS
 * a short read means the socket was drained, as for plain sockets.
 */
ssize_t sl_conn_recv(struct sl_conn *c, void *buf, size_t len);
ssize_t sl_conn_send(struct sl_conn *c, const void *buf, size_t len);
ssize_t sl_conn_writev(struct sl_conn *c, const struct iovec *iov, int n);
/* Sends close_notify (TLS, best effort) and shuts the socket's write side. */
int sl_conn_shutdown_wr(struct sl_conn *c);
/* Runs the server-side handshake: SL_OK, SL_AGAIN or SL_ERROR. */
int sl_conn_tls_handshake(struct sl_conn *c);
/* Best-effort close_notify and SSL_free; sl_conn_close calls it. */
void sl_conn_tls_free(struct sl_conn *c);
unsigned sl_conn_free_count(void);
unsigned sl_conn_active_count(void);

/*
 * Reusable connections: idle keepalive connections and ones still sending
 * their request head.  When the worker runs out of slots it closes the
 * oldest of them (sets c->close and runs its read handler).
 */
void sl_conn_reusable(struct sl_conn *c, int reusable);
void sl_conn_drain(unsigned n);
/* Calls fn on every active connection (graceful shutdown). */
void sl_conn_foreach(void (*fn)(struct sl_conn *c));

/* "1.2.3.4" or "::1" into buf; returns length. */
size_t sl_sockaddr_ntop(const struct sockaddr *sa, char *buf, size_t len,
    int with_port);
unsigned sl_sockaddr_port(const struct sockaddr *sa);
/*
 * Parses "[ADDR:]PORT", "*:PORT" or "[IPV6]:PORT" into sa; a missing
 * address means 0.0.0.0.  Returns SL_OK or SL_ERROR.
 */
int sl_sockaddr_parse(const struct sl_str *s, union sl_sockaddr *sa,
    socklen_t *len);

/*
 * Worker side: registers the listening sockets of this worker's slot and
 * accepts connections, calling handler(c) for each new one.
 */
int sl_conn_listen_start(struct sl_cycle *cycle, int slot,
    void (*handler)(struct sl_conn *c));
/* Stops accepting: deregisters and closes this worker's listen copies. */
void sl_conn_listen_stop(struct sl_cycle *cycle);

#endif /* SL_CONN_H */

/*
 * sl_tls.h: TLS termination for client connections: the ssl_* directives
 * (one SSL_CTX per server block), the accept-side setup, the client
 * certificate check and the shared session ticket keys.
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include "sl_http.h"

extern struct sl_module sl_http_ssl_module;

/*
 * Gives connection c (accepted on a "listen ... ssl" address) an SSL
 * object using the default server's context; SNI may switch it later.
 * Returns SL_OK or SL_ERROR (logged; the caller closes c).
 */
int sl_tls_accept(struct sl_conn *c);

/*
 * ssl_verify_client on: answers r with 400 (and closes after it) when
 * its connection came without a valid client certificate.  Call once the
 * server block is known.  SL_OK: go on; SL_DONE: answered.
 */
int sl_tls_verify_request(struct sl_http_request *r);

/* ---- sl_tls_ticket.c: session ticket keys in shared memory ---- */

struct sl_tls_tickets;
struct ssl_ctx_st;

/*
 * Declares the ticket key zone of the configuration being read (one for
 * all servers) and widens its rotation period to period (a server's
 * ssl_session_timeout).  NULL on failure (cf's error is set if it was a
 * zone conflict).
 */
struct sl_tls_tickets *sl_tls_tickets_conf(struct sl_conf_ctx *cf,
    sl_msec_t period);
/* Makes ctx seal and open its tickets with the shared keys of tk. */
int sl_tls_tickets_enable(struct ssl_ctx_st *ctx, struct sl_tls_tickets *tk);

#endif /* SL_TLS_H */

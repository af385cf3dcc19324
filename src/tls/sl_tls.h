/*
 * sl_tls.h: TLS termination for client connections: the ssl_* directives
 * (one SSL_CTX per server block) and the accept-side setup.
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

#endif /* SL_TLS_H */

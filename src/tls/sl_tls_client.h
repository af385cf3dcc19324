/*
 * sl_tls_client.h: TLS towards upstream servers (proxy_pass https://,
 * proxy_ssl_*) and for the checker's HTTP checks.
 * (being written)
 */
#ifndef SL_TLS_CLIENT_H
#define SL_TLS_CLIENT_H

#endif /* SL_TLS_CLIENT_H */

/*
 * sl_tls_conf.h: what both sides of TLS share -- the server side
 * (sl_tls.c, ssl_*) and the upstream side (sl_tls_client.c,
 * proxy_ssl_*): the parsing of the file, protocol and cipher directives,
 * the text of OpenSSL errors, and the SSL_CTX settings both contexts
 * take.  Only configuration time: nothing here runs per connection.
 */
#ifndef SL_TLS_CONF_H
#define SL_TLS_CONF_H

#include "sl_conf.h"

struct ssl_ctx_st;

/* ssl_protocols, proxy_ssl_protocols */
#define SL_TLS_PROTO_12      0x01
#define SL_TLS_PROTO_13      0x02

/* A file named by a directive, with where it was named. */
struct sl_tls_file {
    char                    *path;      /* resolved, NUL-terminated */
    const char              *file;
    unsigned                 line;
};

/*
 * Fills f from the directive being read: value resolved against the
 * directory of the file that names it (an absolute value is kept), and
 * that file's name and line.  The caller has checked value (not empty).
 * SL_OK, or SL_ERROR on allocation failure.
 */
int sl_tls_conf_file(struct sl_conf_ctx *cf, const struct sl_str *value,
    struct sl_tls_file *f);
/*
 * Setter for "TLSv1.2 | TLSv1.3 ...": SL_TLS_PROTO_* bits in the int at
 * cmd->offset.  The protocols before TLS 1.2 are refused by name.
 */
int sl_tls_conf_set_protocols(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf);
/*
 * Copies the directive's one argument into s (from cf->pool) and records
 * where it was set in *file and *line, for errors found when the context
 * is built.  SL_OK or SL_ERROR.
 */
int sl_tls_conf_str(struct sl_conf_ctx *cf, struct sl_str *s,
    const char **file, unsigned *line);

/*
 * The first queued OpenSSL error as text (the most specific one), into
 * buf; clears the queue.  Returns buf.
 */
const char *sl_tls_error(char *buf, size_t len);

/*
 * What every context of ours takes: the protocol range (SL_TLS_PROTO_*),
 * no compression or renegotiation, an EOF without close_notify as an
 * ordinary end, and partial, moving and released write buffers.
 */
void sl_tls_ctx_common(struct ssl_ctx_st *ctx, int protocols);
/*
 * Sets the cipher list; an error names directive and the file:line where
 * the list was set.  SL_OK or SL_ERROR (on cf).
 */
int sl_tls_ctx_ciphers(struct sl_conf_ctx *cf, struct ssl_ctx_st *ctx,
    const char *directive, const char *ciphers, const char *file,
    unsigned line);
/*
 * Loads a certificate chain and its key into ctx and checks that they
 * match; errors name the file:line of the directive concerned.  SL_OK or
 * SL_ERROR (on cf).
 */
int sl_tls_ctx_keypair(struct sl_conf_ctx *cf, struct ssl_ctx_st *ctx,
    const struct sl_tls_file *cert, const struct sl_tls_file *key);

#endif /* SL_TLS_CONF_H */

/*
 * sl_tls_conf.c: configuration code both sides of TLS share
 * (sl_tls_conf.h): the server side (sl_tls.c) and the upstream side
 * (sl_tls_client.c) read the same kinds of directives -- files relative
 * to the including file, a protocol list, a cipher list -- and build
 * their SSL_CTX with the same base settings and the same error texts.
 */
#include "sl_core.h"
#include "sl_tls_conf.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

/* ---- directives ---------------------------------------------------------- */

int
sl_tls_conf_file(struct sl_conf_ctx *cf, const struct sl_str *value,
    struct sl_tls_file *f)
{
    const char *slash;
    size_t dlen;

    /* A relative FILE is relative to the directory of the file naming it. */
    slash = strrchr(cf->node->file, '/');
    dlen = value->data[0] != '/' && slash != NULL
           ? (size_t) (slash - cf->node->file) + 1 : 0;
    f->path = sl_pnalloc(cf->pool, dlen + value->len + 1);
    if (f->path == NULL)
        return SL_ERROR;
    memcpy(f->path, cf->node->file, dlen);
    memcpy(f->path + dlen, value->data, value->len);
    f->path[dlen + value->len] = '\0';
    f->file = cf->node->file;
    f->line = cf->node->line;
    return SL_OK;
}

int
sl_tls_conf_set_protocols(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf)
{
    int *protocols = (int *) ((char *) conf + cmd->offset);
    struct sl_str *a;
    unsigned i;

    *protocols = 0;
    for (i = 0; i < cf->node->nargs; i++) {
        a = &cf->node->args[i];
        if (sl_str_eq(a, "TLSv1.2")) {
            *protocols |= SL_TLS_PROTO_12;
        } else if (sl_str_eq(a, "TLSv1.3")) {
            *protocols |= SL_TLS_PROTO_13;
        } else if (sl_str_eq(a, "TLSv1") || sl_str_eq(a, "TLSv1.1")
                   || sl_str_eq(a, "SSLv3") || sl_str_eq(a, "SSLv2"))
        {
            sl_conf_error(cf, "protocol \"%.*s\" is insecure and not "
                          "supported", (int) a->len, a->data);
            return SL_ERROR;
        } else {
            sl_conf_error(cf, "invalid protocol \"%.*s\"", (int) a->len,
                          a->data);
            return SL_ERROR;
        }
    }
    return SL_OK;
}

int
sl_tls_conf_str(struct sl_conf_ctx *cf, struct sl_str *s, const char **file,
    unsigned *line)
{
    s->len = cf->node->args[0].len;
    s->data = sl_pstrdup(cf->pool, &cf->node->args[0]);
    if (s->data == NULL)
        return SL_ERROR;
    *file = cf->node->file;
    *line = cf->node->line;
    return SL_OK;
}

/* ---- contexts ------------------------------------------------------------ */

const char *
sl_tls_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

void
sl_tls_ctx_common(SSL_CTX *ctx, int protocols)
{
    SSL_CTX_set_min_proto_version(ctx, (protocols & SL_TLS_PROTO_12)
                                       ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, (protocols & SL_TLS_PROTO_13)
                                       ? TLS1_3_VERSION : TLS1_2_VERSION);
    /*
     * A peer that closes without close_notify ends the stream as over
     * plain TCP; the HTTP framing checks catch a truncation.
     */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
}

int
sl_tls_ctx_ciphers(struct sl_conf_ctx *cf, SSL_CTX *ctx,
    const char *directive, const char *ciphers, const char *file,
    unsigned line)
{
    char ebuf[256];

    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: invalid \"%s\" \"%s\": %s",
                           file, line, directive, ciphers,
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_tls_ctx_keypair(struct sl_conf_ctx *cf, SSL_CTX *ctx,
    const struct sl_tls_file *cert, const struct sl_tls_file *key)
{
    char ebuf[256];

    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert->path) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: cannot load certificate "
                           "\"%s\": %s", cert->file, cert->line, cert->path,
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key->path, SSL_FILETYPE_PEM) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: cannot load certificate key "
                           "\"%s\": %s", key->file, key->line, key->path,
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    /* A key of another type lands in another slot: check the pair. */
    if (SSL_CTX_check_private_key(ctx) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: certificate key \"%s\" does "
                           "not match certificate \"%s\": %s", key->file,
                           key->line, key->path, cert->path,
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    return SL_OK;
}

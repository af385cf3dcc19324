/*
 * sl_http_proxy.h: the reverse proxy (proxy_pass and friends).
 */
#ifndef SL_HTTP_PROXY_H
#define SL_HTTP_PROXY_H

#include "sl_http.h"
#include "sl_http_variables.h"
#include "sl_upstream.h"
#include "sl_tls_client.h"

/* proxy_next_upstream conditions */
#define SL_PROXY_FT_ERROR           0x0001
#define SL_PROXY_FT_TIMEOUT         0x0002
#define SL_PROXY_FT_INVALID_HEADER  0x0004
#define SL_PROXY_FT_HTTP_500        0x0008
#define SL_PROXY_FT_HTTP_502        0x0010
#define SL_PROXY_FT_HTTP_503        0x0020
#define SL_PROXY_FT_HTTP_504        0x0040
#define SL_PROXY_FT_HTTP_403        0x0080
#define SL_PROXY_FT_HTTP_404        0x0100
#define SL_PROXY_FT_HTTP_429        0x0200
#define SL_PROXY_FT_NON_IDEMPOTENT  0x0400
#define SL_PROXY_FT_OFF             0x8000

struct sl_http_proxy_header {
    struct sl_str                   name;
    struct sl_http_complex_value   *value;     /* empty result: drop */
};

struct sl_http_proxy_conf {
    struct sl_upstream     *upstream;      /* NULL: no proxy_pass */
    struct sl_str           uri;           /* URI part of proxy_pass */
    struct sl_str           location;      /* the location's prefix */
    unsigned                has_uri:1;
    unsigned                https:1;
    struct sl_tls_client_conf *ssl;        /* https: the location's TLS */
    struct sl_array        *set_headers;   /* sl_http_proxy_header */
    struct sl_array        *hide_headers;  /* struct sl_str */
    int                     request_buffering;
    off_t                   body_buffer_size;  /* client_body_buffer_size */
    off_t                   buffer_size;       /* proxy_buffer_size */
    sl_msec_t               connect_timeout;
    sl_msec_t               read_timeout;
    sl_msec_t               send_timeout;
    int                     next_upstream;     /* SL_PROXY_FT_* */
    int64_t                 next_upstream_tries;
    char                   *temp_path;         /* client_body_temp_path */
    int                     http_version;      /* minor: 1 (default) or 0 */
};

extern struct sl_module sl_http_proxy_module;

/*
 * Runs the proxy for r as its content handler does, minus the cache
 * lookup: the cache calls it when a request that waited for another
 * fetch of its key goes to the origin after all.
 */
void sl_http_proxy_forward(struct sl_http_request *r);

#endif /* SL_HTTP_PROXY_H */

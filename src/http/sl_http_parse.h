/*
 * sl_http_parse.h: strict HTTP/1.1 message parsing (RFC 9112).
 *
 * The parsers are pure functions over memory: they never allocate, never
 * read past the bounds they are given and keep no global state, so they
 * are unit-tested and fuzzed on their own.  Anything ambiguous in framing
 * is rejected, never guessed (RFC 9112 section 6.3): Transfer-Encoding
 * together with Content-Length, duplicate differing Content-Length, a
 * transfer coding other than chunked last, obs-fold, bare CR, bare LF,
 * NUL, whitespace before the colon, oversized chunk sizes.
 */
#ifndef SL_HTTP_PARSE_H
#define SL_HTTP_PARSE_H

#define SL_HTTP_MAX_HEADERS       100

enum sl_http_method {
    SL_HTTP_UNKNOWN = 0,    /* a syntactically valid token we do not know */
    SL_HTTP_GET,
    SL_HTTP_HEAD,
    SL_HTTP_POST,
    SL_HTTP_PUT,
    SL_HTTP_DELETE,
    SL_HTTP_OPTIONS,
    SL_HTTP_PATCH,
    SL_HTTP_TRACE,
    SL_HTTP_CONNECT,
    SL_HTTP_PURGE
};

struct sl_http_header {
    struct sl_str           name;      /* as received */
    struct sl_str           value;     /* OWS trimmed both sides */
    uint32_t                hash;      /* of the lowercased name */
};

/* What the parser found; pointers point into the caller's buffer. */
struct sl_http_head {
    /* request line (requests) */
    enum sl_http_method     method;
    struct sl_str           method_name;
    struct sl_str           request_target;   /* raw, as sent */
    struct sl_str           path;             /* target before '?' */
    struct sl_str           args;             /* after '?', no '?' */
    /*
     * host[:port] taken from an absolute-form or authority-form target,
     * empty otherwise.  RFC 9112 3.2.2: a proxy that receives absolute-form
     * must use this instead of the Host field.
     */
    struct sl_str           authority;
    /* status line (responses) */
    int                     status;
    struct sl_str           reason;

    int                     http_major;
    int                     http_minor;

    struct sl_http_header   headers[SL_HTTP_MAX_HEADERS];
    unsigned                nheaders;

    /* well-known headers, -1 when absent: index into headers[] */
    int                     h_host;
    int                     h_content_length;
    int                     h_transfer_encoding;
    int                     h_connection;
    int                     h_upgrade;
    int                     h_expect;

    int64_t                 content_length;   /* -1 when absent */
    unsigned                chunked:1;        /* Transfer-Encoding: chunked */
    unsigned                conn_close:1;     /* Connection: close */
    unsigned                conn_keepalive:1; /* Connection: keep-alive */
    unsigned                conn_upgrade:1;   /* Connection lists upgrade */
    unsigned                expect_continue:1;/* Expect: 100-continue */
};

/*
 * Finds the end of a header block (the empty line) in buf[0..len), starting
 * the scan at *scan (so that repeated calls on a growing buffer cost O(n)
 * in total; *scan is updated; start it at 0 and reset it when the buffer
 * contents move).  Returns the length of the block including the final
 * CRLF CRLF, 0 when it is not complete yet.  Empty lines before the start
 * line are skipped, as the parsers do.  It also returns early, with the
 * length up to the offending byte, on a byte no valid head can contain
 * (NUL, bare CR, bare LF), so that the parser answers 400 at once instead
 * of the client waiting for a timeout; the parsers reject such a block.
 */
size_t sl_http_find_head_end(const char *buf, size_t len, size_t *scan);

/*
 * Length of the request line (without CRLF) if buf holds a whole line,
 * else 0.  Used to tell 414 from 431 when a limit is hit.
 */
size_t sl_http_line_len(const char *buf, size_t len);

/*
 * Parses a complete request head buf[0..len) (as delimited by
 * sl_http_find_head_end) into h.  Returns 0 on success, or the HTTP status
 * to answer: 400 (malformed, ambiguous framing), 414 (request-target longer
 * than max_uri), 417 (an Expect other than 100-continue), 431 (more than
 * SL_HTTP_MAX_HEADERS fields or a field line longer than max_field), 501 (a
 * transfer coding we do not implement), 505 (HTTP version other than 1.0
 * or 1.1).  HTTP/1.0 is accepted.
 */
int sl_http_parse_request(const char *buf, size_t len, struct sl_http_head *h,
    size_t max_uri, size_t max_field);

/*
 * Parses a complete response head (status line and fields) the same way.
 * Returns 0 or -1 (the caller answers 502).
 */
int sl_http_parse_response(const char *buf, size_t len,
    struct sl_http_head *h);

/* Case-insensitive hash of a header name, as stored in sl_http_header. */
uint32_t sl_http_hash_name(const char *name, size_t len);
/* Index of the first header named name (case-insensitive), -1 if none. */
int sl_http_find_header(const struct sl_http_head *h, const char *name);

/*
 * Incremental chunked-body decoder (RFC 9112 section 7.1).  Feed it bytes;
 * it reports the spans of payload data inside them.
 */
struct sl_http_chunked {
    int                     state;      /* zero-initialise to start */
    int64_t                 size;       /* bytes left in current chunk */
    int64_t                 total;      /* payload bytes so far */
    unsigned                ext_len;    /* bytes of extension/trailer line */
    unsigned                trailer_len; /* trailer field lines so far */
};

#define SL_HTTP_CHUNK_MAX_SIZE_DIGITS   16    /* hex digits in a size */
#define SL_HTTP_CHUNK_MAX_LINE          4096  /* extension, trailer line */

/*
 * Consumes input from *pos up to end.  When payload bytes are available it
 * sets *data and *data_len to them (pointing into the input), advances
 * *pos past them and returns SL_OK; call again for more.  Returns SL_AGAIN
 * when all input is consumed and more is needed, SL_DONE when the last
 * chunk and trailer section are complete (*pos is after them), SL_ERROR on
 * malformed input (the caller answers 400 or 502).
 */
int sl_http_chunked_parse(struct sl_http_chunked *ctx, const char **pos,
    const char *end, const char **data, size_t *data_len);

#endif /* SL_HTTP_PARSE_H */

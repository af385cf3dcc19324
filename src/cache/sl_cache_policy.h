/*
 * sl_cache_policy.h: RFC 9111 rules for a shared cache, as pure functions.
 *
 * Nothing here touches the store, the network or the clock: every
 * function takes parsed heads (sl_http_parse.h) and times in seconds, so
 * the unit tests can walk the RFC's rules one by one.  The proxy
 * (src/cache/sl_cache.c) calls these to decide what to store, whether a
 * stored response may be used, and how to answer conditional and range
 * requests from it.
 *
 * Specs: RFC 9111 (caching), RFC 9110 (dates, conditionals, ranges,
 * status codes), RFC 5861 (stale-while-revalidate, stale-if-error),
 * RFC 9213 (CDN-Cache-Control), RFC 9211 (Cache-Status).
 */
#ifndef SL_CACHE_POLICY_H
#define SL_CACHE_POLICY_H

#include <stdint.h>
#include <stddef.h>

struct sl_http_head;

#define SL_CACHE_UNSET      (-1)        /* directive absent */
#define SL_CACHE_INFINITE   INT64_MAX   /* max-stale without a value */

/* ---- HTTP-date (RFC 9110 5.6.7) ------------------------------------------ */

/*
 * Parses IMF-fixdate, RFC 850 and asctime dates; returns seconds since
 * the epoch or -1 if the value is not a valid date.
 */
int64_t sl_cache_parse_date(const char *p, size_t len);
/* Writes an IMF-fixdate (29 bytes, no NUL) for t into buf. */
size_t sl_cache_format_date(int64_t t, char *buf);

/* ---- Cache-Control (RFC 9111 5.2) ---------------------------------------- */

struct sl_cache_cc {
    int64_t                 max_age;            /* SL_CACHE_UNSET or s */
    int64_t                 s_maxage;
    int64_t                 max_stale;          /* SL_CACHE_INFINITE: any */
    int64_t                 min_fresh;
    int64_t                 stale_while_revalidate;
    int64_t                 stale_if_error;
    unsigned                no_store:1;
    unsigned                no_cache:1;         /* qualified or not */
    unsigned                private_:1;         /* qualified or not */
    unsigned                public_:1;
    unsigned                must_revalidate:1;
    unsigned                proxy_revalidate:1;
    unsigned                must_understand:1;
    unsigned                only_if_cached:1;
    unsigned                no_transform:1;
    unsigned                immutable:1;
    unsigned                invalid:1;  /* a freshness directive was
                                           malformed or repeated with
                                           another value: treat as stale */
    unsigned                present:1;  /* the field was there at all */
};

/*
 * Parses every field line named name ("Cache-Control",
 * "CDN-Cache-Control") of h into cc, as RFC 9111 5.2 says, including the
 * malformed forms: quoted values, repeated directives (the first wins
 * unless values conflict, which makes the response stale), non-numeric or
 * negative delta-seconds (invalid), delta-seconds too large (saturated at
 * 2^31), unknown directives (ignored).
 */
void sl_cache_cc_parse(const struct sl_http_head *h, const char *name,
    struct sl_cache_cc *cc);

/* ---- what a stored response carries ------------------------------------- */

#define SL_CACHE_F_NO_CACHE         0x0001  /* revalidate before each use */
#define SL_CACHE_F_MUST_REVALIDATE  0x0002  /* must/proxy-revalidate, or
                                               s-maxage: no stale use */
#define SL_CACHE_F_HEURISTIC        0x0004  /* lifetime is heuristic */
#define SL_CACHE_F_ETAG             0x0008  /* has a validator: ETag */
#define SL_CACHE_F_LAST_MODIFIED    0x0010  /* ... Last-Modified */
#define SL_CACHE_F_AUTH             0x0020  /* stored for a request with
                                               Authorization */
#define SL_CACHE_F_VARY             0x0040  /* vary blob matters */
#define SL_CACHE_F_IMMUTABLE        0x0080

/* The metadata area of a stored object (fits SL_CACHE_META_SIZE). */
struct sl_cache_meta {
    unsigned                magic;
#define SL_CACHE_META_MAGIC 0x434d4554U
    uint16_t                status;
    uint16_t                flags;          /* SL_CACHE_F_* */
    int64_t                 request_time;   /* s: request sent upstream */
    int64_t                 response_time;  /* s: response head received */
    int64_t                 date;           /* Date field, or response_time */
    int64_t                 age;            /* Age field (0 if absent) */
    int64_t                 lifetime;       /* freshness lifetime, s */
    int64_t                 swr;            /* stale-while-revalidate, s */
    int64_t                 sie;            /* stale-if-error, s */
    int64_t                 last_modified;  /* -1 if absent or invalid */
    int64_t                 body_len;       /* bytes of the full body */
};

/* proxy_cache_valid: status 0 means any status ("any"). */
struct sl_cache_valid {
    int                     status;
    int64_t                 seconds;
};

/* ---- storing (RFC 9111 3, 4.2.1, 4.2.2) ---------------------------------- */

enum sl_cache_store_rc {
    SL_CACHE_STORE_OK = 0,
    SL_CACHE_STORE_NO,          /* not storable: see *why */
};

/*
 * Decides whether a shared cache may store resp (the answer to req) and
 * fills m.  Applies CDN-Cache-Control over Cache-Control (RFC 9213) when
 * present; the request method (GET or HEAD only here), no-store, private,
 * Authorization (stored only with public, s-maxage or must-revalidate),
 * status codes (cacheable by default per RFC 9110 15.1 for heuristics;
 * others need explicit freshness), Vary: * (not stored), and computes the
 * freshness lifetime: s-maxage, max-age, Expires - Date (an invalid
 * Expires means already stale), then valid[] (proxy_cache_valid, used
 * only when the response gives no explicit freshness), then the
 * heuristic (10% of Date - Last-Modified, at most a day, for
 * heuristically cacheable codes).  A response with no freshness and no
 * validator is not stored.  *why (may be NULL) gets a short reason.
 */
int sl_cache_storable(const struct sl_http_head *req,
    const struct sl_http_head *resp, const struct sl_cache_valid *valid,
    size_t nvalid, int64_t request_time, int64_t response_time,
    struct sl_cache_meta *m, const char **why);

/* Current age of a stored response at now, RFC 9111 4.2.3. */
int64_t sl_cache_age(const struct sl_cache_meta *m, int64_t now);

/* ---- using a stored response (RFC 9111 4, 4.2.4; RFC 5861) -------------- */

enum sl_cache_use {
    SL_CACHE_USE_FRESH = 0,     /* serve it */
    SL_CACHE_USE_STALE_OK,      /* stale, but the request allows it
                                   (max-stale): serve it */
    SL_CACHE_USE_SWR,           /* stale within stale-while-revalidate:
                                   serve it, refresh in background */
    SL_CACHE_USE_REVALIDATE,    /* must ask the origin (conditionally) */
};

/*
 * Whether the stored response m may answer a request with directives rcc
 * at now.  Honours request no-cache (and Pragma: no-cache when the
 * request has no Cache-Control: the caller folds it into rcc->no_cache),
 * max-age, min-fresh, max-stale, and the stored no-cache and
 * must-revalidate flags.
 */
enum sl_cache_use sl_cache_usable(const struct sl_cache_meta *m,
    const struct sl_cache_cc *rcc, int64_t now);
/*
 * Whether m may be served stale because the origin failed (RFC 5861
 * stale-if-error from the response or the request); use_stale_cfg says
 * proxy_cache_use_stale allows it regardless of the response's
 * directives (still never past must-revalidate).
 */
int sl_cache_stale_if_error_ok(const struct sl_cache_meta *m,
    const struct sl_cache_cc *rcc, int64_t now, int use_stale_cfg);

/* ---- Vary (RFC 9111 4.1) ------------------------------------------------- */

/*
 * Builds the vary blob for storing resp: for each field name listed in
 * resp's Vary fields (lowercased, in order, duplicates dropped), the
 * request's field values combined and normalised (runs of whitespace
 * folded, leading and trailing removed; absent distinct from empty).
 * Returns the blob length, 0 when resp has no Vary, -1 for Vary: * or a
 * blob over size (do not store).
 */
int sl_cache_vary_build(const struct sl_http_head *req,
    const struct sl_http_head *resp, char *buf, size_t size);
/* Whether req selects the variant whose vary blob is given. */
int sl_cache_vary_match(const char *blob, size_t len,
    const struct sl_http_head *req);
/* Whether two vary blobs list the same field names (same Vary). */
int sl_cache_vary_same_names(const char *a, size_t alen, const char *b,
    size_t blen);

/* ---- the stored head ----------------------------------------------------- */

/*
 * Finds field name in a stored head (lines "Name: value\r\n"); returns
 * 1 and the value, or 0.
 */
int sl_cache_head_field(const char *head, size_t hlen, const char *name,
    const char **value, size_t *vlen);
/*
 * Whether a response field is kept in the stored head: not hop-by-hop or
 * listed in Connection, not Age, Content-Length, Transfer-Encoding,
 * Keep-Alive, Proxy-Connection, Set-Cookie is kept (as nginx; private
 * data must be marked private by the origin), CDN-Cache-Control is not
 * (RFC 9213: not forwarded downstream).
 */
int sl_cache_head_keep(const char *name, size_t nlen,
    const struct sl_http_head *resp);
/*
 * Freshening with a 304 (RFC 9111 4.3.4): writes into out the stored head
 * with every field present in the 304 replaced by the 304's lines (except
 * Content-Length and the fields head_keep() drops).  Returns the new
 * length or -1 if out is too small.
 */
int sl_cache_head_merge(const char *head, size_t hlen,
    const struct sl_http_head *resp304, char *out, size_t size);

/* ---- conditional and range requests (RFC 9110 13, 14) -------------------- */

/*
 * Evaluates If-None-Match (weak comparison), If-Modified-Since (only
 * without If-None-Match, GET/HEAD), If-Match and If-Unmodified-Since
 * against the stored head.  Returns 304, 412 or 0 (send the response).
 */
int sl_cache_conditional(const struct sl_http_head *req, const char *head,
    size_t hlen, const struct sl_cache_meta *m);

/*
 * Evaluates Range (one range of bytes; several, or other units: ignored
 * and the full body sent) and If-Range against a stored body of size
 * bytes.  Returns 206 with [*start, *end] (inclusive), 416, or 0 (send
 * the full body).
 */
int sl_cache_range(const struct sl_http_head *req, const char *head,
    size_t hlen, int64_t size, int64_t *start, int64_t *end);

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------- */

/* Whether a response with status to an unsafe method invalidates. */
int sl_cache_invalidates(int method, int status);

#endif /* SL_CACHE_POLICY_H */

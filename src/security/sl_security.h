/*
 * sl_security.h: access control -- address rules (allow, deny), regex
 * filters (deny_match), rate and concurrency limits (limit_req,
 * limit_conn) and HTTP Basic authentication (auth_basic).
 *
 * The modules register access-phase handlers (sl_http.h) which run, in
 * this order, after the location is chosen:
 *
 *   limit_req -> limit_conn -> deny_match -> allow/deny -> auth_basic
 *
 * Limits come first so that a flood is turned away before any regex or
 * password hash is computed (nginx runs them in its preaccess phase, before
 * access).  deny_match is a filter, not an access grant: it runs before the
 * pair that `satisfy` combines (allow/deny and auth_basic), so that
 * `satisfy any` never lets a request through that a filter refused.
 *
 * limit_conn_accept is no access handler: it runs at accept, before the
 * TLS handshake and before any byte is read (sl_limit_conn_accept).
 *
 * The pure parts (CIDR parsing and matching, the leaky bucket, password
 * hash checks) are exported for the unit tests.
 */
#ifndef SL_SECURITY_H
#define SL_SECURITY_H

#include "sl_http.h"

/* ---- addresses (sl_access.c) ------------------------------------------- */

/*
 * An address rule's network.  An IPv4 rule is kept as AF_INET (also when
 * written as ::ffff:a.b.c.d/n with n >= 96); `all` matches everything.
 */
struct sl_cidr {
    int                 family;     /* AF_INET, AF_INET6, or 0 for all */
    unsigned char       addr[16];   /* network order, host bits cleared */
    unsigned char       mask[16];
    unsigned            prefix;
};

/*
 * Parses "all", "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6).  Host bits set
 * beyond the prefix are cleared and reported through *host_bits (may be
 * NULL).  Returns SL_OK or SL_ERROR.
 */
int sl_cidr_parse(const struct sl_str *s, struct sl_cidr *c,
    int *host_bits);
/*
 * Whether the peer address sa matches c.  An IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d) matches IPv4 rules by its IPv4 address, and IPv6 rules
 * by its full address.
 */
int sl_cidr_match(const struct sl_cidr *c, const struct sockaddr *sa);

/* Whether `satisfy any` applies to r's location. */
int sl_access_satisfy_any(struct sl_http_request *r);

/* ---- the leaky bucket (sl_limit.c) ------------------------------------- */

/*
 * nginx's limit_req arithmetic, in milli-requests.  *excess and *last are
 * the key's state (*last in ms, any monotonic clock); rate is in
 * milli-requests per second (10r/s = 10000, 30r/m = 500); burst and delay
 * are in milli-requests (burst=5 -> 5000; nodelay is a delay of
 * SL_LIMIT_NODELAY).  Returns SL_BUSY when the request exceeds the burst
 * (the state is left alone), else SL_OK with *delay_ms set (0: go at once)
 * and, when account is set, the state updated.
 */
#define SL_LIMIT_NODELAY     ((int64_t) 1 << 52)
int sl_limit_req_leak(int64_t *excess, sl_msec_t *last, sl_msec_t now,
    int64_t rate, int64_t burst, int64_t delay, int account,
    sl_msec_t *delay_ms);

/* ---- connection caps at accept (sl_limit.c) ----------------------------- */

/*
 * limit_conn_accept: counts the new client connection c (peer address
 * set, nothing read yet) in every zone of the http block.  Returns SL_OK
 * when c may go on, SL_BUSY when a zone's cap is reached (counted as a
 * limit_conn rejection and logged; the caller closes c without a byte).
 * A connection given SL_OK carries c->limit_counted and must be closed
 * through sl_limit_conn_close(), which gives the count back.  Runs in a
 * worker, on its own cycle's configuration.
 */
int sl_limit_conn_accept(struct sl_conn *c);
/* Gives back what sl_limit_conn_accept counted for c (once; cheap if not). */
void sl_limit_conn_close(struct sl_conn *c);

/* ---- passwords (sl_auth_basic.c) --------------------------------------- */

/*
 * Checks password pw[0..pwlen) against one htpasswd hash (NUL-terminated):
 * bcrypt ($2y$, $2b$, $2a$), SHA-512 and SHA-256 crypt ($6$, $5$),
 * Apache MD5 ($apr1$) or {SHA}.  Comparison is constant-time.  Returns 1
 * on a match, 0 on a mismatch, SL_ERROR for an unsupported hash.
 */
int sl_auth_basic_check(const char *hash, const char *pw, size_t pwlen);
/*
 * Apache's MD5 crypt of pw with salt (up to 8 characters, without the
 * "$apr1$" prefix), written as "$apr1$salt$hash" into out (at least 40
 * bytes).  Returns SL_OK or SL_ERROR.
 */
int sl_auth_apr1(const char *pw, size_t pwlen, const char *salt,
    size_t saltlen, char *out, size_t outlen);

extern struct sl_module sl_access_module;
extern struct sl_module sl_limit_module;
extern struct sl_module sl_auth_basic_module;

#endif /* SL_SECURITY_H */

/*
 * sl_upstream_ip_hash.c: `ip_hash;`, nginx's client-address hash.
 *
 * The key is the client's address: the first three octets of an IPv4
 * address (a /24 goes to one server), the whole sixteen bytes of an IPv6
 * one.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d, a dual-stack
 * listener) counts as the IPv4 address it carries -- nginx hashes all
 * sixteen bytes there, which would send the same client elsewhere than
 * through an IPv4 listener.  Anything else hashes as three zero bytes.
 *
 * The hash starts at 89 and takes each byte in as
 * hash = (hash * 113 + byte) % 6271; hash % total weight, counted off
 * the servers' weights in order, names the server, so a server of weight
 * 2 owns twice the share of hash values.  When that server is tried,
 * `down`, failed or full the hash takes the bytes in again and names
 * another; after 20 such misses in one request (counted across its
 * retries) the pick falls back to round robin, as it does when the group
 * has fewer than two servers.  The same sequence is followed on a retry:
 * the request's state (struct sl_upstream_tried) keeps where it stands.
 *
 * `backup` servers cannot be used with ip_hash (nginx refuses them too:
 * a client must not move to a backup while its server is merely busy).
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_http.h"

#define SL_IP_HASH_MAX_TRIES  20

static const unsigned char sl_ip_hash_pseudo_addr[3];

static int
sl_ip_hash_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    if (sl_upstream_servers_init(cf, u) != SL_OK)
        return SL_ERROR;
    u->balancer_data = NULL;
    return SL_OK;
}

/* The bytes of r's client address that are hashed, and their number. */
static const unsigned char *
sl_ip_hash_addr(const struct sl_http_request *r, size_t *len)
{
    const union sl_sockaddr *sa;
    const unsigned char *b;

    *len = 3;
    if (r == NULL || r->c == NULL)
        return sl_ip_hash_pseudo_addr;
    sa = &r->c->peer;
    switch (sa->sa.sa_family) {
    case AF_INET:
        return (const unsigned char *) &sa->sin.sin_addr.s_addr;
    case AF_INET6:
        b = sa->sin6.sin6_addr.s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&sa->sin6.sin6_addr))
            return b + 12;
        *len = 16;
        return b;
    default:
        return sl_ip_hash_pseudo_addr;
    }
}

static struct sl_upstream_server *
sl_ip_hash_get(struct sl_upstream *u, struct sl_http_request *r,
    struct sl_upstream_tried *tried, int *all_full)
{
    struct sl_upstream_server *s = u->servers.elts;
    struct sl_upstream_tried scratch;
    const unsigned char *addr;
    size_t len, k;
    uint32_t hash;
    int64_t total = 0, w;
    unsigned i, p;
    int full;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (tried == NULL) {
        memset(&scratch, 0, sizeof(scratch));
        tried = &scratch;
    }
    for (i = 0; i < u->nprimary; i++)
        total += sl_upstream_server_weight(&s[i]);
    if (tried->tries > SL_IP_HASH_MAX_TRIES || u->nprimary < 2 || total <= 0)
        return sl_balancer_round_robin.get(u, r, tried, all_full);

    addr = sl_ip_hash_addr(r, &len);
    hash = tried->started ? tried->hash : 89;
    for (;;) {
        for (k = 0; k < len; k++)
            hash = (hash * 113 + addr[k]) % 6271;
        w = hash % total;
        for (p = 0; w >= sl_upstream_server_weight(&s[p]); p++)
            w -= sl_upstream_server_weight(&s[p]);
        if (!sl_upstream_tried_test(tried, p)
            && sl_upstream_server_usable(u, &s[p], &full))
        {
            break;
        }
        if (++tried->tries > SL_IP_HASH_MAX_TRIES)
            return sl_balancer_round_robin.get(u, r, tried, all_full);
    }
    tried->hash = hash;
    tried->started = 1;
    sl_upstream_tried_set(tried, p);
    sl_upstream_server_acquire(u, &s[p]);
    if (all_full != NULL)
        *all_full = 0;
    return &s[p];
}

const struct sl_balancer sl_balancer_ip_hash = {
    "ip_hash", sl_ip_hash_init, sl_ip_hash_get, sl_upstream_server_release,
    NULL, 0
};

/*
 * sl_upstream_random.c: `random [two [least_conn]];`, nginx's random
 * balancer.
 *
 * Plain `random` picks a server with probability weight / total weight;
 * a tried, `down`, failed or full pick is drawn again.  With `two` it
 * draws two distinct usable servers that way and sends the request to
 * the one with fewer active connections for its weight (the "power of two
 * choices": nearly the balance of least_conn, without every worker
 * herding onto the same least loaded server); on a tie the second draw
 * wins, as in nginx.  `least_conn` after `two` names that rule, the only
 * one there is, and is accepted for nginx's sake.  After 20 draws that
 * miss within one request (counted across its retries), and in a group
 * of fewer than two servers, the pick falls back to round robin.
 *
 * The generator is a per-process xorshift64* seeded from getrandom():
 * each worker reseeds after fork (sl_upstream_random_seed() from the
 * module's init_worker), and an unseeded process seeds itself on first
 * use.  It is for spreading load, not for anything secret.  `backup`
 * servers cannot be used with random (nginx refuses them too).
 */
#include "sl_core.h"
#include "sl_upstream.h"

#include <sys/random.h>

#define SL_RANDOM_MAX_TRIES   20

struct sl_random_conf {
    unsigned                 magic;
#define SL_RANDOM_CONF_MAGIC 0x5552414eU
    unsigned                 two:1;
};

static uint64_t sl_random_state;     /* 0: not seeded yet */

void
sl_upstream_random_seed(uint64_t seed)
{
    uint64_t z;

    if (seed == 0
        && getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
    {
        seed = ((uint64_t) getpid() << 32) ^ (uint64_t) time(NULL)
               ^ (uint64_t) sl_current_msec ^ (uint64_t) (uintptr_t) &z;
    }
    /* splitmix64 of the seed: no weak state even from a poor seed. */
    z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    sl_random_state = z != 0 ? z : 0x9e3779b97f4a7c15ULL;
}

static uint64_t
sl_random_next(void)
{
    uint64_t x = sl_random_state;

    if (sl_unlikely(x == 0)) {
        sl_upstream_random_seed(0);
        x = sl_random_state;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sl_random_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/*
 * Uniform in [0, n), 0 < n <= 2^32: the high half of 32 random bits
 * times n (Lemire's multiply-shift, no division; the bias is below
 * n / 2^32, nil for a total weight).
 */
static uint64_t
sl_random_below(uint64_t n)
{
    return ((sl_random_next() >> 32) * n) >> 32;
}

/* `random [two [least_conn]]` */
static int
sl_random_conf(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_conf_node *n = cf->node;
    struct sl_random_conf *rcf;
    unsigned i;

    rcf = sl_pcalloc(cf->pool, sizeof(*rcf));
    if (rcf == NULL)
        return SL_ERROR;
    rcf->magic = SL_RANDOM_CONF_MAGIC;
    for (i = 0; i < n->nargs; i++) {
        if (!sl_str_eq(&n->args[i], i == 0 ? "two" : "least_conn")) {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) n->args[i].len, n->args[i].data);
            return SL_ERROR;
        }
    }
    rcf->two = n->nargs > 0;
    u->balancer_data = rcf;
    return SL_OK;
}

static int
sl_random_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    SL_CHECK_OBJ_NOTNULL((struct sl_random_conf *) u->balancer_data,
                         SL_RANDOM_CONF_MAGIC);
    return sl_upstream_servers_init(cf, u);
}

/* Draws a primary with probability weight / total. */
static unsigned
sl_random_peek(struct sl_upstream *u, int64_t total)
{
    struct sl_upstream_server *s = u->servers.elts;
    int64_t x = (int64_t) sl_random_below((uint64_t) total);
    unsigned i;

    for (i = 0; x >= sl_upstream_server_weight(&s[i]); i++)
        x -= sl_upstream_server_weight(&s[i]);
    return i;
}

static struct sl_upstream_server *
sl_random_get(struct sl_upstream *u, struct sl_http_request *r,
    struct sl_upstream_tried *tried, int *all_full)
{
    struct sl_random_conf *rcf = u->balancer_data;
    struct sl_upstream_server *s = u->servers.elts, *prev = NULL;
    struct sl_upstream_tried scratch;
    int64_t total = 0;
    unsigned i, p = 0;
    int full;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    SL_CHECK_OBJ_NOTNULL(rcf, SL_RANDOM_CONF_MAGIC);
    if (tried == NULL) {
        memset(&scratch, 0, sizeof(scratch));
        tried = &scratch;
    }
    for (i = 0; i < u->nprimary; i++)
        total += sl_upstream_server_weight(&s[i]);
    if (tried->tries > SL_RANDOM_MAX_TRIES || u->nprimary < 2 || total <= 0
        || total > UINT32_MAX)
        return sl_balancer_round_robin.get(u, r, tried, all_full);

    for (;;) {
        i = sl_random_peek(u, total);
        if (&s[i] != prev && !sl_upstream_tried_test(tried, i)
            && sl_upstream_server_usable(u, &s[i], &full))
        {
            if (!rcf->two)
                break;
            if (prev != NULL) {
                if ((int64_t) sl_upstream_server_conns(&s[i])
                    * sl_upstream_server_weight(prev)
                    > (int64_t) sl_upstream_server_conns(prev)
                      * sl_upstream_server_weight(&s[i]))
                {
                    i = p;
                }
                break;
            }
            prev = &s[i];
            p = i;
        }
        if (++tried->tries > SL_RANDOM_MAX_TRIES)
            return sl_balancer_round_robin.get(u, r, tried, all_full);
    }
    sl_upstream_tried_set(tried, i);
    sl_upstream_server_acquire(u, &s[i]);
    if (all_full != NULL)
        *all_full = 0;
    return &s[i];
}

const struct sl_balancer sl_balancer_random = {
    "random", sl_random_init, sl_random_get, sl_upstream_server_release,
    sl_random_conf, 0
};

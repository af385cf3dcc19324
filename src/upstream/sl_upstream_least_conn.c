/*
 * sl_upstream_least_conn.c: `least_conn;`, nginx's weighted least
 * connections.
 *
 * The pick is the usable, untried server with the fewest active
 * connections for its weight (the least conns/weight, compared as
 * conns_a * weight_b < conns_b * weight_a so that no division rounds).
 * When several share that least load the smooth weighted round robin
 * chooses among them, so an idle group is served in weighted turns
 * rather than always by its first server.  Primaries first; the backups
 * only when no primary is usable, as for round robin.
 *
 * Connections are counted by sl_upstream_server_conns(): the requests
 * picked and not yet done, which the proxy keeps counted until the
 * response body has been relayed.  Once the counts live in the shared
 * health table the pick sees the load of every worker.
 */
#include "sl_core.h"
#include "sl_upstream.h"

static int
sl_lc_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    if (sl_upstream_servers_init(cf, u) != SL_OK)
        return SL_ERROR;
    u->balancer_data = NULL;
    return SL_OK;
}

/*
 * Picks among servers [from, to) and returns the pick or NULL; *nfull
 * counts candidates skipped only for max_conns.  *index is the pick's
 * index in u->servers.
 */
static struct sl_upstream_server *
sl_lc_pick(struct sl_upstream *u, unsigned from, unsigned to,
    const struct sl_upstream_tried *tried, unsigned *nfull, unsigned *index)
{
    struct sl_upstream_server *s = u->servers.elts, *best = NULL, *pick;
    int64_t bc = 0, bw = 1, c, w;
    unsigned i, first = 0;
    int many = 0, full, total;

    for (i = from; i < to; i++) {
        if (tried != NULL && sl_upstream_tried_test(tried, i))
            continue;
        if (!sl_upstream_server_usable(u, &s[i], &full)) {
            *nfull += (unsigned) full;
            continue;
        }
        c = sl_upstream_server_conns(&s[i]);
        w = sl_upstream_server_weight(&s[i]);
        if (best == NULL || c * bw < bc * w) {
            best = &s[i];
            first = i;
            bc = c;
            bw = w;
            many = 0;
        } else if (c * bw == bc * w) {
            many = 1;
        }
    }
    if (best == NULL)
        return NULL;
    *index = first;
    if (!many)
        return best;

    /* A tie: one smooth weighted round-robin step among the tied. */
    pick = best;
    total = 0;
    for (i = first; i < to; i++) {
        if ((tried != NULL && sl_upstream_tried_test(tried, i))
            || !sl_upstream_server_usable(u, &s[i], &full))
        {
            continue;
        }
        c = sl_upstream_server_conns(&s[i]);
        w = sl_upstream_server_weight(&s[i]);
        if (c * bw != bc * w)
            continue;
        s[i].current_weight += s[i].effective_weight;
        total += s[i].effective_weight;
        if (s[i].effective_weight > w)
            s[i].effective_weight = w;
        else if (s[i].effective_weight < w)
            s[i].effective_weight++;
        if (s[i].current_weight > pick->current_weight) {
            pick = &s[i];
            *index = i;
        }
    }
    pick->current_weight -= total;
    return pick;
}

static struct sl_upstream_server *
sl_lc_get(struct sl_upstream *u, struct sl_http_request *r,
    struct sl_upstream_tried *tried, int *all_full)
{
    struct sl_upstream_server *s;
    unsigned nfull = 0, i = 0;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (all_full != NULL)
        *all_full = 0;
    s = sl_lc_pick(u, 0, u->nprimary, tried, &nfull, &i);
    if (s == NULL && u->nprimary < u->servers.nelts)
        s = sl_lc_pick(u, u->nprimary, u->servers.nelts, tried, &nfull, &i);
    if (s == NULL) {
        if (all_full != NULL)
            *all_full = nfull > 0;
        return NULL;
    }
    sl_upstream_server_acquire(u, s);
    if (tried != NULL)
        sl_upstream_tried_set(tried, i);
    return s;
}

const struct sl_balancer sl_balancer_least_conn = {
    "least_conn", sl_lc_init, sl_lc_get, sl_upstream_server_release,
    NULL, SL_BALANCER_BACKUP
};

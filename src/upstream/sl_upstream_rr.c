/*
 * sl_upstream_rr.c: the default balancer, nginx's smooth weighted round
 * robin.
 *
 * Each pick adds every candidate's effective weight to its current weight,
 * takes the candidate with the largest current weight (the first one on a
 * tie) and takes the total of the effective weights off the winner.  Over
 * any run of total-weight picks each server is chosen exactly weight
 * times, and the picks are spread out: weights 5:1:1 give a a b a c a a.
 *
 * A candidate is a usable server (sl_upstream_server_usable(): not
 * `down`, not failed, not at max_conns) not yet tried by this request.
 * Primaries come first; the backups are candidates only when no primary
 * is.  A failure lowers the server's effective weight, which grows back
 * by one at each pass that sees it (sl_upstream_server.c has the failure
 * rules).  The other balancers fall back to this one, as nginx's do.
 */
#include "sl_core.h"
#include "sl_upstream.h"

static int
sl_rr_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    if (sl_upstream_servers_init(cf, u) != SL_OK)
        return SL_ERROR;
    u->balancer_data = NULL;
    return SL_OK;
}

/*
 * One smooth weighted round-robin pass over servers [from, to).  Returns
 * the pick or NULL; *nfull counts candidates skipped only for max_conns.
 */
static struct sl_upstream_server *
sl_rr_pick(struct sl_upstream *u, unsigned from, unsigned to,
    const struct sl_upstream_tried *tried, unsigned *nfull)
{
    struct sl_upstream_server *s = u->servers.elts, *best = NULL;
    int total = 0, full, w;
    unsigned i;

    for (i = from; i < to; i++) {
        if (tried != NULL && sl_upstream_tried_test(tried, i))
            continue;
        if (!sl_upstream_server_usable(u, &s[i], &full)) {
            *nfull += (unsigned) full;
            continue;
        }
        s[i].current_weight += s[i].effective_weight;
        total += s[i].effective_weight;
        w = sl_upstream_server_weight(&s[i]);
        /* A lowered runtime weight (sluicectl weight) applies at once. */
        if (s[i].effective_weight > w)
            s[i].effective_weight = w;
        else if (s[i].effective_weight < w)
            s[i].effective_weight++;
        if (best == NULL || s[i].current_weight > best->current_weight)
            best = &s[i];
    }
    if (best != NULL)
        best->current_weight -= total;
    return best;
}

static struct sl_upstream_server *
sl_rr_get(struct sl_upstream *u, struct sl_http_request *r,
    struct sl_upstream_tried *tried, int *all_full)
{
    struct sl_upstream_server *s;
    unsigned nfull = 0, i;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (all_full != NULL)
        *all_full = 0;
    s = sl_rr_pick(u, 0, u->nprimary, tried, &nfull);
    if (s == NULL && u->nprimary < u->servers.nelts)
        s = sl_rr_pick(u, u->nprimary, u->servers.nelts, tried, &nfull);
    if (s == NULL) {
        if (all_full != NULL)
            *all_full = nfull > 0;
        return NULL;
    }
    sl_upstream_server_acquire(u, s);
    if (tried != NULL) {
        i = (unsigned) (s - (struct sl_upstream_server *) u->servers.elts);
        sl_upstream_tried_set(tried, i);
    }
    return s;
}

const struct sl_balancer sl_balancer_round_robin = {
    "round_robin", sl_rr_init, sl_rr_get, sl_upstream_server_release,
    NULL, SL_BALANCER_BACKUP
};

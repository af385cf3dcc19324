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
 * A candidate is a server that is not `down`, not yet tried by this
 * request, not at max_conns and not failed.  Primaries come first; the
 * backups are candidates only when no primary is.
 *
 * Passive failures, as nginx counts them (run-time state is per worker):
 *
 *   - A failure (done(failed)) counts one more fail, stamps fail_start
 *     and fail_last with the time and lowers the effective weight by
 *     weight/max_fails; the weight grows back by one each time the
 *     server is a candidate.  When the count reaches max_fails the server
 *     is failed: it is skipped until fail_timeout has passed since the
 *     last failure, and a warning is logged.
 *   - Picking a server after fail_timeout has passed since fail_start
 *     moves fail_start to now.  For a failed server that pick is its
 *     probe: the other requests keep skipping it for another
 *     fail_timeout meanwhile.
 *   - fail_last < fail_start therefore means "picked again a full
 *     fail_timeout after its last failure".  A success then clears the
 *     count (nginx's accessed < checked); a failure then starts a new
 *     count at one, unless the server is failed already -- so max_fails
 *     failures make a server failed only when no gap between two of them
 *     reached fail_timeout.
 *   - max_fails=0 never makes a server failed.  Neither does anything
 *     when the group has a single server: as in nginx, it is always tried
 *     (nothing else could serve the request anyway).
 *
 * When every server is failed, nginx (since 1.1) returns "no live
 * upstreams" -- here get returns NULL and the proxy answers 502 -- until
 * a server's fail_timeout runs out and a request probes it.  It does not
 * clear the counts and pick one anyway; nginx 0.x and 1.0 did clear them,
 * after failing that request.  We follow current nginx.
 */
#include "sl_core.h"
#include "sl_upstream.h"

static int
sl_rr_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_upstream_server *s = u->servers.elts;
    unsigned i;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (u->servers.nelts == 0) {
        sl_conf_node_error(cf, NULL, "%s:%u: no servers in upstream "
                           "\"%.*s\"", u->file, u->line, (int) u->name.len,
                           u->name.data);
        return SL_ERROR;
    }
    for (i = 0; i < u->servers.nelts; i++) {
        SL_CHECK_OBJ(&s[i], SL_UPSTREAM_SERVER_MAGIC);
        s[i].current_weight = 0;
        s[i].effective_weight = s[i].weight;
        s[i].fails = 0;
        s[i].fail_start = 0;
        s[i].fail_last = 0;
        s[i].conns = 0;
        s[i].requests = 0;
    }
    u->balancer_data = NULL;
    return SL_OK;
}

/* Whether s sits out a fail_timeout after max_fails failures. */
static int
sl_rr_failed(const struct sl_upstream *u, const struct sl_upstream_server *s)
{
    return u->servers.nelts > 1
           && s->max_fails > 0 && s->fails >= s->max_fails
           && sl_current_msec - s->fail_start < s->fail_timeout;
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
    int total = 0;
    unsigned i;

    for (i = from; i < to; i++) {
        if (s[i].down || (tried != NULL && sl_upstream_tried_test(tried, i))
            || sl_rr_failed(u, &s[i]))
        {
            continue;
        }
        if (s[i].max_conns > 0 && s[i].conns >= s[i].max_conns) {
            (*nfull)++;
            continue;
        }
        s[i].current_weight += s[i].effective_weight;
        total += s[i].effective_weight;
        if (s[i].effective_weight < s[i].weight)
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
    if (sl_current_msec - s->fail_start >= s->fail_timeout)
        s->fail_start = sl_current_msec;
    s->conns++;
    s->requests++;
    if (tried != NULL) {
        i = (unsigned) (s - (struct sl_upstream_server *) u->servers.elts);
        sl_upstream_tried_set(tried, i);
    }
    return s;
}

static void
sl_rr_done(struct sl_upstream *u, struct sl_upstream_server *s, int failed)
{
    sl_msec_t now = sl_current_msec;
    int rechecked;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    SL_CHECK_OBJ_NOTNULL(s, SL_UPSTREAM_SERVER_MAGIC);
    if (s->conns > 0)
        s->conns--;
    if (u->servers.nelts == 1)
        return;

    rechecked = s->fail_last < s->fail_start;
    if (!failed) {
        if (rechecked)
            s->fails = 0;
        return;
    }
    if (rechecked && (s->max_fails == 0 || s->fails < s->max_fails))
        s->fails = 0;           /* the last window ran out: a new one */
    s->fails++;
    s->fail_start = now;
    s->fail_last = now;
    if (s->max_fails == 0)
        return;
    s->effective_weight -= s->weight / s->max_fails;
    if (s->effective_weight < 0)
        s->effective_weight = 0;
    if (s->fails == s->max_fails) {
        if (s->fail_timeout % 1000 == 0)
            sl_log_error(SL_LOG_WARN, 0, "upstream server %s in \"%.*s\" is "
                         "unavailable for %llds after %d failure%s",
                         s->addr_text, (int) u->name.len, u->name.data,
                         (long long) (s->fail_timeout / 1000), s->fails,
                         s->fails == 1 ? "" : "s");
        else
            sl_log_error(SL_LOG_WARN, 0, "upstream server %s in \"%.*s\" is "
                         "unavailable for %lldms after %d failure%s",
                         s->addr_text, (int) u->name.len, u->name.data,
                         (long long) s->fail_timeout, s->fails,
                         s->fails == 1 ? "" : "s");
    }
}

const struct sl_balancer sl_balancer_round_robin = {
    "round_robin", sl_rr_init, sl_rr_get, sl_rr_done
};

/*
 * sl_upstream_server.c: a server's run-time state, the rules every
 * balancer applies to it, and its accounting.
 *
 * This file is the only code that reads or writes a server's run-time
 * fields (conns, requests, fails, fail_start, fail_last); the balancers
 * go through the functions below.  In a running sluice the fields live in
 * the shared health table (sl_health.h), so least_conn, max_conns and the
 * failure windows are global across workers; admin state (drain, maint),
 * health (down) and runtime weight from there count too.
 *
 * A server is usable when it is not `down`, not failed and not at
 * max_conns.  Passive failures, as nginx counts them:
 *
 *   - A failure (release(failed)) counts one more fail, stamps
 *     fail_start and fail_last with the time and lowers the server's
 *     effective weight by weight/max_fails; the weight grows back by one
 *     each time the server is a round-robin candidate.  When the count
 *     reaches max_fails the server is failed: it is skipped until
 *     fail_timeout has passed since the last failure, and a warning is
 *     logged.
 *   - Picking a server (acquire) after fail_timeout has passed since
 *     fail_start moves fail_start to now (nginx's "checked").  For a
 *     failed server that pick is its probe: the other requests keep
 *     skipping it for another fail_timeout meanwhile.
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
 * When every server is failed, current nginx answers "no live upstreams"
 * until a server's fail_timeout runs out and a request probes it; it
 * does not clear the counts and pick one anyway (nginx 0.x and 1.0 did).
 * The balancers return NULL then, and the proxy answers 502.
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_health.h"

int
sl_upstream_servers_init(struct sl_conf_ctx *cf, struct sl_upstream *u)
{
    struct sl_upstream_server *s;
    unsigned i;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    if (u->servers.nelts == 0) {
        if (cf != NULL)
            sl_conf_node_error(cf, NULL, "%s:%u: no servers in upstream "
                               "\"%.*s\"", u->file, u->line,
                               (int) u->name.len, u->name.data);
        return SL_ERROR;
    }
    s = u->servers.elts;
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
    return SL_OK;
}

/*
 * The run-time fields live in the shared health table once the master has
 * mapped it (s->peer), so that every worker sees the same connection
 * counts and failure windows; before that (sluice -t, unit tests) in the
 * server structure.  Updates are atomic; the failure window's few
 * read-then-write steps may race between workers, which at worst counts
 * one failure more or less, never corrupts anything.
 */
#define SV_LOAD(s, f) \
    ((s)->peer != NULL ? atomic_load(&(s)->peer->f) : (s)->f)
#define SV_STORE(s, f, v) \
    do { if ((s)->peer != NULL) atomic_store(&(s)->peer->f, (v)); \
         else (s)->f = (v); } while (0)

/* Whether s sits out a fail_timeout after max_fails failures. */
static int
sl_upstream_server_failed(const struct sl_upstream *u,
    const struct sl_upstream_server *s)
{
    return u->servers.nelts > 1
           && s->max_fails > 0 && SV_LOAD(s, fails) >= s->max_fails
           && sl_current_msec - SV_LOAD(s, fail_start) < s->fail_timeout;
}

int
sl_upstream_server_usable(struct sl_upstream *u,
    struct sl_upstream_server *s, int *full)
{
    *full = 0;
    if (s->down || sl_upstream_server_failed(u, s))
        return 0;
    if (s->peer != NULL
        && (atomic_load(&s->peer->admin) != SL_HEALTH_READY
            || atomic_load(&s->peer->state) == SL_HEALTH_DOWN))
    {
        /* drain and maint take no new requests; down is down */
        return 0;
    }
    if (s->max_conns > 0 && SV_LOAD(s, conns) >= s->max_conns) {
        *full = 1;
        return 0;
    }
    return 1;
}

int
sl_upstream_server_conns(const struct sl_upstream_server *s)
{
    return SV_LOAD(s, conns);
}

int
sl_upstream_server_weight(const struct sl_upstream_server *s)
{
    int64_t since, elapsed;
    int w = s->weight;

    if (s->peer == NULL)
        return w;
    if (atomic_load(&s->peer->weight) > 0)
        w = atomic_load(&s->peer->weight);     /* set by sluicectl weight */
    /*
     * slow_start: a server that has just come back (up after its checks
     * failed, or a passing probe after max_fails) gets its weight back
     * gradually over slow_start, so it is not flooded while it warms up.
     */
    if (s->slow_start > 0) {
        since = atomic_load(&s->peer->recovered);
        elapsed = sl_time_msec - since;
        if (since > 0 && elapsed >= 0 && elapsed < s->slow_start) {
            w = (int) ((int64_t) w * elapsed / s->slow_start);
            if (w < 1)
                w = 1;
        }
    }
    return w;
}

void
sl_upstream_server_acquire(struct sl_upstream *u,
    struct sl_upstream_server *s)
{
    SL_CHECK_OBJ_NOTNULL(s, SL_UPSTREAM_SERVER_MAGIC);
    if (sl_current_msec - SV_LOAD(s, fail_start) >= s->fail_timeout)
        SV_STORE(s, fail_start, sl_current_msec);
    if (s->peer != NULL) {
        atomic_fetch_add(&s->peer->conns, 1);
        atomic_fetch_add(&s->peer->requests, 1);
    } else {
        s->conns++;
        s->requests++;
    }
}

void
sl_upstream_server_release(struct sl_upstream *u,
    struct sl_upstream_server *s, int failed)
{
    sl_msec_t now = sl_current_msec;
    int rechecked, fails;

    SL_CHECK_OBJ_NOTNULL(u, SL_UPSTREAM_MAGIC);
    SL_CHECK_OBJ_NOTNULL(s, SL_UPSTREAM_SERVER_MAGIC);
    if (s->peer != NULL) {
        if (atomic_fetch_sub(&s->peer->conns, 1) <= 0)
            atomic_store(&s->peer->conns, 0);
        if (failed)
            atomic_fetch_add(&s->peer->failures, 1);
    } else if (s->conns > 0) {
        s->conns--;
    }
    if (u->servers.nelts == 1)
        return;

    rechecked = SV_LOAD(s, fail_last) < SV_LOAD(s, fail_start);
    if (!failed) {
        if (rechecked) {
            /* A failed server whose probe passed: it is back (slow_start). */
            if (s->peer != NULL && s->max_fails > 0
                && SV_LOAD(s, fails) >= s->max_fails)
            {
                atomic_store(&s->peer->recovered, sl_time_msec);
            }
            SV_STORE(s, fails, 0);
        }
        return;
    }
    fails = SV_LOAD(s, fails);
    if (rechecked && (s->max_fails == 0 || fails < s->max_fails))
        SV_STORE(s, fails, 0);      /* the last window ran out: a new one */
    if (s->peer != NULL)
        fails = atomic_fetch_add(&s->peer->fails, 1) + 1;
    else
        fails = ++s->fails;
    SV_STORE(s, fail_start, now);
    SV_STORE(s, fail_last, now);
    if (s->max_fails == 0)
        return;
    s->effective_weight -= s->weight / s->max_fails;
    if (s->effective_weight < 0)
        s->effective_weight = 0;
    if (fails == s->max_fails) {
        if (s->fail_timeout % 1000 == 0)
            sl_log_error(SL_LOG_WARN, 0, "upstream server %s in \"%.*s\" is "
                         "unavailable for %llds after %d failure%s",
                         s->addr_text, (int) u->name.len, u->name.data,
                         (long long) (s->fail_timeout / 1000), fails,
                         fails == 1 ? "" : "s");
        else
            sl_log_error(SL_LOG_WARN, 0, "upstream server %s in \"%.*s\" is "
                         "unavailable for %lldms after %d failure%s",
                         s->addr_text, (int) u->name.len, u->name.data,
                         (long long) s->fail_timeout, fails,
                         fails == 1 ? "" : "s");
    }
}

/*
 * sl_ctl_upstream.c: the control commands on upstream servers (master):
 * servers [UPSTREAM], drain|ready|maint UPSTREAM/SERVER and
 * weight UPSTREAM/SERVER N.
 *
 * They act on the shared health table only: the workers read it on every
 * pick, so a change holds in every worker at once, and the table survives
 * reloads, so it holds after one.
 */
#include "sl_core.h"
#include "sl_ctl.h"
#include "sl_cycle.h"
#include "sl_health.h"
#include "sl_process.h"

#include <strings.h>

static struct sl_upstream_main_conf *
sl_ctl_upstreams(void)
{
    if (sl_cycle == NULL)
        return NULL;
    return sl_cycle->main_conf[sl_upstream_module.index];
}

/* Time since ms, right-aligned in 6 columns: "52s", "3m", "5h". */
static void
sl_ctl_print_since(struct sl_ctl_reply *r, int64_t ms)
{
    char buf[32];
    int64_t s;

    if (ms <= 0) {
        sl_ctl_printf(r, "%6s", "-");
        return;
    }
    s = (sl_time_msec - ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, sizeof(buf), "%llds", (long long) s);
    else if (s < 7200)
        snprintf(buf, sizeof(buf), "%lldm", (long long) (s / 60));
    else
        snprintf(buf, sizeof(buf), "%lldh", (long long) (s / 3600));
    sl_ctl_printf(r, "%6s", buf);
}

static void
sl_ctl_server_json(struct sl_ctl_reply *r, struct sl_upstream_server *s)
{
    struct sl_health_peer *p = s->peer;
    int32_t w = atomic_load(&p->weight);

    sl_ctl_printf(r, "{\"server\":");
    sl_ctl_json_str(r, p->name);
    sl_ctl_printf(r, ",\"addr\":");
    sl_ctl_json_str(r, p->addr);
    sl_ctl_printf(r, ",\"weight\":%d,\"backup\":%s,\"admin\":\"%s\","
                  "\"health\":\"%s\",\"since\":%lld,\"last_check\":%lld,"
                  "\"last_result\":%d,\"latency_ms\":%.3f,"
                  "\"active\":%d,\"requests\":%llu,\"failures\":%llu,"
                  "\"checks\":%llu,\"check_failures\":%llu}",
                  w > 0 ? w : s->weight, s->backup ? "true" : "false",
                  sl_health_admin_name(atomic_load(&p->admin)),
                  sl_health_state_name(atomic_load(&p->state)),
                  (long long) atomic_load(&p->since),
                  (long long) atomic_load(&p->last_check),
                  (int) atomic_load(&p->last_result),
                  atomic_load(&p->latency_us) / 1000.0,
                  (int) atomic_load(&p->conns),
                  (unsigned long long) atomic_load(&p->requests),
                  (unsigned long long) atomic_load(&p->failures),
                  (unsigned long long) atomic_load(&p->checks),
                  (unsigned long long) atomic_load(&p->check_failures));
}

void
sl_ctl_servers(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_upstream_main_conf *umcf = sl_ctl_upstreams();
    struct sl_upstream **ups, *u;
    struct sl_upstream_server *s;
    struct sl_health_peer *p;
    unsigned i, j, shown = 0, first_u = 1, first_s;
    int32_t w;

    ups = umcf != NULL ? umcf->upstreams.elts : NULL;
    if (r->json)
        sl_ctl_printf(r, "{\"upstreams\":[");
    else
        sl_ctl_printf(r, "%-16s %-22s %6s %-6s %-9s %6s %8s %7s %9s %8s\n",
                      "UPSTREAM", "SERVER", "WEIGHT", "ADMIN", "HEALTH",
                      "SINCE", "CHECK", "ACTIVE", "REQUESTS", "FAILURES");
    for (i = 0; umcf != NULL && i < umcf->upstreams.nelts; i++) {
        u = ups[i];
        if (argc > 1 && (u->name.len != strlen(argv[1])
                         || strncasecmp(u->name.data, argv[1], u->name.len)))
        {
            continue;
        }
        shown++;
        if (r->json) {
            char uname[SL_HEALTH_NAME_LEN];

            snprintf(uname, sizeof(uname), "%.*s", (int) u->name.len,
                     u->name.data);
            sl_ctl_printf(r, "%s{\"name\":", first_u ? "" : ",");
            sl_ctl_json_str(r, uname);
            sl_ctl_printf(r, ",\"health_check\":%s,\"servers\":[",
                          u->health != NULL ? "true" : "false");
            first_u = 0;
        }
        first_s = 1;
        for (j = 0; j < u->servers.nelts; j++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, j);
            p = s->peer;
            if (p == NULL)
                continue;
            if (r->json) {
                if (!first_s)
                    sl_ctl_printf(r, ",");
                first_s = 0;
                sl_ctl_server_json(r, s);
                continue;
            }
            w = atomic_load(&p->weight);
            sl_ctl_printf(r, "%-16.*s %-22s %6d %-6s %-9s ",
                          (int) u->name.len, u->name.data, p->addr,
                          w > 0 ? w : s->weight,
                          sl_health_admin_name(atomic_load(&p->admin)),
                          sl_health_state_name(atomic_load(&p->state)));
            sl_ctl_print_since(r, atomic_load(&p->since));
            sl_ctl_printf(r, " ");
            if (atomic_load(&p->checks) == 0)
                sl_ctl_printf(r, "%8s", "-");
            else if (atomic_load(&p->last_result) > 0)
                sl_ctl_printf(r, "%4d/%-3u", (int) atomic_load(&p->last_result),
                              atomic_load(&p->latency_us) / 1000);
            else if (atomic_load(&p->last_result) == 0)
                sl_ctl_printf(r, "%4s/%-3u", "ok",      /* type=tcp */
                              atomic_load(&p->latency_us) / 1000);
            else
                sl_ctl_printf(r, "%8s", "fail");
            sl_ctl_printf(r, " %7d %9llu %8llu%s\n",
                          (int) atomic_load(&p->conns),
                          (unsigned long long) atomic_load(&p->requests),
                          (unsigned long long) atomic_load(&p->failures),
                          s->backup ? " backup" : "");
        }
        if (r->json)
            sl_ctl_printf(r, "]}");
    }
    if (r->json)
        sl_ctl_printf(r, "]}\n");
    if (argc > 1 && shown == 0)
        sl_ctl_fail(r, "no upstream \"%s\"", argv[1]);
}

/* Finds "UPSTREAM/SERVER" (SERVER as configured or as an address). */
static struct sl_health_peer *
sl_ctl_find_peer(struct sl_ctl_reply *r, const char *arg,
    struct sl_upstream_server **server)
{
    struct sl_upstream_main_conf *umcf = sl_ctl_upstreams();
    struct sl_upstream **ups, *u;
    struct sl_upstream_server *s;
    const char *slash = strchr(arg, '/');
    size_t ulen;
    unsigned i, j;

    if (slash == NULL || slash == arg || slash[1] == '\0') {
        sl_ctl_fail(r, "expected UPSTREAM/SERVER, got \"%s\"", arg);
        return NULL;
    }
    ulen = (size_t) (slash - arg);
    ups = umcf != NULL ? umcf->upstreams.elts : NULL;
    for (i = 0; umcf != NULL && i < umcf->upstreams.nelts; i++) {
        u = ups[i];
        if (u->name.len != ulen || strncasecmp(u->name.data, arg, ulen) != 0)
            continue;
        for (j = 0; j < u->servers.nelts; j++) {
            s = sl_array_at(&u->servers, struct sl_upstream_server, j);
            if (s->peer == NULL)
                continue;
            if (strcmp(s->peer->addr, slash + 1) == 0
                || strcmp(s->peer->name, slash + 1) == 0)
            {
                *server = s;
                return s->peer;
            }
        }
        sl_ctl_fail(r, "no server \"%s\" in upstream \"%.*s\"", slash + 1,
                    (int) ulen, arg);
        return NULL;
    }
    sl_ctl_fail(r, "no upstream \"%.*s\"", (int) ulen, arg);
    return NULL;
}

void
sl_ctl_server_admin(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_upstream_server *s;
    struct sl_health_peer *p;
    unsigned admin;

    p = sl_ctl_find_peer(r, argv[1], &s);
    if (p == NULL)
        return;
    if (strcmp(argv[0], "drain") == 0)
        admin = SL_HEALTH_DRAIN;
    else if (strcmp(argv[0], "maint") == 0)
        admin = SL_HEALTH_MAINT;
    else
        admin = SL_HEALTH_READY;
    atomic_store(&p->admin, admin);
    sl_log_error(SL_LOG_NOTICE, 0, "upstream server %s in \"%s\" set to %s",
                 p->addr, p->upstream, sl_health_admin_name(admin));
    (void) sl_upstream_state_save();
    if (r->json)
        sl_ctl_printf(r, "{\"server\":\"%s/%s\",\"admin\":\"%s\"}\n",
                      p->upstream, p->addr, sl_health_admin_name(admin));
    else
        sl_ctl_printf(r, "%s/%s: %s\n", p->upstream, p->addr,
                      sl_health_admin_name(admin));
}

void
sl_ctl_server_weight(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_upstream_server *s;
    struct sl_health_peer *p;
    struct sl_str v;
    int64_t w;

    v.data = argv[2];
    v.len = strlen(argv[2]);
    if (sl_conf_parse_int(&v, &w) != SL_OK || w < 1 || w > 1000) {
        sl_ctl_fail(r, "invalid weight \"%s\": a number from 1 to 1000",
                    argv[2]);
        return;
    }
    p = sl_ctl_find_peer(r, argv[1], &s);
    if (p == NULL)
        return;
    atomic_store(&p->weight, (int32_t) w);
    sl_log_error(SL_LOG_NOTICE, 0, "upstream server %s in \"%s\" weight %d",
                 p->addr, p->upstream, (int) w);
    (void) sl_upstream_state_save();
    if (r->json)
        sl_ctl_printf(r, "{\"server\":\"%s/%s\",\"weight\":%d}\n",
                      p->upstream, p->addr, (int) w);
    else
        sl_ctl_printf(r, "%s/%s: weight %d\n", p->upstream, p->addr, (int) w);
}

/* The group named name in the running configuration, or NULL. */
static struct sl_upstream *
sl_ctl_group(const char *name)
{
    struct sl_upstream_main_conf *umcf = sl_ctl_upstreams();

    return umcf != NULL ? sl_upstream_group(umcf, name) : NULL;
}

/*
 * server add UPSTREAM ADDRESS [weight=N] | server remove UPSTREAM ADDRESS:
 * the change is recorded, then applied by a reload (validate, then a new
 * generation on the same sockets), then written to the state file, so it
 * survives reloads and restarts.
 */
void
sl_ctl_server_change(struct sl_ctl_reply *r, int argc, char **argv)
{
    enum sl_upstream_saved_kind kind;
    struct sl_upstream *u;
    char err[SL_CONF_ERRLEN + 128];
    struct sl_str v;
    int64_t w = 1;

    if (strcmp(argv[1], "add") == 0)
        kind = SL_UPSTREAM_SAVED_ADD;
    else if (strcmp(argv[1], "remove") == 0 && argc == 4)
        kind = SL_UPSTREAM_SAVED_REMOVE;
    else {
        sl_ctl_fail(r, "usage: server add UPSTREAM ADDRESS [weight=N] | "
                    "server remove UPSTREAM ADDRESS");
        return;
    }
    u = sl_ctl_group(argv[2]);
    if (u == NULL || !u->defined) {
        sl_ctl_fail(r, "no upstream \"%s\" defined with upstream{}", argv[2]);
        return;
    }
    if (argc == 5) {
        if (strncmp(argv[4], "weight=", 7) != 0) {
            sl_ctl_fail(r, "invalid parameter \"%s\"", argv[4]);
            return;
        }
        v.data = argv[4] + 7;
        v.len = strlen(v.data);
        if (sl_conf_parse_int(&v, &w) != SL_OK || w < 1 || w > 1000) {
            sl_ctl_fail(r, "invalid weight \"%s\": a number from 1 to 1000",
                        v.data);
            return;
        }
    }
    if (kind == SL_UPSTREAM_SAVED_ADD && (sl_upstream_server_index(u, argv[3]) >= 0)) {
        sl_ctl_fail(r, "server \"%s\" is already in upstream \"%s\"",
                    argv[3], argv[2]);
        return;
    }
    if (kind == SL_UPSTREAM_SAVED_REMOVE) {
        if (!(sl_upstream_server_index(u, argv[3]) >= 0)) {
            sl_ctl_fail(r, "no server \"%s\" in upstream \"%s\"", argv[3],
                        argv[2]);
            return;
        }
        if (u->servers.nelts < 2) {
            sl_ctl_fail(r, "cannot remove the last server of upstream \"%s\"",
                        argv[2]);
            return;
        }
    }
    if (sl_upstream_state_change(kind, argv[2], argv[3], (int) w) != SL_OK) {
        sl_ctl_fail(r, "too many run-time changes");
        return;
    }
    err[0] = '\0';
    if (sl_master_reload(err, sizeof(err)) != SL_OK) {
        sl_upstream_state_forget(kind, argv[2], argv[3]);
        sl_ctl_fail(r, "%s", err[0] ? err : "reload failed");
        return;
    }
    /* The reload resolved the address; a name that did not resolve is gone. */
    u = sl_ctl_group(argv[2]);
    if (kind == SL_UPSTREAM_SAVED_ADD && (u == NULL
                                          || !(sl_upstream_server_index(u, argv[3]) >= 0)))
    {
        sl_upstream_state_forget(kind, argv[2], argv[3]);
        (void) sl_upstream_state_save();
        sl_ctl_fail(r, "cannot add \"%s\": host not found", argv[3]);
        return;
    }
    if (sl_upstream_state_save() != SL_OK) {
        sl_ctl_fail(r, "applied, but the state file could not be written "
                    "(see the error log): the change will not survive a "
                    "restart");
        return;
    }
    sl_log_error(SL_LOG_NOTICE, 0, "upstream \"%s\": server %s %s", argv[2],
                 argv[3], kind == SL_UPSTREAM_SAVED_ADD ? "added" : "removed");
    if (r->json)
        sl_ctl_printf(r, "{\"upstream\":\"%s\",\"server\":\"%s\","
                      "\"result\":\"%s\"}\n", argv[2], argv[3],
                      kind == SL_UPSTREAM_SAVED_ADD ? "added" : "removed");
    else
        sl_ctl_printf(r, "%s/%s: %s\n", argv[2], argv[3],
                      kind == SL_UPSTREAM_SAVED_ADD ? "added" : "removed");
}

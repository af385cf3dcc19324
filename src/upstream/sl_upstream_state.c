/*
 * sl_upstream_state.c: run-time changes to upstream servers that outlive
 * the processes -- servers added or removed with `sluicectl server`,
 * drain/maint states and weights -- kept in STATE_DIR/upstreams.state.
 *
 * The master holds the add/remove list (it decides them) and writes the
 * file whole, atomically (write a temporary file, fsync, rename), after
 * every change.  Every configuration load reads the file: additions and
 * removals change the groups before their balancers are set up, so a
 * change reaches the workers through the ordinary reload path, and admin
 * states and weights are handed to the health table for servers whose
 * records are made anew (at a start; on reloads the table keeps them).
 *
 * The file, one change a line:
 *     add UPSTREAM ADDRESS WEIGHT
 *     remove UPSTREAM ADDRESS
 *     admin UPSTREAM ADDRESS drain|maint
 *     weight UPSTREAM ADDRESS N
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_health.h"

#include <fcntl.h>
#include <strings.h>

#define SL_STATE_FILE       "upstreams.state"
#define SL_STATE_MAX        4096

/* The master's add/remove list (plain memory: only the master uses it). */
static struct sl_upstream_saved *sl_state_list;
static unsigned sl_state_n;
static char *sl_state_path;        /* of the last configuration loaded */

static const char *sl_state_kind_names[] = {
    "add", "remove", "admin", "weight"
};

extern struct sl_module sl_core_module;

static int
sl_state_path_for(struct sl_conf_ctx *cf, char *buf, size_t len)
{
    struct sl_core_conf *ccf;
    const char *dir;

    ccf = cf->main_conf != NULL ? cf->main_conf[sl_core_module.index] : NULL;

    /* The core module is first; its state_dir may still be unset here. */
    dir = ccf != NULL && ccf->state_dir != SL_CONF_UNSET_PTR
          && ccf->state_dir != NULL
          ? ccf->state_dir : SL_LOCALSTATEDIR "/lib/sluice";
    return snprintf(buf, len, "%s/" SL_STATE_FILE, dir) < (int) len
           ? SL_OK : SL_ERROR;
}

struct sl_upstream *
sl_upstream_group(struct sl_upstream_main_conf *umcf, const char *name)
{
    struct sl_upstream **ups = umcf->upstreams.elts;
    unsigned i;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (ups[i]->name.len == strlen(name)
            && strncasecmp(ups[i]->name.data, name, ups[i]->name.len) == 0)
        {
            return ups[i];
        }
    }
    return NULL;
}

int
sl_upstream_server_index(struct sl_upstream *u, const char *addr)
{
    struct sl_upstream_server *s;
    unsigned i;

    for (i = 0; i < u->servers.nelts; i++) {
        s = sl_array_at(&u->servers, struct sl_upstream_server, i);
        if (strcmp(s->addr_text, addr) == 0
            || (s->name.len == strlen(addr)
                && memcmp(s->name.data, addr, s->name.len) == 0))
        {
            return (int) i;
        }
    }
    return -1;
}

/* Adds a server before the backups (primaries come first). */
static int
sl_state_add(struct sl_conf_ctx *cf, struct sl_upstream *u,
    const struct sl_upstream_saved *e)
{
    struct sl_upstream_server tmpl, tmp;
    struct sl_str addr;
    const char *reason = "host not found";
    unsigned first, i, j;
    int rc;

    if (sl_upstream_server_index(u, e->addr) >= 0)
        return SL_OK;           /* in the configuration by now */
    addr.len = strlen(e->addr);
    addr.data = sl_pstrdupz(cf->pool, e->addr);
    if (addr.data == NULL)
        return SL_ERROR;
    sl_upstream_server_defaults(&tmpl, &addr);
    tmpl.weight = e->value > 0 ? e->value : 1;
    first = u->servers.nelts;
    rc = sl_upstream_resolve(u, &addr, &tmpl, &reason);
    if (rc == SL_ABORT)
        return SL_ERROR;
    if (rc != SL_OK) {
        sl_log_error(SL_LOG_WARN, 0, "%s: cannot add server %s to upstream "
                     "\"%s\": %s", SL_STATE_FILE, e->addr, e->upstream,
                     reason);
        return SL_OK;
    }
    for (i = first; i < u->servers.nelts; i++) {
        /* Move it down to the end of the primaries. */
        for (j = i; j > u->nprimary; j--) {
            tmp = *sl_array_at(&u->servers, struct sl_upstream_server, j);
            *sl_array_at(&u->servers, struct sl_upstream_server, j)
                = *sl_array_at(&u->servers, struct sl_upstream_server, j - 1);
            *sl_array_at(&u->servers, struct sl_upstream_server, j - 1) = tmp;
        }
        u->nprimary++;
    }
    return SL_OK;
}

static void
sl_state_remove(struct sl_upstream *u, const struct sl_upstream_saved *e)
{
    struct sl_upstream_server *s = u->servers.elts;
    int i;

    /* Never the last server: a group needs one. */
    while ((i = sl_upstream_server_index(u, e->addr)) >= 0 && u->servers.nelts > 1) {
        memmove(&s[i], &s[i + 1],
                (u->servers.nelts - (unsigned) i - 1) * sizeof(*s));
        u->servers.nelts--;
        if ((unsigned) i < u->nprimary)
            u->nprimary--;
    }
}

/* Parses one line into e; SL_DECLINED for blank and comment lines. */
static int
sl_state_parse_line(char *line, struct sl_upstream_saved *e)
{
    char *w[4], *p = line;
    unsigned n = 0, k;

    while (n < 4) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#' || *p == '\n')
            break;
        w[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    if (n == 0)
        return SL_DECLINED;
    memset(e, 0, sizeof(*e));
    for (k = 0; k < sl_nelems(sl_state_kind_names); k++) {
        if (strcmp(w[0], sl_state_kind_names[k]) == 0)
            break;
    }
    if (k == sl_nelems(sl_state_kind_names) || n < 3
        || strlen(w[1]) >= sizeof(e->upstream)
        || strlen(w[2]) >= sizeof(e->addr))
    {
        return SL_ERROR;
    }
    e->kind = (enum sl_upstream_saved_kind) k;
    strcpy(e->upstream, w[1]);
    strcpy(e->addr, w[2]);
    switch (e->kind) {
    case SL_UPSTREAM_SAVED_ADD:
        e->value = n > 3 ? atoi(w[3]) : 1;
        return e->value >= 1 && e->value <= 1000 ? SL_OK : SL_ERROR;
    case SL_UPSTREAM_SAVED_REMOVE:
        return SL_OK;
    case SL_UPSTREAM_SAVED_ADMIN:
        if (n < 4)
            return SL_ERROR;
        e->value = strcmp(w[3], "drain") == 0 ? SL_HEALTH_DRAIN
                   : strcmp(w[3], "maint") == 0 ? SL_HEALTH_MAINT : -1;
        return e->value > 0 ? SL_OK : SL_ERROR;
    case SL_UPSTREAM_SAVED_WEIGHT:
        e->value = n > 3 ? atoi(w[3]) : 0;
        return e->value >= 1 && e->value <= 1000 ? SL_OK : SL_ERROR;
    }
    return SL_ERROR;
}

/* Applies one add or remove to the groups being configured. */
static int
sl_state_apply_one(struct sl_conf_ctx *cf, struct sl_upstream_main_conf *umcf,
    const struct sl_upstream_saved *e)
{
    struct sl_upstream *u;

    u = sl_upstream_group(umcf, e->upstream);
    if (u == NULL || !u->defined) {
        sl_log_error(SL_LOG_WARN, 0, "%s: no upstream \"%s\" any more: "
                     "%s %s ignored", SL_STATE_FILE, e->upstream,
                     sl_state_kind_names[e->kind], e->addr);
        return SL_OK;
    }
    if (e->kind == SL_UPSTREAM_SAVED_ADD)
        return sl_state_add(cf, u, e);
    sl_state_remove(u, e);
    return SL_OK;
}

/*
 * The first load reads the file into the master's list (and keeps the
 * admin states and weights for the health table); later loads -- reloads,
 * including the one a `server add` triggers -- apply the list, which the
 * master keeps current.
 */
int
sl_upstream_state_apply(struct sl_conf_ctx *cf,
    struct sl_upstream_main_conf *umcf)
{
    struct sl_upstream_saved e, *kept;
    char path[1024], line[512];
    unsigned lineno = 0, i;
    FILE *f;

    if (sl_state_list != NULL) {
        for (i = 0; i < sl_state_n; i++) {
            if (sl_state_apply_one(cf, umcf, &sl_state_list[i]) != SL_OK)
                return SL_ERROR;
        }
        return SL_OK;
    }
    if (sl_state_path_for(cf, path, sizeof(path)) != SL_OK)
        return SL_OK;
    free(sl_state_path);
    sl_state_path = strdup(path);
    sl_state_list = malloc(SL_STATE_MAX * sizeof(*sl_state_list));
    if (sl_state_list == NULL)
        return SL_ERROR;
    sl_state_n = 0;
    f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        switch (sl_state_parse_line(line, &e)) {
        case SL_DECLINED:
            continue;
        case SL_ERROR:
            sl_log_error(SL_LOG_WARN, 0, "%s:%u: ignoring a malformed line",
                         path, lineno);
            continue;
        }
        if (e.kind == SL_UPSTREAM_SAVED_ADMIN
            || e.kind == SL_UPSTREAM_SAVED_WEIGHT)
        {
            kept = sl_array_push(&umcf->saved);
            if (kept == NULL) {
                fclose(f);
                return SL_ERROR;
            }
            *kept = e;
            continue;
        }
        if (sl_state_n < SL_STATE_MAX)
            sl_state_list[sl_state_n++] = e;
        if (sl_state_apply_one(cf, umcf, &e) != SL_OK) {
            fclose(f);
            return SL_ERROR;
        }
    }
    if (f != NULL)
        fclose(f);
    return SL_OK;
}

const struct sl_upstream_saved *
sl_upstream_state_find(struct sl_upstream_main_conf *umcf,
    enum sl_upstream_saved_kind kind, const char *upstream, const char *addr)
{
    struct sl_upstream_saved *e;
    unsigned i;

    if (umcf == NULL)
        return NULL;
    e = umcf->saved.elts;
    for (i = umcf->saved.nelts; i > 0; i--) {
        if (e[i - 1].kind == kind && strcasecmp(e[i - 1].upstream, upstream)
            == 0 && strcmp(e[i - 1].addr, addr) == 0)
        {
            return &e[i - 1];
        }
    }
    return NULL;
}

void
sl_upstream_state_forget(enum sl_upstream_saved_kind kind,
    const char *upstream, const char *addr)
{
    unsigned i;

    for (i = 0; i < sl_state_n; ) {
        if (sl_state_list[i].kind == kind
            && strcasecmp(sl_state_list[i].upstream, upstream) == 0
            && strcmp(sl_state_list[i].addr, addr) == 0)
        {
            sl_state_list[i] = sl_state_list[--sl_state_n];
            continue;
        }
        i++;
    }
}

int
sl_upstream_state_change(enum sl_upstream_saved_kind kind,
    const char *upstream, const char *addr, int value)
{
    struct sl_upstream_saved *e;

    if (sl_state_list == NULL) {
        sl_state_list = malloc(SL_STATE_MAX * sizeof(*sl_state_list));
        if (sl_state_list == NULL)
            return SL_ERROR;
    }
    /* An addition and a removal of the same server cancel out. */
    sl_upstream_state_forget(SL_UPSTREAM_SAVED_ADD, upstream, addr);
    sl_upstream_state_forget(SL_UPSTREAM_SAVED_REMOVE, upstream, addr);
    if (sl_state_n == SL_STATE_MAX || strlen(upstream) >= sizeof(e->upstream)
        || strlen(addr) >= sizeof(e->addr))
    {
        return SL_ERROR;
    }
    e = &sl_state_list[sl_state_n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    strcpy(e->upstream, upstream);
    strcpy(e->addr, addr);
    e->value = value;
    return SL_OK;
}

/*
 * Writes the add/remove list and the health table's drain/maint states and
 * weights.  Returns SL_OK, or SL_ERROR with the reason logged.
 */
int
sl_upstream_state_save(void)
{
    struct sl_health_table *t = sl_health_current();
    struct sl_health_peer *p;
    char tmp[1100];
    FILE *f;
    unsigned i;
    int fd, ok;

    if (sl_state_path == NULL)
        return SL_OK;
    snprintf(tmp, sizeof(tmp), "%s.tmp", sl_state_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
        sl_log_error(SL_LOG_ERR, errno, "open() \"%s\" failed", tmp);
        if (fd != -1)
            close(fd);
        return SL_ERROR;
    }
    fprintf(f, "# sluice: servers changed with sluicectl; written by sluice, "
            "replayed at start\n");
    for (i = 0; i < sl_state_n; i++) {
        if (sl_state_list[i].kind == SL_UPSTREAM_SAVED_ADD)
            fprintf(f, "add %s %s %d\n", sl_state_list[i].upstream,
                    sl_state_list[i].addr, sl_state_list[i].value);
        else
            fprintf(f, "remove %s %s\n", sl_state_list[i].upstream,
                    sl_state_list[i].addr);
    }
    for (i = 0; t != NULL && i < t->npeers; i++) {
        p = &t->peers[i];
        if (p->used != 1)
            continue;
        if (atomic_load(&p->admin) != SL_HEALTH_READY)
            fprintf(f, "admin %s %s %s\n", p->upstream, p->addr,
                    sl_health_admin_name(atomic_load(&p->admin)));
        if (atomic_load(&p->weight) > 0)
            fprintf(f, "weight %s %s %d\n", p->upstream, p->addr,
                    (int) atomic_load(&p->weight));
    }
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, sl_state_path) == -1) {
        sl_log_error(SL_LOG_ERR, errno, "writing \"%s\" failed",
                     sl_state_path);
        unlink(tmp);
        return SL_ERROR;
    }
    return SL_OK;
}

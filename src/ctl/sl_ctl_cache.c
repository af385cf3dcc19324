/*
 * sl_ctl_cache.c: the control commands on the HTTP cache (master):
 *
 *   cache purge [--prefix] [--zone NAME] KEY|URL
 *   cache stats [--zone NAME]
 *
 * The master maps every cache zone of its cycle (it created them before
 * forking), so it works on the stores directly, the way DESIGN.md wants
 * control commands carried out: on shared memory, observed by the workers
 * on their next lookup.  Nothing here is cached per process.
 *
 * A purge argument is tried as a literal cache key; when it is an
 * absolute http(s) URL it is also tried as the key the default
 * proxy_cache_key ($scheme$host$request_uri) makes for that URL, so an
 * operator can paste a URL without knowing the key format.
 */
#include "sl_core.h"
#include "sl_ctl.h"
#include "sl_cycle.h"
#include "sl_cache.h"

#include <strings.h>

#define SL_CTL_CACHE_USAGE                                                    \
    "cache purge [--prefix] [--zone NAME] KEY|URL | cache stats [--zone NAME]"

struct sl_ctl_cache_args {
    const char             *zone;       /* --zone, or NULL: every zone */
    const char             *target;     /* the KEY|URL of purge */
    int                     prefix;     /* --prefix */
};

/*
 * Parses the words after "purge" or "stats".  want_target: purge takes
 * exactly one KEY|URL.  Returns SL_OK or SL_ERROR after sl_ctl_fail().
 */
static int
sl_ctl_cache_parse(struct sl_ctl_reply *r, int argc, char **argv,
    int want_target, struct sl_ctl_cache_args *a)
{
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--zone") == 0) {
            if (i + 1 == argc || a->zone != NULL)
                goto usage;
            a->zone = argv[++i];
        } else if (want_target && strcmp(argv[i], "--prefix") == 0) {
            if (a->prefix)
                goto usage;
            a->prefix = 1;
        } else if (want_target && a->target == NULL
                   && (argv[i][0] != '-' || argv[i][1] != '-'))
        {
            a->target = argv[i];
        } else {
            goto usage;
        }
    }
    if (want_target && a->target == NULL)
        goto usage;
    return SL_OK;

usage:
    sl_ctl_fail(r, "usage: %s", SL_CTL_CACHE_USAGE);
    return SL_ERROR;
}

/*
 * The zone a command is restricted to by --zone (*one; NULL: every
 * zone).  Returns SL_OK, or SL_ERROR after sl_ctl_fail().
 */
static int
sl_ctl_cache_zones(struct sl_ctl_reply *r, const struct sl_ctl_cache_args *a,
    struct sl_cache_zone **one)
{
    *one = NULL;
    if (a->zone != NULL) {
        *one = sl_cache_zone_by_name(sl_cycle, a->zone, strlen(a->zone));
        if (*one == NULL || (*one)->store == NULL) {
            sl_ctl_fail(r, "unknown cache zone \"%s\"", a->zone);
            return SL_ERROR;
        }
    }
    return SL_OK;
}

/* The i-th zone the command acts on, NULL past the last. */
static struct sl_cache_zone *
sl_ctl_cache_next(struct sl_cache_zone *one, size_t i)
{
    struct sl_cache_zone *cz;

    if (one != NULL)
        return i == 0 ? one : NULL;
    cz = sl_cache_zone_get(sl_cycle, i);
    return cz;
}

/* ---- purge ----------------------------------------------------------- */

/*
 * The key that proxy_cache_key's default, $scheme$host$request_uri,
 * gives a request for url: "http" + "example.com" + "/a?b".  The host is
 * made what $host makes it: lower case, without its port (any port:
 * $host never carries one) and without a trailing dot.  A URL without a
 * path is a request for "/".  Returns the length written into key, or 0
 * when url is not an absolute http(s) URL (or the key does not fit).
 */
static size_t
sl_ctl_cache_url_key(const char *url, char *key, size_t size)
{
    const char *p, *host, *end, *path;
    size_t slen, hlen, plen, n;

    if (strncasecmp(url, "http://", 7) == 0)
        slen = 4;
    else if (strncasecmp(url, "https://", 8) == 0)
        slen = 5;
    else
        return 0;
    host = url + slen + 3;
    path = host + strcspn(host, "/?#");
    /* userinfo is not part of a request's host */
    for (p = host; p < path; p++)
        if (*p == '@')
            host = p + 1;
    if (*host == '[') {
        end = memchr(host, ']', (size_t) (path - host));
        if (end == NULL)
            return 0;
        end++;
    } else {
        end = memchr(host, ':', (size_t) (path - host));
        if (end == NULL)
            end = path;
    }
    hlen = (size_t) (end - host);
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    if (hlen == 0)
        return 0;
    plen = strcspn(path, "#");
    n = slen + hlen + (plen ? plen : 1);
    if (n >= size)
        return 0;
    sl_strlow(key, url, slen);
    sl_strlow(key + slen, host, hlen);
    if (plen == 0 || path[0] == '?') {
        /* "http://h?q" asks for "/?q" */
        key[slen + hlen] = '/';
        memcpy(key + slen + hlen + 1, path, plen);
        n = slen + hlen + 1 + plen;
    } else {
        memcpy(key + slen + hlen, path, plen);
    }
    key[n] = '\0';
    return n;
}

static int64_t
sl_ctl_cache_purge_one(struct sl_cache_zone *cz, int prefix, const char *k,
    size_t klen)
{
    if (prefix)
        return sl_cache_purge_prefix(cz->store, k, klen);
    return sl_cache_purge(cz->store, k, klen);
}

/*
 * Purges the literal argument and, when it is a URL, the key made from
 * it, in every selected zone.  Succeeds with a count even when nothing
 * matched (a purge of something already gone is not a failure), but says
 * so, so that a typo does not pass unnoticed.
 */
static void
sl_ctl_cache_purge(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_ctl_cache_args a;
    struct sl_cache_zone *one, *cz;
    char key[SL_CTL_MAX_REQUEST + 8];
    size_t tlen, klen, i;
    int64_t n, total = 0;
    int first = 1;

    if (sl_ctl_cache_parse(r, argc, argv, 1, &a) != SL_OK
        || sl_ctl_cache_zones(r, &a, &one) != SL_OK)
    {
        return;
    }
    if (sl_ctl_cache_next(one, 0) == NULL) {
        sl_ctl_fail(r, "no cache zones are configured");
        return;
    }
    tlen = strlen(a.target);
    klen = sl_ctl_cache_url_key(a.target, key, sizeof(key));
    if (klen == tlen && memcmp(key, a.target, klen) == 0)
        klen = 0;           /* the same key: once is enough */

    if (r->json) {
        sl_ctl_printf(r, "{\"keys\":[");
        sl_ctl_json_str(r, a.target);
        if (klen) {
            sl_ctl_printf(r, ",");
            sl_ctl_json_str(r, key);
        }
        sl_ctl_printf(r, "],\"prefix\":%s,\"zones\":[",
                      a.prefix ? "true" : "false");
    }
    for (i = 0; (cz = sl_ctl_cache_next(one, i)) != NULL; i++) {
        if (cz->store == NULL)
            continue;
        n = sl_ctl_cache_purge_one(cz, a.prefix, a.target, tlen);
        if (klen)
            n += sl_ctl_cache_purge_one(cz, a.prefix, key, klen);
        total += n;
        if (r->json) {
            sl_ctl_printf(r, "%s{\"name\":", first ? "" : ",");
            sl_ctl_json_str(r, cz->name.data);
            sl_ctl_printf(r, ",\"purged\":%lld}", (long long) n);
        } else {
            sl_ctl_printf(r, "zone %s: %lld purged\n", cz->name.data,
                          (long long) n);
        }
        first = 0;
    }
    if (r->json) {
        sl_ctl_printf(r, "],\"purged\":%lld}\n", (long long) total);
        return;
    }
    if (total == 0) {
        sl_ctl_printf(r, "nothing purged: no %s \"%s\"",
                      a.prefix ? "key starts with" : "object has the key",
                      a.target);
        if (klen)
            sl_ctl_printf(r, " or \"%s\"", key);
        sl_ctl_printf(r, "\n");
    }
}

/* ---- stats ----------------------------------------------------------- */

static void
sl_ctl_cache_stats(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_ctl_cache_args a;
    struct sl_cache_zone *one, *cz;
    struct sl_cache_stats st;
    char err[256];
    size_t i;
    int k, ok, first = 1;

    if (sl_ctl_cache_parse(r, argc, argv, 0, &a) != SL_OK
        || sl_ctl_cache_zones(r, &a, &one) != SL_OK)
    {
        return;
    }
    if (r->json)
        sl_ctl_printf(r, "{\"zones\":[");
    for (i = 0; (cz = sl_ctl_cache_next(one, i)) != NULL; i++) {
        if (cz->store == NULL)
            continue;
        memset(&st, 0, sizeof(st));
        sl_cache_store_stats(cz->store, &st);
        err[0] = '\0';
        ok = sl_cache_store_check(cz->store, err, sizeof(err)) == SL_OK;
        if (!ok)
            sl_log_error(SL_LOG_ALERT, 0, "cache zone \"%s\" is "
                         "inconsistent: %s", cz->name.data, err);
        if (r->json) {
            sl_ctl_printf(r, "%s{\"name\":", first ? "" : ",");
            first = 0;
            sl_ctl_json_str(r, cz->name.data);
            sl_ctl_printf(r, ",\"size\":%zu,\"max_object\":%llu,"
                          "\"inactive_timeout\":%lld,\"entries\":%llu,"
                          "\"used\":%llu,\"free\":%llu", cz->size,
                          (unsigned long long) st.max_object,
                          (long long) (cz->inactive_ms / 1000),
                          (unsigned long long) st.entries,
                          (unsigned long long) st.used,
                          (unsigned long long) st.free);
            for (k = 0; k < SL_CACHE_STAT_N; k++) {
                sl_ctl_printf(r, ",");
                sl_ctl_json_str(r, sl_cache_stat_name(k));
                sl_ctl_printf(r, ":%llu",
                              (unsigned long long) st.counters[k]);
            }
            sl_ctl_printf(r, ",\"consistent\":%s,\"check\":",
                          ok ? "true" : "false");
            sl_ctl_json_str(r, ok ? "ok" : err);
            sl_ctl_printf(r, "}");
            continue;
        }
        sl_ctl_printf(r, "%szone %s\n", first ? "" : "\n", cz->name.data);
        first = 0;
        sl_ctl_printf(r, "  size: %zu\n  max_object: %llu\n"
                      "  inactive_timeout: %llds\n  entries: %llu\n"
                      "  used: %llu\n  free: %llu\n", cz->size,
                      (unsigned long long) st.max_object,
                      (long long) (cz->inactive_ms / 1000),
                      (unsigned long long) st.entries,
                      (unsigned long long) st.used,
                      (unsigned long long) st.free);
        for (k = 0; k < SL_CACHE_STAT_N; k++)
            sl_ctl_printf(r, "  %s: %llu\n", sl_cache_stat_name(k),
                          (unsigned long long) st.counters[k]);
        sl_ctl_printf(r, "  check: %s%s\n", ok ? "ok" : "FAILED: ",
                      ok ? "" : err);
    }
    if (r->json)
        sl_ctl_printf(r, "]}\n");
    else if (first)
        sl_ctl_printf(r, "no cache zones are configured\n");
}

void
sl_ctl_cache(struct sl_ctl_reply *r, int argc, char **argv)
{
    if (strcmp(argv[1], "purge") == 0)
        sl_ctl_cache_purge(r, argc, argv);
    else if (strcmp(argv[1], "stats") == 0)
        sl_ctl_cache_stats(r, argc, argv);
    else
        sl_ctl_fail(r, "usage: %s", SL_CTL_CACHE_USAGE);
}

/*
 * check_balancer.c: unit tests of upstream groups (src/upstream/): the
 * round-robin balancer on hand-built groups, address parsing, the
 * upstream{} directives through the real configuration loader, groups
 * made by reference, and the keepalive pool over socket pairs.
 *
 * Time is the cached clock: the tests set sl_current_msec themselves.
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_cycle.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>

#define T0      1000000     /* a start time well above 0 */

static struct sl_pool *pool;
static char err[SL_CONF_ERRLEN];

static void
pool_setup(void)
{
    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    ck_assert_ptr_nonnull(pool);
    err[0] = '\0';
    sl_current_msec = T0;
    /* Balancer warnings are checked where they matter, not printed. */
    sl_log_main.level = SL_LOG_ERR;
}

static void
pool_teardown(void)
{
    sl_pool_destroy(pool);
    pool = NULL;
    sl_log_main.level = SL_LOG_NOTICE;
}

/* ---- hand-built groups ------------------------------------------------- */

struct t_srv {
    int          weight;
    unsigned     backup:1;
    unsigned     down:1;
    int          max_fails;         /* -1: default 1 */
    sl_msec_t    fail_timeout;      /* 0: default 10 s */
    int          max_conns;
};

/*
 * A group of n servers named "a", "b", ... at 10.0.0.(i+1):80, primaries
 * first as the loader leaves them, prepared by the round robin's init.
 */
static struct sl_upstream *
group(const struct t_srv *def, unsigned n)
{
    static char names[26][2];
    struct sl_conf_ctx cf;
    struct sl_upstream *u;
    struct sl_upstream_server *s;
    unsigned i, pass;

    u = sl_pcalloc(pool, sizeof(*u));
    ck_assert_ptr_nonnull(u);
    u->magic = SL_UPSTREAM_MAGIC;
    sl_str_set(&u->name, "t");
    ck_assert_int_eq(sl_array_init(&u->servers, pool, n, sizeof(*s)), SL_OK);
    u->balancer = &sl_balancer_round_robin;
    u->keepalive_timeout = 60000;
    u->keepalive_requests = 1000;
    u->file = "t.conf";
    u->line = 1;
    u->defined = 1;
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < n; i++) {
            if (def[i].backup != pass)
                continue;
            s = sl_array_push(&u->servers);
            ck_assert_ptr_nonnull(s);
            s->magic = SL_UPSTREAM_SERVER_MAGIC;
            names[i][0] = (char) ('a' + i);
            s->name.data = names[i];
            s->name.len = 1;
            s->sa.sin.sin_family = AF_INET;
            s->sa.sin.sin_port = htons(80);
            s->sa.sin.sin_addr.s_addr = htonl(0x0a000001 + i);
            s->socklen = sizeof(s->sa.sin);
            sl_sockaddr_ntop(&s->sa.sa, s->addr_text, sizeof(s->addr_text),
                             1);
            s->weight = def[i].weight ? def[i].weight : 1;
            s->max_fails = def[i].max_fails >= 0 ? def[i].max_fails : 1;
            s->fail_timeout = def[i].fail_timeout ? def[i].fail_timeout
                                                  : 10000;
            s->max_conns = def[i].max_conns;
            s->backup = def[i].backup;
            s->down = def[i].down;
            if (!pass)
                u->nprimary++;
        }
    }
    memset(&cf, 0, sizeof(cf));
    cf.pool = pool;
    cf.err = err;
    cf.errlen = sizeof(err);
    ck_assert_int_eq(u->balancer->init(&cf, u), SL_OK);
    return u;
}

static struct sl_upstream_server *
get(struct sl_upstream *u, struct sl_upstream_tried *tried, int *full)
{
    int dummy;

    return u->balancer->get(u, NULL, tried, full ? full : &dummy);
}

/* The letter of a server (its name), '-' for none. */
static char
letter(struct sl_upstream_server *s)
{
    return s == NULL ? '-' : s->name.data[0];
}

/* k picks, each finished at once (ok or failed); their letters in out. */
static void
picks(struct sl_upstream *u, unsigned k, char *out)
{
    struct sl_upstream_server *s;
    unsigned i;

    for (i = 0; i < k; i++) {
        s = get(u, NULL, NULL);
        out[i] = letter(s);
        if (s != NULL)
            u->balancer->done(u, s, 0);
    }
    out[k] = '\0';
}

static struct sl_upstream_server *
srv(struct sl_upstream *u, char name)
{
    struct sl_upstream_server *s = u->servers.elts;
    unsigned i;

    for (i = 0; i < u->servers.nelts; i++) {
        if (s[i].name.data[0] == name)
            return &s[i];
    }
    ck_abort_msg("no server %c", name);
    return NULL;
}

/* One request to server name that fails (picked by the balancer). */
static void
fail_once(struct sl_upstream *u, char name)
{
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s;
    unsigned i;

    memset(&tried, 0, sizeof(tried));
    /* Try everything else first so that the pick is name. */
    for (i = 0; i < u->servers.nelts; i++) {
        if (((struct sl_upstream_server *) u->servers.elts)[i].name.data[0]
            != name)
        {
            sl_upstream_tried_set(&tried, i);
        }
    }
    s = get(u, &tried, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(letter(s), name);
    u->balancer->done(u, s, 1);
}

#define D(w)    { (w), 0, 0, -1, 0, 0 }

START_TEST(test_rr_sequence)
{
    static const struct t_srv def[] = { D(5), D(1), D(1) };
    struct sl_upstream *u = group(def, 3);
    char out[64];

    picks(u, 14, out);
    ck_assert_str_eq(out, "aabacaaaabacaa");
}
END_TEST

START_TEST(test_rr_equal)
{
    static const struct t_srv def[] = { D(1), D(1), D(1) };
    struct sl_upstream *u = group(def, 3);
    char out[64];

    picks(u, 9, out);
    ck_assert_str_eq(out, "abcabcabc");
}
END_TEST

START_TEST(test_rr_weights_exact)
{
    static const struct t_srv def[] = { D(3), D(2), D(1), D(7), D(1),
                                        D(1000) };
    struct sl_upstream *u = group(def, 6);
    unsigned count[6] = { 0 }, total = 1014, rounds = 5, i;
    static char out[5 * 1014 + 1];

    picks(u, total * rounds, out);
    for (i = 0; out[i] != '\0'; i++) {
        ck_assert(out[i] >= 'a' && out[i] <= 'f');
        count[out[i] - 'a']++;
    }
    for (i = 0; i < 6; i++)
        ck_assert_uint_eq(count[i], (unsigned) def[i].weight * rounds);
}
END_TEST

/*
 * Smoothness: in every window of k consecutive picks a server of weight w
 * out of total W is picked at most ceil(w * k / W) + 1 times.
 */
START_TEST(test_rr_smooth)
{
    static const struct t_srv def[] = { D(5), D(3), D(1), D(1), D(10) };
    struct sl_upstream *u = group(def, 5);
    unsigned total = 20, n = 4 * 20, k, start, i, j, cnt, bound;
    char out[4 * 20 + 1];

    picks(u, n, out);
    for (k = 1; k <= 2 * total; k++) {
        for (start = 0; start + k <= n; start++) {
            for (j = 0; j < 5; j++) {
                cnt = 0;
                for (i = start; i < start + k; i++)
                    cnt += out[i] == (char) ('a' + j);
                bound = ((unsigned) def[j].weight * k + total - 1) / total
                        + 1;
                ck_assert_msg(cnt <= bound, "server %c picked %u times in "
                              "%u picks from %u (bound %u): %s",
                              'a' + j, cnt, k, start, bound, out);
            }
        }
    }
}
END_TEST

START_TEST(test_rr_down)
{
    static const struct t_srv def[] = { D(1), { 5, 0, 1, -1, 0, 0 }, D(2) };
    struct sl_upstream *u = group(def, 3);
    char out[64];

    picks(u, 9, out);
    ck_assert_str_eq(out, "caccaccac");
    ck_assert_uint_eq(srv(u, 'b')->requests, 0);
}
END_TEST

START_TEST(test_rr_all_down)
{
    static const struct t_srv def[] = { { 1, 0, 1, -1, 0, 0 },
                                        { 1, 1, 1, -1, 0, 0 } };
    struct sl_upstream *u = group(def, 2);
    int full = -1;

    ck_assert_ptr_null(get(u, NULL, &full));
    ck_assert_int_eq(full, 0);
}
END_TEST

START_TEST(test_rr_backup)
{
    static const struct t_srv def[] = { D(1), { 1, 1, 0, -1, 0, 0 }, D(1),
                                        { 3, 1, 0, -1, 0, 0 } };
    struct sl_upstream *u = group(def, 4);
    char out[64];

    /* The loader's order: primaries a, c, then backups b, d. */
    ck_assert_uint_eq(u->nprimary, 2);
    picks(u, 6, out);
    ck_assert_str_eq(out, "acacac");

    fail_once(u, 'a');
    picks(u, 3, out);
    ck_assert_str_eq(out, "ccc");
    fail_once(u, 'c');
    /* Every primary failed: the backups, by weight. */
    picks(u, 8, out);
    ck_assert_str_eq(out, "dbdddbdd");

    /*
     * fail_timeout later the primaries are probed, and they recover; their
     * effective weights grow back from 0, so the order is not 1:1 yet.
     */
    sl_current_msec += 10000;
    picks(u, 4, out);
    ck_assert_msg(strchr(out, 'a') && strchr(out, 'c')
                  && !strchr(out, 'b') && !strchr(out, 'd'), "%s", out);
    ck_assert_int_eq(srv(u, 'a')->fails, 0);
    ck_assert_int_eq(srv(u, 'c')->fails, 0);
}
END_TEST

START_TEST(test_rr_backup_tried)
{
    static const struct t_srv def[] = { D(1), D(1), { 1, 1, 0, -1, 0, 0 } };
    struct sl_upstream *u = group(def, 3);
    struct sl_upstream_tried tried;
    char seq[8];
    unsigned i;

    /* A request retrying: a, b, then the backup, then nothing. */
    memset(&tried, 0, sizeof(tried));
    for (i = 0; i < 4; i++)
        seq[i] = letter(get(u, &tried, NULL));
    seq[4] = '\0';
    ck_assert_str_eq(seq, "abc-");
    ck_assert_uint_eq(tried.count, 3);
    ck_assert(sl_upstream_tried_test(&tried, 2));
}
END_TEST

START_TEST(test_rr_max_fails)
{
    /* max_fails=2 fail_timeout=5s on a, defaults on b. */
    static const struct t_srv def[] = { { 1, 0, 0, 2, 5000, 0 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    struct sl_upstream_server *a = srv(u, 'a'), *s, *s2;
    char out[64];
    unsigned i;

    fail_once(u, 'a');
    ck_assert_int_eq(a->fails, 1);
    picks(u, 4, out);       /* one failure of two: still in */
    ck_assert(strchr(out, 'a') != NULL);
    sl_current_msec += 1000;
    fail_once(u, 'a');
    ck_assert_int_eq(a->fails, 2);
    picks(u, 4, out);
    ck_assert_str_eq(out, "bbbb");

    /*
     * 5 s after the last failure a is a candidate again: the request that
     * picks it is its probe, and the others skip it meanwhile.
     */
    sl_current_msec += 4999;
    picks(u, 2, out);
    ck_assert_str_eq(out, "bb");
    sl_current_msec += 1;
    s = get(u, NULL, NULL);
    s2 = get(u, NULL, NULL);
    ck_assert(s != s2 && (s == a || s2 == a));
    if (s2 == a) {
        s2 = s;
        s = a;
    }
    u->balancer->done(u, s2, 0);
    picks(u, 3, out);
    ck_assert_str_eq(out, "bbb");

    /* The probe fails: out for another fail_timeout. */
    u->balancer->done(u, s, 1);
    ck_assert_int_eq(a->fails, 3);
    sl_current_msec += 4999;
    picks(u, 3, out);
    ck_assert_str_eq(out, "bbb");

    /* The next probe succeeds: back in, count cleared. */
    sl_current_msec += 1;
    for (i = 0; i < 2 && a->fails > 0; i++)
        picks(u, 1, out);
    ck_assert_int_eq(a->fails, 0);
    picks(u, 8, out);
    ck_assert(strchr(out, 'a') != NULL);
    ck_assert_int_eq(a->conns, 0);
}
END_TEST

/* Failures further apart than fail_timeout never add up to max_fails. */
START_TEST(test_rr_fail_window)
{
    static const struct t_srv def[] = { { 1, 0, 0, 2, 10000, 0 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    struct sl_upstream_server *a = srv(u, 'a');
    char out[64];

    fail_once(u, 'a');
    sl_current_msec += 10000;
    fail_once(u, 'a');
    ck_assert_int_eq(a->fails, 1);
    picks(u, 4, out);
    ck_assert(strchr(out, 'a') != NULL);

    /* Within the window they do. */
    sl_current_msec += 9999;
    fail_once(u, 'a');
    ck_assert_int_eq(a->fails, 2);
    picks(u, 4, out);
    ck_assert_str_eq(out, "bbbb");
}
END_TEST

/* A success clears the count only once fail_timeout has passed. */
START_TEST(test_rr_success_resets)
{
    static const struct t_srv def[] = { { 1, 0, 0, 3, 10000, 0 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    struct sl_upstream_server *a = srv(u, 'a');
    char out[64];

    fail_once(u, 'a');
    fail_once(u, 'a');
    picks(u, 4, out);               /* successes within the window */
    ck_assert(strchr(out, 'a') != NULL);
    ck_assert_int_eq(a->fails, 2);
    sl_current_msec += 10000;
    picks(u, 4, out);
    ck_assert_int_eq(a->fails, 0);
}
END_TEST

START_TEST(test_rr_max_fails_zero)
{
    static const struct t_srv def[] = { { 1, 0, 0, 0, 0, 0 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    char out[64];
    unsigned i;

    for (i = 0; i < 5; i++)
        fail_once(u, 'a');
    picks(u, 4, out);
    ck_assert(strchr(out, 'a') != NULL);
}
END_TEST

/* nginx: a lone server is never marked failed. */
START_TEST(test_rr_single)
{
    static const struct t_srv def[] = { D(1) };
    struct sl_upstream *u = group(def, 1);
    struct sl_upstream_server *s;
    unsigned i;

    for (i = 0; i < 5; i++) {
        s = get(u, NULL, NULL);
        ck_assert_ptr_nonnull(s);
        u->balancer->done(u, s, 1);
    }
    ck_assert_ptr_nonnull(get(u, NULL, NULL));
}
END_TEST

/*
 * Every server failed: no server (the proxy's 502), as current nginx,
 * until fail_timeout has passed.
 */
START_TEST(test_rr_all_failed)
{
    static const struct t_srv def[] = { D(1), D(1), { 1, 1, 0, -1, 0, 0 } };
    struct sl_upstream *u = group(def, 3);
    int full = -1;

    fail_once(u, 'a');
    fail_once(u, 'b');
    fail_once(u, 'c');
    ck_assert_ptr_null(get(u, NULL, &full));
    ck_assert_int_eq(full, 0);
    sl_current_msec += 9999;
    ck_assert_ptr_null(get(u, NULL, &full));
    sl_current_msec += 1;
    ck_assert_ptr_nonnull(get(u, NULL, &full));
    ck_assert(!get(u, NULL, &full)->backup);
}
END_TEST

START_TEST(test_rr_max_conns)
{
    static const struct t_srv def[] = { { 1, 0, 0, -1, 0, 1 },
                                        { 1, 0, 0, -1, 0, 2 },
                                        { 1, 0, 1, -1, 0, 0 } };
    struct sl_upstream *u = group(def, 3);
    struct sl_upstream_server *s[3];
    int full = -1;

    s[0] = get(u, NULL, &full);
    s[1] = get(u, NULL, &full);
    s[2] = get(u, NULL, &full);
    ck_assert_int_eq(full, 0);
    ck_assert_int_eq(letter(s[0]), 'a');
    ck_assert_int_eq(letter(s[1]), 'b');
    ck_assert_int_eq(letter(s[2]), 'b');
    ck_assert_int_eq(srv(u, 'b')->conns, 2);
    /* All full (c is down, which does not count): NULL, all_full. */
    ck_assert_ptr_null(get(u, NULL, &full));
    ck_assert_int_eq(full, 1);

    u->balancer->done(u, s[1], 0);
    ck_assert_int_eq(srv(u, 'b')->conns, 1);
    ck_assert_ptr_eq(get(u, NULL, &full), s[1]);
    ck_assert_int_eq(full, 0);
}
END_TEST

/* Full and failed: still "all full", as the failed one is not usable. */
START_TEST(test_rr_full_and_failed)
{
    static const struct t_srv def[] = { { 1, 0, 0, -1, 0, 1 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    struct sl_upstream_server *a;
    int full = -1;

    fail_once(u, 'b');
    a = get(u, NULL, &full);
    ck_assert_int_eq(letter(a), 'a');
    ck_assert_ptr_null(get(u, NULL, &full));
    ck_assert_int_eq(full, 1);
}
END_TEST

START_TEST(test_rr_tried)
{
    static const struct t_srv def[] = { D(2), D(1), D(1), D(1) };
    struct sl_upstream *u = group(def, 4);
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s;
    char seen[8] = "";
    unsigned i;
    int full;

    memset(&tried, 0, sizeof(tried));
    sl_upstream_tried_set(&tried, 1);   /* b tried by an earlier attempt */
    for (i = 0; i < 3; i++) {
        s = get(u, &tried, &full);
        ck_assert_ptr_nonnull(s);
        seen[letter(s) - 'a'] = 1;
    }
    ck_assert(seen[0] && !seen[1] && seen[2] && seen[3]);
    ck_assert_uint_eq(tried.count, 4);
    ck_assert_ptr_null(get(u, &tried, &full));
    ck_assert_int_eq(full, 0);
}
END_TEST

/* The tried bitmap reaches past the first word. */
START_TEST(test_rr_tried_many)
{
    struct sl_upstream *u;
    struct sl_upstream_server *s;
    struct sl_upstream_tried tried;
    unsigned i;

    /* group() names 26 servers at most: these all answer to "x". */
    u = sl_pcalloc(pool, sizeof(*u));
    ck_assert_ptr_nonnull(u);
    u->magic = SL_UPSTREAM_MAGIC;
    sl_str_set(&u->name, "many");
    ck_assert_int_eq(sl_array_init(&u->servers, pool, 130,
                                   sizeof(struct sl_upstream_server)),
                     SL_OK);
    for (i = 0; i < 130; i++) {
        s = sl_array_push(&u->servers);
        ck_assert_ptr_nonnull(s);
        s->magic = SL_UPSTREAM_SERVER_MAGIC;
        sl_str_set(&s->name, "x");
        s->weight = 1;
        s->max_fails = 1;
        s->fail_timeout = 10000;
    }
    u->nprimary = 130;
    u->balancer = &sl_balancer_round_robin;
    ck_assert_int_eq(u->balancer->init(NULL, u), SL_OK);
    memset(&tried, 0, sizeof(tried));
    for (i = 0; i < 130; i++)
        ck_assert_ptr_nonnull(get(u, &tried, NULL));
    ck_assert_uint_eq(tried.count, 130);
    for (i = 0; i < 130; i++)
        ck_assert(sl_upstream_tried_test(&tried, i));
    ck_assert(!sl_upstream_tried_test(&tried, 130));
    ck_assert_ptr_null(get(u, &tried, NULL));
}
END_TEST

START_TEST(test_rr_accounting)
{
    static const struct t_srv def[] = { D(1), D(1) };
    struct sl_upstream *u = group(def, 2);
    struct sl_upstream_server *s1, *s2, *s3;

    s1 = get(u, NULL, NULL);
    s2 = get(u, NULL, NULL);
    s3 = get(u, NULL, NULL);
    ck_assert_ptr_eq(s1, s3);
    ck_assert_int_eq(s1->conns, 2);
    ck_assert_int_eq(s2->conns, 1);
    ck_assert_uint_eq(s1->requests, 2);
    u->balancer->done(u, s1, 0);
    u->balancer->done(u, s3, 1);
    u->balancer->done(u, s2, 0);
    ck_assert_int_eq(s1->conns, 0);
    ck_assert_int_eq(s2->conns, 0);
    ck_assert_int_eq(s1->fails, 1);
    ck_assert_int_eq(s2->fails, 0);
    ck_assert_uint_eq(s1->requests, 2);
    ck_assert_uint_eq(s2->requests, 1);
    /* A failure lowers the failed server's share until it recovers. */
    ck_assert_int_eq(s1->effective_weight, 0);
}
END_TEST

/* The warning, once, when a server becomes unavailable. */
START_TEST(test_rr_warning)
{
    static const struct t_srv def[] = { { 1, 0, 0, 2, 0, 0 }, D(1) };
    struct sl_upstream *u = group(def, 2);
    char path[] = "/tmp/check_balancer.XXXXXX", buf[1024];
    int fd, saved_fd = sl_log_main.fd;
    ssize_t n;

    fd = mkstemp(path);
    ck_assert_int_ne(fd, -1);
    unlink(path);
    sl_log_main.fd = fd;
    sl_log_main.level = SL_LOG_WARN;
    fail_once(u, 'a');
    fail_once(u, 'a');
    sl_current_msec += 1;
    (void) get(u, NULL, NULL);     /* b: a is out */
    sl_log_main.fd = saved_fd;
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strstr(buf, "[warn]") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "upstream server 10.0.0.1:80 in \"t\" is "
                         "unavailable for 10s after 2 failures\n") != NULL,
                  "%s", buf);
    ck_assert_ptr_eq(strstr(buf, "\n"), strrchr(buf, '\n'));
}
END_TEST

/* ---- addresses --------------------------------------------------------- */

struct t_addr {
    const char  *in;
    int          rc;
    const char  *host;
    unsigned     port;
    const char  *reason;
};

static const struct t_addr addrs[] = {
    { "127.0.0.1:8080", SL_OK, "127.0.0.1", 8080, NULL },
    { "app1:8081", SL_OK, "app1", 8081, NULL },
    { "backend", SL_OK, "backend", 80, NULL },
    { "localhost:1", SL_OK, "localhost", 1, NULL },
    { "h:65535", SL_OK, "h", 65535, NULL },
    { "[::1]:8080", SL_OK, "::1", 8080, NULL },
    { "[::1]", SL_OK, "::1", 80, NULL },
    { "[fe80::1%eth0]:80", SL_OK, "fe80::1%eth0", 80, NULL },
    { "", SL_ERROR, NULL, 0, "no host" },
    { ":80", SL_ERROR, NULL, 0, "no host" },
    { "[]:80", SL_ERROR, NULL, 0, "no host" },
    { "h:", SL_ERROR, NULL, 0, "invalid port" },
    { "h:0", SL_ERROR, NULL, 0, "invalid port" },
    { "h:65536", SL_ERROR, NULL, 0, "invalid port" },
    { "h:8o", SL_ERROR, NULL, 0, "invalid port" },
    { "h:-1", SL_ERROR, NULL, 0, "invalid port" },
    { "::1", SL_ERROR, NULL, 0, "invalid host" },
    { "::1:80", SL_ERROR, NULL, 0, "invalid host" },
    { "[::1", SL_ERROR, NULL, 0, "invalid host" },
    { "[::1]80", SL_ERROR, NULL, 0, "invalid host" },
    { "[::1]:", SL_ERROR, NULL, 0, "invalid port" },
};

START_TEST(test_parse_addr)
{
    const struct t_addr *t = &addrs[_i];
    struct sl_str s, host;
    const char *reason = NULL;
    unsigned port = 0;
    int rc;

    s.data = (char *) t->in;
    s.len = strlen(t->in);
    rc = sl_upstream_parse_addr(&s, &host, &port, &reason);
    ck_assert_msg(rc == t->rc, "\"%s\": rc %d", t->in, rc);
    if (rc == SL_OK) {
        ck_assert_uint_eq(host.len, strlen(t->host));
        ck_assert(memcmp(host.data, t->host, host.len) == 0);
        ck_assert_uint_eq(port, t->port);
    } else {
        ck_assert_str_eq(reason, t->reason);
    }
    /* reason may be NULL */
    (void) sl_upstream_parse_addr(&s, &host, &port, NULL);
}
END_TEST

/* ---- configuration ----------------------------------------------------- */

static char conf_path[64];

static void
conf_setup(void)
{
    int fd;

    pool_setup();
    snprintf(conf_path, sizeof(conf_path), "/tmp/check_balancer.XXXXXX");
    fd = mkstemp(conf_path);
    ck_assert_int_ne(fd, -1);
    close(fd);
}

static void
conf_teardown(void)
{
    unlink(conf_path);
    pool_teardown();
}

static struct sl_cycle *
load(const char *text)
{
    FILE *f = fopen(conf_path, "w");

    ck_assert_ptr_nonnull(f);
    fprintf(f, "error_log stderr;\npid off;\ncontrol_socket off;\n%s", text);
    fclose(f);
    err[0] = '\0';
    return sl_cycle_load(conf_path, err, sizeof(err));
}

static struct sl_upstream *
find(struct sl_cycle *cycle, const char *name)
{
    struct sl_upstream_main_conf *umcf;
    struct sl_upstream **ups;
    unsigned i;

    umcf = cycle->main_conf[sl_upstream_module.index];
    ck_assert_ptr_nonnull(umcf);
    ups = umcf->upstreams.elts;
    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (sl_str_eq(&ups[i]->name, name))
            return ups[i];
    }
    return NULL;
}

static struct sl_upstream_server *
at(struct sl_upstream *u, unsigned i)
{
    ck_assert_uint_lt(i, u->servers.nelts);
    return sl_array_at(&u->servers, struct sl_upstream_server, i);
}

START_TEST(test_conf_good)
{
    struct sl_cycle *cycle;
    struct sl_upstream *u;

    cycle = load(
        "http {\n"
        "    keepalive_timeout 5s;\n"
        "    upstream app {\n"
        "        server 127.0.0.1:8081 weight=3 max_fails=2 "
        "fail_timeout=30s;\n"
        "        server 127.0.0.2:8082 backup;\n"
        "        server 127.0.0.3 down max_conns=10 slow_start=1m;\n"
        "        server [::1]:8083 max_fails=0 fail_timeout=500ms;\n"
        "        server localhost:8084 backup weight=1000;\n"
        "        keepalive 16;\n"
        "        keepalive_timeout 30s;\n"
        "        keepalive_requests 100;\n"
        "    }\n"
        "    upstream App2 { server 10.0.0.1:80; }\n"
        "    server { listen 127.0.0.1:8080; }\n"
        "}\n");
    ck_assert_msg(cycle != NULL, "%s", err);
    u = find(cycle, "app");
    ck_assert_ptr_nonnull(u);
    ck_assert(u->defined && !u->implicit);
    ck_assert_str_eq(u->file, conf_path);
    ck_assert_uint_eq(u->line, 6);
    ck_assert_ptr_eq(u->balancer, &sl_balancer_round_robin);
    ck_assert_uint_eq(u->servers.nelts, 5);
    ck_assert_uint_eq(u->nprimary, 3);
    ck_assert_int_eq(u->keepalive, 16);
    ck_assert_int_eq(u->keepalive_timeout, 30000);
    ck_assert_int_eq(u->keepalive_requests, 100);

    ck_assert_str_eq(at(u, 0)->addr_text, "127.0.0.1:8081");
    ck_assert_str_eq(at(u, 0)->name.data, "127.0.0.1:8081");
    ck_assert_int_eq(at(u, 0)->weight, 3);
    ck_assert_int_eq(at(u, 0)->effective_weight, 3);
    ck_assert_int_eq(at(u, 0)->max_fails, 2);
    ck_assert_int_eq(at(u, 0)->fail_timeout, 30000);
    ck_assert_int_eq(at(u, 0)->max_conns, 0);
    ck_assert_str_eq(at(u, 1)->addr_text, "127.0.0.3:80");
    ck_assert_str_eq(at(u, 1)->name.data, "127.0.0.3");
    ck_assert(at(u, 1)->down);
    ck_assert_int_eq(at(u, 1)->max_conns, 10);
    ck_assert_int_eq(at(u, 1)->slow_start, 60000);
    ck_assert_int_eq(at(u, 1)->weight, 1);
    ck_assert_int_eq(at(u, 1)->max_fails, 1);
    ck_assert_int_eq(at(u, 1)->fail_timeout, 10000);
    ck_assert_str_eq(at(u, 2)->addr_text, "[::1]:8083");
    ck_assert_int_eq(at(u, 2)->sa.sa.sa_family, AF_INET6);
    ck_assert_int_eq(at(u, 2)->max_fails, 0);
    ck_assert_int_eq(at(u, 2)->fail_timeout, 500);
    ck_assert_str_eq(at(u, 3)->addr_text, "127.0.0.2:8082");
    ck_assert(at(u, 3)->backup);
    /* localhost: every address it has, same parameters, name as written */
    ck_assert_str_eq(at(u, 4)->name.data, "localhost:8084");
    ck_assert(at(u, 4)->backup);
    ck_assert_int_eq(at(u, 4)->weight, 1000);
    ck_assert_uint_eq(sl_sockaddr_port(&at(u, 4)->sa.sa), 8084);

    /* Names compare without case; defaults. */
    u = find(cycle, "App2");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(u->keepalive, 0);
    ck_assert_int_eq(u->keepalive_timeout, 60000);
    ck_assert_int_eq(u->keepalive_requests, 1000);
    sl_pool_destroy(cycle->pool);
}
END_TEST

struct t_bad {
    const char  *conf;
    unsigned     line;
    const char  *msg;
};

static const struct t_bad bad[] = {
    { "http {\n upstream a { server 127.0.0.1:1; }\n"
      " upstream a { server 127.0.0.1:2; }\n}\n",
      6, "duplicate upstream \"a\"" },
    { "http {\n upstream a { server 127.0.0.1:1; }\n"
      " upstream A { server 127.0.0.1:2; }\n}\n",
      6, "duplicate upstream \"A\"" },
    { "http {\n upstream a {\n keepalive 2;\n }\n}\n",
      5, "no servers are inside upstream" },
    { "http {\n upstream a {\n }\n}\n",
      5, "no servers are inside upstream" },
    { "http {\n upstream a {\n server 127.0.0.1:1 weight=0;\n }\n}\n",
      6, "invalid parameter \"weight=0\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 weight=1001;\n }\n}\n",
      6, "invalid parameter \"weight=1001\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 weight=;\n }\n}\n",
      6, "invalid parameter \"weight=\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 max_fails=x;\n }\n}\n",
      6, "invalid parameter \"max_fails=x\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 fail_timeout=;\n }\n}\n",
      6, "invalid parameter \"fail_timeout=\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 fail_timeout=10q;\n"
      " }\n}\n",
      6, "invalid parameter \"fail_timeout=10q\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 max_conns=-1;\n }\n}\n",
      6, "invalid parameter \"max_conns=-1\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 Backup;\n }\n}\n",
      6, "invalid parameter \"Backup\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1 weight=2 drain;\n"
      " }\n}\n",
      6, "invalid parameter \"drain\"" },
    { "http {\n upstream a {\n server 127.0.0.1:0;\n }\n}\n",
      6, "invalid port in upstream \"127.0.0.1:0\"" },
    { "http {\n upstream a {\n server ::1:80;\n }\n}\n",
      6, "invalid host in upstream \"::1:80\"" },
    { "http {\n upstream a {\n server [1.2.3.4]:80;\n }\n}\n",
      6, "invalid host in upstream \"[1.2.3.4]:80\"" },
    { "http {\n upstream a {\n server 300.1.1.1:80;\n }\n}\n",
      6, "host not found in upstream \"300.1.1.1:80\"" },
    { "http {\n upstream a {\n server bad!host:80;\n }\n}\n",
      6, "host not found in upstream \"bad!host:80\"" },
    { "http {\n upstream a {\n server;\n }\n}\n",
      6, "invalid number of arguments in \"server\" directive" },
    { "http {\n upstream a {\n server 127.0.0.1:1 { }\n }\n}\n",
      6, "directive \"server\" is not terminated by \";\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n keepalive 0;\n"
      " }\n}\n",
      7, "invalid value \"0\" in \"keepalive\" directive, it must be "
         "1..65536" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n keepalive 65537;\n"
      " }\n}\n",
      7, "invalid value \"65537\" in \"keepalive\" directive, it must be "
         "1..65536" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n keepalive 1;\n"
      " keepalive 2;\n }\n}\n",
      8, "\"keepalive\" directive is duplicate (first at %s:7)" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n"
      " keepalive_timeout 1s;\n keepalive_timeout 2s;\n }\n}\n",
      8, "\"keepalive_timeout\" directive is duplicate (first at %s:7)" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n"
      " keepalive_timeout soon;\n }\n}\n",
      7, "invalid time \"soon\" in \"keepalive_timeout\" directive" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n"
      " keepalive_requests x;\n }\n}\n",
      7, "invalid number \"x\" in \"keepalive_requests\" directive" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n listen 80;\n }\n}\n",
      7, "\"listen\" directive is not allowed here" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n bogus;\n }\n}\n",
      7, "unknown directive \"bogus\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n"
      " upstream b { server 127.0.0.1:2; }\n }\n}\n",
      7, "\"upstream\" directive is not allowed here" },
    { "http {\n upstream a;\n}\n",
      5, "directive \"upstream\" has no opening \"{\"" },
    { "http {\n upstream { server 127.0.0.1:1; }\n}\n",
      5, "invalid number of arguments in \"upstream\" directive" },
    { "upstream a { server 127.0.0.1:1; }\n",
      4, "\"upstream\" directive is not allowed here" },
    { "http {\n server { keepalive 2; }\n}\n",
      5, "\"keepalive\" directive is not allowed here" },
};

START_TEST(test_conf_bad)
{
    const struct t_bad *t = &bad[_i];
    struct sl_cycle *cycle;
    char want[2 * SL_CONF_ERRLEN], msg[SL_CONF_ERRLEN];

    cycle = load(t->conf);
    ck_assert_msg(cycle == NULL, "accepted: %s", t->conf);
    snprintf(msg, sizeof(msg), t->msg, conf_path);
    snprintf(want, sizeof(want), "%s:%u: %s", conf_path, t->line, msg);
    ck_assert_str_eq(err, want);
}
END_TEST

/* http-level directives of the same names still work outside upstream. */
START_TEST(test_conf_namesakes)
{
    struct sl_cycle *cycle;

    cycle = load("http {\n keepalive_timeout 3s;\n keepalive_requests 5;\n"
                 " upstream u { server 127.0.0.1:1; keepalive_requests 7; }\n"
                 " server { listen 127.0.0.1:8080;\n"
                 "   location / { keepalive_timeout 1s; } }\n}\n");
    ck_assert_msg(cycle != NULL, "%s", err);
    ck_assert_int_eq(find(cycle, "u")->keepalive_requests, 7);
    sl_pool_destroy(cycle->pool);
}
END_TEST

/* A walker context inside http{}, as the http block sets it up. */
struct t_http {
    struct sl_cycle          cycle;
    void                    *main_conf[64];
    void                    *http_main[64];
    struct sl_conf_ctx       cf;
    struct sl_conf_node      node;
    void                    *conf;
};

static void
http_ctx(struct t_http *h)
{
    unsigned i;

    ck_assert_uint_lt(sl_nmodules, 64);
    /* As sl_cycle_load() does: a forked test may not have loaded one. */
    for (i = 0; i < sl_nmodules; i++)
        sl_modules[i]->index = i;
    memset(h, 0, sizeof(*h));
    h->cycle.magic = SL_CYCLE_MAGIC;
    h->cycle.pool = pool;
    h->cycle.main_conf = h->main_conf;
    h->cf.pool = pool;
    h->cf.cycle = &h->cycle;
    h->cf.main_conf = h->main_conf;
    h->cf.http_main_conf = h->http_main;
    h->cf.context = SL_CONF_LOCATION;
    h->cf.err = err;
    h->cf.errlen = sizeof(err);
    h->node.file = "/etc/sluice/x.conf";
    h->cf.node = &h->node;
    h->conf = sl_upstream_module.create_http_main(&h->cf);
    ck_assert_ptr_nonnull(h->conf);
    h->http_main[sl_upstream_module.index] = h->conf;
    ck_assert_ptr_eq(h->main_conf[sl_upstream_module.index], h->conf);
}

static struct sl_upstream *
ref(struct t_http *h, const char *name, unsigned line)
{
    struct sl_str s;

    s.data = (char *) name;
    s.len = strlen(name);
    h->node.line = line;
    return sl_upstream_add(&h->cf, &s);
}

START_TEST(test_implicit)
{
    struct t_http h;
    struct sl_upstream *u1, *u2, *u3, *u4;

    http_ctx(&h);
    u1 = ref(&h, "127.0.0.1:8081", 3);
    u2 = ref(&h, "localhost:8082", 4);
    u3 = ref(&h, "LOCALHOST", 5);
    u4 = ref(&h, "[::1]:8083", 6);
    ck_assert_ptr_nonnull(u1);
    ck_assert_ptr_eq(ref(&h, "127.0.0.1:8081", 9), u1);
    ck_assert_ptr_eq(ref(&h, "localhost", 10), u3);
    ck_assert(u1->implicit && !u1->defined);
    ck_assert_uint_eq(u1->line, 3);
    ck_assert_int_eq(sl_upstream_module.init_http_main(&h.cf, h.conf),
                     SL_OK);
    ck_assert_uint_eq(u1->servers.nelts, 1);
    ck_assert_uint_eq(u1->nprimary, 1);
    ck_assert_str_eq(at(u1, 0)->addr_text, "127.0.0.1:8081");
    ck_assert_int_eq(at(u1, 0)->weight, 1);
    ck_assert_int_eq(at(u1, 0)->max_fails, 1);
    ck_assert_int_eq(at(u1, 0)->fail_timeout, 10000);
    ck_assert_uint_ge(u2->servers.nelts, 1);
    ck_assert_uint_eq(sl_sockaddr_port(&at(u2, 0)->sa.sa), 8082);
    ck_assert_uint_eq(sl_sockaddr_port(&at(u3, 0)->sa.sa), 80);
    ck_assert_str_eq(at(u4, 0)->addr_text, "[::1]:8083");
    ck_assert_ptr_nonnull(u1->balancer->get(u1, NULL, NULL, NULL));
}
END_TEST

START_TEST(test_implicit_bad)
{
    static const struct {
        const char *name;
        const char *msg;
    } t[] = {
        /* A real name would be looked up: no query may leave the box. */
        { "app!", "host not found in upstream \"app!\"" },
        { "bad host:80", "host not found in upstream \"bad host:80\"" },
        { "app:http", "invalid port in upstream \"app:http\"" },
        { "1.2.3.4:99999", "invalid port in upstream \"1.2.3.4:99999\"" },
    };
    struct t_http h;
    char want[SL_CONF_ERRLEN];
    unsigned i;

    for (i = 0; i < sl_nelems(t); i++) {
        http_ctx(&h);
        ck_assert_ptr_nonnull(ref(&h, "127.0.0.1:1", 2));
        ck_assert_ptr_nonnull(ref(&h, t[i].name, 7));
        ck_assert_ptr_nonnull(ref(&h, t[i].name, 8));  /* keeps line 7 */
        snprintf(want, sizeof(want), "/etc/sluice/x.conf:7: %s", t[i].msg);
        err[0] = '\0';
        ck_assert_int_eq(sl_upstream_module.init_http_main(&h.cf, h.conf),
                         SL_ERROR);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

/* Referenced first, defined by upstream{} later: one group. */
START_TEST(test_reference_then_define)
{
    static const char text[] =
        "upstream backend {\n server 127.0.0.1:9001;\n"
        " server 127.0.0.1:9002 backup;\n server 127.0.0.1:9003;\n}\n";
    struct t_http h;
    struct sl_conf_node *root;
    struct sl_upstream *u;
    const struct sl_conf_cmd *cmd = &sl_upstream_module.cmds[0];

    http_ctx(&h);
    u = ref(&h, "backend", 40);
    ck_assert(u->implicit);
    ck_assert_int_eq(sl_conf_parse(pool, "/etc/sluice/u.conf", text,
                                   sizeof(text) - 1, &root, err,
                                   sizeof(err)), SL_OK);
    ck_assert_str_eq(cmd->name, "upstream");
    h.cf.node = root;
    h.cf.context = SL_CONF_HTTP;
    ck_assert_msg(cmd->set(&h.cf, cmd, h.conf) == SL_OK, "%s", err);
    ck_assert(u->defined && !u->implicit);
    ck_assert_str_eq(u->file, "/etc/sluice/u.conf");
    ck_assert_uint_eq(u->line, 1);
    ck_assert_ptr_null(h.cf.upstream);
    h.cf.node = &h.node;
    ck_assert_ptr_eq(ref(&h, "backend", 50), u);
    ck_assert_int_eq(sl_upstream_module.init_http_main(&h.cf, h.conf),
                     SL_OK);
    ck_assert_uint_eq(u->servers.nelts, 3);
    ck_assert_uint_eq(u->nprimary, 2);
    ck_assert_str_eq(at(u, 1)->addr_text, "127.0.0.1:9003");
    ck_assert_str_eq(at(u, 2)->addr_text, "127.0.0.1:9002");
}
END_TEST

/* ---- keepalive pool ---------------------------------------------------- */

struct t_pair {
    struct sl_conn  *c;     /* our side, in the pool or not */
    int              peer;  /* the "server" side */
};

static void
ka_setup(void)
{
    static int conns_ready;

    pool_setup();
    ck_assert_int_eq(sl_event_init(64), SL_OK);
    /* Slots cannot be freed: make them once (CK_FORK=no runs). */
    if (!conns_ready) {
        ck_assert_int_eq(sl_conn_init(16), SL_OK);
        conns_ready = 1;
    }
    sl_time_update();
}

static void
ka_teardown(void)
{
    sl_event_done();
    pool_teardown();
}

static void
pair(struct t_pair *p)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
                     0);
    p->c = sl_conn_get(sv[0]);
    ck_assert_ptr_nonnull(p->c);
    ck_assert_int_eq(sl_event_add_conn(sv[0], &p->c->read, &p->c->write),
                     SL_OK);
    p->peer = sv[1];
}

/* Whether our side of p was closed: the peer reads end of file. */
static int
closed(struct t_pair *p)
{
    char ch;
    ssize_t n;

    /* Unread bytes on our side make the close a reset. */
    n = recv(p->peer, &ch, 1, MSG_DONTWAIT);
    return n == 0 || (n == -1 && errno != EAGAIN);
}

static void
loop(void)
{
    unsigned i;

    for (i = 0; i < 3; i++)
        sl_event_process(5);
}

static struct sl_upstream *
ka_group(int keepalive)
{
    static const struct t_srv def[] = { D(1), D(1) };
    struct sl_upstream *u = group(def, 2);

    u->keepalive = keepalive;
    return u;
}

START_TEST(test_ka_get_put)
{
    struct sl_upstream *u = ka_group(4);
    struct sl_upstream_server *a = srv(u, 'a'), *b = srv(u, 'b');
    struct t_pair p1, p2;

    pair(&p1);
    pair(&p2);
    ck_assert_ptr_null(sl_upstream_keepalive_get(u, a));
    sl_upstream_keepalive_put(u, a, p1.c);
    sl_upstream_keepalive_put(u, b, p2.c);
    ck_assert_uint_eq(u->nidle, 2);
    ck_assert(p1.c->idle && p1.c->reusable);
    ck_assert(p1.c->read.timer_set);
    loop();                                  /* writable edges: ignored */
    ck_assert_uint_eq(u->nidle, 2);
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, a), p1.c);
    ck_assert_uint_eq(u->nidle, 1);
    ck_assert(!p1.c->idle && !p1.c->reusable && !p1.c->read.timer_set);
    ck_assert_ptr_null(p1.c->read.handler);
    ck_assert_ptr_null(p1.c->data);
    ck_assert_ptr_null(sl_upstream_keepalive_get(u, a));
    ck_assert(!closed(&p1) && !closed(&p2));
    /* Back again: the entry comes from the free list. */
    sl_upstream_keepalive_put(u, a, p1.c);
    ck_assert_uint_eq(u->nidle, 2);
    ck_assert_ptr_null(u->free_idle);
    sl_upstream_keepalive_close_all();       /* no cycle: nothing */
    ck_assert_uint_eq(u->nidle, 2);
    sl_conn_close(sl_upstream_keepalive_get(u, a));
    sl_conn_close(sl_upstream_keepalive_get(u, b));
    ck_assert_uint_eq(u->nidle, 0);
    close(p1.peer);
    close(p2.peer);
}
END_TEST

/* Most recent first for a server; the least recent goes when full. */
START_TEST(test_ka_lru)
{
    struct sl_upstream *u = ka_group(2);
    struct sl_upstream_server *a = srv(u, 'a');
    struct t_pair p[3];
    unsigned i;

    for (i = 0; i < 3; i++) {
        pair(&p[i]);
        sl_upstream_keepalive_put(u, a, p[i].c);
    }
    ck_assert_uint_eq(u->nidle, 2);
    ck_assert(closed(&p[0]));
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, a), p[2].c);
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, a), p[1].c);
    ck_assert_ptr_null(sl_upstream_keepalive_get(u, a));
    sl_conn_close(p[1].c);
    sl_conn_close(p[2].c);
    for (i = 0; i < 3; i++)
        close(p[i].peer);
}
END_TEST

START_TEST(test_ka_no_pool)
{
    struct sl_upstream *u = ka_group(0);
    struct t_pair p;

    pair(&p);
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p));
    close(p.peer);

    /* keepalive_requests 3: the third request is the last. */
    u->keepalive = 2;
    u->keepalive_requests = 3;
    pair(&p);
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, srv(u, 'a')), p.c);
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, srv(u, 'a')), p.c);
    ck_assert_uint_eq(p.c->requests, 2);
    ck_assert(!closed(&p));
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p));
    close(p.peer);

    /* The server already said something: not reusable. */
    pair(&p);
    ck_assert_int_eq(write(p.peer, "x", 1), 1);
    loop();
    p.c->read.ready = 1;
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p));
    close(p.peer);
}
END_TEST

/* The server closes, or talks, while idle: the pool closes its side. */
START_TEST(test_ka_server_closes)
{
    struct sl_upstream *u = ka_group(4);
    struct sl_upstream_server *a = srv(u, 'a');
    struct t_pair p1, p2, p3;

    pair(&p1);
    pair(&p2);
    pair(&p3);
    sl_upstream_keepalive_put(u, a, p1.c);
    sl_upstream_keepalive_put(u, a, p2.c);
    sl_upstream_keepalive_put(u, a, p3.c);
    close(p1.peer);
    ck_assert_int_eq(write(p2.peer, "HTTP/1.1 408\r\n", 14), 14);
    loop();
    ck_assert_uint_eq(u->nidle, 1);
    ck_assert(closed(&p2));
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, a), p3.c);
    sl_conn_close(p3.c);
    close(p2.peer);
    close(p3.peer);
    ck_assert_uint_eq(sl_conn_active_count(), 0);
}
END_TEST

/* get skips (and closes) entries whose server closed, unseen by the loop. */
START_TEST(test_ka_stale)
{
    struct sl_upstream *u = ka_group(4);
    struct sl_upstream_server *a = srv(u, 'a');
    struct t_pair p1, p2;

    pair(&p1);
    pair(&p2);
    sl_upstream_keepalive_put(u, a, p1.c);
    sl_upstream_keepalive_put(u, a, p2.c);
    p2.c->read.eof = 1;
    ck_assert_ptr_eq(sl_upstream_keepalive_get(u, a), p1.c);
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p2));
    sl_conn_close(p1.c);
    close(p1.peer);
    close(p2.peer);
}
END_TEST

START_TEST(test_ka_timeout)
{
    struct sl_upstream *u = ka_group(4);
    struct t_pair p;

    u->keepalive_timeout = 1;
    pair(&p);
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    ck_assert_uint_eq(u->nidle, 1);
    usleep(5000);
    loop();
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p));
    ck_assert_uint_eq(sl_event_timers(), 0);
    close(p.peer);
}
END_TEST

/* Out of slots, the worker closes idle connections to make room. */
START_TEST(test_ka_reusable)
{
    struct sl_upstream *u = ka_group(4);
    struct t_pair p;

    pair(&p);
    sl_upstream_keepalive_put(u, srv(u, 'a'), p.c);
    sl_conn_drain(1);
    ck_assert_uint_eq(u->nidle, 0);
    ck_assert(closed(&p));
    close(p.peer);
}
END_TEST

/* Warm: a long run of get/put allocates no entry beyond the first few. */
START_TEST(test_ka_free_list)
{
    struct sl_upstream *u = ka_group(2);
    struct sl_upstream_server *a = srv(u, 'a');
    struct sl_upstream_idle *seen[2] = { NULL, NULL };
    struct sl_conn *c;
    struct t_pair p[2];
    unsigned i;

    pair(&p[0]);
    pair(&p[1]);
    sl_upstream_keepalive_put(u, a, p[0].c);
    sl_upstream_keepalive_put(u, a, p[1].c);
    seen[0] = u->idle;
    seen[1] = u->idle->next;
    u->keepalive_requests = 10000;
    for (i = 0; i < 1000; i++) {
        c = sl_upstream_keepalive_get(u, a);
        ck_assert_ptr_nonnull(c);
        sl_upstream_keepalive_put(u, a, c);
        ck_assert(u->idle == seen[0] || u->idle == seen[1]);
    }
    sl_conn_close(sl_upstream_keepalive_get(u, a));
    sl_conn_close(sl_upstream_keepalive_get(u, a));
    close(p[0].peer);
    close(p[1].peer);
}
END_TEST

static Suite *
balancer_suite(void)
{
    Suite *s = suite_create("balancer");
    TCase *tc;

    tc = tcase_create("round_robin");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_rr_sequence);
    tcase_add_test(tc, test_rr_equal);
    tcase_add_test(tc, test_rr_weights_exact);
    tcase_add_test(tc, test_rr_smooth);
    tcase_add_test(tc, test_rr_down);
    tcase_add_test(tc, test_rr_all_down);
    tcase_add_test(tc, test_rr_backup);
    tcase_add_test(tc, test_rr_backup_tried);
    tcase_add_test(tc, test_rr_max_fails);
    tcase_add_test(tc, test_rr_fail_window);
    tcase_add_test(tc, test_rr_success_resets);
    tcase_add_test(tc, test_rr_max_fails_zero);
    tcase_add_test(tc, test_rr_single);
    tcase_add_test(tc, test_rr_all_failed);
    tcase_add_test(tc, test_rr_max_conns);
    tcase_add_test(tc, test_rr_full_and_failed);
    tcase_add_test(tc, test_rr_tried);
    tcase_add_test(tc, test_rr_tried_many);
    tcase_add_test(tc, test_rr_accounting);
    tcase_add_test(tc, test_rr_warning);
    suite_add_tcase(s, tc);

    tc = tcase_create("addr");
    tcase_add_loop_test(tc, test_parse_addr, 0, sl_nelems(addrs));
    suite_add_tcase(s, tc);

    tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, conf_setup, conf_teardown);
    tcase_add_test(tc, test_conf_good);
    tcase_add_loop_test(tc, test_conf_bad, 0, sl_nelems(bad));
    tcase_add_test(tc, test_conf_namesakes);
    tcase_add_test(tc, test_implicit);
    tcase_add_test(tc, test_implicit_bad);
    tcase_add_test(tc, test_reference_then_define);
    suite_add_tcase(s, tc);

    tc = tcase_create("keepalive");
    tcase_add_checked_fixture(tc, ka_setup, ka_teardown);
    tcase_add_test(tc, test_ka_get_put);
    tcase_add_test(tc, test_ka_lru);
    tcase_add_test(tc, test_ka_no_pool);
    tcase_add_test(tc, test_ka_server_closes);
    tcase_add_test(tc, test_ka_stale);
    tcase_add_test(tc, test_ka_timeout);
    tcase_add_test(tc, test_ka_reusable);
    tcase_add_test(tc, test_ka_free_list);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(balancer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

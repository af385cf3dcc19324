/*
 * check_balancers.c: unit tests of the balancing methods other than round
 * robin (src/upstream/sl_upstream_{least_conn,ip_hash,hash,random}.c),
 * the server state they share (sl_upstream_server.c), the CRC-32 the
 * hash methods use, and the balancing directives through the real
 * configuration loader.  check_balancer.c covers round robin itself.
 *
 * A distribution test asserts shares within a stated tolerance over many
 * picks; random is seeded, so its runs repeat.  Time is the cached clock,
 * set by the tests.
 */
#include "sl_core.h"
#include "sl_upstream.h"
#include "sl_crc32.h"
#include "sl_cycle.h"
#include "sl_http.h"
#include "sl_health.h"

#include <arpa/inet.h>
#include <check.h>

#define T0      1000000     /* a start time well above 0 */
#define NMAX    26

static struct sl_pool *pool;
static char err[SL_CONF_ERRLEN];

static void
setup(void)
{
    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    ck_assert_ptr_nonnull(pool);
    err[0] = '\0';
    sl_current_msec = T0;
    sl_log_main.level = SL_LOG_ERR;
    sl_upstream_random_seed(12345);
}

static void
teardown(void)
{
    sl_pool_destroy(pool);
    pool = NULL;
    sl_log_main.level = SL_LOG_NOTICE;
}

/* ---- hand-built groups ------------------------------------------------- */

struct t_srv {
    int          weight;            /* 0: 1 */
    unsigned     backup:1;
    unsigned     down:1;
    int          max_conns;
    const char  *name;              /* NULL: "10.0.0.(i+1):80" */
};

#define D(w)    { (w), 0, 0, 0, NULL }
#define DOWN(w) { (w), 0, 1, 0, NULL }
#define BACKUP(w) { (w), 1, 0, 0, NULL }

/*
 * A group of n servers at 10.0.0.(i+1):80, primaries first as the loader
 * leaves them, using balancer b; args are the balancing directive's
 * arguments (for hash and random), as the loader would pass them.
 */
static struct sl_upstream *
group(const struct sl_balancer *b, const char *a0, const char *a1,
    const struct t_srv *def, unsigned n)
{
    struct sl_conf_ctx cf;
    struct sl_conf_node node;
    struct sl_str args[2];
    struct sl_upstream *u;
    struct sl_upstream_server *s;
    unsigned i, pass;
    char *name;

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
            memset(s, 0, sizeof(*s));
            s->magic = SL_UPSTREAM_SERVER_MAGIC;
            s->sa.sin.sin_family = AF_INET;
            s->sa.sin.sin_port = htons(80);
            s->sa.sin.sin_addr.s_addr = htonl(0x0a000001 + i);
            s->socklen = sizeof(s->sa.sin);
            sl_sockaddr_ntop(&s->sa.sa, s->addr_text, sizeof(s->addr_text),
                             1);
            name = sl_pstrdupz(pool, def[i].name ? def[i].name
                                                 : s->addr_text);
            ck_assert_ptr_nonnull(name);
            s->name.data = name;
            s->name.len = strlen(name);
            s->weight = def[i].weight ? def[i].weight : 1;
            s->max_fails = 1;
            s->fail_timeout = 10000;
            s->max_conns = def[i].max_conns;
            s->backup = def[i].backup;
            s->down = def[i].down;
            if (!pass)
                u->nprimary++;
        }
    }

    memset(&cf, 0, sizeof(cf));
    memset(&node, 0, sizeof(node));
    cf.pool = pool;
    cf.err = err;
    cf.errlen = sizeof(err);
    cf.node = &node;
    node.file = "t.conf";
    node.line = 2;
    node.name.data = (char *) b->name;
    node.name.len = strlen(b->name);
    node.args = args;
    if (a0 != NULL) {
        args[node.nargs].data = (char *) a0;
        args[node.nargs++].len = strlen(a0);
    }
    if (a1 != NULL) {
        args[node.nargs].data = (char *) a1;
        args[node.nargs++].len = strlen(a1);
    }
    if (b->conf != NULL)
        ck_assert_msg(b->conf(&cf, u) == SL_OK, "%s", err);
    u->balancer = b;
    ck_assert_msg(b->init(&cf, u) == SL_OK, "%s", err);
    return u;
}

/* Server i of u (0 = "a", in written order for an all-primary group). */
static struct sl_upstream_server *
at(struct sl_upstream *u, unsigned i)
{
    ck_assert_uint_lt(i, u->servers.nelts);
    return sl_array_at(&u->servers, struct sl_upstream_server, i);
}

static unsigned
idx(struct sl_upstream *u, const struct sl_upstream_server *s)
{
    ck_assert_ptr_nonnull(s);
    return (unsigned) (s - (struct sl_upstream_server *) u->servers.elts);
}

static char
letter(struct sl_upstream *u, struct sl_upstream_server *s)
{
    return s == NULL ? '-' : (char) ('a' + idx(u, s));
}

/* A request with client address sa (or none) and $uri uri (or none). */
struct t_req {
    struct sl_http_request   r;
    struct sl_conn           c;
};

static struct sl_http_request *
req(struct t_req *t, const char *uri)
{
    memset(t, 0, sizeof(*t));
    t->r.magic = SL_HTTP_REQ_MAGIC;
    t->r.pool = pool;
    t->r.c = &t->c;
    t->c.peer.sin.sin_family = AF_INET;
    t->c.peer.sin.sin_addr.s_addr = htonl(0x7f000001);
    t->c.peer_len = sizeof(t->c.peer.sin);
    if (uri != NULL) {
        t->r.uri.data = (char *) uri;
        t->r.uri.len = strlen(uri);
    }
    return &t->r;
}

static struct sl_http_request *
req4(struct t_req *t, uint32_t addr)
{
    req(t, NULL);
    t->c.peer.sin.sin_addr.s_addr = htonl(addr);
    return &t->r;
}

static struct sl_http_request *
req6(struct t_req *t, const char *addr)
{
    req(t, NULL);
    memset(&t->c.peer, 0, sizeof(t->c.peer));
    t->c.peer.sin6.sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, addr, &t->c.peer.sin6.sin6_addr),
                     1);
    t->c.peer_len = sizeof(t->c.peer.sin6);
    return &t->r;
}

/* One fresh request's pick, finished at once (ok); NULL if none. */
static struct sl_upstream_server *
pick(struct sl_upstream *u, struct sl_http_request *r)
{
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s;
    int full;

    memset(&tried, 0, sizeof(tried));
    s = u->balancer->get(u, r, &tried, &full);
    if (s != NULL)
        u->balancer->done(u, s, 0);
    return s;
}

/* One fresh request's pick, kept (its connection stays counted). */
static struct sl_upstream_server *
hold(struct sl_upstream *u, struct sl_http_request *r)
{
    struct sl_upstream_tried tried;
    int full;

    memset(&tried, 0, sizeof(tried));
    return u->balancer->get(u, r, &tried, &full);
}

/* k picks of fresh requests, each finished at once; letters in out. */
static void
picks(struct sl_upstream *u, struct sl_http_request *r, unsigned k,
    char *out)
{
    unsigned i;

    for (i = 0; i < k; i++)
        out[i] = letter(u, pick(u, r));
    out[k] = '\0';
}

/* One request to server i that fails, picked by the balancer. */
static void
fail_once(struct sl_upstream *u, unsigned i)
{
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s;
    unsigned j;
    int full;

    memset(&tried, 0, sizeof(tried));
    for (j = 0; j < u->servers.nelts; j++) {
        if (j != i)
            sl_upstream_tried_set(&tried, j);
    }
    /* The hash methods may need their 20 misses to reach i: many tries. */
    for (j = 0; j < 30; j++) {
        s = u->balancer->get(u, NULL, &tried, &full);
        if (s != NULL)
            break;
    }
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(idx(u, s), i);
    u->balancer->done(u, s, 1);
}

/*
 * Asserts that count[i] / total is within tol (relative) of weight[i] /
 * the sum of the weights, for every server.
 */
static void
assert_shares(const unsigned *count, const int *weight, unsigned n,
    double tol)
{
    double total = 0, wsum = 0, want, got;
    unsigned i;

    for (i = 0; i < n; i++) {
        total += count[i];
        wsum += weight[i];
    }
    for (i = 0; i < n; i++) {
        want = weight[i] / wsum;
        got = count[i] / total;
        ck_assert_msg(got - want <= tol * want && want - got <= tol * want,
                      "server %c: share "
                      "%.4f, want %.4f +- %.0f%%", 'a' + i, got, want,
                      tol * 100);
    }
}

/* ---- crc32 ------------------------------------------------------------- */

START_TEST(test_crc32)
{
    uint32_t crc;

    ck_assert_uint_eq(sl_crc32("123456789", 9), 0xcbf43926U);
    ck_assert_uint_eq(sl_crc32("", 0), 0);
    ck_assert_uint_eq(sl_crc32("a", 1), 0xe8b7be43U);
    ck_assert_uint_eq(sl_crc32("The quick brown fox jumps over the lazy "
                               "dog", 43), 0x414fa339U);
    sl_crc32_init(crc);
    sl_crc32_update(&crc, "1234", 4);
    sl_crc32_update(&crc, "", 0);
    sl_crc32_update(&crc, "56789", 5);
    sl_crc32_final(crc);
    ck_assert_uint_eq(crc, 0xcbf43926U);
}
END_TEST

/* ---- server state ------------------------------------------------------ */

START_TEST(test_server_state)
{
    static const struct t_srv def[] = { { 2, 0, 0, 2, NULL }, D(1),
                                        DOWN(1) };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  3);
    struct sl_upstream_server *a = at(u, 0), *b = at(u, 1), *c = at(u, 2);
    int full = -1;

    ck_assert_int_eq(sl_upstream_server_weight(a), 2);
    ck_assert(sl_upstream_server_usable(u, a, &full) && full == 0);
    ck_assert(!sl_upstream_server_usable(u, c, &full) && full == 0);
    sl_upstream_server_acquire(u, a);
    sl_upstream_server_acquire(u, a);
    ck_assert_int_eq(sl_upstream_server_conns(a), 2);
    ck_assert(!sl_upstream_server_usable(u, a, &full) && full == 1);
    sl_upstream_server_release(u, a, 0);
    ck_assert(sl_upstream_server_usable(u, a, &full) && full == 0);
    sl_upstream_server_release(u, a, 0);
    sl_upstream_server_release(u, a, 0);    /* one too many: stays 0 */
    ck_assert_int_eq(sl_upstream_server_conns(a), 0);

    /* max_fails 1: one failure makes b unavailable for fail_timeout. */
    sl_upstream_server_acquire(u, b);
    sl_upstream_server_release(u, b, 1);
    ck_assert(!sl_upstream_server_usable(u, b, &full) && full == 0);
    sl_current_msec += 10000;
    ck_assert(sl_upstream_server_usable(u, b, &full));
    ck_assert_int_eq(sl_upstream_servers_init(NULL, u), SL_OK);
    ck_assert_int_eq(sl_upstream_server_conns(b), 0);
}
END_TEST

/* ---- least_conn -------------------------------------------------------- */

/* Nothing in flight: every pick is a tie, broken by smooth round robin. */
START_TEST(test_lc_idle_is_weighted_rr)
{
    static const struct t_srv def[] = { D(5), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  3);
    char out[64];

    picks(u, NULL, 14, out);
    ck_assert_str_eq(out, "aabacaaaabacaa");
}
END_TEST

START_TEST(test_lc_least_loaded)
{
    static const struct t_srv def[] = { D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  3);
    struct sl_upstream_server *held[30];
    unsigned i;

    for (i = 0; i < 30; i++)
        held[i] = hold(u, NULL);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(sl_upstream_server_conns(at(u, i)), 10);
    /* b finishes five: the next five go to b, then turns again. */
    for (i = 0; i < 30 && sl_upstream_server_conns(at(u, 1)) > 5; i++) {
        if (held[i] == at(u, 1))
            u->balancer->done(u, held[i], 0);
    }
    for (i = 0; i < 5; i++)
        ck_assert_ptr_eq(hold(u, NULL), at(u, 1));
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 1)), 10);

    /* Load from elsewhere (another worker, once shared) counts too. */
    for (i = 0; i < 7; i++)
        sl_upstream_server_acquire(u, at(u, 0));
    for (i = 0; i < 14; i++)
        ck_assert_ptr_ne(hold(u, NULL), at(u, 0));
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 1)), 17);
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 2)), 17);
}
END_TEST

/* Held connections end up proportional to the weights. */
START_TEST(test_lc_weights)
{
    static const struct t_srv def[] = { D(1), D(2), D(3), D(4) };
    static const int w[] = { 1, 2, 3, 4 };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  4);
    unsigned i, n, count[4];

    for (n = 1; n <= 50; n++) {
        for (i = 0; i < 10; i++)
            ck_assert_ptr_nonnull(hold(u, NULL));
        /* After every 10 picks the loads are exactly n * weight. */
        for (i = 0; i < 4; i++)
            ck_assert_int_eq(sl_upstream_server_conns(at(u, i)),
                             (int) n * w[i]);
    }
    /* Short requests (done at once) are spread by weight too. */
    for (i = 0; i < 4; i++)
        count[i] = 0;
    for (n = 0; n < 10000; n++)
        count[idx(u, pick(u, NULL))]++;
    assert_shares(count, w, 4, 0.01);
}
END_TEST

START_TEST(test_lc_usable)
{
    static const struct t_srv def[] = { D(1), DOWN(1), { 1, 0, 0, 1, NULL },
                                        D(1), BACKUP(1) };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  5);
    struct sl_upstream_server *s;
    char out[64];
    int full;

    /* Primaries a, b (down), c (max_conns 1), d; backup e. */
    picks(u, NULL, 6, out);
    ck_assert_str_eq(out, "acdacd");
    /* Held: c takes one (it is full then), a and d two each. */
    for (full = 0; full < 5; full++)
        ck_assert_ptr_nonnull(hold(u, NULL));
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 0)), 2);
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 1)), 0);
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 2)), 1);
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 3)), 2);
    u->balancer->done(u, at(u, 2), 0);

    /* a and d fail: c, then the backup when c is full. */
    fail_once(u, 0);
    fail_once(u, 3);
    picks(u, NULL, 3, out);
    ck_assert_str_eq(out, "ccc");
    s = hold(u, NULL);
    ck_assert_ptr_eq(s, at(u, 2));
    ck_assert_ptr_eq(hold(u, NULL), at(u, 4));
    ck_assert(at(u, 4)->backup);

    /* The backup failed, c full: none, and all_full as c is only full. */
    u->balancer->done(u, at(u, 4), 1);
    s = u->balancer->get(u, NULL, NULL, &full);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(full, 1);
}
END_TEST

START_TEST(test_lc_tried)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), BACKUP(1) };
    struct sl_upstream *u = group(&sl_balancer_least_conn, NULL, NULL, def,
                                  4);
    struct sl_upstream_tried tried;
    char seq[8];
    unsigned i;
    int full = -1;

    memset(&tried, 0, sizeof(tried));
    for (i = 0; i < 5; i++)
        seq[i] = letter(u, u->balancer->get(u, NULL, &tried, &full));
    seq[5] = '\0';
    ck_assert_str_eq(seq, "abcd-");
    ck_assert_int_eq(full, 0);
    ck_assert_uint_eq(tried.count, 4);
}
END_TEST

/* ---- ip_hash ----------------------------------------------------------- */

START_TEST(test_ip_hash_sticky)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 5);
    struct sl_upstream_server *s, *first;
    struct t_req t;
    unsigned i, x;

    for (x = 0; x < 200; x++) {
        first = pick(u, req4(&t, 0xc0a80000 + (x << 8)));
        for (i = 0; i < 256; i += 17) {
            /* Same /24, any last octet: the same server. */
            s = pick(u, req4(&t, 0xc0a80000 + (x << 8) + i));
            ck_assert_ptr_eq(s, first);
        }
    }
    /* nginx's value: 192.168.0.0/24 starts at 89, ends at hash % 5. */
    x = 89;
    x = (x * 113 + 192) % 6271;
    x = (x * 113 + 168) % 6271;
    x = (x * 113 + 0) % 6271;
    ck_assert_uint_eq(idx(u, pick(u, req4(&t, 0xc0a80007))), x % 5);
}
END_TEST

START_TEST(test_ip_hash_spread)
{
    static const struct t_srv def[] = { D(1), D(2), D(1), D(3) };
    static const int w[] = { 1, 2, 1, 3 };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 4);
    unsigned count[4] = { 0 }, x;
    struct t_req t;

    /* Every /24 of 10.0.0.0/8. */
    for (x = 0; x < 65536; x++)
        count[idx(u, pick(u, req4(&t, 0x0a000000 + (x << 8) + 1)))]++;
    assert_shares(count, w, 4, 0.05);
}
END_TEST

START_TEST(test_ip_hash_ipv6)
{
    static const struct t_srv def[] = { D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 3);
    struct sl_upstream_server *s;
    unsigned count[3] = { 0 }, i, differ = 0;
    struct t_req t;
    char a[64];

    for (i = 0; i < 3000; i++) {
        snprintf(a, sizeof(a), "2001:db8::%x", i);
        s = pick(u, req6(&t, a));
        count[idx(u, s)]++;
        /* The whole address counts: the last byte alone may move it. */
        snprintf(a, sizeof(a), "2001:db8::%x", i ^ 1);
        differ += pick(u, req6(&t, a)) != s;
        snprintf(a, sizeof(a), "2001:db8::%x", i);
        ck_assert_ptr_eq(pick(u, req6(&t, a)), s);
    }
    ck_assert_uint_gt(differ, 1000);
    for (i = 0; i < 3; i++)
        ck_assert_uint_gt(count[i], 800);

    /* An IPv4-mapped address is its IPv4 address. */
    for (i = 0; i < 100; i++) {
        snprintf(a, sizeof(a), "::ffff:172.16.%u.9", i);
        s = pick(u, req6(&t, a));
        ck_assert_ptr_eq(s, pick(u, req4(&t, 0xac100000 + (i << 8) + 1)));
    }
    /* No request (no address): three zero bytes, still one server. */
    s = pick(u, NULL);
    ck_assert_ptr_eq(pick(u, NULL), s);
    ck_assert_ptr_eq(pick(u, req4(&t, 0x00000001)), s);
}
END_TEST

/*
 * A server down, failed or full sends its clients elsewhere, and always
 * to the same other server; nobody else's clients move.
 */
START_TEST(test_ip_hash_unusable)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 4);
    unsigned before[512], after[512], x, moved = 0;
    struct t_req t;

    for (x = 0; x < 512; x++)
        before[x] = idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8))));
    at(u, 2)->down = 1;
    for (x = 0; x < 512; x++) {
        after[x] = idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8))));
        ck_assert_uint_ne(after[x], 2);
        if (before[x] != 2)
            ck_assert_uint_eq(after[x], before[x]);
        else
            moved++;
        ck_assert_uint_eq(idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8)))),
                          after[x]);
    }
    ck_assert_uint_gt(moved, 64);
    at(u, 2)->down = 0;

    /* Failed, then full: the same moves. */
    fail_once(u, 2);
    for (x = 0; x < 512; x++)
        ck_assert_uint_eq(idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8)))),
                          after[x]);
    ck_assert_int_eq(sl_upstream_servers_init(NULL, u), SL_OK);
    at(u, 2)->max_conns = 1;
    sl_upstream_server_acquire(u, at(u, 2));
    for (x = 0; x < 512; x++)
        ck_assert_uint_eq(idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8)))),
                          after[x]);
    sl_upstream_server_release(u, at(u, 2), 0);
    for (x = 0; x < 512; x++)
        ck_assert_uint_eq(idx(u, pick(u, req4(&t, 0x0b000000 + (x << 8)))),
                          before[x]);
}
END_TEST

/* A retry goes where the client would go with its server down. */
START_TEST(test_ip_hash_retry)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 5);
    struct sl_upstream_server *s1, *s2, *alone;
    struct sl_upstream_tried tried;
    struct t_req t;
    unsigned x, i;
    int full;

    for (x = 0; x < 100; x++) {
        req4(&t, 0x0c000000 + (x << 8));
        memset(&tried, 0, sizeof(tried));
        s1 = u->balancer->get(u, &t.r, &tried, &full);
        s2 = u->balancer->get(u, &t.r, &tried, &full);
        ck_assert_ptr_ne(s1, s2);
        u->balancer->done(u, s1, 1);
        u->balancer->done(u, s2, 0);
        sl_current_msec += 10000;            /* s1 back */
        s1->down = 1;
        alone = pick(u, &t.r);
        s1->down = 0;
        ck_assert_ptr_eq(alone, s2);
        /* Every server once, then none. */
        for (i = 2; i < 5; i++)
            ck_assert_ptr_nonnull(u->balancer->get(u, &t.r, &tried, &full));
        ck_assert_ptr_null(u->balancer->get(u, &t.r, &tried, &full));
        ck_assert_int_eq(full, 0);
        for (i = 0; i < 5; i++) {
            while (sl_upstream_server_conns(at(u, i)) > 0)
                u->balancer->done(u, at(u, i), 0);
        }
    }
}
END_TEST

START_TEST(test_ip_hash_none)
{
    static const struct t_srv def[] = { DOWN(1), { 1, 0, 0, 1, NULL },
                                        { 1, 0, 0, 1, NULL } };
    struct sl_upstream *u = group(&sl_balancer_ip_hash, NULL, NULL, def, 3);
    struct t_req t;
    int full = -1;

    ck_assert_ptr_nonnull(hold(u, req4(&t, 0x01020304)));
    ck_assert_ptr_nonnull(hold(u, req4(&t, 0x01020304)));
    ck_assert_ptr_null(u->balancer->get(u, &t.r, NULL, &full));
    ck_assert_int_eq(full, 1);
    at(u, 1)->down = 1;
    at(u, 2)->down = 1;
    ck_assert_ptr_null(u->balancer->get(u, &t.r, NULL, &full));
    ck_assert_int_eq(full, 0);
}
END_TEST

/* ---- hash -------------------------------------------------------------- */

static char keys[100000][16];

static void
make_keys(unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++)
        snprintf(keys[i], sizeof(keys[i]), "/k/%u", i);
}

START_TEST(test_hash_plain)
{
    static const struct t_srv def[] = { D(1), D(2), D(3) };
    static const int w[] = { 1, 2, 3 };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", NULL, def, 3);
    struct sl_upstream_server *s;
    unsigned count[3] = { 0 }, i;
    struct t_req t;
    uint32_t h;

    make_keys(60000);
    for (i = 0; i < 60000; i++) {
        s = pick(u, req(&t, keys[i]));
        count[idx(u, s)]++;
        if (i % 97 == 0)
            ck_assert_ptr_eq(pick(u, req(&t, keys[i])), s);
    }
    assert_shares(count, w, 3, 0.05);

    /* nginx's (Cache::Memcached's) value for a key. */
    h = (sl_crc32("/k/0", 4) >> 16) & 0x7fff;
    ck_assert_uint_eq(idx(u, pick(u, req(&t, "/k/0"))),
                      h % 6 < 1 ? 0 : h % 6 < 3 ? 1 : 2);
}
END_TEST

/* Without a key (empty, or no request): round robin. */
START_TEST(test_hash_empty_key)
{
    static const struct t_srv def[] = { D(5), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", "consistent",
                                  def, 3);
    struct sl_upstream *v = group(&sl_balancer_hash, "$uri", NULL, def, 3);
    struct t_req t;
    char out[64];

    picks(u, req(&t, NULL), 7, out);
    ck_assert_str_eq(out, "aabacaa");
    picks(v, NULL, 7, out);
    ck_assert_str_eq(out, "aabacaa");
}
END_TEST

START_TEST(test_hash_plain_unusable)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", NULL, def, 4);
    struct sl_upstream_tried tried;
    unsigned before[2000], i, moved = 0;
    struct t_req t;
    int full;

    make_keys(2000);
    for (i = 0; i < 2000; i++)
        before[i] = idx(u, pick(u, req(&t, keys[i])));
    at(u, 1)->down = 1;
    for (i = 0; i < 2000; i++) {
        unsigned now = idx(u, pick(u, req(&t, keys[i])));

        ck_assert_uint_ne(now, 1);
        if (before[i] != 1)
            ck_assert_uint_eq(now, before[i]);
        else
            moved++;
    }
    ck_assert_uint_gt(moved, 300);
    at(u, 1)->down = 0;

    /* A retry tries every server once, then there is none. */
    memset(&tried, 0, sizeof(tried));
    req(&t, "/retry");
    for (i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(u->balancer->get(u, &t.r, &tried, &full));
    ck_assert_ptr_null(u->balancer->get(u, &t.r, &tried, &full));
    ck_assert_uint_eq(tried.count, 4);
}
END_TEST

static struct t_srv ten[10];

/* Ten servers; without server `skip` (10: none). */
static struct sl_upstream *
ten_group(unsigned skip)
{
    static char names[10][32];
    struct t_srv def[10];
    unsigned i, n = 0;

    for (i = 0; i < 10; i++) {
        snprintf(names[i], sizeof(names[i]), "app%u.example:8080", i);
        if (i == skip)
            continue;
        def[n] = ten[i];
        def[n].weight = 1;
        def[n].name = names[i];
        n++;
    }
    return group(&sl_balancer_hash, "$uri", "consistent", def, n);
}

/*
 * Removing one server of ten moves about a tenth of the keys -- only its
 * own -- and every key keeps its server from one request to the next.
 */
START_TEST(test_chash_remap)
{
    static unsigned before[100000];
    struct sl_upstream *u = ten_group(10), *v;
    struct sl_upstream_server *s;
    unsigned i, k, removed = 3, moved, count[10] = { 0 };
    struct t_req t;
    struct sl_str *name;

    make_keys(100000);
    for (i = 0; i < 100000; i++) {
        before[i] = idx(u, pick(u, req(&t, keys[i])));
        count[before[i]]++;
    }
    for (i = 0; i < 10; i++)        /* no server far off its tenth */
        ck_assert_msg(count[i] > 5000 && count[i] < 16000, "%u: %u", i,
                      count[i]);

    v = ten_group(removed);
    moved = 0;
    for (i = 0; i < 100000; i++) {
        s = pick(v, req(&t, keys[i]));
        name = &at(u, before[i])->name;
        if (!sl_str_eqstr(&s->name, name)) {
            moved++;
            ck_assert_msg(before[i] == removed, "key %s moved from %.*s",
                          keys[i], (int) name->len, name->data);
        }
    }
    ck_assert_uint_eq(moved, count[removed]);
    ck_assert_msg(moved <= 1.3 * 100000 / 10, "moved %u", moved);

    /* Marking it down instead moves the same keys the same way. */
    at(u, removed)->down = 1;
    for (i = 0; i < 100000; i += 7) {
        s = pick(u, req(&t, keys[i]));
        k = idx(v, pick(v, req(&t, keys[i])));
        ck_assert(sl_str_eqstr(&s->name, &at(v, k)->name));
    }
}
END_TEST

START_TEST(test_chash_weights)
{
    static const struct t_srv def[] = { D(1), D(2), D(3), D(2) };
    static const int w[] = { 1, 2, 3, 2 };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", "consistent",
                                  def, 4);
    unsigned count[4] = { 0 }, i;
    struct t_req t;

    make_keys(80000);
    for (i = 0; i < 80000; i++)
        count[idx(u, pick(u, req(&t, keys[i])))]++;
    assert_shares(count, w, 4, 0.15);
}
END_TEST

/* Two addresses of one name share its points, by smooth round robin. */
START_TEST(test_chash_same_name)
{
    static const struct t_srv def[] = { { 1, 0, 0, 0, "app:80" },
                                        { 1, 0, 0, 0, "app:80" },
                                        { 1, 0, 0, 0, "db:80" } };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", "consistent",
                                  def, 3);
    struct sl_upstream *v;
    unsigned count[3] = { 0 }, i;
    struct t_req t;
    char out[16];

    make_keys(20000);
    for (i = 0; i < 20000; i++)
        count[idx(u, pick(u, req(&t, keys[i])))]++;
    /* app's half (about) is split evenly between its two addresses. */
    ck_assert_msg(count[0] + count[1] > 7000 && count[2] > 7000,
                  "%u %u %u", count[0], count[1], count[2]);
    ck_assert_int_le(abs((int) count[0] - (int) count[1]), 1);

    /* The ring is that of two names: a group of app and db agrees. */
    v = group(&sl_balancer_hash, "$uri", "consistent", def + 1, 2);
    for (i = 0; i < 20000; i += 3) {
        ck_assert(sl_str_eqstr(&pick(u, req(&t, keys[i]))->name,
                               &pick(v, req(&t, keys[i]))->name));
    }
    /* One key of app: its two addresses in turn. */
    for (i = 0; at(u, 2) == pick(u, req(&t, keys[i])); i++)
        ;
    picks(u, req(&t, keys[i]), 4, out);
    ck_assert(strcmp(out, "abab") == 0 || strcmp(out, "baba") == 0);
}
END_TEST

START_TEST(test_chash_retry)
{
    static const struct t_srv def[] = { D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_hash, "$uri", "consistent",
                                  def, 3);
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s1, *s2, *alone;
    struct t_req t;
    unsigned i;
    int full = -1;

    make_keys(300);
    for (i = 0; i < 300; i++) {
        req(&t, keys[i]);
        memset(&tried, 0, sizeof(tried));
        s1 = u->balancer->get(u, &t.r, &tried, &full);
        s2 = u->balancer->get(u, &t.r, &tried, &full);
        ck_assert_ptr_ne(s1, s2);
        u->balancer->done(u, s1, 0);
        u->balancer->done(u, s2, 0);
        s1->down = 1;
        alone = pick(u, &t.r);
        s1->down = 0;
        ck_assert_ptr_eq(alone, s2);
    }
    /* All full: all_full, after the fallback to round robin. */
    for (i = 0; i < 3; i++) {
        at(u, i)->max_conns = 1;
        sl_upstream_server_acquire(u, at(u, i));
    }
    ck_assert_ptr_null(u->balancer->get(u, req(&t, "/x"), NULL, &full));
    ck_assert_int_eq(full, 1);
}
END_TEST

/* ---- random ------------------------------------------------------------ */

START_TEST(test_random_weights)
{
    static const struct t_srv def[] = { D(1), D(2), D(3), D(4) };
    static const int w[] = { 1, 2, 3, 4 };
    struct sl_upstream *u = group(&sl_balancer_random, NULL, NULL, def, 4);
    unsigned count[4] = { 0 }, i;

    for (i = 0; i < 100000; i++)
        count[idx(u, pick(u, NULL))]++;
    assert_shares(count, w, 4, 0.05);

    /* Load plays no part without two. */
    for (i = 0; i < 50; i++)
        sl_upstream_server_acquire(u, at(u, 3));
    memset(count, 0, sizeof(count));
    for (i = 0; i < 100000; i++)
        count[idx(u, pick(u, NULL))]++;
    assert_shares(count, w, 4, 0.05);
}
END_TEST

START_TEST(test_random_two_prefers_less_loaded)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_random, "two", NULL, def, 4);
    unsigned count[4] = { 0 }, i;
    int lo, hi, c;

    /* a carries ten connections: two distinct draws never choose it. */
    for (i = 0; i < 10; i++)
        sl_upstream_server_acquire(u, at(u, 0));
    for (i = 0; i < 3000; i++)
        count[idx(u, pick(u, NULL))]++;
    ck_assert_uint_eq(count[0], 0);
    for (i = 1; i < 4; i++)
        ck_assert_uint_gt(count[i], 800);

    /* Long requests: the loads stay close, as with least_conn. */
    for (i = 0; i < 10; i++)
        sl_upstream_server_release(u, at(u, 0), 0);
    for (i = 0; i < 4000; i++) {
        ck_assert_ptr_nonnull(hold(u, NULL));
        lo = hi = sl_upstream_server_conns(at(u, 0));
        for (c = 1; c < 4; c++) {
            lo = sl_min(lo, sl_upstream_server_conns(at(u, c)));
            hi = sl_max(hi, sl_upstream_server_conns(at(u, c)));
        }
        ck_assert_int_le(hi - lo, 6);
    }
}
END_TEST

/* Loads are compared per unit of weight. */
START_TEST(test_random_two_weights)
{
    static const struct t_srv def[] = { D(1), D(3) };
    struct sl_upstream *u = group(&sl_balancer_random, "two", "least_conn",
                                  def, 2);
    unsigned i;

    /*
     * Two servers: a pick draws both, the lighter per weight wins.  (Now
     * and then 20 draws give only b and round robin decides: within 3.)
     */
    for (i = 0; i < 400; i++)
        ck_assert_ptr_nonnull(hold(u, NULL));
    ck_assert_int_le(abs(sl_upstream_server_conns(at(u, 0)) - 100), 3);
    ck_assert_int_eq(sl_upstream_server_conns(at(u, 0))
                     + sl_upstream_server_conns(at(u, 1)), 400);
}
END_TEST

START_TEST(test_random_usable)
{
    static const struct t_srv def[] = { D(1), DOWN(5), { 1, 0, 0, 2, NULL },
                                        D(1) };
    const char *two[] = { NULL, "two" };
    struct sl_upstream *u;
    struct sl_upstream_tried tried;
    struct sl_upstream_server *s;
    unsigned k, i, count[4];
    int full = -1;

    for (k = 0; k < 2; k++) {
        u = group(&sl_balancer_random, two[k], NULL, def, 4);
        memset(count, 0, sizeof(count));
        for (i = 0; i < 3000; i++)
            count[idx(u, pick(u, NULL))]++;
        ck_assert_uint_eq(count[1], 0);
        ck_assert(count[0] > 700 && count[2] > 700 && count[3] > 700);

        /* c full, d failed: only a. */
        ck_assert_ptr_nonnull(s = hold(u, NULL));
        while (sl_upstream_server_conns(at(u, 2)) < 2)
            sl_upstream_server_acquire(u, at(u, 2));
        fail_once(u, 3);
        for (i = 0; i < 200; i++)
            ck_assert_ptr_eq(pick(u, NULL), at(u, 0));

        /* A retry: a, then nothing (c full, so all_full). */
        memset(&tried, 0, sizeof(tried));
        ck_assert_ptr_eq(u->balancer->get(u, NULL, &tried, &full), at(u, 0));
        ck_assert_ptr_null(u->balancer->get(u, NULL, &tried, &full));
        ck_assert_int_eq(full, 1);
        ck_assert_uint_gt(tried.tries, 20);
    }
}
END_TEST

/* The same seed, the same picks; another seed, others. */
START_TEST(test_random_seed)
{
    static const struct t_srv def[] = { D(1), D(1), D(1), D(1) };
    struct sl_upstream *u = group(&sl_balancer_random, NULL, NULL, def, 4);
    char a[65], b[65], c[65];

    sl_upstream_random_seed(7);
    picks(u, NULL, 64, a);
    sl_upstream_random_seed(7);
    picks(u, NULL, 64, b);
    sl_upstream_random_seed(0);             /* from getrandom() */
    picks(u, NULL, 64, c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

/* ---- configuration ----------------------------------------------------- */

static char conf_path[64];

static void
conf_setup(void)
{
    int fd;

    setup();
    snprintf(conf_path, sizeof(conf_path), "/tmp/check_balancers.XXXXXX");
    fd = mkstemp(conf_path);
    ck_assert_int_ne(fd, -1);
    close(fd);
}

static void
conf_teardown(void)
{
    unlink(conf_path);
    teardown();
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
    ck_abort_msg("no upstream %s", name);
    return NULL;
}

START_TEST(test_conf_good)
{
    struct sl_cycle *cycle;
    struct sl_upstream *u;
    struct t_req t;

    cycle = load(
        "http {\n"
        "  upstream rr { server 127.0.0.1:1; server 127.0.0.1:2; }\n"
        "  upstream lc { least_conn; server 127.0.0.1:1;\n"
        "                server 127.0.0.1:2 backup; }\n"
        "  upstream lc2 { server 127.0.0.1:2 backup; least_conn;\n"
        "                 server 127.0.0.1:1; }\n"
        "  upstream ih { ip_hash; server 127.0.0.1:1 weight=2;\n"
        "                server 127.0.0.1:2 max_conns=3 down; }\n"
        "  upstream h { server 127.0.0.1:1; server 127.0.0.1:2;\n"
        "               hash $uri$arg_x; }\n"
        "  upstream ch { hash \"${host}-x\" consistent;\n"
        "                server 127.0.0.1:1; server 127.0.0.1:2;\n"
        "                keepalive 4; }\n"
        "  upstream r { random; server 127.0.0.1:1; }\n"
        "  upstream r2 { random two; server 127.0.0.1:1; }\n"
        "  upstream r3 { random two least_conn; server 127.0.0.1:1;\n"
        "                server 127.0.0.1:3; }\n"
        "  server { listen 127.0.0.1:8080; }\n"
        "}\n");
    ck_assert_msg(cycle != NULL, "%s", err);
    ck_assert_ptr_eq(find(cycle, "rr")->balancer, &sl_balancer_round_robin);
    ck_assert_ptr_eq(find(cycle, "lc")->balancer, &sl_balancer_least_conn);
    ck_assert_uint_eq(find(cycle, "lc")->nprimary, 1);
    ck_assert_ptr_eq(find(cycle, "lc2")->balancer, &sl_balancer_least_conn);
    ck_assert_ptr_eq(find(cycle, "ih")->balancer, &sl_balancer_ip_hash);
    ck_assert_ptr_eq(find(cycle, "h")->balancer, &sl_balancer_hash);
    ck_assert_ptr_eq(find(cycle, "ch")->balancer, &sl_balancer_hash);
    ck_assert_int_eq(find(cycle, "ch")->keepalive, 4);
    ck_assert_ptr_eq(find(cycle, "r")->balancer, &sl_balancer_random);
    ck_assert_ptr_eq(find(cycle, "r2")->balancer, &sl_balancer_random);
    ck_assert_ptr_eq(find(cycle, "r3")->balancer, &sl_balancer_random);

    /* They work as loaded. */
    u = find(cycle, "ih");
    ck_assert_ptr_eq(pick(u, req4(&t, 0x01020304)), at(u, 0));
    u = find(cycle, "h");
    ck_assert_ptr_nonnull(pick(u, req(&t, "/a")));
    u = find(cycle, "ch");
    ck_assert_ptr_nonnull(pick(u, req(&t, "/a")));
    u = find(cycle, "r");
    ck_assert_ptr_eq(pick(u, NULL), at(u, 0));
    u = find(cycle, "r3");
    ck_assert_ptr_nonnull(pick(u, NULL));
    sl_pool_destroy(cycle->pool);
}
END_TEST

struct t_bad {
    const char  *conf;
    unsigned     line;
    const char  *msg;
};

static const struct t_bad bad[] = {
    { "http {\n upstream a {\n least_conn;\n ip_hash;\n"
      " server 127.0.0.1:1;\n }\n}\n",
      7, "load balancing method redefined" },
    { "http {\n upstream a {\n hash $uri;\n hash $uri consistent;\n"
      " server 127.0.0.1:1;\n }\n}\n",
      7, "load balancing method redefined" },
    { "http {\n upstream a {\n random;\n server 127.0.0.1:1;\n"
      " least_conn;\n }\n}\n",
      8, "load balancing method redefined" },
    { "http {\n upstream a {\n least_conn x;\n server 127.0.0.1:1;\n }\n}\n",
      6, "invalid number of arguments in \"least_conn\" directive" },
    { "http {\n upstream a {\n ip_hash on;\n server 127.0.0.1:1;\n }\n}\n",
      6, "invalid number of arguments in \"ip_hash\" directive" },
    { "http {\n upstream a {\n hash;\n server 127.0.0.1:1;\n }\n}\n",
      6, "invalid number of arguments in \"hash\" directive" },
    { "http {\n upstream a {\n hash $uri consistent x;\n"
      " server 127.0.0.1:1;\n }\n}\n",
      6, "invalid number of arguments in \"hash\" directive" },
    { "http {\n upstream a {\n hash $uri Consistent;\n"
      " server 127.0.0.1:1;\n }\n}\n",
      6, "invalid parameter \"Consistent\"" },
    { "http {\n upstream a {\n hash $nosuch;\n server 127.0.0.1:1;\n }\n}\n",
      6, "unknown \"nosuch\" variable" },
    { "http {\n upstream a {\n random one;\n server 127.0.0.1:1;\n }\n}\n",
      6, "invalid parameter \"one\"" },
    { "http {\n upstream a {\n random two most_conn;\n"
      " server 127.0.0.1:1;\n }\n}\n",
      6, "invalid parameter \"most_conn\"" },
    { "http {\n upstream a {\n ip_hash;\n server 127.0.0.1:1;\n"
      " server 127.0.0.1:2 backup;\n }\n}\n",
      8, "balancing method does not support parameter \"backup\"" },
    { "http {\n upstream a {\n random two;\n"
      " server 127.0.0.1:2 weight=2 backup;\n }\n}\n",
      7, "balancing method does not support parameter \"backup\"" },
    { "http {\n upstream a {\n server 127.0.0.1:1;\n"
      " server 127.0.0.1:2 backup;\n hash $uri;\n }\n}\n",
      8, "balancing method \"hash\" does not support backup servers "
         "(\"127.0.0.1:2\")" },
    { "http {\n least_conn;\n}\n",
      5, "\"least_conn\" directive is not allowed here" },
    { "http {\n server {\n location / { hash $uri; }\n }\n}\n",
      6, "\"hash\" directive is not allowed here" },
};

START_TEST(test_conf_bad)
{
    const struct t_bad *t = &bad[_i];
    struct sl_cycle *cycle;
    char want[2 * SL_CONF_ERRLEN];

    cycle = load(t->conf);
    ck_assert_msg(cycle == NULL, "accepted: %s", t->conf);
    snprintf(want, sizeof(want), "%s:%u: %s", conf_path, t->line, t->msg);
    ck_assert_str_eq(err, want);
}
END_TEST


/*
 * slow_start: after a recovery the weight ramps from 1 to the full weight
 * over slow_start; runtime weight (sluicectl) and drain come from the
 * shared record.
 */
START_TEST(test_server_weight_shared)
{
    struct sl_upstream_server s;
    struct sl_health_peer peer;
    struct sl_upstream u;
    int full;

    memset(&s, 0, sizeof(s));
    memset(&peer, 0, sizeof(peer));
    memset(&u, 0, sizeof(u));
    s.magic = SL_UPSTREAM_SERVER_MAGIC;
    s.weight = 10;
    s.peer = &peer;
    sl_time_update();
    ck_assert_int_eq(sl_upstream_server_weight(&s), 10);
    atomic_store(&peer.weight, 4);
    ck_assert_int_eq(sl_upstream_server_weight(&s), 4);
    atomic_store(&peer.weight, 0);

    s.slow_start = 10000;
    atomic_store(&peer.recovered, sl_time_msec - 5000);
    ck_assert_int_eq(sl_upstream_server_weight(&s), 5);
    atomic_store(&peer.recovered, sl_time_msec - 100);
    ck_assert_int_eq(sl_upstream_server_weight(&s), 1);
    atomic_store(&peer.recovered, sl_time_msec - 20000);
    ck_assert_int_eq(sl_upstream_server_weight(&s), 10);

    /* drain and a failed check make it unusable; ready and up do not */
    u.magic = SL_UPSTREAM_MAGIC;
    ck_assert(sl_upstream_server_usable(&u, &s, &full));
    atomic_store(&peer.admin, SL_HEALTH_DRAIN);
    ck_assert(!sl_upstream_server_usable(&u, &s, &full));
    atomic_store(&peer.admin, SL_HEALTH_READY);
    atomic_store(&peer.state, SL_HEALTH_DOWN);
    ck_assert(!sl_upstream_server_usable(&u, &s, &full));
}
END_TEST

static Suite *
balancers_suite(void)
{
    Suite *s = suite_create("balancers");
    TCase *tc;

    tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_crc32);
    tcase_add_test(tc, test_server_state);
    suite_add_tcase(s, tc);

    tc = tcase_create("least_conn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lc_idle_is_weighted_rr);
    tcase_add_test(tc, test_lc_least_loaded);
    tcase_add_test(tc, test_lc_weights);
    tcase_add_test(tc, test_lc_usable);
    tcase_add_test(tc, test_lc_tried);
    suite_add_tcase(s, tc);

    tc = tcase_create("ip_hash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ip_hash_sticky);
    tcase_add_test(tc, test_ip_hash_spread);
    tcase_add_test(tc, test_ip_hash_ipv6);
    tcase_add_test(tc, test_ip_hash_unusable);
    tcase_add_test(tc, test_ip_hash_retry);
    tcase_add_test(tc, test_ip_hash_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hash_plain);
    tcase_add_test(tc, test_hash_empty_key);
    tcase_add_test(tc, test_hash_plain_unusable);
    tcase_add_test(tc, test_chash_remap);
    tcase_add_test(tc, test_chash_weights);
    tcase_add_test(tc, test_chash_same_name);
    tcase_add_test(tc, test_chash_retry);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_random_weights);
    tcase_add_test(tc, test_random_two_prefers_less_loaded);
    tcase_add_test(tc, test_random_two_weights);
    tcase_add_test(tc, test_random_usable);
    tcase_add_test(tc, test_random_seed);
    tcase_add_test(tc, test_server_weight_shared);
    suite_add_tcase(s, tc);

    tc = tcase_create("conf");
    tcase_add_checked_fixture(tc, conf_setup, conf_teardown);
    tcase_add_test(tc, test_conf_good);
    tcase_add_loop_test(tc, test_conf_bad, 0, sl_nelems(bad));
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(balancers_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * check_cache_store.c: unit tests of src/cache/sl_cache_store.c, the
 * shared-memory object store: create and reuse, bodies across many blocks
 * read back through body_iov, variants, reference counts, LRU eviction,
 * size limits, purge, expiry, request-collapsing claims, a lock holder
 * that dies, and several processes hammering one store at once.
 *
 * Stores live in MAP_SHARED anonymous mappings, as the master makes them.
 * Access times come from sl_time_msec, which the tests set by hand to
 * step the clock.
 */
#include "sl_core.h"
#include "sl_cache_store.h"

#include <check.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define KiB 1024

/* The store's clock: sl_time_msec, or the real time when that is 0. */
static int64_t
sl_cache_now_for_tests(void)
{
    struct timespec ts;

    if (sl_time_msec != 0)
        return sl_time_msec;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#define MiB (1024 * 1024)

static void *
map_zone(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

static void
check_store(struct sl_cache_store *s)
{
    char err[256];

    ck_assert_msg(sl_cache_store_check(s, err, sizeof(err)) == SL_OK,
                  "store check: %s", err);
}

/* Body bytes are a function of the key and the position. */
static uint32_t
key_seed(const char *key, size_t klen)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < klen; i++) {
        h ^= (unsigned char) key[i];
        h *= 16777619u;
    }
    return h;
}

static unsigned char
body_byte(uint32_t seed, int64_t i)
{
    return (unsigned char) ((seed >> (i % 24)) + (uint32_t) i * 131u
                            + (uint32_t) (i >> 11));
}

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void
fill_body(char *buf, uint32_t seed, int64_t off, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = (char) body_byte(seed, off + (int64_t) i);
}

/*
 * Stores key with a body of len bytes (appended in chunks of chunk) and
 * the given vary and head; returns SL_OK, or SL_ERROR when the store
 * refused it (then the object is aborted).
 */
static int
store_obj(struct sl_cache_store *s, const char *key, const char *vary,
    const char *head, int64_t len, size_t chunk)
{
    struct sl_cache_obj *o;
    uint32_t seed = key_seed(key, strlen(key));
    static char buf[64 * KiB];
    unsigned char meta[16];
    int64_t off;
    size_t n;

    memset(meta, 0xa5, sizeof(meta));
    o = sl_cache_obj_new(s, key, strlen(key), meta, sizeof(meta), vary,
                         strlen(vary), head, strlen(head));
    if (o == NULL)
        return SL_ERROR;
    for (off = 0; off < len; off += (int64_t) n) {
        n = (size_t) sl_min((int64_t) sl_min(chunk, sizeof(buf)), len - off);
        fill_body(buf, seed, off, n);
        if (sl_cache_obj_append(s, o, buf, n) != SL_OK) {
            sl_cache_obj_abort(s, o);
            return SL_ERROR;
        }
    }
    ck_assert_int_eq(sl_cache_obj_body_len(o), len);
    ck_assert_int_eq(sl_cache_obj_commit(s, o, NULL, NULL), SL_OK);
    return SL_OK;
}

/*
 * Whether the body of o holds key's bytes over [off, off + len), read
 * with at most niov iovecs a call.  No Check calls: the stress children
 * use it (Check's messages from several processes at once would mix).
 */
static int
body_ok(const struct sl_cache_obj *o, const char *key, int64_t off,
    int64_t len, int niov)
{
    uint32_t seed = key_seed(key, strlen(key));
    struct iovec iov[64];
    int64_t pos = off, end = off + len;
    int n, i;
    size_t j;

    while (pos < end) {
        n = sl_cache_obj_body_iov(o, pos, end - pos, iov, niov);
        if (n <= 0 || n > niov)
            return 0;
        for (i = 0; i < n; i++) {
            if (iov[i].iov_len == 0)
                return 0;
            for (j = 0; j < iov[i].iov_len; j++) {
                if (((unsigned char *) iov[i].iov_base)[j]
                    != body_byte(seed, pos + (int64_t) j))
                {
                    return 0;
                }
            }
            pos += (int64_t) iov[i].iov_len;
        }
        if (pos > end)
            return 0;
    }
    return 1;
}

/*
 * Checks the body of o against key's bytes, over [off, off + len) with at
 * most niov iovecs a call; returns the number of iovecs used in all.
 */
static int
verify_range(const struct sl_cache_obj *o, const char *key, int64_t off,
    int64_t len, int niov)
{
    uint32_t seed = key_seed(key, strlen(key));
    struct iovec iov[64];
    int64_t pos = off, end = off + len;
    int n, i, total = 0;
    size_t j;

    while (pos < end) {
        n = sl_cache_obj_body_iov(o, pos, end - pos, iov, niov);
        ck_assert_int_gt(n, 0);
        ck_assert_int_le(n, niov);
        total += n;
        for (i = 0; i < n; i++) {
            ck_assert_uint_gt(iov[i].iov_len, 0);
            for (j = 0; j < iov[i].iov_len; j++) {
                if (((unsigned char *) iov[i].iov_base)[j]
                    != body_byte(seed, pos + (int64_t) j))
                {
                    ck_abort_msg("key %s: body byte %lld differs", key,
                                 (long long) (pos + (int64_t) j));
                }
            }
            pos += (int64_t) iov[i].iov_len;
        }
        ck_assert_int_le(pos, end);
    }
    return total;
}

static void
verify_obj(const struct sl_cache_obj *o, const char *key, const char *vary,
    const char *head, int64_t len)
{
    const char *p;
    size_t n;

    sl_cache_obj_key(o, &p, &n);
    ck_assert_uint_eq(n, strlen(key));
    ck_assert(memcmp(p, key, n) == 0);
    sl_cache_obj_vary(o, &p, &n);
    ck_assert_uint_eq(n, strlen(vary));
    ck_assert(memcmp(p, vary, n) == 0);
    sl_cache_obj_head(o, &p, &n);
    ck_assert_uint_eq(n, strlen(head));
    ck_assert(memcmp(p, head, n) == 0);
    ck_assert_int_eq(((const unsigned char *) sl_cache_obj_meta(o))[0], 0xa5);
    ck_assert_int_eq(((const unsigned char *) sl_cache_obj_meta(o))[16], 0);
    ck_assert_int_eq(sl_cache_obj_body_len(o), len);
    if (len > 0)
        verify_range(o, key, 0, len, 64);
}

static int
lookup(struct sl_cache_store *s, const char *key, struct sl_cache_obj **o)
{
    return sl_cache_lookup(s, key, strlen(key), NULL, NULL, o);
}

/* key is found, with this vary, head and body. */
static void
expect_obj(struct sl_cache_store *s, const char *key, const char *vary,
    const char *head, int64_t len)
{
    struct sl_cache_obj *o;

    ck_assert_msg(lookup(s, key, &o) == SL_OK, "lookup of %s", key);
    verify_obj(o, key, vary, head, len);
    sl_cache_obj_release(s, o);
}

/* Nothing stored, nothing used, and the store checks out. */
static void
expect_empty(struct sl_cache_store *s)
{
    struct sl_cache_stats st;

    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.used, 0);
    check_store(s);
}

/* ---- create and reuse ------------------------------------------------------ */

START_TEST(test_create_reuse)
{
    size_t size = 2 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s, *r;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    struct iovec iov[4];

    ck_assert_ptr_null(sl_cache_store_create(base, SL_CACHE_STORE_MIN_SIZE - 1,
                                             64 * KiB));
    ck_assert_ptr_null(sl_cache_store_reuse(base, size, 64 * KiB));
    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_ptr_nonnull(s);
    check_store(s);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.size, size);
    ck_assert_uint_eq(st.used, 0);
    ck_assert_uint_gt(st.free, size * 3 / 4);
    ck_assert_uint_lt(st.free, size);
    ck_assert_uint_eq(st.max_object, 64 * KiB);

    ck_assert_int_eq(store_obj(s, "/kept", "", "HTTP/1.1 200 OK\r\n\r\n",
                               20000, 999), SL_OK);
    sl_cache_count(s, SL_CACHE_STAT_HIT, 3);

    /* A reload: same zone, new max_object; the object survives. */
    r = sl_cache_store_reuse(base, size, 128 * KiB);
    ck_assert_ptr_eq(r, s);
    sl_cache_store_stats(r, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_eq(st.max_object, 128 * KiB);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_HIT], 3);
    expect_obj(r, "/kept", "", "HTTP/1.1 200 OK\r\n\r\n", 20000);
    check_store(r);

    /* Another size or a damaged header is not reused. */
    ck_assert_ptr_null(sl_cache_store_reuse(base, size - 4096, 64 * KiB));
    ((unsigned *) s)[0] ^= 1;
    ck_assert_ptr_null(sl_cache_store_reuse(base, size, 64 * KiB));
    ((unsigned *) s)[0] ^= 1;
    ck_assert_ptr_eq(sl_cache_store_reuse(base, size, 64 * KiB), s);

    /*
     * create() starts over; objects of the old store still held (by old
     * workers at a reload) are left alone by the new one.
     */
    ck_assert_int_eq(lookup(r, "/kept", &o), SL_OK);
    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_int_eq(sl_cache_obj_body_iov(o, 0, 100, iov, 4), 0);
    sl_cache_obj_release(s, o);
    sl_cache_obj_remove(s, o);
    check_store(s);
    ck_assert_int_eq(lookup(s, "/kept", &o), SL_DECLINED);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.used, 0);
    ck_assert_str_eq(sl_cache_stat_name(SL_CACHE_STAT_HIT), "hit");
    ck_assert_str_eq(sl_cache_stat_name(SL_CACHE_STAT_COLLAPSED),
                     "collapsed");
    munmap(base, size);
}
END_TEST

/* Counters added up from several processes at once. */
START_TEST(test_counters)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    pid_t pids[4];
    int i, j, status;

    s = sl_cache_store_create(base, size, 64 * KiB);
    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        ck_assert_int_ne(pids[i], -1);
        if (pids[i] == 0) {
            for (j = 0; j < 100000; j++)
                sl_cache_count(s, SL_CACHE_STAT_HIT, 1);
            sl_cache_count(s, SL_CACHE_STAT_MISS, (uint64_t) i);
            _exit(0);
        }
    }
    for (j = 0; j < 100000; j++)
        sl_cache_count(s, SL_CACHE_STAT_HIT, 1);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    sl_cache_count(s, SL_CACHE_STAT_N, 5);      /* out of range: ignored */
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_HIT], 500000);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_MISS], 0 + 1 + 2 + 3);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_STORED], 0);
    munmap(base, size);
}
END_TEST

/* ---- bodies across blocks ------------------------------------------------ */

START_TEST(test_bodies)
{
    static const int64_t lens[] = {
        0, 1, 100, 575, 1000, 1023, 1024, 3000, 4095, 4096, 5000, 16383,
        16384, 65535, 65536, 70000, 200000, 1000003
    };
    size_t size = 8 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    char key[64], head[3000];
    int64_t len, off, l;
    unsigned i, k;
    int n;

    s = sl_cache_store_create(base, size, 2 * MiB);
    ck_assert_ptr_nonnull(s);
    memset(head, 'h', sizeof(head) - 1);
    head[sizeof(head) - 1] = '\0';
    for (i = 0; i < sl_nelems(lens); i++) {
        snprintf(key, sizeof(key), "/body/%lld", (long long) lens[i]);
        /* Odd chunk sizes, a long head on every third. */
        ck_assert_int_eq(store_obj(s, key, "gzip", i % 3 ? "H: v\r\n" : head,
                                   lens[i], 1 + (size_t) i * 777), SL_OK);
    }
    check_store(s);
    for (i = 0; i < sl_nelems(lens); i++) {
        len = lens[i];
        snprintf(key, sizeof(key), "/body/%lld", (long long) len);
        ck_assert_int_eq(lookup(s, key, &o), SL_OK);
        verify_obj(o, key, "gzip", i % 3 ? "H: v\r\n" : head, len);
        /* Ranges from odd offsets, with few iovecs per call. */
        for (k = 0; k < 20 && len > 0; k++) {
            off = (int64_t) ((k * 7919u * 1031u) % (uint64_t) len);
            l = sl_min(len - off, (int64_t) (1 + k * 12345));
            verify_range(o, key, off, l, 1 + (int) (k % 3));
        }
        /* Out of range asks give nothing. */
        ck_assert_int_eq(sl_cache_obj_body_iov(o, len, 10, NULL, 0), 0);
        if (len >= 200000) {
            /* Big runs: far fewer iovecs than 1 KiB blocks would need. */
            struct iovec iov[1024];

            n = sl_cache_obj_body_iov(o, 0, len, iov, 1024);
            ck_assert_int_lt(n, (int) (len / 4096));
            ck_assert_int_eq(verify_range(o, key, 0, len, 1024), n);
        }
        sl_cache_obj_release(s, o);
    }
    /* The writer reads its object back while it grows. */
    {
        static char buf[50000];
        uint32_t seed = key_seed("/growing", 8);

        o = sl_cache_obj_new(s, "/growing", 8, NULL, 0, "", 0, "H", 1);
        ck_assert_ptr_nonnull(o);
        fill_body(buf, seed, 0, 10000);
        ck_assert_int_eq(sl_cache_obj_append(s, o, buf, 10000), SL_OK);
        verify_range(o, "/growing", 0, 10000, 2);
        verify_range(o, "/growing", 9000, 1000, 1);
        fill_body(buf, seed, 10000, sizeof(buf));
        ck_assert_int_eq(sl_cache_obj_append(s, o, buf, sizeof(buf)), SL_OK);
        verify_range(o, "/growing", 9500, 60000 - 9500, 1);
        verify_range(o, "/growing", 0, 60000, 3);
        sl_cache_obj_abort(s, o);
    }
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, sl_nelems(lens));
    /* Little waste: under a quarter over the bytes stored plus headers. */
    ck_assert_uint_lt(st.used, (1000003 + 200000 + 70000 + 65536 * 2
                                + 16384 * 2 + 20000) * 5 / 4 + 40 * 1024);
    check_store(s);
    munmap(base, size);
}
END_TEST

/* ---- variants -------------------------------------------------------------- */

static int
match_vary(const struct sl_cache_obj *o, void *arg)
{
    const char *v;
    size_t n;

    sl_cache_obj_vary(o, &v, &n);
    return n == strlen(arg) && memcmp(v, arg, n) == 0;
}

static int
match_all(const struct sl_cache_obj *o, void *arg)
{
    (*(int *) arg)++;
    return 1;
}

static void
expect_head(struct sl_cache_store *s, const char *key, const char *vary,
    const char *head)
{
    struct sl_cache_obj *o;
    const char *h;
    size_t n;

    ck_assert_int_eq(sl_cache_lookup(s, key, strlen(key),
                                     vary ? match_vary : NULL, (void *) vary,
                                     &o), SL_OK);
    sl_cache_obj_head(o, &h, &n);
    ck_assert_uint_eq(n, strlen(head));
    ck_assert(memcmp(h, head, n) == 0);
    sl_cache_obj_release(s, o);
}

START_TEST(test_variants)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *o2;
    int calls = 0;

    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_int_eq(store_obj(s, "/v", "gzip", "A1", 5000, 512), SL_OK);
    ck_assert_int_eq(store_obj(s, "/v", "br", "B1", 300, 512), SL_OK);
    ck_assert_int_eq(store_obj(s, "/w", "gzip", "W1", 10, 512), SL_OK);
    expect_head(s, "/v", "gzip", "A1");
    expect_head(s, "/v", "br", "B1");
    expect_head(s, "/v", NULL, "B1");           /* the newest */
    ck_assert_int_eq(sl_cache_lookup(s, "/v", 2, match_vary, "zstd", &o),
                     SL_DECLINED);
    ck_assert_int_eq(sl_cache_lookup(s, "/x", 2, NULL, NULL, &o),
                     SL_DECLINED);

    /* Same vary: the new one replaces the old. */
    ck_assert_int_eq(store_obj(s, "/v", "gzip", "A2", 7000, 512), SL_OK);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 3);
    expect_head(s, "/v", "gzip", "A2");
    expect_head(s, "/v", "br", "B1");
    expect_head(s, "/v", NULL, "A2");
    expect_head(s, "/w", "gzip", "W1");         /* other keys untouched */

    /* A replace callback that takes every variant of the key. */
    o = sl_cache_obj_new(s, "/v", 2, NULL, 0, "", 0, "C", 1);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(sl_cache_obj_append(s, o, "xyz", 3), SL_OK);
    ck_assert_int_eq(sl_cache_obj_commit(s, o, match_all, &calls), SL_OK);
    ck_assert_int_eq(calls, 2);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 2);
    expect_head(s, "/v", NULL, "C");
    ck_assert_int_eq(sl_cache_lookup(s, "/v", 2, match_vary, "br", &o),
                     SL_DECLINED);

    /* set_meta rewrites the metadata in place. */
    ck_assert_int_eq(lookup(s, "/w", &o), SL_OK);
    sl_cache_obj_set_meta(s, o, "meta!", 5);
    ck_assert(memcmp(sl_cache_obj_meta(o), "meta!\0", 6) == 0);
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(lookup(s, "/w", &o), SL_OK);
    ck_assert(memcmp(sl_cache_obj_meta(o), "meta!\0", 6) == 0);
    sl_cache_obj_release(s, o);

    /* An aborted object was never visible and leaves nothing behind. */
    o = sl_cache_obj_new(s, "/ab", 3, NULL, 0, "", 0, "H", 1);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(sl_cache_obj_append(s, o, "body", 4), SL_OK);
    ck_assert_int_eq(lookup(s, "/ab", &o2), SL_DECLINED);
    check_store(s);
    sl_cache_obj_abort(s, o);
    ck_assert_int_eq(lookup(s, "/ab", &o2), SL_DECLINED);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 2);
    check_store(s);
    munmap(base, size);
}
END_TEST

/* ---- reference counts --------------------------------------------------- */

START_TEST(test_refcount)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *o2, *o3;

    s = sl_cache_store_create(base, size, 256 * KiB);
    ck_assert_int_eq(store_obj(s, "/r", "", "head", 100000, 4000), SL_OK);
    ck_assert_int_eq(lookup(s, "/r", &o), SL_OK);
    ck_assert_int_eq(lookup(s, "/r", &o2), SL_OK);
    ck_assert_ptr_eq(o, o2);

    /* Purged while two senders hold it: invisible, still readable. */
    ck_assert_int_eq(sl_cache_purge(s, "/r", 2), 1);
    ck_assert_int_eq(lookup(s, "/r", &o3), SL_DECLINED);
    check_store(s);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_ge(st.used, 100000);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_PURGED], 1);
    sl_cache_obj_release(s, o2);
    verify_obj(o, "/r", "", "head", 100000);

    /* A new version stored meanwhile does not disturb the old reader. */
    ck_assert_int_eq(store_obj(s, "/r", "", "head2", 50000, 4000), SL_OK);
    verify_obj(o, "/r", "", "head", 100000);
    sl_cache_obj_release(s, o);
    check_store(s);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_lt(st.used, 70000);

    /* obj_remove, with and without other references. */
    ck_assert_int_eq(lookup(s, "/r", &o), SL_OK);
    sl_cache_obj_remove(s, o);
    sl_cache_obj_remove(s, o);                  /* twice: no effect */
    ck_assert_int_eq(lookup(s, "/r", &o2), SL_DECLINED);
    verify_obj(o, "/r", "", "head2", 50000);
    sl_cache_obj_release(s, o);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.used, 0);
    ck_assert_uint_eq(st.entries, 0);
    check_store(s);
    munmap(base, size);
}
END_TEST

/* ---- LRU eviction ----------------------------------------------------------- */

START_TEST(test_lru)
{
    size_t size = 512 * KiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *held;
    char key[32];
    int i, j, found;
    int64_t len;

    sl_time_msec = 1000000;
    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_ptr_nonnull(s);
    /* A referenced object must outlive any amount of eviction. */
    ck_assert_int_eq(store_obj(s, "/held", "", "H", 30000, 8000), SL_OK);
    ck_assert_int_eq(lookup(s, "/held", &held), SL_OK);
    /* Hot keys are looked up every second; cold keys once, when stored. */
    for (i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "/hot/%d", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", 9000 + i * 100, 3000),
                         SL_OK);
    }
    for (i = 0; i < 300; i++) {
        sl_time_msec += 1000;
        for (j = 0; j < 8; j++) {
            snprintf(key, sizeof(key), "/hot/%d", j);
            ck_assert_int_eq(lookup(s, key, &o), SL_OK);
            sl_cache_obj_release(s, o);
        }
        snprintf(key, sizeof(key), "/cold/%d", i);
        len = 500 + (i * 7717) % 20000;
        ck_assert_int_eq(store_obj(s, key, "", "H", len, 2500), SL_OK);
    }
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.counters[SL_CACHE_STAT_EVICTED], 200);
    ck_assert_uint_eq(st.entries + st.counters[SL_CACHE_STAT_EVICTED],
                      300 + 8 + 1);
    ck_assert_uint_lt(st.free, 32 * KiB);
    check_store(s);

    /* Every hot key survived, and every surviving body is intact. */
    for (j = 0; j < 8; j++) {
        snprintf(key, sizeof(key), "/hot/%d", j);
        expect_obj(s, key, "", "H", 9000 + j * 100);
    }
    found = 0;
    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "/cold/%d", i);
        if (lookup(s, key, &o) != SL_OK)
            continue;
        found++;
        verify_obj(o, key, "", "H", 500 + (i * 7717) % 20000);
        sl_cache_obj_release(s, o);
    }
    /* The newest cold keys are the ones left. */
    snprintf(key, sizeof(key), "/cold/%d", 299);
    ck_assert_int_eq(lookup(s, key, &o), SL_OK);
    sl_cache_obj_release(s, o);
    ck_assert_int_gt(found, 5);
    ck_assert_int_lt(found, 100);

    /* The held object, the oldest of all, was never evicted. */
    ck_assert_int_eq(lookup(s, "/held", &o), SL_OK);
    ck_assert_ptr_eq(o, held);
    sl_cache_obj_release(s, o);
    verify_obj(held, "/held", "", "H", 30000);
    sl_cache_obj_release(s, held);
    check_store(s);
    sl_time_msec = 0;
    munmap(base, size);
}
END_TEST

/* A hit moves an object in the LRU at most once a second. */
START_TEST(test_lru_touch)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_obj *o;

    s = sl_cache_store_create(base, size, 64 * KiB);
    sl_time_msec = 9000000;
    ck_assert_int_eq(store_obj(s, "/a", "", "H", 10, 10), SL_OK);
    ck_assert_int_eq(store_obj(s, "/b", "", "H", 10, 10), SL_OK);
    /* Same second as its commit: /a stays the oldest. */
    sl_time_msec += 500;
    ck_assert_int_eq(lookup(s, "/a", &o), SL_OK);
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec + 1, 0, 1), 1);
    ck_assert_int_eq(lookup(s, "/a", &o), SL_DECLINED);
    ck_assert_int_eq(lookup(s, "/b", &o), SL_OK);
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(sl_cache_purge(s, "/b", 2), 1);

    ck_assert_int_eq(store_obj(s, "/c", "", "H", 10, 10), SL_OK);
    ck_assert_int_eq(store_obj(s, "/d", "", "H", 10, 10), SL_OK);
    /* The next second: /c moves to the new end, /d is the oldest. */
    sl_time_msec += 1000;
    ck_assert_int_eq(lookup(s, "/c", &o), SL_OK);
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec + 1, 0, 1), 1);
    ck_assert_int_eq(lookup(s, "/d", &o), SL_DECLINED);
    ck_assert_int_eq(lookup(s, "/c", &o), SL_OK);
    sl_cache_obj_release(s, o);
    check_store(s);
    sl_time_msec = 0;
    munmap(base, size);
}
END_TEST

/* ---- size limits --------------------------------------------------------- */

START_TEST(test_max_object)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    static char big[20000], key[SL_CACHE_KEY_MAX + 2];

    s = sl_cache_store_create(base, size, 10000);
    memset(big, 'x', sizeof(big));
    /* A head alone over the limit. */
    ck_assert_ptr_null(sl_cache_obj_new(s, "/m", 2, NULL, 0, "", 0, big,
                                        10001));
    ck_assert_ptr_null(sl_cache_obj_new(s, "/m", 2, big,
                                        SL_CACHE_META_SIZE + 1, "", 0, "h",
                                        1));
    memset(key, 'k', sizeof(key));
    ck_assert_ptr_null(sl_cache_obj_new(s, key, SL_CACHE_KEY_MAX + 1, NULL, 0,
                                        "", 0, "h", 1));
    /* The longest key is fine. */
    o = sl_cache_obj_new(s, key, SL_CACHE_KEY_MAX, NULL, 0, "", 0, "h", 1);
    ck_assert_ptr_nonnull(o);
    sl_cache_obj_abort(s, o);
    /* Head + body over the limit: the append that crosses it fails. */
    o = sl_cache_obj_new(s, "/m", 2, NULL, 0, "", 0, big, 1000);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(sl_cache_obj_append(s, o, big, 8000), SL_OK);
    ck_assert_int_eq(sl_cache_obj_append(s, o, big, 1000), SL_OK);
    ck_assert_int_eq(sl_cache_obj_append(s, o, big, 1), SL_ERROR);
    sl_cache_obj_abort(s, o);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.used, 0);
    check_store(s);
    munmap(base, size);
}
END_TEST

START_TEST(test_too_big)
{
    size_t size = 256 * KiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *held;
    static char chunk[16 * KiB];
    char key[32];
    int i, rc;

    /* max_object larger than the store: an object still cannot take it. */
    s = sl_cache_store_create(base, size, 1024 * MiB);
    ck_assert_ptr_nonnull(s);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_le(st.max_object, size / 2);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "/small/%d", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", 5000, 5000), SL_OK);
    }
    ck_assert_int_eq(lookup(s, "/small/0", &held), SL_OK);
    o = sl_cache_obj_new(s, "/huge", 5, NULL, 0, "", 0, "H", 1);
    ck_assert_ptr_nonnull(o);
    for (i = 0; i < 1000; i++) {
        rc = sl_cache_obj_append(s, o, chunk, sizeof(chunk));
        if (rc != SL_OK)
            break;
    }
    ck_assert_int_eq(rc, SL_ERROR);
    ck_assert_int_lt(i, 1000);
    sl_cache_obj_abort(s, o);
    check_store(s);
    /* The referenced object is still there, and the store still works. */
    verify_obj(held, "/small/0", "", "H", 5000);
    sl_cache_obj_release(s, held);
    ck_assert_int_eq(store_obj(s, "/after", "", "H", 50000, 7000), SL_OK);
    expect_obj(s, "/after", "", "H", 50000);

    /* Past the limit again, the rest evictable: refused, no endless loop. */
    ck_assert_int_eq(lookup(s, "/after", &held), SL_OK);
    o = sl_cache_obj_new(s, "/more", 5, NULL, 0, "", 0, "H", 1);
    ck_assert_ptr_nonnull(o);
    for (i = 0; i < 100; i++) {
        if (sl_cache_obj_append(s, o, chunk, sizeof(chunk)) != SL_OK)
            break;
    }
    ck_assert_int_lt(i, 100);
    sl_cache_obj_abort(s, o);
    verify_obj(held, "/after", "", "H", 50000);
    sl_cache_obj_release(s, held);
    check_store(s);
    munmap(base, size);
}
END_TEST

/*
 * Days of churn in a few seconds: objects of mixed sizes stored over and
 * over into a full store.  The store must stay well used (little stuck
 * in half-empty pages, little waste inside blocks), and give every block
 * back once emptied.
 */
START_TEST(test_churn)
{
    size_t size = 4 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    uint64_t x = 0x2545f4914f6cdd1dULL, r, stored;
    int64_t len;
    char key[32];
    int i, round;

    s = sl_cache_store_create(base, size, 256 * KiB);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 6000; i++) {
            r = xorshift(&x);
            snprintf(key, sizeof(key), "/ch/%u", (unsigned) (r % 5000));
            /* Mostly small, with phases that favour other sizes. */
            switch ((r >> 20) % (4 + round)) {
            case 0:
                len = (int64_t) ((r >> 32) % 120000);
                break;
            case 1:
                len = (int64_t) ((r >> 32) % 10000);
                break;
            default:
                len = (int64_t) ((r >> 32) % 900);
                break;
            }
            ck_assert_int_eq(store_obj(s, key, "", "HTTP/1.1 200 OK\r\n",
                                       len, 16 * KiB), SL_OK);
        }
        check_store(s);
        /* What is stored, against what it takes. */
        stored = 0;
        for (i = 0; i < 5000; i++) {
            snprintf(key, sizeof(key), "/ch/%d", i);
            if (lookup(s, key, &o) != SL_OK)
                continue;
            stored += (uint64_t) sl_cache_obj_body_len(o) + 600;
            sl_cache_obj_release(s, o);
        }
        sl_cache_store_stats(s, &st);
        ck_assert_msg(st.free < (st.used + st.free) / 10,
                      "round %d: %llu bytes free of %llu", round,
                      (unsigned long long) st.free,
                      (unsigned long long) (st.used + st.free));
        ck_assert_msg(stored > st.used * 7 / 10,
                      "round %d: %llu bytes stored in %llu used", round,
                      (unsigned long long) stored,
                      (unsigned long long) st.used);
    }
    ck_assert_int_gt(sl_cache_purge_prefix(s, "/ch/", 4), 0);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.used, 0);
    check_store(s);
    /* All pages whole again: the largest object fits without eviction. */
    ck_assert_int_eq(store_obj(s, "/whole", "", "H", 256 * KiB - 10, 16 * KiB),
                     SL_OK);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_EVICTED] > 0, 1);
    munmap(base, size);
}
END_TEST

/* ---- purge and expiry ------------------------------------------------------ */

START_TEST(test_purge)
{
    size_t size = 4 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    char key[32];
    int i;

    s = sl_cache_store_create(base, size, 64 * KiB);
    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "%s/%d", i % 2 ? "/a" : "/b", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", i * 10, 100), SL_OK);
    }
    ck_assert_int_eq(store_obj(s, "/a/1", "br", "H", 10, 100), SL_OK);
    ck_assert_int_eq(store_obj(s, "/a", "", "H", 10, 100), SL_OK);
    ck_assert_int_eq(sl_cache_purge(s, "/a/1", 4), 2);   /* both variants */
    ck_assert_int_eq(sl_cache_purge(s, "/a/1", 4), 0);
    ck_assert_int_eq(lookup(s, "/a/1", &o), SL_DECLINED);
    ck_assert_int_eq(lookup(s, "/a/3", &o), SL_OK);
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(sl_cache_purge_prefix(s, "/a/", 3), 99);
    ck_assert_int_eq(lookup(s, "/a/3", &o), SL_DECLINED);
    ck_assert_int_eq(lookup(s, "/a", &o), SL_OK);        /* not "/a/" */
    sl_cache_obj_release(s, o);
    ck_assert_int_eq(lookup(s, "/b/100", &o), SL_OK);
    sl_cache_obj_release(s, o);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 101);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_PURGED], 101);
    ck_assert_int_eq(sl_cache_purge_prefix(s, "", 0), 101);
    expect_empty(s);
    munmap(base, size);
}
END_TEST

START_TEST(test_expire)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *held;
    char key[32];
    int i, kept;

    sl_time_msec = 5000000;
    s = sl_cache_store_create(base, size, 64 * KiB);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "/e/%d", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", 3000, 1000), SL_OK);
    }
    /* A referenced inactive object stays until released. */
    ck_assert_int_eq(lookup(s, "/e/1", &held), SL_OK);
    sl_time_msec += 5000;
    for (i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "/e/%d", i * 3);
        ck_assert_int_eq(lookup(s, key, &o), SL_OK);
        sl_cache_obj_release(s, o);
    }
    sl_time_msec += 5000;
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec, 60000, 100), 0);
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec, 7000, 2), 2);
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec, 7000, 100), 4);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 4);
    ck_assert_uint_eq(st.counters[SL_CACHE_STAT_INACTIVE], 6);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "/e/%d", i);
        kept = i == 0 || i == 1 || i == 3 || i == 6;
        ck_assert_msg(lookup(s, key, &o) == (kept ? SL_OK : SL_DECLINED),
                      "key %s", key);
        if (kept)
            sl_cache_obj_release(s, o);
    }
    sl_cache_obj_release(s, held);
    check_store(s);
    sl_time_msec = 0;
    munmap(base, size);
}
END_TEST

/* ---- claims -------------------------------------------------------------- */

START_TEST(test_claims)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    int p[2], status, i, busy;
    char c, key[32];
    pid_t pid;

    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 1000, 5000), SL_OK);
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 1100, 5000), SL_AGAIN);
    ck_assert_int_eq(sl_cache_claim(s, "/d", 2, 1100, 5000), SL_OK);
    sl_cache_unclaim(s, "/c", 2);
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 1200, 5000), SL_OK);
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 6100, 5000), SL_AGAIN);
    /* Older than max_ms: taken over. */
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 6200, 5000), SL_OK);
    ck_assert_int_eq(sl_cache_claim(s, "/c", 2, 6300, 5000), SL_AGAIN);
    sl_cache_unclaim(s, "/c", 2);
    sl_cache_unclaim(s, "/d", 2);

    /* Many fetches in flight at once: (nearly) all are recorded. */
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "/many/%d", i);
        ck_assert_int_eq(sl_cache_claim(s, key, strlen(key), 2000, 5000),
                         SL_OK);
    }
    for (i = 0, busy = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "/many/%d", i);
        busy += sl_cache_claim(s, key, strlen(key), 2100, 5000) == SL_AGAIN;
    }
    ck_assert_int_ge(busy, 495);      /* 2048 slots in sets of 8 */
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "/many/%d", i);
        sl_cache_unclaim(s, key, strlen(key));
    }
    for (i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "/many/%d", i);
        ck_assert_int_eq(sl_cache_claim(s, key, strlen(key), 2200, 5000),
                         SL_OK);
        sl_cache_unclaim(s, key, strlen(key));
    }

    /* A live owner elsewhere keeps its claim; our unclaim is no-op. */
    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        close(p[0]);
        c = sl_cache_claim(s, "/e", 2, 1000, 5000) == SL_OK ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    close(p[1]);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_eq(sl_cache_claim(s, "/e", 2, 1100, 5000), SL_AGAIN);
    sl_cache_unclaim(s, "/e", 2);
    ck_assert_int_eq(sl_cache_claim(s, "/e", 2, 1200, 5000), SL_AGAIN);
    /* The owner dies: the claim is taken over at once. */
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(p[0]);
    ck_assert_int_eq(sl_cache_claim(s, "/e", 2, 1300, 5000), SL_OK);
    ck_assert_int_eq(sl_cache_claim(s, "/e", 2, 1400, 5000), SL_AGAIN);
    sl_cache_unclaim(s, "/e", 2);
    munmap(base, size);
}
END_TEST

/* ---- a lock holder dies ------------------------------------------------------ */

START_TEST(test_dead_holder)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    int status, k;
    pid_t pid;

    s = sl_cache_store_create(base, size, 64 * KiB);
    ck_assert_int_eq(store_obj(s, "/k", "", "H", 3000, 1000), SL_OK);
    /* k 0: the key's stripe; k 1: the allocator's lock. */
    for (k = 0; k < 2; k++) {
        pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
            sl_cache_store_test_lock(s, k == 0 ? "/k" : NULL, 2);
            _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_uint_eq(sl_cache_store_test_recovered(s), (unsigned) k);
        if (k == 0) {
            expect_obj(s, "/k", "", "H", 3000);
        } else {
            ck_assert_int_eq(store_obj(s, "/k2", "", "H", 3000, 1000),
                             SL_OK);
        }
        ck_assert_uint_eq(sl_cache_store_test_recovered(s),
                          (unsigned) k + 1);
        check_store(s);
    }
    munmap(base, size);
}
END_TEST

/*
 * A process dies holding the allocator lock in the middle of relinking
 * (simulated by garbling the lists): the next taker rebuilds them from the
 * blocks; every object survives but the dead process's unfinished one.
 */
START_TEST(test_rebuild)
{
    size_t size = 2 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *held;
    static char chunk[5000];
    char key[32];
    int i, status;
    pid_t pid;

    s = sl_cache_store_create(base, size, 256 * KiB);
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "/rb/%d", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", (i * 7919) % 70000, 3000),
                         SL_OK);
    }
    ck_assert_int_eq(lookup(s, "/rb/3", &held), SL_OK);
    ck_assert_int_eq(sl_cache_purge(s, "/rb/3", 5), 1);   /* in limbo */

    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        o = sl_cache_obj_new(s, "/dying", 6, NULL, 0, "", 0, "H", 1);
        if (o == NULL || sl_cache_obj_append(s, o, chunk, sizeof(chunk))
                         != SL_OK)
        {
            _exit(1);
        }
        sl_cache_store_test_damage(s);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The first to take the lock rebuilds. */
    ck_assert_int_eq(store_obj(s, "/after", "", "H", 12345, 1000), SL_OK);
    ck_assert_uint_eq(sl_cache_store_test_recovered(s), 1);
    check_store(s);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 40);
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "/rb/%d", i);
        if (i == 3) {
            ck_assert_int_eq(lookup(s, key, &o), SL_DECLINED);
            continue;
        }
        expect_obj(s, key, "", "H", (i * 7919) % 70000);
    }
    verify_obj(held, "/rb/3", "", "H", (3 * 7919) % 70000);
    sl_cache_obj_release(s, held);
    /* Nothing leaked: emptied, the store is all free again. */
    ck_assert_int_eq(sl_cache_purge_prefix(s, "/", 1), 40);
    expect_empty(s);
    munmap(base, size);
}
END_TEST

/* A writer dies while writing: expire() frees its object. */
START_TEST(test_dead_writer)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    static char chunk[30000];
    int status;
    pid_t pid;

    sl_time_msec = 7000000;
    s = sl_cache_store_create(base, size, 256 * KiB);
    ck_assert_int_eq(store_obj(s, "/live", "", "H", 3000, 3000), SL_OK);
    /* Our own unfinished object must stay. */
    o = sl_cache_obj_new(s, "/mine", 5, NULL, 0, "", 0, "H", 1);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(sl_cache_obj_append(s, o, chunk, 1000), SL_OK);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct sl_cache_obj *c;

        c = sl_cache_obj_new(s, "/dying", 6, NULL, 0, "", 0, "H", 1);
        _exit(c == NULL || sl_cache_obj_append(s, c, chunk, sizeof(chunk))
                           != SL_OK);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.used, 30000);
    /* Too early to look: nothing happens. */
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec + 1000, 3600000, 100), 0);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.used, 30000);
    ck_assert_int_eq(sl_cache_expire(s, sl_time_msec + 20000, 3600000, 100),
                     0);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_lt(st.used, 10000);
    check_store(s);
    ck_assert_int_eq(sl_cache_obj_commit(s, o, NULL, NULL), SL_OK);
    ck_assert_int_eq(lookup(s, "/mine", &o), SL_OK);
    ck_assert_int_eq(sl_cache_obj_body_len(o), 1000);
    sl_cache_obj_release(s, o);
    check_store(s);
    sl_time_msec = 0;
    munmap(base, size);
}
END_TEST

/*
 * References held by a process that dies are given back by the next
 * expire(); those of a live process are not.  The dead one churned its
 * ledger first (tombstones, compaction) so that the sweep reads a ledger
 * that has seen some life.
 */
/*
 * n random steps over the six slots of held (empty at the start): an
 * empty slot looks up one of /dr/0../dr/39, a full one is released.
 * SL_ERROR if a lookup failed.  No Check calls: a child runs it too.
 */
static int
hold_random(struct sl_cache_store *s, struct sl_cache_obj **held, int n,
    uint64_t *x)
{
    char key[32];
    int i, k;

    memset(held, 0, 6 * sizeof(*held));
    for (k = 0; k < n; k++) {
        i = (int) (xorshift(x) % 6);
        if (held[i] != NULL) {
            sl_cache_obj_release(s, held[i]);
            held[i] = NULL;
        } else {
            snprintf(key, sizeof(key), "/dr/%d", (int) (xorshift(x) % 40));
            if (lookup(s, key, &held[i]) != SL_OK)
                return SL_ERROR;
        }
    }
    return SL_OK;
}

START_TEST(test_dead_reader)
{
    size_t size = 1 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o, *held[6];
    uint64_t x = 12345;
    char key[32];
    int i, status, p[2];
    pid_t pid, live;
    char c;

    s = sl_cache_store_create(base, size, 64 * KiB);
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "/dr/%d", i);
        ck_assert_int_eq(store_obj(s, key, "", "H", 1000 + i * 500, 4000),
                         SL_OK);
    }
    /* In this process: many lookups and releases, then nothing held. */
    ck_assert_int_eq(hold_random(s, held, 3000, &x), SL_OK);
    for (i = 0; i < 6; i++) {
        if (held[i] != NULL)
            sl_cache_obj_release(s, held[i]);
    }

    /* A child does the same and dies holding up to six. */
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0)
        _exit(hold_random(s, held, 3001, &x) == SL_OK ? 0 : 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Another child holds one and stays alive. */
    ck_assert_int_eq(pipe(p), 0);
    live = fork();
    ck_assert_int_ne(live, -1);
    if (live == 0) {
        close(p[0]);
        c = lookup(s, "/dr/0", &o) == SL_OK ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    close(p[0]);

    ck_assert_int_eq(sl_cache_purge_prefix(s, "/dr/", 4), 40);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.used, 0);
    sl_cache_expire(s, sl_cache_now_for_tests(), 3600000, 100);
    sl_cache_store_stats(s, &st);
    /* Only what the live child holds is left. */
    ck_assert_uint_gt(st.used, 0);
    ck_assert_uint_le(st.used, 8 * KiB);
    check_store(s);
    kill(live, SIGKILL);
    ck_assert_int_eq(waitpid(live, &status, 0), live);
    /* The dead are looked for every few seconds. */
    sl_cache_expire(s, sl_cache_now_for_tests() + 1000, 3600000, 100);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.used, 0);
    sl_cache_expire(s, sl_cache_now_for_tests() + 6000, 3600000, 100);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.used, 0);
    check_store(s);
    munmap(base, size);
}
END_TEST

/* ---- many processes -------------------------------------------------------- */

#define STRESS_KEYS     1500
#define STRESS_CHILDREN 4
#ifndef STRESS_KILLS
#define STRESS_KILLS    40      /* -DSTRESS_KILLS=1000 for a long soak */
#endif

static int64_t
stress_len(const char *key)
{
    uint32_t h = key_seed(key, strlen(key));

    /* Mostly small, some medium, a few large. */
    switch (h % 10) {
    case 0:
        return (int64_t) (h >> 8) % 200000;
    case 1: case 2: case 3:
        return (int64_t) (h >> 8) % 30000;
    default:
        return (int64_t) (h >> 8) % 2000;
    }
}


/* One child: random lookups, stores, aborts and purges for ms. */
static void
stress_child(struct sl_cache_store *s, unsigned id, int64_t ms)
{
    struct sl_cache_obj *o;
    struct timespec t0, t;
    uint64_t x = 0x9e3779b97f4a7c15ULL * (id + 1), r;
    char key[48], head[96], hk[16];
    static char buf[16 * KiB];
    int64_t len, off, n;
    uint32_t seed;
    const char *h;
    size_t hl;
    int ok, ops = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        /* A few seconds, and enough work even on a loaded machine. */
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000
            > ms && ops > 2000)
        {
            break;
        }
        ops++;
        r = xorshift(&x);
        snprintf(key, sizeof(key), "/s/%u", (unsigned) (r % STRESS_KEYS));
        len = stress_len(key);
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nX-Key: %s\r\n", key);
        switch ((r >> 32) % 100) {
        case 0:
            sl_cache_purge(s, key, strlen(key));
            continue;
        case 1:
            if ((r >> 40) % 50 == 0) {
                snprintf(key, sizeof(key), "/s/%u", (unsigned) (r % 10));
                sl_cache_purge_prefix(s, key, strlen(key));
            }
            continue;
        default:
            break;
        }
        if (sl_cache_lookup(s, key, strlen(key), NULL, NULL, &o) == SL_OK) {
            sl_cache_obj_head(o, &h, &hl);
            if (hl != strlen(head) || memcmp(h, head, hl) != 0
                || sl_cache_obj_body_len(o) != len)
            {
                _exit(10);
            }
            if (len > 0) {
                off = (int64_t) ((r >> 16) % (uint64_t) len);
                if (!body_ok(o, key, off, len - off, 8)
                    || !body_ok(o, key, 0, sl_min(len, 3000), 2))
                {
                    _exit(11);
                }
            }
            sl_cache_obj_release(s, o);
            continue;
        }
        if (sl_cache_claim(s, key, strlen(key), t.tv_sec * 1000, 2000)
            != SL_OK)
        {
            continue;
        }
        snprintf(hk, sizeof(hk), "%u", id);
        o = sl_cache_obj_new(s, key, strlen(key), hk, strlen(hk), "", 0,
                             head, strlen(head));
        ok = o != NULL;
        seed = key_seed(key, strlen(key));
        for (off = 0; ok && off < len; off += n) {
            n = sl_min(len - off, (int64_t) (1 + (r >> 20) % sizeof(buf)));
            fill_body(buf, seed, off, (size_t) n);
            ok = sl_cache_obj_append(s, o, buf, (size_t) n) == SL_OK;
        }
        if (o != NULL) {
            if (ok && (r >> 48) % 20 != 0)
                sl_cache_obj_commit(s, o, NULL, NULL);
            else
                sl_cache_obj_abort(s, o);
        }
        sl_cache_unclaim(s, key, strlen(key));
    }
    _exit(0);
}

START_TEST(test_stress)
{
    size_t size = 6 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    pid_t pids[STRESS_CHILDREN], victim, pid;
    int i, status, hits = 0;
    char key[48];

    s = sl_cache_store_create(base, size, 256 * KiB);
    ck_assert_ptr_nonnull(s);
    for (i = 0; i < STRESS_CHILDREN; i++) {
        pids[i] = fork();
        ck_assert_int_ne(pids[i], -1);
        if (pids[i] == 0)
            stress_child(s, (unsigned) i, 3000);
    }
    /* One more process grabs a stripe lock and dies holding it. */
    victim = fork();
    ck_assert_int_ne(victim, -1);
    if (victim == 0) {
        usleep(300000);
        sl_cache_store_test_lock(s, "/s/7", 4);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(victim, &status, 0), victim);
    /* The check holds while they work (it takes every lock). */
    for (i = 0; i < 5; i++) {
        usleep(300000);
        check_store(s);
    }
    for (i = 0; i < STRESS_CHILDREN; i++) {
        pid = waitpid(pids[i], &status, 0);
        ck_assert_int_eq(pid, pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %d", i, status);
    }
    check_store(s);
    ck_assert_uint_eq(sl_cache_store_test_recovered(s), 1);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_gt(st.counters[SL_CACHE_STAT_EVICTED], 0);
    ck_assert_uint_le(st.entries, STRESS_KEYS);
    ck_assert_uint_le(st.used + st.free, size);
    ck_assert_uint_gt(st.used + st.free, size * 3 / 4);
    /* What is left reads back right. */
    for (i = 0; i < STRESS_KEYS; i++) {
        snprintf(key, sizeof(key), "/s/%d", i);
        if (lookup(s, key, &o) != SL_OK)
            continue;
        hits++;
        verify_range(o, key, 0, sl_cache_obj_body_len(o), 64);
        ck_assert_int_eq(sl_cache_obj_body_len(o), stress_len(key));
        sl_cache_obj_release(s, o);
    }
    ck_assert_uint_eq((uint64_t) hits, st.entries);
    /* Empty it: every block comes back. */
    sl_cache_purge_prefix(s, "", 0);
    expect_empty(s);
    munmap(base, size);
}
END_TEST

/*
 * Processes killed at random moments, many times over, while others keep
 * working: whatever lock a victim held is recovered (the allocator's
 * lists rebuilt), and the store stays sound and serves right bytes.
 */
START_TEST(test_stress_kill)
{
    size_t size = 6 * MiB;
    char *base = map_zone(size);
    struct sl_cache_store *s;
    struct sl_cache_stats st;
    struct sl_cache_obj *o;
    pid_t workers[2], pid;
    int i, status, hits = 0;
    uint64_t x = 88172645463325252ULL;
    char key[48];

    s = sl_cache_store_create(base, size, 256 * KiB);
    ck_assert_ptr_nonnull(s);
    for (i = 0; i < 2; i++) {
        workers[i] = fork();
        ck_assert_int_ne(workers[i], -1);
        if (workers[i] == 0)
            stress_child(s, (unsigned) i, sl_max(3000, STRESS_KILLS * 40));
    }
    for (i = 0; i < STRESS_KILLS; i++) {
        pid = fork();
        ck_assert_int_ne(pid, -1);
        if (pid == 0)
            stress_child(s, 10 + (unsigned) i, 100000);
        usleep((useconds_t) (10000 + xorshift(&x) % 50000));
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        if (i % 10 == 9)
            check_store(s);         /* sound at any moment */
    }
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(waitpid(workers[i], &status, 0), workers[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "worker %d: status %d", i, status);
    }
    /* Objects the victims were writing go once seen orphaned. */
    sl_cache_expire(s, sl_cache_now_for_tests() + 60000, 3600000, 0);
    check_store(s);
    sl_cache_store_stats(s, &st);
    for (i = 0; i < STRESS_KEYS; i++) {
        snprintf(key, sizeof(key), "/s/%d", i);
        if (lookup(s, key, &o) != SL_OK)
            continue;
        hits++;
        ck_assert_int_eq(sl_cache_obj_body_len(o), stress_len(key));
        verify_range(o, key, 0, sl_cache_obj_body_len(o), 64);
        sl_cache_obj_release(s, o);
    }
    /*
     * A victim killed between linking an object and indexing it (holding
     * the stripe, so a lock was recovered) leaves it unfindable until it
     * is evicted.
     */
    ck_assert_uint_le((uint64_t) hits, st.entries);
    ck_assert_uint_ge((uint64_t) hits + sl_cache_store_test_recovered(s),
                      st.entries);
    /*
     * Emptied, and the victims' references given back: what stays is what
     * a victim killed between taking a reference and listing it (or
     * unlisting and dropping it) leaked, a window of a few instructions.
     */
    sl_cache_purge_prefix(s, "", 0);
    sl_cache_expire(s, sl_cache_now_for_tests(), 3600000, 0);
    sl_cache_store_stats(s, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_le(st.used, 3 * 256 * KiB);
    check_store(s);
    munmap(base, size);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cache_store");
    TCase *tc = tcase_create("all");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_reuse);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_bodies);
    tcase_add_test(tc, test_variants);
    tcase_add_test(tc, test_refcount);
    tcase_add_test(tc, test_lru);
    tcase_add_test(tc, test_lru_touch);
    tcase_add_test(tc, test_max_object);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_churn);
    tcase_add_test(tc, test_purge);
    tcase_add_test(tc, test_expire);
    tcase_add_test(tc, test_claims);
    tcase_add_test(tc, test_dead_holder);
    tcase_add_test(tc, test_rebuild);
    tcase_add_test(tc, test_dead_writer);
    tcase_add_test(tc, test_dead_reader);
    tcase_add_test(tc, test_stress);
    tcase_add_test(tc, test_stress_kill);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

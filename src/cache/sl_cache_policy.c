/*
 * sl_cache_policy.c: RFC 9111 rules for a shared cache (sl_cache_policy.h).
 *
 * Everything here is a pure function of parsed heads and times: no
 * allocation, no locks, no clock.  The functions on the hit path (cc_parse of
 * the request, usable, vary_match, conditional, range) are linear in the
 * size of the heads they look at.
 *
 * Choices for malformed input (RFC 9111 4.2.1 lets a cache either use the
 * first value or treat the response as stale; we pick, and the man page
 * lists these):
 *   - Cache-Control, CDN-Cache-Control, dates: see sl_cache_fields.c,
 *     which parses them.
 *   - Expires: an invalid date ("0", garbage) means already expired
 *     (RFC 9111 5.3); several Expires lines with different values mean
 *     stale; ignored when max-age or s-maxage is present.
 *   - Age: the first member of the first line is used (RFC 9111 5.1); a
 *     value that is not a non-negative integer is ignored (age 0);
 *     values beyond 2^31 saturate.
 *   - Date: the first line; absent or invalid -> the time the response
 *     was received (RFC 9110 6.6.1).
 *   - Range: only "bytes" with one range; several ranges -> full body
 *     (unless none is satisfiable: 416); any invalid element -> the
 *     field is ignored; an empty body -> full body; HEAD -> ignored.
 */
#include "sl_core.h"
#include "sl_http_parse.h"
#include "sl_cache_policy.h"
#include "sl_cache_fields.h"

#define SL_CACHE_HEURISTIC_MAX  86400       /* 1 day */

static int
sl_cache_has_field(const struct sl_http_head *h, const char *name,
    size_t nlen)
{
    unsigned  i = 0;

    return sl_cache_next_field(h, name, nlen, sl_http_hash_name(name, nlen),
                               &i) != NULL;
}

static const struct sl_http_header *
sl_cache_first_field(const struct sl_http_head *h, const char *name)
{
    int  i = sl_http_find_header(h, name);

    return i < 0 ? NULL : &h->headers[i];
}

/* ---- storing (RFC 9111 3, 4.2) ------------------------------------------ */

/* RFC 9110 15.1: heuristically cacheable status codes. */
static int
sl_cache_heuristic_status(int status)
{
    switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return 1;
    }
    return 0;
}

/*
 * Status codes whose caching requirements we implement (for
 * must-understand, RFC 9111 5.2.2.3).  206 and 304 are not among them:
 * we store only complete responses.
 */
static int
sl_cache_understood_status(int status)
{
    switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 302: case 303:
    case 307: case 308: case 404: case 405: case 410: case 414: case 501:
        return 1;
    }
    return 0;
}

/* First member of the first Age line, or -1 (RFC 9111 5.1). */
static int64_t
sl_cache_age_field(const struct sl_http_head *h)
{
    const struct sl_http_header  *f;
    const char                   *p, *e;

    f = sl_cache_first_field(h, "Age");
    if (f == NULL) {
        return -1;
    }
    p = f->value.data;
    e = p;
    while (e < p + f->value.len && *e != ',') {
        e++;
    }
    while (e > p && sl_cache_is_ows((unsigned char) e[-1])) {
        e--;
    }
    return sl_cache_delta(p, (size_t) (e - p));
}

/*
 * Expires (RFC 9111 5.3): returns 1 and *t when present; an invalid date
 * gives *t = 0 (already expired), and so do several lines that disagree
 * (RFC 9111 4.2.1: "the response should be considered stale").
 */
static int
sl_cache_expires(const struct sl_http_head *h, int64_t *t)
{
    const struct sl_http_header  *f, *first = NULL;
    unsigned                      i = 0;
    uint32_t                      hash;

    hash = sl_http_hash_name("Expires", 7);
    while ((f = sl_cache_next_field(h, "Expires", 7, hash, &i)) != NULL) {
        if (first == NULL) {
            first = f;
            *t = sl_cache_parse_date(f->value.data, f->value.len);
            if (*t < 0) {
                *t = 0;
            }
        } else if (f->value.len != first->value.len
                   || memcmp(f->value.data, first->value.data,
                             f->value.len) != 0)
        {
            *t = 0;
        }
    }
    return first != NULL;
}

static int64_t
sl_cache_field_date(const struct sl_http_head *h, const char *name)
{
    const struct sl_http_header  *f = sl_cache_first_field(h, name);

    return f ? sl_cache_parse_date(f->value.data, f->value.len) : -1;
}

/* Whether Vary lists "*" (RFC 9111 4.1: such a response never matches). */
static int
sl_cache_vary_star(const struct sl_http_head *h, int *any)
{
    const struct sl_http_header  *f;
    const char                   *p, *end;
    unsigned                      i = 0;
    uint32_t                      hash;

    *any = 0;
    hash = sl_http_hash_name("Vary", 4);
    while ((f = sl_cache_next_field(h, "Vary", 4, hash, &i)) != NULL) {
        p = f->value.data;
        end = p + f->value.len;
        while (p < end) {
            p = sl_cache_list_elem(p, end);
            if (p == end) {
                break;
            }
            *any = 1;
            if (*p == '*') {
                return 1;
            }
            p = sl_cache_list_rest(p, end);
        }
    }
    return 0;
}

/*
 * The reasons are tokens (RFC 8941 sf-token) so that they can go into a
 * Cache-Status detail parameter (RFC 9211 2.8) as they are.
 */
static int
sl_cache_store_no(const char **why, const char *reason)
{
    if (why != NULL) {
        *why = reason;
    }
    return SL_CACHE_STORE_NO;
}

int
sl_cache_storable(const struct sl_http_head *req,
    const struct sl_http_head *resp, const struct sl_cache_valid *valid,
    size_t nvalid, int64_t request_time, int64_t response_time,
    struct sl_cache_meta *m, const char **why)
{
    struct sl_cache_cc   cc, cdn, rcc;
    const struct sl_cache_cc  *c;
    int64_t              expires, v, lifetime;
    int                  status = resp->status, has_expires, explicit_, any;
    int                  auth, heuristic_ok, targeted;
    size_t               i;

    memset(m, 0, sizeof(*m));
    m->magic = SL_CACHE_META_MAGIC;
    m->status = (uint16_t) status;
    m->request_time = request_time;
    m->response_time = response_time;
    m->last_modified = -1;
    m->body_len = resp->content_length;
    if (why != NULL) {
        *why = NULL;
    }

    /* RFC 9111 3: a method we understand and whose responses we cache */
    if (req->method != SL_HTTP_GET && req->method != SL_HTTP_HEAD) {
        return sl_cache_store_no(why, "method");
    }
    /* RFC 9111 3: final status; 206/304 are not stored whole responses */
    if (status < 200 || status > 999 || status == 206 || status == 304) {
        return sl_cache_store_no(why, "status");
    }

    /* RFC 9111 5.2.1.5: request no-store */
    sl_cache_cc_parse(req, "Cache-Control", &rcc);
    if (rcc.no_store) {
        return sl_cache_store_no(why, "request-no-store");
    }

    /* RFC 9213 2.1: the targeted field replaces Cache-Control */
    targeted = sl_cache_targeted_parse(resp, "CDN-Cache-Control", &cdn)
               == SL_OK;
    if (targeted) {
        c = &cdn;
    } else {
        sl_cache_cc_parse(resp, "Cache-Control", &cc);
        c = &cc;
    }

    /*
     * RFC 9111 5.2.2.3: must-understand restricts storing to caches that
     * understand the status code, and lets those ignore no-store.
     */
    if (c->must_understand) {
        if (!sl_cache_understood_status(status)) {
            return sl_cache_store_no(why, "must-understand");
        }
    } else if (c->no_store) {
        return sl_cache_store_no(why, "no-store");
    }
    /* RFC 9111 5.2.2.7: a shared cache stores no private response */
    if (c->private_) {
        return sl_cache_store_no(why, "private");
    }

    /* RFC 9111 3.5: Authorization needs an explicit go-ahead */
    auth = sl_http_find_header(req, "Authorization") >= 0;
    if (auth) {
        /* a malformed s-maxage grants nothing */
        if (!c->public_ && !c->must_revalidate
            && (c->s_maxage == SL_CACHE_UNSET || c->invalid))
        {
            return sl_cache_store_no(why, "authorization");
        }
        m->flags |= SL_CACHE_F_AUTH;
    }

    /* RFC 9111 4.1: Vary: * never matches a later request */
    if (sl_cache_vary_star(resp, &any)) {
        return sl_cache_store_no(why, "vary-star");
    }
    if (any) {
        m->flags |= SL_CACHE_F_VARY;
    }

    /* RFC 9110 6.6.1: no (valid) Date: the time we received it */
    m->date = sl_cache_field_date(resp, "Date");
    if (m->date < 0) {
        m->date = response_time;
    }
    v = sl_cache_age_field(resp);
    m->age = v < 0 ? 0 : v;
    m->last_modified = sl_cache_field_date(resp, "Last-Modified");
    if (m->last_modified >= 0) {
        m->flags |= SL_CACHE_F_LAST_MODIFIED;
    }
    if (sl_http_find_header(resp, "ETag") >= 0) {
        m->flags |= SL_CACHE_F_ETAG;
    }

    if (c->no_cache) {
        m->flags |= SL_CACHE_F_NO_CACHE;
    }
    /* RFC 9111 5.2.2.10: s-maxage implies proxy-revalidate */
    if (c->must_revalidate || c->proxy_revalidate
        || c->s_maxage != SL_CACHE_UNSET)
    {
        m->flags |= SL_CACHE_F_MUST_REVALIDATE;
    }
    if (c->immutable) {
        m->flags |= SL_CACHE_F_IMMUTABLE;
    }
    m->swr = c->stale_while_revalidate > 0 ? c->stale_while_revalidate : 0;
    m->sie = c->stale_if_error > 0 ? c->stale_if_error : 0;

    /* RFC 9111 4.2.1: explicit freshness, in order of precedence */
    /* RFC 9213 2.2: a targeted field displaces Expires too */
    has_expires = !targeted && sl_cache_expires(resp, &expires);
    explicit_ = 1;
    if (c->s_maxage != SL_CACHE_UNSET) {
        lifetime = c->s_maxage;
    } else if (c->max_age != SL_CACHE_UNSET) {
        lifetime = c->max_age;
    } else if (has_expires) {
        lifetime = expires - m->date;
    } else {
        explicit_ = 0;
        lifetime = 0;
    }
    if (c->invalid) {
        lifetime = 0;
    }

    if (!explicit_) {
        /* proxy_cache_valid: an exact status before "any" */
        for (i = 0; i < nvalid; i++) {
            if (valid[i].status == status) {
                break;
            }
        }
        if (i == nvalid) {
            for (i = 0; i < nvalid; i++) {
                if (valid[i].status == 0) {
                    break;
                }
            }
        }
        if (i < nvalid) {
            lifetime = valid[i].seconds;
            explicit_ = 1;
        }
    }

    if (!explicit_) {
        /*
         * RFC 9111 3 and 4.2.2: without explicit freshness only
         * heuristically cacheable codes, or responses marked public,
         * may be stored, with a heuristic lifetime.
         */
        heuristic_ok = sl_cache_heuristic_status(status) || c->public_;
        if (!heuristic_ok) {
            return sl_cache_store_no(why, "no-explicit-freshness");
        }
        if (m->last_modified >= 0 && m->last_modified < m->date) {
            lifetime = (m->date - m->last_modified) / 10;
            if (lifetime > SL_CACHE_HEURISTIC_MAX) {
                lifetime = SL_CACHE_HEURISTIC_MAX;
            }
        }
        m->flags |= SL_CACHE_F_HEURISTIC;
    }

    if (lifetime < 0) {
        lifetime = 0;
    }
    if (lifetime > SL_CACHE_DELTA_MAX) {
        lifetime = SL_CACHE_DELTA_MAX;
    }
    m->lifetime = lifetime;

    if (!(m->flags & (SL_CACHE_F_ETAG | SL_CACHE_F_LAST_MODIFIED))
        && (lifetime == 0 || (m->flags & SL_CACHE_F_NO_CACHE)))
    {
        /* never usable without asking, and nothing to ask with */
        return sl_cache_store_no(why, "no-freshness-no-validator");
    }
    return SL_CACHE_STORE_OK;
}

/* RFC 9111 4.2.3 */
int64_t
sl_cache_age(const struct sl_cache_meta *m, int64_t now)
{
    int64_t  apparent_age, response_delay, corrected_age_value;
    int64_t  corrected_initial_age, resident_time;

    apparent_age = m->response_time - m->date;
    if (apparent_age < 0) {
        apparent_age = 0;
    }
    response_delay = m->response_time - m->request_time;
    if (response_delay < 0) {
        response_delay = 0;
    }
    corrected_age_value = m->age + response_delay;
    corrected_initial_age = apparent_age > corrected_age_value
                            ? apparent_age : corrected_age_value;
    resident_time = now - m->response_time;
    if (resident_time < 0) {
        resident_time = 0;
    }
    return corrected_initial_age + resident_time;
}

/* ---- using a stored response (RFC 9111 4.2.4; RFC 5861) ------------------ */

enum sl_cache_use
sl_cache_usable(const struct sl_cache_meta *m, const struct sl_cache_cc *rcc,
    int64_t now)
{
    int64_t  age, staleness;

    /* RFC 9111 5.2.2.4 and 5.2.1.4: no-cache, either side */
    if ((m->flags & SL_CACHE_F_NO_CACHE) || (rcc != NULL && rcc->no_cache)) {
        return SL_CACHE_USE_REVALIDATE;
    }

    age = sl_cache_age(m, now);
    staleness = age - m->lifetime;      /* >= 0: stale */

    if (rcc != NULL) {
        /* RFC 9111 5.2.1.1: max-age */
        if (rcc->max_age != SL_CACHE_UNSET && age > rcc->max_age) {
            return SL_CACHE_USE_REVALIDATE;
        }
        /* RFC 9111 5.2.1.3: min-fresh */
        if (rcc->min_fresh != SL_CACHE_UNSET
            && m->lifetime - age < rcc->min_fresh)
        {
            return SL_CACHE_USE_REVALIDATE;
        }
    }

    if (staleness < 0) {
        return SL_CACHE_USE_FRESH;
    }

    /* RFC 9111 4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10: never stale */
    if (m->flags & SL_CACHE_F_MUST_REVALIDATE) {
        return SL_CACHE_USE_REVALIDATE;
    }

    if (rcc != NULL && rcc->max_stale != SL_CACHE_UNSET) {
        /* RFC 9111 5.2.1.2 */
        if (rcc->max_stale == SL_CACHE_INFINITE
            || staleness <= rcc->max_stale)
        {
            return SL_CACHE_USE_STALE_OK;
        }
        return SL_CACHE_USE_REVALIDATE;
    }

    /*
     * RFC 5861 3: serve stale while refreshing; not when the client asked
     * for freshness (max-age, min-fresh: 5.2.1.1 "unless max-stale").
     */
    if (m->swr > 0 && staleness < m->swr
        && (rcc == NULL || (rcc->max_age == SL_CACHE_UNSET
                            && rcc->min_fresh == SL_CACHE_UNSET)))
    {
        return SL_CACHE_USE_SWR;
    }
    return SL_CACHE_USE_REVALIDATE;
}

int
sl_cache_stale_if_error_ok(const struct sl_cache_meta *m,
    const struct sl_cache_cc *rcc, int64_t now, int use_stale_cfg)
{
    int64_t  staleness;

    /*
     * RFC 9111 4.2.4: no stale response against an explicit directive
     * (no-cache, must-revalidate, proxy-revalidate, s-maxage); this holds
     * for proxy_cache_use_stale too.
     */
    if (m->flags & (SL_CACHE_F_MUST_REVALIDATE | SL_CACHE_F_NO_CACHE)) {
        return 0;
    }
    if (use_stale_cfg) {
        return 1;
    }
    staleness = sl_cache_age(m, now) - m->lifetime;
    if (staleness < 0) {
        return 1;
    }
    /* RFC 5861 4: from the response or from the request */
    if (m->sie > 0 && staleness < m->sie) {
        return 1;
    }
    if (rcc != NULL && rcc->stale_if_error != SL_CACHE_UNSET
        && staleness < rcc->stale_if_error)
    {
        return 1;
    }
    return 0;
}

/* ---- Vary (RFC 9111 4.1) ------------------------------------------------- */

/*
 * The vary blob is a sequence of entries, one per field name listed by
 * Vary, in order, duplicates dropped:
 *
 *     nlen:1  name:nlen (lowercase)  'A'                  (field absent)
 *     nlen:1  name:nlen (lowercase)  'V'  vlen:4 (big endian)  value:vlen
 *
 * The value is the request's field lines for that name joined with ","
 * and normalised: runs of SP/HTAB become one SP, whitespace next to a
 * comma is dropped (list syntax allows it there), leading and trailing
 * whitespace is dropped; bytes inside quoted strings are kept as they
 * are.  Field values are compared case-sensitively (their case rules are
 * per field).  Lengths make the format unambiguous whatever bytes the
 * values hold, and 'A' vs 'V' with vlen 0 tells absent from empty.
 */

/* Normalised bytes of all the field lines named name in h, one by one. */
struct sl_cache_vary_it {
    const struct sl_http_head  *h;
    const char                 *name;
    size_t                      nlen;
    uint32_t                    hash;
    unsigned                    idx;
    const char                 *p, *end;
    int                         last;       /* last byte produced */
    unsigned                    started:1;
    unsigned                    quote:1;
    unsigned                    esc:1;
    unsigned                    sp:1;       /* whitespace pending */
};

static void
sl_cache_vary_it_init(struct sl_cache_vary_it *it,
    const struct sl_http_head *h, const char *name, size_t nlen)
{
    memset(it, 0, sizeof(*it));
    it->h = h;
    it->name = name;
    it->nlen = nlen;
    it->hash = sl_http_hash_name(name, nlen);
    it->last = -1;
}

/* Next byte, or -1 at the end. */
static int
sl_cache_vary_it_next(struct sl_cache_vary_it *it)
{
    const struct sl_http_header  *f;
    int                           c;

    for ( ;; ) {
        if (it->p == it->end) {
            f = sl_cache_next_field(it->h, it->name, it->nlen, it->hash,
                                    &it->idx);
            if (f == NULL) {
                return -1;
            }
            it->p = f->value.data;
            it->end = it->p + f->value.len;
            it->quote = 0;
            it->esc = 0;
            it->sp = 0;
            if (it->started) {
                it->last = ',';
                return ',';
            }
            it->started = 1;
            continue;
        }
        c = (unsigned char) *it->p;
        if (it->quote) {
            it->p++;
            if (it->esc) {
                it->esc = 0;
            } else if (c == '\\') {
                it->esc = 1;
            } else if (c == '"') {
                it->quote = 0;
            }
            it->last = c;
            return c;
        }
        if (sl_cache_is_ows(c)) {
            it->sp = 1;
            it->p++;
            if (it->p == it->end) {
                it->sp = 0;         /* trailing */
            }
            continue;
        }
        if (it->sp) {
            it->sp = 0;
            if (c != ',' && it->last != ',' && it->last != -1) {
                it->last = ' ';
                return ' ';
            }
        }
        it->p++;
        if (c == '"') {
            it->quote = 1;
        }
        it->last = c;
        return c;
    }
}

/*
 * The entry of blob at *i: returns 1 and its parts (advancing *i), 0 at
 * the end, -1 if the blob is malformed.
 */
static int
sl_cache_vary_entry(const char *blob, size_t len, size_t *i,
    const char **name, size_t *nlen, int *tag, const char **val,
    uint32_t *vlen)
{
    const unsigned char  *b = (const unsigned char *) blob;
    size_t                o = *i;

    if (o >= len) {
        return 0;
    }
    *nlen = b[o++];
    if (*nlen == 0 || len - o < *nlen + 1) {
        return -1;
    }
    *name = blob + o;
    o += *nlen;
    *tag = b[o++];
    *val = NULL;
    *vlen = 0;
    if (*tag == 'V') {
        if (len - o < 4) {
            return -1;
        }
        *vlen = (uint32_t) b[o] << 24 | (uint32_t) b[o + 1] << 16
                | (uint32_t) b[o + 2] << 8 | (uint32_t) b[o + 3];
        o += 4;
        if (len - o < *vlen) {
            return -1;
        }
        *val = blob + o;
        o += *vlen;
    } else if (*tag != 'A') {
        return -1;
    }
    *i = o;
    return 1;
}

/* Whether the blob already names name (lowercase). */
static int
sl_cache_vary_has(const char *blob, size_t len, const char *name,
    size_t nlen)
{
    const char  *n, *v;
    size_t       i = 0, l;
    uint32_t     vl;
    int          tag;

    while (sl_cache_vary_entry(blob, len, &i, &n, &l, &tag, &v, &vl) == 1) {
        if (l == nlen && memcmp(n, name, l) == 0) {
            return 1;
        }
    }
    return 0;
}

int
sl_cache_vary_build(const struct sl_http_head *req,
    const struct sl_http_head *resp, char *buf, size_t size)
{
    const struct sl_http_header  *f;
    struct sl_cache_vary_it       it;
    const char                   *p, *end, *name;
    char                          lname[255];
    size_t                        o = 0, nlen, j, vstart;
    unsigned                      i = 0;
    uint32_t                      hash, vlen;
    int                           c;

    hash = sl_http_hash_name("Vary", 4);
    while ((f = sl_cache_next_field(resp, "Vary", 4, hash, &i)) != NULL) {
        p = f->value.data;
        end = p + f->value.len;
        for ( ;; ) {
            p = sl_cache_list_elem(p, end);
            if (p == end) {
                break;
            }
            if (*p == '*') {
                return -1;
            }
            name = p;
            while (p < end && sl_cache_is_tchar((unsigned char) *p)) {
                p++;
            }
            nlen = (size_t) (p - name);
            while (p < end && sl_cache_is_ows((unsigned char) *p)) {
                p++;
            }
            if (nlen == 0 || nlen > sizeof(lname) || (p < end && *p != ',')) {
                /* not a field name: we cannot tell what it varies on */
                return -1;
            }
            for (j = 0; j < nlen; j++) {
                lname[j] = (char) sl_cache_lc((unsigned char) name[j]);
            }
            if (sl_cache_vary_has(buf, o, lname, nlen)) {
                continue;
            }
            if (size - o < 1 + nlen + 1) {
                return -1;
            }
            buf[o++] = (char) nlen;
            memcpy(buf + o, lname, nlen);
            o += nlen;
            if (!sl_cache_has_field(req, lname, nlen)) {
                buf[o++] = 'A';
                continue;
            }
            buf[o++] = 'V';
            if (size - o < 4) {
                return -1;
            }
            vstart = o;
            o += 4;
            sl_cache_vary_it_init(&it, req, lname, nlen);
            while ((c = sl_cache_vary_it_next(&it)) >= 0) {
                if (o == size) {
                    return -1;
                }
                buf[o++] = (char) c;
            }
            vlen = (uint32_t) (o - vstart - 4);
            buf[vstart] = (char) (vlen >> 24);
            buf[vstart + 1] = (char) (vlen >> 16);
            buf[vstart + 2] = (char) (vlen >> 8);
            buf[vstart + 3] = (char) vlen;
        }
    }
    if (o > INT32_MAX) {
        return -1;
    }
    return (int) o;
}

/*
 * Linear in the blob plus the request's fields for each name: the
 * request's values are normalised on the fly and compared byte by byte,
 * without a copy.
 */
int
sl_cache_vary_match(const char *blob, size_t len,
    const struct sl_http_head *req)
{
    const struct sl_http_header  *f;
    struct sl_cache_vary_it       it;
    const char                   *name, *val;
    size_t                        i = 0, nlen;
    uint32_t                      vlen, k, hash;
    unsigned                      idx;
    int                           tag, rc;

    while ((rc = sl_cache_vary_entry(blob, len, &i, &name, &nlen, &tag,
                                     &val, &vlen)) == 1)
    {
        hash = sl_http_hash_name(name, nlen);
        idx = 0;
        f = sl_cache_next_field(req, name, nlen, hash, &idx);
        if (tag == 'A') {
            if (f != NULL) {
                return 0;
            }
            continue;
        }
        if (f == NULL) {
            return 0;
        }
        /* the iterator, positioned on the first line found */
        memset(&it, 0, sizeof(it));
        it.h = req;
        it.name = name;
        it.nlen = nlen;
        it.hash = hash;
        it.idx = idx;
        it.p = f->value.data;
        it.end = it.p + f->value.len;
        it.last = -1;
        it.started = 1;
        k = 0;
        while (k < vlen) {
            /*
             * Fast path: plain bytes of the current line compare as
             * they are; the iterator handles whitespace, quotes and
             * line joins.
             */
            if (!it.quote && !it.sp) {
                while (k < vlen && it.p < it.end && *it.p != ' '
                       && *it.p != '\t' && *it.p != '"')
                {
                    if (*it.p != val[k]) {
                        return 0;
                    }
                    it.last = (unsigned char) *it.p++;
                    k++;
                }
                if (k == vlen) {
                    break;
                }
            }
            if (sl_cache_vary_it_next(&it) != (unsigned char) val[k]) {
                return 0;
            }
            k++;
        }
        if (sl_cache_vary_it_next(&it) != -1) {
            return 0;
        }
    }
    return rc == 0;
}

int
sl_cache_vary_same_names(const char *a, size_t alen, const char *b,
    size_t blen)
{
    const char  *name, *val;
    size_t       i = 0, nlen, na = 0, nb = 0;
    uint32_t     vlen;
    int          tag, rc;

    while ((rc = sl_cache_vary_entry(a, alen, &i, &name, &nlen, &tag, &val,
                                     &vlen)) == 1)
    {
        if (!sl_cache_vary_has(b, blen, name, nlen)) {
            return 0;
        }
        na++;
    }
    if (rc < 0) {
        return 0;
    }
    i = 0;
    while ((rc = sl_cache_vary_entry(b, blen, &i, &name, &nlen, &tag, &val,
                                     &vlen)) == 1)
    {
        nb++;
    }
    return rc == 0 && na == nb;
}

/* ---- the stored head ----------------------------------------------------- */

/* One line of a stored head. */
struct sl_cache_line {
    const char  *start;     /* the whole line with its line end */
    size_t       len;
    const char  *name;      /* when is_field */
    size_t       nlen;
    const char  *val;
    size_t       vlen;
    unsigned     is_field:1;
    unsigned     empty:1;   /* the empty line ending the head */
};

/*
 * The line at *off: returns 1 (and advances *off), 0 at the end.  A line
 * is a field when it starts with a token and a colon, so a status line
 * ("HTTP/1.1 200 OK") is not one.
 */
static int
sl_cache_head_line(const char *head, size_t hlen, size_t *off,
    struct sl_cache_line *l)
{
    const char  *p, *e, *end = head + hlen;

    if (*off >= hlen) {
        return 0;
    }
    memset(l, 0, sizeof(*l));
    l->start = p = head + *off;
    e = memchr(p, '\n', (size_t) (end - p));
    e = e ? e + 1 : end;
    l->len = (size_t) (e - p);
    *off += l->len;

    /* e: end of the line's content, without CRLF */
    if (e > p && e[-1] == '\n') {
        e--;
    }
    if (e > p && e[-1] == '\r') {
        e--;
    }
    if (e == p) {
        l->empty = 1;
        return 1;
    }
    l->name = p;
    while (p < e && sl_cache_is_tchar((unsigned char) *p)) {
        p++;
    }
    l->nlen = (size_t) (p - l->name);
    if (l->nlen == 0 || p == e || *p != ':') {
        return 1;
    }
    p++;
    while (p < e && sl_cache_is_ows((unsigned char) *p)) {
        p++;
    }
    while (e > p && sl_cache_is_ows((unsigned char) e[-1])) {
        e--;
    }
    l->val = p;
    l->vlen = (size_t) (e - p);
    l->is_field = 1;
    return 1;
}

/*
 * Runs per hit (ETag, Last-Modified): each line is only tested for
 * "name:" at its start and otherwise skipped with memchr.
 */
int
sl_cache_head_field(const char *head, size_t hlen, const char *name,
    const char **value, size_t *vlen)
{
    const char  *p = head, *end = head + hlen, *e, *v;
    size_t       nlen = strlen(name);

    while (p < end) {
        if (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'))) {
            break;                  /* the empty line */
        }
        e = memchr(p, '\n', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) > nlen && p[nlen] == ':'
            && sl_cache_caseeq(p, nlen, name, nlen))
        {
            v = p + nlen + 1;
            if (e > v && e[-1] == '\r') {
                e--;
            }
            while (v < e && sl_cache_is_ows((unsigned char) *v)) {
                v++;
            }
            while (e > v && sl_cache_is_ows((unsigned char) e[-1])) {
                e--;
            }
            *value = v;
            *vlen = (size_t) (e - v);
            return 1;
        }
        p = e < end ? e + 1 : end;
    }
    return 0;
}

/* Whether a Connection field of h lists name (RFC 9110 7.6.1). */
static int
sl_cache_connection_lists(const struct sl_http_head *h, const char *name,
    size_t nlen)
{
    const struct sl_http_header  *f;
    const char                   *p, *end, *t;
    unsigned                      i = 0;
    uint32_t                      hash;

    hash = sl_http_hash_name("Connection", 10);
    while ((f = sl_cache_next_field(h, "Connection", 10, hash, &i)) != NULL) {
        p = f->value.data;
        end = p + f->value.len;
        while (p < end) {
            p = sl_cache_list_elem(p, end);
            t = p;
            while (p < end && sl_cache_is_tchar((unsigned char) *p)) {
                p++;
            }
            if (sl_cache_caseeq(t, (size_t) (p - t), name, nlen)) {
                return 1;
            }
            p = sl_cache_list_rest(p, end);
        }
    }
    return 0;
}

int
sl_cache_head_keep(const char *name, size_t nlen,
    const struct sl_http_head *resp)
{
#define SL_CACHE_N(s)   { s, sizeof(s) - 1 }
    static const struct { const char *n; size_t len; }  drop[] = {
        /* hop-by-hop (RFC 9110 7.6.1, RFC 9112) */
        SL_CACHE_N("Connection"), SL_CACHE_N("Keep-Alive"),
        SL_CACHE_N("Proxy-Connection"), SL_CACHE_N("TE"),
        SL_CACHE_N("Trailer"), SL_CACHE_N("Transfer-Encoding"),
        SL_CACHE_N("Upgrade"), SL_CACHE_N("Proxy-Authenticate"),
        SL_CACHE_N("Proxy-Authentication-Info"),
        /* recomputed when serving */
        SL_CACHE_N("Age"), SL_CACHE_N("Content-Length"),
        /* RFC 9213 2: consumed by this cache, not forwarded */
        SL_CACHE_N("CDN-Cache-Control"),
    };
#undef SL_CACHE_N
    size_t  i;

    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (sl_cache_caseeq(name, nlen, drop[i].n, drop[i].len)) {
            return 0;
        }
    }
    if (resp != NULL && sl_cache_connection_lists(resp, name, nlen)) {
        return 0;
    }
    return 1;
}

/*
 * RFC 9111 3.2 and 4.3.4: every field of the 304 that may be stored
 * replaces all the stored lines of that name; the others stay, in order.
 * A status line and the final empty line of the stored head are kept.
 */
int
sl_cache_head_merge(const char *head, size_t hlen,
    const struct sl_http_head *resp304, char *out, size_t size)
{
    const struct sl_http_header  *f;
    struct sl_cache_line          l;
    size_t                        off = 0, o = 0, need;
    unsigned                      i;
    int                           ended = 0;

    while (sl_cache_head_line(head, hlen, &off, &l)) {
        if (l.empty) {
            ended = 1;
            break;
        }
        if (l.is_field && sl_cache_has_field(resp304, l.name, l.nlen)
            && sl_cache_head_keep(l.name, l.nlen, resp304))
        {
            continue;
        }
        if (size - o < l.len) {
            return -1;
        }
        memcpy(out + o, l.start, l.len);
        o += l.len;
        if (l.len > 0 && l.start[l.len - 1] != '\n') {
            /* a last line without its CRLF */
            if (size - o < 2) {
                return -1;
            }
            out[o++] = '\r';
            out[o++] = '\n';
        }
    }

    for (i = 0; i < resp304->nheaders; i++) {
        f = &resp304->headers[i];
        if (!sl_cache_head_keep(f->name.data, f->name.len, resp304)) {
            continue;
        }
        need = f->name.len + 2 + f->value.len + 2;
        if (size - o < need) {
            return -1;
        }
        memcpy(out + o, f->name.data, f->name.len);
        o += f->name.len;
        out[o++] = ':';
        out[o++] = ' ';
        memcpy(out + o, f->value.data, f->value.len);
        o += f->value.len;
        out[o++] = '\r';
        out[o++] = '\n';
    }

    if (ended) {
        if (size - o < 2) {
            return -1;
        }
        out[o++] = '\r';
        out[o++] = '\n';
    }
    if (o > INT32_MAX) {
        return -1;
    }
    return (int) o;
}

/* ---- conditional requests (RFC 9110 13) ---------------------------------- */

/* The status of a stored head that starts with a status line, else 200. */
static int
sl_cache_head_status(const char *head, size_t hlen)
{
    int  st;

    if (hlen < 12 || memcmp(head, "HTTP/", 5) != 0 || head[8] != ' ') {
        return 200;
    }
    st = sl_cache_digits(head + 9, 3);
    return st < 0 ? 200 : st;
}

/* An entity-tag (RFC 9110 8.8.3): opaque tag with its quotes, and weak. */
struct sl_cache_etag {
    const char  *opaque;
    size_t       len;
    unsigned     weak:1;
};

/*
 * Parses one entity-tag at *p; returns 1 and advances *p, or 0 (not an
 * entity-tag, *p unchanged).  etagc excludes DQUOTE: no escapes.
 */
static int
sl_cache_etag_parse(const char **pp, const char *end,
    struct sl_cache_etag *t)
{
    const char  *p = *pp, *q;

    t->weak = 0;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
        t->weak = 1;
        p += 2;
    }
    if (p == end || *p != '"') {
        return 0;
    }
    q = p + 1;
    while (q < end && *q != '"') {
        if ((unsigned char) *q < 0x21 && *q != '\t') {
            return 0;
        }
        q++;
    }
    if (q == end) {
        return 0;
    }
    t->opaque = p;
    t->len = (size_t) (q + 1 - p);
    *pp = q + 1;
    return 1;
}

/* The stored ETag; 0 if none or malformed. */
static int
sl_cache_stored_etag(const char *head, size_t hlen, struct sl_cache_etag *t)
{
    const char  *v, *p;
    size_t       vlen;

    if (!sl_cache_head_field(head, hlen, "ETag", &v, &vlen)) {
        return 0;
    }
    p = v;
    return sl_cache_etag_parse(&p, v + vlen, t) && p == v + vlen;
}

static int
sl_cache_etag_eq(const struct sl_cache_etag *a, const struct sl_cache_etag *b,
    int strong)
{
    if (strong && (a->weak || b->weak)) {
        return 0;
    }
    return a->len == b->len && memcmp(a->opaque, b->opaque, a->len) == 0;
}

/*
 * Whether the If-Match / If-None-Match fields named name match the
 * stored tag (have may be 0: only "*" matches; we hold a representation).
 * Malformed members are skipped: they match nothing.
 */
static int
sl_cache_etag_list_match(const struct sl_http_head *req, const char *name,
    const struct sl_cache_etag *stored, int have, int strong)
{
    const struct sl_http_header  *f;
    struct sl_cache_etag          t;
    const char                   *p, *end;
    size_t                        nlen = strlen(name);
    unsigned                      i = 0;
    uint32_t                      hash;

    hash = sl_http_hash_name(name, nlen);
    while ((f = sl_cache_next_field(req, name, nlen, hash, &i)) != NULL) {
        p = f->value.data;
        end = p + f->value.len;
        for ( ;; ) {
            p = sl_cache_list_elem(p, end);
            if (p == end) {
                break;
            }
            if (*p == '*') {
                return 1;
            }
            if (sl_cache_etag_parse(&p, end, &t)) {
                if (have && sl_cache_etag_eq(&t, stored, strong)) {
                    return 1;
                }
            }
            p = sl_cache_list_rest(p, end);
        }
    }
    return 0;
}

/*
 * A date precondition field: the date, or -1 when it must be ignored
 * (absent, several lines, not a valid HTTP-date: RFC 9110 13.1.3, 13.1.4).
 */
static int64_t
sl_cache_cond_date(const struct sl_http_head *req, const char *name)
{
    const struct sl_http_header  *f, *g;
    size_t                        nlen = strlen(name);
    unsigned                      i = 0;
    uint32_t                      hash;

    hash = sl_http_hash_name(name, nlen);
    f = sl_cache_next_field(req, name, nlen, hash, &i);
    if (f == NULL) {
        return -1;
    }
    g = sl_cache_next_field(req, name, nlen, hash, &i);
    if (g != NULL) {
        return -1;
    }
    return sl_cache_parse_date(f->value.data, f->value.len);
}

/* RFC 9110 13.2.2, in its order; the cache holds the representation. */
int
sl_cache_conditional(const struct sl_http_head *req, const char *head,
    size_t hlen, const struct sl_cache_meta *m)
{
    struct sl_cache_etag  etag;
    const struct sl_str  *n;
    int64_t               d, lm;
    int                   have, get_head, status;
    unsigned              i;

    /*
     * RFC 9110 13.2.1: preconditions are ignored when the response
     * without them would not be 2xx (a stored 404 stays a 404).
     */
    status = m != NULL ? m->status : sl_cache_head_status(head, hlen);
    if (status < 200 || status > 299) {
        return 0;
    }

    /* most requests carry no precondition: one pass to find out */
    for (i = 0; i < req->nheaders; i++) {
        n = &req->headers[i].name;
        if (n->len > 3 && (n->data[0] | 0x20) == 'i'
            && (n->data[1] | 0x20) == 'f' && n->data[2] == '-')
        {
            break;
        }
    }
    if (i == req->nheaders) {
        return 0;
    }

    have = sl_cache_stored_etag(head, hlen, &etag);
    lm = m != NULL ? m->last_modified : -1;
    if (m == NULL) {
        const char  *v;
        size_t       vlen;

        if (sl_cache_head_field(head, hlen, "Last-Modified", &v, &vlen)) {
            lm = sl_cache_parse_date(v, vlen);
        }
    }
    get_head = req->method == SL_HTTP_GET || req->method == SL_HTTP_HEAD;

    /* step 1: If-Match, strong comparison (13.1.1) */
    if (sl_http_find_header(req, "If-Match") >= 0) {
        if (!sl_cache_etag_list_match(req, "If-Match", &etag, have, 1)) {
            return 412;
        }
    } else {
        /* step 2: If-Unmodified-Since (13.1.4), needs a modification date */
        d = sl_cache_cond_date(req, "If-Unmodified-Since");
        if (d >= 0 && lm >= 0 && lm > d) {
            return 412;
        }
    }

    /* step 3: If-None-Match, weak comparison (13.1.2) */
    if (sl_http_find_header(req, "If-None-Match") >= 0) {
        if (sl_cache_etag_list_match(req, "If-None-Match", &etag, have, 0)) {
            return get_head ? 304 : 412;
        }
        return 0;
    }

    /*
     * step 4: If-Modified-Since, GET and HEAD only (13.1.3).  Without a
     * Last-Modified, RFC 9111 4.3.2 has a cache use the stored Date (or
     * the time received, which is what m->date holds then).
     */
    if (get_head) {
        d = sl_cache_cond_date(req, "If-Modified-Since");
        if (d >= 0) {
            if (lm < 0 && m != NULL) {
                lm = m->date;
            }
            if (lm >= 0 && lm <= d) {
                return 304;
            }
        }
    }
    return 0;
}

/* ---- range requests (RFC 9110 14) ---------------------------------------- */

/* 1*DIGIT at *pp, saturated; -1 if none. */
static int64_t
sl_cache_range_num(const char **pp, const char *end)
{
    const char  *p = *pp;
    int64_t      v = 0;

    if (p == end || !sl_cache_is_digit((unsigned char) *p)) {
        return -1;
    }
    while (p < end && sl_cache_is_digit((unsigned char) *p)) {
        if (v < INT64_MAX / 100) {
            v = v * 10 + (*p - '0');
        }
        p++;
    }
    *pp = p;
    return v;
}

/*
 * If-Range (RFC 9110 13.1.5): an entity-tag matches by strong comparison;
 * a date matches only if it equals Last-Modified and that is a strong
 * validator for a cache (8.8.2.2: the stored Date is at least a second
 * later).
 */
static int
sl_cache_if_range_ok(const struct sl_http_header *f, const char *head,
    size_t hlen)
{
    struct sl_cache_etag  t, stored;
    const char           *p = f->value.data, *end = p + f->value.len, *v;
    size_t                vlen;
    int64_t               d, lm, date;

    if (sl_cache_etag_parse(&p, end, &t)) {
        if (p != end || !sl_cache_stored_etag(head, hlen, &stored)) {
            return 0;
        }
        return sl_cache_etag_eq(&t, &stored, 1);
    }
    d = sl_cache_parse_date(f->value.data, f->value.len);
    if (d < 0 || !sl_cache_head_field(head, hlen, "Last-Modified", &v, &vlen))
    {
        return 0;
    }
    lm = sl_cache_parse_date(v, vlen);
    if (lm < 0 || lm != d
        || !sl_cache_head_field(head, hlen, "Date", &v, &vlen))
    {
        return 0;
    }
    date = sl_cache_parse_date(v, vlen);
    return date >= 0 && date - lm >= 1;
}

int
sl_cache_range(const struct sl_http_head *req, const char *head,
    size_t hlen, int64_t size, int64_t *start, int64_t *end)
{
    const struct sl_http_header  *f, *g;
    const char                   *p, *e;
    int64_t                       a, b, s0 = 0, e0 = 0;
    unsigned                      i = 0, n = 0, nsat = 0;
    uint32_t                      hash;

    /* RFC 9110 14.2: GET only */
    if (req->method != SL_HTTP_GET || size <= 0
        || sl_cache_head_status(head, hlen) != 200)
    {
        return 0;
    }
    hash = sl_http_hash_name("Range", 5);
    f = sl_cache_next_field(req, "Range", 5, hash, &i);
    if (f == NULL || sl_cache_next_field(req, "Range", 5, hash, &i) != NULL) {
        return 0;
    }

    p = f->value.data;
    e = p + f->value.len;
    if (e - p < 6 || !sl_cache_caseeq_lit(p, 5, "bytes") || p[5] != '=') {
        return 0;           /* another unit: ignored (14.2) */
    }
    p += 6;

    for ( ;; ) {
        p = sl_cache_list_elem(p, e);
        if (p == e) {
            break;
        }
        if (*p == '-') {
            /* suffix-range (14.1.1) */
            p++;
            b = sl_cache_range_num(&p, e);
            if (b < 0) {
                return 0;
            }
            if (b > 0) {
                nsat++;
                s0 = b >= size ? 0 : size - b;
                e0 = size - 1;
            }
        } else {
            a = sl_cache_range_num(&p, e);
            if (a < 0 || p == e || *p != '-') {
                return 0;
            }
            p++;
            b = -1;
            if (p < e && sl_cache_is_digit((unsigned char) *p)) {
                b = sl_cache_range_num(&p, e);
                if (b < a) {
                    return 0;   /* invalid range-spec */
                }
            }
            if (a < size) {
                nsat++;
                s0 = a;
                e0 = (b < 0 || b >= size) ? size - 1 : b;
            }
        }
        n++;
        while (p < e && sl_cache_is_ows((unsigned char) *p)) {
            p++;
        }
        if (p < e && *p != ',') {
            return 0;
        }
    }
    if (n == 0) {
        return 0;
    }

    /* RFC 9110 13.2.2 step 5: a failed If-Range means "send it all" */
    g = sl_cache_first_field(req, "If-Range");
    if (g != NULL && !sl_cache_if_range_ok(g, head, hlen)) {
        return 0;
    }
    if (nsat == 0) {
        return 416;
    }
    if (n > 1) {
        return 0;           /* several ranges: the whole body (14.2) */
    }
    *start = s0;
    *end = e0;
    return 206;
}

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------- */

/*
 * A non-error status (2xx, 3xx) to an unsafe method, or one whose safety
 * we do not know, invalidates the target URI.
 */
int
sl_cache_invalidates(int method, int status)
{
    switch (method) {
    case SL_HTTP_GET:
    case SL_HTTP_HEAD:
    case SL_HTTP_OPTIONS:
    case SL_HTTP_TRACE:
        return 0;
    }
    return status >= 200 && status < 400;
}

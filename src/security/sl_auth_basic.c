/*
 * sl_auth_basic.c: HTTP Basic authentication against an htpasswd file.
 *
 *   auth_basic REALM | off;          http, server, location
 *   auth_basic_user_file FILE;       http, server, location
 *
 * The file is read when the configuration is (so a reload re-reads it; a
 * missing or unreadable file, or a line with an unsupported hash, is a
 * configuration error).  Lines are "user:hash[:comment]"; empty lines and
 * lines starting with '#' are skipped.  Hashes: bcrypt ($2y$, $2b$, $2a$),
 * SHA-512 and SHA-256 crypt ($6$, $5$) through libxcrypt's crypt_r(),
 * Apache MD5 ($apr1$) and {SHA} through OpenSSL.  Every comparison of a
 * computed hash is constant-time (CRYPTO_memcmp).
 *
 * On success r->remote_user is set (for $remote_user and the access log);
 * the client's Authorization header is then not forwarded upstream (the
 * proxy checks r->auth_basic) unless proxy_set_header sets it.
 */
#include "sl_core.h"
#include "sl_security.h"

#include <crypt.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SL_AUTH_MAX_FILE     (16 * 1024 * 1024)
#define SL_AUTH_MAX_PASSWORD 1024

struct sl_auth_user {
    struct sl_str           name;
    char                   *hash;       /* NUL-terminated */
};

struct sl_auth_loc_conf {
    int                     enabled;    /* SL_CONF_UNSET, 0, 1 */
    struct sl_str           challenge;  /* Basic realm="..." */
    struct sl_array        *users;      /* struct sl_auth_user */
    const char             *file;       /* for messages */
};

static int sl_auth_set_realm(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_auth_set_file(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_AUTH_CTX  (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const struct sl_conf_cmd sl_auth_cmds[] = {
    { "auth_basic", SL_AUTH_CTX | SL_CONF_TAKE1, sl_auth_set_realm,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "auth_basic_user_file", SL_AUTH_CTX | SL_CONF_TAKE1, sl_auth_set_file,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- hashes -------------------------------------------------------------- */

static const char sl_auth_itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static char *
sl_auth_to64(char *p, unsigned long v, int n)
{
    while (n-- > 0) {
        *p++ = sl_auth_itoa64[v & 0x3f];
        v >>= 6;
    }
    return p;
}

static int
sl_auth_md5(EVP_MD_CTX *ctx, const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen, unsigned char *out)
{
    return EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1
           && EVP_DigestUpdate(ctx, a, alen) == 1
           && EVP_DigestUpdate(ctx, b, blen) == 1
           && EVP_DigestUpdate(ctx, c, clen) == 1
           && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
}

/*
 * Apache's variant of Poul-Henning Kamp's MD5 crypt (only the magic
 * string differs): 1000 rounds of MD5 over password, salt and the
 * previous digest, then a custom base-64 of the shuffled digest.
 */
int
sl_auth_apr1(const char *pw, size_t pwlen, const char *salt, size_t saltlen,
    char *out, size_t outlen)
{
    static const char magic[] = "$apr1$";
    unsigned char fin[16];
    EVP_MD_CTX *ctx;
    const char *dollar;
    size_t i, pl;
    char *p;
    int ok = 0;

    dollar = memchr(salt, '$', saltlen);
    if (dollar != NULL)
        saltlen = (size_t) (dollar - salt);
    if (saltlen > 8)
        saltlen = 8;
    if (outlen < sizeof(magic) - 1 + saltlen + 1 + 22 + 1)
        return SL_ERROR;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return SL_ERROR;

    /* The alternate sum: pw salt pw. */
    if (!sl_auth_md5(ctx, pw, pwlen, salt, saltlen, pw, pwlen, fin))
        goto done;
    if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1
        || EVP_DigestUpdate(ctx, pw, pwlen) != 1
        || EVP_DigestUpdate(ctx, magic, sizeof(magic) - 1) != 1
        || EVP_DigestUpdate(ctx, salt, saltlen) != 1)
    {
        goto done;
    }
    for (pl = pwlen; pl > 0; pl -= sl_min(pl, 16)) {
        if (EVP_DigestUpdate(ctx, fin, sl_min(pl, 16)) != 1)
            goto done;
    }
    memset(fin, 0, sizeof(fin));
    for (i = pwlen; i != 0; i >>= 1) {
        if (EVP_DigestUpdate(ctx, (i & 1) ? (const void *) fin
                                          : (const void *) pw, 1) != 1)
        {
            goto done;
        }
    }
    if (EVP_DigestFinal_ex(ctx, fin, NULL) != 1)
        goto done;

    /* 1000 rounds, to slow down guessing. */
    for (i = 0; i < 1000; i++) {
        if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
            goto done;
        if ((i & 1) ? EVP_DigestUpdate(ctx, pw, pwlen) != 1
                    : EVP_DigestUpdate(ctx, fin, 16) != 1)
        {
            goto done;
        }
        if ((i % 3) && EVP_DigestUpdate(ctx, salt, saltlen) != 1)
            goto done;
        if ((i % 7) && EVP_DigestUpdate(ctx, pw, pwlen) != 1)
            goto done;
        if ((i & 1) ? EVP_DigestUpdate(ctx, fin, 16) != 1
                    : EVP_DigestUpdate(ctx, pw, pwlen) != 1)
        {
            goto done;
        }
        if (EVP_DigestFinal_ex(ctx, fin, NULL) != 1)
            goto done;
    }

    p = out;
    memcpy(p, magic, sizeof(magic) - 1);
    p += sizeof(magic) - 1;
    memcpy(p, salt, saltlen);
    p += saltlen;
    *p++ = '$';
    p = sl_auth_to64(p, ((unsigned long) fin[0] << 16)
                        | ((unsigned long) fin[6] << 8) | fin[12], 4);
    p = sl_auth_to64(p, ((unsigned long) fin[1] << 16)
                        | ((unsigned long) fin[7] << 8) | fin[13], 4);
    p = sl_auth_to64(p, ((unsigned long) fin[2] << 16)
                        | ((unsigned long) fin[8] << 8) | fin[14], 4);
    p = sl_auth_to64(p, ((unsigned long) fin[3] << 16)
                        | ((unsigned long) fin[9] << 8) | fin[15], 4);
    p = sl_auth_to64(p, ((unsigned long) fin[4] << 16)
                        | ((unsigned long) fin[10] << 8) | fin[5], 4);
    p = sl_auth_to64(p, fin[11], 2);
    *p = '\0';
    ok = 1;
done:
    OPENSSL_cleanse(fin, sizeof(fin));
    EVP_MD_CTX_free(ctx);
    return ok ? SL_OK : SL_ERROR;
}

/* Constant-time equality of two NUL-terminated strings of public length. */
static int
sl_auth_equal(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

enum { SL_HASH_NONE = 0, SL_HASH_CRYPT, SL_HASH_APR1, SL_HASH_SHA };

static int
sl_auth_hash_type(const char *h)
{
    if (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0
        || strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$6$", 3) == 0
        || strncmp(h, "$5$", 3) == 0)
    {
        return SL_HASH_CRYPT;
    }
    if (strncmp(h, "$apr1$", 6) == 0)
        return SL_HASH_APR1;
    if (strncmp(h, "{SHA}", 5) == 0)
        return SL_HASH_SHA;
    return SL_HASH_NONE;
}

/* Per process: crypt_r's 32 KB workspace, allocated once. */
static struct crypt_data *sl_auth_crypt_data;

int
sl_auth_basic_check(const char *hash, const char *pw, size_t pwlen)
{
    char buf[SL_AUTH_MAX_PASSWORD + 1], out[128];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    const char *res;
    int type, ok = 0;

    type = sl_auth_hash_type(hash);
    if (type == SL_HASH_NONE)
        return SL_ERROR;
    if (pwlen > SL_AUTH_MAX_PASSWORD || memchr(pw, '\0', pwlen) != NULL)
        return 0;
    switch (type) {
    case SL_HASH_CRYPT:
        if (sl_auth_crypt_data == NULL) {
            sl_auth_crypt_data = calloc(1, sizeof(*sl_auth_crypt_data));
            if (sl_auth_crypt_data == NULL)
                return SL_ERROR;
        }
        memcpy(buf, pw, pwlen);
        buf[pwlen] = '\0';
        res = crypt_r(buf, hash, sl_auth_crypt_data);
        /* A failure is "*0" or "*1", never equal to a valid hash. */
        ok = res != NULL && res[0] != '*' && sl_auth_equal(res, hash);
        OPENSSL_cleanse(buf, sizeof(buf));
        break;
    case SL_HASH_APR1:
        if (sl_auth_apr1(pw, pwlen, hash + 6, strlen(hash + 6), out,
                         sizeof(out)) != SL_OK)
        {
            return SL_ERROR;
        }
        ok = sl_auth_equal(out, hash);
        break;
    case SL_HASH_SHA:
        if (EVP_Digest(pw, pwlen, md, &mdlen, EVP_sha1(), NULL) != 1)
            return SL_ERROR;
        EVP_EncodeBlock((unsigned char *) out, md, (int) mdlen);
        ok = sl_auth_equal(out, hash + 5);
        break;
    }
    return ok;
}

/* ---- configuration ------------------------------------------------------- */

/* auth_basic REALM | off; */
static int
sl_auth_set_realm(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_auth_loc_conf *alcf = conf;
    struct sl_str *realm = &cf->node->args[0];
    char *p;
    size_t i;

    if (sl_str_eq(realm, "off")) {
        alcf->enabled = 0;
        return SL_OK;
    }
    for (i = 0; i < realm->len; i++) {
        if ((unsigned char) realm->data[i] < 0x20
            || realm->data[i] == 0x7f)
        {
            sl_conf_error(cf, "invalid character in \"auth_basic\" realm");
            return SL_ERROR;
        }
    }
    /* Basic realm="...", with " and \ escaped (RFC 9110, quoted-string). */
    p = sl_pnalloc(cf->pool, sizeof("Basic realm=\"\"") + 2 * realm->len);
    if (p == NULL)
        return SL_ERROR;
    alcf->challenge.data = p;
    p = memcpy(p, "Basic realm=\"", 13);
    p += 13;
    for (i = 0; i < realm->len; i++) {
        if (realm->data[i] == '"' || realm->data[i] == '\\')
            *p++ = '\\';
        *p++ = realm->data[i];
    }
    *p++ = '"';
    alcf->challenge.len = (size_t) (p - alcf->challenge.data);
    alcf->enabled = 1;
    return SL_OK;
}

/* Reads the whole file into pool memory, NUL-terminated. */
static char *
sl_auth_read_file(struct sl_conf_ctx *cf, const char *path, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    ssize_t n;
    size_t got = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        sl_conf_error(cf, "open() \"%s\" failed (%d: %s)", path, errno,
                      strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)
        || st.st_size > SL_AUTH_MAX_FILE)
    {
        sl_conf_error(cf, "\"%s\" is not a regular file of at most 16m",
                      path);
        goto fail;
    }
    buf = sl_pnalloc(cf->pool, (size_t) st.st_size + 1);
    if (buf == NULL)
        goto fail;
    while (got < (size_t) st.st_size) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            sl_conf_error(cf, "read() \"%s\" failed (%d: %s)", path, errno,
                          strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t) n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
fail:
    close(fd);
    return NULL;
}

/* auth_basic_user_file FILE; (relative to the including file's directory) */
static int
sl_auth_set_file(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_auth_loc_conf *alcf = conf;
    struct sl_str *a = &cf->node->args[0];
    struct sl_auth_user *u;
    const char *slash;
    char *path, *buf, *line, *end, *colon, *hash_end;
    size_t len, dlen;
    unsigned lineno = 0;

    if (a->len == 0) {
        sl_conf_error(cf, "empty \"auth_basic_user_file\"");
        return SL_ERROR;
    }
    slash = strrchr(cf->node->file, '/');
    dlen = a->data[0] != '/' && slash != NULL
           ? (size_t) (slash - cf->node->file) + 1 : 0;
    path = sl_pnalloc(cf->pool, dlen + a->len + 1);
    if (path == NULL)
        return SL_ERROR;
    memcpy(path, cf->node->file, dlen);
    memcpy(path + dlen, a->data, a->len);
    path[dlen + a->len] = '\0';

    buf = sl_auth_read_file(cf, path, &len);
    if (buf == NULL)
        return SL_ERROR;
    alcf->users = sl_array_create(cf->pool, 8, sizeof(*u));
    if (alcf->users == NULL)
        return SL_ERROR;
    alcf->file = path;
    for (line = buf; line < buf + len; line = end + 1) {
        lineno++;
        end = memchr(line, '\n', (size_t) (buf + len - line));
        if (end == NULL)
            end = buf + len;
        *end = '\0';
        if (end > line && end[-1] == '\r')
            end[-1] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        colon = strchr(line, ':');
        if (colon == NULL || colon == line) {
            sl_conf_error(cf, "%s:%u: invalid line in password file",
                          path, lineno);
            return SL_ERROR;
        }
        *colon = '\0';
        hash_end = strchr(colon + 1, ':');
        if (hash_end != NULL)
            *hash_end = '\0';
        if (sl_auth_hash_type(colon + 1) == SL_HASH_NONE) {
            sl_conf_error(cf, "%s:%u: unsupported password hash for user "
                          "\"%s\" (use bcrypt, $6$, $5$, $apr1$ or {SHA})",
                          path, lineno, line);
            return SL_ERROR;
        }
        u = sl_array_push(alcf->users);
        if (u == NULL)
            return SL_ERROR;
        u->name.data = line;
        u->name.len = (size_t) (colon - line);
        u->hash = colon + 1;
    }
    return SL_OK;
}

static void *
sl_auth_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_auth_loc_conf *alcf = sl_pcalloc(cf->pool, sizeof(*alcf));

    if (alcf == NULL)
        return NULL;
    alcf->enabled = SL_CONF_UNSET;
    alcf->users = SL_CONF_UNSET_PTR;
    return alcf;
}

static int
sl_auth_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_auth_loc_conf *prev = parent, *conf = child;

    if (conf->enabled == SL_CONF_UNSET) {
        conf->enabled = prev->enabled == SL_CONF_UNSET ? 0 : prev->enabled;
        conf->challenge = prev->challenge;
    }
    if (conf->users == SL_CONF_UNSET_PTR) {
        conf->users = prev->users == SL_CONF_UNSET_PTR ? NULL : prev->users;
        conf->file = prev->file;
    }
    return SL_OK;
}

/* ---- run time ------------------------------------------------------------ */

static const signed char sl_auth_b64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64
};

/* Strict base64 (padding optional); returns the length or -1. */
static ssize_t
sl_auth_unbase64(const char *in, size_t len, char *out)
{
    uint32_t acc = 0;
    size_t i, n = 0;
    unsigned bits = 0;
    int v;

    while (len > 0 && in[len - 1] == '=')
        len--;
    for (i = 0; i < len; i++) {
        v = sl_auth_b64[(unsigned char) in[i]];
        if (v == 0)
            return -1;
        acc = (acc << 6) | (uint32_t) (v - 1);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char) (acc >> bits);
        }
    }
    return bits >= 6 ? -1 : (ssize_t) n;
}

static int
sl_auth_log(struct sl_http_request *r, const char *what, const char *user,
    size_t ulen)
{
    char client[SL_SOCKADDR_STRLEN];

    sl_sockaddr_ntop(&r->c->peer.sa, client, sizeof(client), 0);
    sl_log_error(SL_LOG_ERR, 0, "user \"%.*s\": %s, client: %s, request: "
                 "\"%.*s\"", (int) sl_min(ulen, 64), user, what, client,
                 (int) r->request_line.len, r->request_line.data);
    return 401;
}

static int
sl_auth_challenge(struct sl_http_request *r, struct sl_auth_loc_conf *alcf)
{
    if (sl_http_add_header(r, "WWW-Authenticate", 16, alcf->challenge.data,
                           alcf->challenge.len) != SL_OK)
    {
        return 500;
    }
    return 401;
}

static int
sl_auth_basic_handler(struct sl_http_request *r)
{
    struct sl_auth_loc_conf *alcf;
    struct sl_http_head *h = r->head;
    struct sl_auth_user *users;
    struct sl_str *auth = NULL;
    const char *p, *end, *colon;
    char *dec;
    ssize_t n;
    unsigned i;
    int rc;

    alcf = sl_http_get_module_loc_conf(r, sl_auth_basic_module);
    if (alcf == NULL || !alcf->enabled || alcf->users == NULL) {
        /* satisfy any, refused by address and no auth to make up for it */
        if (r->access_denied)
            return 403;
        return SL_DECLINED;
    }
    /* The credentials were meant for us, whatever happens next. */
    r->auth_basic = 1;
    if (r->access_allowed)
        return SL_DECLINED;     /* satisfy any: the address was enough */

    for (i = 0; i < h->nheaders; i++) {
        if (!sl_str_caseeq(&h->headers[i].name, "authorization"))
            continue;
        if (auth != NULL)
            return sl_auth_challenge(r, alcf);  /* two: ambiguous */
        auth = &h->headers[i].value;
    }
    if (auth == NULL)
        return sl_auth_challenge(r, alcf);
    p = auth->data;
    end = p + auth->len;
    if (auth->len < 6 || strncasecmp(p, "Basic ", 6) != 0)
        return sl_auth_challenge(r, alcf);
    for (p += 6; p < end && *p == ' '; p++)
        ;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    dec = sl_pnalloc(r->pool, (size_t) (end - p) / 4 * 3 + 3);
    if (dec == NULL)
        return 500;
    n = sl_auth_unbase64(p, (size_t) (end - p), dec);
    if (n <= 0)
        return sl_auth_challenge(r, alcf);
    colon = memchr(dec, ':', (size_t) n);
    if (colon == NULL || colon == dec)
        return sl_auth_challenge(r, alcf);

    users = alcf->users->elts;
    for (i = 0; i < alcf->users->nelts; i++) {
        if (users[i].name.len == (size_t) (colon - dec)
            && memcmp(users[i].name.data, dec, users[i].name.len) == 0)
        {
            break;
        }
    }
    if (i == alcf->users->nelts) {
        sl_auth_log(r, "was not found", dec, (size_t) (colon - dec));
        return sl_auth_challenge(r, alcf);
    }
    rc = sl_auth_basic_check(users[i].hash, colon + 1,
                             (size_t) (dec + n - colon - 1));
    OPENSSL_cleanse((char *) colon + 1, (size_t) (dec + n - colon - 1));
    if (rc != 1) {
        sl_auth_log(r, rc == 0 ? "password mismatch"
                               : "password check failed", dec,
                    (size_t) (colon - dec));
        return sl_auth_challenge(r, alcf);
    }
    r->remote_user.data = dec;
    r->remote_user.len = (size_t) (colon - dec);
    return SL_OK;
}

static void *
sl_auth_create_http_main(struct sl_conf_ctx *cf)
{
    return sl_pcalloc(cf->pool, 1);
}

static int
sl_auth_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    if (sl_http_add_access_handler(sl_auth_basic_handler) != SL_OK) {
        sl_conf_error(cf, "too many access handlers");
        return SL_ERROR;
    }
    return SL_OK;
}

struct sl_module sl_auth_basic_module = {
    "auth_basic", sl_auth_cmds, NULL, NULL,
    sl_auth_create_http_main, sl_auth_init_http_main,
    NULL, NULL, sl_auth_create_loc, sl_auth_merge_loc, NULL, 0
};

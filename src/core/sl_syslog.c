/*
 * sl_syslog.c: syslog targets: parsing "syslog:..." arguments, opening
 * the datagram socket, formatting RFC 3164 headers and sending.
 *
 * The error log and the access log share this code.  Sending must never
 * stall a worker, so the socket is non-blocking and every send uses
 * MSG_DONTWAIT: a receiver that is full or gone costs a dropped message
 * and a counter, never a wait.  Host names are not resolved (a worker
 * cannot block in the resolver, and a reload would silently re-resolve):
 * the address is an IP address, "localhost" or a UNIX socket.
 */
#include "sl_core.h"
#include "sl_syslog.h"

#include <arpa/inet.h>
#include <limits.h>

static const char *sl_syslog_facilities[] = {
    "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news",
    "uucp", "clock", "authpriv", "ftp", "ntp", "audit", "alert", "cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7"
};

/* The error log's level names, so "severity=" reads like "error_log". */
static const char *sl_syslog_severities[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

static const char *sl_syslog_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"
};

static char sl_syslog_host[HOST_NAME_MAX + 1];

/* ---- parsing -------------------------------------------------------------- */

int
sl_syslog_is_spec(const struct sl_str *s)
{
    return s->len >= 7 && memcmp(s->data, "syslog:", 7) == 0;
}

static int
sl_syslog_name(const struct sl_str *v, const char **names, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (sl_str_eq(v, names[i]))
            return (int) i;
    }
    return -1;
}

/* "PORT" after a host; SL_ERROR unless 1..65535. */
static int
sl_syslog_port(const char *p, size_t len, uint16_t *port)
{
    int64_t n;

    n = sl_atoi(p, len);
    if (n < 1 || n > 65535)
        return SL_ERROR;
    *port = htons((uint16_t) n);
    return SL_OK;
}

/*
 * server=: unix:/PATH, [IPV6][:PORT], IPV6 (without a port), IPV4[:PORT]
 * or localhost[:PORT].
 */
static int
sl_syslog_parse_server(const struct sl_str *v, struct sl_syslog_peer *peer)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *p, *end = v->data + v->len, *colon;
    uint16_t port = htons(SL_SYSLOG_DEFAULT_PORT);
    size_t hl;

    if (v->len == 0 || v->len >= sizeof(peer->server))
        return SL_ERROR;
    memcpy(peer->server, v->data, v->len);
    peer->server[v->len] = '\0';

    if (v->len > 5 && memcmp(v->data, "unix:", 5) == 0) {
        hl = v->len - 5;
        if (v->data[5] != '/' || hl >= sizeof(peer->addr.sun.sun_path)
            || memchr(v->data + 5, '\0', hl) != NULL)
        {
            return SL_ERROR;
        }
        peer->addr.sun.sun_family = AF_UNIX;
        memcpy(peer->addr.sun.sun_path, v->data + 5, hl);
        peer->addr.sun.sun_path[hl] = '\0';
        peer->socklen = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                                     + hl + 1);
        return SL_OK;
    }

    if (v->data[0] == '[') {
        p = memchr(v->data, ']', v->len);
        if (p == NULL)
            return SL_ERROR;
        hl = (size_t) (p - v->data - 1);
        if (p + 1 < end) {
            if (p[1] != ':'
                || sl_syslog_port(p + 2, (size_t) (end - p - 2), &port)
                   != SL_OK)
            {
                return SL_ERROR;
            }
        }
        p = v->data + 1;
        goto ipv6;
    }

    colon = memchr(v->data, ':', v->len);
    if (colon != NULL && memchr(colon + 1, ':', (size_t) (end - colon - 1))
                         != NULL)
    {
        /* Two colons: a bare IPv6 address, which cannot carry a port. */
        p = v->data;
        hl = v->len;
        goto ipv6;
    }
    hl = colon != NULL ? (size_t) (colon - v->data) : v->len;
    if (colon != NULL
        && sl_syslog_port(colon + 1, (size_t) (end - colon - 1), &port)
           != SL_OK)
    {
        return SL_ERROR;
    }
    if (hl == 0 || hl >= sizeof(host))
        return SL_ERROR;
    memcpy(host, v->data, hl);
    host[hl] = '\0';
    peer->addr.sin.sin_family = AF_INET;
    peer->addr.sin.sin_port = port;
    peer->socklen = sizeof(struct sockaddr_in);
    if (strcmp(host, "localhost") == 0) {
        peer->addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return SL_OK;
    }
    return inet_pton(AF_INET, host, &peer->addr.sin.sin_addr) == 1
           ? SL_OK : SL_ERROR;

ipv6:
    if (hl == 0 || hl >= sizeof(host))
        return SL_ERROR;
    memcpy(host, p, hl);
    host[hl] = '\0';
    peer->addr.sin6.sin6_family = AF_INET6;
    peer->addr.sin6.sin6_port = port;
    peer->socklen = sizeof(struct sockaddr_in6);
    return inet_pton(AF_INET6, host, &peer->addr.sin6.sin6_addr) == 1
           ? SL_OK : SL_ERROR;
}

int
sl_syslog_parse(const struct sl_str *spec, struct sl_syslog_peer *peer,
    char *err, size_t errlen)
{
    struct sl_str par, name, val;
    const char *p, *end, *comma, *eq;
    unsigned seen = 0, bit;
    size_t i;
    int n;

    memset(peer, 0, sizeof(*peer));
    peer->magic = SL_SYSLOG_PEER_MAGIC;
    peer->fd = -1;
    peer->facility = 23;                /* local7 */
    peer->severity = SL_LOG_INFO;
    memcpy(peer->tag, "sluice", sizeof("sluice"));

    if (!sl_syslog_is_spec(spec)) {
        snprintf(err, errlen, "syslog target must start with \"syslog:\"");
        return SL_ERROR;
    }
    p = spec->data + 7;
    end = spec->data + spec->len;
    if (p == end) {
        snprintf(err, errlen, "no syslog server specified");
        return SL_ERROR;
    }
    while (p <= end) {
        comma = memchr(p, ',', (size_t) (end - p));
        par.data = (char *) p;
        par.len = (size_t) ((comma != NULL ? comma : end) - p);
        p += par.len + 1;
        if (par.len == 0) {
            snprintf(err, errlen, "empty parameter in syslog target "
                     "\"%.*s\"", (int) spec->len, spec->data);
            return SL_ERROR;
        }
        eq = memchr(par.data, '=', par.len);
        name.data = par.data;
        name.len = eq != NULL ? (size_t) (eq - par.data) : par.len;
        val.data = eq != NULL ? (char *) eq + 1 : NULL;
        val.len = eq != NULL ? par.len - name.len - 1 : 0;

        if (sl_str_eq(&name, "server") && eq != NULL) {
            bit = 1;
            if (sl_syslog_parse_server(&val, peer) != SL_OK) {
                snprintf(err, errlen, "invalid syslog server address "
                         "\"%.*s\"", (int) val.len, val.data);
                return SL_ERROR;
            }
        } else if (sl_str_eq(&name, "facility") && eq != NULL) {
            bit = 2;
            n = sl_syslog_name(&val, sl_syslog_facilities,
                               sl_nelems(sl_syslog_facilities));
            if (n < 0) {
                snprintf(err, errlen, "unknown syslog facility \"%.*s\"",
                         (int) val.len, val.data);
                return SL_ERROR;
            }
            peer->facility = n;
        } else if (sl_str_eq(&name, "severity") && eq != NULL) {
            bit = 4;
            n = sl_syslog_name(&val, sl_syslog_severities,
                               sl_nelems(sl_syslog_severities));
            if (n < 0) {
                snprintf(err, errlen, "unknown syslog severity \"%.*s\"",
                         (int) val.len, val.data);
                return SL_ERROR;
            }
            peer->severity = n;
        } else if (sl_str_eq(&name, "tag") && eq != NULL) {
            bit = 8;
            if (val.len == 0 || val.len > SL_SYSLOG_TAG_MAX)
                goto bad_tag;
            for (i = 0; i < val.len; i++) {
                if (!(val.data[i] >= 'a' && val.data[i] <= 'z')
                    && !(val.data[i] >= 'A' && val.data[i] <= 'Z')
                    && !(val.data[i] >= '0' && val.data[i] <= '9')
                    && val.data[i] != '_')
                {
                    goto bad_tag;
                }
            }
            memcpy(peer->tag, val.data, val.len);
            peer->tag[val.len] = '\0';
        } else if (sl_str_eq(&par, "nohostname")) {
            bit = 16;
            peer->nohostname = 1;
        } else {
            snprintf(err, errlen, "unknown syslog parameter \"%.*s\"",
                     (int) par.len, par.data);
            return SL_ERROR;
        }
        if (seen & bit) {
            snprintf(err, errlen, "duplicate syslog parameter \"%.*s\"",
                     (int) name.len, name.data);
            return SL_ERROR;
        }
        seen |= bit;
        if (comma == NULL)
            break;
    }
    if (!(seen & 1)) {
        snprintf(err, errlen, "no syslog server specified");
        return SL_ERROR;
    }
    return SL_OK;

bad_tag:
    snprintf(err, errlen, "invalid syslog tag \"%.*s\": 1 to %d letters, "
             "digits or \"_\"", (int) val.len, val.data, SL_SYSLOG_TAG_MAX);
    return SL_ERROR;
}

/* ---- the socket ----------------------------------------------------------- */

const char *
sl_syslog_hostname(void)
{
    char *dot;

    if (sl_syslog_host[0] == '\0') {
        if (gethostname(sl_syslog_host, sizeof(sl_syslog_host) - 1) == -1
            || sl_syslog_host[0] == '\0')
        {
            memcpy(sl_syslog_host, "localhost", sizeof("localhost"));
        }
        sl_syslog_host[sizeof(sl_syslog_host) - 1] = '\0';
        /* RFC 3164 4.1.2: the host name without its domain. */
        dot = strchr(sl_syslog_host, '.');
        if (dot != NULL && dot != sl_syslog_host)
            *dot = '\0';
    }
    return sl_syslog_host;
}

static int
sl_syslog_connect(struct sl_syslog_peer *peer)
{
    peer->retry_sec = sl_time_sec;
    if (connect(peer->fd, &peer->addr.sa, peer->socklen) == -1)
        return SL_ERROR;
    peer->connected = 1;
    return SL_OK;
}

int
sl_syslog_open(struct sl_syslog_peer *peer)
{
    SL_CHECK_OBJ_NOTNULL(peer, SL_SYSLOG_PEER_MAGIC);
    (void) sl_syslog_hostname();    /* once, before the children fork */
    peer->fd = socket(peer->addr.sa.sa_family,
                      SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (peer->fd == -1)
        return SL_ERROR;
    peer->connected = 0;
    /* Not there yet (no syslog daemon, no route): retried on sending. */
    (void) sl_syslog_connect(peer);
    return SL_OK;
}

void
sl_syslog_close(struct sl_syslog_peer *peer)
{
    if (peer->fd != -1) {
        close(peer->fd);
        peer->fd = -1;
    }
    peer->connected = 0;
}

/* ---- messages ------------------------------------------------------------- */

size_t
sl_syslog_header(char *buf, size_t size, const struct sl_syslog_peer *peer,
    int severity, time_t t, const char *hostname)
{
    static time_t cached_t = -1;
    static char cached[sizeof("Nov 28 10:00:00")];
    char tmp[64];
    struct tm tm;
    int n;

    if (t != cached_t) {
        localtime_r(&t, &tm);
        /* Through tmp: the fields fit, whatever gcc fears. */
        snprintf(tmp, sizeof(tmp), "%s %2d %02d:%02d:%02d",
                 sl_syslog_months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        memcpy(cached, tmp, sizeof(cached) - 1);
        cached[sizeof(cached) - 1] = '\0';
        cached_t = t;
    }
    if (severity < 0 || severity > 7)
        severity = SL_LOG_INFO;
    if (peer->nohostname || hostname == NULL)
        n = snprintf(buf, size, "<%d>%s %s: ",
                     peer->facility * 8 + severity, cached, peer->tag);
    else
        n = snprintf(buf, size, "<%d>%s %s %s: ",
                     peer->facility * 8 + severity, cached, hostname,
                     peer->tag);
    if (n < 0 || size == 0)
        return 0;
    return (size_t) n < size ? (size_t) n : size - 1;
}

/* Counts a dropped message; call and err say why. */
static void
sl_syslog_drop(struct sl_syslog_peer *peer, const char *call, int err)
{
    peer->drops++;
    peer->drops_total++;
    /*
     * Reporting a syslog failure to syslog would only add to the loss
     * (and could recurse): only a file or stderr error log hears of it.
     */
    if (sl_log_main.syslog != NULL)
        return;
    if (peer->report_sec != 0
        && sl_time_sec - peer->report_sec < SL_SYSLOG_REPORT_SEC)
    {
        return;
    }
    peer->report_sec = sl_time_sec ? sl_time_sec : 1;
    sl_log_error(SL_LOG_WARN, err, "syslog server \"%s\": %llu message%s "
                 "dropped (%llu in all), the last because %s failed",
                 peer->server, (unsigned long long) peer->drops,
                 peer->drops == 1 ? "" : "s",
                 (unsigned long long) peer->drops_total, call);
    peer->drops = 0;
}

int
sl_syslog_send(struct sl_syslog_peer *peer, int severity, const char *msg,
    size_t len)
{
    char head[SL_SYSLOG_TAG_MAX + HOST_NAME_MAX + 64];
    struct msghdr mh;
    struct iovec iov[2];
    int err;

    SL_CHECK_OBJ_NOTNULL(peer, SL_SYSLOG_PEER_MAGIC);
    if (sl_time_sec == 0)
        sl_time_update();
    if (peer->fd == -1) {
        sl_syslog_drop(peer, "socket()", EBADF);
        return SL_ERROR;
    }
    if (!peer->connected) {
        if (peer->retry_sec == sl_time_sec) {
            sl_syslog_drop(peer, "connect()", ENOTCONN);
            return SL_ERROR;
        }
        if (sl_syslog_connect(peer) != SL_OK) {
            sl_syslog_drop(peer, "connect()", errno);
            return SL_ERROR;
        }
    }
    iov[0].iov_base = head;
    iov[0].iov_len = sl_syslog_header(head, sizeof(head), peer, severity,
                                      sl_time_sec, sl_syslog_hostname());
    iov[1].iov_base = (void *) msg;
    iov[1].iov_len = len;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    if (sendmsg(peer->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)
        return SL_OK;
    err = errno;
    /*
     * A UNIX receiver that went away (a restarted syslog daemon binds a
     * new socket at the same path) leaves this one unconnected: connect
     * again, at most once a second.  UDP's ECONNREFUSED is only an ICMP
     * echo of an earlier datagram; the socket stays as it is.
     */
    if (peer->addr.sa.sa_family == AF_UNIX
        && (err == ECONNREFUSED || err == ENOTCONN || err == ENOENT))
    {
        peer->connected = 0;
    }
    sl_syslog_drop(peer, "sendmsg()", err);
    return SL_ERROR;
}

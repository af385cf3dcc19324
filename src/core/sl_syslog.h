/*
 * sl_syslog.h: syslog targets for the error log and the access log, in
 * nginx's syntax:
 *
 *   syslog:server=ADDRESS[,facility=F][,severity=S][,tag=T][,nohostname]
 *
 * ADDRESS is unix:/PATH, IPV4[:PORT], [IPV6][:PORT] or localhost[:PORT]
 * (port 514 by default).  Messages are RFC 3164 datagrams:
 *
 *   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG: message
 *
 * sent on one connected, non-blocking SOCK_DGRAM socket per target.  The
 * master opens the socket with the configuration; children inherit it.
 * A message the receiver cannot take now (gone, full, too long) is
 * dropped and counted; sending never blocks.
 */
#ifndef SL_SYSLOG_H
#define SL_SYSLOG_H

#include <sys/un.h>
#include <netinet/in.h>

#define SL_SYSLOG_TAG_MAX        32
#define SL_SYSLOG_DEFAULT_PORT   514
#define SL_SYSLOG_REPORT_SEC     60     /* between two drop warnings */
#define SL_SYSLOG_SERVER_MAX     120    /* "unix:" and a sun_path */

struct sl_syslog_peer {
    unsigned                 magic;
#define SL_SYSLOG_PEER_MAGIC     0x53595347U
    union {
        struct sockaddr      sa;
        struct sockaddr_in   sin;
        struct sockaddr_in6  sin6;
        struct sockaddr_un   sun;
    }                        addr;
    socklen_t                socklen;
    char                     server[SL_SYSLOG_SERVER_MAX];  /* as written */
    int                      facility;       /* 0..23 */
    int                      severity;       /* 0..7, the access log's */
    char                     tag[SL_SYSLOG_TAG_MAX + 1];
    unsigned                 nohostname:1;
    unsigned                 connected:1;
    int                      fd;             /* -1 until opened */
    time_t                   retry_sec;      /* last connect() attempt */
    uint64_t                 drops;          /* since the last warning */
    uint64_t                 drops_total;
    time_t                   report_sec;     /* last warning, 0: never */
};

/* True when s starts with "syslog:". */
int sl_syslog_is_spec(const struct sl_str *s);
/*
 * Parses spec ("syslog:server=...,...") into peer, which it initialises
 * (defaults: facility local7, severity info, tag "sluice"; fd -1).
 * Returns SL_OK, or SL_ERROR with the reason (no file or line) in err.
 */
int sl_syslog_parse(const struct sl_str *spec, struct sl_syslog_peer *peer,
    char *err, size_t errlen);
/*
 * Creates the peer's socket (CLOEXEC, non-blocking) and connects it.  A
 * receiver that is not there yet is no error: connect() is retried, at
 * most once a second, when messages come.  Returns SL_ERROR with errno
 * set only when the socket cannot be created.
 */
int sl_syslog_open(struct sl_syslog_peer *peer);
void sl_syslog_close(struct sl_syslog_peer *peer);
/*
 * Writes "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: " for severity at local time
 * t into buf (NUL-terminated when it fits); HOSTNAME is left out with
 * nohostname or when hostname is NULL.  Returns the length (at most
 * size - 1).
 */
size_t sl_syslog_header(char *buf, size_t size,
    const struct sl_syslog_peer *peer, int severity, time_t t,
    const char *hostname);
/*
 * Sends msg[0..len) (no newline) with severity.  Never blocks; returns
 * SL_OK, or SL_ERROR when the message was dropped.  Drops are counted and,
 * when the error log is not itself syslog, reported as a [warn] at most
 * once a minute per target.
 */
int sl_syslog_send(struct sl_syslog_peer *peer, int severity,
    const char *msg, size_t len);
/* The host name sent in messages (this host's, without its domain). */
const char *sl_syslog_hostname(void);

#endif /* SL_SYSLOG_H */

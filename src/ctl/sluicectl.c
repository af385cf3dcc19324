/*
 * sluicectl.c: the control tool.  It sends one command line to the
 * master's control socket, prints the reply and exits with the status the
 * master returned; see sl_ctl.h for the protocol.
 *
 * The output is buffered until the master closes the connection, so a
 * script sees either the whole output and exit 0, or one line on stderr
 * and exit 1, never a listing cut short with a success status.
 */

#include "sl_core.h"
#include "sl_ctl.h"

#include <sys/time.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>

#ifndef SL_DEFAULT_CTL_SOCKET
#ifndef SL_RUNSTATEDIR
#error "SL_RUNSTATEDIR must be defined (the Makefile passes it with -D)"
#endif
#define SL_DEFAULT_CTL_SOCKET  SL_RUNSTATEDIR "/sluice/sluice.sock"
#endif

/* Longer than the master's own deadline: a reload parses and forks. */
#define SL_CTL_CLIENT_TIMEOUT_MS  5000
/* Sanity bound on what we buffer; far above any real listing. */
#define SL_CTL_CLIENT_MAX_REPLY   (64 * 1024 * 1024)

static const char  *sl_ctl_path;

static void
sl_ctl_usage(FILE *f)
{
    fprintf(f,
        "usage: sluicectl [-j] [-s socket] command [argument ...]\n"
        "       sluicectl -V | -h\n"
        "\n"
        "  -s socket  control socket (default: $SLUICE_CONTROL_SOCKET,\n"
        "             else %s)\n"
        "  -j         JSON output\n"
        "  -h         this help\n"
        "  -V         version\n"
        "\n"
        "commands:\n"
        "  status     master, configuration and children\n"
        "  reload     check the configuration and switch to it\n"
        "  stop       stop at once\n"
        "  quit       stop after in-flight requests\n"
        "  reopen     reopen log files\n"
        "  servers [UPSTREAM]           upstream servers and their state\n"
        "  drain|ready|maint U/SERVER   change a server's admin state\n"
        "  weight U/SERVER N            change a server's weight\n"
        "  server add U ADDRESS [weight=N] | server remove U ADDRESS\n"
        "                               change a group's servers\n"
        "  cache purge [--prefix] [--zone NAME] KEY|URL\n"
        "                               remove cached objects\n"
        "  cache stats [--zone NAME]    cache zones, counters, check\n",
        SL_DEFAULT_CTL_SOCKET);
}

static sl_msec_t
sl_ctl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until fd is ready for events or the deadline passes.  Returns
 * SL_OK when ready (or in error: the next call says which), SL_AGAIN on
 * timeout, SL_ERROR with errno when poll() fails.
 */
static int
sl_ctl_wait(int fd, short events, sl_msec_t deadline)
{
    struct pollfd  pfd;
    sl_msec_t      left;
    int            n;

    for ( ;; ) {
        left = deadline - sl_ctl_now();
        if (left <= 0) {
            return SL_AGAIN;
        }

        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;

        n = poll(&pfd, 1, (int) left);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            return SL_ERROR;
        }
        if (n > 0) {
            return SL_OK;
        }
    }
}

/*
 * Joins the words into "[-j ]word ...\n" in req (size bytes).  The master
 * rejects anything its grammar does not allow, but a local check can name
 * the offending argument; sl_ctl_split() then runs on a copy so that the
 * two ends cannot disagree.  Returns the length, or -1 after printing why.
 */
static int
sl_ctl_build_request(char *req, size_t size, int json, int argc,
    char **argv)
{
    char         copy[SL_CTL_MAX_REQUEST + 1];
    char        *words[SL_CTL_MAX_ARGS];
    const char  *p;
    size_t       len, n;
    int          i, dummy;

    if (argc > SL_CTL_MAX_ARGS) {
        fprintf(stderr, "sluicectl: too many arguments (at most %d)\n",
                SL_CTL_MAX_ARGS - 1);
        return -1;
    }

    len = 0;
    if (json) {
        memcpy(req, "-j ", 3);
        len = 3;
    }

    for (i = 0; i < argc; i++) {
        if (argv[i][0] == '\0') {
            fprintf(stderr, "sluicectl: empty argument\n");
            return -1;
        }

        for (p = argv[i]; *p != '\0'; p++) {
            if (*p == ' ') {
                fprintf(stderr, "sluicectl: invalid argument \"%s\": "
                        "contains a space\n", argv[i]);
                return -1;
            }
            if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                fprintf(stderr, "sluicectl: invalid argument %d: contains "
                        "a newline or control character\n", i + 1);
                return -1;
            }
        }

        n = strlen(argv[i]);
        /* room for this word, its separator or newline, and the NUL */
        if (n + 2 > size - len) {
            fprintf(stderr, "sluicectl: command too long (at most %d "
                    "bytes)\n", SL_CTL_MAX_REQUEST - 1);
            return -1;
        }

        memcpy(req + len, argv[i], n);
        len += n;
        req[len++] = i + 1 < argc ? ' ' : '\n';
    }

    req[len] = '\0';

    memcpy(copy, req, len + 1);
    if (sl_ctl_split(copy, words, SL_CTL_MAX_ARGS, &dummy) == -1) {
        fprintf(stderr, "sluicectl: invalid command\n");
        return -1;
    }

    return (int) len;
}

/*
 * Connects to the control socket.  connect() on a UNIX socket cannot be
 * polled for (a full backlog gives EAGAIN, not EINPROGRESS), so the
 * socket stays blocking until then and SO_SNDTIMEO bounds the wait.
 * Returns the fd, non-blocking, or -1 after printing why.
 */
static int
sl_ctl_connect(const char *path, sl_msec_t deadline)
{
    struct sockaddr_un  addr;
    struct timeval      tv;
    sl_msec_t           left;
    size_t              len;
    int                 fd, err;

    len = strlen(path);
    if (len == 0 || len >= sizeof(addr.sun_path)) {
        fprintf(stderr, "sluicectl: invalid socket path \"%s\": empty or "
                "longer than %zu bytes\n", path, sizeof(addr.sun_path) - 1);
        return -1;
    }

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "sluicectl: socket() failed: %s\n", strerror(errno));
        return -1;
    }

    left = deadline - sl_ctl_now();
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;

    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
        fprintf(stderr, "sluicectl: setsockopt(SO_SNDTIMEO) failed: %s\n",
                strerror(errno));
        goto fail;
    }

    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == -1) {
        err = errno;

        if (err == EAGAIN || err == EINPROGRESS) {
            fprintf(stderr, "sluicectl: cannot connect to %s: timed out "
                    "(the master is not accepting)\n", path);
        } else if (err == ENOENT || err == ECONNREFUSED) {
            fprintf(stderr, "sluicectl: cannot connect to %s: %s "
                    "(is sluice running?)\n", path, strerror(err));
        } else {
            fprintf(stderr, "sluicectl: cannot connect to %s: %s\n",
                    path, strerror(err));
        }
        goto fail;
    }

    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
        fprintf(stderr, "sluicectl: fcntl() failed: %s\n", strerror(errno));
        goto fail;
    }

    return fd;

fail:

    close(fd);
    return -1;
}

/*
 * Sends the request.  Returns SL_OK; SL_DONE when the master closed the
 * connection first, which it does after refusing a peer without reading
 * (the refusal is then waiting to be read); SL_AGAIN on timeout; SL_ERROR
 * with errno.
 */
static int
sl_ctl_send(int fd, const char *buf, size_t len, sl_msec_t deadline)
{
    ssize_t  n;
    int      rc;

    while (len > 0) {
        n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                return SL_DONE;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return SL_ERROR;
            }

            rc = sl_ctl_wait(fd, POLLOUT, deadline);
            if (rc != SL_OK) {
                return rc;
            }
            continue;
        }

        buf += n;
        len -= (size_t) n;
    }

    return SL_OK;
}

/*
 * Reads until the master closes.  *buf is malloc()ed (NUL-terminated) and
 * owned by the caller, also on failure.  Returns SL_OK; SL_AGAIN on
 * timeout; SL_ERROR with errno (ENOMEM, EFBIG for an absurd reply).
 */
static int
sl_ctl_recv(int fd, char **buf, size_t *len, sl_msec_t deadline)
{
    size_t    cap;
    ssize_t   n;
    char     *p;
    int       rc;

    *buf = NULL;
    *len = 0;
    cap = 0;

    for ( ;; ) {
        if (cap - *len < 2) {
            if (cap >= SL_CTL_CLIENT_MAX_REPLY) {
                errno = EFBIG;
                return SL_ERROR;
            }
            cap = cap ? 2 * cap : 4096;
            p = realloc(*buf, cap);
            if (p == NULL) {
                errno = ENOMEM;
                return SL_ERROR;
            }
            *buf = p;
        }

        n = recv(fd, *buf + *len, cap - *len - 1, 0);

        if (n > 0) {
            *len += (size_t) n;
            continue;
        }

        if (n == 0) {
            break;
        }

        if (errno == EINTR) {
            continue;
        }

        /*
         * The master drains what we sent before it closes, but a request
         * that arrives between its drain and its close() still turns our
         * EOF into ECONNRESET; everything it wrote has been read by then.
         */
        if (errno == ECONNRESET && *len > 0) {
            break;
        }

        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return SL_ERROR;
        }

        rc = sl_ctl_wait(fd, POLLIN, deadline);
        if (rc != SL_OK) {
            return rc;
        }
    }

    (*buf)[*len] = '\0';
    return SL_OK;
}

/*
 * Prints the reply and returns the exit status: the master's, or 1 when
 * the reply is not a reply or stdout cannot take it.
 */
static int
sl_ctl_print_reply(const char *buf, size_t len)
{
    const char  *out;
    size_t       n;

    if (len == 0) {
        fprintf(stderr, "sluicectl: protocol error: %s closed the "
                "connection without a reply\n", sl_ctl_path);
        return 1;
    }

    if (len < 2 || (buf[0] != '0' && buf[0] != '1') || buf[1] != '\n') {
        fprintf(stderr, "sluicectl: protocol error: no status line in the "
                "reply from %s\n", sl_ctl_path);
        return 1;
    }

    out = buf + 2;
    n = len - 2;

    if (buf[0] == '1') {
        while (n > 0 && out[n - 1] == '\n') {
            n--;
        }
        if (n == 0) {
            fprintf(stderr, "sluicectl: command failed\n");
        } else {
            fprintf(stderr, "sluicectl: %.*s\n", (int) n, out);
        }
        return 1;
    }

    if (fwrite(out, 1, n, stdout) != n || fflush(stdout) == EOF) {
        fprintf(stderr, "sluicectl: write to stdout failed: %s\n",
                strerror(errno));
        return 1;
    }

    return 0;
}

int
main(int argc, char **argv)
{
    const char  *env;
    sl_msec_t    deadline;
    size_t       len;
    char         req[SL_CTL_MAX_REQUEST + 1];
    char        *buf;
    int          ch, json, reqlen, fd, rc, status;

    sl_ctl_path = NULL;
    json = 0;

    /* "+": stop at the command, its arguments may start with '-' */
    while ((ch = getopt(argc, argv, "+hjs:V")) != -1) {
        switch (ch) {
        case 'h':
            sl_ctl_usage(stdout);
            return 0;
        case 'j':
            json = 1;
            break;
        case 's':
            sl_ctl_path = optarg;
            break;
        case 'V':
            printf("sluicectl version %s\n", SL_VERSION);
            return 0;
        default:
            sl_ctl_usage(stderr);
            return 1;
        }
    }

    argc -= optind;
    argv += optind;

    if (argc == 0) {
        sl_ctl_usage(stderr);
        return 1;
    }

    if (sl_ctl_path == NULL) {
        env = getenv("SLUICE_CONTROL_SOCKET");
        sl_ctl_path = env != NULL && env[0] != '\0'
                      ? env : SL_DEFAULT_CTL_SOCKET;
    }

    reqlen = sl_ctl_build_request(req, sizeof(req), json, argc, argv);
    if (reqlen == -1) {
        return 1;
    }

    deadline = sl_ctl_now() + SL_CTL_CLIENT_TIMEOUT_MS;

    fd = sl_ctl_connect(sl_ctl_path, deadline);
    if (fd == -1) {
        return 1;
    }

    buf = NULL;
    status = 1;

    rc = sl_ctl_send(fd, req, (size_t) reqlen, deadline);
    if (rc == SL_OK || rc == SL_DONE) {
        rc = sl_ctl_recv(fd, &buf, &len, deadline);
    }

    switch (rc) {
    case SL_OK:
        status = sl_ctl_print_reply(buf, len);
        break;
    case SL_AGAIN:
        fprintf(stderr, "sluicectl: no reply from %s within %d s\n",
                sl_ctl_path, SL_CTL_CLIENT_TIMEOUT_MS / 1000);
        break;
    default:
        if (errno == EFBIG) {
            fprintf(stderr, "sluicectl: protocol error: reply from %s is "
                    "larger than %d bytes\n", sl_ctl_path,
                    SL_CTL_CLIENT_MAX_REPLY);
        } else {
            fprintf(stderr, "sluicectl: %s: %s\n", sl_ctl_path,
                    strerror(errno));
        }
        break;
    }

    free(buf);
    close(fd);
    return status;
}

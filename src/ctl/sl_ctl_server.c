/*
 * sl_ctl_server.c: the master's end of the control socket.
 *
 * The master is single-threaded and also reaps and re-forks children, so a
 * client must never hold it for long: every connection is served to the
 * end in one call, with one deadline (SL_CTL_TIMEOUT_MS) covering the
 * wait for the request and the wait for the client to take the reply.
 * Peers are checked with SO_PEERCRED before a byte is read: only root and
 * the master's own user may run commands.
 *
 * A command is one row in sl_ctl_cmds: name, argument counts, handler and
 * usage.  The handler prints into a struct sl_ctl_reply (sl_ctl_proto.c)
 * and calls sl_ctl_fail() for errors; the server does the rest.
 */

#include "sl_core.h"
#include "sl_process.h"
#include "sl_ctl.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <pthread.h>

#define SL_CTL_BACKLOG       16
#define SL_CTL_DRAIN_MAX     (4 * SL_CTL_MAX_REQUEST)
#define SL_CTL_LOG_MAX       200     /* bytes of a request that are logged */

struct sl_ctl_client {
    int            fd;
    struct ucred   cred;
    sl_msec_t      deadline;       /* monotonic, ms */
};

struct sl_ctl_cmd {
    const char    *name;
    int            min_args;       /* arguments after the name */
    int            max_args;
    /* argv[0] is the name; argc counts it */
    void         (*handler)(struct sl_ctl_reply *r, int argc, char **argv);
    const char    *usage;
};

static void sl_ctl_status(struct sl_ctl_reply *r, int argc, char **argv);
static void sl_ctl_reload(struct sl_ctl_reply *r, int argc, char **argv);
static void sl_ctl_stop(struct sl_ctl_reply *r, int argc, char **argv);
static void sl_ctl_quit(struct sl_ctl_reply *r, int argc, char **argv);
static void sl_ctl_reopen(struct sl_ctl_reply *r, int argc, char **argv);

/*
 * The connection being served, for sl_ctl_atfork_child(): a reload forks
 * the new generation while the client that asked for it is connected.
 */
static int  sl_ctl_client_fd = -1;

static const struct sl_ctl_cmd  sl_ctl_cmds[] = {
    { "status", 0, 0, sl_ctl_status, "status" },
    { "reload", 0, 0, sl_ctl_reload, "reload" },
    { "stop",   0, 0, sl_ctl_stop,   "stop" },
    { "quit",   0, 0, sl_ctl_quit,   "quit" },
    { "reopen", 0, 0, sl_ctl_reopen, "reopen" },
    { "servers", 0, 1, sl_ctl_servers, "servers [UPSTREAM]" },
    { "drain",  1, 1, sl_ctl_server_admin, "drain UPSTREAM/SERVER" },
    { "ready",  1, 1, sl_ctl_server_admin, "ready UPSTREAM/SERVER" },
    { "maint",  1, 1, sl_ctl_server_admin, "maint UPSTREAM/SERVER" },
    { "weight", 2, 2, sl_ctl_server_weight, "weight UPSTREAM/SERVER N" },
    { "server", 3, 4, sl_ctl_server_change,
      "server add UPSTREAM ADDRESS [weight=N] | server remove UPSTREAM ADDRESS" },
    { "cache",  1, 5, sl_ctl_cache,
      "cache purge [--prefix] [--zone NAME] KEY|URL | cache stats [--zone NAME]" },
};

/* ---- opening and closing -------------------------------------------- */

/*
 * Tells whether a process answers on the socket file at addr.  Returns 1
 * when one does (a full backlog counts: somebody listens), 0 when the file
 * is stale, -1 on error (logged).  The probe connection makes the other
 * master log a client that went away without a request; that is harmless.
 */
static int
sl_ctl_probe(const struct sockaddr_un *addr)
{
    int  fd, rc;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        sl_log_error(SL_LOG_EMERG, errno,
                     "socket() for probing control socket \"%s\" failed",
                     addr->sun_path);
        return -1;
    }

    if (connect(fd, (const struct sockaddr *) addr, sizeof(*addr)) == 0) {
        rc = 1;
    } else if (errno == EAGAIN || errno == EINPROGRESS) {
        rc = 1;
    } else if (errno == ECONNREFUSED || errno == ENOENT) {
        rc = 0;
    } else {
        sl_log_error(SL_LOG_EMERG, errno,
                     "connect() to control socket \"%s\" failed",
                     addr->sun_path);
        rc = -1;
    }

    close(fd);
    return rc;
}

/*
 * A child forked while a command runs (the new generation of a reload)
 * must not keep the client's connection: it would hold the socket open
 * long after the master is done with it.  There is no close-on-fork flag,
 * hence the fork handler.
 */
static void
sl_ctl_atfork_child(void)
{
    if (sl_ctl_client_fd != -1) {
        close(sl_ctl_client_fd);
        sl_ctl_client_fd = -1;
    }
}

/*
 * The mode is applied through the umask during bind(), so the socket is
 * never reachable with wider permissions, not even between bind() and
 * chmod(); the chmod() is what makes bits the umask cannot grant stick.
 * Only a socket file is ever replaced: a regular file at the path is a
 * configuration mistake, not something to delete.
 */
int
sl_ctl_server_open(const char *path, mode_t mode)
{
    struct sockaddr_un   addr;
    struct stat          st;
    mode_t               old;
    size_t               len;
    int                  fd, rc, bound;
    static int           atfork;

    len = strlen(path);
    if (len == 0 || len >= sizeof(addr.sun_path)) {
        sl_log_error(SL_LOG_EMERG, 0,
                     "control socket path \"%s\" is empty or longer "
                     "than %zu bytes", path, sizeof(addr.sun_path) - 1);
        return -1;
    }

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len + 1);

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            sl_log_error(SL_LOG_EMERG, 0,
                         "control socket path \"%s\" exists and is not "
                         "a socket", path);
            return -1;
        }

        rc = sl_ctl_probe(&addr);
        if (rc == -1) {
            return -1;
        }
        if (rc == 1) {
            sl_log_error(SL_LOG_EMERG, 0,
                         "another master is running on %s", path);
            return -1;
        }

        if (unlink(path) == -1 && errno != ENOENT) {
            sl_log_error(SL_LOG_EMERG, errno,
                         "unlink() of stale control socket \"%s\" failed",
                         path);
            return -1;
        }
        sl_log_error(SL_LOG_NOTICE, 0,
                     "removed stale control socket \"%s\"", path);

    } else if (errno != ENOENT) {
        sl_log_error(SL_LOG_EMERG, errno, "lstat() \"%s\" failed", path);
        return -1;
    }

    if (!atfork) {
        rc = pthread_atfork(NULL, NULL, sl_ctl_atfork_child);
        if (rc != 0) {
            /* not fatal: shutdown() still ends the client's wait */
            sl_log_error(SL_LOG_ALERT, rc, "pthread_atfork() failed");
        } else {
            atfork = 1;
        }
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        sl_log_error(SL_LOG_EMERG, errno,
                     "socket() for control socket \"%s\" failed", path);
        return -1;
    }

    bound = 0;

    old = umask(~mode & 0777);
    rc = bind(fd, (struct sockaddr *) &addr, sizeof(addr));
    umask(old);

    if (rc == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "bind() to \"%s\" failed", path);
        goto fail;
    }
    bound = 1;

    if (chmod(path, mode & 07777) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "chmod() \"%s\" failed", path);
        goto fail;
    }

    if (listen(fd, SL_CTL_BACKLOG) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "listen() on \"%s\" failed",
                     path);
        goto fail;
    }

    return fd;

fail:

    if (bound) {
        unlink(path);
    }
    close(fd);
    return -1;
}

/*
 * Children inherit the listening fd through fork() and must close it with
 * close(), not with this function: the unlink() would take the socket away
 * from the master.
 */
void
sl_ctl_server_close(int lfd, const char *path)
{
    if (lfd != -1) {
        close(lfd);
    }

    if (path != NULL && unlink(path) == -1 && errno != ENOENT) {
        sl_log_error(SL_LOG_ALERT, errno,
                     "unlink() of control socket \"%s\" failed", path);
    }
}

/* ---- one connection ------------------------------------------------- */

static sl_msec_t
sl_ctl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sl_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until fd is ready for events or the deadline passes.  Returns
 * SL_OK when ready (including error and hangup: the next read or write
 * says which), SL_AGAIN on timeout, SL_ERROR when poll() fails.  Signals
 * do not cut the wait short; the master sees their flags when we return,
 * at most SL_CTL_TIMEOUT_MS later.
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
 * Sends data to the client.  Writing is tried before any waiting, so a
 * command that ran past the deadline (a slow reload) still gets its
 * reply out; the deadline only bounds how long a client that does not
 * read can keep us.  MSG_NOSIGNAL: a client that went away must not
 * raise SIGPIPE in the master.
 */
static void
sl_ctl_send(struct sl_ctl_client *c, struct iovec *iov, int iovcnt)
{
    struct msghdr  msg;
    ssize_t        n;
    int            rc;

    while (iovcnt > 0) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t) iovcnt;

        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sl_log_error(SL_LOG_INFO, errno,
                             "control: sendmsg() to uid %u pid %ld failed",
                             (unsigned) c->cred.uid, (long) c->cred.pid);
                return;
            }

            rc = sl_ctl_wait(c->fd, POLLOUT, c->deadline);
            if (rc == SL_AGAIN) {
                sl_log_error(SL_LOG_WARN, 0,
                             "control: uid %u pid %ld did not take its "
                             "reply within %d ms", (unsigned) c->cred.uid,
                             (long) c->cred.pid, SL_CTL_TIMEOUT_MS);
                return;
            }
            if (rc == SL_ERROR) {
                sl_log_error(SL_LOG_ALERT, errno,
                             "control: poll() failed");
                return;
            }
            continue;
        }

        while (iovcnt > 0 && (size_t) n >= iov->iov_len) {
            n -= (ssize_t) iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *) iov->iov_base + n;
            iov->iov_len -= (size_t) n;
        }
    }
}

static void
sl_ctl_send_str(struct sl_ctl_client *c, const char *s)
{
    struct iovec  iov;

    iov.iov_base = (void *) s;
    iov.iov_len = strlen(s);
    sl_ctl_send(c, &iov, 1);
}

static void
sl_ctl_send_reply(struct sl_ctl_client *c, struct sl_ctl_reply *r)
{
    struct iovec  iov[2];

    if (r->nomem) {
        sl_log_error(SL_LOG_ALERT, ENOMEM,
                     "control: cannot allocate the reply");
        sl_ctl_send_str(c, "1\ncannot allocate memory for the reply\n");
        return;
    }

    iov[0].iov_base = (char *) (r->status ? "1\n" : "0\n");
    iov[0].iov_len = 2;
    iov[1].iov_base = r->buf;
    iov[1].iov_len = r->len;

    sl_ctl_send(c, iov, r->len ? 2 : 1);
}

/*
 * The client reads until EOF, and shutdown() gives it one even if some
 * other process still holds a copy of the fd.  Closing a UNIX stream
 * socket that still has unread input makes the kernel hand the peer
 * ECONNRESET instead of EOF after our reply, so whatever the client has
 * already queued (a request we refused without reading, the rest of an
 * over-long one) is taken first.  Bounded: a client that keeps writing
 * gets the reset it asked for.
 */
static void
sl_ctl_client_close(struct sl_ctl_client *c)
{
    char     buf[1024];
    size_t   total;
    ssize_t  n;

    shutdown(c->fd, SHUT_WR);

    for (total = 0; total < SL_CTL_DRAIN_MAX; total += (size_t) n) {
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
    }

    close(c->fd);
    sl_ctl_client_fd = -1;
}

/*
 * Reads the request line into buf (size bytes, at least 2), NUL-terminated
 * and without its newline.  Returns SL_OK; SL_ERROR with *reason set to
 * what the client should be told (it may be too slow or gone to read it);
 * SL_DONE when the client went away or poll() failed and there is nobody
 * to tell.  Failures are logged here.
 */
static int
sl_ctl_read_request(struct sl_ctl_client *c, char *buf, size_t size,
    const char **reason)
{
    size_t    len;
    ssize_t   n;
    char     *nl;
    int       rc;

    len = 0;

    for ( ;; ) {
        n = recv(c->fd, buf + len, size - 1 - len, 0);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                sl_log_error(SL_LOG_INFO, errno,
                             "control: recv() from uid %u pid %ld failed",
                             (unsigned) c->cred.uid, (long) c->cred.pid);
                return SL_DONE;
            }

            rc = sl_ctl_wait(c->fd, POLLIN, c->deadline);
            if (rc == SL_AGAIN) {
                sl_log_error(SL_LOG_WARN, 0,
                             "control: uid %u pid %ld sent no request "
                             "within %d ms", (unsigned) c->cred.uid,
                             (long) c->cred.pid, SL_CTL_TIMEOUT_MS);
                *reason = "timed out waiting for the request";
                return SL_ERROR;
            }
            if (rc == SL_ERROR) {
                sl_log_error(SL_LOG_ALERT, errno, "control: poll() failed");
                return SL_DONE;
            }
            continue;
        }

        if (n == 0) {
            sl_log_error(SL_LOG_INFO, 0,
                         "control: uid %u pid %ld closed the connection "
                         "without a request", (unsigned) c->cred.uid,
                         (long) c->cred.pid);
            return SL_DONE;
        }

        nl = memchr(buf + len, '\n', (size_t) n);
        len += (size_t) n;

        if (nl != NULL) {
            break;
        }

        if (len == size - 1) {
            sl_log_error(SL_LOG_WARN, 0,
                         "control: uid %u pid %ld sent a request longer "
                         "than %zu bytes", (unsigned) c->cred.uid,
                         (long) c->cred.pid, size - 1);
            *reason = "request too long";
            return SL_ERROR;
        }
    }

    /*
     * One request per connection: bytes after the newline, or a NUL that
     * would hide the rest of the line from sl_ctl_split(), make the
     * request malformed rather than something to guess about.
     */
    if ((size_t) (nl - buf) != len - 1 || memchr(buf, '\0', len) != NULL) {
        sl_log_error(SL_LOG_WARN, 0,
                     "control: malformed request from uid %u pid %ld",
                     (unsigned) c->cred.uid, (long) c->cred.pid);
        *reason = "malformed request";
        return SL_ERROR;
    }

    *nl = '\0';
    return SL_OK;
}

static void
sl_ctl_dispatch(struct sl_ctl_reply *r, int argc, char **argv)
{
    const struct sl_ctl_cmd  *cmd;
    size_t                    i;

    for (i = 0; i < sl_nelems(sl_ctl_cmds); i++) {
        cmd = &sl_ctl_cmds[i];

        if (strcmp(argv[0], cmd->name) != 0) {
            continue;
        }

        if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
            sl_ctl_fail(r, "usage: %s", cmd->usage);
            return;
        }

        cmd->handler(r, argc, argv);
        return;
    }

    sl_ctl_fail(r, "unknown command \"%s\"", argv[0]);
}

/*
 * Serves one client completely: credentials, request, command, reply,
 * close.  Returns at once when no client is pending, so the listener is
 * expected to be watched level-triggered: one client per call keeps a
 * burst of clients from delaying signals by more than one deadline each.
 */
void
sl_ctl_server_accept(int lfd)
{
    struct sl_ctl_client   c;
    struct sl_ctl_reply    r;
    socklen_t              len;
    const char            *reason, *cmdline;
    size_t                 cmdlen;
    char                   line[SL_CTL_MAX_REQUEST + 1];
    char                   copy[SL_CTL_MAX_REQUEST + 1];
    char                  *argv[SL_CTL_MAX_ARGS];
    int                    argc, json, rc;

    c.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c.fd == -1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
            && errno != ECONNABORTED)
        {
            sl_log_error(SL_LOG_ALERT, errno,
                         "accept4() on control socket failed");
        }
        return;
    }

    sl_ctl_client_fd = c.fd;
    c.deadline = sl_ctl_now() + SL_CTL_TIMEOUT_MS;

    len = sizeof(c.cred);
    if (getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len) == -1) {
        sl_log_error(SL_LOG_ALERT, errno,
                     "control: getsockopt(SO_PEERCRED) failed");
        goto done;
    }

    if (c.cred.uid != 0 && c.cred.uid != geteuid()) {
        sl_log_error(SL_LOG_WARN, 0,
                     "control: uid %u pid %ld refused: permission denied",
                     (unsigned) c.cred.uid, (long) c.cred.pid);
        sl_ctl_send_str(&c, "1\npermission denied\n");
        goto done;
    }

    reason = NULL;
    rc = sl_ctl_read_request(&c, line, sizeof(line), &reason);
    if (rc == SL_ERROR) {
        snprintf(copy, sizeof(copy), "1\n%s\n", reason);
        sl_ctl_send_str(&c, copy);
        goto done;
    }
    if (rc != SL_OK) {
        goto done;
    }

    /* sl_ctl_split() cuts line into words; the log wants it whole */
    memcpy(copy, line, strlen(line) + 1);
    cmdline = strncmp(copy, "-j ", 3) == 0 ? copy + 3 : copy;

    argc = sl_ctl_split(line, argv, SL_CTL_MAX_ARGS, &json);
    if (argc == -1) {
        sl_log_error(SL_LOG_WARN, 0,
                     "control: malformed request from uid %u pid %ld",
                     (unsigned) c.cred.uid, (long) c.cred.pid);
        sl_ctl_send_str(&c, "1\nmalformed request\n");
        goto done;
    }

    cmdlen = strlen(cmdline);
    sl_log_error(SL_LOG_NOTICE, 0,
                 "control: \"%.*s%s\" from uid %u pid %ld",
                 (int) sl_min(cmdlen, SL_CTL_LOG_MAX), cmdline,
                 cmdlen > SL_CTL_LOG_MAX ? "..." : "",
                 (unsigned) c.cred.uid, (long) c.cred.pid);

    memset(&r, 0, sizeof(r));
    r.json = json;

    sl_ctl_dispatch(&r, argc, argv);
    sl_ctl_send_reply(&c, &r);

    free(r.buf);

done:

    sl_ctl_client_close(&c);
}

/* ---- commands ------------------------------------------------------- */

/* "45s", "3m 7s", "2d 0h 5m 1s": from the largest non-zero unit down. */
static void
sl_ctl_print_duration(struct sl_ctl_reply *r, long long secs)
{
    long long  d, h, m, s;

    d = secs / 86400;
    h = secs / 3600 % 24;
    m = secs / 60 % 60;
    s = secs % 60;

    if (d > 0) {
        sl_ctl_printf(r, "%lldd %lldh %lldm %llds", d, h, m, s);
    } else if (h > 0) {
        sl_ctl_printf(r, "%lldh %lldm %llds", h, m, s);
    } else if (m > 0) {
        sl_ctl_printf(r, "%lldm %llds", m, s);
    } else {
        sl_ctl_printf(r, "%llds", s);
    }
}

/*
 * Children of older generations are still draining; sluicectl(8) reports
 * the current generation only, so that the listing matches what serves
 * new connections.
 */
static void
sl_ctl_status_json(struct sl_ctl_reply *r, struct sl_master_status *st,
    long long uptime)
{
    struct sl_master_child  *ch, *checker;
    int                      i, first;

    sl_ctl_printf(r, "{\"version\":");
    sl_ctl_json_str(r, SL_VERSION);
    sl_ctl_printf(r, ",\"pid\":%ld,\"uptime\":%lld,\"config\":",
                  (long) st->master_pid, uptime);
    sl_ctl_json_str(r, st->conf_file);
    sl_ctl_printf(r, ",\"generation\":%u,\"reloads\":%u,"
                  "\"reload_failures\":%u,\"workers\":[",
                  st->generation, st->reloads, st->reload_failures);

    checker = NULL;
    first = 1;

    for (i = 0; i < st->nchildren; i++) {
        ch = &st->children[i];

        if (ch->generation != st->generation) {
            continue;
        }

        if (ch->role == SL_PROC_CHECKER && checker == NULL) {
            checker = ch;
        }

        if (ch->role != SL_PROC_WORKER) {
            continue;
        }

        sl_ctl_printf(r, "%s{\"slot\":%d,\"pid\":%ld,\"generation\":%u}",
                      first ? "" : ",", ch->slot, (long) ch->pid,
                      ch->generation);
        first = 0;
    }

    if (checker != NULL) {
        sl_ctl_printf(r, "],\"checker\":{\"pid\":%ld}}\n",
                      (long) checker->pid);
    } else {
        sl_ctl_printf(r, "],\"checker\":null}\n");
    }
}

/* The text form is the one in sluicectl(8); t/o02_ctl.t parses it. */
static void
sl_ctl_status(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_master_status   st;
    struct sl_master_child   *ch;
    long long                 uptime;
    time_t                    now;
    int                       i;

    memset(&st, 0, sizeof(st));
    sl_master_get_status(&st);

    /* the wall clock may have been stepped back since the start */
    now = time(NULL);
    uptime = now > st.start_time ? (long long) (now - st.start_time) : 0;

    if (r->json) {
        sl_ctl_status_json(r, &st, uptime);
        return;
    }

    sl_ctl_printf(r, "%s %s\n", SL_SERVER, SL_VERSION);
    sl_ctl_printf(r, "pid: %ld\n", (long) st.master_pid);
    sl_ctl_printf(r, "uptime: ");
    sl_ctl_print_duration(r, uptime);
    sl_ctl_printf(r, "\nconfig: %s\n", st.conf_file ? st.conf_file : "-");
    sl_ctl_printf(r, "generation: %u\n", st.generation);
    sl_ctl_printf(r, "reloads: %u (failed: %u)\n", st.reloads,
                  st.reload_failures);

    for (i = 0; i < st.nchildren; i++) {
        ch = &st.children[i];

        if (ch->generation != st.generation) {
            continue;
        }

        if (ch->role == SL_PROC_WORKER) {
            sl_ctl_printf(r, "worker %d pid %ld generation %u\n", ch->slot,
                          (long) ch->pid, ch->generation);
        } else if (ch->role == SL_PROC_CHECKER) {
            sl_ctl_printf(r, "checker pid %ld generation %u\n",
                          (long) ch->pid, ch->generation);
        }
    }
}

static void
sl_ctl_reload(struct sl_ctl_reply *r, int argc, char **argv)
{
    struct sl_master_status  st;
    char                     err[1024];

    err[0] = '\0';

    if (sl_master_reload(err, sizeof(err)) != SL_OK) {
        err[sizeof(err) - 1] = '\0';
        /* err already reads "FILE:LINE: reason" */
        sl_ctl_fail(r, "%s", err[0] != '\0' ? err : "reload failed");
        return;
    }

    memset(&st, 0, sizeof(st));
    sl_master_get_status(&st);

    if (r->json) {
        sl_ctl_printf(r, "{\"result\":\"ok\",\"generation\":%u}\n",
                      st.generation);
    } else {
        sl_ctl_printf(r, "reloaded, generation %u\n", st.generation);
    }
}

/*
 * stop and quit only raise a flag (sl_master_stop()); the master acts on
 * it after we return, so the reply is on its way before anything stops.
 * Like reopen they have nothing to report: success is an empty "0\n".
 */
static void
sl_ctl_stop(struct sl_ctl_reply *r, int argc, char **argv)
{
    sl_master_stop(0);
}

static void
sl_ctl_quit(struct sl_ctl_reply *r, int argc, char **argv)
{
    sl_master_stop(1);
}

static void
sl_ctl_reopen(struct sl_ctl_reply *r, int argc, char **argv)
{
    sl_master_reopen();
}

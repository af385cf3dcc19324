/*
 * sl_master.c: the master process.  It owns the configuration, the
 * listening sockets, the shared memory and the control socket; it forks a
 * generation of workers and one checker, re-forks children that die, and
 * replaces a generation on reload.
 *
 * Signals arrive through a signalfd and are handled in the master's own
 * small epoll loop, so nothing runs in signal context.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_process.h"
#include "sl_ctl.h"
#include "sl_http_stats.h"
#include "sl_health.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SL_MASTER_MAX_CHILDREN   2100
#define SL_RESPAWN_DELAY         500      /* ms, for a child that died young */
#define SL_KILL_GRACE            5000     /* ms after TERM before KILL */

struct sl_child {
    pid_t           pid;
    int             slot;           /* worker slot, -1 for the checker */
    enum sl_proc_role role;
    unsigned        generation;
    sl_msec_t       started;
    sl_msec_t       kill_at;        /* 0, or when to SIGKILL */
    unsigned        exiting:1;      /* told to stop */
};

struct sl_respawn {
    int             slot;
    enum sl_proc_role role;
    sl_msec_t       at;
};

static struct sl_child    sl_children[SL_MASTER_MAX_CHILDREN];
static int                sl_nchildren;
static struct sl_respawn  sl_respawns[SL_MASTER_MAX_CHILDREN];
static int                sl_nrespawns;
static struct sl_master_child sl_status_children[SL_MASTER_MAX_CHILDREN];

static int       sl_sigfd = -1;
static int       sl_mep = -1;
static int       sl_ctl_fd = -1;
static char     *sl_ctl_path;         /* malloc'd copy of the open socket */
static char     *sl_pid_path;         /* malloc'd copy of the written file */
static unsigned  sl_generation;
static unsigned  sl_reloads;
static unsigned  sl_reload_failures;
static time_t    sl_start_time;
static int       sl_stopping;         /* 1 fast, 2 graceful */
static sl_msec_t sl_stop_deadline;
static int       sl_stop_request;     /* from control: 1 fast, 2 graceful */
static sigset_t  sl_master_sigs;

static void
sl_master_child_signals(void)
{
    struct sigaction sa;

    /* Children start with the master's handlers reset to default. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int
sl_master_drop_privileges(struct sl_cycle *cycle)
{
    struct sl_core_conf *ccf = cycle->core;

    if (geteuid() != 0 || ccf->uid == 0)
        return SL_OK;
    if (setgid(ccf->gid) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "setgid(%d) failed", (int) ccf->gid);
        return SL_ERROR;
    }
    if (initgroups(ccf->user, ccf->gid) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "initgroups(%s, %d) failed",
                     ccf->user, (int) ccf->gid);
        return SL_ERROR;
    }
    if (setuid(ccf->uid) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "setuid(%d) failed",
                     (int) ccf->uid);
        return SL_ERROR;
    }
    return SL_OK;
}

static pid_t
sl_master_spawn(struct sl_cycle *cycle, enum sl_proc_role role, int slot)
{
    struct sl_child *ch;
    pid_t pid;

    if (sl_nchildren == SL_MASTER_MAX_CHILDREN) {
        sl_log_error(SL_LOG_ALERT, 0, "too many child processes");
        return -1;
    }
    pid = fork();
    if (pid == -1) {
        sl_log_error(SL_LOG_ALERT, errno, "fork() failed");
        return -1;
    }
    if (pid == 0) {
        sl_pid = getpid();
        /* Child: drop the master's own descriptors. */
        if (sl_sigfd != -1)
            close(sl_sigfd);
        if (sl_mep != -1)
            close(sl_mep);
        if (sl_ctl_fd != -1)
            close(sl_ctl_fd);
        sl_master_child_signals();
        sl_proc_role = role;
        sl_proc_slot = slot;
        if (sl_master_drop_privileges(cycle) != SL_OK)
            _exit(2);
        if (role == SL_PROC_WORKER)
            sl_worker_run(cycle, slot);
        sl_checker_run(cycle);
    }
    ch = &sl_children[sl_nchildren++];
    memset(ch, 0, sizeof(*ch));
    ch->pid = pid;
    ch->slot = slot;
    ch->role = role;
    ch->generation = cycle->generation;
    ch->started = sl_current_msec;
    sl_log_error(SL_LOG_NOTICE, 0, "start %s process %d",
                 role == SL_PROC_WORKER ? "worker" : "checker", (int) pid);
    return pid;
}

static void
sl_master_spawn_generation(struct sl_cycle *cycle)
{
    unsigned i;

    for (i = 0; i < cycle->nworkers; i++)
        sl_master_spawn(cycle, SL_PROC_WORKER, (int) i);
    sl_master_spawn(cycle, SL_PROC_CHECKER, -1);
}

static void
sl_master_signal_children(int sig, int only_old)
{
    int i;

    for (i = 0; i < sl_nchildren; i++) {
        if (only_old && sl_children[i].generation == sl_cycle->generation)
            continue;
        if (kill(sl_children[i].pid, sig) == -1 && errno != ESRCH)
            sl_log_error(SL_LOG_ALERT, errno, "kill(%d, %d) failed",
                         (int) sl_children[i].pid, sig);
        if (sig == SIGQUIT || sig == SIGTERM) {
            sl_children[i].exiting = 1;
            if (sl_children[i].kill_at == 0)
                sl_children[i].kill_at = sl_current_msec + SL_KILL_GRACE
                    + (sig == SIGQUIT
                       ? sl_cycle->core->worker_shutdown_timeout : 0);
        }
    }
}

static void
sl_master_reap(void)
{
    struct sl_child *ch;
    struct sl_respawn *rs;
    int status, i, found;
    pid_t pid;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0)
            return;
        if (pid == -1) {
            if (errno == EINTR)
                continue;
            return;
        }
        found = -1;
        for (i = 0; i < sl_nchildren; i++) {
            if (sl_children[i].pid == pid) {
                found = i;
                break;
            }
        }
        if (found < 0)
            continue;
        ch = &sl_children[found];
        if (WIFSIGNALED(status)) {
            sl_log_error(ch->exiting ? SL_LOG_NOTICE : SL_LOG_ALERT, 0,
                         "%s process %d exited on signal %d%s",
                         ch->role == SL_PROC_WORKER ? "worker" : "checker",
                         (int) pid, WTERMSIG(status),
                         WCOREDUMP(status) ? " (core dumped)" : "");
        } else if (WEXITSTATUS(status) != 0 || !ch->exiting) {
            sl_log_error(ch->exiting ? SL_LOG_NOTICE : SL_LOG_ALERT, 0,
                         "%s process %d exited with code %d",
                         ch->role == SL_PROC_WORKER ? "worker" : "checker",
                         (int) pid, WEXITSTATUS(status));
        } else {
            sl_log_error(SL_LOG_NOTICE, 0, "%s process %d exited",
                         ch->role == SL_PROC_WORKER ? "worker" : "checker",
                         (int) pid);
        }
        /* A child of the current generation that died on its own. */
        if (!ch->exiting && !sl_stopping
            && ch->generation == sl_cycle->generation
            && sl_nrespawns < SL_MASTER_MAX_CHILDREN)
        {
            rs = &sl_respawns[sl_nrespawns++];
            rs->slot = ch->slot;
            rs->role = ch->role;
            /* One that died young waits, so a crash loop cannot spin. */
            rs->at = sl_current_msec - ch->started < 1000
                     ? sl_current_msec + SL_RESPAWN_DELAY : sl_current_msec;
        }
        sl_children[found] = sl_children[--sl_nchildren];
    }
}

static void
sl_master_run_respawns(void)
{
    int i;

    for (i = 0; i < sl_nrespawns; ) {
        if (sl_respawns[i].at > sl_current_msec) {
            i++;
            continue;
        }
        sl_master_spawn(sl_cycle, sl_respawns[i].role, sl_respawns[i].slot);
        sl_stats_restart();
        sl_respawns[i] = sl_respawns[--sl_nrespawns];
    }
}

static void
sl_master_kill_stragglers(void)
{
    int i;

    for (i = 0; i < sl_nchildren; i++) {
        if (sl_children[i].kill_at != 0
            && sl_children[i].kill_at <= sl_current_msec)
        {
            sl_log_error(SL_LOG_WARN, 0, "%s process %d did not exit in "
                         "time, sending KILL",
                         sl_children[i].role == SL_PROC_WORKER ? "worker"
                                                              : "checker",
                         (int) sl_children[i].pid);
            kill(sl_children[i].pid, SIGKILL);
            sl_children[i].kill_at = 0;
        }
    }
}

static int
sl_master_write_pid(const char *path)
{
    char buf[32];
    int fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "open() \"%s\" failed", path);
        return SL_ERROR;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (write(fd, buf, (size_t) n) != n) {
        sl_log_error(SL_LOG_EMERG, errno, "write() to \"%s\" failed", path);
        close(fd);
        return SL_ERROR;
    }
    close(fd);
    return SL_OK;
}

static int
sl_master_open_ctl(struct sl_cycle *cycle)
{
    const char *path = cycle->core->ctl_path;
    char dir[256], *slash;
    int fd;

    if (path == NULL)
        return SL_OK;
    if (sl_ctl_path != NULL && strcmp(sl_ctl_path, path) == 0)
        return SL_OK;
    /* The default /run/sluice may not exist yet. */
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) == -1 && errno != EEXIST)
            sl_log_error(SL_LOG_WARN, errno, "mkdir() \"%s\" failed", dir);
    }
    fd = sl_ctl_server_open(path, cycle->core->ctl_mode);
    if (fd == -1)
        return SL_ERROR;
    if (sl_ctl_fd != -1) {
        epoll_ctl(sl_mep, EPOLL_CTL_DEL, sl_ctl_fd, NULL);
        sl_ctl_server_close(sl_ctl_fd, sl_ctl_path);
        free(sl_ctl_path);
    }
    sl_ctl_fd = fd;
    sl_ctl_path = strdup(path);
    if (sl_mep != -1) {
        struct epoll_event ee = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(sl_mep, EPOLL_CTL_ADD, fd, &ee);
    }
    return SL_OK;
}

static void
sl_master_prepare_dirs(struct sl_cycle *cycle)
{
    struct sl_core_conf *ccf = cycle->core;

    /*
     * Workers write request-body temporary files here: it must belong to
     * their user even when it existed before.
     */
    if (ccf->state_dir == NULL)
        return;
    if (mkdir(ccf->state_dir, 0750) == -1 && errno != EEXIST)
        sl_log_error(SL_LOG_WARN, errno, "mkdir() \"%s\" failed",
                     ccf->state_dir);
    if (geteuid() == 0 && ccf->uid != 0
        && chown(ccf->state_dir, ccf->uid, ccf->gid) == -1)
    {
        sl_log_error(SL_LOG_WARN, errno, "chown() \"%s\" failed",
                     ccf->state_dir);
    }
}

static void
sl_master_raise_nofile(struct sl_cycle *cycle)
{
    struct rlimit rl;
    rlim_t want;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (cycle->core->rlimit_nofile > 0)
        want = (rlim_t) cycle->core->rlimit_nofile;
    else
        want = rl.rlim_max;
    if (want > rl.rlim_max && geteuid() != 0)
        want = rl.rlim_max;
    if (want == rl.rlim_cur && cycle->core->rlimit_nofile <= 0)
        return;
    rl.rlim_cur = want;
    /* As nginx: a configured limit sets the hard limit too (root only). */
    if (cycle->core->rlimit_nofile > 0 && geteuid() == 0)
        rl.rlim_max = want;
    else if (want > rl.rlim_max)
        rl.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
        sl_log_error(SL_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %lu) "
                     "failed", (unsigned long) want);
}

/*
 * systemd's notification protocol (sd_notify(3)): one datagram to the
 * socket named by NOTIFY_SOCKET, "@" for the abstract namespace.  Spoken
 * without libsystemd: it is a few lines, and sluice runs without systemd.
 */
static void
sl_master_notify(const char *fmt, ...)
{
    struct sockaddr_un sa;
    const char *path;
    char msg[256];
    socklen_t len;
    va_list ap;
    size_t n;
    int fd;

    path = getenv("NOTIFY_SOCKET");
    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n
                       + (path[0] == '/' ? 1 : 0));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *) &sa,
               len) == -1)
    {
        sl_log_error(SL_LOG_WARN, errno, "sendto() to NOTIFY_SOCKET \"%s\" "
                     "failed", path);
    }
    close(fd);
}

static unsigned long long
sl_master_monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long) ts.tv_sec * 1000000ULL
           + (unsigned long long) ts.tv_nsec / 1000ULL;
}

/* ---- control-socket entry points ----------------------------------------- */

void
sl_master_get_status(struct sl_master_status *st)
{
    int i, n = 0;

    st->start_time = sl_start_time;
    st->conf_file = sl_cycle->conf_file;
    st->generation = sl_generation;
    st->reloads = sl_reloads;
    st->reload_failures = sl_reload_failures;
    st->master_pid = getpid();
    /* Current generation first, then draining ones. */
    for (i = 0; i < sl_nchildren; i++) {
        if (sl_children[i].generation != sl_generation)
            continue;
        sl_status_children[n].pid = sl_children[i].pid;
        sl_status_children[n].slot = sl_children[i].slot;
        sl_status_children[n].generation = sl_children[i].generation;
        sl_status_children[n].role = sl_children[i].role;
        sl_status_children[n].started = sl_children[i].started;
        n++;
    }
    for (i = 0; i < sl_nchildren; i++) {
        if (sl_children[i].generation == sl_generation)
            continue;
        sl_status_children[n].pid = sl_children[i].pid;
        sl_status_children[n].slot = sl_children[i].slot;
        sl_status_children[n].generation = sl_children[i].generation;
        sl_status_children[n].role = sl_children[i].role;
        sl_status_children[n].started = sl_children[i].started;
        n++;
    }
    st->nchildren = n;
    st->children = sl_status_children;
}

int
sl_master_reload(char *err, size_t errlen)
{
    struct sl_cycle *cycle, *old = sl_cycle;
    struct sl_core_conf *ccf;

    sl_log_error(SL_LOG_NOTICE, 0, "reconfiguring");
    sl_master_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                     sl_master_monotonic_usec());
    err[0] = '\0';
    cycle = sl_cycle_load(old->conf_file, err, errlen);
    if (cycle == NULL)
        goto failed;
    cycle->generation = sl_generation + 1;
    if (sl_cycle_open(cycle, old, err, errlen) != SL_OK) {
        sl_pool_destroy(cycle->pool);
        goto failed;
    }
    ccf = cycle->core;
    if (ccf->error_log_syslog != NULL) {
        /* The old target's socket closes with the old cycle. */
        sl_log_open_syslog(ccf->error_log_syslog,
                           (enum sl_log_level) ccf->error_log_level);
    } else if (ccf->error_log == NULL
               || old->core->error_log == NULL
               || old->core->error_log_syslog != NULL
               || strcmp(ccf->error_log, old->core->error_log) != 0
               || ccf->error_log_level != old->core->error_log_level)
    {
        if (sl_log_open(ccf->error_log, ccf->error_log_level) != SL_OK) {
            if (sl_log_main.syslog != NULL) {
                /* The old syslog target goes away with the old cycle. */
                sl_log_error(SL_LOG_ALERT, errno, "open() \"%s\" failed, "
                             "logging to stderr", ccf->error_log);
                sl_log_open(NULL, ccf->error_log_level);
            } else {
                sl_log_error(SL_LOG_ALERT, errno, "open() \"%s\" failed, "
                             "keeping the old error log", ccf->error_log);
            }
        }
    }
    if (ccf->ctl_path == NULL && sl_ctl_fd != -1) {
        epoll_ctl(sl_mep, EPOLL_CTL_DEL, sl_ctl_fd, NULL);
        sl_ctl_server_close(sl_ctl_fd, sl_ctl_path);
        sl_ctl_fd = -1;
        free(sl_ctl_path);
        sl_ctl_path = NULL;
    } else if (sl_master_open_ctl(cycle) != SL_OK) {
        sl_log_error(SL_LOG_ALERT, 0, "keeping the old control socket");
    }
    if (ccf->pid_path != NULL
        && (sl_pid_path == NULL || strcmp(ccf->pid_path, sl_pid_path) != 0))
    {
        if (sl_master_write_pid(ccf->pid_path) == SL_OK) {
            if (sl_pid_path != NULL)
                unlink(sl_pid_path);
            free(sl_pid_path);
            sl_pid_path = strdup(ccf->pid_path);
        }
    }
    sl_master_prepare_dirs(cycle);

    sl_generation++;
    sl_reloads++;
    sl_cycle = cycle;
    /*
     * Close what the new configuration dropped before forking, or the new
     * workers would inherit (and keep open) sockets nobody accepts on.
     */
    sl_cycle_release(old, cycle);
    /*
     * The old generation is told to drain before the new one starts: once
     * the new configuration answers anywhere, every old worker already
     * closes its keepalive connections after their next response.  The
     * sockets stay open in the master, so connections arriving in between
     * wait in the queue for the new workers; none is refused.
     */
    sl_master_signal_children(SIGQUIT, 1);
    sl_nrespawns = 0;           /* the new generation fills every slot */
    sl_master_spawn_generation(cycle);
    sl_log_error(SL_LOG_NOTICE, 0, "reload complete, generation %u",
                 sl_generation);
    sl_stats_reload(1);
    sl_master_notify("READY=1\nSTATUS=serving, generation %u",
                     sl_generation);
    return SL_OK;

failed:
    sl_reload_failures++;
    sl_log_error(SL_LOG_ERR, 0, "reload failed: %s", err);
    sl_stats_reload(0);
    /* The old generation serves on: ready again, the failure in STATUS. */
    sl_master_notify("READY=1\nSTATUS=reload failed, generation %u serving",
                     sl_generation);
    return SL_ERROR;
}

void
sl_master_stop(int graceful)
{
    sl_stop_request = graceful ? 2 : 1;
}

void
sl_master_reopen(void)
{
    sl_log_error(SL_LOG_NOTICE, 0, "reopening logs");
    sl_log_reopen();
    /* A log file the master just created must be the workers' to reopen. */
    if (sl_log_main.path != NULL && geteuid() == 0 && sl_cycle->core->uid != 0
        && fchown(sl_log_main.fd, sl_cycle->core->uid, (gid_t) -1) == -1)
    {
        sl_log_error(SL_LOG_WARN, errno, "fchown() \"%s\" failed",
                     sl_log_main.path);
    }
    sl_cycle_reopen_files(sl_cycle, 1);
    sl_master_signal_children(SIGUSR1, 0);
}

/*
 * The checker bumps resolve_seq when a `resolve` name's addresses change;
 * a reload then resolves every name afresh (see sl_health_resolve.c).
 */
static void
sl_master_check_resolve(void)
{
    static uint64_t seen;
    struct sl_health_table *t;
    char err[SL_CONF_ERRLEN + 128];
    uint64_t seq;

    t = sl_health_current();
    if (t == NULL)
        return;
    seq = atomic_load(&t->resolve_seq);
    if (seq == seen)
        return;
    seen = seq;
    sl_log_error(SL_LOG_NOTICE, 0, "upstream addresses changed in DNS, "
                 "reloading");
    (void) sl_master_reload(err, sizeof(err));
}

/* ---- the loop ------------------------------------------------------------- */

static void
sl_master_begin_stop(int how)
{
    if (sl_stopping == 1 || sl_stopping == how)
        return;
    sl_stopping = how;
    sl_nrespawns = 0;
    sl_master_notify("STOPPING=1\nSTATUS=stopping");
    if (how == 1) {
        sl_log_error(SL_LOG_NOTICE, 0, "exiting (fast)");
        sl_master_signal_children(SIGTERM, 0);
        sl_stop_deadline = sl_current_msec + SL_KILL_GRACE;
    } else {
        sl_log_error(SL_LOG_NOTICE, 0, "gracefully shutting down");
        sl_master_signal_children(SIGQUIT, 0);
        sl_stop_deadline = sl_current_msec + SL_KILL_GRACE
                           + sl_cycle->core->worker_shutdown_timeout;
    }
}

static void
sl_master_handle_signal(int sig)
{
    char err[SL_CONF_ERRLEN + 128];

    switch (sig) {
    case SIGCHLD:
        sl_master_reap();
        break;
    case SIGHUP:
        if (!sl_stopping)
            sl_master_reload(err, sizeof(err));
        break;
    case SIGTERM:
    case SIGINT:
        sl_master_begin_stop(1);
        break;
    case SIGQUIT:
        sl_master_begin_stop(2);
        break;
    case SIGUSR1:
        sl_master_reopen();
        break;
    default:
        break;
    }
}

static int
sl_master_setup_loop(void)
{
    struct epoll_event ee;

    sigemptyset(&sl_master_sigs);
    sigaddset(&sl_master_sigs, SIGCHLD);
    sigaddset(&sl_master_sigs, SIGHUP);
    sigaddset(&sl_master_sigs, SIGTERM);
    sigaddset(&sl_master_sigs, SIGINT);
    sigaddset(&sl_master_sigs, SIGQUIT);
    sigaddset(&sl_master_sigs, SIGUSR1);
    /* Children inherit the mask; their loops unblock in epoll_pwait. */
    if (sigprocmask(SIG_BLOCK, &sl_master_sigs, NULL) == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "sigprocmask() failed");
        return SL_ERROR;
    }
    signal(SIGPIPE, SIG_IGN);
    sl_sigfd = signalfd(-1, &sl_master_sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    sl_mep = epoll_create1(EPOLL_CLOEXEC);
    if (sl_sigfd == -1 || sl_mep == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "signalfd() or epoll_create1() "
                     "failed");
        return SL_ERROR;
    }
    ee.events = EPOLLIN;
    ee.data.fd = sl_sigfd;
    epoll_ctl(sl_mep, EPOLL_CTL_ADD, sl_sigfd, &ee);
    if (sl_ctl_fd != -1) {
        ee.data.fd = sl_ctl_fd;
        epoll_ctl(sl_mep, EPOLL_CTL_ADD, sl_ctl_fd, &ee);
    }
    return SL_OK;
}

static int
sl_master_daemonize(void)
{
    pid_t pid;
    int fd;

    pid = fork();
    if (pid == -1) {
        fprintf(stderr, "sluice: fork() failed: %s\n", strerror(errno));
        return SL_ERROR;
    }
    if (pid > 0)
        _exit(0);
    sl_pid = getpid();
    if (setsid() == -1)
        return SL_ERROR;
    fd = open("/dev/null", O_RDWR);
    if (fd != -1) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        /* stderr too, once the error log is a file. */
        if (sl_log_main.fd != STDERR_FILENO)
            dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return SL_OK;
}

int
sl_master_run(struct sl_cycle *cycle)
{
    struct signalfd_siginfo si;
    struct epoll_event ev[8];
    char err[SL_CONF_ERRLEN + 128];
    struct sl_core_conf *ccf = cycle->core;
    sl_msec_t wait;
    int n, i;

    sl_proc_role = SL_PROC_MASTER;
    sl_time_update();
    sl_start_time = sl_time_sec;
    sl_master_raise_nofile(cycle);

    cycle->generation = 1;
    sl_generation = 1;
    if (sl_cycle_open(cycle, NULL, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluice: %s\n", err);
        return 1;
    }
    /* Until here messages went to stderr, so none is lost. */
    if (ccf->error_log_syslog != NULL) {
        sl_log_open_syslog(ccf->error_log_syslog,
                           (enum sl_log_level) ccf->error_log_level);
    } else if (sl_log_open(ccf->error_log, ccf->error_log_level) != SL_OK) {
        fprintf(stderr, "sluice: open() \"%s\" failed: %s\n",
                ccf->error_log, strerror(errno));
        return 1;
    }
    if (sl_log_main.path != NULL && geteuid() == 0 && ccf->uid != 0
        && fchown(sl_log_main.fd, ccf->uid, (gid_t) -1) == -1)
    {
        sl_log_error(SL_LOG_WARN, errno, "fchown() \"%s\" failed",
                     ccf->error_log);
    }
    sl_master_prepare_dirs(cycle);
    if (ccf->ctl_path != NULL && sl_master_open_ctl(cycle) != SL_OK) {
        fprintf(stderr, "sluice: cannot open the control socket \"%s\", "
                "see the error log\n", ccf->ctl_path);
        return 1;
    }
    if (!sl_options.foreground && sl_master_daemonize() != SL_OK)
        return 1;
    if (ccf->pid_path != NULL) {
        if (sl_master_write_pid(ccf->pid_path) != SL_OK)
            return 1;
        sl_pid_path = strdup(ccf->pid_path);
    }
    sl_cycle = cycle;
    if (sl_master_setup_loop() != SL_OK)
        return 1;
    sl_proctitle_set("sluice: master process %s", cycle->conf_file);
    sl_log_error(SL_LOG_NOTICE, 0, "sluice/%s started, generation %u",
                 SL_VERSION, sl_generation);
    sl_master_spawn_generation(cycle);
    sl_master_notify("READY=1\nMAINPID=%d\nSTATUS=serving, generation %u",
                     (int) getpid(), sl_generation);

    for (;;) {
        wait = -1;
        if (sl_nrespawns > 0 || sl_stopping)
            wait = 100;
        /* `server ... resolve`: look at the checker's news every second. */
        if (wait == -1 && sl_health_resolve_wanted(sl_cycle))
            wait = 1000;
        for (i = 0; i < sl_nchildren; i++) {
            if (sl_children[i].kill_at != 0) {
                wait = 100;
                break;
            }
        }
        n = epoll_wait(sl_mep, ev, 8, (int) wait);
        sl_time_update();
        for (i = 0; i < n; i++) {
            if (ev[i].data.fd == sl_sigfd) {
                while (read(sl_sigfd, &si, sizeof(si)) == sizeof(si))
                    sl_master_handle_signal((int) si.ssi_signo);
            } else if (ev[i].data.fd == sl_ctl_fd) {
                sl_ctl_server_accept(sl_ctl_fd);
            }
        }
        /* A stop asked over the control socket, now that it is answered. */
        if (sl_stop_request) {
            sl_master_begin_stop(sl_stop_request);
            sl_stop_request = 0;
        }
        sl_master_reap();
        if (!sl_stopping)
            sl_master_check_resolve();
        if (!sl_stopping)
            sl_master_run_respawns();
        sl_master_kill_stragglers();
        if (sl_stopping && sl_nchildren == 0)
            break;
        if (sl_stopping && sl_current_msec > sl_stop_deadline) {
            sl_master_signal_children(SIGKILL, 0);
            sl_stop_deadline = sl_current_msec + 1000;
        }
    }

    if (sl_ctl_fd != -1)
        sl_ctl_server_close(sl_ctl_fd, sl_ctl_path);
    if (sl_pid_path != NULL)
        unlink(sl_pid_path);
    sl_log_error(SL_LOG_NOTICE, 0, "exit");
    return 0;
}

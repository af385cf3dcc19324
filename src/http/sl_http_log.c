/*
 * sl_http_log.c: the access log.
 *
 *   log_format NAME [escape=default|json|none] STRING ...;     http
 *   access_log PATH [FORMAT] [buffer=SIZE] [flush=TIME] | off;
 *   access_log syslog:server=ADDRESS[,...] [FORMAT];
 *                                                 http, server, location
 *
 * A format is compiled once into a complex value: literal parts and
 * variable getters.  Per request each configured log formats its line into
 * a stack buffer (r->pool when it does not fit) and writes it with one
 * write(2), or appends it to the file's buffer.
 *
 * Files are registered with the cycle (sl_conf_open_file), which opens
 * them in the master before fork and reopens them on USR1 with dup2, so
 * the descriptor is read from the struct sl_open_file at every write.
 *
 * Buffers belong to the file, not to the access_log directive: every log
 * that writes to a file shares its buffer, so lines keep their order.
 * They are allocated with the configuration, so after fork each worker
 * has its own.  A buffer is written out when the next line does not fit,
 * when its oldest line is older than flush= (checked at every logged
 * request), and by sl_http_log_flush_all() at worker exit and before a
 * reopen.  There is no timer: an idle worker keeps its buffered lines
 * until the next request or until it exits.
 *
 * A syslog target (sl_syslog.c) gets one datagram per line, without the
 * newline, at the moment the request ends: never buffered, so a worker
 * that dies loses nothing it has logged, and never reopened.
 */
#include "sl_core.h"
#include "sl_http_variables.h"
#include "sl_syslog.h"

#ifndef SL_LOCALSTATEDIR
#define SL_LOCALSTATEDIR "/var"
#endif

#define SL_HTTP_LOG_DEFAULT_PATH   SL_LOCALSTATEDIR "/log/sluice/access.log"
#define SL_HTTP_LOG_LINE_STACK     4096   /* typical lines fit here */
#define SL_HTTP_LOG_STACK_PARTS    32
#define SL_HTTP_LOG_ERR_INTERVAL   60     /* s between two error messages */

enum sl_http_log_escape {
    SL_HTTP_LOG_ESC_DEFAULT = 0,
    SL_HTTP_LOG_ESC_JSON,
    SL_HTTP_LOG_ESC_NONE
};

struct sl_http_log_fmt {
    struct sl_str                   name;
    enum sl_http_log_escape         escape;
    struct sl_http_complex_value   *cv;
};

/* One per distinct file and cycle; per worker after fork. */
struct sl_http_log_file {
    struct sl_open_file    *file;
    char                   *start;      /* buffer; NULL: unbuffered */
    char                   *pos;
    char                   *end;
    sl_msec_t               flush;      /* 0: only when full or at exit */
    sl_msec_t               first;      /* when the oldest line came */
    time_t                  err_sec;    /* last error message */
};

struct sl_http_log {
    struct sl_http_log_file *file;      /* NULL with syslog */
    struct sl_syslog_peer   *syslog;
    struct sl_http_log_fmt  *fmt;
};

/* Module main conf (per cycle): every file the access logs use. */
struct sl_http_log_main_conf {
    struct sl_array         files;      /* struct sl_http_log_file * */
};

/* http{} conf: the formats, "combined" and "upstream" first. */
struct sl_http_log_http_conf {
    struct sl_array         formats;    /* struct sl_http_log_fmt * */
};

struct sl_http_log_loc_conf {
    struct sl_array        *logs;       /* struct sl_http_log; UNSET_PTR */
    unsigned                off:1;
};

static const struct sl_str sl_http_log_combined_name = sl_string("combined");
static const struct sl_str sl_http_log_combined = sl_string(
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"");
/*
 * The format of the default access log (no access_log anywhere): nginx's
 * combined plus where the request went and how long it took.
 */
static const struct sl_str sl_http_log_upstream_name = sl_string("upstream");
static const struct sl_str sl_http_log_upstream = sl_string(
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" "
    "upstream=$upstream_addr status=$upstream_status "
    "upstream_time=$upstream_response_time time=$request_time");

/* ---- writing ------------------------------------------------------------- */

/*
 * Writes len bytes to the file, retrying on EINTR and short writes.  A
 * failure is reported at most once a minute per file and never stops
 * the worker: the line is lost.
 */
static void
sl_http_log_write(struct sl_http_log_file *lf, const char *p, size_t len)
{
    ssize_t n;
    int fd = lf->file->fd;

    if (fd == -1)
        return;
    while (len > 0) {
        n = write(fd, p, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (sl_time_sec - lf->err_sec >= SL_HTTP_LOG_ERR_INTERVAL
                || lf->err_sec == 0)
            {
                lf->err_sec = sl_time_sec ? sl_time_sec : 1;
                sl_log_error(SL_LOG_CRIT, errno, "write() to \"%s\" failed",
                             lf->file->path);
            }
            return;
        }
        p += n;
        len -= (size_t) n;
    }
}

static void
sl_http_log_flush(struct sl_http_log_file *lf)
{
    if (lf->start != NULL && lf->pos > lf->start) {
        sl_http_log_write(lf, lf->start, (size_t) (lf->pos - lf->start));
        lf->pos = lf->start;
    }
}

static void
sl_http_log_buffer(struct sl_http_log_file *lf, const char *line, size_t len)
{
    if (len > (size_t) (lf->end - lf->pos))
        sl_http_log_flush(lf);
    if (len > (size_t) (lf->end - lf->start)) {
        sl_http_log_write(lf, line, len);
        return;
    }
    if (lf->pos == lf->start)
        lf->first = sl_current_msec;
    memcpy(lf->pos, line, len);
    lf->pos += len;
}

static struct sl_http_log_main_conf *
sl_http_log_current(void)
{
    if (sl_cycle == NULL || sl_cycle->main_conf == NULL)
        return NULL;
    return sl_cycle->main_conf[sl_http_log_module.index];
}

/* Writes out buffers whose oldest line is older than their flush=. */
static void
sl_http_log_flush_due(void)
{
    struct sl_http_log_main_conf *mcf = sl_http_log_current();
    struct sl_http_log_file **files, *lf;
    unsigned i;

    if (mcf == NULL)
        return;
    files = mcf->files.elts;
    for (i = 0; i < mcf->files.nelts; i++) {
        lf = files[i];
        if (lf->flush > 0 && lf->pos > lf->start
            && sl_current_msec - lf->first >= lf->flush)
        {
            sl_http_log_flush(lf);
        }
    }
}

void
sl_http_log_flush_all(void)
{
    struct sl_http_log_main_conf *mcf = sl_http_log_current();
    struct sl_http_log_file **files;
    unsigned i;

    if (mcf == NULL)
        return;
    files = mcf->files.elts;
    for (i = 0; i < mcf->files.nelts; i++)
        sl_http_log_flush(files[i]);
}

/* ---- formatting ---------------------------------------------------------- */

/*
 * nginx's default escaping: '"', '\' and bytes outside 0x20..0x7e become
 * \xHH, so a line stays one line and a quoted field stays quoted.
 */
static char *
sl_http_log_escape(char *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;

    while (len--) {
        c = (unsigned char) *s++;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        } else {
            *p++ = (char) c;
        }
    }
    return p;
}

/*
 * Formats r's line (with its newline) for fmt.  The getters run once;
 * their values are sized for the worst-case escape (4 bytes a byte for
 * default, 6 for json) and the line goes to buf when that bound fits in
 * size, else to r->pool.  Variables without a value print "-" (nothing
 * with escape=json, inside its quotes, as nginx does).  Returns the line
 * or NULL when out of memory; *len is its length.
 */
static char *
sl_http_log_format(struct sl_http_request *r,
    const struct sl_http_log_fmt *fmt, char *buf, size_t size, size_t *len)
{
    struct sl_str stack_vals[SL_HTTP_LOG_STACK_PARTS], *vals;
    const struct sl_http_complex_value *cv = fmt->cv;
    const struct sl_http_cv_part *part;
    size_t bound = 1, mult;
    unsigned i;
    char *line, *p;

    mult = fmt->escape == SL_HTTP_LOG_ESC_DEFAULT ? 4
           : fmt->escape == SL_HTTP_LOG_ESC_JSON ? 6 : 1;
    vals = stack_vals;
    if (cv->nparts > SL_HTTP_LOG_STACK_PARTS) {
        vals = sl_palloc(r->pool, cv->nparts * sizeof(*vals));
        if (vals == NULL)
            return NULL;
    }
    for (i = 0; i < cv->nparts; i++) {
        part = &cv->parts[i];
        if (part->get == NULL) {
            bound += part->text.len;
        } else if (part->get(r, &vals[i], part->data) == SL_OK) {
            if (vals[i].data == NULL)
                vals[i].data = (char *) "";
            bound += vals[i].len * mult;
        } else {
            vals[i].data = NULL;    /* no value */
            bound += 1;
        }
    }

    line = buf;
    if (bound > size) {
        line = sl_pnalloc(r->pool, bound);
        if (line == NULL)
            return NULL;
    }
    p = line;
    for (i = 0; i < cv->nparts; i++) {
        part = &cv->parts[i];
        if (part->get == NULL) {
            memcpy(p, part->text.data, part->text.len);
            p += part->text.len;
        } else if (vals[i].data == NULL) {
            if (fmt->escape != SL_HTTP_LOG_ESC_JSON)
                *p++ = '-';
        } else if (fmt->escape == SL_HTTP_LOG_ESC_DEFAULT) {
            p = sl_http_log_escape(p, vals[i].data, vals[i].len);
        } else if (fmt->escape == SL_HTTP_LOG_ESC_JSON) {
            p = sl_json_escape(p, p + vals[i].len * 6, vals[i].data,
                               vals[i].len);
        } else {
            memcpy(p, vals[i].data, vals[i].len);
            p += vals[i].len;
        }
    }
    *p++ = '\n';
    *len = (size_t) (p - line);
    return line;
}

/*
 * The location conf that applies to r: its location's, else (a request
 * that failed before a location was chosen) its server's, else the
 * default server's of the address it came to.
 */
static struct sl_http_log_loc_conf *
sl_http_log_loc_conf(struct sl_http_request *r)
{
    unsigned idx = sl_http_log_module.index;
    struct sl_http_srv_conf *srv = r->srv;

    if (r->loc_conf != NULL)
        return r->loc_conf[idx];
    if (srv == NULL && r->hc != NULL && r->hc->addr != NULL)
        srv = r->hc->addr->default_server;
    if (srv == NULL || srv->loc_conf == NULL)
        return NULL;
    return srv->loc_conf[idx];
}

/*
 * Logs the finished request r to every access log of its location.  The
 * caller calls it once per request.  Never fails: a line that cannot be
 * formatted or written is lost.
 */
void
sl_http_log_request(struct sl_http_request *r)
{
    struct sl_http_log_loc_conf *llcf = sl_http_log_loc_conf(r);
    const struct sl_http_log_fmt *last_fmt = NULL;
    char buf[SL_HTTP_LOG_LINE_STACK], *line = NULL;
    struct sl_http_log *logs;
    size_t len = 0;
    unsigned i;

    if (llcf != NULL && !llcf->off && llcf->logs != NULL
        && llcf->logs != SL_CONF_UNSET_PTR)
    {
        logs = llcf->logs->elts;
        for (i = 0; i < llcf->logs->nelts; i++) {
            /* Logs with the same format share one formatted line. */
            if (logs[i].fmt != last_fmt) {
                line = sl_http_log_format(r, logs[i].fmt, buf, sizeof(buf),
                                          &len);
                last_fmt = line != NULL ? logs[i].fmt : NULL;
            }
            if (line == NULL)
                continue;
            if (logs[i].syslog != NULL) {
                (void) sl_syslog_send(logs[i].syslog,
                                      logs[i].syslog->severity, line,
                                      len - 1);
            } else if (logs[i].file->start != NULL) {
                sl_http_log_buffer(logs[i].file, line, len);
            } else {
                sl_http_log_write(logs[i].file, line, len);
            }
        }
    }
    sl_http_log_flush_due();
}

/* ---- configuration ------------------------------------------------------- */

static int
sl_http_log_has_prefix(const struct sl_str *s, const char *prefix)
{
    size_t n = strlen(prefix);

    return s->len >= n && memcmp(s->data, prefix, n) == 0;
}

static void *
sl_http_log_create_main(struct sl_conf_ctx *cf)
{
    struct sl_http_log_main_conf *mcf;

    mcf = sl_pcalloc(cf->pool, sizeof(*mcf));
    if (mcf == NULL)
        return NULL;
    if (sl_array_init(&mcf->files, cf->pool, 4, sizeof(void *)) != SL_OK)
        return NULL;
    return mcf;
}

static void *
sl_http_log_create_http_main(struct sl_conf_ctx *cf)
{
    struct sl_http_log_http_conf *hcf;
    struct sl_http_log_fmt *fmt, **slot;

    hcf = sl_pcalloc(cf->pool, sizeof(*hcf));
    if (hcf == NULL)
        return NULL;
    if (sl_array_init(&hcf->formats, cf->pool, 4, sizeof(void *)) != SL_OK)
        return NULL;
    fmt = sl_pcalloc(cf->pool, sizeof(*fmt));
    slot = sl_array_push(&hcf->formats);
    if (fmt == NULL || slot == NULL)
        return NULL;
    fmt->name = sl_http_log_combined_name;
    fmt->escape = SL_HTTP_LOG_ESC_DEFAULT;
    fmt->cv = sl_http_compile_complex_value(cf, &sl_http_log_combined);
    if (fmt->cv == NULL)
        return NULL;
    *slot = fmt;
    fmt = sl_pcalloc(cf->pool, sizeof(*fmt));
    slot = sl_array_push(&hcf->formats);
    if (fmt == NULL || slot == NULL)
        return NULL;
    fmt->name = sl_http_log_upstream_name;
    fmt->escape = SL_HTTP_LOG_ESC_DEFAULT;
    fmt->cv = sl_http_compile_complex_value(cf, &sl_http_log_upstream);
    if (fmt->cv == NULL)
        return NULL;
    *slot = fmt;
    return hcf;
}

static struct sl_http_log_fmt *
sl_http_log_find_format(struct sl_http_log_http_conf *hcf,
    const struct sl_str *name)
{
    struct sl_http_log_fmt **fmts = hcf->formats.elts;
    unsigned i;

    for (i = 0; i < hcf->formats.nelts; i++) {
        if (sl_str_eqstr(&fmts[i]->name, name))
            return fmts[i];
    }
    return NULL;
}

/* log_format NAME [escape=default|json|none] STRING ...; */
static int
sl_http_log_set_format(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_log_http_conf *hcf = conf;
    struct sl_str *args = cf->node->args, esc, text;
    unsigned nargs = cf->node->nargs, i, first = 1;
    struct sl_http_log_fmt *fmt, **slot;
    char *p;

    if (sl_http_log_find_format(hcf, &args[0]) != NULL) {
        sl_conf_error(cf, "duplicate log_format name \"%.*s\"",
                      (int) args[0].len, args[0].data);
        return SL_ERROR;
    }
    fmt = sl_pcalloc(cf->pool, sizeof(*fmt));
    if (fmt == NULL)
        goto nomem;
    fmt->escape = SL_HTTP_LOG_ESC_DEFAULT;
    if (nargs > 1 && sl_http_log_has_prefix(&args[1], "escape=")) {
        esc.data = args[1].data + 7;
        esc.len = args[1].len - 7;
        if (sl_str_eq(&esc, "default")) {
            fmt->escape = SL_HTTP_LOG_ESC_DEFAULT;
        } else if (sl_str_eq(&esc, "json")) {
            fmt->escape = SL_HTTP_LOG_ESC_JSON;
        } else if (sl_str_eq(&esc, "none")) {
            fmt->escape = SL_HTTP_LOG_ESC_NONE;
        } else {
            sl_conf_error(cf, "unknown log format escaping \"%.*s\"",
                          (int) esc.len, esc.data);
            return SL_ERROR;
        }
        first = 2;
    }
    if (first >= nargs) {
        sl_conf_error(cf, "no format string in log_format \"%.*s\"",
                      (int) args[0].len, args[0].data);
        return SL_ERROR;
    }

    /* The strings are concatenated as written, without separators. */
    text.len = 0;
    for (i = first; i < nargs; i++)
        text.len += args[i].len;
    text.data = sl_pnalloc(cf->pool, text.len + 1);
    if (text.data == NULL)
        goto nomem;
    for (p = text.data, i = first; i < nargs; i++) {
        memcpy(p, args[i].data, args[i].len);
        p += args[i].len;
    }
    fmt->cv = sl_http_compile_complex_value(cf, &text);
    if (fmt->cv == NULL)
        return SL_ERROR;
    fmt->name.data = sl_pstrdup(cf->pool, &args[0]);
    fmt->name.len = args[0].len;
    slot = sl_array_push(&hcf->formats);
    if (fmt->name.data == NULL || slot == NULL)
        goto nomem;
    *slot = fmt;
    return SL_OK;

nomem:
    sl_conf_error(cf, "out of memory");
    return SL_ERROR;
}

/*
 * The per-file state for path, created on first use.  All logs to one
 * file share its buffer: buffer= on any of them buffers the file, and two
 * different buffer=/flush= settings for one file are an error (nginx's
 * rule).
 */
static struct sl_http_log_file *
sl_http_log_file_get(struct sl_conf_ctx *cf, const struct sl_str *path,
    size_t size, sl_msec_t flush)
{
    struct sl_http_log_main_conf *mcf;
    struct sl_http_log_file **files, *lf = NULL, **slot;
    struct sl_open_file *of;
    unsigned i;

    mcf = cf->main_conf[sl_http_log_module.index];
    of = sl_conf_open_file(cf, path);
    if (of == NULL) {
        if (cf->err != NULL && cf->err[0] == '\0')
            sl_conf_error(cf, "cannot use access log \"%.*s\"",
                          (int) path->len, path->data);
        return NULL;
    }
    files = mcf->files.elts;
    for (i = 0; i < mcf->files.nelts; i++) {
        if (files[i]->file == of) {
            lf = files[i];
            break;
        }
    }
    if (lf == NULL) {
        lf = sl_pcalloc(cf->pool, sizeof(*lf));
        slot = sl_array_push(&mcf->files);
        if (lf == NULL || slot == NULL)
            goto nomem;
        lf->file = of;
        *slot = lf;
    }
    if (size == 0)
        return lf;
    if (lf->start != NULL) {
        if ((size_t) (lf->end - lf->start) != size || lf->flush != flush) {
            sl_conf_error(cf, "access_log \"%.*s\" already defined with "
                          "conflicting parameters",
                          (int) path->len, path->data);
            return NULL;
        }
        return lf;
    }
    lf->start = sl_pnalloc(cf->pool, size);
    if (lf->start == NULL)
        goto nomem;
    lf->pos = lf->start;
    lf->end = lf->start + size;
    lf->flush = flush;
    return lf;

nomem:
    sl_conf_error(cf, "out of memory");
    return NULL;
}

/* Adds a log to path (a file, or a syslog target with size 0). */
static int
sl_http_log_add(struct sl_conf_ctx *cf, struct sl_http_log_loc_conf *llcf,
    const struct sl_str *path, struct sl_http_log_fmt *fmt, size_t size,
    sl_msec_t flush)
{
    struct sl_http_log *log;

    if (llcf->logs == SL_CONF_UNSET_PTR || llcf->logs == NULL) {
        llcf->logs = sl_array_create(cf->pool, 2, sizeof(*log));
        if (llcf->logs == NULL)
            goto nomem;
    }
    log = sl_array_push(llcf->logs);
    if (log == NULL)
        goto nomem;
    log->fmt = fmt;
    log->file = NULL;
    log->syslog = NULL;
    if (sl_syslog_is_spec(path))
        log->syslog = sl_conf_syslog_peer(cf, path);
    else
        log->file = sl_http_log_file_get(cf, path, size, flush);
    if (log->file == NULL && log->syslog == NULL) {
        llcf->logs->nelts--;
        return SL_ERROR;
    }
    return SL_OK;

nomem:
    sl_conf_error(cf, "out of memory");
    return SL_ERROR;
}

/*
 * access_log PATH [FORMAT] [buffer=SIZE] [flush=TIME] | off;
 * access_log syslog:server=ADDRESS[,PARAM...] [FORMAT];
 */
static int
sl_http_log_set_log(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_log_loc_conf *llcf = conf;
    struct sl_str *args = cf->node->args, val;
    unsigned nargs = cf->node->nargs, i;
    struct sl_http_log_http_conf *hcf;
    struct sl_http_log_fmt *fmt;
    sl_msec_t flush = 0;
    off_t size = 0;

    if (sl_str_eq(&args[0], "off")) {
        if (nargs > 1) {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) args[1].len, args[1].data);
            return SL_ERROR;
        }
        llcf->off = 1;
        return SL_OK;
    }

    hcf = cf->http_main_conf[sl_http_log_module.index];
    fmt = *sl_array_at(&hcf->formats, struct sl_http_log_fmt *, 0);
    for (i = 1; i < nargs; i++) {
        if (sl_http_log_has_prefix(&args[i], "buffer=")) {
            val.data = args[i].data + 7;
            val.len = args[i].len - 7;
            if (sl_conf_parse_size(&val, &size) != SL_OK || size <= 0
                || (uint64_t) size > SIZE_MAX / 2)
            {
                sl_conf_error(cf, "invalid buffer size \"%.*s\"",
                              (int) val.len, val.data);
                return SL_ERROR;
            }
        } else if (sl_http_log_has_prefix(&args[i], "flush=")) {
            val.data = args[i].data + 6;
            val.len = args[i].len - 6;
            if (sl_conf_parse_msec(&val, &flush) != SL_OK || flush <= 0) {
                sl_conf_error(cf, "invalid flush time \"%.*s\"",
                              (int) val.len, val.data);
                return SL_ERROR;
            }
        } else if (i == 1) {
            fmt = sl_http_log_find_format(hcf, &args[i]);
            if (fmt == NULL) {
                sl_conf_error(cf, "unknown log format \"%.*s\"",
                              (int) args[i].len, args[i].data);
                return SL_ERROR;
            }
        } else {
            sl_conf_error(cf, "invalid parameter \"%.*s\"",
                          (int) args[i].len, args[i].data);
            return SL_ERROR;
        }
    }
    if (sl_syslog_is_spec(&args[0]) && (size > 0 || flush > 0)) {
        sl_conf_error(cf, "logs to syslog cannot be buffered");
        return SL_ERROR;
    }
    if (flush > 0 && size == 0) {
        sl_conf_error(cf, "no buffer is defined for access_log \"%.*s\"",
                      (int) args[0].len, args[0].data);
        return SL_ERROR;
    }
    return sl_http_log_add(cf, llcf, &args[0], fmt, (size_t) size, flush);
}

static void *
sl_http_log_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_http_log_loc_conf *llcf;

    llcf = sl_pcalloc(cf->pool, sizeof(*llcf));
    if (llcf == NULL)
        return NULL;
    llcf->logs = SL_CONF_UNSET_PTR;
    return llcf;
}

/*
 * nginx's inheritance: a level with access_log directives (or "off") keeps
 * exactly those; a level without any takes its parent's list (and "off").
 * When no level up to this one has any, the default log is used.  After
 * the merge logs is NULL or a list, never UNSET.
 */
static int
sl_http_log_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    static const struct sl_str path = sl_string(SL_HTTP_LOG_DEFAULT_PATH);
    struct sl_http_log_loc_conf *prev = parent, *conf = child;
    struct sl_http_log_http_conf *hcf;

    if (conf->logs == SL_CONF_UNSET_PTR && !conf->off && prev != NULL) {
        conf->logs = prev->logs;
        conf->off = prev->off;
    }
    if (conf->logs != SL_CONF_UNSET_PTR || conf->off) {
        if (conf->logs == SL_CONF_UNSET_PTR)
            conf->logs = NULL;
        return SL_OK;
    }

    hcf = cf->http_main_conf[sl_http_log_module.index];
    if (sl_http_log_add(cf, conf, &path,
                        *sl_array_at(&hcf->formats, struct sl_http_log_fmt *,
                                     1), 0, 0) != SL_OK)
    {
        return SL_ERROR;
    }
    /* Siblings inheriting from the same parent share the default list. */
    if (prev != NULL && prev->logs == SL_CONF_UNSET_PTR)
        prev->logs = conf->logs;
    return SL_OK;
}

static const struct sl_conf_cmd sl_http_log_cmds[] = {
    { "log_format", SL_CONF_HTTP | SL_CONF_2MORE | SL_CONF_MULTI,
      sl_http_log_set_format, SL_CONF_LEVEL_HTTP_MAIN, 0, NULL },
    { "access_log",
      SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION | SL_CONF_1MORE
      | SL_CONF_MULTI,
      sl_http_log_set_log, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

struct sl_module sl_http_log_module = {
    .name = "http_log",
    .cmds = sl_http_log_cmds,
    .create_main = sl_http_log_create_main,
    .create_http_main = sl_http_log_create_http_main,
    .create_loc = sl_http_log_create_loc,
    .merge_loc = sl_http_log_merge_loc,
};

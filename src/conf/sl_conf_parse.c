/*
 * sl_conf_parse.c: the configuration lexer and parser.
 *
 * The grammar is nginx's and nothing more: a directive is `name args;` or
 * `name args { ... }`; words are separated by blanks (space, tab, CR, LF);
 * `#` at the start of a word comments out the rest of the line.  What the
 * directives mean is the walker's business (sl_conf_apply.c); the only
 * directive understood here is `include`, because it changes what text is
 * parsed rather than what the text means.
 *
 * Words follow nginx exactly, so that an nginx configuration -- regular
 * expressions included -- reads the same here:
 *
 *  - A word that starts with " or ' runs to the matching unescaped quote;
 *    it may be empty and may span lines.  The closing quote must be
 *    followed by a blank, `;`, `{` or the end of the text.  A quote inside
 *    an unquoted word is an ordinary character.
 *  - An unquoted word ends at a blank, `;` or `{`; `}` and `#` inside it
 *    are ordinary characters, and so is the `{` of "${name}".
 *  - A backslash takes the next character out of the syntax (it cannot
 *    end a word or a quoted string).  In the stored word \" \' and \\
 *    become the character, \n \t \r become LF, TAB and CR, and any other
 *    backslash pair is kept as written: "\d+\.php$" reaches the regex
 *    compiler unchanged.
 *
 * Errors are reported at the line where the offending character is,
 * except the end-of-text errors, which name where the unfinished thing
 * started: the directive missing its `;`, the innermost block missing its
 * `}`, the opening quote of an unterminated string.
 *
 * Nothing here is global: the parser's state is a struct on the stack.
 * The one exception is the glob(3) error callback, which has no context
 * argument and reports through a thread-local variable.
 */
#include "sl_core.h"
#include "sl_conf.h"

#include <sys/stat.h>
#include <ctype.h>
#include <fcntl.h>
#include <glob.h>

#define SL_CONF_MAX_FILE       (16 * 1024 * 1024)  /* bytes per file */
#define SL_CONF_MAX_NESTING    64                  /* open blocks */

enum sl_conf_tok {
    SL_CONF_TOK_WORD = 0,
    SL_CONF_TOK_SEMI,
    SL_CONF_TOK_OPEN,
    SL_CONF_TOK_CLOSE,
    SL_CONF_TOK_EOF,
    SL_CONF_TOK_ERROR
};

/* An open block while its body is being parsed. */
struct sl_conf_frame {
    struct sl_conf_node     *block;
    struct sl_conf_node    **tail;      /* where the block's sibling goes */
    struct sl_conf_frame    *up;
};

struct sl_conf_parser {
    struct sl_pool          *pool;
    const char              *prefix;    /* directory of the top-level */
    size_t                   prefix_len;    /* path, with its '/', or "" */
    char                    *glob_prefix;   /* the same, glob-escaped */
    size_t                   glob_prefix_len;
    char                    *err;
    size_t                   errlen;
    struct sl_conf_frame    *free_frames;
};

struct sl_conf_lexer {
    struct sl_conf_parser   *ps;
    const char              *file;
    const char              *p;
    const char              *end;
    unsigned                 line;
    const char              *tok;       /* raw word, quotes stripped */
    size_t                   tok_len;
    unsigned                 tok_line;
};

static _Thread_local int  sl_conf_glob_errno;
static _Thread_local char sl_conf_glob_path[256];

static int sl_conf_parse_file(struct sl_conf_parser *ps, const char *path,
    const char *from, unsigned from_line, unsigned depth, unsigned nest,
    struct sl_conf_node ***tailp);

/*
 * Formats "FILE:LINE: reason" into the caller's buffer.  file NULL leaves
 * out the location: the top-level file itself could not be read, and the
 * reason names it.
 */
static void
sl_conf_parse_error(struct sl_conf_parser *ps, const char *file,
    unsigned line, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (ps->errlen == 0)
        return;
    if (file != NULL) {
        n = snprintf(ps->err, ps->errlen, "%s:%u: ", file, line);
        if (n < 0)
            n = 0;
        if ((size_t) n >= ps->errlen)
            return;
    }
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t) n, fmt, ap);
    va_end(ap);
}

static int
sl_conf_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Scans the next token from lx->p.  For a word, lx->tok and lx->tok_len
 * hold the raw text (escapes not yet applied); for every token
 * lx->tok_line is the line it starts on.  SL_CONF_TOK_ERROR means the
 * message is already in the parser's err.
 */
static enum sl_conf_tok
sl_conf_lex(struct sl_conf_lexer *lx)
{
    const char *p = lx->p, *end = lx->end;
    int dollar;
    char c, q;

    for ( ;; ) {
        if (p == end) {
            lx->p = p;
            lx->tok_line = lx->line;
            return SL_CONF_TOK_EOF;
        }
        c = *p;
        if (c == '#') {
            while (p < end && *p != '\n') {
                if (*p == '\0')
                    goto nul;
                p++;
            }
            continue;
        }
        if (c == '\0')
            goto nul;
        if (!sl_conf_is_blank(c))
            break;
        if (c == '\n')
            lx->line++;
        p++;
    }

    lx->tok_line = lx->line;

    switch (c) {
    case ';':
        lx->p = p + 1;
        return SL_CONF_TOK_SEMI;
    case '{':
        lx->p = p + 1;
        return SL_CONF_TOK_OPEN;
    case '}':
        lx->p = p + 1;
        return SL_CONF_TOK_CLOSE;

    case '"':
    case '\'':
        q = c;
        lx->tok = ++p;
        for ( ;; ) {
            if (p == end) {
                sl_conf_parse_error(lx->ps, lx->file, lx->tok_line,
                                    "unterminated quoted string");
                return SL_CONF_TOK_ERROR;
            }
            c = *p;
            if (c == '\0')
                goto nul;
            if (c == q)
                break;
            if (c == '\\' && p + 1 < end) {
                c = *++p;
                if (c == '\0')
                    goto nul;
            }
            if (c == '\n')
                lx->line++;
            p++;
        }
        lx->tok_len = (size_t) (p - lx->tok);
        p++;
        /* nginx's rule: "a"b is a mistake, not the word ab. */
        if (p < end && *p == '\0')
            goto nul;
        if (p < end && !sl_conf_is_blank(*p) && *p != ';' && *p != '{') {
            if (isprint((unsigned char) *p))
                sl_conf_parse_error(lx->ps, lx->file, lx->line,
                                    "unexpected \"%c\"", *p);
            else
                sl_conf_parse_error(lx->ps, lx->file, lx->line,
                                    "unexpected \"\\x%02x\"",
                                    (unsigned char) *p);
            return SL_CONF_TOK_ERROR;
        }
        lx->p = p;
        return SL_CONF_TOK_WORD;

    default:
        lx->tok = p;
        dollar = 0;
        while (p < end) {
            c = *p;
            if (c == '\0')
                goto nul;
            if (c == '\\') {
                if (++p < end) {
                    if (*p == '\0')
                        goto nul;
                    if (*p == '\n')
                        lx->line++;
                    p++;
                }
                dollar = 0;
                continue;
            }
            /* "${name}" is one word, as in nginx. */
            if (c == '{' && dollar) {
                dollar = 0;
                p++;
                continue;
            }
            if (sl_conf_is_blank(c) || c == ';' || c == '{')
                break;
            dollar = (c == '$');
            p++;
        }
        lx->tok_len = (size_t) (p - lx->tok);
        lx->p = p;
        return SL_CONF_TOK_WORD;
    }

nul:
    sl_conf_parse_error(lx->ps, lx->file, lx->line, "unexpected NUL byte");
    return SL_CONF_TOK_ERROR;
}

/*
 * Copies the current raw word into the pool, applying the escapes (see the
 * top of the file), NUL-terminated.  Returns SL_OK or SL_ERROR.
 */
static int
sl_conf_word(struct sl_conf_lexer *lx, struct sl_str *w)
{
    const char *s = lx->tok, *e = lx->tok + lx->tok_len;
    char *d;

    d = sl_pnalloc(lx->ps->pool, lx->tok_len + 1);
    if (d == NULL) {
        sl_conf_parse_error(lx->ps, lx->file, lx->tok_line, "out of memory");
        return SL_ERROR;
    }
    w->data = d;
    while (s < e) {
        if (*s == '\\' && s + 1 < e) {
            switch (s[1]) {
            case '"':
            case '\'':
            case '\\':
                *d++ = s[1];
                s += 2;
                continue;
            case 'n':
                *d++ = '\n';
                s += 2;
                continue;
            case 't':
                *d++ = '\t';
                s += 2;
                continue;
            case 'r':
                *d++ = '\r';
                s += 2;
                continue;
            default:
                /* Kept whole, for regular expressions. */
                *d++ = *s++;
                break;
            }
        }
        *d++ = *s++;
    }
    *d = '\0';
    w->len = (size_t) (d - w->data);
    return SL_OK;
}

/*
 * A node for words[0..nwords), nwords >= 1, copied into the pool.  args is
 * NULL when there are none.  Returns NULL on allocation failure.
 */
static struct sl_conf_node *
sl_conf_node_new(struct sl_pool *pool, const char *file, unsigned line,
    const struct sl_str *words, unsigned nwords, int block)
{
    struct sl_conf_node *n;

    n = sl_pcalloc(pool, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->name = words[0];
    n->nargs = nwords - 1;
    if (n->nargs > 0) {
        n->args = sl_palloc(pool, n->nargs * sizeof(struct sl_str));
        if (n->args == NULL)
            return NULL;
        memcpy(n->args, &words[1], n->nargs * sizeof(struct sl_str));
    }
    n->file = file;
    n->line = line;
    n->block = block ? 1 : 0;
    return n;
}

/* a and b concatenated and NUL-terminated in the pool, or NULL. */
static char *
sl_conf_join(struct sl_pool *pool, const char *a, size_t alen,
    const char *b, size_t blen)
{
    char *p;

    p = sl_pnalloc(pool, alen + blen + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    p[alen + blen] = '\0';
    return p;
}

static int
sl_conf_glob_error(const char *path, int err)
{
    /* A missing directory is a wildcard that matches nothing, as in nginx;
     * anything else (EACCES, EIO) aborts the glob. */
    if (err == ENOENT)
        return 0;
    sl_conf_glob_errno = err;
    snprintf(sl_conf_glob_path, sizeof(sl_conf_glob_path), "%s", path);
    return 1;
}

static int
sl_conf_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Handles `include PATTERN;` found at file:line, splicing the nodes of the
 * included files at *tailp.  A relative pattern is resolved against the
 * directory of the top-level file, not of the including one, as nginx
 * does.  Without wildcard characters the pattern names one file that must
 * exist; with them, the matches are read in strcmp order (not the
 * locale's) and no match at all is fine.  depth is the including file's.
 */
static int
sl_conf_include(struct sl_conf_parser *ps, const char *file, unsigned line,
    const struct sl_str *args, unsigned nargs, unsigned depth, unsigned nest,
    struct sl_conf_node ***tailp)
{
    const struct sl_str *pat;
    char *path, *name;
    glob_t g;
    size_t i;
    int rc, abs;

    if (nargs != 1) {
        sl_conf_parse_error(ps, file, line,
            "invalid number of arguments in \"include\" directive");
        return SL_ERROR;
    }
    if (depth >= SL_CONF_MAX_INCLUDE) {
        sl_conf_parse_error(ps, file, line,
            "include nesting too deep (more than %d levels)",
            SL_CONF_MAX_INCLUDE);
        return SL_ERROR;
    }

    pat = &args[0];
    abs = pat->len > 0 && pat->data[0] == '/';

    if (strpbrk(pat->data, "*?[") == NULL) {
        path = sl_conf_join(ps->pool, ps->prefix, abs ? 0 : ps->prefix_len,
                            pat->data, pat->len);
        if (path == NULL)
            goto nomem;
        return sl_conf_parse_file(ps, path, file, line, depth + 1, nest,
                                  tailp);
    }

    path = sl_conf_join(ps->pool, ps->glob_prefix,
                        abs ? 0 : ps->glob_prefix_len, pat->data, pat->len);
    if (path == NULL)
        goto nomem;

    sl_conf_glob_errno = 0;
    sl_conf_glob_path[0] = '\0';
    memset(&g, 0, sizeof(g));
    rc = glob(path, GLOB_NOSORT, sl_conf_glob_error, &g);
    switch (rc) {
    case 0:
        break;
    case GLOB_NOMATCH:
        globfree(&g);
        return SL_OK;
    case GLOB_ABORTED:
        globfree(&g);
        if (sl_conf_glob_errno != 0)
            sl_conf_parse_error(ps, file, line,
                                "opendir() \"%s\" failed (%d: %s)",
                                sl_conf_glob_path, sl_conf_glob_errno,
                                strerror(sl_conf_glob_errno));
        else
            sl_conf_parse_error(ps, file, line, "glob() \"%s\" failed",
                                path);
        return SL_ERROR;
    default:
        globfree(&g);
        goto nomem;
    }

    qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), sl_conf_strcmp);
    rc = SL_OK;
    for (i = 0; i < g.gl_pathc && rc == SL_OK; i++) {
        name = sl_pstrdupz(ps->pool, g.gl_pathv[i]);
        if (name == NULL) {
            globfree(&g);
            goto nomem;
        }
        rc = sl_conf_parse_file(ps, name, file, line, depth + 1, nest, tailp);
    }
    globfree(&g);
    return rc;

nomem:
    sl_conf_parse_error(ps, file, line, "out of memory");
    return SL_ERROR;
}

static int
sl_conf_is_include(const struct sl_str *name)
{
    return name->len == sizeof("include") - 1
           && memcmp(name->data, "include", name->len) == 0;
}

/*
 * Parses data[0..len), the text of file, appending its top-level nodes at
 * *tailp and leaving *tailp at the new end.  Blocks must close in the file
 * that opens them.  depth counts includes above this file and nest the
 * blocks open around it.  Recursion happens only through include, which is
 * bounded; blocks are tracked with an explicit stack of frames so that
 * deep nesting cannot exhaust the C stack.
 */
static int
sl_conf_parse_text(struct sl_conf_parser *ps, const char *file,
    const char *data, size_t len, unsigned depth, unsigned nest,
    struct sl_conf_node ***tailp)
{
    struct sl_str words[1 + SL_CONF_MAX_ARGS];
    struct sl_conf_node **tail = *tailp, *n;
    struct sl_conf_frame *top = NULL, *f;
    struct sl_conf_lexer lx;
    unsigned nwords = 0, first_line = 0, open = 0;

    if (data == NULL)       /* an empty file, or buf NULL with len 0 */
        data = "";
    lx.ps = ps;
    lx.file = file;
    lx.p = data;
    lx.end = data + len;
    lx.line = 1;

    for ( ;; ) {
        switch (sl_conf_lex(&lx)) {

        case SL_CONF_TOK_WORD:
            if (nwords == 0)
                first_line = lx.tok_line;
            if (nwords == 1 + SL_CONF_MAX_ARGS) {
                sl_conf_parse_error(ps, file, first_line,
                    "too many arguments in \"%s\" directive (more than %d)",
                    words[0].data, SL_CONF_MAX_ARGS);
                return SL_ERROR;
            }
            if (sl_conf_word(&lx, &words[nwords]) != SL_OK)
                return SL_ERROR;
            nwords++;
            break;

        case SL_CONF_TOK_SEMI:
            if (nwords == 0) {
                sl_conf_parse_error(ps, file, lx.tok_line,
                                    "unexpected \";\"");
                return SL_ERROR;
            }
            if (sl_conf_is_include(&words[0])) {
                if (sl_conf_include(ps, file, first_line, &words[1],
                                    nwords - 1, depth, nest + open, &tail)
                    != SL_OK)
                {
                    return SL_ERROR;
                }
            } else {
                n = sl_conf_node_new(ps->pool, file, first_line, words,
                                     nwords, 0);
                if (n == NULL)
                    goto nomem;
                *tail = n;
                tail = &n->next;
            }
            nwords = 0;
            break;

        case SL_CONF_TOK_OPEN:
            if (nwords == 0) {
                sl_conf_parse_error(ps, file, lx.tok_line,
                                    "unexpected \"{\"");
                return SL_ERROR;
            }
            if (sl_conf_is_include(&words[0])) {
                sl_conf_parse_error(ps, file, first_line,
                    "directive \"include\" is not terminated by \";\"");
                return SL_ERROR;
            }
            if (nest + open >= SL_CONF_MAX_NESTING) {
                sl_conf_parse_error(ps, file, first_line,
                    "blocks nested too deeply (more than %d levels)",
                    SL_CONF_MAX_NESTING);
                return SL_ERROR;
            }
            n = sl_conf_node_new(ps->pool, file, first_line, words, nwords,
                                 1);
            if (n == NULL)
                goto nomem;
            *tail = n;
            if (ps->free_frames != NULL) {
                f = ps->free_frames;
                ps->free_frames = f->up;
            } else {
                f = sl_palloc(ps->pool, sizeof(*f));
                if (f == NULL)
                    goto nomem;
            }
            f->block = n;
            f->tail = &n->next;
            f->up = top;
            top = f;
            open++;
            tail = &n->children;
            nwords = 0;
            break;

        case SL_CONF_TOK_CLOSE:
            if (nwords != 0 || top == NULL) {
                sl_conf_parse_error(ps, file, lx.tok_line,
                                    "unexpected \"}\"");
                return SL_ERROR;
            }
            f = top;
            tail = f->tail;
            top = f->up;
            open--;
            f->up = ps->free_frames;
            ps->free_frames = f;
            break;

        case SL_CONF_TOK_EOF:
            if (nwords != 0) {
                sl_conf_parse_error(ps, file, first_line,
                    "unexpected end of file, expecting \";\" or \"}\"");
                return SL_ERROR;
            }
            if (top != NULL) {
                sl_conf_parse_error(ps, file, top->block->line,
                    "unexpected end of file, expecting \"}\"");
                return SL_ERROR;
            }
            *tailp = tail;
            return SL_OK;

        case SL_CONF_TOK_ERROR:
            return SL_ERROR;
        }
    }

nomem:
    sl_conf_parse_error(ps, file, lx.tok_line, "out of memory");
    return SL_ERROR;
}

/*
 * Reads the regular file at path into pool memory and parses it.  from and
 * from_line locate the include directive, for the messages; from is NULL
 * for the top-level file.  The text is released once parsed, as every
 * word has been copied out of it.
 */
static int
sl_conf_parse_file(struct sl_conf_parser *ps, const char *path,
    const char *from, unsigned from_line, unsigned depth, unsigned nest,
    struct sl_conf_node ***tailp)
{
    struct stat st;
    size_t size, len;
    ssize_t n;
    char *data = NULL;
    int fd, err, rc;

    /* O_NONBLOCK: a FIFO must not hang the parser in open(). */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd == -1) {
        err = errno;
        sl_conf_parse_error(ps, from, from_line,
                            "open() \"%s\" failed (%d: %s)",
                            path, err, strerror(err));
        return SL_ERROR;
    }
    if (fstat(fd, &st) == -1) {
        err = errno;
        sl_conf_parse_error(ps, from, from_line,
                            "fstat() \"%s\" failed (%d: %s)",
                            path, err, strerror(err));
        goto fail;
    }
    /* Devices, FIFOs and directories have no end or no text. */
    if (!S_ISREG(st.st_mode)) {
        sl_conf_parse_error(ps, from, from_line,
                            "\"%s\" is not a regular file", path);
        goto fail;
    }
    if (st.st_size > SL_CONF_MAX_FILE) {
        sl_conf_parse_error(ps, from, from_line,
                            "\"%s\" is larger than %d bytes",
                            path, SL_CONF_MAX_FILE);
        goto fail;
    }

    size = (size_t) st.st_size;
    if (size > 0) {
        data = sl_pnalloc(ps->pool, size);
        if (data == NULL) {
            sl_conf_parse_error(ps, from, from_line, "out of memory");
            goto fail;
        }
    }
    /* A file that shrinks meanwhile is read to its new end. */
    for (len = 0; len < size; len += (size_t) n) {
        n = read(fd, data + len, size - len);
        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }
            err = errno;
            sl_conf_parse_error(ps, from, from_line,
                                "read() \"%s\" failed (%d: %s)",
                                path, err, strerror(err));
            goto fail;
        }
        if (n == 0)
            break;
    }
    close(fd);

    rc = sl_conf_parse_text(ps, path, data, len, depth, nest, tailp);
    if (data != NULL)
        (void) sl_pfree(ps->pool, data);
    return rc;

fail:
    close(fd);
    if (data != NULL)
        (void) sl_pfree(ps->pool, data);
    return SL_ERROR;
}

int
sl_conf_parse(struct sl_pool *pool, const char *path, const char *buf,
    size_t len, struct sl_conf_node **root, char *err, size_t errlen)
{
    struct sl_conf_node *first = NULL, **tail = &first;
    struct sl_conf_parser ps;
    const char *slash;
    char *name, *g;
    size_t i;
    int rc;

    *root = NULL;
    if (err == NULL)
        errlen = 0;
    if (errlen > 0)
        err[0] = '\0';

    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.err = err;
    ps.errlen = errlen;

    name = sl_pstrdupz(pool, path != NULL ? path : "-");
    if (name == NULL)
        goto nomem;

    slash = strrchr(name, '/');
    ps.prefix = name;
    ps.prefix_len = slash != NULL ? (size_t) (slash - name) + 1 : 0;

    /* The directory may hold glob characters of its own. */
    ps.glob_prefix = sl_pnalloc(pool, 2 * ps.prefix_len + 1);
    if (ps.glob_prefix == NULL)
        goto nomem;
    g = ps.glob_prefix;
    for (i = 0; i < ps.prefix_len; i++) {
        if (strchr("*?[\\", name[i]) != NULL)
            *g++ = '\\';
        *g++ = name[i];
    }
    *g = '\0';
    ps.glob_prefix_len = (size_t) (g - ps.glob_prefix);

    if (buf != NULL)
        rc = sl_conf_parse_text(&ps, name, buf, len, 0, 0, &tail);
    else
        rc = sl_conf_parse_file(&ps, name, NULL, 0, 0, 0, &tail);
    if (rc != SL_OK)
        return SL_ERROR;
    *root = first;
    return SL_OK;

nomem:
    if (errlen > 0)
        snprintf(err, errlen, "out of memory");
    return SL_ERROR;
}

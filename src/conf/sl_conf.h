/*
 * sl_conf.h: configuration.
 *
 * Reading a configuration has two phases.  The parser (sl_conf_parse.c)
 * knows only the grammar -- `name args;`, `name args { ... }`, comments,
 * quotes, escapes and `include GLOB;` -- and turns the text into a tree of
 * nodes, each remembering its file and line.  The walker (sl_conf_apply.c)
 * then hands every node to the directive table of the module that declares
 * it.  All errors read "FILE:LINE: reason".
 */
#ifndef SL_CONF_H
#define SL_CONF_H

/* ---- the parse tree ---------------------------------------------------- */

struct sl_conf_node {
    struct sl_str          name;
    struct sl_str         *args;       /* nargs unquoted, unescaped args */
    unsigned               nargs;
    const char            *file;       /* NUL-terminated, lives in pool */
    unsigned               line;
    unsigned               block:1;    /* `name args { ... }` */
    struct sl_conf_node   *children;   /* first child of a block */
    struct sl_conf_node   *next;       /* next sibling */
};

#define SL_CONF_MAX_ARGS       64
#define SL_CONF_MAX_INCLUDE    16      /* include nesting depth */
#define SL_CONF_ERRLEN         512

/*
 * Parses a configuration into a tree allocated from pool.  With buf NULL the
 * file at path is read; otherwise buf[0..len) is parsed and path only names
 * it in messages.  A relative include pattern is resolved against the
 * directory of path.  On success *root is the first top-level node (NULL
 * for an empty file) and SL_OK is returned; on error err holds
 * "FILE:LINE: reason" and SL_ERROR is returned.
 */
int sl_conf_parse(struct sl_pool *pool, const char *path, const char *buf,
    size_t len, struct sl_conf_node **root, char *err, size_t errlen);

/* ---- values ------------------------------------------------------------ */

/* Each returns SL_OK, or SL_ERROR for a malformed or out-of-range value. */
/* "10", "10k", "10K", "2m", "1g": bytes. */
int sl_conf_parse_size(const struct sl_str *s, off_t *out);
/* "500ms", "30s", "5m", "1h", "1d", "1h30m", "1h 30m"; bare "30" = 30 s. */
int sl_conf_parse_msec(const struct sl_str *s, sl_msec_t *out);
/* Non-negative decimal integer. */
int sl_conf_parse_int(const struct sl_str *s, int64_t *out);
/* "on" / "off". */
int sl_conf_parse_flag(const struct sl_str *s, int *out);

/* ---- directives and modules -------------------------------------------- */

/* Contexts a directive may appear in. */
#define SL_CONF_MAIN        0x00000001
#define SL_CONF_EVENTS      0x00000002
#define SL_CONF_HTTP        0x00000004
#define SL_CONF_SERVER      0x00000008
#define SL_CONF_LOCATION    0x00000010
#define SL_CONF_UPSTREAM    0x00000020
#define SL_CONF_CTX_MASK    0x000000ff

/* Argument counts accepted (bitmask of exact counts, or a lower bound). */
#define SL_CONF_NOARGS      0x00000100
#define SL_CONF_TAKE1       0x00000200
#define SL_CONF_TAKE2       0x00000400
#define SL_CONF_TAKE3       0x00000800
#define SL_CONF_TAKE4       0x00001000
#define SL_CONF_TAKE12      (SL_CONF_TAKE1 | SL_CONF_TAKE2)
#define SL_CONF_TAKE123     (SL_CONF_TAKE1 | SL_CONF_TAKE2 | SL_CONF_TAKE3)
#define SL_CONF_TAKE23      (SL_CONF_TAKE2 | SL_CONF_TAKE3)
#define SL_CONF_1MORE       0x00010000
#define SL_CONF_2MORE       0x00020000
#define SL_CONF_BLOCK       0x00100000   /* must be a block */
#define SL_CONF_MULTI       0x00200000   /* may be repeated in one block */

/* Which configuration structure a directive's handler receives. */
enum sl_conf_level {
    SL_CONF_LEVEL_MAIN = 0,     /* module's main conf */
    SL_CONF_LEVEL_HTTP_MAIN,    /* module's http{} conf */
    SL_CONF_LEVEL_HTTP_SRV,     /* module's server{} conf */
    SL_CONF_LEVEL_HTTP_LOC,     /* module's location{} conf */
    SL_CONF_LEVEL_UPSTREAM      /* the current upstream{} */
};

struct sl_conf_cmd;

typedef int (*sl_conf_set_pt)(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf);

struct sl_conf_cmd {
    const char              *name;
    unsigned                 type;      /* contexts | arguments */
    sl_conf_set_pt           set;
    enum sl_conf_level       level;
    size_t                   offset;    /* field, for the reusable setters */
    const void              *post;      /* setter-specific data */
};

struct sl_conf_enum {
    const char              *name;
    int                      value;
};

/*
 * A module: its directive table and the constructors of its configuration
 * at each level.  create_* return NULL on allocation failure; merge_*
 * fill unset child fields from the parent ("unset, then merge") and return
 * SL_OK or SL_ERROR with a message set through sl_conf_error().
 */
struct sl_module {
    const char              *name;
    const struct sl_conf_cmd *cmds;
    void *(*create_main)(struct sl_conf_ctx *cf);
    int   (*init_main)(struct sl_conf_ctx *cf, void *conf);
    void *(*create_http_main)(struct sl_conf_ctx *cf);
    int   (*init_http_main)(struct sl_conf_ctx *cf, void *conf);
    void *(*create_srv)(struct sl_conf_ctx *cf);
    int   (*merge_srv)(struct sl_conf_ctx *cf, void *parent, void *child);
    void *(*create_loc)(struct sl_conf_ctx *cf);
    int   (*merge_loc)(struct sl_conf_ctx *cf, void *parent, void *child);
    /* Runs in each worker after fork; SL_ERROR makes the worker exit. */
    int   (*init_worker)(struct sl_cycle *cycle);
    unsigned                 index;     /* set at start-up */
};

extern struct sl_module *sl_modules[];
extern unsigned sl_nmodules;

/* The walker's context, passed to every handler. */
struct sl_conf_ctx {
    struct sl_pool          *pool;      /* the new cycle's pool */
    struct sl_cycle         *cycle;
    struct sl_conf_node     *node;      /* the directive being handled */
    unsigned                 context;   /* SL_CONF_MAIN ... */
    void                   **main_conf;       /* per-module, by index */
    void                   **http_main_conf;
    void                   **srv_conf;
    void                   **loc_conf;
    void                    *upstream;        /* in upstream{} */
    char                    *err;
    size_t                   errlen;
};

/* Formats "FILE:LINE: reason" for the current node into cf->err. */
void sl_conf_error(struct sl_conf_ctx *cf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, naming another node. */
void sl_conf_node_error(struct sl_conf_ctx *cf, struct sl_conf_node *n,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Walks the children of a block in context ctx, dispatching each to the
 * directive table that declares it.  Checks context, argument count,
 * block-ness and duplicates before calling the handler.
 */
int sl_conf_walk(struct sl_conf_ctx *cf, struct sl_conf_node *first,
    unsigned ctx);

/* Markers for "unset", merged later. */
#define SL_CONF_UNSET        -1
#define SL_CONF_UNSET_PTR    ((void *) -1)
#define SL_CONF_UNSET_SIZE   ((off_t) -1)
#define SL_CONF_UNSET_MSEC   ((sl_msec_t) -1)

#define sl_conf_merge(conf, prev, dflt)                                       \
    do { if ((conf) == SL_CONF_UNSET)                                         \
             (conf) = ((prev) == SL_CONF_UNSET) ? (dflt) : (prev); } while (0)
#define sl_conf_merge_ptr(conf, prev, dflt)                                   \
    do { if ((conf) == SL_CONF_UNSET_PTR)                                     \
             (conf) = ((prev) == SL_CONF_UNSET_PTR) ? (dflt) : (prev);        \
    } while (0)

/* Reusable setters; the field is at cmd->offset in conf. */
int sl_conf_set_flag(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);   /* int */
int sl_conf_set_int(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);    /* int64_t; post: max or NULL */
int sl_conf_set_size(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);   /* off_t */
int sl_conf_set_msec(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);   /* sl_msec_t */
int sl_conf_set_str(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);    /* struct sl_str */
int sl_conf_set_enum(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);   /* int; post: sl_conf_enum[] */

#endif /* SL_CONF_H */

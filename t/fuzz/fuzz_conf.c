/*
 * fuzz_conf.c: libFuzzer target for the configuration parser and the value
 * parsers.
 *
 * Besides "no crash, no leak", it checks two properties of every tree the
 * parser accepts: the invariants the walker relies on (names and args
 * NUL-terminated without inner NULs, at most SL_CONF_MAX_ARGS args, a file
 * and a line on every node), and a round trip: the tree printed back with
 * every word double-quoted must parse to the same tree.
 *
 * The text is parsed as if it were DIR/fuzz.conf, DIR being a private
 * temporary directory holding a few files to include (a plain one, an
 * empty one, a self-include), so that relative includes stay inside it.
 * An input that mentions both "include" and "/" is not parsed: it could
 * name any file on the machine, and reading /dev or /proc is not the
 * parser's problem to survive.
 */
#include "sl_core.h"
#include "sl_conf.h"

#include <sys/stat.h>
#include <ftw.h>

static char fuzz_dir[64];
static char fuzz_path[128];

static void
fuzz_file(const char *name, const char *text)
{
    char path[192];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
}

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void
fuzz_cleanup(void)
{
    if (fuzz_dir[0] != '\0')
        nftw(fuzz_dir, fuzz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_conf.XXXXXX");
    if (mkdtemp(fuzz_dir) == NULL)
        abort();
    atexit(fuzz_cleanup);
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/fuzz.conf", fuzz_dir);
    fuzz_file("a.conf", "a 1;\nb \"x y\" {\n    c;\n}\n");
    fuzz_file("b.conf", "include a.conf;\nd 2;\n");
    fuzz_file("empty.conf", "");
    fuzz_file("loop.conf", "include loop.conf;\n");
    fuzz_file("bad.conf", "e {\n");
    return 0;
}

static void
fuzz_check_str(const struct sl_str *s)
{
    if (s->data == NULL || s->data[s->len] != '\0'
        || strlen(s->data) != s->len)
    {
        abort();
    }
}

/* Runs the value parsers on s; their results must be in range. */
static void
fuzz_values(const struct sl_str *s)
{
    sl_msec_t msec;
    int64_t n;
    off_t size;
    int flag;

    if (sl_conf_parse_size(s, &size) == SL_OK && size < 0)
        abort();
    if (sl_conf_parse_msec(s, &msec) == SL_OK && msec < 0)
        abort();
    if (sl_conf_parse_int(s, &n) == SL_OK && n < 0)
        abort();
    if (sl_conf_parse_flag(s, &flag) == SL_OK && flag != 0 && flag != 1)
        abort();
}

static void
fuzz_check_tree(const struct sl_conf_node *n)
{
    unsigned i;

    for (; n != NULL; n = n->next) {
        if (n->file == NULL || n->line == 0 || n->nargs > SL_CONF_MAX_ARGS
            || (n->nargs > 0 && n->args == NULL)
            || (!n->block && n->children != NULL))
        {
            abort();
        }
        fuzz_check_str(&n->name);
        for (i = 0; i < n->nargs; i++) {
            fuzz_check_str(&n->args[i]);
            fuzz_values(&n->args[i]);
        }
        fuzz_check_tree(n->children);
    }
}

/* Appends s double-quoted, so that the parser reads back exactly s. */
static char *
fuzz_print_word(char *p, const struct sl_str *s)
{
    size_t i;

    *p++ = '"';
    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\')
            *p++ = '\\';
        *p++ = s->data[i];
    }
    *p++ = '"';
    return p;
}

/* Bytes fuzz_print() needs for the tree at n. */
static size_t
fuzz_print_len(const struct sl_conf_node *n)
{
    size_t len = 0;
    unsigned i;

    for (; n != NULL; n = n->next) {
        len += 2 * n->name.len + 3;
        for (i = 0; i < n->nargs; i++)
            len += 2 * n->args[i].len + 3;
        len += 3 + fuzz_print_len(n->children);
    }
    return len;
}

static char *
fuzz_print(char *p, const struct sl_conf_node *n)
{
    unsigned i;

    for (; n != NULL; n = n->next) {
        p = fuzz_print_word(p, &n->name);
        for (i = 0; i < n->nargs; i++) {
            *p++ = ' ';
            p = fuzz_print_word(p, &n->args[i]);
        }
        if (n->block) {
            *p++ = '{';
            p = fuzz_print(p, n->children);
            *p++ = '}';
        } else {
            *p++ = ';';
        }
        *p++ = '\n';
    }
    return p;
}

static int
fuzz_same_str(const struct sl_str *a, const struct sl_str *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static int
fuzz_same_tree(const struct sl_conf_node *a, const struct sl_conf_node *b)
{
    unsigned i;

    for (; a != NULL && b != NULL; a = a->next, b = b->next) {
        if (!fuzz_same_str(&a->name, &b->name) || a->nargs != b->nargs
            || a->block != b->block)
        {
            return 0;
        }
        for (i = 0; i < a->nargs; i++) {
            if (!fuzz_same_str(&a->args[i], &b->args[i]))
                return 0;
        }
        if (!fuzz_same_tree(a->children, b->children))
            return 0;
    }
    return a == NULL && b == NULL;
}

static int
fuzz_may_escape(const uint8_t *data, size_t size)
{
    return memchr(data, '/', size) != NULL
           && memmem(data, size, "include", 7) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_conf_node *root, *again;
    char err[SL_CONF_ERRLEN], err2[SL_CONF_ERRLEN];
    struct sl_str s;
    struct sl_pool *pool;
    char *text, *end;
    size_t len;

    s.data = (char *) data;
    s.len = size;
    fuzz_values(&s);

    if (fuzz_may_escape(data, size))
        return 0;

    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    if (pool == NULL)
        abort();

    if (sl_conf_parse(pool, fuzz_path, (const char *) data, size, &root,
                      err, sizeof(err)) != SL_OK)
    {
        if (root != NULL || err[0] == '\0')
            abort();
        sl_pool_destroy(pool);
        return 0;
    }
    fuzz_check_tree(root);

    len = fuzz_print_len(root);
    text = malloc(len + 1);
    if (text == NULL)
        abort();
    end = fuzz_print(text, root);
    if ((size_t) (end - text) > len)
        abort();
    if (sl_conf_parse(pool, fuzz_path, text, (size_t) (end - text), &again,
                      err2, sizeof(err2)) != SL_OK)
    {
        fprintf(stderr, "round trip failed: %s\n", err2);
        abort();
    }
    if (!fuzz_same_tree(root, again)) {
        fprintf(stderr, "round trip changed the tree\n");
        abort();
    }
    free(text);

    sl_pool_destroy(pool);
    return 0;
}

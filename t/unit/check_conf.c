/*
 * check_conf.c: unit tests of the configuration parser (sl_conf_parse.c)
 * and the value parsers (sl_conf_values.c).
 *
 * Trees are compared through a compact dump: `name[arg][arg]@LINE;` for
 * a directive and `name[arg]@LINE{...}` for a block; the include tests add
 * the file, relative to the test's directory: `name@FILE:LINE;`.  Errors
 * are compared as the exact "FILE:LINE: reason" string.
 */
#include "sl_core.h"
#include "sl_conf.h"

#include <sys/stat.h>
#include <check.h>
#include <fcntl.h>
#include <ftw.h>

static struct sl_pool *pool;
static struct sl_conf_node *root;
static char err[SL_CONF_ERRLEN];
static char out[16384];
static char base[64];           /* per test case, removed at its end */
static char dir[256];           /* per test, under base */

/* ---- fixtures and helpers ---------------------------------------------- */

static void
pool_setup(void)
{
    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    ck_assert_ptr_nonnull(pool);
    root = NULL;
    err[0] = '\0';
}

static void
pool_teardown(void)
{
    sl_pool_destroy(pool);
    pool = NULL;
}

static void
tmp_setup(void)
{
    snprintf(base, sizeof(base), "/tmp/check_conf.XXXXXX");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
    /* Traversable, so that the permission tests fail where they mean to. */
    chmod(base, 0755);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void
tmp_teardown(void)
{
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes the test's own directory, base/name. */
static void
test_dir(const char *name)
{
    snprintf(dir, sizeof(dir), "%s/%s", base, name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
}

/* Path of rel under the test's directory (a few rotating buffers). */
static const char *
at(const char *rel)
{
    static char bufs[4][512];
    static unsigned i;
    char *b = bufs[i++ % 4];

    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, rel);
    return b;
}

static void
mksub(const char *rel)
{
    ck_assert_int_eq(mkdir(at(rel), 0755), 0);
}

static void
mkfile(const char *rel, const char *text)
{
    FILE *f;

    f = fopen(at(rel), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/*
 * Continues as an unprivileged user, so that file modes are enforced.
 * Returns 0 when that is impossible (root without CAP_SETUID): the caller
 * then skips its permission checks.
 */
static int
drop_root(void)
{
    return geteuid() != 0 || seteuid(65534) == 0;
}

static void
regain_root(void)
{
    if (getuid() == 0)
        ck_assert_int_eq(seteuid(0), 0);
}

static char *
dump_node(char *p, char *last, struct sl_conf_node *n, int files)
{
    const char *f;
    size_t dl;
    unsigned i;

    for (; n != NULL; n = n->next) {
        p = sl_snprintf(p, last, "%.*s", (int) n->name.len, n->name.data);
        for (i = 0; i < n->nargs; i++)
            p = sl_snprintf(p, last, "[%.*s]", (int) n->args[i].len,
                            n->args[i].data);
        if (files) {
            f = n->file;
            dl = strlen(dir);
            if (strncmp(f, dir, dl) == 0 && f[dl] == '/')
                f += dl + 1;
            p = sl_snprintf(p, last, "@%s:%u", f, n->line);
        } else {
            p = sl_snprintf(p, last, "@%u", n->line);
        }
        if (n->block) {
            p = sl_snprintf(p, last, "{");
            p = dump_node(p, last, n->children, files);
            p = sl_snprintf(p, last, "}");
        } else {
            ck_assert_ptr_null(n->children);
            p = sl_snprintf(p, last, ";");
        }
    }
    return p;
}

static const char *
dump(int files)
{
    out[0] = '\0';
    dump_node(out, out + sizeof(out), root, files);
    return out;
}

/*
 * Parses text[0..len) as "t.conf" from an exactly sized heap copy, so
 * that ASan sees any read past the end.  Returns the dump, or NULL on
 * error with the message in err.
 */
static const char *
parse_n(const char *text, size_t len)
{
    char *copy;
    int rc;

    copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    rc = sl_conf_parse(pool, "t.conf", copy, len, &root, err, sizeof(err));
    free(copy);
    if (rc != SL_OK) {
        ck_assert_int_eq(rc, SL_ERROR);
        ck_assert_ptr_null(root);
        return NULL;
    }
    return dump(0);
}

static const char *
parse(const char *text)
{
    return parse_n(text, strlen(text));
}

/* Parses the file rel of the test's directory; dump with file names. */
static const char *
parse_file(const char *rel)
{
    if (sl_conf_parse(pool, at(rel), NULL, 0, &root, err, sizeof(err))
        != SL_OK)
    {
        ck_assert_ptr_null(root);
        return NULL;
    }
    return dump(1);
}

#define ck_parse(text, expect)                                                \
    do {                                                                      \
        const char *r_ = parse(text);                                         \
        ck_assert_msg(r_ != NULL, "parse failed: %s", err);                   \
        ck_assert_str_eq(r_, expect);                                         \
    } while (0)

#define ck_parse_error(text, expect)                                          \
    do {                                                                      \
        ck_assert_msg(parse(text) == NULL, "parse succeeded: %s", out);       \
        ck_assert_str_eq(err, expect);                                        \
    } while (0)

#define ck_file(rel, expect)                                                  \
    do {                                                                      \
        const char *r_ = parse_file(rel);                                     \
        ck_assert_msg(r_ != NULL, "parse failed: %s", err);                   \
        ck_assert_str_eq(r_, expect);                                         \
    } while (0)

/* Expected message with the test's directory put in for each %s. */
static const char *
msg(const char *fmt)
{
    static char m[2048];

    snprintf(m, sizeof(m), fmt, dir, dir, dir);
    return m;
}

#define ck_file_error(rel, fmt)                                               \
    do {                                                                      \
        ck_assert_msg(parse_file(rel) == NULL, "parse succeeded: %s", out);   \
        ck_assert_str_eq(err, msg(fmt));                                      \
    } while (0)

/* ---- syntax ------------------------------------------------------------ */

START_TEST(test_simple)
{
    ck_parse("worker_processes 4;\npid /run/sluice.pid;\n",
             "worker_processes[4]@1;pid[/run/sluice.pid]@2;");
    ck_assert_uint_eq(root->nargs, 1);
    ck_assert_int_eq(root->block, 0);
    ck_assert_str_eq(root->file, "t.conf");
    ck_parse("least_conn;", "least_conn@1;");
    ck_assert_uint_eq(root->nargs, 0);
    ck_assert_ptr_null(root->args);
    ck_parse("a 1 2 3;b;", "a[1][2][3]@1;b@1;");
    ck_parse("\t a\t\tb  ;  ", "a[b]@1;");
}
END_TEST

START_TEST(test_empty)
{
    ck_parse("", "");
    ck_assert_ptr_null(root);
    ck_parse("  \n\t\r\n", "");
    ck_assert_ptr_null(root);
    ck_parse("# only\n   # comments", "");
    ck_assert_ptr_null(root);
}
END_TEST

START_TEST(test_block)
{
    ck_parse("events { worker_connections 1024; }",
             "events@1{worker_connections[1024]@1;}");
    ck_assert_int_eq(root->block, 1);
    ck_parse("a {}\nb { }\nc x {\n}\n", "a@1{}b@2{}c[x]@3{}");
    ck_assert_int_eq(root->block, 1);
    ck_assert_ptr_null(root->children);
    ck_parse("a{b;}c;d{}", "a@1{b@1;}c@1;d@1{}");
    ck_parse("a x{b;}", "a[x]@1{b@1;}");
}
END_TEST

START_TEST(test_nested)
{
    ck_parse("http {\n"
             "    upstream app {\n"
             "        server 127.0.0.1:8081 weight=2;\n"
             "        least_conn;\n"
             "    }\n"
             "    server {\n"
             "        listen 8080;\n"
             "        location / {\n"
             "            proxy_pass http://app;\n"
             "        }\n"
             "    }\n"
             "}\n"
             "after;\n",
             "http@1{upstream[app]@2{server[127.0.0.1:8081][weight=2]@3;"
             "least_conn@4;}server@6{listen[8080]@7;location[/]@8{"
             "proxy_pass[http://app]@9;}}}after@13;");
    ck_assert_ptr_nonnull(root->next);
    ck_assert_ptr_null(root->next->next);
    ck_assert_ptr_null(root->children->next->next);
}
END_TEST

START_TEST(test_comments)
{
    ck_parse("# leading comment ; { } \"\n"
             "a 1; # trailing { ; '\n"
             "# another\n"
             "b 2;# glued\n"
             "c 3 # mid-directive\n"
             "  4;\n"
             "d {# open\n"
             "} # close",
             "a[1]@2;b[2]@4;c[3][4]@5;d@7{}");
    ck_parse("a;#x", "a@1;");
    /* Inside a word # is an ordinary character, as in nginx. */
    ck_parse("a b#c d;", "a[b#c][d]@1;");
    ck_parse("a#b;", "a#b@1;");
}
END_TEST

START_TEST(test_quotes)
{
    ck_parse("a \"b c\" \"d;e{f}g#h\";", "a[b c][d;e{f}g#h]@1;");
    ck_parse("a 'b c' 'x\"y' \"x'y\";", "a[b c][x\"y][x'y]@1;");
    ck_parse("\"a b\" 1;", "a b[1]@1;");
    ck_parse("a \"\" '' b;", "a[][][b]@1;");
    ck_assert_uint_eq(root->nargs, 3);
    ck_assert_uint_eq(root->args[0].len, 0);
    ck_assert_int_eq(root->args[0].data[0], '\0');
    ck_assert_uint_eq(root->args[1].len, 0);
    ck_parse("a \"b\";c 'd'{e \"f\"\t;}", "a[b]@1;c[d]@1{e[f]@1;}");
    ck_parse("a \"multi\nline\";", "a[multi\nline]@1;");
    /* A quote inside an unquoted word is an ordinary character. */
    ck_parse("a b\"c d'e;", "a[b\"c][d'e]@1;");
}
END_TEST

START_TEST(test_escapes)
{
    ck_assert_ptr_nonnull(
        parse("a \"q\\\"q\" 'q\\'q' \"b\\\\s\" \"n\\nt\\tr\\r\" 'x\\\"';"));
    ck_assert_uint_eq(root->nargs, 5);
    ck_assert_str_eq(root->args[0].data, "q\"q");
    ck_assert_str_eq(root->args[1].data, "q'q");
    ck_assert_str_eq(root->args[2].data, "b\\s");
    ck_assert_str_eq(root->args[3].data, "n\nt\tr\r");
    ck_assert_str_eq(root->args[4].data, "x\"");

    /* Outside quotes the same rules; a backslash also protects the blank
     * or `;` after it, and keeps itself there. */
    ck_assert_ptr_nonnull(
        parse("a b\\ c d\\;e f\\\"g h\\\\i j\\nk \\'l;"));
    ck_assert_uint_eq(root->nargs, 6);
    ck_assert_str_eq(root->args[0].data, "b\\ c");
    ck_assert_str_eq(root->args[1].data, "d\\;e");
    ck_assert_str_eq(root->args[2].data, "f\"g");
    ck_assert_str_eq(root->args[3].data, "h\\i");
    ck_assert_str_eq(root->args[4].data, "j\nk");
    ck_assert_str_eq(root->args[5].data, "'l");

    /* Anything else is kept whole: regular expressions survive. */
    ck_parse("location ~ \"^/img/\\d+\\.png$\" { }",
             "location[~][^/img/\\d+\\.png$]@1{}");
    ck_parse("location ~* ^/a\\.b\\$x {}", "location[~*][^/a\\.b\\$x]@1{}");
    ck_parse("a \\\\\\\\;", "a[\\\\]@1;");
    /* A backslash pair is one unit: "\\" then a closing quote. */
    ck_parse("a \"\\\\\";", "a[\\]@1;");
    ck_parse("a \\{b;", "a[\\{b]@1;");
}
END_TEST

START_TEST(test_variables)
{
    ck_parse("a $host ${host}x;", "a[$host][${host}x]@1;");
    ck_parse("a ${x} { b; }", "a[${x}]@1{b@1;}");
    ck_parse("a $host{ b; }", "a[$host]@1{b@1;}");
    ck_parse("a \\${ b; }", "a[\\$]@1{b@1;}");
}
END_TEST

START_TEST(test_lines)
{
    ck_parse("\n"
             "a\n"
             "  1\n"
             "  2;\n"
             "# c\n"
             "\"b\n"
             "x\" y;\n"
             "c 'l1\n"
             "l2\n"
             "l3';\n"
             "d;",
             "a[1][2]@2;b\nx[y]@6;c[l1\nl2\nl3]@8;d@11;");
    ck_parse("a 1;\r\nb {\r\n c;\r\n}\r\nd;\r\n",
             "a[1]@1;b@2{c@3;}d@5;");
    ck_parse("a b\\\nc;\nd;", "a[b\\\nc]@1;d@3;");
    ck_parse("a \"x\\\ny\";\nd;", "a[x\\\ny]@1;d@3;");
    ck_parse("\n\n\n   \"q\"\n;\n\nr{x;}", "q@4;r@7{x@7;}");
}
END_TEST

START_TEST(test_unterminated_buffer)
{
    /* parse_n hands over an exact-size copy: no NUL after the text. */
    ck_assert_ptr_nonnull(parse_n("a bc;", 5));
    ck_assert_str_eq(out, "a[bc]@1;");
    ck_assert_int_eq(root->name.data[root->name.len], '\0');
    ck_assert_int_eq(root->args[0].data[root->args[0].len], '\0');
    ck_parse_error("a bc", "t.conf:1: unexpected end of file, "
                   "expecting \";\" or \"}\"");
    ck_parse_error("a b\\", "t.conf:1: unexpected end of file, "
                   "expecting \";\" or \"}\"");
}
END_TEST

START_TEST(test_max_args)
{
    char text[1024], *p;
    int i;

    p = text + sprintf(text, "a");
    for (i = 0; i < SL_CONF_MAX_ARGS; i++)
        p += sprintf(p, " x%d", i);
    strcpy(p, ";");
    ck_assert_ptr_nonnull(parse(text));
    ck_assert_uint_eq(root->nargs, SL_CONF_MAX_ARGS);
    ck_assert_str_eq(root->args[SL_CONF_MAX_ARGS - 1].data, "x63");

    p = text + sprintf(text, "ok;\na");
    for (i = 0; i <= SL_CONF_MAX_ARGS; i++)
        p += sprintf(p, "\n x");
    strcpy(p, ";");
    ck_parse_error(text, "t.conf:2: too many arguments in \"a\" directive "
                   "(more than 64)");
}
END_TEST

START_TEST(test_nesting)
{
    char text[1024], *p;
    int i;

    p = text;
    for (i = 0; i < 64; i++)
        p += sprintf(p, "a{\n");
    for (i = 0; i < 64; i++)
        p += sprintf(p, "}");
    ck_assert_ptr_nonnull(parse(text));

    p = text;
    for (i = 0; i < 65; i++)
        p += sprintf(p, "a{\n");
    ck_parse_error(text, "t.conf:65: blocks nested too deeply "
                   "(more than 64 levels)");
}
END_TEST

/* ---- syntax errors ----------------------------------------------------- */

START_TEST(test_err_close)
{
    ck_parse_error("}", "t.conf:1: unexpected \"}\"");
    ck_parse_error("a;\n}", "t.conf:2: unexpected \"}\"");
    ck_parse_error("a {\n}\n}", "t.conf:3: unexpected \"}\"");
    ck_parse_error("a {\n b c\n}", "t.conf:3: unexpected \"}\"");
    ck_parse_error("a {\n b c}", "t.conf:2: unexpected end of file, "
                   "expecting \";\" or \"}\"");
}
END_TEST

START_TEST(test_err_eof)
{
    ck_parse_error("a b", "t.conf:1: unexpected end of file, "
                   "expecting \";\" or \"}\"");
    ck_parse_error("x;\na\n# c\nb\n", "t.conf:2: unexpected end of file, "
                   "expecting \";\" or \"}\"");
    ck_parse_error("a {\n b {\n c;\n }\n", "t.conf:1: unexpected end of "
                   "file, expecting \"}\"");
    ck_parse_error("a {\n b {\n c;\n", "t.conf:2: unexpected end of "
                   "file, expecting \"}\"");
    ck_parse_error("a {", "t.conf:1: unexpected end of file, "
                   "expecting \"}\"");
}
END_TEST

START_TEST(test_err_unterminated)
{
    ck_parse_error("a \"b", "t.conf:1: unterminated quoted string");
    ck_parse_error("x;\na 'b\n\nc", "t.conf:2: unterminated quoted string");
    ck_parse_error("a \"b\\\"", "t.conf:1: unterminated quoted string");
    ck_parse_error("a \"b\\", "t.conf:1: unterminated quoted string");
    ck_parse_error("a 'b\";", "t.conf:1: unterminated quoted string");
    ck_parse_error("\"", "t.conf:1: unterminated quoted string");
}
END_TEST

START_TEST(test_err_noname)
{
    ck_parse_error("{", "t.conf:1: unexpected \"{\"");
    ck_parse_error("a;\n  { b; }", "t.conf:2: unexpected \"{\"");
    ck_parse_error(";", "t.conf:1: unexpected \";\"");
    ck_parse_error("a;;", "t.conf:1: unexpected \";\"");
    ck_parse_error("a {}\n;", "t.conf:2: unexpected \";\"");
}
END_TEST

START_TEST(test_err_after_quote)
{
    ck_parse_error("a \"b\"c;", "t.conf:1: unexpected \"c\"");
    ck_parse_error("a 'b'\"c\";", "t.conf:1: unexpected \"\"\"");
    ck_parse_error("a \"b\"};", "t.conf:1: unexpected \"}\"");
    ck_parse_error("a \"b\"#c\n;", "t.conf:1: unexpected \"#\"");
    ck_parse_error("a \"multi\nline\"x;", "t.conf:2: unexpected \"x\"");
    ck_parse_error("a \"b\"\x01;", "t.conf:1: unexpected \"\\x01\"");
    ck_parse_error("a \"b\"\xc3\xa9;", "t.conf:1: unexpected \"\\xc3\"");
    /* Separators after a quote are fine. */
    ck_parse("a \"b\"\n;c 'd'{}e \"\"\t\r\n;", "a[b]@1;c[d]@2{}e[]@2;");
}
END_TEST

START_TEST(test_err_nul)
{
    ck_assert_ptr_null(parse_n("a b\0c;", 6));
    ck_assert_str_eq(err, "t.conf:1: unexpected NUL byte");
    ck_assert_ptr_null(parse_n("a;\n# x\0y\nb;", 11));
    ck_assert_str_eq(err, "t.conf:2: unexpected NUL byte");
    ck_assert_ptr_null(parse_n("a \"x\n\0\";", 8));
    ck_assert_str_eq(err, "t.conf:2: unexpected NUL byte");
    ck_assert_ptr_null(parse_n("a \"b\"\0", 6));
    ck_assert_str_eq(err, "t.conf:1: unexpected NUL byte");
    ck_assert_ptr_null(parse_n("\0", 1));
    ck_assert_str_eq(err, "t.conf:1: unexpected NUL byte");
    ck_assert_ptr_null(parse_n("a \\\0;", 5));
    ck_assert_str_eq(err, "t.conf:1: unexpected NUL byte");
}
END_TEST

START_TEST(test_err_include_syntax)
{
    ck_parse_error("include;", "t.conf:1: invalid number of arguments in "
                   "\"include\" directive");
    ck_parse_error("x;\ninclude a b;", "t.conf:2: invalid number of "
                   "arguments in \"include\" directive");
    ck_parse_error("include a { }", "t.conf:1: directive \"include\" is "
                   "not terminated by \";\"");
}
END_TEST

START_TEST(test_err_truncated)
{
    char small[16];

    ck_assert_int_eq(sl_conf_parse(pool, "some/long/name.conf", "}", 1,
                                   &root, small, sizeof(small)), SL_ERROR);
    ck_assert_str_eq(small, "some/long/name.");
    ck_assert_int_eq(sl_conf_parse(pool, "t.conf", "}", 1, &root, NULL, 0),
                     SL_ERROR);
    ck_assert_int_eq(sl_conf_parse(pool, "t.conf", "}", 1, &root, small, 0),
                     SL_ERROR);
}
END_TEST

/* ---- files and includes ------------------------------------------------ */

START_TEST(test_file)
{
    test_dir("file");
    mkfile("top.conf", "a 1;\n\nb {\n  c;\n}\n");
    ck_file("top.conf", "a[1]@top.conf:1;b@top.conf:3{c@top.conf:4;}");
    ck_assert_str_eq(root->file, at("top.conf"));
    mkfile("empty.conf", "");
    ck_file("empty.conf", "");
    ck_assert_ptr_null(root);
    mkfile("bad.conf", "a;\nb");
    ck_file_error("bad.conf", "%s/bad.conf:2: unexpected end of file, "
                  "expecting \";\" or \"}\"");
}
END_TEST

START_TEST(test_file_errors)
{
    int fd;

    test_dir("ferr");
    ck_file_error("nope.conf", "open() \"%s/nope.conf\" failed "
                  "(2: No such file or directory)");
    mksub("sub");
    ck_file_error("sub", "\"%s/sub\" is not a regular file");

    mkfile("secret.conf", "a;\n");
    ck_assert_int_eq(chmod(at("secret.conf"), 0), 0);
    if (drop_root()) {
        ck_assert_ptr_null(parse_file("secret.conf"));
        regain_root();
        ck_assert_str_eq(err, msg("open() \"%s/secret.conf\" failed "
                                  "(13: Permission denied)"));
    }

    fd = open(at("huge.conf"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ne(fd, -1);
    ck_assert_int_eq(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
    close(fd);
    ck_file_error("huge.conf", "\"%s/huge.conf\" is larger than 16777216 "
                  "bytes");
}
END_TEST

START_TEST(test_include)
{
    test_dir("inc");
    mkfile("top.conf", "first;\n"
                       "http {\n"
                       "    include http.inc;\n"
                       "    last;\n"
                       "}\n"
                       "include tail.inc;\n");
    mkfile("http.inc", "# comment\ninner 1;\nsrv {\n  x;\n}\n");
    mkfile("tail.inc", "\n\ntail;");
    ck_file("top.conf", "first@top.conf:1;http@top.conf:2{"
            "inner[1]@http.inc:2;srv@http.inc:3{x@http.inc:4;}"
            "last@top.conf:4;}tail@tail.inc:3;");
    /* An include of an empty file splices nothing. */
    mkfile("e.inc", "");
    mkfile("e.conf", "a;\ninclude e.inc;\nb;");
    ck_file("e.conf", "a@e.conf:1;b@e.conf:3;");
    /* Quoted, like any other word. */
    mkfile("q.conf", "\"include\" 'tail.inc';");
    ck_file("q.conf", "tail@tail.inc:3;");
}
END_TEST

START_TEST(test_include_glob)
{
    test_dir("glob");
    mksub("conf.d");
    mkfile("conf.d/b.conf", "b1;\nb2;\n");
    mkfile("conf.d/a.conf", "a1;\n");
    mkfile("conf.d/10.conf", "\nten;\n");
    mkfile("conf.d/c.txt", "never;\n");
    mkfile("conf.d/B.conf", "upper;\n");
    mkfile("top.conf", "x;\ninclude conf.d/*.conf;\ny { include "
                       "conf.d/[ab].con?; }\n");
    ck_file("top.conf", "x@top.conf:1;ten@conf.d/10.conf:2;"
            "upper@conf.d/B.conf:1;a1@conf.d/a.conf:1;b1@conf.d/b.conf:1;"
            "b2@conf.d/b.conf:2;y@top.conf:3{a1@conf.d/a.conf:1;"
            "b1@conf.d/b.conf:1;b2@conf.d/b.conf:2;}");
}
END_TEST

START_TEST(test_include_nomatch)
{
    test_dir("nomatch");
    mksub("empty.d");
    mkfile("top.conf", "a;\ninclude empty.d/*.conf;\n"
                       "include nodir/*.conf;\nb;");
    ck_file("top.conf", "a@top.conf:1;b@top.conf:4;");
}
END_TEST

START_TEST(test_include_missing)
{
    test_dir("missing");
    mkfile("top.conf", "a;\ninclude nope.conf;\n");
    ck_file_error("top.conf", "%s/top.conf:2: open() \"%s/nope.conf\" "
                  "failed (2: No such file or directory)");
    mksub("d");
    mkfile("dir.conf", "include d;\n");
    ck_file_error("dir.conf", "%s/dir.conf:1: \"%s/d\" is not a regular "
                  "file");
    mkfile("dirglob.conf", "include ?;\n");
    ck_file_error("dirglob.conf", "%s/dirglob.conf:1: \"%s/d\" is not a "
                  "regular file");
}
END_TEST

START_TEST(test_include_permissions)
{
    const char *r;

    test_dir("perm");
    mksub("conf.d");
    mkfile("conf.d/a.conf", "a;\n");
    mkfile("secret.conf", "s;\n");
    mkfile("top.conf", "include secret.conf;\n");
    mkfile("glob.conf", "x;\ninclude conf.d/*.conf;\n");
    ck_assert_int_eq(chmod(at("secret.conf"), 0), 0);
    if (!drop_root())
        return;
    ck_assert_ptr_null(parse_file("top.conf"));
    regain_root();
    ck_assert_str_eq(err, msg("%s/top.conf:1: open() \"%s/secret.conf\" "
                              "failed (13: Permission denied)"));
    ck_assert_int_eq(chmod(at("conf.d"), 0), 0);
    ck_assert(drop_root());
    r = parse_file("glob.conf");
    regain_root();
    ck_assert_int_eq(chmod(at("conf.d"), 0755), 0);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(err, msg("%s/glob.conf:2: opendir() \"%s/conf.d\" "
                              "failed (13: Permission denied)"));
}
END_TEST

START_TEST(test_include_loop)
{
    test_dir("loop");
    mkfile("self.conf", "a;\ninclude self.conf;\n");
    ck_file_error("self.conf", "%s/self.conf:2: include nesting too deep "
                  "(more than 16 levels)");
    /* top -> x -> y -> x ...: y is the 16th level. */
    mkfile("top.conf", "include x.conf;\n");
    mkfile("x.conf", "x;\ninclude y.conf;\n");
    mkfile("y.conf", "include x.conf;\n");
    ck_file_error("top.conf", "%s/y.conf:1: include nesting too deep "
                  "(more than 16 levels)");
}
END_TEST

START_TEST(test_include_depth)
{
    char name[32], text[64];
    int i;

    test_dir("depth");
    /* f0 includes f1 ... includes f16: sixteen levels are allowed. */
    for (i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), "f%d.conf", i);
        snprintf(text, sizeof(text), "include f%d.conf;\n", i + 1);
        mkfile(name, text);
    }
    mkfile("f16.conf", "leaf;\n");
    ck_file("f0.conf", "leaf@f16.conf:1;");
    mkfile("f16.conf", "include f17.conf;\n");
    mkfile("f17.conf", "leaf;\n");
    ck_file_error("f0.conf", "%s/f16.conf:1: include nesting too deep "
                  "(more than 16 levels)");
}
END_TEST

START_TEST(test_include_relative)
{
    test_dir("rel");
    mksub("sub");
    mkfile("top.conf", "include sub/a.conf;\n");
    /* Relative to the top-level file's directory, not the includer's. */
    mkfile("sub/a.conf", "include b.conf;\n");
    mkfile("sub/b.conf", "wrong;\n");
    mkfile("b.conf", "right;\n");
    ck_file("top.conf", "right@b.conf:1;");
}
END_TEST

START_TEST(test_include_absolute)
{
    char text[1200];

    test_dir("abs");
    mksub("x");
    mkfile("x/one.conf", "one;\n");
    mkfile("x/two.conf", "two;\n");
    snprintf(text, sizeof(text), "include %s;\ninclude \"%s\";\n",
             at("x/one.conf"), at("x/t*.conf"));
    mkfile("top.conf", text);
    ck_file("top.conf", "one@x/one.conf:1;two@x/two.conf:1;");
}
END_TEST

START_TEST(test_include_buffer)
{
    int cwd;

    test_dir("buf");
    mkfile("part.conf", "part;\n");
    /* With a buffer, path still names the directory for includes. */
    ck_assert_int_eq(sl_conf_parse(pool, at("virtual.conf"),
                                   "v;\ninclude part.conf;", 21, &root,
                                   err, sizeof(err)), SL_OK);
    ck_assert_str_eq(dump(1), "v@virtual.conf:1;part@part.conf:1;");
    /* A bare file name means the current directory. */
    cwd = open(".", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ne(cwd, -1);
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(sl_conf_parse(pool, "b.conf", "include p*.conf;", 16,
                                   &root, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(fchdir(cwd), 0);
    close(cwd);
    ck_assert_str_eq(dump(0), "part@1;");
    ck_assert_str_eq(root->file, "part.conf");
}
END_TEST

START_TEST(test_include_errors_inside)
{
    test_dir("inside");
    mkfile("bad.inc", "ok;\nbad \"x\"y;\n");
    mkfile("top.conf", "a;\ninclude bad.inc;\n");
    ck_file_error("top.conf", "%s/bad.inc:2: unexpected \"y\"");
    /* A block must close in the file that opens it. */
    mkfile("open.inc", "server {\n");
    mkfile("open.conf", "http {\ninclude open.inc;\n}\n");
    ck_file_error("open.conf", "%s/open.inc:1: unexpected end of file, "
                  "expecting \"}\"");
    mkfile("close.inc", "\n}\n");
    mkfile("close.conf", "http {\ninclude close.inc;\n");
    ck_file_error("close.conf", "%s/close.inc:2: unexpected \"}\"");
    /* A directive cannot run on into the next file either. */
    mkfile("half.inc", "listen 80");
    mkfile("half.conf", "include half.inc;\n;");
    ck_file_error("half.conf", "%s/half.inc:1: unexpected end of file, "
                  "expecting \";\" or \"}\"");
}
END_TEST

START_TEST(test_include_nesting_limit)
{
    char text[1024], *p;
    int i;

    test_dir("nest");
    /* The block limit counts blocks open around an include too. */
    p = text;
    for (i = 0; i < 63; i++)
        p += sprintf(p, "a{");
    p += sprintf(p, "include in.inc;");
    for (i = 0; i < 63; i++)
        p += sprintf(p, "}");
    mkfile("top.conf", text);
    mkfile("in.inc", "b{}\n");
    ck_assert_ptr_nonnull(parse_file("top.conf"));
    mkfile("in.inc", "b{\nc{}}\n");
    ck_file_error("top.conf", "%s/in.inc:2: blocks nested too deeply "
                  "(more than 64 levels)");
}
END_TEST

START_TEST(test_include_glob_chars_in_dir)
{
    char top[512];

    test_dir("g[l]o*b?\\d");
    mksub("conf.d");
    mkfile("conf.d/a.conf", "a;\n");
    mkfile("one.inc", "one;\n");
    mkfile("top.conf", "include one.inc;\ninclude conf.d/*.conf;\n");
    ck_file("top.conf", "one@one.inc:1;a@conf.d/a.conf:1;");
    /* The pattern's own wildcards still work and the name is the file's. */
    snprintf(top, sizeof(top), "%s", root->next->file);
    ck_assert_str_eq(top, at("conf.d/a.conf"));
}
END_TEST

/* ---- values ------------------------------------------------------------ */

static int
size_of(const char *s, off_t *v)
{
    struct sl_str str = { strlen(s), (char *) s };

    return sl_conf_parse_size(&str, v);
}

static int
msec_of(const char *s, sl_msec_t *v)
{
    struct sl_str str = { strlen(s), (char *) s };

    return sl_conf_parse_msec(&str, v);
}

static int
int_of(const char *s, int64_t *v)
{
    struct sl_str str = { strlen(s), (char *) s };

    return sl_conf_parse_int(&str, v);
}

static int
flag_of(const char *s, int *v)
{
    struct sl_str str = { strlen(s), (char *) s };

    return sl_conf_parse_flag(&str, v);
}

START_TEST(test_size)
{
    static const struct { const char *s; off_t v; } good[] = {
        { "0", 0 }, { "10", 10 }, { "007", 7 },
        { "10k", 10240 }, { "10K", 10240 },
        { "2m", 2097152 }, { "2M", 2097152 },
        { "1g", 1073741824 }, { "1G", 1073741824 },
        { "9223372036854775807", INT64_MAX },
        { "9007199254740991k", 9007199254740991LL * 1024 },
        { "8589934591g", 8589934591LL * 1073741824 },
    };
    static const char *bad[] = {
        "", "k", "-1", "+1", "1.5m", "1 k", " 1", "1 ", "1kb", "1t", "1b",
        "9223372036854775808", "9007199254740992k", "8589934592g",
        "99999999999999999999999", "abc", "0x10", "1kk",
    };
    struct sl_str s;
    unsigned i;
    off_t v;

    for (i = 0; i < sl_nelems(good); i++) {
        v = -1;
        ck_assert_msg(size_of(good[i].s, &v) == SL_OK, "%s", good[i].s);
        ck_assert_msg(v == good[i].v, "%s", good[i].s);
    }
    for (i = 0; i < sl_nelems(bad); i++) {
        v = 12345;
        ck_assert_msg(size_of(bad[i], &v) == SL_ERROR, "%s", bad[i]);
        ck_assert_msg(v == 12345, "%s changed the output", bad[i]);
    }
    /* Only len counts, not a NUL. */
    s.data = "10kXYZ";
    s.len = 3;
    ck_assert_int_eq(sl_conf_parse_size(&s, &v), SL_OK);
    ck_assert_int_eq(v, 10240);
    s.data = NULL;
    s.len = 0;
    ck_assert_int_eq(sl_conf_parse_size(&s, &v), SL_ERROR);
}
END_TEST

START_TEST(test_msec)
{
    static const struct { const char *s; sl_msec_t v; } good[] = {
        { "0", 0 }, { "0ms", 0 }, { "500ms", 500 }, { "30", 30000 },
        { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
        { "1d", 86400000 }, { "1w", 604800000 },
        { "1h30m", 5400000 }, { "1h 30m", 5400000 },
        { "1h   30m", 5400000 }, { "1m30", 90000 }, { "1m 30", 90000 },
        { "1s500ms", 1500 },
        { "1w2d3h4m5s6ms", 604800000LL + 2 * 86400000LL + 3 * 3600000LL
                            + 4 * 60000LL + 5000 + 6 },
        { "9223372036854775807ms", INT64_MAX },
        { "9223372036854775s", 9223372036854775000LL },
        { "15250284452w", 15250284452LL * 604800000LL },
        { "15250284452w 3d", 15250284452LL * 604800000LL
                             + 3 * 86400000LL },
    };
    static const char *bad[] = {
        "", "ms", "h", " ", "1x", "30m1h", "1m1m", "1s1m", "1ms1s", "1h ",
        " 1h", "1.5h", "-1s", "+1s", "1M", "1y", "1hh", "1h\t30m", "1 h",
        "1sm", "30 1h", "1h30m15x", "1m30 1s", "9223372036854775808ms",
        "9223372036854776s", "15250284453w", "15250284452w 4d",
        "99999999999999999999",
    };
    sl_msec_t v;
    unsigned i;

    for (i = 0; i < sl_nelems(good); i++) {
        v = -1;
        ck_assert_msg(msec_of(good[i].s, &v) == SL_OK, "%s", good[i].s);
        ck_assert_msg(v == good[i].v, "%s: %lld", good[i].s, (long long) v);
    }
    for (i = 0; i < sl_nelems(bad); i++) {
        v = 12345;
        ck_assert_msg(msec_of(bad[i], &v) == SL_ERROR, "\"%s\"", bad[i]);
        ck_assert_msg(v == 12345, "%s changed the output", bad[i]);
    }
}
END_TEST

START_TEST(test_int)
{
    static const char *bad[] = {
        "", "-1", "+1", "9223372036854775808", "1k", " 1", "1 ", "0x1",
        "1.0", "a",
    };
    int64_t v;
    unsigned i;

    ck_assert_int_eq(int_of("0", &v), SL_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(int_of("42", &v), SL_OK);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(int_of("9223372036854775807", &v), SL_OK);
    ck_assert_int_eq(v, INT64_MAX);
    for (i = 0; i < sl_nelems(bad); i++) {
        v = 12345;
        ck_assert_msg(int_of(bad[i], &v) == SL_ERROR, "\"%s\"", bad[i]);
        ck_assert_int_eq(v, 12345);
    }
}
END_TEST

START_TEST(test_flag)
{
    static const char *bad[] = {
        "", "o", "onn", "yes", "no", "1", "0", "of", "offf", "on ", " on",
        "true",
    };
    unsigned i;
    int v;

    ck_assert_int_eq(flag_of("on", &v), SL_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(flag_of("off", &v), SL_OK);
    ck_assert_int_eq(v, 0);
    /* nginx compares flags without case. */
    ck_assert_int_eq(flag_of("On", &v), SL_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(flag_of("OFF", &v), SL_OK);
    ck_assert_int_eq(v, 0);
    for (i = 0; i < sl_nelems(bad); i++) {
        v = 7;
        ck_assert_msg(flag_of(bad[i], &v) == SL_ERROR, "\"%s\"", bad[i]);
        ck_assert_int_eq(v, 7);
    }
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static Suite *
conf_suite(void)
{
    Suite *s;
    TCase *tc;

    s = suite_create("conf");

    tc = tcase_create("syntax");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_simple);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_block);
    tcase_add_test(tc, test_nested);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_quotes);
    tcase_add_test(tc, test_escapes);
    tcase_add_test(tc, test_variables);
    tcase_add_test(tc, test_lines);
    tcase_add_test(tc, test_unterminated_buffer);
    tcase_add_test(tc, test_max_args);
    tcase_add_test(tc, test_nesting);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_err_close);
    tcase_add_test(tc, test_err_eof);
    tcase_add_test(tc, test_err_unterminated);
    tcase_add_test(tc, test_err_noname);
    tcase_add_test(tc, test_err_after_quote);
    tcase_add_test(tc, test_err_nul);
    tcase_add_test(tc, test_err_include_syntax);
    tcase_add_test(tc, test_err_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("include");
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_include);
    tcase_add_test(tc, test_include_glob);
    tcase_add_test(tc, test_include_nomatch);
    tcase_add_test(tc, test_include_missing);
    tcase_add_test(tc, test_include_permissions);
    tcase_add_test(tc, test_include_loop);
    tcase_add_test(tc, test_include_depth);
    tcase_add_test(tc, test_include_relative);
    tcase_add_test(tc, test_include_absolute);
    tcase_add_test(tc, test_include_buffer);
    tcase_add_test(tc, test_include_errors_inside);
    tcase_add_test(tc, test_include_nesting_limit);
    tcase_add_test(tc, test_include_glob_chars_in_dir);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_size);
    tcase_add_test(tc, test_msec);
    tcase_add_test(tc, test_int);
    tcase_add_test(tc, test_flag);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr;
    int failed;

    sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

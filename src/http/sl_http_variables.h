/*
 * sl_http_variables.h: variables ($name) and complex values (strings with
 * variables in them), compiled at configuration time, evaluated per
 * request without allocation beyond the request pool.
 */
#ifndef SL_HTTP_VARIABLES_H
#define SL_HTTP_VARIABLES_H

#include "sl_http.h"

/*
 * A variable getter stores the value in *v (pointing into request memory,
 * or into pool memory it allocates from r->pool).  It returns SL_OK, or
 * SL_DECLINED when the variable has no value (logged as "-").
 */
typedef int (*sl_http_var_get_pt)(struct sl_http_request *r,
    struct sl_str *v, uintptr_t data);

struct sl_http_variable {
    struct sl_str            name;       /* without '$'; prefix ends '_' */
    sl_http_var_get_pt       get;
    uintptr_t                data;
    unsigned                 prefix:1;   /* http_, arg_, cookie_, ... */
};

/* A compiled "text $var text" string. */
struct sl_http_cv_part {
    struct sl_str            text;       /* literal, when get == NULL */
    sl_http_var_get_pt       get;
    uintptr_t                data;
};

struct sl_http_complex_value {
    struct sl_http_cv_part  *parts;
    unsigned                 nparts;
    struct sl_str            literal;    /* the whole, if no variables */
    unsigned                 has_vars:1;
};

/*
 * Compiles s; "$name" and "${name}" refer to variables.  An unknown
 * variable is a configuration error (message set on cf).  Returns NULL
 * on error.
 */
struct sl_http_complex_value *sl_http_compile_complex_value(
    struct sl_conf_ctx *cf, const struct sl_str *s);
/*
 * Evaluates cv into *out from r->pool; SL_OK or SL_ERROR (no memory).  A
 * variable without a value contributes the empty string.  Without
 * variables *out is cv->literal itself (no copy).
 */
int sl_http_complex_value(struct sl_http_request *r,
    const struct sl_http_complex_value *cv, struct sl_str *out);
/*
 * Looks up a variable by name (without '$', case-insensitive): SL_OK with
 * *get and *data set, SL_DECLINED when unknown, SL_ERROR when out of
 * memory.  For a prefix variable ($http_NAME ...) *data is the address of
 * a struct sl_str holding the lowercased suffix, allocated from pool (the
 * configuration's pool: it must live as long as the getter is used).
 */
int sl_http_variable_lookup(struct sl_pool *pool, const struct sl_str *name,
    sl_http_var_get_pt *get, uintptr_t *data);
/*
 * Lets another module add variables (e.g. the upstream module); call at
 * configuration time.  The table is process-wide and bounded (128): v is
 * copied but v->name must be static.  Adding an identical entry again (at
 * reload) is SL_OK; a different one with the same name is SL_ERROR.  A
 * prefix variable's getter receives its suffix as described at
 * sl_http_variable_lookup().
 */
int sl_http_variable_add(const struct sl_http_variable *v);

#endif /* SL_HTTP_VARIABLES_H */

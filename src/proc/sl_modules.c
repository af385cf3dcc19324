/*
 * sl_modules.c: the modules compiled in, in the order their directive
 * tables are searched and their configurations created.
 */
#include "sl_core.h"
#include "sl_conf.h"

extern struct sl_module sl_core_module;
extern struct sl_module sl_http_core_module;
extern struct sl_module sl_http_log_module;
extern struct sl_module sl_http_ssl_module;
extern struct sl_module sl_upstream_module;
extern struct sl_module sl_http_proxy_module;
extern struct sl_module sl_http_proxy_ssl_module;
extern struct sl_module sl_cache_zone_module;
extern struct sl_module sl_http_cache_module;
extern struct sl_module sl_health_module;
extern struct sl_module sl_http_stats_module;
extern struct sl_module sl_limit_module;
extern struct sl_module sl_access_module;
extern struct sl_module sl_auth_basic_module;

struct sl_module *sl_modules[] = {
    &sl_core_module,
    &sl_http_core_module,
    &sl_http_log_module,
    &sl_http_ssl_module,
    &sl_upstream_module,
    &sl_http_proxy_module,
    &sl_http_proxy_ssl_module,
    &sl_cache_zone_module,
    &sl_http_cache_module,
    &sl_health_module,
    &sl_http_stats_module,
    /* Access handlers run in this order: limits, filters, auth. */
    &sl_limit_module,
    &sl_access_module,
    &sl_auth_basic_module,
    NULL
};

unsigned sl_nmodules = sl_nelems(sl_modules) - 1;

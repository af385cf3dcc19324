/*
 * sl_cache.c: the HTTP cache module (cache_zone, proxy_cache*).
 * (being written)
 */
#include "sl_core.h"
#include "sl_cache.h"

struct sl_module sl_http_cache_module = {
    .name = "http_cache",
};

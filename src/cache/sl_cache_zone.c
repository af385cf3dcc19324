/*
 * sl_cache_zone.c: cache_zone and the stores behind it (sl_cache.h).
 * (being written)
 */
#include "sl_core.h"
#include "sl_cache.h"

struct sl_module sl_cache_zone_module = {
    .name = "cache_zone",
};

/*
 * sl_cache_policy.c: RFC 9111 rules for a shared cache (sl_cache_policy.h).
 * (being written)
 */
#include "sl_core.h"
#include "sl_http_parse.h"
#include "sl_cache_policy.h"

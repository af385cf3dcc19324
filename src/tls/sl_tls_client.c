/*
 * sl_tls_client.c: TLS towards upstream servers (sl_tls_client.h).
 * (being written)
 */
#include "sl_core.h"
#include "sl_tls_client.h"

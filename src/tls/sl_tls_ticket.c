/*
 * sl_tls_ticket.c: session ticket keys in shared memory.
 *
 * OpenSSL's own ticket keys are random per SSL_CTX, hence per process: a
 * ticket issued by one worker would not resume on another, nor after a
 * reload.  Here the keys live in one shared-memory zone that every worker
 * reads through the ticket key callback, and that survives reload with
 * the other zones.
 *
 * The zone holds a small ring of keys, newest first.  The newest one
 * encrypts new tickets; it is replaced ("rotated") by the first process
 * that wants to encrypt once it is older than the rotation period (the
 * largest ssl_session_timeout of the configuration).  Rotation happens
 * under the zone's robust process-shared mutex, so it is done once however
 * many workers see the key expire at the same time.  An older key still
 * decrypts for one ticket lifetime after it stopped encrypting, since the
 * last ticket it sealed may live that long; such a ticket is accepted and
 * renewed under the current key.  Keys come from RAND_bytes().
 *
 * The lock is held only to read or rotate the ring (about a hundred
 * bytes); it is taken once per full handshake and once per resumption.
 */
#include "sl_core.h"
#include "sl_shm.h"
#include "sl_tls.h"

#include <pthread.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define SL_TLS_TICKET_NKEYS      3
#define SL_TLS_TICKET_ZONE       "sluice:ssl_session_tickets"

struct sl_tls_ticket_key {
    unsigned char            name[16];
    unsigned char            aes[32];
    unsigned char            hmac[32];
    int64_t                  created;   /* wall clock, ms; 0: empty slot */
};

/* The zone's root object: shared by every process. */
struct sl_tls_ticket_sh {
    unsigned                 magic;
#define SL_TLS_TICKET_SH_MAGIC  0x544b5431U
    pthread_mutex_t          mutex;     /* robust, process-shared */
    uint64_t                 rotations;
    struct sl_tls_ticket_key keys[SL_TLS_TICKET_NKEYS];    /* newest first */
};

/* Per configuration (the shm zone's ctx). */
struct sl_tls_tickets {
    unsigned                 magic;
#define SL_TLS_TICKETS_MAGIC    0x544b5443U
    struct sl_shm_zone      *shm;
    sl_msec_t                period;    /* rotation and ticket lifetime */
};

static char sl_tls_ticket_tag;
/* Where each SSL_CTX keeps its struct sl_tls_tickets. */
static int sl_tls_ticket_ex_index = -1;

static int64_t
sl_tls_ticket_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
sl_tls_ticket_new_key(struct sl_tls_ticket_key *k, int64_t now)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1
        || RAND_bytes(k->aes, sizeof(k->aes)) != 1
        || RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
    {
        return SL_ERROR;
    }
    k->created = now;
    return SL_OK;
}

/* Shifts the ring and puts a fresh key in front.  Lock held. */
static int
sl_tls_ticket_rotate(struct sl_tls_ticket_sh *sh, int64_t now)
{
    struct sl_tls_ticket_key k;

    if (sl_tls_ticket_new_key(&k, now) != SL_OK)
        return SL_ERROR;
    memmove(&sh->keys[1], &sh->keys[0],
            (SL_TLS_TICKET_NKEYS - 1) * sizeof(sh->keys[0]));
    sh->keys[0] = k;
    sh->rotations++;
    return SL_OK;
}

static int
sl_tls_ticket_lock(struct sl_tls_ticket_sh *sh)
{
    int rc = pthread_mutex_lock(&sh->mutex);

    if (rc == 0)
        return SL_OK;
    if (rc == EOWNERDEAD) {
        /* The ring is rewritten with whole-key copies: still usable. */
        sl_log_error(SL_LOG_WARN, 0, "a process died holding the lock of "
                     "the session ticket keys");
        pthread_mutex_consistent(&sh->mutex);
        return SL_OK;
    }
    sl_log_error(SL_LOG_ALERT, rc, "pthread_mutex_lock() failed for the "
                 "session ticket keys");
    return SL_ERROR;
}

static int
sl_tls_ticket_zone_init(struct sl_shm_zone *zone, void *old_data)
{
    struct sl_tls_ticket_sh *sh = old_data;
    pthread_mutexattr_t attr;
    int rc;

    if (sh != NULL && sh->magic == SL_TLS_TICKET_SH_MAGIC) {
        zone->data = sh;        /* tickets issued before reload resume */
        return SL_OK;
    }
    sh = (struct sl_tls_ticket_sh *)
         ((char *) zone->addr + sl_align(sizeof(struct sl_shm_header), 64));
    memset(sh, 0, sizeof(*sh));
    if (sl_tls_ticket_new_key(&sh->keys[0], sl_tls_ticket_now()) != SL_OK) {
        sl_log_error(SL_LOG_EMERG, 0, "RAND_bytes() failed for the session "
                     "ticket keys");
        return SL_ERROR;
    }
    if ((rc = pthread_mutexattr_init(&attr)) != 0
        || (rc = pthread_mutexattr_setpshared(&attr,
                                              PTHREAD_PROCESS_SHARED)) != 0
        || (rc = pthread_mutexattr_setrobust(&attr,
                                             PTHREAD_MUTEX_ROBUST)) != 0
        || (rc = pthread_mutex_init(&sh->mutex, &attr)) != 0)
    {
        sl_log_error(SL_LOG_EMERG, rc, "pthread_mutex_init() failed for the "
                     "session ticket keys");
        return SL_ERROR;
    }
    pthread_mutexattr_destroy(&attr);
    sh->magic = SL_TLS_TICKET_SH_MAGIC;
    zone->data = sh;
    return SL_OK;
}

struct sl_tls_tickets *
sl_tls_tickets_conf(struct sl_conf_ctx *cf, sl_msec_t period)
{
    static const struct sl_str name = sl_string(SL_TLS_TICKET_ZONE);
    struct sl_tls_tickets *tk;
    struct sl_shm_zone *shm;

    shm = sl_shm_zone_add(cf, &name, 4096, &sl_tls_ticket_tag);
    if (shm == NULL)
        return NULL;
    tk = shm->ctx;
    if (tk == NULL) {
        tk = sl_pcalloc(cf->pool, sizeof(*tk));
        if (tk == NULL)
            return NULL;
        tk->magic = SL_TLS_TICKETS_MAGIC;
        tk->shm = shm;
        shm->ctx = tk;
        shm->init = sl_tls_ticket_zone_init;
    }
    if (period > tk->period)
        tk->period = period;
    return tk;
}

/*
 * The callback of SSL_CTX_set_tlsext_ticket_key_evp_cb().  enc: pick the
 * current key (rotating it first if it is due), fill name and iv, set up
 * the cipher and the MAC; returns 1, or -1 on failure (no ticket).
 * Decryption: find the key by name; 0 if unknown or expired (a full
 * handshake follows), 1 if it is the current key, 2 to have the ticket
 * renewed under the current key.
 */
static int
sl_tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    struct sl_tls_tickets *tk;
    struct sl_tls_ticket_sh *sh;
    struct sl_tls_ticket_key k;
    OSSL_PARAM params[3];
    int64_t now;
    int i, found = -1;

    tk = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sl_tls_ticket_ex_index);
    if (tk == NULL || tk->shm->data == NULL)
        return enc ? -1 : 0;
    SL_CHECK_OBJ(tk, SL_TLS_TICKETS_MAGIC);
    sh = tk->shm->data;
    SL_CHECK_OBJ(sh, SL_TLS_TICKET_SH_MAGIC);
    now = sl_tls_ticket_now();

    if (sl_tls_ticket_lock(sh) != SL_OK)
        return enc ? -1 : 0;
    if (enc) {
        if (now - sh->keys[0].created >= (int64_t) tk->period
            && sl_tls_ticket_rotate(sh, now) != SL_OK)
        {
            sl_log_error(SL_LOG_ERR, 0, "RAND_bytes() failed: session "
                         "ticket key not rotated");
        }
        k = sh->keys[0];
        found = 0;
    } else {
        for (i = 0; i < SL_TLS_TICKET_NKEYS; i++) {
            if (sh->keys[i].created == 0
                || memcmp(sh->keys[i].name, name, 16) != 0)
            {
                continue;
            }
            /* Key i stopped sealing when key i-1 was made. */
            if (i > 0 && now - sh->keys[i - 1].created
                         >= (int64_t) tk->period)
            {
                break;
            }
            k = sh->keys[i];
            found = i;
            break;
        }
    }
    pthread_mutex_unlock(&sh->mutex);
    if (found < 0)
        return 0;

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac,
                                                  sizeof(k.hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (enc) {
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, 16) != 1
            || EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv)
               != 1
            || EVP_MAC_CTX_set_params(hctx, params) != 1)
        {
            OPENSSL_cleanse(&k, sizeof(k));
            return -1;
        }
        OPENSSL_cleanse(&k, sizeof(k));
        return 1;
    }
    if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1
        || EVP_MAC_CTX_set_params(hctx, params) != 1)
    {
        OPENSSL_cleanse(&k, sizeof(k));
        return -1;
    }
    OPENSSL_cleanse(&k, sizeof(k));
    return found == 0 ? 1 : 2;
}

int
sl_tls_tickets_enable(SSL_CTX *ctx, struct sl_tls_tickets *tk)
{
    if (sl_tls_ticket_ex_index == -1) {
        sl_tls_ticket_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL,
                                                          NULL, NULL);
        if (sl_tls_ticket_ex_index == -1)
            return SL_ERROR;
    }
    if (SSL_CTX_set_ex_data(ctx, sl_tls_ticket_ex_index, tk) != 1)
        return SL_ERROR;
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, sl_tls_ticket_cb) != 1)
        return SL_ERROR;
    return SL_OK;
}

/*
 * keyring: every bearer key the daemon accepts, in one table: the config file's
 * keys: list, the keys kept with the ledger (POST /v1/keys, `tollgate keys
 * create`) and TOLLGATE_ADMIN_KEY. A request's secret is hashed (unless the ring's
 * small cache of secrets recently found has it) and found by its SHA-256 in an open-addressing
 * table, then compared whole with CRYPTO_memcmp: the time taken depends on the hash of the guess,
 * never on how much of a stored hash it matches, and a daemon with many agent keys still
 * authenticates in constant time. Rebuilt whenever a key changes (a reload, a
 * key created, revoked or rotated), so a change holds from the next request on,
 * on every connection.
 */
#ifndef TG_SERVER_KEYRING_H
#define TG_SERVER_KEYRING_H

#include "server/daemon.h"

typedef struct tg__keyring tg__keyring;

/* The config's keys, then TOLLGATE_ADMIN_KEY (`admin_secret`, may be NULL), then the
 * ledger's; a hash already taken keeps its first entry. NULL when out of memory. */
tg__keyring *tg__keyring_build(const tg__config *config, const char *admin_secret,
                               tg_engine *engine);
void tg__keyring_free(tg__keyring *ring);

/* The key with this hash, or NULL. Valid until the ring is rebuilt. */
const tg__key *tg__keyring_find_hash(const tg__keyring *ring,
                                     const unsigned char sha256[TG__SHA256_SIZE]);

/* The key of a bearer secret, or NULL. Hashes the secret with SHA-256 only when it is
 * not in the ring's small cache of secrets recently found (compared with CRYPTO_memcmp,
 * whole, whether a slot is taken or not). The cache holds secrets in memory only, is
 * emptied with the ring (every key change builds a new one) and cleansed when freed. */
const tg__key *tg__keyring_find_secret(tg__keyring *ring, const char *secret);

/* Keys in the ring, and the i-th (0 <= i < count), for listing. */
int tg__keyring_count(const tg__keyring *ring);
const tg__key *tg__keyring_at(const tg__keyring *ring, int i);

#endif

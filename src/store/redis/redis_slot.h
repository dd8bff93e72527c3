/*
 * redis_slot: the hash slot of a key as Redis Cluster defines it (the cluster
 * specification, "Key distribution model"): CRC16-CCITT (XMODEM: polynomial
 * 0x1021, initial 0) of the key, or of its hash tag, modulo 16384. The hash tag
 * is what lies between the first '{' and the first '}' after it, when that is
 * not empty; so every "tg:{ROOT}:..." key of one budget tree is in one slot.
 * Pure: no I/O, no hiredis.
 */
#ifndef TG_STORE_REDIS_SLOT_H
#define TG_STORE_REDIS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define TG__REDIS_SLOTS 16384 /* hash slots of a Redis Cluster */

/* CRC16-CCITT (XMODEM) of len bytes: crc16("123456789") is 0x31C3. */
uint16_t tg__redis_crc16(const char *bytes, size_t len);

/* The slot of a key of len bytes, 0..TG__REDIS_SLOTS - 1, as CLUSTER KEYSLOT answers. */
int tg__redis_key_slot(const char *key, size_t len);

#endif

/*
 * redis_slot: a key's hash slot (redis_slot.h). A table-free bitwise CRC: one slot
 * is computed per call routed, over a key of a few dozen bytes, which costs less
 * than the call's own formatting; a 512-byte table would buy nothing measurable.
 */
#include "store/redis/redis_slot.h"

uint16_t tg__redis_crc16(const char *bytes, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)bytes[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

int tg__redis_key_slot(const char *key, size_t len) {
    size_t open = 0;
    while (open < len && key[open] != '{') {
        open++;
    }
    if (open < len) {
        size_t close = open + 1;
        while (close < len && key[close] != '}') {
            close++;
        }
        /* "{}" or no '}' after the '{': the whole key is hashed, as Redis does. */
        if (close < len && close > open + 1) {
            key += open + 1;
            len = close - open - 1;
        }
    }
    return tg__redis_crc16(key, len) & (TG__REDIS_SLOTS - 1);
}

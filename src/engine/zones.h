/*
 * zones: the engine's cache of time zones, read from TZif files on first use.
 * This is the I/O half of time zones; core/tz.c is the pure half.
 */
#ifndef TG_ENGINE_ZONES_H
#define TG_ENGINE_ZONES_H

#include "core/tz.h"
#include "tollgate.h"

#define TG_ZONES_MAX 512 /* distinct zones one engine may load */

typedef struct tg__zones tg__zones;

/* From malloc; free with tg__zones_free. `dir` is copied (NULL: /usr/share/zoneinfo). */
tg__zones *tg__zones_new(const char *dir);
void tg__zones_free(tg__zones *zones);

/*
 * The zone named `name` ("" and "UTC" need no file). The pointer stays valid
 * until tg__zones_free. TG_ERR_TZ with a sentence for an unknown or malformed
 * zone, or a name that is not a plain IANA name.
 */
tg_status tg__zones_get(tg__zones *zones, const char *name, const tg__tz **out, tg_error *err);

#endif

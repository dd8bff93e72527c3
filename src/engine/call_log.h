/*
 * call_log: the engine's door to the spend log (docs/proxy.md, "Spend log"). A front
 * end that settled a proxied call hands its row here; it is written with the current
 * batch (the daemon's next group commit), beside the call's charge. Engine thread only.
 */
#ifndef TG_ENGINE_CALL_LOG_H
#define TG_ENGINE_CALL_LOG_H

#include "core/journal.h"
#include "tollgate.h"

/* Journals `row` (copied). TG_ERR_IO once the engine failed; otherwise TG_OK (a memory
 * store keeps no log: the row is dropped). Outside a batch, strict mode writes it now. */
tg_status tg__engine_call_log(tg_engine *engine, const tg__call_row *row, int64_t now_ms,
                              tg_error *err);

#endif

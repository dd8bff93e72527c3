/*
 * reload: the config file read again into the running daemon, all or nothing
 * (SIGHUP and POST /v1/admin/reload; reload.c).
 */
#ifndef TG_SERVER_RELOAD_H
#define TG_SERVER_RELOAD_H

#include "server/daemon.h"

/*
 * Reads daemon->config_file, checks all of it (the daemon's sections, notify,
 * proxy, the budgets against the live ledger), then applies it. On failure nothing
 * changed and err says why (TG_ERR_INVALID: the file; others: the store or memory).
 * *summary (may be NULL) says what changed. Loop thread only.
 */
tg_status tg__daemon_reload(tg__daemon *daemon, tg__apply_summary *summary, tg_error *err);

#endif

/*
 * calls: the spend log's rows (tg__call_row, journal.h). A proxied call's details
 * (request id, tokens by kind, key, user, tags, latency, outcome) ride in the same
 * batch as its charge, so the log is as durable as the ledger and needs no writer of
 * its own. The ledger never reads them back: they inform people, not decisions.
 */
#include "core/ledger_internal.h"

void tg__ledger_call_log(tg__ledger *ledger, const tg__call_row *row) {
    tg__call_row *copy = TG_JOURNAL_PUSH(ledger, calls);
    if (copy != NULL) {
        *copy = *row;
    }
}

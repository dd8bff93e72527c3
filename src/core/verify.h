/*
 * verify: the check that stays on in release builds. A broken ledger (or a map
 * overfilled, which would probe forever) must stop the process, not spend: it says
 * where on stderr and aborts. One home for the core's files (ledger_internal.h, map.c).
 */
#ifndef TG_CORE_VERIFY_H
#define TG_CORE_VERIFY_H

#include <stdio.h>
#include <stdlib.h>

#define TG_VERIFY(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "tollgate: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,       \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif

/*
 * attribution: which budget a proxied call is charged to, inside the agent key's
 * scope, and the user and tags it is logged with (docs/proxy.md, "Attribution").
 *
 * A key's scope is the most it may reach. A call may narrow it: the header
 * `x-tollgate-budget: acme/support/customer-42` names a budget at or under the
 * scope, and, when the config turns on `proxy.user_budgets`, the request's own
 * `user` (OpenAI) or `metadata.user_id` (Anthropic) names a child of the scope. A
 * missing direct child of a budget with a template is made on first use by the
 * reserve itself (src/core/templates.c). Nothing here can reach outside the scope:
 * the selected path must be a valid budget path (no "." or ".." segment, no empty
 * segment, no '%' escapes, within the length and depth limits) whose leading
 * segments are the scope's. Pure functions of their arguments: no I/O, no state.
 */
#ifndef TG_PROXY_ATTRIBUTION_H
#define TG_PROXY_ATTRIBUTION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "proxy/wire.h"
#include "tollgate.h"

#define TG__TAGS_MAX 16        /* tags on one call */
#define TG__TAG_SIZE_MAX 64    /* bytes of one tag, NUL included */
#define TG__TAGS_SIZE_MAX 1024 /* bytes of the joined tags "a,b", NUL included */
#define TG__USER_SIZE_MAX 128  /* bytes of a request's user, NUL included */
_Static_assert(TG__TAGS_MAX *TG__TAG_SIZE_MAX <= TG__TAGS_SIZE_MAX, "joined tags fit");

/*
 * The budget a call is charged to, into out (TG_PATH_SIZE_MAX bytes):
 * - `selected` (the x-tollgate-budget header, NULL when absent) when it is the scope
 *   or a path under it;
 * - else, when user_budgets and `user` is not empty, scope/user;
 * - else the scope.
 * Errors, out untouched: TG_ERR_INVALID for a malformed path or a user that is not a
 * budget path segment ([A-Za-z0-9._-], 1..63 bytes, not "." or ".."); TG_ERR_STATE
 * for a path outside the scope. err says which and why.
 */
tg_status tg__attribution_budget(const char *scope, const char *selected, const char *user,
                                 bool user_budgets, char *out, tg_error *err);

/*
 * The x-tollgate-tags header ("a, b,c") checked and normalized into out (size bytes):
 * tags joined by ',' without spaces, in the order given, duplicates kept once. A tag is
 * 1..TG__TAG_SIZE_MAX-1 bytes of [A-Za-z0-9._:/-]; at most TG__TAGS_MAX of them. NULL
 * or an empty header: "" (no tags). TG_ERR_INVALID with a sentence otherwise (out
 * untouched). *count_out (may be NULL) says how many tags.
 */
tg_status tg__attribution_tags(const char *header, char *out, size_t size, int *count_out,
                               tg_error *err);

/*
 * The user a request names, into out (TG__USER_SIZE_MAX bytes): OpenAI's top-level
 * "user", Anthropic's "metadata.user_id"; "" when there is none or it is not a string
 * (the provider answers that itself). A longer one is cut to TG__USER_SIZE_MAX-1 bytes
 * at a character boundary (as a budget name it is then refused by tg__attribution_budget,
 * whose segments are shorter). Always TG_OK; err is for later checks.
 */
tg_status tg__attribution_user(tg__route route, const json_t *body, char *out, tg_error *err);

#endif

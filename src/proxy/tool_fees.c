/*
 * tool_fees: built-in tool fees from a Responses answer's output items (tool_fees.h).
 * The prices are the hold's (bound.h): the fee the hold reserved per use is the fee
 * charged per use.
 */
#include <string.h>

#include "proxy/bound.h"
#include "proxy/numbers.h"
#include "proxy/tool_fees.h"

void tg__tool_uses_add_item(tg__tool_uses *uses, const json_t *item) {
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type == NULL) {
        return;
    }
    if (strcmp(type, "web_search_call") == 0) {
        uses->web_searches = tg__sat_add(uses->web_searches, 1);
    } else if (strcmp(type, "file_search_call") == 0) {
        uses->file_searches = tg__sat_add(uses->file_searches, 1);
    } else if (strcmp(type, "code_interpreter_call") == 0) {
        uses->code_interpreters = tg__sat_add(uses->code_interpreters, 1);
    }
}

void tg__tool_uses_add_response(tg__tool_uses *uses, const json_t *response) {
    const json_t *output = json_object_get(response, "output");
    if (output == NULL) {
        output = json_object_get(json_object_get(response, "response"), "output");
    }
    size_t index;
    const json_t *item;
    json_array_foreach((json_t *)output, index, item) {
        tg__tool_uses_add_item(uses, item);
    }
}

int64_t tg__tool_uses_fee_micros(const tg__tool_uses *uses) {
    int64_t fee = tg__sat_add(tg__sat_mul(uses->web_searches, TG__BOUND_WEB_SEARCH_OPENAI),
                              tg__sat_mul(uses->file_searches, TG__BOUND_FILE_SEARCH_OPENAI));
    if (uses->code_interpreters > 0) {
        fee = tg__sat_add(fee, TG__BOUND_CODE_INTERPRETER_OPENAI); /* one container per call */
    }
    return tg__min64(fee, TG_AMOUNT_MAX);
}

int64_t tg__chat_search_fee_micros(const json_t *request_body) {
    const json_t *search = json_object_get(request_body, "web_search_options");
    return search != NULL && !json_is_null(search) ? TG__BOUND_WEB_SEARCH_CHAT : 0;
}

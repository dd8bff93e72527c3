/*
 * jsonrpc: framing keeps at most one partial line (line_max bytes), and hands
 * lines that arrive whole in one read straight to the callback without a copy:
 * the common case on a pipe, and what keeps the relay's added latency low.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"

void tg__rpc_framer_init(tg__rpc_framer *framer, size_t line_max) {
    memset(framer, 0, sizeof *framer);
    framer->line_max = line_max < TG__RPC_LINE_SIZE_MIN ? TG__RPC_LINE_SIZE_MIN : line_max;
}

void tg__rpc_framer_free(tg__rpc_framer *framer) {
    free(framer->data);
    framer->data = NULL;
    framer->size = 0;
    framer->capacity = 0;
}

/* Keeps `size` more bytes of a partial line; the caller checked line_max. */
static tg_status keep(tg__rpc_framer *framer, const char *bytes, size_t size) {
    if (framer->size + size > framer->capacity) {
        size_t capacity = framer->capacity ? framer->capacity : 4096;
        while (capacity < framer->size + size) {
            capacity *= 2;
        }
        if (capacity > framer->line_max) {
            capacity = framer->line_max;
        }
        char *data = realloc(framer->data, capacity);
        if (data == NULL) {
            return TG_ERR_NOMEM;
        }
        framer->data = data;
        framer->capacity = capacity;
    }
    memcpy(framer->data + framer->size, bytes, size);
    framer->size += size;
    return TG_OK;
}

tg_status tg__rpc_framer_push(tg__rpc_framer *framer, const char *bytes, size_t size,
                              tg__rpc_line_fn fn, void *user) {
    size_t pos = 0;
    while (pos < size) {
        const char *newline = memchr(bytes + pos, '\n', size - pos);
        size_t chunk = newline != NULL ? (size_t)(newline - (bytes + pos)) : size - pos;
        size_t next = newline != NULL ? pos + chunk + 1 : size;
        if (framer->discarding) {
            framer->discarding = newline == NULL;
        } else if (chunk > framer->line_max - framer->size) {
            framer->size = 0;
            framer->discarding = newline == NULL;
            fn(user, NULL, 0, true);
        } else if (newline != NULL && framer->size == 0) {
            fn(user, bytes + pos, chunk, false);
        } else if (keep(framer, bytes + pos, chunk) != TG_OK) {
            framer->size = 0;
            framer->discarding = newline == NULL;
            return TG_ERR_NOMEM;
        } else if (newline != NULL) {
            size_t line_size = framer->size;
            framer->size = 0; /* before the callback, which may not push here again anyway */
            fn(user, framer->data, line_size, false);
        }
        pos = next;
    }
    return TG_OK;
}

bool tg__rpc_id_text(const json_t *id, char out[TG__RPC_ID_TEXT_SIZE]) {
    char text[TG__RPC_ID_TEXT_SIZE];
    size_t size = json_dumpb(id, text, sizeof text, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size == 0 || size >= sizeof text) {
        return false;
    }
    memcpy(out, text, size);
    out[size] = '\0';
    return true;
}

static bool valid_request_id(const json_t *id) {
    return json_is_string(id) || json_is_integer(id);
}

static void classify(tg__rpc_message *out) {
    json_t *root = out->root;
    if (json_is_array(root)) {
        out->kind = TG__RPC_BATCH;
        return;
    }
    json_t *method = json_object_get(root, "method");
    out->id = json_object_get(root, "id");
    out->params = json_object_get(root, "params");
    if (out->id != NULL && !tg__rpc_id_text(out->id, out->id_text)) {
        out->id_too_long = true;
        out->id_text[0] = '\0';
    }
    if (method != NULL) {
        /* A NUL inside the method would make the gateway and the server read different names. */
        if (!json_is_string(method) ||
            strlen(json_string_value(method)) != json_string_length(method)) {
            return;
        }
        out->method = json_string_value(method);
        if (out->id == NULL) {
            out->kind = TG__RPC_NOTIFICATION;
        } else if (valid_request_id(out->id)) {
            out->kind = TG__RPC_REQUEST;
        }
        return;
    }
    out->result = json_object_get(root, "result");
    out->error = json_object_get(root, "error");
    bool id_ok = out->id != NULL && (valid_request_id(out->id) || json_is_null(out->id));
    if (id_ok && (out->result != NULL) != (out->error != NULL)) {
        out->kind = TG__RPC_RESPONSE;
    }
}

void tg__rpc_parse(const char *line, size_t size, tg__rpc_message *out) {
    memset(out, 0, sizeof *out);
    out->kind = TG__RPC_INVALID;
    json_error_t error;
    out->root = json_loadb(line, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (out->root != NULL) {
        classify(out);
    }
}

void tg__rpc_message_clear(tg__rpc_message *message) {
    json_decref(message->root);
    memset(message, 0, sizeof *message);
}

char *tg__rpc_dump(const json_t *message, size_t *size_out) {
    char *text = json_dumps(message, JSON_COMPACT);
    if (text != NULL) {
        *size_out = strlen(text);
    }
    return text;
}

json_t *tg__rpc_tool_error(const json_t *id, const char *text, json_t *meta) {
    json_t *result =
        json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1);
    if (result != NULL && meta != NULL) {
        json_object_set_new(result, "_meta", meta);
    } else {
        json_decref(meta);
    }
    if (result == NULL) {
        return NULL;
    }
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

json_t *tg__rpc_error(const json_t *id, int code, const char *message) {
    json_t *id_value = id != NULL ? json_incref((json_t *)id) : json_null();
    return json_pack("{s:s,s:o,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id_value, "error", "code",
                     code, "message", message);
}

json_t *tg__rpc_notification(const char *method, json_t *params) {
    json_t *message = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    if (message != NULL && params != NULL) {
        json_object_set_new(message, "params", params);
    } else {
        json_decref(params);
    }
    return message;
}

/*
 * stream_end: the clean ending of a stream Tollgate cuts short (a hold used up,
 * a class revoked). It reads as the provider's own stop at an output limit, so
 * an SDK's stream helper returns a complete message instead of throwing, and an
 * agent sees "stopped: length" rather than a broken connection.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/provider.h"
#include "proxy/stream.h"
#include "proxy/usage.h"

tg_status tg__stream_put_event(tg__buf *out, const char *name, json_t *data) {
    if (data == NULL) {
        return TG_ERR_NOMEM;
    }
    char *text = json_dumps(data, JSON_COMPACT); /* one line: newlines in strings are escaped */
    json_decref(data);
    if (text == NULL) {
        return TG_ERR_NOMEM;
    }
    tg_status status = name ? tg__buf_printf(out, "event: %s\ndata: %s\n\n", name, text)
                            : tg__buf_printf(out, "data: %s\n\n", text);
    free(text);
    return status;
}

tg_status tg__stream_write_end(tg__stream *stream, const tg__usage *usage, int64_t now_ms,
                               tg__buf *out) {
    if (stream->finished) {
        return TG_OK;
    }
    const tg__provider *provider = tg__route_provider(stream->route);
    tg_status status =
        provider != NULL ? provider->stream_end(stream, usage, now_ms, out) : TG_ERR_INVALID;
    if (status == TG_OK) {
        stream->finished = true;
    }
    return status;
}

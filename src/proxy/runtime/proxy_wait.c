/*
 * proxy_wait: an LLM call refused now that could fit within a short wait (proxy.wait_ms,
 * or its upstream's wait_ms) waits in the daemon instead of failing (issue 18). Its worst
 * case is queued as a waiting hold (include/tollgate.h, "Waiting holds"); the engine
 * decides it in the call that makes room, and the daemon's flush hands the decision here
 * (tg__proxy_wait_decided): granted, the call goes upstream as if it had fitted at once;
 * refused at the deadline, the client gets the provider-shaped refusal it would have had.
 *
 * Nothing is held for a client that left: evhttp does not read a connection whose
 * request waits for its reply, so the proxy's sweep peeks at the socket (as http.c does
 * for long polls) and cancels the waiter of a client that is gone. A grant decided in
 * the same turn as the client left is released at once.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "proxy/runtime/proxy_internal.h"
#include "server/peer.h"

int64_t tg__proxy_wait_ms(const tg__proxy *proxy, const tg__upstream *upstream) {
    if (upstream != NULL && upstream->wait_set) {
        return upstream->wait_ms;
    }
    return proxy->config.wait_ms;
}

bool tg__proxy_wait_park(proxy_call *call, const char *secret) {
    call->wait_secret = strdup(secret != NULL ? secret : "");
    if (call->wait_secret == NULL) {
        return false; /* tg__proxy_call_free cancels the waiter */
    }
    tg__proxy_call_link(call); /* found by its wait_id, and by the sweep */
    return true;
}

/* The client of a waiting call has closed its connection (server/peer.h: a peek that consumes
 * nothing; bytes waiting, a pipelined request, mean it is still there). */
static bool client_left(proxy_call *call) {
    if (tg__proxy_client_gone(call)) {
        return true;
    }
    evutil_socket_t fd = tg__peer_fd(call->request);
    return fd >= 0 && tg__peer_left(fd);
}

/* Ends a waiting call whose client left: answered (to a closed socket, so that evhttp
 * frees the request) and logged; its waiter is cancelled by tg__proxy_call_free. */
static void end_left(proxy_call *call) {
    call->client_gone = true;
    call->outcome = "client_gone";
    tg__proxy_send_error(call, 409, "client_gone", "Tollgate: the client left; nothing was held");
    tg__proxy_call_done(call, CURLE_OK);
}

bool tg__proxy_wait_sweep(proxy_call *call) {
    if (call->wait_id == 0 || !client_left(call)) {
        return false;
    }
    call->proxy->daemon->metrics.waits_abandoned++;
    end_left(call);
    return true;
}

static proxy_call *find(tg__proxy *proxy, uint64_t wait_id) {
    for (proxy_call *call = proxy->calls; call != NULL; call = call->next) {
        if (call->wait_id == wait_id) {
            return call;
        }
    }
    return NULL;
}

bool tg__proxy_wait_decided(tg__proxy *proxy, const tg_wait_result *decided) {
    proxy_call *call = proxy != NULL ? find(proxy, decided->wait_id) : NULL;
    if (call == NULL) {
        return false;
    }
    call->wait_id = 0; /* decided: nothing to cancel any more */
    tg__metrics *metrics = &proxy->daemon->metrics;
    const tg_reserve_result *result = &decided->result;
    if (decided->status == TG_OK && result->granted) {
        tg__proxy_call_granted(call, result, call->wait_asked_micros);
        if (client_left(call)) {
            metrics->waits_abandoned++;
            end_left(call); /* settles: the grant is released, nothing held */
            return true;
        }
        metrics->waits_granted++;
        if (!tg__proxy_start_transfer(call, call->wait_secret)) {
            tg__proxy_send_error(call, 503, "internal_error", "cannot start the upstream call");
            tg__proxy_call_done(call, CURLE_OK);
        }
        return true;
    }
    if (decided->status == TG_OK) {
        metrics->waits_refused++;
        tg__proxy_send_refusal(call, &result->refusal, call->wait_asked_micros);
    } else {
        metrics->errors++;
        tg__proxy_send_error(call, 503, "hold_failed", decided->message);
    }
    tg__proxy_call_done(call, CURLE_OK);
    return true;
}

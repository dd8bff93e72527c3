/*
 * The daemon's front end through its route table (ROUTES in src/server/http.c), over a real
 * loopback socket. test_server_api reaches the JSON API's own table without a socket; the
 * rows in front of it (/metrics, the console, the LLM proxy, MCP over HTTP, the event stream)
 * are reached only here and by the node integration tests.
 *
 * The daemon is the one `tollgate serve` runs (src/server/serve.h: the same start-up, from a
 * small YAML text, on a temporary SQLite ledger, bound to 127.0.0.1 port 0); its loop runs on
 * a thread of its own, and this thread is a blocking HTTP/1.1 client. It stops as the daemon
 * does, on SIGTERM, and must exit 0 (everything acknowledged on disk).
 *
 * For every row: a request it takes, with its method, answered by that front end (each
 * answers in a shape of its own, so a request that fell through to a later row is seen); a
 * wrong method, answered as the row's front end says (405); its auth; and one real answer: a
 * counter of /metrics that moves, the console's page byte for byte, the proxy refusing a
 * call that cannot fit without calling the upstream, an MCP initialize relayed to a real
 * stdio server (the SDK fixture of the integration tests) and the session it made, the event
 * stream's first frame and then an event made durable after it opened. An unknown path is
 * the API's 404.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "config/config_file.h"
#include "server/http.h"
#include "server/serve.h"
#include "unit/assertions.h"

#define ADMIN "admin-secret"
#define AGENT "agent-secret"
#define SMALL "small-secret" /* an agent whose budget no LLM call fits */
#define SCRAPER "scraper-secret"

#define RESPONSE_SIZE_MAX (1024 * 1024) /* bytes of one reply read, head included */
#define RECEIVE_TIMEOUT_S 60 /* a reply not arriving by then fails the test (TSan, a busy box) */
#define ROUTES_TESTED 6      /* rows of ROUTES this file drives, one test each */

typedef struct {
    int status;
    char *head; /* the status line and headers, NUL-terminated; from malloc */
    char *body; /* de-chunked, NUL-terminated; from malloc */
    size_t body_size;
} response;

static struct {
    char dir[256];         /* the ledger and the config file */
    tg__served *served;    /* the running daemon; its loop thread's until joined */
    pthread_t loop;        /* runs tg__serve_run */
    int exit_code;         /* tg__serve_run's */
    int port;              /* the daemon's */
    int upstream_fd;       /* a listener posing as the OpenAI upstream: must see no call */
    int upstream_port;     /* its port */
    char source_dir[1024]; /* the repository, for the console's page and the MCP fixture */
} fixture;

/* ---- the daemon ------------------------------------------------------------------------ */

static void sha256_hex(const char *secret, char out[2 * TG__SHA256_SIZE + 1]) {
    unsigned char hash[TG__SHA256_SIZE];
    tg__key_hash(secret, hash);
    for (size_t i = 0; i < TG__SHA256_SIZE; i++) {
        snprintf(out + 2 * i, 3, "%02x", hash[i]);
    }
}

static int listen_loopback(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t length = sizeof address;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    *port = ntohs(address.sin_port);
    return fd;
}

static void write_config(const char *path) {
    char agent[65], small[65], scraper[65];
    sha256_hex(AGENT, agent);
    sha256_hex(SMALL, small);
    sha256_hex(SCRAPER, scraper);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fprintf(file,
            "address: 127.0.0.1\n"
            "port: 0\n"
            "store: {kind: sqlite, path: %s/ledger.db}\n"
            "budgets:\n"
            "  - {path: team, limit: \"100.00\"}\n"
            "  - {path: team/small, limit: \"0.0005\"}\n"
            "keys:\n"
            "  - {name: agent, role: agent, scope: team, sha256: %s}\n"
            "  - {name: small, role: agent, scope: team/small, sha256: %s}\n"
            "  - {name: scraper, role: metrics, sha256: %s}\n"
            "upstreams:\n"
            "  openai: {base_url: \"http://127.0.0.1:%d\", api_key: sk-upstream}\n"
            "proxy:\n"
            "  prices_file: %s/prices.json\n"
            "mcp:\n"
            "  servers:\n"
            "    - name: fixture\n"
            "      budget: team\n"
            "      command: [\"%s\", \"%s/tests/integration/mcp_fixture_server.mjs\"]\n",
            fixture.dir, agent, small, scraper, fixture.upstream_port, getenv("TG_BINARY_DIR"),
            TG_NODE_PATH, fixture.source_dir);
    assert_int_equal(fclose(file), 0);
}

static void *run_loop(void *user) {
    (void)user;
    fixture.exit_code = tg__serve_run(fixture.served);
    return NULL;
}

static int setup(void **state) {
    (void)state;
    const char *source = getenv("TG_SOURCE_DIR");
    assert_non_null(source);
    assert_non_null(getenv("TG_BINARY_DIR"));
    snprintf(fixture.source_dir, sizeof fixture.source_dir, "%s", source);
    snprintf(fixture.dir, sizeof fixture.dir, "/tmp/tg_routes_XXXXXX");
    assert_non_null(mkdtemp(fixture.dir));
    fixture.upstream_fd = listen_loopback(&fixture.upstream_port);
    assert_int_equal(fcntl(fixture.upstream_fd, F_SETFL, O_NONBLOCK), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/tollgate.yaml", fixture.dir);
    write_config(path);
    assert_int_equal(setenv("TOLLGATE_ADMIN_KEY", ADMIN, 1), 0);

    /* As src/cli/main.c's serve command: the file parsed once, the daemon's sections read. */
    tg__config *config = malloc(sizeof *config);
    assert_non_null(config);
    tg__config_defaults(config);
    tg__config_file *file = NULL;
    tg_error err = {0};
    if (tg__config_file_open(path, &file, &err) != TG_OK ||
        tg__config_read(file, config, &err) != TG_OK) {
        print_error("%s\n", err.message);
        fail();
    }
    fixture.served = tg__serve_start(file, config, -1); /* takes both */
    assert_non_null(fixture.served);
    fixture.port = tg__serve_port(fixture.served);
    assert_true(fixture.port > 0);
    assert_int_equal(pthread_create(&fixture.loop, NULL, run_loop, NULL), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    /* As a service manager stops it: SIGTERM, caught by the loop's signal event. */
    assert_int_equal(raise(SIGTERM), 0);
    assert_int_equal(pthread_join(fixture.loop, NULL), 0);
    assert_int_equal(fixture.exit_code, 0);
    close(fixture.upstream_fd);
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", fixture.dir);
    assert_int_equal(system(command), 0);
    return 0;
}

/* ---- a blocking HTTP/1.1 client ------------------------------------------------------ */

static int connect_daemon(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {RECEIVE_TIMEOUT_S, 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(fixture.port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof address), 0);
    return fd;
}

static void send_all(int fd, const char *bytes, size_t size) {
    while (size > 0) {
        ssize_t sent = send(fd, bytes, size, MSG_NOSIGNAL);
        assert_true(sent > 0);
        bytes += sent;
        size -= (size_t)sent;
    }
}

/* Sends one request. `headers`: more header lines, each ending "\r\n" ("" none); `secret`
 * NULL: no Authorization. */
static int send_request(const char *method, const char *target, const char *secret,
                        const char *headers, const char *body) {
    int fd = connect_daemon();
    char auth[128] = "";
    if (secret != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", secret);
    }
    char head[2048];
    int length = snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s"
                          "Content-Length: %zu\r\n\r\n",
                          method, target, fixture.port, auth, headers, body ? strlen(body) : 0);
    assert_true(length > 0 && (size_t)length < sizeof head);
    send_all(fd, head, (size_t)length);
    if (body != NULL) {
        send_all(fd, body, strlen(body));
    }
    return fd;
}

/* Reads until `until` appears in what was read (NULL: until the daemon closes). */
static size_t receive(int fd, char *buffer, size_t size, size_t have, const char *until) {
    while (until == NULL || strstr(buffer, until) == NULL) {
        assert_true(have + 1 < size);
        ssize_t got = recv(fd, buffer + have, size - have - 1, 0);
        if (got == 0 && until == NULL) {
            break;
        }
        if (got <= 0) {
            print_error("no more bytes (%s) waiting for '%s'; got: %s\n",
                        got == 0 ? "closed" : strerror(errno), until ? until : "EOF", buffer);
            fail();
        }
        have += (size_t)got;
        buffer[have] = '\0';
    }
    return have;
}

static const char *header(const response *r, const char *name) {
    static char value[512];
    char wanted[128];
    snprintf(wanted, sizeof wanted, "\r\n%s:", name);
    const char *at = strcasestr(r->head, wanted);
    if (at == NULL) {
        return NULL;
    }
    at += strlen(wanted);
    at += strspn(at, " ");
    size_t length = strcspn(at, "\r");
    snprintf(value, sizeof value, "%.*s", (int)length, at);
    return value;
}

/* The body after a chunked head, its chunks joined. */
static size_t dechunk(char *body, size_t size) {
    size_t out = 0;
    size_t at = 0;
    while (at < size) {
        char *end = NULL;
        unsigned long chunk = strtoul(body + at, &end, 16);
        char *line_end = strstr(body + at, "\r\n");
        assert_non_null(line_end);
        at = (size_t)(line_end - body) + 2;
        if (chunk == 0) {
            break;
        }
        assert_true(at + chunk + 2 <= size);
        memmove(body + out, body + at, chunk);
        out += chunk;
        at += chunk + 2;
    }
    body[out] = '\0';
    return out;
}

/* Splits what was read into head and body. */
static response parse_response(char *bytes, size_t size) {
    response r = {0};
    char *end = strstr(bytes, "\r\n\r\n");
    assert_non_null(end);
    size_t head_size = (size_t)(end - bytes) + 2;
    r.head = strndup(bytes, head_size);
    assert_non_null(r.head);
    assert_int_equal(sscanf(r.head, "HTTP/1.1 %d", &r.status), 1);
    size_t body_size = size - head_size - 2;
    r.body = malloc(body_size + 1);
    assert_non_null(r.body);
    memcpy(r.body, end + 4, body_size);
    r.body[body_size] = '\0';
    const char *encoding = header(&r, "Transfer-Encoding");
    r.body_size = encoding != NULL && strcmp(encoding, "chunked") == 0 ? dechunk(r.body, body_size)
                                                                       : body_size;
    return r;
}

/* One request, its whole reply (the daemon closes: Connection: close). */
static response request(const char *method, const char *target, const char *secret,
                        const char *headers, const char *body) {
    int fd = send_request(method, target, secret, headers, body);
    char *bytes = malloc(RESPONSE_SIZE_MAX);
    assert_non_null(bytes);
    bytes[0] = '\0';
    size_t size = receive(fd, bytes, RESPONSE_SIZE_MAX, 0, NULL);
    close(fd);
    response r = parse_response(bytes, size);
    free(bytes);
    return r;
}

static void response_free(response *r) {
    free(r->head);
    free(r->body);
}

/* The reply's JSON body (the caller decrefs), failing when it is not JSON. */
static json_t *json_body(const response *r) {
    json_error_t error;
    json_t *json = json_loads(r->body, 0, &error);
    if (json == NULL) {
        print_error("not JSON (%s): %s\n", error.text, r->body);
        fail();
    }
    return json;
}

/* The status, and for a JSON error body `{"error":{"code":...}}` its code (NULL: not checked). */
static void expect(const char *method, const char *target, const char *secret, int status,
                   const char *code) {
    response r = request(method, target, secret, "", NULL);
    if (r.status != status) {
        print_error("%s %s -> %d %s, expected %d\n", method, target, r.status, r.body, status);
        fail();
    }
    if (code != NULL) {
        json_t *json = json_body(&r);
        const char *found =
            json_string_value(json_object_get(json_object_get(json, "error"), "code"));
        if (found == NULL || strcmp(found, code) != 0) {
            print_error("%s %s -> %s, expected code %s\n", method, target, r.body, code);
            fail();
        }
        json_decref(json);
    }
    response_free(&r);
}

/* ---- the rows, in ROUTES' order ---------------------------------------------------------- */

static long long metric(const char *text, const char *name) {
    char wanted[128];
    snprintf(wanted, sizeof wanted, "\n%s ", name);
    const char *at = strstr(text, wanted);
    if (at == NULL) {
        print_error("no %s in:\n%s\n", name, text);
        fail();
    }
    return strtoll(at + strlen(wanted), NULL, 10);
}

/* Row 1: /metrics, its key checked by the table before the handler. */
static void test_metrics(void **state) {
    (void)state;
    assert_int_equal((int)tg__http_routes_count(), ROUTES_TESTED);
    expect("GET", "/metrics", NULL, 401, "unauthorized");
    expect("GET", "/metrics", "wrong-secret", 401, "unauthorized");
    expect("GET", "/metrics", AGENT, 403, "forbidden");
    expect("POST", "/metrics", NULL, 401, "unauthorized"); /* the key first, whatever the method */
    expect("POST", "/metrics", SCRAPER, 405, "method_not_allowed");
    expect("DELETE", "/metrics", ADMIN, 405, "method_not_allowed");
    /* The row's path and its query only: neither a longer name nor a path below it. */
    expect("GET", "/metricsx", ADMIN, 404, "no_route");
    expect("GET", "/metrics/x", ADMIN, 404, "no_route");
    /* ... where a metrics key may read nothing: the API's answer, not /metrics'. */
    expect("GET", "/metricsx", SCRAPER, 403, "forbidden");

    response before = request("GET", "/metrics?name=any", SCRAPER, "", NULL);
    assert_int_equal(before.status, 200);
    assert_string_equal(header(&before, "Content-Type"), "text/plain; version=0.0.4");
    long long requests = metric(before.body, "tollgate_requests_total");
    long long errors = metric(before.body, "tollgate_request_errors_total");
    expect("GET", "/healthz", NULL, 200, NULL);
    expect("GET", "/v1/nowhere", ADMIN, 404, "no_route");
    response after = request("GET", "/metrics", ADMIN, "", NULL);
    assert_int_equal(after.status, 200);
    /* The two API requests, counted; the 404 an error too. Other tests run before or after,
     * never during (one client thread), so the counts are exact. */
    assert_int_equal(metric(after.body, "tollgate_requests_total"), requests + 2);
    assert_int_equal(metric(after.body, "tollgate_request_errors_total"), errors + 1);
    assert_int_equal(metric(after.body, "tollgate_budget_limit_micros{budget=\"team/small\"}"),
                     500);
    response_free(&before);
    response_free(&after);
}

static char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    char *bytes = malloc(RESPONSE_SIZE_MAX);
    assert_non_null(bytes);
    *size = fread(bytes, 1, RESPONSE_SIZE_MAX - 1, file);
    bytes[*size] = '\0';
    fclose(file);
    return bytes;
}

/* Row 2: the console's files, no key (the page calls the API with one). */
static void test_console(void **state) {
    (void)state;
    response root = request("GET", "/", NULL, "", NULL);
    assert_int_equal(root.status, 302);
    assert_string_equal(header(&root, "Location"), "/ui/");
    response_free(&root);

    response page = request("GET", "/ui/", NULL, "", NULL);
    assert_int_equal(page.status, 200);
    assert_non_null(strstr(header(&page, "Content-Type"), "text/html"));
    char path[1200];
    snprintf(path, sizeof path, "%s/console/index.html", fixture.source_dir);
    size_t size = 0;
    char *expected = read_file(path, &size);
    assert_int_equal(page.body_size, size); /* the page itself, byte for byte */
    assert_memory_equal(page.body, expected, size);
    free(expected);
    char validator[160];
    snprintf(validator, sizeof validator, "If-None-Match: %s\r\n", header(&page, "ETag"));
    response again = request("GET", "/ui/", NULL, validator, NULL);
    assert_int_equal(again.status, 304);
    assert_int_equal(again.body_size, 0);
    response_free(&again);
    response_free(&page);

    expect("POST", "/ui/", NULL, 405, "method_not_allowed");
    expect("DELETE", "/", ADMIN, 405, "method_not_allowed");
    expect("GET", "/ui/no-such-file.js", NULL, 404, "not_found");
    /* Not the console's: the API's, which wants a key for anything it does not know. */
    expect("GET", "/uix", NULL, 401, "unauthorized");
    expect("GET", "/uix", ADMIN, 404, "no_route");
}

/* Row 3: the LLM proxy, on the routes of its providers' tables. */
static void test_proxy(void **state) {
    (void)state;
    static const char call[] = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":4000,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    const char *json = "Content-Type: application/json\r\n";
    response anonymous = request("POST", "/v1/chat/completions", NULL, json, call);
    assert_int_equal(anonymous.status, 401);
    json_t *body = json_body(&anonymous);
    /* OpenAI's error shape, so the SDK raises it: the proxy answered, not the API. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                        "invalid_api_key");
    json_decref(body);
    response_free(&anonymous);
    expect("POST", "/v1/chat/completions", SCRAPER, 401, NULL);

    /* Its worst case (4000 output tokens) cannot fit team/small's $0.0005: refused before
     * anything goes upstream, and nothing stays held. */
    response refused = request("POST", "/v1/chat/completions", SMALL, json, call);
    assert_int_equal(refused.status, 429);
    body = json_body(&refused);
    json_t *error = json_object_get(body, "error");
    assert_string_equal(json_string_value(json_object_get(error, "code")), "budget_exceeded");
    assert_string_equal(json_string_value(json_object_get(error, "budget")), "team/small");
    json_decref(body);
    response_free(&refused);
    assert_int_equal(accept(fixture.upstream_fd, NULL, NULL), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK); /* the upstream was never called */
    response small = request("GET", "/v1/budgets/team/small", ADMIN, "", NULL);
    assert_int_equal(small.status, 200);
    body = json_body(&small);
    assert_int_equal(json_integer_value(json_object_get(body, "held_micros")), 0);
    assert_int_equal(json_integer_value(json_object_get(body, "spent_micros")), 0);
    json_decref(body);
    response_free(&small);

    /* Another method on its paths: 405 in the provider's own shape (OpenAI's error.code,
     * Anthropic's error.type), with the key not even asked for. */
    response put = request("PUT", "/v1/chat/completions", NULL, json, call);
    assert_int_equal(put.status, 405);
    assert_string_equal(header(&put, "Allow"), "POST");
    body = json_body(&put);
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                        "method_not_allowed");
    json_decref(body);
    response_free(&put);
    response messages = request("DELETE", "/v1/messages", SMALL, "", NULL);
    assert_int_equal(messages.status, 405);
    body = json_body(&messages);
    assert_string_equal(json_string_value(json_object_get(body, "type")), "error");
    assert_non_null(json_object_get(json_object_get(body, "error"), "type"));
    json_decref(body);
    response_free(&messages);
    /* Neither a path of its providers nor an upstream it knows: not the proxy's. */
    expect("POST", "/v1/chat/completion", SMALL, 404, "no_route");
    expect("POST", "/p/nobody/v1/chat/completions", SMALL, 404, "no_route");
}

/* Row 4: MCP over HTTP at /mcp/{name}, a stdio child per session. */
static void test_mcp(void **state) {
    (void)state;
    static const char initialize[] =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"initialize\",\"params\":{"
        "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
        "\"clientInfo\":{\"name\":\"test_server_routes\",\"version\":\"1\"}}}";
    const char *json = "Content-Type: application/json\r\nAccept: application/json\r\n";
    response anonymous = request("POST", "/mcp/fixture", NULL, json, initialize);
    assert_int_equal(anonymous.status, 401);
    assert_non_null(header(&anonymous, "WWW-Authenticate"));
    response_free(&anonymous);
    expect("PUT", "/mcp/fixture", AGENT, 405, NULL);
    expect("GET", "/mcp/no-such-server", AGENT, 404, NULL);

    response opened = request("POST", "/mcp/fixture", AGENT, json, initialize);
    if (opened.status != 200) {
        print_error("initialize -> %d %s\n", opened.status, opened.body);
        fail();
    }
    const char *id = header(&opened, "Mcp-Session-Id");
    assert_non_null(id);
    char session[200];
    snprintf(session, sizeof session, "Mcp-Session-Id: %s\r\n%s", id, json);
    json_t *body = json_body(&opened);
    /* The fixture server's own answer, relayed with the client's id. */
    assert_int_equal(json_integer_value(json_object_get(body, "id")), 7);
    json_t *info = json_object_get(json_object_get(body, "result"), "serverInfo");
    assert_string_equal(json_string_value(json_object_get(info, "name")), "tollgate-fixture");
    json_decref(body);
    response_free(&opened);

    /* The session is the key's: another key does not find it. */
    static const char list[] = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\"}";
    response other = request("POST", "/mcp/fixture", ADMIN, session, list);
    assert_int_equal(other.status, 404);
    response_free(&other);
    response ended = request("DELETE", "/mcp/fixture", AGENT, session, NULL);
    assert_int_equal(ended.status, 200);
    response_free(&ended);
    response gone = request("POST", "/mcp/fixture", AGENT, session, list);
    assert_int_equal(gone.status, 404);
    response_free(&gone);
}

/* Row 5: GET /v1/events/stream, durable events as server-sent events. */
static void test_event_stream(void **state) {
    (void)state;
    expect("GET", "/v1/events/stream", NULL, 401, "unauthorized");
    expect("GET", "/v1/events/stream", SCRAPER, 403, "forbidden");
    expect("POST", "/v1/events/stream", ADMIN, 405, "method_not_allowed");
    expect("GET", "/v1/events/stream?kinds=no_such_kind", ADMIN, 400, "invalid_query");

    int fd = send_request("GET", "/v1/events/stream", ADMIN, "", NULL);
    char *bytes = calloc(1, RESPONSE_SIZE_MAX);
    assert_non_null(bytes);
    /* The first frame: the retry hint and a comment, then a blank line (the head ends in
     * "\r\n\r\n", so the first "\n\n" is the frame's). */
    size_t size = receive(fd, bytes, RESPONSE_SIZE_MAX, 0, "\n\n");
    assert_int_equal(strncmp(bytes, "HTTP/1.1 200", 12), 0);
    assert_non_null(strcasestr(bytes, "\r\nContent-Type: text/event-stream\r\n"));
    const char *frame = strstr(bytes, "retry: ");
    assert_non_null(frame);
    const char *comment = strstr(frame, "\n: tollgate events after ");
    assert_non_null(comment);
    assert_true(strstr(bytes, "\n\n") > comment); /* the frame ends after its comment */
    assert_null(strstr(bytes, "event: "));        /* no resume point: nothing from before */
    /* An event made after the stream opened reaches it once its commit is on disk. */
    response put =
        request("PUT", "/v1/budgets/team/stream-probe", ADMIN, "", "{\"limit\":\"1.00\"}");
    assert_int_equal(put.status, 200);
    response_free(&put);
    size = receive(fd, bytes, RESPONSE_SIZE_MAX, size, "\"budget\":\"team/stream-probe\"");
    assert_non_null(strstr(bytes, "event: budget_changed\n"));
    close(fd);
    free(bytes);
}

/* Row 6: the JSON API (its own table, test_server_api), and the 404 of every other path. */
static void test_api(void **state) {
    (void)state;
    response health = request("GET", "/healthz", NULL, "", NULL);
    assert_int_equal(health.status, 200);
    assert_string_equal(header(&health, "Content-Type"), "application/json");
    response_free(&health);
    expect("GET", "/v1/budgets/team", NULL, 401, "unauthorized");
    expect("GET", "/v1/budgets/team", SCRAPER, 403, "forbidden");
    expect("GET", "/v1/budgets/team", AGENT, 200, NULL);
    expect("DELETE", "/v1/holds", ADMIN, 405, "method_not_allowed");
    expect("GET", "/nowhere", NULL, 401, "unauthorized"); /* a key before anything is said */
    expect("GET", "/nowhere", AGENT, 404, "no_route");
    expect("GET", "/v1", ADMIN, 404, "no_route");
    expect("PATCH", "/no/such/path?x=1", ADMIN, 404, "no_route");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),      cmocka_unit_test(test_console),
        cmocka_unit_test(test_proxy),        cmocka_unit_test(test_mcp),
        cmocka_unit_test(test_event_stream), cmocka_unit_test(test_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * stdio: back-pressure instead of unbounded buffering. While the agent is not
 * reading, the gateway stops reading from the server (and the other way
 * round), so a queue holds at most QUEUE_HIGH_BYTES plus one read's worth of
 * messages; the queue's maximum is only a guard above that.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcp/child.h"
#include "mcp/jsonrpc.h"
#include "mcp/queue.h"
#include "mcp/stdio.h"
#include "engine/clock.h"

#define READ_CHUNK_BYTES 65536
#define READS_PER_TURN 16              /* per descriptor, so neither side starves the other */
#define QUEUE_HIGH_BYTES (1024 * 1024) /* stop reading the producer past this */
#define TICK_INTERVAL_MS 100           /* engine tick: hold expiry, window roll-over */

enum { POLL_SIGNALS, POLL_AGENT_IN, POLL_AGENT_OUT, POLL_CHILD_OUT, POLL_CHILD_IN, POLL_COUNT };

typedef struct {
    const tg__mcp_stdio_options *options;
    tg__mcp_session *session;
    tg__mcp_child child;
    int signals;                 /* the self-pipe's read end */
    tg__rpc_framer agent_framer; /* lines from the agent */
    tg__rpc_framer server_framer;
    tg__mcp_queue to_agent;  /* waiting for the agent's stdout */
    tg__mcp_queue to_server; /* waiting for the server's stdin */
    int agent_in_flags;      /* restored at exit: the descriptors may be shared */
    int agent_out_flags;
    bool agent_eof;   /* the agent closed its input */
    bool agent_gone;  /* the agent's output is closed: drop what is for it */
    bool server_eof;  /* the server's stdout reached its end */
    bool server_gone; /* the session was told (pending requests answered) */
    bool stopping;    /* SIGTERM/SIGINT */
    bool failed;      /* the gateway itself failed */
    int64_t now_ms;
    int64_t last_tick_ms;
    int64_t shutdown_at_ms; /* after the agent left or a stop signal: give up waiting */
} loop;

int64_t tg__mcp_now_ms(void) {
    return tg__clock_wall_ms();
}

static void enqueue(loop *self, tg__mcp_queue *queue, const char *what, const char *message,
                    size_t size) {
    if ((queue == &self->to_agent && self->agent_gone) ||
        (queue == &self->to_server && self->child.to_child < 0)) {
        return;
    }
    if (tg__mcp_queue_line(queue, message, size) != TG_OK) {
        fprintf(stderr, "tollgate mcp: dropped a %zu-byte message for the %s: queue full\n", size,
                what);
    }
}

static void send_agent(void *user, const char *message, size_t size) {
    loop *self = user;
    enqueue(self, &self->to_agent, "agent", message, size);
}

static void send_server(void *user, const char *message, size_t size) {
    loop *self = user;
    enqueue(self, &self->to_server, "server", message, size);
}

static void agent_line(void *user, const char *line, size_t size, bool too_long) {
    loop *self = user;
    if (too_long) {
        tg__mcp_session_too_long(self->session, true);
    } else if (size > 0) {
        tg__mcp_session_from_agent(self->session, line, size, self->now_ms);
    }
}

static void server_line(void *user, const char *line, size_t size, bool too_long) {
    loop *self = user;
    if (too_long) {
        tg__mcp_session_too_long(self->session, false);
    } else if (size > 0) {
        tg__mcp_session_from_server(self->session, line, size, self->now_ms);
    }
}

/* Reads what fd has now into the framer; true at end of file. */
static bool drain(loop *self, int fd, tg__rpc_framer *framer, tg__rpc_line_fn fn) {
    char chunk[READ_CHUNK_BYTES];
    for (int i = 0; i < READS_PER_TURN; i++) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got > 0) {
            if (tg__rpc_framer_push(framer, chunk, (size_t)got, fn, self) != TG_OK) {
                fprintf(stderr, "tollgate mcp: out of memory framing a message\n");
            }
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return true;
        } else if (errno != EINTR) {
            return false;
        }
    }
    return false;
}

static void on_signals(loop *self) {
    unsigned char numbers[64];
    ssize_t got;
    while ((got = read(self->signals, numbers, sizeof numbers)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (numbers[i] == SIGTERM || numbers[i] == SIGINT) {
                self->stopping = true;
            } else if (numbers[i] == SIGHUP && self->options->reload != NULL) {
                self->options->reload(self->options->reload_user, self->now_ms);
                tg__mcp_session_refresh(self->session, self->now_ms);
            }
        }
    }
}

/* Once the server has exited and its output is read to the end, answer what waits. */
static void check_server(loop *self) {
    bool exited = tg__mcp_child_reap(&self->child);
    if (exited && !self->server_eof && self->child.from_child >= 0) {
        /* A grandchild may hold the pipe open: take what is there, then stop reading. */
        self->server_eof = true;
        (void)drain(self, self->child.from_child, &self->server_framer, server_line);
    }
    if (!self->server_gone && (self->server_eof || exited)) {
        if (self->child.from_child >= 0) {
            close(self->child.from_child);
            self->child.from_child = -1;
        }
        if (!self->stopping && !self->agent_eof) {
            fprintf(stderr, "tollgate mcp: the MCP server closed its output or exited\n");
        }
        self->server_gone = true;
        tg__mcp_session_server_gone(self->session, self->now_ms);
        tg__mcp_queue_clear(&self->to_server);
    }
}

/*
 * Waiters the engine decided in this turn (a tool rule's wait_ms) go to the session: a grant
 * is relayed to the server, a refusal answered. A grant no call owns any more (the agent
 * cancelled it as it was decided) is released at once: nothing is held for it.
 */
static void drain_waits(loop *self) {
    tg_engine *engine = self->options->session.engine;
    tg_wait_result decided;
    while (tg_wait_poll(engine, &decided)) {
        if (!tg__mcp_session_wait_decided(self->session, &decided, self->now_ms) &&
            decided.status == TG_OK && decided.result.granted) {
            (void)tg_release(engine, decided.result.hold_id, NULL, self->now_ms, NULL, NULL);
        }
    }
}

/* One turn's decisions, inside one engine batch. */
static void decide(loop *self, const struct pollfd *fds) {
    tg_engine *engine = self->options->session.engine;
    tg_engine_batch_begin(engine);
    if (fds[POLL_SIGNALS].revents) {
        on_signals(self);
    }
    if (fds[POLL_AGENT_IN].revents && !self->agent_eof) {
        self->agent_eof = drain(self, self->options->agent_in, &self->agent_framer, agent_line);
    }
    if (fds[POLL_CHILD_OUT].revents && !self->server_eof) {
        self->server_eof = drain(self, self->child.from_child, &self->server_framer, server_line);
    }
    check_server(self);
    tg__mcp_session_tick(self->session, self->now_ms);
    drain_waits(self);
    tg_error err = {0};
    if (tg_engine_batch_end(engine, &err) != TG_OK) {
        /* Nothing decided in this turn may go out: the ledger did not keep it. */
        fprintf(stderr, "tollgate mcp: the ledger could not be written (%s); stopping\n",
                err.message);
        tg__mcp_queue_clear(&self->to_server);
        tg__mcp_queue_clear(&self->to_agent);
        self->failed = true;
        return;
    }
    /* Outside the batch: a relaxed ledger syncs here (by its interval), a strict one writes
     * what expiry and roll-over changed before anything they caused is sent. */
    if (self->now_ms - self->last_tick_ms >= TICK_INTERVAL_MS) {
        if (tg_engine_tick(engine, self->now_ms, &err) != TG_OK) {
            fprintf(stderr, "tollgate mcp: ledger tick: %s\n", err.message);
        }
        self->last_tick_ms = self->now_ms;
        tg__mcp_session_tick(self->session, self->now_ms);
        drain_waits(self); /* decided by the tick: a waiter's deadline, an expiry's room */
    }
}

static void write_out(loop *self) {
    if (!self->agent_gone &&
        tg__mcp_queue_write(&self->to_agent, self->options->agent_out) != TG_OK) {
        self->agent_gone = true; /* the agent stopped reading for good */
        self->agent_eof = true;
    }
    if (self->child.to_child >= 0 &&
        tg__mcp_queue_write(&self->to_server, self->child.to_child) != TG_OK) {
        close(self->child.to_child);
        self->child.to_child = -1;
    }
    /* The agent is done and everything for the server is written: let the server finish. */
    if ((self->agent_eof || self->stopping) && self->to_server.size == 0 &&
        self->child.to_child >= 0) {
        close(self->child.to_child);
        self->child.to_child = -1;
    }
}

static int poll_timeout(const loop *self) {
    int64_t wait = TICK_INTERVAL_MS;
    int64_t deadline = tg__mcp_session_next_deadline_ms(self->session);
    if (deadline != INT64_MAX && deadline - self->now_ms < wait) {
        wait = deadline - self->now_ms;
    }
    /* A waiting call's deadline is the engine's; its tick refuses it (every tick interval). */
    return wait < 0 ? 0 : (int)wait;
}

static void fill_polls(const loop *self, struct pollfd *fds) {
    const tg__mcp_stdio_options *options = self->options;
    bool read_agent =
        !self->agent_eof && !self->server_gone && self->to_server.size < QUEUE_HIGH_BYTES;
    bool read_server = !self->server_eof && self->to_agent.size < QUEUE_HIGH_BYTES;
    fds[POLL_SIGNALS] = (struct pollfd){self->signals, POLLIN, 0};
    fds[POLL_AGENT_IN] = (struct pollfd){read_agent ? options->agent_in : -1, POLLIN, 0};
    fds[POLL_AGENT_OUT] = (struct pollfd){
        self->to_agent.size > 0 && !self->agent_gone ? options->agent_out : -1, POLLOUT, 0};
    fds[POLL_CHILD_OUT] = (struct pollfd){read_server ? self->child.from_child : -1, POLLIN, 0};
    fds[POLL_CHILD_IN] =
        (struct pollfd){self->to_server.size > 0 ? self->child.to_child : -1, POLLOUT, 0};
}

static bool finished(loop *self) {
    if (self->failed) {
        return true;
    }
    if ((self->agent_eof || self->stopping) && self->shutdown_at_ms == INT64_MAX) {
        self->shutdown_at_ms = self->now_ms + self->options->stop_grace_ms;
    }
    if (self->now_ms >= self->shutdown_at_ms) {
        return true; /* the server did not finish by itself: finish() stops it */
    }
    bool agent_done = self->agent_gone || self->to_agent.size == 0;
    /* The server is gone and the agent has its answers; or the agent left and the server is. */
    return self->server_gone && agent_done;
}

static void run_loop(loop *self) {
    while (!finished(self)) {
        struct pollfd fds[POLL_COUNT];
        fill_polls(self, fds);
        int ready = poll(fds, POLL_COUNT, poll_timeout(self));
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "tollgate mcp: poll: %s\n", strerror(errno));
            self->failed = true;
            return;
        }
        self->now_ms = tg__mcp_now_ms();
        if (ready < 0) {
            memset(fds, 0, sizeof fds);
        }
        decide(self, fds);
        if (!self->failed) {
            write_out(self);
        }
    }
}

/* Sets O_NONBLOCK on an inherited descriptor; returns its old flags to restore. */
static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    return flags;
}

static int finish(loop *self) {
    bool early = !self->agent_eof && !self->stopping && !self->failed;
    /* If the loop already waited for the server to finish on its own, do not wait twice. */
    int wait_ms = self->shutdown_at_ms <= self->now_ms ? 0 : self->options->stop_grace_ms;
    tg__mcp_child_stop(&self->child, wait_ms, self->options->stop_grace_ms);
    if (self->options->session_slot != NULL) {
        *self->options->session_slot = NULL;
    }
    tg__mcp_session_free(self->session, tg__mcp_now_ms());
    tg_error err = {0};
    if (tg_engine_sync(self->options->session.engine, &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: final sync: %s\n", err.message);
        self->failed = true;
    }
    if (self->agent_in_flags >= 0) {
        fcntl(self->options->agent_in, F_SETFL, self->agent_in_flags);
    }
    if (self->agent_out_flags >= 0) {
        fcntl(self->options->agent_out, F_SETFL, self->agent_out_flags);
    }
    tg__rpc_framer_free(&self->agent_framer);
    tg__rpc_framer_free(&self->server_framer);
    tg__mcp_queue_free(&self->to_agent);
    tg__mcp_queue_free(&self->to_server);
    tg__mcp_signals_uninstall();
    if (self->failed) {
        return 1;
    }
    int code = tg__mcp_child_exit_code(&self->child);
    return early ? (code == 0 ? 1 : code) : 0;
}

int tg__mcp_stdio_run(const tg__mcp_stdio_options *options) {
    loop self;
    memset(&self, 0, sizeof self);
    self.options = options;
    self.agent_in_flags = -1;
    self.agent_out_flags = -1;
    self.shutdown_at_ms = INT64_MAX;
    self.now_ms = tg__mcp_now_ms();
    self.last_tick_ms = self.now_ms;
    size_t message_max = (size_t)options->session.config->message_size_max_bytes;
    self.signals = tg__mcp_signals_install();
    tg_error err = {0};
    if (self.signals < 0 || tg__mcp_child_spawn(options->argv, &self.child, &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: %s\n",
                self.signals < 0 ? "cannot install signal handlers" : err.message);
        tg__mcp_signals_uninstall();
        return 1;
    }
    tg__mcp_session_options session = options->session;
    session.to_agent = send_agent;
    session.to_server = send_server;
    session.user = &self;
    if (tg__mcp_session_new(&session, &self.session, &err) != TG_OK) {
        fprintf(stderr, "tollgate mcp: %s\n", err.message);
        self.failed = true;
        return finish(&self);
    }
    if (options->session_slot != NULL) {
        *options->session_slot = self.session;
    }
    tg__rpc_framer_init(&self.agent_framer, message_max);
    tg__rpc_framer_init(&self.server_framer, message_max);
    tg__mcp_queue_init(&self.to_agent, QUEUE_HIGH_BYTES + 2 * message_max + 2 * READ_CHUNK_BYTES);
    tg__mcp_queue_init(&self.to_server, QUEUE_HIGH_BYTES + 2 * message_max + 2 * READ_CHUNK_BYTES);
    self.agent_in_flags = set_nonblocking(options->agent_in);
    self.agent_out_flags = set_nonblocking(options->agent_out);
    run_loop(&self);
    return finish(&self);
}

/*
 * child: posix_spawnp rather than fork, so starting the server does not copy
 * the gateway's address space (the ledger's tables can be large), and a
 * program that cannot be run is reported here as an error value. The child
 * starts with default signal actions and an empty mask, whatever the gateway
 * ignores or blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcp/child.h"

extern char **environ;

static int signal_pipe[2] = {-1, -1}; /* written by the handler, read by the poll loop */

static tg_status spawn_fail(tg_error *err, const char *what, const char *program, int code) {
    if (err != NULL) {
        err->status = TG_ERR_IO;
        snprintf(err->message, sizeof err->message, "cannot %s '%s': %s", what, program,
                 strerror(code));
    }
    return TG_ERR_IO;
}

tg_status tg__mcp_child_spawn(char *const *argv, tg__mcp_child *child, tg_error *err) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        return spawn_fail(err, "make a pipe for", argv[0], errno);
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        int code = errno;
        close(in[0]);
        close(in[1]);
        return spawn_fail(err, "make a pipe for", argv[0], code);
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE); /* ignored here; caught signals reset by exec anyway */
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int code = posix_spawnp(&pid, argv[0], &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(in[0]);
    close(out[1]);
    if (code != 0) {
        close(in[1]);
        close(out[0]);
        return spawn_fail(err, "start the MCP server", argv[0], code);
    }
    fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    *child = (tg__mcp_child){.pid = pid, .to_child = in[1], .from_child = out[0]};
    return TG_OK;
}

bool tg__mcp_child_reap(tg__mcp_child *child) {
    if (child->pid == 0) {
        return true;
    }
    int status;
    pid_t done = waitpid(child->pid, &status, WNOHANG);
    if (done == child->pid || (done < 0 && errno == ECHILD)) {
        child->exit_status = done == child->pid ? status : 0;
        child->pid = 0;
        return true;
    }
    return false;
}

/* Waits up to grace_ms for the child to exit, polling every 10 ms. */
static bool wait_exit(tg__mcp_child *child, int grace_ms) {
    for (int waited = 0; waited <= grace_ms; waited += 10) {
        if (tg__mcp_child_reap(child)) {
            return true;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return false;
}

void tg__mcp_child_stop(tg__mcp_child *child, int wait_ms, int grace_ms) {
    if (child->to_child >= 0) {
        close(child->to_child);
        child->to_child = -1;
    }
    if (child->pid == 0 || wait_exit(child, wait_ms)) {
        return;
    }
    kill(child->pid, SIGTERM);
    if (wait_exit(child, grace_ms)) {
        return;
    }
    kill(child->pid, SIGKILL);
    while (!wait_exit(child, 1000)) {
    }
}

int tg__mcp_child_exit_code(const tg__mcp_child *child) {
    if (WIFEXITED(child->exit_status)) {
        return WEXITSTATUS(child->exit_status);
    }
    return WIFSIGNALED(child->exit_status) ? 128 + WTERMSIG(child->exit_status) : 1;
}

static void on_signal(int number) {
    int saved = errno; /* a handler must not disturb the code it interrupted */
    unsigned char byte = (unsigned char)number;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

int tg__mcp_signals_install(void) {
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return -1;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    const int routed[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof routed / sizeof routed[0]; i++) {
        sigaction(routed[i], &action, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    return signal_pipe[0];
}

void tg__mcp_signals_uninstall(void) {
    const int routed[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof routed / sizeof routed[0]; i++) {
        signal(routed[i], SIG_DFL);
    }
    for (int i = 0; i < 2; i++) {
        if (signal_pipe[i] >= 0) {
            close(signal_pipe[i]);
            signal_pipe[i] = -1;
        }
    }
}

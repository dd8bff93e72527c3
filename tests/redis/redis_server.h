/*
 * redis_server.h: a redis-server of the test's own, on a free loopback port, with a
 * temporary directory for its files, stopped and removed at the end. Nothing depends
 * on a Redis already running. The binary is $TG_REDIS_SERVER (set by ctest), else
 * "redis-server" on PATH. Readiness is waited for (PING answered), never slept for.
 */
#ifndef TG_TEST_REDIS_SERVER_H
#define TG_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_START_TIMEOUT_MS 20000 /* a loaded 2-core machine may take a while to exec */

typedef struct {
    pid_t pid;    /* the server, 0 when stopped */
    int port;     /* loopback port it listens on */
    char dir[64]; /* its temporary directory */
} redis_server;

static inline int64_t redis_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A cluster node listens on its port + 10000 too (the cluster bus), so its port must be below
 * this; the kernel's ephemeral range (often up to 60999) gives higher ones now and then. */
#define REDIS_PORT_MAX 55535

/* A port the kernel just gave out and took back: free now, and unlikely to be reused at once. */
static inline int redis_free_port_any(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t size = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &size) != 0) {
        fprintf(stderr, "redis_server: no free port: %s\n", strerror(errno));
        exit(1);
    }
    close(fd);
    return ntohs(addr.sin_port);
}

/* A free port a cluster node can use (its bus port + 10000 below 65536). */
static inline int redis_free_port(void) {
    int port;
    while ((port = redis_free_port_any()) > REDIS_PORT_MAX) {
    }
    return port;
}

static inline bool redis_ping(int port) {
    struct timeval timeout = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, timeout);
    bool ok = false;
    if (c != NULL && !c->err) {
        redisReply *reply = redisCommand(c, "PING");
        ok = reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
        freeReplyObject(reply);
    }
    redisFree(c);
    return ok;
}

/* Starts the server with `extra` arguments (NULL-terminated, may be NULL); exits the test
 * program with a message when it cannot. */
static inline void redis_server_start(redis_server *server, const char *const *extra) {
    const char *binary = getenv("TG_REDIS_SERVER");
    if (binary == NULL || binary[0] == '\0' || strstr(binary, "NOTFOUND")) {
        binary = "redis-server";
    }
    snprintf(server->dir, sizeof server->dir, "/tmp/tg-redis-XXXXXX");
    if (mkdtemp(server->dir) == NULL) {
        fprintf(stderr, "redis_server: mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    server->port = redis_free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", server->port);
    const char *argv[32] = {binary,  "--port",    port,       "--bind", "127.0.0.1",
                            "--dir", server->dir, "--save",   "",       "--appendonly",
                            "no",    "--logfile", "redis.log"};
    int argc = 13;
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++) {
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    server->pid = fork();
    if (server->pid == 0) {
        execvp(binary, (char *const *)argv);
        fprintf(stderr, "redis_server: cannot run %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    int64_t deadline = redis_clock_ms() + REDIS_START_TIMEOUT_MS;
    while (!redis_ping(server->port)) {
        int status;
        if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
            fprintf(stderr, "redis_server: %s exited before answering (see %s/redis.log)\n", binary,
                    server->dir);
            exit(1);
        }
        if (redis_clock_ms() > deadline) {
            fprintf(stderr, "redis_server: no answer on port %d within %d ms\n", server->port,
                    REDIS_START_TIMEOUT_MS);
            kill(server->pid, SIGKILL);
            exit(1);
        }
        struct timespec pause = {0, 10 * 1000000}; /* between polls of a condition */
        nanosleep(&pause, NULL);
    }
}

/* Stops the server (SIGKILL: nothing of it is kept) and removes its directory. */
static inline void redis_server_stop(redis_server *server) {
    if (server->pid > 0) {
        kill(server->pid, SIGKILL);
        waitpid(server->pid, NULL, 0);
        server->pid = 0;
    }
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", server->dir);
    if (server->dir[0] && system(command) != 0) {
        fprintf(stderr, "redis_server: could not remove %s\n", server->dir);
    }
    server->dir[0] = '\0';
}

#endif

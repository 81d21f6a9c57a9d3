// SPDX-License-Identifier: MIT
// Test fixture: a private redis-server on a free loopback port with its own temp dir, started and
// stopped by PID (tests only).
#include "redis_fixture.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port the kernel considers free right now: bind port 0 and read back what it chose. */
int fd_redis_fixture_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static pid_t spawn(const fd_redis_fixture_t *fx) {
    char port[16], logfile[sizeof fx->dir + 16];
    snprintf(port, sizeof port, "%d", fx->port);
    snprintf(logfile, sizeof logfile, "%s/redis.log", fx->dir);
    const char *argv[20 + FD_REDIS_FIXTURE_MAX_ARGS];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = fx->dir;
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--logfile";
    argv[n++] = logfile;
    if (fx->password != NULL) {
        argv[n++] = "--requirepass";
        argv[n++] = fx->password;
    }
    for (int i = 0; i < FD_REDIS_FIXTURE_MAX_ARGS - 1 && fx->extra_args[i] != NULL; i++)
        argv[n++] = fx->extra_args[i];
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* child: die with the test process, even when it is killed */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    execvp("redis-server", (char *const *)argv);
    fprintf(stderr, "redis_fixture: exec redis-server: %s\n", strerror(errno));
    _exit(127);
}

redisContext *fd_redis_fixture_connect(const fd_redis_fixture_t *fx) {
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", fx->port, tv);
    if (c == NULL) return NULL;
    if (c->err != 0) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (fx->password != NULL) {
        redisReply *r = redisCommand(c, "AUTH %s", fx->password);
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* True once the server answers PING (any answer: NOAUTH also proves it is up). */
static bool answers(const fd_redis_fixture_t *fx) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", fx->port, tv);
    bool ok = false;
    if (c != NULL && c->err == 0) {
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "PING");
        ok = r != NULL;
        if (r != NULL) freeReplyObject(r);
    }
    if (c != NULL) redisFree(c);
    return ok;
}

static int start_on_port(fd_redis_fixture_t *fx) {
    snprintf(fx->dir, sizeof fx->dir, "/tmp/fd-redis-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        fprintf(stderr, "redis_fixture: mkdtemp: %s\n", strerror(errno));
        fx->dir[0] = '\0';
        return -1;
    }
    fx->pid = spawn(fx);
    if (fx->pid < 0) {
        fprintf(stderr, "redis_fixture: fork: %s\n", strerror(errno));
        fx->pid = 0;
        remove_dir(fx->dir);
        fx->dir[0] = '\0';
        return -1;
    }
    int64_t deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
            fprintf(stderr, "redis_fixture: redis-server on port %d exited at start (see %s)\n",
                    fx->port, fx->dir);
            fx->pid = 0;
            remove_dir(fx->dir);
            fx->dir[0] = '\0';
            return -1;
        }
        if (answers(fx)) return 0;
        sleep_ms(20);
    }
    fprintf(stderr, "redis_fixture: redis-server on port %d did not answer within 5 s\n", fx->port);
    fd_redis_fixture_stop(fx);
    return -1;
}

int fd_redis_fixture_start(fd_redis_fixture_t *fx) {
    fx->pid = 0;
    fx->dir[0] = '\0';
    /* the port may be taken between the probe and the server's bind: try a few */
    for (int attempt = 0; attempt < 5; attempt++) {
        fx->port = fd_redis_fixture_free_port();
        if (fx->port <= 0) continue;
        if (start_on_port(fx) == 0) return 0;
    }
    return -1;
}

void fd_redis_fixture_stop(fd_redis_fixture_t *fx) {
    if (fx->pid > 0) {
        kill(fx->pid, SIGTERM);
        int64_t deadline = now_ms() + 3000;
        bool reaped = false;
        while (now_ms() < deadline) {
            int status;
            pid_t r = waitpid(fx->pid, &status, WNOHANG);
            if (r == fx->pid || (r < 0 && errno == ECHILD)) {
                reaped = true;
                break;
            }
            sleep_ms(10);
        }
        if (!reaped) {
            kill(fx->pid, SIGKILL);
            waitpid(fx->pid, NULL, 0);
        }
        fx->pid = 0;
    }
    if (fx->dir[0] != '\0') {
        remove_dir(fx->dir);
        fx->dir[0] = '\0';
    }
}

int fd_redis_fixture_restart(fd_redis_fixture_t *fx) {
    fd_redis_fixture_stop(fx);
    /* the old server released the port on exit; retry briefly in case the kernel lags */
    for (int attempt = 0; attempt < 20; attempt++) {
        if (start_on_port(fx) == 0) return 0;
        sleep_ms(100);
    }
    return -1;
}

// SPDX-License-Identifier: MIT
// Error codes shared by every module, generated from one X-macro list (layer 0).
#ifndef FUNNELD_ERR_H
#define FUNNELD_ERR_H

/* X(name, message): one line per error code. */
#define FD_ERR_MAP(X)                                                                              \
    X(INVAL, "invalid argument")                                                                   \
    X(NOMEM, "out of memory")                                                                      \
    X(PARSE, "malformed input")                                                                    \
    X(CONFIG, "invalid configuration")                                                             \
    X(RANGE, "value out of range")                                                                 \
    X(NOTFOUND, "not found")                                                                       \
    X(FULL, "capacity exhausted")                                                                  \
    X(IO, "I/O error")                                                                             \
    X(REDIS, "redis unavailable or failed")                                                        \
    X(FENCED, "partition owned by a newer claim (fenced)")                                         \
    X(GAP, "stored offset does not match the batch start")                                         \
    X(CONFLICT, "redis holds a state the batch assumed absent")                                    \
    X(KAFKA, "kafka error")                                                                        \
    X(FATAL, "fatal error")

/* 0 is success; every error is negative. */
typedef enum {
    FD_OK = 0,
    FD_ERR__FIRST = -100,
#define X(name, msg) FD_ERR_##name,
    FD_ERR_MAP(X)
#undef X
} fd_err_t;

/* Symbolic name of err ("FENCED"); static storage, never NULL. */
const char *fd_err_name(fd_err_t err);

/* Human message of err; static storage, never NULL. */
const char *fd_strerror(fd_err_t err);

#endif

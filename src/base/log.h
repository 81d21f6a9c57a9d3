// SPDX-License-Identifier: MIT
// Level-checked logging to stderr, one line per record (layer 0).
#ifndef FUNNELD_LOG_H
#define FUNNELD_LOG_H

#include "base/err.h"

typedef enum { FD_LOG_ERROR = 0, FD_LOG_WARN, FD_LOG_INFO, FD_LOG_DEBUG } fd_log_level_t;

/* The process-wide level; records above it are dropped. Default FD_LOG_INFO. */
extern fd_log_level_t fd_log_level;

/* Parses "error", "warn", "info", "debug" into *out. FD_ERR_PARSE for any other name (*out
 * untouched). */
fd_err_t fd_log_level_parse(const char *name, fd_log_level_t *out);

/* Writes one line "<iso time> <level> <module>: <message>" to stderr. */
void fd_log(fd_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define FD_LOG(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= fd_log_level) fd_log((level), (module), __VA_ARGS__);                       \
    } while (0)
#define fd_log_error(m, ...) FD_LOG(FD_LOG_ERROR, m, __VA_ARGS__)
#define fd_log_warn(m, ...)  FD_LOG(FD_LOG_WARN, m, __VA_ARGS__)
#define fd_log_info(m, ...)  FD_LOG(FD_LOG_INFO, m, __VA_ARGS__)
#define fd_log_debug(m, ...) FD_LOG(FD_LOG_DEBUG, m, __VA_ARGS__)

#endif

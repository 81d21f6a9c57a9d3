// SPDX-License-Identifier: MIT
// Error codes and their names and messages (layer 0).
#include "base/err.h"

const char *fd_err_name(fd_err_t err) {
    switch (err) {
    case FD_OK:
        return "OK";
    case FD_ERR__FIRST:
        break;
#define X(name, msg)                                                                               \
    case FD_ERR_##name:                                                                            \
        return #name;
        FD_ERR_MAP(X)
#undef X
    }
    return "UNKNOWN";
}

const char *fd_strerror(fd_err_t err) {
    switch (err) {
    case FD_OK:
        return "success";
    case FD_ERR__FIRST:
        break;
#define X(name, msg)                                                                               \
    case FD_ERR_##name:                                                                            \
        return msg;
        FD_ERR_MAP(X)
#undef X
    }
    return "unknown error";
}

// SPDX-License-Identifier: MIT
// Reading a whole (small) file (layer 0).
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

fd_err_t fd_file_read(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return FD_ERR_IO;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    fd_err_t err = FD_OK;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                err = FD_ERR_RANGE;
                break;
            }
            cap = cap ? 2 * cap : 16384;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                err = FD_ERR_NOMEM;
                break;
            }
            buf = p;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    if (err == FD_OK && n > max) err = FD_ERR_RANGE;
    if (err == FD_OK && ferror(f)) {
        err = FD_ERR_IO;
        errno = EIO;
    }
    int saved = errno;
    fclose(f);
    if (err != FD_OK) {
        free(buf);
        errno = saved;
        return err;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return FD_OK;
}

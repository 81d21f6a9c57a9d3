// SPDX-License-Identifier: MIT
// Reading a whole (small) file: the settings, rules and targets files (layer 0).
#ifndef FUNNELD_FILE_H
#define FUNNELD_FILE_H

#include <stddef.h>

#include "base/err.h"

/* Reads the file at path into a malloc'ed buffer, NUL-terminated, in *out (its length without
 * the NUL in *len). FD_ERR_IO with errno saying why it could not be opened or read;
 * FD_ERR_RANGE when it holds more than max bytes; FD_ERR_NOMEM. *out is NULL on error. */
fd_err_t fd_file_read(const char *path, size_t max, char **out, size_t *len);

#endif

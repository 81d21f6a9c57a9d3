// SPDX-License-Identifier: MIT
// String-keyed hash map to caller-owned pointers, open addressing with linear probing
// (layer 0, pure).
#ifndef FUNNELD_MAP_H
#define FUNNELD_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef struct fd_map fd_map_t;

/* An empty map into *out. FD_ERR_NOMEM (*out NULL). */
fd_err_t fd_map_new(fd_map_t **out);
/* Frees the map and its key copies, not the values. NULL does nothing. */
void fd_map_destroy(fd_map_t *m);

/* The value stored under the len bytes at key, or NULL. */
void *fd_map_get(const fd_map_t *m, const char *key, size_t len);
/* Stores value under a copy of key, replacing any previous value. FD_ERR_NOMEM on failure
 * (the map is then unchanged). */
fd_err_t fd_map_put(fd_map_t *m, const char *key, size_t len, void *value);
/* Removes key; returns its value or NULL. */
void *fd_map_del(fd_map_t *m, const char *key, size_t len);
size_t fd_map_size(const fd_map_t *m);

/* Iteration: *pos starts at 0; true with key, len and value set while entries remain, false
 * (nothing set) at the end. The map must not change during iteration. */
bool fd_map_next(const fd_map_t *m, size_t *pos, const char **key, size_t *len, void **value);
/* Removes every entry, keeping the allocation; values are not freed. */
void fd_map_clear(fd_map_t *m);

#endif

// SPDX-License-Identifier: MIT
// The dedupe horizon of one partition: the last max_events event ids (as 128-bit hashes), in
// arrival order, with the ids added since the last apply kept apart for the store (layer 1, pure).
#ifndef FUNNELD_DEDUPE_H
#define FUNNELD_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define FD_DEDUPE_ID_BYTES 16 /* bytes per remembered id in memory blobs and in Redis */

typedef struct fd_dedupe fd_dedupe_t;

/* A horizon remembering at most max_events ids (>= 1). Memory: about 40 bytes per id. */
fd_dedupe_t *fd_dedupe_new(size_t max_events);
void fd_dedupe_destroy(fd_dedupe_t *dd);

/* 1 when the len bytes at id were seen within the horizon; otherwise remembers it (evicting the
 * oldest id when full), adds it to the pending ids and returns 0. FD_ERR_NOMEM (negative) when
 * the pending list cannot grow: nothing changed. */
int fd_dedupe_check_add(fd_dedupe_t *dd, const char *id, size_t len);

/* Replaces the content with the ids in blob (FD_DEDUPE_ID_BYTES each, oldest first), as the store
 * reads them back; only the last max_events are kept; nothing is pending afterwards.
 * FD_ERR_PARSE when len is not a multiple of FD_DEDUPE_ID_BYTES. */
fd_err_t fd_dedupe_load(fd_dedupe_t *dd, const void *blob, size_t len);

/* The ids added since the last fd_dedupe_mark_applied, as one blob (oldest first), valid until
 * the next change; *count gets their number. */
const void *fd_dedupe_pending(const fd_dedupe_t *dd, size_t *count);
/* Forgets the pending list (the store applied it). */
void fd_dedupe_mark_applied(fd_dedupe_t *dd);
/* Number of ids remembered, and the horizon size. */
size_t fd_dedupe_count(const fd_dedupe_t *dd);
size_t fd_dedupe_capacity(const fd_dedupe_t *dd);
/* Forgets everything, pending included. */
void fd_dedupe_reset(fd_dedupe_t *dd);

#endif

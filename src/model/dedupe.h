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

/* A horizon remembering at most max_events ids into *out. Memory: about 40 bytes per id.
 * FD_ERR_RANGE when max_events is 0 or above UINT32_MAX / 4, FD_ERR_NOMEM; *out NULL on error. */
fd_err_t fd_dedupe_new(size_t max_events, fd_dedupe_t **out);
void fd_dedupe_destroy(fd_dedupe_t *dd);

/* Whether the len bytes at id are new: *fresh false when they were seen within the horizon
 * (nothing changes); otherwise remembers them (evicting the oldest id when full), adds them to
 * the pending ids and sets *fresh true. FD_ERR_NOMEM when the pending list cannot grow: nothing
 * changed, *fresh untouched. */
fd_err_t fd_dedupe_check_add(fd_dedupe_t *dd, const char *id, size_t len, bool *fresh);

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

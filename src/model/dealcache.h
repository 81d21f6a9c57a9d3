// SPDX-License-Identifier: MIT
// In-memory cache of per-deal state while partitions are owned, with the list of deals changed
// since the last apply (layer 1, pure).
#ifndef FUNNELD_DEALCACHE_H
#define FUNNELD_DEALCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "model/funnel.h"

typedef struct fd_dealcache fd_dealcache_t;

/* A cache for deals of funnel fn (borrowed; must outlive the cache) into *out. When more than
 * max_deals are cached after an apply, fd_dealcache_mark_applied empties it (state is safe in
 * Redis). FD_ERR_NOMEM (*out NULL). */
fd_err_t fd_dealcache_new(const fd_funnel_t *fn, size_t max_deals, fd_dealcache_t **out);
void fd_dealcache_destroy(fd_dealcache_t *dc);

/* The cached state of deal_id, or NULL when it is not cached (it may still be in Redis). */
fd_deal_t *fd_dealcache_get(fd_dealcache_t *dc, const char *deal_id);
/* Caches a copy of deal's content under deal_id, taking over its owners (deal is left
 * initialised and empty); replaces nothing (and leaves deal alone) if deal_id is already cached.
 * *out (when out is not NULL) gets the cached deal. FD_ERR_NOMEM: nothing cached, deal
 * unchanged, *out untouched. */
fd_err_t fd_dealcache_put(fd_dealcache_t *dc, const char *deal_id, fd_deal_t *deal,
                          fd_deal_t **out);
/* Caches an empty state for deal_id, assumed absent from Redis (its first event seen is a
 * deal.created), and marks it dirty: the apply that carries it must check that Redis holds no
 * state for it. *out (when out is not NULL) gets the cached deal (unchanged when deal_id was
 * already cached). FD_ERR_NOMEM: nothing cached, *out untouched. */
fd_err_t fd_dealcache_put_new(fd_dealcache_t *dc, const char *deal_id, fd_deal_t **out);
/* Records that the cached deal under deal_id changed in the current batch (idempotent). */
fd_err_t fd_dealcache_mark_dirty(fd_dealcache_t *dc, const char *deal_id);

/* The deals changed since the last apply: *pos from 0; true with id and deal set (and, when
 * assumed_new is not NULL, whether it was cached by fd_dealcache_put_new since the last send)
 * while some remain, false (nothing set) at the end. */
bool fd_dealcache_next_dirty(const fd_dealcache_t *dc, size_t *pos, const char **deal_id,
                             const fd_deal_t **deal, bool *assumed_new);
size_t fd_dealcache_dirty_count(const fd_dealcache_t *dc);
/* How many of the dirty deals are assumed absent from Redis (fd_dealcache_put_new). */
size_t fd_dealcache_new_count(const fd_dealcache_t *dc);
/* The dirty deals were applied: clears the list, and empties the cache if it is over max. */
void fd_dealcache_mark_applied(fd_dealcache_t *dc);
/* Pipelined applies: the dirty deals were copied into an apply command (in flight, not yet
 * applied): clears the list (and the assumptions, checked by that command) without dropping
 * anything, so that the next batch reads the cached states, never Redis's older ones. */
void fd_dealcache_mark_sent(fd_dealcache_t *dc);
/* Nothing is in flight any more: if more than max_deals are cached, drops every deal that is not
 * dirty (those are safe in Redis; they reload on demand). */
void fd_dealcache_trim(fd_dealcache_t *dc);
/* Forgets every deal (after a refused apply or a revocation: Redis is the truth). */
void fd_dealcache_clear(fd_dealcache_t *dc);
size_t fd_dealcache_size(const fd_dealcache_t *dc);

#endif

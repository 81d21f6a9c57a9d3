// SPDX-License-Identifier: MIT
// In-memory cache of per-deal state with the list of deals changed since the last apply
// (layer 1, pure).
#include "model/dealcache.h"

#include <stdlib.h>
#include <string.h>

#include "base/map.h"

typedef struct {
    fd_deal_t deal;
    bool dirty;
    bool assumed_new; /* put by fd_dealcache_put_new, not yet sent */
    char id[];        /* NUL-terminated deal id */
} entry_t;

struct fd_dealcache {
    const fd_funnel_t *fn;
    size_t max;
    fd_map_t *map;   /* id -> entry_t* (owned) */
    entry_t **dirty; /* entries changed since the last apply */
    size_t ndirty, dirty_cap;
    size_t nnew; /* dirty entries assumed new */
};

fd_err_t fd_dealcache_new(const fd_funnel_t *fn, size_t max_deals, fd_dealcache_t **out) {
    *out = NULL;
    fd_dealcache_t *dc = calloc(1, sizeof *dc);
    if (dc == NULL) return FD_ERR_NOMEM;
    dc->fn = fn;
    dc->max = max_deals;
    if (fd_map_new(&dc->map) != FD_OK) {
        free(dc);
        return FD_ERR_NOMEM;
    }
    *out = dc;
    return FD_OK;
}

void fd_dealcache_clear(fd_dealcache_t *dc) {
    size_t pos = 0, len;
    const char *key;
    void *value;
    while (fd_map_next(dc->map, &pos, &key, &len, &value)) {
        entry_t *e = value;
        fd_deal_clear(&e->deal);
        free(e);
    }
    fd_map_clear(dc->map);
    dc->ndirty = 0;
    dc->nnew = 0;
}

void fd_dealcache_destroy(fd_dealcache_t *dc) {
    if (dc == NULL) return;
    fd_dealcache_clear(dc);
    fd_map_destroy(dc->map);
    free(dc->dirty);
    free(dc);
}

static entry_t *lookup(const fd_dealcache_t *dc, const char *deal_id) {
    return fd_map_get(dc->map, deal_id, strlen(deal_id));
}

fd_deal_t *fd_dealcache_get(fd_dealcache_t *dc, const char *deal_id) {
    entry_t *e = lookup(dc, deal_id);
    return e ? &e->deal : NULL;
}

/* A new entry for deal_id (not cached) taking over deal's content; NULL when out of memory. */
static entry_t *insert(fd_dealcache_t *dc, const char *deal_id, fd_deal_t *deal) {
    size_t len = strlen(deal_id);
    entry_t *e = malloc(sizeof *e + len + 1);
    if (e == NULL) return NULL;
    memcpy(e->id, deal_id, len + 1);
    e->dirty = false;
    e->assumed_new = false;
    if (fd_map_put(dc->map, deal_id, len, e) != FD_OK) {
        free(e);
        return NULL;
    }
    /* Take over the owners array: the caller's deal is left empty. */
    e->deal = *deal;
    fd_deal_init(deal);
    return e;
}

/* Adds e to the dirty list (idempotent). */
static fd_err_t mark(fd_dealcache_t *dc, entry_t *e) {
    if (e->dirty) return FD_OK;
    if (dc->ndirty == dc->dirty_cap) {
        size_t ncap = dc->dirty_cap ? dc->dirty_cap * 2 : 256;
        entry_t **nd = realloc(dc->dirty, ncap * sizeof *nd);
        if (nd == NULL) return FD_ERR_NOMEM;
        dc->dirty = nd;
        dc->dirty_cap = ncap;
    }
    dc->dirty[dc->ndirty++] = e;
    e->dirty = true;
    return FD_OK;
}

fd_err_t fd_dealcache_put(fd_dealcache_t *dc, const char *deal_id, fd_deal_t *deal,
                          fd_deal_t **out) {
    entry_t *e = lookup(dc, deal_id);
    if (e == NULL && (e = insert(dc, deal_id, deal)) == NULL) return FD_ERR_NOMEM;
    if (out != NULL) *out = &e->deal;
    return FD_OK;
}

fd_err_t fd_dealcache_put_new(fd_dealcache_t *dc, const char *deal_id, fd_deal_t **out) {
    entry_t *e = lookup(dc, deal_id);
    if (e == NULL) {
        fd_deal_t empty;
        fd_deal_init(&empty);
        if ((e = insert(dc, deal_id, &empty)) == NULL) return FD_ERR_NOMEM;
        if (mark(dc, e) != FD_OK) {
            /* not dirty, so not sent: forget it rather than leave an unchecked assumption */
            fd_map_del(dc->map, e->id, strlen(e->id));
            fd_deal_clear(&e->deal);
            free(e);
            return FD_ERR_NOMEM;
        }
        e->assumed_new = true;
        dc->nnew++;
    }
    if (out != NULL) *out = &e->deal;
    return FD_OK;
}

fd_err_t fd_dealcache_mark_dirty(fd_dealcache_t *dc, const char *deal_id) {
    entry_t *e = lookup(dc, deal_id);
    if (e == NULL) return FD_ERR_NOTFOUND;
    return mark(dc, e);
}

bool fd_dealcache_next_dirty(const fd_dealcache_t *dc, size_t *pos, const char **deal_id,
                             const fd_deal_t **deal, bool *assumed_new) {
    if (*pos >= dc->ndirty) return false;
    entry_t *e = dc->dirty[(*pos)++];
    *deal_id = e->id;
    *deal = &e->deal;
    if (assumed_new != NULL) *assumed_new = e->assumed_new;
    return true;
}

size_t fd_dealcache_new_count(const fd_dealcache_t *dc) {
    return dc->nnew;
}

size_t fd_dealcache_dirty_count(const fd_dealcache_t *dc) {
    return dc->ndirty;
}

void fd_dealcache_mark_sent(fd_dealcache_t *dc) {
    for (size_t i = 0; i < dc->ndirty; i++) {
        dc->dirty[i]->dirty = false;
        dc->dirty[i]->assumed_new = false;
    }
    dc->ndirty = 0;
    dc->nnew = 0;
}

void fd_dealcache_trim(fd_dealcache_t *dc) {
    if (fd_map_size(dc->map) <= dc->max) return;
    if (dc->ndirty == 0) {
        fd_dealcache_clear(dc);
        return;
    }
    /* keep the dirty ones: their changes are not in Redis yet */
    size_t pos = 0, len;
    const char *key;
    void *value;
    size_t nkill = 0;
    entry_t **kill = malloc(fd_map_size(dc->map) * sizeof *kill);
    if (kill == NULL) return; /* stays over its size until the next trim */
    while (fd_map_next(dc->map, &pos, &key, &len, &value))
        if (!((entry_t *)value)->dirty) kill[nkill++] = value;
    for (size_t i = 0; i < nkill; i++) {
        fd_map_del(dc->map, kill[i]->id, strlen(kill[i]->id));
        fd_deal_clear(&kill[i]->deal);
        free(kill[i]);
    }
    free(kill);
}

void fd_dealcache_mark_applied(fd_dealcache_t *dc) {
    /* every cached state is now in Redis: over max they all go, reloading on demand */
    fd_dealcache_mark_sent(dc);
    fd_dealcache_trim(dc);
}

size_t fd_dealcache_size(const fd_dealcache_t *dc) {
    return fd_map_size(dc->map);
}

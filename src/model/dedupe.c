// SPDX-License-Identifier: MIT
// Dedupe horizon of one partition: a ring of the last max_events id hashes in arrival order and an
// open-addressing index into the ring for O(1) membership (layer 1, pure).
#include "model/dedupe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

struct fd_dedupe {
    fd_hash128_t *ring; /* capacity entries; oldest at head */
    size_t cap, head, count;
    uint32_t *index; /* ring position + 1, 0 = empty; index_mask + 1 slots (>= 2 * cap) */
    size_t index_mask;
    unsigned char *pending; /* ids added since the last apply, FD_DEDUPE_ID_BYTES each */
    size_t npending, pending_cap;
};

fd_err_t fd_dedupe_new(size_t max_events, fd_dedupe_t **out) {
    *out = NULL;
    if (max_events == 0 || max_events > UINT32_MAX / 4) return FD_ERR_RANGE;
    fd_dedupe_t *dd = calloc(1, sizeof *dd);
    if (dd == NULL) return FD_ERR_NOMEM;
    size_t slots = 16;
    while (slots < max_events * 2)
        slots *= 2;
    dd->cap = max_events;
    dd->ring = malloc(max_events * sizeof *dd->ring);
    dd->index = calloc(slots, sizeof *dd->index);
    dd->index_mask = slots - 1;
    if (dd->ring == NULL || dd->index == NULL) {
        fd_dedupe_destroy(dd);
        return FD_ERR_NOMEM;
    }
    *out = dd;
    return FD_OK;
}

void fd_dedupe_destroy(fd_dedupe_t *dd) {
    if (dd == NULL) return;
    free(dd->ring);
    free(dd->index);
    free(dd->pending);
    free(dd);
}

static inline bool same(fd_hash128_t a, fd_hash128_t b) {
    return a.lo == b.lo && a.hi == b.hi;
}

/* Slot holding h, or the empty slot where it would go. */
static size_t probe(const fd_dedupe_t *dd, fd_hash128_t h) {
    for (size_t i = h.lo & dd->index_mask;; i = (i + 1) & dd->index_mask) {
        uint32_t v = dd->index[i];
        if (v == 0 || same(dd->ring[v - 1], h)) return i;
    }
}

/* Removes the ring entry at pos from the index (backward-shift deletion, no tombstones). */
static void unindex(fd_dedupe_t *dd, size_t pos) {
    size_t mask = dd->index_mask;
    size_t hole = probe(dd, dd->ring[pos]);
    dd->index[hole] = 0;
    for (size_t j = (hole + 1) & mask; dd->index[j] != 0; j = (j + 1) & mask) {
        size_t home = dd->ring[dd->index[j] - 1].lo & mask;
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        dd->index[hole] = dd->index[j];
        dd->index[j] = 0;
        hole = j;
    }
}

/* Appends h as the newest id, evicting the oldest when full. h must not be present. */
static void remember(fd_dedupe_t *dd, fd_hash128_t h) {
    size_t pos;
    if (dd->count == dd->cap) {
        pos = dd->head;
        unindex(dd, pos);
        dd->head = (dd->head + 1) % dd->cap;
    } else {
        pos = (dd->head + dd->count) % dd->cap;
        dd->count++;
    }
    dd->ring[pos] = h;
    dd->index[probe(dd, h)] = (uint32_t)pos + 1;
}

static void put_id(unsigned char *out, fd_hash128_t h) {
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(h.lo >> (8 * i));
        out[8 + i] = (unsigned char)(h.hi >> (8 * i));
    }
}

static fd_hash128_t get_id(const unsigned char *in) {
    fd_hash128_t h = {0, 0};
    for (int i = 0; i < 8; i++) {
        h.lo |= (uint64_t)in[i] << (8 * i);
        h.hi |= (uint64_t)in[8 + i] << (8 * i);
    }
    return h;
}

fd_err_t fd_dedupe_check_add(fd_dedupe_t *dd, const char *id, size_t len, bool *fresh) {
    fd_hash128_t h = fd_hash128(id, len, 0x66756e6eu);
    if (dd->index[probe(dd, h)] != 0) {
        *fresh = false;
        return FD_OK;
    }
    if (dd->npending == dd->pending_cap) {
        size_t ncap = dd->pending_cap ? dd->pending_cap * 2 : 1024;
        unsigned char *np = realloc(dd->pending, ncap * FD_DEDUPE_ID_BYTES);
        if (np == NULL) return FD_ERR_NOMEM;
        dd->pending = np;
        dd->pending_cap = ncap;
    }
    put_id(dd->pending + dd->npending++ * FD_DEDUPE_ID_BYTES, h);
    remember(dd, h);
    *fresh = true;
    return FD_OK;
}

void fd_dedupe_reset(fd_dedupe_t *dd) {
    memset(dd->index, 0, (dd->index_mask + 1) * sizeof *dd->index);
    dd->head = dd->count = 0;
    dd->npending = 0;
}

fd_err_t fd_dedupe_load(fd_dedupe_t *dd, const void *blob, size_t len) {
    if (len % FD_DEDUPE_ID_BYTES != 0) return FD_ERR_PARSE;
    fd_dedupe_reset(dd);
    const unsigned char *p = blob;
    size_t n = len / FD_DEDUPE_ID_BYTES;
    size_t first = n > dd->cap ? n - dd->cap : 0;
    for (size_t i = first; i < n; i++) {
        fd_hash128_t h = get_id(p + i * FD_DEDUPE_ID_BYTES);
        if (dd->index[probe(dd, h)] == 0) remember(dd, h);
    }
    return FD_OK;
}

const void *fd_dedupe_pending(const fd_dedupe_t *dd, size_t *count) {
    *count = dd->npending;
    return dd->pending;
}

void fd_dedupe_mark_applied(fd_dedupe_t *dd) {
    dd->npending = 0;
}
size_t fd_dedupe_count(const fd_dedupe_t *dd) {
    return dd->count;
}
size_t fd_dedupe_capacity(const fd_dedupe_t *dd) {
    return dd->cap;
}

// SPDX-License-Identifier: MIT
// String-keyed hash map, open addressing with linear probing and backward-shift deletion, so
// there are no tombstones and lookups stay short after many deletions (layer 0, pure).
#include "base/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

typedef struct {
    char *key; /* NULL = empty slot; a NUL-terminated copy */
    size_t len;
    uint64_t hash;
    void *value;
} slot_t;

struct fd_map {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t size;
};

fd_err_t fd_map_new(fd_map_t **out) {
    *out = NULL;
    fd_map_t *m = calloc(1, sizeof *m);
    if (m == NULL) return FD_ERR_NOMEM;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (m->slots == NULL) {
        free(m);
        return FD_ERR_NOMEM;
    }
    *out = m;
    return FD_OK;
}

void fd_map_clear(fd_map_t *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->size = 0;
}

void fd_map_destroy(fd_map_t *m) {
    if (m == NULL) return;
    fd_map_clear(m);
    free(m->slots);
    free(m);
}

static size_t find(const fd_map_t *m, const char *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const slot_t *s = &m->slots[i];
        if (s->key == NULL) return i;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return i;
    }
}

void *fd_map_get(const fd_map_t *m, const char *key, size_t len) {
    const slot_t *s = &m->slots[find(m, key, len, fd_hash64(key, len))];
    return s->key ? s->value : NULL;
}

static fd_err_t grow(fd_map_t *m) {
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL) return FD_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        slot_t *s = &m->slots[i];
        if (s->key == NULL) continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return FD_OK;
}

fd_err_t fd_map_put(fd_map_t *m, const char *key, size_t len, void *value) {
    uint64_t h = fd_hash64(key, len);
    size_t i = find(m, key, len, h);
    if (m->slots[i].key != NULL) {
        m->slots[i].value = value;
        return FD_OK;
    }
    /* Keep the load factor at most 3/4. */
    if ((m->size + 1) * 4 > m->cap * 3) {
        if (grow(m) != FD_OK) return FD_ERR_NOMEM;
        i = find(m, key, len, h);
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) return FD_ERR_NOMEM;
    memcpy(copy, key, len);
    copy[len] = '\0';
    m->slots[i] = (slot_t){.key = copy, .len = len, .hash = h, .value = value};
    m->size++;
    return FD_OK;
}

void *fd_map_del(fd_map_t *m, const char *key, size_t len) {
    size_t mask = m->cap - 1;
    size_t i = find(m, key, len, fd_hash64(key, len));
    if (m->slots[i].key == NULL) return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->size--;
    /* Backward shift: move later entries of the probe run into the hole when their home slot
     * does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (in_range) continue;
        m->slots[hole] = m->slots[j];
        m->slots[j].key = NULL;
        hole = j;
    }
    return value;
}

size_t fd_map_size(const fd_map_t *m) {
    return m->size;
}

bool fd_map_next(const fd_map_t *m, size_t *pos, const char **key, size_t *len, void **value) {
    for (; *pos < m->cap; (*pos)++) {
        const slot_t *s = &m->slots[*pos];
        if (s->key == NULL) continue;
        *key = s->key;
        *len = s->len;
        *value = s->value;
        (*pos)++;
        return true;
    }
    return false;
}

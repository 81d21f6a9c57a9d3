// SPDX-License-Identifier: MIT
// The batch ledger: one place for a batch's life from the first message read to its apply or
// drop, telling the deal cache, dead-letter queue, alert clock and store through hooks (layer 5).
#include "app/ledger.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/map.h"

typedef struct {
    fd_ledger_part_t pub; /* pub.topic is topic */
    char *topic;
} part_t;

struct fd_ledger {
    size_t dedupe_max;
    part_t *parts;
    size_t nparts, parts_cap;
    fd_batch_t *b;   /* the batch being read and folded */
    fd_batch_t *fly; /* the batch whose apply is in flight (when inflight) */
    bool inflight;
    /* Admitted deal events whose deal is not cached, waiting for the fold (deal states are
     * loaded for the whole batch at once), and their deal ids. */
    fd_event_t *waiting;
    size_t nwaiting, waiting_cap;
    fd_map_t *waiting_ids;
    fd_ledger_hook_t hooks[FD_LEDGER_HOOKS_MAX];
    size_t nhooks;
};

fd_err_t fd_ledger_new(const fd_ledger_opts_t *opts, fd_ledger_t **out) {
    *out = NULL;
    if (opts == NULL || opts->fn == NULL || opts->tw == NULL || opts->batch == NULL ||
        opts->dedupe_max == 0)
        return FD_ERR_INVAL;
    fd_ledger_t *lg = calloc(1, sizeof *lg);
    if (lg == NULL) return FD_ERR_NOMEM;
    lg->dedupe_max = opts->dedupe_max;
    if (fd_batch_new(opts->fn, opts->tw, opts->batch, &lg->b) != FD_OK ||
        fd_batch_new(opts->fn, opts->tw, opts->batch, &lg->fly) != FD_OK ||
        fd_map_new(&lg->waiting_ids) != FD_OK) {
        fd_ledger_destroy(lg);
        return FD_ERR_NOMEM;
    }
    *out = lg;
    return FD_OK;
}

static void part_free(part_t *p) {
    free(p->topic);
    fd_dedupe_destroy(p->pub.dd);
}

void fd_ledger_destroy(fd_ledger_t *lg) {
    if (lg == NULL) return;
    for (size_t i = 0; i < lg->nparts; i++)
        part_free(&lg->parts[i]);
    free(lg->parts);
    free(lg->waiting);
    fd_map_destroy(lg->waiting_ids);
    fd_batch_destroy(lg->b);
    fd_batch_destroy(lg->fly);
    free(lg);
}

fd_err_t fd_ledger_add_hook(fd_ledger_t *lg, const fd_ledger_hook_t *hook) {
    if (lg->nhooks == FD_LEDGER_HOOKS_MAX) return FD_ERR_FULL;
    lg->hooks[lg->nhooks++] = *hook;
    return FD_OK;
}

static part_t *part_find(const fd_ledger_t *lg, const char *topic, int32_t partition) {
    for (size_t i = 0; i < lg->nparts; i++)
        if (lg->parts[i].pub.partition == partition && strcmp(lg->parts[i].topic, topic) == 0)
            return &lg->parts[i];
    return NULL;
}

/* Whether batch b holds messages of (topic, partition). */
static bool batch_holds(const fd_batch_t *b, const char *topic, int32_t partition) {
    for (size_t i = 0; i < fd_batch_nparts(b); i++) {
        const fd_batch_part_t *bp = fd_batch_part_at(b, i);
        if (bp->partition == partition && strcmp(bp->topic, topic) == 0) return true;
    }
    return false;
}

void fd_ledger_revoke(fd_ledger_t *lg, const char *topic, int32_t partition) {
    part_t *p = part_find(lg, topic, partition);
    if (p == NULL) return;
    /* The batches borrow the partition's horizon, and neither can be applied without it. */
    if (batch_holds(lg->b, topic, partition) ||
        (lg->inflight && batch_holds(lg->fly, topic, partition))) {
        fd_log_warn("ledger",
                    "%s[%" PRId32 "] revoked with a batch not applied: dropping what is pending",
                    topic, partition);
        fd_ledger_drop(lg);
    }
    part_free(p);
    *p = lg->parts[--lg->nparts]; /* pub.topic points to the heap: it survives the move */
}

fd_err_t fd_ledger_assign(fd_ledger_t *lg, const char *topic, int32_t partition, fd_dedupe_t **dd) {
    *dd = NULL;
    fd_ledger_revoke(lg, topic, partition);
    if (lg->nparts == lg->parts_cap) {
        size_t ncap = lg->parts_cap ? lg->parts_cap * 2 : 16;
        part_t *np = realloc(lg->parts, ncap * sizeof *np);
        if (np == NULL) return FD_ERR_NOMEM;
        lg->parts = np;
        lg->parts_cap = ncap;
    }
    part_t *p = &lg->parts[lg->nparts];
    memset(p, 0, sizeof *p);
    p->topic = strdup(topic);
    if (p->topic == NULL || fd_dedupe_new(lg->dedupe_max, &p->pub.dd) != FD_OK) {
        part_free(p);
        return FD_ERR_NOMEM;
    }
    p->pub.topic = p->topic;
    p->pub.partition = partition;
    p->pub.stored = -1;
    p->pub.first = -1;
    lg->nparts++;
    *dd = p->pub.dd;
    return FD_OK;
}

fd_err_t fd_ledger_claimed(fd_ledger_t *lg, const char *topic, int32_t partition, const char *token,
                           int64_t stored) {
    part_t *p = part_find(lg, topic, partition);
    if (p == NULL) return FD_ERR_NOTFOUND;
    size_t len = strlen(token);
    if (len > FD_TOKEN_MAX) return FD_ERR_RANGE;
    memcpy(p->pub.token, token, len + 1);
    p->pub.stored = stored;
    p->pub.claimed = true;
    p->pub.started = false;
    p->pub.rewound = false;
    p->pub.first = -1;
    return FD_OK;
}

const fd_ledger_part_t *fd_ledger_part(const fd_ledger_t *lg, const char *topic,
                                       int32_t partition) {
    const part_t *p = part_find(lg, topic, partition);
    return p ? &p->pub : NULL;
}

size_t fd_ledger_nparts(const fd_ledger_t *lg) {
    return lg->nparts;
}

const fd_ledger_part_t *fd_ledger_part_at(const fd_ledger_t *lg, size_t i) {
    return i < lg->nparts ? &lg->parts[i].pub : NULL;
}

fd_err_t fd_ledger_take(fd_ledger_t *lg, const char *topic, int32_t partition, int64_t offset,
                        int *part) {
    part_t *p = part_find(lg, topic, partition);
    if (p == NULL || !p->pub.claimed) {
        /* Not ours (any more): its offset is not stored, so its owner reads it again. */
        fd_log_debug("service", "skipping %s[%" PRId32 "]@%" PRId64 ": partition not claimed",
                     topic, partition, offset);
        return FD_ERR_NOTFOUND;
    }
    int64_t stored = p->pub.stored;
    if (stored >= 0 && offset < stored) {
        /* Already applied: the log was rewound under us (offset reset, recreated topic). Its
         * effect is in Redis; counting it again would double it. */
        fd_log_error("service",
                     "skipping %s[%" PRId32 "]@%" PRId64 ": below the stored offset %" PRId64,
                     topic, partition, offset, stored);
        return FD_ERR_RANGE;
    }
    if (!p->pub.started) {
        p->pub.started = true;
        p->pub.first = offset;
        if (stored >= 0 && offset > stored)
            fd_log_warn("service",
                        "%s[%" PRId32 "]: resumed at offset %" PRId64 ", but the stored offset is "
                        "%" PRId64 ": Kafka no longer holds offsets %" PRId64 "..%" PRId64
                        " (deleted by retention or compaction, or transaction markers); events "
                        "among them were never counted",
                        topic, partition, offset, stored, stored, offset - 1);
    }
    fd_err_t err = fd_batch_part(lg->b, p->topic, partition, p->pub.token, stored, p->pub.dd, part);
    if (err != FD_OK) {
        /* not a skip (FD_ERR_RANGE means "below the stored offset" to the caller): the batch
         * cannot take the partition, so it is dropped and read again */
        fd_log_error("ledger", "%s[%" PRId32 "]: the batch cannot take the partition: %s", topic,
                     partition, fd_strerror(err));
        return FD_ERR_NOMEM;
    }
    return FD_OK;
}

fd_batch_t *fd_ledger_batch(fd_ledger_t *lg) {
    return lg->b;
}

const fd_batch_t *fd_ledger_inflight(const fd_ledger_t *lg) {
    return lg->inflight ? lg->fly : NULL;
}

fd_err_t fd_ledger_wait(fd_ledger_t *lg, const fd_event_t *ev) {
    if (lg->nwaiting == lg->waiting_cap) {
        size_t ncap = lg->waiting_cap ? lg->waiting_cap * 2 : 1024;
        fd_event_t *nw = realloc(lg->waiting, ncap * sizeof *nw);
        if (nw == NULL) return FD_ERR_NOMEM;
        lg->waiting = nw;
        lg->waiting_cap = ncap;
    }
    if (fd_map_put(lg->waiting_ids, ev->deal_id, strlen(ev->deal_id), (void *)1) != FD_OK)
        return FD_ERR_NOMEM;
    lg->waiting[lg->nwaiting++] = *ev;
    return FD_OK;
}

bool fd_ledger_is_waiting(const fd_ledger_t *lg, const char *deal_id) {
    return fd_map_get(lg->waiting_ids, deal_id, strlen(deal_id)) != NULL;
}

size_t fd_ledger_nwaiting(const fd_ledger_t *lg) {
    return lg->nwaiting;
}

const fd_event_t *fd_ledger_waiting_at(const fd_ledger_t *lg, size_t i) {
    assert(i < lg->nwaiting);
    return &lg->waiting[i];
}

void fd_ledger_clear_waiting(fd_ledger_t *lg) {
    lg->nwaiting = 0;
    fd_map_clear(lg->waiting_ids);
}

void fd_ledger_sent(fd_ledger_t *lg) {
    assert(!lg->inflight);
    fd_batch_t *b = lg->b;
    /* Handed over: the command holds the dedupe ids. The next batch starts at this one's offsets;
     * any refusal drops everything and claims again. */
    for (size_t i = 0; i < fd_batch_nparts(b); i++) {
        const fd_batch_part_t *bp = fd_batch_part_at(b, i);
        part_t *p = part_find(lg, bp->topic, bp->partition);
        if (p) {
            p->pub.stored = bp->next;
            fd_dedupe_mark_applied(p->pub.dd);
        }
    }
    for (size_t i = 0; i < lg->nhooks; i++)
        if (lg->hooks[i].sent) lg->hooks[i].sent(lg->hooks[i].opaque, b);
    lg->b = lg->fly;
    lg->fly = b;
    lg->inflight = true;
}

void fd_ledger_applied(fd_ledger_t *lg, bool already) {
    assert(lg->inflight);
    for (size_t i = 0; i < lg->nhooks; i++)
        if (lg->hooks[i].applied) lg->hooks[i].applied(lg->hooks[i].opaque, lg->fly, already);
    fd_batch_reset(lg->fly);
    lg->inflight = false;
}

void fd_ledger_drop(fd_ledger_t *lg) {
    const fd_batch_t *fly = lg->inflight ? lg->fly : NULL;
    for (size_t i = 0; i < lg->nhooks; i++)
        if (lg->hooks[i].dropped) lg->hooks[i].dropped(lg->hooks[i].opaque, fly);
    fd_batch_reset(lg->fly);
    lg->inflight = false;
    fd_batch_reset(lg->b);
    fd_ledger_clear_waiting(lg);
    for (size_t i = 0; i < lg->nparts; i++) {
        lg->parts[i].pub.claimed = false;
        lg->parts[i].pub.rewound = false;
        fd_dedupe_reset(lg->parts[i].pub.dd);
    }
}

size_t fd_ledger_rewind(fd_ledger_t *lg) {
    const fd_batch_t *fly = lg->inflight ? lg->fly : NULL;
    /* Which partitions the forgotten batches held, before they are emptied: only those moved
     * past what Redis holds (at most one apply is in flight, so every earlier one landed). */
    size_t n = 0;
    for (size_t i = 0; i < lg->nparts; i++) {
        fd_ledger_part_t *p = &lg->parts[i].pub;
        if (!p->claimed || !(batch_holds(lg->b, p->topic, p->partition) ||
                             (fly && batch_holds(fly, p->topic, p->partition))))
            continue;
        p->claimed = false;
        p->rewound = true;
        p->started = false;
        fd_dedupe_reset(p->dd);
        n++;
    }
    for (size_t i = 0; i < lg->nhooks; i++)
        if (lg->hooks[i].dropped) lg->hooks[i].dropped(lg->hooks[i].opaque, fly);
    fd_batch_reset(lg->fly);
    lg->inflight = false;
    fd_batch_reset(lg->b);
    fd_ledger_clear_waiting(lg);
    return n;
}

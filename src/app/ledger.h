// SPDX-License-Identifier: MIT
// The batch ledger: owns each claimed partition's token, stored offset and dedupe horizon, the
// batch being read (with its deal events waiting for their stored states) and the batch whose
// apply is in flight, and tells the registered hooks when a batch is sent, applied or dropped
// (layer 5; no I/O of its own: Redis and Kafka are reached through the hooks).
#ifndef FUNNELD_LEDGER_H
#define FUNNELD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/batch.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "model/timewin.h"

#define FD_LEDGER_HOOKS_MAX 8

typedef struct fd_ledger fd_ledger_t;

/* Settings of a ledger; read during fd_ledger_new only (fn and tw are borrowed by the batches
 * and must outlive the ledger). */
typedef struct {
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    const fd_batch_opts_t *batch; /* copied */
    size_t dedupe_max;            /* event ids remembered per partition (>= 1) */
} fd_ledger_opts_t;

/* A partition the ledger holds, read-only for callers. Valid until the next fd_ledger_assign or
 * fd_ledger_revoke. */
typedef struct {
    const char *topic;
    int32_t partition;
    char token[FD_TOKEN_MAX + 1]; /* the claim's fencing token; "" until claimed */
    int64_t stored;  /* the next offset Redis holds once the batch sent lands; -1: none */
    fd_dedupe_t *dd; /* the dedupe horizon; its pending ids go with the open batch */
    bool claimed;    /* false from assignment, and after a drop or rewind, until claimed */
    bool started;    /* a message was taken since the claim */
    bool rewound;    /* set aside by fd_ledger_rewind (keeping its token) until claimed again */
    int64_t first;   /* the offset of the first message taken since the claim; -1: none */
} fd_ledger_part_t;

/* Something to tell when a batch changes hands. Every callback may be NULL; all get opaque.
 * - sent(b): b's apply was handed to Redis (it is now in flight); later work is the next batch.
 * - applied(b, already): b's apply landed (already: an earlier attempt of it had landed).
 * - dropped(fly): everything not applied was forgotten: the batch being read, and the batch in
 *   flight, fly (NULL when none was; its apply may or may not land). Every partition must be
 *   claimed again; the messages are read again from the stored offsets.
 * The batches are lent for the call only. A hook must not call back into the ledger. */
typedef struct {
    const char *name; /* for logs and tests */
    void *opaque;
    void (*sent)(void *opaque, const fd_batch_t *b);
    void (*applied)(void *opaque, const fd_batch_t *b, bool already);
    void (*dropped)(void *opaque, const fd_batch_t *fly);
} fd_ledger_hook_t;

/* An empty ledger. FD_ERR_INVAL when opts lacks fn, tw, batch or dedupe_max; FD_ERR_NOMEM. *out
 * is NULL on error. */
fd_err_t fd_ledger_new(const fd_ledger_opts_t *opts, fd_ledger_t **out);
/* Frees the partitions, horizons and batches, calling no hook. NULL does nothing. */
void fd_ledger_destroy(fd_ledger_t *lg);

/* Registers hook (copied), told after the hooks registered before it. FD_ERR_FULL when
 * FD_LEDGER_HOOKS_MAX are registered. Register at set-up, before the first batch. */
fd_err_t fd_ledger_add_hook(fd_ledger_t *lg, const fd_ledger_hook_t *hook);

/* (topic, partition) was assigned: adds it unclaimed with an empty horizon and sets *dd to that
 * horizon, for the claim to load the stored event ids into. A partition held already is revoked
 * first (fd_ledger_revoke). FD_ERR_NOMEM: nothing added. */
fd_err_t fd_ledger_assign(fd_ledger_t *lg, const char *topic, int32_t partition, fd_dedupe_t **dd);
/* The claim of (topic, partition) succeeded: its messages are read from now on, into batches
 * fenced by token and continuing from stored (-1: Redis has no offset). Also ends a rewind
 * (fd_ledger_rewind): the same token, the offset Redis holds. FD_ERR_NOTFOUND when the
 * partition is not assigned; FD_ERR_RANGE when token is longer than FD_TOKEN_MAX. */
fd_err_t fd_ledger_claimed(fd_ledger_t *lg, const char *topic, int32_t partition, const char *token,
                           int64_t stored);
/* (topic, partition) was revoked (or its claim failed): forgets it and its horizon. Settle first:
 * when the batch being read or the one in flight holds the partition, everything not applied is
 * dropped first (fd_ledger_drop: the batch cannot be applied without it). Unknown: does nothing. */
void fd_ledger_revoke(fd_ledger_t *lg, const char *topic, int32_t partition);
/* The partition (topic, partition), or NULL when it is not assigned. */
const fd_ledger_part_t *fd_ledger_part(const fd_ledger_t *lg, const char *topic, int32_t partition);
/* Partitions assigned (claimed or not). */
size_t fd_ledger_nparts(const fd_ledger_t *lg);
/* The i-th partition held (0 <= i < fd_ledger_nparts), NULL beyond; valid as fd_ledger_part. */
const fd_ledger_part_t *fd_ledger_part_at(const fd_ledger_t *lg, size_t i);

/* Takes a message read at offset of (topic, partition) into the batch being read: adds the
 * partition to it (with its token, stored offset and horizon) and sets *part to its index there,
 * for fd_batch_admit / fd_batch_reject. Logs and refuses, changing nothing (skip the message):
 * FD_ERR_NOTFOUND when the partition is not claimed (not ours, or dropped since the claim: its
 * owner reads it again); FD_ERR_RANGE when offset is below the stored offset (already applied:
 * the log was rewound under us). FD_ERR_NOMEM (logged): the batch could not take the partition
 * (out of memory, or a part the fold refuses): drop the batch. */
fd_err_t fd_ledger_take(fd_ledger_t *lg, const char *topic, int32_t partition, int64_t offset,
                        int *part);
/* The batch being read and folded; valid for the ledger's life (its content changes with it). */
fd_batch_t *fd_ledger_batch(fd_ledger_t *lg);
/* The batch whose apply is in flight, or NULL when none is. */
const fd_batch_t *fd_ledger_inflight(const fd_ledger_t *lg);

/* Keeps a copy of ev, an admitted deal event of the batch being read whose deal is not cached:
 * it waits to be folded once the batch's deal states are loaded. FD_ERR_NOMEM: nothing kept. */
fd_err_t fd_ledger_wait(fd_ledger_t *lg, const fd_event_t *ev);
/* Whether an event of deal_id waits (a later one of the deal must wait behind it). */
bool fd_ledger_is_waiting(const fd_ledger_t *lg, const char *deal_id);
/* The waiting events, in the order they were kept; valid until the ledger changes. */
size_t fd_ledger_nwaiting(const fd_ledger_t *lg);
const fd_event_t *fd_ledger_waiting_at(const fd_ledger_t *lg, size_t i);
/* The waiting events were folded into the batch being read: forgets them. */
void fd_ledger_clear_waiting(fd_ledger_t *lg);

/* The batch being read was handed to Redis, fenced by its partitions' tokens: each of its
 * partitions now continues from its next offset, with its pending event ids applied; the sent
 * hooks run in order; it becomes the batch in flight and an empty batch is read. Call only when
 * nothing is in flight (read the answer first) and its waiting events were folded. */
void fd_ledger_sent(fd_ledger_t *lg);
/* The apply in flight landed (already: by an earlier attempt): the applied hooks run in order,
 * then the batch is emptied and nothing is in flight. Call only while a batch is in flight. */
void fd_ledger_applied(fd_ledger_t *lg, bool already);
/* Forgets everything not applied (a refused or failed apply, a batch that cannot be folded, a
 * rejoin): the dropped hooks run in order (told about the batch in flight, if any); both batches
 * and the waiting events are emptied; every partition becomes unclaimed with an empty horizon
 * (claims read Redis's truth again). */
void fd_ledger_drop(fd_ledger_t *lg);
/* Forgets everything not applied, as fd_ledger_drop does, but keeps the claims: for a batch
 * refused before any write for a reason that reading it again cures (a deal folded as new that
 * Redis holds), so that no new claim, epoch or rebalance is needed. The dropped hooks run in
 * order; both batches and the waiting events are emptied; each partition that either batch held
 * keeps its token and its `first` offset but is set aside (`rewound`; not `claimed`, so
 * fd_ledger_take skips its messages) with an empty horizon, until fd_ledger_claimed gives it,
 * under the same token, the offset and horizon Redis holds (and the caller moves the consumer
 * back there). The other partitions are untouched (everything they sent was applied). Returns
 * the number of partitions set aside. */
size_t fd_ledger_rewind(fd_ledger_t *lg);

#endif

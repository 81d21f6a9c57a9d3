// SPDX-License-Identifier: MIT
// The feed's state, live, idle, behind or stalled, as docs/feeds.md "Live, idle, behind, stalled"
// defines it, from what a reader saw of the change feed (layer 1, pure).
#ifndef FUNNELD_FEEDSTATUS_H
#define FUNNELD_FEEDSTATUS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { FD_FEED_LIVE = 0, FD_FEED_IDLE, FD_FEED_BEHIND, FD_FEED_STALLED } fd_feed_state_t;

#define FD_FEED_INTERVALS        3    /* intervals that make an entry recent */
#define FD_FEED_DEFAULT_INTERVAL 2000 /* ms, before any heartbeat was seen */

/* What the reader knows, every time on Redis's clock (stream ids' ms). */
typedef struct {
    int64_t now_ms;
    int64_t interval_ms; /* the latest heartbeat's interval_ms; <= 0: the default */
    int64_t entry_ms;    /* the newest entry of any kind; 0: none (or since: the anchor) */
    int64_t change_ms;   /* the newest change or bulk entry; 0: none */
    bool lagging;        /* a recent heartbeat (within 3 of its instance's intervals) has lag > 0 */
} fd_feed_view_t;

/* The state: stalled when no entry came for 3 intervals, or when lagging without a change for 3
 * intervals; behind when lagging with a recent change; live with a recent change; idle else. */
fd_feed_state_t fd_feed_state(const fd_feed_view_t *v);
/* "live", "idle", "behind", "stalled". */
const char *fd_feed_state_name(fd_feed_state_t s);

#endif

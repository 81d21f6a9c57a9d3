// SPDX-License-Identifier: MIT
// The feed's state from what a reader saw (layer 1, pure). See feedstatus.h.
#include "model/feedstatus.h"

fd_feed_state_t fd_feed_state(const fd_feed_view_t *v) {
    int64_t interval = v->interval_ms > 0 ? v->interval_ms : FD_FEED_DEFAULT_INTERVAL;
    int64_t span = FD_FEED_INTERVALS * interval;
    if (v->entry_ms <= 0 || v->now_ms - v->entry_ms >= span) return FD_FEED_STALLED;
    bool recent_change = v->change_ms > 0 && v->now_ms - v->change_ms < span;
    if (v->lagging) return recent_change ? FD_FEED_BEHIND : FD_FEED_STALLED;
    return recent_change ? FD_FEED_LIVE : FD_FEED_IDLE;
}

const char *fd_feed_state_name(fd_feed_state_t s) {
    static const char *const names[] = {"live", "idle", "behind", "stalled"};
    return (unsigned)s < 4 ? names[s] : "stalled";
}

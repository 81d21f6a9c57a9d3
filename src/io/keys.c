// SPDX-License-Identifier: MIT
// Every Redis key funneld reads or writes (layer 4, pure string building). Key layout:
// docs/redis.md, docs/alerts.md.
#include "io/keys.h"

#include <inttypes.h>
#include <stdio.h>

static size_t fmt_len(int n) {
    return n < 0 ? 0 : (size_t)n;
}

size_t fd_keys_metric_suffix(char *buf, size_t size, fd_scope_t scope, const char *window,
                             const char *id) {
    if (scope == FD_SCOPE_ORG) return fmt_len(snprintf(buf, size, "org:%s", window));
    return fmt_len(snprintf(buf, size, "%s:%s:%s", fd_scope_name(scope), window, id));
}

size_t fd_keys_metric(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                      const char *window, const char *id) {
    if (scope == FD_SCOPE_ORG) return fmt_len(snprintf(buf, size, "%s:org:%s", prefix, window));
    return fmt_len(snprintf(buf, size, "%s:%s:%s:%s", prefix, fd_scope_name(scope), window, id));
}

size_t fd_keys_metric_scan(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                           const char *window) {
    return fmt_len(snprintf(buf, size, "%s:%s:%s:", prefix, fd_scope_name(scope), window));
}

size_t fd_keys_part(char *buf, size_t size, const char *prefix, const char *topic,
                    int32_t partition) {
    return fmt_len(snprintf(buf, size, "%s:part:%s:%" PRId32, prefix, topic, partition));
}

size_t fd_keys_dedupe(char *buf, size_t size, const char *prefix, const char *topic,
                      int32_t partition) {
    return fmt_len(snprintf(buf, size, "%s:dedupe:%s:%" PRId32, prefix, topic, partition));
}

size_t fd_keys_deal(char *buf, size_t size, const char *prefix, const char *deal_id) {
    return fmt_len(snprintf(buf, size, "%s:deal:%s", prefix, deal_id));
}

size_t fd_keys_single(char *buf, size_t size, const char *prefix, const char *name) {
    return fmt_len(snprintf(buf, size, "%s:%s", prefix, name));
}

size_t fd_keys_alert_state(char *buf, size_t size, const char *prefix, const char *rule) {
    return fmt_len(snprintf(buf, size, "%s:alerts:state:%s", prefix, rule));
}

size_t fd_keys_score(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                     const char *period, const char *id) {
    return fmt_len(
        snprintf(buf, size, "%s:score:%s:%s:%s", prefix, fd_scope_name(scope), period, id));
}

size_t fd_keys_score_adj(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                         const char *period, const char *id) {
    return fmt_len(
        snprintf(buf, size, "%s:score:adj:%s:%s:%s", prefix, fd_scope_name(scope), period, id));
}

size_t fd_keys_rank_reps(char *buf, size_t size, const char *prefix, const char *period) {
    return fmt_len(snprintf(buf, size, "%s:rank:%s:rep", prefix, period));
}

size_t fd_keys_rank_teams(char *buf, size_t size, const char *prefix, const char *period) {
    return fmt_len(snprintf(buf, size, "%s:rank:%s:teams", prefix, period));
}

size_t fd_keys_rank_team(char *buf, size_t size, const char *prefix, const char *period,
                         const char *team) {
    return fmt_len(snprintf(buf, size, "%s:rank:%s:team:%s", prefix, period, team));
}

size_t fd_keys_staged(char *buf, size_t size, const char *prefix, const char *id) {
    return fmt_len(snprintf(buf, size, "%s:staged:%s", prefix, id));
}

size_t fd_keys_upload(char *buf, size_t size, const char *prefix, const char *stamp) {
    return fmt_len(snprintf(buf, size, "%s:upload:%s", prefix, stamp));
}

size_t fd_keys_upload_dedupe(char *buf, size_t size, const char *prefix, const char *stamp,
                             const char *topic, int32_t partition) {
    return fmt_len(
        snprintf(buf, size, "%s:upload:%s:%s:%" PRId32, prefix, stamp, topic, partition));
}

// SPDX-License-Identifier: MIT
// An alert notification: its stable ids, its one-line human summary rendered from a template
// (English and Chinese defaults), and its JSON document; pure (layer 3). Reference:
// docs/alerts.md.
#ifndef FUNNELD_ALERTMSG_H
#define FUNNELD_ALERTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "alerting/rules.h"

#define FD_ALERT_ID_LEN 32 /* hex digits of alert_id and episode_id */

/* Everything one notification says. Strings are borrowed for the duration of a call. */
typedef struct {
    const char *rule;
    const char *severity;
    const char *state;     /* "firing" or "resolved" */
    const char *scope;     /* "rep", "team", "org" */
    const char *scope_id;  /* rep or team id; "" for org */
    const char *team;      /* the rep's team (rep scope), the team (team scope), "" for org */
    const char *manager;   /* from the managers table; NULL when unknown */
    const char *kpi;       /* "exit_conv:proposal" */
    const char *stage;     /* the KPI's stage, NULL when it has none */
    const char *window;    /* "7d", "week" */
    const char *condition; /* "threshold", "target", "drift" */
    fd_rule_result_t r;    /* value, bound, target, change, z, samples */
    int64_t started_ms;    /* when the episode began firing */
    int64_t resolved_ms;   /* 0 unless resolved */
    int64_t at_ms;         /* the evaluation clock of this notification */
    uint32_t repeat;       /* 0 for the first firing notification, n for the n-th repeat */
} fd_alert_t;

/* alert_id: 32 hex digits of MurmurHash3-128 over (rule, scope, scope_id, started_ms, state,
 * repeat): the same notification always gets the same id (a re-delivery after a crash carries
 * it again), two different notifications never share one. */
void fd_alertmsg_id(const fd_alert_t *a, char out[FD_ALERT_ID_LEN + 1]);
/* episode_id: the same over (rule, scope, scope_id, started_ms): shared by an episode's firing,
 * repeats and resolved notifications. */
void fd_alertmsg_episode(const fd_alert_t *a, char out[FD_ALERT_ID_LEN + 1]);

/* Renders template tmpl (placeholders {name}, see docs/alerts.md; unknown ones are kept as
 * written) for a into buf, always NUL-terminated (truncated on a UTF-8 boundary if too long). */
void fd_alertmsg_summary(const char *tmpl, const fd_alert_t *a, char *buf, size_t size);
/* The same with the words of {state} and {scope} in locale: "en" (as fd_alertmsg_summary:
 * "firing", "rep") or "zh" ("告警中", "销售"); NULL or anything else is "en". */
void fd_alertmsg_summary_locale(const char *tmpl, const char *locale, const fd_alert_t *a,
                                char *buf, size_t size);

/* The alert's JSON document (one line, UTF-8), with summary already rendered. *out is malloc'd;
 * the caller frees it. FD_ERR_NOMEM. Fields: docs/alerts.md. */
fd_err_t fd_alertmsg_json(const fd_alert_t *a, const char *summary, char **out);

#endif

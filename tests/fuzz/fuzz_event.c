// SPDX-License-Identifier: MIT
// Fuzz target of the event contract (tests, drives layer 1): fd_event_parse on arbitrary bytes,
// checking the rejection path and the validated event against docs/events.md, and the RFC 3339
// reader fd_event_parse_time against gmtime_r.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_common.h"
#include "model/event.h"

#define MAX_EPOCH_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* An id of the contract: 1..FD_ID_MAX bytes of UTF-8 without control characters. */
static void check_id(const char *s, bool may_be_empty) {
    size_t len = strnlen(s, FD_ID_MAX + 1);
    FUZZ_CHECK(len <= FD_ID_MAX);
    FUZZ_CHECK(len > 0 || may_be_empty);
    FUZZ_CHECK(fuzz_printable(s));
    FUZZ_CHECK(fd_utf8_valid(s, len));
}

static void check_event(const fd_funnel_t *fn, const fd_event_t *ev) {
    int nstages = (int)fd_funnel_nstages(fn);
    FUZZ_CHECK((int)ev->type >= 0 && ev->type < FD_EVENT_TYPE_COUNT);
    check_id(ev->event_id, false);
    FUZZ_CHECK(strlen(ev->event_id) == ev->event_id_len);
    check_id(ev->rep_id, false);
    check_id(ev->team_id, false);
    bool is_deal = ev->type <= FD_DEAL_LOST;
    check_id(ev->deal_id, !is_deal);
    FUZZ_CHECK(ev->occurred_ms >= 0 && ev->occurred_ms <= MAX_EPOCH_MS);
    FUZZ_CHECK(ev->stage >= -1 && ev->stage < nstages);
    if (ev->type == FD_DEAL_STAGE_CHANGED) FUZZ_CHECK(ev->stage >= 0);
    if (ev->type == FD_DEAL_LOST) FUZZ_CHECK(ev->stage != nstages - 1);
    if (ev->type != FD_DEAL_CREATED && ev->type != FD_DEAL_STAGE_CHANGED &&
        ev->type != FD_DEAL_LOST)
        FUZZ_CHECK(ev->stage == -1);
    if (ev->type == FD_ACTIVITY_LOGGED)
        FUZZ_CHECK(ev->activity >= 0 && ev->activity < (int)fd_funnel_nkinds(fn));
    else
        FUZZ_CHECK(ev->activity == -1);
    FUZZ_CHECK(ev->amount_c == -1 ||
               (ev->amount_c >= 0 && ev->amount_c <= INT64_C(100000000000000000)));
    if (!is_deal) FUZZ_CHECK(ev->amount_c == -1);
    FUZZ_CHECK(ev->score_c == -1 || (ev->score_c >= 100 && ev->score_c <= 500));
    if (ev->type != FD_FEEDBACK_RECEIVED) FUZZ_CHECK(ev->score_c == -1 && !ev->complaint);
}

/* fd_event_parse_time against an independent reading: the wall time the text spells, minus its
 * offset, is the instant; gmtime_r of instant + offset gives the digits back. */
static void check_time(const char *s, size_t len) {
    int64_t ms;
    if (fd_event_parse_time(s, len, &ms) != FD_OK) return;
    FUZZ_CHECK(len >= 20);
    int off_s = 0;
    char last = s[len - 1];
    if (last != 'Z' && last != 'z') {
        FUZZ_CHECK(len >= 25 && (s[len - 6] == '+' || s[len - 6] == '-'));
        int hh = (s[len - 5] - '0') * 10 + (s[len - 4] - '0');
        int mm = (s[len - 2] - '0') * 10 + (s[len - 1] - '0');
        off_s = (s[len - 6] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    }
    int64_t local_ms = ms + (int64_t)off_s * 1000;
    int64_t secs = local_ms >= 0 ? local_ms / 1000 : -((-local_ms + 999) / 1000);
    int64_t frac = local_ms - secs * 1000;
    time_t t = (time_t)secs;
    struct tm tm;
    FUZZ_CHECK(gmtime_r(&t, &tm) != NULL);
    int d[6];
    for (int k = 0; k < 6; k++) {
        static const int at[6] = {0, 5, 8, 11, 14, 17}, width[6] = {4, 2, 2, 2, 2, 2};
        d[k] = 0;
        for (int j = 0; j < width[k]; j++)
            d[k] = d[k] * 10 + (s[at[k] + j] - '0');
    }
    int want_frac = 0, ndigits = 0;
    if (s[19] == '.')
        for (size_t i = 20; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndigits++)
            if (ndigits < 3) want_frac = want_frac * 10 + (s[i] - '0');
    for (; ndigits < 3; ndigits++)
        want_frac *= 10;
    if (d[5] == 60) { /* a leap second reads as the last millisecond of the minute */
        d[5] = 59;
        want_frac = 999;
    }
    FUZZ_CHECK(tm.tm_year + 1900 == d[0] && tm.tm_mon + 1 == d[1] && tm.tm_mday == d[2]);
    FUZZ_CHECK(tm.tm_hour == d[3] && tm.tm_min == d[4] && tm.tm_sec == d[5]);
    FUZZ_CHECK(frac == want_frac);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const fd_funnel_t *fn = fuzz_funnel();
    /* The parser must never read beyond len: there is no NUL after the payload, only a page
     * that faults. */
    const char *buf = fuzz_guarded_copy(data, size);

    fd_event_t ev, ev2;
    char errstr[512], small[8];
    memset(&ev, 0, sizeof ev);
    memset(&ev2, 0, sizeof ev2);
    fd_reject_t r = fd_event_parse(fn, buf, size, &ev, errstr, sizeof errstr);
    FUZZ_CHECK((int)r >= 0 && r < FD_REJECT_COUNT);
    FUZZ_CHECK(strcmp(fd_reject_name(r), "unknown") != 0);
    /* The reasons that look at raw bytes come first, in the table's order. */
    if (size > FD_EVENT_MAX_BYTES)
        FUZZ_CHECK(r == FD_REJECT_OVERSIZE);
    else
        FUZZ_CHECK((r == FD_REJECT_NOT_UTF8) == !fd_utf8_valid(buf, size));
    if (r == FD_REJECT_NONE) {
        FUZZ_CHECK(errstr[0] == '\0');
        check_event(fn, &ev);
    } else {
        /* A message a user can act on, on one printable line. */
        size_t n = strnlen(errstr, sizeof errstr);
        FUZZ_CHECK(n > 0 && n < sizeof errstr);
        FUZZ_CHECK(fuzz_printable(errstr));
        if (n + 1 < sizeof errstr) FUZZ_CHECK(fd_utf8_valid(errstr, n));
    }
    /* The same answer without a message buffer and with one too small for the message. */
    FUZZ_CHECK(fd_event_parse(fn, buf, size, &ev2, NULL, 0) == r);
    if (r == FD_REJECT_NONE) FUZZ_CHECK(memcmp(&ev, &ev2, sizeof ev) == 0);
    FUZZ_CHECK(fd_event_parse(fn, buf, size, &ev2, small, sizeof small) == r);
    FUZZ_CHECK(memchr(small, '\0', sizeof small) != NULL);

    check_time(buf, size);
    return 0;
}

// SPDX-License-Identifier: MIT
// Event contract: message bytes -> a validated fd_event_t or a rejection reason (layer 1, pure;
// cJSON stays inside this module). Contract: docs/events.md; order of checks: decisions "Event
// validation".
#include "model/event.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Largest epoch milliseconds accepted: 9999-12-31T23:59:59.999Z. */
#define MAX_EPOCH_MS INT64_C(253402300799999)
/* Amounts above this are rejected; 1e15 * 100 hundredths still fits an int64 with room. */
#define MAX_AMOUNT 1e15
/* Input bytes quoted in an error message before it is cut with "...". */
#define QUOTE_MAX 60

static const char *const reject_names[FD_REJECT_COUNT] = {"none",
#define X(name, text) text,
                                                          FD_REJECT_MAP(X)
#undef X
};

static const char *const type_names[FD_EVENT_TYPE_COUNT] = {
    "deal.created", "deal.stage_changed", "deal.won",
    "deal.lost",    "activity.logged",    "feedback.received",
};

const char *fd_reject_name(fd_reject_t reason) {
    if ((int)reason < 0 || reason >= FD_REJECT_COUNT) return "unknown";
    return reject_names[reason];
}

const char *fd_event_type_name(fd_event_type_t type) {
    if ((int)type < 0 || type >= FD_EVENT_TYPE_COUNT) return "unknown";
    return type_names[type];
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence starting at p (left bytes available), or 0 when it is
 * invalid: truncated, overlong, a surrogate (U+D800..U+DFFF) or above U+10FFFF. The second-byte
 * ranges are those of RFC 3629's table; every later byte is 80..BF. */
static size_t utf8_seq(const unsigned char *p, size_t left) {
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (left < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

bool fd_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

/* ---- error messages ---- */

static fd_reject_t reject(char *errstr, size_t errstr_size, fd_reject_t reason, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static fd_reject_t reject(char *errstr, size_t errstr_size, fd_reject_t reason, const char *fmt,
                          ...) {
    if (errstr != NULL && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return reason;
}

/* Writes len bytes of s as a double-quoted string into out, so that the message stays one
 * printable line whatever the input: quote, backslash and control characters (C0, DEL, C1) are
 * escaped, bytes that are not UTF-8 are shown as \xNN, and only the first QUOTE_MAX bytes are
 * kept (never cutting a character), followed by "..." when cut. */
static const char *quote(char *out, size_t size, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    bool cut = len > QUOTE_MAX;
    size_t end = cut ? QUOTE_MAX : len;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + o, size - o, __VA_ARGS__);                                         \
        if (w_ < 0 || (size_t)w_ >= size - o) return out;                                          \
        o += (size_t)w_;                                                                           \
    } while (0)
    if (size == 0) return out;
    out[0] = '\0';
    PUT("\"");
    while (i < end) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            PUT("\\%c", c);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            PUT("\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            PUT("%c", c);
            i++;
        } else {
            size_t n = utf8_seq(p + i, len - i);
            if (n == 0) {
                PUT("\\x%02x", c);
                i++;
            } else if (i + n > end) {
                break; /* the character straddles the cut */
            } else if (n == 2 && c == 0xC2 && p[i + 1] <= 0x9F) {
                PUT("\\u%04x", p[i + 1]); /* C1 control U+0080..U+009F */
                i += 2;
            } else {
                PUT("%.*s", (int)n, (const char *)p + i);
                i += n;
            }
        }
    }
    PUT("%s", cut ? "\"..." : "\"");
#undef PUT
    return out;
}

/* Quoted-string buffer size: each kept byte may become 6 bytes ("\u001f"), plus quotes and "...".
 */
#define QUOTE_SIZE (QUOTE_MAX * 6 + 8)

static const char *json_type_name(const cJSON *item) {
    switch (item->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
        return "boolean";
    case cJSON_NULL:
        return "null";
    case cJSON_Number:
        return "number";
    case cJSON_String:
        return "string";
    case cJSON_Array:
        return "array";
    case cJSON_Object:
        return "object";
    default:
        return "invalid value";
    }
}

/* ---- RFC 3339 ---- */

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Reads n decimal digits at s; false when one is not a digit. */
static bool read_digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil): the year is shifted to start in March so that the leap day is the last day
 * of the shifted year; a 400-year era has 146097 days; doy counts days since March 1 using the
 * 153-days-per-5-months pattern of the month lengths; 719468 is the day number of 1970-01-01
 * counted from 0000-03-01. */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

#define TIME_SHAPE "YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)"

/* RFC 3339 date-time of len bytes at s -> epoch ms. On failure returns -1 and, when why is not
 * NULL, a short reason ("month 13"). Accepts 'T', 't' or ' ' between date and time, 'Z' or 'z',
 * a fraction of 1..9 digits (truncated to ms) and second 60 (a leap second, read as 59.999). */
static int parse_time(const char *s, size_t len, int64_t *out_ms, char *why, size_t why_size) {
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (why != NULL && why_size > 0) snprintf(why, why_size, __VA_ARGS__);                     \
        return -1;                                                                                 \
    } while (0)
    int year, month, day, hour, minute, second, off_h = 0, off_m = 0, off_sign = 0;
    int64_t frac_ms = 0;
    if (len < 19 || !read_digits(s, 4, &year) || s[4] != '-' || !read_digits(s + 5, 2, &month) ||
        s[7] != '-' || !read_digits(s + 8, 2, &day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !read_digits(s + 11, 2, &hour) ||
        s[13] != ':' || !read_digits(s + 14, 2, &minute) || s[16] != ':' ||
        !read_digits(s + 17, 2, &second))
        BAD("expected " TIME_SHAPE);
    size_t i = 19;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(s[i])) {
            /* Keep the first three digits (milliseconds); the rest is truncated. */
            if (i - start < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
            i++;
        }
        size_t ndigits = i - start;
        if (ndigits == 0) BAD("no digits after the decimal point");
        if (ndigits > 9) BAD("fraction of %zu digits, at most 9", ndigits);
        for (size_t k = ndigits; k < 3; k++)
            frac_ms *= 10; /* ".1" is 100 ms */
    }
    if (i == len) BAD("missing offset: Z or +hh:mm");
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        off_sign = s[i] == '+' ? 1 : -1;
        if (len - i < 6 || !read_digits(s + i + 1, 2, &off_h) || s[i + 3] != ':' ||
            !read_digits(s + i + 4, 2, &off_m))
            BAD("malformed offset, expected Z or +hh:mm");
        i += 6;
    } else {
        BAD("expected Z or +hh:mm at byte %zu", i);
    }
    if (i != len) BAD("unexpected text after the offset at byte %zu", i);
    if (month < 1 || month > 12) BAD("month %d", month);
    if (day < 1 || day > days_in_month(year, month))
        BAD("day %d, %04d-%02d has %d days", day, year, month, days_in_month(year, month));
    if (hour > 23) BAD("hour %d", hour);
    if (minute > 59) BAD("minute %d", minute);
    if (second > 60) BAD("second %d", second);
    if (off_h > 23) BAD("offset hour %d", off_h);
    if (off_m > 59) BAD("offset minute %d", off_m);
    if (second == 60) { /* leap second: the last representable instant of that minute */
        second = 59;
        frac_ms = 999;
    }
    /* Local wall time minus the offset is UTC: 18:00+08:00 is 10:00Z. */
    int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                   (int64_t)off_sign * (off_h * 3600 + off_m * 60);
    *out_ms = secs * 1000 + frac_ms;
    return 0;
#undef BAD
}

fd_err_t fd_event_parse_time(const char *s, size_t len, int64_t *out_ms) {
    if (s == NULL || out_ms == NULL) return FD_ERR_INVAL;
    return parse_time(s, len, out_ms, NULL, 0) == 0 ? FD_OK : FD_ERR_PARSE;
}

/* ---- raw pre-scan ---- */

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Whether p[0..n) is a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const unsigned char *p, size_t n) {
    size_t i = 0;
    if (i < n && p[i] == '-') i++;
    if (i >= n) return false;
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && p[i] == '.') {
        size_t d = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d) return false;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t d = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == d) return false;
    }
    return i == n;
}

/* One linear pass over the raw bytes, before cJSON sees them, for what cJSON 1.7.15 lets through:
 * invalid UTF-8 (anywhere, reported first), nesting deeper than FD_EVENT_MAX_DEPTH, then "\u0000"
 * escapes, and JSON that cJSON is lax about (reported as NOT_JSON only if nothing else is found):
 * numbers outside the JSON grammar, raw control characters (cJSON takes any byte <= 0x20 outside a
 * string for white space, and copies them inside strings), non-ASCII bytes outside strings (this
 * includes a byte order mark, which cJSON skips), unknown escapes, and "\u" without four hex
 * digits (cJSON decodes those as U+0000). Strings and escapes are tracked so that brackets in
 * strings are not counted and "\\u0000" (an escaped backslash, then text) is not a NUL. */
static fd_reject_t prescan(const unsigned char *p, size_t len, size_t *at) {
    fd_reject_t found = FD_REJECT_NONE;
    size_t found_at = 0, bad_at = 0;
    bool bad_json = false, in_str = false;
    size_t depth = 0, i = 0;
#define NOTE_BAD(pos)                                                                              \
    do {                                                                                           \
        if (!bad_json) {                                                                           \
            bad_json = true;                                                                       \
            bad_at = (pos);                                                                        \
        }                                                                                          \
    } while (0)
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(p + i, len - i);
            if (n == 0) {
                *at = i;
                return FD_REJECT_NOT_UTF8;
            }
            if (!in_str) NOTE_BAD(i);
            i += n;
            continue;
        }
        if (found == FD_REJECT_TOO_DEEP) { /* settled; only UTF-8 can still outrank it */
            i++;
            continue;
        }
        if (in_str) {
            if (c == '"') {
                in_str = false;
            } else if (c == '\\') {
                unsigned char e = i + 1 < len ? p[i + 1] : 0;
                if (e == 'u') {
                    int v = 0, k = 0;
                    for (; k < 4 && i + 2 + (size_t)k < len; k++) {
                        int h = hex_value(p[i + 2 + (size_t)k]);
                        if (h < 0) break;
                        v = v * 16 + h;
                    }
                    if (k < 4) {
                        NOTE_BAD(i);
                        i += 2;
                        continue;
                    }
                    if (v == 0 && found == FD_REJECT_NONE) {
                        found = FD_REJECT_NUL_CHARACTER; /* too deep further on outranks it */
                        found_at = i;
                    }
                    i += 6;
                    continue;
                }
                if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                    e == 'r' || e == 't') {
                    i += 2;
                    continue;
                }
                NOTE_BAD(i); /* unknown escape or a backslash at the very end */
            } else if (c < 0x20) {
                NOTE_BAD(i);
            }
            i++;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            break;
        case '{':
        case '[':
            if (++depth > FD_EVENT_MAX_DEPTH) {
                found = FD_REJECT_TOO_DEEP;
                found_at = i;
            }
            break;
        case '}':
        case ']':
            if (depth == 0)
                NOTE_BAD(i);
            else
                depth--;
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            /* cJSON hands any run of these characters to strtod: "01", "1.", "-.5" and "1.e3"
             * would pass. Check the JSON grammar. */
            size_t end = i;
            while (end < len && strchr("0123456789+-.eE", p[end]) != NULL && p[end] != '\0')
                end++;
            if (!json_number(p + i, end - i)) NOTE_BAD(i);
            i = end;
            continue;
        }
        default:
            if (c < 0x20 || c == 0x7F) NOTE_BAD(i);
            break;
        }
        i++;
    }
    /* A payload that ends inside a string, object or array is not JSON; it is refused here so
     * that cJSON never runs off the end of a buffer that is not NUL-terminated: cJSON 1.7.15 to
     * 1.7.17 reads one byte past it when it ends just after a comma inside an object (upstream
     * issue 800, CVE-2023-53154; fixed in 1.7.18 and in Debian's 1.7.15-1+deb12u3). at = len
     * tells this case apart from a stray byte. */
    if (in_str || depth > 0) NOTE_BAD(len);
#undef NOTE_BAD
    if (found != FD_REJECT_NONE) {
        *at = found_at;
        return found;
    }
    if (bad_json) {
        *at = bad_at;
        return FD_REJECT_NOT_JSON;
    }
    return FD_REJECT_NONE;
}

/* ---- fields ---- */

enum {
    F_EVENT_ID,
    F_TYPE,
    F_OCCURRED_AT,
    F_REP_ID,
    F_TEAM_ID,
    F_DEAL_ID,
    F_STAGE,
    F_AMOUNT,
    F_ACTIVITY,
    F_SCORE,
    F_COMPLAINT,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {"event_id", "type",    "occurred_at", "rep_id",
                                                 "team_id",  "deal_id", "stage",       "amount",
                                                 "activity", "score",   "complaint"};

/* Index of a known top-level field, compared case-sensitively ("Event_ID" is unknown), or -1. */
static int field_index(const char *name) {
    for (int f = 0; f < F_COUNT; f++)
        if (name[0] == field_names[f][0] && strcmp(name, field_names[f]) == 0) return f;
    return -1;
}

static const char *key_of(const cJSON *item) {
    return item->string != NULL ? item->string : "";
}

/* Sorts a NULL-terminated list of n object members by key (merge sort: O(n log n), no
 * allocation; the list is this module's own parse tree, so relinking it is harmless). Only the
 * next links are meaningful on return; the caller repairs prev. */
static cJSON *sort_members(cJSON *head, size_t n) {
    if (n <= 1) return head;
    cJSON *mid = head;
    for (size_t i = 1; i < n / 2; i++)
        mid = mid->next;
    cJSON *b = mid->next;
    mid->next = NULL;
    cJSON *a = sort_members(head, n / 2);
    b = sort_members(b, n - n / 2);
    cJSON merged = {0}, *tail = &merged;
    while (a != NULL && b != NULL) {
        cJSON **pick = strcmp(key_of(a), key_of(b)) <= 0 ? &a : &b;
        tail->next = *pick;
        tail = *pick;
        *pick = (*pick)->next;
    }
    tail->next = a != NULL ? a : b;
    return merged.next;
}

/* Finds the known fields among root's members (known[f], NULL when absent) and rejects a
 * duplicate top-level key. Known keys are checked with the table; when at least two members are
 * unknown, the member list is sorted so that equal keys become neighbours. */
static fd_reject_t collect_fields(cJSON *root, const cJSON *known[F_COUNT], char *errstr,
                                  size_t errstr_size) {
    char q[QUOTE_SIZE];
    size_t n = 0, unknown = 0;
    for (int f = 0; f < F_COUNT; f++)
        known[f] = NULL;
    for (cJSON *it = root->child; it != NULL; it = it->next) {
        const char *key = key_of(it);
        int f = field_index(key);
        n++;
        if (f < 0) {
            unknown++;
        } else if (known[f] != NULL) {
            return reject(errstr, errstr_size, FD_REJECT_DUPLICATE_KEY,
                          "%s: key appears more than once in the object", key);
        } else {
            known[f] = it;
        }
    }
    if (unknown < 2) return FD_REJECT_NONE;
    root->child = sort_members(root->child, n);
    cJSON *prev = NULL;
    for (cJSON *it = root->child; it != NULL; prev = it, it = it->next) {
        it->prev = prev;
        if (prev != NULL && strcmp(key_of(prev), key_of(it)) == 0)
            return reject(errstr, errstr_size, FD_REJECT_DUPLICATE_KEY,
                          "%s: key appears more than once in the object",
                          quote(q, sizeof q, key_of(it), strlen(key_of(it))));
    }
    root->child->prev = prev; /* cJSON keeps the tail in the head's prev */
    return FD_REJECT_NONE;
}

/* Copies an id (JSON string of 1..FD_ID_MAX bytes without control characters) to dst. item NULL
 * means absent: missing_field when required (why_required says for what), else dst = dflt. */
static fd_reject_t take_id(const cJSON *item, const char *field, const char *why_required,
                           const char *dflt, char dst[FD_ID_MAX + 1], size_t *len_out, char *errstr,
                           size_t errstr_size) {
    char q[QUOTE_SIZE];
    if (item == NULL) {
        if (why_required != NULL)
            return reject(errstr, errstr_size, FD_REJECT_MISSING_FIELD, "%s: required%s, missing",
                          field, why_required);
        size_t dlen = strlen(dflt);
        memcpy(dst, dflt, dlen + 1);
        if (len_out != NULL) *len_out = dlen;
        return FD_REJECT_NONE;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE, "%s: expected string, got %s",
                      field, json_type_name(item));
    const unsigned char *s = (const unsigned char *)item->valuestring;
    size_t len = strlen(item->valuestring); /* exact: the pre-scan refused "\u0000" */
    if (len == 0)
        return reject(errstr, errstr_size, FD_REJECT_BAD_ID,
                      "%s: expected 1..%d bytes without control characters, got an empty string",
                      field, FD_ID_MAX);
    if (len > FD_ID_MAX)
        return reject(errstr, errstr_size, FD_REJECT_BAD_ID,
                      "%s: expected 1..%d bytes without control characters, got %zu bytes %s",
                      field, FD_ID_MAX, len, quote(q, sizeof q, item->valuestring, len));
    for (size_t i = 0; i < len; i++) {
        unsigned cp = 0;
        if (s[i] < 0x20 || s[i] == 0x7F)
            cp = s[i];
        else if (s[i] == 0xC2 && i + 1 < len && s[i + 1] <= 0x9F)
            cp = s[i + 1]; /* C1 */
        else
            continue;
        return reject(errstr, errstr_size, FD_REJECT_BAD_ID,
                      "%s: expected 1..%d bytes without control characters, got %s (control "
                      "character U+%04X at byte %zu)",
                      field, FD_ID_MAX, quote(q, sizeof q, item->valuestring, len), cp, i);
    }
    memcpy(dst, s, len + 1);
    if (len_out != NULL) *len_out = len;
    return FD_REJECT_NONE;
}

#define TIME_EXPECTED "occurred_at: expected RFC 3339 time or epoch milliseconds, got"

static fd_reject_t take_time(const cJSON *item, int64_t *out, char *errstr, size_t errstr_size) {
    char q[QUOTE_SIZE], why[96];
    int64_t ms;
    if (item == NULL)
        return reject(errstr, errstr_size, FD_REJECT_MISSING_FIELD,
                      "occurred_at: required, missing");
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        size_t len = strlen(item->valuestring);
        if (parse_time(item->valuestring, len, &ms, why, sizeof why) != 0)
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP, TIME_EXPECTED " %s (%s)",
                          quote(q, sizeof q, item->valuestring, len), why);
        if (ms < 0)
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " %s (before 1970-01-01T00:00:00Z)",
                          quote(q, sizeof q, item->valuestring, len));
        if (ms > MAX_EPOCH_MS)
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " %s (after 9999-12-31T23:59:59.999Z)",
                          quote(q, sizeof q, item->valuestring, len));
    } else if (cJSON_IsNumber(item)) {
        /* valuedouble, never valueint (saturates at INT_MAX). Every integer up to 2^53 is exact
         * in a double, and MAX_EPOCH_MS < 2^53, so the comparisons below are exact. */
        double x = item->valuedouble;
        if (!isfinite(x))
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " a number too large to represent");
        if (x != floor(x))
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " %.15g (not an integer)", x);
        if (x < 0)
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " %.15g (before 1970-01-01T00:00:00Z)", x);
        if (x > (double)MAX_EPOCH_MS)
            return reject(errstr, errstr_size, FD_REJECT_BAD_TIMESTAMP,
                          TIME_EXPECTED " %.15g (after 9999-12-31T23:59:59.999Z)", x);
        ms = (int64_t)x;
    } else {
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE,
                      "occurred_at: expected string (RFC 3339) or integer (epoch ms), got %s",
                      json_type_name(item));
    }
    *out = ms;
    return FD_REJECT_NONE;
}

static fd_reject_t take_type(const cJSON *item, fd_event_type_t *out, char *errstr,
                             size_t errstr_size) {
    char q[QUOTE_SIZE];
    if (item == NULL)
        return reject(errstr, errstr_size, FD_REJECT_MISSING_FIELD, "type: required, missing");
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE, "type: expected string, got %s",
                      json_type_name(item));
    for (int t = 0; t < FD_EVENT_TYPE_COUNT; t++) {
        if (strcmp(item->valuestring, type_names[t]) == 0) {
            *out = (fd_event_type_t)t;
            return FD_REJECT_NONE;
        }
    }
    return reject(errstr, errstr_size, FD_REJECT_UNKNOWN_TYPE,
                  "type: expected deal.created, deal.stage_changed, deal.won, deal.lost, "
                  "activity.logged or feedback.received, got %s",
                  quote(q, sizeof q, item->valuestring, strlen(item->valuestring)));
}

/* stage per event type: required on deal.stage_changed, optional on deal.created and deal.lost
 * (not the won stage on deal.lost), ignored elsewhere. */
static fd_reject_t take_stage(const fd_funnel_t *fn, const cJSON *item, fd_event_type_t type,
                              int *out, char *errstr, size_t errstr_size) {
    char q[QUOTE_SIZE];
    *out = -1;
    if (type != FD_DEAL_CREATED && type != FD_DEAL_STAGE_CHANGED && type != FD_DEAL_LOST)
        return FD_REJECT_NONE;
    if (item == NULL) {
        if (type == FD_DEAL_STAGE_CHANGED)
            return reject(errstr, errstr_size, FD_REJECT_MISSING_FIELD,
                          "stage: required for deal.stage_changed, missing");
        return FD_REJECT_NONE;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE, "stage: expected string, got %s",
                      json_type_name(item));
    size_t len = strlen(item->valuestring);
    int stage;
    if (!fd_funnel_stage_index(fn, item->valuestring, len, &stage))
        return reject(errstr, errstr_size, FD_REJECT_UNKNOWN_STAGE,
                      "stage: expected a configured stage, got unknown stage %s for %s",
                      quote(q, sizeof q, item->valuestring, len), type_names[type]);
    if (type == FD_DEAL_LOST && (size_t)stage + 1 == fd_funnel_nstages(fn))
        return reject(errstr, errstr_size, FD_REJECT_BAD_STAGE,
                      "stage: expected a stage before the won stage for deal.lost, got \"%s\"",
                      fd_funnel_stage_name(fn, stage));
    *out = stage;
    return FD_REJECT_NONE;
}

static fd_reject_t take_amount(const cJSON *item, fd_event_type_t type, int64_t *out, char *errstr,
                               size_t errstr_size) {
    *out = -1;
    if (type > FD_DEAL_LOST || item == NULL) return FD_REJECT_NONE; /* deal.* only */
    if (!cJSON_IsNumber(item))
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE, "amount: expected number, got %s",
                      json_type_name(item));
    double x = item->valuedouble;
    if (!isfinite(x))
        return reject(errstr, errstr_size, FD_REJECT_BAD_AMOUNT,
                      "amount: expected a finite number in [0, 1e15], got a number too large to "
                      "represent");
    if (!(x >= 0 && x <= MAX_AMOUNT))
        return reject(errstr, errstr_size, FD_REJECT_BAD_AMOUNT,
                      "amount: expected a finite number in [0, 1e15], got %.15g", x);
    /* Hundredths, half away from zero, on the binary value: 10.125 is exact and gives 1013;
     * 1.005 is stored as 1.00499999... and gives 100. */
    *out = (int64_t)llround(x * 100);
    return FD_REJECT_NONE;
}

static fd_reject_t take_activity(const fd_funnel_t *fn, const cJSON *item, int *out, char *errstr,
                                 size_t errstr_size) {
    char q[QUOTE_SIZE];
    if (item == NULL)
        return reject(errstr, errstr_size, FD_REJECT_MISSING_FIELD,
                      "activity: required for activity.logged, missing");
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE,
                      "activity: expected string, got %s", json_type_name(item));
    size_t len = strlen(item->valuestring);
    int kind;
    if (!fd_funnel_kind_index(fn, item->valuestring, len, &kind))
        return reject(errstr, errstr_size, FD_REJECT_UNKNOWN_ACTIVITY,
                      "activity: expected a configured activity kind, got %s",
                      quote(q, sizeof q, item->valuestring, len));
    *out = kind;
    return FD_REJECT_NONE;
}

static fd_reject_t take_feedback(const cJSON *score, const cJSON *complaint, fd_event_t *ev,
                                 char *errstr, size_t errstr_size) {
    if (score != NULL) {
        if (!cJSON_IsNumber(score))
            return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE,
                          "score: expected number, got %s", json_type_name(score));
        double x = score->valuedouble;
        if (!isfinite(x))
            return reject(errstr, errstr_size, FD_REJECT_BAD_SCORE,
                          "score: expected a number in [1, 5], got a number too large to "
                          "represent");
        if (!(x >= 1 && x <= 5))
            return reject(errstr, errstr_size, FD_REJECT_BAD_SCORE,
                          "score: expected a number in [1, 5], got %.15g", x);
        ev->score_c = (int32_t)llround(x * 100);
    }
    if (complaint != NULL) {
        if (!cJSON_IsBool(complaint))
            return reject(errstr, errstr_size, FD_REJECT_WRONG_TYPE,
                          "complaint: expected boolean, got %s", json_type_name(complaint));
        ev->complaint = cJSON_IsTrue(complaint);
    }
    return FD_REJECT_NONE;
}

static fd_reject_t validate(const fd_funnel_t *fn, const cJSON *const known[F_COUNT],
                            fd_event_t *ev, char *errstr, size_t errstr_size) {
    fd_reject_t r;
    size_t len = 0;
    if ((r = take_id(known[F_EVENT_ID], "event_id", "", NULL, ev->event_id, &len, errstr,
                     errstr_size)) != FD_REJECT_NONE)
        return r;
    ev->event_id_len = (uint8_t)len;
    if ((r = take_type(known[F_TYPE], &ev->type, errstr, errstr_size)) != FD_REJECT_NONE ||
        (r = take_time(known[F_OCCURRED_AT], &ev->occurred_ms, errstr, errstr_size)) !=
            FD_REJECT_NONE ||
        (r = take_id(known[F_REP_ID], "rep_id", "", NULL, ev->rep_id, NULL, errstr, errstr_size)) !=
            FD_REJECT_NONE ||
        (r = take_id(known[F_TEAM_ID], "team_id", NULL, FD_TEAM_UNASSIGNED, ev->team_id, NULL,
                     errstr, errstr_size)) != FD_REJECT_NONE)
        return r;
    bool is_deal = ev->type <= FD_DEAL_LOST;
    char why[48];
    snprintf(why, sizeof why, " for %s", type_names[ev->type]);
    if ((r = take_id(known[F_DEAL_ID], "deal_id", is_deal ? why : NULL, "", ev->deal_id, NULL,
                     errstr, errstr_size)) != FD_REJECT_NONE ||
        (r = take_stage(fn, known[F_STAGE], ev->type, &ev->stage, errstr, errstr_size)) !=
            FD_REJECT_NONE ||
        (r = take_amount(known[F_AMOUNT], ev->type, &ev->amount_c, errstr, errstr_size)) !=
            FD_REJECT_NONE)
        return r;
    ev->activity = -1;
    ev->score_c = -1;
    ev->complaint = false;
    if (ev->type == FD_ACTIVITY_LOGGED)
        return take_activity(fn, known[F_ACTIVITY], &ev->activity, errstr, errstr_size);
    if (ev->type == FD_FEEDBACK_RECEIVED)
        return take_feedback(known[F_SCORE], known[F_COMPLAINT], ev, errstr, errstr_size);
    return FD_REJECT_NONE;
}

fd_reject_t fd_event_parse(const fd_funnel_t *fn, const void *buf, size_t len, fd_event_t *ev,
                           char *errstr, size_t errstr_size) {
    const unsigned char *p = buf;
    const cJSON *known[F_COUNT];
    const char *end = NULL;
    size_t at = 0;
    fd_reject_t r;
    if (errstr != NULL && errstr_size > 0) errstr[0] = '\0';
    if (len > FD_EVENT_MAX_BYTES)
        return reject(errstr, errstr_size, FD_REJECT_OVERSIZE,
                      "payload: expected at most %d bytes, got %zu", FD_EVENT_MAX_BYTES, len);
    switch ((r = prescan(p, len, &at))) {
    case FD_REJECT_NONE:
        break;
    case FD_REJECT_NOT_UTF8:
        return reject(errstr, errstr_size, r,
                      "payload: expected UTF-8, got an invalid byte 0x%02x "
                      "at byte %zu",
                      p[at], at);
    case FD_REJECT_TOO_DEEP:
        return reject(errstr, errstr_size, r,
                      "payload: expected nesting of at most %d levels, "
                      "got deeper at byte %zu",
                      FD_EVENT_MAX_DEPTH, at);
    case FD_REJECT_NUL_CHARACTER:
        return reject(errstr, errstr_size, r,
                      "payload: expected no NUL characters, got a "
                      "\\u0000 escape at byte %zu",
                      at);
    default:
        if (at == len)
            return reject(errstr, errstr_size, r,
                          "payload: expected JSON, got the end of the payload inside a string, "
                          "object or array at byte %zu",
                          at);
        return reject(errstr, errstr_size, r,
                      "payload: expected JSON, got a stray or control "
                      "character at byte %zu",
                      at);
    }
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)p, len, &end, 0);
    if (root == NULL) {
        size_t pos = end != NULL ? (size_t)(end - (const char *)p) : 0;
        return reject(errstr, errstr_size, FD_REJECT_NOT_JSON,
                      "payload: expected JSON, got a syntax error near byte %zu", pos);
    }
    /* cJSON stops after the first value; only JSON white space may follow it. */
    for (size_t i = (size_t)(end - (const char *)p); i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
            r = reject(errstr, errstr_size, FD_REJECT_NOT_JSON,
                       "payload: expected one JSON value, got trailing bytes at byte %zu", i);
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        r = reject(errstr, errstr_size, FD_REJECT_NOT_OBJECT,
                   "payload: expected a JSON object, got %s", json_type_name(root));
        goto done;
    }
    if ((r = collect_fields(root, known, errstr, errstr_size)) != FD_REJECT_NONE) goto done;
    r = validate(fn, known, ev, errstr, errstr_size);
done:
    cJSON_Delete(root);
    return r;
}

// SPDX-License-Identifier: MIT
// funnel-gen's string builder over a fixed buffer: no allocation on the hot path, overflow is
// sticky (tool, outside the layers). Header-only: every byte of every event goes through it.
#ifndef FUNNEL_GEN_SB_H
#define FUNNEL_GEN_SB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
    bool overflow;
} sb_t;

static inline void sb_init(sb_t *b, char *buf, size_t cap) {
    *b = (sb_t){.p = buf, .cap = cap};
}

static inline void sb_mem(sb_t *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* A string literal (the "" around s refuses anything else at compile time). */
#define sb_lit(b, s) sb_mem((b), "" s "", sizeof(s) - 1)

static inline void sb_str(sb_t *b, const char *s) {
    sb_mem(b, s, strlen(s));
}

static inline void sb_char(sb_t *b, char c) {
    sb_mem(b, &c, 1);
}

static inline void sb_u64(sb_t *b, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_mem(b, tmp + sizeof tmp - n, (size_t)n);
}

static inline void sb_i64(sb_t *b, int64_t v) {
    if (v < 0) {
        sb_char(b, '-');
        sb_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_u64(b, (uint64_t)v);
    }
}

/* v zero-padded to width digits (v >= 0). */
static inline void sb_pad(sb_t *b, uint64_t v, int width) {
    char tmp[24];
    for (int i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    sb_mem(b, tmp, (size_t)width);
}

/* Hundredths as a JSON number with two decimals: 123456 -> 1234.56. */
static inline void sb_cents(sb_t *b, int64_t c) {
    if (c < 0) {
        sb_char(b, '-');
        c = -c;
    }
    sb_u64(b, (uint64_t)(c / 100));
    sb_char(b, '.');
    sb_pad(b, (uint64_t)(c % 100), 2);
}

/* A JSON string of s: quotes, and backslash escapes for '"' and '\\'. Callers pass text without
 * control characters (ids are checked when loaded). */
static inline void sb_json(sb_t *b, const char *s, size_t n) {
    sb_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            sb_mem(b, s + run, i - run);
            sb_char(b, '\\');
            run = i;
        }
    }
    sb_mem(b, s + run, n - run);
    sb_char(b, '"');
}

#endif

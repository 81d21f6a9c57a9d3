// SPDX-License-Identifier: MIT
// funnelctl's aligned text tables: columns padded to the display width of their cells in a
// terminal (East Asian wide characters take two columns, combining marks none) (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

size_t display_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p, n = 1;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1f, n = 2;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0f, n = 3;
        } else {
            cp = *p & 0x07, n = 4;
        }
        p++;
        for (int i = 1; i < n && (*p & 0xc0) == 0x80; i++, p++)
            cp = (cp << 6) | (*p & 0x3f);
        bool wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
                    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
                    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
                    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
                    (cp >= 0x20000 && cp <= 0x3fffd);
        /* combining marks, zero-width joiner and spaces, variation selectors: no column */
        bool zero = (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x0483 && cp <= 0x0489) ||
                    (cp >= 0x0591 && cp <= 0x05bd) || (cp >= 0x0610 && cp <= 0x061a) ||
                    (cp >= 0x064b && cp <= 0x065f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
                    (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x200b && cp <= 0x200f) ||
                    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
                    (cp >= 0xfe20 && cp <= 0xfe2f);
        w += zero ? 0 : wide ? 2 : 1;
    }
    return w;
}

/* The length in bytes of the UTF-8 sequence starting with byte c (1 for a stray byte). */
static size_t seq_len(unsigned char c) {
    return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

char *fit_width(const char *s, size_t max) {
    if (display_width(s) <= max) return xstrdup(s);
    /* keep whole characters while they and the ellipsis fit in max columns */
    size_t len = strlen(s), keep = 0;
    char *out = xcalloc(len + 4, 1);
    while (max > 0 && keep < len) {
        size_t n = seq_len((unsigned char)s[keep]);
        if (keep + n > len) break;
        memcpy(out, s, keep + n);
        out[keep + n] = '\0';
        if (display_width(out) + 1 > max) break;
        keep += n;
    }
    out[keep] = '\0';
    if (max > 0) strcat(out, "\xe2\x80\xa6"); /* U+2026, one column */
    return out;
}

void table_cell(table_t *t, const char *text) {
    strvec_push(&t->cells, xstrdup(text ? text : ""));
}

void table_print(FILE *out, table_t *t) {
    size_t width[TABLE_MAX_COLS] = {0};
    size_t nrows = t->cells.n / t->ncols;
    for (size_t i = 0; i < t->cells.n; i++) {
        size_t w = display_width(t->cells.item[i]);
        if (w > width[i % t->ncols]) width[i % t->ncols] = w;
    }
    for (size_t r = 0; r < nrows; r++) {
        /* assemble the line, then drop trailing blanks (empty cells at the end) */
        char *line = NULL;
        size_t len = 0;
        FILE *l = xmemstream(&line, &len);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells.item[r * t->ncols + c];
            size_t pad = width[c] - display_width(s);
            bool left = c == 0 || t->left[c];
            if (c > 0) fputs("  ", l);
            if (!left) fprintf(l, "%*s", (int)pad, "");
            fputs(s, l);
            if (left) fprintf(l, "%*s", (int)pad, "");
        }
        fclose(l);
        while (len > 0 && line[len - 1] == ' ')
            line[--len] = '\0';
        fprintf(out, "%s\n", line);
        free(line);
    }
    strvec_clear(&t->cells);
}

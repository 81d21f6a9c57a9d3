// SPDX-License-Identifier: MIT
// fd-config-doc: prints the settings reference table of docs/configuration.md, checks that a file
// holds exactly that table between its markers, or rewrites the table in place.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

#define BEGIN_MARK "<!-- settings:begin -->\n"
#define END_MARK   "<!-- settings:end -->\n"

static char *generated_table(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL) return NULL;
    fd_config_print_reference(mem, true);
    if (fclose(mem) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Whether doc holds the marker lines; *begin gets the first byte after the begin marker, *end
 * the end marker. */
static bool find_region(const char *doc, const char **begin, const char **end) {
    const char *b = strstr(doc, BEGIN_MARK);
    if (b == NULL || (b != doc && b[-1] != '\n')) return false;
    b += strlen(BEGIN_MARK);
    const char *e = strstr(b, END_MARK);
    if (e == NULL || (e != b && e[-1] != '\n')) return false;
    *begin = b;
    *end = e;
    return true;
}

/* Prints the first line where the file and the generated table differ. */
static void diff_hint(const char *path, const char *have, size_t have_len, const char *want) {
    size_t line = 1;
    const char *h = have, *w = want, *h_end = have + have_len;
    for (;;) {
        const char *hn = memchr(h, '\n', (size_t)(h_end - h));
        const char *wn = strchr(w, '\n');
        size_t hl = hn ? (size_t)(hn - h) : (size_t)(h_end - h);
        size_t wl = wn ? (size_t)(wn - w) : strlen(w);
        bool h_done = h >= h_end, w_done = *w == '\0';
        if (h_done && w_done) break;
        if (h_done != w_done || hl != wl || memcmp(h, w, hl) != 0) {
            fprintf(stderr, "%s: settings table out of date at table line %zu\n", path, line);
            fprintf(stderr, "  expected: %.*s\n", (int)wl, w_done ? "(end of table)" : w);
            fprintf(stderr, "  found:    %.*s\n", (int)hl, h_done ? "(end of table)" : h);
            break;
        }
        h = hn ? hn + 1 : h_end;
        w = wn ? wn + 1 : w + wl;
        line++;
    }
    fprintf(stderr, "Regenerate with: fd-config-doc --write %s\n", path);
}

/* Prints the usage on out: stdout for --help (exit 0), stderr for a usage error (exit 2). */
static void usage(FILE *out) {
    fprintf(out, "usage: fd-config-doc            print the settings table (markdown)\n"
                 "       fd-config-doc --check FILE  exit 0 when FILE holds the current table\n"
                 "       fd-config-doc --write FILE  replace the table in FILE\n"
                 "       fd-config-doc --help        this text\n");
}

int main(int argc, char **argv) {
    if (argc == 1) {
        fd_config_print_reference(stdout, true);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "--check") != 0 && strcmp(argv[1], "--write") != 0)) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[2];
    int rc = 1;
    char *want = generated_table();
    char *doc = read_all(path);
    const char *begin = NULL, *end = NULL;
    if (want == NULL || doc == NULL) {
        fprintf(stderr, "%s: cannot read (or out of memory)\n", path);
        goto done;
    }
    if (!find_region(doc, &begin, &end)) {
        fprintf(stderr, "%s: no lines %.*s and %.*s\n", path, (int)strlen(BEGIN_MARK) - 1,
                BEGIN_MARK, (int)strlen(END_MARK) - 1, END_MARK);
        goto done;
    }
    size_t have_len = (size_t)(end - begin);
    bool same = have_len == strlen(want) && memcmp(begin, want, have_len) == 0;
    if (strcmp(argv[1], "--check") == 0) {
        if (!same) diff_hint(path, begin, have_len, want);
        rc = same ? 0 : 1;
        goto done;
    }
    if (!same) {
        FILE *f = fopen(path, "wb");
        if (f == NULL) {
            perror(path);
            goto done;
        }
        fwrite(doc, 1, (size_t)(begin - doc), f);
        fputs(want, f);
        fputs(end, f);
        if (fclose(f) != 0) {
            perror(path);
            goto done;
        }
    }
    rc = 0;
done:
    free(want);
    free(doc);
    return rc;
}

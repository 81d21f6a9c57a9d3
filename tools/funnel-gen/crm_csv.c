// SPDX-License-Identifier: MIT
// funnel-gen's CRM export loader (--reps-file): reps and their managers from a CSV with the
// columns sales_agent and manager, such as a CRM's sales_teams.csv (tool, outside the layers).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* Whether an id satisfies the contract: 1..128 bytes of UTF-8 without control characters. */
bool valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX || !fd_utf8_valid(s, n)) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return false; /* U+0080..U+009F */
    }
    return true;
}

/* Splits one CSV line into at most max fields in place ("a","b ""c""",d); returns the count. */
static int csv_split(char *line, char **field, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') break;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        char end = *p;
        *out = '\0';
        if (n < max) field[n++] = start;
        if (end != ',') break;
        p++;
    }
    return n;
}

/* Trims spaces in place. */
char *trim(char *s) {
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Reads reps from a CSV with the columns sales_agent and manager (others ignored): rep_id = the
 * agent, team_id = the manager's name lower-cased (ASCII letters) with spaces as '-'. */
fd_err_t load_reps_file(gen_t *g, const char *path) {
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    fd_err_t rc = FD_ERR_INVAL;
    int col_agent = -1, col_manager = -1;
    long lineno = 0;
    if (!f) {
        fprintf(stderr, PROG ": --reps-file %s: %s\n", path, strerror(errno));
        return FD_ERR_IO;
    }
    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0) continue;
        char *field[64];
        int n = csv_split(line, field, 64);
        if (col_agent < 0) {
            for (int i = 0; i < n; i++) {
                char *name = trim(field[i]);
                if (lineno == 1 && strncmp(name, "\xef\xbb\xbf", 3) == 0)
                    name += 3; /* a BOM before the header */
                if (strcmp(name, "sales_agent") == 0)
                    col_agent = i;
                else if (strcmp(name, "manager") == 0)
                    col_manager = i;
            }
            if (col_agent < 0 || col_manager < 0) {
                fprintf(stderr,
                        PROG ": --reps-file %s: line %ld: expected a header with the "
                             "columns sales_agent and manager, got '%s'\n",
                        path, lineno, line);
                goto done;
            }
            continue;
        }
        if (n <= col_agent || n <= col_manager) {
            fprintf(stderr,
                    PROG ": --reps-file %s: line %ld: expected at least %d fields, got %d\n", path,
                    lineno, (col_agent > col_manager ? col_agent : col_manager) + 1, n);
            goto done;
        }
        char *agent = trim(field[col_agent]), *manager = trim(field[col_manager]);
        for (char *p = manager; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
            else if (*p == ' ')
                *p = '-';
        }
        if (!valid_id(agent) || !valid_id(manager)) {
            fprintf(stderr,
                    PROG ": --reps-file %s: line %ld: expected ids of 1..%d bytes of "
                         "UTF-8 without control characters, got agent '%s' manager '%s'\n",
                    path, lineno, FD_ID_MAX, agent, manager);
            goto done;
        }
        uint32_t team;
        if (add_team(g, manager, &team) != FD_OK || add_rep(g, agent, team) != FD_OK) {
            fprintf(stderr, PROG ": out of memory\n");
            rc = FD_ERR_NOMEM;
            goto done;
        }
        if (g->nreps >= MAX_REPS) break;
    }
    if (col_agent < 0 || g->nreps == 0) {
        fprintf(stderr, PROG ": --reps-file %s: no reps found\n", path);
        goto done;
    }
    rc = FD_OK;
done:
    free(line);
    fclose(f);
    return rc;
}

// SPDX-License-Identifier: MIT
// funnelctl's messages, exit statuses, memory helpers, string vectors and the JSON and number
// formatting its commands share (a tool above the layers).
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

fd_err_t ctl_fail(fd_err_t err, const char *fmt, ...) {
    va_list ap;
    fputs("funnelctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return err;
}

int ctl_exit_status(fd_err_t err) {
    if (err == FD_OK) return 0;
    return err == FD_ERR_INVAL || err == FD_ERR_CONFIG ? 2 : 1;
}

fd_err_t ctl_finish_output(fd_err_t err) {
    if ((fflush(stdout) != 0 || ferror(stdout)) && err == FD_OK)
        err = ctl_fail(FD_ERR_IO, "cannot write the output: %s", strerror(errno));
    return err;
}

static void out_of_memory(void) {
    ctl_fail(FD_ERR_NOMEM, "out of memory");
    exit(1);
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) out_of_memory();
    return p;
}

char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (p == NULL) out_of_memory();
    return p;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xcalloc((size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

FILE *xmemstream(char **buf, size_t *len) {
    FILE *f = open_memstream(buf, len);
    if (f == NULL) out_of_memory();
    return f;
}

void strvec_push(strvec_t *v, char *s) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        char **p = realloc(v->item, v->cap * sizeof *p);
        if (p == NULL) out_of_memory();
        v->item = p;
    }
    v->item[v->n++] = s;
}

bool strvec_has(const strvec_t *v, const char *s, size_t len) {
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->item[i]) == len && memcmp(v->item[i], s, len) == 0) return true;
    return false;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort(strvec_t *v) {
    if (v->n > 1) qsort(v->item, v->n, sizeof *v->item, cmp_str);
}

void strvec_clear(strvec_t *v) {
    for (size_t i = 0; i < v->n; i++)
        free(v->item[i]);
    free(v->item);
    memset(v, 0, sizeof *v);
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Whether s is a JSON number as written (stored counters, amounts and rates all are). */
static bool is_json_number(const char *s) {
    const char *p = s;
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (is_digit(*p))
        while (is_digit(*p))
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (!is_digit(*p)) return false;
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return false;
        while (is_digit(*p))
            p++;
    }
    return *p == '\0';
}

void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void json_value(FILE *out, const char *v) {
    if (is_json_number(v))
        fputs(v, out);
    else
        json_string(out, v);
}

void format_rate(char *buf, size_t size, const char *rate) {
    if (rate == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    const char *dot = strchr(rate, '.');
    if (dot == NULL || strlen(dot + 1) != 4 || strspn(dot + 1, "0123456789") != 4 ||
        strspn(rate, "0123456789") != (size_t)(dot - rate) || dot == rate) {
        snprintf(buf, size, "%s", rate); /* not our format: show it as stored */
        return;
    }
    /* units of 0.0001 = hundredths of a percent */
    long long v = strtoll(rate, NULL, 10) * 10000 + strtoll(dot + 1, NULL, 10);
    snprintf(buf, size, "%lld.%02lld%%", v / 100, v % 100);
}

/* Integer parts by length then digits, then the fractions digit by digit. */
int dec_cmp(const char *a, const char *b) {
    while (*a == '0' && is_digit(a[1]))
        a++;
    while (*b == '0' && is_digit(b[1]))
        b++;
    size_t ia = strspn(a, "0123456789"), ib = strspn(b, "0123456789");
    if (ia != ib) return ia < ib ? -1 : 1;
    int c = strncmp(a, b, ia);
    if (c) return c < 0 ? -1 : 1;
    const char *fa = a[ia] == '.' ? a + ia + 1 : "", *fb = b[ib] == '.' ? b + ib + 1 : "";
    while (is_digit(*fa) || is_digit(*fb)) {
        char da = is_digit(*fa) ? *fa++ : '0';
        char db = is_digit(*fb) ? *fb++ : '0';
        if (da != db) return da < db ? -1 : 1;
    }
    return 0;
}

/* ---- live commands ---- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

void live_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a sleep ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool live_stopped(void) {
    return stop_requested != 0;
}

void live_sleep(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

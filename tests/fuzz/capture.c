// SPDX-License-Identifier: MIT
// Seed capture (tests): linked into a unit test with -Wl,--wrap of the parsers' entry points, it
// writes every input the test hands them to $FUZZ_CAPTURE_DIR (one file each), then calls the
// real function. scripts/fuzz seed uses it to seed tests/fuzz/corpus/ from tests/unit.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alerting/rules.h"
#include "model/config.h"
#include "model/event.h"

/* The wrapped functions: the linker resolves __real_x to the library's x. */
fd_reject_t __real_fd_event_parse(const fd_funnel_t *fn, const void *buf, size_t len,
                                  fd_event_t *ev, char *errstr, size_t errstr_size);
fd_reject_t __wrap_fd_event_parse(const fd_funnel_t *fn, const void *buf, size_t len,
                                  fd_event_t *ev, char *errstr, size_t errstr_size);
fd_err_t __real_fd_config_load_file(fd_config_t *cfg, const char *path, char *errstr,
                                    size_t errstr_size);
fd_err_t __wrap_fd_config_load_file(fd_config_t *cfg, const char *path, char *errstr,
                                    size_t errstr_size);
fd_err_t __real_fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len,
                               fd_rules_t **out, char *errstr, size_t errstr_size);
fd_err_t __wrap_fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len,
                               fd_rules_t **out, char *errstr, size_t errstr_size);
fd_err_t __real_fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out,
                              char *errstr, size_t errstr_size);
fd_err_t __wrap_fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out,
                              char *errstr, size_t errstr_size);

static void save(const void *buf, size_t len) {
    static unsigned seq;
    const char *dir = getenv("FUZZ_CAPTURE_DIR");
    if (dir == NULL || buf == NULL) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%05u", dir, seq++);
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(buf, 1, len, f);
    fclose(f);
}

static void save_file(const char *path) {
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) return;
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    save(buf, len);
}

fd_reject_t __wrap_fd_event_parse(const fd_funnel_t *fn, const void *buf, size_t len,
                                  fd_event_t *ev, char *errstr, size_t errstr_size) {
    save(buf, len);
    return __real_fd_event_parse(fn, buf, len, ev, errstr, errstr_size);
}

fd_err_t __wrap_fd_config_load_file(fd_config_t *cfg, const char *path, char *errstr,
                                    size_t errstr_size) {
    save_file(path);
    return __real_fd_config_load_file(cfg, path, errstr, errstr_size);
}

fd_err_t __wrap_fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len,
                               fd_rules_t **out, char *errstr, size_t errstr_size) {
    save(json, len);
    return __real_fd_rules_parse(fn, json, len, out, errstr, errstr_size);
}

fd_err_t __wrap_fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out,
                              char *errstr, size_t errstr_size) {
    save_file(path);
    return __real_fd_rules_load(fn, path, out, errstr, errstr_size);
}

// SPDX-License-Identifier: MIT
// Fuzz target of the config file loader (tests, drives layer 1): fd_config_load_file on arbitrary
// bytes (through a memfd), then validation and the dump, checking the contracts of config.h.
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "model/config.h"

/* Messages of fd_config_validate's cross-setting rules; any other message after a load means
 * the loader stored a value the table refuses. */
static bool cross_setting_error(const char *msg) {
    return strncmp(msg, "alerts.topic: expected a topic that is not one of kafka.topics", 62) ==
               0 ||
           strncmp(msg, "kafka.dlq_topic: expected a topic that is not one of kafka.topics", 65) ==
               0 ||
           strncmp(msg, "alerts.topic: expected a topic other than kafka.dlq_topic", 57) == 0;
}

/* The dump is one "name = value" line per setting and per kafka.<property>, secrets masked. */
static void check_dump(const fd_config_t *cfg) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    FUZZ_CHECK(out != NULL);
    fd_config_dump(cfg, out);
    FUZZ_CHECK(fclose(out) == 0);
    size_t lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        lines++;
        char *eq = strstr(line, " = ");
        FUZZ_CHECK(eq != NULL);
        *eq = '\0';
        const char *value = eq + 3;
        bool secret = strcmp(line, "redis.password") == 0 ||
                      (strncmp(line, "kafka.", 6) == 0 && fd_config_kafka_is_secret(line + 6));
        if (secret) FUZZ_CHECK(strcmp(value, "(set)") == 0 || strcmp(value, "(empty)") == 0);
    }
    FUZZ_CHECK(len > 0 && text[len - 1] == '\0'); /* every line ended with '\n' (now '\0') */
    free(text);
    static size_t ref_lines; /* lines of the defaults' dump: one per table setting */
    if (ref_lines == 0) {
        fd_config_t defaults;
        char *ref = NULL;
        size_t ref_len = 0;
        FUZZ_CHECK(fd_config_init(&defaults) == FD_OK);
        FUZZ_CHECK((out = open_memstream(&ref, &ref_len)) != NULL);
        fd_config_dump(&defaults, out);
        FUZZ_CHECK(fclose(out) == 0);
        for (size_t i = 0; i < ref_len; i++)
            ref_lines += ref[i] == '\n';
        free(ref);
        fd_config_clear(&defaults);
    }
    FUZZ_CHECK(lines == ref_lines + cfg->kafka_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

    fd_config_t cfg;
    char errstr[1024] = "", verr[1024] = "";
    FUZZ_CHECK(fd_config_init(&cfg) == FD_OK);
    fd_err_t err = fd_config_load_file(&cfg, path, errstr, sizeof errstr);
    FUZZ_CHECK(err == FD_OK || err == FD_ERR_CONFIG || err == FD_ERR_NOMEM);
    if (err != FD_OK) {
        FUZZ_CHECK(errstr[0] != '\0');
        FUZZ_CHECK(strlen(errstr) < sizeof errstr);
        FUZZ_CHECK(fuzz_printable(errstr));
    }
    /* Loaded or not, cfg holds only values the table accepts (still a valid config). */
    if (fd_config_validate(&cfg, verr, sizeof verr) != FD_OK) {
        if (!cross_setting_error(verr)) fprintf(stderr, "validate after load: %s\n", verr);
        FUZZ_CHECK(cross_setting_error(verr));
    }
    check_dump(&cfg);
    fd_config_clear(&cfg);
    return 0;
}

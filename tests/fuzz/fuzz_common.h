// SPDX-License-Identifier: MIT
// Helpers shared by the fuzz targets (tests): the funnel of the unit tests and a check that
// turns a broken contract into a crash libFuzzer records.
#ifndef FUNNELD_FUZZ_COMMON_H
#define FUNNELD_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/funnel.h"

/* Aborts with what was violated: libFuzzer (and the replay ctest) report it as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The funnel of tests/unit (and configs/funneld.json), built once and kept for the process. */
static inline const fd_funnel_t *fuzz_funnel(void) {
    static fd_funnel_t *fn;
    if (fn == NULL) {
        static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
        static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
        char err[256];
        if (fd_funnel_new(stages, 5, kinds, 5, &fn, err, sizeof err) != FD_OK) {
            fprintf(stderr, "fuzz: funnel: %s\n", err);
            abort();
        }
    }
    return fn;
}

/* Copies the size bytes of data so that they end where an inaccessible page begins: a read past
 * the end faults, in our code and in the system's cJSON, which ASan does not instrument (a
 * parser given a length must not rely on a NUL after it). Valid until the next call. */
static inline const char *fuzz_guarded_copy(const uint8_t *data, size_t size) {
    static char *base;
    static size_t room; /* bytes before the guard page */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t need = size == 0 ? page : (size + page - 1) / page * page;
    if (need > room) {
        if (base != NULL) munmap(base, room + page);
        base = mmap(NULL, need + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        FUZZ_CHECK(base != MAP_FAILED);
        FUZZ_CHECK(mprotect(base + need, page, PROT_NONE) == 0);
        room = need;
    }
    char *p = base + room - size;
    if (size > 0) memcpy(p, data, size);
    return p;
}

/* True when s has no control character (C0 or DEL): a message that stays one printable line. */
static inline bool fuzz_printable(const char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

#endif

// SPDX-License-Identifier: MIT
// Helpers shared by the fuzz targets (tests): the funnel of the unit tests and a check that
// turns a broken contract into a crash libFuzzer records.
#ifndef FUNNELD_FUZZ_COMMON_H
#define FUNNELD_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

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

/* True when s has no control character (C0 or DEL): a message that stays one printable line. */
static inline bool fuzz_printable(const char *s) {
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

#endif

// SPDX-License-Identifier: MIT
// The two clocks funneld reads: monotonic (intervals, timeouts) and wall (times written out)
// (layer 0).
#ifndef FUNNELD_CLOCK_H
#define FUNNELD_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds and in microseconds: for intervals only. */
int64_t fd_clock_mono_ms(void);
int64_t fd_clock_mono_us(void);
/* CLOCK_REALTIME in milliseconds since the epoch. */
int64_t fd_clock_wall_ms(void);

#endif

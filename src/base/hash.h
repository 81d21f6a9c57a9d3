// SPDX-License-Identifier: MIT
// Non-cryptographic hashing: MurmurHash3 x64 128-bit (layer 0, pure).
#ifndef FUNNELD_HASH_H
#define FUNNELD_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lo, hi;
} fd_hash128_t;

/* MurmurHash3_x64_128 of len bytes at data with seed. Used for event ids in the dedupe set:
 * two different ids collide with probability about n^2 / 2^129. */
fd_hash128_t fd_hash128(const void *data, size_t len, uint32_t seed);

/* 64-bit hash of len bytes (the low half of fd_hash128 with seed 0), for hash tables. */
uint64_t fd_hash64(const void *data, size_t len);

#endif

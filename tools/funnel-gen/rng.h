// SPDX-License-Identifier: MIT
// funnel-gen's random numbers: xoshiro256** seeded through splitmix64 (both by Blackman and
// Vigna), and the distributions the model draws from (tool, outside the layers). Header-only:
// these run for every event and every formatting choice, so they stay inlinable. The order of
// the draws is part of the output: a seed gives the same bytes only while no draw is added,
// removed or reordered.
#ifndef FUNNEL_GEN_RNG_H
#define FUNNEL_GEN_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng_t;

static inline uint64_t rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seeds the four words of state from one 64-bit seed. */
static inline void rng_seed(rng_t *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_u64(rng_t *r) {
    uint64_t *s = r->s;
    const uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1): the top 53 bits as the mantissa. */
static inline double rng_unit(rng_t *r) {
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

/* True with probability p; draws nothing when p <= 0 (a zero fault rate leaves the fault stream
 * untouched). */
static inline bool rng_chance(rng_t *r, double p) {
    return p > 0 && rng_unit(r) < p;
}

/* Uniform integer in [0, n); the modulo bias is below 2^-40 for any n used here. */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
    return n ? rng_u64(r) % n : 0;
}

static inline double rng_range(rng_t *r, double lo, double hi) {
    return lo + (hi - lo) * rng_unit(r);
}

/* Exponential with the given mean (inverse transform; 1 - u avoids log(0)). */
static inline double rng_exp(rng_t *r, double mean) {
    return -mean * log(1.0 - rng_unit(r));
}

/* Standard normal by Box-Muller (one value per call keeps the stream easy to reason about). */
static inline double rng_normal(rng_t *r) {
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Log-normal given by its median: median * e^(sigma * N(0,1)). */
static inline double rng_lognormal(rng_t *r, double median, double sigma) {
    return median * exp(sigma * rng_normal(r));
}

/* Index drawn from weights (need not sum to 1). */
static inline size_t rng_pick(rng_t *r, const double *w, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double x = rng_unit(r) * total;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    return n - 1;
}

#endif

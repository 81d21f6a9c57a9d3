// SPDX-License-Identifier: MIT
// Unit tests of MurmurHash3 x64 128: known vectors of the reference algorithm, seeds, and every
// tail length read from exactly sized heap buffers (ASan catches any over-read).
//
// How the expected constants were obtained: a separate pure-Python transcription of Appleby's
// MurmurHash3_x64_128 (MurmurHash3.cpp: blocks of 16 bytes read little-endian, tail switch,
// fmix64), written without looking at src/hash.c. That transcription was first checked against
// published vectors: the Python mmh3 package documents hash64("foo") = (-2129773440516405919,
// 9128664383759220103) and hash128("foo", 42) = 215966891540331383248189432718888555506, and the
// widely quoted digest of "The quick brown fox jumps over the lazy dog" with seed 0 is
// 6c1b07bc7bbc4be347939ac4a93c437a (h1 then h2, little-endian bytes). The tables below come from
// that transcription.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/hash.h"

typedef struct {
    const char *data;
    size_t len;
    uint32_t seed;
    uint64_t lo, hi;
} vector_t;

static void expect_hash(const void *data, size_t len, uint32_t seed, uint64_t lo, uint64_t hi) {
    fd_hash128_t h = fd_hash128(data, len, seed);
    if (h.lo != lo || h.hi != hi)
        fail_msg("len %zu seed 0x%x: got %016llx %016llx, want %016llx %016llx", len,
                 (unsigned)seed, (unsigned long long)h.lo, (unsigned long long)h.hi,
                 (unsigned long long)lo, (unsigned long long)hi);
}

static void test_hash_empty_input_seed_zero_is_zero(void **state) {
    (void)state;
    /* h1 = h2 = 0, len 0: every step of the finaliser maps 0 to 0. */
    expect_hash("", 0, 0, 0, 0);
}

static void test_hash_published_vectors(void **state) {
    (void)state;
    static const vector_t v[] = {
        /* mmh3.hash64("foo") = (-2129773440516405919, 9128664383759220103) */
        {"foo", 3, 0, UINT64_C(0xe271865701f54561), UINT64_C(0x7eaf87e42bba7d87)},
        /* mmh3.hash128("foo", 42) = 215966891540331383248189432718888555506 = hi << 64 | lo */
        {"foo", 3, 42, UINT64_C(0xf4569d51637053f2), UINT64_C(0xa279b5d8eeb09aa9)},
        /* 43 bytes: two blocks and an 11-byte tail */
        {"The quick brown fox jumps over the lazy dog", 43, 0, UINT64_C(0xe34bbc7bbc071b6c),
         UINT64_C(0x7a433ca9c49a9347)},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_hash(v[i].data, v[i].len, v[i].seed, v[i].lo, v[i].hi);
}

static void test_hash_vectors_with_seed(void **state) {
    (void)state;
    static const vector_t v[] = {
        {"", 0, 1, UINT64_C(0x4610abe56eff5cb5), UINT64_C(0x51622daa78f83583)},
        {"hello", 5, 0, UINT64_C(0xcbd8a7b341bd9b02), UINT64_C(0x5b1e906a48ae1d19)},
        {"", 0, 0x9747b28c, UINT64_C(0x392b208a1daabbb3), UINT64_C(0x93b0608fe302957a)},
        {"01234", 5, 0x9747b28c, UINT64_C(0xa3a1d8386e33386e), UINT64_C(0x1ea04328f77c5d1d)},
        {"0123456789abcdef", 16, 0x9747b28c, UINT64_C(0xd8061eb14f48c9c9),
         UINT64_C(0x521e1174e459c2cc)},
        {"0123456789abcdefghijklmnopqrstu", 31, 0x9747b28c, UINT64_C(0x76710a6b3ce207e0),
         UINT64_C(0x49a256efc667c918)},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        expect_hash(v[i].data, v[i].len, v[i].seed, v[i].lo, v[i].hi);
}

static void test_hash_embedded_nul_bytes_are_hashed(void **state) {
    (void)state;
    /* "a\0b": the length, not a terminator, delimits the input. */
    expect_hash("a\0b", 3, 0, UINT64_C(0x2def92d2c1e6b5db), UINT64_C(0xa3a9f0d0b307b2b4));
    fd_hash128_t a = fd_hash128("a", 1, 0), anul = fd_hash128("a\0", 2, 0);
    assert_false(a.lo == anul.lo && a.hi == anul.hi);
}

static void test_hash_different_seeds_differ(void **state) {
    (void)state;
    static const char *const inputs[] = {"", "x", "evt-0001", "0123456789abcdef0123"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t len = strlen(inputs[i]);
        fd_hash128_t a = fd_hash128(inputs[i], len, 0);
        fd_hash128_t b = fd_hash128(inputs[i], len, 1);
        fd_hash128_t c = fd_hash128(inputs[i], len, 0x66756e6e);
        assert_true(a.lo != b.lo && a.hi != b.hi);
        assert_true(a.lo != c.lo && a.hi != c.hi);
        assert_true(b.lo != c.lo && b.hi != c.hi);
    }
}

/* Prefixes of "0123456789abcdefghijklmnopqrstuv", seed 0: every tail length 0..15 with no block
 * and with one block. */
static const struct {
    size_t len;
    uint64_t lo, hi;
} prefix_vectors[] = {
    {0, UINT64_C(0x0000000000000000), UINT64_C(0x0000000000000000)},
    {1, UINT64_C(0x2ac9debed546a380), UINT64_C(0x3a8de9e53c875e09)},
    {2, UINT64_C(0x649e4eaa7fc1708e), UINT64_C(0xe6945110230f2ad6)},
    {3, UINT64_C(0xce68f60d7c353bdb), UINT64_C(0x00364cd5936bf18a)},
    {4, UINT64_C(0x0f95757ce7f38254), UINT64_C(0xb4c67c9e6f12ab4b)},
    {5, UINT64_C(0x0f04e459497f3fc1), UINT64_C(0xeccc6223a28dd613)},
    {6, UINT64_C(0x88c0a92586be0a27), UINT64_C(0x81062d6137728244)},
    {7, UINT64_C(0x13eb9fb82606f7a6), UINT64_C(0xb4ebef492fdef34e)},
    {8, UINT64_C(0x8236039b7387354d), UINT64_C(0xc3369387d8964920)},
    {9, UINT64_C(0x4c1e87519fe738ba), UINT64_C(0x72a17af899d597f1)},
    {10, UINT64_C(0x3f9652ac3effeb24), UINT64_C(0x8027a17cf2990b07)},
    {11, UINT64_C(0x4bc3eacd29d38629), UINT64_C(0x7cb2d9e797da9c92)},
    {12, UINT64_C(0x66352b8cee9e3ca7), UINT64_C(0xa9edf0b381a8fc58)},
    {13, UINT64_C(0x5eb2f8db4265931e), UINT64_C(0x801ce853e61d0ab7)},
    {14, UINT64_C(0x07a4a014dd59f71a), UINT64_C(0xaaf437854cd22231)},
    {15, UINT64_C(0xa62dd5f6c0bf2351), UINT64_C(0x4fccf50c7c544cf0)},
    {16, UINT64_C(0x4be06d94cf4ad1a7), UINT64_C(0x87c35b5c63a708da)},
    {17, UINT64_C(0x8e32612daa45f9de), UINT64_C(0x0800f4c206c372ee)},
    {18, UINT64_C(0xc511d2a50b58fae8), UINT64_C(0x2ad4543583f3b99f)},
    {19, UINT64_C(0xad3d7fc0b3244b47), UINT64_C(0xdd72c8187029f5ce)},
    {20, UINT64_C(0xe4c83e24f076a3fd), UINT64_C(0xf99c8c583a8fa8d7)},
    {21, UINT64_C(0x00ad50be807c22da), UINT64_C(0xeacfab2a02802a63)},
    {22, UINT64_C(0x4764a8aa9d5558b5), UINT64_C(0x8a526f6720f760bb)},
    {23, UINT64_C(0x25239974a83067c2), UINT64_C(0x0b2a29517c6a8f3a)},
    {24, UINT64_C(0x354bbd1b765bad7a), UINT64_C(0x2cdc72f10e2a15d7)},
    {25, UINT64_C(0x04c8092e7d043d06), UINT64_C(0xb3883500babe4bb9)},
    {26, UINT64_C(0xaa9b44a02223a571), UINT64_C(0x1843b86c02ba3235)},
    {27, UINT64_C(0x3f072b98d041b50b), UINT64_C(0x06bc09f4c56ee162)},
    {28, UINT64_C(0x7ec02f7f7b605394), UINT64_C(0x6659e331b65838f1)},
    {29, UINT64_C(0x2e5303ba146b2249), UINT64_C(0xde32a32ff658ef73)},
    {30, UINT64_C(0x406ef30c0eb47ac8), UINT64_C(0x325f41c06f57e4bc)},
    {31, UINT64_C(0xb828780c1a6e0542), UINT64_C(0x3922739113a7e9b2)},
};

static void test_hash_every_tail_length_matches_reference_without_overread(void **state) {
    (void)state;
    static const char text[] = "0123456789abcdefghijklmnopqrstuv";
    for (size_t i = 0; i < sizeof prefix_vectors / sizeof prefix_vectors[0]; i++) {
        size_t len = prefix_vectors[i].len;
        /* An exactly sized heap copy: reading one byte past it is an ASan error. */
        char *buf = malloc(len ? len : 1);
        assert_non_null(buf);
        memcpy(buf, text, len);
        expect_hash(buf, len, 0, prefix_vectors[i].lo, prefix_vectors[i].hi);
        free(buf);
    }
}

static void test_hash_unaligned_input_same_as_aligned(void **state) {
    (void)state;
    char *buf = malloc(40);
    assert_non_null(buf);
    for (size_t shift = 0; shift < 8; shift++) {
        memcpy(buf + shift, "0123456789abcdefghijklmnopqrstu", 31);
        expect_hash(buf + shift, 31, 0, prefix_vectors[31].lo, prefix_vectors[31].hi);
    }
    free(buf);
}

static void test_hash64_is_low_half_with_seed_zero(void **state) {
    (void)state;
    assert_true(fd_hash64("foo", 3) == UINT64_C(0xe271865701f54561));
    assert_true(fd_hash64("", 0) == 0);
    for (size_t i = 0; i < sizeof prefix_vectors / sizeof prefix_vectors[0]; i++)
        assert_true(fd_hash64("0123456789abcdefghijklmnopqrstuv", prefix_vectors[i].len) ==
                    prefix_vectors[i].lo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_empty_input_seed_zero_is_zero),
        cmocka_unit_test(test_hash_published_vectors),
        cmocka_unit_test(test_hash_vectors_with_seed),
        cmocka_unit_test(test_hash_embedded_nul_bytes_are_hashed),
        cmocka_unit_test(test_hash_different_seeds_differ),
        cmocka_unit_test(test_hash_every_tail_length_matches_reference_without_overread),
        cmocka_unit_test(test_hash_unaligned_input_same_as_aligned),
        cmocka_unit_test(test_hash64_is_low_half_with_seed_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

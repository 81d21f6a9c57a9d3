// SPDX-License-Identifier: MIT
// Replay driver of the fuzz targets (tests): runs LLVMFuzzerTestOneInput on every file of the
// directories given as arguments, in name order, so the corpora run as ctests without libFuzzer.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file into an exactly sized heap buffer (ASan then sees a read past its end). */
static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size >= 0) {
        *len = (size_t)sb.st_size;
        buf = malloc(*len > 0 ? *len : 1);
        if (buf != NULL && fread(buf, 1, *len, f) != *len) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Replays every regular file of dir; returns how many, or -1 when dir cannot be read. */
static long replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL) abort();
            names = nn;
        }
        if ((names[n++] = strdup(de->d_name)) == NULL) abort();
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    long done = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        size_t len = 0;
        uint8_t *buf = read_all(path, &len);
        if (buf == NULL) {
            perror(path);
            abort();
        }
        /* Named before the call: a crash report then says which input it was. */
        fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        done++;
    }
    free(names);
    return done;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <corpus-dir>...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_dir(argv[i]);
        if (n < 0) return 1;
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    /* An empty corpus is a mistake (a wrong path), not a pass. */
    return total > 0 ? 0 : 1;
}

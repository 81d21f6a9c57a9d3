// SPDX-License-Identifier: MIT
// Looks up the embedded dashboard files by URL path (layer 5).
#include "app/webassets.h"

#include <string.h>

const fd_webasset_t *fd_webasset_find(const char *path) {
    for (size_t i = 0; i < fd_webassets_count; i++)
        if (strcmp(fd_webassets[i].path, path) == 0) return &fd_webassets[i];
    return NULL;
}

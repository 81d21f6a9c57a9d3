// SPDX-License-Identifier: MIT
// The dashboard's files (web/ and Debian's Chart.js), embedded at build time by
// cmake/embed_assets.cmake: funnel-web serves them from memory (layer 5).
#ifndef FUNNELD_WEBASSETS_H
#define FUNNELD_WEBASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          /* the URL path: "/", "/assets/app.js" */
    const char *content_type;  /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data; /* the bytes (followed by a 0 not counted in len) */
    size_t len;
    const char *etag; /* a quoted strong ETag: the start of the file's SHA-256 */
} fd_webasset_t;

/* Generated: every asset, and how many. */
extern const fd_webasset_t fd_webassets[];
extern const size_t fd_webassets_count;

/* The asset served at URL path (exact match, no query string), NULL when there is none. */
const fd_webasset_t *fd_webasset_find(const char *path);

#endif

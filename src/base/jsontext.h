// SPDX-License-Identifier: MIT
// Checks on JSON input text that cJSON does not make, shared by the config file and the rules
// file loaders (layer 0, pure).
#ifndef FUNNELD_JSONTEXT_H
#define FUNNELD_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the len bytes of text hold a \u0000 escape inside a JSON string: cJSON decodes strings
 * into C strings, which would silently cut such a value short ("a\u0000b" read as "a"). True
 * with the byte offset of its backslash in *at. Text that is not valid JSON is scanned as far as
 * it goes (the parser reports it). */
bool fd_jsontext_has_nul_escape(const char *text, size_t len, size_t *at);

#endif

// SPDX-License-Identifier: MIT
// Checks on JSON input text that cJSON does not make (layer 0, pure).
#include "base/jsontext.h"

#include <string.h>

bool fd_jsontext_has_nul_escape(const char *text, size_t len, size_t *at) {
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!in_string) {
            if (c == '"') in_string = true;
            continue;
        }
        if (c == '"') {
            in_string = false;
        } else if (c == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 6 <= len && memcmp(text + i + 2, "0000", 4) == 0) {
                *at = i;
                return true;
            }
            i++; /* the escaped character: \" does not end the string, \\ escapes nothing */
        }
    }
    return false;
}

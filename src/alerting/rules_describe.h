// SPDX-License-Identifier: MIT
// A rule in words, for funnelctl rules check and the HTTP API (layer 3, pure).
#ifndef FUNNELD_RULES_DESCRIBE_H
#define FUNNELD_RULES_DESCRIBE_H

#include <stddef.h>

#include "alerting/rulesfile.h"

/* Writes a description of rule i in words ("fires when a rep's exit conversion at proposal over
 * the last 7 days is below 0.20 with at least 10 deals, for 2h; ...") to buf, for funnelctl rules
 * check. */
void fd_rules_describe(const fd_rules_t *rs, size_t i, char *buf, size_t size);

#endif

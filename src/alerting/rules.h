// SPDX-License-Identifier: MIT
// Alert rules, the whole picture in one include: KPIs (kpi.h), the rules file (rulesfile.h),
// evaluation (ruleeval.h) and the description in words (rules_describe.h) (layer 3, pure).
// Reference: docs/alerts.md.
#ifndef FUNNELD_RULES_H
#define FUNNELD_RULES_H

#include "model/kpi.h"
#include "alerting/ruleeval.h"
#include "alerting/rules_describe.h"
#include "alerting/rulesfile.h"

#endif

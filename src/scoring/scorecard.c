// SPDX-License-Identifier: MIT
// Weighted scorecards: attainment, points, weights, grades (layer 2, pure).
#include "scoring/scorecard.h"

char fd_score_grade(const fd_scorecard_def_t *def, double score) {
    static const char letters[3] = {'A', 'B', 'C'};
    for (int i = 0; i < 3; i++)
        if (score >= def->grade_min[i]) return letters[i];
    return 'D';
}

const char *fd_score_status_name(fd_line_status_t status) {
    switch (status) {
    case FD_LINE_SCORED:
        return "scored";
    case FD_LINE_NO_TARGET:
        return "no_target";
    case FD_LINE_NO_DATA:
        return "no_data";
    }
    return "unknown";
}

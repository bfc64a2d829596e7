#include "progress.hpp"

#include <cstdio>

extern "C" {
#include "utils/guc.h"
}

namespace normalize::glue {

void report_progress(const char* phase, const char* step, int64 done, int64 total) {
    char counts[48];
    snprintf(counts, sizeof counts, " %lld/%lld", static_cast<long long>(done),
             static_cast<long long>(total < done ? done : total));
    char name[NAMEDATALEN];
    const int room = static_cast<int>(sizeof name) - 1 - static_cast<int>(strlen(counts));
    snprintf(name, sizeof name, "%.*s%s", room, psprintf("normalize: %s %s", phase, step), counts);
    set_config_option("application_name", name, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

}  // namespace normalize::glue

#include "progress.hpp"

#include "committed_parts.hpp"

#include <cstdio>

extern "C" {
#include "access/xact.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
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
    // No setting may change while parallel workers run: the name alone is
    // shown then, and the setting follows at the next report after them.
    if (IsInParallelMode())
        pgstat_report_appname(name);
    else
        set_config_option("application_name", name, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

namespace {

constexpr int64 kReportEvery = 16384;

struct Step {
    bool active;
    char phase[NAMEDATALEN];
    char step[NAMEDATALEN];
    char name_before[NAMEDATALEN];  // application_name, put back at the end
    int64 done;
    int64 total;
    int64 next_report;
    bool callback_registered;
};

Step current = {};

// The step ends with its transaction, whatever ends it: a failed phase
// must not leave the next transaction counting into its name.
void on_xact(XactEvent event, void*) {
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
        event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
        current.active = false;
}

// pipeline_progress reads the name as words separated by spaces: a space
// inside a phase's or step's name becomes an underscore.
void copy_word(char* into, size_t size, const char* from) {
    strlcpy(into, from, size);
    for (char* c = into; *c != '\0'; ++c)
        if (*c == ' ') *c = '_';
}

}  // namespace

void count_step_rows(int64 rows) {
    if (!current.active) {
        // In a background worker, the caller's step counts them.
        if (pg_atomic_uint64* counter = part_progress_counter(); counter != nullptr)
            pg_atomic_fetch_add_u64(counter, static_cast<uint64>(rows));
        return;
    }
    current.done += rows;
    if (current.done >= current.next_report) {
        report_progress(current.phase, current.step, current.done, current.total);
        current.next_report = current.done + kReportEvery;
    }
}

bool step_in_progress() { return current.active; }

void begin_step(const char* phase, const char* step, int64 total) {
    if (!current.callback_registered) {
        RegisterXactCallback(on_xact, nullptr);
        current.callback_registered = true;
    }
    // A step begun inside another keeps the name from before the first.
    if (!current.active) {
        const char* name = GetConfigOption("application_name", false, false);
        strlcpy(current.name_before, name != nullptr ? name : "", sizeof current.name_before);
    }
    copy_word(current.phase, sizeof current.phase, phase);
    copy_word(current.step, sizeof current.step, step);
    current.done = 0;
    current.total = total;
    current.next_report = 1;
    current.active = true;
    report_progress(current.phase, current.step, 0, total);
}

void end_step() {
    if (current.active) {
        current.active = false;
        set_config_option("application_name", current.name_before, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                          true, 0, false);
    }
}

}  // namespace normalize::glue


// begin_progress(phase, step, rows_to_do): see progress.hpp.
NZ_FUNCTION(nz_begin_progress)
{
    const int64 total = PG_GETARG_INT64(2);
    if (total < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("rows_to_do must not be negative, got %lld", static_cast<long long>(total)),
                        errhint("Pass the rows the step will make, or 0 when it does not know.")));
    normalize::glue::begin_step(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)), total);
    PG_RETURN_VOID();
}

// end_progress(): the step is over; the session's name is put back.
NZ_FUNCTION(nz_end_progress)
{
    static_cast<void>(fcinfo);  // no arguments
    normalize::glue::end_step();
    PG_RETURN_VOID();
}

// Progress a person can watch from another session: a long step names
// itself and its rows done and to do in the session's application_name,
// which pg_stat_activity shows to every session at once (a table would
// show nothing until the step commits). The view pipeline_progress reads
// it back. The name is set for the transaction only, and a function with
// SET clauses puts it back when it returns.
#pragma once

#include "boundary.hpp"

namespace normalize::glue {

// "normalize: <phase> <step> <done>/<total>", at most 63 bytes (longer
// names are cut, the counts kept).
void report_progress(const char* phase, const char* step, int64 done, int64 total);

// A step whose rows are made by functions called once per entity (the
// history generators): begun from SQL (begin_progress) with its rows to
// do, it is fed their rows as they are made, and reports every 16,384.
// Without a step begun in this transaction, counting does nothing.
void count_step_rows(int64 rows);

// Whether a step begun from SQL is counting in this transaction: the rows
// that background workers make for it are then counted into it too.
bool step_in_progress();

// The step as begun (and ended) from SQL by begin_progress (end_progress).
void begin_step(const char* phase, const char* step, int64 total);
void end_step();

}  // namespace normalize::glue

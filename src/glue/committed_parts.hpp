// A statement run once per part in background workers, each part in a
// transaction of its own that commits. PostgreSQL's parallel workers share
// the leader's transaction and may not write a row; these are whole
// sessions, so each writes its own parts' rows, and the writing (the
// larger cost of every heavy phase) spreads over the cores.
//
// The price is visibility: a worker sees what is committed, not what the
// caller's transaction has done. So the workers run only where the two are
// the same: the caller's transaction has written nothing yet (it has no
// transaction ID) and reads at read committed, where its next statement
// sees what the workers committed. Otherwise, and for parts no worker
// took, the caller runs the parts itself, in order: the rows are the same,
// only the processes differ. The phases write into staging tables that a
// worker made (committed) and swap them in at the end; a phase that fails
// leaves those tables behind, and the next stage of the phase drops them.
#pragma once

#include "boundary.hpp"

extern "C" {
#include "port/atomics.h"
}

namespace normalize::glue {

// Runs statement once per part ($1 the part from 0, $2 the parts): in
// background workers when the session has more than one process
// (worker_count) and may hand them parts, the rest here. Returns the rows
// the parts wrote: a command's rows, or the sum of a query's one bigint
// column. Call within SPI or outside it.
uint64 run_statement_in_parts(const char* statement, int parts);

// Whether the calling session may hand parts to workers now (see above).
bool parts_may_commit_apart();

// In a worker: the counter the history generators' rows go to (through
// count_step_rows), or nullptr outside a worker or when the caller had no
// step in progress.
pg_atomic_uint64* part_progress_counter();

}  // namespace normalize::glue

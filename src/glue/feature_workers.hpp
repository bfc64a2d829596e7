// The feature engine on several cores: the entities split into ranges of
// their keys, one process per range (a range, rather than a hash, reads
// only its own rows through the history's index). Workers are Postgres
// parallel workers: they share the leader's transaction and snapshot, so
// they read what it reads (its own uncommitted writes included), and they
// may not write. Each computes its part's rows and sends them, formed,
// through a queue to the leader, which computes its own part, writes every
// row, and takes over the part of a worker the server could not start.
#pragma once

#include "boundary.hpp"

extern "C" {
#include "access/htup.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
}

namespace normalize::glue {

// normalize.workers: the processes a phase may use, 0 for the machine's
// cores; defined when the module is loaded.
void define_worker_setting();

// The processes a phase uses: the setting, or the machine's cores, within
// what the server allows (one more than max_parallel_workers).
int worker_count();

// What a worker is told: which rows to compute and where to send them.
struct WorkerTask {
    char entity[NAMEDATALEN];
    Oid base;                  // InvalidOid: the entity's base view
    Oid target;
    const char* lower;         // the part's keys, from lower (null: the first)
    const char* upper;         // up to upper (null: the last)
    shm_mq_handle* outbox;
    pg_atomic_uint64* read;    // base rows read by every process, for progress
};

struct FeatureWorkers;

// Leader: enters parallel mode and starts parts - 1 workers for the parts
// 1 .. parts - 1, part p the keys from bounds[p - 1] up to bounds[p]. The
// transaction must have its ID already.
FeatureWorkers* start_feature_workers(const char* entity, Oid base, Oid target, int parts, const char** bounds);

// The parts no worker took (the server had fewer free than asked): the
// leader computes them itself.
bool part_is_unclaimed(const FeatureWorkers* workers, int part);

pg_atomic_uint64* rows_read(FeatureWorkers* workers);

// Hands each row the workers have sent to take. Without wait, only those
// waiting in the queues; with wait, every row, until every worker is done.
using TakeRow = void (*)(HeapTuple row, void* arg);
void take_worker_rows(FeatureWorkers* workers, bool wait, TakeRow take, void* arg);

// Waits for the workers (rethrowing an error of theirs) and leaves
// parallel mode.
void finish_feature_workers(FeatureWorkers* workers);

// Worker: its task, from the segment the leader set up.
void read_worker_task(dsm_segment* seg, shm_toc* toc, WorkerTask* task);

}  // namespace normalize::glue

#include "feature_workers.hpp"

#include <unistd.h>

extern "C" {
#include "access/parallel.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/guc.h"
}

namespace normalize::glue {

namespace {

constexpr uint64 kKeyShared = 1;
constexpr uint64 kKeyQueues = 2;
constexpr uint64 kKeyBounds = 3;
// Room for several hundred rows of a couple of hundred features each: the
// leader takes them between its own entities. (The segment holds one per
// worker, and a full shared-memory file system fails it outright.)
constexpr Size kQueueBytes = 1024 * 1024;

int workers_setting = 0;

struct Shared {
    char entity[NAMEDATALEN];
    Oid base;
    Oid target;
    int parts;
    pg_atomic_uint64 read;
};

}  // namespace

struct FeatureWorkers {
    ParallelContext* context;
    Shared* shared;
    shm_mq_handle** inbox;  // one per worker asked for; NULL once it is done
    int asked;
};

void define_worker_setting() {
    DefineCustomIntVariable(
        "normalize.workers", "Processes a phase of normalize may use (0: one per core of the machine).",
        "Within max_parallel_workers + 1. The results hold the same rows for any number.", &workers_setting, 0, 0,
        1024, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("normalize");
}

int worker_count() {
    long n = workers_setting;
    if (n == 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > max_parallel_workers + 1L) n = max_parallel_workers + 1L;
    return n < 1 ? 1 : static_cast<int>(n);
}

FeatureWorkers* start_feature_workers(const char* entity, Oid base, Oid target, int parts, const char** bounds) {
    auto* w = static_cast<FeatureWorkers*>(palloc0(sizeof(FeatureWorkers)));
    w->asked = parts - 1;
    // The bounds, one after the other, each ended by its NUL.
    Size bound_bytes = 0;
    for (int i = 0; i < w->asked; ++i) bound_bytes += strlen(bounds[i]) + 1;
    EnterParallelMode();
    w->context = CreateParallelContext("normalize", "nz_feature_worker", w->asked);
    shm_toc_estimate_chunk(&w->context->estimator, sizeof(Shared));
    shm_toc_estimate_chunk(&w->context->estimator, kQueueBytes * w->asked);
    shm_toc_estimate_chunk(&w->context->estimator, bound_bytes);
    shm_toc_estimate_keys(&w->context->estimator, 3);
    InitializeParallelDSM(w->context);
    // Without a segment (no dynamic shared memory left) there are no
    // workers, and every part is unclaimed.
    w->inbox = static_cast<shm_mq_handle**>(palloc0(sizeof(shm_mq_handle*) * w->asked));
    if (w->context->seg == nullptr) return w;
    w->shared = static_cast<Shared*>(shm_toc_allocate(w->context->toc, sizeof(Shared)));
    strlcpy(w->shared->entity, entity, NAMEDATALEN);
    w->shared->base = base;
    w->shared->target = target;
    w->shared->parts = parts;
    pg_atomic_init_u64(&w->shared->read, 0);
    shm_toc_insert(w->context->toc, kKeyShared, w->shared);
    char* queues = static_cast<char*>(shm_toc_allocate(w->context->toc, kQueueBytes * w->asked));
    shm_toc_insert(w->context->toc, kKeyQueues, queues);
    char* packed = static_cast<char*>(shm_toc_allocate(w->context->toc, bound_bytes));
    shm_toc_insert(w->context->toc, kKeyBounds, packed);
    for (int i = 0; i < w->asked; ++i) packed = stpcpy(packed, bounds[i]) + 1;
    shm_mq** mq = static_cast<shm_mq**>(palloc(sizeof(shm_mq*) * w->asked));
    for (int i = 0; i < w->asked; ++i) {
        mq[i] = shm_mq_create(queues + kQueueBytes * i, kQueueBytes);
        shm_mq_set_receiver(mq[i], MyProc);
    }
    LaunchParallelWorkers(w->context);
    for (int i = 0; i < w->context->nworkers_launched; ++i) {
        w->inbox[i] = shm_mq_attach(mq[i], w->context->seg, nullptr);
        // A worker that dies before it attaches ends its queue.
        shm_mq_set_handle(w->inbox[i], w->context->worker[i].bgwhandle);
    }
    return w;
}

bool part_is_unclaimed(const FeatureWorkers* workers, int part) {
    return part > workers->context->nworkers_launched;
}

pg_atomic_uint64* rows_read(FeatureWorkers* workers) {
    return workers->shared == nullptr ? nullptr : &workers->shared->read;
}

void take_worker_rows(FeatureWorkers* workers, bool wait, TakeRow take, void* arg) {
    for (int i = 0; i < workers->asked; ++i) {
        while (workers->inbox[i] != nullptr) {
            Size bytes;
            void* data;
            const shm_mq_result got = shm_mq_receive(workers->inbox[i], &bytes, &data, !wait);
            if (got == SHM_MQ_WOULD_BLOCK) break;
            if (got == SHM_MQ_DETACHED) {
                workers->inbox[i] = nullptr;
                break;
            }
            HeapTupleData row;
            row.t_len = static_cast<uint32>(bytes);
            row.t_data = static_cast<HeapTupleHeader>(data);
            ItemPointerSetInvalid(&row.t_self);
            row.t_tableOid = InvalidOid;
            take(&row, arg);
        }
    }
}

void finish_feature_workers(FeatureWorkers* workers) {
    // An error of a worker comes back here as the leader's own.
    WaitForParallelWorkersToFinish(workers->context);
    DestroyParallelContext(workers->context);
    ExitParallelMode();
}

void read_worker_task(dsm_segment* seg, shm_toc* toc, WorkerTask* task) {
    auto* shared = static_cast<Shared*>(shm_toc_lookup(toc, kKeyShared, false));
    char* queues = static_cast<char*>(shm_toc_lookup(toc, kKeyQueues, false));
    strlcpy(task->entity, shared->entity, NAMEDATALEN);
    task->base = shared->base;
    task->target = shared->target;
    // Worker n computes part n + 1: from bound n, up to bound n + 1.
    const char* bound = static_cast<const char*>(shm_toc_lookup(toc, kKeyBounds, false));
    for (int n = 0; n < ParallelWorkerNumber; ++n) bound += strlen(bound) + 1;
    task->lower = bound;
    task->upper = ParallelWorkerNumber + 2 < shared->parts ? bound + strlen(bound) + 1 : nullptr;
    task->read = &shared->read;
    auto* mq = reinterpret_cast<shm_mq*>(queues + kQueueBytes * ParallelWorkerNumber);
    shm_mq_set_sender(mq, MyProc);
    task->outbox = shm_mq_attach(mq, seg, nullptr);
}

}  // namespace normalize::glue

// worker_count(): the processes a phase uses (see worker_count above).
NZ_FUNCTION(nz_worker_count) {
    (void) fcinfo;
    PG_RETURN_INT32(normalize::glue::worker_count());
}

#include "committed_parts.hpp"

#include <csignal>

#include "feature_workers.hpp"
#include "progress.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

namespace normalize::glue {

namespace {

constexpr int kMaxParts = 1024;

// The settings a worker takes from its caller: those that change what a
// statement computes or how it is printed, and those that size its work.
// (A worker starts from the server's defaults, not from the caller's
// session.) Each worker runs the feature engine on one process.
constexpr const char* kCarriedSettings[] = {
    "TimeZone", "DateStyle", "IntervalStyle", "extra_float_digits", "bytea_output",
    "work_mem", "maintenance_work_mem", "temp_buffers", "jit", "statement_timeout", "lock_timeout",
    "max_parallel_maintenance_workers",
};
constexpr const char* kWorkerSettings[][2] = {
    {"normalize.workers", "1"},
};
// A statement in one part runs on one worker alone: its plans may use the
// parallel workers its caller's may; in several parts, none. Index builds
// take the caller's parallel workers in any case: a phase's largest table
// takes most of the time its tables' keys take.
constexpr const char* kParallelSettings[] = {"max_parallel_workers_per_gather"};

struct FirstError {
    int sqlerrcode;
    int part;
    char message[1024];
    char detail[1024];
    char hint[512];
};

struct Shared {
    Oid database;
    Oid login_role;
    Oid current_role;
    int parts;
    bool counts_progress;
    pg_atomic_uint32 next_part;
    pg_atomic_uint32 parts_done;
    pg_atomic_uint64 result;
    pg_atomic_uint64 progress;
    slock_t error_lock;
    bool failed;
    FirstError error;
    Size settings_bytes;  // name\0value\0 ... after the struct, then the statement
};

const char* settings_of(const Shared* shared) { return reinterpret_cast<const char*>(shared + 1); }
const char* statement_of(const Shared* shared) { return settings_of(shared) + shared->settings_bytes; }

pg_atomic_uint64* worker_counter = nullptr;

// The statement's parameters: $1 the part (from 0), $2 the parts.
Oid kArgTypes[2] = {INT4OID, INT4OID};

// What a part adds to the result: the rows a command processed, or for a
// query the sum of its one bigint column (a function that writes rows and
// returns how many).
uint64 part_result() {
    if (SPI_tuptable == nullptr) return SPI_processed;
    TupleDesc desc = SPI_tuptable->tupdesc;
    if (desc->natts != 1 || TupleDescAttr(desc, 0)->atttypid != INT8OID) return SPI_processed;
    uint64 sum = 0;
    for (uint64 i = 0; i < SPI_processed; ++i) {
        bool null;
        const Datum v = SPI_getbinval(SPI_tuptable->vals[i], desc, 1, &null);
        if (!null) sum += static_cast<uint64>(DatumGetInt64(v));
    }
    return sum;
}

// Runs one part in the current transaction; returns what it adds.
uint64 run_part(const char* statement, int part, int parts) {
    Datum args[2] = {Int32GetDatum(part), Int32GetDatum(parts)};
    const int status = SPI_execute_with_args(statement, 2, kArgTypes, args, nullptr, false, 0);
    // (COMMIT and the like, which no part may run)
    if (status < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("the statement cannot run in parts"),
                        errdetail("Part %d of %d was refused: %s.", part + 1, parts, SPI_result_code_string(status)),
                        errhint("Pass one that reads or writes rows, or changes the schema.")));
    return part_result();
}

char* packed_settings(Size* bytes, int parts) {
    StringInfoData s;
    initStringInfo(&s);
    for (const char* name : kParallelSettings) {
        const char* value = parts == 1 ? GetConfigOption(name, false, false) : "0";
        appendBinaryStringInfo(&s, name, static_cast<int>(strlen(name)) + 1);
        appendBinaryStringInfo(&s, value, static_cast<int>(strlen(value)) + 1);
    }
    for (const char* name : kCarriedSettings) {
        const char* value = GetConfigOption(name, true, false);
        if (value == nullptr) continue;
        appendBinaryStringInfo(&s, name, static_cast<int>(strlen(name)) + 1);
        appendBinaryStringInfo(&s, value, static_cast<int>(strlen(value)) + 1);
    }
    for (const auto& setting : kWorkerSettings) {
        appendBinaryStringInfo(&s, setting[0], static_cast<int>(strlen(setting[0])) + 1);
        appendBinaryStringInfo(&s, setting[1], static_cast<int>(strlen(setting[1])) + 1);
    }
    appendStringInfoChar(&s, '\0');
    *bytes = static_cast<Size>(s.len) + 1;
    return s.data;
}

void apply_settings(const Shared* shared) {
    const GucContext context = superuser() ? PGC_SUSET : PGC_USERSET;
    for (const char* p = settings_of(shared); *p != '\0';) {
        const char* value = p + strlen(p) + 1;
        set_config_option(p, value, context, PGC_S_SESSION, GUC_ACTION_SET, true, ERROR, false);
        p = value + strlen(value) + 1;
    }
}

void keep_first_error(Shared* shared, const ErrorData* e, int part) {
    SpinLockAcquire(&shared->error_lock);
    if (!shared->failed) {
        shared->failed = true;
        shared->error.sqlerrcode = e->sqlerrcode;
        shared->error.part = part;
        strlcpy(shared->error.message, e->message != nullptr ? e->message : "", sizeof shared->error.message);
        strlcpy(shared->error.detail, e->detail != nullptr ? e->detail : "", sizeof shared->error.detail);
        strlcpy(shared->error.hint, e->hint != nullptr ? e->hint : "", sizeof shared->error.hint);
    }
    SpinLockRelease(&shared->error_lock);
}

void raise_worker_error(const Shared* shared) {
    const FirstError& e = shared->error;
    ereport(ERROR, (errcode(e.sqlerrcode), errmsg_internal("%s", e.message),
                    e.detail[0] != '\0' ? errdetail_internal("%s", e.detail) : 0,
                    e.hint[0] != '\0' ? errhint("%s", e.hint) : 0,
                    errcontext("part %d of %d, run in a background worker", e.part + 1, shared->parts)));
}

struct Launched {
    BackgroundWorkerHandle** handles;
    int count;
};

Launched launch_workers(dsm_segment* seg, int wanted) {
    Launched l{static_cast<BackgroundWorkerHandle**>(palloc0(sizeof(BackgroundWorkerHandle*) * wanted)), 0};
    for (int i = 0; i < wanted; ++i) {
        BackgroundWorker worker{};
        snprintf(worker.bgw_name, BGW_MAXLEN, "normalize part worker for PID %d", MyProcPid);
        snprintf(worker.bgw_type, BGW_MAXLEN, "normalize part worker");
        worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
        worker.bgw_start_time = BgWorkerStart_ConsistentState;
        worker.bgw_restart_time = BGW_NEVER_RESTART;
        snprintf(worker.bgw_library_name, BGW_MAXLEN, "normalize");
        snprintf(worker.bgw_function_name, BGW_MAXLEN, "nz_part_worker");
        worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
        worker.bgw_notify_pid = MyProcPid;
        // No free slot (max_worker_processes): the ones started do all.
        if (!RegisterDynamicBackgroundWorker(&worker, &l.handles[l.count])) break;
        ++l.count;
    }
    return l;
}

bool all_stopped(const Launched& l) {
    for (int i = 0; i < l.count; ++i) {
        pid_t pid;
        if (GetBackgroundWorkerPid(l.handles[i], &pid) != BGWH_STOPPED) return false;
    }
    return true;
}

void stop_all(const Launched& l) {
    for (int i = 0; i < l.count; ++i) TerminateBackgroundWorker(l.handles[i]);
}

// Whether a worker waits for a lock this session holds: a wait on both
// sides that the server's deadlock detector cannot see (this session waits
// on its latch, not on a lock).
bool worker_waits_for_caller(const Launched& l) {
    for (int i = 0; i < l.count; ++i) {
        pid_t pid;
        if (GetBackgroundWorkerPid(l.handles[i], &pid) != BGWH_STARTED) continue;
        ArrayType* blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pid)));
        Datum* pids;
        int n;
        deconstruct_array(blockers, INT4OID, 4, true, TYPALIGN_INT, &pids, nullptr, &n);
        for (int k = 0; k < n; ++k)
            if (DatumGetInt32(pids[k]) == MyProcPid) return true;
    }
    return false;
}

// The caller's step, if one is in progress, is fed the workers' rows.
void wait_for_workers(Shared* shared, const Launched& l) {
    for (int round = 1;; ++round) {
        if (shared->failed) {
            stop_all(l);
            raise_worker_error(shared);
        }
        if (all_stopped(l)) return;
        if (round % 4 == 0 && worker_waits_for_caller(l))
            ereport(ERROR, (errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
                            errmsg("a background worker waits for a lock that this session holds"),
                            errdetail("The workers of run_in_parts run in transactions of their own."),
                            errhint("Run it in a transaction that has not used the tables it writes, or SET "
                                    "normalize.workers = 1.")));
        if (shared->counts_progress)
            count_step_rows(static_cast<int64>(pg_atomic_exchange_u64(&shared->progress, 0)));
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 250L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

// The statement parsed and planned here, where an error names the
// caller's statement, before any worker starts. In a subtransaction that
// is rolled back: planning locks the tables the statement names, and a
// lock held here until the end of the transaction would stop a worker
// that changes one of them (a key built on a staging table).
void check_statement(const char* statement) {
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(context);
    PG_TRY();
    {
        SPIPlanPtr checked = SPI_prepare(statement, 2, kArgTypes);
        if (checked == nullptr)
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("the statement could not be prepared"),
                            errdetail("%s", SPI_result_code_string(SPI_result))));
        SPI_freeplan(checked);
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        ErrorData* e = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(context);
        CurrentResourceOwner = owner;
        ReThrowError(e);
    }
    PG_END_TRY();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
}

// Hands the parts to background workers (at most wanted): returns what
// they wrote, and in *next the first part none of them began (all were
// begun, unless no worker started). Without a segment of shared memory
// (the server's are all taken), none.
uint64 run_parts_in_workers(const char* statement, int parts, int wanted, int* next) {
    *next = 0;
    Size settings_bytes;
    const char* settings = packed_settings(&settings_bytes, parts);
    const Size statement_bytes = strlen(statement) + 1;
    // Without a segment (the server's are all taken), no workers.
    dsm_segment* seg = dsm_create(sizeof(Shared) + settings_bytes + statement_bytes, DSM_CREATE_NULL_IF_MAXSEGMENTS);
    if (seg == nullptr) return 0;
    auto* shared = static_cast<Shared*>(dsm_segment_address(seg));
    memset(shared, 0, sizeof(Shared));
    shared->database = MyDatabaseId;
    shared->login_role = GetAuthenticatedUserId();
    shared->current_role = GetUserId();
    shared->parts = parts;
    shared->counts_progress = step_in_progress();
    pg_atomic_init_u32(&shared->next_part, 0);
    pg_atomic_init_u32(&shared->parts_done, 0);
    pg_atomic_init_u64(&shared->result, 0);
    pg_atomic_init_u64(&shared->progress, 0);
    SpinLockInit(&shared->error_lock);
    shared->settings_bytes = settings_bytes;
    memcpy(reinterpret_cast<char*>(shared + 1), settings, settings_bytes);
    memcpy(reinterpret_cast<char*>(shared + 1) + settings_bytes, statement, statement_bytes);
    const Launched launched = launch_workers(seg, wanted);
    PG_TRY();
    {
        wait_for_workers(shared, launched);
    }
    PG_CATCH();
    {
        stop_all(launched);
        PG_RE_THROW();
    }
    PG_END_TRY();
    if (shared->failed) raise_worker_error(shared);
    if (shared->counts_progress)
        count_step_rows(static_cast<int64>(pg_atomic_exchange_u64(&shared->progress, 0)));
    const uint32 claimed = pg_atomic_read_u32(&shared->next_part);
    const uint32 done = pg_atomic_read_u32(&shared->parts_done);
    // Each worker claims a part and finishes it, or reports why not.
    const uint32 begun = claimed < static_cast<uint32>(parts) ? claimed : static_cast<uint32>(parts);
    if (done != begun)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("a background worker stopped before it finished its part of a statement"),
                        errdetail("%u of the %u parts begun were finished; the server log may say why.", done,
                                  begun),
                        errhint("Run it again, or with normalize.workers = 1.")));
    const uint64 result = pg_atomic_read_u64(&shared->result);
    *next = static_cast<int>(begun);
    elog(DEBUG1, "normalize: %d parts of a statement, %u of them by %d background workers", parts, done,
         launched.count);
    dsm_detach(seg);
    return result;
}

}  // namespace

uint64 run_statement_in_parts(const char* statement, int parts) {
    if (parts < 1 || parts > kMaxParts)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("parts must be between 1 and %d, got %d", kMaxParts, parts),
                        errhint("Pass how many parts the statement's work is split into, such as 8.")));
    SPI_connect();
    check_statement(statement);
    uint64 result = 0;
    int next = 0;
    if (worker_count() > 1 && parts_may_commit_apart())
        result = run_parts_in_workers(statement, parts, std::min(worker_count(), parts), &next);
    // The parts no worker took (none started, or none may), here.
    for (int part = next; part < parts; ++part) result += run_part(statement, part, parts);
    SPI_finish();
    return result;
}

namespace {

void run_worker_parts(Shared* shared) {
    const char* statement = statement_of(shared);
    volatile int part = -1;
    MemoryContext keep = CurrentMemoryContext;
    PG_TRY();
    {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        apply_settings(shared);
        CommitTransactionCommand();
        for (;;) {
            part = static_cast<int>(pg_atomic_fetch_add_u32(&shared->next_part, 1));
            if (part >= shared->parts) break;
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            SetUserIdAndSecContext(shared->current_role, SECURITY_LOCAL_USERID_CHANGE);
            PushActiveSnapshot(GetTransactionSnapshot());
            pgstat_report_activity(STATE_RUNNING, statement);
            SPI_connect();
            const uint64 added = run_part(statement, part, shared->parts);
            SPI_finish();
            PopActiveSnapshot();
            CommitTransactionCommand();
            pgstat_report_activity(STATE_IDLE, nullptr);
            pg_atomic_fetch_add_u64(&shared->result, added);
            pg_atomic_fetch_add_u32(&shared->parts_done, 1);
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(keep);
        ErrorData* e = CopyErrorData();
        keep_first_error(shared, e, part < 0 ? 0 : part);
        PG_RE_THROW();
    }
    PG_END_TRY();
}

}  // namespace

bool parts_may_commit_apart() {
    return !IsInParallelMode() && XactIsoLevel == XACT_READ_COMMITTED &&
           GetTopTransactionIdIfAny() == InvalidTransactionId && !RecoveryInProgress();
}

pg_atomic_uint64* part_progress_counter() { return worker_counter; }

}  // namespace normalize::glue

extern "C" PGDLLEXPORT void nz_part_worker(Datum arg);

extern "C" void nz_part_worker(Datum arg) {
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    dsm_segment* seg = dsm_attach(DatumGetUInt32(arg));
    if (seg == nullptr) proc_exit(0);  // the caller is gone, and so is the work
    auto* shared = static_cast<normalize::glue::Shared*>(dsm_segment_address(seg));
    BackgroundWorkerInitializeConnectionByOid(shared->database, shared->login_role, 0);
    if (shared->counts_progress) normalize::glue::worker_counter = &shared->progress;
    normalize::glue::run_worker_parts(shared);
    dsm_detach(seg);
    proc_exit(0);
}

// run_in_parts(statement, parts): see committed_parts.hpp.
NZ_FUNCTION(nz_run_in_parts) {
    const uint64 written =
        normalize::glue::run_statement_in_parts(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_INT32(1));
    PG_RETURN_INT64(static_cast<int64>(written));
}

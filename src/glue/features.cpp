// write_feature_rows(entity, target, base): the feature engine's path from
// an entity's base rows to a table of its features. The base rows arrive
// through a DestReceiver, ordered by key: each entity's periods are kept
// (the values the engine reads, not the rows), put in order of t, fed to
// the engine, and each cutoff's row is written with the table access
// method's multi-row insert, as COPY does; the target's indexes are
// rebuilt once at the end rather than updated row by row. With more than
// one process (normalize.workers), a phase's staging table is written in
// ranges of keys by background workers, each range committed apart
// (stage_feature_rows, committed_parts.hpp); where that may not be, and
// for any other table, parallel workers compute parts of the entities and
// send their rows to the leader (feature_workers.hpp).
#include "feature_plan.hpp"
// (after the core's headers, which refuse to follow a Postgres header)
#include "committed_parts.hpp"
#include "feature_workers.hpp"
#include "progress.hpp"

#include <algorithm>
#include <cmath>

extern "C" {
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/nodeFuncs.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
}

namespace core = normalize::core;
using normalize::glue::FeaturePlan;

namespace {

constexpr int kInsertBatch = 1000;      // rows per multi-row insert
constexpr int64 kProgressEvery = 16384;  // base rows between two progress reports

// One entity's periods as read, column by column, in the order they came.
struct EntityRows {
    int count;
    int capacity;
    Datum* as_of;
    bool* cutoff;
    int64* t;
    double* values;       // count x metrics
    bool* known;          // count x metrics
    Datum* texts;         // count x text metrics
    bool* text_nulls;     // count x text metrics
    int* order;           // the periods in order of t
};

// The state of one pass. Plain data: an error may abandon it anywhere.
struct Pass {
    DestReceiver receiver;        // first: the executor calls back with it
    const FeaturePlan* plan;
    Oid target;
    core::FeatureEngine* engine;
    core::FeatureValue* out;
    MemoryContext memory;         // the pass's, for the key
    MemoryContext entity_memory;  // the current entity's periods, reset after it
    Datum key;                    // the current entity's key (in memory), 0 before the first
    EntityRows rows;
    Relation rel;
    TupleTableSlot** slots;       // rows waiting for the next multi-row insert
    int waiting;
    BulkInsertState bulk;
    CommandId cid;
    int64 written;
    int64 read;                   // base rows so far
    int64 expected;               // base rows the planner expects
    shm_mq_handle* outbox;        // a worker's: its rows go to the leader
    normalize::glue::FeatureWorkers* workers;  // the leader's, when it has any
    pg_atomic_uint64* all_read;   // base rows read by every process
    bool counts_to_caller;        // a background worker's: its caller reports the rows read
};

// Whether two strings are the same bytes. A compressed or external one is
// expanded for the comparison and freed after it: this runs once per base
// row, in the query's memory.
bool same_key(Datum a, Datum b) {
    struct varlena* va = reinterpret_cast<struct varlena*>(DatumGetPointer(a));
    struct varlena* vb = reinterpret_cast<struct varlena*>(DatumGetPointer(b));
    struct varlena* x = pg_detoast_datum_packed(va);
    struct varlena* y = pg_detoast_datum_packed(vb);
    const bool same = VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
                      memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
    if (x != va) pfree(x);
    if (y != vb) pfree(y);
    return same;
}

// A date as YYYY-MM-DD whatever the session's DateStyle.
const char* iso_date(Datum value) {
    const DateADT date = DatumGetDateADT(value);
    if (DATE_NOT_FINITE(date)) return DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity";
    int year, month, day;
    j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    return psprintf("%04d-%02d-%02d", year, month, day);
}

// Base rows read so far, by this process or, with workers, by all.
void report_read(const Pass* pass) {
    const int64 read = pass->all_read != nullptr ? static_cast<int64>(pg_atomic_read_u64(pass->all_read)) : pass->read;
    normalize::glue::report_progress("features", pass->plan->entity, read, pass->expected);
}

void flush_rows(Pass* pass) {
    if (pass->waiting == 0) return;
    table_multi_insert(pass->rel, pass->slots, pass->waiting, pass->cid, 0, pass->bulk);
    for (int i = 0; i < pass->waiting; ++i) ExecClearTuple(pass->slots[i]);
    pass->written += pass->waiting;
    pass->waiting = 0;
}

// A row the toaster would have to store out of line needs a new OID, which
// no process may assign while workers run.
void refuse_wide_row(const Pass* pass, uint32 bytes) {
    if (bytes > TOAST_TUPLE_THRESHOLD)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("a row of %s features is %u bytes, too wide to write with parallel workers",
                               pass->plan->entity, bytes),
                        errdetail("Rows over %d bytes are stored in part out of line, which workers cannot do.",
                                  static_cast<int>(TOAST_TUPLE_THRESHOLD)),
                        errhint("SET normalize.workers = 1 for this entity's features.")));
}

// A worker's row, formed here, to the leader.
void send_row(Pass* pass, TupleTableSlot* slot) {
    HeapTuple row = heap_form_tuple(slot->tts_tupleDescriptor, slot->tts_values, slot->tts_isnull);
    refuse_wide_row(pass, row->t_len);
    if (shm_mq_send(pass->outbox, row->t_len, row->t_data, false, false) != SHM_MQ_SUCCESS)
        ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN), errmsg("the leader of the feature workers is gone")));
    heap_freetuple(row);
    ExecClearTuple(slot);
    ++pass->written;
}

// A worker's row into the leader's next multi-row insert (a copy: the
// queue's memory is reused).
void take_row(HeapTuple row, void* arg) {
    Pass* pass = static_cast<Pass*>(arg);
    TupleTableSlot* slot = pass->slots[pass->waiting++];
    ExecForceStoreHeapTuple(row, slot, false);
    ExecMaterializeSlot(slot);
    if (pass->waiting == kInsertBatch) {
        flush_rows(pass);
        report_read(pass);
    }
}

// The features at period i of the entity (the engine's latest): key,
// as_of, then each feature, materialized so that it outlives the entity's
// memory until the next multi-row insert.
void write_row(Pass* pass, int i) {
    const FeaturePlan* plan = pass->plan;
    const EntityRows& rows = pass->rows;
    const int texts = plan->text_metric_count;
    pass->engine->compute(pass->out);
    TupleTableSlot* slot = pass->slots[pass->outbox != nullptr ? 0 : pass->waiting++];
    ExecClearTuple(slot);
    slot->tts_values[0] = pass->key;
    slot->tts_isnull[0] = false;
    slot->tts_values[1] = rows.as_of[i];
    slot->tts_isnull[1] = false;
    for (int f = 0; f < plan->features; ++f) {
        const normalize::glue::FeatureColumn& c = plan->columns[f];
        if (c.engine_index >= 0) {
            const core::FeatureValue v = pass->out[c.engine_index];
            slot->tts_values[2 + f] = Float8GetDatum(v.value);
            slot->tts_isnull[2 + f] = !v.known;
        } else {
            slot->tts_values[2 + f] = rows.texts[i * texts + c.text_column];
            slot->tts_isnull[2 + f] = rows.text_nulls[i * texts + c.text_column];
        }
    }
    ExecStoreVirtualTuple(slot);
    if (pass->outbox != nullptr) {
        send_row(pass, slot);
        return;
    }
    ExecMaterializeSlot(slot);
    if (IsInParallelMode()) refuse_wide_row(pass, ExecFetchSlotHeapTuple(slot, false, nullptr)->t_len);
    if (pass->waiting == kInsertBatch) flush_rows(pass);
}

// Feeds the entity's periods to the engine in order of t, refusing a
// missing or repeated one, and writes its cutoffs; then forgets them.
void finish_entity(Pass* pass) {
    EntityRows& rows = pass->rows;
    if (rows.count == 0) return;
    const FeaturePlan* plan = pass->plan;
    for (int i = 0; i < rows.count; ++i) rows.order[i] = i;
    const int64* t = rows.t;
    if (!std::is_sorted(rows.order, rows.order + rows.count, [t](int a, int b) { return t[a] < t[b]; }))
        std::sort(rows.order, rows.order + rows.count, [t](int a, int b) { return t[a] < t[b]; });
    pass->engine->start_entity();
    for (int k = 0; k < rows.count; ++k) {
        const int i = rows.order[k];
        if (t[i] != k + 1)
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("the periods of %s \"%s\" in %s are not numbered 1, 2, 3, ...", plan->entity,
                                   TextDatumGetCString(pass->key), plan->source),
                            errdetail("Period %lld comes where period %d should.", static_cast<long long>(t[i]),
                                      k + 1),
                            errhint("Each period's features read the periods before it: none may be missing or "
                                    "repeated.")));
        pass->engine->add_period(rows.values + static_cast<std::size_t>(i) * plan->metric_count,
                                 rows.known + static_cast<std::size_t>(i) * plan->metric_count);
        if (rows.cutoff[i]) write_row(pass, i);
    }
    flush_rows(pass);  // the rows point into the entity's memory
    MemoryContextReset(pass->entity_memory);
    rows = EntityRows{};
    if (pass->workers != nullptr) normalize::glue::take_worker_rows(pass->workers, false, take_row, pass);
}

void grow_rows(Pass* pass) {
    EntityRows& rows = pass->rows;
    const std::size_t n = rows.capacity == 0 ? 64 : 2 * static_cast<std::size_t>(rows.capacity);
    const std::size_t m = pass->plan->metric_count, x = pass->plan->text_metric_count;
    auto grow = [&](void* p, std::size_t size) {
        return p == nullptr ? palloc(size * n + 1) : repalloc(p, size * n + 1);
    };
    MemoryContext outer = MemoryContextSwitchTo(pass->entity_memory);
    rows.as_of = static_cast<Datum*>(grow(rows.as_of, sizeof(Datum)));
    rows.cutoff = static_cast<bool*>(grow(rows.cutoff, sizeof(bool)));
    rows.t = static_cast<int64*>(grow(rows.t, sizeof(int64)));
    rows.values = static_cast<double*>(grow(rows.values, sizeof(double) * m));
    rows.known = static_cast<bool*>(grow(rows.known, sizeof(bool) * m));
    rows.texts = static_cast<Datum*>(grow(rows.texts, sizeof(Datum) * x));
    rows.text_nulls = static_cast<bool*>(grow(rows.text_nulls, sizeof(bool) * x));
    rows.order = static_cast<int*>(grow(rows.order, sizeof(int)));
    MemoryContextSwitchTo(outer);
    rows.capacity = static_cast<int>(n);
}

void start_entity(Pass* pass, Datum key) {
    if (pass->key != 0) pfree(DatumGetPointer(pass->key));
    MemoryContext outer = MemoryContextSwitchTo(pass->memory);
    pass->key = datumCopy(key, false, -1);
    MemoryContextSwitchTo(outer);
}

// The metrics of one base row into the entity's period i.
void keep_metrics(Pass* pass, const Datum* values, const bool* nulls, int i) {
    const FeaturePlan* plan = pass->plan;
    EntityRows& rows = pass->rows;
    double* x = rows.values + static_cast<std::size_t>(i) * plan->metric_count;
    bool* known = rows.known + static_cast<std::size_t>(i) * plan->metric_count;
    for (int m = 0; m < plan->metric_count; ++m) {
        known[m] = !nulls[4 + m];
        x[m] = known[m] ? DatumGetFloat8(values[4 + m]) : 0.0;
        if (known[m] && !std::isfinite(x[m]))
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("%s of %s \"%s\" is %s at %s", plan->metrics[m], plan->entity,
                                   TextDatumGetCString(values[0]), std::isnan(x[m]) ? "NaN" : "infinite",
                                   iso_date(values[1])),
                            errdetail("Features are computed from finite values of %s.", plan->source),
                            plan->own_base ? errhint("Correct the value, or make it NULL if it is not known.")
                                           : errhint("Rebuild the history with normalize.build_history().")));
    }
    // Text metrics are mostly the entity's one value: a period repeating
    // the one before shares its copy.
    const int texts = plan->text_metric_count;
    for (int c = 0; c < texts; ++c) {
        const int at = i * texts + c;
        rows.text_nulls[at] = nulls[4 + plan->metric_count + c];
        const Datum v = values[4 + plan->metric_count + c];
        if (rows.text_nulls[at]) {
            rows.texts[at] = 0;
        } else if (i > 0 && !rows.text_nulls[at - texts] && same_key(rows.texts[at - texts], v)) {
            rows.texts[at] = rows.texts[at - texts];
        } else {
            // Expanded: a value stored out of line in the base relation
            // would have to be stored again in the target's, which no
            // process may do while workers run; inline, its size is known.
            MemoryContext outer = MemoryContextSwitchTo(pass->entity_memory);
            rows.texts[at] = PointerGetDatum(pg_detoast_datum_copy(reinterpret_cast<struct varlena*>(DatumGetPointer(v))));
            MemoryContextSwitchTo(outer);
        }
    }
}

bool receive_base_row(TupleTableSlot* slot, DestReceiver* self) {
    Pass* pass = reinterpret_cast<Pass*>(self);
    slot_getallattrs(slot);
    const Datum* values = slot->tts_values;
    const bool* nulls = slot->tts_isnull;
    if (nulls[0] || nulls[1] || nulls[2] || nulls[3])
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s has a row with a NULL key, as_of, is_cutoff or t", pass->plan->source),
                        errhint("Rebuild the history with normalize.build_history().")));
    if (pass->key == 0 || !same_key(pass->key, values[0])) {
        finish_entity(pass);
        start_entity(pass, values[0]);
    }
    EntityRows& rows = pass->rows;
    if (rows.count == rows.capacity) grow_rows(pass);
    const int i = rows.count++;
    rows.as_of[i] = values[1];
    rows.cutoff[i] = DatumGetBool(values[2]);
    rows.t[i] = DatumGetInt64(values[3]);
    keep_metrics(pass, values, nulls, i);
    if (++pass->read % kProgressEvery == 0) {
        if (pass->counts_to_caller) {
            normalize::glue::count_step_rows(kProgressEvery);
        } else {
            if (pass->all_read != nullptr) pg_atomic_fetch_add_u64(pass->all_read, kProgressEvery);
            if (pass->outbox == nullptr) report_read(pass);
        }
    }
    return true;
}

// The leader's target, opened for its multi-row inserts.
void open_for_writing(Pass* pass, Oid key_type) {
    if (pass->outbox != nullptr) return;
    pass->rel = normalize::glue::open_target(pass->target, pass->plan, key_type);
    pass->slots = static_cast<TupleTableSlot**>(palloc(sizeof(TupleTableSlot*) * kInsertBatch));
    for (int i = 0; i < kInsertBatch; ++i) pass->slots[i] = table_slot_create(pass->rel, nullptr);
    pass->bulk = GetBulkInsertState();
    pass->cid = GetCurrentCommandId(true);
}

// The target is opened once the base query's key type is known (the
// leader with workers opens it before they start, and then reads parts).
void start_receiving(DestReceiver* self, int, TupleDesc desc) {
    Pass* pass = reinterpret_cast<Pass*>(self);
    if (get_typlen(TupleDescAttr(desc, 0)->atttypid) != -1)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("the key of %s is of type %s, not a string", pass->plan->source,
                               format_type_be(TupleDescAttr(desc, 0)->atttypid)),
                        errhint("The stable keys of normalize are text.")));
    MemoryContext outer = MemoryContextSwitchTo(pass->memory);
    if (pass->rel == nullptr) open_for_writing(pass, TupleDescAttr(desc, 0)->atttypid);
    if (pass->outbox != nullptr && pass->slots == nullptr) {
        // A worker forms rows of the target's layout, checked by the leader.
        pass->rel = table_open(pass->target, AccessShareLock);
        pass->slots = static_cast<TupleTableSlot**>(palloc(sizeof(TupleTableSlot*)));
        pass->slots[0] = MakeSingleTupleTableSlot(RelationGetDescr(pass->rel), &TTSOpsVirtual);
    }
    MemoryContextSwitchTo(outer);
}

void stop_receiving(DestReceiver* self) { finish_entity(reinterpret_cast<Pass*>(self)); }

void forget_receiver(DestReceiver*) {}

void prepare_pass(Pass* pass, const FeaturePlan* plan, Oid target) {
    pass->receiver.receiveSlot = receive_base_row;
    pass->receiver.rStartup = start_receiving;
    pass->receiver.rShutdown = stop_receiving;
    pass->receiver.rDestroy = forget_receiver;
    pass->receiver.mydest = DestNone;
    pass->plan = plan;
    pass->target = target;
    const std::size_t bytes = core::FeatureEngine::buffer_size(plan->specs, plan->engine_features, plan->metric_count);
    pass->engine = static_cast<core::FeatureEngine*>(palloc0(sizeof(core::FeatureEngine)));
    pass->engine->init(palloc0(bytes), plan->specs, plan->engine_features, plan->metric_count);
    pass->out = static_cast<core::FeatureValue*>(palloc0(sizeof(core::FeatureValue) * (plan->engine_features + 1)));
    pass->memory = CurrentMemoryContext;
    pass->entity_memory = AllocSetContextCreate(CurrentMemoryContext, "feature engine entity", ALLOCSET_DEFAULT_SIZES);
}

// The planner's estimates for a query: the rows it returns (the "to do"
// of the progress report; the history tables are analyzed as they are
// built) and its cost.
struct Estimate {
    int64 rows;
    double cost;
};

Estimate estimate(SPIPlanPtr query) {
    Estimate e{0, 0.0};
    CachedPlan* cached = query == nullptr ? nullptr : SPI_plan_get_cached_plan(query);
    if (cached == nullptr) return e;
    if (list_length(cached->stmt_list) == 1) {
        const Plan* top = linitial_node(PlannedStmt, cached->stmt_list)->planTree;
        e.rows = static_cast<int64>(top->plan_rows);
        e.cost = top->total_cost;
    }
    ReleaseCachedPlan(cached, nullptr);
    return e;
}

// Node walkers, as each server version declares their callback.
#if PG_VERSION_NUM >= 160000
#define NZ_WALKER(f) (f)
#else
// (through void (*)(), the type a function pointer is cast through)
#define NZ_WALKER(f) reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(f))
#endif

// A volatile function may count its commands, which no process may do
// while workers run.
bool not_parallel_safe(Oid function, void*) {
    return func_parallel(function) != PROPARALLEL_SAFE || func_volatile(function) == PROVOLATILE_VOLATILE;
}

// A relation workers cannot read: a temporary table (its rows may be in
// the session's own buffers) or a foreign table (whose wrapper may not
// allow parallel scans), the relation itself or, when the query reads its
// children too, one of them (inheritance or partitions).
bool relation_keeps_workers_out(Oid relid, bool with_children) {
    List* relids = with_children ? find_all_inheritors(relid, AccessShareLock, nullptr) : list_make1_oid(relid);
    ListCell* cell;
    foreach (cell, relids) {
        const Oid rel = lfirst_oid(cell);
        if (get_rel_persistence(rel) == RELPERSISTENCE_TEMP || get_rel_relkind(rel) == RELKIND_FOREIGN_TABLE)
            return true;
    }
    return false;
}

// True at the first thing a worker may not run or read: a function that is
// volatile or not parallel safe, a temporary or foreign table (or a child
// of one read), a row lock.
// Unlike the planner's test, window functions pass: each process runs
// whole queries of its own entities, in their order, not a share of one
// plan's rows.
bool worker_cannot_run(Node* node, void* context) {
    if (node == nullptr) return false;
    if (check_functions_in_node(node, not_parallel_safe, context)) return true;
    if (IsA(node, RangeTblEntry)) {
        const auto* rte = reinterpret_cast<const RangeTblEntry*>(node);
        return rte->rtekind == RTE_RELATION && relation_keeps_workers_out(rte->relid, rte->inh);
    }
    if (IsA(node, Query)) {
        Query* query = reinterpret_cast<Query*>(node);
        if (query->rowMarks != NIL) return true;
        return query_tree_walker(query, NZ_WALKER(worker_cannot_run), context, QTW_EXAMINE_RTES_BEFORE);
    }
    return expression_tree_walker(node, NZ_WALKER(worker_cannot_run), context);
}

// Whether the query may run in workers, and in the session while they run
// (in parallel mode, where a volatile function that writes or counts its
// commands fails): checked through the views it reads.
bool parallel_safe(SPIPlanPtr query) {
    if (query == nullptr) return false;
    ListCell* s;
    foreach (s, SPI_plan_get_plan_sources(query)) {
        ListCell* q;
        foreach (q, static_cast<CachedPlanSource*>(lfirst(s))->query_list)
            if (worker_cannot_run(reinterpret_cast<Node*>(lfirst_node(Query, q)), nullptr)) return false;
    }
    return true;
}

// The type of the query's first column, the key (InvalidOid when unknown).
Oid key_type_of(SPIPlanPtr query) {
    if (query == nullptr) return InvalidOid;
    List* sources = SPI_plan_get_plan_sources(query);
    if (list_length(sources) != 1) return InvalidOid;
    TupleDesc desc = static_cast<CachedPlanSource*>(linitial(sources))->resultDesc;
    return desc == nullptr || desc->natts < 1 ? InvalidOid : TupleDescAttr(desc, 0)->atttypid;
}

// Whether splitting pays: a part must cost well under the whole, which it
// does when the key's range reaches down to the rows read (the history's
// index); a base view whose heavy part reads every row whatever the key
// range (a roll-up joined in by another column) would be read in full by
// each process.
bool parts_pay(const FeaturePlan* plan, const Estimate& whole, int parts, const char** bounds) {
    SPIPlanPtr first = SPI_prepare(normalize::glue::base_query(plan, nullptr, bounds[0]), 0, nullptr);
    const Estimate part = estimate(first);
    if (first != nullptr) SPI_freeplan(first);
    return part.cost <= whole.cost * (1.0 + 1.0 / parts) / 2.0;
}

// Reads the base rows of the keys from lower up to upper (null: no bound)
// into the pass.
void read_part(Pass* pass, const char* lower, const char* upper) {
    const FeaturePlan* plan = pass->plan;
    SPIPlanPtr query = SPI_prepare(normalize::glue::base_query(plan, lower, upper), 0, nullptr);
    if (query == nullptr)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("the base rows of %s could not be read from %s", plan->entity, plan->source),
                        errdetail("%s", SPI_result_code_string(SPI_result))));
    SPIExecuteOptions options{};
    options.read_only = true;
    options.dest = &pass->receiver;
    // The executor starts the receiver (opening the target) even when there
    // are no rows, and stops it after the last.
    const int status = SPI_execute_plan_extended(query, &options);
    if (status < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("the base rows of %s could not be read from %s", plan->entity, plan->source),
                        errdetail("%s", SPI_result_code_string(status))));
    SPI_freeplan(query);
}

// Whether the rows may be written while workers run: none may need the
// toaster's out-of-line storage (see refuse_wide_row), which a row of
// float8 features and short texts (64 bytes allowed for each) never does.
bool rows_fit_inline(const FeaturePlan* plan) {
    const int texts = plan->features - plan->engine_features + 1;
    return 64 + 8L * plan->engine_features + 64L * texts <= static_cast<long>(TOAST_TUPLE_THRESHOLD);
}

// The leader with workers: its own part, then the parts no worker took,
// taking the workers' rows between its entities; then the rest of theirs.
void read_in_parts(Pass* pass, Oid base, int parts, const char** bounds, Oid key_type) {
    // The target opened and checked before any worker forms a row for it;
    // the workers' rows are heap tuples, for a heap table.
    open_for_writing(pass, key_type);
    if (pass->rel->rd_rel->relam != HEAP_TABLE_AM_OID) {
        read_part(pass, nullptr, nullptr);
        return;
    }
    // Workers share the transaction: it must have its ID before they start.
    (void) GetCurrentTransactionId();
    pass->workers = normalize::glue::start_feature_workers(pass->plan->entity, base, pass->target, parts, bounds);
    pass->all_read = normalize::glue::rows_read(pass->workers);
    for (int part = 0; part < parts; ++part)
        if (part == 0 || normalize::glue::part_is_unclaimed(pass->workers, part))
            read_part(pass, part == 0 ? nullptr : bounds[part - 1], part + 1 < parts ? bounds[part] : nullptr);
    normalize::glue::take_worker_rows(pass->workers, true, take_row, pass);
    flush_rows(pass);
    if (pass->all_read != nullptr) pg_atomic_fetch_add_u64(pass->all_read, pass->read % kProgressEvery);
    const int64 read = pass->all_read != nullptr ? static_cast<int64>(pg_atomic_read_u64(pass->all_read)) : pass->read;
    normalize::glue::finish_feature_workers(pass->workers);
    pass->workers = nullptr;
    pass->all_read = nullptr;  // in the segment, gone with the workers
    normalize::glue::report_progress("features", pass->plan->entity, read, pass->expected);
}

// The multi-row inserts' slots and state freed, the target closed and its
// indexes rebuilt; returns the rows written.
int64 finish_pass(Pass* pass) {
    for (int i = 0; i < kInsertBatch; ++i) ExecDropSingleTupleTableSlot(pass->slots[i]);
    FreeBulkInsertState(pass->bulk);
    const bool has_indexes = pass->rel->rd_rel->relhasindex;
    char* name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(pass->rel)),
                                            RelationGetRelationName(pass->rel));
    table_close(pass->rel, NoLock);
    // The rows went in without index entries: rebuild the indexes (a
    // bulk build, cheaper than row-by-row entries) before anyone, this
    // transaction included, reads through them. Others cannot see the
    // rows before commit, so what their indexes lack is nothing they see.
    if (has_indexes) SPI_execute(psprintf("REINDEX TABLE %s", name), false, 0);
    return pass->written;
}

void refuse_null_arguments(FunctionCallInfo fcinfo) {
    for (int arg = 0; arg < 2; ++arg)
        if (PG_ARGISNULL(arg))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("%s must not be NULL", arg == 0 ? "entity" : "target"),
                            errhint(arg == 0 ? "Pass a feature entity of normalize.entity_kinds."
                                             : "Pass a table with the columns of the entity's feature view.")));
}

// Whether background workers may write the target, each part committed
// apart: a plain heap table without indexes (a part's rows go in without
// index entries, and no worker could rebuild them under the others).
bool workers_may_write(Oid target) {
    Relation rel = try_relation_open(target, AccessShareLock);
    if (rel == nullptr) return false;
    const bool plain = rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
                       !rel->rd_rel->relhasindex && rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP;
    // (Let go at once: a worker builds the table's key before the swap.)
    relation_close(rel, AccessShareLock);
    return plain;
}

// An SQL array of the parts' bounds, NULL at both ends: part p reads from
// element p + 1 up to element p + 2.
char* bounds_array(const char** bounds, int parts) {
    StringInfoData a;
    initStringInfo(&a);
    appendStringInfoString(&a, "ARRAY[NULL");
    for (int i = 0; i < parts - 1; ++i) appendStringInfo(&a, ", %s", quote_literal_cstr(bounds[i]));
    appendStringInfoString(&a, ", NULL]::pg_catalog.text[]");
    return a.data;
}

// The entities in ranges of keys, each written by a background worker of
// its own and committed apart (committed_parts.hpp): four ranges per
// process, so that one done early takes another; or, where ranges do not
// pay (see parts_pay), one range of all, which a worker writes all the
// same, so that the session still writes nothing before the swap.
// Returns the rows written.
int64 write_in_committed_parts(const FeaturePlan* plan, Oid target, const Estimate& whole) {
    int parts = 4 * normalize::glue::worker_count();
    const char** bounds = normalize::glue::part_bounds(plan, &parts, true);
    if (bounds == nullptr || parts < 2 || !parts_pay(plan, whole, parts, bounds)) parts = 1;
    const char* array = bounds_array(bounds, parts);
    const char* statement = psprintf(
        "SELECT normalize.write_feature_part(%s, %u::pg_catalog.oid::pg_catalog.regclass, NULL, "
        "(%s)[$1 OPERATOR(pg_catalog.+) 1], (%s)[$1 OPERATOR(pg_catalog.+) 2])",
        quote_literal_cstr(plan->entity), target, array, array);
    elog(DEBUG1, "normalize: the features of %s in %d part%s, committed apart", plan->entity, parts,
         parts == 1 ? "" : "s");
    normalize::glue::begin_step("features", plan->entity, whole.rows);
    const uint64 written = normalize::glue::run_statement_in_parts(statement, parts);
    normalize::glue::end_step();
    return static_cast<int64>(written);
}

// A parallel worker's task: its part, sent to the leader.
dsm_segment* worker_segment;
shm_toc* worker_toc;

Datum run_worker(FunctionCallInfo) {
    normalize::glue::WorkerTask task;
    normalize::glue::read_worker_task(worker_segment, worker_toc, &task);
    SPI_connect();
    FeaturePlan plan{};
    normalize::glue::load_feature_plan(task.entity, task.base == InvalidOid ? nullptr : &task.base, &plan);
    Pass pass{};
    prepare_pass(&pass, &plan, task.target);
    pass.outbox = task.outbox;
    pass.all_read = task.read;
    read_part(&pass, task.lower, task.upper);
    pg_atomic_fetch_add_u64(task.read, pass.read % kProgressEvery);
    ExecDropSingleTupleTableSlot(pass.slots[0]);
    table_close(pass.rel, NoLock);
    SPI_finish();
    shm_mq_detach(task.outbox);
    return 0;
}

}  // namespace

extern "C" PGDLLEXPORT void nz_feature_worker(dsm_segment* seg, shm_toc* toc);

extern "C" void nz_feature_worker(dsm_segment* seg, shm_toc* toc) {
    worker_segment = seg;
    worker_toc = toc;
    normalize::glue::run_guarded(nullptr, run_worker);
}

namespace {

// The rows of write_feature_rows (base: its third argument, or none), or
// with staging those of a phase's staging table, which background workers
// may write in parts committed apart.
Datum write_feature_rows(FunctionCallInfo fcinfo, bool staging) {
    refuse_null_arguments(fcinfo);
    const char* entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    SPI_connect();
    FeaturePlan plan{};
    const bool has_base = !staging && !PG_ARGISNULL(2);
    const Oid base = has_base ? PG_GETARG_OID(2) : InvalidOid;
    normalize::glue::load_feature_plan(entity, has_base ? &base : nullptr, &plan);
    Pass pass{};
    prepare_pass(&pass, &plan, PG_GETARG_OID(1));
    SPIPlanPtr query = SPI_prepare(normalize::glue::base_query(&plan), 0, nullptr);
    const Estimate whole = estimate(query);
    const bool safe = parallel_safe(query);
    const Oid key_type = key_type_of(query);
    if (query != nullptr) SPI_freeplan(query);
    pass.expected = whole.rows;
    // A staging table: background workers that write their own parts where
    // the session may hand them over (the parts they committed go with the
    // table if the phase fails). Else, and for any other table, whose
    // rows must come and go with the transaction, parallel workers whose
    // rows the session writes.
    if (staging && normalize::glue::worker_count() > 1 && safe && normalize::glue::parts_may_commit_apart() &&
        key_type != InvalidOid && get_typlen(key_type) == -1 && workers_may_write(pass.target)) {
        const int64 written = write_in_committed_parts(&plan, pass.target, whole);
        SPI_finish();
        PG_RETURN_INT64(written);
    }
    normalize::glue::report_progress("features", plan.entity, 0, pass.expected);
    // Workers only where the server allows them (not inside a parallel
    // operation already), the base rows' query is parallel safe and the
    // rows never need out-of-line storage.
    int parts = normalize::glue::worker_count();
    const char** bounds = parts > 1 && safe && !IsInParallelMode() && rows_fit_inline(&plan) &&
                                  key_type != InvalidOid && get_typlen(key_type) == -1
                              ? normalize::glue::part_bounds(&plan, &parts) : nullptr;
    if (bounds == nullptr || parts < 2 || !parts_pay(&plan, whole, parts, bounds)) parts = 1;
    elog(DEBUG1, "normalize: the features of %s in %d part%s", plan.entity, parts, parts == 1 ? "" : "s");
    if (parts > 1)
        read_in_parts(&pass, base, parts, bounds, key_type);
    else
        read_part(&pass, nullptr, nullptr);
    const int64 written = finish_pass(&pass);
    SPI_finish();
    PG_RETURN_INT64(written);
}

}  // namespace

NZ_FUNCTION(nz_write_feature_rows) { return write_feature_rows(fcinfo, false); }

// stage_feature_rows(entity, target): see 42_feature_stores.sql.
NZ_FUNCTION(nz_stage_feature_rows) { return write_feature_rows(fcinfo, true); }

// write_feature_part(entity, target, base, lower, upper): the rows of the
// keys from lower up to upper (NULL: no bound), on this process alone; the
// part of one background worker of write_feature_rows.
NZ_FUNCTION(nz_write_feature_part) {
    refuse_null_arguments(fcinfo);
    const char* entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    const char* lower = PG_ARGISNULL(3) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(3));
    const char* upper = PG_ARGISNULL(4) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(4));
    SPI_connect();
    FeaturePlan plan{};
    const Oid base = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
    normalize::glue::load_feature_plan(entity, PG_ARGISNULL(2) ? nullptr : &base, &plan);
    Pass pass{};
    prepare_pass(&pass, &plan, PG_GETARG_OID(1));
    pass.counts_to_caller = normalize::glue::part_progress_counter() != nullptr;
    read_part(&pass, lower, upper);
    const int64 written = finish_pass(&pass);
    SPI_finish();
    PG_RETURN_INT64(written);
}

// write_feature_rows(entity, target): the feature engine's path from an
// entity's base view to a table of its features. The catalog says which
// features there are; the base rows are read in time order through one
// cursor; each cutoff's row is written with the table access method's bulk
// insert (as CREATE TABLE AS does), and the target's indexes are rebuilt
// once at the end rather than updated row by row.
#include "../core/feature_engine.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"

#include <cmath>

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
}

namespace core = normalize::core;

namespace {

// One column of a feature table after the key and as_of: a feature the
// engine computes (engine_index >= 0), or a text metric passed through as
// its last value (text_column, the column of the base query).
struct FeatureColumn {
    const char* name;
    Oid type;
    int engine_index;
    int text_column;
};

// What the catalog and entity_kinds say of one entity, in SPI memory.
struct FeaturePlan {
    const char* entity;
    const char* base_view;
    const char* source;           // what the base rows are read from: the base view, or a table like it
    bool own_base;                // the caller's relation, not the base view
    const char* key;
    int features;
    FeatureColumn* columns;       // one per feature, catalog order
    core::FeatureSpec* specs;     // the engine's features
    int engine_features;
    const char** metrics;         // float8 metrics the engine reads
    int metric_count;
    const char** text_metrics;    // text metrics passed through
    int text_metric_count;
};

// The index of name in names[0..count), appending it when absent.
int intern(const char** names, int* count, const char* name) {
    for (int i = 0; i < *count; ++i)
        if (strcmp(names[i], name) == 0) return i;
    names[*count] = name;
    return (*count)++;
}

void load_entity(const char* entity, FeaturePlan* plan) {
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(entity)};
    SPI_execute_with_args("SELECT k.base_view, k.kind || '_key' FROM normalize.entity_kinds AS k"
                          " WHERE k.feature_entity OPERATOR(pg_catalog.=) $1",
                          1, argtypes, args, nullptr, true, 1);
    if (SPI_processed == 0) {
        SPI_execute("SELECT regexp_replace(string_agg(k.feature_entity, ', ' ORDER BY k.position),"
                    "                      ', ([^,]*)$', ' or \\1')"
                    "  FROM normalize.entity_kinds AS k",
                    true, 1);
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("entity must be %s, got \"%s\"",
                               SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), entity),
                        errhint("Pass a feature entity of normalize.entity_kinds.")));
    }
    plan->entity = entity;
    plan->base_view = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    plan->key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

void load_catalog(FeaturePlan* plan) {
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(plan->entity)};
    SPI_execute_with_args("SELECT c.feature, c.source_metric, c.aggregation, coalesce(c.window_size, 0), c.data_type"
                          "  FROM normalize.feature_catalog AS c WHERE c.entity OPERATOR(pg_catalog.=) $1"
                          " ORDER BY c.position",
                          1, argtypes, args, nullptr, true, 0);
    const int n = static_cast<int>(SPI_processed);
    plan->features = n;
    plan->columns = static_cast<FeatureColumn*>(palloc0(sizeof(FeatureColumn) * (n + 1)));
    plan->specs = static_cast<core::FeatureSpec*>(palloc0(sizeof(core::FeatureSpec) * (n + 1)));
    plan->metrics = static_cast<const char**>(palloc0(sizeof(char*) * (n + 1)));
    plan->text_metrics = static_cast<const char**>(palloc0(sizeof(char*) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        HeapTuple tuple = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        FeatureColumn* column = &plan->columns[i];
        column->name = SPI_getvalue(tuple, desc, 1);
        const char* metric = SPI_getvalue(tuple, desc, 2);
        const char* aggregation = SPI_getvalue(tuple, desc, 3);
        const int window = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
        const bool is_text = strcmp(SPI_getvalue(tuple, desc, 5), "text") == 0;
        column->type = is_text ? TEXTOID : FLOAT8OID;
        if (is_text) {
            if (strcmp(aggregation, "last") != 0)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("feature \"%s\" aggregates a text metric by %s", column->name, aggregation),
                                errhint("A text feature of normalize.feature_catalog can only be its metric's last "
                                        "value.")));
            column->engine_index = -1;
            column->text_column = intern(plan->text_metrics, &plan->text_metric_count, metric);
        } else {
            column->engine_index = plan->engine_features;
            core::FeatureSpec* spec = &plan->specs[plan->engine_features++];
            spec->metric = intern(plan->metrics, &plan->metric_count, metric);
            spec->aggregation = core::parse_aggregation(aggregation);
            spec->window = window;
        }
    }
    // The core's own checks, before any buffer is laid out.
    core::validate_feature_specs(plan->specs, plan->engine_features, plan->metric_count);
}

// The base rows in time order: key, as_of, is_cutoff, t, the float8
// metrics, the text metrics.
char* base_query(const FeaturePlan* plan) {
    StringInfoData q;
    initStringInfo(&q);
    appendStringInfo(&q, "SELECT b.%s, b.as_of, b.is_cutoff, b.t", quote_identifier(plan->key));
    for (int m = 0; m < plan->metric_count; ++m)
        appendStringInfo(&q, ", b.%s::pg_catalog.float8", quote_identifier(plan->metrics[m]));
    for (int m = 0; m < plan->text_metric_count; ++m)
        appendStringInfo(&q, ", b.%s::pg_catalog.text", quote_identifier(plan->text_metrics[m]));
    // Ordered by the key alone, which the base views' windows already
    // produce: the engine puts each entity's periods in order of t itself
    // (a sort of a few hundred rows, and mostly a check that they are).
    appendStringInfo(&q, " FROM %s AS b ORDER BY 1", plan->source);
    return q.data;
}

// The target must have the key, as_of and every feature, in catalog order,
// with the base view's key type: the same columns as the feature view.
void check_target_columns(Relation rel, const FeaturePlan* plan, Oid key_type) {
    TupleDesc desc = RelationGetDescr(rel);
    int column = 0;
    auto expect = [&](const char* name, Oid type) {
        while (column < desc->natts && TupleDescAttr(desc, column)->attisdropped) ++column;
        const bool present = column < desc->natts;
        Form_pg_attribute attr = present ? TupleDescAttr(desc, column) : nullptr;
        if (!present || strcmp(NameStr(attr->attname), name) != 0 || attr->atttypid != type)
            ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                            errmsg("target \"%s\" does not have the columns of the %s features",
                                   RelationGetRelationName(rel), plan->entity),
                            present ? errdetail("Column %d is \"%s\" of type %s; it should be \"%s\" of type %s.",
                                                column + 1, NameStr(attr->attname), format_type_be(attr->atttypid),
                                                name, format_type_be(type))
                                    : errdetail("The table ends before column %d, \"%s\" of type %s.", column + 1,
                                                name, format_type_be(type)),
                            errhint("Create the target LIKE normalize.%s_feature_store.", plan->entity)));
        ++column;
    };
    expect(plan->key, key_type);
    expect("as_of", DATEOID);
    for (int f = 0; f < plan->features; ++f) expect(plan->columns[f].name, plan->columns[f].type);
    while (column < desc->natts && TupleDescAttr(desc, column)->attisdropped) ++column;
    if (column < desc->natts)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("target \"%s\" has more columns than the %s features", RelationGetRelationName(rel),
                               plan->entity),
                        errdetail("Column %d, \"%s\", is not a feature.", column + 1,
                                  NameStr(TupleDescAttr(desc, column)->attname)),
                        errhint("Create the target LIKE normalize.%s_feature_store.", plan->entity)));
}

// A plain table this user may fill in bulk: no triggers or row security to
// bypass, as a bulk load would.
Relation open_target(Oid target) {
    PreventCommandIfReadOnly("write_feature_rows()");
    Relation rel = table_open(target, RowExclusiveLock);
    const char* name = RelationGetRelationName(rel);
    if (rel->rd_rel->relkind != RELKIND_RELATION)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("target \"%s\" is not a table", name),
                        errhint("Pass a plain table, such as normalize.device_feature_store.")));
    const AclResult acl = pg_class_aclcheck(target, GetUserId(), ACL_INSERT);
    if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_TABLE, name);
    if (rel->trigdesc != nullptr)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("target \"%s\" has triggers, which a bulk write would not fire", name),
                        errhint("Write into a table without triggers and copy the rows from there.")));
    if (check_enable_rls(target, InvalidOid, false) == RLS_ENABLED)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("target \"%s\" has row-level security, which a bulk write would bypass", name),
                        errhint("Write into a table without row security and copy the rows from there.")));
    return rel;
}

bool same_key(Datum a, Datum b) {
    const text* x = reinterpret_cast<const text*>(pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(a)));
    const text* y = reinterpret_cast<const text*>(pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(b)));
    return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
           memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

// An entity's base rows, as read: copied and split into columns, so that
// its periods can be put in order of t before any is fed to the engine.
struct BaseRow {
    Datum* values;
    bool* nulls;
    int64 t;
};

// The state of one pass: the engine, the rows of the entity being read,
// the row being written. Plain data: an error may abandon it anywhere.
struct Pass {
    const FeaturePlan* plan;
    core::FeatureEngine* engine;
    double* values;
    bool* known;
    core::FeatureValue* out;
    MemoryContext entity_memory;  // the current entity's rows, reset after it
    BaseRow* rows;
    int row_count;
    int row_capacity;
    int columns;
    Relation rel;
    TupleTableSlot* slot;
    BulkInsertState bulk;
    CommandId cid;
    int64 written;
};

// A date as YYYY-MM-DD whatever the session's DateStyle.
const char* iso_date(Datum value) {
    const DateADT date = DatumGetDateADT(value);
    if (DATE_NOT_FINITE(date)) return DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity";
    int year, month, day;
    j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    return psprintf("%04d-%02d-%02d", year, month, day);
}

void read_metrics(Pass* pass, const BaseRow& row) {
    const FeaturePlan* plan = pass->plan;
    for (int m = 0; m < plan->metric_count; ++m) {
        const int column = 4 + m;
        pass->known[m] = !row.nulls[column];
        pass->values[m] = pass->known[m] ? DatumGetFloat8(row.values[column]) : 0.0;
        if (pass->known[m] && !std::isfinite(pass->values[m]))
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("%s of %s \"%s\" is %s at %s", plan->metrics[m], plan->entity,
                                   TextDatumGetCString(row.values[0]), std::isnan(pass->values[m]) ? "NaN" : "infinite",
                                   iso_date(row.values[1])),
                            errdetail("Features are computed from finite values of %s.", plan->source),
                            plan->own_base ? errhint("Correct the value, or make it NULL if it is not known.")
                                           : errhint("Rebuild the history with normalize.build_history().")));
    }
}

// One row of the target: key, as_of, the features at this cutoff.
void write_row(Pass* pass, const BaseRow& row) {
    const FeaturePlan* plan = pass->plan;
    pass->engine->compute(pass->out);
    TupleTableSlot* slot = pass->slot;
    ExecClearTuple(slot);
    slot->tts_values[0] = row.values[0];
    slot->tts_isnull[0] = false;
    slot->tts_values[1] = row.values[1];
    slot->tts_isnull[1] = false;
    for (int f = 0; f < plan->features; ++f) {
        const FeatureColumn& c = plan->columns[f];
        if (c.engine_index >= 0) {
            const core::FeatureValue v = pass->out[c.engine_index];
            slot->tts_values[2 + f] = Float8GetDatum(v.value);
            slot->tts_isnull[2 + f] = !v.known;
        } else {
            const int column = 4 + plan->metric_count + c.text_column;
            slot->tts_values[2 + f] = row.values[column];
            slot->tts_isnull[2 + f] = row.nulls[column];
        }
    }
    ExecStoreVirtualTuple(slot);
    table_tuple_insert(pass->rel, slot, pass->cid, 0, pass->bulk);
    ++pass->written;
}

int compare_periods(const void* a, const void* b) {
    const int64 x = static_cast<const BaseRow*>(a)->t, y = static_cast<const BaseRow*>(b)->t;
    return x < y ? -1 : (x > y ? 1 : 0);
}

// Feeds the buffered entity's periods to the engine in order of t and
// writes its cutoffs; then forgets its rows.
void finish_entity(Pass* pass) {
    if (pass->row_count == 0) return;
    BaseRow* rows = pass->rows;
    bool ordered = true;
    for (int i = 1; i < pass->row_count && ordered; ++i) ordered = rows[i - 1].t < rows[i].t;
    if (!ordered) qsort(rows, pass->row_count, sizeof(BaseRow), compare_periods);
    pass->engine->start_entity();
    for (int i = 0; i < pass->row_count; ++i) {
        if (rows[i].t != i + 1)
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("the periods of %s \"%s\" in %s are not numbered 1, 2, 3, ...",
                                   pass->plan->entity, TextDatumGetCString(rows[i].values[0]), pass->plan->source),
                            errdetail("Period %lld comes where period %d should.", static_cast<long long>(rows[i].t),
                                      i + 1),
                            errhint("Each period's features read the periods before it: none may be missing or "
                                    "repeated.")));
        read_metrics(pass, rows[i]);
        pass->engine->add_period(pass->values, pass->known);
        if (DatumGetBool(rows[i].values[2])) write_row(pass, rows[i]);
    }
    pass->row_count = 0;
    MemoryContextReset(pass->entity_memory);
    pass->rows = nullptr;
    pass->row_capacity = 0;
}

// Buffers one base row; a row of another key first finishes the entity
// before it (the rows come ordered by key).
void read_base_row(Pass* pass, HeapTuple tuple, TupleDesc desc) {
    if (pass->row_count > 0) {
        bool isnull;
        const Datum key = heap_getattr(tuple, 1, desc, &isnull);
        if (isnull || !same_key(pass->rows[0].values[0], key)) finish_entity(pass);
    }
    MemoryContext outer = MemoryContextSwitchTo(pass->entity_memory);
    if (pass->row_count == pass->row_capacity) {
        const int capacity = pass->row_capacity == 0 ? 64 : 2 * pass->row_capacity;
        pass->rows = static_cast<BaseRow*>(pass->rows == nullptr ? palloc(sizeof(BaseRow) * capacity)
                                                                 : repalloc(pass->rows, sizeof(BaseRow) * capacity));
        pass->row_capacity = capacity;
    }
    BaseRow& row = pass->rows[pass->row_count++];
    row.values = static_cast<Datum*>(palloc(sizeof(Datum) * pass->columns));
    row.nulls = static_cast<bool*>(palloc(sizeof(bool) * pass->columns));
    heap_deform_tuple(heap_copytuple(tuple), desc, row.values, row.nulls);
    MemoryContextSwitchTo(outer);
    if (row.nulls[0] || row.nulls[1] || row.nulls[2] || row.nulls[3])
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s has a row with a NULL key, as_of, is_cutoff or t", pass->plan->source),
                        errhint("Rebuild the history with normalize.build_history().")));
    row.t = DatumGetInt64(row.values[3]);
}

void prepare_pass(Pass* pass, const FeaturePlan* plan, TupleDesc base) {
    pass->plan = plan;
    const std::size_t bytes = core::FeatureEngine::buffer_size(plan->specs, plan->engine_features, plan->metric_count);
    pass->engine = static_cast<core::FeatureEngine*>(palloc0(sizeof(core::FeatureEngine)));
    pass->engine->init(palloc0(bytes), plan->specs, plan->engine_features, plan->metric_count);
    pass->values = static_cast<double*>(palloc0(sizeof(double) * (plan->metric_count + 1)));
    pass->known = static_cast<bool*>(palloc0(sizeof(bool) * (plan->metric_count + 1)));
    pass->out = static_cast<core::FeatureValue*>(palloc0(sizeof(core::FeatureValue) * (plan->engine_features + 1)));
    pass->columns = base->natts;
    pass->entity_memory = AllocSetContextCreate(CurrentMemoryContext, "feature engine entity", ALLOCSET_DEFAULT_SIZES);
    if (get_typlen(TupleDescAttr(base, 0)->atttypid) != -1)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("the key of %s is of type %s, not a string", plan->source,
                               format_type_be(TupleDescAttr(base, 0)->atttypid)),
                        errhint("The stable keys of normalize are text.")));
}


// The base rows come from the entity's base view, or from base: a table or
// view with its columns (rows kept from an earlier history, or prepared
// elsewhere), read with the caller's rights.
const char* base_source(FunctionCallInfo fcinfo, FeaturePlan* plan) {
    if (PG_ARGISNULL(2)) return psprintf("normalize.%s", quote_identifier(plan->base_view));
    const Oid base = PG_GETARG_OID(2);
    const char* name = get_rel_name(base);
    if (name == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("base relation with OID %u does not exist", base),
                        errhint("Pass a table or view with the columns of normalize.%s.", plan->base_view)));
    plan->own_base = true;
    const char* qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(base)), name);
    // Named here rather than in a parser error quoting the whole query.
    const char* fixed[] = {plan->key, "as_of", "is_cutoff", "t"};
    const int count = 4 + plan->metric_count + plan->text_metric_count;
    for (int c = 0; c < count; ++c) {
        const char* column = c < 4 ? fixed[c]
                             : c < 4 + plan->metric_count ? plan->metrics[c - 4]
                                                          : plan->text_metrics[c - 4 - plan->metric_count];
        if (get_attnum(base, column) == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("base %s has no column \"%s\"", qualified, column),
                            errhint("Pass a table or view with the columns of normalize.%s.", plan->base_view)));
    }
    return qualified;
}

}  // namespace

NZ_FUNCTION(nz_write_feature_rows) {
    for (int arg = 0; arg < 2; ++arg)
        if (PG_ARGISNULL(arg))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("%s must not be NULL", arg == 0 ? "entity" : "target"),
                            errhint(arg == 0 ? "Pass customer, device or user."
                                             : "Pass a table with the columns of the entity's feature view.")));
    const char* entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    const Oid target = PG_GETARG_OID(1);
    SPI_connect();
    FeaturePlan plan{};
    load_entity(entity, &plan);
    load_catalog(&plan);
    plan.source = base_source(fcinfo, &plan);
    SPIPlanPtr query = SPI_prepare(base_query(&plan), 0, nullptr);
    if (query == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("the base rows of %s cannot be read from %s", plan.entity, plan.source),
                        errdetail("%s", SPI_result_code_string(SPI_result)),
                        errhint("Reinstall the extension's views with ALTER EXTENSION normalize UPDATE.")));
    Portal portal = SPI_cursor_open(nullptr, query, nullptr, nullptr, true);
    Pass pass{};
    prepare_pass(&pass, &plan, portal->tupDesc);
    pass.rel = open_target(target);
    check_target_columns(pass.rel, &plan, TupleDescAttr(portal->tupDesc, 0)->atttypid);
    pass.slot = table_slot_create(pass.rel, nullptr);
    pass.bulk = GetBulkInsertState();
    pass.cid = GetCurrentCommandId(true);
    MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "feature rows", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0) break;
        MemoryContext outer = MemoryContextSwitchTo(batch);
        for (uint64 r = 0; r < SPI_processed; ++r) read_base_row(&pass, SPI_tuptable->vals[r], SPI_tuptable->tupdesc);
        MemoryContextSwitchTo(outer);
        MemoryContextReset(batch);
        SPI_freetuptable(SPI_tuptable);
        CHECK_FOR_INTERRUPTS();
    }
    finish_entity(&pass);
    SPI_cursor_close(portal);
    ExecDropSingleTupleTableSlot(pass.slot);
    FreeBulkInsertState(pass.bulk);
    const bool has_indexes = pass.rel->rd_rel->relhasindex;
    char* name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(pass.rel)),
                                            RelationGetRelationName(pass.rel));
    table_close(pass.rel, NoLock);
    // The rows went in without index entries: rebuild the indexes (a
    // bulk build, cheaper than row-by-row entries) before anyone, this
    // transaction included, reads through them. Others cannot see the
    // rows before commit, so what their indexes lack is nothing they see.
    if (has_indexes) SPI_execute(psprintf("REINDEX TABLE %s", name), false, 0);
    SPI_finish();
    PG_RETURN_INT64(pass.written);
}

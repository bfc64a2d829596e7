#include "feature_plan.hpp"

extern "C" {
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
}

namespace normalize::glue {

namespace {

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
    // require_feature_entity refuses a name that is not a feature entity.
    SPI_execute_with_args("SELECT k.base_view, k.kind || '_key', k.table_name"
                          "  FROM normalize.require_feature_entity($1) AS k",
                          1, argtypes, args, nullptr, true, 1);
    plan->entity = entity;
    plan->base_view = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : nullptr;
    plan->key = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2) : nullptr;
    plan->table = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3) : nullptr;
    // entity_kinds is editable by its owner: a feature entity without its
    // base view is refused here rather than read as one.
    if (plan->base_view == nullptr || plan->key == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("feature entity \"%s\" has no base view in normalize.entity_kinds", entity),
                        errhint("Give the entity its base_view, kind and cadence, as the extension installs them.")));
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

// The target must have the key, as_of and every feature, in catalog order,
// with the base view's key type: the same columns as the feature view.
void check_target_columns(Relation rel, const FeaturePlan* plan, Oid key_type) {
    TupleDesc desc = RelationGetDescr(rel);
    int column = 0;
    // The rows are laid out column by column: a dropped column would shift
    // every feature after it into its neighbour's place.
    for (int c = 0; c < desc->natts; ++c)
        if (TupleDescAttr(desc, c)->attisdropped)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("target \"%s\" has a dropped column", RelationGetRelationName(rel)),
                            errdetail("Column %d was dropped; the features are written in the columns' order.", c + 1),
                            errhint("Create the target afresh LIKE normalize.%s_feature_store.", plan->entity)));
    auto expect = [&](const char* name, Oid type) {
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
    if (column < desc->natts)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("target \"%s\" has more columns than the %s features", RelationGetRelationName(rel),
                               plan->entity),
                        errdetail("Column %d, \"%s\", is not a feature.", column + 1,
                                  NameStr(TupleDescAttr(desc, column)->attname)),
                        errhint("Create the target LIKE normalize.%s_feature_store.", plan->entity)));
}

// The base rows come from the entity's base view, or from base: a table or
// view with its columns (rows kept from an earlier history, or prepared
// elsewhere), read with the caller's rights.
const char* base_source(const Oid* base_arg, FeaturePlan* plan) {
    if (base_arg == nullptr) return psprintf("normalize.%s", quote_identifier(plan->base_view));
    const Oid base = *base_arg;
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

void load_feature_plan(const char* entity, const Oid* base, FeaturePlan* plan) {
    load_entity(entity, plan);
    load_catalog(plan);
    plan->source = base_source(base, plan);
}

char* base_query(const FeaturePlan* plan, const char* lower, const char* upper) {
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
    appendStringInfo(&q, " FROM %s AS b", plan->source);
    // A condition on the key alone: the planner pushes it below the base
    // views' windows (all partitioned by the key), down to a range of the
    // history's index, so a part reads and windows its own entities only.
    // Compared bytewise, as part_bounds sorts them, whatever the columns'
    // collations. (A NULL key is in no range: with one, there are no
    // ranges, and the engine refuses it.)
    const char* key = quote_identifier(plan->key);
    if (lower != nullptr)
        appendStringInfo(&q, " WHERE b.%s::pg_catalog.text COLLATE \"C\" OPERATOR(pg_catalog.>=) %s", key,
                         quote_literal_cstr(lower));
    if (upper != nullptr)
        appendStringInfo(&q, " %s b.%s::pg_catalog.text COLLATE \"C\" OPERATOR(pg_catalog.<) %s",
                         lower == nullptr ? "WHERE" : "AND", key, quote_literal_cstr(upper));
    appendStringInfoString(&q, " ORDER BY 1");
    return q.data;
}

const char** part_bounds(const FeaturePlan* plan, int* parts, bool even) {
    const char* key = quote_identifier(plan->key);
    // A base row without a key belongs to no range: read as one part, it
    // is refused. (The history's keys are indexed: the probe is quick.)
    SPI_execute(psprintf("SELECT FROM %s AS b WHERE b.%s IS NULL LIMIT 1", plan->source, key), true, 1);
    if (SPI_processed > 0) {
        *parts = 1;
        return nullptr;
    }
    const char* from = plan->own_base ? plan->source : psprintf("normalize.%s", quote_identifier(plan->table));
    SPI_execute(psprintf("SELECT DISTINCT b.%s::pg_catalog.text COLLATE \"C\" FROM %s AS b WHERE b.%s IS NOT NULL ORDER BY 1",
                         key, from, key),
                true, 0);
    const int keys = static_cast<int>(SPI_processed);
    if (*parts > keys) *parts = keys < 1 ? 1 : keys;
    // Without even, the first range is the session's, which also writes
    // every row: half the entities of each other range.
    const double first = *parts <= 1 ? 1.0 : even ? 1.0 / *parts : 0.5 / (*parts - 0.5);
    const char** bounds = static_cast<const char**>(palloc0(sizeof(char*) * *parts));
    for (int p = 1; p < *parts; ++p) {
        const double share = first + (p - 1) * (1.0 - first) / (*parts - 1);
        int64 at = static_cast<int64>(share * keys);
        if (at < p) at = p;  // every range at least one entity
        bounds[p - 1] = SPI_getvalue(SPI_tuptable->vals[at], SPI_tuptable->tupdesc, 1);
    }
    return bounds;
}

Relation open_target(Oid target, const FeaturePlan* plan, Oid key_type) {
    PreventCommandIfReadOnly("write_feature_rows()");
    Relation rel = try_relation_open(target, RowExclusiveLock);
    if (rel == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("target relation with OID %u does not exist", target),
                        errhint("Pass a table with the columns of normalize.%s_features.", plan->entity)));
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
    check_target_columns(rel, plan, key_type);
    return rel;
}

}  // namespace normalize::glue

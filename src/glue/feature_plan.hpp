// The feature engine's plan for one entity: its features from the catalog,
// where its base rows are read from, and the table its rows are written
// into, each checked before a row is read.
#pragma once

#include "../core/feature_engine.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace normalize::glue {

// One column of a feature table after the key and as_of: a feature the
// engine computes (engine_index >= 0), or a text metric passed through as
// its last value (text_column, among the base query's text metrics).
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
    const char* table;            // the entity's table in normalize
    int features;
    FeatureColumn* columns;       // one per feature, catalog order
    core::FeatureSpec* specs;     // the engine's features
    int engine_features;
    const char** metrics;         // float8 metrics the engine reads
    int metric_count;
    const char** text_metrics;    // text metrics passed through
    int text_metric_count;
};

// The plan of entity (a feature entity of entity_kinds), reading from *base
// (base null: the entity's base view). Call within SPI.
void load_feature_plan(const char* entity, const Oid* base, FeaturePlan* plan);

// The base rows ordered by key: key, as_of, is_cutoff, t, the float8
// metrics, the text metrics; of the keys from lower up to, not including,
// upper (null: no bound).
char* base_query(const FeaturePlan* plan, const char* lower = nullptr, const char* upper = nullptr);

// The entities split into at most *parts ranges of keys (fewer when there
// are fewer entities), the first with half as many entities as each of
// the others unless even (the session that writes every row reads the
// first): the *parts - 1 keys where the second range and those after it
// begin, from the entity's table, or from the caller's base relation;
// NULL (and *parts 1) when a base row has no key. Call within SPI.
const char** part_bounds(const FeaturePlan* plan, int* parts, bool even = false);

// The target opened for a bulk write: a plain table this user may insert
// into, without triggers or row security (a bulk write would bypass them),
// with the columns of the entity's feature view.
Relation open_target(Oid target, const FeaturePlan* plan, Oid key_type);

}  // namespace normalize::glue

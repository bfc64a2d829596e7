// swap_table_storage(target, staging): the last step of a phase that built
// its results beside the tables readers use. The two tables trade their
// storage (the heap's files with their free space and visibility maps, the
// TOAST table, the files of each pair of matching indexes) and their
// statistics, in pg_class, which takes milliseconds whatever the size.
// Everything else stays with each table: OID, name, owner, privileges,
// comments, constraints, and the views built on the target, which see the
// new rows from the commit on. The staging table, now holding the old rows,
// is dropped by the caller; its files go when the transaction commits.
//
// A reader waits only for the lock taken here, not for the build: the
// phases take it for one short transaction at their end (swap_in_phase).
#include <utility>

#include "boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_statistic.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "nodes/nodes.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

namespace {

// Checked from the catalog before any lock is taken: a lock on a catalog
// or on someone else's table, even until the error, would stop others.
void require_table(Oid relid, const char* role) {
    const char kind = get_rel_relkind(relid);
    if (kind == '\0')
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("%s relation with OID %u does not exist", role, relid)));
    if (kind != RELKIND_RELATION || IsCatalogRelationOid(relid))
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("%s \"%s\" is not a table", role, get_rel_name(relid))));
}

// The swap is for the extension's own results, replaced by its phases.
void require_extension_table(Oid relid) {
    const Oid extension = get_extension_oid("normalize", true);
    if (!OidIsValid(extension) || getExtensionOfObject(RelationRelationId, relid) != extension)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("target \"%s\" is not a table of the extension normalize", get_rel_name(relid)),
                        errhint("swap_table_storage swaps a phase's results in; the phases call it.")));
}

Relation open_locked(Oid relid, const char* role) {
    Relation rel = try_relation_open(relid, AccessExclusiveLock);
    if (rel == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("%s relation with OID %u does not exist", role, relid)));
    // A temporary table's pages live in the session's own buffers and are
    // never written to the WAL: they cannot become a shared table's.
    if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("%s \"%s\" is not a permanent table", role, RelationGetRelationName(rel)),
                        errhint("Build the staging table with CREATE TABLE ... (LIKE target INCLUDING ALL).")));
    return rel;
}

bool owns(Oid relid) {
#if PG_VERSION_NUM >= 160000
    return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
    return pg_class_ownercheck(relid, GetUserId());
#endif
}

// The staging table: one this transaction made, or one of the user's own
// outside any extension (a phase's, made and filled by background workers
// that committed it: stage_phase), for the phase that replaces the target.
// And what replacing the target's rows with TRUNCATE and INSERT would need.
void require_phase_tables(Relation target, Relation staging) {
    const Oid relid = RelationGetRelid(staging);
    if (staging->rd_createSubid == InvalidSubTransactionId &&
        (OidIsValid(getExtensionOfObject(RelationRelationId, relid)) || !owns(relid)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("staging \"%s\" is neither made in this transaction nor a table of the current user "
                               "outside any extension",
                               RelationGetRelationName(staging)),
                        errhint("Swap in a table made for the swap, as normalize.stage_phase() makes them.")));
    for (const AclMode mode : {ACL_INSERT, ACL_TRUNCATE}) {
        const AclResult acl = pg_class_aclcheck(RelationGetRelid(target), GetUserId(), mode);
        if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(target));
    }
}

// Storage is swapped as it is, so the rows must be laid out alike on disk,
// dropped columns included.
void require_same_columns(Relation target, Relation staging) {
    const TupleDesc a = RelationGetDescr(target);
    const TupleDesc b = RelationGetDescr(staging);
    if (a->natts != b->natts || target->rd_rel->relam != staging->rd_rel->relam)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("staging \"%s\" is not laid out like \"%s\"", RelationGetRelationName(staging),
                               RelationGetRelationName(target)),
                        errdetail("They have %d and %d columns (dropped ones included).", b->natts, a->natts)));
    for (int i = 0; i < a->natts; ++i) {
        const Form_pg_attribute x = TupleDescAttr(a, i);
        const Form_pg_attribute y = TupleDescAttr(b, i);
        if (x->attisdropped != y->attisdropped || x->atttypid != y->atttypid || x->atttypmod != y->atttypmod ||
            x->attlen != y->attlen || x->attbyval != y->attbyval || x->attalign != y->attalign ||
            x->attcollation != y->attcollation || x->attnotnull != y->attnotnull)
            ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                            errmsg("staging \"%s\" is not laid out like \"%s\"", RelationGetRelationName(staging),
                                   RelationGetRelationName(target)),
                            errdetail("Column %d differs (\"%s\" and \"%s\").", i + 1, NameStr(y->attname),
                                      NameStr(x->attname))));
    }
    if ((target->rd_rel->reltoastrelid == InvalidOid) != (staging->rd_rel->reltoastrelid == InvalidOid))
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("staging \"%s\" is not laid out like \"%s\"", RelationGetRelationName(staging),
                               RelationGetRelationName(target)),
                        errdetail("One has a TOAST table and the other not.")));
}

bool same_index(Relation a, Relation b) {
    const Form_pg_index x = a->rd_index;
    const Form_pg_index y = b->rd_index;
    if (a->rd_rel->relam != b->rd_rel->relam || x->indnatts != y->indnatts || x->indnkeyatts != y->indnkeyatts ||
        x->indisunique != y->indisunique || x->indnullsnotdistinct != y->indnullsnotdistinct ||
        x->indisprimary != y->indisprimary || x->indisexclusion != y->indisexclusion || !x->indisvalid ||
        !y->indisvalid)
        return false;
    for (int i = 0; i < x->indnatts; ++i)
        if (x->indkey.values[i] != y->indkey.values[i])
            return false;
    for (int i = 0; i < x->indnkeyatts; ++i)
        if (a->rd_indcollation[i] != b->rd_indcollation[i] || a->rd_opfamily[i] != b->rd_opfamily[i] ||
            a->rd_opcintype[i] != b->rd_opcintype[i] || a->rd_indoption[i] != b->rd_indoption[i])
            return false;
    // Same column numbers on both sides, so equal trees mean equal indexes.
    return equal(RelationGetIndexExpressions(a), RelationGetIndexExpressions(b)) &&
           equal(RelationGetIndexPredicate(a), RelationGetIndexPredicate(b));
}

struct IndexPair {
    Oid target;
    Oid staging;
};

// Each index of the target with an index of the staging table built the
// same way; both must have the same indexes, since each keeps its own.
List* pair_indexes(Relation target, Relation staging) {
    List* wanted = RelationGetIndexList(target);
    List* offered = RelationGetIndexList(staging);
    if (list_length(wanted) != list_length(offered))
        ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
                        errmsg("staging \"%s\" does not have the indexes of \"%s\"", RelationGetRelationName(staging),
                               RelationGetRelationName(target)),
                        errdetail("They have %d and %d indexes.", list_length(offered), list_length(wanted))));
    List* pairs = NIL;
    ListCell* w;
    foreach (w, wanted) {
        Relation ti = index_open(lfirst_oid(w), AccessExclusiveLock);
        Oid match = InvalidOid;
        ListCell* o;
        foreach (o, offered) {
            Relation si = index_open(lfirst_oid(o), AccessExclusiveLock);
            const bool same = same_index(ti, si);
            index_close(si, NoLock);
            if (same) {
                match = lfirst_oid(o);
                offered = foreach_delete_current(offered, o);
                break;
            }
        }
        if (!OidIsValid(match))
            ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
                            errmsg("staging \"%s\" has no index like \"%s\"", RelationGetRelationName(staging),
                                   RelationGetRelationName(ti))));
        index_close(ti, NoLock);
        auto* pair = static_cast<IndexPair*>(palloc(sizeof(IndexPair)));
        *pair = {lfirst_oid(w), match};
        pairs = lappend(pairs, pair);
    }
    return pairs;
}

// Trades what locates and describes the storage between two pg_class rows.
void swap_class_rows(Relation pg_class, Oid a, Oid b, bool heap) {
    HeapTuple ta = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(a));
    HeapTuple tb = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(b));
    if (!HeapTupleIsValid(ta) || !HeapTupleIsValid(tb))
        elog(ERROR, "cache lookup failed for relation %u or %u", a, b);
    const Form_pg_class x = reinterpret_cast<Form_pg_class>(GETSTRUCT(ta));
    const Form_pg_class y = reinterpret_cast<Form_pg_class>(GETSTRUCT(tb));
    // A mapped relation (a shared catalog) has no file number here to swap.
    if (x->relfilenode == InvalidOid || y->relfilenode == InvalidOid)
        elog(ERROR, "relation %u or %u has no file number of its own", a, b);
    std::swap(x->relfilenode, y->relfilenode);
    std::swap(x->reltablespace, y->reltablespace);
    std::swap(x->relpages, y->relpages);
    std::swap(x->reltuples, y->reltuples);
    std::swap(x->relallvisible, y->relallvisible);
#if PG_VERSION_NUM >= 180000
    std::swap(x->relallfrozen, y->relallfrozen);
#endif
    if (heap) {
        std::swap(x->relfrozenxid, y->relfrozenxid);
        std::swap(x->relminmxid, y->relminmxid);
        // Stored values point at their TOAST table by OID: the table goes
        // with the heap that points at it.
        std::swap(x->reltoastrelid, y->reltoastrelid);
    }
    CatalogTupleUpdate(pg_class, &ta->t_self, ta);
    CatalogTupleUpdate(pg_class, &tb->t_self, tb);
    heap_freetuple(ta);
    heap_freetuple(tb);
}

Oid toast_index(Oid toast) {
    Relation rel = table_open(toast, AccessExclusiveLock);
    List* indexes = RelationGetIndexList(rel);
    table_close(rel, NoLock);
    if (list_length(indexes) != 1)
        elog(ERROR, "TOAST table %u has %d indexes", toast, list_length(indexes));
    return linitial_oid(indexes);
}

// The TOAST tables now belong to the other table: their dependencies say
// so (dropping the staging table drops the old TOAST table, not the new),
// and their names follow (a later table given the staging table's OID
// must be able to name its own TOAST table).
void hand_over_toast(Oid target, Oid staging, Oid old_toast, Oid new_toast) {
    if (changeDependencyFor(RelationRelationId, new_toast, RelationRelationId, staging, target) != 1 ||
        changeDependencyFor(RelationRelationId, old_toast, RelationRelationId, target, staging) != 1)
        elog(ERROR, "unexpected dependencies of TOAST tables %u and %u", old_toast, new_toast);
    CommandCounterIncrement();
    const Oid old_index = toast_index(old_toast);
    const Oid new_index = toast_index(new_toast);
    char name[NAMEDATALEN];
    snprintf(name, sizeof name, "pg_toast_%u_swapping", old_toast);
    RenameRelationInternal(old_toast, name, true, false);
    snprintf(name, sizeof name, "pg_toast_%u_swapping_index", old_toast);
    RenameRelationInternal(old_index, name, true, true);
    CommandCounterIncrement();
    snprintf(name, sizeof name, "pg_toast_%u", target);
    RenameRelationInternal(new_toast, name, true, false);
    snprintf(name, sizeof name, "pg_toast_%u_index", target);
    RenameRelationInternal(new_index, name, true, true);
    CommandCounterIncrement();
    snprintf(name, sizeof name, "pg_toast_%u", staging);
    RenameRelationInternal(old_toast, name, true, false);
    snprintf(name, sizeof name, "pg_toast_%u_index", staging);
    RenameRelationInternal(old_index, name, true, true);
}

// The target's statistics described its old rows: they go, and the staging
// table's (same column numbers) become the target's.
void move_statistics(Oid target, Oid staging) {
    RemoveStatistics(target, 0);
    Relation pg_statistic = table_open(StatisticRelationId, RowExclusiveLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_statistic_starelid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(staging));
    SysScanDesc scan = systable_beginscan(pg_statistic, StatisticRelidAttnumInhIndexId, true, nullptr, 1, &key);
    List* rows = NIL;
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan)))
        rows = lappend(rows, heap_copytuple(tuple));
    systable_endscan(scan);
    ListCell* c;
    foreach (c, rows) {
        HeapTuple row = static_cast<HeapTuple>(lfirst(c));
        reinterpret_cast<Form_pg_statistic>(GETSTRUCT(row))->starelid = target;
        CatalogTupleUpdate(pg_statistic, &row->t_self, row);
    }
    table_close(pg_statistic, RowExclusiveLock);
}

// Under wal_level = minimal the staging table's pages were not logged: its
// files are synced at commit. The target's cache entry must know that its
// files are new in this transaction, so that nothing written to them before
// the commit is logged against files the log never saw created.
void assume_new_files(Oid relid) {
    Relation rel = relation_open(relid, NoLock);
#if PG_VERSION_NUM >= 160000
    RelationAssumeNewRelfilelocator(rel);
#else
    RelationAssumeNewRelfilenode(rel);
#endif
    relation_close(rel, NoLock);
}

}  // namespace

// swap_table_storage(target regclass, staging regclass): see the top.
NZ_FUNCTION(nz_swap_table_storage)
{
    const Oid target_id = PG_GETARG_OID(0);
    const Oid staging_id = PG_GETARG_OID(1);
    PreventCommandIfReadOnly("swap_table_storage()");
    require_table(target_id, "target");
    require_extension_table(target_id);
    require_table(staging_id, "staging");
    if (target_id == staging_id)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("target and staging must be two tables, got \"%s\" twice", get_rel_name(target_id))));
    Relation target = open_locked(target_id, "target");
    Relation staging = open_locked(staging_id, "staging");
    require_phase_tables(target, staging);
    require_same_columns(target, staging);
    List* indexes = pair_indexes(target, staging);
    const Oid old_toast = target->rd_rel->reltoastrelid;
    const Oid new_toast = staging->rd_rel->reltoastrelid;
    table_close(target, NoLock);
    table_close(staging, NoLock);

    Relation pg_class = table_open(RelationRelationId, RowExclusiveLock);
    swap_class_rows(pg_class, target_id, staging_id, true);
    ListCell* c;
    foreach (c, indexes) {
        const IndexPair* pair = static_cast<const IndexPair*>(lfirst(c));
        swap_class_rows(pg_class, pair->target, pair->staging, false);
    }
    table_close(pg_class, RowExclusiveLock);
    CommandCounterIncrement();
    if (OidIsValid(old_toast))
        hand_over_toast(target_id, staging_id, old_toast, new_toast);
    move_statistics(target_id, staging_id);
    CommandCounterIncrement();
    assume_new_files(target_id);
    foreach (c, indexes)
        assume_new_files(static_cast<const IndexPair*>(lfirst(c))->target);
    PG_RETURN_VOID();
}

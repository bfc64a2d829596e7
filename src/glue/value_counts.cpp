// The value_counts aggregate: the distinct values of a text column and the
// rows holding each, as two arrays. reconcile_ids stages every reference
// column with it in one scan of the source; a hash table of its own does the
// grouping in about 60 % of the time of a HashAgg over grouping sets, and
// the arrays are what rule scoring and value matching take anyway.
//
// Values are grouped by their bytes (IDs, not words: no collation folds two
// of them together). The state is plain palloc'd memory in the aggregate's
// context; nothing here has a destructor.
#include "boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

#include <cstring>

namespace {

// Short values are kept in the entry itself: a repeated value then costs a
// slot and an entry to look at, one cache line each.
constexpr int32 kInline = 16;

struct Value {
    int64 rows;
    int32 len;
    uint32 hash;
    union {
        const char* ptr;
        char bytes[kInline];
    } data;
};

struct Slot {
    uint32 hash;
    int32 index;  // 1 + index into values, 0 when free
};

struct ValueCounts {
    MemoryContext cxt;
    Value* values;  // in the order first seen
    int64 count;
    int64 capacity;
    Slot* slots;    // open addressing, at most half full
    uint32 mask;
    char* arena;    // the longer values' bytes, copied in chunks
    Size arena_left;
    int64 null_rows;
};

const char* bytes_of(const Value& v) {
    return v.len <= kInline ? v.data.bytes : v.data.ptr;
}

constexpr Size kArenaChunk = 64 * 1024;
constexpr uint32 kInitialSlots = 1024;

ValueCounts* new_state(MemoryContext cxt) {
    auto* st = static_cast<ValueCounts*>(MemoryContextAllocZero(cxt, sizeof(ValueCounts)));
    st->cxt = cxt;
    st->capacity = kInitialSlots / 2;
    st->values = static_cast<Value*>(MemoryContextAllocHuge(cxt, st->capacity * sizeof(Value)));
    st->mask = kInitialSlots - 1;
    st->slots = static_cast<Slot*>(MemoryContextAllocZero(cxt, kInitialSlots * sizeof(Slot)));
    return st;
}

const char* keep_bytes(ValueCounts* st, const char* data, int32 len) {
    Size n = static_cast<Size>(len);
    if (n > kArenaChunk / 8) {
        auto* p = static_cast<char*>(MemoryContextAllocHuge(st->cxt, n));
        memcpy(p, data, n);
        return p;
    }
    if (st->arena_left < n) {
        st->arena = static_cast<char*>(MemoryContextAlloc(st->cxt, kArenaChunk));
        st->arena_left = kArenaChunk;
    }
    char* p = st->arena;
    memcpy(p, data, n);
    st->arena += n;
    st->arena_left -= n;
    return p;
}

void grow_slots(ValueCounts* st) {
    Size n_slots = (static_cast<Size>(st->mask) + 1) * 2;
    if (n_slots > static_cast<Size>(PG_INT32_MAX))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("value_counts cannot hold more than %d distinct values", PG_INT32_MAX / 2)));
    pfree(st->slots);
    st->slots = static_cast<Slot*>(MemoryContextAllocHuge(st->cxt, n_slots * sizeof(Slot)));
    memset(st->slots, 0, n_slots * sizeof(Slot));
    st->mask = static_cast<uint32>(n_slots - 1);
    for (int64 i = 0; i < st->count; ++i) {
        uint32 s = st->values[i].hash & st->mask;
        while (st->slots[s].index != 0)
            s = (s + 1) & st->mask;
        st->slots[s] = Slot{st->values[i].hash, static_cast<int32>(i + 1)};
    }
}

void add_value(ValueCounts* st, const char* data, int32 len) {
    uint32 hash = hash_bytes(reinterpret_cast<const unsigned char*>(data), len);
    uint32 s = hash & st->mask;
    for (; st->slots[s].index != 0; s = (s + 1) & st->mask) {
        if (st->slots[s].hash != hash)
            continue;
        Value* v = &st->values[st->slots[s].index - 1];
        if (v->len == len && memcmp(bytes_of(*v), data, static_cast<Size>(len)) == 0) {
            ++v->rows;
            return;
        }
    }
    if (st->count == st->capacity) {
        st->capacity *= 2;
        st->values = static_cast<Value*>(repalloc_huge(st->values, st->capacity * sizeof(Value)));
    }
    Value* v = &st->values[st->count];
    v->rows = 1;
    v->len = len;
    v->hash = hash;
    if (len <= kInline)
        memcpy(v->data.bytes, data, static_cast<Size>(len));
    else
        v->data.ptr = keep_bytes(st, data, len);
    st->slots[s] = Slot{hash, static_cast<int32>(++st->count)};
    if (static_cast<uint64>(st->count) * 2 > static_cast<uint64>(st->mask) + 1)
        grow_slots(st);
}

}  // namespace

// value_counts_step(state, value)
NZ_FUNCTION(nz_value_counts_step)
{
    MemoryContext aggcontext;
    if (!AggCheckCallContext(fcinfo, &aggcontext))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("value_counts transition function called outside an aggregate")));
    ValueCounts* st = PG_ARGISNULL(0) ? new_state(aggcontext)
                                      : reinterpret_cast<ValueCounts*>(PG_GETARG_POINTER(0));
    if (PG_ARGISNULL(1)) {
        ++st->null_rows;
    } else {
        text* t = PG_GETARG_TEXT_PP(1);
        add_value(st, VARDATA_ANY(t), static_cast<int32>(VARSIZE_ANY_EXHDR(t)));
    }
    PG_RETURN_POINTER(st);
}

// value_counts_final(state) -> normalize.value_counts_result (raw, rows):
// the values in the order first seen, then NULL if any row had none; two
// empty arrays over no rows.
NZ_FUNCTION(nz_value_counts_final)
{
    const ValueCounts* st = PG_ARGISNULL(0) ? nullptr : reinterpret_cast<const ValueCounts*>(PG_GETARG_POINTER(0));
    int64 n = st == nullptr ? 0 : st->count + (st->null_rows > 0 ? 1 : 0);
    if (n > static_cast<int64>(MaxArraySize))
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("value_counts found %lld distinct values, more than an array holds",
                               static_cast<long long>(n))));
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("value_counts must be called where a record can be returned")));
    desc = BlessTupleDesc(desc);

    Datum result[2];
    if (n == 0) {
        result[0] = PointerGetDatum(construct_empty_array(TEXTOID));
        result[1] = PointerGetDatum(construct_empty_array(INT8OID));
    } else {
        auto* raws = static_cast<Datum*>(palloc_extended(n * sizeof(Datum), MCXT_ALLOC_HUGE));
        auto* raw_nulls = static_cast<bool*>(palloc_extended(n * sizeof(bool), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO));
        auto* rows = static_cast<Datum*>(palloc_extended(n * sizeof(Datum), MCXT_ALLOC_HUGE));
        for (int64 i = 0; i < st->count; ++i) {
            raws[i] = PointerGetDatum(cstring_to_text_with_len(bytes_of(st->values[i]), st->values[i].len));
            rows[i] = Int64GetDatum(st->values[i].rows);
        }
        if (st->null_rows > 0) {
            raws[n - 1] = static_cast<Datum>(0);
            raw_nulls[n - 1] = true;
            rows[n - 1] = Int64GetDatum(st->null_rows);
        }
        int dims[1] = {static_cast<int>(n)};
        int lbs[1] = {1};
        result[0] = PointerGetDatum(construct_md_array(raws, raw_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
        result[1] = PointerGetDatum(construct_array(rows, static_cast<int>(n), INT8OID, sizeof(int64),
                                                    FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
    }
    bool nulls[2] = {false, false};
    return HeapTupleGetDatum(heap_form_tuple(desc, result, nulls));
}

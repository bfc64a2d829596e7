#include "row_template.hpp"

#include <cstring>

extern "C" {
#include "access/htup_details.h"
#include "access/tupmacs.h"
#include "catalog/pg_type.h"
}

namespace normalize::glue {

namespace {

// How heap_fill_tuple stores a variable-width value: with a one-byte header
// when the column may be packed and the value fits one, else as it is.
bool stored_short(bool packable, Pointer value) {
    return VARATT_IS_SHORT(value) || (packable && VARATT_CAN_MAKE_SHORT(value));
}

uint32 stored_length(bool packable, Pointer value) {
    if (VARATT_IS_SHORT(value))
        return VARSIZE_SHORT(value);
    return stored_short(packable, value) ? VARATT_CONVERTED_SHORT_SIZE(value) : VARSIZE(value);
}

char* tuple_data(HeapTuple tuple) {
    return reinterpret_cast<char*>(tuple->t_data) + tuple->t_data->t_hoff;
}

}  // namespace

void RowTemplate::start(TupleDesc desc, const Datum* values, const bool* nulls) {
    free();
    const MemoryContext caller = MemoryContextSwitchTo(context);
    tuple = heap_form_tuple(desc, const_cast<Datum*>(values), const_cast<bool*>(nulls));
    MemoryContextSwitchTo(caller);
    natts = desc->natts;
    patchable = natts <= kMaxColumns;
    if (!patchable)
        return;
    // Where each column landed, found the way heap_deform_tuple finds it.
    const char* data = tuple_data(tuple);
    uintptr_t off = 0;
    for (int i = 0; i < natts; ++i) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        value[i] = values[i];
        null[i] = nulls[i];
        length[i] = att->attlen;
        if (nulls[i]) {
            kind[i] = Kind::Null;
            continue;
        }
        if (att->attlen == -1) {
            if (VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
                patchable = false;
            kind[i] = att->attstorage != TYPSTORAGE_PLAIN ? Kind::PackableVarlena : Kind::Varlena;
            off = att_align_pointer(off, att->attalign, -1, data + off);
        } else if (att->attlen > 0) {
            kind[i] = att->attbyval ? Kind::ByValue : Kind::ByReference;
            off = att_align_nominal(off, att->attalign);
        } else {
            patchable = false;  // cstring: not worth a template
        }
        offset[i] = static_cast<uint32>(off);
        const uintptr_t end = att_addlength_pointer(off, att->attlen, data + off);
        stored_size[i] = static_cast<uint32>(end - off);
        off = end;
    }
}

bool RowTemplate::fits(const Datum* values, const bool* nulls) const {
    for (int i = 0; i < natts; ++i) {
        if (nulls[i] != null[i])
            return false;
        if ((kind[i] != Kind::Varlena && kind[i] != Kind::PackableVarlena) || values[i] == value[i])
            continue;
        const bool packable = kind[i] == Kind::PackableVarlena;
        const Pointer v = DatumGetPointer(values[i]);
        if (VARATT_IS_EXTERNAL(v) || stored_length(packable, v) != stored_size[i] ||
            stored_short(packable, v) != VARATT_IS_1B(tuple_data(tuple) + offset[i]))
            return false;
    }
    return true;
}

void RowTemplate::patch(const Datum* values) {
    char* data = tuple_data(tuple);
    for (int i = 0; i < natts; ++i) {
        char* to = data + offset[i];
        switch (kind[i]) {
        case Kind::Null:
            break;
        case Kind::ByValue:
            // Written whether or not it changed: a test costs more than the store.
            store_att_byval(to, values[i], length[i]);
            break;
        case Kind::ByReference:
            std::memcpy(to, DatumGetPointer(values[i]), length[i]);
            break;
        case Kind::Varlena:
        case Kind::PackableVarlena: {
            if (values[i] == value[i])
                break;
            const Pointer v = DatumGetPointer(values[i]);
            if (VARATT_IS_SHORT(v) || !VARATT_IS_1B(to)) {
                std::memcpy(to, v, stored_size[i]);
            } else {
                SET_VARSIZE_SHORT(to, stored_size[i]);
                std::memcpy(to + 1, VARDATA(v), stored_size[i] - 1);
            }
            value[i] = values[i];
            break;
        }
        }
    }
}

void RowTemplate::put(Tuplestorestate* store, TupleDesc desc, const Datum* values, const bool* nulls) {
    if (tuple != nullptr && patchable && natts == desc->natts && fits(values, nulls)) {
        patch(values);
        misfits = 0;
    } else if (tuple != nullptr && patchable && ++misfits == 1) {
        // A row unlike the template is usually a lone one (an event, the
        // churn month); the next row is likely to fit again.
        tuplestore_putvalues(store, desc, const_cast<Datum*>(values), const_cast<bool*>(nulls));
        return;
    } else {
        start(desc, values, nulls);
        misfits = 0;
    }
    tuplestore_puttuple(store, tuple);
}

void RowTemplate::new_call() {
    for (int i = 0; i < natts && i < kMaxColumns; ++i)
        value[i] = 0;
}

void RowTemplate::free() {
    if (tuple != nullptr)
        heap_freetuple(tuple);
    tuple = nullptr;
}

}  // namespace normalize::glue

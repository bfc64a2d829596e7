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
    n_words = n_ints = n_other = n_variable = 0;
    patchable = natts <= kMaxColumns;
    if (!patchable)
        return;
    // Where each column landed, found the way heap_deform_tuple finds it.
    const char* data = tuple_data(tuple);
    uintptr_t off = 0;
    for (int i = 0; i < natts; ++i) {
        const Form_pg_attribute att = TupleDescAttr(desc, i);
        null[i] = nulls[i];
        if (nulls[i])
            continue;
        const auto column = static_cast<uint16>(i);
        if (att->attlen == -1) {
            if (VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
                patchable = false;
            off = att_align_pointer(off, att->attalign, -1, data + off);
            const uint32 size = VARSIZE_ANY(data + off);
            variable[n_variable++] = Variable{column, att->attstorage != TYPSTORAGE_PLAIN,
                                              static_cast<uint32>(off), size, values[i]};
            off += size;
            continue;
        }
        if (att->attlen < 0) {
            patchable = false;  // cstring: not worth a template
            return;
        }
        off = att_align_nominal(off, att->attalign);
        const Fixed fixed{column, att->attlen, att->attbyval, static_cast<uint32>(off)};
        if (att->attbyval && att->attlen == 8)
            words[n_words++] = fixed;
        else if (att->attbyval && att->attlen == 4)
            ints[n_ints++] = fixed;
        else
            other[n_other++] = fixed;
        off += att->attlen;
    }
}

bool RowTemplate::fits(const Datum* values, const bool* nulls) const {
    for (int i = 0; i < natts; ++i)
        if (nulls[i] != null[i])
            return false;
    const char* data = tuple_data(tuple);
    for (int k = 0; k < n_variable; ++k) {
        const Variable& c = variable[k];
        if (values[c.column] == c.value)
            continue;
        const Pointer v = DatumGetPointer(values[c.column]);
        if (VARATT_IS_EXTERNAL(v) || stored_length(c.packable, v) != c.stored_size ||
            stored_short(c.packable, v) != VARATT_IS_1B(data + c.offset))
            return false;
    }
    return true;
}

void RowTemplate::patch(const Datum* values) {
    char* data = tuple_data(tuple);
    // Written whether or not they changed: a test costs more than the store.
    for (int k = 0; k < n_words; ++k)
        store_att_byval(data + words[k].offset, values[words[k].column], 8);
    for (int k = 0; k < n_ints; ++k)
        store_att_byval(data + ints[k].offset, values[ints[k].column], 4);
    for (int k = 0; k < n_other; ++k) {
        const Fixed& c = other[k];
        if (c.by_value)
            store_att_byval(data + c.offset, values[c.column], c.length);
        else
            std::memcpy(data + c.offset, DatumGetPointer(values[c.column]), c.length);
    }
    for (int k = 0; k < n_variable; ++k) {
        Variable& c = variable[k];
        if (values[c.column] == c.value)
            continue;
        const Pointer v = DatumGetPointer(values[c.column]);
        char* to = data + c.offset;
        if (VARATT_IS_SHORT(v) || !VARATT_IS_1B(to)) {
            std::memcpy(to, v, c.stored_size);
        } else {
            SET_VARSIZE_SHORT(to, c.stored_size);
            std::memcpy(to + 1, VARDATA(v), c.stored_size - 1);
        }
        c.value = values[c.column];
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
    for (int k = 0; k < n_variable; ++k)
        variable[k].value = 0;
}

void RowTemplate::free() {
    if (tuple != nullptr)
        heap_freetuple(tuple);
    tuple = nullptr;
}

}  // namespace normalize::glue

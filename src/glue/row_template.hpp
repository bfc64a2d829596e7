// Rows of one shape, put into a tuplestore without forming each anew.
//
// A simulator's rows differ from each other mostly in fixed-width columns
// (dates, counts, amounts); the key and most labels are the same in every
// row. Forming a tuple (sizing, aligning and packing every column) cost
// about a third of a history query, so a row is formed once as a template
// and the rows after it that have the same shape are written by overwriting
// their columns in it. A row of another shape (a NULL where the template has
// a value, or a label of another stored length) is formed the ordinary way;
// the second such row in a row becomes the template. The bytes put are those heap_form_tuple makes:
// the offsets come from Postgres's own alignment macros applied to the
// template.
#pragma once

#include "boundary.hpp"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/tuplestore.h"
}

namespace normalize::glue {

// Trivially destructible, so it may live on the stack of a function body
// (see boundary.hpp) or in memory that outlives one call.
class RowTemplate {
public:
    static constexpr int kMaxColumns = 16;

    // The template is kept in context, so that it can serve later calls.
    explicit RowTemplate(MemoryContext context) : context(context) {}

    // Puts one row into store, whose rows have descriptor desc (with more
    // than kMaxColumns columns, every row is formed the ordinary way).
    // Within a call, a variable-width value at the address of the one in
    // the row before is taken to be the same value: labels must not be
    // rewritten in place between rows.
    void put(Tuplestorestate* store, TupleDesc desc, const Datum* values, const bool* nulls);

    // Starts another call: the previous call's values may since have been
    // freed, and another value allocated at the same address.
    void new_call();

    // Frees the template; the next put forms a new one.
    void free();

private:
    // The template's non-NULL columns, sorted by how a row's value is
    // written, so that the per-row loops run over short lists without
    // deciding anything per column.
    struct Fixed {
        uint16 column;
        int16 length;  // attlen
        bool by_value;
        uint32 offset;  // from the start of the tuple's data
    };
    struct Variable {
        uint16 column;
        bool packable;       // may be stored with a one-byte header
        uint32 offset;
        uint32 stored_size;  // bytes as stored
        Datum value;         // the value it holds now
    };

    MemoryContext context;
    HeapTuple tuple = nullptr;  // the template, rewritten in place for each row
    int natts = 0;
    int misfits = 0;            // rows in a row that did not fit
    bool patchable = false;
    bool null[kMaxColumns];
    int n_words = 0, n_ints = 0, n_other = 0, n_variable = 0;
    Fixed words[kMaxColumns];  // 8 bytes by value
    Fixed ints[kMaxColumns];   // 4 bytes by value
    Fixed other[kMaxColumns];  // any other fixed width
    Variable variable[kMaxColumns];

    void start(TupleDesc desc, const Datum* values, const bool* nulls);
    bool fits(const Datum* values, const bool* nulls) const;
    void patch(const Datum* values);
};

}  // namespace normalize::glue

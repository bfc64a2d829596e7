// The one door between Postgres and the C++ core.
//
// Every SQL-callable function is defined with NZ_FUNCTION(name) { body }.
// The body runs inside a try block; an exception that leaves it is copied
// into plain memory, the catch block ends (freeing the exception), and only
// then is ereport called, so the longjmp crosses no live C++ object.
//
// The rule for bodies: while a Postgres call that may ereport (palloc,
// detoasting, tuplestore_putvalues, CHECK_FOR_INTERRUPTS, SPI) is running,
// every C++ object in the body's frames must be trivially destructible. Core
// calls that build strings or vectors return before the next Postgres call.
#pragma once

// C++ and Boost before Postgres: c.h defines macros (Max, Min, gettext) that
// break standard headers included after it.
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
}

// PG 15 leaves PGDLLEXPORT empty on ELF; the module is built with
// -fvisibility=hidden, so the SQL entry points must be exported explicitly.
#undef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))

namespace normalize::glue {

using Body = Datum (*)(FunctionCallInfo);

// Runs body; maps a C++ exception to an ERROR with a fitting SQLSTATE.
Datum run_guarded(FunctionCallInfo fcinfo, Body body);

// The core's interrupt probe: true when a cancel or termination is pending.
// Reads the signal flags only; never throws or longjmps.
bool cancel_requested();

// Argument helpers. All return views into Postgres memory.
std::string_view text_arg(FunctionCallInfo fcinfo, int argno);
std::string_view text_view(const text* t);

struct Float8Array {
    const double* values;
    std::size_t count;
};
// A one-dimensional float8[] without NULLs; errors name the argument.
Float8Array float8_array_arg(FunctionCallInfo fcinfo, int argno, const char* argname);

}  // namespace normalize::glue

#define NZ_FUNCTION(name)                                                     \
    static Datum name##_body(FunctionCallInfo fcinfo);                        \
    extern "C" {                                                              \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                 \
    PG_FUNCTION_INFO_V1(name);                                                \
    }                                                                         \
    extern "C" Datum name(PG_FUNCTION_ARGS)                                   \
    {                                                                         \
        return normalize::glue::run_guarded(fcinfo, name##_body);             \
    }                                                                         \
    static Datum name##_body(FunctionCallInfo fcinfo)

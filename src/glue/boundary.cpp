#include "../core/errors.hpp"
// Core and Boost headers first: they refuse to compile after a Postgres
// header (boundary.hpp includes them).
#include <boost/math/policies/error_handling.hpp>

#include "boundary.hpp"


#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
}

namespace normalize::glue {

namespace {

// Plain data only: this outlives the exception it was copied from.
struct CoreError {
    int sqlstate;
    bool interrupted;
    char message[1024];
    char detail[1024];
    char hint[512];
};

void copy_text(char* dst, std::size_t size, const char* src) {
    snprintf(dst, size, "%s", src != nullptr ? src : "");
}

void boost_error(CoreError* err, const std::exception& e) {
    err->sqlstate = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
    copy_text(err->message, sizeof err->message, "a distribution function could not be evaluated in double precision");
    copy_text(err->detail, sizeof err->detail, e.what());
    copy_text(err->hint, sizeof err->hint, "Use parameters of a more moderate size.");
}

// Must run inside a catch block.
void capture_exception(CoreError* err) noexcept {
    err->sqlstate = ERRCODE_INTERNAL_ERROR;
    err->interrupted = false;
    err->message[0] = err->detail[0] = err->hint[0] = '\0';
    try {
        throw;
    } catch (const core::Interrupted&) {
        err->interrupted = true;
    } catch (const core::ArgumentError& e) {
        err->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        copy_text(err->message, sizeof err->message, e.what());
        copy_text(err->detail, sizeof err->detail, e.detail().c_str());
        copy_text(err->hint, sizeof err->hint, e.hint().c_str());
    } catch (const core::RangeError& e) {
        err->sqlstate = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
        copy_text(err->message, sizeof err->message, e.what());
        copy_text(err->detail, sizeof err->detail, e.detail().c_str());
        copy_text(err->hint, sizeof err->hint, e.hint().c_str());
    } catch (const std::invalid_argument& e) {
        err->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        copy_text(err->message, sizeof err->message, e.what());
    } catch (const std::domain_error& e) {
        // Boost.Math's own wording ("Error in function ...") goes to the
        // detail; the message keeps the style of every other error.
        err->sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
        copy_text(err->message, sizeof err->message,
                  "a distribution function was called outside its domain");
        copy_text(err->detail, sizeof err->detail, e.what());
    } catch (const std::overflow_error& e) {
        err->sqlstate = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
        copy_text(err->message, sizeof err->message,
                  "a distribution function overflowed double precision");
        copy_text(err->detail, sizeof err->detail, e.what());
        copy_text(err->hint, sizeof err->hint,
                  "Use parameters of a more moderate size.");
    } catch (const std::range_error& e) {
        err->sqlstate = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
        copy_text(err->message, sizeof err->message, e.what());
    } catch (const boost::math::evaluation_error& e) {
        // The core names the distribution when it catches these; this is
        // the backstop for a Boost.Math call outside it.
        boost_error(err, e);
    } catch (const boost::math::rounding_error& e) {
        boost_error(err, e);
    } catch (const std::bad_alloc&) {
        err->sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(err->message, sizeof err->message, "out of memory in normalize");
    } catch (const std::exception& e) {
        copy_text(err->message, sizeof err->message, e.what());
    } catch (...) {
        copy_text(err->message, sizeof err->message, "unknown C++ exception in normalize");
    }
}

[[noreturn]] void raise_core_error(const CoreError* err) {
    if (err->interrupted) {
        // The core stopped because a cancel is pending: let Postgres raise it
        // with its own message ("canceling statement due to ...").
        CHECK_FOR_INTERRUPTS();
        ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                        errmsg("canceling statement due to an interrupt")));
    }
    ereport(ERROR, (errcode(err->sqlstate), errmsg_internal("%s", err->message),
                    err->detail[0] ? errdetail_internal("%s", err->detail) : 0,
                    err->hint[0] ? errhint("%s", err->hint) : 0));
    pg_unreachable();
}

}  // namespace

Datum run_guarded(FunctionCallInfo fcinfo, Body body) {
    CoreError err;
    try {
        return body(fcinfo);
    } catch (...) {
        capture_exception(&err);
    }
    raise_core_error(&err);
}

bool cancel_requested() {
    return InterruptPending && (QueryCancelPending || ProcDiePending);
}

std::string_view text_view(const text* t) {
    return std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

std::string_view text_arg(FunctionCallInfo fcinfo, int argno) {
    return text_view(PG_GETARG_TEXT_PP(argno));
}

Float8Array float8_array_arg(FunctionCallInfo fcinfo, int argno, const char* argname) {
    ArrayType* a = PG_GETARG_ARRAYTYPE_P(argno);
    if (ARR_ELEMTYPE(a) != FLOAT8OID)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("%s must be a float8 array", argname)));
    if (ARR_NDIM(a) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("%s must be a one-dimensional array, got %d dimensions",
                               argname, ARR_NDIM(a)),
                        errhint("Pass a flat array such as ARRAY[4.5, 0.4].")));
    if (array_contains_nulls(a))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s must not contain NULL", argname),
                        errhint("Give every parameter of the family a value.")));
    const int n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
    return Float8Array{reinterpret_cast<const double*>(ARR_DATA_PTR(a)),
                       static_cast<std::size_t>(n)};
}

}  // namespace normalize::glue

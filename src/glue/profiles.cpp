#include "profiles.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

namespace normalize::glue {

namespace {

// What the SPI query returns, copied out before SPI_finish frees it.
struct ProfileRow {
    char family[64];
    double params[core::kMaxParams];
    std::size_t nparams;
    bool too_many_params;
    double lower;
    double upper;
};

// C-style on purpose: every call here may ereport.
void fetch_profile(std::string_view name, ProfileRow* row) {
    static const char* const query =
        "SELECT family, normalize.profile_params(family, params), lower, upper"
        "  FROM normalize.distribution_profiles"
        " WHERE name OPERATOR(pg_catalog.=) $1";
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {PointerGetDatum(cstring_to_text_with_len(name.data(),
                                                              static_cast<int>(name.size())))};
    SPI_connect();
    SPI_execute_with_args(query, 1, argtypes, args, nullptr, true, 1);
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("profile \"%.*s\" does not exist", static_cast<int>(name.size()),
                               name.data()),
                        errhint("SELECT name FROM normalize.distribution_profiles lists the "
                                "profiles.")));
    HeapTuple tuple = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    char* family = SPI_getvalue(tuple, desc, 1);
    snprintf(row->family, sizeof row->family, "%s", family);
    Datum params = SPI_getbinval(tuple, desc, 2, &isnull);
    ArrayType* arr = DatumGetArrayTypeP(params);
    const int n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
    row->too_many_params = n > static_cast<int>(core::kMaxParams);
    row->nparams = row->too_many_params ? core::kMaxParams : static_cast<std::size_t>(n);
    const double* data = reinterpret_cast<const double*>(ARR_DATA_PTR(arr));
    for (std::size_t i = 0; i < row->nparams; ++i)
        row->params[i] = data[i];
    Datum lower = SPI_getbinval(tuple, desc, 3, &isnull);
    row->lower = isnull ? -std::numeric_limits<double>::infinity() : DatumGetFloat8(lower);
    Datum upper = SPI_getbinval(tuple, desc, 4, &isnull);
    row->upper = isnull ? std::numeric_limits<double>::infinity() : DatumGetFloat8(upper);
    SPI_finish();
}

}  // namespace

core::Distribution lookup_profile(std::string_view name) {
    ProfileRow row;
    fetch_profile(name, &row);
    return core::make_distribution(core::parse_family(row.family), row.params,
                                   row.too_many_params ? core::kMaxParams + 1 : row.nparams,
                                   row.lower, row.upper);
}

}  // namespace normalize::glue

// generate_history(): the monthly history of one account, from the C++
// simulator, with the tiers' revenue and churn parameters read from the
// profiles once per query.
#include "../core/account_history.hpp"
#include "../core/device_history.hpp"
#include "../core/user_history.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"
#include "profiles.hpp"
#include "progress.hpp"
#include "row_template.hpp"

#include <cstdio>

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
}

namespace core = normalize::core;

namespace {

struct AccountLabels;

// What a generate_history call site keeps between its calls (one per
// account of a LATERAL join), in the call site's context: nothing is
// allocated per call, so a million calls use the memory of one.
struct HistoryCache {
    core::HistoryParams params;
    // The labels of the last (as_of month, months) asked for: a LATERAL
    // call over a table asks for the same ones every time.
    AccountLabels* labels = nullptr;
    int labels_year = 0, labels_month = 0, labels_months = 0;
    core::AccountMonth* rows = nullptr;  // room for kMaxHistoryMonths
    normalize::glue::RowTemplate* row = nullptr;
};

// The profiles mrr_tier_<n> (lognormal) and churn_annual_tier_<n> (uniform).
void load_tier_profiles(core::HistoryParams* params) {
    for (int k = 0; k < core::kTiers; ++k) {
        char name[32];
        snprintf(name, sizeof name, "mrr_tier_%d", k + 1);
        const core::Distribution mrr = normalize::glue::lookup_profile(name);
        snprintf(name, sizeof name, "churn_annual_tier_%d", k + 1);
        const core::Distribution churn = normalize::glue::lookup_profile(name);
        if (mrr.family != core::Family::Lognormal || churn.family != core::Family::Uniform)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("profiles mrr_tier_%d and churn_annual_tier_%d must be lognormal and uniform",
                                   k + 1, k + 1),
                            errhint("The history simulator reads the tier's revenue scale from the first "
                                    "and its annual churn band from the second.")));
        params->tiers[k] = core::TierProfile{mrr.param[0], churn.lower, churn.upper};
    }
}

// The number in a tier's text ('Tier 2' is 2; the core refuses all but 1
// to 4, naming the number). One of more than six digits is refused here,
// quoting the text: read whole it overflowed, and 'Tier 4294967298' wrapped
// round to Tier 2.
int parse_tier(std::string_view text) {
    int tier = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            continue;
        if (tier >= 100000)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("tier must be between 1 and 4, got \"%.*s\"", static_cast<int>(text.size()),
                                   text.data()),
                            errhint("Pass the account's current tier, such as 'Tier 4'.")));
        tier = tier * 10 + (c - '0');
    }
    return tier;
}

// A device or user history call runs once per entity of a LATERAL join:
// its row buffer (up to years of days) and the values it builds go in a
// scratch context of the call site, emptied at the start of the next call
// (resetting keeps its first block, where creating and deleting a context
// per call costs a malloc and a free), so a million calls use the memory of
// one.
MemoryContext enter_scratch(FunctionCallInfo fcinfo, MemoryContext* slot) {
    if (*slot == nullptr)
        *slot = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "normalize history", ALLOCSET_DEFAULT_SIZES);
    else
        MemoryContextReset(*slot);
    return MemoryContextSwitchTo(*slot);
}

void leave_scratch(MemoryContext previous) {
    MemoryContextSwitchTo(previous);
}

// The scratch context of a device or user history call site.
MemoryContext* scratch_slot(FunctionCallInfo fcinfo) {
    if (fcinfo->flinfo->fn_extra == nullptr)
        fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(MemoryContext));
    return static_cast<MemoryContext*>(fcinfo->flinfo->fn_extra);
}

void arg_null(FunctionCallInfo fcinfo, int i, const char* name) {
    if (PG_ARGISNULL(i))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s must not be NULL", name),
                        errhint("Pass a value, or leave the argument out for its default.")));
}

// The history's last day: every simulator needs a calendar date for it.
DateADT as_of_arg(FunctionCallInfo fcinfo, int i) {
    const DateADT as_of = PG_GETARG_DATEADT(i);
    if (DATE_NOT_FINITE(as_of))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("as_of must be a finite date"),
                        errhint("Pass the last day of the history, such as current_date.")));
    return as_of;
}

// The first and the last day PostgreSQL's date holds. Every row of a
// history is a day from the window that ends at as_of, and must be one of
// these: a table that holds an earlier one cannot be read back (COPY FROM,
// and so a restore, refuse it).
constexpr DateADT kFirstDate = DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE;  // 4714-11-24 BC, a Monday
constexpr DateADT kLastDate = DATE_END_JULIAN - 1 - POSTGRES_EPOCH_JDATE;   // 5874897-12-31

// ISO 8601 with PostgreSQL's BC suffix, whatever DateStyle says.
void format_date(DateADT date, char* out, std::size_t size) {
    int year, month, day;
    j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    if (year > 0)
        snprintf(out, size, "%04d-%02d-%02d", year, month, day);
    else
        snprintf(out, size, "%04d-%02d-%02d BC", 1 - year, month, day);
}

// Refuses an as_of whose history of `length` periods would start before
// kFirstDate (earliest is the first as_of whose would not) or that is not
// a date PostgreSQL holds itself (date arithmetic can make one).
void require_history_fits(DateADT as_of, DateADT earliest, int length, const char* period) {
    if (as_of >= earliest && as_of <= kLastDate)
        return;
    char low[32], high[32], got[32];
    format_date(earliest, low, sizeof low);
    format_date(kLastDate, high, sizeof high);
    format_date(as_of, got, sizeof got);
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                    errmsg("as_of must be between %s and %s for a history of %d %s%s, got %s", low, high, length,
                           period, length == 1 ? "" : "s", got),
                    errhint("The history's first day must be 4714-11-24 BC or later, the earliest date PostgreSQL "
                            "holds: pass a later as_of or a shorter history.")));
}

// The first as_of whose window of `months` months starts on a day
// PostgreSQL holds: the first month that starts in range is December
// 4714 BC (year -4713: 1 BC is year 0).
DateADT earliest_account_as_of(int months) {
    // Counted in months from January of year -4800, so that the division
    // is of a positive number.
    const int first = (4800 - 4713) * 12 + 11 + (months - 1);
    return date2j(first / 12 - 4800, first % 12 + 1, 1) - POSTGRES_EPOCH_JDATE;
}

// What both account functions need to turn simulated months into rows: the
// first day of each month of the window and the text values, built once.
struct AccountLabels {
    DateADT month_start[core::kMaxHistoryMonths];
    Datum tier[core::kTiers];
    Datum status[2];
    Datum event[5];
};

// The first day of each month of the window ending in as_of's month.
void set_month_starts(AccountLabels* labels, int year, int month, int months) {
    for (int t = 0; t < months; ++t) {
        int y = year, mo = month - (months - 1 - t);
        while (mo < 1) {
            mo += 12;
            --y;
        }
        labels->month_start[t] = date2j(y, mo, 1) - POSTGRES_EPOCH_JDATE;
    }
}

// Allocated in the current memory context.
AccountLabels* account_labels(int year, int month, int months) {
    auto* out = static_cast<AccountLabels*>(palloc(sizeof(AccountLabels)));
    set_month_starts(out, year, month, months);
    for (int k = 0; k < core::kTiers; ++k) {
        char tier[16];
        snprintf(tier, sizeof tier, "Tier %d", k + 1);
        out->tier[k] = CStringGetTextDatum(tier);
    }
    out->status[0] = CStringGetTextDatum("active");
    out->status[1] = CStringGetTextDatum("churned");
    for (int e = 1; e < 5; ++e)
        out->event[e] = CStringGetTextDatum(core::account_event_name(static_cast<core::AccountEvent>(e)));
    return out;
}

void put_account_months(ReturnSetInfo* rsinfo, const AccountLabels& labels, text* key,
                        const core::AccountMonth* rows, std::size_t n, normalize::glue::RowTemplate& row) {
    row.new_call();
    for (std::size_t i = 0; i < n; ++i) {
        const core::AccountMonth& m = rows[i];
        const bool no_event = m.event == core::AccountEvent::None;
        Datum values[11] = {
            PointerGetDatum(key), DateADTGetDatum(labels.month_start[m.month]), labels.tier[m.tier - 1],
            Float8GetDatum(m.mrr), Int32GetDatum(m.seats), Int32GetDatum(m.active_users),
            Int32GetDatum(m.support_tickets), Int32GetDatum(m.late_payments), Int32GetDatum(m.failed_payments),
            labels.status[m.churned ? 1 : 0],
            no_event ? static_cast<Datum>(0) : labels.event[static_cast<int>(m.event)],
        };
        bool nulls[11] = {false, false, false, false, false, false, false, false, false, false, no_event};
        row.put(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
}

}  // namespace

// generate_history(account_key, tier, mrr, months, as_of, seed, created_at, growth, seasonality)
NZ_FUNCTION(nz_generate_history)
{
    static const char* const names[] = {"account_key", "tier", "mrr", "months", "as_of", "seed"};
    for (int i = 0; i < 6; ++i)
        arg_null(fcinfo, i, names[i]);
    const std::string_view key = normalize::glue::text_arg(fcinfo, 0);
    const std::string_view tier_text = normalize::glue::text_arg(fcinfo, 1);
    const int months = PG_GETARG_INT32(3);
    const DateADT as_of = as_of_arg(fcinfo, 4);
    const int64 seed = PG_GETARG_INT64(5);

    auto* cache = static_cast<HistoryCache*>(fcinfo->flinfo->fn_extra);
    if (cache == nullptr) {
        core::HistoryParams params;
        load_tier_profiles(&params);
        const MemoryContext site = fcinfo->flinfo->fn_mcxt;
        cache = static_cast<HistoryCache*>(MemoryContextAlloc(site, sizeof(HistoryCache)));
        *cache = HistoryCache{};
        cache->params = params;
        cache->rows = static_cast<core::AccountMonth*>(
            MemoryContextAlloc(site, sizeof(core::AccountMonth) * core::kMaxHistoryMonths));
        cache->row = new (MemoryContextAlloc(site, sizeof(normalize::glue::RowTemplate)))
            normalize::glue::RowTemplate(site);
        fcinfo->flinfo->fn_extra = cache;
    }
    // As generate_histories: a NULL is a mistake to report, not the default.
    arg_null(fcinfo, 7, "growth");
    arg_null(fcinfo, 8, "seasonality");
    core::HistoryParams params = cache->params;
    params.growth = PG_GETARG_FLOAT8(7);
    params.seasonality = PG_GETARG_FLOAT8(8);

    int year, month, day;
    j2date(as_of + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    core::AccountInput input{parse_tier(tier_text), PG_GETARG_FLOAT8(2), -1, month};
    if (!PG_ARGISNULL(6)) {
        const DateADT created = PG_GETARG_DATEADT(6);
        int cy = year, cm = month, cd;
        if (!DATE_NOT_FINITE(created))
            j2date(created + POSTGRES_EPOCH_JDATE, &cy, &cm, &cd);
        const int since = (year - cy) * 12 + (month - cm);
        if (DATE_NOT_FINITE(created) || since < 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("created_at must be a finite date not after as_of"),
                            errhint("Pass the account's signup date, or NULL to draw one.")));
        input.months_since_signup = since;
    }
    core::check_history(input, months, params);
    require_history_fits(as_of, earliest_account_as_of(months), months, "month");
    if (cache->labels == nullptr) {
        const MemoryContext caller = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
        cache->labels = account_labels(year, month, months);
        MemoryContextSwitchTo(caller);
    } else if (cache->labels_year != year || cache->labels_month != month || cache->labels_months != months) {
        set_month_starts(cache->labels, year, month, months);
    }
    cache->labels_year = year;
    cache->labels_month = month;
    cache->labels_months = months;

    // The expected descriptor, not get_call_result_type: that one rebuilds
    // the RETURNS TABLE descriptor in query memory on every call.
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    const std::size_t n = core::simulate_account(key, seed, input, months, params, cache->rows);
    put_account_months(reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo), *cache->labels,
                       PG_GETARG_TEXT_PP(0), cache->rows, n, *cache->row);
    return static_cast<Datum>(0);
}

// generate_device_history(device_key, health, days, as_of, seed, degradation, failure_rate)
NZ_FUNCTION(nz_generate_device_history)
{
    static const char* const names[] = {"device_key", "health", "days", "as_of", "seed", "degradation",
                                        "failure_rate"};
    for (int i = 0; i < 7; ++i)
        arg_null(fcinfo, i, names[i]);
    const std::string_view key = normalize::glue::text_arg(fcinfo, 0);
    const int days = PG_GETARG_INT32(2);
    const DateADT as_of = as_of_arg(fcinfo, 3);
    int year, month, day;
    j2date(as_of + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    const int doy = date2j(year, month, day) - date2j(year, 1, 1) + 1;
    const int weekday = j2day(as_of + POSTGRES_EPOCH_JDATE);
    const core::DeviceInput input{PG_GETARG_FLOAT8(1), doy, weekday};
    core::DeviceParams params;
    params.degradation = PG_GETARG_FLOAT8(5);
    params.failure_rate = PG_GETARG_FLOAT8(6);
    core::check_device_history(input, days, params);
    require_history_fits(as_of, kFirstDate + (days - 1), days, "day");

    // The expected descriptor, not get_call_result_type: that one rebuilds
    // the RETURNS TABLE descriptor in query memory on every call.
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    const MemoryContext previous = enter_scratch(fcinfo, scratch_slot(fcinfo));
    auto* rows = static_cast<core::DeviceDay*>(palloc(sizeof(core::DeviceDay) * days));
    core::simulate_device(key, PG_GETARG_INT64(4), input, days, params, rows);

    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    text* key_text = PG_GETARG_TEXT_PP(0);
    normalize::glue::RowTemplate row(CurrentMemoryContext);
    for (int i = 0; i < days; ++i) {
        const core::DeviceDay& d = rows[i];
        Datum values[8] = {
            PointerGetDatum(key_text),
            DateADTGetDatum(as_of - (days - 1 - d.day)),
            Float8GetDatum(d.health),
            Float8GetDatum(d.usage),
            Float8GetDatum(d.temperature),
            Int32GetDatum(d.errors),
            BoolGetDatum(d.maintenance),
            BoolGetDatum(d.failure),
        };
        bool nulls[8] = {false, false, false, false, false, false, false, false};
        row.put(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        if ((i & 1023) == 0)
            CHECK_FOR_INTERRUPTS();
    }
    leave_scratch(previous);
    normalize::glue::count_step_rows(days);
    return static_cast<Datum>(0);
}

// generate_user_history(user_key, role, engagement, weeks, as_of, seed, created_at, features)
NZ_FUNCTION(nz_generate_user_history)
{
    static const char* const names[] = {"user_key", "role", "engagement", "weeks", "as_of", "seed"};
    for (int i = 0; i < 6; ++i)
        arg_null(fcinfo, i, names[i]);
    arg_null(fcinfo, 7, "features");
    const std::string_view key = normalize::glue::text_arg(fcinfo, 0);
    const int weeks = PG_GETARG_INT32(3);
    const DateADT as_of = as_of_arg(fcinfo, 4);
    ArrayType* features = PG_GETARG_ARRAYTYPE_P(7);
    if (ARR_NDIM(features) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("features must be a one-dimensional array, got %d dimensions", ARR_NDIM(features)),
                        errhint("Pass the feature catalogue in the order users adopt it.")));
    Datum* names_datums;
    bool* name_nulls;
    int n_features;
    deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT, &names_datums, &name_nulls, &n_features);
    for (int i = 0; i < n_features; ++i)
        if (name_nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("features must not contain NULL"),
                            errhint("Name every feature of the catalogue.")));
    core::UserInput input{PG_GETARG_FLOAT8(2), core::parse_role(normalize::glue::text_arg(fcinfo, 1)), -1,
                          n_features};
    if (!PG_ARGISNULL(6)) {
        const DateADT created = PG_GETARG_DATEADT(6);
        if (DATE_NOT_FINITE(created) || created > as_of)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("created_at must be a finite date not after as_of"),
                            errhint("Pass the user's signup date, or NULL to draw one.")));
        input.weeks_since_signup = (as_of - created) / 7;
    }
    core::check_user_history(input, weeks);
    // kFirstDate is a Monday: from it, the first week of the window is in
    // range when the week of as_of starts weeks - 1 weeks later.
    require_history_fits(as_of, kFirstDate + 7 * (weeks - 1), weeks, "week");

    // The expected descriptor, not get_call_result_type: that one rebuilds
    // the RETURNS TABLE descriptor in query memory on every call.
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    const MemoryContext previous = enter_scratch(fcinfo, scratch_slot(fcinfo));
    auto* rows = static_cast<core::UserWeek*>(palloc(sizeof(core::UserWeek) * weeks));
    const std::size_t n = core::simulate_user(key, PG_GETARG_INT64(5), input, weeks, rows);

    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    text* key_text = PG_GETARG_TEXT_PP(0);
    // Weeks start on Monday; the last is the week of as_of.
    const int as_of_weekday = j2day(as_of + POSTGRES_EPOCH_JDATE);  // 0 = Sunday
    const DateADT last_monday = as_of - ((as_of_weekday + 6) % 7);
    normalize::glue::RowTemplate row(CurrentMemoryContext);
    for (std::size_t i = 0; i < n; ++i) {
        const core::UserWeek& w = rows[i];
        Datum values[7] = {
            PointerGetDatum(key_text),
            DateADTGetDatum(last_monday - 7 * (weeks - 1 - w.week)),
            Float8GetDatum(w.engagement),
            Int32GetDatum(w.logins),
            Int32GetDatum(w.sessions),
            Int32GetDatum(w.features_adopted),
            w.adopted >= 0 ? names_datums[w.adopted] : static_cast<Datum>(0),
        };
        bool nulls[7] = {false, false, false, false, false, false, w.adopted < 0};
        row.put(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        CHECK_FOR_INTERRUPTS();
    }
    leave_scratch(previous);
    normalize::glue::count_step_rows(static_cast<int64>(n));
    return static_cast<Datum>(0);
}

namespace {

// Whole months from a table's created_at to as_of's month (year, month). A
// date after it counts as a signup in as_of's month, and so does
// 'infinity'; '-infinity' is a signup before the window of `months`.
int months_since(DateADT created, int year, int month, int months) {
    if (DATE_IS_NOBEGIN(created))
        return months;
    if (DATE_IS_NOEND(created))
        return 0;
    int cy, cm, cd;
    j2date(created + POSTGRES_EPOCH_JDATE, &cy, &cm, &cd);
    return std::max(0, (year - cy) * 12 + (month - cm));
}

// Reads a relation's account_key, tier, mrr and (if present) created_at.
char* accounts_query(Oid relation) {
    const char* name = get_rel_name(relation);
    if (name == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relation)));
    const char* qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relation)), name);
    const char* required[] = {"account_key", "tier", "mrr"};
    for (const char* column : required)
        if (get_attnum(relation, column) == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("relation %s has no column \"%s\"", qualified, column),
                            errhint("Pass a relation with columns account_key, tier, mrr and, optionally, "
                                    "created_at, such as normalize.accounts.")));
    const bool has_created = get_attnum(relation, "created_at") != InvalidAttrNumber;
    return psprintf("SELECT account_key::text, tier::text, mrr::float8, %s FROM %s",
                    has_created ? "created_at::date" : "NULL::date", qualified);
}

}  // namespace

// generate_histories(accounts regclass, months, as_of, seed, growth, seasonality): the
// histories of every account of a relation, in one call and one tuplestore;
// the rows of each account are those generate_history gives it.
NZ_FUNCTION(nz_generate_histories)
{
    static const char* const names[] = {"accounts", "months", "as_of", "seed", "growth", "seasonality"};
    for (int i = 0; i < 6; ++i)
        arg_null(fcinfo, i, names[i]);
    const Oid relation = PG_GETARG_OID(0);
    const int months = PG_GETARG_INT32(1);
    const DateADT as_of = as_of_arg(fcinfo, 2);
    const int64 seed = PG_GETARG_INT64(3);
    core::HistoryParams params;
    load_tier_profiles(&params);
    params.growth = PG_GETARG_FLOAT8(4);
    params.seasonality = PG_GETARG_FLOAT8(5);
    int year, month, day;
    j2date(as_of + POSTGRES_EPOCH_JDATE, &year, &month, &day);
    core::check_history(core::AccountInput{1, 1.0, 0, month}, months, params);
    require_history_fits(as_of, earliest_account_as_of(months), months, "month");

    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    const char* query = accounts_query(relation);
    const AccountLabels* labels = account_labels(year, month, months);
    auto* rows = static_cast<core::AccountMonth*>(palloc(sizeof(core::AccountMonth) * months));
    normalize::glue::RowTemplate row(CurrentMemoryContext);

    SPI_connect();
    Portal portal = SPI_cursor_open_with_args(nullptr, query, 0, nullptr, nullptr, nullptr, true, 0);
    for (;;) {
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0)
            break;
        for (uint64 r = 0; r < SPI_processed; ++r) {
            HeapTuple tuple = SPI_tuptable->vals[r];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool key_null, tier_null, mrr_null, created_null;
            const Datum key = SPI_getbinval(tuple, desc, 1, &key_null);
            const Datum tier = SPI_getbinval(tuple, desc, 2, &tier_null);
            const Datum mrr = SPI_getbinval(tuple, desc, 3, &mrr_null);
            const Datum created = SPI_getbinval(tuple, desc, 4, &created_null);
            if (key_null || tier_null || mrr_null)
                ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                                errmsg("account_key, tier and mrr must not be NULL"),
                                errhint("Run normalize.repair_values() first, or filter such rows out in a view.")));
            text* key_text = DatumGetTextPP(key);
            core::AccountInput input{parse_tier(normalize::glue::text_view(DatumGetTextPP(tier))),
                                     DatumGetFloat8(mrr), -1, month};
            if (!created_null)
                input.months_since_signup = months_since(DatumGetDateADT(created), year, month, months);
            const std::size_t n = core::simulate_account(normalize::glue::text_view(key_text), seed, input,
                                                         months, params, rows);
            put_account_months(rsinfo, *labels, key_text, rows, n, row);
            normalize::glue::count_step_rows(static_cast<int64>(n));
        }
        SPI_freetuptable(SPI_tuptable);
        CHECK_FOR_INTERRUPTS();
    }
    SPI_cursor_close(portal);
    SPI_finish();
    row.free();
    return static_cast<Datum>(0);
}

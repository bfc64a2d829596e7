// Reads a row of normalize.distribution_profiles.
#pragma once

#include "../core/distribution.hpp"
// Core headers first: they refuse to compile after a Postgres header.
#include "boundary.hpp"


namespace normalize::glue {

// Errors with 42704 when no profile has that name; the core validates the
// row (the table's CHECK constraint already did).
core::Distribution lookup_profile(std::string_view name);

}  // namespace normalize::glue

#include "errors.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace normalize::core {

std::string format_number(double value) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "Infinity" : "-Infinity";
    // The shortest of %.15g and %.17g that reads back as the same double, as
    // Postgres prints float8, so that two different values never print alike.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", value);
    if (std::strtod(buf, nullptr) != value)
        std::snprintf(buf, sizeof buf, "%.17g", value);
    return buf;
}

}  // namespace normalize::core

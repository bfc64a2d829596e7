// How the glue reads IDs in this database: the Unicode rules of
// core::normalize_id apply only where text is UTF-8.
#pragma once
#include "../core/ids.hpp"

namespace normalize::glue {

core::IdStyle database_id_style(bool keep_case);

}  // namespace normalize::glue

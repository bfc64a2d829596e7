// Included first by every file under src/core/. The core is compiled and
// unit-tested without a server, so it must never see a Postgres header: a
// Postgres macro (Max, Min, gettext, ...) or an ereport reached from here
// would tie the core to the backend and break the exception boundary.
#pragma once
#ifdef POSTGRES_H
#error "src/core must not include Postgres headers"
#endif

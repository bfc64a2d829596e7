// run_pipeline's lock: a session-level advisory lock (key 2125, as
// pg_advisory_lock(2125) takes it) that lives exactly as long as the CALL
// that took it.
//
// A session-level lock outlives the commits between the phases, which a
// transaction-level one would not; but it also outlives an error, and an
// error can end the CALL anywhere (a statement_timeout while pipeline_begin
// waits for a row lock, a cancel between two phases, a failed COMMIT), which
// left the lock with an idle session and refused every later call from
// other sessions. So the lock is not released by the SQL that ends a run,
// but by the end of a transaction: the one that records the run as done or
// failed, once it commits (other sessions see the record before they can
// take the lock), or any transaction that aborts while the lock is held (an
// error has ended the CALL: the procedure catches a phase's errors in a
// subtransaction, and lets nothing else abort its transaction). A
// subtransaction that took the lock and aborts releases it too.
#include "boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "storage/lock.h"
}

namespace {

constexpr uint32 kLockKey = 2125;

struct LockState {
    bool held;
    bool release_at_end;          // pipeline_unlock() was called in this transaction
    SubTransactionId taken_in;    // released if this subtransaction aborts
    bool callbacks_registered;
};

LockState state = {false, false, InvalidSubTransactionId, false};

LOCKTAG pipeline_tag() {
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, kLockKey, 1);
    return tag;
}

// PostgreSQL 17 gave LockHeldByMe a third argument (whether a stronger
// mode counts); the lock is only ever taken in ExclusiveLock, so the exact
// mode is what we ask about on every version.
bool held_by_me(const LOCKTAG* tag) {
#if PG_VERSION_NUM >= 170000
    return LockHeldByMe(tag, ExclusiveLock, false);
#else
    return LockHeldByMe(tag, ExclusiveLock);
#endif
}

// Called from transaction callbacks: must not raise. The lock may have been
// given up behind our back (pg_advisory_unlock_all), hence the check.
void release() {
    const LOCKTAG tag = pipeline_tag();
    if (held_by_me(&tag))
        LockRelease(&tag, ExclusiveLock, true);
    state.held = false;
    state.release_at_end = false;
    state.taken_in = InvalidSubTransactionId;
}

void on_xact(XactEvent event, void*) {
    if (!state.held)
        return;
    switch (event) {
    case XACT_EVENT_COMMIT:
        if (state.release_at_end)
            release();
        else
            state.taken_in = InvalidSubTransactionId;  // from now on only an abort ends it
        break;
    case XACT_EVENT_ABORT:
        release();
        break;
    default:
        break;
    }
}

void on_subxact(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void*) {
    if (!state.held || sub != state.taken_in)
        return;
    if (event == SUBXACT_EVENT_ABORT_SUB)
        release();
    else if (event == SUBXACT_EVENT_COMMIT_SUB)
        state.taken_in = parent;
}

}  // namespace

// pipeline_lock() -> true when this session holds run_pipeline's lock (taken
// now or already), false when another session holds it. Never waits.
NZ_FUNCTION(nz_pipeline_lock)
{
    static_cast<void>(fcinfo);  // no arguments
    const LOCKTAG tag = pipeline_tag();
    // Unless pg_advisory_unlock_all() gave it up behind our back.
    if (state.held && held_by_me(&tag))
        PG_RETURN_BOOL(true);
    if (!state.callbacks_registered) {
        RegisterXactCallback(on_xact, nullptr);
        RegisterSubXactCallback(on_subxact, nullptr);
        state.callbacks_registered = true;
    }
    if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
        PG_RETURN_BOOL(false);
    state.held = true;
    state.release_at_end = false;
    state.taken_in = GetCurrentSubTransactionId();
    PG_RETURN_BOOL(true);
}

// pipeline_unlock(): gives up run_pipeline's lock when the current
// transaction ends, whether it commits or aborts.
NZ_FUNCTION(nz_pipeline_unlock)
{
    static_cast<void>(fcinfo);  // no arguments
    if (state.held)
        state.release_at_end = true;
    PG_RETURN_VOID();
}

//! The background worker: applies captured source changes (cdp.change_queue) in short
//! transactions, then re-resolves the records they changed. Registered only when pg_cdp is in
//! shared_preload_libraries.
//!
//! Each batch is `cdp.process_changes(cdp.worker_batch_size)`: idempotent (re-syncing a key reads
//! the source row as it is now), so a crash mid-batch followed by a rerun ends in the same state.
//! Then, with `cdp.worker_resolve` on and a model stored by a first `cdp.resolve()`, one
//! incremental batch (`cdp._worker_resolve`: `cdp.resolve_changes` without waiting for a full run
//! holding the lock) in its own transaction; a failed batch is rolled back and retried after a
//! pause, never stopping the worker. Any ERROR inside a step (the extension dropped or updated
//! under the worker, say) is caught the same way: its transaction is aborted and the loop goes
//! on. Then the traits of the profiles whose orders or behaviour events changed, or that the
//! resolve batch changed, are refreshed (`cdp._worker_traits`, reading those rows as the tables'
//! owners). Last, the segments are evaluated for the profiles those steps changed
//! (`cdp._worker_segments`), writing segment events and their NOTIFY in that transaction. The
//! worker logs counts and SQLSTATEs only, never row contents.

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::gucs;
use crate::worker_state::{self as ws, unix_now, STATE};

pub const WORKER_TYPE: &str = "pg_cdp worker";

pub fn register() {
    BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("pg_cdp")
        .set_function("pg_cdp_worker_main")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// A yes/no query; false when it cannot be answered.
fn select_bool(client: &pgrx::spi::SpiClient<'_>, sql: &str) -> bool {
    client
        .select(sql, Some(1), &[])
        .ok()
        .and_then(|t| t.first().get_one::<bool>().ok().flatten())
        .unwrap_or(false)
}

/// Logged once while the extension waits for ALTER EXTENSION ... UPDATE.
static UPDATE_PENDING_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether pg_cdp is created in the worker's database at this library's version. It may not be
/// created yet, or be dropped; or the library was replaced by a newer one and the database still
/// has the older version's tables and functions: then the worker waits (saying so once in the
/// log) until `ALTER EXTENSION pg_cdp UPDATE`, and the changes captured meanwhile stay queued.
fn extension_installed(client: &pgrx::spi::SpiClient<'_>) -> bool {
    let installed: Option<String> = client
        .select("SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cdp'", Some(1), &[])
        .ok()
        .and_then(|t| t.first().get_one::<String>().ok().flatten());
    use std::sync::atomic::Ordering::Relaxed;
    match installed {
        Some(v) if v == env!("CARGO_PKG_VERSION") => {
            UPDATE_PENDING_LOGGED.store(false, Relaxed);
            true
        }
        Some(v) => {
            if !UPDATE_PENDING_LOGGED.swap(true, Relaxed) {
                log!(
                    "pg_cdp worker: the extension in this database is version {v}, the library is {}; waiting for ALTER EXTENSION pg_cdp UPDATE",
                    env!("CARGO_PKG_VERSION")
                );
            }
            false
        }
        None => false,
    }
}

/// "42P01" from a packed SQLSTATE.
fn sqlstate(code: pgrx::PgSqlErrorCode) -> String {
    let code = code as i32;
    (0..5).map(|i| char::from(((code >> (6 * i)) & 0x3f) as u8 + b'0')).collect()
}

/// One step of the loop in a transaction of its own. An ERROR inside it (the extension dropped
/// between the check and the call, a cancelled query) rolls the transaction back and comes
/// back as its SQLSTATE instead of ending the worker.
fn in_transaction<R>(step: impl FnOnce() -> R + std::panic::UnwindSafe + std::panic::RefUnwindSafe) -> Result<R, String> {
    PgTryBuilder::new(|| Ok(BackgroundWorker::transaction(step)))
        .catch_others(|e| {
            let code = match &e {
                pg_sys::panic::CaughtError::PostgresError(r)
                | pg_sys::panic::CaughtError::ErrorReport(r)
                | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => r.sql_error_code(),
            };
            // SAFETY: the transaction BackgroundWorker::transaction started is still open and
            // failed; aborting it, and any subtransaction left open inside it, releases its
            // locks, snapshots, SPI state and memory (what PostgreSQL's own workers do on error)
            unsafe { pg_sys::AbortOutOfAnyTransaction() };
            Err(sqlstate(code))
        })
        .execute()
}

/// One poll: apply a batch if the extension is installed. Returns the number of keys applied.
fn poll_once(batch: i32) -> Result<i64, String> {
    in_transaction(|| {
        Spi::connect_mut(|client| {
            if !extension_installed(client) {
                return 0;
            }
            client
                .update("SELECT cdp.process_changes($1)", Some(1), &[batch.into()])
                .ok()
                .and_then(|t| t.first().get_one::<i64>().ok().flatten())
                .unwrap_or(0)
        })
    })
}

/// One call of a worker step pg_cdp's SQL defines (`function(batch integer) RETURNS jsonb`), in a
/// transaction of its own, when the extension and the function are installed (a library newer
/// than the installed SQL, ALTER EXTENSION pending, has nothing to call). Returns its summary,
/// or the SQLSTATE of an ERROR.
fn sql_step(function: &'static str, batch: i32) -> Result<serde_json::Value, String> {
    in_transaction(|| {
        Spi::connect_mut(|client| {
            if !extension_installed(client) {
                return serde_json::Value::Null;
            }
            if !select_bool(client, &format!("SELECT pg_catalog.to_regprocedure('{function}(integer)') IS NOT NULL")) {
                return serde_json::Value::Null;
            }
            client
                .update(&format!("SELECT {function}($1)"), Some(1), &[batch.into()])
                .ok()
                .and_then(|t| t.first().get_one::<pgrx::JsonB>().ok().flatten())
                .map(|j| j.0)
                .unwrap_or_default()
        })
    })
}

/// When to try a failed step again, said in the log (LOG, not WARNING: in the server log LOG
/// ranks above WARNING, so it is kept). A lock another session held past the step's lock_timeout
/// (55P03), a serialization failure or a deadlock (class 40) is retried at the next poll: the
/// next attempt normally gets through, and a pause would add seconds to every change waiting.
/// Anything else waits RETRY_AFTER_ERROR.
fn retry_after(step: &str, state: &str) -> std::time::Instant {
    STATE.exclusive().note_error(state, unix_now());
    let wait = if transient(state) { Duration::ZERO } else { RETRY_AFTER_ERROR };
    log!("pg_cdp worker: {} failed with SQLSTATE {}; retrying in {} s", step, state, wait.as_secs());
    std::time::Instant::now() + wait
}

fn transient(state: &str) -> bool {
    state == "55P03" || state.starts_with("40")
}

/// One incremental resolution batch. Returns (records matched, more pending), or the SQLSTATE of
/// a failure (`cdp._worker_resolve` lets every error but "no usable model" through to here).
fn resolve_once(batch: i32) -> Result<(i64, bool), String> {
    sql_step("cdp._worker_resolve", batch).map(|out| (out["pending"].as_i64().unwrap_or(0), out["more_pending"].as_bool().unwrap_or(false)))
}

/// One evaluation of the segments for the profiles changed since the last one. Returns (events
/// written, more marked profiles waiting), or the SQLSTATE of a failure.
fn segments_once(batch: i32) -> Result<(i64, bool), String> {
    sql_step("cdp._worker_segments", batch).map(|out| {
        (
            out["enters"].as_i64().unwrap_or(0) + out["exits"].as_i64().unwrap_or(0),
            out["more"].as_bool().unwrap_or(false),
        )
    })
}

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (`die` in tcop/postgres.c): sets the pending
    /// interrupt and the latch. Declared here as the raw symbol a signal handler must be
    /// (pg_sys's binding is wrapped for calls from Rust).
    #[link_name = "die"]
    fn postgres_die(signal: std::ffi::c_int);
}

/// Pause after a failed step before trying it again.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(10);

/// Say what the worker is doing: in `cdp.worker_status()` (shared memory) and in
/// `pg_stat_activity.state` and `.query` (the statements it runs through SPI are not shown there).
fn doing(step: u8, activity: &'static std::ffi::CStr) {
    STATE.exclusive().enter(step, ws::unix_now());
    let state = if step == ws::IDLE || step == ws::UPDATE_PENDING { pg_sys::BackendState::STATE_IDLE } else { pg_sys::BackendState::STATE_RUNNING };
    // SAFETY: a static string, copied by PostgreSQL into the backend's status entry
    unsafe { pg_sys::pgstat_report_activity(state, activity.as_ptr()) };
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_cdp_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    // SIGTERM (a fast or smart shutdown, pg_terminate_backend) as PostgreSQL's own backends take
    // it: the pending interrupt ends a running statement at its next interrupt check, the step's
    // transaction is rolled back (its changes stay queued for the next start) and the worker
    // exits. A flag checked between steps would let a long step hold up a shutdown.
    // SAFETY: installs PostgreSQL's own handler, as its backends do, before signals are unblocked
    // again by the next wait
    unsafe { pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(postgres_die)) };
    let database = gucs::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    ws::announce_worker(true);
    log!("pg_cdp worker started in database \"{}\"", database);

    let mut busy = false;
    let mut poll_after = std::time::Instant::now();
    let mut resolve_after = std::time::Instant::now();
    let mut traits_after = std::time::Instant::now();
    let mut segments_after = std::time::Instant::now();
    loop {
        let nap = if busy { Duration::ZERO } else { Duration::from_millis(gucs::WORKER_NAPTIME_MS.get() as u64) };
        if !busy {
            if UPDATE_PENDING_LOGGED.load(std::sync::atomic::Ordering::Relaxed) {
                doing(ws::UPDATE_PENDING, c"pg_cdp worker: waiting for ALTER EXTENSION pg_cdp UPDATE");
            } else {
                doing(ws::IDLE, c"pg_cdp worker: waiting for changes");
            }
        }
        // false on postmaster death; a SIGTERM ends the process in here (see above)
        if !BackgroundWorker::wait_latch(Some(nap)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        // a disabled worker is not woken by every committing transaction (a wake is a signal,
        // some 20 us of the committing backend's time): it waits for a reload or its nap
        ws::announce_worker(gucs::WORKER_ENABLED.get());
        if !gucs::WORKER_ENABLED.get() {
            busy = false;
            continue;
        }
        let batch = gucs::WORKER_BATCH_SIZE.get();
        let applied = if std::time::Instant::now() < poll_after {
            0
        } else {
            doing(ws::APPLYING, c"pg_cdp worker: applying captured changes (cdp.process_changes)");
            let started = std::time::Instant::now();
            match poll_once(batch) {
                Ok(n) => {
                    let now = unix_now();
                    let mut st = STATE.exclusive();
                    st.note_applied(now as i64, n);
                    if n > 0 {
                        st.last_batch_rows = n;
                        st.last_batch_seconds = started.elapsed().as_secs_f64();
                        st.last_batch_at = now;
                    }
                    n
                }
                Err(state) => {
                    poll_after = retry_after("applying changes", &state);
                    0
                }
            }
        };
        if applied > 0 {
            log!("pg_cdp worker applied {} changed source rows", applied);
        }
        busy = applied >= batch as i64;
        if gucs::WORKER_RESOLVE.get() && std::time::Instant::now() >= resolve_after {
            doing(ws::RESOLVING, c"pg_cdp worker: resolving changed records (cdp.resolve_changes)");
            match resolve_once(batch) {
                Ok((matched, more)) => {
                    if matched > 0 {
                        log!("pg_cdp worker resolved {} changed records", matched);
                    }
                    busy |= more;
                }
                Err(state) => resolve_after = retry_after("incremental resolution", &state),
            }
        }
        if std::time::Instant::now() >= traits_after {
            doing(ws::TRAITS, c"pg_cdp worker: refreshing traits (cdp._worker_traits)");
            match sql_step("cdp._worker_traits", batch) {
                Ok(out) => busy |= out["more"].as_bool().unwrap_or(false),
                Err(state) => traits_after = retry_after("refreshing traits", &state),
            }
        }
        if std::time::Instant::now() >= segments_after {
            doing(ws::SEGMENTS, c"pg_cdp worker: evaluating segments (cdp._worker_segments)");
            match segments_once(batch) {
                Ok((events, more)) => {
                    if events > 0 {
                        log!("pg_cdp worker wrote {} segment events", events);
                    }
                    busy |= more;
                }
                Err(state) => segments_after = retry_after("evaluating segments", &state),
            }
        }
    }
    log!("pg_cdp worker exiting");
}

#[cfg(test)]
mod tests {
    use super::{sqlstate, transient};
    use pgrx::PgSqlErrorCode;

    #[test]
    fn lock_timeouts_and_serialization_failures_are_retried_at_once() {
        assert!(transient("55P03") && transient("40001") && transient("40P01"));
        assert!(!transient("42501") && !transient("57014") && !transient("XX000"));
    }

    #[test]
    fn sqlstates_unpack_as_postgresql_prints_them() {
        assert_eq!(sqlstate(PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION), "42883");
        assert_eq!(sqlstate(PgSqlErrorCode::ERRCODE_QUERY_CANCELED), "57014");
        assert_eq!(sqlstate(PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE), "55P03");
        assert_eq!(sqlstate(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR), "XX000");
    }
}

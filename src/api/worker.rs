//! SQL functions about the background worker.

use pgrx::prelude::*;

use crate::error::{CdpError, Kind};

/// True when the worker can run; otherwise an error that says how to enable it.
#[pg_extern(stable, parallel_safe)]
fn _require_worker() -> bool {
    if !crate::preloaded() {
        CdpError::new(
            Kind::ObjectNotInPrerequisiteState,
            "the pg_cdp background worker is not running: pg_cdp is not in shared_preload_libraries",
        )
        .hint("add shared_preload_libraries = 'pg_cdp' to postgresql.conf (and cdp.database = '<this database>') and restart PostgreSQL; until then apply changes with SELECT cdp.process_changes()")
        .raise();
    }
    true
}

/// What the worker is doing and has done (shared memory; see `cdp.worker_status()`): its step,
/// the rows it applied over the last minute, its last batch (rows, seconds, when, as Unix
/// seconds) and its last error (SQLSTATE, when).
#[pg_extern(volatile, parallel_safe)]
#[allow(clippy::type_complexity)]
fn _worker_state() -> TableIterator<
    'static,
    (
        name!(step, String),
        name!(applied_last_minute, i64),
        name!(last_batch_rows, Option<i64>),
        name!(last_batch_seconds, Option<f64>),
        name!(last_batch_at, Option<f64>),
        name!(last_error_sqlstate, Option<String>),
        name!(last_error_at, Option<f64>),
    ),
> {
    _require_worker();
    let st = *crate::worker_state::STATE.share();
    let now = crate::worker_state::unix_now() as i64;
    let batch = st.last_batch_at > 0.0;
    TableIterator::once((
        st.step_name().to_string(),
        st.applied_last_minute(now),
        batch.then_some(st.last_batch_rows),
        batch.then_some(st.last_batch_seconds),
        batch.then_some(st.last_batch_at),
        st.last_error_sqlstate(),
        (st.last_error_at > 0.0).then_some(st.last_error_at),
    ))
}

/// Each step of the worker since it started: how many times it ran and for how long in all
/// (shared memory; the current step counts once it ends).
#[pg_extern(volatile, parallel_safe)]
fn worker_steps() -> TableIterator<'static, (name!(step, String), name!(runs, i64), name!(seconds, f64))> {
    _require_worker();
    let st = *crate::worker_state::STATE.share();
    TableIterator::new(
        crate::worker_state::STEPS
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), st.step_runs[i], st.step_seconds[i]))
            .collect::<Vec<_>>(),
    )
}

/// Wake the background worker when the calling transaction commits: the statement trigger on
/// `cdp.activity_queue`, so a captured change is applied at once, not at the next poll. Does
/// nothing when pg_cdp is not preloaded.
#[pg_trigger]
fn _wake_worker<'a>(
    _trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    crate::worker_state::wake_worker_at_commit();
    Ok(None)
}

/// Wake the background worker when the calling transaction commits: called by the SQL functions
/// that queue changes in `cdp.change_queue` (the capture trigger and the Rust functions wake it
/// directly; the queue has no trigger of its own, which would cost every application write a
/// trigger call).
#[pg_extern(volatile, parallel_unsafe)]
fn _wake_worker_at_commit() {
    crate::worker_state::wake_worker_at_commit();
}

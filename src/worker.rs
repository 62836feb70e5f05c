//! The background worker: applies captured source changes (cdp.change_queue) in short
//! transactions. Registered only when pg_cdp is in shared_preload_libraries.
//!
//! Each batch is `cdp.process_changes(cdp.worker_batch_size)`: idempotent (re-syncing a key reads
//! the source row as it is now), so a crash mid-batch followed by a rerun ends in the same state.
//! The worker logs counts only, never row contents.

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::gucs;

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

/// One poll: apply a batch if the extension is installed. Returns the number of keys applied.
fn poll_once(batch: i32) -> i64 {
    BackgroundWorker::transaction(|| {
        Spi::connect_mut(|client| {
            let installed = client
                .select("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cdp')", Some(1), &[])
                .ok()
                .and_then(|t| t.first().get_one::<bool>().ok().flatten())
                .unwrap_or(false);
            if !installed {
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

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_cdp_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = gucs::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("pg_cdp worker started in database \"{}\"", database);

    let mut busy = false;
    loop {
        let nap = if busy { Duration::ZERO } else { Duration::from_millis(gucs::WORKER_NAPTIME_MS.get() as u64) };
        // false on SIGTERM or postmaster death
        if !BackgroundWorker::wait_latch(Some(nap)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        if !gucs::WORKER_ENABLED.get() {
            busy = false;
            continue;
        }
        let batch = gucs::WORKER_BATCH_SIZE.get();
        let applied = poll_once(batch);
        if applied > 0 {
            log!("pg_cdp worker applied {} changed source rows", applied);
        }
        busy = applied >= batch as i64;
    }
    log!("pg_cdp worker exiting");
}

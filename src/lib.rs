//! pg_cdp: a customer data platform inside PostgreSQL.
//!
//! Layout: pure logic (`normalise`, `sync` statement building) is free of pgrx and unit-tested
//! without PostgreSQL; `api/` exposes it as SQL; `worker` schedules it; `gucs` holds every
//! `cdp.*` setting. Hand-written schema and SQL wrappers are in `sql/`.

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod expr;
pub mod gucs;
pub mod normalise;
pub mod resolve;
pub mod segments;
pub mod sync;
pub mod value;
pub mod worker;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/api.sql", name = "api", finalize);

/// Set in the postmaster when loaded through shared_preload_libraries; inherited by every backend.
static PRELOADED: AtomicBool = AtomicBool::new(false);

pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        PRELOADED.store(true, Ordering::Relaxed);
        worker::register();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_cdp'"]
    }
}

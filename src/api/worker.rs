//! SQL functions about the background worker.

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode as Code;

use crate::error::CdpError;

/// True when the worker can run; otherwise an error that says how to enable it.
#[pg_extern(stable, parallel_safe)]
fn _require_worker() -> bool {
    if !crate::preloaded() {
        CdpError::new(
            Code::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the pg_cdp background worker is not running: pg_cdp is not in shared_preload_libraries",
        )
        .hint("add shared_preload_libraries = 'pg_cdp' to postgresql.conf (and cdp.database = '<this database>') and restart PostgreSQL; until then apply changes with SELECT cdp.process_changes()")
        .raise();
    }
    true
}

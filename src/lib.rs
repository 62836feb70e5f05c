//! pg_cdp: a customer data platform inside PostgreSQL.
//!
//! Layout: the pure core (`crates/cdp-core`: normalise, resolve, value, expr, sync and segment
//! statement building) has no pgrx and is unit-tested without PostgreSQL; `api/` exposes it as
//! SQL; `worker` schedules it; `gucs` holds every `cdp.*` setting. Hand-written schema and SQL
//! wrappers are in `sql/`.

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::prelude::*;

pub mod api;
// The pure core (normalisation, resolution, value, the expression checker, the sync and segment
// planners) is its own crate with no pgrx in it; its modules keep their paths here.
pub use cdp_core::{consent, expr, mask, normalise, resolve, segments, sync, value};
pub mod error;
pub mod gucs;
pub mod worker;
pub mod worker_state;

::pgrx::pg_module_magic!(name, version);

// The hand-written SQL, one file per domain mirroring src/api/: each holds its tables and its
// functions and comes after the Rust functions it calls (LANGUAGE sql bodies and views are checked
// when created) and after the domain it builds on. Privileges are set last, over everything.
extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/audit.sql", name = "audit", requires = [api::privilege::_acting_role]);
extension_sql_file!(
    "../sql/sources.sql",
    name = "sources",
    requires = [
        "audit",
        api::capture::_capture_changes,
        api::normalise::normalise,
        api::sources::_add_source,
        api::sources::_alter_source,
        api::sources::_drop_source,
        api::sources::_quarantine_null_keys,
        api::sources::_recapture,
        api::sources::_sync_keys,
        api::sources::_sync_source,
        api::worker::_wake_worker
    ]
);
extension_sql_file!(
    "../sql/resolve.sql",
    name = "resolve",
    requires = [
        "sources",
        api::privilege::_acting_role,
        api::resolve::explain::_edge_evidence,
        api::resolve::explain::_explain_match,
        api::resolve::_resolve,
        api::resolve::_check_records,
        api::resolve::_effective_threshold,
        api::resolve::_resolve_changes,
        api::resolve::_set_survivorship,
        api::resolve::_survivorship_rules,
        api::resolve::blocking_keys,
        api::resolve::match_fields
    ]
);
extension_sql_file!(
    "../sql/consent.sql",
    name = "consent",
    requires = ["resolve", api::normalise::_consent_statements]
);
extension_sql_file!(
    "../sql/value.sql",
    name = "value",
    requires = [
        "consent",
        api::sources::_check_activity_table,
        api::value::_check_trait_expression,
        api::value::_clv_fit,
        api::value::_clv_summary,
        api::value::_kmeans,
        api::value::_rfm_scores,
        api::value::_rfm_segments,
        api::activity::_stage_as_owner
    ]
);
extension_sql_file!(
    "../sql/segments.sql",
    name = "segments",
    requires = [
        "value",
        api::segments::_segment_query,
        api::segments::_segment_query_two_clocks,
        api::segments::_segment_reads_clock,
        api::segments::_facts_sql,
        api::segments::_slot_values,
        api::segments::_slot_texts,
        api::segments::_check_consent_purpose,
        api::segments::_consent_blocked_sql
    ]
);
extension_sql_file!(
    "../sql/worker.sql",
    name = "worker",
    requires = ["segments", api::worker::_require_worker, api::worker::_worker_state, api::worker::worker_steps]
);
extension_sql_file!(
    "../sql/privacy.sql",
    name = "privacy",
    requires = [
        "worker",
        api::privacy::_mask_values,
        api::privacy::_mask_defaults,
        api::privacy::_set_masking,
        api::privacy::_identifier_hashes,
        api::privacy::_identifier_hash,
        api::privacy::_name_key
    ]
);
extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);

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
        use worker_state::{STATE, WORKER_PROCNO};
        // the macro's cfgs name every PostgreSQL version pgrx knows; this crate builds pg15 only
        #[allow(unexpected_cfgs)]
        {
            pgrx::pg_shmem_init!(STATE);
            pgrx::pg_shmem_init!(WORKER_PROCNO = std::sync::atomic::AtomicI32::new(-1));
        }
        // not in pg_upgrade's servers (started with -b): the worker would write into a database
        // whose schema pg_upgrade is still restoring, or read one it is about to copy
        // SAFETY: a flag the postmaster sets from its command line before loading libraries
        if !unsafe { pg_sys::IsBinaryUpgrade } {
            worker::register();
        }
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

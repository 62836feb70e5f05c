//! Identity resolution from SQL: `cdp.resolve()` runs the pure pipeline of `crate::resolve` over
//! every record and writes its results back in bulk; `cdp.explain_match` explains one pair.
//!
//! Shape of a run (one transaction; a cancelled or failed run leaves the previous profiles):
//! read all records once through a cursor → resolve_batch (pure Rust, threads; a full run
//! inserts the keys while its matching half runs) → write keys,
//! edges, changed profile ids, profiles, lineage, hubs, model and a run summary with
//! array-parameter statements (`unnest`), in chunks. Only rows that changed are rewritten.
//!
//! One room per concern: this file holds the SQL entry points and what they share (the lock, the
//! settings, run bookkeeping); `load` reads, `write` writes, `full` and `incremental` are the two
//! kinds of run, `explain` answers `cdp.explain_match`. Matching decisions belong to the pure
//! `crate::resolve`, which has no SQL in it.

use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, PgMemoryContexts, PgSqlErrorCode as Code};
use serde_json::{json, Value};

use super::first_one;
use crate::error::{CdpError, CdpResult, OrRaise, Kind};
use crate::normalise::Attr;
use crate::resolve::{self, Field};

pub(crate) mod append;
mod explain;
mod full;
mod incremental;
mod load;
mod write;

use full::resolve_all;
use incremental::resolve_changes;
use load::{load_records, survivorship_rules};

/// Serialises resolution runs (batch and, later, incremental): one resolver at a time.
const RESOLVE_LOCK_KEY: i64 = 0x0c0d_7265_736f_6c76; // "cdp resolv"

/// Rows per array-parameter statement when writing results.
const WRITE_CHUNK: usize = 200_000;

/// The rows of a bulk statement's array parameters: `SELECT` of the arrays unnested in the
/// select list, where they advance in lockstep (a shorter array gives NULLs, as
/// `unnest(a, b, ...)` in `FROM` does). `cols`: (column name, array expression). Callers cast
/// elements in an outer `SELECT ... FROM (...) u`, not whole arrays.
///
/// Both choices are measured at a million records (docs/benchmarks.md): `unnest` in `FROM` first
/// copies every row into a tuplestore, and casting an array (`$2::jsonb[]`) builds a second
/// array of converted elements before any row is read.
fn unnest_select(cols: &[(&str, String)]) -> String {
    let cols: Vec<String> = cols.iter().map(|(name, array)| format!("pg_catalog.unnest({array}) AS {name}")).collect();
    format!("SELECT {}", cols.join(", "))
}

/// Insert blocking keys (hash, record id) from two arrays ($1, $2).
fn insert_keys_sql() -> String {
    format!(
        "INSERT INTO cdp.record_keys (key_hash, record_id) {}",
        unnest_select(&[("key_hash", "$1::bigint[]".into()), ("record_id", "$2::bigint[]".into())])
    )
}

/// Run one bulk statement with its array arguments built in a scratch memory context, then free
/// them: SPI keeps everything allocated in its own context until the function returns, which at
/// a million records is gigabytes of spent arrays.
fn bulk<'a>(
    client: &mut SpiClient<'_>,
    scratch: &mut PgMemoryContexts,
    sql: &str,
    args: impl FnOnce() -> Vec<pgrx::datum::DatumWithOid<'a>>,
) -> CdpResult<usize> {
    let n = unsafe { scratch.switch_to(|_| client.update(sql, None, &args()).map(|t| t.len())) }?;
    unsafe { scratch.reset() };
    Ok(n)
}

fn notice(msg: String) {
    ereport!(NOTICE, Code::ERRCODE_SUCCESSFUL_COMPLETION, msg);
}

use crate::resolve::release_free_memory;

/// A row in cdp.resolve_runs for a run that is writing its results (summary filled in by
/// [`finish_run`]).
fn new_run(client: &mut SpiClient<'_>, started_at: Option<pgrx::datum::TimestampWithTimeZone>) -> CdpResult<i64> {
    Ok(first_one::<i64>(client.update(
        "INSERT INTO cdp.resolve_runs (started_at, summary) VALUES ($1, '{}') RETURNING run_id",
        Some(1),
        &[started_at.into()],
    )?)?
    .unwrap_or_default())
}

/// Complete a run's summary with its phases and total time and store it in cdp.resolve_runs.
fn finish_run(client: &mut SpiClient<'_>, run_id: i64, mut summary: Value, phases: &[(String, f64)], started: Instant) -> CdpResult<Value> {
    let ms = |s: f64| (s * 1000.0).round() / 1000.0;
    summary["phases"] = phases.iter().map(|(n, s)| json!({"phase": n, "seconds": ms(*s)})).collect();
    summary["seconds"] = json!(ms(started.elapsed().as_secs_f64()));
    client.update(
        "UPDATE cdp.resolve_runs SET summary = $2, finished_at = pg_catalog.clock_timestamp() WHERE run_id OPERATOR(pg_catalog.=) $1",
        None,
        &[run_id.into(), JsonB(summary.clone()).into()],
    )?;
    Ok(summary)
}

/// The match threshold runs use now: `cdp.match_threshold`, moved by the steward decisions of
/// the newest model while `cdp.threshold_from_labels` is on (what cdp.review_queue measures
/// its margins against).
#[pg_extern(stable, parallel_safe)]
fn _effective_threshold() -> f64 {
    let cfg = crate::gucs::resolve_config();
    match Spi::connect(|client| load::stored_model(client)).or_raise() {
        Some((_, model)) => model.effective_config(&cfg).threshold,
        None => cfg.threshold,
    }
}

/// Effective survivorship rules, for the cdp.survivorship_rules view.
#[pg_extern(stable, parallel_safe)]
fn _survivorship_rules() -> TableIterator<'static, (name!(attribute, String), name!(rule, String), name!(is_default, bool))> {
    let rules = Spi::connect(|client| survivorship_rules(client)).or_raise();
    let defaults = resolve::default_rules();
    TableIterator::new(
        Attr::ALL
            .iter()
            .map(|a| (a.name().to_string(), rules[a.index()].name().to_string(), rules[a.index()] == defaults[a.index()]))
            .collect::<Vec<_>>(),
    )
}

/// Validate and store a survivorship rule (NULL rule: back to the default).
#[pg_extern(volatile, parallel_unsafe)]
fn _set_survivorship(attribute: &str, rule: Option<&str>) -> bool {
    let rule = rule.map(|r| {
        resolve::Rule::from_name(r).map(resolve::Rule::name).ok_or_else(|| {
            CdpError::new(Kind::InvalidParameterValue, format!("unknown survivorship rule \"{r}\""))
                .hint("rules: source_priority, most_recent, most_frequent, most_complete")
        })
    });
    super::set_attribute_rule("cdp.survivorship", attribute, rule)
}

#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _resolve_changes(max_records: i64, wait: bool) -> JsonB {
    Spi::connect_mut(|client| resolve_changes(client, max_records, wait)).map(JsonB).or_raise()
}

#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn _resolve(reestimate: bool) -> JsonB {
    Spi::connect_mut(|client| resolve_all(client, reestimate)).map(JsonB).or_raise()
}

/// The compared fields in the order of `cdp.match_edges.levels`, each with its level names best
/// first (a stored level l is `levels[l + 1]`).
#[pg_extern(immutable, parallel_safe)]
fn match_fields() -> TableIterator<'static, (name!(position, i32), name!(field, String), name!(levels, Vec<String>))> {
    TableIterator::new(Field::ALL.iter().enumerate().map(|(i, f)| {
        (i as i32 + 1, f.name().to_string(), resolve::compare::level_names(*f).iter().map(|l| l.to_string()).collect())
    }))
}

/// 42704 unless every id names a record (`load::require_records`): the check of the steward
/// decisions `cdp.force_link` and `cdp.force_split`.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _check_records(ids: pgrx::VariadicArray<'_, i64>) {
    let ids: Vec<Option<i64>> = ids.iter().collect();
    Spi::connect(|client| load::require_records(client, &ids)).or_raise()
}

/// The blocking keys of one record, readable (cdp.record_keys stores their hashes).
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn blocking_keys(
    record_id: i64,
) -> TableIterator<'static, (name!(key_kind, String), name!(key_value, String), name!(key_hash, i64))> {
    let rows = Spi::connect(|client| -> CdpResult<Vec<(String, String, i64)>> {
        load::require_records(client, &[Some(record_id)])?;
        let loaded = load_records(client, "WHERE r.record_id OPERATOR(pg_catalog.=) $1", &[record_id.into()])?;
        let rec = loaded.recs.first().expect("a record checked to exist");
        Ok(resolve::record_keys(rec)
            .into_iter()
            .map(|(k, v)| {
                let h = resolve::keys::key_hash(k, &v) as i64;
                (k.name().to_string(), v, h)
            })
            .collect())
    })
    .or_raise();
    TableIterator::new(rows)
}

#[cfg(test)]
mod lock_tests {
    #[test]
    fn the_erasure_takes_the_resolve_lock() {
        // cdp._forget (sql/privacy.sql) serialises with resolve runs through the same key
        let sql = include_str!("../../../sql/privacy.sql");
        assert!(sql.contains(&format!("pg_advisory_xact_lock({})", super::RESOLVE_LOCK_KEY)));
    }
}

//! The full run, `cdp.resolve()`: every record, one transaction.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};

use crate::api::first_one;
use crate::gucs;
use crate::error::CdpResult;
use crate::resolve::{self, ModelSource};
use super::*;
use super::load::*;
use super::write::*;

pub(super) fn resolve_all(client: &mut SpiClient<'_>, reestimate: bool) -> CdpResult<Value> {
    let started = Instant::now();
    let started_at = first_one::<pgrx::datum::TimestampWithTimeZone>(client.select("SELECT pg_catalog.clock_timestamp()", Some(1), &[])?)?;
    client.update("SELECT pg_catalog.pg_advisory_xact_lock($1)", None, &[RESOLVE_LOCK_KEY.into()])?;
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut lap = Instant::now();

    // profiles that lost records: this run re-checks every profile
    let gone = gone_profiles(client, i64::MAX)?;
    let loaded = load_records(client, "", &[])?;
    phases.push(("load".into(), lap.elapsed().as_secs_f64()));
    notice(format!("resolve: loaded {} records in {:.1} s", loaded.recs.len(), lap.elapsed().as_secs_f64()));
    pg_sys::check_for_interrupts!();
    lap = Instant::now();

    let index: HashMap<i64, u32> = loaded.recs.iter().enumerate().map(|(i, r)| (r.record_id, i as u32)).collect();
    let (cannot, forced) = manual_links(client, &index)?;
    let stored = if reestimate { None } else { stored_model(client)? };
    let mut next_id = first_one::<i64>(client.update("SELECT pg_catalog.nextval('cdp.profile_id_seq')", Some(1), &[])?)?.unwrap_or(1);
    let cfg = gucs::resolve_config();
    let mut blocked = resolve::block_batch(&loaded.recs, &cfg, None);
    let key_hashes = std::mem::take(&mut blocked.keys);
    // The keys are final once the batch is blocked: this thread inserts them while another
    // compares, fits the model and clusters (PostgreSQL is only ever called from this thread).
    // Their indexes are built after, with the matching's memory free again. A cancel, a
    // statement timeout or a shutdown stops the matching within about a thousand pairs instead
    // of waiting for it: see `StopOnUnwind` and `join_interruptibly`.
    let _stop = StopMatching::new();
    let (mut out, keys, keys_s) = std::thread::scope(|scope| -> CdpResult<_> {
        let _stop_on_error = StopOnUnwind;
        let matching = scope.spawn(|| {
            let batch = resolve::Batch {
                cannot_link: &cannot,
                forced: &forced,
                model: stored.as_ref().map(|(_, m)| m),
                ..resolve::Batch::new(&loaded.recs, &loaded.previous)
            };
            resolve::match_batch(blocked, &batch, &cfg, &mut next_id)
        });
        let t = Instant::now();
        let keys = match write_keys(client, &loaded, key_hashes) {
            Ok(keys) => keys,
            Err(e) => return Err(stop_and_join(matching, e)),
        };
        let keys_s = t.elapsed().as_secs_f64();
        let out = join_interruptibly(matching);
        Ok((out, keys, keys_s))
    })?;
    // the comparison's temporaries (pair levels, candidate pairs) are freed, but the allocator
    // keeps them in the threads' arenas: hand them back, so the writing that follows does not
    // stack on them (up to 270 MB more peak memory at 1M records, depending on thread timing)
    release_free_memory();
    // hand back the ids this run did not use
    client.update("SELECT pg_catalog.setval('cdp.profile_id_seq', $1, false)", None, &[next_id.into()])?;
    for (name, secs) in &out.timings {
        phases.push(((*name).to_string(), *secs));
    }
    // inserted while compare .. stable_ids ran
    phases.push(("insert_keys_overlapped".into(), keys_s));
    notice(format!(
        "resolve: {} candidate pairs, {} matched, {} profiles ({:.1} s)",
        out.counters.candidate_pairs,
        out.counters.matched_pairs,
        out.counters.profiles,
        lap.elapsed().as_secs_f64()
    ));
    pg_sys::check_for_interrupts!();
    lap = Instant::now();

    let model_id = match (&stored, out.model_source) {
        (Some((id, _)), ModelSource::Given) => *id,
        _ => store_model(client, &out)?,
    };
    let run_id = new_run(client, started_at)?;
    let write_started = lap;
    let mut step = |name: &str, phases: &mut Vec<(String, f64)>| {
        phases.push((format!("write_{name}"), lap.elapsed().as_secs_f64()));
        lap = Instant::now();
        pg_sys::check_for_interrupts!();
    };
    let rules = survivorship_rules(client)?;
    step("model_run_rules", &mut phases);
    finish_keys(client, &keys)?;
    step("key_indexes", &mut phases);
    let edge_rows = std::mem::take(&mut out.edges);
    let (keys, changed_members, rows, golden_s) = std::thread::scope(|scope| -> CdpResult<_> {
        let _stop_on_error = StopOnUnwind;
        // the golden records need nothing from PostgreSQL: build them on their own thread while
        // this one writes edges and memberships (a cancel stops that thread as it stops the
        // matching); not before the keys are written and freed, which keeps the run's peak
        // memory down
        let golden = scope.spawn(|| {
            let t = Instant::now();
            let rows = profile_rows(&loaded, &index, &out.profile_ids, &rules, cfg.threads);
            (rows, t.elapsed().as_secs_f64())
        });
        let mut write = || -> CdpResult<_> {
            let edges = write_edges(client, &loaded, &edge_rows)?;
            step("edges", &mut phases);
            let changed_members = write_memberships(client, &loaded, &out.profile_ids, true)?;
            step("memberships", &mut phases);
            Ok((edges, changed_members))
        };
        let (edges, changed_members) = match write() {
            Ok(written) => written,
            Err(e) => return Err(stop_and_join(golden, e)),
        };
        let (rows, golden_s) = join_interruptibly(golden);
        Ok(((keys, edges), changed_members, rows, golden_s))
    })?;
    drop(edge_rows);
    drop(_stop);
    let (KeysWritten { total: keys, digest: keys_digest, written: keys_written }, (edges_digest, edges_written)) = keys;
    phases.push(("golden_records_overlapped".into(), golden_s));
    let (profiles_written, profiles_deleted, profiles_sql) = write_profiles(client, &rows, None)?;
    drop(rows);
    phases.push(("write_profiles_sql".into(), profiles_sql));
    step("profiles", &mut phases);
    write_near_matches(client, &loaded, &out.near_misses)?;
    write_lineage(client, &out.lineage, run_id)?;
    write_hubs(client, &out, true)?;
    let names_written = write_name_frequencies(client, out.term_freq.as_ref())?;
    forget_gone(client, &gone)?;
    step("lineage_hubs_names", &mut phases);
    // statistics for what follows at once: the worker's incremental batches plan their look-ups
    // against these tables, and a plan made before any statistics exist (autovacuum comes a
    // minute later, if it is not cancelled) can turn a look-up per record into a nested loop of
    // scans (a sample each: about a second at 1M records)
    client.update("ANALYZE cdp.records, cdp.match_edges, cdp.profiles, cdp.profile_lineage", None, &[])?;
    step("analyze", &mut phases);
    notice(format!("resolve: wrote results in {:.1} s", write_started.elapsed().as_secs_f64()));

    let c = &out.counters;
    let records = c.records.max(1) as f64;
    let summary = json!({
        "run_id": run_id,
        "mode": "full",
        "records": c.records,
        "candidate_pairs": c.candidate_pairs,
        "candidate_pairs_per_record": ((c.candidate_pairs as f64 / records) * 100.0).round() / 100.0,
        "matched_pairs": c.matched_pairs,
        "profiles": c.profiles,
        "merges": c.merges,
        "splits": c.splits,
        "new_profiles": c.new_profiles,
        "records_moved": changed_members,
        "profiles_written": profiles_written,
        "profiles_deleted": profiles_deleted,
        "blocking_keys": keys,
        // what was rewritten: keys and edges only when they differ from the last run's
        "rewritten": {"keys": keys_written, "edges": edges_written, "name_frequencies": names_written},
        "digests": {"keys": keys_digest, "edges": edges_digest},
        "skipped_blocks": c.skipped_blocks,
        "hubs": c.hubs,
        "shared_devices": out.shared_devices.len(),
        "rejected": rejected(c),
        "model_id": model_id,
        "model_source": out.model_source.name(),
        "national_id_trusted": out.model.national_id_trusted,
        "threshold": out.threshold,
        "prior_log2_odds": out.prior_log2_odds.map(|l| (l * 1000.0).round() / 1000.0),
        "threshold_from": out.model.threshold_from(&cfg),
        "model_labels": out.model.labels,
        "skipped_block_examples": out.skipped_blocks.iter().take(10)
            .map(|(k, _, n)| json!({"key_kind": k.name(), "records": n})).collect::<Vec<_>>(),
    });
    finish_run(client, run_id, summary, &phases, started)
}

/// Accepted pairs the clustering guards refused, by guard.
pub(super) fn rejected(c: &resolve::Counters) -> Value {
    json!({
        "cannot_link": c.rejected_by_cannot_link,
        "max_profile_size": c.rejected_by_max_size,
        "weak_bridge": c.rejected_weak_bridges,
        "id_conflict": c.rejected_by_id_conflict,
        "birth_date_conflict": c.rejected_by_birth_conflict,
    })
}

/// Withdraws any request that a run's matching stop ([`resolve::request_stop`]) when it is made
/// and when it is dropped, however the run ends: a later run in this backend (the worker's
/// incremental batches too) starts without one.
struct StopMatching;

impl StopMatching {
    fn new() -> StopMatching {
        resolve::clear_stop();
        StopMatching
    }
}

impl Drop for StopMatching {
    fn drop(&mut self) {
        resolve::clear_stop();
    }
}

/// Asks the matching thread to stop when dropped by an ERROR unwinding (a cancel seen while the
/// keys are written): the thread scope waits for its threads before the ERROR goes on.
struct StopOnUnwind;

impl Drop for StopOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            resolve::request_stop();
        }
    }
}

/// An error returned (not raised) leaves a thread scope normally: stop its thread and take its
/// outcome, whatever it is, so that the scope has nothing left to report, then pass `e` on.
fn stop_and_join<T>(thread: std::thread::ScopedJoinHandle<'_, T>, e: crate::error::CdpError) -> crate::error::CdpError {
    resolve::request_stop();
    let _ = thread.join();
    e
}

/// Wait for a thread of the run (the matching, the golden records), watching for a cancel or a
/// shutdown meanwhile: when one is pending, ask the thread to stop, then let PostgreSQL raise it.
fn join_interruptibly<T>(matching: std::thread::ScopedJoinHandle<'_, T>) -> T {
    while !matching.is_finished() {
        // SAFETY: plain reads of flags PostgreSQL's signal handlers set (sig_atomic_t)
        let pending = unsafe {
            std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::QueryCancelPending)) != 0
                || std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::ProcDiePending)) != 0
        };
        if pending {
            resolve::request_stop();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    match matching.join() {
        Ok(out) => {
            // finished on its own: a stop asked meanwhile has nothing left to stop (the pending
            // cancel is raised at the next check)
            resolve::clear_stop();
            out
        }
        Err(panic) => {
            // the cancel or shutdown that stopped it is raised here; anything else goes on
            pg_sys::check_for_interrupts!();
            std::panic::resume_unwind(panic)
        }
    }
}

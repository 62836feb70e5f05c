//! The incremental run, `cdp.resolve_changes()`: the pending records, their neighbours and the
//! profiles they touch, with the stored model.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};

use crate::api::first_one;
use crate::gucs;
use crate::error::{CdpError, CdpResult, Kind};
use crate::resolve;
use super::*;
use super::full::rejected;
use super::load::*;
use super::write::*;

/// `cdp.resolve_changes`: the records changed since the last run (at most `max_records`) are
/// matched against the others found through cdp.record_keys, and only the profiles they touch
/// are re-clustered, by the same pipeline as a full run ([`resolve::resolve_scoped`]).
pub(super) fn resolve_changes(client: &mut SpiClient<'_>, max_records: i64, wait: bool) -> CdpResult<Value> {
    use std::collections::HashSet;
    let started = Instant::now();
    let started_at = first_one::<pgrx::datum::TimestampWithTimeZone>(client.select("SELECT pg_catalog.clock_timestamp()", Some(1), &[])?)?;
    if max_records < 1 {
        return Err(CdpError::new(Kind::InvalidParameterValue, format!("max_records must be positive, not {max_records}")));
    }
    if wait {
        client.update("SELECT pg_catalog.pg_advisory_xact_lock($1)", None, &[RESOLVE_LOCK_KEY.into()])?;
    } else {
        let got = first_one::<bool>(client.update("SELECT pg_catalog.pg_try_advisory_xact_lock($1)", Some(1), &[RESOLVE_LOCK_KEY.into()])?)?;
        if got != Some(true) {
            return Ok(json!({"mode": "incremental", "skipped": "another resolve run holds the lock"}));
        }
    }
    let (model_id, model) = stored_model(client)?.ok_or_else(|| {
        CdpError::new(Kind::ObjectNotInPrerequisiteState, "no identity model is stored yet")
            .hint("run cdp.resolve() once: it estimates the model that cdp.resolve_changes() uses")
    })?;
    // the settings; the batch planner reads the stored edges against the threshold as the stored
    // model's steward decisions moved it (resolve_batch moves it itself)
    let cfg = gucs::resolve_config();
    let effective = model.effective_config(&cfg);
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut lap = Instant::now();
    let mut step = |name: &str, phases: &mut Vec<(String, f64)>| {
        phases.push((name.to_string(), lap.elapsed().as_secs_f64()));
        lap = Instant::now();
        pg_sys::check_for_interrupts!();
    };

    let pending_ids = ids_of(
        client,
        "SELECT p.record_id FROM (SELECT r.record_id FROM cdp.records r WHERE r.resolve_pending
                                   UNION SELECT r.record_id FROM cdp.records r WHERE r.profile_id IS NULL) p
          ORDER BY p.record_id LIMIT $1",
        &[max_records.into()],
    )?;
    let gone = gone_profiles(client, max_records)?;
    if pending_ids.is_empty() && gone.is_empty() {
        return Ok(json!({"mode": "incremental", "pending": 0, "records": 0,
                         "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0}));
    }
    let pending_set: HashSet<i64> = pending_ids.iter().copied().collect();
    let pend = load_records(client, "WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1)", &[pending_ids.clone().into()])?;
    // the row versions whose values found the neighbours (see the batch below)
    let read_version: HashMap<i64, Option<i64>> = pend.recs.iter().zip(&pend.xmin).map(|(r, x)| (r.record_id, *x)).collect();
    step("load_pending", &mut phases);

    // the batch, planned by the pure planner over the stored keys, records and edges
    let gone_with_profile: Vec<(Option<i64>, i64)> = gone.iter().map(|g| (g.1, g.2)).collect();
    let mut store = SqlStore { client, batch: None };
    let plan = resolve::incremental::plan_batch(&mut store, &pend.recs, &gone_with_profile, &effective)?;
    let mut batch = store.batch.take().expect("the planner takes a batch in");
    drop(pend);
    let mut scope = resolve::Scope {
        hubs: known_hubs(client)?,
        over_cap: plan.keys.over_cap,
        rescore_keys: plan.keys.rescore_keys,
        ..Default::default()
    };
    scope.hubs.extend(plan.keys.hubs);
    let touched = plan.touched;
    // only this run's pending records are matched as changed; one beyond the limit stays pending,
    // and so does one changed since its neighbours were looked up (its new values may have other
    // neighbours: the next run looks again)
    for i in 0..batch.recs.len() {
        let id = batch.recs[i].record_id;
        let mine = pending_set.contains(&id);
        batch.pending[i] = mine;
        if !mine || read_version.get(&id) != Some(&batch.xmin[i]) {
            batch.xmin[i] = None;
        }
    }
    scope.pending = batch.pending.clone();
    let index: HashMap<i64, u32> = batch.recs.iter().enumerate().map(|(i, r)| (r.record_id, i as u32)).collect();
    scope.stored_edges = plan
        .stored_edges
        .iter()
        .filter_map(|&(a, b, weight)| {
            let (a, b) = (*index.get(&a)?, *index.get(&b)?);
            Some(resolve::Edge { a: a.min(b), b: a.max(b), weight })
        })
        .collect();
    if cfg.term_frequency {
        scope.term_freq = Some(term_freq_for(client, &batch)?);
    }
    let (cannot, forced) = manual_links(client, &index)?;
    step("load_batch", &mut phases);

    let mut next_id = first_one::<i64>(client.update("SELECT pg_catalog.nextval('cdp.profile_id_seq')", Some(1), &[])?)?.unwrap_or(1);
    let run = resolve::Batch {
        cannot_link: &cannot,
        forced: &forced,
        model: Some(&model),
        scope: Some(&scope),
        ..resolve::Batch::new(&batch.recs, &batch.previous)
    };
    let mut out = resolve::resolve_batch(&run, &cfg, &mut next_id);
    client.update("SELECT pg_catalog.setval('cdp.profile_id_seq', $1, false)", None, &[next_id.into()])?;
    for (name, secs) in &out.timings {
        phases.push(((*name).to_string(), *secs));
    }
    step("resolve", &mut phases);

    let run_id = new_run(client, started_at)?;
    // keys and edges of the changed records replace theirs, those of deleted records go; the
    // others' stay as stored
    let changed_ids: Vec<i64> = batch.recs.iter().zip(&batch.pending).filter(|(_, p)| **p).map(|(r, _)| r.record_id).collect();
    let replaced_ids: Vec<i64> = changed_ids.iter().copied().chain(gone.iter().map(|g| g.2)).collect();
    client.update(
        "DELETE FROM cdp.record_keys k USING pg_catalog.unnest($1::bigint[]) i(record_id) WHERE k.record_id OPERATOR(pg_catalog.=) i.record_id",
        None,
        &[replaced_ids.clone().into()],
    )?;
    let key_rows: Vec<(i64, i64)> = batch
        .recs
        .iter()
        .zip(&out.keys)
        .zip(&batch.pending)
        .filter(|(_, p)| **p)
        .flat_map(|((rec, hs), _)| hs.iter().map(move |h| (*h as i64, rec.record_id)))
        .collect();
    let (kh, kr): (Vec<i64>, Vec<i64>) = key_rows.iter().copied().unzip();
    client.update(
        &insert_keys_sql(),
        None,
        &[kh.into(), kr.into()],
    )?;
    for col in ["record_a", "record_b"] {
        client.update(
            &format!("DELETE FROM cdp.match_edges e USING pg_catalog.unnest($1::bigint[]) i(record_id) WHERE e.{col} OPERATOR(pg_catalog.=) i.record_id"),
            None,
            &[replaced_ids.clone().into()],
        )?;
    }
    // pairs of unchanged records that were scored again: their stored edges give way to this
    // run's verdict
    let (ra, rb): (Vec<i64>, Vec<i64>) =
        out.rescored.iter().map(|&(a, b)| (batch.recs[a as usize].record_id, batch.recs[b as usize].record_id)).unzip();
    client.update(
        "DELETE FROM cdp.match_edges e USING ROWS FROM (pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($2::bigint[])) p(a, b)
          WHERE e.record_a OPERATOR(pg_catalog.=) p.a AND e.record_b OPERATOR(pg_catalog.=) p.b",
        None,
        &[ra.into(), rb.into()],
    )?;
    let edge_rows = edge_rows(&batch, &out.edges);
    insert_edges(client, &edge_rows)?;
    // the tables no longer hold what the last full run wrote and digested
    client.update(
        "DELETE FROM cdp.resolve_state WHERE table_name OPERATOR(pg_catalog.=) ANY (ARRAY['cdp.record_keys', 'cdp.match_edges'])",
        None,
        &[],
    )?;
    step("write_keys_edges", &mut phases);
    let moved = write_memberships(client, &batch, &out.profile_ids, false)?;
    let rules = survivorship_rules(client)?;
    let rows = profile_rows(&batch, &index, &out.profile_ids, &rules, cfg.threads);
    let mut scope_ids: Vec<i64> = touched.iter().chain(&out.profile_ids).copied().collect();
    scope_ids.sort_unstable();
    scope_ids.dedup();
    let (profiles_written, profiles_deleted, _) = write_profiles(client, &rows, Some(&scope_ids))?;
    write_lineage(client, &std::mem::take(&mut out.lineage), run_id)?;
    write_hubs(client, &out, false)?;
    forget_gone(client, &gone)?;
    step("write_profiles", &mut phases);

    let c = &out.counters;
    let summary = json!({
        "run_id": run_id,
        "mode": "incremental",
        "pending": pending_ids.len(),
        "more_pending": pending_ids.len() as i64 == max_records || gone.len() as i64 == max_records,
        "profiles_rechecked": gone.iter().filter_map(|g| g.1).collect::<std::collections::BTreeSet<_>>().len(),
        "records": c.records,
        "neighbours": plan.neighbours.len(),
        "candidate_pairs": c.candidate_pairs,
        "matched_pairs": c.matched_pairs,
        "stored_edges": scope.stored_edges.len(),
        "profiles": c.profiles,
        "merges": c.merges,
        "splits": c.splits,
        "new_profiles": c.new_profiles,
        "records_moved": moved,
        "profiles_written": profiles_written,
        "profiles_deleted": profiles_deleted,
        "skipped_blocks": c.skipped_blocks,
        "hubs": c.hubs,
        "rejected": rejected(c),
        "model_id": model_id,
        "threshold": effective.threshold,
    });
    finish_run(client, run_id, summary, &phases, started)
}

/// The stored state the batch planner reads: cdp.record_keys, cdp.records and cdp.match_edges,
/// each read by index probes. `take_batch` loads the batch's records and keeps the last one.
struct SqlStore<'a, 'c> {
    client: &'a SpiClient<'c>,
    batch: Option<Loaded>,
}

impl resolve::incremental::BatchStore for SqlStore<'_, '_> {
    type Error = CdpError;

    fn count_holders(&mut self, hashes: &[u64], excluding: &[i64]) -> CdpResult<HashMap<u64, usize>> {
        let hashes: Vec<i64> = hashes.iter().map(|h| *h as i64).collect();
        let mut out = HashMap::new();
        for row in self.client.select(
            "SELECT k.key_hash, pg_catalog.count(*)
               FROM pg_catalog.unnest($1::bigint[]) h(key_hash) JOIN cdp.record_keys k ON k.key_hash OPERATOR(pg_catalog.=) h.key_hash
              WHERE NOT k.record_id OPERATOR(pg_catalog.=) ANY ($2)
              GROUP BY k.key_hash",
            None,
            &[hashes.into(), excluding.to_vec().into()],
        )? {
            if let (Some(h), Some(n)) = (row.get::<i64>(1)?, row.get::<i64>(2)?) {
                out.insert(h as u64, n as usize);
            }
        }
        Ok(out)
    }

    fn stored_keys(&mut self, records: &[i64]) -> CdpResult<Vec<u64>> {
        Ok(ids_of(
            self.client,
            "SELECT DISTINCT k.key_hash
               FROM pg_catalog.unnest($1::bigint[]) p(record_id) JOIN cdp.record_keys k ON k.record_id OPERATOR(pg_catalog.=) p.record_id",
            &[records.to_vec().into()],
        )?
        .into_iter()
        .map(|h| h as u64)
        .collect())
    }

    fn holders(&mut self, hashes: &[u64]) -> CdpResult<Vec<i64>> {
        let hashes: Vec<i64> = hashes.iter().map(|h| *h as i64).collect();
        ids_of(
            self.client,
            "SELECT DISTINCT k.record_id
               FROM pg_catalog.unnest($1::bigint[]) h(key_hash) JOIN cdp.record_keys k ON k.key_hash OPERATOR(pg_catalog.=) h.key_hash",
            &[hashes.into()],
        )
    }

    fn profiles_of(&mut self, records: &[i64]) -> CdpResult<Vec<i64>> {
        ids_of(
            self.client,
            "SELECT DISTINCT r.profile_id
               FROM pg_catalog.unnest($1::bigint[]) i(record_id) JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) i.record_id
              WHERE r.profile_id IS NOT NULL",
            &[records.to_vec().into()],
        )
    }

    fn profiles_via_edges(&mut self, records: &[i64], known: &[i64]) -> CdpResult<Vec<i64>> {
        profiles_via_edges(self.client, records, known)
    }

    fn take_batch(&mut self, seeds: &[i64], profiles: &[i64]) -> CdpResult<Vec<i64>> {
        let batch = load_records(
            self.client,
            "WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1) OR r.profile_id OPERATOR(pg_catalog.=) ANY ($2)",
            &[seeds.to_vec().into(), profiles.to_vec().into()],
        )?;
        let ids = batch.recs.iter().map(|r| r.record_id).collect();
        self.batch = Some(batch);
        Ok(ids)
    }

    fn edges_among(&mut self, records: &[i64], min_weight: f64) -> CdpResult<Vec<(i64, i64, f64)>> {
        let mut out = Vec::new();
        for row in self.client.select(
            "SELECT e.record_a, e.record_b, e.weight
               FROM pg_catalog.unnest($1::bigint[]) i(record_id) JOIN cdp.match_edges e ON e.record_a OPERATOR(pg_catalog.=) i.record_id
              WHERE e.record_b OPERATOR(pg_catalog.=) ANY ($1) AND e.weight OPERATOR(pg_catalog.>=) $2",
            None,
            &[records.to_vec().into(), min_weight.into()],
        )? {
            if let (Some(a), Some(b), Some(w)) = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<f64>(3)?) {
                out.push((a, b, w));
            }
        }
        Ok(out)
    }
}

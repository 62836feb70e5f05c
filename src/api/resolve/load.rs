//! Reading what a run needs: the records (one query, one pass), the stored model, steward
//! decisions, survivorship rules, and the incremental look-ups (gone profiles, profiles joined
//! by stored edges, known hubs, name frequencies).

use std::collections::HashMap;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;

use crate::error::{CdpResult, Kind};
use crate::normalise::Attr;
use crate::resolve::{self, Model, Rec};
use super::write::*;

/// A record as loaded for resolution, with what the writer needs beside the `Rec`.
pub struct Loaded {
    pub recs: Vec<Rec>,
    pub previous: Vec<Option<i64>>,
    /// Original text of the display attributes, per record, in DISPLAY_FROM_ORIGINAL order.
    pub originals: Vec<[Option<String>; DISPLAY_FROM_ORIGINAL.len()]>,
    /// New (no profile yet) or changed since a run last matched it.
    pub pending: Vec<bool>,
    /// For a record flagged `resolve_pending`, the row version read (`xmin`): a run clears the
    /// flag only on that version, so a change committed while it runs stays pending.
    pub xmin: Vec<Option<i64>>,
}

pub(super) fn load_sql(filter: &str) -> String {
    let attrs: Vec<String> = Attr::ALL
        .iter()
        .map(|a| match a {
            Attr::BirthDate => "pg_catalog.to_char(r.birth_date, 'YYYY-MM-DD')".to_string(),
            a => format!("r.{}", a.name()),
        })
        .collect();
    let originals: Vec<String> =
        DISPLAY_FROM_ORIGINAL.iter().map(|a| format!("r.original OPERATOR(pg_catalog.->>) '{}'", a.name())).collect();
    format!(
        "SELECT r.record_id, r.source_id, s.priority, EXTRACT(epoch FROM r.updated_at)::bigint, r.profile_id,
                {}, {}, r.resolve_pending OR r.profile_id IS NULL,
                CASE WHEN r.resolve_pending THEN r.xmin::text::bigint END
           FROM cdp.records r JOIN cdp.sources s ON s.source_id OPERATOR(pg_catalog.=) r.source_id
          {filter}
          ORDER BY r.record_id",
        attrs.join(", "),
        originals.join(", ")
    )
}

/// 42704 unless every id names a record (a NULL names none), reporting the first that does not:
/// the one check that the record ids a caller gave exist, for the steward decisions
/// (`cdp._check_records`), `explain_match` and `blocking_keys`.
pub fn require_records(client: &SpiClient<'_>, ids: &[Option<i64>]) -> CdpResult<()> {
    let given: Vec<i64> = ids.iter().flatten().copied().collect();
    let mut found: Vec<i64> = Vec::new();
    for r in client.select("SELECT r.record_id FROM cdp.records r WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1)", None, &[given.into()])? {
        found.extend(r.get::<i64>(1)?);
    }
    match ids.iter().find(|id| id.is_none_or(|i| !found.contains(&i))) {
        None => Ok(()),
        Some(id) => Err(crate::error::CdpError::new(
            Kind::UndefinedObject,
            format!("record {} does not exist", id.map_or("NULL".to_string(), |i| i.to_string())),
        )
        .hint("record ids are cdp.records.record_id (see cdp.profile_members)")),
    }
}

/// Read records (all, or those named in `$1` when `filter` uses it) with one cursor.
pub fn load_records(client: &SpiClient<'_>, filter: &str, args: &[pgrx::datum::DatumWithOid]) -> CdpResult<Loaded> {
    let mut out = Loaded { recs: Vec::new(), previous: Vec::new(), originals: Vec::new(), pending: Vec::new(), xmin: Vec::new() };
    let sql = load_sql(filter);
    let mut cursor = client.try_open_cursor(sql.as_str(), args)?;
    let base = 6; // first attribute column (1-based)
    loop {
        let table = cursor.fetch(50_000)?;
        if table.is_empty() {
            break;
        }
        for row in table {
            let mut rec = Rec::new(row.get::<i64>(1)?.unwrap_or_default());
            rec.source_id = row.get::<i32>(2)?.unwrap_or_default();
            rec.source_priority = row.get::<i32>(3)?.unwrap_or_default();
            rec.updated_at = row.get::<i64>(4)?.unwrap_or_default();
            for (i, slot) in rec.values.iter_mut().enumerate() {
                *slot = row.get::<String>(base + i)?;
            }
            let mut orig: [Option<String>; DISPLAY_FROM_ORIGINAL.len()] = Default::default();
            for (i, slot) in orig.iter_mut().enumerate() {
                *slot = row.get::<String>(base + Attr::COUNT + i)?;
            }
            out.previous.push(row.get::<i64>(5)?);
            let flags = base + Attr::COUNT + DISPLAY_FROM_ORIGINAL.len();
            out.pending.push(row.get::<bool>(flags)?.unwrap_or(true));
            out.xmin.push(row.get::<i64>(flags + 1)?);
            out.recs.push(rec);
            out.originals.push(orig);
        }
        // the batch is copied into Rust: free its tuples now, not at the end of the function
        unsafe { pg_sys::SPI_freetuptable(pg_sys::SPI_tuptable) };
    }
    Ok(out)
}

pub(super) fn stored_model(client: &SpiClient<'_>) -> CdpResult<Option<(i32, Model)>> {
    let t = client.select(
        "SELECT model_id, params FROM cdp.model ORDER BY model_id DESC LIMIT 1",
        Some(1),
        &[],
    )?;
    if t.is_empty() {
        return Ok(None);
    }
    let (id, params) = t.first().get_two::<i32, JsonB>()?;
    Ok(match (id, params.and_then(|p| Model::from_stored(p.0))) {
        (Some(id), Some(m)) => Some((id, m)),
        _ => None,
    })
}

/// Steward decisions as record-index pairs: (cannot_link, forced).
pub(super) fn manual_links(client: &SpiClient<'_>, index: &HashMap<i64, u32>) -> CdpResult<(Vec<(u32, u32)>, Vec<(u32, u32)>)> {
    let mut cannot = Vec::new();
    let mut forced = Vec::new();
    for row in client.select("SELECT record_a, record_b, kind FROM cdp.manual_link_records ORDER BY 1, 2, 3", None, &[])? {
        let (a, b, kind) = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<String>(3)?);
        if let (Some(a), Some(b), Some(kind)) = (a, b, kind) {
            if let (Some(&ia), Some(&ib)) = (index.get(&a), index.get(&b)) {
                if kind == "force_link" {
                    forced.push((ia, ib));
                } else {
                    cannot.push((ia, ib));
                }
            }
        }
    }
    Ok((cannot, forced))
}

/// The survivorship rule of every attribute: cdp.survivorship overrides, else the default.
pub(super) fn survivorship_rules(client: &SpiClient<'_>) -> CdpResult<[resolve::Rule; Attr::COUNT]> {
    let mut rules = resolve::default_rules();
    for row in client.select("SELECT attribute, rule FROM cdp.survivorship", None, &[])? {
        if let (Some(a), Some(r)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
            if let (Some(a), Some(r)) = (Attr::from_name(&a), resolve::Rule::from_name(&r)) {
                rules[a.index()] = r;
            }
        }
    }
    Ok(rules)
}

/// Entries of cdp.resolve_gone as (seq, profile id if it had one, deleted record id).
/// `limit`: at most this many (the oldest).
pub(super) fn gone_profiles(client: &SpiClient<'_>, limit: i64) -> CdpResult<Vec<(i64, Option<i64>, i64)>> {
    let mut out = Vec::new();
    for row in client.select("SELECT seq, profile_id, record_id FROM cdp.resolve_gone ORDER BY seq LIMIT $1", None, &[limit.into()])? {
        if let (Some(s), p, Some(r)) = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<i64>(3)?) {
            out.push((s, p, r));
        }
    }
    Ok(out)
}

/// Profiles (other than `exclude`) of the records that accepted edges join to `records`: one
/// index probe per record and direction (a join the planner could turn into scans of whole tables).
pub(super) fn profiles_via_edges(client: &SpiClient<'_>, records: &[i64], exclude: &[i64]) -> CdpResult<Vec<i64>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    ids_of(
        client,
        "SELECT DISTINCT o.profile_id
           FROM pg_catalog.unnest($1::bigint[]) b(record_id),
                LATERAL (SELECT e.record_b AS other FROM cdp.match_edges e WHERE e.record_a OPERATOR(pg_catalog.=) b.record_id
                         UNION ALL
                         SELECT e.record_a FROM cdp.match_edges e WHERE e.record_b OPERATOR(pg_catalog.=) b.record_id) n,
                LATERAL (SELECT r.profile_id FROM cdp.records r WHERE r.record_id OPERATOR(pg_catalog.=) n.other) o
          WHERE o.profile_id IS NOT NULL AND NOT o.profile_id OPERATOR(pg_catalog.=) ANY ($2)",
        &[records.to_vec().into(), exclude.to_vec().into()],
    )
}

/// Ids of one query's single bigint column.
pub(super) fn ids_of(client: &SpiClient<'_>, sql: &str, args: &[pgrx::datum::DatumWithOid]) -> CdpResult<Vec<i64>> {
    let mut out = Vec::new();
    for row in client.select(sql, None, args)? {
        if let Some(v) = row.get::<i64>(1)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// Hubs and shared devices known from earlier runs (cdp.hubs).
pub(super) fn known_hubs(client: &SpiClient<'_>) -> CdpResult<Vec<(resolve::KeyKind, String, usize)>> {
    let mut out = Vec::new();
    for row in client.select("SELECT key_kind, key_value, records FROM cdp.hubs ORDER BY 1, 2", None, &[])? {
        if let (Some(k), Some(v), Some(n)) = (row.get::<String>(1)?, row.get::<String>(2)?, row.get::<i64>(3)?) {
            if let Some(k) = resolve::KeyKind::from_name(&k) {
                out.push((k, v, n as usize));
            }
        }
    }
    Ok(out)
}

/// Name frequencies over all records for the names of `loaded`: the stored counts of the last
/// full run, or the batch's own count where that is larger (a name new since then).
pub(super) fn term_freq_for(client: &SpiClient<'_>, loaded: &Loaded) -> CdpResult<resolve::TermFreq> {
    let names: Vec<String> = loaded.recs.iter().map(resolve::compare::name_key).collect();
    let births = loaded.recs.iter().map(|r| r.values[crate::normalise::Attr::BirthDate.index()].as_deref());
    let mut tf = resolve::TermFreq::build_people(names.iter().map(String::as_str).zip(births));
    let mut wanted: Vec<&str> = tf.counts.keys().map(String::as_str).collect();
    wanted.push("");
    let mut total = None;
    for row in client.select(
        "SELECT name_key, records FROM cdp.name_frequencies WHERE name_key OPERATOR(pg_catalog.=) ANY ($1)",
        None,
        &[wanted.into()],
    )? {
        if let (Some(k), Some(n)) = (row.get::<String>(1)?, row.get::<i64>(2)?) {
            if k.is_empty() {
                total = Some(n as u64);
            } else if let Some(c) = tf.counts.get_mut(&k) {
                *c = (*c).max(n as u32);
            }
        }
    }
    // without a stored total (term frequencies off in the last full run) no adjustment applies
    tf.total = total.unwrap_or(0);
    Ok(tf)
}

//! Identity resolution from SQL: `cdp.resolve()` runs the pure pipeline of `crate::resolve` over
//! every record and writes its results back in bulk; `cdp.explain_match` explains one pair.
//!
//! Shape of a run (one transaction; a cancelled or failed run leaves the previous profiles):
//! read all records once through a cursor → resolve_batch (pure Rust, threads) → write keys,
//! edges, changed profile ids, profiles, lineage, hubs, model and a run summary with
//! array-parameter statements (`unnest`), in chunks. Only rows that changed are rewritten.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, PgMemoryContexts, PgSqlErrorCode as Code};
use serde_json::{json, Map, Value};

use super::first_one;
use crate::error::{CdpError, CdpResult, OrRaise};
use crate::gucs;
use crate::normalise::Attr;
use crate::resolve::{self, Config, Field, LineageKind, Model, ModelSource, Rec};

/// Serialises resolution runs (batch and, later, incremental): one resolver at a time.
const RESOLVE_LOCK_KEY: i64 = 0x0c0d_7265_736f_6c76; // "cdp resolv"

/// Rows per array-parameter statement when writing results.
const WRITE_CHUNK: usize = 200_000;

/// Attributes whose display value is the original text (folded forms are for matching only).
const DISPLAY_FROM_ORIGINAL: [Attr; 6] =
    [Attr::FirstName, Attr::LastName, Attr::FullName, Attr::Street, Attr::City, Attr::Region];

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

fn config_from_gucs() -> Config {
    let threshold = gucs::MATCH_THRESHOLD.get();
    let default = Config::default();
    Config {
        threshold,
        // keep the weak-bridge guard the same distance above the threshold when it is moved
        weak_bridge_weight: threshold + (default.weak_bridge_weight - default.threshold),
        max_block: gucs::MAX_BLOCK_SIZE.get().max(2) as usize,
        max_profile_size: gucs::MAX_PROFILE_SIZE.get().max(1) as usize,
        hub_min_count: gucs::HUB_MIN_RECORDS.get().max(2) as usize,
        ..default
    }
}

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

fn load_sql(filter: &str) -> String {
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

fn stored_model(client: &SpiClient<'_>) -> CdpResult<Option<(i32, Model)>> {
    let t = client.select(
        "SELECT model_id, params FROM cdp.model ORDER BY model_id DESC LIMIT 1",
        Some(1),
        &[],
    )?;
    if t.is_empty() {
        return Ok(None);
    }
    let (id, params) = t.first().get_two::<i32, JsonB>()?;
    Ok(match (id, params.and_then(|p| serde_json::from_value::<Model>(p.0).ok())) {
        (Some(id), Some(m)) if m.is_compatible() => Some((id, m)),
        _ => None,
    })
}

/// Steward decisions as record-index pairs: (cannot_link, forced).
fn manual_links(client: &SpiClient<'_>, index: &HashMap<i64, u32>) -> CdpResult<(Vec<(u32, u32)>, Vec<(u32, u32)>)> {
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

/// `0,1,,3` → one text per edge; SQL turns it into smallint[] with '' as NULL.
fn encode_levels(lv: &resolve::Levels) -> String {
    Field::ALL
        .iter()
        .map(|f| lv.get(*f).map(|l| l.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

/// Indexes of cdp.record_keys, rebuilt after the bulk load: building an index over sorted data
/// is several times faster than maintaining it row by row.
const RECORD_KEY_INDEXES: [(&str, &str); 2] = [
    ("record_keys_lookup_idx", "(key_hash)"),
    ("record_keys_record_idx", "(record_id)"),
];

/// Whether `table` already holds exactly the `rows` rows whose digest is `digest`: the digest
/// and row count recorded in cdp.resolve_state when the table was last written (same
/// transaction), and the row count still agrees.
fn unchanged(client: &SpiClient<'_>, table: &str, digest: &str, rows: usize) -> CdpResult<bool> {
    let stored = client.select(
        "SELECT s.digest, s.row_count FROM cdp.resolve_state s WHERE s.table_name OPERATOR(pg_catalog.=) $1",
        Some(1),
        &[table.into()],
    )?;
    if stored.is_empty() {
        return Ok(false);
    }
    let row = stored.first();
    if row.get::<String>(1)?.as_deref() != Some(digest) || row.get::<i64>(2)? != Some(rows as i64) {
        return Ok(false);
    }
    let count = first_one::<i64>(client.select(&format!("SELECT pg_catalog.count(*) FROM {table}"), Some(1), &[])?)?;
    Ok(count == Some(rows as i64))
}

/// Record what was just written to `table` (see [`unchanged`]).
fn remember(client: &mut SpiClient<'_>, table: &str, digest: &str, rows: usize) -> CdpResult<()> {
    client.update(
        "INSERT INTO cdp.resolve_state (table_name, digest, row_count) VALUES ($1, $2, $3)
         ON CONFLICT (table_name) DO UPDATE SET digest = EXCLUDED.digest, row_count = EXCLUDED.row_count",
        None,
        &[table.into(), digest.into(), (rows as i64).into()],
    )?;
    Ok(())
}

/// Rewrite cdp.record_keys unless it already holds these keys. Returns (keys, digest, written).
fn write_keys(client: &mut SpiClient<'_>, loaded: &Loaded, keys: &[Vec<(resolve::KeyKind, String)>]) -> CdpResult<(usize, String, bool)> {
    // the rows as written, hashed once: digest and insert both read them
    let rows: Vec<(i64, i64)> = loaded
        .recs
        .iter()
        .zip(keys)
        .flat_map(|(rec, ks)| ks.iter().map(move |(k, v)| (resolve::keys::key_hash(*k, v) as i64, rec.record_id)))
        .collect();
    let total = rows.len();
    let mut digest = Digest::default();
    for (h, id) in &rows {
        digest.add_u64(*h as u64);
        digest.add_u64(*id as u64);
    }
    let digest = format!("{:016x}", digest.finish());
    if unchanged(client, "cdp.record_keys", &digest, total)? {
        return Ok((total, digest, false));
    }
    client.update("TRUNCATE cdp.record_keys", None, &[])?;
    for (name, _) in RECORD_KEY_INDEXES {
        client.update(format!("DROP INDEX IF EXISTS cdp.{name}").as_str(), None, &[])?;
    }
    let mut scratch = PgMemoryContexts::new("cdp resolve keys");
    for chunk in rows.chunks(WRITE_CHUNK * 5) {
        bulk(
            client,
            &mut scratch,
            "INSERT INTO cdp.record_keys (key_hash, record_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
            || {
                let (h, i): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                vec![h.into(), i.into()]
            },
        )?;
    }
    for (name, cols) in RECORD_KEY_INDEXES {
        client.update(format!("CREATE INDEX {name} ON cdp.record_keys {cols}").as_str(), None, &[])?;
    }
    // statistics for the incremental look-ups that follow (a sample: a fraction of a second)
    client.update("ANALYZE cdp.record_keys", None, &[])?;
    remember(client, "cdp.record_keys", &digest, total)?;
    Ok((total, digest, true))
}

/// Rewrite cdp.match_edges unless it already holds these edges. Returns (digest, written).
fn write_edges(client: &mut SpiClient<'_>, loaded: &Loaded, edges: &[(u32, u32, f64, resolve::Levels)]) -> CdpResult<(String, bool)> {
    // the rows as written, built once: digest and insert both read them
    let rows = edge_rows(loaded, edges);
    let mut digest = Digest::default();
    for (a, b, w, l) in &rows {
        digest.add_u64(*a as u64);
        digest.add_u64(*b as u64);
        digest.add_u64(w.to_bits());
        digest.add_str(Some(l));
    }
    let digest = format!("{:016x}", digest.finish());
    if unchanged(client, "cdp.match_edges", &digest, edges.len())? {
        return Ok((digest, false));
    }
    client.update("TRUNCATE cdp.match_edges", None, &[])?;
    insert_edges(client, &rows)?;
    remember(client, "cdp.match_edges", &digest, edges.len())?;
    Ok((digest, true))
}

/// Accepted edges as stored: record ids, weight rounded to 0.001, encoded levels.
fn edge_rows(loaded: &Loaded, edges: &[(u32, u32, f64, resolve::Levels)]) -> Vec<(i64, i64, f64, String)> {
    edges
        .iter()
        .map(|e| {
            let id = |i: u32| loaded.recs[i as usize].record_id;
            (id(e.0), id(e.1), (e.2 * 1000.0).round() / 1000.0, encode_levels(&e.3))
        })
        .collect()
}

fn insert_edges(client: &mut SpiClient<'_>, rows: &[(i64, i64, f64, String)]) -> CdpResult<()> {
    let mut scratch = PgMemoryContexts::new("cdp resolve edges");
    for chunk in rows.chunks(WRITE_CHUNK) {
        bulk(
            client,
            &mut scratch,
            "INSERT INTO cdp.match_edges (record_a, record_b, weight, levels)
             SELECT a, b, w, pg_catalog.string_to_array(l, ',', '')::smallint[]
               FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[]) u(a, b, w, l)",
            || {
                let a: Vec<i64> = chunk.iter().map(|r| r.0).collect();
                let b: Vec<i64> = chunk.iter().map(|r| r.1).collect();
                let w: Vec<f64> = chunk.iter().map(|r| r.2).collect();
                let l: Vec<&str> = chunk.iter().map(|r| r.3.as_str()).collect();
                vec![a.into(), b.into(), w.into(), l.into()]
            },
        )?;
    }
    Ok(())
}

/// The index of cdp.records that a membership update changes (see `sql/schema.sql`).
const PROFILE_ID_INDEX: &str = "records_profile_id_idx";

/// Set records.profile_id where it changed and clear resolve_pending of the records this run
/// matched (unless their row changed since it was read); returns how many moved.
/// `full`: `loaded` is every record (a full run), so a large share moving justifies rebuilding
/// the profile_id index; an incremental batch never rebuilds an index of the whole table.
fn write_memberships(client: &mut SpiClient<'_>, loaded: &Loaded, ids: &[i64], full: bool) -> CdpResult<usize> {
    let mut moved = 0;
    let changed: Vec<(i64, i64, i64)> = (0..ids.len())
        .filter(|&i| {
            let m = loaded.previous[i] != Some(ids[i]);
            moved += usize::from(m);
            m || loaded.xmin[i].is_some()
        })
        // -1 never equals a row version: a flag this run did not read stays as it is
        .map(|i| (loaded.recs[i].record_id, ids[i], loaded.xmin[i].unwrap_or(-1)))
        .collect();
    // Moving many records (the first run, a re-estimated model): maintaining the profile_id
    // index row by row costs more than rebuilding it once, and without it updates stay HOT.
    let rebuild = full && changed.len() > loaded.recs.len() / 10 && changed.len() > 10_000;
    // (the flag of records_pending_idx changes only on the few records that were changed since
    // the last run: the others' updates stay HOT)
    if rebuild {
        client.update(&format!("DROP INDEX IF EXISTS cdp.{PROFILE_ID_INDEX}"), None, &[])?;
    }
    let mut scratch = PgMemoryContexts::new("cdp resolve memberships");
    // large chunks: each statement hash-joins its ids against all of cdp.records
    for chunk in changed.chunks(WRITE_CHUNK * 10) {
        let rid: Vec<i64> = chunk.iter().map(|c| c.0).collect();
        let pid: Vec<i64> = chunk.iter().map(|c| c.1).collect();
        let xmin: Vec<i64> = chunk.iter().map(|c| c.2).collect();
        // on a row updated since it was read, the SET sees the new version: still pending
        bulk(
            client,
            &mut scratch,
            "UPDATE cdp.records r SET profile_id = u.pid,
                    resolve_pending = r.resolve_pending AND r.xmin::text::bigint OPERATOR(pg_catalog.<>) u.x
               FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) u(rid, pid, x)
              WHERE r.record_id OPERATOR(pg_catalog.=) u.rid",
            || vec![rid.into(), pid.into(), xmin.into()],
        )?;
    }
    if rebuild {
        client.update(&format!("CREATE INDEX {PROFILE_ID_INDEX} ON cdp.records (profile_id)"), None, &[])?;
    }
    Ok(moved)
}

/// One profile as written: golden values (matching forms), display, provenance, counts.
struct ProfileRow {
    pid: i64,
    values: [Option<String>; Attr::COUNT],
    display: String,
    provenance: String,
    records: i32,
    sources: i32,
    /// Digest of everything above but the id: stored in cdp.profiles.content_hash, so that a
    /// run rewrites only the profiles whose golden record changed.
    hash: i64,
}

impl ProfileRow {
    fn digest(&self) -> i64 {
        let mut d = Digest::default();
        for v in &self.values {
            d.add_str(v.as_deref());
        }
        d.add_str(Some(&self.display));
        d.add_str(Some(&self.provenance));
        d.add_u64(self.records as u64);
        d.add_u64(self.sources as u64);
        d.finish()
    }
}

/// An order-dependent 64-bit digest (FNV-style, stable across runs and builds) of written
/// results, to tell whether a run's output equals what is stored.
#[derive(Default)]
struct Digest(u64);

impl Digest {
    fn add_u64(&mut self, v: u64) {
        self.0 = resolve::strdist::mix64(self.0 ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
    fn add_str(&mut self, v: Option<&str>) {
        match v {
            None => self.add_u64(u64::MAX),
            Some(s) => self.add_u64(resolve::strdist::hash64(1, s.as_bytes())),
        }
    }
    fn finish(&self) -> i64 {
        self.0 as i64
    }
}

/// Golden record of one profile (`members`: indices into `loaded`, sorted by record id).
fn profile_row(loaded: &Loaded, by_id: &HashMap<i64, u32>, rules: &[resolve::Rule; Attr::COUNT], pid: i64, members: &[usize]) -> ProfileRow {
    let recs: Vec<&Rec> = members.iter().map(|&i| &loaded.recs[i]).collect();
    let g = resolve::golden(&recs, rules);
    let mut disp = Map::new();
    let mut prov = Map::new();
    let mut values: [Option<String>; Attr::COUNT] = Default::default();
    for a in Attr::ALL {
        let Some((val, rid)) = &g[a.index()] else { continue };
        values[a.index()] = Some(val.clone());
        prov.insert(a.name().into(), json!(rid));
        // provenance record first, then the other members holding the same value
        let holders = by_id
            .get(rid)
            .map(|&i| i as usize)
            .into_iter()
            .chain(members.iter().copied().filter(|&i| loaded.recs[i].record_id != *rid));
        let candidates: Vec<String> = holders
            .filter(|&i| loaded.recs[i].values[a.index()].as_deref() == Some(val.as_str()))
            .filter_map(|i| original_text(a, &loaded.originals[i]))
            .collect();
        disp.insert(a.name().into(), Value::String(best_display(&candidates).unwrap_or_else(|| val.clone())));
    }
    let mut srcs: Vec<i32> = recs.iter().map(|r| r.source_id).collect();
    srcs.sort_unstable();
    srcs.dedup();
    let mut row = ProfileRow {
        pid,
        values,
        display: Value::Object(disp).to_string(),
        provenance: Value::Object(prov).to_string(),
        records: members.len() as i32,
        sources: srcs.len() as i32,
        hash: 0,
    };
    row.hash = row.digest();
    row
}

/// The survivorship rule of every attribute: cdp.survivorship overrides, else the default.
fn survivorship_rules(client: &SpiClient<'_>) -> CdpResult<[resolve::Rule; Attr::COUNT]> {
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
    let attr = super::normalise::attr_named(attribute).or_raise();
    Spi::connect_mut(|client| -> CdpResult<bool> {
        match rule {
            None => {
                client.update("DELETE FROM cdp.survivorship WHERE attribute OPERATOR(pg_catalog.=) $1", None, &[attr.name().into()])?;
            }
            Some(r) => {
                let r = resolve::Rule::from_name(r).ok_or_else(|| {
                    CdpError::new(Code::ERRCODE_INVALID_PARAMETER_VALUE, format!("unknown survivorship rule \"{r}\""))
                        .hint("rules: source_priority, most_recent, most_frequent, most_complete")
                })?;
                client.update(
                    "INSERT INTO cdp.survivorship (attribute, rule) VALUES ($1, $2)
                     ON CONFLICT (attribute) DO UPDATE SET rule = EXCLUDED.rule",
                    None,
                    &[attr.name().into(), r.name().into()],
                )?;
            }
        }
        Ok(true)
    })
    .or_raise()
}

/// Golden record of every profile: pure computation (no PostgreSQL), on threads, so that it can
/// run while the calling thread writes the other results.
/// `index`: record id → position in `loaded` (the map the run built once).
fn profile_rows(loaded: &Loaded, index: &HashMap<i64, u32>, ids: &[i64], rules: &[resolve::Rule; Attr::COUNT]) -> Vec<ProfileRow> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| (ids[i], loaded.recs[i].record_id));
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end < order.len() && ids[order[end]] == ids[order[start]] {
            end += 1;
        }
        groups.push((start, end));
        start = end;
    }
    resolve::par_map(&groups, resolve::DEFAULT_THREADS, |&(s, e)| profile_row(loaded, index, rules, ids[order[s]], &order[s..e]))
}

/// Upsert the golden records, delete profiles that no longer exist; returns (upserted, deleted,
/// seconds). `only`: the profiles an incremental run touched (None: all).
fn write_profiles(client: &mut SpiClient<'_>, rows: &[ProfileRow], only: Option<&[i64]>) -> CdpResult<(usize, usize, f64)> {
    let t = Instant::now();
    let (scope_sql, scope_args) = match only {
        Some(ids) => (" WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1)", vec![ids.to_vec().into()]),
        None => ("", vec![]),
    };
    // only what changed: a re-run on unchanged data writes nothing
    let mut stored: HashMap<i64, i64> = HashMap::new();
    for row in client.select(&format!("SELECT p.profile_id, p.content_hash FROM cdp.profiles p{scope_sql}"), None, &scope_args)? {
        if let (Some(p), Some(h)) = (row.get::<i64>(1)?, row.get::<i64>(2)?) {
            stored.insert(p, h);
        }
    }
    let changed: Vec<&ProfileRow> = rows.iter().filter(|r| stored.get(&r.pid) != Some(&r.hash)).collect();
    drop(stored);
    let names: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
    let types: Vec<&str> = Attr::ALL.iter().map(|a| if *a == Attr::BirthDate { "date" } else { "text" }).chain(["jsonb", "jsonb"]).collect();
    let n = Attr::COUNT;
    // Two forms of the same upsert: text columns as arrays, or (much cheaper to build: one
    // string per column instead of an element-by-element array) packed into one text split by
    // string_to_array, used when no value holds a separator or is empty.
    let upsert = |packed: bool| {
        let cols: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if packed {
                    format!("pg_catalog.string_to_array(${}, {PACK_SEP_SQL}, {PACK_NULL_SQL})::{t}[]", i + 2)
                } else {
                    format!("${}::{t}[]", i + 2)
                }
            })
            .collect();
        format!(
            "INSERT INTO cdp.profiles AS p (profile_id, {names}, display, provenance, record_count, source_count, content_hash)
             SELECT u.* FROM unnest($1::bigint[], {cols}, ${c}::int[], ${s}::int[], ${h}::bigint[])
                    AS u(profile_id, {names}, display, provenance, record_count, source_count, content_hash)
             ON CONFLICT (profile_id) DO UPDATE SET {set}, display = EXCLUDED.display, provenance = EXCLUDED.provenance,
                    record_count = EXCLUDED.record_count, source_count = EXCLUDED.source_count,
                    content_hash = EXCLUDED.content_hash, updated_at = pg_catalog.now()",
            names = names.join(", "),
            cols = cols.join(", "),
            c = n + 4,
            s = n + 5,
            h = n + 6,
            set = names.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", "),
        )
    };
    let (sql_packed, sql_arrays) = (upsert(true), upsert(false));
    let mut scratch = PgMemoryContexts::new("cdp resolve profiles");
    let mut upserted = 0usize;
    for chunk in changed.chunks(WRITE_CHUNK / 4) {
        // the text columns of the chunk, in statement order: attributes, display, provenance
        let column = |i: usize| -> Vec<Option<&str>> {
            chunk
                .iter()
                .map(|r| match i {
                    _ if i < n => r.values[i].as_deref(),
                    _ if i == n => Some(r.display.as_str()),
                    _ => Some(r.provenance.as_str()),
                })
                .collect()
        };
        let packed: Option<Vec<String>> = (0..n + 2).map(|i| pack_texts(&column(i))).collect();
        let sql = if packed.is_some() { &sql_packed } else { &sql_arrays };
        upserted += bulk(client, &mut scratch, sql.as_str(), || {
            let mut args: Vec<pgrx::datum::DatumWithOid> = vec![chunk.iter().map(|r| r.pid).collect::<Vec<i64>>().into()];
            match packed {
                Some(texts) => args.extend(texts.into_iter().map(Into::into)),
                None => args.extend((0..n + 2).map(|i| column(i).into())),
            }
            args.push(chunk.iter().map(|r| r.records).collect::<Vec<i32>>().into());
            args.push(chunk.iter().map(|r| r.sources).collect::<Vec<i32>>().into());
            args.push(chunk.iter().map(|r| r.hash).collect::<Vec<i64>>().into());
            args
        })?;
    }
    let gone = "NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) p.profile_id)";
    let deleted = match only {
        Some(ids) => client.update(
            &format!("DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1) AND {gone}"),
            None,
            &[ids.to_vec().into()],
        )?,
        None => client.update(&format!("DELETE FROM cdp.profiles p WHERE {gone}"), None, &[])?,
    }
    .len();
    Ok((upserted, deleted, t.elapsed().as_secs_f64()))
}

/// Separator and NULL marker of [`pack_texts`], as Rust characters and as SQL literals.
const PACK_SEP: char = '\u{1f}';
const PACK_NULL: &str = "\u{1e}";
const PACK_SEP_SQL: &str = "E'\\x1f'";
const PACK_NULL_SQL: &str = "E'\\x1e'";

/// Texts joined into one string that `string_to_array(s, E'\x1f', E'\x1e')` splits back into
/// the same elements (NULL included); `None` when that is not possible: a value holding the
/// separator or the NULL marker, or an empty value (an empty string would split into no element).
fn pack_texts(values: &[Option<&str>]) -> Option<String> {
    let mut out = String::with_capacity(values.iter().map(|v| v.map_or(1, str::len) + 1).sum());
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(PACK_SEP);
        }
        match v {
            None => out.push_str(PACK_NULL),
            Some(s) if s.is_empty() || s.contains(PACK_SEP) || s.contains(PACK_NULL) => return None,
            Some(s) => out.push_str(s),
        }
    }
    Some(out)
}

/// The original text behind an attribute value of one record; a full name derived from first and
/// last name is shown as the originals of both.
fn original_text(a: Attr, originals: &[Option<String>; DISPLAY_FROM_ORIGINAL.len()]) -> Option<String> {
    let get = |x: Attr| DISPLAY_FROM_ORIGINAL.iter().position(|d| *d == x).and_then(|p| originals[p].as_deref());
    let text = match (get(a), a) {
        (Some(t), _) => Some(t.to_string()),
        (None, Attr::FullName) => match (get(Attr::FirstName), get(Attr::LastName)) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            _ => None,
        },
        _ => None,
    }?;
    let tidy = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!tidy.is_empty()).then_some(tidy)
}

/// Of several spellings of one value ("AYSE YILMAZ", "Ayşe Yılmaz", "ayse yilmaz"), the one a
/// person would rather read: mixed case over all-lower over ALL-CAPS, then the one keeping more
/// letters with diacritics; ties keep the earlier candidate (the provenance record comes first).
fn best_display(candidates: &[String]) -> Option<String> {
    let score = |s: &str| {
        let upper = s.chars().any(char::is_uppercase);
        let lower = s.chars().any(char::is_lowercase);
        let case = match (upper, lower) {
            (true, true) => 2,
            (false, true) => 1,
            _ => 0,
        };
        let marks = s.chars().filter(|c| c.is_alphabetic() && !c.is_ascii()).count().min(8);
        case * 10 + marks as i32
    };
    let mut best: Option<&String> = None;
    for c in candidates {
        if best.is_none_or(|b| score(c) > score(b)) {
            best = Some(c);
        }
    }
    best.cloned()
}

fn write_lineage(client: &mut SpiClient<'_>, lineage: &[resolve::Lineage], run_id: i64) -> CdpResult<()> {
    let events: Vec<&resolve::Lineage> = lineage.iter().filter(|l| l.kind != LineageKind::New || l.old_id.is_some()).collect();
    for chunk in events.chunks(WRITE_CHUNK) {
        let kind: Vec<&str> = chunk.iter().map(|l| l.kind.name()).collect();
        let old: Vec<Option<i64>> = chunk.iter().map(|l| l.old_id).collect();
        let new: Vec<i64> = chunk.iter().map(|l| l.new_id).collect();
        let recs: Vec<i32> = chunk.iter().map(|l| l.records as i32).collect();
        client.update(
            "INSERT INTO cdp.profile_lineage (kind, old_profile_id, new_profile_id, records, reason, run_id)
             SELECT k, o, n, c, CASE k WHEN 'merge' THEN 'profiles matched: the oldest id survives'
                                       WHEN 'split' THEN 'profile split: the largest part keeps the id' END, $5
               FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[]) u(k, o, n, c)",
            None,
            &[kind.into(), old.into(), new.into(), recs.into(), run_id.into()],
        )?;
    }
    Ok(())
}

/// Store the run's hubs and shared devices: all of them after a full run (`replace`), added to
/// the known ones after an incremental run.
fn write_hubs(client: &mut SpiClient<'_>, out: &resolve::Outcome, replace: bool) -> CdpResult<()> {
    if replace {
        client.update("TRUNCATE cdp.hubs", None, &[])?;
    }
    let mut kinds: Vec<&str> = out.hubs.iter().map(|h| h.0.name()).collect();
    let mut values: Vec<&str> = out.hubs.iter().map(|h| h.1.as_str()).collect();
    let mut counts: Vec<i64> = out.hubs.iter().map(|h| h.2 as i64).collect();
    let mut reasons: Vec<&str> = vec!["frequent_value"; out.hubs.len()];
    let mut identities: Vec<Option<i32>> = vec![None; out.hubs.len()];
    for (v, n, ids) in &out.shared_devices {
        kinds.push(resolve::KeyKind::AnonymousId.name());
        values.push(v.as_str());
        counts.push(*n as i64);
        reasons.push("shared_device");
        identities.push(Some(*ids as i32));
    }
    client.update(
        "INSERT INTO cdp.hubs (key_kind, key_value, records, reason, identities)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[])
         ON CONFLICT DO NOTHING",
        None,
        &[kinds.into(), values.into(), counts.into(), reasons.into(), identities.into()],
    )?;
    Ok(())
}

/// Rewrite cdp.name_frequencies (names of two records or more; the total under the empty name)
/// unless it already holds these counts. Returns whether it was written.
fn write_name_frequencies(client: &mut SpiClient<'_>, tf: Option<&resolve::TermFreq>) -> CdpResult<bool> {
    let Some(tf) = tf else { return Ok(false) };
    let mut rows: Vec<(&str, i64)> =
        tf.counts.iter().filter(|(_, c)| **c >= 2).map(|(k, c)| (k.as_str(), i64::from(*c))).collect();
    rows.sort_unstable();
    rows.push(("", tf.total as i64));
    let mut digest = Digest::default();
    for (k, c) in &rows {
        digest.add_str(Some(k));
        digest.add_u64(*c as u64);
    }
    let digest = format!("{:016x}", digest.finish());
    if unchanged(client, "cdp.name_frequencies", &digest, rows.len())? {
        return Ok(false);
    }
    client.update("TRUNCATE cdp.name_frequencies", None, &[])?;
    let mut scratch = PgMemoryContexts::new("cdp resolve names");
    for chunk in rows.chunks(WRITE_CHUNK) {
        bulk(
            client,
            &mut scratch,
            "INSERT INTO cdp.name_frequencies (name_key, records) SELECT * FROM unnest($1::text[], $2::bigint[])",
            || {
                let (k, c): (Vec<&str>, Vec<i64>) = chunk.iter().copied().unzip();
                vec![k.into(), c.into()]
            },
        )?;
    }
    remember(client, "cdp.name_frequencies", &digest, rows.len())?;
    Ok(true)
}

/// Entries of cdp.resolve_gone as (seq, profile id if it had one, deleted record id).
/// `limit`: at most this many (the oldest).
fn gone_profiles(client: &SpiClient<'_>, limit: i64) -> CdpResult<Vec<(i64, Option<i64>, i64)>> {
    let mut out = Vec::new();
    for row in client.select("SELECT seq, profile_id, record_id FROM cdp.resolve_gone ORDER BY seq LIMIT $1", None, &[limit.into()])? {
        if let (Some(s), p, Some(r)) = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<i64>(3)?) {
            out.push((s, p, r));
        }
    }
    Ok(out)
}

/// Remove the cdp.resolve_gone entries a run has dealt with (those it read, not later ones).
fn forget_gone(client: &mut SpiClient<'_>, gone: &[(i64, Option<i64>, i64)]) -> CdpResult<()> {
    if !gone.is_empty() {
        let seqs: Vec<i64> = gone.iter().map(|g| g.0).collect();
        client.update("DELETE FROM cdp.resolve_gone WHERE seq OPERATOR(pg_catalog.=) ANY ($1)", None, &[seqs.into()])?;
    }
    Ok(())
}

fn store_model(client: &mut SpiClient<'_>, out: &resolve::Outcome) -> CdpResult<i32> {
    let params = serde_json::to_value(&out.model).map_err(|e| CdpError::new(Code::ERRCODE_INTERNAL_ERROR, e.to_string()))?;
    let notes: Vec<String> = out.model_notes.clone();
    let id = first_one::<i32>(client.update(
        "INSERT INTO cdp.model (source, records, candidate_pairs, prior, iterations, converged, log_likelihood, params, notes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING model_id",
        Some(1),
        &[
            out.model_source.name().into(),
            (out.counters.records as i64).into(),
            (out.counters.candidate_pairs as i64).into(),
            out.model.prior.into(),
            (out.model.iterations as i32).into(),
            out.model.converged.into(),
            out.model.log_likelihood.into(),
            JsonB(params).into(),
            notes.into(),
        ],
    )?)?;
    Ok(id.unwrap_or_default())
}

/// Return the allocator's free memory to the operating system (glibc `malloc_trim`; elsewhere
/// nothing).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free heap pages; it has no preconditions
        unsafe { malloc_trim(0) };
    }
}

fn resolve_all(client: &mut SpiClient<'_>, reestimate: bool) -> CdpResult<Value> {
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
    let cfg = config_from_gucs();
    let mut out = resolve::resolve_batch(
        &loaded.recs,
        &loaded.previous,
        &cannot,
        &forced,
        &cfg,
        &mut next_id,
        stored.as_ref().map(|(_, m)| m),
        None,
    );
    // the comparison's temporaries (pair levels, candidate pairs) are freed, but the allocator
    // keeps them in the threads' arenas: hand them back, so the writing that follows does not
    // stack on them (up to 270 MB more peak memory at 1M records, depending on thread timing)
    release_free_memory();
    // hand back the ids this run did not use
    client.update("SELECT pg_catalog.setval('cdp.profile_id_seq', $1, false)", None, &[next_id.into()])?;
    for (name, secs) in &out.timings {
        phases.push(((*name).to_string(), *secs));
    }
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
    let (key_rows, edge_rows) = (std::mem::take(&mut out.keys), std::mem::take(&mut out.edges));
    let keys = write_keys(client, &loaded, &key_rows)?;
    drop(key_rows);
    step("keys", &mut phases);
    let (keys, changed_members, rows, golden_s) = std::thread::scope(|scope| -> CdpResult<_> {
        // the golden records need nothing from PostgreSQL: build them on their own thread while
        // this one writes edges and memberships (a cancel still waits for that thread); not
        // before the keys are written and freed, which keeps the run's peak memory down
        let golden = scope.spawn(|| {
            let t = Instant::now();
            let rows = profile_rows(&loaded, &index, &out.profile_ids, &rules);
            (rows, t.elapsed().as_secs_f64())
        });
        let edges = write_edges(client, &loaded, &edge_rows)?;
        drop(edge_rows);
        step("edges", &mut phases);
        let changed_members = write_memberships(client, &loaded, &out.profile_ids, true)?;
        step("memberships", &mut phases);
        let (rows, golden_s) = golden.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok(((keys, edges), changed_members, rows, golden_s))
    })?;
    let ((keys, keys_digest, keys_written), (edges_digest, edges_written)) = keys;
    phases.push(("golden_records_overlapped".into(), golden_s));
    let (profiles_written, profiles_deleted, profiles_sql) = write_profiles(client, &rows, None)?;
    drop(rows);
    phases.push(("write_profiles_sql".into(), profiles_sql));
    step("profiles", &mut phases);
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
        "threshold": cfg.threshold,
        "skipped_block_examples": out.skipped_blocks.iter().take(10)
            .map(|(k, _, n)| json!({"key_kind": k.name(), "records": n})).collect::<Vec<_>>(),
    });
    finish_run(client, run_id, summary, &phases, started)
}

/// Accepted pairs the clustering guards refused, by guard.
fn rejected(c: &resolve::Counters) -> Value {
    json!({
        "cannot_link": c.rejected_by_cannot_link,
        "max_profile_size": c.rejected_by_max_size,
        "weak_bridge": c.rejected_weak_bridges,
        "id_conflict": c.rejected_by_id_conflict,
    })
}

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

/// Profiles (other than `exclude`) of the records that accepted edges join to `records`: one
/// index probe per record and direction (a join the planner could turn into scans of whole tables).
fn profiles_via_edges(client: &SpiClient<'_>, records: &[i64], exclude: &[i64]) -> CdpResult<Vec<i64>> {
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
fn ids_of(client: &SpiClient<'_>, sql: &str, args: &[pgrx::datum::DatumWithOid]) -> CdpResult<Vec<i64>> {
    let mut out = Vec::new();
    for row in client.select(sql, None, args)? {
        if let Some(v) = row.get::<i64>(1)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// Hubs and shared devices known from earlier runs (cdp.hubs).
fn known_hubs(client: &SpiClient<'_>) -> CdpResult<Vec<(resolve::KeyKind, String, usize)>> {
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
fn term_freq_for(client: &SpiClient<'_>, loaded: &Loaded) -> CdpResult<resolve::TermFreq> {
    let names: Vec<String> = loaded.recs.iter().map(resolve::compare::name_key).collect();
    let mut tf = resolve::TermFreq::build(names.iter().map(String::as_str));
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

/// `cdp.resolve_changes`: the records changed since the last run (at most `max_records`) are
/// matched against the others found through cdp.record_keys, and only the profiles they touch
/// are re-clustered, by the same pipeline as a full run ([`resolve::resolve_scoped`]).
fn resolve_changes(client: &mut SpiClient<'_>, max_records: i64, wait: bool) -> CdpResult<Value> {
    use std::collections::HashSet;
    let started = Instant::now();
    let started_at = first_one::<pgrx::datum::TimestampWithTimeZone>(client.select("SELECT pg_catalog.clock_timestamp()", Some(1), &[])?)?;
    if max_records < 1 {
        return Err(CdpError::new(Code::ERRCODE_INVALID_PARAMETER_VALUE, format!("max_records must be positive, not {max_records}")));
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
        CdpError::new(Code::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "no identity model is stored yet")
            .hint("run cdp.resolve() once: it estimates the model that cdp.resolve_changes() uses")
    })?;
    let cfg = config_from_gucs();
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

    // the changed records' keys, and how many records hold each over all the data: the
    // pending records' stored keys are about to be replaced, so they are not counted
    let hubs = known_hubs(client)?;
    let mut held: HashMap<u64, (resolve::KeyKind, String, usize)> = HashMap::new();
    for rec in &pend.recs {
        for (k, v) in resolve::record_keys(rec) {
            held.entry(resolve::keys::key_hash(k, &v)).or_insert((k, v, 0)).2 += 1;
        }
    }
    let hashes: Vec<i64> = held.keys().map(|h| *h as i64).collect();
    for row in client.select(
        "SELECT k.key_hash, pg_catalog.count(*)
           FROM pg_catalog.unnest($1::bigint[]) h(key_hash) JOIN cdp.record_keys k ON k.key_hash OPERATOR(pg_catalog.=) h.key_hash
          WHERE NOT k.record_id OPERATOR(pg_catalog.=) ANY ($2)
          GROUP BY k.key_hash",
        None,
        &[hashes.into(), pending_ids.clone().into()],
    )? {
        if let (Some(h), Some(n)) = (row.get::<i64>(1)?, row.get::<i64>(2)?) {
            if let Some(e) = held.get_mut(&(h as u64)) {
                e.2 += n as usize;
            }
        }
    }
    let mut scope = resolve::Scope { hubs, ..Default::default() };
    let mut usable: HashSet<i64> = HashSet::new();
    for (h, (k, v, n)) in held {
        if k.is_identifier() && n >= cfg.hub_min_count.max(2) {
            scope.hubs.push((k, v, n));
        } else if n > cfg.max_block {
            scope.over_cap.push((k, v, n));
        } else {
            usable.insert(h as i64);
        }
    }
    scope.over_cap.sort();
    // the phones and devices the changed records hold now or held before: a group's members
    // weigh each other by whether the group is shared, so they all come into the batch and
    // their pairs are scored again (Scope::rescore_keys)
    let old_keys = ids_of(
        client,
        "SELECT DISTINCT k.key_hash
           FROM pg_catalog.unnest($1::bigint[]) p(record_id) JOIN cdp.record_keys k ON k.record_id OPERATOR(pg_catalog.=) p.record_id",
        &[pending_ids.clone().into()],
    )?;
    let is_group = |h: u64| resolve::GROUP_KINDS.contains(&resolve::keys::kind_of(h));
    for h in old_keys.iter().map(|h| *h as u64).filter(|h| is_group(*h)) {
        scope.rescore_keys.insert(h);
        usable.insert(h as i64);
    }
    scope.rescore_keys.extend(usable.iter().map(|h| *h as u64).filter(|h| is_group(*h)));
    let neighbours = ids_of(
        client,
        "SELECT DISTINCT k.record_id
           FROM pg_catalog.unnest($1::bigint[]) h(key_hash) JOIN cdp.record_keys k ON k.key_hash OPERATOR(pg_catalog.=) h.key_hash",
        &[usable.into_iter().collect::<Vec<i64>>().into()],
    )?;
    let mut seeds: Vec<i64> = neighbours.iter().chain(&pending_ids).copied().collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut touched = ids_of(
        client,
        "SELECT DISTINCT r.profile_id
           FROM pg_catalog.unnest($1::bigint[]) i(record_id) JOIN cdp.records r ON r.record_id OPERATOR(pg_catalog.=) i.record_id
          WHERE r.profile_id IS NOT NULL",
        &[seeds.clone().into()],
    )?;
    // profiles that lost a record, and those its accepted edges reached (a deleted record may have
    // been the bridge between two of them)
    let gone_ids: Vec<i64> = gone.iter().map(|g| g.2).collect();
    touched.extend(gone.iter().filter_map(|g| g.1));
    touched.extend(profiles_via_edges(client, &gone_ids, &[])?);
    touched.sort_unstable();
    touched.dedup();
    drop(pend);
    let batch_sql = "WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1) OR r.profile_id OPERATOR(pg_catalog.=) ANY ($2)";
    let mut batch = load_records(client, batch_sql, &[seeds.clone().into(), touched.clone().into()])?;
    // and the profiles that accepted edges reach from the batch: an edge a guard refused joins
    // two profiles that stayed apart, and a changed neighbourhood can lift the refusal
    let batch_ids: Vec<i64> = batch.recs.iter().map(|r| r.record_id).collect();
    let reached = profiles_via_edges(client, &batch_ids, &touched)?;
    if !reached.is_empty() {
        touched.extend(reached);
        touched.sort_unstable();
        touched.dedup();
        batch = load_records(client, batch_sql, &[seeds.into(), touched.clone().into()])?;
    }
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
    let unchanged_ids: Vec<i64> = batch.recs.iter().zip(&batch.pending).filter(|(_, p)| !**p).map(|(r, _)| r.record_id).collect();
    for row in client.select(
        "SELECT e.record_a, e.record_b, e.weight
           FROM pg_catalog.unnest($1::bigint[]) i(record_id) JOIN cdp.match_edges e ON e.record_a OPERATOR(pg_catalog.=) i.record_id
          WHERE e.record_b OPERATOR(pg_catalog.=) ANY ($1) AND e.weight OPERATOR(pg_catalog.>=) $2",
        None,
        &[unchanged_ids.into(), cfg.threshold.into()],
    )? {
        if let (Some(a), Some(b), Some(w)) = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<f64>(3)?) {
            if let (Some(&a), Some(&b)) = (index.get(&a), index.get(&b)) {
                scope.stored_edges.push(resolve::Edge { a: a.min(b), b: a.max(b), weight: w });
            }
        }
    }
    if cfg.term_frequency {
        scope.term_freq = Some(term_freq_for(client, &batch)?);
    }
    let (cannot, forced) = manual_links(client, &index)?;
    step("load_batch", &mut phases);

    let mut next_id = first_one::<i64>(client.update("SELECT pg_catalog.nextval('cdp.profile_id_seq')", Some(1), &[])?)?.unwrap_or(1);
    let mut out = resolve::resolve_batch(&batch.recs, &batch.previous, &cannot, &forced, &cfg, &mut next_id, Some(&model), Some(&scope));
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
        .flat_map(|((rec, ks), _)| ks.iter().map(move |(k, v)| (resolve::keys::key_hash(*k, v) as i64, rec.record_id)))
        .collect();
    let (kh, kr): (Vec<i64>, Vec<i64>) = key_rows.iter().copied().unzip();
    client.update(
        "INSERT INTO cdp.record_keys (key_hash, record_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
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
    let rows = profile_rows(&batch, &index, &out.profile_ids, &rules);
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
        "neighbours": neighbours.len(),
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
        "threshold": cfg.threshold,
    });
    finish_run(client, run_id, summary, &phases, started)
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

/// Why two records are (or are not) one person: per-field comparison levels and weights under
/// the current model, the total against the threshold, shared blocking keys, manual decisions.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _explain_match(record_a: i64, record_b: i64) -> JsonB {
    Spi::connect(|client| -> CdpResult<JsonB> {
        let loaded = load_records(
            client,
            "WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1)",
            &[vec![record_a, record_b].into()],
        )?;
        let find = |id: i64| {
            loaded.recs.iter().position(|r| r.record_id == id).ok_or_else(|| {
                CdpError::new(Code::ERRCODE_UNDEFINED_OBJECT, format!("record {id} does not exist"))
                    .hint("record ids are cdp.records.record_id (see cdp.profile_members)")
            })
        };
        let (ia, ib) = (find(record_a)?, find(record_b)?);
        let (a, b) = (&loaded.recs[ia], &loaded.recs[ib]);
        let (model, model_id) = match stored_model(client)? {
            Some((id, m)) => (m, Some(id)),
            None => (Model::default_model(), None),
        };
        // the pair's phones as the batch sees them: shared by several first names or not
        let phones: Vec<String> = [a, b].iter().filter_map(|r| r.get(Attr::Phone).map(str::to_string)).collect();
        let same_phone = load_records(client, "WHERE r.phone OPERATOR(pg_catalog.=) ANY ($1)", &[phones.into()])?;
        let mut group: Vec<resolve::compare::Prepared> =
            [a, b].into_iter().chain(same_phone.recs.iter().filter(|r| r.record_id != record_a && r.record_id != record_b))
                .map(resolve::compare::Prepared::new)
                .collect();
        resolve::compare::mark_shared_phones(&mut group);
        group.truncate(2);
        // hub values (placeholders, a shop's phone, shared devices) are no evidence, as in a run
        let mut keys = vec![resolve::record_keys(a), resolve::record_keys(b)];
        let hubs = known_hubs(client)?;
        resolve::apply_hubs(&mut keys, &mut group, &hubs);
        let (pa, pb) = (&group[0], &group[1]);
        let lv = resolve::compare(pa, pb);
        // an exact name weighs by how many records hold it (its frequency in the last full run)
        let tf = term_freq_for(client, &loaded)?;
        let tf_u = if lv.get(Field::Name) == Some(0) { tf.u(&pa.name_key) } else { None };
        let weight = model.weight_tf(&lv, tf_u);
        let tf_adjustment = weight - model.weight(&lv);
        let threshold = gucs::MATCH_THRESHOLD.get();
        let round = |w: f64| (w * 100.0).round() / 100.0;
        let fields: Vec<Value> = model
            .explain(&lv)
            .into_iter()
            .map(|(f, level, w)| {
                if f == Field::Name && tf_u.is_some() {
                    json!({"field": f.name(), "level": level, "weight": round(w + tf_adjustment),
                           "records_with_name": tf.counts.get(&pa.name_key), "name_frequency_adjustment": round(tf_adjustment)})
                } else {
                    json!({"field": f.name(), "level": level, "weight": round(w)})
                }
            })
            .collect();
        let missing: Vec<&str> = Field::ALL.iter().filter(|f| lv.get(**f).is_none()).map(|f| f.name()).collect();
        let shared: Vec<&str> = keys[0].iter().filter(|k| keys[1].contains(k)).map(|(k, _)| k.name()).collect();
        let hub_values: Vec<Value> = hubs.iter().map(|(k, _, n)| json!({"key": k.name(), "records": n})).collect();
        let (lo, hi) = (record_a.min(record_b), record_a.max(record_b));
        let manual = first_one::<String>(client.select(
            "SELECT kind FROM cdp.manual_link_records WHERE record_a OPERATOR(pg_catalog.=) $1 AND record_b OPERATOR(pg_catalog.=) $2 LIMIT 1",
            Some(1),
            &[lo.into(), hi.into()],
        )?)?;
        let edge = first_one::<f64>(client.select(
            "SELECT weight FROM cdp.match_edges WHERE record_a OPERATOR(pg_catalog.=) $1 AND record_b OPERATOR(pg_catalog.=) $2",
            Some(1),
            &[lo.into(), hi.into()],
        )?)?;
        let (pa_id, pb_id) = (loaded.previous[ia], loaded.previous[ib]);
        let same_profile = pa_id.is_some() && pa_id == pb_id;
        let matched = weight >= threshold;
        let pending = loaded.pending[ia] || loaded.pending[ib];
        let note = match (matched, same_profile, manual.as_deref()) {
            (_, _, Some(kind)) => format!("a steward decision ({kind}) overrides the weight"),
            _ if pending => "a record is new or changed since the last run: its profile is re-decided by the next cdp.resolve() or cdp.resolve_changes() (the worker's)".to_string(),
            (true, false, _) if pa_id.is_some() && pb_id.is_some() =>
                "the pair scores at or above the threshold, but a clustering guard keeps the records apart: cdp.max_profile_size, two different national ids, or a single weak edge between two groups (see cdp.explain_profile)".to_string(),
            (false, true, _) => "the pair scores below the threshold; the records are in one profile through other records (see cdp.explain_profile)".to_string(),
            _ => "weight is the sum of log2(m/u) per compared field; an exact name weighs by its frequency in the last full run".to_string(),
        };
        Ok(JsonB(json!({
            "record_a": record_a,
            "record_b": record_b,
            "weight": round(weight),
            "threshold": threshold,
            "decision": if matched { "match" } else { "no match" },
            "fields": fields,
            "missing_fields": missing,
            "shared_blocking_keys": shared,
            "hub_values_ignored": hub_values,
            "accepted_edge_weight": edge,
            "manual": manual,
            "profile_a": pa_id,
            "profile_b": pb_id,
            "same_profile": same_profile,
            "model_id": model_id,
            "note": note,
        })))
    })
    .or_raise()
}

/// The compared fields in the order of `cdp.match_edges.levels`, each with its level names best
/// first (a stored level l is `levels[l + 1]`).
#[pg_extern(immutable, parallel_safe)]
fn match_fields() -> TableIterator<'static, (name!(position, i32), name!(field, String), name!(levels, Vec<String>))> {
    TableIterator::new(Field::ALL.iter().enumerate().map(|(i, f)| {
        (i as i32 + 1, f.name().to_string(), resolve::compare::level_names(*f).iter().map(|l| l.to_string()).collect())
    }))
}

/// The blocking keys of one record, readable (cdp.record_keys stores their hashes).
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn blocking_keys(
    record_id: i64,
) -> TableIterator<'static, (name!(key_kind, String), name!(key_value, String), name!(key_hash, i64))> {
    let rows = Spi::connect(|client| -> CdpResult<Vec<(String, String, i64)>> {
        let loaded = load_records(client, "WHERE r.record_id OPERATOR(pg_catalog.=) $1", &[record_id.into()])?;
        let rec = loaded.recs.first().ok_or_else(|| {
            CdpError::new(Code::ERRCODE_UNDEFINED_OBJECT, format!("record {record_id} does not exist"))
        })?;
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
mod tests {
    use super::{best_display, original_text, pack_texts, DISPLAY_FROM_ORIGINAL};
    use crate::normalise::Attr;

    #[test]
    fn packed_texts_split_back_or_refuse() {
        assert_eq!(pack_texts(&[Some("a"), None, Some("b c")]).as_deref(), Some("a\u{1f}\u{1e}\u{1f}b c"));
        assert_eq!(pack_texts(&[None]).as_deref(), Some("\u{1e}"));
        assert_eq!(pack_texts(&[Some("x\u{1f}y")]), None);
        assert_eq!(pack_texts(&[Some("\u{1e}")]), None);
        assert_eq!(pack_texts(&[Some("ok"), Some("")]), None);
        assert_eq!(pack_texts(&[]).as_deref(), Some(""));
    }

    #[test]
    fn display_prefers_mixed_case_with_diacritics() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(best_display(&c(&["AYSE YILMAZ", "Ayşe Yılmaz", "ayse yilmaz"])).as_deref(), Some("Ayşe Yılmaz"));
        assert_eq!(best_display(&c(&["Ayse Yilmaz", "AYŞE YILMAZ"])).as_deref(), Some("Ayse Yilmaz"));
        assert_eq!(best_display(&c(&["Elif Aydin", "Elif Aydın"])).as_deref(), Some("Elif Aydın"));
        // ties keep the first (provenance) candidate
        assert_eq!(best_display(&c(&["Can Demir", "Can Demır"][..1])).as_deref(), Some("Can Demir"));
        assert_eq!(best_display(&[]), None);
    }

    #[test]
    fn derived_full_name_shows_first_and_last_originals() {
        let mut o: [Option<String>; DISPLAY_FROM_ORIGINAL.len()] = Default::default();
        o[0] = Some("Işıl".into());
        o[1] = Some("  Çağrı ".into());
        assert_eq!(original_text(Attr::FullName, &o).as_deref(), Some("Işıl Çağrı"));
        assert_eq!(original_text(Attr::LastName, &o).as_deref(), Some("Çağrı"));
        assert_eq!(original_text(Attr::City, &o), None);
    }
}

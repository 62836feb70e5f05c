//! Writing a run's results in bulk: keys, edges, memberships, profiles (with their digest and
//! display values), lineage, hubs, name frequencies, the model. Only changed rows are written.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::spi::SpiClient;
use pgrx::{JsonB, PgMemoryContexts};
use serde_json::{json, Map, Value};

use crate::api::first_one;
use crate::error::CdpResult;
use crate::normalise::Attr;
use crate::resolve::{self, Field, LineageKind, Rec};
use super::*;
use super::load::*;
use crate::resolve::golden::best_display;

/// Attributes whose display value is the original text (folded forms are for matching only).
pub(super) const DISPLAY_FROM_ORIGINAL: [Attr; 6] =
    [Attr::FirstName, Attr::LastName, Attr::FullName, Attr::Street, Attr::City, Attr::Region];

/// `0,1,,3` → one text per edge; SQL turns it into smallint[] with '' as NULL.
pub(super) fn encode_levels(lv: &resolve::Levels) -> String {
    Field::ALL
        .iter()
        .map(|f| lv.get(*f).map(|l| l.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

/// A stored `cdp.match_edges.levels` array read back: (field, level name) for each compared
/// field, in `Field::ALL` order (a level out of a field's range reads as nothing).
pub(super) fn decode_levels(levels: &[Option<i16>]) -> Vec<(Field, &'static str)> {
    Field::ALL
        .iter()
        .zip(levels)
        .filter_map(|(f, l)| {
            let l = usize::try_from((*l)?).ok()?;
            resolve::compare::level_names(*f).get(l).map(|name| (*f, *name))
        })
        .collect()
}

/// Indexes of cdp.record_keys, rebuilt after the bulk load: building an index over sorted data
/// is several times faster than maintaining it row by row.
const RECORD_KEY_INDEXES: [(&str, &str); 2] = [
    ("DROP INDEX IF EXISTS cdp.record_keys_lookup_idx", "CREATE INDEX record_keys_lookup_idx ON cdp.record_keys (key_hash)"),
    ("DROP INDEX IF EXISTS cdp.record_keys_record_idx", "CREATE INDEX record_keys_record_idx ON cdp.record_keys (record_id)"),
];

/// The indexes of cdp.match_edges (as in `sql/resolve.sql`), dropped and built again like
/// [`RECORD_KEY_INDEXES`].
const MATCH_EDGE_INDEXES: [(&str, &str); 2] = [
    (
        "ALTER TABLE cdp.match_edges DROP CONSTRAINT IF EXISTS match_edges_pkey",
        "ALTER TABLE cdp.match_edges ADD CONSTRAINT match_edges_pkey PRIMARY KEY (record_a, record_b)",
    ),
    ("DROP INDEX IF EXISTS cdp.match_edges_b_idx", "CREATE INDEX match_edges_b_idx ON cdp.match_edges (record_b)"),
];

/// Rewrite a table that `TRUNCATE` has just emptied: drop its indexes, `write` the rows, build
/// the indexes again (one sorted build each, in parallel where PostgreSQL can, instead of an
/// index insertion per row). `indexes`: (statement dropping one, statement building it).
fn rewrite_without_indexes(
    client: &mut SpiClient<'_>,
    indexes: &[(&str, &str)],
    write: impl FnOnce(&mut SpiClient<'_>) -> CdpResult<()>,
) -> CdpResult<()> {
    for &(drop, _) in indexes {
        client.update(drop, None, &[])?;
    }
    write(client)?;
    for &(_, build) in indexes {
        client.update(build, None, &[])?;
    }
    Ok(())
}

/// Whether `table` already holds exactly the `rows` rows whose digest is `digest`: the digest
/// and row count recorded in cdp.resolve_state when the table was last written (same
/// transaction), and the row count still agrees.
pub(super) fn unchanged(client: &SpiClient<'_>, table: &str, digest: &str, rows: usize) -> CdpResult<bool> {
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
pub(super) fn remember(client: &mut SpiClient<'_>, table: &str, digest: &str, rows: usize) -> CdpResult<()> {
    client.update(
        "INSERT INTO cdp.resolve_state (table_name, digest, row_count) VALUES ($1, $2, $3)
         ON CONFLICT (table_name) DO UPDATE SET digest = EXCLUDED.digest, row_count = EXCLUDED.row_count",
        None,
        &[table.into(), digest.into(), (rows as i64).into()],
    )?;
    Ok(())
}

/// cdp.record_keys as [`write_keys`] left it: rows inserted, indexes still to build.
pub(super) struct KeysWritten {
    pub total: usize,
    pub digest: String,
    /// whether the rows were written (false: the table already held these keys)
    pub written: bool,
}

/// Rewrite cdp.record_keys unless it already holds these keys: the rows only, its indexes
/// dropped; [`finish_keys`] builds them. Split so that a full run can insert the rows while
/// its matching runs on another thread, and sort the indexes after it, when the matching's
/// memory is free again.
pub(super) fn write_keys(client: &mut SpiClient<'_>, loaded: &Loaded, keys: Vec<Vec<u64>>) -> CdpResult<KeysWritten> {
    // the rows as written: digest and insert both read them
    let rows: Vec<(i64, i64)> = loaded
        .recs
        .iter()
        .zip(&keys)
        .flat_map(|(rec, hs)| hs.iter().map(move |h| (*h as i64, rec.record_id)))
        .collect();
    drop(keys);
    let total = rows.len();
    let mut digest = Digest::default();
    for (h, id) in &rows {
        digest.add_u64(*h as u64);
        digest.add_u64(*id as u64);
    }
    let digest = format!("{:016x}", digest.finish());
    if unchanged(client, "cdp.record_keys", &digest, total)? {
        return Ok(KeysWritten { total, digest, written: false });
    }
    client.update("TRUNCATE cdp.record_keys", None, &[])?;
    for &(drop_index, _) in &RECORD_KEY_INDEXES {
        client.update(drop_index, None, &[])?;
    }
    let appended = own_table(client, "cdp.record_keys")?.is_some_and(|relid| {
        append::append_rows(relid, [pg_sys::INT8OID; 2], rows.iter().map(|&(h, id)| [h.into(), id.into()]))
    });
    if !appended {
        let mut scratch = PgMemoryContexts::new("cdp resolve keys");
        let insert_sql = insert_keys_sql();
        for chunk in rows.chunks(WRITE_CHUNK * 5) {
            bulk(client, &mut scratch, &insert_sql, || {
                let (h, i): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                vec![h.into(), i.into()]
            })?;
        }
    }
    Ok(KeysWritten { total, digest, written: true })
}

/// The oid of one of pg_cdp's tables (`table` is schema-qualified), for [`append::append_rows`].
fn own_table(client: &SpiClient<'_>, table: &str) -> CdpResult<Option<pg_sys::Oid>> {
    Ok(first_one::<pg_sys::Oid>(client.select("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", Some(1), &[table.into()])?)?)
}

/// Build the indexes of cdp.record_keys that [`write_keys`] dropped (one sorted build each,
/// instead of an index insertion per row), gather its statistics and remember its digest.
pub(super) fn finish_keys(client: &mut SpiClient<'_>, keys: &KeysWritten) -> CdpResult<()> {
    if !keys.written {
        return Ok(());
    }
    for &(_, build) in &RECORD_KEY_INDEXES {
        client.update(build, None, &[])?;
    }
    // statistics for the incremental look-ups that follow (a sample: a fraction of a second)
    client.update("ANALYZE cdp.record_keys", None, &[])?;
    remember(client, "cdp.record_keys", &keys.digest, keys.total)
}

/// Rewrite cdp.match_edges unless it already holds these edges. Returns (digest, written).
pub(super) fn write_edges(client: &mut SpiClient<'_>, loaded: &Loaded, edges: &[(u32, u32, f64, resolve::Levels)]) -> CdpResult<(String, bool)> {
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
    // without its indexes the table takes the appended rows (see `append`)
    rewrite_without_indexes(client, &MATCH_EDGE_INDEXES, |client| insert_pairs(client, "cdp.match_edges", &rows, true))?;
    remember(client, "cdp.match_edges", &digest, edges.len())?;
    Ok((digest, true))
}

/// Accepted edges as stored: record ids, weight rounded to 0.001, encoded levels.
pub(super) fn edge_rows(loaded: &Loaded, edges: &[(u32, u32, f64, resolve::Levels)]) -> Vec<(i64, i64, f64, String)> {
    edges
        .iter()
        .map(|e| {
            let id = |i: u32| loaded.recs[i as usize].record_id;
            (id(e.0), id(e.1), (e.2 * 1000.0).round() / 1000.0, encode_levels(&e.3))
        })
        .collect()
}

pub(super) fn insert_edges(client: &mut SpiClient<'_>, rows: &[(i64, i64, f64, String)]) -> CdpResult<()> {
    insert_pairs(client, "cdp.match_edges", rows, false)
}

/// Rewrite cdp.near_matches: the pairs a full run scored a little below the threshold.
pub(super) fn write_near_matches(client: &mut SpiClient<'_>, loaded: &Loaded, pairs: &[(u32, u32, f64, resolve::Levels)]) -> CdpResult<()> {
    client.update("TRUNCATE cdp.near_matches", None, &[])?;
    insert_pairs(client, "cdp.near_matches", &edge_rows(loaded, pairs), false)
}

/// Insert scored pairs (record ids, weight, encoded levels) into `table`, one of pg_cdp's pair
/// tables (cdp.match_edges, cdp.near_matches); appended as COPY does when `append` (a caller
/// that dropped the table's indexes) and the table allows it.
fn insert_pairs(client: &mut SpiClient<'_>, table: &'static str, rows: &[(i64, i64, f64, String)], append: bool) -> CdpResult<()> {
    let types = [pg_sys::INT8OID, pg_sys::INT8OID, pg_sys::FLOAT8OID, pg_sys::INT2ARRAYOID];
    let appended = append && own_table(client, table)?.is_some_and(|relid| {
        append::append_rows(
            relid,
            types,
            rows.iter().map(|(a, b, w, l)| {
                let levels: Vec<Option<i16>> = l.split(',').map(|x| x.parse().ok()).collect();
                [a.into_datum(), b.into_datum(), w.into_datum(), levels.into_datum()].map(Option::unwrap)
            }),
        )
    });
    if appended {
        return Ok(());
    }
    let rows_sql = unnest_select(&[
        ("a", "$1::bigint[]".into()),
        ("b", "$2::bigint[]".into()),
        ("w", "$3::float8[]".into()),
        ("l", "$4::text[]".into()),
    ]);
    let sql = format!(
        "INSERT INTO {table} (record_a, record_b, weight, levels)
         SELECT u.a, u.b, u.w, pg_catalog.string_to_array(u.l, ',', '')::pg_catalog.int2[] FROM ({rows_sql}) u"
    );
    let mut scratch = PgMemoryContexts::new("cdp resolve edges");
    for chunk in rows.chunks(WRITE_CHUNK) {
        bulk(
            client,
            &mut scratch,
            &sql,
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

/// The index of cdp.records that a membership update changes (see `sql/sources.sql`).
pub(super) const PROFILE_ID_INDEX: &str = "records_profile_id_idx";

/// Set records.profile_id where it changed and clear resolve_pending of the records this run
/// matched (unless their row changed since it was read); returns how many moved.
/// `full`: `loaded` is every record (a full run), so a large share moving justifies rebuilding
/// the profile_id index; an incremental batch never rebuilds an index of the whole table.
pub(super) fn write_memberships(client: &mut SpiClient<'_>, loaded: &Loaded, ids: &[i64], full: bool) -> CdpResult<usize> {
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
    let rows = unnest_select(&[("rid", "$1::bigint[]".into()), ("pid", "$2::bigint[]".into()), ("x", "$3::bigint[]".into())]);
    // on a row updated since it was read, the SET sees the new version: still pending
    let update = format!(
        "UPDATE cdp.records r SET profile_id = u.pid,
                resolve_pending = r.resolve_pending AND r.xmin::text::bigint OPERATOR(pg_catalog.<>) u.x
           FROM ({rows}) u
          WHERE r.record_id OPERATOR(pg_catalog.=) u.rid"
    );
    // large chunks: each statement hash-joins its ids against all of cdp.records
    for chunk in changed.chunks(WRITE_CHUNK * 10) {
        let rid: Vec<i64> = chunk.iter().map(|c| c.0).collect();
        let pid: Vec<i64> = chunk.iter().map(|c| c.1).collect();
        let xmin: Vec<i64> = chunk.iter().map(|c| c.2).collect();
        bulk(client, &mut scratch, &update, || vec![rid.into(), pid.into(), xmin.into()])?;
    }
    if rebuild {
        client.update(&format!("CREATE INDEX {PROFILE_ID_INDEX} ON cdp.records (profile_id)"), None, &[])?;
    }
    Ok(moved)
}

/// One profile as written: golden values (matching forms), display, provenance, counts.
pub(super) struct ProfileRow {
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
pub(super) struct Digest(u64);

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
pub(super) fn profile_row(loaded: &Loaded, by_id: &HashMap<i64, u32>, rules: &[resolve::Rule; Attr::COUNT], pid: i64, members: &[usize]) -> ProfileRow {
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

/// Golden record of every profile: pure computation (no PostgreSQL), on threads, so that it can
/// run while the calling thread writes the other results.
/// `index`: record id → position in `loaded` (the map the run built once).
pub(super) fn profile_rows(loaded: &Loaded, index: &HashMap<i64, u32>, ids: &[i64], rules: &[resolve::Rule; Attr::COUNT], threads: usize) -> Vec<ProfileRow> {
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
    resolve::par_map(&groups, threads, |&(s, e)| {
        // a full run builds them on a thread of its own, which a cancel stops (see `full`)
        resolve::stop_point();
        profile_row(loaded, index, rules, ids[order[s]], &order[s..e])
    })
}

/// Upsert the golden records, delete profiles that no longer exist; returns (upserted, deleted,
/// seconds). `only`: the profiles an incremental run touched (None: all).
pub(super) fn write_profiles(client: &mut SpiClient<'_>, rows: &[ProfileRow], only: Option<&[i64]>) -> CdpResult<(usize, usize, f64)> {
    let t = Instant::now();
    let (scope_sql, scope_args) = match only {
        Some(ids) => (" WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1)", vec![ids.to_vec().into()]),
        None => ("", vec![]),
    };
    // only what changed: a re-run on unchanged data writes nothing. `stored` holds every
    // profile of the scope (all of them in a full run), and the rows' ids are in the scope: a
    // row whose id is not stored is new, and since only a resolve run (holding the resolve
    // lock) writes cdp.profiles, it is inserted without the cost of ON CONFLICT.
    let mut stored: HashMap<i64, i64> = HashMap::new();
    for row in client.select(&format!("SELECT p.profile_id, p.content_hash FROM cdp.profiles p{scope_sql}"), None, &scope_args)? {
        if let (Some(p), h) = (row.get::<i64>(1)?, row.get::<i64>(2)?) {
            stored.insert(p, h.unwrap_or(0));
        }
    }
    let (mut new, mut changed): (Vec<&ProfileRow>, Vec<&ProfileRow>) = (Vec::new(), Vec::new());
    for r in rows {
        match stored.remove(&r.pid) {
            None => new.push(r),
            Some(h) if h != r.hash => changed.push(r),
            Some(_) => {}
        }
    }
    // what is left in `stored` has no row: in a full run these profiles lost their records
    let vanished: Vec<i64> = stored.into_keys().collect();
    let names: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
    let n = Attr::COUNT;
    let element_type = |i: usize| match i {
        _ if i < n && Attr::ALL[i] == Attr::BirthDate => "pg_catalog.date",
        _ if i < n => "",
        _ if i < n + 2 => "pg_catalog.jsonb",
        _ => "",
    };
    // Two forms of the same rows: text columns as arrays, or (much cheaper to build: one
    // string per column instead of an element-by-element array) packed into one text split by
    // string_to_array, used when no value holds a separator or is empty.
    let statement = |packed: bool, upsert: bool| {
        let mut cols: Vec<(&str, String)> = vec![("profile_id", "$1::bigint[]".into())];
        let text_cols = names.iter().copied().chain(["display", "provenance"]);
        cols.extend(text_cols.enumerate().map(|(i, name)| {
            let array = if packed {
                format!("pg_catalog.string_to_array(${}, {PACK_SEP_SQL}, {PACK_NULL_SQL})", i + 2)
            } else {
                format!("${}::text[]", i + 2)
            };
            (name, array)
        }));
        cols.extend([("record_count", format!("${}::int[]", n + 4)), ("source_count", format!("${}::int[]", n + 5)), ("content_hash", format!("${}::bigint[]", n + 6))]);
        let select: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, (name, _))| match i.checked_sub(1).map(element_type) {
                Some(t) if !t.is_empty() => format!("u.{name}::{t}"),
                _ => format!("u.{name}"),
            })
            .collect();
        let conflict = if upsert {
            format!(
                " ON CONFLICT (profile_id) DO UPDATE SET {set}, display = EXCLUDED.display, provenance = EXCLUDED.provenance,
                    record_count = EXCLUDED.record_count, source_count = EXCLUDED.source_count,
                    content_hash = EXCLUDED.content_hash, updated_at = pg_catalog.now()",
                set = names.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", "),
            )
        } else {
            String::new()
        };
        format!(
            "INSERT INTO cdp.profiles AS p (profile_id, {names}, display, provenance, record_count, source_count, content_hash)
             SELECT {select} FROM ({rows}) u{conflict}",
            names = names.join(", "),
            select = select.join(", "),
            rows = unnest_select(&cols),
        )
    };
    let mut scratch = PgMemoryContexts::new("cdp resolve profiles");
    let mut upserted = 0usize;
    for (part, upsert) in [(&new, false), (&changed, true)] {
        let (sql_packed, sql_arrays) = (statement(true, upsert), statement(false, upsert));
        for chunk in part.chunks(WRITE_CHUNK / 4) {
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
    }
    // Profiles left without records. An incremental run checks its scope; a full run only the
    // profiles it read and wrote no row for (on a first run: none), rather than joining every
    // profile against every record.
    let gone = "NOT EXISTS (SELECT 1 FROM cdp.records r WHERE r.profile_id OPERATOR(pg_catalog.=) p.profile_id)";
    let candidates = match only {
        Some(ids) => ids.to_vec(),
        None => vanished,
    };
    let deleted = if candidates.is_empty() {
        0
    } else {
        client
            .update(
                &format!("DELETE FROM cdp.profiles p WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1) AND {gone}"),
                None,
                &[candidates.into()],
            )?
            .len()
    };
    Ok((upserted, deleted, t.elapsed().as_secs_f64()))
}

/// Separator and NULL marker of [`pack_texts`], as Rust characters and as SQL literals.
pub(super) const PACK_SEP: char = '\u{1f}';
pub(super) const PACK_NULL: &str = "\u{1e}";
pub(super) const PACK_SEP_SQL: &str = "E'\\x1f'";
pub(super) const PACK_NULL_SQL: &str = "E'\\x1e'";

/// Texts joined into one string that `string_to_array(s, E'\x1f', E'\x1e')` splits back into
/// the same elements (NULL included); `None` when that is not possible: a value holding the
/// separator or the NULL marker, or an empty value (an empty string would split into no element).
pub(super) fn pack_texts(values: &[Option<&str>]) -> Option<String> {
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
pub(super) fn original_text(a: Attr, originals: &[Option<String>; DISPLAY_FROM_ORIGINAL.len()]) -> Option<String> {
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

pub(super) fn write_lineage(client: &mut SpiClient<'_>, lineage: &[resolve::Lineage], run_id: i64) -> CdpResult<()> {
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
pub(super) fn write_hubs(client: &mut SpiClient<'_>, out: &resolve::Outcome, replace: bool) -> CdpResult<()> {
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
pub(super) fn write_name_frequencies(client: &mut SpiClient<'_>, tf: Option<&resolve::TermFreq>) -> CdpResult<bool> {
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
            &format!(
                "INSERT INTO cdp.name_frequencies (name_key, records) {}",
                unnest_select(&[("name_key", "$1::text[]".into()), ("records", "$2::bigint[]".into())])
            ),
            || {
                let (k, c): (Vec<&str>, Vec<i64>) = chunk.iter().copied().unzip();
                vec![k.into(), c.into()]
            },
        )?;
    }
    remember(client, "cdp.name_frequencies", &digest, rows.len())?;
    Ok(true)
}

/// Remove the cdp.resolve_gone entries a run has dealt with (those it read, not later ones).
pub(super) fn forget_gone(client: &mut SpiClient<'_>, gone: &[(i64, Option<i64>, i64)]) -> CdpResult<()> {
    if !gone.is_empty() {
        let seqs: Vec<i64> = gone.iter().map(|g| g.0).collect();
        client.update("DELETE FROM cdp.resolve_gone WHERE seq OPERATOR(pg_catalog.=) ANY ($1)", None, &[seqs.into()])?;
    }
    Ok(())
}

pub(super) fn store_model(client: &mut SpiClient<'_>, out: &resolve::Outcome) -> CdpResult<i32> {
    let params = out.model.to_stored();
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

#[cfg(test)]
mod tests {
    use super::{decode_levels, encode_levels, original_text, pack_texts, DISPLAY_FROM_ORIGINAL};
    use crate::normalise::Attr;
    use crate::resolve::{compare::level_names, Field, Levels};

    /// What the writer stores (text cast to smallint[], '' as NULL) reads back as the same levels.
    #[test]
    fn stored_levels_read_back_by_name() {
        let mut lv = Levels::default();
        lv.set(Field::Name, Some(1));
        lv.set(Field::Email, Some(0));
        let last = level_names(Field::BirthDate).len() as u8 - 1;
        lv.set(Field::BirthDate, Some(last));
        let stored: Vec<Option<i16>> =
            encode_levels(&lv).split(',').map(|t| if t.is_empty() { None } else { Some(t.parse().unwrap()) }).collect();
        assert_eq!(stored.len(), Field::ALL.len());
        assert_eq!(
            decode_levels(&stored),
            vec![
                (Field::Name, level_names(Field::Name)[1]),
                (Field::Email, level_names(Field::Email)[0]),
                (Field::BirthDate, "different"),
            ]
        );
        // a level out of range (a stored array from another version) reads as nothing
        assert_eq!(decode_levels(&[Some(99), Some(-1)]), vec![]);
    }

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
    fn derived_full_name_shows_first_and_last_originals() {
        let mut o: [Option<String>; DISPLAY_FROM_ORIGINAL.len()] = Default::default();
        o[0] = Some("Işıl".into());
        o[1] = Some("  Çağrı ".into());
        assert_eq!(original_text(Attr::FullName, &o).as_deref(), Some("Işıl Çağrı"));
        assert_eq!(original_text(Attr::LastName, &o).as_deref(), Some("Çağrı"));
        assert_eq!(original_text(Attr::City, &o), None);
    }
}

//! Registering source tables and syncing their rows into `cdp.records`.
//!
//! The public SQL functions (`cdp.add_source`, `cdp.sync_source`, `cdp.drop_source`) are thin
//! wrappers in `sql/api.sql` with a fixed search_path; they call the `_`-prefixed functions here.

use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, SpiClient};
use pgrx::{JsonB, PgSqlErrorCode as Code};
use serde_json::{json, Map, Value};

use super::first_one;
use crate::error::{CdpError, CdpResult, OrRaise};
use crate::normalise::Attr;
use crate::sync::{Column, SourcePlan};

/// A column of a relation, as read from pg_attribute.
struct CatalogColumn {
    name: String,
    type_name: String,
    attnum: i16,
    not_null: bool,
}

impl CatalogColumn {
    fn to_sync_column(&self) -> Column {
        Column { ident: quote_identifier(&self.name), type_name: self.type_name.clone() }
    }
}

/// The relation behind a registered or to-be-registered source.
struct Relation {
    oid: pg_sys::Oid,
    /// quote_ident(schema).quote_ident(name): independent of the caller's search_path
    qualified: String,
    relkind: String,
    columns: Vec<CatalogColumn>,
}

impl Relation {
    fn load(client: &SpiClient<'_>, oid: pg_sys::Oid) -> CdpResult<Relation> {
        let row = client
            .select(
                "SELECT c.relkind::text,
                        pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)
                   FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE c.oid OPERATOR(pg_catalog.=) $1",
                Some(1),
                &[oid.into()],
            )?;
        let row = if row.is_empty() { None } else { Some(row.first().get_two::<String, String>()) };
        let (relkind, qualified) = match row {
            Some(Ok((Some(k), Some(q)))) => (k, q),
            _ => {
                return Err(CdpError::new(
                    Code::ERRCODE_UNDEFINED_TABLE,
                    format!("relation with OID {} does not exist", oid.to_u32()),
                ))
            }
        };
        let mut columns = Vec::new();
        for r in client.select(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnum, a.attnotnull
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0
                AND NOT a.attisdropped
              ORDER BY a.attnum",
            None,
            &[oid.into()],
        )? {
            columns.push(CatalogColumn {
                name: r.get::<String>(1)?.unwrap_or_default(),
                type_name: r.get::<String>(2)?.unwrap_or_default(),
                attnum: r.get::<i16>(3)?.unwrap_or_default(),
                not_null: r.get::<bool>(4)?.unwrap_or(false),
            });
        }
        Ok(Relation { oid, qualified, relkind, columns })
    }

    fn column(&self, name: &str) -> CdpResult<&CatalogColumn> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            CdpError::new(
                Code::ERRCODE_UNDEFINED_COLUMN,
                format!("column \"{}\" of relation {} does not exist", name, self.qualified),
            )
            .hint(format!(
                "columns of {}: {}",
                self.qualified,
                self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// True when a unique, non-partial, single-column index (or primary key) covers `col`.
    fn has_unique_index_on(&self, client: &SpiClient<'_>, col: &CatalogColumn) -> CdpResult<bool> {
        Ok(client
            .select(
                "SELECT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique
                      AND i.indpred IS NULL AND i.indexprs IS NULL
                      AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
                      AND i.indkey[0] OPERATOR(pg_catalog.=) $2)",
                Some(1),
                &[self.oid.into(), col.attnum.into()],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false))
    }
}

/// Validated mapping: attribute -> source column name, in `Attr::ALL` order.
fn parse_mapping(mapping: &Value, rel: &Relation) -> CdpResult<Vec<(Attr, String)>> {
    let known = || Attr::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ");
    let obj: &Map<String, Value> = mapping.as_object().ok_or_else(|| {
        CdpError::new(Code::ERRCODE_INVALID_PARAMETER_VALUE, "mapping must be a JSON object")
            .hint(r#"map identity attributes to columns, e.g. '{"email":"mail","phone":"gsm"}'"#)
    })?;
    if obj.is_empty() {
        return Err(CdpError::new(Code::ERRCODE_INVALID_PARAMETER_VALUE, "mapping is empty")
            .hint(format!("map at least one identity attribute to a column; known attributes: {}", known())));
    }
    let mut out = Vec::new();
    for (attr_name, col) in obj {
        let attr = super::normalise::attr_named(attr_name).map_err(|mut e| {
            e.message.push_str(" in mapping");
            e
        })?;
        let col_name = col.as_str().ok_or_else(|| {
            CdpError::new(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("mapping for attribute \"{attr_name}\" must be a column name (a JSON string), not {col}"),
            )
        })?;
        rel.column(col_name)?;
        out.push((attr, col_name.to_string()));
    }
    out.sort_by_key(|(a, _)| *a);
    Ok(out)
}

fn table_kind_ok(relkind: &str) -> bool {
    matches!(relkind, "r" | "p")
}

#[pg_extern(volatile, parallel_unsafe)]
fn _add_source(
    source_table: pg_sys::Oid,
    key_column: &str,
    mapping: JsonB,
    channel: Option<&str>,
    priority: i32,
) -> i32 {
    Spi::connect_mut(|client| add_source(client, source_table, key_column, &mapping.0, channel, priority)).or_raise()
}

fn add_source(
    client: &mut SpiClient<'_>,
    oid: pg_sys::Oid,
    key_column: &str,
    mapping: &Value,
    channel: Option<&str>,
    priority: i32,
) -> CdpResult<i32> {
    let rel = Relation::load(client, oid)?;
    if !table_kind_ok(&rel.relkind) {
        return Err(CdpError::new(Code::ERRCODE_WRONG_OBJECT_TYPE, format!("{} is not a table", rel.qualified))
            .hint("cdp.add_source takes a table or a partitioned table; views, materialized views and foreign tables cannot be captured"));
    }
    let key = rel.column(key_column)?;
    if !rel.has_unique_index_on(client, key)? {
        return Err(CdpError::new(
            Code::ERRCODE_INVALID_COLUMN_REFERENCE,
            format!("key column \"{}\" of {} is not unique", key_column, rel.qualified),
        )
        .hint(format!(
            "give it a primary key or a unique index: CREATE UNIQUE INDEX ON {} ({})",
            rel.qualified,
            quote_identifier(key_column)
        )));
    }
    let pairs = parse_mapping(mapping, &rel)?;
    let existing = first_one::<i32>(client.select(
        "SELECT source_id FROM cdp.sources WHERE source_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
        Some(1),
        &[oid.into()],
    )?)?;
    if let Some(id) = existing {
        return Err(CdpError::new(
            Code::ERRCODE_DUPLICATE_OBJECT,
            format!("{} is already registered as source {}", rel.qualified, id),
        )
        .hint(format!("to change its mapping, call cdp.drop_source('{}') first", rel.qualified)));
    }
    let canonical: Map<String, Value> =
        pairs.iter().map(|(a, c)| (a.name().to_string(), Value::String(c.clone()))).collect();
    let source_id = client
        .update(
            "INSERT INTO cdp.sources (source_table, key_column, mapping, channel, priority)
             VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5) RETURNING source_id",
            Some(1),
            &[oid.into(), key_column.into(), JsonB(Value::Object(canonical)).into(), channel.into(), priority.into()],
        )?
        .first()
        .get_one::<i32>()?
        .ok_or_else(|| CdpError::new(Code::ERRCODE_INTERNAL_ERROR, "insert into cdp.sources returned nothing"))?;
    create_capture_triggers(client, &rel, source_id, key_column)?;
    if !crate::preloaded() {
        ereport!(
            NOTICE,
            Code::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "changes to {} are queued in cdp.change_queue; no background worker applies them because pg_cdp is not in shared_preload_libraries",
                rel.qualified
            ),
            "add shared_preload_libraries = 'pg_cdp' to postgresql.conf and restart, or call cdp.process_changes() yourself"
        );
    }
    Ok(source_id)
}

const TRIGGER_NAMES: [&str; 4] =
    ["cdp_capture_insert", "cdp_capture_update", "cdp_capture_delete", "cdp_capture_truncate"];

fn create_capture_triggers(client: &mut SpiClient<'_>, rel: &Relation, source_id: i32, key: &str) -> CdpResult<()> {
    let args = format!("'{}', {}", source_id, pgrx::spi::quote_literal(key));
    let stmts = [
        format!("CREATE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS cdp_new FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({})", TRIGGER_NAMES[0], rel.qualified, args),
        format!("CREATE TRIGGER {} AFTER UPDATE ON {} REFERENCING OLD TABLE AS cdp_old NEW TABLE AS cdp_new FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({})", TRIGGER_NAMES[1], rel.qualified, args),
        format!("CREATE TRIGGER {} AFTER DELETE ON {} REFERENCING OLD TABLE AS cdp_old FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({})", TRIGGER_NAMES[2], rel.qualified, args),
        format!("CREATE TRIGGER {} AFTER TRUNCATE ON {} FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({})", TRIGGER_NAMES[3], rel.qualified, args),
    ];
    for s in stmts {
        client.update(s.as_str(), None, &[])?;
    }
    Ok(())
}

/// Look up a registered source by table; 42704 when it is not registered.
fn source_id_of(client: &SpiClient<'_>, oid: pg_sys::Oid) -> CdpResult<i32> {
    first_one::<i32>(client.select(
        "SELECT source_id FROM cdp.sources WHERE source_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
        Some(1),
        &[oid.into()],
    )?)?
    .ok_or_else(|| {
            let name = client
                .select("SELECT $1::pg_catalog.regclass::text", Some(1), &[oid.into()])
                .ok()
                .and_then(|t| t.first().get_one::<String>().ok().flatten())
                .unwrap_or_else(|| format!("OID {}", oid.to_u32()));
            CdpError::new(Code::ERRCODE_UNDEFINED_OBJECT, format!("{name} is not a registered pg_cdp source"))
                .hint("SELECT source_table FROM cdp.sources lists the registered tables; register one with cdp.add_source")
        })
}

#[pg_extern(volatile, parallel_unsafe)]
fn _drop_source(source_table: pg_sys::Oid) -> bool {
    Spi::connect_mut(|client| -> CdpResult<bool> {
        let source_id = source_id_of(client, source_table)?;
        if let Ok(rel) = Relation::load(client, source_table) {
            for t in TRIGGER_NAMES {
                client.update(format!("DROP TRIGGER IF EXISTS {} ON {}", t, rel.qualified).as_str(), None, &[])?;
            }
        }
        client.update(
            "DELETE FROM cdp.change_queue WHERE source_id OPERATOR(pg_catalog.=) $1",
            None,
            &[source_id.into()],
        )?;
        client.update("DELETE FROM cdp.sources WHERE source_id OPERATOR(pg_catalog.=) $1", None, &[source_id.into()])?;
        Ok(true)
    })
    .or_raise()
}

/// Counts from one sync run (whole source or a batch of keys).
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
    pub quarantined: i64,
    pub records: i64,
    pub seconds: f64,
}

impl SyncStats {
    fn to_json(self) -> Value {
        json!({
            "inserted": self.inserted, "updated": self.updated,
            "unchanged": (self.records - self.inserted - self.updated).max(0),
            "deleted": self.deleted, "quarantined": self.quarantined,
            "records": self.records, "seconds": (self.seconds * 1000.0).round() / 1000.0,
        })
    }
}

/// Build the sync plan of a registered source from its row in cdp.sources and the catalog.
fn plan_for(client: &SpiClient<'_>, source_id: i32) -> CdpResult<(SourcePlan, bool)> {
    let row = client
        .select(
            "SELECT source_table::oid, key_column::text, mapping FROM cdp.sources WHERE source_id OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[source_id.into()],
        )?;
    let row = if row.is_empty() { None } else { Some(row.first().get_three::<pg_sys::Oid, String, JsonB>()) };
    let (oid, key_column, mapping) = match row {
        Some(Ok((Some(o), Some(k), Some(m)))) => (o, k, m.0),
        _ => return Err(CdpError::new(Code::ERRCODE_UNDEFINED_OBJECT, format!("source {source_id} does not exist"))),
    };
    let rel = Relation::load(client, oid)?;
    let key = rel.column(&key_column)?;
    let pairs = parse_mapping(&mapping, &rel)?;
    let mut mapped = Vec::with_capacity(pairs.len());
    for (attr, col) in &pairs {
        mapped.push((*attr, rel.column(col)?.to_sync_column()));
    }
    let plan = SourcePlan { table: rel.qualified.clone(), key: key.to_sync_column(), mapped };
    Ok((plan, key.not_null))
}

/// The one sync path: whole source (`keys` = None) or only the given keys (the worker's batches).
pub fn sync(client: &mut SpiClient<'_>, source_id: i32, keys: Option<Vec<String>>, renormalise: bool) -> CdpResult<SyncStats> {
    let started = Instant::now();
    let (plan, key_not_null) = plan_for(client, source_id)?;
    let mut stats = SyncStats::default();
    let keyed = keys.is_some();
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![source_id.into()];
    if let Some(k) = keys {
        args.push(k.into());
    } else {
        // Queued changes committed before this point are covered by the full read below.
        client.update(
            "DELETE FROM cdp.change_queue WHERE source_id OPERATOR(pg_catalog.=) $1",
            None,
            &[source_id.into()],
        )?;
    }
    stats.updated = client.update(plan.update_sql(keyed, renormalise).as_str(), None, &args)?.len() as i64;
    stats.inserted = client.update(plan.insert_sql(keyed).as_str(), None, &args)?.len() as i64;
    stats.deleted = client.update(plan.delete_sql(keyed).as_str(), None, &args)?.len() as i64;
    if !keyed && !key_not_null {
        let detail = format!("key column {} is NULL", plan.key.ident);
        stats.quarantined = client
            .update(plan.quarantine_null_keys_sql().as_str(), None, &[source_id.into(), detail.into()])?
            .len() as i64;
    }
    stats.records = client
        .select(
            "SELECT pg_catalog.count(*) FROM cdp.records WHERE source_id OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[source_id.into()],
        )?
        .first()
        .get_one::<i64>()?
        .unwrap_or(0);
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[pg_extern(volatile, parallel_unsafe)]
fn _sync_source(source_table: pg_sys::Oid, renormalise: bool) -> i64 {
    Spi::connect_mut(|client| -> CdpResult<i64> {
        let source_id = source_id_of(client, source_table)?;
        let stats = sync(client, source_id, None, renormalise)?;
        client.update(
            "UPDATE cdp.sources SET last_synced_at = pg_catalog.clock_timestamp(), last_sync = $2
              WHERE source_id OPERATOR(pg_catalog.=) $1",
            None,
            &[source_id.into(), JsonB(stats.to_json()).into()],
        )?;
        ereport!(
            NOTICE,
            Code::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "source {}: {} records ({} inserted, {} updated, {} deleted, {} quarantined)",
                source_id, stats.records, stats.inserted, stats.updated, stats.deleted, stats.quarantined
            )
        );
        Ok(stats.records)
    })
    .or_raise()
}

/// Apply queued changes of one source (keys; a NULL key means the whole source, e.g. after
/// TRUNCATE). Called by cdp.process_changes inside its own subtransaction per source.
#[pg_extern(volatile, parallel_unsafe)]
fn _sync_keys(source_id: i32, keys: Vec<Option<String>>) -> JsonB {
    Spi::connect_mut(|client| -> CdpResult<JsonB> {
        let full = keys.iter().any(|k| k.is_none());
        let keys = if full { None } else { Some(keys.into_iter().flatten().collect()) };
        let stats = sync(client, source_id, keys, false)?;
        Ok(JsonB(stats.to_json()))
    })
    .or_raise()
}

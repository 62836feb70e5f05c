//! Registering source tables and syncing their rows into `cdp.records`.
//!
//! The public SQL functions (`cdp.add_source`, `cdp.sync_source`, `cdp.drop_source`) are thin
//! wrappers in `sql/sources.sql` with a fixed search_path; they call the `_`-prefixed functions here.

use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::{quote_identifier, SpiClient};
use pgrx::{JsonB, PgSqlErrorCode as Code};
use serde_json::{json, Map, Value};

use super::first_one;
use crate::error::{CdpError, CdpResult, OrRaise, Kind};
use crate::sync::{Column, MapKey, Rows, SourcePlan};

use super::privilege;

/// A column of a relation, as read from pg_attribute.
struct CatalogColumn {
    name: String,
    attnum: i16,
    not_null: bool,
    /// the column's type with domains looked through: what pg_cdp's statements cast to, so a
    /// domain's constraints (which may call its owner's functions) are never evaluated
    base_type: pg_sys::Oid,
    base_type_name: String,
    /// pg_type.typtype of the base type: b(ase), e(num), c(omposite), r(ange), ...
    base_typtype: String,
    /// pg_type.typcategory of the base type: N(umeric), S(tring), D(ate/time), ...
    base_typcategory: String,
}

/// Key types whose text form no session setting (DateStyle, TimeZone, extra_float_digits,
/// bytea_output, ...) changes and that equal values share: the record of a key is found again
/// by whichever session writes, deletes or syncs it.
pub(crate) const KEY_TYPES: [pg_sys::Oid; 7] = [
    pg_sys::INT2OID,
    pg_sys::INT4OID,
    pg_sys::INT8OID,
    pg_sys::TEXTOID,
    pg_sys::VARCHAROID,
    pg_sys::BPCHAROID,
    pg_sys::UUIDOID,
];

impl CatalogColumn {
    fn to_sync_column(&self) -> Column {
        Column { ident: quote_identifier(&self.name), type_name: self.base_type_name.clone() }
    }

    /// 42804 unless the key's type is one of KEY_TYPES.
    fn check_key_type(&self, table: &str) -> CdpResult<()> {
        if KEY_TYPES.contains(&self.base_type) {
            return Ok(());
        }
        Err(CdpError::new(
            Kind::DatatypeMismatch,
            format!("key column \"{}\" of {} is of type {}, which cannot be a source key", self.name, table, self.base_type_name),
        )
        .hint("a source key must be smallint, integer, bigint, text, varchar, char or uuid (or a domain over one): their text form does not depend on session settings and no user-defined code turns them into text"))
    }

    /// 42804 unless the column's values turn into text by PostgreSQL's own code: a built-in type
    /// or an enum, or a domain over one. A user-defined type's output function or cast is its
    /// owner's code, and a sync must never run that with pg_cdp's rights.
    fn check_mapped_type(&self, table: &str, attr: &str) -> CdpResult<()> {
        if self.base_type.to_u32() < pg_sys::FirstNormalObjectId || self.base_typtype == "e" {
            return Ok(());
        }
        Err(CdpError::new(
            Kind::DatatypeMismatch,
            format!(
                "column \"{}\" of {} (mapped to {}) is of the user-defined type {}",
                self.name, table, attr, self.base_type_name
            ),
        )
        .hint(format!(
            "map a column of a built-in type; e.g. add one: ALTER TABLE {} ADD COLUMN {}_text text GENERATED ALWAYS AS ({}::text) STORED",
            table,
            self.name,
            quote_identifier(&self.name)
        )))
    }
}

/// The relation behind a registered or to-be-registered source.
struct Relation {
    oid: pg_sys::Oid,
    /// quote_ident(schema).quote_ident(name): independent of the caller's search_path
    qualified: String,
    relkind: String,
    relpersistence: String,
    /// the table's owner: the role a sync reads it as
    owner: pg_sys::Oid,
    columns: Vec<CatalogColumn>,
}

/// A table under a source (itself, its partitions and inheritance children, at any depth).
struct Member {
    oid: pg_sys::Oid,
    qualified: String,
    relkind: String,
}

impl Relation {
    fn load(client: &SpiClient<'_>, oid: pg_sys::Oid) -> CdpResult<Relation> {
        let row = client
            .select(
                "SELECT c.relkind::text, c.relpersistence::text,
                        pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname),
                        c.relowner
                   FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE c.oid OPERATOR(pg_catalog.=) $1",
                Some(1),
                &[oid.into()],
            )?;
        let row = if row.is_empty() {
            None
        } else {
            let r = row.first();
            Some((r.get::<String>(1)?, r.get::<String>(2)?, r.get::<String>(3)?, r.get::<pg_sys::Oid>(4)?))
        };
        let (relkind, relpersistence, qualified, owner) = match row {
            Some((Some(k), Some(p), Some(q), Some(o))) => (k, p, q, o),
            _ => {
                return Err(CdpError::new(
                    Kind::UndefinedTable,
                    format!("relation with OID {} does not exist", oid.to_u32()),
                ))
            }
        };
        let mut columns = Vec::new();
        for r in client.select(
            "SELECT a.attname::text, a.attnum, a.attnotnull, a.atttypid
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0
                AND NOT a.attisdropped
              ORDER BY a.attnum",
            None,
            &[oid.into()],
        )? {
            let typ = r.get::<pg_sys::Oid>(4)?.unwrap_or(pg_sys::InvalidOid);
            // SAFETY: a syscache look-up of a type that exists (it is a live column's type)
            let base_type = unsafe { pg_sys::getBaseType(typ) };
            columns.push(CatalogColumn {
                name: r.get::<String>(1)?.unwrap_or_default(),
                attnum: r.get::<i16>(2)?.unwrap_or_default(),
                not_null: r.get::<bool>(3)?.unwrap_or(false),
                base_type,
                base_type_name: String::new(),
                base_typtype: String::new(),
                base_typcategory: String::new(),
            });
        }
        // the base types' names and kinds in one look-up (this runs at every worker batch)
        let bases: Vec<pg_sys::Oid> = columns.iter().map(|c| c.base_type).collect();
        for r in client.select(
            "SELECT t.oid, pg_catalog.format_type(t.oid, NULL), t.typtype::text, t.typcategory::text
               FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) ANY ($1)",
            None,
            &[bases.into()],
        )? {
            let oid = r.get::<pg_sys::Oid>(1)?;
            let (name, typtype) = (r.get::<String>(2)?.unwrap_or_default(), r.get::<String>(3)?.unwrap_or_default());
            let category = r.get::<String>(4)?.unwrap_or_default();
            for c in columns.iter_mut().filter(|c| Some(c.base_type) == oid) {
                c.base_type_name = name.clone();
                c.base_typtype = typtype.clone();
                c.base_typcategory = category.clone();
            }
        }
        Ok(Relation { oid, qualified, relkind, relpersistence, owner, columns })
    }

    fn column_by_attnum(&self, attnum: i16) -> Option<&CatalogColumn> {
        self.columns.iter().find(|c| c.attnum == attnum)
    }

    /// The relation and every table below it (partitions, inheritance children), depth first.
    fn members(&self, client: &SpiClient<'_>) -> CdpResult<Vec<Member>> {
        let mut out = Vec::new();
        for r in client.select(
            "WITH RECURSIVE tree(relid) AS (
                 SELECT $1::pg_catalog.oid
                 UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent OPERATOR(pg_catalog.=) t.relid)
             SELECT c.oid, pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname),
                    c.relkind::text
               FROM tree JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tree.relid
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              ORDER BY c.oid OPERATOR(pg_catalog.<>) $1, c.oid",
            None,
            &[self.oid.into()],
        )? {
            out.push(Member {
                oid: r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
                qualified: r.get::<String>(2)?.unwrap_or_default(),
                relkind: r.get::<String>(3)?.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// 0A000 when a foreign table hangs below the source: reading it would run a foreign-data
    /// wrapper with pg_cdp's rights (and its user mapping).
    fn check_members(&self, members: &[Member]) -> CdpResult<()> {
        if let Some(f) = members.iter().find(|m| m.relkind == "f") {
            return Err(CdpError::new(
                Kind::FeatureNotSupported,
                format!("{} has the foreign table {} below it", self.qualified, f.qualified),
            )
            .hint("a source is read with pg_cdp's rights: register a local table, or detach the foreign partition"));
        }
        Ok(())
    }

    fn column(&self, name: &str) -> CdpResult<&CatalogColumn> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| {
            CdpError::new(
                Kind::UndefinedColumn,
                format!("column \"{}\" of relation {} does not exist", name, self.qualified),
            )
            .hint(format!(
                "columns of {}: {}",
                self.qualified,
                self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// True when a unique, non-partial, single-column index (or primary key) covers `col`;
    /// with `enforced`, only one that is valid and checked at once (not `DEFERRABLE`).
    fn has_unique_index_on(&self, client: &SpiClient<'_>, col: &CatalogColumn, enforced: bool) -> CdpResult<bool> {
        Ok(client
            .select(
                "SELECT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisunique
                      AND i.indpred IS NULL AND i.indexprs IS NULL
                      AND i.indnkeyatts OPERATOR(pg_catalog.=) 1
                      AND i.indkey[0] OPERATOR(pg_catalog.=) $2
                      AND (NOT $3 OR (i.indisvalid AND i.indimmediate)))",
                Some(1),
                &[self.oid.into(), col.attnum.into(), enforced.into()],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false))
    }
}

/// The mapping key `name`, or 22023 with the known keys as hint.
fn map_key_named(name: &str) -> CdpResult<MapKey> {
    MapKey::from_name(name).ok_or_else(|| {
        CdpError::new(Kind::InvalidParameterValue, format!("unknown attribute \"{name}\""))
            .hint(format!("known attributes and consent columns: {}", MapKey::known()))
    })
}

/// Validated mapping: attribute or consent column -> source column name, identity attributes
/// first in `Attr::ALL` order.
fn parse_mapping(mapping: &Value, rel: &Relation) -> CdpResult<Vec<(MapKey, String)>> {
    let known = MapKey::known;
    let obj: &Map<String, Value> = mapping.as_object().ok_or_else(|| {
        CdpError::new(Kind::InvalidParameterValue, "mapping must be a JSON object")
            .hint(r#"map identity attributes to columns, e.g. '{"email":"mail","phone":"gsm"}'"#)
    })?;
    if obj.is_empty() {
        return Err(CdpError::new(Kind::InvalidParameterValue, "mapping is empty")
            .hint(format!("map at least one identity attribute to a column; known attributes and consent columns: {}", known())));
    }
    let mut out = Vec::new();
    for (attr_name, col) in obj {
        let attr = map_key_named(attr_name).map_err(|mut e| {
            e.message.push_str(" in mapping");
            e
        })?;
        let col_name = col.as_str().ok_or_else(|| {
            CdpError::new(
                Kind::InvalidParameterValue,
                format!("mapping for attribute \"{attr_name}\" must be a column name (a JSON string), not {col}"),
            )
        })?;
        rel.column(col_name)?;
        out.push((attr, col_name.to_string()));
    }
    out.sort_by_key(|(a, _)| *a);
    if !out.iter().any(|(k, _)| matches!(k, MapKey::Attr(_))) {
        return Err(CdpError::new(Kind::InvalidParameterValue, "mapping names no identity attribute")
            .hint("consent columns belong to the rows of a source of people: map at least one identity attribute (email, phone, full_name, ...) too"));
    }
    if out.iter().any(|(k, _)| *k == MapKey::Consent(crate::consent::Field::At))
        && !out.iter().any(|(k, _)| matches!(k, MapKey::Consent(crate::consent::Field::OptIn(_))))
    {
        return Err(CdpError::new(Kind::InvalidParameterValue, "mapping names consent_at but no consent answer")
            .hint("consent_at is the time of the row's consent statements: map email_opt_in, sms_opt_in, push_opt_in or profiling_opt_in too"));
    }
    Ok(out)
}

/// The key column named, checked: it exists, is of a key type and has a unique index of its own.
fn checked_key<'a>(client: &SpiClient<'_>, rel: &'a Relation, name: &str) -> CdpResult<&'a CatalogColumn> {
    let key = rel.column(name)?;
    key.check_key_type(&rel.qualified)?;
    if !rel.has_unique_index_on(client, key, false)? {
        return Err(CdpError::new(
            Kind::InvalidColumnReference,
            format!("key column \"{}\" of {} is not unique", name, rel.qualified),
        )
        .hint(format!(
            "give it a primary key or a unique index: CREATE UNIQUE INDEX ON {} ({})",
            rel.qualified,
            quote_identifier(name)
        )));
    }
    Ok(key)
}

/// The mapping given, checked: known attributes, existing columns of types pg_cdp may read.
fn checked_mapping<'a>(mapping: &Value, rel: &'a Relation) -> CdpResult<Vec<(MapKey, &'a CatalogColumn)>> {
    let mut mapped = Vec::new();
    for (attr, col) in parse_mapping(mapping, rel)? {
        let c = rel.column(&col)?;
        c.check_mapped_type(&rel.qualified, attr.name())?;
        mapped.push((attr, c));
    }
    Ok(mapped)
}

fn table_kind_ok(relkind: &str) -> bool {
    matches!(relkind, "r" | "p")
}

/// 42501 unless `role` may read the key and every mapped column of the source, and row-level
/// security hides none of its rows from it. Checked at registration for the registering role,
/// and at every sync again, so a revoked right stops the sync.
fn check_read_rights(
    client: &SpiClient<'_>,
    role: pg_sys::Oid,
    rel: &Relation,
    key: &CatalogColumn,
    mapped: &[(MapKey, &CatalogColumn)],
) -> CdpResult<()> {
    let mut cols: Vec<(i16, &str)> = vec![(key.attnum, key.name.as_str())];
    cols.extend(mapped.iter().map(|(_, c)| (c.attnum, c.name.as_str())));
    privilege::require_column_select(client, role, rel.oid, &rel.qualified, &cols)?;
    privilege::require_whole_table(client, role, rel.oid, &rel.qualified)?;
    // the sync reads the table as its owner (see stage): FORCE ROW LEVEL SECURITY would hide rows
    privilege::require_whole_table(client, rel.owner, rel.oid, &rel.qualified)
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

/// Registers for the calling role: it must be able to read the key and mapped columns (whole,
/// with no row-level security hiding rows from it) and to create triggers on the table. The
/// registration and the triggers are then written with the rights of pg_cdp's owner.
fn add_source(
    client: &mut SpiClient<'_>,
    oid: pg_sys::Oid,
    key_column: &str,
    mapping: &Value,
    channel: Option<&str>,
    priority: i32,
) -> CdpResult<i32> {
    let me = privilege::invoker();
    let rel = Relation::load(client, oid)?;
    if !table_kind_ok(&rel.relkind) {
        return Err(CdpError::new(Kind::WrongObjectType, format!("{} is not a table", rel.qualified))
            .hint("cdp.add_source takes a table or a partitioned table; views, materialized views and foreign tables cannot be captured"));
    }
    if rel.relpersistence == "t" {
        return Err(CdpError::new(
            Kind::FeatureNotSupported,
            format!("{} is a temporary table", rel.qualified),
        )
        .hint("a temporary table ends with its session and no other session (nor the background worker) can read it: register a permanent table"));
    }
    let key = checked_key(client, &rel, key_column)?;
    let mapped = checked_mapping(mapping, &rel)?;
    let members = rel.members(client)?;
    rel.check_members(&members)?;
    check_read_rights(client, me, &rel, key, &mapped)?;
    if !privilege::ask(client, "SELECT pg_catalog.has_table_privilege($1, $2, 'TRIGGER')", &[me.into(), oid.into()])? {
        return Err(CdpError::new(
            Kind::InsufficientPrivilege,
            format!("role {} may not create triggers on {}", privilege::role_name(client, me), rel.qualified),
        )
        .hint(format!("pg_cdp captures changes with triggers: the registering role needs the TRIGGER privilege (GRANT TRIGGER ON {} TO ...) or to own the table", rel.qualified)));
    }
    let existing = first_one::<i32>(client.select(
        "SELECT source_id FROM cdp.sources WHERE source_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
        Some(1),
        &[oid.into()],
    )?)?;
    if let Some(id) = existing {
        return Err(CdpError::new(
            Kind::DuplicateObject,
            format!("{} is already registered as source {}", rel.qualified, id),
        )
        .hint(format!("to change its mapping, channel or priority, call cdp.alter_source('{}', ...)", rel.qualified)));
    }
    let (names, attnums) = mapping_objects(&mapped);
    let owner = privilege::extension_owner(client)?;
    let source_id = privilege::as_role(owner, false, || -> CdpResult<i32> {
        let id = client
            .update(
                "INSERT INTO cdp.sources (source_table, key_column, mapping, channel, priority, registered_by, key_attnum, mapping_attnums)
                 VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6::pg_catalog.regrole, $7, $8) RETURNING source_id",
                Some(1),
                &[
                    oid.into(),
                    key_column.into(),
                    JsonB(names).into(),
                    channel.into(),
                    priority.into(),
                    me.into(),
                    key.attnum.into(),
                    JsonB(attnums).into(),
                ],
            )?
            .first()
            .get_one::<i32>()?
            .ok_or_else(|| CdpError::new(Kind::InternalError, "insert into cdp.sources returned nothing"))?;
        for m in &members {
            create_capture_triggers(client, m, id, key_column)?;
        }
        Ok(id)
    })?;
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

/// The mapping as stored: attribute -> column name (what users read) and attribute -> column
/// number (what pg_cdp follows through renames).
fn mapping_objects(mapped: &[(MapKey, &CatalogColumn)]) -> (Value, Value) {
    let names: Map<String, Value> =
        mapped.iter().map(|(a, c)| (a.name().to_string(), Value::String(c.name.clone()))).collect();
    let nums: Map<String, Value> = mapped.iter().map(|(a, c)| (a.name().to_string(), json!(c.attnum))).collect();
    (Value::Object(names), Value::Object(nums))
}

/// Set while pg_cdp itself changes triggers (its CREATE TRIGGER and ALTER TABLE fire the
/// ddl_command_end event trigger): cdp._recapture leaves that DDL alone.
static OWN_DDL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct OwnDdl;

impl OwnDdl {
    fn begin() -> OwnDdl {
        OWN_DDL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OwnDdl
    }
}

impl Drop for OwnDdl {
    fn drop(&mut self) {
        OWN_DDL.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

const TRIGGER_NAMES: [&str; 4] =
    ["cdp_capture_insert", "cdp_capture_update", "cdp_capture_delete", "cdp_capture_truncate"];

/// Capture triggers on one table of a source (the table itself, or a partition or child below
/// it, so rows written straight into a partition are captured too). The key column is passed by
/// its number in that table. ENABLE ALWAYS: changes applied by logical replication
/// (session_replication_role = replica) are captured as well.
fn create_capture_triggers(client: &mut SpiClient<'_>, table: &Member, source_id: i32, key: &str) -> CdpResult<()> {
    let _own = OwnDdl::begin();
    let attnum = first_one::<i16>(client.select(
        "SELECT a.attnum FROM pg_catalog.pg_attribute a
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) $2 AND NOT a.attisdropped",
        Some(1),
        &[table.oid.into(), key.into()],
    )?)?
    .ok_or_else(|| CdpError::new(Kind::UndefinedColumn, format!("{} has no column \"{}\"", table.qualified, key)))?;
    let args = format!("'{source_id}', '{attnum}'");
    let t = &table.qualified;
    let stmts = [
        format!("CREATE TRIGGER {} AFTER INSERT ON {t} REFERENCING NEW TABLE AS cdp_new FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({args})", TRIGGER_NAMES[0]),
        format!("CREATE TRIGGER {} AFTER UPDATE ON {t} REFERENCING OLD TABLE AS cdp_old NEW TABLE AS cdp_new FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({args})", TRIGGER_NAMES[1]),
        format!("CREATE TRIGGER {} AFTER DELETE ON {t} REFERENCING OLD TABLE AS cdp_old FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({args})", TRIGGER_NAMES[2]),
        format!("CREATE TRIGGER {} AFTER TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION cdp._capture_changes({args})", TRIGGER_NAMES[3]),
    ];
    for s in stmts {
        client.update(s.as_str(), None, &[])?;
    }
    for name in TRIGGER_NAMES {
        client.update(format!("ALTER TABLE {t} ENABLE ALWAYS TRIGGER {name}").as_str(), None, &[])?;
    }
    Ok(())
}

/// Brings a source's capture triggers in line with the tables below it after DDL (a partition
/// created, attached or detached, an inheritance child added or removed; cdp._on_ddl_end calls
/// this as pg_cdp's owner): a new table gets the triggers, a table no longer below the source
/// loses them, and when rows came or went that way a full re-sync is queued. Returns whether
/// anything changed.
#[pg_extern(volatile, parallel_unsafe)]
fn _recapture(source_id: i32) -> bool {
    if OWN_DDL.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        return false;
    }
    Spi::connect_mut(|client| -> CdpResult<bool> {
        let _own = OwnDdl::begin();
        let row = client.select(
            "SELECT source_table::oid, key_column::text FROM cdp.sources WHERE source_id OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[source_id.into()],
        )?;
        if row.is_empty() {
            return Ok(false);
        }
        let (oid, key) = row.first().get_two::<pg_sys::Oid, String>()?;
        let (Some(oid), Some(key)) = (oid, key) else { return Ok(false) };
        let rel = Relation::load(client, oid)?;
        let members = rel.members(client)?;
        let mut captured: Vec<(pg_sys::Oid, String)> = Vec::new();
        for r in client.select(
            "SELECT DISTINCT t.tgrelid, t.tgrelid::pg_catalog.regclass::pg_catalog.text
               FROM pg_catalog.pg_trigger t
              WHERE t.tgfoid OPERATOR(pg_catalog.=) 'cdp._capture_changes()'::pg_catalog.regprocedure
                AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\\000', 1) OPERATOR(pg_catalog.=) $1::pg_catalog.text",
            None,
            &[source_id.into()],
        )? {
            captured.push((r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid), r.get::<String>(2)?.unwrap_or_default()));
        }
        let mut rows_moved = false;
        let mut changed = false;
        for m in members.iter().filter(|m| !captured.iter().any(|(c, _)| *c == m.oid)) {
            if m.relkind == "f" {
                continue; // the next sync refuses the source, naming the foreign table
            }
            create_capture_triggers(client, m, source_id, &key)?;
            changed = true;
            rows_moved |= has_storage(client, m.oid)?;
        }
        for (c, name) in captured.iter().filter(|(c, _)| !members.iter().any(|m| m.oid == *c)) {
            for t in TRIGGER_NAMES {
                client.update(format!("DROP TRIGGER IF EXISTS {} ON {}", t, name).as_str(), None, &[])?;
            }
            changed = true;
            rows_moved |= has_storage(client, *c)?;
        }
        if rows_moved {
            client.update(
                "INSERT INTO cdp.change_queue (source_id, source_key, op) VALUES ($1, NULL, 'a')",
                None,
                &[source_id.into()],
            )?;
            crate::worker_state::wake_worker_at_commit();
        }
        Ok(changed)
    })
    .or_raise()
}

/// Whether a table may hold rows, from its file size: no query on it is planned, so none of its
/// owner's code (index predicates are simplified at plan time) runs with pg_cdp's rights. A
/// table whose rows were all deleted still counts; that costs one needless re-sync.
fn has_storage(client: &SpiClient<'_>, oid: pg_sys::Oid) -> CdpResult<bool> {
    privilege::ask(client, "SELECT pg_catalog.pg_relation_size($1::pg_catalog.regclass) OPERATOR(pg_catalog.>) 0", &[oid.into()])
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
            CdpError::new(Kind::UndefinedObject, format!("{name} is not a registered pg_cdp source"))
                .hint("SELECT source_table FROM cdp.sources lists the registered tables; register one with cdp.add_source")
        })
}

/// Runs as pg_cdp's owner (cdp.drop_source is SECURITY DEFINER): removes the capture triggers
/// from the table and every table below it, then the registration (its records, queued changes
/// and quarantined rows go with it).
#[pg_extern(volatile, parallel_unsafe)]
fn _drop_source(source_table: pg_sys::Oid) -> bool {
    Spi::connect_mut(|client| -> CdpResult<bool> {
        let source_id = source_id_of(client, source_table)?;
        let _own = OwnDdl::begin();
        if let Ok(rel) = Relation::load(client, source_table) {
            for m in rel.members(client)? {
                for t in TRIGGER_NAMES {
                    client.update(format!("DROP TRIGGER IF EXISTS {} ON {}", t, m.qualified).as_str(), None, &[])?;
                }
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

#[pg_extern(volatile, parallel_unsafe)]
fn _alter_source(
    source_table: pg_sys::Oid,
    mapping: Option<JsonB>,
    channel: Option<&str>,
    priority: Option<i32>,
    key_column: Option<&str>,
) -> JsonB {
    Spi::connect_mut(|client| alter_source(client, source_table, mapping.map(|m| m.0), channel, priority, key_column))
        .or_raise()
}

/// Changes a registration in place (records, profile ids and steward decisions stay): channel
/// and priority at once; a new mapping or key column is checked as cdp.add_source checks it,
/// for the calling role and for the registering role, and the source is then re-synced whole
/// (re-normalising every row). The caller must be the registering role, a member of it, or
/// pg_cdp's owner.
fn alter_source(
    client: &mut SpiClient<'_>,
    oid: pg_sys::Oid,
    mapping: Option<Value>,
    channel: Option<&str>,
    priority: Option<i32>,
    key_column: Option<&str>,
) -> CdpResult<JsonB> {
    let me = privilege::invoker();
    let source_id = source_id_of(client, oid)?;
    let registrant = first_one::<pg_sys::Oid>(client.select(
        "SELECT registered_by::oid FROM cdp.sources WHERE source_id OPERATOR(pg_catalog.=) $1",
        Some(1),
        &[source_id.into()],
    )?)?
    .unwrap_or(pg_sys::InvalidOid);
    let owner = privilege::extension_owner(client)?;
    if !privilege::ask(
        client,
        "SELECT pg_catalog.pg_has_role($1, $2, 'USAGE') OR pg_catalog.pg_has_role($1, $3, 'USAGE')",
        &[me.into(), registrant.into(), owner.into()],
    )? {
        return Err(CdpError::new(
            Kind::InsufficientPrivilege,
            format!("source {} was registered by {}", source_id, privilege::role_name(client, registrant)),
        )
        .hint("only the registering role (or a member of it) may change a source"));
    }
    let rel = Relation::load(client, oid)?;
    let reshape = mapping.is_some() || key_column.is_some();
    let mut key_attnum: Option<i16> = None;
    let mut new_mapping: Option<(Value, Value)> = None;
    if let Some(k) = key_column {
        let key = checked_key(client, &rel, k)?;
        privilege::require_column_select(client, me, oid, &rel.qualified, &[(key.attnum, key.name.as_str())])?;
        key_attnum = Some(key.attnum);
    }
    if let Some(m) = &mapping {
        let mapped = checked_mapping(m, &rel)?;
        let cols: Vec<(i16, &str)> = mapped.iter().map(|(_, c)| (c.attnum, c.name.as_str())).collect();
        privilege::require_column_select(client, me, oid, &rel.qualified, &cols)?;
        new_mapping = Some(mapping_objects(&mapped));
    }
    privilege::as_role(owner, false, || -> CdpResult<JsonB> {
        client.update(
            "UPDATE cdp.sources
                SET channel = COALESCE($2, channel), priority = COALESCE($3, priority),
                    key_column = COALESCE($4, key_column), key_attnum = COALESCE($5, key_attnum),
                    mapping = COALESCE($6, mapping), mapping_attnums = COALESCE($7, mapping_attnums)
              WHERE source_id OPERATOR(pg_catalog.=) $1",
            None,
            &[
                source_id.into(),
                channel.into(),
                priority.into(),
                key_column.into(),
                key_attnum.into(),
                new_mapping.as_ref().map(|m| JsonB(m.0.clone())).into(),
                new_mapping.as_ref().map(|m| JsonB(m.1.clone())).into(),
            ],
        )?;
        if let Some(k) = key_column {
            // the triggers carry the key's column number in each table
            for m in rel.members(client)? {
                for t in TRIGGER_NAMES {
                    client.update(format!("DROP TRIGGER IF EXISTS {} ON {}", t, m.qualified).as_str(), None, &[])?;
                }
                create_capture_triggers(client, &m, source_id, k)?;
            }
        }
        let mut out = json!({"source_id": source_id, "resynced": reshape});
        if reshape {
            let stats = sync(client, source_id, None, true)?;
            record_full_sync(client, source_id, stats)?;
            out["sync"] = stats.to_json();
        }
        Ok(JsonB(out))
    })
}

/// Counts from one sync run (whole source or a batch of keys).
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
    pub quarantined: i64,
    /// rows of erased people, left out (`cdp.forget`)
    pub suppressed: i64,
    /// consent statements written (new or changed)
    pub consent: i64,
    pub records: i64,
    pub seconds: f64,
}

impl SyncStats {
    fn to_json(self) -> Value {
        json!({
            "inserted": self.inserted, "updated": self.updated,
            "unchanged": (self.records - self.inserted - self.updated).max(0),
            "deleted": self.deleted, "quarantined": self.quarantined, "suppressed": self.suppressed,
            "consent_changed": self.consent,
            "records": self.records, "seconds": (self.seconds * 1000.0).round() / 1000.0,
        })
    }
}

/// Build the sync plan of a registered source from its row in cdp.sources and the catalog, and
/// check that it may be read now: columns found by number (a renamed column is followed and its
/// new name written back to cdp.sources), types that run no user code, no foreign table below
/// it, and read rights of the registering role on the whole table.
fn plan_for(client: &mut SpiClient<'_>, source_id: i32) -> CdpResult<Planned> {
    let row = client.select(
        "SELECT source_table::oid, registered_by::oid, key_attnum, mapping_attnums, key_column::text, mapping
           FROM cdp.sources WHERE source_id OPERATOR(pg_catalog.=) $1",
        Some(1),
        &[source_id.into()],
    )?;
    if row.is_empty() {
        return Err(CdpError::new(Kind::UndefinedObject, format!("source {source_id} does not exist")));
    }
    let r = row.first();
    let (oid, registrant, key_attnum) = (
        r.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
        r.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid),
        r.get::<i16>(3)?.unwrap_or(0),
    );
    let attnums = r.get::<JsonB>(4)?.map(|j| j.0).unwrap_or(Value::Null);
    let (old_key, old_names) = (r.get::<String>(5)?.unwrap_or_default(), r.get::<JsonB>(6)?.map(|j| j.0).unwrap_or(Value::Null));
    let rel = Relation::load(client, oid)?;
    let key = rel.column_by_attnum(key_attnum).ok_or_else(|| {
        CdpError::new(Kind::UndefinedColumn, format!("the key column of source {} ({}) was dropped", source_id, rel.qualified))
            .hint(format!("give the source a new key with cdp.alter_source('{}', key_column => ...), or unregister it with cdp.drop_source", rel.qualified))
    })?;
    key.check_key_type(&rel.qualified)?;
    let mut mapped: Vec<(MapKey, &CatalogColumn)> = Vec::new();
    for (name, num) in attnums.as_object().into_iter().flatten() {
        let attr = map_key_named(name)?;
        let col = rel.column_by_attnum(num.as_i64().unwrap_or(0) as i16).ok_or_else(|| {
            CdpError::new(
                Kind::UndefinedColumn,
                format!("the column mapped to {} in source {} ({}) was dropped", name, source_id, rel.qualified),
            )
            .hint(format!("map {} to another column with cdp.alter_source('{}', mapping => ...)", name, rel.qualified))
        })?;
        col.check_mapped_type(&rel.qualified, name)?;
        mapped.push((attr, col));
    }
    mapped.sort_by_key(|(a, _)| *a);
    let members = rel.members(client)?;
    rel.check_members(&members)?;
    // A partitioned table's unique index covers its partitions; an inheritance parent's does
    // not cover its children, whose rows the stage reads too.
    let key_unique = (members.len() == 1 || members[0].relkind == "p") && rel.has_unique_index_on(client, key, true)?;
    check_read_rights(client, registrant, &rel, key, &mapped)?;
    let (names, _) = mapping_objects(&mapped);
    if key.name != old_key || names != old_names {
        // a column was renamed: keep what users read in cdp.sources true
        client.update(
            "UPDATE cdp.sources SET key_column = $2, mapping = $3 WHERE source_id OPERATOR(pg_catalog.=) $1",
            None,
            &[source_id.into(), key.name.as_str().into(), JsonB(names).into()],
        )?;
    }
    let (mut attrs, mut consent) = (Vec::new(), Vec::new());
    for (k, c) in &mapped {
        match k {
            MapKey::Attr(a) => attrs.push((*a, c.to_sync_column())),
            MapKey::Consent(f) => consent.push((*f, c.to_sync_column())),
        }
    }
    let plan = SourcePlan { table: rel.qualified.clone(), key: key.to_sync_column(), mapped: attrs, consent };
    Ok(Planned { plan, key_not_null: key.not_null, key_unique, owner: rel.owner })
}

/// A source's sync plan ([`plan_for`]) and what the sync needs to know of its table.
struct Planned {
    plan: SourcePlan,
    key_not_null: bool,
    /// whether an enforced unique index on the key covers every row the stage reads (then no
    /// two staged rows share a key)
    key_unique: bool,
    /// the table's owner, as whom the stage reads it
    owner: pg_sys::Oid,
}

/// The class of the per-source advisory lock every sync takes (with the source id): "cdps".
const SYNC_LOCK_CLASS: i32 = 0x6364_7073;

/// The one sync path: whole source (`keys` = None) or only the given keys (the worker's batches).
/// Runs with the rights of pg_cdp's owner (every caller is SECURITY DEFINER or the worker); the
/// source is read only after `plan_for` checked the registering role's rights, and every value
/// is turned into text by PostgreSQL's own code.
pub fn sync(client: &mut SpiClient<'_>, source_id: i32, keys: Option<Vec<String>>, renormalise: bool) -> CdpResult<SyncStats> {
    let started = Instant::now();
    // One sync of a source at a time, until commit: a whole-source sync must not delete the
    // record of a row that a keyed sync applied after the whole one read the table (its queued
    // key is gone by then), nor a keyed one write over the whole one's view.
    client.update("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)", None, &[SYNC_LOCK_CLASS.into(), source_id.into()])?;
    let Planned { plan, key_not_null, key_unique, owner } = plan_for(client, source_id)?;
    let mut stats = SyncStats::default();
    let keyed = keys.is_some();
    let rows = if keyed { Rows::Keys } else { Rows::All };
    if !keyed {
        // Queued changes committed before this statement are covered by the read of the whole
        // table that follows it (a later snapshot); those committed after the read stay queued.
        // Keys a worker has taken (locked) are left to it: it applies them after this commits
        // (it waits for the lock above), and waiting for them here would be a deadlock.
        client.update(
            "DELETE FROM cdp.change_queue q WHERE q.change_id OPERATOR(pg_catalog.=) ANY (ARRAY(
                 SELECT c.change_id FROM cdp.change_queue c WHERE c.source_id OPERATOR(pg_catalog.=) $1
                    FOR UPDATE SKIP LOCKED))",
            None,
            &[source_id.into()],
        )?;
    }
    stage(client, &plan, owner, rows, keys.as_ref())?;
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![source_id.into()];
    if let Some(k) = keys {
        args.push(k.into());
    }
    stats.updated = client.update(plan.update_sql(renormalise).as_str(), None, &args[..1])?.len() as i64;
    // the rows of erased people do not come back (only while someone has been erased; a
    // database still at a version without erasure, before ALTER EXTENSION UPDATE, has no list)
    let has_list = first_one::<bool>(client.select("SELECT pg_catalog.to_regclass('cdp.suppressions') IS NOT NULL", Some(1), &[])?)?
        .unwrap_or(false);
    let salt = if has_list {
        first_one::<String>(client.select(
            "SELECT e.salt FROM cdp.erasure_salt e WHERE EXISTS (SELECT 1 FROM cdp.suppressions)",
            Some(1),
            &[],
        )?)?
    } else {
        None
    };
    // Under READ COMMITTED each statement's snapshot is taken after the sync lock above, so it
    // sees every record an earlier holder committed; only a transaction snapshot (REPEATABLE
    // READ, SERIALIZABLE) can be older than the lock. And two staged rows can share a key only
    // where no enforced unique index covers all of them (an inheritance child, an index dropped
    // or made DEFERRABLE since registration): then the first is kept, as before.
    let conflicts = !key_unique || unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    stats.inserted = match &salt {
        None => client.update(plan.insert_sql(conflicts).as_str(), None, &args[..1])?.len() as i64,
        Some(s) => {
            let n = client.update(plan.insert_sql_suppressing(conflicts).as_str(), None, &[source_id.into(), s.as_str().into()])?.len() as i64;
            // every staged row with a key has a record now, but the suppressed ones
            stats.suppressed = first_one::<i64>(client.select(
                &format!(
                    "SELECT pg_catalog.count(*) FROM {stage} x WHERE x.source_key IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM cdp.records c WHERE c.source_id OPERATOR(pg_catalog.=) $1
                                          AND c.source_key OPERATOR(pg_catalog.=) x.source_key)",
                    stage = crate::sync::STAGE
                ),
                Some(1),
                &[source_id.into()],
            )?)?
            .unwrap_or(0);
            n
        }
    };
    stats.deleted = client.update(plan.delete_sql(keyed).as_str(), None, &args)?.len() as i64;
    if !plan.consent.is_empty() {
        stats.consent = client.update(plan.consent_sql().as_str(), None, &args[..1])?.len() as i64;
    } else if !keyed
        && has_list
        && first_one::<bool>(client.select("SELECT EXISTS (SELECT 1 FROM cdp.consent_statements)", Some(1), &[])?)?.unwrap_or(false)
    {
        // a mapping that no longer names consent columns (cdp.alter_source) states nothing
        // any more: its earlier statements go (a database before ALTER EXTENSION UPDATE, which
        // has no erasure list, has no statements either)
        stats.consent = client
            .update(
                "DELETE FROM cdp.consent_statements k USING cdp.records r
                  WHERE r.record_id OPERATOR(pg_catalog.=) k.record_id AND r.source_id OPERATOR(pg_catalog.=) $1",
                None,
                &args[..1],
            )?
            .len() as i64;
    }
    // keys that failed before and have now been applied (or whose row is gone) leave quarantine
    if keyed {
        client.update(
            "DELETE FROM cdp.quarantine WHERE source_id OPERATOR(pg_catalog.=) $1 AND source_key OPERATOR(pg_catalog.=) ANY ($2)",
            None,
            &args,
        )?;
    } else {
        client.update(
            "DELETE FROM cdp.quarantine WHERE source_id OPERATOR(pg_catalog.=) $1
                AND reason OPERATOR(pg_catalog.=) ANY (ARRAY['apply_failed', 'resync_failed'])",
            None,
            &[source_id.into()],
        )?;
    }
    if !keyed && !key_not_null {
        stats.quarantined = quarantine_null_keys(client, &plan, source_id)?;
    }
    // the records of the source after a whole sync; after a keyed one (a worker batch), those of
    // the keys synced: counting a whole large source at every batch cost more than the batch
    let count_sql = if keyed {
        "SELECT pg_catalog.count(*) FROM cdp.records
          WHERE source_id OPERATOR(pg_catalog.=) $1 AND source_key OPERATOR(pg_catalog.=) ANY ($2)"
    } else {
        "SELECT pg_catalog.count(*) FROM cdp.records WHERE source_id OPERATOR(pg_catalog.=) $1"
    };
    stats.records = client.select(count_sql, Some(1), &args)?.first().get_one::<i64>()?.unwrap_or(0);
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

fn quarantine_null_keys(client: &mut SpiClient<'_>, plan: &SourcePlan, source_id: i32) -> CdpResult<i64> {
    let detail = format!("key column {} is NULL", plan.key.ident);
    Ok(client.update(plan.quarantine_null_keys_sql().as_str(), None, &[source_id.into(), detail.into()])?.len() as i64)
}

/// The null-key sweep the capture trigger queues when a written row has no key (op 'n').
#[pg_extern(volatile, parallel_unsafe)]
fn _quarantine_null_keys(source_id: i32) -> i64 {
    Spi::connect_mut(|client| -> CdpResult<i64> {
        let Planned { plan, owner, .. } = plan_for(client, source_id)?;
        stage(client, &plan, owner, Rows::NullKeys, None)?;
        quarantine_null_keys(client, &plan, source_id)
    })
    .or_raise()
}

/// Read the source's rows into the session's stage table, as the table's owner and as a
/// security-restricted operation (what PostgreSQL does for ANALYZE and REFRESH MATERIALIZED
/// VIEW): planning and running that read may call code the owner put on the table (index
/// predicates and expressions are simplified at plan time), which must never run with pg_cdp's
/// rights. The registering role's rights were checked by plan_for.
fn stage(client: &mut SpiClient<'_>, plan: &SourcePlan, owner: pg_sys::Oid, rows: Rows, keys: Option<&Vec<String>>) -> CdpResult<()> {
    if !privilege::ask(client, "SELECT pg_catalog.to_regclass('pg_temp.cdp_sync_rows') IS NOT NULL", &[])? {
        client.update("CREATE TEMP TABLE cdp_sync_rows (source_key text, raw text[]) ON COMMIT DELETE ROWS", None, &[])?;
    }
    client.update("TRUNCATE pg_temp.cdp_sync_rows", None, &[])?;
    let sql = plan.stage_sql(rows);
    let args: Vec<pgrx::datum::DatumWithOid> = match keys {
        Some(k) => vec![k.clone().into()],
        None => vec![],
    };
    privilege::write_stage_as(client, owner, "pg_temp.cdp_sync_rows", &sql, &args)?;
    if rows == Rows::All {
        // a whole source: the statements that follow join it with cdp.records
        client.update("ANALYZE pg_temp.cdp_sync_rows", None, &[])?;
    }
    Ok(())
}

fn record_full_sync(client: &mut SpiClient<'_>, source_id: i32, stats: SyncStats) -> CdpResult<()> {
    client.update(
        "UPDATE cdp.sources SET last_synced_at = pg_catalog.clock_timestamp(), last_sync = $2
          WHERE source_id OPERATOR(pg_catalog.=) $1",
        None,
        &[source_id.into(), JsonB(stats.to_json()).into()],
    )?;
    Ok(())
}

#[pg_extern(volatile, parallel_unsafe)]
fn _sync_source(source_table: pg_sys::Oid, renormalise: bool) -> i64 {
    Spi::connect_mut(|client| -> CdpResult<i64> {
        let source_id = source_id_of(client, source_table)?;
        let stats = sync(client, source_id, None, renormalise)?;
        record_full_sync(client, source_id, stats)?;
        ereport!(
            NOTICE,
            Code::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "source {}: {} records ({} inserted, {} updated, {} deleted, {} quarantined{})",
                source_id, stats.records, stats.inserted, stats.updated, stats.deleted, stats.quarantined,
                if stats.suppressed > 0 { format!(", {} rows of erased people left out", stats.suppressed) } else { String::new() }
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

/// What a column named in `cdp.add_transaction_source` or `cdp.add_event_source` must hold.
#[derive(Clone, Copy)]
enum ActivityColumn {
    Amount,
    OccurredAt,
    Currency,
    EventType,
}

impl ActivityColumn {
    /// 42804 unless the column's type (domains looked through) fits its role.
    fn check(self, col: &CatalogColumn, table: &str) -> CdpResult<()> {
        let (fits, role, wanted) = match self {
            ActivityColumn::Amount => (
                [pg_sys::INT2OID, pg_sys::INT4OID, pg_sys::INT8OID, pg_sys::NUMERICOID, pg_sys::FLOAT4OID, pg_sys::FLOAT8OID, pg_sys::MONEYOID]
                    .contains(&col.base_type),
                "amount",
                "a number",
            ),
            ActivityColumn::OccurredAt => (
                [pg_sys::TIMESTAMPTZOID, pg_sys::TIMESTAMPOID, pg_sys::DATEOID].contains(&col.base_type),
                "occurred_at",
                "a timestamp or date",
            ),
            ActivityColumn::Currency => return Ok(()),
            ActivityColumn::EventType => (col.base_typcategory == "S" || col.base_typtype == "e", "event type", "text or an enum"),
        };
        if fits {
            return Ok(());
        }
        Err(CdpError::new(
            Kind::DatatypeMismatch,
            format!("{role} column \"{}\" of {} is {}, not {wanted}", col.name, table, col.base_type_name),
        ))
    }
}

/// The checks of `cdp.add_transaction_source` and `cdp.add_event_source`, made as `add_source`
/// makes its own (same column look-up and hint, same key types, the same column-level rights):
/// a table or view, a registered customer source, the named columns present and of the types
/// their roles need, a customer key of a key type, not registered yet, not temporary; the acting
/// role may read the columns named and, for a table, put capture triggers on it. Returns the
/// customer source's id.
#[pg_extern(stable, parallel_unsafe)]
fn _check_activity_table(
    source_table: pg_sys::Oid,
    customer_source: pg_sys::Oid,
    customer_key_column: &str,
    amount_column: Option<&str>,
    occurred_at_column: &str,
    currency_column: Option<&str>,
    event_type_column: Option<&str>,
) -> i32 {
    Spi::connect(|client| -> CdpResult<i32> {
        let rel = Relation::load(client, source_table)?;
        if !matches!(rel.relkind.as_str(), "r" | "p" | "v" | "m") {
            return Err(CdpError::new(Kind::WrongObjectType, format!("{} is not a table or view", rel.qualified)));
        }
        let csid = source_id_of(client, customer_source).map_err(|e| e.hint("register the customer table first with cdp.add_source"))?;
        if privilege::ask(
            client,
            "SELECT EXISTS (SELECT 1 FROM cdp.transaction_sources t WHERE t.source_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass)
                 OR EXISTS (SELECT 1 FROM cdp.event_sources e WHERE e.source_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass)",
            &[source_table.into()],
        )? {
            return Err(CdpError::new(
                Kind::DuplicateObject,
                format!("{} is already registered as a transaction or event source", rel.qualified),
            ));
        }
        let key = rel.column(customer_key_column)?;
        let mut named: Vec<(i16, &str)> = vec![(key.attnum, key.name.as_str())];
        let roles = [
            (ActivityColumn::Amount, amount_column),
            (ActivityColumn::OccurredAt, Some(occurred_at_column)),
            (ActivityColumn::Currency, currency_column),
            (ActivityColumn::EventType, event_type_column),
        ];
        let mut typed = Vec::new();
        for (role, name) in roles {
            if let Some(name) = name {
                let col = rel.column(name)?;
                typed.push((role, col));
                named.push((col.attnum, col.name.as_str()));
            }
        }
        if !KEY_TYPES.contains(&key.base_type) {
            return Err(CdpError::new(
                Kind::DatatypeMismatch,
                format!("customer key column \"{}\" of {} is of type {}, not an integer, text or uuid", key.name, rel.qualified, key.base_type_name),
            )
            .hint("register a view that casts the key to text"));
        }
        // SAFETY: reads a backend global
        let acting = unsafe { pg_sys::GetOuterUserId() };
        privilege::require_column_select(client, acting, rel.oid, &rel.qualified, &named)?;
        if table_kind_ok(&rel.relkind)
            && !privilege::ask(client, "SELECT pg_catalog.has_table_privilege($1, $2, 'TRIGGER')", &[acting.into(), rel.oid.into()])?
        {
            return Err(CdpError::new(
                Kind::InsufficientPrivilege,
                format!("permission denied to create capture triggers on {}", rel.qualified),
            )
            .hint("the registering role needs the TRIGGER right on the table (its owner has it)"));
        }
        if rel.relpersistence == "t" {
            return Err(CdpError::new(Kind::FeatureNotSupported, format!("{} is a temporary table", rel.qualified))
                .hint("a temporary table ends with its session: register a permanent table or view"));
        }
        for (role, col) in typed {
            role.check(col, &rel.qualified)?;
        }
        Ok(csid)
    })
    .or_raise()
}

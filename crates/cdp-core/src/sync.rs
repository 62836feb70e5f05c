//! The set-based statements that turn a source table's rows into `cdp.records`.
//!
//! Pure string building (no PostgreSQL here), so the shape of every statement is unit-tested.
//! `cdp.sync_source` (whole table) and the worker (a batch of changed keys) run the very same
//! statements; the only difference is the optional key filter.
//!
//! A sync reads the source in one statement of its own, [`SourcePlan::stage_sql`], which the
//! caller runs with the rights of the role that registered the source: planning a query on a
//! table can run code its owner put there (an index predicate or expression is simplified, and
//! an immutable function in it called, at plan time), so the read must never be planned with
//! pg_cdp's rights. The rows go to a session temporary table, [`STAGE`]; the statements that
//! write `cdp.records` read only that table.

use crate::consent;
use crate::normalise::Attr;

/// What a source column can be mapped to: an identity attribute or a consent column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapKey {
    Attr(Attr),
    Consent(consent::Field),
}

impl MapKey {
    pub fn name(self) -> &'static str {
        match self {
            MapKey::Attr(a) => a.name(),
            MapKey::Consent(f) => f.name(),
        }
    }

    pub fn from_name(s: &str) -> Option<MapKey> {
        Attr::from_name(s).map(MapKey::Attr).or_else(|| consent::Field::from_name(s).map(MapKey::Consent))
    }

    /// Every key a mapping may use, comma-separated (for hints).
    pub fn known() -> String {
        let mut names: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
        names.extend(consent::Field::ALL.iter().map(|f| f.name()));
        names.join(", ")
    }
}

/// A source column as the sync statements need it: already-quoted identifier and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// `quote_ident(attname)`
    pub ident: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `text`, `date`, `timestamp with time zone`
    pub type_name: String,
}

/// The session temporary table a sync stages the source's rows in: key as text (NULL for a row
/// without a key) and the raw text of the mapped attributes.
pub const STAGE: &str = "pg_temp.cdp_sync_rows";

/// Which rows of the source a sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// every row, those without a key too (a full sync)
    All,
    /// the rows whose key is in `$1` (text[]; the worker's batches)
    Keys,
    /// the rows without a key (the sweep the capture trigger queues)
    NullKeys,
}

/// Everything needed to build the sync statements of one source.
#[derive(Clone, Debug)]
pub struct SourcePlan {
    /// Schema-qualified, quoted table name (`regclass::text` under a fixed search_path).
    pub table: String,
    pub key: Column,
    /// Mapped attributes, in `Attr::ALL` order.
    pub mapped: Vec<(Attr, Column)>,
    /// Mapped consent columns, in `consent::Field::ALL` order (staged after the attributes,
    /// only when there are any).
    pub consent: Vec<(consent::Field, Column)>,
}

/// SQL expression giving the raw text of a mapped column: PostgreSQL's own output function
/// (mapped columns are of built-in or enum types). The functions that read sources pin DateStyle
/// (ISO), TimeZone (UTC), IntervalStyle and extra_float_digits, so no session setting changes
/// what the normaliser sees; a BC date or one beyond the timestamp range stays a text the date
/// normaliser flags, instead of an error (to_char would fail) or a year read as AD.
fn raw_text_expr(col: &Column) -> String {
    format!("s.{}::pg_catalog.text", col.ident)
}

/// The `original` object of a record from the raw values of its source row (`Attr::ALL` order,
/// NULL where unmapped): attribute name → raw text, NULLs left out. `cdp._normalise_row` returns
/// it as JSON text after the quality flags, and the insert statement casts it: the same value
/// as the `jsonb_strip_nulls(jsonb_build_object(...))` of [`SourcePlan::original_object`],
/// which the update statement compares before normalising, at a third of its cost.
pub fn original_json(raw: &[Option<&str>]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = Attr::ALL
        .iter()
        .zip(raw)
        .filter_map(|(a, v)| v.map(|v| (a.name().to_string(), serde_json::Value::String(v.to_string()))))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// Position (1-based) of the `original` JSON text in `cdp._normalise_row`'s result: after the
/// normalised values and the quality flags.
pub const ORIGINAL_INDEX: usize = Attr::COUNT + 2;

/// `alias.n[1], …, alias.n[15]::…`: the normaliser's output array read back in attribute order,
/// the birth date cast to date.
fn normalised_values(alias: &str) -> Vec<String> {
    Attr::ALL
        .iter()
        .map(|a| {
            let v = format!("{alias}.n[{}]", a.index() + 1);
            if *a == Attr::BirthDate {
                format!("{v}::pg_catalog.date")
            } else {
                v
            }
        })
        .collect()
}

impl SourcePlan {
    fn raw_items(&self) -> Vec<String> {
        let slot = |col: Option<&Column>| match col {
            Some(col) => raw_text_expr(col),
            None => "NULL::pg_catalog.text".to_string(),
        };
        let mut items: Vec<String> =
            Attr::ALL.iter().map(|a| slot(self.mapped.iter().find(|(m, _)| m == a).map(|(_, c)| c))).collect();
        if !self.consent.is_empty() {
            items.extend(consent::Field::ALL.iter().map(|f| slot(self.consent.iter().find(|(m, _)| m == f).map(|(_, c)| c))));
        }
        items
    }

    fn raw_array(&self) -> String {
        format!("ARRAY[{}]", self.raw_items().join(", "))
    }

    fn original_object(&self) -> String {
        let pairs: Vec<String> = self
            .mapped
            .iter()
            .map(|(a, _)| format!("'{}', raw[{}]", a.name(), a.index() + 1))
            .collect();
        format!("pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object({}))", pairs.join(", "))
    }

    /// The one statement that reads the source: its rows into [`STAGE`]. Keys are compared in
    /// the key's own type (`$1::type[]`), so the source's unique index serves the look-up.
    pub fn stage_sql(&self, rows: Rows) -> String {
        let filter = match rows {
            Rows::All => String::new(),
            Rows::Keys => format!(
                "\n WHERE s.{} OPERATOR(pg_catalog.=) ANY ($1::{}[])",
                self.key.ident, self.key.type_name
            ),
            Rows::NullKeys => format!("\n WHERE s.{} IS NULL", self.key.ident),
        };
        format!(
            "INSERT INTO {STAGE} (source_key, raw)\n\
             SELECT s.{key}::pg_catalog.text, {raw}\n\
             \x20 FROM {table} s{filter}",
            key = self.key.ident,
            raw = self.raw_array(),
            table = self.table,
        )
    }

    fn src_cte(&self) -> String {
        format!("WITH src AS (SELECT x.source_key, x.raw FROM {STAGE} x WHERE x.source_key IS NOT NULL)")
    }

    // `OFFSET 0` below keeps PostgreSQL from flattening the subquery that calls
    // cdp._normalise_row: flattened, every `n[i]` would call the function again (16 times a row).

    /// Insert the staged rows that have no record yet. `$1` = source_id. Only these rows are
    /// normalised; the anti-join keeps a re-run cheap.
    ///
    /// `conflicts`: whether a key may already be taken where the anti-join cannot see it. Either
    /// another sync of the source inserted it, invisible to this statement's snapshot (the
    /// caller holds the source's sync lock, so only a transaction snapshot older than the lock
    /// can miss one): `ON CONFLICT DO NOTHING` turns that into PostgreSQL's serialization
    /// failure (40001, retry) instead of a unique violation. Or two staged rows share a key
    /// (no enforced unique index covers every row read): the first is kept. Otherwise a plain
    /// insert spares a look-up in the unique index per row (1.7 s of a 1M-row first sync).
    pub fn insert_sql(&self, conflicts: bool) -> String {
        self.insert_sql_with(false, conflicts)
    }

    /// [`SourcePlan::insert_sql`] that also leaves out the rows of erased people: a row any of
    /// whose identifiers (normalised) is on the suppression list (`cdp.suppressions`, salted
    /// hashes; `$2` = the salt) does not become a record. Used only while the list is not empty.
    pub fn insert_sql_suppressing(&self, conflicts: bool) -> String {
        self.insert_sql_with(true, conflicts)
    }

    fn insert_sql_with(&self, suppressing: bool, conflicts: bool) -> String {
        let suppressed = if suppressing {
            format!(
                "\n WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(cdp._identifier_hashes(x.n[1:{count}], $2)) h(k)\n\
                 \x20                  JOIN cdp.suppressions s ON s.key OPERATOR(pg_catalog.=) h.k)",
                count = Attr::COUNT
            )
        } else {
            String::new()
        };
        let on_conflict = if conflicts { "\nON CONFLICT (source_id, source_key) DO NOTHING" } else { "" };
        let cols: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
        let values = normalised_values("x");
        format!(
            "{src}\n\
             INSERT INTO cdp.records (source_id, source_key, {cols}, original, quality)\n\
             SELECT $1, x.source_key, {values}, x.n[{o}]::pg_catalog.jsonb, x.n[{q}]::pg_catalog.jsonb\n\
             \x20 FROM (SELECT src.source_key, cdp._normalise_row(src.raw) AS n\n\
             \x20         FROM src\n\
             \x20        WHERE NOT EXISTS (SELECT 1 FROM cdp.records c\n\
             \x20                           WHERE c.source_id OPERATOR(pg_catalog.=) $1\n\
             \x20                             AND c.source_key OPERATOR(pg_catalog.=) src.source_key)\n\
             \x20       OFFSET 0) x{suppressed}{on_conflict}",
            src = self.src_cte(),
            cols = cols.join(", "),
            values = values.join(", "),
            o = ORIGINAL_INDEX,
            q = Attr::COUNT + 1,
        )
    }

    /// Re-normalise the records whose staged values changed (or all of them when
    /// `renormalise`, e.g. after changing cdp.default_country). `$1` = source_id. A row whose
    /// mapped values are unchanged is not touched: no dead tuple, same updated_at.
    pub fn update_sql(&self, renormalise: bool) -> String {
        let cols: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
        let values = normalised_values("q");
        // both sides are never NULL (jsonb_strip_nulls of an object), so <> is the whole comparison
        let changed = if renormalise { "true" } else { "r.original OPERATOR(pg_catalog.<>) x.original" };
        format!(
            "{src}\n\
             UPDATE cdp.records r\n\
             \x20  SET ({cols}, original, quality, updated_at, resolve_pending) =\n\
             \x20      (SELECT {values}, x.original, q.n[{q}]::pg_catalog.jsonb, pg_catalog.now(), true\n\
             \x20         FROM (SELECT cdp._normalise_row(x.raw) AS n OFFSET 0) q)\n\
             \x20 FROM (SELECT src.source_key, src.raw, {original} AS original FROM src) x\n\
             \x20WHERE r.source_id OPERATOR(pg_catalog.=) $1\n\
             \x20  AND r.source_key OPERATOR(pg_catalog.=) x.source_key\n\
             \x20  AND {changed}",
            src = self.src_cte(),
            cols = cols.join(", "),
            values = values.join(", "),
            original = self.original_object(),
            q = Attr::COUNT + 1,
            changed = changed,
        )
    }

    /// Remove records whose source row is gone (not among the staged rows). `$1` = source_id,
    /// `$2` = keys (when keyed).
    pub fn delete_sql(&self, keyed: bool) -> String {
        let restrict = if keyed { "\n   AND r.source_key OPERATOR(pg_catalog.=) ANY ($2)" } else { "" };
        format!(
            "DELETE FROM cdp.records r\n\
             \x20WHERE r.source_id OPERATOR(pg_catalog.=) $1{restrict}\n\
             \x20  AND NOT EXISTS (SELECT 1 FROM {STAGE} x\n\
             \x20                   WHERE x.source_key OPERATOR(pg_catalog.=) r.source_key)"
        )
    }

    /// Bring the consent statements of the staged rows' records up to date (only for a source
    /// that maps consent columns). `$1` = source_id. A statement that changed is written (its
    /// time: the source's `consent_at`, or the time of this sync when the answer changed and the
    /// source gives none); a purpose a row no longer states is removed; an unchanged one is not
    /// touched. An answer that can no longer be read keeps the one before it in force (with the
    /// reason recorded): an unreadable withdrawal must not undo a refusal. A time in the future
    /// is no usable time (reason `invalid_consent_time`): the sync's, as for an unreadable one. Records of rows that were left out (erased people) have none.
    pub fn consent_sql(&self) -> String {
        let first = Attr::COUNT + 1;
        let last = Attr::COUNT + consent::Field::COUNT;
        format!(
            "{src},\n\
             rec AS MATERIALIZED (\n\
             \x20 SELECT r.record_id, src.raw[{first}:{last}] AS raw\n\
             \x20   FROM src\n\
             \x20   JOIN cdp.records r ON r.source_id OPERATOR(pg_catalog.=) $1 AND r.source_key OPERATOR(pg_catalog.=) src.source_key),\n\
             st AS (\n\
             \x20 SELECT rec.record_id, c.purpose, c.granted,\n\
             \x20        CASE WHEN t.usable THEN t.at ELSE pg_catalog.now() END AS stated_at,\n\
             \x20        t.usable AS stated_by_source,\n\
             \x20        COALESCE(c.reason, CASE WHEN t.at OPERATOR(pg_catalog.>) pg_catalog.now() THEN 'invalid_consent_time' END) AS reason\n\
             \x20   FROM rec\n\
             \x20  CROSS JOIN LATERAL cdp._consent_statements(rec.raw) c\n\
             \x20  CROSS JOIN LATERAL (SELECT x.at, COALESCE(x.at OPERATOR(pg_catalog.<=) pg_catalog.now(), false) AS usable\n\
             \x20                       FROM (SELECT c.stated_at::pg_catalog.timestamptz AS at) x) t),\n\
             gone AS (\n\
             \x20 DELETE FROM cdp.consent_statements k\n\
             \x20  USING rec\n\
             \x20  WHERE k.record_id OPERATOR(pg_catalog.=) rec.record_id\n\
             \x20    AND NOT EXISTS (SELECT 1 FROM st WHERE st.record_id OPERATOR(pg_catalog.=) k.record_id\n\
             \x20                                       AND st.purpose OPERATOR(pg_catalog.=) k.purpose))\n\
             INSERT INTO cdp.consent_statements AS k (record_id, purpose, granted, stated_at, stated_by_source, reason)\n\
             SELECT st.record_id, st.purpose, st.granted, st.stated_at, st.stated_by_source, st.reason FROM st\n\
             \x20WHERE NOT EXISTS (SELECT 1 FROM cdp.consent_statements o\n\
             \x20                   WHERE o.record_id OPERATOR(pg_catalog.=) st.record_id AND o.purpose OPERATOR(pg_catalog.=) st.purpose\n\
             \x20                     AND (st.granted IS NULL OR o.granted IS NOT DISTINCT FROM st.granted)\n\
             \x20                     AND o.reason IS NOT DISTINCT FROM st.reason\n\
             \x20                     AND (NOT st.stated_by_source OR o.stated_at OPERATOR(pg_catalog.=) st.stated_at))\n\
             ON CONFLICT (record_id, purpose) DO UPDATE\n\
             \x20  SET granted = COALESCE(EXCLUDED.granted, k.granted), reason = EXCLUDED.reason,\n\
             \x20      stated_by_source = CASE WHEN EXCLUDED.granted IS NULL THEN k.stated_by_source ELSE EXCLUDED.stated_by_source END,\n\
             \x20      stated_at = CASE WHEN EXCLUDED.granted IS NULL THEN k.stated_at\n\
             \x20                       WHEN EXCLUDED.stated_by_source OR k.granted IS DISTINCT FROM EXCLUDED.granted\n\
             \x20                       THEN EXCLUDED.stated_at ELSE k.stated_at END",
            src = self.src_cte(),
        )
    }

    /// Keep the staged rows without a key (they cannot become records) in cdp.quarantine, with
    /// their mapped attributes only (never the whole row). Replaces the previous sweep's
    /// null-key entries, so reruns do not pile them up. `$2` = detail text.
    pub fn quarantine_null_keys_sql(&self) -> String {
        format!(
            "WITH gone AS (\n\
             \x20 DELETE FROM cdp.quarantine q\n\
             \x20  WHERE q.source_id OPERATOR(pg_catalog.=) $1 AND q.reason OPERATOR(pg_catalog.=) 'null_key'\n\
             )\n\
             INSERT INTO cdp.quarantine (source_id, source_key, reason, detail, attributes)\n\
             SELECT $1, NULL, 'null_key', $2, {original}\n\
             \x20 FROM (SELECT x.raw FROM {STAGE} x WHERE x.source_key IS NULL) x",
            original = self.original_object(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SourcePlan {
        SourcePlan {
            table: "demo.web_signups".into(),
            key: Column { ident: "signup_id".into(), type_name: "bigint".into() },
            mapped: vec![
                (Attr::Email, Column { ident: "email".into(), type_name: "text".into() }),
                (Attr::BirthDate, Column { ident: "\"Birth Date\"".into(), type_name: "date".into() }),
            ],
            consent: vec![],
        }
    }

    #[test]
    fn consent_columns_are_staged_after_the_attributes_only_when_mapped() {
        let mut p = plan();
        assert_eq!(p.raw_items().len(), Attr::COUNT);
        p.consent = vec![
            (consent::Field::OptIn(consent::Purpose::Sms), Column { ident: "sms_ok".into(), type_name: "boolean".into() }),
            (consent::Field::At, Column { ident: "consent_changed".into(), type_name: "timestamp with time zone".into() }),
        ];
        let items = p.raw_items();
        assert_eq!(items.len(), Attr::COUNT + consent::Field::COUNT);
        assert_eq!(items[Attr::COUNT + 1], "s.sms_ok::pg_catalog.text");
        assert_eq!(items[Attr::COUNT + 4], "s.consent_changed::pg_catalog.text");
        assert_eq!(items[Attr::COUNT], "NULL::pg_catalog.text");
        // consent is not part of the record's original: a changed answer re-matches nothing
        assert!(!p.original_object().contains("raw[17]"));
        let sql = p.consent_sql();
        assert!(sql.contains("src.raw[16:20] AS raw") && sql.contains("cdp._consent_statements(rec.raw)"), "{sql}");
        assert!(sql.contains(STAGE) && !sql.contains("demo.web_signups"), "{sql}");
        assert_eq!(MapKey::from_name("sms_opt_in"), Some(MapKey::Consent(consent::Field::OptIn(consent::Purpose::Sms))));
        assert_eq!(MapKey::from_name("email"), Some(MapKey::Attr(Attr::Email)));
        assert!(MapKey::known().ends_with("profiling_opt_in, consent_at"));
    }

    #[test]
    fn raw_array_has_one_slot_per_attribute_in_order() {
        let p = plan();
        let slots = p.raw_items();
        // (raw_items reads the source's columns: only stage_sql uses them)
        assert_eq!(slots.len(), Attr::COUNT);
        assert_eq!(slots.iter().filter(|s| *s == "NULL::pg_catalog.text").count(), Attr::COUNT - 2);
        assert_eq!(slots[Attr::Email.index()], "s.email::pg_catalog.text");
        // dates too go through their output function (DateStyle is pinned by the callers)
        assert_eq!(slots[Attr::BirthDate.index()], "s.\"Birth Date\"::pg_catalog.text");
    }

    #[test]
    fn only_the_staging_statement_reads_the_source() {
        let p = plan();
        assert!(p.stage_sql(Rows::Keys).contains("s.signup_id OPERATOR(pg_catalog.=) ANY ($1::bigint[])"));
        assert!(p.stage_sql(Rows::NullKeys).ends_with("WHERE s.signup_id IS NULL"));
        assert!(!p.stage_sql(Rows::All).contains("WHERE"));
        for sql in [p.stage_sql(Rows::All), p.stage_sql(Rows::Keys)] {
            assert!(sql.starts_with("INSERT INTO pg_temp.cdp_sync_rows"));
            assert!(sql.contains("FROM demo.web_signups s"));
        }
        // the statements that write cdp.records read the stage, never the source
        for sql in [p.insert_sql(false), p.update_sql(false), p.delete_sql(true), p.delete_sql(false), p.quarantine_null_keys_sql()] {
            assert!(!sql.contains("demo.web_signups"), "{sql}");
            assert!(sql.contains(STAGE), "{sql}");
        }
        assert!(p.delete_sql(true).contains("ANY ($2)"));
        assert!(!p.delete_sql(false).contains("$2"));
    }

    #[test]
    fn original_json_holds_the_values_given() {
        let mut raw: Vec<Option<&str>> = vec![None; Attr::COUNT];
        raw[Attr::Email.index()] = Some("A@B.com ");
        raw[Attr::FullName.index()] = Some("Ayşe \"Kaya\"\n");
        let v: serde_json::Value = serde_json::from_str(&original_json(&raw)).unwrap();
        assert_eq!(v, serde_json::json!({"email": "A@B.com ", "full_name": "Ayşe \"Kaya\"\n"}));
        assert_eq!(original_json(&vec![None; Attr::COUNT]), "{}");
        // the insert reads it where _normalise_row puts it
        assert!(plan().insert_sql(false).contains(&format!("x.n[{ORIGINAL_INDEX}]::pg_catalog.jsonb")));
    }

    #[test]
    fn original_keeps_only_mapped_attributes() {
        let o = plan().original_object();
        assert!(o.contains("'email', raw[4]"));
        assert!(o.contains("'birth_date', raw[6]"));
        assert!(!o.contains("first_name"));
    }

    #[test]
    fn update_skips_unchanged_rows_unless_renormalising() {
        let p = plan();
        assert!(p.update_sql(false).contains("r.original OPERATOR(pg_catalog.<>) x.original"));
        assert!(!p.update_sql(true).contains("OPERATOR(pg_catalog.<>) x.original"));
        for sql in [p.update_sql(false), p.insert_sql(false)] {
            assert!(sql.contains(&format!("n[{}]::pg_catalog.jsonb", Attr::COUNT + 1)));
            assert!(sql.contains("n[6]::pg_catalog.date"));
        }
        assert!(p.insert_sql(false).contains("NOT EXISTS"));
        // ON CONFLICT only where the caller's snapshot may not see another sync's rows
        assert!(!p.insert_sql(false).contains("ON CONFLICT"));
        assert!(p.insert_sql(true).ends_with("ON CONFLICT (source_id, source_key) DO NOTHING"));
        assert!(p.insert_sql_suppressing(true).ends_with("ON CONFLICT (source_id, source_key) DO NOTHING"));
        // the normaliser is called once per row, not once per n[i]
        assert!(p.insert_sql(false).contains("OFFSET 0) x"));
        assert!(p.update_sql(false).contains("AS n OFFSET 0) q"));
    }
}

//! The set-based statements that turn a source table's rows into `cdp.records`.
//!
//! Pure string building (no PostgreSQL here), so the shape of every statement is unit-tested.
//! `cdp.sync_source` (whole table) and the worker (a batch of changed keys) run the very same
//! statements; the only difference is the optional key filter `$2`.

use crate::normalise::Attr;

/// A source column as the sync statements need it: already-quoted identifier and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// `quote_ident(attname)`
    pub ident: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `text`, `date`, `timestamp with time zone`
    pub type_name: String,
}

/// Everything needed to build the sync statements of one source.
#[derive(Clone, Debug)]
pub struct SourcePlan {
    /// Schema-qualified, quoted table name (`regclass::text` under a fixed search_path).
    pub table: String,
    pub key: Column,
    /// Mapped attributes, in `Attr::ALL` order.
    pub mapped: Vec<(Attr, Column)>,
}

/// SQL expression giving the raw text of a mapped column: PostgreSQL's own output function
/// (mapped columns are of built-in or enum types). The functions that read sources pin DateStyle
/// (ISO), TimeZone (UTC), IntervalStyle and extra_float_digits, so no session setting changes
/// what the normaliser sees; a BC date or one beyond the timestamp range stays a text the date
/// normaliser flags, instead of an error (to_char would fail) or a year read as AD.
fn raw_text_expr(col: &Column) -> String {
    format!("s.{}::text", col.ident)
}

/// `alias.n[1], …, alias.n[15]::…`: the normaliser's output array read back in attribute order,
/// the birth date cast to date.
fn normalised_values(alias: &str) -> Vec<String> {
    Attr::ALL
        .iter()
        .map(|a| {
            let v = format!("{alias}.n[{}]", a.index() + 1);
            if *a == Attr::BirthDate {
                format!("{v}::date")
            } else {
                v
            }
        })
        .collect()
}

impl SourcePlan {
    fn raw_items(&self) -> Vec<String> {
        Attr::ALL
            .iter()
            .map(|a| match self.mapped.iter().find(|(m, _)| m == a) {
                Some((_, col)) => raw_text_expr(col),
                None => "NULL::text".to_string(),
            })
            .collect()
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

    /// Filter on the source's key: all rows, or only the keys in `$2` (text[]), compared in the
    /// key's own type so the source's unique index serves the look-up.
    fn key_filter(&self, keyed: bool) -> String {
        let mut f = format!("s.{} IS NOT NULL", self.key.ident);
        if keyed {
            f.push_str(&format!(
                " AND s.{} OPERATOR(pg_catalog.=) ANY ($2::{}[])",
                self.key.ident, self.key.type_name
            ));
        }
        f
    }

    fn src_cte(&self, keyed: bool) -> String {
        format!(
            "WITH src AS (\n\
             \x20 SELECT s.{key}::text AS source_key, {raw} AS raw\n\
             \x20   FROM {table} s\n\
             \x20  WHERE {filter}\n\
             )",
            key = self.key.ident,
            raw = self.raw_array(),
            table = self.table,
            filter = self.key_filter(keyed),
        )
    }

    // `OFFSET 0` below keeps PostgreSQL from flattening the subquery that calls
    // cdp._normalise_row: flattened, every `n[i]` would call the function again (16 times a row).

    /// Insert the source rows that have no record yet. `$1` = source_id, `$2` = keys (when
    /// keyed). Only these rows are normalised; the anti-join keeps a re-run cheap.
    /// ON CONFLICT covers a concurrent sync or worker batch inserting the same key first.
    pub fn insert_sql(&self, keyed: bool) -> String {
        let cols: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
        let values = normalised_values("x");
        format!(
            "{src}\n\
             INSERT INTO cdp.records (source_id, source_key, {cols}, original, quality)\n\
             SELECT $1, x.source_key, {values}, x.original, x.n[{q}]::jsonb\n\
             \x20 FROM (SELECT src.source_key, {original} AS original, cdp._normalise_row(src.raw) AS n\n\
             \x20         FROM src\n\
             \x20        WHERE NOT EXISTS (SELECT 1 FROM cdp.records c\n\
             \x20                           WHERE c.source_id OPERATOR(pg_catalog.=) $1\n\
             \x20                             AND c.source_key OPERATOR(pg_catalog.=) src.source_key)\n\
             \x20       OFFSET 0) x\n\
             ON CONFLICT (source_id, source_key) DO NOTHING",
            src = self.src_cte(keyed),
            cols = cols.join(", "),
            values = values.join(", "),
            original = self.original_object(),
            q = Attr::COUNT + 1,
        )
    }

    /// Re-normalise the records whose source values changed (or all of them when
    /// `renormalise`, e.g. after changing cdp.default_country). `$1` = source_id, `$2` = keys.
    /// A row whose mapped values are unchanged is not touched: no dead tuple, same updated_at.
    pub fn update_sql(&self, keyed: bool, renormalise: bool) -> String {
        let cols: Vec<&str> = Attr::ALL.iter().map(|a| a.name()).collect();
        let values = normalised_values("q");
        let changed = if renormalise { "true" } else { "r.original IS DISTINCT FROM x.original" };
        format!(
            "{src}\n\
             UPDATE cdp.records r\n\
             \x20  SET ({cols}, original, quality, updated_at, resolve_pending) =\n\
             \x20      (SELECT {values}, x.original, q.n[{q}]::jsonb, pg_catalog.now(), true\n\
             \x20         FROM (SELECT cdp._normalise_row(x.raw) AS n OFFSET 0) q)\n\
             \x20 FROM (SELECT src.source_key, src.raw, {original} AS original FROM src) x\n\
             \x20WHERE r.source_id OPERATOR(pg_catalog.=) $1\n\
             \x20  AND r.source_key OPERATOR(pg_catalog.=) x.source_key\n\
             \x20  AND {changed}",
            src = self.src_cte(keyed),
            cols = cols.join(", "),
            values = values.join(", "),
            original = self.original_object(),
            q = Attr::COUNT + 1,
            changed = changed,
        )
    }

    /// Remove records whose source row is gone. `$1` = source_id, `$2` = keys (when keyed).
    pub fn delete_sql(&self, keyed: bool) -> String {
        let restrict = if keyed { "\n   AND r.source_key OPERATOR(pg_catalog.=) ANY ($2)" } else { "" };
        format!(
            "DELETE FROM cdp.records r\n\
             \x20WHERE r.source_id OPERATOR(pg_catalog.=) $1{restrict}\n\
             \x20  AND NOT EXISTS (SELECT 1 FROM {table} s\n\
             \x20                   WHERE s.{key} OPERATOR(pg_catalog.=) r.source_key::{ktype})",
            table = self.table,
            key = self.key.ident,
            ktype = self.key.type_name,
        )
    }

    /// Keep source rows with a NULL key (they cannot become records) in cdp.quarantine, with
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
             \x20 FROM (SELECT {raw} AS raw FROM {table} s WHERE s.{key} IS NULL) x",
            original = self.original_object(),
            raw = self.raw_array(),
            table = self.table,
            key = self.key.ident,
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
        }
    }

    #[test]
    fn raw_array_has_one_slot_per_attribute_in_order() {
        let p = plan();
        let slots = p.raw_items();
        assert_eq!(slots.len(), Attr::COUNT);
        assert_eq!(slots.iter().filter(|s| *s == "NULL::text").count(), Attr::COUNT - 2);
        assert_eq!(slots[Attr::Email.index()], "s.email::text");
        // dates too go through their output function (DateStyle is pinned by the callers)
        assert_eq!(slots[Attr::BirthDate.index()], "s.\"Birth Date\"::text");
    }

    #[test]
    fn keyed_statements_filter_on_the_key_in_its_own_type() {
        let p = plan();
        assert!(p.insert_sql(true).contains("s.signup_id OPERATOR(pg_catalog.=) ANY ($2::bigint[])"));
        assert!(p.update_sql(true, false).contains("s.signup_id OPERATOR(pg_catalog.=) ANY ($2::bigint[])"));
        assert!(!p.insert_sql(false).contains("$2"));
        assert!(!p.update_sql(false, false).contains("$2"));
        assert!(p.delete_sql(true).contains("ANY ($2)"));
        assert!(p.delete_sql(false).contains("r.source_key::bigint"));
        assert!(!p.delete_sql(false).contains("$2"));
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
        assert!(p.update_sql(false, false).contains("r.original IS DISTINCT FROM x.original"));
        assert!(!p.update_sql(false, true).contains("IS DISTINCT FROM"));
        for sql in [p.update_sql(false, false), p.insert_sql(false)] {
            assert!(sql.contains(&format!("n[{}]::jsonb", Attr::COUNT + 1)));
            assert!(sql.contains("n[6]::date"));
        }
        assert!(p.insert_sql(false).contains("NOT EXISTS"));
        // the normaliser is called once per row, not once per n[i]
        assert!(p.insert_sql(false).contains("OFFSET 0) x"));
        assert!(p.update_sql(false, false).contains("AS n OFFSET 0) q"));
    }
}

//! Segment rules: what a rule may name, and the one query that finds a rule's members.
//!
//! Pure string building (no PostgreSQL here). A rule is an analyst's boolean expression over one
//! row per profile: the columns of `cdp.customer_360` and every trait by its name. Rules are
//! evaluated over `cdp.profile_facts`, that row kept as a table: the columns below, and every
//! trait at its slot in one array (`cdp.trait_slots`), so a rule is one scan of one table with no
//! join. The table is brought up to date for the profiles whose golden record, RFM, lifetime value
//! or traits changed before any rule is evaluated (`cdp._refresh_facts`), by the statement
//! [`facts_sql`] builds.

use crate::expr::{check_expression, ExprError, ExprSpec};

/// The columns of `cdp.customer_360` a rule may name, with the SQL each is read from.
pub const BASE_COLUMNS: [(&str, &str); 28] = [
    ("profile_id", "p.profile_id"),
    ("name", "p.display OPERATOR(pg_catalog.->>) 'full_name'"),
    ("email", "p.email"),
    ("phone", "p.phone"),
    ("birth_date", "p.birth_date"),
    ("city", "p.city"),
    ("country", "p.country"),
    ("record_count", "p.record_count"),
    ("source_count", "p.source_count"),
    ("recency_days", "r.recency_days"),
    ("frequency", "r.frequency"),
    ("monetary_total", "r.monetary_total"),
    ("r_score", "r.r_score"),
    ("f_score", "r.f_score"),
    ("m_score", "r.m_score"),
    ("rfm_cell", "r.rfm_cell"),
    ("segment", "r.segment"),
    ("orders", "c.orders"),
    ("historical_value", "c.historical_value"),
    ("p_alive", "c.p_alive"),
    ("expected_purchases", "c.expected_purchases"),
    ("predicted_clv", "c.predicted_clv"),
    ("created_at", "p.created_at"),
    ("updated_at", "p.updated_at"),
    // the consent in force (`cdp.profile_consent`; NULL: nothing stated)
    ("email_opt_in", "k.email_opt_in"),
    ("sms_opt_in", "k.sms_opt_in"),
    ("push_opt_in", "k.push_opt_in"),
    ("profiling_opt_in", "k.profiling_opt_in"),
];

/// What `now()` in a rule is when the rule is evaluated now: the transaction time moved by
/// `cdp.clock_offset` (zero unless a test or a what-if sets it), so rules that depend on time can
/// be tested without waiting. Joined as a one-row subquery kept apart (OFFSET 0), so it is
/// computed once per query: the function has a fixed search_path, which keeps it from being
/// inlined, and called per row it costs a second per million rows. (A scalar subquery in the
/// select list would do the same but keeps the planner from removing the joins to cdp.rfm and
/// cdp.clv when the rule reads neither.)
pub const CLOCK: &str = "(SELECT cdp._clock() AS at OFFSET 0)";

/// How a checked rule reads the clock: a column of the row it is evaluated on, so the same rule
/// can be evaluated at another time per profile (a probe, see `Scope::Probe`). Its name cannot be
/// a column's or a trait's (those are lowercase).
const CLOCK_COLUMN: &str = "x.\"@clock\"";

/// Traits that move with the clock: computed when the rule is evaluated, from the stored trait
/// they are measured from, so `days_since_last_order > 30` becomes true 30 days after the last
/// order, not at the next `cdp.compute_traits`.
pub const CLOCK_TRAITS: [(&str, &str); 2] = [("days_since_last_order", "last_seen"), ("tenure_days", "first_seen")];

/// Whether a checked rule reads the clock: its members can change with nothing but time.
pub fn reads_clock(rule: &Rule) -> bool {
    rule.reads_clock
}

/// Which profiles a member query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// every profile, now
    All,
    /// the profiles in `$1` (bigint[]), now: the worker's incremental evaluation
    Ids,
    /// each profile of `pg_temp.cdp_probe (profile_id, at)` at its own time `at`: when a rule that
    /// reads the clock will change its mind
    Probe,
}

/// A trait a rule may name: numeric (`cdp.profile_traits.value`) or text (`text_value`), and
/// its slot in the trait arrays of `cdp.profile_facts` (`None`: no slot yet, so no value either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraitColumn {
    pub name: String,
    pub text: bool,
    pub slot: Option<i32>,
}

/// A trait that moves with the clock is read from the slot of the stored trait it is measured
/// from (`days_since_last_order` from `last_seen`).
pub fn with_clock_slots(mut traits: Vec<TraitColumn>) -> Vec<TraitColumn> {
    for (clocked, from) in CLOCK_TRAITS {
        let slot = traits.iter().find(|t| t.name == from).and_then(|t| t.slot);
        if let Some(t) = traits.iter_mut().find(|t| t.name == clocked) {
            t.slot = slot;
        }
    }
    traits
}

/// The largest slot a trait array may have: slots are handed out one per trait name, so this is
/// far beyond any real number of traits and keeps a corrupt slot from allocating gigabytes.
pub const MAX_SLOT: i32 = 100_000;

/// Values placed at their slots (1-based), NULL where a slot has no value: the trait array of
/// one profile, from (slot, value) pairs. A slot outside 1..=MAX_SLOT or without a value is left
/// out.
pub fn place_in_slots<T>(pairs: impl IntoIterator<Item = (Option<i32>, Option<T>)>) -> Vec<Option<T>> {
    let placed: Vec<(usize, T)> = pairs
        .into_iter()
        .filter_map(|(s, v)| match (s, v) {
            (Some(s), Some(v)) if (1..=MAX_SLOT).contains(&s) => Some((s as usize, v)),
            _ => None,
        })
        .collect();
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(placed.iter().map(|(s, _)| *s).max().unwrap_or(0)).collect();
    for (s, v) in placed {
        out[s - 1] = Some(v);
    }
    out
}

/// The statements that write `cdp.profile_facts`, all from one select list (the columns above
/// from the profile tables, the trait arrays from `cdp.profile_traits` by slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsSql {
    /// `CREATE TABLE cdp.profile_facts AS ... WITH NO DATA`: the table's columns and types
    Create,
    /// the rows of every profile
    All,
    /// the rows of the profiles in `$1` (bigint[])
    Ids,
}

pub fn facts_sql(which: FactsSql) -> String {
    let names: Vec<String> = BASE_COLUMNS.iter().map(|(c, _)| quote_ident(c)).collect();
    let cols: Vec<String> = BASE_COLUMNS.iter().map(|(c, e)| format!("{e} AS {}", quote_ident(c))).collect();
    let (p_filter, t_filter, k_filter) = match which {
        FactsSql::Ids => (
            "\n WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1)",
            "\n              WHERE v.profile_id OPERATOR(pg_catalog.=) ANY ($1)",
            " WHERE k.profile_id OPERATOR(pg_catalog.=) ANY ($1)",
        ),
        _ => ("", "", ""),
    };
    let select = format!(
        "SELECT {cols},\n       t.traits, t.text_traits\n\
         \x20 FROM cdp.profiles p\n\
         \x20 LEFT JOIN cdp.rfm r ON r.profile_id OPERATOR(pg_catalog.=) p.profile_id\n\
         \x20 LEFT JOIN cdp.clv c ON c.profile_id OPERATOR(pg_catalog.=) p.profile_id\n\
         \x20 LEFT JOIN (SELECT k.* FROM cdp.profile_consent k{k_filter}) k ON k.profile_id OPERATOR(pg_catalog.=) p.profile_id\n\
         \x20 LEFT JOIN (SELECT v.profile_id,\n\
         \x20                   cdp._slot_values(pg_catalog.array_agg(s.slot) FILTER (WHERE NOT s.is_text AND v.value IS NOT NULL),\n\
         \x20                                    pg_catalog.array_agg(v.value) FILTER (WHERE NOT s.is_text AND v.value IS NOT NULL)) AS traits,\n\
         \x20                   cdp._slot_texts(pg_catalog.array_agg(s.slot) FILTER (WHERE s.is_text AND v.text_value IS NOT NULL),\n\
         \x20                                   pg_catalog.array_agg(v.text_value) FILTER (WHERE s.is_text AND v.text_value IS NOT NULL)) AS text_traits\n\
         \x20              FROM cdp.profile_traits v JOIN cdp.trait_slots s ON s.trait OPERATOR(pg_catalog.=) v.trait{t_filter}\n\
         \x20             GROUP BY v.profile_id) t ON t.profile_id OPERATOR(pg_catalog.=) p.profile_id{p_filter}",
        cols = cols.join(",\n       "),
    );
    match which {
        FactsSql::Create => format!("CREATE TABLE cdp.profile_facts AS\n{select}\nWITH NO DATA"),
        _ => format!("INSERT INTO cdp.profile_facts ({}, traits, text_traits)\n{select}", names.join(", ")),
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A checked rule: the expression as it runs and the traits it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub checked: String,
    pub traits: Vec<TraitColumn>,
    /// it calls now(): its members can change with nothing but time
    pub reads_clock: bool,
}

/// Check a rule against the columns and traits it may name (a trait whose name is also a column
/// of the view is read as the column). Errors as the expression checker gives them: 42601,
/// 42703 with the names in the hint, 42501 outside the allowed subset (no aggregates in a rule).
pub fn check_rule(rule: &str, traits: &[TraitColumn]) -> Result<Rule, ExprError> {
    let usable: Vec<&TraitColumn> =
        traits.iter().filter(|t| !BASE_COLUMNS.iter().any(|(c, _)| *c == t.name)).collect();
    let mut names: Vec<&str> = BASE_COLUMNS.iter().map(|(c, _)| *c).collect();
    names.extend(usable.iter().map(|t| t.name.as_str()));
    let spec = ExprSpec { columns: &names, qualifier: "x", allow_aggregates: false, clock: Some(CLOCK_COLUMN) };
    let checked = check_expression(rule, &spec)?;
    let read: Vec<TraitColumn> = usable
        .into_iter()
        .filter(|t| checked.contains(&format!("x.{}", quote_ident(&t.name))))
        .cloned()
        .collect();
    // the clock is told apart by emitting the rule once more with the plain now(): only a call
    // of now() (never a literal that spells it) makes the two differ
    let reads_clock = check_expression(rule, &ExprSpec { clock: None, ..spec })? != checked
        || read.iter().any(|t| CLOCK_TRAITS.iter().any(|(c, _)| *c == t.name));
    Ok(Rule { checked, traits: read, reads_clock })
}

/// The columns of the row a rule reads, from `cdp.profile_facts f` at the time `clock`: every
/// base column, the clock itself and each trait the rule names from its slot.
fn row_columns(rule: &Rule, clock: &str) -> String {
    let mut cols: Vec<String> = BASE_COLUMNS.iter().map(|(c, _)| format!("f.{0} AS {0}", quote_ident(c))).collect();
    cols.push(format!("{clock} AS {}", &CLOCK_COLUMN[2..]));
    for t in &rule.traits {
        let stored = match t.slot {
            Some(slot) => format!("f.{}[{slot}]", if t.text { "text_traits" } else { "traits" }),
            None => format!("NULL::{}", if t.text { "text" } else { "double precision" }),
        };
        let value = if CLOCK_TRAITS.iter().any(|(c, _)| *c == t.name) {
            format!("(pg_catalog.date_part('epoch', {clock}) OPERATOR(pg_catalog.-) {stored}) OPERATOR(pg_catalog./) 86400")
        } else {
            stored
        };
        cols.push(format!("{value} AS {}", quote_ident(&t.name)));
    }
    cols.join(",\n       ")
}

const IDS_FILTER: &str = "f.profile_id OPERATOR(pg_catalog.=) ANY ($1)";

/// The profiles for which the rule holds, one `profile_id` per row, among those `scope` names:
/// one scan of `cdp.profile_facts`, each trait the rule names read from its slot.
pub fn member_query(rule: &Rule, scope: Scope) -> String {
    let now = format!("\n  CROSS JOIN {CLOCK} q");
    let (from, filter) = match scope {
        Scope::All => (now, String::new()),
        Scope::Ids => (now, format!("\n WHERE {IDS_FILTER}")),
        Scope::Probe => ("\n  JOIN pg_temp.cdp_probe q ON q.profile_id OPERATOR(pg_catalog.=) f.profile_id".to_string(), String::new()),
    };
    format!(
        "SELECT x.profile_id FROM (\n\
         SELECT {cols}\n\
         \x20 FROM cdp.profile_facts f{from}{filter}\n\
         ) x\n\
         WHERE ({rule})",
        cols = row_columns(rule, "q.at"),
        rule = rule.checked,
    )
}

/// The rule at two times in one scan, for a rule that reads the clock: `(profile_id, now_in,
/// later_in)` for every profile (`Scope::All`) or those in `$1` (`Scope::Ids`) for which it
/// holds now or at `later` (an SQL expression of type timestamptz, the end of the due-time
/// horizon). The profiles whose two answers differ are those whose membership changes within
/// the horizon.
pub fn two_clock_query(rule: &Rule, scope: Scope, later: &str) -> String {
    let filter = if scope == Scope::Ids { format!(" AND {IDS_FILTER}") } else { String::new() };
    format!(
        "SELECT f.profile_id, COALESCE(n.hit, false) AS now_in, COALESCE(l.hit, false) AS later_in\n\
         \x20 FROM cdp.profile_facts f\n\
         \x20 CROSS JOIN {CLOCK} q\n\
         \x20 CROSS JOIN LATERAL (SELECT ({rule}) AS hit FROM (\n\
         SELECT {now_cols}\n\
         ) x) n\n\
         \x20 CROSS JOIN LATERAL (SELECT ({rule}) AS hit FROM (\n\
         SELECT {later_cols}\n\
         ) x) l\n\
         WHERE (n.hit OR l.hit){filter}",
        rule = rule.checked,
        now_cols = row_columns(rule, "q.at"),
        later_cols = row_columns(rule, later),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ExprErrorKind;

    fn traits() -> Vec<TraitColumn> {
        with_clock_slots(vec![
            TraitColumn { name: "days_since_last_order".into(), text: false, slot: None },
            TraitColumn { name: "last_seen".into(), text: false, slot: Some(2) },
            TraitColumn { name: "preferred_channel".into(), text: true, slot: Some(3) },
            TraitColumn { name: "orders".into(), text: false, slot: Some(4) },
            TraitColumn { name: "cart_adds_1h".into(), text: false, slot: Some(7) },
            TraitColumn { name: "just_defined".into(), text: false, slot: None },
        ])
    }

    #[test]
    fn a_rule_reads_only_the_traits_it_names_from_their_slots() {
        let r = check_rule("cart_adds_1h > 0 AND segment = 'At Risk'", &traits()).unwrap();
        assert_eq!(r.traits, vec![TraitColumn { name: "cart_adds_1h".into(), text: false, slot: Some(7) }]);
        assert!(!reads_clock(&r));
        let q = member_query(&r, Scope::All);
        assert!(q.contains("f.traits[7] AS \"cart_adds_1h\""), "{q}");
        assert_eq!(q.matches("traits[").count(), 1, "{q}");
        assert!(q.contains("FROM cdp.profile_facts f") && !q.contains("JOIN cdp."), "one table, no join: {q}");
        assert!(!q.contains("$1"));
        assert!(q.ends_with("WHERE (x.\"cart_adds_1h\" > 0 AND x.\"segment\" = 'At Risk')"));
    }

    #[test]
    fn text_traits_read_the_text_array_and_columns_win_over_traits_of_the_same_name() {
        let r = check_rule("preferred_channel = 'web' AND orders >= 2", &traits()).unwrap();
        assert_eq!(r.traits.len(), 1);
        let q = member_query(&r, Scope::Ids);
        assert!(q.contains("f.text_traits[3] AS \"preferred_channel\""), "{q}");
        // orders is the view's column, not the trait in slot 4
        assert!(q.contains("f.\"orders\" AS \"orders\""), "{q}");
        assert!(!q.contains("[4]"), "{q}");
        assert!(q.contains("f.profile_id OPERATOR(pg_catalog.=) ANY ($1)"));
    }

    #[test]
    fn a_trait_without_a_slot_has_no_value_yet() {
        let r = check_rule("just_defined > 0", &traits()).unwrap();
        let q = member_query(&r, Scope::All);
        assert!(q.contains("NULL::double precision AS \"just_defined\""), "{q}");
    }

    #[test]
    fn rules_are_single_row_expressions_with_known_names() {
        let e = check_rule("sum(frequency) > 3", &traits()).unwrap_err();
        assert_eq!(e.kind, ExprErrorKind::NotAllowed);
        let e = check_rule("shoe_size > 42", &traits()).unwrap_err();
        assert_eq!(e.kind, ExprErrorKind::UnknownColumn);
        let hint = e.hint.unwrap();
        assert!(hint.contains("p_alive") && hint.contains("cart_adds_1h"), "{hint}");
        let e = check_rule("p_alive < 0.5; DELETE FROM cdp.segments", &traits()).unwrap_err();
        assert_ne!(e.kind, ExprErrorKind::UnknownColumn);
        assert!(check_rule("p_alive < 0.5 AND cart_adds_1h > 0", &traits()).is_ok());
    }

    #[test]
    fn now_in_a_rule_reads_the_movable_clock() {
        let r = check_rule("updated_at < now() - interval '30 days'", &traits()).unwrap();
        assert!(r.checked.contains("x.\"@clock\""), "{}", r.checked);
        assert!(!r.checked.contains("pg_catalog.now"));
        assert!(reads_clock(&r));
        let q = member_query(&r, Scope::All);
        assert!(q.contains("q.at AS \"@clock\"") && q.contains("CROSS JOIN (SELECT cdp._clock() AS at OFFSET 0) q"), "{q}");
        // a probe evaluates each profile at its own time
        let q = member_query(&r, Scope::Probe);
        assert!(q.contains("q.at AS \"@clock\"") && q.contains("JOIN pg_temp.cdp_probe q"), "{q}");
        assert!(!q.contains("cdp._clock()"), "{q}");
        // a literal that mentions the clock is not the clock
        let r = check_rule("rfm_cell = 'cdp._clock()'", &traits()).unwrap();
        assert!(!reads_clock(&r));
    }

    #[test]
    fn days_since_the_last_order_moves_with_the_clock() {
        let r = check_rule("days_since_last_order > 30", &traits()).unwrap();
        assert!(reads_clock(&r), "a stored number of days would never change without a recomputation");
        let q = member_query(&r, Scope::Probe);
        // read from last_seen's slot
        assert!(q.contains("(pg_catalog.date_part('epoch', q.at) OPERATOR(pg_catalog.-) f.traits[2]) OPERATOR(pg_catalog./) 86400 AS \"days_since_last_order\""), "{q}");
        let r = check_rule("orders > 2", &traits()).unwrap();
        assert!(!reads_clock(&r));
    }

    #[test]
    fn a_rule_on_time_is_read_now_and_at_the_horizon_in_one_scan() {
        let r = check_rule("days_since_last_order > 30", &traits()).unwrap();
        let q = two_clock_query(&r, Scope::Ids, "$6");
        assert_eq!(q.matches("FROM cdp.profile_facts f").count(), 1, "one scan: {q}");
        assert!(q.contains("(pg_catalog.date_part('epoch', q.at) OPERATOR(pg_catalog.-) f.traits[2])"), "{q}");
        assert!(q.contains("(pg_catalog.date_part('epoch', $6) OPERATOR(pg_catalog.-) f.traits[2])"), "{q}");
        assert!(q.contains("q.at AS \"@clock\"") && q.contains("$6 AS \"@clock\""), "{q}");
        assert!(q.contains("WHERE (n.hit OR l.hit) AND f.profile_id OPERATOR(pg_catalog.=) ANY ($1)"), "{q}");
        assert!(!two_clock_query(&r, Scope::All, "$6").contains("$1"));
    }

    #[test]
    fn odd_trait_names_are_quoted() {
        let t = vec![TraitColumn { name: "orders_call \"center'".into(), text: false, slot: Some(9) }];
        let r = Rule { checked: "x.\"orders_call \"\"center'\" > 0".into(), traits: t, reads_clock: false };
        let q = member_query(&r, Scope::All);
        assert!(q.contains("f.traits[9] AS \"orders_call \"\"center'\""), "{q}");
    }

    #[test]
    fn values_land_at_their_slots_with_gaps_left_empty() {
        let slots = [Some(3), Some(1), None, Some(0), Some(MAX_SLOT + 1), Some(5)];
        let values = [Some(30.0), Some(10.0), Some(99.0), Some(0.5), Some(1.0), None];
        let placed = place_in_slots(slots.into_iter().zip(values));
        assert_eq!(placed, vec![Some(10.0), None, Some(30.0)], "slot 5 has no value, 0 and beyond MAX_SLOT are no slots");
        assert!(place_in_slots::<f64>([]).is_empty());
    }

    #[test]
    fn the_facts_table_is_created_and_filled_from_one_select_list() {
        let create = facts_sql(FactsSql::Create);
        let all = facts_sql(FactsSql::All);
        let ids = facts_sql(FactsSql::Ids);
        for (c, e) in BASE_COLUMNS {
            let col = format!("{e} AS \"{c}\"");
            assert!(create.contains(&col) && all.contains(&col) && ids.contains(&col), "{c}");
        }
        assert!(create.starts_with("CREATE TABLE cdp.profile_facts AS") && create.ends_with("WITH NO DATA"));
        assert!(all.starts_with("INSERT INTO cdp.profile_facts (\"profile_id\", \"name\""), "{all}");
        assert!(!all.contains("$1"));
        // the profiles, their traits and their consent are all restricted to the ids (the
        // consent view's DISTINCT ON and GROUP BY take the filter down to the records' index)
        assert_eq!(ids.matches("ANY ($1)").count(), 3, "{ids}");
        assert!(ids.contains("FROM cdp.profile_consent k WHERE k.profile_id OPERATOR(pg_catalog.=) ANY ($1)"), "{ids}");
    }
}

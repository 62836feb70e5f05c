//! Segment rules: what a rule may name, and the one query that finds a rule's members.
//!
//! Pure string building (no PostgreSQL here). A rule is an analyst's boolean expression over one
//! row per profile: the columns of `cdp.customer_360` and every trait by its name. The view
//! aggregates all traits into a jsonb per row, which is too slow to scan for a million profiles
//! and twenty segments; the member query instead joins `cdp.profile_traits` once per trait the
//! rule names, so the planner scans the profile tables and the trait index it needs.

use crate::expr::{check_expression, ExprError, ExprSpec};

/// The columns of `cdp.customer_360` a rule may name, with the SQL each is read from.
pub const BASE_COLUMNS: [(&str, &str); 24] = [
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

/// A trait a rule may name: numeric (`cdp.profile_traits.value`) or text (`text_value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraitColumn {
    pub name: String,
    pub text: bool,
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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

/// The profiles for which the rule holds, one `profile_id` per row, among those `scope` names.
pub fn member_query(rule: &Rule, scope: Scope) -> String {
    let clock = "q.at";
    let mut cols: Vec<String> = BASE_COLUMNS.iter().map(|(c, e)| format!("{e} AS {}", quote_ident(c))).collect();
    cols.push(format!("{clock} AS {}", &CLOCK_COLUMN[2..]));
    let mut joins = String::new();
    for (i, t) in rule.traits.iter().enumerate() {
        let alias = format!("t{i}");
        let measured_from = CLOCK_TRAITS.iter().find(|(c, _)| *c == t.name).map(|(_, from)| *from);
        let (stored, value) = match measured_from {
            Some(from) => (
                from,
                format!("(pg_catalog.date_part('epoch', {clock}) OPERATOR(pg_catalog.-) {alias}.value) OPERATOR(pg_catalog./) 86400"),
            ),
            None => (t.name.as_str(), format!("{alias}.{}", if t.text { "text_value" } else { "value" })),
        };
        cols.push(format!("{value} AS {}", quote_ident(&t.name)));
        joins.push_str(&format!(
            "\n   LEFT JOIN cdp.profile_traits {alias} ON {alias}.profile_id OPERATOR(pg_catalog.=) p.profile_id \
             AND {alias}.trait OPERATOR(pg_catalog.=) {}",
            quote_literal(stored)
        ));
    }
    let now = format!("\n   CROSS JOIN {CLOCK} q");
    let (probe, filter) = match scope {
        Scope::All => (now.as_str(), ""),
        Scope::Ids => (now.as_str(), "\n  WHERE p.profile_id OPERATOR(pg_catalog.=) ANY ($1)"),
        Scope::Probe => ("\n   JOIN pg_temp.cdp_probe q ON q.profile_id OPERATOR(pg_catalog.=) p.profile_id", ""),
    };
    format!(
        "SELECT x.profile_id FROM (\n\
         SELECT {cols}\n\
         \x20 FROM cdp.profiles p{probe}\n\
         \x20 LEFT JOIN cdp.rfm r ON r.profile_id OPERATOR(pg_catalog.=) p.profile_id\n\
         \x20 LEFT JOIN cdp.clv c ON c.profile_id OPERATOR(pg_catalog.=) p.profile_id{joins}{filter}\n\
         ) x\n\
         WHERE ({rule})",
        cols = cols.join(",\n       "),
        rule = rule.checked,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ExprErrorKind;

    fn traits() -> Vec<TraitColumn> {
        vec![
            TraitColumn { name: "days_since_last_order".into(), text: false },
            TraitColumn { name: "preferred_channel".into(), text: true },
            TraitColumn { name: "orders".into(), text: false },
            TraitColumn { name: "cart_adds_1h".into(), text: false },
        ]
    }

    #[test]
    fn a_rule_reads_only_the_traits_it_names() {
        let r = check_rule("cart_adds_1h > 0 AND segment = 'At Risk'", &traits()).unwrap();
        assert_eq!(r.traits, vec![TraitColumn { name: "cart_adds_1h".into(), text: false }]);
        assert!(!reads_clock(&r));
        let q = member_query(&r, Scope::All);
        assert!(q.contains("t0.value AS \"cart_adds_1h\""));
        assert!(q.contains("t0.trait OPERATOR(pg_catalog.=) 'cart_adds_1h'"));
        assert!(!q.contains("t1."));
        assert!(!q.contains("$1"));
        assert!(q.ends_with("WHERE (x.\"cart_adds_1h\" > 0 AND x.\"segment\" = 'At Risk')"));
    }

    #[test]
    fn text_traits_read_text_value_and_columns_win_over_traits_of_the_same_name() {
        let r = check_rule("preferred_channel = 'web' AND orders >= 2", &traits()).unwrap();
        assert_eq!(r.traits.len(), 1);
        let q = member_query(&r, Scope::Ids);
        assert!(q.contains("t0.text_value AS \"preferred_channel\""));
        // orders is the view's column (c.orders), not the trait
        assert!(q.contains("c.orders AS \"orders\""));
        assert!(!q.contains("'orders'"));
        assert!(q.contains("p.profile_id OPERATOR(pg_catalog.=) ANY ($1)"));
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
        assert!(q.contains("t0.trait OPERATOR(pg_catalog.=) 'last_seen'"), "{q}");
        assert!(q.contains("(pg_catalog.date_part('epoch', q.at) OPERATOR(pg_catalog.-) t0.value) OPERATOR(pg_catalog./) 86400 AS \"days_since_last_order\""), "{q}");
        let r = check_rule("orders > 2", &traits()).unwrap();
        assert!(!reads_clock(&r));
    }

    #[test]
    fn odd_trait_names_are_quoted() {
        let t = vec![TraitColumn { name: "orders_call \"center'".into(), text: false }];
        let r = Rule { checked: "x.\"orders_call \"\"center'\" > 0".into(), traits: t, reads_clock: false };
        let q = member_query(&r, Scope::All);
        assert!(q.contains("AS \"orders_call \"\"center'\""));
        assert!(q.contains("OPERATOR(pg_catalog.=) 'orders_call \"center'''"));
    }
}

//! Segments: rule checking and the member query for the SQL functions in `sql/segments.sql`
//! (`cdp.define_segment`, `cdp.refresh_segments`, the worker's incremental evaluation).

use pgrx::prelude::*;

use crate::error::{CdpResult, OrRaise, Kind};
use crate::segments::{check_rule, facts_sql, member_query, place_in_slots, two_clock_query, with_clock_slots, FactsSql, Scope, TraitColumn};

/// Every trait a rule may name (`cdp._trait_names()`: the built-in ones, the per-channel ones of
/// the registered order tables and the custom definitions, whether or not computed yet), each
/// with its slot in `cdp.profile_facts`.
fn known_traits() -> CdpResult<Vec<TraitColumn>> {
    Spi::connect(|client| -> CdpResult<Vec<TraitColumn>> {
        let mut out = Vec::new();
        for r in client.select(
            "SELECT n.trait, n.is_text, s.slot FROM cdp._trait_names() n
               LEFT JOIN cdp.trait_slots s ON s.trait OPERATOR(pg_catalog.=) n.trait
              ORDER BY 1",
            None,
            &[],
        )? {
            out.push(TraitColumn {
                name: r.get::<String>(1)?.unwrap_or_default(),
                text: r.get::<bool>(2)?.unwrap_or(false),
                slot: r.get::<i32>(3)?,
            });
        }
        Ok(with_clock_slots(out))
    })
}

/// The statement that creates `cdp.profile_facts` (`create`) or fills it for every profile
/// (`all`) or for the profiles in `$1` (`ids`); run by `cdp._refresh_facts`.
#[pg_extern(immutable, parallel_safe)]
fn _facts_sql(which: &str) -> String {
    let which = match which {
        "create" => FactsSql::Create,
        "all" => FactsSql::All,
        "ids" => FactsSql::Ids,
        other => crate::error::CdpError::new(Kind::InvalidParameterValue, format!("unknown facts statement {other}"))
            .raise(),
    };
    facts_sql(which)
}

/// One profile's numeric trait values placed at their slots (the `traits` array of
/// `cdp.profile_facts`).
#[pg_extern(immutable, parallel_safe)]
fn _slot_values(slots: pgrx::Array<'_, i32>, values: pgrx::Array<'_, f64>) -> Vec<Option<f64>> {
    place_in_slots(slots.iter().zip(values.iter()))
}

/// One profile's text trait values placed at their slots (`text_traits`).
#[pg_extern(immutable, parallel_safe)]
fn _slot_texts(slots: pgrx::Array<'_, i32>, values: pgrx::Array<'_, &str>) -> Vec<Option<String>> {
    place_in_slots(slots.iter().zip(values.iter().map(|v| v.map(str::to_owned))))
}

/// The query giving the profiles a rule holds for: scope `all`, `ids` (the profiles in `$1`) or
/// `probe` (each profile of `pg_temp.cdp_probe` at its own time). 42601 syntax, 42703 an unknown
/// column or trait (the hint lists the names), 42501 anything outside the allowed subset: one
/// boolean expression, no aggregate, no subquery.
#[pg_extern(stable, parallel_safe)]
fn _segment_query(rule: &str, scope: &str) -> String {
    member_query(&checked_rule(rule), scope_named(scope))
}

/// A rule that reads the clock, now and at `later` (an SQL expression, the end of the due-time
/// horizon) in one scan: `(profile_id, now_in, later_in)` for the profiles in `scope` (`all` or
/// `ids`, `$1`) for which it holds at either time. Same errors as `cdp._segment_query`.
#[pg_extern(stable, parallel_safe)]
fn _segment_query_two_clocks(rule: &str, scope: &str, later: &str) -> String {
    let scope = scope_named(scope);
    if scope == Scope::Probe {
        crate::error::CdpError::new(Kind::InvalidParameterValue, "a probe has one clock per profile").raise()
    }
    two_clock_query(&checked_rule(rule), scope, later)
}

fn scope_named(scope: &str) -> Scope {
    match scope {
        "all" => Scope::All,
        "ids" => Scope::Ids,
        "probe" => Scope::Probe,
        other => crate::error::CdpError::new(Kind::InvalidParameterValue, format!("unknown scope {other}"))
            .raise(),
    }
}

fn checked_rule(rule: &str) -> crate::segments::Rule {
    let traits = known_traits().or_raise();
    check_rule(rule, &traits).map_err(crate::error::CdpError::from).or_raise()
}

/// Whether a rule calls now(): its members can change with time alone, so the worker
/// re-evaluates it every `cdp.segment_clock_interval`.
#[pg_extern(stable, parallel_safe)]
fn _segment_reads_clock(rule: &str) -> bool {
    checked_rule(rule).reads_clock
}

/// The purpose a segment may require (email, sms or push), or 22023 naming them. NULL: none.
fn channel_named(purpose: Option<&str>) -> Option<crate::consent::Purpose> {
    let p = purpose?;
    match crate::consent::Purpose::from_name(p).filter(|p| p.is_channel()) {
        Some(p) => Some(p),
        None => crate::error::CdpError::new(Kind::InvalidParameterValue, format!("unknown consent purpose \"{p}\" for a segment"))
            .hint("a segment can require email, sms or push consent; profiling consent applies to every segment (cdp.set_profiling_consent)")
            .raise(),
    }
}

/// 22023 unless `purpose` is NULL or a channel a segment can require.
#[pg_extern(immutable, parallel_safe)]
fn _check_consent_purpose(purpose: Option<&str>) {
    channel_named(purpose);
}

/// The condition that leaves a profile out of a segment for want of consent, over the consent
/// columns of `cdp.profile_facts` (`qualifier`: `f.`, or empty inside a rule).
#[pg_extern(immutable, parallel_safe)]
fn _consent_blocked_sql(profiling_requires_grant: bool, requires: Option<&str>, qualifier: &str) -> String {
    crate::consent::blocked_sql(profiling_requires_grant, channel_named(requires), qualifier)
}

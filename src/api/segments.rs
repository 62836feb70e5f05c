//! Segments: rule checking and the member query for the SQL functions in `sql/segments.sql`
//! (`cdp.define_segment`, `cdp.refresh_segments`, the worker's incremental evaluation).

use pgrx::prelude::*;

use crate::error::{CdpResult, OrRaise};
use crate::segments::{check_rule, member_query, Scope, TraitColumn};

/// Every trait a rule may name: the built-in ones, the per-channel ones of the registered order
/// tables and the custom definitions (whether or not computed yet).
fn known_traits() -> CdpResult<Vec<TraitColumn>> {
    Spi::connect(|client| -> CdpResult<Vec<TraitColumn>> {
        let mut out = Vec::new();
        for r in client.select(
            "SELECT z.t, z.t OPERATOR(pg_catalog.=) 'preferred_channel' FROM (
                 SELECT pg_catalog.unnest(ARRAY['first_seen', 'last_seen', 'days_since_last_order', 'tenure_days', 'orders',
                                                'revenue', 'average_order_value', 'preferred_channel', 'cluster']) AS t
                 UNION SELECT d.trait FROM cdp.trait_definitions d
                 UNION SELECT k OPERATOR(pg_catalog.||) COALESCE(s.channel, 'unknown')
                         FROM cdp.transaction_sources s, pg_catalog.unnest(ARRAY['orders_', 'revenue_']) k) z
              ORDER BY 1",
            None,
            &[],
        )? {
            out.push(TraitColumn { name: r.get::<String>(1)?.unwrap_or_default(), text: r.get::<bool>(2)?.unwrap_or(false) });
        }
        Ok(out)
    })
}

/// The query giving the profiles a rule holds for: scope `all`, `ids` (the profiles in `$1`) or
/// `probe` (each profile of `pg_temp.cdp_probe` at its own time). 42601 syntax, 42703 an unknown
/// column or trait (the hint lists the names), 42501 anything outside the allowed subset: one
/// boolean expression, no aggregate, no subquery.
#[pg_extern(stable, parallel_safe)]
fn _segment_query(rule: &str, scope: &str) -> String {
    let scope = match scope {
        "all" => Scope::All,
        "ids" => Scope::Ids,
        "probe" => Scope::Probe,
        other => crate::error::CdpError::new(pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("unknown scope {other}"))
            .raise(),
    };
    let traits = known_traits().or_raise();
    let checked = check_rule(rule, &traits).map_err(super::value::expr_error).or_raise();
    member_query(&checked, scope)
}

/// Whether a rule calls now(): its members can change with time alone, so the worker
/// re-evaluates it every `cdp.segment_clock_interval`.
#[pg_extern(stable, parallel_safe)]
fn _segment_reads_clock(rule: &str) -> bool {
    let traits = known_traits().or_raise();
    check_rule(rule, &traits).map_err(super::value::expr_error).or_raise().reads_clock
}

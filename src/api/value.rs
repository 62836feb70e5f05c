//! Customer value from SQL: RFM scores over per-profile summaries that `cdp.compute_rfm`
//! aggregates set-based in SQL (sql/value.sql). Scoring and the segment map are the pure
//! `crate::value::rfm` module.

use pgrx::prelude::*;

use crate::error::{CdpError, CdpResult, OrRaise, Kind};
use crate::value::rfm::{self, SegmentRule};

/// Parallel input arrays (one element per profile or order) must all have `n` elements: 22023.
fn same_lengths(what: &str, n: usize, lengths: &[usize]) {
    if lengths.iter().any(|l| *l != n) {
        CdpError::new(Kind::InvalidParameterValue, format!("{what} arrays differ in length")).raise();
    }
}

/// The segment map in force: cdp.rfm_segment_map when it has rows (validated: every R×F cell
/// exactly once), else the built-in standard map.
fn segment_map(client: &pgrx::spi::SpiClient<'_>) -> CdpResult<(Vec<SegmentRule>, bool)> {
    let mut map = Vec::new();
    for row in client.select(
        "SELECT segment, r_min, r_max, f_min, f_max FROM cdp.rfm_segment_map ORDER BY segment",
        None,
        &[],
    )? {
        let get = |i: usize| -> CdpResult<u8> { Ok(row.get::<i16>(i)?.unwrap_or(0).clamp(0, 255) as u8) };
        map.push(SegmentRule {
            name: row.get::<String>(1)?.unwrap_or_default(),
            r: (get(2)?, get(3)?),
            f: (get(4)?, get(5)?),
        });
    }
    if map.is_empty() {
        return Ok((rfm::default_segment_map(), true));
    }
    rfm::validate_map(&map).map_err(|e| {
        CdpError::new(Kind::InvalidParameterValue, format!("cdp.rfm_segment_map is not a partition of the R×F grid: {e}"))
            .hint("every (R, F) cell 1..5 × 1..5 must be covered by exactly one segment; empty the table to use the standard map")
    })?;
    Ok((map, false))
}

/// R, F, M scores (quintiles, equal values always share a score, or the fixed thresholds of the
/// cdp.rfm_*_thresholds settings), cell and segment per profile.
#[pg_extern(stable, parallel_safe)]
fn _rfm_scores(
    profile_ids: Vec<i64>,
    recency_days: Vec<f64>,
    frequency: Vec<f64>,
    monetary: Vec<f64>,
) -> TableIterator<
    'static,
    (
        name!(profile_id, i64),
        name!(r_score, i16),
        name!(f_score, i16),
        name!(m_score, i16),
        name!(rfm_cell, String),
        name!(segment, Option<String>),
    ),
> {
    let n = profile_ids.len();
    same_lengths("RFM input", n, &[recency_days.len(), frequency.len(), monetary.len()]);
    let (map, _) = Spi::connect(|client| segment_map(client)).or_raise();
    let score = |values: &[f64], (setting, guc, higher_is_better): crate::gucs::RfmThresholdSetting| {
        let text = crate::gucs::string_setting(guc).unwrap_or_default();
        let thresholds = rfm::parse_thresholds(&text).unwrap_or_else(|e| {
            CdpError::new(Kind::InvalidParameterValue, format!("invalid {setting} \"{text}\": {e}"))
                .hint("give four ascending numbers separated by commas, or an empty string for quintiles")
                .raise()
        });
        rfm::scores(values, thresholds.as_ref(), higher_is_better)
    };
    let [rs, fs, ms] = crate::gucs::RFM_THRESHOLD_SETTINGS;
    let (r, f, m) = (score(&recency_days, rs), score(&frequency, fs), score(&monetary, ms));
    let rows: Vec<_> = (0..n)
        .map(|i| {
            (
                profile_ids[i],
                i16::from(r[i]),
                i16::from(f[i]),
                i16::from(m[i]),
                rfm::rfm_cell(r[i], f[i], m[i]),
                rfm::segment_for(&map, r[i], f[i]).map(str::to_string),
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// The segment map in force, for the cdp.rfm_segments view.
#[pg_extern(stable, parallel_safe)]
fn _rfm_segments() -> TableIterator<
    'static,
    (name!(segment, String), name!(r_min, i16), name!(r_max, i16), name!(f_min, i16), name!(f_max, i16), name!(is_default, bool)),
> {
    let (map, default) = Spi::connect(|client| segment_map(client)).or_raise();
    TableIterator::new(
        map.into_iter()
            .map(|s| (s.name, i16::from(s.r.0), i16::from(s.r.1), i16::from(s.f.0), i16::from(s.f.1), default))
            .collect::<Vec<_>>(),
    )
}

/// Per-profile purchase summaries (cdp.clv_summary) from all usable order rows handed over as
/// arrays: profile, epoch second at which the order's day starts, amount.
#[pg_extern(immutable, parallel_safe)]
fn _clv_summary(
    profile_ids: Vec<i64>,
    day_starts: Vec<f64>,
    amounts: Vec<f64>,
    as_of: f64,
) -> TableIterator<
    'static,
    (
        name!(profile_id, i64),
        name!(frequency, f64),
        name!(recency, f64),
        name!(t, f64),
        name!(monetary_value, f64),
        name!(orders, i32),
        name!(historical_value, f64),
    ),
> {
    same_lengths("order", profile_ids.len(), &[day_starts.len(), amounts.len()]);
    let rows = crate::value::clv::summarise(&profile_ids, &day_starts, &amounts, as_of);
    drop((profile_ids, day_starts, amounts));
    TableIterator::new(rows.into_iter().map(|s| {
        (s.profile_id, s.frequency, s.recency, s.t, s.monetary_value, s.purchases as i32, s.net)
    }))
}

/// BG/NBD + Gamma-Gamma fitted by maximum likelihood over the given customers (per-profile
/// summaries aggregated in SQL), stored in cdp.clv_model, and the predictions per profile:
/// probability alive, expected purchases and discounted CLV over the horizon.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
fn _clv_fit(
    profile_ids: Vec<i64>,
    x: Vec<f64>,
    t_x: Vec<f64>,
    t: Vec<f64>,
    monetary_mean: Vec<f64>,
    horizon_days: f64,
    annual_discount: f64,
) -> TableIterator<
    'static,
    (
        name!(profile_id, i64),
        name!(p_alive, f64),
        name!(expected_purchases, f64),
        name!(expected_spend, Option<f64>),
        name!(clv, Option<f64>),
    ),
> {
    use crate::value::clv::{self, Customer};
    let n = profile_ids.len();
    same_lengths("CLV input", n, &[x.len(), t_x.len(), t.len(), monetary_mean.len()]);
    if !(horizon_days > 0.0) || !(0.0..10.0).contains(&annual_discount) {
        CdpError::new(
            Kind::InvalidParameterValue,
            format!("horizon must be positive and the discount rate in [0, 10), not {horizon_days} days and {annual_discount}"),
        )
        .raise();
    }
    let customers: Vec<Customer> =
        (0..n).map(|i| Customer { x: x[i], t_x: t_x[i], t: t[i], monetary_mean: monetary_mean[i] }).collect();
    let bg = clv::fit_bgnbd(&customers);
    let gg = clv::fit_gamma_gamma(&customers);
    let params = serde_json::json!({"bg_nbd": bg, "gamma_gamma": gg});
    Spi::connect_mut(|client| -> CdpResult<()> {
        client.update(
            "INSERT INTO cdp.clv_model (customers, converged, params, horizon_days, annual_discount)
             VALUES ($1, $2, $3, $4, $5)",
            None,
            &[(n as i64).into(), (bg.converged && gg.converged).into(), pgrx::JsonB(params).into(), horizon_days.into(), annual_discount.into()],
        )?;
        Ok(())
    })
    .or_raise();
    let finite = |v: f64| v.is_finite().then_some(v);
    // predictions are pure per-customer arithmetic (a dozen hypergeometric terms each): threads
    let preds = crate::resolve::par_map(&customers, crate::value::threads(), |c| {
        (
            bg.p_alive(c),
            bg.expected_purchases(horizon_days, c),
            finite(gg.expected_spend(c)),
            finite(clv::clv(&bg, &gg, c, horizon_days, annual_discount)),
        )
    });
    let rows: Vec<_> = preds.into_iter().zip(profile_ids).map(|((p, e, s, v), pid)| (pid, p, e, s, v)).collect();
    TableIterator::new(rows)
}

/// k-means over standardised rows (`rows[i]` = comma-separated numbers of profile i): label per
/// profile, with the run's inertia and iterations repeated on every row.
#[pg_extern(volatile, parallel_unsafe)]
fn _kmeans(
    profile_ids: Vec<i64>,
    rows: Vec<String>,
    k: i32,
    seed: i64,
) -> TableIterator<'static, (name!(profile_id, Option<i64>), name!(label, f64), name!(inertia, f64), name!(iterations, i32))> {
    use crate::value::kmeans;
    if k < 1 {
        CdpError::new(Kind::InvalidParameterValue, format!("k must be at least 1, not {k}")).raise();
    }
    let mut data: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.split(',').map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN)).collect())
        .collect();
    kmeans::standardise(&mut data);
    let km = kmeans::kmeans(&data, k as usize, seed as u64, 300).unwrap_or_else(|e| {
        CdpError::new(Kind::InvalidParameterValue, format!("k-means: {e}")).raise()
    });
    let out: Vec<_> = profile_ids
        .iter()
        .zip(&km.labels)
        .map(|(p, l)| (Some(*p), f64::from(*l), km.inertia, km.iterations as i32))
        .collect();
    TableIterator::new(out)
}

/// The columns a custom trait's aggregate sees: one row per order of the profile
/// (`over => 'orders'`) or one row per behaviour event (`over => 'events'`).
pub const TRAIT_COLUMNS: [&str; 5] = ["amount", "occurred_at", "currency", "tsource_id", "channel"];
pub const EVENT_TRAIT_COLUMNS: [&str; 4] = ["event_type", "occurred_at", "channel", "esource_id"];

/// A custom trait's expression in the only form pg_cdp runs: checked against the allowed subset
/// (one aggregate expression over the order or event columns, built-in functions from a fixed
/// list, no statement, no subquery), columns qualified with `x.` and functions with
/// `pg_catalog.`. Called when the trait is defined and again every time it is computed, so a
/// stored text never runs unchecked. 42601 syntax, 42703 unknown column, 42501 a function or
/// keyword outside the subset, 22023 an unknown `over`.
#[pg_extern(immutable, parallel_safe)]
fn _check_trait_expression(expression: &str, over: default!(&str, "'orders'")) -> String {
    let columns: &[&str] = match over {
        "orders" => &TRAIT_COLUMNS,
        "events" => &EVENT_TRAIT_COLUMNS,
        other => CdpError::new(Kind::InvalidParameterValue, format!("a trait is over 'orders' or 'events', not '{other}'"))
            .raise(),
    };
    let spec = crate::expr::ExprSpec { columns, qualifier: "x", allow_aggregates: true, clock: None };
    crate::expr::check_expression(expression, &spec).map_err(CdpError::from).or_raise()
}


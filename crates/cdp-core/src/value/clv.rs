//! Predictive customer lifetime value: BG/NBD + Gamma-Gamma, fitted by maximum likelihood.
//!
//! # Inputs
//!
//! One [`Customer`] per profile, time in **days** (any unit works if used consistently):
//! * `x` — repeat purchases: orders after the first one (lifetimes' `frequency`);
//! * `t_x` — time from the first to the last order (`recency`; 0 when `x = 0`);
//! * `t` — age: time from the first order to the end of the observation window (`T`);
//! * `monetary_mean` — average value of the repeat orders (lifetimes' `monetary_value`;
//!   the mean over all orders is a common approximation). Only used when `x >= 1`.
//!
//! # BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α) (shape r, rate
//! α); after each repeat purchase they drop out with probability p ~ Beta(a, b). The likelihood
//! of one customer is
//!
//! ```text
//! L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//!   + [x > 0] · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//! ```
//!
//! evaluated in logs as lifetimes does: `ln L = A1 + A2 + logsumexp(A3, A4)` with
//! `A1 = lnΓ(r+x) − lnΓ(r) + r ln α`, `A2 = lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)`,
//! `A3 = −(r+x) ln(α+T)`, `A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x)` (A4 only when x > 0).
//!
//! **Fitting at scale**: `x`, `t_x` and `T` are rounded to whole units (days) and identical
//! `(x, t_x, T)` rows are merged into weighted patterns, so the log-likelihood is a weighted
//! sum over distinct patterns. Per evaluation, the x-dependent terms are computed once per
//! distinct x and `ln(α + d)` once per distinct day value, leaving one `exp` and one `ln_1p`
//! per pattern; the patterns are summed in fixed chunks on a few threads and the chunk sums
//! added in order (deterministic). The optimiser is Nelder–Mead on the log-parameters from
//! two deterministic starts (explored to a loose tolerance), the better one polished to a tight
//! tolerance and restarted at its optimum until a restart gains nothing.
//!
//! Predictions use the exact (unrounded) inputs:
//! * `P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))`; for x = 0 it
//!   is 1 by definition (drop-out happens only right after a repeat purchase).
//! * `E[X(t) | x, t_x, T] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x)
//!   · ₂F₁(r+x, b+x; a+b+x−1; z)] · P(alive)`, `z = t/(α+T+t)`. Like lifetimes' fallback we use
//!   Euler's transformation `(1−z)^(r+x) ₂F₁(r+x, b+x; c; z) = (1−z)^(a−1) ₂F₁(c−r−x, a−1; c; z)`
//!   (c = a+b+x−1), whose series has small numerator parameters, does not overflow for large
//!   x, and converges even at z = 1 when x + r + 1 > a; the `1/(a−1)` factor is cancelled analytically (expm1
//!   and the series divided by its `a−1` factor), so a = 1 is not a singularity.
//!
//! # Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV")
//!
//! Order values of a customer ~ Gamma(p, ν) with ν ~ Gamma(q, v). Fitted over customers with
//! x ≥ 1 and `monetary_mean > 0` by maximising (lifetimes' form)
//! `lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m̄ + px ln x − (px+q) ln(x m̄ + v)`.
//! `E[M | x, m̄] = p (v + x m̄) / (p x + q − 1)` (for x = 0 the population mean p v/(q−1)).
//! The model assumes spend is independent of frequency; [`GammaGamma`] reports the Pearson
//! correlation between x and m̄ so the caller can warn when it is large (say |ρ| > 0.3).
//!
//! # CLV
//!
//! [`clv`] is the discounted-cash-flow approximation of lifetimes' `customer_lifetime_value`:
//! with month length `M = 365.25/12` days and step ends `t_i = min(i·M, horizon)`,
//! `i = 1..=ceil(horizon/M)`,
//!
//! ```text
//! CLV = Σ_i (E[X(t_i)] − E[X(t_{i−1})]) · E[M] / (1 + d)^(t_i / 365.25)
//! ```
//!
//! with `d` the annual discount rate; for whole months this is lifetimes' formula with the
//! monthly rate `(1+d)^(1/12) − 1` (lifetimes itself uses 30-day months for daily data).

use serde::{Deserialize, Serialize};

use super::par_chunk_sum;

/// One profile's purchase summary (see the module documentation for the definitions).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
    pub monetary_mean: f64,
}

/// A fitted BG/NBD model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Total log-likelihood at the optimum (over the rounded, valid customers).
    pub log_likelihood: f64,
    /// Nelder–Mead iterations spent (all starts and restarts).
    pub iterations: u32,
    /// True when the winning start met the tolerances and a restart could not improve it.
    pub converged: bool,
    /// Valid customers used in the fit (invalid rows — NaN, negative, t_x > T — are skipped).
    #[serde(default)]
    pub n_customers: u64,
    /// Distinct (x, t_x, T) patterns after rounding to whole days.
    #[serde(default)]
    pub n_patterns: u64,
}

/// A fitted Gamma-Gamma spend model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    pub log_likelihood: f64,
    pub iterations: u32,
    pub converged: bool,
    /// Customers used (x >= 1, monetary_mean > 0, all finite).
    #[serde(default)]
    pub n_customers: u64,
    /// Pearson correlation between x and monetary_mean over those customers (None when it is
    /// undefined). The model assumes independence: warn when it is far from 0.
    #[serde(default)]
    pub frequency_monetary_correlation: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Special functions

const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln |Γ(x)| by the Lanczos approximation (g = 7, 9 terms; relative error ~1e-15), with the
/// reflection formula below 0.5. +∞ at the poles (0, −1, −2, …).
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::INFINITY;
    }
    if x < 0.5 {
        let s = (std::f64::consts::PI * x).sin();
        return (std::f64::consts::PI / s.abs()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + LANCZOS_G + 0.5;
    let mut sum = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// `S = Σ_{n≥1} w_n` with `w_1 = a z`, `w_{n+1} = w_n (a+n)(b+n) z / ((c+n)(n+1))`, so that
/// `₂F₁(a, b; c; z) = 1 + (b/c) S`. Keeping `b/c` out lets callers cancel those factors
/// analytically. Requires `|z| < 1` and `c > −1`.
///
/// Convergence care: summation continues past the terms' hump (where the term ratio drops
/// below 1) until the remaining tail, bounded geometrically by the larger of the current term
/// ratio and |z|, is below 1e-16 of the sum; at most 10 million terms.
fn hyp2f1_tail(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut w = a * z;
    let mut sum = w;
    if w == 0.0 {
        return 0.0;
    }
    let mut n = 1.0f64;
    while n < 1.0e7 {
        let ratio = (a + n) * (b + n) * z / ((c + n) * (n + 1.0));
        w *= ratio;
        sum += w;
        if w == 0.0 {
            break;
        }
        let q = ratio.abs().max(z.abs());
        if ratio.abs() < 1.0 && q < 1.0 && (w.abs() * q / (1.0 - q)) <= 1e-16 * sum.abs() {
            break;
        }
        if !sum.is_finite() {
            break;
        }
        n += 1.0;
    }
    sum
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) by its power series, for |z| < 1 and
/// c > −1, c ≠ 0 (see `hyp2f1_tail` for the stopping rule). Used here only with 0 <= z < 1.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z == 0.0 || b == 0.0 {
        return 1.0;
    }
    1.0 + (b / c) * hyp2f1_tail(a, b, c, z)
}

// ---------------------------------------------------------------------------------------------
// Nelder–Mead

struct NmOutcome {
    x: Vec<f64>,
    f: f64,
    iterations: u32,
    converged: bool,
}

fn finite_or_inf(v: f64) -> f64 {
    if v.is_nan() {
        f64::INFINITY
    } else {
        v
    }
}

/// Nelder–Mead (reflection 1, expansion 2, contraction 1/2, shrink 1/2) from `x0` with an
/// axis-aligned initial simplex of size `step`. Stops when the spread of function values is
/// <= `ftol` and every vertex is within `xtol` (max-norm) of the best one.
fn nelder_mead<F: FnMut(&[f64]) -> f64>(
    f: &mut F,
    x0: &[f64],
    step: f64,
    max_iter: u32,
    ftol: f64,
    xtol: f64,
) -> NmOutcome {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..n {
        let mut v = x0.to_vec();
        v[i] += step;
        pts.push(v);
    }
    let mut fv: Vec<f64> = pts.iter().map(|p| finite_or_inf(f(p))).collect();
    let mut iterations = 0u32;
    let mut converged = false;
    loop {
        let mut idx: Vec<usize> = (0..=n).collect();
        idx.sort_by(|&i, &j| fv[i].total_cmp(&fv[j]));
        pts = idx.iter().map(|&i| pts[i].clone()).collect();
        fv = idx.iter().map(|&i| fv[i]).collect();

        let fspread = fv[n] - fv[0];
        let xspread = pts[1..]
            .iter()
            .flat_map(|p| p.iter().zip(&pts[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0f64, f64::max);
        if fspread <= ftol && xspread <= xtol {
            converged = true;
            break;
        }
        if iterations >= max_iter {
            break;
        }
        iterations += 1;

        let mut centroid = vec![0.0; n];
        for p in &pts[..n] {
            for (c, v) in centroid.iter_mut().zip(p) {
                *c += v / n as f64;
            }
        }
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&pts[n])
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let xr = along(1.0);
        let fr = finite_or_inf(f(&xr));
        if fr < fv[0] {
            let xe = along(2.0);
            let fe = finite_or_inf(f(&xe));
            if fe < fr {
                pts[n] = xe;
                fv[n] = fe;
            } else {
                pts[n] = xr;
                fv[n] = fr;
            }
            continue;
        }
        if fr < fv[n - 1] {
            pts[n] = xr;
            fv[n] = fr;
            continue;
        }
        let (xc, fc, accept) = if fr < fv[n] {
            let xc = along(0.5);
            let fc = finite_or_inf(f(&xc));
            (xc, fc, fc <= fr)
        } else {
            let xc = along(-0.5);
            let fc = finite_or_inf(f(&xc));
            (xc, fc, fc < fv[n])
        };
        if accept {
            pts[n] = xc;
            fv[n] = fc;
            continue;
        }
        for i in 1..=n {
            let p: Vec<f64> = pts[0]
                .iter()
                .zip(&pts[i])
                .map(|(b, v)| b + 0.5 * (v - b))
                .collect();
            fv[i] = finite_or_inf(f(&p));
            pts[i] = p;
        }
    }
    NmOutcome {
        x: pts[0].clone(),
        f: fv[0],
        iterations,
        converged,
    }
}

const NM_FTOL: f64 = 1e-11;
const NM_XTOL: f64 = 1e-7;
const NM_MAX_ITER: u32 = 4000;

/// Minimise in two phases. Exploration: a Nelder–Mead run from each start (initial simplex
/// `step`) to a loose tolerance. Polish: from the best of those, tight runs (ftol 1e-11 on the
/// per-customer objective, xtol 1e-7 on the log-parameters), each restarted at its optimum
/// with a fresh simplex until a restart gains no more than 1e-10. Reports the iterations of
/// all runs; converged when the last polish run met the tolerances and gained nothing.
fn minimise<F: FnMut(&[f64]) -> f64>(f: &mut F, starts: &[Vec<f64>], step: f64) -> NmOutcome {
    let mut total_iter = 0u32;
    let mut best: Option<NmOutcome> = None;
    for s in starts {
        let run = nelder_mead(f, s, step, NM_MAX_ITER, 1e-7, 1e-3);
        total_iter = total_iter.saturating_add(run.iterations);
        if best.as_ref().is_none_or(|b| run.f < b.f) {
            best = Some(run);
        }
    }
    let mut run = best.expect("at least one start");
    let mut converged = false;
    let mut polish_step = step / 5.0;
    for round in 0..10 {
        if round > 0 {
            polish_step = step / 20.0;
        }
        let again = nelder_mead(f, &run.x, polish_step, NM_MAX_ITER, NM_FTOL, NM_XTOL);
        total_iter = total_iter.saturating_add(again.iterations);
        let gain = run.f - again.f;
        let again_converged = again.converged;
        if again.f <= run.f {
            run = again;
        }
        if gain <= 1e-10 {
            converged = again_converged;
            break;
        }
    }
    run.converged = converged;
    run.iterations = total_iter;
    run
}

// ---------------------------------------------------------------------------------------------
// BG/NBD

/// One distinct rounded (x, t_x, T) with its count.
#[derive(Clone, Copy, Debug)]
struct Pattern {
    xi: u32,
    txi: u32,
    ti: u32,
    w: f64,
}

/// Customers merged into weighted patterns over distinct x values and distinct day values.
struct BgData {
    xs: Vec<f64>,
    days: Vec<f64>,
    patterns: Vec<Pattern>,
    n_customers: u64,
    sum_x: f64,
    sum_t: f64,
}

/// Rounds a customer to whole units; None when invalid.
fn rounded(c: &Customer) -> Option<(u32, u32, u32)> {
    let (x, tx, t) = (c.x.round(), c.t_x.round(), c.t.round());
    let ok = |v: f64| v.is_finite() && v >= 0.0 && v <= u32::MAX as f64;
    if !ok(x) || !ok(t) {
        return None;
    }
    if x == 0.0 {
        return Some((0, 0, t as u32));
    }
    if !ok(tx) || tx > t {
        return None;
    }
    Some((x as u32, tx as u32, t as u32))
}

impl BgData {
    fn new(customers: &[Customer]) -> BgData {
        let mut keys: Vec<(u32, u32, u32)> = customers.iter().filter_map(rounded).collect();
        keys.sort_unstable();
        let n_customers = keys.len() as u64;
        let mut days: Vec<u32> = Vec::new();
        let mut xs: Vec<f64> = Vec::new();
        let mut grouped: Vec<((u32, u32, u32), f64)> = Vec::new();
        let (mut sum_x, mut sum_t) = (0.0, 0.0);
        for k in keys {
            sum_x += k.0 as f64;
            sum_t += k.2 as f64;
            match grouped.last_mut() {
                Some((last, w)) if *last == k => *w += 1.0,
                _ => grouped.push((k, 1.0)),
            }
        }
        for ((_, tx, t), _) in &grouped {
            days.push(*tx);
            days.push(*t);
        }
        days.sort_unstable();
        days.dedup();
        let mut patterns = Vec::with_capacity(grouped.len());
        for ((x, tx, t), w) in grouped {
            if xs.last() != Some(&(x as f64)) {
                xs.push(x as f64);
            }
            let day = |d: u32| days.binary_search(&d).expect("day present") as u32;
            patterns.push(Pattern {
                xi: (xs.len() - 1) as u32,
                txi: day(tx),
                ti: day(t),
                w,
            });
        }
        BgData {
            xs,
            days: days.into_iter().map(|d| d as f64).collect(),
            patterns,
            n_customers,
            sum_x,
            sum_t,
        }
    }

    /// Total log-likelihood at (r, α, a, b).
    fn log_likelihood(&self, r: f64, alpha: f64, a: f64, b: f64) -> f64 {
        let base = -ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) - ln_gamma(b);
        // Per distinct x: (A1 + A2, ln a − ln(b+x−1), r + x).
        let xt: Vec<(f64, f64, f64)> = self
            .xs
            .iter()
            .map(|&x| {
                let c0 = base + ln_gamma(r + x) + ln_gamma(b + x) - ln_gamma(a + b + x);
                let c4 = if x > 0.0 {
                    a.ln() - (b + x - 1.0).ln()
                } else {
                    f64::NEG_INFINITY
                };
                (c0, c4, r + x)
            })
            .collect();
        let ld: Vec<f64> = self.days.iter().map(|&d| (alpha + d).ln()).collect();
        par_chunk_sum(&self.patterns, 16_384, |chunk| {
            let mut s = 0.0;
            for p in chunk {
                let (c0, c4, rx) = xt[p.xi as usize];
                let a3 = -rx * ld[p.ti as usize];
                let ll = if c4 == f64::NEG_INFINITY {
                    a3
                } else {
                    let a4 = c4 - rx * ld[p.txi as usize];
                    if a3 >= a4 {
                        a3 + (a4 - a3).exp().ln_1p()
                    } else {
                        a4 + (a3 - a4).exp().ln_1p()
                    }
                };
                s += p.w * (c0 + ll);
            }
            s
        })
    }
}

/// Log-likelihood of one customer (unrounded) under BG/NBD parameters.
pub fn bgnbd_customer_log_likelihood(r: f64, alpha: f64, a: f64, b: f64, c: &Customer) -> f64 {
    let x = c.x;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let a3 = -(r + x) * (alpha + c.t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + c.t_x).ln();
        let m = a3.max(a4);
        a1 + a2 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
    } else {
        a1 + a2 + a3
    }
}

const LOG_BOUND: f64 = 30.0;

/// Fits BG/NBD by maximum likelihood (see the module documentation). Invalid rows are skipped.
/// With no valid customer, returns r = α = a = b = 1, log-likelihood 0, `converged = false`.
pub fn fit_bgnbd(customers: &[Customer]) -> BgNbd {
    let data = BgData::new(customers);
    let n_patterns = data.patterns.len() as u64;
    if data.patterns.is_empty() {
        return BgNbd {
            r: 1.0,
            alpha: 1.0,
            a: 1.0,
            b: 1.0,
            log_likelihood: 0.0,
            iterations: 0,
            converged: false,
            n_customers: 0,
            n_patterns: 0,
        };
    }
    let weight = data.n_customers as f64;
    let mut objective = |th: &[f64]| -> f64 {
        if th.iter().any(|v| !v.is_finite() || v.abs() > LOG_BOUND) {
            return f64::INFINITY;
        }
        -data.log_likelihood(th[0].exp(), th[1].exp(), th[2].exp(), th[3].exp()) / weight
    };
    // Data-driven scale: mean repeat rate per unit time, so α starts at the right magnitude.
    let rate = if data.sum_x > 0.0 && data.sum_t > 0.0 {
        data.sum_x / data.sum_t
    } else {
        1.0
    };
    let ln_alpha = (1.0 / rate).ln().clamp(-LOG_BOUND + 1.0, LOG_BOUND - 1.0);
    let starts = vec![
        vec![0.0, ln_alpha, 0.0, 0.0],
        vec![
            (0.25f64).ln(),
            ln_alpha + (0.25f64).ln(),
            (0.5f64).ln(),
            (2.0f64).ln(),
        ],
    ];
    let out = minimise(&mut objective, &starts, 0.5);
    BgNbd {
        r: out.x[0].exp(),
        alpha: out.x[1].exp(),
        a: out.x[2].exp(),
        b: out.x[3].exp(),
        log_likelihood: -out.f * weight,
        iterations: out.iterations,
        converged: out.converged,
        n_customers: data.n_customers,
        n_patterns,
    }
}

impl BgNbd {
    /// Total log-likelihood of `customers` (unrounded, invalid rows skipped) at these
    /// parameters.
    pub fn log_likelihood_of(&self, customers: &[Customer]) -> f64 {
        customers
            .iter()
            .filter(|c| {
                c.x.is_finite()
                    && c.x >= 0.0
                    && c.t.is_finite()
                    && c.t >= 0.0
                    && (c.x == 0.0 || c.t_x <= c.t)
            })
            .map(|c| bgnbd_customer_log_likelihood(self.r, self.alpha, self.a, self.b, c))
            .sum()
    }

    /// P(alive | x, t_x, T). 1 when x = 0.
    pub fn p_alive(&self, c: &Customer) -> f64 {
        let x = c.x.round().max(0.0);
        if x == 0.0 {
            return 1.0;
        }
        let ln_odds = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + c.t).ln() - (self.alpha + c.t_x).ln());
        if ln_odds > 0.0 {
            let e = (-ln_odds).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + ln_odds.exp())
        }
    }

    /// E[X(t) | x, t_x, T]: expected purchases in the next `t` time units. 0 for t <= 0; NaN
    /// for a NaN or infinite t. `x` is rounded to a whole number; t_x and T are used as given.
    pub fn expected_purchases(&self, t: f64, c: &Customer) -> f64 {
        if t.is_nan() || t == f64::INFINITY {
            return f64::NAN;
        }
        if t <= 0.0 {
            return 0.0;
        }
        let x = c.x.round().max(0.0);
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let base = alpha + c.t;
        let z = t / (base + t);
        // l = ln(1 − z) = ln((α+T)/(α+T+t)), accurate for small t.
        let l = -(t / base).ln_1p();
        let e = a - 1.0;
        let cc = a + b + x - 1.0;
        // (1 − (1−z)^(a−1)) / (a−1), finite at a = 1.
        let first = if e == 0.0 { -l } else { -(e * l).exp_m1() / e };
        // ₂F₁(cc−r−x, a−1; cc; z) = 1 + ((a−1)/cc) · V.
        let v = hyp2f1_tail(a + b - 1.0 - r, e, cc, z);
        let bracket = cc * first - (e * l).exp() * v;
        (bracket * self.p_alive(c)).max(0.0)
    }

    /// Unconditional E[X(t)] for a customer just acquired (x = 0, t_x = 0, T = 0).
    pub fn expected_purchases_new(&self, t: f64) -> f64 {
        self.expected_purchases(
            t,
            &Customer {
                x: 0.0,
                t_x: 0.0,
                t: 0.0,
                monetary_mean: 0.0,
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Gamma-Gamma

struct GgData {
    /// (x, x · m̄) per customer, for the one per-customer term ln(x m̄ + v).
    rows: Vec<(f64, f64)>,
    /// Distinct x with counts.
    x_counts: Vec<(f64, f64)>,
    n: f64,
    sum_x_ln_m: f64,
    sum_ln_m: f64,
    sum_x_ln_x: f64,
}

impl GgData {
    fn new(customers: &[Customer]) -> GgData {
        let mut rows = Vec::new();
        let (mut sum_x_ln_m, mut sum_ln_m, mut sum_x_ln_x) = (0.0, 0.0, 0.0);
        let mut xs: Vec<u32> = Vec::new();
        for c in customers {
            let x = c.x.round();
            let m = c.monetary_mean;
            if !(x.is_finite() && x >= 1.0 && x <= u32::MAX as f64 && m.is_finite() && m > 0.0) {
                continue;
            }
            rows.push((x, x * m));
            sum_x_ln_m += x * m.ln();
            sum_ln_m += m.ln();
            sum_x_ln_x += x * x.ln();
            xs.push(x as u32);
        }
        xs.sort_unstable();
        let mut x_counts: Vec<(f64, f64)> = Vec::new();
        for x in xs {
            match x_counts.last_mut() {
                Some((v, w)) if *v == x as f64 => *w += 1.0,
                _ => x_counts.push((x as f64, 1.0)),
            }
        }
        GgData {
            n: rows.len() as f64,
            rows,
            x_counts,
            sum_x_ln_m,
            sum_ln_m,
            sum_x_ln_x,
        }
    }

    fn log_likelihood(&self, p: f64, q: f64, v: f64) -> f64 {
        let gam: f64 = self
            .x_counts
            .iter()
            .map(|&(x, w)| w * (ln_gamma(p * x + q) - ln_gamma(p * x)))
            .sum();
        let tail = par_chunk_sum(&self.rows, 16_384, |chunk| {
            chunk.iter().map(|&(x, s)| (p * x + q) * (s + v).ln()).sum()
        });
        gam - self.n * ln_gamma(q) + self.n * q * v.ln() + p * self.sum_x_ln_m - self.sum_ln_m
            + p * self.sum_x_ln_x
            - tail
    }
}

/// Pearson correlation between x and monetary_mean over the customers the Gamma-Gamma fit
/// uses (x >= 1, monetary_mean > 0). None with fewer than two such customers or no variance.
pub fn frequency_monetary_correlation(customers: &[Customer]) -> Option<f64> {
    let rows: Vec<(f64, f64)> = customers
        .iter()
        .filter(|c| {
            c.x.round() >= 1.0
                && c.x.is_finite()
                && c.monetary_mean.is_finite()
                && c.monetary_mean > 0.0
        })
        .map(|c| (c.x.round(), c.monetary_mean))
        .collect();
    if rows.len() < 2 {
        return None;
    }
    let n = rows.len() as f64;
    let mx = rows.iter().map(|r| r.0).sum::<f64>() / n;
    let mm = rows.iter().map(|r| r.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, m) in &rows {
        sxy += (x - mx) * (m - mm);
        sxx += (x - mx) * (x - mx);
        syy += (m - mm) * (m - mm);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Fits the Gamma-Gamma model over customers with x >= 1 and monetary_mean > 0. With none,
/// returns p = q = v = 1, log-likelihood 0, `converged = false`.
pub fn fit_gamma_gamma(customers: &[Customer]) -> GammaGamma {
    let data = GgData::new(customers);
    let correlation = frequency_monetary_correlation(customers);
    if data.rows.is_empty() {
        return GammaGamma {
            p: 1.0,
            q: 1.0,
            v: 1.0,
            log_likelihood: 0.0,
            iterations: 0,
            converged: false,
            n_customers: 0,
            frequency_monetary_correlation: correlation,
        };
    }
    let n = data.n;
    let mean_m = data.rows.iter().map(|&(x, s)| s / x).sum::<f64>() / n;
    let mut objective = |th: &[f64]| -> f64 {
        if th.iter().any(|v| !v.is_finite() || v.abs() > LOG_BOUND) {
            return f64::INFINITY;
        }
        -data.log_likelihood(th[0].exp(), th[1].exp(), th[2].exp()) / n
    };
    let lm = mean_m.ln();
    // Starts with population mean p v / (q − 1) equal to the observed mean.
    let starts = vec![
        vec![0.0, (2.0f64).ln(), lm],
        vec![(5.0f64).ln(), (4.0f64).ln(), lm + (0.6f64).ln()],
    ];
    let out = minimise(&mut objective, &starts, 0.5);
    GammaGamma {
        p: out.x[0].exp(),
        q: out.x[1].exp(),
        v: out.x[2].exp(),
        log_likelihood: -out.f * n,
        iterations: out.iterations,
        converged: out.converged,
        n_customers: data.rows.len() as u64,
        frequency_monetary_correlation: correlation,
    }
}

impl GammaGamma {
    /// E[M | x, m̄] = p (v + x m̄) / (p x + q − 1); for x = 0 the population mean
    /// p v / (q − 1). NaN when undefined (q <= 1 and x = 0).
    pub fn expected_spend(&self, c: &Customer) -> f64 {
        let x = c.x.round().max(0.0);
        let m = if x > 0.0 && c.monetary_mean.is_finite() {
            c.monetary_mean
        } else {
            0.0
        };
        let den = self.p * x + self.q - 1.0;
        if den <= 0.0 {
            return f64::NAN;
        }
        self.p * (self.v + x * m) / den
    }
}

// ---------------------------------------------------------------------------------------------
// CLV

/// Month length used for the CLV steps, in days.
pub const MONTH_DAYS: f64 = 365.25 / 12.0;

/// Discounted expected value over `horizon_days` (see the module documentation). Time units
/// must be days. 0 for a non-positive horizon; NaN for a discount rate <= −1.
pub fn clv(
    bg: &BgNbd,
    gg: &GammaGamma,
    c: &Customer,
    horizon_days: f64,
    annual_discount: f64,
) -> f64 {
    if horizon_days.is_nan() || annual_discount.is_nan() || annual_discount <= -1.0 {
        return f64::NAN;
    }
    if horizon_days <= 0.0 {
        return 0.0;
    }
    let spend = gg.expected_spend(c);
    let steps = (horizon_days / MONTH_DAYS).ceil().max(1.0) as u64;
    let ln_disc = annual_discount.ln_1p();
    let mut total = 0.0;
    let mut prev = 0.0;
    for i in 1..=steps {
        let t_i = (i as f64 * MONTH_DAYS).min(horizon_days);
        let e = bg.expected_purchases(t_i, c);
        total += (e - prev) * spend * (-ln_disc * t_i / 365.25).exp();
        prev = e;
    }
    total
}

/// A profile's purchase summary as computed from its orders by [`summarise`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub profile_id: i64,
    /// Repeat purchase days (purchase days − 1).
    pub frequency: f64,
    /// First to last purchase day, in days.
    pub recency: f64,
    /// First purchase day to as-of, in days.
    pub t: f64,
    /// Mean spend of the repeat purchase days (0 without repeats).
    pub monetary_value: f64,
    /// Purchase days.
    pub purchases: u32,
    /// Net of every order (refunds subtract).
    pub net: f64,
}

/// Per-profile purchase summaries from order rows (`profile_ids[i]`, the epoch second at which
/// the order's day starts `day_starts[i]`, `amounts[i]`), as of the epoch second `as_of`.
///
/// Purchases are days with a positive amount; a day's spend is the sum of its positive amounts
/// (refunds and zero amounts are no purchase, but count in `net`). Profiles without a purchase
/// are left out; the result is ordered by profile id. One sort of the rows, O(n log n), instead
/// of a two-level GROUP BY whose nine million (profile, day) groups spill to disk.
pub fn summarise(profile_ids: &[i64], day_starts: &[f64], amounts: &[f64], as_of: f64) -> Vec<Summary> {
    let mut rows: Vec<(i64, f64, f64)> =
        profile_ids.iter().zip(day_starts).zip(amounts).map(|((&p, &d), &a)| (p, d, a)).collect();
    rows.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let pid = rows[i].0;
        let (mut purchases, mut first, mut last, mut first_spend, mut spend, mut net) = (0u32, 0.0, 0.0, 0.0, 0.0, 0.0);
        while i < rows.len() && rows[i].0 == pid {
            let day = rows[i].1;
            let mut day_spend = 0.0;
            while i < rows.len() && rows[i].0 == pid && rows[i].1.total_cmp(&day).is_eq() {
                let a = rows[i].2;
                net += a;
                if a > 0.0 {
                    day_spend += a;
                }
                i += 1;
            }
            if day_spend > 0.0 {
                if purchases == 0 {
                    first = day;
                    first_spend = day_spend;
                }
                purchases += 1;
                last = day;
                spend += day_spend;
            }
        }
        if purchases > 0 {
            out.push(Summary {
                profile_id: pid,
                frequency: f64::from(purchases - 1),
                recency: (last - first) / 86_400.0,
                t: (as_of - first) / 86_400.0,
                monetary_value: if purchases > 1 { (spend - first_spend) / f64::from(purchases - 1) } else { 0.0 },
                purchases,
                net,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;

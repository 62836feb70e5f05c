//! RFM scoring: recency, frequency and monetary scores 1–5, and the R×F segment map.
//!
//! # Quintile tie rule
//!
//! [`quintile_scores`] never splits equal values across scores. Values are ordered from worst
//! to best (ascending when higher is better, descending for recency where fewer days is
//! better). For a value `v`, `rank_lo` is the number of values strictly worse than `v` (the
//! 0-based position of the first occurrence of `v` in that order), and
//!
//! ```text
//! score(v) = 1 + floor(5 * rank_lo / n)
//! ```
//!
//! so every copy of a value gets the same score, the worst value always scores 1, and a value
//! scores 5 only when at least 80% of the profiles are strictly worse. Consequences: if all
//! values are equal, all score 1; if 60% of the profiles have frequency 0, those all score 1 and
//! the smallest non-zero frequency scores 1 + floor(5 · 0.6) = 4 — scores can skip, the rule
//! prefers stable, explainable scores to evenly sized buckets. NaN is treated as the worst
//! possible value (it scores 1 and counts as worse than every number). O(n log n).
//!
//! # Segment map
//!
//! [`default_segment_map`] is the widely used R×F grid (rows R, columns F), with the grid's
//! "Hibernating" block (R1–2, F1–2) split so that R1 is "Lost":
//!
//! ```text
//!        F=1             F=2                  F=3                  F=4         F=5
//! R=5    New             Potential Loyalists  Potential Loyalists  Champions   Champions
//! R=4    Promising       Potential Loyalists  Potential Loyalists  Loyal       Loyal
//! R=3    About to Sleep  About to Sleep       Need Attention       Loyal       Loyal
//! R=2    Hibernating     Hibernating          At Risk              At Risk     Can't Lose
//! R=1    Lost            Lost                 At Risk              At Risk     Can't Lose
//! ```

use serde::{Deserialize, Serialize};

/// One profile's RFM inputs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmInput {
    /// Days since the last order (lower is better).
    pub recency_days: f64,
    /// Number of orders in the window.
    pub frequency: f64,
    /// Total spend in the window.
    pub monetary: f64,
}

/// Orders `a` before `b` when `a` is worse; NaN is worse than every number.
fn worse_first(a: f64, b: f64, higher_is_better: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Less,
        (false, true) => Greater,
        (false, false) => {
            let o = a.partial_cmp(&b).unwrap_or(Equal);
            if higher_is_better {
                o
            } else {
                o.reverse()
            }
        }
    }
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// Quintile scores 1–5; see the module documentation for the tie rule. `higher_is_better` is
/// true for frequency and monetary, false for recency in days.
pub fn quintile_scores(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    // Stable sort: deterministic, and equal values are adjacent.
    order.sort_by(|&i, &j| worse_first(values[i], values[j], higher_is_better));
    let mut scores = vec![0u8; n];
    let mut start = 0;
    while start < n {
        let v = values[order[start]];
        let mut end = start + 1;
        while end < n && same_value(values[order[end]], v) {
            end += 1;
        }
        // rank_lo = start: the number of values strictly worse than v.
        let score = (1 + (5 * start) / n).min(5) as u8;
        for &i in &order[start..end] {
            scores[i] = score;
        }
        start = end;
    }
    scores
}

/// Scores 1–5 from four fixed thresholds (meant ascending, e.g. `[1, 2, 4, 8]` orders or
/// `[30, 90, 180, 365]` days).
///
/// * higher is better: score = 1 + the number of thresholds `t` with `v >= t`
///   (`v < t1` → 1, `t1 <= v < t2` → 2, …, `v >= t4` → 5);
/// * lower is better: score = 5 − the number of thresholds `t` with `v > t`
///   (`v <= t1` → 5, `t1 < v <= t2` → 4, …, `v > t4` → 1).
///
/// Meeting a threshold exactly counts in the profile's favour either way. NaN scores 1.
pub fn fixed_scores(values: &[f64], thresholds: &[f64; 4], higher_is_better: bool) -> Vec<u8> {
    values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                1
            } else if higher_is_better {
                1 + thresholds.iter().filter(|&&t| v >= t).count() as u8
            } else {
                5 - thresholds.iter().filter(|&&t| v > t).count() as u8
            }
        })
        .collect()
}

/// Parse a fixed-threshold setting: empty (or only spaces) means "use quintiles" (`None`);
/// otherwise exactly four finite numbers separated by commas, strictly ascending.
pub fn parse_thresholds(text: &str) -> Result<Option<[f64; 4]>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(format!("expected four comma-separated numbers, got {}", parts.len()));
    }
    let mut t = [0.0; 4];
    for (slot, part) in t.iter_mut().zip(&parts) {
        *slot = part
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("\"{part}\" is not a finite number"))?;
    }
    if t.windows(2).any(|w| w[0] >= w[1]) {
        return Err("the thresholds must be strictly ascending".into());
    }
    Ok(Some(t))
}

/// Scores 1–5 by fixed thresholds when given, else by quintiles.
pub fn scores(values: &[f64], thresholds: Option<&[f64; 4]>, higher_is_better: bool) -> Vec<u8> {
    match thresholds {
        Some(t) => fixed_scores(values, t, higher_is_better),
        None => quintile_scores(values, higher_is_better),
    }
}

/// A named segment: the inclusive R and F score ranges it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRule {
    pub name: String,
    /// Inclusive R score range (lo, hi).
    pub r: (u8, u8),
    /// Inclusive F score range (lo, hi).
    pub f: (u8, u8),
}

fn rule(name: &str, r: (u8, u8), f: (u8, u8)) -> SegmentRule {
    SegmentRule {
        name: name.to_string(),
        r,
        f,
    }
}

/// The standard R×F segment map (11 segments, a partition of the 25 cells); see the module
/// documentation for the grid.
pub fn default_segment_map() -> Vec<SegmentRule> {
    vec![
        rule("Champions", (5, 5), (4, 5)),
        rule("Loyal", (3, 4), (4, 5)),
        rule("Potential Loyalists", (4, 5), (2, 3)),
        rule("New", (5, 5), (1, 1)),
        rule("Promising", (4, 4), (1, 1)),
        rule("Need Attention", (3, 3), (3, 3)),
        rule("About to Sleep", (3, 3), (1, 2)),
        rule("At Risk", (1, 2), (3, 4)),
        rule("Can't Lose", (1, 2), (5, 5)),
        rule("Hibernating", (2, 2), (1, 2)),
        rule("Lost", (1, 1), (1, 2)),
    ]
}

fn covers(rule: &SegmentRule, r: u8, f: u8) -> bool {
    rule.r.0 <= r && r <= rule.r.1 && rule.f.0 <= f && f <= rule.f.1
}

/// The name of the first rule covering (r, f), if any.
pub fn segment_for(map: &[SegmentRule], r: u8, f: u8) -> Option<&str> {
    map.iter()
        .find(|rule| covers(rule, r, f))
        .map(|rule| rule.name.as_str())
}

/// Checks a segment map: names non-empty, every range within 1..=5 with lo <= hi, and every
/// (R, F) cell of 1..=5 × 1..=5 covered by exactly one rule. Several rules may share a name
/// (a segment that is not a rectangle).
pub fn validate_map(map: &[SegmentRule]) -> Result<(), String> {
    for (i, rule) in map.iter().enumerate() {
        if rule.name.trim().is_empty() {
            return Err(format!("segment rule {} has an empty name", i + 1));
        }
        for (axis, (lo, hi)) in [("R", rule.r), ("F", rule.f)] {
            if !(1..=5).contains(&lo) || !(1..=5).contains(&hi) || lo > hi {
                return Err(format!(
                    "segment \"{}\": {axis} range {lo}-{hi} is not within 1-5 with low <= high",
                    rule.name
                ));
            }
        }
    }
    let mut problems = Vec::new();
    for r in 1..=5u8 {
        for f in 1..=5u8 {
            let names: Vec<&str> = map
                .iter()
                .filter(|rule| covers(rule, r, f))
                .map(|rule| rule.name.as_str())
                .collect();
            match names.len() {
                1 => {}
                0 => problems.push(format!("R{r} F{f} is in no segment")),
                _ => problems.push(format!(
                    "R{r} F{f} is in several segments: {}",
                    names.join(", ")
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The conventional three-digit cell label, e.g. `rfm_cell(5, 4, 5) == "545"`.
pub fn rfm_cell(r: u8, f: u8, m: u8) -> String {
    format!("{r}{f}{m}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_distinct_values() {
        let v: Vec<f64> = (1..=10).map(|i| i as f64).collect();
        assert_eq!(
            quintile_scores(&v, true),
            vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(
            quintile_scores(&v, false),
            vec![5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        );
        // Order of input does not matter.
        let shuffled = [7.0, 2.0, 10.0, 1.0, 5.0];
        assert_eq!(quintile_scores(&shuffled, true), vec![4, 2, 5, 1, 3]);
    }

    #[test]
    fn quintiles_all_equal_same_score() {
        let v = vec![3.5; 1000];
        let s = quintile_scores(&v, true);
        assert!(s.iter().all(|&x| x == 1));
        let s = quintile_scores(&v, false);
        assert!(s.iter().all(|&x| x == 1));
    }

    #[test]
    fn quintiles_many_zeros_never_split() {
        // 60 zeros, then 1..=40.
        let mut v = vec![0.0; 60];
        v.extend((1..=40).map(|i| i as f64));
        let s = quintile_scores(&v, true);
        assert!(s[..60].iter().all(|&x| x == 1));
        // Value 1 has 60 values below it: 1 + floor(5*60/100) = 4.
        assert_eq!(s[60], 4);
        // Value 21 has 80 below: score 5.
        assert_eq!(s[80], 5);
        assert_eq!(*s.iter().max().unwrap(), 5);
        // Ties in the middle: every equal value gets one score.
        let v = [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let s = quintile_scores(&v, true);
        assert_eq!(s, vec![1, 1, 1, 1, 1, 1, 4, 4, 5, 5]);
        for i in 0..v.len() {
            for j in 0..v.len() {
                if v[i] == v[j] {
                    assert_eq!(s[i], s[j]);
                }
                if v[i] < v[j] {
                    assert!(s[i] <= s[j]);
                }
            }
        }
    }

    #[test]
    fn quintiles_recency_ties_and_nan() {
        let v = [10.0, 10.0, 400.0, f64::NAN, 1.0, 30.0];
        let s = quintile_scores(&v, false);
        // Worst first: NaN, 400, 30, 10, 10, 1.
        assert_eq!(s[3], 1);
        assert_eq!(s[2], 1); // 1 + floor(5 * 1 / 6)
        assert_eq!(s[5], 1 + (5 * 2) / 6);
        assert_eq!(s[0], s[1]);
        assert_eq!(s[0], 1 + (5 * 3) / 6);
        assert_eq!(s[4], 1 + (5 * 5) / 6);
        assert!(quintile_scores(&[], true).is_empty());
        assert_eq!(quintile_scores(&[42.0], true), vec![1]);
    }

    #[test]
    fn fixed_threshold_scores() {
        let t = [1.0, 2.0, 4.0, 8.0];
        let v = [0.0, 1.0, 1.5, 2.0, 4.0, 7.9, 8.0, 100.0, f64::NAN];
        assert_eq!(fixed_scores(&v, &t, true), vec![1, 2, 2, 3, 4, 4, 5, 5, 1]);
        let t = [30.0, 90.0, 180.0, 365.0];
        let v = [0.0, 30.0, 31.0, 90.0, 180.0, 200.0, 365.0, 366.0, f64::NAN];
        assert_eq!(fixed_scores(&v, &t, false), vec![5, 5, 4, 4, 3, 2, 2, 1, 1]);
    }

    #[test]
    fn thresholds_parse_and_refuse() {
        assert_eq!(parse_thresholds(""), Ok(None));
        assert_eq!(parse_thresholds("  "), Ok(None));
        assert_eq!(parse_thresholds("30, 90,180 ,365"), Ok(Some([30.0, 90.0, 180.0, 365.0])));
        assert_eq!(parse_thresholds("0.5,1,2.5,1e3"), Ok(Some([0.5, 1.0, 2.5, 1000.0])));
        assert!(parse_thresholds("1,2,3").unwrap_err().contains("four"));
        assert!(parse_thresholds("1,2,3,4,5").unwrap_err().contains("four"));
        assert!(parse_thresholds("1,2,x,4").unwrap_err().contains("\"x\""));
        assert!(parse_thresholds("1,2,NaN,4").is_err());
        assert!(parse_thresholds("1,2,inf,4").is_err());
        assert!(parse_thresholds("1,3,2,4").unwrap_err().contains("ascending"));
        assert!(parse_thresholds("1,2,2,4").unwrap_err().contains("ascending"));
    }

    #[test]
    fn scores_choose_fixed_or_quintile() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(scores(&v, None, true), quintile_scores(&v, true));
        let t = [2.0, 4.0, 6.0, 8.0];
        assert_eq!(scores(&v, Some(&t), true), vec![1, 2, 2, 3, 3, 4, 4, 5, 5, 5]);
        assert_ne!(scores(&v, Some(&t), true), scores(&v, None, true));
    }

    #[test]
    fn default_map_is_a_partition() {
        let map = default_segment_map();
        validate_map(&map).unwrap();
        let mut names: Vec<&str> = map.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 11);
        for r in 1..=5u8 {
            for f in 1..=5u8 {
                let n = map.iter().filter(|rule| covers(rule, r, f)).count();
                assert_eq!(n, 1, "cell R{r} F{f}");
                assert!(segment_for(&map, r, f).is_some());
            }
        }
        let cells: Vec<usize> = [
            "Champions",
            "Loyal",
            "Potential Loyalists",
            "New",
            "Promising",
            "Need Attention",
            "About to Sleep",
            "At Risk",
            "Can't Lose",
            "Hibernating",
            "Lost",
        ]
        .iter()
        .map(|name| {
            let mut c = 0;
            for r in 1..=5 {
                for f in 1..=5 {
                    if segment_for(&map, r, f) == Some(*name) {
                        c += 1;
                    }
                }
            }
            c
        })
        .collect();
        assert_eq!(cells, vec![2, 4, 4, 1, 1, 1, 2, 4, 2, 2, 2]);
        assert_eq!(segment_for(&map, 5, 5), Some("Champions"));
        assert_eq!(segment_for(&map, 5, 1), Some("New"));
        assert_eq!(segment_for(&map, 1, 5), Some("Can't Lose"));
        assert_eq!(segment_for(&map, 1, 1), Some("Lost"));
        assert_eq!(segment_for(&map, 2, 2), Some("Hibernating"));
        assert_eq!(segment_for(&map, 3, 3), Some("Need Attention"));
        assert_eq!(segment_for(&map, 0, 3), None);
        assert_eq!(segment_for(&map, 6, 3), None);
    }

    #[test]
    fn validate_map_reports_problems() {
        let mut map = default_segment_map();
        map.pop(); // drop Lost
        let e = validate_map(&map).unwrap_err();
        assert!(e.contains("R1 F1 is in no segment"), "{e}");
        let mut map = default_segment_map();
        map.push(rule("Extra", (5, 5), (5, 5)));
        let e = validate_map(&map).unwrap_err();
        assert!(
            e.contains("R5 F5 is in several segments: Champions, Extra"),
            "{e}"
        );
        let mut map = default_segment_map();
        map[0].name = " ".into();
        assert!(validate_map(&map).unwrap_err().contains("empty name"));
        let mut map = default_segment_map();
        map[0].r = (5, 6);
        assert!(validate_map(&map).unwrap_err().contains("not within 1-5"));
        let mut map = default_segment_map();
        map[0].f = (5, 4);
        assert!(validate_map(&map).is_err());
        // Two rules sharing a name is fine if the cells partition.
        let mut map = default_segment_map();
        map.retain(|r| r.name != "Champions");
        map.push(rule("Champions", (5, 5), (4, 4)));
        map.push(rule("Champions", (5, 5), (5, 5)));
        validate_map(&map).unwrap();
    }

    #[test]
    fn cell_label() {
        assert_eq!(rfm_cell(5, 4, 5), "545");
        assert_eq!(rfm_cell(1, 1, 1), "111");
    }

    #[test]
    fn serde_round_trip() {
        let map = default_segment_map();
        let json = serde_json::to_string(&map).unwrap();
        let back: Vec<SegmentRule> = serde_json::from_str(&json).unwrap();
        assert_eq!(map, back);
        let i = RfmInput {
            recency_days: 3.0,
            frequency: 2.0,
            monetary: 10.5,
        };
        let back: RfmInput = serde_json::from_str(&serde_json::to_string(&i).unwrap()).unwrap();
        assert_eq!(i, back);
    }
}

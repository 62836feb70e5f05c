//! k-means over standardised numeric features.
//!
//! * [`standardise`] z-scores each column in place (population standard deviation).
//! * [`kmeans`]: greedy k-means++ seeding (D² sampling) from a deterministic seed, then Lloyd
//!   iterations until no label changes or `max_iter` updates. A cluster left empty by an update
//!   is re-seeded with the point farthest from its own centroid (taken from a cluster of two or
//!   more points). Ties (equal distances) keep the row's current cluster if it is among the
//!   nearest, else go to the lowest cluster index (farthest-point ties: lowest row), so the
//!   result depends only on the input and the seed — not on the number of threads used for
//!   the assignment step. Cost O(n · k · d) per iteration.

use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// A k-means result. `labels[i]` is row i's cluster (0-based) and `centroids[j]` cluster j's
/// centre, in the (standardised) feature space of the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub labels: Vec<u32>,
    pub centroids: Vec<Vec<f64>>,
    /// Sum of squared distances of each row to its centroid.
    pub inertia: f64,
    /// Centroid updates performed.
    pub iterations: u32,
    /// True when an assignment step changed no label (a fixed point of Lloyd's algorithm).
    pub converged: bool,
}

impl KMeans {
    /// The nearest centroid for a new row (same features, same standardisation).
    pub fn predict(&self, row: &[f64]) -> u32 {
        nearest(row, &self.centroids.concat(), row.len()).0
    }
}

/// Standardises each column in place to mean 0 and standard deviation 1 (population sd,
/// divide by n) and returns (mean, sd) per column. A column with sd 0 becomes all 0 and its sd
/// is reported as 0. Non-finite values are left as they are and ignored in the statistics
/// (k-means then rejects those rows). Columns are those of the longest row; a shorter row
/// only takes part in the columns it has.
pub fn standardise(rows: &mut [Vec<f64>]) -> Vec<(f64, f64)> {
    let d = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut stats = Vec::with_capacity(d);
    for j in 0..d {
        let (mut n, mut sum) = (0.0f64, 0.0f64);
        for r in rows.iter() {
            if let Some(&v) = r.get(j) {
                if v.is_finite() {
                    n += 1.0;
                    sum += v;
                }
            }
        }
        let mean = if n > 0.0 { sum / n } else { 0.0 };
        let mut ss = 0.0;
        for r in rows.iter() {
            if let Some(&v) = r.get(j) {
                if v.is_finite() {
                    ss += (v - mean) * (v - mean);
                }
            }
        }
        let sd = if n > 0.0 { (ss / n).sqrt() } else { 0.0 };
        for r in rows.iter_mut() {
            if let Some(v) = r.get_mut(j) {
                if v.is_finite() {
                    *v = if sd > 0.0 { (*v - mean) / sd } else { 0.0 };
                }
            }
        }
        stats.push((mean, sd));
    }
    stats
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// (index, squared distance) of the nearest centroid; ties go to the lowest index.
fn nearest(p: &[f64], centroids: &[f64], d: usize) -> (u32, f64) {
    let mut best = (0u32, f64::INFINITY);
    for (j, c) in centroids.chunks_exact(d).enumerate() {
        let e = dist2(p, c);
        if e < best.1 {
            best = (j as u32, e);
        }
    }
    best
}

/// Assigns every point to its nearest centroid; returns how many labels changed.
fn assign(
    points: &[f64],
    d: usize,
    centroids: &[f64],
    labels: &mut [u32],
    dists: &mut [f64],
) -> usize {
    const CHUNK: usize = 8192;
    let work = |pts: &[f64], lab: &mut [u32], dis: &mut [f64]| -> usize {
        let mut changed = 0;
        for ((p, l), e) in pts.chunks_exact(d).zip(lab.iter_mut()).zip(dis.iter_mut()) {
            let (mut j, mut dd) = nearest(p, centroids, d);
            // Exact tie with the current cluster: stay (keeps duplicates apart once split).
            if *l != j && (*l as usize) < centroids.len() / d {
                let own = dist2(p, &centroids[*l as usize * d..(*l as usize + 1) * d]);
                if own == dd {
                    j = *l;
                    dd = own;
                }
            }
            if *l != j {
                changed += 1;
                *l = j;
            }
            *e = dd;
        }
        changed
    };
    let n = labels.len();
    let workers = super::threads().min(n.div_ceil(CHUNK)).max(1);
    if workers == 1 {
        return work(points, labels, dists);
    }
    let per = n.div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = points
            .chunks(per * d)
            .zip(labels.chunks_mut(per))
            .zip(dists.chunks_mut(per))
            .map(|((p, l), e)| s.spawn(move || work(p, l, e)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("k-means worker panicked"))
            .sum()
    })
}

/// Draws one index with probability proportional to `weights` (total > 0).
fn draw(weights: &[f64], total: f64, rng: &mut Rng) -> usize {
    let target = rng.uniform() * total;
    let mut acc = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        acc += w;
        if w > 0.0 && acc >= target {
            return i;
        }
    }
    // Rounding can leave the target just above the running sum: the last positive weight.
    weights.iter().rposition(|&w| w > 0.0).expect("total > 0")
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with the greedy refinement used by
/// scikit-learn): the first centre uniformly at random; each next one by drawing
/// `2 + ⌊ln k⌋` candidates with probability proportional to the squared distance to the
/// nearest centre so far and keeping the candidate that lowers the total squared distance
/// most (first one on ties). When every point coincides with a centre, the lowest-index point
/// not yet chosen is taken.
fn init_plus_plus(points: &[f64], n: usize, d: usize, k: usize, rng: &mut Rng) -> Vec<f64> {
    let row = |i: usize| &points[i * d..(i + 1) * d];
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut chosen: Vec<usize> = vec![rng.below(n as u64) as usize];
    let mut d2: Vec<f64> = points
        .chunks_exact(d)
        .map(|p| dist2(p, row(chosen[0])))
        .collect();
    while chosen.len() < k {
        let total: f64 = d2.iter().sum();
        if total > 0.0 {
            let mut best: Option<(f64, usize, Vec<f64>)> = None;
            for _ in 0..trials {
                let cand = draw(&d2, total, rng);
                let c = row(cand);
                let nd: Vec<f64> = d2
                    .iter()
                    .zip(points.chunks_exact(d))
                    .map(|(e, p)| e.min(dist2(p, c)))
                    .collect();
                let pot: f64 = nd.iter().sum();
                if best.as_ref().is_none_or(|b| pot < b.0) {
                    best = Some((pot, cand, nd));
                }
            }
            let (_, cand, nd) = best.expect("trials >= 2");
            chosen.push(cand);
            d2 = nd;
        } else {
            let next = (0..n).find(|i| !chosen.contains(i)).expect("k <= n");
            chosen.push(next);
            // Every distance is already 0.
        }
    }
    chosen
        .iter()
        .flat_map(|&i| row(i).iter().copied())
        .collect()
}

/// k-means with k-means++ initialisation (see the module documentation).
///
/// Errors: no rows, rows without columns or of different lengths, a non-finite value (the
/// first offending row is named, 0-based), k = 0, or k greater than the number of rows.
pub fn kmeans(rows: &[Vec<f64>], k: usize, seed: u64, max_iter: u32) -> Result<KMeans, String> {
    let n = rows.len();
    if n == 0 {
        return Err("k-means needs at least one row".into());
    }
    if k == 0 {
        return Err("k must be at least 1".into());
    }
    if k > n {
        return Err(format!("k = {k} is greater than the number of rows ({n})"));
    }
    let d = rows[0].len();
    if d == 0 {
        return Err("rows have no columns".into());
    }
    let mut points = Vec::with_capacity(n * d);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != d {
            return Err(format!("row {i} has {} columns, expected {d}", r.len()));
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "row {i} has a non-finite value (NaN or infinity) in column {j}"
            ));
        }
        points.extend_from_slice(r);
    }

    let mut rng = Rng::new(seed);
    let mut centroids = init_plus_plus(&points, n, d, k, &mut rng);
    let mut labels = vec![u32::MAX; n];
    let mut dists = vec![0.0f64; n];
    let mut iterations = 0u32;
    let mut converged = false;
    loop {
        let changed = assign(&points, d, &centroids, &mut labels, &mut dists);
        if changed == 0 {
            converged = true;
            break;
        }
        if iterations >= max_iter {
            break;
        }
        iterations += 1;

        let mut counts = vec![0usize; k];
        for &l in &labels {
            counts[l as usize] += 1;
        }
        // Re-seed empty clusters from the farthest point of a cluster that can spare one.
        for j in 0..k {
            if counts[j] > 0 {
                continue;
            }
            let mut far: Option<usize> = None;
            for i in 0..n {
                if counts[labels[i] as usize] > 1 && far.is_none_or(|f| dists[i] > dists[f]) {
                    far = Some(i);
                }
            }
            let i = far.expect("k <= n leaves a cluster with two or more points");
            counts[labels[i] as usize] -= 1;
            counts[j] = 1;
            labels[i] = j as u32;
            dists[i] = 0.0;
        }
        let mut sums = vec![0.0f64; k * d];
        for (p, &l) in points.chunks_exact(d).zip(&labels) {
            for (s, v) in sums[l as usize * d..(l as usize + 1) * d].iter_mut().zip(p) {
                *s += v;
            }
        }
        for j in 0..k {
            let c = counts[j] as f64;
            for t in 0..d {
                centroids[j * d + t] = sums[j * d + t] / c;
            }
        }
    }
    let inertia = dists.iter().sum();
    Ok(KMeans {
        labels,
        centroids: centroids.chunks_exact(d).map(<[f64]>::to_vec).collect(),
        inertia,
        iterations,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gaussian blobs with unit sd around the given centres; returns rows and true labels.
    fn blobs(centres: &[Vec<f64>], per: usize, sd: f64, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut rows = Vec::new();
        let mut truth = Vec::new();
        // Interleave blobs so that row order carries no information.
        for i in 0..per * centres.len() {
            let b = i % centres.len();
            rows.push(centres[b].iter().map(|c| c + sd * rng.normal()).collect());
            truth.push(b);
        }
        (rows, truth)
    }

    /// True when `labels` equals `truth` up to a permutation of label values.
    fn same_partition(labels: &[u32], truth: &[usize], k: usize) -> bool {
        let mut map: Vec<Option<u32>> = vec![None; k];
        let mut used = std::collections::HashSet::new();
        for (&l, &t) in labels.iter().zip(truth) {
            match map[t] {
                None => {
                    if !used.insert(l) {
                        return false;
                    }
                    map[t] = Some(l);
                }
                Some(m) if m != l => return false,
                _ => {}
            }
        }
        true
    }

    fn four_blobs() -> (Vec<Vec<f64>>, Vec<usize>) {
        let centres = vec![
            vec![0.0, 0.0, 0.0],
            vec![12.0, 0.0, 0.0],
            vec![0.0, 12.0, 0.0],
            vec![0.0, 0.0, 12.0],
        ];
        blobs(&centres, 250, 1.0, 42)
    }

    #[test]
    fn recovers_well_separated_blobs() {
        let (rows, truth) = four_blobs();
        for seed in 0..100 {
            let km = kmeans(&rows, 4, seed, 100).unwrap();
            assert!(km.converged, "seed {seed}");
            assert!(
                same_partition(&km.labels, &truth, 4),
                "seed {seed}: blobs not recovered"
            );
            assert_eq!(km.centroids.len(), 4);
        }
        // Three blobs in 2-D, standardised first.
        let centres = vec![vec![100.0, 5.0], vec![160.0, 5.0], vec![130.0, 25.0]];
        let (mut rows, truth) = blobs(&centres, 300, 1.0, 7);
        standardise(&mut rows);
        let km = kmeans(&rows, 3, 1, 100).unwrap();
        assert!(same_partition(&km.labels, &truth, 3));
    }

    #[test]
    fn inertia_decreases_with_k_elbow_at_four() {
        let (rows, _) = four_blobs();
        let inertia: Vec<f64> = (1..=7)
            .map(|k| kmeans(&rows, k, 3, 200).unwrap().inertia)
            .collect();
        for w in inertia.windows(2) {
            assert!(w[1] < w[0], "{inertia:?}");
        }
        // Big drops up to the true k, small ones after.
        assert!(inertia[3] / inertia[2] < 0.5, "{inertia:?}");
        assert!(inertia[4] / inertia[3] > 0.85, "{inertia:?}");
        // k = n: every point its own centre.
        let small = &rows[..10];
        let km = kmeans(small, 10, 1, 10).unwrap();
        assert!(km.inertia.abs() < 1e-12);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (rows, _) = four_blobs();
        let a = kmeans(&rows, 5, 11, 100).unwrap();
        let b = kmeans(&rows, 5, 11, 100).unwrap();
        assert_eq!(a, b);
        // The predicted label of a training row is its label.
        for (i, r) in rows.iter().enumerate().take(50) {
            assert_eq!(a.predict(r), a.labels[i]);
        }
        // Larger input exercising the threaded assignment: identical runs.
        let centres = vec![vec![0.0, 0.0], vec![5.0, 5.0], vec![-5.0, 5.0]];
        let (rows, _) = blobs(&centres, 20_000, 2.0, 3);
        let a = kmeans(&rows, 3, 5, 50).unwrap();
        let b = kmeans(&rows, 3, 5, 50).unwrap();
        assert_eq!(a, b);
        let total: f64 = rows
            .iter()
            .zip(&a.labels)
            .map(|(r, &l)| dist2(r, &a.centroids[l as usize]))
            .sum();
        assert!((total - a.inertia).abs() < 1e-6 * a.inertia);
    }

    #[test]
    fn errors_are_clean() {
        let rows = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert!(kmeans(&rows, 3, 1, 10)
            .unwrap_err()
            .contains("greater than the number of rows"));
        assert!(kmeans(&rows, 0, 1, 10).unwrap_err().contains("at least 1"));
        assert!(kmeans(&[], 1, 1, 10).is_err());
        let bad = vec![vec![1.0, 2.0], vec![f64::NAN, 4.0]];
        assert_eq!(
            kmeans(&bad, 1, 1, 10).unwrap_err(),
            "row 1 has a non-finite value (NaN or infinity) in column 0"
        );
        let inf = vec![vec![1.0, f64::INFINITY]];
        assert!(kmeans(&inf, 1, 1, 10).is_err());
        let ragged = vec![vec![1.0, 2.0], vec![3.0]];
        assert!(kmeans(&ragged, 1, 1, 10)
            .unwrap_err()
            .contains("row 1 has 1 columns"));
        assert!(kmeans(&[vec![]], 1, 1, 10)
            .unwrap_err()
            .contains("no columns"));
    }

    #[test]
    fn duplicates_and_empty_clusters() {
        // Five identical points and one other, k = 3: seeding runs out of distinct points,
        // and every cluster still ends up non-empty.
        let mut rows = vec![vec![1.0, 1.0]; 5];
        rows.push(vec![9.0, 9.0]);
        let km = kmeans(&rows, 3, 2, 20).unwrap();
        let mut counts = [0; 3];
        for &l in &km.labels {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?} {km:?}");
        assert!(km.inertia.abs() < 1e-12);
        // max_iter = 0: assignment to the seeds only.
        let (rows, _) = four_blobs();
        let km = kmeans(&rows, 4, 1, 0).unwrap();
        assert_eq!(km.iterations, 0);
        assert_eq!(km.labels.len(), rows.len());
    }

    #[test]
    fn standardise_columns() {
        let mut rows = vec![
            vec![1.0, 5.0, 2.0],
            vec![2.0, 5.0, f64::NAN],
            vec![3.0, 5.0, 4.0],
        ];
        let stats = standardise(&mut rows);
        assert_eq!(stats[0].0, 2.0);
        assert!((stats[0].1 - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(stats[1], (5.0, 0.0));
        assert_eq!(stats[2], (3.0, 1.0));
        let col0: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        let m: f64 = col0.iter().sum::<f64>() / 3.0;
        let v: f64 = col0.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 3.0;
        assert!(m.abs() < 1e-15 && (v - 1.0).abs() < 1e-12);
        assert!(rows.iter().all(|r| r[1] == 0.0));
        assert!(rows[1][2].is_nan());
        assert_eq!(rows[0][2], -1.0);
        assert!(standardise(&mut []).is_empty());
    }
}

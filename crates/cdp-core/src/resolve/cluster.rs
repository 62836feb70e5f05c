//! From accepted match edges to profiles: guarded union-find clustering, then stable profile
//! ids across runs with merge/split lineage.
//!
//! Clustering is near-linear (sorting the edges plus union-find with path halving). A purely
//! transitive closure lets one bad edge chain two people's records together, so unions are
//! guarded: a cannot-link pair never ends up in one cluster, no cluster grows beyond
//! `max_size`, and two established clusters (≥ 3 records each) are not fused by a single weak
//! edge (weight < `weak_bridge_weight`). [`cluster_guarded`] adds a conflict guard: two clusters
//! holding different national ids are never fused by edges, even through a record that has none
//! (pairwise scoring alone cannot see that conflict: "elif aydin, 1992-06-15" without an id
//! matches both namesakes).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::strdist::within_one_edit;

/// An accepted match between records `a` and `b` (indices into the batch).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub weight: f64,
}

/// Result of [`cluster`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clustering {
    /// Per record, its cluster index; clusters are numbered in the order of their smallest
    /// record index (so the numbering depends only on the partition).
    pub component: Vec<u32>,
    /// Number of clusters.
    pub clusters: usize,
    /// Edges (and forced links) refused because they would join a cannot-link pair.
    pub rejected_by_cannot_link: usize,
    /// Edges refused because the merged cluster would exceed `max_size`.
    pub rejected_by_max_size: usize,
    /// Pairs of clusters (≥ 3 records each) left apart because a single weak edge joined them.
    pub rejected_weak_bridges: usize,
    /// Edges refused because the two clusters hold conflicting identifiers
    /// ([`cluster_guarded`]).
    pub rejected_by_id_conflict: usize,
    /// Edges refused because the joined cluster would hold two different birth dates, each on
    /// at least two of its records ([`cluster_guarded`]): two people bridged by sparse records.
    pub rejected_by_birth_conflict: usize,
}

/// Minimum size of both clusters for the weak-bridge rule.
pub const WEAK_BRIDGE_MIN_SIZE: u32 = 3;

/// Upper bound on passes over the weak edges (each pass but the last fuses something; real
/// data needs two or three).
const MAX_WEAK_PASSES: usize = 64;

/// Adjacency lists of the weak edges (compressed sparse rows).
struct Csr {
    start: Vec<u32>,
    to: Vec<u32>,
}

impl Csr {
    fn new(n: usize, edges: &[Edge]) -> Csr {
        let mut start = vec![0u32; n + 1];
        for e in edges {
            start[e.a as usize + 1] += 1;
            start[e.b as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut to = vec![0u32; start[n] as usize];
        for e in edges {
            to[fill[e.a as usize] as usize] = e.b;
            fill[e.a as usize] += 1;
            to[fill[e.b as usize] as usize] = e.a;
            fill[e.b as usize] += 1;
        }
        Csr { start, to }
    }

    fn neighbours(&self, x: u32) -> &[u32] {
        &self.to[self.start[x as usize] as usize..self.start[x as usize + 1] as usize]
    }
}

struct Dsu<'a> {
    parent: Vec<u32>,
    /// Circular linked lists of cluster members (splicing two lists is O(1)).
    next: Vec<u32>,
    size: Vec<u32>,
    /// Per root: the cluster's members that have cannot-link partners (few: only where a
    /// steward said "not the same person").
    constrained: HashMap<u32, Vec<u32>>,
    partners: HashMap<u32, Vec<u32>>,
    /// Per root: the distinct conflict ids (national ids) of the cluster's members.
    ids: HashMap<u32, Vec<&'a str>>,
    /// Per root: the birth dates of the cluster's members, with how many hold each.
    births: HashMap<u32, Vec<([u8; 8], u32)>>,
}

impl<'a> Dsu<'a> {
    fn new(n: usize, cannot_link: &[(u32, u32)], conflict_ids: &[Option<&'a str>], births: &[Option<[u8; 8]>]) -> Dsu<'a> {
        let mut partners: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(a, b) in cannot_link {
            if a == b || a as usize >= n || b as usize >= n {
                continue;
            }
            partners.entry(a).or_default().push(b);
            partners.entry(b).or_default().push(a);
        }
        let constrained = partners.keys().map(|&x| (x, vec![x])).collect();
        let ids = conflict_ids
            .iter()
            .take(n)
            .enumerate()
            .filter_map(|(i, v)| v.filter(|s| !s.is_empty()).map(|s| (i as u32, vec![s])))
            .collect();
        let births = births
            .iter()
            .take(n)
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| (i as u32, vec![(b, 1)])))
            .collect();
        Dsu {
            parent: (0..n as u32).collect(),
            next: (0..n as u32).collect(),
            size: vec![1; n],
            constrained,
            partners,
            ids,
            births,
        }
    }

    /// Whether joining roots `ra` and `rb` makes a cluster hold two birth dates that are not a
    /// typo or a day/month swap of each other, each on at least two records, where neither
    /// cluster held both already (a steward's forced link, or an earlier union, accepted them
    /// together): one person's records bridged to another's (namesakes joined through records
    /// without a birth date). A date on one record only may be a typo.
    fn births_conflict(&self, ra: u32, rb: u32) -> bool {
        let (Some(a), Some(b)) = (self.births.get(&ra), self.births.get(&rb)) else {
            return false;
        };
        // A pair of dates neither side held both of has one date only on each side, so its
        // counts in the joined cluster are that side's: a date on two or more records of one
        // side and not on the other, against such a date of the other side. No allocation: this
        // runs for every candidate union.
        fn own<'v>(v: &'v [([u8; 8], u32)], w: &'v [([u8; 8], u32)]) -> impl Iterator<Item = &'v [u8; 8]> {
            v.iter().filter(move |(d, n)| *n >= 2 && !w.iter().any(|(x, _)| x == d)).map(|(d, _)| d)
        }
        own(a, b).any(|x| own(b, a).any(|y| different_births(x, y)))
    }

    /// Whether the clusters of roots `ra` and `rb` hold two ids that differ by more than a
    /// one-character typo.
    fn ids_conflict(&self, ra: u32, rb: u32) -> bool {
        let (Some(a), Some(b)) = (self.ids.get(&ra), self.ids.get(&rb)) else {
            return false;
        };
        a.iter().any(|x| {
            b.iter()
                .any(|y| x != y && !within_one_edit(x.as_bytes(), y.as_bytes()))
        })
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let gp = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = gp;
            x = gp;
        }
        x
    }

    /// Number of edges of `adj` between the clusters of roots `ra` and `rb`, counting up to
    /// `limit` (walks the smaller cluster's members: clusters are bounded by `max_size`).
    fn links_between(&mut self, ra: u32, rb: u32, adj: &Csr, limit: usize) -> usize {
        let (from, other) = if self.size[ra as usize] <= self.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        let mut count = 0;
        let mut x = from;
        loop {
            for &y in adj.neighbours(x) {
                if self.find(y) == other {
                    count += 1;
                    if count >= limit {
                        return count;
                    }
                }
            }
            x = self.next[x as usize];
            if x == from {
                return count;
            }
        }
    }

    /// Whether joining roots `ra` and `rb` keeps every cannot-link pair apart.
    fn may_join(&mut self, ra: u32, rb: u32) -> bool {
        let (la, lb) = (
            self.constrained.get(&ra).map_or(0, Vec::len),
            self.constrained.get(&rb).map_or(0, Vec::len),
        );
        if la == 0 || lb == 0 {
            return true;
        }
        let (from, other) = if la <= lb { (ra, rb) } else { (rb, ra) };
        let members = self.constrained.get(&from).cloned().unwrap_or_default();
        for x in members {
            let ps = self.partners.get(&x).cloned().unwrap_or_default();
            for y in ps {
                if self.find(y) == other {
                    return false;
                }
            }
        }
        true
    }

    fn union(&mut self, ra: u32, rb: u32) {
        // bigger root wins; ties: smaller index (deterministic, though nothing depends on it)
        let (root, child) = if self.size[ra as usize] > self.size[rb as usize]
            || (self.size[ra as usize] == self.size[rb as usize] && ra < rb)
        {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[child as usize] = root;
        self.size[root as usize] += self.size[child as usize];
        self.next.swap(root as usize, child as usize);
        if let Some(mut c) = self.constrained.remove(&child) {
            self.constrained.entry(root).or_default().append(&mut c);
        }
        if let Some(c) = self.births.remove(&child) {
            let into = self.births.entry(root).or_default();
            for (d, n) in c {
                match into.iter_mut().find(|(x, _)| *x == d) {
                    Some(e) => e.1 += n,
                    None => into.push((d, n)),
                }
            }
        }
        if let Some(c) = self.ids.remove(&child) {
            let into = self.ids.entry(root).or_default();
            for v in c {
                if !into.contains(&v) {
                    into.push(v);
                }
            }
        }
    }
}

/// Two birth dates (YYYYMMDD digits) that are neither equal, nor a one-digit typo, nor a
/// day/month swap of each other (as the comparison's "swap_or_typo" level).
fn different_births(a: &[u8; 8], b: &[u8; 8]) -> bool {
    let swapped = a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6];
    a != b && !swapped && !within_one_edit(&a[..], &b[..])
}

/// Guarded clustering of `n` records.
///
/// 1. `forced` links (a steward's "same person") are applied first, in sorted order; they
///    ignore `max_size` but never override a cannot-link (refusing is the reversible choice;
///    such refusals count in `rejected_by_cannot_link`).
/// 2. Strong edges (weight ≥ `weak_bridge_weight`), heaviest first (ties by (a, b)), are unioned
///    unless that would join a cannot-link pair or make a cluster larger than `max_size`.
/// 3. Weak edges, heaviest first, fuse two clusters (same guards) when either has fewer than 3
///    records or at least 2 weak edges connect the two clusters; passes over the weak edges
///    repeat until nothing changes (a union may create a second link between clusters).
///    Otherwise a single weak edge between two clusters of ≥ 3 records is the classic bridge
///    between two people's records and is refused.
///
/// Edges with a non-finite weight and self-loops are ignored.
pub fn cluster(
    n: usize,
    edges: &[Edge],
    cannot_link: &[(u32, u32)],
    forced: &[(u32, u32)],
    max_size: usize,
    weak_bridge_weight: f64,
) -> Clustering {
    cluster_guarded(
        n,
        edges,
        cannot_link,
        forced,
        max_size,
        weak_bridge_weight,
        &[],
        &[],
    )
}

/// [`cluster`] with conflict guards: `conflict_ids[i]` is record i's national id (or empty
/// slice for none), `births[i]` its birth date digits (or empty slice). An edge never joins two
/// clusters holding ids that differ by more than a one-character typo, nor makes a cluster hold
/// two different birth dates each on two or more records (see `Dsu::births_conflict`), unless
/// the edge's own two records hold dates that are alike (any birth-date level but "different":
/// one person's mistyped date, copied onto several records); since edges are taken heaviest first,
/// a chain of two people is cut at its weakest links. Forced links may do either (a steward's
/// decision overrides stored values).
pub fn cluster_guarded(
    n: usize,
    edges: &[Edge],
    cannot_link: &[(u32, u32)],
    forced: &[(u32, u32)],
    max_size: usize,
    weak_bridge_weight: f64,
    conflict_ids: &[Option<&str>],
    births: &[Option<[u8; 8]>],
) -> Clustering {
    let mut dsu = Dsu::new(n, cannot_link, conflict_ids, births);
    // an edge between two records whose own birth dates are alike (not the comparison's
    // "different": equal, a typo or a swap apart, the same day and month or the same year) is
    // one person's mistyped date, whatever other records hold: the birth guard is for bridges
    // through a record without a birth date, or between two dates that differ (a namesake who
    // typed the other's phone)
    let dated = |e: &Edge| {
        matches!((births.get(e.a as usize), births.get(e.b as usize)), (Some(Some(x)), Some(Some(y))) if super::compare::cmp_birth(x, y) != super::levels::BIRTH_DIFFERENT)
    };
    let mut out = Clustering::default();
    let max_size = max_size.max(1) as u64;

    let mut forced: Vec<(u32, u32)> = forced
        .iter()
        .filter(|(a, b)| a != b && (*a as usize) < n && (*b as usize) < n)
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    forced.sort_unstable();
    forced.dedup();
    for (a, b) in forced {
        let (ra, rb) = (dsu.find(a), dsu.find(b));
        if ra == rb {
            continue;
        }
        if dsu.may_join(ra, rb) {
            dsu.union(ra, rb);
        } else {
            out.rejected_by_cannot_link += 1;
        }
    }

    let mut sorted: Vec<Edge> = edges
        .iter()
        .filter(|e| e.a != e.b && e.weight.is_finite() && (e.a as usize) < n && (e.b as usize) < n)
        .map(|e| Edge {
            a: e.a.min(e.b),
            b: e.a.max(e.b),
            weight: e.weight,
        })
        .collect();
    sorted.sort_by(|x, y| {
        y.weight
            .total_cmp(&x.weight)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let split = sorted.partition_point(|e| e.weight >= weak_bridge_weight);
    let (strong, weak) = sorted.split_at(split);

    for e in strong {
        let (ra, rb) = (dsu.find(e.a), dsu.find(e.b));
        if ra == rb {
            continue;
        }
        if !dsu.may_join(ra, rb) {
            out.rejected_by_cannot_link += 1;
        } else if dsu.ids_conflict(ra, rb) {
            out.rejected_by_id_conflict += 1;
        } else if !dated(e) && dsu.births_conflict(ra, rb) {
            out.rejected_by_birth_conflict += 1;
        } else if u64::from(dsu.size[ra as usize]) + u64::from(dsu.size[rb as usize]) > max_size {
            out.rejected_by_max_size += 1;
        } else {
            dsu.union(ra, rb);
        }
    }

    // weak edges: heaviest first; between two clusters of ≥ 3 records a weak edge only fuses
    // them when another weak edge also connects them. Passes repeat while something changes,
    // because a union can turn two earlier single bridges into a double link.
    let adj = Csr::new(n, weak);
    for _pass in 0..MAX_WEAK_PASSES {
        let mut changed = false;
        let (mut weak_rej, mut cl_rej, mut size_rej, mut id_rej, mut birth_rej) = (0, 0, 0, 0, 0);
        for e in weak {
            let (ra, rb) = (dsu.find(e.a), dsu.find(e.b));
            if ra == rb {
                continue;
            }
            let (sa, sb) = (dsu.size[ra as usize], dsu.size[rb as usize]);
            if sa >= WEAK_BRIDGE_MIN_SIZE
                && sb >= WEAK_BRIDGE_MIN_SIZE
                && dsu.links_between(ra, rb, &adj, 2) < 2
            {
                weak_rej += 1;
            } else if !dsu.may_join(ra, rb) {
                cl_rej += 1;
            } else if dsu.ids_conflict(ra, rb) {
                id_rej += 1;
            } else if !dated(e) && dsu.births_conflict(ra, rb) {
                birth_rej += 1;
            } else if u64::from(sa) + u64::from(sb) > max_size {
                size_rej += 1;
            } else {
                dsu.union(ra, rb);
                changed = true;
            }
        }
        if !changed {
            // this pass saw every remaining weak edge between clusters, all refused
            out.rejected_weak_bridges += weak_rej;
            out.rejected_by_cannot_link += cl_rej;
            out.rejected_by_max_size += size_rej;
            out.rejected_by_id_conflict += id_rej;
            out.rejected_by_birth_conflict += birth_rej;
            break;
        }
    }

    let mut index: Vec<u32> = vec![u32::MAX; n];
    out.component = Vec::with_capacity(n);
    for i in 0..n as u32 {
        let r = dsu.find(i) as usize;
        if index[r] == u32::MAX {
            index[r] = out.clusters as u32;
            out.clusters += 1;
        }
        out.component.push(index[r]);
    }
    out
}

/// Kind of a lineage event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LineageKind {
    /// `old_id` no longer exists: its records now belong to `new_id` (an older profile).
    Merge,
    /// `old_id` lives on elsewhere, but `records` of its records now belong to `new_id` (a fresh
    /// id, or an existing profile that they joined).
    Split,
    /// `new_id` is a profile of records that had no profile before.
    New,
}

impl LineageKind {
    pub fn name(self) -> &'static str {
        match self {
            LineageKind::Merge => "merge",
            LineageKind::Split => "split",
            LineageKind::New => "new",
        }
    }
}

/// One lineage event of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    pub kind: LineageKind,
    pub old_id: Option<i64>,
    pub new_id: i64,
    /// Records concerned: the old profile's records in the new one (Merge, Split), or the new
    /// profile's size (New).
    pub records: usize,
}

/// Result of [`assign_stable_ids`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StableIds {
    /// Per record, its profile id.
    pub profile_id: Vec<i64>,
    /// Events in component order, then old id.
    pub lineage: Vec<Lineage>,
}

/// Profile ids that survive re-clustering.
///
/// Every old profile id has a *home*: the new component holding most of its records (ties: the
/// component holding its smallest record id). A component keeps the smallest (oldest) of the old
/// ids whose home it is; the other such ids are merged into it (Merge events). Records of an old
/// profile that went to a component other than its home are split off (Split events), into the
/// component's kept id or, when no old id has its home there, a fresh id from `next_id`. A
/// component with no previous ids at all gets a fresh id (New). Unchanged clusters keep their
/// ids exactly; ids are never reused, and `next_id` is first raised above every previous id.
///
/// `components[i]`, `previous[i]`, `record_ids[i]` describe record i.
pub fn assign_stable_ids(
    components: &[u32],
    previous: &[Option<i64>],
    record_ids: &[i64],
    next_id: &mut i64,
) -> StableIds {
    let n = components.len();
    assert!(
        previous.len() == n && record_ids.len() == n,
        "assign_stable_ids: length mismatch"
    );
    if let Some(max_prev) = previous.iter().flatten().max() {
        *next_id = (*next_id).max(max_prev + 1);
    }
    let k = components
        .iter()
        .map(|&c| c as usize + 1)
        .max()
        .unwrap_or(0);
    let mut size = vec![0usize; k];
    for &c in components {
        size[c as usize] += 1;
    }

    // (old id, component, record id) → parts of each old profile
    let mut recs: Vec<(i64, u32, i64)> = (0..n)
        .filter_map(|i| previous[i].map(|p| (p, components[i], record_ids[i])))
        .collect();
    recs.sort_unstable();
    // (old, comp, records, smallest record id)
    let mut parts: Vec<(i64, u32, usize, i64)> = Vec::new();
    for &(p, c, r) in &recs {
        match parts.last_mut() {
            Some(x) if x.0 == p && x.1 == c => x.2 += 1,
            _ => parts.push((p, c, 1, r)),
        }
    }
    drop(recs);

    let mut keeps: Vec<Vec<i64>> = vec![Vec::new(); k];
    let mut present: Vec<Vec<(i64, usize)>> = vec![Vec::new(); k];
    let mut s = 0;
    while s < parts.len() {
        let mut e = s;
        while e < parts.len() && parts[e].0 == parts[s].0 {
            e += 1;
        }
        let home = parts[s..e]
            .iter()
            .max_by(|x, y| x.2.cmp(&y.2).then(y.3.cmp(&x.3)).then(y.1.cmp(&x.1)))
            .expect("non-empty");
        keeps[home.1 as usize].push(home.0);
        for p in &parts[s..e] {
            present[p.1 as usize].push((p.0, p.2));
        }
        s = e;
    }

    let mut id_of = vec![0i64; k];
    let mut lineage = Vec::new();
    for c in 0..k {
        if size[c] == 0 {
            continue;
        }
        // `keeps` and `present` are filled in old-id order: already sorted
        let id = if let Some(&survivor) = keeps[c].first() {
            survivor
        } else {
            let fresh = *next_id;
            *next_id += 1;
            fresh
        };
        id_of[c] = id;
        if present[c].is_empty() {
            lineage.push(Lineage {
                kind: LineageKind::New,
                old_id: None,
                new_id: id,
                records: size[c],
            });
        }
        for &(old, count) in &present[c] {
            if old == id {
                continue;
            }
            let kind = if keeps[c].contains(&old) {
                LineageKind::Merge
            } else {
                LineageKind::Split
            };
            lineage.push(Lineage {
                kind,
                old_id: Some(old),
                new_id: id,
                records: count,
            });
        }
    }
    StableIds {
        profile_id: components.iter().map(|&c| id_of[c as usize]).collect(),
        lineage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: u32, b: u32, weight: f64) -> Edge {
        Edge { a, b, weight }
    }

    fn triangle(base: u32, w: f64) -> Vec<Edge> {
        vec![
            e(base, base + 1, w),
            e(base + 1, base + 2, w),
            e(base, base + 2, w),
        ]
    }

    #[test]
    fn plain_transitive_clusters() {
        let c = cluster(
            6,
            &[e(0, 1, 30.0), e(1, 2, 30.0), e(4, 5, 30.0)],
            &[],
            &[],
            100,
            20.0,
        );
        assert_eq!(c.component, vec![0, 0, 0, 1, 2, 2]);
        assert_eq!(c.clusters, 3);
        // the numbering does not depend on edge order
        let c2 = cluster(
            6,
            &[e(5, 4, 30.0), e(2, 1, 30.0), e(1, 0, 30.0)],
            &[],
            &[],
            100,
            20.0,
        );
        assert_eq!(c2, c);
    }

    #[test]
    fn cannot_link_guard() {
        // 0-1 strong, 1-2 weaker, but 0 and 2 must stay apart: the heavier edge wins
        let edges = [e(0, 1, 30.0), e(1, 2, 25.0)];
        let c = cluster(3, &edges, &[(0, 2)], &[], 100, 20.0);
        assert_eq!(c.component, vec![0, 0, 1]);
        assert_eq!(c.rejected_by_cannot_link, 1);
        // a forced link cannot override it either
        let c = cluster(3, &[], &[(2, 0)], &[(0, 2)], 100, 20.0);
        assert_eq!(c.component, vec![0, 1, 2]);
        assert_eq!(c.rejected_by_cannot_link, 1);
    }

    #[test]
    fn a_namesake_chain_is_cut_where_two_birth_dates_meet() {
        let d = |s: &str| -> Option<[u8; 8]> { Some(s.as_bytes().try_into().unwrap()) };
        // two people of one name: 0, 1 born 1985-03-01; 2, 3 born 1990-07-12; record 4 has no
        // birth date and weakly matches one record of each (a shared name and city, say)
        let edges = [e(0, 1, 30.0), e(2, 3, 30.0), e(4, 0, 21.5), e(4, 2, 21.0)];
        let births = [d("19850301"), d("19850301"), d("19900712"), d("19900712"), None];
        let c = cluster_guarded(5, &edges, &[], &[], 100, 22.0, &[], &births);
        assert_eq!(c.component[0], c.component[1]);
        assert_eq!(c.component[2], c.component[3]);
        assert_ne!(c.component[0], c.component[2], "{:?}", c.component);
        assert_eq!(c.component[4], c.component[0], "the bridge joins the heavier side");
        assert_eq!(c.rejected_by_birth_conflict, 1);
        // without birth dates the chain joins all five, as before
        assert_eq!(cluster(5, &edges, &[], &[], 100, 22.0).clusters, 1);
        // a typo or a day/month swap is one person's date, and a date on one record only may
        // be a typo: none of these keeps anything apart
        for other in ["19850307", "19850103", "19911231"] {
            let births = [d("19850301"), d("19850301"), d(other), if other == "19911231" { None } else { d(other) }, None];
            let c = cluster_guarded(5, &edges, &[], &[], 100, 22.0, &[], &births);
            assert_eq!(c.clusters, 1, "{other}: {:?}", c.component);
            assert_eq!(c.rejected_by_birth_conflict, 0);
        }
        // a steward's forced link overrides the guard
        let c = cluster_guarded(5, &edges, &[], &[(1, 3)], 100, 22.0, &[], &births);
        assert_eq!(c.clusters, 1);
        // one person's date mistyped in two ways, each copied onto two records ("19850301",
        // "19850412"), and two more records one digit off each ("19850302", "19850402") whose
        // edge joins the two groups: the edge's own dates are alike (one digit apart), so it
        // joins what the guard would keep apart; the chain through the undated record is still
        // cut, and so is an edge whose own dates differ (a namesake who typed the other's phone)
        let births = [d("19850301"), d("19850301"), d("19850412"), d("19850412"), None, d("19850302"), d("19850402")];
        let direct = [e(0, 1, 30.0), e(2, 3, 30.0), e(0, 5, 30.0), e(2, 6, 30.0), e(5, 6, 32.0)];
        let c = cluster_guarded(7, &direct, &[], &[], 100, 22.0, &[], &births);
        assert_eq!(c.component[0], c.component[3], "{:?}", c.component);
        assert_eq!(c.rejected_by_birth_conflict, 0);
        let c = cluster_guarded(5, &edges, &[], &[], 100, 22.0, &[], &births[..5]);
        assert_ne!(c.component[0], c.component[2], "{:?}", c.component);
        assert_eq!(c.rejected_by_birth_conflict, 1);
        let namesake = [e(0, 1, 30.0), e(2, 3, 30.0), e(1, 2, 26.0)];
        let births = [d("19850301"), d("19850301"), d("19900712"), d("19900712"), None];
        let c = cluster_guarded(5, &namesake, &[], &[], 100, 22.0, &[], &births);
        assert_ne!(c.component[0], c.component[2], "{:?}", c.component);
        assert_eq!(c.rejected_by_birth_conflict, 1);
        // the same year, other day and month: alike enough for the edge to decide
        let births = [d("19850301"), d("19850301"), d("19851107"), d("19851107"), None];
        let c = cluster_guarded(5, &namesake, &[], &[], 100, 22.0, &[], &births);
        assert_eq!(c.component[0], c.component[2], "{:?}", c.component);
        assert_eq!(c.rejected_by_birth_conflict, 0);
    }

    #[test]
    fn max_size_guard_and_forced_links() {
        let edges = [e(0, 1, 30.0), e(1, 2, 29.0), e(2, 3, 28.0)];
        let c = cluster(4, &edges, &[], &[], 2, 20.0);
        assert_eq!(c.component, vec![0, 0, 1, 1]);
        assert_eq!(c.rejected_by_max_size, 1);
        // forced links join regardless of size
        let c = cluster(4, &[], &[], &[(0, 3), (1, 3), (2, 1)], 2, 20.0);
        assert_eq!(c.component, vec![0, 0, 0, 0]);
        // edges still respect the cap against a forced cluster
        let c = cluster(4, &[e(0, 3, 30.0)], &[], &[(0, 1), (1, 2)], 3, 20.0);
        assert_eq!(c.component, vec![0, 0, 0, 1]);
        assert_eq!(c.rejected_by_max_size, 1);
    }

    #[test]
    fn single_weak_bridge_between_triangles_refused() {
        let mut edges = triangle(0, 30.0);
        edges.extend(triangle(3, 30.0));
        edges.push(e(2, 3, 19.0)); // one weak edge
        let c = cluster(6, &edges, &[], &[], 100, 22.0);
        assert_eq!(c.component, vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(c.rejected_weak_bridges, 1);
        // a strong edge is enough
        let mut strong = edges.clone();
        strong.pop();
        strong.push(e(2, 3, 25.0));
        assert_eq!(cluster(6, &strong, &[], &[], 100, 22.0).clusters, 1);
    }

    #[test]
    fn two_weak_edges_fuse_and_small_clusters_join() {
        let mut edges = triangle(0, 30.0);
        edges.extend(triangle(3, 30.0));
        edges.push(e(2, 3, 19.0));
        edges.push(e(1, 4, 19.5));
        let c = cluster(6, &edges, &[], &[], 100, 22.0);
        assert_eq!(c.clusters, 1);
        assert_eq!(c.rejected_weak_bridges, 0);
        // a weak edge to a pair (fewer than 3 records) is enough
        let mut edges = triangle(0, 30.0);
        edges.push(e(3, 4, 30.0));
        edges.push(e(2, 3, 19.0));
        assert_eq!(cluster(5, &edges, &[], &[], 100, 22.0).clusters, 1);
        // a chain of weak edges joins: each edge meets a cluster and a singleton
        let chain: Vec<Edge> = (0..9).map(|i| e(i, i + 1, 19.0)).collect();
        let c = cluster(10, &chain, &[], &[], 100, 22.0);
        assert_eq!(c.clusters, 1);
    }

    #[test]
    fn weak_bridge_counted_after_merging() {
        // triangles A={0,1,2} and B={3,4,5} (strong) and a singleton 6. Weak edges: 2-3 (bridge
        // A–B) and 6-5, 6-0: once 6 joins one side, the other edge is a second A–B link.
        let mut edges = triangle(0, 30.0);
        edges.extend(triangle(3, 30.0));
        edges.push(e(2, 3, 19.0));
        edges.push(e(5, 6, 19.9));
        edges.push(e(0, 6, 19.8));
        let c = cluster(7, &edges, &[], &[], 100, 22.0);
        assert_eq!(c.clusters, 1);
    }

    #[test]
    fn national_id_conflict_guard() {
        // 0 and 2 hold different national ids; 1 has none and matches both
        let ids = [
            Some("12345678950"),
            None,
            Some("98765432106"),
            Some("12345678951"),
        ];
        let edges = [e(0, 1, 40.0), e(1, 2, 23.0), e(2, 3, 30.0), e(0, 3, 30.0)];
        let c = cluster_guarded(4, &edges, &[], &[], 100, 22.0, &ids, &[]);
        // 3's id is a one-character typo of 0's: no conflict; 2 conflicts with both
        assert_eq!(c.component, vec![0, 0, 1, 0]);
        assert_eq!(c.rejected_by_id_conflict, 2);
        // without the guard the chain fuses everything
        assert_eq!(cluster(4, &edges, &[], &[], 100, 22.0).clusters, 1);
        // forced links override the guard
        let c = cluster_guarded(4, &[], &[], &[(0, 2)], 100, 22.0, &ids, &[]);
        assert_eq!(c.component, vec![0, 1, 0, 2]);
    }

    #[test]
    fn stable_ids_rerun_identical() {
        let comps = [0, 0, 1, 2, 2];
        let rids = [10, 11, 12, 13, 14];
        let mut next = 1;
        let first = assign_stable_ids(&comps, &[None; 5], &rids, &mut next);
        assert_eq!(first.profile_id, vec![1, 1, 2, 3, 3]);
        assert_eq!(first.lineage.len(), 3);
        assert!(first.lineage.iter().all(|l| l.kind == LineageKind::New));
        let prev: Vec<Option<i64>> = first.profile_id.iter().map(|&p| Some(p)).collect();
        let again = assign_stable_ids(&comps, &prev, &rids, &mut next);
        assert_eq!(again.profile_id, first.profile_id);
        assert!(again.lineage.is_empty());
        assert_eq!(next, 4);
        // a component numbered differently but the same partition: same ids
        let again = assign_stable_ids(&[2, 2, 0, 1, 1], &prev, &rids, &mut next);
        assert_eq!(again.profile_id, first.profile_id);
    }

    #[test]
    fn merge_keeps_oldest_id() {
        let prev = [Some(7), Some(7), Some(3), Some(5), None];
        let mut next = 100;
        let s = assign_stable_ids(&[0, 0, 0, 0, 0], &prev, &[1, 2, 3, 4, 5], &mut next);
        assert_eq!(s.profile_id, vec![3; 5]);
        assert_eq!(
            s.lineage,
            vec![
                Lineage {
                    kind: LineageKind::Merge,
                    old_id: Some(5),
                    new_id: 3,
                    records: 1
                },
                Lineage {
                    kind: LineageKind::Merge,
                    old_id: Some(7),
                    new_id: 3,
                    records: 2
                },
            ]
        );
        assert_eq!(next, 100);
    }

    #[test]
    fn split_keeps_id_on_largest_part() {
        // profile 4 splits 1 / 3 / 1: the part of three keeps it
        let prev = [Some(4); 5];
        let mut next = 10;
        let s = assign_stable_ids(&[0, 1, 1, 1, 2], &prev, &[1, 2, 3, 4, 5], &mut next);
        assert_eq!(s.profile_id, vec![10, 4, 4, 4, 11]);
        assert_eq!(
            s.lineage,
            vec![
                Lineage {
                    kind: LineageKind::Split,
                    old_id: Some(4),
                    new_id: 10,
                    records: 1
                },
                Lineage {
                    kind: LineageKind::Split,
                    old_id: Some(4),
                    new_id: 11,
                    records: 1
                },
            ]
        );
        // a tie: the part with the smallest record id keeps the id
        let mut next = 10;
        let s = assign_stable_ids(&[0, 0, 1, 1], &[Some(4); 4], &[9, 8, 3, 7], &mut next);
        assert_eq!(s.profile_id, vec![10, 10, 4, 4]);
        // next_id is raised above every previous id
        let mut next = 1;
        let s = assign_stable_ids(&[0, 1], &[Some(50), Some(50)], &[1, 2], &mut next);
        assert_eq!(s.profile_id, vec![50, 51]);
        assert_eq!(next, 52);
    }

    #[test]
    fn combined_merge_and_split() {
        // old A=1: records 0..4 (4 records); old B=2: records 4..9 (5 records).
        // new component 0: all of A + one record of B; component 1: the other 4 of B.
        let prev = [
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
        ];
        let comps = [0, 0, 0, 0, 0, 1, 1, 1, 1];
        let rids: Vec<i64> = (100..109).collect();
        let mut next = 3;
        let s = assign_stable_ids(&comps, &prev, &rids, &mut next);
        assert_eq!(s.profile_id, vec![1, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(
            s.lineage,
            vec![Lineage {
                kind: LineageKind::Split,
                old_id: Some(2),
                new_id: 1,
                records: 1
            }]
        );
        assert_eq!(next, 3);
        // A splits 2/2 and B 3/2, with one part of each in the same component.
        let prev = [
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
            Some(2),
        ];
        let comps = [0, 0, 1, 1, 0, 0, 0, 2, 2];
        let mut next = 3;
        let s = assign_stable_ids(&comps, &prev, &rids, &mut next);
        // A: comp 0 has records 100,101 (2), comp 1 has 102,103 (2): tie → comp 0 (record 100)
        // B: comp 0 has 3, comp 2 has 2 → comp 0. Comp 0 keeps min(1,2) = 1, B merges.
        assert_eq!(s.profile_id, vec![1, 1, 3, 3, 1, 1, 1, 4, 4]);
        assert_eq!(
            s.lineage,
            vec![
                Lineage {
                    kind: LineageKind::Merge,
                    old_id: Some(2),
                    new_id: 1,
                    records: 3
                },
                Lineage {
                    kind: LineageKind::Split,
                    old_id: Some(1),
                    new_id: 3,
                    records: 2
                },
                Lineage {
                    kind: LineageKind::Split,
                    old_id: Some(2),
                    new_id: 4,
                    records: 2
                },
            ]
        );
        assert_eq!(next, 5);
    }
}

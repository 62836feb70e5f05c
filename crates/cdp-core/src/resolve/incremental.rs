//! Planning an incremental batch: which keys of the changed (pending) records find neighbours,
//! which are hubs or over the block cap, which groups' pairs are scored again, which records and
//! profiles the batch takes in and which stored edges it keeps. The same decisions a full run
//! makes (`keys::hub_values`, `keys::candidate_pairs_hashed`), taken here once for both the SQL layer
//! (`cdp.resolve_changes`) and the tests that check an incremental batch against a full run.
//! Pure: what is stored is read through [`BatchStore`], which the SQL layer implements over
//! `cdp.record_keys`, `cdp.records` and `cdp.match_edges`, and the tests over maps.

use std::collections::{HashMap, HashSet};

use super::keys::{self, KeyKind};
use super::{record_keys, Config, Rec, GROUP_KINDS};

/// A key value with its kind and how many records hold it.
pub type Held = (KeyKind, String, usize);

/// The keys the pending records hold, by hash, each counted over those records.
pub fn held_keys<'a>(pending: impl IntoIterator<Item = &'a Rec>) -> HashMap<u64, Held> {
    let mut held: HashMap<u64, Held> = HashMap::new();
    for rec in pending {
        for (k, v) in record_keys(rec) {
            held.entry(keys::key_hash(k, &v)).or_insert((k, v, 0)).2 += 1;
        }
    }
    held
}

/// What a batch does with the keys of its pending records.
#[derive(Debug, Default, PartialEq)]
pub struct KeyPlan {
    /// identifiers held by `Config::hub_min_count` records or more: left out of matching
    pub hubs: Vec<Held>,
    /// keys of blocks larger than their kind's cap (`KeyKind::block_cap`): skipped, as a full
    /// run skips them
    pub over_cap: Vec<Held>,
    /// key hashes whose stored holders join the batch as neighbours
    pub neighbour_keys: Vec<u64>,
    /// phone and device groups the pending records join or leave: their pairs are scored again
    pub rescore_keys: HashSet<u64>,
}

/// Whether a key held by `holders` records is a hub (an identifier too many records share).
pub fn is_hub(kind: KeyKind, holders: usize, cfg: &Config) -> bool {
    kind.is_identifier() && holders >= cfg.hub_min_count.max(2)
}

/// Whether a block of `holders` records of this kind is too large to pair.
pub fn over_cap(kind: KeyKind, holders: usize, cfg: &Config) -> bool {
    holders > kind.block_cap(cfg.max_block)
}

/// Plan the keys of a batch. `held`: each key of the pending records with its holders over all
/// records (the pending records' own stored keys are about to be replaced and must not be
/// counted); `old_keys`: the key hashes stored for the pending records (what they held before).
pub fn plan_keys(held: HashMap<u64, Held>, old_keys: &[u64], cfg: &Config) -> KeyPlan {
    let is_group = |h: u64| GROUP_KINDS.contains(&keys::kind_of(h));
    let mut plan = KeyPlan::default();
    let mut usable: HashSet<u64> = HashSet::new();
    for (h, (k, v, n)) in held {
        if is_hub(k, n, cfg) {
            plan.hubs.push((k, v, n));
        } else if over_cap(k, n, cfg) {
            plan.over_cap.push((k, v, n));
        } else {
            usable.insert(h);
        }
    }
    // a group's members weigh each other by whether the group is shared: all of them come into
    // the batch, and the pairs among them are scored again
    for &h in old_keys.iter().filter(|h| is_group(**h)) {
        plan.rescore_keys.insert(h);
        usable.insert(h);
    }
    plan.rescore_keys.extend(usable.iter().copied().filter(|h| is_group(*h)));
    plan.hubs.sort();
    plan.over_cap.sort();
    plan.neighbour_keys = usable.into_iter().collect();
    plan.neighbour_keys.sort_unstable();
    plan
}

/// What a batch plan reads of the stored state: the keys and edges the last runs stored and
/// the records' current profiles. Records deleted since (`gone`) still hold their stored keys
/// and edges until the batch that plans them replaces those.
pub trait BatchStore {
    type Error;
    /// For each hash, how many stored records other than `excluding` hold it.
    fn count_holders(&mut self, hashes: &[u64], excluding: &[i64]) -> Result<HashMap<u64, usize>, Self::Error>;
    /// The distinct key hashes stored for these records.
    fn stored_keys(&mut self, records: &[i64]) -> Result<Vec<u64>, Self::Error>;
    /// The distinct records that hold any of these keys.
    fn holders(&mut self, hashes: &[u64]) -> Result<Vec<i64>, Self::Error>;
    /// The distinct profiles of these records (records without one, or gone, have none).
    fn profiles_of(&mut self, records: &[i64]) -> Result<Vec<i64>, Self::Error>;
    /// The distinct profiles, other than `known`, of the records that stored edges join to these.
    fn profiles_via_edges(&mut self, records: &[i64], known: &[i64]) -> Result<Vec<i64>, Self::Error>;
    /// Take in the batch: every current record that is one of `seeds` or in one of `profiles`;
    /// returns their ids (the SQL layer loads the records here and keeps the last batch loaded).
    fn take_batch(&mut self, seeds: &[i64], profiles: &[i64]) -> Result<Vec<i64>, Self::Error>;
    /// Stored edges of at least `min_weight` between two of `records`.
    fn edges_among(&mut self, records: &[i64], min_weight: f64) -> Result<Vec<(i64, i64, f64)>, Self::Error>;
}

/// An incremental batch, planned.
#[derive(Debug, Default)]
pub struct BatchPlan {
    /// the key decisions ([`plan_keys`])
    pub keys: KeyPlan,
    /// stored records that share a usable key with a pending record
    pub neighbours: Vec<i64>,
    /// the profiles the batch re-clusters
    pub touched: Vec<i64>,
    /// the records it reads: the pending ones, their neighbours and every member of `touched`
    pub batch: Vec<i64>,
    /// stored accepted edges between two unchanged records of the batch: kept, not scored again
    pub stored_edges: Vec<(i64, i64, f64)>,
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Plan a batch of the `pending` (changed or new) records and the `gone` (deleted) records with
/// the profiles they were in.
pub fn plan_batch<S: BatchStore>(
    store: &mut S,
    pending: &[Rec],
    gone: &[(Option<i64>, i64)],
    cfg: &Config,
) -> Result<BatchPlan, S::Error> {
    let pending_ids: Vec<i64> = sorted(pending.iter().map(|r| r.record_id).collect());
    let gone_ids: Vec<i64> = sorted(gone.iter().map(|g| g.1).collect());
    // each key of the changed records, counted over all records as a full run would count it:
    // the changed records' stored keys are about to be replaced, the gone ones' to go
    let mut held = held_keys(pending);
    let hashes: Vec<u64> = held.keys().copied().collect();
    let excluding: Vec<i64> = sorted(pending_ids.iter().chain(&gone_ids).copied().collect());
    for (h, n) in store.count_holders(&hashes, &excluding)? {
        if let Some(e) = held.get_mut(&h) {
            e.2 += n;
        }
    }
    // what the changed and the deleted records held before: the groups (phones, devices) they
    // leave, whose members weigh each other anew
    let old_keys = store.stored_keys(&excluding)?;
    let keys = plan_keys(held, &old_keys, cfg);
    let neighbours = store.holders(&keys.neighbour_keys)?;
    let seeds = sorted(neighbours.iter().chain(&pending_ids).copied().collect());
    // profiles the seeds are in, those that lost a record, and those its stored edges reached (a
    // deleted record may have been the bridge between two of them)
    let mut touched = store.profiles_of(&seeds)?;
    touched.extend(gone.iter().filter_map(|g| g.0));
    touched.extend(store.profiles_via_edges(&gone_ids, &[])?);
    touched = sorted(touched);
    let mut batch = store.take_batch(&seeds, &touched)?;
    // and the profiles that stored edges reach from the batch: an edge a guard refused joins two
    // profiles that stayed apart, and a changed neighbourhood can lift the refusal
    let reached = store.profiles_via_edges(&batch, &touched)?;
    if !reached.is_empty() {
        touched = sorted(touched.into_iter().chain(reached).collect());
        batch = store.take_batch(&seeds, &touched)?;
    }
    let batch = sorted(batch);
    let unchanged: Vec<i64> = batch.iter().copied().filter(|id| pending_ids.binary_search(id).is_err()).collect();
    let stored_edges = store.edges_among(&unchanged, cfg.threshold)?;
    Ok(BatchPlan { keys, neighbours, touched, batch, stored_edges })
}

/// A [`BatchStore`] over maps, as the tables would hold them: for tests, without PostgreSQL.
#[cfg(test)]
pub struct MemStore {
    /// (key hash, record id), as cdp.record_keys
    pub keys: Vec<(u64, i64)>,
    /// current records' profiles, as cdp.records (a new record has none)
    pub profile: HashMap<i64, Option<i64>>,
    /// (record a, record b, weight), as cdp.match_edges
    pub edges: Vec<(i64, i64, f64)>,
}

#[cfg(test)]
impl BatchStore for MemStore {
    type Error = std::convert::Infallible;

    fn count_holders(&mut self, hashes: &[u64], excluding: &[i64]) -> Result<HashMap<u64, usize>, Self::Error> {
        let mut out = HashMap::new();
        for (h, id) in &self.keys {
            if hashes.contains(h) && !excluding.contains(id) {
                *out.entry(*h).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    fn stored_keys(&mut self, records: &[i64]) -> Result<Vec<u64>, Self::Error> {
        let mut out: Vec<u64> = self.keys.iter().filter(|(_, id)| records.contains(id)).map(|(h, _)| *h).collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn holders(&mut self, hashes: &[u64]) -> Result<Vec<i64>, Self::Error> {
        let wanted: HashSet<u64> = hashes.iter().copied().collect();
        Ok(sorted(self.keys.iter().filter(|(h, _)| wanted.contains(h)).map(|(_, id)| *id).collect()))
    }

    fn profiles_of(&mut self, records: &[i64]) -> Result<Vec<i64>, Self::Error> {
        Ok(sorted(records.iter().filter_map(|id| self.profile.get(id).copied().flatten()).collect()))
    }

    fn profiles_via_edges(&mut self, records: &[i64], known: &[i64]) -> Result<Vec<i64>, Self::Error> {
        let ids: HashSet<i64> = records.iter().copied().collect();
        let others = self.edges.iter().flat_map(|&(a, b, _)| [(a, b), (b, a)]).filter(|(a, _)| ids.contains(a)).map(|(_, b)| b);
        let profiles = others.filter_map(|id| self.profile.get(&id).copied().flatten()).filter(|p| !known.contains(p));
        Ok(sorted(profiles.collect()))
    }

    fn take_batch(&mut self, seeds: &[i64], profiles: &[i64]) -> Result<Vec<i64>, Self::Error> {
        let members = self.profile.iter().filter(|(id, p)| seeds.contains(id) || p.is_some_and(|p| profiles.contains(&p)));
        Ok(sorted(members.map(|(id, _)| *id).collect()))
    }

    fn edges_among(&mut self, records: &[i64], min_weight: f64) -> Result<Vec<(i64, i64, f64)>, Self::Error> {
        let ids: HashSet<i64> = records.iter().copied().collect();
        Ok(self.edges.iter().copied().filter(|(a, b, w)| ids.contains(a) && ids.contains(b) && *w >= min_weight).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::Attr;

    fn rec(id: i64, pairs: &[(Attr, &str)]) -> Rec {
        pairs.iter().fold(Rec::new(id), |r, &(a, v)| r.with(a, v))
    }

    fn hash(k: KeyKind, v: &str) -> u64 {
        keys::key_hash(k, v)
    }

    #[test]
    fn hubs_and_large_blocks_are_decided_as_a_full_run_decides_them() {
        let cfg = Config { hub_min_count: 3, max_block: 4, ..Config::default() };
        let pending = [rec(1, &[(Attr::Email, "shared@example.com"), (Attr::LastName, "yilmaz"), (Attr::BirthDate, "1990-01-01")])];
        let mut held = held_keys(&pending);
        assert!(held.values().all(|(_, _, n)| *n == 1));
        let email = hash(KeyKind::Email, "shared@example.com");
        assert!(held.contains_key(&email));
        // over all records: the e-mail is held by 3 (a hub), every other key by 6 (over the cap)
        for (h, e) in held.iter_mut() {
            e.2 = if *h == email { 3 } else { 6 };
        }
        let others: Vec<u64> = held.keys().copied().filter(|h| *h != email).collect();
        let plan = plan_keys(held, &[], &cfg);
        assert_eq!(plan.hubs, vec![(KeyKind::Email, "shared@example.com".to_string(), 3)]);
        assert_eq!(plan.over_cap.len(), others.len());
        assert!(plan.neighbour_keys.is_empty());
        // the same counts one lower are usable: at most the cap pairs, below the hub size
        assert!(!is_hub(KeyKind::Email, 2, &cfg) && !over_cap(KeyKind::Email, 4, &cfg));
        // a hub needs two holders at least, whatever the setting
        assert!(!is_hub(KeyKind::Email, 1, &Config { hub_min_count: 1, ..cfg.clone() }));
        // only identifiers are hubs: a name block is capped, never a hub
        assert!(!is_hub(KeyKind::LastNameBirthYear, 100, &cfg));
    }

    #[test]
    fn a_phone_group_joined_or_left_is_scored_again() {
        let cfg = Config::default();
        let pending = [rec(7, &[(Attr::Phone, "+905321112233"), (Attr::Email, "a@example.com")])];
        let held = held_keys(&pending);
        let new_phone = hash(KeyKind::Phone, "+905321112233");
        let old_phone = hash(KeyKind::Phone, "+905329998877");
        let old_email = hash(KeyKind::Email, "old@example.com");
        let plan = plan_keys(held, &[old_phone, old_email], &cfg);
        // the phone it holds now and the one it held before: both groups come in and are rescored
        assert!(plan.rescore_keys.contains(&new_phone) && plan.rescore_keys.contains(&old_phone));
        assert!(plan.neighbour_keys.contains(&old_phone));
        // an e-mail it no longer holds is no group: its holders are not neighbours any more
        assert!(!plan.rescore_keys.contains(&old_email) && !plan.neighbour_keys.contains(&old_email));
        assert!(plan.neighbour_keys.contains(&hash(KeyKind::Email, "a@example.com")));
    }

    /// The stored state of five records: 1 and 2 one person (profile 10, an edge), 3 and 4
    /// another (profile 20, an edge), and an edge between 2 and 3 that a guard refused (two
    /// profiles); 5 alone (profile 30). Keys as a run stores them.
    fn store(recs: &[Rec]) -> MemStore {
        let profile = [(1, 10), (2, 10), (3, 20), (4, 20), (5, 30)];
        MemStore {
            keys: recs.iter().flat_map(|r| record_keys(r).into_iter().map(move |(k, v)| (keys::key_hash(k, &v), r.record_id))).collect(),
            profile: profile.iter().map(|&(r, p)| (r, Some(p))).collect(),
            edges: vec![(1, 2, 30.0), (3, 4, 30.0), (2, 3, 25.0)],
        }
    }

    fn five() -> Vec<Rec> {
        vec![
            rec(1, &[(Attr::Email, "a@example.com"), (Attr::Phone, "+905321110001")]),
            rec(2, &[(Attr::Email, "a@example.com")]),
            rec(3, &[(Attr::Email, "b@example.com")]),
            rec(4, &[(Attr::Email, "b@example.com"), (Attr::Phone, "+905321110004")]),
            rec(5, &[(Attr::Email, "c@example.com")]),
        ]
    }

    #[test]
    fn a_new_record_brings_its_neighbours_profiles_and_those_their_edges_reach() {
        let mut st = store(&five());
        // a new record 6 with record 1's e-mail
        let new = rec(6, &[(Attr::Email, "a@example.com")]);
        st.profile.insert(6, None);
        let plan = plan_batch(&mut st, std::slice::from_ref(&new), &[], &Config::default()).unwrap();
        assert_eq!(plan.neighbours, vec![1, 2]);
        // profile 10 through the shared e-mail, profile 20 through the refused edge 2-3
        assert_eq!(plan.touched, vec![10, 20]);
        assert_eq!(plan.batch, vec![1, 2, 3, 4, 6]);
        // the edges among unchanged records are kept; 5 is not read at all
        assert_eq!(plan.stored_edges.len(), 3);
    }

    #[test]
    fn a_deleted_record_brings_its_profile_and_those_its_edges_reached() {
        let mut st = store(&five());
        // record 3 deleted: its keys and edges are still stored, its row is gone
        st.profile.remove(&3);
        let plan = plan_batch(&mut st, &[], &[(Some(20), 3)], &Config::default()).unwrap();
        assert!(plan.neighbours.is_empty());
        // its own profile, and profile 10 through its edge to 2
        assert_eq!(plan.touched, vec![10, 20]);
        assert_eq!(plan.batch, vec![1, 2, 4]);
        // the gone record's edges are not kept
        assert_eq!(plan.stored_edges, vec![(1, 2, 30.0)]);
    }

    #[test]
    fn a_changed_record_is_counted_once_and_brings_the_group_it_left() {
        let recs = five();
        let mut st = store(&recs);
        // record 4 moves to record 1's phone; it held its own phone before
        let moved = rec(4, &[(Attr::Email, "b@example.com"), (Attr::Phone, "+905321110001")]);
        let cfg = Config { hub_min_count: 3, ..Config::default() };
        let plan = plan_batch(&mut st, std::slice::from_ref(&moved), &[], &cfg).unwrap();
        let old_phone = keys::key_hash(KeyKind::Phone, "+905321110004");
        let new_phone = keys::key_hash(KeyKind::Phone, "+905321110001");
        assert!(plan.keys.rescore_keys.contains(&old_phone) && plan.keys.rescore_keys.contains(&new_phone));
        // its e-mail is held by 3 and itself: two holders, no hub (its own stored key is not
        // counted again)
        assert!(plan.keys.hubs.is_empty(), "{:?}", plan.keys.hubs);
        assert_eq!(plan.neighbours, vec![1, 3, 4]);
        // its stored edges are not kept (it is scored again); the others among the batch are
        assert!(plan.stored_edges.iter().all(|(a, b, _)| *a != 4 && *b != 4));
        assert!(plan.stored_edges.contains(&(1, 2, 30.0)));
        // a deleted holder is not counted either: with 3 gone and 2 more holders of b@ it is
        // still no hub at three
        st.profile.remove(&3);
        st.keys.push((keys::key_hash(KeyKind::Email, "b@example.com"), 5));
        let plan = plan_batch(&mut st, std::slice::from_ref(&moved), &[(Some(20), 3)], &cfg).unwrap();
        assert!(plan.keys.hubs.is_empty(), "{:?}", plan.keys.hubs);
        st.keys.push((keys::key_hash(KeyKind::Email, "b@example.com"), 2));
        let plan = plan_batch(&mut st, std::slice::from_ref(&moved), &[(Some(20), 3)], &cfg).unwrap();
        assert_eq!(plan.keys.hubs, vec![(KeyKind::Email, "b@example.com".to_string(), 3)]);
    }

    #[test]
    fn a_deleted_record_has_the_group_it_leaves_scored_again() {
        // 1 and 2 are one person on one phone; 5 is someone else who shared that phone, so the
        // phone weighed as shared; 5 is deleted: the phone is no longer shared, and the pairs of
        // its remaining holders are scored again, as a full run would score them
        let recs = vec![
            rec(1, &[(Attr::Email, "a@example.com"), (Attr::Phone, "+905321110001")]),
            rec(2, &[(Attr::Email, "a2@example.com"), (Attr::Phone, "+905321110001")]),
            rec(5, &[(Attr::Email, "c@example.com"), (Attr::Phone, "+905321110001")]),
        ];
        let mut st = store(&recs);
        st.profile.remove(&5);
        let plan = plan_batch(&mut st, &[], &[(Some(30), 5)], &Config::default()).unwrap();
        let phone = keys::key_hash(KeyKind::Phone, "+905321110001");
        assert!(plan.keys.rescore_keys.contains(&phone), "{:?}", plan.keys);
        assert!(plan.neighbours.contains(&1) && plan.neighbours.contains(&2), "{:?}", plan.neighbours);
        assert!(plan.batch.contains(&1) && plan.batch.contains(&2));
    }
}

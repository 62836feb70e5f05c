//! Planning an incremental batch: which keys of the changed (pending) records find neighbours,
//! which are hubs or over the block cap, and which groups' pairs are scored again. The same
//! decisions a full run makes (`keys::hub_values`, `keys::candidate_pairs`), taken here once for
//! both the SQL layer (`cdp.resolve_changes`) and the tests that check an incremental batch
//! against a full run. Pure: the caller counts each key over the stored records.

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
    /// keys of blocks larger than `Config::max_block`: skipped, as a full run skips them
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

/// Whether a block of `holders` records is too large to pair.
pub fn over_cap(holders: usize, cfg: &Config) -> bool {
    holders > cfg.max_block
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
        } else if over_cap(n, cfg) {
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
        assert!(!is_hub(KeyKind::Email, 2, &cfg) && !over_cap(4, &cfg));
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
}

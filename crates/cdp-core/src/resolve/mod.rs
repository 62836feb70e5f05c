//! Identity resolution core (pure Rust: no pgrx, no PostgreSQL; one libc call, `malloc_trim`,
//! in [`release_free_memory`]).
//!
//! Pipeline of [`resolve_batch`], every step usable on its own and on any subset of records
//! (the incremental path matches a batch of changed records against existing ones fetched by
//! blocking key):
//!
//! 1. [`keys`]: blocking keys per record; [`keys::hub_values`] finds identifier values shared by
//!    implausibly many records, which are removed from blocking *and* from comparison;
//! 2. [`keys::candidate_pairs`]: pairs of records sharing a key (blocks over a cap skipped; a
//!    run blocks on the keys' hashes, [`keys::candidate_pairs_hashed`]);
//! 3. [`compare`]: comparison levels per field for each candidate pair;
//! 4. [`model`]: Fellegi–Sunter weights, u from random pairs and m/λ by EM (or a stored model;
//!    hand-set defaults for batches too small to estimate from), name term frequencies;
//! 5. [`cluster`]: guarded union-find over the pairs at or above the threshold, then stable
//!    profile ids with merge/split lineage;
//! 6. [`golden`]: survivorship of each profile's attribute values (called by the SQL layer per
//!    profile).
//!
//! Nothing is quadratic in the number of records: blocking is sort-based with a block cap,
//! scoring is linear in candidate pairs, EM runs over distinct comparison patterns, clustering is
//! union-find. Scoring and preparation run on `Config::threads` threads with deterministic,
//! order-preserving chunking: the same input always gives the same output.

pub mod cluster;
pub mod compare;
pub mod golden;
pub mod incremental;
pub mod keys;
pub mod levels;
pub mod model;
pub mod nicknames;
pub mod strdist;
#[cfg(test)]
mod synth;

use std::collections::HashSet;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::normalise::Attr;

pub use cluster::{
    assign_stable_ids, cluster, cluster_guarded, Clustering, Edge, Lineage, LineageKind, StableIds,
};
pub use compare::{compare, level_names, Field, Levels, Prepared};
pub use golden::{default_rule, default_rules, golden, Rule};
pub use keys::{candidate_pairs, hub_values, phonetic, record_keys, Blocking, KeyKind};
pub use model::{
    em, estimate_u, match_probability, Model, TermFreq, WeightTable, DEFAULT_THRESHOLD,
};

/// One normalised record, as loaded from cdp.records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rec {
    pub record_id: i64,
    pub source_id: i32,
    /// Higher wins in survivorship.
    pub source_priority: i32,
    /// Seconds since the epoch (for "most recent").
    pub updated_at: i64,
    /// Normalised values, in [`Attr::ALL`] order.
    pub values: [Option<String>; 15],
}

impl Rec {
    /// An empty record.
    pub fn new(record_id: i64) -> Rec {
        Rec {
            record_id,
            ..Rec::default()
        }
    }

    /// Builder: set one value (tests, fixtures).
    pub fn with(mut self, a: Attr, v: &str) -> Rec {
        self.values[a.index()] = Some(v.to_string());
        self
    }

    pub fn get(&self, a: Attr) -> Option<&str> {
        self.values[a.index()].as_deref()
    }
}

/// Defaults of the parameters users set (`cdp.max_block_size`, `cdp.max_profile_size`,
/// `cdp.hub_min_records`, `cdp.resolve_threads` start from these).
pub const DEFAULT_MAX_BLOCK: usize = 500;
pub const DEFAULT_MAX_PROFILE_SIZE: usize = 200;
pub const DEFAULT_HUB_MIN_COUNT: usize = 50;
pub const DEFAULT_THREADS: usize = 2;

/// Parameters of a resolution run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Blocks with more records than this are skipped (and reported): ≤ max_block²/2 pairs each.
    pub max_block: usize,
    /// Pairs with a weight at or above this are matches (prior-free bits, see
    /// [`model::DEFAULT_THRESHOLD`]).
    pub threshold: f64,
    /// No profile grows beyond this many records through matching.
    pub max_profile_size: usize,
    /// Edges below this weight are "weak": one alone does not fuse two clusters of ≥ 3 records.
    pub weak_bridge_weight: f64,
    /// Random pairs sampled for u, per field (among the records having the field).
    pub u_sample_pairs: usize,
    /// Seed of the u sample.
    pub seed: u64,
    /// Worker threads for preparation, comparison and the u sample.
    pub threads: usize,
    /// Identifier values held by at least this many records are hubs (excluded from matching).
    pub hub_min_count: usize,
    /// An anonymous id (cookie, device) whose records carry this many different e-mails or
    /// phones is a shared device: excluded from matching, so it never merges its users.
    pub shared_device_identities: usize,
    /// Below this many records the hand-set [`Model::default_model`] is used instead of
    /// estimating u and m (random pairs of a small batch are too often true matches, and EM has
    /// too few pairs).
    pub min_records_for_estimation: usize,
    pub em_max_iter: u32,
    pub em_tol: f64,
    /// Apply the name term-frequency adjustment.
    pub term_frequency: bool,
    /// Whether two different national ids keep records apart, decided when a model is fitted
    /// (`cdp.national_id_trust`).
    pub national_id_trust: model::Trust,
    /// Whether the threshold follows the steward decisions a model was fitted with
    /// (`cdp.threshold_from_labels`, see [`model::learn_threshold`]).
    pub threshold_from_labels: bool,
    /// The posterior match probability a pair needs, when the model has a prior
    /// (`cdp.match_probability`; see [`Model::effective_config`]). None: `threshold` decides.
    /// The library's default is None (the fixed threshold); the extension sets it from its
    /// settings.
    pub match_probability: Option<f64>,
}

impl Config {
    /// Whether a pair of this weight is a match (an edge the clustering may follow).
    pub fn is_match(&self, weight: f64) -> bool {
        weight >= self.threshold
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // ≤ 125k pairs per block; the synthetic million-record batch has no block this big
            // (only a real placeholder or an extremely common name × year would)
            max_block: DEFAULT_MAX_BLOCK,
            threshold: DEFAULT_THRESHOLD,
            // a person has a handful of records per channel; 200 is only reached by chaining
            max_profile_size: DEFAULT_MAX_PROFILE_SIZE,
            // name + birth date (~26 bits) or an identifier + name is "strong"; an identifier
            // alone (22) or name + near date (~21) between two established clusters is not
            weak_bridge_weight: DEFAULT_THRESHOLD + 6.0,
            // per field: a Laplace floor of ~1e-6 (≈ 20 bits) for rare agreements; ~1 s for 9
            // fields on 2 threads
            u_sample_pairs: 1_000_000,
            seed: 0x00C0_FFEE,
            threads: DEFAULT_THREADS,
            // a family shares a phone or an address between a few records, a shop's phone or a
            // placeholder between hundreds
            hub_min_count: DEFAULT_HUB_MIN_COUNT,
            shared_device_identities: 2,
            min_records_for_estimation: 2000,
            // EM runs over distinct comparison patterns (hundreds): iterations are cheap, and
            // sessions where λ tends to 1 converge slowly (~300 iterations)
            em_max_iter: 1000,
            em_tol: 1e-6,
            term_frequency: true,
            national_id_trust: model::Trust::Auto,
            threshold_from_labels: true,
            match_probability: None,
        }
    }
}

/// How far below the match threshold a candidate pair is kept for review
/// (`cdp.review_queue`): the least certain rejections.
pub const REVIEW_MARGIN: f64 = 4.0;

/// Where the model of a run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelSource {
    /// passed in (a stored model)
    Given,
    /// u from random pairs, m and λ by EM on this batch
    Estimated,
    /// [`Model::default_model`] (batch too small to estimate from)
    Default,
}

impl ModelSource {
    pub fn name(self) -> &'static str {
        match self {
            ModelSource::Given => "given",
            ModelSource::Estimated => "estimated",
            ModelSource::Default => "default",
        }
    }
}

/// Counts of a run (for the run report).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub records: usize,
    pub candidate_pairs: usize,
    /// Pairs at or above the threshold.
    pub matched_pairs: usize,
    pub profiles: usize,
    /// Merge lineage events (old profiles absorbed into an older one).
    pub merges: usize,
    /// Split lineage events.
    pub splits: usize,
    pub new_profiles: usize,
    pub skipped_blocks: usize,
    pub hubs: usize,
    pub rejected_by_cannot_link: usize,
    pub rejected_by_max_size: usize,
    pub rejected_weak_bridges: usize,
    pub rejected_by_id_conflict: usize,
    /// Edges the clustering refused because they would join two birth dates each held by
    /// several records (namesake chains).
    pub rejected_by_birth_conflict: usize,
}

/// Everything a run produces for the SQL layer to write.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// Per record, the hashes of its blocking keys ([`keys::key_hash`]; hub values and keys
    /// derived from them removed). [`record_keys`] gives a record's keys as text, before that
    /// removal (so a superset of these).
    pub keys: Vec<Vec<u64>>,
    /// Hub identifier values (kind, value, records), excluded from matching.
    pub hubs: Vec<(KeyKind, String, usize)>,
    /// Shared devices (anonymous id, records, distinct e-mails/phones seen with it), excluded
    /// from matching like hubs.
    pub shared_devices: Vec<(String, usize, usize)>,
    pub skipped_blocks: Vec<(KeyKind, String, usize)>,
    pub pairs_by_kind: Vec<(KeyKind, usize)>,
    /// Accepted pairs (a < b, sorted): weight (term-frequency adjusted) and levels.
    pub edges: Vec<(u32, u32, f64, Levels)>,
    /// Pairs a little below the threshold (within [`REVIEW_MARGIN`] bits), for a steward's
    /// review queue: a full run's only (an incremental run leaves it empty).
    /// The prior log2-odds that two random records of this batch are one person, estimated
    /// from the candidate pairs' weights (full runs; see [`model::all_pairs_prior_log2_odds`]).
    pub prior_log2_odds: Option<f64>,
    /// The match threshold the run used (`cdp.match_threshold`, moved by the steward decisions
    /// of the model, [`Model::effective_config`]).
    pub threshold: f64,
    pub near_misses: Vec<(u32, u32, f64, Levels)>,
    pub model: Model,
    pub model_source: ModelSource,
    /// Safeguards applied to the estimated model ([`model::apply_safeguards`]).
    pub model_notes: Vec<String>,
    /// Per record, its cluster index (see [`Clustering::component`]).
    pub component: Vec<u32>,
    /// Per record, its profile id.
    pub profile_ids: Vec<i64>,
    pub lineage: Vec<Lineage>,
    pub counters: Counters,
    /// Name frequencies counted over the batch (full runs; the store of the incremental path).
    pub term_freq: Option<TermFreq>,
    /// Scoped runs: pairs of unchanged records scored again (see [`Scope::rescore_keys`]), sorted;
    /// their stored edges are replaced by what `edges` holds for them (or dropped).
    pub rescored: Vec<(u32, u32)>,
    /// (phase, seconds), in pipeline order.
    pub timings: Vec<(&'static str, f64)>,
}

/// Whether the matching running in this process should stop (see [`request_stop`]).
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What a thread of a run unwinds with when it stops on request ([`request_stop`]). It is
/// raised with `resume_unwind`, which prints nothing: a stop is no error of the code.
#[derive(Debug)]
pub struct Stopped;

/// Ask the run in progress in this process to stop: the loops over candidate pairs and random
/// pairs ([`compare::for_each_pair`]) then unwind with [`Stopped`] at their next thousand pairs.
/// The extension asks when PostgreSQL has a cancel or a shutdown pending while a full run
/// matches on another thread, so that the cancel does not wait for the matching to end.
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Withdraw a [`request_stop`] (before a run, and after it whatever happened).
pub fn clear_stop() {
    STOP.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// Unwind with [`Stopped`] if a stop was requested.
pub fn stop_point() {
    if STOP.load(std::sync::atomic::Ordering::Relaxed) {
        std::panic::resume_unwind(Box::new(Stopped));
    }
}

/// Join a scoped thread, passing its panic on as it is (a [`Stopped`] prints nothing).
pub fn join_or_unwind<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Hand the allocator's free pages back to the system (glibc's `malloc_trim`). Large temporaries
/// freed by one thread stay in its arena, where the other threads' allocations cannot reuse
/// them, and count towards the process's peak memory until trimmed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free heap pages; it has no preconditions
        unsafe { malloc_trim(0) };
    }
}

/// Map `f` over `items` on up to `threads` threads, in contiguous chunks; the output is in input
/// order whatever the thread count.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    par_chunks(items, threads, |c| c.iter().map(&f).collect())
}

/// Map `f` over up to `threads` contiguous chunks of `items` at once, each on its own thread
/// (one chunk for fewer than 2048 items); the outputs are joined in input order.
pub fn par_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = threads.max(1);
    if threads == 1 || items.len() < 2048 {
        return f(items);
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || f(c)))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(join_or_unwind(h));
        }
        out
    })
}

/// Rounds of u correction / m re-estimation in [`fit_model`].
pub const U_REFINE_ROUNDS: usize = 2;

/// Prepare records for comparison (see [`Prepared`]).
pub fn prepare(recs: &[Rec]) -> Vec<Prepared> {
    let mut p = par_map(recs, DEFAULT_THREADS, Prepared::new);
    compare::mark_shared_phones(&mut p);
    p
}

/// Comparison levels of each pair (indices into `prepared`), in pair order.
pub fn compare_pairs(prepared: &[Prepared], pairs: &[(u32, u32)], threads: usize) -> Vec<Levels> {
    par_chunks(pairs, threads, |chunk| {
        let mut out = Vec::with_capacity(chunk.len());
        compare::for_each_pair(prepared, chunk, |a, b| out.push(compare(a, b)));
        out
    })
}

/// Term-frequency u of a pair whose names agree exactly.
fn tf_u(tf: Option<&TermFreq>, p: &Prepared, lv: &Levels) -> Option<f64> {
    match (tf, lv.get(Field::Name)) {
        (Some(tf), Some(levels::NAME_EXACT)) => tf.u(&p.name_key),
        _ => None,
    }
}

/// Compare and weigh each pair: (a, b, weight, levels), in pair order, on [`DEFAULT_THREADS`]
/// threads (the tests' entry point; a run uses `Config::threads`). `tf` enables the name term-frequency adjustment.
pub fn score_pairs(
    prepared: &[Prepared],
    pairs: &[(u32, u32)],
    model: &Model,
    tf: Option<&TermFreq>,
) -> Vec<(u32, u32, f64, Levels)> {
    let table = model.table();
    par_map(pairs, DEFAULT_THREADS, |&(a, b)| {
        let lv = compare(&prepared[a as usize], &prepared[b as usize]);
        (
            a,
            b,
            table.weight(&lv, tf_u(tf, &prepared[a as usize], &lv)),
            lv,
        )
    })
}

/// The hubs among the values these records hold (what `apply_hubs` leaves out for them), each
/// once, as (kind, records holding it).
pub fn held_hubs(keys: &[Vec<(KeyKind, String)>], hubs: &[(KeyKind, String, usize)]) -> Vec<(KeyKind, usize)> {
    hubs.iter()
        .filter(|(k, v, _)| keys.iter().any(|ks| ks.iter().any(|(kk, vv)| kk == k && vv == v)))
        .map(|(k, _, n)| (*k, *n))
        .collect()
}

/// Remove hub values: from the keys (with the keys derived from them) and from the prepared
/// records (so a shared placeholder is no evidence either).
pub fn apply_hubs(
    keys: &mut [Vec<(KeyKind, String)>],
    prepared: &mut [Prepared],
    hubs: &[(KeyKind, String, usize)],
) {
    apply_hubs_by(keys, prepared, hubs, |(k, v)| keys::key_hash(*k, v));
}

/// [`apply_hubs`] over keys already hashed ([`keys::hash_keys`]): a hash says its key's kind.
pub fn apply_hubs_hashed(hashed: &mut [Vec<u64>], prepared: &mut [Prepared], hubs: &[(KeyKind, String, usize)]) {
    apply_hubs_by(hashed, prepared, hubs, |h| *h);
}

/// [`apply_hubs`] over any form of the keys that gives each key's hash.
fn apply_hubs_by<K>(keys: &mut [Vec<K>], prepared: &mut [Prepared], hubs: &[(KeyKind, String, usize)], hash: impl Fn(&K) -> u64) {
    if hubs.is_empty() {
        return;
    }
    let set: HashSet<u64> = hubs.iter().map(|(k, v, _)| keys::key_hash(*k, v)).collect();
    for (ks, p) in keys.iter_mut().zip(prepared.iter_mut()) {
        let hit: Vec<KeyKind> = ks.iter().map(&hash).filter(|h| set.contains(h)).map(keys::kind_of).collect();
        if hit.is_empty() {
            continue;
        }
        ks.retain(|key| {
            let k = keys::kind_of(hash(key));
            !hit.iter().any(|h| *h == k || h.derived().contains(&k))
        });
        for h in hit {
            let f = match h {
                KeyKind::Email => Field::Email,
                KeyKind::Phone => Field::Phone,
                KeyKind::NationalId => Field::NationalId,
                KeyKind::ExternalId => Field::ExternalId,
                KeyKind::AnonymousId => Field::AnonymousId,
                _ => continue,
            };
            p.clear(f);
        }
    }
}

/// Anonymous ids seen with at least `min_identities` different e-mails or phones: devices
/// shared by several people (a family tablet, a shop kiosk). Returns (anonymous id, records,
/// identities), sorted by anonymous id. Linear: one hash map over the records holding one.
pub fn shared_devices(prepared: &[Prepared], min_identities: usize) -> Vec<(String, usize, usize)> {
    use std::collections::HashMap;
    let mut seen: HashMap<&str, (usize, HashSet<&str>, HashSet<&[u8]>)> = HashMap::new();
    for p in prepared {
        let Some(anon) = p.anonymous_id.as_deref() else { continue };
        let e = seen.entry(anon).or_default();
        e.0 += 1;
        if let Some(k) = p.email_key.as_deref() {
            e.1.insert(k);
        }
        if let Some(ph) = p.phone.as_deref() {
            e.2.insert(ph);
        }
    }
    let mut out: Vec<(String, usize, usize)> = seen
        .into_iter()
        .filter(|(_, (_, emails, phones))| emails.len().max(phones.len()) >= min_identities)
        .map(|(a, (n, emails, phones))| (a.to_string(), n, emails.len().max(phones.len())))
        .collect();
    out.sort();
    out
}

/// Choose the model of a run: the given one if compatible, else defaults for small batches, else
/// u from random pairs + EM training sessions over the candidate pairs' levels
/// ([`model::estimate_m`]) + safeguards. `sure`: the steward's same-person pairs, counted as
/// sure matches; `sure_candidates`: those of them that are also among `levels` (counted once, as
/// sure matches).
pub fn fit_model(
    prepared: &[Prepared],
    levels: &[Levels],
    sure: &[Levels],
    sure_candidates: &[Levels],
    cfg: &Config,
    given: Option<&Model>,
) -> (Model, ModelSource, Vec<String>) {
    if let Some(m) = given.filter(|m| m.is_compatible()) {
        return (m.clone(), ModelSource::Given, Vec::new());
    }
    let mut notes = Vec::new();
    if given.is_some() {
        notes.push("given model has the wrong shape: ignored".to_string());
    }
    if prepared.len() < cfg.min_records_for_estimation || levels.is_empty() {
        return (default_model(cfg), ModelSource::Default, notes);
    }
    let samples = model::sample_u_patterns(prepared, cfg.u_sample_pairs, cfg.seed);
    let mut u = model::laplace_u(&samples);
    let all_pats = model::patterns(levels);
    let pats = model::without_pairs(all_pats.clone(), sure_candidates);
    let (mut m, mut session_notes) =
        model::estimate_m_patterns(&pats, sure, &u, cfg.em_max_iter, cfg.em_tol);
    // u counted from random pairs includes their few true matches; alternate u correction and
    // m estimation (two rounds settle it: the correction only moves rare agreement levels)
    // The national id's trust is decided from the sure matches among the candidate pairs; an
    // untrusted id's m of disagreement is what the u correction judges random pairs by (EM's own
    // estimate is no guide, see `Model::decide_trust`), or a pair of one person's copies agreeing
    // on the address but with other ids is counted as two people, and u of the address with it.
    let observed = model::id_disagreement_of_sure_matches(&all_pats);
    let mut shares = Vec::new();
    for _ in 0..U_REFINE_ROUNDS {
        m.decide_trust(cfg.national_id_trust, observed.map(|(share, _)| share));
        (u, shares) = model::refine_u(&samples, &m.m, &u, cfg.em_max_iter, 1e-4);
        (m, session_notes) = model::estimate_m_patterns(&pats, sure, &u, cfg.em_max_iter, cfg.em_tol);
    }
    notes.extend(session_notes);
    if !sure.is_empty() {
        notes.push(format!("m estimated with {} steward decisions (same person) counted as sure matches", sure.len()));
    }
    if let Some(max) = shares.iter().copied().reduce(f64::max) {
        notes.push(format!(
            "u corrected for matches among random pairs (largest share {max:.2e})"
        ));
    }
    drop(all_pats);
    m.decide_trust(cfg.national_id_trust, observed.map(|(share, _)| share));
    notes.push(format!(
        "national id {}: {} (cdp.national_id_trust = {})",
        if m.national_id_trusted { "trusted (a conflict keeps records apart)" } else { "not trusted (a conflict is evidence)" },
        match observed {
            Some((share, pairs)) => format!("ids differ in {share:.3} of {pairs} pairs agreeing on name, birth date and address"),
            None => "too few pairs agree on name, birth date and address to judge (EM's estimate is no guide)".to_string(),
        },
        cfg.national_id_trust.name()
    ));
    notes.extend(model::apply_safeguards(&mut m));
    (m, ModelSource::Estimated, notes)
}

/// [`Model::default_model`], with the national id's trust as `cfg` says (auto: trusted, the
/// default model's ids rarely disagree).
pub fn default_model(cfg: &Config) -> Model {
    let mut m = Model::default_model();
    m.decide_trust(cfg.national_id_trust, None);
    model::apply_safeguards(&mut m);
    m
}

/// What an incremental run knows about the records it does not load: the same pipeline as a
/// full run, with the statistics that a full run counts over its batch taken from the whole
/// data instead, and the accepted edges between unchanged records taken as stored.
///
/// The batch of an incremental run is: the changed (pending) records, every record sharing a
/// usable blocking key with one of them, and all members of the profiles these belong to. So
/// it is closed: every profile it touches is loaded whole, and the only pairs whose outcome can
/// differ from the last run are those with a pending record.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Per record: changed since the last run. Only pairs with at least one pending record are
    /// blocked and scored; the others' edges are in `stored_edges`.
    pub pending: Vec<bool>,
    /// Hub values and shared devices over all records (`cdp.hubs`), removed like those found
    /// in the batch.
    pub hubs: Vec<(KeyKind, String, usize)>,
    /// Keys whose block over all records is larger than the cap: skipped, as a full run would.
    pub over_cap: Vec<(KeyKind, String, usize)>,
    /// Name frequencies over all records (the term-frequency adjustment).
    pub term_freq: Option<TermFreq>,
    /// Accepted edges between two records that are not pending (indices into the batch).
    pub stored_edges: Vec<Edge>,
    /// Hashes of the phone and anonymous-id keys a pending record holds or held: whether a phone
    /// is shared by several people ([`compare::mark_shared_phones`]) or a device by several
    /// identities ([`shared_devices`]) is counted over its whole group, so a record joining or
    /// leaving the group can change the weight of pairs of unchanged records in it. Those pairs
    /// are scored again (all holders are in the batch), and their stored edges are not used.
    pub rescore_keys: HashSet<u64>,
}

/// Key kinds whose group statistics can change the weight of a pair of unchanged records.
pub const GROUP_KINDS: [KeyKind; 2] = [KeyKind::Phone, KeyKind::AnonymousId];

/// What a run matches: the records and what is known of them beyond their values.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub recs: &'a [Rec],
    /// Record i's profile id from the last run (None for new records).
    pub previous_profile: &'a [Option<i64>],
    /// Steward decisions as record index pairs: not the same person ...
    pub cannot_link: &'a [(u32, u32)],
    /// ... and the same person.
    pub forced: &'a [(u32, u32)],
    /// A stored model to use instead of estimating one.
    pub model: Option<&'a Model>,
    /// `None` for a full run, else what an incremental run knows of the data beyond its batch
    /// (see [`Scope`]). One implementation of matching serves both.
    pub scope: Option<&'a Scope>,
}

impl<'a> Batch<'a> {
    /// A full run's batch without steward decisions or a stored model.
    pub fn new(recs: &'a [Rec], previous_profile: &'a [Option<i64>]) -> Batch<'a> {
        Batch { recs, previous_profile, cannot_link: &[], forced: &[], model: None, scope: None }
    }
}

/// Resolve a batch: keys → hubs → blocking → comparison → model → scoring → threshold →
/// clustering → stable ids: [`block_batch`], then [`match_batch`]. `next_id`: the next unused
/// profile id (advanced past the ids handed out).
pub fn resolve_batch(batch: &Batch<'_>, cfg: &Config, next_id: &mut i64) -> Outcome {
    let blocked = block_batch(batch.recs, cfg, batch.scope);
    match_batch(blocked, batch, cfg, next_id)
}

/// The first half of a run ([`block_batch`]): each record prepared for comparison, its
/// blocking keys, the hubs, and the candidate pairs. A caller may take `keys` away (to store
/// them while [`match_batch`] runs on another thread); the outcome then holds none.
pub struct Blocked {
    /// Per record, the hashes of its blocking keys ([`keys::key_hash`]; hub values and keys
    /// derived from them removed).
    pub keys: Vec<Vec<u64>>,
    prepared: Vec<Prepared>,
    hubs: Vec<(KeyKind, String, usize)>,
    shared_devices: Vec<(String, usize, usize)>,
    blocking: Blocking,
    rescored: HashSet<(u32, u32)>,
    timings: Vec<(&'static str, f64)>,
}

/// Prepare, key, find the hubs and block a batch (see [`resolve_batch`]).
pub fn block_batch(recs: &[Rec], cfg: &Config, scope: Option<&Scope>) -> Blocked {
    if let Some(sc) = scope {
        assert_eq!(sc.pending.len(), recs.len(), "one pending flag per record");
    }
    let threads = cfg.threads.max(1);
    let mut timings: Vec<(&'static str, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let mut prepared = par_map(recs, threads, Prepared::new);
    compare::mark_shared_phones(&mut prepared);
    // Blocking needs the keys' hashes only: a record's key texts (12.6M at a million
    // registry-style records, about 700 MB together) are dropped as soon as they are hashed.
    // The few values reported (hubs, blocks over the cap) are found again from a record.
    let mut hashed: Vec<Vec<u64>> = par_map(recs, threads, |r| keys::hash_keys(&record_keys(r)));
    let value_of = |i: usize, h: u64| keys::find_value(&record_keys(&recs[i]), h);
    lap("prepare", &mut timings);

    let mut hubs = hub_values(&hashed, &KeyKind::IDENTIFIERS, cfg.hub_min_count.max(2), value_of);
    if let Some(sc) = scope {
        // a value frequent in the batch is frequent in the whole data: the union
        let known: HashSet<(KeyKind, &str)> = hubs.iter().map(|(k, v, _)| (*k, v.as_str())).collect();
        let extra: Vec<_> = sc.hubs.iter().filter(|(k, v, _)| !known.contains(&(*k, v.as_str()))).cloned().collect();
        hubs.extend(extra);
    }
    apply_hubs_hashed(&mut hashed, &mut prepared, &hubs);
    let shared_devices = shared_devices(&prepared, cfg.shared_device_identities.max(2));
    let shared_as_hubs: Vec<(KeyKind, String, usize)> =
        shared_devices.iter().map(|(v, n, _)| (KeyKind::AnonymousId, v.clone(), *n)).collect();
    apply_hubs_hashed(&mut hashed, &mut prepared, &shared_as_hubs);
    lap("hubs", &mut timings);

    let over_cap: HashSet<u64> =
        scope.map(|sc| sc.over_cap.iter().map(|(k, v, _)| keys::key_hash(*k, v)).collect()).unwrap_or_default();
    let mut blocking = keys::candidate_pairs_hashed(&hashed, cfg.max_block, &over_cap, value_of);
    let mut rescored: HashSet<(u32, u32)> = HashSet::new();
    if let Some(sc) = scope {
        // pairs of two unchanged records were decided by the last run: their edges are stored,
        // unless they share a group a pending record joined or left
        let groups: Vec<Vec<u64>> = hashed
            .iter()
            .map(|hs| hs.iter().copied().filter(|h| sc.rescore_keys.contains(h)).collect())
            .collect();
        blocking.pairs.retain(|&(a, b)| {
            if sc.pending[a as usize] || sc.pending[b as usize] {
                return true;
            }
            let again = groups[a as usize].iter().any(|h| groups[b as usize].contains(h));
            if again {
                rescored.insert((a, b));
            }
            again
        });
        // reported as a full run reports them
        blocking.skipped_blocks.extend(sc.over_cap.iter().filter(|(k, _, n)| k.reported_when_skipped(*n, cfg.max_block)).cloned());
    }
    lap("blocking", &mut timings);

    Blocked { keys: hashed, prepared, hubs, shared_devices, blocking, rescored, timings }
}

/// The second half of a run: compare the candidate pairs of [`block_batch`], fit or take the
/// model, score, cluster and give stable ids (arguments as for [`resolve_batch`]).
pub fn match_batch(blocked: Blocked, batch: &Batch<'_>, cfg: &Config, next_id: &mut i64) -> Outcome {
    let &Batch { recs, previous_profile, cannot_link, forced, model, scope } = batch;
    assert_eq!(
        recs.len(),
        previous_profile.len(),
        "one previous profile per record"
    );
    let Blocked { keys, prepared, hubs, shared_devices, blocking, rescored, mut timings } = blocked;
    let threads = cfg.threads.max(1);
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    let levels = compare_pairs(&prepared, &blocking.pairs, threads);
    lap("compare", &mut timings);

    let (mut model, model_source, mut model_notes) = match (scope, model) {
        // a part of the data is no sample to estimate from
        (Some(_), None) => (default_model(cfg), ModelSource::Default, Vec::new()),
        _ => {
            // the steward's same-person decisions inform m (u stays from random pairs: the
            // decided different-person pairs were chosen near the threshold, no sample of strangers)
            let usable = forced.iter().filter(|(a, b)| a != b && (*a as usize) < prepared.len() && (*b as usize) < prepared.len());
            let sure: Vec<Levels> = usable.clone().map(|&(a, b)| compare(&prepared[a as usize], &prepared[b as usize])).collect();
            // the decided pairs that are candidates too: counted once, as sure matches
            let sure_candidates: Vec<Levels> = usable
                .filter_map(|&(a, b)| blocking.pairs.binary_search(&(a.min(b), a.max(b))).ok())
                .map(|i| levels[i])
                .collect();
            fit_model(&prepared, &levels, &sure, &sure_candidates, cfg, model)
        }
    };

    let tf = cfg.term_frequency.then(|| match scope {
        Some(sc) => sc.term_freq.clone().unwrap_or_default(),
        None => TermFreq::from_prepared(&prepared),
    });
    let table = model.table();
    let idx: Vec<usize> = (0..levels.len()).collect();
    let weights: Vec<f64> = par_map(&idx, threads, |&i| {
        let (a, _) = blocking.pairs[i];
        let lv = &levels[i];
        table.weight(lv, tf_u(tf.as_ref(), &prepared[a as usize], lv))
    });
    drop(idx);
    // a model fitted now on the whole data learns how likely two random records are one person:
    // the prior of the posterior threshold (cdp.match_probability)
    if model_source == ModelSource::Estimated && scope.is_none() {
        model.prior_log2_odds = model::all_pairs_prior_log2_odds(&weights, recs.len());
        if let Some(l) = model.prior_log2_odds {
            model_notes.push(format!("a random pair of records is one person at odds 2^{l:.2}"));
        }
    }
    // a model fitted now learns the threshold from the steward decisions among these records
    if model_source == ModelSource::Estimated {
        let n = prepared.len();
        let labels: Vec<(f64, bool)> = forced
            .iter()
            .map(|p| (p, true))
            .chain(cannot_link.iter().map(|p| (p, false)))
            .filter(|((a, b), _)| a != b && (*a as usize) < n && (*b as usize) < n)
            .map(|(&(a, b), same)| {
                let (pa, pb) = (&prepared[a as usize], &prepared[b as usize]);
                let lv = compare(pa, pb);
                (table.weight(&lv, tf_u(tf.as_ref(), pa, &lv)), same)
            })
            .collect();
        let base = model.base_config(cfg).threshold;
        if let Some(fit) = model::learn_threshold(&labels, base) {
            model.labels = fit.labels as u32;
            model.label_threshold_offset = fit.threshold - base;
            model_notes.push(format!(
                "{} steward decisions: threshold {:+.2} bits; on them precision {:.3} -> {:.3}, recall {:.3} -> {:.3}",
                fit.labels, model.label_threshold_offset, fit.before.0, fit.after.0, fit.before.1, fit.after.1
            ));
        }
    }
    let effective = model.effective_config(cfg);
    let cfg = &effective;
    lap("model", &mut timings);
    let edges: Vec<(u32, u32, f64, Levels)> = blocking
        .pairs
        .iter()
        .zip(&weights)
        .zip(&levels)
        .filter(|((_, w), _)| cfg.is_match(**w))
        .map(|((&(a, b), &w), lv)| (a, b, w, *lv))
        .collect();
    let near_misses: Vec<(u32, u32, f64, Levels)> = if scope.is_none() {
        blocking
            .pairs
            .iter()
            .zip(&weights)
            .zip(&levels)
            .filter(|((_, w), _)| !cfg.is_match(**w) && **w >= cfg.threshold - REVIEW_MARGIN)
            .map(|((&(a, b), &w), lv)| (a, b, w, *lv))
            .collect()
    } else {
        Vec::new()
    };
    let candidate_count = blocking.pairs.len();
    let prior_log2_odds = model.prior_log2_odds;
    drop(weights);
    drop(levels);
    lap("score", &mut timings);

    let mut cl_edges: Vec<Edge> = edges
        .iter()
        .map(|&(a, b, weight, _)| Edge { a, b, weight })
        .collect();
    if let Some(sc) = scope {
        cl_edges.extend(sc.stored_edges.iter().filter(|e| !rescored.contains(&(e.a, e.b))).copied());
        cl_edges.sort_by_key(|e| (e.a, e.b));
    }
    // an untrusted national id keeps nothing apart (its conflicts were weighed as evidence)
    let nids: Vec<Option<&str>> = if model.national_id_trusted {
        prepared.iter().map(|p| p.national_id.as_deref()).collect()
    } else {
        Vec::new()
    };
    let births: Vec<Option<[u8; 8]>> = prepared.iter().map(|p| p.birth).collect();
    let clustering = cluster_guarded(
        recs.len(),
        &cl_edges,
        cannot_link,
        forced,
        cfg.max_profile_size,
        cfg.weak_bridge_weight,
        &nids,
        &births,
    );
    drop(cl_edges);
    lap("cluster", &mut timings);

    let record_ids: Vec<i64> = recs.iter().map(|r| r.record_id).collect();
    let stable = assign_stable_ids(
        &clustering.component,
        previous_profile,
        &record_ids,
        next_id,
    );
    lap("stable_ids", &mut timings);

    let count = |k: LineageKind| stable.lineage.iter().filter(|l| l.kind == k).count();
    let counters = Counters {
        records: recs.len(),
        candidate_pairs: candidate_count,
        matched_pairs: edges.len(),
        profiles: clustering.clusters,
        merges: count(LineageKind::Merge),
        splits: count(LineageKind::Split),
        new_profiles: count(LineageKind::New),
        skipped_blocks: blocking.skipped_blocks.len(),
        hubs: hubs.len(),
        rejected_by_cannot_link: clustering.rejected_by_cannot_link,
        rejected_by_max_size: clustering.rejected_by_max_size,
        rejected_weak_bridges: clustering.rejected_weak_bridges,
        rejected_by_id_conflict: clustering.rejected_by_id_conflict,
        rejected_by_birth_conflict: clustering.rejected_by_birth_conflict,
    };
    Outcome {
        keys,
        hubs,
        shared_devices,
        skipped_blocks: blocking.skipped_blocks,
        pairs_by_kind: blocking.pairs_by_kind,
        edges,
        threshold: cfg.threshold,
        prior_log2_odds,
        near_misses,
        model,
        model_source,
        model_notes,
        component: clustering.component,
        profile_ids: stable.profile_id,
        lineage: stable.lineage,
        counters,
        term_freq: if scope.is_none() { tf } else { None },
        rescored: {
            let mut r: Vec<(u32, u32)> = rescored.into_iter().collect();
            r.sort_unstable();
            r
        },
        timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (person, record) fixtures: 30 records of 8 people across channels, with typos, swapped
    /// names, initials, e-mail variants, a family member sharing a landline and postcode, two
    /// namesakes born the same day with different national ids, and a shop phone used as a
    /// placeholder by several people.
    fn fixtures() -> (Vec<Rec>, Vec<u32>) {
        use Attr::*;
        let rows: Vec<(u32, Vec<(Attr, &str)>)> = vec![
            // 0: ayse yilmaz
            (
                0,
                vec![
                    (FirstName, "ayse"),
                    (LastName, "yilmaz"),
                    (Email, "ayse.yilmaz@gmail.com"),
                    (Phone, "+905321234567"),
                    (BirthDate, "1985-03-12"),
                    (Gender, "f"),
                ],
            ),
            (
                0,
                vec![
                    (FirstName, "ayse"),
                    (LastName, "yilmaz"),
                    (Phone, "+902164445566"),
                    (BirthDate, "1985-03-12"),
                    (Postcode, "34710"),
                    (City, "istanbul"),
                    (Gender, "f"),
                ],
            ),
            (
                0,
                vec![
                    (FirstName, "ayse"),
                    (LastName, "yilmaz"),
                    (Email, "ayseyilmaz@gmail.com"),
                    (AnonymousId, "dev-a1"),
                ],
            ),
            (
                0,
                vec![
                    (FirstName, "aysa"),
                    (LastName, "yilmaz"),
                    (Phone, "+905321234568"),
                    (BirthDate, "1985-03-12"),
                ],
            ),
            (0, vec![(AnonymousId, "dev-a1")]),
            // 1: mehmet kaya
            (
                1,
                vec![
                    (FirstName, "mehmet"),
                    (LastName, "kaya"),
                    (Email, "mehmet.kaya@hotmail.com"),
                    (BirthDate, "1978-11-02"),
                    (Gender, "m"),
                ],
            ),
            (
                1,
                vec![
                    (FirstName, "kaya"),
                    (LastName, "mehmet"),
                    (BirthDate, "1978-11-02"),
                    (Phone, "+905551112233"),
                ],
            ),
            (
                1,
                vec![
                    (FirstName, "mehmet"),
                    (LastName, "kaya"),
                    (Phone, "+905551112233"),
                    (Street, "ataturk caddesi no 12"),
                    (Postcode, "06100"),
                    (City, "ankara"),
                ],
            ),
            (
                1,
                vec![
                    (FirstName, "m"),
                    (LastName, "kaya"),
                    (Email, "mehmet.kaya@hotmail.com"),
                ],
            ),
            // 2: fatma demir
            (
                2,
                vec![
                    (FirstName, "fatma"),
                    (LastName, "demir"),
                    (Email, "fatma.demir@yahoo.com"),
                    (BirthDate, "1990-07-25"),
                ],
            ),
            (
                2,
                vec![
                    (FirstName, "fatma"),
                    (LastName, "demir"),
                    (BirthDate, "1990-07-25"),
                    (NationalId, "10000000146"),
                ],
            ),
            (
                2,
                vec![
                    (FirstName, "fatma"),
                    (LastName, "demir"),
                    (NationalId, "10000000146"),
                    (Phone, "+905427778899"),
                ],
            ),
            (
                2,
                vec![
                    (FirstName, "fatma"),
                    (LastName, "demir"),
                    (Email, "fatma.demir@yaho.com"),
                    (Phone, "+905427778899"),
                ],
            ),
            // 3: ali celik
            (
                3,
                vec![
                    (FirstName, "ali"),
                    (LastName, "celik"),
                    (Email, "ali.celik@gmail.com"),
                    (BirthDate, "1982-01-05"),
                ],
            ),
            (
                3,
                vec![
                    (FirstName, "ali"),
                    (LastName, "celik"),
                    (BirthDate, "1982-05-01"),
                    (Phone, "+905301234000"),
                    (Email, "ali.celik@gmail.com"),
                ],
            ),
            (
                3,
                vec![
                    (FirstName, "ali"),
                    (LastName, "celik"),
                    (Phone, "+905301234000"),
                    (ExternalId, "L-100"),
                ],
            ),
            (
                3,
                vec![(ExternalId, "L-100"), (Email, "alicelik@gmail.com")],
            ),
            // 4: zeynep sahin
            (
                4,
                vec![
                    (FirstName, "zeynep"),
                    (LastName, "sahin"),
                    (Email, "zeynep.sahin@outlook.com"),
                    (Phone, "+905051230000"),
                ],
            ),
            (
                4,
                vec![
                    (FirstName, "zeynep"),
                    (LastName, "sahin"),
                    (Phone, "+905051230000"),
                    (BirthDate, "1995-09-09"),
                ],
            ),
            (
                4,
                vec![
                    (FirstName, "zeynep"),
                    (LastName, "sahin"),
                    (AnonymousId, "dev-z1"),
                    (Email, "zeynep.sahin+promo@outlook.com"),
                ],
            ),
            (
                4,
                vec![
                    (FullName, "zeynep sahin"),
                    (BirthDate, "1995-09-09"),
                    (City, "izmir"),
                ],
            ),
            // 5: mustafa yilmaz, ayse's husband: same landline and postcode, never ayse
            (
                5,
                vec![
                    (FirstName, "mustafa"),
                    (LastName, "yilmaz"),
                    (Phone, "+902164445566"),
                    (Street, "bagdat caddesi no 5"),
                    (Postcode, "34710"),
                    (City, "istanbul"),
                    (Gender, "m"),
                    (BirthDate, "1983-04-04"),
                ],
            ),
            (
                5,
                vec![
                    (FirstName, "mustafa"),
                    (LastName, "yilmaz"),
                    (Email, "mustafa.yilmaz@gmail.com"),
                    (BirthDate, "1983-04-04"),
                ],
            ),
            (
                5,
                vec![
                    (FirstName, "mustafa"),
                    (LastName, "yilmaz"),
                    (Phone, "+902164445566"),
                    (Email, "mustafa.yilmaz@gmail.com"),
                ],
            ),
            // 6 and 7: two elif aydin born the same day, told apart by national id; record 26
            // has no id and matches both on name + birth date
            (
                6,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydin"),
                    (BirthDate, "1992-06-15"),
                    (NationalId, "12345678950"),
                    (Email, "elif.aydin@gmail.com"),
                ],
            ),
            (
                6,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydin"),
                    (BirthDate, "1992-06-15"),
                    (Email, "elif.aydin@gmail.com"),
                    (Phone, "+905441112233"),
                ],
            ),
            (
                7,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydin"),
                    (BirthDate, "1992-06-15"),
                    (NationalId, "98765432106"),
                    (Phone, "+905449998877"),
                    (City, "izmir"),
                ],
            ),
            (
                7,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydin"),
                    (NationalId, "98765432106"),
                    (Street, "kordon boyu no 3"),
                    (City, "izmir"),
                ],
            ),
            (
                7,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydin"),
                    (Phone, "+905449998877"),
                    (Email, "e.aydin@hotmail.com"),
                ],
            ),
            (
                7,
                vec![
                    (FirstName, "elif"),
                    (LastName, "aydinn"),
                    (Email, "e.aydin@hotmail.com"),
                    (Gender, "f"),
                ],
            ),
        ];
        let mut recs = Vec::new();
        let mut truth = Vec::new();
        for (i, (p, vals)) in rows.into_iter().enumerate() {
            let mut r = Rec::new(1000 + i as i64);
            r.source_id = (i % 4) as i32;
            r.source_priority = (i % 3) as i32;
            r.updated_at = 1_700_000_000 + i as i64;
            for (a, v) in vals {
                r = r.with(a, v);
            }
            recs.push(r);
            truth.push(p);
        }
        (recs, truth)
    }

    /// A first run at default settings: no previous ids, no steward decisions.
    fn fresh(recs: &[Rec]) -> Outcome {
        let mut next = 1;
        resolve_batch(&Batch::new(recs, &vec![None; recs.len()]), &Config::default(), &mut next)
    }

    /// Same partition (cluster labels may differ).
    fn same_partition(a: &[u32], b: &[u32]) -> bool {
        use std::collections::HashMap;
        let mut ab: HashMap<u32, u32> = HashMap::new();
        let mut ba: HashMap<u32, u32> = HashMap::new();
        a.iter()
            .zip(b)
            .all(|(x, y)| *ab.entry(*x).or_insert(*y) == *y && *ba.entry(*y).or_insert(*x) == *x)
    }

    #[test]
    fn par_map_keeps_input_order_at_any_thread_count() {
        let items: Vec<u32> = (0..10_007).collect();
        let want: Vec<String> = items.iter().map(|x| format!("{x}")).collect();
        for threads in [1, 2, 3, 8] {
            assert_eq!(par_map(&items, threads, |x| format!("{x}")), want, "{threads} threads");
        }
        // fewer items than threads in a chunk, and none
        assert_eq!(par_map(&items[..3], 4, |x| x * 2), vec![0, 2, 4]);
        assert!(par_map(&items[..0], 4, |x| x * 2).is_empty());
    }

    #[test]
    fn compare_pairs_equals_compare_of_each_pair_at_any_thread_count() {
        // more pairs than the look-ahead and than par_chunks' one-chunk limit, fewer, and none;
        // pairs in random order, both records of a pair anywhere
        let synth = synth::generate(600, 3);
        let prepared = prepare(&synth.recs);
        let mut rng = strdist::SplitMix64(5);
        let n = prepared.len() as u64;
        let pairs: Vec<(u32, u32)> = (0..5000).map(|_| (rng.below(n) as u32, rng.below(n) as u32)).collect();
        let want: Vec<Levels> = pairs.iter().map(|&(a, b)| compare(&prepared[a as usize], &prepared[b as usize])).collect();
        assert!(want.iter().any(|l| l.get(Field::Name) == Some(levels::NAME_EXACT)), "some pairs agree");
        for threads in [1, 2, 3] {
            for len in [0, 1, 7, 17, 2047, 5000] {
                assert_eq!(compare_pairs(&prepared, &pairs[..len], threads), want[..len], "{threads} threads, {len} pairs");
            }
        }
    }

    #[test]
    fn end_to_end_fixture_clusters_exactly() {
        let (recs, truth) = fixtures();
        let out = fresh(&recs);
        if !same_partition(&out.component, &truth) {
            for (i, r) in recs.iter().enumerate() {
                eprintln!(
                    "{i:2} truth {} got {} {:?}",
                    truth[i], out.component[i], r.values
                );
            }
            for (a, b, w, lv) in &out.edges {
                eprintln!("{a}-{b} {w:.1} {:?}", lv.describe());
            }
            panic!("clusters differ");
        }
        // the household trap: ayse (0) and her husband mustafa (5) share a landline and a
        // postcode, and no edge joins them
        assert!(!out
            .edges
            .iter()
            .any(|e| (truth[e.0 as usize] == 0) != (truth[e.1 as usize] == 0)
                && (truth[e.0 as usize] == 5 || truth[e.1 as usize] == 5)));
        assert_eq!(out.model_source, ModelSource::Default);
        assert_eq!(out.counters.profiles, 8);
        assert_eq!(out.counters.new_profiles, 8);
        assert!(out.counters.rejected_by_id_conflict >= 1);
        assert_eq!(out.keys.len(), recs.len());
        let phases: Vec<&str> = out.timings.iter().map(|t| t.0).collect();
        assert_eq!(
            phases,
            [
                "prepare",
                "hubs",
                "blocking",
                "compare",
                "model",
                "score",
                "cluster",
                "stable_ids"
            ]
        );
        // deterministic, and a rerun keeps every id
        let prev: Vec<Option<i64>> = out.profile_ids.iter().map(|&p| Some(p)).collect();
        let mut next = out.profile_ids.iter().max().unwrap() + 1;
        let again = resolve_batch(&Batch::new(&recs, &prev), &Config::default(), &mut next);
        assert_eq!(again.profile_ids, out.profile_ids);
        assert!(again.lineage.is_empty());
        assert_eq!(again.edges, out.edges);
        // the model used explains the accepted edges
        let (a, b, w, lv) = out.edges[0];
        assert!(a < b && w >= DEFAULT_THRESHOLD);
        let sum: f64 = out.model.explain(&lv).iter().map(|e| e.2).sum();
        assert!(sum <= w + 2.0 + 1e-9);
        // the golden record of ayse's profile
        let members: Vec<&Rec> = (0..recs.len())
            .filter(|&i| truth[i] == 0)
            .map(|i| &recs[i])
            .collect();
        let g = golden(&members, &default_rules());
        assert_eq!(g[Attr::FirstName.index()].as_ref().unwrap().0, "ayse");
        assert_eq!(g[Attr::BirthDate.index()].as_ref().unwrap().0, "1985-03-12");
    }

    #[test]
    fn end_to_end_steward_decisions_and_stable_lineage() {
        let (recs, _) = fixtures();
        let cfg = Config::default();
        let n = recs.len();
        let mut next = 1;
        let first = resolve_batch(&Batch::new(&recs, &vec![None; n]), &cfg, &mut next);
        let prev: Vec<Option<i64>> = first.profile_ids.iter().map(|&p| Some(p)).collect();
        // steward: record 3 (the "aysa" typo record) is not ayse → split off with a fresh id
        let cl: Vec<(u32, u32)> = (0..n as u32).filter(|&i| i != 3).map(|i| (3, i)).collect();
        let out = resolve_batch(&Batch { cannot_link: &cl, ..Batch::new(&recs, &prev) }, &cfg, &mut next);
        assert_ne!(out.profile_ids[3], first.profile_ids[3]);
        assert_eq!(out.profile_ids[0], first.profile_ids[0]);
        assert_eq!(out.counters.splits, 1);
        assert!(out.counters.rejected_by_cannot_link > 0);
        // steward: the two elif aydin profiles are one person after all → merge, oldest id kept
        let out2 = resolve_batch(&Batch { forced: &[(24, 26)], ..Batch::new(&recs, &prev) }, &cfg, &mut next);
        let (e1, e2) = (first.profile_ids[24], first.profile_ids[26]);
        assert_eq!(out2.profile_ids[26], e1.min(e2));
        assert_eq!(out2.counters.merges, 1);
        assert_eq!(out2.lineage[0].old_id, Some(e1.max(e2)));
    }

    #[test]
    fn hubs_removed_from_matching() {
        // 60 different people share a shop's phone: a hub; without removal the phone would
        // be strong evidence between every pair with similar names
        let mut recs: Vec<Rec> = (0..60)
            .map(|i| {
                Rec::new(i)
                    .with(Attr::FirstName, if i % 2 == 0 { "ayse" } else { "aysel" })
                    .with(Attr::LastName, "yilmaz")
                    .with(Attr::Phone, "+902120000000")
            })
            .collect();
        recs.push(Rec::new(99).with(Attr::Email, "x@y.com"));
        let out = fresh(&recs);
        assert_eq!(
            out.hubs,
            vec![(KeyKind::Phone, "+902120000000".to_string(), 60)]
        );
        assert_eq!(out.counters.matched_pairs, 0);
        assert_eq!(out.counters.profiles, 61);
        assert!(out.keys[0]
            .iter()
            .all(|h| !matches!(keys::kind_of(*h), KeyKind::Phone | KeyKind::PhoneLast7LastInitial)));
    }

    /// Registry-style copies of one person: the same name, birth date and address, a hand-typed
    /// national id that differs on each (not a one-character typo), and a namesake at another
    /// address with another birth date.
    fn hand_typed_ids() -> Vec<Rec> {
        let person = |id: i64, nid: &str| {
            Rec::new(id)
                .with(Attr::FirstName, "margaret")
                .with(Attr::LastName, "thompson")
                .with(Attr::BirthDate, "1952-07-14")
                .with(Attr::Street, "14 wattle street")
                .with(Attr::Postcode, "3121")
                .with(Attr::City, "richmond")
                .with(Attr::NationalId, nid)
        };
        vec![
            person(1, "4412907"),
            person(2, "8830561"),
            person(3, "2290478"),
            Rec::new(4)
                .with(Attr::FirstName, "margaret")
                .with(Attr::LastName, "thompson")
                .with(Attr::BirthDate, "1988-02-03")
                .with(Attr::Street, "2 ocean parade")
                .with(Attr::Postcode, "2034")
                .with(Attr::City, "coogee")
                .with(Attr::NationalId, "5521093"),
        ]
    }

    #[test]
    fn an_untrusted_national_id_does_not_veto_what_everything_else_agrees_on() {
        let recs = hand_typed_ids();
        let run = |trust: model::Trust| {
            let cfg = Config { national_id_trust: trust, ..Config::default() };
            let mut next = 1;
            resolve_batch(&Batch::new(&recs, &vec![None; recs.len()]), &cfg, &mut next)
        };
        // trusted (the default model's ids rarely disagree, so auto trusts them too): the
        // conflicting ids keep the copies apart, as before
        for trust in [model::Trust::Veto, model::Trust::Auto] {
            let out = run(trust);
            assert!(out.model.national_id_trusted);
            let c = &out.component;
            assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2], "{trust:?}: {c:?}");
        }
        // evidence: name, birth date and address outweigh a conflict; the namesake stays apart
        let out = run(model::Trust::Evidence);
        assert!(!out.model.national_id_trusted);
        let c = &out.component;
        assert!(c[0] == c[1] && c[1] == c[2], "{c:?}");
        assert_ne!(c[0], c[3], "{c:?}");
        assert_eq!(out.counters.rejected_by_id_conflict, 0);
    }

    #[test]
    fn auto_trust_follows_how_often_sure_matches_disagree() {
        use levels::{ADDRESS_STREET_POSTCODE, BIRTH_EXACT, ID_DIFFERENT, ID_EXACT, NAME_EXACT};
        let sure = |id: u8| {
            let mut l = Levels::default();
            l.set(Field::Name, Some(NAME_EXACT));
            l.set(Field::BirthDate, Some(BIRTH_EXACT));
            l.set(Field::Address, Some(ADDRESS_STREET_POSTCODE));
            l.set(Field::NationalId, Some(id));
            l
        };
        // 40 near-certain matches, 24 of them with different ids: hand-typed ids
        let noisy = [(sure(ID_EXACT), 16.0), (sure(ID_DIFFERENT), 24.0)];
        let (share, pairs) = model::id_disagreement_of_sure_matches(&noisy).expect("enough pairs");
        assert!((share - 0.6).abs() < 1e-12 && pairs == 40.0);
        // too few to say anything
        assert_eq!(model::id_disagreement_of_sure_matches(&noisy[..1].iter().map(|(l, _)| (*l, 10.0)).collect::<Vec<_>>()), None);
        let mut m = Model::default_model();
        m.decide_trust(model::Trust::Auto, Some(share));
        assert!(!m.national_id_trusted);
        assert!((m.national_id_disagreement() - 0.6).abs() < 1e-9, "the observed share becomes m");
        let total: f64 = m.m[Field::NationalId.index()].iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        // clean ids: 1 of 40 differs
        let mut m = Model::default_model();
        m.decide_trust(model::Trust::Auto, Some(1.0 / 40.0));
        assert!(m.national_id_trusted);
        // nothing to judge by: trusted, whatever EM estimated
        let mut m = Model::default_model();
        let row = &mut m.m[Field::NationalId.index()];
        row[ID_DIFFERENT as usize] = 0.33;
        row[ID_EXACT as usize] = 0.65;
        m.decide_trust(model::Trust::Auto, None);
        assert!(m.national_id_trusted);
        // the setting overrides the data either way
        let mut m = Model::default_model();
        m.decide_trust(model::Trust::Veto, Some(0.6));
        assert!(m.national_id_trusted);
        m.decide_trust(model::Trust::Evidence, Some(0.0));
        assert!(!m.national_id_trusted);
    }

    #[test]
    fn shared_device_does_not_merge_its_users() {
        // one tablet, three people logging in with their own e-mails, plus anonymous visits
        let mut recs = vec![
            Rec::new(1).with(Attr::AnonymousId, "tablet-1").with(Attr::Email, "ali@example-mail.com"),
            Rec::new(2).with(Attr::AnonymousId, "tablet-1").with(Attr::Email, "veli@example-mail.com"),
            Rec::new(3).with(Attr::AnonymousId, "tablet-1").with(Attr::Email, "can@example-mail.com"),
            Rec::new(4).with(Attr::AnonymousId, "tablet-1"),
        ];
        // a personal phone used by one person with one e-mail: its anonymous visits do link
        recs.push(Rec::new(5).with(Attr::AnonymousId, "phone-9").with(Attr::Email, "zeynep@example-mail.com"));
        recs.push(Rec::new(6).with(Attr::AnonymousId, "phone-9"));
        let out = fresh(&recs);
        assert_eq!(out.shared_devices, vec![("tablet-1".to_string(), 4, 3)]);
        let c = &out.component;
        assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2], "{c:?}");
        assert_eq!(c[4], c[5], "a personal device links its anonymous visits: {c:?}");
    }

    #[test]
    fn score_pairs_matches_pipeline_and_is_ordered() {
        let (recs, _) = fixtures();
        let prep = prepare(&recs);
        let keys: Vec<_> = recs.iter().map(record_keys).collect();
        let b = candidate_pairs(&keys, 500, &HashSet::new());
        let model = Model::default_model();
        let scored = score_pairs(&prep, &b.pairs, &model, None);
        assert_eq!(scored.len(), b.pairs.len());
        for (s, p) in scored.iter().zip(&b.pairs) {
            assert_eq!((s.0, s.1), *p);
            assert_eq!(s.2, model.weight(&s.3));
        }
    }

    #[test]
    fn synthetic_batch_with_estimated_model() {
        // a few thousand synthetic records: u and m are estimated from the data
        let data = synth::generate(6000, 7);
        let n = data.recs.len();
        let mut next = 1;
        // the shop phone is on ~13 store records here
        let cfg = Config {
            hub_min_count: 8,
            ..Config::default()
        };
        let out = resolve_batch(&Batch::new(&data.recs, &vec![None; n]), &cfg, &mut next);
        assert_eq!(out.model_source, ModelSource::Estimated);
        assert!(out.model.converged, "EM did not converge: {:?}", out.model);
        let q = synth::pair_quality(&out.component, &data.person);
        let ceiling = synth::pair_quality(
            &synth::oracle_components(&data.recs, &data.person),
            &data.person,
        );
        eprintln!(
            "synthetic 6000: {q:?} recall ceiling {:.3} model notes {:?} prior {:.3} iterations {}",
            ceiling.recall, out.model_notes, out.model.prior, out.model.iterations
        );
        for f in Field::ALL {
            let ws: Vec<String> = (0..f.levels())
                .map(|l| format!("{:.1}", out.model.level_weight(f, l as u8)))
                .collect();
            eprintln!("  {:12} {}", f.name(), ws.join(" "));
        }
        assert!(q.precision > 0.97, "{q:?}");
        // recall against what the evidence allows at all (records sharing only a name cannot
        // be linked without merging namesakes)
        assert!(
            q.recall > 0.95 * ceiling.recall,
            "{q:?} ceiling {ceiling:?}"
        );
        assert!(out.hubs.iter().any(|h| h.1 == synth::SHOP_PHONE));
    }

    #[test]
    fn held_hubs_are_only_those_the_records_hold() {
        let keys = vec![
            vec![(KeyKind::Phone, "+905321110001".to_string()), (KeyKind::Email, "a@example.com".to_string())],
            vec![(KeyKind::AnonymousId, "device-1".to_string())],
        ];
        let hubs = vec![
            (KeyKind::Phone, "+905321110001".to_string(), 60),
            (KeyKind::AnonymousId, "device-9".to_string(), 4),
            (KeyKind::AnonymousId, "device-1".to_string(), 3),
            (KeyKind::Email, "b@example.com".to_string(), 80),
        ];
        assert_eq!(held_hubs(&keys, &hubs), vec![(KeyKind::Phone, 60), (KeyKind::AnonymousId, 3)]);
        assert!(held_hubs(&keys, &[]).is_empty());
    }

    /// A run finds and removes the hubs on the keys' hashes; `cdp.explain_match` on their texts.
    /// Both find the same hubs and leave the same keys and prepared records, derived keys (the
    /// phone's last seven digits) included.
    #[test]
    fn hubs_on_hashes_equal_hubs_on_texts() {
        let data = synth::generate(3000, 5);
        let texts: Vec<Vec<(KeyKind, String)>> = data.recs.iter().map(record_keys).collect();
        let mut hashed: Vec<Vec<u64>> = texts.iter().map(|ks| keys::hash_keys(ks)).collect();
        let hubs = hub_values(&hashed, &KeyKind::IDENTIFIERS, 5, |i, h| keys::find_value(&texts[i], h));
        assert!(hubs.iter().any(|(k, v, _)| *k == KeyKind::Phone && v == synth::SHOP_PHONE), "{hubs:?}");
        // the same hubs as counted from the texts: every record holding each value
        for (k, v, n) in &hubs {
            assert_eq!(*n, texts.iter().filter(|ks| ks.iter().any(|(kk, vv)| kk == k && vv == v)).count(), "{k:?} {v}");
        }
        let mut by_text = texts.clone();
        let (mut p_text, mut p_hash) = (prepare(&data.recs), prepare(&data.recs));
        apply_hubs(&mut by_text, &mut p_text, &hubs);
        apply_hubs_hashed(&mut hashed, &mut p_hash, &hubs);
        let after: Vec<Vec<u64>> = by_text.iter().map(|ks| keys::hash_keys(ks)).collect();
        assert_eq!(hashed, after);
        assert!(p_hash == p_text);
        // a record holding the shop's phone keeps neither the phone nor its derived key
        let shop: Vec<usize> = (0..texts.len())
            .filter(|&i| texts[i].iter().any(|(k, v)| *k == KeyKind::Phone && v == synth::SHOP_PHONE))
            .collect();
        assert!(shop.iter().any(|&i| texts[i].iter().any(|(k, _)| *k == KeyKind::PhoneLast7LastInitial)));
        for &i in &shop {
            assert!(hashed[i].iter().all(|&h| !matches!(keys::kind_of(h), KeyKind::Phone | KeyKind::PhoneLast7LastInitial)));
        }
        assert!(hashed.iter().map(Vec::len).sum::<usize>() < texts.iter().map(Vec::len).sum::<usize>(), "hub keys removed");
    }

    /// The incremental path (a scoped batch) against a full run on changed synthetic data: the
    /// batch is selected the way `cdp.resolve_changes` selects it (keys of the changed records
    /// looked up among the stored keys, whole profiles, deleted records' profiles, one step along
    /// stored edges), and the result must be the full run's partition and ids.
    #[test]
    fn scoped_batch_equals_full_run_on_changed_data() {
        use std::collections::{BTreeMap, BTreeSet, HashMap};
        let data = synth::generate(6000, 11);
        // name frequencies are the documented approximation of the incremental path: off here
        let cfg = Config { hub_min_count: 8, term_frequency: false, ..Config::default() };
        let n = data.recs.len();
        let mut next = 1;
        let first = resolve_batch(&Batch::new(&data.recs, &vec![None; n]), &cfg, &mut next);
        let model = first.model.clone();
        let before: HashMap<i64, i64> = data.recs.iter().zip(&first.profile_ids).map(|(r, p)| (r.record_id, *p)).collect();
        let stored_keys: Vec<(u64, i64)> = data
            .recs
            .iter()
            .zip(&first.keys)
            .flat_map(|(r, hs)| hs.iter().map(move |h| (*h, r.record_id)))
            .collect();
        let stored_edges: Vec<(i64, i64, f64)> = first
            .edges
            .iter()
            .map(|e| (data.recs[e.0 as usize].record_id, data.recs[e.1 as usize].record_id, e.2))
            .collect();

        // changes: every 97th record takes another record's e-mail and phone (a move), every
        // 89th loses its identifiers, every 101st is deleted, and 40 new records copy others
        let mut recs: Vec<Rec> = Vec::new();
        let mut pending: BTreeSet<i64> = BTreeSet::new();
        let mut gone: Vec<i64> = Vec::new();
        for (i, r) in data.recs.iter().enumerate() {
            let mut r = r.clone();
            if i % 101 == 5 {
                gone.push(r.record_id);
                continue;
            }
            if i % 97 == 3 {
                let donor = &data.recs[(i * 7 + 13) % n];
                r.values[Attr::Email.index()] = donor.values[Attr::Email.index()].clone();
                r.values[Attr::Phone.index()] = donor.values[Attr::Phone.index()].clone();
                pending.insert(r.record_id);
            } else if i % 89 == 4 {
                for a in [Attr::Email, Attr::Phone, Attr::NationalId] {
                    r.values[a.index()] = None;
                }
                pending.insert(r.record_id);
            }
            recs.push(r);
        }
        let max_id = data.recs.iter().map(|r| r.record_id).max().unwrap();
        for k in 0..40 {
            let mut r = data.recs[(k * 149 + 7) % n].clone();
            r.record_id = max_id + 1 + k as i64;
            pending.insert(r.record_id);
            recs.push(r);
        }
        let previous: Vec<Option<i64>> = recs.iter().map(|r| before.get(&r.record_id).copied()).collect();

        // the full run on the changed data, same model
        let mut next_full = next;
        let full = resolve_batch(&Batch { model: Some(&model), ..Batch::new(&recs, &previous) }, &cfg, &mut next_full);

        // the incremental batch, planned as the SQL layer plans it, over the stored state as the
        // tables hold it: the deleted records' keys and edges are still stored
        let mut store = incremental::MemStore {
            keys: stored_keys.clone(),
            profile: recs.iter().map(|r| (r.record_id, before.get(&r.record_id).copied())).collect(),
            edges: stored_edges.clone(),
        };
        let pending_recs: Vec<Rec> = recs.iter().filter(|r| pending.contains(&r.record_id)).cloned().collect();
        let gone_with_profile: Vec<(Option<i64>, i64)> = gone.iter().map(|id| (before.get(id).copied(), *id)).collect();
        let plan = incremental::plan_batch(&mut store, &pending_recs, &gone_with_profile, &cfg).unwrap();
        let mut scope = Scope { hubs: first.hubs.clone(), over_cap: plan.keys.over_cap, rescore_keys: plan.keys.rescore_keys, ..Scope::default() };
        scope.hubs.extend(first.shared_devices.iter().map(|(v, c, _)| (KeyKind::AnonymousId, v.clone(), *c)));
        scope.hubs.extend(plan.keys.hubs);
        let batch: Vec<Rec> = recs.iter().filter(|r| plan.batch.binary_search(&r.record_id).is_ok()).cloned().collect();
        let index: HashMap<i64, u32> = batch.iter().enumerate().map(|(i, r)| (r.record_id, i as u32)).collect();
        scope.pending = batch.iter().map(|r| pending.contains(&r.record_id)).collect();
        scope.stored_edges = plan
            .stored_edges
            .iter()
            .map(|&(a, b, w)| (index[&a], index[&b], w))
            .map(|(a, b, weight)| Edge { a: a.min(b), b: a.max(b), weight })
            .collect();
        let batch_prev: Vec<Option<i64>> = batch.iter().map(|r| before.get(&r.record_id).copied()).collect();
        let mut next_inc = next;
        let inc = resolve_batch(&Batch { model: Some(&model), scope: Some(&scope), ..Batch::new(&batch, &batch_prev) }, &cfg, &mut next_inc);
        assert!(batch.len() < recs.len() / 2, "the batch is a part: {} of {}", batch.len(), recs.len());
        assert!(inc.counters.candidate_pairs < full.counters.candidate_pairs / 4);

        // profiles after the incremental run: the batch's new ids, everyone else's old one
        let mut after: HashMap<i64, i64> = recs.iter().filter_map(|r| Some((r.record_id, *before.get(&r.record_id)?))).collect();
        for (r, p) in batch.iter().zip(&inc.profile_ids) {
            after.insert(r.record_id, *p);
        }
        let partition = |assign: &dyn Fn(&Rec) -> i64| -> BTreeSet<Vec<i64>> {
            let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for r in &recs {
                groups.entry(assign(r)).or_default().push(r.record_id);
            }
            groups.into_values().collect()
        };
        let full_of: HashMap<i64, i64> = recs.iter().zip(&full.profile_ids).map(|(r, p)| (r.record_id, *p)).collect();
        let (pi, pf) = (partition(&|r| after[&r.record_id]), partition(&|r| full_of[&r.record_id]));
        let only_inc: Vec<&Vec<i64>> = pi.difference(&pf).take(5).collect();
        let only_full: Vec<&Vec<i64>> = pf.difference(&pi).take(5).collect();
        assert!(
            only_inc.is_empty() && only_full.is_empty(),
            "{} profiles differ; incremental only: {only_inc:?}; full only: {only_full:?}; batch {} records",
            pi.difference(&pf).count(),
            batch.len()
        );
        // ids that existed before are kept (or given up) the same way by both
        for r in &recs {
            if before.values().any(|p| *p == full_of[&r.record_id]) {
                assert_eq!(after[&r.record_id], full_of[&r.record_id], "record {}", r.record_id);
            }
        }
        assert!(inc.counters.splits + inc.counters.merges > 0, "the changes moved profiles: {:?}", inc.counters);
    }

    #[test]
    #[ignore]
    fn perf_200k() {
        let n_target: usize = std::env::var("PERF_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let t = Instant::now();
        let data = synth::generate(n_target, 20240601);
        let gen = t.elapsed().as_secs_f64();
        let n = data.recs.len();
        let mut next = 1;
        let cfg = Config::default();
        let t = Instant::now();
        let out = resolve_batch(&Batch::new(&data.recs, &vec![None; n]), &cfg, &mut next);
        let total = t.elapsed().as_secs_f64();
        let q = synth::pair_quality(&out.component, &data.person);
        let ceiling = synth::pair_quality(
            &synth::oracle_components(&data.recs, &data.person),
            &data.person,
        );
        eprintln!("records {n} (generated in {gen:.1}s), resolve_batch {total:.2}s");
        eprintln!("recall ceiling (linkable evidence) {:.4}", ceiling.recall);
        eprintln!("timings {:?}", out.timings);
        eprintln!("counters {:?}", out.counters);
        eprintln!("pairs by kind {:?}", out.pairs_by_kind);
        eprintln!(
            "skipped blocks (first 5) {:?}",
            &out.skipped_blocks[..out.skipped_blocks.len().min(5)]
        );
        eprintln!("hubs {:?}", out.hubs);
        eprintln!(
            "model {} converged {} iterations {} prior {:.4} notes {:?}",
            out.model_source.name(),
            out.model.converged,
            out.model.iterations,
            out.model.prior,
            out.model_notes
        );
        for f in Field::ALL {
            let ws: Vec<String> = (0..f.levels())
                .map(|l| format!("{:.1}", out.model.level_weight(f, l as u8)))
                .collect();
            eprintln!("  {:12} {}", f.name(), ws.join(" "));
        }
        eprintln!("quality {q:?}");
        // rerun with the previous ids: stable
        let prev: Vec<Option<i64>> = out.profile_ids.iter().map(|&p| Some(p)).collect();
        let t = Instant::now();
        let again = resolve_batch(&Batch { model: Some(&out.model), ..Batch::new(&data.recs, &prev) }, &cfg, &mut next);
        eprintln!(
            "rerun with stored model {:.2}s, lineage events {}",
            t.elapsed().as_secs_f64(),
            again.lineage.len()
        );
        assert_eq!(again.profile_ids, out.profile_ids);
    }
}

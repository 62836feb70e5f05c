//! Fellegi–Sunter match model with unsupervised estimation (the Splink recipe).
//!
//! For each [`Field`] and level, `m` = P(level | same person) and `u` = P(level | different
//! people). A pair's match weight is Σ log2(m/u) over the fields present on both sides (missing
//! fields contribute 0). `u` is estimated from random record pairs ([`estimate_u`]: almost all
//! random pairs are non-matches); `m` and the match prior λ from the blocked candidate pairs by
//! EM with `u` held fixed ([`em`]), run in training sessions that blank the fields a session's
//! pairs were selected on ([`estimate_m`]). Names get a term-frequency adjustment ([`TermFreq`]): agreeing
//! on "mehmet yilmaz" is weaker evidence than agreeing on a rare name.
//!
//! Safeguards ([`apply_safeguards`]) keep the model usable when EM drifts: m is clamped to
//! [1e-4, 1−1e-4]; exact agreement on an e-mail, phone, national id, external id or anonymous id
//! always weighs at least [`STRONG_EXACT_MIN_BITS`]; the e-mail and phone typo levels stay
//! positive ([`TYPO_MIN_BITS`]) so that a one-character typo never splits a person; exact
//! agreement on a personal identifier (e-mail, national/external/device id) is conclusive on
//! its own ([`CONCLUSIVE_MIN_BITS`]); and two different national ids (not a one-character typo)
//! weigh at most −[`NATIONAL_ID_CONFLICT_BITS`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compare::{best_level_stratum, compare, compare_field, for_each_pair, level_names, Field, Levels, Prepared};
use super::levels::{flagged, levels, CONCLUSIVE, CONFLICT_CAP, EXACT_FLOOR, NAME_EXACT, TYPO_FLOOR};
use super::strdist::{FastMap, SplitMix64};

/// Default match threshold, in prior-free weight units (bits of evidence, Σ log2(m/u)).
///
/// 20 bits: the evidence must be about a million times likelier under "same person" than under
/// "different people". That is the scale of the prior: among n records a random pair is a match
/// with odds ≈ 2.4/n (≈ 2^−18.7 at a million), so soft evidence (names, dates, addresses) that
/// a random pair of strangers shows once in 2^17 comparisons is met by hundreds of namesake
/// pairs in a million-record batch. Typical weights (estimated on synthetic Turkish data, and the
/// hand-set defaults): exact name ≈ +12 (down to +8 for the most common names), exact birth date
/// ≈ +14, same postcode ≈ +7.5, exact phone ≈ +18, e-mail/phone typo ≈ +14, different name
/// ≈ −6…−7; personal identifiers (e-mail, ids) are floored at [`CONCLUSIVE_MIN_BITS`].
///
/// Accepted: an e-mail or id alone when nothing disagrees, exact or near name + birth date,
/// name + street address, an e-mail/phone typo + name, a phone + a (partially) agreeing name.
/// Rejected: a name alone or with city/postcode and gender (namesakes), a phone alone (households
/// share landlines), family members sharing a phone, address or e-mail (different first names),
/// namesakes with different national ids.
pub const DEFAULT_THRESHOLD: f64 = 20.0;

/// Lower bound of m (and upper bound 1 − this): keeps every weight finite.
pub const M_MIN: f64 = 1e-4;
/// Exact agreement on a strong identifier weighs at least this many bits.
pub const STRONG_EXACT_MIN_BITS: f64 = 8.0;
/// The e-mail and phone typo levels weigh at least this many bits.
pub const TYPO_MIN_BITS: f64 = 2.0;
/// Exact agreement on a personal identifier (e-mail, including the same gmail/+tag mailbox;
/// a phone no other first name is seen with; national id; external id; device id) weighs at
/// least this many bits: enough to match on its own, and still with a name that disagrees
/// (nicknames, transliterations, a typo too far: ≈ −4 bits), but not once a second field
/// disagrees too (a family mailbox: other first name and other birth date). Household phones
/// are compared at a weaker level (compare::mark_shared_phones).
pub const CONCLUSIVE_MIN_BITS: f64 = DEFAULT_THRESHOLD + 6.0;
/// Two different national ids weigh at most minus this many bits.
pub const NATIONAL_ID_CONFLICT_BITS: f64 = 12.0;
/// A national id on which more than this share of one person's record pairs disagree (m of its
/// "different" level, as estimated) is not trusted to keep two records apart: hand-typed ids
/// in registry data, where most copies of a person carry another id. A trusted id vetoes
/// ([`Trust`]); an untrusted one is evidence weighed by its estimated m and u.
pub const MAX_TRUSTED_DISAGREEMENT: f64 = 0.05;

/// How far a conflict between two national ids keeps records apart (`cdp.national_id_trust`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trust {
    /// decided from the data when the model is fitted: trusted when the estimated share of one
    /// person's pairs that disagree is at most [`MAX_TRUSTED_DISAGREEMENT`]
    #[default]
    Auto,
    /// trusted: two different ids (more than a one-character typo apart) never share a profile,
    /// and a conflict weighs at most −[`NATIONAL_ID_CONFLICT_BITS`]
    Veto,
    /// not trusted: a conflict is evidence like any other field's disagreement
    Evidence,
}

impl Trust {
    pub fn name(self) -> &'static str {
        match self {
            Trust::Auto => "auto",
            Trust::Veto => "veto",
            Trust::Evidence => "evidence",
        }
    }
}
/// A rare name may weigh at most log2(1/this) = 2 bits more than the average exact-name weight
/// under the term-frequency adjustment: a name seen once in a batch may still be common in the
/// population, and duplicates of one person make counts noisy.
pub const TF_MAX_BOOST: f64 = 0.25;
/// Below this many names, frequencies are too noisy to adjust anything ([`TermFreq::u`] = None).
pub const TF_MIN_TOTAL: u64 = 1000;

/// Match probability from a prior-free weight and the match prior λ:
/// 1 / (1 + 2^−(w + log2(λ/(1−λ)))).
pub fn match_probability(w: f64, prior: f64) -> f64 {
    let p = prior.clamp(1e-12, 1.0 - 1e-12);
    let total = w + (p / (1.0 - p)).log2();
    1.0 / (1.0 + (-total).exp2())
}

/// A Fellegi–Sunter model. `m[f][l]`, `u[f][l]`: outer index [`Field::index`], inner level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    /// λ: share of matches among the candidate pairs EM saw.
    pub prior: f64,
    pub iterations: u32,
    pub converged: bool,
    pub log_likelihood: f64,
    /// Whether two different national ids keep records apart (see [`Trust`]); decided when the
    /// model is fitted, kept with it so incremental runs decide as the full run did. Models
    /// stored before it existed trusted the id.
    #[serde(default = "trusted_by_default")]
    pub national_id_trusted: bool,
    /// Steward decisions (labelled pairs) the model was fitted with ([`learn_threshold`]).
    #[serde(default)]
    pub labels: u32,
    /// How far the labels move the match threshold from `cdp.match_threshold` (bits; 0 without
    /// labels). Applied by [`Model::effective_config`] while `cdp.threshold_from_labels` is on.
    #[serde(default)]
    pub label_threshold_offset: f64,
    /// The prior log2-odds that two random records of the data the model was fitted on are one
    /// person ([`all_pairs_prior_log2_odds`]); with `cdp.match_probability` it sets the match
    /// threshold ([`Model::effective_config`]). None for hand-set models and models stored
    /// before it existed: the fixed threshold decides.
    #[serde(default)]
    pub prior_log2_odds: Option<f64>,
}

fn trusted_by_default() -> bool {
    true
}

/// Precomputed log2(m/u) per field and level (the hot path of scoring).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightTable {
    pub w: Vec<Vec<f64>>,
    /// m of the exact name level (for the term-frequency adjustment).
    pub m_name_exact: f64,
    /// u of the exact name level.
    pub u_name_exact: f64,
}

impl WeightTable {
    /// Σ log2(m/u) over present fields (see [`household_overlap`]); with `tf_u`, the exact-name
    /// level uses it as u (bounded below by `TF_MAX_BOOST × u`).
    #[inline]
    pub fn weight(&self, lv: &Levels, tf_u: Option<f64>) -> f64 {
        let mut w = 0.0;
        for (f, l) in lv.0.iter().enumerate() {
            if let Some(l) = l {
                w += self.w[f][*l as usize];
            }
        }
        w -= household_overlap(
            lv.get(Field::Phone)
                .map(|l| self.w[Field::Phone.index()][l as usize]),
            lv.get(Field::Address)
                .map(|l| self.w[Field::Address.index()][l as usize]),
        );
        if let (Some(NAME_EXACT), Some(t)) = (lv.get(Field::Name), tf_u) {
            w -= self.w[Field::Name.index()][NAME_EXACT as usize];
            w += (self.m_name_exact / t.max(self.u_name_exact * TF_MAX_BOOST)).log2();
        }
        w
    }
}

impl Model {
    /// Hand-set parameters for batches too small to estimate from (see `Config::
    /// min_records_for_estimation`): the m and u of every level in `levels.rs`, then the
    /// safeguards. `cdp.explain_match` shows the weights they give.
    pub fn default_model() -> Model {
        let m = Field::ALL.iter().map(|f| levels(*f).iter().map(|l| l.m).collect()).collect();
        let u = Field::ALL.iter().map(|f| levels(*f).iter().map(|l| l.u).collect()).collect();
        let mut model = Model {
            m,
            u,
            prior: 0.1,
            iterations: 0,
            converged: true,
            log_likelihood: 0.0,
            national_id_trusted: true,
            labels: 0,
            label_threshold_offset: 0.0,
            prior_log2_odds: None,
        };
        apply_safeguards(&mut model);
        model
    }

    /// The settings of a run with this model. The match threshold (and the weak-bridge weight
    /// with it): with a match probability (`cdp.match_probability`, unless `cdp.match_threshold`
    /// is set) and a prior estimated when the model was fitted, the weight at which a pair's
    /// posterior reaches that probability ([`posterior_threshold`], kept within
    /// [`POSTERIOR_THRESHOLD_MIN`]..[`POSTERIOR_THRESHOLD_MAX`]); otherwise `cdp.match_threshold`.
    /// Then moved by what the steward decisions said when the model was fitted, unless
    /// `cdp.threshold_from_labels` is off.
    pub fn effective_config(&self, cfg: &super::Config) -> super::Config {
        let mut out = self.base_config(cfg);
        if cfg.threshold_from_labels {
            out.threshold += self.label_threshold_offset;
            out.weak_bridge_weight += self.label_threshold_offset;
        }
        out
    }

    /// [`Model::effective_config`] before the steward decisions: the threshold the labels move.
    pub fn base_config(&self, cfg: &super::Config) -> super::Config {
        let mut out = cfg.clone();
        if let Some((p, prior)) = self.posterior_basis(cfg) {
            let t = posterior_threshold(p, prior).clamp(POSTERIOR_THRESHOLD_MIN, POSTERIOR_THRESHOLD_MAX);
            out.weak_bridge_weight += t - out.threshold;
            out.threshold = t;
        }
        out
    }

    /// The match probability and the prior the threshold follows, when both apply (the setting
    /// asks for a posterior and the model has a prior); None: `cdp.match_threshold` decides.
    fn posterior_basis(&self, cfg: &super::Config) -> Option<(f64, f64)> {
        cfg.match_probability.zip(self.prior_log2_odds)
    }

    /// Which setting decides the threshold of a run with this model (a run's `threshold_from`).
    pub fn threshold_from(&self, cfg: &super::Config) -> &'static str {
        if self.posterior_basis(cfg).is_some() {
            "match_probability"
        } else {
            "match_threshold"
        }
    }

    /// The estimated share of one person's record pairs whose national ids differ (m of the
    /// "different" level).
    pub fn national_id_disagreement(&self) -> f64 {
        self.m[Field::NationalId.index()][super::levels::ID_DIFFERENT as usize]
    }

    /// Decide whether the national id is trusted, before the safeguards (which cap a trusted
    /// id's conflict weight). `observed`: the share of near-certain matches whose ids differ
    /// ([`id_disagreement_of_sure_matches`]), when there were enough of them. [`Trust::Auto`]
    /// trusts the id when that share is at most [`MAX_TRUSTED_DISAGREEMENT`], and when there
    /// is no such share to judge by: EM's own estimate of the disagreement is no guide (where the
    /// id is the only identifier left in its session, it calls "match" exactly the pairs whose
    /// ids agree, or drifts the other way: 0.007 on hand-typed ids that differ in 56% of sure
    /// matches, 0.333 on clean ones). An untrusted id's "different" level takes the observed
    /// share as m.
    pub fn decide_trust(&mut self, trust: Trust, observed: Option<f64>) {
        self.national_id_trusted = match trust {
            Trust::Veto => true,
            Trust::Evidence => false,
            Trust::Auto => observed.is_none_or(|share| share <= MAX_TRUSTED_DISAGREEMENT),
        };
        if let (false, Some(share)) = (self.national_id_trusted, observed) {
            let row = &mut self.m[Field::NationalId.index()];
            set_m(row, super::levels::ID_DIFFERENT as usize, share.clamp(M_MIN, 1.0 - 2.0 * M_MIN), &[]);
        }
    }

    /// log2(m/u) of one field level.
    pub fn level_weight(&self, f: Field, level: u8) -> f64 {
        let (m, u) = (
            self.m[f.index()][level as usize],
            self.u[f.index()][level as usize],
        );
        (m / u).log2()
    }

    /// Prior-free match weight: Σ log2(m/u) over the fields present on both sides. The prior
    /// odds log2(λ/(1−λ)) are deliberately left out, so that a threshold means the same thing
    /// whatever share of matches a batch happens to contain ([`match_probability`] adds them).
    pub fn weight(&self, lv: &Levels) -> f64 {
        self.weight_tf(lv, None)
    }

    /// [`Model::weight`] with the term-frequency adjustment: when the names agree exactly and
    /// `tf_u` is given (see [`TermFreq::u`]), it replaces u of the exact-name level, but never
    /// below `TF_MAX_BOOST × u` (a rare name gains at most 2 bits; a common one loses all it
    /// should).
    pub fn weight_tf(&self, lv: &Levels, tf_u: Option<f64>) -> f64 {
        self.table().weight(lv, tf_u)
    }

    /// The weight of every present field: (field, level name, weight), adding up to
    /// [`Model::weight`]: log2(m/u), except that when phone and address both agree the smaller
    /// of the two shows as 0 ([`household_overlap`]).
    pub fn explain(&self, lv: &Levels) -> Vec<(Field, &'static str, f64)> {
        let wp = lv
            .get(Field::Phone)
            .map(|l| self.level_weight(Field::Phone, l));
        let wa = lv
            .get(Field::Address)
            .map(|l| self.level_weight(Field::Address, l));
        let overlap = household_overlap(wp, wa);
        let drop = if overlap > 0.0 {
            Some(if wp <= wa {
                Field::Phone
            } else {
                Field::Address
            })
        } else {
            None
        };
        Field::ALL
            .iter()
            .filter_map(|&f| {
                lv.get(f).map(|l| {
                    let w = if drop == Some(f) {
                        0.0
                    } else {
                        self.level_weight(f, l)
                    };
                    (f, level_names(f)[l as usize], w)
                })
            })
            .collect()
    }

    pub fn table(&self) -> WeightTable {
        WeightTable {
            w: Field::ALL
                .iter()
                .map(|&f| {
                    (0..f.levels())
                        .map(|l| self.level_weight(f, l as u8))
                        .collect()
                })
                .collect(),
            m_name_exact: self.m[Field::Name.index()][NAME_EXACT as usize],
            u_name_exact: self.u[Field::Name.index()][NAME_EXACT as usize],
        }
    }

    /// The form stored in `cdp.model.params`: the model with the names of every field's levels
    /// (`level_names`), so a later version with other levels can read it ([`Model::from_stored`]).
    pub fn to_stored(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            let names: serde_json::Map<String, serde_json::Value> =
                Field::ALL.iter().map(|f| (f.name().to_string(), serde_json::json!(level_names(*f)))).collect();
            o.insert("level_names".into(), names.into());
        }
        v
    }

    /// A stored model aligned to this version's levels, or None when it cannot be used. Each
    /// level takes the stored m and u of the level of the same name; a level the model did not
    /// have takes the default model's, and m and u are renormalised. A model stored without
    /// level names is read with the levels pg_cdp 0.1.0 had ([`LEGACY_LEVELS`]).
    pub fn from_stored(v: serde_json::Value) -> Option<Model> {
        // names that do not read: the model is not used (never read with another layout)
        let stored_names: Option<HashMap<String, Vec<String>>> = match v.get("level_names") {
            Some(n) => Some(serde_json::from_value(n.clone()).ok()?),
            None => None,
        };
        let mut model: Model = serde_json::from_value(v).ok()?;
        if model.m.len() != Field::COUNT || model.u.len() != Field::COUNT {
            return None;
        }
        let default = Model::default_model();
        for f in Field::ALL {
            let i = f.index();
            let current = level_names(f);
            let old: Vec<&str> = match &stored_names {
                Some(n) => n.get(f.name())?.iter().map(String::as_str).collect(),
                None => LEGACY_LEVELS.iter().find(|(lf, _)| *lf == f).map(|(_, l)| l.to_vec()).unwrap_or_else(|| current.to_vec()),
            };
            if old.len() != model.m[i].len() || old.len() != model.u[i].len() {
                return None;
            }
            if old == current {
                continue;
            }
            let take = |stored: &[f64], default: &[f64]| -> Vec<f64> {
                let v: Vec<f64> = current
                    .iter()
                    .enumerate()
                    .map(|(l, name)| old.iter().position(|o| o == name).map_or(default[l], |k| stored[k]))
                    .collect();
                let total: f64 = v.iter().sum();
                v.into_iter().map(|x| x / total).collect()
            };
            model.m[i] = take(&model.m[i], &default.m[i]);
            model.u[i] = take(&model.u[i], &default.u[i]);
        }
        model.is_compatible().then_some(model)
    }

    /// Whether the shapes match the current [`Field`] levels (a stored model from another
    /// version must not be used).
    pub fn is_compatible(&self) -> bool {
        self.m.len() == Field::COUNT
            && self.u.len() == Field::COUNT
            && Field::ALL.iter().all(|f| {
                self.m[f.index()].len() == f.levels() && self.u[f.index()].len() == f.levels()
            })
            && self
                .m
                .iter()
                .chain(&self.u)
                .flatten()
                .all(|x| x.is_finite() && *x > 0.0)
    }
}

/// The levels of the fields whose levels changed since pg_cdp 0.1.0, as 0.1.0 stored them in
/// its models (which carry no level names); every other field's are this version's.
pub const LEGACY_LEVELS: [(Field, &[&str]); 3] = [
    (Field::Name, &["exact", "swapped", "jw_high", "partial", "different"]),
    (Field::BirthDate, &["exact", "swap_or_typo", "same_year", "different"]),
    (Field::Address, &["street_postcode", "postcode_or_street_similar", "city", "different"]),
];

/// Weight not counted when phone and address both agree (both weights positive): the smaller.
///
/// A shared landline and a shared address are one piece of household evidence, not two: family
/// members share both, and summed they outweigh two different first names (+16 + 12 − 7 bits
/// for a father and daughter on the same till record). Counting only the larger keeps them apart,
/// while a true match still has its name agreement on top.
pub fn household_overlap(phone: Option<f64>, address: Option<f64>) -> f64 {
    match (phone, address) {
        (Some(p), Some(a)) if p > 0.0 && a > 0.0 => p.min(a),
        _ => 0.0,
    }
}

/// Starting m: 0.9 on the best level, the remaining 0.1 halving level by level.
pub fn initial_m() -> Vec<Vec<f64>> {
    Field::ALL
        .iter()
        .map(|f| {
            let n = f.levels();
            let rest: f64 = (1..n).map(|i| 0.5f64.powi(i as i32)).sum();
            (0..n)
                .map(|i| {
                    if i == 0 {
                        0.9
                    } else {
                        0.1 * 0.5f64.powi(i as i32) / rest
                    }
                })
                .collect()
        })
        .collect()
}

/// Whether field `f` has a value in `p` (comparable with another record having one).
fn present(p: &Prepared, f: Field) -> bool {
    match f {
        Field::Name => p.first.is_some() || p.last.is_some(),
        Field::Email => p.email.is_some(),
        Field::Phone => p.phone.is_some(),
        Field::BirthDate => p.birth.is_some(),
        Field::NationalId => p.national_id.is_some(),
        Field::ExternalId => p.external_id.is_some(),
        Field::AnonymousId => p.anonymous_id.is_some(),
        Field::Address => p.street.is_some() || p.postcode.is_some() || p.city.is_some(),
        Field::Gender => p.gender.is_some(),
    }
}

/// Pairs the u sample draws within the groups of a field's best-level stratum, for each pair of
/// the plain sample that falls inside them (see [`sample_u_patterns`]).
pub const STRATUM_OVERSAMPLE: usize = 100;
/// At most this many pairs are drawn within the stratum groups of one field.
pub const STRATUM_MAX_PAIRS: usize = 200_000;

/// The random pairs behind u: per field (outer index), comparison patterns with weights, and per
/// level the weight of one observed pair (Laplace's pseudo-count: one pair's worth of doubt).
#[derive(Clone, Debug, Default)]
pub struct USample {
    pub patterns: Vec<Vec<(Levels, f64)>>,
    pub unit: Vec<Vec<f64>>,
}

/// Count the comparison patterns of `count` pairs drawn by `draw` (run on two threads, halves
/// with derived seeds), skipping those `skip` says; each counted pair weighs `weight`.
fn count_patterns(
    prepared: &[Prepared],
    f: Field,
    count: usize,
    seed: u64,
    draw: &(dyn Fn(&mut SplitMix64) -> (u32, u32) + Sync),
    skip: &(dyn Fn(&Prepared, &Prepared) -> bool + Sync),
    weight: f64,
    into: &mut FastMap<u64, f64>,
) {
    let halves = [count / 2, count - count / 2];
    let maps: Vec<FastMap<u64, u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = halves
            .iter()
            .enumerate()
            .map(|(h, &count)| {
                s.spawn(move || {
                    let mut rng = SplitMix64(seed ^ (0x5eed_0000 + (f.index() as u64) * 2 + h as u64));
                    // levels common among different people (the default model's u ≥
                    // COMMON_LEVEL_U: the same city, gender, birth year), and "different"
                    let common: Vec<bool> = levels(f).iter().map(|l| l.u >= COMMON_LEVEL_U).collect();
                    let mut map: FastMap<u64, u64> = FastMap::default();
                    // drawn a batch at a time, so that the records are fetched ahead
                    let mut batch: Vec<(u32, u32)> = Vec::with_capacity(DRAW_BATCH);
                    for start in (0..count).step_by(DRAW_BATCH) {
                        batch.clear();
                        batch.extend((start..count.min(start + DRAW_BATCH)).map(|_| draw(&mut rng)));
                        for_each_pair(prepared, &batch, |a, b| {
                            if skip(a, b) {
                                return;
                            }
                            // Most random pairs simply differ on f, or agree only as often as
                            // different people do: their match posterior is negligible whatever
                            // the other fields say (at most λ·m/u, about 10⁻⁴ of the pair), so
                            // the other fields are only compared when f agrees at a rarer level.
                            let level = compare_field(a, b, f);
                            let lv = if level.is_some_and(|l| common[l as usize]) {
                                let mut l = Levels::default();
                                l.set(f, level);
                                l
                            } else {
                                compare(a, b)
                            };
                            *map.entry(lv.code()).or_insert(0) += 1;
                        });
                    }
                    map
                })
            })
            .collect();
        handles.into_iter().map(super::join_or_unwind).collect()
    });
    for m in maps {
        for (k, c) in m {
            *into.entry(k).or_insert(0.0) += c as f64 * weight;
        }
    }
}

/// Random pairs [`count_patterns`] draws at a time.
const DRAW_BATCH: usize = 1024;

/// A level at least this common among different people in the default model (the same city,
/// the same gender, the same birth year, "different") is not worth comparing the pair's other
/// fields for in the u sample: see [`count_patterns`].
pub const COMMON_LEVEL_U: f64 = 0.01;

/// Pairs a level other than "different" needs in the plain sample before the sample may stop
/// short of its full size: u is then known to about 3 %.
pub const U_LEVEL_ENOUGH: f64 = 1000.0;

/// The plain part of a field's u sample: up to `per_field` pairs drawn by `draw`, in rounds of
/// 1/8, 1/8, 1/4 and 1/2 of it, stopping after a round where every level but "different" has
/// been seen [`U_LEVEL_ENOUGH`] times (gender after an eighth: both levels are common; a rare
/// identifier's agreement never is). Returns the pairs drawn, skipped ones included.
fn count_plain(
    prepared: &[Prepared],
    f: Field,
    per_field: usize,
    seed: u64,
    draw: &(dyn Fn(&mut SplitMix64) -> (u32, u32) + Sync),
    skip: &(dyn Fn(&Prepared, &Prepared) -> bool + Sync),
    into: &mut FastMap<u64, f64>,
) -> usize {
    let eighth = per_field / 8;
    let rounds = [eighth, eighth, per_field / 4, per_field - per_field / 4 - 2 * eighth];
    let mut drawn = 0;
    for (r, &count) in rounds.iter().enumerate() {
        count_patterns(prepared, f, count, seed ^ ((r as u64) << 40), draw, skip, 1.0, into);
        drawn += count;
        let mut seen = vec![0.0; f.levels()];
        for (code, c) in into.iter() {
            if let Some(l) = Levels::from_code(*code).get(f) {
                seen[l as usize] += c;
            }
        }
        if seen[..f.levels() - 1].iter().all(|&c| c >= U_LEVEL_ENOUGH) {
            break;
        }
    }
    drawn
}

/// Two distinct uniform indices below `n` (n ≥ 2).
fn two_below(rng: &mut SplitMix64, n: u64) -> (u64, u64) {
    let i = rng.below(n);
    let mut j = rng.below(n - 1);
    if j >= i {
        j += 1;
    }
    (i, j)
}

/// The random pairs behind u: for each field f, up to `per_field` uniformly random pairs (i ≠ j)
/// of records that both have f, compared on all fields. Sampling per field gives every field the
/// same number of comparable pairs, so a sparse identifier (national id on 15 % of records) is
/// measured as precisely as gender; a field whose every level is common stops early
/// ([`count_plain`]).
///
/// A field whose best level has a stratum ([`best_level_stratum`]: the address's house number)
/// is sampled in two parts. Its best level is so rare among random pairs (an address: a few in
/// a million) that a million pairs only bound u from above, and the bound is what the weight
/// then says. So the pairs inside the stratum groups (both records hold the same house number)
/// are drawn on their own, up to [`STRATUM_OVERSAMPLE`] times as many as the plain sample holds,
/// each weighing their share of all pairs; the plain sample keeps only the pairs outside. The
/// weights still add up to the plain sample's pairs, and the best level's pseudo-count is one
/// pair of the stratum sample. Deterministic for a seed.
pub fn sample_u_patterns(prepared: &[Prepared], per_field: usize, seed: u64) -> USample {
    let mut out = USample::default();
    for f in Field::ALL {
        let holders: Vec<u32> = (0..prepared.len() as u32)
            .filter(|&i| present(&prepared[i as usize], f))
            .collect();
        let n = holders.len() as u64;
        let mut unit = vec![1.0; f.levels()];
        let mut map: FastMap<u64, f64> = FastMap::default();
        if n >= 2 && per_field > 0 {
            let plain = |rng: &mut SplitMix64| {
                let (i, j) = two_below(rng, n);
                (holders[i as usize], holders[j as usize])
            };
            // the stratum groups: holders of one value, as ranges of `members`
            let mut members: Vec<(&str, u32)> = holders
                .iter()
                .filter_map(|&i| best_level_stratum(&prepared[i as usize], f).map(|k| (k, i)))
                .collect();
            members.sort_unstable();
            let mut groups: Vec<(usize, u64)> = Vec::new(); // (start, size) with size ≥ 2
            let mut start = 0;
            while start < members.len() {
                let end = start + members[start..].iter().take_while(|m| m.0 == members[start].0).count();
                if end - start >= 2 {
                    groups.push((start, (end - start) as u64));
                }
                start = end;
            }
            let within: u64 = groups.iter().map(|&(_, k)| k * (k - 1) / 2).sum();
            let all_pairs = n * (n - 1) / 2;
            let share = within as f64 / all_pairs as f64;
            if groups.is_empty() {
                count_plain(prepared, f, per_field, seed, &plain, &|_, _| false, &mut map);
            } else {
                let same = |a: &Prepared, b: &Prepared| {
                    matches!((best_level_stratum(a, f), best_level_stratum(b, f)), (Some(x), Some(y)) if x == y)
                };
                let drawn = count_plain(prepared, f, per_field, seed, &plain, &same, &mut map);
                // never fewer than the plain sample would have drawn inside (a stratum holding
                // most pairs: streets without numbers, a placeholder date)
                let plain_inside = (share * drawn as f64).ceil() as usize;
                let stratum_pairs = (plain_inside * STRATUM_OVERSAMPLE).min(STRATUM_MAX_PAIRS).max(plain_inside);
                // a pair within: a group with probability by its pairs, then two of its members
                let mut cumulative = Vec::with_capacity(groups.len());
                let mut total = 0u64;
                for &(_, k) in &groups {
                    total += k * (k - 1) / 2;
                    cumulative.push(total);
                }
                let members = &members;
                let (groups, cumulative) = (&groups, &cumulative);
                let inside = move |rng: &mut SplitMix64| {
                    let r = rng.below(total);
                    let g = cumulative.partition_point(|&c| c <= r);
                    let (first, size) = groups[g];
                    let (i, j) = two_below(rng, size);
                    (members[first + i as usize].1, members[first + j as usize].1)
                };
                let weight = share * drawn as f64 / stratum_pairs as f64;
                count_patterns(prepared, f, stratum_pairs, seed ^ 0x57a7_0000, &inside, &|_, _| false, weight, &mut map);
                unit[0] = weight;
            }
        }
        let mut v: Vec<(Levels, f64)> = map.into_iter().map(|(k, c)| (Levels::from_code(k), c)).collect();
        v.sort_by_key(|p| p.0);
        out.patterns.push(v);
        out.unit.push(unit);
    }
    out
}

/// u by Laplace smoothing of each field's own sample: (count + unit) / (pairs + units), where a
/// level's unit is the weight of one of its pairs (1 in the plain sample).
pub fn laplace_u(samples: &USample) -> Vec<Vec<f64>> {
    Field::ALL
        .iter()
        .map(|&f| {
            let mut c = vec![0.0; f.levels()];
            for (lv, n) in samples.patterns.get(f.index()).map_or(&[][..], Vec::as_slice) {
                if let Some(l) = lv.get(f) {
                    c[l as usize] += n;
                }
            }
            smooth(&c, samples.unit.get(f.index()).map(Vec::as_slice))
        })
        .collect()
}

/// (count + unit) / (total + Σ units) per level; a unit of 1 where none is given.
fn smooth(counts: &[f64], unit: Option<&[f64]>) -> Vec<f64> {
    let unit_of = |l: usize| unit.and_then(|u| u.get(l).copied()).unwrap_or(1.0);
    let total: f64 = counts.iter().sum::<f64>() + (0..counts.len()).map(unit_of).sum::<f64>();
    counts.iter().enumerate().map(|(l, x)| (x + unit_of(l)) / total).collect()
}

/// u from random record pairs, with Laplace smoothing: `sample_pairs` random pairs *per field*
/// among the records having that field (see [`sample_u_patterns`]). Deterministic for a seed.
pub fn estimate_u(prepared: &[Prepared], sample_pairs: usize, seed: u64) -> Vec<Vec<f64>> {
    laplace_u(&sample_u_patterns(prepared, sample_pairs, seed))
}

/// Largest share of true matches assumed among random pairs in [`refine_u`].
pub const MAX_RANDOM_MATCH_SHARE: f64 = 0.01;

/// u corrected for the true matches among the random pairs.
///
/// A random pair is a match with probability ≈ 1/people; for rare agreements (the same e-mail)
/// those matches *are* most of what the sample sees, so plain counting makes u ≈ m/people and
/// caps every identifier's weight at log2(people): 16 bits at 200k records, whatever the truth.
/// Here each field's sample is re-weighted by its pairs' non-match posterior under the current
/// m (all fields of the pair count): EM over the sample with m fixed, estimating the share of
/// matches λ_f (capped at [`MAX_RANDOM_MATCH_SHARE`]) and u of field f with Laplace smoothing.
/// Returns the new u and each field's λ_f.
pub fn refine_u(
    samples: &USample,
    m: &[Vec<f64>],
    u: &[Vec<f64>],
    max_iter: u32,
    tol: f64,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut out = u.to_vec();
    let mut shares = vec![0.0; Field::COUNT];
    for f in Field::ALL {
        let fi = f.index();
        let Some(pats) = samples.patterns.get(fi).filter(|p| !p.is_empty()) else {
            continue;
        };
        let lpm = ln_p(pats, m);
        let mut lam = 1e-4f64;
        let mut uf = u[fi].clone();
        for _ in 0..max_iter {
            // ln PU with this field's current u, the other fields' fixed
            let (lp, lq) = (lam.ln(), (1.0 - lam).ln());
            let mut acc = vec![0.0; uf.len()];
            let (mut post, mut total) = (0.0, 0.0);
            for ((lv, c), lm) in pats.iter().zip(&lpm) {
                let lu: f64 =
                    lv.0.iter()
                        .enumerate()
                        .filter_map(|(g, l)| {
                            l.map(|l| {
                                if g == fi {
                                    uf[l as usize].ln()
                                } else {
                                    out[g][l as usize].ln()
                                }
                            })
                        })
                        .sum();
                let gm = 1.0 / (1.0 + (lq + lu - lp - lm).exp());
                post += c * gm;
                total += c;
                if let Some(l) = lv.get(f) {
                    acc[l as usize] += c * (1.0 - gm);
                }
            }
            let new_u = smooth(&acc, samples.unit.get(fi).map(Vec::as_slice));
            let new_lam = (post / total).clamp(1e-9, MAX_RANDOM_MATCH_SHARE);
            let delta = new_u
                .iter()
                .zip(&uf)
                .map(|(a, b)| (a - b).abs() / b)
                .fold((new_lam - lam).abs() / lam, f64::max);
            uf = new_u;
            lam = new_lam;
            if delta < tol {
                break;
            }
        }
        out[fi] = uf;
        shares[fi] = lam;
    }
    (out, shares)
}

/// Unique comparison patterns with their counts, in a fixed order (EM is then deterministic and
/// costs O(patterns) per iteration instead of O(pairs)). All-missing vectors are dropped.
pub fn patterns(levels: &[Levels]) -> Vec<(Levels, f64)> {
    let mut map: FastMap<u64, u64> = FastMap::default();
    for lv in levels {
        *map.entry(lv.code()).or_insert(0) += 1;
    }
    let mut v: Vec<(Levels, f64)> = map
        .into_iter()
        .filter(|(k, _)| *k != 0)
        .map(|(k, c)| (Levels::from_code(k), c as f64))
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

/// `pats` without one pair of each of `removed`'s patterns (a pattern whose count falls to zero
/// is dropped): the candidate pairs that are counted elsewhere, such as a steward's same-person
/// decisions, which EM counts as sure matches and must not count a second time unlabelled.
pub fn without_pairs(mut pats: Vec<(Levels, f64)>, removed: &[Levels]) -> Vec<(Levels, f64)> {
    for lv in removed {
        if let Ok(i) = pats.binary_search_by_key(lv, |p| p.0) {
            pats[i].1 -= 1.0;
        }
    }
    pats.retain(|p| p.1 > 0.0);
    pats
}

/// The patterns passing `select`, with the fields in `mask` blanked (treated as missing),
/// re-aggregated.
fn select_patterns(
    pats: &[(Levels, f64)],
    select: impl Fn(&Levels) -> bool,
    mask: &[Field],
) -> Vec<(Levels, f64)> {
    let mut map: FastMap<u64, f64> = FastMap::default();
    for (lv, c) in pats {
        if !select(lv) {
            continue;
        }
        let mut l = *lv;
        for f in mask {
            l.set(*f, None);
        }
        let k = l.code();
        if k != 0 {
            *map.entry(k).or_insert(0.0) += c;
        }
    }
    let mut v: Vec<(Levels, f64)> = map
        .into_iter()
        .map(|(k, c)| (Levels::from_code(k), c))
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

/// Normalise to sum 1 and clamp into [M_MIN, 1 − M_MIN] (then renormalise once more; the clamp
/// only bites on levels EM drove to ~0, so the sum stays within 1e-4·levels of 1).
fn clamp_normalise(m: &mut [f64]) {
    let s: f64 = m.iter().sum();
    let n = m.len() as f64;
    for x in m.iter_mut() {
        *x = if s > 0.0 { *x / s } else { 1.0 / n };
        *x = x.clamp(M_MIN, 1.0 - M_MIN);
    }
    let s: f64 = m.iter().sum();
    for x in m.iter_mut() {
        *x /= s;
    }
}

/// EM for m and λ with u fixed, followed by [`apply_safeguards`]. See [`em_unguarded`].
pub fn em(
    levels: &[Levels],
    u_fixed: &[Vec<f64>],
    init_m: Option<&[Vec<f64>]>,
    max_iter: u32,
    tol: f64,
) -> Model {
    let mut model = em_unguarded(levels, u_fixed, init_m, max_iter, tol);
    apply_safeguards(&mut model);
    model
}

/// EM over comparison vectors: E-step posterior of "match" per pattern, M-step
/// m[f][l] = Σ posterior·[level = l] / Σ posterior·[f present], λ = mean posterior.
/// Missing fields contribute nothing. Stops when no m and not λ moved by more than `tol`
/// (`converged = true`) or after `max_iter` iterations. `init_m` defaults to [`initial_m`]; λ
/// starts at 0.1. The log-likelihood reported is that of the final parameters.
///
/// All vectors are assumed to be drawn alike; for the candidate pairs of a run, where blocking
/// selected pairs by agreement on some fields, use [`estimate_m`].
pub fn em_unguarded(
    levels: &[Levels],
    u_fixed: &[Vec<f64>],
    init_m: Option<&[Vec<f64>]>,
    max_iter: u32,
    tol: f64,
) -> Model {
    em_patterns(&patterns(levels), &[], u_fixed, init_m, max_iter, tol)
}

/// EM over comparison patterns with u fixed. `sure`: patterns of pairs known to be one person
/// (steward decisions), counted as matches with certainty in every m update and left out of λ
/// (they are chosen near the threshold, not drawn from the candidate pairs).
fn em_patterns(
    pats: &[(Levels, f64)],
    sure: &[(Levels, f64)],
    u_fixed: &[Vec<f64>],
    init_m: Option<&[Vec<f64>]>,
    max_iter: u32,
    tol: f64,
) -> Model {
    let mut m: Vec<Vec<f64>> = init_m.map(<[Vec<f64>]>::to_vec).unwrap_or_else(initial_m);
    for row in &mut m {
        clamp_normalise(row);
    }
    let mut prior = 0.1f64;
    let mut iterations = 0;
    let mut converged = false;
    let total: f64 = pats.iter().map(|p| p.1).sum();
    if total == 0.0 {
        return Model {
            m,
            u: u_fixed.to_vec(),
            prior,
            iterations: 0,
            converged: true,
            log_likelihood: 0.0,
            national_id_trusted: true,
            labels: 0,
            label_threshold_offset: 0.0,
            prior_log2_odds: None,
        };
    }
    let lpu = ln_p(pats, u_fixed);
    while iterations < max_iter {
        iterations += 1;
        let lpm = ln_p(pats, &m);
        let (lp, lq) = (prior.ln(), (1.0 - prior).ln());
        let mut acc: Vec<Vec<f64>> = m.iter().map(|r| vec![0.0; r.len()]).collect();
        let mut post_sum = 0.0;
        for (((lv, c), lu), lm) in pats.iter().zip(&lpu).zip(&lpm) {
            // posterior = 1 / (1 + exp(ln(1-λ)PU − ln λPM)), computed without overflow
            let g = 1.0 / (1.0 + (lq + lu - lp - lm).exp());
            let w = c * g;
            post_sum += w;
            for (f, l) in lv.0.iter().enumerate() {
                if let Some(l) = l {
                    acc[f][*l as usize] += w;
                }
            }
        }
        for (lv, c) in sure {
            for (f, l) in lv.0.iter().enumerate() {
                if let Some(l) = l {
                    acc[f][*l as usize] += c;
                }
            }
        }
        let mut delta = 0.0f64;
        for (row, a) in m.iter_mut().zip(&acc) {
            let s: f64 = a.iter().sum();
            if s <= 0.0 {
                continue; // field never present (or no posterior mass): keep m
            }
            let mut new: Vec<f64> = a.iter().map(|x| x / s).collect();
            clamp_normalise(&mut new);
            for (old, nv) in row.iter_mut().zip(new) {
                delta = delta.max((*old - nv).abs());
                *old = nv;
            }
        }
        let new_prior = (post_sum / total).clamp(1e-6, 1.0 - 1e-6);
        delta = delta.max((new_prior - prior).abs());
        prior = new_prior;
        if delta < tol {
            converged = true;
            break;
        }
    }
    let log_likelihood = log_likelihood(pats, &lpu, &ln_p(pats, &m), prior);
    Model {
        m,
        u: u_fixed.to_vec(),
        prior,
        iterations,
        converged,
        log_likelihood,
        national_id_trusted: true,
        labels: 0,
        label_threshold_offset: 0.0,
        prior_log2_odds: None,
    }
}

/// ln Π p[f][level] over the present fields of each pattern.
fn ln_p(pats: &[(Levels, f64)], p: &[Vec<f64>]) -> Vec<f64> {
    pats.iter()
        .map(|(lv, _)| {
            lv.0.iter()
                .enumerate()
                .filter_map(|(f, l)| l.map(|l| p[f][l as usize].ln()))
                .sum()
        })
        .collect()
}

/// Fields whose exact agreement selects the pairs of the identifier training session.
const ID_FIELDS: [Field; 5] = [
    Field::Email,
    Field::Phone,
    Field::NationalId,
    Field::ExternalId,
    Field::AnonymousId,
];
/// Fields whose agreement selects the pairs of the name training session.
const NAME_FIELDS: [Field; 3] = [Field::Name, Field::BirthDate, Field::Address];
/// A training session with fewer pairs than this keeps the default m of its fields.
pub const MIN_SESSION_PAIRS: usize = 200;

/// A training session: name, pair selection, fields blanked (those the selection looked at).
type Session = (&'static str, fn(&Levels) -> bool, &'static [Field]);

/// Pairs that agree exactly on some identifier (what identifier blocking keys find).
fn id_session(lv: &Levels) -> bool {
    lv.get(Field::Email).is_some_and(|l| l <= 1)
        || [
            Field::Phone,
            Field::NationalId,
            Field::ExternalId,
            Field::AnonymousId,
        ]
        .iter()
        .any(|&f| lv.get(f) == Some(0))
}

/// Pairs whose names agree (up to "partial") and whose birth date or address agree at least
/// closely (what the name blocking keys find).
fn name_session(lv: &Levels) -> bool {
    use super::levels::{ADDRESS_POSTCODE_OR_STREET, BIRTH_SWAP_OR_TYPO, NAME_PARTIAL};
    lv.get(Field::Name).is_some_and(|l| l <= NAME_PARTIAL)
        && (lv.get(Field::BirthDate).is_some_and(|l| l <= BIRTH_SWAP_OR_TYPO)
            || lv.get(Field::Address).is_some_and(|l| l <= ADDRESS_POSTCODE_OR_STREET))
}

/// m and λ for the candidate pairs of a run, the Splink way: EM in training sessions, each over
/// the pairs selected by agreement on some fields *with those fields blanked*.
///
/// Why: blocking selects pairs that agree on a key, so among candidate pairs the non-matches
/// agree on the key's fields far more often than the random pairs u was estimated from; fed to
/// one EM, those non-matches look like matches and λ runs to 1 (observed on synthetic data:
/// every candidate pair "matched", every weight compressed). Within a session, the selection
/// only involves the blanked fields, so the other fields of its non-matches behave like random
/// pairs and u applies.
///
/// - identifier session: pairs agreeing exactly on an e-mail, phone or id; estimates m of name,
///   birth date, address and gender;
/// - name session: pairs whose names agree and birth date or address agree; estimates m of
///   e-mail, phone and the ids.
///
/// A session with fewer than [`MIN_SESSION_PAIRS`] pairs keeps the default m of its fields.
/// λ is then fitted over all candidate pairs with m and u fixed (a one-parameter EM); it only
/// matters for [`match_probability`]. `iterations` adds up the three EMs, `converged` requires
/// all three, `log_likelihood` is that of all candidate pairs under the final model. Safeguards
/// are not applied here (see [`apply_safeguards`]); notes say which defaults were used.
pub fn estimate_m(
    levels: &[Levels],
    u: &[Vec<f64>],
    max_iter: u32,
    tol: f64,
) -> (Model, Vec<String>) {
    estimate_m_patterns(&patterns(levels), &[], u, max_iter, tol)
}

/// [`estimate_m`] over the candidate pairs' patterns (see [`patterns`]).
pub fn estimate_m_patterns(
    all: &[(Levels, f64)],
    sure: &[Levels],
    u: &[Vec<f64>],
    max_iter: u32,
    tol: f64,
) -> (Model, Vec<String>) {
    let defaults = Model::default_model();
    let mut m = defaults.m.clone();
    let mut notes = Vec::new();
    let mut iterations = 0;
    let mut converged = true;
    let sessions: [Session; 2] = [
        ("identifier", id_session, &ID_FIELDS),
        ("name", name_session, &NAME_FIELDS),
    ];
    for (name, select, blanked) in sessions {
        let pats = select_patterns(all, select, blanked);
        let pairs: f64 = pats.iter().map(|p| p.1).sum();
        let provides: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|f| !blanked.contains(f))
            .collect();
        // the identifier session provides name/birth/address/gender, the name session the ids
        let own: Vec<Field> = if name == "identifier" {
            provides
                .iter()
                .copied()
                .filter(|f| !ID_FIELDS.contains(f))
                .collect()
        } else {
            provides
                .iter()
                .copied()
                .filter(|f| ID_FIELDS.contains(f))
                .collect()
        };
        if (pairs as usize) < MIN_SESSION_PAIRS {
            notes.push(format!(
                "{name} session: {pairs} pairs, default m kept for {}",
                own.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        // the steward's same-person pairs, with the session's fields blanked as its pairs are
        let sure_pats = select_patterns(&patterns(sure), |_| true, blanked);
        let fit = em_patterns(&pats, &sure_pats, u, None, max_iter, tol);
        iterations += fit.iterations;
        converged &= fit.converged;
        if !fit.converged {
            notes.push(format!(
                "{name} session: EM did not converge in {max_iter} iterations"
            ));
        }
        for f in own {
            m[f.index()] = fit.m[f.index()].clone();
        }
    }
    // λ over all candidate pairs, m and u fixed
    let pats = all;
    let lpu = ln_p(pats, u);
    let lpm = ln_p(pats, &m);
    let total: f64 = pats.iter().map(|p| p.1).sum();
    let mut prior = 0.1f64;
    if total > 0.0 {
        let mut it = 0;
        let mut done = false;
        while it < max_iter {
            it += 1;
            let (lp, lq) = (prior.ln(), (1.0 - prior).ln());
            let post: f64 = pats
                .iter()
                .zip(&lpu)
                .zip(&lpm)
                .map(|(((_, c), lu), lm)| c / (1.0 + (lq + lu - lp - lm).exp()))
                .sum();
            let new_prior = (post / total).clamp(1e-6, 1.0 - 1e-6);
            let delta = (new_prior - prior).abs();
            prior = new_prior;
            if delta < tol {
                done = true;
                break;
            }
        }
        iterations += it;
        converged &= done;
    }
    let log_likelihood = log_likelihood(pats, &lpu, &lpm, prior);
    (
        Model {
            m,
            u: u.to_vec(),
            prior,
            iterations,
            converged,
            log_likelihood,
            national_id_trusted: true,
            labels: 0,
            label_threshold_offset: 0.0,
            prior_log2_odds: None,
        },
        notes,
    )
}

fn log_likelihood(pats: &[(Levels, f64)], lpu: &[f64], lpm: &[f64], prior: f64) -> f64 {
    let (lp, lq) = (prior.ln(), (1.0 - prior).ln());
    pats.iter()
        .zip(lpu)
        .zip(lpm)
        .map(|(((_, c), lu), lm)| {
            let (a, b) = (lp + lm, lq + lu);
            let hi = a.max(b);
            c * (hi + ((a - hi).exp() + (b - hi).exp()).ln())
        })
        .sum()
}

/// The default posterior match probability (`cdp.match_probability`).
pub const DEFAULT_MATCH_PROBABILITY: f64 = 0.9;
/// The bounds of a threshold set from the posterior: never so low that an exact name alone
/// (≈ 12 bits) or a name and a city make a match, never so high that an exact e-mail or id
/// ([`CONCLUSIVE_MIN_BITS`]) stops being enough on its own. Reached below ~4,000 records (min)
/// and above ~2.5 million (max) on typical customer data.
pub const POSTERIOR_THRESHOLD_MIN: f64 = 14.0;
pub const POSTERIOR_THRESHOLD_MAX: f64 = 24.0;

/// log2(p / (1 − p)), the scale of match weights.
pub fn logit2(p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    (p / (1.0 - p)).log2()
}

/// The prior log2-odds that two records drawn at random from `n` are one person, estimated
/// from the prior-free weights of the candidate pairs: the expected number of matches M is
/// Σ P(match | w) = Σ 1 / (1 + 2^−(w + logit2 λ)) over the candidate pairs (pairs no blocking
/// key brings together are taken as non-matches), and λ = M / (n (n − 1) / 2): a fixed point,
/// found by iterating from the count of pairs at or above [`DEFAULT_THRESHOLD`]. The weights'
/// u comes from random pairs, so this all-pairs λ is the prior they combine with. None below
/// two records or without a candidate pair.
pub fn all_pairs_prior_log2_odds(weights: &[f64], n: usize) -> Option<f64> {
    if n < 2 || weights.is_empty() {
        return None;
    }
    let pairs = n as f64 * (n as f64 - 1.0) / 2.0;
    let start = weights.iter().filter(|w| **w >= DEFAULT_THRESHOLD).count().max(1) as f64;
    let mut l = logit2((start / pairs).min(0.5));
    for _ in 0..200 {
        let m: f64 = weights.iter().map(|w| 1.0 / (1.0 + (-(w + l)).exp2())).sum();
        let next = logit2((m / pairs).clamp(1.0 / pairs, 0.5));
        let done = (next - l).abs() < 1e-4;
        l = next;
        if done {
            break;
        }
    }
    Some(l)
}

/// The weight threshold that makes a pair a match when its posterior probability is at least
/// `probability`, given the prior log2-odds of a random pair: logit2(p) − logit2(λ).
pub fn posterior_threshold(probability: f64, prior_log2_odds: f64) -> f64 {
    logit2(probability) - prior_log2_odds
}

/// Fewest steward decisions for [`learn_threshold`] to move the threshold, and fewest of each
/// kind (same person, not the same person).
pub const MIN_LABELS: usize = 20;
pub const MIN_LABELS_OF_EACH: usize = 3;

/// What the steward decisions say about the threshold ([`learn_threshold`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelFit {
    /// the threshold that misclassifies the fewest labelled pairs
    pub threshold: f64,
    pub labels: usize,
    /// (precision, recall) over the labelled pairs at the configured threshold and at `threshold`
    pub before: (f64, f64),
    pub after: (f64, f64),
}

/// The match threshold that the labelled pairs (`(weight, same person)`: force_link and
/// cannot_link decisions, weighed by the model) support: among the configured threshold and the
/// labelled weights within [`REVIEW_BAND`] bits of it, the one misclassifying the fewest labels
/// (ties: the closest to the configured one). The threshold only moves inside the band the
/// labels cover, where the review queue chose them. None with fewer than [`MIN_LABELS`] labels
/// or [`MIN_LABELS_OF_EACH`] of either kind.
pub fn learn_threshold(labels: &[(f64, bool)], configured: f64) -> Option<LabelFit> {
    let same = labels.iter().filter(|l| l.1).count();
    if labels.len() < MIN_LABELS || same < MIN_LABELS_OF_EACH || labels.len() - same < MIN_LABELS_OF_EACH {
        return None;
    }
    let errors = |t: f64| labels.iter().filter(|(w, m)| (*w >= t) != *m).count();
    let pr = |t: f64| {
        let tp = labels.iter().filter(|(w, m)| *m && *w >= t).count() as f64;
        let fp = labels.iter().filter(|(w, m)| !*m && *w >= t).count() as f64;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        (precision, tp / same as f64)
    };
    let mut best = configured;
    for &(w, _) in labels {
        if (w - configured).abs() > REVIEW_BAND || !w.is_finite() {
            continue;
        }
        let (e, eb) = (errors(w), errors(best));
        if e < eb || (e == eb && (w - configured).abs() < (best - configured).abs()) {
            best = w;
        }
    }
    Some(LabelFit { threshold: best, labels: labels.len(), before: pr(configured), after: pr(best) })
}

/// How far from the configured threshold the labels may move it (bits): the band of
/// `cdp.review_queue`.
pub const REVIEW_BAND: f64 = 4.0;

/// Fewest near-certain matches with a national id on both sides for
/// [`id_disagreement_of_sure_matches`] to say anything.
pub const MIN_SURE_MATCHES: f64 = 30.0;

/// Among the candidate pairs that agree exactly on the name, the birth date and the street and
/// postcode (one person but for twins at one address: no other evidence needed) and that both
/// have a national id: the share whose ids differ by more than a typo, with their number. None
/// below [`MIN_SURE_MATCHES`] such pairs.
pub fn id_disagreement_of_sure_matches(pats: &[(Levels, f64)]) -> Option<(f64, f64)> {
    use super::levels::{ADDRESS_STREET_POSTCODE, BIRTH_EXACT, ID_DIFFERENT, NAME_EXACT};
    let (mut sure, mut differ) = (0.0, 0.0);
    for (lv, n) in pats {
        if lv.get(Field::Name) == Some(NAME_EXACT)
            && lv.get(Field::BirthDate) == Some(BIRTH_EXACT)
            && lv.get(Field::Address) == Some(ADDRESS_STREET_POSTCODE)
        {
            if let Some(l) = lv.get(Field::NationalId) {
                sure += n;
                if l == ID_DIFFERENT {
                    differ += n;
                }
            }
        }
    }
    (sure >= MIN_SURE_MATCHES).then(|| (differ / sure, sure))
}

/// Set `m[level] = value` and rescale the other levels (except `keep`) so that m sums to 1.
fn set_m(m: &mut [f64], level: usize, value: f64, keep: &[usize]) {
    let fixed: f64 = keep.iter().filter(|&&k| k != level).map(|&k| m[k]).sum();
    let others: f64 = (0..m.len())
        .filter(|i| *i != level && !keep.contains(i))
        .map(|i| m[i])
        .sum();
    let room = 1.0 - value - fixed;
    if others <= 0.0 || room <= 0.0 {
        return;
    }
    let free: Vec<usize> = (0..m.len())
        .filter(|i| *i != level && !keep.contains(i))
        .collect();
    for &i in &free {
        m[i] *= room / others;
    }
    m[level] = value;
    // keep the rescaled levels at M_MIN too, taking the difference from the largest of them
    let mut deficit = 0.0;
    for &i in &free {
        if m[i] < M_MIN {
            deficit += M_MIN - m[i];
            m[i] = M_MIN;
        }
    }
    if let Some(&big) = free.iter().max_by(|a, b| m[**a].total_cmp(&m[**b])) {
        m[big] -= deficit;
    }
}

/// The safeguards (see the module doc), applied after EM. Returns a note per adjustment made
/// ("email exact raised to 8 bits", ...) for the run report.
///
/// Why: EM only sees the blocked pairs, and on skewed data (a source that copies e-mails into
/// every record, few true duplicates, a batch with hardly any phones) it can settle with
/// m ≤ u on an identifier, which would turn exact e-mail agreement into evidence *against* a
/// match. Identifier agreement is known to be strong evidence, so it is floored; the e-mail and
/// phone typo levels are floored at a small positive weight so one mistyped character never
/// pushes a pair below agreement-on-nothing; two national ids that differ by more than a typo
/// are two people, whatever EM says.
/// Raise m of level `l` of `f` until the level weighs at least `bits` (m at most `cap`), taking
/// the mass from the levels not in `keep`; says so in `notes`.
fn floor_level(model: &mut Model, notes: &mut Vec<String>, f: Field, l: usize, bits: f64, cap: f64, keep: &[usize]) {
    let fi = f.index();
    let ul = model.u[fi][l];
    let min_m = (ul * bits.exp2()).min(cap);
    if model.m[fi][l] < min_m {
        notes.push(format!(
            "{} {} raised from {:.2} to {:.2} bits",
            f.name(),
            level_names(f)[l],
            (model.m[fi][l] / ul).log2(),
            (min_m / ul).log2()
        ));
        set_m(&mut model.m[fi], l, min_m, keep);
    }
}

pub fn apply_safeguards(model: &mut Model) -> Vec<String> {
    let mut notes = Vec::new();
    for row in &mut model.m {
        clamp_normalise(row);
    }
    for f in Field::ALL {
        let fi = f.index();
        for l in flagged(f, EXACT_FLOOR) {
            floor_level(model, &mut notes, f, l, STRONG_EXACT_MIN_BITS, 0.9, &[]);
        }
        // a typo level takes the mass it needs from the "different" level only
        let keep: Vec<usize> = flagged(f, EXACT_FLOOR).chain(flagged(f, TYPO_FLOOR)).collect();
        for l in flagged(f, TYPO_FLOOR) {
            floor_level(model, &mut notes, f, l, TYPO_MIN_BITS, 0.05, &keep);
        }
        // u of exact agreement on a personal identifier among different people is far below
        // what a random sample can measure (its Laplace floor is 1/sample, and at scale the
        // few shared values are family mailboxes or hubs, handled elsewhere): cap it. A
        // household phone is compared at a weaker level (compare::mark_shared_phones).
        for l in flagged(f, CONCLUSIVE) {
            let last = f.levels() - 1;
            let max_u = model.m[fi][l] * (-CONCLUSIVE_MIN_BITS).exp2();
            if model.u[fi][l] > max_u {
                notes.push(format!(
                    "{} {} raised from {:.2} to {:.2} bits (u capped)",
                    f.name(),
                    level_names(f)[l],
                    (model.m[fi][l] / model.u[fi][l]).log2(),
                    CONCLUSIVE_MIN_BITS
                ));
                model.u[fi][last] += model.u[fi][l] - max_u;
                model.u[fi][l] = max_u;
            }
        }
        // an untrusted id's conflict keeps the weight EM estimated for it
        for l in flagged(f, CONFLICT_CAP).filter(|_| model.national_id_trusted) {
            let ul = model.u[fi][l];
            let max_m = (ul * (-NATIONAL_ID_CONFLICT_BITS).exp2()).max(M_MIN);
            if model.m[fi][l] > max_m * (1.0 + 1e-9) {
                notes.push(format!(
                    "{} {} lowered from {:.2} to {:.2} bits",
                    f.name(),
                    level_names(f)[l],
                    (model.m[fi][l] / ul).log2(),
                    (max_m / ul).log2()
                ));
                set_m(&mut model.m[fi], l, max_m, &[]);
            }
        }
    }
    notes
}

/// Name frequencies for the term-frequency adjustment: counts of "first last" name keys
/// (`Prepared::name_key`) over the records of a batch (or loaded from a stored table).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TermFreq {
    pub counts: HashMap<String, u32>,
    /// Number of names counted.
    pub total: u64,
    /// Smallest u returned: keeps a name seen once from weighing without bound.
    pub floor: f64,
}

impl TermFreq {
    /// Count name keys (empty keys, i.e. incomplete names, are skipped).
    pub fn build<'a>(names: impl IntoIterator<Item = &'a str>) -> TermFreq {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut total = 0u64;
        for n in names {
            if n.is_empty() {
                continue;
            }
            total += 1;
            if let Some(c) = counts.get_mut(n) {
                *c += 1;
            } else {
                counts.insert(n.to_string(), 1);
            }
        }
        TermFreq {
            counts,
            total,
            floor: 1e-7,
        }
    }

    /// Count how many different people hold each name key: records with the same name and the
    /// same birth date (`Some`) count once, as one person's duplicates; a record without a birth
    /// date (`None`) counts on its own. Counting rows instead made a person with five records
    /// make their own name "common" and weigh it down in exactly the pairs that should match.
    pub fn build_people<'a, B: std::hash::Hash + Eq>(items: impl IntoIterator<Item = (&'a str, Option<B>)>) -> TermFreq {
        let mut seen: std::collections::HashSet<(&'a str, B)> = std::collections::HashSet::new();
        TermFreq::build(items.into_iter().filter_map(|(name, birth)| match birth {
            Some(b) if !name.is_empty() => seen.insert((name, b)).then_some(name),
            _ => Some(name),
        }))
    }

    /// Frequencies of the prepared records' names, by people ([`TermFreq::build_people`]).
    pub fn from_prepared(prepared: &[Prepared]) -> TermFreq {
        TermFreq::build_people(prepared.iter().map(|p| (p.name_key.as_str(), p.birth)))
    }

    /// u_tf = max(count / total, floor): the chance that a random record has this exact name.
    /// None for an unknown name or when fewer than [`TF_MIN_TOTAL`] names were counted.
    pub fn u(&self, name_key: &str) -> Option<f64> {
        if self.total < TF_MIN_TOTAL || name_key.is_empty() {
            return None;
        }
        let c = *self.counts.get(name_key)?;
        Some((f64::from(c) / self.total as f64).max(self.floor))
    }
}

#[cfg(test)]
mod tests {
    use super::super::levels::{BIRTH_DIFFERENT, NAME_DIFFERENT, NAME_ONE_PART_OTHER_DIFFERENT};
    use super::*;

    fn lv(pairs: &[(Field, u8)]) -> Levels {
        let mut l = Levels::default();
        for &(f, v) in pairs {
            l.set(f, Some(v));
        }
        l
    }

    #[test]
    fn probability_and_default_model() {
        assert!((match_probability(0.0, 0.5) - 0.5).abs() < 1e-12);
        assert!(match_probability(30.0, 0.01) > 0.99);
        assert!(match_probability(-10.0, 0.5) < 0.01);
        let m = Model::default_model();
        assert!(m.is_compatible());
        // the default model agrees with the threshold rationale
        let t = DEFAULT_THRESHOLD;
        let name_dob = lv(&[(Field::Name, 0), (Field::BirthDate, 0)]);
        assert!(m.weight(&name_dob) > t);
        assert!(m.weight(&lv(&[(Field::Name, 0)])) < t);
        assert!(m.weight(&lv(&[(Field::Email, 0)])) > t);
        // a household landline (seen with several first names: compared at level 1)
        let family = lv(&[(Field::Phone, 1), (Field::Name, NAME_DIFFERENT), (Field::Gender, 0)]);
        assert!(m.weight(&family) < t);
        // a personal e-mail outweighs a name that disagrees (nickname, transliteration) ...
        let nickname = lv(&[(Field::Email, 0), (Field::Name, NAME_DIFFERENT)]);
        assert!(m.weight(&nickname) > t);
        // ... but not a name and a birth date that both disagree (a family mailbox)
        let shared_email = lv(&[(Field::Email, 0), (Field::Name, NAME_DIFFERENT), (Field::BirthDate, BIRTH_DIFFERENT)]);
        assert!(m.weight(&shared_email) < t);
        let namesakes = lv(&[(Field::Name, 0), (Field::Address, super::super::levels::ADDRESS_CITY), (Field::Gender, 0)]);
        assert!(m.weight(&namesakes) < t);
        let typo = lv(&[(Field::Email, 2), (Field::Name, 0)]);
        assert!(m.weight(&typo) > t);
        let ex = m.explain(&name_dob);
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].1, "exact");
        assert!((ex.iter().map(|e| e.2).sum::<f64>() - m.weight(&name_dob)).abs() < 1e-9);
        // serde round trip (the SQL layer stores the model as JSON)
        let s = serde_json::to_string(&m).unwrap();
        let back: Model = serde_json::from_str(&s).unwrap();
        for (x, y) in back.m.iter().flatten().zip(m.m.iter().flatten()) {
            assert!((x - y).abs() < 1e-15);
        }
    }

    #[test]
    fn a_stored_model_is_read_by_its_level_names() {
        let m = Model::default_model();
        let back = Model::from_stored(m.to_stored()).expect("this version's model reads back");
        assert_eq!(back, m);
        // a model of pg_cdp 0.1.0: no level names, the name, birth-date and address levels it had
        let mut legacy = serde_json::to_value(&m).unwrap();
        let (name, birth, address) = (Field::Name.index(), Field::BirthDate.index(), Field::Address.index());
        for key in ["m", "u"] {
            let fields = legacy[key].as_array_mut().unwrap();
            fields[name] = serde_json::json!([0.7, 0.05, 0.05, 0.1, 0.1]);
            fields[birth] = serde_json::json!([0.85, 0.05, 0.05, 0.05]);
            fields[address] = serde_json::json!([0.6, 0.2, 0.1, 0.1]);
        }
        let aligned = Model::from_stored(legacy).expect("a 0.1.0 model is aligned, not dropped");
        assert!(aligned.is_compatible());
        let names = level_names(Field::Name);
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        // the levels it had keep their proportions; the new ones take the default model's mass
        let mn = &aligned.m[name];
        assert!((mn[at("exact")] / mn[at("different")] - 7.0).abs() < 1e-9);
        let ratio = mn[at("one_part_other_missing")] / mn[at("exact")];
        let default_ratio = m.m[name][at("one_part_other_missing")] / 0.7;
        assert!((ratio - default_ratio).abs() < 1e-9, "{ratio} {default_ratio}");
        for f in Field::ALL {
            assert!((aligned.m[f.index()].iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!((aligned.u[f.index()].iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        let bd = level_names(Field::BirthDate);
        assert!((aligned.m[birth][bd.iter().position(|x| *x == "exact").unwrap()] / aligned.m[birth][bd.len() - 1] - 17.0).abs() < 1e-9);
        let ad = level_names(Field::Address);
        let at_ad = |n: &str| ad.iter().position(|x| *x == n).unwrap();
        assert!((aligned.m[address][at_ad("street_postcode")] / aligned.m[address][at_ad("postcode_or_street_similar")] - 3.0).abs() < 1e-9);
        assert!((aligned.m[address][at_ad("city")] / aligned.m[address][at_ad("different")] - 1.0).abs() < 1e-9);
        assert!(aligned.m[address][at_ad("street_other_number")] > 0.0);
        // a shape no version had, or names that do not fit their values: not used
        let mut odd = serde_json::to_value(&m).unwrap();
        odd["m"].as_array_mut().unwrap()[name] = serde_json::json!([0.5, 0.5]);
        assert!(Model::from_stored(odd).is_none());
        let mut wrong = m.to_stored();
        wrong["level_names"]["name"] = serde_json::json!(["exact", "different"]);
        assert!(Model::from_stored(wrong).is_none());
        let mut unreadable = m.to_stored();
        unreadable["level_names"] = serde_json::json!("exact, different");
        assert!(Model::from_stored(unreadable).is_none(), "never read with 0.1.0's levels instead");
        // a level this version no longer has is dropped, the rest renormalised
        let mut extra = m.to_stored();
        let mut names_plus: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        names_plus.insert(1, "retired".into());
        extra["level_names"]["name"] = serde_json::json!(names_plus);
        for key in ["m", "u"] {
            let mut v: Vec<f64> = serde_json::from_value(extra[key][name].clone()).unwrap();
            v.insert(1, 0.5);
            extra[key].as_array_mut().unwrap()[name] = serde_json::json!(v);
        }
        let dropped = Model::from_stored(extra).unwrap();
        for key in [(&dropped.m, &m.m), (&dropped.u, &m.u)] {
            assert!(key.0[name].iter().zip(&key.1[name]).all(|(x, y)| (x - y).abs() < 1e-12));
        }
    }

    #[test]
    fn household_evidence_counts_once() {
        let m = Model::default_model();
        // father and daughter on till records: same phone, same address, different names. The
        // pipeline compares a phone seen with two first names at level 1; at either level the
        // phone and the address are one piece of evidence (the household's), counted once
        for phone_level in [0u8, 1] {
            let family = lv(&[(Field::Phone, phone_level), (Field::Address, 0), (Field::Name, NAME_DIFFERENT)]);
            let once = m.level_weight(Field::Phone, phone_level).max(m.level_weight(Field::Address, 0))
                + m.level_weight(Field::Name, NAME_DIFFERENT);
            assert!((m.weight(&family) - once).abs() < 1e-9);
        }
        let family = lv(&[(Field::Phone, 1), (Field::Address, 0), (Field::Name, NAME_DIFFERENT)]);
        assert!(m.weight(&family) < DEFAULT_THRESHOLD);
        // the same surname, another first name: still short of a match
        let surname = lv(&[(Field::Phone, 1), (Field::Address, 0), (Field::Name, NAME_ONE_PART_OTHER_DIFFERENT), (Field::Gender, 0)]);
        assert!(m.weight(&surname) < DEFAULT_THRESHOLD - 4.0, "{}", m.weight(&surname));
        let ex = m.explain(&family);
        assert!((ex.iter().map(|e| e.2).sum::<f64>() - m.weight(&family)).abs() < 1e-9);
        // one of them disagreeing: plain sum
        let moved = lv(&[(Field::Phone, 0), (Field::Address, super::super::levels::ADDRESS_DIFFERENT)]);
        let sum = m.level_weight(Field::Phone, 0) + m.level_weight(Field::Address, super::super::levels::ADDRESS_DIFFERENT);
        assert!((m.weight(&moved) - sum).abs() < 1e-9);
    }

    #[test]
    fn missing_levels_are_neutral() {
        let m = Model::default_model();
        assert_eq!(m.weight(&Levels::default()), 0.0);
        let a = lv(&[(Field::Email, 0)]);
        let mut b = a;
        b.set(Field::Gender, None);
        assert_eq!(m.weight(&a), m.weight(&b));
    }

    /// Synthetic comparison vectors from known m/u and λ (fields missing at random).
    #[test]
    fn the_all_pairs_prior_is_the_share_of_matches_among_all_pairs() {
        // 1,000 records: 300 sure matches (40 bits), 200 clear non-matches among the candidates
        // (−10 bits): λ = 300 / 499,500
        let mut w = vec![40.0; 300];
        w.extend(vec![-10.0; 200]);
        let l = all_pairs_prior_log2_odds(&w, 1000).unwrap();
        assert!((l - logit2(300.0 / 499_500.0)).abs() < 0.01, "{l}");
        // ten times the records with ten times the matches: a random pair is ten times less
        // likely a match, so the threshold for one posterior rises by log2(10) bits
        let w10: Vec<f64> = w.iter().cycle().take(w.len() * 10).copied().collect();
        let l10 = all_pairs_prior_log2_odds(&w10, 10_000).unwrap();
        let t = posterior_threshold(0.99, l);
        let t10 = posterior_threshold(0.99, l10);
        assert!((t10 - t - 10f64.log2()).abs() < 0.02, "{t} {t10}");
        // a pair at the threshold has the posterior asked for
        assert!((match_probability(t, 2f64.powf(l) / (1.0 + 2f64.powf(l))) - 0.99).abs() < 1e-6);
        // borderline pairs count by their probability: the fixed point is between the counts
        let mut wb = w.clone();
        wb.extend(vec![posterior_threshold(0.5, l); 100]);
        let lb = all_pairs_prior_log2_odds(&wb, 1000).unwrap();
        assert!(lb > logit2(300.0 / 499_500.0) && lb < logit2(400.0 / 499_500.0), "{lb}");
        assert_eq!(all_pairs_prior_log2_odds(&[], 1000), None);
        assert_eq!(all_pairs_prior_log2_odds(&w, 1), None);
    }

    fn synth(n: usize, prior: f64, m: &[Vec<f64>], u: &[Vec<f64>], seed: u64) -> Vec<Levels> {
        let mut r = SplitMix64(seed);
        let draw = |p: &[f64], r: &mut SplitMix64| -> u8 {
            let x = r.unit();
            let mut acc = 0.0;
            for (i, q) in p.iter().enumerate() {
                acc += q;
                if x < acc {
                    return i as u8;
                }
            }
            (p.len() - 1) as u8
        };
        (0..n)
            .map(|_| {
                let is_match = r.unit() < prior;
                let mut l = Levels::default();
                for f in Field::ALL {
                    if r.unit() < 0.2 {
                        continue; // missing
                    }
                    let p = if is_match {
                        &m[f.index()]
                    } else {
                        &u[f.index()]
                    };
                    l.set(f, Some(draw(p, &mut r)));
                }
                l
            })
            .collect()
    }

    fn true_params() -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let m = vec![
            vec![0.60, 0.05, 0.15, 0.10, 0.10],
            vec![0.55, 0.10, 0.05, 0.30],
            vec![0.65, 0.10, 0.25],
            vec![0.80, 0.08, 0.05, 0.07],
            vec![0.90, 0.05, 0.05],
            vec![0.70, 0.05, 0.25],
            vec![0.50, 0.50],
            vec![0.50, 0.20, 0.15, 0.15],
            vec![0.95, 0.05],
        ];
        let u = vec![
            vec![0.02, 0.005, 0.03, 0.10, 0.845],
            vec![0.01, 0.005, 0.01, 0.975],
            vec![0.01, 0.02, 0.97],
            vec![0.02, 0.05, 0.13, 0.80],
            vec![0.005, 0.01, 0.985],
            vec![0.01, 0.02, 0.97],
            vec![0.02, 0.98],
            vec![0.03, 0.07, 0.20, 0.70],
            vec![0.5, 0.5],
        ];
        (m, u)
    }

    #[test]
    fn em_recovers_m() {
        let (m, u) = true_params();
        let data = synth(60_000, 0.25, &m, &u, 42);
        let model = em_unguarded(&data, &u, None, 500, 1e-7);
        assert!(model.converged, "iterations {}", model.iterations);
        assert!((model.prior - 0.25).abs() < 0.02, "prior {}", model.prior);
        for f in Field::ALL {
            for (l, (&a, &b)) in model.m[f.index()].iter().zip(&m[f.index()]).enumerate() {
                assert!((a - b).abs() < 0.05, "{} level {l}: {a} vs {b}", f.name());
            }
        }
        // deterministic: same input, same model
        let again = em_unguarded(&data, &u, None, 500, 1e-7);
        assert_eq!(again, model);
        // em() = the same plus safeguards, still close
        let guarded = em(&data, &u, None, 500, 1e-7);
        assert!(guarded.converged);
        assert!((guarded.m[0][0] - m[0][0]).abs() < 0.05);
        // log-likelihood improves over the starting point
        let start = em_unguarded(&data, &u, None, 1, 0.0);
        assert!(model.log_likelihood > start.log_likelihood);
    }

    #[test]
    fn steward_decisions_count_as_sure_matches_in_m() {
        let (m, u) = true_params();
        let data = synth(60_000, 0.25, &m, &u, 42);
        let pats = patterns(&data);
        let (plain, _) = estimate_m_patterns(&pats, &[], &u, 500, 1e-7);
        // 3,000 decided same-person pairs whose genders differ (a field the identifier session
        // estimates): the m of that level rises, and nothing of λ's estimate comes from them
        let mut lv = Levels([None; Field::COUNT]);
        lv.set(Field::Gender, Some(1));
        let sure = vec![lv; 3000];
        let (with, _) = estimate_m_patterns(&pats, &sure, &u, 500, 1e-7);
        let g = Field::Gender.index();
        assert!(with.m[g][1] > plain.m[g][1] + 0.05, "{} vs {}", with.m[g][1], plain.m[g][1]);
        assert!((with.prior - plain.prior).abs() < 1e-3, "{} vs {}", with.prior, plain.prior);
        // a few decisions move m a little, never past what they say
        let (few, _) = estimate_m_patterns(&pats, &sure[..30], &u, 500, 1e-7);
        assert!(few.m[g][1] > plain.m[g][1] && few.m[g][1] < with.m[g][1]);
    }

    #[test]
    fn a_decided_candidate_pair_counts_once() {
        let (m, u) = true_params();
        let data = synth(20_000, 0.25, &m, &u, 7);
        let pats = patterns(&data);
        // three of the candidate pairs were decided: they leave the unlabelled patterns
        let decided = vec![data[0], data[1], data[0]];
        let left = without_pairs(pats.clone(), &decided);
        let total = |p: &[(Levels, f64)]| p.iter().map(|x| x.1).sum::<f64>();
        assert_eq!(total(&left), total(&pats) - 3.0);
        let count = |p: &[(Levels, f64)], lv: &Levels| p.iter().find(|x| x.0 == *lv).map_or(0.0, |x| x.1);
        let expect0 = count(&pats, &data[0]) - if data[0] == data[1] { 3.0 } else { 2.0 };
        assert_eq!(count(&left, &data[0]), expect0.max(0.0));
        assert!(left.iter().all(|p| p.1 > 0.0), "a pattern whose count falls to zero is dropped");
        // a pattern that is no candidate's changes nothing
        let mut stranger = Levels([None; Field::COUNT]);
        stranger.set(Field::ExternalId, Some(1));
        assert_eq!(without_pairs(pats.clone(), &[stranger]), pats);
    }

    #[test]
    fn estimate_u_from_random_pairs() {
        use super::super::Rec;
        use crate::normalise::Attr;
        let recs: Vec<Rec> = (0..200)
            .map(|i| {
                Rec::new(i)
                    .with(Attr::Gender, if i % 2 == 0 { "f" } else { "m" })
                    .with(Attr::Email, &format!("person{i}@mail.com"))
            })
            .collect();
        let prep: Vec<Prepared> = recs.iter().map(Prepared::new).collect();
        let u = estimate_u(&prep, 20_000, 1);
        assert_eq!(u, estimate_u(&prep, 20_000, 1));
        let g = &u[Field::Gender.index()];
        assert!((g[0] - 0.5).abs() < 0.03, "{g:?}");
        // no random pair shares an e-mail: only the Laplace pseudo-count is left
        let e = &u[Field::Email.index()];
        assert!(e[0] < 1e-3 && e[0] > 0.0);
        // a field never present: uniform
        let n = &u[Field::NationalId.index()];
        assert!(n.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12));
        for row in &u {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn the_best_address_level_is_measured_within_house_numbers() {
        use super::super::Rec;
        use crate::normalise::Attr;
        // 3,000 different people: 60 house numbers, 40 street names, 20 postcodes. The same
        // address is rare among random pairs (about 1 in 48,000), too rare for 20,000 plain
        // pairs to measure; pairs drawn among the holders of one house number see it often
        let names = ["oak", "elm", "ash", "bay", "fig", "yew", "lime", "pine", "palm", "teak"];
        let kinds = ["street", "road", "lane", "court"];
        let recs: Vec<Rec> = (0..3000u64)
            .map(|i| {
                let h = super::super::strdist::mix64(i + 1);
                let street = format!("{} {} {}", 1 + h % 60, names[(h >> 8) as usize % 10], kinds[(h >> 16) as usize % 4]);
                Rec::new(i as i64).with(Attr::Street, &street).with(Attr::Postcode, &format!("{}", 3000 + (h >> 24) % 20))
            })
            .collect();
        let prep: Vec<Prepared> = recs.iter().map(Prepared::new).collect();
        let f = Field::Address;
        let (mut at_best, mut all) = (0u64, 0u64);
        for a in 0..prep.len() {
            for b in a + 1..prep.len() {
                all += 1;
                at_best += u64::from(compare_field(&prep[a], &prep[b], f) == Some(super::super::levels::ADDRESS_STREET_POSTCODE));
            }
        }
        let exact = at_best as f64 / all as f64;
        assert!(exact > 1e-5 && exact < 5e-5, "{exact}");
        let per_field = 20_000;
        let sample = sample_u_patterns(&prep, per_field, 3);
        let total: f64 = sample.patterns[f.index()].iter().map(|p| p.1).sum();
        assert!((total / per_field as f64 - 1.0).abs() < 0.02, "the weights stand for {total} pairs");
        // one pair of the stratum sample weighs its share: 1/60 of 20,000 pairs, 100 times over
        let unit = sample.unit[f.index()][0];
        assert!(unit > 0.001 && unit < 0.02, "{unit}");
        let u = laplace_u(&sample);
        let best = u[f.index()][0];
        assert!((best / exact - 1.0).abs() < 0.35, "u {best} against {exact}");
        assert_eq!(u, laplace_u(&sample_u_patterns(&prep, per_field, 3)), "deterministic for a seed");
        // without the house numbers' groups (no street), the same fields are sampled plainly
        let plain: Vec<Prepared> = recs.iter().map(|r| Prepared::new(&Rec::new(r.record_id).with(Attr::Postcode, r.get(Attr::Postcode).unwrap()))).collect();
        let s = sample_u_patterns(&plain, per_field, 3);
        assert!(s.unit[f.index()].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn a_field_of_common_levels_is_sampled_less_and_alone() {
        use super::super::Rec;
        use crate::normalise::Attr;
        let recs: Vec<Rec> = (0..2000)
            .map(|i| Rec::new(i).with(Attr::Gender, if i % 2 == 0 { "f" } else { "m" }).with(Attr::Email, &format!("person{i}@mail.com")))
            .collect();
        let prep: Vec<Prepared> = recs.iter().map(Prepared::new).collect();
        let s = sample_u_patterns(&prep, 80_000, 1);
        let total = |f: Field| s.patterns[f.index()].iter().map(|p| p.1).sum::<f64>();
        // both genders are common: the first eighth of the sample measures them well enough
        assert_eq!(total(Field::Gender), 10_000.0);
        // no random pair shares an e-mail: the whole sample
        assert_eq!(total(Field::Email), 80_000.0);
        // a pair of the same gender is no more than that: its e-mails are not compared
        assert!(s.patterns[Field::Gender.index()].iter().all(|(lv, _)| lv.get(Field::Email).is_none()));
        let u = laplace_u(&s);
        assert!((u[Field::Gender.index()][0] - 0.5).abs() < 0.02, "{:?}", u[Field::Gender.index()]);
    }

    #[test]
    fn tf_lowers_weight_of_common_names() {
        let model = Model::default_model();
        let mut names: Vec<String> = vec!["mehmet yilmaz".to_string(); 300];
        names.push("zeynep kocabiyikoglu".to_string());
        for i in 0..20_000 {
            names.push(format!("name{i} surname{i}"));
        }
        let tf = TermFreq::build(names.iter().map(String::as_str));
        let exact = lv(&[(Field::Name, 0), (Field::BirthDate, 0)]);
        let base = model.weight(&exact);
        let common = model.weight_tf(&exact, tf.u("mehmet yilmaz"));
        let rare = model.weight_tf(&exact, tf.u("zeynep kocabiyikoglu"));
        assert!(common < base - 5.0, "{common} vs {base}");
        assert!(rare > base && rare <= base + 2.0 + 1e-9, "{rare} vs {base}");
        // only the exact level is adjusted
        let jw = lv(&[(Field::Name, 2)]);
        assert_eq!(
            model.weight_tf(&jw, tf.u("mehmet yilmaz")),
            model.weight(&jw)
        );
        // too few names: no adjustment
        let small = TermFreq::build(["a b", "a b", "c d"]);
        assert_eq!(small.u("a b"), None);
    }

    #[test]
    fn steward_decisions_move_the_threshold_within_their_band() {
        // near a threshold of 20: matches from 17.5 up, non-matches at 16-17.4 and one at 21
        let mut labels: Vec<(f64, bool)> = (0..20).map(|i| (17.5 + 0.25 * f64::from(i), true)).collect();
        labels.extend([(16.0, false), (16.5, false), (17.0, false), (17.4, false), (21.0, false)]);
        let fit = learn_threshold(&labels, 20.0).expect("enough labels of both kinds");
        assert_eq!(fit.threshold, 17.5, "the lowest threshold that keeps the four low non-matches out");
        assert_eq!(fit.labels, 25);
        // at 20 the matches from 17.5 to 19.75 were missed; at 17.5 none is
        assert!((fit.before.1 - 10.0 / 20.0).abs() < 1e-12, "{:?}", fit.before);
        assert!((fit.after.1 - 1.0).abs() < 1e-12, "{:?}", fit.after);
        // the one non-match above stays above: precision 20/21 at the new threshold
        assert!((fit.after.0 - 20.0 / 21.0).abs() < 1e-12, "{:?}", fit.after);
        // the threshold never leaves the band of the review queue, whatever the labels say
        let far: Vec<(f64, bool)> = (0..20).map(|i| (5.0 + f64::from(i) * 0.01, true)).chain([(1.0, false); 3]).collect();
        assert_eq!(learn_threshold(&far, 20.0).map(|f| f.threshold), Some(20.0));
        // too few labels, or only one kind: nothing learned
        assert_eq!(learn_threshold(&labels[..10], 20.0), None);
        let same_only: Vec<(f64, bool)> = (0..30).map(|i| (18.0 + f64::from(i) * 0.1, true)).collect();
        assert_eq!(learn_threshold(&same_only, 20.0), None);
        // a model applies the offset on top of whatever cdp.match_threshold says, unless told not to
        let mut m = Model::default_model();
        m.label_threshold_offset = fit.threshold - 20.0;
        let cfg = crate::resolve::Config { threshold: 24.0, ..Default::default() };
        assert_eq!(m.effective_config(&cfg).threshold, 21.5);
        assert_eq!(m.effective_config(&cfg).weak_bridge_weight, cfg.weak_bridge_weight - 2.5);
        let off = crate::resolve::Config { threshold_from_labels: false, ..cfg.clone() };
        assert_eq!(m.effective_config(&off).threshold, 24.0);
    }

    #[test]
    fn the_threshold_follows_the_posterior_when_a_prior_was_estimated() {
        let mut m = Model::default_model();
        let cfg = crate::resolve::Config { match_probability: Some(0.9), ..Default::default() };
        // no prior (a hand-set or older model): cdp.match_threshold decides
        assert_eq!(m.effective_config(&cfg).threshold, DEFAULT_THRESHOLD);
        // 1 pair in 2^-17 is a match: 0.9 needs log2(9) + 17 bits
        m.prior_log2_odds = Some(-17.0);
        let e = m.effective_config(&cfg);
        assert!((e.threshold - (9f64.log2() + 17.0)).abs() < 1e-9, "{}", e.threshold);
        assert!((e.weak_bridge_weight - e.threshold - (cfg.weak_bridge_weight - cfg.threshold)).abs() < 1e-9);
        // ten times the records: the prior odds fall tenfold, the threshold rises log2(10)
        m.prior_log2_odds = Some(-17.0 - 10f64.log2());
        assert!((m.effective_config(&cfg).threshold - e.threshold - 10f64.log2()).abs() < 1e-9);
        // bounded both ways
        m.prior_log2_odds = Some(-3.0);
        assert_eq!(m.effective_config(&cfg).threshold, POSTERIOR_THRESHOLD_MIN);
        m.prior_log2_odds = Some(-40.0);
        assert_eq!(m.effective_config(&cfg).threshold, POSTERIOR_THRESHOLD_MAX);
        // cdp.match_threshold set (no probability): it decides, labels on top
        let fixed = crate::resolve::Config { threshold: 22.0, match_probability: None, ..Default::default() };
        m.label_threshold_offset = -1.0;
        assert_eq!(m.effective_config(&fixed).threshold, 21.0);
        assert_eq!(m.base_config(&fixed).threshold, 22.0);
    }

    #[test]
    fn tf_counts_people_not_a_persons_own_duplicates() {
        // one person with five records of one name and birth date, among 2,000 unique names
        let mut items: Vec<(String, Option<&str>)> = vec![("ayse kaya".to_string(), Some("1985-03-01")); 5];
        // two namesakes: the same name with other birth dates, and one record without a date
        items.push(("mehmet demir".to_string(), Some("1970-01-01")));
        items.push(("mehmet demir".to_string(), Some("1990-02-02")));
        items.push(("mehmet demir".to_string(), None));
        for i in 0..2000 {
            items.push((format!("name{i} surname{i}"), Some("2000-01-01")));
        }
        let people = TermFreq::build_people(items.iter().map(|(n, b)| (n.as_str(), *b)));
        assert_eq!(people.counts.get("ayse kaya"), Some(&1), "one person's duplicates count once");
        assert_eq!(people.counts.get("mehmet demir"), Some(&3), "namesakes (and a record without a date) count apart");
        assert_eq!(people.total, 2004);
        let rows = TermFreq::build(items.iter().map(|(n, _)| n.as_str()));
        assert_eq!(rows.counts.get("ayse kaya"), Some(&5));
        // so the person's own exact-name pairs are no longer weighed down by their duplicates
        let model = Model::default_model();
        let exact = lv(&[(Field::Name, 0), (Field::BirthDate, 0)]);
        let by_people = model.weight_tf(&exact, people.u("ayse kaya"));
        let by_rows = model.weight_tf(&exact, rows.u("ayse kaya"));
        assert!(by_people > by_rows + 2.0, "{by_people} vs {by_rows}");
    }

    #[test]
    fn strong_identifier_safeguards() {
        let (m, u) = true_params();
        let mut model = Model {
            m,
            u,
            prior: 0.2,
            iterations: 1,
            converged: true,
            log_likelihood: 0.0,
            national_id_trusted: true,
            labels: 0,
            label_threshold_offset: 0.0,
            prior_log2_odds: None,
        };
        // a degenerate EM result: e-mail exact no likelier for matches than for non-matches,
        // national id conflicts common among "matches", e-mail typo level at the floor
        model.u[Field::Email.index()] = vec![1e-4, 1e-5, 1e-4, 0.99979];
        model.m[Field::Email.index()] = vec![0.0001, 0.0001, 0.0001, 0.9997];
        model.m[Field::NationalId.index()] = vec![0.5, 0.1, 0.4];
        let notes = apply_safeguards(&mut model);
        assert!(notes.len() >= 3, "{notes:?}");
        assert!(model.level_weight(Field::Email, 0) >= STRONG_EXACT_MIN_BITS - 1e-9);
        assert!(model.level_weight(Field::Email, 1) >= TYPO_MIN_BITS - 1e-9);
        assert!(model.level_weight(Field::Email, 2) >= TYPO_MIN_BITS - 1e-9);
        assert!(model.level_weight(Field::NationalId, 2) <= -NATIONAL_ID_CONFLICT_BITS + 1e-9);
        for row in &model.m {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(row.iter().all(|x| *x >= M_MIN * 0.99));
        }
        // applied twice: nothing more to do
        let again = apply_safeguards(&mut model);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn conflict_negative_typo_positive() {
        let model = Model::default_model();
        // same name and birth date but two different national ids: not a match
        let conflict = lv(&[
            (Field::Name, 0),
            (Field::BirthDate, 0),
            (Field::NationalId, 2),
        ]);
        assert!(model.level_weight(Field::NationalId, 2) <= -NATIONAL_ID_CONFLICT_BITS + 1e-9);
        assert!(model.weight(&conflict) < DEFAULT_THRESHOLD);
        // one-character typos in e-mail and phone still count for the match
        assert!(model.level_weight(Field::Email, 2) > 0.0);
        assert!(model.level_weight(Field::Phone, 1) > 0.0);
        let typo = lv(&[(Field::Email, 2), (Field::Name, 0)]);
        assert!(model.weight(&typo) > DEFAULT_THRESHOLD);
    }
}

//! Every comparison level of every field, defined once: its name, its parameters in the default
//! model, and the safeguards that bound its weight. The comparisons return these levels by name
//! (the constants below, whose values are looked up in the tables when compiling, so a level can
//! neither be renamed nor moved in one place only), the default model reads m and u from here,
//! the safeguards read the flags, and `cdp.match_fields()` and `cdp.explain_match` the names.

use super::compare::Field;

/// A strong identifier's exact level: weighs at least `model::STRONG_EXACT_MIN_BITS`.
pub const EXACT_FLOOR: u8 = 1;
/// A typo level of e-mail or phone: weighs at least `model::TYPO_MIN_BITS`, taking the mass it
/// needs from the "different" level.
pub const TYPO_FLOOR: u8 = 2;
/// Conclusive on its own: weighs at least `model::CONCLUSIVE_MIN_BITS` (the match threshold + 6
/// bits), by capping u.
pub const CONCLUSIVE: u8 = 4;
/// Two different values are counter-evidence of at most −`model::NATIONAL_ID_CONFLICT_BITS`.
pub const CONFLICT_CAP: u8 = 8;
/// Adjusted by term frequency: a common value weighs less, a rare one a little more.
pub const TERM_FREQUENCY: u8 = 16;

/// One comparison level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    pub name: &'static str,
    /// P(level | same person) in the default model
    pub m: f64,
    /// P(level | different people) in the default model
    pub u: f64,
    /// safeguards: the flags above
    pub guards: u8,
}

const fn level(name: &'static str, m: f64, u: f64, guards: u8) -> Level {
    Level { name, m, u, guards }
}

// Best first; the last level of every field is "different". The m and u are the default model's
// (batches too small to estimate from): typical rates of customer data, close to what estimation
// finds on synthetic Turkish data, before the safeguards.
const NAME: [Level; 7] = [
    level("exact", 0.78, 2e-4, TERM_FREQUENCY),
    level("swapped", 0.03, 1e-5, 0),
    level("jw_high", 0.06, 1.5e-4, 0),
    level("partial", 0.09, 1e-3, 0),
    level("one_part_other_missing", 0.015, 2e-3, 0),
    level("one_part_other_different", 0.005, 0.015, 0),
    level("different", 0.02, 0.98164, 0),
];
const EMAIL: [Level; 4] = [
    level("exact", 0.70, 1e-6, EXACT_FLOOR | CONCLUSIVE),
    level("match_key", 0.05, 1e-7, TYPO_FLOOR | CONCLUSIVE),
    level("typo_or_other_domain", 0.03, 1e-6, TYPO_FLOOR),
    level("different", 0.22, 0.9999979, 0),
];
const PHONE: [Level; 3] = [
    level("exact", 0.75, 1e-6, EXACT_FLOOR | CONCLUSIVE),
    level("last7_or_typo", 0.03, 1e-5, TYPO_FLOOR),
    level("different", 0.22, 0.999989, 0),
];
const BIRTH_DATE: [Level; 5] = [
    level("exact", 0.90, 4e-5, 0),
    level("swap_or_typo", 0.04, 1e-3, 0),
    level("day_month", 0.01, 2.7e-3, 0),
    level("same_year", 0.03, 0.014, 0),
    level("different", 0.02, 0.98226, 0),
];
const NATIONAL_ID: [Level; 3] = [
    level("exact", 0.9797, 1e-7, EXACT_FLOOR | CONCLUSIVE),
    level("typo", 0.02, 1e-6, 0),
    level("different", 0.0003, 0.9999989, CONFLICT_CAP),
];
const EXTERNAL_ID: [Level; 3] = [
    level("exact", 0.80, 1e-6, EXACT_FLOOR | CONCLUSIVE),
    level("typo", 0.02, 1e-5, 0),
    level("different", 0.18, 0.999989, 0),
];
const ANONYMOUS_ID: [Level; 2] = [
    level("exact", 0.60, 1e-6, EXACT_FLOOR | CONCLUSIVE),
    level("different", 0.40, 0.999999, 0),
];
const ADDRESS: [Level; 5] = [
    level("street_postcode", 0.60, 5e-5, 0),
    level("street_other_number", 0.03, 2e-4, 0),
    level("postcode_or_street_similar", 0.07, 1.8e-3, 0),
    level("city", 0.10, 0.05, 0),
    level("different", 0.20, 0.94795, 0),
];
const GENDER: [Level; 2] = [level("exact", 0.98, 0.5, 0), level("different", 0.02, 0.5, 0)];

/// The levels of a field, best first.
pub fn levels(f: Field) -> &'static [Level] {
    match f {
        Field::Name => &NAME,
        Field::Email => &EMAIL,
        Field::Phone => &PHONE,
        Field::BirthDate => &BIRTH_DATE,
        Field::NationalId => &NATIONAL_ID,
        Field::ExternalId => &EXTERNAL_ID,
        Field::AnonymousId => &ANONYMOUS_ID,
        Field::Address => &ADDRESS,
        Field::Gender => &GENDER,
    }
}

const fn names<const N: usize>(levels: &[Level; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = levels[i].name;
        i += 1;
    }
    out
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The position of a level by name; a name that is not in the table stops the build.
const fn at(levels: &[Level], name: &str) -> u8 {
    let mut i = 0;
    while i < levels.len() {
        if same(levels[i].name, name) {
            return i as u8;
        }
        i += 1;
    }
    panic!("no such comparison level")
}

static NAME_NAMES: [&str; 7] = names(&NAME);
static EMAIL_NAMES: [&str; 4] = names(&EMAIL);
static PHONE_NAMES: [&str; 3] = names(&PHONE);
static BIRTH_DATE_NAMES: [&str; 5] = names(&BIRTH_DATE);
static NATIONAL_ID_NAMES: [&str; 3] = names(&NATIONAL_ID);
static EXTERNAL_ID_NAMES: [&str; 3] = names(&EXTERNAL_ID);
static ANONYMOUS_ID_NAMES: [&str; 2] = names(&ANONYMOUS_ID);
static ADDRESS_NAMES: [&str; 5] = names(&ADDRESS);
static GENDER_NAMES: [&str; 2] = names(&GENDER);

/// Names of the levels of a field, best first.
pub fn level_names(f: Field) -> &'static [&'static str] {
    match f {
        Field::Name => &NAME_NAMES,
        Field::Email => &EMAIL_NAMES,
        Field::Phone => &PHONE_NAMES,
        Field::BirthDate => &BIRTH_DATE_NAMES,
        Field::NationalId => &NATIONAL_ID_NAMES,
        Field::ExternalId => &EXTERNAL_ID_NAMES,
        Field::AnonymousId => &ANONYMOUS_ID_NAMES,
        Field::Address => &ADDRESS_NAMES,
        Field::Gender => &GENDER_NAMES,
    }
}

/// The levels of a field that carry a safeguard flag.
pub fn flagged(f: Field, flag: u8) -> impl Iterator<Item = usize> {
    levels(f).iter().enumerate().filter(move |(_, l)| l.guards & flag != 0).map(|(i, _)| i)
}

// The levels by name, as the comparisons return them.
pub const NAME_EXACT: u8 = at(&NAME, "exact");
pub const NAME_SWAPPED: u8 = at(&NAME, "swapped");
pub const NAME_JW_HIGH: u8 = at(&NAME, "jw_high");
pub const NAME_PARTIAL: u8 = at(&NAME, "partial");
pub const NAME_ONE_PART_OTHER_MISSING: u8 = at(&NAME, "one_part_other_missing");
pub const NAME_ONE_PART_OTHER_DIFFERENT: u8 = at(&NAME, "one_part_other_different");
pub const NAME_DIFFERENT: u8 = at(&NAME, "different");
pub const EMAIL_EXACT: u8 = at(&EMAIL, "exact");
pub const EMAIL_MATCH_KEY: u8 = at(&EMAIL, "match_key");
pub const EMAIL_TYPO_OR_OTHER_DOMAIN: u8 = at(&EMAIL, "typo_or_other_domain");
pub const EMAIL_DIFFERENT: u8 = at(&EMAIL, "different");
pub const PHONE_EXACT: u8 = at(&PHONE, "exact");
pub const PHONE_LAST7_OR_TYPO: u8 = at(&PHONE, "last7_or_typo");
pub const PHONE_DIFFERENT: u8 = at(&PHONE, "different");
pub const BIRTH_EXACT: u8 = at(&BIRTH_DATE, "exact");
pub const BIRTH_SWAP_OR_TYPO: u8 = at(&BIRTH_DATE, "swap_or_typo");
pub const BIRTH_DAY_MONTH: u8 = at(&BIRTH_DATE, "day_month");
pub const BIRTH_SAME_YEAR: u8 = at(&BIRTH_DATE, "same_year");
pub const BIRTH_DIFFERENT: u8 = at(&BIRTH_DATE, "different");
/// National and external ids share their levels' positions (checked by a test).
pub const ID_EXACT: u8 = at(&NATIONAL_ID, "exact");
pub const ID_TYPO: u8 = at(&NATIONAL_ID, "typo");
pub const ID_DIFFERENT: u8 = at(&NATIONAL_ID, "different");
pub const ANONYMOUS_EXACT: u8 = at(&ANONYMOUS_ID, "exact");
pub const ANONYMOUS_DIFFERENT: u8 = at(&ANONYMOUS_ID, "different");
pub const ADDRESS_STREET_POSTCODE: u8 = at(&ADDRESS, "street_postcode");
pub const ADDRESS_STREET_OTHER_NUMBER: u8 = at(&ADDRESS, "street_other_number");
pub const ADDRESS_POSTCODE_OR_STREET: u8 = at(&ADDRESS, "postcode_or_street_similar");
pub const ADDRESS_CITY: u8 = at(&ADDRESS, "city");
pub const ADDRESS_DIFFERENT: u8 = at(&ADDRESS, "different");
pub const GENDER_EXACT: u8 = at(&GENDER, "exact");
pub const GENDER_DIFFERENT: u8 = at(&GENDER, "different");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_table_ending_in_different_whose_default_model_is_a_distribution() {
        for f in Field::ALL {
            let l = levels(f);
            assert!(l.len() >= 2 && l.len() <= 15, "{f:?}: levels fit the 4-bit code");
            assert_eq!(l.last().unwrap().name, "different", "{f:?}");
            assert_eq!(level_names(f).len(), l.len());
            for (x, y) in [(l.iter().map(|v| v.m).sum::<f64>(), "m"), (l.iter().map(|v| v.u).sum::<f64>(), "u")] {
                assert!((x - 1.0).abs() < 1e-6, "{f:?}: {y} sums to {x}");
            }
        }
        // the two ids are compared by one function: their levels must line up
        assert_eq!(level_names(Field::NationalId), level_names(Field::ExternalId));
    }

    #[test]
    fn safeguards_sit_where_the_model_expects_them() {
        // every strong identifier: exact first, floored and conclusive
        for f in Field::ALL.into_iter().filter(|f| f.is_strong_identifier()) {
            assert_eq!(flagged(f, EXACT_FLOOR).collect::<Vec<_>>(), vec![0], "{f:?}");
            assert!(flagged(f, CONCLUSIVE).any(|l| l == 0), "{f:?}");
        }
        assert_eq!(flagged(Field::Email, CONCLUSIVE).collect::<Vec<_>>(), vec![EMAIL_EXACT as usize, EMAIL_MATCH_KEY as usize]);
        assert_eq!(flagged(Field::Phone, TYPO_FLOOR).collect::<Vec<_>>(), vec![PHONE_LAST7_OR_TYPO as usize]);
        assert_eq!(flagged(Field::NationalId, CONFLICT_CAP).collect::<Vec<_>>(), vec![ID_DIFFERENT as usize]);
        assert_eq!(flagged(Field::Name, TERM_FREQUENCY).collect::<Vec<_>>(), vec![NAME_EXACT as usize]);
        assert_eq!(
            Field::ALL.iter().filter(|f| flagged(**f, TERM_FREQUENCY).next().is_some()).count(),
            1,
            "only the exact name is adjusted by term frequency"
        );
    }
}

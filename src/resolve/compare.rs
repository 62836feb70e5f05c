//! Comparison levels: how two records agree on each [`Field`].
//!
//! A record is first turned into a [`Prepared`] (chars of names, digits of phone and birth date,
//! hashed street tokens, e-mail match key ...) once, so that [`compare`] does no allocation per
//! pair. [`compare`] yields [`Levels`]: one `Option<u8>` per field, 0 = best agreement, `None` =
//! the field is missing on at least one side (neutral: contributes no weight).

use serde::{Deserialize, Serialize};

use super::strdist::{hash64, jaccard_sorted, jaro_winkler, within_one_edit};
use super::Rec;
use crate::normalise::Attr;

/// A compared field (several attributes may make up one field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    /// first + last name together (full_name split when first/last are missing)
    Name,
    Email,
    Phone,
    BirthDate,
    NationalId,
    ExternalId,
    AnonymousId,
    /// street + postcode + city
    Address,
    Gender,
}

impl Field {
    pub const COUNT: usize = 9;
    pub const ALL: [Field; Field::COUNT] = [
        Field::Name,
        Field::Email,
        Field::Phone,
        Field::BirthDate,
        Field::NationalId,
        Field::ExternalId,
        Field::AnonymousId,
        Field::Address,
        Field::Gender,
    ];

    /// snake_case name ("birth_date", ...).
    pub fn name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::BirthDate => "birth_date",
            Field::NationalId => "national_id",
            Field::ExternalId => "external_id",
            Field::AnonymousId => "anonymous_id",
            Field::Address => "address",
            Field::Gender => "gender",
        }
    }

    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == s)
    }

    /// Position in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Number of levels of this field (`level_names(self).len()`).
    pub fn levels(self) -> usize {
        level_names(self).len()
    }

    /// Identifiers whose agreement is strong evidence of a match (see the model safeguards).
    pub fn is_strong_identifier(self) -> bool {
        matches!(
            self,
            Field::Email | Field::Phone | Field::NationalId | Field::ExternalId | Field::AnonymousId
        )
    }
}

/// Names of the levels of `f`, best first; the last one is always "different".
pub fn level_names(f: Field) -> &'static [&'static str] {
    match f {
        Field::Name => &["exact", "swapped", "jw_high", "partial", "different"],
        Field::Email => &["exact", "match_key", "typo_or_other_domain", "different"],
        Field::Phone => &["exact", "last7_or_typo", "different"],
        Field::BirthDate => &["exact", "swap_or_typo", "same_year", "different"],
        Field::NationalId | Field::ExternalId => &["exact", "typo", "different"],
        Field::AnonymousId => &["exact", "different"],
        Field::Address => &["street_postcode", "postcode_or_street_similar", "city", "different"],
        Field::Gender => &["exact", "different"],
    }
}

/// One level per field (`None` = missing on either side). Indexed by `Field::index`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Levels(pub [Option<u8>; Field::COUNT]);

impl Levels {
    pub fn get(&self, f: Field) -> Option<u8> {
        self.0[f.index()]
    }

    pub fn set(&mut self, f: Field, level: Option<u8>) {
        self.0[f.index()] = level;
    }

    /// `{"name":"exact","email":null,...}`-style description (level names), for reports.
    pub fn describe(&self) -> Vec<(Field, Option<&'static str>)> {
        Field::ALL
            .iter()
            .map(|&f| (f, self.get(f).map(|l| level_names(f)[l as usize])))
            .collect()
    }
}

/// Jaro–Winkler at or above which a name part counts as "the same name with a typo".
pub const JW_HIGH: f64 = 0.92;
/// Jaro–Winkler at or above which a name part counts as similar.
pub const JW_MID: f64 = 0.80;
/// Street token-set Jaccard at or above which two streets count as the same street.
pub const STREET_JACCARD: f64 = 0.6;
/// Minimum length of an e-mail local part for "same local part, other domain" to count:
/// short local parts ("ali", "info") are shared by unrelated people across domains.
pub const MIN_SHARED_LOCAL: usize = 5;

/// A record prepared for comparison: everything per-pair code needs, precomputed once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prepared {
    /// First name (full_name's first token when first/last are missing), as chars.
    pub first: Option<Vec<char>>,
    /// Last name (full_name's last token when first/last are missing), as chars.
    pub last: Option<Vec<char>>,
    /// "first last" when both parts are present (term-frequency key), else empty.
    pub name_key: String,
    pub email: Option<String>,
    /// `normalise::email::match_key` of the e-mail.
    pub email_key: Option<String>,
    /// Local part of the match key without dots (the mailbox name, whatever the domain).
    pub email_local: String,
    /// Digits of the E.164 phone (no '+').
    pub phone: Option<Vec<u8>>,
    /// "YYYYMMDD" digits of the birth date.
    pub birth: Option<[u8; 8]>,
    pub national_id: Option<String>,
    pub external_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub street: Option<String>,
    /// Sorted, deduplicated hashes of the street's tokens.
    pub street_tokens: Vec<u64>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub gender: Option<String>,
}

fn val(rec: &Rec, a: Attr) -> Option<&str> {
    rec.values[a.index()].as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// (first, last) name of a record: the first_name/last_name values; when both are missing, the
/// first and last token of full_name (a one-token full name gives only a first name).
pub fn name_parts(rec: &Rec) -> (Option<&str>, Option<&str>) {
    let (f, l) = (val(rec, Attr::FirstName), val(rec, Attr::LastName));
    if f.is_some() || l.is_some() {
        return (f, l);
    }
    match val(rec, Attr::FullName) {
        None => (None, None),
        Some(full) => {
            let mut it = full.split_whitespace();
            let first = it.next();
            let last = it.next_back();
            (first, last)
        }
    }
}

/// "YYYY-MM-DD" (or any value with exactly 8 digits) → digits.
pub fn birth_digits(v: &str) -> Option<[u8; 8]> {
    let mut out = [0u8; 8];
    let mut n = 0;
    for b in v.bytes() {
        if b.is_ascii_digit() {
            if n == 8 {
                return None;
            }
            out[n] = b;
            n += 1;
        }
    }
    (n == 8).then_some(out)
}

impl Prepared {
    pub fn new(rec: &Rec) -> Prepared {
        let (first, last) = name_parts(rec);
        let name_key = match (first, last) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            _ => String::new(),
        };
        let email = val(rec, Attr::Email).map(str::to_string);
        let email_key = email.as_deref().map(crate::normalise::email::match_key);
        let email_local = email_key
            .as_deref()
            .map(|k| k[..k.rfind('@').unwrap_or(0)].replace('.', ""))
            .unwrap_or_default();
        let phone = val(rec, Attr::Phone)
            .map(|p| p.bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>())
            .filter(|d| !d.is_empty());
        let street = val(rec, Attr::Street).map(str::to_string);
        let mut street_tokens: Vec<u64> = street
            .as_deref()
            .map(|s| s.split_whitespace().map(|t| hash64(0, t.as_bytes())).collect())
            .unwrap_or_default();
        street_tokens.sort_unstable();
        street_tokens.dedup();
        Prepared {
            first: first.map(|s| s.chars().collect()),
            last: last.map(|s| s.chars().collect()),
            name_key,
            email,
            email_key,
            email_local,
            phone,
            birth: val(rec, Attr::BirthDate).and_then(birth_digits),
            national_id: val(rec, Attr::NationalId).map(str::to_string),
            external_id: val(rec, Attr::ExternalId).map(str::to_string),
            anonymous_id: val(rec, Attr::AnonymousId).map(str::to_string),
            street,
            street_tokens,
            postcode: val(rec, Attr::Postcode).map(str::to_string),
            city: val(rec, Attr::City).map(str::to_string),
            gender: val(rec, Attr::Gender).map(str::to_string),
        }
    }

    /// Forget an identifier value (used for hub values: a placeholder shared by hundreds of
    /// records must be neither a blocking key nor evidence).
    pub fn clear(&mut self, f: Field) {
        match f {
            Field::Email => {
                self.email = None;
                self.email_key = None;
                self.email_local.clear();
            }
            Field::Phone => self.phone = None,
            Field::NationalId => self.national_id = None,
            Field::ExternalId => self.external_id = None,
            Field::AnonymousId => self.anonymous_id = None,
            Field::Name => {
                self.first = None;
                self.last = None;
                self.name_key.clear();
            }
            Field::BirthDate => self.birth = None,
            Field::Address => {
                self.street = None;
                self.street_tokens.clear();
                self.postcode = None;
                self.city = None;
            }
            Field::Gender => self.gender = None,
        }
    }
}

/// All comparison levels of a pair.
pub fn compare(a: &Prepared, b: &Prepared) -> Levels {
    let mut lv = [None; Field::COUNT];
    lv[Field::Name.index()] = cmp_name(a, b);
    lv[Field::Email.index()] = cmp_email(a, b);
    lv[Field::Phone.index()] = both(&a.phone, &b.phone).map(|(x, y)| cmp_phone(x, y));
    lv[Field::BirthDate.index()] = both(&a.birth, &b.birth).map(|(x, y)| cmp_birth(x, y));
    lv[Field::NationalId.index()] =
        both(&a.national_id, &b.national_id).map(|(x, y)| cmp_id(x, y, true));
    lv[Field::ExternalId.index()] =
        both(&a.external_id, &b.external_id).map(|(x, y)| cmp_id(x, y, true));
    lv[Field::AnonymousId.index()] =
        both(&a.anonymous_id, &b.anonymous_id).map(|(x, y)| cmp_id(x, y, false));
    lv[Field::Address.index()] = cmp_address(a, b);
    lv[Field::Gender.index()] = both(&a.gender, &b.gender).map(|(x, y)| u8::from(x != y));
    Levels(lv)
}

fn both<'a, T>(a: &'a Option<T>, b: &'a Option<T>) -> Option<(&'a T, &'a T)> {
    match (a, b) {
        (Some(x), Some(y)) => Some((x, y)),
        _ => None,
    }
}

/// "a" vs "ayse": one side is a single letter that starts the other.
fn initial_of(x: &[char], y: &[char]) -> bool {
    (x.len() == 1 && y.len() > 1 && y[0] == x[0]) || (y.len() == 1 && x.len() > 1 && x[0] == y[0])
}

/// Level 3 test for one orientation: one part nearly equal and the other similar (Jaro–Winkler
/// ≥ 0.80, a one-edit typo in the last name, or an initial against a full first name).
fn partial(fa: &[char], fb: &[char], la: &[char], lb: &[char]) -> bool {
    let jf = jaro_winkler(fa, fb);
    let jl = jaro_winkler(la, lb);
    let first_close = jf >= JW_HIGH || initial_of(fa, fb);
    let last_close = jl >= JW_HIGH;
    (first_close && (jl >= JW_MID || within_one_edit(la, lb)))
        || (last_close && (jf >= JW_MID || initial_of(fa, fb)))
}

/// Name levels: 0 exact, 1 first/last swapped, 2 both parts Jaro–Winkler ≥ 0.92 (in either
/// orientation), 3 partial (see [`partial`]), 4 different.
///
/// When one side lacks a complete first+last name, a full-name agreement cannot be confirmed:
/// the level is `None` (neutral) when some present part agrees with some part of the other side,
/// and 4 (different) when nothing present agrees — so a bare "ayse" never adds evidence, but a
/// bare "mehmet" still counts against "ayse yilmaz".
fn cmp_name(a: &Prepared, b: &Prepared) -> Option<u8> {
    match (&a.first, &a.last, &b.first, &b.last) {
        (Some(fa), Some(la), Some(fb), Some(lb)) => {
            if fa == fb && la == lb {
                return Some(0);
            }
            if fa == lb && la == fb {
                return Some(1);
            }
            let straight = jaro_winkler(fa, fb) >= JW_HIGH && jaro_winkler(la, lb) >= JW_HIGH;
            if straight
                || (jaro_winkler(fa, lb) >= JW_HIGH && jaro_winkler(la, fb) >= JW_HIGH)
            {
                return Some(2);
            }
            if partial(fa, fb, la, lb) || partial(fa, lb, la, fb) {
                return Some(3);
            }
            Some(4)
        }
        _ => {
            let pa: Vec<&Vec<char>> = [&a.first, &a.last].into_iter().flatten().collect();
            let pb: Vec<&Vec<char>> = [&b.first, &b.last].into_iter().flatten().collect();
            if pa.is_empty() || pb.is_empty() {
                return None;
            }
            let agree = pa.iter().any(|x| {
                pb.iter().any(|y| jaro_winkler(x, y) >= JW_HIGH || initial_of(x, y))
            });
            if agree {
                None
            } else {
                Some(4)
            }
        }
    }
}

/// E-mail levels: 0 equal, 1 same match key (gmail dots, +tags), 2 one-edit typo on the whole
/// address or the same (long enough) local part at another domain, 3 different.
fn cmp_email(a: &Prepared, b: &Prepared) -> Option<u8> {
    let (ea, eb) = both(&a.email, &b.email)?;
    if ea == eb {
        return Some(0);
    }
    let (ka, kb) = (a.email_key.as_deref().unwrap_or(ea), b.email_key.as_deref().unwrap_or(eb));
    if ka == kb {
        return Some(1);
    }
    if within_one_edit(ea.as_bytes(), eb.as_bytes()) || within_one_edit(ka.as_bytes(), kb.as_bytes())
    {
        return Some(2);
    }
    if a.email_local.len() >= MIN_SHARED_LOCAL && a.email_local == b.email_local {
        return Some(2);
    }
    Some(3)
}

/// Phone levels (digits): 0 equal, 1 same last 7 digits (country/area code written differently)
/// or a one-edit typo, 2 different.
fn cmp_phone(a: &[u8], b: &[u8]) -> u8 {
    if a == b {
        return 0;
    }
    let last7 = a.len() >= 7 && b.len() >= 7 && a[a.len() - 7..] == b[b.len() - 7..];
    if last7 || within_one_edit(a, b) {
        1
    } else {
        2
    }
}

/// Birth date levels: 0 equal, 1 day and month swapped or one digit off (a one-edit typo on
/// "YYYYMMDD"), 2 same year, 3 different.
fn cmp_birth(a: &[u8; 8], b: &[u8; 8]) -> u8 {
    if a == b {
        return 0;
    }
    let swapped = a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6];
    if swapped || within_one_edit(&a[..], &b[..]) {
        1
    } else if a[..4] == b[..4] {
        2
    } else {
        3
    }
}

/// Identifier levels: 0 equal, 1 one-edit typo (only when `typo` is allowed), last = different.
fn cmp_id(a: &str, b: &str, typo: bool) -> u8 {
    if a == b {
        0
    } else if !typo {
        1
    } else if within_one_edit(a.as_bytes(), b.as_bytes()) {
        1
    } else {
        2
    }
}

/// Address levels: 0 same street and same postcode (or same city when a postcode is missing),
/// 1 same postcode, or similar street (token Jaccard ≥ 0.6) in a city that does not conflict,
/// 2 same city, 3 different. `None` when no address part is present on both sides.
fn cmp_address(a: &Prepared, b: &Prepared) -> Option<u8> {
    let street = both(&a.street, &b.street);
    let post = both(&a.postcode, &b.postcode);
    let city = both(&a.city, &b.city);
    if street.is_none() && post.is_none() && city.is_none() {
        return None;
    }
    let post_eq = post.map(|(x, y)| x == y);
    let city_eq = city.map(|(x, y)| x == y);
    if let Some((sa, sb)) = street {
        if sa == sb && (post_eq == Some(true) || (post_eq.is_none() && city_eq == Some(true))) {
            return Some(0);
        }
    }
    if post_eq == Some(true) {
        return Some(1);
    }
    // a street name repeats in every city ("ataturk caddesi"): only count it where neither
    // postcode nor city disagrees
    if street.is_some()
        && post_eq != Some(false)
        && city_eq != Some(false)
        && jaccard_sorted(&a.street_tokens, &b.street_tokens) >= STREET_JACCARD
    {
        return Some(1);
    }
    if city_eq == Some(true) {
        return Some(2);
    }
    Some(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(Attr, &str)]) -> Prepared {
        let mut r = Rec::new(1);
        for &(a, v) in pairs {
            r = r.with(a, v);
        }
        Prepared::new(&r)
    }

    fn name(f: &str, l: &str) -> Prepared {
        rec(&[(Attr::FirstName, f), (Attr::LastName, l)])
    }

    fn lv(a: &Prepared, b: &Prepared, f: Field) -> Option<u8> {
        compare(a, b).get(f)
    }

    #[test]
    fn level_names_cover_levels() {
        for f in Field::ALL {
            assert_eq!(*level_names(f).last().unwrap(), "different");
            assert_eq!(Field::from_name(f.name()), Some(f));
            assert_eq!(Field::ALL[f.index()], f);
        }
    }

    #[test]
    fn name_levels() {
        let n = Field::Name;
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("ayse", "yilmaz"), n), Some(0));
        assert_eq!(lv(&name("mehmet", "kaya"), &name("kaya", "mehmet"), n), Some(1));
        // one typo in each part of longer names: both parts Jaro–Winkler ≥ 0.92
        assert_eq!(lv(&name("mehmet", "yilmaz"), &name("mehmat", "yilmas"), n), Some(2));
        // "ayse"/"aysa" is Jaro–Winkler 0.883: below 0.92 (a single substitution in a
        // four-letter name can never reach it), so with the last name equal it is "partial"
        assert!((jaro_winkler(&['a', 'y', 's', 'e'], &['a', 'y', 's', 'a']) - 0.8833).abs() < 1e-3);
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("aysa", "yilmaz"), n), Some(3));
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("aysa", "yilmas"), n), Some(3));
        // swapped with a typo still counts as jw_high
        assert_eq!(lv(&name("mehmet", "kaya"), &name("kaya", "mehmmet"), n), Some(2));
        // initial vs full first name
        assert_eq!(lv(&name("a", "yilmaz"), &name("ayse", "yilmaz"), n), Some(3));
        // same first, last 0.80..0.92 ("kaya"/"kara" 0.867)
        assert_eq!(lv(&name("mehmet", "kaya"), &name("mehmet", "kara"), n), Some(3));
        // same first, short last name one edit apart but JW < 0.80
        assert_eq!(lv(&name("mehmet", "ok"), &name("mehmet", "ak"), n), Some(3));
        // family members: same last name, different first name
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("mehmet", "yilmaz"), n), Some(4));
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("fatma", "demir"), n), Some(4));
    }

    #[test]
    fn name_from_full_name_and_partial_names() {
        let full = rec(&[(Attr::FullName, "ayse nur yilmaz")]);
        assert_eq!(lv(&full, &name("ayse", "yilmaz"), Field::Name), Some(0));
        // only a first name: agreement is neutral, disagreement counts
        let only_first = rec(&[(Attr::FirstName, "ayse")]);
        assert_eq!(lv(&only_first, &name("ayse", "yilmaz"), Field::Name), None);
        let other = rec(&[(Attr::FirstName, "mehmet")]);
        assert_eq!(lv(&other, &name("ayse", "yilmaz"), Field::Name), Some(4));
        assert_eq!(lv(&rec(&[]), &name("ayse", "yilmaz"), Field::Name), None);
    }

    #[test]
    fn email_levels() {
        let e = |v: &str| rec(&[(Attr::Email, v)]);
        let f = Field::Email;
        assert_eq!(lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmaz@gmail.com"), f), Some(0));
        assert_eq!(lv(&e("ayse.yilmaz@gmail.com"), &e("ayseyilmaz@gmail.com"), f), Some(1));
        assert_eq!(lv(&e("ayse.yilmaz+shop@gmail.com"), &e("ayseyilmaz@gmail.com"), f), Some(1));
        assert_eq!(lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmaz@gmial.com"), f), Some(2));
        assert_eq!(lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmza@gmail.com"), f), Some(2));
        assert_eq!(lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmaz@hotmail.com"), f), Some(2));
        // short local parts at other domains are not evidence
        assert_eq!(lv(&e("ali@gmail.com"), &e("ali@hotmail.com"), f), Some(3));
        assert_eq!(lv(&e("ayse@gmail.com"), &e("fatma@gmail.com"), f), Some(3));
        assert_eq!(lv(&e("ayse@gmail.com"), &rec(&[]), f), None);
    }

    #[test]
    fn phone_levels() {
        let p = |v: &str| rec(&[(Attr::Phone, v)]);
        let f = Field::Phone;
        assert_eq!(lv(&p("+905321234567"), &p("+905321234567"), f), Some(0));
        assert_eq!(lv(&p("+905321234567"), &p("+905321234568"), f), Some(1)); // one digit typo
        assert_eq!(lv(&p("+905321234567"), &p("+905321243567"), f), Some(1)); // transposition
        assert_eq!(lv(&p("+905321234567"), &p("+905331234567"), f), Some(1)); // last 7 same
        assert_eq!(lv(&p("+905321234567"), &p("+905559876543"), f), Some(2));
        assert_eq!(lv(&p("+905321234567"), &rec(&[]), f), None);
    }

    #[test]
    fn birth_date_levels() {
        let d = |v: &str| rec(&[(Attr::BirthDate, v)]);
        let f = Field::BirthDate;
        assert_eq!(lv(&d("1985-03-12"), &d("1985-03-12"), f), Some(0));
        assert_eq!(lv(&d("1985-03-12"), &d("1985-12-03"), f), Some(1)); // day/month swap
        assert_eq!(lv(&d("1985-03-12"), &d("1985-03-13"), f), Some(1)); // one digit
        assert_eq!(lv(&d("1985-03-12"), &d("1986-03-12"), f), Some(1)); // one digit (year)
        assert_eq!(lv(&d("1985-03-12"), &d("1985-07-25"), f), Some(2));
        assert_eq!(lv(&d("1985-03-12"), &d("1990-07-25"), f), Some(3));
        assert_eq!(lv(&d("1985-03-12"), &d("garbage"), f), None);
    }

    #[test]
    fn identifier_levels() {
        let n = |v: &str| rec(&[(Attr::NationalId, v)]);
        assert_eq!(lv(&n("10000000146"), &n("10000000146"), Field::NationalId), Some(0));
        assert_eq!(lv(&n("10000000146"), &n("10000000164"), Field::NationalId), Some(1));
        assert_eq!(lv(&n("10000000146"), &n("29384756102"), Field::NationalId), Some(2));
        let x = |v: &str| rec(&[(Attr::ExternalId, v)]);
        assert_eq!(lv(&x("L-1234"), &x("L-1234"), Field::ExternalId), Some(0));
        assert_eq!(lv(&x("L-1234"), &x("L-1235"), Field::ExternalId), Some(1));
        let an = |v: &str| rec(&[(Attr::AnonymousId, v)]);
        assert_eq!(lv(&an("dev-1"), &an("dev-1"), Field::AnonymousId), Some(0));
        // no typo level for device/cookie ids: "dev-2" is another device
        assert_eq!(lv(&an("dev-1"), &an("dev-2"), Field::AnonymousId), Some(1));
    }

    #[test]
    fn address_levels() {
        let ad = |s: &str, p: &str, c: &str| {
            let mut v = vec![];
            if !s.is_empty() {
                v.push((Attr::Street, s));
            }
            if !p.is_empty() {
                v.push((Attr::Postcode, p));
            }
            if !c.is_empty() {
                v.push((Attr::City, c));
            }
            rec(&v)
        };
        let f = Field::Address;
        let home = ad("ataturk caddesi no 12", "34710", "istanbul");
        assert_eq!(lv(&home, &ad("ataturk caddesi no 12", "34710", "istanbul"), f), Some(0));
        assert_eq!(lv(&home, &ad("ataturk caddesi no 12", "", "istanbul"), f), Some(0));
        assert_eq!(lv(&home, &ad("bagdat caddesi no 5", "34710", "istanbul"), f), Some(1));
        assert_eq!(lv(&home, &ad("ataturk caddesi no 14", "", "istanbul"), f), Some(1));
        // the same street name in another city is not the same street
        assert_eq!(lv(&home, &ad("ataturk caddesi no 12", "06100", "ankara"), f), Some(3));
        assert_eq!(lv(&home, &ad("bagdat caddesi no 5", "34000", "istanbul"), f), Some(2));
        assert_eq!(lv(&home, &ad("", "", "izmir"), f), Some(3));
        assert_eq!(lv(&home, &ad("", "", ""), f), None);
    }

    #[test]
    fn gender_and_missing_are_neutral() {
        let g = |v: &str| rec(&[(Attr::Gender, v)]);
        assert_eq!(lv(&g("f"), &g("f"), Field::Gender), Some(0));
        assert_eq!(lv(&g("f"), &g("m"), Field::Gender), Some(1));
        let empty = compare(&rec(&[]), &name("ayse", "yilmaz"));
        assert!(empty.0.iter().all(Option::is_none));
        assert_eq!(empty.describe().len(), Field::COUNT);
    }
}

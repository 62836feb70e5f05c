//! Comparison levels: how two records agree on each [`Field`].
//!
//! A record is first turned into a [`Prepared`] (chars of names, digits of phone and birth date,
//! hashed street tokens, e-mail match key ...) once, so that [`compare`] does no allocation per
//! pair. [`compare`] yields [`Levels`]: one `Option<u8>` per field, 0 = best agreement, `None` =
//! the field is missing on at least one side (neutral: contributes no weight).

use serde::{Deserialize, Serialize};

pub use super::levels::level_names;
use super::levels::*;
use super::nicknames;
use super::strdist::{hash64, jaccard_sorted, jaro_winkler, jaro_winkler_or_below, letter_sig, within_one_edit};
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
            Field::Email
                | Field::Phone
                | Field::NationalId
                | Field::ExternalId
                | Field::AnonymousId
        )
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

    /// Compact code (4 bits per field, 0 = missing): a cheap hash-map key.
    pub fn code(&self) -> u64 {
        self.0.iter().enumerate().fold(0u64, |acc, (i, l)| {
            acc | (u64::from(l.map_or(0, |v| v + 1) & 0xf) << (4 * i))
        })
    }

    /// Inverse of [`Levels::code`].
    pub fn from_code(code: u64) -> Levels {
        let mut l = [None; Field::COUNT];
        for (i, x) in l.iter_mut().enumerate() {
            let v = ((code >> (4 * i)) & 0xf) as u8;
            *x = v.checked_sub(1);
        }
        Levels(l)
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
/// Shortest name token read as perhaps mistyped twice ([`twice_mistyped`]): on shorter ones
/// Jaro–Winkler ≥ [`JW_MID`] is as often another name ("emre" / "emine").
pub const MIN_TWICE_MISTYPED: usize = 5;
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
    /// [`letter_sig`] of `first` (0: none).
    pub first_sig: u64,
    /// [`letter_sig`] of `last` (0: none).
    pub last_sig: u64,
    /// "first last" when both parts are present (term-frequency key), else empty.
    pub name_key: String,
    pub email: Option<String>,
    /// `normalise::email::match_key` of the e-mail.
    pub email_key: Option<String>,
    /// Local part of the match key without separators . _ - (the mailbox name, whatever the
    /// domain and however it was punctuated).
    pub email_local: String,
    /// Whether `email_local` says more than the record's name: it has a digit, or its letters
    /// are not just the name ("mehmetyilmaz", "myilmaz", "yilmazmehmet" are not distinctive).
    pub email_local_distinctive: bool,
    /// The letters of `email_local` are exactly one of the ways a mailbox name is made from the
    /// record's name ("mehmet.yilmaz", "myilmaz85").
    pub email_local_is_name: bool,
    /// Digits of the E.164 phone (no '+').
    pub phone: Option<Vec<u8>>,
    /// The phone is seen with people of different first names (a household landline): exact
    /// agreement on it is weaker evidence (level 1). Set by [`mark_shared_phones`].
    pub phone_shared: bool,
    /// All name tokens in order: full_name's, else first_name's then last_name's. Compound
    /// surnames and middle names ("javier diaz perez" vs first "javier", last "diaz perez").
    pub name_tokens: Vec<String>,
    /// The tokens are exactly [first, last]: their Jaro–Winkler against another such name is the
    /// parts' (found once per pair, see [`cmp_name`]).
    pub tokens_are_parts: bool,
    /// [`nicknames::group`] of the first name token, found once per record.
    pub given_group: Option<u16>,
    /// "YYYYMMDD" digits of the birth date.
    pub birth: Option<[u8; 8]>,
    pub national_id: Option<String>,
    pub external_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub street: Option<String>,
    /// Where the street's house number and its name lie in `street`, found once per record.
    pub street_at: StreetAt,
    /// Sorted, deduplicated hashes of the street's tokens.
    pub street_tokens: Vec<u64>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub gender: Option<String>,
}

/// Byte ranges of a street's house number ([`house_number`]) and name ([`street_name`]) in it,
/// so that comparing two streets parses neither again. `known` is false where the street is
/// too long for the offsets or its name is not one piece (a number inside it): those are parsed
/// at each comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreetAt {
    known: bool,
    /// (start, end); (0, 0) for a street without a number
    house: (u16, u16),
    name: (u16, u16),
}

impl StreetAt {
    fn of(street: &str) -> StreetAt {
        let at = |part: &str| -> Option<(u16, u16)> {
            let start = part.as_ptr() as usize - street.as_ptr() as usize;
            Some((u16::try_from(start).ok()?, u16::try_from(start + part.len()).ok()?))
        };
        let house = match house_number(street) {
            Some(h) => at(h),
            None => Some((0, 0)),
        };
        let name = match street_name(street) {
            std::borrow::Cow::Borrowed(n) => at(n),
            std::borrow::Cow::Owned(_) => None,
        };
        match (house, name) {
            (Some(house), Some(name)) => StreetAt { known: true, house, name },
            _ => StreetAt::default(),
        }
    }
}

impl Prepared {
    /// The house number of the record's street ([`house_number`]).
    fn house<'a>(&self, street: &'a str) -> Option<&'a str> {
        if !self.street_at.known {
            return house_number(street);
        }
        let (s, e) = self.street_at.house;
        (e > s).then(|| &street[s as usize..e as usize])
    }

    /// The name of the record's street ([`street_name`]).
    fn street_name<'a>(&self, street: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.street_at.known {
            return street_name(street);
        }
        let (s, e) = self.street_at.name;
        street[s as usize..e as usize].into()
    }
}

fn val(rec: &Rec, a: Attr) -> Option<&str> {
    rec.values[a.index()]
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
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

/// The ways a mailbox name is made from a name: first, last, first+last, last+first,
/// initial+last, first+initial, for the (first, last) of the record and, with three or more name
/// tokens (middle names, compound surnames "al sayed", "garcia jimenez"), for every split of the
/// tokens into a first and a last part. Letters and digits only.
fn name_forms(first: Option<&str>, last: Option<&str>, tokens: &[String]) -> Vec<String> {
    let squash = |s: &str| -> String { s.chars().filter(|c| c.is_alphanumeric()).collect() };
    let mut pairs = vec![(first.map(squash).unwrap_or_default(), last.map(squash).unwrap_or_default())];
    let n = tokens.len();
    if n >= 2 {
        for k in 1..n {
            pairs.push((squash(&tokens[..k].concat()), squash(&tokens[k..].concat())));
        }
        pairs.push((squash(&tokens[0]), squash(&tokens[n - 1])));
    }
    let mut forms = Vec::new();
    for (f, l) in pairs {
        let fi: String = f.chars().take(1).collect();
        let li: String = l.chars().take(1).collect();
        forms.extend([format!("{f}{l}"), format!("{l}{f}"), format!("{fi}{l}"), format!("{f}{li}"), f, l]);
    }
    forms.retain(|x| !x.is_empty());
    forms.sort_unstable();
    forms.dedup();
    forms
}

/// How an e-mail local part (separators already removed) relates to the name, by its letters
/// (digits do not count: namesakes born the same year pick "meryem.kaplan83" at different
/// providers, so a number next to the name is no independent evidence): (distinctive: not within
/// one edit of any name form, exact: exactly one of the name forms).
fn local_vs_name(local: &str, forms: &[String]) -> (bool, bool) {
    let letters: String = local.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.is_empty() {
        return (false, false);
    }
    // one edit of slack: the record's own name may carry the typo ("recem yilmaz" with
    // recep.yilmaz@...)
    let near = forms.iter().any(|x| within_one_edit(x.as_bytes(), letters.as_bytes()));
    (!near, forms.iter().any(|x| *x == letters))
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

/// "first last" of a record's name, empty when either part is missing: the key of the name
/// term frequencies ([`crate::resolve::TermFreq`]).
pub fn name_key(rec: &Rec) -> String {
    match name_parts(rec) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        _ => String::new(),
    }
}

impl Prepared {
    pub fn new(rec: &Rec) -> Prepared {
        let (first, last) = name_parts(rec);
        let name_key = name_key(rec);
        let email = val(rec, Attr::Email).map(str::to_string);
        let email_key = email.as_deref().map(crate::normalise::email::match_key);
        let email_local = email_key
            .as_deref()
            .map(|k| squash_local(&k[..k.rfind('@').unwrap_or(0)]))
            .unwrap_or_default();
        let phone = val(rec, Attr::Phone)
            .map(|p| p.bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>())
            .filter(|d| !d.is_empty());
        let street = val(rec, Attr::Street).map(str::to_string);
        let mut street_tokens: Vec<u64> = street
            .as_deref()
            .map(|s| {
                s.split_whitespace()
                    .map(|t| hash64(0, t.as_bytes()))
                    .collect()
            })
            .unwrap_or_default();
        street_tokens.sort_unstable();
        street_tokens.dedup();
        let name_tokens: Vec<String> = match val(rec, Attr::FullName) {
            Some(full) => full.split_whitespace().map(str::to_string).collect(),
            None => [val(rec, Attr::FirstName), val(rec, Attr::LastName)]
                .into_iter()
                .flatten()
                .flat_map(|p| p.split_whitespace().map(str::to_string))
                .collect(),
        };
        let (email_local_distinctive, email_local_is_name) = if email_local.is_empty() {
            (false, false)
        } else {
            local_vs_name(&email_local, &name_forms(first, last, &name_tokens))
        };
        let tokens_are_parts = name_tokens.len() == 2 && first == Some(name_tokens[0].as_str()) && last == Some(name_tokens[1].as_str());
        let given_group = name_tokens.first().and_then(|t| nicknames::group(t));
        let (first_chars, last_chars): (Option<Vec<char>>, Option<Vec<char>>) =
            (first.map(|s| s.chars().collect()), last.map(|s| s.chars().collect()));
        Prepared {
            tokens_are_parts,
            given_group,
            first_sig: first_chars.as_deref().map_or(0, letter_sig),
            last_sig: last_chars.as_deref().map_or(0, letter_sig),
            first: first_chars,
            last: last_chars,
            name_key,
            email,
            email_key,
            email_local,
            email_local_distinctive,
            email_local_is_name,
            phone,
            phone_shared: false,
            name_tokens,
            birth: val(rec, Attr::BirthDate).and_then(birth_digits),
            national_id: val(rec, Attr::NationalId).map(str::to_string),
            external_id: val(rec, Attr::ExternalId).map(str::to_string),
            anonymous_id: val(rec, Attr::AnonymousId).map(str::to_string),
            street_at: street.as_deref().map(StreetAt::of).unwrap_or_default(),
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
                self.email_local_distinctive = false;
                self.email_local_is_name = false;
            }
            Field::Phone => self.phone = None,
            Field::NationalId => self.national_id = None,
            Field::ExternalId => self.external_id = None,
            Field::AnonymousId => self.anonymous_id = None,
            Field::Name => {
                self.first = None;
                self.last = None;
                self.first_sig = 0;
                self.last_sig = 0;
                self.tokens_are_parts = false;
                self.given_group = None;
                self.name_key.clear();
                self.name_tokens.clear();
            }
            Field::BirthDate => self.birth = None,
            Field::Address => {
                self.street = None;
                self.street_at = StreetAt::default();
                self.street_tokens.clear();
                self.postcode = None;
                self.city = None;
            }
            Field::Gender => self.gender = None,
        }
    }
}

/// Call `f` on each pair of records (indices into `prepared`), in order, asking the CPU to fetch
/// the records of the pairs a few steps ahead. A pair's records lie anywhere in memory (a
/// record's `Prepared` and the strings it points to span several cache lines), and waiting for
/// them, not comparing, was most of the time of [`compare`] over millions of pairs. Every
/// thousand pairs it is a stop point ([`super::request_stop`]).
pub fn for_each_pair<'a>(prepared: &'a [Prepared], pairs: &[(u32, u32)], mut f: impl FnMut(&'a Prepared, &'a Prepared)) {
    // far ahead the records themselves, nearer what they point to (their struct cached by then)
    const STRUCT_AHEAD: usize = 16;
    const HEAP_AHEAD: usize = 8;
    for (i, &(a, b)) in pairs.iter().enumerate() {
        if i % 1024 == 0 {
            super::stop_point();
        }
        if let Some(&(x, y)) = pairs.get(i + STRUCT_AHEAD) {
            prefetch_struct(&prepared[x as usize]);
            prefetch_struct(&prepared[y as usize]);
        }
        if let Some(&(x, y)) = pairs.get(i + HEAP_AHEAD) {
            prefetch_heap(&prepared[x as usize]);
            prefetch_heap(&prepared[y as usize]);
        }
        f(&prepared[a as usize], &prepared[b as usize]);
    }
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Fetch a record's `Prepared` (every cache line of it).
#[inline(always)]
fn prefetch_struct(p: &Prepared) {
    let base = p as *const Prepared as *const u8;
    for off in (0..std::mem::size_of::<Prepared>()).step_by(64) {
        prefetch(base.wrapping_add(off));
    }
}

/// Fetch the first line of what a record's `Prepared` points to (itself already cached).
#[inline(always)]
fn prefetch_heap(p: &Prepared) {
    for chars in [&p.first, &p.last].into_iter().flatten() {
        prefetch(chars.as_ptr());
    }
    prefetch(p.name_tokens.as_ptr());
    for s in [&p.street, &p.postcode, &p.city, &p.national_id, &p.email].into_iter().flatten() {
        prefetch(s.as_ptr());
    }
    prefetch(p.street_tokens.as_ptr());
}

/// All comparison levels of a pair.
pub fn compare(a: &Prepared, b: &Prepared) -> Levels {
    Levels(Field::ALL.map(|f| compare_field(a, b, f)))
}

/// The level of one field (`None` when missing on either side).
pub fn compare_field(a: &Prepared, b: &Prepared, f: Field) -> Option<u8> {
    match f {
        Field::Name => cmp_name(a, b),
        Field::Email => cmp_email(a, b),
        Field::Phone => both(&a.phone, &b.phone).map(|(x, y)| match cmp_phone(x, y) {
            // a household phone: its exact agreement is no conclusive evidence
            PHONE_EXACT if a.phone_shared || b.phone_shared => PHONE_LAST7_OR_TYPO,
            l => l,
        }),
        Field::BirthDate => both(&a.birth, &b.birth).map(|(x, y)| cmp_birth(x, y)),
        Field::NationalId => both(&a.national_id, &b.national_id).map(|(x, y)| cmp_id(x, y)),
        Field::ExternalId => both(&a.external_id, &b.external_id).map(|(x, y)| cmp_id(x, y)),
        Field::AnonymousId => both(&a.anonymous_id, &b.anonymous_id)
            .map(|(x, y)| if x == y { ANONYMOUS_EXACT } else { ANONYMOUS_DIFFERENT }),
        Field::Address => cmp_address(a, b),
        Field::Gender => both(&a.gender, &b.gender).map(|(x, y)| if x == y { GENDER_EXACT } else { GENDER_DIFFERENT }),
    }
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
fn partial(fa: &[char], fb: &[char], jf: f64, la: &[char], lb: &[char], jl: f64) -> bool {
    let first_close = jf >= JW_HIGH || initial_of(fa, fb);
    let last_close = jl >= JW_HIGH;
    (first_close && (jl >= JW_MID || within_one_edit(la, lb)))
        || (last_close && (jf >= JW_MID || initial_of(fa, fb)))
}

/// Name levels: exact, first/last swapped, both parts Jaro–Winkler ≥ 0.92 (in either
/// orientation), partial (see [`partial`]), one part the same and the other unlike it (or both
/// only roughly alike), different.
///
/// When one side lacks a complete first+last name, a full-name agreement cannot be confirmed:
/// the level is "one part, the other missing" when a present part is written alike on both
/// sides (the model weighs it, usually far below two parts), `None` (neutral) when only an
/// initial agrees, a longer part is perhaps mistyped twice ([`twice_mistyped`]) or the two sides
/// hold different parts, and "different" when nothing present agrees, so a bare "mehmet" still
/// counts against "ayse yilmaz".
fn cmp_name(a: &Prepared, b: &Prepared) -> Option<u8> {
    match (&a.first, &a.last, &b.first, &b.last) {
        (Some(fa), Some(la), Some(fb), Some(lb)) => {
            if (fa == fb && la == lb) || (!a.name_tokens.is_empty() && a.name_tokens == b.name_tokens) {
                return Some(NAME_EXACT);
            }
            if fa == lb && la == fb {
                return Some(NAME_SWAPPED);
            }
            let (ta, tb) = (&a.name_tokens, &b.name_tokens);
            if same_token_set(ta, tb) {
                return Some(NAME_SWAPPED);
            }
            // a middle name or second surname more or less ("mary linda thompson" / "mary
            // thompson"): every token of the shorter name, at least two, in the longer one,
            // first tokens agreeing
            if token_subset(ta, tb) {
                return Some(NAME_JW_HIGH);
            }
            // each only as exact as the thresholds below need: a value under JW_MID may be a bound
            let jw = |x: &[char], sx: u64, y: &[char], sy: u64| jaro_winkler_or_below(x, sx, y, sy, JW_MID);
            let (jf, jl) = (jw(fa, a.first_sig, fb, b.first_sig), jw(la, a.last_sig, lb, b.last_sig));
            if jf >= JW_HIGH && jl >= JW_HIGH {
                return Some(NAME_JW_HIGH);
            }
            // swapped orientation: a's first against b's last and vice versa
            let (jfs, jls) = (jw(fa, a.first_sig, lb, b.last_sig), jw(la, a.last_sig, fb, b.first_sig));
            if jfs >= JW_HIGH && jls >= JW_HIGH {
                return Some(NAME_JW_HIGH);
            }
            let first_variants = given_variants(a, b);
            // token by token, in any order: a nickname, a middle name inside the first-name
            // field, a compound surname with a typo ("javier castillo garcia" / "javier
            // castiillo garcia", "jim thomas" / "james thoms"); two names of two tokens that
            // are their parts have the parts' Jaro–Winkler already (a value below JW_MID
            // perhaps only a bound of it, which token_alignment compares the same way)
            let parts_jw = (a.tokens_are_parts && b.tokens_are_parts).then_some([[jf, jfs], [jls, jl]]);
            let aligned = token_alignment(ta, tb, parts_jw, first_variants);
            if aligned == Some(NAME_JW_HIGH) {
                return Some(NAME_JW_HIGH);
            }
            if aligned == Some(NAME_PARTIAL) || partial(fa, fb, jf, la, lb, jl) || partial(fa, lb, jfs, la, fb, jls) {
                return Some(NAME_PARTIAL);
            }
            // one part the same or written alike (in either orientation; as a bare part agrees
            // below: Jaro–Winkler, one edit, a nickname of the given name), the other unlike it: a
            // name mistyped twice, or two members of one family; or both parts only roughly
            // alike (Jaro–Winkler ≥ JW_MID, "coopa stewarf" / "cooper sewart"): each mistyped
            // twice. The model weighs which the data holds
            let alike = [jf, jl, jfs, jls].iter().any(|j| *j >= JW_HIGH)
                || [(fa, fb), (la, lb), (fa, lb), (la, fb)].iter().any(|(x, y)| within_one_edit(x, y))
                || first_variants;
            if alike || (jf >= JW_MID && jl >= JW_MID) || (jfs >= JW_MID && jls >= JW_MID) {
                return Some(NAME_ONE_PART_OTHER_DIFFERENT);
            }
            Some(NAME_DIFFERENT)
        }
        _ => {
            if (a.first.is_none() && a.last.is_none()) || (b.first.is_none() && b.last.is_none()) {
                return None;
            }
            // a present part written alike on both sides (a one-edit typo, "kya" / "kaya", or a
            // nickname of the given name, "ibo" / "ibrahim") is a level of its own, which the
            // model weighs: one name part says less than two. A bare initial only agrees: neutral
            let (ta, tb) = (&a.name_tokens, &b.name_tokens);
            let close = ta.iter().any(|x| tb.iter().any(|y| token_close(x, y) || one_edit_str(x, y)))
                || (a.first.is_some() && b.first.is_some() && given_variants(a, b));
            if close {
                return Some(NAME_ONE_PART_OTHER_MISSING);
            }
            // nothing agrees: evidence against only where both sides hold the same part (a bare
            // first name says nothing about a bare last name), and neither an initial nor a
            // longer part perhaps mistyped twice ("sssott" / "scott") agrees
            let comparable = (a.first.is_some() && b.first.is_some()) || (a.last.is_some() && b.last.is_some());
            if !comparable || ta.iter().any(|x| tb.iter().any(|y| initial_str(x, y) || twice_mistyped(x, y))) {
                None
            } else {
                Some(NAME_DIFFERENT)
            }
        }
    }
}

/// `f` over two name tokens: over bytes when both are ASCII (the folded Latin names), over
/// characters otherwise (Arabic, CJK or Hangul names stay non-ASCII, and shared UTF-8 lead bytes
/// would make two different letters look half alike).
fn by_char<R>(x: &str, y: &str, bytes: fn(&[u8], &[u8]) -> R, chars: fn(&[char], &[char]) -> R) -> R {
    if x.is_ascii() && y.is_ascii() {
        bytes(x.as_bytes(), y.as_bytes())
    } else {
        let (cx, cy): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
        chars(&cx, &cy)
    }
}

/// Jaro–Winkler of two name tokens, by character.
fn jw_str(x: &str, y: &str) -> f64 {
    by_char(x, y, jaro_winkler, jaro_winkler)
}

/// [`within_one_edit`] of two name tokens, by character.
fn one_edit_str(x: &str, y: &str) -> bool {
    by_char(x, y, within_one_edit, within_one_edit)
}

/// Two name tokens of at least [`MIN_TWICE_MISTYPED`] letters each with Jaro–Winkler ≥
/// [`JW_MID`]: perhaps one name mistyped twice ("lqtricia" / "patricia"), perhaps two names.
fn twice_mistyped(x: &str, y: &str) -> bool {
    x.chars().count() >= MIN_TWICE_MISTYPED && y.chars().count() >= MIN_TWICE_MISTYPED && jw_str(x, y) >= JW_MID
}

/// Two name tokens that are one name written alike: equal or Jaro–Winkler ≥ [`JW_HIGH`].
fn token_close(x: &str, y: &str) -> bool {
    x == y || jw_str(x, y) >= JW_HIGH
}

/// The first name tokens of two records are two given names that are variants of one
/// ([`nicknames`]: "jim" / "james"). Only ever asked of the first token of each name, so a
/// surname is never read as a nickname.
fn given_variants(a: &Prepared, b: &Prepared) -> bool {
    a.given_group.is_some() && a.given_group == b.given_group && a.name_tokens.first() != b.name_tokens.first()
}

/// "a" / "ayse" for name tokens.
fn initial_str(x: &str, y: &str) -> bool {
    (x.len() == 1 && y.len() > 1 && y.starts_with(x)) || (y.len() == 1 && x.len() > 1 && x.starts_with(y))
}

/// Longest name, in tokens, that [`token_alignment`] pairs up (longer ones are not aligned).
const ALIGN_MAX_TOKENS: usize = 6;

/// Whether every token of the shorter name (two or more tokens) pairs with a token of its own
/// in the longer one, in any order: Some(2) when every pair is [`token_close`], Some(3) when at
/// least one is and the rest are similar (Jaro–Winkler ≥ [`JW_MID`], one edit apart, an
/// initial) or given-name variants (a nickname is a weaker sign than the same name: "alex" is
/// also short for alexandra), None otherwise. Close pairs are taken first, so a merely similar
/// token never takes another's only close partner. With a token more on one side, the first
/// tokens must pair with each other. `parts_jw`: the Jaro–Winkler values of two two-token
/// names, known already; each is only compared with [`JW_MID`] and [`JW_HIGH`], so one below
/// [`JW_MID`] may be a bound ([`jaro_winkler_or_below`]).
fn token_alignment(a: &[String], b: &[String], parts_jw: Option<[[f64; 2]; 2]>, first_variants: bool) -> Option<u8> {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() < 2 || long.len() > ALIGN_MAX_TOKENS {
        return None;
    }
    // a token more on one side (a middle name, a second surname): the first tokens must pair,
    // or "ali yilmaz" would be found inside his father "mehmet ali yilmaz"
    let first_fixed = short.len() < long.len();
    let allowed = |i: usize, j: usize| !first_fixed || (i == 0) == (j == 0);
    // Jaro–Winkler of every token pair, once for both passes
    let mut jw = [[0.0f64; ALIGN_MAX_TOKENS]; ALIGN_MAX_TOKENS];
    match parts_jw {
        // two tokens each (short is a): the parts' values, in the same orientation
        Some(p) if short.len() == 2 && long.len() == 2 => {
            jw[0][..2].copy_from_slice(&p[0]);
            jw[1][..2].copy_from_slice(&p[1]);
        }
        _ => {
            for (i, t) in short.iter().enumerate() {
                for (j, u) in long.iter().enumerate() {
                    jw[i][j] = if t == u { 1.0 } else { jw_str(t, u) };
                }
            }
        }
    }
    let mut partner: [Option<usize>; ALIGN_MAX_TOKENS] = [None; ALIGN_MAX_TOKENS];
    let mut used = [false; ALIGN_MAX_TOKENS];
    let mut strong = 0;
    for i in 0..short.len() {
        if let Some(j) = (0..long.len()).find(|&j| !used[j] && allowed(i, j) && jw[i][j] >= JW_HIGH) {
            used[j] = true;
            partner[i] = Some(j);
            strong += 1;
        }
    }
    if strong == 0 {
        return None;
    }
    for (i, t) in short.iter().enumerate() {
        if partner[i].is_some() {
            continue;
        }
        let u = |j: usize| long[j].as_str();
        let weak = |j: usize| {
            jw[i][j] >= JW_MID || one_edit_str(t, u(j)) || initial_str(t, u(j)) || (i == 0 && j == 0 && first_variants)
        };
        let j = (0..long.len()).find(|&j| !used[j] && allowed(i, j) && weak(j))?;
        used[j] = true;
        partner[i] = Some(j);
    }
    Some(if strong == short.len() { NAME_JW_HIGH } else { NAME_PARTIAL })
}

/// The same tokens, as many times each, in any order. Without allocating: it runs for nearly
/// every candidate pair, and names have a handful of tokens.
fn same_token_set(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    if a.len() == 2 {
        return (a[0] == b[0] && a[1] == b[1]) || (a[0] == b[1] && a[1] == b[0]);
    }
    let count = |v: &[String], t: &String| v.iter().filter(|x| *x == t).count();
    a.iter().all(|t| count(a, t) == count(b, t))
}

fn token_subset(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 2
        && short.len() < long.len()
        && short[0] == long[0]
        && short.iter().all(|t| long.contains(t))
}

/// Largest group of records sharing one phone that [`mark_shared_phones`] inspects pairwise;
/// bigger groups are hubs (see `Config::hub_min_count`) or left as they are.
const SHARED_PHONE_GROUP_MAX: usize = 64;

/// Mark phones held by records whose names say they are different people (name level
/// "different" between two holders): family landlines, a shared office number. Typos, nicknames
/// close enough to compare, middle names and swapped first/last names do not count. Linear in
/// records; quadratic only within a phone's group, which is capped.
pub fn mark_shared_phones(prepared: &mut [Prepared]) {
    use std::collections::HashMap;
    let mut groups: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, p) in prepared.iter().enumerate() {
        if let (Some(ph), true) = (&p.phone, p.first.is_some() || p.last.is_some()) {
            groups.entry(ph.as_slice()).or_default().push(i);
        }
    }
    let mut shared: Vec<Vec<u8>> = Vec::new();
    for (ph, members) in &groups {
        if members.len() < 2 || members.len() > SHARED_PHONE_GROUP_MAX {
            continue;
        }
        let differs = members.iter().enumerate().any(|(k, &i)| {
            members[k + 1..]
                .iter()
                .any(|&j| matches!(cmp_name(&prepared[i], &prepared[j]), Some(NAME_DIFFERENT | NAME_ONE_PART_OTHER_DIFFERENT)))
        });
        if differs {
            shared.push(ph.to_vec());
        }
    }
    drop(groups);
    let shared: std::collections::HashSet<Vec<u8>> = shared.into_iter().collect();
    for p in prepared.iter_mut() {
        p.phone_shared = p.phone.as_ref().is_some_and(|ph| shared.contains(ph));
    }
}

/// E-mail levels: 0 equal, 1 same match key (gmail dots, +tags), 2 one-edit typo on the whole
/// address (not touching its digits) or the same (long enough, distinctive) local part at
/// another domain or with other separators, 3 different.
///
/// "mehmet.yilmaz@gmail.com" and "mehmet.yilmaz@hotmail.com" are two mailboxes anyone called
/// mehmet yilmaz might own: a local part made only of the record's own name adds nothing to the
/// name comparison (and would double-count it), so it counts only when it has a digit or other
/// letters (`Prepared::email_local_distinctive` on both sides).
fn cmp_email(a: &Prepared, b: &Prepared) -> Option<u8> {
    let (ea, eb) = both(&a.email, &b.email)?;
    if ea == eb {
        return Some(EMAIL_EXACT);
    }
    let (ka, kb) = (
        a.email_key.as_deref().unwrap_or(ea),
        b.email_key.as_deref().unwrap_or(eb),
    );
    if ka == kb {
        return Some(EMAIL_MATCH_KEY);
    }
    if a.email_local == b.email_local {
        // the same mailbox, punctuation included, with a one-letter typo in the domain: the same
        // address ("yilmazelif@hotmail" and "yilmaz.elif@hotmial" are two mailboxes)
        let at = |k: &str| -> usize { k.rfind('@').unwrap_or(k.len()) };
        let ((la, da), (lb, db)) = (ka.split_at(at(ka)), kb.split_at(at(kb)));
        if la == lb && da != db && within_one_edit(da.as_bytes(), db.as_bytes()) {
            return Some(EMAIL_TYPO_OR_OTHER_DOMAIN);
        }
        // punctuated differently or at another domain: "orhan.yilmaz" and "orhanyilmaz" at
        // outlook.com are two mailboxes namesakes may own, so it only counts for a distinctive
        // mailbox name
        let distinctive = a.email_local.len() >= MIN_SHARED_LOCAL
            && a.email_local_distinctive
            && b.email_local_distinctive;
        return Some(if distinctive { EMAIL_TYPO_OR_OTHER_DOMAIN } else { EMAIL_DIFFERENT });
    }
    // a typo, but not in the digits: "mehmet.yilmaz12" and "mehmet.yilmaz13" are two namesakes'
    // mailboxes numbered by the provider, not one mistyped address; nor two different ways of
    // writing the name ("ahmed85" and "ahmedk85": first name, and first name + initial)
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).fold(0u64, mix_digit);
    if (within_one_edit(ea.as_bytes(), eb.as_bytes())
        || within_one_edit(ka.as_bytes(), kb.as_bytes()))
        && digits(ka) == digits(kb)
        && !(a.email_local_is_name && b.email_local_is_name)
    {
        return Some(EMAIL_TYPO_OR_OTHER_DOMAIN);
    }
    Some(EMAIL_DIFFERENT)
}

/// An e-mail local part without the separators . _ - .
fn squash_local(local: &str) -> String {
    local
        .chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .collect()
}

/// Fold one digit into a running hash of a digit sequence (no allocation).
fn mix_digit(h: u64, d: u8) -> u64 {
    h.wrapping_mul(31).wrapping_add(u64::from(d))
}

/// Phone levels (digits): 0 equal, 1 same last 7 digits (country/area code written differently)
/// or a one-edit typo, 2 different.
fn cmp_phone(a: &[u8], b: &[u8]) -> u8 {
    if a == b {
        return PHONE_EXACT;
    }
    let last7 = a.len() >= 7 && b.len() >= 7 && a[a.len() - 7..] == b[b.len() - 7..];
    if last7 || within_one_edit(a, b) {
        PHONE_LAST7_OR_TYPO
    } else {
        PHONE_DIFFERENT
    }
}

/// Birth date levels: equal, day and month swapped or one digit off (a one-edit typo on
/// "YYYYMMDD"), same day and month in another year (a year typed wrong), same year, different.
pub fn cmp_birth(a: &[u8; 8], b: &[u8; 8]) -> u8 {
    if a == b {
        return BIRTH_EXACT;
    }
    let swapped = a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6];
    if swapped || within_one_edit(&a[..], &b[..]) {
        BIRTH_SWAP_OR_TYPO
    } else if a[4..] == b[4..] {
        BIRTH_DAY_MONTH
    } else if a[..4] == b[..4] {
        BIRTH_SAME_YEAR
    } else {
        BIRTH_DIFFERENT
    }
}

/// National and external id levels: equal, a one-edit typo, different.
fn cmp_id(a: &str, b: &str) -> u8 {
    if a == b {
        ID_EXACT
    } else if within_one_edit(a.as_bytes(), b.as_bytes()) {
        ID_TYPO
    } else {
        ID_DIFFERENT
    }
}

/// Address levels: the same street and the same postcode (or, where the postcode is missing or
/// one typo off, a city written alike: equal or Jaro–Winkler ≥ [`JW_HIGH`]); the same street
/// with another house number in the same postcode ([`street_name_close`]: a neighbour, or one
/// person's mistyped number; the model learns which the data holds); the same postcode, or a
/// similar street (token Jaccard ≥ 0.6) where neither postcode nor city disagrees; the same
/// city; different. `None` when no address part is present on both sides.
///
/// "The same" street allows a typo ([`street_close`]); a postcode one typo off or a city written
/// alike does not disagree, it only confirms less ("3750" / "3150" with the same street and city
/// is one address; "3750" / "2608" are two).
fn cmp_address(a: &Prepared, b: &Prepared) -> Option<u8> {
    let street = both(&a.street, &b.street);
    let post = both(&a.postcode, &b.postcode);
    let city = both(&a.city, &b.city);
    if street.is_none() && post.is_none() && city.is_none() {
        return None;
    }
    let post_eq = post.is_some_and(|(x, y)| x == y);
    // None: missing on a side; Some(true): equal or one typo off; Some(false): disagrees
    let post_near = post.map(|(x, y)| x == y || within_one_edit(x.as_bytes(), y.as_bytes()));
    let city_eq = city.is_some_and(|(x, y)| x == y);
    // a city written alike: Jaro–Winkler, or one edit for short names ("box" / "obx")
    let city_near = city.map(|(x, y)| x == y || jw_str(x, y) >= JW_HIGH || within_one_edit(x.as_bytes(), y.as_bytes()));
    if let Some((sa, sb)) = street {
        if street_close(a, b, sa, sb) && (post_eq || (post_near != Some(false) && city_near == Some(true))) {
            return Some(ADDRESS_STREET_POSTCODE);
        }
    }
    if let Some((sa, sb)) = street {
        if post_eq && street_name_close(a, b, sa, sb) {
            return Some(ADDRESS_STREET_OTHER_NUMBER);
        }
    }
    if post_eq {
        return Some(ADDRESS_POSTCODE_OR_STREET);
    }
    // a street name repeats in every city ("ataturk caddesi"): only count it where neither
    // postcode nor city disagrees
    if let Some((sa, sb)) = street {
        if post_near != Some(false)
            && city_near != Some(false)
            && (street_close(a, b, sa, sb) || jaccard_sorted(&a.street_tokens, &b.street_tokens) >= STREET_JACCARD)
        {
            return Some(ADDRESS_POSTCODE_OR_STREET);
        }
    }
    if city_eq {
        return Some(ADDRESS_CITY);
    }
    Some(ADDRESS_DIFFERENT)
}

/// A value that two records at the field's best level always share, where one exists: the pairs
/// at that level are then all within the groups of records holding one value, and u of the level
/// can be measured by sampling pairs inside the groups (see `model::sample_u_patterns`). For the
/// address, the house number of the street ("" for a street without one): the best level needs
/// the street written alike, which needs the same house number. For the birth date, the date
/// itself. None where the record has no such value (no street) or the field has no such key.
pub fn best_level_stratum(p: &Prepared, f: Field) -> Option<&str> {
    match f {
        Field::Address => p.street.as_deref().map(|s| p.house(s).unwrap_or("")),
        // the digits are ASCII (`birth_digits`)
        Field::BirthDate => p.birth.as_ref().and_then(|b| std::str::from_utf8(b).ok()),
        _ => None,
    }
}

/// The first run of digits in a street ("133 swanston road" → "133", "bagdat caddesi no 12" →
/// "12"); None without one.
pub fn house_number(street: &str) -> Option<&str> {
    let start = street.find(|c: char| c.is_ascii_digit())?;
    let rest = &street[start..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One street written alike: equal, or the same house number (or none on both sides) and
/// Jaro–Winkler ≥ [`JW_HIGH`] over the whole street ("228 mill court" / "228 mill cuort",
/// "101 cedar ct" / "101 cedar court"). Another house number is another address, however alike
/// the rest ("228 mill court" / "229 mill court").
fn street_close(pa: &Prepared, pb: &Prepared, a: &str, b: &str) -> bool {
    a == b || (pa.house(a) == pb.house(b) && jw_str(a, b) >= JW_HIGH)
}

/// The street without its house number, trimmed ("133 swanston road" → "swanston road",
/// "ataturk caddesi no 12" → "ataturk caddesi no"); borrowed where the number is at either end,
/// as it nearly always is (this runs for every pair of one postcode).
fn street_name(street: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = street.find(|c: char| c.is_ascii_digit()) else {
        return street.trim().into();
    };
    let end = street[start..].find(|c: char| !c.is_ascii_digit()).map_or(street.len(), |e| start + e);
    let (before, after) = (street[..start].trim(), street[end..].trim());
    match (before.is_empty(), after.is_empty()) {
        (true, _) => after.into(),
        (false, true) => before.into(),
        (false, false) => format!("{before} {after}").into(),
    }
}

/// Two streets of one name, written alike (equal, or Jaro–Winkler ≥ [`JW_HIGH`]), whatever
/// their house numbers. This runs for every pair of one postcode, mostly on two different
/// streets: Jaro–Winkler is only computed where the names could be alike, their lengths at most
/// 3 apart and their first or last letters the same (a typo at both ends is not "alike").
fn street_name_close(pa: &Prepared, pb: &Prepared, a: &str, b: &str) -> bool {
    let (x, y) = (pa.street_name(a), pb.street_name(b));
    if x.is_empty() || y.is_empty() {
        return false;
    }
    if x == y {
        return true;
    }
    let (xb, yb) = (x.as_bytes(), y.as_bytes());
    xb.len().abs_diff(yb.len()) <= 3
        && (xb[0] == yb[0] || xb[xb.len() - 1] == yb[yb.len() - 1])
        && jw_str(&x, &y) >= JW_HIGH
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
        assert_eq!(
            lv(&name("ayse", "yilmaz"), &name("ayse", "yilmaz"), n),
            Some(0)
        );
        assert_eq!(
            lv(&name("mehmet", "kaya"), &name("kaya", "mehmet"), n),
            Some(1)
        );
        // one typo in each part of longer names: both parts Jaro–Winkler ≥ 0.92
        assert_eq!(
            lv(&name("mehmet", "yilmaz"), &name("mehmat", "yilmas"), n),
            Some(2)
        );
        // "ayse"/"aysa" is Jaro–Winkler 0.883: below 0.92 (a single substitution in a
        // four-letter name can never reach it), so with the last name equal it is "partial"
        assert!((jaro_winkler(&['a', 'y', 's', 'e'], &['a', 'y', 's', 'a']) - 0.8833).abs() < 1e-3);
        assert_eq!(
            lv(&name("ayse", "yilmaz"), &name("aysa", "yilmaz"), n),
            Some(3)
        );
        assert_eq!(
            lv(&name("ayse", "yilmaz"), &name("aysa", "yilmas"), n),
            Some(3)
        );
        // swapped with a typo still counts as jw_high
        assert_eq!(
            lv(&name("mehmet", "kaya"), &name("kaya", "mehmmet"), n),
            Some(2)
        );
        // initial vs full first name
        assert_eq!(
            lv(&name("a", "yilmaz"), &name("ayse", "yilmaz"), n),
            Some(3)
        );
        // same first, last 0.80..0.92 ("kaya"/"kara" 0.867)
        assert_eq!(
            lv(&name("mehmet", "kaya"), &name("mehmet", "kara"), n),
            Some(3)
        );
        // same first, short last name one edit apart but JW < 0.80
        assert_eq!(lv(&name("mehmet", "ok"), &name("mehmet", "ak"), n), Some(3));
        // family members, or a first name mistyped twice: same last name, first name unlike
        assert_eq!(
            lv(&name("ayse", "yilmaz"), &name("mehmet", "yilmaz"), n),
            Some(NAME_ONE_PART_OTHER_DIFFERENT)
        );
        assert_eq!(lv(&name("cheryl", "carpenter"), &name("cnayl", "carpenter"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        // swapped, and one of them the same
        assert_eq!(lv(&name("matthews", "jaaema"), &name("james", "matthews"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        assert_eq!(
            lv(&name("ayse", "yilmaz"), &name("fatma", "demir"), n),
            Some(NAME_DIFFERENT)
        );
    }

    #[test]
    fn name_from_full_name_and_partial_names() {
        let full = rec(&[(Attr::FullName, "ayse nur yilmaz")]);
        assert_eq!(lv(&full, &name("ayse", "yilmaz"), Field::Name), Some(0));
        // only a first name: agreement is a level of its own, a bare initial neutral,
        // disagreement counts
        let only_first = rec(&[(Attr::FirstName, "ayse")]);
        assert_eq!(lv(&only_first, &name("ayse", "yilmaz"), Field::Name), Some(NAME_ONE_PART_OTHER_MISSING));
        let typo = rec(&[(Attr::FirstName, "jefrfey")]);
        assert_eq!(lv(&typo, &name("jeffrey", "peters"), Field::Name), Some(NAME_ONE_PART_OTHER_MISSING));
        let only_last = rec(&[(Attr::LastName, "kaya")]);
        assert_eq!(lv(&only_last, &rec(&[(Attr::LastName, "kya")]), Field::Name), Some(NAME_ONE_PART_OTHER_MISSING));
        let initial = rec(&[(Attr::FirstName, "a")]);
        assert_eq!(lv(&initial, &name("ayse", "yilmaz"), Field::Name), None);
        assert_eq!(lv(&only_first, &only_last, Field::Name), None, "a first name against a last name");
        let other = rec(&[(Attr::FirstName, "mehmet")]);
        assert_eq!(lv(&other, &name("ayse", "yilmaz"), Field::Name), Some(NAME_DIFFERENT));
        assert_eq!(lv(&rec(&[]), &name("ayse", "yilmaz"), Field::Name), None);
        // (shared phones: see shared_phones_need_different_people)
        // compound surname against a full name with all three tokens: exact
        let compound = rec(&[(Attr::FirstName, "javier"), (Attr::LastName, "diaz perez"), (Attr::FullName, "javier diaz perez")]);
        let full3 = rec(&[(Attr::FullName, "javier diaz perez")]);
        assert_eq!(lv(&compound, &full3, Field::Name), Some(0));
        // a middle name more: jw_high level; a different first name with the same surnames: not
        let mary3 = rec(&[(Attr::FullName, "mary linda thompson")]);
        let mary2 = rec(&[(Attr::FirstName, "mary"), (Attr::LastName, "thompson"), (Attr::FullName, "mary thompson")]);
        assert_eq!(lv(&mary3, &mary2, Field::Name), Some(0), "first and last tokens agree");
        let laura3 = rec(&[(Attr::FullName, "laura martinez rodriguez")]);
        let laura2 = rec(&[(Attr::FirstName, "laura"), (Attr::LastName, "martinez"), (Attr::FullName, "laura martinez")]);
        assert_eq!(lv(&laura3, &laura2, Field::Name), Some(2));
        let other3 = rec(&[(Attr::FullName, "carmen martinez rodriguez")]);
        assert_eq!(lv(&other3, &laura3, Field::Name), Some(NAME_ONE_PART_OTHER_DIFFERENT));
    }

    #[test]
    fn name_tokens_nicknames_and_parts_of_names() {
        let n = Field::Name;
        // a nickname of the given name is a similar name, not the same one
        assert_eq!(lv(&name("jim", "thomas"), &name("james", "thoms"), n), Some(3));
        assert_eq!(lv(&name("ibo", "cakir"), &name("ibrahim", "cakir"), n), Some(3));
        assert_eq!(lv(&name("mohamed", "ali"), &name("muhammad", "ali"), n), Some(3));
        assert_eq!(lv(&name("bill", "smith"), &name("robert", "smith"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT), "two names");
        // "alex" is also alexandra: brother and sister are not a similar name, only one family's
        assert_eq!(lv(&name("alex", "ivanova"), &name("aleksandr", "ivanov"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        // one part mistyped, the other mistyped twice
        assert_eq!(lv(&name("timothy", "owens"), &name("timoty", "iwenz"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        assert_eq!(lv(&name("alex", "ivanova"), &name("boris", "petrov"), n), Some(NAME_DIFFERENT));
        // the same kinds of alike as a bare part: a nickname, a one-edit typo in a short name
        assert_eq!(lv(&name("ibo", "cakir"), &name("ibrahim", "demir"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        assert_eq!(lv(&rec(&[(Attr::FirstName, "ibo")]), &name("ibrahim", "demir"), n), Some(NAME_ONE_PART_OTHER_MISSING));
        assert_eq!(lv(&name("ali", "ok"), &name("veli", "ak"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        // a nickname is read only in the given-name position, not in a swapped name
        assert_eq!(lv(&name("bill", "smith"), &name("smith", "william"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        // non-Latin names compare by character: yusuf / yunus is similar, not the same
        let yusuf = rec(&[(Attr::FullName, "يوسف خان")]);
        let yunus = rec(&[(Attr::FullName, "يونس خان")]);
        assert_eq!(lv(&yusuf, &yunus, n), Some(3));
        // a compound surname with a typo, against the same name from a full-name column
        let full = rec(&[(Attr::FullName, "javier castillo garcia")]);
        let typo = rec(&[(Attr::FirstName, "javier"), (Attr::LastName, "castiillo garcia")]);
        assert_eq!(lv(&full, &typo, n), Some(2));
        // a middle name in the first-name field and a typo in the first name: similar
        let mid = rec(&[(Attr::FirstName, "zmhra ayse"), (Attr::LastName, "coskun")]);
        assert_eq!(lv(&name("zehra", "coskun"), &mid, n), Some(3));
        // a token more: the first names must pair ("ali" is not his father "mehmet ali")
        let father = rec(&[(Attr::FullName, "mehmet ali yilmaz")]);
        assert_eq!(lv(&name("ali", "yilmaz"), &father, n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        // swapped, with a typo
        let swapped = rec(&[(Attr::FullName, "el ammin aisha")]);
        assert_eq!(lv(&rec(&[(Attr::FullName, "aisha el amin")]), &swapped, n), Some(2));
        // partial names: a shared token is one part, a first name says nothing of a last name
        let first_mid = rec(&[(Attr::FirstName, "hasan ismail")]);
        assert_eq!(lv(&first_mid, &name("hasan", "yildiz"), n), Some(NAME_ONE_PART_OTHER_MISSING));
        let only_last = rec(&[(Attr::LastName, "gomez martinez")]);
        assert_eq!(lv(&rec(&[(Attr::FirstName, "isabel")]), &only_last, n), None);
        assert_eq!(lv(&only_last, &name("jose", "gomez"), n), Some(NAME_ONE_PART_OTHER_MISSING), "a surname token agrees");
        assert_eq!(lv(&only_last, &name("jose", "perez"), n), Some(NAME_DIFFERENT));
        // a typo in a bare name still agrees ("kya" / "kaya"), another name is evidence against
        let bare = rec(&[(Attr::LastName, "kya")]);
        assert_eq!(lv(&bare, &name("emine", "kaya"), n), Some(NAME_ONE_PART_OTHER_MISSING));
        assert_eq!(lv(&bare, &name("emine", "demir"), n), Some(NAME_DIFFERENT));
        // but only a one-edit typo: "emre" is not "emine"
        assert_eq!(lv(&rec(&[(Attr::FirstName, "emre")]), &name("emine", "kaya"), n), Some(NAME_DIFFERENT));
        // both parts mistyped twice, in either order: no longer "different" (the model weighs
        // the level); two other names still are
        assert_eq!(lv(&name("coopa", "stewarf"), &name("cooper", "sewart"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        assert_eq!(lv(&name("hendersen", "sophia"), &name("zopphia", "henddrson"), n), Some(NAME_ONE_PART_OTHER_DIFFERENT));
        assert_eq!(lv(&name("ayse", "yilmaz"), &name("fatma", "kaya"), n), Some(NAME_DIFFERENT));
        // a longer bare name mistyped twice ("sssott" / "scott", "lqtricia" / "patricia") is
        // no evidence either way: neither the same name nor another one
        assert_eq!(lv(&rec(&[(Attr::LastName, "sssott")]), &name("danyl", "scott"), n), None);
        assert_eq!(lv(&rec(&[(Attr::FirstName, "patricia")]), &name("lqtricia", "roberts"), n), None);
        assert_eq!(lv(&rec(&[(Attr::LastName, "sssott")]), &name("danyl", "smith"), n), Some(NAME_DIFFERENT));
    }

    #[test]
    fn email_levels_of_namesakes() {
        let f = Field::Email;
        let with = |email: &str, full: &str| rec(&[(Attr::Email, email), (Attr::FullName, full)]);
        // a compound surname is part of the name: the mailbox name says nothing more
        assert_eq!(
            lv(&with("nour.alsayed@acme-corp.com", "nour al sayed"), &with("nour.alsayed@outlook.com", "nour al sayed"), f),
            Some(3)
        );
        assert_eq!(
            lv(&with("aalfarsi@gmail.com", "abdullah al farsi"), &with("a.alfarsi@example-bank.fr", "abdullah al farsi"), f),
            Some(3)
        );
        // two mailboxes (the dot counts outside gmail), one of them at a mistyped domain
        assert_eq!(
            lv(&with("yilmazelif@hotmail.com", "elif yilmaz"), &with("yilmaz.elif@hotmial.com", "elif yilmaz"), f),
            Some(3)
        );
        // the same mailbox at a mistyped domain is still the same address
        assert_eq!(
            lv(&with("yilmaz.elif@hotmail.com", "elif yilmaz"), &with("yilmaz.elif@hotmial.com", "elif yilmaz"), f),
            Some(2)
        );
        // two ways of writing the name one letter apart: not a typo
        assert_eq!(
            lv(&with("ahmed85@outlook.com", "ahmed khalil"), &with("ahmedk85@outlook.com", "ahmed khalil"), f),
            Some(3)
        );
        // a real typo in a name-made mailbox still is one
        assert_eq!(
            lv(&with("elif.yilmaz@outlook.com", "elif yilmaz"), &with("elif.yilmza@outlook.com", "elif yilmaz"), f),
            Some(2)
        );
        // a mailbox name unrelated to the name, at two domains: the same person
        assert_eq!(
            lv(&with("karakartal1903@gmail.com", "elif yilmaz"), &with("karakartal1903@hotmail.com", "elif yilmaz"), f),
            Some(2)
        );
    }

    #[test]
    fn email_levels() {
        let e = |v: &str| rec(&[(Attr::Email, v)]);
        let f = Field::Email;
        assert_eq!(
            lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmaz@gmail.com"), f),
            Some(0)
        );
        assert_eq!(
            lv(&e("ayse.yilmaz@gmail.com"), &e("ayseyilmaz@gmail.com"), f),
            Some(1)
        );
        assert_eq!(
            lv(
                &e("ayse.yilmaz+shop@gmail.com"),
                &e("ayseyilmaz@gmail.com"),
                f
            ),
            Some(1)
        );
        assert_eq!(
            lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmaz@gmial.com"), f),
            Some(2)
        );
        assert_eq!(
            lv(&e("ayse.yilmaz@gmail.com"), &e("ayse.yilmza@gmail.com"), f),
            Some(2)
        );
        // an edit in the digits is another mailbox, not a typo
        assert_eq!(
            lv(
                &e("mehmet.yilmaz12@gmail.com"),
                &e("mehmet.yilmaz13@gmail.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(
                &e("mehmetyilmaz@gmail.com"),
                &e("mehmetyilmaz1@gmail.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(
                &e("ayse.yilmaz@gmail.com"),
                &e("ayse.yilmaz@hotmail.com"),
                f
            ),
            Some(2)
        );
        // ... unless the local part is just the records' name: namesakes own such mailboxes
        let en = |v: &str| {
            rec(&[
                (Attr::Email, v),
                (Attr::FirstName, "ayse"),
                (Attr::LastName, "yilmaz"),
            ])
        };
        assert_eq!(
            lv(
                &en("ayse.yilmaz@gmail.com"),
                &en("ayse.yilmaz@hotmail.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(
                &en("ayse_yilmaz@gmail.com"),
                &en("ayse_yilmaz@hotmail.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(&en("ayilmaz@gmail.com"), &en("ayilmaz@hotmail.com"), f),
            Some(3)
        );
        assert_eq!(
            lv(
                &en("ayse.yilmaz@outlook.com"),
                &en("ayseyilmaz@outlook.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(
                &en("ayse.yilmaz@outlook.com"),
                &en("ayse.yilmza@outlook.com"),
                f
            ),
            Some(2)
        );
        // a typo in the domain is a typo, name-made mailbox or not
        assert_eq!(
            lv(&en("ayse.yilmaz@yahoo.com"), &en("ayse.yilmaz@yaho.com"), f),
            Some(2)
        );
        // a number next to the name is no independent evidence: namesakes born the same year
        assert_eq!(
            lv(
                &en("ayse.yilmaz85@gmail.com"),
                &en("ayse.yilmaz85@hotmail.com"),
                f
            ),
            Some(3)
        );
        assert_eq!(
            lv(&en("kedisever@gmail.com"), &en("kedisever@hotmail.com"), f),
            Some(2)
        );
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
        assert_eq!(lv(&d("1985-03-12"), &d("1970-03-12"), f), Some(BIRTH_DAY_MONTH)); // another year
        assert_eq!(lv(&d("1985-03-12"), &d("1985-07-25"), f), Some(BIRTH_SAME_YEAR));
        assert_eq!(lv(&d("1985-03-12"), &d("1990-07-25"), f), Some(BIRTH_DIFFERENT));
        assert_eq!(lv(&d("1985-03-12"), &d("garbage"), f), None);
    }

    #[test]
    fn identifier_levels() {
        let n = |v: &str| rec(&[(Attr::NationalId, v)]);
        assert_eq!(
            lv(&n("10000000146"), &n("10000000146"), Field::NationalId),
            Some(0)
        );
        assert_eq!(
            lv(&n("10000000146"), &n("10000000164"), Field::NationalId),
            Some(1)
        );
        assert_eq!(
            lv(&n("10000000146"), &n("29384756102"), Field::NationalId),
            Some(2)
        );
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
        assert_eq!(
            lv(&home, &ad("ataturk caddesi no 12", "34710", "istanbul"), f),
            Some(ADDRESS_STREET_POSTCODE)
        );
        assert_eq!(
            lv(&home, &ad("ataturk caddesi no 12", "", "istanbul"), f),
            Some(ADDRESS_STREET_POSTCODE)
        );
        assert_eq!(
            lv(&home, &ad("bagdat caddesi no 5", "34710", "istanbul"), f),
            Some(ADDRESS_POSTCODE_OR_STREET)
        );
        assert_eq!(
            lv(&home, &ad("ataturk caddesi no 14", "", "istanbul"), f),
            Some(ADDRESS_POSTCODE_OR_STREET)
        );
        // the same street name in another city is not the same street
        assert_eq!(
            lv(&home, &ad("ataturk caddesi no 12", "06100", "ankara"), f),
            Some(ADDRESS_DIFFERENT)
        );
        assert_eq!(
            lv(&home, &ad("bagdat caddesi no 5", "34000", "istanbul"), f),
            Some(ADDRESS_CITY)
        );
        assert_eq!(lv(&home, &ad("", "", "izmir"), f), Some(ADDRESS_DIFFERENT));
        assert_eq!(lv(&home, &ad("", "", ""), f), None);
        // a typo in the street is the same street; another house number is another address
        let house = ad("228 mill court", "3519", "kensington");
        assert_eq!(lv(&house, &ad("228 mill cuort", "", "kensington"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&house, &ad("228 mill cuort", "3519", ""), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&ad("101 cedar court", "3958", "camberwell"), &ad("101 cedar ct", "3958", "camberwell"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&house, &ad("229 mill court", "", "kensington"), f), Some(ADDRESS_CITY));
        // a postcode one typo off, with the same street and city: the same address; a postcode
        // that disagrees outright is not
        assert_eq!(lv(&house, &ad("228 mill court", "3513", "kensington"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&house, &ad("228 mill court", "35199", "kensngton"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&house, &ad("228 mill court", "2604", "kensington"), f), Some(ADDRESS_CITY));
        assert_eq!(lv(&house, &ad("228 mill court", "3513", ""), f), Some(ADDRESS_POSTCODE_OR_STREET));
        // a short city name one edit off is written alike too (Jaro–Winkler is low on three
        // letters); another city is not
        let short = ad("162 lonsdale place", "3698", "box");
        assert_eq!(lv(&short, &ad("162 lonsdale place", "8698", "obx"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&ad("55 burwood street", "3554", "noble"), &ad("55 burwood street", "3654", "joble"), f), Some(ADDRESS_STREET_POSTCODE));
        assert_eq!(lv(&short, &ad("162 lonsdale place", "8698", "ryde"), f), Some(ADDRESS_DIFFERENT));
        // the same street in the same postcode, another house number: a level of its own, which
        // the model weighs (neighbours in most data, one person's mistyped number in some)
        assert_eq!(lv(&house, &ad("229 mill court", "3519", "kensington"), f), Some(ADDRESS_STREET_OTHER_NUMBER));
        assert_eq!(lv(&house, &ad("53 mill cuort", "3519", ""), f), Some(ADDRESS_STREET_OTHER_NUMBER));
        assert_eq!(lv(&home, &ad("ataturk caddesi no 7", "34710", "istanbul"), f), Some(ADDRESS_STREET_OTHER_NUMBER));
        // another street in that postcode, or the same street without the postcode, is less
        assert_eq!(lv(&house, &ad("229 mill road", "3519", "kensington"), f), Some(ADDRESS_POSTCODE_OR_STREET));
        assert_eq!(lv(&house, &ad("229 mill court", "3591", "kensington"), f), Some(ADDRESS_CITY));
    }

    #[test]
    fn a_streets_number_and_name_are_found_once_as_they_would_be_each_time() {
        let long = format!("12 {}", "a".repeat(70_000));
        for st in ["133 swanston road", "ataturk caddesi no 12", "bagdat cad 5 daire 3", "mill court", "12", " 7 elm st ", long.as_str()] {
            let p = rec(&[(Attr::Street, st)]);
            let street = p.street.as_deref().unwrap();
            assert_eq!(p.house(street), house_number(street), "{st}");
            assert_eq!(p.street_name(street), street_name(street), "{st}");
        }
        assert_eq!(street_name("133 swanston road"), "swanston road");
        assert_eq!(street_name("ataturk caddesi no 12"), "ataturk caddesi no");
        assert_eq!(street_name("bagdat cad 5 daire 3"), "bagdat cad daire 3");
        assert!(rec(&[(Attr::Street, "133 swanston road")]).street_at.known);
        assert!(!rec(&[(Attr::Street, "bagdat cad 5 daire 3")]).street_at.known, "a name in two pieces is parsed each time");
    }

    #[test]
    fn the_address_stratum_holds_every_pair_at_the_best_level() {
        // the u sample draws the best level's pairs within these groups: a pair at that level
        // outside them would never be drawn there
        let streets = ["228 mill court", "228 mill cuort", "229 mill court", "mill court", "ataturk caddesi no 12", "ataturk cad no 12", "12 ataturk caddesi", "101 cedar ct", "101 cedar court"];
        let posts = ["", "3519", "3591"];
        let cities = ["", "kensington", "kensngton"];
        let mut recs = Vec::new();
        for s in streets {
            for p in posts {
                for c in cities {
                    let mut v = vec![(Attr::Street, s)];
                    if !p.is_empty() { v.push((Attr::Postcode, p)); }
                    if !c.is_empty() { v.push((Attr::City, c)); }
                    recs.push(rec(&v));
                }
            }
        }
        recs.push(rec(&[(Attr::Postcode, "3519"), (Attr::City, "kensington")]));
        let mut best = 0;
        for a in &recs {
            for b in &recs {
                if lv(a, b, Field::Address) == Some(ADDRESS_STREET_POSTCODE) {
                    best += 1;
                    let (x, y) = (best_level_stratum(a, Field::Address), best_level_stratum(b, Field::Address));
                    assert!(x.is_some() && x == y, "{a:?} / {b:?}");
                }
            }
        }
        assert!(best > 100, "{best}");
        assert_eq!(best_level_stratum(&recs[0], Field::Address), Some("228"));
        assert_eq!(best_level_stratum(&recs[3 * 9], Field::Address), Some(""));
        assert_eq!(best_level_stratum(recs.last().unwrap(), Field::Address), None);
        assert_eq!(best_level_stratum(&recs[0], Field::Name), None);
        // the birth date's best level is the same date
        let dates: Vec<Prepared> = ["1980-03-04", "1980-04-03", "1980-03-05", "1981-03-04", "04.03.1980"].iter().map(|d| rec(&[(Attr::BirthDate, d)])).collect();
        for a in &dates {
            for b in &dates {
                let same = best_level_stratum(a, Field::BirthDate) == best_level_stratum(b, Field::BirthDate);
                assert_eq!(lv(a, b, Field::BirthDate) == Some(BIRTH_EXACT), same, "{a:?} / {b:?}");
            }
        }
        assert_eq!(best_level_stratum(&dates[0], Field::BirthDate), Some("19800304"));
    }

    #[test]
    fn level_codes_round_trip() {
        let a = compare(&name("ayse", "yilmaz"), &name("aysa", "yilmaz"));
        assert_eq!(Levels::from_code(a.code()), a);
        assert_eq!(
            Levels::from_code(Levels::default().code()),
            Levels::default()
        );
        let mut all = Levels::default();
        for f in Field::ALL {
            all.set(f, Some((f.levels() - 1) as u8));
        }
        assert_eq!(Levels::from_code(all.code()), all);
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

    #[test]
    fn shared_phones_need_different_people() {
        let with = |f: &str, l: &str, ph: &str| {
            rec(&[(Attr::FirstName, f), (Attr::LastName, l), (Attr::Phone, ph)])
        };
        let mut p = vec![
            // one person: typo, middle name, swapped order on the same mobile
            with("mehmet", "kaya", "+905321111111"),
            with("memet", "kaya", "+905321111111"),
            with("kaya", "mehmet", "+905321111111"),
            // a family landline: two different people
            with("ayse", "yilmaz", "+902161234567"),
            with("mustafa", "yilmaz", "+902161234567"),
            // alone on its phone
            with("zeynep", "sahin", "+905051230000"),
        ];
        mark_shared_phones(&mut p);
        let flags: Vec<bool> = p.iter().map(|x| x.phone_shared).collect();
        assert_eq!(flags, [false, false, false, true, true, false]);
        // exact agreement on the family phone is the weaker level
        assert_eq!(compare_field(&p[3], &p[4], Field::Phone), Some(1));
        assert_eq!(compare_field(&p[0], &p[1], Field::Phone), Some(0));
    }
}

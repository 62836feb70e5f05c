//! Blocking: which record pairs are worth comparing at all.
//!
//! Every record gets a handful of blocking keys ([`record_keys`]); two records become a
//! candidate pair when they share a key. Identifier keys (e-mail, phone, ids) find the easy
//! matches; name keys built from a Turkish-aware [`phonetic`] code plus birth date / postcode find
//! records with typos, nicknames, swapped first/last names or changed identifiers.
//!
//! [`candidate_pairs`] never compares all pairs: keys are hashed, sorted, and only records in the
//! same block are paired; a block over `max_block` members (a very common name in one birth
//! year) is skipped and reported instead of producing a quadratic number of pairs.
//! [`hub_values`] finds identifier values shared by implausibly many records (placeholders, a
//! shop's phone number), which the caller removes from matching altogether.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::compare::{birth_digits, house_number, name_parts, MIN_SHARED_LOCAL};
use super::strdist::hash64;
use super::Rec;
use crate::normalise::Attr;

/// Kind of blocking key. The order of the variants is the order of keys in [`record_keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyKind {
    /// `normalise::email::match_key` (gmail dots and +tags dropped)
    Email,
    /// local part of the e-mail match key without separators . _ - (≥ 5 chars): the same
    /// mailbox name at another or a misspelt domain
    EmailLocal,
    /// E.164 phone
    Phone,
    /// last 7 phone digits + first letter of the last name: a wrong or missing country/area code
    PhoneLast7LastInitial,
    NationalId,
    ExternalId,
    AnonymousId,
    /// last name + birth year + first letter of the first name ("yilmaz|1985|a"): a typo in the
    /// birth day/month while other identifiers changed. The initial is there for scale: a common
    /// surname in one birth year is ~700 records per million, an initial divides that by ~10
    LastNameBirthYear,
    /// phonetic(first) + birth date and phonetic(last) + birth date (two keys): typos in either
    /// name, swapped first/last, a changed last name (marriage)
    PhoneticNameBirthDate,
    /// the two phonetic codes of first and last, sorted, + city ("a4 y784|istanbul"): swapped
    /// names and typos without a birth date, confirmed by the address. Without the city a name
    /// pair alone is quadratic at scale (n² Σp² ≈ 10⁸ pairs per million Turkish records) and a
    /// name alone can never reach the threshold anyway
    PhoneticFullName,
    /// first 3 letters of the first name + first letter of the last name + postcode
    /// ("ays|y|34710"): nicknames and first-name typos in one postcode area (the last initial
    /// keeps blocks small in dense urban postcodes)
    FirstPrefixPostcode,
    /// birth date + postcode ("1964-06-18|3014"): a name mistyped beyond the phonetic code, or
    /// missing, in registry-style data without e-mail or phone (blocks stay small: one birth
    /// date among the people of one postcode)
    BirthDatePostcode,
    /// house number (the first number in the street) + postcode ("124|2264"): one address
    /// whatever else was mistyped or left out (the street's name, the name, the birth date), in
    /// data without e-mail or phone; a block is the records of one house number in one postcode
    HouseNumberPostcode,
    /// the whole street, with its house number ("133 swanston road"): the same address when
    /// the postcode and the city were mistyped or left out. A street without a number is no key
    /// (everyone living in it, in every town)
    Street,
    /// phonetic(first) + postcode and phonetic(last) + postcode (two keys): one name part kept
    /// while the other was mistyped beyond its code, left out or swapped, with the birth date
    /// and the street mistyped or missing too. A common name in a dense postcode makes a block
    /// over [`NAME_PLACE_BLOCK_MAX`]: not paired, and not reported as skipped (it is no sign of a
    /// placeholder or a cap set too low); the other keys find those people
    NamePartPostcode,
    /// phonetic(last) + city ("fox|mentone"; a surname whose code is one letter keys by the name
    /// itself): the first name mistyped beyond its code or shortened, the birth date and the
    /// street changed, the postcode left out. Weak like [`KeyKind::NamePartPostcode`], with a
    /// cap of its own ([`NAME_CITY_BLOCK_MAX`]): a common surname in a large city is no block
    LastNameCity,
    /// house number + first letter of the street's name + city ("139|g|doncaster"): one house
    /// whose street name was mistyped past its first letter ("grevillea" / "grevilela", "ct" /
    /// "court", "latrobe" / "lartobe") and whose postcode was mistyped or left out. Weak, with a
    /// cap of its own ([`HOUSE_CITY_BLOCK_MAX`]): one house number and initial in a large city
    /// can still be many streets
    HouseNumberCity,
    /// birth date + city ("1937-04-11|zetland"): a name mistyped beyond its code or missing,
    /// with the postcode and the street mistyped too (blocks stay small: one birth date among
    /// the people of one town). Last in the order, so the hashes of the kinds before it did not
    /// change when it came
    BirthDateCity,
}

/// Largest block of the name-part key ([`KeyKind::NamePartPostcode`]): a name part and a
/// postcode are a weak key, worth pairing only among few records (≤ 1,176 pairs a block).
pub const NAME_PLACE_BLOCK_MAX: usize = 49;

/// Largest block of the house number + city key ([`KeyKind::HouseNumberCity`]): one house
/// number is shared by many streets of a town, so only a small town's are worth pairing.
pub const HOUSE_CITY_BLOCK_MAX: usize = 10;

/// Largest block of the surname + city key ([`KeyKind::LastNameCity`]): a city holds more
/// people than a postcode, so fewer of one surname are worth pairing (≤ 190 pairs a block).
pub const NAME_CITY_BLOCK_MAX: usize = 20;

impl KeyKind {
    pub const ALL: [KeyKind; 18] = [
        KeyKind::Email,
        KeyKind::EmailLocal,
        KeyKind::Phone,
        KeyKind::PhoneLast7LastInitial,
        KeyKind::NationalId,
        KeyKind::ExternalId,
        KeyKind::AnonymousId,
        KeyKind::LastNameBirthYear,
        KeyKind::PhoneticNameBirthDate,
        KeyKind::PhoneticFullName,
        KeyKind::FirstPrefixPostcode,
        KeyKind::BirthDatePostcode,
        KeyKind::HouseNumberPostcode,
        KeyKind::Street,
        KeyKind::NamePartPostcode,
        KeyKind::LastNameCity,
        KeyKind::HouseNumberCity,
        KeyKind::BirthDateCity,
    ];

    /// The identifier kinds checked for hub values by default.
    pub const IDENTIFIERS: [KeyKind; 5] = [
        KeyKind::Email,
        KeyKind::Phone,
        KeyKind::NationalId,
        KeyKind::ExternalId,
        KeyKind::AnonymousId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Email => "email",
            KeyKind::EmailLocal => "email_local",
            KeyKind::Phone => "phone",
            KeyKind::PhoneLast7LastInitial => "phone_last7_last_initial",
            KeyKind::NationalId => "national_id",
            KeyKind::ExternalId => "external_id",
            KeyKind::AnonymousId => "anonymous_id",
            KeyKind::LastNameBirthYear => "last_name_birth_year",
            KeyKind::PhoneticNameBirthDate => "phonetic_name_birth_date",
            KeyKind::PhoneticFullName => "phonetic_full_name",
            KeyKind::FirstPrefixPostcode => "first_prefix_postcode",
            KeyKind::BirthDatePostcode => "birth_date_postcode",
            KeyKind::HouseNumberPostcode => "house_number_postcode",
            KeyKind::Street => "street",
            KeyKind::NamePartPostcode => "name_part_postcode",
            KeyKind::LastNameCity => "last_name_city",
            KeyKind::HouseNumberCity => "house_number_city",
            KeyKind::BirthDateCity => "birth_date_city",
        }
    }

    pub fn from_name(s: &str) -> Option<KeyKind> {
        KeyKind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The cap of a weak key's blocks (a name part and a place), whatever `cdp.max_block_size`
    /// says; None for the others.
    pub fn own_cap(self) -> Option<usize> {
        match self {
            KeyKind::NamePartPostcode => Some(NAME_PLACE_BLOCK_MAX),
            KeyKind::LastNameCity => Some(NAME_CITY_BLOCK_MAX),
            KeyKind::HouseNumberCity => Some(HOUSE_CITY_BLOCK_MAX),
            _ => None,
        }
    }

    /// The largest block of this kind that is paired: `max_block` (`cdp.max_block_size`), or
    /// less for the weak keys.
    pub fn block_cap(self, max_block: usize) -> usize {
        self.own_cap().map_or(max_block, |c| c.min(max_block))
    }

    /// Whether a block of `n` records of this kind, not paired, is reported as skipped: when
    /// `cdp.max_block_size` is what left it out. A weak key's block over its own cap is a common
    /// name, no placeholder or cap set too low.
    pub fn reported_when_skipped(self, n: usize, max_block: usize) -> bool {
        n > max_block && self.own_cap().is_none_or(|c| c > max_block)
    }

    /// Whether this kind is an identifier value (candidate hub).
    pub fn is_identifier(self) -> bool {
        KeyKind::IDENTIFIERS.contains(&self)
    }

    /// Keys derived from the same value as this identifier key: dropped with it when the value
    /// is a hub.
    pub fn derived(self) -> &'static [KeyKind] {
        match self {
            KeyKind::Email => &[KeyKind::EmailLocal],
            KeyKind::Phone => &[KeyKind::PhoneLast7LastInitial],
            _ => &[],
        }
    }
}

/// Turkish-aware phonetic code of a folded (lowercase ASCII) name; "" when it has no letter.
///
/// A simplified Soundex tuned to how Turkish names are misspelt and transliterated:
/// 1. only a–z are kept (the normaliser already folded ç ş ğ ı ö ü to c s g i o u), spaces
///    dropped ("ayse nur" → "aysenur");
/// 2. transliterations unified: "ch"/"dj"/"j" → c (ç, c: "jem"="cem", "chelik"="celik"),
///    "sh" → s (ş: "shahin"="sahin"), "ph" → f, "th" → t, "w" → v, "q" → k, "x" → ks;
/// 3. "h" after the first letter is dropped (silent or elided: "mehmet"="memet",
///    "ahmet"="amet");
/// 4. the first letter is kept as it is; then letters are mapped to classes
///    b p → 1, f v → 2, c → 3, s z → 4, k g → 5, d t → 6 (final devoicing: "ahmed"="ahmet"),
///    l → 7, m n → 8, r → 9; vowels and y only separate (so "ayse"="aise"="aysa"); adjacent
///    equal classes collapse (including with the first letter's class);
/// 5. truncated to 6 characters (longer than Soundex's 4, to keep blocks small).
///
/// Unlike plain Soundex, c (ç/j) and s/z, and k/g, are separate classes: Turkish spells by sound,
/// so those letters are not interchangeable, and merging them makes blocks needlessly large.
pub fn phonetic(name: &str) -> String {
    let mut s: Vec<u8> = Vec::with_capacity(name.len());
    let b: Vec<u8> = name.bytes().filter(u8::is_ascii_lowercase).collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match (c, next) {
            (b'c', Some(b'h')) | (b'd', Some(b'j')) => {
                s.push(b'c');
                i += 2;
                continue;
            }
            (b's', Some(b'h')) => {
                s.push(b's');
                i += 2;
                continue;
            }
            (b'p', Some(b'h')) => {
                s.push(b'f');
                i += 2;
                continue;
            }
            (b't', Some(b'h')) => {
                s.push(b't');
                i += 2;
                continue;
            }
            _ => {}
        }
        match c {
            b'j' => s.push(b'c'),
            b'w' => s.push(b'v'),
            b'q' => s.push(b'k'),
            b'x' => s.extend_from_slice(b"ks"),
            b'h' if !s.is_empty() => {}
            _ => s.push(c),
        }
        i += 1;
    }
    let class = |c: u8| -> u8 {
        match c {
            b'b' | b'p' => b'1',
            b'f' | b'v' => b'2',
            b'c' => b'3',
            b's' | b'z' => b'4',
            b'k' | b'g' => b'5',
            b'd' | b't' => b'6',
            b'l' => b'7',
            b'm' | b'n' => b'8',
            b'r' => b'9',
            _ => 0, // vowels, y, h (first letter only)
        }
    };
    let Some(&first) = s.first() else {
        return String::new();
    };
    let mut out = String::with_capacity(6);
    out.push(first as char);
    let mut last = class(first);
    for &c in &s[1..] {
        let k = class(c);
        if k == 0 {
            last = 0;
            continue;
        }
        if k != last {
            out.push(k as char);
            if out.len() == 6 {
                break;
            }
        }
        last = k;
    }
    out
}

fn val(rec: &Rec, a: Attr) -> Option<&str> {
    rec.values[a.index()]
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The blocking keys of one record, in [`KeyKind`] order, without duplicates.
pub fn record_keys(rec: &Rec) -> Vec<(KeyKind, String)> {
    let mut out: Vec<(KeyKind, String)> = Vec::with_capacity(12);
    let mut push = |k: KeyKind, v: String| {
        if !v.is_empty() && !out.iter().any(|(k2, v2)| *k2 == k && *v2 == v) {
            out.push((k, v));
        }
    };
    let (first, last) = name_parts(rec);
    // first token only: middle names come and go ("ayse nur" / "ayse")
    let first_tok = first.and_then(|f| f.split_whitespace().next());
    let birth = val(rec, Attr::BirthDate).filter(|b| birth_digits(b).is_some());

    if let Some(e) = val(rec, Attr::Email) {
        let key = crate::normalise::email::match_key(e);
        let local: String = key[..key.rfind('@').unwrap_or(0)]
            .chars()
            .filter(|c| !matches!(c, '.' | '_' | '-'))
            .collect();
        push(KeyKind::Email, key);
        if local.len() >= MIN_SHARED_LOCAL {
            push(KeyKind::EmailLocal, local);
        }
    }
    if let Some(p) = val(rec, Attr::Phone) {
        push(KeyKind::Phone, p.to_string());
        let digits: Vec<u8> = p.bytes().filter(u8::is_ascii_digit).collect();
        if let (true, Some(l)) = (digits.len() >= 7, last.and_then(|l| l.chars().next())) {
            let mut v = String::from_utf8_lossy(&digits[digits.len() - 7..]).into_owned();
            v.push('|');
            v.push(l);
            push(KeyKind::PhoneLast7LastInitial, v);
        }
    }
    if let Some(v) = val(rec, Attr::NationalId) {
        push(KeyKind::NationalId, v.to_string());
    }
    if let Some(v) = val(rec, Attr::ExternalId) {
        push(KeyKind::ExternalId, v.to_string());
    }
    if let Some(v) = val(rec, Attr::AnonymousId) {
        push(KeyKind::AnonymousId, v.to_string());
    }
    let initial = |s: Option<&str>| s.and_then(|x| x.chars().next());
    if let (Some(l), Some(b), Some(fi)) = (last, birth, initial(first_tok)) {
        push(KeyKind::LastNameBirthYear, format!("{l}|{}|{fi}", &b[..4]));
    }
    let pf = first_tok.map(phonetic).filter(|p| !p.is_empty());
    let pl = last.map(phonetic).filter(|p| !p.is_empty());
    if let Some(b) = birth {
        for p in [&pf, &pl].into_iter().flatten() {
            push(KeyKind::PhoneticNameBirthDate, format!("{p}|{b}"));
        }
    }
    if let (Some(a), Some(b), Some(city)) = (&pf, &pl, val(rec, Attr::City)) {
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        push(KeyKind::PhoneticFullName, format!("{x} {y}|{city}"));
    }
    if let (Some(f), Some(li), Some(pc)) = (first_tok, initial(last), val(rec, Attr::Postcode)) {
        let prefix: String = f.chars().take(3).collect();
        push(KeyKind::FirstPrefixPostcode, format!("{prefix}|{li}|{pc}"));
    }
    if let (Some(b), Some(pc)) = (birth, val(rec, Attr::Postcode)) {
        push(KeyKind::BirthDatePostcode, format!("{b}|{pc}"));
    }
    let street = val(rec, Attr::Street);
    let house = street.and_then(house_number);
    if let (Some(n), Some(pc)) = (house, val(rec, Attr::Postcode)) {
        push(KeyKind::HouseNumberPostcode, format!("{n}|{pc}"));
    }
    if let (Some(st), Some(_)) = (street, house) {
        push(KeyKind::Street, st.to_string());
    }
    let (kf, kl) = (first_tok.and_then(place_key_part), last.and_then(place_key_part));
    if let Some(pc) = val(rec, Attr::Postcode) {
        for p in [&kf, &kl].into_iter().flatten() {
            push(KeyKind::NamePartPostcode, format!("{p}|{pc}"));
        }
    }
    if let (Some(l), Some(city)) = (&kl, val(rec, Attr::City)) {
        push(KeyKind::LastNameCity, format!("{l}|{city}"));
    }
    // the street name's first letter: its first word with a letter ("139 grevillea road" → 'g')
    let initial_of_street = street
        .and_then(|st| st.split_whitespace().find(|w| w.chars().any(char::is_alphabetic)))
        .and_then(|w| w.chars().find(|c| c.is_alphabetic()));
    if let (Some(n), Some(w), Some(city)) = (house, initial_of_street, val(rec, Attr::City)) {
        push(KeyKind::HouseNumberCity, format!("{n}|{w}|{city}"));
    }
    if let (Some(b), Some(city)) = (birth, val(rec, Attr::City)) {
        push(KeyKind::BirthDateCity, format!("{b}|{city}"));
    }
    out
}

/// A name part as the weak name + place keys hold it: its phonetic code, or where the code is a
/// single letter ("bui" → "b", "li" → "l": a short name's code says little) the folded name
/// itself; None for a bare initial ("a|34710" is everybody's).
fn place_key_part(part: &str) -> Option<String> {
    let code = phonetic(part);
    if code.len() > 1 {
        return Some(code);
    }
    let letters: String = part.chars().filter(|c| c.is_alphabetic()).collect();
    (letters.chars().count() > 1).then_some(letters)
}

/// Result of [`candidate_pairs`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Blocking {
    /// Distinct candidate pairs (a < b), sorted.
    pub pairs: Vec<(u32, u32)>,
    /// Blocks over the cap: (kind, key value, members), largest first.
    pub skipped_blocks: Vec<(KeyKind, String, usize)>,
    /// Pairs generated by the blocks of each kind (a pair found through several kinds counts
    /// once for each), kinds in [`KeyKind`] order, only kinds with pairs.
    pub pairs_by_kind: Vec<(KeyKind, usize)>,
}

const KIND_SHIFT: u32 = 56;
const HASH_MASK: u64 = (1 << KIND_SHIFT) - 1;

/// Hash of a key with its kind in the top 8 bits (so the kind of a block is known without
/// looking the key up). Two different keys colliding in the other 56 bits merge two blocks,
/// which adds candidate pairs that scoring then rejects (never a wrong match), or leave a block
/// out with a hub or an over-cap block of the same hash (a few pairs missed). Also the
/// stored form in cdp.record_keys: one bigint index builds several times faster than a
/// (text, text) one at millions of keys.
pub fn key_hash(k: KeyKind, v: &str) -> u64 {
    (hash64(k as u8, v.as_bytes()) & HASH_MASK) | ((k as u64) << KIND_SHIFT)
}

/// The kind of a key hash (its top 8 bits).
pub fn kind_of(h: u64) -> KeyKind {
    KeyKind::ALL[(h >> KIND_SHIFT) as usize]
}

/// The key value with hash `h` among a record's keys (for reports).
pub fn find_value(keys: &[(KeyKind, String)], h: u64) -> String {
    keys.iter()
        .find(|(k, v)| key_hash(*k, v) == h)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A record's keys as their hashes ([`key_hash`]), in the same order: what blocking, the
/// stored keys and the incremental look-ups work with.
pub fn hash_keys(keys: &[(KeyKind, String)]) -> Vec<u64> {
    keys.iter().map(|(k, v)| key_hash(*k, v)).collect()
}

/// (key hash, record) for every hashed key not in `excluded`, sorted and deduplicated.
fn hashed_entries(hashed: &[Vec<u64>], excluded: &HashSet<u64>) -> Vec<(u64, u32)> {
    let total: usize = hashed.iter().map(Vec::len).sum();
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(total);
    for (i, hs) in hashed.iter().enumerate() {
        // the set is small (hub values, blocks over their cap), a lookup per key is cheap enough
        entries.extend(hs.iter().filter(|h| excluded.is_empty() || !excluded.contains(h)).map(|&h| (h, i as u32)));
    }
    entries.sort_unstable();
    entries.dedup();
    entries
}

/// Runs of equal hash in sorted entries: (start, end).
fn runs(entries: &[(u64, u32)]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= entries.len() {
            return None;
        }
        let h = entries[start].0;
        let mut end = start + 1;
        while end < entries.len() && entries[end].0 == h {
            end += 1;
        }
        let r = (start, end);
        start = end;
        Some(r)
    })
}

/// Candidate pairs: all pairs within each block of 2..=`max_block` records sharing a key (not in
/// `excluded`), deduplicated across keys. Memory and time are linear in the number of keys plus
/// the number of pairs produced, and the cap bounds pairs per block to max_block²/2.
pub fn candidate_pairs(
    keys: &[Vec<(KeyKind, String)>],
    max_block: usize,
    excluded: &HashSet<(KeyKind, String)>,
) -> Blocking {
    let hashed: Vec<Vec<u64>> = keys.iter().map(|ks| hash_keys(ks)).collect();
    let excluded: HashSet<u64> = excluded.iter().map(|(k, v)| key_hash(*k, v)).collect();
    candidate_pairs_hashed(&hashed, max_block, &excluded, |i, h| find_value(&keys[i], h))
}

/// [`candidate_pairs`] over keys already hashed ([`hash_keys`]), which is all blocking needs:
/// a run drops the key texts before it pairs. `excluded`: hashes of keys left out; `value_of`
/// (record index, hash) gives the text of a reported block's key.
pub fn candidate_pairs_hashed(
    hashed: &[Vec<u64>],
    max_block: usize,
    excluded: &HashSet<u64>,
    value_of: impl Fn(usize, u64) -> String,
) -> Blocking {
    let entries = hashed_entries(hashed, excluded);
    // Two passes over the blocks: the first counts the pairs and notes the blocks over their
    // cap, the second fills a vector of exactly that many pairs (with repeats), sorted and
    // deduplicated in place, which the caller keeps (at 1M records, growing it and a second
    // vector for the result were 170 MB at the run's peak).
    let in_cap = |s: usize, e: usize| e - s >= 2 && e - s <= kind_of(entries[s].0).block_cap(max_block);
    let mut by_kind = [0usize; KeyKind::ALL.len()];
    let mut skipped = Vec::new();
    for (s, e) in runs(&entries) {
        let (n, h) = (e - s, entries[s].0);
        if in_cap(s, e) {
            by_kind[(h >> KIND_SHIFT) as usize] += n * (n - 1) / 2;
        } else if n >= 2 && kind_of(h).reported_when_skipped(n, max_block) {
            let first = entries[s].1 as usize;
            skipped.push((kind_of(h), value_of(first, h), n));
        }
    }
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(by_kind.iter().sum());
    for (s, e) in runs(&entries).filter(|&(s, e)| in_cap(s, e)) {
        let block = &entries[s..e];
        for (x, &(_, a)) in block.iter().enumerate() {
            for &(_, b) in &block[x + 1..] {
                // members are sorted, so a < b
                pairs.push((a, b));
            }
        }
    }
    drop(entries);
    // (a, b) order, compared as one 64-bit number
    pairs.sort_unstable_by_key(|&(a, b)| (u64::from(a) << 32) | u64::from(b));
    pairs.dedup();
    pairs.shrink_to_fit();
    skipped.sort_by(|a: &(KeyKind, String, usize), b| {
        b.2.cmp(&a.2)
            .then(a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    Blocking {
        pairs,
        skipped_blocks: skipped,
        pairs_by_kind: KeyKind::ALL
            .iter()
            .zip(by_kind)
            .filter(|(_, c)| *c > 0)
            .map(|(k, c)| (*k, c))
            .collect(),
    }
}

/// Identifier values of the given kinds held by at least `min_count` records: (kind, value,
/// records), most shared first. Such values (a placeholder that slipped through, a shop's or a
/// call centre's phone, a shared family tablet's device id at scale) identify nobody. Counted
/// on the records' key hashes ([`hash_keys`]); `value_of(i, h)` gives the value of the key with
/// hash `h` of record `i`, for the few values found.
pub fn hub_values(
    hashed: &[Vec<u64>],
    kinds: &[KeyKind],
    min_count: usize,
    value_of: impl Fn(usize, u64) -> String,
) -> Vec<(KeyKind, String, usize)> {
    let mut entries: Vec<(u64, u32)> = Vec::new();
    for (i, hs) in hashed.iter().enumerate() {
        entries.extend(hs.iter().filter(|&&h| kinds.contains(&kind_of(h))).map(|&h| (h, i as u32)));
    }
    entries.sort_unstable();
    entries.dedup();
    let mut out: Vec<(KeyKind, String, usize)> = runs(&entries)
        .filter(|(s, e)| e - s >= min_count.max(2))
        .map(|(s, e)| {
            let (h, first) = entries[s];
            (kind_of(h), value_of(first as usize, h), e - s)
        })
        .collect();
    out.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(Attr, &str)]) -> Rec {
        let mut r = Rec::new(1);
        for &(a, v) in pairs {
            r = r.with(a, v);
        }
        r
    }

    #[test]
    fn phonetic_codes() {
        assert_eq!(phonetic("mehmet"), phonetic("memet"));
        assert_eq!(phonetic("mehmet"), phonetic("mehmed"));
        assert_eq!(phonetic("ayse"), phonetic("aise"));
        assert_eq!(phonetic("ayse"), phonetic("aysa"));
        assert_eq!(phonetic("cem"), phonetic("jem"));
        assert_eq!(phonetic("celik"), phonetic("chelik"));
        assert_eq!(phonetic("sahin"), phonetic("shahin"));
        assert_eq!(phonetic("yilmaz"), phonetic("yilmas"));
        assert_eq!(phonetic("ahmet"), phonetic("ahmed"));
        assert_ne!(phonetic("kaya"), phonetic("saya"));
        assert_ne!(phonetic("yilmaz"), phonetic("demir"));
        assert_eq!(phonetic("mehmet"), "m86");
        assert_eq!(phonetic(""), "");
        assert_eq!(phonetic("123"), "");
        assert!(phonetic("abdurrahmanoglu").len() <= 6);
        for k in KeyKind::ALL {
            assert_eq!(KeyKind::from_name(k.name()), Some(k));
            assert_eq!(KeyKind::ALL[k as usize], k);
        }
    }

    #[test]
    fn keys_of_a_record() {
        let r = rec(&[
            (Attr::FirstName, "ayse"),
            (Attr::LastName, "yilmaz"),
            (Attr::Email, "ayse.yilmaz+shop@gmail.com"),
            (Attr::Phone, "+905321234567"),
            (Attr::BirthDate, "1985-03-12"),
            (Attr::Postcode, "34710"),
        ]);
        let k = record_keys(&r);
        let get = |kind: KeyKind| -> Vec<&str> {
            k.iter()
                .filter(|(x, _)| *x == kind)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(get(KeyKind::Email), ["ayseyilmaz@gmail.com"]);
        assert_eq!(get(KeyKind::EmailLocal), ["ayseyilmaz"]);
        assert_eq!(get(KeyKind::Phone), ["+905321234567"]);
        assert_eq!(get(KeyKind::PhoneLast7LastInitial), ["1234567|y"]);
        assert_eq!(get(KeyKind::LastNameBirthYear), ["yilmaz|1985|a"]);
        assert_eq!(
            get(KeyKind::PhoneticNameBirthDate),
            [
                format!("{}|1985-03-12", phonetic("ayse")),
                format!("{}|1985-03-12", phonetic("yilmaz"))
            ]
        );
        assert_eq!(get(KeyKind::FirstPrefixPostcode), ["ays|y|34710"]);
        assert_eq!(
            get(KeyKind::NamePartPostcode),
            [format!("{}|34710", phonetic("ayse")), format!("{}|34710", phonetic("yilmaz"))]
        );
        assert!(get(KeyKind::HouseNumberPostcode).is_empty()); // no street
        let addressed = |street: &str, pc: &str| {
            record_keys(&rec(&[(Attr::LastName, "tan"), (Attr::Street, street), (Attr::Postcode, pc)]))
                .into_iter()
                .filter(|(x, _)| *x == KeyKind::HouseNumberPostcode)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        // a mistyped street name keeps the address's key; another number or postcode does not
        assert_eq!(addressed("133 swanston road", "2215"), ["133|2215"]);
        assert_eq!(addressed("133 swanstn rd", "2215"), ["133|2215"]);
        assert_eq!(addressed("bagdat caddesi no 12 d 4", "34710"), ["12|34710"]);
        assert_ne!(addressed("134 swanston road", "2215"), ["133|2215"]);
        assert!(addressed("swanston road", "2215").is_empty());
        // the street alone, whatever the city says; not without a house number
        let street = |st: &str, city: &str| -> Vec<_> {
            record_keys(&rec(&[(Attr::Street, st), (Attr::City, city)])).into_iter().filter(|(k, _)| *k == KeyKind::Street).collect()
        };
        assert_eq!(street("133 swanston road", "altona"), [(KeyKind::Street, "133 swanston road".to_string())]);
        assert_eq!(street("133 swanston road", "altonna"), street("133 swanston road", "altona"));
        assert!(street("swanston road", "altona").is_empty());
        assert!(get(KeyKind::PhoneticFullName).is_empty()); // no city
                                                            // deterministic and in kind order
        assert_eq!(k, record_keys(&r));
        assert!(k.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn swapped_names_share_keys() {
        let a = record_keys(&rec(&[
            (Attr::FirstName, "mehmet"),
            (Attr::LastName, "kaya"),
            (Attr::BirthDate, "1970-01-02"),
            (Attr::City, "ankara"),
        ]));
        let b = record_keys(&rec(&[
            (Attr::FirstName, "kaya"),
            (Attr::LastName, "mehmet"),
            (Attr::BirthDate, "1970-01-02"),
            (Attr::City, "ankara"),
        ]));
        let full = |k: &[(KeyKind, String)]| {
            k.iter()
                .find(|(x, _)| *x == KeyKind::PhoneticFullName)
                .cloned()
                .unwrap()
        };
        assert_eq!(full(&a), full(&b));
        let shared: Vec<_> = a.iter().filter(|x| b.contains(x)).collect();
        assert!(shared
            .iter()
            .any(|(k, _)| *k == KeyKind::PhoneticNameBirthDate));
        // the same phonetic code for first and last gives one key, not two
        let same = record_keys(&rec(&[
            (Attr::FirstName, "kaya"),
            (Attr::LastName, "kaya"),
            (Attr::BirthDate, "1970-01-02"),
        ]));
        assert_eq!(
            same.iter()
                .filter(|(k, _)| *k == KeyKind::PhoneticNameBirthDate)
                .count(),
            1
        );
    }

    #[test]
    fn a_kept_name_part_meets_its_record_in_one_postcode() {
        let shared = |a: &[(Attr, &str)], b: &[(Attr, &str)]| -> Vec<KeyKind> {
            let (ka, kb) = (record_keys(&rec(a)), record_keys(&rec(b)));
            ka.iter().filter(|x| kb.contains(x)).map(|(k, _)| *k).collect()
        };
        use Attr::{BirthDate as B, City as C, FirstName as F, LastName as L, Postcode as P, Street as S};
        // swapped, one part mistyped beyond its code, another birth year, another house number
        assert_eq!(
            shared(
                &[(F, "marie"), (L, "woods"), (B, "1931-01-09"), (S, "16 high terrace"), (C, "altona"), (P, "2796")],
                &[(F, "woocs"), (L, "marie"), (B, "1921-01-09"), (S, "228 high terrrace"), (C, "altona"), (P, "2796")]
            ),
            [KeyKind::NamePartPostcode]
        );
        // a lost first name and birth date, another house number
        assert_eq!(
            shared(&[(L, "allen"), (S, "211 burwood streey"), (P, "3554")], &[(F, "thomas"), (L, "allen"), (B, "1993-07-05"), (S, "55 burwood street"), (P, "3554")]),
            [KeyKind::NamePartPostcode]
        );
        // a bare initial is nobody's key
        assert!(shared(&[(F, "j"), (P, "2715")], &[(F, "jane"), (L, "jones"), (P, "2715")]).is_empty());
        // without a postcode: the surname in one town, the first name mistyped beyond its code,
        // another birth year and house number
        assert_eq!(
            shared(
                &[(F, "jessica"), (L, "fox"), (B, "1950-01-17"), (S, "150 eucalypt parade"), (P, "2909"), (C, "mentone")],
                &[(F, "jessika"), (L, "fox"), (B, "1940-01-17"), (S, "11 eucalypt parade"), (C, "mentone")]
            ),
            [KeyKind::LastNameCity]
        );
        assert!(shared(&[(L, "fox"), (C, "mentone")], &[(L, "fox"), (C, "toorak")]).is_empty());
        // a short surname whose code is one letter keys by the name itself, not by "b"
        assert_eq!(
            shared(&[(F, "elizabeth"), (L, "bui"), (P, "3926"), (C, "waterloo")], &[(F, "liz"), (L, "bui"), (C, "waterloo")]),
            [KeyKind::LastNameCity]
        );
        assert!(shared(&[(L, "bui"), (C, "waterloo")], &[(L, "bay"), (C, "waterloo")]).is_empty());
        // one house in one town, the street name mistyped and the postcode left out
        assert_eq!(
            shared(&[(L, "baker"), (S, "139 grevillea road"), (P, "3957"), (C, "doncaster")], &[(F, "benjamin"), (S, "139 grevilela road"), (C, "doncaster")]),
            [KeyKind::HouseNumberCity]
        );
        assert!(shared(&[(S, "139 grevillea road"), (C, "doncaster")], &[(S, "138 grevillea road"), (C, "doncaster")]).is_empty());
        // a transposition past the street's first letter, the postcode mistyped: still one house
        assert_eq!(
            shared(&[(F, "mary"), (S, "189 latrobe place"), (P, "2437"), (C, "campbelltown")], &[(F, "mray"), (S, "189 lartobe place"), (P, "24377"), (C, "campbelltown")]),
            [KeyKind::HouseNumberCity]
        );
        // one house number on two streets of one town is two houses
        assert!(shared(&[(S, "139 grevillea road"), (C, "doncaster")], &[(S, "139 acacia road"), (C, "doncaster")]).is_empty());
        // the name lost, the house number and the postcode mistyped: the birth date in one town
        assert_eq!(
            shared(
                &[(F, "michelle"), (L, "turner"), (B, "1937-04-11"), (S, "114 valley avenue"), (P, "3459"), (C, "zetland")],
                &[(B, "1937-04-11"), (S, "1114 valley avenue"), (P, "3359"), (C, "zetland")]
            ),
            [KeyKind::BirthDateCity]
        );
        assert!(shared(&[(B, "1937-04-11"), (C, "zetland")], &[(B, "1937-04-11"), (C, "waterloo")]).is_empty());
        assert!(shared(&[(B, "1937-04-11"), (C, "zetland")], &[(B, "1937-11-04"), (C, "zetland")]).is_empty());
    }

    #[test]
    fn name_part_blocks_are_capped_below_max_block() {
        let cap = NAME_PLACE_BLOCK_MAX;
        let keys = |n: usize, kind: KeyKind| -> Vec<Vec<(KeyKind, String)>> { (0..n).map(|_| vec![k(kind, "s53|2796")]).collect() };
        let b = candidate_pairs(&keys(cap, KeyKind::NamePartPostcode), 500, &HashSet::new());
        assert_eq!(b.pairs.len(), cap * (cap - 1) / 2);
        // one more: not paired, and not reported (a common name, no placeholder)
        let b = candidate_pairs(&keys(cap + 1, KeyKind::NamePartPostcode), 500, &HashSet::new());
        assert!(b.pairs.is_empty() && b.skipped_blocks.is_empty());
        // other kinds keep cdp.max_block_size; a smaller max_block_size applies to all, reported
        assert_eq!(candidate_pairs(&keys(cap + 1, KeyKind::BirthDatePostcode), 500, &HashSet::new()).pairs.len(), (cap + 1) * cap / 2);
        let b = candidate_pairs(&keys(cap, KeyKind::NamePartPostcode), 10, &HashSet::new());
        assert!(b.pairs.is_empty());
        assert_eq!(b.skipped_blocks.len(), 1);
        assert_eq!(KeyKind::NamePartPostcode.block_cap(10), 10);
        // the surname + city key has a smaller cap of its own, not reported either
        let city = NAME_CITY_BLOCK_MAX;
        assert_eq!(candidate_pairs(&keys(city, KeyKind::LastNameCity), 500, &HashSet::new()).pairs.len(), city * (city - 1) / 2);
        let b = candidate_pairs(&keys(city + 1, KeyKind::LastNameCity), 500, &HashSet::new());
        assert!(b.pairs.is_empty() && b.skipped_blocks.is_empty());
        let b = candidate_pairs(&keys(600, KeyKind::LastNameCity), 500, &HashSet::new());
        assert!(b.pairs.is_empty() && b.skipped_blocks.is_empty());
        assert_eq!(KeyKind::HouseNumberCity.block_cap(500), HOUSE_CITY_BLOCK_MAX);
    }

    fn k(kind: KeyKind, v: &str) -> (KeyKind, String) {
        (kind, v.to_string())
    }

    #[test]
    fn blocking_dedups_and_caps() {
        // records 0,1,2 share an email; 0,1 also share a phone (pair (0,1) found twice);
        // records 3..=7 share a phone: a block of 5 over the cap of 4
        let mut keys = vec![
            vec![k(KeyKind::Email, "a@x.com"), k(KeyKind::Phone, "+901")],
            vec![k(KeyKind::Email, "a@x.com"), k(KeyKind::Phone, "+901")],
            vec![k(KeyKind::Email, "a@x.com")],
        ];
        for _ in 3..8 {
            keys.push(vec![k(KeyKind::Phone, "+909")]);
        }
        keys.push(vec![]);
        let b = candidate_pairs(&keys, 4, &HashSet::new());
        assert_eq!(b.pairs, vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(
            b.skipped_blocks,
            vec![(KeyKind::Phone, "+909".to_string(), 5)]
        );
        assert_eq!(
            b.pairs_by_kind,
            vec![(KeyKind::Email, 3), (KeyKind::Phone, 1)]
        );
        // with a bigger cap the block is paired
        let b = candidate_pairs(&keys, 5, &HashSet::new());
        assert_eq!(b.pairs.len(), 3 + 10);
        assert!(b.skipped_blocks.is_empty());
        // an excluded key makes no pairs
        let ex: HashSet<_> = [k(KeyKind::Email, "a@x.com")].into_iter().collect();
        let b = candidate_pairs(&keys, 4, &ex);
        assert_eq!(b.pairs, vec![(0, 1)]);
    }

    #[test]
    fn hubs_detected() {
        let mut keys = vec![];
        for i in 0..30 {
            let mut v = vec![
                k(KeyKind::Phone, "+902120000000"),
                k(KeyKind::Email, &format!("p{i}@x.com")),
            ];
            if i < 3 {
                v.push(k(KeyKind::NationalId, "10000000146"));
            }
            v.push(k(KeyKind::LastNameBirthYear, "yilmaz|1985"));
            keys.push(v);
        }
        let hashed: Vec<Vec<u64>> = keys.iter().map(|ks| hash_keys(ks)).collect();
        let hubs = hub_values(&hashed, &KeyKind::IDENTIFIERS, 10, |i, h| find_value(&keys[i], h));
        // name keys are not identifiers: never hubs, however common
        assert_eq!(
            hubs,
            vec![(KeyKind::Phone, "+902120000000".to_string(), 30)]
        );
        let hubs = hub_values(&hashed, &KeyKind::IDENTIFIERS, 3, |i, h| find_value(&keys[i], h));
        assert_eq!(hubs.len(), 2);
        assert_eq!(hubs[1], (KeyKind::NationalId, "10000000146".to_string(), 3));
    }
}

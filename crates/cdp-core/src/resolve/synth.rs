//! Deterministic synthetic customer data with known ground truth (tests and the perf test).
//!
//! People get Turkish names from skewed (shifted-Zipf) distributions, so common names are as
//! common as in real data ("mehmet", "yilmaz"), birth dates, addresses, phones, e-mails and
//! optional ids; families share a surname, a landline and an address. Each person has 1–8
//! records from web / store / call-centre / app channels, each channel carrying its own subset
//! of attributes, with typos, swapped names, initials, e-mail variants, changed contact details,
//! day/month swaps, and a shop phone typed in as a placeholder.

use std::collections::{HashMap, HashSet};

use super::strdist::SplitMix64;
use super::Rec;
use crate::normalise::Attr;

pub const SHOP_PHONE: &str = "+902120000000";

const FEMALE: &[&str] = &[
    "ayse", "fatma", "emine", "hatice", "zeynep", "elif", "meryem", "sultan", "hulya", "esra",
    "merve", "ozlem", "zehra", "leyla", "aysel", "sevgi", "hacer", "rabia", "busra", "derya",
    "ebru", "songul", "gulsen", "yasemin", "selin", "ceren", "damla", "irem", "kubra", "tugba",
    "sibel", "nurcan", "dilek", "gamze", "pinar", "seda", "asli", "burcu", "melek", "nazli",
];
const MALE: &[&str] = &[
    "mehmet", "mustafa", "ahmet", "ali", "huseyin", "hasan", "ibrahim", "ismail", "osman", "yusuf",
    "murat", "omer", "ramazan", "halil", "suleyman", "abdullah", "mahmut", "recep", "salih",
    "fatih", "kadir", "emre", "hakan", "burak", "serkan", "onur", "emin", "cem", "kemal", "orhan",
    "yasin", "can", "baris", "tolga", "volkan", "erkan", "umut", "gokhan", "sinan", "tuncay",
];
const SURNAMES: &[&str] = &[
    "yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "yildirim", "ozturk", "aydin",
    "ozdemir", "arslan", "dogan", "kilic", "aslan", "cetin", "kara", "koc", "kurt", "ozkan",
    "simsek", "polat", "ozcan", "korkmaz", "cakir", "erdogan", "yavuz", "can", "acar", "sen",
    "aktas", "guler", "yalcin", "gunes", "bozkurt", "bulut", "keskin", "unal", "turan", "gul",
    "ozer", "isik", "kaplan", "avci", "sari", "tekin", "tas", "kose", "yuksel", "ates", "aksoy",
];
const PREFIXES: &[&str] = &[
    "kara", "ak", "bey", "demir", "gok", "koca", "uzun", "yesil", "tas", "ay", "gul", "kurt",
    "sari", "er", "al", "bal", "kal", "oz", "tek", "dur",
];
const SUFFIXES: &[&str] = &[
    "oglu", "can", "er", "soy", "tas", "kaya", "yildiz", "han", "gil", "ay", "dag", "tepe", "su",
    "kan", "ok",
];
const CITIES: &[(&str, &str, f64)] = &[
    ("istanbul", "34", 0.30),
    ("ankara", "06", 0.12),
    ("izmir", "35", 0.08),
    ("bursa", "16", 0.05),
    ("antalya", "07", 0.04),
    ("adana", "01", 0.04),
    ("konya", "42", 0.04),
    ("gaziantep", "27", 0.03),
    ("kocaeli", "41", 0.03),
    ("mersin", "33", 0.03),
    ("kayseri", "38", 0.03),
    ("eskisehir", "26", 0.03),
    ("diyarbakir", "21", 0.03),
    ("samsun", "55", 0.03),
    ("trabzon", "61", 0.03),
    ("malatya", "44", 0.03),
    ("erzurum", "25", 0.02),
    ("sakarya", "54", 0.02),
    ("denizli", "20", 0.02),
];
const STREETS: &[&str] = &[
    "ataturk caddesi",
    "cumhuriyet caddesi",
    "istiklal caddesi",
    "inonu sokak",
    "gazi bulvari",
    "fevzi cakmak caddesi",
    "mimar sinan sokak",
    "yunus emre caddesi",
    "bagdat caddesi",
    "barbaros bulvari",
    "kordon boyu",
    "menderes caddesi",
    "lale sokak",
    "gul sokak",
    "zambak sokak",
    "papatya sokak",
    "okul sokak",
    "camii sokak",
    "cinar sokak",
    "pinar sokak",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.com",
    "yahoo.com",
    "outlook.com",
    "yandex.com",
];

pub struct Synth {
    pub recs: Vec<Rec>,
    /// Ground truth: person of each record.
    pub person: Vec<u32>,
}

struct Person {
    female: bool,
    first: String,
    last: String,
    birth: (u32, u32, u32),
    city: usize,
    postcode: String,
    street: String,
    mobile: String,
    landline: Option<String>,
    email: String,
    nid: Option<String>,
    loyalty: Option<String>,
    device: Option<String>,
}

/// Index drawn with weight 1/(i + shift) (shifted Zipf).
fn zipf(r: &mut SplitMix64, n: usize, shift: f64, cdf: &mut Vec<f64>) -> usize {
    if cdf.len() != n {
        cdf.clear();
        let mut acc = 0.0;
        for i in 0..n {
            acc += 1.0 / (i as f64 + shift);
            cdf.push(acc);
        }
    }
    let x = r.unit() * cdf[n - 1];
    cdf.partition_point(|&c| c <= x).min(n - 1)
}

fn digits(r: &mut SplitMix64, n: usize) -> String {
    (0..n).map(|_| (b'0' + r.below(10) as u8) as char).collect()
}

fn typo(r: &mut SplitMix64, s: &str) -> String {
    let mut b: Vec<u8> = s.bytes().collect();
    if b.len() < 2 {
        return s.to_string();
    }
    let i = 1 + r.below(b.len() as u64 - 1) as usize;
    let alphabet = b"abcdefghijklmnoprstuvyz";
    if b[i].is_ascii_digit() {
        b[i] = b'0' + ((b[i] - b'0' + 1 + r.below(8) as u8) % 10);
    } else if b[i].is_ascii_lowercase() {
        let mut c = alphabet[r.below(alphabet.len() as u64) as usize];
        if c == b[i] {
            c = if c == b'a' { b'e' } else { b'a' };
        }
        b[i] = c;
    }
    String::from_utf8(b).unwrap_or_else(|_| s.to_string())
}

/// A mailbox name from the person's name; a mailbox belongs to one person, so a taken address
/// gets a number (the way providers force it).
fn email_for(r: &mut SplitMix64, first: &str, last: &str, taken: &mut HashSet<String>) -> String {
    let local = match r.below(4) {
        0 => format!("{first}.{last}"),
        1 => format!("{first}{last}"),
        2 => format!("{first}_{last}"),
        _ => format!("{}{last}", &first[..1]),
    };
    let domain = DOMAINS[r.below(DOMAINS.len() as u64) as usize];
    let mut num = if r.unit() < 0.7 {
        r.below(10_000).to_string()
    } else {
        String::new()
    };
    loop {
        let e = format!("{local}{num}@{domain}");
        // gmail ignores dots: "a.b" and "ab" are one mailbox
        let key = crate::normalise::email::match_key(&e);
        if taken.insert(key) {
            return e;
        }
        num = r.below(100_000).to_string();
    }
}

pub fn generate(n_records: usize, seed: u64) -> Synth {
    let mut r = SplitMix64(seed);
    let mut surnames: Vec<String> = SURNAMES.iter().map(|s| s.to_string()).collect();
    for p in PREFIXES {
        for s in SUFFIXES {
            surnames.push(format!("{p}{s}"));
        }
    }
    let (mut cdf_f, mut cdf_m, mut cdf_l) = (Vec::new(), Vec::new(), Vec::new());
    let mut recs: Vec<Rec> = Vec::with_capacity(n_records + 8);
    let mut person: Vec<u32> = Vec::with_capacity(n_records + 8);
    let mut prev: Option<Person> = None;
    let mut pid = 0u32;
    let mut taken: HashSet<String> = HashSet::new();
    while recs.len() < n_records {
        let female = r.unit() < 0.5;
        let first = if female {
            FEMALE[zipf(&mut r, FEMALE.len(), 3.0, &mut cdf_f)]
        } else {
            MALE[zipf(&mut r, MALE.len(), 3.0, &mut cdf_m)]
        }
        .to_string();
        let birth = (
            1940 + r.below(67) as u32,
            1 + r.below(12) as u32,
            1 + r.below(28) as u32,
        );
        let family = prev.as_ref().filter(|_| r.unit() < 0.15);
        let p = if let Some(f) = family {
            // a family member: same surname, home, landline; own first name, birth, mobile
            Person {
                female,
                first: first.clone(),
                last: f.last.clone(),
                birth,
                city: f.city,
                postcode: f.postcode.clone(),
                street: f.street.clone(),
                mobile: format!("+905{}", digits(&mut r, 9)),
                landline: f.landline.clone(),
                email: email_for(&mut r, &first, &f.last, &mut taken),
                nid: (r.unit() < 0.4)
                    .then(|| format!("{}", 10_000_000_000 + r.below(89_999_999_999))),
                loyalty: (r.unit() < 0.3).then(|| format!("L{}", digits(&mut r, 8))),
                device: (r.unit() < 0.3).then(|| format!("dev-{:012x}", r.next_u64() >> 16)),
            }
        } else {
            let last = surnames[zipf(&mut r, surnames.len(), 5.0, &mut cdf_l)].clone();
            let x = r.unit();
            let mut acc = 0.0;
            let mut city = CITIES.len() - 1;
            for (i, c) in CITIES.iter().enumerate() {
                acc += c.2;
                if x < acc {
                    city = i;
                    break;
                }
            }
            Person {
                female,
                email: email_for(&mut r, &first, &last, &mut taken),
                first: first.clone(),
                last,
                birth,
                city,
                postcode: format!("{}{:03}", CITIES[city].1, r.below(200)),
                street: format!(
                    "{} no {}",
                    STREETS[r.below(STREETS.len() as u64) as usize],
                    1 + r.below(150)
                ),
                mobile: format!("+905{}", digits(&mut r, 9)),
                landline: (r.unit() < 0.3)
                    .then(|| format!("+902{}{}", CITIES[city].1, digits(&mut r, 7))),
                nid: (r.unit() < 0.4)
                    .then(|| format!("{}", 10_000_000_000 + r.below(89_999_999_999))),
                loyalty: (r.unit() < 0.3).then(|| format!("L{}", digits(&mut r, 8))),
                device: (r.unit() < 0.3).then(|| format!("dev-{:012x}", r.next_u64() >> 16)),
            }
        };
        let mut k = 1;
        while k < 8 && r.unit() < 0.55 {
            k += 1;
        }
        for _ in 0..k {
            let rec = record(&mut r, &p, recs.len() as i64, &mut taken);
            recs.push(rec);
            person.push(pid);
        }
        pid += 1;
        prev = Some(p);
    }
    recs.truncate(n_records);
    person.truncate(n_records);
    // shuffle (Fisher–Yates) so that a person's records are not adjacent
    for i in (1..recs.len()).rev() {
        let j = r.below(i as u64 + 1) as usize;
        recs.swap(i, j);
        person.swap(i, j);
    }
    for (i, rec) in recs.iter_mut().enumerate() {
        rec.record_id = i as i64 + 1;
    }
    Synth { recs, person }
}

fn record(r: &mut SplitMix64, p: &Person, id: i64, taken: &mut HashSet<String>) -> Rec {
    let mut rec = Rec::new(id);
    let channel = r.below(4);
    rec.source_id = channel as i32;
    rec.source_priority = [2, 1, 3, 0][channel as usize];
    rec.updated_at = 1_600_000_000 + r.below(100_000_000) as i64;
    let u = |r: &mut SplitMix64, p: f64| r.unit() < p;
    // which attributes this channel carries: (name, email, phone, birth, gender, address, ids)
    let (name_p, email_p, phone_p, birth_p, gender_p, addr_p) = match channel {
        0 => (1.0, 0.95, 0.7, 0.5, 0.5, 0.2), // web sign-up
        1 => (1.0, 0.15, 0.9, 0.2, 0.3, 0.6), // store till
        2 => (1.0, 0.2, 0.95, 0.6, 0.5, 0.5), // call centre
        _ => (0.7, 0.9, 0.4, 0.1, 0.2, 0.05), // app
    };
    if u(r, name_p) {
        let (mut f, mut l) = (p.first.clone(), p.last.clone());
        if u(r, 0.04) {
            f = typo(r, &f);
        }
        if u(r, 0.04) {
            l = typo(r, &l);
        }
        if u(r, 0.03) {
            f = f[..1].to_string();
        }
        if u(r, 0.02) {
            std::mem::swap(&mut f, &mut l);
        }
        rec = rec.with(Attr::FirstName, &f).with(Attr::LastName, &l);
    }
    if u(r, email_p) {
        let mut e = p.email.clone();
        let x = r.unit();
        if x < 0.08 {
            e = email_for(r, &p.first, &p.last, taken); // another address
        } else if x < 0.11 {
            let at = e.find('@').unwrap_or(1);
            e = format!("{}{}", typo(r, &e[..at]), &e[at..]);
        } else if x < 0.15 && e.ends_with("@gmail.com") {
            let at = e.find('@').unwrap_or(0);
            e = format!("{}{}", e[..at].replace('.', ""), &e[at..]);
        } else if x < 0.18 {
            let at = e.find('@').unwrap_or(0);
            e = format!("{}+promo{}", &e[..at], &e[at..]);
        }
        rec = rec.with(Attr::Email, &e);
    }
    if u(r, phone_p) {
        let x = r.unit();
        let ph = if channel == 1 && x < 0.01 {
            SHOP_PHONE.to_string()
        } else if x < 0.3 && p.landline.is_some() {
            p.landline.clone().unwrap_or_default()
        } else if x < 0.38 {
            format!("+905{}", digits(r, 9)) // a new number
        } else if x < 0.41 {
            format!("+{}", typo(r, &p.mobile[1..]))
        } else {
            p.mobile.clone()
        };
        rec = rec.with(Attr::Phone, &ph);
    }
    if u(r, birth_p) {
        let (y, mut m, mut d) = p.birth;
        let mut ystr = y.to_string();
        let x = r.unit();
        if x < 0.03 && d <= 12 {
            std::mem::swap(&mut m, &mut d);
        } else if x < 0.05 {
            d = if d == 28 { 27 } else { d + 1 };
        } else if x < 0.06 {
            ystr = (y + 1).to_string();
        }
        rec = rec.with(Attr::BirthDate, &format!("{ystr}-{m:02}-{d:02}"));
    }
    if u(r, gender_p) {
        // 1 % data-entry errors
        let female = if u(r, 0.01) { !p.female } else { p.female };
        rec = rec.with(Attr::Gender, if female { "f" } else { "m" });
    }
    if u(r, addr_p) {
        // 8 % an old address (moved within the city, or from another city)
        let (city, postcode, street) = if u(r, 0.08) {
            let c = if u(r, 0.5) {
                p.city
            } else {
                r.below(CITIES.len() as u64) as usize
            };
            (
                c,
                format!("{}{:03}", CITIES[c].1, r.below(200)),
                format!(
                    "{} no {}",
                    STREETS[r.below(STREETS.len() as u64) as usize],
                    1 + r.below(150)
                ),
            )
        } else {
            (p.city, p.postcode.clone(), p.street.clone())
        };
        rec = rec.with(Attr::City, CITIES[city].0);
        if u(r, 0.7) {
            rec = rec.with(Attr::Postcode, &postcode);
        }
        if u(r, 0.6) {
            rec = rec.with(Attr::Street, &street);
        }
    }
    if let Some(n) = &p.nid {
        if (channel == 2 && u(r, 0.7)) || u(r, 0.1) {
            rec = rec.with(Attr::NationalId, n);
        }
    }
    if let Some(l) = &p.loyalty {
        if (channel == 1 && u(r, 0.6)) || u(r, 0.05) {
            rec = rec.with(Attr::ExternalId, l);
        }
    }
    if let Some(d) = &p.device {
        if channel == 3 && u(r, 0.9) {
            rec = rec.with(Attr::AnonymousId, d);
        }
    }
    rec
}

/// Pairwise precision and recall of a clustering against the truth (counted through the
/// contingency table: no pair enumeration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality {
    pub precision: f64,
    pub recall: f64,
    pub predicted_pairs: u64,
    pub true_pairs: u64,
    pub correct_pairs: u64,
    pub clusters: usize,
    pub persons: usize,
}

pub fn pair_quality(component: &[u32], person: &[u32]) -> Quality {
    let c2 = |k: u64| k * k.saturating_sub(1) / 2;
    let mut cell: HashMap<(u32, u32), u64> = HashMap::new();
    let mut by_c: HashMap<u32, u64> = HashMap::new();
    let mut by_p: HashMap<u32, u64> = HashMap::new();
    for (&c, &p) in component.iter().zip(person) {
        *cell.entry((c, p)).or_insert(0) += 1;
        *by_c.entry(c).or_insert(0) += 1;
        *by_p.entry(p).or_insert(0) += 1;
    }
    let correct: u64 = cell.values().map(|&k| c2(k)).sum();
    let predicted: u64 = by_c.values().map(|&k| c2(k)).sum();
    let truth: u64 = by_p.values().map(|&k| c2(k)).sum();
    Quality {
        precision: if predicted == 0 {
            1.0
        } else {
            correct as f64 / predicted as f64
        },
        recall: if truth == 0 {
            1.0
        } else {
            correct as f64 / truth as f64
        },
        predicted_pairs: predicted,
        true_pairs: truth,
        correct_pairs: correct,
        clusters: by_c.len(),
        persons: by_p.len(),
    }
}

/// The best partition evidence allows: per person, the records connected through pairs a careful
/// person would link on their own: an exact personal identifier (e-mail, ids), or an agreeing
/// name plus an identifier (also with a typo), the birth date or the street address, or a near
/// name plus a near birth date. Pairs sharing only a name, a phone (households) or a postcode
/// cannot be linked without merging namesakes or family members; this is the recall ceiling.
pub fn oracle_components(recs: &[Rec], person: &[u32]) -> Vec<u32> {
    use super::compare::{compare, Field, Prepared};
    let prep: Vec<Prepared> = recs.iter().map(Prepared::new).collect();
    let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &p) in person.iter().enumerate() {
        by_person.entry(p).or_default().push(i);
    }
    let mut parent: Vec<usize> = (0..recs.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for members in by_person.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                let lv = compare(&prep[a], &prep[b]);
                let le = |f: Field, l: u8| lv.get(f).is_some_and(|v| v <= l);
                let name = le(Field::Name, 3);
                let linkable = le(Field::Email, 1)
                    || le(Field::NationalId, 0)
                    || le(Field::ExternalId, 0)
                    || le(Field::AnonymousId, 0)
                    || (name
                        && (le(Field::Email, 2)
                            || le(Field::Phone, 1)
                            || le(Field::NationalId, 1)
                            || le(Field::ExternalId, 1)
                            || le(Field::BirthDate, 0)
                            || le(Field::Address, 0)))
                    || (le(Field::Name, 2) && le(Field::BirthDate, 1));
                if linkable {
                    let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                    parent[ra] = rb;
                }
            }
        }
    }
    (0..recs.len())
        .map(|i| find(&mut parent, i) as u32)
        .collect()
}

//! Survivorship: the golden record of a profile, one value per attribute with its provenance.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Rec;
use crate::normalise::Attr;

/// How the value of an attribute is chosen among a profile's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// From the record of the highest-priority source.
    SourcePriority,
    /// From the most recently updated record.
    MostRecent,
    /// The value held by most records.
    MostFrequent,
    /// The longest value (e.g. "ayse" over the initial "a").
    MostComplete,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::SourcePriority => "source_priority",
            Rule::MostRecent => "most_recent",
            Rule::MostFrequent => "most_frequent",
            Rule::MostComplete => "most_complete",
        }
    }

    pub fn from_name(s: &str) -> Option<Rule> {
        [
            Rule::SourcePriority,
            Rule::MostRecent,
            Rule::MostFrequent,
            Rule::MostComplete,
        ]
        .into_iter()
        .find(|r| r.name() == s)
    }
}

/// The default rule of each attribute.
///
/// Names, birth date and gender are stable facts, so the value most sources agree on wins (a
/// typo in one channel is outvoted). E-mail, phone and address change over a life: the latest
/// one wins. Identifiers issued by a system of record (national id, external id) come from the
/// most trusted source; a device/cookie id is only useful when current.
pub fn default_rule(a: Attr) -> Rule {
    match a {
        Attr::FirstName | Attr::LastName | Attr::FullName => Rule::MostFrequent,
        Attr::BirthDate | Attr::Gender => Rule::MostFrequent,
        Attr::Email | Attr::Phone | Attr::AnonymousId => Rule::MostRecent,
        Attr::Street | Attr::City | Attr::Postcode | Attr::Region | Attr::Country => {
            Rule::MostRecent
        }
        Attr::NationalId | Attr::ExternalId => Rule::SourcePriority,
    }
}

/// [`default_rule`] for every attribute, in [`Attr::ALL`] order.
pub fn default_rules() -> [Rule; 15] {
    Attr::ALL.map(default_rule)
}

/// Tie-break order shared by every rule: higher source priority, then more recent, then the
/// smallest record id. `Greater` = `a` is preferred.
fn preference(a: &Rec, b: &Rec) -> std::cmp::Ordering {
    a.source_priority
        .cmp(&b.source_priority)
        .then(a.updated_at.cmp(&b.updated_at))
        .then(b.record_id.cmp(&a.record_id))
}

/// The golden value of each attribute with the record id it came from (`None` when no member
/// has a value). Deterministic: ties are broken by source priority, then recency, then the
/// smallest record id, whatever the order of `members`.
///
/// For name attributes, an initial ("a") never wins over a spelled-out name starting with the
/// same letter that some member has, whatever the rule: it is the same name, less complete.
pub fn golden(members: &[&Rec], rules: &[Rule; 15]) -> [Option<(String, i64)>; 15] {
    let mut out: [Option<(String, i64)>; 15] = Default::default();
    for a in Attr::ALL {
        let i = a.index();
        let mut cands: Vec<(&str, &Rec)> = members
            .iter()
            .filter_map(|r| {
                r.values[i]
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| (v, *r))
            })
            .collect();
        if cands.is_empty() {
            continue;
        }
        if a.is_name() {
            let full: Vec<char> = cands
                .iter()
                .filter(|(v, _)| v.chars().count() > 1)
                .filter_map(|(v, _)| v.chars().next())
                .collect();
            cands.retain(|(v, _)| {
                let mut cs = v.chars();
                !(matches!((cs.next(), cs.next()), (Some(c), None) if full.contains(&c)))
            });
        }
        let best = match rules[i] {
            Rule::SourcePriority => cands
                .iter()
                .max_by(|x, y| preference(x.1, y.1))
                .map(|(v, r)| (*v, *r)),
            Rule::MostRecent => cands
                .iter()
                .max_by(|x, y| {
                    x.1.updated_at
                        .cmp(&y.1.updated_at)
                        .then(x.1.source_priority.cmp(&y.1.source_priority))
                        .then(y.1.record_id.cmp(&x.1.record_id))
                })
                .map(|(v, r)| (*v, *r)),
            Rule::MostComplete => cands
                .iter()
                .max_by(|x, y| {
                    x.0.chars()
                        .count()
                        .cmp(&y.0.chars().count())
                        .then(preference(x.1, y.1))
                })
                .map(|(v, r)| (*v, *r)),
            Rule::MostFrequent => {
                // value → (count, preferred record holding it)
                let mut by_value: HashMap<&str, (usize, &Rec)> = HashMap::new();
                for &(v, r) in &cands {
                    let e = by_value.entry(v).or_insert((0, r));
                    e.0 += 1;
                    if preference(r, e.1).is_gt() {
                        e.1 = r;
                    }
                }
                by_value
                    .into_iter()
                    .max_by(|x, y| {
                        x.1 .0
                            .cmp(&y.1 .0)
                            .then(preference(x.1 .1, y.1 .1))
                            .then(y.0.cmp(x.0))
                    })
                    .map(|(v, (_, r))| (v, r))
            }
        };
        out[i] = best.map(|(v, r)| (v.to_string(), r.record_id));
    }
    out
}

/// Of several spellings of one value ("AYSE YILMAZ", "Ayşe Yılmaz", "ayse yilmaz"), the one a
/// person would rather read: mixed case over all-lower over ALL-CAPS, then the one keeping more
/// letters with diacritics; ties keep the earlier candidate (the provenance record comes first).
/// When every spelling is in one case, the chosen one is written with capitals
/// ([`proper_case`]): "ayşe kaya" and "AYŞE KAYA" read "Ayşe Kaya".
pub fn best_display(candidates: &[String]) -> Option<String> {
    let score = |s: &str| {
        let upper = s.chars().any(char::is_uppercase);
        let lower = s.chars().any(char::is_lowercase);
        let case = match (upper, lower) {
            (true, true) => 2,
            (false, true) => 1,
            _ => 0,
        };
        let marks = s.chars().filter(|c| c.is_alphabetic() && !c.is_ascii()).count().min(8);
        case * 10 + marks as i32
    };
    let mut best: Option<&String> = None;
    for c in candidates {
        if best.is_none_or(|b| score(c) > score(b)) {
            best = Some(c);
        }
    }
    best.map(|b| if score(b) >= 20 { b.clone() } else { proper_case(b) })
}

/// A value written in one case, with a capital at the start of each word (after a space, a
/// hyphen or an apostrophe) and small letters elsewhere: "mary-jane o'brien" → "Mary-Jane
/// O'Brien". Turkish dotted and dotless i are cased the Turkish way (i ↔ İ, ı ↔ I) when the value
/// shows it is Turkish (it has ş, ğ, ı or İ); a value already in mixed case is kept as it is.
pub fn proper_case(s: &str) -> String {
    let upper = s.chars().any(char::is_uppercase);
    let lower = s.chars().any(char::is_lowercase);
    if upper && lower {
        return s.to_string();
    }
    let turkish = s.chars().any(|c| matches!(c, 'ş' | 'Ş' | 'ğ' | 'Ğ' | 'ı' | 'İ'));
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            match (turkish, c) {
                (true, 'i') => out.push('İ'),
                (true, 'ı') => out.push('I'),
                _ => out.extend(c.to_uppercase()),
            }
            start = false;
        } else if c.is_alphabetic() {
            match (turkish, c) {
                (true, 'I') => out.push('ı'),
                (true, 'İ') => out.push('i'),
                _ => out.extend(c.to_lowercase()),
            }
        } else {
            out.push(c);
            start = c.is_whitespace() || c == '-' || c == '\'';
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_prefers_mixed_case_with_diacritics() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(best_display(&c(&["AYSE YILMAZ", "Ayşe Yılmaz", "ayse yilmaz"])).as_deref(), Some("Ayşe Yılmaz"));
        assert_eq!(best_display(&c(&["Ayse Yilmaz", "AYŞE YILMAZ"])).as_deref(), Some("Ayse Yilmaz"));
        assert_eq!(best_display(&c(&["Elif Aydin", "Elif Aydın"])).as_deref(), Some("Elif Aydın"));
        // ties keep the first (provenance) candidate
        assert_eq!(best_display(&c(&["Can Demir", "Can Demır"][..1])).as_deref(), Some("Can Demir"));
        assert_eq!(best_display(&[]), None);
    }

    #[test]
    fn a_value_in_one_case_is_written_with_capitals() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(best_display(&c(&["ayşe kaya", "AYSE KAYA"])).as_deref(), Some("Ayşe Kaya"));
        assert_eq!(best_display(&c(&["AYŞE KAYA"])).as_deref(), Some("Ayşe Kaya"));
        // Turkish i and ı, when the value is Turkish
        assert_eq!(proper_case("ilker yılmaz"), "İlker Yılmaz");
        assert_eq!(proper_case("IŞIL İNCE"), "Işıl İnce");
        // otherwise the usual casing
        assert_eq!(proper_case("PHILIP IVES"), "Philip Ives");
        assert_eq!(proper_case("mary-jane o'brien"), "Mary-Jane O'Brien");
        assert_eq!(proper_case("atatürk cad. no:5"), "Atatürk Cad. No:5");
        // mixed case is the writer's choice and stays
        assert_eq!(proper_case("McDonald"), "McDonald");
        assert_eq!(best_display(&c(&["van der Berg", "VAN DER BERG"])).as_deref(), Some("van der Berg"));
    }

    use super::*;

    fn r(id: i64, prio: i32, at: i64, pairs: &[(Attr, &str)]) -> Rec {
        let mut rec = Rec::new(id);
        rec.source_priority = prio;
        rec.updated_at = at;
        for &(a, v) in pairs {
            rec = rec.with(a, v);
        }
        rec
    }

    fn get(g: &[Option<(String, i64)>; 15], a: Attr) -> Option<(&str, i64)> {
        g[a.index()].as_ref().map(|(v, id)| (v.as_str(), *id))
    }

    #[test]
    fn default_rules_per_attribute() {
        assert_eq!(default_rule(Attr::FirstName), Rule::MostFrequent);
        assert_eq!(default_rule(Attr::Email), Rule::MostRecent);
        assert_eq!(default_rule(Attr::Phone), Rule::MostRecent);
        assert_eq!(default_rule(Attr::BirthDate), Rule::MostFrequent);
        assert_eq!(default_rule(Attr::Street), Rule::MostRecent);
        assert_eq!(default_rule(Attr::NationalId), Rule::SourcePriority);
        for rule in [
            Rule::SourcePriority,
            Rule::MostRecent,
            Rule::MostFrequent,
            Rule::MostComplete,
        ] {
            assert_eq!(Rule::from_name(rule.name()), Some(rule));
        }
    }

    #[test]
    fn golden_record_default_rules() {
        let a = r(
            1,
            1,
            100,
            &[
                (Attr::FirstName, "ayse"),
                (Attr::LastName, "yilmaz"),
                (Attr::Email, "old@mail.com"),
                (Attr::BirthDate, "1985-03-12"),
                (Attr::NationalId, "10000000146"),
            ],
        );
        let b = r(
            2,
            5,
            50,
            &[
                (Attr::FirstName, "ayse"),
                (Attr::LastName, "yilmas"),
                (Attr::Email, "new@mail.com"),
                (Attr::BirthDate, "1985-12-03"),
                (Attr::NationalId, "10000000164"),
            ],
        );
        let c = r(
            3,
            2,
            300,
            &[
                (Attr::FirstName, "a"),
                (Attr::LastName, "yilmaz"),
                (Attr::Email, "newest@mail.com"),
                (Attr::BirthDate, "1985-03-12"),
            ],
        );
        let g = golden(&[&a, &b, &c], &default_rules());
        assert_eq!(get(&g, Attr::FirstName), Some(("ayse", 2))); // "a" dropped; tie → priority
        assert_eq!(get(&g, Attr::LastName), Some(("yilmaz", 3))); // 2 votes; c preferred holder
        assert_eq!(get(&g, Attr::Email), Some(("newest@mail.com", 3))); // most recent
        assert_eq!(get(&g, Attr::BirthDate), Some(("1985-03-12", 3)));
        assert_eq!(get(&g, Attr::NationalId), Some(("10000000164", 2))); // highest priority
        assert_eq!(get(&g, Attr::Phone), None);
        // member order does not matter
        assert_eq!(golden(&[&c, &b, &a], &default_rules()), g);
    }

    #[test]
    fn tie_breaks_and_most_complete() {
        // same priority and time: the smallest record id wins
        let x = r(9, 1, 10, &[(Attr::City, "istanbul")]);
        let y = r(4, 1, 10, &[(Attr::City, "ankara")]);
        let g = golden(&[&x, &y], &default_rules());
        assert_eq!(get(&g, Attr::City), Some(("ankara", 4)));
        let mut rules = default_rules();
        rules[Attr::City.index()] = Rule::SourcePriority;
        assert_eq!(
            get(&golden(&[&x, &y], &rules), Attr::City),
            Some(("ankara", 4))
        );
        // MostRecent ties fall back to priority
        let p = r(5, 9, 10, &[(Attr::Phone, "+901")]);
        let q = r(1, 1, 10, &[(Attr::Phone, "+902")]);
        assert_eq!(
            get(&golden(&[&p, &q], &rules), Attr::Phone),
            Some(("+901", 5))
        );
        // MostComplete: the longest value
        rules[Attr::Street.index()] = Rule::MostComplete;
        let s1 = r(1, 9, 99, &[(Attr::Street, "ataturk cad")]);
        let s2 = r(2, 1, 1, &[(Attr::Street, "ataturk caddesi no 12")]);
        assert_eq!(
            get(&golden(&[&s1, &s2], &rules), Attr::Street),
            Some(("ataturk caddesi no 12", 2))
        );
        // MostFrequent tie between values: the value held by the preferred record
        let f1 = r(1, 1, 1, &[(Attr::Gender, "f")]);
        let f2 = r(2, 3, 1, &[(Attr::Gender, "m")]);
        assert_eq!(
            get(&golden(&[&f1, &f2], &rules), Attr::Gender),
            Some(("m", 2))
        );
        // an initial alone is kept
        let i1 = r(1, 1, 1, &[(Attr::FirstName, "a")]);
        assert_eq!(
            get(&golden(&[&i1], &rules), Attr::FirstName),
            Some(("a", 1))
        );
        assert!(golden(&[], &rules).iter().all(Option::is_none));
    }
}

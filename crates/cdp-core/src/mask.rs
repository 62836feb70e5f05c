//! Masking of personal data for analysts (`cdp.mask`, `cdp.profiles_masked`): one rule per
//! identity attribute, defined here once, so every masked view shows a value the same way.
//!
//! The rules keep what an analysis needs and drop what identifies a person: the first letter of
//! an e-mail's mailbox and domain and its top-level domain, a phone's last two digits, a name's
//! initials, a birth date's year. `hash` (a salted SHA-256, computed by the SQL side, where the
//! salt is) keeps values countable (`count(DISTINCT ...)`) without showing them.

use crate::normalise::Attr;
use crate::resolve::golden::proper_case;

/// How one attribute is shown to analysts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskRule {
    /// as it is
    Keep,
    /// not at all (NULL)
    Remove,
    /// "Ayşe Nur Yılmaz" → "A. N. Y."
    Initials,
    /// "ayse.yilmaz@gmail.com" → "a***@g***.com"
    Email,
    /// "+905321234567" → "***********67"
    LastTwoDigits,
    /// "1990-03-17" → "1990"
    Year,
    /// a salted SHA-256 of the value: the same value gives the same text, nothing else shows
    Hash,
}

impl MaskRule {
    pub const ALL: [MaskRule; 7] = [
        MaskRule::Keep,
        MaskRule::Remove,
        MaskRule::Initials,
        MaskRule::Email,
        MaskRule::LastTwoDigits,
        MaskRule::Year,
        MaskRule::Hash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MaskRule::Keep => "keep",
            MaskRule::Remove => "remove",
            MaskRule::Initials => "initials",
            MaskRule::Email => "email",
            MaskRule::LastTwoDigits => "last_two_digits",
            MaskRule::Year => "year",
            MaskRule::Hash => "hash",
        }
    }

    pub fn from_name(s: &str) -> Option<MaskRule> {
        MaskRule::ALL.iter().copied().find(|r| r.name() == s)
    }

    /// The rule of an attribute unless `cdp.set_masking` says otherwise: names to initials,
    /// e-mail and phone partly shown, birth date to its year, street, postcode and national id
    /// removed, device and external ids hashed (countable), gender and place kept.
    pub fn default_for(a: Attr) -> MaskRule {
        match a {
            Attr::FirstName | Attr::LastName | Attr::FullName => MaskRule::Initials,
            Attr::Email => MaskRule::Email,
            Attr::Phone => MaskRule::LastTwoDigits,
            Attr::BirthDate => MaskRule::Year,
            Attr::Street | Attr::Postcode | Attr::NationalId => MaskRule::Remove,
            Attr::ExternalId | Attr::AnonymousId => MaskRule::Hash,
            Attr::Gender | Attr::City | Attr::Region | Attr::Country => MaskRule::Keep,
        }
    }
}

/// The masked form of `value` under `rule`; None for [`MaskRule::Remove`] and for
/// [`MaskRule::Hash`] (the SQL side hashes, with the database's salt). A value the rule cannot
/// read (an e-mail without "@", a phone without two digits, a date without a year) is removed
/// rather than shown.
pub fn mask(rule: MaskRule, value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match rule {
        MaskRule::Keep => Some(v.to_string()),
        MaskRule::Remove | MaskRule::Hash => None,
        MaskRule::Initials => {
            // cased as a whole: one Turkish letter anywhere makes every i an İ
            let cased = proper_case(v);
            let initials: Vec<String> = cased
                .split(|c: char| c.is_whitespace() || c == '-')
                .filter_map(|w| w.chars().find(|c| c.is_alphabetic()))
                .map(|c| format!("{c}."))
                .collect();
            (!initials.is_empty()).then(|| initials.join(" "))
        }
        MaskRule::Email => {
            let (local, domain) = v.rsplit_once('@')?;
            let first = |s: &str| s.chars().next().map(|c| c.to_lowercase().collect::<String>());
            let (l, d) = (first(local)?, first(domain)?);
            let tld = domain.rsplit_once('.').map(|(_, t)| t.to_lowercase())?;
            Some(format!("{l}***@{d}***.{tld}"))
        }
        MaskRule::LastTwoDigits => {
            let digits: Vec<char> = v.chars().filter(char::is_ascii_digit).collect();
            (digits.len() >= 2).then(|| {
                let mut out = "*".repeat(digits.len() - 2);
                out.extend(&digits[digits.len() - 2..]);
                out
            })
        }
        MaskRule::Year => {
            let year: String = v.chars().take_while(char::is_ascii_digit).collect();
            (year.len() == 4).then_some(year)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_on_typical_and_awkward_values() {
        assert_eq!(mask(MaskRule::Initials, "Ayşe Nur Yılmaz").as_deref(), Some("A. N. Y."));
        // a value in one case gets its initials in capitals, Turkish i as İ
        assert_eq!(mask(MaskRule::Initials, "ismail şahin").as_deref(), Some("İ. Ş."));
        assert_eq!(mask(MaskRule::Initials, "mary-jane o'brien").as_deref(), Some("M. J. O."));
        assert_eq!(mask(MaskRule::Initials, "王 小明").as_deref(), Some("王. 小."));
        assert_eq!(mask(MaskRule::Email, "Ayse.Yilmaz+promo@Gmail.com").as_deref(), Some("a***@g***.com"));
        assert_eq!(mask(MaskRule::Email, "x@mail.example.com.tr").as_deref(), Some("x***@m***.tr"));
        assert_eq!(mask(MaskRule::Email, "not-an-email"), None);
        assert_eq!(mask(MaskRule::Email, "a@localhost"), None);
        assert_eq!(mask(MaskRule::LastTwoDigits, "+905321234567").as_deref(), Some("**********67"));
        assert_eq!(mask(MaskRule::LastTwoDigits, "7"), None);
        assert_eq!(mask(MaskRule::Year, "1990-03-17").as_deref(), Some("1990"));
        assert_eq!(mask(MaskRule::Year, "17.03.1990"), None, "only the stored form (ISO) is read");
        assert_eq!(mask(MaskRule::Keep, " İstanbul ").as_deref(), Some("İstanbul"));
        assert_eq!(mask(MaskRule::Remove, "Bağdat Caddesi 12"), None);
        assert_eq!(mask(MaskRule::Hash, "device-1"), None, "hashed by the SQL side");
        assert_eq!(mask(MaskRule::Email, "  "), None);
    }

    #[test]
    fn rules_have_names_and_every_attribute_a_default() {
        for r in MaskRule::ALL {
            assert_eq!(MaskRule::from_name(r.name()), Some(r));
        }
        assert_eq!(MaskRule::from_name("partial"), None);
        // nothing that identifies a person on its own is kept by default
        for a in [Attr::Email, Attr::Phone, Attr::Street, Attr::NationalId, Attr::FullName, Attr::ExternalId] {
            assert_ne!(MaskRule::default_for(a), MaskRule::Keep, "{a:?}");
        }
    }
}

//! Normalisation of raw identity attribute values (pure Rust, no pgrx, no PostgreSQL).
//!
//! Raw strings read from customer tables of many channels are turned into the forms used for
//! identity matching, and every value that cannot be used is reported with a short snake_case
//! reason code (see [`reason`]).
//!
//! Entry points: [`normalise_record`] for a whole record (all 15 attributes, with the name
//! derivation rules), [`normalise_value`] for one attribute, and the per-kind functions of the
//! submodules ([`email::normalise`], [`phone::to_e164`], [`name::fold`], [`date::parse`], ...).
//!
//! Rules common to every attribute, in this order:
//! 1. surrounding whitespace is trimmed; an empty value is *missing* (no issue);
//! 2. more than `Settings::max_value_length` characters → `too_long`;
//! 3. a generic placeholder ("n/a", "null", "test", "-", ...) → `placeholder`;
//! 4. the attribute's own rules.
//!
//! Nothing here panics on any input; values are only ever sliced at char boundaries.
//!
//! This module is self-contained: it uses only `std` and `unicode-normalization`, and refers to
//! its own files through `self::`/`super::` (never `crate::`), so it can be compiled standalone.
//! No `unsafe` code.

#![forbid(unsafe_code)]

pub mod address;
pub mod date;
pub mod email;
pub mod ids;
pub mod name;
pub mod phone;
pub mod placeholder;
mod words;

/// The reason codes reported in [`Issue::reason`] and returned as `Err` by the per-kind functions.
pub mod reason {
    /// Raw value longer than `Settings::max_value_length` characters.
    pub const TOO_LONG: &str = "too_long";
    /// A known dummy value ("n/a", "test@test.com", "0000000000", ...).
    pub const PLACEHOLDER: &str = "placeholder";
    /// Not recognisable as a value of the attribute's kind.
    pub const INVALID_FORMAT: &str = "invalid_format";
    /// A date that does not exist in the calendar (30.02.1990, 2001-13-01).
    pub const IMPOSSIBLE_DATE: &str = "impossible_date";
    /// A real date that cannot be a birth date (in the future, or before 1900).
    pub const IMPLAUSIBLE_DATE: &str = "implausible_date";
    /// An identifier whose check digits do not match (Turkish TC Kimlik No).
    pub const INVALID_CHECKSUM: &str = "invalid_checksum";
    /// A country (or phone country code / default country) that is not known.
    pub const UNKNOWN_COUNTRY: &str = "unknown_country";
    /// A value outside a closed vocabulary (gender).
    pub const UNKNOWN_VALUE: &str = "unknown_value";
    /// Only from [`super::normalise_value`]: the value is empty (or empty after stripping, e.g. a
    /// name that was only an honorific). In [`super::normalise_record`] this is simply a missing
    /// value and never an issue.
    pub const EMPTY: &str = "empty";

    /// Every code above.
    pub const ALL: [&str; 9] = [
        TOO_LONG,
        PLACEHOLDER,
        INVALID_FORMAT,
        IMPOSSIBLE_DATE,
        IMPLAUSIBLE_DATE,
        INVALID_CHECKSUM,
        UNKNOWN_COUNTRY,
        UNKNOWN_VALUE,
        EMPTY,
    ];
}

/// An identity attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    FirstName,
    LastName,
    FullName,
    Email,
    Phone,
    BirthDate,
    Gender,
    Street,
    City,
    Postcode,
    Region,
    Country,
    NationalId,
    ExternalId,
    AnonymousId,
}

impl Attr {
    /// Every attribute, in declaration order (`Attr::ALL[a.index()] == a`).
    pub const ALL: [Attr; 15] = [
        Attr::FirstName,
        Attr::LastName,
        Attr::FullName,
        Attr::Email,
        Attr::Phone,
        Attr::BirthDate,
        Attr::Gender,
        Attr::Street,
        Attr::City,
        Attr::Postcode,
        Attr::Region,
        Attr::Country,
        Attr::NationalId,
        Attr::ExternalId,
        Attr::AnonymousId,
    ];
    pub const COUNT: usize = 15;

    /// The snake_case name ("first_name", ...).
    pub fn name(self) -> &'static str {
        match self {
            Attr::FirstName => "first_name",
            Attr::LastName => "last_name",
            Attr::FullName => "full_name",
            Attr::Email => "email",
            Attr::Phone => "phone",
            Attr::BirthDate => "birth_date",
            Attr::Gender => "gender",
            Attr::Street => "street",
            Attr::City => "city",
            Attr::Postcode => "postcode",
            Attr::Region => "region",
            Attr::Country => "country",
            Attr::NationalId => "national_id",
            Attr::ExternalId => "external_id",
            Attr::AnonymousId => "anonymous_id",
        }
    }

    /// Inverse of [`Attr::name`]; exact snake_case names only.
    pub fn from_name(s: &str) -> Option<Attr> {
        Attr::ALL.iter().copied().find(|a| a.name() == s)
    }

    /// Position in [`Attr::ALL`] (0..15).
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for first_name, last_name and full_name.
    pub fn is_name(self) -> bool {
        matches!(self, Attr::FirstName | Attr::LastName | Attr::FullName)
    }
}

/// How an ambiguous `NN/NN/YYYY` date is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrder {
    /// day first (31/12/1990): Europe, Turkey, most of the world
    Dmy,
    /// month first (12/31/1990): United States
    Mdy,
}

/// Parameters of normalisation.
#[derive(Clone, Debug)]
pub struct Settings {
    /// ISO 3166-1 alpha-2 (case-insensitive), e.g. "TR": used for phone numbers without a country
    /// code and for national ids.
    pub default_country: String,
    /// How to read ambiguous NN/NN/YYYY dates.
    pub date_order: DateOrder,
    /// Raw values longer than this many characters (after trimming) are rejected as `too_long`.
    pub max_value_length: usize,
    /// (year, month, day): birth dates after this day are `implausible_date`.
    pub today: (i32, u32, u32),
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_country: "TR".to_string(),
            date_order: DateOrder::Dmy,
            max_value_length: 200,
            today: (2026, 1, 1),
        }
    }
}

/// A raw value that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub attr: Attr,
    /// One of [`reason::ALL`] (never `empty`).
    pub reason: &'static str,
}

/// The normalised record: `values[a.index()]` is the usable value of attribute `a`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalised {
    pub values: [Option<String>; 15],
    pub issues: Vec<Issue>,
}

impl Normalised {
    pub fn get(&self, a: Attr) -> Option<&str> {
        self.values[a.index()].as_deref()
    }

    /// The reason reported for `a`, if any.
    pub fn issue(&self, a: Attr) -> Option<&'static str> {
        self.issues.iter().find(|i| i.attr == a).map(|i| i.reason)
    }
}

/// `str::trim`, with a fast path for the usual value that starts and ends with a visible ASCII
/// character.
#[inline]
pub(crate) fn fast_trim(v: &str) -> &str {
    match (v.as_bytes().first(), v.as_bytes().last()) {
        (Some(&f), Some(&l)) if f > b' ' && f < 0x80 && l > b' ' && l < 0x80 => v,
        _ => v.trim(),
    }
}

/// Position of the first byte `b` (ASCII) in `s`: a plain loop, cheaper than `str::find`'s
/// memchr on the short strings handled here.
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// Position of the last byte `b` (ASCII) in `s`.
#[inline]
pub(crate) fn rfind_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().rposition(|c| c == b)
}

/// The space-separated words of a folded string (no empty words for the folded form, which
/// has single spaces and no leading or trailing one).
#[inline]
pub(crate) fn words(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (w, r) = match find_byte(rest, b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = r;
        Some(w)
    })
}

/// True when `v` has more than `max` chars (cheap: no counting when the byte length is small).
#[inline]
pub(crate) fn exceeds_chars(v: &str, max: usize) -> bool {
    v.len() > max && v.chars().take(max.saturating_add(1)).count() > max
}

/// Normalise one attribute value. `Ok(None)` = missing (empty, or empty after stripping:
/// never an issue); `Err(reason)` = unusable.
pub fn normalise_optional(
    attr: Attr,
    raw: &str,
    s: &Settings,
) -> Result<Option<String>, &'static str> {
    let v = fast_trim(raw);
    if v.is_empty() {
        return Ok(None);
    }
    if exceeds_chars(v, s.max_value_length) {
        return Err(reason::TOO_LONG);
    }
    if placeholder::is_generic(attr, v) {
        return Err(reason::PLACEHOLDER);
    }
    match attr {
        Attr::FirstName => name::normalise_first(v),
        Attr::LastName => name::normalise_last(v),
        Attr::FullName => name::parse_full(v).map(|o| o.map(|f| f.full)),
        Attr::Email => email::normalise(v).map(Some),
        Attr::Phone => phone::to_e164(v, &s.default_country).map(Some),
        Attr::BirthDate => date::normalise(v, s.date_order, s.today).map(Some),
        Attr::Gender => ids::gender(v).map(|g| Some(g.to_string())),
        Attr::Street => Ok(address::street(v)),
        Attr::City => Ok(address::city(v)),
        Attr::Region => Ok(address::region(v)),
        Attr::Postcode => address::postcode(v).map(Some),
        Attr::Country => address::country(v).map(|c| Some(c.to_string())),
        Attr::NationalId => ids::national_id(v, &s.default_country).map(Some),
        Attr::ExternalId | Attr::AnonymousId => ids::external_id(v).map(Some),
    }
}

/// Single-attribute entry point (same rules as [`normalise_record`], without the derivation of
/// names from one another). An empty value (or one empty after stripping) is `Err("empty")`.
pub fn normalise_value(attr: Attr, raw: &str, s: &Settings) -> Result<String, &'static str> {
    match normalise_optional(attr, raw, s) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(reason::EMPTY),
        Err(e) => Err(e),
    }
}

/// Normalise a whole record. `raw[i]` is the raw text for `Attr::ALL[i]` (None = column not
/// mapped or SQL NULL).
///
/// Besides the per-attribute rules: when first_name and last_name both end up without a value and
/// full_name has one, they are derived from it (first token / last token, or the two sides of a
/// "Last, First" full name); when full_name has no value and both first_name and last_name do,
/// full_name = "first last". Issues about the raw columns are kept either way.
pub fn normalise_record(raw: &[Option<&str>; 15], s: &Settings) -> Normalised {
    let mut out = Normalised::default();
    let mut full_parts: Option<name::FullName> = None;
    for (i, r) in raw.iter().enumerate() {
        let Some(r) = r else { continue };
        let attr = Attr::ALL[i];
        let res = if attr == Attr::FullName {
            // keep the first/last split for the derivation below
            let v = fast_trim(r);
            if v.is_empty() {
                Ok(None)
            } else if exceeds_chars(v, s.max_value_length) {
                Err(reason::TOO_LONG)
            } else if placeholder::is_generic(attr, v) {
                Err(reason::PLACEHOLDER)
            } else {
                // the value is moved in from `full_parts` after the derivation below
                name::parse_full(v).map(|o| {
                    full_parts = o;
                    None
                })
            }
        } else {
            normalise_optional(attr, r, s)
        };
        match res {
            Ok(v) => out.values[i] = v,
            Err(reason) => out.issues.push(Issue { attr, reason }),
        }
    }

    let fi = Attr::FirstName.index();
    let li = Attr::LastName.index();
    let ui = Attr::FullName.index();
    if let Some(f) = full_parts {
        if out.values[fi].is_none() && out.values[li].is_none() {
            out.values[fi] = Some(f.first().to_string());
            out.values[li] = f.last().map(str::to_string);
        }
        out.values[ui] = Some(f.full);
    } else if let (Some(f), Some(l)) = (&out.values[fi], &out.values[li]) {
        // full_name is missing or was rejected
        let mut full = String::with_capacity(f.len() + 1 + l.len());
        full.push_str(f);
        full.push(' ');
        full.push_str(l);
        out.values[ui] = Some(full);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(Attr, &'static str)]) -> [Option<&'static str>; 15] {
        let mut r = [None; 15];
        for (a, v) in pairs {
            r[a.index()] = Some(*v);
        }
        r
    }

    #[test]
    fn attr_names_roundtrip_and_order() {
        let names = [
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "birth_date",
            "gender",
            "street",
            "city",
            "postcode",
            "region",
            "country",
            "national_id",
            "external_id",
            "anonymous_id",
        ];
        assert_eq!(Attr::ALL.len(), Attr::COUNT);
        for (i, a) in Attr::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
            assert_eq!(a.name(), names[i]);
            assert_eq!(Attr::from_name(names[i]), Some(*a));
        }
        assert_eq!(Attr::from_name("Email"), None);
        assert_eq!(Attr::from_name("email "), None);
        assert_eq!(Attr::from_name(""), None);
        assert!(Attr::FirstName < Attr::AnonymousId);
    }

    #[test]
    fn settings_default() {
        let s = Settings::default();
        assert_eq!(s.default_country, "TR");
        assert_eq!(s.date_order, DateOrder::Dmy);
        assert_eq!(s.max_value_length, 200);
        assert_eq!(s.today, (2026, 1, 1));
    }

    #[test]
    fn typical_record() {
        let s = Settings::default();
        let r = rec(&[
            (Attr::FirstName, "  İSMAİL "),
            (Attr::LastName, "ŞAHİN"),
            (Attr::Email, "Ismail.Sahin+promo@GoogleMail.com"),
            (Attr::Phone, "0532 123 45 67"),
            (Attr::BirthDate, "17.05.1985"),
            (Attr::Gender, "Erkek"),
            (Attr::Street, "Atatürk Cad. No: 12"),
            (Attr::City, "İstanbul"),
            (Attr::Postcode, "34 710"),
            (Attr::Region, "Kadıköy"),
            (Attr::Country, "Türkiye"),
            (Attr::NationalId, "10000000146"),
            (Attr::ExternalId, " CRM-00042 "),
            (Attr::AnonymousId, "a1b2c3"),
        ]);
        let n = normalise_record(&r, &s);
        assert_eq!(n.issues, vec![]);
        assert_eq!(n.get(Attr::FirstName), Some("ismail"));
        assert_eq!(n.get(Attr::LastName), Some("sahin"));
        assert_eq!(n.get(Attr::FullName), Some("ismail sahin"));
        assert_eq!(n.get(Attr::Email), Some("ismail.sahin+promo@gmail.com"));
        assert_eq!(n.get(Attr::Phone), Some("+905321234567"));
        assert_eq!(n.get(Attr::BirthDate), Some("1985-05-17"));
        assert_eq!(n.get(Attr::Gender), Some("m"));
        assert_eq!(n.get(Attr::Street), Some("ataturk caddesi no 12"));
        assert_eq!(n.get(Attr::City), Some("istanbul"));
        assert_eq!(n.get(Attr::Postcode), Some("34710"));
        assert_eq!(n.get(Attr::Region), Some("kadikoy"));
        assert_eq!(n.get(Attr::Country), Some("TR"));
        assert_eq!(n.get(Attr::NationalId), Some("10000000146"));
        assert_eq!(n.get(Attr::ExternalId), Some("CRM-00042"));
        assert_eq!(n.get(Attr::AnonymousId), Some("a1b2c3"));
    }

    #[test]
    fn missing_and_empty_values_are_not_issues() {
        let s = Settings::default();
        let r = rec(&[
            (Attr::FirstName, "   "),
            (Attr::Email, ""),
            (Attr::Phone, "\t\n"),
        ]);
        let n = normalise_record(&r, &s);
        assert_eq!(n, Normalised::default());
        let n = normalise_record(&[None; 15], &s);
        assert_eq!(n, Normalised::default());
    }

    #[test]
    fn issues_are_reported_per_attribute() {
        let s = Settings::default();
        let r = rec(&[
            (Attr::FirstName, "N/A"),
            (Attr::Email, "test@test.com"),
            (Attr::Phone, "0000000000"),
            (Attr::BirthDate, "30.02.1990"),
            (Attr::Gender, "banana"),
            (Attr::Country, "Atlantis"),
            (Attr::NationalId, "10000000147"),
            (Attr::Postcode, "00000"),
            (Attr::City, "Ankara"),
        ]);
        let n = normalise_record(&r, &s);
        let want = vec![
            Issue {
                attr: Attr::FirstName,
                reason: "placeholder",
            },
            Issue {
                attr: Attr::Email,
                reason: "placeholder",
            },
            Issue {
                attr: Attr::Phone,
                reason: "placeholder",
            },
            Issue {
                attr: Attr::BirthDate,
                reason: "impossible_date",
            },
            Issue {
                attr: Attr::Gender,
                reason: "unknown_value",
            },
            Issue {
                attr: Attr::Postcode,
                reason: "placeholder",
            },
            Issue {
                attr: Attr::Country,
                reason: "unknown_country",
            },
            Issue {
                attr: Attr::NationalId,
                reason: "invalid_checksum",
            },
        ];
        assert_eq!(n.issues, want);
        for a in [
            Attr::FirstName,
            Attr::Email,
            Attr::Phone,
            Attr::BirthDate,
            Attr::Gender,
        ] {
            assert_eq!(n.get(a), None, "{a:?}");
        }
        assert_eq!(n.get(Attr::City), Some("ankara"));
        assert_eq!(n.issue(Attr::Email), Some("placeholder"));
        assert_eq!(n.issue(Attr::City), None);
    }

    #[test]
    fn too_long_comes_first() {
        let s = Settings {
            max_value_length: 10,
            ..Settings::default()
        };
        assert_eq!(
            normalise_value(Attr::City, "Ankara Merkez", &s),
            Err("too_long")
        );
        // measured in chars, not bytes: 10 Turkish letters (20 bytes) are fine
        assert_eq!(
            normalise_value(Attr::City, "ŞŞŞŞŞĞĞĞĞĞ", &s),
            Ok("sssssggggg".into())
        );
        assert_eq!(
            normalise_value(Attr::City, "ŞŞŞŞŞĞĞĞĞĞĞ", &s),
            Err("too_long")
        );
        // too_long wins over placeholder / format checks
        assert_eq!(
            normalise_value(Attr::Email, "test@test.com", &s),
            Err("too_long")
        );
        let s = Settings::default();
        let huge = "a".repeat(1_000_000);
        for a in Attr::ALL {
            assert_eq!(normalise_value(a, &huge, &s), Err("too_long"), "{a:?}");
        }
        let r = [Some(huge.as_str()); 15];
        let n = normalise_record(&r, &s);
        assert_eq!(n.issues.len(), 15);
        assert!(n.issues.iter().all(|i| i.reason == "too_long"));
        assert!(n.values.iter().all(Option::is_none));
    }

    #[test]
    fn normalise_value_single_attribute() {
        let s = Settings::default();
        assert_eq!(
            normalise_value(Attr::Phone, "+44 20 7946 0018", &s),
            Ok("+442079460018".into())
        );
        assert_eq!(normalise_value(Attr::Phone, "", &s), Err("empty"));
        assert_eq!(normalise_value(Attr::FirstName, "Mr.", &s), Err("empty"));
        assert_eq!(
            normalise_value(Attr::FullName, "Dr. Ayşe Yılmaz", &s),
            Ok("ayse yilmaz".into())
        );
        assert_eq!(
            normalise_value(Attr::FullName, "Yılmaz, Ayşe", &s),
            Ok("ayse yilmaz".into())
        );
        assert_eq!(normalise_value(Attr::Gender, "Kadın", &s), Ok("f".into()));
        assert_eq!(
            normalise_value(Attr::Country, "deutschland", &s),
            Ok("DE".into())
        );
        assert_eq!(
            normalise_value(Attr::BirthDate, "2001-13-01", &s),
            Err("impossible_date")
        );
        assert_eq!(
            normalise_value(Attr::BirthDate, "2030-01-01", &s),
            Err("implausible_date")
        );
        assert_eq!(normalise_value(Attr::Email, "N/A", &s), Err("placeholder"));
        assert_eq!(
            normalise_value(Attr::ExternalId, "undefined", &s),
            Err("placeholder")
        );
        assert_eq!(normalise_optional(Attr::City, "  ", &s), Ok(None));
        assert_eq!(
            normalise_optional(Attr::LastName, "Jr.", &s),
            Ok(Some("jr".into()))
        );
    }

    #[test]
    fn derive_first_last_from_full_name() {
        let s = Settings::default();
        let n = normalise_record(&rec(&[(Attr::FullName, "Dr. Ayşe Yılmaz")]), &s);
        assert_eq!(n.get(Attr::FullName), Some("ayse yilmaz"));
        assert_eq!(n.get(Attr::FirstName), Some("ayse"));
        assert_eq!(n.get(Attr::LastName), Some("yilmaz"));
        assert!(n.issues.is_empty());

        let n = normalise_record(&rec(&[(Attr::FullName, "Yılmaz, Ayşe")]), &s);
        assert_eq!(n.get(Attr::FullName), Some("ayse yilmaz"));
        assert_eq!(n.get(Attr::FirstName), Some("ayse"));
        assert_eq!(n.get(Attr::LastName), Some("yilmaz"));

        // "Last, First" with a two-word surname keeps the whole surname
        let n = normalise_record(&rec(&[(Attr::FullName, "Müller-Lüdenscheidt, José")]), &s);
        assert_eq!(n.get(Attr::FullName), Some("jose muller ludenscheidt"));
        assert_eq!(n.get(Attr::FirstName), Some("jose"));
        assert_eq!(n.get(Attr::LastName), Some("muller ludenscheidt"));

        let n = normalise_record(&rec(&[(Attr::FullName, "Mehmet Ali Öztürk Jr.")]), &s);
        assert_eq!(n.get(Attr::FullName), Some("mehmet ali ozturk"));
        assert_eq!(n.get(Attr::FirstName), Some("mehmet"));
        assert_eq!(n.get(Attr::LastName), Some("ozturk"));

        // a single token: first name only
        let n = normalise_record(&rec(&[(Attr::FullName, "Tarkan")]), &s);
        assert_eq!(n.get(Attr::FirstName), Some("tarkan"));
        assert_eq!(n.get(Attr::LastName), None);
        assert_eq!(n.get(Attr::FullName), Some("tarkan"));

        // first name present: nothing derived, full name kept as given
        let n = normalise_record(
            &rec(&[
                (Attr::FirstName, "Ayşe"),
                (Attr::FullName, "Ayşe Nur Yılmaz"),
            ]),
            &s,
        );
        assert_eq!(n.get(Attr::FirstName), Some("ayse"));
        assert_eq!(n.get(Attr::LastName), None);
        assert_eq!(n.get(Attr::FullName), Some("ayse nur yilmaz"));

        // rejected first/last: derived from the full name, the issues stay
        let n = normalise_record(
            &rec(&[(Attr::FirstName, "test"), (Attr::FullName, "Can Demir")]),
            &s,
        );
        assert_eq!(n.get(Attr::FirstName), Some("can"));
        assert_eq!(n.get(Attr::LastName), Some("demir"));
        assert_eq!(
            n.issues,
            vec![Issue {
                attr: Attr::FirstName,
                reason: "placeholder"
            }]
        );
    }

    #[test]
    fn derive_full_name_from_first_last() {
        let s = Settings::default();
        let n = normalise_record(
            &rec(&[
                (Attr::FirstName, "Prof. Dr. Işıl"),
                (Attr::LastName, "Çağrı-Öz"),
            ]),
            &s,
        );
        assert_eq!(n.get(Attr::FirstName), Some("isil"));
        assert_eq!(n.get(Attr::LastName), Some("cagri oz"));
        assert_eq!(n.get(Attr::FullName), Some("isil cagri oz"));
        // only one of them: no full name
        let n = normalise_record(&rec(&[(Attr::LastName, "Yılmaz")]), &s);
        assert_eq!(n.get(Attr::FullName), None);
        assert_eq!(n.get(Attr::LastName), Some("yilmaz"));
        // a rejected full name is not replaced
        let n = normalise_record(
            &rec(&[
                (Attr::FirstName, "Ali"),
                (Attr::LastName, "Kaya"),
                (Attr::FullName, "Ali K4ya"),
            ]),
            &s,
        );
        assert_eq!(n.get(Attr::FullName), Some("ali kaya"));
        assert_eq!(
            n.issues,
            vec![Issue {
                attr: Attr::FullName,
                reason: "invalid_format"
            }]
        );
    }

    #[test]
    fn turkish_names_fold_equal_across_records() {
        let s = Settings::default();
        let a = normalise_record(&rec(&[(Attr::FullName, "İSMAİL ŞAHİN")]), &s);
        let b = normalise_record(&rec(&[(Attr::FullName, "ismail sahin")]), &s);
        assert_eq!(a, b);
        assert_eq!(a.get(Attr::FullName), Some("ismail sahin"));
    }

    #[test]
    fn mdy_settings_and_other_default_country() {
        let s = Settings {
            default_country: "US".into(),
            date_order: DateOrder::Mdy,
            ..Settings::default()
        };
        let n = normalise_record(
            &rec(&[
                (Attr::Phone, "(212) 555-0143"),
                (Attr::BirthDate, "05/04/1990"),
            ]),
            &s,
        );
        assert_eq!(n.get(Attr::Phone), Some("+12125550143"));
        assert_eq!(n.get(Attr::BirthDate), Some("1990-05-04"));
        // national ids are not TCKN-checked outside TR
        assert_eq!(
            normalise_value(Attr::NationalId, "10000000147", &s),
            Ok("10000000147".into())
        );
    }

    /// Deterministic pseudo-random strings over a nasty alphabet: nothing may panic, and every
    /// reported reason must be a known code.
    #[test]
    fn never_panics_on_generated_input() {
        const ALPHABET: &[&str] = &[
            "a",
            "Z",
            "0",
            "9",
            "5",
            " ",
            "\t",
            "\n",
            "\0",
            "\u{7f}",
            "\u{1b}",
            "+",
            "-",
            ".",
            "/",
            "@",
            "(",
            ")",
            ",",
            "'",
            "#",
            "x",
            "ext",
            ":",
            "T",
            "İ",
            "ı",
            "ş",
            "Ğ",
            "ç",
            "ß",
            "æ",
            "\u{301}",
            "\u{308}",
            "\u{3099}",
            "\u{200d}",
            "\u{fe0f}",
            "\u{ad}",
            "😀",
            "👩‍👩‍👧",
            "Ж",
            "я",
            "Σ",
            "ς",
            "م",
            "\u{64e}",
            "中",
            "한",
            "\u{1100}",
            "\u{1161}",
            "क",
            "\u{94d}",
            "ﬁ",
            "①",
            "½",
            "Ⅻ",
            "０",
            "٣",
            "\u{feff}",
            "\u{202e}",
            "\u{10ffff}",
            "\u{e000}",
            "mailto:",
            "gmail.com",
            "00",
            "90",
            "0532",
            "1990",
            "02",
            "30",
            "test",
            "n/a",
            "dr",
            "jr",
            "@@",
        ];
        let s = Settings::default();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let mut v = String::new();
            for _ in 0..len {
                v.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            let raw = [Some(v.as_str()); 15];
            let n = normalise_record(&raw, &s);
            for i in &n.issues {
                assert!(
                    reason::ALL.contains(&i.reason) && i.reason != "empty",
                    "{v:?} {i:?}"
                );
            }
            for a in Attr::ALL {
                match normalise_value(a, &v, &s) {
                    Ok(out) => {
                        assert!(!out.is_empty(), "{a:?} {v:?}");
                        assert_eq!(out.trim(), out, "{a:?} {v:?}");
                    }
                    Err(e) => assert!(reason::ALL.contains(&e), "{a:?} {v:?} {e}"),
                }
            }
        }
    }

    /// Random chars from the whole Unicode range (biased to interesting blocks) through every
    /// public per-kind function: no panic, and the documented invariants hold.
    #[test]
    fn per_kind_functions_never_panic() {
        let iterations: usize = std::env::var("NORMALISE_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let ranges: [(u32, u32); 10] = [
            (0x20, 0x7E),
            (0x00, 0x1F),
            (0xA0, 0x24F),
            (0x300, 0x36F),
            (0x370, 0x52F),
            (0x600, 0x6FF),
            (0x900, 0x97F),
            (0x3040, 0x30FF),
            (0xAC00, 0xD7A3),
            (0x0, 0x10FFFF),
        ];
        let countries = ["TR", "US", "GB", "IT", "RU", "MX", "HU", "XX", "", "tr"];
        for _ in 0..iterations {
            let len = (next() % 16) as usize;
            let mut v = String::new();
            for _ in 0..len {
                let (lo, hi) = ranges[(next() % ranges.len() as u64) as usize];
                let c = char::from_u32(lo + (next() % (hi - lo + 1) as u64) as u32).unwrap_or('?');
                v.push(c);
            }
            let folded = name::fold(&v);
            assert_eq!(name::fold(&folded), folded, "fold not idempotent for {v:?}");
            assert!(!folded.starts_with(' ') && !folded.ends_with(' ') && !folded.contains("  "));
            let cc = countries[(next() % countries.len() as u64) as usize];
            if let Ok(p) = phone::to_e164(&v, cc) {
                assert!(
                    p.starts_with('+') && p[1..].bytes().all(|b| b.is_ascii_digit()),
                    "{v:?}"
                );
                assert!((9..=16).contains(&p.len()), "{v:?} → {p}");
            }
            if let Ok(e) = email::normalise(&v) {
                assert_eq!(e.matches('@').count(), 1);
            }
            let _ = email::match_key(&v);
            if let Ok((y, m, d)) = date::parse(&v, DateOrder::Dmy) {
                assert!(date::is_valid(y, m, d));
            }
            let _ = name::parse_full(&v);
            let _ = name::normalise_first(&v);
            let _ = name::normalise_last(&v);
            let _ = address::street(&v);
            let _ = address::city(&v);
            if let Ok(p) = address::postcode(&v) {
                assert!((3..=10).contains(&p.len()));
            }
            if let Ok(c) = address::country(&v) {
                assert_eq!(c.len(), 2);
            }
            let _ = ids::gender(&v);
            let _ = ids::national_id(&v, cc);
            let _ = ids::external_id(&v);
            let _ = placeholder::is_generic(Attr::City, &v);
            let _ = email::is_placeholder(&v, &v);
        }
    }

    #[test]
    fn control_chars_emoji_mixed_scripts() {
        let s = Settings::default();
        assert_eq!(
            normalise_value(Attr::FirstName, "Ali\u{0}\u{7}", &s),
            Ok("ali".into())
        );
        assert_eq!(
            normalise_value(Attr::FirstName, "😀 Ayşe 🎉", &s),
            Ok("ayse".into())
        );
        assert_eq!(normalise_value(Attr::FirstName, "😀", &s), Err("empty"));
        assert_eq!(
            normalise_value(Attr::FullName, "Иван Petrov", &s),
            Ok("ivan petrov".into())
        );
        assert_eq!(
            normalise_value(Attr::Email, "ali😀@x.com", &s),
            Err("invalid_format")
        );
        assert_eq!(
            normalise_value(Attr::Phone, "0532😀1234567", &s),
            Err("invalid_format")
        );
        assert_eq!(
            normalise_value(Attr::BirthDate, "\u{301}", &s),
            Err("invalid_format")
        );
        assert_eq!(
            normalise_value(Attr::City, "\u{301}\u{308}", &s),
            Err("empty")
        );
        assert_eq!(
            normalise_value(Attr::Postcode, "\u{0}\u{0}\u{0}", &s),
            Err("invalid_format")
        );
    }

    /// Throughput of `normalise_record` on a typical record. Run with
    /// `cargo test --release -- --ignored --nocapture bench_`.
    #[test]
    #[ignore]
    fn bench_normalise_record() {
        let s = Settings::default();
        let records: Vec<[Option<&str>; 15]> = vec![
            rec(&[
                (Attr::FirstName, "Ayşe"),
                (Attr::LastName, "Yılmaz"),
                (Attr::Email, "Ayse.Yilmaz@gmail.com"),
                (Attr::Phone, "0532 123 45 67"),
                (Attr::BirthDate, "17.05.1985"),
                (Attr::Gender, "K"),
                (Attr::City, "İstanbul"),
                (Attr::Postcode, "34710"),
                (Attr::Country, "TR"),
                (Attr::ExternalId, "CRM-000123"),
            ]),
            rec(&[
                (Attr::FullName, "John O'Brien"),
                (Attr::Email, "john.obrien@example.co.uk"),
                (Attr::Phone, "+44 20 7946 0018"),
                (Attr::BirthDate, "1979-11-02"),
                (Attr::Gender, "male"),
                (Attr::Street, "12 High St."),
                (Attr::City, "London"),
                (Attr::Postcode, "SW1A 1AA"),
                (Attr::Country, "United Kingdom"),
                (Attr::AnonymousId, "3f2a9c1e-7b7d-4c1e-9a4e-1d2f3a4b5c6d"),
            ]),
        ];
        let n = 2_000_000;
        let t = std::time::Instant::now();
        let mut sink = 0usize;
        for i in 0..n {
            let out = normalise_record(&records[i % records.len()], &s);
            sink += out.issues.len() + out.values.iter().flatten().count();
        }
        let el = t.elapsed();
        eprintln!(
            "normalise_record: {n} records in {el:?} = {:.0} records/s, {:.0} ns/record (sink {sink})",
            n as f64 / el.as_secs_f64(),
            el.as_nanos() as f64 / n as f64
        );
    }
}

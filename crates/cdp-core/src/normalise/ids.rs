//! Gender, national id, external id and anonymous id.

use super::name::{fold, fold_small_bytes};
use super::placeholder::{all_same, is_digit_run, is_generic};
use super::words::Words;
use super::{reason, Attr};

/// Folded values meaning male.
pub const MALE: [&str; 17] = [
    "m",
    "male",
    "man",
    "erkek",
    "e",
    "bay",
    "mr",
    "herr",
    "mannlich",
    "masculine",
    "masculino",
    "maskulin",
    "homme",
    "hombre",
    "uomo",
    "mann",
    "boy",
];
/// Folded values meaning female.
pub const FEMALE: [&str; 19] = [
    "f", "female", "woman", "kadin", "k", "bayan", "frau", "weiblich", "ms", "mrs", "miss",
    "feminine", "femenino", "feminin", "femme", "mujer", "donna", "w", "girl",
];
/// Folded values meaning other / diverse / non-binary.
pub const OTHER: [&str; 10] = [
    "x",
    "other",
    "diverse",
    "divers",
    "non binary",
    "nonbinary",
    "nb",
    "d",
    "enby",
    "genderqueer",
];
static MALE_SET: Words<17> = Words::new(MALE);
static FEMALE_SET: Words<19> = Words::new(FEMALE);
static OTHER_SET: Words<10> = Words::new(OTHER);

/// Gender → "m" / "f" / "x" (folded, so "Kadın", "KADIN", "männlich", "Non-Binary" work);
/// anything else → `unknown_value`.
pub fn gender(v: &str) -> Result<&'static str, &'static str> {
    if v.len() > 64 {
        return Err(reason::UNKNOWN_VALUE);
    }
    let mut buf = [0u8; 64];
    let owned;
    let f = match fold_small_bytes(v, &mut buf) {
        Some(f) => f,
        None => {
            owned = fold(v);
            owned.as_bytes()
        }
    };
    if MALE_SET.contains_bytes(f) {
        Ok("m")
    } else if FEMALE_SET.contains_bytes(f) {
        Ok("f")
    } else if OTHER_SET.contains_bytes(f) {
        Ok("x")
    } else {
        Err(reason::UNKNOWN_VALUE)
    }
}

/// Turkish TC Kimlik No check (11 ASCII digits, first not 0, two check digits).
pub fn tckn_valid(d: &[u8]) -> bool {
    if d.len() != 11 || !d.iter().all(u8::is_ascii_digit) || d[0] == b'0' {
        return false;
    }
    let n: [i32; 11] = std::array::from_fn(|i| (d[i] - b'0') as i32);
    let odd = n[0] + n[2] + n[4] + n[6] + n[8];
    let even = n[1] + n[3] + n[5] + n[7];
    let d10 = (odd * 7 - even).rem_euclid(10);
    let d11 = n[..10].iter().sum::<i32>() % 10;
    d10 == n[9] && d11 == n[10]
}

/// National id: uppercased, only ASCII letters and digits kept (spaces, dashes, dots dropped).
/// `placeholder` when one character repeated (≥ 3) or a digit run ("123456789");
/// `invalid_format` when shorter than 5 or containing other letters/digits (non-ASCII);
/// with default country TR an 11-digit id must pass the TC Kimlik No checksum, else
/// `invalid_checksum`.
pub fn national_id(v: &str, default_country: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(v.len().min(32));
    for c in v.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if c.is_alphanumeric() {
            return Err(reason::INVALID_FORMAT);
        }
    }
    let b = out.as_bytes();
    if all_same(b, 3) || is_digit_run(b, 6) {
        return Err(reason::PLACEHOLDER);
    }
    if b.len() < 5 {
        return Err(reason::INVALID_FORMAT);
    }
    if default_country.trim().eq_ignore_ascii_case("TR")
        && b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && !tckn_valid(b)
    {
        return Err(reason::INVALID_CHECKSUM);
    }
    Ok(out)
}

/// External / anonymous id: trimmed only (case preserved). `placeholder` for "null",
/// "undefined", "none", "0", "-", "(null)", "NaN", ... (see [`super::placeholder`]).
pub fn external_id(v: &str) -> Result<String, &'static str> {
    let t = super::fast_trim(v);
    if t.is_empty() || is_generic(Attr::ExternalId, t) {
        return Err(reason::PLACEHOLDER);
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genders() {
        for v in [
            "m",
            "M",
            "Male",
            "MAN",
            "erkek",
            "Erkek",
            "E",
            "bay",
            "Mr.",
            "Herr",
            "männlich",
            "Männlich",
        ] {
            assert_eq!(gender(v), Ok("m"), "{v:?}");
        }
        for v in [
            "f", "F", "female", "Woman", "kadın", "KADIN", "Kadin", "k", "K", "Bayan", "Frau",
            "weiblich", "Ms", "Mrs.", "w",
        ] {
            assert_eq!(gender(v), Ok("f"), "{v:?}");
        }
        for v in [
            "x",
            "X",
            "other",
            "Other",
            "diverse",
            "divers",
            "non-binary",
            "Non Binary",
            "nonbinary",
            "d",
            "D",
        ] {
            assert_eq!(gender(v), Ok("x"), "{v:?}");
        }
        for v in ["banana", "mf", "1", "2", "male female", "", "😀", "ma le"] {
            assert_eq!(gender(v), Err("unknown_value"), "{v:?}");
        }
        assert_eq!(gender(&"m".repeat(1000)), Err("unknown_value"));
    }

    #[test]
    fn tckn() {
        assert!(tckn_valid(b"10000000146"));
        assert_eq!(national_id("10000000146", "TR"), Ok("10000000146".into()));
        assert_eq!(
            national_id(" 100 000 001 46 ", "tr"),
            Ok("10000000146".into())
        );
        // every single-digit change breaks it
        let good = b"10000000146";
        for i in 0..11 {
            for d in b'0'..=b'9' {
                if d == good[i] {
                    continue;
                }
                let mut bad = *good;
                bad[i] = d;
                let s = std::str::from_utf8(&bad).unwrap();
                let r = national_id(s, "TR");
                assert!(
                    r == Err("invalid_checksum") || r == Err("placeholder"),
                    "{s}: {r:?}"
                );
            }
        }
        assert_eq!(national_id("10000000147", "TR"), Err("invalid_checksum"));
        assert_eq!(national_id("10000000156", "TR"), Err("invalid_checksum"));
        assert_eq!(national_id("20000000146", "TR"), Err("invalid_checksum"));
        // first digit 0
        assert_eq!(national_id("01000000146", "TR"), Err("invalid_checksum"));
        // d10 needs the modulo of a negative number: 1 9 0 9 0 9 0 9 1 ...
        let mut v = *b"19090909100";
        let n: Vec<i32> = v.iter().map(|c| (c - b'0') as i32).collect();
        let d10 =
            ((n[0] + n[2] + n[4] + n[6] + n[8]) * 7 - (n[1] + n[3] + n[5] + n[7])).rem_euclid(10);
        v[9] = b'0' + d10 as u8;
        let d11 = v[..10].iter().map(|c| (c - b'0') as i32).sum::<i32>() % 10;
        v[10] = b'0' + d11 as u8;
        assert_eq!(&v, b"19090909186");
        assert!(tckn_valid(&v));
        // no TCKN check outside TR or for other lengths
        assert_eq!(national_id("10000000147", "DE"), Ok("10000000147".into()));
        assert_eq!(national_id("1000000014", "TR"), Ok("1000000014".into()));
    }

    #[test]
    fn other_national_ids() {
        assert_eq!(national_id("ab-123.456 c", "DE"), Ok("AB123456C".into()));
        assert_eq!(national_id("536-22-8741", "US"), Ok("536228741".into()));
        assert_eq!(national_id("123-45-6789", "US"), Err("placeholder"));
        assert_eq!(national_id("11111111111", "TR"), Err("placeholder"));
        assert_eq!(national_id("00000000000", "TR"), Err("placeholder"));
        assert_eq!(national_id("AAAAAAA", "TR"), Err("placeholder"));
        assert_eq!(national_id("123456789", "TR"), Err("placeholder"));
        assert_eq!(national_id("12a4", "TR"), Err("invalid_format"));
        assert_eq!(national_id("--", "TR"), Err("invalid_format"));
        assert_eq!(national_id("12345ж", "TR"), Err("invalid_format"));
        assert_eq!(national_id("١٢٣٤٥٦٧", "TR"), Err("invalid_format"));
    }

    #[test]
    fn external_ids() {
        assert_eq!(external_id("  CRM-00042 "), Ok("CRM-00042".into()));
        assert_eq!(external_id("AbC123"), Ok("AbC123".into()));
        assert_eq!(
            external_id("3f2a9c1e-7b7d-4c1e-9a4e-1d2f3a4b5c6d"),
            Ok("3f2a9c1e-7b7d-4c1e-9a4e-1d2f3a4b5c6d".into())
        );
        for v in [
            "null",
            "NULL",
            "undefined",
            "none",
            "None",
            "0",
            "-",
            "",
            "  ",
            "(null)",
            "NaN",
            "n/a",
        ] {
            assert_eq!(external_id(v), Err("placeholder"), "{v:?}");
        }
        assert_eq!(external_id("00"), Ok("00".into()));
    }
}

//! Phone numbers → E.164 (`+<country code><national significant number>`).

use super::name::fold_small;
use super::placeholder::{all_same, is_digit_run};
use super::reason;
use super::words::Words;

/// Every assigned ITU-T E.164 country calling code (geographic and global services), sorted.
/// The set is prefix-free, so a number's code is its only prefix found here.
pub const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675,
    676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966,
    967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 991, 992, 993, 994, 995, 996, 998,
];

/// Numbering rules of a country that can be a default country (national numbers accepted).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// ISO 3166-1 alpha-2
    pub iso: &'static str,
    /// calling code digits
    pub cc: &'static str,
    /// national (trunk) prefixes written before the national significant number
    pub trunk: &'static [&'static str],
    /// Whether a matching trunk prefix is always stripped (the NSN never starts with it:
    /// true for the usual trunk "0"); otherwise it is stripped only when the length says so.
    pub trunk_always: bool,
    /// prefixes that may follow the country code in international notation and are dropped
    /// when the length says so (Mexico's old mobile "1")
    pub intl_extra: &'static [&'static str],
    /// international call prefix other than "00" (NANP "011", Russia/Kazakhstan "810")
    pub idd: &'static str,
    /// national significant number length range
    pub min: u8,
    pub max: u8,
}

/// A North American Numbering Plan country: +1, trunk prefix 1, international prefix 011.
const fn nanp(iso: &'static str) -> Plan {
    Plan { iso, cc: "1", trunk: &["1"], trunk_always: false, intl_extra: &[], idd: "011", min: 10, max: 10 }
}

const fn p(
    iso: &'static str,
    cc: &'static str,
    trunk: &'static [&'static str],
    trunk_always: bool,
    min: u8,
    max: u8,
) -> Plan {
    Plan {
        iso,
        cc,
        trunk,
        trunk_always,
        intl_extra: &[],
        idd: "",
        min,
        max,
    }
}

const T0: &[&str] = &["0"];
const NONE: &[&str] = &[];

/// Countries usable as default country, with their calling codes and NSN lengths.
pub const PLANS: &[Plan] = &[
    p("TR", "90", T0, true, 10, 10),
    nanp("US"),
    nanp("CA"),
    p("GB", "44", T0, true, 7, 10),
    p("DE", "49", T0, true, 6, 13),
    p("FR", "33", T0, true, 9, 9),
    p("NL", "31", T0, true, 9, 9),
    p("BE", "32", T0, true, 8, 9),
    p("ES", "34", NONE, false, 9, 9),
    p("IT", "39", NONE, false, 6, 11),
    p("AT", "43", T0, true, 6, 13),
    p("CH", "41", T0, true, 9, 9),
    p("SE", "46", T0, true, 7, 10),
    p("NO", "47", NONE, false, 8, 8),
    p("DK", "45", NONE, false, 8, 8),
    p("PL", "48", NONE, false, 9, 9),
    p("GR", "30", NONE, false, 10, 10),
    p("PT", "351", NONE, false, 9, 9),
    p("IE", "353", T0, true, 7, 9),
    Plan {
        iso: "RU",
        cc: "7",
        trunk: &["8"],
        trunk_always: false,
        intl_extra: &[],
        idd: "810",
        min: 10,
        max: 10,
    },
    Plan {
        iso: "KZ",
        cc: "7",
        trunk: &["8"],
        trunk_always: false,
        intl_extra: &[],
        idd: "810",
        min: 10,
        max: 10,
    },
    p("AZ", "994", T0, true, 9, 9),
    p("AE", "971", T0, true, 8, 9),
    p("SA", "966", T0, true, 8, 9),
    p("IN", "91", T0, true, 10, 10),
    p("CN", "86", T0, true, 9, 11),
    p("JP", "81", T0, true, 9, 10),
    p("BR", "55", T0, true, 10, 11),
    Plan {
        iso: "MX",
        cc: "52",
        trunk: &["044", "045", "01"],
        trunk_always: false,
        intl_extra: &["1"],
        idd: "",
        min: 10,
        max: 10,
    },
    p("AU", "61", T0, true, 9, 9),
    // more countries with well-known plans
    p("FI", "358", T0, true, 5, 12),
    p("CZ", "420", NONE, false, 9, 9),
    p("SK", "421", T0, true, 9, 9),
    p("HU", "36", &["06"], true, 8, 9),
    p("RO", "40", T0, true, 9, 9),
    p("BG", "359", T0, true, 8, 9),
    p("HR", "385", T0, true, 8, 9),
    p("UA", "380", T0, true, 9, 9),
    p("GE", "995", T0, true, 9, 9),
    p("CY", "357", NONE, false, 8, 8),
    p("LU", "352", NONE, false, 5, 11),
    p("IS", "354", NONE, false, 7, 7),
    p("IL", "972", T0, true, 8, 9),
    p("EG", "20", T0, true, 8, 10),
    p("ZA", "27", T0, true, 9, 9),
    p("NZ", "64", T0, true, 8, 10),
    p("KR", "82", T0, true, 8, 10),
    p("SG", "65", NONE, false, 8, 8),
    p("HK", "852", NONE, false, 8, 8),
    p("PK", "92", T0, true, 9, 10),
    p("ID", "62", T0, true, 8, 12),
    p("MY", "60", T0, true, 8, 10),
    p("TH", "66", T0, true, 8, 9),
    p("PH", "63", T0, true, 8, 10),
    p("VN", "84", T0, true, 9, 10),
    p("NG", "234", T0, true, 8, 10),
    p("KE", "254", T0, true, 9, 9),
    p("MA", "212", T0, true, 9, 9),
    p("QA", "974", NONE, false, 8, 8),
    p("KW", "965", NONE, false, 8, 8),
    p("BH", "973", NONE, false, 8, 8),
    p("OM", "968", NONE, false, 8, 8),
    p("JO", "962", T0, true, 8, 9),
    p("LB", "961", T0, true, 7, 8),
    p("IQ", "964", T0, true, 8, 10),
    p("IR", "98", T0, true, 10, 10),
    p("AR", "54", T0, true, 10, 11),
    p("CL", "56", NONE, false, 9, 9),
    p("CO", "57", NONE, false, 8, 10),
    p("PE", "51", T0, true, 8, 9),
];

/// The plan of an ISO alpha-2 code (case-insensitive).
pub fn plan_for_country(iso: &str) -> Option<&'static Plan> {
    let iso = super::fast_trim(iso).as_bytes();
    if iso.len() != 2 {
        return None;
    }
    let (a, b) = (iso[0].to_ascii_uppercase(), iso[1].to_ascii_uppercase());
    PLANS.iter().find(|p| p.iso.as_bytes() == [a, b])
}

/// The plan used for numbers with calling code `cc` (the first listed: "1" → US, "7" → RU).
pub fn plan_for_code(cc: &[u8]) -> Option<&'static Plan> {
    PLANS.iter().find(|p| p.cc.as_bytes() == cc)
}

/// Whether `code` is an assigned ITU calling code.
pub fn is_calling_code(code: u16) -> bool {
    CALLING_CODES.binary_search(&code).is_ok()
}

/// The calling code at the start of `digits` (1–3 digits), if any.
pub fn split_calling_code(digits: &[u8]) -> Option<(&[u8], &[u8])> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    let mut code = 0u16;
    for (i, &c) in digits.iter().take(3).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        code = code * 10 + (c - b'0') as u16;
        if is_calling_code(code) {
            return Some(digits.split_at(i + 1));
        }
    }
    None
}

const MAX_DIGITS: usize = 20;

/// The digits of a raw phone number, and whether it was written with a leading '+'.
struct Digits {
    buf: [u8; MAX_DIGITS],
    len: usize,
    plus: bool,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Map ASCII, fullwidth, Arabic-Indic, extended Arabic-Indic (Persian) and Devanagari digits.
#[inline]
fn digit_value(c: char) -> Option<u8> {
    let v = c as u32;
    let base = match v {
        0x30..=0x39 => 0x30,
        0x660..=0x669 => 0x660,
        0x6F0..=0x6F9 => 0x6F0,
        0x966..=0x96F => 0x966,
        0xFF10..=0xFF19 => 0xFF10,
        _ => return None,
    };
    Some((v - base) as u8)
}

/// Separators allowed between digits.
#[inline]
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '.' | '(' | ')' | '/' | '[' | ']' | ';' | ',' | '\u{A0}' | '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{202F}'
                | '\u{2007}'
                | '\u{2009}'
                | '\u{200B}'
                | '\u{FEFF}'
                | '\u{3000}'
                | '\u{FF08}'
                | '\u{FF09}'
                | '\u{FF0D}'
                | '\u{FF0E}'
                | '\u{FF0F}'
    )
}

/// Extension markers (lowercase words) after which the rest is dropped.
pub const EXT_WORDS: [&str; 8] = [
    "x",
    "ext",
    "extn",
    "extension",
    "dahili",
    "dah",
    "durchwahl",
    "poste",
];
static EXT_SET: Words<8> = Words::new(EXT_WORDS);

/// Scan the raw text: digits, separators, a leading '+', an extension marker and what follows it.
fn scan(raw: &str) -> Result<Digits, &'static str> {
    let mut v = super::fast_trim(raw);
    if let Some(p) = v.get(..4) {
        if p.eq_ignore_ascii_case("tel:") {
            v = v[4..].trim_start();
        }
    }
    let mut d = Digits {
        buf: [0; MAX_DIGITS],
        len: 0,
        plus: false,
    };
    let mut chars = v.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(x) = digit_value(c) {
            if d.len == MAX_DIGITS {
                return Err(reason::INVALID_FORMAT);
            }
            d.buf[d.len] = b'0' + x;
            d.len += 1;
        } else if c == '+' || c == '\u{FF0B}' {
            if d.len > 0 || d.plus {
                return Err(reason::INVALID_FORMAT);
            }
            d.plus = true;
        } else if is_separator(c) {
        } else if c == '#' || c.is_ascii_alphabetic() {
            // extension marker: "#12", "x12", "ext. 12", "dahili 12", ";ext=12"
            if d.len == 0 {
                return Err(reason::INVALID_FORMAT);
            }
            if c.is_ascii_alphabetic() {
                let word_end = v[i..]
                    .find(|ch: char| !ch.is_ascii_alphabetic())
                    .map_or(v.len(), |e| i + e);
                let mut buf = [0u8; 16];
                match fold_small(&v[i..word_end], &mut buf) {
                    Some(w) if EXT_SET.contains(w) => {}
                    _ => return Err(reason::INVALID_FORMAT),
                }
                while chars.peek().is_some_and(|&(j, _)| j < word_end) {
                    chars.next();
                }
            }
            // the rest: digits and separators (and '.', ':', '=', '#') only
            let mut ext_digits = 0;
            for (_, r) in chars {
                if digit_value(r).is_some() {
                    ext_digits += 1;
                } else if !(is_separator(r) || matches!(r, ':' | '=' | '#')) {
                    return Err(reason::INVALID_FORMAT);
                }
            }
            if ext_digits == 0 {
                return Err(reason::INVALID_FORMAT);
            }
            break;
        } else {
            return Err(reason::INVALID_FORMAT);
        }
    }
    if d.len == 0 {
        return Err(reason::INVALID_FORMAT);
    }
    Ok(d)
}

fn in_range(p: &Plan, n: usize) -> bool {
    (p.min as usize..=p.max as usize).contains(&n)
}

/// Validate a national significant number against a plan.
fn nsn_ok(p: &Plan, nsn: &[u8]) -> bool {
    if !in_range(p, nsn.len()) {
        return false;
    }
    if p.trunk_always && p.trunk.iter().any(|t| nsn.starts_with(t.as_bytes())) {
        return false;
    }
    if p.cc == "1" {
        // NANP: area code and exchange code start with 2-9
        return nsn[0] >= b'2' && nsn[3] >= b'2';
    }
    true
}

/// Strip `prefixes` from `n`: always when `always`, else only when the length then fits.
fn drop_prefix<'a>(p: &Plan, n: &'a [u8], prefixes: &[&str], always: bool) -> &'a [u8] {
    for t in prefixes {
        if let Some(rest) = n.strip_prefix(t.as_bytes()) {
            if always || (!in_range(p, n.len()) && in_range(p, rest.len())) {
                return rest;
            }
        }
    }
    n
}

fn e164(cc: &[u8], nsn: &[u8]) -> Result<String, &'static str> {
    if is_placeholder_digits(nsn) {
        return Err(reason::PLACEHOLDER);
    }
    if !(8..=15).contains(&(cc.len() + nsn.len())) {
        return Err(reason::INVALID_FORMAT);
    }
    let mut buf = [b'+'; 1 + 3 + MAX_DIGITS];
    let n = 1 + cc.len() + nsn.len();
    buf[1..1 + cc.len()].copy_from_slice(cc);
    buf[1 + cc.len()..n].copy_from_slice(nsn);
    Ok(std::str::from_utf8(&buf[..n])
        .unwrap_or_default()
        .to_string())
}

/// All the same digit ("0000000000") or an ascending / descending run ("1234567890").
pub fn is_placeholder_digits(d: &[u8]) -> bool {
    all_same(d, 5) || is_digit_run(d, 6)
}

/// A number in international form (after "+", "00" or another international prefix).
fn international(digits: &[u8]) -> Result<String, &'static str> {
    let Some((cc, rest)) = split_calling_code(digits) else {
        return Err(reason::UNKNOWN_COUNTRY);
    };
    if let Some(p) = plan_for_code(cc) {
        // "+44 (0)20 ...", "+90 0532 ...": trunk prefix written after the country code
        let mut nsn = drop_prefix(p, rest, p.trunk, p.trunk_always);
        nsn = drop_prefix(p, nsn, p.intl_extra, false);
        if is_placeholder_digits(nsn) {
            return Err(reason::PLACEHOLDER);
        }
        if !nsn_ok(p, nsn) {
            return Err(reason::INVALID_FORMAT);
        }
        return e164(cc, nsn);
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(reason::INVALID_FORMAT);
    }
    e164(cc, rest)
}

/// Normalise a phone number to E.164.
///
/// Accepted: punctuation, spaces, parentheses, dots and dashes; a leading '+' (also "(+90)");
/// the international prefix "00" (and "011" for NANP, "810" for RU/KZ default countries);
/// national numbers with a trunk prefix ("0532 123 45 67" with default TR, "8 916 ..." with RU);
/// NANP national numbers with or without the leading 1; national numbers without their trunk
/// prefix; a number that starts with the default country's calling code without '+', when the
/// length fits ("905321234567"); "+44 (0)20 ..." (trunk after the code). Extensions ("ext 12",
/// "x12", "#12", "dahili 12") are dropped. Italian numbers keep their leading 0.
///
/// `default_country` is an ISO alpha-2 code, case-insensitive.
///
/// Errors: `invalid_format` (letters, wrong length, no digits), `unknown_country` (no
/// assigned calling code after '+'/"00", or a national number while the default country has
/// no known numbering plan), `placeholder` (one repeated digit, "1234567890"-style runs).
pub fn to_e164(raw: &str, default_country: &str) -> Result<String, &'static str> {
    let d = scan(raw)?;
    let digits = d.as_slice();
    if is_placeholder_digits(digits) {
        return Err(reason::PLACEHOLDER);
    }
    if d.plus {
        return international(digits);
    }
    let plan = plan_for_country(default_country);
    if let Some(rest) = digits.strip_prefix(b"00") {
        return international(rest);
    }
    let Some(p) = plan else {
        return Err(reason::UNKNOWN_COUNTRY);
    };
    if !p.idd.is_empty() {
        if let Some(rest) = digits.strip_prefix(p.idd.as_bytes()) {
            if rest.len() >= 7 {
                return international(rest);
            }
        }
    }
    let cc = p.cc.as_bytes();
    // national with trunk prefix
    for t in p.trunk {
        if let Some(rest) = digits.strip_prefix(t.as_bytes()) {
            if p.trunk_always || (!in_range(p, digits.len()) && in_range(p, rest.len())) {
                if is_placeholder_digits(rest) {
                    return Err(reason::PLACEHOLDER);
                }
                return if nsn_ok(p, rest) {
                    e164(cc, rest)
                } else {
                    Err(reason::INVALID_FORMAT)
                };
            }
        }
    }
    // the default country's code without '+': preferred when the plan has a trunk prefix (its
    // national numbers are written with it) or when the whole does not fit as a national number
    if let Some(rest) = digits.strip_prefix(cc) {
        let rest = drop_prefix(p, rest, p.trunk, p.trunk_always);
        if nsn_ok(p, rest) && (!p.trunk.is_empty() || !in_range(p, digits.len())) {
            return e164(cc, rest);
        }
    }
    // national without trunk prefix
    if nsn_ok(p, digits) {
        return e164(cc, digits);
    }
    // an international number written without '+' or 00 ("447955997029", "34618831013"):
    // only when it is no national number and a calling code with a fitting plan takes it
    if digits.len() >= 10 {
        if let Ok(v) = international(digits) {
            return Ok(v);
        }
    }
    Err(reason::INVALID_FORMAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_without_plus() {
        ok("447955997029", "TR", "+447955997029");
        ok("34618831013", "TR", "+34618831013");
        ok("306959892497", "TR", "+306959892497");
        ok("971500718553", "TR", "+971500718553");
        // a national number stays national
        ok("5321234567", "TR", "+905321234567");
        ok("905321234567", "TR", "+905321234567");
    }

    #[track_caller]
    fn ok(raw: &str, country: &str, want: &str) {
        assert_eq!(
            to_e164(raw, country),
            Ok(want.to_string()),
            "{raw:?} default {country}"
        );
    }

    #[track_caller]
    fn err(raw: &str, country: &str, want: &str) {
        assert_eq!(
            to_e164(raw, country),
            Err(want),
            "{raw:?} default {country}"
        );
    }

    #[test]
    fn calling_code_table_is_sorted_and_prefix_free() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0] < w[1]));
        for &a in CALLING_CODES {
            for &b in CALLING_CODES {
                if a != b {
                    let (sa, sb) = (a.to_string(), b.to_string());
                    assert!(!sb.starts_with(&sa), "{sa} is a prefix of {sb}");
                }
            }
        }
        for pl in PLANS {
            assert!(is_calling_code(pl.cc.parse().unwrap()), "{}", pl.iso);
            assert!(
                pl.min <= pl.max && pl.max as usize + pl.cc.len() <= 15,
                "{}",
                pl.iso
            );
            assert!(pl.min as usize + pl.cc.len() >= 8, "{}", pl.iso);
        }
        assert_eq!(
            split_calling_code(b"905321234567"),
            Some((&b"90"[..], &b"5321234567"[..]))
        );
        assert_eq!(
            split_calling_code(b"12125550143"),
            Some((&b"1"[..], &b"2125550143"[..]))
        );
        assert_eq!(
            split_calling_code(b"35312345678"),
            Some((&b"353"[..], &b"12345678"[..]))
        );
        assert_eq!(split_calling_code(b"0531"), None);
        assert_eq!(split_calling_code(b"2812"), None);
        assert_eq!(split_calling_code(b"99912"), None);
        assert_eq!(plan_for_country("tr").map(|p| p.cc), Some("90"));
        assert_eq!(plan_for_code(b"1").map(|p| p.iso), Some("US"));
        assert_eq!(plan_for_code(b"7").map(|p| p.iso), Some("RU"));
        assert_eq!(plan_for_code(b"386").map(|p| p.iso), None);
    }

    #[test]
    fn turkey() {
        ok("0532 123 45 67", "TR", "+905321234567");
        ok("0 (532) 123-45-67", "TR", "+905321234567");
        ok("0532.123.45.67", "TR", "+905321234567");
        ok("532 123 45 67", "TR", "+905321234567");
        ok("5321234567", "TR", "+905321234567");
        ok("905321234567", "TR", "+905321234567");
        ok("90 532 123 45 67", "TR", "+905321234567");
        ok("+90 532 123 45 67", "TR", "+905321234567");
        ok("(+90) 532 123 45 67", "TR", "+905321234567");
        ok("+90 (0532) 123 45 67", "TR", "+905321234567");
        ok("0090 532 123 45 67", "TR", "+905321234567");
        ok("(0212) 555 12 34", "TR", "+902125551234");
        ok("0532 123 45 67 dahili 12", "TR", "+905321234567");
        ok("tel:+90-532-123-45-67", "TR", "+905321234567");
        ok("Tel: 0532 123 45 67", "TR", "+905321234567");
    }

    #[test]
    fn nanp() {
        ok("(212) 555-0143", "US", "+12125550143");
        ok("212-555-0143", "US", "+12125550143");
        ok("212.555.0143", "US", "+12125550143");
        ok("1-212-555-0143", "US", "+12125550143");
        ok("1 (212) 555-0143", "US", "+12125550143");
        ok("+1 212 555 0143", "US", "+12125550143");
        ok("+1 (212) 555-0143", "TR", "+12125550143");
        ok("001 212 555 0143", "TR", "+12125550143");
        ok("011 44 20 7946 0018", "US", "+442079460018");
        ok("(416) 555-0199", "CA", "+14165550199");
        ok("(212) 555-0143 ext 12", "US", "+12125550143");
        ok("(212) 555-0143 ext. 12", "US", "+12125550143");
        ok("212-555-0143 x12", "US", "+12125550143");
        ok("212-555-0143 X 12", "US", "+12125550143");
        ok("212 555 0143 #12", "US", "+12125550143");
        ok("tel:+1-212-555-0143;ext=12", "US", "+12125550143");
        err("(112) 555-0143", "US", "invalid_format");
        err("(212) 155-0143", "US", "invalid_format");
        err("212-555-014", "US", "invalid_format");
        err("+1 212 555 01434", "US", "invalid_format");
    }

    #[test]
    fn europe() {
        // GB
        ok("020 7946 0018", "GB", "+442079460018");
        ok("07700 900123", "GB", "+447700900123");
        ok("+44 20 7946 0018", "GB", "+442079460018");
        ok("+44 (0)20 7946 0018", "TR", "+442079460018");
        ok("0044 20 7946 0018", "TR", "+442079460018");
        ok("442079460018", "GB", "+442079460018");
        // DE
        ok("030 47110815", "DE", "+493047110815");
        ok("0151 2345 6789", "DE", "+4915123456789");
        ok("+49 (0)30 47110815", "DE", "+493047110815");
        ok("+49 30 47110815", "TR", "+493047110815");
        // FR
        ok("01 42 68 53 00", "FR", "+33142685300");
        ok("06 12 34 56 78", "FR", "+33612345678");
        ok("+33 6 12 34 56 78", "FR", "+33612345678");
        ok("0033 1 42 68 53 00", "DE", "+33142685300");
        // NL
        ok("020 555 1234", "NL", "+31205551234");
        ok("06-12345678", "NL", "+31612345678");
        ok("+31 6 12345678", "TR", "+31612345678");
        // BE
        ok("02 555 12 34", "BE", "+3225551234");
        ok("0470 12 34 56", "BE", "+32470123456");
        ok("+32 470 12 34 56", "TR", "+32470123456");
        // ES (no trunk prefix)
        ok("912 345 678", "ES", "+34912345678");
        ok("+34 612 34 56 78", "ES", "+34612345678");
        ok("34612345678", "ES", "+34612345678");
        // IT keeps the leading 0 of landlines
        ok("06 1234 5678", "IT", "+390612345678");
        ok("+39 06 1234 5678", "TR", "+390612345678");
        ok("0039 02 1234 5678", "TR", "+390212345678");
        ok("312 345 6789", "IT", "+393123456789");
        ok("+39 312 345 6789", "IT", "+393123456789");
        // AT, CH
        ok("0664 1234567", "AT", "+436641234567");
        ok("+43 1 58800123", "TR", "+43158800123");
        ok("044 668 18 00", "CH", "+41446681800");
        ok("+41 44 668 18 00", "TR", "+41446681800");
        // Nordics
        ok("08-123 456 78", "SE", "+46812345678");
        ok("070-123 45 67", "SE", "+46701234567");
        ok("+46 70 123 45 67", "TR", "+46701234567");
        ok("22 12 34 56", "NO", "+4722123456");
        ok("+47 412 34 567", "TR", "+4741234567");
        ok("32 12 34 56", "DK", "+4532123456");
        ok("+45 32 12 34 56", "TR", "+4532123456");
        // PL, GR, PT, IE
        ok("22 123 45 67", "PL", "+48221234567");
        ok("+48 601 234 567", "TR", "+48601234567");
        ok("210 123 4567", "GR", "+302101234567");
        ok("+30 694 123 4567", "TR", "+306941234567");
        ok("21 123 4567", "PT", "+351211234567");
        ok("+351 912 345 678", "TR", "+351912345678");
        ok("01 671 2345", "IE", "+35316712345");
        ok("087 123 4567", "IE", "+353871234567");
        ok("+353 87 123 4567", "TR", "+353871234567");
    }

    #[test]
    fn russia_and_asia() {
        ok("8 (916) 123-45-67", "RU", "+79161234567");
        ok("+7 916 123 45 67", "RU", "+79161234567");
        ok("+7 916 123 45 67", "TR", "+79161234567");
        ok("79161234567", "RU", "+79161234567");
        ok("9161234567", "RU", "+79161234567");
        ok("8 812 123 45 67", "RU", "+78121234567");
        ok("8 10 44 20 7946 0018", "RU", "+442079460018");
        ok("050 123 45 67", "AZ", "+994501234567");
        ok("+994 50 123 45 67", "TR", "+994501234567");
        ok("050 123 4567", "AE", "+971501234567");
        ok("04 123 4567", "AE", "+97141234567");
        ok("+971 50 123 4567", "TR", "+971501234567");
        ok("050 123 4567", "SA", "+966501234567");
        ok("011 234 5678", "SA", "+966112345678");
        ok("+966 50 123 4567", "TR", "+966501234567");
        ok("098456 12370", "IN", "+919845612370");
        ok("+91 98456 12370", "TR", "+919845612370");
        ok("010 6552 9988", "CN", "+861065529988");
        ok("138 0013 8000", "CN", "+8613800138000");
        ok("+86 138 0013 8000", "TR", "+8613800138000");
        ok("03-1234-5678", "JP", "+81312345678");
        ok("090-1234-5678", "JP", "+819012345678");
        ok("+81 90 1234 5678", "TR", "+819012345678");
        ok("(02) 9876 5432", "AU", "+61298765432");
        ok("0412 345 678", "AU", "+61412345678");
        ok("+61 412 345 678", "TR", "+61412345678");
    }

    #[test]
    fn americas() {
        ok("(11) 91234-5678", "BR", "+5511912345678");
        ok("011 91234 5678", "BR", "+5511912345678");
        ok("+55 11 91234-5678", "TR", "+5511912345678");
        ok("55 1234 5678", "MX", "+525512345678");
        ok("044 55 1234 5678", "MX", "+525512345678");
        ok("01 55 1234 5678", "MX", "+525512345678");
        ok("+52 55 1234 5678", "TR", "+525512345678");
        ok("+52 1 55 1234 5678", "TR", "+525512345678");
    }

    #[test]
    fn other_calling_codes_accepted() {
        ok("+386 1 426 55 10", "TR", "+38614265510"); // SI: not in the plans table
        ok("+998 90 123 45 67", "TR", "+998901234567");
        ok("+1 684 733 1234", "TR", "+16847331234"); // American Samoa (NANP)
        ok("+882 1634 5678", "TR", "+88216345678");
        err("+386 12", "TR", "invalid_format");
        err("+386 1234 5678 9012 3", "TR", "invalid_format");
    }

    #[test]
    fn unknown_country() {
        err("+999 123 4567", "TR", "unknown_country");
        err("+28 1234 5678", "TR", "unknown_country");
        err("+0 532 123 45 67", "TR", "unknown_country");
        err("00 999 1234567", "TR", "unknown_country");
        err("0532 123 45 67", "XX", "unknown_country");
        err("0532 123 45 67", "", "unknown_country");
        ok("+90 532 123 45 67", "XX", "+905321234567");
        ok("0090 532 123 45 67", "", "+905321234567");
        ok("0532 123 45 67", " tr ", "+905321234567");
    }

    #[test]
    fn placeholders() {
        for v in [
            "0000000000",
            "5555555555",
            "1111111",
            "1234567890",
            "0123456789",
            "9876543210",
            "+90 555 555 55 55",
            "0555 555 55 55",
            "+90 000 000 00 00",
            "+1 111 111 1111",
            "+44 1234 567890",
            "00000",
        ] {
            err(v, "TR", "placeholder");
        }
    }

    #[test]
    fn invalid() {
        for v in [
            "0532 ABC 45 67",
            "1-800-FLOWERS",
            "call me",
            "Tel 0532 123 45 67",
            "Cep: 0532 123 45 67",
            "ext 12",
            "0532 123 45 67 ext",
            "0532 123 45 67 ext abc",
            "0532 123 45 6",
            "0532 123 45 678",
            "+90 532 123 45",
            "05321234567 0533",
            "+",
            "++90 532 123 45 67",
            "0532+1234567",
            "0532 123 45 67 😀",
            "0532_123_45_67",
            "",
            "   ",
            "-",
        ] {
            err(v, "TR", "invalid_format");
        }
        err(&"5".repeat(21), "TR", "invalid_format");
        err(&"12".repeat(100_000), "TR", "invalid_format");
    }

    #[test]
    fn unicode_digits() {
        ok("٠٥٣٢ ١٢٣ ٤٥ ٦٧", "TR", "+905321234567");
        ok("۰۵۳۲۱۲۳۴۵۶۷", "TR", "+905321234567");
        ok("０５３２－１２３－４５６７", "TR", "+905321234567");
        ok(
            "+90\u{a0}532\u{a0}123\u{a0}45\u{a0}67",
            "TR",
            "+905321234567",
        );
        ok("＋90 532 123 45 67", "TR", "+905321234567");
    }
}

//! Placeholder detection shared by every attribute, plus helpers for digit-pattern placeholders.

use super::words::Words;
use super::Attr;

/// Generic placeholders, compared case- and whitespace-insensitively (Turkish letters folded).
pub const GENERIC: [&str; 24] = [
    "n/a",
    "na",
    "none",
    "null",
    "nil",
    "-",
    "--",
    "?",
    "unknown",
    "bilinmiyor",
    "yok",
    "test",
    "xxx",
    "asdf",
    "abc",
    ".",
    "0",
    // a few more of the same kind
    "#n/a",
    "n.a.",
    "n.a",
    "undefined",
    "unbekannt",
    "belirtilmemis",
    "notavailable",
];

/// Extra placeholders for external_id / anonymous_id (tracking-script and export artefacts).
pub const ID_EXTRA: [&str; 8] = [
    "(null)", "<null>", "[null]", "nan", "{}", "[]", "\"\"", "''",
];

static GENERIC_SET: Words<24> = Words::new(GENERIC);
static ID_EXTRA_SET: Words<8> = Words::new(ID_EXTRA);

/// `PAIRS[a] & (1 << b)`: some placeholder starts with the (lowercase ASCII) bytes `a`, `b`.
const PAIRS: [u128; 128] = {
    let mut t = [0u128; 128];
    let mut i = 0;
    while i < GENERIC.len() + ID_EXTRA.len() {
        let w = if i < GENERIC.len() {
            GENERIC[i]
        } else {
            ID_EXTRA[i - GENERIC.len()]
        };
        let w = w.as_bytes();
        if w.len() >= 2 {
            t[w[0] as usize] |= 1u128 << w[1];
        }
        i += 1;
    }
    t
};

/// Whether a value whose first two bytes are `b0`, `b1` (`b1` = 0: a one-byte value) may be a
/// placeholder. Conservative: true whenever folding could still make it one.
const fn maybe_placeholder(b0: u8, b1: u8) -> bool {
    if b0 >= 0x80 {
        return false; // every placeholder starts with an ASCII character
    }
    let l0 = b0.to_ascii_lowercase();
    let starts = PAIRS[l0 as usize] != 0 || is_filler_punct(l0);
    if b1 == 0 {
        // one byte: a filler character or a one-letter entry ("0")
        return is_filler_punct(l0) || l0 == b'0';
    }
    if matches!(b1, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
        return starts; // whitespace inside ("n / a")
    }
    if b1 >= 0x80 {
        // a Turkish dotted/dotless i as second letter ("BİLİNMİYOR", "NİL")
        return (PAIRS[l0 as usize] >> b'i') & 1 == 1;
    }
    let l1 = b1.to_ascii_lowercase();
    (is_filler_punct(l0) && is_filler_punct(l1)) || (PAIRS[l0 as usize] >> l1) & 1 == 1
}

/// Bitmap over (first byte << 8 | second byte) of [`maybe_placeholder`].
static MAYBE: [u64; 1024] = {
    let mut t = [0u64; 1024];
    let mut i = 0;
    while i < 65536 {
        if maybe_placeholder((i >> 8) as u8, (i & 0xFF) as u8) {
            t[i >> 6] |= 1 << (i & 63);
        }
        i += 1;
    }
    t
};

/// Longest folded form that can still be a placeholder.
const MAX_LEN: usize = 15;

/// Punctuation that on its own is never a value ("---", "...", "??", "*").
const fn is_filler_punct(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'.' | b'?' | b'_' | b'*' | b'/' | b'\\' | b'#' | b'~' | b'!' | b'=' | b'+'
    )
}

/// Fold `v` into `buf` (ASCII-lowercase, no whitespace, a few Turkish letters folded). Returns
/// the used length, or None when the folded form is too long (then it is no placeholder).
fn fold_compact(v: &str, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let mut n = 0;
    if v.is_ascii() {
        for &c in v.as_bytes() {
            if c.is_ascii_whitespace() {
                continue;
            }
            if n == MAX_LEN {
                return None;
            }
            buf[n] = c.to_ascii_lowercase();
            n += 1;
        }
        return Some(n);
    }
    for c in v.chars() {
        if c.is_whitespace() {
            continue;
        }
        let b = if c.is_ascii() {
            c.to_ascii_lowercase() as u8
        } else {
            match c {
                'ı' | 'İ' => b'i',
                'ş' | 'Ş' => b's',
                'ğ' | 'Ğ' => b'g',
                'ü' | 'Ü' => b'u',
                'ö' | 'Ö' => b'o',
                'ç' | 'Ç' => b'c',
                _ => return None,
            }
        };
        if n == MAX_LEN {
            return None;
        }
        buf[n] = b;
        n += 1;
    }
    Some(n)
}

/// True when `v` is a generic placeholder for `attr`.
///
/// Exception: "nil" is a common Turkish given name, so it is not a placeholder for first_name.
pub fn is_generic(attr: Attr, v: &str) -> bool {
    let v = super::fast_trim(v);
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_LEN * 3 {
        return false;
    }
    // cheap rejection on the first two bytes (the usual case: a real value)
    let idx = (b[0] as usize) << 8 | b.get(1).copied().unwrap_or(0) as usize;
    if (MAYBE[idx >> 6] >> (idx & 63)) & 1 == 0 {
        return false;
    }
    let mut buf = [0u8; MAX_LEN];
    let Some(n) = fold_compact(v, &mut buf) else {
        return false;
    };
    let f = &buf[..n];
    if f.is_empty() {
        return false;
    }
    if f.iter().all(|&c| is_filler_punct(c)) {
        return true;
    }
    if GENERIC_SET.contains_bytes(f) {
        return !(attr == Attr::FirstName && f == b"nil");
    }
    matches!(attr, Attr::ExternalId | Attr::AnonymousId) && ID_EXTRA_SET.contains_bytes(f)
}

/// All bytes equal (and at least `min` of them).
pub fn all_same(d: &[u8], min: usize) -> bool {
    d.len() >= min && d.iter().all(|&c| c == d[0])
}

/// Digits forming a consecutive ascending or descending run, at least `min` long:
/// a substring of "01234567890" or "09876543210" ("1234567890", "0123456789", "9876543210").
pub fn is_digit_run(d: &[u8], min: usize) -> bool {
    if d.len() < min.max(2) || d.len() > 11 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let last = d.len() - 1;
    let up = (0..last)
        .all(|i| d[i + 1] == d[i] + 1 || (d[i] == b'9' && d[i + 1] == b'0' && i + 1 == last));
    up || (0..last).all(|i| d[i + 1] + 1 == d[i] || (d[i] == b'0' && d[i + 1] == b'9' && i == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_placeholders_for_every_attribute() {
        let list = [
            "n/a",
            "N/A",
            " n / a ",
            "na",
            "NA",
            "none",
            "None",
            "NULL",
            "null",
            "nil",
            "-",
            "--",
            "?",
            "unknown",
            "UNKNOWN",
            "bilinmiyor",
            "BİLİNMİYOR",
            "yok",
            "YOK",
            "test",
            "Test",
            "xxx",
            "XXX",
            "asdf",
            "abc",
            ".",
            "0",
            " 0 ",
            "---",
            "...",
            "??",
            "#N/A",
            "undefined",
        ];
        for a in Attr::ALL {
            for p in list {
                if a == Attr::FirstName && p == "nil" {
                    continue;
                }
                assert!(is_generic(a, p), "{a:?} {p:?}");
            }
        }
        assert!(!is_generic(Attr::FirstName, "nil"));
        assert!(!is_generic(Attr::FirstName, "Nil"));
        assert!(is_generic(Attr::LastName, "nil"));
        // whitespace / Turkish letters inside the first two characters
        assert!(is_generic(Attr::City, "N /A"));
        assert!(is_generic(Attr::City, "n a"));
        assert!(is_generic(Attr::City, "Bİlinmiyor"));
        assert!(is_generic(Attr::City, "BİLİNMİYOR"));
        assert!(is_generic(Attr::City, "bılınmıyor"));
        assert!(is_generic(Attr::City, "BELİRTİLMEMİŞ"));
        assert!(is_generic(Attr::LastName, "NİL"));
        assert!(is_generic(Attr::City, "YOK "));
        assert!(is_generic(Attr::City, "- -"));
        assert!(is_generic(Attr::City, "-."));
    }

    #[test]
    fn lists_match_the_implementation() {
        for p in GENERIC {
            assert!(is_generic(Attr::City, p), "{p:?}");
            assert!(is_generic(Attr::City, &p.to_uppercase()), "{p:?}");
        }
        for p in ID_EXTRA {
            assert!(is_generic(Attr::ExternalId, p), "{p:?}");
            assert!(is_generic(Attr::AnonymousId, p), "{p:?}");
        }
    }

    #[test]
    fn real_values_are_not_placeholders() {
        for v in [
            "Ali",
            "nate",
            "tester",
            "abcd",
            "00",
            "01",
            "x",
            "xx",
            "Ayşe",
            "test@test.com",
            "N/A1",
            "nulls",
            "İstanbul",
            "a very long value that is certainly not a placeholder",
            "\u{301}",
            "😀",
        ] {
            assert!(!is_generic(Attr::City, v), "{v:?}");
        }
    }

    #[test]
    fn id_extras_only_for_ids() {
        assert!(is_generic(Attr::ExternalId, "(null)"));
        assert!(is_generic(Attr::AnonymousId, "NaN"));
        assert!(!is_generic(Attr::LastName, "Nan"));
        assert!(!is_generic(Attr::City, "(null)"));
    }

    #[test]
    fn digit_patterns() {
        assert!(all_same(b"0000000000", 5));
        assert!(all_same(b"5555555555", 5));
        assert!(!all_same(b"5555", 5));
        assert!(!all_same(b"5555555556", 5));
        assert!(is_digit_run(b"1234567890", 6));
        assert!(is_digit_run(b"0123456789", 6));
        assert!(is_digit_run(b"9876543210", 6));
        assert!(is_digit_run(b"0987654321", 6));
        assert!(!is_digit_run(b"7890123", 6));
        assert!(!is_digit_run(b"9012345678", 6));
        assert!(!is_digit_run(b"012345678901", 6));
        assert!(!is_digit_run(b"0123456789012", 6));
        assert!(is_digit_run(b"567890", 6));
        assert!(!is_digit_run(b"5678901", 6));
        assert!(is_digit_run(b"098765", 6));
        assert!(!is_digit_run(b"109876", 6));
        assert!(!is_digit_run(b"90123456", 6));
        // exhaustive check against the substring definition
        for len in 2..=12usize {
            for start in 0..=9u8 {
                for dir in [1i8, -1] {
                    let d: Vec<u8> = (0..len)
                        .map(|i| {
                            b'0' + ((start as i32 + dir as i32 * i as i32).rem_euclid(10)) as u8
                        })
                        .collect();
                    let want = len >= 6
                        && (b"01234567890".windows(len).any(|w| w == &d[..])
                            || b"09876543210".windows(len).any(|w| w == &d[..]));
                    assert_eq!(is_digit_run(&d, 6), want, "{:?}", std::str::from_utf8(&d));
                }
            }
        }
        assert!(!is_digit_run(b"12345", 6));
        assert!(!is_digit_run(b"1234567891", 6));
        assert!(!is_digit_run(b"1111111", 6));
        assert!(!is_digit_run(b"12345a", 6));
    }
}

//! E-mail addresses: validation, lowercasing, placeholder detection and a blocking key.

use super::words::Words;
use super::{find_byte, reason, rfind_byte};

/// Domains whose every address is a placeholder.
pub const PLACEHOLDER_DOMAINS: [&str; 6] = [
    "test.com",
    "example.com",
    "example.org",
    "example.net",
    "mailinator.com",
    "test.test",
];

/// Reserved top-level domains (RFC 2606 / 6761): never a real mailbox.
pub const RESERVED_TLDS: [&str; 4] = ["test", "example", "invalid", "localhost"];

/// Local parts that are placeholders at any domain.
pub const PLACEHOLDER_LOCALS: [&str; 23] = [
    "test",
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "none",
    "null",
    "nil",
    "asdf",
    "qwerty",
    "abc",
    "nomail",
    "noemail",
    "no-email",
    "no.email",
    "nobody",
    "unknown",
    "dummy",
    "fake",
    "invalid",
    "na",
];

static DOMAIN_SET: Words<6> = Words::new(PLACEHOLDER_DOMAINS);
static TLD_SET: Words<4> = Words::new(RESERVED_TLDS);
static LOCAL_SET: Words<23> = Words::new(PLACEHOLDER_LOCALS);

#[inline]
fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
                | b'-'
        )
}

/// Local part: 1–64 allowed characters, no leading, trailing or double dot.
fn valid_local(l: &[u8]) -> bool {
    if l.is_empty() || l.len() > 64 || l[0] == b'.' || l[l.len() - 1] == b'.' {
        return false;
    }
    let mut prev_dot = false;
    for &c in l {
        if c == b'.' {
            if prev_dot {
                return false;
            }
            prev_dot = true;
        } else {
            prev_dot = false;
            if !is_local_char(c) {
                return false;
            }
        }
    }
    true
}

/// Domain (lowercase already): at least two labels of [a-z0-9-] (1–63 chars, no leading or
/// trailing '-'), alphabetic top-level domain of at least 2 letters, at most 253 chars.
fn valid_domain(d: &[u8]) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let mut start = 0;
    let mut labels = 0;
    for i in 0..=d.len() {
        if i < d.len() && d[i] != b'.' {
            let c = d[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
                return false;
            }
            continue;
        }
        let len = i - start;
        if len == 0 || len > 63 || d[start] == b'-' || d[i - 1] == b'-' {
            return false;
        }
        labels += 1;
        if i == d.len() {
            return labels >= 2 && len >= 2 && d[start..].iter().all(u8::is_ascii_lowercase);
        }
        start = i + 1;
    }
    false
}

/// Strip a leading "mailto:" (any case).
fn strip_mailto(v: &str) -> &str {
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => v[7..].trim_start(),
        _ => v,
    }
}

/// Normalise an e-mail address: trimmed, "mailto:" stripped, lowercased, googlemail.com →
/// gmail.com. Dots and "+tags" are kept (see [`match_key`]).
///
/// Errors: `invalid_format` (not exactly one '@', bad local part or domain, spaces, non-ASCII),
/// `placeholder` (test@test.com, anything@example.com, noreply@..., a@a.com, ...).
pub fn normalise(raw: &str) -> Result<String, &'static str> {
    let v = strip_mailto(super::fast_trim(raw));
    let b = v.as_bytes();
    if b.len() > 64 + 1 + 253 {
        return Err(reason::INVALID_FORMAT);
    }
    let mut at = None;
    for (i, &c) in b.iter().enumerate() {
        if !c.is_ascii_graphic() || (c == b'@' && at.replace(i).is_some()) {
            return Err(reason::INVALID_FORMAT);
        }
    }
    let Some(at) = at else {
        return Err(reason::INVALID_FORMAT);
    };
    let mut out = v.to_ascii_lowercase();
    if !valid_local(&out.as_bytes()[..at]) || !valid_domain(&out.as_bytes()[at + 1..]) {
        return Err(reason::INVALID_FORMAT);
    }
    if &out[at + 1..] == "googlemail.com" {
        out.truncate(at + 1);
        out.push_str("gmail.com");
    }
    if is_placeholder(&out[..at], &out[at + 1..]) {
        return Err(reason::PLACEHOLDER);
    }
    Ok(out)
}

/// Placeholder address (both parts lowercase, already valid).
pub fn is_placeholder(local: &str, domain: &str) -> bool {
    // the last two labels decide ("mail.example.com" → "example.com")
    let (registrable, tld) = match rfind_byte(domain, b'.') {
        Some(last_dot) => match rfind_byte(&domain[..last_dot], b'.') {
            Some(i) => (&domain[i + 1..], &domain[last_dot + 1..]),
            None => (domain, &domain[last_dot + 1..]),
        },
        None => (domain, domain),
    };
    if DOMAIN_SET.contains(registrable) || TLD_SET.contains(tld) {
        return true;
    }
    // the part before a +tag decides
    let base = match find_byte(local, b'+') {
        Some(i) => &local[..i],
        None => local,
    };
    if LOCAL_SET.contains(base) {
        return true;
    }
    // test1, test123
    if let Some(rest) = base.strip_prefix("test") {
        if !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit()) {
            return true;
        }
    }
    // a@..., aa@..., xxx@xxx.com
    let lb = base.as_bytes();
    !lb.is_empty() && lb.iter().all(|&c| c == lb[0])
}

/// Blocking key: lowercased; a "+tag" in the local part dropped for every domain; for gmail.com
/// (and googlemail.com) also the dots of the local part dropped and the domain unified.
/// A string without '@' is returned lowercased.
pub fn match_key(email: &str) -> String {
    let e = email.trim();
    let Some(at) = e.rfind('@') else {
        return e.to_lowercase();
    };
    let local = &e[..at];
    let domain = e[at + 1..].to_ascii_lowercase();
    let local = local.split('+').next().unwrap_or(local);
    let gmail = domain == "gmail.com" || domain == "googlemail.com";
    let mut out = String::with_capacity(e.len());
    for c in local.chars() {
        if !(gmail && c == '.') {
            out.extend(c.to_lowercase());
        }
    }
    out.push('@');
    out.push_str(if gmail { "gmail.com" } else { &domain });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses() {
        assert_eq!(
            normalise("  Ayse.Yilmaz@Example.co.UK "),
            Ok("ayse.yilmaz@example.co.uk".into())
        );
        assert_eq!(
            normalise("MAILTO:Bob@Company.com"),
            Ok("bob@company.com".into())
        );
        assert_eq!(
            normalise("mailto:bob@company.com"),
            Ok("bob@company.com".into())
        );
        assert_eq!(
            normalise("john.doe+news@gmail.com"),
            Ok("john.doe+news@gmail.com".into())
        );
        assert_eq!(
            normalise("John.Doe@GoogleMail.com"),
            Ok("john.doe@gmail.com".into())
        );
        assert_eq!(
            normalise("o'brien@mail-1.example.ie"),
            Ok("o'brien@mail-1.example.ie".into())
        );
        assert_eq!(
            normalise("a_b-c!#$%&*/=?^`{|}~@x1.io"),
            Ok("a_b-c!#$%&*/=?^`{|}~@x1.io".into())
        );
        assert_eq!(
            normalise("user@xn--mnchen-3ya.de"),
            Ok("user@xn--mnchen-3ya.de".into())
        );
        let l64 = "b".repeat(63) + "c";
        assert_eq!(
            normalise(&format!("{l64}@x.com")),
            Ok(format!("{l64}@x.com"))
        );
    }

    #[test]
    fn invalid_addresses() {
        for v in [
            "plainaddress",
            "@no-local.com",
            "two@@at.com",
            "a@b@c.com",
            "user@",
            "user@localhostonly",
            "user@domain.c",
            "user@domain.c0m",
            "user@domain.123",
            "user@-domain.com",
            "user@domain-.com",
            "user@domain..com",
            "user@.domain.com",
            "user@domain.com.",
            ".user@domain.com",
            "user.@domain.com",
            "us..er@domain.com",
            "us er@domain.com",
            "user@dom ain.com",
            "user@dom_ain.com",
            "user(comment)@domain.com",
            "\"quoted\"@domain.com",
            "jösé@domain.com",
            "user@dömain.com",
            "user@domain.com\u{0}",
            "ali😀@x.com",
        ] {
            assert_eq!(normalise(v), Err("invalid_format"), "{v:?}");
        }
        let l65 = "b".repeat(64) + "c";
        assert_eq!(normalise(&format!("{l65}@x.com")), Err("invalid_format"));
        let long_label = "d".repeat(64);
        assert_eq!(
            normalise(&format!("u@{long_label}.com")),
            Err("invalid_format")
        );
    }

    #[test]
    fn placeholder_addresses() {
        for v in [
            "test@test.com",
            "TEST@TEST.COM",
            "john@test.com",
            "jane@example.com",
            "jane@example.org",
            "jane@example.net",
            "jane@mail.example.com",
            "x123@mailinator.com",
            "a@test.test",
            "user@foo.invalid",
            "test@gmail.com",
            "test+1@gmail.com",
            "test123@hotmail.com",
            "noreply@company.com",
            "no-reply@company.com",
            "none@company.com",
            "null@company.com",
            "asdf@company.com",
            "a@a.com",
            "aa@company.com",
            "aaa@company.com",
            "xxx@xxx.com",
            "x@gmail.com",
        ] {
            assert_eq!(normalise(v), Err("placeholder"), "{v:?}");
        }
        for v in [
            "tester@company.com",
            "ab@company.com",
            "atest@x.com",
            "me@notexample.com",
        ] {
            assert!(normalise(v).is_ok(), "{v:?}");
        }
        // the public helper tolerates anything
        assert!(is_placeholder("x", "test"));
        assert!(!is_placeholder("ali", "é"));
        assert!(!is_placeholder("ali", ""));
        assert!(!is_placeholder("", "x.com"));
    }

    #[test]
    fn blocking_key() {
        assert_eq!(match_key("john.doe+news@gmail.com"), "johndoe@gmail.com");
        assert_eq!(match_key("J.O.H.N.DOE@googlemail.com"), "johndoe@gmail.com");
        assert_eq!(
            match_key("john.doe+news@company.com"),
            "john.doe@company.com"
        );
        assert_eq!(match_key("John.Doe@Company.com"), "john.doe@company.com");
        assert_eq!(match_key("no-at-sign"), "no-at-sign");
        assert_eq!(match_key("+tag@x.com"), "@x.com");
        assert_eq!(
            match_key(&normalise("Ayse.Yilmaz+x@GoogleMail.com").unwrap()),
            match_key("ayseyilmaz@gmail.com")
        );
    }
}

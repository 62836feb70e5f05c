//! Birth dates → "YYYY-MM-DD".

use super::{reason, DateOrder};

/// A calendar date (year, month, day).
pub type Ymd = (i32, u32, u32);

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

pub fn is_valid(y: i32, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Up to 4 ASCII digits → number.
fn num(s: &[u8]) -> u32 {
    s.iter().fold(0, |a, &c| a * 10 + (c - b'0') as u32)
}

/// Date part and whether what follows it is an acceptable time part ("T10:00:00Z",
/// " 00:00:00.000+03:00", " 00:00:00 UTC").
fn split_time(v: &str) -> Option<&str> {
    let b = v.as_bytes();
    let end = b
        .iter()
        .position(|c| !(c.is_ascii_digit() || matches!(c, b'-' | b'/' | b'.')))
        .unwrap_or(b.len());
    if end == b.len() {
        return Some(v);
    }
    let rest = &b[end..];
    let sep_ok = matches!(rest[0], b'T' | b't' | b' ');
    let digit_follows = rest.get(1).is_some_and(u8::is_ascii_digit);
    (sep_ok && digit_follows).then(|| &v[..end])
}

/// Parse a date. Formats: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD` (with any time
/// part after it ignored), `DD.MM.YYYY`, `DD/MM/YYYY`, `DD-MM-YYYY` (day and month 1–2 digits;
/// the two leading numbers are read per `order`, and the other way round when only that gives a
/// real date). An 8-digit value that is no real `YYYYMMDD` date is also tried as `DDMMYYYY` /
/// `MMDDYYYY` (per `order`) when that gives a real date in 1900–2099.
///
/// Errors: `impossible_date` (no such day: 30.02.1990, 2001-13-01), `placeholder` (all zeros:
/// 0000-00-00), `invalid_format` (anything else). No plausibility check (see [`normalise`]).
pub fn parse(raw: &str, order: DateOrder) -> Result<Ymd, &'static str> {
    let v = super::fast_trim(raw);
    if v.len() > 40 {
        return Err(reason::INVALID_FORMAT);
    }
    let Some(d) = split_time(v) else {
        return Err(reason::INVALID_FORMAT);
    };
    let b = d.as_bytes();
    if b.is_empty() {
        return Err(reason::INVALID_FORMAT);
    }
    if b.iter().all(|c| matches!(c, b'0' | b'-' | b'/' | b'.')) && b.contains(&b'0') {
        return Err(reason::PLACEHOLDER);
    }
    if b.iter().all(u8::is_ascii_digit) {
        if b.len() != 8 {
            return Err(reason::INVALID_FORMAT);
        }
        let (y, m, dd) = (num(&b[..4]) as i32, num(&b[4..6]), num(&b[6..]));
        if is_valid(y, m, dd) {
            return Ok((y, m, dd));
        }
        // DDMMYYYY / MMDDYYYY
        let (a, c, y2) = (num(&b[..2]), num(&b[2..4]), num(&b[4..]) as i32);
        if (1900..2100).contains(&y2) {
            if let Some(r) = two_ways(y2, a, c, order) {
                return Ok(r);
            }
        }
        return Err(reason::IMPOSSIBLE_DATE);
    }
    // three groups of digits separated by one kind of separator
    let sep = b[b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(0)];
    let mut groups = [&b[..0]; 3];
    let mut n = 0;
    for g in b.split(|&c| c == sep) {
        if n == 3 || g.is_empty() || !g.iter().all(u8::is_ascii_digit) {
            return Err(reason::INVALID_FORMAT);
        }
        groups[n] = g;
        n += 1;
    }
    if n != 3 {
        return Err(reason::INVALID_FORMAT);
    }
    let [g0, g1, g2] = groups;
    if g0.len() == 4 && g1.len() <= 2 && g2.len() <= 2 {
        let (y, m, dd) = (num(g0) as i32, num(g1), num(g2));
        return if is_valid(y, m, dd) {
            Ok((y, m, dd))
        } else {
            Err(reason::IMPOSSIBLE_DATE)
        };
    }
    if g2.len() == 4 && g0.len() <= 2 && g1.len() <= 2 {
        let y = num(g2) as i32;
        return two_ways(y, num(g0), num(g1), order).ok_or(reason::IMPOSSIBLE_DATE);
    }
    Err(reason::INVALID_FORMAT)
}

/// `a`/`b` are day/month per `order`, or the other way round when only that is a real date.
fn two_ways(y: i32, a: u32, b: u32, order: DateOrder) -> Option<Ymd> {
    let (first, second) = match order {
        DateOrder::Dmy => ((b, a), (a, b)),
        DateOrder::Mdy => ((a, b), (b, a)),
    };
    for (m, d) in [first, second] {
        if is_valid(y, m, d) {
            return Some((y, m, d));
        }
    }
    None
}

/// "YYYY-MM-DD" (year zero-padded to 4 digits).
pub fn format((y, m, d): Ymd) -> String {
    let mut s = String::with_capacity(10);
    let y = y.clamp(0, 9999) as u32;
    for v in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
        s.push((b'0' + v as u8) as char);
    }
    for v in [m, d] {
        s.push('-');
        s.push((b'0' + (v / 10 % 10) as u8) as char);
        s.push((b'0' + (v % 10) as u8) as char);
    }
    s
}

/// Birth-date check: before 1900 or after `today` → `implausible_date`.
pub fn check_plausible(date: Ymd, today: Ymd) -> Result<Ymd, &'static str> {
    if date.0 < 1900 || date > today {
        Err(reason::IMPLAUSIBLE_DATE)
    } else {
        Ok(date)
    }
}

/// Parse ([`parse`]), check plausibility as a birth date ([`check_plausible`]) and format
/// ([`format`]).
pub fn normalise(raw: &str, order: DateOrder, today: Ymd) -> Result<String, &'static str> {
    let d = parse(raw, order)?;
    check_plausible(d, today).map(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DateOrder::{Dmy, Mdy};

    const TODAY: Ymd = (2026, 1, 1);

    fn n(v: &str) -> Result<String, &'static str> {
        normalise(v, Dmy, TODAY)
    }

    #[test]
    fn accepted_formats() {
        assert_eq!(n("1990-05-17"), Ok("1990-05-17".into()));
        assert_eq!(n("1990-5-7"), Ok("1990-05-07".into()));
        assert_eq!(n("1990/05/17"), Ok("1990-05-17".into()));
        assert_eq!(n("1990.05.17"), Ok("1990-05-17".into()));
        assert_eq!(n("19900517"), Ok("1990-05-17".into()));
        assert_eq!(n("17.05.1990"), Ok("1990-05-17".into()));
        assert_eq!(n("7.5.1990"), Ok("1990-05-07".into()));
        assert_eq!(n("17/05/1990"), Ok("1990-05-17".into()));
        assert_eq!(n("17-05-1990"), Ok("1990-05-17".into()));
        assert_eq!(n(" 1990-05-17 "), Ok("1990-05-17".into()));
    }

    #[test]
    fn time_part_ignored() {
        assert_eq!(n("1990-05-17T00:00:00Z"), Ok("1990-05-17".into()));
        assert_eq!(n("1990-05-17 13:45:00.123+03:00"), Ok("1990-05-17".into()));
        assert_eq!(n("1990-05-17 00:00:00 UTC"), Ok("1990-05-17".into()));
        assert_eq!(n("17.05.1990 00:00"), Ok("1990-05-17".into()));
        assert_eq!(n("1990-05-17 hello"), Err("invalid_format"));
        assert_eq!(n("1990-05-17T"), Err("invalid_format"));
    }

    #[test]
    fn ambiguous_order() {
        assert_eq!(normalise("05/04/1990", Dmy, TODAY), Ok("1990-04-05".into()));
        assert_eq!(normalise("05/04/1990", Mdy, TODAY), Ok("1990-05-04".into()));
        // invalid the configured way, valid the other way
        assert_eq!(normalise("05/25/1990", Dmy, TODAY), Ok("1990-05-25".into()));
        assert_eq!(normalise("25/05/1990", Mdy, TODAY), Ok("1990-05-25".into()));
        assert_eq!(normalise("25.05.1990", Mdy, TODAY), Ok("1990-05-25".into()));
        // 8 digits that are no YYYYMMDD
        assert_eq!(normalise("17051990", Dmy, TODAY), Ok("1990-05-17".into()));
        assert_eq!(normalise("05171990", Dmy, TODAY), Ok("1990-05-17".into()));
    }

    #[test]
    fn impossible_dates() {
        for v in [
            "30.02.1990",
            "2001-13-01",
            "1990-02-30",
            "1990-04-31",
            "31/04/1990",
            "2001-02-29",
            "1900-02-29",
            "1990-00-10",
            "1990-01-00",
            "32.01.1990",
            "13/13/1990",
            "99/99/1999",
            "20011301",
        ] {
            assert_eq!(n(v), Err("impossible_date"), "{v:?}");
        }
        // leap years
        assert_eq!(n("29.02.2000"), Ok("2000-02-29".into()));
        assert_eq!(n("1996-02-29"), Ok("1996-02-29".into()));
        assert_eq!(n("2000-02-30"), Err("impossible_date"));
    }

    #[test]
    fn implausible_dates() {
        assert_eq!(n("2026-01-02"), Err("implausible_date"));
        assert_eq!(n("2030-05-05"), Err("implausible_date"));
        assert_eq!(n("1899-12-31"), Err("implausible_date"));
        assert_eq!(n("01.01.1850"), Err("implausible_date"));
        assert_eq!(n("2026-01-01"), Ok("2026-01-01".into()));
        assert_eq!(n("1900-01-01"), Ok("1900-01-01".into()));
        assert_eq!(
            normalise("2026-01-02", Dmy, (2026, 6, 1)),
            Ok("2026-01-02".into())
        );
        // impossible wins over implausible
        assert_eq!(n("1850-02-30"), Err("impossible_date"));
    }

    #[test]
    fn invalid_formats() {
        for v in [
            "",
            "abc",
            "1990",
            "90-05-17",
            "17.05.90",
            "1990-05",
            "1990-05-17-01",
            "1990-05/17",
            "19900-05-17",
            "1990-005-17",
            "1990517",
            "199005171",
            "17 May 1990",
            "1990--05-17",
            "-1990-05-17",
            "1990-05-17-",
            "１９９０-05-17",
            "\u{301}",
            "😀",
        ] {
            assert_eq!(n(v), Err("invalid_format"), "{v:?}");
        }
        assert_eq!(n(&"1".repeat(10_000)), Err("invalid_format"));
    }

    #[test]
    fn zero_dates_are_placeholders() {
        assert_eq!(n("0000-00-00"), Err("placeholder"));
        assert_eq!(n("00.00.0000"), Err("placeholder"));
        assert_eq!(n("00000000"), Err("placeholder"));
        assert_eq!(n("0000-00-00 00:00:00"), Err("placeholder"));
    }

    #[test]
    fn helpers() {
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 13), 0);
        assert_eq!(format((987, 1, 2)), "0987-01-02");
        assert_eq!(parse("1990-05-17", Dmy), Ok((1990, 5, 17)));
        assert_eq!(parse("1850-05-17", Dmy), Ok((1850, 5, 17)));
        assert_eq!(check_plausible((1990, 5, 17), TODAY), Ok((1990, 5, 17)));
    }
}

//! Consent: the source columns that say whether a person agreed to be contacted on a channel or
//! profiled, read into statements (purpose, granted or not, when).
//!
//! A source maps them like identity attributes (`email_opt_in`, `sms_opt_in`, `push_opt_in`,
//! `profiling_opt_in`, and `consent_at`, the time of the statement, for all the purposes of the
//! row). Each sync turns a row's values into one statement per purpose it states; per profile
//! and purpose the most recent statement wins (`cdp.consent`). A value that cannot be read is a
//! statement with no answer and a reason, never silently dropped.

/// A purpose a person can agree to or refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    Email,
    Sms,
    Push,
    Profiling,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [Purpose::Email, Purpose::Sms, Purpose::Push, Purpose::Profiling];

    /// The purpose's name in `cdp.consent` and in `requires_consent`.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Email => "email",
            Purpose::Sms => "sms",
            Purpose::Push => "push",
            Purpose::Profiling => "profiling",
        }
    }

    pub fn from_name(s: &str) -> Option<Purpose> {
        Purpose::ALL.iter().copied().find(|p| p.name() == s)
    }

    /// A contact channel (what a segment can require), as opposed to profiling.
    pub fn is_channel(self) -> bool {
        self != Purpose::Profiling
    }
}

/// A consent column of a source mapping: one purpose's answer, or the time of the row's
/// statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    OptIn(Purpose),
    At,
}

impl Field {
    /// In the order of the raw values a sync stages after the identity attributes.
    pub const ALL: [Field; 5] = [
        Field::OptIn(Purpose::Email),
        Field::OptIn(Purpose::Sms),
        Field::OptIn(Purpose::Push),
        Field::OptIn(Purpose::Profiling),
        Field::At,
    ];
    pub const COUNT: usize = 5;

    /// The mapping key, e.g. `email_opt_in`.
    pub fn name(self) -> &'static str {
        match self {
            Field::OptIn(Purpose::Email) => "email_opt_in",
            Field::OptIn(Purpose::Sms) => "sms_opt_in",
            Field::OptIn(Purpose::Push) => "push_opt_in",
            Field::OptIn(Purpose::Profiling) => "profiling_opt_in",
            Field::At => "consent_at",
        }
    }

    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == s)
    }

    /// Position in [`Field::ALL`].
    pub fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// Why a consent value could not be used.
pub mod reason {
    /// the answer is neither a yes nor a no (e.g. "maybe", "2")
    pub const INVALID_CONSENT: &str = "invalid_consent";
    /// the time of the statement is not a date or timestamp; the sync's time stands for it
    pub const INVALID_TIME: &str = "invalid_consent_time";
}

const YES: [&str; 18] = [
    "true", "t", "yes", "y", "1", "on", "opt_in", "opt-in", "optin", "opted_in", "opted-in", "granted", "given",
    "accepted", "subscribed", "evet", "e", "var",
];
const NO: [&str; 21] = [
    "false", "f", "no", "n", "0", "off", "opt_out", "opt-out", "optout", "opted_out", "opted-out", "denied",
    "refused", "withdrawn", "revoked", "unsubscribed", "hayır", "hayir", "h", "yok", "none",
];

/// A yes or a no: PostgreSQL's boolean and integer forms, the usual English words and the
/// Turkish evet/hayır, in any case. An empty value states nothing (`Ok(None)`).
pub fn parse_answer(raw: &str) -> Result<Option<bool>, &'static str> {
    let v = raw.trim().to_lowercase();
    if v.is_empty() {
        return Ok(None);
    }
    if YES.contains(&v.as_str()) {
        Ok(Some(true))
    } else if NO.contains(&v.as_str()) {
        Ok(Some(false))
    } else {
        Err(reason::INVALID_CONSENT)
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// The time of a statement as PostgreSQL reads it back exactly (`YYYY-MM-DD HH:MM:SS[.f]+HH:MM`):
/// a date (midnight UTC), or a date and time with an optional offset (`Z`, `+03`, `+03:00`,
/// `+0300`; none: UTC, the time zone the sync reads sources in). The text forms of date,
/// timestamp and timestamptz columns are all of these.
pub fn parse_time(raw: &str) -> Result<String, &'static str> {
    let bad = reason::INVALID_TIME;
    let s = raw.trim();
    let (date, rest) = if s.len() > 10 { s.split_at(10) } else { (s, "") };
    let mut parts = date.split('-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) => (digits(y, 4).ok_or(bad)?, digits(m, 2).ok_or(bad)?, digits(d, 2).ok_or(bad)?),
        _ => return Err(bad),
    };
    if y == 0 || !crate::normalise::date::is_valid(y as i32, m, d) {
        return Err(bad);
    }
    let day = format!("{y:04}-{m:02}-{d:02}");
    if rest.is_empty() {
        return Ok(format!("{day} 00:00:00+00:00"));
    }
    let rest = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T')).ok_or(bad)?;
    // the clock: HH:MM[:SS[.fraction]], then the offset
    let split = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(split);
    let mut c = clock.trim_end().split(':');
    let (h, mi, sec) = match (c.next(), c.next(), c.next(), c.next()) {
        (Some(h), Some(mi), sec, None) => (digits(h, 2).ok_or(bad)?, digits(mi, 2).ok_or(bad)?, sec.unwrap_or("00")),
        _ => return Err(bad),
    };
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let sec = digits(whole, 2).ok_or(bad)?;
    if h > 23 || mi > 59 || sec > 59 || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 6 {
        return Err(bad);
    }
    let offset = match zone {
        "" | "Z" | "z" => "+00:00".to_string(),
        z => {
            let (sign, hm) = z.split_at(1);
            let (oh, om) = match hm.len() {
                2 => (digits(hm, 2), Some(0)),
                4 => (digits(&hm[..2], 2), digits(&hm[2..], 2)),
                5 if &hm[2..3] == ":" => (digits(&hm[..2], 2), digits(&hm[3..], 2)),
                _ => (None, None),
            };
            match (oh, om) {
                (Some(oh), Some(om)) if oh <= 15 && om <= 59 => format!("{sign}{oh:02}:{om:02}"),
                _ => return Err(bad),
            }
        }
    };
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    Ok(format!("{day} {h:02}:{mi:02}:{sec:02}{frac}{offset}"))
}

/// One purpose's statement in one source row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub purpose: Purpose,
    /// None: the answer could not be read (`reason` says why)
    pub granted: Option<bool>,
    /// the time the source gives, in [`parse_time`]'s form; None: the sync's time stands for it
    pub at: Option<String>,
    pub reason: Option<&'static str>,
}

/// The statements of one source row, from its consent values in [`Field::ALL`] order (None: not
/// mapped or NULL). A purpose with no value states nothing.
pub fn statements(values: &[Option<&str>]) -> Vec<Statement> {
    let value = |f: Field| values.get(f.index()).copied().flatten();
    let (at, time_reason) = match value(Field::At).map(str::trim).filter(|s| !s.is_empty()) {
        None => (None, None),
        Some(t) => match parse_time(t) {
            Ok(t) => (Some(t), None),
            Err(r) => (None, Some(r)),
        },
    };
    Purpose::ALL
        .iter()
        .filter_map(|&p| {
            let raw = value(Field::OptIn(p))?;
            match parse_answer(raw) {
                Ok(None) => None,
                Ok(Some(g)) => Some(Statement { purpose: p, granted: Some(g), at: at.clone(), reason: time_reason }),
                Err(r) => Some(Statement { purpose: p, granted: None, at: at.clone(), reason: Some(r) }),
            }
        })
        .collect()
}

/// Which profiles a segment leaves out for want of consent, as a boolean SQL expression over
/// the consent columns of `cdp.profile_facts` (`qualifier`: e.g. `f.`, or empty inside a rule):
/// a profile that refused profiling (or, when `profiling_requires_grant`, never granted it), and
/// for a segment that requires a channel, one that has not granted it.
pub fn blocked_sql(profiling_requires_grant: bool, requires: Option<Purpose>, qualifier: &str) -> String {
    let mut parts = vec![if profiling_requires_grant {
        format!("{qualifier}profiling_opt_in IS NOT TRUE")
    } else {
        format!("{qualifier}profiling_opt_in IS FALSE")
    }];
    if let Some(p) = requires.filter(|p| p.is_channel()) {
        parts.push(format!("{qualifier}{} IS NOT TRUE", Field::OptIn(p).name()));
    }
    format!("({})", parts.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_the_forms_sources_hold_them() {
        for yes in ["true", "t", "TRUE", " Yes ", "1", "opt-in", "Evet", "E", "granted"] {
            assert_eq!(parse_answer(yes), Ok(Some(true)), "{yes}");
        }
        for no in ["false", "f", "No", "0", "OFF", "opted_out", "Hayır", "HAYIR", "hayir", "withdrawn", "unsubscribed"] {
            assert_eq!(parse_answer(no), Ok(Some(false)), "{no}");
        }
        assert_eq!(parse_answer("  "), Ok(None));
        for bad in ["maybe", "2", "-1", "yes please", "ja"] {
            assert_eq!(parse_answer(bad), Err(reason::INVALID_CONSENT), "{bad}");
        }
    }

    #[test]
    fn times_from_date_timestamp_and_timestamptz_text() {
        assert_eq!(parse_time("2026-03-01").as_deref(), Ok("2026-03-01 00:00:00+00:00"));
        assert_eq!(parse_time("2026-03-01 14:05:09").as_deref(), Ok("2026-03-01 14:05:09+00:00"));
        assert_eq!(parse_time("2026-03-01 14:05:09.123456+00").as_deref(), Ok("2026-03-01 14:05:09.123456+00:00"));
        assert_eq!(parse_time("2026-03-01T14:05Z").as_deref(), Ok("2026-03-01 14:05:00+00:00"));
        assert_eq!(parse_time("2026-03-01T14:05:00+0300").as_deref(), Ok("2026-03-01 14:05:00+03:00"));
        assert_eq!(parse_time("2026-03-01 14:05:00-05:30").as_deref(), Ok("2026-03-01 14:05:00-05:30"));
        for bad in ["yesterday", "2026-02-30", "2026-13-01", "01/03/2026", "2026-03-01 25:00", "2026-03-01 10:00+99",
                    "0000-01-01", "2026-03-01 10:00:00.1234567", "2026-3-1", "2026-03-01X10:00"] {
            assert_eq!(parse_time(bad), Err(reason::INVALID_TIME), "{bad}");
        }
    }

    #[test]
    fn one_statement_per_purpose_stated_with_the_rows_time() {
        let s = statements(&[Some("yes"), None, Some(""), Some("no"), Some("2026-01-02")]);
        assert_eq!(
            s,
            vec![
                Statement { purpose: Purpose::Email, granted: Some(true), at: Some("2026-01-02 00:00:00+00:00".into()), reason: None },
                Statement { purpose: Purpose::Profiling, granted: Some(false), at: Some("2026-01-02 00:00:00+00:00".into()), reason: None },
            ]
        );
        // an unreadable answer is kept with its reason; an unreadable time leaves the sync's time
        let s = statements(&[Some("maybe"), Some("t"), None, None, Some("soon")]);
        assert_eq!(s[0], Statement { purpose: Purpose::Email, granted: None, at: None, reason: Some(reason::INVALID_CONSENT) });
        assert_eq!(s[1], Statement { purpose: Purpose::Sms, granted: Some(true), at: None, reason: Some(reason::INVALID_TIME) });
        assert!(statements(&[None, None, None, None, Some("2026-01-02")]).is_empty());
    }

    #[test]
    fn mapping_keys_round_trip_in_stage_order() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(Field::from_name(f.name()), Some(*f));
            assert_eq!(f.index(), i);
        }
        assert_eq!(Field::from_name("email"), None);
        assert_eq!(Purpose::from_name("profiling"), Some(Purpose::Profiling));
        assert!(!Purpose::Profiling.is_channel());
    }

    #[test]
    fn the_segment_gate() {
        assert_eq!(blocked_sql(false, None, "f."), "(f.profiling_opt_in IS FALSE)");
        assert_eq!(blocked_sql(true, None, ""), "(profiling_opt_in IS NOT TRUE)");
        assert_eq!(
            blocked_sql(false, Some(Purpose::Sms), "f."),
            "(f.profiling_opt_in IS FALSE OR f.sms_opt_in IS NOT TRUE)"
        );
        // profiling is not a channel a segment requires on top of the policy
        assert_eq!(blocked_sql(false, Some(Purpose::Profiling), ""), "(profiling_opt_in IS FALSE)");
    }
}

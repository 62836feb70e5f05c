//! Normalisation from SQL: the per-row function the sync statements call, and a helper for users.

use pgrx::prelude::*;

use crate::error::{CdpError, OrRaise, Kind};
use crate::gucs;
use crate::normalise::{self, Attr, DateOrder, Settings};

/// Today's civil date (UTC) from the Unix clock: used to flag birth dates in the future.
fn today() -> (i32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    civil_from_days(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + if m <= 2 { 1 } else { 0 }) as i32;
    (y, m, d)
}

/// The normaliser's settings from the current `cdp.*` GUC values.
pub fn current_settings() -> Settings {
    Settings {
        default_country: gucs::default_country(),
        date_order: match gucs::DATE_ORDER.get() {
            gucs::DateOrderGuc::Dmy => DateOrder::Dmy,
            gucs::DateOrderGuc::Mdy => DateOrder::Mdy,
        },
        max_value_length: gucs::MAX_VALUE_LENGTH.get().max(1) as usize,
        today: today(),
    }
}

/// Normalise one source row. `raw` holds the raw text of each attribute in `Attr::ALL` order;
/// the result holds the normalised values in the same order, then the quality flags as JSON text,
/// then the record's `original` object as JSON text (`sync::original_json`).
#[pg_extern(stable, parallel_safe, strict)]
fn _normalise_row(raw: Array<&str>) -> Vec<Option<String>> {
    // a source that maps consent columns stages them after the attributes (read by
    // cdp._consent_statements, not here)
    if raw.len() != Attr::COUNT && raw.len() != Attr::COUNT + crate::consent::Field::COUNT {
        CdpError::new(
            Kind::InvalidParameterValue,
            format!("expected {} raw attribute values, got {}", Attr::COUNT, raw.len()),
        )
        .raise();
    }
    let mut vals: [Option<&str>; Attr::COUNT] = [None; Attr::COUNT];
    for (slot, v) in vals.iter_mut().zip(raw.iter().take(Attr::COUNT)) {
        *slot = v;
    }
    let settings = current_settings();
    let n = normalise::normalise_record(&vals, &settings);
    let mut quality = serde_json::Map::new();
    for issue in &n.issues {
        quality.entry(issue.attr.name().to_string()).or_insert_with(|| issue.reason.into());
    }
    let mut out: Vec<Option<String>> = n.values.into_iter().collect();
    out.push(Some(serde_json::Value::Object(quality).to_string()));
    out.push(Some(crate::sync::original_json(&vals)));
    debug_assert_eq!(out.len(), crate::sync::ORIGINAL_INDEX);
    out
}

/// The attribute named `name`, or 22023 with the known names as hint.
pub fn attr_named(name: &str) -> Result<Attr, CdpError> {
    Attr::from_name(name).ok_or_else(|| {
        CdpError::new(Kind::InvalidParameterValue, format!("unknown attribute \"{name}\""))
            .hint(format!("known attributes: {}", Attr::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")))
    })
}

/// `SELECT * FROM cdp.normalise('phone', '0532 123 45 67')` → the matching form, or NULL and the
/// reason the value cannot be used.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn normalise(
    attribute: &str,
    value: Option<&str>,
) -> TableIterator<'static, (name!(value, Option<String>), name!(reason, Option<String>))> {
    let attr = attr_named(attribute).or_raise();
    let row = match value {
        None => (None, None),
        Some(v) => match normalise::normalise_value(attr, v, &current_settings()) {
            Ok(s) if s.is_empty() => (None, None),
            Ok(s) => (Some(s), None),
            Err(reason) => (None, Some(reason.to_string())),
        },
    };
    TableIterator::once(row)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}

/// The consent statements of one source row, from its consent values (`raw[16:20]` of a sync's
/// stage, in the order of `consent::Field::ALL`): purpose, the answer (NULL: unreadable), the
/// time the source gives (NULL: none or unreadable) and why a value could not be used.
#[pg_extern(immutable, parallel_safe, strict)]
fn _consent_statements(
    raw: Array<&str>,
) -> TableIterator<
    'static,
    (
        name!(purpose, String),
        name!(granted, Option<bool>),
        name!(stated_at, Option<String>),
        name!(reason, Option<String>),
    ),
> {
    let vals: Vec<Option<&str>> = raw.iter().collect();
    let rows: Vec<_> = crate::consent::statements(&vals)
        .into_iter()
        .map(|s| (s.purpose.name().to_string(), s.granted, s.at, s.reason.map(str::to_string)))
        .collect();
    TableIterator::new(rows)
}

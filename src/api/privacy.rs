//! Masked data for analysts: the rules of `cdp.profiles_masked`, applied in one place
//! (`crate::mask`), and `cdp.set_masking` (see `sql/privacy.sql`).

use pgrx::prelude::*;

use crate::error::{CdpError, Kind};
use crate::mask::{mask, MaskRule};
use crate::normalise::Attr;

/// The masked form of one profile's values (in `cdp.match_fields`' attribute order, as
/// `cdp.identity_attributes`) under `rules` (one per attribute, same order); `salt` is the
/// database's, for the `hash` rule: "h:" and the first 16 hex digits of
/// SHA-256(salt | attribute | value). Called once per row by `cdp.profiles_masked`.
#[pg_extern(immutable, parallel_safe)]
fn _mask_values(values: Vec<Option<String>>, rules: Vec<Option<String>>, salt: &str) -> Vec<Option<String>> {
    Attr::ALL
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let value = values.get(i).cloned().flatten()?;
            let rule = rules
                .get(i)
                .cloned()
                .flatten()
                .and_then(|r| MaskRule::from_name(&r))
                .unwrap_or(MaskRule::Remove);
            match rule {
                MaskRule::Hash => Some(salted_hash(salt, a.name(), value.trim())),
                r => mask(r, &value),
            }
        })
        .collect()
}

/// The identifiers an erased person is suppressed by.
const SUPPRESSED_BY: [Attr; 5] = [Attr::Email, Attr::Phone, Attr::NationalId, Attr::ExternalId, Attr::AnonymousId];

/// "attribute:hash" of each identifier among `values` (normalised, in attribute order), hashed
/// with the erasure salt: the suppression list's keys (`cdp.suppressions`). Names and birth dates
/// are not identifiers: a namesake must not be suppressed.
#[pg_extern(immutable, parallel_safe)]
fn _identifier_hashes(values: Vec<Option<String>>, salt: &str) -> Vec<String> {
    SUPPRESSED_BY
        .iter()
        .filter_map(|a| suppression_key(*a, values.get(a.index())?.as_deref()?, salt))
        .collect()
}

/// The suppression key of one identifier value (normalised), as `_identifier_hashes` makes it;
/// None for an attribute that is not an identifier or an empty value.
#[pg_extern(immutable, parallel_safe)]
fn _identifier_hash(attribute: &str, value: &str, salt: &str) -> Option<String> {
    let a = SUPPRESSED_BY.iter().copied().find(|a| a.name() == attribute)?;
    suppression_key(a, value, salt)
}

/// "attribute:" and the salted hash of a non-empty value.
fn suppression_key(a: Attr, value: &str, salt: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| format!("{}:{}", a.name(), salted_hash(salt, a.name(), v)))
}

/// The name key a run counts name frequencies by (`cdp.name_frequencies`), for a record's first,
/// last and full name: what an erasure takes out of the counts.
#[pg_extern(immutable, parallel_safe)]
fn _name_key(first_name: Option<&str>, last_name: Option<&str>, full_name: Option<&str>) -> String {
    let mut rec = crate::resolve::Rec::new(0);
    for (a, v) in [(Attr::FirstName, first_name), (Attr::LastName, last_name), (Attr::FullName, full_name)] {
        if let Some(v) = v {
            rec = rec.with(a, v);
        }
    }
    crate::resolve::compare::name_key(&rec)
}

/// "h:" and the first 16 hex digits of SHA-256(salt | attribute | value), with PostgreSQL's own
/// sha256.
fn salted_hash(salt: &str, attribute: &str, value: &str) -> String {
    let input = format!("{salt}|{attribute}|{value}");
    // SAFETY: sha256_bytea is PostgreSQL's sha256(bytea), a strict built-in
    let digest: Vec<u8> = unsafe {
        pgrx::direct_function_call::<Vec<u8>>(pg_sys::sha256_bytea, &[input.as_bytes().into_datum()])
    }
    .unwrap_or_default();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("h:{hex}")
}

/// Every attribute with its position and its default masking rule, for the `cdp.masking` view.
#[pg_extern(immutable, parallel_safe)]
fn _mask_defaults() -> TableIterator<'static, (name!(attribute, String), name!(position, i32), name!(rule, String))> {
    TableIterator::new(
        Attr::ALL
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name().to_string(), i as i32 + 1, MaskRule::default_for(*a).name().to_string()))
            .collect::<Vec<_>>(),
    )
}

/// Validate and store the masking rule of an attribute (NULL rule: back to the default).
#[pg_extern(volatile, parallel_unsafe)]
fn _set_masking(attribute: &str, rule: Option<&str>) -> bool {
    let rule = rule.map(|r| {
        MaskRule::from_name(r).map(MaskRule::name).ok_or_else(|| {
            CdpError::new(Kind::InvalidParameterValue, format!("unknown masking rule \"{r}\""))
                .hint("rules: keep, remove, initials, email, last_two_digits, year, hash")
        })
    });
    super::set_attribute_rule("cdp.masking_rules", attribute, rule)
}

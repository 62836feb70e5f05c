//! The SQL surface: thin `#[pg_extern]` functions over the pure modules, grouped by what the user
//! does. Public signatures with defaults live in the `sql/` file of the same domain.

pub mod activity;
pub mod capture;
pub mod normalise;
pub mod privacy;
pub mod privilege;
pub mod resolve;
pub mod segments;
pub mod sources;
pub mod value;
pub mod worker;

use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::prelude::*;

use crate::error::{CdpError, CdpResult, OrRaise};
use pgrx::spi::{SpiResult, SpiTupleTable};

/// The first column of the first row, or None when the result has no rows.
pub fn first_one<T: FromDatum + IntoDatum>(t: SpiTupleTable<'_>) -> SpiResult<Option<T>> {
    if t.is_empty() {
        Ok(None)
    } else {
        t.first().get_one::<T>()
    }
}

/// Store the rule of an identity attribute in `table` (one of pg_cdp's per-attribute rule tables,
/// `attribute text PRIMARY KEY, rule text`), or remove it when `rule` is None (back to the
/// default); `rule` has been validated by the caller (or is its error). Raises 22023 for an
/// unknown attribute or rule.
pub(crate) fn set_attribute_rule(table: &'static str, attribute: &str, rule: Option<Result<&'static str, CdpError>>) -> bool {
    let attr = normalise::attr_named(attribute).or_raise();
    let rule = rule.transpose().or_raise();
    Spi::connect_mut(|client| -> CdpResult<bool> {
        match rule {
            None => {
                client.update(&format!("DELETE FROM {table} WHERE attribute OPERATOR(pg_catalog.=) $1"), None, &[attr.name().into()])?;
            }
            Some(r) => {
                client.update(
                    &format!("INSERT INTO {table} (attribute, rule) VALUES ($1, $2) ON CONFLICT (attribute) DO UPDATE SET rule = EXCLUDED.rule"),
                    None,
                    &[attr.name().into(), r.into()],
                )?;
            }
        }
        Ok(true)
    })
    .or_raise()
}

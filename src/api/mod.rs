//! The SQL surface: thin `#[pg_extern]` functions over the pure modules, grouped by what the user
//! does. Public signatures with defaults live in the `sql/` file of the same domain.

pub mod activity;
pub mod capture;
pub mod normalise;
pub mod privilege;
pub mod resolve;
pub mod segments;
pub mod sources;
pub mod value;
pub mod worker;

use pgrx::datum::{FromDatum, IntoDatum};
use pgrx::spi::{SpiResult, SpiTupleTable};

/// The first column of the first row, or None when the result has no rows.
pub fn first_one<T: FromDatum + IntoDatum>(t: SpiTupleTable<'_>) -> SpiResult<Option<T>> {
    if t.is_empty() {
        Ok(None)
    } else {
        t.first().get_one::<T>()
    }
}

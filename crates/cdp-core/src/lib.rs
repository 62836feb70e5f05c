//! pg_cdp's pure core: everything that decides, with no pgrx and no PostgreSQL in it, so the
//! compiler (not a comment) keeps it pure and `cargo test -p cdp-core` runs without a server.
//! The extension crate (`src/`) reads catalogs, runs SQL and calls into these modules.

pub mod consent;
pub mod expr;
pub mod mask;
pub mod normalise;
pub mod resolve;
pub mod segments;
pub mod sync;
pub mod value;

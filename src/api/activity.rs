//! Orders and behaviour events for the worker's trait refresh: the rows of the profiles it
//! refreshes are read from the users' tables the way a source is (`sources::stage`), as the
//! table's owner and as a security-restricted operation, into a stage table of the session.
//! The statements that compute traits then read only that stage.

use pgrx::prelude::*;

use super::{first_one, privilege};
use crate::error::{CdpError, CdpResult, OrRaise, Kind};

/// The stage tables `cdp._worker_traits` creates and this function may write.
const STAGES: [&str; 2] = ["pg_temp.cdp_stage_orders", "pg_temp.cdp_stage_events"];

/// `INSERT INTO stage <select>` as the owner of `source_table`, restricted; `$1` of the select is
/// `keys` (the customer keys whose rows are wanted; NULL: every row). Only pg_cdp's own
/// functions call it (no role is granted EXECUTE): the SELECT is built by `cdp._activity_select`.
/// Returns the rows staged.
#[pg_extern(volatile, parallel_unsafe)]
fn _stage_as_owner(source_table: pg_sys::Oid, stage: &str, select: &str, keys: Option<Vec<Option<String>>>) -> i64 {
    if !STAGES.contains(&stage) {
        CdpError::new(Kind::InvalidParameterValue, format!("{stage} is not a pg_cdp stage table")).raise();
    }
    Spi::connect_mut(|client| -> CdpResult<i64> {
        let owner = first_one::<pg_sys::Oid>(client.select(
            "SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
            Some(1),
            &[source_table.into()],
        )?)?
        .ok_or_else(|| CdpError::new(Kind::UndefinedTable, format!("relation {} does not exist", source_table.to_u32())))?;
        let sql = format!("INSERT INTO {stage} {select}");
        let keys: Vec<Option<String>> = keys.unwrap_or_default();
        let args: Vec<pgrx::datum::DatumWithOid> = vec![keys.into()];
        Ok(privilege::write_stage_as(client, owner, stage, &sql, &args)? as i64)
    })
    .or_raise()
}

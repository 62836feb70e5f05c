//! Who runs what, as whom.
//!
//! pg_cdp's tables are written only by its own functions, with the rights of the role that owns
//! the extension; the source tables of the users are read only for roles that may read them. The
//! helpers here name the roles involved and switch between them for a bounded piece of work, the
//! way PostgreSQL's own maintenance commands do (`SetUserIdAndSecContext`): an ERROR inside restores
//! the previous user as the (sub)transaction aborts, and the guard restores it on the normal path.

use pgrx::pg_sys;
use pgrx::spi::SpiClient;

use super::first_one;
use crate::error::{CdpError, CdpResult, Kind};

/// The role the current statement runs as (the caller of a SECURITY INVOKER function).
pub fn invoker() -> pg_sys::Oid {
    // SAFETY: reads a backend global
    unsafe { pg_sys::GetUserId() }
}

/// The role that owns the pg_cdp extension, and so every object in schema cdp.
pub fn extension_owner(client: &SpiClient<'_>) -> CdpResult<pg_sys::Oid> {
    first_one::<pg_sys::Oid>(client.select(
        "SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cdp'",
        Some(1),
        &[],
    )?)?
    .ok_or_else(|| CdpError::new(Kind::ObjectNotInPrerequisiteState, "pg_cdp is not installed in this database"))
}

/// Restores the user and security context saved when it was made.
struct RestoreUser(pg_sys::Oid, i32);

impl Drop for RestoreUser {
    fn drop(&mut self) {
        // SAFETY: sets the backend's current user back to a role it was running as
        unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
    }
}

/// Run `f` with the rights of `role`. With `restricted`, also as a security-restricted operation
/// (no SET ROLE, no temporary tables) with `search_path = pg_catalog, pg_temp`, and every setting
/// the code `f` reaches may change (`set_config`, `SET`) is undone when `f` returns, as
/// PostgreSQL does around REFRESH MATERIALIZED VIEW: otherwise a table owner's function, run
/// while the table is read, could leave a search_path (or any cdp.* setting) that the rest of a
/// superuser's transaction, or the worker's session, then uses. On an ERROR the aborting
/// (sub)transaction undoes both the settings and the user.
pub fn as_role<R>(role: pg_sys::Oid, restricted: bool, f: impl FnOnce() -> R) -> R {
    let mut uid = pg_sys::InvalidOid;
    let mut ctx: i32 = 0;
    // SAFETY: plain reads and writes of the backend's user id and security context
    unsafe { pg_sys::GetUserIdAndSecContext(&mut uid, &mut ctx) };
    let _restore = RestoreUser(uid, ctx);
    let mut flags = ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32;
    if restricted {
        flags |= pg_sys::SECURITY_RESTRICTED_OPERATION as i32;
    }
    // SAFETY: a new GUC nesting level, closed (all changes undone) right after f; an ERROR in f
    // is a (sub)transaction abort, which closes it as well
    let level = if restricted {
        let level = unsafe { pg_sys::NewGUCNestLevel() };
        unsafe {
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                c"pg_catalog, pg_temp".as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            )
        };
        Some(level)
    } else {
        None
    };
    unsafe { pg_sys::SetUserIdAndSecContext(role, flags) };
    let out = f();
    if let Some(level) = level {
        unsafe { pg_sys::AtEOXact_GUC(false, level) };
    }
    out
}

/// Run `sql`, an INSERT into the session's temporary stage table `stage`, as `owner` and as a
/// security-restricted operation: how pg_cdp reads a user's table (see `as_role`). The owner may
/// insert into the stage for this statement only: a grant left on the session's temporary table
/// would keep DROP ROLE from dropping the owner while the session lasts. Returns the rows written.
pub fn write_stage_as(
    client: &mut SpiClient<'_>,
    owner: pg_sys::Oid,
    stage: &str,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> CdpResult<u64> {
    let grant = !ask(client, "SELECT pg_catalog.has_table_privilege($1, $2, 'INSERT')", &[owner.into(), stage.into()])?;
    let role = if grant { role_name(client, owner) } else { String::new() };
    if grant {
        client.update(&format!("GRANT INSERT ON {stage} TO {role}"), None, &[])?;
    }
    let written = as_role(owner, true, || client.update(sql, None, args))?.len() as u64;
    if grant {
        client.update(&format!("REVOKE INSERT ON {stage} FROM {role}"), None, &[])?;
    }
    Ok(written)
}

/// The name of a role, for messages.
pub fn role_name(client: &SpiClient<'_>, role: pg_sys::Oid) -> String {
    first_one::<String>(
        client
            .select("SELECT $1::pg_catalog.regrole::pg_catalog.text", Some(1), &[role.into()])
            .expect("regrole output"),
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| format!("role {}", role.to_u32()))
}

/// One yes/no question (the first column of the first row; false when there is none).
pub fn ask(client: &SpiClient<'_>, sql: &str, args: &[pgrx::datum::DatumWithOid]) -> CdpResult<bool> {
    Ok(first_one::<bool>(client.select(sql, Some(1), args)?)?.unwrap_or(false))
}

/// 42501 unless `role` may SELECT every one of `attnums` of table `oid`.
pub fn require_column_select(
    client: &SpiClient<'_>,
    role: pg_sys::Oid,
    oid: pg_sys::Oid,
    table: &str,
    columns: &[(i16, &str)],
) -> CdpResult<()> {
    for (attnum, name) in columns {
        if !ask(
            client,
            "SELECT pg_catalog.has_column_privilege($1, $2, $3, 'SELECT')",
            &[role.into(), oid.into(), (*attnum).into()],
        )? {
            return Err(CdpError::new(
                Kind::InsufficientPrivilege,
                format!("role {} may not read column \"{}\" of {}", role_name(client, role), name, table),
            )
            .hint(format!("pg_cdp reads a source only with the rights of the role that registered it: GRANT SELECT ON {table} TO that role")));
        }
    }
    Ok(())
}

/// 42501 when row-level security would hide rows of `oid` from `role`: a sync must see the whole
/// table, or it would delete the records of the rows it cannot see.
pub fn require_whole_table(client: &SpiClient<'_>, role: pg_sys::Oid, oid: pg_sys::Oid, table: &str) -> CdpResult<()> {
    let hidden = as_role(role, true, || {
        ask(client, "SELECT pg_catalog.row_security_active($1)", &[oid.into()])
    })?;
    if hidden {
        return Err(CdpError::new(
            Kind::InsufficientPrivilege,
            format!("row-level security of {} hides rows from role {}", table, role_name(client, role)),
        )
        .hint("a source is synced whole or not at all: register it as a role that sees every row (the table's owner without FORCE ROW LEVEL SECURITY, or a role with BYPASSRLS)"));
    }
    Ok(())
}

/// The role the session acts as (its login role, or the one SET ROLE chose). Unlike
/// current_user it stays the same inside SECURITY DEFINER functions, so pg_cdp's functions that
/// run as its owner record who asked for a change.
#[pgrx::pg_extern(stable, parallel_safe)]
fn _acting_role() -> String {
    // SAFETY: reads a backend global and looks the role's name up in the syscache
    let name = unsafe { pg_sys::GetUserNameFromId(pg_sys::GetOuterUserId(), true) };
    if name.is_null() {
        return String::new();
    }
    unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned()
}

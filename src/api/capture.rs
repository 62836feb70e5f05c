//! Change capture, inside the applications' own writes: the statement-level triggers every
//! source table carries (`cdp_capture_*`, with transition tables `cdp_new` / `cdp_old`) queue the
//! keys of the rows a statement changed in `cdp.change_queue`, and the worker re-syncs exactly
//! those keys.
//!
//! It runs on every application statement, so it is written to cost little and never to fail the
//! statement over pg_cdp's own state:
//! - the keys are read straight from the transition tables and turned into text by the built-in
//!   output function of the key's type (a key type is one whose text form no setting changes and
//!   no user code produces: `cdp.add_source` allows only those), and queued by one insert whose
//!   plan is kept for the session;
//! - the function is SECURITY DEFINER, owned by the NOLOGIN role `cdp_capture`, whose only right
//!   is appending to the queue; it runs none of the application's code;
//! - a key column that is gone, or whose type was changed to one that is not a key type, queues
//!   a re-sync of the whole source and says so in a WARNING, instead of an error.
//! It never reads or queues row contents: keys only.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{pg_sys, PgOid};

use super::sources::KEY_TYPES;

thread_local! {
    /// The queue insert, planned once per session ($1 source id; $2 keys queued one row each,
    /// where a NULL key asks for a sweep of the source's rows without a key, op 'n'; $3 the keys
    /// of a statement that changed many rows, queued as one row, or NULL).
    static QUEUE_KEYS: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    /// The queue insert of the commonest case, a statement that changed one key ($1 source id,
    /// $2 the key): a plain one-row insert, whose plan costs less to run than the general one.
    static QUEUE_KEY: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

const QUEUE_KEY_SQL: &str = "INSERT INTO cdp.change_queue (source_id, source_key) VALUES ($1, $2)";

const QUEUE_KEYS_SQL: &str = "INSERT INTO cdp.change_queue (source_id, source_key, op, source_keys)
     SELECT $1, k.k, CASE WHEN k.k IS NULL THEN 'n' ELSE 'k' END::pg_catalog.\"char\", NULL FROM pg_catalog.unnest($2::pg_catalog.text[]) k(k)
     UNION ALL SELECT $1, NULL, 'k', $3::pg_catalog.text[] WHERE $3 IS NOT NULL";

/// A statement that changed more rows than this queues their keys as one row: writing a queue
/// row per key would cost a bulk statement as much again as its own writes.
const ONE_ROW_FROM: usize = 32;

/// What a statement's capture queues.
enum Capture {
    /// these keys (`None`: rows without a key were written)
    Keys(Vec<Option<String>>),
    /// the whole source, with the WARNING to give (TRUNCATE gives none)
    Whole(Option<String>),
}

#[pg_trigger]
fn _capture_changes<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let args = trigger.extra_args()?;
    let source_id: i32 = args.first().and_then(|a| a.parse().ok()).unwrap_or_default();
    let keynum: i16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or_default();
    let td = trigger.trigger_data();
    // SAFETY: the trigger data of this call: its relation and transition tables live until the
    // trigger returns
    let capture = unsafe { changed_keys(td, source_id, keynum) };
    let (rows, warning) = match capture {
        Capture::Keys(keys) if keys.is_empty() => return Ok(None),
        Capture::Keys(mut keys) => {
            keys.sort_unstable();
            keys.dedup();
            (keys, None)
        }
        Capture::Whole(warning) => (Vec::new(), warning),
    };
    // many keys go as one row (a NULL key, sorted first, stays a row of its own)
    let (rows, bulk): (Vec<Option<String>>, Option<Vec<String>>) = if rows.len() > ONE_ROW_FROM {
        let (nulls, keys): (Vec<_>, Vec<_>) = rows.into_iter().partition(Option::is_none);
        (nulls, Some(keys.into_iter().flatten().collect()))
    } else {
        (rows, None)
    };
    Spi::connect_mut(|client| -> Result<(), pgrx::spi::Error> {
        if rows.is_empty() && bulk.is_none() {
            client.update(
                "INSERT INTO cdp.change_queue (source_id, source_key, op) VALUES ($1, NULL, 'a')",
                None,
                &[source_id.into()],
            )?;
            return Ok(());
        }
        if let ([Some(key)], None) = (rows.as_slice(), &bulk) {
            return QUEUE_KEY.with(|plan| {
                let types = [PgOid::from(pg_sys::INT4OID), PgOid::from(pg_sys::TEXTOID)];
                run_kept(client, plan, QUEUE_KEY_SQL, &types, &[source_id.into(), key.as_str().into()])
            });
        }
        QUEUE_KEYS.with(|plan| {
            let types = [PgOid::from(pg_sys::INT4OID), PgOid::from(pg_sys::TEXTARRAYOID), PgOid::from(pg_sys::TEXTARRAYOID)];
            run_kept(client, plan, QUEUE_KEYS_SQL, &types, &[source_id.into(), rows.into(), bulk.into()])
        })
    })
    .unwrap_or_else(|e| error!("pg_cdp: could not queue the changes of source {source_id}: {e}"));
    // the worker applies the change once this transaction commits
    crate::worker_state::wake_worker_at_commit();
    if let Some(w) = warning {
        pgrx::pg_sys::panic::ErrorReport::new(PgSqlErrorCode::ERRCODE_WARNING, w, "pg_cdp")
            .set_hint("give the source a key again with cdp.alter_source, or unregister it with cdp.drop_source")
            .report(PgLogLevel::WARNING);
    }
    Ok(None)
}

/// Run a statement whose plan is kept for the session in `plan`, preparing it on first use.
fn run_kept(
    client: &mut pgrx::spi::SpiClient<'_>,
    plan: &RefCell<Option<OwnedPreparedStatement>>,
    sql: &str,
    types: &[PgOid],
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Result<(), pgrx::spi::Error> {
    let mut plan = plan.borrow_mut();
    if plan.is_none() {
        *plan = Some(client.prepare_mut(sql, types)?.keep());
    }
    client.update(plan.as_ref().expect("prepared above"), None, args)?;
    Ok(())
}

/// The keys a statement changed, read from its transition tables.
///
/// # Safety
/// `td` is the trigger data of a running statement-level trigger.
unsafe fn changed_keys(td: &pg_sys::TriggerData, source_id: i32, keynum: i16) -> Capture {
    let event = td.tg_event;
    if event & pg_sys::TRIGGER_EVENT_OPMASK == pg_sys::TRIGGER_EVENT_TRUNCATE {
        return Capture::Whole(None);
    }
    let rel = td.tg_relation;
    let tupdesc = (*rel).rd_att;
    let relname = || {
        let name = pg_sys::get_rel_name((*rel).rd_id);
        let ns = pg_sys::get_namespace_name(pg_sys::get_rel_namespace((*rel).rd_id));
        let s = |p: *mut std::ffi::c_char| if p.is_null() { String::new() } else { std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned() };
        format!("{}.{}", s(ns), s(name))
    };
    // the key column by number: renaming it changes nothing
    let natts = (*tupdesc).natts as i16;
    let att = if keynum >= 1 && keynum <= natts { Some(&*(*tupdesc).attrs.as_ptr().add((keynum - 1) as usize)) } else { None };
    let att = match att {
        Some(a) if !a.attisdropped => a,
        _ => return Capture::Whole(Some(format!("pg_cdp: the key column of source {source_id} ({}) is gone; a full re-sync is queued", relname()))),
    };
    let base = pg_sys::getBaseType(att.atttypid);
    if !KEY_TYPES.contains(&base) {
        return Capture::Whole(Some(format!(
            "pg_cdp: the key column of source {source_id} ({}) is no longer of a key type; a full re-sync is queued",
            relname()
        )));
    }
    let mut output = pg_sys::InvalidOid;
    let mut varlena = false;
    pg_sys::getTypeOutputInfo(base, &mut output, &mut varlena);
    let mut keys = Vec::new();
    for store in [td.tg_newtable, td.tg_oldtable] {
        if store.is_null() {
            continue;
        }
        // a read pointer of our own: other triggers of the statement read the same store
        let pointer = pg_sys::tuplestore_alloc_read_pointer(store, 0);
        pg_sys::tuplestore_select_read_pointer(store, pointer);
        pg_sys::tuplestore_rescan(store);
        let slot = pg_sys::MakeSingleTupleTableSlot(tupdesc, &pg_sys::TTSOpsMinimalTuple);
        while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
            let mut isnull = false;
            let datum = pg_sys::slot_getattr(slot, keynum as i32, &mut isnull);
            if isnull {
                keys.push(None);
            } else {
                let text = pg_sys::OidOutputFunctionCall(output, datum);
                keys.push(Some(std::ffi::CStr::from_ptr(text).to_string_lossy().into_owned()));
                pg_sys::pfree(text.cast());
            }
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::tuplestore_select_read_pointer(store, 0);
    }
    Capture::Keys(keys)
}

//! Appending many rows to one of pg_cdp's own tables the way `COPY FROM` does: tuples handed
//! to the table access method's multi-insert a thousand at a time (one WAL record and one
//! buffer lock a page, not a row), without the executor's work per row. A full run writes its
//! blocking keys this way: 12.6M rows at a million registry records.
//!
//! It is a fast path with a plain fallback. It writes only to a table exactly as the extension
//! made it and as the caller left it: an ordinary heap table, the columns and types the caller
//! names, no index (the caller dropped them and builds them after), and nothing a DBA may have
//! added that an INSERT would obey (a trigger, a rule, row security, a check constraint); and
//! the current user is allowed to insert. Anything else returns `false` before writing, and the
//! caller inserts with SQL, which handles every case (and raises what SQL raises). PostgreSQL
//! is called through pgrx's guarded bindings only: an ERROR mid-way unwinds as a Rust panic.

use pgrx::pg_sys;
use pgrx::PgMemoryContexts;

/// Tuples per multi-insert call (COPY's buffer holds up to 1000).
const BATCH: usize = 1000;

/// Rows appended by this backend so far: the tests' evidence that the fast path ran.
pub static APPENDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Append `rows` to the table `relid`, whose columns must be exactly `types`, none of them
/// null. The iterator runs in a scratch memory context, which is reset after each batch: a
/// datum it makes (an array, a text) lives there until its row is written. Returns false,
/// having written nothing, when the table is not as described in the module's comment. Holds
/// the table's lock to the end of the transaction.
pub(super) fn append_rows<const N: usize>(
    relid: pg_sys::Oid,
    types: [pg_sys::Oid; N],
    rows: impl Iterator<Item = [pg_sys::Datum; N]>,
) -> bool {
    // SAFETY: the relation is opened, checked and closed here, with a lock PostgreSQL keeps to
    // the end of the transaction; every slot is the table's own kind, filled with `N` datums
    // of the checked column types (made in the scratch context, which outlives their batch's
    // insert), and dropped before returning.
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        if !fits(rel, &types) {
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            return false;
        }
        let slots: Vec<*mut pg_sys::TupleTableSlot> =
            (0..BATCH).map(|_| pg_sys::table_slot_create(rel, std::ptr::null_mut())).collect();
        let bistate = pg_sys::GetBulkInsertState();
        let cid = pg_sys::GetCurrentCommandId(true);
        let mut scratch = PgMemoryContexts::new("cdp append rows");
        let mut rows = rows;
        loop {
            // the rows' datums (and the insert's own working memory) live in the scratch context,
            // for one batch; each slot's materialized tuple lives in the slot until it is cleared
            let n = scratch.switch_to(|_| {
                let mut n = 0;
                for row in rows.by_ref().take(BATCH) {
                    let slot = slots[n];
                    pg_sys::ExecClearTuple(slot);
                    for (k, datum) in row.into_iter().enumerate() {
                        *(*slot).tts_values.add(k) = datum;
                        *(*slot).tts_isnull.add(k) = false;
                    }
                    pg_sys::ExecStoreVirtualTuple(slot);
                    n += 1;
                }
                if n > 0 {
                    pg_sys::table_multi_insert(rel, slots.as_ptr() as *mut _, n as i32, cid, 0, bistate);
                }
                n
            });
            for &slot in &slots[..n] {
                pg_sys::ExecClearTuple(slot);
            }
            APPENDED.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            scratch.reset();
            pg_sys::check_for_interrupts!();
            if n < BATCH {
                break;
            }
        }
        pg_sys::FreeBulkInsertState(bistate);
        pg_sys::table_finish_bulk_insert(rel, 0);
        for slot in slots {
            pg_sys::ExecDropSingleTupleTableSlot(slot);
        }
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        // the rows are visible to the statements that follow
        pg_sys::CommandCounterIncrement();
    }
    true
}

/// The table is an ordinary heap table, not a partition, without indexes, triggers (foreign
/// keys are triggers), rules, row security, check constraints or generated columns; its columns
/// are exactly `types`; and the current user may insert into it.
unsafe fn fits<const N: usize>(rel: pg_sys::Relation, types: &[pg_sys::Oid; N]) -> bool {
    let class = &*(*rel).rd_rel;
    if class.relkind as u8 != pg_sys::RELKIND_RELATION
        || class.relam != pg_sys::HEAP_TABLE_AM_OID
        || class.relispartition
        || class.relhastriggers
        || class.relhasrules
        || class.relrowsecurity
    {
        return false;
    }
    if !pg_sys::RelationGetIndexList(rel).is_null() {
        return false;
    }
    let desc = &*(*rel).rd_att;
    if desc.natts as usize != N {
        return false;
    }
    if let Some(constr) = desc.constr.as_ref() {
        if constr.num_check > 0 || constr.has_generated_stored {
            return false;
        }
    }
    let attrs = desc.attrs.as_slice(N);
    if !attrs.iter().zip(types).all(|(a, t)| !a.attisdropped && a.atttypid == *t) {
        return false;
    }
    pg_sys::pg_class_aclcheck((*rel).rd_id, pg_sys::GetUserId(), pg_sys::ACL_INSERT as pg_sys::AclMode)
        == pg_sys::AclResult::ACLCHECK_OK
}

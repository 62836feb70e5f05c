//! What the background worker is doing and has done, in shared memory, for `cdp.worker_status()`:
//! the step it is in, the rows it applied over the last minute, its last batch and its last
//! error. The worker writes it; any backend reads it. Only set up when pg_cdp is preloaded.

use std::sync::atomic::{AtomicI32, Ordering};

use pgrx::atomics::PgAtomic;
use pgrx::lwlock::PgLwLock;
use pgrx::pg_sys;
use pgrx::shmem::PGRXSharedMemory;

/// The steps, as `cdp.worker_status()` names them.
pub const STEPS: [&str; 6] = ["idle", "applying changes", "resolving", "refreshing traits", "evaluating segments", "waiting for ALTER EXTENSION UPDATE"];
pub const IDLE: u8 = 0;
pub const APPLYING: u8 = 1;
pub const RESOLVING: u8 = 2;
pub const TRAITS: u8 = 3;
pub const SEGMENTS: u8 = 4;
pub const UPDATE_PENDING: u8 = 5;

#[derive(Copy, Clone, Debug, PartialEq)]
pub struct WorkerState {
    pub step: u8,
    pub last_batch_rows: i64,
    pub last_batch_seconds: f64,
    /// Unix time in seconds; 0: none yet
    pub last_batch_at: f64,
    pub last_error: [u8; 5],
    pub last_error_at: f64,
    /// rows applied in each of the last 60 seconds, slot = unix second % 60
    applied: [i64; 60],
    /// the unix second of the newest slot
    newest: i64,
    /// per step (index as STEPS), since the worker started: how many times it ran and for how
    /// long in all; `step_since` is when the current step began
    pub step_runs: [i64; 6],
    pub step_seconds: [f64; 6],
    step_since: f64,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            step: IDLE,
            last_batch_rows: 0,
            last_batch_seconds: 0.0,
            last_batch_at: 0.0,
            last_error: [b'0'; 5],
            last_error_at: 0.0,
            applied: [0; 60],
            newest: 0,
            step_runs: [0; 6],
            step_seconds: [0.0; 6],
            step_since: 0.0,
        }
    }
}

// SAFETY: plain data (integers, floats, byte arrays), no pointers
unsafe impl PGRXSharedMemory for WorkerState {}

// SAFETY: one lock of this name in pg_cdp
pub static STATE: PgLwLock<WorkerState> = unsafe { PgLwLock::new(c"pg_cdp worker state") };

impl WorkerState {
    /// Count rows applied at unix second `now`, forgetting seconds more than a minute old.
    pub fn note_applied(&mut self, now: i64, rows: i64) {
        if now - self.newest >= 60 || now < self.newest {
            self.applied = [0; 60];
        } else {
            for t in self.newest + 1..=now {
                self.applied[t.rem_euclid(60) as usize] = 0;
            }
        }
        self.newest = now;
        self.applied[now.rem_euclid(60) as usize] += rows;
    }

    /// Rows applied in the 60 seconds up to unix second `now`.
    pub fn applied_last_minute(&self, now: i64) -> i64 {
        if now - self.newest >= 60 || now < self.newest {
            return 0;
        }
        (now - 59..=self.newest).map(|t| self.applied[t.rem_euclid(60) as usize]).sum()
    }

    pub fn note_error(&mut self, sqlstate: &str, at: f64) {
        let mut code = [b'0'; 5];
        for (c, b) in code.iter_mut().zip(sqlstate.bytes()) {
            *c = b;
        }
        self.last_error = code;
        self.last_error_at = at;
    }

    pub fn last_error_sqlstate(&self) -> Option<String> {
        (self.last_error_at > 0.0).then(|| String::from_utf8_lossy(&self.last_error).into_owned())
    }

    /// Begin `step` at `now`, adding the time of the step it ends to that step's total.
    pub fn enter(&mut self, step: u8, now: f64) {
        let old = self.step as usize;
        if old < STEPS.len() && self.step_since > 0.0 && now >= self.step_since {
            self.step_runs[old] += 1;
            self.step_seconds[old] += now - self.step_since;
        }
        self.step = step;
        self.step_since = now;
    }

    pub fn step_name(&self) -> &'static str {
        STEPS.get(self.step as usize).copied().unwrap_or("idle")
    }
}

// SAFETY: one atomic of this name in pg_cdp
/// The worker's PGPROC number while it runs (-1: none), so a committing transaction can set its
/// latch.
pub static WORKER_PROCNO: PgAtomic<AtomicI32> = unsafe { PgAtomic::new(c"pg_cdp worker procno") };

/// Called by the worker: while it is `awake` (enabled), committing transactions that queued
/// changes wake it; while not, they leave it alone.
pub fn announce_worker(awake: bool) {
    // SAFETY: MyProc is this process's PGPROC, set up before a background worker runs
    let procno = if awake { unsafe { (*pg_sys::MyProc).pgprocno } } else { -1 };
    WORKER_PROCNO.get().store(procno, Ordering::Relaxed);
}

thread_local! {
    static WAKE_REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wake the worker when this transaction commits (not before: it would find nothing visible yet,
/// and nap again). Once per transaction; nothing when pg_cdp is not preloaded or no worker runs.
pub fn wake_worker_at_commit() {
    if !crate::preloaded() || WAKE_REGISTERED.with(|w| w.replace(true)) {
        return;
    }
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, || {
        WAKE_REGISTERED.with(|w| w.set(false));
        let procno = WORKER_PROCNO.get().load(Ordering::Relaxed);
        if procno >= 0 {
            // SAFETY: sets the latch of the process slot procno; setting the latch of a slot
            // whose worker has just exited is harmless (latches are per slot, in shared memory)
            unsafe { pg_sys::ProcSendSignal(procno) };
        }
    });
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Abort, || WAKE_REGISTERED.with(|w| w.set(false)));
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_counted_over_a_sliding_minute() {
        let mut s = WorkerState::default();
        s.note_applied(1_000, 10);
        s.note_applied(1_000, 5);
        s.note_applied(1_030, 20);
        assert_eq!(s.applied_last_minute(1_030), 35);
        assert_eq!(s.applied_last_minute(1_059), 35);
        assert_eq!(s.applied_last_minute(1_060), 20, "second 1000 is more than a minute old");
        s.note_applied(1_061, 1);
        assert_eq!(s.applied_last_minute(1_061), 21);
        assert_eq!(s.applied_last_minute(1_200), 0);
        s.note_applied(1_500, 7);
        assert_eq!(s.applied_last_minute(1_500), 7, "a long pause forgets everything");
    }

    #[test]
    fn the_last_error_keeps_its_sqlstate() {
        let mut s = WorkerState::default();
        assert_eq!(s.last_error_sqlstate(), None);
        s.note_error("55P03", 12.5);
        assert_eq!(s.last_error_sqlstate().as_deref(), Some("55P03"));
        assert_eq!(s.step_name(), "idle");
        s.step = SEGMENTS;
        assert_eq!(s.step_name(), "evaluating segments");
    }

    #[test]
    fn each_step_adds_its_time_when_the_next_begins() {
        let mut st = WorkerState::default();
        st.enter(APPLYING, 100.0);
        st.enter(RESOLVING, 100.5);
        st.enter(IDLE, 100.75);
        st.enter(APPLYING, 101.0);
        st.enter(IDLE, 101.25);
        assert_eq!(st.step_runs[APPLYING as usize], 2);
        assert!((st.step_seconds[APPLYING as usize] - 0.75).abs() < 1e-9);
        assert_eq!(st.step_runs[RESOLVING as usize], 1);
        assert!((st.step_seconds[RESOLVING as usize] - 0.25).abs() < 1e-9);
        assert_eq!(st.step, IDLE);
        // a clock that went back adds nothing
        st.enter(APPLYING, 50.0);
        assert_eq!(st.step_runs[IDLE as usize], 1);
    }
}

//! cdp_listen: a small consumer of pg_cdp's segment events, the way an application would write
//! one. It LISTENs on cdp_segments, treats every notification as a doorbell only, and reads the
//! events themselves from cdp.segment_events_since(last), so nothing is missed while it was away
//! and nothing is handled twice. Its position (the last event id handled) is kept in a file and
//! written after each event, so a restart resumes exactly where it stopped.
//!
//!   cdp_listen --dsn "host=... dbname=..." --state FILE [--exit-after N] [--idle-exit SECONDS]
//!
//! Prints one line per event: `event_id op segment profile_id holdout`.

use std::io::Write;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

struct Args {
    dsn: String,
    state: String,
    exit_after: Option<usize>,
    idle_exit: Option<Duration>,
}

fn args() -> Args {
    let mut a = Args { dsn: String::new(), state: "cdp_listen.state".into(), exit_after: None, idle_exit: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--dsn" => a.dsn = v,
            "--state" => a.state = v,
            "--exit-after" => a.exit_after = Some(v.parse().expect("--exit-after N")),
            "--idle-exit" => a.idle_exit = Some(Duration::from_secs_f64(v.parse().expect("--idle-exit SECONDS"))),
            _ => panic!("unknown option {k}"),
        }
    }
    if a.dsn.is_empty() {
        a.dsn = std::env::var("CDP_TEST_DSN").expect("--dsn or CDP_TEST_DSN");
    }
    a
}

fn main() {
    let a = args();
    let mut last: i64 = std::fs::read_to_string(&a.state).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let mut db = Client::connect(&a.dsn, NoTls).expect("connect");
    // LISTEN before the first catch-up: an event committed in between rings the bell too
    db.batch_execute("LISTEN cdp_segments").expect("LISTEN");
    let mut handled = 0usize;
    let mut idle_since = Instant::now();
    let out = std::io::stdout();
    loop {
        // catch up: everything after the stored position, in commit order
        let rows = db
            .query(
                "SELECT event_id, op, segment, profile_id, holdout FROM cdp.segment_events_since($1, 1000)",
                &[&last],
            )
            .expect("cdp.segment_events_since");
        for r in &rows {
            let (id, op, segment, pid, holdout): (i64, String, String, i64, bool) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            writeln!(out.lock(), "{id} {op} {segment} {pid} {holdout}").unwrap();
            last = id;
            std::fs::write(&a.state, last.to_string()).expect("store the position");
            handled += 1;
            if a.exit_after.is_some_and(|n| handled >= n) {
                return;
            }
        }
        if !rows.is_empty() {
            idle_since = Instant::now();
            continue; // there may be more than one page
        }
        if a.idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
            return;
        }
        // wait for the doorbell (or a second, to notice --idle-exit)
        let _ = db.notifications().timeout_iter(Duration::from_secs(1)).next();
        while let Ok(Some(_)) = db.notifications().iter().next() {}
    }
}

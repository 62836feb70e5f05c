//! Shared helpers for the client tests: connect to the project cluster (`CDP_TEST_DSN`, set by
//! `.ci/test`) and (re)create the extension once per test run.

use std::sync::Once;
use std::time::{Duration, Instant};

pub use postgres::{Client, NoTls};

static FRESH_EXTENSION: Once = Once::new();

pub fn dsn() -> String {
    std::env::var("CDP_TEST_DSN")
        .expect("CDP_TEST_DSN must name the project cluster (run through `make test`)")
}

/// A new connection; the first one of the run recreates pg_cdp so tests see the installed build.
pub fn connect() -> Client {
    let mut c = Client::connect(&dsn(), NoTls).expect("connect to the project cluster");
    FRESH_EXTENSION.call_once(|| {
        c.batch_execute("DROP EXTENSION IF EXISTS pg_cdp CASCADE; CREATE EXTENSION pg_cdp;")
            .expect("create extension pg_cdp");
    });
    c
}

/// Poll `sql` (returning one bigint) until it equals `want` or `timeout` passes; returns the
/// last value seen so the caller's assert shows it.
pub fn wait_for_i64(c: &mut Client, sql: &str, want: i64, timeout: Duration) -> i64 {
    let start = Instant::now();
    loop {
        let v: i64 = c.query_one(sql, &[]).expect(sql).get(0);
        if v == want || start.elapsed() > timeout {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

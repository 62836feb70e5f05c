//! A run's matching stops when asked ([`resolve::request_stop`]) and runs again once the request
//! is withdrawn. In a test binary of its own: the request is process-wide, and the unit tests
//! compare pairs at the same time.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cdp_core::normalise::Attr;
use cdp_core::resolve::{self, compare_pairs, prepare, Batch, Config, Rec, Stopped};

#[test]
fn matching_stops_when_asked_and_runs_again_after() {
    let first = ["ayse", "mehmet", "john", "maria", "elif", "james"];
    let last = ["yilmaz", "kaya", "smith", "garcia", "demir", "brown"];
    let recs: Vec<Rec> = (0..3000usize)
        .map(|i| {
            Rec::new(i as i64)
                .with(Attr::FirstName, first[i % first.len()])
                .with(Attr::LastName, last[(i / first.len()) % last.len()])
                .with(Attr::BirthDate, &format!("19{:02}-0{}-1{}", 50 + i % 40, 1 + i % 9, i % 10))
        })
        .collect();
    let prepared = prepare(&recs);
    let n = recs.len() as u32;
    let pairs: Vec<(u32, u32)> = (0..100_000u32).map(|i| (i % n, (i * 7 + 1) % n)).collect();
    let want = compare_pairs(&prepared, &pairs, 2);
    let run = || {
        let mut next_id = 1;
        resolve::resolve_batch(&Batch::new(&recs, &vec![None; recs.len()]), &Config::default(), &mut next_id)
    };
    let profiles = run().counters.profiles;
    assert!(profiles > 0 && profiles < recs.len(), "{profiles} profiles: some records match");

    resolve::request_stop();
    for threads in [1, 2] {
        let stopped = catch_unwind(AssertUnwindSafe(|| compare_pairs(&prepared, &pairs, threads)));
        let payload = stopped.expect_err("comparing stops");
        assert!(payload.downcast_ref::<Stopped>().is_some(), "{threads} threads: unwinds with Stopped");
    }
    let stopped = catch_unwind(AssertUnwindSafe(run));
    assert!(stopped.expect_err("a whole run stops").downcast_ref::<Stopped>().is_some());

    resolve::clear_stop();
    assert_eq!(compare_pairs(&prepared, &pairs, 2), want);
    assert_eq!(run().counters.profiles, profiles);
}

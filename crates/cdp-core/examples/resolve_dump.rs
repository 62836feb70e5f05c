//! Resolve a dump of `cdp.records` outside PostgreSQL, to profile the matching alone:
//! `cargo run --release -p cdp-core --example resolve_dump -- FILE.tsv [THREADS]`.
//! FILE.tsv: `\copy (SELECT record_id, <the 15 attributes in Attr::ALL order, birth_date as
//! YYYY-MM-DD> FROM cdp.records ORDER BY record_id) TO FILE.tsv` (text format, `\N` for NULL).
//! Prints each phase's time and the counts, as `cdp.resolve()` reports them.

use std::io::BufRead;
use std::time::Instant;

use cdp_core::normalise::Attr;
use cdp_core::resolve::{block_batch, match_batch, Batch, Config, Rec};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: resolve_dump FILE.tsv [THREADS]");
    let threads: usize = args
        .next()
        .map(|t| t.parse().expect("THREADS is a number"))
        .unwrap_or(2);
    let t = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&path).expect("readable file"));
    let mut recs = Vec::new();
    for line in file.lines() {
        let line = line.expect("utf-8 line");
        let mut cols = line.split('\t');
        let id: i64 = cols
            .next()
            .and_then(|c| c.parse().ok())
            .expect("record_id first");
        let cols: Vec<&str> = cols.collect();
        assert_eq!(cols.len(), Attr::COUNT, "record {id}: the 15 attributes after record_id");
        let mut rec = Rec::new(id);
        for (slot, col) in rec.values.iter_mut().zip(cols) {
            *slot = (col != "\\N").then(|| col.to_string());
        }
        recs.push(rec);
    }
    println!(
        "load: {} records in {:.2} s",
        recs.len(),
        t.elapsed().as_secs_f64()
    );
    let cfg = Config {
        threads,
        ..Config::default()
    };
    let previous = vec![None; recs.len()];
    let mut next_id = 1;
    let t = Instant::now();
    let blocked = block_batch(&recs, &cfg, None);
    let out = match_batch(blocked, &Batch::new(&recs, &previous), &cfg, &mut next_id);
    for (name, secs) in &out.timings {
        println!("{name:>12}: {secs:7.2} s");
    }
    let c = &out.counters;
    println!(
        "total {:.2} s: {} candidate pairs, {} matched, {} profiles",
        t.elapsed().as_secs_f64(),
        c.candidate_pairs,
        c.matched_pairs,
        c.profiles
    );
}

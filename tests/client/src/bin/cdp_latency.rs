//! cdp_latency: how long from an application's commit to a listening client hearing that the new
//! customer entered a segment, under a steady write rate. The whole live path is measured: the
//! capture trigger, the worker applying the change, resolving it, evaluating the segments, and
//! the NOTIFY reaching a client.
//!
//!   cdp_latency --dsn "..." [--rate 500] [--seconds 60] [--wait 30] [--duplicates]
//!
//! With --duplicates each inserted row is another channel's copy of a customer already resolved
//! (same person, e-mail in capitals, phone in another format): it must be matched against the
//! existing records and join that customer's profile, and the segment is "profiles of two
//! records or more" among those customers.
//!
//! Set-up (in the DSN's database, which must have pg_cdp and the worker): a table of customers
//! registered as a source, a full cdp.resolve() of everything in the database (so the worker
//! resolves what follows; the run analyses the tables it rewrote), and a segment every new row
//! of this run enters. Then one writer inserts one row per transaction at --rate
//! rows a second for --seconds, noting each commit time, while a listener notes when each enter
//! event arrives. Prints the percentiles of commit -> notification.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn main() {
    let dsn = arg("--dsn", &std::env::var("CDP_TEST_DSN").unwrap_or_default());
    let rate: f64 = arg("--rate", "500").parse().unwrap();
    let seconds: f64 = arg("--seconds", "60").parse().unwrap();
    let wait: f64 = arg("--wait", "30").parse().unwrap();
    let duplicates = std::env::args().any(|a| a == "--duplicates");
    let run = std::process::id();
    let domain = format!("latency{run}mail.com");
    let base_domain = format!("base{run}mail.com");
    let total = (rate * seconds) as i64;
    let base = total.max(20_000);
    let rule = if duplicates {
        format!("record_count >= 2 AND email LIKE ''%@{base_domain}''")
    } else {
        format!("email LIKE ''%@{domain}''")
    };
    let mut c = Client::connect(&dsn, NoTls).expect("connect");
    c.batch_execute(&format!(
        "SET client_min_messages = warning;
         DROP TABLE IF EXISTS public.latency_customers;
         CREATE TABLE public.latency_customers (id bigint PRIMARY KEY, mail text, first text, last text, gsm text);
         INSERT INTO public.latency_customers
         SELECT g, 'base' || g || '@{base_domain}', 'Base', 'Customer' || g, '0532 ' || lpad(g::text, 7, '0')
           FROM generate_series(1, {base}) g;
         SELECT cdp.add_source('public.latency_customers', 'id',
           '{{\"email\":\"mail\",\"first_name\":\"first\",\"last_name\":\"last\",\"phone\":\"gsm\"}}');
         SELECT cdp.sync_source('public.latency_customers');
         SELECT cdp.resolve();
         SELECT cdp.define_segment('latency {run}', '{rule}');"
    ))
    .expect("set-up");

    let listener = std::thread::spawn({
        let dsn = dsn.clone();
        let segment = format!("latency {run}");
        move || {
            let mut l = Client::connect(&dsn, NoTls).expect("listener connects");
            l.batch_execute("LISTEN cdp_segments").unwrap();
            // event id -> when its notification arrived: one per event, or one for a range
            // ({"segment" : ..., "first_event_id" : a, "last_event_id" : b, "events" : n})
            let mut got: HashMap<i64, Instant> = HashMap::new();
            let field = |p: &str, name: &str| -> Option<i64> {
                p.split(&format!("\"{name}\" : ")).nth(1).and_then(|r| r.split([',', '}']).next()).and_then(|v| v.trim().parse().ok())
            };
            let deadline = Instant::now() + Duration::from_secs_f64(seconds + wait);
            while Instant::now() < deadline {
                let mut it = l.notifications();
                let mut iter = it.timeout_iter(Duration::from_millis(200));
                while let Ok(Some(n)) = iter.next() {
                    let (p, at) = (n.payload(), Instant::now());
                    if !p.contains(&format!("\"segment\" : \"{segment}\"")) {
                        continue;
                    }
                    if let (Some(a), Some(b)) = (field(p, "first_event_id"), field(p, "last_event_id")) {
                        for id in a..=b {
                            got.entry(id).or_insert(at);
                        }
                    } else if let Some(id) = field(p, "event_id") {
                        got.entry(id).or_insert(at);
                    }
                }
            }
            got
        }
    });
    std::thread::sleep(Duration::from_millis(500));

    // the worker's time by step, read before and after the run
    let steps = |c: &mut Client| -> Vec<(String, i64, f64)> {
        c.query("SELECT step, runs, seconds FROM cdp.worker_steps()", &[])
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
            .unwrap_or_default()
    };
    let steps_before = steps(&mut c);

    // the writer: one row per transaction, at the rate asked
    let mut w = Client::connect(&dsn, NoTls).expect("writer connects");
    let start = Instant::now();
    let mut committed: HashMap<String, Instant> = HashMap::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let key = 1_000_000 + i;
        if duplicates {
            let g = i + 1;
            w.execute(
                "INSERT INTO public.latency_customers VALUES ($1, $2, 'BASE', $3, $4)",
                &[&key, &format!("BASE{g}@{}", base_domain.to_uppercase()), &format!("CUSTOMER{g}"), &format!("+90 532 {g:07}")],
            )
            .unwrap();
        } else {
            w.execute(
                "INSERT INTO public.latency_customers VALUES ($1, $2, 'New', $3, $4)",
                &[&key, &format!("new{key}@{domain}"), &format!("Customer{key}"), &format!("0533 {:07}", key % 10_000_000)],
            )
            .unwrap();
        }
        committed.insert(key.to_string(), Instant::now());
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    let heard = listener.join().unwrap();
    // profile id -> when its enter event was heard
    let got: HashMap<i64, Instant> = c
        .query(
            "SELECT event_id, profile_id FROM cdp.segment_events WHERE segment = $1 AND op = 'enter'",
            &[&format!("latency {run}")],
        )
        .unwrap()
        .iter()
        .filter_map(|r| heard.get(&r.get::<_, i64>(0)).map(|t| (r.get::<_, i64>(1), *t)))
        .collect();
    let profiles: HashMap<String, i64> = c
        .query(
            "SELECT r.source_key, r.profile_id FROM cdp.records r JOIN cdp.sources s USING (source_id)
              WHERE s.source_table = 'public.latency_customers'::regclass
                AND CASE WHEN r.source_key ~ '^[0-9]+$' THEN r.source_key::bigint END >= 1000000
                AND r.profile_id IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut lat: Vec<f64> = committed
        .iter()
        .filter_map(|(k, t)| profiles.get(k).and_then(|p| got.get(p)).map(|r| r.duration_since(*t).as_secs_f64()))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let kind = if duplicates { "rows duplicating resolved customers" } else { "new customers" };
    println!("live path: {total} inserts ({kind}) at {rate} rows/s asked ({achieved:.0} achieved) for {seconds} s, one row per transaction");
    println!("enter events heard for {} of {} rows within {} s after the last insert", lat.len(), total, wait);
    println!(
        "commit -> NOTIFY received: p50 {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    let run_seconds = start.elapsed().as_secs_f64();
    for ((name, runs, secs), (_, runs0, secs0)) in steps(&mut c).into_iter().zip(steps_before) {
        let (n, t) = (runs - runs0, secs - secs0);
        if n > 0 {
            println!(
                "worker step {name:<20} {n:>6} times, mean {:.4} s, {:.1} s in all ({:.0}% of the run)",
                t / n as f64,
                t,
                100.0 * t / run_seconds
            );
        }
    }
    // where the worker's time went: its incremental resolve batches during the run, by phase
    // (the apply step before them and the segment step after are in the same worker loop)
    for r in c
        .query(
            "WITH runs AS (SELECT summary FROM cdp.resolve_runs
                            WHERE summary->>'mode' = 'incremental' AND started_at >= now() - make_interval(secs => $1))
             SELECT 'batches: ' || count(*) || ', records per batch: median '
                    || percentile_cont(0.5) WITHIN GROUP (ORDER BY (summary->>'records')::float8)
                    || ', seconds per batch: median ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (summary->>'seconds')::float8)::numeric, 3)
                    || ', p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY (summary->>'seconds')::float8)::numeric, 3)
               FROM runs
             UNION ALL
             SELECT line FROM (
               SELECT '  phase ' || rpad(p->>'phase', 22) || ' mean ' || round(avg((p->>'seconds')::float8)::numeric, 4) || ' s, max '
                      || round(max((p->>'seconds')::float8)::numeric, 3) || ' s' AS line, avg((p->>'seconds')::float8) AS mean
                 FROM runs, jsonb_array_elements(summary->'phases') p
                GROUP BY p->>'phase'
               HAVING avg((p->>'seconds')::float8) >= 0.0001
                ORDER BY mean DESC) ph",
            &[&(start.elapsed().as_secs_f64() + 1.0)],
        )
        .unwrap()
    {
        println!("worker resolve {}", r.get::<_, String>(0));
    }
    c.batch_execute(&format!(
        "SELECT cdp.drop_segment('latency {run}'); SELECT cdp.drop_source('public.latency_customers');
         DROP TABLE public.latency_customers;"
    ))
    .unwrap();
}

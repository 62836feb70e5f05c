//! Accuracy and speed of pg_cdp's phone normaliser (`cdp_core::normalise::phone::to_e164`)
//! against the `phonenumber` crate (Rust port of Google's libphonenumber), on the hand-written
//! ground truth in `cases.tsv`.
//!
//! Usage: phone_eval [CASES_TSV] [--iters N] [--hot CC] [--all]
//!   CASES_TSV  defaults to cases.tsv next to Cargo.toml
//!   --iters N  timing passes over all cases (default 1000)
//!   --hot CC   default country of the second, one-country timing run (default TR)
//!   --all      also print every case with both outputs

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use cdp_core::normalise::phone::to_e164;

/// The crate version pinned in Cargo.toml (`=0.3.10`); the `+9.0.33` build metadata is the
/// libphonenumber metadata release it embeds.
#[cfg(feature = "libphonenumber")]
const PHONENUMBER_VERSION: &str = "phonenumber 0.3.10+9.0.33 (libphonenumber metadata v9.0.33)";

struct Case {
    line: usize,
    country: String,
    raw: String,
    /// `None` = the number must be rejected
    expected: Option<String>,
    note: String,
    class: String,
}

/// What an implementation made of a case: the E.164 string, or a rejection reason.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Accept(String),
    Reject(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Accept(s) => write!(f, "{s}"),
            Outcome::Reject(r) => write!(f, "reject({r})"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Verdict {
    AcceptedCorrectly,
    RejectedCorrectly,
    WronglyAccepted,
    WronglyRejected,
    WrongE164,
}

impl Verdict {
    fn correct(self) -> bool {
        matches!(
            self,
            Verdict::AcceptedCorrectly | Verdict::RejectedCorrectly
        )
    }
    fn label(self) -> &'static str {
        match self {
            Verdict::AcceptedCorrectly => "ok",
            Verdict::RejectedCorrectly => "ok",
            Verdict::WronglyAccepted => "WRONGLY ACCEPTED",
            Verdict::WronglyRejected => "WRONGLY REJECTED",
            Verdict::WrongE164 => "WRONG E.164",
        }
    }
}

fn judge(expected: &Option<String>, got: &Outcome) -> Verdict {
    match (expected, got) {
        (Some(e), Outcome::Accept(g)) if e == g => Verdict::AcceptedCorrectly,
        (Some(_), Outcome::Accept(_)) => Verdict::WrongE164,
        (Some(_), Outcome::Reject(_)) => Verdict::WronglyRejected,
        (None, Outcome::Reject(_)) => Verdict::RejectedCorrectly,
        (None, Outcome::Accept(_)) => Verdict::WronglyAccepted,
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    total: usize,
    acc_ok: usize,
    rej_ok: usize,
    wrong_acc: usize,
    wrong_rej: usize,
    wrong_e164: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        self.total += 1;
        match v {
            Verdict::AcceptedCorrectly => self.acc_ok += 1,
            Verdict::RejectedCorrectly => self.rej_ok += 1,
            Verdict::WronglyAccepted => self.wrong_acc += 1,
            Verdict::WronglyRejected => self.wrong_rej += 1,
            Verdict::WrongE164 => self.wrong_e164 += 1,
        }
    }
    fn correct(&self) -> usize {
        self.acc_ok + self.rej_ok
    }
    fn pct(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.correct() as f64 / self.total as f64
        }
    }
}

/// One implementation under test: a name and a per-case function. The `prepare` step (parsing
/// the default country, done once per case) is kept out of the timed loop for both.
struct Impl {
    name: &'static str,
    run: fn(&Prepared) -> Outcome,
}

struct Prepared<'a> {
    case: &'a Case,
    #[cfg(feature = "libphonenumber")]
    pn_country: Option<phonenumber::country::Id>,
}

fn pg_cdp(p: &Prepared) -> Outcome {
    match to_e164(&p.case.raw, &p.case.country) {
        Ok(s) => Outcome::Accept(s),
        Err(r) => Outcome::Reject(r.to_string()),
    }
}

/// libphonenumber semantics: parse with the default country, require `is_valid`, format E.164
/// (the E.164 format never carries the extension, so extensions are dropped).
#[cfg(feature = "libphonenumber")]
fn libphonenumber(p: &Prepared) -> Outcome {
    use phonenumber::Mode;
    match phonenumber::parse(p.pn_country, &p.case.raw) {
        Err(e) => Outcome::Reject(format!("parse: {e}")),
        Ok(n) => {
            if phonenumber::is_valid(&n) {
                Outcome::Accept(n.format().mode(Mode::E164).to_string())
            } else {
                Outcome::Reject("not valid".into())
            }
        }
    }
}

fn impls() -> Vec<Impl> {
    #[allow(unused_mut)]
    let mut v = vec![Impl {
        name: "pg_cdp",
        run: pg_cdp,
    }];
    #[cfg(feature = "libphonenumber")]
    v.push(Impl {
        name: "phonenumber",
        run: libphonenumber,
    });
    v
}

fn load(path: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut cases = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() == 4,
            "{path}:{}: expected 4 tab-separated columns, got {}",
            i + 1,
            cols.len()
        );
        if !header_seen {
            header_seen = true;
            if cols[0] == "default_country" {
                continue;
            }
        }
        let expected = match cols[2] {
            "reject" => None,
            e if e.starts_with('+') && e[1..].bytes().all(|b| b.is_ascii_digit()) => {
                Some(e.to_string())
            }
            e => panic!("{path}:{}: bad expected value {e:?}", i + 1),
        };
        let note = cols[3].to_string();
        let class = note
            .split(':')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        cases.push(Case {
            line: i + 1,
            country: cols[0].to_string(),
            raw: cols[1].to_string(),
            expected,
            note,
            class,
        });
    }
    cases
}

fn print_tally_header(first: &str) {
    println!(
        "{first:<14} {:>5} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "cases", "correct", "%", "acc-ok", "rej-ok", "wr-acc", "wr-rej", "wr-e164"
    );
}

fn print_tally(name: &str, t: &Tally) {
    println!(
        "{name:<14} {:>5} {:>8} {:>6.1}% {:>7} {:>7} {:>7} {:>7} {:>7}",
        t.total,
        t.correct(),
        t.pct(),
        t.acc_ok,
        t.rej_ok,
        t.wrong_acc,
        t.wrong_rej,
        t.wrong_e164
    );
}

/// Group tallies by a key and print them with one column per implementation.
fn print_grouped(title: &str, keys: &[String], per_impl: &[(String, BTreeMap<String, Tally>)]) {
    println!("\n## {title} (correct/total per implementation; wa = wrongly accepted, wr = wrongly rejected, we = wrong E.164)");
    print!("{:<12}", "");
    for (name, _) in per_impl {
        print!(" {name:>28}");
    }
    println!();
    for k in keys {
        print!("{k:<12}");
        for (_, m) in per_impl {
            let t = m.get(k).copied().unwrap_or_default();
            let cell = format!(
                "{}/{} wa{} wr{} we{}",
                t.correct(),
                t.total,
                t.wrong_acc,
                t.wrong_rej,
                t.wrong_e164
            );
            print!(" {cell:>28}");
        }
        println!();
    }
}

/// Time every implementation on `cases`: a warm-up pass, then `iters` passes.
fn time_impls(impls: &[Impl], label: &str, cases: &[&Prepared], iters: usize) {
    println!("\n## Time per call: {label} x {iters} passes (std::time::Instant, release build)");
    let mut ns = Vec::new();
    for im in impls {
        for p in cases {
            black_box((im.run)(black_box(p)));
        }
        let start = Instant::now();
        for _ in 0..iters {
            for p in cases {
                black_box((im.run)(black_box(p)));
            }
        }
        let el = start.elapsed();
        let per = el.as_nanos() as f64 / (iters.max(1) * cases.len()) as f64;
        println!(
            "{:<14} {:>10.0} ns/call   ({:.2} s total)",
            im.name,
            per,
            el.as_secs_f64()
        );
        ns.push(per);
    }
    if ns.len() == 2 && ns[0] > 0.0 {
        println!("ratio phonenumber / pg_cdp: {:.0}x", ns[1] / ns[0]);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = concat!(env!("CARGO_MANIFEST_DIR"), "/cases.tsv").to_string();
    let mut iters: usize = 1000;
    let mut all = false;
    let mut hot_country = "TR".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iters" => iters = args.next().and_then(|v| v.parse().ok()).expect("--iters N"),
            "--all" => all = true,
            "--hot" => hot_country = args.next().expect("--hot CC"),
            "-h" | "--help" => {
                println!("usage: phone_eval [CASES_TSV] [--iters N] [--hot CC] [--all]");
                return;
            }
            _ => path = a,
        }
    }

    // phonenumber deserialises its metadata database on first use: time that once, first
    #[cfg(feature = "libphonenumber")]
    let first_call = {
        let t = Instant::now();
        black_box(phonenumber::parse(Some(phonenumber::country::Id::TR), "0532 412 34 56").is_ok());
        t.elapsed()
    };

    let cases = load(&path);
    let prepared: Vec<Prepared> = cases
        .iter()
        .map(|c| Prepared {
            case: c,
            #[cfg(feature = "libphonenumber")]
            pn_country: c.country.parse().ok(),
        })
        .collect();
    let impls = impls();

    println!("# pg_cdp phone normaliser vs libphonenumber");
    println!(
        "cases: {} from {} ({} countries as default; {} expected accept, {} expected reject)",
        cases.len(),
        path,
        cases
            .iter()
            .map(|c| c.country.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        cases.iter().filter(|c| c.expected.is_some()).count(),
        cases.iter().filter(|c| c.expected.is_none()).count()
    );
    println!("pg_cdp: cdp_core::normalise::phone::to_e164 (this checkout)");
    #[cfg(feature = "libphonenumber")]
    println!("{PHONENUMBER_VERSION}: parse(default country) + is_valid + format E.164");
    #[cfg(not(feature = "libphonenumber"))]
    println!("phonenumber: not built (--no-default-features)");

    // run every implementation once on every case
    let results: Vec<Vec<(Outcome, Verdict)>> = impls
        .iter()
        .map(|im| {
            prepared
                .iter()
                .map(|p| {
                    let o = (im.run)(p);
                    let v = judge(&p.case.expected, &o);
                    (o, v)
                })
                .collect()
        })
        .collect();

    // headline
    println!("\n## Totals");
    print_tally_header("implementation");
    let mut totals = Vec::new();
    for (im, res) in impls.iter().zip(&results) {
        let mut t = Tally::default();
        res.iter().for_each(|(_, v)| t.add(*v));
        print_tally(im.name, &t);
        totals.push(t);
    }
    // the same without the cases the truth file marks as ambiguous or policy-only
    println!("\nexcluding classes 'ambiguous' and '[policy]' placeholders:");
    print_tally_header("implementation");
    for (im, res) in impls.iter().zip(&results) {
        let mut t = Tally::default();
        for (c, (_, v)) in cases.iter().zip(res) {
            if c.class != "ambiguous" && !c.note.contains("[policy]") {
                t.add(*v);
            }
        }
        print_tally(im.name, &t);
    }

    // per class and per country
    let mut classes: Vec<String> = Vec::new();
    let mut countries: Vec<String> = Vec::new();
    for c in &cases {
        if !classes.contains(&c.class) {
            classes.push(c.class.clone());
        }
        if !countries.contains(&c.country) {
            countries.push(c.country.clone());
        }
    }
    let by = |key: &dyn Fn(&Case) -> String| -> Vec<(String, BTreeMap<String, Tally>)> {
        impls
            .iter()
            .zip(&results)
            .map(|(im, res)| {
                let mut m: BTreeMap<String, Tally> = BTreeMap::new();
                for (c, (_, v)) in cases.iter().zip(res) {
                    m.entry(key(c)).or_default().add(*v);
                }
                (im.name.to_string(), m)
            })
            .collect()
    };
    print_grouped("Per input class", &classes, &by(&|c| c.class.clone()));
    print_grouped(
        "Per default country",
        &countries,
        &by(&|c| c.country.clone()),
    );

    // every disagreement with the truth
    for (im, res) in impls.iter().zip(&results) {
        let wrong: Vec<_> = cases
            .iter()
            .zip(res)
            .filter(|(_, (_, v))| !v.correct())
            .collect();
        println!(
            "\n## Disagreements with the truth: {} ({} of {})",
            im.name,
            wrong.len(),
            cases.len()
        );
        for (c, (o, v)) in wrong {
            let exp = c.expected.as_deref().unwrap_or("reject");
            println!(
                "  L{:<4} {} {:?} expected {} got {} [{}] -- {}",
                c.line,
                c.country,
                c.raw,
                exp,
                o,
                v.label(),
                c.note
            );
        }
    }
    if impls.len() == 2 {
        let both: Vec<_> = cases
            .iter()
            .enumerate()
            .filter(|(i, _)| !results[0][*i].1.correct() && !results[1][*i].1.correct())
            .collect();
        println!("\n## Cases both implementations get wrong: {}", both.len());
        for (i, c) in both {
            println!(
                "  L{:<4} {} {:?} expected {} got {} / {} -- {}",
                c.line,
                c.country,
                c.raw,
                c.expected.as_deref().unwrap_or("reject"),
                results[0][i].0,
                results[1][i].0,
                c.note
            );
        }
    }
    if all {
        println!("\n## All cases");
        for (i, c) in cases.iter().enumerate() {
            print!(
                "  L{:<4} {} {:?} expected {}",
                c.line,
                c.country,
                c.raw,
                c.expected.as_deref().unwrap_or("reject")
            );
            for (im, res) in impls.iter().zip(&results) {
                print!(" | {}: {}", im.name, res[i].0);
            }
            println!();
        }
    }

    // timing: a plain loop over all cases, `iters` times, per implementation
    let all_refs: Vec<&Prepared> = prepared.iter().collect();
    time_impls(
        &impls,
        &format!("all {} cases", all_refs.len()),
        &all_refs,
        iters,
    );
    // phonenumber keeps its compiled regexes in a shared 100-entry LRU cache; a workload that
    // cycles through 44 countries evicts them, a one-country workload keeps them hot
    let hot: Vec<&Prepared> = prepared
        .iter()
        .filter(|p| p.case.country == hot_country)
        .collect();
    if !hot.is_empty() {
        time_impls(
            &impls,
            &format!("only the {} cases with default {hot_country}", hot.len()),
            &hot,
            iters,
        );
    }
    #[cfg(feature = "libphonenumber")]
    println!(
        "phonenumber first call in the process (metadata database load): {:.1} ms",
        first_call.as_secs_f64() * 1e3
    );
}

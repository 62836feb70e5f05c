//! Customer value: pure numeric models over per-profile summaries.
//!
//! Scope: everything here is plain Rust (std + serde), free of pgrx and PostgreSQL, so it is
//! unit-tested standalone. The SQL layer hands these modules one summary per profile (RFM), or
//! the usable orders as plain arrays that [`clv::summarise`] groups per profile and day.
//!
//! * [`rfm`]: recency / frequency / monetary scores (quintiles with a deterministic tie rule, or
//!   fixed thresholds) and the R×F segment map as data.
//! * [`clv`]: predictive lifetime value: BG/NBD (purchase count and P(alive)), Gamma-Gamma
//!   (spend per order), both fitted by maximum likelihood, and a discounted CLV over a horizon.
//! * [`kmeans`]: k-means (k-means++ seeding, Lloyd iterations) over standardised features.
//! * [`rng`]: the small deterministic random generator the models and tests use.
//!
//! Every routine is O(n) or O(n log n) in the number of profiles, deterministic for the same
//! input (and seed), and uses at most a few scoped threads whose partial results are combined
//! in a fixed order, so the result does not depend on the number of threads.

pub mod clv;
pub mod kmeans;
pub mod rfm;
pub mod rng;

/// Number of worker threads for the parallel sums: the machine's parallelism, at most 8.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// Sum `f(chunk)` over fixed-size chunks of `items`, using scoped threads.
///
/// The chunking does not depend on the number of threads and the per-chunk partial sums are
/// added in chunk order, so the result is bit-for-bit identical however many threads run.
pub(crate) fn par_chunk_sum<T, F>(items: &[T], chunk: usize, f: F) -> f64
where
    T: Sync,
    F: Fn(&[T]) -> f64 + Sync,
{
    let chunk = chunk.max(1);
    let n_chunks = items.len().div_ceil(chunk);
    if n_chunks == 0 {
        return 0.0;
    }
    let workers = threads().min(n_chunks);
    let mut partial = vec![0.0f64; n_chunks];
    if workers <= 1 {
        for (i, c) in items.chunks(chunk).enumerate() {
            partial[i] = f(c);
        }
    } else {
        // Worker w takes chunks w, w + workers, w + 2*workers, ...
        let f = &f;
        let results: Vec<Vec<(usize, f64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    s.spawn(move || {
                        items
                            .chunks(chunk)
                            .enumerate()
                            .skip(w)
                            .step_by(workers)
                            .map(|(i, c)| (i, f(c)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("worker thread panicked"))
                .collect()
        });
        for r in results {
            for (i, v) in r {
                partial[i] = v;
            }
        }
    }
    partial.iter().sum()
}

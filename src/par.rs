//! Work spread over the machine's cores, results in input order. Used where a publish asks
//! the same cheap question of thousands of files (a stat and a stat-cache lookup each, mostly
//! the kernel's path walk), which scales with cores; a leaf.

/// Below this many items the threads cost more than they save.
const MIN_PARALLEL: usize = 256;

/// At most this many threads, whatever the machine has.
const MAX_THREADS: usize = 8;

/// `f` applied to every item, on up to all cores; the results are in the order of `items`,
/// so a caller that stops at the first error reports the same one as a sequential loop.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores
        .min(MAX_THREADS)
        .min(items.len() / MIN_PARALLEL)
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            // A panic in `f` is a bug: let it surface as one.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_input_order_at_any_size() {
        for n in [0, 1, 255, 256, 257, 1000, 4099] {
            let items: Vec<usize> = (0..n).collect();
            let out = super::map(&items, |i| i * 3);
            assert_eq!(
                out,
                items.iter().map(|i| i * 3).collect::<Vec<_>>(),
                "{n} items"
            );
        }
    }
}

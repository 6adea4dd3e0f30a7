//! Work spread over the machine's cores, results in input order: [`map`] for thousands of
//! cheap items (a stat and a stat-cache lookup per file, mostly the kernel's path walk, which
//! scales with cores), [`map_each`] for a few costly ones; a leaf.

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

/// `f` applied to every item on up to `max_threads` threads, each taking the next item as it
/// finishes one: for a few items of very different cost (unpacking packages), where even
/// chunks would leave threads idle. Results are in the order of `items`.
pub fn map_each<T: Sync, R: Send>(
    items: &[T],
    max_threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, max_threads.max(1))
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    out.lock().expect("no thread panics holding the lock")[i] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .expect("no thread panics holding the lock")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
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

    #[test]
    fn map_each_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(
            super::map_each(&items, 4, |x| x * 2),
            (0..50).map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(super::map_each(&Vec::<u32>::new(), 4, |x| *x).is_empty());
    }
}

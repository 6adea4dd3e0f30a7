//! [`Filter::walk`](super::Filter::walk) on all cores. A tree of thousands of directories (a
//! `node_modules`, a Go toolchain as kodata) costs an `open`, `getdents` and `close` per
//! directory, one after the other on one core, on the way to every publish's first key.
//! Here each directory is a job: listing it gives its entries and exclusions in walk order
//! and, where one of its subdirectories would be entered, a mark and a new job for that
//! subdirectory, taken by whichever thread is free. Putting the pieces back together in
//! order gives exactly the sequential walk's lists, and its first error.

use super::{Filter, IgnoreError, Walk};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, PoisonError};

/// At most this many threads list directories, whatever the machine has.
const MAX_THREADS: usize = 8;

/// A directory to list: absolute, relative to the project, and relative as a `/`-separated
/// string (what the filter's rules test).
pub(super) struct Dir {
    pub abs: PathBuf,
    pub rel_path: PathBuf,
    pub rel: String,
}

/// What one directory's listing gave, in walk order.
enum Piece {
    Found(Walk),
    /// Everything below a subdirectory: the job that lists it.
    Below(usize),
}

/// Collects one directory's listing: what [`Filter::walk_dir`] finds goes into its `Walk`
/// argument until a subdirectory is handed here; the pieces keep the order.
#[derive(Default)]
pub(super) struct Listing {
    pieces: Vec<Piece>,
    below: Vec<Dir>,
}

impl Listing {
    /// Everything found so far comes before `dir`'s contents, which another job lists.
    pub fn enter_later(&mut self, found: &mut Walk, dir: Dir) {
        self.pieces.push(Piece::Found(std::mem::take(found)));
        self.pieces.push(Piece::Below(self.below.len()));
        self.below.push(dir);
    }
}

/// A job's result: its pieces (with `Below` naming job ids), then the error that ended its
/// listing, if one did: it is reported after whatever came before it, as the sequential walk
/// reports the first error it meets.
type Done = (Vec<Piece>, Option<IgnoreError>);

#[derive(Default)]
struct Jobs {
    queue: Vec<(usize, Dir)>,
    /// Jobs taken and not yet finished.
    busy: usize,
    done: Vec<Option<Done>>,
}

impl Filter {
    /// Lists `root` and everything below it into `walk`, as the sequential
    /// [`walk_dir`](Self::walk_dir) would.
    pub(super) fn walk_parallel(&self, root: Dir, walk: &mut Walk) -> Result<(), IgnoreError> {
        let mut jobs = Jobs::default();
        // The root on this thread: a tree with no subdirectories starts no thread.
        jobs.done.push(None);
        let (listing, failed) = self.list(&root);
        jobs.record(0, listing, failed);
        if !jobs.queue.is_empty() {
            let threads = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS);
            let shared = (Mutex::new(jobs), Condvar::new());
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(|| self.work(&shared));
                }
                self.work(&shared);
            });
            jobs = shared
                .0
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
        }
        assemble(&mut jobs.done, 0, walk)
    }

    /// Takes jobs until none is left and none is running (a running one may add more).
    fn work(&self, (jobs, wake): &(Mutex<Jobs>, Condvar)) {
        loop {
            let mut js = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let (id, dir) = loop {
                if let Some(job) = js.queue.pop() {
                    js.busy += 1;
                    break job;
                }
                if js.busy == 0 {
                    return;
                }
                js = wake.wait(js).unwrap_or_else(PoisonError::into_inner);
            };
            drop(js);
            let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.list(&dir)));
            let mut js = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let (listing, failed) = match listed {
                Ok(l) => l,
                Err(panic) => {
                    // The others would wait for this job for ever: let them stop first.
                    js.busy -= 1;
                    js.queue.clear();
                    wake.notify_all();
                    drop(js);
                    std::panic::resume_unwind(panic);
                }
            };
            js.record(id, listing, failed);
            js.busy -= 1;
            wake.notify_all();
        }
    }

    fn list(&self, dir: &Dir) -> (Listing, Option<IgnoreError>) {
        let mut listing = Listing::default();
        let mut found = Walk::default();
        let failed = self
            .walk_dir(
                &dir.abs,
                &dir.rel_path,
                &dir.rel,
                &mut found,
                Some(&mut listing),
            )
            .err();
        listing.pieces.push(Piece::Found(found));
        (listing, failed)
    }
}

impl Jobs {
    /// Keeps job `id`'s pieces and queues its subdirectories as new jobs.
    fn record(&mut self, id: usize, listing: Listing, failed: Option<IgnoreError>) {
        let first = self.done.len();
        for (i, dir) in listing.below.into_iter().enumerate() {
            self.done.push(None);
            self.queue.push((first + i, dir));
        }
        let pieces = listing
            .pieces
            .into_iter()
            .map(|p| match p {
                Piece::Below(i) => Piece::Below(first + i),
                found => found,
            })
            .collect();
        self.done[id] = Some((pieces, failed));
    }
}

/// Job `id`'s pieces into `walk`, each subdirectory's in its place; the first error in walk
/// order ends it.
fn assemble(done: &mut [Option<Done>], id: usize, walk: &mut Walk) -> Result<(), IgnoreError> {
    let (pieces, failed) = done[id].take().expect("every queued job ran");
    for piece in pieces {
        match piece {
            Piece::Found(w) => {
                walk.entries.extend(w.entries);
                walk.excluded.extend(w.excluded);
            }
            Piece::Below(sub) => assemble(done, sub, walk)?,
        }
    }
    failed.map_or(Ok(()), Err)
}

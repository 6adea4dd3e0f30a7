//! Stat data a walk of the project took earlier in this process (the detector's, which stats
//! every file it lists for its execute bit), standing in for a second stat of the same files
//! when their layer keys are made, as long as nothing can have written them in between: no
//! build step started or ended between the moment they were taken and the moment they are
//! used, and none was running then. A warm publish of a tree of thousands of files then stats
//! each once, not twice.
//!
//! Anything else that changes a file between the two moments is the same race as a change
//! just after the second stat would be; a layer that is then written still checks each file
//! against what its key said (`layer::source`).

use super::Stat;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct Seen {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped when a step starts and when one ends: stats taken at one generation are kept
    /// only if it is still the current one when they are handed over.
    generation: u64,
    /// Steps running now: a stat taken meanwhile may already be stale.
    running: usize,
    /// Emptied when a step starts, so whatever is here was taken since the last one ended.
    stats: HashMap<OsString, Stat>,
}

impl Seen {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to give [`note`](Self::note) for stats taken from now on.
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Keeps the stat data of regular files (path, its metadata) taken since
    /// [`generation`](Self::generation) said `taken_at`, unless a step started or ended
    /// since then, or is running.
    pub fn note<'p>(
        &self,
        taken_at: u64,
        files: impl IntoIterator<Item = (&'p Path, &'p std::fs::Metadata)>,
    ) {
        let mut st = self.state();
        if st.running > 0 || st.generation != taken_at {
            return;
        }
        for (path, meta) in files {
            if meta.is_file() {
                st.stats.insert(path.as_os_str().to_owned(), Stat::of(meta));
            }
        }
    }

    /// The stat data kept for `path`: no step has started since it was taken.
    pub fn get(&self, path: &Path) -> Option<Stat> {
        self.state().stats.get(path.as_os_str()).copied()
    }

    /// A step starts: what was kept no longer counts. Ends when the guard is dropped.
    pub fn writing(&self) -> Writing<'_> {
        let mut st = self.state();
        st.running += 1;
        st.generation += 1;
        st.stats.clear();
        Writing { seen: self }
    }
}

/// A step running; see [`Seen::writing`].
pub struct Writing<'a> {
    seen: &'a Seen,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let mut st = self.seen.state();
        st.running -= 1;
        st.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_a_step_starts_and_not_while_one_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        let seen = Seen::default();
        assert_eq!(seen.get(&file), None);
        seen.note(seen.generation(), [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));
        // Directories are never kept: only a regular file's stat stands in for another.
        seen.note(
            seen.generation(),
            [(tmp.path(), &std::fs::metadata(tmp.path()).unwrap())],
        );
        assert_eq!(seen.get(tmp.path()), None);

        let step = seen.writing();
        assert_eq!(seen.get(&file), None, "a step started since");
        seen.note(seen.generation(), [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), None, "taken while a step runs");
        drop(step);
        assert_eq!(seen.get(&file), None, "taken while a step ran");
        seen.note(seen.generation(), [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));

        // Taken before a step that ended before they were handed over: stale already.
        let taken_at = seen.generation();
        drop(seen.writing());
        seen.note(taken_at, [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), None);

        // Two steps side by side (two platforms): kept again only once both ended.
        let a = seen.writing();
        let b = seen.writing();
        drop(a);
        seen.note(seen.generation(), [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), None);
        drop(b);
        assert_eq!(seen.get(&file), None);
        seen.note(seen.generation(), [(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));
    }
}

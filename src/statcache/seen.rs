//! Stat data a walk of the project took earlier in this process (the detector's, which stats
//! every file it lists for its execute bit), standing in for a second stat of the same files
//! when their layer keys are made, as long as nothing can have written them in between: no
//! build step ran since, and none was running when they were taken. A warm publish of a tree
//! of thousands of files then stats each once, not twice.
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
    /// Bumped when a step starts and when one ends: a stat taken before counts only while
    /// this is unchanged.
    generation: u64,
    /// Steps running now: a stat taken meanwhile may already be stale.
    running: usize,
    stats: HashMap<OsString, (Stat, u64)>,
}

impl Seen {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the stat data of regular files (path, its metadata), unless a step is running.
    pub fn note<'p>(&self, files: impl IntoIterator<Item = (&'p Path, &'p std::fs::Metadata)>) {
        let mut st = self.state();
        if st.running > 0 {
            return;
        }
        let generation = st.generation;
        for (path, meta) in files {
            if meta.is_file() {
                st.stats
                    .insert(path.as_os_str().to_owned(), (Stat::of(meta), generation));
            }
        }
    }

    /// The stat data kept for `path`, if no step started or ended since it was taken.
    pub fn get(&self, path: &Path) -> Option<Stat> {
        let st = self.state();
        let (stat, generation) = st.stats.get(path.as_os_str())?;
        (*generation == st.generation && st.running == 0).then_some(*stat)
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
        seen.note([(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));
        // Directories are never kept: only a regular file's stat stands in for another.
        seen.note([(tmp.path(), &std::fs::metadata(tmp.path()).unwrap())]);
        assert_eq!(seen.get(tmp.path()), None);

        let step = seen.writing();
        assert_eq!(seen.get(&file), None, "a step started since");
        seen.note([(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), None, "taken while a step runs");
        drop(step);
        assert_eq!(seen.get(&file), None, "taken while a step ran");
        seen.note([(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));

        // Two steps side by side (two platforms): kept again only once both ended.
        let a = seen.writing();
        let b = seen.writing();
        drop(a);
        seen.note([(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), None);
        drop(b);
        assert_eq!(seen.get(&file), None);
        seen.note([(file.as_path(), &meta)]);
        assert_eq!(seen.get(&file), Some(Stat::of(&meta)));
    }
}

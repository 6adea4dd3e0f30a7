//! What the runner remembers between runs: for each reusable step, the key of its last
//! successful run, in `<cache>/steps/<hash of its description and outputs>`. Those name it:
//! outputs are unique to the project and platform, and both stay put when its inputs change.

use crate::digest::Digest;
use crate::plan::BuildStep;
use std::path::{Path, PathBuf};

/// Where the records of steps live, under lade's cache.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(cache: &Path) -> Records {
        Records {
            dir: cache.join("steps"),
        }
    }

    fn path(&self, step: &BuildStep) -> PathBuf {
        // The description too: two steps may write the same file (yarn's settings).
        let mut names = step.description.as_bytes().to_vec();
        names.push(0);
        for o in &step.outputs {
            names.extend_from_slice(o.path().as_os_str().as_encoded_bytes());
            names.push(0);
        }
        // A step that writes in place what the step before wrote has no outputs of its own:
        // its directory names it.
        if step.outputs.is_empty() {
            names.extend_from_slice(step.dir.as_os_str().as_encoded_bytes());
        }
        self.dir.join(Digest::of(&names).hex())
    }

    /// Whether `step` last succeeded with `key` and its outputs are all still there (a step
    /// working in place on what the step before wrote has none: that step's reuse checked them).
    pub fn is_current(&self, step: &BuildStep, key: &str) -> bool {
        let in_place = step.inputs.contains(&crate::plan::StepInput::PreviousStep);
        (in_place || !step.outputs.is_empty())
            && step.outputs.iter().all(|o| o.path().exists())
            && std::fs::read_to_string(self.path(step)).is_ok_and(|k| k == key)
    }

    /// Forgets the last run of `step`: it is about to run again, and an interrupted run must
    /// not look finished.
    pub fn forget(&self, step: &BuildStep) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(step)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Records that `step` succeeded with `key`.
    pub fn remember(&self, step: &BuildStep, key: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(step);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, key)?;
        std::fs::rename(&tmp, &path)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

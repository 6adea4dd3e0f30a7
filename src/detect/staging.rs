//! Staging copies: build steps that copy project files into lade's build directory (the
//! project tree is never written to) with `lade stage`. The runner empties the destination
//! first; a reusable copy is kept, with whatever was built in it, while the files are unchanged.

use crate::plan::{BuildStep, LADE_PROGRAM, StepInput, StepOutput};
use std::path::Path;

/// Replaces `dest` with a copy of `files` (paths relative to `from`, directories copied whole),
/// keeping symlinks and modes; it never writes to `from`.
pub fn copy_step(description: String, from: &Path, files: &[String], dest: &Path) -> BuildStep {
    let mut args = vec![
        "stage".to_string(),
        "--from".into(),
        from.to_string_lossy().into_owned(),
        "--to".into(),
        dest.to_string_lossy().into_owned(),
        "--".into(),
    ];
    args.extend(files.iter().cloned());
    BuildStep::new(description, LADE_PROGRAM, args, from)
        .with_input(files_input(from, files))
        .with_output(StepOutput::Dir {
            path: dest.to_path_buf(),
        })
}

/// Like [`copy_step`], but the copy (and what later steps build in it) is kept while the files
/// are exactly what they were at its last run.
pub fn reusable_copy_step(
    description: String,
    from: &Path,
    files: &[String],
    dest: &Path,
) -> BuildStep {
    copy_step(description, from, files, dest).reused_when_unchanged()
}

/// The staged files as an input of a step that works on the copy: its key then follows them.
pub fn files_input(from: &Path, files: &[String]) -> StepInput {
    StepInput::Files {
        root: from.to_path_buf(),
        paths: files.to_vec(),
    }
}

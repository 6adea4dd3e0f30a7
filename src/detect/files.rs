//! Turning a directory of the source tree into layer entries, honouring `.dockerignore` and
//! the built-in deny list.

use super::DetectError;
use crate::plan::{EntryKind, FileEntry};
use std::path::Path;

/// Entries for everything under `project_dir/sub` that the ignore rules keep, placed under
/// `target_root`. Files keep an executable bit if the source has one (0755), else get 0644;
/// directories 0755; symlinks are kept as symlinks.
pub fn tree_entries(
    project_dir: &Path,
    sub: &Path,
    target_root: &str,
) -> Result<Vec<FileEntry>, DetectError> {
    let root = project_dir.join(sub);
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| DetectError::Files {
            dir: root.clone(),
            message: e.to_string(),
        })?;
        let rel = entry
            .path()
            .strip_prefix(&root)
            .expect("walkdir stays under its root");
        let target = format!(
            "{}/{}",
            target_root.trim_end_matches('/'),
            rel.to_string_lossy()
        );
        let ft = entry.file_type();
        let read_err = |source| DetectError::Read {
            path: entry.path().to_path_buf(),
            source,
        };
        let (mode, kind) = if ft.is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(read_err)?;
            (
                0o777,
                EntryKind::Symlink {
                    link: link.to_string_lossy().into_owned(),
                },
            )
        } else if ft.is_dir() {
            (0o755, EntryKind::Dir)
        } else {
            use std::os::unix::fs::PermissionsExt;
            let meta = entry.metadata().map_err(|e| read_err(e.into()))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            (
                mode,
                EntryKind::File {
                    source: entry.path().to_path_buf(),
                },
            )
        };
        out.push(FileEntry { target, mode, kind });
    }
    Ok(out)
}

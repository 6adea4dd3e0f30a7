//! Turning a directory of the source tree into layer entries, through `.dockerignore` and the
//! built-in deny list.

use super::DetectError;
use crate::ignore::{self, Filter};
use crate::plan::{EntryKind, Excluded, FileEntry};
use std::path::{Path, PathBuf};

/// Entries for everything under `project_dir/sub` that `filter` keeps, placed under
/// `target_root`, plus what it left out. Files keep an executable bit if the source has one
/// (0755), else get 0644; directories 0755; symlinks stay symlinks.
pub fn tree_entries(
    project_dir: &Path,
    sub: &Path,
    target_root: &str,
    filter: &Filter,
) -> Result<(Vec<FileEntry>, Vec<Excluded>), DetectError> {
    let walk = filter
        .walk(project_dir, sub)
        .map_err(|e| DetectError::Files {
            dir: project_dir.join(sub),
            message: e.to_string(),
        })?;
    // The walk stat'ed each file for its executable bit; the names are made on all cores.
    let entries = crate::par::map(&walk.entries, |entry| -> Result<_, DetectError> {
        let Ok(rel) = entry.path.strip_prefix(sub) else {
            return Ok(None);
        };
        if rel.as_os_str().is_empty() {
            return Ok(None);
        }
        let source = project_dir.join(&entry.path);
        let target = format!(
            "{}/{}",
            target_root.trim_end_matches('/'),
            rel.to_string_lossy()
        );
        let read_err = |source_err| DetectError::Read {
            path: source.clone(),
            source: source_err,
        };
        let (mode, kind) = match entry.kind {
            ignore::EntryKind::Symlink => {
                let link = std::fs::read_link(&source).map_err(read_err)?;
                (
                    0o777,
                    EntryKind::Symlink {
                        link: link.to_string_lossy().into_owned(),
                    },
                )
            }
            ignore::EntryKind::Dir => (0o755, EntryKind::Dir),
            ignore::EntryKind::File => (
                if entry.executable { 0o755 } else { 0o644 },
                EntryKind::File {
                    source: source.clone(),
                },
            ),
        };
        Ok(Some(FileEntry { target, mode, kind }))
    });
    let mut out = Vec::new();
    for e in entries {
        out.extend(e?);
    }
    let excluded = walk
        .excluded
        .into_iter()
        .map(|e| Excluded {
            path: e.path.to_string_lossy().into_owned(),
            reason: e.reason.to_string(),
        })
        .collect();
    Ok((out, excluded))
}

/// Names of the entries directly in `dir` that `keep` accepts, sorted; a missing directory has
/// none.
pub fn dir_names(
    dir: &Path,
    keep: impl Fn(&str, &Path) -> bool,
) -> Result<Vec<String>, DetectError> {
    let read_err = |source| DetectError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(read_err)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if keep(&name, &e.path()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `a/b/../c` → `a/c` without touching the file system (the path may not exist yet): the
/// directories a go.work, a `replace` or a Cargo path dependency name, as inputs of a step.
pub(crate) fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether the relative directory `rel` matches a workspace member pattern `pattern` (npm,
/// pnpm and uv spell them alike): `*` and `?` within one path
/// segment, `**` any number of segments.
pub(crate) fn dir_matches(pattern: &str, rel: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let r: Vec<&str> = rel.split('/').collect();
    match_segments(&p, &r)
}

fn match_segments(p: &[&str], r: &[&str]) -> bool {
    match (p.first(), r.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            match_segments(&p[1..], r) || (!r.is_empty() && match_segments(p, &r[1..]))
        }
        (Some(ps), Some(rs)) => {
            match_segment(ps.as_bytes(), rs.as_bytes()) && match_segments(&p[1..], &r[1..])
        }
        _ => false,
    }
}

fn match_segment(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            match_segment(&p[1..], s) || (!s.is_empty() && match_segment(p, &s[1..]))
        }
        (Some(b'?'), Some(_)) => match_segment(&p[1..], &s[1..]),
        (Some(a), Some(b)) => a == b && match_segment(&p[1..], &s[1..]),
        _ => false,
    }
}

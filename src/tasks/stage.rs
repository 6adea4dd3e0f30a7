//! `lade stage`: copies project files into a staging directory of lade's build directory (the
//! runner has emptied it), keeping symlinks as symlinks and permission bits. Builds and
//! installs then run in the copy, so the project is never written to.

use super::TaskError;
use std::path::Path;

/// Copies `files` (paths relative to `from`; a directory with everything below it) to `to`.
/// With no files, everything in `from` is copied. Entries whose name matches one of `skip`
/// (`*` matches any run of characters) are left out, with everything below them.
pub fn stage(from: &Path, to: &Path, files: &[String], skip: &[String]) -> Result<(), TaskError> {
    std::fs::create_dir_all(to).map_err(TaskError::io("creating", to))?;
    if files.is_empty() {
        return copy_dir_contents(from, to, skip);
    }
    for f in files {
        let src = from.join(f);
        let dst = to.join(f);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(TaskError::io("creating", parent))?;
        }
        copy_entry(&src, &dst, skip)?;
    }
    Ok(())
}

fn copy_dir_contents(from: &Path, to: &Path, skip: &[String]) -> Result<(), TaskError> {
    let mut names: Vec<_> = std::fs::read_dir(from)
        .map_err(TaskError::io("reading", from))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(TaskError::io("reading", from))?;
    names.sort();
    for name in names {
        if skip.iter().any(|p| wildcard(p, &name.to_string_lossy())) {
            continue;
        }
        copy_entry(&from.join(&name), &to.join(&name), skip)?;
    }
    Ok(())
}

fn copy_entry(src: &Path, dst: &Path, skip: &[String]) -> Result<(), TaskError> {
    let meta = std::fs::symlink_metadata(src).map_err(TaskError::io("reading", src))?;
    if meta.is_symlink() {
        let link = std::fs::read_link(src).map_err(TaskError::io("reading", src))?;
        std::os::unix::fs::symlink(&link, dst).map_err(TaskError::io("creating", dst))
    } else if meta.is_dir() {
        match std::fs::create_dir(dst) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(TaskError::io("creating", dst)(e));
            }
            _ => {}
        }
        copy_dir_contents(src, dst, skip)
    } else {
        // fs::copy keeps the permission bits, as the tar pipe this replaces did.
        std::fs::copy(src, dst).map_err(TaskError::io("copying", src))?;
        Ok(())
    }
}

/// Shell-style name matching with `*` only, as the skip lists need.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(mut name) = name.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            loop {
                if wildcard(rest, name) {
                    return true;
                }
                let mut chars = name.chars();
                if chars.next().is_none() {
                    return false;
                }
                name = chars.as_str();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn wildcards_match_names() {
        assert!(wildcard("*.pem", "key.pem"));
        assert!(!wildcard("*.pem", "key.pem.txt"));
        assert!(wildcard(".env.*", ".env.local"));
        assert!(!wildcard(".env.*", ".env"));
        assert!(wildcard("build", "build"));
        assert!(wildcard("*.egg-info", "x.egg-info"));
        assert!(wildcard("a*b*c", "aXbYc"));
    }

    #[test]
    fn listed_files_and_directories_are_copied_with_links_and_modes() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let f = from.path();
        std::fs::create_dir_all(f.join("src/inner")).unwrap();
        std::fs::write(f.join("package.json"), "{}").unwrap();
        std::fs::write(f.join("src/inner/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            f.join("src/inner/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::os::unix::fs::symlink("inner/run.sh", f.join("src/link")).unwrap();
        std::fs::write(f.join("not-listed"), "x").unwrap();
        let out = to.path().join("stage");
        stage(f, &out, &["package.json".into(), "src".into()], &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("package.json")).unwrap(),
            "{}"
        );
        let mode = std::fs::metadata(out.join("src/inner/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            std::fs::read_link(out.join("src/link")).unwrap(),
            Path::new("inner/run.sh")
        );
        assert!(!out.join("not-listed").exists());
    }

    #[test]
    fn a_whole_tree_is_copied_without_skipped_names() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let f = from.path();
        std::fs::create_dir_all(f.join("pkg/__pycache__")).unwrap();
        std::fs::write(f.join("pkg/__pycache__/x.pyc"), "").unwrap();
        std::fs::write(f.join("pkg/app.py"), "").unwrap();
        std::fs::write(f.join("server.pem"), "").unwrap();
        stage(f, to.path(), &[], &["__pycache__".into(), "*.pem".into()]).unwrap();
        assert!(to.path().join("pkg/app.py").is_file());
        assert!(!to.path().join("pkg/__pycache__").exists());
        assert!(!to.path().join("server.pem").exists());
    }
}

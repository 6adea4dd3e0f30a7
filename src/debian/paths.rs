//! Where a file from a package lands in the image. Debian 12 is merged-/usr: `/bin`, `/sbin`,
//! `/lib` and `/lib64` are symlinks into `/usr`, so a package's `/lib/x` is written as
//! `/usr/lib/x` (writing it under `/lib` would replace the symlink with a directory when
//! layers are stacked). Documentation is dropped as distroless drops it, except each
//! package's copyright file, which licences require to travel with the binaries.

/// Top-level directories that are symlinks into `/usr` on a merged-/usr system.
pub const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// Trees under /usr/share not shipped in images.
const DROPPED_TREES: &[&str] = &["usr/share/man", "usr/share/info", "usr/share/lintian"];

#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// Relative path in the image (`usr/lib/x86_64-linux-gnu/libc.so.6`).
    Keep(String),
    /// Left out; the reason is for the report.
    Drop(&'static str),
}

/// Normalizes a tar member name (`./lib/x`, `lib/x/`) to `lib/x`; `None` for the root or for a
/// name that tries to leave it.
pub fn normalize(name: &str) -> Result<Option<String>, String> {
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("'{name}' leaves the root")),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Where `rel` (normalized) goes in a merged-/usr image, or why it does not.
pub fn place(rel: &str) -> Placement {
    let first = rel.split('/').next().unwrap_or("");
    if MERGED_DIRS.contains(&first) {
        if rel == first {
            return Placement::Drop("merged-/usr symlink");
        }
        return keep_or_drop(format!("usr/{rel}"));
    }
    keep_or_drop(rel.to_string())
}

fn keep_or_drop(rel: String) -> Placement {
    for tree in DROPPED_TREES {
        if rel == *tree || rel.starts_with(&format!("{tree}/")) {
            return Placement::Drop("documentation");
        }
    }
    if let Some(rest) = rel.strip_prefix("usr/share/doc/") {
        // usr/share/doc/<pkg> itself and usr/share/doc/<pkg>/copyright stay.
        let mut parts = rest.splitn(2, '/');
        let _pkg = parts.next();
        match parts.next() {
            None | Some("copyright") => {}
            Some(_) => return Placement::Drop("documentation"),
        }
    }
    Placement::Keep(rel)
}

/// The link target to write for a symlink moved from `orig` (normalized, as the package has it)
/// to `placed`. A relative target is resolved where the package put the link and rewritten as
/// an absolute path, since it would point elsewhere from the new directory. `None` when the
/// link would point at itself: a compatibility link the merged-/usr layout makes redundant.
pub fn relink(orig: &str, placed: &str, link: &str) -> Option<String> {
    if orig == placed || link.starts_with('/') {
        let abs = link.trim_end_matches('/');
        return (abs.trim_start_matches('/') != placed).then(|| link.to_string());
    }
    let parent = orig.rsplit_once('/').map_or("", |(p, _)| p);
    let mut parts: Vec<&str> = parent.split('/').filter(|c| !c.is_empty()).collect();
    for c in link.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let resolved = parts.join("/");
    let target = match place(&resolved) {
        Placement::Keep(p) => p,
        Placement::Drop(_) => resolved,
    };
    (target != placed).then(|| format!("/{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_tar_names() {
        assert_eq!(normalize("./usr/bin/").unwrap().as_deref(), Some("usr/bin"));
        assert_eq!(normalize("./").unwrap(), None);
        assert_eq!(normalize(".").unwrap(), None);
        assert!(normalize("./usr/../../etc/passwd").is_err());
    }

    #[test]
    fn merged_usr_mapping() {
        for (from, to) in [
            (
                "lib/x86_64-linux-gnu/libc.so.6",
                "usr/lib/x86_64-linux-gnu/libc.so.6",
            ),
            (
                "lib64/ld-linux-x86-64.so.2",
                "usr/lib64/ld-linux-x86-64.so.2",
            ),
            ("bin/bash", "usr/bin/bash"),
            ("sbin/ldconfig", "usr/sbin/ldconfig"),
            ("usr/lib/os-release", "usr/lib/os-release"),
            ("etc/os-release", "etc/os-release"),
            ("library/x", "library/x"),
        ] {
            assert_eq!(place(from), Placement::Keep(to.into()), "{from}");
        }
        assert_eq!(place("lib"), Placement::Drop("merged-/usr symlink"));
        assert_eq!(place("bin"), Placement::Drop("merged-/usr symlink"));
    }

    #[test]
    fn docs_dropped_but_copyright_kept() {
        assert_eq!(
            place("usr/share/doc/libc6/copyright"),
            Placement::Keep("usr/share/doc/libc6/copyright".into())
        );
        assert_eq!(
            place("usr/share/doc/libc6"),
            Placement::Keep("usr/share/doc/libc6".into())
        );
        assert_eq!(
            place("usr/share/doc"),
            Placement::Keep("usr/share/doc".into())
        );
        for d in [
            "usr/share/doc/libc6/changelog.Debian.gz",
            "usr/share/doc/libc6/examples/x",
            "usr/share/man/man1/ls.1.gz",
            "usr/share/man",
            "usr/share/info/dir",
            "usr/share/lintian/overrides/libc6",
        ] {
            assert_eq!(place(d), Placement::Drop("documentation"), "{d}");
        }
        assert_eq!(
            place("usr/share/manual"),
            Placement::Keep("usr/share/manual".into())
        );
    }

    #[test]
    fn relinks_moved_symlinks() {
        // Unmoved links are kept as they are.
        assert_eq!(
            relink("usr/bin/python3", "usr/bin/python3", "python3.11").as_deref(),
            Some("python3.11")
        );
        // An absolute link is still right after the move.
        assert_eq!(
            relink(
                "lib64/ld-linux-x86-64.so.2",
                "usr/lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            )
            .as_deref(),
            Some("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        // A relative link is resolved from the package's location.
        assert_eq!(
            relink("bin/zcat", "usr/bin/zcat", "../usr/bin/gzip").as_deref(),
            Some("/usr/bin/gzip")
        );
        assert_eq!(
            relink("lib/x/libfoo.so", "usr/lib/x/libfoo.so", "libfoo.so.1").as_deref(),
            Some("/usr/lib/x/libfoo.so.1")
        );
        // A compatibility link onto itself disappears.
        assert_eq!(relink("bin/sh", "usr/bin/sh", "../usr/bin/sh"), None);
        assert_eq!(relink("bin/sh", "usr/bin/sh", "/usr/bin/sh"), None);
    }
}

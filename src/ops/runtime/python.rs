//! The Python a base really has, read from its files and config rather than its name: the
//! interpreter's file name (`/usr/bin/python3` → `python3.11`), else its standard library's
//! directory (`/usr/lib/python3.11`), with the patch release from `PYTHON_VERSION` when the
//! image sets it (the official images do). Debian's and distroless' files name only
//! major.minor, so the patch release is then unknown and a requirement holds if some patch
//! release of that minor satisfies it.

use crate::oci::tree::FileTree;
use crate::plan::PythonRequirement;
use std::fmt;

/// Where an image's `python3` usually is.
const INTERPRETERS: &[&str] = &["/usr/bin/python3", "/usr/local/bin/python3"];
const LIBRARIES: &[&str] = &["/usr/lib", "/usr/local/lib"];

#[derive(Clone, Debug, PartialEq)]
pub struct BasePython {
    pub major: u64,
    pub minor: u64,
    pub patch: Option<u64>,
    /// Where the version was read, for messages (`/usr/bin/python3.11`).
    pub from: String,
}

impl fmt::Display for BasePython {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{p}", self.major, self.minor)?,
            None => write!(f, "{}.{}", self.major, self.minor)?,
        }
        write!(f, ", from {}", self.from)
    }
}

/// `python3.11` → (3, 11).
fn minor_of(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("python")?;
    let (major, minor) = rest.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `3.12.1` → (3, 12, Some(1)).
fn parse_full(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let mut parts = v.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts
        .next()
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|p| p.parse().ok());
    Some((major, minor, patch))
}

/// The base's Python, or `None` when its files and config say nothing about one.
pub fn find(tree: &FileTree, env: &[String]) -> Option<BasePython> {
    let from_files = INTERPRETERS
        .iter()
        .filter_map(|p| tree.resolve(p))
        .find_map(|real| {
            let name = real.rsplit('/').next()?;
            let (major, minor) = minor_of(name)?;
            Some(BasePython {
                major,
                minor,
                patch: None,
                from: real.clone(),
            })
        })
        .or_else(|| {
            LIBRARIES.iter().find_map(|lib| {
                let mut found: Vec<(u64, u64)> = tree
                    .children(lib)
                    .iter()
                    .filter_map(|c| minor_of(c.rsplit('/').next()?))
                    .collect();
                found.sort();
                // Two standard libraries side by side: nothing says which one python3 is.
                let [(major, minor)] = found.as_slice() else {
                    return None;
                };
                Some(BasePython {
                    major: *major,
                    minor: *minor,
                    patch: None,
                    from: format!("{lib}/python{major}.{minor}"),
                })
            })
        });
    let declared = env
        .iter()
        .find_map(|e| e.strip_prefix("PYTHON_VERSION="))
        .and_then(parse_full);
    match (from_files, declared) {
        (Some(mut f), Some((major, minor, patch))) if (f.major, f.minor) == (major, minor) => {
            f.patch = patch;
            f.from.push_str(" and PYTHON_VERSION");
            Some(f)
        }
        (Some(f), _) => Some(f),
        (None, Some((major, minor, patch))) => Some(BasePython {
            major,
            minor,
            patch,
            from: "PYTHON_VERSION".into(),
        }),
        (None, None) => None,
    }
}

/// The first requirement the base's Python does not meet.
pub fn unmet<'a>(
    python: &BasePython,
    requirements: &'a [PythonRequirement],
) -> Option<&'a PythonRequirement> {
    requirements.iter().find(|r| {
        // Every spec was read when planned; one that cannot be read now is not this check's.
        !crate::detect::python::python_requirement_holds(
            &r.spec,
            r.pinned,
            python.major,
            python.minor,
            python.patch,
        )
        .unwrap_or(true)
    })
}

/// Whether wheels fetched for `wheels_for` (`3.11`) load in the base's Python.
pub fn wheels_fit(python: &BasePython, wheels_for: &str) -> bool {
    wheels_for == format!("{}.{}", python.major, python.minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::tree::Node;

    fn tree(entries: &[(&str, Node)]) -> FileTree {
        let mut t = FileTree::default();
        for (p, n) in entries {
            t.insert(p.to_string(), n.clone(), 0o755);
        }
        t
    }

    fn req(spec: &str) -> PythonRequirement {
        PythonRequirement {
            file: "pyproject.toml".into(),
            spec: spec.into(),
            pinned: false,
        }
    }

    #[test]
    fn debian_interpreter_link() {
        let t = tree(&[
            ("/usr/bin/python3", Node::Symlink("python3.11".into())),
            ("/usr/bin/python3.11", Node::File),
        ]);
        let py = find(&t, &[]).unwrap();
        assert_eq!((py.major, py.minor, py.patch), (3, 11, None));
        assert_eq!(py.from, "/usr/bin/python3.11");
        assert!(unmet(&py, &[req(">=3.10"), req("~=3.11.4")]).is_none());
        assert_eq!(
            unmet(&py, &[req(">=3.10"), req(">=3.12")]).unwrap().spec,
            ">=3.12"
        );
        assert!(wheels_fit(&py, "3.11"));
        assert!(!wheels_fit(&py, "3.12"));
    }

    #[test]
    fn official_image_declares_its_patch_release() {
        let t = tree(&[
            ("/usr/local/bin/python3", Node::Symlink("python3.12".into())),
            ("/usr/local/bin/python3.12", Node::File),
        ]);
        let py = find(&t, &["PYTHON_VERSION=3.12.1".into()]).unwrap();
        assert_eq!((py.major, py.minor, py.patch), (3, 12, Some(1)));
        assert_eq!(unmet(&py, &[req(">=3.12.2")]).unwrap().spec, ">=3.12.2");
        assert!(unmet(&py, &[req("^3.12")]).is_none());
    }

    #[test]
    fn standard_library_directory_when_the_interpreter_says_nothing() {
        let t = tree(&[
            ("/usr/bin/python3", Node::File),
            ("/usr/lib/python3.9", Node::Dir),
        ]);
        let py = find(&t, &[]).unwrap();
        assert_eq!((py.major, py.minor), (3, 9));
        assert!(unmet(&py, &[req(">=3.10")]).is_some());
    }

    #[test]
    fn no_python_at_all() {
        assert!(find(&FileTree::default(), &[]).is_none());
        let two = tree(&[
            ("/usr/lib/python3.9", Node::Dir),
            ("/usr/lib/python3.11", Node::Dir),
        ]);
        assert!(find(&two, &[]).is_none());
    }
}

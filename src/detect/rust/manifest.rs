//! `Cargo.toml` as far as lade needs it: the package, its binary targets found the way cargo
//! finds them, its features, and the workspace table. Parsed with `toml` rather than
//! `cargo metadata`, because detectors only read files: `cargo metadata` would resolve (and
//! possibly download) the dependency graph just to tell us which `main.rs` files exist.

use crate::detect::DetectError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    pub package: Option<Package>,
    pub workspace: Option<WorkspaceTable>,
    #[serde(default)]
    pub bin: Vec<BinTable>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Package {
    pub name: String,
    pub edition: Option<Inheritable<String>>,
    pub autobins: Option<bool>,
    pub default_run: Option<String>,
}

/// A package key that may say `key.workspace = true` instead of a value.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Inheritable<T> {
    Value(T),
    Workspace { workspace: bool },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspaceTable {
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub default_members: Option<Vec<String>>,
    pub package: Option<WorkspacePackage>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkspacePackage {
    pub edition: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BinTable {
    pub name: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub required_features: Vec<String>,
}

/// A binary target of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinTarget {
    /// The target's name, which is also the file cargo writes.
    pub name: String,
    /// Source of its `main`, relative to the package directory.
    pub path: PathBuf,
    pub required_features: Vec<String>,
}

/// A package of the project with the binaries it has.
#[derive(Clone, Debug)]
pub struct PackageInfo {
    pub name: String,
    pub dir: PathBuf,
    pub bins: Vec<BinTarget>,
    pub default_run: Option<String>,
    pub features: BTreeMap<String, Vec<String>>,
}

impl Manifest {
    /// Reads and parses the manifest at `path`; syntax errors give line and column.
    pub fn read(path: &Path) -> Result<Manifest, DetectError> {
        let text = std::fs::read_to_string(path).map_err(|source| DetectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Manifest, DetectError> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            DetectError::Invalid {
                file: path.to_path_buf(),
                detail: format!("{at}{}", e.message().trim()),
            }
        })
    }
}

impl PackageInfo {
    /// The package of `manifest` (read from `manifest_path`), its binaries discovered as cargo
    /// does. `workspace_edition` is the root's `[workspace.package] edition`, for packages that
    /// inherit it.
    pub fn from_manifest(
        manifest: &Manifest,
        manifest_path: &Path,
        workspace_edition: Option<&str>,
    ) -> Result<Option<PackageInfo>, DetectError> {
        let Some(package) = &manifest.package else {
            return Ok(None);
        };
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let edition = match &package.edition {
            Some(Inheritable::Value(e)) => e.as_str(),
            Some(Inheritable::Workspace { workspace: true }) => workspace_edition.unwrap_or("2015"),
            _ => "2015",
        };
        let bins = bin_targets(dir, manifest, &package.name, edition, manifest_path)?;
        Ok(Some(PackageInfo {
            name: package.name.clone(),
            dir: dir.to_path_buf(),
            bins,
            default_run: package.default_run.clone(),
            features: manifest.features.clone(),
        }))
    }

    /// Features enabled by `requested` (for this package) and, unless `no_default`, the default
    /// feature, followed through the `[features]` table. Entries that name dependency features
    /// (`dep:x`, `x/y`) enable the optional dependency's implicit feature `x`, as cargo does.
    pub fn enabled_features(&self, requested: &[String], no_default: bool) -> BTreeSet<String> {
        let mut todo: Vec<String> = requested.to_vec();
        if !no_default && self.features.contains_key("default") {
            todo.push("default".into());
        }
        let mut on = BTreeSet::new();
        while let Some(f) = todo.pop() {
            let f = match f.strip_prefix("dep:") {
                Some(dep) => dep.to_string(),
                None => f
                    .split_once('/')
                    .map_or(f.clone(), |(d, _)| d.trim_end_matches('?').to_string()),
            };
            if on.insert(f.clone())
                && let Some(implied) = self.features.get(&f)
            {
                todo.extend(implied.iter().cloned());
            }
        }
        on
    }
}

/// Binary targets: the `[[bin]]` tables, plus (unless autodiscovery is off) `src/main.rs`
/// named after the package, `src/bin/NAME.rs` and `src/bin/NAME/main.rs`. An inferred target
/// with the name or the file of a declared one is the declared one. Sorted by name.
fn bin_targets(
    dir: &Path,
    manifest: &Manifest,
    package: &str,
    edition: &str,
    manifest_path: &Path,
) -> Result<Vec<BinTarget>, DetectError> {
    let inferred = inferred_bins(dir, package)?;
    let mut bins: Vec<BinTarget> = Vec::new();
    for b in &manifest.bin {
        let name = b.name.clone().ok_or_else(|| DetectError::Invalid {
            file: manifest_path.to_path_buf(),
            detail: "a [[bin]] table has no `name`".into(),
        })?;
        let path = match &b.path {
            Some(p) => PathBuf::from(p),
            None => inferred
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.path.clone())
                .unwrap_or_else(|| PathBuf::from(format!("src/bin/{name}.rs"))),
        };
        bins.push(BinTarget {
            name,
            path,
            required_features: b.required_features.clone(),
        });
    }
    // Edition 2015 turns inference off as soon as one [[bin]] is declared.
    let autobins = manifest
        .package
        .as_ref()
        .and_then(|p| p.autobins)
        .unwrap_or(edition != "2015" || manifest.bin.is_empty());
    if autobins {
        for i in inferred {
            if !bins.iter().any(|b| b.name == i.name || b.path == i.path) {
                bins.push(i);
            }
        }
    }
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bins)
}

fn inferred_bins(dir: &Path, package: &str) -> Result<Vec<BinTarget>, DetectError> {
    let mut out = Vec::new();
    if dir.join("src/main.rs").is_file() {
        out.push(BinTarget {
            name: package.to_string(),
            path: "src/main.rs".into(),
            required_features: Vec::new(),
        });
    }
    let bin_dir = dir.join("src/bin");
    let rd = match std::fs::read_dir(&bin_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(DetectError::Read {
                path: bin_dir,
                source,
            });
        }
    };
    let mut found = Vec::new();
    for e in rd {
        let e = e.map_err(|source| DetectError::Read {
            path: bin_dir.clone(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if let Some(stem) = name.strip_suffix(".rs")
            && path.is_file()
        {
            found.push((stem.to_string(), format!("src/bin/{name}")));
        } else if path.join("main.rs").is_file() {
            found.push((name.clone(), format!("src/bin/{name}/main.rs")));
        }
    }
    found.sort();
    out.extend(found.into_iter().map(|(name, path)| BinTarget {
        name,
        path: path.into(),
        required_features: Vec::new(),
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    fn package(dir: &Path) -> PackageInfo {
        let path = dir.join("Cargo.toml");
        let m = Manifest::read(&path).unwrap();
        PackageInfo::from_manifest(&m, &path, Some("2021"))
            .unwrap()
            .unwrap()
    }

    fn names(p: &PackageInfo) -> Vec<&str> {
        p.bins.iter().map(|b| b.name.as_str()).collect()
    }

    #[test]
    fn discovers_bins_like_cargo() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"svc\"\nedition = \"2021\"\n\n[[bin]]\nname = \"admin\"\npath = \"tools/admin.rs\"\nrequired-features = [\"adm\"]\n",
                ),
                ("src/main.rs", "fn main() {}"),
                ("src/bin/worker.rs", "fn main() {}"),
                ("src/bin/migrate/main.rs", "fn main() {}"),
                ("src/bin/notes.txt", ""),
                ("tools/admin.rs", "fn main() {}"),
            ],
        );
        let p = package(t.path());
        assert_eq!(names(&p), ["admin", "migrate", "svc", "worker"]);
        assert_eq!(p.bins[0].required_features, ["adm"]);
        assert_eq!(p.bins[1].path, Path::new("src/bin/migrate/main.rs"));

        // A declared target with an inferred target's file replaces it (the name changes).
        write(
            t.path(),
            &[(
                "Cargo.toml",
                "[package]\nname = \"svc\"\nedition = \"2021\"\n[[bin]]\nname = \"server\"\npath = \"src/main.rs\"\n",
            )],
        );
        assert_eq!(names(&package(t.path())), ["migrate", "server", "worker"]);

        // autobins = false keeps only declared targets; so does edition 2015 with a [[bin]].
        write(
            t.path(),
            &[(
                "Cargo.toml",
                "[package]\nname = \"svc\"\nedition.workspace = true\nautobins = false\n[[bin]]\nname = \"worker\"\n",
            )],
        );
        assert_eq!(names(&package(t.path())), ["worker"]);
        write(
            t.path(),
            &[(
                "Cargo.toml",
                "[package]\nname = \"svc\"\n[[bin]]\nname = \"svc\"\n",
            )],
        );
        let p = package(t.path());
        assert_eq!(names(&p), ["svc"]);
        assert_eq!(p.bins[0].path, Path::new("src/main.rs"));
    }

    #[test]
    fn a_library_has_no_bins() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"lib\"\nedition = \"2021\"\n",
                ),
                ("src/lib.rs", ""),
            ],
        );
        assert!(package(t.path()).bins.is_empty());
    }

    #[test]
    fn features_follow_the_table() {
        let m = Manifest::parse(
            "[package]\nname = \"x\"\n[features]\ndefault = [\"a\"]\na = [\"b\", \"dep:serde\", \"tokio/rt\"]\nb = []\nc = []\n",
            Path::new("Cargo.toml"),
        )
        .unwrap();
        let p = PackageInfo::from_manifest(&m, Path::new("/p/Cargo.toml"), None)
            .unwrap()
            .unwrap();
        let on = p.enabled_features(&[], false);
        assert_eq!(
            on.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "default", "serde", "tokio"]
        );
        let on = p.enabled_features(&["c".into()], true);
        assert_eq!(on.iter().map(String::as_str).collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = Manifest::parse(
            "[package]\nname = \"x\"\nedition = = 1\n",
            Path::new("/p/Cargo.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/p/Cargo.toml: line 3, column "), "{e}");
    }
}

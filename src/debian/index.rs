//! The package index of one architecture: every suite's `Packages` merged, keeping for each
//! name the highest version (what apt calls the candidate when all suites have the same
//! priority), and which packages provide which virtual names.

use super::control::{Alternatives, Relation, paragraphs, parse_relations};
use super::version::{self, Op};
use std::collections::HashMap;

/// One binary package as a `Packages` file describes it. Relation fields stay text until the
/// resolver needs them: most of the 60 000 packages are never looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    /// Path of the .deb below the archive root (`pool/main/…`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// Which suite it came from (`bookworm-security`); the suite also says which archive root
    /// (`debian` or `debian-security`) `filename` is relative to.
    pub suite: String,
}

impl Package {
    /// Pre-Depends first: they must be satisfied before the package is even unpacked.
    pub fn dependencies(&self) -> Result<Vec<Alternatives>, String> {
        let mut all = parse_relations(&self.pre_depends)?;
        all.extend(parse_relations(&self.depends)?);
        Ok(all)
    }
}

/// A package offering a virtual name, with the version it provides if it says one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub package: String,
    pub version: Option<String>,
}

#[derive(Debug, Default)]
pub struct Index {
    pub arch: String,
    packages: HashMap<String, Package>,
    providers: HashMap<String, Vec<Provider>>,
}

impl Index {
    pub fn new(arch: &str) -> Index {
        Index {
            arch: arch.to_string(),
            ..Index::default()
        }
    }

    /// Adds the packages of one `Packages` file. Packages for other architectures (a mirror
    /// may list them) are ignored; `all` packages are kept.
    pub fn add(&mut self, text: &str, suite: &str) -> Result<usize, String> {
        let mut n = 0;
        for para in paragraphs(text) {
            let field = |name: &str| para.get(name).unwrap_or("").to_string();
            let Some(name) = para.get("Package") else {
                continue;
            };
            let architecture = field("Architecture");
            if architecture != self.arch && architecture != "all" {
                continue;
            }
            let version = field("Version");
            let sha256 = field("SHA256");
            let filename = field("Filename");
            if version.is_empty() || filename.is_empty() || sha256.len() != 64 {
                return Err(format!("package {name} lacks Version, Filename or SHA256"));
            }
            let size = para
                .get("Size")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("package {name} has no valid Size"))?;
            let pkg = Package {
                name: name.to_string(),
                version,
                architecture,
                depends: field("Depends"),
                pre_depends: field("Pre-Depends"),
                provides: field("Provides"),
                filename,
                size,
                sha256: sha256.to_ascii_lowercase(),
                suite: suite.to_string(),
            };
            n += 1;
            match self.packages.get(name) {
                Some(old) if version::compare(&old.version, &pkg.version).is_ge() => {}
                _ => {
                    self.packages.insert(pkg.name.clone(), pkg);
                }
            }
        }
        self.index_providers();
        Ok(n)
    }

    /// Rebuilds the virtual-name map from the current candidates, sorted by provider name so
    /// the choice among several providers never depends on file order.
    fn index_providers(&mut self) {
        let mut providers: HashMap<String, Vec<Provider>> = HashMap::new();
        for p in self.packages.values() {
            if p.provides.is_empty() {
                continue;
            }
            // A malformed Provides only loses that package's virtual names.
            for group in parse_relations(&p.provides).unwrap_or_default() {
                for rel in group {
                    let version = match rel.version {
                        Some((Op::Eq, v)) => Some(v),
                        _ => None,
                    };
                    providers.entry(rel.name).or_default().push(Provider {
                        package: p.name.clone(),
                        version,
                    });
                }
            }
        }
        for list in providers.values_mut() {
            list.sort_by(|a, b| a.package.cmp(&b.package));
        }
        self.providers = providers;
    }

    pub fn get(&self, name: &str) -> Option<&Package> {
        self.packages.get(name)
    }

    pub fn providers(&self, name: &str) -> &[Provider] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.packages.keys().map(String::as_str)
    }
}

/// Whether a real package at `version` satisfies `rel`.
pub fn satisfies(version: &str, rel: &Relation) -> bool {
    match &rel.version {
        None => true,
        Some((op, want)) => op.holds(version, want),
    }
}

/// Whether a provider satisfies `rel`: an unversioned relation is met by any provider, a
/// versioned one only by a provider that states a version (Policy §7.5).
pub fn provider_satisfies(p: &Provider, rel: &Relation) -> bool {
    match (&rel.version, &p.version) {
        (None, _) => true,
        (Some((op, want)), Some(have)) => op.holds(have, want),
        (Some(_), None) => false,
    }
}

/// Up to three known names closest to `name`: those containing it or contained in it first
/// (shortest first), then by edit distance.
pub fn suggestions<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            if n.contains(name) || name.contains(n) && n.len() >= 3 {
                return Some((n.len().abs_diff(name.len()) / 4, n));
            }
            let d = edit_distance(name, n);
            (d <= (name.len() / 4).max(1)).then_some((d, n))
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.len().cmp(&b.1.len()))
            .then(a.1.cmp(b.1))
    });
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: a swapped pair is
/// the commonest typo, so it counts as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 4 {
        return usize::MAX / 2;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * w] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small index in `Packages` syntax for resolver tests.
    pub fn fixture(text: &str) -> Index {
        let mut i = Index::new("amd64");
        i.add(text, "bookworm").unwrap();
        i
    }

    pub fn stanza(name: &str, version: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\n{extra}Filename: pool/main/{name}_{version}_amd64.deb\nSize: 100\nSHA256: {}\n\n",
            "a".repeat(64)
        )
    }

    #[test]
    fn highest_version_wins_across_suites() {
        let mut i = Index::new("amd64");
        i.add(&stanza("libc6", "2.36-9+deb12u4", ""), "bookworm")
            .unwrap();
        i.add(&stanza("libc6", "2.36-9+deb12u10", ""), "bookworm-security")
            .unwrap();
        i.add(&stanza("libc6", "2.36-9", ""), "bookworm-updates")
            .unwrap();
        let p = i.get("libc6").unwrap();
        assert_eq!(p.version, "2.36-9+deb12u10");
        assert_eq!(p.suite, "bookworm-security");
    }

    #[test]
    fn other_architectures_skipped_and_providers_indexed() {
        let text = format!(
            "{}{}{}",
            stanza("mawk", "1.3.4", "Provides: awk\n"),
            stanza("gawk", "5.2", "Provides: awk, gawk-api (= 3)\n"),
            "Package: armonly\nVersion: 1\nArchitecture: arm64\nFilename: x\nSize: 1\nSHA256: 00\n\n"
        );
        let i = fixture(&text);
        assert!(i.get("armonly").is_none());
        let awk: Vec<&str> = i
            .providers("awk")
            .iter()
            .map(|p| p.package.as_str())
            .collect();
        assert_eq!(awk, ["gawk", "mawk"]);
        assert_eq!(i.providers("gawk-api")[0].version.as_deref(), Some("3"));
    }

    #[test]
    fn missing_checksum_is_an_error() {
        let mut i = Index::new("amd64");
        let err = i
            .add(
                "Package: x\nVersion: 1\nArchitecture: amd64\nFilename: f\nSize: 1\n",
                "s",
            )
            .unwrap_err();
        assert!(err.contains("package x"), "{err}");
    }

    #[test]
    fn suggestions_rank_close_names() {
        let names = [
            "libpq5",
            "libpq-dev",
            "libpqxx-6.4",
            "python3",
            "libp11-3",
            "zlib1g",
        ];
        assert_eq!(
            suggestions("libpq", names.iter().copied()),
            ["libpq5", "libpq-dev", "libpqxx-6.4"]
        );
        assert_eq!(suggestions("pyhton3", names.iter().copied()), ["python3"]);
        assert!(suggestions("qqqqqqqq", names.iter().copied()).is_empty());
    }
}

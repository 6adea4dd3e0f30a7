//! Dependency closure without apt: Depends and Pre-Depends, the first satisfiable alternative,
//! virtual packages through Provides, version constraints. Packages the base already has
//! satisfy dependencies and are not installed again; names on the skip list (maintainer-script
//! machinery such as dpkg, perl and debconf) are never installed, and each time one is needed
//! the report says so.

use super::control::{Relation, display_alternatives};
use super::index::{Index, Package, provider_satisfies, satisfies, suggestions};
use std::collections::{BTreeMap, VecDeque};

/// What is already installed: name → version, from lower tiers.
pub type Installed = BTreeMap<String, String>;

/// A dependency that was deliberately not installed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The relation as written (`debconf (>= 0.5) | debconf-2.0`).
    pub dependency: String,
    /// The package that asked for it; empty for a name asked for directly.
    pub needed_by: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Resolution {
    /// Newly selected packages, sorted by name.
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("unknown package '{name}' for {arch}{}", hint(suggestions))]
    Unknown {
        name: String,
        arch: String,
        suggestions: Vec<String>,
    },
    #[error(
        "'{name}' is a virtual package provided by {}; name one of them",
        providers.join(", ")
    )]
    Virtual {
        name: String,
        providers: Vec<String>,
    },
    #[error(
        "{package} {version} depends on {dependency}, which cannot be satisfied on {arch}: {detail}"
    )]
    Unsatisfiable {
        package: String,
        version: String,
        dependency: String,
        arch: String,
        detail: String,
    },
    #[error("package {package}: {detail}")]
    BadField { package: String, detail: String },
}

fn hint(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (closest: {})", s.join(", "))
    }
}

/// Resolves `roots` and their dependency closure against `index`. `skip` names packages never
/// to install and why.
pub fn resolve(
    index: &Index,
    roots: &[String],
    installed: &Installed,
    skip: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolution, ResolveError> {
    let mut r = Resolver {
        index,
        installed,
        skip,
        selected: BTreeMap::new(),
        skipped: Vec::new(),
        queue: VecDeque::new(),
    };
    for root in roots {
        r.root(root)?;
    }
    while let Some(name) = r.queue.pop_front() {
        let pkg = r.selected[&name].clone();
        let groups = pkg
            .dependencies()
            .map_err(|detail| ResolveError::BadField {
                package: pkg.name.clone(),
                detail,
            })?;
        for alts in groups {
            r.group(&pkg, &alts)?;
        }
    }
    Ok(Resolution {
        packages: r.selected.into_values().collect(),
        skipped: r.skipped,
    })
}

struct Resolver<'a> {
    index: &'a Index,
    installed: &'a Installed,
    skip: &'a dyn Fn(&str) -> Option<String>,
    selected: BTreeMap<String, Package>,
    skipped: Vec<Skipped>,
    queue: VecDeque<String>,
}

impl Resolver<'_> {
    fn root(&mut self, name: &str) -> Result<(), ResolveError> {
        if self.installed.contains_key(name) || self.selected.contains_key(name) {
            return Ok(());
        }
        if let Some(reason) = (self.skip)(name) {
            self.skipped.push(Skipped {
                dependency: name.to_string(),
                needed_by: String::new(),
                reason,
            });
            return Ok(());
        }
        if let Some(p) = self.index.get(name) {
            self.select(p.clone());
            return Ok(());
        }
        let providers: Vec<String> = self
            .index
            .providers(name)
            .iter()
            .map(|p| p.package.clone())
            .collect();
        match providers.as_slice() {
            [] => Err(ResolveError::Unknown {
                name: name.to_string(),
                arch: self.index.arch.clone(),
                suggestions: suggestions(name, self.index.names()),
            }),
            // One provider is an unambiguous choice (apt makes it too).
            [only] => {
                let only = only.clone();
                self.root(&only)
            }
            _ => Err(ResolveError::Virtual {
                name: name.to_string(),
                providers,
            }),
        }
    }

    fn select(&mut self, p: Package) {
        self.queue.push_back(p.name.clone());
        self.selected.insert(p.name.clone(), p);
    }

    /// Whether some package already chosen meets `rel`, directly or through Provides.
    fn met(&self, rel: &Relation) -> bool {
        let version_of = |name: &str| {
            self.installed
                .get(name)
                .or_else(|| self.selected.get(name).map(|p| &p.version))
        };
        if version_of(&rel.name).is_some_and(|v| satisfies(v, rel)) {
            return true;
        }
        self.index
            .providers(&rel.name)
            .iter()
            .any(|p| version_of(&p.package).is_some() && provider_satisfies(p, rel))
    }

    fn group(&mut self, pkg: &Package, alts: &[Relation]) -> Result<(), ResolveError> {
        if alts.iter().any(|rel| self.met(rel)) {
            return Ok(());
        }
        let mut why_not = Vec::new();
        for rel in alts {
            if let Some(reason) = (self.skip)(&rel.name) {
                self.skipped.push(Skipped {
                    dependency: display_alternatives(alts),
                    needed_by: pkg.name.clone(),
                    reason,
                });
                return Ok(());
            }
            if let Some(p) = self.index.get(&rel.name) {
                if satisfies(&p.version, rel) {
                    self.select(p.clone());
                    return Ok(());
                }
                why_not.push(format!("{} has {}", p.name, p.version));
                continue;
            }
            let providers: Vec<_> = self
                .index
                .providers(&rel.name)
                .iter()
                .filter(|p| provider_satisfies(p, rel))
                .collect();
            // A skipped provider (e.g. `awk` from mawk) skips the whole relation: a later
            // alternative would install something the skip list meant to keep out.
            if let Some(p) = providers.first() {
                if let Some(reason) = (self.skip)(&p.package) {
                    self.skipped.push(Skipped {
                        dependency: display_alternatives(alts),
                        needed_by: pkg.name.clone(),
                        reason,
                    });
                    return Ok(());
                }
                if let Some(real) = self.index.get(&p.package) {
                    self.select(real.clone());
                    return Ok(());
                }
            }
            why_not.push(format!("no package {} in the index", rel.name));
        }
        Err(ResolveError::Unsatisfiable {
            package: pkg.name.clone(),
            version: pkg.version.clone(),
            dependency: display_alternatives(alts),
            arch: self.index.arch.clone(),
            detail: why_not.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::index::tests::{fixture, stanza};

    fn index() -> Index {
        fixture(
            &[
                stanza("libc6", "2.36-9", "Depends: libgcc-s1\n"),
                stanza(
                    "libgcc-s1",
                    "12.2.0-14",
                    "Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)\n",
                ),
                stanza("gcc-12-base", "12.2.0-14", ""),
                stanza(
                    "libpq5",
                    "15.5-0",
                    "Depends: libc6 (>= 2.33), libgssapi-krb5-2 (>= 1.17), libssl3 (>= 3.0.0)\n",
                ),
                stanza(
                    "libgssapi-krb5-2",
                    "1.20.1-2",
                    "Depends: libc6 (>= 2.33), libkrb5-3 (= 1.20.1-2)\n",
                ),
                stanza("libkrb5-3", "1.20.1-2", "Depends: libc6, libkeyutils1\n"),
                stanza("libkeyutils1", "1.6.3-2", ""),
                stanza("libssl3", "3.0.11-1", "Depends: libc6 (>= 2.34)\n"),
                stanza(
                    "tzdata",
                    "2024a",
                    "Depends: debconf (>= 0.5) | debconf-2.0\n",
                ),
                stanza(
                    "debconf",
                    "1.5.82",
                    "Pre-Depends: perl-base (>= 5.20.1-3~)\n",
                ),
                stanza("cdebconf", "0.270", "Provides: debconf-2.0\n"),
                stanza("base-files", "12.4", "Pre-Depends: awk\n"),
                stanza("mawk", "1.3.4", "Provides: awk\n"),
                stanza("needs-new-libc", "1", "Depends: libc6 (>= 2.38)\n"),
                stanza(
                    "alt",
                    "1",
                    "Depends: missing-thing | libkeyutils1 (>= 1.6)\n",
                ),
                stanza("virtual-user", "1", "Depends: mail-transport-agent\n"),
                stanza("postfix", "3.7", "Provides: mail-transport-agent\n"),
                stanza("exim4", "4.96", "Provides: mail-transport-agent\n"),
                stanza("versioned-virtual", "1", "Depends: gawk-api (>= 3)\n"),
                stanza("gawk", "5.2", "Provides: gawk-api (= 3)\n"),
            ]
            .concat(),
        )
    }

    fn skip(name: &str) -> Option<String> {
        match name {
            "debconf" | "perl-base" | "dpkg" => Some("maintainer-script machinery".into()),
            "awk" => Some("only base-files' scripts use it".into()),
            _ => None,
        }
    }

    fn names(r: &Resolution) -> Vec<&str> {
        r.packages.iter().map(|p| p.name.as_str()).collect()
    }

    fn roots(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn closure_with_versions() {
        let r = resolve(&index(), &roots(&["libpq5"]), &Installed::new(), &skip).unwrap();
        assert_eq!(
            names(&r),
            [
                "gcc-12-base",
                "libc6",
                "libgcc-s1",
                "libgssapi-krb5-2",
                "libkeyutils1",
                "libkrb5-3",
                "libpq5",
                "libssl3"
            ]
        );
        assert!(r.skipped.is_empty());
    }

    #[test]
    fn installed_packages_are_not_repeated() {
        let mut base = Installed::new();
        for (n, v) in [
            ("libc6", "2.36-9"),
            ("libgcc-s1", "12.2.0-14"),
            ("gcc-12-base", "12.2.0-14"),
            ("libssl3", "3.0.11-1"),
        ] {
            base.insert(n.into(), v.into());
        }
        let r = resolve(&index(), &roots(&["libpq5"]), &base, &skip).unwrap();
        assert_eq!(
            names(&r),
            ["libgssapi-krb5-2", "libkeyutils1", "libkrb5-3", "libpq5"]
        );
    }

    #[test]
    fn skip_list_and_virtuals() {
        let r = resolve(
            &index(),
            &roots(&["tzdata", "base-files"]),
            &Installed::new(),
            &skip,
        )
        .unwrap();
        assert_eq!(names(&r), ["base-files", "tzdata"]);
        let deps: Vec<(&str, &str)> = r
            .skipped
            .iter()
            .map(|s| (s.dependency.as_str(), s.needed_by.as_str()))
            .collect();
        assert_eq!(
            deps,
            [
                ("debconf (>= 0.5) | debconf-2.0", "tzdata"),
                ("awk", "base-files")
            ]
        );
    }

    #[test]
    fn skipped_root_is_reported() {
        let r = resolve(&index(), &roots(&["dpkg"]), &Installed::new(), &skip).unwrap();
        assert!(r.packages.is_empty());
        assert_eq!(r.skipped[0].dependency, "dpkg");
        assert_eq!(r.skipped[0].needed_by, "");
    }

    #[test]
    fn alternatives_and_providers() {
        let r = resolve(
            &index(),
            &roots(&["alt", "virtual-user", "versioned-virtual"]),
            &Installed::new(),
            &skip,
        )
        .unwrap();
        // missing-thing is unknown, so the second alternative is taken; the first provider of
        // mail-transport-agent by name is exim4; gawk provides the versioned virtual.
        assert_eq!(
            names(&r),
            [
                "alt",
                "exim4",
                "gawk",
                "libkeyutils1",
                "versioned-virtual",
                "virtual-user"
            ]
        );
    }

    #[test]
    fn already_installed_alternative_is_preferred() {
        let mut base = Installed::new();
        base.insert("postfix".into(), "3.7".into());
        let r = resolve(&index(), &roots(&["virtual-user"]), &base, &skip).unwrap();
        assert_eq!(names(&r), ["virtual-user"]);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = resolve(&index(), &roots(&["libpq"]), &Installed::new(), &skip).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown package 'libpq' for amd64 (closest: libpq5)"
        );
        let e = resolve(
            &index(),
            &roots(&["needs-new-libc"]),
            &Installed::new(),
            &skip,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "needs-new-libc 1 depends on libc6 (>= 2.38), which cannot be satisfied on amd64: libc6 has 2.36-9"
        );
        let e = resolve(
            &index(),
            &roots(&["mail-transport-agent"]),
            &Installed::new(),
            &skip,
        )
        .unwrap_err();
        assert!(matches!(e, ResolveError::Virtual { .. }), "{e}");
        // A virtual name with a single provider resolves to it.
        let r = resolve(&index(), &roots(&["gawk-api"]), &Installed::new(), &skip).unwrap();
        assert_eq!(names(&r), ["gawk"]);
    }
}

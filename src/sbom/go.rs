//! Go modules compiled into the image's binaries. From each Go binary in lade's layers, its own
//! build info ([`buildinfo`]): the Go toolchain → `pkg:golang/stdlib@<go version>` (with the
//! build settings), the main module → `pkg:golang/<module>`, every linked module →
//! `pkg:golang/<module>@<version>` (with its sum and replacement) — exactly what the linker
//! took, so a module go.mod requires but nothing imports is absent.
//!
//! Only when a binary carries no build info (or none is found) does go.mod speak instead: its
//! main module and every `require`d module (direct and `// indirect`), a `replace`d one named
//! in `sourceInfo`.

mod buildinfo;

use super::{Found, SbomError, pct};
use crate::plan::{EntryKind, LayerSpec};
use buildinfo::{BuildInfo, Module};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Property names: CycloneDX properties, SPDX annotations.
const PROP_SUM: &str = "lade:go:sum";
const PROP_REPLACE: &str = "lade:go:replace";
const PROP_BUILD: &str = "lade:go:build:";

/// What the build info of the Go binaries in `layers` lists (go.mod is the caller's
/// fallback when a binary has none).
pub(super) fn binaries(layers: &[LayerSpec]) -> Result<super::part::GoPart, SbomError> {
    let mut part = super::part::GoPart::default();
    for spec in layers {
        for entry in &spec.entries {
            let EntryKind::File { source } = &entry.kind else {
                continue;
            };
            let Some(bytes) = read_elf(source)? else {
                continue;
            };
            match buildinfo::read(&bytes) {
                Ok(Some(info)) => {
                    part.with_info += 1;
                    part.found
                        .append(&mut from_build_info(&info, &entry.target));
                }
                Ok(None) => {
                    part.without_info += 1;
                    part.notes
                        .push(format!("{} has no Go build info", entry.target));
                }
                Err(detail) => {
                    part.without_info += 1;
                    part.notes
                        .push(format!("{} skipped: {detail}", entry.target));
                }
            }
        }
    }
    Ok(part)
}

/// The whole file when it is an ELF file, `None` otherwise.
fn read_elf(path: &Path) -> Result<Option<Vec<u8>>, SbomError> {
    let err = |source| SbomError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(err)?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match file.read(&mut magic[n..]).map_err(err)? {
            0 => return Ok(None),
            k => n += k,
        }
    }
    if &magic != goblin::elf::header::ELFMAG {
        return Ok(None);
    }
    let mut bytes = magic.to_vec();
    file.read_to_end(&mut bytes).map_err(err)?;
    Ok(Some(bytes))
}

/// The packages one binary's build info lists; `target` is its path in the image.
fn from_build_info(info: &BuildInfo, target: &str) -> Vec<Found> {
    let source_info = format!("{target} (Go build info)");
    let settings: Vec<(String, String)> = info
        .settings
        .iter()
        .map(|(k, v)| (format!("{PROP_BUILD}{k}"), v.clone()))
        .collect();
    let mut found = Vec::new();
    if !info.go_version.is_empty() {
        found.push(Found {
            purl: format!("pkg:golang/stdlib@{}", pct(&info.go_version)),
            name: "stdlib".into(),
            version: info.go_version.clone(),
            license: None,
            source_info: source_info.clone(),
            // The settings describe the whole link: on the toolchain that did it.
            properties: settings,
        });
    }
    if let Some(main) = &info.main {
        found.push(module_package(main, &source_info, true));
    }
    for dep in &info.deps {
        found.push(module_package(dep, &source_info, false));
    }
    found
}

fn module_package(m: &Module, source_info: &str, is_main: bool) -> Found {
    // A main module built from its source tree says `(devel)`: it has no version.
    let version = if is_main && m.version == "(devel)" {
        String::new()
    } else {
        m.version.clone()
    };
    let purl = if version.is_empty() {
        format!("pkg:golang/{}", purl_path(&m.path))
    } else {
        format!("pkg:golang/{}@{}", purl_path(&m.path), pct(&version))
    };
    let mut properties = Vec::new();
    let mut source_info = source_info.to_string();
    // A replaced module's code, and so its sum, is the replacement's.
    let sum = m.replace.as_ref().map_or(&m.sum, |r| &r.sum);
    if let Some(sum) = sum {
        properties.push((PROP_SUM.to_string(), sum.clone()));
    }
    if let Some(r) = &m.replace {
        let to = if r.version.is_empty() {
            r.path.clone()
        } else {
            format!("{} {}", r.path, r.version)
        };
        source_info = format!("{source_info}, replaced by {to}");
        properties.push((PROP_REPLACE.to_string(), to));
    }
    Found {
        purl,
        name: m.path.clone(),
        version,
        license: None,
        source_info,
        properties,
    }
}

pub(super) fn modules(dir: &Path) -> Result<Vec<Found>, SbomError> {
    let path = dir.join("go.mod");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SbomError::Read { path, source }),
    };
    let mut found = Vec::new();
    let module = text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("module")?;
        let m = rest.trim().trim_matches('"');
        (rest.starts_with([' ', '\t']) && !m.is_empty()).then(|| m.to_string())
    });
    if let Some(m) = module {
        found.push(Found {
            purl: format!("pkg:golang/{}", purl_path(&m)),
            name: m,
            version: String::new(),
            license: None,
            source_info: "go.mod".into(),
            properties: Vec::new(),
        });
    }
    let replaced = crate::detect::go::directives(&text, "replace")
        .into_iter()
        .filter_map(|d| {
            let (from, to) = d.split_once("=>")?;
            let from = from.split_whitespace().next()?.to_string();
            Some((from, to.trim().to_string()))
        })
        .collect::<BTreeMap<_, _>>();
    for req in crate::detect::go::directives(&text, "require") {
        let mut words = req.split_whitespace();
        let (Some(m), Some(v)) = (words.next(), words.next()) else {
            continue;
        };
        let m = m.trim_matches('"');
        let source_info = match replaced.get(m) {
            Some(to) => format!("go.mod (replaced by {to})"),
            None => "go.mod".into(),
        };
        found.push(Found {
            purl: format!("pkg:golang/{}@{}", purl_path(m), pct(v)),
            name: m.to_string(),
            version: v.to_string(),
            license: None,
            source_info,
            properties: Vec::new(),
        });
    }
    Ok(found)
}

/// A module path as a purl's namespace/name: each segment percent-encoded.
fn purl_path(m: &str) -> String {
    m.split('/').map(pct).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_packages_with_sums_replacements_and_settings() {
        let module = |path: &str, version: &str, sum: Option<&str>| Module {
            path: path.into(),
            version: version.into(),
            sum: sum.map(str::to_string),
            replace: None,
        };
        let mut replaced = module("golang.org/x/text", "v0.14.0", None);
        replaced.replace = Some(Box::new(module(
            "example.com/text",
            "v0.15.0",
            Some("h1:r="),
        )));
        let info = BuildInfo {
            go_version: "go1.19.8".into(),
            path: "example.com/app".into(),
            main: Some(module("example.com/app", "(devel)", None)),
            deps: vec![
                module("example.com/greet", "v1.2.3", Some("h1:g=")),
                replaced,
            ],
            settings: vec![("GOOS".into(), "linux".into())],
        };
        let f = from_build_info(&info, "/app/app");
        let purls: Vec<&str> = f.iter().map(|p| p.purl.as_str()).collect();
        assert_eq!(
            purls,
            [
                "pkg:golang/stdlib@go1.19.8",
                "pkg:golang/example.com/app",
                "pkg:golang/example.com/greet@v1.2.3",
                "pkg:golang/golang.org/x/text@v0.14.0",
            ]
        );
        assert_eq!(
            f[0].properties,
            [("lade:go:build:GOOS".into(), "linux".into())]
        );
        assert_eq!(f[1].version, "");
        assert_eq!(f[2].properties, [("lade:go:sum".into(), "h1:g=".into())]);
        assert_eq!(
            f[3].properties,
            [
                ("lade:go:sum".into(), "h1:r=".into()),
                ("lade:go:replace".into(), "example.com/text v0.15.0".into()),
            ]
        );
        assert_eq!(
            f[3].source_info,
            "/app/app (Go build info), replaced by example.com/text v0.15.0"
        );
    }

    #[test]
    fn go_mod_speaks_only_for_binaries_without_build_info() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("go.mod"),
            "module example.com/a\n\nrequire example.com/b v1.0.0\n",
        )
        .unwrap();
        // A text file is no binary: nothing was read from build info, so go.mod speaks.
        let script = t.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let layer = LayerSpec {
            name: "binary".into(),
            entries: vec![crate::plan::FileEntry {
                target: "/app/run.sh".into(),
                kind: EntryKind::File { source: script },
                mode: 0o755,
            }],
        };
        let mut notes = Vec::new();
        let part = super::super::layer_part(&layer, "go").unwrap();
        let project = super::super::Project {
            dir: t.path(),
            detector: "go",
            cache: None,
        };
        let f = super::super::part::project_packages(&[part], &project, &mut notes).unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|p| p.source_info == "go.mod"));
    }

    #[test]
    fn go_main_module() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("go.mod"),
            "module example.com/hello\n\ngo 1.22\n",
        )
        .unwrap();
        let f = modules(t.path()).unwrap();
        assert_eq!(f[0].purl, "pkg:golang/example.com/hello");
        assert_eq!(f[0].version, "");
    }

    #[test]
    fn required_modules_with_versions() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("go.mod"),
            "module example.com/svc\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n\nrequire (\n\tgolang.org/x/sys v0.20.0 // indirect\n\tgithub.com/Foo/Bar v1.0.0\n)\n\nreplace github.com/Foo/Bar => ../bar\n",
        )
        .unwrap();
        let f = modules(t.path()).unwrap();
        let purls: Vec<&str> = f.iter().map(|p| p.purl.as_str()).collect();
        assert_eq!(
            purls,
            [
                "pkg:golang/example.com/svc",
                "pkg:golang/github.com/google/uuid@v1.6.0",
                "pkg:golang/golang.org/x/sys@v0.20.0",
                "pkg:golang/github.com/Foo/Bar@v1.0.0",
            ]
        );
        assert_eq!(f[3].source_info, "go.mod (replaced by ../bar)");
        assert_eq!(f[1].version, "v1.6.0");
    }
}

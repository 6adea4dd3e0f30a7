//! Go modules compiled into a binary, from the project's go.mod: the main module →
//! `pkg:golang/<module>`, and every `require`d module (direct and `// indirect`; since Go 1.17
//! go.mod lists every module the build needs) → `pkg:golang/<module>@<version>`. Modules a
//! `replace` directive swaps are listed as required, with the replacement named in
//! `sourceInfo`.

use super::{Found, SbomError, pct};
use std::collections::BTreeMap;
use std::path::Path;

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
        });
    }
    let replaced = directives(&text, "replace")
        .into_iter()
        .filter_map(|d| {
            let (from, to) = d.split_once("=>")?;
            let from = from.split_whitespace().next()?.to_string();
            Some((from, to.trim().to_string()))
        })
        .collect::<BTreeMap<_, _>>();
    for req in directives(&text, "require") {
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
        });
    }
    Ok(found)
}

/// A module path as a purl's namespace/name: each segment percent-encoded.
fn purl_path(m: &str) -> String {
    m.split('/').map(pct).collect::<Vec<_>>().join("/")
}

/// The bodies of `keyword` directives, one per line: `keyword X` lines and the lines of
/// `keyword ( … )` blocks, comments removed.
fn directives(text: &str, keyword: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                out.push(line.to_string());
            }
            continue;
        }
        let Some(rest) = line.strip_prefix(keyword) else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '(']) {
            continue;
        }
        let rest = rest.trim();
        if rest == "(" {
            in_block = true;
        } else if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

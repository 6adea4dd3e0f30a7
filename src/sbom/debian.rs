//! Debian packages: `/var/lib/dpkg/status.d/<package>` (distroless and lade's Debian bases write
//! one control paragraph per package there) and `/var/lib/dpkg/status` (every paragraph whose
//! `Status` says installed) → `pkg:deb/debian/<name>@<version>?arch=<arch>`.

use super::{Found, pct};

pub(super) fn parse_status(text: &str, path: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for para in crate::debian::control::paragraphs(text) {
        // Only the first line of a field is a value these fields can have.
        let get = |key: &str| para.get(key).and_then(|v| v.lines().next()).map(str::trim);
        if let Some(status) = get("Status")
            && !status.ends_with(" installed")
        {
            continue;
        }
        let (Some(name), Some(version)) = (get("Package"), get("Version")) else {
            continue;
        };
        let arch = get("Architecture").unwrap_or("all");
        // `Source: glibc (2.36-9)` names the source package and, when it differs, its version.
        let source = get("Source")
            .and_then(|s| s.split_whitespace().next())
            .filter(|s| *s != name);
        out.push(Found {
            purl: format!(
                "pkg:deb/debian/{}@{}?arch={}",
                pct(name),
                pct(version),
                pct(arch)
            ),
            name: name.to_string(),
            version: version.to_string(),
            license: None,
            source_info: match source {
                Some(s) => format!("{path} (source package {s})"),
                None => path.to_string(),
            },
            properties: Vec::new(),
        });
    }
    if out.is_empty() && !text.trim().is_empty() && !text.contains("Package:") {
        return Err("no Package field".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_d_and_status() {
        let one = "Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nDescription: GNU C Library\n multi-line\n";
        let f = parse_status(one, "/var/lib/dpkg/status.d/libc6").unwrap();
        assert_eq!(
            f[0].purl,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
        );
        assert_eq!(
            f[0].source_info,
            "/var/lib/dpkg/status.d/libc6 (source package glibc)"
        );
        let status = "Package: a\nStatus: install ok installed\nVersion: 1:1.0\nArchitecture: all\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 2\n";
        let f = parse_status(status, "/var/lib/dpkg/status").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].purl, "pkg:deb/debian/a@1%3A1.0?arch=all");
        assert!(parse_status("garbage\n", "/x").is_err());
    }
}

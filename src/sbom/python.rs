//! Python distributions: `*.dist-info/METADATA` (the core metadata's `Name`, `Version`,
//! `License-Expression` or `License`) → `pkg:pypi/<normalized name>@<version>`.

use super::{Found, pct, plain_license};

/// The package a METADATA file describes; `path` is its place in the image.
pub(super) fn parse_metadata(text: &str, path: &str) -> Result<Vec<Found>, String> {
    let mut name = None;
    let mut version = None;
    let mut expression = None;
    let mut license = None;
    // The headers end at the first blank line; the description follows.
    for line in text.lines().take_while(|l| !l.trim().is_empty()) {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = name.or(Some(value)),
            "version" => version = version.or(Some(value)),
            "license-expression" => expression = expression.or(Some(value)),
            "license" => license = license.or(Some(value)),
            _ => {}
        }
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Err("no Name or Version".into());
    };
    Ok(vec![Found {
        purl: format!(
            "pkg:pypi/{}@{}",
            pct(&crate::detect::python::normalize_name(&name)),
            pct(&version)
        ),
        name,
        version,
        license: expression
            .as_deref()
            .and_then(plain_license)
            .or_else(|| license.as_deref().and_then(plain_license)),
        source_info: path.to_string(),
        properties: Vec::new(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers() {
        let text = "Metadata-Version: 2.1\nName: Flask_SQL.alchemy\nVersion: 3.0.0\nLicense: MIT\nClassifier: License :: OSI Approved\n\nLicense: GPL-3.0-only\n";
        let f = parse_metadata(text, "/app/.deps/x.dist-info/METADATA").unwrap();
        assert_eq!(f[0].purl, "pkg:pypi/flask-sql-alchemy@3.0.0");
        assert_eq!(f[0].name, "Flask_SQL.alchemy");
        assert_eq!(f[0].license.as_deref(), Some("MIT"));
        let prose = "Name: a\nVersion: 1\nLicense: Copyright (c) someone, all rights\n";
        assert_eq!(parse_metadata(prose, "/m").unwrap()[0].license, None);
        let expr =
            "Name: a\nVersion: 1+local\nLicense-Expression: MIT OR Apache-2.0\nLicense: BSD\n";
        let f = parse_metadata(expr, "/m").unwrap();
        assert_eq!(f[0].license.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(f[0].purl, "pkg:pypi/a@1%2Blocal");
        assert!(parse_metadata("Name: a\n", "/m").is_err());
    }
}

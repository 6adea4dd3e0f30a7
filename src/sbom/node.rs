//! npm packages: `node_modules/<name>/package.json` and `node_modules/@scope/<name>/package.json`
//! (at any depth; which files count is decided by `classify`) → `pkg:npm/<name>@<version>`.

use super::{Found, pct, plain_license};

pub(super) fn parse_package_json(text: &str, path: &str) -> Result<Vec<Found>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let (Some(name), Some(version)) = (
        v.get("name").and_then(|n| n.as_str()),
        v.get("version").and_then(|n| n.as_str()),
    ) else {
        // A package.json without both is not a published package (a test fixture, a stub).
        return Ok(Vec::new());
    };
    let encoded = match name.split_once('/') {
        Some((scope, rest)) if scope.starts_with('@') => format!("{}/{}", pct(scope), pct(rest)),
        _ => pct(name),
    };
    let license = match v.get("license") {
        Some(serde_json::Value::String(s)) => plain_license(s),
        Some(serde_json::Value::Object(o)) => o
            .get("type")
            .and_then(|t| t.as_str())
            .and_then(plain_license),
        _ => None,
    };
    Ok(vec![Found {
        purl: format!("pkg:npm/{encoded}@{}", pct(version)),
        name: name.to_string(),
        version: version.to_string(),
        license,
        source_info: path.to_string(),
        properties: Vec::new(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_scopes_and_licenses() {
        let f = parse_package_json(
            r#"{"name":"@types/node","version":"20.1.0","license":"MIT"}"#,
            "/app/node_modules/@types/node/package.json",
        )
        .unwrap();
        assert_eq!(f[0].purl, "pkg:npm/%40types/node@20.1.0");
        assert_eq!(f[0].license.as_deref(), Some("MIT"));
        let f = parse_package_json(
            r#"{"name":"express","version":"4.18.2","license":"SEE LICENSE IN x"}"#,
            "/p",
        )
        .unwrap();
        assert_eq!(f[0].purl, "pkg:npm/express@4.18.2");
        assert_eq!(f[0].license, None);
        assert!(
            parse_package_json(r#"{"name":"x"}"#, "/p")
                .unwrap()
                .is_empty()
        );
        assert!(parse_package_json("{", "/p").is_err());
    }
}

//! Reading the Python project files: pyproject.toml, Pipfile, .python-version, Procfile and
//! the layout of the tree. TOML errors carry the line and column.

use super::super::DetectError;
use std::path::Path;

pub fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `path` as TOML; a syntax error names the line and column.
pub fn read_toml(path: &Path) -> Result<toml::Table, DetectError> {
    let text = read(path)?;
    text.parse::<toml::Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        DetectError::Invalid {
            file: path.to_path_buf(),
            detail: format!("line {line}, column {column}: {}", e.message().trim()),
        }
    })
}

/// A dotted path into a TOML table (`project.requires-python`).
pub fn get<'a>(t: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut parts = path.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

pub fn get_str<'a>(t: &'a toml::Table, path: &str) -> Option<&'a str> {
    get(t, path).and_then(|v| v.as_str())
}

/// Keys of a table at `path`, sorted by name (toml's map is ordered).
pub fn keys(t: &toml::Table, path: &str) -> Vec<String> {
    get(t, path)
        .and_then(|v| v.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// `[project.dependencies]` strings.
pub fn pep621_dependencies(py: &toml::Table) -> Vec<String> {
    get(py, "project.dependencies")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The distribution name a PEP 508 requirement string starts with.
pub fn requirement_name(req: &str) -> String {
    req.trim()
        .split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .next()
        .unwrap_or("")
        .to_string()
}

/// Runtime dependency names of a poetry or PEP 621 project (poetry's `python` is not one).
pub fn main_dependency_names(py: &toml::Table) -> Vec<String> {
    let mut names: Vec<String> = pep621_dependencies(py)
        .iter()
        .map(|r| requirement_name(r))
        .collect();
    names.extend(
        keys(py, "tool.poetry.dependencies")
            .into_iter()
            .filter(|k| k != "python"),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_have_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pyproject.toml");
        std::fs::write(&p, "[project]\nname = \"x\"\nversion = \n").unwrap();
        let e = read_toml(&p).unwrap_err().to_string();
        assert!(e.contains("pyproject.toml: line 3, column"), "{e}");
    }

    #[test]
    fn dependency_names() {
        let py: toml::Table = r#"
[project]
dependencies = ["Flask>=3", "gunicorn[gevent] ; os_name == 'posix'", "six"]
[tool.poetry.dependencies]
python = "^3.11"
requests = "^2"
"#
        .parse()
        .unwrap();
        assert_eq!(
            main_dependency_names(&py),
            ["Flask", "gunicorn", "six", "requests"]
        );
    }
}

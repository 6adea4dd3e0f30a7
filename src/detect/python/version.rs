//! Whether the base's Python satisfies what the project asks for: PEP 440 specifiers
//! (`requires-python`), poetry's `^`/`~`/`||` forms, and plain versions (`.python-version`,
//! Pipfile `python_version`). Only the release numbers matter here; pre-releases and local
//! versions are not something a base image ships.

/// The Python whose wheels pip fetches for a platform other than the host's: the default
/// base's (Debian 12 and distroless python3-debian12 ship 3.11). The runtime check holds the
/// base to it.
pub const WHEEL_PYTHON: [u64; 2] = [3, 11];

/// Whether `spec` can be read at all (the check itself needs the base's Python).
pub fn validate(spec: &str, pinned: bool) -> Result<(), String> {
    if pinned {
        pinned_matches(spec, &[0, 0, 0]).map(|_| ())
    } else {
        satisfies(spec, &[0, 0, 0]).map(|_| ())
    }
}

/// Whether a requirement holds for a base's Python. A base's interpreter file names only
/// major.minor (`python3.11`); with the patch release unknown, the requirement holds if some
/// patch release of that minor satisfies it.
pub fn holds(
    spec: &str,
    pinned: bool,
    major: u64,
    minor: u64,
    patch: Option<u64>,
) -> Result<bool, String> {
    if pinned {
        return pinned_matches(spec, &[major, minor, patch.unwrap_or(0)]);
    }
    match patch {
        Some(p) => satisfies(spec, &[major, minor, p]),
        None => {
            for p in 0..100 {
                if satisfies(spec, &[major, minor, p])? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Checks `spec` against `version`; `Err` says what could not be parsed.
pub fn satisfies(spec: &str, version: &[u64; 3]) -> Result<bool, String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "*" {
        return Ok(true);
    }
    for alternative in spec.split("||") {
        let mut all = true;
        for part in alternative.split(',') {
            let squeezed: String = part.chars().filter(|c| !c.is_whitespace()).collect();
            for clause in split_clauses(&squeezed) {
                if !clause_holds(&clause, version)? {
                    all = false;
                }
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a `.python-version` / `python_version` value (`3.11`, `3.11.4`, `cpython-3.11`)
/// names the base's Python. Only major.minor must match: a patch pin (`3.11.7`, as pyenv
/// writes it) is a developer's local interpreter, and patch releases are compatible.
pub fn pinned_matches(pin: &str, version: &[u64; 3]) -> Result<bool, String> {
    let t = pin.trim();
    let t = t.rsplit('-').next().unwrap_or(t);
    let parts = release(t).ok_or_else(|| format!("'{pin}' is not a Python version"))?;
    Ok(parts.iter().zip(version).take(2).all(|(a, b)| a == b))
}

/// `>=3.8<4` (spaces removed) → [`>=3.8`, `<4`]: poetry separates clauses by spaces only.
fn split_clauses(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_versionish = false;
    for c in s.chars() {
        let op = "<>=!~^".contains(c);
        if op && prev_versionish {
            out.push(std::mem::take(&mut cur));
        }
        prev_versionish = !op;
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn release(v: &str) -> Option<Vec<u64>> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    v.split('.').map(|p| p.parse().ok()).collect()
}

fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(a, i).cmp(&get(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// `v` bumped at component `i` with everything after dropped: the exclusive upper bound of
/// `~=` and caret ranges.
fn bump(v: &[u64], i: usize) -> Vec<u64> {
    let mut out: Vec<u64> = v[..=i].to_vec();
    out[i] += 1;
    out
}

fn clause_holds(clause: &str, version: &[u64; 3]) -> Result<bool, String> {
    use std::cmp::Ordering::*;
    let bad = || format!("cannot read version specifier '{clause}'");
    let op_len = clause
        .find(|c: char| !"<>=!~^".contains(c))
        .ok_or_else(bad)?;
    let (op, text) = clause.split_at(op_len);
    // `==3.11.*` / `!=3.10.*`: prefix matching on the given components.
    if let Some(prefix) = text.strip_suffix(".*") {
        let want = release(prefix).ok_or_else(bad)?;
        let same = want.iter().zip(version.iter()).all(|(a, b)| a == b);
        return match op {
            "==" => Ok(same),
            "!=" => Ok(!same),
            _ => Err(bad()),
        };
    }
    let want = release(text).ok_or_else(bad)?;
    let o = cmp(version, &want);
    let below = |upper: Vec<u64>| cmp(version, &upper) == Less;
    Ok(match op {
        "" | "==" | "===" => o == Equal,
        "!=" => o != Equal,
        ">=" => o != Less,
        "<=" => o != Greater,
        ">" => o == Greater,
        "<" => o == Less,
        // PEP 440: ~=3.11 → >=3.11,<4 ; ~=3.11.2 → >=3.11.2,<3.12
        "~=" if want.len() >= 2 => o != Less && below(bump(&want, want.len() - 2)),
        // poetry: ~3 → >=3,<4 ; ~3.11 and ~3.11.2 → <3.12
        "~" => o != Less && below(bump(&want, usize::min(1, want.len() - 1))),
        // poetry: ^3.11 → >=3.11,<4 ; ^0.2 → >=0.2,<0.3
        "^" => {
            let first_nonzero = want.iter().position(|&n| n != 0).unwrap_or(want.len() - 1);
            o != Less && below(bump(&want, first_nonzero))
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: [u64; 3] = [3, 11, 2];

    #[test]
    fn pep440_and_poetry_specifiers() {
        for ok in [
            ">=3.8",
            ">=3.8,<4",
            ">= 3.9, < 3.13",
            "==3.11.*",
            "~=3.11",
            "~=3.10",
            "^3.11",
            "^3.8",
            "~3.11",
            ">=3.8 <4.0",
            ">=3.12 || >=3.11,<3.12",
            "!=3.10.*",
            "*",
            "",
            "3.11.2",
        ] {
            assert!(satisfies(ok, &V).unwrap(), "{ok}");
        }
        for no in [
            ">=3.12", "<3.11", "==3.10.*", "~=3.11.4", "^3.12", "~3.10", ">=3.11.3", "!=3.11.*",
            "^2.7",
        ] {
            assert!(!satisfies(no, &V).unwrap(), "{no}");
        }
        assert!(satisfies(">=three", &V).is_err());
    }

    #[test]
    fn a_base_known_only_by_its_minor() {
        assert!(holds(">=3.11.4", false, 3, 11, None).unwrap());
        assert!(!holds(">=3.11.4", false, 3, 11, Some(2)).unwrap());
        assert!(holds("==3.11.2", false, 3, 11, None).unwrap());
        assert!(!holds(">=3.12", false, 3, 11, None).unwrap());
        assert!(holds("3.11.7", true, 3, 11, None).unwrap());
        assert!(!holds("3.12", true, 3, 11, Some(2)).unwrap());
        assert!(holds(">=three", false, 3, 11, None).is_err());
        assert!(validate(">=three", false).is_err());
        assert!(validate("pypy", true).is_err());
        assert!(validate("^3.11", false).is_ok());
    }

    #[test]
    fn pinned_versions() {
        assert!(pinned_matches("3.11", &V).unwrap());
        assert!(pinned_matches("3.11.2\n", &V).unwrap());
        assert!(pinned_matches("cpython-3.11", &V).unwrap());
        assert!(!pinned_matches("3.12", &V).unwrap());
        assert!(pinned_matches("3.11.7", &V).unwrap());
        assert!(!pinned_matches("3.10.13", &V).unwrap());
        assert!(pinned_matches("pypy", &V).is_err());
    }
}

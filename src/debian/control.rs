//! Debian control syntax (Policy §5.1): paragraphs of `Field: value` lines with indented
//! continuation lines, as in Release, Packages and a .deb's `control` file; and the relation
//! fields (`Depends`, `Pre-Depends`, `Provides`) inside them.

use super::version::Op;
use std::fmt;

/// One paragraph, borrowing from the text it was parsed from. Field names keep their spelling;
/// lookups ignore case, as Policy says field names are case-insensitive.
#[derive(Debug, Default)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Paragraph<'a> {
    /// The value with its first line trimmed; continuation lines follow after `\n` as written
    /// (leading space included), which is what multi-line fields like `SHA256` need.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Splits `text` into paragraphs. Lines that are neither fields nor continuations (PGP armor
/// remnants, comments starting with `#`) are skipped rather than failing a whole index.
pub fn paragraphs(text: &str) -> impl Iterator<Item = Paragraph<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let (para, tail) = next_paragraph(rest);
            rest = tail;
            if !para.is_empty() {
                return Some(para);
            }
        }
    })
}

/// Parses fields up to the next blank line; returns the paragraph and the text after it.
fn next_paragraph(text: &str) -> (Paragraph<'_>, &str) {
    let mut para = Paragraph::default();
    let mut pos = 0;
    // (name, start of value, end of value so far) of the field being read.
    let mut current: Option<(&str, usize, usize)> = None;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = &text[pos..end];
        let next = (end + 1).min(text.len());
        if line.trim().is_empty() {
            if current.is_some() || !para.fields.is_empty() {
                pos = next;
                break;
            }
            pos = next;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, _, value_end)) = current.as_mut() {
                *value_end = end;
            }
        } else if let Some(colon) = line.find(':').filter(|_| !line.starts_with('#')) {
            if let Some((name, start, value_end)) = current.take() {
                para.fields.push((name, text[start..value_end].trim_end()));
            }
            let name = line[..colon].trim();
            let value_start = pos + colon + 1;
            // Skip the blanks after the colon without crossing the end of the line.
            let skip = text[value_start..end].len() - text[value_start..end].trim_start().len();
            current = Some((name, value_start + skip, end));
        }
        pos = next;
    }
    if let Some((name, start, value_end)) = current {
        para.fields.push((name, text[start..value_end].trim_end()));
    }
    (para, &text[pos..])
}

/// One alternative of a relation: `name[:arch] [(op version)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `any` or `native` from `name:any`; lade installs one architecture, so it only matters
    /// for the report.
    pub arch: Option<String>,
    pub version: Option<(Op, String)>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

/// `a | b (>= 1)` alternatives.
pub type Alternatives = Vec<Relation>;

pub fn display_alternatives(alts: &[Relation]) -> String {
    alts.iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Parses a relation field. Architecture restrictions (`[amd64]`) and build profiles
/// (`<!nocheck>`) only occur in source packages; they are dropped if present.
pub fn parse_relations(field: &str) -> Result<Vec<Alternatives>, String> {
    let mut out = Vec::new();
    for group in field.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut alts = Vec::new();
        for alt in group.split('|') {
            alts.push(parse_relation(alt).map_err(|e| format!("'{}': {e}", alt.trim()))?);
        }
        out.push(alts);
    }
    Ok(out)
}

fn parse_relation(s: &str) -> Result<Relation, String> {
    let s = strip_bracketed(strip_bracketed(s, '[', ']').as_str(), '<', '>');
    let s = s.trim();
    let (head, version) = match s.split_once('(') {
        Some((head, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .or_else(|| rest.trim_end().strip_suffix(')'))
                .ok_or("unclosed '('")?
                .trim();
            let op_len = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inner.len());
            let op = Op::parse(&inner[..op_len])
                .ok_or_else(|| format!("unknown version relation '{}'", &inner[..op_len]))?;
            let v = inner[op_len..].trim();
            if v.is_empty() {
                return Err("missing version".into());
            }
            (head.trim(), Some((op, v.to_string())))
        }
        None => (s, None),
    };
    if head.is_empty() || head.contains(char::is_whitespace) {
        return Err("bad package name".into());
    }
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (head, None),
    };
    Ok(Relation {
        name: name.to_string(),
        arch,
        version,
    })
}

/// Removes `open…close` spans (architecture lists, build profiles) outside the version
/// parentheses, where `<<` and `>=` are operators.
fn strip_bracketed(s: &str, open: char, close: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut in_version = false;
    for c in s.chars() {
        match c {
            '(' if depth == 0 => in_version = true,
            ')' if depth == 0 => in_version = false,
            _ => {}
        }
        if in_version {
            out.push(c);
        } else if c == open {
            depth += 1;
        } else if c == close && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_with_continuations() {
        let text = "Package: a\nVersion: 1\nDescription: short\n long line\n .\n more\n\n\n\
                    Package: b\nDepends: x,\n y (>= 2)\n# comment: ignored\nMD5sum:  abc  \n";
        let paras: Vec<Paragraph> = paragraphs(text).collect();
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].get("package"), Some("a"));
        assert_eq!(
            paras[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(paras[1].get("DEPENDS"), Some("x,\n y (>= 2)"));
        assert_eq!(paras[1].get("MD5sum"), Some("abc"));
        assert_eq!(paras[1].get("Version"), None);
    }

    #[test]
    fn empty_value_and_trailing_text() {
        let paras: Vec<Paragraph> = paragraphs("\n\nSHA256:\n h1 1 a\n h2 2 b").collect();
        assert_eq!(paras.len(), 1);
        assert_eq!(paras[0].get("SHA256"), Some("\n h1 1 a\n h2 2 b"));
    }

    #[test]
    fn relations() {
        let r = parse_relations(
            "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any,\n zlib1g (>=1:1.2.0) [amd64] <!nocheck>, x(<<2)",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0][0].version, Some((Op::Ge, "2.34".into())));
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[1][1].name, "debconf-2.0");
        assert_eq!(r[2][0].arch.as_deref(), Some("any"));
        assert_eq!(r[3][0].name, "zlib1g");
        assert_eq!(r[3][0].version, Some((Op::Ge, "1:1.2.0".into())));
        assert_eq!(r[4][0].version, Some((Op::Lt, "2".into())));
        assert_eq!(
            display_alternatives(&r[1]),
            "debconf (>= 0.5) | debconf-2.0"
        );
        assert!(parse_relations("a (>= )").is_err());
        assert!(parse_relations("a (~ 1)").is_err());
        assert!(parse_relations("a b").is_err());
        assert_eq!(parse_relations(" ").unwrap().len(), 0);
    }
}

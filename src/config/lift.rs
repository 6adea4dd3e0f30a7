//! lade settings kept in formats other than TOML — package.json's `"lade"` object, `lade.*`
//! properties of a pom.xml or gradle.properties — lifted into TOML text, one line per setting,
//! so they are read, checked and reported exactly as lade.toml is. Each line remembers the
//! setting it came from and where it is in the user's file.
//!
//! Properties map onto lade.toml's keys by their dotted names: `lade.KEY` is a top-level key
//! (`lade.base`), `lade.TABLE.KEY` a key of a table (`lade.java.main_class`), and everything
//! after a free map's name is one key (`lade.labels.org.opencontainers.image.title`,
//! `lade.env.JAVA_TOOL_OPTIONS`). A property's value is TOML when it looks like TOML — an
//! array `[…]`, an inline table `{…}`, a quoted string, `true`/`false`, an integer — and a
//! string otherwise, so `lade.base=debian12/java17` needs no quotes; values of free maps are
//! always strings.

use super::ConfigError;
use super::parse::Origin;
use super::schema::{FREE_MAPS, fields};
use std::collections::HashMap;
use std::path::Path;

/// Lifted settings: TOML text and, for each of its lines, where it came from.
#[derive(Debug, Default)]
pub struct Lifted {
    pub text: String,
    pub origins: Vec<Origin>,
}

impl Lifted {
    fn push(&mut self, keys: &[&str], value: &str, origin: Origin) {
        let keys: Vec<String> = keys.iter().map(|k| toml_string(k)).collect();
        let line = format!("{} = {value}\n", keys.join("."));
        for _ in 0..line.matches('\n').count() {
            self.origins.push(origin.clone());
        }
        self.text.push_str(&line);
    }
}

/// The prefix of lade's properties.
const PREFIX: &str = "lade.";

/// A property as a pom.xml or gradle.properties holds it, with its line and column.
pub struct Property {
    pub name: String,
    pub value: String,
    pub at: (usize, usize),
}

/// The `lade.*` properties of a file as settings; `None` when there are none.
pub fn properties(props: &[Property]) -> Option<Lifted> {
    let mut lifted = Lifted::default();
    for p in props {
        let Some(rest) = p.name.strip_prefix(PREFIX) else {
            continue;
        };
        let origin = Origin {
            key: p.name.clone(),
            at: Some(p.at),
        };
        let free = FREE_MAPS
            .iter()
            .find_map(|m| Some((*m, rest.strip_prefix(m)?.strip_prefix('.')?)));
        match free {
            Some((map, key)) => {
                let mut keys: Vec<&str> = map.split('.').collect();
                keys.push(key);
                lifted.push(&keys, &toml_string(p.value.trim()), origin);
            }
            None => {
                let keys: Vec<&str> = rest.split('.').collect();
                lifted.push(&keys, &property_value(&p.value), origin);
            }
        }
    }
    (!lifted.origins.is_empty()).then_some(lifted)
}

/// A property's value as TOML: as written when it looks like TOML, else a string.
fn property_value(value: &str) -> String {
    let t = value.trim();
    let integer = {
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if t.starts_with(['[', '{', '"', '\'']) || t == "true" || t == "false" || integer {
        t.to_string()
    } else {
        toml_string(t)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// package.json's `"lade"` object as settings; `None` when there is none.
pub fn package_json(text: &str, path: &Path) -> Result<Option<Lifted>, ConfigError> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ConfigError::Invalid {
            at: format!("{}:{}:{}", path.display(), e.line(), e.column()),
            message: format!(
                "not valid JSON: {}",
                full.strip_suffix(&suffix).unwrap_or(&full)
            ),
        }
    })?;
    let Some(lade) = doc.get("lade") else {
        return Ok(None);
    };
    let positions = json_key_positions(text);
    let located = |key: &str| match positions.get(key) {
        Some((l, c)) => format!("{}:{l}:{c}: {key}", path.display()),
        None => format!("{}: {key}", path.display()),
    };
    let serde_json::Value::Object(settings) = lade else {
        return Err(ConfigError::Invalid {
            at: located("lade"),
            message: "\"lade\" must be an object of lade settings, the keys of lade.toml (`\"lade\": { \"base\": \"…\" }`)".into(),
        });
    };
    let mut lifted = Lifted::default();
    json_table(&mut lifted, &mut Vec::new(), settings).map_err(|(key, message)| {
        ConfigError::Invalid {
            at: located(&key),
            message,
        }
    })?;
    for o in &mut lifted.origins {
        o.at = positions.get(&o.key).copied();
    }
    Ok(Some(lifted))
}

/// The line and column of every object key under `"lade"` in a JSON text serde_json has
/// accepted, by dotted path (`lade.env.A`): serde_json keeps no positions.
fn json_key_positions(text: &str) -> HashMap<String, (usize, usize)> {
    let mut scan = JsonScan {
        text,
        at: 0,
        keys: HashMap::new(),
    };
    scan.value("");
    scan.keys
}

struct JsonScan<'t> {
    text: &'t str,
    at: usize,
    keys: HashMap<String, (usize, usize)>,
}

impl JsonScan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn blanks(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// Skips one value, recording the keys of the objects in it.
    fn value(&mut self, path: &str) {
        self.blanks();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.blanks();
                    match self.peek() {
                        Some(b'"') => {}
                        Some(b',') => {
                            self.at += 1;
                            continue;
                        }
                        Some(_) => {
                            self.at += 1;
                            return;
                        }
                        None => return,
                    }
                    let start = self.at;
                    let key = self.string();
                    let child = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    if child == "lade" || child.starts_with("lade.") {
                        self.keys
                            .insert(child.clone(), super::parse::line_column(self.text, start));
                    }
                    self.blanks();
                    if self.peek() == Some(b':') {
                        self.at += 1;
                    }
                    self.value(&child);
                }
            }
            Some(b'[') => {
                self.at += 1;
                loop {
                    self.blanks();
                    match self.peek() {
                        Some(b']') | None => {
                            self.at += 1;
                            return;
                        }
                        Some(b',') => self.at += 1,
                        Some(_) => self.value(path),
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self.peek().is_some_and(|b| !b",]} \t\r\n".contains(&b)) {
                    self.at += 1;
                }
            }
            None => {}
        }
    }

    /// A string at the cursor, decoded; the cursor moves past it.
    fn string(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => break,
                _ => {}
            }
        }
        let end = self.at.min(self.text.len());
        serde_json::from_str(&self.text[start..end]).unwrap_or_default()
    }
}

/// One line per value of a lade table, recursing into lade's tables and free maps so each
/// setting has its own line (and its own place in messages).
fn json_table<'a>(
    lifted: &mut Lifted,
    keys: &mut Vec<&'a str>,
    table: &'a serde_json::Map<String, serde_json::Value>,
) -> Result<(), (String, String)> {
    for (k, v) in table {
        keys.push(k);
        let path = keys.join(".");
        let origin = Origin {
            key: format!("lade.{path}"),
            at: None,
        };
        match v {
            serde_json::Value::Object(inner)
                if fields(&path).is_some() || FREE_MAPS.contains(&path.as_str()) =>
            {
                json_table(lifted, keys, inner)?;
            }
            _ => {
                let value = json_value(v).map_err(|m| (origin.key.clone(), m))?;
                lifted.push(keys, &value, origin);
            }
        }
        keys.pop();
    }
    Ok(())
}

/// A JSON value as an inline TOML value.
fn json_value(v: &serde_json::Value) -> Result<String, String> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => {
            return Err("null is not a setting: remove the key or give it a value".into());
        }
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => toml_string(s),
        Value::Array(items) => {
            let items: Result<Vec<String>, String> = items.iter().map(json_value).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Object(map) => {
            let mut entries = Vec::new();
            for (k, v) in map {
                entries.push(format!("{} = {}", toml_string(k), json_value(v)?));
            }
            format!("{{ {} }}", entries.join(", "))
        }
    })
}

/// The `<properties>` of a pom.xml's `<project>` named `lade.*`, with their positions.
pub fn pom_properties(text: &str, path: &Path) -> Result<Vec<Property>, ConfigError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| ConfigError::Invalid {
        at: format!("{}:{}:{}", path.display(), e.pos().row, e.pos().col),
        message: format!("not valid XML: {e}"),
    })?;
    let Some(props) = doc
        .root_element()
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "properties")
    else {
        return Ok(Vec::new());
    };
    Ok(props
        .children()
        .filter(|c| c.is_element() && c.tag_name().name().starts_with(PREFIX))
        .map(|c| {
            let pos = doc.text_pos_at(c.range().start);
            Property {
                name: c.tag_name().name().to_string(),
                value: c.text().unwrap_or_default().to_string(),
                at: (pos.row as usize, pos.col as usize),
            }
        })
        .collect())
}

/// The properties of a Java `.properties` file (gradle.properties): `key=value`, `key: value`
/// or `key value` lines, `#`/`!` comments, `\` continuing a line, and the usual escapes.
pub fn properties_file(text: &str) -> Vec<Property> {
    let mut props = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with(['#', '!']) {
            continue;
        }
        let column = raw.len() - t.len() + 1;
        let mut logical = t.to_string();
        while ends_in_escape(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (name, value) = split_property(&logical);
        props.push(Property {
            name: unescape(name),
            value: unescape(value),
            at: (i + 1, column),
        });
    }
    props
}

/// Whether a line ends with an odd number of backslashes (a continuation).
fn ends_in_escape(line: &str) -> bool {
    line.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// The key (up to the first unescaped `=`, `:` or blank) and the value after the separator.
fn split_property(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' => break,
            _ => i += 1,
        }
    }
    let key = &line[..i.min(line.len())];
    let rest = line[i.min(line.len())..].trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
    (key, rest.trim_start_matches([' ', '\t']))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_map_onto_dotted_keys() {
        let props = properties_file(
            "# comment\nlade.base = debian12/java17\nlade.ports=[8080]\nlade.labels.org.opencontainers.image.title: My app\nlade.java.jvm_flags=[\"-Xss512k\", \\\n  \"-Xmx1g\"]\nother.key=1\nlade.user=1000\nlade.env.GREETING=a\\u00e9\n",
        );
        let lifted = properties(&props).unwrap();
        assert_eq!(
            lifted.text,
            "\"base\" = \"debian12/java17\"\n\"ports\" = [8080]\n\"labels\".\"org.opencontainers.image.title\" = \"My app\"\n\"java\".\"jvm_flags\" = [\"-Xss512k\", \"-Xmx1g\"]\n\"user\" = 1000\n\"env\".\"GREETING\" = \"aé\"\n"
        );
        let at: Vec<(usize, usize)> = lifted.origins.iter().map(|o| o.at.unwrap()).collect();
        assert_eq!(at, [(2, 1), (3, 1), (4, 1), (5, 1), (8, 1), (9, 1)]);
        assert_eq!(lifted.origins[3].key, "lade.java.jvm_flags");
        assert!(properties(&properties_file("org.gradle.jvmargs=-Xmx2g\n")).is_none());
    }

    #[test]
    fn package_json_lines_per_setting() {
        let text = r#"{"name": "x", "lade": {"base": "scratch", "env": {"A": "1"}, "java": {"jvm_flags": ["-Xss1m"]}, "ports": [8080, "53/udp"]}}"#;
        let lifted = package_json(text, Path::new("package.json"))
            .unwrap()
            .unwrap();
        let keys: Vec<&str> = lifted.origins.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "lade.base",
                "lade.env.A",
                "lade.java.jvm_flags",
                "lade.ports"
            ]
        );
        assert!(lifted.text.contains("\"ports\" = [8080, \"53/udp\"]\n"));
        let e = package_json(r#"{"lade": {"name": null}}"#, Path::new("package.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "package.json:1:11: lade.name: null is not a setting: remove the key or give it a value"
        );
        let text = "{\n  \"lade\": {\n    \"env\": { \"A\": \"x\\\"}\" },\n    \"ports\": [[1], {\"a\": 2}],\n    \"user\": 7\n  }\n}\n";
        let at: Vec<_> = package_json(text, Path::new("package.json"))
            .unwrap()
            .unwrap()
            .origins
            .iter()
            .map(|o| (o.key.clone(), o.at))
            .collect();
        assert_eq!(
            at,
            [
                ("lade.env.A".to_string(), Some((3, 14))),
                ("lade.ports".to_string(), Some((4, 5))),
                ("lade.user".to_string(), Some((5, 5)))
            ]
        );
        let e = package_json("{\n  \"lade\": [1,\n", Path::new("package.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("package.json:3:"), "{e}");
        assert!(
            package_json(r#"{"name": "x"}"#, Path::new("package.json"))
                .unwrap()
                .is_none()
        );
    }
}

//! Turning a settings table into a [`LadeConfig`]: the TOML text (a file, or the settings of
//! another format lifted into TOML by `lift`), the path to the table in it, and where each
//! error and unknown key is in the user's file.

use super::{ConfigError, LadeConfig, UserSetting, port_spec, schema};
use crate::platform::{Platform, PlatformError};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// Settings to parse: TOML text and how positions in it map to the user's file.
pub struct Document<'a> {
    /// The user's file, for messages.
    pub path: &'a Path,
    pub text: &'a str,
    /// The keys leading to the lade table in `text`; empty for the whole document.
    pub table: &'a [&'a str],
    /// `None` when `text` is the user's file; otherwise where each line of `text` came from.
    pub lifted: Option<&'a [Origin]>,
    /// Unknown keys are errors (lade.toml, lade's own file) rather than warnings (a table in
    /// another tool's file, which that tool and its plugins also read).
    pub strict: bool,
}

/// Where a line of lifted TOML came from: the setting as the user's file spells it
/// (`lade.ports`) and its line and column there, when the format has them.
#[derive(Clone, Debug)]
pub struct Origin {
    pub key: String,
    pub at: Option<(usize, usize)>,
}

impl Document<'_> {
    /// `FILE:LINE:COLUMN` (with the setting's name for lifted settings) of a byte offset of
    /// `text`; just the file when there is no offset and the text is lifted.
    pub fn locate(&self, offset: Option<usize>) -> String {
        let file = self.path.display();
        match self.lifted {
            None => {
                let (line, column) = line_column(self.text, offset.unwrap_or(0));
                format!("{file}:{line}:{column}")
            }
            Some(origins) => {
                let origin = offset.and_then(|o| origins.get(line_column(self.text, o).0 - 1));
                match origin {
                    Some(Origin {
                        key,
                        at: Some((l, c)),
                    }) => format!("{file}:{l}:{c}: {key}"),
                    Some(Origin { key, at: None }) => format!("{file}: {key}"),
                    None => file.to_string(),
                }
            }
        }
    }

    fn invalid(&self, span: Option<std::ops::Range<usize>>, message: String) -> ConfigError {
        ConfigError::Invalid {
            at: self.locate(span.map(|s| s.start)),
            message,
        }
    }

    /// The lade table of the document as settings; `None` when there is no such table.
    pub fn parse(&self) -> Result<Option<LadeConfig>, ConfigError> {
        let de_err =
            |e: toml::de::Error| self.invalid(e.span(), with_suggestion(e.message().trim()));
        let root = toml::de::DeTable::parse(self.text).map_err(de_err)?;
        let mut value = Spanned::new(root.span(), toml::de::DeValue::Table(root.into_inner()));
        for key in self.table {
            let toml::de::DeValue::Table(table) = value.into_inner() else {
                return Ok(None);
            };
            match table.into_iter().find(|(k, _)| k.get_ref() == key) {
                Some((_, v)) => value = v,
                None => return Ok(None),
            }
        }
        if !self.strict {
            for u in schema::prune(&mut value) {
                let hint = u
                    .suggestion
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                // Lifted lines are located with the setting's own name; in a TOML file the key
                // is named as that file spells it (`tool.lade.colour`).
                let at = match self.lifted {
                    Some(_) => self.locate(Some(u.span.start)),
                    None => {
                        let mut key: Vec<&str> = self.table.to_vec();
                        key.push(&u.key);
                        format!("{}: {}", self.locate(Some(u.span.start)), key.join("."))
                    }
                };
                // The message names the file, the place in it and the key: no field repeats it.
                tracing::warn!("{at}: not a lade setting, ignored{hint}");
            }
        }
        // Spans survive into the value deserializer, so `Spanned` fields and errors point into
        // `text`, also for a table nested in another tool's manifest.
        let mut config =
            LadeConfig::deserialize(toml::de::ValueDeserializer::from(value)).map_err(de_err)?;
        config.path = Some(self.path.to_path_buf());
        self.check(&config)?;
        Ok(Some(config))
    }

    /// The checks serde cannot make: values with a syntax of their own.
    fn check(&self, config: &LadeConfig) -> Result<(), ConfigError> {
        for p in &config.platforms {
            p.get_ref()
                .parse::<Platform>()
                .map_err(|e: PlatformError| self.invalid(Some(p.span()), e.to_string()))?;
        }
        if let Some(b) = &config.base
            && let Some(Err(e)) = crate::base_spec::BaseSpec::parse_reference(&b.reference())
        {
            return Err(self.invalid(None, format!("base: {e}")));
        }
        for m in &config.registry.mirrors {
            m.get_ref()
                .parse::<crate::oci::Mirror>()
                .map_err(|e| self.invalid(Some(m.span()), format!("registry mirror: {e}")))?;
        }
        for p in &config.ports {
            port_spec(p.get_ref()).map_err(|m| self.invalid(Some(p.span()), m))?;
        }
        check_values(config).map_err(|m| self.invalid(None, m))
    }
}

/// Values the image config would carry but no runtime accepts: refused here, with the
/// file, rather than written into an image that cannot start.
fn check_values(c: &LadeConfig) -> Result<(), String> {
    if let Some(e) = &c.entrypoint
        && e.first().is_none_or(|p| p.trim().is_empty())
    {
        return Err(
            "entrypoint must name a program: `entrypoint = [\"/app/server\", \"--flag\"]`".into(),
        );
    }
    for k in c.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(format!(
                "env key `{k}` is not a variable name: a name has no `=` (write `{}= \"…\"`)",
                k.split('=').next().unwrap_or_default()
            ));
        }
    }
    if let Some(w) = &c.workdir
        && !w.starts_with('/')
    {
        return Err(format!(
            "workdir `{w}` must be an absolute path in the image (`/{}`)",
            w.trim_start_matches("./")
        ));
    }
    if let Some(UserSetting::Name(u)) = &c.user {
        user_spec(u)?;
    }
    Ok(())
}

/// `user` as runtimes take it: `UID`, `UID:GID`, `NAME` or `NAME:GROUP`, where a name is
/// a POSIX user name (letters, digits, `_`, `.`, `-`, not starting with `-`).
fn user_spec(u: &str) -> Result<(), String> {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    let mut parts = u.splitn(2, ':');
    let user = parts.next().unwrap_or_default();
    let group = parts.next();
    if ok(user) && group.is_none_or(ok) {
        Ok(())
    } else {
        Err(format!(
            "user `{u}` is not a user: use a uid (`user = 65532`), `UID:GID`, or a name in the base's /etc/passwd"
        ))
    }
}

/// 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// serde's "unknown field `entrypont`, expected one of `name`, `entrypoint`, …" with the
/// closest known key named when one is close (a typo), so the fix is in the message.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(field, &known) {
        Some(k) => format!("{message}; did you mean `{k}`?"),
        None => message.to_string(),
    }
}

/// The known key closest to `key`, when it is close enough to be a typo of it.
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

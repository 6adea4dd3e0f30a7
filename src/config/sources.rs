//! Where lade's settings may be: lade.toml, or a table in the manifest the project's own
//! tool already has, each with the same keys. Settings in two places are an error rather than
//! a merge, so no key is silently shadowed.

use super::lift::{self, Lifted};
use super::parse::Document;
use super::{ConfigError, FILE_NAME, LadeConfig};
use std::path::Path;

/// How a file holds lade's settings.
enum Holder {
    /// A TOML table at these keys (the whole file when empty).
    Toml(&'static [&'static str]),
    /// package.json's `"lade"` object.
    PackageJson,
    /// `lade.*` elements of a pom.xml's `<properties>`.
    PomProperties,
    /// `lade.*` keys of a Java properties file.
    PropertiesFile,
}

struct Place {
    file: &'static str,
    holder: Holder,
}

/// Every place, lade.toml first.
const PLACES: &[Place] = &[
    Place {
        file: FILE_NAME,
        holder: Holder::Toml(&[]),
    },
    Place {
        file: "Cargo.toml",
        holder: Holder::Toml(&["package", "metadata", "lade"]),
    },
    Place {
        file: "Cargo.toml",
        holder: Holder::Toml(&["workspace", "metadata", "lade"]),
    },
    Place {
        file: "pyproject.toml",
        holder: Holder::Toml(&["tool", "lade"]),
    },
    Place {
        file: "package.json",
        holder: Holder::PackageJson,
    },
    Place {
        file: "pom.xml",
        holder: Holder::PomProperties,
    },
    Place {
        file: "gradle.properties",
        holder: Holder::PropertiesFile,
    },
];

impl Place {
    /// The place as messages name it.
    fn describe(&self) -> String {
        match self.holder {
            Holder::Toml([]) => self.file.to_string(),
            Holder::Toml(keys) => format!("[{}] in {}", keys.join("."), self.file),
            Holder::PackageJson => format!("\"lade\" in {}", self.file),
            Holder::PomProperties | Holder::PropertiesFile => {
                format!("lade.* properties in {}", self.file)
            }
        }
    }

    /// The settings this place holds in `text` (the file at `path`), if any.
    fn read(&self, text: &str, path: &Path) -> Result<Option<LadeConfig>, ConfigError> {
        let lifted = match self.holder {
            Holder::Toml(table) => {
                return Document {
                    path,
                    text,
                    table,
                    lifted: None,
                    // lade.toml is lade's own: a key it does not know is a mistake. Another
                    // tool's file may be read by other programs too, so there it is a warning.
                    strict: table.is_empty(),
                }
                .parse();
            }
            Holder::PackageJson => lift::package_json(text, path)?,
            Holder::PomProperties => lift::properties(&lift::pom_properties(text, path)?),
            Holder::PropertiesFile => lift::properties(&lift::properties_file(text)),
        };
        let Some(Lifted { text, origins }) = lifted else {
            return Ok(None);
        };
        Document {
            path,
            text: &text,
            table: &[],
            lifted: Some(&origins),
            strict: false,
        }
        .parse()
    }
}

/// Reads lade's settings from the project directory `dir`; none is an empty configuration.
pub fn load(dir: &Path) -> Result<LadeConfig, ConfigError> {
    let mut found: Option<(LadeConfig, String)> = None;
    for place in PLACES {
        let path = dir.join(place.file);
        let Some(text) = read_if_exists(&path)? else {
            continue;
        };
        // A manifest that never says "lade" holds no settings: it is not parsed, so a file
        // the project's tool reads leniently does not stop a build here.
        if place.file != FILE_NAME && !text.contains("lade") {
            continue;
        }
        let Some(mut config) = place.read(&text, &path)? else {
            continue;
        };
        let here = place.describe();
        if let Some((_, first)) = &found {
            return Err(ConfigError::Conflict {
                first: first.clone(),
                second: here,
            });
        }
        config.place = Some(here.clone());
        found = Some((config, here));
    }
    Ok(found.map(|(c, _)| c).unwrap_or_default())
}

fn read_if_exists(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

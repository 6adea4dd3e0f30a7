//! The parts of cargo's configuration files lade must carry over. lade passes its rustc flags
//! through `CARGO_ENCODED_RUSTFLAGS`, and cargo then ignores every `rustflags` in config files;
//! so the project's own flags are read here (as cargo would find them: `.cargo/config.toml`
//! in the project directory and each parent, then `$CARGO_HOME/config.toml`) and put first.
//! A linker named there is left to cargo. `[target.'cfg(…)']` tables are not evaluated.

use crate::detect::DetectError;
use std::path::{Path, PathBuf};

/// Config files, most specific first, each with its parsed table.
#[derive(Debug, Default)]
pub struct CargoConfig {
    files: Vec<(PathBuf, toml::Table)>,
}

impl CargoConfig {
    /// Reads the files cargo would read when run in `start`.
    pub fn load(start: &Path, cargo_home: Option<&Path>) -> Result<CargoConfig, DetectError> {
        let mut dirs: Vec<PathBuf> = start.ancestors().map(|a| a.join(".cargo")).collect();
        if let Some(home) = cargo_home
            && !dirs.iter().any(|d| d == home)
        {
            dirs.push(home.to_path_buf());
        }
        let mut files = Vec::new();
        for dir in dirs {
            // With both present cargo reads the one without extension (and warns).
            let Some(path) = [dir.join("config"), dir.join("config.toml")]
                .into_iter()
                .find(|p| p.is_file())
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| DetectError::Read {
                path: path.clone(),
                source,
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| DetectError::Invalid {
                file: path.clone(),
                detail: e.message().trim().to_string(),
            })?;
            files.push((path, table));
        }
        Ok(CargoConfig { files })
    }

    /// The config files cargo will read, most specific first.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Their parsed contents, in the same order.
    pub fn tables(&self) -> impl Iterator<Item = &toml::Table> {
        self.files.iter().map(|(_, t)| t)
    }

    #[cfg(test)]
    pub fn from_texts(texts: &[&str]) -> CargoConfig {
        CargoConfig {
            files: texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        PathBuf::from(format!("config{i}")),
                        toml::from_str(t).unwrap(),
                    )
                })
                .collect(),
        }
    }

    /// The rustc flags cargo would use for `triple` from config files: every file's
    /// `target.TRIPLE.rustflags` if any file has one, else every `build.rustflags`; arrays from
    /// several files are joined, the more specific file's last.
    pub fn rustflags(&self, triple: &str) -> Vec<String> {
        let from = |get: &dyn Fn(&toml::Table) -> Option<&toml::Value>| -> Vec<String> {
            self.files
                .iter()
                .rev()
                .filter_map(|(_, t)| get(t))
                .flat_map(flags_of)
                .collect()
        };
        let target = from(&|t| t.get("target")?.get(triple)?.get("rustflags"));
        if !target.is_empty() {
            return target;
        }
        from(&|t| t.get("build")?.get("rustflags"))
    }

    /// The config file naming a linker for `triple`, if any.
    pub fn linker_file(&self, triple: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(_, t)| {
                t.get("target")
                    .and_then(|x| x.get(triple))
                    .and_then(|x| x.get("linker"))
                    .is_some()
            })
            .map(|(p, _)| p.as_path())
    }
}

/// `"-C a -C b"` or `["-C", "a"]`.
fn flags_of(v: &toml::Value) -> Vec<String> {
    match v {
        toml::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        toml::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustflags_precedence() {
        let c = CargoConfig::from_texts(&[
            "[build]\nrustflags = \"--cfg inner\"\n",
            "[build]\nrustflags = [\"--cfg\", \"outer\"]\n",
        ]);
        assert_eq!(
            c.rustflags("x86_64-unknown-linux-musl"),
            ["--cfg", "outer", "--cfg", "inner"]
        );
        let c = CargoConfig::from_texts(&[
            "[build]\nrustflags = \"--cfg b\"\n[target.aarch64-unknown-linux-musl]\nrustflags = [\"--cfg\", \"t\"]\nlinker = \"x-ld\"\n",
        ]);
        assert_eq!(c.rustflags("aarch64-unknown-linux-musl"), ["--cfg", "t"]);
        assert_eq!(c.rustflags("x86_64-unknown-linux-musl"), ["--cfg", "b"]);
        assert!(c.linker_file("aarch64-unknown-linux-musl").is_some());
        assert!(c.linker_file("x86_64-unknown-linux-musl").is_none());
    }

    #[test]
    fn files_are_found_up_the_tree() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b");
        std::fs::create_dir_all(deep.join(".cargo")).unwrap();
        std::fs::create_dir_all(t.path().join("a/.cargo")).unwrap();
        std::fs::write(
            deep.join(".cargo/config.toml"),
            "[build]\nrustflags = [\"--cfg\", \"deep\"]\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join("a/.cargo/config"),
            "[build]\nrustflags = [\"--cfg\", \"up\"]\n",
        )
        .unwrap();
        let c = CargoConfig::load(&deep, None).unwrap();
        let flags = c.rustflags("x");
        // Ancestors of the temp dir may have config files of their own; ours come last.
        assert_eq!(&flags[flags.len() - 4..], ["--cfg", "up", "--cfg", "deep"]);
    }
}

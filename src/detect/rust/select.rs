//! Which binaries go into the image and which one is the entrypoint: the binary targets of the
//! packages cargo builds here, less those whose `required-features` are off, narrowed by
//! lade.toml, the entrypoint chosen as `cargo run` would.

use super::APP_DIR;
use super::manifest::{BinTarget, PackageInfo};
use super::workspace::Workspace;
use crate::config::RustSettings;
use crate::detect::{DetectError, Project};
use std::path::Path;

/// A binary lade puts in the image.
pub struct Selected<'a> {
    pub package: &'a PackageInfo,
    pub bin: &'a BinTarget,
}

/// Binaries left out because features they require are off, with those features.
pub type Skipped = Vec<(String, Vec<String>)>;

/// The binaries of the selected packages, minus those whose `required-features` are off, and
/// narrowed to `[rust] bins`; and the ones left out for features.
pub fn select_bins<'a>(
    ws: &'a Workspace,
    settings: &RustSettings,
    manifest_path: &Path,
) -> Result<(Vec<Selected<'a>>, Skipped), DetectError> {
    let mut all: Vec<Selected> = Vec::new();
    let mut skipped = Vec::new();
    for package in &ws.selected {
        let requested: Vec<String> = settings
            .features
            .iter()
            .filter_map(|f| match f.split_once('/') {
                Some((p, feat)) if p == package.name => Some(feat.to_string()),
                Some(_) => None,
                None => Some(f.clone()),
            })
            .collect();
        let on = package.enabled_features(&requested, settings.no_default_features);
        for bin in &package.bins {
            let missing: Vec<String> = bin
                .required_features
                .iter()
                .filter(|f| !on.contains(*f))
                .cloned()
                .collect();
            if !missing.is_empty() {
                skipped.push((bin.name.clone(), missing));
                continue;
            }
            if let Some(other) = all.iter().find(|s| s.bin.name == bin.name) {
                return Err(DetectError::Unsupported(format!(
                    "packages {} and {} both have a binary named {}; both cannot be at {APP_DIR}/{}: rename one",
                    other.package.name, package.name, bin.name, bin.name
                )));
            }
            all.push(Selected { package, bin });
        }
    }
    if let Some(wanted) = &settings.bins {
        for w in wanted {
            if !all.iter().any(|s| &s.bin.name == w) {
                return Err(DetectError::Unsupported(format!(
                    "[rust] bins names {w}, which is not a binary here (binaries: {})",
                    list(&all)
                )));
            }
        }
        all.retain(|s| wanted.contains(&s.bin.name));
    }
    if all.is_empty() {
        return Err(nothing_to_build(ws, &skipped, manifest_path));
    }
    Ok((all, skipped))
}

/// The entrypoint: `--main`, else `[rust] bin`, else `main` in lade.toml; else the only
/// binary, else the root package's `default-run` (as `cargo run` picks).
pub fn choose_entry(
    ws: &Workspace,
    bins: &[Selected],
    skipped: &[(String, Vec<String>)],
    project: &Project,
) -> Result<String, DetectError> {
    let wanted = project
        .main
        .map(|m| (m.to_string(), "--main"))
        .or_else(|| project.config.rust.bin.clone().map(|b| (b, "[rust] bin")))
        .or_else(|| project.config.main.clone().map(|m| (m, "main")));
    if let Some((w, from)) = wanted {
        if bins.iter().any(|s| s.bin.name == w) {
            return Ok(w);
        }
        if let Some((_, missing)) = skipped.iter().find(|(n, _)| n == &w) {
            return Err(DetectError::Unsupported(format!(
                "{from} {w}: that binary needs features {} (set [rust] features)",
                missing.join(", ")
            )));
        }
        return Err(DetectError::Unsupported(format!(
            "{from} {w}: no binary named {w} (binaries: {})",
            list(bins)
        )));
    }
    if let [only] = bins {
        return Ok(only.bin.name.clone());
    }
    let default_run = ws
        .selected
        .iter()
        .find(|p| Some(&p.name) == ws.root_package.as_ref())
        .and_then(|p| p.default_run.clone());
    if let Some(d) = default_run
        && bins.iter().any(|s| s.bin.name == d)
    {
        return Ok(d);
    }
    Err(DetectError::Unsupported(format!(
        "several binaries ({}): pick the entrypoint with --main NAME or `bin = \"NAME\"` under [rust] in lade.toml",
        list(bins)
    )))
}

fn list(bins: &[Selected]) -> String {
    if bins.is_empty() {
        return "none".into();
    }
    bins.iter()
        .map(|s| s.bin.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error when no binary is left: features turned them off, or there are none.
fn nothing_to_build(
    ws: &Workspace,
    skipped: &[(String, Vec<String>)],
    manifest_path: &Path,
) -> DetectError {
    if !skipped.is_empty() {
        let which: Vec<String> = skipped
            .iter()
            .map(|(n, f)| format!("{n} needs {}", f.join(", ")))
            .collect();
        return DetectError::Unsupported(format!(
            "{}: no binary is built with the enabled features ({}); enable them with [rust] features",
            manifest_path.display(),
            which.join("; ")
        ));
    }
    let detail = match (ws.declared, ws.selected.as_slice()) {
        (false, [p]) | (true, [p]) if ws.root_package.as_deref() == Some(p.name.as_str()) => {
            format!(
                "package {} has no binary target (src/main.rs, src/bin/*.rs or [[bin]]); lade packages programs, not libraries",
                p.name
            )
        }
        _ => format!(
            "no binary target in the packages cargo builds here ({}); lade packages programs, not libraries",
            ws.selected
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    DetectError::Unsupported(format!("{}: {detail}", manifest_path.display()))
}

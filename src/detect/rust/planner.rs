//! A Rust project's plan: the selected binaries built once per platform and put at
//! `/app/NAME`, resources below them, on the base their predicted linkage needs.

use super::build::CargoBuild;
use super::facts::RustProject;
use super::select::{self, Selected};
use super::workspace::Workspace;
use super::{APP_DIR, CC_BASE, Host, STATIC_BASE};
use crate::config::RustSettings;
use crate::detect::builder::{DirName, PlanBuilder};
use crate::detect::{DetectError, Project};
use crate::plan::{FileEntry, Linkage, Plan, Reason};
use std::path::Path;

pub fn plan(rust: &RustProject, project: &Project, host: &Host) -> Result<Plan, DetectError> {
    let mut b = PlanBuilder::new("rust", project);
    let ws = &rust.workspace;
    let settings = &project.config.rust;
    let manifest_path = project.dir.join("Cargo.toml");
    let (bins, skipped) = select::select_bins(ws, settings, &manifest_path)?;
    let entry = select::choose_entry(ws, &bins, &skipped, project)?;
    let (resources, resource_reasons) = resources(&mut b, rust, settings, &bins)?;
    let build = CargoBuild::new(rust, project, host, &bins)?;
    let mut any_glibc = false;
    b.per_platform(|platform, _| {
        let (target, linkage) = build.target(platform, &resources)?;
        any_glibc |= linkage == Linkage::Glibc;
        Ok(target)
    })?;

    let linkage = if any_glibc {
        format!("; glibc-linked binaries need a cc base ({CC_BASE})")
    } else {
        format!("; static musl binaries on {STATIC_BASE}")
    };
    b.reason("Cargo.toml", describe_workspace(ws, project.dir) + &linkage);
    for s in &bins {
        b.reason(
            rel(project.dir, &s.package.dir.join(&s.bin.path)),
            format!(
                "binary {} of package {} → {APP_DIR}/{}",
                s.bin.name, s.package.name, s.bin.name
            ),
        );
    }
    for (name, missing) in &skipped {
        b.reason(
            "Cargo.toml",
            format!(
                "binary {name} left out: it needs features {} (see [rust] features)",
                missing.join(", ")
            ),
        );
    }
    match &rust.lockfile {
        Some(l) => b.reason(
            rel(project.dir, l),
            "dependencies as locked (cargo build --locked)",
        ),
        None => b.reason(
            "Cargo.lock",
            "absent: cargo resolves dependencies while building; commit one for repeatable builds",
        ),
    }
    b.reasons(resource_reasons);

    b.config().entrypoint = Some(vec![format!("{APP_DIR}/{entry}")]);
    if !resources.is_empty() {
        // Programs find their resources relative to the working directory, as under
        // `cargo run` in the project directory.
        b.config().workdir = Some(APP_DIR.into());
    }
    let name = b.name(ws.root_package.clone(), DirName::AsIs);
    Ok(b.finish(name, if any_glibc { CC_BASE } else { STATIC_BASE }))
}

/// The resources layer: `[rust] resources`, else `assets/` when it exists, each directory at
/// `/app/DIR` through the ignore rules; with a reason per directory.
fn resources(
    b: &mut PlanBuilder,
    rust: &RustProject,
    settings: &RustSettings,
    bins: &[Selected],
) -> Result<(Vec<FileEntry>, Vec<Reason>), DetectError> {
    let dirs: Vec<String> = match &settings.resources {
        Some(r) => r.clone(),
        None if rust.assets => vec!["assets".into()],
        None => Vec::new(),
    };
    let mut entries = Vec::new();
    let mut reasons = Vec::new();
    for d in dirs {
        let clean = d.trim_start_matches("./").trim_end_matches('/').to_string();
        check_resource_dir(b.dir(), &d, &clean, bins)?;
        let target = format!("{APP_DIR}/{clean}");
        entries.extend(b.files(Path::new(&clean), &target)?);
        reasons.push(Reason {
            file: format!("{clean}/"),
            why: format!("resources → {target}"),
        });
    }
    Ok((entries, reasons))
}

/// A resources directory (`d` as written, `clean` without `./` and trailing `/`) must be a
/// directory inside the project whose place in the image no binary takes.
fn check_resource_dir(
    dir: &Path,
    d: &str,
    clean: &str,
    bins: &[Selected],
) -> Result<(), DetectError> {
    let path = Path::new(clean);
    let outside = path.is_absolute()
        || clean.is_empty()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if outside {
        return Err(DetectError::Unsupported(format!(
            "[rust] resources: {d:?} must be a directory inside the project, relative to it"
        )));
    }
    if !dir.join(path).is_dir() {
        return Err(DetectError::Unsupported(format!(
            "[rust] resources: {} is not a directory",
            dir.join(path).display()
        )));
    }
    let top = clean.split('/').next().unwrap_or(clean);
    if let Some(s) = bins.iter().find(|s| s.bin.name == top) {
        return Err(DetectError::Unsupported(format!(
            "resources directory {clean}/ and binary {} would both be {APP_DIR}/{top}",
            s.bin.name
        )));
    }
    Ok(())
}

fn describe_workspace(ws: &Workspace, project_dir: &Path) -> String {
    let alone = ws.members.len() == 1 && ws.root_package.is_some();
    if !ws.declared || alone {
        let mut s = format!("Rust package {}", ws.root_package.as_deref().unwrap_or("?"));
        if ws.root != project_dir {
            s.push_str(&format!(" in the workspace at {}", ws.root.display()));
        }
        return s;
    }
    let names: Vec<&str> = ws.selected.iter().map(|p| p.name.as_str()).collect();
    format!(
        "Cargo workspace of {} member{}; cargo builds {} here",
        ws.members.len(),
        if ws.members.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

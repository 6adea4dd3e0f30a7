//! `lade rebase` and `lade base outdated`: arguments to options, reports to stdout (the result)
//! and stderr (what changed).

use crate::cli::{OutdatedArgs, RebaseArgs, RegistryArgs};
use anyhow::Context;
use lade::registry::RegistryOptions;

type Registry = fn(RegistryArgs) -> anyhow::Result<RegistryOptions>;

pub fn rebase(
    a: RebaseArgs,
    quiet: bool,
    warnings: &lade::warnings::Warnings,
    registry: Registry,
) -> anyhow::Result<()> {
    let opts = lade::ops::rebase::RebaseOptions {
        image: a.image,
        base: a.base,
        to: a.to,
        tags: a.tags,
        force: a.force,
        registry: registry(a.registry)?,
        sign_key: a.sign_key,
        lock_dirs: a.dirs,
        attach: match (a.attach, a.no_attach) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    };
    let mut report = lade::ops::rebase::rebase(&opts)?;
    report.warnings = warnings.said();
    if a.json {
        return line(&serde_json::to_string_pretty(&report).context("encoding the report")?);
    }
    if !quiet {
        for l in report.summary() {
            eprintln!("lade: {l}");
        }
    }
    line(&report.reference)
}

pub fn outdated(a: OutdatedArgs, registry: Registry) -> anyhow::Result<()> {
    let mut debian = lade::debian::DebianOptions::new(lade::ops::cache_dir());
    debian.mirror = a.debian_mirror;
    let dirs = match a.dirs.is_empty() {
        true => vec![std::path::PathBuf::from(".")],
        false => a.dirs,
    };
    let opts = lade::ops::outdated::OutdatedOptions {
        dirs,
        registry: registry(a.registry)?,
        debian,
    };
    let report = lade::ops::outdated::outdated(&opts)?;
    if report.bases.is_empty() {
        // Only registry bases are pinned by lade.lock; a layout or scratch base never is.
        let dirs: Vec<String> = opts.dirs.iter().map(|d| d.display().to_string()).collect();
        eprintln!(
            "lade: no base is pinned in lade.lock or lade-base.lock in {}",
            dirs.join(", ")
        );
    }
    if a.json {
        line(&serde_json::to_string_pretty(&report).context("encoding the report")?)?;
    } else {
        for l in report.lines() {
            line(&l)?;
        }
    }
    match report.outdated() {
        0 => Ok(()),
        n => anyhow::bail!("{n} pinned base(s) are outdated"),
    }
}

fn line(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{s}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

//! From parsed arguments to the options of `ops`: each flag checked and turned into data here,
//! so a bad value is one `error:` line naming the flag before anything runs.

use crate::cli::{OutputArgs, ProjectArgs, RegistryArgs};
use anyhow::Context;
use lade::ops::plan::PlanOptions;
use lade::ops::publish::PublishOptions;
use lade::sink::Target;

/// The project directories: DIR and -C values in that order (one named twice, `a` and
/// `./a/`, is one), or with `--project` each package inside the one DIR or -C (default `.`).
pub fn project_dirs(p: &ProjectArgs) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut roots: Vec<std::path::PathBuf> = Vec::new();
    for d in p.paths.iter().chain(&p.dirs) {
        let same = |x: &std::path::PathBuf| {
            x == d || matches!((x.canonicalize(), d.canonicalize()), (Ok(a), Ok(b)) if a == b)
        };
        if !roots.iter().any(same) {
            roots.push(d.clone());
        }
    }
    if p.projects.is_empty() {
        return Ok(roots);
    }
    let root = match roots.as_slice() {
        [] => std::path::PathBuf::from("."),
        [one] => one.clone(),
        many => {
            let list: Vec<String> = many.iter().map(|d| d.display().to_string()).collect();
            anyhow::bail!(
                "--project names packages inside one project directory, and {} are given ({}); give one DIR or -C, or the packages' own directories without --project",
                many.len(),
                list.join(", ")
            )
        }
    };
    let mut dirs = Vec::new();
    for sub in &p.projects {
        if sub.is_absolute()
            || sub
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            anyhow::bail!(
                "--project {}: give the package's path relative to the project directory (DIR or -C), inside it, like apps/web",
                sub.display()
            );
        }
        let dir = root.join(sub);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// The one project directory of a command that takes one.
fn project_dir(p: &ProjectArgs) -> anyhow::Result<Option<std::path::PathBuf>> {
    match project_dirs(p)?.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => {
            let list: Vec<String> = many.iter().map(|d| d.display().to_string()).collect();
            anyhow::bail!(
                "several projects are given ({}, as DIR, -C or --project); this command takes one",
                list.join(", ")
            )
        }
    }
}

pub fn plan_options(p: ProjectArgs) -> anyhow::Result<PlanOptions> {
    let dir = project_dir(&p)?;
    plan_options_for(p, dir)
}

/// `p`'s flags for the project in `dir`.
fn plan_options_for(
    p: ProjectArgs,
    dir: Option<std::path::PathBuf>,
) -> anyhow::Result<PlanOptions> {
    let (platforms, all_platforms) = match p.platform.as_deref().map(str::trim) {
        Some("all") => (None, true),
        Some(s) => (
            Some(lade::platform::parse_list(s).context("--platform (or `all`)")?),
            false,
        ),
        None => (None, false),
    };
    use lade::ops::plan::parse_pairs;
    Ok(PlanOptions {
        dir,
        platforms,
        all_platforms,
        base: p.base,
        main: p.main,
        labels: parse_pairs("--label", &p.labels)?,
        annotations: parse_pairs("--annotation", &p.annotations)?,
        env: parse_pairs("--env", &p.env)?,
    })
}

/// `publish`'s options, which `plan` checks too.
pub fn publish_options(project: ProjectArgs, mut o: OutputArgs) -> anyhow::Result<PublishOptions> {
    let plan = plan_options(project)?;
    for to in &mut o.to {
        *to = lade::ops::multi::name_target(to, &plan)?;
    }
    Ok(PublishOptions {
        plan,
        ..outputs(o)?
    })
}

/// The output flags, checked; the project's options left at their defaults.
fn outputs(o: OutputArgs) -> anyhow::Result<PublishOptions> {
    Ok(PublishOptions {
        plan: Default::default(),
        targets: o
            .to
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<_, _>>()?,
        tags: o.tags,
        registry: registry_options(o.registry)?,
        refresh_base: o.refresh_base,
        image_refs: o.image_refs,
        sbom: o.sbom,
        no_verify: o.no_verify,
        sign_key: o.sign_key,
        no_attach: o.no_attach,
        compression: o.compression,
        compression_level: o
            .compression_level
            .map(|l| {
                o.compression
                    .check_level(l)
                    .map_err(|e| anyhow::anyhow!("--compression-level {l}: {e}"))
            })
            .transpose()?,
        cache_repo: o
            .cache_repo
            .as_deref()
            .map(lade::cache_repo::CacheRepo::parse)
            .transpose()?,
        // The binary sets its renderer's reporter; `plan` reports nothing.
        progress: Default::default(),
        // Set by `ops::multi` for the projects of one run.
        shared: None,
    })
}

/// `publish` over several projects: `dirs` (from [`lade::ops::multi::projects`]), the shared
/// flags checked as for one, `--to` kept as written to be made per project.
pub fn multi_options(
    project: ProjectArgs,
    mut o: OutputArgs,
    dirs: Vec<std::path::PathBuf>,
    jobs: Option<usize>,
) -> anyhow::Result<lade::ops::multi::MultiOptions> {
    let to = std::mem::take(&mut o.to);
    let plan = plan_options_for(project, None)?;
    let mut publish = outputs(o)?;
    publish.plan = plan;
    // The toolchains spread one build over the CPUs; lade's own work per project (tar,
    // gzip, digests, pushes) is mostly one thread, so one project per CPU keeps them busy.
    let jobs = match jobs {
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok(lade::ops::multi::MultiOptions {
        dirs,
        publish,
        to,
        jobs,
    })
}

/// Registry settings: the environment's (credentials, LADE_REGISTRY_MIRRORS) under the flags.
pub fn registry_options(r: RegistryArgs) -> anyhow::Result<lade::registry::RegistryOptions> {
    let mut o = lade::registry::RegistryOptions::from_env()?;
    let mut mirrors = Vec::new();
    for m in &r.mirrors {
        mirrors.push(
            m.parse::<lade::oci::Mirror>()
                .map_err(|e| anyhow::anyhow!("--registry-mirror: {e}"))?,
        );
    }
    // Flags first: they are tried before the environment's mirrors.
    mirrors.append(&mut o.mirrors);
    o.mirrors = mirrors;
    o.insecure = r.insecure;
    o.cas = r.cas;
    // Checked now: a publish to OCI layouts from a local base never connects, and would
    // otherwise ignore a CA file that is missing or not PEM.
    for f in &o.cas {
        lade::registry::transport::load_pem(f)
            .map_err(|e| anyhow::anyhow!("--registry-ca: {e}"))?;
    }
    if r.concurrency == 0 {
        anyhow::bail!("--registry-concurrency must be at least 1");
    }
    o.concurrency = r.concurrency;
    Ok(o)
}

//! From parsed arguments to the options of `ops`: each flag checked and turned into data here,
//! so a bad value is one `error:` line naming the flag before anything runs.

use crate::cli::{OutputArgs, ProjectArgs, RegistryArgs};
use anyhow::Context;
use lade::ops::plan::PlanOptions;
use lade::ops::publish::PublishOptions;
use lade::sink::Target;

/// The project directory, given as DIR or with -C (both only when they name the same one),
/// and `--project`'s package inside it.
fn project_dir(p: &ProjectArgs) -> anyhow::Result<Option<std::path::PathBuf>> {
    let dir = root_dir(p)?;
    let Some(sub) = &p.project else {
        return Ok(dir);
    };
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
    Ok(Some(dir.unwrap_or_else(|| ".".into()).join(sub)))
}

/// DIR or -C.
fn root_dir(p: &ProjectArgs) -> anyhow::Result<Option<std::path::PathBuf>> {
    match (&p.path, &p.dir) {
        (Some(a), Some(b)) => {
            let same =
                a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
            if !same {
                anyhow::bail!(
                    "the project directory is given twice, as DIR {} and as -C {}; give one of them",
                    a.display(),
                    b.display()
                );
            }
            Ok(Some(a.clone()))
        }
        (a, b) => Ok(a.clone().or_else(|| b.clone())),
    }
}

pub fn plan_options(p: ProjectArgs) -> anyhow::Result<PlanOptions> {
    let dir = project_dir(&p)?;
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
pub fn publish_options(project: ProjectArgs, o: OutputArgs) -> anyhow::Result<PublishOptions> {
    Ok(PublishOptions {
        plan: plan_options(project)?,
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
        // The binary sets its renderer's reporter; `plan` reports nothing.
        progress: Default::default(),
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

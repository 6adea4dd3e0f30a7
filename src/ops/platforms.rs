//! `--platform all`: every platform the base has that the project's toolchain can build here.
//!
//! The project is planned for every platform lade knows; a platform stays when the base has an
//! image for it (scratch has every one; a Debian-built base the architectures lade builds) and
//! the plan's checks that need nothing built pass for it (the Rust standard library for its
//! target is installed, its linker is on PATH). What remains is what a publish would build.

use super::publish::PublishOptions;
use crate::base;
use crate::plan::Plan;
use crate::platform::Platform;
use crate::registry::RegistrySession;

/// Every platform lade can name, in the order `--platform all` lists them.
pub const KNOWN: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
];

#[derive(Debug, thiserror::Error)]
#[error(
    "--platform all: no platform is both in base {base} (it has: {has}) and buildable here ({why}); name the platforms with --platform LIST"
)]
pub struct NoPlatform {
    pub base: String,
    pub has: String,
    pub why: String,
}

/// `opts` with `--platform all` replaced by the platforms it means; unchanged without it.
pub fn resolve_all(opts: &PublishOptions) -> anyhow::Result<PublishOptions> {
    let mut opts = opts.clone();
    if !opts.plan.all_platforms {
        return Ok(opts);
    }
    let known: Vec<Platform> = KNOWN
        .iter()
        .map(|p| p.parse().expect("KNOWN lists valid platforms"))
        .collect();
    let mut candidates = opts.plan.clone();
    candidates.all_platforms = false;
    candidates.platforms = Some(known);
    let (plan, config) = super::plan::plan_and_config(&candidates)?;
    let in_base = base_platforms(&opts, &plan, &config)?;
    let mut chosen = Vec::new();
    let mut refused = Vec::new();
    for t in plan
        .targets
        .iter()
        .filter(|t| in_base.contains(&t.platform))
    {
        match super::checks::before_build(&single_target(&plan, t)) {
            Ok(()) => chosen.push(t.platform.clone()),
            Err(e) => refused.push(format!("{}: {e}", t.platform)),
        }
    }
    if chosen.is_empty() {
        let has: Vec<String> = in_base.iter().map(Platform::to_string).collect();
        return Err(NoPlatform {
            base: plan.base.clone(),
            has: has.join(", "),
            why: refused.join("; "),
        }
        .into());
    }
    opts.plan.all_platforms = false;
    opts.plan.platforms = Some(chosen);
    Ok(opts)
}

/// `plan` with only `target`, for the checks of one platform.
fn single_target(plan: &Plan, target: &crate::plan::TargetPlan) -> Plan {
    let mut one = plan.clone();
    one.targets = vec![target.clone()];
    one
}

/// The platforms of `plan`'s targets the base has an image for.
fn base_platforms(
    opts: &PublishOptions,
    plan: &Plan,
    config: &crate::config::LadeConfig,
) -> anyhow::Result<Vec<Platform>> {
    let wanted: Vec<Platform> = plan.targets.iter().map(|t| t.platform.clone()).collect();
    if plan.base == "scratch" {
        return Ok(wanted);
    }
    if crate::base_spec::BaseSpec::parse_reference(&plan.base)
        .transpose()?
        .is_some()
    {
        return Ok(wanted
            .into_iter()
            .filter(crate::debian::builds_for)
            .collect());
    }
    let mut options = opts.registry.clone();
    super::registry::apply_settings(&config.registry, &mut options, &plan.project_dir);
    let registry = RegistrySession::new(options);
    let dir = super::plan::base_dir(&opts.plan, plan)?;
    // lade.lock's digest, as the publish will use it, unless the tag is to be resolved again.
    let pin = match opts.refresh_base {
        true => None,
        false => crate::lock::Lock::read(&plan.project_dir)?
            .pinned(&plan.base)
            .cloned(),
    };
    // One platform at a time: a base answers "missing" for each one it lacks.
    let mut has = Vec::new();
    for p in wanted {
        match base::resolve_with(
            &plan.base,
            std::slice::from_ref(&p),
            &dir,
            &registry,
            pin.as_ref(),
        ) {
            Ok(_) => has.push(p),
            Err(base::BaseError::MissingPlatform { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(has)
}

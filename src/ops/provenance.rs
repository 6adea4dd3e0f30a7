//! The provenance `publish` attaches: per platform image, an in-toto statement with a SLSA
//! Provenance v1 predicate (`crate::provenance`) in an unsigned DSSE envelope. This file
//! gathers what the statement says from the publish: the settings that shaped the image, what
//! it was built from, and the steps that ran.

use super::attach::Inputs;
use crate::attach::{self, Artifact};
use crate::digest::{Digest, digest_reader};
use crate::provenance::{self, Build, Resource};
use anyhow::Context;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Files whose bytes pin what a build resolved (dependencies, bases): their digests are
/// resolved dependencies when the project has them.
const LOCK_FILES: &[&str] = &[
    "lade.toml",
    "lade.lock",
    "lade-base.lock",
    "Cargo.lock",
    "go.mod",
    "go.sum",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pdm.lock",
    "requirements.txt",
    "gradle.lockfile",
];

/// One provenance artifact per platform image; `name` is what the subject is published as.
pub fn artifacts(inputs: &Inputs, name: &str) -> anyhow::Result<Vec<Artifact>> {
    let plan = inputs.plan;
    let created = crate::image::time::rfc3339(inputs.epoch);
    let shared = resolved_dependencies(inputs)?;
    let mut out = Vec::new();
    for (t, image) in plan.targets.iter().zip(&inputs.set.images) {
        let platform = t.platform.to_string();
        // Whether a step was reused is left out: a cache detail, and it would make the same
        // image's provenance differ between a first and a second publish. Its key already
        // says what it ran on.
        let steps: Vec<Value> = inputs
            .steps
            .iter()
            .filter(|s| s.platform == platform)
            .map(|s| {
                json!({"description": s.description, "program": s.program, "args": s.args, "key": s.key})
            })
            .collect();
        let statement = provenance::statement(&Build {
            build_type: provenance::BUILD_TYPE,
            name,
            subject: &image.manifest.digest(),
            external_parameters: external_parameters(inputs),
            internal_parameters: json!({"platform": platform, "steps": steps}),
            resolved_dependencies: shared.clone(),
            epoch: inputs.epoch,
        });
        out.push(artifact(&statement, inputs.key, &image.manifest, &created)?);
    }
    Ok(out)
}

/// A statement about `manifest` as the artifact attached to it: its DSSE envelope, signed with
/// `key` when there is one.
pub(super) fn artifact(
    statement: &provenance::Statement,
    key: Option<&crate::sign::SigningKey>,
    manifest: &crate::oci::JsonBlob,
    created: &str,
) -> Result<Artifact, attach::AttachError> {
    let mut envelope = provenance::envelope(statement);
    if let Some(key) = key {
        crate::sign::dsse::sign_envelope(key, &mut envelope);
    }
    Artifact::new(attach::IN_TOTO_JSON, manifest, envelope.to_bytes(), created)
}

/// The flags and lade.toml settings that shaped the image (paths of this machine left out).
fn external_parameters(inputs: &Inputs) -> Value {
    let plan = inputs.plan;
    let o = inputs.options;
    let platforms: Vec<String> = plan
        .targets
        .iter()
        .map(|t| t.platform.to_string())
        .collect();
    json!({
        "name": plan.name,
        "language": plan.detector,
        "platforms": platforms,
        "base": plan.base,
        "image": plan.config,
        "flags": {
            "platform": o.plan.platforms.as_ref().map(|p| p.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
            "base": o.plan.base,
            "main": o.plan.main,
            "tag": o.tags,
            "refreshBase": o.refresh_base,
            "noVerify": o.no_verify,
        },
    })
}

/// The source commit, the project's lock files, the base and the tools the steps ran.
fn resolved_dependencies(inputs: &Inputs) -> anyhow::Result<Vec<Resource>> {
    let dir = &inputs.plan.project_dir;
    let mut deps = Vec::new();
    if let Some(rev) = &inputs.source.revision {
        deps.push(Resource {
            name: Some("source".into()),
            uri: inputs.source.url.as_ref().map(|u| format!("git+{u}")),
            digest: BTreeMap::from([("gitCommit".to_string(), rev.clone())]),
        });
    }
    for file in LOCK_FILES {
        let path = dir.join(file);
        if path.is_file() {
            deps.push(Resource {
                name: Some((*file).to_string()),
                uri: None,
                digest: provenance::sha256(&file_digest(&path)?),
            });
        }
    }
    if let Some(digest) = &inputs.base.digest {
        deps.push(Resource {
            name: Some("base".into()),
            uri: Some(inputs.base.name.clone()),
            digest: provenance::sha256(digest),
        });
    }
    let mut tools: Vec<&str> = Vec::new();
    // A step's own program, and a tool it declares it may run (`lade npm-install` runs npm
    // when it cannot install by itself).
    let programs = inputs
        .plan
        .targets
        .iter()
        .flat_map(|t| &t.steps)
        .flat_map(|step| {
            let declared = step.inputs.iter().filter_map(|i| match i {
                crate::plan::StepInput::Tool { program } => Some(program),
                _ => None,
            });
            std::iter::once(&step.program)
                .chain(declared)
                .map(move |p| (step, p))
        });
    for (step, program) in programs {
        if program == crate::plan::LADE_PROGRAM || tools.contains(&program.as_str()) {
            continue;
        }
        tools.push(program);
        // A tool is known by the bytes of the executable PATH resolves it to, as reuse keys
        // know it; one that cannot be found now is named without a digest.
        let resolved = crate::build::key::resolve_program(program, &step.dir);
        let digest = match &resolved {
            Some(p) => provenance::sha256(&file_digest(p)?),
            None => BTreeMap::new(),
        };
        deps.push(Resource {
            name: Some(format!("tool {program}")),
            uri: resolved.map(|p| format!("file://{}", p.display())),
            digest,
        });
    }
    Ok(deps)
}

fn file_digest(path: &Path) -> anyhow::Result<Digest> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening {} for the provenance", path.display()))?;
    let (digest, _) = digest_reader(file)
        .with_context(|| format!("reading {} for the provenance", path.display()))?;
    Ok(digest)
}

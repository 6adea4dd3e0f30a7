//! `lade publish` over several projects: the directories given (a workspace root's lade.toml
//! naming its members), each published as [`super::publish::publish`] does, several at once.
//!
//! Everything a command line can get wrong is checked before the first build: every project is
//! planned (detectors only read files), every `--to` is made for every project and parsed, and
//! no two projects may write the same image. A project that fails to plan or build is one
//! failed entry of the report; the others still run. The projects share a registry client and
//! the bases they name alike ([`super::shared`]), never anything that decides an image.

use super::plan::{PlanOptions, plan_and_config};
use super::publish::{self, Event, OutputStatus, PublishOptions, PublishReport};
use crate::config::LadeConfig;
use crate::sink::Target;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What `--to` holds to be made once per project.
pub const NAME_PLACEHOLDER: &str = "{name}";

#[derive(Clone, Debug, Default)]
pub struct MultiOptions {
    /// The projects' directories, in order ([`projects`] expands workspace roots).
    pub dirs: Vec<PathBuf>,
    /// The flags every project shares; `plan.dir` and `targets` are set per project.
    pub publish: PublishOptions,
    /// `--to` as written, `{name}` replaced per project; empty: `$LADE_REPO/{name}:latest`,
    /// else `oci:./lade-out:{name}`.
    pub to: Vec<String>,
    /// Projects built at once (at least 1).
    pub jobs: usize,
}

/// A command line over several projects that cannot work, refused before building.
#[derive(Debug, thiserror::Error)]
pub enum MultiError {
    #[error("{}: [workspace] members: {problem}", path.display())]
    Member { path: PathBuf, problem: String },
    #[error("reading {}: {action}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--to {to}: {count} projects are published ({names}, given as DIR/-C, --project or [workspace] members), so every --to must name each one: put {NAME_PLACEHOLDER} in it (REGISTRY/team/{NAME_PLACEHOLDER}, oci:./out:{NAME_PLACEHOLDER}), or leave --to out for oci:./lade-out:NAME"
    )]
    NoPlaceholder {
        to: String,
        count: usize,
        names: String,
    },
    #[error(
        "projects {} and {} are both named '{name}', so their images would overwrite each other: set `name` in one's lade.toml",
        first.display(),
        second.display()
    )]
    SameName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "projects '{first}' and '{second}' would both write {output}: put {NAME_PLACEHOLDER} where it tells them apart (with --tag, in the path or repository)"
    )]
    SameOutput {
        first: String,
        second: String,
        output: String,
    },
    #[error("--to {to} for project '{name}': {source}")]
    Target {
        to: String,
        name: String,
        #[source]
        source: crate::sink::TargetError,
    },
    #[error(transparent)]
    Input(#[from] publish::InputError),
    #[error("-j must be at least 1")]
    Jobs,
}

/// The result of publishing several projects, one entry per project in the order given.
#[derive(Debug, Serialize)]
pub struct MultiReport {
    pub projects: Vec<ProjectReport>,
    /// The run's warnings ([`crate::warnings`]), filled in by the caller, as for one project.
    pub warnings: Vec<String>,
}

/// One project's result: its publish report (as `lade publish --json` of that project alone)
/// when it got as far as writing outputs, and why it failed.
#[derive(Debug, Serialize)]
pub struct ProjectReport {
    /// The image name (lade.toml's, the detector's, else the directory's).
    pub name: String,
    pub dir: PathBuf,
    pub status: OutputStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub report: Option<PublishReport>,
}

impl MultiReport {
    pub fn failed(&self) -> impl Iterator<Item = &ProjectReport> {
        self.projects
            .iter()
            .filter(|p| p.status == OutputStatus::Failed)
    }

    /// One line per image written: the project's name, then the line one publish prints.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.projects.iter().flat_map(|p| {
            p.report
                .iter()
                .flat_map(|r| r.lines())
                .map(move |l| format!("{}: {l}", p.name))
        })
    }
}

/// The directories to publish: each of `dirs` (the current directory when none), a directory
/// whose lade.toml has `[workspace]` replaced by its members. `None` when that is just one
/// directory that is not a workspace root: an ordinary publish.
pub fn projects(dirs: &[PathBuf]) -> Result<Option<Vec<PathBuf>>, MultiError> {
    let given: Vec<PathBuf> = match dirs {
        [] => vec![PathBuf::from(".")],
        d => d.to_vec(),
    };
    let mut out = Vec::new();
    let mut workspace = false;
    for dir in &given {
        match workspace_members(dir)? {
            Some(members) => {
                workspace = true;
                out.extend(members);
            }
            None => out.push(dir.clone()),
        }
    }
    // One directory named twice (`a ./a/`) is one project.
    let mut seen = std::collections::HashSet::new();
    out.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    Ok((workspace || out.len() > 1).then_some(out))
}

/// The members of `dir`'s `[workspace]`, when its lade.toml has one.
fn workspace_members(dir: &Path) -> Result<Option<Vec<PathBuf>>, MultiError> {
    let path = dir.join(crate::config::FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        // No lade.toml, or not a directory: planning says what is wrong with it.
        Err(_) => return Ok(None),
    };
    // A broken lade.toml is reported by planning, with its line and column.
    let Ok(config) = LadeConfig::parse(&text, &path) else {
        return Ok(None);
    };
    let Some(ws) = config.workspace else {
        return Ok(None);
    };
    if ws.members.is_empty() {
        return Err(MultiError::Member {
            path,
            problem: "is empty; list the projects' directories (\"services/*\")".into(),
        });
    }
    let mut members = Vec::new();
    for m in &ws.members {
        let found = expand(dir, m, &path)?;
        if found.is_empty() {
            return Err(MultiError::Member {
                path,
                problem: format!("'{m}' matches no directory; fix or remove it"),
            });
        }
        members.extend(found);
    }
    Ok(Some(members))
}

/// The directories under `root` that `pattern` names, sorted; `*` and `?` match within one
/// path element, and names starting with `.` only when the pattern's element does.
fn expand(root: &Path, pattern: &str, file: &Path) -> Result<Vec<PathBuf>, MultiError> {
    let bad = |problem: &str| MultiError::Member {
        path: file.to_path_buf(),
        problem: format!("'{pattern}' {problem}"),
    };
    if pattern.starts_with('/') || pattern.split('/').any(|e| e == "..") {
        return Err(bad(
            "leaves the workspace; name directories under it (relative, without ..)",
        ));
    }
    let mut found = vec![root.to_path_buf()];
    for element in pattern.split('/').filter(|e| !e.is_empty() && *e != ".") {
        let mut next = Vec::new();
        for dir in &found {
            if !element.contains(['*', '?']) {
                next.push(dir.join(element));
                continue;
            }
            // A missing directory before a pattern matches nothing, said by the caller.
            if !dir.is_dir() {
                continue;
            }
            let entries = std::fs::read_dir(dir).map_err(|source| MultiError::Io {
                path: dir.clone(),
                action: "listing workspace members",
                source,
            })?;
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') || element.starts_with('.'))
                .filter(|n| wildcard(element, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    Ok(found.into_iter().filter(|d| d.is_dir()).collect())
}

/// `*` any run of characters, `?` one character.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// `to` with `{name}` made the name of the project `plan` plans (one project's `--to`).
pub fn name_target(to: &str, plan: &PlanOptions) -> anyhow::Result<String> {
    if !to.contains(NAME_PLACEHOLDER) {
        return Ok(to.to_string());
    }
    let (plan, _) = plan_and_config(plan)?;
    Ok(to.replace(NAME_PLACEHOLDER, &plan.name))
}

/// A project that could not be planned: a failed entry, named by its directory.
struct Unplanned {
    name: String,
    dir: PathBuf,
    error: String,
}

/// A project planned, with the outputs made for it.
struct Project {
    dir: PathBuf,
    name: String,
    opts: PublishOptions,
}

/// Publishes every project, `jobs` at once, calling `on` with each project's name and events
/// (from several threads). Errors only for a command line that cannot work; a project's own
/// failure is in its entry.
pub fn publish_all(
    opts: &MultiOptions,
    on: &(dyn Fn(&str, Event) + Sync),
) -> Result<MultiReport, MultiError> {
    if opts.jobs == 0 {
        return Err(MultiError::Jobs);
    }
    // --tag, --image-refs and --sbom once for all, before any project is built.
    publish::check_inputs(&opts.publish)?;
    let mut slots: Vec<Result<Project, Unplanned>> =
        opts.dirs.iter().map(|d| plan_project(opts, d)).collect();
    // One registry client for the run, and each base resolved once.
    let shared = super::shared::Shared::default();
    for p in slots.iter_mut().filter_map(|s| s.as_mut().ok()) {
        p.opts.shared = Some(shared.clone());
    }
    make_outputs(opts, &mut slots)?;

    let results: Vec<Mutex<Option<ProjectReport>>> =
        slots.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = |_| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(i) else { break };
        let report = match slot {
            Ok(p) => run_one(p, on),
            Err(failed) => ProjectReport {
                name: failed.name.clone(),
                dir: failed.dir.clone(),
                status: OutputStatus::Failed,
                error: Some(failed.error.clone()),
                report: None,
            },
        };
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    };
    std::thread::scope(|s| {
        for n in 0..opts.jobs.min(slots.len()) {
            s.spawn(move || work(n));
        }
    });
    let projects: Vec<ProjectReport> = results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every project is run")
        })
        .collect();
    if let Some(path) = &opts.publish.image_refs {
        // Every project's, in order: the images published exist, whoever else failed.
        let refs: String = projects
            .iter()
            .filter_map(|p| p.report.as_ref())
            .map(publish::image_refs)
            .collect();
        publish::write_image_refs(path, &refs)?;
    }
    Ok(MultiReport {
        projects,
        warnings: Vec::new(),
    })
}

/// Plans `dir` for its name.
fn plan_project(opts: &MultiOptions, dir: &Path) -> Result<Project, Unplanned> {
    let plan_opts = PlanOptions {
        dir: Some(dir.to_path_buf()),
        ..opts.publish.plan.clone()
    };
    match plan_and_config(&plan_opts) {
        Ok((plan, _)) => {
            let mut publish = opts.publish.clone();
            publish.plan = plan_opts;
            // Written once for all projects, by `publish_all`.
            publish.image_refs = None;
            publish.progress = opts.publish.progress.prefixed(&format!("{}: ", plan.name));
            Ok(Project {
                dir: dir.to_path_buf(),
                name: plan.name,
                opts: publish,
            })
        }
        Err(e) => Err(Unplanned {
            name: dir_name(dir),
            dir: dir.to_path_buf(),
            error: format!("{e:#}"),
        }),
    }
}

fn dir_name(dir: &Path) -> String {
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Makes every project's targets from `--to`, and refuses names or outputs two projects share.
fn make_outputs(
    opts: &MultiOptions,
    slots: &mut [Result<Project, Unplanned>],
) -> Result<(), MultiError> {
    let names: Vec<String> = slots
        .iter()
        .map(|s| match s {
            Ok(p) => p.name.clone(),
            Err(f) => f.name.clone(),
        })
        .collect();
    if let Some(to) = opts.to.iter().find(|t| !t.contains(NAME_PLACEHOLDER)) {
        return Err(MultiError::NoPlaceholder {
            to: to.clone(),
            count: names.len(),
            names: names.join(", "),
        });
    }
    let templates: Vec<String> = match opts.to.as_slice() {
        [] => vec![match crate::env::non_empty(crate::env::LADE_REPO) {
            Some(repo) => format!("{}/{NAME_PLACEHOLDER}:latest", repo.trim_end_matches('/')),
            None => format!("oci:./lade-out:{NAME_PLACEHOLDER}"),
        }],
        to => to.to_vec(),
    };
    let mut named: BTreeMap<&str, &Path> = BTreeMap::new();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    for p in slots.iter_mut().filter_map(|s| s.as_mut().ok()) {
        if let Some(first) = named.insert(&p.name, &p.dir) {
            return Err(MultiError::SameName {
                name: p.name.clone(),
                first: first.to_path_buf(),
                second: p.dir.clone(),
            });
        }
        for template in &templates {
            let to = template.replace(NAME_PLACEHOLDER, &p.name);
            let target = Target::parse(&to).map_err(|source| MultiError::Target {
                to: template.clone(),
                name: p.name.clone(),
                source,
            })?;
            for output in images_written(&target, &opts.publish.tags) {
                if let Some(first) = written.insert(output.clone(), p.name.clone()) {
                    return Err(MultiError::SameOutput {
                        first,
                        second: p.name.clone(),
                        output,
                    });
                }
            }
            p.opts.targets.push(target);
        }
    }
    Ok(())
}

/// What a target names, with every `--tag`: two projects naming one of these would overwrite
/// each other's image.
fn images_written(t: &Target, tags: &[String]) -> Vec<String> {
    let with_tags = |base: String, tag: &str| {
        std::iter::once(tag.to_string())
            .chain(tags.iter().cloned())
            .map(|t| format!("{base}:{t}"))
            .collect()
    };
    match t {
        Target::OciLayout { path, tag } => with_tags(format!("oci:{}", path.display()), tag),
        // An archive file holds one image.
        Target::OciArchive { path, .. } | Target::DockerArchive { path, .. } => {
            vec![path.display().to_string()]
        }
        Target::DockerDaemon { reference } => vec![format!("docker-daemon:{reference}")],
        Target::Registry { reference } => {
            let reference = reference.split('@').next().unwrap_or(reference);
            let last = reference.rsplit('/').next().unwrap_or(reference);
            match last.rsplit_once(':') {
                Some((_, tag)) => {
                    let repo = &reference[..reference.len() - tag.len() - 1];
                    with_tags(repo.to_string(), tag)
                }
                None => with_tags(reference.to_string(), "latest"),
            }
        }
    }
}

/// One project's publish; its events go to `on` with its name.
fn run_one(p: &Project, on: &(dyn Fn(&str, Event) + Sync)) -> ProjectReport {
    // Warnings raised on this thread say which project they are about.
    let _in = tracing::warn_span!(crate::warnings::PROJECT_SPAN, name = %p.name).entered();
    let result = publish::publish(&p.opts, |e| on(&p.name, e));
    let (status, error, report) = match result {
        Ok(r) => (OutputStatus::Ok, None, Some(r)),
        Err(e) => {
            let error = Some(format!("{e:#}"));
            match e.downcast::<publish::OutputsFailed>() {
                Ok(f) => (OutputStatus::Failed, error, Some(*f.report)),
                Err(_) => (OutputStatus::Failed, error, None),
            }
        }
    };
    ProjectReport {
        name: p.name.clone(),
        dir: p.dir.clone(),
        status,
        error,
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_within_an_element() {
        assert!(wildcard("*", "api"));
        assert!(wildcard("svc-*", "svc-api"));
        assert!(wildcard("a?i", "api"));
        assert!(wildcard("*-*", "a-b-c"));
        assert!(!wildcard("svc-*", "api"));
        assert!(!wildcard("a?", "api"));
    }

    #[test]
    fn outputs_with_tags_are_named_per_tag() {
        let t = Target::parse("reg.example:5000/team/api:v1").unwrap();
        assert_eq!(
            images_written(&t, &["v2".into()]),
            [
                "reg.example:5000/team/api:v1",
                "reg.example:5000/team/api:v2"
            ]
        );
        let t = Target::parse("reg.example:5000/team/api").unwrap();
        assert_eq!(
            images_written(&t, &[]),
            ["reg.example:5000/team/api:latest"]
        );
        let t = Target::parse("oci:out:api").unwrap();
        assert_eq!(
            images_written(&t, &["v1".into()]),
            ["oci:out:api", "oci:out:v1"]
        );
    }

    #[test]
    fn workspace_members_expand_globs_and_refuse_what_matches_nothing() {
        let root = tempfile::tempdir().unwrap();
        for d in [
            "services/api",
            "services/web",
            "services/.hidden",
            "tools/cli",
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join("services/README"), "").unwrap();
        let toml = "[workspace]\nmembers = [\"services/*\", \"tools/cli\"]\n";
        std::fs::write(root.path().join("lade.toml"), toml).unwrap();
        let found = projects(&[root.path().to_path_buf()]).unwrap().unwrap();
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(root.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            rel,
            [
                PathBuf::from("services/api"),
                PathBuf::from("services/web"),
                PathBuf::from("tools/cli")
            ]
        );
        std::fs::write(
            root.path().join("lade.toml"),
            "[workspace]\nmembers = [\"apps/*\"]\n",
        )
        .unwrap();
        let e = projects(&[root.path().to_path_buf()]).unwrap_err();
        assert!(
            e.to_string().contains("'apps/*' matches no directory"),
            "{e}"
        );
    }
}

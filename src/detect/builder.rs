//! The plan builder every planner uses, so the parts all plans share follow one policy: the
//! project's name (lade.toml's, else the detected one, else the directory's), the base (the
//! detector's default unless lade.toml or `--base` names one), the reasons, the excluded
//! files and one target per platform.

use super::{DetectError, Project, image_name, tree_entries};
use crate::plan::{
    BuildStep, Check, Excluded, FileEntry, ImageConfigPatch, LayerSpec, Plan, Reason, TargetPlan,
};
use crate::platform::Platform;
use std::path::{Path, PathBuf};

/// How the directory's name stands in for the project's when nothing else names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirName {
    /// As it is (`My App`).
    AsIs,
    /// Made a valid image name (`my-app`), as the detected names of the same detector are.
    ImageName,
}

/// What one platform's image gets.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub steps: Vec<BuildStep>,
    pub layers: Vec<LayerSpec>,
    pub checks: Vec<Check>,
}

pub struct PlanBuilder<'p> {
    project: &'p Project<'p>,
    detector: &'static str,
    reasons: Vec<Reason>,
    targets: Vec<TargetPlan>,
    config: ImageConfigPatch,
    excluded: Vec<Excluded>,
}

impl<'p> PlanBuilder<'p> {
    pub fn new(detector: &'static str, project: &'p Project<'p>) -> PlanBuilder<'p> {
        PlanBuilder {
            project,
            detector,
            reasons: Vec::new(),
            targets: Vec::new(),
            config: ImageConfigPatch::default(),
            excluded: Vec::new(),
        }
    }

    pub fn project(&self) -> &'p Project<'p> {
        self.project
    }

    /// The project directory.
    pub fn dir(&self) -> &'p Path {
        self.project.dir
    }

    pub fn reason(&mut self, file: impl Into<String>, why: impl Into<String>) {
        self.reasons.push(Reason {
            file: file.into(),
            why: why.into(),
        });
    }

    pub fn reasons(&mut self, reasons: impl IntoIterator<Item = Reason>) {
        self.reasons.extend(reasons);
    }

    /// The project's name: lade.toml's, else what the detector found, else the directory's.
    pub fn name(&self, detected: Option<String>, dir_name: DirName) -> String {
        if let Some(n) = &self.project.config.name {
            return n.clone();
        }
        detected.unwrap_or_else(|| {
            let dir = self.project.dir.file_name();
            match dir_name {
                DirName::AsIs => dir.map_or_else(|| "app".into(), |n| n.to_string_lossy().into()),
                DirName::ImageName => image_name(&dir.unwrap_or_default().to_string_lossy()),
            }
        })
    }

    /// Whether lade.toml or `--base` names the base (then the detector's default is unused).
    pub fn base_configured(&self) -> bool {
        self.project.config.base.is_some()
    }

    /// The base the image will have when the detector's default is `default`: lade.toml's or
    /// `--base`'s when set (`ops` puts `--base` into the configuration before detecting).
    pub fn base(&self, default: &str) -> String {
        match &self.project.config.base {
            Some(b) => b.reference(),
            None => default.to_string(),
        }
    }

    /// Entries for everything under `sub` of the project that the ignore rules keep, placed
    /// under `target_root`; what the rules left out is recorded for the plan.
    pub fn files(&mut self, sub: &Path, target_root: &str) -> Result<Vec<FileEntry>, DetectError> {
        let (entries, excluded) =
            tree_entries(self.project.dir, sub, target_root, self.project.filter)?;
        self.excluded.extend(excluded);
        Ok(entries)
    }

    /// Files left out of the image for a reason of the detector's own.
    pub fn exclude(&mut self, excluded: impl IntoIterator<Item = Excluded>) {
        self.excluded.extend(excluded);
    }

    pub fn config(&mut self) -> &mut ImageConfigPatch {
        &mut self.config
    }

    /// One target per platform, in the order asked for; `plan` gets the platform and its
    /// build output directory.
    pub fn per_platform(
        &mut self,
        mut plan: impl FnMut(&Platform, PathBuf) -> Result<Target, DetectError>,
    ) -> Result<(), DetectError> {
        for platform in self.project.platforms {
            let t = plan(platform, self.project.out_dir_for(platform))?;
            self.targets.push(TargetPlan {
                platform: platform.clone(),
                steps: t.steps,
                layers: t.layers,
                checks: t.checks,
            });
        }
        Ok(())
    }

    /// Steps (and the checks of their tools) whose outputs every platform shares, as bytecode
    /// or a bundle is the same everywhere: they run once, before the first platform's own.
    pub fn once(&mut self, steps: Vec<BuildStep>, checks: Vec<Check>) {
        if let Some(first) = self.targets.first_mut() {
            first.steps.splice(0..0, steps);
            first.checks.splice(0..0, checks);
        }
    }

    /// The plan, on the base [`PlanBuilder::base`] gives for the detector's `default_base`.
    pub fn finish(self, name: String, default_base: &str) -> Plan {
        let base = self.base(default_base);
        Plan {
            detector: self.detector.into(),
            reasons: self.reasons,
            name,
            project_dir: self.project.dir.to_path_buf(),
            targets: self.targets,
            config: self.config,
            base,
            excluded: self.excluded,
        }
    }
}

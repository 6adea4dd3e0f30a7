//! zig in a plan: a C toolchain for a target when a build compiles C (cgo, crates that build C)
//! or links for another platform. The wrappers live in lade's build directory at a path that
//! depends only on the project and zig's target, written by a `lade zig-wrappers` step before
//! the build that names them; `Check::Zig` finds zig before any step runs.

use super::Project;
use crate::plan::{BuildStep, Check, LADE_PROGRAM, StepOutput};
use crate::toolchain::zig::{self, Tool};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The zig wrappers for one target.
#[derive(Clone, Debug, PartialEq)]
pub struct ZigTools {
    /// zig's target (`aarch64-linux-musl`, `x86_64-linux-gnu.2.36`).
    pub target: String,
    dir: PathBuf,
    /// `[build] zig`, a relative path made absolute against the project.
    configured: Option<String>,
}

impl ZigTools {
    pub fn new(project: &Project, target: String) -> ZigTools {
        let configured = project.config.build.zig.as_ref().map(|z| {
            if z.contains('/') && !z.starts_with('/') {
                project.dir.join(z).to_string_lossy().into_owned()
            } else {
                z.clone()
            }
        });
        ZigTools {
            dir: project.out_dir.join("zig").join(&target),
            target,
            configured,
        }
    }

    /// The wrapper for `tool`, as a build's environment names it.
    pub fn path(&self, tool: Tool) -> String {
        zig::wrapper(&self.dir, tool).to_string_lossy().into_owned()
    }

    /// The step that writes the wrappers; it goes before the build that uses them.
    pub fn step(&self, project: &Project) -> BuildStep {
        let mut args = vec![
            "zig-wrappers".to_string(),
            "--target".into(),
            self.target.clone(),
            "--out".into(),
            self.dir.to_string_lossy().into_owned(),
        ];
        if let Some(z) = &self.configured {
            args.extend(["--zig".into(), z.clone()]);
        }
        BuildStep::new(
            format!("zig wrappers for {}", self.target),
            LADE_PROGRAM,
            args,
            project.dir,
        )
        .with_output(StepOutput::Dir {
            path: self.dir.clone(),
        })
    }

    /// zig must be there before anything is built; `why` says what needs it.
    pub fn check(&self, why: impl Into<String>) -> Check {
        Check::Zig {
            configured: self.configured.clone(),
            target: self.target.clone(),
            why: why.into(),
        }
    }

    /// cc-rs's variables for `triple` (`CC_aarch64_unknown_linux_musl`, …): the C and C++
    /// compilers, the archiver and ranlib.
    pub fn cc_rs_env(&self, triple: &str) -> BTreeMap<String, String> {
        let t = triple.replace(['-', '.'], "_");
        [
            ("CC", Tool::Cc),
            ("CXX", Tool::Cxx),
            ("AR", Tool::Ar),
            ("RANLIB", Tool::Ranlib),
        ]
        .into_iter()
        .map(|(var, tool)| (format!("{var}_{t}"), self.path(tool)))
        .collect()
    }
}

//! What a Rust project is, as its files say: the Cargo workspace and the packages `cargo build`
//! builds in the project directory, the lockfile and the crates in it that compile C, and the
//! cargo configuration the build will see. Nothing here decides what goes into an image.

use super::cargo_config::CargoConfig;
use super::lockfile;
use super::workspace::{self, Workspace};
use crate::detect::DetectError;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct RustProject {
    pub workspace: Workspace,
    /// The workspace's Cargo.lock, when there is one.
    pub lockfile: Option<PathBuf>,
    /// Locked packages that compile C code (they depend on `cc` or `cmake`), sorted.
    pub c_crates: Vec<String>,
    /// The cargo configuration files cargo would read in the project directory.
    pub cargo_config: CargoConfig,
    /// An `assets/` directory in the project directory.
    pub assets: bool,
    /// Path dependencies outside the workspace root: the build reads them too.
    pub outside: Vec<PathBuf>,
}

impl RustProject {
    /// The project in `dir`; `None` when it has no Cargo.toml. `cargo_home` is where cargo's
    /// own configuration is (the last one cargo reads).
    pub fn read(dir: &Path, cargo_home: Option<&Path>) -> Result<Option<RustProject>, DetectError> {
        let Some(workspace) = workspace::load(dir)? else {
            return Ok(None);
        };
        let lockfile = workspace.lockfile();
        let c_crates = match &lockfile {
            Some(l) => lockfile::c_building_packages(l)?,
            None => Vec::new(),
        };
        Ok(Some(RustProject {
            lockfile,
            c_crates,
            cargo_config: CargoConfig::load(dir, cargo_home)?,
            assets: dir.join("assets").is_dir(),
            outside: super::inputs::outside_path_dependencies(
                &workspace.root,
                &std::iter::once(workspace.root.clone())
                    .chain(workspace.members.iter().cloned())
                    .collect::<Vec<_>>(),
            ),
            workspace,
        }))
    }
}

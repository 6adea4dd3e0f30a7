//! lade's own build steps: the work a plan's steps ask of `lade` itself (`lade stage`,
//! `lade python-normalize`, …) instead of carrying a script. Each is a hidden subcommand, so a
//! plan stays data — a program and its arguments — and `lade plan` shows every step. They
//! touch only lade's build directory; the project tree is only read.

pub mod cargo;
pub mod node;
pub mod npm_engines;
pub mod npm_install;
pub mod python;
pub mod stage;
pub mod yarn_lock;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// What the step found wrong, said in full (the dependency to replace, the flag to use).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Zig(#[from] crate::toolchain::zig::ZigError),
}

impl TaskError {
    fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> TaskError {
        let path = path.into();
        move |source| TaskError::Io { what, path, source }
    }
}

/// lade's Gradle init script (adds the `ladeClasspath` task), written where a Java plan's
/// Gradle build reads it.
pub fn gradle_init_script(out: &std::path::Path) -> Result<(), TaskError> {
    const GRADLE_INIT: &str = include_str!("classpath.gradle");
    std::fs::write(out, GRADLE_INIT).map_err(TaskError::io("writing the Gradle init script", out))
}

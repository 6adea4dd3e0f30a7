//! Java: Maven (`pom.xml`, `mvnw`), Gradle (`build.gradle(.kts)`, `settings.gradle`,
//! `gradlew`), a prebuilt jar (`[java] jar`, or a lone `target/*.jar` / `build/libs/*.jar`)
//! or an exploded jar directory (`META-INF/MANIFEST.MF`).
//!
//! Builds run in a staged copy of the project in lade's build directory with the project's
//! own tool (wrapper first), which also writes the runtime classpath: Maven through
//! maven-dependency-plugin's `build-classpath`, Gradle through lade's init script
//! (`src/tasks/classpath.gradle`, embedded in lade, written by `lade gradle-init`). So the
//! classpath is the build's, never guessed. Then `lade java-layout` sorts it into layers as Jib
//! does, oldest-changing first: release dependencies, snapshot dependencies, the project's
//! other modules, resources, classes; the entrypoint is `java -cp @/app/classpath MAIN` with
//! the argument file written beside the dependencies. A Spring Boot jar is exploded at /app in the layers its `layers.idx` names
//! and started with its manifest's launcher, as Paketo does.
//!
//! Bytecode is the same for every platform: the build and layout run once (in the first
//! platform's steps) and every platform's image takes the same layers.

//!
//! `facts` reads the project (with `maven`, `gradle`, `sources` and the jar readers of
//! `crate::java`), `planner` turns it into a plan with `steps` and `layers`.

mod facts;
mod gradle;
mod layers;
mod maven;
mod planner;
mod sources;
mod steps;

use super::{DetectError, Detector, Project};
use crate::plan::Plan;

pub use facts::JavaProject;
pub use steps::DEPENDENCY_PLUGIN;

pub struct JavaDetector;

/// The default base: a Java 17 runtime (Debian 12), nonroot.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/java17-debian12:nonroot";
/// Distroless Java runtimes by release: the default base is the first that runs the bytecode
/// the build is set to produce.
const JAVA_BASES: [(u16, &str); 2] = [
    (17, DEFAULT_BASE),
    (21, "gcr.io/distroless/java21-debian12:nonroot"),
];
/// Container-aware heap sizing: the JVM takes 75% of the container's memory limit for the heap
/// instead of its default 25%.
pub const MEMORY_FLAG: &str = "-XX:MaxRAMPercentage=75";
const APP_DIR: &str = "/app";

impl Detector for JavaDetector {
    fn name(&self) -> &'static str {
        "java"
    }

    fn looks_for(&self) -> &'static str {
        "pom.xml, build.gradle(.kts), settings.gradle, a jar in target/ or build/libs/, or META-INF/MANIFEST.MF (Java)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        let settings = &project.config.java;
        match JavaProject::read(
            project.dir,
            settings.jar.as_deref(),
            settings.module.as_deref(),
        )? {
            Some(java) => planner::plan(&java, project).map(Some),
            None => Ok(None),
        }
    }
}

/// The distroless Java base for bytecode of `release` (the newest when none is new enough:
/// the post-build check then says so).
fn default_base(release: Option<u16>) -> &'static str {
    let Some(r) = release else {
        return DEFAULT_BASE;
    };
    JAVA_BASES
        .iter()
        .find(|(n, _)| *n >= r)
        .or(JAVA_BASES.last())
        .map_or(DEFAULT_BASE, |(_, b)| b)
}

/// A Java release as build files write it: `17`, `1.8` (→ 8), `21.0`.
fn java_release_number(v: &str) -> Option<u16> {
    let v = v.trim();
    let v = v.strip_prefix("1.").unwrap_or(v);
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| (5..100).contains(n))
}

#[cfg(test)]
mod tests;

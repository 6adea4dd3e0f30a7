//! What one of lade's layers adds to an SBOM, computed from its files on the host. It is data,
//! so a layer taken from a shared build cache (whose files are not on this machine) carries
//! the part its builder computed, and the image's SBOM is the same either way.

use super::{Found, Kind, Project, SbomError, classify, go, java, parse_text, read_text, rust};
use crate::plan::{EntryKind, LayerSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Packages a file lists, why it could not be read, or `None` for a file that lists none
/// (it still hides what a lower layer had at its path).
pub type PathFound = Option<Result<Vec<Found>, String>>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerPart {
    /// Every file and symlink of the layer by image path, in order, with what it lists.
    pub paths: Vec<(String, PathFound)>,
    /// Go plans: the packages the layer's binaries' build info lists.
    #[serde(default, skip_serializing_if = "GoPart::is_empty")]
    pub go: GoPart,
    /// Rust plans: the crates the `lade cargo-crates` lists beside the layer's binaries name,
    /// when there are such lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crates: Option<Vec<Found>>,
}

/// Go binaries in one layer: what their build info lists, and how many had none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoPart {
    pub found: Vec<Found>,
    pub with_info: usize,
    pub without_info: usize,
    pub notes: Vec<String>,
}

impl GoPart {
    fn is_empty(&self) -> bool {
        *self == GoPart::default()
    }
}

/// Reads the layer's files (`Tree` entries expanded) for what they list.
pub fn layer_part(spec: &LayerSpec, detector: &str) -> Result<LayerPart, SbomError> {
    let mut paths = Vec::new();
    for entry in &spec.entries {
        match &entry.kind {
            EntryKind::File { source } => paths.push(host_file(&entry.target, source)?),
            EntryKind::Tree { source, exclude } => {
                let files = crate::layer::tree::expand(&spec.name, &entry.target, source, exclude)?;
                for f in files {
                    match &f.kind {
                        EntryKind::File { source } => paths.push(host_file(&f.target, source)?),
                        // A directory merges with what is there; a link replaces it.
                        EntryKind::Symlink { .. } => paths.push((f.target.clone(), None)),
                        _ => {}
                    }
                }
            }
            EntryKind::Dir => {}
            EntryKind::Symlink { .. } => paths.push((entry.target.clone(), None)),
        }
    }
    let layers = std::slice::from_ref(spec);
    Ok(LayerPart {
        paths,
        go: match detector {
            "go" => go::binaries(layers)?,
            _ => GoPart::default(),
        },
        crates: match detector {
            "rust" => rust::linked_lists(layers)?,
            _ => None,
        },
    })
}

fn host_file(target: &str, source: &Path) -> Result<(String, PathFound), SbomError> {
    let found = match classify(target) {
        None => None,
        Some(Kind::Jar) => Some(java::scan_jar(source, target)?),
        Some(kind) => {
            let read_err = |e| SbomError::Read {
                path: source.to_path_buf(),
                source: e,
            };
            let file = std::fs::File::open(source).map_err(read_err)?;
            Some(match read_text(file).map_err(read_err)? {
                Ok(text) => parse_text(kind, &text, target),
                Err(e) => Err(e),
            })
        }
    };
    Ok((target.to_string(), found))
}

/// The packages the project compiled into the image: the Go binaries' build info (go.mod's
/// requirements when a binary has none), cargo's lists (Cargo.lock without them).
pub(super) fn project_packages(
    parts: &[LayerPart],
    project: &Project,
    notes: &mut Vec<String>,
) -> Result<Vec<Found>, SbomError> {
    let mut out = Vec::new();
    match project.detector {
        "go" => {
            let (mut with_info, mut without_info) = (0, 0);
            for p in parts {
                out.extend(p.go.found.iter().cloned());
                notes.extend(p.go.notes.iter().cloned());
                with_info += p.go.with_info;
                without_info += p.go.without_info;
            }
            if with_info == 0 || without_info > 0 {
                out.append(&mut go::modules(project.dir)?);
            }
        }
        "rust" => {
            let lists: Vec<&Vec<Found>> = parts.iter().filter_map(|p| p.crates.as_ref()).collect();
            if lists.is_empty() {
                out.append(&mut rust::lock_packages(project.dir)?);
            } else {
                out.extend(lists.into_iter().flatten().cloned());
            }
        }
        _ => {}
    }
    Ok(out)
}

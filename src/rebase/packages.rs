//! The Debian packages whose versions changed between two lade bases, from the package list
//! every lade Debian base carries in its config (`dev.lade.base.packages`, `name=version …`):
//! no layer is read to say it.

use crate::debian::LABEL_PACKAGES;
use oci_spec::image::ImageConfiguration;
use serde::Serialize;
use std::collections::BTreeMap;

/// One package added, removed or at another version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl std::fmt::Display for PackageChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(f, "{} {} → {}", self.name, v(&self.old), v(&self.new))
    }
}

/// The package list of a lade Debian base; `None` for any other image.
pub fn package_list(config: &ImageConfiguration) -> Option<BTreeMap<String, String>> {
    let list = config
        .config()
        .as_ref()?
        .labels()
        .as_ref()?
        .get(LABEL_PACKAGES)?;
    Some(
        list.split_whitespace()
            .filter_map(|p| p.split_once('='))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

/// The packages that differ, by name; empty unless both are lade Debian bases.
pub fn package_changes(old: &ImageConfiguration, new: &ImageConfiguration) -> Vec<PackageChange> {
    let (Some(old), Some(new)) = (package_list(old), package_list(new)) else {
        return Vec::new();
    };
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| PackageChange {
            name: n.clone(),
            old: old.get(n).cloned(),
            new: new.get(n).cloned(),
        })
        .collect()
}

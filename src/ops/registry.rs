//! How a command reaches registries: flags and environment first, then lade.toml's
//! `[registry]`, and the registries a publish pushes to.

use crate::config::RegistrySettings;
use crate::oci::{Mirror, Reference};
use crate::registry::RegistryOptions;
use crate::sink::Target;
use std::path::Path;

/// Adds lade.toml's `[registry]` settings after those from flags and the environment.
pub fn apply_settings(settings: &RegistrySettings, o: &mut RegistryOptions, project_dir: &Path) {
    // Mirrors were validated when the file was parsed.
    o.mirrors.extend(
        settings
            .mirrors
            .iter()
            .filter_map(|m| m.get_ref().parse::<Mirror>().ok()),
    );
    o.insecure.extend(settings.insecure.iter().cloned());
    o.cas
        .extend(settings.ca.iter().map(|c| project_dir.join(c)));
}

/// Marks the registries of `targets` as ones lade pushes to, so a private base on the
/// registry lade pushes to is read with the push credentials.
pub fn add_push_registries(o: &mut RegistryOptions, targets: &[Target]) {
    for t in targets {
        if let Target::Registry { reference } = t
            && let Ok(r) = Reference::parse(reference)
        {
            o.push_registries.push(r.registry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LadeConfig;
    use std::path::PathBuf;

    #[test]
    fn lade_toml_settings_come_after_flags() {
        let c = LadeConfig::parse(
            "[registry]\nmirrors = [\"gcr.io=mirror.internal:5000\"]\ninsecure = [\"r.local:5000\"]\nca = [\"certs/ca.crt\"]\n",
            Path::new("lade.toml"),
        )
        .unwrap();
        let mut o = RegistryOptions {
            insecure: vec!["flag.local".into()],
            ..Default::default()
        };
        apply_settings(&c.registry, &mut o, Path::new("/p"));
        assert_eq!(o.mirrors.len(), 1);
        assert_eq!(o.insecure, vec!["flag.local", "r.local:5000"]);
        assert_eq!(o.cas, vec![PathBuf::from("/p/certs/ca.crt")]);
    }
}

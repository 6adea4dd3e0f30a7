//! What build steps see of lade's own environment.

use std::ffi::OsString;

/// A variable of lade's environment, as a step's `Env` input or the PATH tools are found on.
pub fn var(name: &str) -> String {
    std::env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Variables holding registry credentials (`LADE_REGISTRY_PASSWORD`, `…_USERNAME` and their
/// per-registry forms): removed from every step's environment, since a dependency's install
/// script or the project's build script would otherwise be able to read them.
pub fn credential_vars() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| {
            let k = k.to_string_lossy();
            k.starts_with("LADE_REGISTRY_PASSWORD") || k.starts_with("LADE_REGISTRY_USERNAME")
        })
        .collect()
}

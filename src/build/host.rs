//! What build steps see of lade's own environment (read through `crate::env`).

use std::ffi::OsString;

/// A variable of lade's environment that a step declares as an input.
pub fn var(name: &str) -> String {
    crate::env::step_input(name)
}

/// The PATH the step's tools are found on.
pub fn path() -> OsString {
    crate::env::var_os(crate::env::PATH).unwrap_or_default()
}

/// Variables holding registry credentials: removed from every step's environment, since a
/// dependency's install script or the project's build script could otherwise read them.
pub fn credential_vars() -> Vec<OsString> {
    crate::env::credential_names()
}

//! Shared helpers for the integration tests. Everything here drives real programs (the `lade`
//! binary, skopeo, umoci, runc, oci-image-tool): a helper that cannot find its tool panics with
//! the install hint instead of skipping, so a green run always means the checks ran.

// One test binary compiles this module once for all test files; a helper only some files use
// must not trip `-D warnings`.
#![allow(dead_code)]

pub mod arm64;
pub mod base_image;
pub mod boot_jar;
pub mod cc_base;
pub mod env;
pub mod go_hello;
pub mod http;
pub mod java_base;
pub mod lade;
pub mod layout;
pub mod node_base;
pub mod python_base;
pub mod registry;
pub mod runc;
pub mod rust;
pub mod tools;
pub mod yarn;

pub use env::TestEnv;

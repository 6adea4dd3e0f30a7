//! lade's integration tests: one binary (see Cargo.toml) that drives the real `lade` binary and
//! checks its images with independent tools (skopeo, umoci, runc, oci-image-tool). The host
//! tools come from scripts/install-deps.sh; a missing one fails the test that needs it.

// The tests read their own environment (PATH, LADE_TEST_KEEP…) directly; clippy.toml's rule
// that variables are read through lade's env module is for lade itself.
#![allow(clippy::disallowed_methods)]

mod support;

mod attach;
mod bad_input;
mod bad_inputs_table;
mod base;
mod bases;
mod cli;
mod config_sources;
mod engine;
mod go_hello;
mod go_workspace;
mod harness;
mod init;
mod java;
mod multi;
mod native;
mod node;
mod node_own_install;
mod node_workspaces;
mod output_safety;
mod outputs;
mod perf_compression;
mod perf_reuse;
mod plan;
mod progress;
mod python;
mod python_workspaces;
mod rebase;
mod rebase_attach;
mod registry;
mod reproducible;
mod runtime;
mod rust;
mod sbom;
mod shared_cache;
mod sign;
mod templates;
mod validate_first;

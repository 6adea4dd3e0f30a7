//! lade packages projects into reproducible OCI images without a Dockerfile.
//!
//! The map (ARCHITECTURE.md has the data flow):
//! - [`detect`]: one detector per language reads the project and returns a [`plan::Plan`].
//! - [`config`]: `lade.toml`, merged over detection; CLI flags are merged over both. Data only:
//!   it names bases and mirrors through [`base_spec`] and [`oci`], not the builders or clients.
//! - [`ignore`]: `.dockerignore` and the built-in deny list for files copied from the tree.
//! - [`build`]: runs the plan's steps per platform, handing each platform to its caller as soon
//!   as it is built.
//! - [`layer`]: deterministic tar + gzip into the content-addressed [`layer::BlobStore`].
//! - [`oci`]: the values every image-side module shares (media types, descriptors, layers,
//!   images, bases as data, references, mirrors, the whiteout-aware file tree); a leaf.
//! - [`base`]: resolves the base image per platform.
//! - [`base_spec`]: which Debian-built base a name means (presets), as data.
//! - [`debian`]: distroless-equivalent bases built from Debian packages (`lade base build`).
//! - [`elf`]: what a built binary needs at run time (static or dynamic, loader, libraries).
//! - [`image`]: assembles configs, manifests and the index as canonical JSON.
//! - [`sink`]: writes an [`oci::ImageSet`] to OCI layouts, archives and registries.
//! - [`registry`]: the distribution API client; one [`registry::RegistrySession`] per publish.
//! - [`lock`]: `lade.lock`, the base digests a publish is pinned to.
//! - [`sbom`]: SPDX 2.3 and CycloneDX 1.6 SBOMs of published images, from the packages their
//!   files list.
//! - [`provenance`]: SLSA Provenance v1 statements in DSSE envelopes (unsigned; signers add
//!   signatures over [`provenance::dsse::pae`]).
//! - [`attach`]: documents attached to published images as OCI 1.1 referrers (registries,
//!   layouts).
//! - [`sign`]: cosign simple signing of published images, its verification, DSSE envelopes.
//! - [`tasks`]: lade's own build steps (`lade stage`, `lade node-finish`, …), run as steps.
//! - [`toolchain`]: zig as the C compiler and linker for any Linux target (cgo, C-compiling
//!   crates), found before a build and run through `lade zig-cc` wrappers.
//! - [`env`]: every environment variable lade reads, read only there.
//! - [`ops`]: one function per command; the binary only parses arguments and prints.
//! - [`growing`]: a blob file readable while it is written (uploads that follow the
//!   compressor); a leaf.
//! - [`par`]: a map over many items on all cores, results in order (file stats); a leaf.
//! - [`progress`]: progress events (steps, transfers, loads) the library reports and the
//!   binary renders; a leaf.
//! - [`warnings`]: warnings are `tracing` events; the binary installs the layer that shows
//!   and collects them.
//!
//! No two top-level modules depend on each other in a cycle (`module_graph_tests` checks it).

pub mod attach;
pub mod base;
pub mod base_spec;
pub mod build;
pub mod cache_repo;
pub mod config;
pub mod debian;
pub mod detect;
pub mod digest;
pub mod elf;
pub mod env;
pub mod git;
pub mod growing;
pub mod ignore;
pub mod image;
pub mod java;
pub mod kept;
pub mod layer;
pub mod lock;
pub mod oci;
pub mod ops;
pub mod par;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod provenance;
pub mod rebase;
pub mod registry;
pub mod sbom;
pub mod sign;
pub mod sink;
pub mod statcache;
pub mod tasks;
pub mod toolchain;
pub mod warnings;

#[cfg(test)]
mod module_graph_tests;

//! lade packages projects into reproducible OCI images without a Dockerfile.
//!
//! The map (ARCHITECTURE.md has the data flow):
//! - [`detect`]: one detector per language reads the project and returns a [`plan::Plan`].
//! - [`config`]: `lade.toml`, merged over detection; CLI flags are merged over both.
//! - [`ignore`]: `.dockerignore` and the built-in deny list for files copied from the tree.
//! - [`build`]: runs the plan's steps per platform.
//! - [`layer`]: deterministic tar + gzip into the content-addressed [`layer::BlobStore`].
//! - [`base`]: resolves the base image per platform.
//! - [`debian`]: distroless-equivalent bases built from Debian packages (`lade base build`).
//! - [`elf`]: what a built binary needs at run time (static or dynamic, loader, libraries).
//! - [`image`]: assembles configs, manifests and the index as canonical JSON.
//! - [`sink`]: writes an [`image::ImageSet`] to OCI layouts, archives and registries.
//! - [`registry`]: the distribution API client.
//! - [`lock`]: `lade.lock`, the base digests a publish is pinned to.
//! - [`sbom`]: SPDX 2.3 SBOMs of published images, from the packages their files list.
//! - [`env`]: every environment variable lade reads, read only there.
//! - [`ops`]: one function per command; the binary only parses arguments and prints.
//! - [`warnings`]: warnings are `tracing` events; the binary installs the layer that shows
//!   and collects them.

pub mod base;
pub mod build;
pub mod config;
pub mod debian;
pub mod detect;
pub mod digest;
pub mod elf;
pub mod env;
pub mod git;
pub mod ignore;
pub mod image;
pub mod java;
pub mod layer;
pub mod lock;
pub mod ops;
pub mod plan;
pub mod platform;
pub mod registry;
pub mod sbom;
pub mod sink;
pub mod warnings;

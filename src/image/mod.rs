//! Stacking lade's layers on a base and writing the image's JSON: `assemble` merges config
//! over the base's and produces canonical config, manifest and index bytes (`canonical`), with
//! timestamps from `time`. The values it produces ([`crate::oci::Image`],
//! [`crate::oci::ImageSet`]) live in `oci`.

pub mod assemble;
pub mod canonical;
pub mod time;

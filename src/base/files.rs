//! The file tree of a base image, read from its layer files: used to tell whether a
//! dynamically linked binary finds its loader and libraries in the base.

use super::BaseError;
use crate::oci::tree::{FileTree, layer_tar};
use crate::oci::{BaseImage, BlobSource};

/// The tree of `image`; `None` when a layer is only in a registry (not fetched for this) or
/// compressed in a way lade has no decoder for.
pub fn read(base: &str, image: &BaseImage) -> Result<Option<FileTree>, BaseError> {
    let mut files = FileTree::default();
    for layer in &image.layers {
        let BlobSource::File(path) = &layer.source else {
            return Ok(None);
        };
        let file = std::fs::File::open(path).map_err(|source| BaseError::Read {
            base: base.to_string(),
            path: path.clone(),
            source,
        })?;
        let media_type = layer.descriptor.media_type().to_string();
        // zstd and others: no decoder here; say nothing rather than guess.
        let Some(reader) = layer_tar(file, &media_type) else {
            return Ok(None);
        };
        files.apply_layer(reader).map_err(|e| BaseError::Invalid {
            base: base.to_string(),
            path: path.clone(),
            detail: format!("reading the layer tar: {e}"),
        })?;
    }
    Ok(Some(files))
}

//! (being written)

use super::{BlobProvider, Published, Sink, SinkError};
use crate::image::ImageSet;
use std::path::PathBuf;

pub struct DockerArchiveSink {
    target: String,
    path: PathBuf,
    reference: Option<String>,
}

impl DockerArchiveSink {
    pub fn new(target: String, path: PathBuf, reference: Option<String>) -> Self {
        DockerArchiveSink {
            target,
            path,
            reference,
        }
    }
}

impl Sink for DockerArchiveSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let _ = (set, blobs, &self.target, &self.path, &self.reference);
        unimplemented!()
    }
}

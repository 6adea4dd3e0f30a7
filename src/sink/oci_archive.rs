//! (being written)

use super::{BlobProvider, Published, Sink, SinkError};
use crate::image::ImageSet;
use std::path::PathBuf;

pub struct OciArchiveSink {
    target: String,
    path: PathBuf,
    tag: String,
}

impl OciArchiveSink {
    pub fn new(target: String, path: PathBuf, tag: String) -> Self {
        OciArchiveSink { target, path, tag }
    }
}

impl Sink for OciArchiveSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let _ = (set, blobs, &self.target, &self.path, &self.tag);
        unimplemented!()
    }
}

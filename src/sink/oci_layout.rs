//! (being written)

use super::{BlobProvider, Published, Sink, SinkError};
use crate::image::ImageSet;
use std::path::PathBuf;

pub struct OciLayoutSink {
    target: String,
    path: PathBuf,
    tag: String,
}

impl OciLayoutSink {
    pub fn new(target: String, path: PathBuf, tag: String) -> Self {
        OciLayoutSink { target, path, tag }
    }
}

impl Sink for OciLayoutSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let _ = (set, blobs, &self.target, &self.path, &self.tag);
        unimplemented!()
    }
}

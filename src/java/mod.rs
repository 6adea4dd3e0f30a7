//! STUB (replaced by the real module on merge).
pub mod classfile;
pub mod jar;
pub mod layout;
pub use layout::{LayoutInput, LayoutReport, LayoutRequest, write_layout};
#[derive(Debug, thiserror::Error)]
pub enum JavaError {
    #[error("{0}")]
    Other(String),
}

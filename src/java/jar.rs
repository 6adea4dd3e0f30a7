use super::JavaError;
use std::path::Path;
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub main_class: Option<String>,
    pub start_class: Option<String>,
    pub class_path: Vec<String>,
    pub layers_index: Option<String>,
    pub boot_classes: Option<String>,
    pub boot_lib: Option<String>,
}
pub fn read_manifest(_source: &Path) -> Result<Option<Manifest>, JavaError> {
    Ok(None)
}
pub fn is_spring_boot(_source: &Path) -> Result<bool, JavaError> {
    Ok(false)
}
#[derive(Clone, Debug, PartialEq)]
pub struct BootLayer {
    pub name: String,
    pub entries: Vec<String>,
}
pub fn boot_layers(_source: &Path) -> Result<Option<Vec<BootLayer>>, JavaError> {
    Ok(None)
}

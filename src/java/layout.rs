use super::JavaError;
use std::path::PathBuf;
pub struct LayoutRequest {
    pub out: PathBuf,
    pub input: LayoutInput,
    pub main_class: Option<String>,
}
pub enum LayoutInput {
    Build {
        project_root: PathBuf,
        classes: Vec<PathBuf>,
        classpath_file: PathBuf,
    },
    Jar(PathBuf),
    Exploded(PathBuf),
}
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayoutReport {
    pub kind: String,
    pub main_class: String,
    pub start_class: Option<String>,
    pub bytecode_major: Option<u16>,
    pub layers: Vec<String>,
}
pub fn write_layout(_req: &LayoutRequest) -> Result<LayoutReport, JavaError> {
    Err(JavaError::Other("stub".into()))
}

use super::JavaError;
use std::path::Path;
pub fn major_version(_h: &[u8]) -> Option<u16> {
    None
}
pub fn java_release(major: u16) -> u16 {
    major - 44
}
pub fn max_major(_p: &Path) -> Result<Option<u16>, JavaError> {
    Ok(None)
}

//! What both binaries say.

pub fn greeting(who: &str) -> String {
    format!("hello from {who} in rust-workspace")
}

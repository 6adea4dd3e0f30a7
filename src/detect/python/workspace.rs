//! uv workspaces, as the files say: the workspace root above a project (the nearest ancestor
//! whose pyproject.toml `[tool.uv.workspace]` `members` patterns match the project's directory
//! and whose `exclude` patterns do not). The root's uv.lock then locks the project. Only reads
//! files.

use super::project;
use crate::detect::DetectError;
use crate::detect::files::dir_matches;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UvWorkspace {
    /// The directory whose pyproject.toml lists the members (uv.lock is there).
    pub root: PathBuf,
    /// The project's directory relative to the root (`apps/web`), as uv.lock names it.
    pub member: String,
}

impl UvWorkspace {
    /// The uv workspace `dir` is a member of, if an ancestor's pyproject.toml says so.
    pub fn find(dir: &Path) -> Result<Option<UvWorkspace>, DetectError> {
        for root in dir.ancestors().skip(1) {
            let manifest = root.join("pyproject.toml");
            if !manifest.is_file() {
                continue;
            }
            // An ancestor's pyproject.toml that does not parse names no workspace: it is not
            // lade's to judge (it may belong to something else entirely).
            let Ok(py) = project::read_toml(&manifest) else {
                continue;
            };
            let patterns = |key: &str| -> Vec<String> {
                project::get(&py, &format!("tool.uv.workspace.{key}"))
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str())
                    .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            };
            let members = patterns("members");
            if members.is_empty() {
                continue;
            }
            let Ok(rel) = dir.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            if members.iter().any(|p| dir_matches(p, &rel))
                && !patterns("exclude").iter().any(|p| dir_matches(p, &rel))
            {
                return Ok(Some(UvWorkspace {
                    root: root.to_path_buf(),
                    member: rel,
                }));
            }
        }
        Ok(None)
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join("uv.lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_finds_its_root_and_an_excluded_one_does_not() {
        let t = tempfile::tempdir().unwrap();
        let write = |f: &str, text: &str| {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "pyproject.toml",
            "[tool.uv.workspace]\nmembers = [\"apps/*\", \"./libs/core/\"]\nexclude = [\"apps/old\"]\n",
        );
        for m in ["apps/web", "apps/old", "libs/core", "tools/x"] {
            write(&format!("{m}/pyproject.toml"), "[project]\nname = \"x\"\n");
        }
        let find = |m: &str| UvWorkspace::find(&t.path().join(m)).unwrap();
        assert_eq!(
            find("apps/web"),
            Some(UvWorkspace {
                root: t.path().to_path_buf(),
                member: "apps/web".into()
            })
        );
        assert_eq!(find("libs/core").unwrap().member, "libs/core");
        assert_eq!(find("apps/old"), None, "excluded");
        assert_eq!(find("tools/x"), None, "not a member");
    }
}

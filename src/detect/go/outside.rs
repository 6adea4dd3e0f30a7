//! What a `go build` in the project reads from outside the project directory: the go.work
//! that go finds in an ancestor (with its `use` modules) and local `replace` targets, in go.mod
//! and go.work. They are inputs of the build step, so editing a sibling module reruns it.

use std::path::{Path, PathBuf};

/// Files and directories outside `dir` that a build of the module in `dir` reads, sorted and
/// without repeats. Unreadable files contribute nothing: go reports them itself.
pub fn outside_inputs(dir: &Path) -> Vec<PathBuf> {
    let mut found = local_replaces(dir, &dir.join("go.mod"));
    if let Some(work) = enclosing_go_work(dir) {
        let root = work.parent().unwrap_or(dir).to_path_buf();
        found.push(work.clone());
        found.push(root.join("go.work.sum"));
        let text = std::fs::read_to_string(&work).unwrap_or_default();
        for used in directive_args(&text, "use") {
            let module = crate::detect::files::lexical_normalize(&root.join(used));
            found.extend(local_replaces(&module, &module.join("go.mod")));
            found.push(module);
        }
        found.extend(local_replaces(&root, &work));
    }
    let mut outside: Vec<PathBuf> = found.into_iter().filter(|p| !p.starts_with(dir)).collect();
    outside.sort();
    outside.dedup();
    outside
}

/// Whether every package of the project a build of its module can read is the module's own
/// (or vendored): no go.work in use and no `replace` by a local directory, which could make
/// another module's packages of files in the project.
pub fn module_only(dir: &Path) -> bool {
    enclosing_go_work(dir).is_none() && local_replaces(dir, &dir.join("go.mod")).is_empty()
}

/// The nearest go.work in `dir` or an ancestor, as go looks for it (GOWORK aside, which the
/// step's key covers through `go env`).
fn enclosing_go_work(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|a| a.join("go.work"))
        .find(|p| p.is_file())
}

/// Targets of `replace … => PATH` in `file` that are local directories (`./`, `../`, `/`),
/// resolved against `base`.
fn local_replaces(base: &Path, file: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    directive_args(&text, "replace")
        .into_iter()
        .filter_map(|r| {
            let target = r.split("=>").nth(1)?.split_whitespace().next()?;
            let target = target.trim_matches('"');
            let local =
                target.starts_with("./") || target.starts_with("../") || target.starts_with('/');
            local.then(|| crate::detect::files::lexical_normalize(&base.join(target)))
        })
        .collect()
}

/// The arguments of each `name` directive, quotes removed.
fn directive_args(text: &str, name: &str) -> Vec<String> {
    super::gomod::directives(text, name)
        .into_iter()
        .map(|a| a.trim_matches('"').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_enclosing_work_file_its_modules_and_local_replaces() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(
            root.join("go.work"),
            "go 1.19\n\nuse (\n\t./app\n\t./lib // shared\n)\n",
        )
        .unwrap();
        std::fs::write(
            root.join("app/go.mod"),
            "module example.com/app\n\nreplace example.com/x => ../x\nreplace example.com/y v1.0.0 => example.com/z v1.0.0\n",
        )
        .unwrap();
        let found = outside_inputs(&root.join("app"));
        assert_eq!(
            found,
            vec![
                root.join("go.work"),
                root.join("go.work.sum"),
                root.join("lib"),
                root.join("x"),
            ]
        );
    }

    #[test]
    fn a_lone_module_reads_nothing_outside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("go.mod"), "module m\n\ngo 1.19\n").unwrap();
        assert!(outside_inputs(d.path()).is_empty());
    }
}

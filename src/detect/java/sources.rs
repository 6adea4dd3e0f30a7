//! Finding the main class in the sources when no build file or manifest names one: the
//! classes under `src/main/java` (and Kotlin files under `src/main/kotlin`) that declare a
//! `main` method. Jib does the same on compiled classes; reading sources keeps detection free
//! of builds, and the layout step still checks that the class was compiled.

use crate::detect::DetectError;
use std::path::Path;

/// Every class with a `main` method under `module_dir`'s main source roots, sorted.
pub fn main_classes(module_dir: &Path) -> Result<Vec<String>, DetectError> {
    let mut found = Vec::new();
    for (root, ext) in [("src/main/java", "java"), ("src/main/kotlin", "kt")] {
        let dir = module_dir.join(root);
        if !dir.is_dir() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
            let entry = entry.map_err(|e| DetectError::Files {
                dir: dir.clone(),
                message: e.to_string(),
            })?;
            let path = entry.path();
            if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != ext) {
                continue;
            }
            let text = std::fs::read_to_string(path).map_err(|source| DetectError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            if let Some(class) = main_class_of(&text, path, ext) {
                found.push(class);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The class a source file's `main` starts, if it declares one.
fn main_class_of(text: &str, path: &Path, ext: &str) -> Option<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let has_main = if ext == "java" {
        let squeezed: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
        squeezed.contains("static void main(") && squeezed.contains("public")
    } else {
        code.lines()
            .any(|l| l.trim_start().starts_with("fun main("))
    };
    if !has_main {
        return None;
    }
    let package = code.lines().find_map(|l| {
        l.trim()
            .strip_prefix("package ")
            .map(|p| p.trim().trim_end_matches(';').trim().to_string())
    });
    // Kotlin compiles top-level functions of Foo.kt into FooKt.
    let class = if ext == "kt" {
        let mut c = stem;
        if let Some(first) = c.get(..1) {
            c = first.to_uppercase() + &c[1..];
        }
        format!("{c}Kt")
    } else {
        stem
    };
    Some(match package {
        Some(p) if !p.is_empty() => format!("{p}.{class}"),
        _ => class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_java_and_kotlin_mains() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "src/main/java/com/example/Server.java",
            "package com.example;\n\npublic class Server {\n  public static void main(String[] args) {}\n}\n",
        );
        write(
            "src/main/java/com/example/Util.java",
            "package com.example;\nclass Util { // public static void main(\n}\n",
        );
        write(
            "src/main/kotlin/app.kt",
            "package k\n\nfun main(args: Array<String>) {}\n",
        );
        write(
            "src/test/java/T.java",
            "public class T { public static void main(String[] a) {} }",
        );
        assert_eq!(
            main_classes(dir.path()).unwrap(),
            ["com.example.Server", "k.AppKt"]
        );
    }
}

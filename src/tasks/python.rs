//! The Python steps lade runs itself: write a lock's pinned requirements for pip, make what pip
//! installed independent of the host and the run, and check that native code is for the image's
//! platform.

use super::TaskError;
use std::path::Path;

/// Writes the pinned requirements (with hashes) of the lock in `project` to `out`, read by
/// `pip install --require-hashes --no-deps`. The lock is read again here, by the same code as
/// detection, so the plan carries a path, not the lock's text.
pub fn requirements(project: &Path, out: &Path) -> Result<(), TaskError> {
    let text = crate::detect::python::locked_requirements(project)?;
    std::fs::write(out, text).map_err(TaskError::io("writing", out))
}

/// Removes what pip leaves that differs between runs or hosts: bytecode, `direct_url.json`
/// (the file:// path of a local wheel), and the host python in console scripts' shebangs
/// (replaced by `python`, the image's interpreter).
pub fn normalize(dir: &Path, python: &str) -> Result<(), TaskError> {
    let mut remove_dirs = Vec::new();
    let mut remove_files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| TaskError::io("reading", dir)(e.into()))?;
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() && name == "__pycache__" {
            remove_dirs.push(entry.path().to_path_buf());
        } else if entry.file_type().is_file()
            && (name.ends_with(".pyc")
                || (name == "direct_url.json"
                    && entry
                        .path()
                        .parent()
                        .is_some_and(|p| p.to_string_lossy().ends_with(".dist-info"))))
        {
            remove_files.push(entry.path().to_path_buf());
        }
    }
    for d in remove_dirs {
        match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(TaskError::io("removing", d)(e));
            }
            _ => {}
        }
    }
    for f in remove_files {
        match std::fs::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(TaskError::io("removing", f)(e));
            }
            _ => {}
        }
    }
    rewrite_shebangs(&dir.join("bin"), python)
}

fn rewrite_shebangs(bin: &Path, python: &str) -> Result<(), TaskError> {
    let Ok(entries) = std::fs::read_dir(bin) else {
        return Ok(());
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let data = std::fs::read(&p).map_err(TaskError::io("reading", &p))?;
        let (first, rest) = match data.iter().position(|b| *b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&data[..], &[][..]),
        };
        if first.starts_with(b"#!") && first.windows(6).any(|w| w == b"python") {
            let mut out = format!("#!{python}\n").into_bytes();
            out.extend_from_slice(rest);
            std::fs::write(&p, out).map_err(TaskError::io("writing", &p))?;
        }
    }
    Ok(())
}

/// Fails when an ELF file under `dir` is for another machine than `machine` (e_machine): pip
/// builds a source distribution on this machine even when told another platform, and installs
/// the result as is. Pure Python ones are fine, so the result is checked rather than every
/// sdist refused.
pub fn check_native(dir: &Path, machine: u16, platform: &str) -> Result<(), TaskError> {
    let mut bad = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| TaskError::io("reading", dir)(e.into()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let mut head = [0u8; 20];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(entry.path())
                .map_err(TaskError::io("reading", entry.path()))?;
            f.read(&mut head)
                .map_err(TaskError::io("reading", entry.path()))?
        };
        if n == 20 && head[..4] == *b"\x7fELF" {
            let got = if head[5] == 1 {
                u16::from_le_bytes([head[18], head[19]])
            } else {
                u16::from_be_bytes([head[18], head[19]])
            };
            if got != machine {
                let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                bad.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let Some(first) = bad.first() else {
        return Ok(());
    };
    let owner = owner(dir, first);
    let more = match bad.len() {
        1 => String::new(),
        n => format!(" ({} more files like it)", n - 1),
    };
    Err(TaskError::Refused(format!(
        "{owner} has no wheel for {platform}; its source was built on this machine, and {first} is native code for this machine's CPU, not {platform}{more}. Use a version with {platform} wheels, or build on a {platform} machine."
    )))
}

/// The distribution whose RECORD lists `rel`, for the message.
fn owner(dir: &Path, rel: &str) -> String {
    let mut infos: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dist-info"))
        .collect();
    infos.sort();
    for info in infos {
        let Ok(record) = std::fs::read_to_string(dir.join(&info).join("RECORD")) else {
            continue;
        };
        if record.lines().any(|l| l.split(',').next() == Some(rel)) {
            return info[..info.len() - ".dist-info".len()].replacen('-', " ", 1);
        }
    }
    "an unknown distribution".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_bytecode_and_rewrites_shebangs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("pkg/__pycache__")).unwrap();
        std::fs::write(p.join("pkg/__pycache__/m.cpython-311.pyc"), "").unwrap();
        std::fs::write(p.join("pkg/m.py"), "").unwrap();
        std::fs::create_dir_all(p.join("pkg-1.0.dist-info")).unwrap();
        std::fs::write(p.join("pkg-1.0.dist-info/direct_url.json"), "{}").unwrap();
        std::fs::write(p.join("pkg-1.0.dist-info/METADATA"), "").unwrap();
        std::fs::create_dir_all(p.join("bin")).unwrap();
        std::fs::write(p.join("bin/tool"), "#!/usr/bin/python3.11\nimport x\n").unwrap();
        std::fs::write(p.join("bin/sh"), "#!/bin/sh\necho\n").unwrap();
        normalize(p, "/usr/bin/python3").unwrap();
        assert!(!p.join("pkg/__pycache__").exists());
        assert!(p.join("pkg/m.py").exists());
        assert!(!p.join("pkg-1.0.dist-info/direct_url.json").exists());
        assert!(p.join("pkg-1.0.dist-info/METADATA").exists());
        assert_eq!(
            std::fs::read_to_string(p.join("bin/tool")).unwrap(),
            "#!/usr/bin/python3\nimport x\n"
        );
        assert_eq!(
            std::fs::read_to_string(p.join("bin/sh")).unwrap(),
            "#!/bin/sh\necho\n"
        );
    }

    #[test]
    fn native_code_for_another_machine_is_refused_naming_its_distribution() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(18, 0);
        elf.extend_from_slice(&62u16.to_le_bytes()); // x86-64
        std::fs::create_dir_all(p.join("fast")).unwrap();
        std::fs::write(p.join("fast/_speed.so"), &elf).unwrap();
        std::fs::create_dir_all(p.join("fast-2.0.dist-info")).unwrap();
        std::fs::write(
            p.join("fast-2.0.dist-info/RECORD"),
            "fast/_speed.so,sha256=x,1\n",
        )
        .unwrap();
        check_native(p, 62, "linux/amd64").unwrap();
        let err = check_native(p, 183, "linux/arm64").unwrap_err().to_string();
        assert!(
            err.starts_with("fast 2.0 has no wheel for linux/arm64"),
            "{err}"
        );
        assert!(err.contains("fast/_speed.so"), "{err}");
    }
}

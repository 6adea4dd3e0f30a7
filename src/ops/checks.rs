//! Running a plan's checks (`plan::Check`): before building, that rustc has the target's
//! standard library and the linkers are on PATH, so a missing piece is one line with its fix
//! instead of a page of compiler errors; after building, that each binary is for its platform
//! and, when it is dynamically linked, that the base has its loader and libraries.

use crate::base::BaseError;
use crate::elf::{self, ElfError, ElfInfo};
use crate::oci::FileTree;
use crate::oci::ResolvedBase;
use crate::plan::{Check, Linkage, Plan, TargetPlan};
use crate::platform::Platform;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "the Rust standard library for {triple} ({platform}) is not installed in {sysroot}: run `rustup target add {triple}`"
    )]
    MissingRustTarget {
        triple: String,
        platform: Platform,
        sysroot: PathBuf,
    },
    #[error("running `{program} --print sysroot` in {dir}: {detail}")]
    Rustc {
        program: String,
        dir: PathBuf,
        detail: String,
    },
    #[error("{program} is not on PATH (needed for {platform}): {hint}")]
    MissingProgram {
        program: String,
        platform: Platform,
        hint: String,
    },
    #[error("{why} ({platform}), but {cause}")]
    Zig {
        why: String,
        platform: Platform,
        cause: crate::toolchain::zig::ZigError,
    },
    #[error("checking the built binary for {target} ({platform})")]
    Elf {
        target: String,
        platform: Platform,
        source: ElfError,
    },
    #[error("{target} is built for {found}, not for {platform}")]
    WrongMachine {
        target: String,
        platform: Platform,
        found: String,
    },
    #[error("{target} ({platform}) is {what}, but the base {base} lacks {missing}; {fix}")]
    MissingLibraries {
        target: String,
        platform: Platform,
        what: String,
        base: String,
        missing: String,
        fix: String,
    },
    #[error(
        "the build produced Java {needed} bytecode (class file version {major}) but the base {base} has Java {has} ({how}): use a base with Java {needed} or newer (base = \"…\" in lade.toml), or compile for Java {has} (the compiler's release option)"
    )]
    JavaTooOld {
        needed: u16,
        major: u16,
        base: String,
        has: u16,
        how: String,
    },
    #[error(
        "the base {base} ({platform}) has no Java runtime (no JAVA_VERSION, JAVA_HOME or /usr/lib/jvm/…): use a Java base such as {default} or base = \"debian12/java\""
    )]
    NoJava {
        base: String,
        platform: Platform,
        default: String,
    },
    #[error("reading {path}, written by the layout step: {detail}")]
    JavaReport { path: PathBuf, detail: String },
    #[error(transparent)]
    Base(#[from] BaseError),
}

/// What to add to a base-resolution error when binaries will be glibc-linked: they need a cc
/// base, and the default one may not be reachable.
pub fn base_hint(plan: &Plan) -> Option<String> {
    let glibc = plan.targets.iter().flat_map(|t| &t.checks).any(|c| {
        matches!(
            c,
            Check::Linkage {
                expect: Linkage::Glibc,
                ..
            }
        )
    });
    glibc.then(|| {
        "glibc-linked binaries need a base with the C library (a cc base with libc6 and libgcc-s1); pass one with --base oci:PATH:TAG or base = \"…\" in lade.toml".to_string()
    })
}

/// The checks that need nothing built.
/// Errors are boxed: they carry several paths and names, and are the rare path.
pub fn before_build(plan: &Plan) -> Result<(), Box<CheckError>> {
    let mut sysroot: Option<PathBuf> = None;
    let mut zig_found = false;
    for t in &plan.targets {
        for check in &t.checks {
            match check {
                Check::RustTarget { triple } => {
                    let root = match &sysroot {
                        Some(r) => r.clone(),
                        None => sysroot.insert(rustc_sysroot(&plan.project_dir)?).clone(),
                    };
                    if !root.join("lib/rustlib").join(triple).join("lib").is_dir() {
                        return Err(Box::new(CheckError::MissingRustTarget {
                            triple: triple.clone(),
                            platform: t.platform.clone(),
                            sysroot: root,
                        }));
                    }
                }
                Check::Program { program, hint } => {
                    if find_program(program).is_none() {
                        return Err(Box::new(CheckError::MissingProgram {
                            program: program.clone(),
                            platform: t.platform.clone(),
                            hint: hint.clone(),
                        }));
                    }
                }
                Check::Zig {
                    configured, why, ..
                } => {
                    // Found once per plan: every platform's wrappers use the same zig.
                    if zig_found {
                        continue;
                    }
                    crate::toolchain::zig::find(configured.as_deref()).map_err(|cause| {
                        Box::new(CheckError::Zig {
                            why: why.clone(),
                            platform: t.platform.clone(),
                            cause,
                        })
                    })?;
                    zig_found = true;
                }
                // Checked against the base's files by `ops::runtime`.
                Check::Linkage { .. }
                | Check::JavaRuntime { .. }
                | Check::ImageHas { .. }
                | Check::PythonVersion { .. } => {}
            }
        }
    }
    Ok(())
}

/// The checks of one platform's built binaries against `base`.
pub fn after_build(t: &TargetPlan, base: &ResolvedBase) -> Result<(), Box<CheckError>> {
    // Read the base's tree only when a binary needs something from it, and once.
    let mut files: Option<Option<FileTree>> = None;
    for check in &t.checks {
        if let Check::JavaRuntime { report } = check {
            java_runtime(report, &t.platform, base)?;
            continue;
        }
        let Check::Linkage { binary, target, .. } = check else {
            continue;
        };
        let info = elf::inspect(binary).map_err(|source| {
            Box::new(CheckError::Elf {
                target: target.clone(),
                platform: t.platform.clone(),
                source,
            })
        })?;
        if let Some(m) = t.platform.elf_machine()
            && m != info.machine
        {
            return Err(Box::new(CheckError::WrongMachine {
                target: target.clone(),
                platform: t.platform.clone(),
                found: elf::machine_name(info.machine),
            }));
        }
        if info.is_static() {
            continue;
        }
        let tree = match &files {
            Some(f) => f,
            None => {
                let image = base.for_platform(&t.platform);
                let read = match image {
                    Some(i) => crate::base::files::read(&base.name, i)
                        .map_err(|e| Box::new(CheckError::Base(e)))?,
                    None => None,
                };
                files.insert(read)
            }
        };
        // A base only in a registry is not downloaded for this; the runtime will tell.
        let Some(tree) = tree else { continue };
        let missing = missing_from(&info, target, &t.platform, tree);
        if !missing.is_empty() {
            return Err(Box::new(CheckError::MissingLibraries {
                target: target.clone(),
                platform: t.platform.clone(),
                what: info.describe(),
                base: base.name.clone(),
                missing: missing.join(", "),
                fix: fix_for(&missing, tree.is_empty()),
            }));
        }
    }
    Ok(())
}

/// The base's Java runtime is at least as new as the bytecode in `report` (the layout step's
/// java.json). The version comes from the base's JAVA_VERSION or JAVA_HOME, else from its
/// /usr/lib/jvm directory names; a base only in a registry with neither variable is not
/// downloaded for this (the JVM will say it at start).
fn java_runtime(
    report: &Path,
    platform: &Platform,
    base: &ResolvedBase,
) -> Result<(), Box<CheckError>> {
    let err = |detail: String| {
        Box::new(CheckError::JavaReport {
            path: report.to_path_buf(),
            detail,
        })
    };
    let text = std::fs::read(report).map_err(|e| err(e.to_string()))?;
    let report: crate::java::LayoutReport =
        serde_json::from_slice(&text).map_err(|e| err(e.to_string()))?;
    let Some(major) = report.bytecode_major else {
        return Ok(());
    };
    let needed = crate::java::classfile::java_release(major);
    let Some(image) = base.for_platform(platform) else {
        return Ok(());
    };
    let env: Vec<String> = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    let var = |name: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
    };
    let from_env = var("JAVA_VERSION")
        .and_then(|v| java_version(&v).map(|n| (n, format!("JAVA_VERSION={v}"))))
        .or_else(|| {
            var("JAVA_HOME")
                .and_then(|h| jvm_dir_version(&h).map(|n| (n, format!("JAVA_HOME={h}"))))
        });
    let found = match from_env {
        Some(found) => Some(found),
        None => {
            let Some(tree) = crate::base::files::read(&base.name, image)
                .map_err(|e| Box::new(CheckError::Base(e)))?
            else {
                return Ok(());
            };
            let newest = tree
                .children("/usr/lib/jvm")
                .iter()
                .filter_map(|d| jvm_dir_version(d).map(|n| (n, format!("/usr/lib/jvm/{d}"))))
                .max();
            if newest.is_none() && !tree.has_file("/usr/bin/java") {
                return Err(Box::new(CheckError::NoJava {
                    base: base.name.clone(),
                    platform: platform.clone(),
                    default: crate::detect::java::DEFAULT_BASE.into(),
                }));
            }
            newest
        }
    };
    match found {
        Some((has, how)) if has < needed => Err(Box::new(CheckError::JavaTooOld {
            needed,
            major,
            base: base.name.clone(),
            has,
            how,
        })),
        _ => Ok(()),
    }
}

/// The feature release of a JAVA_VERSION value: `17.0.9+9`, `jdk-21.0.1+12`, `1.8.0_392`,
/// `8u392` → 17, 21, 8, 8.
fn java_version(v: &str) -> Option<u16> {
    let v = v
        .trim()
        .trim_start_matches("jdk-")
        .trim_start_matches("jdk");
    let v = v.strip_prefix("1.").unwrap_or(v);
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| *n >= 5)
}

/// The release in a JVM directory name: `java-17-openjdk-amd64`, `temurin-21-jdk-arm64`,
/// `jdk-21.0.1`, `zulu17` (a path's last component is used).
fn jvm_dir_version(path: &str) -> Option<u16> {
    let name = path.trim_end_matches('/').rsplit('/').next()?;
    for prefix in [
        "java-", "temurin-", "jdk-", "zulu-", "zulu", "openjdk-", "jre-",
    ] {
        if let Some(rest) = name.strip_prefix(prefix)
            && let Some(n) = java_version(rest)
        {
            return Some(n);
        }
    }
    None
}

/// The loader and NEEDED libraries of `info` that `tree` lacks. Libraries are looked up as
/// the loader does: RUNPATH/RPATH (with `$ORIGIN`), then the default directories.
fn missing_from(info: &ElfInfo, target: &str, platform: &Platform, tree: &FileTree) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(interp) = &info.interpreter
        && !tree.has_file(interp)
    {
        missing.push(interp.clone());
    }
    let origin = Path::new(target)
        .parent()
        .map_or("/".to_string(), |p| p.to_string_lossy().into_owned());
    let mut dirs: Vec<String> = info
        .runpaths
        .iter()
        .map(|d| d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
        .collect();
    dirs.extend(default_lib_dirs(platform, info.is_musl()));
    let interp_name = info
        .interpreter
        .as_deref()
        .and_then(|i| i.rsplit('/').next());
    for lib in &info.needed {
        // glibc binaries also list the loader as NEEDED; it was checked above at its path.
        if Some(lib.as_str()) == interp_name {
            continue;
        }
        let found = if lib.contains('/') {
            tree.has_file(lib)
        } else {
            dirs.iter().any(|d| tree.has_file(&format!("{d}/{lib}")))
        };
        if !found {
            missing.push(lib.clone());
        }
    }
    missing
}

/// Where the loader looks without a cache entry: Debian's multiarch directories, then the
/// classic ones.
fn default_lib_dirs(platform: &Platform, musl: bool) -> Vec<String> {
    let mut dirs = Vec::new();
    if !musl {
        let multiarch = match platform.architecture.as_str() {
            "amd64" => "x86_64-linux-gnu",
            "arm64" => "aarch64-linux-gnu",
            "arm" => "arm-linux-gnueabihf",
            "386" => "i386-linux-gnu",
            "ppc64le" => "powerpc64le-linux-gnu",
            "s390x" => "s390x-linux-gnu",
            "riscv64" => "riscv64-linux-gnu",
            _ => "",
        };
        if !multiarch.is_empty() {
            dirs.push(format!("/lib/{multiarch}"));
            dirs.push(format!("/usr/lib/{multiarch}"));
        }
    }
    dirs.extend(["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"].map(str::to_string));
    dirs
}

/// What to do about missing libraries: the Debian packages to add to the base when known.
fn fix_for(missing: &[String], empty_base: bool) -> String {
    if empty_base {
        return "an empty base has no C library: build static binaries (Rust: [rust] libc = \"musl\", the default; Go: [go] cgo = false) or use a cc base (--base oci:PATH:TAG)".into();
    }
    let mut packages: Vec<&str> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for m in missing {
        let name = m.rsplit('/').next().unwrap_or(m);
        match elf::debian_package_for(name) {
            Some(p) if !packages.contains(&p) => packages.push(p),
            Some(_) => {}
            None => unknown.push(name),
        }
    }
    let mut fix = Vec::new();
    if !packages.is_empty() {
        let quoted: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
        fix.push(format!(
            "add the packages that ship them to the base: [base] packages = [{}]",
            quoted.join(", ")
        ));
    }
    if !unknown.is_empty() {
        fix.push(format!(
            "find the package for {} with `apt-file search` and add it to the base",
            unknown.join(", ")
        ));
    }
    fix.join("; ")
}

/// rustc's sysroot, asked the way cargo will run it: `$RUSTC` or `rustc`, in the project
/// directory so rustup honours rust-toolchain.toml.
fn rustc_sysroot(dir: &Path) -> Result<PathBuf, Box<CheckError>> {
    let program = crate::env::non_empty(crate::env::RUSTC).unwrap_or_else(|| "rustc".into());
    let err = |detail: String| {
        Box::new(CheckError::Rustc {
            program: program.clone(),
            dir: dir.to_path_buf(),
            detail,
        })
    };
    let out = Command::new(&program)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| err(format!("{e}; is Rust installed and on PATH?")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(err(format!(
            "{} ({})",
            stderr.lines().last().unwrap_or("").trim(),
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text.is_empty() {
        return Err(err("it printed nothing".into()));
    }
    Ok(PathBuf::from(text))
}

/// `program` as the build would find it: a path as given, a name on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = crate::env::var_os(crate::env::PATH)?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_libraries_are_named_with_packages() {
        let info = ElfInfo {
            machine: goblin::elf::header::EM_X86_64,
            is_64: true,
            interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
            needed: vec![
                "libpq.so.5".into(),
                "libc.so.6".into(),
                "libfoo.so.1".into(),
            ],
            runpaths: vec!["$ORIGIN/lib".into()],
            pie: true,
        };
        let amd64 = Platform::linux("amd64", None);
        let mut tree = FileTree::default();
        let mut b = tar::Builder::new(Vec::new());
        for name in [
            "lib/x86_64-linux-gnu/libc.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "app/lib/libfoo.so.1",
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        }
        tree.apply_layer(&b.into_inner().unwrap()[..]).unwrap();
        let missing = missing_from(&info, "/app/server", &amd64, &tree);
        assert_eq!(missing, ["libpq.so.5"], "$ORIGIN/lib finds libfoo");
        assert_eq!(
            fix_for(&missing, false),
            "add the packages that ships them to the base: [base] packages = [\"libpq5\"]"
                .replace("ships", "ship")
        );
        let all = missing_from(&info, "/app/server", &amd64, &FileTree::default());
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(fix_for(&all, true).contains("static"));
        assert!(fix_for(&["libbar.so.2".to_string()], false).contains("apt-file search"));
    }

    #[test]
    fn java_versions_from_variables_and_directories() {
        assert_eq!(java_version("17.0.9+9"), Some(17));
        assert_eq!(java_version("jdk-21.0.1+12"), Some(21));
        assert_eq!(java_version("1.8.0_392"), Some(8));
        assert_eq!(java_version("8u392"), Some(8));
        assert_eq!(java_version("latest"), None);
        assert_eq!(
            jvm_dir_version("/usr/lib/jvm/java-17-openjdk-amd64"),
            Some(17)
        );
        assert_eq!(jvm_dir_version("temurin-21-jdk-arm64"), Some(21));
        assert_eq!(jvm_dir_version("zulu11"), Some(11));
        assert_eq!(jvm_dir_version("/opt/java/openjdk"), None);
        assert_eq!(jvm_dir_version("default-java"), None);
    }

    #[test]
    fn programs_are_found_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("lade-no-such-linker").is_none());
    }
}

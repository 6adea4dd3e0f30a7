//! zig as the C compiler, archiver and linker for a target.
//!
//! Tools that take a C compiler (cc-rs's `CC_<triple>`, cargo's linker, go's `CC`) want one
//! executable, and cargo's linker cannot carry arguments. So a build step (`lade zig-wrappers`)
//! writes, per zig target, small executables `cc`, `c++`, `ar` and `ranlib` into lade's build
//! directory; each is a two-line script that runs `lade zig-cc` with the zig found when the
//! step ran, the target and the tool. `lade zig-cc` drops the target flags other tools add
//! (cc-rs passes `--target=<rust triple>` to anything clang-like, which zig would misread),
//! then becomes `zig cc -target <target> …` (or `zig ar`, …). The wrappers are files lade
//! writes from data, at paths that depend only on the project and the target, so the build
//! steps naming them keep the same keys from run to run.
//!
//! zig is found, in order: `[build] zig` in lade.toml, `zig` on PATH, then the `ziglang`
//! Python package (`python3 -m ziglang env` says where its binary is).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian 12's glibc: lade's cc bases have it, so glibc targets are pinned to it and binaries
/// built on a newer host still run there.
pub const GLIBC_VERSION: &str = "2.36";

/// What to do when zig is missing.
pub const INSTALL_HINT: &str = "install it with `pip install ziglang` (or put zig on PATH, or set [build] zig = \"/path/to/zig\" in lade.toml)";

/// The tools a wrapper directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Cc,
    #[value(name = "c++")]
    Cxx,
    Ar,
    Ranlib,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Cc, Tool::Cxx, Tool::Ar, Tool::Ranlib];

    /// The wrapper's file name, and the zig subcommand it runs.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Cc => "cc",
            Tool::Cxx => "c++",
            Tool::Ar => "ar",
            Tool::Ranlib => "ranlib",
        }
    }
}

/// The wrapper for `tool` in a directory `lade zig-wrappers` writes.
pub fn wrapper(dir: &Path, tool: Tool) -> PathBuf {
    dir.join(tool.name())
}

/// Which C library a target links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Libc {
    /// Static musl.
    Musl,
    /// glibc, at [`GLIBC_VERSION`].
    Glibc,
}

/// zig's target for an OCI architecture (and variant): `aarch64-linux-musl`,
/// `x86_64-linux-gnu.2.36`; `None` for an architecture lade has no zig target for.
pub fn target(architecture: &str, variant: Option<&str>, libc: Libc) -> Option<String> {
    let (arch, abi_suffix) = match (architecture, variant) {
        ("amd64", _) => ("x86_64", ""),
        ("arm64", _) => ("aarch64", ""),
        ("arm", Some("v6")) => ("arm", "eabihf"),
        ("arm", _) => ("arm", "eabihf"),
        ("386", _) => ("x86", ""),
        ("ppc64le", _) => ("powerpc64le", ""),
        ("s390x", _) => ("s390x", ""),
        ("riscv64", _) => ("riscv64", ""),
        _ => return None,
    };
    Some(match libc {
        Libc::Musl => format!("{arch}-linux-musl{abi_suffix}"),
        Libc::Glibc => format!("{arch}-linux-gnu{abi_suffix}.{GLIBC_VERSION}"),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ZigError {
    #[error("zig was not found ({tried}); {INSTALL_HINT}")]
    NotFound { tried: String },
    #[error(
        "[build] zig in lade.toml names {program}, which is not an executable file; {INSTALL_HINT}"
    )]
    Configured { program: String },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("running {program}")]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The zig executable, and how it was found (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zig {
    pub exe: PathBuf,
    pub found: String,
}

/// Finds zig: `configured` (a path, or a name looked up on PATH), else `zig` on PATH, else
/// the `ziglang` Python package.
pub fn find(configured: Option<&str>) -> Result<Zig, ZigError> {
    if let Some(c) = configured {
        let exe = find_program(c).ok_or_else(|| ZigError::Configured {
            program: c.to_string(),
        })?;
        return Ok(Zig {
            exe,
            found: "[build] zig".into(),
        });
    }
    if let Some(exe) = find_program("zig") {
        return Ok(Zig {
            exe,
            found: "zig on PATH".into(),
        });
    }
    let python = match find_program("python3") {
        Some(p) => p,
        None => {
            return Err(ZigError::NotFound {
                tried: "no [build] zig in lade.toml, no zig or python3 on PATH".into(),
            });
        }
    };
    let out = Command::new(&python)
        .args(["-m", "ziglang", "env"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| ZigError::Exec {
            program: python.clone(),
            source,
        })?;
    let exe = out
        .status
        .success()
        .then(|| zig_exe_in_env(&String::from_utf8_lossy(&out.stdout)))
        .flatten()
        .map(PathBuf::from)
        .filter(|p| is_executable(p));
    match exe {
        Some(exe) => Ok(Zig {
            exe,
            found: "python3 -m ziglang".into(),
        }),
        None => Err(ZigError::NotFound {
            tried: "no [build] zig in lade.toml, no zig on PATH, no ziglang package for python3"
                .into(),
        }),
    }
}

/// `zig_exe` in `zig env`'s output: ZON (`.zig_exe = "…",`, zig ≥ 0.15) or JSON
/// (`"zig_exe": "…"`, older releases).
fn zig_exe_in_env(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.contains("zig_exe"))?;
    let rest = &line[line.find("zig_exe")? + "zig_exe".len()..];
    // The value follows `=` (ZON) or `:` (JSON); the key's own closing quote comes before.
    let rest = &rest[rest.find(['=', ':'])?..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    let value = &rest[start..end];
    (!value.is_empty()).then(|| value.replace("\\\\", "\\"))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program` as given when it is a path, else the first executable of that name on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = crate::env::var_os(crate::env::PATH)?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// `lade zig-wrappers`: finds zig and writes the wrappers for `target` into `out` (which the
/// runner has emptied), each running `lade` (this executable) as `lade zig-cc`.
pub fn write_wrappers(out: &Path, target: &str, configured: Option<&str>) -> Result<(), ZigError> {
    let zig = find(configured)?;
    let lade = std::env::current_exe().map_err(|source| ZigError::Io {
        what: "finding the running lade executable for",
        path: out.to_path_buf(),
        source,
    })?;
    std::fs::create_dir_all(out).map_err(|source| ZigError::Io {
        what: "creating",
        path: out.to_path_buf(),
        source,
    })?;
    for tool in Tool::ALL {
        let path = wrapper(out, tool);
        let text = wrapper_script(&lade, &zig.exe, target, tool);
        write_executable(&path, &text)?;
    }
    Ok(())
}

/// The wrapper's text: one `exec` of `lade zig-cc` with everything quoted for sh.
fn wrapper_script(lade: &Path, zig: &Path, target: &str, tool: Tool) -> String {
    format!(
        "#!/bin/sh\n# Written by lade: zig's {} for {target}.\nexec {} zig-cc --zig {} --target {} --tool {} -- \"$@\"\n",
        tool.name(),
        sh_quote(&lade.to_string_lossy()),
        sh_quote(&zig.to_string_lossy()),
        sh_quote(target),
        sh_quote(tool.name()),
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_executable(path: &Path, text: &str) -> Result<(), ZigError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |what| {
        let path = path.to_path_buf();
        move |source| ZigError::Io { what, path, source }
    };
    std::fs::write(path, text).map_err(io("writing the zig wrapper"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io("making executable"))
}

/// The arguments zig gets for `tool`: cc and c++ get `-target` and lose the target flags the
/// caller added for a clang it thought it was talking to; sanitizers are off, since nothing
/// links their runtimes (zig turns UBSan on at -O0).
pub fn zig_args(tool: Tool, target: &str, args: Vec<OsString>) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![tool.name().into()];
    if matches!(tool, Tool::Ar | Tool::Ranlib) {
        out.extend(args);
        return out;
    }
    out.extend(["-target".into(), target.into(), "-fno-sanitize=all".into()]);
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        if s == "-target" || s == "--target" {
            args.next();
            continue;
        }
        if s.starts_with("--target=") {
            continue;
        }
        out.push(a);
    }
    out
}

/// `lade zig-cc`: becomes zig with [`zig_args`]. Returns only when zig could not be started.
pub fn exec(zig: &Path, tool: Tool, target: &str, args: Vec<OsString>) -> ZigError {
    use std::os::unix::process::CommandExt;
    let source = Command::new(zig).args(zig_args(tool, target, args)).exec();
    ZigError::Exec {
        program: zig.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_for_platforms() {
        assert_eq!(
            target("arm64", None, Libc::Musl).as_deref(),
            Some("aarch64-linux-musl")
        );
        assert_eq!(
            target("amd64", None, Libc::Glibc).as_deref(),
            Some("x86_64-linux-gnu.2.36")
        );
        assert_eq!(
            target("arm", Some("v7"), Libc::Glibc).as_deref(),
            Some("arm-linux-gnueabihf.2.36")
        );
        assert_eq!(target("mips", None, Libc::Musl), None);
    }

    #[test]
    fn zig_exe_from_zon_and_json() {
        let zon = ".{\n    .zig_exe = \"/opt/py/ziglang/zig\",\n    .lib_dir = \"/x\",\n}\n";
        assert_eq!(zig_exe_in_env(zon).as_deref(), Some("/opt/py/ziglang/zig"));
        let json = "{\n \"zig_exe\": \"/usr/local/zig/zig\",\n \"lib_dir\": \"lib\"\n}";
        assert_eq!(zig_exe_in_env(json).as_deref(), Some("/usr/local/zig/zig"));
        assert_eq!(zig_exe_in_env("nothing here"), None);
    }

    #[test]
    fn target_flags_of_other_tools_are_dropped() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let got = zig_args(
            Tool::Cc,
            "aarch64-linux-musl",
            args(&["-O3", "--target=aarch64-unknown-linux-musl", "-c", "a.c"]),
        );
        assert_eq!(
            got,
            args(&[
                "cc",
                "-target",
                "aarch64-linux-musl",
                "-fno-sanitize=all",
                "-O3",
                "-c",
                "a.c"
            ])
        );
        let got = zig_args(Tool::Cxx, "x", args(&["-target", "y", "b.cc"]));
        assert_eq!(
            got,
            args(&["c++", "-target", "x", "-fno-sanitize=all", "b.cc"])
        );
        assert_eq!(
            zig_args(Tool::Ar, "x", args(&["cq", "l.a", "--target=z"])),
            args(&["ar", "cq", "l.a", "--target=z"]),
            "ar's arguments are its own"
        );
    }

    #[test]
    fn wrappers_quote_paths() {
        let s = wrapper_script(
            Path::new("/opt/it's/lade"),
            Path::new("/z/zig"),
            "x86_64-linux-gnu.2.36",
            Tool::Cxx,
        );
        assert!(s.starts_with("#!/bin/sh\n"), "{s}");
        assert!(
            s.contains("exec '/opt/it'\\''s/lade' zig-cc --zig '/z/zig' --target 'x86_64-linux-gnu.2.36' --tool 'c++' -- \"$@\""),
            "{s}"
        );
    }
}

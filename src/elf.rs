//! What an ELF executable needs at run time: its machine, whether it is statically linked, its
//! program interpreter (the dynamic loader) and the libraries it names in DT_NEEDED. lade reads
//! this after building, because only the produced binary can say which base it can run on.

use std::fmt;
use std::path::{Path, PathBuf};

/// The run-time needs of one ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine` (`goblin::elf::header::EM_X86_64`, …).
    pub machine: u16,
    pub is_64: bool,
    /// `PT_INTERP`: the dynamic loader the kernel starts (`/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in the file's order (`libc.so.6`, …).
    pub needed: Vec<String>,
    /// `DT_RUNPATH` and `DT_RPATH` directories, searched before the loader's defaults.
    pub runpaths: Vec<String>,
    /// Position-independent (`ET_DYN`): a static-pie executable is still static.
    pub pie: bool,
}

impl ElfInfo {
    /// No loader and no shared libraries: runs on an empty filesystem.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// `static-pie x86-64`, `dynamic aarch64 (/lib/ld-linux-aarch64.so.1; libc.so.6)` — for
    /// messages.
    pub fn describe(&self) -> String {
        let machine = machine_name(self.machine);
        if self.is_static() {
            let kind = if self.pie { "static-pie" } else { "static" };
            return format!("{kind} {machine}");
        }
        format!(
            "dynamic {machine} ({}; needs {})",
            self.interpreter.as_deref().unwrap_or("no interpreter"),
            if self.needed.is_empty() {
                "nothing".to_string()
            } else {
                self.needed.join(", ")
            }
        )
    }

    /// Whether the file's libc is musl (by its loader's name; static binaries have none).
    pub fn is_musl(&self) -> bool {
        self.interpreter
            .as_deref()
            .is_some_and(|i| i.contains("ld-musl"))
    }
}

impl fmt::Display for ElfInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an ELF file")]
    NotElf { path: PathBuf },
    #[error("{path}: cannot parse the ELF file: {detail}")]
    Parse { path: PathBuf, detail: String },
}

/// Reads and inspects the ELF file at `path`.
pub fn inspect(path: &Path) -> Result<ElfInfo, ElfError> {
    let bytes = std::fs::read(path).map_err(|source| ElfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, path)
}

/// Inspects ELF bytes; `path` only names the file in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<ElfInfo, ElfError> {
    use goblin::elf::{Elf, header};
    if !bytes.starts_with(header::ELFMAG) {
        return Err(ElfError::NotElf {
            path: path.to_path_buf(),
        });
    }
    let elf = Elf::parse(bytes).map_err(|e| ElfError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut runpaths: Vec<String> = Vec::new();
    for list in [&elf.runpaths, &elf.rpaths] {
        for entry in list.iter() {
            // Each entry is a colon-separated list, as the loader reads it.
            runpaths.extend(
                entry
                    .split(':')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            );
        }
    }
    Ok(ElfInfo {
        machine: elf.header.e_machine,
        is_64: elf.is_64,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|l| l.to_string()).collect(),
        runpaths,
        pie: elf.header.e_type == header::ET_DYN,
    })
}

/// The name `file(1)` uses for an `e_machine`, or the number.
pub fn machine_name(machine: u16) -> String {
    use goblin::elf::header::*;
    match machine {
        EM_X86_64 => "x86-64".into(),
        EM_AARCH64 => "aarch64".into(),
        EM_ARM => "arm".into(),
        EM_386 => "i386".into(),
        EM_PPC64 => "ppc64".into(),
        EM_S390 => "s390".into(),
        EM_RISCV => "riscv".into(),
        other => format!("machine {other}"),
    }
}

/// The Debian package that ships a shared library, for the common ones; used to suggest what
/// to add to a base that lacks it.
pub fn debian_package_for(soname: &str) -> Option<&'static str> {
    Some(match soname {
        "libc.so.6" | "libm.so.6" | "libdl.so.2" | "libpthread.so.0" | "librt.so.1"
        | "libutil.so.1" | "libresolv.so.2" | "libanl.so.1" | "libnss_dns.so.2"
        | "libnss_files.so.2" => "libc6",
        "libcrypt.so.1" => "libcrypt1",
        s if s.starts_with("ld-linux") => "libc6",
        "libgcc_s.so.1" => "libgcc-s1",
        "libstdc++.so.6" => "libstdc++6",
        "libgomp.so.1" => "libgomp1",
        "libssl.so.3" | "libcrypto.so.3" => "libssl3",
        "libpq.so.5" => "libpq5",
        "libz.so.1" => "zlib1g",
        "libsqlite3.so.0" => "libsqlite3-0",
        "libzstd.so.1" => "libzstd1",
        "liblzma.so.5" => "liblzma5",
        "libbz2.so.1.0" => "libbz2-1.0",
        "libffi.so.8" => "libffi8",
        "libcurl.so.4" => "libcurl4",
        "libdbus-1.so.3" => "libdbus-1-3",
        "libsystemd.so.0" => "libsystemd0",
        "libudev.so.1" => "libudev1",
        "libmariadb.so.3" => "libmariadb3",
        "libpcre2-8.so.0" => "libpcre2-8-0",
        "libxml2.so.2" => "libxml2",
        "libsasl2.so.2" => "libsasl2-2",
        "libgssapi_krb5.so.2" => "libgssapi-krb5-2",
        "libldap-2.5.so.0" => "libldap-2.5-0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::header::{EM_AARCH64, EM_X86_64};

    #[test]
    fn a_host_system_binary_is_dynamic_and_names_libc() {
        // /bin/true on Debian: a PIE linked against glibc.
        let info = inspect(Path::new("/bin/true")).unwrap();
        assert!(!info.is_static(), "{info}");
        assert!(info.needed.iter().any(|n| n == "libc.so.6"), "{info:?}");
        let interp = info.interpreter.as_deref().unwrap();
        assert!(interp.contains("ld-linux"), "{interp}");
        assert!(!info.is_musl());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(info.machine, EM_X86_64);
        } else if cfg!(target_arch = "aarch64") {
            assert_eq!(info.machine, EM_AARCH64);
        }
        assert!(info.describe().starts_with("dynamic "), "{info}");
    }

    #[test]
    fn a_minimal_static_executable_is_static() {
        // The smallest valid ELF64 executable: a header and one PT_LOAD, no PT_INTERP and no
        // dynamic section — what a static, non-PIE binary looks like to the loader.
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little endian
        b[6] = 1; // version
        b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        b[18..20].copy_from_slice(&EM_AARCH64.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&0x400078u64.to_le_bytes()); // entry
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        b[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        b[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
        let ph = 64;
        b[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        b[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
        b[ph + 16..ph + 24].copy_from_slice(&0x400000u64.to_le_bytes()); // vaddr
        let len = (b.len() as u64).to_le_bytes();
        b[ph + 32..ph + 40].copy_from_slice(&len); // filesz
        b[ph + 40..ph + 48].copy_from_slice(&len); // memsz
        let info = parse(&b, Path::new("tiny")).unwrap();
        assert!(info.is_static());
        assert!(!info.pie);
        assert_eq!(info.machine, EM_AARCH64);
        assert_eq!(info.describe(), "static aarch64");
    }

    #[test]
    fn not_elf_is_named() {
        let e = parse(b"#!/bin/sh\n", Path::new("script.sh")).unwrap_err();
        assert_eq!(e.to_string(), "script.sh is not an ELF file");
        let e = inspect(Path::new("/nonexistent/x")).unwrap_err();
        // The message names the file; the OS error follows once, as the cause.
        assert_eq!(e.to_string(), "reading /nonexistent/x");
        let line = crate::warnings::error_chain(&e);
        assert!(line.starts_with("reading /nonexistent/x: "), "{line}");
        assert_eq!(line.matches("os error").count(), 1, "{line}");
    }

    #[test]
    fn packages_for_common_libraries() {
        assert_eq!(debian_package_for("libpq.so.5"), Some("libpq5"));
        assert_eq!(debian_package_for("ld-linux-aarch64.so.1"), Some("libc6"));
        assert_eq!(debian_package_for("libfoo.so.9"), None);
    }
}

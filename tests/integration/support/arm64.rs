//! Whether arm64 binaries can run here, and what machine an ELF binary is for.

use std::fs;

pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

#[derive(Debug, PartialEq, Eq)]
pub enum Arm64 {
    /// The host is arm64.
    Native,
    /// qemu-aarch64 is registered with binfmt_misc with the F flag (the interpreter is opened
    /// at registration, so it works inside a container's rootfs too).
    Emulated,
    /// Neither: the tests can only check the ELF header. The text says why.
    Unavailable(String),
}

pub fn arm64_support() -> Arm64 {
    if std::env::consts::ARCH == "aarch64" {
        return Arm64::Native;
    }
    let entry = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
    let text = match fs::read_to_string(entry) {
        Ok(t) => t,
        Err(e) => {
            return Arm64::Unavailable(format!(
                "{entry}: {e} (scripts/install-deps.sh sets it up where allowed)"
            ));
        }
    };
    if text.lines().next() != Some("enabled") {
        return Arm64::Unavailable(format!("{entry} is not enabled"));
    }
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or("");
    if !flags.contains('F') {
        return Arm64::Unavailable(format!(
            "{entry} lacks the F flag, so qemu is not reachable inside a container"
        ));
    }
    Arm64::Emulated
}

/// `e_machine` of a 64-bit little-endian ELF file.
pub fn elf_machine(bytes: &[u8]) -> u16 {
    assert!(
        bytes.len() > 20 && bytes.starts_with(b"\x7fELF"),
        "not an ELF file"
    );
    assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
    assert_eq!(bytes[5], 1, "not a little-endian ELF file");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// The `e_machine` binaries for an OCI architecture carry.
pub fn machine_for(arch: &str) -> u16 {
    match arch {
        "amd64" => EM_X86_64,
        "arm64" => EM_AARCH64,
        other => panic!("no ELF machine known for {other}"),
    }
}

/// The OCI architecture of the machine running the tests.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("tests do not know the host architecture {other}"),
    }
}

/// Whether an image for `arch` can run here.
pub fn can_run(arch: &str) -> bool {
    arch == host_arch() || (arch == "arm64" && !matches!(arm64_support(), Arm64::Unavailable(_)))
}

//! The checks every go-hello image must pass, whoever built it (lade, or the harness
//! self-test by hand): valid per oci-image-tool, unpackable by umoci, the binary and kodata in
//! place, the binary built for the image's platform, and — where the platform can run here —
//! the server answering under runc as the expected user.

use super::TestEnv;
use super::arm64::{self, Arm64, arm64_support, can_run, elf_machine, machine_for};
use super::env::example_dir;
use super::layout::{self, Layout, PlatformImage};
use super::runc::Container;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The content of examples/go-hello/kodata/hello.txt.
pub fn kodata_hello() -> String {
    fs::read_to_string(example_dir("go-hello").join("kodata/hello.txt")).unwrap()
}

/// Which check proved the binary's platform.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The image ran under runc and answered.
    Ran,
    /// Only the ELF header could be checked (no arm64 emulation here).
    ElfOnly,
}

/// Checks one platform image of go-hello (binary at /app/go-hello) and returns the check done and
/// the unpacked bundle. `label` keeps the scratch paths of several calls in one test apart.
pub fn check_image(
    env: &TestEnv,
    layout: &Layout,
    img: &PlatformImage,
    uid: u32,
    label: &str,
) -> (Checked, PathBuf) {
    let arch = img.architecture().to_string();
    let single = layout.extract(img, &env.path(&format!("single-{label}")), &arch);
    layout::validate(&single.dir, &arch);
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, &arch, &bundle);
    let rootfs = bundle.join("rootfs");

    let binary = rootfs.join("app/go-hello");
    let meta = fs::metadata(&binary)
        .unwrap_or_else(|e| panic!("{arch}: no /app/go-hello in the image: {e}"));
    assert!(
        meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        "{arch}: /app/go-hello is not executable"
    );
    let machine = elf_machine(&fs::read(&binary).unwrap());
    assert_eq!(
        machine,
        machine_for(&arch),
        "{arch}: /app/go-hello has ELF machine {machine}"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("var/run/ko/hello.txt")).expect("kodata at /var/run/ko"),
        kodata_hello()
    );

    if !can_run(&arch) {
        let why = match arm64_support() {
            Arm64::Unavailable(why) => why,
            other => format!("{other:?}"),
        };
        eprintln!("{arch}: checked the ELF header only (e_machine {machine}); cannot run: {why}");
        return (Checked::ElfOnly, bundle);
    }
    let c = Container::start(&bundle);
    let r = c.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, format!("hello from go-hello uid={uid}\n").as_str()),
        "{arch}: GET /"
    );
    let r = c.get("/static/hello.txt");
    assert_eq!(
        (r.status, r.body),
        (200, kodata_hello()),
        "{arch}: GET /static/hello.txt"
    );
    let how = if arch == arm64::host_arch() {
        "natively"
    } else {
        "under qemu binfmt"
    };
    eprintln!("{arch}: ran under runc {how}: uid={uid}, kodata served");
    (Checked::Ran, bundle)
}

//! `lade base build`: Debian-package bases checked with tools lade did not write. Each image is
//! taken out of lade's OCI layout by skopeo (per platform), unpacked by umoci and run by runc
//! as the image's user (65532 for nonroot). arm64 images run under qemu-user when binfmt_misc
//! has qemu-aarch64 with the F flag; otherwise the test checks their ELF machine and says so.
//!
//! Downloads are cached in `CARGO_TARGET_TMPDIR/lade-bases-cache` (shared by these tests and
//! kept between runs), so only the first run fetches packages.
//!
//! Self-contained: these helpers predate the shared support module; moving them onto it is
//! follow-up work.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool {name} not found on PATH: install it (skopeo, umoci, runc, oci-image-tool, golang-go, gcc)"
    );
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The download cache every test shares, so each package is fetched once per machine.
fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lade-bases-cache")
}

fn lade(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lade"));
    c.env("LADE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("LADE_PLATFORMS")
        .env_remove("LADE_DEBIAN_MIRROR");
    c
}

/// Runs `lade base build ARGS…` and returns its stdout (the references written).
fn build(cache: &Path, args: &[&str]) -> String {
    let out = run_ok(lade(cache).arg("base").arg("build").args(args));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The digest in a printed output line: `oci:DIR:TAG sha256:…` or `REPO@sha256:…`.
fn digest_of(line: &str) -> String {
    let last = line.split_whitespace().last().unwrap();
    last.rsplit_once('@').map_or(last, |(_, d)| d).to_string()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("tests do not know the host architecture {other}"),
    }
}

/// Whether arm64 binaries run here, and the reason when not.
fn arm64_runs() -> Result<(), String> {
    if host_arch() == "arm64" {
        return Ok(());
    }
    let entry = "/proc/sys/fs/binfmt_misc/qemu-aarch64";
    let text = fs::read_to_string(entry).map_err(|e| format!("{entry}: {e}"))?;
    if text.lines().next() != Some("enabled") {
        return Err(format!("{entry} is not enabled"));
    }
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or("");
    if !flags.contains('F') {
        return Err(format!(
            "{entry} lacks the F flag (qemu unreachable inside a container)"
        ));
    }
    Ok(())
}

fn elf_machine(path: &Path) -> u16 {
    let b = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.starts_with(b"\x7fELF") && b.len() > 20,
        "{} is not ELF",
        path.display()
    );
    u16::from_le_bytes([b[18], b[19]])
}

/// An image of one platform unpacked into an OCI runtime bundle.
struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    /// skopeo picks the platform out of lade's index (umoci and oci-image-tool do not read
    /// nested indexes), oci-image-tool validates it, umoci unpacks it.
    fn unpack(layout: &Path, tag: &str, arch: &str, work: &Path) -> Bundle {
        let single = work.join(format!("single-{tag}-{arch}"));
        let _ = fs::remove_dir_all(&single);
        run_ok(Command::new(tool("skopeo")).args([
            "copy",
            "-q",
            "--override-arch",
            arch,
            &format!("oci:{}:{tag}", layout.display()),
            &format!("oci:{}:img", single.display()),
        ]));
        // Every image a test runs is also checked against the image spec.
        run_ok(
            Command::new(tool("oci-image-tool"))
                .args(["validate", "--type", "image", "--ref", "name=img"])
                .arg(&single),
        );
        let dir = work.join(format!("bundle-{tag}-{arch}"));
        let _ = fs::remove_dir_all(&dir);
        run_ok(
            Command::new(tool("umoci"))
                .args(["unpack", "--image"])
                .arg(format!("{}:img", single.display()))
                .arg(&dir),
        );
        Bundle { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.dir.join("config.json")).unwrap()).unwrap()
    }

    /// Runs `args` in the container (as the image's user) and returns (exit code, stdout,
    /// stderr). The container is always deleted.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut cfg = self.config();
        cfg["process"]["terminal"] = false.into();
        cfg["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .unwrap();
        let id = format!(
            "lade-bases-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        struct Delete(String);
        impl Drop for Delete {
            fn drop(&mut self) {
                let _ = Command::new("runc")
                    .args(["delete", "-f", &self.0])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _guard = Delete(id.clone());
        let out = Command::new(tool("runc"))
            .arg("run")
            .arg("--bundle")
            .arg(&self.dir)
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .expect("start runc");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and expects success; returns stdout + stderr.
    fn run_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?} exited {code}:\n{out}\n{err}");
        format!("{out}{err}")
    }
}

fn workdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bases")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A static Go program checking what a static base must provide: its user, a writable /tmp
/// and home, the CA bundle and the time zone database.
fn go_checker(work: &Path, goarch: &str) -> PathBuf {
    let src = work.join(format!("gocheck-{goarch}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("go.mod"), "module check\n\ngo 1.19\n").unwrap();
    fs::write(
        src.join("main.go"),
        r#"package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/user"
	"time"
)

func main() {
	u, err := user.Current()
	if err != nil {
		panic(err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		panic(err)
	}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile("/tmp/x", []byte("x"), 0o600); err != nil {
		panic(err)
	}
	home, _ := os.UserHomeDir()
	if err := os.WriteFile(home+"/x", []byte("x"), 0o600); err != nil {
		panic(err)
	}
	fmt.Printf("uid=%d user=%s certs=%d tz=%s home=%s\n", os.Getuid(), u.Username, len(pool.Subjects()), loc, home)
}
"#,
    )
    .unwrap();
    let bin = work.join(format!("gocheck-{goarch}.bin"));
    run_ok(
        Command::new(tool("go"))
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOOS", "linux")
            .env("GOARCH", goarch)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOCACHE", work.join("gocache")),
    );
    bin
}

fn copy_into(bundle: &Bundle, bin: &Path, name: &str) {
    let dest = bundle.rootfs().join(name);
    fs::copy(bin, &dest).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs the check on arm64 under qemu, or says why it only checked the ELF machine.
fn arm64_or_elf(bundle: &Bundle, args: &[&str], binary_in_image: &str, check: impl Fn(&str)) {
    let bin = bundle
        .rootfs()
        .join(binary_in_image.trim_start_matches('/'));
    let resolved = fs::canonicalize(&bin)
        .ok()
        .filter(|p| p.starts_with(bundle.rootfs()))
        .unwrap_or_else(|| {
            // Absolute links resolve against the host; follow them inside the rootfs.
            let link = fs::read_link(&bin).unwrap();
            bundle
                .rootfs()
                .join(link.to_string_lossy().trim_start_matches('/'))
        });
    assert_eq!(elf_machine(&resolved), EM_AARCH64, "{}", resolved.display());
    match arm64_runs() {
        Ok(()) => {
            eprintln!("arm64: running {args:?} under qemu-user");
            check(&bundle.run_ok(args));
        }
        Err(why) => eprintln!("arm64: only checked the ELF machine of {binary_in_image}: {why}"),
    }
}

#[test]
fn static_base_runs_a_static_go_binary_as_nonroot() {
    let work = workdir("static");
    let cache = shared_cache();
    let layout = work.join("bases");
    build(
        &cache,
        &[
            "static",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:static", layout.display()),
        ],
    );
    for arch in ["amd64", "arm64"] {
        let b = Bundle::unpack(&layout, "static", arch, &work);
        let cfg = b.config();
        assert_eq!(cfg["process"]["user"]["uid"], 65532);
        assert_eq!(cfg["process"]["cwd"], "/home/nonroot");
        let env = cfg["process"]["env"].to_string();
        assert!(
            env.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
            "{env}"
        );
        // Nothing to run a shell with, and the merged-/usr links.
        assert!(!b.rootfs().join("usr/bin/sh").exists());
        assert_eq!(
            fs::read_link(b.rootfs().join("lib")).unwrap(),
            Path::new("usr/lib")
        );
        let bin = go_checker(&work, arch);
        copy_into(&b, &bin, "check");
        let expect = |out: &str| {
            assert!(out.contains("uid=65532 user=nonroot"), "{out}");
            assert!(out.contains("tz=Europe/Berlin"), "{out}");
            assert!(out.contains("home=/home/nonroot"), "{out}");
            let certs: usize = out
                .split("certs=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(certs > 100, "{out}");
        };
        if arch == host_arch() {
            expect(&b.run_ok(&["/check"]));
        } else {
            arm64_or_elf(&b, &["/check"], "/check", expect);
        }
    }
}

#[test]
fn cc_base_runs_a_dynamic_c_binary() {
    let work = workdir("cc");
    let cache = shared_cache();
    let layout = work.join("bases");
    build(
        &cache,
        &[
            "cc",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:cc", layout.display()),
        ],
    );
    let src = work.join("hello.c");
    fs::write(
        &src,
        "#include <stdio.h>\n#include <math.h>\n#include <unistd.h>\n\
         int main(void) { printf(\"hello from C uid=%d sqrt=%.1f\\n\", (int)getuid(), sqrt(16.0)); return 0; }\n",
    )
    .unwrap();
    let bin = work.join("hello");
    run_ok(
        Command::new(tool("gcc"))
            .arg("-O2")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .arg("-lm"),
    );
    assert_eq!(
        elf_machine(&bin),
        if host_arch() == "amd64" {
            EM_X86_64
        } else {
            EM_AARCH64
        }
    );
    let b = Bundle::unpack(&layout, "cc", host_arch(), &work);
    copy_into(&b, &bin, "hello");
    let out = b.run_ok(&["/hello"]);
    assert!(out.contains("hello from C uid=65532 sqrt=4.0"), "{out}");
    let arm = Bundle::unpack(&layout, "cc", "arm64", &work);
    assert_eq!(
        elf_machine(&arm.rootfs().join("usr/lib/aarch64-linux-gnu/libc.so.6")),
        EM_AARCH64
    );
    // The loader path arm64 binaries name (/lib is the image's link to usr/lib).
    let loader = fs::read_link(arm.rootfs().join("usr/lib/ld-linux-aarch64.so.1")).unwrap();
    assert!(
        loader.ends_with("aarch64-linux-gnu/ld-linux-aarch64.so.1"),
        "{loader:?}"
    );
    let in_image = arm.rootfs().join(loader.strip_prefix("/").unwrap());
    assert!(in_image.is_file(), "{} dangles", in_image.display());
    assert!(
        arm.rootfs()
            .join("usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
            .is_file()
    );
    // No aarch64 C compiler here, but the dynamic loader is itself a program: asking it to
    // load libstdc++ exercises the loader, libc, libgcc_s and libstdc++ of the image.
    let args = [
        "/lib/ld-linux-aarch64.so.1",
        "--list",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    ];
    arm64_or_elf(&arm, &args, "/usr/lib/aarch64-linux-gnu/libc.so.6", |out| {
        assert!(
            out.contains("libc.so.6 => /lib/aarch64-linux-gnu/libc.so.6"),
            "{out}"
        );
        assert!(
            out.contains("libgcc_s.so.1 => /lib/aarch64-linux-gnu/libgcc_s.so.1"),
            "{out}"
        );
    });
}

#[test]
fn python3_base_imports_ssl_sqlite3_zoneinfo() {
    let work = workdir("python3");
    let cache = shared_cache();
    let layout = work.join("bases");
    build(
        &cache,
        &[
            "python3",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:py", layout.display()),
        ],
    );
    let script = "import ssl, sqlite3, zoneinfo, os, locale; \
                  print('py', os.getuid(), ssl.OPENSSL_VERSION, sqlite3.sqlite_version, zoneinfo.ZoneInfo('Europe/Paris'), locale.getpreferredencoding())";
    let expect = |out: &str| {
        assert!(out.contains("py 65532 OpenSSL 3"), "{out}");
        assert!(out.contains("Europe/Paris UTF-8"), "{out}");
    };
    let b = Bundle::unpack(&layout, "py", host_arch(), &work);
    assert_eq!(
        fs::read_link(b.rootfs().join("usr/bin/python3")).unwrap(),
        Path::new("python3.11")
    );
    expect(&b.run_ok(&["/usr/bin/python3", "-c", script]));
    let arm = Bundle::unpack(&layout, "py", "arm64", &work);
    arm64_or_elf(
        &arm,
        &["/usr/bin/python3", "-c", script],
        "/usr/bin/python3.11",
        expect,
    );
}

#[test]
fn nodejs_base_runs_node() {
    let work = workdir("nodejs");
    let cache = shared_cache();
    let layout = work.join("bases");
    build(
        &cache,
        &[
            "nodejs",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:node", layout.display()),
        ],
    );
    let args = [
        "/usr/bin/node",
        "-e",
        "console.log('node', process.versions.node, process.getuid(), require('crypto').createHash('sha256').update('x').digest('hex').slice(0, 8))",
    ];
    let expect = |out: &str| {
        assert!(
            out.contains("node 18.") && out.contains(" 65532 2d711642"),
            "{out}"
        );
    };
    let b = Bundle::unpack(&layout, "node", host_arch(), &work);
    expect(&b.run_ok(&args));
    let arm = Bundle::unpack(&layout, "node", "arm64", &work);
    arm64_or_elf(&arm, &args, "/usr/bin/node", expect);
}

#[test]
fn java_base_runs_java_with_cacerts_and_utf8() {
    let work = workdir("java");
    let cache = shared_cache();
    let layout = work.join("bases");
    build(
        &cache,
        &[
            "java",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:java", layout.display()),
        ],
    );
    let b = Bundle::unpack(&layout, "java", "amd64", &work);
    let out = b.run_ok(&["/usr/bin/java", "-XshowSettings:properties", "-version"]);
    assert!(out.contains("openjdk version \"17."), "{out}");
    assert!(out.contains("file.encoding = UTF-8"), "{out}");
    assert!(out.contains("user.name = nonroot"), "{out}");
    // keytool reads the keystore lade generated instead of ca-certificates-java.
    let out = b.run_ok(&[
        "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool",
        "-list",
        "-cacerts",
        "-storepass",
        "changeit",
    ]);
    let n: usize = out
        .split("Your keystore contains ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(n > 100, "{out}");
    let arm = Bundle::unpack(&layout, "java", "arm64", &work);
    arm64_or_elf(
        &arm,
        &["/usr/bin/java", "-version"],
        "/usr/lib/jvm/java-17-openjdk-arm64/bin/java",
        |out| assert!(out.contains("openjdk version \"17."), "{out}"),
    );
}

#[test]
fn extra_packages_bring_their_closure_without_dpkg_or_perl() {
    let work = workdir("libpq");
    let cache = shared_cache();
    let layout = work.join("bases");
    let out = run_ok(lade(&cache).args([
        "base",
        "build",
        "cc",
        "--package",
        "libpq5",
        "--platform",
        "linux/amd64",
        "--json",
        "--to",
        &format!("oci:{}:cc-pq", layout.display()),
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tiers = report["platforms"][0]["tiers"].as_array().unwrap();
    let extras = tiers.iter().find(|t| t["name"] == "extras").unwrap();
    let names: Vec<&str> = extras["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in ["libpq5", "libgssapi-krb5-2", "libldap-2.5-0", "libkrb5-3"] {
        assert!(names.contains(&want), "{names:?}");
    }
    // What cc already has is not installed again.
    assert!(
        !names.contains(&"libc6") && !names.contains(&"libssl3"),
        "{names:?}"
    );
    let b = Bundle::unpack(&layout, "cc-pq", "amd64", &work);
    let root = b.rootfs();
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    for f in [
        "libpq.so.5",
        "libgssapi_krb5.so.2",
        "libldap-2.5.so.0",
        "libssl.so.3",
    ] {
        assert!(lib.join(f).exists(), "{f} missing");
    }
    for banned in [
        "usr/bin/dpkg",
        "usr/bin/perl",
        "var/lib/dpkg/status.d/dpkg",
        "var/lib/dpkg/status.d/perl-base",
        "var/lib/dpkg/status.d/debconf",
    ] {
        assert!(!root.join(banned).exists(), "{banned} is in the image");
    }
    let status = fs::read_to_string(root.join("var/lib/dpkg/status.d/libpq5")).unwrap();
    assert!(status.starts_with("Package: libpq5\n"), "{status}");
}

#[test]
fn same_packages_give_the_same_digests() {
    let work = workdir("repro");
    let layout = work.join("bases");
    // Two separate caches: nothing but the package set is shared between the builds.
    let (c1, c2) = (work.join("cache1"), work.join("cache2"));
    let args = |tag: &str| {
        vec![
            "static".to_string(),
            "--platform".into(),
            "linux/amd64,linux/arm64".into(),
            "--lock".into(),
            work.join("lade-base.lock").display().to_string(),
            "--to".into(),
            format!("oci:{}:{tag}", layout.display()),
        ]
    };
    let a: Vec<String> = args("one");
    let first = build(&c1, &a.iter().map(String::as_str).collect::<Vec<_>>());
    let lock = fs::read_to_string(work.join("lade-base.lock")).unwrap();
    assert!(
        lock.contains("name = \"tzdata\"") && lock.contains("sha256 = "),
        "{lock}"
    );
    let b: Vec<String> = args("two");
    let second = build(&c2, &b.iter().map(String::as_str).collect::<Vec<_>>());
    // The uncompressed layers first (lade's tar), then the whole image (gzip included).
    assert_eq!(diff_ids(&layout, "one"), diff_ids(&layout, "two"));
    assert_eq!(digest_of(&first), digest_of(&second));
    // With the lock and a warm cache the archive is not read at all: an unreachable mirror
    // still gives the same image.
    let mut c: Vec<String> = args("three");
    c.extend(["--debian-mirror".into(), "http://127.0.0.1:9/debian".into()]);
    let third = build(&c1, &c.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(digest_of(&first), digest_of(&third));
    // The cc preset twice in one cache: identical too.
    let d1 = build(
        &shared_cache(),
        &[
            "cc",
            "--platform",
            "linux/amd64",
            "--to",
            &format!("oci:{}:cc1", layout.display()),
        ],
    );
    let d2 = build(
        &shared_cache(),
        &[
            "cc",
            "--platform",
            "linux/amd64",
            "--to",
            &format!("oci:{}:cc2", layout.display()),
        ],
    );
    assert_eq!(digest_of(&d1), digest_of(&d2));
}

/// The rootfs diff_ids of every platform of the image tagged `tag` in an OCI layout.
fn diff_ids(layout: &Path, tag: &str) -> Vec<serde_json::Value> {
    let blob = |digest: &serde_json::Value| -> serde_json::Value {
        let hex = digest.as_str().unwrap().strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let top: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let root = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let index = blob(&root["digest"]);
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| blob(&blob(&m["digest"])["config"]["digest"])["rootfs"]["diff_ids"].clone())
        .collect()
}

/// A failed build: exit 1, one `error:` line naming the problem, and no output written.
fn fails(cache: &Path, args: &[&str], out_dir: &Path, want: &[&str]) {
    let out = lade(cache)
        .arg("base")
        .arg("build")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for w in want {
        assert!(errors[0].contains(w), "{w:?} not in: {}", errors[0]);
    }
    assert!(!out_dir.exists(), "{} was written", out_dir.display());
}

#[test]
fn bad_inputs_fail_cleanly() {
    let work = workdir("bad");
    let cache = shared_cache();
    let to = |name: &str| format!("oci:{}:x", work.join(name).display());
    fails(
        &cache,
        &[
            "cc",
            "--package",
            "libpq",
            "--platform",
            "linux/amd64",
            "--to",
            &to("unknown"),
        ],
        &work.join("unknown"),
        &["unknown package 'libpq'", "closest: libpq5"],
    );
    fails(
        &cache,
        &[
            "static",
            "--platform",
            "linux/amd64",
            "--debian-mirror",
            "http://127.0.0.1:9/debian",
            "--to",
            &to("offline"),
        ],
        &work.join("offline"),
        &["http://127.0.0.1:9/debian/dists/bookworm/InRelease"],
    );
    fails(
        &cache,
        &["ruby", "--to", &to("preset")],
        &work.join("preset"),
        &["unknown base preset 'ruby'"],
    );

    // A corrupted cached .deb: lade finds the damage when it uses the file.
    let own = work.join("cache");
    let lock = work.join("lade-base.lock");
    build(
        &own,
        &[
            "static",
            "--platform",
            "linux/amd64",
            "--lock",
            &lock.display().to_string(),
            "--to",
            &to("good"),
        ],
    );
    let text = fs::read_to_string(&lock).unwrap();
    let tzdata = text
        .split("[[package]]")
        .find(|p| p.contains("name = \"tzdata\""))
        .unwrap();
    let sha = tzdata
        .split("sha256 = \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let cached = own.join("debian/sha256").join(sha);
    let mut bytes = fs::read(&cached).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&cached, bytes).unwrap();
    let before = fs::read_to_string(&lock).unwrap();
    fails(
        &own,
        &[
            "static",
            "--platform",
            "linux/amd64",
            "--lock",
            &lock.display().to_string(),
            "--to",
            &to("corrupt"),
        ],
        &work.join("corrupt"),
        &["tzdata_", "sha256", sha],
    );
    assert_eq!(
        fs::read_to_string(&lock).unwrap(),
        before,
        "the lock was rewritten"
    );
}

/// Outputs are checked before any package is fetched (a registry that does not answer costs
/// a second, not a download), every output is attempted, each result is said, and the lock is
/// written only when all of them were.
#[test]
fn outputs_are_checked_first_and_all_attempted() {
    let work = workdir("outputs");
    let fresh = work.join("fresh-cache");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("127.0.0.1:{port}/bases/static:v1");
    fails(
        &fresh,
        &["static", "--platform", "linux/amd64", "--to", &closed],
        &work.join("none"),
        &["--to", &closed],
    );
    assert!(
        !fresh.join("debian").exists(),
        "packages were fetched before the output was checked"
    );

    let cache = shared_cache();
    fs::write(work.join("a-file"), "not a directory\n").unwrap();
    let bad = format!("oci:{}:v1", work.join("a-file/out").display());
    let good_dir = work.join("good");
    let good = format!("oci:{}:v1", good_dir.display());
    let lock = work.join("lade-base.lock");
    let out = lade(&cache)
        .args([
            "base",
            "build",
            "static",
            "--platform",
            "linux/amd64",
            "--lock",
        ])
        .arg(&lock)
        .args(["--to", &bad, "--to", &good])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("1 of 2 outputs failed"), "{stderr}");
    assert!(
        stderr.lines().any(
            |l| l.starts_with(&format!("lade: {bad} failed:")) && l.contains("Not a directory")
        ),
        "the failed output is named with its cause:\n{stderr}"
    );
    assert!(
        good_dir.join("index.json").is_file(),
        "the good output is written"
    );
    assert!(
        !lock.exists(),
        "a lock was written for a build whose outputs failed"
    );

    let written = build(
        &cache,
        &[
            "static",
            "--platform",
            "linux/amd64",
            "--lock",
            &lock.display().to_string(),
            "--to",
            &good,
        ],
    );
    assert!(written.starts_with(&good), "{written}");
    assert!(lock.is_file(), "the lock is written once every output is");
}

/// A base built from packages goes to a real registry through the same sink as app images:
/// the registry holds exactly the index written to the layout, with both platforms.
#[test]
fn a_built_base_is_pushed_to_a_registry() {
    let registry = crate::support::registry::Registry::start();
    let work = workdir("push");
    let layout = work.join("layout");
    let reference = format!("{}/bases/static:1", registry.host);
    let out = build(
        &shared_cache(),
        &[
            "static",
            "--platform",
            "linux/amd64,linux/arm64",
            "--to",
            &format!("oci:{}:static", layout.display()),
            "--to",
            &reference,
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "one reference per output: {out}");
    let (in_layout, in_registry) = (digest_of(lines[0]), digest_of(lines[1]));
    assert_eq!(in_layout, in_registry, "the same index in both outputs");
    let raw = run_ok(
        Command::new(tool("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}")),
    );
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let pushed = format!("sha256:{}", {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&raw.stdout))
    });
    assert_eq!(
        pushed, in_registry,
        "the registry serves the exact bytes lade wrote"
    );
}

//! Real registries for tests: Debian's `docker-registry` (distribution 2.8) on a free loopback
//! port, optionally with htpasswd Basic auth, TLS from a throwaway CA, or token auth from
//! `tests/fixtures/registry/token_server.py`; and `fault_proxy.py` in front of one.
//!
//! A missing tool makes the test fail with its name: these tests never pass by skipping.

#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The path of `tool`, or a panic naming it and the Debian package that provides it.
pub fn require_tool(tool: &str) -> PathBuf {
    let package = match tool {
        "docker-registry" => "docker-registry",
        "htpasswd" => "apache2-utils",
        "openssl" => "openssl",
        "python3" => "python3",
        "skopeo" => "skopeo",
        "umoci" => "umoci",
        "runc" => "runc",
        "curl" => "curl",
        other => other,
    };
    if let Some(p) = super::tools::find_tool(tool) {
        return p;
    }
    panic!(
        "required tool `{tool}` is not installed (Debian package: {package}; scripts/install-deps.sh installs it); this test cannot run without it"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a free loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/registry")
        .join(name)
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before listening on {port}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("{what} did not listen on port {port} within 15 s");
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost.
pub struct TestCa {
    pub dir: TempDir,
    /// A directory holding only `ca.crt`, for `skopeo --cert-dir` and certs.d layouts.
    pub cert_dir: PathBuf,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        let openssl = require_tool("openssl");
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |n: &str| dir.path().join(n);
        run(Command::new(&openssl)
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=lade test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.crt")));
        run(Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr")));
        std::fs::write(
            p("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.crt"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("server.crt")));
        let cert_dir = p("certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::copy(p("ca.crt"), cert_dir.join("ca.crt")).unwrap();
        TestCa {
            cert_dir,
            ca_cert: p("ca.crt"),
            server_cert: p("server.crt"),
            server_key: p("server.key"),
            dir,
        }
    }
}

impl TestCa {
    /// A self-signed server certificate for 127.0.0.1 made as `openssl req -x509` makes it by
    /// default (basicConstraints CA:TRUE), serving as its own CA: `ca_cert` is `server_cert`.
    pub fn self_signed() -> TestCa {
        let openssl = require_tool("openssl");
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |n: &str| dir.path().join(n);
        run(Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.crt")));
        let cert_dir = p("certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::copy(p("server.crt"), cert_dir.join("ca.crt")).unwrap();
        TestCa {
            cert_dir,
            ca_cert: p("server.crt"),
            server_cert: p("server.crt"),
            server_key: p("server.key"),
            dir,
        }
    }
}

/// A running token server (`token_server.py`).
pub struct TokenServer {
    pub port: u16,
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub cert: PathBuf,
    pub log: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl TokenServer {
    /// `users` are `(user, password)`; `refresh_tokens` are `(token, user)`.
    pub fn start(
        users: &[(&str, &str)],
        refresh_tokens: &[(&str, &str)],
        anonymous_pull: bool,
    ) -> TokenServer {
        let openssl = require_tool("openssl");
        let python = require_tool("python3");
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("token.key");
        let cert = dir.path().join("token.crt");
        run(Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=lade test token issuer"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let port = free_port();
        let log = dir.path().join("token.log");
        std::fs::write(&log, "").unwrap();
        let stderr = dir.path().join("token.stderr");
        let mut cmd = Command::new(python);
        cmd.arg(fixture("token_server.py"))
            .args(["--port", &port.to_string()])
            .arg("--key")
            .arg(&key)
            .args([
                "--issuer",
                "lade-test-issuer",
                "--service",
                "lade-test-registry",
            ])
            .arg("--log")
            .arg(&log);
        for (u, p) in users {
            cmd.arg("--user").arg(format!("{u}:{p}"));
        }
        for (t, u) in refresh_tokens {
            cmd.arg("--refresh-token").arg(format!("{t}:{u}"));
        }
        if anonymous_pull {
            cmd.arg("--anonymous-pull");
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting token_server.py");
        wait_for_port(port, &mut child, "token_server.py", &stderr);
        TokenServer {
            port,
            realm: format!("http://127.0.0.1:{port}/token"),
            service: "lade-test-registry".into(),
            issuer: "lade-test-issuer".into(),
            cert,
            log,
            child,
            _dir: dir,
        }
    }

    /// Logged token requests (one JSON object per request).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test registry authenticates and serves.
#[derive(Default)]
pub struct RegistryConfig<'a> {
    pub htpasswd: Option<(&'a str, &'a str)>,
    pub tls: Option<&'a TestCa>,
    pub token: Option<&'a TokenServer>,
}

/// One request from the registry's access log.
#[derive(Clone, Debug)]
pub struct Access {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A running `docker-registry serve`.
pub struct Registry {
    /// `127.0.0.1:PORT`, as a reference's registry part.
    pub host: String,
    pub port: u16,
    pub dir: TempDir,
    stdout: PathBuf,
    child: Child,
}

impl Registry {
    /// A registry without authentication over plain HTTP.
    pub fn start() -> Registry {
        Registry::start_with(RegistryConfig::default())
    }

    pub fn start_with(cfg: RegistryConfig) -> Registry {
        let bin = require_tool("docker-registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: lade-test-secret\n",
            dir.path().join("data").display()
        );
        if let Some(ca) = cfg.tls {
            yaml += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.server_cert.display(),
                ca.server_key.display()
            );
        }
        if let Some((user, pass)) = cfg.htpasswd {
            let htpasswd = require_tool("htpasswd");
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, pass])
                .output()
                .expect("running htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).unwrap();
            yaml += &format!(
                "auth:\n  htpasswd:\n    realm: lade-test\n    path: {}\n",
                file.display()
            );
        } else if let Some(t) = cfg.token {
            yaml += &format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                t.realm,
                t.service,
                t.issuer,
                t.cert.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).unwrap();
        let stdout = dir.path().join("access.log");
        let stderr = dir.path().join("registry.stderr");
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting docker-registry");
        wait_for_port(port, &mut child, "docker-registry", &stderr);
        Registry {
            host: format!("127.0.0.1:{port}"),
            port,
            dir,
            stdout,
            child,
        }
    }

    /// Every request the registry has logged so far (the access log is its stdout).
    pub fn access_log(&self) -> Vec<Access> {
        // The log line is written when the response completes; give the last one a moment.
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(parse_access)
            .collect()
    }

    /// A mark to count requests from: `requests_since(mark)`.
    pub fn mark(&self) -> usize {
        self.access_log().len()
    }

    pub fn requests_since(&self, mark: usize) -> Vec<Access> {
        self.access_log().into_iter().skip(mark).collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `127.0.0.1 - - [date] "PUT /v2/a/blobs/uploads/x?digest=… HTTP/1.1" 201 0 "" "ua"`
fn parse_access(line: &str) -> Option<Access> {
    let start = line.find("] \"")? + 3;
    let rest = &line[start..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split(' ');
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Access {
        method,
        path,
        status,
    })
}

/// Blob uploads (`PUT …/blobs/uploads/…` answered 201) among `log`.
pub fn blob_puts(log: &[Access]) -> usize {
    log.iter()
        .filter(|a| a.method == "PUT" && a.path.contains("/blobs/uploads/") && a.status == 201)
        .count()
}

/// Blob downloads (`GET …/blobs/sha256:…`) among `log`.
pub fn blob_gets(log: &[Access]) -> usize {
    log.iter()
        .filter(|a| a.method == "GET" && a.path.contains("/blobs/sha256:"))
        .count()
}

/// A running `fault_proxy.py` in front of `upstream`.
pub struct FaultProxy {
    pub host: String,
    pub log: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl FaultProxy {
    /// `faults` are fault_proxy.py flags (`--upload-503`, `--reset-put 100000`, …).
    pub fn start(upstream: &Registry, faults: &[&str]) -> FaultProxy {
        let python = require_tool("python3");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("faults.log");
        std::fs::write(&log, "").unwrap();
        let stderr = dir.path().join("proxy.stderr");
        let mut child = Command::new(python)
            .arg(fixture("fault_proxy.py"))
            .args(["--port", &port.to_string(), "--upstream", &upstream.host])
            .arg("--log")
            .arg(&log)
            .args(faults)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting fault_proxy.py");
        wait_for_port(port, &mut child, "fault_proxy.py", &stderr);
        FaultProxy {
            host: format!("127.0.0.1:{port}"),
            log,
            child,
            _dir: dir,
        }
    }

    /// The faults injected so far.
    pub fn injected(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an executable `docker-credential-NAME` into `dir` that answers `get` for
/// `server` with `user`/`secret` and "credentials not found" for anything else.
pub fn credential_helper(
    dir: &Path,
    name: &str,
    server: &str,
    user: &str,
    secret: &str,
) -> PathBuf {
    let path = dir.join(format!("docker-credential-{name}"));
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nif [ \"$server\" = '{server}' ]; then\n  printf '%s' '{{\"ServerURL\":\"{server}\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi"
    )
    .unwrap();
    drop(f);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `skopeo inspect --raw` of `reference` (docker transport), failing the test on error.
pub fn skopeo_raw(reference: &str, extra: &[&str]) -> Vec<u8> {
    let skopeo = require_tool("skopeo");
    let out = Command::new(skopeo)
        .args(["inspect", "--raw"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --raw {reference} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

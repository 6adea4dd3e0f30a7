//! `--to docker-daemon:NAME:TAG` against a real engine: Debian's Podman serving the Docker
//! Engine API (`podman system service`) on a socket of the test's own, with its storage in the
//! test's directory. The engine lists the image under its name with lade's config digest as
//! its ID; an engine that is not there fails the publish before anything is built. (Podman
//! here is refused the rlimits `podman run` needs, so the image is not run by it.)

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::tools::{require_tool, stdout_ok, tool};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Podman API service; killed when dropped.
struct Podman {
    child: Child,
    root: PathBuf,
    runroot: PathBuf,
    socket: PathBuf,
}

impl Podman {
    fn start(dir: &Path) -> Podman {
        let root = dir.join("root");
        let runroot = dir.join("run");
        let socket = dir.join("podman.sock");
        let child = Command::new(require_tool("podman"))
            .args(storage(&root, &runroot))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting podman system service");
        let p = Podman {
            child,
            root,
            runroot,
            socket,
        };
        let start = Instant::now();
        while !p.socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "podman did not create {}",
                p.socket.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `GET path` on the engine API, as JSON.
    fn get(&self, path: &str) -> Value {
        let body = stdout_ok(
            tool("curl")
                .args(["-sf", "--unix-socket"])
                .arg(&self.socket)
                .arg(format!("http://localhost{path}")),
        );
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `podman images` as the engine's own command line sees its storage.
    fn images_cli(&self) -> String {
        stdout_ok(
            tool("podman")
                .args(storage(&self.root, &self.runroot))
                .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Storage in the test's directory: vfs needs no overlay support from the kernel.
fn storage(root: &Path, runroot: &Path) -> Vec<String> {
    vec![
        "--storage-driver".into(),
        "vfs".into(),
        "--root".into(),
        root.display().to_string(),
        "--runroot".into(),
        runroot.display().to_string(),
    ]
}

#[test]
fn docker_daemon_output_loads_into_podman_under_its_name_with_the_config_digest() {
    let env = TestEnv::new();
    let engine = Podman::start(&env.dir("podman"));
    let project = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--to", "docker-daemon:lade-test/go-hello:v1", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .env("DOCKER_HOST", engine.docker_host())
        .run()
        .success();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("docker-daemon:lade-test/go-hello:v1")),
        "{}",
        run.context()
    );
    // The same image written to a layout: its config digest is the image ID an engine gives.
    let manifest: Value = serde_json::from_str(&stdout_ok(
        tool("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:v1", out.display())),
    ))
    .unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();

    let images = engine.get("/v1.41/images/json");
    let loaded = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["RepoTags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "docker.io/lade-test/go-hello:v1"))
        })
        .unwrap_or_else(|| panic!("the engine does not list the image: {images}"));
    assert_eq!(loaded["Id"], config.as_str(), "{loaded}");
    let cli = engine.images_cli();
    let short = &config["sha256:".len()..][..12];
    assert!(
        cli.lines()
            .any(|l| l == format!("docker.io/lade-test/go-hello:v1 {short}")),
        "podman images: {cli}"
    );
    // The engine's inspection agrees with the layout on the configuration.
    let inspect = engine.get("/v1.41/images/lade-test/go-hello:v1/json");
    assert_eq!(inspect["Id"], config.as_str());
    assert_eq!(inspect["Architecture"], host_arch());
}

#[test]
fn an_engine_that_is_not_there_fails_before_building() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let socket = env.path("no-engine.sock");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--to", "docker-daemon:app:1"])
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .run();
    assert!(!run.status.success(), "{}", run.context());
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.context());
    assert!(
        errors[0].contains(&format!("unix://{}", socket.display()))
            && errors[0].contains("DOCKER_HOST"),
        "{}",
        errors[0]
    );
    assert!(
        !run.stderr.contains("go build"),
        "nothing is built: {}",
        run.stderr
    );
}

/// Two platforms built: the engine gets the host's, and a warning says which was left out.
#[test]
fn several_platforms_load_the_hosts_with_a_warning() {
    let env = TestEnv::new();
    let engine = Podman::start(&env.dir("podman"));
    let project = env.copy_example("go-hello", "go-hello");
    let other = if host_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .args(["--to", "docker-daemon:lade-test/multi:v2"])
        .env("DOCKER_HOST", engine.docker_host())
        .run()
        .success();
    assert!(
        run.stderr.lines().any(|l| l.starts_with("lade: warning: ")
            && l.contains(&format!(
                "loading linux/{} (the host's), not linux/{other}",
                host_arch()
            ))),
        "{}",
        run.stderr
    );
    let inspect = engine.get("/v1.41/images/lade-test/multi:v2/json");
    assert_eq!(inspect["Architecture"], host_arch(), "{inspect}");
}

//! Running an unpacked image (an OCI runtime bundle from `umoci unpack`) under runc, reachable
//! on the host's loopback, and always cleaning it up.

use super::http::{self, Response, free_port};
use super::tools::{require_tool, run};
use serde_json::{Value, json};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// How long a server gets to start listening. Generous for qemu-emulated arm64 on a busy
/// 2-core machine, still bounded so a hung container fails the test instead of CI.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running container. Dropping it kills and deletes it, also when the test panics.
pub struct Container {
    pub id: String,
    /// The port the server was told to listen on (through `PORT`), on the host's loopback.
    pub port: u16,
    runc: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Container {
    /// Starts the bundle's process with `PORT=<free port>` added to its environment and waits
    /// until something accepts connections on that port.
    pub fn start(bundle: &Path) -> Container {
        Container::start_with_timeout(bundle, READY_TIMEOUT)
    }

    /// [`Container::start`], waiting up to `ready` for the port (an emulated JVM is slow).
    pub fn start_with_timeout(bundle: &Path, ready: Duration) -> Container {
        let runc = require_tool("runc");
        let port = free_port();
        prepare_config(bundle, port);
        let id = format!(
            "lade-it-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::SeqCst)
        );
        // Outside rootfs/, so the container cannot see or change it.
        let log = bundle.join("container.log");
        let out = File::create(&log).expect("create container log");
        let err = out.try_clone().unwrap();
        let started = Instant::now();
        let child = Command::new(&runc)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start runc");
        let mut c = Container {
            id,
            port,
            runc,
            child: Some(child),
            log,
        };
        c.wait_ready(started, ready);
        eprintln!(
            "container {} listening on {} after {:.1?}",
            c.id,
            c.port,
            started.elapsed()
        );
        c
    }

    fn wait_ready(&mut self, started: Instant, ready: Duration) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "container {} exited ({status}) before listening on {}:\n{}",
                    self.id,
                    self.port,
                    self.log()
                );
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return;
            }
            if started.elapsed() > ready {
                panic!(
                    "container {} not listening on {} after {ready:?}:\n{}",
                    self.id,
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET `path` from the container's server; panics on transport errors (the server is up).
    pub fn get(&self, path: &str) -> Response {
        http::get(self.port, path).unwrap_or_else(|e| {
            panic!("GET {path} from container {}: {e}\n{}", self.id, self.log())
        })
    }

    /// What the container printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether runc still knows this container.
    pub fn known_to_runc(runc: &Path, id: &str) -> bool {
        run(Command::new(runc).args(["state", id])).status.success()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = run(Command::new(&self.runc).args(["kill", &self.id, "KILL"]));
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = run(Command::new(&self.runc).args(["delete", "-f", &self.id]));
        if std::thread::panicking() {
            eprintln!("--- log of container {}\n{}", self.id, self.log());
        }
    }
}

/// Adapts umoci's generated runtime config for a test: no terminal (there is none), the host's
/// network namespace (so the server is reachable on 127.0.0.1), and `PORT`.
fn prepare_config(bundle: &Path, port: u16) {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (not an unpacked bundle?): {e}", path.display()));
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["process"]["terminal"] = json!(false);
    let env = v["process"]["env"]
        .as_array_mut()
        .expect("process.env is an array");
    env.retain(|e| !e.as_str().unwrap_or("").starts_with("PORT="));
    env.push(json!(format!("PORT={port}")));
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
    }
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

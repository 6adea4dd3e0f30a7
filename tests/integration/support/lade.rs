//! Running the real `lade` binary and reading what it said.

use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Lade {
    cmd: Command,
}

impl Lade {
    /// `lade` with a private cache, run in `cwd`, with an environment that cannot leak the
    /// developer's settings into results: no module proxy (the machines have none), no
    /// inherited SOURCE_DATE_EPOCH, GOOS/GOARCH/GOFLAGS or log filter.
    pub fn new(cache: &Path, cwd: &Path) -> Lade {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lade"));
        cmd.current_dir(cwd)
            .stdin(Stdio::null())
            .env("LADE_CACHE_DIR", cache)
            .env("GOPROXY", "off")
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("LADE_REPO")
            .env_remove("GOOS")
            .env_remove("GOARCH")
            .env_remove("GOFLAGS")
            .env_remove("RUST_LOG");
        if let Some(gocache) = super::tools::fallback_gocache() {
            cmd.env("GOCACHE", gocache);
        }
        Lade { cmd }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Lade {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Lade
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Lade {
        self.cmd.env(k, v);
        self
    }

    /// Runs without `NO_COLOR` (which [`Lade::new`] sets), as a user's shell would.
    pub fn env_remove_no_color(mut self) -> Lade {
        self.cmd.env_remove("NO_COLOR");
        self
    }

    pub fn run(mut self) -> LadeRun {
        let cmdline = super::tools::describe(&self.cmd);
        let start = Instant::now();
        let out = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        let run = LadeRun {
            cmdline,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        };
        eprintln!("{} -> {} in {:.1?}", run.cmdline, run.status, run.elapsed);
        run
    }

    /// [`Lade::run`], killing lade if it is still running after `limit` (a hang then fails the
    /// test instead of stalling the suite; the run's status is the kill's).
    pub fn run_for(mut self, limit: Duration) -> LadeRun {
        let cmdline = super::tools::describe(&self.cmd);
        let start = Instant::now();
        let mut child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        let drain = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
        let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for lade") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                break child.wait().expect("waiting for lade");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let run = LadeRun {
            cmdline,
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            elapsed: start.elapsed(),
        };
        eprintln!("{} -> {} in {:.1?}", run.cmdline, run.status, run.elapsed);
        run
    }
}

pub struct LadeRun {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl LadeRun {
    /// Everything needed to understand a failure, for panic messages.
    pub fn context(&self) -> String {
        format!(
            "{}\nexit: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmdline, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts a zero exit status.
    pub fn success(self) -> LadeRun {
        assert!(self.status.success(), "lade failed:\n{}", self.context());
        self
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}):\n{}", self.context())
        })
    }

    /// The lines of stderr that start with `error: `.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect()
    }

    /// Asserts the error contract (non-zero exit, exactly one `error: ` line on stderr, and
    /// that line mentions each of `words`, case-insensitively); returns that line.
    pub fn expect_error(&self, words: &[&str]) -> String {
        assert!(
            !self.status.success(),
            "lade succeeded but should have failed:\n{}",
            self.context()
        );
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "stderr must have exactly one line starting with 'error: ':\n{}",
            self.context()
        );
        let line = lines[0].to_string();
        let lower = line.to_lowercase();
        for w in words {
            assert!(
                lower.contains(&w.to_lowercase()),
                "the error line should mention {w:?}: {line:?}\n{}",
                self.context()
            );
        }
        line
    }
}

/// The `digest` of `publish --json` output, checked to look like a sha256 digest.
pub fn root_digest(json: &Value) -> String {
    let d = json["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("publish --json has no digest: {json}"));
    assert_digest(d);
    d.to_string()
}

pub fn assert_digest(d: &str) {
    let hex = d
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {d:?}"));
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "not a sha256 digest: {d:?}"
    );
}

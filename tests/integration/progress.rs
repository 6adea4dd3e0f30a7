//! What a publish says while it works and what `-q` leaves: live progress lines inside a real
//! terminal (tmux) that change as a step runs, plain timestamped lines without escape codes
//! when stderr is a pipe, build tools' output kept in a log and shown only when their step
//! fails, and `-q` on the Python and Java examples printing only the result line.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::java_base::java_base;
use crate::support::lade::LadeRun;
use crate::support::node_base::build_node_base;
use crate::support::python_base::python_base;
use crate::support::tools::{require_tool, run_ok, stdout_ok, tool};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A Node project whose build script talks for about `seconds` (a line every 100 ms), then
/// writes its output, or fails with `TS2322: boom` when `fail`.
fn talking_project(env: &TestEnv, name: &str, seconds: u32, fail: bool) -> PathBuf {
    let project = env.dir(name);
    fs::write(
        project.join("package.json"),
        format!(
            r#"{{"name": "{name}", "version": "1.0.0", "main": "dist/server.js", "files": ["dist"],
  "scripts": {{"build": "node build.js"}}}}"#
        ),
    )
    .unwrap();
    fs::write(
        project.join("package-lock.json"),
        format!(
            r#"{{"name": "{name}", "lockfileVersion": 3, "requires": true, "packages": {{"": {{"name": "{name}", "version": "1.0.0"}}}}}}"#
        ),
    )
    .unwrap();
    fs::write(
        project.join("build.js"),
        format!(
            r#"const fs = require("fs");
let n = 0;
const timer = setInterval(() => {{
  console.log(`compiling module ${{n}}`);
  if (++n < {ticks}) return;
  clearInterval(timer);
  if ({fail}) {{ console.error("src/app.ts(3,7): error TS2322: boom"); process.exit(2); }}
  fs.mkdirSync("dist", {{ recursive: true }});
  fs.writeFileSync("dist/server.js", "console.log('hi');\n");
}}, 100);
"#,
            ticks = seconds * 10
        ),
    )
    .unwrap();
    project
}

fn publish_node(env: &TestEnv, project: &Path, base: &str, out: &Path, extra: &[&str]) -> LadeRun {
    env.lade()
        .arg("publish")
        .args(extra)
        .arg("-C")
        .arg(project)
        .args(["--base", base, "--platform"])
        .arg(format!("linux/{}", host_arch()))
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
}

/// The shell line that runs the same publish inside tmux, with the test's environment (and
/// `NO_COLOR` as given).
fn shell_line(
    env: &TestEnv,
    cache: &Path,
    no_color: bool,
    (project, base, out): (&Path, &str, &Path),
    done: &Path,
) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    format!(
        "cd {work} && env -u NO_COLOR {nc} LADE_CACHE_DIR={cache} GOPROXY=off {lade} publish -C {project} --base {base} --platform linux/{arch} --to {to}; echo $? > {done}; sleep 600",
        work = q(&env.work.display().to_string()),
        nc = if no_color { "NO_COLOR=1" } else { "" },
        cache = q(&cache.display().to_string()),
        lade = q(env!("CARGO_BIN_EXE_lade")),
        project = q(&project.display().to_string()),
        base = q(base),
        arch = host_arch(),
        to = q(&format!("oci:{}:v1", out.display())),
        done = q(&done.display().to_string()),
    )
}

/// tmux on a server of the test's own; killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn command(&self) -> std::process::Command {
        let mut c = tool("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn pane(&self) -> String {
        self.capture("lade", false)
    }

    /// The screen of `session`, with its colours as escape codes when `escapes`.
    fn capture(&self, session: &str, escapes: bool) -> String {
        let mut c = self.command();
        c.args(["capture-pane", "-p", "-t", session]);
        if escapes {
            c.arg("-e");
        }
        stdout_ok(&mut c)
    }

    /// Starts `line` in a new session and returns the screen with escapes once a line shows
    /// `what` (or panics when `done` appears first).
    fn run_until(&self, session: &str, line: &str, what: &str, done: &Path) -> String {
        run_ok(
            self.command()
                .args(["new-session", "-d", "-s", session, "-x", "160", "-y", "40"])
                .arg(line),
        );
        let start = Instant::now();
        loop {
            let pane = self.capture(session, true);
            if pane.contains(what) {
                return pane;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120) && !done.exists(),
                "no line with {what}: {pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

#[test]
fn publish_in_a_terminal_shows_live_progress_and_a_pipe_gets_plain_lines() {
    require_tool("tmux");
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node").reference();
    let project = talking_project(&env, "talker", 6, false);
    let out = env.path("out-tty");
    let done = env.path("tty-done");
    let tmux = Tmux {
        socket: env.path("tmux.sock"),
    };
    let what = (project.as_path(), base.as_str(), out.as_path());
    let line = shell_line(&env, &env.cache, false, what, &done);
    // Two looks at the screen while the build runs: its line is there and has moved on.
    let coloured = tmux.run_until("lade", &line, "npm run build", &done);
    let first = tmux.pane();
    std::thread::sleep(Duration::from_millis(1500));
    let second = tmux.pane();
    let line = |pane: &str| {
        pane.lines()
            .find(|l| l.contains("npm run build"))
            .map(str::to_string)
    };
    let (a, b) = (line(&first), line(&second));
    assert!(
        b.is_some() && a != b,
        "the step's line did not change:\n{first}\n---\n{second}"
    );
    let b = b.unwrap();
    assert!(b.contains('[') && b.contains("s]"), "elapsed time: {b}");
    assert!(
        !second.contains("compiling module"),
        "a tool's output stays off the screen: {second}"
    );
    assert!(
        coloured.contains('\x1b'),
        "colour on a terminal: {coloured:?}"
    );
    let start = Instant::now();
    while !done.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{}",
            tmux.pane()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        fs::read_to_string(&done).unwrap().trim(),
        "0",
        "{}",
        tmux.pane()
    );
    let end = tmux.pane();
    assert!(
        end.lines()
            .any(|l| l.starts_with("lade: build npm run build") && l.contains("done")),
        "{end}"
    );

    // NO_COLOR: the same live lines without colour (a fresh cache, so the step runs again).
    let plain_done = env.path("plain-done");
    let line = shell_line(
        &env,
        &env.path("cache-nocolor"),
        true,
        (
            project.as_path(),
            base.as_str(),
            env.path("out-nocolor").as_path(),
        ),
        &plain_done,
    );
    let plain = tmux.run_until("nocolor", &line, "npm run build", &plain_done);
    assert!(!plain.contains('\x1b'), "NO_COLOR: {plain:?}");

    // The same publish into a pipe (a fresh cache, so the step runs again).
    let piped = env
        .lade_with_cache(&env.path("cache-piped"))
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", &base, "--platform"])
        .arg(format!("linux/{}", host_arch()))
        .arg("--to")
        .arg(format!("oci:{}:v1", env.path("out-piped").display()))
        .env_remove_no_color()
        .run()
        .success();
    assert!(
        !piped.stderr.contains('\x1b'),
        "escape codes: {:?}",
        piped.stderr
    );
    let stamped = |what: &str| {
        piped.stderr.lines().any(|l| {
            l.starts_with('[') && l.contains("s] build npm run build") && l.ends_with(what)
        })
    };
    assert!(stamped("started"), "{}", piped.stderr);
    assert!(
        piped.stderr.lines().any(|l| l.starts_with('[')
            && l.contains("s] build npm run build")
            && l.contains(" done (")),
        "{}",
        piped.stderr
    );
    assert!(
        !piped.stderr.contains("compiling module"),
        "{}",
        piped.stderr
    );
    // The tool's output is in the step's log.
    let logs = find_logs(&env.path("cache-piped"));
    assert!(
        logs.iter().any(|l| fs::read_to_string(l)
            .unwrap()
            .contains("compiling module 59")),
        "{logs:?}"
    );
}

#[test]
fn a_failing_step_shows_its_tools_output_even_with_q() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node").reference();
    let project = talking_project(&env, "broken", 1, true);
    let run = publish_node(&env, &project, &base, &env.path("out"), &["-q"]);
    assert!(!run.status.success(), "{}", run.context());
    let err = &run.stderr;
    let head = err
        .lines()
        .position(|l| l.starts_with("lade: npm run build") && l.contains("failed; its output"))
        .unwrap_or_else(|| panic!("the failed step is not named: {err}"));
    let after: Vec<&str> = err.lines().skip(head + 1).collect();
    assert!(
        after.iter().any(|l| l.contains("error TS2322: boom")),
        "{err}"
    );
    assert!(
        after.iter().any(|l| l.contains("compiling module 9")),
        "{err}"
    );
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("npm run build") && errors[0].contains(".log"),
        "{}",
        errors[0]
    );
    let log = errors[0].rsplit(' ').next().unwrap();
    assert!(
        fs::read_to_string(log)
            .unwrap()
            .contains("error TS2322: boom"),
        "{log}"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// `-v` shows each step's command line and its tool's output as it comes.
#[test]
fn verbose_shows_commands_and_tool_output() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node").reference();
    let project = talking_project(&env, "chatty", 1, false);
    let run = publish_node(&env, &project, &base, &env.path("out"), &["-v"]).success();
    let arch = host_arch();
    assert!(
        run.stderr
            .lines()
            .any(|l| l == format!("lade: [linux/{arch}] npm run build")),
        "{}",
        run.stderr
    );
    for n in 0..10 {
        assert!(
            run.stderr
                .lines()
                .any(|l| l == format!("  compiling module {n}")),
            "{}",
            run.stderr
        );
    }
}

/// `-q`: stdout is the one result line, stderr nothing but warnings.
fn assert_quiet(run: &LadeRun, out: &Path) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.context());
    assert!(
        lines[0].starts_with(&format!("oci:{}:v1", out.display())) && lines[0].contains("sha256:"),
        "{}",
        run.context()
    );
    for l in run.stderr.lines() {
        assert!(
            l.starts_with("lade: warning: "),
            "not quiet: {l:?}\n{}",
            run.context()
        );
    }
}

/// `lade publish -q` of an example on `base`, checked to print only its result line.
fn quiet_publish(env: &TestEnv, example: &str, base: &str) {
    let project = env.copy_example(example, example);
    let out = env.path("out");
    let run = env
        .lade()
        .args(["publish", "-q", "-C"])
        .arg(&project)
        .args(["--platform", "linux/amd64", "--base", base, "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    assert_quiet(&run, &out);
}

#[test]
fn quiet_python_example_prints_only_the_result_line() {
    let env = TestEnv::new();
    quiet_publish(&env, "python-flask", &python_base());
    // pip ran and said things; they went to its log.
    assert!(
        find_logs(&env.cache).iter().any(|l| fs::read_to_string(l)
            .unwrap()
            .to_lowercase()
            .contains("gunicorn")),
        "pip's output is in a log"
    );
}

#[test]
fn quiet_java_example_prints_only_the_result_line() {
    let env = TestEnv::new();
    quiet_publish(&env, "java-maven", &java_base());
    assert!(
        find_logs(&env.cache)
            .iter()
            .any(|l| fs::read_to_string(l).unwrap().contains("BUILD SUCCESS")),
        "Maven's output is in a log"
    );
}

/// Every step log under a cache.
fn find_logs(cache: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(cache.join("build"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.into_path())
        .collect()
}

/// Uploads report their bytes: in a log, one stamped line per blob sent, with its size, and
/// as many as the push says it uploaded.
#[test]
fn uploads_are_reported_per_blob_with_their_size() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = crate::support::registry::Registry::start();
    let run = env
        .lade()
        .args(["publish", "--json", "-C"])
        .arg(&project)
        .args(["--platform", "linux/amd64", "--to"])
        .arg(format!("{}/team/go-hello:v1", reg.host))
        .run()
        .success();
    let report = run.json();
    let stats = &report["outputs"][0]["stats"];
    let uploaded = stats["blobs_uploaded"].as_u64().unwrap();
    assert!(uploaded >= 2, "{stats}");
    // The image's blobs (its layers and config): the attached documents are sent alongside.
    let mut image_blobs: Vec<String> = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    image_blobs.push(report["images"][0]["config"].as_str().unwrap().to_string());
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| {
            l.starts_with('[')
                && l.contains(" to team/go-hello done (")
                && l.split_once("s] upload ").is_some_and(|(_, rest)| {
                    let shown = rest.split(' ').next().unwrap_or_default();
                    image_blobs.iter().any(|d| d.starts_with(shown))
                })
        })
        .collect();
    assert_eq!(lines.len() as u64, uploaded, "{}", run.stderr);
    // The largest blob is the binary layer: its line gives its size in MiB.
    assert!(lines.iter().any(|l| l.contains(" MiB, ")), "{lines:?}");
}

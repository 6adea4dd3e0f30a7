//! What a person sees of lade's progress on stderr. The library reports
//! [`lade::progress::Event`]s; this renders them: on a terminal, one live line per running task
//! (a spinner and the elapsed time, bytes for transfers); elsewhere (CI logs, pipes) plain
//! lines stamped with the time since lade started; with `-q`, only a failed step's output.
//! Every other line lade writes to stderr goes through [`line`], so it never tears a live line.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lade::progress::{Event, Kind, Observer};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `-q`: results, warnings and errors only (a failed step's output is part of its error).
    Quiet,
    /// stderr is a terminal: live lines.
    Live,
    /// Not a terminal: one timestamped line per start and end.
    Plain,
}

pub struct Render {
    mode: Mode,
    verbose: bool,
    color: bool,
    start: Instant,
    bars: Option<MultiProgress>,
    tasks: Mutex<HashMap<u64, Shown>>,
}

/// A task being shown.
struct Shown {
    kind: Kind,
    label: String,
    started: Instant,
    total: Option<u64>,
    done: u64,
    bar: Option<ProgressBar>,
    /// With `-v`: the tool's output after its last complete line.
    partial: Vec<u8>,
}

static RENDER: OnceLock<Arc<Render>> = OnceLock::new();

/// Sets up rendering for this run: `-q`, `-v`, whether stderr is a terminal and `NO_COLOR`.
pub fn install(verbose: bool, quiet: bool) {
    let terminal = std::io::stderr().is_terminal();
    let mode = match (quiet, terminal) {
        (true, _) => Mode::Quiet,
        (false, true) => Mode::Live,
        (false, false) => Mode::Plain,
    };
    let no_color = lade::env::var_os(lade::env::NO_COLOR).is_some_and(|v| !v.is_empty());
    let render = Arc::new(Render {
        mode,
        verbose,
        color: terminal && !no_color,
        start: Instant::now(),
        bars: (mode == Mode::Live)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10))),
        tasks: Mutex::new(HashMap::new()),
    });
    let _ = RENDER.set(render);
}

/// The reporter library calls are given: this run's rendering ([`install`]), else none.
pub fn reporter() -> lade::progress::Reporter {
    match RENDER.get() {
        Some(r) => lade::progress::Reporter::new(r.clone()),
        None => lade::progress::Reporter::default(),
    }
}

/// Writes one line to stderr, above any live lines.
pub fn line(text: &str) {
    match RENDER.get().and_then(|r| r.bars.as_ref()) {
        // Printed by the bars, above them, so they redraw below it rather than being torn.
        Some(bars) => {
            if bars.println(text).is_err() {
                write_line(text)
            }
        }
        None => write_line(text),
    }
}

/// Removes live lines (before the final error line).
pub fn clear() {
    if let Some(bars) = RENDER.get().and_then(|r| r.bars.as_ref()) {
        let _ = bars.clear();
    }
}

fn write_line(text: &str) {
    // A closed stderr is no reason to fail the command.
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

impl Observer for Render {
    fn event(&self, e: &Event<'_>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match *e {
            Event::Started {
                id,
                kind,
                label,
                total,
            } => {
                let shown = self.started(kind, label, total);
                tasks.insert(id, shown);
            }
            Event::Advanced { id, done } => {
                if let Some(t) = tasks.get_mut(&id) {
                    t.done = done;
                    if let Some(b) = &t.bar {
                        b.set_position(done);
                    }
                }
            }
            Event::Output { id, bytes } => {
                if let Some(t) = tasks.get_mut(&id)
                    && self.verbose
                    && self.mode != Mode::Quiet
                {
                    t.partial.extend_from_slice(bytes);
                    while let Some(nl) = t.partial.iter().position(|b| *b == b'\n') {
                        let l: Vec<u8> = t.partial.drain(..=nl).collect();
                        line(&tool_line(&l));
                    }
                }
            }
            Event::Finished { id } => {
                if let Some(t) = tasks.remove(&id) {
                    self.ended(t, None);
                }
            }
            Event::Failed {
                id,
                output,
                omitted,
                log,
            } => {
                if let Some(t) = tasks.remove(&id) {
                    self.ended(t, Some((output, omitted, log)));
                }
            }
        }
    }
}

type Failure<'a> = (&'a [u8], u64, Option<&'a std::path::Path>);

impl Render {
    fn started(&self, kind: Kind, label: &str, total: Option<u64>) -> Shown {
        let verb = verb(kind);
        let bar = match (&self.bars, self.mode) {
            (Some(bars), Mode::Live) => {
                // Hidden until it joins the bars: a bar drawing on its own would leave a line
                // behind that the bars do not know of.
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
                let template = match (kind, total) {
                    (Kind::Step, _) => "{spinner} {prefix} {msg} [{elapsed}]",
                    (_, Some(_)) => {
                        "{spinner} {prefix} {msg} {bytes}/{total_bytes} [{elapsed}] {wide_bar}"
                    }
                    (_, None) => "{spinner} {prefix} {msg} {bytes} [{elapsed}]",
                };
                let style = ProgressStyle::with_template(template)
                    .expect("the templates above are valid")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
                    .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(self.paint(verb));
                bar.set_message(label.to_string());
                let bar = bars.add(bar);
                bar.enable_steady_tick(Duration::from_millis(100));
                Some(bar)
            }
            _ => None,
        };
        if self.mode == Mode::Plain && kind == Kind::Step {
            write_line(&format!("{} {verb} {label} started", self.stamp()));
        }
        Shown {
            kind,
            label: label.to_string(),
            started: Instant::now(),
            total,
            done: 0,
            bar,
            partial: Vec::new(),
        }
    }

    fn ended(&self, t: Shown, failure: Option<Failure<'_>>) {
        if let Some(b) = &t.bar {
            b.finish_and_clear();
        }
        if !t.partial.is_empty() {
            line(&tool_line(&t.partial));
        }
        let took = secs(t.started.elapsed());
        let verb = verb(t.kind);
        match failure {
            None => {
                let size = match (t.kind, t.total.unwrap_or(t.done)) {
                    (Kind::Step, _) => String::new(),
                    (_, n) => format!("{}, ", bytes(n)),
                };
                let text = format!("{verb} {} done ({size}{took})", t.label);
                match self.mode {
                    Mode::Quiet => {}
                    Mode::Plain => write_line(&format!("{} {text}", self.stamp())),
                    // Transfers leave no line behind: the output's summary counts them.
                    Mode::Live if t.kind == Kind::Step => line(&format!("lade: {text}")),
                    Mode::Live => {}
                }
            }
            // A transfer's error is the command's, said by the error line.
            Some(_) if t.kind != Kind::Step => {}
            Some((output, omitted, log)) => self.step_failed(&t, output, omitted, log),
        }
    }

    /// A failed step's output, whatever `-q` says: it is what explains the error line.
    fn step_failed(&self, t: &Shown, output: &[u8], omitted: u64, log: Option<&std::path::Path>) {
        // `-v` showed it as it came; a tool that could not start said nothing (the error
        // line says why).
        if self.verbose && self.mode != Mode::Quiet || output.is_empty() && log.is_none() {
            return;
        }
        if output.is_empty() {
            line(&format!("lade: {} failed without output", t.label));
            return;
        }
        let mut head = format!("lade: {} failed; its output", t.label);
        if omitted > 0 {
            head.push_str(&format!(" (the last {} of it", bytes(output.len() as u64)));
            if let Some(l) = log {
                head.push_str(&format!("; all of it in {}", l.display()));
            }
            head.push(')');
        }
        head.push(':');
        line(&head);
        let text = String::from_utf8_lossy(output);
        for l in text.lines() {
            line(&tool_line(l.as_bytes()));
        }
    }

    fn stamp(&self) -> String {
        format!("[{:.1}s]", self.start.elapsed().as_secs_f64())
    }

    fn paint(&self, word: &str) -> String {
        if self.color {
            format!("\x1b[1;36m{word}\x1b[0m")
        } else {
            word.to_string()
        }
    }
}

fn verb(kind: Kind) -> &'static str {
    match kind {
        Kind::Step => "build",
        Kind::Download => "download",
        Kind::Upload => "upload",
        Kind::Load => "load",
    }
}

/// One line of a tool's output as lade shows it: indented, without its line end or a
/// carriage-return progress bar's earlier states.
fn tool_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\n', '\r']);
    let text = text.rsplit('\r').next().unwrap_or_default();
    format!("  {text}")
}

/// A step's command line as a shell would take it back: program and arguments, quoted where
/// needed. An argument spanning lines (a text, never a script in lade's plans) is named by its
/// size instead of dumped.
pub fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|a| {
            if a.contains('\n') {
                format!("<text of {} lines>", a.lines().count())
            } else if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tool_lines() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
        assert_eq!(tool_line(b"10%\r50%\r100%\r\n"), "  100%");
        assert_eq!(tool_line(b"plain\n"), "  plain");
        assert_eq!(
            command_line(
                "go",
                &["build".into(), "-o".into(), "a b".into(), "it's".into()]
            ),
            r"go build -o 'a b' 'it'\''s'"
        );
        assert_eq!(command_line("x", &["a\nb\n".into()]), "x <text of 2 lines>");
    }
}

//! Progress of long-running work (build steps, blob downloads and uploads, loading into an
//! engine) as events. Library code never prints: it starts a [`Task`] on the [`Reporter`] it
//! was given and reports bytes, tool output and the end; the binary decides what a person sees
//! (live lines on a terminal, timestamped lines in a CI log, nothing with `-q`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a task is doing, so a renderer can word and draw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A build step: a tool runs.
    Step,
    /// Bytes coming from a registry.
    Download,
    /// Bytes going to a registry.
    Upload,
    /// An image going into a local engine.
    Load,
}

/// One thing that happened to a task, identified by the number [`Reporter::start`] gave it.
#[derive(Debug)]
pub enum Event<'a> {
    /// `total` is the number of bytes to move, when the task moves bytes and knows how many.
    Started {
        id: u64,
        kind: Kind,
        label: &'a str,
        total: Option<u64>,
    },
    /// `done` bytes have moved so far (a count, not an increment).
    Advanced {
        id: u64,
        done: u64,
    },
    /// A step's tool wrote these bytes (stdout and stderr, in order).
    Output {
        id: u64,
        bytes: &'a [u8],
    },
    /// The task failed; `output` is the end of what its tool wrote (for a step), `log` the file
    /// holding all of it.
    Failed {
        id: u64,
        output: &'a [u8],
        /// Bytes of output before `output` that are only in the log.
        omitted: u64,
        log: Option<&'a Path>,
    },
    Finished {
        id: u64,
    },
}

/// Receives the events. Called from any thread, so it must be quick and thread-safe.
pub trait Observer: Send + Sync {
    fn event(&self, e: &Event<'_>);
}

/// Where a library function reports progress; the default reports nowhere.
#[derive(Clone, Default)]
pub struct Reporter {
    observer: Option<Arc<dyn Observer>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl Reporter {
    pub fn new(observer: Arc<dyn Observer>) -> Reporter {
        Reporter {
            observer: Some(observer),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Starts a task; it ends with [`Task::finish`] or [`Task::fail`], or as failed when it is
    /// dropped without either (an error returned early).
    pub fn start(&self, kind: Kind, label: &str, total: Option<u64>) -> Task {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.send(&Event::Started {
            id,
            kind,
            label,
            total,
        });
        Task {
            id,
            reporter: self.clone(),
            done: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        }
    }

    /// The same reporter with each task's label prefixed by `prefix` (`api: go build`), for
    /// tasks of several projects shown at once. Task numbers stay unique across both.
    pub fn prefixed(&self, prefix: &str) -> Reporter {
        Reporter {
            observer: self.observer.clone().map(|inner| {
                Arc::new(Prefixed {
                    inner,
                    prefix: prefix.to_string(),
                }) as Arc<dyn Observer>
            }),
            next: self.next.clone(),
        }
    }

    fn send(&self, e: &Event<'_>) {
        if let Some(o) = &self.observer {
            o.event(e);
        }
    }
}

/// Passes events on, with `prefix` before each started task's label.
struct Prefixed {
    inner: Arc<dyn Observer>,
    prefix: String,
}

impl Observer for Prefixed {
    fn event(&self, e: &Event<'_>) {
        match e {
            Event::Started {
                id,
                kind,
                label,
                total,
            } => self.inner.event(&Event::Started {
                id: *id,
                kind: *kind,
                label: &format!("{}{label}", self.prefix),
                total: *total,
            }),
            e => self.inner.event(e),
        }
    }
}

/// A task in progress. Shared between threads behind an `Arc` when bytes move on several.
pub struct Task {
    id: u64,
    reporter: Reporter,
    done: AtomicU64,
    ended: AtomicBool,
}

impl Task {
    /// `n` more bytes moved.
    pub fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.reporter.send(&Event::Advanced { id: self.id, done });
    }

    /// Starts the count again (a transfer restarted after an error).
    pub fn restart(&self) {
        self.done.store(0, Ordering::Relaxed);
        self.reporter.send(&Event::Advanced {
            id: self.id,
            done: 0,
        });
    }

    /// The task's tool wrote `bytes`.
    pub fn output(&self, bytes: &[u8]) {
        self.reporter.send(&Event::Output { id: self.id, bytes });
    }

    pub fn finish(&self) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            self.reporter.send(&Event::Finished { id: self.id });
        }
    }

    /// The task failed; `output` is the end of its tool's output, `omitted` the bytes before
    /// it, `log` where all of it is.
    pub fn fail(&self, output: &[u8], omitted: u64, log: Option<&Path>) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            self.reporter.send(&Event::Failed {
                id: self.id,
                output,
                omitted,
                log,
            });
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.fail(&[], 0, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Observer for Log {
        fn event(&self, e: &Event<'_>) {
            let line = match e {
                Event::Started { id, label, .. } => format!("{id} start {label}"),
                Event::Advanced { id, done } => format!("{id} at {done}"),
                Event::Output { id, bytes } => {
                    format!("{id} out {}", String::from_utf8_lossy(bytes))
                }
                Event::Failed { id, omitted, .. } => format!("{id} failed {omitted}"),
                Event::Finished { id } => format!("{id} done"),
            };
            self.0.lock().unwrap().push(line);
        }
    }

    #[test]
    fn a_prefixed_reporter_labels_its_tasks_and_shares_the_numbers() {
        let log = Arc::new(Log::default());
        let r = Reporter::new(log.clone());
        let api = r.prefixed("api: ");
        api.start(Kind::Step, "go build", None).finish();
        r.start(Kind::Step, "go build", None).finish();
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "1 start api: go build",
                "1 done",
                "2 start go build",
                "2 done"
            ]
        );
    }

    #[test]
    fn tasks_end_once_and_a_dropped_task_failed() {
        let log = Arc::new(Log::default());
        let r = Reporter::new(log.clone());
        let a = r.start(Kind::Upload, "a", Some(10));
        a.advance(4);
        a.advance(6);
        a.finish();
        drop(a);
        let b = r.start(Kind::Step, "b", None);
        b.output(b"hi\n");
        drop(b);
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "1 start a",
                "1 at 4",
                "1 at 10",
                "1 done",
                "2 start b",
                "2 out hi\n",
                "2 failed 0"
            ]
        );
        // The default reporter reports nowhere and still counts.
        Reporter::default()
            .start(Kind::Download, "c", None)
            .finish();
    }
}

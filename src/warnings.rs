//! Warnings: what went wrong without stopping the work (a registry mirror that failed, a
//! `credsStore` helper that is not installed).
//!
//! Library code raises a warning with `tracing::warn!` where it happens and never prints it:
//! a message saying what happened, and fields naming its subject (`mirror = %host`) and its
//! cause (`error = %e`). The program decides where warnings go by installing
//! [`Warnings::layer`] as (part of) its tracing subscriber: the layer renders each warning on
//! one line, hands it to the program's `emit` (the `lade` binary writes
//! `lade: warning: …` to stderr, whatever `-q` says) and keeps it for the command's report
//! ([`Warnings::said`], the `warnings` of `lade publish --json`).
//!
//! A warning is said once per run: a mirror that is down fails the index, the manifest and the
//! config alike, and saying so three times tells the user nothing more. Two warnings are the
//! same when their message and subject fields are; the `error` field is a detail (the first
//! one is kept).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The field that carries a warning's cause; it does not make two warnings different.
const DETAIL_FIELD: &str = "error";

/// The warnings of one run, shared by the layer that records them and the code that reports
/// them. Cloning shares the same list.
#[derive(Clone, Default)]
pub struct Warnings {
    said: Arc<Mutex<Said>>,
}

#[derive(Default)]
struct Said {
    lines: Vec<String>,
    keys: HashSet<String>,
}

impl Warnings {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracing layer turning lade's WARN and ERROR events into warnings: each new one is
    /// rendered on one line, recorded here, then given to `emit`.
    pub fn layer(&self, emit: impl Fn(&str) + Send + Sync + 'static) -> WarningLayer {
        WarningLayer {
            warnings: self.clone(),
            emit: Box::new(emit),
        }
    }

    /// The warnings said so far, in the order they were said.
    pub fn said(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Records a warning; returns its line when it was not said before.
    fn record(&self, fields: Fields) -> Option<String> {
        let (key, line) = fields.render();
        let mut said = self.lock();
        if !said.keys.insert(key) {
            return None;
        }
        said.lines.push(line.clone());
        Some(line)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Said> {
        // A panic while holding the lock leaves a list that is still a valid list.
        self.said.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// See [`Warnings::layer`].
pub struct WarningLayer {
    warnings: Warnings,
    emit: Box<dyn Fn(&str) + Send + Sync>,
}

/// The span a warning is raised in when several projects are published at once: its `name`
/// field is the project's, said before the warning (`api: …`).
pub const PROJECT_SPAN: &str = "project";

/// A [`PROJECT_SPAN`]'s project name, kept in the span's extensions.
struct ProjectName(String);

impl<S> Layer<S> for WarningLayer
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != PROJECT_SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let name = fields.subject.into_iter().find(|(k, _)| *k == "name");
        if let (Some((_, name)), Some(span)) = (name, ctx.span(id)) {
            span.extensions_mut().insert(ProjectName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !is_warning(event.metadata()) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let project = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|s| s.extensions().get::<ProjectName>().map(|p| p.0.clone()))
        });
        fields.project = project;
        if let Some(line) = self.warnings.record(fields) {
            (self.emit)(&line);
        }
    }

    /// Only warnings are wanted: debug events are switched off at their call sites.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }
}

/// lade's own events at WARN or above; dependencies' events are theirs to report.
fn is_warning(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    *meta.level() <= Level::WARN && (target == "lade" || target.starts_with("lade::"))
}

/// An event's fields, split into its message, its subject and its details.
#[derive(Default)]
struct Fields {
    /// The project the warning is about, when several are published ([`PROJECT_SPAN`]).
    project: Option<String>,
    message: String,
    subject: Vec<(&'static str, String)>,
    details: Vec<(&'static str, String)>,
}

impl Fields {
    fn add(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            DETAIL_FIELD => self.details.push((field.name(), value)),
            name => self.subject.push((name, value)),
        }
    }

    /// The key two warnings are compared by, and the line shown:
    /// `message (subject: value, …, error: cause)`.
    fn render(self) -> (String, String) {
        let pairs = |list: &[(&str, String)]| {
            list.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
        };
        let subject = pairs(&self.subject);
        let project = self.project.map(|p| format!("{p}: ")).unwrap_or_default();
        let key = format!("{project}\0{}\0{}", self.message, subject.join("\0"));
        let all: Vec<String> = subject.into_iter().chain(pairs(&self.details)).collect();
        let line = if all.is_empty() {
            format!("{project}{}", self.message)
        } else {
            format!("{project}{} ({})", self.message, all.join(", "))
        };
        (key, line)
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields and the message arrive here; their Debug is their Display.
        self.add(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value.to_string());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.add(field, error_chain(value));
    }
}

/// An error and its causes on one line, each cause said once: a message that already
/// contains its cause's text is not followed by it again.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `f` with a subscriber made of the warnings layer only; returns what was emitted
    /// and what was recorded.
    fn capture(f: impl FnOnce()) -> (Vec<String>, Vec<String>) {
        let warnings = Warnings::new();
        let emitted = Arc::new(Mutex::new(Vec::new()));
        let sink = emitted.clone();
        let subscriber = tracing_subscriber::registry()
            .with(warnings.layer(move |w| sink.lock().unwrap().push(w.to_string())));
        tracing::subscriber::with_default(subscriber, f);
        let emitted = emitted.lock().unwrap().clone();
        (emitted, warnings.said())
    }

    #[test]
    fn warnings_are_rendered_on_one_line_with_their_fields() {
        let (emitted, said) = capture(|| {
            tracing::warn!(helper = %"docker-credential-x", "helper not installed");
            tracing::warn!("plain");
        });
        assert_eq!(
            emitted,
            [
                "helper not installed (helper: docker-credential-x)",
                "plain"
            ]
        );
        assert_eq!(said, emitted);
    }

    #[test]
    fn the_same_warning_about_the_same_subject_is_said_once() {
        let (emitted, _) = capture(|| {
            for (mirror, error) in [("m1", "a"), ("m1", "b"), ("m2", "c")] {
                tracing::warn!(mirror = %mirror, error = %error, "mirror failed");
            }
        });
        assert_eq!(
            emitted,
            [
                "mirror failed (mirror: m1, error: a)",
                "mirror failed (mirror: m2, error: c)"
            ]
        );
    }

    #[test]
    fn a_warning_in_a_project_span_names_the_project() {
        let (emitted, _) = capture(|| {
            for project in ["api", "web"] {
                let _in = tracing::warn_span!(PROJECT_SPAN, name = %project).entered();
                tracing::warn!(mirror = %"m1", "mirror failed");
            }
            tracing::warn!(mirror = %"m1", "mirror failed");
        });
        assert_eq!(
            emitted,
            [
                "api: mirror failed (mirror: m1)",
                "web: mirror failed (mirror: m1)",
                "mirror failed (mirror: m1)"
            ]
        );
    }

    #[test]
    fn debug_and_info_events_are_not_warnings() {
        let (emitted, said) = capture(|| {
            tracing::debug!("detail");
            tracing::info!("news");
        });
        assert!(emitted.is_empty() && said.is_empty(), "{emitted:?}");
    }

    #[test]
    fn error_fields_show_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading f")]
        struct Outer(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("reading f: {0}")]
        struct Repeats(#[source] std::io::Error);
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(error_chain(&Outer(io())), "reading f: disk on fire");
        assert_eq!(error_chain(&Repeats(io())), "reading f: disk on fire");
        let (emitted, _) = capture(|| {
            let e = Outer(io());
            tracing::warn!(error = &e as &(dyn std::error::Error + 'static), "skipped");
        });
        assert_eq!(emitted, ["skipped (error: reading f: disk on fire)"]);
    }
}

//! `docker-daemon:NAME[:TAG]`: loads the image into a local Docker or Podman engine through
//! its API socket, as `docker load` would: a docker-archive (the same members
//! `docker_archive` writes to a file) streamed as the body of `POST /images/load`.
//!
//! The engine is `DOCKER_HOST` (`unix:///PATH` or `tcp://HOST:PORT`), else the first socket
//! that exists of Docker's and Podman's defaults. It is asked `GET /_ping` when the output is
//! opened, so an engine that is not running fails the publish before anything is built.
//! An engine holds one platform of an image: the only one built, or the host's (with a
//! warning naming the ones left out).

use super::docker_archive::{DockerName, archive_entries};
use super::oci_archive::write_tar_to;
use super::oci_layout::{check_not_empty, collect_blobs, invalid};
use super::{BlobProvider, Published, Sink, SinkError};
use crate::oci::{Image, ImageSet};
use crate::progress::{Kind, Reporter, Task};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The engine API version lade speaks: Docker 20.10 and Podman 3 and later serve it.
const API: &str = "v1.41";

/// Where an engine's API answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `HOST:PORT`, plain HTTP (as `DOCKER_HOST=tcp://…` without TLS settings means).
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// How to get an engine that lade can reach, for errors.
const ENGINE_HINT: &str = "start Docker, or Podman's API service (`podman system service --time=0 unix://$XDG_RUNTIME_DIR/podman/podman.sock`), or set DOCKER_HOST to the engine's socket (unix:///PATH or tcp://HOST:PORT)";

impl Endpoint {
    /// `DOCKER_HOST` when set, else the first of the default sockets that exists.
    pub fn find(t: &str) -> Result<Endpoint, SinkError> {
        if let Some(host) = crate::env::non_empty(crate::env::DOCKER_HOST) {
            return Endpoint::parse(&host).ok_or_else(|| {
                invalid(
                    t,
                    format!(
                        "DOCKER_HOST '{host}' is not unix:///PATH or tcp://HOST:PORT; set it to the engine's socket"
                    ),
                )
            });
        }
        let candidates = default_sockets();
        match candidates.iter().find(|p| p.exists()) {
            Some(p) => Ok(Endpoint::Unix(p.clone())),
            None => Err(invalid(
                t,
                format!(
                    "no container engine socket found (DOCKER_HOST is unset; tried {}): {ENGINE_HINT}",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn parse(s: &str) -> Option<Endpoint> {
        if let Some(path) = s.strip_prefix("unix://") {
            return (!path.is_empty()).then(|| Endpoint::Unix(path.into()));
        }
        let addr = s.strip_prefix("tcp://")?.trim_end_matches('/');
        (!addr.is_empty() && !addr.contains('/')).then(|| Endpoint::Tcp(addr.to_string()))
    }

    fn client(&self) -> reqwest::Result<reqwest::Client> {
        crate::registry::tls::install_provider();
        let b = reqwest::Client::builder();
        match self {
            Endpoint::Unix(p) => b.unix_socket(p.as_path()),
            Endpoint::Tcp(_) => b,
        }
        .build()
    }

    fn url(&self, path: &str) -> String {
        match self {
            // The host part is not used over a socket; Docker wants a valid one.
            Endpoint::Unix(_) => format!("http://localhost{path}"),
            Endpoint::Tcp(a) => format!("http://{a}{path}"),
        }
    }
}

/// Docker's socket, then Podman's rootless and rootful ones.
fn default_sockets() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(dir) = crate::env::non_empty(crate::env::XDG_RUNTIME_DIR) {
        v.push(Path::new(&dir).join("podman/podman.sock"));
    }
    v.push("/run/podman/podman.sock".into());
    v
}

pub struct DockerDaemonSink {
    target: String,
    name: DockerName,
    endpoint: Endpoint,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    progress: Reporter,
}

impl DockerDaemonSink {
    /// Checks the name and that the engine answers (before anything is built).
    pub fn open(target: String, reference: &str, progress: Reporter) -> Result<Self, SinkError> {
        let t = target.as_str();
        let name = DockerName::parse_for(t, reference)?;
        let endpoint = Endpoint::find(t)?;
        let client = endpoint
            .client()
            .map_err(|e| invalid(t, format!("making a client for {endpoint}: {e}")))?;
        let runtime = crate::registry::runtime()
            .map_err(|e| invalid(t, format!("starting the engine client: {e}")))?;
        let sink = DockerDaemonSink {
            target,
            name,
            endpoint,
            client,
            runtime,
            progress,
        };
        sink.ping()?;
        Ok(sink)
    }

    fn ping(&self) -> Result<(), SinkError> {
        let url = self.endpoint.url("/_ping");
        let answer = self.runtime.block_on(async {
            let r = self
                .client
                .get(&url)
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await?;
            Ok::<_, reqwest::Error>((r.status(), r.text().await.unwrap_or_default()))
        });
        match answer {
            Ok((s, _)) if s.is_success() => Ok(()),
            Ok((s, body)) => Err(invalid(
                &self.target,
                format!(
                    "the container engine at {} answered {s} to a ping ({}); {ENGINE_HINT}",
                    self.endpoint,
                    body.trim()
                ),
            )),
            Err(e) => Err(invalid(
                &self.target,
                format!(
                    "cannot reach the container engine at {} ({}); {ENGINE_HINT}",
                    self.endpoint,
                    crate::registry::transport::error_chain(&e)
                ),
            )),
        }
    }

    /// Sends the archive and reads the engine's answer.
    fn load(
        &self,
        entries_tar: impl FnOnce(&mut dyn Write) -> Result<(), SinkError> + Send,
    ) -> Result<String, SinkError> {
        let t = self.target.as_str();
        let task = std::sync::Arc::new(self.progress.start(
            Kind::Load,
            &format!("{} into {}", self.name.repo_tag(), self.endpoint),
            None,
        ));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        let url = self.endpoint.url(&format!("/{API}/images/load"));
        let (answer, written) = std::thread::scope(|scope| {
            let producer = {
                let task = task.clone();
                scope.spawn(move || {
                    let mut out =
                        std::io::BufWriter::with_capacity(256 << 10, ChannelWriter { tx, task });
                    entries_tar(&mut out)?;
                    out.flush()
                        .map_err(|e| invalid(t, format!("streaming the archive: {e}")))
                })
            };
            let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
            let answer = self.runtime.block_on(async {
                let r = self
                    .client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
                    .body(reqwest::Body::wrap_stream(body))
                    .send()
                    .await?;
                let status = r.status();
                Ok::<_, reqwest::Error>((status, r.text().await?))
            });
            (answer, producer.join())
        });
        let (status, text) = answer.map_err(|e| {
            invalid(
                t,
                format!(
                    "loading into the container engine at {}: {}",
                    self.endpoint,
                    crate::registry::transport::error_chain(&e)
                ),
            )
        })?;
        // The engine's refusal explains more than the broken stream it causes.
        if !status.is_success() {
            return Err(invalid(
                t,
                format!(
                    "the container engine at {} refused the image ({status}): {}",
                    self.endpoint,
                    engine_message(&text)
                ),
            ));
        }
        match written {
            Ok(r) => r?,
            Err(_) => return Err(invalid(t, "writing the archive failed".into())),
        }
        if let Some(e) = stream_error(&text) {
            return Err(invalid(
                t,
                format!(
                    "the container engine at {} could not load the image: {e}",
                    self.endpoint
                ),
            ));
        }
        task.finish();
        Ok(text)
    }
}

impl Sink for DockerDaemonSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let t = self.target.as_str();
        check_not_empty(t, set)?;
        let image = pick(t, set)?;
        let all = collect_blobs(t, std::slice::from_ref(image), None, blobs)?;
        let entries = archive_entries(t, image, Some(&self.name), &all)?;
        let answer =
            self.load(|out| write_tar_to(t, out, Path::new("(the engine's stream)"), &entries))?;
        tracing::debug!(target = t, answer = %answer.trim(), "loaded");
        Ok(Published {
            target: self.target.clone(),
            // skopeo's name for an image in the engine; the digest is beside it.
            reference: format!("docker-daemon:{}", self.name.repo_tag()),
            digest: image.manifest.digest(),
            stats: None,
        })
    }
}

/// The image to load: the only one, or the host's (saying which were left out).
fn pick<'a>(t: &str, set: &'a ImageSet) -> Result<&'a Image, SinkError> {
    if let [one] = set.images.as_slice() {
        return Ok(one);
    }
    let all: Vec<String> = set.images.iter().map(|i| i.platform.to_string()).collect();
    let host = crate::platform::Platform::host();
    let Some(image) = host
        .as_ref()
        .and_then(|h| set.images.iter().find(|i| &i.platform == h))
    else {
        return Err(invalid(
            t,
            format!(
                "an engine holds one platform and none of {} is the host's; pass --platform with one of them",
                all.join(", ")
            ),
        ));
    };
    tracing::warn!(
        "{t}: an engine holds one platform of an image: loading {} (the host's), not {}",
        image.platform,
        all.iter()
            .filter(|p| **p != image.platform.to_string())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(image)
}

/// A `Write` that hands each buffer to the request body, counting the bytes on `task`.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    task: std::sync::Arc<Task>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.blocking_send(Ok(buf.to_vec())).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the engine stopped reading the archive",
            )
        })?;
        self.task.advance(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `message` of an engine's JSON error, else its answer as text.
fn engine_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.trim().to_string())
}

/// `POST /images/load` answers 200 and then reports a failure inside its stream of JSON
/// messages (`{"error": …}`, `{"errorDetail": …}`).
fn stream_error(text: &str) -> Option<String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .find_map(|v| {
            v.get("error")
                .or_else(|| v.get("errorDetail").and_then(|d| d.get("message")))
                .and_then(|e| e.as_str())
                .map(str::to_string)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///run/user/1000/podman/podman.sock"),
            Some(Endpoint::Unix("/run/user/1000/podman/podman.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375"),
            Some(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        for bad in ["unix://", "ssh://host", "/var/run/docker.sock", "tcp://"] {
            assert_eq!(Endpoint::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Endpoint::Tcp("h:1".into()).url("/_ping"),
            "http://h:1/_ping"
        );
    }

    #[test]
    fn engine_answers() {
        assert_eq!(
            stream_error("{\"stream\":\"Loaded image: app:1\\n\"}\n"),
            None
        );
        assert_eq!(
            stream_error(
                "{\"stream\":\"x\"}\r\n{\"errorDetail\":{\"message\":\"bad layer\"},\"error\":\"bad layer\"}"
            ),
            Some("bad layer".into())
        );
        assert_eq!(engine_message("{\"message\":\"no space\"}"), "no space");
        assert_eq!(engine_message("plain\n"), "plain");
    }
}

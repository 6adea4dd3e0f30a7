//! HTTP plumbing shared by the client: building TLS clients per host (extra CAs, certs.d,
//! insecure registries), retry timing, and turning a registry's error body into words.

use super::{RegistryError, RegistryOptions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One `{code, message}` from a registry's `{"errors": [...]}` body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

/// The registry's own error codes and messages, if the body has the spec's shape.
pub fn parse_error_body(body: &str) -> Vec<ApiError> {
    serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

/// A short, one-line description of an error body: `CODE: message` for spec errors, else the
/// start of the text (an HTML error page from a proxy, say).
pub fn describe_error_body(body: &str) -> String {
    let errors = parse_error_body(body);
    if !errors.is_empty() {
        return errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    text
}

/// `HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown`.
pub fn status_detail(status: StatusCode, body: &str) -> String {
    let said = describe_error_body(body);
    if said.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {said}")
    }
}

/// Statuses worth another try: rate limiting and a registry (or its proxy) having trouble.
pub fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from registries and is treated as
/// absent), capped so a misbehaving server cannot stall a publish for hours.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

/// Exponential backoff with up to 50% random jitter, so parallel uploads that failed together
/// do not retry together.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(6));
    let exp = exp.min(Duration::from_secs(20));
    let jitter_ms = (exp.as_millis() as u64 / 2).max(1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    exp + Duration::from_millis(h.finish() % jitter_ms)
}

/// A reqwest error and its causes on one line. reqwest's and hyper's own wrappers ("error
/// sending request for url (…)", "client error (Connect)") are left out when a cause follows:
/// the caller already names the registry and the request, and the cause is what helps.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut all: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        all.push(s.to_string());
        cur = s.source();
    }
    let wrapper = |t: &str| {
        t.starts_with("error sending request")
            || t.starts_with("client error (")
            || t.starts_with("error decoding response body")
            || t.starts_with("request or response body error")
    };
    let mut parts: Vec<String> = Vec::new();
    for (i, t) in all.iter().enumerate() {
        if wrapper(t) && i + 1 < all.len() {
            continue;
        }
        if !parts.iter().any(|p| p.contains(t.as_str())) {
            parts.push(t.clone());
        }
    }
    parts.join(": ")
}

/// Whether a failed request may succeed if sent again.
pub fn transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// The slowest transfer the overall deadline of a request allows for: a request may take ten
/// idle timeouts plus its body's size at this rate. The idle timeout catches a registry that
/// stopped; this catches one that trickles a byte now and then, without cutting off a large
/// blob on a slow link.
const MIN_RATE: u64 = 64 << 10;

/// How fast a registry is assumed to finish a blob it has received (verify its digest, move
/// it into its storage) before it answers: a large blob may keep it quiet that long.
const FINISH_RATE: u64 = 32 << 20;

/// The overall deadline of a request or download carrying `size` bytes.
pub fn deadline(idle: Duration, size: u64) -> Duration {
    idle.saturating_mul(10) + Duration::from_secs(size / MIN_RATE)
}

/// How a request stopped making progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stalled {
    /// Nothing was sent or received for this long.
    Idle(Duration),
    /// The request was still running at its overall deadline.
    Deadline(Duration),
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stalled::Idle(d) => write!(f, "no answer for {}", seconds(*d)),
            Stalled::Deadline(d) => write!(f, "not finished within {}", seconds(*d)),
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The progress of one request's body: the time of its last chunk and how much has gone out.
/// The request is idle when no chunk went out (while sending) or no answer came (after
/// sending) for the idle timeout.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    size: u64,
    sent: AtomicU64,
    /// Milliseconds from `start` to the last chunk handed to the connection.
    last_ms: AtomicU64,
}

impl Progress {
    /// A request about to send a body of `size` bytes (0 for none).
    pub fn new(size: u64) -> std::sync::Arc<Progress> {
        std::sync::Arc::new(Progress {
            start: Instant::now(),
            size,
            sent: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    /// The size of the body.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `n` more bytes were handed to the connection.
    pub fn sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// How long the request may be quiet now: the idle timeout while the body goes out; once
    /// it is all sent, also the time the registry may need to finish a blob of that size.
    fn quiet_limit(&self, idle: Duration) -> Duration {
        if self.sent.load(Ordering::Relaxed) < self.size {
            idle
        } else {
            idle + Duration::from_secs(self.size / FINISH_RATE)
        }
    }
}

/// `stream` (a request body), reporting each chunk to `progress` as the connection takes it.
pub fn tracked<S, T, E>(
    stream: S,
    progress: std::sync::Arc<Progress>,
) -> impl futures_util::Stream<Item = Result<T, E>>
where
    S: futures_util::Stream<Item = Result<T, E>>,
    T: AsRef<[u8]>,
{
    use futures_util::StreamExt;
    stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            progress.sent(c.as_ref().len());
        }
    })
}

/// Runs `fut` (sending a request and waiting for its answer's headers) until it finishes, the
/// request goes quiet for `idle` (see [`Progress`]), or `deadline` from the request's start.
pub async fn watch<F: std::future::Future>(
    fut: F,
    progress: &Progress,
    idle: Duration,
    deadline: Duration,
) -> Result<F::Output, Stalled> {
    let end = progress.start + deadline;
    tokio::pin!(fut);
    loop {
        let quiet = progress.quiet_limit(idle);
        let idle_at = progress.last() + quiet;
        let now = Instant::now();
        if now >= end {
            return Err(Stalled::Deadline(deadline));
        }
        if now >= idle_at {
            return Err(Stalled::Idle(quiet));
        }
        tokio::select! {
            out = &mut fut => return Ok(out),
            _ = tokio::time::sleep_until(idle_at.min(end).into()) => {}
        }
    }
}

/// The next chunk of an answer's body, or [`Stalled`] when none comes within `idle` or the
/// transfer passes `end`.
pub async fn next_chunk<S: futures_util::Stream + Unpin>(
    stream: &mut S,
    idle: Duration,
    started: Instant,
    deadline: Duration,
) -> Result<Option<S::Item>, Stalled> {
    use futures_util::StreamExt;
    let left = deadline.saturating_sub(started.elapsed());
    if left.is_zero() {
        return Err(Stalled::Deadline(deadline));
    }
    match tokio::time::timeout(idle.min(left), stream.next()).await {
        Ok(item) => Ok(item),
        Err(_) if left <= idle => Err(Stalled::Deadline(deadline)),
        Err(_) => Err(Stalled::Idle(idle)),
    }
}

/// PEM certificates from a file, with errors naming it.
pub fn load_pem(path: &Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| {
        RegistryError::Options(format!("reading CA certificate {}: {e}", path.display()))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        RegistryError::Options(format!(
            "CA certificate {} is not PEM: {}",
            path.display(),
            error_chain(&e)
        ))
    })?;
    if certs.is_empty() {
        return Err(RegistryError::Options(format!(
            "CA certificate file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The DER certificates of a PEM file, with errors naming it ([`load_pem`] has checked it
/// when the client was made; certs.d files are read only here).
fn load_der(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| {
        RegistryError::Options(format!("reading CA certificate {}: {e}", path.display()))
    })?;
    let certs = super::tls::pem_certificates(&bytes).map_err(|e| {
        RegistryError::Options(format!("CA certificate {} is not PEM: {e}", path.display()))
    })?;
    if certs.is_empty() {
        return Err(RegistryError::Options(format!(
            "CA certificate file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `DIR/HOST[:PORT]/*.crt` for each certs.d directory, sorted so the order is stable.
pub fn certs_d_files(dirs: &[PathBuf], host: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(d.join(host)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The HTTP client for one host: verified TLS with the system roots plus `--registry-ca` and
/// certs.d CAs, or (for `--insecure-registry` hosts) TLS without certificate checks.
pub fn build_client(
    host: &str,
    options: &RegistryOptions,
    insecure: bool,
) -> Result<reqwest::Client, RegistryError> {
    let mut certs = Vec::new();
    for f in &options.cas {
        certs.extend(load_der(f)?);
    }
    for f in certs_d_files(&options.certs_dirs, host) {
        tracing::debug!(host, file = %f.display(), "trusting CA from certs.d");
        certs.extend(load_der(&f)?);
    }
    super::tls::install_provider();
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("lade/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .tcp_keepalive(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        // Large uploads stream best on their own HTTP/1.1 connections; HTTP/2 would multiplex
        // parallel uploads through one connection's flow-control window.
        .http1_only();
    if insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    } else {
        // lade's own TLS configuration: reqwest's would refuse a given self-signed
        // certificate that says CA:TRUE when the server presents it, and would read the
        // system's certificate store even for a registry that turns out to speak plain HTTP
        // (see `tls`).
        let config = super::tls::client_config(certs).map_err(|e| {
            RegistryError::Options(format!("setting up HTTPS for {host}: {}", error_chain(&e)))
        })?;
        b = b.tls_backend_preconfigured(config);
    }
    b.build().map_err(|e| {
        RegistryError::Options(format!("setting up HTTPS for {host}: {}", error_chain(&e)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            status_detail(StatusCode::NOT_FOUND, body),
            "HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(
            describe_error_body("<html>\n<b>Bad   gateway</b></html>"),
            "<html> <b>Bad gateway</b></html>"
        );
        assert_eq!(
            status_detail(StatusCode::BAD_GATEWAY, ""),
            "HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        assert!(backoff(base, 0) >= base && backoff(base, 0) < base * 2);
        assert!(backoff(base, 3) >= base * 8);
        assert!(backoff(base, 30) <= Duration::from_secs(30));
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    #[tokio::test]
    async fn a_quiet_request_stalls_and_a_busy_upload_does_not() {
        let ms = Duration::from_millis;
        let idle = ms(200);
        // Nothing sent, no answer: idle after 200 ms.
        let p = Progress::new(0);
        let never = std::future::pending::<()>();
        assert_eq!(
            watch(never, &p, idle, deadline(idle, 0)).await,
            Err(Stalled::Idle(idle))
        );
        // An upload whose body keeps moving for longer than the idle timeout is not cut off,
        // and an answer that comes within the idle timeout after the last chunk is taken.
        let p = Progress::new(10);
        let feeder = {
            let p = p.clone();
            async move {
                for _ in 0..10 {
                    tokio::time::sleep(ms(60)).await;
                    p.sent(1);
                }
                tokio::time::sleep(ms(100)).await;
                "created"
            }
        };
        assert_eq!(
            watch(feeder, &p, idle, deadline(idle, 10)).await,
            Ok("created")
        );
        // A trickle keeps the idle timeout away but not the deadline.
        let p = Progress::new(1 << 30);
        let trickle = {
            let p = p.clone();
            async move {
                loop {
                    tokio::time::sleep(ms(50)).await;
                    p.sent(1);
                }
            }
        };
        let d = deadline(idle, 0);
        assert_eq!(d, ms(2000));
        assert_eq!(watch(trickle, &p, idle, d).await, Err(Stalled::Deadline(d)));
        assert_eq!(
            deadline(Duration::from_secs(30), 1 << 30),
            Duration::from_secs(300 + 16384)
        );
        assert_eq!(
            Stalled::Idle(Duration::from_secs(30)).to_string(),
            "no answer for 30 s"
        );
    }

    #[test]
    fn certs_d_lookup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("reg.example:5000")).unwrap();
        std::fs::write(d.path().join("reg.example:5000/ca.crt"), "x").unwrap();
        std::fs::write(d.path().join("reg.example:5000/client.key"), "x").unwrap();
        let files = certs_d_files(&[d.path().to_path_buf()], "reg.example:5000");
        assert_eq!(files, vec![d.path().join("reg.example:5000/ca.crt")]);
        assert!(certs_d_files(&[d.path().to_path_buf()], "other").is_empty());
    }
}

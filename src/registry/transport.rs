//! HTTP plumbing shared by the client: building TLS clients per host (extra CAs, certs.d,
//! insecure registries), retry timing, and turning a registry's error body into words.

use super::{RegistryError, RegistryOptions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        certs.extend(load_pem(f)?);
    }
    for f in certs_d_files(&options.certs_dirs, host) {
        tracing::debug!(host, file = %f.display(), "trusting CA from certs.d");
        certs.extend(load_pem(&f)?);
    }
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("lade/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .tcp_keepalive(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        // Large uploads stream best on their own HTTP/1.1 connections; HTTP/2 would multiplex
        // parallel uploads through one connection's flow-control window.
        .http1_only();
    if !certs.is_empty() {
        b = b.tls_certs_merge(certs);
    }
    if insecure {
        b = b.tls_danger_accept_invalid_certs(true);
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

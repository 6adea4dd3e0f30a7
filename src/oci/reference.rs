//! Image references as Docker normalizes them: `app` is `docker.io/library/app:latest`,
//! `team/app:1` is `docker.io/team/app:1`, and the first component is a registry only when it
//! looks like a host (`.` or `:` in it, or `localhost`).

use crate::digest::Digest;
use std::fmt;
use std::str::FromStr;

/// The registry Docker Hub images are named under.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API actually answers.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, lowercase; `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path inside the registry (`library/alpine`, `team/app`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference '{reference}': {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let bad = |reason: &str| ReferenceError {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let input = s.strip_prefix("docker://").unwrap_or(s);
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.len() > 4096 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let d: Digest = d.parse().map_err(|_| {
                    bad("the part after '@' must be a digest sha256:<64 lowercase hex digits>")
                })?;
                (r, Some(d))
            }
            None => (input, None),
        };
        // A tag is after the last ':' only when no '/' follows it (`host:5000/app` has none).
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(bad(
                "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_host(first) => (first.to_ascii_lowercase(), path),
            _ => (DOCKER_HUB.to_string(), name),
        };
        if !valid_host(&registry) {
            return Err(bad("the registry must be HOST or HOST:PORT"));
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                DOCKER_HUB.to_string()
            }
            _ => registry,
        };
        if path.is_empty() {
            return Err(bad("no repository name"));
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(bad(&format!(
                    "repository component '{component}' must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
                )));
            }
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The tag or digest to ask the registry for: the digest when there is one (it pins the
    /// content), else the tag, else `latest`.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The tag, or `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository at `digest` (`registry/repo@sha256:…`).
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// The same repository at `tag`.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The host (and port) lade connects to for `registry`: Docker Hub's API is not at `docker.io`.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// Whether `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn looks_like_host(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.starts_with('[')
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

pub(crate) fn valid_host(h: &str) -> bool {
    if let Some(rest) = h.strip_prefix('[') {
        // [IPv6]:port
        let Some((addr, port)) = rest.split_once(']') else {
            return false;
        };
        return addr.parse::<std::net::Ipv6Addr>().is_ok()
            && (port.is_empty() || port.strip_prefix(':').is_some_and(valid_port));
    }
    let (host, port) = match h.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && port.is_none_or(valid_port)
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
pub(crate) fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `host[:port]` names this machine: such registries may be reached over plain HTTP
/// without `--insecure-registry`, as Docker allows.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_without_port(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

/// `host:port` → `host`; `[::1]:5000` → `[::1]`.
pub fn host_without_port(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.find(']').map_or(registry, |i| &registry[..=i]);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Whether two registry names are the same, counting Docker Hub's aliases.
pub fn same_registry(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.to_ascii_lowercase();
        match s.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                DOCKER_HUB.to_string()
            }
            _ => s,
        }
    };
    norm(a) == norm(b)
}

/// An OCI layout reference's `PATH:TAG` (after `oci:`) → (PATH, Some(TAG)); a trailing
/// component with a `/` is part of the path.
pub fn split_path_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((p, t)) if !t.is_empty() && !t.contains('/') && !p.is_empty() => (p, Some(t)),
        _ => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_defaults() {
        let r = p("alpine");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/alpine");
        assert_eq!(r.tag, None);
        assert_eq!(r.reference(), "latest");
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        let r = p("team/app:1.4");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "team/app")
        );
        assert_eq!(r.tag.as_deref(), Some("1.4"));
        assert_eq!(p("index.docker.io/library/busybox").registry, "docker.io");
        assert_eq!(p("docker.io/busybox").repository, "library/busybox");
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    }

    #[test]
    fn hosts_ports_tags_digests() {
        let r = p("localhost:5000/team/app:1.4.0");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.4.0"));
        let r = p("localhost:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost:5000", None)
        );
        let d = "sha256:".to_string() + &"a".repeat(64);
        let r = p(&format!("gcr.io/distroless/static-debian12:nonroot@{d}"));
        assert_eq!(r.registry, "gcr.io");
        assert_eq!(r.repository, "distroless/static-debian12");
        assert_eq!(r.tag.as_deref(), Some("nonroot"));
        assert_eq!(r.reference(), d);
        assert_eq!(
            r.to_string(),
            format!("gcr.io/distroless/static-debian12:nonroot@{d}")
        );
        assert_eq!(p("localhost/app").registry, "localhost");
        assert_eq!(p("[::1]:5000/app").registry, "[::1]:5000");
        assert_eq!(p("docker://quay.io/a/b:c").registry, "quay.io");
        assert_eq!(p("Registry.Example.com/a").registry, "registry.example.com");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "App",
            "host:5000/",
            "a//b",
            "a/b:",
            "a/b:-x",
            "a@sha256:abc",
            "a b",
            "host:99999/a",
            "a/-b",
            "a/b_/c",
            "a/b...c",
            &format!("a:{}", "x".repeat(129)),
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
        assert!(p("a/b__c/d-e--f.g").repository.ends_with("d-e--f.g"));
    }

    #[test]
    fn loopback() {
        for h in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "LOCALHOST",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}

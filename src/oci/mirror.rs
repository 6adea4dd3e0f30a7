//! Pull mirrors (`--registry-mirror FROM=TO`, `LADE_REGISTRY_MIRRORS`, lade.toml's
//! `[registry] mirrors`): how they are written and which repositories they cover.

use super::reference::{DOCKER_HUB, same_registry, valid_component, valid_host};
use std::str::FromStr;

/// A pull mirror: `FROM` is a registry (`gcr.io`) or a registry and namespace
/// (`gcr.io/distroless`); `TO` is where the same repositories are found (`mirror:5000`, or
/// `mirror:5000/gcr` to put them under a prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub from_registry: String,
    pub from_prefix: Option<String>,
    pub to_registry: String,
    pub to_prefix: Option<String>,
}

impl Mirror {
    /// The mirror's name for `registry/repository`, if this mirror covers it.
    pub fn map(&self, registry: &str, repository: &str) -> Option<(String, String)> {
        if !same_registry(&self.from_registry, registry) {
            return None;
        }
        let rest = match &self.from_prefix {
            None => repository,
            Some(p) if repository == p => "",
            Some(p) => repository.strip_prefix(&format!("{p}/"))?,
        };
        let repo = match (&self.to_prefix, rest) {
            (Some(t), "") => t.clone(),
            (Some(t), r) => format!("{t}/{r}"),
            (None, r) if !r.is_empty() => r.to_string(),
            (None, _) => return None,
        };
        Some((self.to_registry.clone(), repo))
    }
}

impl FromStr for Mirror {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (from, to) = s.split_once('=').ok_or_else(|| {
            format!("mirror '{s}' must be FROM=TO (e.g. docker.io=mirror.internal:5000)")
        })?;
        let split = |part: &str| -> Result<(String, Option<String>), String> {
            let part = part
                .trim()
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let (host, prefix) = match part.split_once('/') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p.to_string())),
                None => (part.to_ascii_lowercase(), None),
            };
            if !valid_host(&host) {
                return Err(format!("mirror '{s}': '{host}' is not HOST or HOST:PORT"));
            }
            if let Some(p) = &prefix
                && !p.split('/').all(valid_component)
            {
                return Err(format!("mirror '{s}': '{p}' is not a repository path"));
            }
            let host = if same_registry(&host, DOCKER_HUB) {
                DOCKER_HUB.to_string()
            } else {
                host
            };
            Ok((host, prefix))
        };
        let (from_registry, from_prefix) = split(from)?;
        let (to_registry, to_prefix) = split(to)?;
        Ok(Mirror {
            from_registry,
            from_prefix,
            to_registry,
            to_prefix,
        })
    }
}

/// Parses `FROM=TO,FROM=TO`.
pub fn parse_mirror_list(s: &str) -> Result<Vec<Mirror>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors() {
        let m: Mirror = "gcr.io=mirror.internal:5000".parse().unwrap();
        assert_eq!(
            m.map("gcr.io", "distroless/static"),
            Some(("mirror.internal:5000".into(), "distroless/static".into()))
        );
        assert_eq!(m.map("ghcr.io", "x/y"), None);
        let m: Mirror = "docker.io=localhost:5000/hub".parse().unwrap();
        assert_eq!(
            m.map("docker.io", "library/alpine"),
            Some(("localhost:5000".into(), "hub/library/alpine".into()))
        );
        let m: Mirror = "gcr.io/distroless=m.example/d".parse().unwrap();
        assert_eq!(
            m.map("gcr.io", "distroless/static"),
            Some(("m.example".into(), "d/static".into()))
        );
        assert_eq!(m.map("gcr.io", "other/static"), None);
        assert!("nonsense".parse::<Mirror>().is_err());
        assert!("a=b c".parse::<Mirror>().is_err());
        let list = parse_mirror_list("gcr.io=m1:5000, docker.io=m2").unwrap();
        assert_eq!(list.len(), 2);
    }
}

//! Parsing `--to` values: `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`,
//! `docker-archive:PATH[:NAME[:TAG]]`, `docker-daemon:NAME[:TAG]`,
//! `[docker://]REGISTRY/REPO[:TAG]`.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    OciLayout {
        path: PathBuf,
        tag: String,
    },
    OciArchive {
        path: PathBuf,
        tag: String,
    },
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// An image loaded into the local Docker or Podman engine, named `NAME[:TAG]`.
    DockerDaemon {
        reference: String,
    },
    /// A registry reference, kept as written (without `docker://`).
    Registry {
        reference: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "--to '{0}': unknown transport '{1}'; use oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:NAME:TAG], docker-daemon:NAME[:TAG] or a registry reference REGISTRY/REPO[:TAG]"
    )]
    UnknownTransport(String, String),
    #[error("--to '{0}': {1}")]
    Invalid(String, String),
}

/// What a tag may be (the OCI distribution and Docker grammar), for messages.
pub const TAG_GRAMMAR: &str =
    "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'";

/// Whether `tag` may name an image in every kind of output: a tag a layout would accept but a
/// registry would not must be refused before building, whatever the output.
pub fn valid_tag(tag: &str) -> bool {
    crate::oci::reference::valid_tag(tag)
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        let bad = |why: &str| TargetError::Invalid(s.to_string(), why.to_string());
        if let Some(rest) = s.strip_prefix("oci:") {
            let (path, tag) = crate::oci::reference::split_path_tag(rest);
            if path.is_empty() {
                return Err(bad("no directory given; write oci:DIR[:TAG]"));
            }
            if let Some(t) = tag.filter(|t| !valid_tag(t)) {
                return Err(bad(&format!("invalid tag '{t}': {TAG_GRAMMAR}")));
            }
            return Ok(Target::OciLayout {
                path: path.into(),
                tag: tag.unwrap_or("latest").into(),
            });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (path, tag) = crate::oci::reference::split_path_tag(rest);
            if path.is_empty() {
                return Err(bad("no file given; write oci-archive:FILE[:TAG]"));
            }
            if let Some(t) = tag.filter(|t| !valid_tag(t)) {
                return Err(bad(&format!("invalid tag '{t}': {TAG_GRAMMAR}")));
            }
            return Ok(Target::OciArchive {
                path: path.into(),
                tag: tag.unwrap_or("latest").into(),
            });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) if !r.is_empty() => (p, Some(r.to_string())),
                _ => (rest, None),
            };
            if path.is_empty() {
                return Err(bad("no file given; write docker-archive:FILE[:NAME:TAG]"));
            }
            return Ok(Target::DockerArchive {
                path: path.into(),
                reference,
            });
        }
        if let Some(rest) = s.strip_prefix("docker-daemon:") {
            if rest.is_empty() {
                return Err(bad("no image name given; write docker-daemon:NAME[:TAG]"));
            }
            return Ok(Target::DockerDaemon {
                reference: rest.to_string(),
            });
        }
        let reference = s.strip_prefix("docker://").unwrap_or(s);
        // A path is not a registry reference: say which transport it needs.
        if reference == s
            && (s == "." || s == ".." || ["./", "../", "/", "~"].iter().any(|p| s.starts_with(p)))
        {
            return Err(bad(&format!(
                "a path needs a transport: did you mean oci:{s} (an OCI layout directory)?"
            )));
        }
        if let Some((scheme, rest)) = reference.split_once(':') {
            // `host:port/…` is a registry; any other `word:` prefix is a transport lade lacks.
            let is_port = rest.split('/').next().is_some_and(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && rest.contains('/')
            });
            let looks_like_transport = !scheme.contains('/') && !scheme.contains('.') && !is_port;
            if looks_like_transport && scheme != "localhost" {
                return Err(TargetError::UnknownTransport(
                    s.to_string(),
                    scheme.to_string(),
                ));
            }
        }
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(bad("not a valid registry reference"));
        }
        // Said now, with the flag, rather than later as a bare reference error.
        if let Err(e) = crate::oci::Reference::parse(reference) {
            return Err(bad(&e.reason));
        }
        Ok(Target::Registry {
            reference: reference.to_string(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::OciLayout { path, tag } => write!(f, "oci:{}:{tag}", path.display()),
            Target::OciArchive { path, tag } => write!(f, "oci-archive:{}:{tag}", path.display()),
            Target::DockerArchive {
                path,
                reference: Some(r),
            } => {
                write!(f, "docker-archive:{}:{r}", path.display())
            }
            Target::DockerArchive {
                path,
                reference: None,
            } => {
                write!(f, "docker-archive:{}", path.display())
            }
            Target::DockerDaemon { reference } => write!(f, "docker-daemon:{reference}"),
            Target::Registry { reference } => f.write_str(reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        assert_eq!(
            Target::parse("oci:./out:v1").unwrap(),
            Target::OciLayout {
                path: "./out".into(),
                tag: "v1".into()
            }
        );
        assert_eq!(
            Target::parse("oci:./out").unwrap(),
            Target::OciLayout {
                path: "./out".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            Target::parse("docker-archive:app.tar:app:1").unwrap(),
            Target::DockerArchive {
                path: "app.tar".into(),
                reference: Some("app:1".into())
            }
        );
        for reg in [
            "localhost:5000/app:1",
            "docker://ghcr.io/a/b",
            "registry.example.com/team/app:1.0",
            "localhost/app",
        ] {
            assert!(
                matches!(Target::parse(reg).unwrap(), Target::Registry { .. }),
                "{reg}"
            );
        }
        assert_eq!(
            Target::parse("docker-daemon:team/app:1").unwrap(),
            Target::DockerDaemon {
                reference: "team/app:1".into()
            }
        );
        assert!(matches!(
            Target::parse("docker-daemon:"),
            Err(TargetError::Invalid(..))
        ));
        assert!(
            matches!(Target::parse("ftp:./x"), Err(TargetError::UnknownTransport(_, t)) if t == "ftp")
        );
        assert!(matches!(
            Target::parse("dir:/tmp/x"),
            Err(TargetError::UnknownTransport(..))
        ));
        assert!(
            matches!(Target::parse("./out"), Err(TargetError::Invalid(_, why)) if why.contains("oci:./out"))
        );
        for bad in [
            "oci:./out:bad tag!",
            "oci-archive:a.tar:-x",
            "oci:./o:.hidden",
            "/tmp/x",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(TargetError::Invalid(..))),
                "{bad}"
            );
        }
    }
}

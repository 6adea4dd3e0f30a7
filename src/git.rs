//! Facts from git for reproducible builds and image annotations, read by running the `git`
//! command (no libgit2).
//!
//! # API
//! - [`Source::read`]`(dir) -> Source`: HEAD's committer time (Unix seconds), its full commit
//!   id (for `org.opencontainers.image.revision` and provenance) and the `origin` remote as a
//!   browsable URL with any credentials removed (for `org.opencontainers.image.source`; see
//!   [`sanitize_url`]), from two git commands run side by side, once per publish.
//! - [`Source::date_epoch`]`() -> Result<u64, GitError>`: the timestamp a build uses:
//!   `SOURCE_DATE_EPOCH` when set (an empty value counts as unset; anything but a whole
//!   number of seconds is an error naming the variable), else HEAD's commit time, else 0.
//! - [`source_date_epoch_or_zero`]`() -> Result<u64, GitError>`: the same without a commit to
//!   fall back on (Debian bases): `SOURCE_DATE_EPOCH`, else 0.
//!
//! A directory outside any git repository, a repository without commits or remote, or a
//! machine without git gives `None`: these facts are optional, so their absence is not an
//! error. git runs as `git -C dir …` with `GIT_TERMINAL_PROMPT=0` (a remote never prompts)
//! and `GIT_OPTIONAL_LOCKS=0` (reading never takes the index lock a concurrent git command
//! might need), with its output captured, never printed.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// The variable of the reproducible-builds specification.
pub const SOURCE_DATE_EPOCH: &str = crate::env::SOURCE_DATE_EPOCH.name();

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{SOURCE_DATE_EPOCH}='{value}' is not a whole number of seconds since 1970-01-01; set it to e.g. $(git log -1 --format=%ct) or unset it"
    )]
    BadSourceDateEpoch { value: String },
}

/// What a publish records of the project's commit, read once: HEAD's committer time, its id
/// and the `origin` remote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    pub commit_time: Option<u64>,
    pub revision: Option<String>,
    pub url: Option<String>,
}

impl Source {
    /// Runs the two git commands it needs side by side: each start of git costs a few
    /// milliseconds, a good part of a publish that changed one source file.
    pub fn read(dir: &Path) -> Source {
        Source::start(dir).finish()
    }

    /// [`Source::read`] in two halves: git runs while the caller does something else (a
    /// publish asks the registry its first question meanwhile).
    pub fn start(dir: &Path) -> Reading {
        Reading {
            head: spawn(dir, &["log", "-1", "--format=%ct%n%H"]),
            url: spawn(dir, &["remote", "get-url", "origin"]),
        }
    }

    /// `SOURCE_DATE_EPOCH` if set, else HEAD's commit time, else 0.
    pub fn date_epoch(&self) -> Result<u64, GitError> {
        epoch_from(crate::env::var_os(crate::env::SOURCE_DATE_EPOCH), || {
            self.commit_time
        })
    }
}

/// The git commands [`Source::start`] started.
pub struct Reading {
    head: Option<std::process::Child>,
    url: Option<std::process::Child>,
}

impl Reading {
    /// Waits for git and reads what it printed.
    pub fn finish(self) -> Source {
        let head = self.head.and_then(output).unwrap_or_default();
        let mut lines = head.lines();
        let commit_time = lines.next().and_then(|t| t.parse().ok());
        let revision = lines.next().and_then(commit_id);
        Source {
            commit_time,
            revision,
            url: self.url.and_then(output).as_deref().and_then(sanitize_url),
        }
    }
}

fn commit_id(rev: &str) -> Option<String> {
    let hex = rev.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && (rev.len() == 40 || rev.len() == 64)).then(|| rev.to_string())
}

/// `SOURCE_DATE_EPOCH` if set, else 0: for what is not built from a commit (Debian bases).
pub fn source_date_epoch_or_zero() -> Result<u64, GitError> {
    epoch_from(crate::env::var_os(crate::env::SOURCE_DATE_EPOCH), || None)
}

/// [`source_date_epoch`] with the variable's value passed in (tests cannot safely change the
/// process environment).
fn epoch_from(
    value: Option<OsString>,
    commit_time: impl FnOnce() -> Option<u64>,
) -> Result<u64, GitError> {
    match value {
        Some(v) if !v.is_empty() => {
            let s = v.to_string_lossy();
            // Digits only: u64's parser would also take a leading `+`.
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GitError::BadSourceDateEpoch {
                    value: s.into_owned(),
                });
            }
            s.parse().map_err(|_| GitError::BadSourceDateEpoch {
                value: s.into_owned(),
            })
        }
        _ => Ok(commit_time().unwrap_or(0)),
    }
}

/// A remote URL as something safe to publish and open in a browser, or `None` for local
/// paths and `file://` URLs (they mean nothing outside this machine):
/// - user names, passwords and tokens are dropped (`https://user:token@host/x` →
///   `https://host/x`), as are query strings and fragments (some hosts take tokens there);
/// - scp-style `git@host:org/repo` and `ssh://`/`git://` URLs become `https://host/org/repo`
///   (an ssh port is not the web server's, so it is dropped);
/// - a trailing `.git` and trailing slashes are removed.
pub fn sanitize_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        let web = match scheme.as_str() {
            "https" | "http" => true,
            "ssh" | "git" | "git+ssh" | "ssh+git" => false,
            _ => return None,
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if web { host } else { strip_port(host) };
        let scheme = if web { scheme } else { "https".to_string() };
        (scheme, host.to_string(), path.to_string())
    } else {
        // scp-like syntax, as git reads it: a `:` with no `/` before it. A single letter
        // before the colon is a Windows drive, not a host.
        let (left, path) = url.split_once(':')?;
        if left.is_empty() || left.contains('/') || left.len() == 1 {
            return None;
        }
        let host = left.rsplit_once('@').map_or(left, |(_, h)| h);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        ("https".to_string(), host.to_string(), path.to_string())
    };
    if host.is_empty() {
        return None;
    }
    let mut path = path.trim_matches('/');
    if let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/');
    }
    Some(if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    })
}

/// `host:22` → `host`; `[::1]:22` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.split(':').next().unwrap_or(host)
}

/// Starts `git -C dir ARGS…` with its output captured (`None`: no git on this machine).
fn spawn(dir: &Path, args: &[&str]) -> Option<std::process::Child> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()
}

/// A started git's trimmed stdout, if it succeeded with some output.
fn output(child: std::process::Child) -> Option<String> {
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=lade test",
                "-c",
                "user.email=test@lade.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .env("GIT_COMMITTER_DATE", "1700000000 +0000")
            .env("GIT_AUTHOR_DATE", "1600000000 +0000")
            .output()
            .expect("this test needs the `git` command");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn facts_from_a_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(
            Source::read(dir).commit_time,
            None,
            "{} is inside a git repository",
            dir.display()
        );
        assert_eq!(Source::read(dir).revision, None);
        assert_eq!(Source::read(dir).url, None);
        assert_eq!(Source::read(dir), Source::default());

        git_in(dir, &["init", "-q"]);
        assert_eq!(Source::read(dir).commit_time, None, "no commits yet");
        assert_eq!(Source::read(dir).revision, None);
        assert_eq!(Source::read(dir), Source::default());

        git_in(dir, &["commit", "-q", "--allow-empty", "-m", "first"]);
        // The committer time, not the author time.
        assert_eq!(Source::read(dir).commit_time, Some(1_700_000_000));
        let head = git_in(dir, &["rev-parse", "HEAD"]);
        assert_eq!(Source::read(dir).revision, Some(head.clone()));
        assert_eq!(Source::read(dir).url, None, "no origin remote");

        git_in(
            dir,
            &[
                "remote",
                "add",
                "origin",
                "https://ci:s3cret@git.example.com/team/app.git",
            ],
        );
        assert_eq!(
            Source::read(dir).url.as_deref(),
            Some("https://git.example.com/team/app")
        );
        assert_eq!(
            Source::read(dir),
            Source {
                commit_time: Some(1_700_000_000),
                revision: Some(head),
                url: Some("https://git.example.com/team/app".into()),
            }
        );
        // A subdirectory of the work tree reads the same repository.
        std::fs::create_dir(dir.join("sub")).unwrap();
        assert_eq!(
            Source::read(&dir.join("sub")).commit_time,
            Some(1_700_000_000)
        );
    }

    #[test]
    fn urls_lose_credentials() {
        let cases = [
            (
                "https://github.com/org/repo",
                Some("https://github.com/org/repo"),
            ),
            (
                "https://user:token@github.com/org/repo.git",
                Some("https://github.com/org/repo"),
            ),
            (
                "https://x-access-token:ghs_abc@github.com/o/r",
                Some("https://github.com/o/r"),
            ),
            (
                "https://oauth2:tok@gitlab.com/g/sub/r.git?private_token=x#f",
                Some("https://gitlab.com/g/sub/r"),
            ),
            ("http://host:8080/x/y.git/", Some("http://host:8080/x/y")),
            ("HTTPS://Host.example/x", Some("https://Host.example/x")),
            (
                "git@github.com:org/repo.git",
                Some("https://github.com/org/repo"),
            ),
            ("github.com:org/repo", Some("https://github.com/org/repo")),
            (
                "ssh://git@gitlab.example.com:2222/group/repo.git",
                Some("https://gitlab.example.com/group/repo"),
            ),
            ("git+ssh://git@[::1]:22/r.git", Some("https://[::1]/r")),
            ("git://host/x.git", Some("https://host/x")),
            ("https://host", Some("https://host")),
            ("/srv/git/repo.git", None),
            ("../other", None),
            ("file:///srv/repo.git", None),
            ("C:/repos/x", None),
            ("", None),
            ("https://user@/x", None),
        ];
        for (url, want) in cases {
            assert_eq!(sanitize_url(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn source_date_epoch_precedence() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(epoch_from(os("1234"), || Some(99)).unwrap(), 1234);
        assert_eq!(epoch_from(os("0"), || Some(99)).unwrap(), 0);
        assert_eq!(
            epoch_from(os(""), || Some(99)).unwrap(),
            99,
            "empty is unset"
        );
        assert_eq!(epoch_from(None, || Some(99)).unwrap(), 99);
        assert_eq!(epoch_from(None, || None).unwrap(), 0);
        for bad in ["abc", "-5", "+5", " 12", "1.5", "99999999999999999999999"] {
            let err = epoch_from(os(bad), || Some(99)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("SOURCE_DATE_EPOCH='{bad}'")),
                "{err}"
            );
        }
    }
}

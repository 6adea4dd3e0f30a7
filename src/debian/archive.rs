//! The Debian archive as lade reads it: each suite's InRelease (signature checked), then the
//! `Packages` index it lists (SHA256 checked), merged into one [`Index`] per architecture.

use super::error::{DebianError, io_err};
use super::fetch::{Fetcher, Want};
use super::index::Index;
use super::release::{self, Release};
use super::signature::{self, Keyring};
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// The Debian release lade builds bases from.
pub const CODENAME: &str = "bookworm";
pub const COMPONENT: &str = "main";

/// The default `--debian-mirror`.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// InRelease files are ~150 KiB; anything far bigger is not one.
const MAX_RELEASE: u64 = 16 << 20;

/// Where each suite is fetched from.
#[derive(Clone, Debug)]
pub struct Mirrors {
    pub main: String,
    /// The `debian-security` archive; `None` leaves security updates out (with a warning).
    pub security: Option<String>,
}

impl Mirrors {
    /// The security archive sits beside the main one on Debian's own mirrors
    /// (`…/debian` → `…/debian-security`); elsewhere it must be given.
    pub fn from_main(main: &str, security: Option<&str>) -> Mirrors {
        let main = main.trim_end_matches('/').to_string();
        let security = match security {
            Some(s) => Some(s.trim_end_matches('/').to_string()),
            None => main
                .strip_suffix("/debian")
                .map(|root| format!("{root}/debian-security")),
        };
        Mirrors { main, security }
    }
}

/// How one suite was read, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub url: String,
    /// `Date:` of the Release file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The key that signed it; `None` when lade did not check the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
}

struct Suite {
    name: String,
    /// Archive root URL (`…/debian` or `…/debian-security`).
    root: String,
    release: Release,
}

pub struct Archive<'a> {
    fetcher: &'a Fetcher,
    suites: Vec<Suite>,
}

/// What opening the archive found: the suites read and any suite left out.
pub struct Opened<'a> {
    pub archive: Archive<'a>,
    pub suites: Vec<SuiteReport>,
    pub warnings: Vec<String>,
}

impl<'a> Archive<'a> {
    /// Reads the Release of bookworm, bookworm-updates and bookworm-security. The first two
    /// must be there; the security suite is left out with a warning when it cannot be read.
    /// `keyring: None` skips signature checks (reported as such). `now` (Unix seconds) is
    /// compared with `Valid-Until`.
    pub fn open(
        fetcher: &'a Fetcher,
        mirrors: &Mirrors,
        keyring: Option<&Keyring>,
        now: u64,
    ) -> Result<Opened<'a>, DebianError> {
        let mut suites = Vec::new();
        let mut reports = Vec::new();
        let mut warnings = Vec::new();
        let wanted = [
            (CODENAME.to_string(), Some(mirrors.main.clone())),
            (format!("{CODENAME}-updates"), Some(mirrors.main.clone())),
            (format!("{CODENAME}-security"), mirrors.security.clone()),
        ];
        for (i, (name, root)) in wanted.into_iter().enumerate() {
            let is_security = i == 2;
            let Some(root) = root else {
                warnings.push(format!(
                    "{name} left out: --debian-mirror {} has no sibling debian-security archive; give --debian-security-mirror to include security updates",
                    mirrors.main
                ));
                continue;
            };
            match read_release(fetcher, &root, &name, keyring, now) {
                Ok((release, report)) => {
                    suites.push(Suite {
                        name,
                        root,
                        release,
                    });
                    reports.push(report);
                }
                // Security updates are worth a loud warning, not a failed build: a mirror
                // without debian-security is common in closed networks.
                Err(e) if is_security && is_unreachable(&e) => {
                    warnings.push(format!(
                        "{name} left out, security updates are missing: {e}"
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Opened {
            archive: Archive { fetcher, suites },
            suites: reports,
            warnings,
        })
    }

    /// The merged index of every suite for `arch`.
    pub fn index(&self, arch: &str) -> Result<Index, DebianError> {
        let mut index = Index::new(arch);
        for s in &self.suites {
            let dir = format!("{COMPONENT}/binary-{arch}");
            let suite_url = format!("{}/dists/{}", s.root, s.name);
            if !s.release.architectures.is_empty()
                && !s.release.architectures.iter().any(|a| a == arch)
            {
                return Err(DebianError::Index {
                    url: format!("{suite_url}/InRelease"),
                    detail: format!("the suite has no {arch} packages"),
                });
            }
            let Some((name, file)) =
                ["Packages.gz", "Packages.xz", "Packages"]
                    .iter()
                    .find_map(|n| {
                        let path = format!("{dir}/{n}");
                        s.release.files.get(&path).map(|f| (*n, f.clone()))
                    })
            else {
                return Err(DebianError::Index {
                    url: format!("{suite_url}/InRelease"),
                    detail: format!("lists no {dir}/Packages index"),
                });
            };
            let plain = format!("{suite_url}/{dir}/{name}");
            let mut urls = Vec::new();
            if s.release.acquire_by_hash {
                urls.push(format!("{suite_url}/{dir}/by-hash/SHA256/{}", file.sha256));
            }
            urls.push(plain.clone());
            let (paths, _) = self.fetcher.ensure(&[Want {
                urls,
                sha256: file.sha256.clone(),
                size: file.size,
                what: plain.clone(),
            }])?;
            let text = decompress_text(&paths[0], name)?;
            index
                .add(&text, &s.name)
                .map_err(|detail| DebianError::Index {
                    url: plain.clone(),
                    detail,
                })?;
        }
        Ok(index)
    }
}

/// The archive root for a suite without reading it: what a lock file needs.
pub fn root_for_suite<'m>(mirrors: &'m Mirrors, suite: &str) -> Option<&'m str> {
    if suite.ends_with("-security") {
        mirrors.security.as_deref()
    } else {
        Some(mirrors.main.as_str())
    }
}

fn is_unreachable(e: &DebianError) -> bool {
    matches!(e, DebianError::Fetch { .. } | DebianError::Http { .. })
}

/// InRelease, or Release + Release.gpg where a mirror has no InRelease.
fn read_release(
    fetcher: &Fetcher,
    root: &str,
    suite: &str,
    keyring: Option<&Keyring>,
    now: u64,
) -> Result<(Release, SuiteReport), DebianError> {
    let base = format!("{root}/dists/{suite}");
    let inrelease = format!("{base}/InRelease");
    let (text, verified_by, url) = match fetcher.text(&inrelease, MAX_RELEASE)? {
        Some(data) => match keyring {
            Some(k) => {
                let v = signature::verify_inrelease(k, &data).map_err(|detail| {
                    DebianError::Signature {
                        url: inrelease.clone(),
                        detail,
                    }
                })?;
                (v.text, Some(v.signer), inrelease)
            }
            None => (strip_clearsign(&data), None, inrelease),
        },
        None => {
            let url = format!("{base}/Release");
            let data = fetcher.text(&url, MAX_RELEASE)?.ok_or(DebianError::Http {
                url: inrelease.clone(),
                status: 404,
            })?;
            let signer = match keyring {
                Some(k) => {
                    let sig_url = format!("{base}/Release.gpg");
                    let sig = fetcher.text(&sig_url, 1 << 20)?.ok_or(DebianError::Http {
                        url: sig_url.clone(),
                        status: 404,
                    })?;
                    Some(
                        signature::verify_detached(k, data.as_bytes(), sig.as_bytes()).map_err(
                            |detail| DebianError::Signature {
                                url: sig_url,
                                detail,
                            },
                        )?,
                    )
                }
                None => None,
            };
            (data, signer, url)
        }
    };
    let release = release::parse(&text).map_err(|detail| DebianError::Index {
        url: url.clone(),
        detail,
    })?;
    // A validly signed Release of another release (an old one replayed, or a mirror pointing
    // the suite elsewhere) must not be taken for bookworm.
    if release.codename != suite {
        return Err(DebianError::Index {
            url,
            detail: format!(
                "is for {} ({}), not {suite}",
                release.codename, release.suite
            ),
        });
    }
    if let Some(until) = &release.valid_until
        && release::parse_date(until).is_some_and(|t| t < now)
    {
        return Err(DebianError::Index {
            url,
            detail: format!(
                "expired (Valid-Until: {until}): the mirror is stale or replaying old metadata"
            ),
        });
    }
    let report = SuiteReport {
        suite: suite.to_string(),
        url,
        date: release.date.clone(),
        verified_by,
    };
    Ok((release, report))
}

/// The text of a clearsigned message without checking it (only when checks are off).
fn strip_clearsign(data: &str) -> String {
    let Some(rest) = data.strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return data.to_string();
    };
    let body = rest.split_once("\n\n").map_or("", |(_, b)| b);
    let body = body
        .split_once("\n-----BEGIN PGP SIGNATURE-----")
        .map_or(body, |(b, _)| b);
    body.lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a (compressed) index file as text.
fn decompress_text(path: &Path, name: &str) -> Result<String, DebianError> {
    let file = std::fs::File::open(path).map_err(io_err("opening", path))?;
    let mut reader = super::deb::decompressor(name, std::io::BufReader::new(file))
        .map_err(io_err("decompressing", path))?;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(io_err("decompressing", path))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_mirror_beside_main() {
        let m = Mirrors::from_main(&format!("{DEFAULT_MIRROR}/"), None);
        assert_eq!(m.main, DEFAULT_MIRROR);
        assert_eq!(m.security, Some(format!("{DEFAULT_MIRROR}-security")));
        assert_eq!(
            Mirrors::from_main("http://mirror.local/deb", None).security,
            None
        );
        assert_eq!(
            Mirrors::from_main("http://m/deb", Some("http://m/sec/"))
                .security
                .as_deref(),
            Some("http://m/sec")
        );
    }

    #[test]
    fn clearsign_stripped() {
        let data = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\n- -dashed\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
        assert_eq!(strip_clearsign(data), "Origin: Debian\n-dashed");
    }
}

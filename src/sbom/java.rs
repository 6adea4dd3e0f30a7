//! Jars: Maven coordinates from `META-INF/maven/<groupId>/<artifactId>/pom.properties`, else
//! name and version from the file name (`name-1.2.3.jar`). Jars are opened from disk (a base
//! layer's are spooled to a temporary file first), never read into memory.

use super::{Found, SbomError, pct};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use zip::ZipArchive;

/// pom.properties files are a few hundred bytes.
const PROPERTIES_LIMIT: u64 = 64 << 10;

/// The packages of the jar at `host` (`image_path` inside the image).
pub(super) fn scan_jar(
    host: &Path,
    image_path: &str,
) -> Result<Result<Vec<Found>, String>, SbomError> {
    let file = File::open(host).map_err(|source| SbomError::Read {
        path: host.to_path_buf(),
        source,
    })?;
    Ok(scan_jar_file(file, image_path))
}

/// [`scan_jar`] over an open file. A file that is not a zip is named by its file name alone.
/// The jars a jar holds (a Spring Boot jar's `BOOT-INF/lib/`, a war's `WEB-INF/lib/`) are read
/// too, one level deep, each spooled to a temporary file; their `sourceInfo` is
/// `OUTER.jar!/INNER.jar`.
pub(super) fn scan_jar_file(
    file: impl Read + Seek,
    image_path: &str,
) -> Result<Vec<Found>, String> {
    Ok(scan_zip(file, image_path, true))
}

fn scan_zip(file: impl Read + Seek, label: &str, nested: bool) -> Vec<Found> {
    let mut zip = ZipArchive::new(file).ok();
    let poms = zip.as_mut().map(pom_properties).unwrap_or_default();
    let mut out = coordinates_of(&poms, label);
    if nested && let Some(zip) = zip.as_mut() {
        let mut inner: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok())
            .filter(|n| n.ends_with(".jar"))
            .map(|n| n.into_owned())
            .collect();
        inner.sort();
        for name in inner {
            let Ok(mut entry) = zip.by_name(&name) else {
                continue;
            };
            let Ok(mut tmp) = tempfile::tempfile() else {
                continue;
            };
            if std::io::copy(&mut entry, &mut tmp).is_err() || tmp.rewind().is_err() {
                continue;
            }
            out.extend(scan_zip(tmp, &format!("{label}!/{name}"), false));
        }
    }
    out
}

/// The jar's own coordinates from its pom.properties, else from its file name.
fn coordinates_of(poms: &[Coordinates], image_path: &str) -> Vec<Found> {
    let file_name = image_path.rsplit('/').next().unwrap_or(image_path);
    let stem = file_name.strip_suffix(".jar").unwrap_or(file_name);
    // A jar that shades others carries their pom.properties too: its own is the one its file
    // name starts with; without one, it lists what it bundles.
    let own: Vec<&Coordinates> = poms
        .iter()
        .filter(|c| stem == c.artifact_id || stem.starts_with(&format!("{}-", c.artifact_id)))
        .collect();
    let chosen: Vec<&Coordinates> = if own.is_empty() {
        poms.iter().collect()
    } else {
        own
    };
    if !chosen.is_empty() {
        return chosen
            .into_iter()
            .map(|c| Found {
                purl: format!(
                    "pkg:maven/{}/{}@{}",
                    pct(&c.group_id),
                    pct(&c.artifact_id),
                    pct(&c.version)
                ),
                name: c.artifact_id.clone(),
                version: c.version.clone(),
                license: None,
                source_info: image_path.to_string(),
                properties: Vec::new(),
            })
            .collect();
    }
    from_file_name(stem)
        .map(|(name, version)| Found {
            purl: format!("pkg:maven/{}@{}", pct(name), pct(version)),
            name: name.to_string(),
            version: version.to_string(),
            license: None,
            source_info: image_path.to_string(),
            properties: Vec::new(),
        })
        .into_iter()
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
struct Coordinates {
    group_id: String,
    artifact_id: String,
    version: String,
}

/// Every readable `META-INF/maven/*/*/pom.properties`, in entry-name order.
fn pom_properties<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Vec<Coordinates> {
    let mut names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .filter(|n| {
            let parts: Vec<&str> = n.split('/').collect();
            parts.len() == 5
                && parts[0] == "META-INF"
                && parts[1] == "maven"
                && parts[4] == "pom.properties"
        })
        .map(|n| n.into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let Ok(entry) = zip.by_name(&name) else {
            continue;
        };
        let mut text = String::new();
        if entry
            .take(PROPERTIES_LIMIT)
            .read_to_string(&mut text)
            .is_err()
        {
            continue;
        }
        if let Some(c) = parse_properties(&text) {
            out.push(c);
        }
    }
    out
}

fn parse_properties(text: &str) -> Option<Coordinates> {
    let get = |key: &str| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with('!'))
            .find_map(|l| {
                let (k, v) = l.split_once(['=', ':'])?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    };
    Some(Coordinates {
        group_id: get("groupId")?,
        artifact_id: get("artifactId")?,
        version: get("version")?,
    })
}

/// `commons-lang3-3.12.0` → (`commons-lang3`, `3.12.0`): the version starts at the first `-`
/// followed by a digit.
fn from_file_name(stem: &str) -> Option<(&str, &str)> {
    let bytes = stem.as_bytes();
    let at = (1..bytes.len()).find(|&i| bytes[i - 1] == b'-' && bytes[i].is_ascii_digit())?;
    let (name, version) = (&stem[..at - 1], &stem[at..]);
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn jar(path: &Path, entries: &[(&str, &str)]) {
        let mut z = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, text) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(text.as_bytes()).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn pom_properties_then_file_name() {
        let t = tempfile::tempdir().unwrap();
        let with_pom = t.path().join("commons-lang3-3.12.0.jar");
        jar(
            &with_pom,
            &[
                ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
                (
                    "META-INF/maven/org.apache.commons/commons-lang3/pom.properties",
                    "#Generated\nversion=3.12.0\ngroupId=org.apache.commons\nartifactId=commons-lang3\n",
                ),
            ],
        );
        let found = scan_jar(&with_pom, "/app/libs/commons-lang3-3.12.0.jar")
            .unwrap()
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].purl,
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
        );
        assert_eq!(found[0].source_info, "/app/libs/commons-lang3-3.12.0.jar");

        let plain = t.path().join("guava-33.0.0-jre.jar");
        jar(
            &plain,
            &[("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")],
        );
        let found = scan_jar(&plain, "/app/libs/guava-33.0.0-jre.jar")
            .unwrap()
            .unwrap();
        assert_eq!(found[0].purl, "pkg:maven/guava@33.0.0-jre");
        assert_eq!(
            (found[0].name.as_str(), found[0].version.as_str()),
            ("guava", "33.0.0-jre")
        );

        let neither = t.path().join("app.jar");
        jar(&neither, &[("a.txt", "x")]);
        assert!(
            scan_jar(&neither, "/app/app.jar")
                .unwrap()
                .unwrap()
                .is_empty()
        );
        assert!(scan_jar(&t.path().join("missing.jar"), "/x.jar").is_err());
    }

    #[test]
    fn shaded_jar_prefers_its_own_coordinates() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fat-1.0.jar");
        jar(
            &p,
            &[
                (
                    "META-INF/maven/com.a/dep/pom.properties",
                    "groupId=com.a\nartifactId=dep\nversion=2\n",
                ),
                (
                    "META-INF/maven/com.b/fat/pom.properties",
                    "groupId=com.b\nartifactId=fat\nversion=1.0\n",
                ),
            ],
        );
        let found = scan_jar(&p, "/app/fat-1.0.jar").unwrap().unwrap();
        let purls: Vec<&str> = found.iter().map(|f| f.purl.as_str()).collect();
        assert_eq!(purls, ["pkg:maven/com.b/fat@1.0"]);
    }

    #[test]
    fn nested_jars_one_level_deep() {
        let t = tempfile::tempdir().unwrap();
        let inner = t.path().join("jackson-core-2.17.0.jar");
        jar(
            &inner,
            &[(
                "META-INF/maven/com.fasterxml.jackson.core/jackson-core/pom.properties",
                "groupId=com.fasterxml.jackson.core\nartifactId=jackson-core\nversion=2.17.0\n",
            )],
        );
        let inner = std::fs::read(&inner).unwrap();
        let boot = t.path().join("app.jar");
        let mut z = zip::ZipWriter::new(File::create(&boot).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("META-INF/maven/com.example/app/pom.properties", opts)
            .unwrap();
        z.write_all(b"groupId=com.example\nartifactId=app\nversion=0.1\n")
            .unwrap();
        z.start_file("BOOT-INF/lib/jackson-core-2.17.0.jar", opts)
            .unwrap();
        z.write_all(&inner).unwrap();
        z.start_file("BOOT-INF/lib/plain-1.0.jar", opts).unwrap();
        z.write_all(b"not a zip").unwrap();
        z.finish().unwrap();
        let found = scan_jar(&boot, "/app/app.jar").unwrap().unwrap();
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.purl.as_str(), f.source_info.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pkg:maven/com.example/app@0.1", "/app/app.jar"),
                (
                    "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.17.0",
                    "/app/app.jar!/BOOT-INF/lib/jackson-core-2.17.0.jar"
                ),
                (
                    "pkg:maven/plain@1.0",
                    "/app/app.jar!/BOOT-INF/lib/plain-1.0.jar"
                ),
            ]
        );
    }

    #[test]
    fn file_names() {
        assert_eq!(from_file_name("a-b-1.2"), Some(("a-b", "1.2")));
        assert_eq!(from_file_name("lang3-3.1"), Some(("lang3", "3.1")));
        assert_eq!(from_file_name("app"), None);
        assert_eq!(from_file_name("-1.0"), None);
    }
}

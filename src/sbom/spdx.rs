//! The SPDX 2.3 JSON document of a scan. Field order is the serialized order.

use super::{ImageRef, SbomError, Scan, pct};
use crate::platform::Platform;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: String,
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub document_namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub creation_info: CreationInfo,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    pub download_location: String,
    pub files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
    pub external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// A package's property as SPDX says it: a tool's `OTHER` annotation, `name=value`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    pub annotation_date: String,
    pub annotation_type: String,
    pub annotator: String,
    pub comment: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: String,
    pub checksum_value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: String,
    pub reference_type: String,
    pub reference_locator: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: String,
    pub related_spdx_element: String,
}

const NOASSERTION: &str = "NOASSERTION";
const IMAGE_ID: &str = "SPDXRef-Image";

fn purl_ref(purl: String) -> Vec<ExternalRef> {
    vec![ExternalRef {
        reference_category: "PACKAGE-MANAGER".into(),
        reference_type: "purl".into(),
        reference_locator: purl,
    }]
}

/// The document for `image` with what `scan` found.
pub fn document(image: &ImageRef, scan: &Scan) -> Document {
    let hex = image.manifest.hex();
    let mut packages = vec![Package {
        spdx_id: IMAGE_ID.into(),
        name: image.name.to_string(),
        version_info: Some(image.manifest.to_string()),
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        checksums: vec![Checksum {
            algorithm: "SHA256".into(),
            checksum_value: hex.to_string(),
        }],
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION.into(),
        source_info: None,
        primary_package_purpose: Some("CONTAINER".into()),
        external_refs: purl_ref(image_purl(image)),
        annotations: Vec::new(),
    }];
    let created = crate::image::time::rfc3339(image.epoch);
    let tool = format!("Tool: lade-{}", env!("CARGO_PKG_VERSION"));
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES".into(),
        related_spdx_element: IMAGE_ID.into(),
    }];
    for (i, p) in scan.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        packages.push(Package {
            spdx_id: id.clone(),
            name: p.name.clone(),
            version_info: (!p.version.is_empty()).then(|| p.version.clone()),
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: Vec::new(),
            license_concluded: NOASSERTION.into(),
            license_declared: p.license.clone().unwrap_or_else(|| NOASSERTION.into()),
            copyright_text: NOASSERTION.into(),
            source_info: Some(p.source_info.clone()),
            primary_package_purpose: None,
            external_refs: purl_ref(p.purl.clone()),
            annotations: p
                .properties
                .iter()
                .map(|(name, value)| Annotation {
                    annotation_date: created.clone(),
                    annotation_type: "OTHER".into(),
                    annotator: tool.clone(),
                    comment: format!("{name}={value}"),
                })
                .collect(),
        });
        relationships.push(Relationship {
            spdx_element_id: IMAGE_ID.into(),
            relationship_type: "CONTAINS".into(),
            related_spdx_element: id,
        });
    }
    Document {
        spdx_version: "SPDX-2.3".into(),
        data_license: "CC0-1.0".into(),
        spdx_id: "SPDXRef-DOCUMENT".into(),
        name: format!("{} {}", image.name, image.platform),
        document_namespace: format!("https://lade.invalid/spdx/{hex}"),
        comment: (!scan.notes.is_empty()).then(|| scan.notes.join("; ")),
        creation_info: CreationInfo {
            created,
            creators: vec![tool],
        },
        packages,
        relationships,
    }
}

/// The image's package URL: `pkg:oci/NAME@sha256%3AHEX?arch=ARCH`.
pub(crate) fn image_purl(image: &ImageRef) -> String {
    format!(
        "pkg:oci/{}@sha256%3A{}?arch={}",
        pct(&image.name.to_lowercase()),
        image.manifest.hex(),
        pct(&image.platform.architecture)
    )
}

/// `<image name>-<os>-<arch>[-<variant>].spdx.json`.
pub fn file_name(name: &str, platform: &Platform) -> String {
    let name: String = name
        .chars()
        .map(|c| if c == '/' || c == '\\' { '-' } else { c })
        .collect();
    format!("{name}-{}.spdx.json", platform.dir_name())
}

/// The document's bytes: pretty JSON and a final newline.
pub fn to_bytes(doc: &Document) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).expect("an SPDX document serializes");
    bytes.push(b'\n');
    bytes
}

/// Writes `image`'s SBOM into `dir` (created) and returns the file's path.
pub fn write(dir: &Path, image: &ImageRef, scan: &Scan) -> Result<PathBuf, SbomError> {
    let path = dir.join(file_name(image.name, image.platform));
    let werr = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SbomError::Write { path: p, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    std::fs::write(&path, to_bytes(&document(image, scan))).map_err(werr(&path))?;
    Ok(path)
}

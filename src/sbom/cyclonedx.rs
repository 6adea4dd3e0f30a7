//! CycloneDX 1.6 JSON from the same scan as the SPDX document. Reproducible as the SPDX one:
//! the serial number is derived from the manifest digest, the only time is the publish epoch,
//! components keep the scan's order.

use super::{ImageRef, Scan, image_purl};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    pub bom_format: &'static str,
    pub spec_version: &'static str,
    pub serial_number: String,
    pub version: u32,
    pub metadata: Metadata,
    pub components: Vec<Component>,
    pub dependencies: Vec<Dependency>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Metadata {
    pub timestamp: String,
    pub tools: Tools,
    pub component: Component,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tools {
    pub components: Vec<Component>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Component {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<License>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

#[derive(Clone, Debug, Serialize)]
pub struct License {
    pub expression: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    #[serde(rename = "ref")]
    pub reference: String,
    pub depends_on: Vec<String>,
}

const IMAGE_REF: &str = "image";

/// The BOM for `image` with what `scan` found.
pub fn bom(image: &ImageRef, scan: &Scan) -> Bom {
    let components: Vec<Component> = scan
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| Component {
            kind: "library",
            bom_ref: Some(format!("package-{i}")),
            name: p.name.clone(),
            version: (!p.version.is_empty()).then(|| p.version.clone()),
            purl: Some(p.purl.clone()),
            licenses: p
                .license
                .iter()
                .map(|l| License {
                    expression: l.clone(),
                })
                .collect(),
            properties: std::iter::once(Property {
                name: "lade:source".into(),
                value: p.source_info.clone(),
            })
            .chain(p.properties.iter().map(|(name, value)| Property {
                name: name.clone(),
                value: value.clone(),
            }))
            .collect(),
        })
        .collect();
    let depends_on = components
        .iter()
        .filter_map(|c| c.bom_ref.clone())
        .collect();
    Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: serial_number(image.manifest.hex()),
        version: 1,
        metadata: Metadata {
            timestamp: crate::image::time::rfc3339(image.epoch),
            tools: Tools {
                components: vec![Component {
                    kind: "application",
                    bom_ref: None,
                    name: "lade".into(),
                    version: Some(env!("CARGO_PKG_VERSION").into()),
                    purl: None,
                    licenses: Vec::new(),
                    properties: Vec::new(),
                }],
            },
            component: Component {
                kind: "container",
                bom_ref: Some(IMAGE_REF.into()),
                name: image.name.to_string(),
                version: Some(image.manifest.to_string()),
                purl: Some(image_purl(image)),
                licenses: Vec::new(),
                properties: vec![Property {
                    name: "lade:platform".into(),
                    value: image.platform.to_string(),
                }],
            },
            properties: scan
                .notes
                .iter()
                .map(|n| Property {
                    name: "lade:note".into(),
                    value: n.clone(),
                })
                .collect(),
        },
        components,
        dependencies: vec![Dependency {
            reference: IMAGE_REF.into(),
            depends_on,
        }],
    }
}

/// A name-based (version 5 layout) UUID URN from the first 128 bits of the manifest digest:
/// the same image always gets the same serial number, different images different ones.
fn serial_number(hex: &str) -> String {
    let mut h: Vec<char> = hex.chars().take(32).collect();
    h.resize(32, '0');
    h[12] = '5';
    let variant = h[16].to_digit(16).unwrap_or(0) & 0x3 | 0x8;
    h[16] = char::from_digit(variant, 16).expect("a nibble is a hex digit");
    let s: String = h.into_iter().collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// The BOM's bytes: canonical JSON, as attached and pushed.
pub fn to_bytes(bom: &Bom) -> Vec<u8> {
    crate::image::canonical::to_vec(bom).expect("a CycloneDX document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::sbom::Found;

    #[test]
    fn serial_number_is_a_v5_uuid_from_the_digest() {
        let s = serial_number(&"ab".repeat(32));
        assert_eq!(s, "urn:uuid:abababab-abab-5bab-abab-abababababab");
        let t = serial_number(&"f0".repeat(32));
        assert_eq!(t, "urn:uuid:f0f0f0f0-f0f0-50f0-b0f0-f0f0f0f0f0f0");
    }

    #[test]
    fn lists_packages_under_the_image() {
        let manifest = Digest::of(b"m");
        let platform: crate::platform::Platform = "linux/amd64".parse().unwrap();
        let image = ImageRef {
            name: "app",
            platform: &platform,
            manifest: &manifest,
            epoch: 0,
        };
        let scan = Scan {
            packages: vec![Found {
                purl: "pkg:golang/example.com/m@v1.0.0".into(),
                name: "example.com/m".into(),
                version: "v1.0.0".into(),
                license: Some("MIT".into()),
                source_info: "go.mod".into(),
                properties: Vec::new(),
            }],
            notes: Vec::new(),
        };
        let v: serde_json::Value = serde_json::from_slice(&to_bytes(&bom(&image, &scan))).unwrap();
        assert_eq!(v["specVersion"], "1.6");
        assert_eq!(v["metadata"]["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(v["components"][0]["licenses"][0]["expression"], "MIT");
        assert_eq!(v["dependencies"][0]["dependsOn"][0], "package-0");
    }
}

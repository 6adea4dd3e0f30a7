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

/// What a BOM lade wrote says: the image's name and the scan it was made from (each
/// component back to the package it was, the notes), so a rebase can carry lade's packages
/// over without reading lade's layers.
pub fn read(bytes: &[u8]) -> Result<(String, Scan), String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if v["bomFormat"] != "CycloneDX" {
        return Err("not a CycloneDX document".into());
    }
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let pairs = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((text(&p["name"])?, text(&p["value"])?)))
            .collect()
    };
    let name =
        text(&v["metadata"]["component"]["name"]).ok_or("its metadata names no image component")?;
    let notes = pairs(&v["metadata"]["properties"])
        .into_iter()
        .filter(|(k, _)| k == "lade:note")
        .map(|(_, n)| n)
        .collect();
    let mut packages = Vec::new();
    for c in v["components"].as_array().into_iter().flatten() {
        let (Some(name), Some(purl)) = (text(&c["name"]), text(&c["purl"])) else {
            return Err(format!("component {c} has no name or purl"));
        };
        let mut source_info = String::new();
        let mut properties = Vec::new();
        for (k, value) in pairs(&c["properties"]) {
            match k.as_str() {
                "lade:source" => source_info = value,
                _ => properties.push((k, value)),
            }
        }
        packages.push(super::Found {
            purl,
            name,
            version: text(&c["version"]).unwrap_or_default(),
            license: text(&c["licenses"][0]["expression"]),
            source_info,
            properties,
        });
    }
    packages.sort();
    Ok((name, Scan { packages, notes }))
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

    #[test]
    fn read_gives_back_the_scan_a_bom_was_made_from() {
        let manifest = Digest::of(b"m");
        let platform: crate::platform::Platform = "linux/arm64".parse().unwrap();
        let image = ImageRef {
            name: "registry.example/app",
            platform: &platform,
            manifest: &manifest,
            epoch: 7,
        };
        let found = |purl: &str, license: Option<&str>, props: &[(&str, &str)]| Found {
            purl: purl.into(),
            name: purl.rsplit('/').next().unwrap().into(),
            version: String::new(),
            license: license.map(Into::into),
            source_info: "/var/lib/dpkg/status.d/x (source package y)".into(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let scan = Scan {
            packages: vec![
                found("pkg:deb/debian/a", None, &[("lade:layer", "base")]),
                found(
                    "pkg:golang/b",
                    Some("MIT OR Apache-2.0"),
                    &[("go:sum", "h1:x=")],
                ),
            ],
            notes: vec!["one".into(), "two".into()],
        };
        let (name, back) = read(&to_bytes(&bom(&image, &scan))).unwrap();
        assert_eq!(name, "registry.example/app");
        assert_eq!(back, scan);
        assert!(read(b"{}").is_err());
    }
}

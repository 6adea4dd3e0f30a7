//! SLSA Provenance v1 for published images: an in-toto Statement v1 naming the platform
//! manifest, in a DSSE envelope ([`dsse`]) that is unsigned until a signer adds a signature.
//!
//! The statement is data the publish already has — the parameters that shaped the image,
//! what it was built from (source commit, lock files, base, tools) and the steps that ran —
//! with the publish epoch as its only time, so an unchanged publish gives the same bytes.

pub mod dsse;

use crate::digest::Digest;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// What a lade publish is, as SLSA's `buildType`: the parameters below are read this way.
pub const BUILD_TYPE: &str = "https://lade.invalid/buildtypes/publish/v1";
/// What a `lade rebase` is: an image's base layers swapped, lade's layers kept, no build.
pub const REBASE_BUILD_TYPE: &str = "https://lade.invalid/buildtypes/rebase/v1";

/// An artifact the build read or made: `name`, `uri` and `digest` (algorithm → hex) as
/// in-toto's ResourceDescriptor.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
}

/// What the statement says about one platform image.
pub struct Build<'a> {
    /// How to read the parameters: [`BUILD_TYPE`] or [`REBASE_BUILD_TYPE`].
    pub build_type: &'static str,
    /// The repository (or image name) the subject is published as.
    pub name: &'a str,
    /// The platform manifest.
    pub subject: &'a Digest,
    /// The flags and lade.toml settings that shaped the image.
    pub external_parameters: Value,
    /// What lade decided from them (platform, plan details, the steps that ran).
    pub internal_parameters: Value,
    pub resolved_dependencies: Vec<Resource>,
    /// The publish epoch (seconds).
    pub epoch: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: &'static str,
    pub subject: Vec<Resource>,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub predicate: Value,
}

/// The in-toto statement for `build`.
pub fn statement(build: &Build) -> Statement {
    let time = crate::image::time::rfc3339(build.epoch);
    let version = env!("CARGO_PKG_VERSION");
    let predicate = serde_json::json!({
        "buildDefinition": {
            "buildType": build.build_type,
            "externalParameters": build.external_parameters,
            "internalParameters": build.internal_parameters,
            "resolvedDependencies": build.resolved_dependencies,
        },
        "runDetails": {
            "builder": {
                "id": format!("https://lade.invalid/lade@{version}"),
                "version": {"lade": version},
            },
            "metadata": {"startedOn": time, "finishedOn": time},
        },
    });
    Statement {
        statement_type: STATEMENT_TYPE,
        subject: vec![Resource {
            name: Some(build.name.to_string()),
            uri: None,
            digest: sha256(build.subject),
        }],
        predicate_type: PREDICATE_TYPE,
        predicate,
    }
}

/// `{"sha256": hex}` for a digest.
pub fn sha256(d: &Digest) -> BTreeMap<String, String> {
    BTreeMap::from([(d.algorithm().to_string(), d.hex().to_string())])
}

/// The statement in an unsigned DSSE envelope; its payload is the statement's canonical JSON.
pub fn envelope(statement: &Statement) -> dsse::Envelope {
    let payload = crate::image::canonical::to_vec(statement).expect("a statement serializes");
    dsse::Envelope::new(PAYLOAD_TYPE, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_names_the_subject_and_decodes_from_the_envelope() {
        let d = Digest::of(b"manifest");
        let s = statement(&Build {
            build_type: BUILD_TYPE,
            name: "localhost:5000/app",
            subject: &d,
            external_parameters: serde_json::json!({"platforms": ["linux/amd64"]}),
            internal_parameters: serde_json::json!({}),
            resolved_dependencies: Vec::new(),
            epoch: 1,
        });
        let e = envelope(&s);
        let v: Value = serde_json::from_slice(&e.payload).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], d.hex());
        assert_eq!(
            v["predicate"]["runDetails"]["metadata"]["startedOn"],
            "1970-01-01T00:00:01Z"
        );
        assert!(
            e.pae()
                .starts_with(b"DSSEv1 28 application/vnd.in-toto+json ")
        );
    }
}

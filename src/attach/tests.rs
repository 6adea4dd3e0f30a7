use super::*;

fn subject() -> JsonBlob {
    JsonBlob::new(OCI_MANIFEST, br#"{"schemaVersion":2}"#.to_vec())
}

#[test]
fn empty_descriptor_is_the_digest_of_its_bytes() {
    assert_eq!(Digest::of(EMPTY_BYTES).to_string(), EMPTY_DIGEST);
}

#[test]
fn artifact_manifest_has_the_oci_1_1_shape() {
    let a = Artifact::new(
        SPDX_JSON,
        &subject(),
        b"{}".to_vec(),
        "1970-01-01T00:00:00Z",
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&a.manifest.bytes).unwrap();
    assert_eq!(v["artifactType"], SPDX_JSON);
    assert_eq!(v["mediaType"], OCI_MANIFEST);
    assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
    assert_eq!(v["config"]["size"], 2);
    assert_eq!(v["layers"][0]["mediaType"], SPDX_JSON);
    assert_eq!(v["subject"]["digest"], subject().digest().to_string());
    assert_eq!(
        v["annotations"][oci::ANNOTATION_CREATED],
        "1970-01-01T00:00:00Z"
    );
    // Canonical: re-encoding gives the same bytes, so the digest is stable.
    assert_eq!(canonical::to_vec(&v).unwrap(), a.manifest.bytes);
    let again = Artifact::new(
        SPDX_JSON,
        &subject(),
        b"{}".to_vec(),
        "1970-01-01T00:00:00Z",
    );
    assert_eq!(again.unwrap().digest(), a.digest());
}

#[test]
fn fallback_index_keeps_other_entries_and_skips_unchanged() {
    let a = Artifact::new(SPDX_JSON, &subject(), b"{}".to_vec(), "t").unwrap();
    let other = json!({"mediaType": OCI_MANIFEST, "digest": EMPTY_DIGEST, "size": 2,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"});
    let existing = canonical::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [other.clone()]}))
    .unwrap();
    let Merged::Changed(bytes) = merge_index(Some(&existing), &[a.index_entry()]).unwrap() else {
        panic!("a new entry changes the index");
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["manifests"][0], other);
    assert_eq!(v["manifests"][1]["artifactType"], SPDX_JSON);
    assert_eq!(
        v["manifests"][1]["annotations"][oci::ANNOTATION_CREATED],
        "t"
    );
    assert_eq!(
        merge_index(Some(&bytes), &[a.index_entry()]).unwrap(),
        Merged::Unchanged
    );
    assert!(matches!(
        merge_index(None, &[a.index_entry()]).unwrap(),
        Merged::Changed(_)
    ));
}

#[test]
fn fallback_tag_names_the_subject() {
    let d = subject().digest();
    assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
}

//! The flagship path: examples/go-hello published for amd64 and arm64 into an OCI layout, then
//! checked with independent tools and run.

use crate::support::TestEnv;
use crate::support::go_hello::{Checked, check_image};
use crate::support::lade::root_digest;
use crate::support::layout::{self, CREATED, Layout, OCI_INDEX, sha256_digest};
use crate::support::tools::{run_ok, tool};
use serde_json::json;

#[test]
fn publishes_a_two_platform_image_that_validates_and_runs() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", "linux/amd64,linux/arm64", "--json", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    let j = run.json();
    let root = root_digest(&j);
    assert_eq!(j["platforms"], json!(["linux/amd64", "linux/arm64"]));
    let outputs = j["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "{j}");
    assert_eq!(outputs[0]["digest"], root.as_str());

    let l = Layout::open(&out);
    l.verify_blobs();
    let top = l.tagged("v1");
    assert_eq!(
        top["mediaType"], OCI_INDEX,
        "two platforms are tagged as an index"
    );
    assert_eq!(
        top["digest"],
        root.as_str(),
        "--json digest is the tagged index"
    );
    let index = l.json(&root);
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);

    let images = l.images("v1");
    let archs: Vec<&str> = images.iter().map(|i| i.architecture()).collect();
    assert_eq!(archs, ["amd64", "arm64"], "index order follows --platform");
    for img in &images {
        let arch = img.architecture();
        assert_eq!(img.descriptor["platform"]["os"], "linux");
        assert_eq!(
            img.manifest["mediaType"],
            layout::OCI_MANIFEST,
            "{arch}: manifest mediaType"
        );

        // Config as the contract says: user, entrypoint, kodata env, one history entry per layer.
        assert_eq!(img.config["os"], "linux");
        assert_eq!(img.cfg("User"), "65532", "{arch}");
        assert_eq!(img.cfg("Entrypoint"), &json!(["/app/go-hello"]), "{arch}");
        assert_eq!(
            img.env().get("KO_DATA_PATH").map(String::as_str),
            Some("/var/run/ko")
        );
        let layers = img.layer_digests();
        assert_eq!(layers.len(), 2, "{arch}: scratch + kodata + binary");
        let history = img.config["history"]
            .as_array()
            .expect("config has history");
        let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
        assert_eq!(
            non_empty,
            layers.len(),
            "{arch}: history entries per layer: {history:?}"
        );
        let diff_ids = img.config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(diff_ids.len(), layers.len(), "{arch}: diff_ids");

        // Each layer's uncompressed bytes hash to its diff_id; kodata comes before the binary.
        for (digest, diff_id) in layers.iter().zip(diff_ids) {
            let gz = l.blob(digest);
            let mut tar = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut tar)
                .unwrap();
            assert_eq!(
                diff_id,
                &json!(sha256_digest(&tar)),
                "{arch}: diff_id of {digest}"
            );
        }
        let kodata = l.layer_entries(&layers[0]);
        let kodata_paths: Vec<&str> = kodata.iter().map(|e| e.path.as_str()).collect();
        assert!(
            kodata_paths.contains(&"var/run/ko/hello.txt"),
            "{arch}: {kodata_paths:?}"
        );
        assert!(
            !kodata_paths.contains(&"app/go-hello"),
            "{arch}: binary in kodata layer"
        );
        let binary = l.layer_entries(&layers[1]);
        let bin = layout::find_entry(&binary, "app/go-hello");
        assert_eq!(bin.mode & 0o777, 0o755, "{arch}: binary mode");
        assert_eq!((bin.uid, bin.gid), (0, 0), "{arch}: binary owner");

        let annotations = &img.manifest["annotations"];
        assert!(
            annotations[CREATED]
                .as_str()
                .is_some_and(|c| c.ends_with('Z')),
            "{arch}: manifest annotations lack {CREATED}: {annotations}"
        );
    }

    // The index's platforms are readable by a third-party tool: skopeo picks the same
    // manifests lade wrote, byte for byte.
    for img in &images {
        let arch = img.architecture();
        let raw = run_ok(
            tool("skopeo")
                .args(["inspect", "--raw", "--override-arch", arch])
                .arg(format!("oci:{}:v1", out.display())),
        )
        .stdout;
        assert_eq!(sha256_digest(&raw), root, "skopeo --raw shows the index");
        let copied = env.path(&format!("skopeo-{arch}"));
        run_ok(
            tool("skopeo")
                .args(["copy", "--override-arch", arch])
                .arg(format!("oci:{}:v1", out.display()))
                .arg(format!("oci:{}:{arch}", copied.display())),
        );
        let c = Layout::open(&copied);
        assert_eq!(
            c.tagged(arch)["digest"],
            img.manifest_digest.as_str(),
            "{arch}"
        );
    }

    // Validate, unpack, look at the files, and run: amd64 always, arm64 under binfmt if set up
    // (the helper prints which check it did).
    let (amd64, _) = check_image(&env, &l, &images[0], 65532, "amd64");
    assert_eq!(amd64, Checked::Ran, "the host platform image must run");
    let (arm64, _) = check_image(&env, &l, &images[1], 65532, "arm64");
    eprintln!("arm64 image check: {arm64:?}");
}

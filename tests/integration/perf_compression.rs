//! `--compression zstd`: lade's layers as `tar+zstd`, bit-identical from two independent
//! publishes, each layer decoding (with ruzstd, not the libzstd that wrote it) to the tar its
//! diff_id names, and the image running: umoci 0.4 cannot unpack zstd layers, so skopeo (a
//! third zstd implementation) converts the layout to gzip first, keeping the config and its
//! diff_ids, and umoci checks every layer against them while unpacking for runc.

use crate::support::TestEnv;
use crate::support::go_hello::{Checked, check_image};
use crate::support::lade::root_digest;
use crate::support::layout::{Layout, sha256_digest};
use crate::support::tools::{require_tool, run_ok};
use std::io::Read;
use std::process::Command;

const ZSTD_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

#[test]
fn zstd_layers_are_reproducible_decode_to_their_diff_ids_and_run() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let arch = crate::support::arm64::host_arch();
    let publish_with = |cache: &str, out: &str, extra: &[&str]| {
        env.lade_with_cache(&env.dir(cache))
            .arg("publish")
            .arg("-C")
            .arg(&project)
            .args([
                "--platform",
                &format!("linux/{arch}"),
                "--compression",
                "zstd",
                "--json",
            ])
            .args(extra)
            .arg("--to")
            .arg(format!("oci:{}:z", env.path(out).display()))
            .run()
            .success()
            .json()
    };
    let publish = |cache: &str, out: &str| publish_with(cache, out, &[]);
    let first = publish("cache-a", "out-a");
    let second = publish("cache-b", "out-b");
    assert_eq!(
        root_digest(&first),
        root_digest(&second),
        "two publishes with separate caches give the same bytes"
    );

    let l = Layout::open(&env.path("out-a"));
    let img = l.image("z", arch);
    let layers = img.manifest["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    let diff_ids = img.config["rootfs"]["diff_ids"].as_array().unwrap();
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(layer["mediaType"], ZSTD_LAYER, "{layer}");
        let blob = l.blob(layer["digest"].as_str().unwrap());
        let mut tar = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(&blob[..])
            .expect("a zstd frame")
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            sha256_digest(&tar),
            diff_id.as_str().unwrap(),
            "decoded layer vs diff_id"
        );
    }

    // skopeo reads the zstd layers and writes gzip ones; umoci checks them against the
    // unchanged config's diff_ids while unpacking, and the server runs.
    let converted = env.path("converted");
    run_ok(
        Command::new(require_tool("skopeo"))
            .args([
                "copy",
                "-q",
                "--dest-compress",
                "--dest-compress-format",
                "gzip",
            ])
            .arg(format!("oci:{}:z", env.path("out-a").display()))
            .arg(format!("oci:{}:{arch}", converted.display())),
    );
    let conv = Layout::open(&converted);
    let conv_img = conv.image(arch, arch);
    assert_eq!(
        conv_img.config_digest, img.config_digest,
        "skopeo kept the config"
    );
    let (checked, _) = check_image(&env, &conv, &conv_img, 65532, "zstd");
    assert_eq!(checked, Checked::Ran);

    // `--compression-level 1`: the same tars (diff_ids), other zstd bytes for each layer, and
    // the same bytes again from another cache; the default level is 3, as written above.
    let fast = publish_with("cache-a", "out-fast", &["--compression-level", "1"]);
    assert_ne!(root_digest(&fast), root_digest(&first));
    let again = publish_with("cache-c", "out-fast-again", &["--compression-level", "1"]);
    assert_eq!(root_digest(&fast), root_digest(&again));
    let explicit = publish_with("cache-a", "out-three", &["--compression-level", "3"]);
    assert_eq!(root_digest(&explicit), root_digest(&first));
    let f = Layout::open(&env.path("out-fast"));
    let fast_img = f.image("z", arch);
    assert_eq!(
        fast_img.config["rootfs"]["diff_ids"], img.config["rootfs"]["diff_ids"],
        "the same tars"
    );
    for (a, b) in fast_img.manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(layers)
    {
        assert_eq!(a["mediaType"], ZSTD_LAYER);
        assert_ne!(a["digest"], b["digest"], "level 1 wrote {a} like level 3");
    }
}

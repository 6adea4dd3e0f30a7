//! Self-tests of the test support: the runc runner, the layout reader and the base-image
//! builder, checked against images made by other tools. They do not need lade, so they prove
//! the harness before any lade test relies on it.

use crate::support::arm64::{self, Arm64};
use crate::support::base_image::{GROUP, PASSWD, build_base};
use crate::support::go_hello;
use crate::support::layout::{self, Layout, sha256_digest};
use crate::support::runc::Container;
use crate::support::tools::{require_tool, run_ok, stdout_ok, tool};
use crate::support::{TestEnv, env::write_file};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

/// Builds a busybox httpd image with umoci alone and serves it through the runc runner: a
/// static file, and a CGI script reporting the uid, which proves config.User reaches the
/// process the way the lade tests expect (`uid=65532`).
#[test]
fn runc_runner_serves_a_hand_made_busybox_image() {
    let t0 = Instant::now();
    let env = TestEnv::new();
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(
        busybox.exists()
            && stdout_ok(tool("dpkg-query").args(["-W", "-f=${Status}", "busybox-static"]))
                .contains("ok installed"),
        "required tool busybox-static not found: run scripts/install-deps.sh"
    );
    let bytes = fs::read(busybox).unwrap();
    assert_eq!(
        arm64::elf_machine(&bytes),
        arm64::machine_for(arm64::host_arch())
    );

    // The files of the image, as a host directory umoci inserts at /.
    let tree = env.dir("tree");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::copy(busybox, tree.join("bin/busybox")).unwrap();
    write_file(&tree.join("www/index.html"), "busybox says hi\n");
    let cgi = tree.join("www/cgi-bin/id");
    write_file(
        &cgi,
        "#!/bin/busybox sh\necho 'Content-Type: text/plain'\necho\necho \"uid=$(/bin/busybox id -u)\"\n",
    );
    fs::set_permissions(&cgi, fs::Permissions::from_mode(0o755)).unwrap();

    let oci = env.path("oci");
    let image = format!("{}:bb", oci.display());
    run_ok(tool("umoci").args(["init", "--layout"]).arg(&oci));
    run_ok(tool("umoci").args(["new", "--image", &image]));
    run_ok(
        tool("umoci")
            .args(["insert", "--image", &image])
            .arg(&tree)
            .arg("/"),
    );
    run_ok(tool("umoci").args([
        "config",
        "--image",
        &image,
        "--config.user",
        "65532",
        "--config.entrypoint",
        "/bin/busybox",
        "--config.entrypoint",
        "sh",
        "--config.entrypoint",
        "-c",
        "--config.entrypoint",
        "exec /bin/busybox httpd -f -p \"$PORT\" -h /www",
    ]));

    // The layout reader understands umoci's layout (a tag pointing straight at a manifest).
    let l = Layout::open(&oci);
    l.verify_blobs();
    let images = l.images("bb");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].architecture(), arm64::host_arch());
    assert_eq!(images[0].cfg("User"), "65532");
    // (umoci 0.4 writes tars without end-of-archive padding, which the strict reader used on
    // lade's layers rejects; the unpacked rootfs is checked instead.)
    layout::validate(&oci, "bb");

    let bundle = env.path("bundle");
    layout::unpack(&oci, "bb", &bundle);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/www/index.html")).unwrap(),
        "busybox says hi\n"
    );
    let t_run = Instant::now();
    let runc = require_tool("runc");
    let id;
    {
        let c = Container::start(&bundle);
        id = c.id.clone();
        assert!(Container::known_to_runc(&runc, &id));
        let r = c.get("/index.html");
        assert_eq!((r.status, r.body.as_str()), (200, "busybox says hi\n"));
        let r = c.get("/cgi-bin/id");
        assert_eq!((r.status, r.body.as_str()), (200, "uid=65532\n"));
        let r = c.get("/missing");
        assert_eq!(r.status, 404);
    }
    assert!(
        !Container::known_to_runc(&runc, &id),
        "dropping the Container must delete it from runc"
    );
    eprintln!(
        "runc self-test: {:.1?} in all, {:.1?} from start to cleanup",
        t0.elapsed(),
        t_run.elapsed()
    );
}

/// The base builder writes layouts that oci-image-tool validates, umoci unpacks with the right
/// files and modes, and skopeo resolves per platform to the manifests we wrote.
#[test]
fn base_builder_makes_valid_multi_platform_layouts() {
    let env = TestEnv::new();
    let base = build_base(&env.path("base"), "v1", &["amd64", "arm64"], None);
    let l = Layout::open(&base.dir);
    l.verify_blobs();
    let images = l.images("v1");
    assert_eq!(images.len(), 2);
    for arch in ["amd64", "arm64"] {
        let img = l.image("v1", arch);
        assert_eq!(img.manifest_digest, base.manifests[arch]);
        assert_eq!(img.layer_digests(), vec![base.layers[arch].0.clone()]);
        assert_eq!(img.config["rootfs"]["diff_ids"][0], base.layers[arch].1);

        let single = l.extract(&img, &env.path(&format!("single-{arch}")), arch);
        layout::validate(&single.dir, arch);
        let bundle = env.path(&format!("bundle-{arch}"));
        layout::unpack(&single.dir, arch, &bundle);
        let rootfs = bundle.join("rootfs");
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/passwd")).unwrap(),
            PASSWD
        );
        assert_eq!(fs::read_to_string(rootfs.join("etc/group")).unwrap(), GROUP);
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/lade-test-base")).unwrap(),
            format!("linux/{arch}\n")
        );
        let tmp_mode = fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(tmp_mode & 0o7777, 0o1777, "/tmp mode");
        assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());

        // skopeo picks the same manifest from the index (arm64 carries variant v8 there).
        let raw = run_ok(
            tool("skopeo")
                .args(["inspect", "--raw", "--override-arch", arch])
                .arg(format!("oci:{}:v1", base.dir.display())),
        )
        .stdout;
        let top: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(top["mediaType"], layout::OCI_INDEX, "--raw shows the index");
        let inspected: serde_json::Value = serde_json::from_str(&stdout_ok(
            tool("skopeo")
                .args(["inspect", "--override-arch", arch])
                .arg(format!("oci:{}:v1", base.dir.display())),
        ))
        .unwrap();
        assert_eq!(inspected["Architecture"], arch);
        // (skopeo reports the index digest as Digest; the layers tell the platforms apart.)
        assert_eq!(
            inspected["Layers"],
            serde_json::json!([base.layers[arch].0])
        );
    }
    // `skopeo inspect --raw` prints the stored bytes exactly: later tests hash its output.
    let raw = run_ok(
        tool("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:v1", base.dir.display())),
    )
    .stdout;
    assert_eq!(
        sha256_digest(&raw),
        l.tagged("v1")["digest"].as_str().unwrap()
    );
}

/// Says which arm64 check the image tests will do on this machine, and checks the ELF reader
/// on a known binary.
#[test]
fn arm64_support_is_reported() {
    match arm64::arm64_support() {
        Arm64::Native => eprintln!("arm64: host is arm64, images run natively"),
        Arm64::Emulated => eprintln!("arm64: qemu-aarch64 binfmt (F flag) enabled, images run"),
        Arm64::Unavailable(why) => eprintln!("arm64: cannot run ({why}); ELF header check only"),
    }
    let busybox = fs::read("/bin/busybox").expect("busybox-static: run scripts/install-deps.sh");
    let m = arm64::elf_machine(&busybox);
    assert_eq!(m, arm64::machine_for(arm64::host_arch()));
}

/// go-hello built with `go build` and packed with umoci, per platform, passes the same checks
/// the lade tests apply (runs under runc as 65532, serves kodata; arm64 under qemu when
/// binfmt is set up). This pins down what a correct go-hello image does before lade makes one.
#[test]
fn hand_built_go_hello_images_pass_the_image_checks() {
    let env = TestEnv::new();
    let src = env.copy_example("go-hello", "src");
    let oci = env.path("oci");
    run_ok(tool("umoci").args(["init", "--layout"]).arg(&oci));
    for arch in ["amd64", "arm64"] {
        let tree = env.dir(&format!("tree-{arch}"));
        let mut go = tool("go");
        if let Some(gocache) = crate::support::tools::fallback_gocache() {
            go.env("GOCACHE", gocache);
        }
        run_ok(
            go.args(["build", "-trimpath", "-o"])
                .arg(tree.join("app/go-hello"))
                .arg(".")
                .current_dir(&src)
                .env("GOPROXY", "off")
                .env("GOOS", "linux")
                .env("GOARCH", arch)
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", ""),
        );
        write_file(
            &tree.join("var/run/ko/hello.txt"),
            &crate::support::go_hello::kodata_hello(),
        );
        let image = format!("{}:{arch}", oci.display());
        run_ok(tool("umoci").args(["new", "--image", &image]));
        run_ok(
            tool("umoci")
                .args(["insert", "--image", &image])
                .arg(&tree)
                .arg("/"),
        );
        run_ok(tool("umoci").args([
            "config",
            "--image",
            &image,
            "--architecture",
            arch,
            "--config.user",
            "65532",
            "--config.entrypoint",
            "/app/go-hello",
            "--config.env",
            "KO_DATA_PATH=/var/run/ko",
        ]));
        let l = Layout::open(&oci);
        let img = l.image(arch, arch);
        let (checked, _) = go_hello::check_image(&env, &l, &img, 65532, arch);
        let expected = if arm64::can_run(arch) {
            go_hello::Checked::Ran
        } else {
            go_hello::Checked::ElfOnly
        };
        assert_eq!(checked, expected, "{arch}");
    }
}

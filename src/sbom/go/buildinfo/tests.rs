use super::*;

/// A Go ≥ 1.18 build info blob: header, then the inline version and module info.
fn blob(version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.push(8);
    b.push(FLAG_INLINE);
    b.resize(HEADER_LEN, 0);
    let mut wrapped = vec![0x30; SENTINEL_LEN];
    wrapped.extend_from_slice(modinfo.as_bytes());
    wrapped.extend_from_slice(&[0xf9; SENTINEL_LEN]);
    for s in [version.as_bytes(), &wrapped] {
        let mut n = s.len();
        // uvarint: 7 bits a byte, low first.
        while n >= 0x80 {
            b.push((n as u8) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        b.extend_from_slice(s);
    }
    b
}

const MODINFO: &str = "path\texample.com/app\n\
mod\texample.com/app\t(devel)\t\n\
dep\texample.com/greet\tv1.2.3\th1:abc=\n\
dep\tgolang.org/x/text\tv0.14.0\t\n\
=>\t../text\t\t\n\
build\t-compiler=gc\n\
build\t-ldflags=\"-s -w -X main.v=1\"\n\
build\tCGO_ENABLED=0\n\
build\tGOOS=linux\n";

#[test]
fn decodes_version_modules_replacements_and_settings() {
    let info = decode(&blob("go1.19.8", MODINFO)).unwrap();
    assert_eq!(info.go_version, "go1.19.8");
    assert_eq!(info.path, "example.com/app");
    let main = info.main.unwrap();
    assert_eq!(
        (main.path.as_str(), main.version.as_str()),
        ("example.com/app", "(devel)")
    );
    assert_eq!(main.sum, None);
    assert_eq!(info.deps.len(), 2);
    assert_eq!(info.deps[0].path, "example.com/greet");
    assert_eq!(info.deps[0].version, "v1.2.3");
    assert_eq!(info.deps[0].sum.as_deref(), Some("h1:abc="));
    let r = info.deps[1].replace.as_ref().unwrap();
    assert_eq!((r.path.as_str(), r.version.as_str()), ("../text", ""));
    assert_eq!(
        info.settings,
        [
            ("-compiler".to_string(), "gc".to_string()),
            ("-ldflags".into(), "-s -w -X main.v=1".into()),
            ("CGO_ENABLED".into(), "0".into()),
            ("GOOS".into(), "linux".into()),
        ]
    );
}

#[test]
fn a_long_module_info_takes_a_multi_byte_length() {
    let many: String = (0..40)
        .map(|i| format!("dep\texample.com/m{i}\tv1.0.{i}\th1:x=\n"))
        .collect();
    let info = decode(&blob("go1.22.1", &format!("path\tp\n{many}"))).unwrap();
    assert_eq!(info.deps.len(), 40);
    assert_eq!(info.deps[39].version, "v1.0.39");
}

#[test]
fn the_pointer_layout_and_truncation_are_errors() {
    let mut old = blob("go1.17", MODINFO);
    old[15] = 0;
    assert!(decode(&old).unwrap_err().contains("before Go 1.18"));
    let full = blob("go1.19.8", MODINFO);
    assert!(decode(&full[..full.len() - 20]).is_err());
}

#[test]
fn no_sentinels_means_no_module_info() {
    let mut b = MAGIC.to_vec();
    b.push(8);
    b.push(FLAG_INLINE);
    b.resize(HEADER_LEN, 0);
    b.extend_from_slice(b"\x08go1.19.8\x00");
    let info = decode(&b).unwrap();
    assert_eq!(info.go_version, "go1.19.8");
    assert!(info.main.is_none() && info.deps.is_empty());
}

#[test]
fn quoted_keys_and_escapes() {
    assert_eq!(
        setting("\"a=b\"=\"x\\ty\\\"z\""),
        ("a=b".to_string(), "x\ty\"z".to_string())
    );
    assert_eq!(setting("GOARCH=amd64"), ("GOARCH".into(), "amd64".into()));
    assert_eq!(quoted_prefix("\"\\u00e9\"").unwrap(), ("é".to_string(), 8));
}

#[test]
fn an_elf_file_without_go_build_info_has_none() {
    // This test binary is an ELF file Rust built: no Go build info.
    let exe = std::env::current_exe().unwrap();
    let bytes = std::fs::read(exe).unwrap();
    assert_eq!(read(&bytes).unwrap(), None);
}

//! The CA stores that Debian generates in maintainer scripts, generated here instead, the same
//! way every time: `/etc/ssl/certs/ca-certificates.crt` (what `update-ca-certificates` writes
//! from the default `/etc/ca-certificates.conf`, which selects every certificate) and Java's
//! `/etc/ssl/certs/java/cacerts` (a JKS keystore, as `ca-certificates-java` writes).

use base64::Engine;
use sha1::{Digest, Sha1};

/// One certificate file from `/usr/share/ca-certificates` (`mozilla/ISRG_Root_X1.crt`).
#[derive(Clone, Debug)]
pub struct CaCert {
    pub name: String,
    pub pem: Vec<u8>,
}

/// The PEM bundle: every certificate in byte order of its name, each ending in a newline, as
/// update-ca-certificates concatenates them.
pub fn bundle(certs: &[CaCert]) -> Vec<u8> {
    let mut sorted: Vec<&CaCert> = certs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for c in sorted {
        out.extend_from_slice(&c.pem);
        if !c.pem.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// The password Java's cacerts has always had; the JKS integrity hash is keyed with it.
const STORE_PASSWORD: &str = "changeit";

/// A JKS keystore of trusted-certificate entries, aliases `debian:<name>.pem` as Debian's
/// store has them, sorted by alias; every entry dated `created_ms`.
pub fn jks(certs: &[CaCert], created_ms: u64) -> Result<Vec<u8>, String> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for c in certs {
        let base = c.name.rsplit('/').next().unwrap_or(&c.name);
        let stem = base.strip_suffix(".crt").unwrap_or(base);
        let alias = format!("debian:{}.pem", stem.to_lowercase());
        for der in pem_certificates(&c.pem).map_err(|e| format!("{}: {e}", c.name))? {
            entries.push((alias.clone(), der));
        }
    }
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);

    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (alias, der) in &entries {
        // Tag 2: a trusted certificate entry.
        out.extend_from_slice(&2u32.to_be_bytes());
        put_utf(&mut out, alias)?;
        out.extend_from_slice(&created_ms.to_be_bytes());
        put_utf(&mut out, "X.509")?;
        out.extend_from_slice(&(der.len() as u32).to_be_bytes());
        out.extend_from_slice(der);
    }
    // JKS's integrity check: SHA-1 over the password as UTF-16BE, the fixed salt
    // "Mighty Aphrodite", then the whole store.
    let mut h = Sha1::new();
    for unit in STORE_PASSWORD.encode_utf16() {
        h.update(unit.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(&out);
    out.extend_from_slice(&h.finalize());
    Ok(out)
}

/// Java's `DataOutput.writeUTF`: a 16-bit length, then "modified UTF-8" (each UTF-16 unit
/// on its own, NUL as two bytes). Some Mozilla root names are not ASCII.
fn put_utf(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let mut bytes = Vec::new();
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => bytes.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                bytes.push(0xC0 | (unit >> 6) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                bytes.push(0xE0 | (unit >> 12) as u8);
                bytes.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    let len = u16::try_from(bytes.len()).map_err(|_| format!("alias '{s}' is too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

/// The DER bytes of each `CERTIFICATE` block in a PEM file.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not text".to_string())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or("unterminated PEM block")?;
        let b64: String = body[..end].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("bad base64: {e}"))?;
        out.push(der);
        rest = &body[end..];
    }
    if out.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str, der: &[u8], newline: bool) -> CaCert {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----");
        if newline {
            pem.push('\n');
        }
        CaCert {
            name: name.into(),
            pem: pem.into_bytes(),
        }
    }

    #[test]
    fn bundle_is_sorted_and_newline_terminated() {
        let b = bundle(&[
            cert("mozilla/B.crt", b"bb", true),
            cert("mozilla/A.crt", b"aa", false),
        ]);
        let text = String::from_utf8(b).unwrap();
        assert_eq!(
            text,
            "-----BEGIN CERTIFICATE-----\nYWE=\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nYmI=\n-----END CERTIFICATE-----\n"
        );
    }

    #[test]
    fn jks_layout_and_integrity_hash() {
        let store = jks(
            &[
                cert("mozilla/Zeta_Root.crt", b"\x30\x01z", true),
                cert("mozilla/Alpha.crt", b"\x30\x01a", true),
            ],
            1000,
        )
        .unwrap();
        assert_eq!(
            &store[..12],
            &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 2]
        );
        // First entry: tag 2, alias "debian:alpha.pem" (sorted first), time 1000 ms, "X.509".
        assert_eq!(&store[12..16], &[0, 0, 0, 2]);
        assert_eq!(&store[16..18], &[0, 16]);
        assert_eq!(&store[18..34], b"debian:alpha.pem");
        assert_eq!(&store[34..42], &1000u64.to_be_bytes());
        assert_eq!(&store[42..49], b"\x00\x05X.509");
        assert_eq!(&store[49..56], &[0, 0, 0, 3, 0x30, 1, b'a']);
        let (body, digest) = store.split_at(store.len() - 20);
        let mut h = Sha1::new();
        h.update(b"\0c\0h\0a\0n\0g\0e\0i\0t");
        h.update(b"Mighty Aphrodite");
        h.update(body);
        assert_eq!(digest, h.finalize().as_slice());
        // Same input, same bytes.
        assert_eq!(
            store,
            jks(
                &[
                    cert("mozilla/Alpha.crt", b"\x30\x01a", true),
                    cert("mozilla/Zeta_Root.crt", b"\x30\x01z", true)
                ],
                1000
            )
            .unwrap()
        );
    }

    #[test]
    fn modified_utf8() {
        let mut out = Vec::new();
        put_utf(&mut out, "aő\0😀").unwrap();
        // 'a'; U+0151 in two bytes; NUL in two bytes; U+1F600 as two 3-byte surrogates.
        assert_eq!(
            out,
            [
                0, 11, b'a', 0xC5, 0x91, 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80
            ]
        );
    }

    #[test]
    fn pem_errors() {
        assert!(pem_certificates(b"nothing").is_err());
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nYWE=").is_err());
    }
}

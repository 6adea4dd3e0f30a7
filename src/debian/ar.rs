//! The `ar` container of a .deb (`!<arch>\n`, then 60-byte member headers, members padded to an
//! even length), read as a stream: a .deb is never loaded into memory.

use std::io::{self, Read};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: usize = 60;

pub struct ArReader<R> {
    inner: R,
    /// Bytes of the current member not yet read, plus its padding byte.
    remaining: u64,
    pad: bool,
}

/// One member: its name (GNU `name/` spelling normalized) and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
}

impl<R: Read> ArReader<R> {
    pub fn new(mut inner: R) -> io::Result<Self> {
        let mut magic = [0u8; 8];
        inner
            .read_exact(&mut magic)
            .map_err(|e| bad(format!("no ar header: {e}")))?;
        if &magic != MAGIC {
            return Err(bad("not an ar archive (a .deb starts with !<arch>)".into()));
        }
        Ok(ArReader {
            inner,
            remaining: 0,
            pad: false,
        })
    }

    /// Skips what is left of the current member and reads the next header; `None` at the end.
    pub fn next_member(&mut self) -> io::Result<Option<Member>> {
        self.skip_rest()?;
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match self.inner.read(&mut header[got..])? {
                0 if got == 0 => return Ok(None),
                0 => return Err(bad("truncated ar member header".into())),
                n => got += n,
            }
        }
        if &header[58..60] != b"`\n" {
            return Err(bad("corrupt ar member header".into()));
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| bad(format!("bad size in ar header of '{name}'")))?;
        self.remaining = size;
        self.pad = size % 2 == 1;
        Ok(Some(Member { name, size }))
    }

    fn skip_rest(&mut self) -> io::Result<()> {
        let skip = self.remaining + u64::from(self.pad);
        if skip > 0 {
            let copied = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
            // A missing padding byte at the very end is tolerated (some tools omit it).
            if copied < self.remaining {
                return Err(bad("truncated ar member".into()));
            }
        }
        self.remaining = 0;
        self.pad = false;
        Ok(())
    }
}

/// Reading from the reader yields the current member's bytes.
impl<R: Read> Read for ArReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(bad("truncated ar member".into()));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an ar archive as `ar r` would (GNU names with a trailing slash).
    pub fn build(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, data) in members {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                format!("{name}/"),
                0,
                0,
                0,
                "100644",
                data.len()
            );
            assert_eq!(header.len(), HEADER_LEN);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn reads_members_in_order_with_padding() {
        let ar = build(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", b"odd"),
            ("data.tar.xz", b"payload"),
        ]);
        let mut r = ArReader::new(&ar[..]).unwrap();
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(
            m,
            Member {
                name: "debian-binary".into(),
                size: 4
            }
        );
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "2.0\n");
        // The odd-sized member is skipped unread, padding included.
        assert_eq!(r.next_member().unwrap().unwrap().name, "control.tar.gz");
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, "data.tar.xz");
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"payload");
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(ArReader::new(&b"PK\x03\x04 not ar"[..]).is_err());
        let ar = build(&[("data.tar.xz", b"0123456789")]);
        let cut = &ar[..ar.len() - 4];
        let mut r = ArReader::new(cut).unwrap();
        r.next_member().unwrap().unwrap();
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).is_err());
        let mut bad_header = ar.clone();
        bad_header[8 + 58] = b'x';
        assert!(
            ArReader::new(&bad_header[..])
                .unwrap()
                .next_member()
                .is_err()
        );
    }
}

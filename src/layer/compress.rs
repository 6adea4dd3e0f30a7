//! The layer compressions: gzip (the default, read by every runtime) and zstd (`--compression
//! zstd`, for registries and runtimes that take it: containerd ≥ 1.5, Docker ≥ 23). Both are
//! deterministic: gzip through the blocked writer in `gzip.rs`, zstd through libzstd's
//! multithreaded mode with at least one worker, whose output is the same for any worker count
//! (libzstd's single-threaded mode writes other bytes, so it is never used).

use super::gzip::{self, GzipWriter};
use std::io::{self, Write};

pub const GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// zstd level used for layers: libzstd's default, fast and close to gzip -9's ratio.
pub const ZSTD_LEVEL: i32 = 3;

/// How lade compresses the layers it writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => GZIP_LAYER_MEDIA_TYPE,
            Compression::Zstd => ZSTD_LAYER_MEDIA_TYPE,
        }
    }

    /// What the layer cache key says of the encoding, `level` being gzip's.
    pub(super) fn key_format(self, level: u32) -> String {
        match self {
            Compression::Gzip => {
                format!(
                    "gzip=blocked-dict32k level={level} block={}",
                    gzip::BLOCK_SIZE
                )
            }
            Compression::Zstd => format!(
                "zstd={} level={ZSTD_LEVEL} mt",
                zstd::zstd_safe::version_string()
            ),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!("unknown compression {other:?}: use gzip or zstd")),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// A compressing writer of either kind.
pub enum Encoder<W: Write> {
    Gzip(GzipWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Starts compressing into `inner` on `threads` threads (the bytes do not depend on it).
    pub fn new(inner: W, c: Compression, gzip_level: u32, threads: usize) -> io::Result<Self> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(GzipWriter::new(
                inner,
                gzip_level,
                threads,
                gzip::BLOCK_SIZE,
            )?),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?;
                // Never 0 workers: the single-threaded encoder's bytes differ.
                e.multithread(threads.max(1) as u32)?;
                e.include_checksum(false)?;
                e.include_contentsize(false)?;
                Encoder::Zstd(e)
            }
        })
    }

    /// Ends the stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 25) as u8 & 0x1f)
            .collect()
    }

    fn zstd_of(data: &[u8], threads: usize) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new(), Compression::Zstd, 6, threads).unwrap();
        // Odd chunk sizes: the bytes must not depend on how the input arrives either.
        for c in data.chunks(7_777) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_threads_and_decode_independently() {
        let data = sample(9 * 1024 * 1024);
        let one = zstd_of(&data, 1);
        assert_eq!(one, zstd_of(&data, 2));
        assert_eq!(one, zstd_of(&data, 4));
        assert!(one.len() < data.len() / 2, "compressed: {}", one.len());
        // ruzstd: a decoder written independently of libzstd.
        let mut back = Vec::new();
        std::io::Read::read_to_end(
            &mut ruzstd::decoding::StreamingDecoder::new(&one[..]).unwrap(),
            &mut back,
        )
        .unwrap();
        assert_eq!(back, data);
    }
}

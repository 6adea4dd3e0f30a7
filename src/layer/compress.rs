//! The layer compressions: gzip (the default, read by every runtime) and zstd (`--compression
//! zstd`, for registries and runtimes that take it: containerd ≥ 1.5, Docker ≥ 23). Both are
//! deterministic: gzip through the blocked writer in `gzip.rs`, zstd through libzstd's
//! multithreaded mode with at least one worker, whose output is the same for any worker count
//! (libzstd's single-threaded mode writes other bytes, so it is never used).

use super::gzip::{self, GzipWriter};
use std::io::{self, Write};

pub const GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// zstd's default level for layers: libzstd's, BuildKit's and containers/image's default,
/// fast and close to gzip -9's ratio.
pub const ZSTD_LEVEL: u32 = 3;
/// gzip's default level for layers.
pub const GZIP_LEVEL: u32 = 6;

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

    /// The level used when none is given.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => GZIP_LEVEL,
            Compression::Zstd => ZSTD_LEVEL,
        }
    }

    /// The levels this compression takes (`--compression-level`): zstd's upper levels past
    /// 19 need a window too large for every runtime to accept.
    pub fn levels(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Compression::Gzip => 1..=9,
            Compression::Zstd => 1..=19,
        }
    }

    /// `level` when this compression takes it; else what it takes, in words.
    pub fn check_level(self, level: u32) -> Result<u32, String> {
        let levels = self.levels();
        if levels.contains(&level) {
            return Ok(level);
        }
        Err(format!(
            "{self} takes levels {} to {} ({} when not given; lower is faster, higher smaller)",
            levels.start(),
            levels.end(),
            self.default_level()
        ))
    }

    /// What the layer cache key says of the encoding (gzip's level goes in the key apart).
    pub(super) fn key_format(self, level: u32) -> String {
        match self {
            Compression::Gzip => {
                format!(
                    "gzip=blocked-dict32k level={level} block={}",
                    gzip::BLOCK_SIZE
                )
            }
            Compression::Zstd => format!(
                "zstd={} level={level} mt",
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
    /// Starts compressing into `inner` at `level` on `threads` threads (the bytes do not depend
    /// on the threads).
    pub fn new(inner: W, c: Compression, level: u32, threads: usize) -> io::Result<Self> {
        Ok(match c {
            Compression::Gzip => {
                Encoder::Gzip(GzipWriter::new(inner, level, threads, gzip::BLOCK_SIZE)?)
            }
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(inner, level as i32)?;
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

    fn zstd_of(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new(), Compression::Zstd, level, threads).unwrap();
        // Odd chunk sizes: the bytes must not depend on how the input arrives either.
        for c in data.chunks(7_777) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_threads_and_decode_independently() {
        let data = sample(9 * 1024 * 1024);
        let one = zstd_of(&data, ZSTD_LEVEL, 1);
        assert_eq!(one, zstd_of(&data, ZSTD_LEVEL, 2));
        assert_eq!(one, zstd_of(&data, ZSTD_LEVEL, 4));
        assert!(one.len() < data.len() / 2, "compressed: {}", one.len());
        assert_eq!(decoded(&one), data);
    }

    /// ruzstd: a decoder written independently of libzstd.
    fn decoded(z: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        std::io::Read::read_to_end(
            &mut ruzstd::decoding::StreamingDecoder::new(z).unwrap(),
            &mut back,
        )
        .unwrap();
        back
    }

    #[test]
    fn another_zstd_level_writes_other_bytes_of_the_same_content() {
        let data = sample(3 * 1024 * 1024);
        let fast = zstd_of(&data, 1, 2);
        assert_eq!(
            fast,
            zstd_of(&data, 1, 1),
            "level 1 is thread-independent too"
        );
        assert_ne!(fast, zstd_of(&data, ZSTD_LEVEL, 2));
        assert_eq!(decoded(&fast), data);
        assert_ne!(
            Compression::Zstd.key_format(1),
            Compression::Zstd.key_format(ZSTD_LEVEL),
            "the level is in the layer key"
        );
    }

    #[test]
    fn levels_are_checked_per_compression() {
        assert_eq!(Compression::Zstd.check_level(19), Ok(19));
        assert_eq!(Compression::Gzip.check_level(1), Ok(1));
        assert_eq!(
            Compression::Gzip.check_level(12).unwrap_err(),
            "gzip takes levels 1 to 9 (6 when not given; lower is faster, higher smaller)"
        );
        assert!(Compression::Zstd.check_level(0).is_err());
        assert!(Compression::Zstd.check_level(20).is_err());
    }
}

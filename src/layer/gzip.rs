//! Deterministic, optionally parallel gzip (the pigz scheme).
//!
//! The input is cut into fixed-size blocks. Each block is deflated on its own, primed with the
//! last 32 KiB of the previous block as preset dictionary, and ended with a sync flush (the last
//! one with a final block), so the raw deflate pieces concatenate into one valid stream. Block
//! boundaries depend only on the input length, and each piece is a pure function of (level,
//! dictionary, block), so the bytes are identical whether one thread or eight did the work.
//! There is exactly one format, also on one thread: layers must not depend on how many cores the
//! build machine has. (A single-stream `GzEncoder` compresses no better: measured within 0.03%.)
//!
//! The header carries no file name and mtime 0, so the bytes depend on the content only.

use crc32fast::Hasher as Crc;
use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::mem;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

/// Deflate's window: a dictionary longer than this is useless, a shorter one loses ratio.
const WINDOW: usize = 32 * 1024;

/// The block size the layer writer uses; part of the layer format (it changes the bytes).
/// Measured on a 55 MiB mixed tar at level 6: 128 KiB to 1 MiB blocks all land within 0.03% of
/// single-stream gzip's size at the same speed; 256 KiB still gives 2-8 threads work on
/// layers of a few MiB.
pub const BLOCK_SIZE: usize = 256 * 1024;

/// A gzip stream writer whose output does not depend on `threads`.
pub struct GzipWriter<W: Write> {
    inner: W,
    block_size: usize,
    block: Vec<u8>,
    /// Tail of the previous block, the next block's preset dictionary.
    dict: Vec<u8>,
    crc: Crc,
    /// Input bytes so far, for the trailer's ISIZE.
    len: u64,
    engine: Engine,
    /// Input buffers handed back by the compressor, reused for later blocks.
    spare: Vec<Vec<u8>>,
}

enum Engine {
    /// One thread: blocks are compressed as they fill, with the same function the pool uses.
    Inline(Compression),
    Pool(Pool),
}

struct Job {
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    reply: mpsc::SyncSender<io::Result<Done>>,
}

struct Done {
    deflated: Vec<u8>,
    crc: Crc,
    /// The input buffer, handed back for reuse.
    data: Vec<u8>,
}

struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Results in stream order; bounded so memory stays at a few blocks per thread.
    pending: VecDeque<mpsc::Receiver<io::Result<Done>>>,
    max_pending: usize,
}

impl<W: Write> GzipWriter<W> {
    /// Writes the gzip header to `inner` and starts `threads` compression threads (none when
    /// `threads` ≤ 1). `block_size` must be at least 32 KiB so each dictionary is a full window.
    pub fn new(mut inner: W, level: u32, threads: usize, block_size: usize) -> io::Result<Self> {
        assert!(
            block_size >= WINDOW,
            "gzip block size below the deflate window"
        );
        let level = Compression::new(level.min(9));
        inner.write_all(&header(level))?;
        let engine = if threads <= 1 {
            Engine::Inline(level)
        } else {
            Engine::Pool(Pool::start(level, threads)?)
        };
        Ok(GzipWriter {
            inner,
            block_size,
            block: Vec::with_capacity(block_size),
            dict: Vec::new(),
            crc: Crc::new(),
            len: 0,
            engine,
            spare: Vec::new(),
        })
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        if let Engine::Pool(pool) = &mut self.engine {
            while let Some(done) = pool.next_done()? {
                emit(&mut self.inner, &mut self.crc, &mut self.spare, done)?;
            }
        }
        let GzipWriter {
            mut inner,
            crc,
            len,
            ..
        } = self;
        inner.write_all(&crc.finalize().to_le_bytes())?;
        // ISIZE is the input length modulo 2^32 by definition.
        inner.write_all(&(len as u32).to_le_bytes())?;
        Ok(inner)
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.block_size));
        let data = mem::replace(&mut self.block, fresh);
        let dict = mem::take(&mut self.dict);
        if !last {
            self.dict = data[data.len() - WINDOW.min(data.len())..].to_vec();
        }
        match &mut self.engine {
            Engine::Inline(level) => {
                let done = compress(*level, &dict, data, last)?;
                emit(&mut self.inner, &mut self.crc, &mut self.spare, done)?;
            }
            Engine::Pool(pool) => {
                pool.submit(dict, data, last)?;
                while pool.pending.len() > pool.max_pending {
                    if let Some(done) = pool.next_done()? {
                        emit(&mut self.inner, &mut self.crc, &mut self.spare, done)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn emit<W: Write>(
    inner: &mut W,
    crc: &mut Crc,
    spare: &mut Vec<Vec<u8>>,
    done: Done,
) -> io::Result<()> {
    inner.write_all(&done.deflated)?;
    crc.combine(&done.crc);
    let mut data = done.data;
    data.clear();
    spare.push(data);
    Ok(())
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full block is dispatched only once more input arrives, so `finish` knows which
        // block is the last and can end it with a final deflate block instead of an extra one.
        if self.block.len() == self.block_size {
            self.dispatch(false)?;
        }
        let n = buf.len().min(self.block_size - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    /// Flushes only what is already compressed: emitting a partial block would move the block
    /// boundaries and make the bytes depend on when callers flush.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(level: Compression) -> [u8; 10] {
    // XFL as gzip(1), Go and flate2 set it; OS 255 = unknown, so the host does not leak in.
    let xfl = match level.level() {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// One block's share of the stream: its deflate piece and its CRC.
fn compress(level: Compression, dict: &[u8], data: Vec<u8>, last: bool) -> io::Result<Done> {
    let deflated = deflate_block(level, dict, &data, last)?;
    let mut crc = Crc::new();
    crc.update(&data);
    Ok(Done {
        deflated,
        crc,
        data,
    })
}

/// Raw deflate of one block with `dict` as preset dictionary, ended by a sync flush, or by a
/// final block when `last`.
fn deflate_block(level: Compression, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    // A fresh compressor every time, never `reset()`: a reset keeps the old window bytes, and
    // the match finder looks past the end of the input at them, so the output would depend on
    // which blocks this thread compressed before. A new one starts zeroed; setting it up costs
    // well under 1% of compressing a block.
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Deflate's worst case is a little over the input size; reserving it up front means one
    // call almost always finishes the block.
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let (in_before, out_before) = (c.total_in(), out.len());
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += (c.total_in() - in_before) as usize;
        match status {
            Status::StreamEnd => return Ok(out),
            // zlib's rule: a flush is complete when it returns with output space to spare.
            Status::Ok | Status::BufError
                if !last && consumed == data.len() && out.len() < out.capacity() =>
            {
                return Ok(out);
            }
            Status::BufError if c.total_in() == in_before && out.len() == out_before => {
                return Err(io::Error::other("deflate made no progress"));
            }
            _ => {}
        }
    }
}

impl Pool {
    fn start(level: Compression, threads: usize) -> io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new()
                .name(format!("lade-gzip-{i}"))
                .spawn(move || work(&rx, level))?;
            workers.push(handle);
        }
        Ok(Pool {
            jobs: Some(tx),
            workers,
            pending: VecDeque::new(),
            max_pending: 2 * threads,
        })
    }

    fn submit(&mut self, dict: Vec<u8>, data: Vec<u8>, last: bool) -> io::Result<()> {
        // Capacity 1: a worker's reply never blocks, whatever the writer is doing.
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            dict,
            data,
            last,
            reply,
        };
        let jobs = self.jobs.as_ref().expect("pool used after shutdown");
        jobs.send(job).map_err(|_| worker_died())?;
        self.pending.push_back(result);
        Ok(())
    }

    /// The oldest outstanding block, waiting for it; `None` when nothing is outstanding.
    fn next_done(&mut self) -> io::Result<Option<Done>> {
        match self.pending.pop_front() {
            None => Ok(None),
            Some(rx) => rx.recv().map_err(|_| worker_died())?.map(Some),
        }
    }
}

fn worker_died() -> io::Error {
    io::Error::other("a gzip compression thread stopped unexpectedly")
}

fn work(jobs: &Mutex<mpsc::Receiver<Job>>, level: Compression) {
    loop {
        // The guard is dropped at the end of the statement, so other workers can take jobs
        // while this one compresses.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        let result = compress(level, &job.dict, job.data, job.last);
        // The writer may have given up (an error elsewhere); nobody to tell then.
        let _ = job.reply.send(result);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every worker's loop.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible but not trivially so: text-like runs mixed with pseudo-random bytes, so
    /// blocks really use their dictionaries and emit dynamic Huffman blocks.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x1234_5678;
        let words: [&[u8]; 4] = [b"layer ", b"digest ", b"\x00\x00\x00\x00", b"sha256 "];
        let mut v = Vec::with_capacity(len + 16);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if x.is_multiple_of(3) {
                v.push((x >> 8) as u8);
            } else {
                v.extend_from_slice(words[(x % 4) as usize]);
            }
        }
        v.truncate(len);
        v
    }

    fn gzip(data: &[u8], threads: usize, block: usize, chunk: usize) -> Vec<u8> {
        let mut w = GzipWriter::new(Vec::new(), 6, threads, block).unwrap();
        for piece in data.chunks(chunk.max(1)) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn same_bytes_at_any_thread_count() {
        const B: usize = WINDOW;
        for len in [0, 1, B - 1, B, B + 1, 3 * B, 7 * B + 123] {
            let data = sample(len);
            let one = gzip(&data, 1, B, 1000);
            for threads in [2, 4] {
                // Different write sizes too: chunking must not move block boundaries.
                let many = gzip(&data, threads, B, 4096 + threads);
                assert!(one == many, "len {len}: {threads} threads differ from 1");
            }
            assert_eq!(gunzip(&one), data, "len {len}: round trip");
        }
    }

    #[test]
    fn machine_code_same_bytes_at_any_thread_count() {
        // Real binaries are where match selection near a block's end is most sensitive to
        // compressor state: reusing one compressor per thread (deflateReset keeps the old window
        // bytes) made these differ between runs. The test binary itself is a realistic input;
        // 48 blocks of it reliably caught that mistake, 16 did not.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let data = &exe[..exe.len().min(48 * WINDOW)];
        let one = gzip(data, 1, WINDOW, 65536);
        for threads in [2, 4] {
            assert!(
                one == gzip(data, threads, WINDOW, 65536),
                "{threads} threads"
            );
        }
    }

    #[test]
    fn layer_block_size_round_trips_and_compresses() {
        let data = sample(2 * BLOCK_SIZE + 4321);
        let one = gzip(&data, 1, BLOCK_SIZE, 64 * 1024);
        assert_eq!(one, gzip(&data, 4, BLOCK_SIZE, 10_000));
        assert_eq!(gunzip(&one), data);
        assert!(
            one.len() < data.len() / 2,
            "{} of {}",
            one.len(),
            data.len()
        );
        // Header: no name, mtime 0, OS unknown; trailer: CRC and length of the input.
        assert_eq!(&one[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let tail = &one[one.len() - 8..];
        assert_eq!(tail[..4], crc32fast::hash(&data).to_le_bytes());
        assert_eq!(tail[4..], (data.len() as u32).to_le_bytes());
    }

    #[test]
    fn dictionary_is_used() {
        // The second block repeats the previous block's second half: it compresses to almost
        // nothing only if that tail really primes the compressor. (Deflate cannot reach back a
        // full 32 KiB, so the repeat sits at half a window.)
        let half = sample(WINDOW);
        let mut data = half.clone();
        data.extend_from_slice(&half[WINDOW / 2..]);
        let gz = gzip(&data, 2, WINDOW, WINDOW);
        let first = gzip(&half, 1, WINDOW, WINDOW).len();
        let tail_alone = gzip(&half[WINDOW / 2..], 1, WINDOW, WINDOW).len();
        // With the dictionary the tail is ~64 back-references of 258 bytes each.
        assert!(
            gz.len() - first < tail_alone / 4,
            "tail cost {} bytes, {} without a dictionary",
            gz.len() - first,
            tail_alone
        );
        assert_eq!(gunzip(&gz), data);
    }
}

//! A blob file that can be read while it is still being written: an upload follows the
//! compressor's output instead of waiting for the whole layer, as ko streams the layers it
//! has not finished computing. The writer side ([`Growth`]) says how many bytes are on disk
//! and, at the end, the blob's digest; the reader side ([`GrowingBlob`]) streams those bytes
//! as they arrive. A leaf.

use crate::digest::Digest;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use tokio::sync::watch;

/// How far the writer is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// This many bytes are in the file (and stay as written).
    Writing(u64),
    /// Complete: `size` bytes hashing to `digest`.
    Done { digest: Digest, size: u64 },
    /// The writer gave up; the bytes so far are not a blob.
    Failed,
}

impl State {
    /// The digest and size of a complete blob.
    fn outcome(&self) -> Option<(Digest, u64)> {
        match self {
            State::Done { digest, size } => Some((digest.clone(), *size)),
            _ => None,
        }
    }
}

/// The writer's side: it reports bytes as they reach the file.
pub struct Growth {
    state: watch::Sender<State>,
    written: u64,
}

/// The reader's side of a blob being written.
#[derive(Clone)]
pub struct GrowingBlob {
    file: Arc<File>,
    state: watch::Receiver<State>,
    /// The tar's size, a bound on the blob's (compression only shrinks what is not already
    /// compressed, by at most a few bytes per block otherwise).
    estimate: u64,
}

/// Starts following the file `file` (a handle open on the blob being written; reads go by
/// offset, so it may share its position with the writer's). `estimate` is roughly how big the
/// blob will be, for readers that only follow large blobs.
pub fn follow(file: File, estimate: u64) -> (Growth, GrowingBlob) {
    let (tx, rx) = watch::channel(State::Writing(0));
    (
        Growth {
            state: tx,
            written: 0,
        },
        GrowingBlob {
            file: Arc::new(file),
            state: rx,
            estimate,
        },
    )
}

impl Growth {
    /// `n` more bytes are in the file.
    pub fn wrote(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.written += n as u64;
        let written = self.written;
        self.state.send_replace(State::Writing(written));
    }

    /// The blob is complete.
    pub fn done(self, digest: &Digest, size: u64) {
        self.state.send_replace(State::Done {
            digest: digest.clone(),
            size,
        });
    }
}

impl Drop for Growth {
    /// A writer dropped before [`done`](Self::done) failed: readers stop with an error.
    fn drop(&mut self) {
        self.state.send_if_modified(|s| {
            let writing = matches!(s, State::Writing(_));
            if writing {
                *s = State::Failed;
            }
            writing
        });
    }
}

/// Read size per chunk handed to a reader.
const CHUNK: u64 = 256 << 10;

impl GrowingBlob {
    /// Roughly how big the blob will be.
    pub fn estimate(&self) -> u64 {
        self.estimate
    }

    /// The digest and size once the blob is complete.
    pub fn finished(&self) -> Option<(Digest, u64)> {
        self.state.borrow().outcome()
    }

    /// Waits until the writer is done: the digest and size, or `None` when it failed.
    pub async fn wait(&self) -> Option<(Digest, u64)> {
        let mut state = self.state.clone();
        let done = state
            .wait_for(|s| !matches!(s, State::Writing(_)))
            .await
            .ok()?;
        done.outcome()
    }

    /// The blob's bytes from the start, each chunk as soon as it is in the file; the stream
    /// ends when the writer is done and fails when it gives up.
    pub fn stream(&self) -> impl futures_util::Stream<Item = io::Result<Vec<u8>>> + use<> {
        let start = (self.file.clone(), self.state.clone(), 0u64);
        futures_util::stream::try_unfold(start, |(file, mut state, offset)| async move {
            let available = loop {
                let (available, done) = match &*state.borrow_and_update() {
                    State::Writing(n) => (*n, false),
                    State::Done { size, .. } => (*size, true),
                    State::Failed => return Err(gave_up()),
                };
                if offset < available {
                    break available;
                }
                if done {
                    return Ok(None);
                }
                state.changed().await.map_err(|_| gave_up())?;
            };
            let len = (available - offset).min(CHUNK) as usize;
            let reader = file.clone();
            let chunk = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; len];
                reader.read_exact_at(&mut buf, offset).map(|()| buf)
            })
            .await
            .map_err(io::Error::other)??;
            Ok(Some((chunk, (file, state, offset + len as u64))))
        })
    }
}

fn gave_up() -> io::Error {
    io::Error::other("the layer being uploaded was not written to the end")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    #[tokio::test]
    async fn a_reader_gets_every_byte_as_written_and_ends_with_the_writer() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let (mut growth, blob) = follow(tmp.reopen().unwrap(), 10);
        let reader = blob.clone();
        let read = tokio::spawn(async move {
            let chunks: Vec<_> = reader.stream().collect().await;
            chunks
                .into_iter()
                .collect::<io::Result<Vec<_>>>()
                .map(|c| c.concat())
        });
        let mut all = Vec::new();
        for i in 0..50u32 {
            let part = i.to_le_bytes().repeat(1000);
            tmp.write_all(&part).unwrap();
            tmp.flush().unwrap();
            growth.wrote(part.len());
            all.extend_from_slice(&part);
            tokio::task::yield_now().await;
        }
        assert_eq!(blob.finished(), None);
        let digest = Digest::of(&all);
        growth.done(&digest, all.len() as u64);
        assert_eq!(read.await.unwrap().unwrap(), all);
        assert_eq!(blob.wait().await, Some((digest, all.len() as u64)));
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_fails_its_readers() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let (mut growth, blob) = follow(tmp.reopen().unwrap(), 10);
        tmp.write_all(b"partial").unwrap();
        growth.wrote(7);
        let mut stream = Box::pin(blob.stream());
        assert_eq!(stream.next().await.unwrap().unwrap(), b"partial");
        drop(growth);
        assert!(stream.next().await.unwrap().is_err());
        assert_eq!(blob.wait().await, None);
        // A reader that comes after the failure fails at once: the bytes are no blob.
        assert!(Box::pin(blob.stream()).next().await.unwrap().is_err());
    }
}

//! An image's layers compressed side by side. Each compressor already uses every core for one
//! layer, but a layer's start (its first block still being read) and end (its last block
//! compressed on one core) leave cores idle, and a small layer written after a large one waits
//! for all of it: two lanes fill those gaps. The bytes of each layer do not depend on the lanes.

use super::{LayerBlob, LayerError, LayerWriter, Prepared};
use crate::growing::GrowingBlob;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

/// A layer whose files hold more than this many bytes is large: at most one large layer is
/// compressed at a time, since a compressor's buffers grow with its input up to a few of its
/// jobs, and two large layers at once would double lade's memory.
const LARGE: u64 = 16 << 20;

/// Layers compressed at once.
const LANES: usize = 2;

enum Message {
    /// A layer's blob was started: the writer's follower may read it as it grows.
    Started(GrowingBlob),
    /// The layer at this position is written, or failed.
    Done(usize, Result<LayerBlob, LayerError>),
}

impl LayerWriter<'_> {
    /// The layers `prepared` describes, in the same order: those the cache holds at once, the
    /// others compressed up to two at a time (largest first). `ready` is called on this thread
    /// with each layer's position as soon as its blob is complete, and the writer's follower
    /// with each blob as it is started. After a failure no further layer is started, and the
    /// error of the first failed layer (in the given order) is returned.
    pub fn write_each(
        &self,
        prepared: Vec<Prepared>,
        ready: &mut dyn FnMut(usize, &LayerBlob),
    ) -> Result<Vec<LayerBlob>, LayerError> {
        let mut done: Vec<Option<Result<LayerBlob, LayerError>>> =
            prepared.iter().map(|_| None).collect();
        let mut todo = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            match &p.found {
                Some(blob) => {
                    ready(i, blob);
                    done[i] = Some(Ok(blob.clone()));
                }
                None => todo.push((i, p)),
            }
        }
        let mut finished = |i: usize, r: Result<LayerBlob, LayerError>| {
            if let Ok(blob) = &r {
                ready(i, blob);
            }
            done[i] = Some(r);
        };
        if todo.len() > 1 {
            self.side_by_side(todo, &mut finished);
        } else {
            for (i, p) in todo {
                finished(i, self.write_prepared(p));
            }
        }
        // The first failure in the given order, if any; layers are left unstarted only then.
        let count = done.len();
        let blobs: Vec<LayerBlob> = done.into_iter().flatten().collect::<Result<_, _>>()?;
        assert_eq!(blobs.len(), count, "a layer was skipped without a failure");
        Ok(blobs)
    }

    /// Compresses `todo` on [`LANES`] threads; messages come back to this thread, which hands
    /// started blobs to the follower and finished layers to `finished`.
    fn side_by_side(
        &self,
        mut todo: Vec<(usize, Prepared)>,
        finished: &mut dyn FnMut(usize, Result<LayerBlob, LayerError>),
    ) {
        // Largest first: the longest compression starts at once, the small ones fill the
        // other lane beside it.
        todo.sort_by_key(|(i, p)| (std::cmp::Reverse(p.tar_size), *i));
        let queue = Mutex::new(todo);
        let failed = AtomicBool::new(false);
        let settings = self.settings();
        let follows = self.follower.is_some();
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            for lane in 0..LANES {
                let tx = tx.clone();
                let (queue, failed) = (&queue, &failed);
                s.spawn(move || {
                    let follow = |blob: GrowingBlob| {
                        // The receiver lives until every lane has ended.
                        let _ = tx.send(Message::Started(blob));
                    };
                    while let Some((i, p)) = next(queue, failed, lane == 0) {
                        let r = settings.compress(p, follows.then_some(&follow as _));
                        if r.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        let _ = tx.send(Message::Done(i, r));
                    }
                });
            }
            // Only the lanes' senders remain: the loop ends when the last lane does.
            drop(tx);
            for message in rx {
                match message {
                    Message::Started(blob) => {
                        if let Some(follow) = self.follower {
                            follow(blob);
                        }
                    }
                    Message::Done(i, r) => finished(i, r),
                }
            }
        });
    }
}

/// The next layer for a lane: the largest left for the first lane, the largest small one for
/// the others; none once a layer failed.
fn next(
    queue: &Mutex<Vec<(usize, Prepared)>>,
    failed: &AtomicBool,
    any_size: bool,
) -> Option<(usize, Prepared)> {
    let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
    if failed.load(Ordering::SeqCst) {
        return None;
    }
    let at = queue
        .iter()
        .position(|(_, p)| any_size || p.tar_size <= LARGE)?;
    Some(queue.remove(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{BlobStore, Compression};
    use crate::plan::{EntryKind, FileEntry, LayerSpec};
    use std::path::Path;

    /// A layer of one file of `len` bytes that compress poorly, so a large one takes a while.
    fn layer(dir: &Path, name: &str, len: usize) -> LayerSpec {
        let mut x = 0x9e37_79b9_u32 ^ len as u32;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        let source = dir.join(name);
        std::fs::write(&source, bytes).unwrap();
        LayerSpec {
            name: name.into(),
            entries: vec![FileEntry {
                target: format!("/{name}"),
                mode: 0o644,
                kind: EntryKind::File { source },
            }],
        }
    }

    fn prepared(writer: &LayerWriter, specs: &[LayerSpec]) -> Vec<Prepared> {
        specs.iter().map(|s| writer.prepare(s).unwrap()).collect()
    }

    #[test]
    fn layers_side_by_side_are_the_blobs_written_one_by_one_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let specs = [
            layer(dir.path(), "big", 6 << 20),
            layer(dir.path(), "small", 3000),
            layer(dir.path(), "mid", 300_000),
        ];
        for compression in [Compression::Gzip, Compression::Zstd] {
            let alone = BlobStore::open(&dir.path().join(format!("{compression:?}-1"))).unwrap();
            let one_by_one: Vec<LayerBlob> = specs
                .iter()
                .map(|s| {
                    LayerWriter::new(&alone, 7)
                        .with_compression(compression)
                        .write(s)
                        .unwrap()
                })
                .collect();

            let store = BlobStore::open(&dir.path().join(format!("{compression:?}-2"))).unwrap();
            let started = Mutex::new(Vec::new());
            let follow = |blob: GrowingBlob| started.lock().unwrap().push(blob);
            let writer = LayerWriter::new(&store, 7)
                .with_compression(compression)
                .with_follower(&follow);
            let mut ready = Vec::new();
            let blobs = writer
                .write_each(prepared(&writer, &specs), &mut |i, b| {
                    ready.push((i, b.digest.clone()))
                })
                .unwrap();
            assert_eq!(blobs, one_by_one, "{compression:?}");
            // The small layers were finished beside the big one, before it.
            assert_eq!(ready.last().unwrap().0, 0, "{ready:?}");
            assert_eq!(ready.len(), 3);
            for (i, digest) in &ready {
                assert_eq!(digest, &one_by_one[*i].digest);
            }
            // Every blob was handed to the follower as it was started.
            assert_eq!(started.lock().unwrap().len(), 3);

            // All three now come from the cache, ready in their own order, nothing started.
            let mut again = Vec::new();
            let cached = writer
                .write_each(prepared(&writer, &specs), &mut |i, _| again.push(i))
                .unwrap();
            assert_eq!(again, [0, 1, 2]);
            assert!(cached.iter().all(|b| b.cached));
            assert_eq!(started.lock().unwrap().len(), 3);
        }
    }

    #[test]
    fn a_failed_layer_is_the_error_and_its_key_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let specs = [
            layer(dir.path(), "a", 2 << 20),
            layer(dir.path(), "b", 1000),
            layer(dir.path(), "c", 2000),
        ];
        let store = BlobStore::open(&dir.path().join("store")).unwrap();
        let writer = LayerWriter::new(&store, 7);
        let prepared = prepared(&writer, &specs);
        // Changed after it was fingerprinted: the tar would not match the key.
        std::fs::write(dir.path().join("b"), b"other").unwrap();
        let mut ready = Vec::new();
        let err = writer
            .write_each(prepared, &mut |i, _| ready.push(i))
            .unwrap_err();
        assert!(
            matches!(&err, LayerError::SourceChanged { layer, .. } if layer == "b"),
            "{err:?}"
        );
        assert!(!ready.contains(&1), "{ready:?}");
        // Layer b's key is not recorded: writing it again from its new bytes works.
        let b = writer.write(&specs[1]).unwrap();
        assert!(!b.cached);
    }

    #[test]
    fn at_most_one_large_layer_is_taken_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join("store")).unwrap();
        let writer = LayerWriter::new(&store, 7);
        let spec = layer(dir.path(), "f", 10);
        let sized = |i: usize, size: u64| {
            let mut p = writer.prepare(&spec).unwrap();
            p.tar_size = size;
            (i, p)
        };
        let queue = Mutex::new(vec![
            sized(0, LARGE * 3),
            sized(1, LARGE + 1),
            sized(2, LARGE),
            sized(3, 10),
        ]);
        let failed = AtomicBool::new(false);
        let take = |any| next(&queue, &failed, any).map(|(i, _)| i);
        // The second lane never takes a large layer, whatever is left.
        assert_eq!(take(false), Some(2));
        assert_eq!(take(true), Some(0));
        assert_eq!(take(false), Some(3));
        assert_eq!(take(false), None);
        failed.store(true, Ordering::SeqCst);
        assert_eq!(take(true), None);
        failed.store(false, Ordering::SeqCst);
        assert_eq!(take(true), Some(1));
        assert_eq!(take(true), None);
    }
}

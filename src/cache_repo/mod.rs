//! A build cache shared through a registry (`--cache-repo REG/REPO`): for each layer of a
//! plan, a key of everything that decides its bytes, portable across machines ([`keys`]), and
//! an entry in the repository under that key ([`entry`]) naming the layer blob kept there.
//! A machine with empty caches that finds every built layer of its plan there skips the steps
//! that produce them — no toolchain runs, no layer is written — and its outputs mount or copy
//! the blobs ([`remote`]). What publish does with this is `ops::cache_repo`'s.

pub mod entry;
pub mod keys;
pub mod remote;

pub use remote::{CacheRepo, Found};

//! The one place with `unsafe`: memory-mapping the table file.
//!
//! A mapping is only sound while nobody changes the file underneath it.
//! The contract with writers (`routec build`, the tests, ConfigMap updates)
//! is that a table is replaced by renaming a new file over the old name,
//! never rewritten in place: a rename gives the path a new inode, and the
//! old inode, which this mapping holds, stays untouched until it is unmapped.
//! Everything read through the mapping is validated by the shared reader
//! (magic, lengths, checksum) before use, and the mapping is read-only.

use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::Path;

/// The bytes of a table: a read-only file mapping, or owned bytes (tests,
/// and files too small to map).
#[derive(Debug)]
pub enum TableBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl TableBytes {
    /// Maps `path` read-only.
    pub fn map(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            // An empty file cannot be mapped; let validation refuse it.
            return Ok(Self::Owned(Vec::new()));
        }
        // SAFETY: read-only mapping of a file that writers replace by
        // rename, never modify in place (see the module comment); the
        // bytes are validated before they are interpreted.
        let map = unsafe { Mmap::map(&file)? };
        Ok(Self::Mapped(map))
    }
}

impl Deref for TableBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Owned(bytes) => bytes,
        }
    }
}

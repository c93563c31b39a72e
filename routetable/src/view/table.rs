//! The table itself: [`TableView`] over bytes already validated, with the
//! reads every other part builds on (header fields, words, string and list
//! references, record counts, fixed-size records).
//!
//! Every read here is total: past the end it yields zero, "" or an empty
//! list, so no accessor can panic even on bytes the validator never saw. It
//! owns no meaning beyond the layout: the per-record views are in
//! `records`, middleware bodies in `middleware`, the checks in `validate`;
//! it imports none of them.

use crate::layout::{self, read_u16, read_u32, read_u64, NONE};

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub flags: u16,
    pub checksum: u32,
    pub total_len: u64,
    pub generation: u64,
    pub source_sha256: [u8; 32],
}

/// A validated table, borrowing its bytes. Cheap to copy.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) strings: &'a str,
    pub(crate) words: &'a [u8],
    pub(crate) gateway: &'a [u8],
    pub(crate) services: &'a [u8],
    pub(crate) middlewares: &'a [u8],
    pub(crate) chains: &'a [u8],
    pub(crate) routes: &'a [u8],
    pub(crate) index: &'a [u8],
    /// The index header's numbers, read once at open (validated there).
    pub(crate) probe: Probe,
}

/// What `lookup` needs from the index header on every request.
#[derive(Clone, Copy, Default)]
pub(crate) struct Probe {
    pub(crate) bucket_mask: usize,
    pub(crate) max_probe: usize,
    pub(crate) entries_at: usize,
    pub(crate) depth_mask: u64,
}

impl std::fmt::Debug for TableView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableView")
            .field("header", &self.header())
            .field("services", &self.service_count())
            .field("middlewares", &self.middleware_count())
            .field("chains", &self.chain_count())
            .field("routes", &self.route_count())
            .finish()
    }
}

impl Probe {
    pub(super) fn read(index: &[u8]) -> Probe {
        use layout::index as x;
        let bucket_count = read_u32(index, x::BUCKET_COUNT).unwrap_or(0) as usize;
        Probe {
            bucket_mask: bucket_count.saturating_sub(1),
            max_probe: read_u32(index, x::MAX_PROBE).unwrap_or(0) as usize,
            entries_at: bucket_count
                .saturating_mul(x::BUCKET_SIZE)
                .saturating_add(x::HEADER_SIZE),
            depth_mask: read_u64(index, x::DEPTH_MASK).unwrap_or(0),
        }
    }
}

/// A record: its bytes and its position in its section (for views' and
/// errors' sake).
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    bytes: &'a [u8],
}

impl<'a> Record<'a> {
    pub(crate) fn u32(self, at: usize) -> u32 {
        read_u32(self.bytes, at).unwrap_or(0)
    }
    pub(crate) fn u64(self, at: usize) -> u64 {
        read_u64(self.bytes, at).unwrap_or(0)
    }
    pub(crate) fn pair(self, at: usize) -> (u32, u32) {
        (self.u32(at), self.u32(at + 4))
    }
    /// The whole of `bytes` as one record (the gateway's, the index header).
    pub(super) fn whole(bytes: &'a [u8]) -> Record<'a> {
        Record { bytes }
    }
}

/// Record `i` of `size` bytes; empty (every read gives zero) if out of range.
pub(super) fn record(section: &[u8], size: usize, i: usize) -> Record<'_> {
    let bytes = i
        .checked_mul(size)
        .and_then(|start| section.get(start..start.checked_add(size)?))
        .unwrap_or(&[]);
    Record { bytes }
}

/// A list reference read: where its first word is and how many elements.
#[derive(Clone, Copy)]
pub(crate) struct List {
    pub(crate) start: usize,
    pub(crate) count: usize,
}

impl<'a> TableView<'a> {
    pub fn header(&self) -> Header {
        use layout::header as h;
        let mut source_sha256 = [0u8; 32];
        if let Some(sha) = self.bytes.get(h::SOURCE_SHA256..h::SOURCE_SHA256 + 32) {
            source_sha256.copy_from_slice(sha);
        }
        Header {
            version: read_u16(self.bytes, h::VERSION).unwrap_or(0),
            flags: read_u16(self.bytes, h::FLAGS).unwrap_or(0),
            checksum: read_u32(self.bytes, h::CHECKSUM).unwrap_or(0),
            total_len: read_u64(self.bytes, h::TOTAL_LEN).unwrap_or(0),
            generation: read_u64(self.bytes, h::GENERATION).unwrap_or(0),
            source_sha256,
        }
    }

    /// The table's bytes, as given to `from_bytes`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn word(&self, i: usize) -> u32 {
        i.checked_mul(4)
            .and_then(|at| read_u32(self.words, at))
            .unwrap_or(0)
    }

    /// The string a (offset, length) reference names; "" if it names none
    /// (only possible for an unvalidated reference).
    pub(crate) fn string(&self, (offset, len): (u32, u32)) -> &'a str {
        let start = offset as usize;
        start
            .checked_add(len as usize)
            .and_then(|end| self.strings.get(start..end))
            .unwrap_or("")
    }

    /// The bytes of a string reference; empty if it names none.
    pub(crate) fn string_bytes(&self, (offset, len): (u32, u32)) -> &'a [u8] {
        let start = offset as usize;
        let bytes = self.strings.as_bytes();
        start
            .checked_add(len as usize)
            .and_then(|end| bytes.get(start..end))
            .unwrap_or(&[])
    }

    pub(super) fn opt_string(&self, r: (u32, u32)) -> Option<&'a str> {
        (r.0 != NONE).then(|| self.string(r))
    }

    pub(crate) fn list(&self, (start, count): (u32, u32)) -> List {
        List {
            start: start as usize,
            count: count as usize,
        }
    }

    /// The string whose reference is at word `i`.
    pub(super) fn word_string(&self, i: usize) -> &'a str {
        self.string((self.word(i), self.word(i + 1)))
    }

    pub(super) fn string_list(&self, list: List) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let t = *self;
        (0..list.count).map(move |k| t.word_string(list.start + 2 * k))
    }

    pub fn service_count(&self) -> usize {
        self.services.len() / layout::service::SIZE
    }
    pub fn middleware_count(&self) -> usize {
        self.middlewares.len() / layout::middleware::SIZE
    }
    pub fn chain_count(&self) -> usize {
        self.chains.len() / layout::chain::SIZE
    }
    pub fn route_count(&self) -> usize {
        self.routes.len() / layout::route::SIZE
    }

    /// The record of route `i`, for lookup's hot loop (no view built).
    pub(crate) fn route_record(&self, i: usize) -> Record<'a> {
        record(self.routes, layout::route::SIZE, i)
    }

    /// Where `section` starts in the file, for errors' file offsets.
    pub(super) fn section_start(&self, section: layout::Section) -> usize {
        read_u32(self.bytes, layout::header::DIRECTORY + section as usize * 8).unwrap_or(0) as usize
    }
}

/// Whether `count` items of `words_per_item` words from word `start` lie in
/// the words section.
pub(super) fn list_fits(t: TableView<'_>, list: List, words_per_item: usize) -> bool {
    let words = t.words.len() / 4;
    (list.count as u64)
        .checked_mul(words_per_item as u64)
        .and_then(|n| n.checked_add(list.start as u64))
        .is_some_and(|end| end <= words as u64)
}

//! Why a byte string is not a route table ([`TableError`]) and why a request
//! path cannot be routed safely ([`PathError`]).
//!
//! Every variant says what is wrong and where (a byte offset), so `routec
//! inspect` and the data plane's reload log can point at the problem. This
//! module owns only the error types, not the checks that raise them.

use crate::layout::Section;

/// A table that `Table::from_bytes` refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table is {len} bytes, shorter than the {need}-byte header")]
    TooShort { len: usize, need: usize },
    #[error("bytes 0..8 are {found:02x?}, not the route table magic {expected:02x?}")]
    BadMagic { found: [u8; 8], expected: [u8; 8] },
    #[error(
        "format version {found} (byte 8) is not supported; this reader reads version {supported}"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("unknown header flags {flags:#06x} (byte 10)")]
    UnknownFlags { flags: u16 },
    #[error("header (byte 16) declares a {declared}-byte table, but {actual} bytes were given")]
    LengthMismatch { declared: u64, actual: usize },
    #[error("checksum mismatch: header (byte 12) says {stored:#010x}, bytes 16..{len} give {computed:#010x}")]
    ChecksumMismatch {
        stored: u32,
        computed: u32,
        len: usize,
    },
    #[error("{section} section, byte {offset} (file byte {file_offset}): {problem}")]
    Malformed {
        section: Section,
        /// Offset within the section.
        offset: usize,
        /// The same position from the start of the file.
        file_offset: usize,
        problem: String,
    },
}

/// A request path that [`crate::normalize_path`] refuses to normalize,
/// because backends could read it differently from the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty or does not start with '/'")]
    NotAbsolute,
    #[error("byte {byte:#04x} at {at} is not allowed in a path (non-ASCII, control, space, '#', '?', '\\\\' or ';')")]
    ForbiddenByte { at: usize, byte: u8 },
    #[error("'%' at {at} is not followed by two hex digits")]
    BadEscape { at: usize },
    #[error(
        "encoded byte %{byte:02X} at {at} is refused (a control byte, '\\\\', ';', '?' or '#')"
    )]
    ForbiddenEscape { at: usize, byte: u8 },
}

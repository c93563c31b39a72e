//! The byte layout of `routes.bin`: every constant, record size and field
//! offset that the writer and the reader share, plus the index hash and the
//! precedence order, so the two sides cannot drift apart.
//!
//! FORMAT.md is the prose version of this module. It owns no I/O and no
//! validation (see `view`), only numbers and small pure functions.

/// `RTBL` plus bytes that break under text-mode or 7-bit transfers (as PNG's).
pub const MAGIC: [u8; 8] = *b"RTBL\r\n\x1a\n";
pub const VERSION: u16 = 2;
/// No flag is defined in version 2; a reader rejects any set bit.
pub const KNOWN_FLAGS: u16 = 0;

pub const HEADER_LEN: usize = 128;
/// The checksum covers everything after itself, header included, so a flip
/// of the generation or the source hash is caught too.
pub const CHECKSUM_FROM: usize = 16;

pub mod header {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const FLAGS: usize = 10;
    pub const CHECKSUM: usize = 12;
    pub const TOTAL_LEN: usize = 16;
    pub const GENERATION: usize = 24;
    pub const SOURCE_SHA256: usize = 32;
    /// `SECTION_COUNT` pairs of (offset from file start u32, length u32).
    pub const DIRECTORY: usize = 64;
}

/// Sections in file order; the discriminant is the directory slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Strings = 0,
    Words = 1,
    Gateway = 2,
    Services = 3,
    Middlewares = 4,
    Chains = 5,
    Routes = 6,
    Index = 7,
}

pub const SECTION_COUNT: usize = 8;

impl Section {
    pub const ALL: [Section; SECTION_COUNT] = [
        Self::Strings,
        Self::Words,
        Self::Gateway,
        Self::Services,
        Self::Middlewares,
        Self::Chains,
        Self::Routes,
        Self::Index,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Strings => "strings",
            Self::Words => "words",
            Self::Gateway => "gateway",
            Self::Services => "services",
            Self::Middlewares => "middlewares",
            Self::Chains => "chains",
            Self::Routes => "routes",
            Self::Index => "index",
        }
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Sections start on 8-byte boundaries; padding is zero.
pub const SECTION_ALIGN: usize = 8;

pub fn align_up(n: usize) -> usize {
    n.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// Marks an absent optional string or index.
pub const NONE: u32 = u32::MAX;

/// A string reference is (offset into strings u32, length u32).
pub const STR_REF: usize = 8;
/// A list reference is (offset into words, in words u32, count u32).
pub const LIST_REF: usize = 8;

pub mod gateway {
    pub const MAX_CONNECTIONS: usize = 0;
    pub const POOL_MAX_TOTAL: usize = 4;
    pub const POOL_MAX_PER_HOST: usize = 8;
    pub const FLAGS: usize = 12;
    /// Client header names with `_` are forwarded (otherwise dropped).
    pub const FLAG_UNDERSCORE_HEADERS: u32 = 1;
    pub const KNOWN_FLAGS: u32 = FLAG_UNDERSCORE_HEADERS;
    pub const MAX_HEADER_BYTES: usize = 16;
    pub const MAX_BODY_BYTES: usize = 24;
    pub const HEADER_TIMEOUT_MS: usize = 32;
    pub const DNS_TTL_MS: usize = 40;
    pub const POOL_IDLE_TIMEOUT_MS: usize = 48;
    /// List of string refs.
    pub const TRUSTED_PROXIES: usize = 56;
    pub const SIZE: usize = 64;
}

pub mod service {
    pub const NAME: usize = 0;
    /// List of (string ref, port u32) triples.
    pub const INSTANCES: usize = 8;
    pub const BALANCE: usize = 16;
    pub const FLAGS: usize = 20;
    pub const HEALTH_PATH: usize = 24;
    pub const HEALTH_INTERVAL_MS: usize = 32;
    pub const HEALTH_TIMEOUT_MS: usize = 40;
    pub const HEALTHY_THRESHOLD: usize = 48;
    pub const UNHEALTHY_THRESHOLD: usize = 52;
    pub const CONNECT_MS: usize = 56;
    pub const RESPONSE_MS: usize = 64;
    pub const WEBSOCKET_IDLE_MS: usize = 72;
    pub const TLS_CA_FILE: usize = 80;
    pub const TLS_CERT_FILE: usize = 88;
    pub const TLS_KEY_FILE: usize = 96;
    pub const TLS_SERVER_NAME: usize = 104;
    pub const SIZE: usize = 112;

    pub const FLAG_HEALTH: u32 = 1;
    pub const FLAG_TLS: u32 = 2;
    pub const KNOWN_FLAGS: u32 = FLAG_HEALTH | FLAG_TLS;
    /// Words per instance: host string ref (2) and port (1).
    pub const INSTANCE_WORDS: usize = 3;
}

pub mod middleware {
    pub const NAME: usize = 0;
    pub const KIND: usize = 8;
    /// List of words: the kind-specific body (FORMAT.md, "Middleware bodies").
    pub const BODY: usize = 16;
    pub const SIZE: usize = 24;
}

pub mod chain {
    pub const NAME: usize = 0;
    /// List of middleware indices.
    pub const MIDDLEWARES: usize = 8;
    pub const SIZE: usize = 16;
}

pub mod route {
    pub const NAME: usize = 0;
    pub const HOST: usize = 8;
    pub const PATH: usize = 16;
    /// List of string refs.
    pub const METHODS: usize = 24;
    pub const FLAGS: usize = 32;
    pub const PRIORITY: usize = 36;
    pub const SERVICE: usize = 40;
    pub const CHAIN: usize = 44;
    pub const SIZE: usize = 48;

    pub const FLAG_PREFIX: u32 = 1;
    pub const FLAG_WEBSOCKET: u32 = 2;
    pub const KNOWN_FLAGS: u32 = FLAG_PREFIX | FLAG_WEBSOCKET;
}

pub mod index {
    pub const BUCKET_COUNT: usize = 0;
    pub const ENTRY_COUNT: usize = 4;
    pub const MAX_PROBE: usize = 8;
    /// u64: bit `min(d, 63)` is set when some key has depth `d`.
    pub const DEPTH_MASK: usize = 16;
    pub const HEADER_SIZE: usize = 24;
    /// (key hash u32, entry index + 1 u32; 0 = empty).
    pub const BUCKET_SIZE: usize = 8;
    pub const ENTRY_KEY: usize = 0;
    /// List of route indices, best first.
    pub const ENTRY_EXACT: usize = 8;
    pub const ENTRY_PREFIX: usize = 16;
    pub const ENTRY_SIZE: usize = 24;
}

/// The index's key hash: a multiply-xorshift over the key's 8-byte
/// little-endian words (the last one zero-padded), seeded with the length,
/// folded to 32 bits. Word-at-a-time because lookup hashes only the few
/// prefixes whose depth has keys (see [`depth_bit`]), each in a handful of
/// multiplications.
pub fn key_hash(key: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| {
        let h = (h ^ w).wrapping_mul(K);
        h ^ (h >> 29)
    };
    let mut h = (key.len() as u64).wrapping_mul(K) ^ 0x243f_6a88_85a3_08d3;
    let mut words = key.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // Byte by byte: a variable-length copy would call memcpy.
        let w = rest.iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b));
        h = mix(h, w);
    }
    (h ^ (h >> 32)) as u32
}

/// A key's depth is the number of `/` in it (`""` 0, `/v1` 1, `/v1/a/` 3);
/// the index header records which depths have keys, so lookup probes only
/// those prefixes of a path.
pub fn depth_bit(depth: usize) -> u64 {
    1 << depth.min(63)
}

pub fn key_depth(key: &[u8]) -> usize {
    key.iter().filter(|&&b| b == b'/').count()
}

/// The index key of a prefix: the prefix without trailing slashes, so `/v1/a/`
/// and `/v1/a` are the same prefix and `/` is the empty key.
pub fn prefix_key(prefix: &str) -> &str {
    let bytes = prefix.as_bytes();
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b'/' {
        end -= 1;
    }
    // Cutting before an ASCII '/' is always on a character boundary.
    prefix.get(..end).unwrap_or(prefix)
}

/// The order in which matching routes win: higher priority, then exact before
/// prefix, then the longer key, then the lower route index. Smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Precedence {
    pub inverted_priority: u32,
    pub is_prefix: bool,
    pub inverted_key_len: u32,
    pub index: u32,
}

impl Precedence {
    pub fn new(priority: u32, is_prefix: bool, key_len: usize, index: u32) -> Self {
        Self {
            inverted_priority: u32::MAX - priority,
            is_prefix,
            inverted_key_len: u32::MAX - u32::try_from(key_len).unwrap_or(u32::MAX),
            index,
        }
    }
}

/// Little-endian reads that return `None` past the end instead of panicking.
/// The gateway record's flags, read in place from a validated table's
/// bytes: two fixed-offset reads, cheap enough for the request path.
pub fn gateway_flags(table: &[u8]) -> u32 {
    let at = read_u32(table, header::DIRECTORY + Section::Gateway as usize * 8).unwrap_or(0);
    read_u32(table, at as usize + gateway::FLAGS).unwrap_or(0)
}

pub fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    bytes.get(at..end)?.try_into().ok().map(u32::from_le_bytes)
}

pub fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    bytes.get(at..end)?.try_into().ok().map(u16::from_le_bytes)
}

pub fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    bytes.get(at..end)?.try_into().ok().map(u64::from_le_bytes)
}

/// The checksum of a table's bytes (everything from [`CHECKSUM_FROM`] on).
pub fn checksum(table: &[u8]) -> u32 {
    crc32c::crc32c(table.get(CHECKSUM_FROM..).unwrap_or(&[]))
}

/// Rewrites the header's checksum to match the bytes: for tests and tools
/// that patch a table on purpose. Does nothing to a buffer shorter than the
/// header.
pub fn reseal(table: &mut [u8]) {
    if table.len() >= HEADER_LEN {
        let sum = checksum(table);
        table[header::CHECKSUM..header::CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
    }
}

//! The validator: [`Table::from_bytes`] checks a table completely, once,
//! and only then hands out a [`TableView`].
//!
//! It checks the header (magic, version, flags, length, checksum), the
//! section directory, UTF-8 of the strings, every record's string, list and
//! index references, every middleware body (by decoding it), and that the
//! lookup index is a faithful, reachable view of the routes. It owns the
//! rules and their error messages; what a valid field means is read by
//! `records`, and matching is `lookup`'s.

use super::middleware::decode_body;
use super::table::{list_fits, record, List, Probe, Record, TableView};
use crate::error::TableError;
use crate::layout::{self, read_u16, read_u32, read_u64, Precedence, Section, NONE};
use crate::spec::MiddlewareKind;

/// Entry point of the reader.
pub struct Table;

impl Table {
    /// Validates `bytes` as a route table and returns a view over them.
    pub fn from_bytes(bytes: &[u8]) -> Result<TableView<'_>, TableError> {
        let view = check_header(bytes)?;
        Validator { t: view }.check_all()?;
        Ok(view)
    }
}

fn check_header(bytes: &[u8]) -> Result<TableView<'_>, TableError> {
    use layout::header as h;
    if bytes.len() < layout::HEADER_LEN {
        return Err(TableError::TooShort {
            len: bytes.len(),
            need: layout::HEADER_LEN,
        });
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(&bytes[h::MAGIC..h::MAGIC + 8]);
    if found != layout::MAGIC {
        return Err(TableError::BadMagic {
            found,
            expected: layout::MAGIC,
        });
    }
    let version = read_u16(bytes, h::VERSION).unwrap_or(0);
    if version != layout::VERSION {
        return Err(TableError::UnsupportedVersion {
            found: version,
            supported: layout::VERSION,
        });
    }
    let flags = read_u16(bytes, h::FLAGS).unwrap_or(0);
    if flags & !layout::KNOWN_FLAGS != 0 {
        return Err(TableError::UnknownFlags { flags });
    }
    let declared = read_u64(bytes, h::TOTAL_LEN).unwrap_or(0);
    if declared != bytes.len() as u64 {
        return Err(TableError::LengthMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let stored = read_u32(bytes, h::CHECKSUM).unwrap_or(0);
    let computed = layout::checksum(bytes);
    if stored != computed {
        return Err(TableError::ChecksumMismatch {
            stored,
            computed,
            len: bytes.len(),
        });
    }
    let mut sections = [&bytes[..0]; layout::SECTION_COUNT];
    let mut expected_start = layout::HEADER_LEN;
    for section in Section::ALL {
        let at = h::DIRECTORY + section as usize * 8;
        let start = read_u32(bytes, at).unwrap_or(0) as usize;
        let len = read_u32(bytes, at + 4).unwrap_or(0) as usize;
        let malformed = |problem: String| TableError::Malformed {
            section,
            offset: 0,
            file_offset: at,
            problem: format!("directory entry: {problem}"),
        };
        if start != expected_start {
            return Err(malformed(format!(
                "section starts at {start}, expected {expected_start} (sections are contiguous, 8-aligned, in order)"
            )));
        }
        let end = start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                malformed(format!(
                    "{len} bytes at {start} run past the end ({})",
                    bytes.len()
                ))
            })?;
        sections[section as usize] = &bytes[start..end];
        expected_start = layout::align_up(end);
    }
    if expected_start != bytes.len() {
        return Err(TableError::Malformed {
            section: Section::Index,
            offset: sections[Section::Index as usize].len(),
            file_offset: expected_start,
            problem: format!(
                "{} bytes after the last section",
                bytes.len().saturating_sub(expected_start)
            ),
        });
    }
    let strings = std::str::from_utf8(sections[Section::Strings as usize]).map_err(|e| {
        let offset = e.valid_up_to();
        TableError::Malformed {
            section: Section::Strings,
            offset,
            file_offset: layout::HEADER_LEN + offset,
            problem: "invalid UTF-8".into(),
        }
    })?;
    Ok(TableView {
        bytes,
        strings,
        words: sections[Section::Words as usize],
        gateway: sections[Section::Gateway as usize],
        services: sections[Section::Services as usize],
        middlewares: sections[Section::Middlewares as usize],
        chains: sections[Section::Chains as usize],
        routes: sections[Section::Routes as usize],
        index: sections[Section::Index as usize],
        probe: Probe::read(sections[Section::Index as usize]),
    })
}

/// Checks every record of a table whose header and layout passed.
struct Validator<'a> {
    t: TableView<'a>,
}

/// A position for error messages: a section and a byte offset in it.
#[derive(Clone, Copy)]
struct At {
    section: Section,
    offset: usize,
}

impl At {
    fn err(self, t: TableView<'_>, problem: String) -> TableError {
        let base = t.section_start(self.section);
        TableError::Malformed {
            section: self.section,
            offset: self.offset,
            file_offset: base + self.offset,
            problem,
        }
    }
    fn field(self, at: usize) -> At {
        At {
            offset: self.offset + at,
            ..self
        }
    }
}

impl<'a> Validator<'a> {
    fn check_all(&self) -> Result<(), TableError> {
        let t = self.t;
        if !t.words.len().is_multiple_of(4) {
            return Err(At {
                section: Section::Words,
                offset: t.words.len(),
            }
            .err(t, "length is not a whole number of 4-byte words".into()));
        }
        self.check_sizes(Section::Gateway, t.gateway, layout::gateway::SIZE, true)?;
        self.check_sizes(Section::Services, t.services, layout::service::SIZE, false)?;
        self.check_sizes(
            Section::Middlewares,
            t.middlewares,
            layout::middleware::SIZE,
            false,
        )?;
        self.check_sizes(Section::Chains, t.chains, layout::chain::SIZE, false)?;
        self.check_sizes(Section::Routes, t.routes, layout::route::SIZE, false)?;
        self.check_gateway()?;
        for i in 0..t.service_count() {
            self.check_service(i)?;
        }
        for i in 0..t.middleware_count() {
            self.check_middleware(i)?;
        }
        for i in 0..t.chain_count() {
            self.check_chain(i)?;
        }
        for i in 0..t.route_count() {
            self.check_route(i)?;
        }
        self.check_index()
    }

    fn check_sizes(
        &self,
        section: Section,
        bytes: &[u8],
        size: usize,
        exactly_one: bool,
    ) -> Result<(), TableError> {
        let ok = if exactly_one {
            bytes.len() == size
        } else {
            bytes.len().is_multiple_of(size)
        };
        if ok {
            return Ok(());
        }
        let want = if exactly_one {
            format!("exactly {size}")
        } else {
            format!("a multiple of {size}")
        };
        Err(At { section, offset: 0 }.err(
            self.t,
            format!("length {} is not {want} bytes", bytes.len()),
        ))
    }

    fn str(&self, rec: Record<'_>, at: At, field: usize) -> Result<&'a str, TableError> {
        self.str_ref(rec.pair(field), at.field(field))
    }

    fn str_ref(&self, r: (u32, u32), at: At) -> Result<&'a str, TableError> {
        let (offset, len) = (r.0 as usize, r.1 as usize);
        let s = offset
            .checked_add(len)
            .and_then(|end| self.t.strings.get(offset..end));
        s.ok_or_else(|| {
            at.err(
                self.t,
                format!(
                    "string reference ({offset}, {len}) is outside the {}-byte strings section or splits a character",
                    self.t.strings.len()
                ),
            )
        })
    }

    fn opt_str(&self, rec: Record<'_>, at: At, field: usize) -> Result<(), TableError> {
        let r = rec.pair(field);
        if r.0 == NONE {
            if r.1 != 0 {
                return Err(at
                    .field(field)
                    .err(self.t, format!("absent string with length {}", r.1)));
            }
            return Ok(());
        }
        self.str(rec, at, field).map(drop)
    }

    fn list(
        &self,
        rec: Record<'_>,
        at: At,
        field: usize,
        words_per_item: usize,
    ) -> Result<List, TableError> {
        let list = self.t.list(rec.pair(field));
        if list_fits(self.t, list, words_per_item) {
            return Ok(list);
        }
        Err(at.field(field).err(
            self.t,
            format!(
                "list of {} items at word {} runs past the {}-word words section",
                list.count,
                list.start,
                self.t.words.len() / 4
            ),
        ))
    }

    fn str_list(&self, rec: Record<'_>, at: At, field: usize) -> Result<(), TableError> {
        let list = self.list(rec, at, field, 2)?;
        for k in 0..list.count {
            let w = list.start + 2 * k;
            self.str_ref((self.t.word(w), self.t.word(w + 1)), at.field(field))?;
        }
        Ok(())
    }

    fn index_field(
        &self,
        rec: Record<'_>,
        at: At,
        field: usize,
        what: &str,
        count: usize,
    ) -> Result<(), TableError> {
        let i = rec.u32(field);
        if (i as usize) < count {
            return Ok(());
        }
        Err(at.field(field).err(
            self.t,
            format!("{what} index {i} out of range ({count} {what}s)"),
        ))
    }

    fn check_gateway(&self) -> Result<(), TableError> {
        let at = At {
            section: Section::Gateway,
            offset: 0,
        };
        let flags = Record::whole(self.t.gateway).u32(layout::gateway::FLAGS);
        if flags & !layout::gateway::KNOWN_FLAGS != 0 {
            return Err(at
                .field(layout::gateway::FLAGS)
                .err(self.t, format!("unknown gateway flags {flags:#x}")));
        }
        self.str_list(
            Record::whole(self.t.gateway),
            at,
            layout::gateway::TRUSTED_PROXIES,
        )
    }

    fn check_service(&self, i: usize) -> Result<(), TableError> {
        use layout::service as s;
        let rec = record(self.t.services, s::SIZE, i);
        let at = At {
            section: Section::Services,
            offset: i * s::SIZE,
        };
        self.str(rec, at, s::NAME)?;
        let instances = self.list(rec, at, s::INSTANCES, s::INSTANCE_WORDS)?;
        for k in 0..instances.count {
            let w = instances.start + s::INSTANCE_WORDS * k;
            self.str_ref((self.t.word(w), self.t.word(w + 1)), at.field(s::INSTANCES))?;
            let port = self.t.word(w + 2);
            if port > u32::from(u16::MAX) {
                return Err(at
                    .field(s::INSTANCES)
                    .err(self.t, format!("instance {k}: port {port} is not a u16")));
            }
        }
        let balance = rec.u32(s::BALANCE);
        if balance > 2 {
            return Err(at
                .field(s::BALANCE)
                .err(self.t, format!("unknown balance policy {balance}")));
        }
        let flags = rec.u32(s::FLAGS);
        if flags & !s::KNOWN_FLAGS != 0 {
            return Err(at
                .field(s::FLAGS)
                .err(self.t, format!("unknown service flags {flags:#x}")));
        }
        if flags & s::FLAG_HEALTH != 0 {
            self.str(rec, at, s::HEALTH_PATH)?;
        }
        if flags & s::FLAG_TLS != 0 {
            self.str(rec, at, s::TLS_CA_FILE)?;
            for field in [s::TLS_CERT_FILE, s::TLS_KEY_FILE, s::TLS_SERVER_NAME] {
                self.opt_str(rec, at, field)?;
            }
        }
        Ok(())
    }

    fn check_middleware(&self, i: usize) -> Result<(), TableError> {
        use layout::middleware as m;
        let rec = record(self.t.middlewares, m::SIZE, i);
        let at = At {
            section: Section::Middlewares,
            offset: i * m::SIZE,
        };
        self.str(rec, at, m::NAME)?;
        let code = rec.u32(m::KIND) as usize;
        let kind = MiddlewareKind::ALL.get(code).copied().ok_or_else(|| {
            at.field(m::KIND)
                .err(self.t, format!("unknown middleware kind {code}"))
        })?;
        let body = self.list(rec, at, m::BODY, 1)?;
        match decode_body(self.t, body, kind).1 {
            None => Ok(()),
            Some(problem) => Err(at
                .field(m::BODY)
                .err(self.t, format!("{} body: {problem}", kind.keyword()))),
        }
    }

    fn check_chain(&self, i: usize) -> Result<(), TableError> {
        use layout::chain as c;
        let rec = record(self.t.chains, c::SIZE, i);
        let at = At {
            section: Section::Chains,
            offset: i * c::SIZE,
        };
        self.str(rec, at, c::NAME)?;
        let list = self.list(rec, at, c::MIDDLEWARES, 1)?;
        let count = self.t.middleware_count();
        for k in 0..list.count {
            let m = self.t.word(list.start + k);
            if m as usize >= count {
                return Err(at.field(c::MIDDLEWARES).err(
                    self.t,
                    format!("member {k}: middleware index {m} out of range ({count} middlewares)"),
                ));
            }
        }
        Ok(())
    }

    fn check_route(&self, i: usize) -> Result<(), TableError> {
        use layout::route as r;
        let rec = record(self.t.routes, r::SIZE, i);
        let at = At {
            section: Section::Routes,
            offset: i * r::SIZE,
        };
        self.str(rec, at, r::NAME)?;
        self.opt_str(rec, at, r::HOST)?;
        let path = self.str(rec, at, r::PATH)?;
        if !path.starts_with('/') {
            return Err(at
                .field(r::PATH)
                .err(self.t, format!("path {path:?} does not start with '/'")));
        }
        self.str_list(rec, at, r::METHODS)?;
        let flags = rec.u32(r::FLAGS);
        if flags & !r::KNOWN_FLAGS != 0 {
            return Err(at
                .field(r::FLAGS)
                .err(self.t, format!("unknown route flags {flags:#x}")));
        }
        self.index_field(rec, at, r::SERVICE, "service", self.t.service_count())?;
        if rec.u32(r::CHAIN) != NONE {
            self.index_field(rec, at, r::CHAIN, "chain", self.t.chain_count())?;
        }
        Ok(())
    }

    /// The index must be a faithful view of the routes: every route listed
    /// exactly once, under its own key and kind, each list best first, and
    /// every entry reachable by the probe sequence `lookup` uses.
    fn check_index(&self) -> Result<(), TableError> {
        use layout::index as x;
        let t = self.t;
        let at = At {
            section: Section::Index,
            offset: 0,
        };
        let head = Record::whole(t.index);
        let bucket_count = head.u32(x::BUCKET_COUNT) as usize;
        let entry_count = head.u32(x::ENTRY_COUNT) as usize;
        let max_probe = head.u32(x::MAX_PROBE) as usize;
        let depths = head.u64(x::DEPTH_MASK);
        if t.index.len() < x::HEADER_SIZE {
            return Err(at.err(
                t,
                format!("{} bytes, shorter than the index header", t.index.len()),
            ));
        }
        if !bucket_count.is_power_of_two()
            || entry_count >= bucket_count
            || max_probe > bucket_count
        {
            return Err(at.err(
                t,
                format!("{bucket_count} buckets (not a power of two above the {entry_count} entries) or max probe {max_probe} too long"),
            ));
        }
        let want = (x::HEADER_SIZE + bucket_count * x::BUCKET_SIZE) as u64
            + (entry_count * x::ENTRY_SIZE) as u64;
        if t.index.len() as u64 != want {
            return Err(at.err(
                t,
                format!(
                    "length {} but {bucket_count} buckets and {entry_count} entries need {want}",
                    t.index.len()
                ),
            ));
        }
        let buckets_at = x::HEADER_SIZE;
        let entries_at = buckets_at + bucket_count * x::BUCKET_SIZE;
        let mut seen = vec![false; t.route_count()];
        let mut previous_key = None;
        let mut hashes = Vec::with_capacity(entry_count);
        for e in 0..entry_count {
            let rec = record(&t.index[entries_at..], x::ENTRY_SIZE, e);
            let here = at.field(entries_at + e * x::ENTRY_SIZE);
            let key = self.str(rec, here, x::ENTRY_KEY)?;
            let depth = layout::key_depth(key.as_bytes());
            if depths & layout::depth_bit(depth) == 0 {
                return Err(here.err(
                    t,
                    format!(
                        "key {key:?} has depth {depth}, missing from the depth mask {depths:#x}"
                    ),
                ));
            }
            // Strictly increasing keys: no key is filed twice.
            if previous_key.is_some_and(|p: &str| p.as_bytes() >= key.as_bytes()) {
                return Err(here.err(
                    t,
                    format!("entry {e} (key {key:?}) is not after the previous key"),
                ));
            }
            previous_key = Some(key);
            hashes.push(layout::key_hash(key.as_bytes()));
            for (field, prefix) in [(x::ENTRY_EXACT, false), (x::ENTRY_PREFIX, true)] {
                let list = self.list(rec, here, field, 1)?;
                let mut previous = None;
                for k in 0..list.count {
                    let i = t.word(list.start + k) as usize;
                    // Raw record reads: building a RouteView per route would
                    // copy the whole TableView 10,000 times for 10,000 routes.
                    let route = t.route_record(i);
                    let is_prefix =
                        route.u32(layout::route::FLAGS) & layout::route::FLAG_PREFIX != 0;
                    let path = t.string(route.pair(layout::route::PATH));
                    let route_key = if is_prefix {
                        layout::prefix_key(path)
                    } else {
                        path
                    };
                    let fits =
                        i < seen.len() && !seen[i] && is_prefix == prefix && route_key == key;
                    if !fits {
                        return Err(here.field(field).err(
                            t,
                            format!("candidate {k} (route {i}) is not a distinct route with key {key:?} and this kind"),
                        ));
                    }
                    seen[i] = true;
                    let priority = route.u32(layout::route::PRIORITY);
                    let precedence = Precedence::new(priority, is_prefix, key.len(), i as u32);
                    if previous.is_some_and(|p| p >= precedence) {
                        return Err(here.field(field).err(
                            t,
                            format!("candidate {k} (route {i}) is out of precedence order"),
                        ));
                    }
                    previous = Some(precedence);
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(at.err(t, format!("route {i} is in no index entry")));
        }
        self.check_buckets(&hashes, max_probe)
    }

    /// Every entry sits in exactly one bucket that a lookup of its key
    /// reaches: the bucket holds the key's hash, lies at most `max_probe - 1`
    /// slots after the key's home slot, with no empty bucket in between
    /// (where a lookup would stop). One sequential pass over the buckets,
    /// starting after an empty one so no run of full buckets wraps around.
    fn check_buckets(&self, hashes: &[u32], max_probe: usize) -> Result<(), TableError> {
        use layout::index as x;
        let t = self.t;
        let bucket_count = t.probe.bucket_mask + 1;
        let bucket = |slot: usize| {
            let at = x::HEADER_SIZE + slot * x::BUCKET_SIZE;
            (
                read_u32(t.index, at).unwrap_or(0),
                read_u32(t.index, at + 4).unwrap_or(0) as usize,
            )
        };
        let first_empty = (0..bucket_count)
            .find(|&slot| bucket(slot).1 == 0)
            .unwrap_or(0);
        let mut placed = vec![false; hashes.len()];
        let mut run_start = 0;
        for step in 0..bucket_count {
            let slot = (first_empty + 1 + step) & t.probe.bucket_mask;
            let (hash, entry) = bucket(slot);
            if entry == 0 {
                run_start = step + 1;
                continue;
            }
            let here = At {
                section: Section::Index,
                offset: x::HEADER_SIZE + slot * x::BUCKET_SIZE,
            };
            let e = entry - 1;
            let Some(&want) = hashes.get(e).filter(|_| !placed[e]) else {
                return Err(here.err(
                    t,
                    format!("bucket {slot} names entry {e}, which is out of range or placed twice"),
                ));
            };
            placed[e] = true;
            let distance = slot.wrapping_sub(want as usize) & t.probe.bucket_mask;
            if hash != want || distance >= max_probe || distance > step - run_start {
                return Err(here.err(
                    t,
                    format!(
                        "bucket {slot} (entry {e}) is not where a lookup of the entry's key lands"
                    ),
                ));
            }
        }
        match placed.iter().position(|p| !p) {
            Some(e) => Err(At {
                section: Section::Index,
                offset: 0,
            }
            .err(t, format!("entry {e} is in no bucket"))),
            None => Ok(()),
        }
    }
}

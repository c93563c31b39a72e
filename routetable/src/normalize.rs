//! Request path normalization: the one path the gateway both matches and
//! forwards upstream, so a route's middlewares always see what its service
//! gets.
//!
//! The rules (FORMAT.md, "Path normalization"): percent-decode unreserved
//! characters only, write the remaining escapes in upper case, collapse
//! repeated slashes, remove dot segments (decoded ones too), and refuse what
//! backends disagree on. `%2F` is kept encoded and is part of its segment,
//! never a separator. This module does not match routes (see `lookup`) and
//! does not touch the query string (the caller splits it off first).

use std::borrow::Cow;

use crate::error::PathError;

/// Normalizes a request path; borrows `raw` when it is already normal.
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if !needs_rewrite(bytes)? {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode_unreserved(bytes);
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// Checks every byte and escape; true if normalizing would change the path.
fn needs_rewrite(bytes: &[u8]) -> Result<bool, PathError> {
    let mut rewrite = false;
    let mut segment_start = 1;
    let mut i = 1;
    while i <= bytes.len() {
        let byte = bytes.get(i).copied();
        match byte {
            None | Some(b'/') => {
                let segment = &bytes[segment_start..i];
                let is_last = byte.is_none();
                if (segment.is_empty() && !is_last) || segment == b"." || segment == b".." {
                    rewrite = true;
                }
                segment_start = i + 1;
            }
            Some(b'%') => {
                let (value, lower_case) = escape_at(bytes, i)?;
                if forbidden_escape(value) {
                    return Err(PathError::ForbiddenEscape { at: i, byte: value });
                }
                rewrite |= is_unreserved(value) || lower_case;
                i += 2;
            }
            Some(other) if forbidden_byte(other) => {
                return Err(PathError::ForbiddenByte { at: i, byte: other });
            }
            Some(_) => {}
        }
        i += 1;
    }
    Ok(rewrite)
}

/// The byte `%XX` at `at` encodes, and whether its hex used lower case.
fn escape_at(bytes: &[u8], at: usize) -> Result<(u8, bool), PathError> {
    let digit = |k: usize| {
        bytes.get(at + k).and_then(|&c| {
            (c as char)
                .to_digit(16)
                .map(|d| (d as u8, c.is_ascii_lowercase()))
        })
    };
    match (digit(1), digit(2)) {
        (Some((hi, lower_hi)), Some((lo, lower_lo))) => Ok((hi << 4 | lo, lower_hi || lower_lo)),
        _ => Err(PathError::BadEscape { at }),
    }
}

/// RFC 3986's unreserved set: decoding these never changes a path's meaning.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Raw bytes refused: anything a request line should not carry unencoded,
/// plus `\` (a separator to some backends), `;` (path parameters to others,
/// as in `/..;/`), and `?`/`#` (never part of a path).
fn forbidden_byte(byte: u8) -> bool {
    !byte.is_ascii_graphic() || matches!(byte, b'\\' | b';' | b'?' | b'#')
}

/// Escapes refused: control bytes (NUL, CR, LF...) and the encoded
/// characters that backends decode into something structural.
fn forbidden_escape(byte: u8) -> bool {
    byte.is_ascii_control() || matches!(byte, b'\\' | b';' | b'?' | b'#')
}

/// Decodes unreserved escapes; writes the others with upper-case hex. Only
/// called on input `needs_rewrite` accepted, so every escape is well formed.
fn decode_unreserved(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            if let Ok((value, _)) = escape_at(bytes, i) {
                if is_unreserved(value) {
                    out.push(value as char);
                } else {
                    out.push_str(&format!("%{value:02X}"));
                }
                i += 3;
                continue;
            }
        }
        out.push(byte as char);
        i += 1;
    }
    out
}

/// Collapses empty segments and resolves `.` and `..` (RFC 3986 §5.2.4; `..`
/// at the root stays at the root). A path that ended in `/`, `/.` or `/..`
/// keeps a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path[1..].split('/') {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    out
}

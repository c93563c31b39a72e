//! The rate-limit store's reply parser: RESP2 (what Redis answers a client
//! that never sent `HELLO 3`), parsed incrementally from the bytes read so
//! far. Our own code because the `redis` crate's combine-based parser cost
//! about 7k instructions per check; this one is strict and small, and it is
//! fuzzed (`fuzz/fuzz_targets/resp_reply.rs`).
//!
//! [`parse`] looks at the front of a buffer and says one of three things:
//! a whole reply and how many bytes it took, not enough bytes yet, or a
//! protocol error (the connection cannot be trusted after it). It never
//! looks past the buffer, never panics, and is bounded: a reply larger than
//! [`MAX_REPLY`] bytes, an array longer than [`MAX_ELEMENTS`] or nested
//! deeper than [`MAX_DEPTH`] is an error, so neither the read buffer nor
//! the parsed value can grow without bound, whatever the peer sends.

/// The largest reply, all of its bytes, that is accepted. The store's
/// replies are a two-integer array, a short error line or a 40-byte hash.
pub const MAX_REPLY: usize = 64 * 1024;
/// The most elements one array may announce.
pub const MAX_ELEMENTS: usize = 1024;
/// The deepest nesting of arrays accepted (a top-level array is depth 1).
pub const MAX_DEPTH: usize = 8;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(Vec<u8>),
    /// `-ERR ...`: the whole line, code first.
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`, or `$-1` (`None`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1` (`None`).
    Array(Option<Vec<Reply>>),
}

/// Why the bytes are not RESP2 this parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown reply type byte {0:#04x}")]
    Type(u8),
    #[error("a line holds a bare CR or LF")]
    Line,
    #[error("a length or integer is not a decimal i64")]
    Number,
    #[error("a length is negative (other than -1) or over the limit")]
    Length,
    #[error("a bulk string does not end in CRLF")]
    BulkEnd,
    #[error("arrays nest deeper than {MAX_DEPTH}")]
    Depth,
    #[error("a reply is larger than {MAX_REPLY} bytes")]
    TooLarge,
}

/// The reply at the front of `buf` and the bytes it took, `Ok(None)` if
/// `buf` holds only the beginning of one.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    // Parsing only a window of MAX_REPLY bytes bounds every reply the same
    // way whether its bytes came in one read or many.
    let window = &buf[..buf.len().min(MAX_REPLY)];
    match value(window, 0, 1)? {
        Some(parsed) => Ok(Some(parsed)),
        None if buf.len() >= MAX_REPLY => Err(ProtocolError::TooLarge),
        None => Ok(None),
    }
}

/// The line starting at `at`, without its CRLF, and where the next starts.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = buf.get(at..).unwrap_or_default();
    let Some(cr) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Ok(None);
    };
    if rest[cr] == b'\n' {
        return Err(ProtocolError::Line);
    }
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((&rest[..cr], at + cr + 2))),
        Some(_) => Err(ProtocolError::Line),
    }
}

/// A strict decimal i64: an optional `-`, then 1 to 19 digits, no `+`, no
/// spaces, no overflow.
fn number(digits: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, magnitude) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if magnitude.is_empty() || magnitude.len() > 19 {
        return Err(ProtocolError::Number);
    }
    let mut n: i64 = 0;
    for &d in magnitude {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::Number);
        }
        // Accumulated negatively so that i64::MIN fits.
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_sub(i64::from(d - b'0')))
            .ok_or(ProtocolError::Number)?;
    }
    if negative {
        Ok(n)
    } else {
        n.checked_neg().ok_or(ProtocolError::Number)
    }
}

/// A length: -1 (null) as `None`, else `0..=max`.
fn length(digits: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    match number(digits)? {
        -1 => Ok(None),
        n => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(ProtocolError::Length),
        },
    }
}

fn value(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some((text, next)) = line(buf, at + 1)? else {
        return Ok(None);
    };
    let parsed = match kind {
        b'+' => (Reply::Simple(text.to_vec()), next),
        b'-' => (Reply::Error(text.to_vec()), next),
        b':' => (Reply::Integer(number(text)?), next),
        b'$' => match length(text, MAX_REPLY)? {
            None => (Reply::Bulk(None), next),
            Some(n) => {
                let Some(end) = buf.get(next + n..next + n + 2) else {
                    return Ok(None);
                };
                if end != b"\r\n" {
                    return Err(ProtocolError::BulkEnd);
                }
                (
                    Reply::Bulk(Some(buf[next..next + n].to_vec())),
                    next + n + 2,
                )
            }
        },
        b'*' => match length(text, MAX_ELEMENTS)? {
            None => (Reply::Array(None), next),
            Some(n) => {
                if depth > MAX_DEPTH {
                    return Err(ProtocolError::Depth);
                }
                // Every element takes at least 4 bytes, so what is allocated
                // up front is bounded by the bytes already read too.
                let mut items = Vec::with_capacity(n.min((buf.len() - next) / 4));
                let mut at = next;
                for _ in 0..n {
                    let Some((item, after)) = value(buf, at, depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at = after;
                }
                (Reply::Array(Some(items)), at)
            }
        },
        other => return Err(ProtocolError::Type(other)),
    };
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
        parse(bytes)
    }

    #[test]
    fn parses_every_reply_type() {
        let cases: &[(&[u8], Reply)] = &[
            (b"+OK\r\n", Reply::Simple(b"OK".to_vec())),
            (
                b"-NOSCRIPT No matching script\r\n",
                Reply::Error(b"NOSCRIPT No matching script".to_vec()),
            ),
            (b":-42\r\n", Reply::Integer(-42)),
            (b":9223372036854775807\r\n", Reply::Integer(i64::MAX)),
            (b":-9223372036854775808\r\n", Reply::Integer(i64::MIN)),
            (b"$3\r\na\r\n\r\n", Reply::Bulk(Some(b"a\r\n".to_vec()))),
            (b"$0\r\n\r\n", Reply::Bulk(Some(Vec::new()))),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"*-1\r\n", Reply::Array(None)),
            (b"*0\r\n", Reply::Array(Some(Vec::new()))),
            (
                b"*2\r\n:1\r\n*1\r\n$-1\r\n",
                Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Array(Some(vec![Reply::Bulk(None)])),
                ])),
            ),
        ];
        for (bytes, reply) in cases {
            assert_eq!(
                whole(bytes),
                Ok(Some((reply.clone(), bytes.len()))),
                "{bytes:?}"
            );
            // Every strict prefix is "not yet", never an error or a value.
            for cut in 0..bytes.len() {
                assert_eq!(whole(&bytes[..cut]), Ok(None), "{:?}", &bytes[..cut]);
            }
        }
    }

    #[test]
    fn takes_only_the_first_reply() {
        assert_eq!(whole(b":1\r\n:2\r\n"), Ok(Some((Reply::Integer(1), 4))));
    }

    #[test]
    fn rejects_what_is_not_strict_resp2() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"%1\r\n", ProtocolError::Type(b'%')),
            (b"+O\nK\r\n", ProtocolError::Line),
            (b"+OK\rX", ProtocolError::Line),
            (b":+1\r\n", ProtocolError::Number),
            (b":\r\n", ProtocolError::Number),
            (b": 1\r\n", ProtocolError::Number),
            (b":9223372036854775808\r\n", ProtocolError::Number),
            (b":00000000000000000001\r\n", ProtocolError::Number),
            (b"$-2\r\n", ProtocolError::Length),
            (b"$65537\r\n", ProtocolError::Length),
            (b"*1025\r\n", ProtocolError::Length),
            (b"$1\r\nab\r\n", ProtocolError::BulkEnd),
            (
                b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
                ProtocolError::Depth,
            ),
        ];
        for (bytes, error) in cases {
            assert_eq!(whole(bytes), Err(*error), "{bytes:?}");
        }
    }

    #[test]
    fn a_reply_over_the_limit_is_an_error_however_it_arrives() {
        let mut big = b"$65536\r\n".to_vec();
        big.resize(big.len() + 65536, b'x');
        big.extend_from_slice(b"\r\n");
        assert_eq!(whole(&big), Err(ProtocolError::TooLarge));
        assert_eq!(whole(&big[..MAX_REPLY - 1]), Ok(None));
        assert_eq!(whole(&big[..MAX_REPLY]), Err(ProtocolError::TooLarge));
        let mut fits = b"$65000\r\n".to_vec();
        fits.resize(fits.len() + 65000, b'x');
        fits.extend_from_slice(b"\r\n");
        assert!(matches!(whole(&fits), Ok(Some((Reply::Bulk(Some(_)), n))) if n == fits.len()));
    }
}

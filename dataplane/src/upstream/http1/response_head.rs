//! The response head read from an upstream (httparse), and the framing
//! it implies, strictly by RFC 9112 section 6: chunked must be last,
//! conflicting lengths are refused, and a response with both
//! `Transfer-Encoding` and `Content-Length` is read by the former and its
//! connection not reused.

use super::error::ExchangeError;
use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

/// Response headers a route's steps typically add to an upstream's.
const ADDED_ON_THE_WAY_BACK: usize = 16;

/// The largest response head accepted (status line and headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields a response head may have.
const MAX_HEADERS: usize = 128;

/// How a response body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponseFraming {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
    /// 101: the connection now speaks another protocol.
    Upgrade,
}

pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) framing: ResponseFraming,
    pub(super) keep_alive: bool,
}

/// Parses a complete response head off the front of `buf`; `None` when
/// more bytes are needed.
pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<Head>, ExchangeError> {
    // Uninitialised slots: zeroing 128 of them cost more than parsing a
    // typical head.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ExchangeError::Malformed("too many response headers"))
        }
        Err(_) => return Err(ExchangeError::Malformed("unparseable response head")),
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ExchangeError::Malformed("bad status code"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Where each field's name and value sit in the head, so the values
    // can share the head's bytes instead of being copied.
    let base = buf.as_ptr() as usize;
    let mut fields = Vec::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let start = field.value.as_ptr() as usize - base;
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| ExchangeError::Malformed("bad header name"))?;
        fields.push((name, start..start + field.value.len()));
    }
    let head = buf.split_to(len).freeze();
    // Room for what the gateway adds on the way back (request id, security
    // and CORS headers, RateLimit-*), so a full chain's response side does
    // not grow and rehash the map twice.
    let mut headers = HeaderMap::with_capacity(fields.len() + ADDED_ON_THE_WAY_BACK);
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_last = false;
    let mut close = version == Version::HTTP_10;
    for (name, range) in fields {
        let value = HeaderValue::from_maybe_shared(head.slice(range))
            .map_err(|_| ExchangeError::Malformed("bad header value"))?;
        if name == header::CONTENT_LENGTH {
            let length = parse_content_length(value.as_bytes())
                .ok_or(ExchangeError::Malformed("bad content-length"))?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(ExchangeError::Malformed("conflicting content-length"));
            }
            content_length = Some(length);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
            // Only the last coding decides; `chunked` anywhere else is an
            // error (RFC 9112 section 6.3).
            for coding in value.as_bytes().split(|b| *b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                if chunked_last {
                    return Err(ExchangeError::Malformed("chunked is not the last coding"));
                }
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if name == header::CONNECTION {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        }
        headers.append(name, value);
    }
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        ResponseFraming::Upgrade
    } else if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        ResponseFraming::Empty
    } else if transfer_encoding {
        // With both, the length is a smuggling attempt or a broken server:
        // read by the coding, then do not trust the connection again.
        if content_length.is_some() {
            close = true;
        }
        if chunked_last {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        }
    } else {
        match content_length {
            Some(0) => ResponseFraming::Empty,
            Some(len) => ResponseFraming::Length(len),
            None => ResponseFraming::UntilClose,
        }
    };
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive: !close,
    }))
}

fn parse_content_length(value: &[u8]) -> Option<u64> {
    // Digits only: no sign, no spaces, no list.
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<Head>, ExchangeError> {
        parse_head(&mut BytesMut::from(raw), false)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |raw: &str| head(raw).unwrap().unwrap().framing;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            ResponseFraming::Length(5)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ResponseFraming::Chunked
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
            ResponseFraming::Upgrade
        );
        let both =
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(both.framing, ResponseFraming::Chunked);
        assert!(!both.keep_alive, "a response with both is never reused");
    }

    #[test]
    fn ambiguous_lengths_are_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ] {
            assert!(head(raw).is_err(), "{raw:?}");
        }
        let same = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(same.unwrap().unwrap().framing, ResponseFraming::Length(5));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let keep = |raw: &str| head(raw).unwrap().unwrap().keep_alive;
        assert!(keep("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keep(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keep("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(keep(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Len").unwrap().is_none());
    }
}

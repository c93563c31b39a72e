//! The chunked transfer coding as the gateway writes it, in both
//! directions (request bodies to upstreams, responses to clients on the
//! HTTP/1.1 fast path): a chunk's size line, a whole chunk, the last chunk.
//! Which framing a message gets is each writer's decision; decoding is the
//! upstream response body's.

/// The last chunk of a chunked body, with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A chunk's size line: the length in lower-case hex, then CRLF.
pub struct SizeLine {
    buf: [u8; 18],
    start: usize,
}

impl SizeLine {
    pub fn new(mut len: usize) -> Self {
        let mut buf = [0u8; 18];
        buf[16] = b'\r';
        buf[17] = b'\n';
        let mut start = 16;
        loop {
            start -= 1;
            buf[start] = b"0123456789abcdef"[len & 0xf];
            len >>= 4;
            if len == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Appends `data` as one chunk; nothing for empty data, which as a chunk
/// would end the body.
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(SizeLine::new(data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_lines_are_lower_case_hex() {
        for (n, text) in [
            (0usize, "0\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            assert_eq!(SizeLine::new(n).as_bytes(), text.as_bytes());
        }
    }

    #[test]
    fn a_chunk_is_its_size_line_data_and_crlf() {
        let mut out = Vec::new();
        push_chunk(&mut out, &[b'x'; 26]);
        assert_eq!(out, b"1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
        push_chunk(&mut out, b"");
        assert_eq!(out.len(), 32, "an empty piece wrote a last chunk");
    }
}

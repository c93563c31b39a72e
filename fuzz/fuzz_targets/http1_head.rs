//! Fuzz target: the fast path's HTTP/1.1 request-head parser. Whatever the
//! bytes, it never panics; a Complete head lies inside the input, parses
//! the same from exactly its own bytes, and each of its strict prefixes is
//! Partial; a Partial's prefixes are Partial too; and nothing appended to
//! an Unsupported input makes it Complete (refused means refused for good).
#![no_main]

use bytes::Bytes;
use dataplane::http1::head::{parse, Parsed};
use libfuzzer_sys::fuzz_target;

const MAX_HEADERS: usize = 32;

/// Endings that would complete many heads, were they not already refused.
const ENDINGS: [&[u8]; 3] = [
    b"\r\n\r\n",
    b"\r\nHost: h\r\n\r\n",
    b" / HTTP/1.1\r\nHost: h\r\n\r\n",
];

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    match parse(&buf, MAX_HEADERS) {
        Parsed::Complete { head, len } => {
            assert!(len > 0 && len <= data.len(), "len {len} of {}", data.len());
            match parse(&buf.slice(..len), MAX_HEADERS) {
                Parsed::Complete {
                    head: again,
                    len: again_len,
                } => {
                    assert_eq!(again_len, len);
                    assert_eq!(again, head);
                }
                other => panic!("the head's own bytes give {other:?}"),
            }
            // Every strict prefix when the head is small, a few otherwise.
            let few = [0, 1, len / 3, len / 2, len - 2, len - 1];
            let cuts: Box<dyn Iterator<Item = usize>> = if len <= 128 {
                Box::new(0..len)
            } else {
                Box::new(few.into_iter())
            };
            for cut in cuts {
                assert_eq!(
                    parse(&buf.slice(..cut), MAX_HEADERS),
                    Parsed::Partial,
                    "prefix of {cut}"
                );
            }
        }
        Parsed::Partial => {
            for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
                assert_eq!(
                    parse(&buf.slice(..cut), MAX_HEADERS),
                    Parsed::Partial,
                    "prefix of {cut}"
                );
            }
        }
        Parsed::Unsupported => {
            for ending in ENDINGS {
                let mut longer = data.to_vec();
                longer.extend_from_slice(ending);
                assert!(
                    !matches!(
                        parse(&Bytes::from(longer), MAX_HEADERS),
                        Parsed::Complete { .. }
                    ),
                    "refused, then complete with {ending:?} appended"
                );
            }
        }
    }
});

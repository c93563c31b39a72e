//! Fuzz target: the rate-limit store's RESP2 reply parser. Whatever the
//! bytes, it never panics, never consumes past the buffer or nothing, and
//! gives the same replies (and the same error, or the same leftover) when
//! the bytes arrive in two pieces as when they arrive whole, the way a
//! reader that parses after every read sees them.
#![no_main]

use dataplane::limit_store::resp::{parse, ProtocolError, Reply};
use libfuzzer_sys::fuzz_target;

/// Parses everything `buf` holds, from `consumed` on: the replies, and
/// `Err` if it ended in an error.
fn drain(
    buf: &[u8],
    consumed: &mut usize,
    replies: &mut Vec<Reply>,
) -> Result<(), ProtocolError> {
    loop {
        match parse(&buf[*consumed..])? {
            Some((reply, used)) => {
                assert!(used > 0 && *consumed + used <= buf.len(), "consumed {used} of {}", buf.len() - *consumed);
                *consumed += used;
                replies.push(reply);
            }
            None => return Ok(()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = usize::from(cut) * bytes.len() / 255;

    let mut whole = Vec::new();
    let mut whole_used = 0;
    let whole_end = drain(bytes, &mut whole_used, &mut whole);

    // The first piece alone, then both: what a reader holds after each read.
    let mut pieces = Vec::new();
    let mut pieces_used = 0;
    let mut pieces_end = drain(&bytes[..cut], &mut pieces_used, &mut pieces);
    if pieces_end.is_ok() {
        pieces_end = drain(bytes, &mut pieces_used, &mut pieces);
    }
    // An error in the first piece is an error of the whole: the replies
    // before it are the same and so is the error.
    assert_eq!(whole_end, pieces_end);
    assert_eq!(whole, pieces);
    if whole_end.is_ok() {
        assert_eq!(whole_used, pieces_used);
    }
});

//! Fuzz target: the fast path's HTTP/1.1 request-head parser against
//! httparse (what hyper parses with). Ours accepts a subset, so whenever it
//! says Complete, httparse (default configuration) must say Complete at the
//! same length with the same method, target, version 1.1 and fields: the
//! same values, byte for byte, for each name in the order they came, and
//! the names in the order they first came. Whenever ours says Partial,
//! httparse must not have a whole head either.
#![no_main]

use bytes::Bytes;
use dataplane::http1::head::{parse, Parsed};
use libfuzzer_sys::fuzz_target;

const MAX_HEADERS: usize = 32;

fuzz_target!(|data: &[u8]| {
    let ours = parse(&Bytes::copy_from_slice(data), MAX_HEADERS);
    // More room than ours takes, so httparse never stops for want of it.
    let mut fields = [httparse::EMPTY_HEADER; 2 * MAX_HEADERS];
    let mut theirs = httparse::Request::new(&mut fields);
    let status = theirs.parse(data);
    match ours {
        Parsed::Complete { head, len } => {
            assert_eq!(status, Ok(httparse::Status::Complete(len)));
            assert_eq!(theirs.method, Some(head.method.as_str()));
            let target = head.uri.path_and_query().map(|pq| pq.as_str());
            assert_eq!(theirs.path, target);
            assert_eq!(theirs.version, Some(1));
            assert_eq!(theirs.headers.len(), head.headers.len());

            // A HeaderMap keeps each name's values in order and the names
            // in the order they first came, not the interleaving.
            let mut names: Vec<String> = Vec::new();
            for field in theirs.headers.iter() {
                let name = field.name.to_ascii_lowercase();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            let ours_names: Vec<&str> = head.headers.keys().map(|n| n.as_str()).collect();
            assert_eq!(ours_names, names);
            for name in &names {
                let theirs_values: Vec<&[u8]> = theirs
                    .headers
                    .iter()
                    .filter(|f| f.name.eq_ignore_ascii_case(name))
                    .map(|f| f.value)
                    .collect();
                let ours_values: Vec<&[u8]> = head
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| v.as_bytes())
                    .collect();
                assert_eq!(ours_values, theirs_values, "values of {name}");
            }
        }
        Parsed::Partial => {
            assert!(
                !matches!(status, Ok(httparse::Status::Complete(_))),
                "ours Partial, httparse {status:?}"
            );
        }
        Parsed::Unsupported => {}
    }
});

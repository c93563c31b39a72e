//! Robustness of the reader: truncation at every length, every single-byte
//! flip, flips behind a recomputed checksum (so the structural checks, not
//! the checksum, must catch them), and random bytes. `from_bytes` must return
//! an error and never panic; a table it accepts must be fully readable.

mod common;

use proptest::prelude::*;
use routetable::*;

/// Reads everything a consumer could read, to prove an accepted table never
/// makes an accessor panic.
fn exercise(view: &TableView<'_>) {
    let spec = view.to_spec();
    let _ = view.routes_by_precedence();
    for route in view.routes() {
        let _ = (
            route.service(),
            route.chain().map(|c| c.middlewares().count()),
            route.precedence(),
        );
    }
    for path in [
        "/",
        "/v1/chat/ws",
        "/v1/admin/x",
        "/a/b/c/",
        "/v1/admin%2Fx",
    ] {
        let _ = view.lookup("legacy.dating.serge.cc", "GET", path);
    }
    for route in &spec.routes {
        let _ = view.lookup("h", "GET", route.path.path());
    }
}

fn real_table() -> Vec<u8> {
    encode(&common::everything())
}

#[test]
fn truncation_at_every_length_is_an_error() {
    let bytes = real_table();
    for len in 0..bytes.len() {
        let err = Table::from_bytes(&bytes[..len]).expect_err("a truncated table must not open");
        if len < layout::HEADER_LEN {
            assert!(matches!(err, TableError::TooShort { .. }), "{len}: {err}");
        } else {
            assert!(
                matches!(err, TableError::LengthMismatch { .. }),
                "{len}: {err}"
            );
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Table::from_bytes(&longer),
        Err(TableError::LengthMismatch { .. })
    ));
}

#[test]
fn every_single_byte_flip_is_an_error() {
    let bytes = real_table();
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[at] ^= mask;
            let err = Table::from_bytes(&flipped).expect_err("a flipped byte must be caught");
            // Bytes past the checksum field are all covered by it; the
            // fields before it have their own checks.
            if at >= layout::CHECKSUM_FROM && at != layout::header::TOTAL_LEN {
                assert!(
                    matches!(
                        err,
                        TableError::ChecksumMismatch { .. } | TableError::LengthMismatch { .. }
                    ),
                    "flip at {at}: {err}"
                );
            }
        }
    }
}

/// With the checksum recomputed, a flip must be caught by the structural
/// checks or leave a table that is still safe to read.
#[test]
fn resealed_flips_are_caught_or_harmless() {
    let bytes = real_table();
    let mut rejected = 0;
    for at in layout::CHECKSUM_FROM..bytes.len() {
        for mask in [0x01u8, 0x10, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[at] ^= mask;
            layout::reseal(&mut flipped);
            match Table::from_bytes(&flipped) {
                Ok(view) => exercise(&view),
                Err(_) => rejected += 1,
            }
        }
    }
    // Most structural bytes matter; a validator that accepted everything
    // would reject none.
    assert!(
        rejected > (bytes.len() - layout::CHECKSUM_FROM),
        "only {rejected} flips rejected"
    );
}

/// Where `field` of `section`'s first record is in the file.
fn file_offset(bytes: &[u8], section: Section, field: usize) -> usize {
    let start = layout::read_u32(bytes, layout::header::DIRECTORY + section as usize * 8);
    start.unwrap() as usize + field
}

#[test]
fn gateway_flags_are_read_in_place_and_unknown_bits_refused() {
    let mut spec = common::dating_platform();
    assert_eq!(layout::gateway_flags(&encode(&spec)), 0);
    spec.gateway.underscore_headers = true;
    let bytes = encode(&spec);
    assert_eq!(
        layout::gateway_flags(&bytes),
        layout::gateway::FLAG_UNDERSCORE_HEADERS
    );
    let field = file_offset(&bytes, Section::Gateway, layout::gateway::FLAGS);
    let mut bad = bytes.clone();
    bad[field..field + 4].copy_from_slice(&0b10u32.to_le_bytes());
    layout::reseal(&mut bad);
    let err = Table::from_bytes(&bad).unwrap_err().to_string();
    assert!(err.contains("unknown gateway flags 0x2"), "{err}");
}

#[test]
fn errors_say_what_and_where() {
    let bytes = real_table();
    let mut bad = bytes.clone();
    bad[0] = b'X';
    let err = Table::from_bytes(&bad).unwrap_err().to_string();
    assert!(err.contains("magic"), "{err}");

    let mut bad = bytes.clone();
    bad[layout::header::VERSION] = 9;
    assert_eq!(
        Table::from_bytes(&bad).unwrap_err(),
        TableError::UnsupportedVersion {
            found: 9,
            supported: layout::VERSION
        }
    );

    // A route pointing at a service that does not exist, checksum fixed.
    let view = Table::from_bytes(&bytes).unwrap();
    let field = file_offset(&bytes, Section::Routes, layout::route::SERVICE);
    let mut bad = bytes.clone();
    bad[field..field + 4].copy_from_slice(&99u32.to_le_bytes());
    layout::reseal(&mut bad);
    match Table::from_bytes(&bad).unwrap_err() {
        TableError::Malformed {
            section,
            offset,
            file_offset,
            problem,
        } => {
            assert_eq!(section, Section::Routes);
            assert_eq!(offset, layout::route::SERVICE);
            assert_eq!(file_offset, field);
            assert!(problem.contains("service index 99"), "{problem}");
            assert!(
                problem.contains(&format!("{} services", view.service_count())),
                "{problem}"
            );
        }
        other => panic!("expected Malformed, got {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_an_error(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(Table::from_bytes(&bytes).is_err());
    }

    /// Random bytes behind a valid header: the structural checks must hold.
    #[test]
    fn random_body_behind_a_valid_header_never_panics(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = real_table()[..layout::HEADER_LEN].to_vec();
        bytes.extend_from_slice(&body);
        let len = bytes.len() as u64;
        bytes[layout::header::TOTAL_LEN..layout::header::TOTAL_LEN + 8].copy_from_slice(&len.to_le_bytes());
        layout::reseal(&mut bytes);
        if let Ok(view) = Table::from_bytes(&bytes) {
            exercise(&view);
        }
    }

    /// Several random overwrites of a real table, resealed.
    #[test]
    fn random_patches_of_a_real_table_never_panic(patches in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = real_table();
        for (at, value) in patches {
            let i = layout::CHECKSUM_FROM + at.index(bytes.len() - layout::CHECKSUM_FROM);
            bytes[i] = value;
        }
        layout::reseal(&mut bytes);
        if let Ok(view) = Table::from_bytes(&bytes) {
            exercise(&view);
        }
    }
}

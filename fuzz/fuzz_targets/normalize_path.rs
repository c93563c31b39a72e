//! Fuzz target: `normalize_path` never panics, and what it accepts is a
//! fixed point (normalizing again changes nothing) with no dot segments or
//! repeated slashes left.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run normalize_path`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(once) = routetable::normalize_path(raw) else { return };
    let twice = routetable::normalize_path(&once).expect("normal paths stay accepted");
    assert_eq!(twice, once);
    assert!(!once.contains("//"));
    assert!(once.split('/').all(|s| s != "." && s != ".."));
});

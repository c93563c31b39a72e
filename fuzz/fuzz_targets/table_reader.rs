//! Fuzz target: `Table::from_bytes` on arbitrary bytes must return an error
//! or a table that every accessor and lookup can read without panicking.
//! Seeds that start as a valid table get their checksum fixed, so mutations
//! reach the structural checks instead of all dying at the checksum.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run table_reader`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use routetable::{layout, Table};

fuzz_target!(|data: &[u8]| {
    read(data);
    if data.len() >= layout::HEADER_LEN {
        let mut resealed = data.to_vec();
        layout::reseal(&mut resealed);
        read(&resealed);
    }
});

fn read(bytes: &[u8]) {
    let Ok(view) = Table::from_bytes(bytes) else { return };
    let spec = view.to_spec();
    // A table that validates re-encodes to a table that validates.
    let again = routetable::encode(&spec);
    assert_eq!(Table::from_bytes(&again).expect("re-encoded table opens").to_spec(), spec);
    let _ = view.routes_by_precedence();
    for route in &spec.routes {
        let path = route.path.path();
        let _ = view.lookup(route.host.as_deref().unwrap_or("any"), "GET", path);
        let _ = view.lookup("h:80", "POST", &format!("{}/x%2Fy", path.trim_end_matches('/')));
    }
}

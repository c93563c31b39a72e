//! `routec inspect`: a compiled `routes.bin`, human-readably.
//!
//! Placeholder until the route-table work lands: validates the table with
//! the shared reader and prints its header.

/// Render `bytes` as text, or the reader's error.
pub fn render(bytes: &[u8]) -> Result<String, routetable::TableError> {
    let view = routetable::Table::from_bytes(bytes)?;
    Ok(format!("{:#?}\n", view.header()))
}

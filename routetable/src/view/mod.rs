//! The reader: [`Table::from_bytes`] validates a table completely and returns
//! a [`TableView`] whose accessors read the bytes in place.
//!
//! All checking happens once, in `from_bytes`: header, version, flags,
//! length, checksum, section layout, every string and list reference, every
//! index, every middleware body and the lookup index's consistency with the
//! routes. After that the views' accessors cannot fail; they still never
//! index out of bounds (a read past the end yields zero or ""), so even a bug
//! in the validator cannot make them panic. Matching lives in `lookup`, the
//! layout's numbers in `layout`.
//!
//! Four files, no circles: `table` holds [`TableView`] and its total reads
//! and imports none of the others; `middleware` decodes middleware bodies
//! on top of it; `records` holds the per-record views and uses both;
//! `validate` holds [`Table::from_bytes`] and the checks, and uses `table`
//! and `middleware` (never the views, which only exist once it passed).

mod middleware;
mod records;
mod table;
mod validate;

pub use records::{ChainView, GatewayView, MiddlewareView, PathMatchView, RouteView, ServiceView};
pub use table::{Header, TableView};
pub(crate) use table::{Probe, Record};
pub use validate::Table;

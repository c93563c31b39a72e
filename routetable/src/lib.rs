//! `routetable`: the binary route table (`routes.bin`) that `routec` writes
//! and the data plane memory-maps, and the request matching that reads it.
//!
//! The format is specified in `FORMAT.md` beside this crate; `layout` holds
//! its numbers. The crate owns:
//! - the owned description of a table ([`TableSpec`]) and its writer
//!   ([`encode`], deterministic byte for byte);
//! - the reader ([`Table::from_bytes`]), which validates everything once
//!   and returns a [`TableView`] reading the bytes in place;
//! - matching ([`TableView::lookup`]) and request path normalization
//!   ([`normalize_path`]), whose rules FORMAT.md states;
//! - the [`defaults`] of every setting the table carries, shared by the
//!   compiler that writes them and the gateway that reads them.
//!
//! It owns no I/O (no file writing or mapping) and no knowledge of the DSL:
//! `routec` maps its model to a [`TableSpec`], the data plane maps the file.
//! It contains no `unsafe`.
//!
//! Deviations from the contract first agreed: none in names. Beyond it,
//! views also expose `index()`, `key()`, `precedence()`, and
//! [`TableView::routes_by_precedence`]; `Match` has public fields `index` and
//! `route`.

#![forbid(unsafe_code)]

pub mod defaults;
mod encode;
mod error;
pub mod layout;
mod lookup;
mod normalize;
mod spec;
mod view;

pub use encode::encode;
pub use error::{PathError, TableError};
pub use layout::{Precedence, Section};
pub use lookup::{host_without_port, Match};
pub use normalize::normalize_path;
pub use spec::*;
pub use view::{
    ChainView, GatewayView, Header, MiddlewareView, PathMatchView, RouteView, ServiceView, Table,
    TableView,
};

//! The AST stage: the generic syntax tree -> typed declarations, every value
//! with its span.
//!
//! This module owns the vocabulary of the language: which blocks exist, which
//! keys each block takes, and which value types each key accepts (durations,
//! rates, sizes, CIDRs, ports, env var names). It reports what a single
//! declaration gets wrong on its own: unknown or repeated keys, wrong value
//! types, values out of range, missing required keys, inline secrets. It does
//! not look across declarations (references, duplicates, overlaps): that is
//! [`check`](crate::check). Declarations with errors are still returned, with
//! defaults in place of the bad values, so that later checks can report more
//! than the first problem; the model is only built when there are no errors.
//! A setting with a default stays `None` here when left out: the default is
//! filled when the model is built ([`modeling`](crate::modeling)), not by a
//! reader (a `true`/`false` switch left out is simply off).
//!
//! One file per concern, with no circles between them: `types` holds the
//! declarations and imports nothing from its siblings; `reader` holds the
//! reader and the checks every block shares, `values` the value readers
//! (durations, sizes, rates, paths, addresses...); one file per block kind
//! (`platform`, `entrypoint`, `resolver`, `dashboard`, `gateway`, `chain`,
//! `service`, `edge_route`, `middleware`, `database`, `alert`,
//! `rate_limit_store`) uses those two
//! and never another block's file; `read` is the entry point that hands each
//! top-level block to its reader.

mod alert;
mod chain;
mod dashboard;
mod database;
mod edge_route;
mod entrypoint;
mod gateway;
mod middleware;
mod platform;
mod rate_limit_store;
mod read;
mod reader;
mod resolver;
mod service;
mod types;
mod values;

pub use read::read;
pub use types::*;

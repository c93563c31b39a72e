//! `dataplane`: the API gateway that enforces a compiled route table, as a library.
//!
//! Layers, outermost first: [`server`] (listeners, limits, TLS, graceful
//! shutdown) -> [`proxy`] (normalization, table lookup, [`chain`]
//! chain with the [`policy`] middlewares, forwarding headers, retries,
//! WebSockets) -> [`balancer`] and
//! [`health`] (which instance) -> [`upstream`] (pooled client, DNS cache in
//! [`resolver`]). Tables are loaded by [`table`] and published by
//! [`reload`]. What the gateway tells about itself (metrics, `/health`,
//! the admin API's documents) is [`observability`]'s. The binary in `main.rs` only parses flags, sets up logging
//! and waits for signals.

pub mod admin;
pub mod balancer;
pub mod body;
pub mod chain;
pub mod chunked;
pub mod clock;
pub mod config;
pub mod demo;
pub mod demo_credentials;
pub mod errors;
pub mod forwarding;
pub mod health;
pub mod http1;
pub mod limit_store;
pub mod logging;
mod mapping;
pub mod metric_names;
pub mod metrics;
pub mod policy;
pub mod pool_metrics;
pub mod proxy;
pub mod reload;
pub mod resolver;
pub mod server;
pub mod table;
pub mod tls;
pub mod upstream;
pub mod websocket;

pub use config::{Cli, Config};
pub use server::{Server, ServerHandle, StartError};

//! Publishing and reloading the route table: [`store`] holds the serving
//! table and replaces it, [`task`] is the one reload task every trigger
//! (the directory watcher, SIGHUP, the admin API) feeds, [`watcher`]
//! watches the table's directory, [`status`] remembers when the serving
//! table was published and why the last one was refused.

pub mod status;
pub mod store;
pub mod task;
pub mod watcher;

pub use store::{Reloaded, TableStore};
pub use task::Reloader;
pub use watcher::DirWatcher;

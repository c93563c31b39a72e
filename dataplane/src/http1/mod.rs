//! The gateway's own HTTP/1.1 server fast path, for the common request (a
//! bodiless HTTP/1.1 keep-alive request): the strict request-head parser in
//! [`head`], which decides whether a request is one the fast path serves, and
//! the connection driver beside it, which hands everything else, with the
//! bytes already read, to hyper. It owns no listener, TLS or routing; those
//! stay with [`crate::server`] and [`crate::proxy`].

pub mod head;

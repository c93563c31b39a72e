//! The gateway's own HTTP/1.1 server fast path, for the common request (a
//! bodiless HTTP/1.1 keep-alive request): [`head`], the strict request-head
//! parser that decides whether a request is one the fast path serves;
//! [`conn`], the connection driver, which serves those and hands the
//! connection, with the bytes already read ([`rewind`]), to hyper at the
//! first request outside the subset; [`response`], the response head and
//! body framing. It owns no listener, TLS or routing; those stay with
//! [`crate::server`] and [`crate::proxy`].

pub mod conn;
pub mod head;
pub mod response;
pub mod rewind;

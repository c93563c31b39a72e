//! HTTP/1.1 on one upstream connection, spoken in the request's own task:
//! there is no connection task and no channel between the request and its
//! connection, so a proxied request costs one task's wake-ups, not three;
//! a small response that arrives with its head is handed on whole and its
//! connection is back in the pool before the client sees a byte.
//!
//! Split as the protocol is: [`request`] writes the head and body,
//! [`response_head`] parses the head and decides the framing,
//! [`response_body`] decodes the body, [`exchange`] runs one request on a
//! connection, [`error`] says what went wrong.

mod error;
mod exchange;
mod request;
mod response_body;
mod response_head;

pub use error::ExchangeError;
pub use request::RequestHead;
pub use response_body::{ResponseBody, ResponseBodyError, Upgraded};
pub use response_head::MAX_HEAD_BYTES;

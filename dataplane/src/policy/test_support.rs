//! What the steps' unit tests share: a request context and one run of a
//! step's request side.

use crate::chain::{Flow, Middleware, RequestCtx};
use http::header::HeaderValue;
use http::request::Parts;
use http::{Method, Request};

pub fn test_ctx<'a>(path: &'a str, id: &'a HeaderValue) -> RequestCtx<'a> {
    RequestCtx::new(
        "r",
        "s",
        Method::GET,
        path,
        path.to_owned(),
        "127.0.0.1".parse().unwrap(),
        id,
    )
}

pub fn run(mw: &dyn Middleware, path: &str) -> (String, Parts) {
    let (mut head, ()) = Request::new(()).into_parts();
    let id = HeaderValue::from_static("id");
    let mut ctx = test_ctx(path, &id);
    assert!(matches!(mw.on_request(&mut ctx, &mut head), Flow::Continue));
    (ctx.upstream_path, head)
}

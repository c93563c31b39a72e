//! The request path: one table snapshot per request, path normalization,
//! route lookup, the client's identity headers (in every spelling),
//! underscored names and extra `Cookie` lines dealt with, the route's
//! middleware chain (told whether the request is a WebSocket handshake),
//! forwarding headers, then the
//! attempt loop over the service's instances (round-robin over available
//! ones; on a connect error the request moves on, and so does an idempotent
//! request whose body can be resent), WebSocket handshakes handed to
//! [`crate::websocket`], and JSON errors for what the gateway answers
//! itself. Every answered request is counted under its route's name (see
//! [`crate::metrics`]); `GET /metrics` and `GET /health`
//! are answered before routing. Accepting connections is
//! [`crate::server`]'s job.

use crate::admin::builtin;
use crate::balancer::Tried;
use crate::body::GatewayBody;
use crate::chain::{CacheOutcome, RequestCtx, ShortCircuit, UpstreamOutcome};
use crate::errors::ProxyError;
use crate::forwarding::{self, Peer, X_REQUEST_ID};
use crate::metrics::MethodLabel;
use crate::metrics::{Metrics, RouteMetrics};
use crate::policy;
use crate::reload::TableStore;
use crate::table::{LoadedTable, Service};
use crate::upstream::{
    BodyError, ClientBody, ExchangeError, Reclaim, RequestHead, RequestPermits, ResponseBody,
    UpstreamBody, UpstreamError,
};
use crate::websocket;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use routetable::MiddlewareKind;
use std::sync::Arc;
use std::time::Instant;

/// What every request handler shares.
pub struct Gateway {
    pub store: Arc<TableStore>,
}

impl Gateway {
    /// Serves one client request; never fails (errors become responses).
    pub async fn handle(
        &self,
        peer: Peer,
        mut request: Request<ClientBody>,
    ) -> Response<GatewayBody> {
        if let Some(response) =
            builtin::serve_builtin(&self.store, request.method(), request.uri().path())
        {
            return response;
        }
        let started = Instant::now();
        let method = MethodLabel::of(request.method());
        let table = self.store.current();
        let request_id = forwarding::request_id(request.headers_mut());
        let mut route_metrics = None;
        let proxied = async {
            match self
                .proxy(&table, peer, request, &request_id, &mut route_metrics)
                .await
            {
                Ok(response) => response,
                Err(e) => e.into_response(request_id.to_str().unwrap_or_default()),
            }
        };
        let mut response = policy::errors::catch_panic(proxied, &request_id).await;
        response.headers_mut().insert(&X_REQUEST_ID, request_id);
        route_metrics
            .unwrap_or_else(|| self.store.registries().metrics.unrouted())
            .record(method, response.status(), started.elapsed());
        response
    }

    /// Routes and forwards; `route_metrics` is set once a route matched.
    async fn proxy<'t>(
        &self,
        table: &'t LoadedTable,
        peer: Peer,
        mut request: Request<ClientBody>,
        request_id: &HeaderValue,
        route_metrics: &mut Option<&'t Arc<RouteMetrics>>,
    ) -> Result<Response<GatewayBody>, ProxyError> {
        // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one otherwise;
        // with two, the gateway and the upstream could each believe another.
        let hosts = request.headers().get_all(header::HOST).iter().count();
        if hosts > 1 || (hosts == 0 && request.version() == Version::HTTP_11) {
            return Err(ProxyError::MalformedRequest);
        }
        let path =
            routetable::normalize_path(request.uri().path()).map_err(|_| ProxyError::BadPath)?;
        let (route, service) = table
            .route(
                request_host(request.headers(), request.uri()).unwrap_or(""),
                request.method().as_str(),
                &path,
            )
            .ok_or(ProxyError::NoRoute)?;
        *route_metrics = Some(&route.metrics);
        let mut upstream_path =
            String::with_capacity(path.len() + 1 + request.uri().query().map_or(0, str::len));
        upstream_path.push_str(&path);
        if let Some(query) = request.uri().query() {
            upstream_path.push('?');
            upstream_path.push_str(query);
        }
        let path = path.into_owned();
        let max_body = table.limits.max_body_bytes;
        if content_length(&request).is_some_and(|n| n > max_body) {
            return Err(ProxyError::BodyTooLarge);
        }
        let websocket = route.websocket
            && request.version() == Version::HTTP_11
            && websocket::is_handshake(request.headers());
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
        let (mut head, body) = request.into_parts();
        // Identity headers come from the jwt step, never from the client.
        policy::jwt::strip_identity_headers(&mut head.headers);
        if !table.limits.underscore_headers {
            forwarding::drop_underscored_names(&mut head.headers);
        }
        // One `Cookie` line for the HTTP/1.1 hop, and for the steps.
        forwarding::join_cookies(&mut head.headers);
        // Before the chain: headers the client names in `Connection` are
        // the client's hop-by-hop headers, and must not remove what the
        // chain adds (`Connection: X-User-Id` would drop the verified id).
        forwarding::strip_hop_by_hop(&mut head.headers, websocket);

        let mut ctx = RequestCtx::new(
            &route.name,
            &service.name,
            head.method.clone(),
            &path,
            upstream_path,
            policy::client_ip::resolve(peer.ip, &head.headers, &table.trusted_proxies),
            request_id,
        );
        ctx.websocket = websocket;
        if let Err(short) = route.chain.run_request(&mut ctx, &mut head).await {
            let ShortCircuit { mut response, ran } = *short;
            route.chain.run_response(&ctx, &mut response, ran);
            route.chain.run_complete(&mut ctx, &mut response);
            count_outcome(
                &self.store.registries().metrics,
                &route.metrics,
                &ctx,
                response.status(),
            );
            return Ok(response);
        }
        let host =
            request_host(&head.headers, &head.uri).and_then(|h| HeaderValue::from_str(h).ok());
        forwarding::set_forwarded(
            &mut head.headers,
            peer,
            host.as_ref(),
            &table.trusted_proxies,
        );
        if !head.headers.contains_key(header::HOST) {
            // h2 carries the host in :authority; HTTP/1.1 upstreams need Host.
            if let Some(authority) = head
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                head.headers.insert(header::HOST, authority);
            }
        }

        let (body, reclaim) = UpstreamBody::streaming(body, max_body);
        let sent = Instant::now();
        let forwarded = self
            .forward(service, head, &ctx.upstream_path, body, reclaim, max_body)
            .await;
        ctx.upstream = Some(UpstreamOutcome {
            instance: forwarded
                .as_ref()
                .ok()
                .map(|(_, index, _)| service.instances[*index].base_uri.as_str()),
            latency: sent.elapsed(),
        });
        let mut response = match forwarded {
            Ok((mut upstream, _, permits)) => {
                let switching = upstream.status() == StatusCode::SWITCHING_PROTOCOLS;
                if let (Some(client), true) = (client_upgrade, switching) {
                    let (parts, body) = upstream.into_parts();
                    if let Some(upgraded) = body.into_upgraded() {
                        tokio::spawn(websocket::tunnel(client, upgraded, service.websocket_idle));
                    }
                    upstream = Response::from_parts(parts, ResponseBody::empty());
                }
                forwarding::strip_hop_by_hop(upstream.headers_mut(), switching);
                upstream.map(|body| match permits {
                    Some(permits) => GatewayBody::Limited(body, permits),
                    None => GatewayBody::Upstream(body),
                })
            }
            Err(e) => e.into_response(request_id.to_str().unwrap_or_default()),
        };
        route
            .chain
            .run_response(&ctx, &mut response, route.chain.len());
        route.chain.run_complete(&mut ctx, &mut response);
        count_outcome(
            &self.store.registries().metrics,
            &route.metrics,
            &ctx,
            response.status(),
        );
        Ok(response)
    }

    /// Sends the request to the service, moving to the next available
    /// instance when that is safe; the response, the instance's index and
    /// the permits its body must hold.
    async fn forward(
        &self,
        service: &Service,
        head: Parts,
        path_and_query: &str,
        body: UpstreamBody,
        mut reclaim: Reclaim,
        max_body: u64,
    ) -> Result<(Response<ResponseBody>, usize, Option<RequestPermits>), ProxyError> {
        let idempotent = matches!(
            head.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        );
        let passive = self.store.registries().passive;
        let mut tried = Tried::default();
        let mut body = Some(body);
        let mut failed_once = false;
        // Set when a pooled connection turned out closed: the same instance
        // gets one more try on a new connection before anyone is blamed.
        let mut fresh_retry: Option<usize> = None;
        let mut fresh_retried = false;
        loop {
            let fresh = fresh_retry.is_some();
            let index = match fresh_retry.take() {
                Some(index) => index,
                None => {
                    let Some(index) = service.balancer.pick(&service.states, tried) else {
                        return Err(if failed_once {
                            ProxyError::UpstreamFailed
                        } else {
                            ProxyError::NoHealthyInstance
                        });
                    };
                    tried.insert(index);
                    index
                }
            };
            let body = match body.take() {
                Some(body) => body,
                None => {
                    let (body, next) = reclaim.take(max_body).ok_or(ProxyError::UpstreamFailed)?;
                    reclaim = next;
                    body
                }
            };
            let instance = &service.instances[index];
            let state = &service.states[index];
            // Room for one more request to the instance; the permits ride
            // on the response body (see `ConnectionLimits`).
            let permits = match &service.client.limits {
                Some(limits) => Some(limits.acquire(&instance.pool).await),
                None => None,
            };
            let _in_flight = state.start_request();
            let sent = Instant::now();
            let attempt = service.client.send(
                &instance.pool,
                fresh,
                RequestHead {
                    method: &head.method,
                    path_and_query,
                    headers: &head.headers,
                },
                body,
                // The same bound between two pieces of the body as for
                // the head (nginx's proxy_read_timeout works alike).
                service.response_timeout,
            );
            match tokio::time::timeout(service.response_timeout, attempt).await {
                Ok(Ok(response)) => {
                    state.record_success();
                    service.metrics.observe_response(sent.elapsed());
                    return Ok((response, index, permits));
                }
                Ok(Err(e)) => {
                    if let UpstreamError::Exchange(ExchangeError::Body(body_error)) = &e {
                        return Err(match body_error {
                            BodyError::TooLarge { .. } => ProxyError::BodyTooLarge,
                            // The client's fault: the instance keeps its record.
                            BodyError::Client(_) => ProxyError::BadBody,
                        });
                    }
                    if let UpstreamError::Exchange(exchange) = &e {
                        if !fresh_retried && exchange.is_stale_connection(idempotent) {
                            tracing::debug!(service = %service.name, instance = %instance.base_uri, error = %e, "pooled connection was closed; retrying on a new one");
                            fresh_retried = true;
                            fresh_retry = Some(index);
                            continue;
                        }
                    }
                    if state.record_failure(passive) {
                        service.metrics.ejected(index);
                        tracing::warn!(service = %service.name, instance = %instance.base_uri, "instance ejected after consecutive failures");
                    }
                    tracing::debug!(service = %service.name, instance = %instance.base_uri, error = %e, "upstream attempt failed");
                    if !(e.is_connect() || idempotent) {
                        return Err(ProxyError::UpstreamFailed);
                    }
                    service.metrics.retried();
                    failed_once = true;
                }
                Err(_) => {
                    if state.record_failure(passive) {
                        service.metrics.ejected(index);
                    }
                    return Err(ProxyError::UpstreamTimeout);
                }
            }
        }
    }
}

/// The request's host as sent (`Host`, or the h2 `:authority`); the table
/// lookup ignores the port and ASCII case itself.
fn request_host<'a>(headers: &'a http::HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

fn content_length(request: &Request<ClientBody>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Turns what the chain recorded about one request into counts: a refusal
/// by a rate limiter (429) or a jwt step (401/403), and a cache step's
/// verdict (a bypass counts as a miss, as clients see it). Read from the
/// context's typed outcome, never from response headers, which the
/// upstream writes too.
fn count_outcome(
    metrics: &Metrics,
    route: &RouteMetrics,
    ctx: &RequestCtx<'_>,
    status: StatusCode,
) {
    if let Some(stopped) = &ctx.answered {
        match (stopped.kind, status) {
            (MiddlewareKind::RateLimit, StatusCode::TOO_MANY_REQUESTS) => {
                metrics.count_rate_limited(route, &stopped.step)
            }
            (MiddlewareKind::Jwt, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                metrics.auth_failure(stopped.reason)
            }
            _ => {}
        }
    }
    if let Some(cache) = ctx.cache {
        metrics.count_cache(route, cache == CacheOutcome::Hit);
    }
}

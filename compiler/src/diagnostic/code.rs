//! The diagnostic codes: every finding the compiler can report, as one
//! variant, and the one place that spells each code as the user sees it
//! (`error[unknown-key]`).
//!
//! The spellings are a stable interface (people grep for them, tests and
//! editors match on them), so they live here and nowhere else; the stages
//! name a [`Code`] variant and never write the text. This module owns the
//! names only, not the messages, spans or severities that go with them.

use std::fmt;

/// What a diagnostic is about, independent of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    // Reading the text (`syntax`).
    /// A backslash escape in a string that the language does not have.
    InvalidEscape,
    /// Text the grammar cannot read.
    Syntax,
    // One declaration on its own (`ast`); `missing-key` and `out-of-range`
    // are also reported by `check`.
    /// A `chain` written as a block instead of a statement.
    ChainSyntax,
    /// A chain with no middlewares.
    EmptyChain,
    /// A key that opens a block (`health`, `timeouts`...) written as a statement.
    ExpectedBlock,
    /// An upstream client certificate without its key, or a key without its certificate.
    IncompleteClientCert,
    /// A secret (JWT key, connection string, password) written into the source.
    InlineSecret,
    /// The JWT algorithm `none`.
    InsecureAlgorithm,
    /// A CIDR with a bad prefix length or host bits set.
    InvalidCidr,
    /// A duration without a known unit.
    InvalidDuration,
    /// An environment variable name that is not upper-case letters, digits and `_`.
    InvalidEnvVar,
    /// A header name that is not an HTTP token.
    InvalidHeaderName,
    /// A host name that is not lower-case DNS labels.
    InvalidHost,
    /// A service instance address without a host.
    InvalidInstance,
    /// An IPv4 address that does not parse.
    InvalidIp,
    /// An HTTP method the language does not know.
    InvalidMethod,
    /// A declaration name that is not lower-case letters, digits and `-`.
    InvalidName,
    /// A CORS origin that is not `scheme://host[:port]`.
    InvalidOrigin,
    /// A route path that is not absolute and normalized.
    InvalidPath,
    /// A port outside 1 to 65535.
    InvalidPort,
    /// A rate that is not a whole number per s, m or h.
    InvalidRate,
    /// A size without a known unit.
    InvalidSize,
    /// A value its key does not accept (not one of its choices, an email
    /// without `@`...).
    InvalidValue,
    /// A required key left out of a block.
    MissingKey,
    /// A block that needs a name (or an alert kind) without one.
    MissingName,
    /// An edge route without an explicit priority.
    MissingPriority,
    /// A number too small or too large for its key.
    OutOfRange,
    /// An edge route with both a `prefix` and a `path`.
    PrefixAndPath,
    /// A second block of a kind a file has at most one of.
    RepeatedBlock,
    /// A key given twice in one block.
    RepeatedKey,
    /// A service with both `replicas` and `instances`.
    ReplicasAndInstances,
    /// A cache for a method other than GET and HEAD.
    UncacheableMethod,
    /// A nested block where the enclosing block takes none of that kind.
    UnexpectedBlock,
    /// A name on a block that takes none.
    UnexpectedName,
    /// An alert kind the language does not have.
    UnknownAlert,
    /// A JWT algorithm the language does not know.
    UnknownAlgorithm,
    /// A top-level block kind the language does not have.
    UnknownBlock,
    /// A key the block does not take.
    UnknownKey,
    /// A top-level statement other than `chain`.
    UnknownStatement,
    /// A statement with too few or too many values.
    WrongArity,
    /// A value of the wrong kind (a name where a string belongs...).
    WrongType,
    // The program as a whole (`check`).
    /// An alert threshold missing, present where none belongs, or of the wrong shape.
    AlertThreshold,
    /// Two routes that match the same requests with equal priority.
    AmbiguousRoutes,
    /// An edge route straight to a service that the gateway serves.
    BypassesGateway,
    /// A CORS `*` next to other origins it makes redundant.
    CorsWildcard,
    /// A CORS `*` origin together with credentials.
    CorsWildcardCredentials,
    /// Two declarations of one kind with the same name.
    DuplicateName,
    /// A health-check timeout not shorter than its interval.
    HealthTimeout,
    /// Middlewares in an order that cannot work (a per-user limit before `jwt`...).
    MiddlewareOrder,
    /// A middleware in a tier it cannot run in.
    MiddlewareTier,
    /// Routes to the gateway without a `gateway` block.
    MissingGateway,
    /// A `scope shared` rate limit without a `rate_limit_store` block.
    MissingStore,
    /// A file without a `platform` block.
    MissingPlatform,
    /// A database without read replicas.
    NoReplicas,
    /// A pool maximum below its minimum.
    PoolBounds,
    /// Two entrypoints on one port.
    PortConflict,
    /// A path that requires roles but is also public.
    PublicRolePath,
    /// An entrypoint redirecting to one that redirects again.
    RedirectChain,
    /// Entrypoint redirects that come back to where they started.
    RedirectLoop,
    /// A middleware twice in one chain.
    RepeatedMiddleware,
    /// A route that another always wins over.
    ShadowedRoute,
    /// One `host:port` an instance of two services.
    SharedInstance,
    /// The edge and internal subnets overlapping.
    SubnetOverlap,
    /// A Traefik image whose major version is not the target version.
    TraefikImageVersion,
    /// A name that refers to no declaration.
    UnknownReference,
    /// A Traefik version that is not a target.
    UnsupportedTraefik,
    /// A middleware or chain nothing uses.
    Unused,
    /// A service chain that no gateway path runs.
    UnusedChainSetting,
    /// A WebSocket path outside its service's prefixes.
    WebsocketOutsidePrefix,
    /// A WebSocket path whose chain has no cors step, so no handshake's
    /// `Origin` is checked.
    WebsocketOriginUnchecked,
    /// A wildcard certificate with a challenge that cannot issue it.
    WildcardNeedsDns,
}

impl Code {
    /// The code as rendered in `error[...]` and matched by tests and tools.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::InvalidEscape => "invalid-escape",
            Code::Syntax => "syntax",
            Code::ChainSyntax => "chain-syntax",
            Code::EmptyChain => "empty-chain",
            Code::ExpectedBlock => "expected-block",
            Code::IncompleteClientCert => "incomplete-client-cert",
            Code::InlineSecret => "inline-secret",
            Code::InsecureAlgorithm => "insecure-algorithm",
            Code::InvalidCidr => "invalid-cidr",
            Code::InvalidDuration => "invalid-duration",
            Code::InvalidEnvVar => "invalid-env-var",
            Code::InvalidHeaderName => "invalid-header-name",
            Code::InvalidHost => "invalid-host",
            Code::InvalidInstance => "invalid-instance",
            Code::InvalidIp => "invalid-ip",
            Code::InvalidMethod => "invalid-method",
            Code::InvalidName => "invalid-name",
            Code::InvalidOrigin => "invalid-origin",
            Code::InvalidPath => "invalid-path",
            Code::InvalidPort => "invalid-port",
            Code::InvalidRate => "invalid-rate",
            Code::InvalidSize => "invalid-size",
            Code::InvalidValue => "invalid-value",
            Code::MissingKey => "missing-key",
            Code::MissingName => "missing-name",
            Code::MissingPriority => "missing-priority",
            Code::OutOfRange => "out-of-range",
            Code::PrefixAndPath => "prefix-and-path",
            Code::RepeatedBlock => "repeated-block",
            Code::RepeatedKey => "repeated-key",
            Code::ReplicasAndInstances => "replicas-and-instances",
            Code::UncacheableMethod => "uncacheable-method",
            Code::UnexpectedBlock => "unexpected-block",
            Code::UnexpectedName => "unexpected-name",
            Code::UnknownAlert => "unknown-alert",
            Code::UnknownAlgorithm => "unknown-algorithm",
            Code::UnknownBlock => "unknown-block",
            Code::UnknownKey => "unknown-key",
            Code::UnknownStatement => "unknown-statement",
            Code::WrongArity => "wrong-arity",
            Code::WrongType => "wrong-type",
            Code::AlertThreshold => "alert-threshold",
            Code::AmbiguousRoutes => "ambiguous-routes",
            Code::BypassesGateway => "bypasses-gateway",
            Code::CorsWildcard => "cors-wildcard",
            Code::CorsWildcardCredentials => "cors-wildcard-credentials",
            Code::DuplicateName => "duplicate-name",
            Code::HealthTimeout => "health-timeout",
            Code::MiddlewareOrder => "middleware-order",
            Code::MiddlewareTier => "middleware-tier",
            Code::MissingGateway => "missing-gateway",
            Code::MissingStore => "missing-store",
            Code::MissingPlatform => "missing-platform",
            Code::NoReplicas => "no-replicas",
            Code::PoolBounds => "pool-bounds",
            Code::PortConflict => "port-conflict",
            Code::PublicRolePath => "public-role-path",
            Code::RedirectChain => "redirect-chain",
            Code::RedirectLoop => "redirect-loop",
            Code::RepeatedMiddleware => "repeated-middleware",
            Code::ShadowedRoute => "shadowed-route",
            Code::SharedInstance => "shared-instance",
            Code::SubnetOverlap => "subnet-overlap",
            Code::TraefikImageVersion => "traefik-image-version",
            Code::UnknownReference => "unknown-reference",
            Code::UnsupportedTraefik => "unsupported-traefik",
            Code::Unused => "unused",
            Code::UnusedChainSetting => "unused-chain-setting",
            Code::WebsocketOutsidePrefix => "websocket-outside-prefix",
            Code::WebsocketOriginUnchecked => "websocket-origin-unchecked",
            Code::WildcardNeedsDns => "wildcard-needs-dns",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

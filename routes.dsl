# routes.dsl: the Dating Platform's routing, in one file.
#
# Two tiers: Traefik at the edge (TLS, host routing, coarse policy) and the
# API gateway (`dataplane`) inside, which routes /v1/<service>/ to eight
# microservices and enforces the API policy. `routec build` compiles this
# file into generated/; never edit generated/ by hand.

platform dating {
  domain "dating.serge.cc"
  network dating-net
  subnet 172.20.0.0/16  # internal: the gateway, the services, the databases
  edge_subnet 172.21.0.0/16  # edge: Traefik and the gateway
  # Traefik reaches the gateway over the edge network: its X-Forwarded-For
  # entries are believed, nobody else's.
  trusted_proxies [172.21.0.0/16]
  # Client header names with `_` are dropped (nginx's default): CGI-style
  # services read `X_User_Id` as `X-User-Id`.
  underscore_headers drop
  # Traefik finds the gateway and the edge's own services through their
  # docker labels (the docker provider on the engine's socket, read-only,
  # exposedByDefault false): a replica that stops or starts is seen at
  # once, with no file to rewrite.
  edge_routers labels
}

# ---------------------------------------------------------------- edge ----

entrypoint web {
  address :80
  redirect websecure
}

entrypoint websecure {
  address :443
}

resolver letsencrypt {
  email "admin@dating.serge.cc"
  storage "/letsencrypt/acme.json"
  challenge tls
  # ACME issues a wildcard (*.dating.serge.cc) only through the DNS
  # challenge; with the TLS challenge the certificate names its hosts.
  domain "dating.serge.cc" ["traefik.dating.serge.cc"]
}

dashboard {
  host "traefik.dating.serge.cc"
  middlewares [ops-auth]
}

# Edge routes, highest priority first. Every edge route states its
# priority: Traefik's default (the rule's length) routes by accident.
edge_route metrics {
  prefix "/metrics"
  priority 400
  to gateway
  middlewares [secure-headers, ops-auth]
}

edge_route health {
  prefix "/health"
  priority 300
  to gateway
  middlewares [secure-headers]
}

edge_route api {
  prefix "/v1"
  priority 200
  to gateway
  middlewares [secure-headers, edge-cors]
}

edge_route api-legacy {
  prefix "/api/v1"
  priority 100
  to gateway
  middlewares [strip-api, secure-headers, edge-cors]
}

edge_route admin-panel {
  prefix "/admin"
  priority 50
  to service admin-panel
  middlewares [strip-admin, secure-headers, ops-auth]
}

edge_route webapp {
  prefix "/"
  priority 1
  to service webapp
  middlewares [secure-headers]
}

# ------------------------------------------------------------ gateway ----

gateway {
  image "dating/dataplane:latest"
  port 8080
  chain api
  max_connections 10000
  max_header_size 16KiB
  max_body_size 10MiB
  header_timeout 10s
  dns_ttl 300s
  # Three gateway containers behind Traefik; the shared rate limits below
  # hold across all three (each falls back to a third of a limit alone).
  replicas 3
  pool {
    max_total 100
    max_per_host 20
    idle_timeout 90s
  }
}

# The seed's order: CORS, rate limiting, authentication, request logging,
# error handling, response security headers. The per-user limit runs right
# after authentication, since only a verified token names a user.
chain api [cors, per-ip, auth, per-user, request-log, json-errors, security]
chain api-cached [cors, per-ip, auth, per-user, request-log, json-errors, security, discovery-cache]

# ----------------------------------------------------------- services ----

service webapp {
  image "dating/webapp:latest"
  port 80
  replicas 1
  health {
    path "/"
    interval 30s
    timeout 5s
  }
}

service admin-panel {
  image "dating/admin-panel:latest"
  port 80
  replicas 1
  health {
    path "/"
    interval 30s
    timeout 5s
  }
}

service auth {
  image "dating/auth-service:latest"
  hostname auth-service
  port 8081
  replicas 2
  balance round_robin
  prefix "/v1/auth/"
  database main
  health {
    path "/health"
    interval 30s
    timeout 5s
    healthy 2
    unhealthy 3
  }
}

service profile {
  image "dating/profile-service:latest"
  hostname profile-service
  port 8082
  replicas 2
  balance round_robin
  prefix "/v1/profiles/"
  database main
  health {
    path "/health"
    interval 30s
    timeout 5s
    healthy 2
    unhealthy 3
  }
}

service discovery {
  image "dating/discovery-service:latest"
  hostname discovery-service
  port 8083
  replicas 2
  balance round_robin
  prefix "/v1/discovery/"
  chain api-cached
  database main
  health {
    path "/health"
    interval 30s
    timeout 5s
    healthy 2
    unhealthy 3
  }
}

service chat {
  image "dating/chat-service:latest"
  hostname chat-service
  port 8084
  replicas 1
  prefix "/v1/chat/"
  websocket "/v1/chat/ws"
  database main
  timeouts {
    connect 5s
    response 30s
    websocket_idle 5m
  }
  health {
    path "/health"
    interval 30s
    timeout 5s
  }
}

service media {
  image "dating/media-service:latest"
  hostname media-service
  port 8085
  replicas 1
  prefix "/v1/media/"
  database main
  timeouts {
    connect 5s
    response 120s
  }
  health {
    path "/health"
    interval 30s
    timeout 5s
  }
}

service admin {
  image "dating/admin-service:latest"
  hostname admin-service
  port 8086
  replicas 1
  prefix "/v1/admin/"
  database main
  health {
    path "/health"
    interval 30s
    timeout 5s
  }
}

service notification {
  image "dating/notification-service:latest"
  hostname notification-service
  port 8087
  replicas 1
  prefix "/v1/notifications/"
  websocket "/v1/notifications/ws"
  database main
  timeouts {
    connect 5s
    response 30s
    websocket_idle 5m
  }
  health {
    path "/health"
    interval 30s
    timeout 5s
  }
}

service data {
  image "dating/data-service:latest"
  hostname data-service
  port 8088
  replicas 1
  prefix "/v1/data/"
  database main
  health {
    path "/health"
    interval 30s
    timeout 5s
  }
}

# --------------------------------------------------------- middleware ----

strip_prefix strip-api {
  prefixes ["/api"]
}

strip_prefix strip-admin {
  prefixes ["/admin"]
}

headers secure-headers {
  hsts 365d
  hsts_subdomains true
  nosniff true
  frame_options "DENY"
  referrer_policy "strict-origin-when-cross-origin"
  remove_response_header "Server"
}

cors edge-cors {
  origins ["https://dating.serge.cc"]
  methods [GET, POST, PUT, PATCH, DELETE, OPTIONS]
  headers ["Authorization", "Content-Type", "X-Request-Id"]
  expose ["X-Request-Id"]
  max_age 1h
  credentials true
}

basic_auth ops-auth {
  # htpasswd hash of the placeholder password "change-me": replace it.
  users ["admin:$apr1$dating01$vwtpF/jWe772LS7iW2JXp."]
}

cors cors {
  origins ["https://dating.serge.cc"]
  methods [GET, POST, PUT, PATCH, DELETE, OPTIONS]
  headers ["Authorization", "Content-Type", "X-Request-Id"]
  expose ["X-Request-Id", "RateLimit-Remaining"]
  max_age 1h
  credentials true
}

# The platform's limits are shared: every gateway replica draws from one
# bucket per client, kept in Redis (rate_limit_store below).
rate_limit per-ip {
  key client_ip
  average 100/s
  burst 200
  scope shared
}

jwt auth {
  algorithms [HS256]
  key env JWT_SECRET
  issuer "dating-auth"
  audience "dating-api"
  roles_claim roles
  leeway 30s
  public ["/v1/auth/"]
  require_roles "/v1/admin/" [admin]
  # Browsers cannot set Authorization on a WebSocket: the page offers
  # `base64url.bearer.authorization.dating.serge.cc.<base64url token>`
  # beside its real subprotocol, and the gateway takes it out.
  token_from subprotocol "base64url.bearer.authorization.dating.serge.cc."
}

rate_limit per-user {
  key user
  average 20/s
  burst 40
  scope shared
}

# The Redis of the shared limits, by env var names only (the compose file
# runs a `redis` service and points RATE_LIMIT_REDIS_ADDR at it). A check
# that takes longer than `timeout` counts as the store being down: each
# replica then falls back to its own buckets at a third of the limit.
rate_limit_store {
  address env RATE_LIMIT_REDIS_ADDR
  password env RATE_LIMIT_REDIS_PASSWORD
  timeout 5ms
  on_failure local
}

access_log request-log {
  audit true
}

errors json-errors {
  format json
}

headers security {
  hsts 365d
  hsts_subdomains true
  nosniff true
  frame_options "DENY"
  referrer_policy "strict-origin-when-cross-origin"
}

cache discovery-cache {
  ttl 5m
  methods [GET, HEAD]
  max_entries 10000
  max_size 64MiB
}

# ----------------------------------------------------------- database ----

database main {
  primary env DATABASE_URL
  replicas env [DATABASE_READ_URL_1, DATABASE_READ_URL_2]
  pool_min 5
  pool_max 20
  command_timeout 30s
  pool_mode transaction
}

# ------------------------------------------------------------- alerts ----

alert service_down {
  for 1m
  severity critical
}

alert error_ratio {
  threshold 5%
  for 5m
  severity warning
}

alert latency {
  quantile 0.99
  threshold 1s
  for 10m
  severity warning
}

alert reload_failures {
  for 0s
  severity warning
}

alert rate_limit_spike {
  threshold 50/s
  for 5m
  severity info
}

# A gateway replica whose shared limits miss Redis (and fall back to the
# failure policy) for a minute.
alert rate_limit_store_down {
  for 1m
  severity warning
}

# A gateway replica or Traefik that Prometheus cannot scrape, or has no
# target of at all.
alert scrape_down {
  for 2m
  severity critical
}

# An instance whose connections on some gateway replica are all in use
# (in use = the per-host limit) for five minutes: requests queue for one.
alert upstream_pool_exhausted {
  for 5m
  severity warning
}

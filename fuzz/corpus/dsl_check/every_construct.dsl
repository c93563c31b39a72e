# Uses every construct of the language once, for the parser tests.
platform kitchen {
  domain "kitchen.example"
  network kitchen-net
  subnet 10.20.0.0/16
  edge_subnet 10.30.0.0/16
  trusted_proxies [10.20.0.0/16, 192.168.0.0/24]
}

entrypoint web {
  address :80
  redirect websecure
}

entrypoint websecure {
  address 0.0.0.0:443
}

resolver acme {
  email "ops@kitchen.example"
  storage "/acme/acme.json"
  challenge dns cloudflare
  domain "kitchen.example" ["*.kitchen.example", "kitchen.example"]
  domain "other.example"
}

dashboard {
  host "traefik.kitchen.example"
  entrypoints [websecure]
  tls acme
  middlewares [ops]
}

gateway {
  image "kitchen/gateway:1"
  port 8443
  chain full  # the default chain
  max_connections 500
  max_header_size 32KiB
  max_body_size 1MB
  header_timeout 5s
  dns_ttl 60s
  pool {
    max_total 50
    max_per_host 10
    idle_timeout 30s
  }
}

chain full [cors-all, ip-limit, jwt-auth, user-limit, log, errs, sec, strip-v2, add-internal, short-cache]

service menu {
  image "kitchen/menu:2"
  port 7001
  hostname menu-svc
  replicas 3
  balance least_requests
  prefix "/v2/menu/"
  prefix "/v2/dishes/"
  websocket "/v2/menu/live"
  priority 150
  database pantry
  health {
    path "/healthz"
    interval 10s
    timeout 2s
    healthy 2
    unhealthy 4
  }
  timeouts {
    connect 1s
    response 15s
    websocket_idle 10m
  }
  upstream_tls {
    ca file "/certs/ca.pem"
    cert file "/certs/client.pem"
    key file "/certs/client.key"
    server_name "menu.internal"
  }
}

service orders {
  instances [orders-a:7002, 10.20.0.9:7002]
  balance random
  prefix "/v2/orders/"
  chain full
}

service front {
  port 80
}

strip_prefix strip-v2 {
  prefixes ["/v2"]
}

add_prefix add-internal {
  prefix "/internal"
}

headers sec {
  hsts 180d
  hsts_subdomains true
  hsts_preload true
  nosniff true
  frame_options "SAMEORIGIN"
  referrer_policy "no-referrer"
  csp "default-src 'self'"
  set_request_header "X-Gateway" "kitchen"
  set_response_header "X-Served-By" "gateway"
  remove_request_header "X-Debug"
  remove_response_header "Server"
}

cors cors-all {
  origins ["*"]
  methods [GET, POST]
  headers ["Content-Type"]
  expose ["X-Request-Id"]
  max_age 10m
  credentials false
}

basic_auth ops {
  users ["ops:$2y$05$abcdefghijklmnopqrstuuKfW4nrsZ0U5JrZ1kM4j8dJ0QeN4eW6a"]
}

jwt jwt-auth {
  algorithms [RS256, ES256]
  key file "/keys/jwks.json"
  issuer "kitchen-auth"
  audience "kitchen-api"
  roles_claim groups
  leeway 10s
  public ["/v2/menu/"]
  require_roles "/v2/orders/admin/" [admin, ops]
  require_roles "/v2/orders/" [customer]
}

rate_limit ip-limit {
  key client_ip
  average 600/m
  burst 50
}

rate_limit user-limit {
  key user
  average 5/s
}

cache short-cache {
  ttl 30s
  methods [GET]
  max_entries 100
  max_size 1MiB
}

access_log log {
  audit false
}

errors errs {
  format json
}

edge_route front {
  host "www.kitchen.example"
  path "/"
  methods [GET, HEAD]
  priority 10
  to service front
  middlewares [sec, ops]
  entrypoints [websecure]
  tls acme
}

edge_route api {
  prefix "/v2"
  priority 20
  to gateway
}

database pantry {
  primary env PANTRY_URL
  replicas env [PANTRY_READ_1]
  pool_min 2
  pool_max 8
  command_timeout 15s
  pool_mode session
}

alert service_down {
  for 2m
  severity critical
}

alert error_ratio {
  threshold 2.5%
  for 10m
  severity warning
}

alert latency {
  quantile 0.95
  threshold 750ms
  for 5m
}

alert reload_failures {
  for 0s
  severity info
}

alert rate_limit_spike {
  threshold 10/s
  for 1m
}

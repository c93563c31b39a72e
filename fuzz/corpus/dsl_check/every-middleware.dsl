# One edge route that uses every middleware kind Traefik has an equivalent
# for, with values that need quoting care ($ in hashes, quotes in a CSP),
# and a gateway chain with the gateway-only kinds.

platform lab {
  domain "lab.test"
  network lab-net
  subnet 10.50.0.0/24
  trusted_proxies [10.50.0.0/24]
}

entrypoint web {
  address :80
  redirect websecure
}

entrypoint websecure {
  address :443
}

resolver acme {
  email "lab@lab.test"
  storage "/data/acme/acme.json"
  challenge tls
  domain "lab.test"
}

dashboard {
  host "proxy.lab.test"
  middlewares [ops]
}

edge_route everything {
  prefix "/app"
  priority 100
  to service app
  middlewares [strip, add, hdrs, cors-edge, ops, edge-limit]
}

edge_route api {
  prefix "/api"
  priority 90
  to gateway
  middlewares [edge-limit]
}

gateway {
  image "lab/gateway:dev"
  port 8080
  chain api
}

chain api [gw-cors, auth, user-limit, log, errs, hdrs, cache]

service app {
  image "lab/app:dev"
  port 5000
}

service echo {
  image "lab/echo:dev"
  port 5001
  prefix "/api/echo/"
  health {
    path "/"
    interval 5s
    timeout 1s
  }
}

strip_prefix strip {
  prefixes ["/app", "/legacy"]
}

add_prefix add {
  prefix "/v1"
}

headers hdrs {
  hsts 30d
  hsts_preload true
  nosniff true
  frame_options "SAMEORIGIN"
  referrer_policy "no-referrer"
  csp "default-src 'self'; img-src \"data:\""
  set_request_header "X-Edge" "lab"
  set_response_header "X-Frame-Note" "yes: quoted"
  remove_request_header "X-Debug"
  remove_response_header "X-Powered-By"
}

cors cors-edge {
  origins ["https://lab.test", "https://www.lab.test"]
  methods [GET, POST]
  headers ["Content-Type"]
  max_age 10m
  credentials false
}

basic_auth ops {
  users ["alice:$apr1$salt1$abcdefghijklmnopqrstu.", "bob:$2y$05$0123456789abcdefghijkl"]
}

rate_limit edge-limit {
  key client_ip
  average 600/m
  burst 50
}

cors gw-cors {
  origins ["*"]
  methods [GET]
  headers ["Authorization"]
}

jwt auth {
  algorithms [RS256]
  key file "/keys/jwks.json"
  roles_claim roles
}

rate_limit user-limit {
  key user
  average 10/s
  burst 20
}

access_log log {
  audit false
}

errors errs {
  format json
}

cache cache {
  ttl 1m
  methods [GET]
  max_entries 100
  max_size 1MiB
}

alert error_ratio {
  threshold 2.5%
  for 10m
  severity critical
}

alert reload_failures {
  for 1m
  severity warning
}

alert rate_limit_spike {
  threshold 5/s
  for 3m
  severity info
}

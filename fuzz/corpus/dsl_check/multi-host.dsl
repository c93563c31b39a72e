# Several hosts at the edge: an API host, a web host with an exact-path,
# method-limited route, an admin host on its own entrypoint, and a
# certificate per host family.

platform shop {
  domain "shop.example"
  network shop-internal
  subnet 10.40.0.0/16
  trusted_proxies [10.40.0.0/16]
}

entrypoint http {
  address :80
  redirect https
}

entrypoint https {
  address :443
}

entrypoint admin {
  address :8443
}

resolver le {
  email "ops@shop.example"
  storage "/acme/le.json"
  challenge tls
  domain "shop.example" ["www.shop.example", "api.shop.example"]
  domain "admin.shop.example"
}

edge_route api {
  host "api.shop.example"
  prefix "/v2"
  priority 300
  to gateway
  tls le
}

edge_route status {
  host "www.shop.example"
  path "/status"
  methods [GET, HEAD]
  priority 250
  to gateway
  tls le
}

edge_route storefront {
  host "www.shop.example"
  prefix "/"
  priority 10
  to service storefront
  tls le
}

edge_route backoffice {
  host "admin.shop.example"
  prefix "/"
  priority 10
  to service backoffice
  entrypoints [admin]
  tls le
}

gateway {
  image "shop/gateway:2"
  port 9000
}

service storefront {
  image "shop/storefront:2"
  port 8080
  replicas 3
  health {
    path "/healthz"
    interval 20s
    timeout 3s
  }
}

service backoffice {
  image "shop/backoffice:2"
  port 8080
  replicas 1
}

service catalog {
  image "shop/catalog:2"
  hostname catalog
  port 7000
  replicas 2
  prefix "/v2/catalog/"
  prefix "/v2/search/"
  database shop
  health {
    path "/health"
    interval 10s
    timeout 2s
  }
}

database shop {
  primary env SHOP_DB_URL
  replicas env [SHOP_DB_READ_URL]
  pool_max 10
}

alert service_down {
  for 2m
  severity critical
}

alert latency {
  quantile 0.95
  threshold 250ms
  for 5m
  severity warning
}

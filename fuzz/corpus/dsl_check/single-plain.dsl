# One service behind the gateway, plain HTTP: no TLS, no resolver, no
# dashboard, no redirect. Exercises the smallest outputs.

platform todo {
  domain "todo.test"
  network todo-net
  subnet 10.30.0.0/24
  trusted_proxies [10.30.0.0/24]
}

entrypoint web {
  address :8000
}

edge_route api {
  prefix "/"
  priority 10
  to gateway
}

gateway {
  image "todo/gateway:1.0"
  port 8080
}

service tasks {
  image "todo/tasks:1.0"
  port 3000
  prefix "/tasks/"
  health {
    path "/ready"
    interval 15s
    timeout 2s
  }
}

alert service_down {
  for 30s
  severity critical
}

# The proxy registered as a service of its own (kind connect-proxy), as
# Consul's docs show it, instead of connect.sidecar_service.
services {
  name    = "socat"
  id      = "socat-a"
  port    = 8181
  address = "127.0.0.1"
}
services {
  name    = "socat-proxy"
  id      = "socat-a-proxy"
  kind    = "connect-proxy"
  port    = 21005
  address = "127.0.0.1"
  proxy {
    destination_service_name = "socat"
    destination_service_id   = "socat-a"
    local_service_address    = "127.0.0.1"
    local_service_port       = 8181
  }
  checks = [{ name = "follows socat-a", alias_service = "socat-a" }]
}

# web with two upstreams: socat in datacenter dc2 (9191), and the prepared
# query socat-pq (9192), which returns a passing local socat and fails over
# to dc2.
service {
  name    = "web"
  port    = 8080
  address = "127.0.0.1"
  connect {
    sidecar_service {
      checks = [{ name = "follows web", alias_service = "web", status = "passing" }]
      proxy {
        upstreams = [
          { destination_name = "socat", datacenter = "dc2", local_bind_port = 9191 },
          { destination_type = "prepared_query", destination_name = "socat-pq", local_bind_port = 9192 },
        ]
      }
    }
  }
}

# web whose upstream asks for a 500 ms connect timeout. The built-in proxy
# ignores it (its dial timeout is a fixed 10 s).
service {
  name    = "web"
  port    = 8080
  address = "127.0.0.1"
  connect {
    sidecar_service {
      checks = [{ name = "follows web", alias_service = "web", status = "passing" }]
      proxy {
        upstreams = [
          {
            destination_name = "socat"
            local_bind_port  = 9191
            config           = { connect_timeout_ms = 500 }
          },
        ]
      }
    }
  }
}

service {
  name    = "web"
  port    = 8080
  address = "127.0.0.1"
  connect {
    sidecar_service {
      address = "127.0.0.1"
      checks = [
        { name = "web sidecar follows web", alias_service = "web", status = "passing" }
      ]
      proxy {
        upstreams = [
          { destination_name = "socat", local_bind_port = 9191 }
        ]
      }
    }
  }
}

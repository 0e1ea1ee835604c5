# Two instances of one service, distinct IDs and ports, in one `services`
# list. Each sidecar's alias check names its parent's service ID.
services = [
  {
    name    = "socat"
    id      = "socat-1"
    port    = 8181
    address = "127.0.0.1"
    checks = [
      { id = "socat-1-tcp", name = "socat-1 listens", tcp = "127.0.0.1:8181", interval = "1s", status = "passing" },
    ]
    connect {
      sidecar_service {
        address = "127.0.0.1"
        port    = 21001
        checks = [{ name = "follows socat-1", alias_service = "socat-1" }]
      }
    }
  },
  {
    name    = "socat"
    id      = "socat-2"
    port    = 8182
    address = "127.0.0.1"
    checks = [
      { id = "socat-2-script", name = "socat-2 answers", args = ["sh", "-c", "echo ping | nc -w 1 127.0.0.1 8182"], interval = "2s", status = "passing" },
    ]
    connect {
      sidecar_service {
        address = "127.0.0.1"
        port    = 21002
        checks = [{ name = "follows socat-2", alias_service = "socat-2" }]
      }
    }
  },
]

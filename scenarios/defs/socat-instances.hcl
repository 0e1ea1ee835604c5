# Two instances of socat with distinct IDs and ports, each with a TTL check
# the scenario turns passing or critical. Each sidecar's alias check names
# its parent's service ID (with the name, both sidecars would follow both).
services = [
  {
    name    = "socat"
    id      = "socat-1"
    port    = 8181
    address = "127.0.0.1"
    checks  = [{ id = "ttl-socat-1", name = "socat-1 is healthy", ttl = "10m", status = "passing" }]
    connect {
      sidecar_service {
        address = "127.0.0.1"
        port    = 21001
        checks  = [{ name = "follows socat-1", alias_service = "socat-1", status = "passing" }]
      }
    }
  },
  {
    name    = "socat"
    id      = "socat-2"
    port    = 8182
    address = "127.0.0.1"
    checks  = [{ id = "ttl-socat-2", name = "socat-2 is healthy", ttl = "10m", status = "passing" }]
    connect {
      sidecar_service {
        address = "127.0.0.1"
        port    = 21002
        checks  = [{ name = "follows socat-2", alias_service = "socat-2", status = "passing" }]
      }
    }
  },
]

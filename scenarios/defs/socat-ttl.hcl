# socat with a TTL check the scenario turns passing or critical; its
# sidecar's alias check follows it. The same file serves every node: the
# runner advertises the sidecar at the node's address.
service {
  name    = "socat"
  port    = 8181
  address = "127.0.0.1"
  checks  = [{ id = "ttl-socat", name = "socat is healthy", ttl = "10m", status = "passing" }]
  connect {
    sidecar_service {
      checks = [{ name = "follows socat", alias_service = "socat", status = "passing" }]
    }
  }
}

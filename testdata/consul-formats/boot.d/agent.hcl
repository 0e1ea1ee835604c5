# Agent configuration and services in one config dir, as `consul agent
# -dev -config-dir=./boot.d` reads it.
performance {
  rpc_hold_timeout = "1s"
}

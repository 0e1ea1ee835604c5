//go:build tools

// Package tools pins the Consul agent binary v1.14.11 that scenarios can run
// against (make bin/consul-1.14.11).
package tools

import _ "github.com/hashicorp/consul"

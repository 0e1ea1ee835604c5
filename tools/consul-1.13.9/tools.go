//go:build tools

// Package tools pins the Consul agent binary v1.13.9 that scenarios can run
// against (make bin/consul-1.13.9).
package tools

import _ "github.com/hashicorp/consul"

//go:build tools

// Package tools pins the Consul agent binary that scenarios run against.
package tools

import _ "github.com/hashicorp/consul"

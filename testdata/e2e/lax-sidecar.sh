#!/bin/sh
# A "sidecar" that does not enforce intentions, for a mutant: a plain TLS
# server on PORT holding SERVICE's valid leaf certificate (from the node's
# agent), which asks no client certificate, accepts everyone and forwards
# to BACKEND. The truth table must catch the instance it fronts.
# Usage: lax-sidecar.sh SERVICE PORT BACKEND (it binds the node's address,
# or 127.0.0.1 on the host)
set -eu
service=$1 port=$2 backend=$3 bind=${SCENARIO_NODE_ADDR:-127.0.0.1}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
curl -sf -H "X-Consul-Token: ${CONSUL_HTTP_TOKEN:-}" "http://$CONSUL_HTTP_ADDR/v1/agent/connect/ca/leaf/$service" |
	perl -MJSON::PP -e 'local $/; my $leaf = decode_json(<STDIN>);
		open(my $c, ">", $ARGV[0]) or die; print $c $leaf->{CertPEM};
		open(my $k, ">", $ARGV[1]) or die; print $k $leaf->{PrivateKeyPEM};' "$dir/cert.pem" "$dir/key.pem"
socat "OPENSSL-LISTEN:$port,bind=$bind,reuseaddr,fork,cert=$dir/cert.pem,key=$dir/key.pem,verify=0" "TCP:$backend"

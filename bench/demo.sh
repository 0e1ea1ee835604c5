#!/bin/sh
# The demo's way, as its README told a person to do it: start the agent with
# the demo's service definitions, sleep, start socat and both sidecars,
# sleep, then try the mesh with nc. It prints what nc got back; the bench
# harness counts a run as failed when that is not "hello". Run it in its own
# process group: the harness kills the group afterwards.
set -u
consul=${CONSUL:-consul}
dir=$(mktemp -d)
cat > "$dir/socat.json" <<'JSON'
{"service": {"name": "socat", "port": 8181, "connect": {"sidecar_service": {}}}}
JSON
cat > "$dir/web.json" <<'JSON'
{"service": {"name": "web", "port": 8080, "connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "socat", "local_bind_port": 9191}]}}}}}
JSON
"$consul" agent -dev -config-dir="$dir" > "$dir/consul.log" 2>&1 &
sleep 5
socat -v tcp-l:8181,fork exec:"/bin/cat" > "$dir/socat.log" 2>&1 &
"$consul" connect proxy -sidecar-for socat > "$dir/sidecar-socat.log" 2>&1 &
"$consul" connect proxy -sidecar-for web > "$dir/sidecar-web.log" 2>&1 &
sleep 5
echo hello | nc -w 1 127.0.0.1 9191
rm -rf "$dir"

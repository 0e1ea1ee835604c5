#!/usr/bin/env bash
# flap-intention.sh SOURCE DESTINATION ACTION SECONDS ACTION SECONDS
# flips the intention SOURCE -> DESTINATION on the agent at
# $CONSUL_HTTP_ADDR between two actions, holding each for its seconds,
# until killed: a mesh whose intention flaps (issue 18, finding 8). Each
# write is one HTTP request over bash's /dev/tcp, so that a phase lasts
# what it says (a consul command takes a few hundred milliseconds to
# start on a loaded machine).
set -eu
source=$1 destination=$2
host=${CONSUL_HTTP_ADDR%:*} port=${CONSUL_HTTP_ADDR##*:}
put() {
	body="{\"Action\": \"$1\"}"
	exec 3<>"/dev/tcp/$host/$port"
	printf 'PUT /v1/connect/intentions/exact?source=%s&destination=%s HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s' \
		"$source" "$destination" "${#body}" "$body" >&3
	cat <&3 >/dev/null
	exec 3<&-
}
while :; do
	put "$3"
	sleep "$4"
	put "$5"
	sleep "$6"
done

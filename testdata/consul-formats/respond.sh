#!/bin/sh
# A stand-in HTTP service for socat's EXEC: reads a request's head and
# answers 200 with the body "ok". Started as ./respond.sh: commands run in
# the scenario file's folder.
while IFS= read -r line; do
  case "$line" in "" | "$(printf '\r')") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'

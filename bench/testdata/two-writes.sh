#!/bin/sh
# Answers every line with two writes: the line, then "extra".
while read -r l; do
  printf '%s\n' "$l"
  printf 'extra\n'
done

#!/usr/bin/env bash
# Runs inside a private network namespace (`unshare -n`), started by
# tests/deployment/redirect.rs: the loopback up, the iptables REDIRECT rule
# of docs/plain-host.md, smtp-sink as the MTA on 127.0.0.1:10025, doorman on
# 127.0.0.1:2525, then a client from 127.0.0.2 dials port 25 and prints the
# greeting and the EHLO reply it gets. Owns: the processes it starts (stopped
# on exit) and nothing outside the namespace; the machine's firewall is
# never touched.
#
# usage: unshare -n bash redirect.sh DOORMAN CONFIG LOG 'iptables -t nat ...'
set -euo pipefail

doorman=$1 config=$2 log=$3 rule=$4
pids=()
cleanup() { if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi; }
trap cleanup EXIT

ip link set lo up
# The guide's rule, word for word (word splitting intended).
# shellcheck disable=SC2086
$rule

# The MTA: Postfix's smtp-sink accepts and discards every message.
smtp-sink -u nobody -c 127.0.0.1:10025 10 >/dev/null &
pids+=($!)
"$doorman" run --config "$config" 2>"$log" &
pids+=($!)

# Wait for doorman's listener (at most 20 s).
for _ in $(seq 200); do
  if ss -Hltn 'sport = :2525' | grep -q .; then break; fi
  sleep 0.1
done

# The client dials port 25 from 127.0.0.2; the rule sends it to doorman.
/usr/bin/python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.settimeout(10)
s.connect(("127.0.0.1", 25))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "\n".join(lines)
print(reply())
s.sendall(b"EHLO client.example.net\r\n")
print(reply())
s.sendall(b"QUIT\r\n")
print(reply())
PY

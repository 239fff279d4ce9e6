# shellcheck shell=bash
# Shared helpers for doorman's test/bench/demo shell scripts.
# Source it, do not execute it. Owns: process/port/wait helpers only; it starts
# nothing by itself. Everything these scripts run listens on 127.0.0.1 only.

# Debian's interpreter on purpose (a pyenv/venv python3 may shadow it on PATH).
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

log() { printf '[%s] %s: %s\n' "$(date +%T.%3N)" "${LOG_TAG:-${0##*/}}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# now_ms: wall clock in milliseconds
now_ms() { date +%s%3N; }

# proc_alive PID -> 0 if PID exists and is not a zombie (an init that reaps
# orphans lazily leaves just-killed daemons <defunct>; kill -0 succeeds on them)
proc_alive() {
  local pid=$1 st
  kill -0 "$pid" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid_alive PIDFILE -> 0 if the pid written in PIDFILE is a live process
pid_alive() {
  local f=$1 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && proc_alive "$pid"
}

# port_listening PORT -> 0 if anything listens on TCP port PORT (any address)
port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# port_owner_pids PORT -> pids listening on PORT (may be empty)
port_owner_pids() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' '
}

# assert_port_free PORT: refuse to go on if someone already holds the port
assert_port_free() {
  if port_listening "$1"; then
    die "port $1 is already in use (pid(s): $(port_owner_pids "$1")); pick another port"
  fi
}

# free_ports N: print N distinct currently-free TCP ports on 127.0.0.1, one a
# line (the kernel picks them; all sockets stay open until all are chosen).
free_ports() {
  "$PY" - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
}

# wait_until TIMEOUT_S DESCRIPTION CMD...: run CMD every 0.1 s until it succeeds.
# If WAIT_PID is set and that process dies meanwhile, give up at once.
wait_until() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -n "${WAIT_PID:-}" ] && ! proc_alive "$WAIT_PID"; then
      log "process $WAIT_PID exited while waiting for: $what"
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timeout after ${timeout}s waiting for: $what"
      return 1
    fi
    sleep 0.1
  done
}

# smtp_greeting HOST PORT: connect, print the server's complete greeting
# (all lines of a multi-line 220 reply, CRLF stripped), send QUIT.
# Exit 0 only if the greeting is a 220.
smtp_greeting() {
  "$PY" - "$1" "$2" <<'EOF'
import re, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=3)
except OSError as e:
    sys.stderr.write("connect %s:%d: %s\n" % (host, port, e)); sys.exit(2)
s.settimeout(3)
buf = b""
try:
    # a reply ends with a line "DDD<SP>..." (or bare "DDD")
    while not re.search(rb"(^|\n)\d{3}( [^\n]*)?\r?\n", buf):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    try:
        s.sendall(b"QUIT\r\n")
    except OSError:
        pass
except OSError:
    pass
s.close()
text = buf.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")
if text:
    print(text)
sys.exit(0 if re.match(r"220[ -]", text) or text == "220" else 1)
EOF
}

# stop_pid PID NAME [TIMEOUT_S]: TERM, wait, KILL if still alive. Only ever
# signals the given pid (never anything found by name).
stop_pid() {
  local pid=$1 name=$2 timeout=${3:-10} i
  if [ -z "$pid" ] || ! proc_alive "$pid"; then return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    log "$name: pid $pid ignored TERM for ${timeout}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  # reap it if it is our own child (no-op otherwise)
  wait "$pid" 2>/dev/null || true
}

# stop_pidfile PIDFILE NAME [TIMEOUT_S] [PORT...]: stop_pid on the pid in
# PIDFILE, remove the pidfile, then wait until the given ports are released.
stop_pidfile() {
  local f=$1 name=$2 timeout=${3:-15} pid p
  shift 2
  [ $# -gt 0 ] && shift
  if ! [ -s "$f" ]; then
    log "$name: no pidfile $f (not running)"
    return 0
  fi
  pid=$(tr -dc '0-9' <"$f")
  if [ -z "$pid" ] || ! proc_alive "$pid"; then
    log "$name: stale pidfile $f (pid ${pid:-?} not running)"
    rm -f "$f"
    return 0
  fi
  stop_pid "$pid" "$name" "$timeout"
  rm -f "$f"
  for p in "$@"; do
    wait_until 10 "port $p released" bash -c "! ss -Hltn 'sport = :$p' | grep -q ." ||
      log "$name: port $p still listening after stop: pid(s) $(port_owner_pids "$p")"
  done
  log "$name: stopped (pid $pid)"
}

# write_if_changed FILE (content on stdin): replace FILE only when the content
# differs. Returns 0 if FILE was (re)written, 1 if it was already up to date.
# (Postfix start takes ~2 s instead of ~0.2 s whenever main.cf is newer than at
# the last start, so config files must not be rewritten needlessly.)
write_if_changed() {
  local f=$1 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
    return 1
  fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$f"
  return 0
}

# service_main CMD [EXTRA_USAGE]: the start|stop|restart|status dispatch every
# service script shares; the script defines do_start, do_stop and do_status.
service_main() {
  case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    restart)
      do_stop
      do_start
      ;;
    status) do_status ;;
    *)
      echo "usage: $0 start|stop|restart|status${2:-}" >&2
      exit 2
      ;;
  esac
}

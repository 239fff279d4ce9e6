#!/usr/bin/env bash
# A private spamd for doorman's scanner tests, with Debian's shipped rules
# (/usr/share/spamassassin): no sa-update, no network tests (-L and
# dns_available no), no Bayes, loopback only. Owns: everything under
# $SPAMD_STATE (home, log, pidfile) and the spamd processes it starts there.
# The system spamd is never touched; nothing is killed by name.
#
# usage: spamd.sh start|stop|restart|status
#
# env (all optional):
#   SPAMD_STATE         state dir (default /tmp/doorman-spamd)
#   SPAMD_PORT          TCP port on 127.0.0.1 (default 17830)
#   SPAMD_MAX_CHILDREN  (default 3; each child takes about 110 MB)
#
# Test messages need Date, From, To and Message-ID, or the shipped rules
# score them as spam (a bare "Subject: hi" message scores 5.2). GTUBE
# scores about 1000.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=spamd-test
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

CMD=${1:-status}
STATE=${SPAMD_STATE:-/tmp/doorman-spamd}
case "$STATE" in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=${STATE%/}
PORT=${SPAMD_PORT:-17830}
MAXCH=${SPAMD_MAX_CHILDREN:-3}
PIDFILE=$STATE/spamd.pid
LOGFILE=$STATE/spamd.log
RUNUSER=debian-spamd # created by Debian's spamd package

# PING -> "SPAMD/1.5 0 PONG"
ping_ok() {
  "$PY" - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"PING SPAMC/1.5\r\n\r\n")
reply = s.recv(64)
sys.exit(0 if reply.startswith(b"SPAMD/") and b" 0 PONG" in reply else 1)
PY
}

do_start() {
  need_root
  [ -x /usr/sbin/spamd ] || die "spamd missing: run tests/support/install-deps.sh (spamd, spamassassin)"
  getent passwd "$RUNUSER" >/dev/null || die "user $RUNUSER missing: run tests/support/install-deps.sh (spamd)"
  if pid_alive "$PIDFILE"; then
    log "already running (pid $(tr -dc '0-9' <"$PIDFILE"))"
    return 0
  fi
  assert_port_free "$PORT"
  mkdir -p "$STATE/home"
  chown "$RUNUSER:" "$STATE/home"
  rm -f "$PIDFILE"
  : >"$LOGFILE"
  local t0
  t0=$(now_ms)
  # -d: daemonize (writes -r PIDFILE);  -L: local tests only (no DNSBL, URIBL,
  # Razor, Pyzor, DCC);  -x -H: no per-user config, private home;  -u: the
  # children run as debian-spamd (as root spamd warns on every request);
  # -s FILE: there is no syslogd in CI;  --timeout-child: a client that never
  # finishes its request cannot hold a child for spamd's default 300 s.
  /usr/sbin/spamd -d -4 -L -x -u "$RUNUSER" -H "$STATE/home" \
    --listen="127.0.0.1:$PORT" --allowed-ips=127.0.0.1 \
    --max-children="$MAXCH" --min-children=2 --min-spare=1 --max-spare=2 \
    --timeout-tcp=10 --timeout-child=30 \
    -r "$PIDFILE" -s "$LOGFILE" \
    --cf='use_bayes 0' --cf='bayes_auto_learn 0' --cf='dns_available no' \
    </dev/null >>"$STATE/spamd.out" 2>&1 ||
    {
      tail -n 20 "$STATE/spamd.out" "$LOGFILE" >&2 || true
      die "spamd failed to start"
    }
  if ! wait_until 60 "spamd PONG on 127.0.0.1:$PORT" ping_ok; then
    tail -n 20 "$LOGFILE" >&2 || true
    die "spamd did not come up"
  fi
  wait_until 10 "spamd pidfile" pid_alive "$PIDFILE" || die "no pidfile $PIDFILE"
  log "started in $(($(now_ms) - t0)) ms (pid $(tr -dc '0-9' <"$PIDFILE"))"
  echo "spamd-test: tcp 127.0.0.1:$PORT, log $LOGFILE"
}

do_stop() { stop_pidfile "$PIDFILE" spamd 20 "$PORT"; }

do_status() {
  if pid_alive "$PIDFILE" && ping_ok >/dev/null 2>&1; then
    echo "spamd-test up: pid $(tr -dc '0-9' <"$PIDFILE"), tcp 127.0.0.1:$PORT"
  else
    echo "spamd-test down (state $STATE)"
    return 1
  fi
}

service_main "$CMD"

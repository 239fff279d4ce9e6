#!/usr/bin/env bash
# doorman against a bare TCP relay and the SMTP proxies a user would pick
# instead, in one run on one machine (issue 6). Every target forwards to the
# same Postfix smtp-sink; each gets a config this script writes.
#
#   sink          smtp-source straight into smtp-sink (no proxy)
#   haproxy       haproxy, mode tcp (a byte relay: the ceiling for any proxy)
#   doorman       doorman pass-through: no scanners, defaults otherwise
#   doorman-scan  doorman with clamd + spamd (tests/support/clamd.sh, spamd.sh)
#   haraka        Haraka (npm) with rcpt_to.in_host_list + queue/smtp_forward
#   proxsmtp      proxsmtpd without a FilterCommand (pure pass-through)
#   clamsmtp      clamsmtpd, scanning with the same clamd
#   spampd        spampd (SpamAssassin in-process), Debian's default options
#
# Modes (first argument; default "table"):
#   table      the comparison table: msgs/s at SESSIONS parallel sessions, one
#              message per connection, ROUNDS interleaved rounds; sequential
#              latency; CPU per message; peak RSS; delivered/sent
#   big        one 20 MB and one 100 MB message through haproxy vs doorman
#              (BIG_TARGETS): time and doorman's RSS growth
#   idle       IDLE_SESSIONS concurrent idle sessions, each with its upstream
#              connection, through doorman (and haproxy): RSS held, and RSS
#              IDLE_SETTLE seconds after they all closed (memory given back)
#   burst      BURST_SESSIONS clients connecting at once to haproxy and doorman:
#              greetings, accept-queue overflows
#   scan       doorman+clamd+spamd msgs/s vs what clamd+spamd sustain when a
#              client calls them directly with the same message, same concurrency
#   profile    instructions per message (valgrind callgrind) and syscalls per
#              message (strace -c) on the pass-through path, doorman vs haproxy
#   shield     bot connections: how many reach the MTA
#   slowloris  slow clients against a Postfix with 100 smtpd processes
#   loss       LOSS_SESSIONS sessions send LOSS_MSGS tagged messages through
#              doorman + clamd + spamd into the real Postfix while Postfix and
#              clamd restart and doorman reloads: every 250 delivered exactly
#              once, no refused message delivered (exit 1 otherwise); then a
#              normal client's p99 with and without FLOOD_SLOW slow senders
#   all        every mode above, in that order
#
# Owns: a work dir /tmp/dmc.XXXXXX (configs, logs, results) and every process
# it starts (sink, proxies, clamd, spamd, a UDP syslog sink for spampd), all on
# free 127.0.0.1 ports, all stopped on exit (by pid, never by name). Run as
# root: bench/install-bench-deps.sh once, cargo build --release, then this.
# See bench/README.md for every setting.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_TAG=compare
# shellcheck source=SCRIPTDIR/../tests/support/lib.sh
. "$ROOT/tests/support/lib.sh"
cd "$ROOT"
HELPER=("$PY" "$ROOT/bench/compare_helper.py")

MODE=${1:-table}
DOORMAN_BIN=${DOORMAN_BIN:-target/release/doorman}
TARGETS=${TARGETS:-sink haproxy doorman doorman-scan haraka proxsmtp clamsmtp spampd}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-20}
MSG_SIZE=${MSG_SIZE:-2048}
WARMUP=${WARMUP:-100}
RUN_SECS=${RUN_SECS:-3}
MIN_MSGS=${MIN_MSGS:-100}
MAX_MSGS=${MAX_MSGS:-10000}
LAT_SECS=${LAT_SECS:-2}
LAT_MIN=${LAT_MIN:-20}
LAT_MAX=${LAT_MAX:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
SPAMD_CHILDREN=${SPAMD_CHILDREN:-3}
SPAMPD_CHILDREN=${SPAMPD_CHILDREN:-3}
HARAKA_PREFIX=${HARAKA_PREFIX:-/opt/doorman-bench/haraka}
BIG_SIZES=${BIG_SIZES:-20000000 100000000}
BIG_TARGETS=${BIG_TARGETS:-haproxy doorman haraka}
BIG_ROUNDS=${BIG_ROUNDS:-5}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
IDLE_TARGETS=${IDLE_TARGETS:-haproxy doorman}
IDLE_HOLD=${IDLE_HOLD:-5}
IDLE_SETTLE=${IDLE_SETTLE:-30}
SCAN_SECS=${SCAN_SECS:-10}
SCAN_ROUNDS=${SCAN_ROUNDS:-5}
PROFILE_MSGS=${PROFILE_MSGS:-400}
BURST_SESSIONS=${BURST_SESSIONS:-2000}
BURST_TARGETS=${BURST_TARGETS:-haproxy haproxy-b128 doorman}
BURST_TIMEOUT=${BURST_TIMEOUT:-10}
PROFILE_SCAN_MSGS=${PROFILE_SCAN_MSGS:-60}
PROFILE_TARGETS=${PROFILE_TARGETS:-doorman haproxy doorman-scan}
BOTS=${BOTS:-10000}
BOT_CONCURRENCY=${BOT_CONCURRENCY:-100}
SLOW_CLIENTS=${SLOW_CLIENTS:-800}
SLOW_HONEST=${SLOW_HONEST:-50}
SLOW_LIMIT=${SLOW_LIMIT:-100}
SLOW_TARGETS=${SLOW_TARGETS:-haproxy doorman}
LOSS_MSGS=${LOSS_MSGS:-3000}
LOSS_SESSIONS=${LOSS_SESSIONS:-500}
LOSS_LIMIT=${LOSS_LIMIT:-420}
LOSS_DOWN=${LOSS_DOWN:-3}
LOSS_SCAN_TIMEOUT=${LOSS_SCAN_TIMEOUT:-120}
FLOOD_SLOW=${FLOOD_SLOW:-300}
FLOOD_MSGS=${FLOOD_MSGS:-100}
QUIET_WAIT=${QUIET_WAIT:-120}
STEPS_N=${STEPS_N:-100}
RSS_INTERVAL=${RSS_INTERVAL:-0.2}
QUIET_PCT=${QUIET_PCT:-15}
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source

for v in ROUNDS SESSIONS MSG_SIZE WARMUP RUN_SECS MIN_MSGS MAX_MSGS LAT_SECS LAT_MIN LAT_MAX RUN_TIMEOUT \
  SPAMD_CHILDREN SPAMPD_CHILDREN BIG_ROUNDS IDLE_SESSIONS IDLE_HOLD IDLE_SETTLE SCAN_SECS SCAN_ROUNDS PROFILE_MSGS PROFILE_SCAN_MSGS QUIET_PCT STEPS_N BURST_SESSIONS BURST_TIMEOUT \
  BOTS BOT_CONCURRENCY SLOW_CLIENTS SLOW_HONEST SLOW_LIMIT LOSS_MSGS LOSS_SESSIONS LOSS_LIMIT LOSS_DOWN \
  LOSS_SCAN_TIMEOUT FLOOD_SLOW FLOOD_MSGS; do
  { [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ]; } || die "$v must be a positive integer (got '${!v}')"
done
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || die "QUIET_WAIT must be a number of seconds (got '$QUIET_WAIT')"
case "$MODE" in table | big | idle | burst | scan | profile | shield | slowloris | loss | all) ;; *) die "usage: $0 [table|big|idle|burst|scan|profile|shield|slowloris|loss|all]" ;; esac
need_root
{ [ -x "$SINK" ] && [ -x "$SOURCE" ]; } || die "smtp-sink/smtp-source missing: run bench/install-bench-deps.sh"
[ -x "$DOORMAN_BIN" ] || die "no doorman binary at $DOORMAN_BIN: cargo build --release (or set DOORMAN_BIN)"
if [ -n "$(find src Cargo.toml Cargo.lock -newer "$DOORMAN_BIN" -print -quit 2>/dev/null)" ]; then
  log "WARNING: src/ is newer than $DOORMAN_BIN: run cargo build --release to measure the current code"
fi

WORK=$(mktemp -d /tmp/dmc.XXXXXX)
chmod 755 "$WORK" # spampd, smtp-sink and Haraka's children run as other users
OK=0
declare -A PID=() PORT=() NA=()
STARTED=()        # "name pid" in start order, stopped in reverse
CLAMD_UP="" SPAMD_UP="" SAMPLER_PID="" PF_UP="" PF_PPORT="" LOSS_ADMIN="" LOAD_PID="" LOAD_T0=0
# stop_started: stop every process this script started, newest first, and
# then whatever they left behind (Haraka's worker, spampd's children): the
# descendants are listed before the parent is signalled. By pid only.
stop_started() {
  local i name pid kids k
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    read -r name pid <<<"${STARTED[$i]}"
    proc_alive "$pid" || continue
    kids=$("${HELPER[@]}" tree "$pid" 2>/dev/null || true)
    stop_pid "$pid" "$name" 10
    for k in $kids; do
      [ "$k" = "$pid" ] || stop_pid "$k" "$name (child $k)" 5
    done
  done
  STARTED=()
}
cleanup() {
  local rc=$?
  [ -n "$SAMPLER_PID" ] && stop_pid "$SAMPLER_PID" sampler 5
  stop_started
  [ -n "$SPAMD_UP" ] && SPAMD_STATE=$WORK/spamd SPAMD_PORT=$SPAMD_UP tests/support/spamd.sh stop >/dev/null 2>&1
  [ -n "$CLAMD_UP" ] && CLAMD_STATE=$WORK/clamd CLAMD_PORT=$CLAMD_UP tests/support/clamd.sh stop >/dev/null 2>&1
  [ -n "$PF_UP" ] && POSTFIX_STATE=$WORK/pf POSTFIX_PORT=$PF_UP tests/support/postfix.sh stop >/dev/null 2>&1
  if [ "$OK" = 1 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    log "work dir kept: $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
# start_bg NAME CMD...: run CMD in the background, output to $WORK/NAME.log
start_bg() {
  local name=$1
  shift
  "$@" </dev/null >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  STARTED+=("$name $!")
}

# wait_smtp NAME PORT TIMEOUT: until a 220 greeting on PORT (fails at once if NAME's process dies)
wait_smtp() {
  WAIT_PID=${PID[$1]} wait_until "$3" "$1 220 on 127.0.0.1:$2" smtp_greeting 127.0.0.1 "$2"
}

# not_available NAME REASON: the target gets a "not run" row instead of numbers
not_available() {
  NA[$1]=$2
  printf '%s\t%s\n' "$1" "$2" >>"$WORK/na.tsv"
  log "$1: NOT AVAILABLE: $2"
  if [ -n "${PID[$1]:-}" ]; then
    stop_pid "${PID[$1]}" "$1" 5
    unset "PID[$1]"
  fi
}
note() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/notes.tsv"; }

# start_sink NAME MAXCONN: a smtp-sink on a free port. -c: "sess= quit= mesg="
# counters after each session/message; -m: concurrent connections.
start_sink() {
  local name=$1 maxconn=$2 port
  port=$(free_ports 1)
  start_bg "$name" "$SINK" -u nobody -c -h sink.test -m "$maxconn" "127.0.0.1:$port" 4096
  PORT[$name]=$port
  wait_smtp "$name" "$port" 10 || die "smtp-sink did not start: $(tail -n 3 "$WORK/$name.log")"
}

# sink_sess NAME: the sink's session counter (as sink_mesg)
sink_sess() {
  local line
  line=$(tail -c 400 "$WORK/$1.log" | tr '\r' '\n' | grep -E '^sess=' | tail -n 1 || true)
  line=${line#sess=}
  echo "${line%% *}" | grep -E '^[0-9]+$' || echo 0
}

# sink_mesg NAME: the sink's message counter (the last counter line; the
# file is \r-separated and grows, so only its tail is read)
sink_mesg() {
  local line
  line=$(tail -c 400 "$WORK/$1.log" | tr '\r' '\n' | grep -E '^sess=' | tail -n 1 || true)
  case "$line" in *mesg=*) echo "${line##*mesg=}" ;; *) echo 0 ;; esac
}

start_clamd() {
  [ -n "$CLAMD_UP" ] && return 0
  local port
  port=$(free_ports 1)
  CLAMD_STATE=$WORK/clamd CLAMD_PORT=$port tests/support/clamd.sh start >"$WORK/clamd.start.log" 2>&1 ||
    { tail -n 5 "$WORK/clamd.start.log" >&2; return 1; }
  CLAMD_UP=$port
}

start_spamd() {
  [ -n "$SPAMD_UP" ] && return 0
  local port
  port=$(free_ports 1)
  SPAMD_STATE=$WORK/spamd SPAMD_PORT=$port SPAMD_MAX_CHILDREN=$SPAMD_CHILDREN \
    tests/support/spamd.sh start >"$WORK/spamd.start.log" 2>&1 ||
    { tail -n 5 "$WORK/spamd.start.log" >&2; return 1; }
  SPAMD_UP=$port
}

# doorman_config FILE PORT UPSTREAM_PORT [EXTRA_YAML]
doorman_config() {
  cat >"$1" <<EOF
# generated by bench/compare.sh
version: 1
hostname: bench.test
listen:
  - address: 127.0.0.1:$2
upstream:
  address: 127.0.0.1:$3
  client_identity: none
log:
  level: warn
${4:-}
EOF
}

# start_doorman NAME UPSTREAM_PORT [EXTRA_YAML]
start_doorman() {
  local name=$1 port
  port=$(free_ports 1)
  doorman_config "$WORK/$name.yaml" "$port" "$2" "${3:-}"
  "$DOORMAN_BIN" check --config "$WORK/$name.yaml" >"$WORK/$name.check" 2>&1 ||
    { not_available "$name" "doorman check rejected the config: $(grep -v '^ ' "$WORK/$name.check" | tail -n 1)"; return 1; }
  start_bg "$name" "$DOORMAN_BIN" run --config "$WORK/$name.yaml"
  PORT[$name]=$port
  wait_smtp "$name" "$port" 15 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
}

# start_haproxy NAME UPSTREAM_PORT MAXCONN [BACKLOG]: backlog defaults to maxconn
start_haproxy() {
  local name=$1 port
  command -v haproxy >/dev/null || { not_available "$name" "haproxy not installed (bench/install-bench-deps.sh)"; return 1; }
  port=$(free_ports 1)
  cat >"$WORK/$name.cfg" <<EOF
# generated by bench/compare.sh: a plain TCP relay
global
  maxconn $3
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend smtp
  bind 127.0.0.1:$port${4:+ backlog $4}
  default_backend sink
backend sink
  server sink 127.0.0.1:$2
EOF
  start_bg "$name" haproxy -db -f "$WORK/$name.cfg"
  PORT[$name]=$port
  wait_smtp "$name" "$port" 10 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
}

# start_haraka NAME UPSTREAM_PORT MAX_BYTES
start_haraka() {
  local name=$1 port dir=$WORK/$1 bin=$HARAKA_PREFIX/node_modules/Haraka/bin/haraka
  [ -f "$bin" ] || { not_available "$name" "Haraka not installed in $HARAKA_PREFIX (bench/install-bench-deps.sh)"; return 1; }
  port=$(free_ports 1)
  mkdir -p "$dir/config"
  # a forwarding proxy: accept mail for sink.test, forward it to the sink
  printf 'listen=127.0.0.1:%s\n' "$port" >"$dir/config/smtp.ini"
  printf 'rcpt_to.in_host_list\nqueue/smtp_forward\n' >"$dir/config/plugins"
  echo sink.test >"$dir/config/host_list"
  echo haraka.bench.test >"$dir/config/me"
  printf 'host=127.0.0.1\nport=%s\n' "$2" >"$dir/config/smtp_forward.ini"
  printf '[main]\nlevel=warn\n' >"$dir/config/log.ini"
  # connection.ini replaces Haraka's whole default file: start from it
  sed "s/^bytes=.*/bytes=$3/" "$HARAKA_PREFIX/node_modules/Haraka/config/connection.ini" >"$dir/config/connection.ini"
  start_bg "$name" node "$bin" -c "$dir"
  PORT[$name]=$port
  wait_smtp "$name" "$port" 30 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
  note "$name" "Haraka $(node -p "require('$HARAKA_PREFIX/node_modules/Haraka/package.json').version"), node $(node --version), smtp.ini nodes unset (Haraka's default: a master and one worker; RSS is both)"
}

start_proxsmtp() {
  local name=$1 port
  command -v proxsmtpd >/dev/null || { not_available "$name" "proxsmtp not installed (bench/install-bench-deps.sh)"; return 1; }
  port=$(free_ports 1)
  printf 'Listen: 127.0.0.1:%s\nOutAddress: 127.0.0.1:%s\nTempDirectory: %s\n' "$port" "$2" "$WORK" >"$WORK/$name.conf"
  start_bg "$name" proxsmtpd -d 1 -f "$WORK/$name.conf" -p "$WORK/$name.pid"
  PORT[$name]=$port
  wait_smtp "$name" "$port" 10 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
  note "$name" "proxsmtpd $(proxsmtpd -v 2>&1 | head -n 1 | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1) with no FilterCommand (relays the message unfiltered), MaxConnections 64 (default)"
}

start_clamsmtp() {
  local name=$1 port
  command -v clamsmtpd >/dev/null || { not_available "$name" "clamsmtp not installed (bench/install-bench-deps.sh)"; return 1; }
  start_clamd || { not_available "$name" "clamd did not start"; return 1; }
  port=$(free_ports 1)
  mkdir -p "$WORK/$name.tmp"
  printf 'Listen: 127.0.0.1:%s\nOutAddress: 127.0.0.1:%s\nClamAddress: 127.0.0.1:%s\nTempDirectory: %s\n' \
    "$port" "$2" "$CLAMD_UP" "$WORK/$name.tmp" >"$WORK/$name.conf"
  start_bg "$name" clamsmtpd -d 1 -f "$WORK/$name.conf" -p "$WORK/$name.pid"
  PORT[$name]=$port
  wait_smtp "$name" "$port" 10 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
  note "$name" "clamsmtpd with the same clamd (it writes each message to a temp file and has clamd SCAN it); RSS is clamsmtpd's alone"
}

start_spampd() {
  local name=$1 port
  command -v spampd >/dev/null || { not_available "$name" "spampd not installed (bench/install-bench-deps.sh)"; return 1; }
  getent passwd spampd >/dev/null || { not_available "$name" "user spampd missing (Debian package spampd)"; return 1; }
  # spampd logs only to syslog, and there is no syslogd here: without one it
  # tries a TCP and a UDP connect for every log line. A discarding UDP
  # listener on 127.0.0.1:514 stands in, when the port is free.
  if ! ss -Hlun 'sport = :514' | grep -q .; then
    start_bg syslog-udp "${HELPER[@]}" udpsink --port 514 --max-secs 3600
  fi
  port=$(free_ports 1)
  # Debian's /etc/default/spampd: CHILDREN=3 TAGALL=1 LOCALONLY=1. No
  # --homedir: spampd 2.53 passes it tainted to SpamAssassin 4, which dies
  # under perl -T ("Insecure dependency in unlink"); the default
  # /var/cache/spampd is used instead.
  start_bg "$name" spampd --host="127.0.0.1:$port" --relayhost="127.0.0.1:$2" --children="$SPAMPD_CHILDREN" \
    --tagall --local-only --nodetach --logsock=inet --pid="$WORK/$name.pid" --user=spampd --group=spampd
  PORT[$name]=$port
  wait_smtp "$name" "$port" 60 || { not_available "$name" "no 220: $(tail -n 1 "$WORK/$name.log")"; return 1; }
  note "$name" "spampd $(spampd --version 2>&1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n 1), --children=$SPAMPD_CHILDREN --tagall --local-only (Debian's defaults), maxrequests 20; RSS is the parent and its children (SpamAssassin runs inside them)"
}

scan_yaml() {
  cat <<EOF
scanners:
  clamav:
    addresses: ["127.0.0.1:$CLAMD_UP"]
  spamassassin:
    addresses: ["127.0.0.1:$SPAMD_UP"]
EOF
}

# start_target NAME SINK_NAME
start_target() {
  local up=${PORT[$2]}
  case "$1" in
    sink) PID[sink]=${PID[$2]} PORT[sink]=$up ;;
    haproxy) start_haproxy haproxy "$up" 4096 ;;
    doorman) start_doorman doorman "$up" ;;
    doorman-scan)
      start_clamd || { not_available doorman-scan "clamd did not start"; return 1; }
      start_spamd || { not_available doorman-scan "spamd did not start"; return 1; }
      start_doorman doorman-scan "$up" "$(scan_yaml)" || return 1
      note doorman-scan "clamd (MaxThreads 8, tests/support/clamd.sh) + spamd ($SPAMD_CHILDREN children, -L, tests/support/spamd.sh) on loopback; RSS is doorman's alone"
      ;;
    haraka) start_haraka haraka "$up" 26214400 ;;
    proxsmtp) start_proxsmtp proxsmtp "$up" ;;
    clamsmtp) start_clamsmtp clamsmtp "$up" ;;
    spampd) start_spampd spampd "$up" ;;
    *) die "unknown target '$1' (known: sink haproxy doorman doorman-scan haraka proxsmtp clamsmtp spampd)" ;;
  esac
}

# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------
# run_load KIND TARGET ROUND COUNT SESSIONS [SIZE] [SINK_NAME]: smtp-source
# with a new connection per message; waits until the sink counted them.
# Sets ELAPSED, DELIVERED, RC; appends a row to $WORK/runs.tsv unless KIND is "warm".
ELAPSED=0 DELIVERED=0 RC=0 OVERFLOWS=0
# listen_overflows: the kernel's count of connections dropped because a
# listener's accept queue was full (TcpExtListenOverflows; the client then
# retransmits its SYN/ACK after 1 s, 2 s, ...). Counts the whole machine.
listen_overflows() {
  awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 } else { for (i = 1; i <= NF; i++) if (n[i] == "ListenOverflows") print $i } }' /proc/net/netstat
}
run_load() {
  local kind=$1 target=$2 round=$3 count=$4 sessions=$5 size=${6:-$MSG_SIZE} sink=${7:-sink}
  local port=${PORT[$target]} pid=${PID[$target]} before t0 t1 want deadline cpu0="" cpu1="" cpu="-" ovf0
  before=$(sink_mesg "$sink")
  ovf0=$(listen_overflows)
  [ "$kind" = tput ] && cpu0=$("${HELPER[@]}" cpu "$pid" 2>/dev/null || echo "")
  RC=0
  t0=$(date +%s.%N)
  # smtp-source has no connect timeout (a full accept queue means SYN
  # retransmits, not an error): hence the timeout. It aborts on any non-2xx.
  timeout "$RUN_TIMEOUT" "$SOURCE" -4 -s "$sessions" -m "$count" -l "$size" \
    -M client.bench.test -f sender@client.bench.test -t rcpt@sink.test \
    "127.0.0.1:$port" >"$WORK/source.out" 2>&1 || RC=$?
  t1=$(date +%s.%N)
  [ "$kind" = tput ] && cpu1=$("${HELPER[@]}" cpu "$pid" 2>/dev/null || echo "")
  [ -n "$cpu0" ] && [ -n "$cpu1" ] && cpu=$((cpu1 - cpu0))
  ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
  want=$((before + count))
  deadline=$((SECONDS + 5))
  [ "$RC" = 0 ] || deadline=$((SECONDS + 1))
  while [ "$(sink_mesg "$sink")" -lt "$want" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  DELIVERED=$(($(sink_mesg "$sink") - before))
  if [ "$RC" != 0 ]; then
    log "$target: smtp-source exit $RC after ${ELAPSED}s, sink got $DELIVERED/$count: $(tail -n 2 "$WORK/source.out" | tr '\n' ' ')"
  elif [ "$DELIVERED" != "$count" ]; then
    log "$target: the sink received $DELIVERED of $count messages"
  fi
  OVERFLOWS=$(($(listen_overflows) - ovf0))
  [ "$kind" = warm ] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$target" "$round" "$count" "$ELAPSED" \
    "$DELIVERED" "$RC" "$cpu" "$OVERFLOWS" >>"$WORK/runs.tsv"
}

# Machine-wide CPU use from /proc/stat (all processes, ours included).
cpu_ticks() { awk '/^cpu / { idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i; print tot - idle, tot }' /proc/stat; }
cpu_mark() { read -r MARK_BUSY MARK_TOT < <(cpu_ticks); }
cpu_since_mark() {
  local b t
  read -r b t < <(cpu_ticks)
  awk -v b=$((b - MARK_BUSY)) -v t=$((t - MARK_TOT)) 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }'
}
# wait_quiet: up to QUIET_WAIT seconds for a 2-second window in which the
# machine is at most QUIET_PCT % busy (another build or test run skews every
# figure); sets BUSY to the last window's figure. Never fails: it only waits.
BUSY=0
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT))
  while :; do
    cpu_mark
    sleep 2
    BUSY=$(cpu_since_mark)
    [ "$BUSY" -le "$QUIET_PCT" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "WARNING: the machine is still ${BUSY}% busy after waiting ${QUIET_WAIT}s: figures will be noisy"
      return 0
    fi
    log "machine ${BUSY}% busy (something else runs): waiting for <= ${QUIET_PCT}% (QUIET_WAIT=${QUIET_WAIT}s)"
  done
}

clamp_round() { # value min max multiple
  awk -v v="$1" -v lo="$2" -v hi="$3" -v m="$4" 'BEGIN { v = int(v / m) * m; if (v < lo) v = lo; if (v > hi) v = hi; print v }'
}

machine_line() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($cpu); $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

versions_line() {
  local v
  v="doorman: $("$DOORMAN_BIN" --version 2>&1 | head -n 1), binary built $(date -u -r "$DOORMAN_BIN" '+%H:%M UTC')"
  v+=" at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ -n "$(find src Cargo.toml Cargo.lock -newer "$DOORMAN_BIN" -print -quit 2>/dev/null)" ]; then
    v+=" (WARNING: src/ is newer than the binary)"
  fi
  command -v haproxy >/dev/null && v+="; haproxy $(haproxy -v 2>/dev/null | awk 'NR==1 { print $3 }')"
  v+="; postfix (smtp-sink/source) $(dpkg-query -W -f='${Version}' postfix 2>/dev/null)"
  echo "$v"
}

# ---------------------------------------------------------------------------
# mode: table
# ---------------------------------------------------------------------------
mode_table() {
  local t r
  : >"$WORK/runs.tsv"
  : >"$WORK/notes.tsv"
  : >"$WORK/na.tsv"
  start_sink sink 1024
  log "targets: $TARGETS"
  for t in $TARGETS; do
    start_target "$t" sink || true
  done
  # peak RSS of each proxy's process tree, sampled every 0.2 s, plus the
  # kernel's own peak (VmHWM) of the main process
  local procs=()
  for t in $TARGETS; do [ -n "${PID[$t]:-}" ] && [ -z "${NA[$t]:-}" ] && procs+=("$t=${PID[$t]}"); done
  "${HELPER[@]}" sample --interval "$RSS_INTERVAL" --out "$WORK/rss.txt" "${procs[@]}" &
  SAMPLER_PID=$!

  # warm-up and calibration: MSGS per run ~ RUN_SECS at the warm-up rate;
  # sequential messages ~ LAT_SECS at the warm-up latency
  declare -gA COUNT=() LATN=()
  for t in $TARGETS; do
    [ -n "${NA[$t]:-}" ] && continue
    run_load warm "$t" 0 "$WARMUP" "$SESSIONS"
    if [ "$RC" != 0 ] || [ "$DELIVERED" != "$WARMUP" ]; then
      not_available "$t" "warm-up failed: smtp-source exit $RC, $DELIVERED/$WARMUP delivered: $(tail -n 1 "$WORK/source.out")"
      continue
    fi
    COUNT[$t]=$(clamp_round "$(awk -v n="$WARMUP" -v s="$ELAPSED" -v k="$RUN_SECS" 'BEGIN { print n / s * k }')" \
      "$MIN_MSGS" "$MAX_MSGS" "$SESSIONS")
    run_load warm "$t" 0 10 1
    LATN[$t]=$(clamp_round "$(awk -v s="$ELAPSED" -v k="$LAT_SECS" 'BEGIN { print k / (s / 10) }')" "$LAT_MIN" "$LAT_MAX" 10)
    log "$t: warm-up $(awk -v n="$WARMUP" -v s="$ELAPSED" 'BEGIN { printf "%.0f", n / s }') msgs/s -> ${COUNT[$t]} msgs per run, ${LATN[$t]} sequential"
  done

  local load0 busy0 busy1
  wait_quiet
  busy0=$BUSY
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  cpu_mark
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in $TARGETS; do
      [ -n "${NA[$t]:-}" ] && continue
      run_load tput "$t" "$r" "${COUNT[$t]}" "$SESSIONS"
      log "round $r $t: ${COUNT[$t]} msgs in ${ELAPSED}s = $(awk -v n="${COUNT[$t]}" -v s="$ELAPSED" 'BEGIN { printf "%.0f", n / s }') msgs/s ($DELIVERED delivered)"
    done
    for t in $TARGETS; do
      [ -n "${NA[$t]:-}" ] && continue
      run_load lat "$t" "$r" "${LATN[$t]}" 1
      log "round $r $t: sequential ${LATN[$t]} msgs in ${ELAPSED}s = $(awk -v n="${LATN[$t]}" -v s="$ELAPSED" 'BEGIN { printf "%.2f", s * 1000 / n }') ms/msg"
    done
  done
  busy1=$(cpu_since_mark)
  # where the sequential time goes, step by step (a TCP_NODELAY client)
  local steps=()
  for t in sink haproxy doorman; do
    case " $TARGETS " in *" $t "*) [ -z "${NA[$t]:-}" ] && steps+=("$t=${PORT[$t]}") ;; esac
  done
  if [ ${#steps[@]} -gt 0 ]; then
    timeout 120 "${HELPER[@]}" steps --n "$STEPS_N" --rounds "$ROUNDS" --size "$MSG_SIZE" "${steps[@]}" >"$WORK/steps.json" ||
      echo '{}' >"$WORK/steps.json"
  fi
  stop_pid "$SAMPLER_PID" sampler 5
  SAMPLER_PID=""

  {
    echo
    echo "== table: $SESSIONS parallel sessions, one ${MSG_SIZE}-byte message per connection (smtp-source), $ROUNDS interleaved rounds"
    echo "   $(machine_line); before the rounds: load average $load0, CPU busy ${busy0}%; during the rounds: CPU busy ${busy1}% (all processes)"
    echo "   $(versions_line)"
    "${HELPER[@]}" report --runs "$WORK/runs.tsv" --rss "$WORK/rss.txt" --notes "$WORK/notes.tsv" --na "$WORK/na.tsv" \
      --targets "$TARGETS"
    if [ -s "$WORK/steps.json" ] && [ "$(cat "$WORK/steps.json")" != "{}" ]; then
      echo "   one sequential session, median µs per step ($STEPS_N sessions x $ROUNDS rounds per target, a TCP_NODELAY Python client):"
      "$PY" - "$WORK/steps.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = list(d)
steps = list(d[names[0]])
print("     " + f"{'step':<18}" + "".join(f"{n:>10}" for n in names))
for s in steps:
    print("     " + f"{s:<18}" + "".join(f"{d[n].get(s, 0):>10}" for n in names))
EOF
    fi
    echo "   listen ovf: accept-queue overflows (kernel TcpExtListenOverflows, whole machine) during the parallel runs: each one costs a client a 1 s+ retransmit;"
    echo "   msgs/s: messages per second of wall time for one smtp-source run (per-target message count ~${RUN_SECS}s of work, $MIN_MSGS..$MAX_MSGS);"
    echo "   ×haproxy: ratio of the medians; seq ms/msg: one session, a new connection per message (smtp-source -s 1), median of the rounds;"
    echo "   CPU µs/msg: user+sys CPU of the proxy's processes per message in the parallel runs; peak RSS: largest sampled sum over the"
    echo "   proxy's process tree or its VmHWM; delivered/sent: the sink's mesg= counter against smtp-source's count, every run."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: big
# ---------------------------------------------------------------------------
mode_big() {
  local t r size rss0 hwm growth maxsize=209715200
  : >"$WORK/big.tsv"
  : >"$WORK/na.tsv"
  start_sink bigsink 64
  for t in $BIG_TARGETS; do
    case "$t" in
      haproxy) start_haproxy haproxy "${PORT[bigsink]}" 256 || true ;;
      doorman) start_doorman doorman "${PORT[bigsink]}" "limits:
  max_message_size: ${maxsize}" || true ;;
      haraka) start_haraka haraka "${PORT[bigsink]}" "$maxsize" || true ;;
      *) die "BIG_TARGETS: haproxy, doorman, haraka" ;;
    esac
  done
  PORT[sink]=${PORT[bigsink]} PID[sink]=${PID[bigsink]}
  for t in $BIG_TARGETS; do
    [ -n "${NA[$t]:-}" ] || run_load warm "$t" 0 20 1 "$MSG_SIZE" bigsink
  done
  wait_quiet
  local busy0=$BUSY
  cpu_mark
  for size in $BIG_SIZES; do
    for ((r = 1; r <= BIG_ROUNDS; r++)); do
      for t in $BIG_TARGETS; do
        [ -n "${NA[$t]:-}" ] && continue
        # VmHWM back to the current RSS, so the peak is this message's
        "${HELPER[@]}" clear-hwm --tree "${PID[$t]}"
        read -r rss0 _ < <("${HELPER[@]}" mem --tree "${PID[$t]}")
        run_load warm "$t" "$r" 1 1 "$size" bigsink
        read -r _ hwm < <("${HELPER[@]}" mem --tree "${PID[$t]}")
        growth=$((hwm - rss0))
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$t" "$r" "$ELAPSED" "$growth" "$DELIVERED" "$RC" "$rss0" >>"$WORK/big.tsv"
        log "big $size round $r $t: ${ELAPSED}s, RSS $((rss0 / 1024)) MiB + $((growth / 1024)) MiB peak growth, delivered $DELIVERED"
      done
    done
  done
  {
    echo
    echo "== big: one message per connection, sizes $BIG_SIZES bytes, $BIG_ROUNDS interleaved rounds"
    echo "   $(machine_line); CPU busy before ${busy0}%, during $(cpu_since_mark)%"
    echo "   $(versions_line)"
    "$PY" - "$WORK/big.tsv" "$WORK/na.tsv" "$BIG_TARGETS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
na = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2]) if l.strip())
targets = sys.argv[3].split()
sizes = []
for r in rows:
    if r[0] not in sizes:
        sizes.append(r[0])
print(f"{'size':>11}  {'target':<8} {'seconds median (min–max)':>26} {'×haproxy':>8} {'RSS growth MiB (max)':>20} {'RSS before MiB':>14} {'delivered':>9}")
for s in sizes:
    med = {}
    for t in targets:
        rs = [r for r in rows if r[0] == s and r[1] == t]
        ok = [float(r[3]) for r in rs if r[6] == "0" and r[5] == "1"]
        med[t] = statistics.median(ok) if ok else None
    for t in targets:
        rs = [r for r in rows if r[0] == s and r[1] == t]
        if not rs:
            print(f"{int(s):>11,}  {t:<8} not run: {na.get(t, '?')}")
            continue
        ok = [float(r[3]) for r in rs if r[6] == "0" and r[5] == "1"]
        tm = f"{med[t]:.3f} ({min(ok):.3f}–{max(ok):.3f})" if ok else "FAILED"
        ratio = f"{med[t] / med['haproxy']:.2f}" if med.get("haproxy") and med[t] else "-"
        growth = max(int(r[4]) for r in rs) / 1024
        before = max(int(r[7]) for r in rs) / 1024
        dv = f"{sum(int(r[5]) for r in rs)}/{len(rs)}"
        print(f"{int(s):>11,}  {t:<8} {tm:>26} {ratio:>8} {growth:>20.1f} {before:>14.1f} {dv:>9}")
EOF
    echo "   seconds: wall time of smtp-source -m 1 -l SIZE (connect to QUIT, the sink's reply to the final dot included);"
    echo "   RSS growth: VmHWM during the message minus VmRSS before it (VmHWM reset through /proc/PID/clear_refs first)."
    echo "   doorman: limits.max_message_size ${maxsize} B, data.spool_memory_limit default (256 KiB: the rest goes to a temp file in \$TMPDIR)."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: idle
# ---------------------------------------------------------------------------
mode_idle() {
  local nofile n t json
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  nofile=$(ulimit -n)
  # each proxied session holds two descriptors in the proxy (client + upstream)
  n=$IDLE_SESSIONS
  if [ $((2 * n + 100)) -gt "$nofile" ]; then
    n=$(((nofile - 100) / 2))
    log "idle: open-files limit $nofile (hard; raising it needs CAP_SYS_RESOURCE): $n sessions instead of $IDLE_SESSIONS"
  fi
  : >"$WORK/idle.txt"
  : >"$WORK/na.tsv"
  start_sink idlesink $((n + 200))
  for t in $IDLE_TARGETS; do
    case "$t" in
      haproxy) start_haproxy haproxy "${PORT[idlesink]}" "$n" || true ;;
      doorman) start_doorman doorman "${PORT[idlesink]}" "limits:
  max_connections: $((n + 100))
  max_connections_per_ip: $((n + 100))" || true ;;
      *) die "IDLE_TARGETS: haproxy, doorman" ;;
    esac
  done
  for t in $IDLE_TARGETS; do
    [ -n "${NA[$t]:-}" ] && { printf '%s\tnot run: %s\n' "$t" "${NA[$t]}" >>"$WORK/idle.txt"; continue; }
    PORT[sink]=${PORT[idlesink]} PID[sink]=${PID[idlesink]}
    run_load warm "$t" 0 20 1 "$MSG_SIZE" idlesink
    log "idle: $n sessions to $t, held ${IDLE_HOLD}s"
    json=$(timeout $((IDLE_HOLD + IDLE_SETTLE + 180)) "${HELPER[@]}" idle --port "${PORT[$t]}" --n "$n" --batch 200 \
      --hold "$IDLE_HOLD" --settle "$IDLE_SETTLE" \
      --pid "${PID[$t]}" --count-port "${PORT[idlesink]}") || json='{"error": "client failed"}'
    printf '%s\t%s\n' "$t" "$json" >>"$WORK/idle.txt"
    log "idle $t: $json"
    sleep 2 # let the proxy see the closes before the next target
  done
  {
    echo
    echo "== idle: $n concurrent idle sessions (greeting read, then silent) per proxy, each with its upstream connection to smtp-sink"
    echo "   $(machine_line); open-files limit $nofile"
    echo "   $(versions_line)"
    "$PY" - "$WORK/idle.txt" "$n" <<'EOF'
import json, sys
n = int(sys.argv[2])
print(f"{'target':<8} {'greeted':>8} {'upstream conns':>14} {'RSS before MiB':>14} {'RSS held MiB':>12} {'KiB/session':>11} {'RSS at 10,000 MiB':>17} {'open s':>6} {'RSS after MiB':>13} {'given back':>10}")
for line in open(sys.argv[1]):
    t, _, rest = line.rstrip("\n").partition("\t")
    if rest.startswith("not run"):
        print(f"{t:<8} {rest}")
        continue
    d = json.loads(rest)
    if "error" in d:
        print(f"{t:<8} FAILED: {d['error']}")
        continue
    per = (d["rss_kib"] - d["base_rss_kib"]) / max(d["greeted"], 1)
    at10k = (d["base_rss_kib"] + per * 10000) / 1024
    grown = max(d["rss_kib"] - d["base_rss_kib"], 1)
    back = (d["rss_kib"] - d["after_rss_kib"]) / grown
    print(f"{t:<8} {d['greeted']:>8} {str(d['upstream_established']):>14} {d['base_rss_kib']/1024:>14.1f} {d['rss_kib']/1024:>12.1f} {per:>11.1f} {at10k:>17.1f} {d['open_secs']:>6} {d['after_rss_kib']/1024:>13.1f} {back:>10.0%}"
          + (f"  failed {d['failed']}: {d['errors']}" if d["failed"] else ""))
EOF
    echo "   RSS held: VmRSS of the proxy with every session open; upstream conns: ESTABLISHED connections at the sink (ss);"
    echo "   RSS at 10,000: RSS before + 10,000 × the measured KiB per session (linear, when the fd limit caps the count)."
    echo "   RSS after: VmRSS ${IDLE_SETTLE}s after every session closed; given back: (held - after) / (held - before)."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: burst
# ---------------------------------------------------------------------------
# BURST_SESSIONS clients connect at the same moment (a reconnect storm after
# an outage, a spam run): does every one get its greeting quickly, or does
# the listener's accept queue overflow (SYNs dropped, clients retrying after
# 1 s, 3 s, 7 s, ...)?
mode_burst() {
  local t json ovf0 n=$BURST_SESSIONS
  : >"$WORK/burst.txt"
  : >"$WORK/na.tsv"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  start_sink burstsink $((n + 200))
  for t in $BURST_TARGETS; do
    case "$t" in
      haproxy) start_haproxy haproxy "${PORT[burstsink]}" $((n + 100)) || true ;;
      haproxy-b128) start_haproxy haproxy-b128 "${PORT[burstsink]}" $((n + 100)) 128 || true ;;
      doorman) start_doorman doorman "${PORT[burstsink]}" "limits:
  max_connections: $((n + 100))
  max_connections_per_ip: $((n + 100))" || true ;;
      *) die "BURST_TARGETS: haproxy, haproxy-b128, doorman" ;;
    esac
  done
  for t in $BURST_TARGETS; do
    [ -n "${NA[$t]:-}" ] && { printf '%s\tnot run: %s\n' "$t" "${NA[$t]}" >>"$WORK/burst.txt"; continue; }
    ovf0=$(listen_overflows)
    json=$(timeout $((BURST_TIMEOUT + 60)) "${HELPER[@]}" idle --port "${PORT[$t]}" --n "$n" --batch "$n" --hold 1 \
      --timeout "$BURST_TIMEOUT" --pid "${PID[$t]}") || json='{"error": "client failed"}'
    printf '%s\t%s\t%s\t%s\n' "$t" "$json" "$(($(listen_overflows) - ovf0))" "$(ss -Hltn "sport = :${PORT[$t]}" | awk '{ print $3 }')" >>"$WORK/burst.txt"
    log "burst $t: $json"
    sleep 2
  done
  {
    echo
    echo "== burst: $n clients connect at once to each proxy, each waits up to ${BURST_TIMEOUT}s for its greeting"
    echo "   $(machine_line)"
    echo "   $(versions_line)"
    "$PY" - "$WORK/burst.txt" <<'EOF'
import json, sys
print(f"{'target':<12} {'listen backlog':>14} {'greeted':>8} {'no greeting':>11} {'accept-queue overflows':>22} {'seconds to open all':>19}")
for line in open(sys.argv[1]):
    p = line.rstrip("\n").split("\t")
    if p[1].startswith("not run"):
        print(f"{p[0]:<12} {p[1]}")
        continue
    d = json.loads(p[1])
    if "error" in d:
        print(f"{p[0]:<12} FAILED: {d['error']}")
        continue
    print(f"{p[0]:<12} {p[3]:>14} {d['greeted']:>8} {d['failed']:>11} {p[2]:>22} {d['open_secs']:>19}")
EOF
    echo "   listen backlog: the listener's accept-queue size (ss Send-Q; haproxy: maxconn, haproxy-b128: 'bind ... backlog 128',"
    echo "   doorman's own size); overflows: kernel TcpExtListenOverflows during the burst (a client's SYN retransmits count again)."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: shield (issue 17): bots against doorman and against haproxy, each in
# front of its own smtp-sink: how many sessions reach the MTA, and the CPU
# doorman spends refusing them
# ---------------------------------------------------------------------------
mode_shield() {
  local t json cpu0 cpu1 sess0 sess
  : >"$WORK/shield.txt"
  : >"$WORK/na.tsv"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  for t in haproxy doorman; do
    start_sink "sink-$t" 1024
    case "$t" in
      haproxy) start_haproxy haproxy "${PORT[sink-$t]}" 4096 || continue ;;
      doorman) start_doorman doorman "${PORT[sink-$t]}" "limits:
  max_connections_per_ip: 4096" || continue ;;
    esac
    sleep 1
    sess0=$(sink_sess "sink-$t")
    cpu0=$("${HELPER[@]}" cpu "${PID[$t]}")
    json=$(timeout $((BOTS / 10 + 120)) "$PY" "$ROOT/bench/shield_load.py" bots --port "${PORT[$t]}" --count "$BOTS" \
      --concurrency "$BOT_CONCURRENCY") || json='{"error": "client failed"}'
    cpu1=$("${HELPER[@]}" cpu "${PID[$t]}")
    sleep 1
    sess=$(($(sink_sess "sink-$t") - sess0))
    printf '%s\t%s\t%s\t%s\n' "$t" "$json" "$((cpu1 - cpu0))" "$sess" >>"$WORK/shield.txt"
    log "shield $t: $json, sink sessions $sess"
  done
  {
    echo
    echo "== shield: $BOTS bot connections ($BOT_CONCURRENCY at a time): connect-and-close, early talkers, a bare-IP HELO"
    echo "   refused at RCPT, a whole session in one write, HTTP; each proxy in front of its own smtp-sink"
    echo "   $(machine_line)"
    echo "   $(versions_line)"
    "$PY" - "$WORK/shield.txt" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
hz = int(sys.argv[2])
print(f"{'target':<10} {'bot sessions':>12} {'seconds':>8} {'proxy CPU s':>11} {'sessions at the MTA':>20}")
for line in open(sys.argv[1]):
    t, j, ticks, sess = line.rstrip("\n").split("\t")
    d = json.loads(j)
    if "error" in d:
        print(f"{t:<10} FAILED: {d['error']}")
        continue
    print(f"{t:<10} {d['sessions']:>12} {d['seconds']:>8} {int(ticks) / hz:>11.2f} {sess:>20}")
EOF
    echo "   sessions at the MTA: smtp-sink's session counter during the bot run (target 0 for doorman: every bot"
    echo "   session ends at doorman; haproxy passes each one through)."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: slowloris (issue 17): SLOW_CLIENTS clients trickle a byte every 5 s
# against a Postfix with 100 smtpd processes, from the start or after DATA;
# an honest client sends SLOW_HONEST messages meanwhile
# ---------------------------------------------------------------------------
mode_slowloris() {
  local t phase json pf=$WORK/pf pfport ppport
  : >"$WORK/slow.txt"
  : >"$WORK/na.tsv"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  read -r pfport ppport <<<"$(free_ports 2 | tr '\n' ' ')"
  POSTFIX_STATE=$pf POSTFIX_PORT=$pfport POSTFIX_PROXY_PORT=$ppport POSTFIX_PROCESS_LIMIT=100 \
    tests/support/postfix.sh start >"$WORK/postfix.log" 2>&1 || die "Postfix did not start: $(tail -n 3 "$WORK/postfix.log")"
  for t in $SLOW_TARGETS; do
    case "$t" in
      haproxy) start_haproxy haproxy "$pfport" $((SLOW_CLIENTS * 2 + 100)) || continue ;;
      doorman) start_doorman doorman "$pfport" "limits:
  max_connections: $((SLOW_CLIENTS * 2 + 100))
  max_connections_per_ip: $((SLOW_CLIENTS * 2 + 100))" || continue ;;
      *) die "SLOW_TARGETS: haproxy, doorman" ;;
    esac
    for phase in commands data; do
      json=$(timeout $((SLOW_LIMIT + 120)) "$PY" "$ROOT/bench/shield_load.py" slowloris --port "${PORT[$t]}" \
        --phase "$phase" --slow "$SLOW_CLIENTS" --honest "$SLOW_HONEST" --limit "$SLOW_LIMIT") ||
        json='{"error": "client failed"}'
      printf '%s\t%s\t%s\n' "$t" "$phase" "$json" >>"$WORK/slow.txt"
      log "slowloris $t $phase: $json"
      sleep 5
    done
    stop_pid "${PID[$t]}" "$t" 10
  done
  POSTFIX_STATE=$pf POSTFIX_PORT=$pfport tests/support/postfix.sh stop >/dev/null 2>&1 || true
  {
    echo
    echo "== slowloris: $SLOW_CLIENTS clients trickle a byte every 5 s through each proxy into a Postfix with 100 smtpd"
    echo "   processes; an honest client sends $SLOW_HONEST messages meanwhile (a new connection each, within ${SLOW_LIMIT}s)"
    echo "   $(machine_line)"
    echo "   $(versions_line)"
    "$PY" - "$WORK/slow.txt" <<'EOF'
import json, sys
print(f"{'target':<10} {'flood':<22} {'delivered':>10} {'p50 s':>7} {'p99 s':>7}  first failures")
for line in open(sys.argv[1]):
    t, phase, j = line.rstrip("\n").split("\t")
    d = json.loads(j)
    flood = "trickled commands" if phase == "commands" else "MAIL, RCPT, then DATA"
    if "error" in d:
        print(f"{t:<10} {flood:<22} FAILED: {d['error']}")
        continue
    print(f"{t:<10} {flood:<22} {d['delivered']:>4}/{d['sent']:<5} {str(d['p50']):>7} {str(d['p99']):>7}  {d['failures']}")
EOF
    echo "   (doorman: the late connect keeps the first flood from the MTA; upstream.release_after, 10 s, gives the"
    echo "   second flood's upstream sessions back. haproxy passes every connection through.)"
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: loss (issue 13): load without loss, with faults; then a slow-sender
# flood against the same doorman
# ---------------------------------------------------------------------------
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
vm_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; } # kB
pf() {
  POSTFIX_STATE=$WORK/pf POSTFIX_PORT=$PF_UP POSTFIX_PROXY_PORT=$PF_PPORT \
    POSTFIX_PROCESS_LIMIT=$((LOSS_SESSIONS + FLOOD_SLOW + 100)) tests/support/postfix.sh "$@"
}
pf_queued() {
  find "$WORK/pf/spool/incoming" "$WORK/pf/spool/active" "$WORK/pf/spool/deferred" "$WORK/pf/spool/maildrop" \
    -type f 2>/dev/null | wc -l
}
pf_flush() { /usr/sbin/postqueue -c "$WORK/pf/etc" -f >/dev/null 2>&1 || true; }
loss_done() {
  local d=0
  [ -s "$WORK/loss.progress" ] && read -r d _ <"$WORK/loss.progress"
  echo "${d:-0}"
}
# loss_fault PERCENT WHAT CMD...: once PERCENT % of the messages are
# finished, run CMD (a fault) and note it; fails if the load ended before
loss_fault() {
  local pct=$1 what=$2 t0
  shift 2
  while [ "$(loss_done)" -lt $((LOSS_MSGS * pct / 100)) ]; do
    proc_alive "$LOAD_PID" || { log "loss: the load ended before: $what"; return 1; }
    sleep 0.2
  done
  t0=$(now_ms)
  "$@" >>"$WORK/faults.log" 2>&1 || { log "loss: $what FAILED (see $WORK/faults.log)"; return 1; }
  printf '     at %3s s, %4s of %s messages finished: %s (%s ms)\n' "$((SECONDS - LOAD_T0))" "$(loss_done)" \
    "$LOSS_MSGS" "$what" "$(($(now_ms) - t0))" >>"$WORK/faults.txt"
  log "loss: $what: done"
}
fault_postfix() { pf stop && sleep "$LOSS_DOWN" && pf start; }
fault_clamd() {
  CLAMD_STATE=$WORK/clamd CLAMD_PORT=$CLAMD_UP tests/support/clamd.sh stop && sleep "$LOSS_DOWN" &&
    CLAMD_STATE=$WORK/clamd CLAMD_PORT=$CLAMD_UP tests/support/clamd.sh start
}
# a real change (another tempfail text), SIGHUP, and the reload counter must say ok
fault_reload() {
  sed -i 's/^    tempfail: .*/    tempfail: "Error: not scanned, try again later, reloaded (id {session_id})"/' "$WORK/loss.yaml"
  "$DOORMAN_BIN" check --config "$WORK/loss.yaml" >/dev/null
  kill -HUP "${PID[loss]}"
  sleep 1
  curl -fsS "http://127.0.0.1:$LOSS_ADMIN/metrics" | grep -E '^doorman_config_reloads_total' |
    grep -q 'result="ok"} 1$'
}

mode_loss() {
  local json check flood fd0 fd1 fd2 hwm1 hwm2 rc=0 n q=0 deadline t_end
  : >"$WORK/na.tsv"
  : >"$WORK/faults.txt"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  read -r PF_UP PF_PPORT LOSS_ADMIN <<<"$(free_ports 3 | tr '\n' ' ')"
  pf start >"$WORK/postfix.log" 2>&1 || die "Postfix did not start: $(tail -n 3 "$WORK/postfix.log")"
  start_clamd || die "clamd did not start"
  start_spamd || die "spamd did not start"
  start_doorman loss "$PF_UP" "limits:
  max_connections: $((LOSS_SESSIONS + FLOOD_SLOW + 500))
  max_connections_per_ip: $((LOSS_SESSIONS + FLOOD_SLOW + 500))
  final_reply_timeout: $((LOSS_SCAN_TIMEOUT + 120))s
scanners:
  clamav:
    addresses: [\"127.0.0.1:$CLAMD_UP\"]
  spamassassin:
    addresses: [\"127.0.0.1:$SPAMD_UP\"]
    timeout: ${LOSS_SCAN_TIMEOUT}s
  replies:
    tempfail: \"Error: message could not be scanned, try again later (id {session_id})\"
admin:
  address: 127.0.0.1:$LOSS_ADMIN" || die "doorman did not start: $(tail -n 3 "$WORK/loss.log")"
  # warm-up (spamd's first checks are slow); its messages carry no loss tag
  "$PY" "$ROOT/bench/loss_load.py" flood --port "${PORT[loss]}" --slow 0 --messages 3 --phases '' --limit 60 \
    --rcpt warmup@example.test >/dev/null
  sleep 1
  fd0=$(fd_count "${PID[loss]}")
  log "loss: doorman pid ${PID[loss]} on ${PORT[loss]} ($fd0 fds), Postfix $PF_UP, clamd $CLAMD_UP, spamd $SPAMD_UP"
  LOAD_T0=$SECONDS
  "$PY" "$ROOT/bench/loss_load.py" load --port "${PORT[loss]}" --count "$LOSS_MSGS" --sessions "$LOSS_SESSIONS" \
    --limit "$LOSS_LIMIT" --out "$WORK/loss.results" --progress "$WORK/loss.progress" >"$WORK/loss.json" \
    2>"$WORK/loss.err" &
  LOAD_PID=$!
  STARTED+=("loss-load $LOAD_PID")
  loss_fault 20 "Postfix stopped, ${LOSS_DOWN}s down, started (postfix.sh stop, start)" fault_postfix || rc=1
  loss_fault 45 "clamd stopped, ${LOSS_DOWN}s down, started (clamd.sh stop, start)" fault_clamd || rc=1
  loss_fault 65 "doorman reloaded (another tempfail text, SIGHUP, reloads_total{result=ok} 1)" fault_reload || rc=1
  wait "$LOAD_PID" || { log "loss: the load client failed: $(tail -n 3 "$WORK/loss.err")"; rc=1; }
  t_end=$((SECONDS - LOAD_T0))
  json=$(cat "$WORK/loss.json")
  log "loss: load $json"
  # whatever Postfix took must be delivered before counting: flush the
  # deferred queue (a restart leaves a backoff), wait for an empty queue
  pf_flush
  deadline=$((SECONDS + 60))
  while q=$(pf_queued) && [ "$q" -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 1
    if [ $((SECONDS % 10)) = 0 ]; then pf_flush; fi
  done
  [ "$q" = 0 ] || log "loss: $q messages still in Postfix's queue after 60 s"
  sleep 1
  check=$("$PY" "$ROOT/bench/loss_load.py" check --maildir "$WORK/pf/mail/example.test" \
    --results "$WORK/loss.results") || rc=1
  sleep 2 # the sessions' last closes
  fd1=$(fd_count "${PID[loss]}")
  hwm1=$(vm_field "${PID[loss]}" VmHWM)
  log "loss: check $check; doorman fds $fd1, VmHWM $hwm1 kB"
  # the flood: a normal client alone, then beside FLOOD_SLOW slow senders
  local log0
  log0=$(wc -l <"$WORK/loss.log")
  flood=$(timeout 400 "$PY" "$ROOT/bench/loss_load.py" flood --port "${PORT[loss]}" --slow "$FLOOD_SLOW" \
    --messages "$FLOOD_MSGS" --trickle 1 --phase-limit 45 --limit 240) || flood='{"error": "client failed"}'
  log "loss: flood $flood"
  # The bound of bench/README.md: beside the slow senders the normal client
  # still delivers (95% at least), with a p99 within 2x its p99 alone.
  if ! "$PY" - "$flood" <<'EOF'; then
import json, sys
d = json.loads(sys.argv[1])
alone = (d.get("alone") or {}).get("p99") or 0
ok = bool(alone)
for name in ("commands", "data"):
    p = d.get(name) or {}
    sent = p.get("sent") or 0
    ok = ok and sent > 0 and p.get("delivered", 0) >= 0.95 * sent and (p.get("p99") or 1e9) <= 2 * alone
sys.exit(0 if ok else 1)
EOF
    log "loss: FAIL: beside the slow senders the normal client fell outside the bound (95% delivered, p99 within 2x alone)"
    rc=1
  fi
  n=0
  while [ "$(fd_count "${PID[loss]}")" -gt "$fd0" ] && [ "$n" -lt 30 ]; do
    sleep 0.5
    n=$((n + 1))
  done
  fd2=$(fd_count "${PID[loss]}")
  hwm2=$(vm_field "${PID[loss]}" VmHWM)
  proc_alive "${PID[loss]}" || { log "loss: doorman died"; rc=1; }
  {
    echo
    echo "== loss: $LOSS_SESSIONS sessions send $LOSS_MSGS tagged messages through doorman (clamd + spamd) into Postfix;"
    echo "   midway Postfix restarts, clamd restarts and doorman reloads; clients retry 4xx and broken connections"
    echo "   $(machine_line)"
    echo "   $(versions_line)"
    echo "   load ran ${t_end} s; faults:"
    cat "$WORK/faults.txt"
    "$PY" - "$json" "$check" "$flood" "$fd0" "$fd1" "$fd2" "${hwm1:-0}" "${hwm2:-0}" "$q" "$FLOOD_SLOW" "$rc" \
      "$WORK/loss.log" "$log0" <<'EOF'
import json, sys
load, check, flood = (json.loads(x) if x.strip() else {} for x in sys.argv[1:4])
fd0, fd1, fd2, hwm1, hwm2, queued, slow, rc = sys.argv[4:12]
print(f"   load: {load.get('messages')} messages over {load.get('sessions')} sessions (peak open "
      f"{load.get('peak_open_sessions')}), {load.get('seconds')} s; {load.get('attempts')} attempts "
      f"({load.get('retries')} retries, {load.get('ambiguous')} without a reply to the final dot)")
print(f"   replies: {load.get('codes')}; broken connections: {load.get('conn_errors')}")
print(f"   accepted {check.get('accepted')}  delivered {check.get('delivered')}  lost {check.get('lost')}  "
      f"duplicated {check.get('duplicated')}  refused {check.get('refused')} (virus {check.get('refused_virus')}, "
      f"spam {check.get('refused_spam')}, ham {check.get('refused_ham')})  refused-but-delivered "
      f"{check.get('refused_but_delivered')}")
print(f"   gave up after the retries {check.get('gave_up')}, unfinished at the time limit {check.get('unfinished')}, "
      f"delivered without a 250 {check.get('delivered_without_250')}, tagged files in the Maildir {check.get('files')}, "
      f"left in Postfix's queue {queued}")
ex = {k: v for k, v in (check.get("examples") or {}).items() if v}
if ex:
    print(f"   examples: {ex}")
print(f"   doorman: peak RSS (VmHWM) {int(hwm1) / 1024:.1f} MiB after the load, {int(hwm2) / 1024:.1f} MiB after the "
      f"flood; open fds {fd0} before, {fd1} after the load, {fd2} after the flood")
ok = check.get("pass") and rc == "0"
print("   PASS: every 250 delivered exactly once, no refused message delivered, every fault injected" if ok else
      "   FAIL: lost, duplicated or refused-but-delivered messages, or a fault not injected (see the log)")
print()
print(f"== flood: a normal client sends messages one by one (a new connection each, at most 45 s per phase), alone,")
print(f"   then beside {slow} slow senders (one byte a second) trickling their commands from the connect on, then")
print(f"   beside {slow} trickling their message after a prompt DATA")
if "error" in flood:
    print(f"   FAILED: {flood['error']}")
else:
    for k, label in (("alone", "alone"), ("commands", "slow commands"), ("data", "slow DATA")):
        d = flood.get(k, {})
        ratio = f"  p99 ×{d['p99_ratio']} of alone" if d.get("p99_ratio") else ""
        slowc = (f"  (slow senders trickling {d.get('slow_trickling_at_start')} at the start, "
                 f"{d.get('slow_trickling_at_end')} at the end)") if k != "alone" else ""
        print(f"   {label:<13} delivered {d.get('delivered')}/{d.get('sent')}  p50 {d.get('p50')} s  p99 {d.get('p99')} s  "
              f"max {d.get('max')} s{ratio}  failures {d.get('failures')} {d.get('first_failures') or ''}{slowc}")
    import collections, re
    warn = collections.Counter()
    for line in list(open(sys.argv[12], errors="replace"))[int(sys.argv[13]):]:
        m = re.search(r" WARN (\S+): ([^=]*?) \w+=.*?(?:outcome|kind)=\"(\w+)\"", line)
        if m:
            warn[f"{m.group(2)} ({m.group(3)})"] += 1
    print(f"   doorman's warnings during the flood: {dict(warn) or 'none'}")
sys.exit(0 if ok else 1)
EOF
  } | tee -a "$WORK/report.txt" || die "loss: FAILED (work dir kept: $WORK)"
}

# ---------------------------------------------------------------------------
# mode: scan
# ---------------------------------------------------------------------------
spamd_checks() { grep -cE 'spamd: (clean message|identified spam)' "$WORK/spamd/spamd.log" 2>/dev/null || true; }
scan_outcomes() { # doorman's scan results from its /metrics
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -E '^doorman_scan_results' | tr '\n' ' '
}

mode_scan() {
  local r n admin json before
  : >"$WORK/scan.tsv"
  : >"$WORK/na.tsv"
  start_clamd || die "clamd did not start"
  start_spamd || die "spamd did not start"
  start_sink scansink 1024
  # the exact message smtp-source sends: captured by a dumping sink, minus
  # the headers the sink prepends, in CRLF (as on the wire)
  mkdir -p "$WORK/dump" && chown nobody "$WORK/dump"
  local dport
  dport=$(free_ports 1)
  start_bg dumpsink "$SINK" -u nobody -d "$WORK/dump/%M." -h sink.test "127.0.0.1:$dport" 16
  PORT[dumpsink]=$dport
  wait_smtp dumpsink "$dport" 10 || die "dump sink did not start"
  "$SOURCE" -4 -s 1 -m 1 -l "$MSG_SIZE" -M client.bench.test -f sender@client.bench.test -t rcpt@sink.test "127.0.0.1:$dport"
  sleep 0.3
  awk 'f || /^From: / { f = 1; printf "%s\r\n", $0 }' "$(find "$WORK/dump" -type f | head -n 1)" >"$WORK/message.eml"
  stop_pid "${PID[dumpsink]}" dumpsink 5
  log "scan: message $(wc -c <"$WORK/message.eml") bytes"
  admin=$(free_ports 1)
  start_doorman doorman-scan "${PORT[scansink]}" "$(scan_yaml)
admin:
  address: 127.0.0.1:$admin" || die "doorman-scan did not start"
  PORT[sink]=${PORT[scansink]} PID[sink]=${PID[scansink]}
  # calibration (also the warm-up of both paths)
  json=$("${HELPER[@]}" scan --clamd "127.0.0.1:$CLAMD_UP" --spamd "127.0.0.1:$SPAMD_UP" --msg "$WORK/message.eml" \
    --n 40 --concurrency "$SESSIONS")
  n=$(clamp_round "$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ok"]/d["secs"]*int(sys.argv[2]))' "$json" "$SCAN_SECS")" \
    40 2000 "$SESSIONS")
  run_load warm doorman-scan 0 40 "$SESSIONS" "$MSG_SIZE" scansink
  log "scan: direct warm-up $json -> $n messages per run"
  wait_quiet
  local busy0=$BUSY
  cpu_mark
  for ((r = 1; r <= SCAN_ROUNDS; r++)); do
    before=$(spamd_checks)
    json=$(timeout "$RUN_TIMEOUT" "${HELPER[@]}" scan --clamd "127.0.0.1:$CLAMD_UP" --spamd "127.0.0.1:$SPAMD_UP" \
      --msg "$WORK/message.eml" --n "$n" --concurrency "$SESSIONS") || json='{"ok": 0, "secs": 0, "error": "timeout"}'
    printf 'direct\t%s\t%s\t%s\n' "$r" "$json" "$(($(spamd_checks) - before))" >>"$WORK/scan.tsv"
    log "scan round $r direct: $json"
    before=$(spamd_checks)
    run_load warm doorman-scan "$r" "$n" "$SESSIONS" "$MSG_SIZE" scansink
    printf 'doorman\t%s\t{"n": %s, "ok": %s, "secs": %s, "rc": %s}\t%s\n' "$r" "$n" "$DELIVERED" "$ELAPSED" "$RC" \
      "$(($(spamd_checks) - before))" >>"$WORK/scan.tsv"
    log "scan round $r doorman: $n msgs in ${ELAPSED}s, delivered $DELIVERED, rc $RC"
  done
  {
    echo
    echo "== scan: clamd + spamd, $SESSIONS concurrent, the same ${MSG_SIZE}-byte smtp-source message, $SCAN_ROUNDS interleaved rounds of $n messages"
    echo "   $(machine_line); CPU busy before ${busy0}%, during $(cpu_since_mark)%"
    echo "   $(versions_line)"
    "$PY" - "$WORK/scan.tsv" <<'EOF'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
res = {}
for who, rnd, js, checks in rows:
    d = json.loads(js)
    ok = d["ok"] == d["n"] and d.get("rc", 0) == 0 and d["secs"] > 0
    res.setdefault(who, []).append((d["n"] / d["secs"] if ok else None, d["ok"], d["n"], int(checks)))
med = {}
print(f"{'path':<34} {'msgs/s median (min–max)':>24} {'ok/sent':>9} {'spamd checks':>12}")
for who, label in (("direct", "clamd+spamd called directly"), ("doorman", "smtp-source -> doorman -> sink")):
    xs = [x[0] for x in res.get(who, []) if x[0]]
    med[who] = statistics.median(xs) if xs else None
    rate = f"{med[who]:.1f} ({min(xs):.1f}–{max(xs):.1f})" if xs else "FAILED"
    print(f"{label:<34} {rate:>24} {sum(x[1] for x in res[who])}/{sum(x[2] for x in res[who]):<6} {sum(x[3] for x in res[who]):>12}")
if med.get("direct") and med.get("doorman"):
    print(f"ratio doorman/direct (medians): {med['doorman'] / med['direct']:.2f}   (target >= 0.95)")
EOF
    echo "   doorman's scan outcomes (/metrics): $(scan_outcomes "$admin")"
    echo "   direct: per message, zINSTREAM to clamd on a new connection and SYMBOLS to spamd, concurrently (what doorman does);"
    echo "   spamd checks: lines 'clean message|identified spam' in spamd's log during the runs (each message checked once)."
  } | tee -a "$WORK/report.txt"
}

# ---------------------------------------------------------------------------
# mode: profile
# ---------------------------------------------------------------------------
# prof_start TARGET LABEL [PREFIX...]: start TARGET (doorman, doorman-scan,
# haproxy) on a new port in front of the profiling sink, under PREFIX (e.g.
# valgrind ...); sets PID[TARGET], PORT[TARGET].
prof_start() {
  local t=$1 label=$2 port
  shift 2
  port=$(free_ports 1)
  case "$t" in
    doorman) doorman_config "$WORK/prof-$t.yaml" "$port" "${PORT[profsink]}" ;;
    doorman-scan) doorman_config "$WORK/prof-$t.yaml" "$port" "${PORT[profsink]}" "$(scan_yaml)" ;;
    haproxy)
      cat >"$WORK/prof-$t.cfg" <<EOF
global
  maxconn 1024
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend smtp
  bind 127.0.0.1:$port
  default_backend sink
backend sink
  server sink 127.0.0.1:${PORT[profsink]}
EOF
      ;;
    *) die "PROFILE_TARGETS: doorman, doorman-scan, haproxy" ;;
  esac
  case "$t" in
    haproxy) start_bg "$label" "$@" haproxy -db -f "$WORK/prof-$t.cfg" ;;
    *) start_bg "$label" "$@" "$DOORMAN_BIN" run --config "$WORK/prof-$t.yaml" ;;
  esac
  PID[$t]=${PID[$label]} PORT[$t]=$port
  wait_smtp "$label" "$port" 60 || die "$t ($label) did not start: $(tail -n 3 "$WORK/$label.log")"
}

mode_profile() {
  local t ir n spid
  command -v valgrind >/dev/null || die "valgrind missing: bench/install-bench-deps.sh"
  command -v strace >/dev/null || die "strace missing: bench/install-bench-deps.sh"
  : >"$WORK/na.tsv"
  : >"$WORK/profile.txt"
  start_sink profsink 1024
  PORT[sink]=${PORT[profsink]} PID[sink]=${PID[profsink]}
  case " $PROFILE_TARGETS " in
    *" doorman-scan "*)
      start_clamd || die "clamd did not start"
      start_spamd || die "spamd did not start"
      ;;
  esac
  for t in $PROFILE_TARGETS; do
    n=$PROFILE_MSGS
    [ "$t" = doorman-scan ] && n=$PROFILE_SCAN_MSGS
    # user-space instructions: callgrind, counters zeroed after a warm-up
    prof_start "$t" "callgrind-$t" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$t.out"
    run_load warm "$t" 0 40 "$SESSIONS" "$MSG_SIZE" profsink
    callgrind_control -z "${PID[$t]}" >/dev/null 2>&1
    run_load warm "$t" 0 "$n" "$SESSIONS" "$MSG_SIZE" profsink
    callgrind_control -d "${PID[$t]}" >/dev/null 2>&1
    sleep 0.5
    ir=$(awk '/^summary:/ { print $2 }' "$WORK/callgrind.$t.out.1")
    printf '%s\t%s\t%s\t%s\n' "$t" "$ir" "$DELIVERED" "$n" >>"$WORK/profile.txt"
    "$PY" "$ROOT/bench/callgrind_top.py" "$WORK/callgrind.$t.out.1" 20 >"$WORK/profile.$t.top" || true
    stop_pid "${PID[$t]}" "callgrind-$t" 20
    # syscalls: strace -c -f attached to every thread of a plain process;
    # INT makes strace detach and write its summary
    prof_start "$t" "plain-$t"
    run_load warm "$t" 0 40 "$SESSIONS" "$MSG_SIZE" profsink
    strace -c -f -o "$WORK/strace.$t.txt" -p "${PID[$t]}" 2>"$WORK/strace.$t.log" &
    spid=$!
    sleep 1
    run_load warm "$t" 0 "$n" "$SESSIONS" "$MSG_SIZE" profsink
    kill -INT "$spid"
    wait "$spid" 2>/dev/null || true
    printf '%s\n' "$n" >"$WORK/strace.$t.n"
    stop_pid "${PID[$t]}" "plain-$t" 20
  done
  {
    echo
    echo "== profile: ${MSG_SIZE}-byte messages, $SESSIONS sessions, a new connection each, through each relay into smtp-sink"
    echo "   $(machine_line)"
    echo "   $(versions_line)"
    while IFS=$'\t' read -r t ir dv n; do
      awk -v t="$t" -v ir="$ir" -v n="$n" -v dv="$dv" \
        'BEGIN { printf "   %-12s user-space instructions per message (callgrind Ir): %d  (%d messages, delivered %d)\n", t, ir / n, n, dv }'
    done <"$WORK/profile.txt"
    for t in $PROFILE_TARGETS; do
      [ -f "$WORK/strace.$t.txt" ] || continue
      "$PY" - "$WORK/strace.$t.txt" "$t" "$(cat "$WORK/strace.$t.n")" <<'EOF'
import sys
calls, total = {}, 0
for line in open(sys.argv[1]):
    tok = line.split()
    if len(tok) < 5 or not tok[0].replace(".", "").isdigit():
        continue
    c = int(tok[3])  # "% time  seconds  usecs/call  calls  [errors]  syscall"
    if tok[-1] == "total":
        total = c
    else:
        calls[tok[-1]] = c
n = int(sys.argv[3])
top = sorted(calls.items(), key=lambda kv: -kv[1])[:10]
print(f"   {sys.argv[2]:<12} syscalls per message (strace -c -f): {total / n:.1f}: " + ", ".join(f"{k} {v / n:.1f}" for k, v in top))
EOF
    done
    for t in $PROFILE_TARGETS; do
      case "$t" in doorman*) ;; *) continue ;; esac
      echo "   $t: top functions by own instructions (bench/callgrind_top.py), per message:"
      n=$(awk -F'\t' -v t="$t" '$1 == t { print $4 }' "$WORK/profile.txt")
      awk -F'\t' -v n="$n" '{ printf "     %8.0f  %s\n", $1 / n, substr($2, 1, 150) }' "$WORK/profile.$t.top"
    done
    echo "   (Ir is user space only: the kernel's TCP work is not in it; CPU µs/msg in the table has both)"
  } | tee -a "$WORK/report.txt"
}

log "mode $MODE; work dir $WORK"
T_START=$SECONDS
case "$MODE" in
  table) mode_table ;;
  big) mode_big ;;
  idle) mode_idle ;;
  burst) mode_burst ;;
  scan) mode_scan ;;
  profile) mode_profile ;;
  shield) mode_shield ;;
  slowloris) mode_slowloris ;;
  loss) mode_loss ;;
  all)
    for m in table big idle burst scan profile shield slowloris loss; do
      log "=== mode $m"
      # every mode starts its own processes on fresh ports; stop the previous ones
      stop_started
      PID=() PORT=() NA=()
      "mode_$m"
    done
    ;;
esac
log "done in $((SECONDS - T_START)) s; report also in $WORK/report.txt"
if [ -n "${REPORT:-}" ]; then cp "$WORK/report.txt" "$REPORT" && log "report saved to $REPORT"; fi
OK=1

#!/usr/bin/env bash
# A private Postfix instance used as doorman's backend MTA in tests and the
# demo. Owns: everything under $POSTFIX_STATE (config, queue, data, log,
# Maildir) and the master process it starts there. The system Postfix and
# /etc/postfix are never touched; nothing is killed by name.
#
# usage: postfix.sh start|stop|restart|status|count [RCPT]|wait-count N [RCPT]
#                   |files [RCPT]|log [LINES]|reset-mail
#   start        start (no-op if already running with the same config; if the
#                generated config changed, e.g. another POSTFIX_BANNER, it restarts)
#   count        number of delivered messages (all, or for one recipient address)
#   wait-count   poll until count >= N (POSTFIX_WAIT_TIMEOUT s, default 10); prints it
#   files        paths of delivered message files (all, or for one recipient)
#   log          tail of the instance's mail log;  reset-mail  empty the Maildir
#
# env (all optional):
#   POSTFIX_STATE        state dir (default /tmp/doorman-postfix); must be reachable
#                        by the postfix and nobody users (so not under /root)
#   POSTFIX_PORT         plain smtpd on 127.0.0.1 (default 10025); XCLIENT and
#                        XFORWARD are authorized from 127.0.0.0/8
#   POSTFIX_PROXY_PORT   smtpd that requires a HAProxy PROXY v1/v2 header (default 10026)
#   POSTFIX_DOMAIN       the local test domain (default example.test)
#   POSTFIX_HOSTNAME     myhostname (default backend.test; deliberately not doorman's name)
#   POSTFIX_BANNER       smtpd_banner (default '$myhostname ESMTP $mail_name (Debian/GNU)';
#                        Postfix expands $vars in it, so quote it in single quotes)
#   POSTFIX_TRUSTED      mynetworks = clients allowed to relay (default 192.0.2.0/24;
#                        127.0.0.0/8 is deliberately NOT trusted)
#   POSTFIX_SIZE_LIMIT   message_size_limit, advertised as EHLO SIZE (default 10240000)
#   POSTFIX_PROCESS_LIMIT default_process_limit (default 100)
#   POSTFIX_SASL_USER    the one SASL user in the sasldb (default alice@example.test)
#   POSTFIX_SASL_PASSWORD its password (default s3cret-Pa55)
#   POSTFIX_RELAYHOST    127.x.y.z:PORT: a SENDER instance instead of a backend. It
#                        keeps no mail: everything, $POSTFIX_DOMAIN included, goes by
#                        Postfix's smtp client to relayhost = [127.x.y.z]:PORT (inject
#                        with `sendmail -C $POSTFIX_STATE/etc`, or over SMTP from
#                        POSTFIX_TRUSTED); loopback only.
#
# Behaviour of the backend:
#   * any <local>@$POSTFIX_DOMAIN is delivered to ONE Maildir,
#     $POSTFIX_STATE/mail/$POSTFIX_DOMAIN/new/, one file per recipient with a
#     "Delivered-To: <rcpt>" header (which `count RCPT` greps for). Mode 0700,
#     owner nobody: read it as root.
#   * unknown@D -> 550 5.1.1 (user unknown), reject-me@D -> 550 5.7.1,
#     tempfail@D -> 451 4.7.1
#   * other domains: 554 5.7.1 Relay access denied, unless the client is in
#     POSTFIX_TRUSTED or SASL-authenticated; relayed mail is then discarded.
#   * AUTH PLAIN/LOGIN without TLS (Cyrus SASL, sasldb in $POSTFIX_STATE/etc/sasldb2)
#   * no DNS, no chroot, no TLS, no anvil/flow limits.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=postfix-test
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

CMD=${1:-status}
STATE=${POSTFIX_STATE:-/tmp/doorman-postfix}
case "$STATE" in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=${STATE%/}
# it ends up in main.cf lists (maillog_file_prefixes) and in unix socket paths
# ($STATE/spool/private/proxywrite must fit in sun_path, 108 bytes)
[[ $STATE =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "POSTFIX_STATE must be a plain path (letters, digits, . _ - + /): '$STATE'"
[ ${#STATE} -le 80 ] || die "POSTFIX_STATE is too long for Postfix's unix sockets (max 80 chars): $STATE"
PORT=${POSTFIX_PORT:-10025}
PPORT=${POSTFIX_PROXY_PORT:-10026}
DOMAIN=${POSTFIX_DOMAIN:-example.test}
MYHOST=${POSTFIX_HOSTNAME:-backend.test}
# shellcheck disable=SC2016 # $myhostname/$mail_name are expanded by Postfix
BANNER=${POSTFIX_BANNER:-'$myhostname ESMTP $mail_name (Debian/GNU)'}
TRUSTED=${POSTFIX_TRUSTED:-192.0.2.0/24}
SIZE_LIMIT=${POSTFIX_SIZE_LIMIT:-10240000}
SASL_USER=${POSTFIX_SASL_USER:-alice@example.test}
SASL_PASSWORD=${POSTFIX_SASL_PASSWORD:-s3cret-Pa55}
RELAYHOST=${POSTFIX_RELAYHOST:-}
if [ -n "$RELAYHOST" ]; then
  [[ $RELAYHOST =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]{1,5}$ ]] ||
    die "POSTFIX_RELAYHOST must be a loopback 127.x.y.z:PORT: '$RELAYHOST'"
  # a sender: no local domain, every message to the relayhost by smtp(8)
  RELAYHOST_CF="[${RELAYHOST%:*}]:${RELAYHOST##*:}"
  MAILBOX_DOMAINS=
  TRANSPORT=smtp
  RELAY_TRANSPORT=relay
else
  # a backend: nothing ever leaves the box, relayed mail is discarded
  RELAYHOST_CF=
  MAILBOX_DOMAINS=$DOMAIN
  TRANSPORT="discard:test backend discards off-box mail"
  RELAY_TRANSPORT=$TRANSPORT
fi

CONF=$STATE/etc
SASLDIR=$CONF/sasl
SASLDB=$CONF/sasldb2
SPOOL=$STATE/spool
PIDFILE=$SPOOL/pid/master.pid
MAILDIR=$STATE/mail
NEWDIR=$MAILDIR/$DOMAIN/new
LOGFILE=$STATE/log/postfix.log

CHANGED=0 # set to 1 by write_config when any file Postfix reads at start changed

# put FILE: write_if_changed + remember that something changed
put() { if write_if_changed "$1"; then CHANGED=1; fi; }

write_config() {
  local vuid vgid d
  vuid=$(id -u nobody)
  vgid=$(id -g nobody)
  d=${DOMAIN//./\\.}
  case "$BANNER" in *$'\n'*) die "POSTFIX_BANNER must be a single line" ;; esac
  mkdir -p "$CONF" "$SASLDIR" "$SPOOL" "$STATE/data" "$STATE/log" "$MAILDIR"
  # Postfix insists: config and queue dirs owned by root, not group/world
  # writable; data_directory owned by mail_owner.
  chown root:root "$STATE" "$CONF" "$SASLDIR" "$SPOOL"
  chmod 755 "$STATE" "$CONF" "$SASLDIR" "$SPOOL"
  chown postfix: "$STATE/data"
  chown nobody: "$MAILDIR"
  put "$CONF/main.cf" <<EOF
# generated by tests/support/postfix.sh -- edit the script, not this file
compatibility_level = 3.6
config_directory = $CONF
queue_directory = $SPOOL
data_directory = $STATE/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
# no syslogd: log to a file through postlogd (the postlog service in master.cf);
# the file's directory must match maillog_file_prefixes
maillog_file = $LOGFILE
maillog_file_prefixes = /var, /dev/stdout, $STATE
myhostname = $MYHOST
mydomain = $MYHOST
myorigin = \$myhostname
smtpd_banner = $BANNER
inet_interfaces = loopback-only
# "all" so that XCLIENT ADDR=IPV6:... is accepted (ipv4 only -> 501 Bad ADDR syntax)
inet_protocols = all
mydestination =
local_transport = error:5.1.1 no local delivery in the test backend
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
recipient_delimiter = +
# --- trust / relay policy: 127.0.0.0/8 is NOT trusted ------------------------
mynetworks = $TRUSTED
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$CONF/recipient_access
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_authorized_xforward_hosts = 127.0.0.0/8
# a backend discards relayed mail; a sender (POSTFIX_RELAYHOST) relays it all
relayhost = $RELAYHOST_CF
default_transport = $TRANSPORT
relay_transport = $RELAY_TRANSPORT
# --- the test domain: one shared Maildir (none in a sender) ---------------------
virtual_mailbox_domains = $MAILBOX_DOMAINS
virtual_mailbox_base = $MAILDIR
virtual_mailbox_maps = regexp:$CONF/virtual_mailbox
virtual_uid_maps = static:$vuid
virtual_gid_maps = static:$vgid
virtual_mailbox_limit = 0
message_size_limit = $SIZE_LIMIT
# --- SASL AUTH over plaintext (Cyrus, sasldb; see $SASLDIR/smtpd.conf) ----------
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASLDIR
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain =
smtpd_tls_auth_only = no
# --- no DNS ----------------------------------------------------------------------
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
# --- test/benchmark friendliness ---------------------------------------------------
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_auth_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8, \$mynetworks
in_flow_delay = 0
default_process_limit = ${POSTFIX_PROCESS_LIMIT:-100}
EOF
  put "$CONF/master.cf" <<EOF
# generated by tests/support/postfix.sh. chroot is OFF everywhere (5th column "n").
127.0.0.1:$PORT  inet n - n - - smtpd
  -o syslog_name=postfix-test
127.0.0.1:$PPORT inet n - n - - smtpd
  -o syslog_name=postfix-test/proxy
  -o smtpd_upstream_proxy_protocol=haproxy
  -o smtpd_upstream_proxy_timeout=5s
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  # virtual(8) refuses $1 substitution in virtual_mailbox_maps, so every
  # recipient shares ONE Maildir; each delivered file has a Delivered-To header.
  put "$CONF/virtual_mailbox" <<EOF
# regexp map: recipient -> Maildir (trailing slash = Maildir format)
if !/^unknown([+@])/
/@$d\$/	$DOMAIN/
endif
EOF
  put "$CONF/recipient_access" <<EOF
/^reject-me([+@])/	550 5.7.1 test backend: recipient rejected by policy (test)
/^tempfail([+@])/	451 4.7.1 test backend: temporary failure (test)
EOF
  # Cyrus reads <cyrus_sasl_config_path>/<smtpd_sasl_path>.conf
  put "$SASLDIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $SASLDB
EOF
  write_sasldb
}

# (Re)create the sasldb with exactly one user when the user/password changed.
# Read per AUTH attempt by smtpd (running as postfix), so: root:postfix 0640.
write_sasldb() {
  local stamp_file=$STATE/sasldb.stamp stamp name realm
  command -v saslpasswd2 >/dev/null || die "saslpasswd2 missing: run tests/support/install-deps.sh (sasl2-bin)"
  stamp=$(printf '%s\0%s' "$SASL_USER" "$SASL_PASSWORD" | sha256sum | cut -d' ' -f1)
  if [ -s "$SASLDB" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  case "$SASL_USER" in
    *@*) name=${SASL_USER%@*} realm=${SASL_USER##*@} ;;
    *) name=$SASL_USER realm=$MYHOST ;; # Cyrus' default realm is the server's FQDN
  esac
  rm -f "$SASLDB"
  # -p: password from stdin (no prompt); -c: create; -u: realm
  printf '%s' "$SASL_PASSWORD" | saslpasswd2 -p -c -f "$SASLDB" -u "$realm" "$name" ||
    die "saslpasswd2 failed"
  chown root:postfix "$SASLDB"
  chmod 640 "$SASLDB"
  echo "$stamp" >"$stamp_file"
}

banner_ok() { smtp_greeting 127.0.0.1 "$PORT"; }

master_pid() { tr -dc '0-9' <"$PIDFILE"; }

do_start() {
  need_root
  if pid_alive "$PIDFILE"; then
    write_config
    if [ "$CHANGED" = 0 ]; then
      log "already running (master pid $(master_pid))"
      print_info
      return 0
    fi
    log "configuration changed: restarting"
    do_stop
  fi
  assert_port_free "$PORT"
  assert_port_free "$PPORT"
  write_config
  # postsuper (run as postfix during start, to repair a queue left by a killed
  # instance) must be able to write the log file
  touch "$LOGFILE"
  chown postfix "$LOGFILE"
  local t0
  t0=$(now_ms)
  # 'postfix start' runs the 'postfix check' checks and creates the queue tree
  # on first use (~2 s the first time or after main.cf changed, ~0.2 s otherwise)
  if ! /usr/sbin/postfix -c "$CONF" start 2>&1 | sed 's/^/  /' >&2; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "postfix -c $CONF start failed"
  fi
  if ! wait_until 30 "220 banner on 127.0.0.1:$PORT" banner_ok; then
    log "last lines of $LOGFILE:"
    tail -n 30 "$LOGFILE" >&2 || true
    die "private Postfix did not come up"
  fi
  if ! wait_until 10 "listener on 127.0.0.1:$PPORT" port_listening "$PPORT"; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "no PROXY listener on 127.0.0.1:$PPORT"
  fi
  log "started in $(($(now_ms) - t0)) ms (master pid $(master_pid))"
  print_info
}

print_info() {
  echo "postfix-test: smtp 127.0.0.1:$PORT (XCLIENT/XFORWARD from 127.0.0.0/8, AUTH PLAIN/LOGIN as $SASL_USER)," \
    "smtp+PROXY 127.0.0.1:$PPORT; Maildir $NEWDIR; log $LOGFILE"
}

# what 'postfix stop' does (signal master.pid), but with a wait and KILL fallback
do_stop() { stop_pidfile "$PIDFILE" "master" 20 "$PORT" "$PPORT"; }

do_status() {
  if pid_alive "$PIDFILE" && banner_ok >/dev/null 2>&1; then
    echo "postfix-test up: master pid $(master_pid), smtp 127.0.0.1:$PORT, proxy 127.0.0.1:$PPORT, state $STATE"
  else
    echo "postfix-test down (state $STATE)"
    return 1
  fi
}

# files [RCPT]: delivered message files (all, or those with Delivered-To: RCPT)
do_files() {
  [ -d "$NEWDIR" ] || return 0
  if [ -n "${1:-}" ]; then
    grep -l -r -i -F -x -e "Delivered-To: $1" "$NEWDIR" 2>/dev/null | sort || true
  else
    find "$NEWDIR" -type f | sort
  fi
}

do_count() { do_files "${1:-}" | wc -l; }

# wait-count N [RCPT]: delivery is asynchronous (usually < 100 ms)
do_wait_count() {
  local want=${1:?usage: wait-count N [RCPT]} rcpt=${2:-} deadline n
  deadline=$(($(date +%s) + ${POSTFIX_WAIT_TIMEOUT:-10}))
  while :; do
    n=$(do_count "$rcpt")
    if [ "$n" -ge "$want" ]; then
      echo "$n"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$n"
      log "timeout: $n of $want message(s) delivered${rcpt:+ to $rcpt}"
      return 1
    fi
    sleep 0.1
  done
}

case "$CMD" in
  count) do_count "${2:-}" ;;
  wait-count) do_wait_count "${2:-}" "${3:-}" ;;
  files) do_files "${2:-}" ;;
  log) tail -n "${2:-50}" "$LOGFILE" ;;
  reset-mail)
    rm -rf "${MAILDIR:?}/$DOMAIN"
    echo "cleared $MAILDIR/$DOMAIN"
    ;;
  *) service_main "$CMD" "|count [RCPT]|wait-count N [RCPT]|files [RCPT]|log [LINES]|reset-mail" ;;
esac

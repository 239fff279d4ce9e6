#!/usr/bin/env bash
# Installs what bench/compare.sh needs beyond tests/support/install-deps.sh:
# haproxy, the peer filters proxsmtp, clamsmtp, spampd (Debian packages),
# Node.js + npm, Haraka (from the npm registry, into $HARAKA_PREFIX), and
# valgrind (instruction counts). Owns: $HARAKA_PREFIX; the packages it installs.
# Idempotent: when everything is present it does nothing and returns at once.
#
# No package service is started: the Debian packages' init scripts are denied
# by a policy-rc.d for the duration of the install (as install-deps.sh does),
# and compare.sh runs every daemon itself on loopback with its own config.
#
# usage: bench/install-bench-deps.sh        (as root)
# env:   HARAKA_PREFIX   where Haraka goes (default /opt/doorman-bench/haraka)
#        HARAKA_VERSION  npm version spec (default 3.3, the version the issue
#                        measured; 3.1 when node is older than 20, as Debian 12's 18)
#        INSTALL_DEPS_FORCE=1  run apt-get update + install even if all present
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HARAKA_PREFIX=${HARAKA_PREFIX:-/opt/doorman-bench/haraka}

log() { printf '[%s] install-bench-deps: %s\n' "$(date +%T)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "ERROR: must run as root"; exit 1; }

# the project's own test dependencies first (smtp-sink/source, clamd, spamd, python3)
"$HERE/../tests/support/install-deps.sh"

PACKAGES=(
  haproxy   # TCP-mode relay: the ceiling for any proxy
  proxsmtp  # peer: SMTP filter proxy (runs a filter command per message)
  clamsmtp  # peer: SMTP proxy that scans with clamd
  spampd    # peer: SMTP proxy that runs SpamAssassin in-process (perl)
  valgrind  # callgrind instruction counts (compare.sh callgrind)
)
missing=()
for p in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ] || [ "${INSTALL_DEPS_FORCE:-0}" = 1 ]; then
  log "installing: ${missing[*]:-${PACKAGES[*]}}"
  POLICY=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# temporary, from doorman bench/install-bench-deps.sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    own_policy=1
  fi
  trap '[ "$own_policy" = 1 ] && rm -f "$POLICY"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"
else
  log "all ${#PACKAGES[@]} bench packages already installed"
fi

# Node.js: whatever node is on the machine (e.g. nodesource's, which bundles
# npm), else Debian's nodejs + npm.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Debian nodejs + npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
if [ "$NODE_MAJOR" -ge 20 ]; then HARAKA_VERSION=${HARAKA_VERSION:-3.3}; else HARAKA_VERSION=${HARAKA_VERSION:-3.1}; fi

# Haraka from the npm registry, into its own prefix (not global).
if [ -x "$HARAKA_PREFIX/node_modules/.bin/haraka" ]; then
  log "Haraka already installed: $(cd "$HARAKA_PREFIX" && node -p 'require("Haraka/package.json").version' 2>/dev/null)"
else
  log "installing Haraka@$HARAKA_VERSION from npm into $HARAKA_PREFIX"
  mkdir -p "$HARAKA_PREFIX"
  [ -f "$HARAKA_PREFIX/package.json" ] || printf '{"name":"doorman-bench-haraka","private":true}\n' >"$HARAKA_PREFIX/package.json"
  (cd "$HARAKA_PREFIX" && npm install --no-audit --no-fund --omit=optional "Haraka@$HARAKA_VERSION")
  log "Haraka $(cd "$HARAKA_PREFIX" && node -p 'require("Haraka/package.json").version')"
fi
log "done"

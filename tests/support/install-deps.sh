#!/usr/bin/env bash
# Installs the Debian 12 packages that doorman's tests, benchmark and demo use
# (Postfix + smtp-sink/smtp-source, swaks, socat, python3, ss/ps, Cyrus SASL,
# a C linker for cargo). Owns: nothing at run time; it only installs packages.
# Idempotent: if every package is already installed it does nothing (no apt-get
# update) and returns in well under a second.
#
# It never starts the system Postfix: debconf is preseeded with "No
# configuration" (no /etc/postfix/main.cf is created) and, if the machine has no
# /usr/sbin/policy-rc.d, a temporary one that denies service starts is put in
# place for the duration of the install and removed afterwards.
#
# Rust itself is not installed (Debian's rustc is too old); use rustup.
#
# env: INSTALL_DEPS_FORCE=1   run apt-get update + install even if all present
#      EXTRA_PACKAGES="a b"   more packages to install (e.g. shellcheck)
set -euo pipefail

PACKAGES=(
  postfix             # private backend MTA; also provides smtp-sink, smtp-source
  swaks               # SMTP client for tests and the demo
  socat               # raw TCP/SMTP poking; trivial relay for script self-tests
  python3             # /usr/bin/python3: free ports, banner probes
  iproute2            # ss
  procps              # ps
  sasl2-bin           # saslpasswd2 (sasldb for Postfix AUTH)
  libsasl2-modules    # PLAIN/LOGIN mechanisms
  libsasl2-modules-db # sasldb auxprop plugin
  ca-certificates     # cargo fetching crates over https
  dnsmasq-base        # /usr/sbin/dnsmasq for the DNS tests (tests/support/dnsmasq.sh);
                      # -base has no init script or unit: no system DNS service is started
  clamav-daemon       # clamd for the scanner tests (tests/support/clamd.sh)
  spamassassin        # SpamAssassin's rules for spamd
  spamd               # spamd for the scanner tests (tests/support/spamd.sh)
  rspamd              # rspamd for the scanner tests (tests/support/rspamd.sh)
  libnet-ssleay-perl  # swaks --tls / --tlsc
  libio-socket-ssl-perl
  gcc                 # linker used by cargo/rustc
  libc6-dev
)
# shellcheck disable=SC2206 # word splitting of EXTRA_PACKAGES is intended
PACKAGES+=(${EXTRA_PACKAGES:-})

log() { printf '[%s] install-deps: %s\n' "$(date +%T)" "$*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ] && [ "${INSTALL_DEPS_FORCE:-0}" != 1 ]; then
  log "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { log "ERROR: must run as root (or have sudo)"; exit 1; }
  SUDO=(sudo)
fi
log "installing: ${missing[*]:-${PACKAGES[*]}}"

# Do not let package installation start services (notably the system Postfix).
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from doorman tests/support/install-deps.sh\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

# "No configuration": the package installs binaries only, no main.cf, no start.
echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"
log "done"
